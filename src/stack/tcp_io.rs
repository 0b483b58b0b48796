//! TCP between the wire and the engine: demultiplexing arriving segments to connections and
//! listeners, answering strays with RST (RFC 9293 §3.10.7.1), completing passive opens into the
//! listener's queues, and turning the engine's output segments into IP packets.

use std::net::SocketAddrV4;

use super::input::Datagram;
use super::socket_table::ConnKey;
use super::tcp_socket::{TcpSocket, TcpState};
use super::{Net, Socket, SocketHandle, Stack};
use crate::error::Errno;
use crate::tcp::fastopen::{sysctl, ServerVerdict};
use crate::tcp::{self, Connection, OutSegment, Segment, SeqNum, State};
use crate::time::Instant;
use crate::wire::ethernet::{EtherType, EthernetFrame};
use crate::wire::ipv4::{Ecn, IpProtocol};
use crate::wire::tcp::{finish_checksum, FastOpenCookie, TcpFlags, TcpPacket, TcpRepr};
use crate::wire::ChecksumMode;

impl Stack {
    pub(super) fn receive_tcp(&mut self, now: Instant, dg: &Datagram<'_>) {
        let (src, dst) = (dg.repr.src_addr, dg.repr.dst_addr);
        let packet = match TcpPacket::new_checked(dg.payload) {
            Ok(p) => p,
            Err(e) => return self.count_wire_error(e),
        };
        let repr = match TcpRepr::parse(&packet, src, dst, self.net.rx_checksum) {
            Ok(r) => r,
            Err(e) => return self.count_wire_error(e),
        };
        self.net.stats.tcp_in += 1;
        // TCP is unicast only (RFC 1122 §4.2.3.10): a segment to a broadcast address is dropped,
        // and so is one that came in a link-layer broadcast or multicast frame (Linux's
        // tcp_v4_rcv drops what is not PACKET_HOST), which no SYN-ACK or RST answers.
        if dg.broadcast || dg.link_broadcast {
            self.net.stats.not_for_us += 1;
            return;
        }
        let seg = Segment {
            seq: SeqNum(repr.seq),
            ack: SeqNum(repr.ack),
            flags: repr.flags,
            window: repr.window,
            options: repr.options,
            payload: repr.payload,
            ecn: Ecn::from_tos(dg.repr.tos),
            urgent: repr.urgent,
        };
        let key = ConnKey {
            local_port: repr.dst_port,
            remote_ip: src,
            remote_port: repr.src_port,
        };
        // The listener is looked up only where it can matter: a SYN (which may reopen a
        // connection in TIME-WAIT) or a segment no connection takes; an established
        // connection's segments do not pay for it.
        let listener = if seg.flags.is_syn_only() || !self.sockets.tcp_conns.contains_key(&key) {
            self.tcp_listener_for(&key)
        } else {
            None
        };
        let mut iss = None;
        if let Some(&h) = self.sockets.tcp_conns.get(&key) {
            if let Some(conn) = self.sockets.tcp_mut(h).and_then(TcpSocket::connection_mut) {
                iss = listener.and_then(|_| conn.time_wait_reuse_isn(&seg));
                if iss.is_some() {
                    // The old connection gives way to the new one (RFC 6191).
                    self.sockets.tcp_conns.remove(&key);
                    if self.sockets.tcp(h).is_some_and(|s| s.orphan) {
                        self.tcp_remove(h);
                    }
                } else if conn.state() != State::Closed {
                    if conn.state() == State::SynReceived && self.tcp_accept_queue_full(h) {
                        // The accept queue is full: the segment that would complete the
                        // handshake is dropped, the connection stays half-open and its SYN-ACK
                        // retransmission invites the client to try again (Linux's listen
                        // overflow, tcp_abort_on_overflow off). The queue never passes its bound.
                        self.net.stats.tcp_listen_overflows += 1;
                        return;
                    }
                    let Some(conn) = self.sockets.tcp_mut(h).and_then(TcpSocket::connection_mut)
                    else {
                        return;
                    };
                    let una = conn.snd_una();
                    conn.input(now, &seg);
                    let cookie = conn.take_fast_open_cookie();
                    if conn.snd_una() != una {
                        // New data acknowledged: the peer hears us, so does its next hop
                        // (Linux's dst_confirm from tcp_ack).
                        self.net.confirm_neighbour(now, src);
                    }
                    if let Some(c) = cookie {
                        self.remember_fast_open_cookie(src, c);
                    }
                    self.tcp_after_event(now, h);
                    return;
                }
                // A closed connection the program still holds owns its ports no more: the
                // segment meets the listener or the CLOSED-state rules, as on Linux.
            }
        }
        let listener = listener.or_else(|| self.tcp_listener_for(&key));
        if let Some(lh) = listener {
            let syn_only = seg.flags.is_syn_only();
            if syn_only {
                self.tcp_passive_open(now, lh, key, dst, &seg, iss);
                return;
            }
            // An ACK for a handshake we do not know may return a SYN cookie; if not, the
            // CLOSED-state rules answer it.
            if self.tcp_cookie_ack(now, lh, key, dst, &seg) {
                return;
            }
            // Neither SYN nor ACK (a FIN, nothing, FIN|PSH|URG) or SYN|FIN: dropped unanswered
            // (RFC 9293 §3.10.7.2, "fourth, other data or control"; Linux's tcp_rcv_state_process
            // in LISTEN), so a FIN or Xmas scan learns no more of a listening port than Linux's.
            if !seg.flags.contains(TcpFlags::ACK) {
                return;
            }
        }
        self.net.stats.tcp_resets_out += u64::from(!seg.flags.contains(TcpFlags::RST));
        if let Some(rst) = tcp::reset_for_unmatched(&seg) {
            let local = SocketAddrV4::new(dst, repr.dst_port);
            let remote = SocketAddrV4::new(src, repr.src_port);
            // As Linux's control socket sends it (ip_send_unicast_reply, IP_PMTUDISC_DO and no
            // peer of its own): DF, identification 0.
            let params = super::output::IpParams {
                dont_frag: true,
                ident: Some(0),
                ..Default::default()
            };
            let _ = self
                .net
                .send_tcp(now, local, remote, params, None, &rst, &[], &[]);
        }
    }

