//! `setsockopt` and `getsockopt` on the program's IPv4 sockets.
//!
//! - A pending socket is a kernel socket: it takes the option itself (and answers `getsockopt`),
//!   and the option is recorded to be replayed to the service when the socket attaches.
//! - On a stack socket, SO_RCVTIMEO, SO_SNDTIMEO and SO_RCVLOWAT belong to the descriptor (the
//!   socketpair end the program blocks on) and are the kernel's, as is SO_OOBINLINE (the peer's
//!   urgent byte arrives as the socketpair's out-of-band byte, which the end reads in line or
//!   apart as the option says); every other option goes to the service, which keeps it on the
//!   stack socket ([`crate::service::options`]). A TCP socket's SO_RCVLOWAT goes to both.

use super::sockets;
use super::state::{Attach, OpenSocket};
use crate::error::{Errno, Result};
use crate::service::proto::{Call, Kind, SetOption, Value, MAX_OPTION};

/// Options the socketpair end itself carries: the timeouts and low-water mark the program
/// blocks by, SO_OOBINLINE, the receive timestamps ([`super::stamps`]), and
/// SO_SELECT_ERR_QUEUE, which Linux's sock_setsockopt takes on any socket (poll would report
/// POLLPRI for a waiting error queue; the socketpair's, like the stack's, stays empty). chronyd
/// gave up SO_TIMESTAMPING for SO_TIMESTAMPNS when it was refused. And a TCP socket's
/// SO_PEEK_OFF: its bytes are the socketpair's, whose AF_UNIX stream peeks from the offset and
/// moves it as tcp_recvmsg does (forward by what a peek copies, back by what a read takes).
fn on_descriptor(kind: Kind, level: i32, name: i32) -> bool {
    (kind == Kind::Stream && (level, name) == (libc::SOL_SOCKET, libc::SO_PEEK_OFF))
        || (level == libc::SOL_SOCKET
            && matches!(
                name,
                libc::SO_RCVTIMEO
                    | libc::SO_RCVTIMEO_NEW
                    | libc::SO_SNDTIMEO
                    | libc::SO_SNDTIMEO_NEW
                    | libc::SO_RCVLOWAT
                    | libc::SO_OOBINLINE
                    | libc::SO_SELECT_ERR_QUEUE
            ))
        || super::stamps::is_stamp_option(level, name)
}

/// A descriptor's option the service must know as well: a TCP socket's SO_RCVLOWAT, which decides
/// when the service lets what arrived reach the descriptor (see `server::below_low_water`).
fn for_service_too(sock: &OpenSocket, level: i32, name: i32) -> bool {
    sock.kind == Kind::Stream && (level, name) == (libc::SOL_SOCKET, libc::SO_RCVLOWAT)
}

/// IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP and IP_MULTICAST_IF on a pending AF_INET UDP socket:
/// they name the stack's interface (its address 10.77.0.2, or the TAP), which the kernel socket
/// standing in would refuse as none of its own, and a group's datagrams arrive on the stack. So
/// the socket goes to the stack with the option as its first call, as a `bind` would take it
/// there. `None`: not such a call.
pub fn attach_for_multicast(
    sock: &std::sync::Arc<OpenSocket>,
    fd: i32,
    level: i32,
    name: i32,
    val: &[u8],
) -> Option<Result<i32>> {
    let multicast = level == libc::IPPROTO_IP
        && matches!(
            name,
            libc::IP_ADD_MEMBERSHIP | libc::IP_DROP_MEMBERSHIP | libc::IP_MULTICAST_IF
        );
    if !multicast || !sock.is_pending() || sock.kind != Kind::Dgram || sock.inet6 {
        return None;
    }
    let o = SetOption {
        level,
        name,
        value: val[..val.len().min(MAX_OPTION)].to_vec(),
    };
    Some(sockets::attach_with(sock, fd, Call::SetOption(o)).map(|_| 0))
}

/// Whether SO_RCVLOWAT `v` sets a mark above one byte (negative is INT_MAX to Linux; 0 is 1).
pub fn rcvlowat_marks(v: i32) -> bool {
    !(0..=1).contains(&v)
}

