//! Descriptor calls that touch stack sockets or the stack's own descriptors: `close`,
//! `close_range`, `closefrom`, `dup`, `dup2`, `dup3`, `fcntl`, `ioctl`; and the calls that create
//! descriptors the shim otherwise leaves alone (`socketpair`, `epoll_create`), which clear any stale
//! record of the new numbers.
//!
//! The kernel placeholder behind a stack socket is a real descriptor, so these calls mostly do the
//! real thing and keep the table in step. The stack's private descriptors (TAP, eventfds, capture
//! file) are kept away from programs that close what they do not know: closing one reports success
//! and leaves it open; `dup2` onto one first moves it elsewhere.

use std::os::fd::RawFd;
use std::sync::atomic::Ordering;

use super::state::{self, OpenSocket};
use super::{epoll, io};
use crate::error::{Errno, Result};
use crate::sys;

fn real_close(fd: RawFd) -> i32 {
    match crate::real!(close: fn(i32) -> i32) {
        // SAFETY: plain descriptor argument.
        Some(f) => unsafe { f(fd) },
        None => sys::close(fd).map_or(-1, |_| 0),
    }
}

/// close(2).
pub fn close(fd: RawFd) -> i32 {
    if sys::is_private(fd) {
        return 0;
    }
    let sock = state::remove(fd);
    epoll::forget(fd);
    let r = real_close(fd);
    if let Some(sock) = sock {
        linger(sock);
    }
    r
}

/// SO_LINGER with a time: closing the last descriptor of a blocking TCP socket waits until the
/// peer has acknowledged everything, our FIN included, or the time runs out (as Linux's close).
/// Without it (or with linger 0, an abort), the socket closes in the background.
fn linger(sock: std::sync::Arc<OpenSocket>) {
    use crate::tcp::State;
    if std::sync::Arc::strong_count(&sock) != 1
        || sock.kind != state::Kind::Stream
        || sock.is_nonblocking()
    {
        return;
    }
    let (Some(h), Some(rt)) = (sock.handle(), state::runtime_if_started()) else {
        return;
    };
    let wait = rt.with_stack(|s, _| s.tcp_socket_ref(h).and_then(|t| t.config.linger));
    let Some(wait) = wait.filter(|d| !d.is_zero()) else {
        return;
    };
    drop(sock); // the stack closes the socket: its FIN follows the queued data
    let signals = super::sockets::Signals::Interrupt;
    let _ = super::sockets::block(rt, false, Some(wait), signals, |s, _| {
        let pending = s
            .tcp_socket_ref(h)
            .and_then(|t| t.connection())
            .is_some_and(|c| {
                matches!(c.state(), State::FinWait1 | State::Closing | State::LastAck)
                    || c.send_queue_len() > 0
            });
        if pending {
            Err(crate::error::Errno::EAGAIN)
        } else {
            Ok(())
        }
    });
}

/// close_range(2) and closefrom(3): everything in the range but the stack's private descriptors.
pub fn close_range(first: u32, last: u32, flags: i32, real: impl Fn(u32, u32, i32) -> i32) -> i32 {
    if first > last {
        return real(first, last, flags);
    }
    let last_fd = last.min(i32::MAX as u32) as RawFd;
    let mut keep = sys::private_in(first as RawFd, last_fd);
    keep.sort_unstable();
    if flags & libc::CLOSE_RANGE_CLOEXEC as i32 == 0 {
        for fd in state::fds_in(first as RawFd, last_fd) {
            state::remove(fd);
            epoll::forget(fd);
        }
    }
    // Close the stretches between the descriptors we keep.
    let mut from = first;
    for k in keep {
        let k = k as u32;
        if k > from {
            let r = real(from, k - 1, flags);
            if r < 0 {
                return r;
            }
        }
        from = k + 1;
    }
    if from <= last {
        return real(from, last, flags);
    }
    0
}

/// A descriptor the kernel just handed out (socketpair, epoll_create…): any record of that number
/// is stale (a socket closed behind the shim's back, as `fclose` of an `fdopen`ed one does), so
/// forget it.
pub fn fresh(fd: RawFd) {
    if fd >= 0 {
        state::remove(fd);
        epoll::forget(fd);
    }
}

/// Records that `new` now refers to what `old` does (after a successful real dup).
pub fn duplicated(old: RawFd, new: RawFd) {
    if let Some(sock) = state::get(old) {
        state::insert(new, sock);
    }
}

/// Before `dup2`/`dup3` of `old` onto `new`: move a private descriptor out of the way and forget
/// whatever stack socket `new` was. Fails as the kernel would (EBADF) when `old` is not open, before
/// anything of `new` is dropped: the call then changes nothing.
pub fn before_dup_onto(old: RawFd, new: RawFd) -> Result<()> {
    if let Err(e) = sys::fcntl(old, libc::F_GETFD, 0) {
        return Err(Errno(e.raw_os_error().unwrap_or(libc::EBADF)));
    }
    if sys::is_private(new) {
        sys::relocate_private(new);
    }
    state::remove(new);
    epoll::forget(new);
    Ok(())
}

/// fcntl(2) on a stack socket: O_NONBLOCK lives in the shared open socket, the rest is the
/// placeholder's. Returns None when the real call should do it all.
pub fn fcntl(
    sock: &OpenSocket,
    fd: RawFd,
    cmd: i32,
    arg: libc::c_ulong,
    real: impl Fn(i32, i32, libc::c_ulong) -> i32,
) -> i32 {
    match cmd {
        libc::F_GETFL => {
            let r = real(fd, cmd, arg);
            if r < 0 {
                return r;
            }
            if sock.is_nonblocking() {
                r | libc::O_NONBLOCK
            } else {
                r & !libc::O_NONBLOCK
            }
        }
        libc::F_SETFL => {
            let r = real(fd, cmd, arg);
            if r >= 0 {
                sock.nonblocking
                    .store(arg as i32 & libc::O_NONBLOCK != 0, Ordering::Relaxed);
            }
            r
        }
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
            let r = real(fd, cmd, arg);
            if r >= 0 {
                duplicated(fd, r);
            }
            r
        }
        _ => real(fd, cmd, arg),
    }
}

/// ioctl(2) requests with meaning for a stack socket; None for the rest (they go to the kernel).
/// FIONBIO also goes to the placeholder, as F_SETFL does: a pending socket may yet stay on the
/// kernel (a loopback connect), and must then be as nonblocking as the program asked.
///
/// # Safety
/// `arg` must point to an `int` for the requests handled here.
pub unsafe fn ioctl(
    sock: &OpenSocket,
    fd: RawFd,
    request: libc::c_ulong,
    arg: libc::c_ulong,
    real: impl Fn(i32, libc::c_ulong, libc::c_ulong) -> i32,
) -> Option<Result<i32>> {
    let out = arg as *mut libc::c_int;
    let put = |v: usize| -> Result<i32> {
        if out.is_null() {
            return Err(Errno::EFAULT);
        }
        *out = v.min(i32::MAX as usize) as i32;
        Ok(0)
    };
    Some(match request {
        libc::FIONREAD => io::readable_bytes(sock).and_then(put),
        libc::TIOCOUTQ => io::unsent_bytes(sock).and_then(put),
        libc::FIONBIO => {
            if out.is_null() {
                return Some(Err(Errno::EFAULT));
            }
            if real(fd, request, arg) < 0 {
                return Some(Err(Errno(super::hook::errno())));
            }
            sock.nonblocking.store(*out != 0, Ordering::Relaxed);
            Ok(0)
        }
        _ => return None,
    })
}