    /// An ICMP error about a TCP segment we sent: `data` holds at least the first eight bytes of
    /// its header (ports and sequence number, RFC 792), which find the connection. `path_mtu`
    /// (from "fragmentation needed") is learnt for the destination only if the connection takes
    /// the message, as Linux's `tcp_v4_err` learns it (RFC 5927 §4.1).
    pub(super) fn tcp_icmp_error(
        &mut self,
        now: Instant,
        quoted: &crate::wire::ipv4::Ipv4Repr,
        data: &[u8],
        errno: Errno,
        path_mtu: Option<u16>,
    ) {
        let Some(head) = data.get(..8) else {
            return;
        };
        let key = ConnKey {
            local_port: u16::from_be_bytes([head[0], head[1]]),
            remote_ip: quoted.dst_addr,
            remote_port: u16::from_be_bytes([head[2], head[3]]),
        };
        let seq = SeqNum(u32::from_be_bytes([head[4], head[5], head[6], head[7]]));
        let Some(&h) = self.sockets.tcp_conns.get(&key) else {
            return;
        };
        let Some(conn) = self.sockets.tcp_mut(h).and_then(TcpSocket::connection_mut) else {
            return;
        };
        match path_mtu {
            // Linux's tcp_v4_mtu_reduced: the route learns the MTU first
            // (inet_csk_update_pmtu), so the resends below already see it, locked or not
            // (ip_dont_fragment); then the connection's segments shrink to the route's MTU
            // (tcp_sync_mss) and those too large go again (tcp_simple_retransmit).
            Some(mtu) if conn.takes_path_mtu(seq) => {
                self.net.learn_path_mtu(now, quoted.dst_addr, mtu);
                let route = self.net.path_mtu(now, quoted.dst_addr).0;
                conn.path_mtu_reduced(route);
            }
            Some(_) => {}
            None => conn.icmp_error(seq, errno),
        }
        self.tcp_after_event(now, h);
        // Woken even when nothing else moved: a soft error is news for SO_ERROR.
        self.wake(h);
    }

