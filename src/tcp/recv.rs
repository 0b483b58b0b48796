//! The receive half of a TCP connection: the receive sequence space (RCV.NXT, the advertised
//! window, IRS), the receive buffer with its reassembly of out-of-order data, and the policy of
//! when to acknowledge (delayed ACKs, immediate ACKs, rate-limited challenge ACKs), and the
//! receiver's part of ECN (RFC 3168 §6.1.3): echoing congestion marks with ECE until CWR.
//!
//! Part of the sans-IO TCP engine. `Connection` owns the state machine and decides what a
//! segment means; it hands the receive half the sequence-number checks, the payload to store and
//! the window to advertise, and tells it when an ACK went out. The delayed-ACK deadline lives in
//! the connection's timer table, which the methods that arm or clear it are given.

use super::assembler::Assembler;
use super::buffer::RingBuffer;
use super::config::MAX_BUFFER;
use super::seq::SeqNum;
use super::timers::{TimerKind, Timers};
use crate::time::{Duration, Instant};
use crate::wire::ipv4::Ecn;
use crate::wire::tcp::{SackBlocks, TcpFlags};

/// Linux's `TCP_DELACK_MAX`: the longest an ACK is delayed, the handshake's held one included.
pub(crate) const DELACK_MAX: Duration = Duration::from_millis(200);

/// Linux's `TCP_ATO_MIN`: the smallest ACK timeout estimate.
const ATO_MIN: Duration = Duration::from_millis(40);
/// Linux's `TCP_MAX_QUICKACKS`: at most this many ACKs at once in quick-ACK mode.
const MAX_QUICK_ACKS: usize = 16;

/// How many timestamp ticks older than TS.Recent a segment may be and still pass PAWS (Linux's
/// `TCP_PAWS_WINDOW`).
const PAWS_WINDOW: i32 = 1;

/// Linux's `TCP_MSS_DEFAULT`: the segment size assumed of a peer before its segments say more.
const TCP_MSS_DEFAULT: usize = 536;

/// Linux's `TCP_MIN_MSS`: the smallest segment size it estimates.
const TCP_MIN_MSS: usize = 88;

/// RCV.* and what hangs off them (RFC 9293 §3.3.1).
pub(crate) struct Receiver {
    /// IRS: the peer's initial sequence number.
    pub(crate) irs: SeqNum,
    /// RCV.NXT.
    pub(crate) nxt: SeqNum,
    /// Right edge of the window we have advertised (never moves left).
    pub(crate) adv: SeqNum,
    /// Our window scale shift (RFC 7323 §2), zero unless both sides sent the option.
    pub(crate) wscale: u8,
    /// Received bytes: in order up to RCV.NXT, and out of order beyond it where `assembler` says.
    pub(crate) buf: RingBuffer,
    /// The out-of-order ranges held in `buf` past RCV.NXT (what SACK blocks report).
    pub(crate) assembler: Assembler,
    /// Sequence number of a FIN received ahead of RCV.NXT.
    pub(crate) fin_at: Option<SeqNum>,
    /// The peer's FIN has been reached in order.
    pub(crate) fin_received: bool,
    /// `urg_seq` holds an urgent byte (Linux's `urg_data` set).
    urg_set: bool,
    /// Largest payload seen from the peer (for delayed-ACK and window-update thresholds).
    pub(crate) mss_seen: u16,
    /// Linux's estimate of the peer's segment size, `icsk_ack.rcv_mss`, which TCP_INFO reports
    /// as `tcpi_rcv_mss`: set by the handshake ([`Self::init_rcv_mss`]), then learnt from the
    /// segments that arrive ([`Self::measure_rcv_mss`]). Reported only.
    pub(crate) rcv_mss: u16,
    /// tcp_measure_rcv_mss's `last_seg_size`: the size of the last short segment it counted.
    last_seg_size: u16,
    /// The emulated rcv_ssthresh ([`Self::ceiling`]): the window our SYN or SYN-ACK offered,
    /// grown by twice each in-order segment of 128 bytes or more (Linux's tcp_event_data_recv
    /// and tcp_grow_window); 0 before the handshake's.
    rcv_ssthresh: u32,
    /// Payload bytes stored, counted for TCP_INFO.
    pub(crate) bytes_received: u64,
    /// The sequence number of the peer's urgent byte that the reader has not passed yet (Linux's
    /// `urg_seq` while `urg_data` is set): the byte before the urgent pointer (RFC 6093 §2, BSD's
    /// reading). It may not have arrived yet (Linux's TCP_URG_NOTYET). Meaningful while
    /// `urg_set` (not an `Option`: a SYN-queue entry must stay under 1 KiB).
    urg_seq: SeqNum,

    // Timestamps (RFC 7323 §4.3).
    /// TS.Recent: the peer's timestamp to echo.
    pub(crate) ts_recent: u32,
    /// Last.ACK.sent: the RCV.NXT our last ACK carried.
    pub(crate) last_ack_sent: SeqNum,

    // ACK policy.
    /// An ACK is owed now.
    pub(crate) ack_now: bool,
    /// Since when an ACK has been owed for received in-order data, ZERO for none (not an
    /// `Option`, for the SYN-queue entry's size; [`Receiver::ack_owed_since`] reads it).
    ack_owed_at: Instant,
    /// In-order bytes received since the last ACK (RFC 1122 §4.2.3.2: every second segment).
    /// u32: at most the buffer, `MAX_BUFFER` (a SYN-queue entry must stay under 1 KiB).
    pub(crate) unacked_bytes: u32,
    /// Linux's quick-ACK mode (RFC 1122 §4.2.3.2 allows delaying; Linux does not at first): ACKs
    /// still to send at once, one per data segment, at the start of a connection and after a
    /// silence longer than the RTO (`tcp_incr_quickack`), so slow start is not held back.
    /// At most `MAX_QUICK_ACKS`, so a byte (a SYN-queue entry must stay under 1 KiB).
    quick_acks: u8,
    /// Linux's ACK timeout estimate (`icsk_ack.ato`), from the gaps between data segments, in µs;
    /// 0 (as Linux's) until data first arrives. A u32 (at most the RTO's 120 s), for the SYN-queue
    /// entry's size; [`Receiver::ato`] reads it.
    ato_us: u32,
    /// When in-order data last arrived.
    last_data_at: Instant,
    /// Interactive ("ping-pong") mode: our data followed the peer's within the ACK timeout, so
    /// ACKs wait to ride on replies, and quick-ACK mode is off (Linux's pingpong mode, which
    /// TCP_QUICKACK also sets and clears). Left when the delayed-ACK timer fires.
    pub(crate) pingpong: bool,
    /// Data arrived that no ACK has covered yet (Linux's `inet_csk_ack_scheduled`).
    ack_scheduled: bool,
    /// When an answer to an invalid segment (a challenge ACK, or a duplicate ACK for one out of
    /// the window) last went out: Linux's `last_oow_ack_time`, ZERO (as its 0) before the first.
    last_oow_ack: Instant,

