//! Data calls on stack sockets: the receive and send paths behind `read`, `recv`, `recvfrom`,
//! `recvmsg`, `recvmmsg`, `write`, `send`, `sendto`, `sendmsg`, `sendmmsg`, `sendfile`, with the
//! flags Linux honours (MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL, MSG_TRUNC, MSG_NOSIGNAL).

use std::net::SocketAddrV4;

use super::addr::Addr;
use super::sockets::{attach, block, route, Route, Signals};
use super::state::{Kind, OpenSocket};
use crate::error::{Errno, Result};

/// What a receive produced.
pub struct Got {
    pub len: usize,
    /// The datagram's full length (MSG_TRUNC), equal to `len` for streams.
    pub full_len: usize,
    pub from: Option<SocketAddrV4>,
}

const KNOWN_RECV_FLAGS: i32 = libc::MSG_PEEK
    | libc::MSG_DONTWAIT
    | libc::MSG_WAITALL
    | libc::MSG_TRUNC
    | libc::MSG_CMSG_CLOEXEC
    | libc::MSG_NOSIGNAL;

/// Receives into `buf`.
pub fn recv(sock: &OpenSocket, buf: &mut [u8], flags: i32) -> Result<Got> {
    if flags & libc::MSG_OOB != 0 {
        // No urgent data is ever kept (RFC 6093 advises against its use); Linux says EINVAL when
        // none is pending.
        return Err(Errno::EINVAL);
    }
    if flags & libc::MSG_ERRQUEUE != 0 {
        return Err(Errno::EAGAIN);
    }
    if flags & !KNOWN_RECV_FLAGS != 0 {
        log::debug!("recv: ignoring flags {:#x}", flags & !KNOWN_RECV_FLAGS);
    }
    let peek = flags & libc::MSG_PEEK != 0;
    let nonblocking = sock.is_nonblocking() || flags & libc::MSG_DONTWAIT != 0;
    let timeout = OpenSocket::timeout(&sock.rcvtimeo_us);
    match sock.kind {
        Kind::Stream => {
            let Some(h) = sock.handle() else {
                return Err(Errno::ENOTCONN);
            };
            if buf.is_empty() {
                return Ok(Got {
                    len: 0,
                    full_len: 0,
                    from: None,
                });
            }
            let rt = super::state::runtime()?;
            let mut got = block(rt, nonblocking, timeout, Signals::Restart, |s, now| {
                s.tcp_recv(now, h, buf, peek)
            })?;
            // MSG_WAITALL: keep going until the buffer is full, end of file, or an error (which is
            // reported next time if something was already read).
            if flags & libc::MSG_WAITALL != 0 && !peek && !nonblocking {
                let left = time_left(timeout);
                while got > 0 && got < buf.len() {
                    match block(rt, false, left(), Signals::Interrupt, |s, now| {
                        s.tcp_recv(now, h, &mut buf[got..], false)
                    }) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got += n,
                    }
                }
            }
            Ok(Got {
                len: got,
                full_len: got,
                from: None,
            })
        }
        Kind::Dgram => {
            // An unbound UDP socket receives nothing yet: attach it so the wait is a real one.
            let (rt, h) = attach(sock)?;
            let r = block(rt, nonblocking, timeout, Signals::Restart, |s, _| {
                s.udp_recv_from(h, buf, peek)
            })?;
            Ok(Got {
                len: r.copied,
                full_len: r.len,
                from: Some(r.from),
            })
        }
    }
}

/// SO_RCVTIMEO/SO_SNDTIMEO bound a whole call, as on Linux, not each wait inside it: the time left
/// of `timeout` at each call of the returned function.
fn time_left(timeout: Option<std::time::Duration>) -> impl Fn() -> Option<std::time::Duration> {
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    move || deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()))
}

