//! `munmap`, `mprotect` and `mmap` over a mapping already there (MAP_FIXED): the program's
//! memory changes under the shim's remembered checks ([`super::user`]), so each of them moves a
//! count that makes every thread forget what it found readable or writable. A program that
//! unmaps a buffer, or takes its write access away, and then passes the same address (as a test
//! of EFAULT does) gets EFAULT from the shim as from the kernel, not a fault inside it.
//!
//! Each goes to the kernel by its system call, as glibc's own wrappers do, with nothing to look
//! up first: they may come before anything of the shim has run. Mappings made or changed by
//! libc itself (malloc's) do not pass here, nor need to: a program hands the shim no memory it
//! has given back.

// The C functions of the same names, with their contracts.
#![allow(clippy::missing_safety_doc)]

use libc::{c_int, c_void, off_t, size_t};

/// Made a `long` each, as `syscall(2)` takes its arguments.
unsafe fn raw(nr: libc::c_long, args: [libc::c_long; 6]) -> libc::c_long {
    libc::syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5])
}

#[no_mangle]
pub unsafe extern "C" fn munmap(addr: *mut c_void, len: size_t) -> c_int {
    super::user::memory_changed();
    let r = raw(libc::SYS_munmap, [addr as _, len as _, 0, 0, 0, 0]) as c_int;
    super::user::memory_changed();
    r
}

#[no_mangle]
pub unsafe extern "C" fn mprotect(addr: *mut c_void, len: size_t, prot: c_int) -> c_int {
    super::user::memory_changed();
    let r = raw(
        libc::SYS_mprotect,
        [addr as _, len as _, prot as _, 0, 0, 0],
    ) as c_int;
    super::user::memory_changed();
    r
}

#[no_mangle]
pub unsafe extern "C" fn mmap(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    offset: off_t,
) -> *mut c_void {
    let over = flags & (libc::MAP_FIXED | libc::MAP_FIXED_NOREPLACE) != 0;
    if over {
        super::user::memory_changed();
    }
    let args = [
        addr as _,
        len as _,
        prot as _,
        flags as _,
        fd as _,
        offset as _,
    ];
    let r = raw(libc::SYS_mmap, args) as *mut c_void;
    if over {
        super::user::memory_changed();
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn mmap64(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    offset: off_t,
) -> *mut c_void {
    mmap(addr, len, prot, flags, fd, offset)
}
