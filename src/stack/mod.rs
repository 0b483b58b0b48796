//! The stack: one object that owns the interface, the neighbour cache, reassembly and the socket
//! table, and moves packets between the device and the sockets.
//!
//! It is sans-IO. The runtime (or a test) drives it with four calls:
//! - [`Stack::receive`]: a frame arrived at time `now`;
//! - [`Stack::poll`]: time has reached `now`; run timers (ARP retries, reassembly, TCP);
//! - [`Stack::pop_frame`]: a frame to hand to the device;
//! - [`Stack::poll_at`]: when the stack next needs [`Stack::poll`].
//!
//! Socket operations (`udp_*`) are methods too; they may queue frames. Sockets whose readiness may
//! have changed are collected for [`Stack::take_woken`], so the runtime can wake whoever waits on
//! them. Nothing here reads a clock, sleeps or makes a system call.

mod input;
mod multicast;
mod output;
pub mod ports;
pub mod socket_table;
mod stats;
mod tcp_calls;
mod tcp_io;
pub mod tcp_socket;
mod timers;
mod udp_calls;

use std::collections::VecDeque;

pub use multicast::GroupInterface;
pub use output::{PmtuDisc, MIN_PATH_MTU};
pub use socket_table::{Socket, SocketHandle, SocketTable};
pub use stats::Stats;
pub use tcp_calls::Shutdown;
pub use udp_calls::PerDatagram;

use crate::arp::{ArpConfig, NeighbourCache};
use crate::device::DeviceCaps;
use crate::icmp::ErrorLimits;
use crate::ipv4::reassembly::Reassembler;
use crate::ipv4::Interface;
use crate::rand::Rng;
use crate::tcp;
use crate::time::{earliest, Instant};
use crate::wire::{ChecksumMode, MacAddr};

pub struct Stack {
    net: Net,
    /// The secret behind initial sequence numbers, timestamp offsets and ephemeral ports.
    tcp_key: tcp::SipKey,
    /// Options every new TCP socket starts with.
    tcp_defaults: tcp::Config,
    /// Fast Open (RFC 7413): the key of our listeners' cookies (unless a listener has its own),
    /// and the cookies servers gave us, by server address (Linux keeps them in its TCP metrics).
    fast_open_key: tcp::SipKey,
    fast_open_cookies:
        std::collections::HashMap<std::net::Ipv4Addr, crate::wire::tcp::FastOpenCookie>,
    /// RFC 6056 algorithm 3's counter.
    port_counter: u32,
    reassembly: Reassembler,
    sockets: SocketTable,
    icmp_limits: ErrorLimits,
    rng: Rng,
    /// Sockets whose readiness may have changed, in order, and the same as a set (so marking one
    /// again costs nothing whatever their number).
    woken: Vec<SocketHandle>,
    woken_set: socket_table::HandleSet,
    /// The TCP connections' deadlines, in order.
    timers: timers::TimerQueue,
    /// The most sockets the table holds ([`Stack::set_max_sockets`]).
    max_sockets: usize,
    /// The OS's index of the interface ([`Stack::set_ifindex`]).
    ifindex: u32,
    /// The wall clock as the driver last gave it: an instant of ours and the time since the Unix
    /// epoch then ([`Stack::set_wall_clock`]).
    wall_clock: Option<(Instant, std::time::Duration)>,
}

/// The network side of the stack: addressing, neighbours and the frames going out. Kept apart from
/// the socket table so a socket can write its output while the table holds it borrowed.
pub(crate) struct Net {
    iface: Interface,
    checksum: ChecksumMode,
    /// What is left to check of the checksums of the frame being received (the device may
    /// vouch for them, frame by frame).
    rx_checksum: ChecksumMode,
    neighbours: NeighbourCache,
    ip_ident: u16,
    /// Frames ready for the device. An empty one is a frame withdrawn before it left (see
    /// [`Net::withdraw_superseded_ack`]), skipped by `pop_frame`.
    tx: VecDeque<Vec<u8>>,
    /// Frames taken from `tx` so far: a queued frame's place in all the output is this plus its
    /// index in `tx`.
    tx_taken: u64,
    /// Pure ACKs still in `tx`: (connection, place in the output, acknowledgment number).
    queued_acks: Vec<(SocketHandle, u64, u32)>,
    /// The connection whose output is being queued holds no out-of-order data: its pure ACKs
    /// are no duplicate ACKs a peer counts, and a later segment acknowledging as much replaces
    /// one.
    in_order_receiver: bool,
    /// The identification counter of the connection whose output is being queued (see
    /// [`tcp_socket::TcpSocket::ip_id`]), advanced by each DF packet that goes.
    conn_ident: Option<u16>,
    /// Path MTUs learnt from ICMP "fragmentation needed", by destination.
    path_mtus: Vec<output::PathMtu>,
    /// How many path MTUs were learnt in all (new, or lower for a known path), for the programs'
    /// side to know when to ask again ([`Stack::path_mtus_learnt`]).
    path_mtus_learnt: u64,
    /// Frames addressed to ourselves, fed back in by the next `poll`.
    loopback: VecDeque<Vec<u8>>,
    stats: Stats,
    /// The multicast groups the interface is a member of, and IGMP's reports of them.
    igmp: crate::igmp::Memberships,
}

