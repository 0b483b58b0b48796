//! One TCP connection: the RFC 9293 state machine, composed of its send half
//! ([`Sender`](super::send::Sender): SND.*, retransmission, recovery, congestion control), its
//! receive half ([`Receiver`](super::recv::Receiver): RCV.*, reassembly, ACK policy) and its
//! timer table ([`Timers`](super::timers::Timers)). The connection negotiates the options,
//! decides what each segment means in each state, builds the segments that go out, and runs the
//! timers; the halves keep the books of each direction. Sans-IO: segments come in through
//! `input`, go out through `poll_transmit`'s sink, and time is always the caller's `now`.
//!
//! ECN (RFC 3168) is done as Linux does it: negotiated by ECE and CWR in the SYN and SYN-ACK
//! (§6.1.1), ECT(0) on new data only (`tcp_ecn_send`), ECE echoed by the receive half after a CE
//! mark until CWR (§6.1.3), and the send half's once-per-window reduction on ECE (§6.1.2).
//!
//! Fast Open (RFC 7413) changes only the handshake: a client's SYN carries a cookie request, or a
//! cookie and the first data; a server's SYN-ACK carries a fresh cookie, or acknowledges the data
//! of a SYN whose cookie the stack found good. The stack holds keys and cookies
//! ([`super::fastopen`]); the connection only carries them.

use super::config::{Config, MAX_BUFFER};
use super::fastopen::FastOpen;
use super::recv::Receiver;
use super::segment::{OutSegment, Segment};
use super::send::{timestamp_at, Plan, SendContext, Sender, DEFAULT_PEER_MSS};
use super::seq::SeqNum;
use super::timers::{TimerKind, Timers};
use crate::error::Errno;
use crate::time::{earliest, Duration, Instant};
use crate::wire::ipv4::Ecn;
use crate::wire::tcp::{FastOpenCookie, TcpFlags, TcpOptions};

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
    /// The peer's segment size as Linux estimates it (`icsk_ack.rcv_mss`, TCP_INFO's
    /// `tcpi_rcv_mss`); 0 before the handshake.
    pub rcv_mss: usize,
    /// Linux's `tp->advmss`: the MSS we advertised, less the timestamp option once negotiated.
    pub advmss: usize,
    pub retransmits: u64,
    pub fast_retransmits: u64,
    pub timeouts: u64,
    /// Tail loss probes sent (RFC 8985 §7), new data or the last segment again.
    pub probes: u64,
    pub bytes_sent: u64,
    pub bytes_retransmitted: u64,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub segments_sent: u64,
    pub segments_received: u64,
    pub peer_window: usize,
    pub our_window: usize,
    /// The receiver's round-trip estimate, which paces receive-buffer autotuning.
    pub rcv_rtt: Option<Duration>,
    /// The space autotuning last measured the flow to need.
    pub rcv_space: usize,
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    pub unacked: usize,
    pub sacked: usize,
    pub in_recovery: bool,
    /// ECN was negotiated (TCPI_OPT_ECN).
    pub ecn: bool,
    /// Data marked ECT or CE has arrived (TCPI_OPT_ECN_SEEN).
    pub ecn_seen: bool,
    /// Fast Open: the SYN's data was acknowledged by the SYN-ACK (TCPI_OPT_SYN_DATA).
    pub syn_data: bool,
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
        /// A SYN's timeout that kept the initial RTO (Linux's tcp_syn_linear_timeouts).
        linear: bool,
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

/// Receives each outgoing segment with its payload as one or two slices of the send buffer.
pub type Sink<'a> = dyn FnMut(&OutSegment, &[u8], &[u8]) + 'a;

/// Bytes of the timestamps option as sent (with two NOPs).
const TS_OPTION_LEN: usize = 12;
/// The smallest path MTU an ICMP "fragmentation needed" can set (Linux's `min_pmtu`).
const MIN_PATH_MTU: usize = 552;

pub struct Connection {
    state: State,
    cfg: Config,
    /// The SYN we sent came from an active open (affects RST in SYN-RECEIVED).
    active_open: bool,
    /// TCP_DEFER_ACCEPT: the peer's bare ACK of our SYN-ACK came and was dropped, the connection
    /// waiting for data (Linux's `inet_rsk(req)->acked`).
    handshake_acked: bool,

    /// Retransmit the SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED).
    syn_pending: bool,
    /// A SYN-ACK went again for the peer's repeated SYN: the ACK that ends the handshake may
    /// answer either copy, and gives no RTT sample (Karn; Linux's `num_retrans`).
    synack_resent: bool,

    /// The send half: SND.*, retransmission queue, recovery, congestion control, persist, TLP.
    snd: Sender,
    /// The receive half: RCV.*, reassembly, ACK policy.
    rcv: Receiver,

    // Options negotiated in the handshake.
    /// Both sides sent the window scale option.
    ws_negotiated: bool,
    ts_enabled: bool,
    ts_offset: u32,
    sack_enabled: bool,
    /// ECN (RFC 3168): asked for in our SYN and not yet refused, or agreed (Linux's
    /// `TCP_ECN_OK`).
    ecn: bool,

    /// A RST to send.
    rst_pending: Option<Reset>,
    /// MSG_MORE is holding partial segments (beside TCP_CORK in `cfg`).
    more: bool,
    /// SND.UP: just past the last urgent byte queued (RFC 6093 §2); ahead of SND.UNA while
    /// urgent data is unacknowledged (Linux's urgent mode), equal to it otherwise. Here, not in
    /// the send half, where it would take a SYN-queue entry past 1 KiB.
    snd_up: SeqNum,
    /// Whether sending the pending RST also ends the connection.
    rst_closes: bool,

    /// Every timer's deadline: retransmission, persist, delayed ACK, close, RACK and TLP.
    timers: Timers,
    /// Send a window probe or keepalive: a segment with an old sequence number.
    probe_pending: bool,
    last_rx: Instant,
    last_tx: Instant,
    /// While SO_MAX_PACING_RATE paces: when the next segment may leave (Linux's tcp_wstamp_ns).
    pace_at: Instant,
    keepalive_probes: u32,

    // Socket-level.
    error: Option<Errno>,
    /// A soft error from ICMP (RFC 1122 §4.2.3.9): reported if the connection times out, or by
    /// SO_ERROR when no hard error is pending (Linux's `sk_err_soft`).
    soft_error: Option<Errno>,
    /// The user called close(): the socket is orphaned.
    user_closed: bool,
    /// Reads return end of file after a reset/failure once the error has been reported.
    eof_after_error: bool,
    /// Segments sent and received, for TCP_INFO (the other counters are kept by the halves).
    /// 32 bits wrapping, as Linux's `segs_out`/`segs_in` (and half the room in a SYN queue entry).
    segments_sent: u32,
    segments_received: u32,
    /// Fast Open (RFC 7413), out of line: most connections never use it.
    fast_open: Option<Box<FastOpen>>,
    /// Boxed so the tests' size bound (`syn_queue_entry_is_small`) measures what release builds
    /// hold, not 24 bytes of a test-only vector.
    #[cfg(test)]
    #[allow(clippy::box_collection)]
    pub(crate) trace: Option<Box<Vec<Trace>>>,
}

