//! Deterministic simulation: two connections joined by a lossy, delaying, reordering, duplicating,
//! corrupting, bandwidth-limited link in virtual time, exchanging streams both ways while protocol
//! properties are checked. `TAPSTACK_SIM_SEEDS=N` sets the seed count (default 1000).
//!
//! Segments cross the link as IPv4 datagrams built and parsed by `crate::wire`, checksums included,
//! so a corrupted one (a flipped bit or a replaced byte) must be rejected by the same parser the
//! stack uses. Besides checks against the engine's own trace, a wire checker judges each sender
//! only by what crossed the link: its own RFC 6298 estimator from round trips it times there
//! (Karn's rule, or RFC 7323 timestamps when both SYNs carried them), the earliest moment a
//! retransmission timer could have been armed (RFC 6298 §5), which ACKs the sender can have
//! accepted (RFC 9293 §3.10.7.4 and PAWS), and when each receiver answered data.
//! In a third of the seeds the client asks for ECN (RFC 3168) and the links mark ECT datagrams CE
//! once their queue is half full, so ECE, CWR and the reductions they cause run under the same
//! checks.
//! `TAPSTACK_SIM_DEBUG=SEED` prints every segment of that seed.

use super::assembler::MAX_RANGES;
use super::config::Config;
use super::congestion::Algorithm;
use super::connection::{Connection, SendCause, State, Trace};
use super::segment::{OutSegment, Segment};
use super::seq::SeqNum;
use crate::error::Errno;
use crate::rand::Rng;
use crate::time::{Duration, Instant};
use crate::wire::tcp::TcpFlags;
use crate::wire::{
    ChecksumMode, Ecn, IpProtocol, Ipv4Packet, Ipv4Repr, TcpPacket, TcpRepr, WireError,
};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::Ipv4Addr;

/// A segment in flight: header plus an owned copy of the payload.
#[derive(Clone, Debug)]
pub(crate) struct Packet {
    pub seg: OutSegment,
    pub payload: Vec<u8>,
}

impl Packet {
    pub fn as_segment(&self) -> Segment<'_> {
        Segment {
            seq: self.seg.seq,
            ack: self.seg.ack,
            flags: self.seg.flags,
            window: self.seg.window,
            options: self.seg.options,
            payload: &self.payload,
            ecn: self.seg.ecn,
            urgent: self.seg.urgent,
        }
    }
}

/// Runs `poll_transmit` and collects what it emits.
pub(crate) fn collect(c: &mut Connection, now: Instant) -> Vec<Packet> {
    let mut out = Vec::new();
    c.poll_transmit(now, &mut |seg, a, b| {
        let mut payload = Vec::with_capacity(a.len() + b.len());
        payload.extend_from_slice(a);
        payload.extend_from_slice(b);
        out.push(Packet { seg: *seg, payload });
    });
    out
}

/// The two ends: side 0 (the client) and side 1 (the server).
const ADDRS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 77, 0, 2), Ipv4Addr::new(10, 77, 0, 1)];
const PORTS: [u16; 2] = [40_000, 5001];

/// The IPv4 datagram side `s` would put on the wire for `pkt`, checksums computed.
fn to_wire(s: usize, pkt: &Packet, ident: u16) -> Vec<u8> {
    let tcp = TcpRepr {
        src_port: PORTS[s],
        dst_port: PORTS[1 - s],
        seq: pkt.seg.seq.0,
        ack: pkt.seg.ack.0,
        flags: pkt.seg.flags,
        window: pkt.seg.window,
        urgent: pkt.seg.urgent,
        options: pkt.seg.options,
        payload: &pkt.payload,
    };
    let ip = Ipv4Repr {
        src_addr: ADDRS[s],
        dst_addr: ADDRS[1 - s],
        protocol: IpProtocol::TCP,
        payload_len: tcp.buffer_len(),
        ttl: 64,
        tos: pkt.seg.ecn.with_tos(0),
        ident,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
    };
    let mut bytes = vec![0u8; 20 + tcp.buffer_len()];
    let (head, rest) = bytes.split_at_mut(20);
    ip.emit(&mut Ipv4Packet::new_unchecked(head), ChecksumMode::Full);
    tcp.emit(
        &mut TcpPacket::new_unchecked(rest),
        ADDRS[s],
        ADDRS[1 - s],
        ChecksumMode::Full,
    );
    bytes
}

/// Parses a datagram as the stack's input does, checksums verified.
fn from_wire(bytes: &[u8]) -> Result<Segment<'_>, WireError> {
    let ip = Ipv4Packet::new_checked(bytes)?;
    let ip_repr = Ipv4Repr::parse(&ip, ChecksumMode::Full)?;
    let tcp = TcpPacket::new_checked(ip.into_payload())?;
    let t = TcpRepr::parse(&tcp, ip_repr.src_addr, ip_repr.dst_addr, ChecksumMode::Full)?;
    Ok(Segment {
        seq: SeqNum(t.seq),
        ack: SeqNum(t.ack),
        flags: t.flags,
        window: t.window,
        options: t.options,
        payload: t.payload,
        ecn: Ecn::from_tos(ip_repr.tos),
        urgent: t.urgent,
    })
}

/// Flips one random bit, or replaces one random byte (favouring the headers). Either changes the
/// ones' complement sum of the datagram's header or of its segment, so a checksum must catch it.
fn corrupt(rng: &mut Rng, bytes: &mut [u8]) {
    let window = if rng.chance(0.5) {
        bytes.len().min(60)
    } else {
        bytes.len()
    };
    let pos = rng.below(window as u64) as usize;
    if rng.chance(0.7) {
        bytes[pos] ^= 1 << rng.below(8);
    } else {
        bytes[pos] ^= 1 + rng.below(255) as u8;
    }
}