impl Stack {
    /// A stack with `iface`'s addressing over a device with `caps`; `seed` keys its randomness.
    pub fn new(iface: Interface, caps: DeviceCaps, seed: u64) -> Stack {
        let mut rng = Rng::new(seed);
        let ip_ident = rng.next_u32() as u16;
        let tcp_key = tcp::SipKey::from_rng(&mut rng);
        let fast_open_key = tcp::SipKey::from_rng(&mut rng);
        let tcp_defaults = tcp::Config {
            // MSS from the MTU (RFC 9293 §3.7.1): room for the IPv4 and TCP headers.
            mss: (caps.mtu - 40).min(u16::MAX as usize) as u16,
            tso: caps.tso,
            // Linux leaves keepalive off until the program asks (SO_KEEPALIVE).
            keepalive: false,
            ..tcp::Config::default()
        };
        Stack {
            tcp_key,
            tcp_defaults,
            fast_open_key,
            fast_open_cookies: std::collections::HashMap::new(),
            port_counter: 0,
            net: Net {
                iface: Interface {
                    mtu: caps.mtu,
                    ..iface
                },
                checksum: caps.checksum,
                rx_checksum: caps.checksum,
                neighbours: NeighbourCache::new(ArpConfig::default()),
                ip_ident,
                tx: VecDeque::new(),
                tx_taken: 0,
                queued_acks: Vec::new(),
                in_order_receiver: false,
                conn_ident: None,
                path_mtus: Vec::new(),
                path_mtus_learnt: 0,
                loopback: VecDeque::new(),
                stats: Stats::default(),
                igmp: crate::igmp::Memberships::default(),
            },
            reassembly: Reassembler::new(),
            sockets: SocketTable::default(),
            icmp_limits: ErrorLimits::default(),
            rng,
            woken: Vec::new(),
            woken_set: socket_table::HandleSet::default(),
            timers: timers::TimerQueue::default(),
            max_sockets: crate::config::DEFAULT_MAX_SOCKETS,
            wall_clock: None,
            ifindex: 0,
        }
    }

    /// Bounds the socket table (`TAPSTACK_MAX_SOCKETS`): every socket counts, a program's, a
    /// connection waiting to be accepted or still closing. Past it a new socket gets ENOBUFS (as
    /// Linux's `socket` when it cannot allocate one) and a SYN to a listener is answered as when
    /// its SYN queue is full (a cookie, or nothing); a connection in TIME-WAIT makes room.
    pub fn set_max_sockets(&mut self, n: usize) {
        self.max_sockets = n.max(1);
    }

    /// Whether a program may have a new socket: ENOMEM under memory pressure (as Linux's
    /// `socket` when it cannot allocate one), ENOBUFS at the bound on sockets.
    fn admit_socket(&mut self) -> Result<(), crate::error::Errno> {
        if !self.memory_for_socket() {
            return Err(crate::error::Errno::ENOMEM);
        }
        if !self.room_for_socket() {
            return Err(crate::error::Errno::ENOBUFS);
        }
        Ok(())
    }

    /// Whether there is memory for one more socket: not under pressure, and its place in the
    /// tables reserved (their growth is the one large allocation a new socket may cause). Counts
    /// the refusal if not.
    pub(super) fn memory_for_socket(&mut self) -> bool {
        if !crate::memory::under_pressure()
            && self.sockets.try_reserve_one()
            && self.timers.try_reserve_one()
        {
            return true;
        }
        self.net.stats.sockets_refused_memory += 1;
        false
    }