    // ECN (RFC 3168 §6.1.3), when negotiated.
    /// A CE mark arrived and no CWR since: every ACK carries ECE (Linux's `TCP_ECN_DEMAND_CWR`).
    pub(crate) ece_pending: bool,
    /// Data marked ECT or CE has arrived (Linux's `TCP_ECN_SEEN`).
    pub(crate) ecn_seen: bool,

    // Receive-buffer autotuning (Linux's `rcvq_space`): what the reader took in the last
    // measured round trip, what it has taken since `space_since`. u32: at most `MAX_BUFFER`.
    space: u32,
    space_copied: u32,
    space_since: Instant,

    // The receiver's own round-trip estimate (Linux's `rcv_rtt_est`), which paces autotuning: a
    // pure receiver has no RTT samples of its own sending. In µs × 8, 0 before the first sample.
    rtt_us8: u32,
    /// The window-based measure under way (Dynamic Right-Sizing): when it began (ZERO: none yet,
    /// as Linux's `rcv_rtt_est.time` 0; not an `Option`, for the SYN-queue entry's size), and
    /// the sequence number whose arrival ends it (RCV.NXT then, plus the window then offered).
    rtt_since: Instant,
    rtt_seq: SeqNum,
    /// The TSecr the last timestamp sample was taken from: one sample per echoed value.
    rtt_last_tsecr: u32,

    /// A duplicate that arrived, to report once as a D-SACK block (RFC 2883) in the next ACK, as
    /// Linux's tcp_dsack_set: where it starts and its length, 0 for none (a u16, for the SYN-queue
    /// entry's size: a longer duplicate is reported in part, which §4 allows).
    dsack_start: SeqNum,
    dsack_len: u16,
}

/// What storing a segment's payload did that the state machine must act on.
pub(crate) struct DataOutcome {
    /// The peer's FIN was reached in order: RCV.NXT has passed it.
    pub(crate) fin_reached: bool,
    /// Data was stored out of order, past a hole.
    pub(crate) out_of_order: bool,
}

impl Receiver {
    /// Before the peer's SYN: nothing received, the buffer not yet allocated. `pingpong`: the
    /// socket's TCP_QUICKACK 0, which a connection starts with (a listener's child too, as
    /// Linux's sk_clone_lock copies `icsk_ack`).
    pub(crate) fn new(now: Instant, buffer: usize, wscale: u8, pingpong: bool) -> Receiver {
        Receiver {
            irs: SeqNum(0),
            nxt: SeqNum(0),
            adv: SeqNum(0),
            wscale,
            buf: RingBuffer::new(buffer),
            assembler: Assembler::new(),
            fin_at: None,
            fin_received: false,
            urg_set: false,
            mss_seen: 0,
            rcv_mss: 0,
            last_seg_size: 0,
            rcv_ssthresh: 0,
            bytes_received: 0,
            urg_seq: SeqNum(0),
            ts_recent: 0,
            last_ack_sent: SeqNum(0),
            ack_now: false,
            ack_owed_at: Instant::ZERO,
            unacked_bytes: 0,
            quick_acks: 0,
            ato_us: 0,
            last_data_at: now,
            pingpong,
            ack_scheduled: false,
            last_oow_ack: Instant::ZERO,
            ece_pending: false,
            ecn_seen: false,
            space: 0,
            space_copied: 0,
            space_since: now,
            rtt_us8: 0,
            rtt_since: Instant::ZERO,
            rtt_seq: SeqNum(0),
            rtt_last_tsecr: 0,
            dsack_start: SeqNum(0),
            dsack_len: 0,
        }
    }

    /// `[start, end)` arrived again: report it as a D-SACK (RFC 2883 §4), joined to one still to
    /// report that it touches (Linux's tcp_dsack_extend), or in its place.
    pub(crate) fn note_duplicate(&mut self, start: SeqNum, end: SeqNum) {
        if end <= start {
            return;
        }
        let (mut start, mut end) = (start, end);
        let pending_end = self.dsack_start + usize::from(self.dsack_len);
        if self.dsack_len > 0 && start <= pending_end && self.dsack_start <= end {
            start = start.min(self.dsack_start);
            end = end.max(pending_end);
        }
        self.dsack_start = start;
        self.dsack_len = end.since(start).min(usize::from(u16::MAX)) as u16;
    }

    /// `[start, end)` of data held out of order was covered again: Linux's tcp_dsack_extend,
    /// which reports it if no D-SACK is pending, joins it to one it touches, and otherwise leaves
    /// the pending one be (unlike [`Self::note_duplicate`], which replaces it).
    fn extend_duplicate(&mut self, start: SeqNum, end: SeqNum) {
        let pending_end = self.dsack_start + usize::from(self.dsack_len);
        if self.dsack_len == 0 || (start <= pending_end && self.dsack_start <= end) {
            self.note_duplicate(start, end);
        }
    }

    /// Whether data (not only the peer's FIN) is held out of order.
    pub(crate) fn holds_out_of_order_data(&self) -> bool {
        self.assembler.ranges().any(|(l, r)| {
            let fin = self.fin_at.is_some_and(|f| l <= f && f < r);
            r.since(l) > usize::from(fin)
        })
    }

    /// Since when an ACK has been owed, if one is (the simulation's ACK-delay check).
    #[cfg(test)]
    pub(crate) fn ack_owed_since(&self) -> Option<Instant> {
        (self.ack_owed_at != Instant::ZERO).then_some(self.ack_owed_at)
    }

    pub(crate) fn clear_ack_owed(&mut self) {
        self.ack_owed_at = Instant::ZERO;
    }

    /// Whether an ACK has SACK information to carry: out-of-order data held, or a D-SACK.
    pub(crate) fn has_sack_info(&self) -> bool {
        !self.assembler.is_empty() || self.dsack_len > 0
    }

    /// The reader took `n` bytes at `now`. Linux's tcp_rcv_space_adjust as of 6.16: once the
    /// receiver's round trip has passed since the last measurement, what the reader took in it,
    /// less what still waits in the buffer, becomes the space the flow needs; when that grew, the
    /// buffer grows to twice it (room for a sender in slow start to double its rate), up to `max`.
    /// Before the first round-trip sample nothing grows.
    pub(crate) fn adjust_space(&mut self, n: usize, now: Instant, max: usize, fallback_mss: usize) {
        self.space_copied = self.space_copied.saturating_add(n as u32);
        let rtt = Duration::from_micros(u64::from(self.rtt_us8 >> 3));
        if self.rtt_us8 == 0 || now.saturating_since(self.space_since) < rtt {
            return;
        }
        let space = self.space(fallback_mss);
        let copied = (self.space_copied as usize).saturating_sub(self.buf.len());
        if copied > space {
            self.space = copied as u32;
            self.grow_buffer(max, fallback_mss);
        }
        self.space_copied = 0;
        self.space_since = now;
    }