struct InFlight {
    at: Instant,
    id: u64,
    bytes: Vec<u8>,
    corrupted: bool,
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

struct Link {
    /// Marks ECT datagrams CE (RFC 3168 §5) instead of queueing them past half the limit.
    ecn_mark: bool,
    delay: Duration,
    bytes_per_sec: u64,
    queue_limit: Duration,
    loss: f64,
    dup: f64,
    reorder: f64,
    corrupt: f64,
    busy_until: Instant,
    heap: BinaryHeap<Reverse<InFlight>>,
    next_id: u64,
    ce_marked: u64,
}

impl Link {
    /// Side `s` sends `pkt`.
    fn send(&mut self, now: Instant, rng: &mut Rng, s: usize, mut pkt: Packet) {
        let size = pkt.payload.len() as u64 + 60;
        let start = self.busy_until.max(now);
        let queued = start.saturating_since(now);
        if queued > self.queue_limit {
            return; // tail drop
        }
        if self.ecn_mark && queued > self.queue_limit / 2 && pkt.seg.ecn != Ecn::NotEct {
            pkt.seg.ecn = Ecn::Ce;
            self.ce_marked += 1;
        }
        self.busy_until = start + Duration::from_micros(size * 1_000_000 / self.bytes_per_sec);
        if rng.chance(self.loss) {
            return;
        }
        let copies = if rng.chance(self.dup) { 2 } else { 1 };
        for _ in 0..copies {
            let mut at = self.busy_until + self.delay;
            if rng.chance(self.reorder) {
                at += Duration::from_micros(rng.below(5000));
            }
            self.next_id += 1;
            let mut bytes = to_wire(s, &pkt, self.next_id as u16);
            let corrupted = rng.chance(self.corrupt);
            if corrupted {
                corrupt(rng, &mut bytes);
            }
            self.heap.push(Reverse(InFlight {
                at,
                id: self.next_id,
                bytes,
                corrupted,
            }));
        }
    }
    fn next_at(&self) -> Option<Instant> {
        self.heap.peek().map(|r| r.0.at)
    }
    fn pop_due(&mut self, now: Instant) -> Option<InFlight> {
        if self.next_at()? <= now {
            Some(self.heap.pop().unwrap().0)
        } else {
            None
        }
    }
}

const PATTERN_LEN: usize = 65521;

struct App {
    total: usize,
    pattern: Vec<u8>, // what this side sends, 2 * PATTERN_LEN long
    written: usize,
    write_done: bool,
    write_resume: Instant,
    read: usize,
    eof: bool,
    read_resume: Instant,
    closed: bool,
    /// Stream offsets of the bytes this side sent as urgent data, in order.
    marks: Vec<usize>,
    /// Stream offsets of the peer's bytes this side took as urgent, out of the stream.
    taken: Vec<usize>,
}

/// Per-direction wire-level checker state (for segments sent by side `s`).
#[derive(Default)]
struct Checker {
    max_end: Option<SeqNum>,
    /// Highest right edge advertised to this sender by its peer and delivered.
    peer_edge: Option<SeqNum>,
    max_peer_wnd: usize,
    last_rto: Option<(u32, Duration)>,
    /// SRTT and RTTVAR when the last RTO fired: a sample since (a SACK's, without timestamps,
    /// as Linux's sack_rtt_us) moves the base the next one doubles.
    rtt_at_rto: Option<(Option<Duration>, Duration)>,
    /// A tail loss probe timer expired in this poll: one Probe send may follow.
    probe_allowed: bool,
    /// The end of the last new segment shorter than the MSS (Minshall's Nagle).
    small_end: Option<SeqNum>,
}

/// One sender as the wire shows it, in offsets from its initial sequence number, knowing nothing
/// of the engine's state: what it sent when, which cumulative ACKs reached it, and when.
struct WireSender {
    iss: Option<SeqNum>,
    /// First transmissions by start offset: end, when sent, whether any of it was sent again,
    /// and the TSval it carried.
    first: BTreeMap<u64, (u64, Instant, bool, Option<u32>)>,
    /// Data retransmissions not yet acknowledged: start and end offsets, the TSval carried.
    resends: Vec<(u64, u64, Option<u32>)>,
    /// The end of the highest sequence number sent.
    max_end: u64,
    /// The highest cumulative ACK that reached this sender, and when it last moved.
    una: u64,
    una_at: Instant,
    /// Timeout retransmissions since `una` last moved; the time of the last, and the gap before it.
    timeouts: u32,
    last_timeout: Option<(Instant, Duration)>,
    /// RFC 6298 §2 estimator over the samples the wire allows (Karn, RFC 6298 §3, or the echoed
    /// timestamps of RFC 7323 §4): SRTT and RTTVAR in µs.
    srtt_us: Option<(u64, u64)>,
    /// As a receiver: the peer's ISS, the end of the contiguous data delivered to this side, and
    /// the pieces beyond it, in offsets from the peer's ISS.
    peer_iss: Option<SeqNum>,
    /// Timestamps (RFC 7323) as offered in each side's SYN, and when each TSval was first sent.
    ts_offered: [bool; 2],
    ts_sent: std::collections::HashMap<u32, Instant>,
    rcv_next: u64,
    rcv_above: BTreeMap<u64, u64>,
    /// RFC 7323 TS.Recent and Last.ACK.sent as this side's segments show them.
    ts_recent: Option<u32>,
    last_ack_sent: Option<SeqNum>,
}

impl WireSender {
    fn new(now: Instant) -> WireSender {
        WireSender {
            iss: None,
            first: BTreeMap::new(),
            resends: Vec::new(),
            max_end: 0,
            una: 0,
            una_at: now,
            timeouts: 0,
            last_timeout: None,
            srtt_us: None,
            peer_iss: None,
            ts_offered: [false; 2],
            ts_sent: std::collections::HashMap::new(),
            rcv_next: 0,
            rcv_above: BTreeMap::new(),
            ts_recent: None,
            last_ack_sent: None,
        }
    }