    /// Whether the table can take one more socket, after ending a connection in TIME-WAIT if it
    /// is at its bound (Linux keeps no more TIME-WAIT than `tcp_max_tw_buckets`, and ends the
    /// one past it at once). Counts the refusal if not.
    fn room_for_socket(&mut self) -> bool {
        if self.sockets.len() < self.max_sockets {
            return true;
        }
        // Only at the bound, so the scan costs nothing in ordinary running.
        let waiting = self.sockets.handles().find(|&h| {
            self.sockets.tcp(h).is_some_and(|t| {
                t.orphan
                    && t.connection()
                        .is_some_and(|c| c.state() == tcp::State::TimeWait)
            })
        });
        match waiting {
            Some(h) => {
                self.tcp_remove(h);
                self.net.stats.tcp_time_wait_recycled += 1;
                true
            }
            None => {
                self.net.stats.sockets_refused += 1;
                false
            }
        }
    }

    /// The limits on the ICMP messages the stack sends, from the host's sysctls
    /// ([`crate::host::icmp_limits`]); Linux's defaults until set.
    pub fn set_icmp_limits(&mut self, settings: crate::icmp::LimitSettings) {
        self.icmp_limits = ErrorLimits::new(settings);
    }

    pub fn iface(&self) -> &Interface {
        &self.net.iface
    }

    pub fn stats(&self) -> &Stats {
        &self.net.stats
    }

    /// SIOCSARP: `ip` is at `mac` from now on, as a reply to our own request would say (Linux's
    /// arp_req_set enters it NUD_REACHABLE, ATF_COM); frames waiting for it go. Refused (EINVAL)
    /// for an address no neighbour can have (Linux's arp_req_set_public or a route that is not
    /// on the link): a broadcast, multicast or unspecified one, or one off the TAP's subnet.
    pub fn set_neighbour(
        &mut self,
        now: Instant,
        ip: std::net::Ipv4Addr,
        mac: MacAddr,
    ) -> crate::error::Result<()> {
        let iface = &self.net.iface;
        if !iface.is_on_link(ip)
            || iface.is_broadcast(ip)
            || ip.is_multicast()
            || ip.is_unspecified()
            || ip == iface.addr
            || !mac.is_unicast()
        {
            return Err(crate::error::Errno::EINVAL);
        }
        self.net.learn_neighbour(now, ip, mac, true, true);
        Ok(())
    }

    /// Neighbours currently resolved, for display.
    pub fn neighbours(&self) -> Vec<(std::net::Ipv4Addr, MacAddr)> {
        self.net.neighbours.resolved().collect()
    }

    /// Runs every timer that is due at `now` and delivers frames we sent to ourselves.
    pub fn poll(&mut self, now: Instant) {
        // Frames to ourselves never leave memory: their checksums are not computed for a
        // super-segment, nor checked (as Linux's loopback device, which offloads them).
        self.net.rx_checksum = ChecksumMode::Offloaded;
        while let Some(frame) = self.net.loopback.pop_front() {
            self.receive_frame(now, &frame, true);
        }
        self.net.rx_checksum = self.net.checksum;
        let arp = self.net.neighbours.poll(now);
        for ip in arp.requests {
            self.net.send_arp_request(ip, MacAddr::BROADCAST);
        }
        for (ip, mac) in arp.probes {
            self.net.send_arp_request(ip, mac);
        }
        for failed in arp.failed {
            self.net.stats.arp_failures += 1;
            if let Some(owner) = failed.owner {
                self.neighbour_failed(owner);
            }
        }
        let reports = self.net.igmp.poll(now, &mut self.rng);
        self.net.send_igmp(reports);
        for expired in self.reassembly.poll(now) {
            self.net.stats.ip_reassembly_timeouts += 1;
            self.send_reassembly_timeout(now, &expired);
        }
        self.tcp_poll(now);
    }

    /// When [`poll`](Self::poll) must next run (at or before `now` if it has work already);
    /// `None` when nothing is pending.
    pub fn poll_at(&self, now: Instant) -> Option<Instant> {
        if !self.net.loopback.is_empty() {
            return Some(now);
        }
        let lower = earliest(self.net.neighbours.poll_at(), self.reassembly.poll_at());
        let lower = earliest(lower, self.net.igmp.poll_at());
        earliest(lower, self.tcp_poll_at(now))
    }