    /// Whether half-open connection `h`'s listener has no room left to queue it for `accept`:
    /// it holds one more than the backlog (Linux's `sk_acceptq_is_full`).
    /// (A Fast Open connection already queued is not held back.)
    fn tcp_accept_queue_full(&self, h: SocketHandle) -> bool {
        self.sockets
            .tcp(h)
            .filter(|s| !s.queued_for_accept)
            .and_then(|s| s.parent)
            .and_then(|p| self.sockets.tcp(p))
            .and_then(TcpSocket::listener)
            .is_some_and(|l| l.accept_queue.len() > l.backlog)
    }

    /// A SYN for a listener: a new connection in SYN-RECEIVED, if the queues have room; `iss`
    /// when it replaces a connection in TIME-WAIT.
    fn tcp_passive_open(
        &mut self,
        now: Instant,
        lh: SocketHandle,
        key: ConnKey,
        our_ip: std::net::Ipv4Addr,
        syn: &Segment<'_>,
        iss: Option<u32>,
    ) {
        // At the bound on sockets, or short of memory, the SYN is answered as when the SYN queue
        // is full (a cookie holds no memory).
        let table_full = !self.memory_for_socket() || !self.room_for_socket();
        let Some(listener_sock) = self.sockets.tcp_mut(lh) else {
            return;
        };
        let config = listener_sock.config.clone();
        let ip = listener_sock.ip;
        let Some(listener) = listener_sock.listener_mut() else {
            return;
        };
        // Linux drops the SYN when the accept queue is full (it holds one more than the backlog,
        // `sk_acceptq_is_full`); the client's SYN retransmission tries again later. When the SYN
        // queue is full, a SYN cookie answers instead (tcp_syncookies 1), or always (2).
        let local = SocketAddrV4::new(our_ip, key.local_port);
        let remote = SocketAddrV4::new(key.remote_ip, key.remote_port);
        let tuple = tuple_bytes(local, remote);
        if listener.accept_queue.len() > listener.backlog {
            self.net.stats.tcp_syns_dropped += 1;
            return;
        }
        let queue_full = listener.syn_queue.len() >= listener.syn_limit() || table_full;
        if iss.is_none() && (config.syncookies == 2 || (queue_full && config.syncookies == 1)) {
            listener.cookie_sent_at = Some(now);
            let mss = syn.options.mss.unwrap_or(536);
            let cookie = tcp::syncookie::make(&self.tcp_key, now, &tuple, syn.seq.0, mss);
            let ts_offset = tcp::timestamp_offset(&self.tcp_key, &tuple);
            let seg = Connection::cookie_syn_ack(now, &config, cookie, ts_offset, syn);
            self.net.stats.tcp_syncookies_sent += 1;
            let _ = self
                .net
                .send_tcp(now, local, remote, ip, None, &seg, &[], &[]);
            return;
        }
        if queue_full {
            self.net.stats.tcp_syns_dropped += 1;
            return;
        }
        let verdict = self.fast_open_verdict(lh, our_ip, key.remote_ip, syn);
        let iss = iss.unwrap_or_else(|| tcp::initial_sequence_number(&self.tcp_key, now, &tuple));
        let ts_offset = tcp::timestamp_offset(&self.tcp_key, &tuple);
        let mut conn = match verdict {
            ServerVerdict::Accept(fresh) => {
                self.net.stats.tcp_fastopen_passive += 1;
                let mut c = Connection::accept_fast_open(now, &config, iss, ts_offset, syn);
                if let Some(cookie) = fresh {
                    c.offer_fast_open_cookie(cookie);
                }
                c
            }
            ServerVerdict::Offer(cookie) => {
                let mut c = Connection::accept(now, &config, iss, ts_offset, syn);
                c.offer_fast_open_cookie(cookie);
                c
            }
            ServerVerdict::None => Connection::accept(now, &config, iss, ts_offset, syn),
        };
        self.net.fit_to_path(now, key.remote_ip, &mut conn);
        self.tcp_add_child(now, lh, key, local, remote, ip, config, conn);
    }