    /// Linux's tcp_rcvbuf_grow: room for twice the space the flow needs, plus what out-of-order
    /// data already spans past RCV.NXT (so a hole being repaired does not close the window).
    pub(crate) fn grow_buffer(&mut self, max: usize, fallback_mss: usize) {
        let ooo = self
            .assembler
            .ranges()
            .last()
            .map_or(0, |(_, end)| end.since(self.nxt));
        let want = (2 * self.space(fallback_mss) + ooo)
            .min(max)
            .min(MAX_BUFFER)
            .min(65535 << self.wscale);
        self.buf.raise_capacity(want);
    }

    /// The receiver's round-trip estimate (TCP_INFO's `tcpi_rcv_rtt`), if it has one.
    pub(crate) fn rtt(&self) -> Option<Duration> {
        (self.rtt_us8 != 0).then(|| Duration::from_micros(u64::from(self.rtt_us8 >> 3)))
    }

    /// The space the last autotuning measure found the flow to need (`tcpi_rcv_space`); before
    /// the first, ten segments (Linux's tcp_init_buffer_space: TCP_INIT_CWND × advmss).
    pub(crate) fn space(&self, fallback_mss: usize) -> usize {
        (self.space as usize).max(10 * self.mss(fallback_mss).max(1))
    }

    /// Linux's tcp_rcv_rtt_update (6.16): a smaller sample is taken at once; a larger one only
    /// from timestamps (`window_based` false) and while nothing waits to be read, smoothed by 1/8.
    /// A window-based sample measures how long a window took to arrive, which an idle sender
    /// stretches: it can only lower the estimate.
    fn rtt_update(&mut self, sample_us: u32, window_based: bool) {
        // Bounded so that neither × 8 nor the smoothing below can overflow (a peer's stale or
        // made-up TSecr can claim a sample of days).
        let sample_us = sample_us.min(u32::MAX >> 4);
        let old = self.rtt_us8;
        let m = sample_us * 8;
        if old == 0 || m < old {
            self.rtt_us8 = m;
        } else if !window_based && self.buf.is_empty() {
            self.rtt_us8 = old - (old >> 3) + sample_us;
        }
    }

    /// Linux's tcp_rcv_rtt_measure, at in-order data: the time one advertised window took to
    /// arrive is a sample of the round trip (a sender limited by our window sends one a round
    /// trip). Then a new measure starts.
    fn rtt_measure_window(&mut self, now: Instant) {
        if self.rtt_since != Instant::ZERO {
            if self.nxt < self.rtt_seq {
                return;
            }
            let us = now
                .saturating_since(self.rtt_since)
                .as_micros()
                .clamp(1, u128::from(u32::MAX >> 3));
            self.rtt_update(us as u32, true);
        }
        // Linux's rcv_nxt + rcv_wnd: the window last offered, from RCV.NXT now.
        self.rtt_seq = self.nxt + self.adv.since(self.last_ack_sent);
        self.rtt_since = now;
    }

    /// Linux's tcp_rcv_rtt_measure_ts: a segment of at least a full MSS (`len`) echoing a TSecr
    /// not sampled before gives `ts_now - tsecr` ticks of 1 ms. Zero ticks are no sample (Linux
    /// 6.16): at millisecond granularity a sub-millisecond path would read as 1 ms and hold the
    /// window back; the window-based measure serves there.
    pub(crate) fn rtt_measure_timestamp(
        &mut self,
        tsecr: u32,
        ts_now: u32,
        len: usize,
        mss: usize,
    ) {
        if tsecr == self.rtt_last_tsecr {
            return;
        }
        self.rtt_last_tsecr = tsecr;
        if len < mss {
            return;
        }
        let ticks = ts_now.wrapping_sub(tsecr) as i32;
        // Linux: tcp_rtt_tsopt_us refuses a delta that would overflow as µs.
        if ticks > 0 && ticks < i32::MAX / 1000 {
            self.rtt_update(ticks as u32 * 1000, false);
        }
    }

    /// The peer's SYN at `seq` fixes IRS; RCV.NXT is just past it (RFC 9293 §3.10.7.2/3).
    pub(crate) fn on_syn(&mut self, seq: SeqNum) {
        self.irs = seq;
        self.nxt = seq + 1;
        self.adv = self.nxt;
        self.last_ack_sent = self.nxt;
    }

    /// The window the peer may still fill: from RCV.NXT to the advertised edge.
    pub(crate) fn window(&self) -> usize {
        self.adv.since(self.nxt)
    }

    /// The sequence number of the next byte the reader takes (Linux's `copied_seq`).
    pub(crate) fn read_seq(&self) -> SeqNum {
        self.nxt - (self.fin_received as usize) - self.buf.len()
    }

    /// A segment at `seq` with URG and urgent pointer `ptr` (Linux's tcp_check_urg). The urgent
    /// byte is the one before the pointer (RFC 6093 §2: what BSD and Linux do, whatever RFC 1122
    /// §4.2.2.4 said). A pointer the reader has passed, or to data already in order (Linux cannot
    /// fetch it either), or no newer than the one held, is ignored; a newer one replaces the
    /// one held, whose byte then stays in line (RFC 9293 §3.8.5: one urgent point per stream).
    /// Whether it was taken.
    pub(crate) fn on_urgent(&mut self, seq: SeqNum, ptr: u16) -> bool {
        let at = seq + usize::from(ptr.saturating_sub(1));
        if at < self.read_seq() || at < self.nxt || self.urg().is_some_and(|u| at <= u) {
            return false;
        }
        self.urg_seq = at;
        self.urg_set = true;
        true
    }

    /// The urgent byte's sequence number, while one is pending.
    pub(crate) fn urg(&self) -> Option<SeqNum> {
        self.urg_set.then_some(self.urg_seq)
    }

    /// Where the urgent byte is among the bytes to read, once it has arrived in order.
    pub(crate) fn urgent_offset(&self) -> Option<usize> {
        let u = self.urg()?;
        let head = self.read_seq();
        (u >= head && u < self.nxt - (self.fin_received as usize)).then(|| u.since(head))
    }

    /// The reader moved on: an urgent byte it passed is no longer pending (Linux clears
    /// `urg_data` once `copied_seq` is past `urg_seq`).
    pub(crate) fn after_read(&mut self) {
        if self.urg().is_some_and(|u| u < self.read_seq()) {
            self.urg_set = false;
        }
    }