    /// The options new TCP sockets start with (tests and tools shorten timers through this).
    pub fn tcp_defaults(&self) -> &tcp::Config {
        &self.tcp_defaults
    }

    pub fn tcp_defaults_mut(&mut self) -> &mut tcp::Config {
        &mut self.tcp_defaults
    }

    /// The address a socket is bound to, as `getsockname` reports it (0.0.0.0:0 when unbound).
    pub fn local_addr(&self, h: SocketHandle) -> crate::error::Result<std::net::SocketAddrV4> {
        let local = match self.sockets.get(h).ok_or(crate::error::Errno::EBADF)? {
            Socket::Udp(s) => s.local,
            Socket::Tcp(s) => s.local,
        };
        Ok(local.unwrap_or(std::net::SocketAddrV4::new(
            std::net::Ipv4Addr::UNSPECIFIED,
            0,
        )))
    }

    /// The connected peer, as `getpeername` reports it.
    pub fn peer_addr(&self, h: SocketHandle) -> crate::error::Result<std::net::SocketAddrV4> {
        match self.sockets.get(h).ok_or(crate::error::Errno::EBADF)? {
            Socket::Udp(s) => s.remote.ok_or(crate::error::Errno::ENOTCONN),
            Socket::Tcp(s) => match s.connection().map(tcp::Connection::state) {
                Some(tcp::State::SynSent | tcp::State::SynReceived | tcp::State::Closed) | None => {
                    Err(crate::error::Errno::ENOTCONN)
                }
                Some(_) => s.remote.ok_or(crate::error::Errno::ENOTCONN),
            },
        }
    }

    /// IP_MTU: the MTU of the path to a connected socket's peer (Linux's `dst_mtu`: the
    /// interface's, or less once a "fragmentation needed" taught the path's; loopback's 65 536),
    /// ENOTCONN for one not connected.
    pub fn path_mtu_of(&self, now: Instant, h: SocketHandle) -> crate::error::Result<usize> {
        Ok(self.path_mtu_to(now, *self.peer_addr(h)?.ip()).0)
    }

    /// The MTU of the path to `dst` (a datagram's destination), and how long what was learnt of
    /// it still holds (`None`: nothing learnt, the interface's MTU, until a path MTU is learnt).
    pub fn path_mtu_to(
        &self,
        now: Instant,
        dst: std::net::Ipv4Addr,
    ) -> (usize, Option<crate::time::Duration>) {
        if dst.is_loopback() {
            return (65_536, None);
        }
        (
            self.net.path_mtu(now, dst).0,
            self.net.path_mtu_left(now, dst),
        )
    }

    /// How many path MTUs the stack has learnt so far (a count that moves when one is learnt).
    pub fn path_mtus_learnt(&self) -> u64 {
        self.net.path_mtus_learnt
    }

    /// Releases the program's hold on a socket. UDP sockets go at once; TCP connections finish
    /// their closing handshake first.
    pub fn close(&mut self, now: Instant, h: SocketHandle) -> crate::error::Result<()> {
        match self.sockets.get(h).ok_or(crate::error::Errno::EBADF)? {
            Socket::Udp(_) => self.udp_close(now, h),
            Socket::Tcp(_) => self.tcp_close(now, h),
        }
    }

    /// Replaces the secret key of the keyed hashes behind initial sequence numbers, timestamp
    /// offsets and ephemeral ports (by default derived from the seed).
    pub fn set_secret_key(&mut self, key: tcp::SipKey) {
        self.tcp_key = key;
    }

    /// The key of Fast Open cookies for listeners without their own (Linux's
    /// `net.ipv4.tcp_fastopen_key`); by default drawn from the seed.
    pub fn fast_open_key(&self) -> tcp::SipKey {
        self.fast_open_key
    }

    pub fn set_fast_open_key(&mut self, key: tcp::SipKey) {
        self.fast_open_key = key;
    }

    /// SO_ERROR: the socket's pending error, cleared by reading it.
    pub fn take_socket_error(&mut self, h: SocketHandle) -> Option<crate::error::Errno> {
        match self.sockets.get_mut(h)? {
            Socket::Udp(u) => u.error.take(),
            Socket::Tcp(t) => t.connection_mut()?.take_error(),
        }
    }

