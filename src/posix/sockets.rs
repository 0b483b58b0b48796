//! The socket calls on stack sockets: `socket`, `bind`, `connect`, `listen`, `accept`,
//! `getsockname`, `getpeername`, `shutdown`, with the kernel-or-stack decision and blocking.
//!
//! Every function here takes the already-looked-up [`OpenSocket`] (or creates one) and returns a
//! `Result` in errno; the exported wrappers in [`super::exports`] turn that into the C convention.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use super::addr::{self, Addr};
use super::state::{self, Attach, Kind, OpenSocket, Pending};
use crate::error::{Errno, Result};
use crate::runtime::{sleep, sleep_restartable, Runtime};
use crate::stack::{Shutdown, SocketHandle, Stack};
use crate::tcp::Algorithm;
use crate::time::Instant;

/// How a signal ends a blocking call's wait.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Signals {
    /// As a Linux socket call that has done nothing yet: restarted after a handler installed with
    /// SA_RESTART, EINTR after any other — unless a timeout (SO_RCVTIMEO/SO_SNDTIMEO) is set,
    /// which always makes it EINTR (man 7 signal).
    Restart,
    /// Always EINTR: the caller has done part of its work (bytes sent or received), and Linux then
    /// returns that much instead of restarting.
    Interrupt,
}

/// Runs `f` on the stack; if it answers EAGAIN and the socket blocks, sleeps until something
/// changes and tries again, up to `timeout` (then EAGAIN). A signal ends the wait with EINTR or
/// restarts it, as `signals` says.
pub fn block<R>(
    rt: &Runtime,
    nonblocking: bool,
    timeout: Option<Duration>,
    signals: Signals,
    mut f: impl FnMut(&mut Stack, Instant) -> Result<R>,
) -> Result<R> {
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        let (mut core, now) = rt.lock();
        let r = f(&mut core.stack, now);
        rt.settle(&mut core);
        match r {
            Err(Errno::EAGAIN) if !nonblocking => {}
            r => return r,
        }
        let remaining = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Err(Errno::EAGAIN);
                }
                Some(left)
            }
            None => None,
        };
        match (remaining, signals) {
            (None, Signals::Restart) => sleep_restartable(rt.shared(), core)?,
            _ => {
                sleep(rt.shared(), core, remaining, &mut [], None)?;
            }
        }
    }
}

/// The socket's stack handle, creating the stack socket (and starting the stack) if it is pending.
///
/// The socket's own lock is never held while the stack's is taken here: a thread polling this socket
/// holds the stack's lock and then reads the socket's state, so the opposite order could deadlock.
pub fn attach(sock: &OpenSocket) -> Result<(&'static Runtime, SocketHandle)> {
    let rt = state::runtime()?;
    if let Some(h) = sock.handle() {
        return Ok((rt, h));
    }
    let kind = sock.kind;
    let h = rt.with_stack(|s, _| match kind {
        Kind::Stream => s.tcp_socket(),
        Kind::Dgram => s.udp_socket(),
    });
    let pending = {
        let mut a = sock.attach.lock();
        match &*a {
            Attach::Stack(other) => {
                // Another thread attached it meanwhile: keep theirs.
                let other = *other;
                drop(a);
                rt.with_stack(|s, now| {
                    let _ = s.close(now, h);
                });
                return Ok((rt, other));
            }
            Attach::Pending(p) => {
                let p = p.clone();
                *a = Attach::Stack(h);
                p
            }
        }
    };
    let broadcast = sock.broadcast.load(std::sync::atomic::Ordering::Relaxed);
    rt.with_stack(|s, _| {
        apply_pending(s, h, &pending);
        if let Some(u) = s.udp_socket_mut(h) {
            u.broadcast = broadcast;
        }
    });
    Ok((rt, h))
}

