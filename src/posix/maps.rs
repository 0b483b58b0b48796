//! `munmap`, `mprotect` and `mmap` over a mapping already there (MAP_FIXED): the program's
//! memory changes under the shim's remembered checks ([`super::user`]), so each of them moves a
//! count that makes every thread forget what it found readable or writable. A program that
//! unmaps a buffer, or takes its write access away, and then passes the same address (as a test
//! of EFAULT does) gets EFAULT from the shim as from the kernel, not a fault inside it.
//!
//! `mremap`, `shmdt` and `pkey_mprotect` likewise; a child after `fork` forgets too (pages marked
//! MADV_DONTFORK are not its own; `super::state`).
//!
//! Each goes to the kernel by its system call, as glibc's own wrappers do on 64-bit x86 and Arm
//! (the only targets it is built for; elsewhere nothing is remembered, `super::user`), with
//! nothing to look up first: they may come before anything of the shim has run. Mappings made or
//! changed by libc itself (malloc's) do not pass here, nor need to: a program hands the shim no
//! memory it has given back. Nor do a raw `syscall(SYS_munmap)` and the like; a program that
//! unmaps memory one thread is passing to a socket call in another gets a fault where the kernel
//! would say EFAULT.

// The C functions of the same names, with their contracts.
#![allow(clippy::missing_safety_doc)]

use libc::{c_int, c_void, off_t, size_t};

/// System call `nr` with `args` (made a `long` each, as `syscall(2)` takes them), which changes
/// the program's mappings when `changes` (the count moved before it and after it,
/// [`super::user::memory_changed`]).
unsafe fn raw(nr: libc::c_long, args: [libc::c_long; 6], changes: bool) -> libc::c_long {
    if changes {
        super::user::memory_changed();
    }
    let r = libc::syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]);
    if changes {
        super::user::memory_changed();
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn munmap(addr: *mut c_void, len: size_t) -> c_int {
    raw(libc::SYS_munmap, [addr as _, len as _, 0, 0, 0, 0], true) as c_int
}

#[no_mangle]
pub unsafe extern "C" fn mprotect(addr: *mut c_void, len: size_t, prot: c_int) -> c_int {
    let args = [addr as _, len as _, prot as _, 0, 0, 0];
    raw(libc::SYS_mprotect, args, true) as c_int
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
    let args = [
        addr as _,
        len as _,
        prot as _,
        flags as _,
        fd as _,
        offset as _,
    ];
    raw(libc::SYS_mmap, args, over) as *mut c_void
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

/// `mremap(old, old_size, new_size, flags, ...)`: the fifth argument, the new address, is read
/// only with MREMAP_FIXED, as glibc's wrapper reads it; on the 64-bit targets this module is built
/// for, a variadic argument comes in the register a fifth fixed one would.
#[no_mangle]
pub unsafe extern "C" fn mremap(
    old: *mut c_void,
    old_size: size_t,
    new_size: size_t,
    flags: c_int,
    new_address: *mut c_void,
) -> *mut c_void {
    let new_address = if flags & libc::MREMAP_FIXED != 0 {
        new_address
    } else {
        std::ptr::null_mut()
    };
    let args = [
        old as _,
        old_size as _,
        new_size as _,
        flags as _,
        new_address as _,
        0,
    ];
    raw(libc::SYS_mremap, args, true) as *mut c_void
}

#[no_mangle]
pub unsafe extern "C" fn shmdt(addr: *const c_void) -> c_int {
    raw(libc::SYS_shmdt, [addr as _, 0, 0, 0, 0, 0], true) as c_int
}

#[no_mangle]
pub unsafe extern "C" fn pkey_mprotect(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    pkey: c_int,
) -> c_int {
    let args = [addr as _, len as _, prot as _, pkey as _, 0, 0];
    raw(libc::SYS_pkey_mprotect, args, true) as c_int
}
