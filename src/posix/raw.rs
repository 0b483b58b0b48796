//! `syscall(2)`: the system calls a program makes by number, for those that carry stack sockets'
//! datagrams past libc's wrappers.
//!
//! libuv (1.44, as Debian 12 ships it; node bundles its own) sends UDP with
//! `syscall(__NR_sendmmsg, …)` and receives with `syscall(__NR_recvmmsg, …)` rather than through
//! libc's `sendmmsg`/`recvmmsg`, so `dig`, `host` and `nslookup` (BIND 9.18's libisc runs on libuv)
//! reached the socketpair with no address header: the service took a query's first eight bytes for
//! one, and dnsmasq answered what was left with REFUSED. Those two numbers go to the same code as
//! the libc wrappers ([`super::exports::sendmmsg`], [`super::exports::recvmmsg`]), which leave any
//! descriptor that is not a stack socket to the kernel. `close_range` by number goes to
//! [`super::exports::close_range`], which keeps the shim's own connections (a raw one closed the
//! shim's connection to the service, and every later call said the service was gone). Every other
//! number goes to the real `syscall` unchanged. The shim's own `libc::syscall` calls land here too
//! (this symbol shadows libc's), and never with those three numbers.
//!
//! `syscall` is variadic; it is exported with six fixed arguments after the number, as `fcntl` and
//! `ioctl` are in [`super::exports`] (see [`super::hook`]): on the x86-64 and AArch64 Linux calling
//! conventions the variadic integer and pointer arguments travel where fixed ones do, and the
//! arguments a caller did not pass are read but never used by the kernel.

use std::ffi::{c_int, c_long, c_uint};

use super::hook::{real, set_errno};
use crate::error::Errno;

/// `syscall(2)`.
///
/// # Safety
/// As the C function: the arguments are what system call `n` takes (pointers valid for it).
#[no_mangle]
pub unsafe extern "C" fn syscall(
    n: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    match n {
        libc::SYS_sendmmsg => {
            return super::exports::sendmmsg(a1 as c_int, a2 as _, a3 as c_uint, a4 as c_int)
                as c_long;
        }
        libc::SYS_recvmmsg => {
            return super::exports::recvmmsg(
                a1 as c_int,
                a2 as _,
                a3 as c_uint,
                a4 as c_int,
                a5 as _,
            ) as c_long;
        }
        // A program closing a range by number (before glibc 2.34 had the function): the
        // shim's own connections in it are kept, and its sockets' records go, as for
        // `close_range` ([`super::exports::close_range`]). (The shim never calls this number.)
        libc::SYS_close_range => {
            return super::exports::close_range(a1 as c_uint, a2 as c_uint, a3 as c_int) as c_long;
        }
        _ => {}
    }
    let Some(f) =
        real!(syscall: fn(c_long, c_long, c_long, c_long, c_long, c_long, c_long) -> c_long)
    else {
        set_errno(Errno(libc::ENOSYS));
        return -1;
    };
    f(n, a1, a2, a3, a4, a5, a6)
}
