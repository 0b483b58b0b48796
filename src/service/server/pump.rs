//! Moving data between the stack and the programs: each socketpair end's events, the passes
//! that carry TCP data, end of file, urgent data and errors between a connection and its
//! socketpair, a listener's tokens, UDP datagrams and their headers (with the loopback twins),
//! and a socket's release once its program's end is gone.

use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::{
    accept_queue_len, below_low_water, drain, ep_ctl, note_failure, size_program_end, token, Phase,
    Service, Sock, CHUNK, GRAVEYARD, MEMORY_RETRY_MS, RECHECK, SOFT_ERROR_NAME_PREFIX, SPARES,
    TAG_LOOPBACK, TAG_UDP_LOOPBACK,
};
use crate::error::{Errno, Result};
use crate::service::board;
use crate::service::loopback;
use crate::service::options;
use crate::service::proto::{self, Kind, Value};
use crate::service::udp_loopback::{self, UdpTwin};
use crate::service::uds;
use crate::stack::{PerDatagram, Shutdown, SocketHandle, Stack};

impl Service {
    pub(super) fn sock_event(&mut self, i: usize, flags: u32) {
        let Some(sock) = self.socks.get_mut(i) else {
            return;
        };
        if flags & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP) as u32 != 0 {
            sock.b_readable = true;
        }
        if flags & libc::EPOLLOUT as u32 != 0 {
            sock.b_writable = true;
        }
        if flags & libc::EPOLLPRI as u32 != 0 {
            sock.b_urgent = true;
            sock.b_readable = true;
        }
        if flags & (libc::EPOLLRDHUP | libc::EPOLLHUP) as u32 != 0 {
            sock.b_shut_seen = true;
        }
        if flags & libc::EPOLLERR as u32 != 0 {
            sock.b_err_seen = true;
        }
        if flags & libc::EPOLLHUP as u32 != 0 && !sock.app_gone {
            if self.alive(i) {
                // Shut both ways but still held (a program's shutdown(SHUT_RDWR), or our own after
                // an error): look again later.
                if !self.doubtful.contains(&i) {
                    self.doubtful.push(i);
                }
                self.next_recheck
                    .get_or_insert_with(|| std::time::Instant::now() + RECHECK);
            } else if let Some(sock) = self.socks.get_mut(i) {
                sock.app_gone = true;
            }
        }
        self.pump(i);
    }

    /// The TCP_NOTSENT_LOWAT mark in effect on stack socket `h` (`u32::MAX`: none).
    pub(super) fn notsent_mark(&self, h: SocketHandle) -> u32 {
        self.stack
            .tcp_socket_ref(h)
            .map_or(u32::MAX, |t| t.config.notsent_lowat)
    }

    /// Whether the descriptor table has room for a whole graveyard and more, by a generous count
    /// of what the service holds (each socket two at most, its end and a held end while it
    /// connects; a client one; its own few) against RLIMIT_NOFILE, read anew (prlimit may
    /// change it).
    pub(super) fn far_from_limit(&self) -> bool {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `lim` is a valid out pointer.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            return false;
        }
        let held = 2 * self.socks.len() + self.clients.len() + 2 * GRAVEYARD + 256;
        (held as u64) < lim.rlim_cur
    }

    /// Whether the program's end of socket `i` is still held by anyone. Its name tells first, and
    /// cheaply: the kernel frees it with the end's last descriptor, so a name free to bind means
    /// the end is gone. A name still taken is asked of sock_diag by inode, which no other socket
    /// bearing the name could fool (sock_diag's lookup walks every UNIX socket of the namespace,
    /// so it is kept for that rarer answer: a shutdown both ways, not a close). The probe, bound
    /// to the name, is closed with the next released sockets' ends ([`Service::bury`]).
    pub(super) fn alive(&mut self, i: usize) -> bool {
        let Some(sock) = self.socks.get(i) else {
            return false;
        };
        let ty = match sock.kind {
            Kind::Stream => libc::SOCK_STREAM,
            Kind::Dgram => libc::SOCK_SEQPACKET,
        };
        if !sock.name.is_empty() {
            if let Ok(Some(probe)) = uds::claim_abstract_name(ty, &sock.name) {
                self.bury(probe);
                return false;
            }
        }
        self.diag
            .as_ref()
            .is_none_or(|d| uds::unix_socket_alive(d, sock.ino))
    }

    pub(super) fn recheck_doubtful(&mut self) {
        let list = std::mem::take(&mut self.doubtful);
        for i in list {
            if self.socks.get(i).is_none() {
                continue;
            }
            if self.alive(i) {
                self.doubtful.push(i);
            } else if let Some(sock) = self.socks.get_mut(i) {
                sock.app_gone = true;
                self.pump(i);
            }
        }
        self.next_recheck =
            (!self.doubtful.is_empty()).then(|| std::time::Instant::now() + RECHECK);
    }

    /// Moves whatever can move for socket `i`, and ends it when the program is gone.
    pub(super) fn pump(&mut self, i: usize) {
        self.mark_soft_error(i);
        let Some(sock) = self.socks.get(i) else {
            return;
        };
        match (&sock.phase, sock.kind) {
            (Phase::Connecting { .. }, _) => self.check_connect(i),
            (Phase::Listening { .. }, _) => self.pump_listener(i),
            (Phase::Open, Kind::Stream) => self.pump_tcp(i),
            (_, Kind::Dgram) => self.pump_udp(i),
            (Phase::Fresh, Kind::Stream) => self.discard_app_writes(i),
        }
        let Some(sock) = self.socks.get(i) else {
            return;
        };
        if sock.app_gone {
            let drained = sock.app_eof;
            // Data the program never read ends the connection with RST, as Linux's tcp_close
            // (RFC 2525 §2.17), a FIN sent before or not (a shutdown, then a close): what it
            // left in its end of the pair (B then reports ECONNRESET), or what is still in the
            // stack's receive queue.
            let unread_in_stack = matches!(sock.phase, Phase::Open)
                && self
                    .stack
                    .tcp_socket_ref(sock.h)
                    .and_then(|t| t.connection())
                    .is_some_and(|c| c.recv_queue_len() > 0);
            let reset = sock.app_reset
                || unread_in_stack
                || (sock.b_err_seen
                    && uds::get_int(sock.b.as_raw_fd(), libc::SOL_SOCKET, libc::SO_ERROR)
                        .is_ok_and(|e| e == libc::ECONNRESET));
            let done = match (&sock.phase, sock.kind) {
                (Phase::Open, Kind::Stream) => drained || reset || sock.broken,
                _ => true,
            };
            if done {
                self.release(i, reset);
            }
        }
    }

    /// Names B once socket `i`'s connection holds a soft error, so that the program's SO_ERROR,
    /// which answers 0 by itself while B is unnamed, asks the service (a socket binds once: B
    /// stays named, and later SO_ERROR calls always ask).
    pub(super) fn mark_soft_error(&mut self, i: usize) {
        let Some(sock) = self.socks.get_mut(i) else {
            return;
        };
        if sock.kind != Kind::Stream || sock.b_named || !self.stack.tcp_soft_error_pending(sock.h) {
            return;
        }
        self.serial += 1;
        let mut name = SOFT_ERROR_NAME_PREFIX.to_vec();
        name.extend_from_slice(format!("{}/{}", std::process::id(), self.serial).as_bytes());
        if uds::bind_abstract(sock.b.as_raw_fd(), &name).is_err() {
            log::warn!("a socket's soft error could not be marked: SO_ERROR may miss it");
        }
        // Tried once either way: a bind that failed would fail again.
        sock.b_named = true;
    }

    /// Data written on a socket that is not connected goes nowhere.
    pub(super) fn discard_app_writes(&mut self, i: usize) {
        let Service { socks, scratch, .. } = self;
        let Some(sock) = socks.get_mut(i) else {
            return;
        };
        while sock.b_readable && !sock.app_eof {
            match uds::read(sock.b.as_raw_fd(), scratch) {
                Ok(0) => sock.app_eof = true,
                Ok(_) => {}
                Err(_) => sock.b_readable = false,
            }
        }
    }

    pub(super) fn check_connect(&mut self, i: usize) {
        let sock = self.socks.get_mut(i).expect("present");
        let status = self.stack.tcp_connect_status(sock.h);
        if status == Err(Errno::EAGAIN) {
            return;
        }
        let Phase::Connecting {
            hold,
            filler,
            sndbuf,
        } = std::mem::replace(&mut sock.phase, Phase::Fresh)
        else {
            return;
        };
        let waiters = std::mem::take(&mut sock.waiters);
        match status {
            Ok(()) => {
                // Take the filler back: A becomes writable, and the program's poll wakes.
                drain(sock.b.as_raw_fd(), filler);
                let mark = self
                    .stack
                    .tcp_socket_ref(sock.h)
                    .map_or(u32::MAX, |t| t.config.notsent_lowat);
                if mark == u32::MAX {
                    // setsockopt doubles what it is given; getsockopt reported the doubled value.
                    let _ = uds::set_int(
                        hold.as_raw_fd(),
                        libc::SOL_SOCKET,
                        libc::SO_SNDBUF,
                        sndbuf / 2,
                    );
                } else {
                    size_program_end(hold.as_raw_fd(), mark);
                }
                drop(hold);
                sock.phase = Phase::Open;
                sock.connected = Some(Ok(()));
            }
            Err(e) => {
                // As the kernel: SO_ERROR holds the error, the socket polls as in error, writable
                // and hung up; a blocking connect returns the error.
                sock.error = Some(e);
                sock.connected = Some(Err(e));
                sock.broken = true;
                self.hang_up_failed(i, hold, filler);
            }
        }
        let sock = self.socks.get_mut(i).expect("present");
        let answer = sock.connected.expect("just set");
        if !waiters.is_empty() {
            sock.connected = None;
            if let Err(e) = answer {
                if sock.error == Some(e) {
                    sock.error = None;
                }
            }
        }
        self.answer_waiters(waiters, answer.map(|_| Value::None));
        if self.spares.len() < SPARES {
            // A spare's number may have been what held A during the connect.
            self.regain_spare();
        }
        if answer.is_ok() {
            self.pump_tcp(i);
        }
    }

    pub(super) fn pump_listener(&mut self, i: usize) {
        let sock = self.socks.get_mut(i).expect("present");
        let stack_queued = accept_queue_len(&self.stack, sock.h);
        let mut queued = stack_queued;
        if let Some(twin) = sock.twin.as_mut() {
            twin.count_stack(stack_queued);
            queued += twin.waiting.len();
        }
        let Phase::Listening { tokens } = &mut sock.phase else {
            return;
        };
        while *tokens < queued {
            match uds::write(sock.b.as_raw_fd(), &[1]) {
                Ok(_) => *tokens += 1,
                Err(e) => {
                    log::debug!("token for {:?} not written: {e}", sock.h);
                    break;
                }
            }
        }

        // Whatever the program writes on a listener goes nowhere.
        if sock.b_readable {
            self.discard_app_writes(i);
        }
    }

    /// Gives listener `i`, listening on the wildcard, its twin on the kernel's loopback, or a
    /// new backlog to the one it has (a second `listen`). A listener on one address has none: on
    /// Linux it takes no loopback connection either.
    pub(super) fn open_twin(&mut self, i: usize, backlog: i32) {
        let Some(sock) = self.socks.get(i) else {
            return;
        };
        if let Some(twin) = &sock.twin {
            twin.relisten(backlog);
            return;
        }
        let Ok(local) = self.stack.local_addr(sock.h) else {
            return;
        };
        if !local.ip().is_unspecified() || self.full {
            return;
        }
        let options: Vec<proto::SetOption> = loopback::INHERITED
            .iter()
            .filter_map(|&(level, name)| {
                let value =
                    options::get(&mut self.stack, sock.h, sock.kind, &sock.extra, level, name);
                value
                    .ok()
                    .map(|value| proto::SetOption { level, name, value })
            })
            .collect();
        let twin = match loopback::Twin::open(sock.extra.inet6, local.port(), backlog, &options) {
            Ok(t) => t,
            Err(e) => {
                // A kernel program has the port on loopback (or the namespace no loopback).
                log::debug!(
                    "{:?} has no twin on loopback port {}: {e}",
                    sock.h,
                    local.port()
                );
                self.check_room();
                return;
            }
        };
        for fd in twin.listeners() {
            if let Err(e) = ep_ctl(
                self.ep.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd,
                (libc::EPOLLIN | libc::EPOLLET) as u32,
                token(TAG_LOOPBACK, i),
            ) {
                log::debug!("{:?}'s twin on loopback cannot be watched: {e}", sock.h);
                return;
            }
        }
        if let Some(sock) = self.socks.get_mut(i) {
            sock.twin = Some(Box::new(twin));
        }
        self.check_room();
    }

    /// Takes the connections listener `i`'s twin on loopback has accepted (up to
    /// [`loopback::HELD`]) and counts them in its tokens.
    pub(super) fn take_loopback(&mut self, i: usize) {
        let full = self.full;
        let Some(twin) = self.socks.get_mut(i).and_then(|s| s.twin.as_mut()) else {
            return;
        };
        if full {
            // Taken once a descriptor is free: at the next accept or connection.
            twin.behind = true;
            return;
        }
        let before = twin.waiting.len();
        let stopped = twin.take();
        let took = twin.waiting.len() > before;
        twin.behind = false;
        if let Some(e) = stopped {
            if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                twin.behind = true;
                self.note_full();
            } else {
                log::debug!("accepting on a twin on loopback failed: {e}");
            }
        }
        if took {
            self.check_room();
            self.pump_listener(i);
        }
    }

    /// Gives UDP socket `i`, bound to the wildcard, its twin on the kernel's loopback unless it
    /// has one. Returns whether it has one now (a socket bound to one address has none: on Linux
    /// it takes no loopback datagram either).
    pub(super) fn open_udp_twin(&mut self, i: usize) -> bool {
        let Some(sock) = self.socks.get_mut(i) else {
            return false;
        };
        let had = sock.udp_twin.is_some();
        let has = Self::udp_twin_for(&mut self.stack, self.ep.as_raw_fd(), self.full, sock, i);
        if has && !had {
            self.check_room();
        }
        has
    }

    /// [`Service::open_udp_twin`] on socket `sock` (at `i`), for a caller that holds it.
    pub(super) fn udp_twin_for(
        stack: &mut Stack,
        ep: RawFd,
        full: bool,
        sock: &mut Sock,
        i: usize,
    ) -> bool {
        if sock.udp_twin.is_some() {
            return true;
        }
        let Ok(local) = stack.local_addr(sock.h) else {
            return false;
        };
        if !local.ip().is_unspecified() || local.port() == 0 || full {
            return false;
        }
        let options: Vec<proto::SetOption> = udp_loopback::INHERITED
            .iter()
            .filter_map(|&(level, name)| {
                let value = options::get(stack, sock.h, sock.kind, &sock.extra, level, name);
                value
                    .ok()
                    .map(|value| proto::SetOption { level, name, value })
            })
            .collect();
        let twin = match UdpTwin::open(sock.extra.inet6, local.port(), &options) {
            Ok(t) => t,
            Err(e) => {
                // A kernel program has the port on loopback (or the namespace no loopback).
                log::debug!(
                    "{:?} has no UDP twin on loopback port {}: {e}",
                    sock.h,
                    local.port()
                );
                return false;
            }
        };
        for fd in twin.sockets() {
            if let Err(e) = ep_ctl(
                ep,
                libc::EPOLL_CTL_ADD,
                fd,
                libc::EPOLLIN as u32,
                token(TAG_UDP_LOOPBACK, i),
            ) {
                log::debug!("{:?}'s UDP twin on loopback cannot be watched: {e}", sock.h);
                return false;
            }
        }
        sock.udp_twin = Some(Box::new(twin));
        true
    }

    /// Connects UDP socket `i` to `peer` on loopback (127.x, or 0.0.0.0 for the local host, which
    /// Linux's connect makes 127.0.0.1): through its twin there, which a socket on the wildcard
    /// has or now gets. The stack socket itself is left unconnected. One bound to the stack's own
    /// address cannot (Linux would send from that address over `lo`, which the kernel here does
    /// not have): ENETUNREACH, as the stack answers for loopback; one whose port on loopback is a
    /// kernel program's, EADDRINUSE.
    pub(super) fn connect_loopback(&mut self, i: usize, peer: SocketAddrV4) -> Result<()> {
        if peer.port() == 0 {
            return Err(Errno::EINVAL);
        }
        let peer = if peer.ip().is_unspecified() {
            SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, peer.port())
        } else {
            peer
        };
        let h = self.socks.get(i).ok_or(Errno::EBADF)?.h;
        if !self.open_udp_twin(i) {
            let wildcard = self
                .stack
                .local_addr(h)
                .is_ok_and(|a| a.ip().is_unspecified());
            return Err(if wildcard {
                Errno::EADDRINUSE
            } else {
                Errno::ENETUNREACH
            });
        }
        self.stack.udp_connect(h, None)?;
        if let Some(sock) = self.socks.get_mut(i) {
            sock.loop_peer = Some(peer);
        }
        Ok(())
    }

    /// Passes what UDP socket `i`'s twin on loopback received into its socketpair, as datagrams
    /// from their senders (one connected to loopback takes only its peer's, one connected to a
    /// peer on the stack none). A datagram the program's queue cannot take is dropped, as a full
    /// receive buffer drops it.
    pub(super) fn pump_udp_twin(&mut self, i: usize) {
        let Service {
            socks,
            stack,
            scratch,
            ..
        } = self;
        let Some(sock) = socks.get_mut(i) else {
            return;
        };
        let Some(twin) = sock.udp_twin.as_ref() else {
            return;
        };
        let b = sock.b.as_raw_fd();
        let stack_peer = stack.peer_addr(sock.h).is_ok();
        // Level-triggered: what is left waits for the next round.
        for _ in 0..256 {
            let Some(got) = twin.recv(&mut scratch[proto::DGRAM_HEADER..]) else {
                break;
            };
            // Linux's connected socket takes only its peer's datagrams (__udp4_lib_lookup scores
            // a connected socket's peer).
            if stack_peer
                || sock
                    .loop_peer
                    .is_some_and(|peer| got.from_ipv6_loopback || got.from != peer)
            {
                continue;
            }
            let header = proto::Incoming {
                from: got.from,
                dst: SocketAddrV4::new(got.dst, twin.port()),
                ttl: got.ttl,
                tos: got.tos,
                ifindex: got.ifindex,
                // IPv6's datagrams come with none of IPv4's control messages (Linux's
                // udpv6_recvmsg gives them for IPv4 traffic only), IPV6_PKTINFO alone.
                report: if got.from_ipv6_loopback {
                    sock.extra.report & proto::report::PKTINFO6
                } else {
                    sock.extra.report
                },
                from_ipv6_loopback: got.from_ipv6_loopback,
            }
            .header();
            let payload = &scratch[proto::DGRAM_HEADER..proto::DGRAM_HEADER + got.len];
            if uds::send(b, &[&header, payload], None, libc::MSG_DONTWAIT).is_err() {
                log::debug!("a datagram on loopback was dropped: the program's queue is full");
            }
        }
    }

    pub(super) fn pump_tcp(&mut self, i: usize) {
        let now = self.now();
        let Service {
            socks,
            stack,
            scratch,
            ..
        } = self;
        let Some(sock) = socks.get_mut(i) else {
            return;
        };
        let h = sock.h;
        let b = sock.b.as_raw_fd();
        note_failure(stack, sock);
        // The network to the program: written from the receive buffer straight into B.
        for _ in 0..64 {
            if sock.eof_sent || sock.broken || !(sock.b_writable || sock.app_rd_shut) {
                break;
            }
            if sock.app_rd_shut && !sock.app_gone {
                // The program shut its reading: what arrives waits in the stack (acknowledged,
                // in the window) for its reads, as on Linux. Each arrival in order (data or FIN)
                // still wakes the program's end, as Linux's tcp_data_queue does whatever the
                // shutdown, so that edge-triggered epoll reports it: shutting B's sending again
                // changes nothing (A's reading is shut already) but wakes A (af_unix's
                // unix_shutdown calls the peer's sk_state_change).
                let mark = stack
                    .tcp_socket_ref(h)
                    .and_then(|t| t.connection())
                    .map(|c| c.rcv_nxt().0);
                if mark.is_some() && mark != sock.held_woken_at {
                    sock.held_woken_at = mark;
                    let _ = uds::shutdown(b, libc::SHUT_WR);
                }
                break;
            }
            if !sock.app_rd_shut {
                // The peer's urgent byte, once everything before it is in B: B's own
                // out-of-band byte, so A's reads stop at its mark, and SIOCATMARK,
                // recv(MSG_OOB), POLLPRI, SIGURG and SO_OOBINLINE on A are the kernel's.
                let mut sent = None;
                let took = stack.tcp_urgent_with(now, h, |byte| {
                    let r = uds::send(b, &[&[byte]], None, libc::MSG_DONTWAIT | libc::MSG_OOB);
                    let ok = r.is_ok();
                    sent = Some(r);
                    ok
                });
                match sent {
                    _ if took => {
                        sock.delivered_at = Some(now);
                        continue;
                    }
                    Some(Err(e)) if e.raw_os_error() == Some(libc::EAGAIN) => {
                        sock.b_writable = false;
                        break;
                    }
                    Some(Err(e)) => {
                        sock.app_reset |= e.raw_os_error() == Some(libc::ECONNRESET);
                        sock.app_rd_shut = true;
                        continue;
                    }
                    _ => {}
                }
            }
            if !sock.app_rd_shut
                && sock.extra.rcvlowat > 1
                && below_low_water(stack, h, sock.extra.rcvlowat, b)
            {
                break;
            }
            let mut wrote = None;
            let r = if sock.app_rd_shut {
                // The program is gone: what arrives is dropped. Data it had not read (held after
                // its shutdown(SHUT_RD), or come before the service saw it go) makes its close
                // a reset, as Linux's tcp_close does for any data left unread (RFC 2525 §2.17).
                let r = stack.tcp_recv(now, h, scratch, false);
                sock.app_reset |= matches!(r, Ok(n) if n > 0);
                r
            } else {
                // The urgent byte, if it follows, in the same write as B's out-of-band byte (its
                // last), so that A never reads the data before the mark without the mark.
                stack.tcp_recv_through_urgent(now, h, |x, y, urgent| {
                    let oob = if urgent { libc::MSG_OOB } else { 0 };
                    let w = uds::send(b, &[x, y], None, libc::MSG_DONTWAIT | oob);
                    let n = *w.as_ref().unwrap_or(&0);
                    wrote = Some(w);
                    n
                })
            };
            match (r, wrote) {
                (Ok(_), Some(Err(e))) if e.raw_os_error() == Some(libc::EAGAIN) => {
                    sock.b_writable = false;
                }
                (Ok(_), Some(Err(e))) => {
                    sock.app_reset |= e.raw_os_error() == Some(libc::ECONNRESET);
                    sock.app_rd_shut = true;
                }
                (Ok(_), Some(Ok(n))) => {
                    if n > 0 {
                        sock.delivered_at = Some(now);
                    }
                }
                (Ok(0), None) if !sock.app_rd_shut => {
                    // End of file: the peer's FIN, after everything it sent.
                    let _ = uds::shutdown(b, libc::SHUT_WR);
                    sock.eof_sent = true;
                }
                (Ok(0), None) => sock.eof_sent = true,
                (Ok(_), None) => {}
                (Err(Errno::EAGAIN), _) => break,
                (Err(e), _) => {
                    // Reset or timed out: reads find end of file (the shim turns it into this
                    // error), writes EPIPE.
                    sock.error = Some(e);
                    sock.broken = true;
                    let _ = uds::shutdown(b, libc::SHUT_RDWR);
                }
            }
        }
        // A FIN passed on just now may have had the failure behind it.
        note_failure(stack, sock);
        // The program to the network: read from B straight into the send buffer, only as much as
        // it has room for, and send once all of it is in.
        let mut queued = false;
        let mut starved = false;
        let mut eof_may_abort = false;
        for _ in 0..64 {
            if sock.app_eof || !sock.b_readable {
                break;
            }
            if sock.broken || sock.send_over {
                // Nowhere to send: whatever the program writes is dropped.
                match uds::read(b, scratch) {
                    Ok(0) => sock.app_eof = true,
                    Ok(_) => continue,
                    Err(_) => sock.b_readable = false,
                }
                break;
            }
            // The program's send(MSG_OOB) (RFC 9293 §3.8.5): B keeps its byte in line, a read
            // stopping before it; once at the mark, the next byte alone is read and marked
            // urgent. Looked for only after B polled POLLPRI, and while it still does.
            let mut max = CHUNK;
            let mut urgent = false;
            if sock.b_urgent {
                match uds::at_mark(b) {
                    Ok(true) => {
                        max = 1;
                        urgent = true;
                    }
                    Ok(false) if uds::oob_pending(b) => {}
                    _ => sock.b_urgent = false,
                }
            }
            let mut got = None;
            let mut offered = 0;
            let r = stack.tcp_send_with(h, max, |x, y| {
                offered = x.len() + y.len();
                let g = uds::read_into(b, x, y);
                let n = *g.as_ref().unwrap_or(&0);
                got = Some(g);
                n
            });
            queued |= matches!(r, Ok(n) if n > 0);
            if urgent && matches!(got, Some(Ok(1))) {
                stack.tcp_mark_urgent(h);
                sock.b_urgent = uds::oob_pending(b);
                continue;
            }
            match (r, got) {
                (_, Some(Ok(0))) => {
                    sock.app_eof = true;
                    // The program's end gone with data it never read (what came after its
                    // shutdown(SHUT_RD), still in the stack or dropped above): its close, which
                    // ends the connection with RST and no FIN, as Linux's tcp_close (RFC 2525
                    // §2.17).
                    let unread = sock.app_reset
                        || stack
                            .tcp_socket_ref(h)
                            .and_then(|t| t.connection())
                            .is_some_and(|c| c.recv_queue_len() > 0);
                    // So does a close under SO_LINGER {on, 0}: RST alone, no FIN first (Linux's
                    // tcp_close with a zero linger time disconnects). A shutdown(SHUT_WR) under it
                    // still sends its FIN.
                    let abortive = stack
                        .tcp_socket_ref(h)
                        .is_some_and(|t| t.config.linger == Some(Duration::ZERO));
                    if unread || abortive {
                        // Whether the end is gone is asked below, once `self` is free again.
                        eof_may_abort = true;
                    } else {
                        let _ = stack.tcp_shutdown(now, h, Shutdown::Write);
                    }
                }
                // Less than offered: B had no more (a stream read stops only at the end of what
                // is queued); more data will be an edge of its own, so no read is spent on EAGAIN.
                // (A read that stopped at an urgent mark has more behind it.)
                (_, Some(Ok(n))) if n < offered && !sock.b_shut_seen && !sock.b_urgent => {
                    sock.b_readable = false
                }
                (_, Some(Ok(_))) => {}
                (_, Some(Err(e))) if e.raw_os_error() == Some(libc::EAGAIN) => {
                    sock.b_readable = false;
                }
                (_, Some(Err(e))) => {
                    sock.app_reset |= e.raw_os_error() == Some(libc::ECONNRESET);
                    sock.b_readable = false;
                    sock.app_eof = true;
                }
                // Full, or at the TCP_NOTSENT_LOWAT mark, with data queued in this pass: it goes
                // out now, which may take the unsent data below the mark at once (an open window
                // takes it all), and then there is room again without the connection's readiness
                // ever changing, so no wake-up would come: look again.
                (Err(Errno::EAGAIN), None) if queued => {
                    stack.tcp_push(now, h);
                    queued = false;
                }
                // Full: the connection wakes the socket when it has room again.
                (Err(Errno::EAGAIN), None) => break,
                // Room, but no memory to use it: tried again a little later, as Linux's writer
                // waits in sk_stream_wait_memory.
                (Err(Errno::ENOMEM), None) => {
                    starved = true;
                    break;
                }
                (Err(_), None) => {
                    // Failed (its error, if any, was taken above or by the receiving side):
                    // what is still to be read goes on to the program, then its end of file.
                    sock.send_over = true;
                    let _ = uds::shutdown(b, libc::SHUT_RD);
                }
                (Ok(_), None) => break,
            }
        }
        if eof_may_abort {
            let gone = self.socks.get(i).is_some_and(|s| s.app_gone) || !self.alive(i);
            if gone {
                if let Some(sock) = self.socks.get_mut(i) {
                    sock.app_gone = true;
                    sock.app_reset = true;
                }
            } else {
                let _ = self.stack.tcp_shutdown(now, h, Shutdown::Write);
            }
        }
        // Starved, it is looked at again too: it no longer polls writable, so the acknowledgement
        // that makes room in what its buffer holds wakes it.
        if queued || starved {
            self.stack.tcp_push(now, h);
        }
        if starved {
            if !self.starved.contains(&i) {
                self.starved.push(i);
            }
            self.starved_retry.get_or_insert_with(|| {
                std::time::Instant::now() + Duration::from_millis(MEMORY_RETRY_MS)
            });
        }
    }

    pub(super) fn pump_udp(&mut self, i: usize) {
        let now = self.now();
        let Service {
            socks,
            stack,
            udp_in,
            udp_out,
            ifindex,
            ep,
            full,
            board,
            ..
        } = self;
        let ep = ep.as_raw_fd();
        let mut opened_twin = false;
        let Some(sock) = socks.get_mut(i) else {
            return;
        };
        let (h, b) = (sock.h, sock.b.as_raw_fd());
        // A pending error (ECONNREFUSED from an ICMP port unreachable) moves to this side before
        // the program's datagrams go out: sending would take it, for nobody (Linux's sendmsg
        // reports it to the caller, which here has already returned).
        if let Some(e) = stack.take_socket_error(h) {
            Self::post_udp_error(sock, e, board.as_ref());
        }
        // Out: each message is a header and a datagram, taken from the pair up to
        // [`OUT_BATCH`] at a time (one `recvmmsg`).
        let mut lens = [0usize; OUT_BATCH];
        let mut taken = 0;
        while taken < 256 && sock.b_readable {
            let count = match uds::recv_each(b, udp_out, LARGEST, &mut lens, libc::MSG_DONTWAIT) {
                Ok(count) => count,
                Err(_) => {
                    sock.b_readable = false;
                    break;
                }
            };
            taken += count;
            for (k, &n) in lens.iter().enumerate().take(count) {
                let msg = &udp_out[k * LARGEST..k * LARGEST + n];
                if n == 0 {
                    // The pair's end of file (every datagram comes behind a header): the
                    // program's end is shut or gone, and nothing more will come.
                    sock.b_readable = false;
                    break;
                }
                if n < proto::DGRAM_HEADER {
                    continue;
                }
                let Some(out) = proto::Outgoing::parse(&msg[..proto::DGRAM_HEADER]) else {
                    continue;
                };
                let own = PerDatagram {
                    ttl: out.ttl,
                    tos: out.tos,
                };
                let data = &msg[proto::DGRAM_HEADER..];
                // To loopback (given, or the peer connected there): through the twin, so
                // from 127.0.0.1 (or ::1) and our port, as Linux's would go.
                let to_loopback = out
                    .to
                    .map(|a| a.ip().is_loopback() || a.ip().is_unspecified())
                    .unwrap_or(sock.loop_peer.is_some())
                    || out.to_ipv6_loopback;
                if to_loopback {
                    let to = out.to.or(sock.loop_peer).expect("a loopback destination");
                    let had = sock.udp_twin.is_some();
                    if Self::udp_twin_for(stack, ep, *full, sock, i) && !had {
                        opened_twin = true;
                    }
                    let sent = match &sock.udp_twin {
                        Some(t) => t
                            .send(
                                to,
                                out.to_ipv6_loopback,
                                data,
                                udp_loopback::Own {
                                    ttl: out.ttl,
                                    tos: out.tos,
                                    source: out.from_loopback,
                                },
                            )
                            .map_err(|e| e.to_string()),
                        None => Err("no twin on loopback".into()),
                    };
                    if let Err(e) = sent {
                        log::debug!("a datagram from a program to {to} was not sent: {e}");
                    }
                    continue;
                }
                if let Err(e) = stack.udp_send_with(now, h, data, out.to, own) {
                    log::debug!("a datagram from a program was not sent: {}", e.name());
                }
            }
        }
        // In: each datagram behind its header, gathered in `udp_in` and handed to the pair in
        // one system call for as many as came. A datagram the program's queue cannot take is
        // dropped, as a full receive buffer drops it.
        let mut batch = InBatch::new(udp_in);
        for _ in 0..256 {
            if batch.full() {
                batch.flush(b);
            }
            match stack.udp_recv_from(h, batch.room(), false) {
                // Connected to loopback: nothing from the TAP is its peer's.
                Ok(_) if sock.loop_peer.is_some() => {}
                Ok(r) => {
                    let local_port = stack.local_addr(h).map_or(0, |a| a.port());
                    let header = proto::Incoming {
                        from: r.from,
                        dst: SocketAddrV4::new(r.arrival.dst, local_port),
                        ttl: r.arrival.ttl,
                        tos: r.arrival.tos,
                        ifindex: *ifindex,
                        report: sock.extra.report,
                        from_ipv6_loopback: false,
                    }
                    .header();
                    batch.push(&header, r.copied);
                }
                Err(Errno::EAGAIN) => break,
                Err(e) => {
                    // After the datagrams that came before it.
                    batch.flush(b);
                    Self::post_udp_error(sock, e, board.as_ref());
                    break;
                }
            }
        }
        batch.flush(b);
        if opened_twin {
            self.check_room();
        }
    }

    /// After SO_RCVBUF on a UDP socket: its socketpair holds as much as the program asked its
    /// queue to hold (our end's send buffer is what bounds datagrams waiting in the pair; the
    /// FORCE variant first, as the service may exceed wmem_max where the program could).
    pub(super) fn size_udp_pair(sock: &Sock, o: &proto::SetOption) {
        let (Kind::Dgram, Some(size)) = (sock.kind, sock.extra.rcvbuf) else {
            return;
        };
        if o.level != libc::SOL_SOCKET || !matches!(o.name, libc::SO_RCVBUF | libc::SO_RCVBUFFORCE)
        {
            return;
        }
        // The kernel doubles what it is given.
        let half = (size / 2) as i32;
        let b = sock.b.as_raw_fd();
        if uds::set_int(b, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, half).is_err() {
            let _ = uds::set_int(b, libc::SOL_SOCKET, libc::SO_SNDBUF, half);
        }
    }

    /// A UDP socket's error, held as Linux's sk_err: SO_ERROR takes it, and an error header in the
    /// pair makes the program's next receive ask for it ([`crate::posix::io::udp_recv`]), so that
    /// whichever comes first reports it, once. A later error replaces an earlier one unreported.
    /// The board counts it, so that the program's next send asks for it too ([`board`]).
    pub(super) fn post_udp_error(sock: &mut Sock, e: Errno, board: Option<&board::Board>) {
        sock.error = Some(e);
        let b = sock.b.as_raw_fd();
        let _ = uds::send(b, &[&proto::dgram_error(e)], None, libc::MSG_DONTWAIT);
        if let Some(board) = board {
            board.bump();
        }
    }

    /// Ends the service's hold on socket `i`: the stack closes it (FIN after queued data, or RST
    /// with `abort`), and its socketpair end is closed.
    pub(super) fn release(&mut self, i: usize, abort: bool) {
        let Some(sock) = self.socks.remove(i) else {
            return;
        };
        let now = self.now();
        if abort {
            if let Ok(t) = self.stack.tcp_socket_mut(sock.h) {
                t.config.linger = Some(Duration::ZERO);
                if let Some(c) = t.connection_mut() {
                    c.set_linger(Some(Duration::ZERO));
                }
            }
        }
        let _ = self.stack.close(now, sock.h);
        if !sock.lingerers.is_empty() {
            self.lingering.push((sock.h, sock.lingerers.clone()));
        }
        self.by_handle.remove(&sock.h);
        self.by_ino.remove(&sock.ino);
        self.doubtful.retain(|&d| d != i);
        // Out of the epoll set now, not at its close: its slot number may name another socket from
        // now on.
        let Sock { b, .. } = sock;
        let _ = ep_ctl(
            self.ep.as_raw_fd(),
            libc::EPOLL_CTL_DEL,
            b.as_raw_fd(),
            0,
            0,
        );
        self.bury(b);
        self.regain_spare();
        self.flush_frames();
    }

    /// Closes `fd` (our end of a released socket, out of the epoll set, or a probe) with the next
    /// ones ([`Service::graveyard`]), or at once near the descriptor limit: held, they would take
    /// the room the spares' reckoning counts on (a probe is a descriptor of its own).
    pub(super) fn bury(&mut self, fd: OwnedFd) {
        if self.full || (self.graveyard.is_empty() && !self.far_from_limit()) {
            return;
        }
        self.graveyard.push(fd);
        if self.graveyard.len() >= GRAVEYARD {
            self.graveyard.clear();
        }
    }
}

