//! The TCP socket calls: `socket`, `bind`, `listen`, `connect`, `accept`, `send`, `recv`,
//! `shutdown`, `close`, on the stack's control information, with Linux's errno for every misuse.
//! All of them are nonblocking; the runtime turns EAGAIN into waiting.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::socket_table::ConnKey;
use super::tcp_io::tuple_bytes;
use super::tcp_socket::{Listener, TcpSocket, TcpState};
use super::{ports, Socket, SocketHandle, Stack};
use crate::error::{Errno, Result};
use crate::tcp::{self, Connection, Readiness, State, TcpStats};
use crate::time::Instant;

/// `shutdown`'s `how`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    Read,
    Write,
    Both,
}

/// How a socket may share its port ([`Stack::tcp_bind`]): its SO_REUSEADDR, SO_REUSEPORT and
/// owner.
#[derive(Clone, Copy)]
struct Sharing {
    /// The address it binds (0.0.0.0: all of ours).
    ip: Ipv4Addr,
    reuse_addr: bool,
    reuse_port: bool,
    owner: u32,
}

impl Sharing {
    /// Shares with no one: an ephemeral port is a free one.
    const NONE: Sharing = Sharing {
        ip: Ipv4Addr::UNSPECIFIED,
        reuse_addr: false,
        reuse_port: false,
        owner: 0,
    };

    fn of(sock: &TcpSocket, ip: Ipv4Addr) -> Sharing {
        Sharing {
            ip,
            reuse_addr: sock.reuse_addr,
            reuse_port: sock.reuse_port,
            owner: sock.owner,
        }
    }
}

impl Stack {
    /// A new TCP socket with the stack's default options.
    pub fn tcp_socket(&mut self) -> Result<SocketHandle> {
        self.admit_socket()?;
        let config = self.tcp_defaults.clone();
        Ok(self.sockets.insert(Socket::Tcp(TcpSocket::new(config))))
    }

    pub(super) fn tcp(&mut self, h: SocketHandle) -> Result<&mut TcpSocket> {
        self.sockets.tcp_mut(h).ok_or(Errno::EBADF)
    }

    fn conn(&mut self, h: SocketHandle) -> Result<&mut Connection> {
        self.tcp(h)?.connection_mut().ok_or(Errno::ENOTCONN)
    }

    /// The socket's options, to change before it connects or listens (TCP_NODELAY, buffers, …).
    /// Its connection's deadline may move, so it is looked at again.
    pub fn tcp_socket_mut(&mut self, h: SocketHandle) -> Result<&mut TcpSocket> {
        self.timers.mark(h);
        self.tcp(h)
    }

    pub fn tcp_socket_ref(&self, h: SocketHandle) -> Option<&TcpSocket> {
        self.sockets.tcp(h)
    }

    /// Whether a socket sharing as `me` says may bind `port` beside the sockets already on it,
    /// as Linux's inet_bind_conflict decides (only sockets whose addresses overlap can conflict:
    /// the same one, or the wildcard; addresses not ours come with IP_FREEBIND):
    /// a listener shares with no one but its SO_REUSEPORT group; a socket only bound, or a
    /// connection (TIME-WAIT ones among them: a server restarting on its port), shares with
    /// SO_REUSEADDR on both sides (a connection accepted has its listener's). SO_REUSEPORT on
    /// both sides, of one owner (or in TIME-WAIT, which has none), shares with any of them.
    fn tcp_port_free_for(&self, port: u16, me: Sharing) -> bool {
        let shares = |other: SocketHandle, addr_too: bool| {
            self.sockets.tcp(other).is_some_and(|o| {
                if !ports::addresses_overlap(me.ip, o.bound_ip()) {
                    return true;
                }
                let time_wait = o.connection().is_some_and(|c| c.state() == State::TimeWait);
                (addr_too && me.reuse_addr && o.reuse_addr)
                    || (me.reuse_port && o.reuse_port && (me.owner == o.owner || time_wait))
            })
        };
        let listeners = self.sockets.tcp_listeners.get(&port);
        let bound = self.sockets.tcp_bound.get(&port);
        listeners.is_none_or(|l| l.iter().all(|&o| shares(o, false)))
            && bound.is_none_or(|b| b.iter().all(|&o| shares(o, true)))
            && self
                .sockets
                .tcp_conns
                .iter()
                .all(|(k, &o)| k.local_port != port || shares(o, true))
    }

