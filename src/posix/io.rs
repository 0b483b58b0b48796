//! Data on stack sockets, where the shim has a part in it.
//!
//! TCP data is the kernel's business: a stack TCP socket's descriptor is a stream socketpair end, so
//! `read`, `write`, `sendfile`, stdio and the rest run on it unchanged. The shim steps in only when
//! a read finds end of file (it may have been a reset: [`super::sockets::error_at_eof`]), and to
//! keep from the socketpair what a UNIX socket would refuse but TCP takes (an address on `sendto`,
//! MSG_MORE).
//!
//! UDP datagrams carry a header on the socketpair ([`crate::service::proto::DGRAM_HEADER`]): the
//! shim adds it on the way out (the destination, and what a `sendmsg`'s IP control messages set,
//! [`send_control`]) and takes it off on the way in (the sender, and the IP control messages the
//! socket asked for, [`put_ip_control`]), so every send and receive call on a UDP stack socket
//! comes through here.

use std::net::SocketAddrV4;
use std::sync::atomic::Ordering;

use super::state::OpenSocket;
use super::user::Iovecs;
use crate::error::{Errno, Result};
use crate::service::proto::{self, DGRAM_HEADER};
use crate::service::{board, client};

fn check(r: libc::c_long) -> Result<usize> {
    if r < 0 {
        Err(Errno(super::hook::errno()))
    } else {
        Ok(r as usize)
    }
}

/// Linux's MSG_PROBE (include/linux/socket.h: "do not send, only probe path, e.g. for MTU"),
/// which the libc crate does not name.
const MSG_PROBE: i32 = 0x10;

/// Flags TCP takes that a UNIX stream socket would not make sense of; they change nothing here.
pub const TCP_ONLY_FLAGS: i32 =
    libc::MSG_MORE | libc::MSG_CONFIRM | libc::MSG_EOR | libc::MSG_FASTOPEN;

/// MSG_MORE on a TCP stack socket, before its data goes on the socketpair (where flags do not
/// travel): the first such send of a run asks the service to hold partial segments. The request
/// is quiet and goes before the data, so the service reads it first.
pub fn more_before(sock: &OpenSocket, fd: i32, flags: i32) {
    if flags & libc::MSG_MORE != 0 && !sock.more.swap(true, Ordering::Relaxed) {
        let _ = client::tell(proto::Target::Existing, proto::Call::SendMore(true), &[fd]);
    }
}

/// After a send without MSG_MORE that follows a run of them (`send`, `sendmsg`, and `write`,
/// `writev`, `sendfile` and `splice` too, which the socketpair takes as they are): the run is
/// over, what waits goes out, as Linux pushes at the end of any such call.
pub fn more_after(sock: &OpenSocket, fd: i32, flags: i32) {
    if flags & libc::MSG_MORE == 0
        && sock.more.load(Ordering::Relaxed)
        && sock.more.swap(false, Ordering::Relaxed)
    {
        let _ = client::tell(proto::Target::Existing, proto::Call::SendMore(false), &[fd]);
    }
}

/// The flags of the kernel's send on a TCP stack socket: TCP's own taken off, MSG_NOSIGNAL put
/// on, so that an EPIPE is looked at before the program has its SIGPIPE ([`tcp_send_error`]).
///
/// Under a seccomp filter ([`super::hook::sandboxed`]) the program's own flags go as they are, so
/// that the kernel's EPIPE comes with its own SIGPIPE: the filter may not allow asking the service
/// for the connection's error, nor raising the signal.
///
/// MSG_OOB stays: the socketpair carries the last byte of such a send as its own out-of-band
/// byte, which the service finds at its mark and sends as TCP urgent data (RFC 9293 §3.8.5), as
/// Linux's tcp_sendmsg marks the last byte of the call urgent.
pub fn tcp_send_flags(flags: i32) -> i32 {
    let flags = flags & !TCP_ONLY_FLAGS;
    if super::hook::sandboxed() {
        return flags;
    }
    flags | libc::MSG_NOSIGNAL
}

/// What recv(MSG_OOB) on a TCP stack socket reports when the socketpair refused it with EINVAL
/// (no out-of-band byte in it). Linux's tcp_recv_urg says EAGAIN while the peer's urgent pointer
/// has come and its byte has not (RFC 9293 §3.8.5 lets the pointer run ahead of the data), so
/// the service is asked then; EINVAL otherwise, as the socketpair said: SO_OOBINLINE, nothing
/// urgent, or the byte read already. A listener says ENOTCONN, as any read of it on Linux.
pub fn tcp_oob_error(sock: &OpenSocket, fd: i32) -> Errno {
    use crate::service::uds;
    if super::sockets::is_listener(sock, fd) {
        return Errno::ENOTCONN;
    }
    let inline = uds::get_int(fd, libc::SOL_SOCKET, libc::SO_OOBINLINE).map_or(true, |v| v != 0);
    if !inline
        && matches!(
            super::sockets::request(fd, proto::Call::UrgentPending),
            Ok(proto::Value::Int(1))
        )
    {
        return Errno::EAGAIN;
    }
    Errno::EINVAL
}

/// What a send on a TCP stack socket that met EPIPE reports. The socketpair says EPIPE as soon as
/// the connection is over, where Linux's tcp_sendmsg first reports the connection's error while
/// SO_ERROR holds it (sk_stream_error: ECONNREFUSED after a refused connect, ECONNRESET after a
/// reset), without SIGPIPE; after that, EPIPE, with SIGPIPE unless the caller said MSG_NOSIGNAL.
pub fn tcp_send_error(fd: i32, flags: i32) -> Errno {
    match super::sockets::take_pending_error(fd) {
        // EPIPE held as the error (a reset after the peer's FIN) is sk_stream_error's EPIPE all
        // the same: it comes with SIGPIPE.
        Some(Errno::EPIPE) | None => {}
        Some(e) => {
            // Reported: a failed connect's descriptor stops polling POLLERR, as Linux's socket.
            super::sockets::clear_descriptor_error(fd);
            return e;
        }
    }
    if flags & libc::MSG_NOSIGNAL == 0 {
        // SAFETY: a signal to the calling thread, as the kernel's send_sig(SIGPIPE, current).
        unsafe { libc::raise(libc::SIGPIPE) };
    }
    Errno::EPIPE
}

