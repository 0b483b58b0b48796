//! What `poll`, `select` and `epoll` report for a stack socket, in the kernel's event bits.

use super::state::{self, Kind, OpenSocket};
use crate::stack::Stack;

/// POLL*/EPOLL* bits (the same values) for `sock`, computed on a locked stack (or without one for
/// a socket that never attached).
pub fn events(stack: Option<&Stack>, sock: &OpenSocket) -> u32 {
    let (h, s) = match (sock.handle(), stack) {
        (Some(h), Some(s)) => (h, s),
        // Never attached: a fresh TCP socket is writable and hung up (Linux's tcp_poll on CLOSE);
        // a fresh UDP socket is writable.
        _ => {
            return match sock.kind {
                Kind::Stream => (libc::POLLOUT | libc::POLLWRNORM | libc::POLLHUP) as u32,
                Kind::Dgram => (libc::POLLOUT | libc::POLLWRNORM) as u32,
            }
        }
    };
    match sock.kind {
        Kind::Dgram => {
            let mut ev = (libc::POLLOUT | libc::POLLWRNORM) as u32;
            if let Some(u) = s.udp_socket_ref(h) {
                if u.is_readable() {
                    ev |= (libc::POLLIN | libc::POLLRDNORM) as u32;
                }
                if u.error.is_some() {
                    ev |= libc::POLLERR as u32;
                }
            }
            ev
        }
        Kind::Stream => {
            let r = s.tcp_readiness(h);
            let mut ev = 0u32;
            if r.readable {
                ev |= (libc::POLLIN | libc::POLLRDNORM) as u32;
            }
            if r.writable {
                ev |= (libc::POLLOUT | libc::POLLWRNORM) as u32;
            }
            if r.error {
                ev |= libc::POLLERR as u32;
            }
            if r.hangup {
                ev |= libc::POLLHUP as u32;
            }
            if r.read_closed {
                ev |= (libc::POLLRDHUP | libc::POLLIN | libc::POLLRDNORM) as u32;
            }
            ev
        }
    }
}

/// Events that are always reported, asked for or not.
pub const ALWAYS: u32 = (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) as u32;

/// `events` for one socket, taking the stack lock itself.
pub fn events_now(sock: &OpenSocket) -> u32 {
    match state::runtime_if_started() {
        Some(rt) if sock.handle().is_some() => rt.with_stack(|s, _| events(Some(s), sock)),
        _ => events(None, sock),
    }
}
