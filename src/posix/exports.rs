//! The C symbols the preloaded library exports in place of libc's.
//!
//! Each one looks up its descriptor: a socket the shim knows goes to this crate's implementation,
//! anything else to the real libc function. Bodies run under [`guard`], so a panic becomes EIO and
//! a log line, never an unwind into the program. Debian builds programs with `_FORTIFY_SOURCE`,
//! which calls the checked variants (`__read_chk`, `__recv_chk`…); they are here too.
//!
//! What is not here, because the kernel does it on a stack socket's descriptor: `poll`, `select`,
//! `epoll_wait`, `sendfile`, `splice`, stdio, and plain TCP `read`/`write` (only their end of file
//! is looked at).

#![allow(clippy::missing_safety_doc)]

use std::ffi::c_void;
use std::os::fd::RawFd;
use std::sync::Arc;

use libc::{c_int, c_uint, c_ulong, iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};

use super::addr::{self, Addr};
use super::hook::{guard, ret, set_errno};
use super::io;
use super::sockets;
use super::sockopt::{self, OutQueue, Set};
use super::stamps;
use super::state::{self, Attach, OpenSocket};
use super::user::Iovecs;
use crate::error::Errno;
use crate::real;
use crate::service::proto::Kind;
use crate::service::uds::SIOCATMARK;

macro_rules! no_real {
    ($fail:expr) => {{
        set_errno(Errno(libc::ENOSYS));
        return $fail;
    }};
}

/// Whether a call on descriptors `a` and `b` must update the table: one of them is in it, and this
/// is no vfork child (which shares our memory and must leave the parent's table alone). The table
/// is looked at first: the vfork check costs a system call.
fn table_has(a: RawFd, b: RawFd) -> bool {
    (state::get(a).is_some() || state::get(b).is_some()) && !state::in_vfork_child()
}

/// The socket the shim knows at `fd`.
fn known(fd: RawFd) -> Option<Arc<OpenSocket>> {
    // (A vfork child may read the table: it shares our memory, and reading changes nothing.)
    state::get(fd)
}

/// A known socket, or a stack socket recognised by its name (inherited, or received). A record
/// of a stack socket is checked against the descriptor first: one closed behind the shim's back
/// (inside libc, as `fclose` does) may have left its number to another file.
fn stack_or_known(fd: RawFd) -> Option<Arc<OpenSocket>> {
    if state::in_vfork_child() {
        return None;
    }
    match state::get(fd) {
        Some(s) if s.is_pending() => Some(s),
        Some(s) => {
            let ours = crate::service::uds::abstract_name(fd)
                .is_some_and(|n| n.starts_with(crate::service::server::SOCKET_NAME_PREFIX));
            if ours {
                return Some(s);
            }
            state::remove(fd);
            None
        }
        None => state::identify(fd),
    }
}

// ---------------------------------------------------------------------------------------------
// Creating and addressing sockets.

#[no_mangle]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    let Some(f) = real!(socket: fn(c_int, c_int, c_int) -> c_int) else {
        no_real!(-1)
    };
    if for_stack(domain) && crate::memory::under_pressure() && state::interposing() {
        // The program is out of memory: the socket would hold some of it in this process, so
        // ENOMEM, as Linux's socket() when it cannot allocate one. Its other sockets go on.
        set_errno(Errno::ENOMEM);
        return -1;
    }
    let fd = f(domain, ty, protocol);
    if fd >= 0 {
        guard("socket", (), || {
            let ours = for_stack(domain) && state::interposing();
            if (ours || state::get(fd).is_some()) && !state::in_vfork_child() {
                state::remove(fd);
                if ours {
                    sockets::adopt(fd, ty, protocol, domain == libc::AF_INET6);
                }
            }
        });
    }
    fd
}

/// Whether `socket(domain, …)` may be a stack socket: AF_INET, and AF_INET6 (a dual-stack socket
/// whose traffic may be IPv4; its first `bind`, `connect`, `listen` or `sendto` decides, see
/// [`sockets::stays_on_kernel`]).
fn for_stack(domain: c_int) -> bool {
    domain == libc::AF_INET || domain == libc::AF_INET6
}

/// Reads the address a `connect` or `sendto` (`sending`) names, as the socket's family reads it:
/// an AF_INET6 UDP socket also takes AF_INET and AF_UNSPEC ones ([`addr::read6_dgram`]).
unsafe fn destination(
    sock: &OpenSocket,
    a: *const sockaddr,
    len: socklen_t,
    sending: bool,
) -> Result<Addr, Errno> {
    if sock.inet6 && sock.kind == Kind::Dgram {
        addr::read6_dgram(a, len, sending)
    } else {
        addr::read_for(sock.inet6, a, len)
    }
}