    /// What listener `lh` makes of a SYN's Fast Open option (RFC 7413 §4.2.2), by Linux's rule:
    /// the host's `tcp_fastopen` must have the server bit, and the listener `TCP_FASTOPEN` set
    /// (or the host the bit that stands for it), with room among its Fast Open connections still
    /// in their handshake; `TCP_FASTOPEN_NO_COOKIE` on it takes data without a cookie.
    fn fast_open_verdict(
        &self,
        lh: SocketHandle,
        our_ip: std::net::Ipv4Addr,
        client: std::net::Ipv4Addr,
        syn: &Segment<'_>,
    ) -> ServerVerdict {
        let Some(sock) = self.sockets.tcp(lh) else {
            return ServerVerdict::None;
        };
        if syn.options.fast_open.is_none() && syn.payload.is_empty() {
            return ServerVerdict::None;
        }
        let Some(listener) = sock.listener() else {
            return ServerVerdict::None;
        };
        let bits = sock.config.fastopen;
        let mut qlen = sock.fast_open.qlen as usize;
        if qlen == 0 && bits & sysctl::SERVER_WO_SOCKOPT1 != 0 {
            qlen = listener.backlog;
        }
        let pending = listener
            .syn_queue
            .iter()
            .chain(listener.accept_queue.iter())
            .filter(|&&c| {
                self.sockets
                    .tcp(c)
                    .and_then(TcpSocket::connection)
                    .is_some_and(Connection::is_fast_open_child)
            })
            .count();
        let keys = sock
            .fast_open
            .keys
            .as_deref()
            .copied()
            .unwrap_or(tcp::fastopen::Keys {
                primary: self.fast_open_key,
                backup: None,
            });
        let (valid, backup) = keys.cookies(client.octets(), our_ip.octets());
        let at = tcp::fastopen::Listener {
            sysctl_bits: bits,
            no_cookie: sock.fast_open.no_cookie,
            queue_open: pending < qlen,
            valid,
            backup,
        };
        tcp::fastopen::server_verdict(&at, syn.options.fast_open, !syn.payload.is_empty())
    }

    /// Keeps the cookie server `ip` gave us, for our next Fast Open to it (RFC 7413 §4.1.3). The
    /// cache is bounded: full, it starts over.
    fn remember_fast_open_cookie(&mut self, ip: std::net::Ipv4Addr, cookie: FastOpenCookie) {
        const MAX_COOKIES: usize = 1024;
        if self.fast_open_cookies.len() >= MAX_COOKIES && !self.fast_open_cookies.contains_key(&ip)
        {
            self.fast_open_cookies.clear();
        }
        self.fast_open_cookies.insert(ip, cookie);
    }

    /// The cookie server `ip` gave us, if any.
    pub(super) fn fast_open_cookie_for(&self, ip: std::net::Ipv4Addr) -> Option<FastOpenCookie> {
        self.fast_open_cookies.get(&ip).copied()
    }