/// The two kinds of RST a connection sends, shaped as Linux's.
#[derive(Clone, Copy, Debug)]
enum Reset {
    /// The answer to a segment that has no place here (RFC 9293 §3.10.7): at the sequence number
    /// its ACK field names, bare (Linux's `tcp_v4_send_reset`).
    Reply(SeqNum),
    /// We abort the connection (close with unread data, SO_LINGER 0): RST|ACK at SND.MAX and
    /// RCV.NXT with the timestamp option and the window, as any segment of the connection
    /// (Linux's `tcp_send_active_reset`).
    Abort,
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
            window_scale_for(cfg.recv_buffer.max(cfg.window_space as usize))
        } else {
            0
        };
        let mss = cfg.mss as usize;
        Connection {
            state: State::Closed,
            active_open: active,
            handshake_acked: false,
            syn_pending: true,
            synack_resent: false,
            snd: Sender::new(iss, cfg.send_buffer, mss, cfg.congestion),
            rcv: Receiver::new(now, cfg.recv_buffer, rcv_wscale, cfg.quick_ack_off),
            ws_negotiated: false,
            ts_enabled: false,
            ts_offset,
            sack_enabled: false,
            ecn: false,
            rst_pending: None,
            more: false,
            snd_up: iss,
            rst_closes: false,
            timers: Timers::new(now),
            probe_pending: false,
            last_rx: now,
            last_tx: now,
            pace_at: now,
            keepalive_probes: 0,
            error: None,
            soft_error: None,
            user_closed: false,
            eof_after_error: false,
            segments_sent: 0,
            segments_received: 0,
            fast_open: None,
            cfg,
            #[cfg(test)]
            trace: None,
        }
    }

    /// Active open (RFC 9293 §3.10.1): SYN-SENT, with the SYN queued for `poll_transmit`.
    pub fn connect(now: Instant, config: &Config, iss: u32, ts_offset: u32) -> Connection {
        let mut c = Connection::new(now, config, iss, ts_offset, true);
        c.state = State::SynSent;
        // RFC 3168 §6.1.1: an ECN-setup SYN (ECE and CWR) with tcp_ecn 1 only.
        c.ecn = c.cfg.ecn.requests();
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
        // RFC 3168 §6.1.1: an ECN-setup SYN gets an ECN-setup SYN-ACK (ECE only) unless tcp_ecn
        // is 0. Linux also refuses a SYN that is itself ECT (`tcp_ecn_create_request`): SYNs
        // must be Not-ECT (§6.1.1), and a mark there means a confused path or peer.
        let f = syn.flags;
        c.ecn = c.cfg.ecn.accepts()
            && f.contains(TcpFlags::ECE | TcpFlags::CWR)
            && syn.ecn == Ecn::NotEct;
        c.snd.take_syn_window(syn.seq, syn.window);
        c.segments_received += 1;
        c
    }

    /// The SYN-ACK a listener sends for `syn` when its SYN queue is full (RFC 4987 §3.6): its ISN
    /// the cookie `iss`, the client's window scale and SACK in the low bits of its timestamp, and
    /// neither offered without timestamps (there would be nowhere to keep them), as Linux does;
    /// ECN likewise (Linux's tcp_conn_request). Nothing of the SYN is kept.
    pub fn cookie_syn_ack(
        now: Instant,
        config: &Config,
        iss: u32,
        ts_offset: u32,
        syn: &Segment,
    ) -> OutSegment {
        let mut options = syn.options;
        let mut flags = syn.flags;
        if options.timestamps.is_none() {
            options.window_scale = None;
            options.sack_permitted = false;
            flags.remove(TcpFlags::ECE | TcpFlags::CWR);
        }
        let syn = Segment {
            options,
            flags,
            ..*syn
        };
        let mut c = Connection::accept(now, config, iss, ts_offset, &syn);
        let mut out = None;
        c.poll_transmit(now, &mut |seg, _, _| {
            out.get_or_insert(*seg);
        });
        let mut seg = out.expect("a connection in SYN-RECEIVED sends its SYN-ACK");
        if let Some((tsval, ecr)) = seg.options.timestamps {
            let ws = syn.options.window_scale.filter(|_| config.window_scale);
            let sack = syn.options.sack_permitted && config.sack;
            let ecn = seg.flags.contains(TcpFlags::ECE);
            seg.options.timestamps = Some((
                super::syncookie::encode_timestamp(tsval, ws, sack, ecn),
                ecr,
            ));
        }
        seg
    }

    /// The connection a valid cookie stands for, on the `ack` that returned it (which the caller
    /// then gives to [`Connection::input`]): as if its SYN-ACK, ISN `iss`, had just been sent.
    pub fn from_cookie(
        now: Instant,
        config: &Config,
        iss: u32,
        ts_offset: u32,
        ack: &Segment,
        mss: u16,
    ) -> Connection {
        let (wscale, sack, ecn) = match ack.options.timestamps {
            Some((_, tsecr)) => super::syncookie::decode_timestamp(tsecr),
            None => (None, false, false),
        };
        let syn = Segment {
            seq: ack.seq - 1,
            ack: SeqNum(0),
            // The SYN asked for ECN if the cookie's SYN-ACK agreed to it.
            flags: if ecn {
                TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR
            } else {
                TcpFlags::SYN
            },
            window: ack.window,
            options: TcpOptions {
                mss: Some(mss),
                window_scale: wscale,
                sack_permitted: sack,
                sack_blocks: Default::default(),
                timestamps: ack.options.timestamps.map(|(tsval, _)| (tsval, 0)),
                fast_open: None,
            },
            payload: &[],
            ecn: Ecn::NotEct,
            urgent: 0,
        };
        let mut c = Connection::accept(now, config, iss, ts_offset, &syn);
        c.syn_pending = false;
        c.snd.nxt = c.snd.iss + 1;
        c.snd.max = c.snd.nxt;
        // The window the cookie's SYN-ACK offered (the same config and options made it), so data
        // on the ACK that returns the cookie is within it and taken.
        let seg_mss = c.own_segment_size();
        let _ = c.rcv.advertise_window(true, seg_mss);
        c
    }

    /// Passive open from a SYN whose Fast Open cookie the stack found good (RFC 7413 §4.2.2): its
    /// data is taken now and acknowledged by the SYN-ACK, and the connection may be handed to
    /// `accept` before the handshake completes, as Linux's (`tcp_fastopen_create_child`). A FIN
    /// on the SYN is left for the client to send again.
    pub fn accept_fast_open(
        now: Instant,
        config: &Config,
        iss: u32,
        ts_offset: u32,
        syn: &Segment,
    ) -> Connection {
        let mut c = Connection::accept(now, config, iss, ts_offset, syn);
        c.fast_open = Some(Box::new(FastOpen {
            passive: true,
            syn_data_acked: !syn.payload.is_empty(),
            ..FastOpen::default()
        }));
        c.rcv.buf.allocate();
        c.snd.buf.allocate();
        if !syn.payload.is_empty() {
            c.process_data(now, syn.seq + 1, syn.payload, false);
        }
        c
    }

    /// A passive open on a good Fast Open cookie, its handshake not yet complete: it is ready for
    /// `accept` all the same.
    pub fn is_fast_open_child(&self) -> bool {
        self.state == State::SynReceived && self.fast_open.as_ref().is_some_and(|f| f.passive)
    }

    /// A Fast Open child whose SYN-ACK has gone: it sends data before the handshake's last ACK
    /// (Linux's, RFC 7413 §4.2.2 leaves it to the server). The SYN-ACK's place is then out of the
    /// send books (SND.UNA past it), so the data's offsets are those of an open connection.
    fn sends_early(&self) -> bool {
        self.is_fast_open_child() && self.snd.una != self.snd.iss
    }

    /// Server: the SYN-ACK carries `cookie`, for a SYN that asked for one or brought a cookie that
    /// is not ours (RFC 7413 §4.2.2: the handshake goes on as an ordinary one).
    pub fn offer_fast_open_cookie(&mut self, cookie: FastOpenCookie) {
        self.fast_open.get_or_insert_default().send = Some(cookie);
    }

    /// Client, before the SYN goes: open with Fast Open (RFC 7413 §3). With a `cookie`, the SYN
    /// waits for the program's first write (connect returns at once, as Linux's
    /// `TCP_FASTOPEN_CONNECT`) and carries the cookie and as much of the data as fits; without,
    /// it carries a cookie request and the data follows the handshake.
    pub fn set_fast_open(&mut self, cookie: Option<FastOpenCookie>) {
        if self.state != State::SynSent || self.snd.max != self.snd.iss {
            return;
        }
        let fo = self.fast_open.get_or_insert_default();
        match cookie {
            Some(c) if !c.is_request() => {
                fo.send = Some(c);
                fo.syn_held = true;
                self.syn_pending = false;
                self.snd.buf.allocate();
            }
            _ => fo.send = Some(FastOpenCookie::request()),
        }
    }

    /// Client, before the SYN goes: open with Fast Open without a cookie (Linux's
    /// `TCP_FASTOPEN_NO_COOKIE`, beyond RFC 7413 §3): the SYN waits for the program's first write
    /// as with a cookie, and carries its data with no Fast Open option at all.
    pub fn set_fast_open_no_cookie(&mut self) {
        if self.state != State::SynSent || self.snd.max != self.snd.iss {
            return;
        }
        let fo = self.fast_open.get_or_insert_default();
        fo.send = None;
        fo.no_cookie = true;
        fo.syn_held = true;
        self.syn_pending = false;
        self.snd.buf.allocate();
    }

    /// Client: the SYN waits for the first write.
    pub fn syn_held(&self) -> bool {
        self.fast_open.as_ref().is_some_and(|f| f.syn_held)
    }

    /// The held SYN goes now.
    fn release_syn(&mut self) {
        if let Some(f) = self.fast_open.as_mut() {
            if std::mem::take(&mut f.syn_held) {
                self.syn_pending = true;
            }
        }
    }

    /// Client: the SYN held for the first write goes now, with no data (a zero-length
    /// sendto(MSG_FASTOPEN): Linux's tcp_send_syn_data, with nothing to copy, sends the cookie
    /// alone); the connect is then in progress as any.
    pub fn send_held_syn(&mut self) {
        self.release_syn();
    }

    /// Client: the cookie the server's SYN-ACK gave (once), for the stack's cache.
    pub fn take_fast_open_cookie(&mut self) -> Option<FastOpenCookie> {
        self.fast_open.as_mut()?.received.take()
    }

    /// The most data a SYN carries: Linux's, the MSS less the whole option space
    /// (`tcp_send_syn_data`), so the SYN fits whatever options it has.
    pub fn syn_data_room(&self) -> usize {
        usize::from(self.cfg.mss).saturating_sub(crate::wire::tcp::MAX_OPTIONS_LEN)
    }

    /// Records the peer's SYN: IRS and option negotiation (RFC 9293 §3.10.7.2/3, RFC 7323, 2018).
    fn take_syn(&mut self, syn: &Segment) {
        self.rcv.on_syn(syn.seq);
        let o = &syn.options;
        // Not below tcp_min_snd_mss, as Linux's tcp_mtu_to_mss floors it.
        self.snd.peer_mss = o
            .mss
            .map_or(DEFAULT_PEER_MSS, |m| m as usize)
            .max(usize::from(self.cfg.min_snd_mss));
        match o.window_scale {
            Some(ws) if self.cfg.window_scale => {
                self.snd.wscale = ws.min(14);
                self.ws_negotiated = true;
            }
            _ => {
                self.snd.wscale = 0;
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
        self.snd.cc.set_mss(self.eff_mss());
        // Linux's tcp_initialize_rcv_mss, once the options are agreed (tcp_rcv_synsent_state_process
        // after a SYN-ACK, tcp_v4_syn_recv_sock for a passive open).
        self.rcv.init_rcv_mss(self.advmss(), self.eff_mss());
    }

    /// Linux's `tp->advmss`: the MSS we advertise, less the timestamp option once negotiated
    /// (tcp_rcv_synsent_state_process, tcp_openreq_init_rwin take TCPOLEN_TSTAMP_ALIGNED off).
    fn advmss(&self) -> usize {
        let opt = if self.ts_enabled { TS_OPTION_LEN } else { 0 };
        usize::from(self.cfg.mss).saturating_sub(opt)
    }

    /// The TCP header of a segment carrying no SACK blocks: with the timestamp option once
    /// negotiated (Linux's `tp->tcp_header_len`).
    fn tcp_header_len(&self) -> usize {
        20 + if self.ts_enabled { TS_OPTION_LEN } else { 0 }
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

    /// The memory the receive and send buffers hold now (they grow with their data).
    pub fn buffers_allocated(&self) -> (usize, usize) {
        (self.rcv.buf.allocated(), self.snd.buf.allocated())
    }

    /// RCV.NXT: it moves with every byte, and the FIN, that arrives in order, which is what wakes
    /// a reader (data out of order does not).
    pub fn rcv_nxt(&self) -> SeqNum {
        self.rcv.nxt
    }

    /// FIONREAD: bytes ready to read.
    pub fn recv_queue_len(&self) -> usize {
        self.rcv.buf.len()
    }

    /// Out-of-order data waits for a hole to fill: the pure ACKs sent now may be duplicate ACKs
    /// the peer counts (RFC 5681 §3.2).
    pub fn holds_out_of_order(&self) -> bool {
        !self.rcv.assembler.is_empty()
    }

    /// The most the receive buffer holds now (it may grow with the flow).
    pub fn recv_capacity(&self) -> usize {
        self.rcv.buf.capacity()
    }

    /// SIOCOUTQ: bytes not yet acknowledged (sent or not).
    pub fn send_queue_len(&self) -> usize {
        self.snd.buf.len()
    }

    /// Queued data not yet sent once (Linux's `write_seq - snd_nxt`, its SND.NXT being our
    /// SND.MAX): what TCP_NOTSENT_LOWAT bounds.
    pub fn notsent_len(&self) -> usize {
        self.snd.data_end().since(self.snd.max)
    }

    /// Linux's tcp_stream_memory_free: fewer than `notsent_lowat` bytes wait unsent, shifted
    /// left by one (`wake`) for poll, which reports writable below half the mark.
    fn notsent_below_mark(&self, wake: bool) -> bool {
        ((self.notsent_len() as u64) << u32::from(wake)) < u64::from(self.cfg.notsent_lowat)
    }

    /// The peer's FIN has arrived in order.
    pub fn fin_received(&self) -> bool {
        self.rcv.fin_received
    }

    /// A soft error is held (RFC 1122 §4.2.3.9): SO_ERROR would report it.
    pub fn has_soft_error(&self) -> bool {
        self.soft_error.is_some()
    }

    /// SO_ERROR: the pending error, cleared by reading it.
    pub fn take_error(&mut self) -> Option<Errno> {
        self.error.take().or_else(|| self.soft_error.take())
    }

    pub fn local_iss(&self) -> SeqNum {
        self.snd.iss
    }

    pub fn stats(&self) -> TcpStats {
        TcpStats {
            state: self.state,
            srtt: self.snd.rtt.srtt(),
            rttvar: self.snd.rtt.rttvar(),
            rto: self.snd.rtt.rto(),
            backoff: self.snd.rtt.backoff_count(),
            cwnd: self.snd.cc.cwnd(),
            ssthresh: self.snd.cc.ssthresh(),
            snd_mss: self.eff_mss(),
            rcv_mss: self.rcv.rcv_mss.into(),
            advmss: self.advmss(),
            retransmits: self.snd.retransmits,
            fast_retransmits: self.snd.fast_retransmits,
            timeouts: self.snd.timeouts.into(),
            probes: self.snd.probes.into(),
            bytes_sent: self.snd.bytes_sent,
            bytes_retransmitted: self.snd.bytes_retransmitted,
            bytes_acked: self.snd.bytes_acked,
            bytes_received: self.rcv.bytes_received,
            segments_sent: u64::from(self.segments_sent),
            segments_received: u64::from(self.segments_received),
            peer_window: self.snd.wnd,
            our_window: self.rcv.window(),
            rcv_rtt: self.rcv.rtt(),
            rcv_space: self.rcv.space(self.eff_mss()),
            snd_wscale: self.snd.wscale,
            rcv_wscale: self.rcv.wscale,
            unacked: self.snd.flight(),
            sacked: self.snd.rtxq.sacked_bytes(),
            in_recovery: self.snd.in_recovery,
            ecn: self.ecn && self.is_synchronized(),
            ecn_seen: self.rcv.ecn_seen,
            syn_data: self.fast_open.as_ref().is_some_and(|f| f.syn_data_acked),
        }
    }

    pub fn readiness(&self) -> Readiness {
        // A Fast Open child reads and writes before its handshake ends, as Linux's.
        let child = self.is_fast_open_child();
        let send_open = matches!(self.state, State::Established | State::CloseWait) || child;
        let write_shut = self.snd.fin_queued || self.state == State::Closed;
        let read_shut = self.rcv.fin_received || self.state == State::Closed;
        let connecting = matches!(self.state, State::SynSent | State::SynReceived) && !child;
        Readiness {
            readable: !connecting
                && (!self.rcv.buf.is_empty() || read_shut || self.error.is_some()),
            writable: (self.syn_held() && self.snd.buf.free() > 0)
                || !connecting
                    && ((send_open
                        && !self.snd.fin_queued
                        && self.snd.buf.free() > 0
                        && self.snd.buf.free() * 2 >= self.snd.buf.len()
                        && self.notsent_below_mark(true)
                        // Short of memory: writable again when acknowledged data makes room.
                        && self.snd.buf.takes_more())
                        || write_shut
                        || self.error.is_some()),
            error: self.error.is_some(),
            hangup: self.state == State::Closed
                || (self.snd.fin_queued && self.rcv.fin_received)
                || self.state == State::TimeWait,
            read_closed: self.rcv.fin_received || self.state == State::Closed && !connecting,
        }
    }

    // ----------------------------------------------------------------------------------------
    // Setters (socket options).

    pub fn set_nodelay(&mut self, on: bool) {
        self.cfg.nodelay = on;
    }

    /// TCP_NODELAY set on (again or not): what waits goes now, cork notwithstanding, as Linux's
    /// `__tcp_sock_set_nodelay` pushes with TCP_NAGLE_PUSH (tcp(7): setting it forces a flush).
    pub fn push_for_nodelay(&mut self) {
        if self.snd.nxt < self.snd.data_end() {
            self.snd.force_send = true;
        }
    }

    /// SO_MAX_PACING_RATE ([`Config::max_pacing_rate`]).
    pub fn set_max_pacing_rate(&mut self, rate: u32) {
        self.cfg.max_pacing_rate = rate;
    }

    /// When a segment may next leave, if SO_MAX_PACING_RATE holds it back past `now` (Linux's
    /// tcp_pacing_check).
    fn paced_until(&self, now: Instant) -> Option<Instant> {
        let paced = super::config::pacing_gap(0, self.cfg.max_pacing_rate, Duration::ZERO);
        (self.pace_at > now && paced.is_some()).then_some(self.pace_at)
    }

    /// Moves the next segment's time on by the `len` bytes just sent at `now`, once the
    /// connection's first segments have gone (see [`super::config::UNPACED_SEGMENTS`]).
    fn after_paced_send(&mut self, now: Instant, len: usize) {
        let unpaced = super::config::UNPACED_SEGMENTS * self.send_mss() as u64;
        if self.snd.bytes_sent < unpaced {
            return;
        }
        let late = now.saturating_since(self.pace_at);
        if let Some(gap) = super::config::pacing_gap(len, self.cfg.max_pacing_rate, late) {
            self.pace_at = self.pace_at.max(now) + gap;
        }
    }

    /// TCP_NOTSENT_LOWAT in effect ([`Config::notsent_lowat`]).
    pub fn set_notsent_lowat(&mut self, mark: u32) {
        self.cfg.notsent_lowat = mark;
    }

    /// TCP_CORK. Uncorking sends what waits at once, Nagle or not (Linux's TCP_NAGLE_PUSH).
    pub fn set_cork(&mut self, on: bool) {
        let was = std::mem::replace(&mut self.cfg.cork, on);
        if was && !on && self.snd.nxt < self.snd.data_end() {
            self.snd.force_send = true;
        }
    }

    /// MSG_MORE: corked for the data that follows until the program's next send without it
    /// (Linux corks the one call); the end of the run pushes what waits.
    pub fn set_more(&mut self, on: bool) {
        let was = std::mem::replace(&mut self.more, on);
        if was && !on && !self.cfg.cork && self.snd.nxt < self.snd.data_end() {
            self.snd.force_send = true;
        }
    }

    /// TCP_QUICKACK (Linux's): on, ACKs go out at once for now and an owed one is sent; off,
    /// they wait to ride on data.
    pub fn set_quick_ack(&mut self, on: bool) {
        self.rcv.set_quick_ack(on);
    }

    /// What getsockopt(TCP_QUICKACK) reports: not in interactive (delayed-ACK) mode.
    pub fn quick_ack(&self) -> bool {
        !self.rcv.pingpong
    }

    /// BBR's model for TCP_CC_INFO: bandwidth (bytes/s), least RTT (µs), pacing and window
    /// gains (in 1/256), as Linux's bbr_get_info; `None` for the other algorithms.
    pub fn bbr_info(&self) -> Option<(u64, u32, u32, u32)> {
        let b = self.snd.cc.bbr()?;
        let rtt = b
            .min_rtt()
            .map_or(0, |d| d.as_micros().min(u32::MAX as u128) as u32);
        let (pacing, cwnd) = b.gains();
        Some((
            b.bandwidth(),
            rtt,
            (pacing * 256.0) as u32,
            (cwnd * 256.0) as u32,
        ))
    }

    pub fn set_congestion(&mut self, algo: super::Algorithm) {
        self.cfg.congestion = algo;
        self.snd.cc.set_algorithm(algo);
        if self.snd.cc.is_model_based() {
            self.snd.rtxq.enable_rate();
        }
    }

    pub fn set_keepalive(&mut self, on: bool) {
        self.cfg.keepalive = on;
    }

    /// TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT.
    pub fn set_keepalive_params(&mut self, idle: Duration, interval: Duration, count: u8) {
        self.cfg.keepalive_idle = idle;
        self.cfg.keepalive_interval = interval;
        self.cfg.keepalive_count = count.max(1);
    }

    /// TCP_USER_TIMEOUT; zero turns it off.
    pub fn set_user_timeout(&mut self, limit: Duration) {
        self.cfg.user_timeout = limit;
    }

    pub fn set_linger(&mut self, linger: Option<Duration>) {
        self.cfg.linger = linger;
    }

    /// SO_SNDBUF: applied while the buffer is empty (normally before or right after connect);
    /// the buffer keeps that size from then on.
    pub fn set_send_buffer(&mut self, bytes: usize) -> bool {
        let b = bytes.clamp(1, MAX_BUFFER);
        self.cfg.send_buffer = b;
        self.cfg.send_buffer_locked = true;
        self.snd.buf.set_capacity(b)
    }

    /// Send-buffer autotuning, as Linux's tcp_sndbuf_expand: room for two congestion windows
    /// of data (one in flight, one queued behind it, so the program keeps the pipe full while
    /// ACKs come back), up to `send_buffer_max`, unless SO_SNDBUF fixed the size.
    fn expand_send_buffer(&mut self) {
        if self.cfg.send_buffer_locked {
            return;
        }
        let want = self
            .snd
            .cc
            .cwnd()
            .saturating_mul(2)
            .min((self.cfg.send_buffer_max as usize).min(MAX_BUFFER));
        if want > self.snd.buf.capacity() {
            self.snd.buf.raise_capacity(want);
            self.cfg.send_buffer = want;
        }
    }

    /// SO_RCVBUF: applied before establishment only (the window scale is fixed by the SYN).
    pub fn set_recv_buffer(&mut self, bytes: usize) -> bool {
        if self.rcv.buf.is_allocated() && self.rcv.buf.capacity() > 0 {
            return false;
        }
        let b = bytes.clamp(1, MAX_BUFFER);
        if self.state == State::SynSent && self.snd.max == self.snd.iss && self.cfg.window_scale {
            self.rcv.wscale = window_scale_for(b.max(self.cfg.window_space as usize));
        }
        let b = b.min(65535 << self.rcv.wscale);
        self.cfg.recv_buffer = b;
        self.cfg.recv_buffer_locked = true;
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
        newer.then(|| (self.snd.nxt + 65537).0.max(1))
    }

    /// PAWS (RFC 7323 §5.3 R1), by the receive half's TS.Recent.
    fn paws_rejects(&self, seg: &Segment) -> bool {
        self.rcv
            .paws_rejects(self.ts_enabled, seg.options.timestamps)
    }

    /// True if `seq`, quoted by an ICMP error, is one we sent and is not yet acknowledged: anything
    /// else is stale or forged and is ignored (RFC 5927 §4.1), as Linux's `tcp_v4_err` ignores it
    /// (its `between(seq, snd_una, snd_nxt)`, both ends in). A connection in TIME-WAIT hears
    /// nothing (`tcp_v4_err` returns at once for one); a half-open passive one, which Linux holds
    /// as a request socket, only its ISS (`tcp_req_err`).
    fn quotes_unacked(&self, seq: SeqNum) -> bool {
        match self.state {
            State::Closed | State::TimeWait => false,
            _ if self.is_request() => seq == self.snd.una,
            _ => seq >= self.snd.una && seq <= self.snd.max,
        }
    }

    /// A half-open passive connection that Linux would hold as a request socket, not a full one
    /// (a Fast Open child is a full one).
    fn is_request(&self) -> bool {
        self.state == State::SynReceived && !self.active_open && !self.is_fast_open_child()
    }

    /// Whether an ICMP "fragmentation needed" quoting `seq` is this connection's to take (then
    /// the caller learns the path MTU and calls [`Self::path_mtu_reduced`], in Linux's order): a
    /// sequence number in flight, as for any ICMP error, and never for a half-open passive
    /// connection, whose request socket (`tcp_req_err`) never looks at the path MTU.
    pub fn takes_path_mtu(&self, seq: SeqNum) -> bool {
        !self.is_request() && self.quotes_unacked(seq)
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

    /// ICMP "fragmentation needed" that [`Self::takes_path_mtu`] took: the path to the peer takes
    /// datagrams of at most `mtu` bytes (RFC 1191 §6.1), the path MTU as the caller learnt it
    /// from the message (Linux's `tcp_v4_mtu_reduced` syncs to the route's `dst_mtu`). Segments
    /// shrink to fit, and those in flight that are too large are resent at once, without
    /// counting as congestion (Linux's `tcp_simple_retransmit`).
    pub fn path_mtu_reduced(&mut self, mtu: usize) {
        // Linux's floor (`min_pmtu`): a forged message cannot shrink segments to nothing. A zero
        // MTU is taken as the floor too.
        let mss = mtu.max(MIN_PATH_MTU) - 40;
        if mss >= self.snd.peer_mss.min(self.cfg.mss as usize) {
            return;
        }
        self.snd.peer_mss = mss;
        self.snd.rtxq.mark_lost_longer_than(self.eff_mss());
    }

    /// Before the first segment: the path to the peer takes `mtu` bytes, learnt by an earlier
    /// "fragmentation needed" to it. The MSS offered and the segments sent fit it from the start,
    /// as Linux's connection takes its route's MTU (tcp_connect_init, tcp_sync_mss; the SYN's MSS
    /// from the route's advmss).
    pub fn fit_path_mtu(&mut self, mtu: usize) {
        let mss = mtu.max(MIN_PATH_MTU) - 40;
        if mss < usize::from(self.cfg.mss) {
            self.cfg.mss = mss as u16;
            // The device cuts super-segments at the interface's MTU, not the path's.
            self.cfg.tso = false;
        }
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
            // A Fast Open client's first write: the data rides on the SYN (RFC 7413 §3).
            State::SynSent if self.syn_held() => {}
            State::SynReceived if self.is_fast_open_child() && !self.snd.fin_queued => {}
            State::SynSent | State::SynReceived if !self.snd.fin_queued => {
                return Err(Errno::EAGAIN)
            }
            State::Established | State::CloseWait if !self.snd.fin_queued => {}
            State::Listen => return Err(Errno::ENOTCONN),
            _ => return Err(Errno::EPIPE),
        }
        // Before the data joins the queue (`send_with` comes through here with none).
        // Only a model-based congestion control reads the delivery rate (the check costs a
        // SendContext on every write otherwise).
        if self.is_synchronized() && self.snd.cc.is_model_based() {
            let ctx = self.send_context();
            self.snd.check_app_limited(&ctx);
        }
        if data.is_empty() {
            return Ok(0);
        }
        if !self.notsent_below_mark(false) {
            return Err(Errno::EAGAIN);
        }
        let n = self.snd.buf.enqueue(data);
        if n > 0 {
            self.release_syn();
        }
        if n > 0 {
            Ok(n)
        } else if self.snd.buf.starved() {
            // Room by the buffer's size, but no memory to grow into (crate::memory): the writer
            // waits and tries again, as Linux's sk_stream_wait_memory.
            Err(Errno::ENOMEM)
        } else {
            Err(Errno::EAGAIN)
        }
    }

    /// Sends what `fill` writes into up to `max` bytes of the send buffer's free space (one or two
    /// pieces, so a socket's data can be read straight into it); returns what it wrote. EAGAIN when
    /// the buffer is full (`fill` is not called).
    pub fn send_with(
        &mut self,
        max: usize,
        fill: impl FnOnce(&mut [u8], &mut [u8]) -> usize,
    ) -> Result<usize, Errno> {
        self.send(&[])?;
        // As Linux's tcp_sendmsg checks the mark before each new buffer it fills (so a write may
        // take it past the mark by up to one buffer, as one read here may by up to `max`).
        if !self.notsent_below_mark(false) {
            return Err(Errno::EAGAIN);
        }
        let (a, b) = self.snd.buf.free_slices(max);
        if a.is_empty() {
            return Err(if self.snd.buf.starved() {
                Errno::ENOMEM
            } else {
                Errno::EAGAIN
            });
        }
        let n = fill(a, b);
        self.snd.buf.commit(n);
        if n > 0 {
            self.release_syn();
        }
        Ok(n)
    }

    /// Hands the readable data to `drain` (one or two pieces, so it can be written straight to a
    /// socket); what it returns is consumed. Ok(0) with `drain` not called is end of file; the rest
    /// as [`Connection::recv`].
    ///
    /// The bytes handed over stop before the peer's urgent byte: that one goes by
    /// [`Connection::urgent_with`] (at it, `drain` is given nothing).
    pub fn recv_with(
        &mut self,
        now: Instant,
        drain: impl FnOnce(&[u8], &[u8]) -> usize,
    ) -> Result<usize, Errno> {
        if !self.rcv.buf.is_empty() {
            let len = self.rcv.urgent_offset().unwrap_or(self.rcv.buf.len());
            return Ok(self.drain_front(now, len, drain));
        }
        self.recv_inner(&mut [], true, now)
    }

    /// Hands the first `len` received bytes to `drain` and consumes what it took.
    fn drain_front(
        &mut self,
        now: Instant,
        len: usize,
        drain: impl FnOnce(&[u8], &[u8]) -> usize,
    ) -> usize {
        let (a, b) = self.rcv.buf.peek(0, len);
        let n = drain(a, b).min(len);
        self.rcv.buf.discard(n);
        if n > 0 {
            self.after_read(n, now);
        }
        n
    }

    /// As [`Connection::recv_with`], except that when the peer's urgent byte follows the data,
    /// it is handed over too, as the last byte, with `true`: the taker sends it as its
    /// out-of-band byte in the same write, so that no reader sees the data before the mark
    /// without the mark, as none does on Linux (tcp_urg sets the mark as the segment is taken
    /// in). What it returns is consumed, the urgent byte included if it took all.
    pub fn recv_through_urgent(
        &mut self,
        now: Instant,
        drain: impl FnOnce(&[u8], &[u8], bool) -> usize,
    ) -> Result<usize, Errno> {
        match self.rcv.urgent_offset() {
            Some(at) if at > 0 => Ok(self.drain_front(now, at + 1, |a, b| drain(a, b, true))),
            _ => self.recv_with(now, |a, b| drain(a, b, false)),
        }
    }

    /// The peer's urgent byte, once the reader has reached it (everything before it read, and it
    /// arrived in order): given to `take`, and gone from the stream if `take` says it took it.
    /// Whether it did. The service hands it to the program as the socketpair's out-of-band byte,
    /// whose reader then sees the mark, SIGURG and POLLPRI, and reads it in line or with MSG_OOB
    /// as SO_OOBINLINE says (RFC 9293 §3.8.5, as Linux's tcp_recvmsg and tcp_recv_urg).
    pub fn urgent_with(&mut self, now: Instant, take: impl FnOnce(u8) -> bool) -> bool {
        if self.rcv.urgent_offset() != Some(0) {
            return false;
        }
        let mut byte = [0u8];
        self.rcv.buf.read_at(0, &mut byte);
        if !take(byte[0]) {
            return false;
        }
        self.rcv.buf.discard(1);
        self.after_read(1, now);
        true
    }

    /// An urgent pointer came whose byte has not arrived (Linux's TCP_URG_NOTYET, when
    /// recv(MSG_OOB) says EAGAIN), or that is still to be read.
    pub fn urgent_pending(&self) -> bool {
        self.rcv.urg().is_some()
    }

    /// The program's send(MSG_OOB): `byte`, already queued as the last byte of the send buffer
    /// ([`Connection::send_with`]), is urgent. SND.UP goes past it (RFC 6093 §2, Linux's
    /// tcp_mark_urg), and segments carry URG until it is acknowledged.
    pub fn mark_urgent(&mut self) {
        if self.snd.buf.is_empty() {
            return;
        }
        self.snd_up = self.snd.data_end();
    }

    fn recv_inner(&mut self, buf: &mut [u8], consume: bool, now: Instant) -> Result<usize, Errno> {
        if !self.rcv.buf.is_empty() {
            if buf.is_empty() {
                return Ok(0);
            }
            if !consume {
                return Ok(self.rcv.buf.read_at(0, buf));
            }
            let n = self.rcv.buf.dequeue(buf);
            self.after_read(n, now);
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

    /// Reads received data at `now`. Ok(0) is end of file (peer's FIN, or after a reported
    /// reset).
    pub fn recv_at(&mut self, now: Instant, buf: &mut [u8]) -> Result<usize, Errno> {
        self.recv_inner(buf, true, now)
    }

    /// [`Connection::recv_at`] at the time the connection last heard from the peer (tests).
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        self.recv_inner(buf, true, self.last_rx)
    }

    /// MSG_PEEK.
    pub fn peek(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        self.recv_inner(buf, false, self.last_rx)
    }

    /// The reader took `n` bytes at `now`: grow the buffer if the flow needs it, and send a window
    /// update if the space freed opens the window enough.
    fn after_read(&mut self, n: usize, now: Instant) {
        self.rcv.after_read();
        if !self.is_synchronized() || self.rcv.fin_received {
            return;
        }
        if !self.cfg.recv_buffer_locked {
            // Linux bounds autotuning by tcp_rmem[2]; `window_space` is the larger of that and
            // rmem_max, which on a default host is tcp_rmem[2].
            let (max, mss) = (self.cfg.window_space as usize, self.eff_mss());
            self.rcv.adjust_space(n, now, max, mss);
            self.cfg.recv_buffer = self.rcv.buf.capacity();
        }
        if self.rcv.window_update_due(self.eff_mss()) {
            self.rcv.ack_now = true;
        }
    }

    /// shutdown(SHUT_WR): FIN after the queued data.
    pub fn shutdown_write(&mut self) {
        if self.snd.fin_queued {
            return;
        }
        match self.state {
            State::SynSent | State::SynReceived => {
                self.snd.fin_queued = true;
                self.release_syn();
            }
            State::Established => {
                self.snd.fin_queued = true;
                self.set_state(State::FinWait1);
            }
            State::CloseWait => {
                self.snd.fin_queued = true;
                self.set_state(State::LastAck);
            }
            _ => {}
        }
    }

    /// close(): graceful unless unread data remains or SO_LINGER is zero (then RST, as Linux).
    pub fn close(&mut self) {
        self.user_closed = true;
        let unread = !self.rcv.buf.is_empty() || self.rcv.holds_out_of_order_data();
        if self.cfg.linger == Some(Duration::ZERO) || (unread && self.is_synchronized()) {
            self.abort();
            return;
        }
        match self.state {
            State::SynSent | State::Listen => self.enter_closed(),
            State::SynReceived | State::Established | State::CloseWait => {
                self.snd.fin_queued = true;
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
                self.rst_pending = Some(Reset::Abort);
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
        self.timers.stop_all();
        self.rcv.clear_ack_owed();
        self.rcv.ack_now = false;
        self.syn_pending = false;
        self.probe_pending = false;
        self.snd.buf.release();
        self.rcv.assembler.clear();
        self.snd.rtxq.clear();
        self.snd.tlp_pending = false;
        if self.user_closed {
            self.rcv.buf.release();
        }
    }

    /// The connection failed: report `err` and close.
    fn fail(&mut self, err: Errno) {
        self.error = Some(err);
        self.eof_after_error = true;
        self.snd.fin_queued = true;
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
        self.timers
            .set(TimerKind::Close, now + self.cfg.time_wait());
        self.snd.buf.release();
    }

    fn establish(&mut self) {
        self.set_state(if self.snd.fin_queued {
            State::FinWait1
        } else {
            State::Established
        });
        self.snd.buf.allocate();
        self.rcv.buf.allocate();
        self.syn_pending = false;
        self.snd.retries = 0;
        self.snd.give_up_at = None;
    }

    // ----------------------------------------------------------------------------------------
    // Derived quantities.

    /// Our own segment's payload: the MSS we offer less the timestamp option once agreed. A SYN's
    /// window is counted in it, as Linux's.
    fn own_segment_size(&self) -> usize {
        usize::from(self.cfg.mss) - if self.ts_enabled { TS_OPTION_LEN } else { 0 }
    }

    /// Payload bytes per segment we send (RFC 9293 §3.7.1, RFC 7323 option overhead).
    fn eff_mss(&self) -> usize {
        let m = self.snd.peer_mss.min(self.cfg.mss as usize);
        let opt = if self.ts_enabled { TS_OPTION_LEN } else { 0 };
        m.saturating_sub(opt).max(32)
    }

    /// The payload that fits in a segment sent now: [`eff_mss`](Self::eff_mss) less the SACK
    /// blocks `emit` will add while out-of-order data waits or a D-SACK is to be reported, so
    /// header and payload still fit the MTU (Linux's `tcp_current_mss` subtracts them the same
    /// way).
    fn send_mss(&self) -> usize {
        if !self.sack_enabled || !self.rcv.has_sack_info() {
            return self.eff_mss();
        }
        let blocks = self.sack_block_count();
        self.eff_mss().saturating_sub(4 + 8 * blocks).max(32)
    }

    /// How many SACK blocks `emit` puts in a segment that is not a SYN.
    fn sack_block_count(&self) -> usize {
        if self.sack_enabled && self.rcv.has_sack_info() {
            self.rcv.sack_blocks(self.ts_enabled).len()
        } else {
            0
        }
    }

    /// What the send half needs to know of the rest of the connection now.
    fn send_context(&self) -> SendContext {
        SendContext {
            eff_mss: self.eff_mss(),
            send_mss: self.send_mss(),
            sack_enabled: self.sack_enabled,
            ts_enabled: self.ts_enabled,
            ts_offset: self.ts_offset,
            nodelay: self.cfg.nodelay,
            cork: self.cfg.cork || self.more,
            synchronized: self.is_synchronized(),
            ecn: self.ecn,
            tso_segs: self.tso_segs(),
            urgent: self.snd_up > self.snd.una,
        }
    }

    /// How many segments one segment of new data may stand for. With a device that cuts
    /// super-segments into segments filling the MTU, as many as fit 64 KiB of IP packet, if the
    /// peer takes segments that fill our MTU (its MSS and the path allow ours); else one.
    fn tso_segs(&self) -> usize {
        // While urgent data waits to go, one segment at a time: the device would copy the
        // urgent pointer into every segment it cut a super-segment into.
        if !self.cfg.tso
            || self.snd.peer_mss < usize::from(self.cfg.mss)
            || self.snd_up > self.snd.nxt
        {
            return 1;
        }
        // The IP packet's 64 KiB less its header and the largest TCP header.
        ((65_535 - 20 - 60) / self.send_mss()).clamp(1, 44)
    }

    /// Decides the next data/FIN segment, without side effects (shared by `poll_at`): only in
    /// the states where data or a FIN may be sent.
    fn next_send(&self) -> Option<Plan> {
        if !matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        ) && !self.sends_early()
        {
            return None;
        }
        self.snd.next_segment(&self.send_context())
    }

    fn keepalive_deadline(&self) -> Option<Instant> {
        if !self.cfg.keepalive
            || !matches!(
                self.state,
                State::Established | State::CloseWait | State::FinWait2
            )
            || self.snd.max != self.snd.una
            || !self.snd.buf.is_empty()
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
        {
            return Some(now);
        }
        let timers = earliest(self.timers.next_deadline(), self.keepalive_deadline());
        if self.next_send().is_some() {
            return match self.paced_until(now) {
                Some(at) => earliest(Some(at), timers),
                None => Some(now),
            };
        }
        timers
    }

    fn arm_rtx(&mut self, now: Instant) {
        self.snd.arm_rtx(now, &mut self.timers);
    }

    /// TCP_USER_TIMEOUT at a retransmission or probe timeout: has the episode that started at
    /// `episode_start` (the first retransmission by timeout, or the first window probe's wait)
    /// lasted too long?
    fn user_timeout_passed(&mut self, now: Instant, episode_start: Instant) -> bool {
        let limit = self.cfg.user_timeout;
        if limit.is_zero() {
            return false;
        }
        let end = *self.snd.give_up_at.get_or_insert(episode_start + limit);
        now >= end
    }

    /// RFC 5961 §7: a challenge ACK, within Linux's limits.
    fn challenge(&mut self, now: Instant) {
        let (interval, budget) = (self.cfg.invalid_ratelimit, &self.cfg.challenge_budget);
        self.rcv.challenge_ack(now, interval, budget);
    }

    /// A duplicate ACK for a segment out of the window or failing PAWS (RFC 9293 §3.10.7.4),
    /// rate-limited as Linux's when the segment takes no sequence space.
    fn answer_invalid(&mut self, now: Instant, has_data: bool) {
        if self
            .rcv
            .may_answer_invalid(now, has_data, self.cfg.invalid_ratelimit)
        {
            self.rcv.ack_now = true;
        }
    }

    fn handle_timers(&mut self, now: Instant) {
        if self.timers.expired(TimerKind::Close, now) {
            // TIME-WAIT over, or orphaned FIN-WAIT-2 timed out.
            self.enter_closed();
            return;
        }
        // A loss probe due no later than the RTO goes first, and restarts it when sent.
        let probe_first = self
            .timers
            .deadline(TimerKind::TailLossProbe)
            .is_some_and(|p| {
                now >= p
                    && self
                        .timers
                        .deadline(TimerKind::Retransmit)
                        .is_none_or(|r| p <= r)
            });
        if !probe_first && self.timers.expired(TimerKind::Retransmit, now) {
            self.on_rtx_timeout(now);
            if self.state == State::Closed {
                return;
            }
        }
        match self.timers.loss_detection() {
            Some((TimerKind::RackReorder, d)) if now >= d => {
                self.timers.stop(TimerKind::RackReorder);
                let ctx = self.send_context();
                self.snd.rack_detect(now, &ctx, &mut self.timers);
                // The reordering timer stood in for the PTO (one loss-detection timer at a
                // time): with nothing left for it, the PTO runs again, or an unanswered flight
                // would wait for the RTO.
                self.snd.arm_tlp(now, &ctx, &mut self.timers);
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
                if !self.snd.rto_recovery && self.snd.max > self.snd.una {
                    self.snd.tlp_pending = true;
                }
            }
            _ => {}
        }
        if self.timers.expired(TimerKind::Persist, now) {
            self.timers.stop(TimerKind::Persist);
            self.snd.probes_unanswered += 1;
            let first_probe = self.last_rx.max(self.last_tx);
            if self.snd.probes_unanswered > self.cfg.data_retries && self.cfg.user_timeout.is_zero()
                || self.user_timeout_passed(now, first_probe)
            {
                self.time_out();
                return;
            }
            if self.snd.wnd == 0 || self.next_send_forced().is_none() {
                self.probe_pending = true;
            } else {
                self.snd.force_send = true;
            }
            self.snd.persist_backoff += 1;
        }
        if let Some(d) = self.keepalive_deadline() {
            if now >= d {
                // With TCP_USER_TIMEOUT the silence's length decides, not the count (Linux).
                let ut = self.cfg.user_timeout;
                let expired = if ut.is_zero() {
                    self.keepalive_probes >= u32::from(self.cfg.keepalive_count)
                } else {
                    self.keepalive_probes > 0 && now.saturating_since(self.last_rx) >= ut
                };
                if expired {
                    self.time_out();
                    return;
                }
                self.keepalive_probes += 1;
                self.probe_pending = true;
            }
        }
        if self.timers.expired(TimerKind::DelayedAck, now) {
            self.rcv.on_delayed_ack_timeout(self.snd.rtt.rto());
            self.rcv.ack_now = true;
        }
    }

    fn next_send_forced(&mut self) -> Option<Plan> {
        let saved = self.snd.force_send;
        self.snd.force_send = true;
        let p = self.next_send();
        self.snd.force_send = saved;
        p
    }

    /// The sender's state at a retransmission timeout, at debug level: what it takes to tell why
    /// loss recovery fell back to the timer (scoreboard, cwnd and pipe, timers, first and last
    /// record in flight).
    fn log_timeout(&self, now: Instant) {
        let una = self.snd.una;
        let f = self.snd.rtxq.first();
        let l = self.snd.rtxq.last();
        log::debug!(
            "tcp: retransmission timeout at {:?}: state={:?} retries={} rto={:?} srtt={:?} una={} flight={} nxt-una={} buflen={} fin_q={} recs={} sacked={} lost={} in_rec={} rto_rec={} cwnd={} pipe={} wnd={} tlp_end={:?} loss_timer={:?} armed_ago={:?} first={:?} last={:?}",
            now,
            self.state,
            self.snd.retries,
            self.snd.rtt.rto(),
            self.snd.rtt.srtt(),
            una.0,
            self.snd.max.since(una),
            self.snd.nxt.since(una),
            self.snd.buf.len(),
            self.snd.fin_queued,
            self.snd.rtxq.len(),
            self.snd.rtxq.sacked_bytes(),
            self.snd.rtxq.lost_bytes(),
            self.snd.in_recovery,
            self.snd.rto_recovery,
            self.snd.cc.cwnd(),
            self.snd.pipe(&self.send_context()),
            self.snd.wnd,
            self.snd.tlp_end.map(|(e, r)| (e.since(una), r)),
            self.timers
                .loss_detection()
                .map(|(k, t)| (t.saturating_since(now), k)),
            now.saturating_since(self.timers.armed_at(TimerKind::Retransmit)),
            f.map(|r| (r.start.since(una), r.span(), now.saturating_since(r.sent), r.retransmitted, r.lost, r.sacked)),
            l.map(|r| (r.start.since(una), r.span(), now.saturating_since(r.sent), r.retransmitted, r.lost, r.sacked)),
        );
    }

    /// Whether TCP_DEFER_ACCEPT holds this passive connection in SYN-RECEIVED now, for a bare
    /// ACK (`bare`: no data, no FIN) that would complete it: set, and fewer SYN-ACK timeouts so
    /// far than it allows.
    fn defers(&self, bare: bool) -> bool {
        bare && self.state == State::SynReceived
            && !self.active_open
            && !self.is_fast_open_child()
            && self.snd.retries < u32::from(self.cfg.defer_accept)
    }

    /// RFC 6298 §5.4-5.7 and RFC 5681 §3.1 on a retransmission timeout.
    fn on_rtx_timeout(&mut self, now: Instant) {
        let armed_at = self.timers.armed_at(TimerKind::Retransmit);
        self.timers.stop(TimerKind::Retransmit);
        self.snd.retries += 1;
        // Linux times TCP_USER_TIMEOUT from its retrans_stamp: a SYN's first sending, else the
        // first retransmission by timeout (a loss probe does not set it), this one the first time.
        let start = if self.state == State::SynSent {
            armed_at
        } else {
            now
        };
        if self.user_timeout_passed(now, start) {
            log::debug!("tcp: TCP_USER_TIMEOUT passed in {:?}", self.state);
            self.time_out();
            return;
        }
        let limit = match self.state {
            State::SynSent => u32::from(self.cfg.syn_retries),
            // Linux's reqsk_timer_handler: the listener's TCP_SYNCNT, else tcp_synack_retries.
            State::SynReceived if !self.active_open => u32::from(self.cfg.synack_retries),
            State::SynReceived => u32::from(self.cfg.syn_retries),
            _ => self.cfg.data_retries,
        };
        // TCP_DEFER_ACCEPT once the peer's ACK came (Linux's syn_ack_recalc, with the timeouts
        // before this one as its num_timeout): the connection lives until the deferring is over,
        // and the SYN-ACK goes again only at its end, the peer's last chance to send data or ACK.
        let deferring = self.handshake_acked && self.defers(true);
        let defer = u32::from(self.cfg.defer_accept);
        let before = self.snd.retries - 1;
        #[cfg(test)]
        if let Some(t) = self.trace.as_mut() {
            t.push(Trace::Rto {
                now,
                armed_at: self.timers.armed_at(TimerKind::Retransmit),
                rto: self.snd.rtt.rto(),
                retries: self.snd.retries,
                linear: self.state == State::SynSent
                    && self.snd.retries <= u32::from(self.cfg.syn_linear_timeouts) + 1,
            });
        }
        let _ = now;
        let expired = if self.handshake_acked && self.state == State::SynReceived {
            before >= limit && before >= defer
        } else if self.state == State::SynSent {
            // Linux's retransmits_timed_out for a SYN: its limit is a time, what 1, 2, 4…
            // seconds of backoff from the first SYN take for `limit` retransmissions, checked
            // at each timeout once one has been sent; TCP_USER_TIMEOUT, when set, replaces it.
            before > 0
                && self.cfg.user_timeout.is_zero()
                && now.saturating_since(armed_at) >= syn_time_limit(limit)
        } else {
            // Counted. Linux times it (what 200 ms doubling takes for that many, from the first
            // retransmission by timeout), and its timers, rounded up to a jiffy (210 ms on these
            // machines), cross that time at the same count for tcp_retries2 of 4 and more, the
            // default 15 among them; with exact timers the time would take one more.
            self.snd.retries > limit
        };
        if expired {
            log::debug!("tcp: retransmission limit reached in {:?}", self.state);
            if self.state == State::SynReceived && !self.active_open && !self.is_fast_open_child() {
                self.enter_closed();
            } else {
                self.time_out();
            }
            return;
        }
        self.snd.timeouts = self.snd.timeouts.saturating_add(1);
        self.log_timeout(now);
        // A SYN's first tcp_syn_linear_timeouts timeouts keep the initial RTO (Linux 6.5's
        // tcp_retransmit_timer, by its total_rto); every other doubles it.
        if self.state != State::SynSent
            || self.snd.retries > u32::from(self.cfg.syn_linear_timeouts)
        {
            self.snd.rtt.backoff();
        }
        self.snd.rtt_timing = None;
        match self.state {
            State::SynReceived if deferring && before + 1 < defer => {
                // Waiting for data after the ACK: no SYN-ACK, the timer alone goes on.
                self.arm_rtx(now);
            }
            State::SynSent | State::SynReceived => {
                self.syn_pending = true;
                // A Fast Open child's data in flight goes again too, after the SYN-ACK.
                if self.sends_early() && self.snd.max > self.snd.una {
                    let eff_mss = self.eff_mss();
                    self.snd.on_rto(eff_mss, &mut self.timers);
                }
            }
            _ => {
                let eff_mss = self.eff_mss();
                self.snd.on_rto(eff_mss, &mut self.timers);
            }
        }
    }

    /// Emits what is due: RST, SYN/SYN-ACK, data and FIN (within cwnd, peer window, Nagle),
    /// probes and ACKs, after running expired timers. Each segment's payload is given to `sink`
    /// as one or two slices of the send buffer.
    pub fn poll_transmit(&mut self, now: Instant, sink: &mut Sink<'_>) {
        self.handle_timers(now);
        if let Some(reset) = self.rst_pending.take() {
            let seg = match reset {
                Reset::Reply(seq) => OutSegment::reset_at(seq),
                Reset::Abort => OutSegment {
                    seq: self.snd.max,
                    ack: self.rcv.nxt,
                    // As any segment of the connection, ECE while an echo is owed (Linux).
                    flags: if self.ecn && self.rcv.ece_pending {
                        TcpFlags::RST | TcpFlags::ACK | TcpFlags::ECE
                    } else {
                        TcpFlags::RST | TcpFlags::ACK
                    },
                    window: (self.rcv.window() >> self.rcv.wscale).min(65535) as u16,
                    options: TcpOptions {
                        timestamps: self
                            .ts_enabled
                            .then(|| (self.ts_now(now), self.rcv.ts_recent)),
                        ..TcpOptions::default()
                    },
                    payload_len: 0,
                    ecn: Ecn::NotEct,
                    urgent: 0,
                },
            };
            self.segments_sent = self.segments_sent.wrapping_add(1);
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
                    if self.snd.retries > 0 {
                        self.snd.retransmits += 1;
                    }
                    // A Fast Open cookie in our first SYN takes data with it (RFC 7413 §3), as
                    // does Linux's SYN without one; a retransmitted SYN goes bare, the data
                    // after the handshake (Linux).
                    let data = match self.fast_open.as_deref() {
                        Some(f)
                            if self.state == State::SynSent
                                && self.snd.retries == 0
                                && (f.no_cookie || f.send.is_some_and(|c| !c.is_request())) =>
                        {
                            self.snd.buf.len().min(self.syn_data_room())
                        }
                        _ => 0,
                    };
                    self.emit(now, sink, self.snd.iss, flags, 0, data);
                    if let Some(f) = self.fast_open.as_deref_mut() {
                        f.syn_data = f.syn_data.max(data);
                    }
                    if self.is_fast_open_child() {
                        // Data may follow at once; a SYN-ACK sent again leaves it where it is.
                        if self.snd.una == self.snd.iss {
                            self.snd.una = self.snd.iss + 1;
                            self.snd.nxt = self.snd.una;
                            self.snd.max = self.snd.una;
                        }
                    } else {
                        self.snd.nxt = self.snd.iss + 1 + data;
                        self.snd.max = self.snd.max.max(self.snd.nxt);
                    }
                    if !self.timers.is_armed(TimerKind::Retransmit) {
                        if self.snd.retries == 0 {
                            self.arm_rtx(now);
                        } else {
                            self.snd.rearm_rtx(now, &mut self.timers);
                        }
                    }
                    if self.snd.retries == 0 && !self.synack_resent {
                        self.snd.rtt_timing = Some(now);
                    }
                }
                if self.sends_early() {
                    self.send_data(now, sink);
                }
            }
            _ => self.send_data(now, sink),
        }
        if self.probe_pending {
            self.probe_pending = false;
            // Window probe / keepalive: an old sequence number elicits an ACK (RFC 9293 §3.8.4).
            self.emit(now, sink, self.snd.una - 1, TcpFlags::ACK, 0, 0);
        }
        if self.rcv.ack_now && self.state != State::Closed {
            // Pure ACKs carry SND.MAX so they stay acceptable during go-back-N.
            self.emit(now, sink, self.snd.max, TcpFlags::ACK, 0, 0);
        }
        self.update_persist(now);
    }

    fn send_data(&mut self, now: Instant, sink: &mut Sink<'_>) {
        let mut sent_new = false;
        while let Some(plan) = self.next_send() {
            // A loss probe and a timeout's resend go when their timer says (Linux's
            // tcp_send_loss_probe and tcp_retransmit_timer send without tcp_pacing_check): held
            // back, the probe was dropped with `tlp_pending` below and recovery waited for the RTO.
            let timed = matches!(plan.cause, SendCause::Probe | SendCause::Timeout);
            if !timed && self.paced_until(now).is_some() {
                break;
            }
            // Restart from the initial window after an idle period (RFC 5681 §4.1).
            if plan.cause == SendCause::New
                && self.snd.una == self.snd.max
                && now.saturating_since(self.last_tx) > self.snd.rtt.rto()
            {
                self.snd.cc.on_idle_restart();
            }
            let mut flags = TcpFlags::ACK;
            let off = plan.seq.since(self.snd.una);
            if plan.fin {
                flags.insert(TcpFlags::FIN);
            }
            if plan.len > 0 && off + plan.len == self.snd.buf.len() {
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
            let mss = self.send_mss();
            sent_new |= self.snd.on_sent(&plan, end, now, mss, &mut self.timers);
            self.after_paced_send(now, plan.len);
        }
        self.snd.tlp_pending = false;
        if sent_new {
            let ctx = self.send_context();
            self.snd.arm_tlp(now, &ctx, &mut self.timers);
        }
    }

    /// Arms or clears the persist timer (zero window / sender SWS override, RFC 9293 §3.8.6.1).
    fn update_persist(&mut self, now: Instant) {
        let stalled = self.is_synchronized()
            && self.snd.may_stall(&self.timers)
            && self.next_send().is_none();
        self.snd.update_persist(now, stalled, &mut self.timers);
    }

    fn emit(
        &mut self,
        now: Instant,
        sink: &mut Sink<'_>,
        seq: SeqNum,
        mut flags: TcpFlags,
        off: usize,
        len: usize,
    ) {
        // (A Fast Open child's data in SYN-RECEIVED is no handshake segment: its window is
        // scaled, RFC 7323 §2.2.)
        let in_handshake = matches!(self.state, State::SynSent | State::SynReceived)
            && (flags.contains(TcpFlags::SYN) || !self.sends_early());
        // A SYN's window is counted in our own segments (our MSS less the timestamp option once
        // agreed), as Linux's; later windows use the peer's segment size for SWS avoidance.
        let seg_mss = if in_handshake {
            self.own_segment_size()
        } else {
            self.eff_mss()
        };
        let window = self.rcv.advertise_window(in_handshake, seg_mss);
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
            // Fast Open's option goes once, on the first SYN or SYN-ACK.
            options.fast_open = self.fast_open.as_mut().and_then(|f| f.send.take());
        } else {
            if self.ts_enabled {
                options.timestamps = Some((self.ts_now(now), self.rcv.ts_recent));
            }
            if self.sack_enabled && self.rcv.has_sack_info() {
                options.sack_blocks = self.rcv.sack_blocks(self.ts_enabled);
            }
        }
        let ecn = self.ecn_mark(seq, &mut flags, len);
        let urgent = if syn {
            0
        } else {
            self.urgent_pointer(seq, &mut flags)
        };
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
            ecn,
            urgent,
        };
        let (a, b) = self.snd.buf.peek(off, len);
        debug_assert_eq!(a.len() + b.len(), len);
        sink(&seg, a, b);
        self.segments_sent = self.segments_sent.wrapping_add(1);
        self.last_tx = now;
        if len > 0 {
            self.rcv.on_data_sent(now);
        }
        if flags.contains(TcpFlags::ACK) {
            self.rcv.on_ack_sent(&mut self.timers);
        }
    }

    /// The urgent pointer of a segment at `seq`, with URG put in `flags`, while urgent data is
    /// unacknowledged and lies ahead of it: SND.UP less the segment's sequence number (RFC 6093
    /// §2, the byte after the urgent one), or 0xFFFF when SND.UP is further than the field
    /// reaches and the segment is within 64 KiB of the highest sent, as Linux's tcp_transmit_skb
    /// (whose snd_nxt is our SND.MAX). The capped pointer names a byte short of the urgent one,
    /// which a receiver may take for it if no later pointer comes first: the field is 16 bits
    /// (RFC 6093 §4). Pure ACKs carry it too while the urgent byte waits for the window,
    /// which is how the peer learns of it then (RFC 1122 §4.2.2.4 note).
    fn urgent_pointer(&self, seq: SeqNum, flags: &mut TcpFlags) -> u16 {
        let up = self.snd_up;
        if !(up > self.snd.una && seq < up) {
            return 0;
        }
        let dist = up.since(seq);
        if dist < 0x10000 {
            flags.insert(TcpFlags::URG);
            dist as u16
        } else if seq + 0xFFFF > self.snd.max {
            flags.insert(TcpFlags::URG);
            0xFFFF
        } else {
            0
        }
    }

    /// ECN's part of a segment about to go out at `seq` with `len` bytes of payload (RFC 3168
    /// §6.1): its flags, and the IP header's ECN field, returned.
    fn ecn_mark(&mut self, seq: SeqNum, flags: &mut TcpFlags, len: usize) -> Ecn {
        if !self.ecn {
            return Ecn::NotEct;
        }
        if flags.contains(TcpFlags::SYN) {
            if flags.contains(TcpFlags::ACK) {
                // An ECN-setup SYN-ACK: ECE, not CWR (§6.1.1).
                flags.insert(TcpFlags::ECE);
            } else if self.snd.retries == 0 {
                // An ECN-setup SYN: ECE and CWR. Not on a retransmission: the SYN may have been
                // dropped for them (§6.1.1.1; Linux's tcp_ecn_clear_syn, tcp_ecn_fallback 1).
                flags.insert(TcpFlags::ECE | TcpFlags::CWR);
            }
            // SYNs and SYN-ACKs are Not-ECT (§6.1.1).
            return Ecn::NotEct;
        }
        // Only new data is ECT (Linux's tcp_ecn_send: a payload, and not before SND.NXT); pure
        // ACKs, window probes and retransmissions are not (§6.1.5 and §6.1.6 allow no more), and
        // the CWR that follows a reduction rides on that new data (§6.1.2).
        let mut ecn = Ecn::NotEct;
        if len > 0 && seq >= self.snd.max {
            ecn = Ecn::Ect0;
            if std::mem::take(&mut self.snd.cwr_pending) {
                flags.insert(TcpFlags::CWR);
            }
        }
        // Every segment echoes congestion until the peer's CWR (§6.1.3).
        if self.rcv.ece_pending {
            flags.insert(TcpFlags::ECE);
        }
        ecn
    }

    fn ts_now(&self, now: Instant) -> u32 {
        timestamp_at(now, self.ts_offset)
    }

    // ----------------------------------------------------------------------------------------
    // Input.

    /// Processes one received segment (RFC 9293 §3.10.7).
    pub fn input(&mut self, now: Instant, seg: &Segment) {
        self.segments_received = self.segments_received.wrapping_add(1);
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
        let ack_ok = f.contains(TcpFlags::ACK) && seg.ack > self.snd.iss && seg.ack <= self.snd.max;
        if f.contains(TcpFlags::ACK) && !ack_ok {
            if !f.contains(TcpFlags::RST) {
                self.rst_pending = Some(Reset::Reply(seg.ack));
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
        // RFC 3168 §6.1.1: ECN only if the peer's SYN-ACK has ECE and not CWR (Linux's
        // tcp_ecn_rcv_synack), or, in a simultaneous open, its SYN has both (tcp_ecn_rcv_syn).
        let (ece, cwr) = (f.contains(TcpFlags::ECE), f.contains(TcpFlags::CWR));
        self.ecn &= if ack_ok { ece && !cwr } else { ece && cwr };
        if ack_ok {
            // SYN-ACK: our SYN is acknowledged. The window our SYN offered is open from RCV.NXT
            // now, before any ACK of ours says it again: data may follow the SYN-ACK at once (a
            // Fast Open server's reply does).
            self.rcv.advertise_window(true, usize::from(self.cfg.mss));
            self.snd.una = seg.ack;
            self.fast_open_syn_acked(seg);
            self.snd.nxt = self.snd.nxt.max(self.snd.una);
            self.snd.take_syn_window(seg.seq, seg.window);
            self.snd.wl2 = seg.ack;
            self.timers.stop(TimerKind::Retransmit);
            self.take_rtt_sample(now, seg);
            self.snd.rtt.reset_backoff();
            self.establish();
            // Linux's tcp_rcv_synsent_state_process: a socket in interactive mode (TCP_QUICKACK 0
            // before connect, as haproxy sets so that its request carries the ACK) or with
            // TCP_DEFER_ACCEPT holds the handshake's ACK up to TCP_DELACK_MAX for data to carry.
            if self.rcv.pingpong || self.cfg.defer_accept > 0 {
                self.rcv
                    .hold_handshake_ack(now, usize::from(self.cfg.mss), &mut self.timers);
            } else {
                self.rcv.ack_now = true;
            }
            // Data carried on the SYN-ACK is not accepted; the peer will resend it.
        } else {
            // Simultaneous open: answer with SYN-ACK from SYN-RECEIVED.
            self.set_state(State::SynReceived);
            self.snd.take_syn_window(seg.seq, seg.window);
            self.syn_pending = true;
            self.timers.stop(TimerKind::Retransmit);
        }
    }

    /// A Fast Open client's SYN-ACK (RFC 7413 §4.2.3, Linux's `tcp_rcv_fastopen_synack`): the
    /// cookie it brings is kept for the stack; the SYN's data it acknowledges leaves the buffer,
    /// and what it does not is sent again once established, as new data.
    fn fast_open_syn_acked(&mut self, seg: &Segment) {
        let Some(f) = self.fast_open.as_deref_mut() else {
            return;
        };
        if let Some(c) = seg.options.fast_open.filter(|c| !c.is_request()) {
            f.received = Some(c);
        }
        let acked = self.snd.una.since(self.snd.iss + 1).min(self.snd.buf.len());
        self.snd.buf.discard(acked);
        self.snd.bytes_acked += acked as u64;
        if self.snd.una < self.snd.max {
            self.snd.nxt = self.snd.una;
            self.snd.max = self.snd.una;
        }
        f.syn_data_acked = f.syn_data > 0 && acked >= f.syn_data;
    }

    fn take_rtt_sample(&mut self, now: Instant, seg: &Segment) {
        let ctx = self.send_context();
        self.snd.take_rtt_sample(now, seg, &ctx, true);
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
                self.synack_resent = true;
                self.snd.rtt_timing = None;
                return;
            }
            f.remove(TcpFlags::SYN);
            seq += 1;
        }

        // Linux's tcp_oow_rate_limited never holds back the answer to a segment that takes
        // sequence space (data or a FIN): a resent FIN is answered however soon it comes.
        let occupies = !payload.is_empty() || f.contains(TcpFlags::FIN);
        if !f.contains(TcpFlags::RST) && self.paws_rejects(seg) {
            self.answer_invalid(now, occupies);
            return;
        }

        // 1. Sequence number check.
        let seg_len =
            payload.len() + f.contains(TcpFlags::SYN) as usize + f.contains(TcpFlags::FIN) as usize;
        if !self.rcv.acceptable(seq, seg_len) {
            if !f.contains(TcpFlags::RST) {
                if !payload.is_empty() && seq + payload.len() <= self.rcv.nxt {
                    // Wholly a duplicate: reported as a D-SACK (RFC 2883, Linux's
                    // tcp_send_dupack).
                    self.rcv.note_duplicate(seq, seq + payload.len());
                }
                self.answer_invalid(now, occupies);
                if self.state == State::TimeWait && f.contains(TcpFlags::FIN) {
                    self.timers
                        .set(TimerKind::Close, now + self.cfg.time_wait());
                }
            }
            return;
        }

        // 2. RST (RFC 5961 §3.2): exact match resets, otherwise challenge.
        if f.contains(TcpFlags::RST) {
            if seq != self.rcv.nxt {
                self.challenge(now);
                return;
            }
            match self.state {
                // A Fast Open child is the program's already: it learns of the reset.
                State::SynReceived if self.is_fast_open_child() => self.fail(Errno::ECONNRESET),
                State::SynReceived if !self.active_open => self.enter_closed(),
                State::SynReceived => self.fail(Errno::ECONNREFUSED),
                State::Established | State::FinWait1 | State::FinWait2 => {
                    self.fail(Errno::ECONNRESET)
                }
                // After the peer's FIN the reader has had its end of file: Linux's tcp_reset
                // leaves EPIPE for SO_ERROR and the next send (BSD's choice, its comment says).
                State::CloseWait => self.fail(Errno::EPIPE),
                _ => self.enter_closed(),
            }
            return;
        }

        // 4. SYN in a synchronized state (RFC 5961 §4): challenge ACK.
        if f.contains(TcpFlags::SYN) {
            self.challenge(now);
            return;
        }

        // Trim to the window.
        let (seq, payload, f) = self.rcv.trim_to_window(seq, payload, f);

        // 5. ACK.
        if !f.contains(TcpFlags::ACK) {
            return;
        }
        let mut synack_timing_after = false;
        self.last_rx = now;
        self.keepalive_probes = 0;
        self.snd.probes_unanswered = 0;
        if self.sends_early() {
            // The SYN-ACK's place is already out of the books: any ACK of it (and maybe of some
            // data, which the ACK processing below takes) completes the handshake.
            if seg.ack >= self.snd.una && seg.ack <= self.snd.max {
                if self.snd.max == self.snd.una {
                    self.timers.stop(TimerKind::Retransmit);
                }
                // The ACK processing below may time data it acknowledges or SACKs: the
                // SYN-ACK's timing only if that gives no sample, as Linux's
                // tcp_rcv_state_process takes tcp_synack_rtt_meas only while srtt is 0.
                synack_timing_after = true;
                self.snd.rtt.reset_backoff();
                self.snd.retries = 0;
                self.snd.wl1 = seq.max(self.snd.wl1) - 1; // force the window update below
                self.snd.wl2 = self.snd.una;
                self.establish();
            } else {
                self.rst_pending = Some(Reset::Reply(seg.ack));
                return;
            }
        } else if self.state == State::SynReceived {
            if seg.ack > self.snd.una && seg.ack <= self.snd.max {
                if self.defers(payload.is_empty() && !f.contains(TcpFlags::FIN)) {
                    // TCP_DEFER_ACCEPT (Linux's tcp_check_req): while the deferring lasts, the
                    // bare ACK ending the handshake is dropped (its timestamp kept), and the
                    // connection waits in SYN-RECEIVED for data to complete it.
                    if self.ts_enabled {
                        self.rcv.update_ts_recent(seq, seg.options.timestamps);
                    }
                    self.handshake_acked = true;
                    return;
                }
                self.snd.una = seg.ack;
                self.snd.nxt = self.snd.nxt.max(self.snd.una);
                self.timers.stop(TimerKind::Retransmit);
                self.take_rtt_sample(now, seg);
                self.snd.rtt.reset_backoff();
                self.snd.wl1 = seq.max(self.snd.wl1) - 1; // force the window update below
                self.snd.wl2 = seg.ack;
                self.establish();
            } else {
                self.rst_pending = Some(Reset::Reply(seg.ack));
                return;
            }
        }
        if seg.ack > self.snd.max {
            // An ACK of data never sent: dropped, and answered with an ACK (RFC 9293 §3.10.7.4),
            // rate-limited as a challenge ACK (RFC 5961 §5.2), as Linux since 6.10 does.
            self.challenge(now);
            return;
        }
        // RFC 5961 §5.2: ACKs too far behind are challenged; "too far" is the largest window
        // the peer offered, or what it has acknowledged so far if less (Linux's tcp_ack).
        let acked = usize::try_from(self.snd.bytes_acked).unwrap_or(usize::MAX);
        if seg.ack < self.snd.una - self.snd.max_wnd.min(acked).max(1) {
            self.challenge(now);
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
        if synack_timing_after {
            if self.snd.rtt.srtt().is_none() {
                self.take_rtt_sample(now, seg);
            }
            self.snd.rtt_timing = None;
        }
        // The receiver's RTT sample from the echoed timestamp, after the ACK as in Linux's
        // tcp_rcv_established.
        if let Some((_, tsecr)) = seg.options.timestamps.filter(|_| self.ts_enabled) {
            let mss = self.rcv.mss(self.eff_mss());
            self.rcv
                .rtt_measure_timestamp(tsecr, self.ts_now(now), payload.len(), mss);
        }

        // 6. The URG bit (RFC 9293 §3.10.7.4), while the peer may still send data; its pointer
        // is read from the segment's own sequence number, before any trimming (Linux's tcp_urg).
        if f.contains(TcpFlags::URG)
            && matches!(
                self.state,
                State::Established | State::FinWait1 | State::FinWait2
            )
        {
            self.rcv.on_urgent(seg.seq, seg.urgent);
        }

        // 7. Segment text.
        if !payload.is_empty() || f.contains(TcpFlags::FIN) {
            match self.state {
                State::Established | State::FinWait1 | State::FinWait2 => {
                    if self.user_closed && !payload.is_empty() {
                        // Data for a socket nobody will read: reset (RFC 1122 §4.2.2.13, Linux).
                        self.rst_pending = Some(Reset::Reply(seg.ack));
                        self.enter_closed();
                        return;
                    }
                    if self.ecn {
                        let cwr = f.contains(TcpFlags::CWR);
                        let mss = self.eff_mss();
                        self.rcv.on_ecn(seg.ecn, cwr, !payload.is_empty(), mss);
                    }
                    let nxt = self.rcv.nxt;
                    self.process_data(now, seq, payload, f.contains(TcpFlags::FIN));
                    if !payload.is_empty() && seq == nxt && self.rcv.nxt != nxt {
                        // Taken in order: Linux's tcp_event_data_recv measures the segment as
                        // it came, before any trimming to RCV.NXT.
                        let remnant = f.intersects(
                            TcpFlags::FIN | TcpFlags::URG | TcpFlags::SYN | TcpFlags::PSH,
                        );
                        self.rcv.measure_rcv_mss(
                            seg.payload.len(),
                            20 + seg.options.buffer_len(),
                            self.tcp_header_len(),
                            remnant,
                            self.advmss(),
                        );
                    }
                }
                State::CloseWait | State::Closing | State::LastAck | State::TimeWait
                    if f.contains(TcpFlags::FIN) =>
                {
                    // Already have the peer's FIN; a retransmission of it is acknowledged.
                    self.rcv.ack_now = true;
                    if self.state == State::TimeWait {
                        self.timers
                            .set(TimerKind::Close, now + self.cfg.time_wait());
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
        let old_una = self.snd.una;
        let ctx = self.send_context();
        self.snd
            .on_ack(now, seg, seq, data_len, f, &ctx, &mut self.timers);
        if self.snd.una != old_una {
            self.expand_send_buffer();
        }
        // Urgent mode ends once the urgent data is acknowledged, and outside it SND.UP follows
        // SND.UNA (Linux's tcp_clean_rtx_queue), so that it never falls 2^31 behind and seems
        // ahead again (the handshake moves SND.UNA past it without passing here).
        if self.snd_up <= old_una || self.snd_up <= self.snd.una {
            self.snd_up = self.snd.una;
        }

        // State transitions driven by our FIN being acknowledged.
        if self.snd.fin_acked && old_una != self.snd.una {
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

    fn process_data(&mut self, now: Instant, seq: SeqNum, payload: &[u8], fin: bool) {
        let outcome = self.rcv.on_data(
            now,
            seq,
            payload,
            fin,
            self.state == State::Established,
            self.cfg.mss,
            self.eff_mss(),
            self.cfg.delayed_ack,
            self.snd.rtt.rto(),
            &mut self.timers,
        );
        if outcome.out_of_order && !self.cfg.recv_buffer_locked {
            // Linux's tcp_data_queue_ofo ends in tcp_rcvbuf_grow: the window keeps room for the
            // flow while a hole is repaired.
            self.rcv
                .grow_buffer(self.cfg.window_space as usize, self.eff_mss());
            self.cfg.recv_buffer = self.rcv.buf.capacity();
        }
        if outcome.fin_reached {
            // The peer's FIN, in order (RFC 9293 §3.10.7.4, eighth step).
            match self.state {
                State::Established => self.set_state(State::CloseWait),
                State::FinWait1 => {
                    if self.snd.fin_acked {
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
        self.rcv.ack_owed_since()
    }

    /// SND.UNA: the stack watches it move to confirm the peer's neighbour entry.
    pub fn snd_una(&self) -> SeqNum {
        self.snd.una
    }

    /// For a connection in TIME-WAIT that a new one of the same ports may replace: the sequence
    /// number the new one starts at, a window past everything this one sent (Linux's
    /// `tcp_twsk_unique`: `tw_snd_nxt + 65535 + 2`), if timestamps were on, so that PAWS (RFC
    /// 7323 §5) keeps this one's old segments out of the new one; else none.
    pub fn successor_iss(&self) -> Option<u32> {
        if self.state() != State::TimeWait || !self.ts_enabled {
            return None;
        }
        let iss = self.snd.max.0.wrapping_add(65535 + 2);
        Some(if iss == 0 { 1 } else { iss })
    }

    #[cfg(test)]
    pub(crate) fn eff_mss_for_test(&self) -> usize {
        // What a full-sized segment carries now (less room for pending SACK blocks).
        self.send_mss()
    }

    /// The most the send buffer holds now (it grows with cwnd, see `expand_send_buffer`).
    pub fn send_buffer_capacity(&self) -> usize {
        self.snd.buf.capacity()
    }

    /// Linux's `max(mss_clamp, mss_cache)`: the largest segment either side allows, options
    /// not counted.
    pub fn mss_clamp(&self) -> usize {
        self.snd.peer_mss.min(self.cfg.mss as usize)
    }

    /// Urgent data is unacknowledged (SND.UP ahead of SND.UNA): Nagle does not hold.
    #[cfg(test)]
    pub(crate) fn urgent_mode(&self) -> bool {
        self.snd_up > self.snd.una
    }

    #[cfg(test)]
    pub(crate) fn snd_up(&self) -> SeqNum {
        self.snd_up
    }

    #[cfg(test)]
    pub(crate) fn nodelay(&self) -> bool {
        self.cfg.nodelay
    }

    #[cfg(test)]
    pub(crate) fn wscales(&self) -> (u8, u8) {
        (self.snd.wscale, self.rcv.wscale)
    }
}

/// How long a SYN may go unanswered before the connect fails, for `retries` retransmissions:
/// what doubling from the initial RTO (1 s) would take, the doubling stopping at TCP_RTO_MAX
/// (120 s) (Linux's tcp_model_timeout with TCP_TIMEOUT_INIT as its base).
fn syn_time_limit(retries: u32) -> Duration {
    const DOUBLINGS: u32 = 6; // ilog2(TCP_RTO_MAX / TCP_TIMEOUT_INIT)
    let secs = if retries <= DOUBLINGS {
        (2u64 << retries) - 1
    } else {
        (2u64 << DOUBLINGS) - 1 + u64::from(retries - DOUBLINGS) * 120
    };
    Duration::from_secs(secs)
}
