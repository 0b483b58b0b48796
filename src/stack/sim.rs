//! Whole-stack simulation: two [`Stack`]s (10.77.0.2 and 10.77.0.1, each the other's gateway)
//! exchange Ethernet frames over a simulated link in virtual time — per-direction delay, limited
//! bandwidth with a drop-tail queue, and seeded loss, duplication, reordering and single-bit or
//! single-byte corruption — while programs on both use the stack's socket calls.
//!
//! Every frame a stack emits is parsed with `crate::wire` and must be clean; TCP senders are held to
//! the window their peer advertised; TCP segments must belong to a connection, except RSTs that
//! RFC 9293 §3.10.7.1 allows; corrupted frames are counted by where the flip landed and what the
//! receiving stack did with them. `TAPSTACK_SIM_SEEDS=N` sets the TCP seed count (default 1000);
//! `TAPSTACK_SIM_DEBUG=SEED` prints every frame of one seed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddrV4};

use super::socket_table::ConnKey;
use super::{Shutdown, SocketHandle, Stack};
use crate::device::DeviceCaps;
use crate::error::Errno;
use crate::ipv4::Interface;
use crate::rand::Rng;
use crate::tcp::{self, Algorithm, SeqNum};
use crate::time::{Duration, Instant};
use crate::wire::arp::{ArpPacket, ArpRepr};
use crate::wire::ethernet::{EtherType, EthernetFrame, EthernetRepr, HEADER_LEN as ETH_LEN};
use crate::wire::icmp::{Icmpv4Packet, Icmpv4Repr};
use crate::wire::ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};
use crate::wire::tcp::{TcpFlags, TcpOptions, TcpPacket, TcpRepr};
use crate::wire::udp::{UdpPacket, UdpRepr};
use crate::wire::{ChecksumMode, MacAddr};

const IPS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 77, 0, 2), Ipv4Addr::new(10, 77, 0, 1)];
const MACS: [MacAddr; 2] = [
    MacAddr([2, 0x74, 0x73, 0x4d, 0, 2]),
    MacAddr([2, 0x74, 0x73, 0x4d, 0, 1]),
];
/// Hard caps, so a bug can never hang the test.
const MAX_VIRTUAL: Duration = Duration::from_secs(3600);
const MAX_ITERATIONS: u64 = 5_000_000;

fn seed_count(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------------------------
// The link.

#[derive(Clone, Copy, Debug)]
struct LinkParams {
    delay: Duration,
    bytes_per_sec: u64,
    queue_limit: Duration,
    loss: f64,
    dup: f64,
    reorder: f64,
    /// How much later than its turn a reordered frame may arrive.
    reorder_spread: Duration,
    corrupt: f64,
}

/// The share of seeds whose links are harsh ([`LinkParams::harsh`]).
const HARSH_SHARE: f64 = 0.25;

impl LinkParams {
    fn random(rng: &mut Rng) -> LinkParams {
        LinkParams {
            delay: Duration::from_micros(500 + rng.below(10_000)),
            bytes_per_sec: (10 + rng.below(190)) * 1_000_000 / 8,
            queue_limit: Duration::from_millis(5 + rng.below(50)),
            loss: if rng.chance(0.2) {
                0.0
            } else {
                rng.below(50) as f64 / 1000.0
            },
            dup: rng.below(20) as f64 / 1000.0,
            reorder: rng.below(50) as f64 / 1000.0,
            reorder_spread: Duration::from_millis(5),
            corrupt: rng.below(30) as f64 / 1000.0,
        }
    }

    /// A link past what the other seeds see: loss 5 to 15% (the hostile-network issue's
    /// transfers must survive 15% each way), duplication 2 to 10%, reordering of 5 to 25% of
    /// frames by up to 20 ms, corruption of 3 to 10%. Drawn from a stream of its own (`rng`), so
    /// that choosing it leaves the rest of a seed's world as it was.
    fn harsh(self, rng: &mut Rng) -> LinkParams {
        LinkParams {
            loss: (50 + rng.below(101)) as f64 / 1000.0,
            dup: (20 + rng.below(81)) as f64 / 1000.0,
            reorder: (50 + rng.below(201)) as f64 / 1000.0,
            reorder_spread: Duration::from_millis(20),
            corrupt: (30 + rng.below(71)) as f64 / 1000.0,
            ..self
        }
    }

    /// No loss of any kind (no drops, no corruption, a queue that never overflows).
    fn lossless(mut self) -> LinkParams {
        self.loss = 0.0;
        self.corrupt = 0.0;
        self.queue_limit = Duration::from_secs(3600);
        self
    }
}

struct InFlight {
    at: Instant,
    id: u64,
    bytes: Vec<u8>,
    corrupted: Option<Region>,
}
impl PartialEq for InFlight {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.id) == (o.at, o.id)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for InFlight {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.id).cmp(&(o.at, o.id))
    }
}

/// One direction of the link.
struct Link {
    p: LinkParams,
    busy_until: Instant,
    heap: BinaryHeap<Reverse<InFlight>>,
    next_id: u64,
    /// IP identifiers of fragmented datagrams one of whose fragments was corrupted.
    corrupted_datagrams: HashSet<u16>,
}

impl Link {
    fn new(p: LinkParams) -> Link {
        Link {
            p,
            busy_until: Instant::ZERO,
            heap: BinaryHeap::new(),
            next_id: 0,
            corrupted_datagrams: HashSet::new(),
        }
    }

    fn send(&mut self, now: Instant, rng: &mut Rng, bytes: Vec<u8>, counts: &mut Counts) {
        // Preamble, FCS and inter-frame gap: 24 bytes on the wire beyond the frame.
        let size = bytes.len() as u64 + 24;
        let start = self.busy_until.max(now);
        if start.saturating_since(now) > self.p.queue_limit {
            counts.tail_drops += 1;
            return;
        }
        self.busy_until = start + Duration::from_micros(size * 1_000_000 / self.p.bytes_per_sec);
        if rng.chance(self.p.loss) {
            counts.lost += 1;
            return;
        }
        let copies = if rng.chance(self.p.dup) { 2 } else { 1 };
        counts.duplicated += copies - 1;
        for _ in 0..copies {
            let mut at = self.busy_until + self.p.delay;
            if rng.chance(self.p.reorder) {
                at += Duration::from_micros(rng.below(self.p.reorder_spread.as_micros() as u64));
            }
            let mut frame = bytes.clone();
            let corrupted = (rng.chance(self.p.corrupt) && self.may_corrupt(&frame))
                .then(|| corrupt(rng, &mut frame));
            self.next_id += 1;
            self.heap.push(Reverse(InFlight {
                at,
                id: self.next_id,
                bytes: frame,
                corrupted,
            }));
        }
    }

    /// One flip per IP datagram: two flips in different fragments of a datagram can cancel out
    /// in the ones' complement sum (same bit, opposite directions), which no checksum of this
    /// strength can catch, so only one fragment of each datagram is ever corrupted.
    fn may_corrupt(&mut self, frame: &[u8]) -> bool {
        let Some(ip) = frame.get(ETH_LEN..ETH_LEN + 20) else {
            return true;
        };
        let fragment = frame[12..14] == EtherType::IPV4.0.to_be_bytes()
            && u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0;
        !fragment
            || self
                .corrupted_datagrams
                .insert(u16::from_be_bytes([ip[4], ip[5]]))
    }

