//! One TCP connection: the RFC 9293 state machine with its send and receive sequence spaces,
//! timers, reliability, flow control and congestion control. Sans-IO: segments come in through
//! `input`, go out through `poll_transmit`'s sink, and time is always the caller's `now`.
//!
//! Layout of the send sequence space once established: the first byte of `send_buf` sits at
//! SND.UNA; a queued FIN takes the sequence number right after the last byte. `snd_nxt` is where
//! the next new transmission starts and `snd_max` the highest sequence number ever sent (they only
//! differ before establishment). Retransmissions are driven by the retransmission queue
//! (`recovery::RtxQueue`): segments marked lost by RACK, duplicate ACKs or an RTO are resent one by
//! one, and SACKed ones never are.

use super::buffer::RingBuffer;
use super::config::{Config, MAX_BUFFER};
use super::congestion::Congestion;
use super::recovery::RtxQueue;
use super::recv::Receiver;
use super::rtt::RttEstimator;
use super::segment::{OutSegment, Segment};
use super::seq::SeqNum;
use super::timers::{TimerKind, Timers};
use crate::error::Errno;
use crate::time::{earliest, Duration, Instant};
use crate::wire::tcp::{TcpFlags, TcpOptions};

/// RFC 9293 §3.3.2 connection states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

/// What a poll()/epoll waiter would see.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// EPOLLIN: data, end of file or an error to report.
    pub readable: bool,
    /// EPOLLOUT: room in the send buffer (or a write would fail at once).
    pub writable: bool,
    /// EPOLLERR: a pending error.
    pub error: bool,
    /// EPOLLHUP: both directions shut down or the connection is closed.
    pub hangup: bool,
    /// EPOLLRDHUP: the peer's FIN has been received.
    pub read_closed: bool,
}

/// Counters and estimates, enough to fill TCP_INFO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpStats {
    pub state: State,
    pub srtt: Option<Duration>,
    pub rttvar: Duration,
    pub rto: Duration,
    pub backoff: u32,
    pub cwnd: usize,
    pub ssthresh: usize,
    /// Effective MSS we send with (payload bytes).
    pub snd_mss: usize,
    /// MSS we advertised.
    pub rcv_mss: usize,
    pub retransmits: u64,
    pub fast_retransmits: u64,
    pub timeouts: u64,
    pub bytes_sent: u64,
    pub bytes_retransmitted: u64,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub segments_sent: u64,
    pub segments_received: u64,
    pub peer_window: usize,
    pub our_window: usize,
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    pub unacked: usize,
    pub sacked: usize,
    pub in_recovery: bool,
}

/// Why a data-bearing segment is being sent (instrumentation and statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendCause {
    /// First transmission.
    New,
    /// Resent after a retransmission timeout (a segment not SACKed, from SND.UNA up).
    Timeout,
    /// Resent during fast recovery (marked lost by RACK, SACK or duplicate ACKs).
    Recovery,
    /// First transmission forced by the persist timer (sender SWS override).
    Forced,
    /// Tail loss probe (RFC 8985 §7.3): one new segment, or the last one again, when the PTO
    /// expires.
    Probe,
}

/// Test instrumentation: events the simulation checks protocol properties against.
#[cfg(test)]
#[derive(Clone, Copy, Debug)]
pub(crate) enum Trace {
    Rto {
        now: Instant,
        armed_at: Instant,
        rto: Duration,
        retries: u32,
    },
    Send {
        seq: SeqNum,
        len: usize,
        fin: bool,
        cause: SendCause,
    },
    /// The tail loss probe timer expired.
    Pto {
        now: Instant,
        armed_at: Instant,
        pto: Duration,
    },
}

#[derive(Clone, Copy, Debug)]
struct Plan {
    seq: SeqNum,
    len: usize,
    fin: bool,
    cause: SendCause,
}

/// Receives each outgoing segment with its payload as one or two slices of the send buffer.
pub type Sink<'a> = dyn FnMut(&OutSegment, &[u8], &[u8]) + 'a;

/// RFC 9293 §3.7.1: default send MSS when the peer sends no MSS option (IPv4).
const DEFAULT_PEER_MSS: usize = 536;
/// Bytes of the timestamps option as sent (with two NOPs).
const TS_OPTION_LEN: usize = 12;
/// RFC 8985 §7.2: worst-case delayed-ACK time, added to the PTO when one segment is in flight.
const WC_DEL_ACK: Duration = Duration::from_millis(200);
/// Floor of the PTO (Linux uses two jiffies): below it delayed ACKs would make most probes spurious.
const PTO_MIN: Duration = Duration::from_millis(10);
/// RFC 5681 §3.2 DupThresh.
const DUP_THRESH: usize = 3;
/// The smallest path MTU an ICMP "fragmentation needed" can set (Linux's `min_pmtu`).
const MIN_PATH_MTU: usize = 552;

pub struct Connection {
    state: State,
    cfg: Config,
    /// The SYN we sent came from an active open (affects RST in SYN-RECEIVED).
    active_open: bool,

    // Send sequence space (RFC 9293 §3.3.1).
    iss: SeqNum,
    snd_una: SeqNum,
    snd_nxt: SeqNum,
    snd_max: SeqNum,
    snd_wnd: usize,
    max_snd_wnd: usize,
    snd_wl1: SeqNum,
    snd_wl2: SeqNum,
    snd_wscale: u8,
    /// Both sides sent the window scale option.
    ws_negotiated: bool,
    send_buf: RingBuffer,
    /// The user shut down writing: a FIN follows the queued data.
    fin_queued: bool,
    fin_acked: bool,
    /// Retransmit the SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED).
    syn_pending: bool,

    /// The receive half: RCV.*, reassembly, ACK policy.
    rcv: Receiver,

    // Options.
    /// The largest segment the peer takes (its MSS option), lowered when a router on the path
    /// needs smaller ones (RFC 1191).
    peer_mss: usize,
    ts_enabled: bool,
    ts_offset: u32,
    sack_enabled: bool,

    /// A RST to send: (seq, Some(ack) for RST|ACK).
    rst_pending: Option<(SeqNum, Option<SeqNum>)>,
    /// Whether sending the pending RST also ends the connection.
    rst_closes: bool,

    /// Every timer's deadline: retransmission, persist, delayed ACK, close, RACK and TLP.
    timers: Timers,
    retries: u32,
    persist_backoff: u32,
    probes_unanswered: u32,
    force_send: bool,
    probe_pending: bool,
    last_rx: Instant,
    last_tx: Instant,
    keepalive_probes: u32,

    // Reliability and congestion.
    rtt: RttEstimator,
    rtt_timing: Option<(SeqNum, Instant)>,
    cc: Congestion,
    dupacks: u32,
    /// In loss recovery: fast recovery, or after an RTO when `rto_recovery`.
    in_recovery: bool,
    rto_recovery: bool,
    recover: SeqNum,
    /// Every segment in flight with its send time and SACK/lost marks (RFC 6675 scoreboard, RACK).
    rtxq: RtxQueue,
    /// The PTO expired: send a probe.
    tlp_pending: bool,
    /// RFC 8985 §7.4: TLP.end_seq of the outstanding probe, and whether it was a retransmission.
    tlp_end: Option<(SeqNum, bool)>,

    // Socket-level.
    error: Option<Errno>,
    /// A soft error from ICMP (RFC 1122 §4.2.3.9): reported if the connection times out, or by
    /// SO_ERROR when no hard error is pending (Linux's `sk_err_soft`).
    soft_error: Option<Errno>,
    /// The user called close(): the socket is orphaned.
    user_closed: bool,
    /// Reads return end of file after a reset/failure once the error has been reported.
    eof_after_error: bool,
    stats: TcpStats,
    #[cfg(test)]
    pub(crate) trace: Option<Vec<Trace>>,
}

fn window_scale_for(buffer: usize) -> u8 {
    let mut ws = 0u8;
    while ws < 14 && (buffer >> ws) > 65535 {
        ws += 1;
    }
    ws
}