    /// Free receive space we could offer (window), bounded by what the scale can express.
    pub(crate) fn window_room(&self) -> usize {
        self.buf.room().min(65535usize << self.wscale)
    }

    /// Linux's tcp_initialize_rcv_mss, at the handshake: the peer's segments are first taken to
    /// be no larger than our `advmss`, the segments we send (`mss_cache`), half the window
    /// offered, nor TCP_MSS_DEFAULT (536), and no smaller than TCP_MIN_MSS (88).
    pub(crate) fn init_rcv_mss(&mut self, advmss: usize, mss_cache: usize) {
        let hint = advmss
            .min(mss_cache)
            .min(self.ceiling() / 2)
            .clamp(TCP_MIN_MSS, TCP_MSS_DEFAULT);
        self.rcv_mss = hint as u16;
        self.last_seg_size = 0;
    }

    /// Linux's tcp_measure_rcv_mss, for a segment of `len` payload bytes taken in order behind a
    /// TCP header of `header_len` bytes (options included): one at least as large as the
    /// estimate raises it, to at most `advmss`; a smaller one lowers it only if it looks full
    /// sized (556 bytes with its header, or 108 without FIN, URG, SYN or PSH: `remnant` says one
    /// of these is set) and the one before it had the same size, less `fixed_header_len` (the
    /// header with the timestamp option if negotiated, not the varying SACK blocks).
    pub(crate) fn measure_rcv_mss(
        &mut self,
        len: usize,
        header_len: usize,
        fixed_header_len: usize,
        remnant: bool,
        advmss: usize,
    ) {
        let lss = std::mem::take(&mut self.last_seg_size);
        if len >= usize::from(self.rcv_mss) {
            self.rcv_mss = len.min(advmss).min(usize::from(u16::MAX)) as u16;
            return;
        }
        let whole = len + header_len;
        if whole >= TCP_MSS_DEFAULT + 20 || (whole >= TCP_MIN_MSS + 20 && !remnant) {
            let size = whole.saturating_sub(fixed_header_len) as u16;
            self.last_seg_size = size;
            if size == lss {
                self.rcv_mss = size;
            }
        }
    }

    /// The peer's segment size as seen so far, or `fallback` before any data arrived.
    pub(crate) fn mss(&self, fallback: usize) -> usize {
        if self.mss_seen > 0 {
            usize::from(self.mss_seen)
        } else {
            fallback
        }
    }

    /// The SACK blocks to report (RFC 2018 §4), as many as fit beside the other options.
    /// The D-SACK block comes first (RFC 2883 §4), then the out-of-order ranges.
    pub(crate) fn sack_blocks(&self, ts_enabled: bool) -> SackBlocks {
        let max = if ts_enabled { 3 } else { 4 };
        if self.dsack_len == 0 {
            return self.assembler.sack_blocks(max);
        }
        let mut out = SackBlocks::default();
        let end = self.dsack_start + usize::from(self.dsack_len);
        out.push(self.dsack_start.0, end.0);
        for &(l, r) in self.assembler.sack_blocks(max - 1).iter() {
            out.push(l, r);
        }
        out
    }

    /// PAWS (RFC 7323 §5.3 R1): the segment's timestamp is older than TS.Recent, so it is an old
    /// duplicate. One tick of tolerance, as Linux's `TCP_PAWS_WINDOW`: a segment reordered past
    /// one sent a tick later is not.
    pub(crate) fn paws_rejects(&self, ts_enabled: bool, timestamps: Option<(u32, u32)>) -> bool {
        ts_enabled
            && timestamps
                .is_some_and(|(tsval, _)| (self.ts_recent.wrapping_sub(tsval) as i32) > PAWS_WINDOW)
    }

    /// RFC 7323 §4.3: TS.Recent follows the segments that cover Last.ACK.sent.
    pub(crate) fn update_ts_recent(&mut self, seq: SeqNum, timestamps: Option<(u32, u32)>) {
        if let Some((tsval, _)) = timestamps {
            if seq <= self.last_ack_sent && (tsval.wrapping_sub(self.ts_recent) as i32) >= 0 {
                self.ts_recent = tsval;
            }
        }
    }

    /// RFC 9293 §3.10.7.4 first check: does a segment of `seg_len` (payload, SYN and FIN) at
    /// `seq` overlap the receive window? An empty segment may sit at the right edge itself, as
    /// Linux's tcp_sequence allows: it is the pure ACK of a peer that has filled the window, and
    /// dropping it would throw its acknowledgment away.
    pub(crate) fn acceptable(&self, seq: SeqNum, seg_len: usize) -> bool {
        let wnd = self.window();
        match (seg_len, wnd) {
            (0, 0) => seq == self.nxt,
            (0, _) => seq.in_range(self.nxt, self.nxt + wnd + 1),
            (_, 0) => seq == self.nxt, // only its ACK/RST are used (RFC 9293 §3.10.7.4)
            (_, _) => seq < self.nxt + wnd && seq + seg_len > self.nxt,
        }
    }