/// A read or a write on a TCP listener, which Linux refuses (tcp_recvmsg: ENOTCONN in
/// TCP_LISTEN; tcp_sendmsg: EPIPE, with SIGPIPE unless MSG_NOSIGNAL, from sk_stream_wait_connect),
/// where the socketpair under it would block a read (it carries the listener's connection tokens,
/// which a read would take) and swallow a write. Known in the process that listened; one made by
/// another (inherited, received over a UNIX socket) is asked of the service once.
pub fn listener_refuses(sock: &OpenSocket, fd: i32, reading: bool, flags: i32) -> Option<Errno> {
    let listening = match sock.listening.load(Ordering::Relaxed) {
        super::state::LISTENING_YES => true,
        super::state::LISTENING_UNKNOWN if sock.unsettled.load(Ordering::Relaxed) => {
            super::sockets::is_listener(sock, fd)
                && sock.listening.load(Ordering::Relaxed) == super::state::LISTENING_YES
        }
        _ => false,
    };
    if !listening {
        return None;
    }
    if reading {
        return Some(Errno::ENOTCONN);
    }
    if flags & libc::MSG_NOSIGNAL == 0 {
        // SAFETY: a signal to the calling thread, as the kernel's send_sig(SIGPIPE, current).
        unsafe { libc::raise(libc::SIGPIPE) };
    }
    Some(Errno::EPIPE)
}

/// `iovcnt` iovecs at `iov` that import_iovec would take (a count within IOV_MAX, an array that
/// can be read) and that hold no byte: vfs_readv and vfs_writev return 0 for them before the
/// socket is asked.
///
/// # Safety
/// An array that can be read must hold as many iovecs as it says.
pub unsafe fn iov_total_is_zero(iov: *const libc::iovec, iovcnt: i32) -> bool {
    matches!(vectored_io_settled(iov, iovcnt), Some(Ok(0)))
}

/// `n`, from a kernel send on a TCP stack socket made with [`tcp_send_flags`], as the program must
/// see it (the caller's own `flags`). ENOTCONN comes from a socket taken apart and not connected
/// again (an unconnected UNIX socket), where Linux's tcp_sendmsg says EPIPE as for any socket
/// not connected.
pub fn tcp_send_result(fd: i32, flags: i32, n: isize) -> isize {
    if n < 0 && super::hook::sandboxed() {
        // The kernel's answer stands (see tcp_send_flags).
        return n;
    }
    if n < 0 && matches!(super::hook::errno(), libc::EPIPE | libc::ENOTCONN) {
        super::hook::set_errno(tcp_send_error(fd, flags));
    }
    n
}

/// TCP_INQ's control message after a `recvmsg` (Linux's TCP_CM_INQ): the bytes left to read
/// ([`tcp_inq`]).
///
/// # Safety
/// As [`super::stamps::ControlOut::put`].
pub unsafe fn put_inq(sock: &OpenSocket, fd: i32, out: &mut super::stamps::ControlOut) {
    let left = tcp_inq(sock, fd).unwrap_or(0);
    out.put(libc::SOL_TCP, libc::TCP_CM_INQ, &left.to_ne_bytes());
}

/// SIOCINQ (FIONREAD) on a TCP stack socket: the bytes left to read, those in the socketpair and,
/// after shutdown(SHUT_RD), those the service holds (`sockets::held_len`), as Linux's tcp_inq.
pub fn tcp_inq(sock: &OpenSocket, fd: i32) -> Result<i32> {
    let mut queued: i32 = 0;
    // SAFETY: FIONREAD writes one int.
    let r = unsafe { libc::syscall(libc::SYS_ioctl, fd, libc::FIONREAD, &mut queued as *mut i32) };
    if r < 0 {
        return Err(Errno(super::hook::errno()));
    }
    let held = super::sockets::held_len(sock, fd);
    Ok((queued.max(0) as usize + held).min(i32::MAX as usize) as i32)
}

/// The largest UDP payload over IPv4.
const MAX_UDP: usize = 65_507;

/// The TAP's MTU, asked of the kernel once a process (SIOCGIFMTU on the configured interface);
/// `None` where it cannot be, as in a process that reaches the service through a door from
/// another namespace.
fn link_mtu() -> Option<usize> {
    static MTU: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *MTU.get_or_init(|| {
        let c = client::config().ok()?;
        crate::device::tap::interface_mtu(&c.iface).ok()
    })
}

/// IP_MTU_DISCOVER's refusal of a datagram of `len` bytes that does not fit the TAP's link (IPv4
/// and UDP headers with it). Not for one to loopback, whose MTU (65 536) no datagram exceeds.
fn refused_over_mtu(sock: &OpenSocket, fd: i32, out: &proto::Outgoing, len: usize) -> bool {
    if !sock.refuse_over_mtu.load(Ordering::Relaxed) || to_loopback(out) {
        return false;
    }
    let size = UDP_IP_HEADERS + len;
    link_mtu().is_some_and(|m| size > m)
        || sock.refuse_over_path_mtu.load(Ordering::Relaxed)
            && size > crate::stack::MIN_PATH_MTU
            && path_mtu(sock, fd, out.to).is_some_and(|m| size > m)
}

/// How long a connected socket takes the service's word for its path's MTU (see [`path_mtu`]).
const CONNECTED_PATH_MTU_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// An IPv4 header without options and a UDP header.
const UDP_IP_HEADERS: usize = 28;

/// The MTU of the path to `to` (`None`: the connected peer) as the service knows it, if the stack
/// has learnt any path's ([`crate::service::board`]): asked once, and again when the board's count
/// moves or what was learnt of the path runs out; `None` also when the service cannot say (the
/// datagram then goes, and a path that does not take it drops it, as before).
fn path_mtu(sock: &OpenSocket, fd: i32, to: Option<std::net::SocketAddrV4>) -> Option<usize> {
    let paths = match board::paths() {
        Some(n) => n,
        None => map_board(fd).and_then(|_| board::paths())?,
    };
    if paths == 0 {
        return None;
    }
    let now = std::time::Instant::now();
    let peer = sock.peer_generation.load(Ordering::Acquire);
    // Never waited for, and held only for a copy: a thread that forks or a signal handler that
    // sends meanwhile must not find it held for good; busy, the cache is a miss.
    let cached = sock.path_mtu_seen.try_lock().and_then(|s| *s);
    if let Some(s) = cached.filter(|s| {
        s.to == to && s.paths == paths && s.peer == peer && s.until.is_none_or(|u| u > now)
    }) {
        return Some(s.mtu);
    }
    let Ok(proto::Value::Bytes(v)) = super::sockets::request(fd, proto::Call::PathMtu(to)) else {
        return None;
    };
    let word =
        |i: usize| -> Option<u32> { Some(u32::from_ne_bytes(v.get(i..i + 4)?.try_into().ok()?)) };
    let (mtu, left_ms) = (word(0)? as usize, word(4)?);
    let mut until = (left_ms > 0).then(|| now + std::time::Duration::from_millis(left_ms.into()));
    if to.is_none() {
        // The peer may change by a connect in another process sharing the socket, which this
        // one does not see: a connected socket's answer is good for a second at most.
        until = Some(until.map_or(now + CONNECTED_PATH_MTU_FOR, |u| {
            u.min(now + CONNECTED_PATH_MTU_FOR)
        }));
    }
    if let Some(mut seen) = sock.path_mtu_seen.try_lock() {
        // Not over a newer answer if a connect came meanwhile.
        if sock.peer_generation.load(Ordering::Acquire) == peer {
            *seen = Some(super::state::PathMtuSeen {
                to,
                paths,
                peer,
                mtu,
                until,
            });
        }
    }
    Some(mtu)
}

