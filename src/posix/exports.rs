//! The C symbols the preloaded library exports in place of libc's.
//!
//! Each one looks up its descriptor: a stack socket goes to this crate's implementation, anything
//! else goes to the real libc function. Bodies run under [`guard`], so a panic becomes EIO and a log
//! line, never an unwind into the program. Debian builds programs with `_FORTIFY_SOURCE`, which
//! calls the checked variants (`__read_chk`, `__recv_chk`, `__poll_chk`…); they are here too.

#![allow(clippy::missing_safety_doc)]

use std::ffi::c_void;
use std::os::fd::RawFd;
use std::time::Duration;

use libc::{c_int, c_uint, c_ulong, iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};

use super::addr;
use super::hook::{guard, ret, set_errno};
use super::io::{self, SendTarget, Sent};
use super::sockets::{self, Route};
use super::state::{self, Kind};
use super::{epoll, fds, poll, sockopt};
use crate::error::Errno;
use crate::real;

macro_rules! no_real {
    ($fail:expr) => {{
        set_errno(Errno(libc::ENOSYS));
        return $fail;
    }};
}

// ---------------------------------------------------------------------------------------------
// Creating and addressing sockets.

#[no_mangle]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    let Some(f) = real!(socket: fn(c_int, c_int, c_int) -> c_int) else {
        no_real!(-1)
    };
    let fd = f(domain, ty, protocol);
    if fd >= 0 && !state::in_vfork_child() {
        guard("socket", (), || {
            if !(domain == libc::AF_INET
                && state::interposing()
                && sockets::adopt(fd, ty, protocol))
            {
                fds::fresh(fd);
            }
        });
    }
    fd
}

#[no_mangle]
pub unsafe extern "C" fn socketpair(
    domain: c_int,
    ty: c_int,
    protocol: c_int,
    sv: *mut c_int,
) -> c_int {
    let Some(f) = real!(socketpair: fn(c_int, c_int, c_int, *mut c_int) -> c_int) else {
        no_real!(-1)
    };
    let r = f(domain, ty, protocol, sv);
    if r == 0 && !sv.is_null() && !state::in_vfork_child() {
        guard("socketpair", (), || {
            fds::fresh(*sv);
            fds::fresh(*sv.add(1));
        });
    }
    r
}

type AddrCall = unsafe extern "C" fn(c_int, *const sockaddr, socklen_t) -> c_int;
type StackAddrCall = fn(
    &crate::runtime::Runtime,
    &state::OpenSocket,
    crate::stack::SocketHandle,
    addr::Addr,
) -> Result<(), Errno>;