    /// An ACK to listener `lh` that matched no connection: if it returns a SYN cookie we sent in
    /// the last two minutes, the connection it stands for, established and queued for `accept`
    /// (unless the accept queue is full: then dropped, the client retries). Whether it was one.
    fn tcp_cookie_ack(
        &mut self,
        now: Instant,
        lh: SocketHandle,
        key: ConnKey,
        our_ip: std::net::Ipv4Addr,
        seg: &Segment<'_>,
    ) -> bool {
        let f = seg.flags;
        if !f.contains(TcpFlags::ACK) || f.intersects(TcpFlags::SYN | TcpFlags::RST) {
            return false;
        }
        let Some(listener_sock) = self.sockets.tcp(lh) else {
            return false;
        };
        let (config, ip) = (listener_sock.config.clone(), listener_sock.ip);
        let Some(listener) = listener_sock.listener() else {
            return false;
        };
        let recent = listener
            .cookie_sent_at
            .is_some_and(|t| now.saturating_since(t) < crate::time::Duration::from_secs(128));
        if !recent {
            return false;
        }
        let local = SocketAddrV4::new(our_ip, key.local_port);
        let remote = SocketAddrV4::new(key.remote_ip, key.remote_port);
        let tuple = tuple_bytes(local, remote);
        let cookie = seg.ack.0.wrapping_sub(1);
        let client_isn = seg.seq.0.wrapping_sub(1);
        let Some(mss) = tcp::syncookie::check(&self.tcp_key, now, &tuple, client_isn, cookie)
        else {
            self.net.stats.tcp_syncookies_failed += 1;
            return false;
        };
        self.net.stats.tcp_syncookies_recv += 1;
        if listener.accept_queue.len() > listener.backlog {
            self.net.stats.tcp_listen_overflows += 1;
            return true;
        }
        // No room or memory for the connection: dropped as when the accept queue is full; the
        // client's retransmission finds room once a socket is freed.
        if !self.memory_for_socket() || !self.room_for_socket() {
            return true;
        }
        let ts_offset = tcp::timestamp_offset(&self.tcp_key, &tuple);
        let mut conn = Connection::from_cookie(now, &config, cookie, ts_offset, seg, mss);
        self.net.fit_to_path(now, key.remote_ip, &mut conn);
        let h = self.tcp_add_child(now, lh, key, local, remote, ip, config, conn);
        if let Some(c) = self.sockets.tcp_mut(h).and_then(TcpSocket::connection_mut) {
            c.input(now, seg);
        }
        self.tcp_after_event(now, h);
        true
    }

    /// A new connection of listener `lh`, in its SYN queue until established.
    #[allow(clippy::too_many_arguments)]
    fn tcp_add_child(
        &mut self,
        now: Instant,
        lh: SocketHandle,
        key: ConnKey,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        ip: super::output::IpParams,
        config: tcp::Config,
        conn: Connection,
    ) -> SocketHandle {
        let mut sock = TcpSocket::new(config);
        sock.local = Some(local);
        sock.remote = Some(remote);
        sock.ip = ip;
        sock.parent = Some(lh);
        // A child takes its listener's port sharing and owner, as Linux's sk_clone copies them.
        if let Some(l) = self.sockets.tcp(lh) {
            (sock.reuse_addr, sock.reuse_port, sock.owner) = (l.reuse_addr, l.reuse_port, l.owner);
        }
        sock.state = TcpState::Connected(Box::new(conn));
        let h = self.sockets.insert(Socket::Tcp(sock));
        self.sockets.tcp_conns.insert(key, h);
        if let Some(l) = self.sockets.tcp_mut(lh).and_then(TcpSocket::listener_mut) {
            l.syn_queue.push(h);
        }
        self.tcp_after_event(now, h);
        h
    }

    /// After anything happened to connection `h`: send what it has to send, move it from the SYN
    /// queue to the accept queue once established, delete it when it is over and nobody holds it,
    /// and wake whoever waits on it.
    pub(super) fn tcp_after_event(&mut self, now: Instant, h: SocketHandle) {
        self.tcp_settle(now, h);
        // Whatever happened may have moved its deadline (or ended it).
        self.tcp_file_timer(now, h);
    }