/// A datagram to the local host: 127.0.0.0/8, 0.0.0.0 (which Linux takes for it) or `::1`.
fn to_loopback(out: &proto::Outgoing) -> bool {
    out.to_ipv6_loopback
        || out
            .to
            .is_some_and(|a| a.ip().is_loopback() || a.ip().is_unspecified())
}

/// Whether `ip` is a broadcast address for the configured interface.
pub(super) fn is_broadcast(ip: &std::net::Ipv4Addr) -> bool {
    if ip.is_broadcast() {
        return true;
    }
    let Ok(c) = client::config() else {
        return false;
    };
    let mask = crate::config::prefix_mask(c.prefix_len);
    c.prefix_len < 31 && u32::from(*ip) == (u32::from(c.addr) & mask) | !mask
}

/// The iovecs `iov`, behind one for the datagram header at `header`: what travels on the
/// socketpair as one message.
///
/// # Safety
/// As [`Iovecs::checked`]; `header` must point to [`DGRAM_HEADER`] bytes that outlive the
/// result's use.
unsafe fn behind_header(header: *mut u8, iov: Iovecs) -> Result<Vec<libc::iovec>> {
    let iov = iov.checked()?;
    let mut all = Vec::with_capacity(iov.len() + 1);
    all.push(libc::iovec {
        iov_base: header.cast(),
        iov_len: DGRAM_HEADER,
    });
    all.extend_from_slice(iov);
    Ok(all)
}

/// A message over `iov` (no address, no ancillary data).
fn message(iov: &mut [libc::iovec]) -> libc::msghdr {
    // SAFETY: plain data, zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = iov.len();
    msg
}

/// Sends one datagram gathered from `iov` to `out.to` (or the connected peer).
///
/// # Safety
/// As [`Iovecs::checked`], and the iovecs' buffers as `sendmsg` takes them.
pub unsafe fn udp_send(
    sock: &OpenSocket,
    fd: i32,
    iov: Iovecs,
    flags: i32,
    out: proto::Outgoing,
) -> Result<usize> {
    super::sockets::learn_settings(sock, fd);
    let to = out.to;
    let header = out.header();
    let mut all = behind_header(header.as_ptr() as *mut u8, iov)?;
    let len: usize = all[1..].iter().map(|v| v.iov_len).sum();
    // MSG_PROBE: the destination checked and nothing sent or added to a corked datagram, as
    // Linux's ip_make_skb and ip_append_data return first (so neither a size, the path MTU nor a
    // pending error is met).
    if flags & MSG_PROBE != 0 {
        udp_check_destination(sock, fd, to)?;
        udp_check_loopback(sock, fd, &out)?;
        return Ok(len);
    }
    if sock.kind == proto::Kind::Dgram && (flags & libc::MSG_MORE != 0 || sock.udp_cork.is_set()) {
        return udp_cork(sock, &all[1..], len, out, fd, flags);
    }
    if len > MAX_UDP {
        return Err(Errno::EMSGSIZE);
    }
    udp_check_destination(sock, fd, to)?;
    udp_check_loopback(sock, fd, &out)?;
    if refused_over_mtu(sock, fd, &out, len) {
        return Err(Errno::EMSGSIZE);
    }
    pending_error(sock, fd)?;
    send_datagram(fd, &mut all, flags)?;
    Ok(len)
}

/// The socket's error (ECONNREFUSED after a port unreachable), held by the service as Linux's
/// sk_err: a send reports it, taking it, and its datagram does not go, as Linux's udp_sendmsg
/// fails in sock_alloc_send_skb; a receive reports it before any datagram queued. Asked for only
/// when the service's error board has counted an error since this socket last looked
/// ([`crate::service::board`]), so a send or receive costs no request otherwise. The error header
/// the service queued for a receive stays, and the receive that meets it finds the error taken
/// and goes on ([`udp_recv`]).
fn pending_error(sock: &OpenSocket, fd: i32) -> Result<()> {
    let Some(count) = board::count().or_else(|| map_board(fd)) else {
        return Ok(());
    };
    if sock.udp_errors_seen.swap(count, Ordering::Relaxed) == count {
        return Ok(());
    }
    match super::sockets::request(fd, proto::Call::TakeError) {
        Ok(proto::Value::Int(e)) if e != 0 => Err(Errno(e)),
        _ => Ok(()),
    }
}

/// Asks the service for its error board (once a process, or again after that service ended) and
/// maps it: the count, or `None` if there is none to be had (a send then reports no error, as
/// before the board).
fn map_board(fd: i32) -> Option<u64> {
    use std::sync::atomic::AtomicBool;
    static REFUSED: AtomicBool = AtomicBool::new(false);
    if REFUSED.load(Ordering::Relaxed) {
        return None;
    }
    let got = match client::call(
        proto::Target::Existing,
        proto::Call::ErrorBoard,
        Some(fd),
        None,
    ) {
        (Ok(_), Some(board)) => board::adopt(board).ok(),
        _ => None,
    };
    if got.is_none() {
        REFUSED.store(true, Ordering::Relaxed);
    }
    got
}