fn apply_pending(s: &mut Stack, h: SocketHandle, p: &Pending) {
    if let Ok(t) = s.tcp_socket_mut(h) {
        t.reuse_addr = p.reuse_addr;
        let c = &mut t.config;
        if let Some(v) = p.keepalive {
            c.keepalive = v;
        }
        if let Some(v) = p.keepidle {
            c.keepalive_idle = v;
        }
        if let Some(v) = p.keepintvl {
            c.keepalive_interval = v;
        }
        if let Some(v) = p.keepcnt {
            c.keepalive_count = v;
        }
        if let Some(v) = p.nodelay {
            c.nodelay = v;
        }
        if let Some(v) = p.rcvbuf {
            c.recv_buffer = v;
        }
        if let Some(v) = p.sndbuf {
            c.send_buffer = v;
        }
        if let Some(v) = p.linger {
            c.linger = v;
        }
        if let Some(v) = p.mss {
            c.mss = c.mss.min(v);
        }
        if let Some(reno) = p.reno {
            c.congestion = if reno {
                Algorithm::Reno
            } else {
                Algorithm::Cubic
            };
        }
        if let Some(v) = p.ttl {
            t.ip.ttl = v;
        }
        if let Some(v) = p.tos {
            t.ip.tos = v;
        }
    } else if let Some(u) = s.udp_socket_mut(h) {
        if let Some(v) = p.rcvbuf {
            u.rcvbuf = v;
        }
        if let Some(v) = p.ttl {
            u.ttl = v;
        }
        if let Some(v) = p.tos {
            u.tos = v;
        }
    }
}

/// `socket(AF_INET, type, protocol)` for the stack: the caller has made the kernel placeholder `fd`.
pub fn adopt(fd: RawFd, ty: i32, protocol: i32) -> bool {
    let base = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    let kind = match (base, protocol) {
        (libc::SOCK_STREAM, 0 | libc::IPPROTO_TCP) => Kind::Stream,
        (libc::SOCK_DGRAM, 0 | libc::IPPROTO_UDP) => Kind::Dgram,
        _ => return false,
    };
    state::insert(
        fd,
        Arc::new(OpenSocket::new(kind, ty & libc::SOCK_NONBLOCK != 0)),
    );
    true
}