    fn tcp_settle(&mut self, now: Instant, h: SocketHandle) {
        self.tcp_flush(now, h);
        let Some(sock) = self.sockets.tcp_mut(h) else {
            return;
        };
        let Some(conn) = sock.connection() else {
            return;
        };
        let state = conn.state();
        let closed = conn.is_closed();
        // A Fast Open connection is ready for accept before its handshake ends (Linux).
        let early = conn.is_fast_open_child();
        if let Some(parent) = sock.parent {
            if !sock.queued_for_accept
                && (early || !matches!(state, State::SynReceived | State::Closed))
            {
                sock.queued_for_accept = true;
                if let Some(l) = self
                    .sockets
                    .tcp_mut(parent)
                    .and_then(TcpSocket::listener_mut)
                {
                    l.syn_queue.retain(|&c| c != h);
                    l.accept_queue.push_back(h);
                }
                self.wake(parent);
            } else if closed && !sock.queued_for_accept {
                // The handshake failed (reset, or SYN-ACK retries ran out): forget it quietly.
                if let Some(l) = self
                    .sockets
                    .tcp_mut(parent)
                    .and_then(TcpSocket::listener_mut)
                {
                    l.syn_queue.retain(|&c| c != h);
                }
                self.tcp_remove(h);
                return;
            }
        }
        let orphan = self.sockets.tcp(h).is_some_and(|s| s.orphan);
        if closed && orphan {
            self.tcp_remove(h);
            return;
        }
        // Wake waiters only for what the kernel would wake them for: a change of readiness or of
        // state, or new data to read. (An ACK that changes nothing wakes nobody, so edge-triggered
        // epoll reports no phantom events, and busy connections do not stir every waiter.)
        let readiness = self.tcp_readiness(h);
        let Some(sock) = self.sockets.tcp_mut(h) else {
            return;
        };
        let Some(conn) = sock.connection() else {
            return;
        };
        let now = (readiness, conn.state(), conn.recv_queue_len());
        let changed = sock
            .last_seen
            .is_none_or(|(r, st, q)| r != now.0 || st != now.1 || now.2 > q);
        sock.last_seen = Some(now);
        if changed {
            self.wake(h);
        }
    }

    /// Emits whatever connection `h` has to send now (and runs its due timers).
    pub(super) fn tcp_flush(&mut self, now: Instant, h: SocketHandle) {
        let Stack {
            net, sockets, rng, ..
        } = self;
        let Some(sock) = sockets.tcp_mut(h) else {
            return;
        };
        let (Some(local), Some(remote)) = (sock.local, sock.remote) else {
            return;
        };
        let mut params = sock.ip;
        if sock.connection().is_none() {
            return;
        }
        // A path MTU a router put under 552 is locked: WANT's DF gives way (ip_dont_fragment).
        if params.dont_frag && params.may_fragment && net.path_mtu(now, *remote.ip()).1 {
            params.dont_frag = false;
        }
        // Connected: the connection's own counter, DF or not (ip_select_ident_segs).
        net.conn_ident = Some(*sock.ip_id.get_or_insert_with(|| rng.next_u32() as u16));
        let Some(conn) = sock.connection_mut() else {
            return;
        };
        let mut failure = None;
        net.in_order_receiver = !conn.holds_out_of_order();
        conn.poll_transmit(now, &mut |seg, a, b| {
            match net.send_tcp(now, local, remote, params, Some(h), seg, a, b) {
                // No memory for the frame: lost like a frame a full NIC drops, and sent again
                // as a lost one is (Linux leaves an skb it could not transmit queued).
                Err(Errno::ENOBUFS) | Ok(()) => {}
                Err(e) => failure = Some(e),
            }
        });
        net.in_order_receiver = false;
        if let Some(e) = failure {
            conn.set_error(e);
        }
        if let Some(id) = net.conn_ident.take() {
            sock.ip_id = Some(id);
        }
    }

    /// The listener a segment of connection `key` belongs to, if its port has one: of a
    /// SO_REUSEPORT group, the one a keyed hash of the peer's address and port picks, so each
    /// connection stays with one listener (its SYN cookie's ACK included) and a peer cannot
    /// choose which (Linux's reuseport_select_sock, by the flow's hash).
    fn tcp_listener_for(&self, key: &ConnKey) -> Option<SocketHandle> {
        let listeners = self.sockets.tcp_listeners.get(&key.local_port)?;
        let bound_to = |h: &SocketHandle| {
            self.sockets
                .tcp(*h)
                .map_or(std::net::Ipv4Addr::UNSPECIFIED, TcpSocket::bound_ip)
        };
        // Bound to another address (IP_FREEBIND): none of ours reaches it. Bound to ours, it
        // comes before one on the wildcard (Linux looks up the address's listeners first).
        let ours = self.net.iface.addr;
        let want = if listeners.iter().any(|h| bound_to(h) == ours) {
            ours
        } else {
            std::net::Ipv4Addr::UNSPECIFIED
        };
        let mut takers = listeners.iter().copied().filter(|h| bound_to(h) == want);
        match takers.clone().count() {
            0 => None,
            1 => takers.next(),
            n => {
                let peer = SocketAddrV4::new(key.remote_ip, key.remote_port);
                let tuple =
                    tuple_bytes(SocketAddrV4::new(self.net.iface.addr, key.local_port), peer);
                let pick = tcp::reuseport_hash(&self.tcp_key, &tuple) as usize % n;
                takers.nth(pick)
            }
        }
    }