/// A send with MSG_MORE, or one after it: Linux's udp_sendmsg appends to the pending datagram
/// (the first send's address is the datagram's; later ones' are not looked at) and sends it whole
/// with the first send without the flag. Past 65 507 bytes the pending datagram is dropped and
/// the send fails with EMSGSIZE, as ip_append_data's error flushes it.
///
/// The pending datagram is taken out of the socket while this send works on it, and put back if
/// the send has MORE ([`super::state::Cork`]).
///
/// # Safety
/// `parts` must be the caller's iovecs.
unsafe fn udp_cork(
    sock: &OpenSocket,
    parts: &[libc::iovec],
    len: usize,
    out: proto::Outgoing,
    fd: i32,
    flags: i32,
) -> Result<usize> {
    let pending = sock.udp_cork.take();
    let began = pending.is_none();
    if began {
        udp_check_destination(sock, fd, out.to)?;
        udp_check_loopback(sock, fd, &out)?;
        // As Linux's first ip_append_data of a corked datagram, which allocates with
        // sock_alloc_send_skb.
        pending_error(sock, fd)?;
    }
    // On an error the pending datagram stays out: dropped, as udp_flush_pending_frames drops it.
    let mut corked = pending.unwrap_or_else(|| {
        Box::new(super::state::Corked {
            first: out,
            data: Vec::new(),
        })
    });
    let total = corked.data.len() + len;
    if total > MAX_UDP || refused_over_mtu(sock, fd, &corked.first, total) {
        return Err(Errno::EMSGSIZE);
    }
    for part in parts.iter().filter(|p| p.iov_len > 0) {
        super::user::check_read(part.iov_base.cast(), part.iov_len)?;
        corked.data.extend_from_slice(std::slice::from_raw_parts(
            part.iov_base.cast(),
            part.iov_len,
        ));
    }
    if flags & libc::MSG_MORE != 0 {
        return sock.udp_cork.put(corked, began, MAX_UDP).map(|_| len);
    }
    let header = corked.first.header();
    let whole = libc::iovec {
        iov_base: corked.data.as_ptr() as *mut libc::c_void,
        iov_len: corked.data.len(),
    };
    let mut all = behind_header(header.as_ptr() as *mut u8, Iovecs::Ours(&[whole]))?;
    send_datagram(fd, &mut all, flags)?;
    Ok(len)
}

/// Sends `all` (the datagram header, then the data) to the socketpair as one message, with the
/// program's MSG_DONTWAIT and never SIGPIPE.
unsafe fn send_datagram(fd: i32, all: &mut [libc::iovec], flags: i32) -> Result<()> {
    let msg = message(all);
    let flags = (flags & (libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)) | libc::MSG_NOSIGNAL;
    check(libc::syscall(
        libc::SYS_sendmsg,
        fd,
        &msg as *const libc::msghdr,
        flags,
    ))?;
    Ok(())
}

/// Linux's checks of a datagram's destination, made before anything is queued. The socket's
/// association and SO_BROADCAST are this process's copies; another process sharing the socket
/// (forked, or sent it) may have changed them since, so a refusal asks the service for them again
/// first, and only a refusal pays for that.
fn udp_check_destination(sock: &OpenSocket, fd: i32, to: Option<SocketAddrV4>) -> Result<()> {
    let check = || match to {
        None if !sock.connected.load(Ordering::Relaxed) => Err(Errno::EDESTADDRREQ),
        Some(a) if a.port() == 0 => Err(Errno::EINVAL),
        Some(a) if is_broadcast(a.ip()) && !sock.broadcast.load(Ordering::Relaxed) => {
            Err(Errno::EACCES)
        }
        _ => Ok(()),
    };
    match check() {
        Err(Errno::EDESTADDRREQ | Errno::EACCES) => {
            super::sockets::learn_settings_again(sock, fd);
            check()
        }
        r => r,
    }
}

/// A datagram to loopback (127.x or 0.0.0.0, or `::1` for an AF_INET6 socket) leaves through
/// the socket's twin on the kernel's loopback, from 127.0.0.1 and its port, which a socket bound
/// to the wildcard has (`service::udp_loopback`). Linux sends one from a socket bound to the
/// stack's own address over `lo` from that address; here loopback is the kernel's and the address
/// is not, so it cannot go: ENETUNREACH, as that socket's `connect` to loopback says, rather than
/// a send that succeeds and a datagram the service drops.
fn udp_check_loopback(sock: &OpenSocket, fd: i32, out: &proto::Outgoing) -> Result<()> {
    use super::state::{LOCAL_SPECIFIC, LOCAL_UNKNOWN, LOCAL_WILDCARD};
    if !to_loopback(out) || sock.kind != proto::Kind::Dgram {
        return Ok(());
    }
    let mut local = sock.udp_local.load(Ordering::Relaxed);
    if local == LOCAL_UNKNOWN {
        let bound = super::sockets::local_addr(sock, fd)?;
        local = match (bound.ip().is_unspecified(), bound.port()) {
            (true, 0) => return Ok(()), // not bound yet: the service binds it to the wildcard
            (true, _) => LOCAL_WILDCARD,
            (false, _) => LOCAL_SPECIFIC,
        };
        sock.udp_local.store(local, Ordering::Relaxed);
    }
    if local == LOCAL_SPECIFIC {
        return Err(Errno(libc::ENETUNREACH));
    }
    Ok(())
}

/// What a receive with MSG_ERRQUEUE gets on a stack socket, TCP or UDP: the stack keeps no error
/// queue (IP_RECVERR's ICMP reports are not queued), and Linux's ip_recv_error answers an empty
/// one with EAGAIN at once, blocking or not. Never data from the receive queue, which the
/// socketpair would hand over for this flag.
pub const ERRQUEUE_EMPTY: Errno = Errno::EAGAIN;

/// What a datagram receive found.
pub struct Got {
    /// Bytes copied (or, with MSG_TRUNC, the datagram's whole length).
    pub len: usize,
    pub from: Option<SocketAddrV4>,
    /// The datagram's header, for the IP control messages ([`put_ip_control`]).
    pub incoming: Option<proto::Incoming>,
    /// The datagram was longer than the buffers.
    pub truncated: bool,
    /// Bytes of control messages (the kernel's receive timestamps, [`super::stamps`]) written
    /// into the control buffer given, and whether some did not fit.
    pub control_len: usize,
    pub control_truncated: bool,
}

