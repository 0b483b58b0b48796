//! The stack's whole input path under a fuzzer.
//!
//! A [`Stack`] at 10.77.0.2 is set up, with the fuzzer's peer at 10.77.0.1, holding a listener
//! and connections in several states: established with data both ways in flight, CLOSE-WAIT,
//! FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT, SYN-SENT, and a half-open SYN-RECEIVED in the listener's
//! queue, plus a bound UDP socket. The fuzz input is then read as a program of operations: raw
//! frames, raw IP packets, TCP segments built around the connections' live sequence numbers (so
//! they get past the acceptability checks), IP fragments of those, ICMP errors quoting the
//! connections, UDP datagrams, the program's own calls (recv, send, close, shutdown, accept), and
//! the passing of time. After every operation the stack's output is parsed and checked, and so
//! are these invariants:
//!
//! - no panic, anywhere;
//! - no byte delivered that was not sent: the peer's data bytes are a function of their sequence
//!   number, and every byte `tcp_recv` returns must be the one sent at its place in the stream;
//!   UDP datagrams must arrive whole and as sent;
//! - likewise every data byte the stack sends is the one the program wrote at that place, and a
//!   FIN goes out only after the program closed or shut down its side;
//! - every frame the stack sends parses (with checksums verified in `Full` mode);
//! - buffers within their bounds: receive and send queues within the socket's buffer sizes,
//!   SACKed ≤ unacknowledged, bytes acknowledged ≤ bytes sent, a sane RTO, cwnd and MSS; the
//!   socket table within what the listener's queues allow;
//! - polling at `now` ends with the stack due no sooner than after `now` (else the runtime's
//!   driver thread would spin), allowing a few rounds for frames it sends itself.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};

use tapstack::device::DeviceCaps;
use tapstack::ipv4::Interface;
use tapstack::stack::{Shutdown, SocketHandle, Stack};
use tapstack::tcp::State;
use tapstack::time::{Duration, Instant};
use tapstack::wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use tapstack::wire::checksum;
use tapstack::wire::ethernet::{EtherType, EthernetFrame, EthernetRepr, HEADER_LEN as ETH_LEN};
use tapstack::wire::icmp::{Icmpv4Packet, Icmpv4Repr};
use tapstack::wire::ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};
use tapstack::wire::tcp::{TcpFlags, TcpOptions, TcpPacket, TcpRepr};
use tapstack::wire::udp::{UdpPacket, UdpRepr};
use tapstack::wire::{ChecksumMode, MacAddr};

pub const A_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
pub const B_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
pub const A_MAC: MacAddr = MacAddr([2, 0x74, 0x73, 0x4d, 0, 2]);
pub const B_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const LISTEN_PORT: u16 = 80;
const BACKLOG: usize = 2;
const UDP_PORT: u16 = 5353;
const BUFFER: usize = 8192;
/// Operations read from one input, at most.
const MAX_OPS: usize = 400;

/// The byte the peer sends at sequence number `seq`.
pub fn peer_byte(seq: u32) -> u8 {
    let x = seq.wrapping_mul(0x9e37_79b1);
    (x >> 24) as u8 ^ (x >> 11) as u8
}

/// The byte the program writes at stream offset `at`.
pub fn app_byte(at: u64) -> u8 {
    let x = (at as u32).wrapping_mul(0x2545_f491) ^ 0x5a5a_5a5a;
    (x >> 24) as u8 ^ (x >> 7) as u8
}

/// The fuzz input, read a field at a time; zeros once it is used up.
struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// What the stack's own segments say about one 4-tuple (ours, the peer's): the peer side's view.
#[derive(Default, Clone, Copy, Debug)]
struct Seen {
    /// The sequence number after the stack's furthest segment (about SND.MAX).
    a_nxt: u32,
    /// The stack's latest acknowledgment (its RCV.NXT).
    a_ack: u32,
    /// The stack's latest TSval, for the peer to echo.
    a_tsval: u32,
    /// The peer's timestamp clock.
    peer_ts: u32,
    /// Timestamps were in the stack's SYN or SYN-ACK: the peer should send them.
    ts_on: bool,
}

/// A connection the program holds.
#[derive(Debug)]
struct Conn {
    handle: SocketHandle,
    local_port: u16,
    peer: SocketAddrV4,
    /// The peer's initial sequence number: the first data byte is at `irs + 1`. Unknown for a
    /// connection still opening.
    irs: Option<u32>,
    /// Our initial sequence number.
    iss: u32,
    delivered: u64,
    written: u64,
    /// `recv` returned end of file.
    eof: bool,
    /// The program closed it: the handle is not ours any more.
    closed: bool,
    /// The program shut down its sending side (or closed): a FIN may go out.
    fin_allowed: bool,
}

type Tuple = (u16, Ipv4Addr, u16);

pub struct Harness {
    now: Instant,
    stack: Stack,
    mode: ChecksumMode,
    listener: SocketHandle,
    udp: SocketHandle,
    conns: Vec<Conn>,
    seen: HashMap<Tuple, Seen>,
    /// SYN-ACKs the stack sent: (tuple, its ISS) → the peer's ISN it acknowledged.
    synacks: HashMap<(Tuple, u32), u32>,
    /// 4-tuples the fuzzer's segments can aim at.
    tuples: Vec<Tuple>,
    /// Datagrams sent to our UDP socket, oldest first.
    udp_sent: VecDeque<Vec<u8>>,
    /// A raw frame could have put bytes of the fuzzer's own choosing into a TCP stream (a
    /// fragment, whose payload the harness cannot rewrite) or a UDP datagram: stop checking those.
    tcp_tainted: bool,
    udp_tainted: bool,
    ident: u16,
}