    /// A segment delivered to this side: whether its ACK field counts. RFC 9293 §3.10.7.4 drops a
    /// segment wholly below RCV.NXT, ACK field and all, and PAWS one with an old timestamp; a pure
    /// ACK, or one bringing anything not delivered before, is processed.
    fn on_receive(&mut self, seg: &Segment) -> bool {
        let tsval = seg.options.timestamps.map(|t| t.0);
        if seg.flags.contains(TcpFlags::SYN) {
            self.peer_iss.get_or_insert(seg.seq);
            self.ts_offered[1] = tsval.is_some();
            self.ts_recent = tsval;
        }
        let Some(iss) = self.peer_iss else {
            return true;
        };
        let ts_on = self.ts_offered == [true, true];
        // PAWS (RFC 7323 §5.3 R1): a segment with an older TSval than TS.Recent is dropped, with
        // the one tick of tolerance Linux allows (TCP_PAWS_WINDOW) and the engine too: without
        // it this model would drop a segment the receiver took, and lose track of what it holds.
        if let (true, Some(v), Some(recent)) = (ts_on, tsval, self.ts_recent) {
            if (recent.wrapping_sub(v) as i32) > 1 {
                return false;
            }
        }
        // RFC 7323 §4.3 R3: TS.Recent follows segments starting at or below Last.ACK.sent.
        let update_ts = |w: &mut WireSender| {
            if let (true, Some(v), Some(last)) = (ts_on, tsval, w.last_ack_sent) {
                if seg.seq <= last {
                    w.ts_recent = Some(v);
                }
            }
        };
        let len = seg.seq_len() as u64;
        if len == 0 {
            // RFC 9293 §3.10.7.4: an empty segment is acceptable at RCV.NXT or beyond; one before
            // it (a keepalive or window probe at SND.UNA - 1) is answered and dropped, its ACK
            // field unread, by the engine as by Linux (tcp_sequence).
            if seg.seq < iss + self.rcv_next as usize {
                return false;
            }
            update_ts(self);
            return true;
        }
        let start = seg.seq.since(iss) as u64;
        let end = start + len;
        if end <= self.rcv_next {
            return false;
        }
        update_ts(self);
        // The engine's reassembly holds at most MAX_RANGES disjoint ranges above RCV.NXT and
        // refuses a segment that would need another (its ACK field still counts).
        if start > self.rcv_next && self.needs_new_range(start, end) && self.ranges() >= MAX_RANGES
        {
            return true;
        }
        let e = self.rcv_above.entry(start).or_insert(end);
        *e = (*e).max(end);
        while let Some((&s, &e)) = self.rcv_above.first_key_value() {
            if s > self.rcv_next {
                break;
            }
            self.rcv_next = self.rcv_next.max(e);
            self.rcv_above.remove(&s);
        }
        true
    }

    /// Disjoint, non-adjacent ranges received above RCV.NXT (as the engine's assembler keeps them).
    fn ranges(&self) -> usize {
        let mut n = 0;
        let mut end = None;
        for (&s, &e) in &self.rcv_above {
            match end {
                Some(x) if s <= x => end = Some(e.max(x)),
                _ => {
                    n += 1;
                    end = Some(e);
                }
            }
        }
        n
    }

    /// `[start, end)` touches no range received above RCV.NXT.
    fn needs_new_range(&self, start: u64, end: u64) -> bool {
        !self.rcv_above.iter().any(|(&s, &e)| s <= end && start <= e)
    }

    /// This side sent a segment acknowledging `ack`.
    fn on_ack_sent(&mut self, ack: SeqNum) {
        self.last_ack_sent = Some(ack);
    }

    fn off(&self, seq: SeqNum) -> u64 {
        seq.since(self.iss.expect("iss")) as u64
    }

    /// The RTO this estimator gives, with the 200 ms floor the engine applies to the variance
    /// term (as Linux does) in place of RFC 6298's 1 s; 1 s before any sample (§2.1).
    fn rto(&self) -> Duration {
        match self.srtt_us {
            None => super::rtt::RTO_INITIAL,
            Some((srtt, var)) => {
                Duration::from_micros(srtt + (4 * var).max(super::rtt::RTO_MIN.as_micros() as u64))
            }
        }
    }

    /// The first transmission holding offset `o`.
    fn first_of(&self, o: u64) -> Option<(u64, Instant, bool, Option<u32>)> {
        self.first
            .range(..=o)
            .next_back()
            .map(|(_, v)| *v)
            .filter(|v| o < v.0)
    }

    /// A segment this sender put on the wire at `now`; returns whether it resent anything.
    fn on_send(&mut self, now: Instant, seg: &OutSegment) -> Result<bool, String> {
        if seg.flags.contains(TcpFlags::SYN) {
            self.iss.get_or_insert(seg.seq);
            self.ts_offered[0] = seg.options.timestamps.is_some();
        }
        if let Some((tsval, _)) = seg.options.timestamps {
            self.ts_sent.entry(tsval).or_insert(now);
        }
        let len = seg.seq_len() as u64;
        if len == 0 || self.iss.is_none() {
            return Ok(false);
        }
        let start = self.off(seg.seq);
        let end = start + len;
        let resent = start < self.max_end;
        if resent {
            // RFC 9293 §3.10.7.4: bytes at or below SND.UNA are acknowledged, and resending only
            // those can never help.
            if end <= self.una {
                return Err(format!(
                    "resent [{start}, {end}) which the peer had acknowledged up to {}",
                    self.una
                ));
            }
            let hit: Vec<u64> = self
                .first
                .range(..end.min(self.max_end))
                .rev()
                .take_while(|(_, v)| v.0 > start)
                .map(|(k, _)| *k)
                .collect();
            for k in hit {
                self.first.get_mut(&k).expect("present").2 = true;
            }
            // The engine judges its SYN's round trip apart (one sample, whatever the echo).
            if !seg.flags.contains(TcpFlags::SYN) {
                self.resends
                    .push((start, end, seg.options.timestamps.map(|t| t.0)));
            }
        }
        if end > self.max_end {
            self.first.insert(
                start.max(self.max_end),
                (end, now, false, seg.options.timestamps.map(|t| t.0)),
            );
            self.max_end = end;
        }
        Ok(resent)
    }