/// bind and connect: the address decides kernel (loopback) or stack, then the call is made there.
unsafe fn addressed(
    name: &str,
    real: Option<AddrCall>,
    on_stack: StackAddrCall,
    fd: c_int,
    a: *const sockaddr,
    len: socklen_t,
) -> c_int {
    let Some(f) = real else { no_real!(-1) };
    let Some(sock) = state::get(fd) else {
        return f(fd, a, len);
    };
    guard(name, -1, || {
        let r = addr::read(a, len).and_then(|target| match sockets::route(&sock, &target)? {
            Route::Kernel => Ok(None),
            Route::Stack(rt, h) => on_stack(rt, &sock, h, target).map(Some),
        });
        match r {
            Ok(None) => f(fd, a, len),
            r => ret(r.map(|_| 0), -1),
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn bind(fd: c_int, a: *const sockaddr, len: socklen_t) -> c_int {
    let real = real!(bind: fn(c_int, *const sockaddr, socklen_t) -> c_int);
    addressed("bind", real, sockets::bind, fd, a, len)
}

#[no_mangle]
pub unsafe extern "C" fn connect(fd: c_int, a: *const sockaddr, len: socklen_t) -> c_int {
    let real = real!(connect: fn(c_int, *const sockaddr, socklen_t) -> c_int);
    addressed("connect", real, sockets::connect, fd, a, len)
}

#[no_mangle]
pub unsafe extern "C" fn listen(fd: c_int, backlog: c_int) -> c_int {
    let Some(f) = real!(listen: fn(c_int, c_int) -> c_int) else {
        no_real!(-1)
    };
    let Some(sock) = state::get(fd) else {
        return f(fd, backlog);
    };
    guard("listen", -1, || {
        ret(sockets::listen(&sock, backlog).map(|_| 0), -1)
    })
}

unsafe fn accept_common(fd: c_int, a: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    let Some(f) = real!(accept4: fn(c_int, *mut sockaddr, *mut socklen_t, c_int) -> c_int) else {
        no_real!(-1)
    };
    let Some(sock) = state::get(fd) else {
        return f(fd, a, len, flags);
    };
    guard("accept", -1, || {
        let make_fd = |ty: i32| {
            let Some(sf) = real!(socket: fn(c_int, c_int, c_int) -> c_int) else {
                return Err(Errno(libc::ENOSYS));
            };
            let nfd = sf(libc::AF_INET, ty, 0);
            if nfd < 0 {
                Err(Errno(super::hook::errno()))
            } else {
                Ok(nfd)
            }
        };
        let r = sockets::accept(&sock, flags, make_fd).and_then(|(nfd, peer)| {
            addr::write(peer, a, len)?;
            Ok(nfd)
        });
        ret(r, -1)
    })
}

#[no_mangle]
pub unsafe extern "C" fn accept(fd: c_int, a: *mut sockaddr, len: *mut socklen_t) -> c_int {
    accept_common(fd, a, len, 0)
}

#[no_mangle]
pub unsafe extern "C" fn accept4(
    fd: c_int,
    a: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    accept_common(fd, a, len, flags)
}

#[no_mangle]
pub unsafe extern "C" fn getsockname(fd: c_int, a: *mut sockaddr, len: *mut socklen_t) -> c_int {
    let Some(f) = real!(getsockname: fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int) else {
        no_real!(-1)
    };
    let Some(sock) = state::get(fd) else {
        return f(fd, a, len);
    };
    guard("getsockname", -1, || match sockets::local_addr(&sock) {
        Ok(Some(local)) => ret(addr::write(local, a, len).map(|_| 0), -1),
        Ok(None) => ret(addr::write(sockets::UNBOUND, a, len).map(|_| 0), -1),
        Err(e) => ret(Err(e), -1),
    })
}

#[no_mangle]
pub unsafe extern "C" fn getpeername(fd: c_int, a: *mut sockaddr, len: *mut socklen_t) -> c_int {
    let Some(f) = real!(getpeername: fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int) else {
        no_real!(-1)
    };
    let Some(sock) = state::get(fd) else {
        return f(fd, a, len);
    };
    guard("getpeername", -1, || {
        ret(
            sockets::peer_addr(&sock)
                .and_then(|p| addr::write(p, a, len))
                .map(|_| 0),
            -1,
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn shutdown(fd: c_int, how: c_int) -> c_int {
    let Some(f) = real!(shutdown: fn(c_int, c_int) -> c_int) else {
        no_real!(-1)
    };
    let Some(sock) = state::get(fd) else {
        return f(fd, how);
    };
    guard("shutdown", -1, || {
        ret(sockets::shutdown(&sock, how).map(|_| 0), -1)
    })
}

#[no_mangle]
pub unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    let Some(f) = real!(setsockopt: fn(c_int, c_int, c_int, *const c_void, socklen_t) -> c_int)
    else {
        no_real!(-1)
    };
    let Some(sock) = state::get(fd) else {
        return f(fd, level, name, val, len);
    };
    guard("setsockopt", -1, || {
        let r = sockopt::set(&sock, level, name, val, len);
        if r.is_ok() && sock.handle().is_none() {
            // Still pending: the kernel placeholder gets it too, in case the socket stays there.
            f(fd, level, name, val, len);
        }
        ret(r.map(|_| 0), -1)
    })
}

#[no_mangle]
pub unsafe extern "C" fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    let Some(f) = real!(getsockopt: fn(c_int, c_int, c_int, *mut c_void, *mut socklen_t) -> c_int)
    else {
        no_real!(-1)
    };
    let Some(sock) = state::get(fd) else {
        return f(fd, level, name, val, len);
    };
    guard("getsockopt", -1, || {
        ret(sockopt::get(&sock, level, name, val, len).map(|_| 0), -1)
    })
}

// ---------------------------------------------------------------------------------------------
// Receiving.

/// Receives into one buffer; fills the source address if asked. Ok(len) or errno.
unsafe fn recv_into(
    sock: &state::OpenSocket,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    from: *mut sockaddr,
    fromlen: *mut socklen_t,
) -> Result<ssize_t, Errno> {
    if buf.is_null() && len > 0 {
        return Err(Errno::EFAULT);
    }
    let slice: &mut [u8] = if len == 0 {
        &mut []
    } else {
        std::slice::from_raw_parts_mut(buf as *mut u8, len)
    };
    let got = io::recv(sock, slice, flags)?;
    if let Some(src) = got.from {
        if !from.is_null() {
            addr::write(src, from, fromlen)?;
        }
    } else if !fromlen.is_null() {
        // A stream socket leaves the address untouched and reports length 0 (as Linux's TCP).
        *fromlen = 0;
    }
    let n = if flags & libc::MSG_TRUNC != 0 && sock.kind == Kind::Dgram {
        got.full_len
    } else {
        got.len
    };
    Ok(n as ssize_t)
}

#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t {
    let Some(f) = real!(read: fn(c_int, *mut c_void, size_t) -> ssize_t) else {
        no_real!(-1)
    };
    let Some(sock) = state::get(fd) else {
        return f(fd, buf, count);
    };
    guard("read", -1, || {
        ret(
            recv_into(
                &sock,
                buf,
                count,
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            ),
            -1,
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t {
    let Some(f) = real!(recv: fn(c_int, *mut c_void, size_t, c_int) -> ssize_t) else {
        no_real!(-1)
    };
    let Some(sock) = state::get(fd) else {
        return f(fd, buf, len, flags);
    };
    guard("recv", -1, || {
        ret(
            recv_into(
                &sock,
                buf,
                len,
                flags,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            ),
            -1,
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    from: *mut sockaddr,
    fromlen: *mut socklen_t,
) -> ssize_t {
    let Some(f) = real!(recvfrom: fn(c_int, *mut c_void, size_t, c_int, *mut sockaddr, *mut socklen_t) -> ssize_t)
    else {
        no_real!(-1)
    };
    let Some(sock) = state::get(fd) else {
        return f(fd, buf, len, flags, from, fromlen);
    };
    guard("recvfrom", -1, || {
        ret(recv_into(&sock, buf, len, flags, from, fromlen), -1)
    })
}

/// Scatters one receive over an iovec array (readv, recvmsg).
unsafe fn recv_iov(
    sock: &state::OpenSocket,
    iov: *const iovec,
    iovcnt: usize,
    flags: c_int,
    from: *mut sockaddr,
    fromlen: *mut socklen_t,
) -> Result<(usize, bool), Errno> {
    if iov.is_null() && iovcnt > 0 {
        return Err(Errno::EFAULT);
    }
    if iovcnt > libc::UIO_MAXIOV as usize {
        return Err(Errno::EINVAL);
    }
    let iovs = if iovcnt == 0 {
        &[][..]
    } else {
        std::slice::from_raw_parts(iov, iovcnt)
    };
    let total: usize = iovs.iter().map(|v| v.iov_len).sum();
    let mut tmp = vec![0u8; total];
    let got = io::recv(sock, &mut tmp, flags)?;
    if let (Some(src), false) = (got.from, from.is_null()) {
        addr::write(src, from, fromlen)?;
    } else if !fromlen.is_null() {
        *fromlen = 0;
    }
    let mut off = 0;
    for v in iovs {
        if off >= got.len {
            break;
        }
        let n = v.iov_len.min(got.len - off);
        std::ptr::copy_nonoverlapping(tmp.as_ptr().add(off), v.iov_base as *mut u8, n);
        off += n;
    }
    Ok((got.len, got.full_len > got.len))
}

#[no_mangle]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    let Some(f) = real!(readv: fn(c_int, *const iovec, c_int) -> ssize_t) else {
        no_real!(-1)
    };
    let Some(sock) = state::get(fd) else {
        return f(fd, iov, iovcnt);
    };
    guard("readv", -1, || {
        if iovcnt < 0 {
            return ret(Err(Errno::EINVAL), -1);
        }
        ret(
            recv_iov(
                &sock,
                iov,
                iovcnt as usize,
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
            .map(|(n, _)| n as ssize_t),
            -1,
        )
    })
}

unsafe fn recvmsg_one(
    sock: &state::OpenSocket,
    msg: *mut msghdr,
    flags: c_int,
) -> Result<usize, Errno> {
    if msg.is_null() {
        return Err(Errno::EFAULT);
    }
    let m = &mut *msg;
    let mut namelen = m.msg_namelen;
    let (n, truncated) = recv_iov(
        sock,
        m.msg_iov,
        m.msg_iovlen,
        flags,
        m.msg_name as *mut sockaddr,
        if m.msg_name.is_null() {
            std::ptr::null_mut()
        } else {
            &mut namelen
        },
    )?;
    if !m.msg_name.is_null() {
        m.msg_namelen = namelen;
    } else {
        m.msg_namelen = 0;
    }
    // No ancillary data is ever produced.
    m.msg_controllen = 0;
    m.msg_flags = if truncated { libc::MSG_TRUNC } else { 0 };
    Ok(n)
}

#[no_mangle]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    let Some(f) = real!(recvmsg: fn(c_int, *mut msghdr, c_int) -> ssize_t) else {
        no_real!(-1)
    };
    let Some(sock) = state::get(fd) else {
        return f(fd, msg, flags);
    };
    guard("recvmsg", -1, || {
        ret(recvmsg_one(&sock, msg, flags).map(|n| n as ssize_t), -1)
    })
}

#[no_mangle]
pub unsafe extern "C" fn recvmmsg(
    fd: c_int,
    msgs: *mut libc::mmsghdr,
    vlen: c_uint,
    flags: c_int,
    timeout: *mut libc::timespec,
) -> c_int {
    let Some(f) =
        real!(recvmmsg: fn(c_int, *mut libc::mmsghdr, c_uint, c_int, *mut libc::timespec) -> c_int)
    else {
        no_real!(-1)
    };
    let Some(sock) = state::get(fd) else {
        return f(fd, msgs, vlen, flags, timeout);
    };
    guard("recvmmsg", -1, || {
        if msgs.is_null() {
            return ret(Err(Errno::EFAULT), -1);
        }
        // The first message waits as a recvmsg would; the rest only take what is already there.
        let mut n = 0;
        while n < vlen as usize {
            let fl = if n == 0 {
                flags & !libc::MSG_WAITFORONE
            } else {
                flags | libc::MSG_DONTWAIT
            };
            match recvmsg_one(&sock, &mut (*msgs.add(n)).msg_hdr, fl) {
                Ok(len) => {
                    (*msgs.add(n)).msg_len = len as c_uint;
                    n += 1;
                }
                Err(e) if n == 0 => return ret(Err(e), -1),
                Err(_) => break,
            }
        }
        n as c_int
    })
}

// ---------------------------------------------------------------------------------------------
// Sending.

/// Sends one buffer; `Ok(None)` means the real call must do it (a loopback destination).
unsafe fn send_from(
    sock: &state::OpenSocket,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    to: Option<(*const sockaddr, socklen_t)>,
) -> Result<Option<ssize_t>, Errno> {
    if buf.is_null() && len > 0 {
        return Err(Errno::EFAULT);
    }
    let data: &[u8] = if len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(buf as *const u8, len)
    };
    let target = match to {
        Some((a, alen)) if !a.is_null() => SendTarget::To(addr::read(a, alen)?),
        _ => SendTarget::Connected,
    };
    // A destination on a stream socket is ignored when connected, as on Linux.
    let target = if sock.kind == Kind::Stream {
        SendTarget::Connected
    } else {
        target
    };
    match io::send(sock, data, flags, target)? {
        Sent::Done(n) => Ok(Some(n as ssize_t)),
        Sent::Kernel => Ok(None),
    }
}

#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t {
    let Some(f) = real!(write: fn(c_int, *const c_void, size_t) -> ssize_t) else {
        no_real!(-1)
    };
    let Some(sock) = state::get(fd) else {
        return f(fd, buf, count);
    };
    guard("write", -1, || {
        match send_from(&sock, buf, count, 0, None) {
            Ok(Some(n)) => n,
            Ok(None) => f(fd, buf, count),
            Err(e) => ret(Err(e), -1),
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t {
    let Some(f) = real!(send: fn(c_int, *const c_void, size_t, c_int) -> ssize_t) else {
        no_real!(-1)
    };
    let Some(sock) = state::get(fd) else {
        return f(fd, buf, len, flags);
    };
    guard("send", -1, || {
        match send_from(&sock, buf, len, flags, None) {
            Ok(Some(n)) => n,
            Ok(None) => f(fd, buf, len, flags),
            Err(e) => ret(Err(e), -1),
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    to: *const sockaddr,
    tolen: socklen_t,
) -> ssize_t {
    let Some(f) = real!(sendto: fn(c_int, *const c_void, size_t, c_int, *const sockaddr, socklen_t) -> ssize_t)
    else {
        no_real!(-1)
    };
    let Some(sock) = state::get(fd) else {
        return f(fd, buf, len, flags, to, tolen);
    };
    guard("sendto", -1, || {
        match send_from(&sock, buf, len, flags, Some((to, tolen))) {
            Ok(Some(n)) => n,
            Ok(None) => f(fd, buf, len, flags, to, tolen),
            Err(e) => ret(Err(e), -1),
        }
    })
}

/// Gathers an iovec array into one buffer (a datagram must go out as one).
unsafe fn gather(iov: *const iovec, iovcnt: usize) -> Result<Vec<u8>, Errno> {
    if iov.is_null() && iovcnt > 0 {
        return Err(Errno::EFAULT);
    }
    if iovcnt > libc::UIO_MAXIOV as usize {
        return Err(Errno::EINVAL);
    }
    let iovs = if iovcnt == 0 {
        &[][..]
    } else {
        std::slice::from_raw_parts(iov, iovcnt)
    };
    let mut data = Vec::with_capacity(iovs.iter().map(|v| v.iov_len).sum());
    for v in iovs {
        if v.iov_len > 0 {
            data.extend_from_slice(std::slice::from_raw_parts(
                v.iov_base as *const u8,
                v.iov_len,
            ));
        }
    }
    Ok(data)
}

#[no_mangle]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    let Some(f) = real!(writev: fn(c_int, *const iovec, c_int) -> ssize_t) else {
        no_real!(-1)
    };
    let Some(sock) = state::get(fd) else {
        return f(fd, iov, iovcnt);
    };
    guard("writev", -1, || {
        if iovcnt < 0 {
            return ret(Err(Errno::EINVAL), -1);
        }
        let r = gather(iov, iovcnt as usize)
            .and_then(|data| send_from(&sock, data.as_ptr() as *const c_void, data.len(), 0, None));
        match r {
            Ok(Some(n)) => n,
            Ok(None) => f(fd, iov, iovcnt),
            Err(e) => ret(Err(e), -1),
        }
    })
}

unsafe fn sendmsg_one(
    sock: &state::OpenSocket,
    msg: *const msghdr,
    flags: c_int,
) -> Result<Option<usize>, Errno> {
    if msg.is_null() {
        return Err(Errno::EFAULT);
    }
    let m = &*msg;
    let data = gather(m.msg_iov, m.msg_iovlen)?;
    let to = (!m.msg_name.is_null()).then_some((m.msg_name as *const sockaddr, m.msg_namelen));
    Ok(send_from(sock, data.as_ptr() as *const c_void, data.len(), flags, to)?.map(|n| n as usize))
}

#[no_mangle]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    let Some(f) = real!(sendmsg: fn(c_int, *const msghdr, c_int) -> ssize_t) else {
        no_real!(-1)
    };
    let Some(sock) = state::get(fd) else {
        return f(fd, msg, flags);
    };
    guard("sendmsg", -1, || match sendmsg_one(&sock, msg, flags) {
        Ok(Some(n)) => n as ssize_t,
        Ok(None) => f(fd, msg, flags),
        Err(e) => ret(Err(e), -1),
    })
}

#[no_mangle]
pub unsafe extern "C" fn sendmmsg(
    fd: c_int,
    msgs: *mut libc::mmsghdr,
    vlen: c_uint,
    flags: c_int,
) -> c_int {
    let Some(f) = real!(sendmmsg: fn(c_int, *mut libc::mmsghdr, c_uint, c_int) -> c_int) else {
        no_real!(-1)
    };
    let Some(sock) = state::get(fd) else {
        return f(fd, msgs, vlen, flags);
    };
    guard("sendmmsg", -1, || {
        if msgs.is_null() {
            return ret(Err(Errno::EFAULT), -1);
        }
        let mut n = 0;
        while n < vlen as usize {
            match sendmsg_one(&sock, &(*msgs.add(n)).msg_hdr, flags) {
                Ok(Some(len)) => {
                    (*msgs.add(n)).msg_len = len as c_uint;
                    n += 1;
                }
                // The socket went to the kernel (loopback): let the kernel send the rest.
                Ok(None) => {
                    let r = f(fd, msgs.add(n), vlen - n as c_uint, flags);
                    return if r < 0 && n == 0 {
                        r
                    } else {
                        n as c_int + r.max(0)
                    };
                }
                Err(e) if n == 0 => return ret(Err(e), -1),
                Err(_) => break,
            }
        }
        n as c_int
    })
}

unsafe fn sendfile_common(
    out_fd: c_int,
    in_fd: c_int,
    offset: *mut libc::off64_t,
    count: size_t,
) -> Result<ssize_t, Errno> {
    let sock = state::get(out_fd).expect("checked by caller");
    if state::get(in_fd).is_some() {
        // sendfile needs a file it can map as input.
        return Err(Errno::EINVAL);
    }
    let pread = real!(pread64: fn(c_int, *mut c_void, size_t, libc::off64_t) -> ssize_t)
        .ok_or(Errno(libc::ENOSYS))?;
    let rd = real!(read: fn(c_int, *mut c_void, size_t) -> ssize_t).ok_or(Errno(libc::ENOSYS))?;
    let mut buf = vec![0u8; count.min(256 * 1024)];
    let mut done = 0usize;
    while done < count {
        let want = (count - done).min(buf.len());
        let n = if offset.is_null() {
            rd(in_fd, buf.as_mut_ptr() as *mut c_void, want)
        } else {
            pread(
                in_fd,
                buf.as_mut_ptr() as *mut c_void,
                want,
                *offset + done as libc::off64_t,
            )
        };
        if n < 0 {
            if done > 0 {
                break;
            }
            return Err(Errno(super::hook::errno()));
        }
        if n == 0 {
            break;
        }
        match io::send(&sock, &buf[..n as usize], 0, SendTarget::Connected) {
            Ok(Sent::Done(sent)) => {
                done += sent;
                if sent < n as usize {
                    break;
                }
            }
            Ok(Sent::Kernel) => return Err(Errno::EINVAL),
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    if !offset.is_null() {
        *offset += done as libc::off64_t;
    }
    Ok(done as ssize_t)
}

#[no_mangle]
pub unsafe extern "C" fn sendfile(
    out_fd: c_int,
    in_fd: c_int,
    offset: *mut libc::off_t,
    count: size_t,
) -> ssize_t {
    let Some(f) = real!(sendfile: fn(c_int, c_int, *mut libc::off_t, size_t) -> ssize_t) else {
        no_real!(-1)
    };
    if state::get(out_fd).is_none() {
        return f(out_fd, in_fd, offset, count);
    }
    guard("sendfile", -1, || {
        ret(
            sendfile_common(out_fd, in_fd, offset as *mut libc::off64_t, count),
            -1,
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn sendfile64(
    out_fd: c_int,
    in_fd: c_int,
    offset: *mut libc::off64_t,
    count: size_t,
) -> ssize_t {
    let Some(f) = real!(sendfile64: fn(c_int, c_int, *mut libc::off64_t, size_t) -> ssize_t) else {
        no_real!(-1)
    };
    if state::get(out_fd).is_none() {
        return f(out_fd, in_fd, offset, count);
    }
    guard("sendfile64", -1, || {
        ret(sendfile_common(out_fd, in_fd, offset, count), -1)
    })
}

// ---------------------------------------------------------------------------------------------
// Descriptors.

/// In a vfork child (which shares our memory until it execs) descriptor calls must not touch the
/// parent's table: they go straight to libc.
fn vforked() -> bool {
    state::in_vfork_child()
}

#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    if vforked() {
        return match real!(close: fn(c_int) -> c_int) {
            Some(f) => f(fd),
            None => crate::sys::close(fd).map_or(-1, |_| 0),
        };
    }
    guard("close", -1, || fds::close(fd))
}

#[no_mangle]
pub unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    let Some(f) = real!(close_range: fn(c_uint, c_uint, c_int) -> c_int) else {
        no_real!(-1)
    };
    if vforked() {
        return f(first, last, flags);
    }
    guard("close_range", -1, || {
        fds::close_range(first, last, flags, |a, b, fl| f(a, b, fl))
    })
}

#[no_mangle]
pub unsafe extern "C" fn closefrom(lowfd: c_int) {
    let Some(f) = real!(close_range: fn(c_uint, c_uint, c_int) -> c_int) else {
        return;
    };
    if vforked() {
        f(lowfd.max(0) as c_uint, c_uint::MAX, 0);
        return;
    }
    guard("closefrom", 0, || {
        fds::close_range(lowfd.max(0) as c_uint, c_uint::MAX, 0, |a, b, fl| {
            f(a, b, fl)
        })
    });
}

#[no_mangle]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    let Some(f) = real!(dup: fn(c_int) -> c_int) else {
        no_real!(-1)
    };
    if vforked() {
        return f(fd);
    }
    let new = f(fd);
    if new >= 0 {
        guard("dup", (), || fds::duplicated(fd, new));
    }
    new
}

#[no_mangle]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    let Some(f) = real!(dup2: fn(c_int, c_int) -> c_int) else {
        no_real!(-1)
    };
    if vforked() {
        return f(old, new);
    }
    if old == new {
        return f(old, new);
    }
    guard("dup2", -1, || {
        if let Err(e) = fds::before_dup_onto(old, new) {
            return ret(Err(e), -1);
        }
        let r = f(old, new);
        if r >= 0 {
            fds::duplicated(old, r);
        }
        r
    })
}

#[no_mangle]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    let Some(f) = real!(dup3: fn(c_int, c_int, c_int) -> c_int) else {
        no_real!(-1)
    };
    if vforked() {
        return f(old, new, flags);
    }
    if old == new {
        return f(old, new, flags);
    }
    guard("dup3", -1, || {
        // The kernel checks the flags first.
        if flags & !libc::O_CLOEXEC != 0 {
            return ret(Err(Errno::EINVAL), -1);
        }
        if let Err(e) = fds::before_dup_onto(old, new) {
            return ret(Err(e), -1);
        }
        let r = f(old, new, flags);
        if r >= 0 {
            fds::duplicated(old, r);
        }
        r
    })
}

unsafe fn fcntl_common(fd: c_int, cmd: c_int, arg: c_ulong, name: &'static str) -> c_int {
    let real = if name == "fcntl64" {
        real!(fcntl64: fn(c_int, c_int, c_ulong) -> c_int)
    } else {
        real!(fcntl: fn(c_int, c_int, c_ulong) -> c_int)
    };
    let Some(f) = real else { no_real!(-1) };
    let Some(sock) = state::get(fd) else {
        let r = f(fd, cmd, arg);
        // F_DUPFD of a kernel descriptor needs no record; of a stack socket it does (below).
        return r;
    };
    guard(name, -1, || {
        fds::fcntl(&sock, fd, cmd, arg, |a, b, c| f(a, b, c))
    })
}

#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    fcntl_common(fd, cmd, arg, "fcntl")
}

#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    fcntl_common(fd, cmd, arg, "fcntl64")
}

#[no_mangle]
pub unsafe extern "C" fn ioctl(fd: c_int, request: c_ulong, arg: c_ulong) -> c_int {
    let Some(f) = real!(ioctl: fn(c_int, c_ulong, c_ulong) -> c_int) else {
        no_real!(-1)
    };
    let Some(sock) = state::get(fd) else {
        return f(fd, request, arg);
    };
    guard("ioctl", -1, || {
        match fds::ioctl(&sock, fd, request, arg, |a, b, c| f(a, b, c)) {
            Some(r) => ret(r, -1),
            None => f(fd, request, arg),
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Waiting for readiness.

fn ms_timeout(ms: c_int) -> Option<Duration> {
    (ms >= 0).then(|| Duration::from_millis(ms as u64))
}

unsafe fn ts_timeout(ts: *const libc::timespec) -> Result<Option<Duration>, Errno> {
    if ts.is_null() {
        return Ok(None);
    }
    let t = &*ts;
    if t.tv_sec < 0 || !(0..1_000_000_000).contains(&t.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Some(Duration::new(t.tv_sec as u64, t.tv_nsec as u32)))
}

unsafe fn has_stack_fd(fds: *const libc::pollfd, nfds: libc::nfds_t) -> bool {
    !fds.is_null() && (0..nfds as usize).any(|i| state::get((*fds.add(i)).fd).is_some())
}

#[no_mangle]
pub unsafe extern "C" fn poll(fds: *mut libc::pollfd, nfds: libc::nfds_t, timeout: c_int) -> c_int {
    let Some(f) = real!(poll: fn(*mut libc::pollfd, libc::nfds_t, c_int) -> c_int) else {
        no_real!(-1)
    };
    if !has_stack_fd(fds, nfds) {
        return f(fds, nfds, timeout);
    }
    guard("poll", -1, || {
        let slice = std::slice::from_raw_parts_mut(fds, nfds as usize);
        ret(
            poll::poll(slice, ms_timeout(timeout), None).map(|n| n as c_int),
            -1,
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn __poll_chk(
    fds: *mut libc::pollfd,
    nfds: libc::nfds_t,
    timeout: c_int,
    fdslen: size_t,
) -> c_int {
    if (fdslen / std::mem::size_of::<libc::pollfd>()) < nfds as usize {
        chk_fail();
    }
    poll(fds, nfds, timeout)
}

#[no_mangle]
pub unsafe extern "C" fn ppoll(
    fds: *mut libc::pollfd,
    nfds: libc::nfds_t,
    ts: *const libc::timespec,
    mask: *const libc::sigset_t,
) -> c_int {
    let Some(f) = real!(ppoll: fn(*mut libc::pollfd, libc::nfds_t, *const libc::timespec, *const libc::sigset_t) -> c_int)
    else {
        no_real!(-1)
    };
    if !has_stack_fd(fds, nfds) {
        return f(fds, nfds, ts, mask);
    }
    guard("ppoll", -1, || {
        let slice = std::slice::from_raw_parts_mut(fds, nfds as usize);
        let r = ts_timeout(ts).and_then(|t| poll::poll(slice, t, mask.as_ref()));
        ret(r.map(|n| n as c_int), -1)
    })
}

#[no_mangle]
pub unsafe extern "C" fn __ppoll_chk(
    fds: *mut libc::pollfd,
    nfds: libc::nfds_t,
    ts: *const libc::timespec,
    mask: *const libc::sigset_t,
    fdslen: size_t,
) -> c_int {
    if (fdslen / std::mem::size_of::<libc::pollfd>()) < nfds as usize {
        chk_fail();
    }
    ppoll(fds, nfds, ts, mask)
}

/// True if a set names a stack socket (below `nfds`, which may exceed FD_SETSIZE, as on Linux).
unsafe fn select_has_stack(nfds: c_int, sets: [*mut libc::fd_set; 3]) -> bool {
    state::fds_in(0, nfds.max(0) - 1)
        .into_iter()
        .any(|fd| sets.iter().any(|&s| poll::isset(s, fd)))
}

#[no_mangle]
pub unsafe extern "C" fn select(
    nfds: c_int,
    r: *mut libc::fd_set,
    w: *mut libc::fd_set,
    e: *mut libc::fd_set,
    tv: *mut libc::timeval,
) -> c_int {
    let Some(f) = real!(select: fn(c_int, *mut libc::fd_set, *mut libc::fd_set, *mut libc::fd_set, *mut libc::timeval) -> c_int)
    else {
        no_real!(-1)
    };
    if !select_has_stack(nfds, [r, w, e]) {
        return f(nfds, r, w, e, tv);
    }
    guard("select", -1, || {
        let timeout = if tv.is_null() {
            None
        } else if (*tv).tv_sec < 0 || (*tv).tv_usec < 0 {
            return ret(Err(Errno::EINVAL), -1);
        } else {
            Some(
                Duration::from_secs((*tv).tv_sec as u64)
                    + Duration::from_micros((*tv).tv_usec as u64),
            )
        };
        let start = std::time::Instant::now();
        let n = poll::select(nfds, r, w, e, timeout, None);
        // Linux updates the timeval with the time left.
        if let (Some(t), false) = (timeout, tv.is_null()) {
            let left = t.saturating_sub(start.elapsed());
            (*tv).tv_sec = left.as_secs() as libc::time_t;
            (*tv).tv_usec = left.subsec_micros() as libc::suseconds_t;
        }
        ret(n.map(|n| n as c_int), -1)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pselect(
    nfds: c_int,
    r: *mut libc::fd_set,
    w: *mut libc::fd_set,
    e: *mut libc::fd_set,
    ts: *const libc::timespec,
    mask: *const libc::sigset_t,
) -> c_int {
    let Some(f) = real!(pselect: fn(c_int, *mut libc::fd_set, *mut libc::fd_set, *mut libc::fd_set, *const libc::timespec, *const libc::sigset_t) -> c_int)
    else {
        no_real!(-1)
    };
    if !select_has_stack(nfds, [r, w, e]) {
        return f(nfds, r, w, e, ts, mask);
    }
    guard("pselect", -1, || {
        let n = ts_timeout(ts).and_then(|t| poll::select(nfds, r, w, e, t, mask.as_ref()));
        ret(n.map(|n| n as c_int), -1)
    })
}

/// A new epoll instance: a stale shadow under its number (an instance closed behind our back) must
/// not haunt it.
fn fresh_epoll(fd: c_int) -> c_int {
    if fd >= 0 && !state::in_vfork_child() {
        guard("epoll_create", (), || fds::fresh(fd));
    }
    fd
}

#[no_mangle]
pub unsafe extern "C" fn epoll_create(size: c_int) -> c_int {
    let Some(f) = real!(epoll_create: fn(c_int) -> c_int) else {
        no_real!(-1)
    };
    fresh_epoll(f(size))
}

#[no_mangle]
pub unsafe extern "C" fn epoll_create1(flags: c_int) -> c_int {
    let Some(f) = real!(epoll_create1: fn(c_int) -> c_int) else {
        no_real!(-1)
    };
    fresh_epoll(f(flags))
}

#[no_mangle]
pub unsafe extern "C" fn epoll_ctl(
    epfd: c_int,
    op: c_int,
    fd: c_int,
    event: *mut libc::epoll_event,
) -> c_int {
    let Some(f) = real!(epoll_ctl: fn(c_int, c_int, c_int, *mut libc::epoll_event) -> c_int) else {
        no_real!(-1)
    };
    if state::get(fd).is_none() {
        return f(epfd, op, fd, event);
    }
    guard("epoll_ctl", -1, || {
        ret(epoll::ctl(epfd, op, fd, event).map(|_| 0), -1)
    })
}

unsafe fn epoll_wait_common(
    epfd: c_int,
    events: *mut libc::epoll_event,
    max: c_int,
    timeout: Option<Duration>,
    mask: *const libc::sigset_t,
) -> c_int {
    guard("epoll_wait", -1, || {
        if max <= 0 || events.is_null() {
            return ret(Err(Errno::EINVAL), -1);
        }
        let out = std::slice::from_raw_parts_mut(events, max as usize);
        ret(
            epoll::wait(epfd, out, timeout, mask.as_ref()).map(|n| n as c_int),
            -1,
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn epoll_wait(
    epfd: c_int,
    events: *mut libc::epoll_event,
    max: c_int,
    timeout: c_int,
) -> c_int {
    let Some(f) = real!(epoll_wait: fn(c_int, *mut libc::epoll_event, c_int, c_int) -> c_int)
    else {
        no_real!(-1)
    };
    if !epoll::has_shadow(epfd) {
        return f(epfd, events, max, timeout);
    }
    epoll_wait_common(epfd, events, max, ms_timeout(timeout), std::ptr::null())
}

#[no_mangle]
pub unsafe extern "C" fn epoll_pwait(
    epfd: c_int,
    events: *mut libc::epoll_event,
    max: c_int,
    timeout: c_int,
    mask: *const libc::sigset_t,
) -> c_int {
    let Some(f) = real!(epoll_pwait: fn(c_int, *mut libc::epoll_event, c_int, c_int, *const libc::sigset_t) -> c_int)
    else {
        no_real!(-1)
    };
    if !epoll::has_shadow(epfd) {
        return f(epfd, events, max, timeout, mask);
    }
    epoll_wait_common(epfd, events, max, ms_timeout(timeout), mask)
}

#[no_mangle]
pub unsafe extern "C" fn epoll_pwait2(
    epfd: c_int,
    events: *mut libc::epoll_event,
    max: c_int,
    ts: *const libc::timespec,
    mask: *const libc::sigset_t,
) -> c_int {
    let Some(f) = real!(epoll_pwait2: fn(c_int, *mut libc::epoll_event, c_int, *const libc::timespec, *const libc::sigset_t) -> c_int)
    else {
        no_real!(-1)
    };
    if !epoll::has_shadow(epfd) {
        return f(epfd, events, max, ts, mask);
    }
    match ts_timeout(ts) {
        Ok(t) => epoll_wait_common(epfd, events, max, t, mask),
        Err(e) => ret(Err(e), -1),
    }
}

// ---------------------------------------------------------------------------------------------
// _FORTIFY_SOURCE variants.

fn chk_fail() -> ! {
    if let Some(f) = real!(__chk_fail: fn() -> ()) {
        // SAFETY: glibc's __chk_fail prints "buffer overflow detected" and aborts.
        unsafe { f() };
    }
    std::process::abort()
}

#[no_mangle]
pub unsafe extern "C" fn __read_chk(
    fd: c_int,
    buf: *mut c_void,
    nbytes: size_t,
    buflen: size_t,
) -> ssize_t {
    if nbytes > buflen {
        chk_fail();
    }
    read(fd, buf, nbytes)
}

#[no_mangle]
pub unsafe extern "C" fn __recv_chk(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    buflen: size_t,
    flags: c_int,
) -> ssize_t {
    if len > buflen {
        chk_fail();
    }
    recv(fd, buf, len, flags)
}

#[no_mangle]
pub unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    buflen: size_t,
    flags: c_int,
    from: *mut sockaddr,
    fromlen: *mut socklen_t,
) -> ssize_t {
    if len > buflen {
        chk_fail();
    }
    recvfrom(fd, buf, len, flags, from, fromlen)
}

/// A descriptor the program closed that the table still thinks is a socket, for tests.
pub fn is_stack_fd(fd: RawFd) -> bool {
    state::get(fd).is_some()
}