    /// Binds to `addr` (our address or 0.0.0.0; port 0 picks an ephemeral port).
    pub fn tcp_bind(&mut self, h: SocketHandle, addr: SocketAddrV4) -> Result<()> {
        let sock = self.tcp(h)?;
        if sock.local.is_some() || !matches!(sock.state, TcpState::Fresh) {
            return Err(Errno::EINVAL);
        }
        let me = Sharing::of(sock, *addr.ip());
        self.tcp_bind_address_valid(h, *addr.ip())?;
        let port = if addr.port() == 0 {
            // An ephemeral port is one nobody uses (Linux's inet_csk_find_open_port).
            let offset = self.rng.next_u32();
            ports::pick_from(offset, |p| self.tcp_port_free_for(p, Sharing::NONE))
                .ok_or(Errno::EADDRINUSE)?
        } else if !self.tcp_port_free_for(addr.port(), me) {
            return Err(Errno::EADDRINUSE);
        } else {
            addr.port()
        };
        let bound = self.sockets.tcp_bound.entry(port).or_default();
        bound.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        bound.push(h);
        self.tcp(h)?.local = Some(SocketAddrV4::new(*addr.ip(), port));
        Ok(())
    }

    /// Whether the TCP socket `h` may bind to `ip`, as Linux's inet_addr_valid_or_nonlocal: any
    /// local address, broadcast and multicast ones included, and with IP_FREEBIND any at all (a
    /// connection still leaves from the interface's own address); else EADDRNOTAVAIL. Also the
    /// addresses for which IP_BIND_ADDRESS_NO_PORT leaves the port to the connect or listen
    /// (__inet_bind checks them so before it skips get_port).
    pub fn tcp_bind_address_valid(&self, h: SocketHandle, ip: Ipv4Addr) -> Result<()> {
        let freebind = self.tcp_socket_ref(h).ok_or(Errno::EBADF)?.freebind;
        if ip.is_unspecified() || ip.is_multicast() || self.net.iface.accepts(ip) || freebind {
            Ok(())
        } else {
            Err(Errno::EADDRNOTAVAIL)
        }
    }

    /// Takes the bound socket `h` off `port`'s list (it listens or connects now, or is gone).
    pub(super) fn tcp_unbind_fresh(&mut self, h: SocketHandle, port: u16) {
        if let Some(bound) = self.sockets.tcp_bound.get_mut(&port) {
            bound.retain(|&o| o != h);
            if bound.is_empty() {
                self.sockets.tcp_bound.remove(&port);
            }
        }
    }