impl Harness {
    fn new(profile: u8) -> Harness {
        let mode = if profile & 1 == 0 {
            ChecksumMode::Full
        } else {
            ChecksumMode::Offloaded
        };
        let iface = Interface {
            mac: A_MAC,
            addr: A_IP,
            prefix_len: 24,
            gateway: Some(B_IP),
            mtu: 1500,
        };
        let mut stack = Stack::new(
            iface,
            DeviceCaps {
                mtu: 1500,
                checksum: mode,
                // Half the profiles emit TCP super-segments, as over a TAP with offload.
                tso: profile & 16 != 0,
            },
            42,
        );
        let cfg = stack.tcp_defaults_mut();
        cfg.recv_buffer = BUFFER;
        cfg.send_buffer = BUFFER;
        cfg.timestamps = profile & 2 == 0;
        cfg.sack = profile & 4 == 0;
        cfg.window_scale = profile & 8 == 0;
        let listener = stack.tcp_socket().unwrap();
        stack
            .tcp_bind(
                listener,
                SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, LISTEN_PORT),
            )
            .unwrap();
        stack.tcp_listen(listener, BACKLOG).unwrap();
        let udp = stack.udp_socket().unwrap();
        stack
            .udp_bind(udp, SocketAddrV4::new(A_IP, UDP_PORT))
            .unwrap();
        Harness {
            now: Instant::from_millis(1),
            stack,
            mode,
            listener,
            udp,
            conns: Vec::new(),
            seen: HashMap::new(),
            synacks: HashMap::new(),
            tuples: Vec::new(),
            udp_sent: VecDeque::new(),
            tcp_tainted: false,
            udp_tainted: false,
            ident: 1,
        }
    }

    /// The stack with its connections in their states, as the peer would leave them. `profile`
    /// picks the checksum mode and the peer's SYN options.
    pub fn setup(profile: u8) -> Harness {
        let mut h = Harness::new(profile);
        // The peer asks for our address, so we know its MAC.
        let arp = ArpRepr {
            operation: ArpOperation::Request,
            sender_mac: B_MAC,
            sender_ip: B_IP,
            target_mac: MacAddr([0; 6]),
            target_ip: A_IP,
        };
        let mut f = eth_frame(MacAddr::BROADCAST, EtherType::ARP, arp.buffer_len());
        arp.emit(&mut ArpPacket::new_unchecked(&mut f[ETH_LEN..]));
        h.feed(&f);
        h.settle();
        let syn_opts = |profile: u8| TcpOptions {
            mss: Some(1460),
            window_scale: (profile & 0x10 == 0).then_some(7),
            sack_permitted: profile & 0x20 == 0,
            timestamps: (profile & 0x40 == 0).then_some((1000, 0)),
            ..TcpOptions::default()
        };
        let opts = syn_opts(profile);

        // Established, with 500 bytes from the peer unread and 3000 of ours unacknowledged.
        // Its sequence numbers wrap around soon.
        let c0 = h.passive(40000, 0xffff_f000, opts);
        h.app_send(c0, 3000);
        h.peer_data(c0, 500, false);
        // CLOSE-WAIT: the peer sent data and its FIN.
        let c1 = h.passive(40001, 0x1234_5678, opts);
        h.peer_data(c1, 100, true);
        // FIN-WAIT-1: we closed, the peer acknowledged nothing.
        let c2 = h.passive(40002, 0x8000_0000, opts);
        h.app_close(c2);
        // TIME-WAIT: we closed, the peer acknowledged our FIN and sent its own.
        let c3 = h.passive(40003, 77, opts);
        h.app_close(c3);
        h.peer_data(c3, 0, true);
        // FIN-WAIT-2: our active open, our side shut down and its FIN acknowledged.
        let c4 = h.active(9000, Some((0x4000_0000, opts)));
        h.app_shutdown(c4, Shutdown::Write);
        h.peer_data(c4, 0, false);
        // SYN-SENT: nobody answers.
        h.active(9001, None);
        // SYN-RECEIVED: a handshake the peer does not finish.
        h.peer_syn(40005, 5555, opts);
        // If the stack's behaviour changes under the harness, say so at the first input rather
        // than fuzz something else than this.
        let states: Vec<State> = h
            .conns
            .iter()
            .map(|c| {
                h.stack
                    .tcp_socket_ref(c.handle)
                    .and_then(|s| s.connection())
                    .map(|c| c.state())
            })
            .map(|s| s.expect("a connection"))
            .collect();
        use State::*;
        assert_eq!(
            states,
            [
                Established,
                CloseWait,
                FinWait1,
                TimeWait,
                FinWait2,
                SynSent
            ],
            "the set-up connections are not in their states (profile {profile:#x})"
        );
        assert!(h.conns[..5].iter().all(|c| c.irs.is_some()));
        assert_eq!(h.stack.socket_count(), 2 + 6 + 1);
        h
    }

    /// Hands a frame to the stack.
    fn feed(&mut self, frame: &[u8]) {
        self.stack.receive(self.now, frame);
    }

    /// Takes the stack's output, checks every frame, and learns what the peer would from it.
    fn settle(&mut self) {
        while let Some(frame) = self.stack.pop_frame() {
            self.observe(&frame);
        }
        self.check();
    }

    fn observe(&mut self, frame: &[u8]) {
        let eth = EthernetFrame::new_checked(frame).expect("the stack sent a short frame");
        let eth_repr = EthernetRepr::parse(&eth).unwrap();
        assert_eq!(eth_repr.src, A_MAC);
        match eth_repr.ethertype {
            EtherType::ARP => {
                let p = ArpPacket::new_checked(eth.payload()).expect("our ARP is whole");
                let arp = ArpRepr::parse(&p).expect("our ARP parses");
                assert_eq!(arp.sender_ip, A_IP);
            }
            EtherType::IPV4 => self.observe_ip(eth.payload()),
            other => panic!("the stack sent ethertype {other}"),
        }
    }

    fn observe_ip(&mut self, bytes: &[u8]) {
        let p = Ipv4Packet::new_checked(bytes).expect("our IP header is whole");
        let ip = Ipv4Repr::parse(&p, self.mode).expect("our IP header verifies");
        assert_eq!(ip.src_addr, A_IP);
        if ip.more_frags || ip.frag_offset != 0 {
            return; // large ICMP echo replies; their pieces are not checked one by one
        }
        let payload = p.payload();
        match ip.protocol {
            IpProtocol::TCP => {
                let tp = TcpPacket::new_checked(payload).expect("our TCP header is whole");
                // A super-segment for the device to cut (DeviceCaps::tso) carries only the
                // pseudo-header sum: the device finishes each segment's checksum.
                let mode = if bytes.len() > 1500 {
                    ChecksumMode::Offloaded
                } else {
                    self.mode
                };
                let seg = TcpRepr::parse(&tp, ip.src_addr, ip.dst_addr, mode)
                    .expect("our TCP segment verifies");
                self.observe_tcp(ip.dst_addr, &seg);
            }
            IpProtocol::ICMP => {
                let ip_ = Icmpv4Packet::new_checked(payload).expect("our ICMP is whole");
                Icmpv4Repr::parse(&ip_, self.mode).expect("our ICMP verifies");
            }
            IpProtocol::UDP => {
                let up = UdpPacket::new_checked(payload).expect("our UDP is whole");
                UdpRepr::parse(&up, ip.src_addr, ip.dst_addr, self.mode).expect("our UDP verifies");
            }
            other => panic!("the stack sent IP protocol {other}"),
        }
    }

    fn observe_tcp(&mut self, peer_ip: Ipv4Addr, seg: &TcpRepr) {
        let tuple = (seg.src_port, peer_ip, seg.dst_port);
        let syn = seg.flags.contains(TcpFlags::SYN);
        let rst = seg.flags.contains(TcpFlags::RST);
        if syn && seg.flags.contains(TcpFlags::ACK) {
            self.synacks
                .insert((tuple, seg.seq), seg.ack.wrapping_sub(1));
        }
        let end = seg.seq.wrapping_add(seg.segment_len() as u32);
        let seen = self.seen.entry(tuple).or_default();
        if syn {
            seen.ts_on = seg.options.timestamps.is_some();
            seen.a_nxt = end;
        } else if !rst && (end.wrapping_sub(seen.a_nxt) as i32) > 0 {
            seen.a_nxt = end;
        }
        if seg.flags.contains(TcpFlags::ACK) && !rst {
            seen.a_ack = seg.ack;
        }
        if let Some((tsval, _)) = seg.options.timestamps {
            seen.a_tsval = tsval;
        }
        if rst {
            assert!(seg.payload.is_empty(), "a RST with data");
            return;
        }
        // Our data: only what the program wrote, each byte at its place.
        let conn = self.conns.iter().rev().find(|c| {
            c.local_port == tuple.0 && *c.peer.ip() == peer_ip && c.peer.port() == tuple.2
        });
        let Some(c) = conn else {
            assert!(
                seg.payload.is_empty(),
                "data on a connection nobody accepted: {seg:?}"
            );
            return;
        };
        if syn {
            assert!(seg.payload.is_empty(), "data on our SYN");
            return;
        }
        if seg.flags.contains(TcpFlags::FIN) {
            assert!(
                c.fin_allowed,
                "a FIN the program did not ask for: {seg:?} on {c:?}"
            );
        }
        if seg.payload.is_empty() {
            return; // probes may carry SND.UNA − 1
        }
        let start = seg.seq.wrapping_sub(c.iss.wrapping_add(1));
        assert!((start as i32) >= 0, "data before our ISS: {seg:?} on {c:?}");
        for (i, &b) in seg.payload.iter().enumerate() {
            let at = start as u64 + i as u64;
            assert!(
                at < c.written,
                "sent byte {at} of {} written: {c:?}",
                c.written
            );
            assert_eq!(
                b,
                app_byte(at),
                "sent byte {at} is not the one written: {c:?}"
            );
        }
    }

    /// The invariants that hold between any two operations.
    fn check(&mut self) {
        for c in self.conns.iter().filter(|c| !c.closed) {
            let Some(sock) = self.stack.tcp_socket_ref(c.handle) else {
                panic!("a socket the program holds vanished: {c:?}");
            };
            let Some(conn) = sock.connection() else {
                continue;
            };
            let what = || format!("{c:?}: {:?}", conn.stats());
            // The receive buffer grows with the flow up to window_space (autotuning, and Linux's
            // tcp_rcvbuf_grow on out-of-order data); the window never promises more than it holds.
            let recv_max = sock
                .config
                .recv_buffer
                .max(sock.config.window_space as usize);
            assert!(conn.recv_capacity() <= recv_max, "{}", what());
            assert!(
                conn.recv_queue_len() <= conn.recv_capacity(),
                "{}",
                what()
            );
            // The send buffer grows with cwnd up to send_buffer_max (autotuning).
            let send_max = sock
                .config
                .send_buffer
                .max(sock.config.send_buffer_max as usize);
            assert!(conn.send_queue_len() <= send_max, "{}", what());
            let s = conn.stats();
            assert!(s.sacked <= s.unacked, "{}", what());
            assert!(s.unacked <= send_max + 2, "{}", what());
            assert!(s.bytes_acked <= s.bytes_sent, "{}", what());
            assert!(s.bytes_sent <= c.written, "{}", what());
            assert!(
                s.cwnd > 0 && s.snd_mss > 0 && s.snd_mss <= 1460,
                "{}",
                what()
            );
            assert!(
                s.rto >= Duration::from_millis(200) && s.rto <= Duration::from_secs(120),
                "{}",
                what()
            );
            assert!(s.our_window <= conn.recv_capacity(), "{}", what());
        }
        // The listener bounds what the peer can make it hold: half-open connections and
        // established ones waiting for accept, besides everything the program has or had.
        // The accept queue itself holds at most backlog + 1, as Linux's (a handshake past it is
        // held back half-open).
        if let Some(l) = self
            .stack
            .tcp_socket_ref(self.listener)
            .and_then(|t| t.listener())
        {
            assert!(
                l.accept_queue.len() <= BACKLOG + 1,
                "{} waiting for accept, backlog {BACKLOG}",
                l.accept_queue.len()
            );
        }
        let bound = 1 + 1 + self.conns.len() + 16 + BACKLOG + 1;
        assert!(
            self.stack.socket_count() <= bound,
            "{} sockets for {} connections",
            self.stack.socket_count(),
            self.conns.len()
        );
    }

    /// Polls at `now` until the stack has nothing more due then. Frames it sends itself (the
    /// loopback) may take a few rounds; a stack that is still due after 100 has a timer that
    /// never moves on, and would spin the runtime's driver thread.
    fn poll(&mut self) {
        for _ in 0..100 {
            self.stack.poll(self.now);
            self.settle();
            match self.stack.poll_at(self.now) {
                Some(at) if at <= self.now => continue,
                _ => return,
            }
        }
        panic!("after 100 polls at {:?} the stack is still due", self.now);
    }

    fn next_ident(&mut self) -> u16 {
        self.ident = self.ident.wrapping_add(1);
        self.ident
    }

    /// An IPv4 frame from the peer to us carrying `payload` (already built).
    fn ip_frame(&mut self, protocol: IpProtocol, payload: &[u8]) -> Vec<u8> {
        let repr = Ipv4Repr {
            src_addr: B_IP,
            dst_addr: A_IP,
            protocol,
            payload_len: payload.len(),
            ttl: 64,
            tos: 0,
            ident: self.next_ident(),
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        };
        let mut f = eth_frame(A_MAC, EtherType::IPV4, repr.buffer_len());
        let mut p = Ipv4Packet::new_unchecked(&mut f[ETH_LEN..]);
        repr.emit(&mut p, ChecksumMode::Full);
        p.payload_mut().copy_from_slice(payload);
        f
    }

    /// A TCP segment from the peer, with its payload as the peer sends it.
    fn segment(&self, repr: &TcpRepr) -> Vec<u8> {
        let mut seg = vec![0u8; repr.buffer_len()];
        repr.emit(
            &mut TcpPacket::new_unchecked(&mut seg[..]),
            B_IP,
            A_IP,
            ChecksumMode::Full,
        );
        seg
    }

    fn send_segment(&mut self, repr: &TcpRepr) {
        let seg = self.segment(repr);
        let f = self.ip_frame(IpProtocol::TCP, &seg);
        self.feed(&f);
        self.settle();
    }

    /// The peer's SYN to our listener.
    fn peer_syn(&mut self, port: u16, isn: u32, options: TcpOptions) -> Tuple {
        let tuple = (LISTEN_PORT, B_IP, port);
        self.tuples.push(tuple);
        let mut seen = Seen {
            peer_ts: 1000,
            ..Seen::default()
        };
        seen.a_ack = isn.wrapping_add(1);
        self.seen.insert(tuple, seen);
        let syn = TcpRepr {
            src_port: port,
            dst_port: LISTEN_PORT,
            seq: isn,
            ack: 0,
            flags: TcpFlags::SYN,
            window: 64240,
            options,
            ..TcpRepr::default()
        };
        self.send_segment(&syn);
        tuple
    }

    /// A connection the peer opens to our listener and we accept.
    fn passive(&mut self, port: u16, isn: u32, options: TcpOptions) -> usize {
        let tuple = self.peer_syn(port, isn, options);
        let seen = self.seen[&tuple];
        let ack = TcpRepr {
            src_port: port,
            dst_port: LISTEN_PORT,
            seq: isn.wrapping_add(1),
            ack: seen.a_nxt,
            flags: TcpFlags::ACK,
            window: 502,
            options: self.peer_options(&seen),
            ..TcpRepr::default()
        };
        self.send_segment(&ack);
        let (handle, peer) = self
            .stack
            .tcp_accept(self.now, self.listener)
            .expect("accepted");
        assert_eq!(peer, SocketAddrV4::new(B_IP, port));
        self.add_conn(handle)
    }

    /// A connection we open to the peer; `answer` is its SYN-ACK's ISN and options, if it answers.
    fn active(&mut self, port: u16, answer: Option<(u32, TcpOptions)>) -> usize {
        let handle = self.stack.tcp_socket().unwrap();
        let peer = SocketAddrV4::new(B_IP, port);
        self.stack.tcp_connect(self.now, handle, peer).unwrap();
        let c = self.add_conn(handle);
        let tuple = (self.conns[c].local_port, B_IP, port);
        self.tuples.push(tuple);
        self.settle();
        if let Some((isn, options)) = answer {
            self.conns[c].irs = Some(isn);
            let seen = self.seen.get_mut(&tuple).expect("we sent a SYN");
            seen.a_ack = isn.wrapping_add(1);
            seen.peer_ts = 1000;
            let seen = *seen;
            let synack = TcpRepr {
                src_port: port,
                dst_port: tuple.0,
                seq: isn,
                ack: seen.a_nxt,
                flags: TcpFlags::SYN | TcpFlags::ACK,
                window: 64240,
                options: TcpOptions {
                    timestamps: options.timestamps.map(|(v, _)| (v, seen.a_tsval)),
                    ..options
                },
                ..TcpRepr::default()
            };
            self.send_segment(&synack);
            assert_eq!(self.stack.tcp_connect_status(handle), Ok(()));
        }
        c
    }

    fn add_conn(&mut self, handle: SocketHandle) -> usize {
        let sock = self.stack.tcp_socket_ref(handle).unwrap();
        let local = sock.local.expect("bound");
        let peer = sock.remote.expect("connected");
        let iss = sock.connection().expect("a connection").local_iss().0;
        let tuple = (local.port(), *peer.ip(), peer.port());
        let irs = self.synacks.get(&(tuple, iss)).copied();
        self.conns.push(Conn {
            handle,
            local_port: local.port(),
            peer,
            irs,
            iss,
            delivered: 0,
            written: 0,
            eof: false,
            closed: false,
            fin_allowed: false,
        });
        self.conns.len() - 1
    }

    /// The options the peer puts on an ordinary segment: timestamps when they were agreed.
    fn peer_options(&self, seen: &Seen) -> TcpOptions {
        TcpOptions {
            timestamps: seen.ts_on.then_some((seen.peer_ts, seen.a_tsval)),
            ..TcpOptions::default()
        }
    }

    /// `len` in-order data bytes from the peer (and a FIN), acknowledging nothing new.
    fn peer_data(&mut self, c: usize, len: usize, fin: bool) {
        let conn = &self.conns[c];
        let tuple = (conn.local_port, *conn.peer.ip(), conn.peer.port());
        let seen = self.seen[&tuple];
        let seq = seen.a_ack;
        let payload: Vec<u8> = (0..len as u32)
            .map(|i| peer_byte(seq.wrapping_add(i)))
            .collect();
        let mut flags = TcpFlags::ACK;
        if fin {
            flags |= TcpFlags::FIN;
        }
        let repr = TcpRepr {
            src_port: tuple.2,
            dst_port: tuple.0,
            seq,
            ack: seen.a_nxt,
            flags,
            window: 502,
            options: self.peer_options(&seen),
            payload: &payload,
            ..TcpRepr::default()
        };
        self.send_segment(&repr);
    }

    fn app_send(&mut self, c: usize, len: usize) {
        let conn = &self.conns[c];
        let data: Vec<u8> = (conn.written..conn.written + len as u64)
            .map(app_byte)
            .collect();
        let handle = conn.handle;
        if let Ok(n) = self.stack.tcp_send(self.now, handle, &data) {
            assert!(n <= len);
            self.conns[c].written += n as u64;
        }
        self.settle();
    }

    fn app_recv(&mut self, c: usize, len: usize, peek: bool) {
        let mut buf = vec![0u8; len];
        let handle = self.conns[c].handle;
        let r = self.stack.tcp_recv(self.now, handle, &mut buf, peek);
        let conn = &mut self.conns[c];
        if let Ok(n) = r {
            assert!(n <= len);
            if n > 0 {
                assert!(!conn.eof, "data after end of file: {conn:?}");
            } else if len > 0 && !peek {
                conn.eof = true;
            }
            if let (Some(irs), false) = (conn.irs, self.tcp_tainted) {
                for (i, &b) in buf[..n].iter().enumerate() {
                    let at = conn.delivered + i as u64;
                    let seq = irs.wrapping_add(1).wrapping_add(at as u32);
                    assert_eq!(
                        b,
                        peer_byte(seq),
                        "delivered byte {at} (seq {seq}) is not the one sent: {conn:?}"
                    );
                }
            }
            if !peek {
                conn.delivered += n as u64;
            }
        }
        self.settle();
    }

    fn app_close(&mut self, c: usize) {
        let handle = self.conns[c].handle;
        self.conns[c].closed = true;
        self.conns[c].fin_allowed = true;
        self.stack.close(self.now, handle).unwrap();
        self.settle();
    }

    fn app_shutdown(&mut self, c: usize, how: Shutdown) {
        let handle = self.conns[c].handle;
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            self.conns[c].fin_allowed = true;
        }
        let _ = self.stack.tcp_shutdown(self.now, handle, how);
        self.settle();
    }

    /// Makes a fuzzer-made TCP payload the peer's: rewrites its bytes to the ones the peer sends
    /// at those sequence numbers, so the delivery check holds; an IP fragment of TCP cannot be
    /// rewritten and ends the check. Keeps a valid checksum valid (and an invalid one invalid).
    fn adopt(&mut self, frame: &mut [u8]) {
        let Ok(eth) = EthernetFrame::new_checked(&frame[..]) else {
            return;
        };
        if eth.ethertype() != EtherType::IPV4 {
            return;
        }
        let Ok(ip) = Ipv4Packet::new_checked(&frame[ETH_LEN..]) else {
            return;
        };
        let (src, dst, proto) = (ip.src_addr(), ip.dst_addr(), ip.protocol());
        let fragment = ip.more_frags() || ip.frag_offset() != 0;
        let header_len = ip.header_len() as usize;
        let total = ip.total_len() as usize;
        let body = &mut frame[ETH_LEN + header_len..ETH_LEN + total];
        match proto {
            IpProtocol::UDP => self.udp_tainted = true,
            IpProtocol::TCP if fragment => self.tcp_tainted = true,
            IpProtocol::TCP => {
                let Ok(tp) = TcpPacket::new_checked(&body[..]) else {
                    return;
                };
                let valid = tp.verify_checksum(src, dst);
                let data_seq = tp
                    .seq_number()
                    .wrapping_add(tp.flags().contains(TcpFlags::SYN) as u32);
                let data_at = tp.header_len() as usize;
                for (i, b) in body[data_at..].iter_mut().enumerate() {
                    *b = peer_byte(data_seq.wrapping_add(i as u32));
                }
                let mut tp = TcpPacket::new_unchecked(&mut body[..]);
                tp.fill_checksum(src, dst);
                if !valid {
                    let c = tp.checksum();
                    tp.set_checksum(c.wrapping_add(1));
                }
            }
            _ => {}
        }
    }

    /// Runs the operations the input describes.
    pub fn run(&mut self, data: &[u8]) {
        let mut r = Reader { data };
        for _ in 0..MAX_OPS {
            if r.is_empty() {
                break;
            }
            match r.u8() % 16 {
                0 => self.op_raw_frame(&mut r),
                1 => self.op_raw_ip(&mut r),
                2 | 3 => self.op_segment(&mut r),
                4 => self.op_time(&mut r),
                5 => self.op_recv(&mut r),
                6 => self.op_send(&mut r),
                7 => self.op_close(&mut r),
                8 => self.op_accept(),
                9 => self.op_icmp(&mut r),
                10 => self.op_udp(&mut r),
                11 => self.op_arp(&mut r),
                12 => self.op_sockopt(&mut r),
                13 => self.op_connect(&mut r),
                14 => self.op_udp_send(&mut r),
                _ => self.op_close_listener(&mut r),
            }
        }
        // Whatever state they are left in, the connections run their timers to the end.
        for _ in 0..300 {
            let Some(at) = self.stack.poll_at(self.now) else {
                break;
            };
            self.now = at.max(self.now);
            self.poll();
        }
    }

    fn op_raw_frame(&mut self, r: &mut Reader) {
        let flags = r.u8();
        let len = r.u16() as usize % 1600;
        let mut f = r.bytes(len).to_vec();
        if flags & 1 != 0 && f.len() >= 6 {
            f[..6].copy_from_slice(&A_MAC.0);
        }
        self.adopt(&mut f);
        self.feed(&f);
        self.settle();
    }

    /// An IP packet (header, options and all) of the fuzzer's, in an Ethernet frame to us; the
    /// flags put in our addresses and fix the checksums the fuzzer cannot compute.
    fn op_raw_ip(&mut self, r: &mut Reader) {
        let flags = r.u8();
        let len = r.u16() as usize % 1520;
        let bytes = r.bytes(len);
        let mut f = eth_frame(A_MAC, EtherType::IPV4, bytes.len());
        f[ETH_LEN..].copy_from_slice(bytes);
        if let Ok(mut p) = Ipv4Packet::new_checked(&mut f[ETH_LEN..]) {
            if flags & 1 != 0 {
                p.set_dst_addr(A_IP);
            }
            if flags & 2 != 0 {
                p.set_src_addr(B_IP);
            }
            let (src, dst, proto) = (p.src_addr(), p.dst_addr(), p.protocol());
            if flags & 4 != 0 {
                let l4 = p.payload_mut();
                match proto {
                    IpProtocol::TCP => {
                        if let Ok(mut t) = TcpPacket::new_checked(&mut l4[..]) {
                            t.fill_checksum(src, dst);
                        }
                    }
                    IpProtocol::UDP => {
                        if let Ok(mut u) = UdpPacket::new_checked(&mut l4[..]) {
                            u.fill_checksum(src, dst);
                        }
                    }
                    IpProtocol::ICMP => {
                        if let Ok(mut i) = Icmpv4Packet::new_checked(&mut l4[..]) {
                            i.fill_checksum();
                        }
                    }
                    _ => {}
                }
            }
            if flags & 8 == 0 {
                Ipv4Packet::new_unchecked(&mut f[ETH_LEN..]).fill_checksum();
            }
        }
        self.adopt(&mut f);
        self.feed(&f);
        self.settle();
    }

    /// A segment aimed at a connection: sequence and acknowledgment numbers near the live ones.
    fn op_segment(&mut self, r: &mut Reader) {
        let pick = r.u8() as usize;
        let tuple = if pick % (self.tuples.len() + 1) < self.tuples.len() {
            self.tuples[pick % (self.tuples.len() + 1)]
        } else {
            // A new peer port, to the listener or anywhere.
            let port = 41000 + (r.u8() % 16) as u16;
            let local = if pick & 0x80 != 0 {
                r.u16()
            } else {
                LISTEN_PORT
            };
            let t = (local, B_IP, port);
            if !self.tuples.contains(&t) {
                self.tuples.push(t);
            }
            t
        };
        let seen = self.seen.get(&tuple).copied().unwrap_or_default();
        let flags = TcpFlags(r.u8());
        let near = |r: &mut Reader, base: u32| -> u32 {
            let m = r.u8();
            let d = r.u16() as i16 as i32;
            match m % 4 {
                0 => base,
                1 => base.wrapping_add(d as u32),
                2 => base.wrapping_add((d * 64) as u32),
                _ => r.u32(),
            }
        };
        let seq = near(r, seen.a_ack);
        let ack = near(r, seen.a_nxt);
        let window = r.u16();
        let o = r.u8();
        let mut options = TcpOptions::default();
        if o & 1 != 0 {
            options.mss = Some(r.u16());
        }
        if o & 2 != 0 {
            options.window_scale = Some(r.u8());
        }
        options.sack_permitted = o & 4 != 0;
        let mut peer_ts = seen.peer_ts;
        if (seen.ts_on && o & 8 == 0) || (!seen.ts_on && o & 8 != 0) {
            peer_ts = peer_ts.wrapping_add(r.u8() as u32);
            let ecr = if o & 0x10 != 0 { r.u32() } else { seen.a_tsval };
            options.timestamps = Some((peer_ts, ecr));
        }
        if o & 0x20 != 0 {
            for _ in 0..r.u8() % 5 {
                let left = near(r, seen.a_nxt);
                options
                    .sack_blocks
                    .push(left, left.wrapping_add(r.u16() as u32));
            }
        }
        let urgent = if flags.contains(TcpFlags::URG) {
            r.u16()
        } else {
            0
        };
        let len = match r.u8() {
            0..=127 => 0,
            n @ 128..=191 => (n - 128) as usize,
            _ => r.u16() as usize % 1461,
        };
        let data_seq = seq.wrapping_add(flags.contains(TcpFlags::SYN) as u32);
        let payload: Vec<u8> = (0..len as u32)
            .map(|i| peer_byte(data_seq.wrapping_add(i)))
            .collect();
        let repr = TcpRepr {
            src_port: tuple.2,
            dst_port: tuple.0,
            seq,
            ack,
            flags,
            window,
            urgent,
            options,
            payload: &payload,
        };
        if let Some(s) = self.seen.get_mut(&tuple) {
            s.peer_ts = peer_ts;
        }
        let mut seg = self.segment(&repr);
        let how = r.u8();
        if how == 0xff && !seg.is_empty() {
            // A corrupted segment: one byte changed, so the checksum fails (or, offloaded, the
            // stack sees a segment the fuzzer changed: its payload is re-adopted below).
            let i = r.u16() as usize % seg.len();
            seg[i] ^= r.u8() | 1;
        }
        if how & 0x80 != 0 && how != 0xff {
            self.send_fragments(&seg, how, r);
        } else {
            let mut f = self.ip_frame(IpProtocol::TCP, &seg);
            self.adopt(&mut f);
            self.feed(&f);
            self.settle();
        }
    }

    /// `seg` in IP fragments of `(how & 0x1f) + 1` × 8 bytes, in order or not.
    fn send_fragments(&mut self, seg: &[u8], how: u8, r: &mut Reader) {
        let piece = ((how & 0x1f) as usize + 1) * 8;
        let ident = self.next_ident();
        let mut frames = Vec::new();
        for (i, chunk) in seg.chunks(piece).enumerate() {
            let offset = i * piece;
            let repr = Ipv4Repr {
                src_addr: B_IP,
                dst_addr: A_IP,
                protocol: IpProtocol::TCP,
                payload_len: chunk.len(),
                ttl: 64,
                tos: 0,
                ident,
                dont_frag: false,
                more_frags: offset + chunk.len() < seg.len(),
                frag_offset: offset as u16,
            };
            let mut f = eth_frame(A_MAC, EtherType::IPV4, repr.buffer_len());
            let mut p = Ipv4Packet::new_unchecked(&mut f[ETH_LEN..]);
            repr.emit(&mut p, ChecksumMode::Full);
            p.payload_mut().copy_from_slice(chunk);
            frames.push(f);
        }
        if how & 0x40 != 0 {
            frames.reverse();
        }
        if how & 0x20 != 0 && !frames.is_empty() {
            // One piece twice.
            let i = r.u8() as usize % frames.len();
            frames.push(frames[i].clone());
        }
        for f in frames {
            self.feed(&f);
        }
        self.settle();
    }

    fn op_time(&mut self, r: &mut Reader) {
        let x = r.u8();
        let ms = match x >> 6 {
            0 => (x & 63) as u64,
            1 => (x & 63) as u64 * 10,
            2 => (x & 63) as u64 * 200,
            _ => (x & 63) as u64 * 5000,
        };
        self.now += Duration::from_millis(ms);
        if x == 0 {
            // To the stack's own next deadline.
            if let Some(at) = self.stack.poll_at(self.now) {
                self.now = at.max(self.now);
            }
        }
        self.poll();
    }

    /// A connection the program still holds, if any.
    fn pick_conn(&self, r: &mut Reader) -> Option<usize> {
        let open: Vec<usize> = (0..self.conns.len())
            .filter(|&c| !self.conns[c].closed)
            .collect();
        let i = r.u8() as usize;
        (!open.is_empty()).then(|| open[i % open.len()])
    }

    fn op_recv(&mut self, r: &mut Reader) {
        let Some(c) = self.pick_conn(r) else { return };
        let x = r.u8();
        let len = (x & 0x7f) as usize * 64;
        self.app_recv(c, len, x & 0x80 != 0);
    }

    fn op_send(&mut self, r: &mut Reader) {
        let Some(c) = self.pick_conn(r) else { return };
        let len = r.u8() as usize * 40;
        self.app_send(c, len);
    }

    fn op_close(&mut self, r: &mut Reader) {
        let Some(c) = self.pick_conn(r) else { return };
        match r.u8() % 4 {
            0 => self.app_close(c),
            1 => self.app_shutdown(c, Shutdown::Write),
            2 => self.app_shutdown(c, Shutdown::Read),
            _ => self.app_shutdown(c, Shutdown::Both),
        }
    }

    fn op_accept(&mut self) {
        if let Ok((handle, _)) = self.stack.tcp_accept(self.now, self.listener) {
            self.add_conn(handle);
        }
        self.settle();
    }

    /// An ICMP error about a segment we "sent" on one of the 4-tuples.
    fn op_icmp(&mut self, r: &mut Reader) {
        if self.tuples.is_empty() {
            return;
        }
        let tuple = self.tuples[r.u8() as usize % self.tuples.len()];
        let seen = self.seen.get(&tuple).copied().unwrap_or_default();
        let (kind, code) = match r.u8() % 5 {
            0 => (3, r.u8() % 16),
            1 => (3, 4), // fragmentation needed
            2 => (11, r.u8() % 2),
            3 => (12, 0),
            _ => (r.u8(), r.u8()),
        };
        let mtu = r.u16();
        let seq = seen.a_nxt.wrapping_sub(r.u16() as u32);
        // The quoted datagram: our IP header and the first bytes of our TCP header.
        let quoted_len = 8 + (r.u8() % 13) as usize;
        let mut msg = vec![0u8; 8 + 20 + quoted_len];
        msg[0] = kind;
        msg[1] = code;
        msg[6..8].copy_from_slice(&mtu.to_be_bytes());
        let ip = Ipv4Repr {
            src_addr: A_IP,
            dst_addr: tuple.1,
            protocol: IpProtocol::TCP,
            payload_len: 20 + r.u8() as usize * 4,
            ttl: 1,
            tos: 0,
            ident: 0,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        };
        ip.emit(
            &mut Ipv4Packet::new_unchecked(&mut msg[8..28]),
            ChecksumMode::Full,
        );
        let tcp = &mut msg[28..];
        tcp[0..2].copy_from_slice(&tuple.0.to_be_bytes());
        tcp[2..4].copy_from_slice(&tuple.2.to_be_bytes());
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        let sum = checksum::checksum(&msg);
        msg[2..4].copy_from_slice(&sum.to_be_bytes());
        let f = self.ip_frame(IpProtocol::ICMP, &msg);
        self.feed(&f);
        self.settle();
    }

    /// A datagram to our UDP socket (or another port), and the program reading one.
    fn op_udp(&mut self, r: &mut Reader) {
        let x = r.u8();
        if x & 1 != 0 {
            let mut buf = vec![0u8; (x as usize) * 8];
            if let Ok(got) = self.stack.udp_recv_from(self.udp, &mut buf, false) {
                assert_eq!(got.copied, got.len.min(buf.len()));
                if !self.udp_tainted {
                    // Datagrams may be dropped (a full queue) but never changed or made up.
                    let n = got.copied;
                    let at = self
                        .udp_sent
                        .iter()
                        .position(|d| d.len() == got.len && d[..n] == buf[..n])
                        .expect("a datagram that was not sent");
                    // Only that one: a datagram to ourselves arrives at the next poll, after
                    // datagrams the peer sent later.
                    self.udp_sent.remove(at);
                }
            }
            self.settle();
            return;
        }
        let port = if x & 2 != 0 { r.u16() } else { UDP_PORT };
        let len = r.u16() as usize % 1600;
        let data = r.bytes(len).to_vec();
        let repr = UdpRepr {
            src_port: 53,
            dst_port: port,
        };
        let mut dgram = vec![0u8; repr.buffer_len(data.len())];
        repr.emit(
            &mut UdpPacket::new_unchecked(&mut dgram[..]),
            B_IP,
            A_IP,
            &data,
            ChecksumMode::Full,
        );
        if x & 4 != 0 && dgram.len() > 16 {
            // Large datagrams go in fragments.
            self.send_udp_fragments(&dgram);
        } else {
            let f = self.ip_frame(IpProtocol::UDP, &dgram);
            self.feed(&f);
        }
        if port == UDP_PORT {
            // Whether it was queued or dropped (queue full) is the stack's call: follow its count.
            self.udp_sent.push_back(data);
        }
        self.settle();
    }

    fn send_udp_fragments(&mut self, dgram: &[u8]) {
        let ident = self.next_ident();
        for (i, chunk) in dgram.chunks(1480).enumerate() {
            let offset = i * 1480;
            let repr = Ipv4Repr {
                src_addr: B_IP,
                dst_addr: A_IP,
                protocol: IpProtocol::UDP,
                payload_len: chunk.len(),
                ttl: 64,
                tos: 0,
                ident,
                dont_frag: false,
                more_frags: offset + chunk.len() < dgram.len(),
                frag_offset: offset as u16,
            };
            let mut f = eth_frame(A_MAC, EtherType::IPV4, repr.buffer_len());
            let mut p = Ipv4Packet::new_unchecked(&mut f[ETH_LEN..]);
            repr.emit(&mut p, ChecksumMode::Full);
            p.payload_mut().copy_from_slice(chunk);
            self.feed(&f);
        }
    }

    /// Socket options on a connection: keepalive with short timers, Nagle off or on, and an
    /// abortive close (SO_LINGER 0: a RST).
    fn op_sockopt(&mut self, r: &mut Reader) {
        let Some(c) = self.pick_conn(r) else { return };
        let x = r.u8();
        let handle = self.conns[c].handle;
        if x % 4 == 3 {
            if let Some(conn) = self
                .stack
                .tcp_socket_mut(handle)
                .ok()
                .and_then(|s| s.connection_mut())
            {
                conn.set_linger(Some(Duration::ZERO));
            }
            self.app_close(c);
            return;
        }
        if let Some(conn) = self
            .stack
            .tcp_socket_mut(handle)
            .ok()
            .and_then(|s| s.connection_mut())
        {
            match x % 4 {
                0 => {
                    conn.set_keepalive(true);
                    let secs = Duration::from_secs(1 + (x >> 4) as u64);
                    conn.set_keepalive_params(secs, secs, 1 + (x >> 6) as u8);
                }
                1 => conn.set_nodelay(true),
                _ => conn.set_nodelay(false),
            }
        }
        self.settle();
    }

    /// A new connection from the program: to the peer (which may answer through the segment
    /// operation), to our own listener (over the stack's loopback), or to addresses it must refuse
    /// or fail to resolve.
    fn op_connect(&mut self, r: &mut Reader) {
        let x = r.u8();
        let to = match x % 5 {
            0 | 1 => SocketAddrV4::new(B_IP, 9100 + (x >> 4) as u16),
            2 => SocketAddrV4::new(A_IP, LISTEN_PORT),
            3 => SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, r.u8()), r.u16()),
            _ => SocketAddrV4::new(Ipv4Addr::new(r.u8(), r.u8(), r.u8(), r.u8()), r.u16()),
        };
        // At the bound on sockets, refused (ENOBUFS): nothing to do.
        let Ok(handle) = self.stack.tcp_socket() else {
            return;
        };
        match self.stack.tcp_connect(self.now, handle, to) {
            Ok(()) => {
                let c = self.add_conn(handle);
                let tuple = (self.conns[c].local_port, *to.ip(), to.port());
                if !self.tuples.contains(&tuple) && *to.ip() == B_IP {
                    self.tuples.push(tuple);
                }
            }
            Err(_) => {
                let _ = self.stack.close(self.now, handle);
            }
        }
        self.settle();
    }

    /// The program sends a datagram: to the peer, to itself (looped back), to the broadcast
    /// address, to a neighbour that never answers ARP, or off the link through the gateway.
    fn op_udp_send(&mut self, r: &mut Reader) {
        let x = r.u8();
        let to = match x % 5 {
            0 => SocketAddrV4::new(B_IP, 53),
            1 => SocketAddrV4::new(A_IP, UDP_PORT),
            2 => SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, 255), 53),
            3 => SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, 99), 53),
            _ => SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 53),
        };
        let len = r.u16() as usize % 4000;
        let data: Vec<u8> = (0..len).map(|i| i as u8 ^ x).collect();
        if let Ok(n) = self.stack.udp_send_to(self.now, self.udp, &data, Some(to)) {
            assert_eq!(n, len);
            if *to.ip() == A_IP {
                self.udp_sent.push_back(data);
            }
        }
        self.settle();
    }

    /// The program closes its listener (rarely: the rest of the input then has none).
    fn op_close_listener(&mut self, r: &mut Reader) {
        if r.u8() == 0xa5 {
            let _ = self.stack.close(self.now, self.listener);
        }
        self.settle();
    }

    /// An ARP packet from the peer's link: requests, replies, claims on our address.
    fn op_arp(&mut self, r: &mut Reader) {
        let x = r.u8();
        let sender_ip = match x % 4 {
            0 => B_IP,
            1 => A_IP,
            _ => Ipv4Addr::new(10, 77, 0, r.u8()),
        };
        let arp = ArpRepr {
            operation: if x & 4 != 0 {
                ArpOperation::Reply
            } else {
                ArpOperation::Request
            },
            sender_mac: if x & 8 != 0 {
                MacAddr([2, 0, 0, 0, 0, r.u8()])
            } else {
                B_MAC
            },
            sender_ip,
            target_mac: MacAddr([0; 6]),
            target_ip: if x & 16 != 0 {
                A_IP
            } else {
                Ipv4Addr::new(10, 77, 0, r.u8())
            },
        };
        let mut f = eth_frame(MacAddr::BROADCAST, EtherType::ARP, arp.buffer_len());
        arp.emit(&mut ArpPacket::new_unchecked(&mut f[ETH_LEN..]));
        self.feed(&f);
        self.settle();
    }
}