impl Connection {
    fn new(now: Instant, config: &Config, iss: u32, ts_offset: u32, active: bool) -> Connection {
        let mut cfg = config.clone();
        cfg.send_buffer = cfg.send_buffer.clamp(1, MAX_BUFFER);
        cfg.recv_buffer = cfg.recv_buffer.clamp(1, MAX_BUFFER);
        cfg.mss = cfg.mss.max(64);
        let iss = SeqNum(iss);
        let rcv_wscale = if cfg.window_scale {
            window_scale_for(cfg.recv_buffer)
        } else {
            0
        };
        let mss = cfg.mss as usize;
        Connection {
            state: State::Closed,
            active_open: active,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: iss,
            snd_wscale: 0,
            ws_negotiated: false,
            send_buf: RingBuffer::new(cfg.send_buffer),
            fin_queued: false,
            fin_acked: false,
            syn_pending: true,
            rcv: Receiver::new(now, cfg.recv_buffer, rcv_wscale),
            peer_mss: DEFAULT_PEER_MSS,
            ts_enabled: false,
            ts_offset,
            sack_enabled: false,
            rst_pending: None,
            rst_closes: false,
            timers: Timers::new(now),
            retries: 0,
            persist_backoff: 0,
            probes_unanswered: 0,
            force_send: false,
            probe_pending: false,
            last_rx: now,
            last_tx: now,
            keepalive_probes: 0,
            rtt: RttEstimator::new(),
            rtt_timing: None,
            cc: Congestion::new(cfg.congestion, mss),
            dupacks: 0,
            in_recovery: false,
            rto_recovery: false,
            recover: iss,
            rtxq: RtxQueue::new(),
            tlp_pending: false,
            tlp_end: None,
            error: None,
            soft_error: None,
            user_closed: false,
            eof_after_error: false,
            stats: TcpStats {
                state: State::Closed,
                srtt: None,
                rttvar: Duration::ZERO,
                rto: Duration::ZERO,
                backoff: 0,
                cwnd: 0,
                ssthresh: 0,
                snd_mss: 0,
                rcv_mss: mss,
                retransmits: 0,
                fast_retransmits: 0,
                timeouts: 0,
                bytes_sent: 0,
                bytes_retransmitted: 0,
                bytes_acked: 0,
                bytes_received: 0,
                segments_sent: 0,
                segments_received: 0,
                peer_window: 0,
                our_window: 0,
                snd_wscale: 0,
                rcv_wscale,
                unacked: 0,
                sacked: 0,
                in_recovery: false,
            },
            cfg,
            #[cfg(test)]
            trace: None,
        }
    }

    /// Active open (RFC 9293 §3.10.1): SYN-SENT, with the SYN queued for `poll_transmit`.
    pub fn connect(now: Instant, config: &Config, iss: u32, ts_offset: u32) -> Connection {
        let mut c = Connection::new(now, config, iss, ts_offset, true);
        c.state = State::SynSent;
        c
    }

    /// Passive open from a listener's SYN: SYN-RECEIVED, with the SYN-ACK queued.
    /// The receive and send buffers are not allocated until the handshake completes.
    pub fn accept(
        now: Instant,
        config: &Config,
        iss: u32,
        ts_offset: u32,
        syn: &Segment,
    ) -> Connection {
        let mut c = Connection::new(now, config, iss, ts_offset, false);
        c.state = State::SynReceived;
        c.take_syn(syn);
        c.snd_wnd = syn.window as usize; // never scaled in a SYN (RFC 7323 §2.2)
        c.max_snd_wnd = c.snd_wnd;
        c.snd_wl1 = syn.seq;
        c.stats.segments_received += 1;
        c
    }

    /// Records the peer's SYN: IRS and option negotiation (RFC 9293 §3.10.7.2/3, RFC 7323, 2018).
    fn take_syn(&mut self, syn: &Segment) {
        self.rcv.on_syn(syn.seq);
        let o = &syn.options;
        self.peer_mss = o.mss.map_or(DEFAULT_PEER_MSS, |m| m as usize).max(64);
        match o.window_scale {
            Some(ws) if self.cfg.window_scale => {
                self.snd_wscale = ws.min(14);
                self.ws_negotiated = true;
            }
            _ => {
                self.snd_wscale = 0;
                self.rcv.wscale = 0;
            }
        }
        self.sack_enabled = self.cfg.sack && o.sack_permitted;
        match o.timestamps {
            Some((tsval, _)) if self.cfg.timestamps => {
                self.ts_enabled = true;
                self.rcv.ts_recent = tsval;
            }
            _ => self.ts_enabled = false,
        }
        self.cc.set_mss(self.eff_mss());
    }

    // ----------------------------------------------------------------------------------------
    // Accessors.

    pub fn state(&self) -> State {
        self.state
    }