    /// Starts listening with room for `backlog` connections waiting to be accepted (and one more,
    /// as on Linux, so that a backlog of 0 still takes one).
    pub fn tcp_listen(&mut self, h: SocketHandle, backlog: usize) -> Result<()> {
        let backlog = backlog.min(4096);
        let sock = self.tcp(h)?;
        match &mut sock.state {
            TcpState::Listening(l) => {
                l.backlog = backlog;
                return Ok(());
            }
            TcpState::Connected(_) => return Err(Errno::EINVAL),
            TcpState::Fresh => {}
        }
        if sock.local.is_none() {
            self.tcp_bind(h, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))?;
        }
        let sock = self.tcp(h)?;
        let port = sock.local.expect("bound").port();
        let me = Sharing::of(sock, sock.bound_ip());
        // Another listener on the port and an address of its: only a SO_REUSEPORT group of one
        // owner shares it (Linux's inet_csk_get_port, run again by listen).
        let group = self.sockets.tcp_listeners.get(&port);
        let joins = group.is_none_or(|g| {
            g.iter().all(|&o| {
                self.sockets.tcp(o).is_some_and(|o| {
                    !ports::addresses_overlap(me.ip, o.bound_ip())
                        || (me.reuse_port && o.reuse_port && me.owner == o.owner)
                })
            })
        });
        if !joins {
            return Err(Errno::EADDRINUSE);
        }
        let group = self.sockets.tcp_listeners.entry(port).or_default();
        group.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        group.push(h);
        self.tcp_unbind_fresh(h, port);
        let sock = self.tcp(h)?;
        // Linux's inet_csk_listen_start clears the ACK state (inet_csk_delack_init): a
        // TCP_QUICKACK 0 set before listen is gone, and getsockopt says 1.
        sock.config.quick_ack_off = false;
        sock.state = TcpState::Listening(Box::new(Listener {
            backlog,
            ..Listener::default()
        }));
        Ok(())
    }

    /// Starts connecting to `remote` (the SYN goes out now). Completion is seen through
    /// [`tcp_connect_status`](Self::tcp_connect_status) or readiness.
    pub fn tcp_connect(
        &mut self,
        now: Instant,
        h: SocketHandle,
        remote: SocketAddrV4,
    ) -> Result<()> {
        let fast_open = self.tcp(h)?.fast_open.connect;
        self.tcp_connect_as(now, h, remote, fast_open)
    }

    /// The connect of `sendto(MSG_FASTOPEN)`: with Fast Open whatever `TCP_FASTOPEN_CONNECT` says,
    /// and leaving the option as it was (Linux's tcp_sendmsg_fastopen sets no option).
    pub fn tcp_connect_fast_open(
        &mut self,
        now: Instant,
        h: SocketHandle,
        remote: SocketAddrV4,
    ) -> Result<()> {
        self.tcp_connect_as(now, h, remote, true)
    }

    fn tcp_connect_as(
        &mut self,
        now: Instant,
        h: SocketHandle,
        remote: SocketAddrV4,
        fast_open: bool,
    ) -> Result<()> {
        match self.tcp(h)?.state {
            TcpState::Fresh => {}
            TcpState::Listening(_) => return Err(Errno::EISCONN),
            TcpState::Connected(ref c) => {
                return Err(match c.state() {
                    State::SynSent | State::SynReceived => Errno::EALREADY,
                    _ => Errno::EISCONN,
                })
            }
        }
        if remote.port() == 0 || remote.ip().is_unspecified() {
            return Err(Errno::ECONNREFUSED);
        }
        // TCP is unicast (RFC 1122 §4.2.3.10): Linux's route lookup refuses the subnet's broadcast
        // address as it does 255.255.255.255.
        if self.net.iface.is_broadcast(*remote.ip()) || remote.ip().is_multicast() {
            return Err(Errno::ENETUNREACH);
        }
        self.net.iface.route(*remote.ip())?;
        let our_ip = self.net.iface.addr;
        let mut successor_iss = None;
        let bound = self.tcp(h)?.local;
        let local = match bound {
            // Bound with IP_FREEBIND to an address not ours: Linux's route lookup finds no way
            // out from it (only IP_TRANSPARENT's FLOWI_FLAG_ANYSRC would), ENETUNREACH. (Bound
            // to a multicast address, inet_bind left the source to the device, as for a
            // broadcast one.)
            Some(l)
                if !l.ip().is_unspecified()
                    && !l.ip().is_multicast()
                    && !self.net.iface.accepts(*l.ip()) =>
            {
                return Err(Errno::ENETUNREACH)
            }
            Some(l) => {
                let key = ConnKey {
                    local_port: l.port(),
                    remote_ip: *remote.ip(),
                    remote_port: remote.port(),
                };
                if let Some(&old) = self.sockets.tcp_conns.get(&key) {
                    // Linux's __inet_check_established for a socket bound to its port: the
                    // 4-tuple in TIME-WAIT gives way if it had timestamps (tcp_twsk_unique),
                    // else it is taken. Linux's TIME-WAIT is a socket of its own, the program's
                    // closed: one the program still holds stays, its ports given up.
                    successor_iss = self
                        .sockets
                        .tcp(old)
                        .and_then(TcpSocket::connection)
                        .and_then(Connection::successor_iss);
                    if successor_iss.is_none() {
                        return Err(Errno::EADDRNOTAVAIL);
                    }
                    self.sockets.tcp_conns.remove(&key);
                    if self.sockets.tcp(old).is_some_and(|o| o.orphan) {
                        self.tcp_remove(old);
                    }
                }
                self.tcp_unbind_fresh(h, l.port());
                SocketAddrV4::new(our_ip, l.port())
            }
            None => {
                // RFC 6056 §3.3.3 (algorithm 3): a keyed hash of the endpoints picks where to start
                // looking, and a counter moves on for each connection, so ports are hard to guess
                // yet different peers do not collide.
                let tuple = tuple_bytes(SocketAddrV4::new(our_ip, 0), remote);
                let offset = tcp::ephemeral_port_offset(&self.tcp_key, &tuple)
                    .wrapping_add(self.port_counter);
                self.port_counter = self.port_counter.wrapping_add(1);
                let conns = &self.sockets.tcp_conns;
                let (listeners, bound) = (&self.sockets.tcp_listeners, &self.sockets.tcp_bound);
                let port = ports::pick_from(offset, |p| {
                    !listeners.contains_key(&p)
                        && !bound.contains_key(&p)
                        && !conns.contains_key(&ConnKey {
                            local_port: p,
                            remote_ip: *remote.ip(),
                            remote_port: remote.port(),
                        })
                })
                .ok_or(Errno::EADDRNOTAVAIL)?;
                SocketAddrV4::new(our_ip, port)
            }
        };
        let tuple = tuple_bytes(local, remote);
        let iss = successor_iss
            .unwrap_or_else(|| tcp::initial_sequence_number(&self.tcp_key, now, &tuple));
        let ts_offset = tcp::timestamp_offset(&self.tcp_key, &tuple);
        // Fast Open (RFC 7413 §3), if the program asked and the host's tcp_fastopen lets clients:
        // with a cookie from this server, the SYN waits for the first write to carry it;
        // without, it asks for one. Linux's no-cookie mode (the socket's TCP_FASTOPEN_NO_COOKIE
        // or the sysctl's 0x4) holds the SYN for the data as a cookie does, and sends none.
        let cookie = self.fast_open_cookie_for(*remote.ip());
        let sock = self.sockets.tcp_mut(h).ok_or(Errno::EBADF)?;
        // A new connection, a new random start for its identifications (Linux's tcp_v4_connect).
        sock.ip_id = None;
        let mut conn = Connection::connect(now, &sock.config, iss, ts_offset);
        self.net.fit_to_path(now, *remote.ip(), &mut conn);
        let bits = sock.config.fastopen;
        let fast_open = fast_open && bits & tcp::fastopen::sysctl::CLIENT_ENABLE != 0;
        let no_cookie =
            sock.fast_open.no_cookie || bits & tcp::fastopen::sysctl::CLIENT_NO_COOKIE != 0;
        if fast_open && no_cookie {
            conn.set_fast_open_no_cookie();
        } else if fast_open {
            conn.set_fast_open(cookie);
        }
        sock.local = Some(local);
        sock.remote = Some(remote);
        sock.state = TcpState::Connected(Box::new(conn));
        self.sockets.tcp_conns.insert(
            ConnKey {
                local_port: local.port(),
                remote_ip: *remote.ip(),
                remote_port: remote.port(),
            },
            h,
        );
        if fast_open && (cookie.is_some() || no_cookie) {
            self.net.stats.tcp_fastopen_active += 1;
        }
        self.tcp_after_event(now, h);
        Ok(())
    }

    /// The SYN that socket `h` holds for the program's first write goes now, with no data
    /// ([`Connection::send_held_syn`]); nothing if none waits.
    pub fn tcp_send_held_syn(&mut self, now: Instant, h: SocketHandle) -> Result<()> {
        self.conn(h)?.send_held_syn();
        self.tcp_after_event(now, h);
        Ok(())
    }

    /// Whether socket `h` connected with Fast Open and a cookie, its SYN waiting for the
    /// program's first write: its `connect` has succeeded at once, as Linux's does.
    pub fn tcp_connect_deferred(&self, h: SocketHandle) -> bool {
        self.sockets
            .tcp(h)
            .and_then(TcpSocket::connection)
            .is_some_and(Connection::syn_held)
    }

    /// How a connect is going: Ok once established (or later), EAGAIN while the handshake runs,
    /// or the error that ended it (ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH…).
    pub fn tcp_connect_status(&mut self, h: SocketHandle) -> Result<()> {
        let conn = self.conn(h)?;
        if let Some(e) = conn.take_error() {
            return Err(e);
        }
        match conn.state() {
            State::SynSent if conn.syn_held() => Ok(()),
            State::SynSent | State::SynReceived => Err(Errno::EAGAIN),
            State::Closed => Err(Errno::ECONNREFUSED),
            _ => Ok(()),
        }
    }

    /// Takes an established connection from a listener's queue: its handle and the peer's address.
    pub fn tcp_accept(
        &mut self,
        now: Instant,
        h: SocketHandle,
    ) -> Result<(SocketHandle, SocketAddrV4)> {
        let listener = self.tcp(h)?.listener_mut().ok_or(Errno::EINVAL)?;
        let child = listener.accept_queue.pop_front().ok_or(Errno::EAGAIN)?;
        let sock = self.tcp(child)?;
        sock.parent = None;
        let peer = sock.remote.expect("connections have a peer");
        // The accepted socket may have been reset while it waited; hand it out anyway, as Linux
        // does: the program learns of it on its first read.
        self.tcp_after_event(now, child);
        Ok((child, peer))
    }

    /// [`Connection::send_with`] on socket `h`: a program's data read straight into the send
    /// buffer. Nothing is sent yet: the caller reads all the program has written, in as many
    /// calls as the buffer takes it, then calls [`Stack::tcp_push`]. (One `write` can come in
    /// pieces; sent piece by piece, its tail would be a partial segment in the middle of it.)
    pub fn tcp_send_with(
        &mut self,
        h: SocketHandle,
        max: usize,
        fill: impl FnOnce(&mut [u8], &mut [u8]) -> usize,
    ) -> Result<usize> {
        let sock = self.tcp(h)?;
        if matches!(sock.state, TcpState::Fresh | TcpState::Listening(_)) {
            return Err(Errno::ENOTCONN);
        }
        self.conn(h)?.send_with(max, fill)
    }

    /// Sends what [`Stack::tcp_send_with`] queued on socket `h`, as the connection allows.
    pub fn tcp_push(&mut self, now: Instant, h: SocketHandle) {
        if self.sockets.tcp_mut(h).is_some() {
            self.tcp_after_event(now, h);
        }
    }

    /// [`Connection::recv_through_urgent`] on socket `h`: received data written straight to the
    /// program, the peer's urgent byte with the data before it.
    pub fn tcp_recv_through_urgent(
        &mut self,
        now: Instant,
        h: SocketHandle,
        drain: impl FnOnce(&[u8], &[u8], bool) -> usize,
    ) -> Result<usize> {
        let sock = self.tcp(h)?;
        if matches!(sock.state, TcpState::Fresh | TcpState::Listening(_)) {
            return Err(Errno::ENOTCONN);
        }
        if sock.read_shut {
            return Ok(0);
        }
        let r = self.conn(h)?.recv_through_urgent(now, drain);
        self.tcp_after_event(now, h);
        r
    }

    /// [`Connection::urgent_with`] on socket `h`: the peer's urgent byte, once the program has
    /// been given everything before it.
    pub fn tcp_urgent_with(
        &mut self,
        now: Instant,
        h: SocketHandle,
        take: impl FnOnce(u8) -> bool,
    ) -> bool {
        let Ok(conn) = self.conn(h) else {
            return false;
        };
        let took = conn.urgent_with(now, take);
        if took {
            self.tcp_after_event(now, h);
        }
        took
    }

    /// [`Connection::mark_urgent`] on socket `h`: the last byte [`Stack::tcp_send_with`] queued
    /// is the program's send(MSG_OOB).
    pub fn tcp_mark_urgent(&mut self, h: SocketHandle) {
        if let Ok(conn) = self.conn(h) {
            conn.mark_urgent();
        }
    }

    pub fn tcp_send(&mut self, now: Instant, h: SocketHandle, data: &[u8]) -> Result<usize> {
        let sock = self.tcp(h)?;
        if matches!(sock.state, TcpState::Fresh | TcpState::Listening(_)) {
            return Err(Errno::ENOTCONN);
        }
        let r = self.conn(h)?.send(data);
        self.tcp_after_event(now, h);
        r
    }

    pub fn tcp_recv(
        &mut self,
        now: Instant,
        h: SocketHandle,
        buf: &mut [u8],
        peek: bool,
    ) -> Result<usize> {
        let sock = self.tcp(h)?;
        if matches!(sock.state, TcpState::Fresh | TcpState::Listening(_)) {
            return Err(Errno::ENOTCONN);
        }
        if sock.read_shut {
            return Ok(0);
        }
        let conn = self.conn(h)?;
        let r = if peek {
            conn.peek(buf)
        } else {
            conn.recv_at(now, buf)
        };
        if !peek {
            // Reading may open the window: the engine decides whether that is worth an update.
            self.tcp_after_event(now, h);
        }
        r
    }

    pub fn tcp_shutdown(&mut self, now: Instant, h: SocketHandle, how: Shutdown) -> Result<()> {
        let sock = self.tcp(h)?;
        if !matches!(sock.state, TcpState::Connected(_)) {
            return Err(Errno::ENOTCONN);
        }
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            sock.read_shut = true;
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            self.conn(h)?.shutdown_write();
        }
        self.tcp_after_event(now, h);
        Ok(())
    }

    /// What poll/epoll would report for the socket.
    pub fn tcp_readiness(&self, h: SocketHandle) -> Readiness {
        let Some(sock) = self.sockets.tcp(h) else {
            return Readiness::default();
        };
        match &sock.state {
            TcpState::Fresh => Readiness {
                // Linux reports an unconnected TCP socket as writable-less and hung up.
                hangup: true,
                writable: true,
                ..Readiness::default()
            },
            TcpState::Listening(l) => Readiness {
                readable: !l.accept_queue.is_empty(),
                ..Readiness::default()
            },
            TcpState::Connected(c) => {
                let mut r = c.readiness();
                if sock.read_shut {
                    r.readable = true;
                }
                r
            }
        }
    }

    pub fn tcp_stats(&self, h: SocketHandle) -> Option<TcpStats> {
        Some(self.sockets.tcp(h)?.connection()?.stats())
    }

    /// Closes the program's hold on a TCP socket. A connection goes on (FIN, TIME-WAIT) until it is
    /// over; a listener resets the connections nobody accepted.
    pub(super) fn tcp_close(&mut self, now: Instant, h: SocketHandle) -> Result<()> {
        let sock = self.tcp(h)?;
        match &mut sock.state {
            TcpState::Fresh => self.tcp_remove(h),
            TcpState::Listening(l) => {
                let pending: Vec<SocketHandle> = l
                    .syn_queue
                    .drain(..)
                    .chain(l.accept_queue.drain(..))
                    .collect();
                self.tcp_remove(h);
                for child in pending {
                    if let Some(s) = self.sockets.tcp_mut(child) {
                        s.parent = None;
                        s.orphan = true;
                        if let Some(c) = s.connection_mut() {
                            c.abort();
                        }
                    }
                    self.tcp_after_event(now, child);
                }
            }
            TcpState::Connected(c) => {
                c.close();
                sock.orphan = true;
                self.tcp_after_event(now, h);
            }
        }
        Ok(())
    }
}

impl Stack {
    /// True when every connection the program closed has had its data and FIN acknowledged:
    /// nothing we sent can still be lost. (FIN-WAIT-2 and TIME-WAIT wait only for the peer, which a
    /// process about to exit need not do; connections still open are the program's business.)
    pub fn tcp_all_quiet(&self) -> bool {
        self.sockets.tcp_conns.values().all(|&h| {
            self.sockets
                .tcp(h)
                .and_then(TcpSocket::connection)
                .is_none_or(|c| {
                    !matches!(c.state(), State::FinWait1 | State::Closing | State::LastAck)
                })
        })
    }
}