    /// Deletes a TCP socket and its entries in the demultiplexing maps.
    pub(super) fn tcp_remove(&mut self, h: SocketHandle) {
        let Some(Socket::Tcp(sock)) = self.sockets.remove(h) else {
            return;
        };
        if let Some(local) = sock.local {
            match (&sock.state, sock.remote) {
                (TcpState::Listening(_), _) => {
                    if let Some(group) = self.sockets.tcp_listeners.get_mut(&local.port()) {
                        group.retain(|&o| o != h);
                        if group.is_empty() {
                            self.sockets.tcp_listeners.remove(&local.port());
                        }
                    }
                }
                (TcpState::Connected(_), Some(remote)) => {
                    let key = ConnKey {
                        local_port: local.port(),
                        remote_ip: *remote.ip(),
                        remote_port: remote.port(),
                    };
                    if self.sockets.tcp_conns.get(&key) == Some(&h) {
                        self.sockets.tcp_conns.remove(&key);
                    }
                }
                _ => self.tcp_unbind_fresh(h, local.port()),
            }
        }
    }

    /// Runs the timers of every connection that is due; returns nothing, output is queued.
    pub(super) fn tcp_poll(&mut self, now: Instant) {
        for h in self.timers.take_marked() {
            self.tcp_file_timer(now, h);
        }
        for h in self.timers.take_due(now) {
            self.tcp_after_event(now, h);
        }
    }