    /// The stack may drop the connection: CLOSED (including an expired TIME-WAIT).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed && self.rst_pending.is_none()
    }

    /// FIONREAD: bytes ready to read.
    pub fn recv_queue_len(&self) -> usize {
        self.rcv.buf.len()
    }

    /// SIOCOUTQ: bytes not yet acknowledged (sent or not).
    pub fn send_queue_len(&self) -> usize {
        self.send_buf.len()
    }

    /// SO_ERROR: the pending error, cleared by reading it.
    pub fn take_error(&mut self) -> Option<Errno> {
        self.error.take().or_else(|| self.soft_error.take())
    }

    pub fn local_iss(&self) -> SeqNum {
        self.iss
    }

    pub fn stats(&self) -> TcpStats {
        let mut s = self.stats;
        s.state = self.state;
        s.srtt = self.rtt.srtt();
        s.rttvar = self.rtt.rttvar();
        s.rto = self.rtt.rto();
        s.backoff = self.rtt.backoff_count();
        s.cwnd = self.cc.cwnd();
        s.ssthresh = self.cc.ssthresh();
        s.snd_mss = self.eff_mss();
        s.peer_window = self.snd_wnd;
        s.our_window = self.rcv.window();
        s.bytes_received = self.rcv.bytes_received;
        s.snd_wscale = self.snd_wscale;
        s.rcv_wscale = self.rcv.wscale;
        s.unacked = self.snd_max.since(self.snd_una);
        s.sacked = self.sacked_bytes();
        s.in_recovery = self.in_recovery;
        s
    }

    pub fn readiness(&self) -> Readiness {
        let send_open = matches!(self.state, State::Established | State::CloseWait);
        let write_shut = self.fin_queued || self.state == State::Closed;
        let read_shut = self.rcv.fin_received || self.state == State::Closed;
        let connecting = matches!(self.state, State::SynSent | State::SynReceived);
        Readiness {
            readable: !connecting
                && (!self.rcv.buf.is_empty() || read_shut || self.error.is_some()),
            writable: !connecting
                && ((send_open
                    && !self.fin_queued
                    && self.send_buf.free() > 0
                    && self.send_buf.free() * 2 >= self.send_buf.len())
                    || write_shut
                    || self.error.is_some()),
            error: self.error.is_some(),
            hangup: self.state == State::Closed
                || (self.fin_queued && self.rcv.fin_received)
                || self.state == State::TimeWait,
            read_closed: self.rcv.fin_received || self.state == State::Closed && !connecting,
        }
    }

    // ----------------------------------------------------------------------------------------
    // Setters (socket options).

    pub fn set_nodelay(&mut self, on: bool) {
        self.cfg.nodelay = on;
    }

    pub fn set_congestion(&mut self, algo: super::Algorithm) {
        self.cfg.congestion = algo;
        self.cc.set_algorithm(algo);
    }

    pub fn set_keepalive(&mut self, on: bool) {
        self.cfg.keepalive = on;
    }

    /// TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT.
    pub fn set_keepalive_params(&mut self, idle: Duration, interval: Duration, count: u32) {
        self.cfg.keepalive_idle = idle;
        self.cfg.keepalive_interval = interval;
        self.cfg.keepalive_count = count.max(1);
    }

    pub fn set_linger(&mut self, linger: Option<Duration>) {
        self.cfg.linger = linger;
    }

    /// SO_SNDBUF: applied while the buffer is empty (normally before or right after connect).
    pub fn set_send_buffer(&mut self, bytes: usize) -> bool {
        let b = bytes.clamp(1, MAX_BUFFER);
        self.cfg.send_buffer = b;
        self.send_buf.set_capacity(b)
    }

    /// SO_RCVBUF: applied before establishment only (the window scale is fixed by the SYN).
    pub fn set_recv_buffer(&mut self, bytes: usize) -> bool {
        if self.rcv.buf.is_allocated() && self.rcv.buf.capacity() > 0 {
            return false;
        }
        let b = bytes.clamp(1, MAX_BUFFER);
        if self.state == State::SynSent && self.snd_max == self.iss && self.cfg.window_scale {
            self.rcv.wscale = window_scale_for(b);
        }
        let b = b.min(65535 << self.rcv.wscale);
        self.cfg.recv_buffer = b;
        self.rcv.buf.set_capacity(b)
    }

    /// A failure reported by the stack (e.g. EHOSTUNREACH from neighbour resolution).
    pub fn set_error(&mut self, err: Errno) {
        if self.state != State::Closed {
            self.fail(err);
        }
    }

    /// A SYN arriving in TIME-WAIT that cannot be an old duplicate (a sequence number past this
    /// connection's, or a newer timestamp) may open a new connection on the same ports (RFC 6191,
    /// as Linux's `tcp_timewait_state_process`): then this returns the initial sequence number the
    /// new connection should take, beyond anything this one sent, and TIME-WAIT may end.
    pub fn time_wait_reuse_isn(&self, seg: &Segment) -> Option<u32> {
        let syn_only = seg.flags.is_syn_only();
        if self.state != State::TimeWait || !syn_only {
            return None;
        }
        if self.paws_rejects(seg) {
            return None;
        }
        let newer_ts = seg.options.timestamps.is_some_and(|(tsval, _)| {
            self.ts_enabled && (tsval.wrapping_sub(self.rcv.ts_recent) as i32) > 0
        });
        let newer = seg.seq > self.rcv.nxt || newer_ts;
        newer.then(|| (self.snd_nxt + 65537).0.max(1))
    }

    /// PAWS (RFC 7323 §5.3 R1), by the receive half's TS.Recent.
    fn paws_rejects(&self, seg: &Segment) -> bool {
        self.rcv
            .paws_rejects(self.ts_enabled, seg.options.timestamps)
    }

    /// True if `seq`, quoted by an ICMP error, is one we sent and is not yet acknowledged: anything
    /// else is stale or forged and is ignored (RFC 5927 §4.1, as Linux's `tcp_v4_err`).
    fn quotes_unacked(&self, seq: SeqNum) -> bool {
        self.state != State::Closed && seq >= self.snd_una && seq <= self.snd_max
    }

    /// An ICMP error (other than "fragmentation needed") about the segment that started at `seq`.
    /// A connection being opened fails at once with `err`, as on Linux; an established one keeps
    /// trying, and reports `err` instead of ETIMEDOUT if it times out (RFC 1122 §4.2.3.9).
    pub fn icmp_error(&mut self, seq: SeqNum, err: Errno) {
        if !self.quotes_unacked(seq) {
            return;
        }
        match self.state {
            State::SynSent => self.fail(err),
            State::SynReceived if self.active_open => self.fail(err),
            // A half-open passive connection is dropped quietly when its peer is unreachable
            // (Linux's `tcp_req_err`); the listener never sees it.
            State::SynReceived => {
                if err == Errno::ENETUNREACH || err == Errno::EHOSTUNREACH {
                    self.enter_closed();
                }
            }
            _ => self.set_soft_error(err),
        }
    }

    /// ICMP "fragmentation needed" about the segment that started at `seq`: a router on the path
    /// takes datagrams of at most `mtu` bytes (RFC 1191 §6.1; zero from routers older than it).
    /// Segments shrink to fit, and those in flight that are too large are resent at once,
    /// without counting as congestion (Linux's `tcp_simple_retransmit`).
    pub fn path_mtu_reduced(&mut self, seq: SeqNum, mtu: usize) {
        if !self.quotes_unacked(seq) {
            return;
        }
        // Linux's floor (`min_pmtu`): a forged message cannot shrink segments to nothing. A zero
        // MTU is taken as the floor too.
        let mss = mtu.max(MIN_PATH_MTU) - 40;
        if mss >= self.peer_mss.min(self.cfg.mss as usize) {
            return;
        }
        self.peer_mss = mss;
        self.rtxq.mark_lost_longer_than(self.eff_mss());
    }

    /// A soft error (RFC 1122 §4.2.3.9): the connection goes on, and reports `err` if it times out.
    pub fn set_soft_error(&mut self, err: Errno) {
        if self.state != State::Closed {
            self.soft_error = Some(err);
        }
    }

    // ----------------------------------------------------------------------------------------
    // Socket calls.

    /// Queues data for sending.
    pub fn send(&mut self, data: &[u8]) -> Result<usize, Errno> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        match self.state {
            State::SynSent | State::SynReceived if !self.fin_queued => return Err(Errno::EAGAIN),
            State::Established | State::CloseWait if !self.fin_queued => {}
            State::Listen => return Err(Errno::ENOTCONN),
            _ => return Err(Errno::EPIPE),
        }
        if data.is_empty() {
            return Ok(0);
        }
        let n = self.send_buf.enqueue(data);
        if n == 0 {
            Err(Errno::EAGAIN)
        } else {
            Ok(n)
        }
    }

    fn recv_inner(&mut self, buf: &mut [u8], consume: bool) -> Result<usize, Errno> {
        if !self.rcv.buf.is_empty() {
            if buf.is_empty() {
                return Ok(0);
            }
            if !consume {
                return Ok(self.rcv.buf.read_at(0, buf));
            }
            let n = self.rcv.buf.dequeue(buf);
            self.after_read();
            return Ok(n);
        }
        if self.rcv.fin_received {
            return Ok(0);
        }
        if let Some(e) = self.error {
            if consume {
                self.error = None;
            }
            return Err(e);
        }
        match self.state {
            State::Closed if self.eof_after_error => Ok(0),
            State::Closed | State::Listen => Err(Errno::ENOTCONN),
            _ => Err(Errno::EAGAIN),
        }
    }

    /// Reads received data. Ok(0) is end of file (peer's FIN, or after a reported reset).
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        self.recv_inner(buf, true)
    }

    /// MSG_PEEK.
    pub fn peek(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        self.recv_inner(buf, false)
    }

    /// The reader freed buffer space: send a window update if it opens the window enough.
    fn after_read(&mut self) {
        if !self.is_synchronized() || self.rcv.fin_received {
            return;
        }
        if self.rcv.window_update_due(self.eff_mss()) {
            self.rcv.ack_now = true;
        }
    }

    /// shutdown(SHUT_WR): FIN after the queued data.
    pub fn shutdown_write(&mut self) {
        if self.fin_queued {
            return;
        }
        match self.state {
            State::SynSent | State::SynReceived => self.fin_queued = true,
            State::Established => {
                self.fin_queued = true;
                self.set_state(State::FinWait1);
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.set_state(State::LastAck);
            }
            _ => {}
        }
    }

    /// close(): graceful unless unread data remains or SO_LINGER is zero (then RST, as Linux).
    pub fn close(&mut self) {
        self.user_closed = true;
        let unread = !self.rcv.buf.is_empty() || !self.rcv.assembler.is_empty();
        if self.cfg.linger == Some(Duration::ZERO) || (unread && self.is_synchronized()) {
            self.abort();
            return;
        }
        match self.state {
            State::SynSent | State::Listen => self.enter_closed(),
            State::SynReceived | State::Established | State::CloseWait => {
                self.fin_queued = true;
                let next = if self.state == State::CloseWait {
                    State::LastAck
                } else if self.state == State::SynReceived {
                    // FIN goes out once established (RFC 9293 §3.10.4).
                    State::SynReceived
                } else {
                    State::FinWait1
                };
                self.set_state(next);
            }
            State::FinWait2 => {
                self.timers
                    .set(TimerKind::Close, self.last_rx + self.cfg.fin_wait2_timeout);
            }
            _ => {}
        }
    }

    /// ABORT (RFC 9293 §3.10.5): RST if synchronized, then CLOSED. No error is reported locally.
    pub fn abort(&mut self) {
        self.user_closed = true;
        match self.state {
            State::SynReceived
            | State::Established
            | State::FinWait1
            | State::FinWait2
            | State::CloseWait => {
                self.rst_pending = Some((self.snd_max, None));
                self.rst_closes = true;
                self.enter_closed();
            }
            _ => self.enter_closed(),
        }
    }

    fn is_synchronized(&self) -> bool {
        !matches!(
            self.state,
            State::Closed | State::Listen | State::SynSent | State::SynReceived
        )
    }

    fn set_state(&mut self, s: State) {
        log::trace!("tcp state {:?} -> {:?}", self.state, s);
        self.state = s;
    }

    fn enter_closed(&mut self) {
        self.set_state(State::Closed);
        self.timers.stop(TimerKind::Retransmit);
        self.timers.stop(TimerKind::Persist);
        self.timers.stop(TimerKind::DelayedAck);
        self.rcv.ack_owed_since = None;
        self.rcv.ack_now = false;
        self.timers.stop(TimerKind::Close);
        self.syn_pending = false;
        self.probe_pending = false;
        self.send_buf.release();
        self.rcv.assembler.clear();
        self.rtxq.clear();
        self.timers.stop_loss_detection();
        self.tlp_pending = false;
        if self.user_closed {
            self.rcv.buf.release();
        }
    }

    /// The connection failed: report `err` and close.
    fn fail(&mut self, err: Errno) {
        self.error = Some(err);
        self.eof_after_error = true;
        self.fin_queued = true;
        self.enter_closed();
    }

    /// Retries ran out: fail with ETIMEDOUT, or with the soft error an ICMP message explained the
    /// silence with (Linux's `tcp_write_err`).
    fn time_out(&mut self) {
        let err = self.soft_error.take().unwrap_or(Errno::ETIMEDOUT);
        self.fail(err);
    }

    fn enter_time_wait(&mut self, now: Instant) {
        self.set_state(State::TimeWait);
        self.timers.stop(TimerKind::Retransmit);
        self.timers.stop(TimerKind::Persist);
        self.timers.set(TimerKind::Close, now + self.cfg.time_wait);
        self.send_buf.release();
    }

    fn establish(&mut self) {
        self.set_state(if self.fin_queued {
            State::FinWait1
        } else {
            State::Established
        });
        self.send_buf.allocate();
        self.rcv.buf.allocate();
        self.syn_pending = false;
        self.retries = 0;
    }

    // ----------------------------------------------------------------------------------------
    // Derived quantities.

    /// Payload bytes per segment we send (RFC 9293 §3.7.1, RFC 7323 option overhead).
    fn eff_mss(&self) -> usize {
        let m = self.peer_mss.min(self.cfg.mss as usize);
        let opt = if self.ts_enabled { TS_OPTION_LEN } else { 0 };
        m.saturating_sub(opt).max(32)
    }

    /// The payload that fits in a segment sent now: [`eff_mss`](Self::eff_mss) less the SACK
    /// blocks `emit` will add while out-of-order data waits, so header and payload still fit the
    /// MTU (Linux's `tcp_current_mss` subtracts them the same way).
    fn send_mss(&self) -> usize {
        if !self.sack_enabled || self.rcv.assembler.is_empty() {
            return self.eff_mss();
        }
        let blocks = self.sack_block_count();
        self.eff_mss().saturating_sub(4 + 8 * blocks).max(32)
    }

    /// How many SACK blocks `emit` puts in a segment that is not a SYN.
    fn sack_block_count(&self) -> usize {
        self.rcv.sack_blocks(self.ts_enabled).len()
    }

    fn data_end(&self) -> SeqNum {
        self.snd_una + self.send_buf.len()
    }

    fn fin_sent(&self) -> bool {
        self.fin_queued && !self.fin_acked && self.snd_max > self.data_end()
    }

    fn sacked_bytes(&self) -> usize {
        self.rtxq.sacked_bytes()
    }

    /// RFC 6675 "pipe": data believed to be in the network. Outstanding data less what is SACKed
    /// and what is marked lost and not yet resent (a resent segment counts once). Without SACK,
    /// each duplicate ACK stands for one segment that left the network (RFC 5681 §3.2, RFC 3042).
    fn pipe(&self) -> usize {
        let outstanding = self.snd_max.since(self.snd_una);
        let sacked = if self.sack_enabled {
            self.sacked_bytes()
        } else {
            let dup = if self.in_recovery {
                self.dupacks
            } else {
                self.dupacks.min(2)
            };
            (dup as usize * self.eff_mss()).min(outstanding)
        };
        outstanding
            .saturating_sub(sacked)
            .saturating_sub(self.rtxq.lost_bytes())
    }

    /// The next segment to retransmit: the lowest one marked lost, at most one MSS of it:
    /// (seq, data len, with FIN).
    fn next_lost(&self) -> Option<(SeqNum, usize, bool)> {
        let r = self.rtxq.first_lost()?;
        let data_end = self.data_end();
        let len = r.end.min(data_end).since(r.start).min(self.send_mss());
        let fin = self.fin_sent() && r.end > data_end && r.start + len == data_end;
        if len == 0 && !fin {
            return None;
        }
        Some((r.start, len, fin))
    }

    /// The tail loss probe (RFC 8985 §7.3): a new segment if the peer's window allows one, else
    /// the last segment sent (unless it is SACKed).
    fn probe_plan(&self) -> Option<Plan> {
        let data_len = self.send_buf.len();
        let off = self.snd_nxt.since(self.snd_una);
        let win_end = self.snd_wl2 + self.snd_wnd;
        if off < data_len {
            let len = (data_len - off)
                .min(self.send_mss())
                .min(win_end.since(self.snd_nxt));
            if len > 0 {
                return Some(Plan {
                    seq: self.snd_nxt,
                    len,
                    fin: self.fin_queued && off + len == data_len,
                    cause: SendCause::Probe,
                });
            }
        }
        let r = self.rtxq.last()?;
        if r.sacked {
            return None;
        }
        let data_end = self.data_end();
        let fin = self.fin_sent() && r.end > data_end;
        let dend = r.end.min(data_end);
        let seq = if dend.since(r.start) > self.send_mss() {
            dend - self.send_mss()
        } else {
            r.start
        };
        let len = dend.since(seq);
        if len == 0 && !fin {
            return None;
        }
        Some(Plan {
            seq,
            len,
            fin,
            cause: SendCause::Probe,
        })
    }

    /// Decides the next data/FIN segment, without side effects (shared by `poll_at`).
    fn next_send(&self) -> Option<Plan> {
        if !matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        ) || self.fin_acked
        {
            return None;
        }
        let mss = self.send_mss();
        let cwnd = self.cc.cwnd();
        let pipe = self.pipe();
        if self.tlp_pending {
            if let Some(p) = self.probe_plan() {
                return Some(p);
            }
        }
        if let Some((seq, len, fin)) = self.next_lost() {
            // Lost segments first, as cwnd allows (RFC 6675 §5 NextSeg rule 1).
            if cwnd.saturating_sub(pipe) >= len.max(1) {
                let cause = if self.rto_recovery {
                    SendCause::Timeout
                } else {
                    SendCause::Recovery
                };
                return Some(Plan {
                    seq,
                    len,
                    fin,
                    cause,
                });
            }
            return None;
        }
        let data_len = self.send_buf.len();
        let off = self.snd_nxt.since(self.snd_una);
        if off > data_len {
            return None; // FIN already sent
        }
        let avail = data_len - off;
        let win_end = self.snd_wl2 + self.snd_wnd; // right edge = SND.WL2 + SND.WND
        let win_room = win_end.since(self.snd_nxt);
        let cwnd_room = cwnd.saturating_sub(pipe);
        let len = avail.min(mss).min(win_room).min(cwnd_room);
        let fin = self.fin_queued && off + len == data_len;
        if len == 0 && !fin {
            return None;
        }
        if !self.force_send && len < mss && len > 0 {
            if len < avail {
                // Window- or cwnd-limited: sender SWS avoidance (RFC 1122 §4.2.3.4).
                if len < self.max_snd_wnd / 2 {
                    return None;
                }
            } else if !(self.cfg.nodelay || self.snd_nxt == self.snd_una || fin) {
                // Nagle (RFC 896 / RFC 1122 §4.2.3.4).
                return None;
            }
        }
        let cause = if self.force_send {
            SendCause::Forced
        } else {
            SendCause::New
        };
        Some(Plan {
            seq: self.snd_nxt,
            len,
            fin,
            cause,
        })
    }

    fn keepalive_deadline(&self) -> Option<Instant> {
        if !self.cfg.keepalive
            || !matches!(
                self.state,
                State::Established | State::CloseWait | State::FinWait2
            )
            || self.snd_max != self.snd_una
            || !self.send_buf.is_empty()
            || self.timers.is_armed(TimerKind::Retransmit)
            || self.timers.is_armed(TimerKind::Persist)
        {
            return None;
        }
        let wait = if self.keepalive_probes == 0 {
            self.cfg.keepalive_idle
        } else {
            self.cfg.keepalive_idle + self.cfg.keepalive_interval * self.keepalive_probes
        };
        Some(self.last_rx + wait)
    }

    // ----------------------------------------------------------------------------------------
    // Timers and polling.

    /// When the engine next wants `poll_transmit` (≤ `now` if output is pending).
    pub fn poll_at(&self, now: Instant) -> Option<Instant> {
        if self.rst_pending.is_some() {
            return Some(now);
        }
        if self.state == State::Closed {
            return None;
        }
        if self.rcv.ack_now
            || self.probe_pending
            || (self.syn_pending && matches!(self.state, State::SynSent | State::SynReceived))
            || self.next_send().is_some()
        {
            return Some(now);
        }
        earliest(self.timers.next_deadline(), self.keepalive_deadline())
    }

    /// RFC 8985 §7.2: (re)arms the PTO after new data is sent or acknowledged, when not in
    /// recovery, with SACK, and no probe is outstanding. PTO = 2·SRTT (plus the worst-case
    /// delayed ACK with one segment in flight), never later than the RTO.
    fn arm_tlp(&mut self, now: Instant) {
        self.cancel_tlp();
        let flight = self.snd_max.since(self.snd_una);
        if !self.sack_enabled
            || self.in_recovery
            || self.tlp_end.is_some()
            || flight == 0
            || self.timers.loss_detection_armed()
            || !self.is_synchronized()
        {
            return;
        }
        let Some(srtt) = self.rtt.srtt() else {
            return;
        };
        let mut pto = srtt * 2;
        if flight <= self.eff_mss() {
            pto += WC_DEL_ACK;
        }
        let pto = pto.max(PTO_MIN);
        let at = now + pto;
        if self
            .timers
            .deadline(TimerKind::Retransmit)
            .is_some_and(|r| at >= r)
        {
            return;
        }
        self.timers.start_tail_loss_probe(now, at);
    }

    fn cancel_tlp(&mut self) {
        self.timers.stop(TimerKind::TailLossProbe);
    }

    fn cancel_rack_timer(&mut self) {
        self.timers.stop(TimerKind::RackReorder);
    }

    /// RFC 8985 §6.2 step 5 and §6.3: marks lost what RACK finds, re-arms the reordering timer,
    /// and starts recovery if needed.
    fn rack_detect(&mut self, now: Instant) {
        if !self.sack_enabled {
            return;
        }
        let srtt = self.rtt.srtt().unwrap_or(Duration::from_millis(100));
        let reo = self
            .rtxq
            .reo_wnd(self.in_recovery, DUP_THRESH * self.eff_mss(), srtt);
        match self.rtxq.detect_loss(now, reo) {
            Some(t) => self.timers.set_rack_reorder(t),
            None => self.cancel_rack_timer(),
        }
        if self.rtxq.lost_bytes() > 0 && !self.in_recovery && self.snd_una >= self.recover {
            self.enter_recovery(now);
        }
    }

    fn arm_rtx(&mut self, now: Instant) {
        self.timers
            .start(TimerKind::Retransmit, now, now + self.rtt.rto());
    }

    fn handle_timers(&mut self, now: Instant) {
        if self.timers.expired(TimerKind::Close, now) {
            // TIME-WAIT over, or orphaned FIN-WAIT-2 timed out.
            self.enter_closed();
            return;
        }
        if self.timers.expired(TimerKind::Retransmit, now) {
            self.on_rtx_timeout(now);
            if self.state == State::Closed {
                return;
            }
        }
        match self.timers.loss_detection() {
            Some((TimerKind::RackReorder, d)) if now >= d => {
                self.timers.stop(TimerKind::RackReorder);
                self.rack_detect(now);
            }
            Some((TimerKind::TailLossProbe, d)) if now >= d => {
                self.timers.stop(TimerKind::TailLossProbe);
                #[cfg(test)]
                if let Some(t) = self.trace.as_mut() {
                    let armed_at = self.timers.armed_at(TimerKind::TailLossProbe);
                    t.push(Trace::Pto {
                        now,
                        armed_at,
                        pto: d.saturating_since(armed_at),
                    });
                }
                if !self.in_recovery && self.snd_max > self.snd_una {
                    self.tlp_pending = true;
                }
            }
            _ => {}
        }
        if self.timers.expired(TimerKind::Persist, now) {
            self.timers.stop(TimerKind::Persist);
            self.probes_unanswered += 1;
            if self.probes_unanswered > self.cfg.data_retries {
                self.time_out();
                return;
            }
            if self.snd_wnd == 0 || self.next_send_forced().is_none() {
                self.probe_pending = true;
            } else {
                self.force_send = true;
            }
            self.persist_backoff += 1;
        }
        if let Some(d) = self.keepalive_deadline() {
            if now >= d {
                if self.keepalive_probes >= self.cfg.keepalive_count {
                    self.time_out();
                    return;
                }
                self.keepalive_probes += 1;
                self.probe_pending = true;
            }
        }
        if self.timers.expired(TimerKind::DelayedAck, now) {
            self.rcv.ack_now = true;
        }
    }

    fn next_send_forced(&mut self) -> Option<Plan> {
        let saved = self.force_send;
        self.force_send = true;
        let p = self.next_send();
        self.force_send = saved;
        p
    }

    /// The sender's state at a retransmission timeout, at debug level: what it takes to tell why
    /// loss recovery fell back to the timer (scoreboard, cwnd and pipe, timers, first and last
    /// record in flight).
    fn log_timeout(&self, now: Instant) {
        let una = self.snd_una;
        let f = self.rtxq.first();
        let l = self.rtxq.last();
        log::debug!(
            "tcp: retransmission timeout at {:?}: state={:?} retries={} rto={:?} srtt={:?} una={} flight={} nxt-una={} buflen={} fin_q={} recs={} sacked={} lost={} in_rec={} rto_rec={} cwnd={} pipe={} wnd={} tlp_end={:?} loss_timer={:?} armed_ago={:?} first={:?} last={:?}",
            now,
            self.state,
            self.retries,
            self.rtt.rto(),
            self.rtt.srtt(),
            una.0,
            self.snd_max.since(una),
            self.snd_nxt.since(una),
            self.send_buf.len(),
            self.fin_queued,
            self.rtxq.len(),
            self.rtxq.sacked_bytes(),
            self.rtxq.lost_bytes(),
            self.in_recovery,
            self.rto_recovery,
            self.cc.cwnd(),
            self.pipe(),
            self.snd_wnd,
            self.tlp_end.map(|(e, r)| (e.since(una), r)),
            self.timers
                .loss_detection()
                .map(|(k, t)| (t.saturating_since(now), k)),
            now.saturating_since(self.timers.armed_at(TimerKind::Retransmit)),
            f.map(|r| (r.start.since(una), r.span(), now.saturating_since(r.sent), r.retransmitted, r.lost, r.sacked)),
            l.map(|r| (r.start.since(una), r.span(), now.saturating_since(r.sent), r.retransmitted, r.lost, r.sacked)),
        );
    }

    /// RFC 6298 §5.4-5.7 and RFC 5681 §3.1 on a retransmission timeout.
    fn on_rtx_timeout(&mut self, now: Instant) {
        self.timers.stop(TimerKind::Retransmit);
        self.retries += 1;
        let limit = match self.state {
            State::SynSent | State::SynReceived => self.cfg.syn_retries,
            _ => self.cfg.data_retries,
        };
        #[cfg(test)]
        if let Some(t) = self.trace.as_mut() {
            t.push(Trace::Rto {
                now,
                armed_at: self.timers.armed_at(TimerKind::Retransmit),
                rto: self.rtt.rto(),
                retries: self.retries,
            });
        }
        let _ = now;
        if self.retries > limit {
            log::debug!("tcp: retransmission limit reached in {:?}", self.state);
            if self.state == State::SynReceived && !self.active_open {
                self.enter_closed();
            } else {
                self.time_out();
            }
            return;
        }
        self.stats.timeouts += 1;
        self.log_timeout(now);
        self.rtt.backoff();
        self.rtt_timing = None;
        match self.state {
            State::SynSent | State::SynReceived => self.syn_pending = true,
            _ => {
                let flight = self.snd_max.since(self.snd_una);
                if self.retries == 1 {
                    self.cc.on_rto(flight);
                } else {
                    self.cc.set_cwnd(self.eff_mss());
                }
                // RFC 2018 §8 lets the receiver discard SACKed data, and RFC 6675 §5.1 relays its
                // advice to forget SACK information on an RTO. Like Linux, keep it unless the
                // peer evidently reneged (the segment at SND.UNA is SACKed but not acknowledged),
                // so SACKed segments are not sent again.
                if self.rtxq.first().is_some_and(|r| r.sacked) {
                    self.rtxq.clear_sacks();
                }
                self.rtxq.mark_all_lost();
                self.in_recovery = true;
                self.rto_recovery = true;
                self.dupacks = 0;
                self.recover = self.snd_max;
                self.timers.stop_loss_detection();
                self.tlp_pending = false;
                self.tlp_end = None;
            }
        }
    }

    /// Emits what is due: RST, SYN/SYN-ACK, data and FIN (within cwnd, peer window, Nagle),
    /// probes and ACKs, after running expired timers. Each segment's payload is given to `sink`
    /// as one or two slices of the send buffer.
    pub fn poll_transmit(&mut self, now: Instant, sink: &mut Sink<'_>) {
        self.handle_timers(now);
        if let Some((seq, ack)) = self.rst_pending.take() {
            let mut flags = TcpFlags::RST;
            if ack.is_some() {
                flags.insert(TcpFlags::ACK);
            }
            let seg = OutSegment {
                seq,
                ack: ack.unwrap_or(SeqNum(0)),
                flags,
                window: 0,
                options: TcpOptions::default(),
                payload_len: 0,
            };
            self.stats.segments_sent += 1;
            sink(&seg, &[], &[]);
            if self.rst_closes {
                self.rst_closes = false;
                self.enter_closed();
            }
        }
        if self.state == State::Closed {
            return;
        }
        match self.state {
            State::SynSent | State::SynReceived => {
                if self.syn_pending {
                    self.syn_pending = false;
                    let mut flags = TcpFlags::SYN;
                    if self.state == State::SynReceived {
                        flags.insert(TcpFlags::ACK);
                    }
                    if self.retries > 0 {
                        self.stats.retransmits += 1;
                    }
                    self.emit(now, sink, self.iss, flags, 0, 0);
                    self.snd_nxt = self.iss + 1;
                    self.snd_max = self.snd_max.max(self.snd_nxt);
                    if !self.timers.is_armed(TimerKind::Retransmit) {
                        self.arm_rtx(now);
                    }
                    if self.retries == 0 {
                        self.rtt_timing = Some((self.iss + 1, now));
                    }
                }
            }
            _ => self.send_data(now, sink),
        }
        if self.probe_pending {
            self.probe_pending = false;
            // Window probe / keepalive: an old sequence number elicits an ACK (RFC 9293 §3.8.4).
            self.emit(now, sink, self.snd_una - 1, TcpFlags::ACK, 0, 0);
        }
        if self.rcv.ack_now && self.state != State::Closed {
            // Pure ACKs carry SND.MAX so they stay acceptable during go-back-N.
            self.emit(now, sink, self.snd_max, TcpFlags::ACK, 0, 0);
        }
        self.update_persist(now);
    }

    fn send_data(&mut self, now: Instant, sink: &mut Sink<'_>) {
        let mut sent_new = false;
        while let Some(plan) = self.next_send() {
            // Restart from the initial window after an idle period (RFC 5681 §4.1).
            if plan.cause == SendCause::New
                && self.snd_una == self.snd_max
                && now.saturating_since(self.last_tx) > self.rtt.rto()
            {
                self.cc.on_idle_restart();
            }
            let mut flags = TcpFlags::ACK;
            let off = plan.seq.since(self.snd_una);
            if plan.fin {
                flags.insert(TcpFlags::FIN);
            }
            if plan.len > 0 && off + plan.len == self.send_buf.len() {
                flags.insert(TcpFlags::PSH);
            }
            self.emit(now, sink, plan.seq, flags, off, plan.len);
            let end = plan.seq + plan.len + plan.fin as usize;
            #[cfg(test)]
            if let Some(t) = self.trace.as_mut() {
                t.push(Trace::Send {
                    seq: plan.seq,
                    len: plan.len,
                    fin: plan.fin,
                    cause: plan.cause,
                });
            }
            let is_new = plan.seq >= self.snd_max;
            if plan.cause == SendCause::Probe {
                // One probe per PTO; then the RTO runs again (RFC 8985 §7.3).
                self.tlp_pending = false;
                self.tlp_end = Some((self.snd_max.max(end), !is_new));
                self.arm_rtx(now);
            }
            if is_new {
                self.force_send = false;
                if self.rtt_timing.is_none() && !self.ts_enabled {
                    self.rtt_timing = Some((end, now));
                }
                self.snd_nxt = end;
                self.stats.bytes_sent += plan.len as u64;
                self.rtxq.push(plan.seq, end, now);
                sent_new |= plan.cause != SendCause::Probe;
            } else {
                self.rtxq.on_retransmit(plan.seq, end, now);
                self.stats.retransmits += 1;
                self.stats.bytes_retransmitted += plan.len as u64;
                self.rtt_timing = None;
            }
            self.snd_max = self.snd_max.max(self.snd_nxt);
            if !self.timers.is_armed(TimerKind::Retransmit) {
                self.arm_rtx(now);
            }
            self.timers.stop(TimerKind::Persist);
        }
        self.tlp_pending = false;
        if sent_new {
            self.arm_tlp(now);
        }
    }

    /// Arms or clears the persist timer (zero window / sender SWS override, RFC 9293 §3.8.6.1).
    fn update_persist(&mut self, now: Instant) {
        let stalled = self.is_synchronized()
            && !self.timers.is_armed(TimerKind::Retransmit)
            && !self.fin_acked
            && self.snd_nxt < self.data_end()
            && self.next_send().is_none();
        if !stalled {
            self.timers.stop(TimerKind::Persist);
            if self.snd_wnd > 0 {
                self.persist_backoff = 0;
            }
        } else if !self.timers.is_armed(TimerKind::Persist) {
            let base = self.rtt.base_rto();
            let d = base
                .saturating_mul(1u32 << self.persist_backoff.min(16))
                .min(super::rtt::RTO_MAX);
            self.timers.set(TimerKind::Persist, now + d);
        }
    }

    fn emit(
        &mut self,
        now: Instant,
        sink: &mut Sink<'_>,
        seq: SeqNum,
        flags: TcpFlags,
        off: usize,
        len: usize,
    ) {
        let in_handshake = matches!(self.state, State::SynSent | State::SynReceived);
        let window = self.rcv.advertise_window(in_handshake, self.eff_mss());
        let mut options = TcpOptions::default();
        let syn = flags.contains(TcpFlags::SYN);
        if syn {
            options.mss = Some(self.cfg.mss);
            let synack = flags.contains(TcpFlags::ACK);
            if self.cfg.window_scale && (!synack || self.ws_negotiated) {
                options.window_scale = Some(self.rcv.wscale);
            }
            options.sack_permitted = self.cfg.sack && (!synack || self.sack_enabled);
            if self.cfg.timestamps && (!synack || self.ts_enabled) {
                options.timestamps = Some((
                    self.ts_now(now),
                    if synack { self.rcv.ts_recent } else { 0 },
                ));
            }
        } else {
            if self.ts_enabled {
                options.timestamps = Some((self.ts_now(now), self.rcv.ts_recent));
            }
            if self.sack_enabled && !self.rcv.assembler.is_empty() {
                options.sack_blocks = self.rcv.sack_blocks(self.ts_enabled);
            }
        }
        let ack = if flags.contains(TcpFlags::ACK) {
            self.rcv.nxt
        } else {
            SeqNum(0)
        };
        let seg = OutSegment {
            seq,
            ack,
            flags,
            window,
            options,
            payload_len: len,
        };
        let (a, b) = self.send_buf.peek(off, len);
        debug_assert_eq!(a.len() + b.len(), len);
        sink(&seg, a, b);
        self.stats.segments_sent += 1;
        self.last_tx = now;
        if flags.contains(TcpFlags::ACK) {
            self.rcv.on_ack_sent(&mut self.timers);
        }
    }

    fn ts_now(&self, now: Instant) -> u32 {
        (now.as_millis() as u32).wrapping_add(self.ts_offset)
    }

    // ----------------------------------------------------------------------------------------
    // Input.

    /// Processes one received segment (RFC 9293 §3.10.7).
    pub fn input(&mut self, now: Instant, seg: &Segment) {
        self.stats.segments_received += 1;
        match self.state {
            State::Closed | State::Listen => {}
            State::SynSent => self.input_syn_sent(now, seg),
            _ => self.input_synchronized(now, seg),
        }
        self.update_persist(now);
    }

    /// RFC 9293 §3.10.7.3.
    fn input_syn_sent(&mut self, now: Instant, seg: &Segment) {
        let f = seg.flags;
        let ack_ok = f.contains(TcpFlags::ACK) && seg.ack > self.iss && seg.ack <= self.snd_max;
        if f.contains(TcpFlags::ACK) && !ack_ok {
            if !f.contains(TcpFlags::RST) {
                self.rst_pending = Some((seg.ack, None));
            }
            return;
        }
        if f.contains(TcpFlags::RST) {
            if ack_ok {
                self.fail(Errno::ECONNREFUSED);
            }
            return;
        }
        if !f.contains(TcpFlags::SYN) {
            return;
        }
        self.take_syn(seg);
        self.last_rx = now;
        if ack_ok {
            // SYN-ACK: our SYN is acknowledged.
            self.snd_una = seg.ack;
            self.snd_nxt = self.snd_nxt.max(self.snd_una);
            self.snd_wnd = seg.window as usize;
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            self.timers.stop(TimerKind::Retransmit);
            self.take_rtt_sample(now, seg);
            self.rtt.reset_backoff();
            self.establish();
            self.rcv.ack_now = true;
            // Data carried on the SYN-ACK is not accepted; the peer will resend it.
        } else {
            // Simultaneous open: answer with SYN-ACK from SYN-RECEIVED.
            self.set_state(State::SynReceived);
            self.snd_wnd = seg.window as usize;
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl1 = seg.seq;
            self.syn_pending = true;
            self.timers.stop(TimerKind::Retransmit);
        }
    }

    fn take_rtt_sample(&mut self, now: Instant, seg: &Segment) {
        if self.ts_enabled {
            if let Some((_, tsecr)) = seg.options.timestamps {
                if tsecr != 0 {
                    let ms = self.ts_now(now).wrapping_sub(tsecr);
                    if ms < 1 << 30 {
                        self.rtt.sample(Duration::from_millis(ms as u64));
                        self.rtt_timing = None;
                        return;
                    }
                }
            }
        }
        if let Some((end, sent)) = self.rtt_timing {
            if seg.ack >= end {
                self.rtt.sample(now.saturating_since(sent));
                self.rtt_timing = None;
            }
        }
    }

    /// RFC 9293 §3.10.7.4 for SYN-RECEIVED and the synchronized states.
    fn input_synchronized(&mut self, now: Instant, seg: &Segment) {
        let mut f = seg.flags;
        let mut seq = seg.seq;
        let payload = seg.payload;

        // SYN-RECEIVED: a retransmitted SYN or the peer's SYN-ACK in a simultaneous open.
        if self.state == State::SynReceived && f.contains(TcpFlags::SYN) && seq == self.rcv.irs {
            if !f.contains(TcpFlags::ACK) {
                self.syn_pending = true;
                return;
            }
            f.remove(TcpFlags::SYN);
            seq += 1;
        }

        if !f.contains(TcpFlags::RST) && self.paws_rejects(seg) {
            self.rcv.ack_now = true;
            return;
        }

        // 1. Sequence number check.
        let seg_len =
            payload.len() + f.contains(TcpFlags::SYN) as usize + f.contains(TcpFlags::FIN) as usize;
        if !self.rcv.acceptable(seq, seg_len) {
            if !f.contains(TcpFlags::RST) {
                self.rcv.ack_now = true;
                if self.state == State::TimeWait && f.contains(TcpFlags::FIN) {
                    self.timers.set(TimerKind::Close, now + self.cfg.time_wait);
                }
            }
            return;
        }

        // 2. RST (RFC 5961 §3.2): exact match resets, otherwise challenge.
        if f.contains(TcpFlags::RST) {
            if seq != self.rcv.nxt {
                self.rcv.challenge_ack(now);
                return;
            }
            match self.state {
                State::SynReceived if !self.active_open => self.enter_closed(),
                State::SynReceived => self.fail(Errno::ECONNREFUSED),
                State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait => {
                    self.fail(Errno::ECONNRESET)
                }
                _ => self.enter_closed(),
            }
            return;
        }

        // 4. SYN in a synchronized state (RFC 5961 §4): challenge ACK.
        if f.contains(TcpFlags::SYN) {
            self.rcv.challenge_ack(now);
            return;
        }

        // Trim to the window.
        let (seq, payload, f) = self.rcv.trim_to_window(seq, payload, f);

        // 5. ACK.
        if !f.contains(TcpFlags::ACK) {
            return;
        }
        self.last_rx = now;
        self.keepalive_probes = 0;
        self.probes_unanswered = 0;
        if self.state == State::SynReceived {
            if seg.ack > self.snd_una && seg.ack <= self.snd_max {
                self.snd_una = seg.ack;
                self.snd_nxt = self.snd_nxt.max(self.snd_una);
                self.timers.stop(TimerKind::Retransmit);
                self.take_rtt_sample(now, seg);
                self.rtt.reset_backoff();
                self.snd_wl1 = seq.max(self.snd_wl1) - 1; // force the window update below
                self.snd_wl2 = seg.ack;
                self.establish();
            } else {
                self.rst_pending = Some((seg.ack, None));
                return;
            }
        }
        if seg.ack > self.snd_max {
            self.rcv.ack_now = true;
            return;
        }
        // RFC 5961 §5.2: ACKs too far behind are challenged.
        if seg.ack < self.snd_una - self.max_snd_wnd.max(1) {
            self.rcv.challenge_ack(now);
            return;
        }
        // Timestamp bookkeeping (RFC 7323 §4.3).
        if self.ts_enabled {
            self.rcv.update_ts_recent(seq, seg.options.timestamps);
        }
        self.process_ack(now, seg, seq, payload.len(), f);
        if self.state == State::Closed {
            return;
        }

        // 7. Segment text.
        if !payload.is_empty() || f.contains(TcpFlags::FIN) {
            match self.state {
                State::Established | State::FinWait1 | State::FinWait2 => {
                    if self.user_closed && !payload.is_empty() {
                        // Data for a socket nobody will read: reset (RFC 1122 §4.2.2.13, Linux).
                        self.rst_pending = Some((self.snd_max, Some(seq + payload.len())));
                        self.enter_closed();
                        return;
                    }
                    self.process_data(now, seq, payload, f.contains(TcpFlags::FIN));
                }
                State::CloseWait | State::Closing | State::LastAck | State::TimeWait
                    if f.contains(TcpFlags::FIN) =>
                {
                    // Already have the peer's FIN; a retransmission of it is acknowledged.
                    self.rcv.ack_now = true;
                    if self.state == State::TimeWait {
                        self.timers.set(TimerKind::Close, now + self.cfg.time_wait);
                    }
                }
                _ => {}
            }
        }
    }

    fn process_ack(
        &mut self,
        now: Instant,
        seg: &Segment,
        seq: SeqNum,
        data_len: usize,
        f: TcpFlags,
    ) {
        let ack = seg.ack;
        let old_una = self.snd_una;
        let window = (seg.window as usize) << self.snd_wscale;
        // RFC 8985 §6.2 step 2: an ACK echoing a timestamp older than a segment's last
        // transmission was caused by an earlier one.
        let tsecr = seg
            .options
            .timestamps
            .filter(|_| self.ts_enabled)
            .map(|t| t.1);
        let ts_offset = self.ts_offset;
        let echo_predates = move |sent: Instant| {
            tsecr.is_some_and(|e| {
                let ts = (sent.as_millis() as u32).wrapping_add(ts_offset);
                (e.wrapping_sub(ts) as i32) < 0
            })
        };

        if ack > self.snd_una {
            let acked = ack.since(self.snd_una);
            let data_acked = acked.min(self.send_buf.len());
            if self.fin_queued && ack > self.data_end() && self.snd_max > self.data_end() {
                self.fin_acked = true;
            }
            self.send_buf.discard(data_acked);
            self.stats.bytes_acked += data_acked as u64;
            self.snd_una = ack;
            self.snd_nxt = self.snd_nxt.max(ack);
            self.rtxq.on_ack(ack, now, &echo_predates);
            self.take_rtt_sample(now, seg);
            self.rtt.reset_backoff();
            self.retries = 0;
            self.persist_backoff = 0;
            if self.snd_una == self.snd_max {
                self.timers.stop(TimerKind::Retransmit);
            } else {
                self.arm_rtx(now);
            }
            if self.in_recovery && self.rto_recovery {
                // After an RTO, slow start from one segment (RFC 5681 §3.1) until all that was
                // outstanding at the timeout is acknowledged.
                self.cc.on_ack(now, acked, self.rtt.srtt());
                if ack >= self.recover {
                    self.in_recovery = false;
                    self.rto_recovery = false;
                    self.dupacks = 0;
                }
            } else if self.in_recovery {
                if ack >= self.recover {
                    // Full acknowledgment: recovery is over (RFC 6582 §3.2 step 3).
                    self.in_recovery = false;
                    self.dupacks = 0;
                    self.cc.set_cwnd(self.cc.ssthresh());
                } else {
                    self.dupacks = self
                        .dupacks
                        .saturating_sub((acked / self.eff_mss().max(1)) as u32);
                    if !self.sack_enabled {
                        // Partial acknowledgment: the next hole is lost too (RFC 6582 §3.2
                        // step 4). With SACK, RACK decides.
                        self.rtxq.mark_first_lost();
                    }
                }
            } else {
                self.dupacks = 0;
                self.cc.on_ack(now, acked, self.rtt.srtt());
            }
        } else if ack == self.snd_una
            && data_len == 0
            && !f.contains(TcpFlags::FIN)
            && window == self.snd_wnd
            && self.snd_max > self.snd_una
        {
            // Duplicate ACK (RFC 5681 §2); after an RTO they only echo the resent segments.
            if !self.rto_recovery {
                self.dupacks += 1;
            }
        }

        // SACK scoreboard (RFC 2018 / RFC 6675). A first block below the cumulative ACK, or
        // inside the second block, is a D-SACK (RFC 2883 §4): a duplicate, not new information.
        let mut dsack = None;
        if self.sack_enabled {
            let blocks = seg.options.sack_blocks;
            let mut it = blocks.iter().map(|&(l, r)| (SeqNum(l), SeqNum(r)));
            if let Some((l, r)) = it.next() {
                let second = it.next();
                if r <= ack || second.is_some_and(|(l2, r2)| l >= l2 && r <= r2) {
                    dsack = Some((l, r));
                }
            }
            for (l, r) in blocks.iter().map(|&(l, r)| (SeqNum(l), SeqNum(r))) {
                if l < r && l >= self.snd_una && r <= self.snd_max {
                    self.rtxq.on_sack(l, r, now, &echo_predates);
                }
            }
        }

        // RFC 8985 §7.4: the ACK for a tail loss probe. A retransmitted probe acknowledged
        // without a D-SACK for it repaired a loss, which congestion control must hear of.
        if let Some((end, retrans)) = self.tlp_end {
            if ack >= end || self.rto_recovery {
                self.tlp_end = None;
                let spurious = dsack.is_some_and(|(l, r)| l < end && r >= end);
                if retrans && !spurious && !self.in_recovery && ack >= end {
                    self.cc
                        .on_congestion_event(self.snd_max.since(self.snd_una));
                    self.recover = self.snd_max;
                }
            }
        }

        // RACK loss detection (RFC 8985 §6.2), which may start recovery.
        if self.sack_enabled && (self.rtxq.sacked_bytes() > 0 || self.in_recovery) {
            self.rack_detect(now);
        } else {
            self.cancel_rack_timer();
        }

        // Three duplicate ACKs (RFC 5681 §3.2): the segment at SND.UNA is lost. With SACK this
        // only matters when the ACKs carry no blocks (RACK needs them).
        if !self.in_recovery
            && self.snd_una >= self.recover
            && self.snd_max > self.snd_una
            && self.dupacks as usize >= DUP_THRESH
        {
            self.rtxq.mark_first_lost();
            self.enter_recovery(now);
        }

        // RFC 8985 §7.2: restart the PTO on an ACK of new data; none when nothing is in flight.
        if self.snd_una == self.snd_max {
            self.cancel_tlp();
        } else if self.snd_una != old_una {
            self.arm_tlp(now);
        }

        // Send window update (RFC 9293 §3.10.7.4, SND.WL1/SND.WL2).
        if self.snd_wl1 < seq || (self.snd_wl1 == seq && self.snd_wl2 <= ack) {
            if window > self.snd_wnd && self.snd_wnd == 0 {
                self.persist_backoff = 0;
            }
            self.snd_wnd = window;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
        }

        // State transitions driven by our FIN being acknowledged.
        if self.fin_acked && old_una != self.snd_una {
            match self.state {
                State::FinWait1 => {
                    self.set_state(State::FinWait2);
                    if self.user_closed {
                        self.timers
                            .set(TimerKind::Close, now + self.cfg.fin_wait2_timeout);
                    }
                }
                State::Closing => self.enter_time_wait(now),
                State::LastAck => self.enter_closed(),
                _ => {}
            }
        }
    }

    fn enter_recovery(&mut self, now: Instant) {
        let _ = now;
        let flight = self.snd_max.since(self.snd_una);
        self.cc.on_congestion_event(flight);
        self.in_recovery = true;
        self.rto_recovery = false;
        self.recover = self.snd_max;
        self.cancel_tlp();
        self.tlp_pending = false;
        self.rtt_timing = None;
        self.stats.fast_retransmits += 1;
    }

    fn process_data(&mut self, now: Instant, seq: SeqNum, payload: &[u8], fin: bool) {
        let outcome = self.rcv.on_data(
            now,
            seq,
            payload,
            fin,
            self.cfg.mss,
            self.eff_mss(),
            self.cfg.delayed_ack,
            &mut self.timers,
        );
        if outcome.fin_reached {
            // The peer's FIN, in order (RFC 9293 §3.10.7.4, eighth step).
            match self.state {
                State::Established => self.set_state(State::CloseWait),
                State::FinWait1 => {
                    if self.fin_acked {
                        self.enter_time_wait(now);
                    } else {
                        self.set_state(State::Closing);
                    }
                }
                State::FinWait2 => self.enter_time_wait(now),
                _ => {}
            }
        }
    }

    // ----------------------------------------------------------------------------------------
    // Test hooks.

    /// Since when an ACK has been owed for received in-order data.
    #[cfg(test)]
    pub(crate) fn ack_owed_since(&self) -> Option<Instant> {
        self.rcv.ack_owed_since
    }

    #[cfg(test)]
    pub(crate) fn snd_una(&self) -> SeqNum {
        self.snd_una
    }

    #[cfg(test)]
    pub(crate) fn eff_mss_for_test(&self) -> usize {
        // What a full-sized segment carries now (less room for pending SACK blocks).
        self.send_mss()
    }

    #[cfg(test)]
    pub(crate) fn nodelay(&self) -> bool {
        self.cfg.nodelay
    }

    #[cfg(test)]
    pub(crate) fn wscales(&self) -> (u8, u8) {
        (self.snd_wscale, self.rcv.wscale)
    }
}