/// An Ethernet frame from the peer with room for `payload_len` bytes.
fn eth_frame(dst: MacAddr, ethertype: EtherType, payload_len: usize) -> Vec<u8> {
    let mut f = vec![0u8; ETH_LEN + payload_len];
    EthernetRepr {
        src: B_MAC,
        dst,
        ethertype,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut f[..]));
    f
}

/// The fuzz target: the first byte picks the profile, the rest is the program of operations.
pub fn run(data: &[u8]) {
    let Some((&profile, ops)) = data.split_first() else {
        return;
    };
    let mut h = Harness::setup(profile);
    h.run(ops);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_leaves_each_connection_in_its_state() {
        for profile in 0..=0x7f {
            Harness::setup(profile); // it checks the states itself
        }
    }

    #[test]
    fn seeds_run() {
        let dir = std::env::var("SEEDS")
            .unwrap_or(concat!(env!("CARGO_MANIFEST_DIR"), "/seeds/stack_input").into());
        for e in std::fs::read_dir(dir).unwrap() {
            let e_path = e.unwrap().path();
            let data = std::fs::read(&e_path).unwrap();
            let t = std::time::Instant::now();
            run(&data);
            eprintln!("{} bytes: {:?} {:?}", data.len(), t.elapsed(), e_path);
        }
    }

    #[test]
    fn the_peers_data_is_delivered_and_checked() {
        let mut h = Harness::setup(0);
        h.app_recv(0, 1000, false);
        assert_eq!(h.conns[0].delivered, 500);
        h.app_recv(1, 1000, false);
        assert_eq!(h.conns[1].delivered, 100);
        h.app_recv(1, 1000, false);
        assert!(h.conns[1].eof);
        h.run(&[]);
    }
}