    /// The earliest deadline among all connections.
    pub(super) fn tcp_poll_at(&self, now: Instant) -> Option<Instant> {
        let marked = self
            .timers
            .marked()
            .filter_map(|h| self.sockets.tcp(h)?.connection()?.poll_at(now))
            .min();
        match (self.timers.first(), marked) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Files connection `h` under its deadline now (or takes it out, if it has none or is gone).
    pub(super) fn tcp_file_timer(&mut self, now: Instant, h: SocketHandle) {
        let at = self
            .sockets
            .tcp(h)
            .and_then(TcpSocket::connection)
            .and_then(|c| c.poll_at(now));
        self.timers.set(h, at);
    }
}

impl Net {
    /// Sends one TCP segment whose payload is `a` followed by `b` (straight from a send buffer).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_tcp(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        params: super::output::IpParams,
        owner: Option<SocketHandle>,
        seg: &OutSegment,
        a: &[u8],
        b: &[u8],
    ) -> Result<(), Errno> {
        let repr = TcpRepr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq: seg.seq.0,
            ack: if seg.flags.contains(TcpFlags::ACK) {
                seg.ack.0
            } else {
                0
            },
            flags: seg.flags,
            window: seg.window,
            urgent: seg.urgent,
            options: seg.options,
            payload: &[],
        };
        let header_len = repr.header_len();
        let payload_len = a.len() + b.len();
        let pure_ack =
            seg.flags == TcpFlags::ACK && payload_len == 0 && seg.options.sack_blocks.is_empty();
        let carries_ack = seg.flags.contains(TcpFlags::ACK)
            && !seg.flags.intersects(TcpFlags::SYN | TcpFlags::RST)
            && (payload_len > 0 || seg.flags.contains(TcpFlags::FIN));
        let queued_before = self.tx.len();
        // Longer than the MTU: a super-segment the device cuts (the engine makes them only for
        // a device with TSO), its checksum finished by the device in each segment.
        let segmented_by_device = 20 + header_len + payload_len > self.iface.mtu;
        let checksum = if segmented_by_device {
            ChecksumMode::Offloaded
        } else {
            self.checksum
        };
        self.stats.tcp_out += 1;
        // The engine sets the ECN field (RFC 3168 §6.1); IP_TOS gives the DSCP above it. A DF
        // SYN-ACK bears identification 0, as Linux's ip_build_and_send_pkt sends it.
        let syn_ack = seg.flags.contains(TcpFlags::SYN | TcpFlags::ACK);
        let params = super::output::IpParams {
            tos: seg.ecn.with_tos(params.tos),
            segmented_by_device,
            ident: if syn_ack && params.dont_frag {
                Some(0)
            } else if let (Some(id), Some(_)) = (self.conn_ident.as_mut(), owner) {
                // A super-segment becomes this many packets on the wire, numbered in turn.
                let packets = match self.iface.mtu.checked_sub(20 + header_len) {
                    Some(per) if segmented_by_device && per > 0 => payload_len.div_ceil(per),
                    _ => 1,
                };
                let this = *id;
                *id = id.wrapping_add(packets as u16);
                Some(this)
            } else {
                params.ident
            },
            ..params
        };
        self.send_ip(
            now,
            *remote.ip(),
            IpProtocol::TCP,
            params,
            header_len + payload_len,
            owner,
            |buf, src, dst| {
                repr.emit_header(buf, src, dst, payload_len);
                buf[header_len..header_len + a.len()].copy_from_slice(a);
                buf[header_len + a.len()..header_len + payload_len].copy_from_slice(b);
                finish_checksum(&mut buf[..header_len + payload_len], checksum);
            },
        )?;
        // The segment itself went into `tx` (not into the ARP queue, behind a request for the
        // neighbour's address, which would then be the frame pushed).
        let queued = self.tx.len() == queued_before + 1
            && self.tx.back().is_some_and(|f| {
                EthernetFrame::new_checked(&f[..]).is_ok_and(|e| e.ethertype() == EtherType::IPV4)
            });
        let Some(h) = owner.filter(|_| queued) else {
            return Ok(());
        };
        if carries_ack {
            self.withdraw_superseded_ack(h, seg.ack);
        } else if pure_ack && self.queued_acks.len() < MAX_QUEUED_ACKS {
            let place = self.tx_taken + queued_before as u64;
            self.queued_acks.retain(|q| q.0 != h);
            self.queued_acks.push((h, place, seg.ack.0));
        }
        Ok(())
    }

    /// A data or FIN segment of connection `h` acknowledging `ack` was queued: a pure
    /// ACK of `h` still waiting for the device says nothing this segment does not (its window
    /// and timestamps are older), so it is withdrawn, as if the reply had come before it and
    /// carried the acknowledgment (RFC 9293 §3.8.6.3; Linux holds the ACK of a SYN-ACK back
    /// itself when a write waits for the connection, tcp_rcv_synsent_state_process). A duplicate
    /// ACK stays (RFC 5681 §2 counts only those without data): one that acknowledged as much
    /// goes only while the connection holds no out-of-order data, and one with SACK blocks never
    /// (it is not recorded).
    fn withdraw_superseded_ack(&mut self, h: SocketHandle, ack: SeqNum) {
        let Some(i) = self.queued_acks.iter().position(|q| q.0 == h) else {
            return;
        };
        let (_, place, acked) = self.queued_acks.swap_remove(i);
        let superseded = SeqNum(acked) < ack || (SeqNum(acked) == ack && self.in_order_receiver);
        if place < self.tx_taken || !superseded {
            return;
        }
        if let Some(frame) = self.tx.get_mut((place - self.tx_taken) as usize) {
            *frame = Vec::new();
            self.stats.frames_out -= 1;
            self.stats.tcp_out -= 1;
        }
    }
}

/// Pure ACKs remembered for withdrawal at most (one per connection with output queued).
const MAX_QUEUED_ACKS: usize = 64;

/// The connection's endpoints as bytes, the input of the RFC 6528 and RFC 6056 keyed hashes.
pub(super) fn tuple_bytes(local: SocketAddrV4, remote: SocketAddrV4) -> [u8; 12] {
    let mut t = [0u8; 12];
    t[0..4].copy_from_slice(&local.ip().octets());
    t[4..6].copy_from_slice(&local.port().to_be_bytes());
    t[6..10].copy_from_slice(&remote.ip().octets());
    t[10..12].copy_from_slice(&remote.port().to_be_bytes());
    t
}