    /// A cumulative ACK reached this sender at `now`.
    fn on_ack(&mut self, now: Instant, ack: SeqNum, tsecr: Option<u32>) {
        if self.iss.is_none() {
            return;
        }
        let a = self.off(ack);
        if a <= self.una || a > self.max_end {
            return;
        }
        // Karn: a sample only when nothing newly acknowledged was sent twice (an ACK that a
        // retransmission filling a hole moved says nothing of the segments above it).
        let resent = self
            .first
            .range(..a)
            .rev()
            .take_while(|(_, v)| v.0 > self.una)
            .any(|(_, v)| v.2);
        // With timestamps, RFC 7323 §4.1: the echoed TSval dates the segment that caused it, so
        // retransmitted ones count too (a TSval first sent then). An echo older than the last
        // sending of the bytes this ACK newly covers is the receiver's old TS.Recent answering a
        // duplicate (RFC 7323 §4.3): it measures the timeout, not a round trip, and gives no
        // sample. Compared as the engine compares them, in timestamp ticks.
        let ts_on = self.ts_offered == [true, true];
        let echoed = tsecr
            .filter(|_| ts_on)
            .and_then(|e| self.ts_sent.get(&e).copied());
        let last_tsval = self
            .resends
            .iter()
            .filter(|r| r.1 > self.una && r.0 < a)
            .filter_map(|r| r.2)
            .max_by_key(|&v| v.wrapping_sub(tsecr.unwrap_or(0)) as i32);
        let stale = tsecr
            .filter(|_| echoed.is_some())
            .zip(last_tsval)
            .is_some_and(|(e, v)| (e.wrapping_sub(v) as i32) < 0);
        let sent = match echoed {
            Some(_) if stale => None,
            Some(t) => Some(t),
            None if !resent => self.first_of(a - 1).map(|f| f.1),
            None => None,
        };
        if let Some(sent) = sent {
            let r = now.saturating_since(sent).as_micros() as u64;
            self.srtt_us = Some(match self.srtt_us {
                None => (r, r / 2),
                Some((srtt, var)) => ((7 * srtt + r) / 8, (3 * var + srtt.abs_diff(r)) / 4),
            });
        }
        self.una = a;
        self.resends.retain(|r| r.1 > a);
        self.una_at = now;
        self.timeouts = 0;
        self.last_timeout = None;
        while let Some(e) = self.first.first_entry() {
            if e.get().0 > a {
                break;
            }
            e.remove();
        }
    }