/// Datagrams from the stack on their way to a program's socketpair: each header and payload laid
/// end to end in a buffer of [`UDP_IN_BYTES`], sent as one message each by one `sendmmsg`
/// ([`uds::send_each`]) once the buffer has no room for another of the largest, or after the
/// last.
struct InBatch<'a> {
    buf: &'a mut [u8],
    used: usize,
    spans: [(usize, usize); IN_BATCH],
    count: usize,
}

/// The most datagrams one `recvmmsg` takes from a program's pair, each into a slot of
/// [`LARGEST`] bytes (a slot is only touched as far as its datagram goes).
const OUT_BATCH: usize = 16;
/// The largest message on a UDP socket's pair: a datagram header and the most a datagram holds.
const LARGEST: usize = CHUNK + proto::DGRAM_HEADER;
pub(super) const UDP_OUT_BYTES: usize = OUT_BATCH * LARGEST;

/// The most datagrams one `sendmmsg` hands over.
const IN_BATCH: usize = 32;
// What `uds::send_each` and `uds::recv_each` move at most: a batch never asks for more.
const _: () = assert!(IN_BATCH <= uds::MAX_BATCH && OUT_BATCH <= uds::MAX_BATCH);
/// Room for [`IN_BATCH`] small datagrams, or a few of the largest.
pub(super) const UDP_IN_BYTES: usize = 4 * LARGEST;