/// A descriptor the kernel just made that the shim leaves alone: any record of its number is stale.
fn fresh(fd: RawFd) {
    if fd >= 0 && table_has(fd, fd) {
        state::remove(fd);
    }
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
    if r == 0 && !sv.is_null() {
        fresh(*sv);
        fresh(*sv.add(1));
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn epoll_create(size: c_int) -> c_int {
    let Some(f) = real!(epoll_create: fn(c_int) -> c_int) else {
        no_real!(-1)
    };
    let fd = f(size);
    fresh(fd);
    fd
}

#[no_mangle]
pub unsafe extern "C" fn epoll_create1(flags: c_int) -> c_int {
    let Some(f) = real!(epoll_create1: fn(c_int) -> c_int) else {
        no_real!(-1)
    };
    let fd = f(flags);
    fresh(fd);
    fd
}

type AddrCall = unsafe extern "C" fn(c_int, *const sockaddr, socklen_t) -> c_int;
type StackAddrCall = fn(&Arc<OpenSocket>, RawFd, Addr) -> Result<(), Errno>;

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
    let Some(sock) = stack_or_known(fd) else {
        return f(fd, a, len);
    };
    let binding = name == "bind";
    let read = |a, len| {
        if binding {
            addr::read_for(sock.inet6, a, len)
        } else {
            destination(&sock, a, len, false)
        }
    };
    guard(name, -1, || match read(a, len) {
        Ok(target) if sockets::stays_on_kernel(&sock, fd, &target, binding) => f(fd, a, len),
        // A TCP socket on the stack (bound there) connecting to loopback: on the kernel.
        Ok(target) if !binding && sock.kind == Kind::Stream => {
            match sockets::leaves_for_loopback(&sock, fd, &target) {
                Ok(true) => f(fd, a, len),
                Ok(false) => ret(on_stack(&sock, fd, target).map(|_| 0), -1),
                Err(e) => ret(Err(e), -1),
            }
        }
        Ok(target) => ret(on_stack(&sock, fd, target).map(|_| 0), -1),
        Err(e) => ret(Err(e), -1),
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
    let Some(sock) = stack_or_known(fd) else {
        return f(fd, backlog);
    };
    if sockets::listen_stays_on_kernel(&sock, fd) {
        return f(fd, backlog);
    }
    guard("listen", -1, || {
        ret(sockets::listen(&sock, fd, backlog).map(|_| 0), -1)
    })
}

unsafe fn accept_common(fd: c_int, a: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    let Some(f) = real!(accept4: fn(c_int, *mut sockaddr, *mut socklen_t, c_int) -> c_int) else {
        no_real!(-1)
    };
    let sock = match stack_or_known(fd) {
        Some(s) if !s.is_pending() => s,
        _ => {
            let nfd = f(fd, a, len, flags);
            if nfd >= 0 && table_has(nfd, nfd) {
                state::remove(nfd);
            }
            return nfd;
        }
    };
    guard("accept", -1, || {
        if crate::memory::under_pressure() {
            // Out of memory: the connection stays queued for an accept once there is some.
            return ret(Err(Errno::ENOMEM), -1);
        }
        let r = sockets::accept(&sock, fd, flags).and_then(|(nfd, peer)| {
            // A null address asks for none, whatever the length says (Linux's accept4).
            if !a.is_null() {
                match peer {
                    sockets::Peer::Stack(peer) => addr::write_for(sock.inet6, peer, a, len)?,
                    sockets::Peer::Kernel(peer) => addr::write_bytes(&peer, a, len)?,
                }
            }
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

type NameCall = unsafe extern "C" fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int;

/// getsockname and getpeername: the service's answer for a stack socket, the kernel's for the rest
/// (pending sockets included: they are kernel sockets until they attach).
unsafe fn name_call(
    name: &str,
    real: Option<NameCall>,
    on_stack: fn(&OpenSocket, RawFd) -> Result<std::net::SocketAddrV4, Errno>,
    fd: c_int,
    a: *mut sockaddr,
    len: *mut socklen_t,
) -> c_int {
    let Some(f) = real else { no_real!(-1) };
    let sock = match stack_or_known(fd) {
        Some(s) if !s.is_pending() => s,
        _ => return f(fd, a, len),
    };
    guard(name, -1, || {
        ret(
            on_stack(&sock, fd)
                .and_then(|found| addr::write_for(sock.inet6, found, a, len))
                .map(|_| 0),
            -1,
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn getsockname(fd: c_int, a: *mut sockaddr, len: *mut socklen_t) -> c_int {
    let real = real!(getsockname: fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int);
    name_call("getsockname", real, sockets::local_addr, fd, a, len)
}

#[no_mangle]
pub unsafe extern "C" fn getpeername(fd: c_int, a: *mut sockaddr, len: *mut socklen_t) -> c_int {
    let real = real!(getpeername: fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int);
    name_call("getpeername", real, sockets::peer_addr, fd, a, len)
}

#[no_mangle]
pub unsafe extern "C" fn shutdown(fd: c_int, how: c_int) -> c_int {
    let Some(f) = real!(shutdown: fn(c_int, c_int) -> c_int) else {
        no_real!(-1)
    };
    let sock = match stack_or_known(fd) {
        Some(s) if !s.is_pending() => s,
        _ => return f(fd, how),
    };
    guard("shutdown", -1, || {
        ret(sockets::shutdown(&sock, fd, how).map(|_| 0), -1)
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
    let Some(sock) = stack_or_known(fd) else {
        return f(fd, level, name, val, len);
    };
    guard("setsockopt", -1, || {
        if val.is_null() && len > 0 {
            return ret(Err(Errno::EFAULT), -1);
        }
        let bytes: &[u8] = if len == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(val as *const u8, len as usize)
        };
        if let Err(e) = stamps::refused(level, name, bytes) {
            return ret(Err(e), -1);
        }
        if let Err(e) = sockopt::refused(&sock, level, name, bytes.len()) {
            return ret(Err(e), -1);
        }
        if let Some(r) = sockopt::attach_for_multicast(&sock, fd, level, name, bytes) {
            return ret(r, -1);
        }
        let pending = sock.is_pending();
        if pending {
            // The kernel socket validates the option first: only what it took is replayed.
            let r = f(fd, level, name, val, len);
            if r < 0 {
                return r;
            }
        }
        if level == libc::SOL_SOCKET && matches!(name, libc::SO_SNDTIMEO | libc::SO_SNDTIMEO_NEW) {
            if let Some(us) = sockets::sndtimeo_us_of(bytes) {
                sock.sndtimeo_us
                    .store(us, std::sync::atomic::Ordering::Relaxed);
            }
        }
        if level == libc::SOL_SOCKET && name == libc::SO_LINGER {
            if let Some(secs) = sockets::linger_secs_of(bytes) {
                sock.linger_secs
                    .store(secs, std::sync::atomic::Ordering::Relaxed);
            }
        }
        match sockopt::set(&sock, fd, level, name, bytes) {
            Set::Done(r) => ret(r.map(|_| 0), -1),
            Set::Real if pending => 0,
            Set::Real => f(fd, level, name, val, len),
        }
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
    let Some(sock) = stack_or_known(fd) else {
        return f(fd, level, name, val, len);
    };
    guard("getsockopt", -1, || {
        // Read here; whether it can be written, the answer's write finds (sockopt::put).
        if let Err(e) = super::user::check_read_again_of(len) {
            return ret(Err(e), -1);
        }
        match sockopt::get(&sock, fd, level, name, *len as usize) {
            None => f(fd, level, name, val, len),
            Some(r) => ret(
                r.and_then(|v| sockopt::put(level, &v, val, len)).map(|_| 0),
                -1,
            ),
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Receiving.

/// What a TCP read into `iov` with `flags` that returned `n` should return: after
/// shutdown(SHUT_RD), also what arrived since, as room allows ([`tcp_read_held`]); end of file
/// after a reset is the reset; the ECONNRESET of a program's end whose connect failed is that
/// connect's error, or end of file once SO_ERROR has given it ([`sockets::error_at_reset`]).
unsafe fn tcp_read_result(
    sock: &OpenSocket,
    fd: RawFd,
    n: ssize_t,
    iov: &[iovec],
    flags: c_int,
) -> ssize_t {
    if n >= 0 && sock.rd_shut.load(std::sync::atomic::Ordering::Relaxed) {
        match tcp_read_held(sock, fd, iov, n as usize, flags) {
            Ok(0) => {}
            Ok(more) => return n + more as ssize_t,
            Err(e) => return ret(Err(e), -1),
        }
    }
    if n < 0 && super::hook::errno() == libc::EAGAIN && sockets::rcvlowat_set(sock, fd) {
        match tcp_read_below_mark(sock, fd, iov, flags) {
            Ok(0) => set_errno(Errno::EAGAIN),
            Ok(got) => return got as ssize_t,
            Err(e) => return ret(Err(e), -1),
        }
        return -1;
    }
    if n < 0 && super::hook::errno() == libc::EINVAL {
        if sockets::unpaired(fd) {
            // A socket taken apart, not connected again (an unconnected UNIX socket refuses
            // reads with EINVAL): Linux's tcp_recvmsg says the pending error, else ENOTCONN.
            set_errno(sockets::take_pending_error(fd).unwrap_or(Errno::ENOTCONN));
        } else if flags & libc::MSG_OOB != 0 {
            set_errno(io::tcp_oob_error(sock, fd));
        } else {
            set_errno(Errno::EINVAL);
        }
        return -1;
    }
    if n < 0 && super::hook::errno() == libc::ECONNRESET {
        return match sockets::error_at_reset(fd) {
            Some(Some(e)) => {
                set_errno(e);
                -1
            }
            Some(None) => 0,
            None => {
                set_errno(Errno::ECONNRESET);
                -1
            }
        };
    }
    if n == 0 {
        if let Some(e) = sockets::error_at_eof(fd) {
            set_errno(e);
            return -1;
        }
    }
    n
}

/// After shutdown(SHUT_RD), the data that arrived since, copied into `iov` after the `done`
/// bytes the read already put there (MSG_PEEK leaves it held): Linux's read takes all that is
/// queued, up to its length. How many bytes were added (0: none held, the read stands).
unsafe fn tcp_read_held(
    sock: &OpenSocket,
    fd: RawFd,
    iov: &[iovec],
    done: usize,
    flags: c_int,
) -> Result<usize, Errno> {
    let want = iov
        .iter()
        .map(|v| v.iov_len)
        .sum::<usize>()
        .saturating_sub(done);
    let held = sockets::read_held(sock, fd, want, flags & libc::MSG_PEEK != 0);
    copy_after(iov, done, &held)
}

/// A TCP read that could not wait (non-blocking, or its SO_RCVTIMEO ran out) and found nothing,
/// on a socket whose SO_RCVLOWAT holds what arrived in the service: what is there, copied into
/// `iov`, as Linux's tcp_recvmsg returns less than the mark then. How many bytes (0: none).
unsafe fn tcp_read_below_mark(
    sock: &OpenSocket,
    fd: RawFd,
    iov: &[iovec],
    flags: c_int,
) -> Result<usize, Errno> {
    let want = iov.iter().map(|v| v.iov_len).sum::<usize>();
    let got = sockets::read_below_mark(sock, fd, want, flags & libc::MSG_PEEK != 0);
    copy_after(iov, 0, &got)
}

/// Copies `held` into `iov` after its first `done` bytes; how many bytes were copied.
unsafe fn copy_after(iov: &[iovec], done: usize, held: &[u8]) -> Result<usize, Errno> {
    let (mut skip, mut at) = (done, 0);
    for v in iov {
        if at == held.len() {
            break;
        }
        if skip >= v.iov_len {
            skip -= v.iov_len;
            continue;
        }
        let n = (v.iov_len - skip).min(held.len() - at);
        let to = v.iov_base.cast::<u8>().wrapping_add(skip);
        super::user::check_write(to, n)?;
        std::ptr::copy_nonoverlapping(held[at..].as_ptr(), to, n);
        at += n;
        skip = 0;
    }
    Ok(at)
}

/// The iovecs of a message header the kernel has just read (empty if they cannot be read).
unsafe fn iovecs_of<'a>(msg: *const msghdr) -> &'a [iovec] {
    let m = &*msg;
    Iovecs::Program(m.msg_iov, m.msg_iovlen)
        .checked()
        .unwrap_or(&[])
}

/// A receive on a UDP stack socket into `iov`; fills the source address if asked, as a
/// `sockaddr_in6` for an AF_INET6 socket (`inet6`).
#[allow(clippy::too_many_arguments)]
unsafe fn udp_recv_common(
    inet6: bool,
    fd: RawFd,
    iov: Iovecs,
    flags: c_int,
    from: *mut sockaddr,
    fromlen: *mut socklen_t,
    msg_flags: Option<&mut c_int>,
) -> ssize_t {
    let r = io::udp_recv(fd, iov, flags, None).and_then(|got| {
        match got.from {
            Some(src) if !from.is_null() => {
                addr::write_sender(inet6, src, got.from_ipv6_loopback(), from, fromlen)?;
            }
            // No datagram (the reading shut): Linux's length 0, as for any address not given.
            None if !from.is_null() => addr::write_bytes(&[], from, fromlen)?,
            _ => {}
        }
        if let Some(mf) = msg_flags {
            *mf = if got.truncated { libc::MSG_TRUNC } else { 0 };
        }
        Ok(got.len as ssize_t)
    });
    ret(r, -1)
}

#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t {
    let Some(f) = real!(read: fn(c_int, *mut c_void, size_t) -> ssize_t) else {
        no_real!(-1)
    };
    match known(fd) {
        Some(s) if s.kind == Kind::Dgram && !s.is_pending() => guard("read", -1, || {
            let iov = iovec {
                iov_base: buf,
                iov_len: count,
            };
            udp_recv_common(
                s.inet6,
                fd,
                Iovecs::Ours(&[iov]),
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                None,
            )
        }),
        // Nothing to read: Linux's sock_read_iter returns 0 before asking the protocol, whatever
        // the socket's state (a listener too), and so does the socketpair's.
        Some(s) if !s.is_pending() && count == 0 => f(fd, buf, count),
        Some(s) if !s.is_pending() => {
            if let Some(e) = io::listener_refuses(&s, fd, true, 0) {
                return ret(Err(e), -1);
            }
            io::spin_before_read(&s, fd, 0);
            let n = f(fd, buf, count);
            let iov = [iovec {
                iov_base: buf,
                iov_len: count,
            }];
            guard("read", -1, || tcp_read_result(&s, fd, n, &iov, 0))
        }
        _ => f(fd, buf, count),
    }
}

#[no_mangle]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t {
    recvfrom(
        fd,
        buf,
        len,
        flags,
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    )
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
    match known(fd) {
        Some(s) if s.kind == Kind::Dgram && !s.is_pending() => guard("recvfrom", -1, || {
            let iov = iovec {
                iov_base: buf,
                iov_len: len,
            };
            udp_recv_common(
                s.inet6,
                fd,
                Iovecs::Ours(&[iov]),
                flags,
                from,
                fromlen,
                None,
            )
        }),
        Some(s) if !s.is_pending() => {
            if flags & libc::MSG_ERRQUEUE != 0 {
                return ret(Err(io::ERRQUEUE_EMPTY), -1);
            }
            if let Some(e) = io::listener_refuses(&s, fd, true, flags) {
                return ret(Err(e), -1);
            }
            // A stream socket leaves the address untouched and reports length 0 (as Linux's TCP).
            io::spin_before_read(&s, fd, flags);
            // MSG_TRUNC: Linux's tcp_recvmsg takes the bytes without copying them (HAProxy drains
            // so, with no buffer); the socketpair would copy, into a buffer that may be NULL.
            let mut discard = Vec::new();
            let (buf, len) = if flags & libc::MSG_TRUNC != 0 {
                discard.resize(len.min(1 << 16), 0u8);
                (discard.as_mut_ptr().cast::<c_void>(), discard.len())
            } else {
                (buf, len)
            };
            let n = f(
                fd,
                buf,
                len,
                flags & !libc::MSG_TRUNC,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
            let iov = [iovec {
                iov_base: buf,
                iov_len: len,
            }];
            guard("recvfrom", -1, || {
                let r = tcp_read_result(&s, fd, n, &iov, flags);
                if r >= 0 && !fromlen.is_null() {
                    *fromlen = 0;
                }
                r
            })
        }
        _ => {
            let n = f(fd, buf, len, flags, from, fromlen);
            if n > 0 {
                // A route netlink socket's address messages (see super::ifaddrs).
                let got = (n as usize).min(len);
                guard("recvfrom", (), || {
                    super::ifaddrs::netlink_received(fd, buf.cast(), got)
                });
            }
            n
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    let Some(f) = real!(readv: fn(c_int, *const iovec, c_int) -> ssize_t) else {
        no_real!(-1)
    };
    match known(fd) {
        Some(s) if s.kind == Kind::Dgram && !s.is_pending() => guard("readv", -1, || {
            if let Some(r) = io::vectored_io_settled(iov, iovcnt) {
                return ret(r, -1);
            }
            udp_recv_common(
                s.inet6,
                fd,
                Iovecs::Program(iov, iovcnt as usize),
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                None,
            )
        }),
        // Nothing to read: Linux's vfs_readv returns 0 before the socket is asked (as the
        // socketpair's readv does), once import_iovec has read the iovecs.
        // (Not under a seccomp filter, where looking at the iovecs would be a call of ours.)
        Some(s)
            if !s.is_pending()
                && !super::hook::sandboxed()
                && io::iov_total_is_zero(iov, iovcnt) =>
        {
            f(fd, iov, iovcnt)
        }
        Some(s) if !s.is_pending() => {
            if !(0..=libc::UIO_MAXIOV).contains(&iovcnt) {
                // import_iovec's EINVAL comes before the socket is asked anything: the kernel's
                // readv on the socketpair gives it.
                return f(fd, iov, iovcnt);
            }
            if let Some(e) = io::listener_refuses(&s, fd, true, 0) {
                return ret(Err(e), -1);
            }
            io::spin_before_read(&s, fd, 0);
            let n = f(fd, iov, iovcnt);
            guard("readv", -1, || {
                let iovs = if n >= 0 && !iov.is_null() && iovcnt > 0 {
                    std::slice::from_raw_parts(iov, iovcnt as usize)
                } else {
                    &[]
                };
                tcp_read_result(&s, fd, n, iovs, 0)
            })
        }
        _ => f(fd, iov, iovcnt),
    }
}

unsafe fn recvmsg_one(sock: &OpenSocket, fd: RawFd, msg: *mut msghdr, flags: c_int) -> ssize_t {
    let Some(f) = real!(recvmsg: fn(c_int, *mut msghdr, c_int) -> ssize_t) else {
        no_real!(-1)
    };
    if sock.kind == Kind::Stream {
        if flags & libc::MSG_ERRQUEUE != 0 {
            return ret(Err(io::ERRQUEUE_EMPTY), -1);
        }
        if let Some(e) = io::listener_refuses(sock, fd, true, flags) {
            return ret(Err(e), -1);
        }
        // TCP: the kernel reads and fills the program's header itself (EFAULT if it cannot), and
        // a socketpair end has no address; nothing of the header is touched before it has.
        // The control buffer's size is needed after the call, which overwrites it: TCP_INQ and
        // receive timestamps are written there.
        super::sockets::learn_settings(sock, fd);
        let inq = sock.inq.load(std::sync::atomic::Ordering::Relaxed);
        // Read here; the kernel's recvmsg writes the header back (EFAULT if it cannot), and only
        // after it has are its fields written again.
        let header = super::user::check_read_of(msg);
        if let (true, Err(e)) = (inq, header) {
            return ret(Err(e), -1);
        }
        let room = if header.is_ok() && !(*msg).msg_control.is_null() {
            (*msg).msg_controllen
        } else {
            0
        };
        io::spin_before_read(sock, fd, flags);
        let n = f(fd, msg, flags);
        let shut = sock.rd_shut.load(std::sync::atomic::Ordering::Relaxed);
        let iov = if n >= 0 && shut { iovecs_of(msg) } else { &[] };
        let n = tcp_read_result(sock, fd, n, iov, flags);
        if n >= 0 {
            // TCP gives no address, and the socketpair's own ancillary data is none of the
            // program's business.
            (*msg).msg_namelen = 0;
            (*msg).msg_controllen = 0;
            let mut out = stamps::ControlOut::new(msg, room);
            if room > 0 {
                stamps::put_tcp(fd, n, &mut out);
            }
            if inq {
                io::put_inq(sock, fd, &mut out);
            }
        }
        return n;
    }
    if let Err(e) = super::user::check_write_again_of(msg) {
        return ret(Err(e), -1);
    }
    // UDP: the kernel's receive timestamps on the socketpair pass through as they are; the IP
    // control messages follow them.
    let m = &mut *msg;
    let control = (!m.msg_control.is_null() && m.msg_controllen > 0)
        .then_some((m.msg_control, m.msg_controllen));
    m.msg_controllen = 0;
    let name = m.msg_name as *mut sockaddr;
    let mut namelen = m.msg_namelen;
    let iov = Iovecs::Program(m.msg_iov, m.msg_iovlen);
    let r = io::udp_recv(fd, iov, flags, control).and_then(|got| {
        if let (Some(src), false) = (got.from, name.is_null()) {
            let six = got.from_ipv6_loopback();
            addr::write_sender(sock.inet6, src, six, name, &mut namelen)?;
        }
        Ok(got)
    });
    match r {
        Ok(got) => {
            m.msg_namelen = if name.is_null() || got.from.is_none() {
                0
            } else {
                namelen
            };
            m.msg_controllen = got.control_len;
            m.msg_flags = if got.truncated { libc::MSG_TRUNC } else { 0 }
                | if got.control_truncated {
                    libc::MSG_CTRUNC
                } else {
                    0
                };
            if let Some(inc) = got.incoming.filter(|i| i.report != 0) {
                let room = control.map_or(0, |(_, len)| len);
                let mut out = stamps::ControlOut::after(msg, room, got.control_len);
                io::put_ip_control(&inc, &mut out);
            }
            got.len as ssize_t
        }
        Err(e) => ret(Err(e), -1),
    }
}

/// The descriptors SCM_RIGHTS brought in `msg`: stack sockets among them are recognised.
unsafe fn note_received(msg: *const msghdr) {
    if msg.is_null() {
        return;
    }
    let m = &*msg;
    if m.msg_control.is_null() || m.msg_controllen == 0 {
        return;
    }
    let mut c = libc::CMSG_FIRSTHDR(m);
    while !c.is_null() {
        if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
            let data = libc::CMSG_DATA(c) as *const RawFd;
            let count = ((*c).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize)
                / std::mem::size_of::<RawFd>();
            for i in 0..count {
                let fd = std::ptr::read_unaligned(data.add(i));
                state::remove(fd);
                state::identify(fd);
            }
        }
        c = libc::CMSG_NXTHDR(m, c);
    }
}

#[no_mangle]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    let Some(f) = real!(recvmsg: fn(c_int, *mut msghdr, c_int) -> ssize_t) else {
        no_real!(-1)
    };
    match known(fd) {
        Some(s) if !s.is_pending() => guard("recvmsg", -1, || recvmsg_one(&s, fd, msg, flags)),
        _ => {
            let n = f(fd, msg, flags);
            let control = !msg.is_null() && (*msg).msg_controllen > 0;
            if n >= 0 && control && !state::in_vfork_child() {
                guard("recvmsg", (), || note_received(msg));
            }
            // A route netlink socket's address messages, in the first buffer (dnsmasq's one).
            if n > 0 && !msg.is_null() && !(*msg).msg_iov.is_null() && (*msg).msg_iovlen > 0 {
                let first = &*(*msg).msg_iov;
                let len = (n as usize).min(first.iov_len);
                guard("recvmsg", (), || {
                    super::ifaddrs::netlink_received(fd, first.iov_base.cast(), len)
                });
            }
            n
        }
    }
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
    let Some(sock) = known(fd).filter(|s| !s.is_pending()) else {
        return f(fd, msgs, vlen, flags, timeout);
    };
    guard("recvmmsg", -1, || {
        if msgs.is_null() {
            return ret(Err(Errno::EFAULT), -1);
        }
        let mut got = 0;
        let mut fl = flags & !libc::MSG_WAITFORONE;
        for i in 0..vlen as usize {
            let m = &mut *msgs.add(i);
            let n = recvmsg_one(&sock, fd, &mut m.msg_hdr, fl);
            if n < 0 {
                if got == 0 {
                    return -1;
                }
                break;
            }
            m.msg_len = n as c_uint;
            got += 1;
            if flags & libc::MSG_WAITFORONE != 0 {
                fl |= libc::MSG_DONTWAIT;
            }
        }
        got
    })
}

// ---------------------------------------------------------------------------------------------
// Sending.

unsafe fn udp_send_common(
    sock: &OpenSocket,
    fd: RawFd,
    iov: Iovecs,
    flags: c_int,
    (to, tolen): (*const sockaddr, socklen_t),
    control: Option<&msghdr>,
) -> ssize_t {
    let r = (|| {
        // UDP has no urgent data: Linux's udp_sendmsg refuses MSG_OOB before anything else.
        if flags & libc::MSG_OOB != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let mut to_ipv6_loopback = false;
        let target = if to.is_null() {
            None
        } else if sock.inet6 {
            match destination(sock, to, tolen, true)? {
                Addr::V4(a) => Some(a),
                // udpv6_sendmsg: no address, as a send on a connected socket.
                Addr::Unspec => None,
                // IPv6's loopback (`::`, as a destination, is `::1` to Linux's ip6_datagram
                // routing): the socket's twin there carries it, if it has one.
                Addr::V6(v6) if v6.ip().is_loopback() || v6.ip().is_unspecified() => {
                    to_ipv6_loopback = true;
                    Some(std::net::SocketAddrV4::new(
                        std::net::Ipv4Addr::LOCALHOST,
                        v6.port(),
                    ))
                }
                // An IPv6 destination from a socket on the stack (bound, or sending already):
                // this stack has no IPv6 route. (A pending socket's went to the kernel.)
                Addr::V6(_) => return Err(Errno(libc::ENETUNREACH)),
            }
        } else {
            match addr::read(to, tolen)? {
                Addr::V4(a) => Some(a),
                // Linux's udp_sendmsg reads an AF_UNSPEC destination as an AF_INET one.
                Addr::Unspec if tolen as usize >= std::mem::size_of::<libc::sockaddr_in>() => {
                    let sin = std::ptr::read_unaligned(to as *const libc::sockaddr_in);
                    Some(std::net::SocketAddrV4::new(
                        u32::from_be(sin.sin_addr.s_addr).into(),
                        u16::from_be(sin.sin_port),
                    ))
                }
                Addr::Unspec => None,
                // (Not from an AF_INET socket's address, which is all UDP has.)
                Addr::V6(_) => return Err(Errno::EAFNOSUPPORT),
            }
        };
        if target.is_some_and(|a| a.port() == 0) {
            return Err(Errno::EINVAL);
        }
        // After the destination, as udp_sendmsg reads them.
        let out = match control {
            Some(m) => io::send_control(m, target, to_ipv6_loopback, sock.inet6)?,
            None => Default::default(),
        };
        let out = crate::service::proto::Outgoing {
            to: target,
            to_ipv6_loopback,
            ..out
        };
        if let Some(sock) = state::get(fd).filter(|s| s.is_pending()) {
            // The first send binds the socket (to an ephemeral port) on the stack.
            sockets::on_stack(&sock, fd, crate::service::proto::Call::LocalAddr)?;
        }
        io::udp_send(sock, fd, iov, flags, out).map(|n| n as ssize_t)
    })();
    ret(r, -1)
}

#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t {
    let Some(f) = real!(write: fn(c_int, *const c_void, size_t) -> ssize_t) else {
        no_real!(-1)
    };
    match known(fd) {
        Some(s) if s.kind == Kind::Dgram && !s.is_pending() => guard("write", -1, || {
            let iov = iovec {
                iov_base: buf as *mut c_void,
                iov_len: count,
            };
            udp_send_common(&s, fd, Iovecs::Ours(&[iov]), 0, (std::ptr::null(), 0), None)
        }),
        // Under a seccomp filter, the program's own write (see hook::sandboxed).
        Some(s) if !s.is_pending() && super::hook::sandboxed() => f(fd, buf, count),
        Some(s) if !s.is_pending() => {
            if let Some(e) = io::listener_refuses(&s, fd, false, 0) {
                return ret(Err(e), -1);
            }
            match io::send_timeout(&s, fd, 0) {
                Some(t) => guard("write", -1, || {
                    let iov = iovec {
                        iov_base: buf as *mut c_void,
                        iov_len: count,
                    };
                    let r = io::send_bounded(fd, &[iov], 0, t);
                    io::more_after(&s, fd, 0);
                    ret(r.map(|n| n as ssize_t), -1)
                }),
                // libc's send, which write(2) on a socket is (a cancellation point too), with
                // MSG_NOSIGNAL (see io::tcp_send_flags).
                None => {
                    let Some(send) =
                        real!(send: fn(c_int, *const c_void, size_t, c_int) -> ssize_t)
                    else {
                        return f(fd, buf, count);
                    };
                    let n = send(fd, buf, count, io::tcp_send_flags(0));
                    if n < 0 && super::hook::errno() == libc::ENOTSOCK {
                        // Not a socket after all (the table outlived it: closed inside libc).
                        return f(fd, buf, count);
                    }
                    guard("write", -1, || {
                        let n = io::tcp_send_result(fd, 0, n);
                        super::hook::errno_kept(|| io::more_after(&s, fd, 0));
                        n
                    })
                }
            }
        }
        _ => f(fd, buf, count),
    }
}

#[no_mangle]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t {
    sendto(fd, buf, len, flags, std::ptr::null(), 0)
}

/// `sendto(MSG_FASTOPEN)` to `target` on a TCP socket not yet connected: connect with Fast Open,
/// then the data goes as a send would (riding on the SYN when a cookie is at hand), never with a
/// SIGPIPE for it. A non-blocking one whose SYN waits for the data gives it only what the SYN
/// carries and says so (see `io::syn_share`); the rest is the program's to send again.
unsafe fn fast_open_send(
    sock: &std::sync::Arc<OpenSocket>,
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    target: std::net::SocketAddrV4,
) -> ssize_t {
    let connected = guard("sendto", Err(Errno::EIO), || {
        let dontwait = flags & libc::MSG_DONTWAIT != 0;
        sockets::connect_fast_open(sock, fd, target, len == 0, dontwait)
    });
    if let Err(e) = connected {
        return ret(Err(e), -1);
    }
    let flags = (flags & !libc::MSG_FASTOPEN) | libc::MSG_NOSIGNAL;
    sendto(fd, buf, len, flags, std::ptr::null(), 0)
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
    let Some(sock) = known(fd) else {
        return f(fd, buf, len, flags, to, tolen);
    };
    match sock.kind {
        Kind::Dgram => guard("sendto", -1, || {
            let iov = iovec {
                iov_base: buf as *mut c_void,
                iov_len: len,
            };
            if sock.is_pending() && !to.is_null() {
                if let Ok(target) = destination(&sock, to, tolen, true) {
                    if sockets::stays_on_kernel(&sock, fd, &target, false) {
                        return f(fd, buf, len, flags, to, tolen);
                    }
                }
            }
            udp_send_common(&sock, fd, Iovecs::Ours(&[iov]), flags, (to, tolen), None)
        }),
        Kind::Stream if sock.is_pending() => {
            if flags & libc::MSG_FASTOPEN != 0 && !to.is_null() {
                // Fast Open (RFC 7413): connect with it, then the data goes as a send would
                // (riding on the SYN when a cookie is at hand). Never a SIGPIPE for it.
                let target = match addr::read_for(sock.inet6, to, tolen) {
                    Ok(t) if sockets::stays_on_kernel(&sock, fd, &t, false) => {
                        return f(fd, buf, len, flags, to, tolen)
                    }
                    Ok(Addr::V4(t)) => t,
                    // (Every IPv6 one stayed on the kernel above.)
                    Ok(Addr::V6(_)) => return ret(Err(Errno(libc::ENETUNREACH)), -1),
                    // Linux's tcp_sendmsg_fastopen refuses AF_UNSPEC so.
                    Ok(Addr::Unspec) => return ret(Err(Errno::EOPNOTSUPP), -1),
                    Err(e) => return ret(Err(e), -1),
                };
                return fast_open_send(&sock, fd, buf, len, flags, target);
            }
            f(fd, buf, len, flags, to, tolen)
        }
        // A socket on the stack that never connected (bound, say) opens with Fast Open as a
        // pending one does; on one that did, Fast Open is EISCONN (the service says so for a
        // listener or an accepted socket).
        Kind::Stream if flags & libc::MSG_FASTOPEN != 0 => {
            let connecting = sock
                .connect_started
                .load(std::sync::atomic::Ordering::Relaxed);
            let target = match addr::read_for(sock.inet6, to, tolen) {
                _ if connecting => return ret(Err(Errno::EISCONN), -1),
                // No address: tcp_v4_connect's EINVAL.
                _ if to.is_null() => return ret(Err(Errno::EINVAL), -1),
                Ok(Addr::V4(t)) => t,
                // This stack has no IPv6 route (as `connect` says).
                Ok(Addr::V6(_)) => return ret(Err(Errno(libc::ENETUNREACH)), -1),
                Ok(Addr::Unspec) => return ret(Err(Errno::EOPNOTSUPP), -1),
                Err(e) => return ret(Err(e), -1),
            };
            fast_open_send(&sock, fd, buf, len, flags, target)
        }
        Kind::Stream if !to.is_null() && addr::check_len(to, tolen).is_err() => {
            ret(addr::check_len(to, tolen).map(|_| 0), -1)
        }
        Kind::Stream => {
            if let Some(e) = io::listener_refuses(&sock, fd, false, flags) {
                return ret(Err(e), -1);
            }
            let len = io::syn_share(&sock, fd, flags).map_or(len, |room| len.min(room));
            io::more_before(&sock, fd, flags);
            let n = match io::send_timeout(&sock, fd, flags) {
                Some(t) => guard("sendto", -1, || {
                    let iov = iovec {
                        iov_base: buf as *mut c_void,
                        iov_len: len,
                    };
                    ret(
                        io::send_bounded(fd, &[iov], flags, t).map(|n| n as ssize_t),
                        -1,
                    )
                }),
                None => {
                    // Nothing to send marks nothing urgent (Linux's tcp_sendmsg says 0, or its
                    // error), where the socketpair would refuse MSG_OOB without a byte to mark.
                    let oob = if len == 0 { libc::MSG_OOB } else { 0 };
                    let n = f(
                        fd,
                        buf,
                        len,
                        io::tcp_send_flags(flags & !oob),
                        std::ptr::null(),
                        0,
                    );
                    guard("sendto", -1, || io::tcp_send_result(fd, flags, n))
                }
            };
            io::more_after(&sock, fd, flags);
            n
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    let Some(f) = real!(writev: fn(c_int, *const iovec, c_int) -> ssize_t) else {
        no_real!(-1)
    };
    match known(fd) {
        Some(s) if s.kind == Kind::Dgram && !s.is_pending() => guard("writev", -1, || {
            if let Some(r) = io::vectored_io_settled(iov, iovcnt) {
                return ret(r, -1);
            }
            udp_send_common(
                &s,
                fd,
                Iovecs::Program(iov, iovcnt as usize),
                0,
                (std::ptr::null(), 0),
                None,
            )
        }),
        // Under a seccomp filter, the program's own writev (see hook::sandboxed).
        Some(s) if !s.is_pending() && super::hook::sandboxed() => f(fd, iov, iovcnt),
        // Nothing to write: Linux's vfs_writev returns 0 before the socket is asked, whatever its
        // state (a listener, one shut down), and so does the socketpair's writev.
        Some(s) if !s.is_pending() && io::iov_total_is_zero(iov, iovcnt) => f(fd, iov, iovcnt),
        Some(s) if !s.is_pending() && iovcnt > 0 && !iov.is_null() => {
            if iovcnt > libc::UIO_MAXIOV {
                // writev's own EINVAL past IOV_MAX (import_iovec), which the kernel's writev
                // on the socketpair gives; sendmsg's EMSGSIZE is not writev's.
                return f(fd, iov, iovcnt);
            }
            if let Some(e) = io::listener_refuses(&s, fd, false, 0) {
                return ret(Err(e), -1);
            }
            let parts = Iovecs::Program(iov, iovcnt as usize);
            if let Some(room) = io::syn_share(&s, fd, 0) {
                if let Ok(parts) = parts.checked() {
                    let clipped = io::clip_iov(parts, room);
                    return writev(fd, clipped.as_ptr(), clipped.len() as c_int);
                }
            }
            match io::send_timeout(&s, fd, 0) {
                Some(t) => guard("writev", -1, || {
                    let r = parts
                        .checked()
                        .and_then(|parts| io::send_bounded(fd, parts, 0, t));
                    io::more_after(&s, fd, 0);
                    ret(r.map(|n| n as ssize_t), -1)
                }),
                // libc's sendmsg, which writev(2) on a socket is, with MSG_NOSIGNAL (see
                // io::tcp_send_flags).
                None => {
                    let Some(sendmsg) = real!(sendmsg: fn(c_int, *const msghdr, c_int) -> ssize_t)
                    else {
                        return f(fd, iov, iovcnt);
                    };
                    // SAFETY: plain data, zero is valid.
                    let mut msg: msghdr = std::mem::zeroed();
                    msg.msg_iov = iov as *mut iovec;
                    msg.msg_iovlen = iovcnt as usize;
                    let n = sendmsg(fd, &msg, io::tcp_send_flags(0));
                    if n < 0 && super::hook::errno() == libc::ENOTSOCK {
                        // Not a socket after all (the table outlived it: closed inside libc).
                        return f(fd, iov, iovcnt);
                    }
                    guard("writev", -1, || {
                        let n = io::tcp_send_result(fd, 0, n);
                        super::hook::errno_kept(|| io::more_after(&s, fd, 0));
                        n
                    })
                }
            }
        }
        _ => f(fd, iov, iovcnt),
    }
}

/// The stack socket of `kind` at `fd`, if it is one. A UDP one's socketpair carries each datagram
/// behind a header of ours, so the kernel's own `sendfile` or `splice` on it would take the
/// program's bytes for a header (a datagram sent elsewhere, or lost) or hand ours over as data; a
/// TCP one's takes them as they are.
fn on_stack(fd: c_int, kind: Kind) -> Option<Arc<OpenSocket>> {
    known(fd).filter(|s| s.kind == kind && !s.is_pending())
}

/// After the kernel's own `sendfile` or `splice` (`call`) into TCP stack socket `tcp` at `fd`: the
/// end of a MSG_MORE run, as after a `write` ([`io::more_after`]), unless `more` (SPLICE_F_MORE,
/// splice's MSG_MORE).
fn after_zero_copy(call: &str, tcp: Option<Arc<OpenSocket>>, fd: c_int, more: bool) {
    if let Some(s) = tcp {
        let flags = if more { libc::MSG_MORE } else { 0 };
        super::hook::errno_kept(|| guard(call, (), || io::more_after(&s, fd, flags)));
    }
}

/// `sendfile` or `splice` into UDP stack socket `sock` (at `fd`): up to one datagram's worth of
/// what `read` gives (it returns how much it read into the buffer), sent as one datagram to the
/// socket's peer, as Linux's splice into a UDP socket sends what it moves in one datagram. `sent`
/// is told how much went (the source's offset moves by that, and only if the datagram went).
unsafe fn udp_send_from(
    sock: &OpenSocket,
    fd: c_int,
    count: size_t,
    read: impl FnOnce(&mut [u8]) -> ssize_t,
    sent: impl FnOnce(usize),
) -> ssize_t {
    if count == 0 {
        return 0;
    }
    let mut buf = vec![0u8; count.min(65_507)];
    let n = read(&mut buf);
    if n <= 0 {
        return n;
    }
    let iov = iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: n as usize,
    };
    let r = udp_send_common(
        sock,
        fd,
        Iovecs::Ours(&[iov]),
        0,
        (std::ptr::null(), 0),
        None,
    );
    if r >= 0 {
        super::hook::errno_kept(|| sent(r as usize));
    }
    r
}

/// `sendfile` into a UDP stack socket: the file read at `*offset` if given, else at its position,
/// either moved on only by what was sent, as Linux moves it by what the send took.
unsafe fn udp_sendfile(
    sock: &OpenSocket,
    out_fd: c_int,
    in_fd: c_int,
    offset: *mut i64,
    count: size_t,
) -> ssize_t {
    let at = if offset.is_null() {
        libc::syscall(libc::SYS_lseek, in_fd, 0 as libc::off_t, libc::SEEK_CUR)
    } else {
        *offset as libc::c_long
    };
    if at < 0 {
        return -1;
    }
    udp_send_from(
        sock,
        out_fd,
        count,
        |b| libc::syscall(libc::SYS_pread64, in_fd, b.as_mut_ptr(), b.len(), at) as ssize_t,
        |n| {
            let to = at + n as libc::c_long;
            if offset.is_null() {
                libc::syscall(libc::SYS_lseek, in_fd, to as libc::off_t, libc::SEEK_SET);
            } else {
                *offset = to as i64;
            }
        },
    )
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
    if let Some(s) = on_stack(out_fd, Kind::Dgram) {
        return guard("sendfile", -1, || {
            udp_sendfile(&s, out_fd, in_fd, offset, count)
        });
    }
    let tcp = on_stack(out_fd, Kind::Stream);
    let n = f(out_fd, in_fd, offset, count);
    after_zero_copy("sendfile", tcp, out_fd, false);
    n
}

/// `sendfile` under its large-file name: the same function where `off_t` is 64 bits, the only
/// targets the shim is built for (as `mmap64` in [`super::maps`]).
#[no_mangle]
pub unsafe extern "C" fn sendfile64(
    out_fd: c_int,
    in_fd: c_int,
    offset: *mut libc::off64_t,
    count: size_t,
) -> ssize_t {
    sendfile(out_fd, in_fd, offset, count)
}

#[no_mangle]
pub unsafe extern "C" fn splice(
    fd_in: c_int,
    off_in: *mut libc::loff_t,
    fd_out: c_int,
    off_out: *mut libc::loff_t,
    len: size_t,
    flags: c_uint,
) -> ssize_t {
    let Some(f) = real!(splice: fn(c_int, *mut libc::loff_t, c_int, *mut libc::loff_t, size_t, c_uint) -> ssize_t)
    else {
        no_real!(-1)
    };
    // Into a UDP stack socket: a datagram moved through a buffer of ours (the other end is a
    // pipe, which a read serves as well). Out of one: refused, as a splice between two sockets
    // is (EINVAL): the datagram would be taken before the pipe could be known to hold it.
    if let Some(s) = on_stack(fd_out, Kind::Dgram) {
        if !off_in.is_null() || !off_out.is_null() {
            set_errno(Errno(libc::ESPIPE));
            return -1;
        }
        return guard("splice", -1, || {
            udp_send_from(
                &s,
                fd_out,
                len,
                |b| libc::syscall(libc::SYS_read, fd_in, b.as_mut_ptr(), b.len()) as ssize_t,
                |_| {},
            )
        });
    }
    if on_stack(fd_in, Kind::Dgram).is_some() {
        set_errno(Errno::EINVAL);
        return -1;
    }
    let more = flags & libc::SPLICE_F_MORE != 0;
    let tcp = on_stack(fd_out, Kind::Stream);
    if let (true, Some(s)) = (more, &tcp) {
        // SPLICE_F_MORE is splice's MSG_MORE: a run may begin with it.
        super::hook::errno_kept(|| io::more_before(s, fd_out, libc::MSG_MORE));
    }
    let n = f(fd_in, off_in, fd_out, off_out, len, flags);
    after_zero_copy("splice", tcp, fd_out, more);
    n
}

unsafe fn sendmsg_one(sock: &OpenSocket, fd: RawFd, msg: *const msghdr, flags: c_int) -> ssize_t {
    let Some(f) = real!(sendmsg: fn(c_int, *const msghdr, c_int) -> ssize_t) else {
        no_real!(-1)
    };
    if sock.kind == Kind::Stream {
        if let Some(e) = io::listener_refuses(sock, fd, false, flags) {
            return ret(Err(e), -1);
        }
        io::more_before(sock, fd, flags);
        let n = stream_sendmsg(sock, fd, msg, flags, f);
        io::more_after(sock, fd, flags);
        return n;
    }
    if let Err(e) = super::user::check_read_again_of(msg) {
        return ret(Err(e), -1);
    }
    let m = &*msg;
    {
        if sock.is_pending() && !m.msg_name.is_null() {
            if let Ok(target) =
                destination(sock, m.msg_name as *const sockaddr, m.msg_namelen, true)
            {
                if sockets::stays_on_kernel(sock, fd, &target, false) {
                    return f(fd, msg, flags);
                }
            }
        }
        udp_send_common(
            sock,
            fd,
            Iovecs::Program(m.msg_iov, m.msg_iovlen),
            flags,
            (m.msg_name as *const sockaddr, m.msg_namelen),
            Some(m),
        )
    }
}

/// `sendmsg` on a TCP stack socket: the socketpair's own, bounded by SO_SNDTIMEO if set.
unsafe fn stream_sendmsg(
    sock: &OpenSocket,
    fd: RawFd,
    msg: *const msghdr,
    flags: c_int,
    f: unsafe extern "C" fn(c_int, *const msghdr, c_int) -> ssize_t,
) -> ssize_t {
    // The header and its iovecs are checked before they are read (a bad one is then the real
    // call's EFAULT, unshortened).
    // Control messages: checked as TCP's, then left out (the socketpair's AF_UNIX sendmsg would
    // take SCM_RIGHTS and refuse what TCP takes). The header is the program's to check first.
    if super::user::check_read_of(msg).is_ok()
        && !(*msg).msg_control.is_null()
        && (*msg).msg_controllen > 0
    {
        if let Err(e) = io::stream_control_ok(&*msg) {
            return ret(Err(e), -1);
        }
        let mut plain = *msg;
        plain.msg_control = std::ptr::null_mut();
        plain.msg_controllen = 0;
        return stream_sendmsg(sock, fd, &plain, flags, f);
    }
    if let Some(room) =
        io::syn_share(sock, fd, flags).filter(|_| super::user::check_read_of(msg).is_ok())
    {
        let m = &*msg;
        let parts = Iovecs::Program(m.msg_iov, m.msg_iovlen);
        if let (false, Ok(parts)) = (m.msg_iov.is_null(), parts.checked()) {
            let mut clipped = io::clip_iov(parts, room);
            let mut short = *m;
            short.msg_iov = clipped.as_mut_ptr();
            short.msg_iovlen = clipped.len();
            return stream_sendmsg(sock, fd, &short, flags, f);
        }
    }
    let Some(t) = io::send_timeout(sock, fd, flags) else {
        // The kernel reads the program's header itself (EFAULT if it cannot). A destination,
        // which TCP ignores on a connected socket, a socketpair refuses (EISCONN): the header is
        // read then, the kernel having shown it readable, and sent again without it.
        let n = f(fd, msg, io::tcp_send_flags(flags));
        if n < 0 && super::hook::errno() == libc::EISCONN && !(*msg).msg_name.is_null() {
            let mut plain = *msg;
            plain.msg_name = std::ptr::null_mut();
            plain.msg_namelen = 0;
            let n = f(fd, &plain, io::tcp_send_flags(flags));
            return io::tcp_send_result(fd, flags, n);
        }
        return io::tcp_send_result(fd, flags, n);
    };
    if let Err(e) = super::user::check_read_of(msg) {
        return ret(Err(e), -1);
    }
    let m = &*msg;
    {
        if !m.msg_iov.is_null() && m.msg_control.is_null() {
            let r = Iovecs::Program(m.msg_iov, m.msg_iovlen)
                .checked()
                .and_then(|parts| io::send_bounded(fd, parts, flags, t));
            return ret(r.map(|n| n as ssize_t), -1);
        }
    }
    let mut plain = *m;
    plain.msg_name = std::ptr::null_mut();
    plain.msg_namelen = 0;
    let n = f(fd, &plain, io::tcp_send_flags(flags));
    io::tcp_send_result(fd, flags, n)
}

#[no_mangle]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    let Some(f) = real!(sendmsg: fn(c_int, *const msghdr, c_int) -> ssize_t) else {
        no_real!(-1)
    };
    match known(fd) {
        Some(s) if !s.is_pending() || s.kind == Kind::Dgram => {
            guard("sendmsg", -1, || sendmsg_one(&s, fd, msg, flags))
        }
        _ => f(fd, msg, flags),
    }
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
    let Some(sock) = known(fd).filter(|s| !s.is_pending() || s.kind == Kind::Dgram) else {
        return f(fd, msgs, vlen, flags);
    };
    guard("sendmmsg", -1, || {
        if msgs.is_null() {
            return ret(Err(Errno::EFAULT), -1);
        }
        let mut sent = 0;
        for i in 0..vlen as usize {
            let m = &mut *msgs.add(i);
            let n = sendmsg_one(&sock, fd, &m.msg_hdr, flags);
            if n < 0 {
                if sent == 0 {
                    return -1;
                }
                break;
            }
            m.msg_len = n as c_uint;
            sent += 1;
        }
        sent
    })
}

// ---------------------------------------------------------------------------------------------
// Descriptors: the kernel does the work; the table follows.

#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    let Some(f) = real!(close: fn(c_int) -> c_int) else {
        no_real!(-1)
    };
    if crate::sys::is_private(fd) && !state::in_vfork_child() {
        // The shim's own connection to the service: a program closing what it does not know.
        return 0;
    }
    if table_has(fd, fd) {
        if let Some(sock) = state::remove(fd) {
            if let Some(wait) = super::sockets::linger_time(&sock, fd) {
                return guard("close", -1, || {
                    super::sockets::close_lingering(fd, wait, || f(fd))
                });
            }
        }
    }
    f(fd)
}

#[no_mangle]
pub unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    let Some(f) = real!(close_range: fn(c_uint, c_uint, c_int) -> c_int) else {
        no_real!(-1)
    };
    if state::in_vfork_child() {
        return f(first, last, flags);
    }
    guard("close_range", -1, || {
        super::fds::close_range(first, last, flags, |a, b, c| f(a, b, c))
    })
}

#[no_mangle]
pub unsafe extern "C" fn closefrom(lowfd: c_int) {
    let Some(f) = real!(close_range: fn(c_uint, c_uint, c_int) -> c_int) else {
        return;
    };
    if state::in_vfork_child() {
        f(lowfd.max(0) as c_uint, c_uint::MAX, 0);
        return;
    }
    guard("closefrom", (), || {
        super::fds::close_range(lowfd.max(0) as c_uint, c_uint::MAX, 0, |a, b, c| f(a, b, c));
    })
}

#[no_mangle]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    let Some(f) = real!(dup: fn(c_int) -> c_int) else {
        no_real!(-1)
    };
    let r = f(fd);
    if r >= 0 && table_has(fd, r) {
        guard("dup", (), || super::fds::duplicated(fd, r));
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    dup3_common(old, new, 0, true)
}

#[no_mangle]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    dup3_common(old, new, flags, false)
}

unsafe fn dup3_common(old: c_int, new: c_int, flags: c_int, is_dup2: bool) -> c_int {
    let r = if is_dup2 {
        let Some(f) = real!(dup2: fn(c_int, c_int) -> c_int) else {
            no_real!(-1)
        };
        if old != new && crate::sys::is_private(new) && !state::in_vfork_child() {
            crate::sys::relocate_private(new);
        }
        f(old, new)
    } else {
        let Some(f) = real!(dup3: fn(c_int, c_int, c_int) -> c_int) else {
            no_real!(-1)
        };
        if old != new && crate::sys::is_private(new) && !state::in_vfork_child() {
            crate::sys::relocate_private(new);
        }
        f(old, new, flags)
    };
    if r >= 0 && old != new && table_has(old, new) {
        guard("dup2", (), || super::fds::duplicated(old, new));
    }
    r
}

unsafe fn fcntl_common(fd: c_int, cmd: c_int, arg: c_ulong, name: &'static str) -> c_int {
    let f = match name {
        "fcntl64" => real!(fcntl64: fn(c_int, c_int, c_ulong) -> c_int),
        _ => real!(fcntl: fn(c_int, c_int, c_ulong) -> c_int),
    };
    let Some(f) = f else { no_real!(-1) };
    let r = f(fd, cmd, arg);
    if r >= 0 && matches!(cmd, libc::F_DUPFD | libc::F_DUPFD_CLOEXEC) && table_has(fd, r) {
        guard(name, (), || super::fds::duplicated(fd, r));
    }
    if r >= 0 && cmd == libc::F_SETFL {
        if let Some(s) = known(fd) {
            let on = arg as c_int & libc::O_NONBLOCK != 0;
            s.nonblocking_hint
                .store(on, std::sync::atomic::Ordering::Relaxed);
        }
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    fcntl_common(fd, cmd, arg, "fcntl")
}

#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    fcntl_common(fd, cmd, arg, "fcntl64")
}

/// Variadic `prctl(option, ...)`, exported with four fixed arguments as `fcntl` is (see
/// [`super::hook`]): the real one runs unchanged; a seccomp filter it installs is noted, after which
/// the shim adds no system call to a stack socket's reads and writes ([`super::hook::sandboxed`]).
#[no_mangle]
pub unsafe extern "C" fn prctl(
    option: c_int,
    a2: c_ulong,
    a3: c_ulong,
    a4: c_ulong,
    a5: c_ulong,
) -> c_int {
    let Some(f) = real!(prctl: fn(c_int, c_ulong, c_ulong, c_ulong, c_ulong) -> c_int) else {
        no_real!(-1)
    };
    let r = f(option, a2, a3, a4, a5);
    if r == 0 && option == libc::PR_SET_SECCOMP {
        super::hook::note_sandboxed();
    }
    r
}

/// SIOCOUTQNSD (linux/sockios.h): a TCP socket's bytes not yet sent.
const SIOCOUTQNSD: c_ulong = 0x894B;

#[no_mangle]
pub unsafe extern "C" fn ioctl(fd: c_int, request: c_ulong, arg: c_ulong) -> c_int {
    let Some(f) = real!(ioctl: fn(c_int, c_ulong, c_ulong) -> c_int) else {
        no_real!(-1)
    };
    if request == libc::FIONBIO {
        // The kernel's own, on a pending or a stack socket alike; the shim's hint of the
        // socket's O_NONBLOCK follows it, as for F_SETFL.
        let r = f(fd, request, arg);
        let on = arg as *const c_int;
        if let (0, Some(s), false) = (r, known(fd), on.is_null()) {
            s.nonblocking_hint
                .store(*on != 0, std::sync::atomic::Ordering::Relaxed);
        }
        return r;
    }
    if matches!(
        request,
        libc::SIOCGIFADDR | libc::SIOCGIFBRDADDR | libc::SIOCGIFNETMASK | libc::SIOCGIFCONF
    ) {
        // The kernel's answer on any socket, then the TAP's address made ours (super::ifaddrs).
        // A stack socket's descriptor is an AF_UNIX socket, which answers only SIOCGIFCONF of
        // these (the rest are IPv4's, devinet_ioctl): they are asked of an IPv4 socket of the
        // moment, in the same network namespace.
        let on_stack = request != libc::SIOCGIFCONF && known(fd).is_some_and(|s| !s.is_pending());
        let r = if on_stack {
            let inet = libc::syscall(
                libc::SYS_socket,
                libc::AF_INET,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                0,
            ) as c_int;
            if inet < 0 {
                return -1;
            }
            let r = f(inet, request, arg);
            super::hook::errno_kept(|| libc::syscall(libc::SYS_close, inet));
            r
        } else {
            f(fd, request, arg)
        };
        if r == 0 {
            guard("ioctl", (), || {
                super::ifaddrs::interface_ioctl(request, arg as *mut u8)
            });
        }
        return r;
    }
    let sock = match known(fd) {
        Some(s) if !s.is_pending() => s,
        _ => return f(fd, request, arg),
    };
    if request == libc::SIOCSARP {
        return guard("ioctl", -1, || {
            ret(set_neighbour(fd, arg as *const libc::arpreq), -1)
        });
    }
    guard("ioctl", -1, || {
        let out = arg as *mut c_int;
        let queue_ioctl = matches!(request, libc::FIONREAD | libc::TIOCOUTQ | SIOCOUTQNSD);
        let value = match (request, sock.kind) {
            // Linux's tcp_ioctl: the queue sizes mean nothing on a listener.
            (_, Kind::Stream) if queue_ioctl && sockets::listening(&sock, fd) == Some(true) => {
                Err(Errno::EINVAL)
            }
            (libc::FIONREAD, Kind::Dgram) => io::udp_next_len(fd),
            (libc::FIONREAD, Kind::Stream)
                if sock.rd_shut.load(std::sync::atomic::Ordering::Relaxed) =>
            {
                io::tcp_inq(&sock, fd)
            }
            (libc::TIOCOUTQ, Kind::Stream) => sockopt::out_queue(fd, OutQueue::Unacked),
            (SIOCOUTQNSD, Kind::Stream) => sockopt::out_queue(fd, OutQueue::NotSent),
            // udp_ioctl knows SIOCINQ and SIOCOUTQ only: any other is ENOIOCTLCMD, and
            // sock_do_ioctl then reads a struct ifreq from the argument of a socket command
            // (EFAULT) before dev_ioctl says ENOTTY (the socketpair under it would say
            // EOPNOTSUPP to SIOCATMARK).
            (SIOCATMARK, Kind::Dgram) => {
                super::user::check_read(arg as *const u8, std::mem::size_of::<libc::ifreq>())
                    .and(Err(Errno(libc::ENOTTY)))
            }
            _ => return f(fd, request, arg),
        };
        ret(
            // tcp_ioctl's answer goes out by put_user: EFAULT where the program cannot take it.
            value.and_then(|v| {
                super::user::check_write_of(out)?;
                std::ptr::write_unaligned(out, v);
                Ok(0)
            }),
            -1,
        )
    })
}

/// SIOCSARP on a stack socket: the entry goes into the stack's neighbour cache, not the kernel's
/// (whose tap0 side is another host): an IPv4 address on the TAP's link and an Ethernet address,
/// for the TAP or no device named, as Linux's arp_ioctl checks them (EINVAL, ENODEV; EPERM
/// without CAP_NET_ADMIN, which the service checks).
unsafe fn set_neighbour(fd: c_int, req: *const libc::arpreq) -> Result<c_int, Errno> {
    super::user::check_read(req.cast(), std::mem::size_of::<libc::arpreq>())?;
    let r = std::ptr::read_unaligned(req);
    if r.arp_pa.sa_family != libc::AF_INET as libc::sa_family_t {
        return Err(Errno(libc::EAFNOSUPPORT));
    }
    if r.arp_ha.sa_family != libc::ARPHRD_ETHER {
        return Err(Errno::EINVAL);
    }
    let dev: Vec<u8> = r
        .arp_dev
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    let iface =
        crate::service::client::config().map_or_else(|_| "tap0".to_string(), |c| c.iface.clone());
    if !dev.is_empty() && dev != iface.as_bytes() {
        return Err(Errno(libc::ENODEV));
    }
    let pa = std::ptr::read_unaligned(std::ptr::addr_of!(r.arp_pa) as *const libc::sockaddr_in);
    let ip = std::net::Ipv4Addr::from(u32::from_be(pa.sin_addr.s_addr));
    let mut mac = [0u8; 6];
    for (m, &b) in mac.iter_mut().zip(r.arp_ha.sa_data.iter()) {
        *m = b as u8;
    }
    sockets::request(fd, crate::service::proto::Call::SetNeighbour { ip, mac }).map(|_| 0)
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
    let r = f(epfd, op, fd, event);
    if r == 0 {
        if let Some(sock) = known(fd) {
            if op != libc::EPOLL_CTL_DEL {
                sock.watched
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            guard("epoll_ctl", (), || {
                // Interest in a pending socket must follow it to the stack.
                if !sock.is_pending() {
                    return;
                }
                if let Attach::Pending(p) = &mut *sock.attach.lock() {
                    p.epoll.retain(|&(e, _, _)| e != epfd);
                    if op != libc::EPOLL_CTL_DEL && !event.is_null() {
                        let ev = std::ptr::read_unaligned(event);
                        p.epoll.push((epfd, ev.events, ev.u64));
                    }
                }
            });
        }
    }
    r
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

/// Whether the shim takes `fd` for a stack socket (or a pending one), for tests.
pub fn is_stack_fd(fd: RawFd) -> bool {
    state::get(fd).is_some()
}