    /// The segment `seg`, sent at `now`, is the retransmission a timeout caused. `min_rtt` is the
    /// least round trip the link allows. Returns how long after the earliest moment the timer could
    /// have been armed it came, and this estimator's backed-off RTO.
    fn on_timeout(
        &mut self,
        now: Instant,
        seg: &OutSegment,
        min_rtt: Duration,
    ) -> Result<(Duration, Duration), String> {
        let start = self.off(seg.seq);
        let end = start + seg.seq_len() as u64;
        if !(start <= self.una && self.una < end) {
            return Err(format!(
                "timeout retransmission [{start}, {end}) is not of the oldest unacknowledged byte {}",
                self.una
            ));
        }
        // RFC 6298 §5.1, §5.3, §5.5: the timer runs from no earlier than the first sending of
        // the oldest unacknowledged byte, the last ACK of new data, and the previous timeout.
        let sent = self.first_of(self.una).map_or(self.una_at, |f| f.1);
        let mut armed = sent.max(self.una_at);
        if let Some((t, _)) = self.last_timeout {
            armed = armed.max(t);
        }
        let waited = now.saturating_since(armed);
        self.timeouts += 1;
        let k = self.timeouts - 1;
        // Before any sample (SYN, SYN-ACK) the RTO is 1 s (RFC 6298 §2.1); after, at least the
        // 200 ms floor plus a round trip; doubled on each retry (§5.5), up to the maximum.
        let base = if self.una == 0 {
            super::rtt::RTO_INITIAL
        } else {
            super::rtt::RTO_MIN + min_rtt
        };
        // A SYN's first timeouts may keep the initial RTO (Linux's tcp_syn_linear_timeouts,
        // macOS's schedule): a departure from §5.5 that shortens no wait below the first one.
        let syn = seg.flags.contains(TcpFlags::SYN) && !seg.flags.contains(TcpFlags::ACK);
        let linear = if syn {
            u32::from(super::config::SYN_LINEAR_TIMEOUTS)
        } else {
            0
        };
        let doublings = k.saturating_sub(linear).min(20);
        let floor = base.saturating_mul(1 << doublings).min(super::rtt::RTO_MAX);
        // One millisecond for timestamp-clock rounding of the engine's RTT samples, which goes
        // into its SRTT and so is doubled with the RTO on each retry.
        let rounding = Duration::from_millis(1).saturating_mul(1 << doublings);
        if waited + rounding < floor {
            return Err(format!(
                "timeout retransmission {waited:?} after the timer could start; retry {} needs {floor:?}",
                k + 1
            ));
        }
        // From the third in a row the gaps are exact: each timer starts at the previous timeout.
        if let Some((t, prev_gap)) = self.last_timeout {
            let gap = now.saturating_since(t);
            let want = if k <= linear {
                prev_gap
            } else {
                prev_gap.saturating_mul(2).min(super::rtt::RTO_MAX)
            };
            if k >= 2 && gap.abs_diff(want) > Duration::from_millis(1) {
                return Err(format!(
                    "timeout gaps {prev_gap:?} then {gap:?}: the RTO did not double"
                ));
            }
        }
        self.last_timeout = Some((now, waited));
        let expected = self
            .rto()
            .saturating_mul(1 << doublings)
            .min(super::rtt::RTO_MAX);
        Ok((waited, expected))
    }
}

pub(crate) struct SimResult {
    pub virtual_time: Duration,
    pub retransmits: u64,
    /// Datagrams corrupted on the link (all rejected by the checksums).
    pub corrupted: u64,
    /// The least ratio of a timeout's wait to the wire estimator's RTO, and the number of timeouts.
    pub min_rto_ratio: f64,
    pub timeouts: u64,
    /// Bytes delivered, both directions.
    pub bytes: u64,
    /// Datagrams the links marked CE, and segments that crossed them with CWR.
    pub ce_marked: u64,
    pub cwr_seen: u64,
}

fn pattern(rng: &mut Rng) -> Vec<u8> {
    let mut p = vec![0u8; PATTERN_LEN];
    rng.fill(&mut p);
    let copy = p.clone();
    p.extend_from_slice(&copy);
    p
}

pub(crate) fn run_seed(seed: u64, bytes_each_way: usize) -> SimResult {
    let mut rng = Rng::new(seed);
    // ECN's choices come from a stream of their own, so the other seeds' worlds stay as they were.
    let ecn = Rng::new(seed ^ 0x3168_3168_3168_3168).chance(1.0 / 3.0);
    let link = |rng: &mut Rng| Link {
        ecn_mark: ecn,
        delay: Duration::from_micros(500 + rng.below(30_000)),
        bytes_per_sec: (10 + rng.below(190)) * 1_000_000 / 8,
        queue_limit: Duration::from_millis(5 + rng.below(50)),
        loss: if rng.chance(0.2) {
            0.0
        } else {
            rng.below(100) as f64 / 1000.0
        },
        dup: rng.below(20) as f64 / 1000.0,
        reorder: rng.below(50) as f64 / 1000.0,
        corrupt: rng.below(30) as f64 / 1000.0,
        busy_until: Instant::ZERO,
        heap: BinaryHeap::new(),
        next_id: 0,
        ce_marked: 0,
    };
    let mut links = [link(&mut rng), link(&mut rng)];
    let cfg = |rng: &mut Rng| Config {
        mss: 536 + rng.below(925) as u16,
        send_buffer: 8192 + rng.below(256 * 1024) as usize,
        recv_buffer: 8192 + rng.below(512 * 1024) as usize,
        nodelay: rng.chance(0.3),
        congestion: if rng.chance(0.5) {
            Algorithm::Cubic
        } else {
            Algorithm::Reno
        },
        sack: !rng.chance(0.2),
        timestamps: !rng.chance(0.2),
        window_scale: !rng.chance(0.1),
        ..Config::default()
    };
    let mut cfgs = [cfg(&mut rng), cfg(&mut rng)];
    // BBR for a third of the senders, from a stream of its own (the other seeds' worlds stay).
    let mut bbr = Rng::new(seed ^ 0xbb12_bb12_bb12_bb12);
    for c in cfgs.iter_mut() {
        if bbr.chance(1.0 / 3.0) {
            c.congestion = Algorithm::Bbr;
        }
    }
    if ecn {
        cfgs[0].ecn = super::config::EcnMode::On;
    }
    let delayed_ack = cfgs[0].delayed_ack;
    let now0 = Instant::from_millis(1000);
    let mut conns = [
        Connection::connect(now0, &cfgs[0], rng.next_u32(), rng.next_u32()),
        // Placeholder until the SYN arrives.
        Connection::connect(now0, &cfgs[1], 0, 0),
    ];
    let mut server_born = false;
    conns[0].trace = Some(Box::default());
    let mut apps = [0, 1].map(|_| App {
        total: bytes_each_way / 2 + rng.below(bytes_each_way as u64 / 2 + 1) as usize,
        pattern: pattern(&mut rng),
        written: 0,
        write_done: false,
        write_resume: now0,
        read: 0,
        eof: false,
        read_resume: now0,
        closed: false,
        marks: Vec::new(),
        taken: Vec::new(),
    });
    // In a quarter of the seeds, from a stream of their own (the other seeds' worlds stay as
    // they were), writes now and then end with an urgent byte (RFC 9293 §3.8.5), and readers
    // take urgent bytes out of the stream at their mark.
    let urgent = Rng::new(seed ^ 0x6093_6093_6093_6093).chance(0.25);
    let patterns = [apps[0].pattern.clone(), apps[1].pattern.clone()];
    let totals = [apps[0].total, apps[1].total];
    let mut checkers = [Checker::default(), Checker::default()];
    let mut wire = [WireSender::new(now0), WireSender::new(now0)];
    // The least round trip: both propagation delays (serialization only adds to it).
    let min_rtt = links[0].delay + links[1].delay;
    // Since when each side has had data it has not answered with any ACK-bearing segment.
    let mut unanswered: [Option<Instant>; 2] = [None, None];
    let (mut corrupted, mut timeouts, mut min_rto_ratio) = (0u64, 0u64, f64::INFINITY);
    let mut cwr_seen = 0u64;
    // The end of the sequence space each side has sent (where new data starts).
    let mut ecn_high: [Option<SeqNum>; 2] = [None, None];
    let (mut syn_sent, mut ecn_agreed) = (false, false);
    let dbg = std::env::var("TAPSTACK_SIM_DEBUG").is_ok_and(|v| v == seed.to_string());
    let mut now = now0;
    let mut spins = 0u32;
    let mut buf = vec![0u8; 65_000];
    let fail = |msg: String, now: Instant| -> ! { panic!("seed {seed} at {now:?}: {msg}") };

    loop {
        // Deliver due packets.
        for d in 0..2 {
            while let Some(f) = links[d].pop_due(now) {
                let to = 1 - d;
                let seg = match from_wire(&f.bytes) {
                    Ok(_) if f.corrupted => fail("a corrupted datagram passed".into(), now),
                    Ok(seg) => seg,
                    Err(_) if f.corrupted => {
                        corrupted += 1;
                        continue;
                    }
                    Err(e) => fail(format!("a clean datagram was rejected: {e}"), now),
                };
                if to == 1 && !server_born {
                    if seg.flags.is_syn_only() {
                        conns[1] =
                            Connection::accept(now, &cfgs[1], rng.next_u32(), rng.next_u32(), &seg);
                        conns[1].trace = Some(Box::default());
                        wire[1].on_receive(&seg);
                        server_born = true;
                    }
                    continue;
                }
                // Track the window the receiving side (as a sender) has been offered.
                if seg.flags.contains(TcpFlags::ACK) && !seg.flags.contains(TcpFlags::RST) {
                    cwr_seen += u64::from(seg.flags.contains(TcpFlags::CWR) && seg.seq_len() > 0);
                    let shift = if seg.flags.contains(TcpFlags::SYN) {
                        0
                    } else {
                        conns[d].wscales().1
                    };
                    let wnd = (seg.window as usize) << shift;
                    let edge = seg.ack + wnd;
                    let c = &mut checkers[to];
                    c.peer_edge = Some(c.peer_edge.map_or(edge, |e| e.max(edge)));
                    c.max_peer_wnd = c.max_peer_wnd.max(wnd);
                    if wire[to].on_receive(&seg) {
                        let tsecr = seg.options.timestamps.map(|t| t.1);
                        wire[to].on_ack(now, seg.ack, tsecr);
                    }
                } else {
                    wire[to].on_receive(&seg);
                }
                if seg.seq_len() > 0 && !seg.flags.contains(TcpFlags::RST) {
                    unanswered[to].get_or_insert(now);
                }
                if dbg {
                    eprintln!(
                        "{now:?} to {to}: {:?} seq {:?} ack {:?} len {} una-before {:?} ts {:?}",
                        seg.flags,
                        seg.seq,
                        seg.ack,
                        seg.payload.len(),
                        conns[to].snd_una(),
                        seg.options.timestamps
                    );
                }
                conns[to].input(now, &seg);
                if dbg {
                    eprintln!(
                        "   una-after {:?} state {:?}",
                        conns[to].snd_una(),
                        conns[to].state()
                    );
                }
            }
        }

        // Applications.
        for s in 0..2 {
            if s == 1 && !server_born {
                continue;
            }
            let (app, conn) = (&mut apps[s], &mut conns[s]);
            let st = conn.state();
            let usable = !matches!(st, State::SynSent | State::SynReceived);
            if usable && !app.write_done && now >= app.write_resume {
                loop {
                    let n = (1 + rng.below(40_000) as usize).min(app.total - app.written);
                    if n == 0 {
                        break;
                    }
                    let off = app.written % PATTERN_LEN;
                    match conn.send(&app.pattern[off..off + n.min(PATTERN_LEN)]) {
                        Ok(k) => {
                            app.written += k;
                            // Only with less than 64 KiB unacknowledged: further ahead, the
                            // pointer is capped at 0xFFFF, which names a byte short of the
                            // urgent one (Linux's behaviour too, the field being 16 bits).
                            if urgent && rng.chance(0.02) && conn.send_queue_len() < 0xFFFF {
                                conn.mark_urgent();
                                app.marks.push(app.written - 1);
                            }
                        }
                        Err(Errno::EAGAIN) => break,
                        Err(e) => fail(format!("side {s} send: {e:?} in {st:?}"), now),
                    }
                }
                if app.written == app.total {
                    conn.shutdown_write();
                    app.write_done = true;
                } else if rng.chance(0.05) {
                    app.write_resume = now + Duration::from_micros(rng.below(50_000));
                }
            }
            if usable && !app.eof && now >= app.read_resume {
                loop {
                    let n = 1 + rng.below(buf.len() as u64) as usize;
                    let peer = &patterns[1 - s];
                    if urgent {
                        // The service's way: the urgent byte apart, then the stream up to the
                        // next mark.
                        let at = app.read;
                        let mut byte = None;
                        if conn.urgent_with(now, |b| {
                            byte = Some(b);
                            true
                        }) {
                            if byte != Some(peer[at % PATTERN_LEN]) {
                                fail(
                                    format!("side {s} urgent byte at {at} is not the data's"),
                                    now,
                                );
                            }
                            app.taken.push(at);
                            app.read += 1;
                            continue;
                        }
                    }
                    let r = if urgent {
                        conn.recv_with(now, |x, y| {
                            let a = x.len().min(n);
                            let b = y.len().min(n - a);
                            buf[..a].copy_from_slice(&x[..a]);
                            buf[a..a + b].copy_from_slice(&y[..b]);
                            a + b
                        })
                    } else {
                        conn.recv_at(now, &mut buf[..n])
                    };
                    match r {
                        Ok(0) => {
                            app.eof = true;
                            break;
                        }
                        Ok(k) => {
                            let off = app.read % PATTERN_LEN;
                            if buf[..k] != peer[off..off + k] {
                                fail(format!("side {s} data mismatch at {}", app.read), now);
                            }
                            app.read += k;
                        }
                        Err(Errno::EAGAIN) => break,
                        Err(e) => fail(format!("side {s} recv: {e:?}"), now),
                    }
                }
                if app.eof && app.read != totals[1 - s] {
                    fail(format!("side {s} early EOF at {}", app.read), now);
                }
                if !app.eof && rng.chance(0.01) {
                    app.read_resume = now + Duration::from_micros(rng.below(300_000));
                }
            }
            let app = &mut apps[s];
            if app.eof && app.write_done && !app.closed {
                conns[s].close();
                app.closed = true;
            }
        }

        // Transmit and check.
        for s in 0..2 {
            if s == 1 && !server_born {
                continue;
            }
            let una = conns[s].snd_una();
            let mss = conns[s].eff_mss_for_test();
            let nodelay = conns[s].nodelay();
            let urgent_mode = conns[s].urgent_mode();
            let pkts = collect(&mut conns[s], now);
            let rtt_now = {
                let st = conns[s].stats();
                (st.srtt, st.rttvar)
            };
            let trace = std::mem::take(&mut **conns[s].trace.as_mut().unwrap());
            let ck = &mut checkers[s];
            let rto_fired = trace.iter().any(|t| matches!(t, Trace::Rto { .. }));
            for t in trace {
                match t {
                    Trace::Rto {
                        now: fired,
                        armed_at,
                        rto,
                        retries,
                        linear,
                    } => {
                        if fired < armed_at + rto {
                            fail(
                                format!("side {s} RTO fired early {armed_at:?}+{rto:?}"),
                                now,
                            );
                        }
                        if let Some((r, prev)) = ck.last_rto {
                            // RFC 6298 §5.5 doubles it; Linux keeps a SYN's first few
                            // (tcp_syn_linear_timeouts, after macOS).
                            let want = if linear {
                                prev
                            } else {
                                (prev * 2).min(super::rtt::RTO_MAX)
                            };
                            let resampled = ck.rtt_at_rto.is_some_and(|r| r != rtt_now);
                            if retries == r + 1 && retries > 1 && rto != want && !resampled {
                                fail(format!("side {s} RTO {rto:?} after {prev:?}"), now);
                            }
                        }
                        ck.last_rto = Some((retries, rto));
                        ck.rtt_at_rto = Some(rtt_now);
                    }
                    Trace::Pto {
                        now: fired,
                        armed_at,
                        pto,
                    } => {
                        if fired < armed_at + pto {
                            fail(
                                format!("side {s} PTO fired early {armed_at:?}+{pto:?}"),
                                now,
                            );
                        }
                        ck.probe_allowed = true;
                    }
                    Trace::Send {
                        seq,
                        len,
                        fin,
                        cause,
                    } => {
                        let end = seq + len + fin as usize;
                        let is_old = ck.max_end.is_some_and(|m| seq < m);
                        match cause {
                            // A tail loss probe only right after its timer, once per expiry.
                            SendCause::Probe if !ck.probe_allowed => {
                                fail(format!("side {s} probe {seq:?} without a PTO"), now)
                            }
                            SendCause::Probe => ck.probe_allowed = false,
                            SendCause::New | SendCause::Forced if is_old && len > 0 => fail(
                                format!(
                                    "side {s} {cause:?} segment {seq:?} below {:?}",
                                    ck.max_end
                                ),
                                now,
                            ),
                            SendCause::Timeout | SendCause::Recovery if !is_old => {
                                fail(format!("side {s} {cause:?} of unsent {seq:?}"), now)
                            }
                            _ => {}
                        }
                        // Peer window never exceeded.
                        if len > 0 {
                            match ck.peer_edge {
                                Some(e) if seq + len <= e => {}
                                e => fail(
                                    format!("side {s} sent {seq:?}+{len} beyond window {e:?}"),
                                    now,
                                ),
                            }
                        }
                        // Nagle in Minshall's form (Linux's tcp_nagle_check): no small new
                        // segment while another small one is unacknowledged, urgent data aside
                        // (tcp_nagle_test).
                        let small_unacked = ck.small_end.is_some_and(|e| e > una && e <= seq);
                        if cause == SendCause::New
                            && !nodelay
                            && !urgent_mode
                            && !fin
                            && len < mss
                            && len < ck.max_peer_wnd / 2
                            && seq != una
                            && small_unacked
                        {
                            fail(
                                format!(
                                    "side {s} Nagle violated: {len} bytes at {seq:?}, una {una:?}"
                                ),
                                now,
                            );
                        }
                        if !is_old && len < mss {
                            ck.small_end = Some(end);
                        }
                        ck.max_end = Some(ck.max_end.map_or(end, |m| m.max(end)));
                    }
                }
            }
            ck.probe_allowed = false;
            // The wire checker: the first sequence-bearing segment after a timeout is its
            // retransmission (nothing new is sent before the oldest outstanding byte again).
            let mut timeout_rtx = rto_fired && !conns[s].is_closed();
            for p in pkts {
                if dbg {
                    eprintln!(
                        "{now:?} from {s}: {:?} seq {:?} ack {:?} len {} win {}",
                        p.seg.flags, p.seg.seq, p.seg.ack, p.seg.payload_len, p.seg.window
                    );
                }
                let w = &mut wire[s];
                match w.on_send(now, &p.seg) {
                    Err(e) => fail(
                        format!(
                            "side {s} (wire): {e} (engine una {}, state {:?})",
                            w.off(una),
                            conns[s].state()
                        ),
                        now,
                    ),
                    Ok(resent) if timeout_rtx && p.seg.seq_len() > 0 => {
                        timeout_rtx = false;
                        if !resent {
                            fail(
                                format!("side {s} (wire): a timeout sent only new data"),
                                now,
                            );
                        }
                        match w.on_timeout(now, &p.seg, min_rtt) {
                            Err(e) => fail(format!("side {s} (wire): {e}"), now),
                            Ok((waited, expected)) => {
                                timeouts += 1;
                                let ratio = waited.as_secs_f64() / expected.as_secs_f64();
                                min_rto_ratio = min_rto_ratio.min(ratio);
                                // The engine samples other ACKs than the wire estimator does,
                                // so the two RTOs differ a little; half would be a bug.
                                if ratio < 0.5 {
                                    fail(
                                        format!(
                                            "side {s} (wire): timeout after {waited:?}, \
                                             the wire estimates an RTO of {expected:?}"
                                        ),
                                        now,
                                    );
                                }
                            }
                        }
                    }
                    Ok(_) => {}
                }
                if p.seg.flags.contains(TcpFlags::ACK) && !p.seg.flags.contains(TcpFlags::RST) {
                    unanswered[s] = None;
                    wire[s].on_ack_sent(p.seg.ack);
                }
                // RFC 3168 §6.1 as Linux's tcp_ecn_send: ECT(0) on new data and nothing else,
                // and only when the SYNs agreed: the client asks in its first SYN (not in a
                // retransmission), and the server's SYN-ACK says whether it agreed.
                let f = p.seg.flags;
                if f.contains(TcpFlags::SYN) {
                    let asks = f.contains(TcpFlags::ECE | TcpFlags::CWR);
                    if s == 0 && asks != (ecn && !syn_sent) {
                        fail(format!("side 0: SYN {f:?} (ECN {ecn})"), now);
                    }
                    syn_sent |= s == 0;
                    if s == 1 {
                        ecn_agreed = f.contains(TcpFlags::ECE);
                        if f.contains(TcpFlags::CWR) || (ecn_agreed && !ecn) {
                            fail(format!("side 1: SYN-ACK {f:?} (ECN {ecn})"), now);
                        }
                    }
                }
                let end = p.seg.seq + p.seg.seq_len();
                let new_data = p.seg.payload_len > 0
                    && ecn_high[s].is_none_or(|h| p.seg.seq >= h)
                    && !p.seg.flags.contains(TcpFlags::SYN);
                let want = if ecn_agreed && new_data {
                    Ecn::Ect0
                } else {
                    Ecn::NotEct
                };
                if p.seg.ecn != want {
                    fail(
                        format!(
                            "side {s}: {:?} on {:?}, expected {want:?}",
                            p.seg.ecn, p.seg
                        ),
                        now,
                    );
                }
                if !p.seg.flags.contains(TcpFlags::RST) && p.seg.seq_len() > 0 {
                    ecn_high[s] = Some(ecn_high[s].map_or(end, |h| h.max(end)));
                }
                links[s].send(now, &mut rng, s, p);
            }
            // RFC 9293 §3.8.6.3 / RFC 1122 §4.2.3.2: data is answered within the delayed-ACK
            // limit, as the wire shows it.
            if conns[s].is_closed() {
                unanswered[s] = None;
            }
            if let Some(t) = unanswered[s] {
                if now.saturating_since(t) > delayed_ack + Duration::from_millis(1) {
                    fail(format!("side {s} (wire): data since {t:?} unanswered"), now);
                }
            }
            if let Some(t) = conns[s].ack_owed_since() {
                if now.saturating_since(t) > delayed_ack + Duration::from_millis(1) {
                    fail(format!("side {s} ACK owed since {t:?}"), now);
                }
            }
        }

        for (s, c) in conns.iter_mut().enumerate() {
            if let Some(e) = c.take_error() {
                fail(format!("side {s} error {e:?}"), now);
            }
        }
        if server_born && conns[0].is_closed() && conns[1].is_closed() {
            for s in 0..2 {
                if !apps[s].eof || !apps[s].closed || apps[s].read != apps[1 - s].total {
                    fail(format!("side {s} closed before finishing"), now);
                }
                // Each byte taken as urgent was sent so, and the last one sent so always is
                // (earlier ones a newer pointer overtook stay in line, as Linux's).
                let (taken, marks) = (&apps[s].taken, &apps[1 - s].marks);
                if taken.iter().any(|t| !marks.contains(t))
                    || marks.last().is_some_and(|m| !taken.contains(m))
                {
                    fail(
                        format!("side {s} took {taken:?} as urgent of {marks:?}"),
                        now,
                    );
                }
            }
            break;
        }

        // Advance virtual time.
        let mut next: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        };
        consider(conns[0].poll_at(now));
        if server_born {
            consider(conns[1].poll_at(now));
        }
        consider(links[0].next_at());
        consider(links[1].next_at());
        for a in &apps {
            if a.write_resume > now && !a.write_done {
                consider(Some(a.write_resume));
            }
            if a.read_resume > now && !a.eof {
                consider(Some(a.read_resume));
            }
        }
        match next {
            None => fail(
                format!(
                    "deadlock: states {:?} {:?}, apps w{}/{} r{} w{}/{} r{}",
                    conns[0].state(),
                    conns[1].state(),
                    apps[0].written,
                    apps[0].total,
                    apps[0].read,
                    apps[1].written,
                    apps[1].total,
                    apps[1].read
                ),
                now,
            ),
            Some(t) if t <= now => {
                spins += 1;
                if spins > 1000 {
                    fail(
                        format!(
                            "spinning: states {:?} {:?}",
                            conns[0].state(),
                            conns[1].state()
                        ),
                        now,
                    );
                }
            }
            Some(t) => {
                spins = 0;
                now = t;
            }
        }
        if now.saturating_since(now0) > Duration::from_secs(4 * 3600) {
            fail("took too long".into(), now);
        }
    }
    let st = [conns[0].stats(), conns[1].stats()];
    SimResult {
        virtual_time: now.saturating_since(now0),
        retransmits: st[0].retransmits + st[1].retransmits,
        corrupted,
        min_rto_ratio,
        timeouts,
        bytes: (totals[0] + totals[1]) as u64,
        ce_marked: links[0].ce_marked + links[1].ce_marked,
        cwr_seen,
    }
}