impl<'a> InBatch<'a> {
    fn new(buf: &'a mut [u8]) -> Self {
        InBatch {
            buf,
            used: 0,
            spans: [(0, 0); IN_BATCH],
            count: 0,
        }
    }

    /// No room for another datagram of the largest size.
    fn full(&self) -> bool {
        self.count == IN_BATCH || self.buf.len() - self.used < LARGEST
    }

    /// Where the next datagram's payload goes (after room for its header).
    fn room(&mut self) -> &mut [u8] {
        &mut self.buf[self.used + proto::DGRAM_HEADER..]
    }

    /// Takes the datagram of `len` bytes just written at [`Self::room`], behind `header`.
    fn push(&mut self, header: &[u8; proto::DGRAM_HEADER], len: usize) {
        let at = self.used;
        self.buf[at..at + proto::DGRAM_HEADER].copy_from_slice(header);
        self.spans[self.count] = (at, proto::DGRAM_HEADER + len);
        self.count += 1;
        self.used = at + proto::DGRAM_HEADER + len;
    }

    /// Hands what it holds to the pair `b`; what does not fit is dropped.
    fn flush(&mut self, b: RawFd) {
        if self.count == 0 {
            return;
        }
        let sent =
            uds::send_each(b, self.buf, &self.spans[..self.count], libc::MSG_DONTWAIT).unwrap_or(0);
        if sent < self.count {
            log::debug!(
                "{} datagrams dropped: the program's queue is full",
                self.count - sent
            );
        }
        self.used = 0;
        self.count = 0;
    }
}