    fn next_at(&self) -> Option<Instant> {
        self.heap.peek().map(|r| r.0.at)
    }

    fn pop_due(&mut self, now: Instant) -> Option<InFlight> {
        if self.next_at()? <= now {
            Some(self.heap.pop().expect("peeked").0)
        } else {
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Corruption: where a flip landed, and what the receiving stack made of it.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Region {
    EthDst,
    EthSrc,
    EthType,
    Arp,
    IpHeader,
    Tcp,
    Udp,
    /// UDP bytes in an IP fragment: checked only once the datagram is reassembled.
    UdpFragment,
    Icmp,
}
const REGIONS: [&str; 9] = [
    "eth dst",
    "eth src",
    "ethertype",
    "arp",
    "ip header",
    "tcp",
    "udp",
    "udp (fragment)",
    "icmp",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    BadChecksum,
    Malformed,
    NotForUs,
    Unsupported,
    /// No drop counter moved: the frame went up the stack.
    Passed,
}
const OUTCOMES: [&str; 5] = [
    "bad checksum",
    "malformed",
    "not for us",
    "unsupported",
    "passed",
];

/// Flips one random bit, or replaces one random byte, favouring the headers; says where.
fn corrupt(rng: &mut Rng, frame: &mut [u8]) -> Region {
    let window = if rng.chance(0.5) {
        frame.len().min(64)
    } else {
        frame.len()
    };
    let pos = rng.below(window as u64) as usize;
    let region = region_of(frame, pos);
    if rng.chance(0.7) {
        frame[pos] ^= 1 << rng.below(8);
    } else {
        frame[pos] ^= 1 + rng.below(255) as u8;
    }
    region
}

/// The region of a (still intact) frame the stacks emitted that byte `pos` lies in.
fn region_of(f: &[u8], pos: usize) -> Region {
    match pos {
        0..6 => return Region::EthDst,
        6..12 => return Region::EthSrc,
        12..14 => return Region::EthType,
        _ => {}
    }
    if u16::from_be_bytes([f[12], f[13]]) == EtherType::ARP.0 {
        return Region::Arp;
    }
    let ihl = usize::from(f[ETH_LEN] & 0xf) * 4;
    if pos < ETH_LEN + ihl {
        return Region::IpHeader;
    }
    let fragment = u16::from_be_bytes([f[ETH_LEN + 6], f[ETH_LEN + 7]]) & 0x3fff != 0;
    match f[ETH_LEN + 9] {
        6 => Region::Tcp,
        17 if fragment => Region::UdpFragment,
        17 => Region::Udp,
        _ => Region::Icmp,
    }
}

fn outcome(before: &super::Stats, after: &super::Stats) -> Outcome {
    if after.bad_checksum > before.bad_checksum {
        Outcome::BadChecksum
    } else if after.malformed > before.malformed {
        Outcome::Malformed
    } else if after.not_for_us > before.not_for_us {
        Outcome::NotForUs
    } else if after.unsupported > before.unsupported {
        Outcome::Unsupported
    } else {
        Outcome::Passed
    }
}

/// What happened on the links of one or more runs.
#[derive(Clone, Default, Debug)]
struct Counts {
    frames: u64,
    lost: u64,
    tail_drops: u64,
    duplicated: u64,
    corrupted: [[u64; 5]; 9],
    conn_resets: u64,
    stray_resets: u64,
    /// SYN-ACKs sent for no connection: SYN cookies.
    cookies: u64,
    /// TCP super-frames the link cut into segments, as a TSO device does.
    super_frames: u64,
    /// Seeds run over harsh links.
    harsh_seeds: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.frames += o.frames;
        self.super_frames += o.super_frames;
        self.harsh_seeds += o.harsh_seeds;
        self.lost += o.lost;
        self.tail_drops += o.tail_drops;
        self.duplicated += o.duplicated;
        for (a, b) in self.corrupted.iter_mut().zip(&o.corrupted) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        self.conn_resets += o.conn_resets;
        self.stray_resets += o.stray_resets;
    }

    fn report(&self, what: &str) -> String {
        let mut s = format!(
            "{what} ({} over harsh links): {} frames ({} super-frames cut, as TSO), {} lost, {} \
             tail-dropped, {} duplicated, RSTs: {} from connections, {} to strays\ncorrupted \
             frames by where the flip landed:",
            self.harsh_seeds,
            self.frames,
            self.super_frames,
            self.lost,
            self.tail_drops,
            self.duplicated,
            self.conn_resets,
            self.stray_resets
        );
        for (r, row) in self.corrupted.iter().enumerate() {
            if row.iter().sum::<u64>() == 0 {
                continue;
            }
            s += &format!("\n  {:>15}:", REGIONS[r]);
            for (o, n) in row.iter().enumerate() {
                if *n > 0 {
                    s += &format!(" {} {n};", OUTCOMES[o]);
                }
            }
        }
        s
    }
}

// ---------------------------------------------------------------------------------------------
// The wire checker.

/// One direction of a TCP connection as seen on the wire.
#[derive(Default)]
struct Flow {
    /// The sender's initial sequence number, telling incarnations of a 4-tuple apart.
    iss: Option<u32>,
    /// The window shift this sender offered in its SYN.
    wscale: Option<u8>,
    /// The highest right edge the receiver advertised that reached this sender.
    peer_edge: Option<SeqNum>,
}

type FlowKey = (SocketAddrV4, SocketAddrV4); // (sender, receiver)

#[derive(Default)]
struct WireCheck {
    flows: HashMap<FlowKey, Flow>,
    /// Connection keys each stack has had: now, or ever.
    keys_before: [HashSet<ConnKey>; 2],
    ever: [HashSet<ConnKey>; 2],
    /// RSTs each stack may send: the RFC 9293 §3.10.7.1 replies to strays it received.
    allowed_rst: [Vec<(ConnKey, u32, u32, u8)>; 2],
    /// SYN-ACKs each stack may send for no connection: SYN cookies (RFC 4987 §3.6) answering a
    /// SYN to a listener, by (connection, the ACK they must carry), one per SYN delivered.
    allowed_cookie: [Vec<(ConnKey, u32)>; 2],
    /// Connections each stack has answered with a cookie SYN-ACK.
    cookie_sent: [HashSet<ConnKey>; 2],
    /// Whether a spoofed peer (SYN flood) may appear: skips the "to" check for other addresses.
    spoofing: bool,
}

fn key_of(local: SocketAddrV4, remote: SocketAddrV4) -> ConnKey {
    ConnKey {
        local_port: local.port(),
        remote_ip: *remote.ip(),
        remote_port: remote.port(),
    }
}

fn shift(flows: &HashMap<FlowKey, Flow>, sender: FlowKey) -> u8 {
    let rev = (sender.1, sender.0);
    match (
        flows.get(&sender).and_then(|f| f.wscale),
        flows.get(&rev).and_then(|f| f.wscale),
    ) {
        (Some(s), Some(_)) => s,
        _ => 0,
    }
}

/// A TCP segment parsed from a frame, with checksums verified.
fn parse_tcp(frame: &[u8]) -> Option<(Ipv4Repr, TcpRepr<'_>)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::IPV4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.into_payload()).ok()?;
    let ip_repr = Ipv4Repr::parse(&ip, ChecksumMode::Full).ok()?;
    if ip_repr.protocol != IpProtocol::TCP || ip_repr.more_frags || ip_repr.frag_offset != 0 {
        return None;
    }
    let tcp = TcpPacket::new_checked(ip.into_payload()).ok()?;
    let repr = TcpRepr::parse(&tcp, ip_repr.src_addr, ip_repr.dst_addr, ChecksumMode::Full).ok()?;
    Some((ip_repr, repr))
}

impl WireCheck {
    fn snapshot(&mut self, stacks: &[Stack; 2]) {
        for (s, stack) in stacks.iter().enumerate() {
            self.keys_before[s].clear();
            self.keys_before[s].extend(stack.sockets.tcp_conns.keys().copied());
            self.ever[s].extend(stack.sockets.tcp_conns.keys().copied());
        }
    }

    fn learn_keys(&mut self, s: usize, stack: &Stack) {
        self.ever[s].extend(stack.sockets.tcp_conns.keys().copied());
    }

    /// A frame about to be delivered to stack `to`: record the window it advertises and whether it
    /// is a stray that the stack may answer with RST.
    fn on_deliver(&mut self, to: usize, stack: &Stack, frame: &[u8]) {
        if frame.get(0..6) != Some(&MACS[to].0[..]) {
            return;
        }
        let Some((ip, seg)) = parse_tcp(frame) else {
            return;
        };
        if ip.dst_addr != IPS[to] {
            return;
        }
        let sender = SocketAddrV4::new(ip.src_addr, seg.src_port);
        let receiver = SocketAddrV4::new(ip.dst_addr, seg.dst_port);
        let key = key_of(receiver, sender);
        if !seg.flags.contains(TcpFlags::RST) && seg.flags.contains(TcpFlags::ACK) {
            // The window the sender of this segment offers to the stack it arrives at.
            let sh = if seg.flags.contains(TcpFlags::SYN) {
                0
            } else {
                shift(&self.flows, (sender, receiver))
            };
            let edge = SeqNum(seg.ack) + ((seg.window as usize) << sh);
            let f = self.flows.entry((receiver, sender)).or_default();
            f.peer_edge = Some(f.peer_edge.map_or(edge, |e| e.max(edge)));
        }
        // A connection that reached CLOSED while its program still holds it owns the 4-tuple no
        // more: the segment meets the CLOSED-state rules (a late duplicate after LAST-ACK is
        // answered with RST, as Linux answers it once the socket is unhashed).
        let has_conn = stack.sockets.tcp_conns.get(&key).is_some_and(|&h| {
            stack
                .sockets
                .tcp(h)
                .and_then(|s| s.connection())
                .is_some_and(|c| c.state() != tcp::State::Closed)
        });
        let syn_only = seg.flags.is_syn_only();
        let to_listener = syn_only && stack.sockets.tcp_listeners.contains_key(&seg.dst_port);
        if !has_conn && to_listener {
            self.allowed_cookie[to].push((key, seg.seq.wrapping_add(1)));
        }
        if !has_conn && !to_listener {
            let s = tcp::Segment {
                seq: SeqNum(seg.seq),
                ack: SeqNum(seg.ack),
                flags: seg.flags,
                window: seg.window,
                options: seg.options,
                payload: seg.payload,
                ecn: crate::wire::ipv4::Ecn::NotEct,
                urgent: seg.urgent,
            };
            if let Some(rst) = tcp::reset_for_unmatched(&s) {
                let ack = if rst.flags.contains(TcpFlags::ACK) {
                    rst.ack.0
                } else {
                    0
                };
                self.allowed_rst[to].push((key, rst.seq.0, ack, rst.flags.bits()));
            }
        }
    }

    /// A frame stack `s` emitted: it must parse cleanly, and a TCP segment must obey the rules.
    fn on_emit(
        &mut self,
        s: usize,
        stacks: &[Stack; 2],
        frame: &[u8],
        counts: &mut Counts,
    ) -> Result<(), String> {
        let eth = EthernetFrame::new_checked(frame).map_err(|e| format!("ethernet: {e}"))?;
        let eth_repr = EthernetRepr::parse(&eth).map_err(|e| format!("ethernet: {e}"))?;
        if eth_repr.src != MACS[s] {
            return Err(format!("source MAC {}", eth_repr.src));
        }
        match eth_repr.ethertype {
            EtherType::ARP => {
                let arp = ArpPacket::new_checked(eth.payload())
                    .and_then(|p| ArpRepr::parse(&p))
                    .map_err(|e| format!("arp: {e}"))?;
                if arp.sender_ip != IPS[s] || arp.sender_mac != MACS[s] {
                    return Err(format!("arp from someone else: {arp:?}"));
                }
                if frame.len() != ETH_LEN + arp.buffer_len() {
                    return Err(format!("arp frame of {} bytes", frame.len()));
                }
                return Ok(());
            }
            EtherType::IPV4 => {}
            t => return Err(format!("ethertype {t:?}")),
        }
        let ip = Ipv4Packet::new_checked(eth.payload()).map_err(|e| format!("ipv4: {e}"))?;
        let ip_repr = Ipv4Repr::parse(&ip, ChecksumMode::Full).map_err(|e| format!("ipv4: {e}"))?;
        if ip_repr.src_addr != IPS[s] {
            return Err(format!("source address {}", ip_repr.src_addr));
        }
        if frame.len() != ETH_LEN + ip.total_len() as usize {
            return Err(format!(
                "frame of {} bytes for an IP length of {}",
                frame.len(),
                ip.total_len()
            ));
        }
        if ip_repr.more_frags || ip_repr.frag_offset != 0 {
            return Ok(()); // the transport checksum covers the whole datagram
        }
        let payload = ip.payload();
        let (src, dst) = (ip_repr.src_addr, ip_repr.dst_addr);
        match ip_repr.protocol {
            IpProtocol::UDP => {
                UdpPacket::new_checked(payload)
                    .and_then(|p| UdpRepr::parse(&p, src, dst, ChecksumMode::Full))
                    .map_err(|e| format!("udp: {e}"))?;
                Ok(())
            }
            IpProtocol::ICMP => Icmpv4Packet::new_checked(payload)
                .and_then(|p| Icmpv4Repr::parse(&p, ChecksumMode::Full).map(|_| ()))
                .map_err(|e| format!("icmp: {e}")),
            IpProtocol::TCP => {
                let p = TcpPacket::new_checked(payload).map_err(|e| format!("tcp: {e}"))?;
                let seg = TcpRepr::parse(&p, src, dst, ChecksumMode::Full)
                    .map_err(|e| format!("tcp: {e}"))?;
                self.check_tcp(s, stacks, &ip_repr, &seg, counts)
            }
            p => Err(format!("IP protocol {p:?}")),
        }
    }

    fn check_tcp(
        &mut self,
        s: usize,
        stacks: &[Stack; 2],
        ip: &Ipv4Repr,
        seg: &TcpRepr<'_>,
        counts: &mut Counts,
    ) -> Result<(), String> {
        let local = SocketAddrV4::new(ip.src_addr, seg.src_port);
        let remote = SocketAddrV4::new(ip.dst_addr, seg.dst_port);
        let key = key_of(local, remote);
        let has_conn =
            self.keys_before[s].contains(&key) || stacks[s].sockets.tcp_conns.contains_key(&key);
        let what = format!(
            "{:?} seq {} ack {} len {}",
            seg.flags,
            seg.seq,
            seg.ack,
            seg.payload.len()
        );
        if seg.flags.contains(TcpFlags::RST) {
            let ack = if seg.flags.contains(TcpFlags::ACK) {
                seg.ack
            } else {
                0
            };
            let sig = (key, seg.seq, ack, seg.flags.bits());
            if let Some(i) = self.allowed_rst[s].iter().position(|a| *a == sig) {
                self.allowed_rst[s].swap_remove(i);
                counts.stray_resets += 1;
                return Ok(());
            }
            if has_conn {
                counts.conn_resets += 1;
                return Ok(());
            }
            return Err(format!(
                "RST for no connection and no stray: {what} {local}->{remote}"
            ));
        }
        let cookie = (!has_conn && seg.flags.contains(TcpFlags::SYN | TcpFlags::ACK))
            .then(|| {
                self.allowed_cookie[s]
                    .iter()
                    .position(|c| *c == (key, seg.ack))
            })
            .flatten();
        if let Some(i) = cookie {
            self.allowed_cookie[s].swap_remove(i);
            counts.cookies += 1;
            self.cookie_sent[s].insert(key);
            return Ok(());
        }
        if !has_conn {
            return Err(format!(
                "segment from a port with no connection: {what} {local}->{remote}"
            ));
        }
        // "To": the peer has (or had) this connection, or it is a SYN for its listener.
        if let Some(peer) = IPS.iter().position(|ip| ip == remote.ip()) {
            let rkey = key_of(remote, local);
            let syn = seg.flags.contains(TcpFlags::SYN) && !seg.flags.contains(TcpFlags::ACK);
            let listening = stacks[peer]
                .sockets
                .tcp_listeners
                .contains_key(&remote.port());
            let known = self.ever[peer].contains(&rkey)
                || stacks[peer].sockets.tcp_conns.contains_key(&rkey);
            // Or the handshake of a SYN cookie the peer sent, which it keeps no record of.
            let cookie = listening && self.cookie_sent[peer].contains(&rkey);
            if !(known || syn && listening || cookie) {
                return Err(format!(
                    "segment to a port with no connection: {what} {local}->{remote}"
                ));
            }
        } else if !self.spoofing {
            return Err(format!("segment to a stranger: {what} {local}->{remote}"));
        }
        let fk = (local, remote);
        if seg.flags.contains(TcpFlags::SYN) {
            let reborn = self.flows.get(&fk).is_some_and(|f| f.iss != Some(seg.seq));
            if reborn && !seg.flags.contains(TcpFlags::ACK) {
                // A new incarnation of the 4-tuple.
                self.flows.remove(&fk);
                self.flows.remove(&(remote, local));
            }
            let f = self.flows.entry(fk).or_default();
            f.iss = Some(seg.seq);
            f.wscale = seg.options.window_scale;
        }
        if !seg.payload.is_empty() {
            let end = SeqNum(seg.seq) + seg.payload.len();
            match self.flows.get(&fk).and_then(|f| f.peer_edge) {
                Some(edge) if end <= edge => {}
                edge => {
                    return Err(format!(
                        "{local}->{remote} sent {what} beyond the peer's window (edge {edge:?})"
                    ))
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The harness.

/// What a TSO device does with a TCP super-frame (`DeviceCaps::tso`, Linux's tcp_gso_segment):
/// segments that fill the MTU, each behind a copy of the headers with its own sequence number,
/// IP total length and identification, PSH and FIN on the last only, CWR on the first only, and
/// both checksums computed (the super-frame's TCP field holds the pseudo-header sum).
fn tso_cut(frame: &[u8], mtu: usize) -> Vec<Vec<u8>> {
    use crate::wire::checksum;
    let ip = ETH_LEN;
    let ihl = usize::from(frame[ip] & 0x0f) * 4;
    let tcp = ip + ihl;
    let thl = usize::from(frame[tcp + 12] >> 4) * 4;
    let hdr = tcp + thl;
    let mss = mtu - ihl - thl;
    let be32 = |at: usize| u32::from_be_bytes(frame[at..at + 4].try_into().expect("4 bytes"));
    let (seq0, id0) = (
        be32(tcp + 4),
        u16::from_be_bytes([frame[ip + 4], frame[ip + 5]]),
    );
    let (src, dst) = (Ipv4Addr::from(be32(ip + 12)), Ipv4Addr::from(be32(ip + 16)));
    let payload = &frame[hdr..];
    let n = payload.len().div_ceil(mss);
    (0..n)
        .map(|i| {
            let chunk = &payload[i * mss..((i + 1) * mss).min(payload.len())];
            let mut f = frame[..hdr].to_vec();
            f.extend_from_slice(chunk);
            let total = (ihl + thl + chunk.len()) as u16;
            f[ip + 2..ip + 4].copy_from_slice(&total.to_be_bytes());
            f[ip + 4..ip + 6].copy_from_slice(&id0.wrapping_add(i as u16).to_be_bytes());
            f[ip + 10..ip + 12].fill(0);
            let c = checksum::checksum(&f[ip..tcp]);
            f[ip + 10..ip + 12].copy_from_slice(&c.to_be_bytes());
            let seq = seq0.wrapping_add((i * mss) as u32);
            f[tcp + 4..tcp + 8].copy_from_slice(&seq.to_be_bytes());
            if i + 1 < n {
                f[tcp + 13] &= !(TcpFlags::FIN.bits() | TcpFlags::PSH.bits());
            }
            if i > 0 {
                f[tcp + 13] &= !TcpFlags::CWR.bits();
            }
            f[tcp + 16..tcp + 18].fill(0);
            let pseudo = checksum::pseudo_header(src, dst, 6, (thl + chunk.len()) as u32);
            let c = checksum::finish(checksum::combine(pseudo, checksum::sum(&f[tcp..])));
            f[tcp + 16..tcp + 18].copy_from_slice(&c.to_be_bytes());
            f
        })
        .collect()
}

fn make_stack(s: usize, mtu: usize, seed: u64) -> Stack {
    let iface = Interface {
        mac: MACS[s],
        addr: IPS[s],
        prefix_len: 24,
        gateway: Some(IPS[1 - s]),
        mtu,
    };
    Stack::new(
        iface,
        DeviceCaps {
            mtu,
            checksum: ChecksumMode::Full,
            tso: false,
        },
        seed,
    )
}

/// Two stacks, the link between them, virtual time and the checks.
struct World {
    seed: u64,
    now: Instant,
    start: Instant,
    stacks: [Stack; 2],
    /// `links[s]` carries what stack `s` sends.
    links: [Link; 2],
    rng: Rng,
    check: WireCheck,
    counts: Counts,
    iterations: u64,
    spins: u32,
    /// `TAPSTACK_SIM_DEBUG=SEED`: print every frame of that seed.
    debug: bool,
    mtu: usize,
}

impl World {
    fn new(seed: u64, rng: &mut Rng, params: [LinkParams; 2], mtu: usize) -> World {
        let start = Instant::from_millis(1000);
        World {
            seed,
            now: start,
            start,
            stacks: [
                make_stack(0, mtu, rng.next_u64()),
                make_stack(1, mtu, rng.next_u64()),
            ],
            links: params.map(Link::new),
            rng: Rng::new(rng.next_u64()),
            check: WireCheck::default(),
            counts: Counts::default(),
            iterations: 0,
            spins: 0,
            debug: std::env::var("TAPSTACK_SIM_DEBUG").is_ok_and(|v| v == seed.to_string()),
            mtu,
        }
    }

    fn fail(&self, msg: impl std::fmt::Display) -> ! {
        panic!(
            "seed {} at {:?}: {msg}\nlinks {:?} / {:?}",
            self.seed, self.now, self.links[0].p, self.links[1].p
        )
    }

    /// One step at `now`: deliver due frames, run due timers. The program's calls come next
    /// (the caller's), then [`transmit`](Self::transmit).
    fn deliver_and_poll(&mut self) {
        self.check.snapshot(&self.stacks);
        for d in 0..2 {
            let to = 1 - d;
            while let Some(f) = self.links[d].pop_due(self.now) {
                if self.debug {
                    eprintln!(
                        "{:?} to {to}: {} corrupted {:?}",
                        self.now,
                        summary(&f.bytes),
                        f.corrupted
                    );
                }
                self.check.on_deliver(to, &self.stacks[to], &f.bytes);
                let before = f.corrupted.map(|_| self.stacks[to].stats().clone());
                self.stacks[to].receive(self.now, &f.bytes);
                self.check.learn_keys(to, &self.stacks[to]);
                if let (Some(region), Some(before)) = (f.corrupted, before) {
                    let o = outcome(&before, self.stacks[to].stats());
                    self.counts.corrupted[region as usize][o as usize] += 1;
                    let caught = match region {
                        Region::IpHeader | Region::Tcp | Region::Icmp => o != Outcome::Passed,
                        // A flip that zeroes the UDP checksum turns checking off (RFC 768); the
                        // data is still right.
                        Region::Udp => o != Outcome::Passed || udp_checksum_is_zero(&f.bytes),
                        _ => true,
                    };
                    if !caught {
                        self.fail(format!("a corrupted frame ({region:?}) was accepted"));
                    }
                }
            }
        }
        for s in 0..2 {
            if self.stacks[s]
                .poll_at(self.now)
                .is_some_and(|t| t <= self.now)
            {
                self.stacks[s].poll(self.now);
                self.check.learn_keys(s, &self.stacks[s]);
            }
        }
    }

    /// Moves what the stacks emitted onto the link, checking every frame.
    fn transmit(&mut self) {
        for s in 0..2 {
            self.check.learn_keys(s, &self.stacks[s]);
            while let Some(emitted) = self.stacks[s].pop_frame() {
                // A super-frame (DeviceCaps::tso) becomes what the device puts on the wire.
                let frames = if emitted.len() > ETH_LEN + self.mtu {
                    self.counts.super_frames += 1;
                    tso_cut(&emitted, self.mtu)
                } else {
                    vec![emitted]
                };
                for frame in frames {
                    if self.debug {
                        eprintln!("{:?} from {s}: {}", self.now, summary(&frame));
                    }
                    self.counts.frames += 1;
                    if let Err(e) = self
                        .check
                        .on_emit(s, &self.stacks, &frame, &mut self.counts)
                    {
                        self.fail(format!("stack {s} emitted a bad frame: {e}: {frame:02x?}"));
                    }
                    self.links[s].send(self.now, &mut self.rng, frame, &mut self.counts);
                }
            }
        }
    }

    /// Advances virtual time to the next event (a frame arriving, a stack timer, or `wake`).
    /// Returns false when nothing at all is pending.
    fn advance(&mut self, wake: Option<Instant>) -> bool {
        self.iterations += 1;
        if self.iterations > MAX_ITERATIONS {
            self.fail("too many iterations");
        }
        let candidates = [
            self.links[0].next_at(),
            self.links[1].next_at(),
            self.stacks[0].poll_at(self.now),
            self.stacks[1].poll_at(self.now),
            wake,
        ];
        let Some(next) = candidates.into_iter().flatten().min() else {
            return false;
        };
        if next <= self.now {
            self.spins += 1;
            if self.spins > 1000 {
                self.fail("spinning: something is due but nothing changes");
            }
        } else {
            self.spins = 0;
            self.now = next;
        }
        if self.now.saturating_since(self.start) > MAX_VIRTUAL {
            self.fail("virtual time ran out");
        }
        true
    }
}

/// One line about a frame, for debugging a seed.
fn summary(frame: &[u8]) -> String {
    if frame.len() > 14 && frame[12..14] == [8, 6] {
        return format!("ARP op {}", frame.get(21).copied().unwrap_or(0));
    }
    match parse_tcp(frame) {
        Some((ip, t)) => format!(
            "TCP {}:{} -> {}:{} {:?} seq {} ack {} len {} win {}",
            ip.src_addr,
            t.src_port,
            ip.dst_addr,
            t.dst_port,
            t.flags,
            t.seq,
            t.ack,
            t.payload.len(),
            t.window
        ),
        None => format!("other {} bytes", frame.len()),
    }
}

fn udp_checksum_is_zero(frame: &[u8]) -> bool {
    let ihl = usize::from(frame[ETH_LEN] & 0xf) * 4;
    frame
        .get(ETH_LEN + ihl + 6..ETH_LEN + ihl + 8)
        .is_some_and(|c| c == [0, 0])
}

// ---------------------------------------------------------------------------------------------
// Scenario 1: TCP both ways over a lossy, corrupting link.

const PATTERN_LEN: usize = 65521;

/// One side's program: writes its stream in random pieces, reads the other's, half-closes.
struct Program {
    pattern: Vec<u8>,
    total: usize,
    h: Option<SocketHandle>,
    written: usize,
    write_done: bool,
    read: usize,
    eof: bool,
    closed: bool,
    resume: Instant,
}

impl Program {
    fn new(rng: &mut Rng, total: usize, start: Instant) -> Program {
        let mut p = vec![0u8; PATTERN_LEN];
        rng.fill(&mut p);
        let copy = p.clone();
        p.extend_from_slice(&copy);
        Program {
            pattern: p,
            total,
            h: None,
            written: 0,
            write_done: false,
            read: 0,
            eof: false,
            closed: false,
            resume: start,
        }
    }
}

fn tcp_config(rng: &mut Rng, c: &mut tcp::Config) {
    c.send_buffer = 4096 + rng.below(256 * 1024) as usize;
    c.recv_buffer = 4096 + rng.below(256 * 1024) as usize;
    c.nodelay = rng.chance(0.3);
    c.congestion = if rng.chance(0.5) {
        Algorithm::Cubic
    } else {
        Algorithm::Reno
    };
    c.sack = !rng.chance(0.2);
    c.timestamps = !rng.chance(0.2);
    c.window_scale = !rng.chance(0.1);
    c.time_wait_ms = 500 + rng.below(2000) as u32;
    // Half the seeds send through a device that cuts super-segments.
    c.tso = rng.chance(0.5);
}

/// Runs one seed; returns the virtual time it took and the link counts.
fn tcp_seed(seed: u64, min_bytes: usize, max_bytes: usize) -> (Duration, Counts) {
    let mut rng = Rng::new(seed);
    let mut params = [LinkParams::random(&mut rng), LinkParams::random(&mut rng)];
    let mut harsh_rng = Rng::new(seed ^ 0x4841_5253_4841_5253);
    let harsh = harsh_rng.chance(HARSH_SHARE);
    if harsh {
        params = params.map(|p| p.harsh(&mut harsh_rng));
    }
    let mtu = [576, 1000, 1280, 1500][rng.below(4) as usize];
    let mut w = World::new(seed, &mut rng, params, mtu);
    w.counts.harsh_seeds = harsh as u64;
    // BBR for a third of the stacks, from a stream of its own (the other seeds' worlds stay).
    let mut bbr = Rng::new(seed ^ 0xbb12_bb12_bb12_bb12);
    for s in 0..2 {
        tcp_config(&mut rng, w.stacks[s].tcp_defaults_mut());
        if bbr.chance(1.0 / 3.0) {
            w.stacks[s].tcp_defaults_mut().congestion = Algorithm::Bbr;
        }
    }
    let now = w.now;
    let span = (max_bytes - min_bytes) as u64 + 1;
    let mut progs = [0, 1].map(|_| {
        let total = min_bytes + rng.below(span) as usize;
        Program::new(&mut rng, total, now)
    });
    let server = SocketAddrV4::new(IPS[1], 5001);
    let listener = w.stacks[1].tcp_socket().unwrap();
    w.stacks[1]
        .tcp_bind(listener, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5001))
        .unwrap();
    w.stacks[1].tcp_listen(listener, 4).unwrap();
    let mut connected = [false, false];
    let mut connects = 0;
    let mut buf = vec![0u8; 65_000];

    loop {
        w.deliver_and_poll();
        let now = w.now;
        // The client connects (again, if neighbour resolution failed: Linux's connect fails with
        // EHOSTUNREACH too, and a program may retry).
        if progs[0].h.is_none() {
            connects += 1;
            if connects > 20 {
                w.fail("could not connect 20 times");
            }
            let h = w.stacks[0].tcp_socket().unwrap();
            w.stacks[0].tcp_connect(now, h, server).unwrap();
            progs[0].h = Some(h);
        }
        if !connected[0] {
            let h = progs[0].h.unwrap();
            match w.stacks[0].tcp_connect_status(h) {
                Ok(()) => connected[0] = true,
                Err(Errno::EAGAIN) => {}
                // Timed out too: ARP has no checksum, so a corrupted reply (which a real link's
                // FCS would drop) can leave a wrong address in the neighbour cache for its
                // lifetime, and with it every SYN the client retries.
                Err(Errno::EHOSTUNREACH | Errno::ETIMEDOUT) => {
                    w.stacks[0].close(now, h).unwrap();
                    progs[0].h = None;
                    progs[0].resume = now + Duration::from_millis(100);
                }
                Err(e) => w.fail(format!("connect: {e:?}")),
            }
        }
        if progs[1].h.is_none() {
            match w.stacks[1].tcp_accept(now, listener) {
                Ok((h, peer)) => {
                    assert_eq!(*peer.ip(), IPS[0]);
                    progs[1].h = Some(h);
                    connected[1] = true;
                }
                Err(Errno::EAGAIN) => {}
                Err(e) => w.fail(format!("accept: {e:?}")),
            }
        }
        for s in 0..2 {
            if !connected[s] || progs[s].closed || now < progs[s].resume {
                continue;
            }
            let [p0, p1] = &mut progs;
            let (p, other) = if s == 0 { (p0, &*p1) } else { (p1, &*p0) };
            let h = p.h.unwrap();
            let stack = &mut w.stacks[s];
            while !p.write_done {
                let n = (1 + rng.below(40_000) as usize).min(p.total - p.written);
                if n == 0 {
                    stack.tcp_shutdown(now, h, Shutdown::Write).unwrap();
                    p.write_done = true;
                    break;
                }
                let off = p.written % PATTERN_LEN;
                match stack.tcp_send(now, h, &p.pattern[off..off + n]) {
                    Ok(k) => p.written += k,
                    Err(Errno::EAGAIN) => break,
                    Err(e) => panic!("seed {seed}: side {s} send: {e:?}"),
                }
            }
            while !p.eof {
                let n = 1 + rng.below(buf.len() as u64) as usize;
                match stack.tcp_recv(now, h, &mut buf[..n], false) {
                    Ok(0) => {
                        p.eof = true;
                        if p.read != other.total {
                            panic!("seed {seed}: side {s} early end of file at {}", p.read);
                        }
                    }
                    Ok(k) => {
                        let peer = &other.pattern;
                        let off = p.read % PATTERN_LEN;
                        if buf[..k] != peer[off..off + k] {
                            panic!("seed {seed}: side {s} received wrong bytes at {}", p.read);
                        }
                        p.read += k;
                    }
                    Err(Errno::EAGAIN) => break,
                    Err(e) => panic!("seed {seed}: side {s} recv: {e:?}"),
                }
            }
            let p = &mut progs[s];
            if p.eof && p.write_done {
                w.stacks[s].close(now, h).unwrap();
                p.closed = true;
            } else if rng.chance(0.02) {
                // The program is busy elsewhere for a while.
                p.resume = now + Duration::from_micros(rng.below(100_000));
            }
        }
        w.transmit();

        if progs.iter().all(|p| p.closed)
            && w.stacks[0].socket_count() == 0
            && w.stacks[1].socket_count() == 1
        {
            break;
        }
        let wake = progs
            .iter()
            .filter(|p| !p.closed && p.resume > w.now)
            .map(|p| p.resume)
            .min();
        if !w.advance(wake) {
            w.fail(format!(
                "deadlock: sockets {} / {}, read {} / {}, written {} / {}",
                w.stacks[0].socket_count(),
                w.stacks[1].socket_count(),
                progs[0].read,
                progs[1].read,
                progs[0].written,
                progs[1].written
            ));
        }
    }
    w.stacks[1].close(w.now, listener).unwrap();
    assert_eq!(w.stacks[1].socket_count(), 0);
    if w.counts.conn_resets > 0 {
        w.fail("a connection sent RST in a run where every program reads to the end");
    }
    (w.now.saturating_since(w.start), w.counts)
}

/// Runs `seeds` seeds of `f` on every core; returns the summed counts and the longest run.
fn run_seeds(seeds: u64, f: fn(u64) -> (Duration, Counts)) -> (Counts, Duration) {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                sc.spawn(move || {
                    let mut counts = Counts::default();
                    let mut longest = Duration::ZERO;
                    let mut seed = t;
                    while seed < seeds {
                        let (vt, c) = f(seed);
                        counts.add(&c);
                        longest = longest.max(vt);
                        seed += threads;
                    }
                    (counts, longest)
                })
            })
            .collect();
        let mut total = Counts::default();
        let mut longest = Duration::ZERO;
        for h in handles {
            let (c, l) = h.join().unwrap();
            total.add(&c);
            longest = longest.max(l);
        }
        (total, longest)
    })
}

#[test]
fn tcp_both_ways_over_a_lossy_corrupting_link() {
    let seeds = seed_count("TAPSTACK_SIM_SEEDS", 1000);
    let started = std::time::Instant::now();
    let (counts, longest) = run_seeds(seeds, |seed| tcp_seed(seed, 128 * 1024, 512 * 1024));
    eprintln!(
        "{}\nlongest run {longest:?} virtual, {:?} wall",
        counts.report(&format!("tcp, {seeds} seeds")),
        started.elapsed()
    );
    assert!(
        seeds < 50 || counts.super_frames > 0,
        "no seed sent a super-frame: TSO went untested"
    );
}

/// The same through whole stacks with multi-megabyte streams: fewer seeds, as each moves about
/// ten times the data (the engine simulation runs a thousand such seeds).
/// `TAPSTACK_SIM_MIB_SEEDS=N` sets the seed count (default 100).
#[test]
fn tcp_megabytes_both_ways_over_a_lossy_corrupting_link() {
    let seeds = seed_count("TAPSTACK_SIM_MIB_SEEDS", 100);
    let started = std::time::Instant::now();
    let (counts, longest) = run_seeds(seeds, |seed| {
        tcp_seed(1_000_000 + seed, 1024 * 1024, 2 * 1024 * 1024)
    });
    eprintln!(
        "{}\nlongest run {longest:?} virtual, {:?} wall",
        counts.report(&format!("tcp, 1-2 MiB each way, {seeds} seeds")),
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// Scenario 3: UDP datagrams up to 8 KiB, fragmented.

/// The datagram number `i` of a sender: its index, then bytes from a generator keyed by both.
fn datagram(key: u64, i: u64, len: usize) -> Vec<u8> {
    let mut d = vec![0u8; len.max(12)];
    d[0..8].copy_from_slice(&i.to_be_bytes());
    d[8..12].copy_from_slice(&(len.max(12) as u32).to_be_bytes());
    Rng::new(key ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).fill(&mut d[12..]);
    d
}

fn udp_seed(seed: u64) -> (Duration, Counts) {
    let mut rng = Rng::new(seed ^ 0x5544_5000);
    let lossless = seed.is_multiple_of(4);
    let mut params = [LinkParams::random(&mut rng), LinkParams::random(&mut rng)];
    if lossless {
        params = params.map(LinkParams::lossless);
    }
    let mtu = [576, 1000, 1500][rng.below(3) as usize];
    let mut w = World::new(seed, &mut rng, params, mtu);
    let count = 100 + rng.below(100);
    let keys = [rng.next_u64(), rng.next_u64()];
    let h = [0, 1].map(|s| {
        let h = w.stacks[s].udp_socket().unwrap();
        w.stacks[s]
            .udp_bind(h, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7000 + s as u16))
            .unwrap();
        h
    });
    let mut sent = [0u64; 2];
    let mut next_send = [w.now; 2];
    let mut received = [HashSet::new(), HashSet::new()];
    let mut buf = vec![0u8; 70_000];
    let mut done_at = None;
    loop {
        w.deliver_and_poll();
        let now = w.now;
        for s in 0..2 {
            // Receive and verify everything waiting.
            loop {
                match w.stacks[s].udp_recv_from(h[s], &mut buf, false) {
                    Ok(r) => {
                        let d = &buf[..r.copied];
                        assert_eq!(r.copied, r.len);
                        assert_eq!(r.from, SocketAddrV4::new(IPS[1 - s], 7000 + (1 - s) as u16));
                        let i = u64::from_be_bytes(d[0..8].try_into().unwrap());
                        let want = datagram(keys[1 - s], i, d.len());
                        if d.len() < 12 || want != d {
                            let at = d.iter().zip(&want).position(|(a, b)| a != b);
                            w.fail(format!(
                                "side {s} received a datagram that was never sent: #{i}, {} \
                                 bytes, first difference at {at:?}",
                                d.len()
                            ));
                        }
                        received[s].insert(i);
                    }
                    Err(Errno::EAGAIN) => break,
                    // Neighbour resolution failed for a datagram we sent: it is lost.
                    Err(Errno::EHOSTUNREACH) if !lossless => {}
                    Err(e) => w.fail(format!("side {s} recv: {e:?}")),
                }
            }
            // Send the next datagram once the neighbour is known (until then, only a probe),
            // so ARP's small queue does not drop what a lossless link would carry.
            if sent[s] < count && now >= next_send[s] {
                let known = !w.stacks[s].neighbours().is_empty();
                let (i, len) = if known {
                    sent[s] += 1;
                    (sent[s] - 1, 12 + rng.below(8192 - 12 + 1) as usize)
                } else {
                    (u64::MAX, 12)
                };
                let d = datagram(keys[s], i, len);
                let to = SocketAddrV4::new(IPS[1 - s], 7000 + (1 - s) as u16);
                match w.stacks[s].udp_send_to(now, h[s], &d, Some(to)) {
                    Ok(n) => assert_eq!(n, d.len()),
                    Err(Errno::EHOSTUNREACH) if !lossless => {}
                    Err(e) => w.fail(format!("side {s} send: {e:?}")),
                }
                let gap = if known {
                    500 + rng.below(3000)
                } else {
                    100_000
                };
                next_send[s] = now + Duration::from_micros(gap);
            }
        }
        w.transmit();
        let idle = w.links.iter().all(|l| l.heap.is_empty());
        if sent.iter().all(|&n| n == count) && idle {
            // Let fragments still in flight or waiting settle for a moment, then stop.
            let at = *done_at.get_or_insert(now + Duration::from_millis(100));
            if now >= at {
                break;
            }
        }
        let wake = (0..2)
            .filter(|&s| sent[s] < count)
            .map(|s| next_send[s])
            .chain(done_at)
            .min();
        if !w.advance(wake) {
            break;
        }
    }
    received.iter_mut().for_each(|r| {
        r.remove(&u64::MAX);
    });
    if lossless {
        for (s, got) in received.iter().enumerate() {
            if got.len() as u64 != count {
                w.fail(format!(
                    "lossless link, yet side {s} got {} of {count} datagrams",
                    got.len()
                ));
            }
        }
    }
    (w.now.saturating_since(w.start), w.counts)
}

#[test]
fn udp_fragments_over_a_lossy_corrupting_link() {
    let seeds = seed_count("TAPSTACK_SIM_UDP_SEEDS", 300);
    let started = std::time::Instant::now();
    let (counts, _) = run_seeds(seeds, udp_seed);
    eprintln!(
        "{}\n{:?} wall",
        counts.report(&format!("udp, {seeds} seeds")),
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// Scenario 4: a SYN flood.

/// A SYN from a spoofed address (beyond the gateway, so nobody ever answers the SYN-ACK).
fn spoofed_syn(rng: &mut Rng, dst: SocketAddrV4) -> Vec<u8> {
    let src = Ipv4Addr::new(198, 18, rng.below(256) as u8, 1 + rng.below(254) as u8);
    let tcp = TcpRepr {
        src_port: 1024 + rng.below(64_000) as u16,
        dst_port: dst.port(),
        seq: rng.next_u32(),
        ack: 0,
        flags: TcpFlags::SYN,
        window: 65535,
        urgent: 0,
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: *dst.ip(),
        protocol: IpProtocol::TCP,
        payload_len: tcp.buffer_len(),
        ttl: 64,
        tos: 0,
        ident: rng.next_u32() as u16,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
    };
    let mut f = vec![0u8; ETH_LEN + ip.buffer_len()];
    EthernetRepr {
        src: MACS[0],
        dst: MACS[1],
        ethertype: EtherType::IPV4,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut f[..]));
    ip.emit(
        &mut Ipv4Packet::new_unchecked(&mut f[ETH_LEN..]),
        ChecksumMode::Full,
    );
    tcp.emit(
        &mut TcpPacket::new_unchecked(&mut f[ETH_LEN + 20..]),
        src,
        *dst.ip(),
        ChecksumMode::Full,
    );
    f
}

fn syn_flood_seed(seed: u64) {
    let mut rng = Rng::new(seed ^ 0x5359_4e00);
    let params = LinkParams {
        loss: 0.0,
        corrupt: 0.0,
        ..LinkParams::random(&mut rng)
    };
    let mut w = World::new(seed, &mut rng, [params; 2], 1500);
    w.check.spoofing = true;
    let server = SocketAddrV4::new(IPS[1], 80);
    let backlog = 8;
    let listener = w.stacks[1].tcp_socket().unwrap();
    w.stacks[1].tcp_bind(listener, server).unwrap();
    w.stacks[1].tcp_listen(listener, backlog).unwrap();
    let syn_limit = w.stacks[1]
        .sockets
        .tcp_mut(listener)
        .and_then(|s| s.listener_mut())
        .unwrap()
        .syn_limit();
    let bound = 1 + syn_limit + backlog;
    let flood = 3000 + rng.below(3000);
    let flood_end = w.now + Duration::from_secs(3);
    let gap = Duration::from_micros(3_000_000 / flood);
    let mut next_syn = w.now;
    let mut sent = 0;
    let mut client: Option<SocketHandle> = None;
    let mut client_started = false;
    let mut accepted: Option<SocketHandle> = None;
    let mut got = Vec::new();
    let mut max_sockets = 0;
    let message = b"hello through the flood";
    loop {
        w.deliver_and_poll();
        let now = w.now;
        // The flood goes straight to B's input, as if from the wire.
        while sent < flood && now >= next_syn {
            let f = spoofed_syn(&mut rng, server);
            w.check.on_deliver(1, &w.stacks[1], &f);
            w.stacks[1].receive(now, &f);
            sent += 1;
            next_syn += gap;
        }
        let n = w.stacks[1].socket_count();
        max_sockets = max_sockets.max(n);
        if n > bound {
            w.fail(format!("{n} sockets under a SYN flood, bound {bound}"));
        }
        if w.stacks[1].frames_pending() > 4 * syn_limit + 64 {
            w.fail("frames pile up under a SYN flood");
        }
        // Halfway through the flood, with the SYN queue full of it, a real client connects and
        // is served: its SYN gets a cookie (RFC 4987 §3.6), and the ACK that returns it makes
        // the connection.
        if client.is_none() && !client_started && sent >= flood / 2 {
            let h = w.stacks[0].tcp_socket().unwrap();
            w.stacks[0].tcp_connect(now, h, server).unwrap();
            client = Some(h);
            client_started = true;
        }
        if let Some(h) = client {
            match w.stacks[0].tcp_connect_status(h) {
                Ok(()) => {
                    if w.stacks[0].tcp_send(now, h, message).is_ok() {
                        w.stacks[0].tcp_shutdown(now, h, Shutdown::Write).unwrap();
                        w.stacks[0].close(now, h).unwrap();
                        client = None;
                    }
                }
                Err(Errno::EAGAIN) => {}
                Err(e) => w.fail(format!("client connect after the flood: {e:?}")),
            }
        }
        if accepted.is_none() {
            match w.stacks[1].tcp_accept(now, listener) {
                Ok((h, peer)) => {
                    if *peer.ip() != IPS[0] {
                        w.fail(format!("accepted a spoofed peer {peer}"));
                    }
                    accepted = Some(h);
                }
                Err(Errno::EAGAIN) => {}
                Err(e) => w.fail(format!("accept: {e:?}")),
            }
        }
        if let Some(h) = accepted {
            let mut b = [0u8; 64];
            match w.stacks[1].tcp_recv(now, h, &mut b, false) {
                Ok(0) => {
                    assert_eq!(got, message);
                    w.stacks[1].close(now, h).unwrap();
                    w.transmit();
                    if now >= flood_end {
                        w.fail(format!(
                            "the client was served only at {now:?}, after the flood"
                        ));
                    }
                    break;
                }
                Ok(k) => got.extend_from_slice(&b[..k]),
                Err(Errno::EAGAIN) => {}
                Err(e) => w.fail(format!("recv: {e:?}")),
            }
        }
        w.transmit();
        let wake = (sent < flood).then_some(next_syn);
        if !w.advance(wake) {
            w.fail("stuck after the flood");
        }
    }
    let st = w.stacks[1].stats();
    assert!(st.tcp_syncookies_sent > 0, "the flood filled the SYN queue");
    assert!(
        st.tcp_syncookies_recv >= 1,
        "the client came in on a cookie"
    );
    assert!(max_sockets > syn_limit, "the flood filled the SYN queue");
    eprintln!(
        "syn flood seed {seed}: {sent} SYNs, {} cookies, at most {max_sockets} sockets (bound \
         {bound}), client served at {:?}",
        st.tcp_syncookies_sent, w.now
    );
}

#[test]
fn syn_flood_keeps_memory_bounded_and_serves_later_clients() {
    for seed in 0..seed_count("TAPSTACK_SIM_FLOOD_SEEDS", 4) {
        syn_flood_seed(seed);
    }
}