    /// Cuts an acceptable segment to the receive window: what lies before RCV.NXT, and what lies
    /// past the window's right edge (with a FIN there). Either cut owes the peer an ACK at once.
    pub(crate) fn trim_to_window<'a>(
        &mut self,
        mut seq: SeqNum,
        mut payload: &'a [u8],
        mut flags: TcpFlags,
    ) -> (SeqNum, &'a [u8], TcpFlags) {
        let wnd_end = self.nxt + self.window();
        if seq < self.nxt {
            let cut = self.nxt.since(seq).min(payload.len());
            // Linux's tcp_data_queue: the part already received is reported as a D-SACK.
            self.note_duplicate(seq, seq + cut);
            payload = &payload[cut..];
            seq = self.nxt;
            if !payload.is_empty() || flags.contains(TcpFlags::FIN) {
                // Partly duplicate: acknowledge at once.
                self.ack_now = true;
            }
        }
        if seq + payload.len() > wnd_end {
            let keep = wnd_end.since(seq);
            payload = &payload[..keep.min(payload.len())];
            flags.remove(TcpFlags::FIN);
            self.ack_now = true;
        }
        (seq, payload, flags)
    }

    /// Linux's `tcp_oow_rate_limited`: a segment without data that is out of the window, fails
    /// PAWS or calls for a challenge is answered at most once per `interval` on a connection
    /// (tcp_invalid_ratelimit), so a blind attacker cannot make it flood the network; one that
    /// takes sequence space (data or a FIN) always is. Whether to answer now.
    pub(crate) fn may_answer_invalid(
        &mut self,
        now: Instant,
        has_data: bool,
        interval: Duration,
    ) -> bool {
        if has_data {
            return true;
        }
        if self.last_oow_ack != Instant::ZERO && now.saturating_since(self.last_oow_ack) < interval
        {
            return false;
        }
        self.last_oow_ack = now;
        true
    }

    /// RFC 5961 §7: a challenge ACK, rate-limited as Linux's tcp_send_challenge_ack: once per
    /// `interval` on the connection, then within the host-wide budget.
    pub(crate) fn challenge_ack(
        &mut self,
        now: Instant,
        interval: Duration,
        budget: &super::config::ChallengeBudget,
    ) {
        if self.may_answer_invalid(now, false, interval) && budget.take(now) {
            self.ack_now = true;
        }
    }

    /// Stores an in-window payload at `seq` (trimmed to the window), with the peer's FIN after it
    /// if `fin`, and decides when to acknowledge. `max_mss` caps the segment size remembered
    /// (our MSS), `fallback_mss` stands for it before any data came. `fin_waits`: the FIN, once
    /// reached, takes the connection to CLOSE-WAIT, where its ACK may wait for our reply.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_data(
        &mut self,
        now: Instant,
        seq: SeqNum,
        payload: &[u8],
        fin: bool,
        fin_waits: bool,
        max_mss: u16,
        fallback_mss: usize,
        delayed_ack: Duration,
        rto: Duration,
        timers: &mut Timers,
    ) -> DataOutcome {
        // At most our MSS, which is a u16.
        self.mss_seen = usize::from(self.mss_seen)
            .max(payload.len())
            .min(usize::from(max_mss)) as u16;
        let off = seq.since(self.nxt);
        let mut out_of_order = false;
        let n = self.buf.write_at(off, payload);
        let complete = n == payload.len();
        if !complete && off + payload.len() <= self.buf.free() {
            // Dropped for want of memory, not of window (crate::memory): say at once what we
            // hold, as Linux acknowledges a segment it had no memory for (ICSK_ACK_NOMEM).
            self.ack_now = true;
        }
        if fin && complete {
            self.fin_at = Some(seq + payload.len());
        }
        self.bytes_received += n as u64;
        if n > 0 {
            self.ack_scheduled = true;
        }
        if off == 0 {
            if n > 0 {
                self.buf.commit(n);
                self.nxt += n;
                self.grow_ceiling(n, payload.len(), self.mss(fallback_mss));
                self.data_arrived(now, rto, fallback_mss);
                self.rtt_measure_window(now);
            }
            let had_holes = !self.assembler.is_empty();
            // Linux's tcp_ofo_queue: what this segment covered of the data held out of order
            // (below `high`, its `dsack_high`) arrived twice, and is reported as a D-SACK
            // (RFC 2883 §4) up to where the held data or the segment ends (the 6.16 fix).
            let high = self.nxt;
            while let Some((start, end)) = self.assembler.pop_contiguous(self.nxt) {
                if start < high {
                    self.extend_duplicate(start, end.min(high));
                }
                // The peer's FIN, held in the range as its last byte, is no data.
                let end = match self.fin_at {
                    Some(f) if start <= f && f < end => f,
                    _ => end,
                };
                if end <= self.nxt {
                    continue;
                }
                let more = end.since(self.nxt);
                self.buf.commit(more);
                self.nxt = end;
                // Counted as it joins the stream rather than as it arrived out of order (Linux's
                // moment), so that duplicate ACKs keep their window.
                self.grow_ceiling(more, more, 0);
            }
            // The FIN is reached with this segment and enters interactive mode (below): as in
            // Linux, whose ACK check comes after tcp_fin, quick-ACK mode no longer holds.
            let closing = fin_waits && self.fin_at == Some(self.nxt);
            if had_holes {
                // Filled (part of) a hole: ACK at once (RFC 5681 §4.2).
                self.ack_now = true;
            } else if n > 0 {
                // Delayed ACK (RFC 1122 §4.2.3.2): at once in quick-ACK mode; otherwise once more
                // than a full segment is owed (Linux's reading of "every second segment"), or at
                // the timeout.
                self.unacked_bytes = self.unacked_bytes.saturating_add(n as u32);
                if self.ack_owed_at == Instant::ZERO {
                    self.ack_owed_at = now;
                }
                if (self.in_quick_ack_mode() && !closing)
                    || self.unacked_bytes as usize > self.mss(fallback_mss)
                {
                    self.ack_now = true;
                } else if !timers.is_armed(TimerKind::DelayedAck) {
                    timers.set(TimerKind::DelayedAck, now + delayed_ack);
                }
            }
        } else {
            // The sequence space held out of order: the bytes stored, and a FIN after them, which
            // Linux's tcp_data_queue_ofo queues too (a bare FIN as a zero-length skb), its
            // end_seq counting it, so that SACK blocks cover it.
            let end = seq + n + usize::from(fin && complete);
            if end > seq {
                if self.assembler.ranges().any(|(l, r)| l <= seq && end <= r) {
                    // Held already: Linux's tcp_data_queue_ofo reports it as a D-SACK.
                    self.note_duplicate(seq, end);
                }
                if !self.assembler.add(seq, end) && fin && complete {
                    self.fin_at = None;
                }
            }
            out_of_order = end > seq;
            // Out of order: immediate duplicate ACK with SACK (RFC 5681 §4.2).
            self.ack_now = true;
        }
        let fin_reached = self.fin_at == Some(self.nxt);
        if fin_reached {
            self.fin_at = None;
            self.nxt += 1;
            self.fin_received = true;
            if fin_waits {
                // Linux's tcp_fin in ESTABLISHED: interactive mode, and the ACK is delayed, so
                // that the FIN our close sends carries it (one segment, not two, when a
                // program closes as soon as it reads the end).
                self.pingpong = true;
                self.ack_scheduled = true;
                if self.ack_owed_at == Instant::ZERO {
                    self.ack_owed_at = now;
                }
                if !self.ack_now && !timers.is_armed(TimerKind::DelayedAck) {
                    timers.set(TimerKind::DelayedAck, now + delayed_ack);
                }
            } else {
                self.ack_now = true;
            }
            self.assembler.clear();
            // Linux's tcp_fin ends in tcp_sack_reset, which forgets a D-SACK not yet sent too.
            self.dsack_len = 0;
        }
        DataOutcome {
            fin_reached,
            out_of_order,
        }
    }

    /// How far the window may open: Linux's `rcv_ssthresh`, which caps what __tcp_select_window
    /// offers, starts at the handshake's window (at most 64 KiB, whole segments) and grows by
    /// about two segments for each in-order segment of 128 bytes or more (`tcp_grow_window`).
    /// So a new connection offers 64 KiB after small segments, as Linux, not its whole buffer,
    /// and a reader taking a small request sends no update (which would carry an ACK Linux
    /// delays); out-of-order data leaves it be until it joins the stream, so that duplicate ACKs
    /// keep their window (RFC 5681 §2: one that changes the window is no duplicate, and fast
    /// retransmit would not come).
    fn ceiling(&self) -> usize {
        match self.rcv_ssthresh {
            0 => self.buf.capacity().min(65535),
            w => w as usize,
        }
    }

    /// `n` bytes arrived in order, in a segment of `len`, from a peer whose segments are `mss`:
    /// Linux grows rcv_ssthresh for a segment of 128 bytes or more (tcp_event_data_recv) by
    /// twice the larger of it and the peer's segment size (tcp_grow_window), so small requests
    /// leave the window where the handshake put it.
    fn grow_ceiling(&mut self, n: usize, len: usize, mss: usize) {
        if len >= 128 {
            let by = u32::try_from(n.max(mss).saturating_mul(2)).unwrap_or(u32::MAX);
            self.rcv_ssthresh = (self.ceiling() as u32).saturating_add(by);
        }
    }

    /// The window a SYN or SYN-ACK offers: the buffer up to 64 KiB, rounded down to whole
    /// segments as Linux's tcp_select_initial_window does (64 240 for an MSS of 1 460, 65 160
    /// for 1 448), never scaled (RFC 7323 §2.2).
    fn handshake_window(capacity: usize, mss: usize) -> usize {
        let w = capacity.min(65535);
        if w > mss {
            w - w % mss.max(1)
        } else {
            w
        }
    }

    /// The window __tcp_select_window offers: the room in whole units of the window scale (so
    /// the edge never passes the end of the buffer: a window rounded up would invite bytes
    /// there is no room for), capped by rcv_ssthresh ([`Self::ceiling`]) rounded up to a unit
    /// (Linux's ALIGN, lest the cap be scaled away), which the room's rounding still bounds.
    fn offered_room(&self) -> usize {
        let unit = 1usize << self.wscale;
        let room = self.window_room() & !(unit - 1);
        let cap = self.ceiling().saturating_add(unit - 1) & !(unit - 1);
        room.min(cap)
    }

    /// How far the right edge must move to be worth offering (receiver SWS avoidance, RFC 1122
    /// §4.2.3.3): a segment, but no more than half what the buffer can hold now; at least a byte.
    fn sws_threshold(&self, fallback_mss: usize) -> usize {
        self.mss(fallback_mss).min(self.buf.holds() / 2).max(1)
    }

    /// The reader freed buffer space: is the window it opens worth an update now? Linux's rule
    /// (`__tcp_cleanup_rbuf`): when the window on offer has fallen to half the buffer or less and
    /// the one we could offer is at least twice it, and at least a segment (RFC 1122 §4.2.3.3).
    /// Otherwise the new edge rides on the next ACK.
    pub(crate) fn window_update_due(&self, fallback_mss: usize) -> bool {
        let offered = self.window();
        // Linux's __tcp_cleanup_rbuf weighs the window __tcp_select_window would offer, which
        // rcv_ssthresh caps.
        let could = self.offered_room();
        let segment = self.sws_threshold(fallback_mss);
        2 * offered <= self.buf.capacity() && could >= (2 * offered).max(segment).max(1)
    }

    /// The window field of a segment sent now, moving the advertised edge when that is useful.
    /// `in_handshake`: the segment is a SYN or SYN-ACK.
    pub(crate) fn advertise_window(&mut self, in_handshake: bool, fallback_mss: usize) -> u16 {
        if in_handshake {
            let w = Self::handshake_window(self.buf.capacity(), fallback_mss);
            self.rcv_ssthresh = w as u32;
            self.adv = self.adv.max(self.nxt + w);
            return w as u16;
        }
        self.buf.recover();
        // A new connection offers 64 KiB after a small first segment, as Linux, not its whole
        // buffer.
        let room = self.offered_room();
        let cand = self.nxt + room;
        // Receiver SWS avoidance (RFC 1122 §4.2.3.3): only move the right edge by a useful amount,
        // counted from the edge the peer sees: the field holds whole units of the scale, so what
        // is left of the window under a unit shows as nothing. Counted from `adv`, a buffer that
        // cannot grow (2 KiB, two units at scale 10) left with 589 to 1 023 bytes on offer never
        // moved its edge by a segment, and offered 0 for good, in updates and probe answers alike.
        // Nor is the useful amount more than half what the buffer can hold now.
        let unit = 1usize << self.wscale;
        let seen = self.nxt + (self.window() & !(unit - 1));
        let threshold = self.sws_threshold(fallback_mss);
        if cand > self.adv && cand.since(seen) >= threshold {
            self.adv = cand;
        }
        // Rounded down: once RCV.NXT has moved by less than a unit, the edge the peer sees may
        // sit a few bytes left of one offered before, which RFC 7323 §2.4 calls unavoidable; the
        // earlier edge (`adv`) is still honoured.
        let win = self.window();
        (win >> self.wscale).min(65535) as u16
    }

    /// In-order data arrived: Linux's `tcp_event_data_recv`, which keeps the ACK timeout estimate
    /// and enters quick-ACK mode at the first data and after a silence longer than the RTO.
    fn data_arrived(&mut self, now: Instant, rto: Duration, fallback_mss: usize) {
        let gap = now.saturating_since(self.last_data_at);
        self.last_data_at = now;
        match self.ato() {
            None => {
                self.incr_quick_acks(fallback_mss, MAX_QUICK_ACKS);
                self.set_ato(ATO_MIN);
            }
            Some(ato) if gap <= ATO_MIN / 2 => self.set_ato(ato / 2 + ATO_MIN / 2),
            Some(ato) if gap < ato => self.set_ato((ato / 2 + gap).min(rto)),
            Some(_) if gap > rto => self.incr_quick_acks(fallback_mss, MAX_QUICK_ACKS),
            Some(_) => {}
        }
    }

    /// The ACK timeout estimate, once data has arrived.
    fn ato(&self) -> Option<Duration> {
        (self.ato_us != 0).then(|| Duration::from_micros(u64::from(self.ato_us)))
    }

    fn set_ato(&mut self, ato: Duration) {
        self.ato_us = ato.as_micros().clamp(1, u128::from(u32::MAX)) as u32;
    }

    /// Linux's `tcp_incr_quickack`: as many immediate ACKs as half the window holds segments,
    /// at least two, at most `max`.
    fn incr_quick_acks(&mut self, fallback_mss: usize, max: usize) {
        let n = (self.window().max(self.window_room()) / (2 * self.mss(fallback_mss).max(1)))
            .clamp(2, max.max(2));
        // `max` is at most MAX_QUICK_ACKS (16).
        self.quick_acks = self.quick_acks.max(n.min(usize::from(u8::MAX)) as u8);
    }

    /// Linux's `tcp_enter_quickack_mode`: up to `max` immediate ACKs from now, out of
    /// interactive mode, the ACK timeout estimate back to its least (before the first data it
    /// stays unset, so that data still starts quick-ACK mode in full).
    fn enter_quick_ack_mode(&mut self, fallback_mss: usize, max: usize) {
        self.incr_quick_acks(fallback_mss, max);
        self.pingpong = false;
        if self.ato().is_some() {
            self.set_ato(ATO_MIN);
        }
    }

    /// ECN for an acceptable segment that occupies sequence space, before its data is stored, on
    /// a connection that negotiated ECN: `ecn` is its IP header's field, `cwr` its CWR flag,
    /// `data` whether it brings new payload. Linux's `tcp_ecn_accept_cwr` and `tcp_ecn_check_ce`.
    pub(crate) fn on_ecn(&mut self, ecn: Ecn, cwr: bool, data: bool, fallback_mss: usize) {
        if cwr {
            // RFC 3168 §6.1.3: the sender has reduced its window; stop echoing. Its window may
            // now be small, so acknowledge at once (Linux, since 5.3).
            self.ece_pending = false;
            self.ack_now = true;
        }
        if !data {
            return;
        }
        match ecn {
            Ecn::Ce => {
                // Congestion on the path: ECE on every ACK until CWR (RFC 3168 §6.1.3). The
                // sender's window may be very small, so ACKs do not wait (Linux enters quick-ACK
                // mode for two ACKs when the echo starts).
                if !self.ece_pending {
                    self.enter_quick_ack_mode(fallback_mss, 2);
                    self.ece_pending = true;
                }
                self.ecn_seen = true;
            }
            // Linux: an unmarked segment after marked ones is probably a retransmission (those
            // are Not-ECT), so a loss: acknowledge quickly.
            Ecn::NotEct if self.ecn_seen => self.enter_quick_ack_mode(fallback_mss, 2),
            Ecn::NotEct => {}
            Ecn::Ect0 | Ecn::Ect1 => self.ecn_seen = true,
        }
    }

    fn in_quick_ack_mode(&self) -> bool {
        self.quick_acks > 0 && !self.pingpong
    }

    /// We sent data: a reply within the ACK timeout of the peer's data makes the connection
    /// interactive (Linux's `tcp_event_data_sent`).
    pub(crate) fn on_data_sent(&mut self, now: Instant) {
        if self
            .ato()
            .is_some_and(|ato| now.saturating_since(self.last_data_at) < ato)
        {
            self.pingpong = true;
        }
    }

    /// The delayed-ACK timer fired with an ACK owed: the peer waited for it, so stop waiting for
    /// replies to carry ACKs (Linux's `tcp_delack_timer_handler`).
    pub(crate) fn on_delayed_ack_timeout(&mut self, rto: Duration) {
        if !self.ack_scheduled {
            return;
        }
        if self.pingpong {
            self.pingpong = false;
            self.set_ato(ATO_MIN);
        } else if let Some(a) = self.ato() {
            self.set_ato((a * 2).min(rto));
        }
    }

    /// The ACK of a SYN-ACK is held for data to carry it (Linux's tcp_rcv_synsent_state_process
    /// for a socket in interactive mode or with TCP_DEFER_ACCEPT: `inet_csk_schedule_ack`, then
    /// `tcp_enter_quickack_mode` with `TCP_MAX_QUICKACKS`, the timer at `TCP_DELACK_MAX`).
    pub(crate) fn hold_handshake_ack(
        &mut self,
        now: Instant,
        fallback_mss: usize,
        timers: &mut Timers,
    ) {
        self.ack_scheduled = true;
        self.ack_owed_at = now;
        self.enter_quick_ack_mode(fallback_mss, MAX_QUICK_ACKS);
        timers.set(TimerKind::DelayedAck, now + DELACK_MAX);
    }

    /// TCP_QUICKACK: on leaves interactive mode and sends an owed ACK at once; off enters it.
    pub(crate) fn set_quick_ack(&mut self, on: bool) {
        self.pingpong = !on;
        if on && self.ack_scheduled {
            self.ack_now = true;
        }
    }

    /// A segment carrying an ACK of RCV.NXT went out: nothing is owed any more.
    pub(crate) fn on_ack_sent(&mut self, timers: &mut Timers) {
        if std::mem::take(&mut self.ack_scheduled) && self.quick_acks > 0 {
            self.quick_acks -= 1;
            if self.quick_acks == 0 && self.ato().is_some() {
                self.set_ato(ATO_MIN);
            }
        }
        self.last_ack_sent = self.nxt;
        self.ack_now = false;
        self.dsack_len = 0; // reported once
        timers.stop(TimerKind::DelayedAck);
        self.ack_owed_at = Instant::ZERO;
        self.unacked_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// A peer's made-up TSecr claims samples of weeks: the estimate saturates, it does not
    /// overflow (a debug build panicked in the smoothing).
    #[test]
    fn huge_timestamp_samples_do_not_overflow_the_estimate() {
        let mut r = Receiver::new(t(0), 1000, 0, false);
        // Ticks of 1 ms just under what tcp_rtt_tsopt_us takes (INT_MAX / 1000).
        r.rtt_measure_timestamp(1, 2_000_000, 1448, 1448);
        r.rtt_measure_timestamp(2, 2_100_000, 1448, 1448);
        r.rtt_measure_timestamp(3, 2_140_000, 1448, 1448);
        assert!(r.rtt().is_some_and(|d| d.as_secs() > 100));
    }

    /// Past the peer's SYN at 999, with a 1000-byte buffer and window offered.
    const RTO: Duration = Duration::from_secs(1);

    fn receiver() -> Receiver {
        let mut r = Receiver::new(t(0), 1000, 0, false);
        r.on_syn(SeqNum(999));
        r.buf.allocate();
        r.advertise_window(false, 100);
        r
    }

    #[test]
    fn acceptability_follows_rfc9293_table() {
        let mut r = receiver();
        assert_eq!(r.window(), 1000);
        assert!(r.acceptable(SeqNum(1000), 0));
        assert!(r.acceptable(SeqNum(990), 20), "overlaps RCV.NXT");
        assert!(!r.acceptable(SeqNum(980), 20), "wholly old");
        assert!(!r.acceptable(SeqNum(2000), 10), "past the window");
        // A pure ACK from a peer that filled the window sits at its right edge (Linux takes it).
        assert!(
            r.acceptable(SeqNum(2000), 0),
            "an empty segment at the right edge"
        );
        assert!(!r.acceptable(SeqNum(2001), 0));
        r.adv = r.nxt; // a zero window: only RCV.NXT is acceptable
        assert!(r.acceptable(SeqNum(1000), 0));
        assert!(r.acceptable(SeqNum(1000), 10));
        assert!(!r.acceptable(SeqNum(1001), 0));
    }

    #[test]
    fn trimming_owes_an_ack_and_drops_a_fin_past_the_window() {
        let mut r = receiver();
        let data = [7u8; 30];
        let (seq, payload, _) = r.trim_to_window(SeqNum(990), &data, TcpFlags::ACK);
        assert_eq!((seq, payload.len()), (SeqNum(1000), 20));
        assert!(r.ack_now);
        r.ack_now = false;
        let fin = TcpFlags::ACK | TcpFlags::FIN;
        let (seq, payload, flags) = r.trim_to_window(SeqNum(1990), &data, fin);
        assert_eq!((seq, payload.len()), (SeqNum(1990), 10));
        assert!(!flags.contains(TcpFlags::FIN));
        assert!(r.ack_now);
    }

    #[test]
    fn a_hole_filled_reaches_the_fin_and_acks_at_once() {
        let mut r = receiver();
        let mut timers = Timers::new(t(0));
        let delack = Duration::from_millis(40);
        let out = r.on_data(
            t(1),
            SeqNum(1010),
            &[2; 10],
            true,
            false,
            1460,
            100,
            delack,
            RTO,
            &mut timers,
        );
        assert!(!out.fin_reached);
        assert!(r.ack_now, "out of order: duplicate ACK at once");
        r.on_ack_sent(&mut timers);
        let out = r.on_data(
            t(2),
            SeqNum(1000),
            &[1; 10],
            false,
            false,
            1460,
            100,
            delack,
            RTO,
            &mut timers,
        );
        assert!(out.fin_reached);
        assert!(r.fin_received && r.ack_now);
        assert_eq!(r.nxt, SeqNum(1021));
        assert_eq!(r.buf.len(), 20);
    }

    /// Linux's tcp_data_queue: a partly old segment sets the D-SACK to its old part
    /// (tcp_dsack_set); what it then covers of data held out of order is only joined to that
    /// when the two touch (tcp_ofo_queue's tcp_dsack_extend), never put in its place.
    #[test]
    fn an_overlap_of_held_data_does_not_replace_the_old_part_d_sack() {
        let mut r = receiver();
        let mut timers = Timers::new(t(0));
        let delack = Duration::from_millis(40);
        let mut data = |r: &mut Receiver, seq: u32, len: usize| {
            let bytes = vec![1; len];
            let (seq, payload, _) = r.trim_to_window(SeqNum(seq), &bytes, TcpFlags::ACK);
            r.on_data(
                t(1),
                seq,
                payload,
                false,
                false,
                1460,
                100,
                delack,
                RTO,
                &mut timers,
            );
        };
        data(&mut r, 1000, 10);
        data(&mut r, 1100, 100);
        let mut t2 = Timers::new(t(0));
        r.on_ack_sent(&mut t2);
        // [1000, 1010) again and on to 1150: old part [1000, 1010), overlap [1100, 1150).
        data(&mut r, 1000, 150);
        assert_eq!(r.nxt, SeqNum(1200));
        let blocks: Vec<_> = r.sack_blocks(true).iter().copied().collect();
        assert_eq!(blocks, [(1000, 1010)]);
        r.on_ack_sent(&mut t2);
        // With no D-SACK pending, the overlap is the D-SACK; one not touching it is left out.
        data(&mut r, 1300, 50);
        data(&mut r, 1360, 40);
        data(&mut r, 1200, 180);
        assert_eq!(r.nxt, SeqNum(1400));
        let blocks: Vec<_> = r.sack_blocks(true).iter().copied().collect();
        assert_eq!(blocks, [(1300, 1350)], "[1360, 1380) touches it not");
    }

    /// In-order data of `len` bytes at `seq`, at `ms`.
    fn data(r: &mut Receiver, timers: &mut Timers, ms: u64, seq: u32, len: usize) {
        let delack = Duration::from_millis(40);
        r.on_data(
            t(ms),
            SeqNum(seq),
            &vec![1; len],
            false,
            false,
            1460,
            100,
            delack,
            RTO,
            timers,
        );
    }

    #[test]
    fn the_first_segments_are_acknowledged_at_once_then_acks_wait() {
        let mut r = receiver();
        let mut timers = Timers::new(t(0));
        // Quick-ACK mode at the first data (Linux's tcp_incr_quickack): an ACK per segment, as
        // many as half the window holds segments when data starts, at most 16 (here the window is
        // 950 bytes once the first 50 are in: 950 / (2 * 50) = 9).
        for i in 0..9u32 {
            data(&mut r, &mut timers, 5 + u64::from(i), 1000 + 50 * i, 50);
            assert!(r.ack_now, "segment {i} in quick-ACK mode");
            r.on_ack_sent(&mut timers);
        }
        data(&mut r, &mut timers, 20, 1450, 50);
        assert!(!r.ack_now, "quick ACKs used up: one small segment waits");
        assert_eq!(timers.deadline(TimerKind::DelayedAck), Some(t(60)));
        assert_eq!(r.ack_owed_since(), Some(t(20)));
        data(&mut r, &mut timers, 21, 1500, 60);
        assert!(
            r.ack_now,
            "more than a full segment owed is acknowledged at once"
        );
    }

    #[test]
    fn replies_make_acks_wait_for_them_and_a_silence_brings_quick_acks_back() {
        let mut r = receiver();
        let mut timers = Timers::new(t(0));
        data(&mut r, &mut timers, 5, 1000, 10);
        assert!(r.ack_now);
        // Our reply within the ACK timeout: interactive mode, the next ACK rides on data.
        r.on_data_sent(t(6));
        r.on_ack_sent(&mut timers);
        assert!(r.pingpong);
        data(&mut r, &mut timers, 10, 1010, 10);
        assert!(!r.ack_now, "interactive: the ACK waits for a reply");
        // Nobody replied: the timer fires, and interactive mode ends.
        r.on_delayed_ack_timeout(RTO);
        assert!(!r.pingpong);
        r.on_ack_sent(&mut timers);
        // After a silence longer than the RTO, quick-ACK mode again.
        data(&mut r, &mut timers, 5000, 1020, 10);
        assert!(r.ack_now, "after idle, at once");
        // TCP_QUICKACK off holds ACKs; on sends the owed one.
        r.on_ack_sent(&mut timers);
        r.set_quick_ack(false);
        data(&mut r, &mut timers, 5001, 1030, 10);
        assert!(!r.ack_now);
        r.set_quick_ack(true);
        assert!(r.ack_now);
    }
}
