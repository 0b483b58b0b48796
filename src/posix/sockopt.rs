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
/// when the service lets what arrived reach the descriptor (see `server::below_low_water`), and
/// its SO_PEEK_OFF, which the service keeps for a listener (whose descriptor's offset its token
/// reads would move) and sets on each end it accepts, as Linux's sk_clone_lock copies sk_peek_off.
fn for_service_too(sock: &OpenSocket, level: i32, name: i32) -> bool {
    sock.kind == Kind::Stream
        && level == libc::SOL_SOCKET
        && matches!(name, libc::SO_RCVLOWAT | libc::SO_PEEK_OFF)
}

/// Whether SO_PEEK_OFF is refused on a socket of `kind`, `kernel_tcp_takes` saying whether the
/// kernel's TCP sockets take it. UDP always: the stack's datagrams reach the program with a header
/// of ours in the socketpair, which an offset would count. TCP when the kernel's does not: before
/// Linux 6.9 inet_stream_ops has no set_peek_off, so sk_setsockopt and sk_getsockopt say
/// EOPNOTSUPP, as a pending socket (a kernel one) then does too.
fn peek_off_refused(kind: Kind, kernel_tcp_takes: bool) -> bool {
    kind == Kind::Dgram || !kernel_tcp_takes
}

/// What a kernel TCP socket's getsockopt(SO_PEEK_OFF) tells of the kernel: it takes the option
/// (an answer), it does not (EOPNOTSUPP), or no telling (any other failure).
fn kernel_takes_by(answer: std::io::Result<Vec<u8>>) -> Option<bool> {
    match answer {
        Ok(_) => Some(true),
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Some(false),
        Err(_) => None,
    }
}

/// Whether this kernel's TCP sockets take SO_PEEK_OFF: asked of a kernel TCP socket once, and
/// remembered once it could tell. (Without a socket to ask, as a modern kernel: Linux 6.9 on.)
fn kernel_tcp_takes_peek_off() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    static KNOWN: AtomicU8 = AtomicU8::new(0); // 0: not asked, 1: takes, 2: refuses
    match KNOWN.load(Ordering::Relaxed) {
        1 => return true,
        2 => return false,
        _ => {}
    }
    let told = super::hook::errno_kept(|| {
        // SAFETY: plain arguments.
        let k = unsafe {
            libc::syscall(
                libc::SYS_socket,
                libc::AF_INET,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if k < 0 {
            return None;
        }
        // SAFETY: the kernel just returned this descriptor, which nothing else holds.
        let k = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(k as i32) };
        let answer = crate::service::uds::get_raw(
            std::os::fd::AsRawFd::as_raw_fd(&k),
            libc::SOL_SOCKET,
            libc::SO_PEEK_OFF,
            4,
        );
        kernel_takes_by(answer)
    });
    match told {
        Some(takes) => {
            KNOWN.store(if takes { 1 } else { 2 }, Ordering::Relaxed);
            takes
        }
        None => true,
    }
}

/// [`peek_off_refused`] for `sock` (the kernel asked only about a TCP socket).
fn peek_off_refused_on(sock: &OpenSocket) -> bool {
    peek_off_refused(
        sock.kind,
        sock.kind == Kind::Dgram || kernel_tcp_takes_peek_off(),
    )
}

/// SO_PEEK_OFF where the stack cannot take it ([`peek_off_refused`]): `setsockopt` with a value
/// of `len` bytes (EINVAL first for one shorter than an int, as sk_setsockopt checks).
pub fn refused(sock: &OpenSocket, level: i32, name: i32, len: usize) -> Result<()> {
    if (level, name) != (libc::SOL_SOCKET, libc::SO_PEEK_OFF) || !peek_off_refused_on(sock) {
        return Ok(());
    }
    if len < 4 {
        return Err(Errno::EINVAL);
    }
    Err(Errno::EOPNOTSUPP)
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
            if for_service_too(sock, level, name) && name == libc::SO_RCVLOWAT && val.len() >= 4 {
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
                if name == libc::SO_RCVLOWAT {
                    sock.rcvlowat
                        .store(rcvlowat_marks(v), std::sync::atomic::Ordering::Relaxed);
                }
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
    let peek_off = (level, name) == (libc::SOL_SOCKET, libc::SO_PEEK_OFF);
    if peek_off && peek_off_refused_on(sock) {
        // (sk_getsockopt's EINVAL for a negative length comes first.)
        return Some(Err(if len > i32::MAX as usize {
            Errno::EINVAL
        } else {
            Errno::EOPNOTSUPP
        }));
    }
    // A listener's SO_PEEK_OFF is the service's: its descriptor's moves with each token read.
    let listener_peek_off = peek_off && !sock.is_pending() && sockets::is_listener(sock, fd);
    if sock.is_pending() || (on_descriptor(sock.kind, level, name) && !listener_peek_off) {
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

/// What of a TCP stack socket's send queue an ioctl counts.
#[derive(Clone, Copy, Debug)]
pub enum OutQueue {
    /// SIOCOUTQ: bytes the peer has not acknowledged yet ([`Call::Unacked`]).
    Unacked,
    /// SIOCOUTQNSD: bytes not sent yet ([`Call::NotSent`]).
    NotSent,
}

/// SIOCOUTQ or SIOCOUTQNSD on a stack socket.
pub fn out_queue(fd: i32, which: OutQueue) -> Result<i32> {
    let call = match which {
        OutQueue::Unacked => Call::Unacked,
        OutQueue::NotSent => Call::NotSent,
    };
    match sockets::request(fd, call)? {
        Value::Int(n) => Ok(n),
        _ => Err(Errno::EIO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_off_refused_on_udp_and_where_the_kernel_tcp_refuses_it() {
        assert!(peek_off_refused(Kind::Dgram, true));
        assert!(peek_off_refused(Kind::Dgram, false));
        assert!(!peek_off_refused(Kind::Stream, true));
        assert!(peek_off_refused(Kind::Stream, false));
    }

    #[test]
    fn kernel_probe_read() {
        assert_eq!(kernel_takes_by(Ok(vec![0xff; 4])), Some(true));
        let e = |n| Err(std::io::Error::from_raw_os_error(n));
        // Before Linux 6.9: inet_stream_ops has no set_peek_off.
        assert_eq!(kernel_takes_by(e(libc::EOPNOTSUPP)), Some(false));
        // No telling (out of descriptors, say): not remembered.
        assert_eq!(kernel_takes_by(e(libc::EMFILE)), None);
    }
}