/// What to do with a call that names an address: the kernel's (loopback) or the stack's.
pub enum Route {
    Kernel,
    Stack(&'static Runtime, SocketHandle),
}

/// Decides, for a pending socket, where a bind/connect/sendto to `a` goes; attached sockets stay.
pub fn route(sock: &OpenSocket, a: &Addr) -> Result<Route> {
    let pending = matches!(&*sock.attach.lock(), Attach::Pending(_));
    if pending {
        if let Addr::V4(v4) = a {
            if addr::stays_on_kernel(v4) {
                // The placeholder becomes the socket: every number of it (`dup`s too) now goes
                // straight to libc, and epoll instances it was added to while pending must watch
                // the kernel socket itself.
                for fd in state::remove_all(sock) {
                    super::epoll::to_kernel(fd);
                }
                return Ok(Route::Kernel);
            }
        }
    }
    let (rt, h) = attach(sock)?;
    Ok(Route::Stack(rt, h))
}

pub fn bind(rt: &Runtime, sock: &OpenSocket, h: SocketHandle, a: Addr) -> Result<()> {
    let Addr::V4(a) = a else {
        return Err(Errno::EAFNOSUPPORT);
    };
    rt.with_stack(|s, _| match sock.kind {
        Kind::Stream => s.tcp_bind(h, a),
        Kind::Dgram => s.udp_bind(h, a),
    })
}

pub fn connect(rt: &Runtime, sock: &OpenSocket, h: SocketHandle, a: Addr) -> Result<()> {
    match sock.kind {
        Kind::Dgram => rt.with_stack(|s, _| match a {
            Addr::V4(a) => s.udp_connect(h, Some(a)),
            Addr::Unspec => s.udp_connect(h, None),
        }),
        Kind::Stream => {
            let Addr::V4(a) = a else {
                return Err(Errno::EAFNOSUPPORT);
            };
            rt.with_stack(|s, now| s.tcp_connect(now, h, a))?;
            if sock.is_nonblocking() {
                return Err(Errno::EINPROGRESS);
            }
            // SO_SNDTIMEO bounds a blocking connect; when it runs out Linux says EINPROGRESS and the
            // handshake goes on.
            let timeout = OpenSocket::timeout(&sock.sndtimeo_us);
            match block(rt, false, timeout, Signals::Restart, |s, _| {
                s.tcp_connect_status(h)
            }) {
                Err(Errno::EAGAIN) => Err(Errno::EINPROGRESS),
                r => r,
            }
        }
    }
}

pub fn listen(sock: &OpenSocket, backlog: i32) -> Result<()> {
    if sock.kind != Kind::Stream {
        return Err(Errno::EOPNOTSUPP);
    }
    let (rt, h) = attach(sock)?;
    // Linux clamps the backlog to somaxconn (4096); a negative one means the maximum.
    let backlog = if backlog < 0 { 4096 } else { backlog as usize };
    rt.with_stack(|s, _| s.tcp_listen(h, backlog))
}

/// Waits for a connection on a listener; `make_fd` creates the new descriptor's kernel placeholder.
pub fn accept(
    sock: &OpenSocket,
    flags: i32,
    make_fd: impl FnOnce(i32) -> Result<RawFd>,
) -> Result<(RawFd, SocketAddrV4)> {
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    if sock.kind != Kind::Stream {
        return Err(Errno::EOPNOTSUPP);
    }
    let Some(h) = sock.handle() else {
        return Err(Errno::EINVAL);
    };
    let rt = state::runtime()?;
    let timeout = OpenSocket::timeout(&sock.rcvtimeo_us);
    let (child, peer) = block(
        rt,
        sock.is_nonblocking(),
        timeout,
        Signals::Restart,
        |s, now| s.tcp_accept(now, h),
    )?;
    let fd = match make_fd(libc::SOCK_STREAM | (flags & libc::SOCK_CLOEXEC)) {
        Ok(fd) => fd,
        Err(e) => {
            rt.with_stack(|s, now| {
                let _ = s.close(now, child);
            });
            return Err(e);
        }
    };
    let nonblocking = flags & libc::SOCK_NONBLOCK != 0;
    let new = OpenSocket::attached(Kind::Stream, child, nonblocking);
    // As Linux's sk_clone: the new socket starts with its listener's socket-level settings.
    use std::sync::atomic::Ordering::Relaxed;
    new.rcvtimeo_us
        .store(sock.rcvtimeo_us.load(Relaxed), Relaxed);
    new.sndtimeo_us
        .store(sock.sndtimeo_us.load(Relaxed), Relaxed);
    new.broadcast.store(sock.broadcast.load(Relaxed), Relaxed);
    new.reuse_port.store(sock.reuse_port.load(Relaxed), Relaxed);
    state::insert(fd, Arc::new(new));
    Ok((fd, peer))
}

pub fn local_addr(sock: &OpenSocket) -> Result<Option<SocketAddrV4>> {
    let Some(h) = sock.handle() else {
        return Ok(None);
    };
    let rt = state::runtime()?;
    rt.with_stack(|s, _| {
        let mut a = s.local_addr(h)?;
        // A connected socket reports the address it uses, not the wildcard it was bound to.
        if a.ip().is_unspecified() && s.peer_addr(h).is_ok() {
            a.set_ip(s.iface().addr);
        }
        Ok(Some(a))
    })
}

pub fn peer_addr(sock: &OpenSocket) -> Result<SocketAddrV4> {
    let Some(h) = sock.handle() else {
        return Err(Errno::ENOTCONN);
    };
    state::runtime()?.with_stack(|s, _| s.peer_addr(h))
}

pub fn shutdown(sock: &OpenSocket, how: i32) -> Result<()> {
    let how = match how {
        libc::SHUT_RD => Shutdown::Read,
        libc::SHUT_WR => Shutdown::Write,
        libc::SHUT_RDWR => Shutdown::Both,
        _ => return Err(Errno::EINVAL),
    };
    let Some(h) = sock.handle() else {
        return Err(Errno::ENOTCONN);
    };
    state::runtime()?.with_stack(|s, now| match sock.kind {
        Kind::Stream => s.tcp_shutdown(now, h, how),
        Kind::Dgram => s.udp_shutdown(h, how != Shutdown::Write, how != Shutdown::Read),
    })
}

/// The unspecified address, for sockets the stack has not bound.
pub const UNBOUND: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