/// Receives one datagram into `iov`, and the socketpair's control messages into `control`
/// (pointer and size) if given.
///
/// # Safety
/// As [`Iovecs::checked`], and the iovecs' buffers as `recvmsg` takes them.
pub unsafe fn udp_recv(
    fd: i32,
    iov: Iovecs,
    flags: i32,
    control: Option<(*mut libc::c_void, usize)>,
) -> Result<Got> {
    if flags & libc::MSG_ERRQUEUE != 0 {
        return Err(ERRQUEUE_EMPTY);
    }
    // Linux's __skb_recv_udp takes the pending error before any datagram queued (sock_error
    // first): the error header the service queued comes after those, so the board tells sooner.
    if board::count().is_some() {
        if let Some(sock) = super::state::get(fd) {
            pending_error(&sock, fd)?;
        }
    }
    let flags = flags & (libc::MSG_DONTWAIT | libc::MSG_PEEK | libc::MSG_TRUNC | libc::MSG_WAITALL);
    loop {
        let mut header = [0u8; DGRAM_HEADER];
        let mut all = behind_header(header.as_mut_ptr(), iov)?;
        let mut msg = message(&mut all);
        if let Some((at, len)) = control {
            msg.msg_control = at;
            msg.msg_controllen = len;
        }
        let n = check(libc::syscall(
            libc::SYS_recvmsg,
            fd,
            &mut msg as *mut libc::msghdr,
            flags & !libc::MSG_WAITALL,
        ))?;
        if n == 0 {
            // The socketpair's end of file: the socket's reading shut (a shutdown here or in
            // another process sharing it), where Linux's UDP receive returns 0 once the queue is
            // empty, and no address; or the service gone, when nothing will ever come.
            let probe =
                client::call_running(proto::Target::Existing, proto::Call::LocalAddr, Some(fd));
            if probe.0.is_ok() {
                // A call that does not wait never meets the shutdown there: EAGAIN, as
                // __skb_recv_udp's with no time to wait.
                if flags & libc::MSG_DONTWAIT != 0
                    || super::sockets::is_nonblocking(fd).unwrap_or(false)
                {
                    return Err(Errno::EAGAIN);
                }
                return Ok(Got {
                    len: 0,
                    from: None,
                    incoming: None,
                    truncated: false,
                    control_len: 0,
                    control_truncated: false,
                });
            }
            return Err(Errno::ECONNABORTED);
        }
        if let Some(e) = proto::parse_dgram_error(&header) {
            if flags & libc::MSG_PEEK != 0 {
                // Reported once: take it off the queue.
                let _ = libc::syscall(
                    libc::SYS_recvmsg,
                    fd,
                    &mut msg as *mut libc::msghdr,
                    libc::MSG_DONTWAIT,
                );
            }
            // The service holds the error as Linux's sk_err, which SO_ERROR may have taken since
            // this header was queued: report it only if still pending (sock_error clears it for
            // whichever call reads it first), else go on to the next datagram.
            match super::sockets::request(fd, proto::Call::TakeError) {
                Ok(proto::Value::Int(0)) => continue,
                Ok(proto::Value::Int(e)) => return Err(Errno(e)),
                _ => return Err(e),
            }
        }
        let incoming = proto::Incoming::parse(&header);
        return Ok(Got {
            len: n.saturating_sub(DGRAM_HEADER),
            from: incoming.map(|i| i.from),
            incoming,
            truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
            control_len: if control.is_some() {
                msg.msg_controllen
            } else {
                0
            },
            control_truncated: msg.msg_flags & libc::MSG_CTRUNC != 0,
        });
    }
}

impl Got {
    /// The sender is IPv6's loopback `[::1]` (and `from`'s port).
    pub fn from_ipv6_loopback(&self) -> bool {
        self.incoming.is_some_and(|i| i.from_ipv6_loopback)
    }
}

/// FIONREAD on a UDP stack socket: the next datagram's length, 0 if none, as Linux's
/// `first_packet_length` (the socketpair's own FIONREAD would count every datagram queued, and
/// our headers). A peek with MSG_TRUNC tells the whole length of the next record. An error the
/// service queued there is no datagram: 0, though one may wait behind it.
pub fn udp_next_len(fd: i32) -> Result<i32> {
    let mut header = [0u8; DGRAM_HEADER];
    // SAFETY: `header` has room for what is asked.
    let n = unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            fd,
            header.as_mut_ptr(),
            header.len(),
            libc::MSG_PEEK | libc::MSG_TRUNC | libc::MSG_DONTWAIT,
            std::ptr::null_mut::<libc::sockaddr>(),
            std::ptr::null_mut::<libc::socklen_t>(),
        )
    };
    if n < 0 {
        return match super::hook::errno() {
            libc::EAGAIN => Ok(0),
            e => Err(Errno(e)),
        };
    }
    if (n as usize) < DGRAM_HEADER || proto::parse_dgram_error(&header).is_some() {
        return Ok(0);
    }
    Ok((n as usize - DGRAM_HEADER).min(i32::MAX as usize) as i32)
}

/// A blocking send on a TCP stack socket with SO_SNDTIMEO: the whole call is bounded by the
/// timeout, as Linux's `tcp_sendmsg` bounds it (the socketpair would wait that long for each piece).
/// Returns what was sent; EAGAIN if nothing was when the time ran out; EINTR if a signal came
/// first (a timeout makes it EINTR whatever SA_RESTART says, man 7 signal).
///
/// # Safety
/// `iov` must be valid iovecs.
pub unsafe fn send_bounded(
    fd: i32,
    iov: &[libc::iovec],
    flags: i32,
    timeout: std::time::Duration,
) -> Result<usize> {
    let deadline = std::time::Instant::now() + timeout;
    let mut parts: Vec<libc::iovec> = iov.iter().copied().filter(|v| v.iov_len > 0).collect();
    let total: usize = parts.iter().map(|v| v.iov_len).sum();
    let mut sent = 0;
    if total == 0 {
        // Nothing to send still asks the socket: Linux's tcp_sendmsg_locked says EPIPE (or the
        // pending error) for a connection shut for writing or over, as the socketpair's empty
        // send does once its end is shut or hung up (unix_stream_sendmsg's SEND_SHUTDOWN check).
        // Not MSG_OOB, which an AF_UNIX stream refuses without a byte to mark (Linux's TCP sends
        // nothing urgent then, and says 0).
        // SAFETY: plain data, zero is valid; an empty message.
        let msg: libc::msghdr = std::mem::zeroed();
        let r = libc::syscall(
            libc::SYS_sendmsg,
            fd,
            &msg as *const libc::msghdr,
            (tcp_send_flags(flags) & !libc::MSG_OOB) | libc::MSG_DONTWAIT,
        );
        return match (r, super::hook::errno()) {
            (0.., _) => Ok(0),
            (_, libc::EPIPE | libc::ENOTCONN) => Err(tcp_send_error(fd, flags)),
            (_, e) => Err(Errno(e)),
        };
    }
    while sent < total {
        // SAFETY: plain data, zero is valid.
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = parts.as_mut_ptr();
        msg.msg_iovlen = parts.len();
        let r = libc::syscall(
            libc::SYS_sendmsg,
            fd,
            &msg as *const libc::msghdr,
            tcp_send_flags(flags) | libc::MSG_DONTWAIT,
        );
        if r > 0 {
            let mut n = r as usize;
            sent += n;
            while n > 0 {
                let first = &mut parts[0];
                if n >= first.iov_len {
                    n -= first.iov_len;
                    parts.remove(0);
                } else {
                    first.iov_base = (first.iov_base as *mut u8).add(n).cast();
                    first.iov_len -= n;
                    n = 0;
                }
            }
            continue;
        }
        let e = super::hook::errno();
        if r < 0 && e != libc::EAGAIN {
            return match (sent, e) {
                (0, libc::EPIPE | libc::ENOTCONN) => Err(tcp_send_error(fd, flags)),
                (0, _) => Err(Errno(e)),
                _ => Ok(sent),
            };
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        let mut p = [libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        }];
        let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        if libc::syscall(libc::SYS_poll, p.as_mut_ptr(), 1, ms) < 0
            && super::hook::errno() == libc::EINTR
        {
            return if sent > 0 {
                Ok(sent)
            } else {
                Err(Errno::EINTR)
            };
        }
    }
    if sent == 0 && total > 0 {
        return Err(Errno::EAGAIN);
    }
    Ok(sent)
}