/// Raises SIGPIPE on this thread, as the kernel does for a write to a broken stream.
fn raise_sigpipe() {
    // SAFETY: plain syscalls on our own process and thread.
    unsafe {
        let pid = libc::syscall(libc::SYS_getpid);
        let tid = libc::syscall(libc::SYS_gettid);
        libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGPIPE);
    }
}

/// What a send asks for: a destination (sendto/sendmsg) or the connected peer.
pub enum SendTarget {
    Connected,
    To(Addr),
}

/// What a send on a pending socket turned into.
pub enum Sent {
    Done(usize),
    /// The destination is loopback: the caller sends through the kernel.
    Kernel,
}

/// Sends `data`. A blocking stream send waits until all of it is queued (or a timeout or signal
/// ends the wait with part of it sent), as Linux does.
pub fn send(sock: &OpenSocket, data: &[u8], flags: i32, target: SendTarget) -> Result<Sent> {
    let nonblocking = sock.is_nonblocking() || flags & libc::MSG_DONTWAIT != 0;
    let timeout = OpenSocket::timeout(&sock.sndtimeo_us);
    let r = match sock.kind {
        Kind::Stream => {
            let Some(h) = sock.handle() else {
                // Linux: writing to a TCP socket that never connected is a broken pipe.
                if flags & libc::MSG_NOSIGNAL == 0 {
                    raise_sigpipe();
                }
                return Err(Errno::EPIPE);
            };
            let rt = super::state::runtime()?;
            let mut sent = 0;
            let left = time_left(timeout);
            loop {
                // After a part is sent a signal ends the call with that part, as on Linux.
                let signals = if sent == 0 {
                    Signals::Restart
                } else {
                    Signals::Interrupt
                };
                match block(rt, nonblocking, left(), signals, |s, now| {
                    s.tcp_send(now, h, &data[sent..])
                }) {
                    Ok(n) => {
                        sent += n;
                        if sent == data.len() || nonblocking {
                            break Ok(sent);
                        }
                    }
                    Err(_) if sent > 0 => break Ok(sent),
                    Err(e) => break Err(e),
                }
            }
        }
        Kind::Dgram => {
            let (rt, h, to) = match target {
                SendTarget::To(Addr::V4(to)) => match route(sock, &Addr::V4(to))? {
                    Route::Kernel => return Ok(Sent::Kernel),
                    Route::Stack(rt, h) => (rt, h, Some(to)),
                },
                SendTarget::To(Addr::Unspec) => return Err(Errno::EAFNOSUPPORT),
                SendTarget::Connected => {
                    let Some(h) = sock.handle() else {
                        return Err(Errno::EDESTADDRREQ);
                    };
                    (super::state::runtime()?, h, None)
                }
            };
            rt.with_stack(|s, now| s.udp_send_to(now, h, data, to))
        }
    };
    if r == Err(Errno::EPIPE) && flags & libc::MSG_NOSIGNAL == 0 {
        raise_sigpipe();
    }
    r.map(Sent::Done)
}

/// Bytes waiting to be read (FIONREAD): a stream's queue, or the next datagram's size.
pub fn readable_bytes(sock: &OpenSocket) -> Result<usize> {
    let Some(h) = sock.handle() else {
        return Ok(0);
    };
    super::state::runtime()?.with_stack(|s, _| match sock.kind {
        Kind::Stream => Ok(s
            .tcp_socket_ref(h)
            .and_then(|t| t.connection())
            .map_or(0, |c| c.recv_queue_len())),
        Kind::Dgram => Ok(s.udp_socket_ref(h).map_or(0, |u| u.next_len())),
    })
}

/// Bytes not yet acknowledged by the peer (SIOCOUTQ).
pub fn unsent_bytes(sock: &OpenSocket) -> Result<usize> {
    let Some(h) = sock.handle() else {
        return Ok(0);
    };
    super::state::runtime()?.with_stack(|s, _| {
        Ok(s.tcp_socket_ref(h)
            .and_then(|t| t.connection())
            .map_or(0, |c| c.send_queue_len()))
    })
}