/// At least a thousand seeds, each moving 1 to 2 MiB each way.
#[test]
fn simulation_many_seeds() {
    let seeds: u64 = std::env::var("TAPSTACK_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let bytes = 2 * 1024 * 1024;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let started = std::time::Instant::now();
    let results: Vec<Vec<SimResult>> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                sc.spawn(move || {
                    (t..seeds)
                        .step_by(threads as usize)
                        .map(|seed| run_seed(seed, bytes))
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: Vec<&SimResult> = results.iter().flatten().collect();
    let sum = |f: fn(&SimResult) -> u64| all.iter().map(|r| f(r)).sum::<u64>();
    let ratio = all
        .iter()
        .map(|r| r.min_rto_ratio)
        .fold(f64::INFINITY, f64::min);
    eprintln!(
        "{seeds} seeds in {:?} wall: {:.0} MiB delivered (both ways), {} corrupted datagrams \
         rejected, {} retransmissions, {} timeouts (least wait / wire-estimated RTO {ratio:.2}), \
         {} datagrams marked CE, {} segments with CWR",
        started.elapsed(),
        sum(|r| r.bytes) as f64 / (1 << 20) as f64,
        sum(|r| r.corrupted),
        sum(|r| r.retransmits),
        sum(|r| r.timeouts),
        sum(|r| r.ce_marked),
        sum(|r| r.cwr_seen),
    );
    assert!(sum(|r| r.corrupted) > 0, "the link corrupted nothing");
    assert!(sum(|r| r.ce_marked) > 0, "the links marked nothing CE");
    assert!(sum(|r| r.cwr_seen) > 0, "no sender answered ECE with CWR");
}

/// `TAPSTACK_SIM_SEED=N` runs that one seed of `simulation_many_seeds` (with
/// `TAPSTACK_SIM_DEBUG=N` to print its segments); nothing without it.
#[test]
fn simulation_one_seed() {
    if let Some(seed) = std::env::var("TAPSTACK_SIM_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        run_seed(seed, 2 * 1024 * 1024);
    }
}

#[test]
fn simulation_sample_stats() {
    for seed in 0..5 {
        let r = run_seed(seed, 2 * 1024 * 1024);
        eprintln!(
            "seed {seed}: virtual {:?}, {} retransmissions",
            r.virtual_time, r.retransmits
        );
    }
}