/// The first send on a socket whose Fast Open SYN waits for it (a connect deferred with a cookie at
/// hand, or without one in no-cookie mode): if it does not block, it gives the SYN only what the
/// SYN carries and returns that (`Some(room)`), as Linux's tcp_sendmsg_locked returns
/// tcp_send_syn_data's count while the connect is in progress; a blocking one sends all, the rest
/// after the handshake. Any later send is an ordinary one.
pub fn syn_share(sock: &OpenSocket, fd: i32, flags: i32) -> Option<usize> {
    if sock.syn_room.load(Ordering::Relaxed) == usize::MAX {
        return None;
    }
    let room = sock.syn_room.swap(usize::MAX, Ordering::Relaxed);
    // SAFETY: F_GETFL takes no argument.
    let fl = unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_GETFL) };
    let nonblocking =
        flags & libc::MSG_DONTWAIT != 0 || (fl >= 0 && fl as i32 & libc::O_NONBLOCK != 0);
    (room != usize::MAX && nonblocking).then_some(room)
}

/// The first `room` bytes of `iov`.
pub fn clip_iov(iov: &[libc::iovec], room: usize) -> Vec<libc::iovec> {
    let mut left = room;
    let mut out = Vec::new();
    for v in iov {
        if left == 0 {
            break;
        }
        let n = v.iov_len.min(left);
        out.push(libc::iovec {
            iov_base: v.iov_base,
            iov_len: n,
        });
        left -= n;
    }
    out
}

/// The SO_SNDTIMEO a blocking send on `sock` must honour itself, if any.
pub fn send_timeout(sock: &OpenSocket, fd: i32, flags: i32) -> Option<std::time::Duration> {
    super::sockets::learn_settings(sock, fd);
    let us = sock.sndtimeo_us.load(Ordering::Relaxed);
    if us == 0 || flags & libc::MSG_DONTWAIT != 0 {
        return None;
    }
    // SAFETY: F_GETFL takes no argument.
    let fl = unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_GETFL) };
    if fl < 0 || fl as i32 & libc::O_NONBLOCK != 0 {
        return None;
    }
    Some(std::time::Duration::from_micros(us))
}

/// How long a blocking read on a TCP stack socket looks for data before it sleeps, by default.
/// The answer to a request is often a few microseconds away (the service busy-polls the TAP); a
/// thread that finds it awake skips a sleep and a wake-up (Linux's SO_BUSY_POLL / busy_read for
/// a device queue; here the socketpair is the queue).
pub const DEFAULT_BUSY_READ: std::time::Duration = std::time::Duration::from_micros(50);

/// `TAPSTACK_BUSY_READ` (microseconds, 0 to 100000; 0 turns it off), read once, at the first
/// blocking read. A bad value in the environment is said once on standard error, and the default
/// used (`tapstack_set` refuses one at once).
fn busy_read() -> std::time::Duration {
    static BUSY_READ: once_cell::sync::Lazy<std::time::Duration> =
        once_cell::sync::Lazy::new(|| {
            let Some(v) = client::setting("TAPSTACK_BUSY_READ") else {
                return DEFAULT_BUSY_READ;
            };
            crate::service::parse_busy_read(&v).unwrap_or_else(|e| {
                client::say(&format!("{e}; using {} µs", DEFAULT_BUSY_READ.as_micros()));
                DEFAULT_BUSY_READ
            })
        });
    *BUSY_READ
}

/// Before a blocking read on TCP stack socket `fd` (with `flags`): looks for something to read
/// without sleeping, for up to [`busy_read`], giving the CPU away between looks so that a
/// process sharing it (the service with the answer) runs. Returns at once for a non-blocking
/// read, when data, end of file or an error is there, or when the time is up; the read that
/// follows then sleeps as before, so an idle socket costs no CPU past that moment.
pub fn spin_before_read(sock: &OpenSocket, fd: i32, flags: i32) {
    let budget = busy_read();
    if budget.is_zero()
        || super::hook::sandboxed()
        || flags & libc::MSG_DONTWAIT != 0
        || sock.nonblocking_hint.load(Ordering::Relaxed)
    {
        return;
    }
    let ready = || {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN | libc::POLLRDHUP,
            revents: 0,
        };
        // SAFETY: one pollfd, no wait.
        unsafe { libc::syscall(libc::SYS_poll, &mut p as *mut libc::pollfd, 1, 0) > 0 }
    };
    if ready() {
        return;
    }
    // SAFETY: F_GETFL takes no argument.
    let fl = unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_GETFL) };
    if fl < 0 {
        return;
    }
    if fl as i32 & libc::O_NONBLOCK != 0 {
        sock.nonblocking_hint.store(true, Ordering::Relaxed);
        return;
    }
    // Not while the CPUs are contended (crate::spin): then spinning delays the answer.
    if !crate::spin::allowed() {
        return;
    }
    let start = std::time::Instant::now();
    while start.elapsed() < budget {
        let handed_over = crate::spin::give_way();
        if ready() {
            break;
        }
        if handed_over {
            // Another task had the CPU and the answer did not come: contention.
            crate::spin::pause();
            return;
        }
    }
    crate::spin::ended_in_peace();
}

/// What `readv` or `writev` of `iovcnt` vectors at `iov` comes to before any socket sees it:
/// import_iovec's EINVAL for a count past IOV_MAX and EFAULT for an array it cannot read, and
/// then, for vectors of no bytes at all, 0 (vfs_readv and vfs_writev return at once when
/// `iov_iter_count` is 0). None: the socket has the call.
///
/// # Safety
/// `iov` is the program's pointer, checked before it is read.
pub unsafe fn vectored_io_settled(iov: *const libc::iovec, iovcnt: i32) -> Option<Result<isize>> {
    if !(0..=libc::UIO_MAXIOV).contains(&iovcnt) {
        return Some(Err(Errno::EINVAL));
    }
    match super::user::Iovecs::Program(iov, iovcnt as usize).checked() {
        Err(e) => Some(Err(e)),
        Ok(parts) if parts.iter().all(|v| v.iov_len == 0) => Some(Ok(0)),
        Ok(_) => None,
    }
}