    /// Whether TCP socket `h`'s connection holds a soft error (an ICMP error while established),
    /// which SO_ERROR reports once though the connection goes on.
    pub fn tcp_soft_error_pending(&self, h: SocketHandle) -> bool {
        self.sockets
            .tcp(h)
            .and_then(|t| t.connection())
            .is_some_and(|c| c.has_soft_error())
    }

    /// Number of sockets in the table, including connections still closing after `close`.
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    /// The next frame for the device.
    pub fn pop_frame(&mut self) -> Option<Vec<u8>> {
        let net = &mut self.net;
        loop {
            let Some(frame) = net.tx.pop_front() else {
                net.queued_acks.clear();
                return None;
            };
            net.tx_taken += 1;
            if !frame.is_empty() {
                return Some(frame);
            }
        }
    }

    /// Frames waiting for the device.
    pub fn frames_pending(&self) -> usize {
        self.net.tx.len()
    }

    /// Tells the stack the wall-clock time (`since_epoch`, from CLOCK_REALTIME) at its instant
    /// `now`: ICMP timestamp replies carry it. The core reads no clock of its own, so the driver
    /// gives it, and again now and then to follow adjustments of the system clock.
    pub fn set_wall_clock(&mut self, now: Instant, since_epoch: std::time::Duration) {
        self.wall_clock = Some((now, since_epoch));
    }

    /// An ICMP timestamp for `now` (RFC 792): milliseconds since midnight UT, as Linux's
    /// `inet_current_timestamp`; without a wall clock, our own milliseconds with the high bit
    /// set, RFC 792's mark of a time not counted from midnight UT.
    fn icmp_timestamp(&self, now: Instant) -> u32 {
        const DAY_MS: u128 = 86_400_000;
        match self.wall_clock {
            Some((at, since_epoch)) => {
                let wall = since_epoch + now.saturating_since(at);
                (wall.as_millis() % DAY_MS) as u32
            }
            None => (now.as_millis() as u32) | 0x8000_0000,
        }
    }

    /// Sockets whose readiness may have changed since the last call.
    pub fn take_woken(&mut self) -> Vec<SocketHandle> {
        self.woken_set.clear();
        std::mem::take(&mut self.woken)
    }

    /// The sockets woken since the last [`Stack::take_woken`], left in place.
    pub fn woken(&self) -> &[SocketHandle] {
        &self.woken
    }

    fn wake(&mut self, h: SocketHandle) {
        self.sockets.note_wake(h);
        if self.woken_set.insert(h) {
            self.woken.push(h);
        }
    }

    /// How many times `h` has been woken: moves whenever its readiness may have changed.
    pub fn wake_count(&self, h: SocketHandle) -> u64 {
        self.sockets.wakes(h)
    }

    /// Records an asynchronous error on a socket (SO_ERROR) and wakes its waiters.
    /// A frame of `h`'s was dropped because its next hop never answered ARP. Linux answers it
    /// with an ICMP host unreachable to itself (`ipv4_link_failure`), a soft error: it ends a
    /// connection attempt, and a UDP socket hears of it only with IP_RECVERR (else its program
    /// waits for an answer that will not come, as on Linux).
    fn neighbour_failed(&mut self, h: SocketHandle) {
        if let Some(Socket::Udp(s)) = self.sockets.get_mut(h) {
            if !s.recv_err {
                return;
            }
        }
        self.report_error(h, crate::error::Errno::EHOSTUNREACH);
    }

    fn report_error(&mut self, h: SocketHandle, e: crate::error::Errno) {
        match self.sockets.get_mut(h) {
            Some(Socket::Udp(s)) => s.error = Some(e),
            Some(Socket::Tcp(s)) => {
                // A neighbour that stops answering ends a connection attempt at once, but for an
                // established connection it is a soft error (RFC 1122 §4.2.3.9): retransmission
                // goes on and decides, as on Linux.
                if let Some(c) = s.connection_mut() {
                    if matches!(c.state(), tcp::State::SynSent | tcp::State::SynReceived) {
                        c.set_error(e);
                    } else {
                        c.set_soft_error(e);
                    }
                }
            }
            None => return,
        }
        self.wake(h);
    }
}
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