/// IP_MTU_DISCOVER's mode `v`, as the shim's sends apply it ([`super::io`]): DO, PROBE and
/// INTERFACE refuse a datagram over the link's MTU (Linux's ip_sk_ignore_df false), DO one over
/// its path's too. A value out of range changes nothing (the setsockopt fails).
pub fn note_mtu_discover(sock: &OpenSocket, v: i32) {
    if (0..=5).contains(&v) {
        sock.refuse_over_mtu
            .store((2..=4).contains(&v), std::sync::atomic::Ordering::Relaxed);
        sock.refuse_over_path_mtu.store(
            v == libc::IP_PMTUDISC_DO,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

/// What `setsockopt` should do after the shim's part.
pub enum Set {
    /// Done (or failed) here.
    Done(Result<()>),
    /// Also, or only, the real call on the descriptor.
    Real,
}

/// `setsockopt` on a socket the shim knows.
pub fn set(sock: &OpenSocket, fd: i32, level: i32, name: i32, val: &[u8]) -> Set {
    if level == libc::SOL_SOCKET && name == libc::SO_BROADCAST && !val.is_empty() {
        sock.broadcast
            .store(val[0] != 0, std::sync::atomic::Ordering::Relaxed);
    }
    if (level, name) == (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER) && !val.is_empty() {
        // An int, or a single byte as do_ip_setsockopt also takes.
        let v = match val.get(..4) {
            Some(b) => i32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            None => i32::from(val[0]),
        };
        note_mtu_discover(sock, v);
    }
    if (level, name) == (libc::IPPROTO_TCP, libc::TCP_INQ) && !val.is_empty() {
        sock.inq
            .store(val[0] == 1, std::sync::atomic::Ordering::Relaxed);
    }
    // Zero-copy sends need the kernel to pin the program's pages; the socketpair copies, so the
    // option is refused as a kernel socket without the feature refuses it.
    if (level, name) == (libc::SOL_SOCKET, libc::SO_ZEROCOPY) {
        return Set::Done(Err(Errno::EOPNOTSUPP));
    }
    // Linux reads what an option needs from a longer buffer and ignores the rest; no option
    // this stack takes needs more than MAX_OPTION bytes.
    let val = &val[..val.len().min(MAX_OPTION)];
    let mut a = sock.attach.lock();
    match &mut *a {
        Attach::Pending(p) => {
            // The kernel socket validates it; recorded once it took it (see exports).
            if on_descriptor(sock.kind, level, name) {
                p.descriptor_options = true;
            }
            if for_service_too(sock, level, name) && val.len() >= 4 {
                let v = i32::from_ne_bytes([val[0], val[1], val[2], val[3]]);
                sock.rcvlowat
                    .store(rcvlowat_marks(v), std::sync::atomic::Ordering::Relaxed);
            }
            if !on_descriptor(sock.kind, level, name) || for_service_too(sock, level, name) {
                p.options.retain(|o| (o.level, o.name) != (level, name));
                p.options.push(SetOption {
                    level,
                    name,
                    value: val.to_vec(),
                });
            }
            Set::Real
        }
        Attach::Stack => {
            drop(a);
            if for_service_too(sock, level, name) && val.len() >= 4 {
                let v = i32::from_ne_bytes([val[0], val[1], val[2], val[3]]);
                sock.rcvlowat
                    .store(rcvlowat_marks(v), std::sync::atomic::Ordering::Relaxed);
                // (An answer about a socket gone meanwhile changes nothing for the descriptor.)
                let o = SetOption {
                    level,
                    name,
                    value: val.to_vec(),
                };
                let _ = sockets::request(fd, Call::SetOption(o));
            }
            if on_descriptor(sock.kind, level, name) {
                return Set::Real;
            }
            let o = SetOption {
                level,
                name,
                value: val.to_vec(),
            };
            Set::Done(sockets::request(fd, Call::SetOption(o)).map(drop))
        }
    }
}

/// `getsockopt` on a stack socket: the value, whole; `None` when the descriptor answers it.
pub fn get(
    sock: &OpenSocket,
    fd: i32,
    level: i32,
    name: i32,
    len: usize,
) -> Option<Result<Vec<u8>>> {
    if sock.is_pending() || on_descriptor(sock.kind, level, name) {
        return None;
    }
    let so_error = (level, name) == (libc::SOL_SOCKET, libc::SO_ERROR) && sock.kind == Kind::Stream;
    if so_error && sockets::no_error_pending(fd) {
        return Some(Ok(0i32.to_ne_bytes().to_vec()));
    }
    let call = Call::GetOption {
        level,
        name,
        len: len.min(MAX_OPTION) as u32,
    };
    let r = sockets::request(fd, call);
    if so_error {
        sockets::clear_descriptor_error(fd);
    }
    Some(match r {
        Ok(Value::Bytes(b)) => Ok(b),
        Ok(Value::Int(i)) => Ok(i.to_ne_bytes().to_vec()),
        Ok(_) => Err(Errno::EIO),
        Err(e) => Err(e),
    })
}

/// Copies as much of `bytes` as the caller's buffer takes, as Linux does: `len = min(len, size)`;
/// an IP-level int asked for with a buffer shorter than an int gets one byte when it fits one
/// (Linux's do_ip_getsockopt).
///
/// # Safety
/// `len` must be readable: checked by the caller, which read it already (`getsockopt`); whether
/// `val` and `len` can be written is found by writing them.
pub unsafe fn put(
    level: i32,
    bytes: &[u8],
    val: *mut libc::c_void,
    len: *mut libc::socklen_t,
) -> Result<()> {
    if (*len as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    let want = *len as usize;
    if level == libc::IPPROTO_IP && (1..4).contains(&want) && bytes.len() == 4 {
        let v = i32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if (0..=255).contains(&v) {
            return super::user::write_answer(val.cast(), &[v as u8], len, 1);
        }
    }
    let n = want.min(bytes.len());
    if n > 256 {
        // Longer than any one answer's check: checked piece by piece, then written.
        super::user::check_write(val.cast(), n)?;
        super::user::check_write_of(len)?;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), val as *mut u8, n);
        *len = n as libc::socklen_t;
        return Ok(());
    }
    // An option read again and again (SO_ERROR after each connect) into the same variables: no
    // system call once they were found writable.
    super::user::write_answer_again(val.cast(), &bytes[..n], len, n as libc::socklen_t)
}

/// SIOCOUTQ ([`Call::Unsent`]: bytes the peer has not acknowledged yet) or SIOCOUTQNSD
/// ([`Call::NotSent`]: bytes not sent yet) on a stack socket.
pub fn unsent(fd: i32, call: Call) -> Result<i32> {
    match sockets::request(fd, call)? {
        Value::Int(n) => Ok(n),
        _ => Err(Errno::EIO),
    }
}