/// A TCP `sendmsg`'s control messages, checked as Linux's tcp_sendmsg checks them
/// (sock_cmsg_send): each whole (CMSG_OK), and of SOL_SOCKET only those __sock_cmsg_send takes:
/// SCM_RIGHTS and SCM_CREDENTIALS (passed over by an IP socket), SO_MARK and SO_PRIORITY of an
/// int each (for this send alone, which means nothing to a TCP stream; SO_MARK, and a priority
/// beyond 6, want CAP_NET_RAW or CAP_NET_ADMIN: EPERM), SO_TIMESTAMPING of an int holding only
/// transmit-stamp flags (EINVAL for any other; asking for a stamp is EOPNOTSUPP, as the option
/// is, since the stack has no error queue to put it on); any other SOL_SOCKET message is EINVAL,
/// any other level passed over. Nothing in them reaches the socketpair, whose
/// own AF_UNIX sendmsg would pass SCM_RIGHTS on, check SCM_CREDENTIALS, and refuse the rest.
///
/// # Safety
/// `msg` must be a readable `msghdr`; its control buffer is checked before it is read.
pub unsafe fn stream_control_ok(msg: &libc::msghdr) -> Result<()> {
    const SO_TIMESTAMPING_OLD: i32 = 37;
    const SO_TIMESTAMPING_NEW: i32 = 65;
    // SOF_TIMESTAMPING_TX_HARDWARE | _TX_SOFTWARE | _TX_SCHED | _TX_ACK.
    const SOF_TIMESTAMPING_TX_RECORD_MASK: u32 = 1 | 1 << 1 | 1 << 8 | 1 << 9;
    if msg.msg_control.is_null() || msg.msg_controllen == 0 {
        return Ok(());
    }
    super::user::check_read(msg.msg_control.cast(), msg.msg_controllen)?;
    let header = std::mem::size_of::<libc::cmsghdr>();
    let end = msg.msg_control as usize + msg.msg_controllen;
    let mut c = libc::CMSG_FIRSTHDR(msg);
    while !c.is_null() {
        let head = std::ptr::read_unaligned(c);
        if head.cmsg_len < header || head.cmsg_len > end - c as usize {
            return Err(Errno::EINVAL);
        }
        let int_sized = head.cmsg_len == libc::CMSG_LEN(4) as usize;
        let value = || {
            std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const u32) // int_sized checked first
        };
        if head.cmsg_level == libc::SOL_SOCKET {
            // __sock_cmsg_send, in its order of checks.
            match head.cmsg_type {
                libc::SCM_RIGHTS | libc::SCM_CREDENTIALS => {}
                libc::SO_MARK if !crate::service::client::may_mark_packets() => {
                    return Err(Errno::EPERM)
                }
                libc::SO_MARK if int_sized => {}
                libc::SO_PRIORITY if int_sized => {
                    if value() > 6 && !crate::service::client::may_mark_packets() {
                        return Err(Errno::EPERM);
                    }
                }
                SO_TIMESTAMPING_OLD | SO_TIMESTAMPING_NEW if int_sized => {
                    let flags = value();
                    if flags & !SOF_TIMESTAMPING_TX_RECORD_MASK != 0 {
                        return Err(Errno::EINVAL);
                    }
                    if flags != 0 {
                        return Err(Errno::EOPNOTSUPP);
                    }
                }
                _ => return Err(Errno::EINVAL),
            }
        }
        c = libc::CMSG_NXTHDR(msg, c);
    }
    Ok(())
}

/// What a UDP `sendmsg`'s control messages ask of its datagram, checked as Linux's
/// `ip_cmsg_send` and the route lookup after it check them: IP_PKTINFO (the source address
/// `ipi_spec_dst`, which must be ours or 0.0.0.0, and the interface `ipi_ifindex`, which must
/// exist; the stack has one of each, so the datagram goes as it would without), IP_TTL and
/// IP_TOS (this datagram's own). Other SOL_IP and SOL_SOCKET messages are EINVAL, except the
/// SOL_SOCKET ones Linux takes and that change nothing here, and so is UDP_SEGMENT (not built);
/// other levels are passed over, as Linux passes them over. A loopback source is taken for a
/// destination on loopback (`to`, or IPv6's, `to_ipv6_loopback`), as a wildcard server's reply
/// to a loopback client names it: the socket's twin there sends from it.
///
/// # Safety
/// `msg` must be a readable `msghdr`; its control buffer is checked before it is read.
pub unsafe fn send_control(
    msg: &libc::msghdr,
    to: Option<std::net::SocketAddrV4>,
    to_ipv6_loopback: bool,
    inet6: bool,
) -> Result<proto::Outgoing> {
    let mut own = proto::Outgoing::default();
    if msg.msg_control.is_null() || msg.msg_controllen == 0 {
        return Ok(own);
    }
    super::user::check_read(msg.msg_control.cast(), msg.msg_controllen)?;
    let header = std::mem::size_of::<libc::cmsghdr>();
    let end = msg.msg_control as usize + msg.msg_controllen;
    let mut source = None;
    let mut ifindex = 0u32;
    let mut c = libc::CMSG_FIRSTHDR(msg);
    while !c.is_null() {
        let head = std::ptr::read_unaligned(c);
        // Linux's CMSG_OK: a whole header, and no longer than what is left.
        if head.cmsg_len < header || head.cmsg_len > end - c as usize {
            return Err(Errno::EINVAL);
        }
        let data = std::slice::from_raw_parts(libc::CMSG_DATA(c), head.cmsg_len - header);
        let exact = |n: usize| head.cmsg_len == libc::CMSG_LEN(n as u32) as usize;
        let int = |d: &[u8]| i32::from_ne_bytes([d[0], d[1], d[2], d[3]]);
        match (head.cmsg_level, head.cmsg_type) {
            (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                if !exact(std::mem::size_of::<libc::in_pktinfo>()) {
                    return Err(Errno::EINVAL);
                }
                let i = std::ptr::read_unaligned(data.as_ptr() as *const libc::in_pktinfo);
                if i.ipi_ifindex != 0 {
                    ifindex = i.ipi_ifindex as u32;
                }
                source = Some(std::net::Ipv4Addr::from(u32::from_be(
                    i.ipi_spec_dst.s_addr,
                )));
            }
            (libc::IPPROTO_IP, libc::IP_TTL) => {
                if !exact(4) || !(1..=255).contains(&int(data)) {
                    return Err(Errno::EINVAL);
                }
                own.ttl = Some(int(data) as u8);
            }
            (libc::IPPROTO_IP, libc::IP_TOS) => {
                let v = if exact(4) {
                    int(data)
                } else if exact(1) {
                    i32::from(data[0])
                } else {
                    return Err(Errno::EINVAL);
                };
                if !(0..=255).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                own.tos = Some(v as u8);
            }
            (libc::IPPROTO_IP, _) => return Err(Errno::EINVAL),
            // An AF_INET6 socket's datagram to an IPv4-mapped peer: Linux's ip_cmsg_send takes
            // IPV6_PKTINFO as IP_PKTINFO, its address IPv4-mapped (any other is EINVAL). An
            // AF_INET socket passes it over, as ip_cmsg_send does without allow_ipv6. (To ::1 it
            // is ip6_datagram_send_ctl's, passed over here.)
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) if inet6 && !to_ipv6_loopback => {
                if data.len() < std::mem::size_of::<libc::in6_pktinfo>() {
                    return Err(Errno::EINVAL);
                }
                let i = std::ptr::read_unaligned(data.as_ptr() as *const libc::in6_pktinfo);
                let a = std::net::Ipv6Addr::from(i.ipi6_addr.s6_addr);
                let Some(v4) = a.to_ipv4_mapped() else {
                    return Err(Errno::EINVAL);
                };
                if i.ipi6_ifindex != 0 {
                    ifindex = i.ipi6_ifindex;
                }
                source = Some(v4);
            }
            // __sock_cmsg_send: these are taken (SCM_RIGHTS and SCM_CREDENTIALS mean nothing to
            // an IP socket); any other is EINVAL.
            (
                libc::SOL_SOCKET,
                libc::SCM_RIGHTS | libc::SCM_CREDENTIALS | libc::SO_MARK | libc::SO_PRIORITY,
            ) => {}
            (libc::SOL_SOCKET, _) => return Err(Errno::EINVAL),
            // Segmentation offload (udp_cmsg_send) is not built: refused rather than one big
            // datagram sent where the program asked for many.
            (libc::SOL_UDP, libc::UDP_SEGMENT) => {
                log::debug!("UDP_SEGMENT is not supported by this stack");
                return Err(Errno::EINVAL);
            }
            _ => {}
        }
        c = libc::CMSG_NXTHDR(msg, c);
    }
    if let Some(ip) = source.filter(|ip| !ip.is_unspecified()) {
        // ip_route_output_key_hash_rcu: a source that can be no one's is EINVAL, one that is
        // not ours ENETUNREACH; then an interface that does not exist, ENODEV.
        let first = ip.octets()[0];
        let to_loopback =
            to_ipv6_loopback || to.is_some_and(|a| a.ip().is_loopback() || a.ip().is_unspecified());
        if ip.is_loopback() && to_loopback {
            // __mkroute_output refuses a loopback source only off loopback. (IPv6's loopback
            // takes no IPv4 control message: udpv6_sendmsg passes them over.)
            own.from_loopback = (!to_ipv6_loopback).then_some(ip);
        } else if ip.is_multicast() || ip.is_broadcast() || ip.is_loopback() || first == 0 {
            return Err(Errno::EINVAL);
        } else if client::config().map_or(true, |c| c.addr != ip) {
            return Err(Errno(libc::ENETUNREACH));
        }
    }
    if ifindex != 0 && !interface_exists(ifindex) {
        return Err(Errno(libc::ENODEV));
    }
    Ok(own)
}

