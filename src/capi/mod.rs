//! The C API: the stack for C programs that link `-ltapstack` instead of preloading it.
//!
//! Each `tapstack_*` function has the signature and errno of the BSD call it is named after and
//! works on descriptors from `tapstack_socket`/`tapstack_accept`, which are stack sockets however the
//! library was loaded. (Preloaded, a program's plain `socket(AF_INET, …)` gives stack sockets too;
//! linked, plain `socket` stays the kernel's, so a program can use both side by side.) The stack
//! starts from the `TAPSTACK_*` variables on first use, or explicitly with [`tapstack_init`].
//! `tapstack_poll` takes stack and kernel descriptors in one set. No panic crosses into C: an
//! internal failure is EIO.
//!
//! `include/tapstack.h` is generated from this file by cbindgen (`tests/c_header.rs` checks it).

#![allow(clippy::missing_safety_doc)]

use libc::{addrinfo, c_char, c_int, c_void, nfds_t, pollfd, size_t, sockaddr, socklen_t, ssize_t};

use crate::error::Errno;
use crate::posix::hook::{guard, ret};
use crate::posix::{exports, netdb_exports, sockets};
use crate::service::client;

/// Starts the stack now, from the `TAPSTACK_*` environment variables (optional: any other call
/// starts it when first needed). Returns 0, or -1 with errno ENETDOWN after printing why on stderr.
/// Calling it again is harmless.
#[no_mangle]
pub extern "C" fn tapstack_init() -> c_int {
    guard("tapstack_init", -1, || ret(client::ready().map(|_| 0), -1))
}

/// Sets one setting in code, as the environment variable of that name would (`"TAPSTACK_ADDR"`,
/// `"10.77.0.2/24"`), before the stack is first used. Returns 0; or -1 with errno EINVAL for an
/// unknown name or a bad value (the reason printed on stderr), EFAULT for a NULL argument, EBUSY
/// once the stack is in use.
#[no_mangle]
pub unsafe extern "C" fn tapstack_set(name: *const c_char, value: *const c_char) -> c_int {
    guard("tapstack_set", -1, || {
        if name.is_null() || value.is_null() {
            return ret(Err(Errno::EFAULT), -1);
        }
        let name = std::ffi::CStr::from_ptr(name).to_string_lossy();
        let value = std::ffi::CStr::from_ptr(value).to_string_lossy();
        match client::set(&name, &value) {
            Ok(()) => 0,
            Err((e, why)) => {
                eprintln!("tapstack_set: {why}");
                ret(Err(e), -1)
            }
        }
    })
}

/// The library's version, as "MAJOR.MINOR.PATCH" (a static string).
#[no_mangle]
pub extern "C" fn tapstack_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// socket(2) on the stack: `AF_INET` with `SOCK_STREAM` (TCP) or `SOCK_DGRAM` (UDP), optionally
/// with `SOCK_NONBLOCK | SOCK_CLOEXEC`. Other families fail with EAFNOSUPPORT, other types with
/// EPROTONOSUPPORT. The descriptor is a real one (its number reserved by a kernel socket).
#[no_mangle]
pub unsafe extern "C" fn tapstack_socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    guard("tapstack_socket", -1, || {
        if domain != libc::AF_INET {
            return ret(Err(Errno::EAFNOSUPPORT), -1);
        }
        let Some(real) = crate::real!(socket: fn(c_int, c_int, c_int) -> c_int) else {
            return ret(Err(Errno(libc::ENOSYS)), -1);
        };
        let fd = real(domain, ty, protocol);
        if fd < 0 {
            return fd;
        }
        if !sockets::adopt(fd, ty, protocol, false) {
            exports::close(fd);
            return ret(Err(Errno::EPROTONOSUPPORT), -1);
        }
        fd
    })
}

/// connect(2).
#[no_mangle]
pub unsafe extern "C" fn tapstack_connect(
    fd: c_int,
    addr: *const sockaddr,
    len: socklen_t,
) -> c_int {
    exports::connect(fd, addr, len)
}

/// bind(2).
#[no_mangle]
pub unsafe extern "C" fn tapstack_bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    exports::bind(fd, addr, len)
}

/// listen(2).
#[no_mangle]
pub unsafe extern "C" fn tapstack_listen(fd: c_int, backlog: c_int) -> c_int {
    exports::listen(fd, backlog)
}

/// accept(2): the new descriptor is a stack socket too.
#[no_mangle]
pub unsafe extern "C" fn tapstack_accept(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> c_int {
    exports::accept(fd, addr, len)
}

/// read(2).
#[no_mangle]
pub unsafe extern "C" fn tapstack_read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t {
    exports::read(fd, buf, count)
}

/// write(2).
#[no_mangle]
pub unsafe extern "C" fn tapstack_write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t {
    exports::write(fd, buf, count)
}

/// send(2).
#[no_mangle]
pub unsafe extern "C" fn tapstack_send(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
) -> ssize_t {
    exports::send(fd, buf, len, flags)
}

/// recv(2).
#[no_mangle]
pub unsafe extern "C" fn tapstack_recv(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
) -> ssize_t {
    exports::recv(fd, buf, len, flags)
}

/// sendto(2).
#[no_mangle]
pub unsafe extern "C" fn tapstack_sendto(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    to: *const sockaddr,
    tolen: socklen_t,
) -> ssize_t {
    exports::sendto(fd, buf, len, flags, to, tolen)
}

/// recvfrom(2).
#[no_mangle]
pub unsafe extern "C" fn tapstack_recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    from: *mut sockaddr,
    fromlen: *mut socklen_t,
) -> ssize_t {
    exports::recvfrom(fd, buf, len, flags, from, fromlen)
}

/// shutdown(2).
#[no_mangle]
pub unsafe extern "C" fn tapstack_shutdown(fd: c_int, how: c_int) -> c_int {
    exports::shutdown(fd, how)
}

/// close(2): a TCP connection goes on closing (FIN, TIME-WAIT) in the stack.
#[no_mangle]
pub unsafe extern "C" fn tapstack_close(fd: c_int) -> c_int {
    exports::close(fd)
}

/// poll(2) over any mix of stack and kernel descriptors (a stack socket's descriptor is a kernel
/// object, so this is the kernel's poll).
#[no_mangle]
pub unsafe extern "C" fn tapstack_poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    libc::poll(fds, nfds, timeout)
}

/// setsockopt(2).
#[no_mangle]
pub unsafe extern "C" fn tapstack_setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
) -> c_int {
    exports::setsockopt(fd, level, name, value, len)
}

/// getsockopt(2).
#[no_mangle]
pub unsafe extern "C" fn tapstack_getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    exports::getsockopt(fd, level, name, value, len)
}

/// getaddrinfo(3) through the stack's resolver: numeric hosts, /etc/hosts, then the DNS servers in
/// `TAPSTACK_DNS` over the stack. Free the list with [`tapstack_freeaddrinfo`].
#[no_mangle]
pub unsafe extern "C" fn tapstack_getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    netdb_exports::stack_getaddrinfo(node, service, hints, res)
}

/// freeaddrinfo(3) for lists from [`tapstack_getaddrinfo`].
#[no_mangle]
pub unsafe extern "C" fn tapstack_freeaddrinfo(res: *mut addrinfo) {
    netdb_exports::stack_freeaddrinfo(res)
}