/// Whether the namespace has an interface with index `ifindex` (SIOCGIFNAME on a kernel socket
/// of the shim's own, made and closed here).
fn interface_exists(ifindex: u32) -> bool {
    // SAFETY: plain system calls; the request is a zeroed `struct ifreq` the kernel fills.
    unsafe {
        let s = libc::syscall(
            libc::SYS_socket,
            libc::AF_INET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            0,
        );
        if s < 0 {
            // Cannot tell: let the datagram go, as it would without the interface named.
            return true;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        req.ifr_ifru.ifru_ifindex = ifindex as i32;
        let r = libc::syscall(
            libc::SYS_ioctl,
            s,
            libc::SIOCGIFNAME,
            &mut req as *mut libc::ifreq,
        );
        libc::syscall(libc::SYS_close, s);
        r == 0
    }
}

/// The IP control messages of a received datagram that its socket asked for, after the
/// kernel's (the receive timestamps), in the order of Linux's `udpv6_recvmsg` and
/// `ip_cmsg_recv_offset`: an AF_INET6 socket's IPV6_PKTINFO (the destination IPv4-mapped, or
/// `::1` for a datagram from IPv6 loopback), then IP_PKTINFO
/// (`ipi_addr` the datagram's destination; `ipi_spec_dst` that, or our address for a broadcast,
/// as fib_compute_spec_dst gives it), IP_TTL (an int), IP_TOS (one byte), IP_ORIGDSTADDR (a
/// `sockaddr_in`).
///
/// # Safety
/// As [`super::stamps::ControlOut::put`].
pub unsafe fn put_ip_control(inc: &proto::Incoming, out: &mut super::stamps::ControlOut) {
    use proto::report;
    let dst = *inc.dst.ip();
    if inc.report & report::PKTINFO6 != 0 {
        let addr = if inc.from_ipv6_loopback {
            std::net::Ipv6Addr::LOCALHOST
        } else {
            dst.to_ipv6_mapped()
        };
        let info = libc::in6_pktinfo {
            ipi6_addr: libc::in6_addr {
                s6_addr: addr.octets(),
            },
            ipi6_ifindex: inc.ifindex,
        };
        out.put(libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, bytes_of(&info));
    }
    if inc.report & report::PKTINFO != 0 {
        let spec_dst = if is_broadcast(&dst) {
            client::config().map_or(dst, |c| c.addr)
        } else {
            dst
        };
        let info = libc::in_pktinfo {
            ipi_ifindex: inc.ifindex as i32,
            ipi_spec_dst: libc::in_addr {
                s_addr: u32::from(spec_dst).to_be(),
            },
            ipi_addr: libc::in_addr {
                s_addr: u32::from(dst).to_be(),
            },
        };
        out.put(libc::IPPROTO_IP, libc::IP_PKTINFO, bytes_of(&info));
    }
    if inc.report & report::TTL != 0 {
        out.put(
            libc::IPPROTO_IP,
            libc::IP_TTL,
            &i32::from(inc.ttl).to_ne_bytes(),
        );
    }
    if inc.report & report::TOS != 0 {
        out.put(libc::IPPROTO_IP, libc::IP_TOS, &[inc.tos]);
    }
    if inc.report & report::ORIGDSTADDR != 0 {
        let sin = crate::sys::sockaddr_in(inc.dst);
        out.put(libc::IPPROTO_IP, libc::IP_ORIGDSTADDR, bytes_of(&sin));
    }
}

/// The bytes of a plain C struct.
fn bytes_of<T>(v: &T) -> &[u8] {
    // SAFETY: the structs passed here are plain data with no padding.
    unsafe { std::slice::from_raw_parts(v as *const T as *const u8, std::mem::size_of::<T>()) }
}
