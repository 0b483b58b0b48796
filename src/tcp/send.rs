//! The send half of a TCP connection: the send sequence space (SND.UNA, SND.NXT, SND.MAX, the
//! peer's window and SND.WL1/WL2), the send buffer, the retransmission queue, loss detection and
//! recovery (RFC 6675 with RACK-TLP, RFC 8985; NewReno without SACK, RFC 6582), the congestion
//! control hooks and the sender's response to ECN (RFC 3168 §6.1.2), RTT measurement, and the
//! persist and tail-loss-probe state.
//!
//! Part of the sans-IO TCP engine. `Connection` owns the state machine and the wire: it asks the
//! send half what to send next ([`Sender::next_segment`]), emits it, and reports back what went
//! out and what the peer acknowledged. The retransmission, persist, RACK and TLP deadlines live
//! in the connection's timer table, which the methods that arm or clear them are given.
//!
//! Layout of the send sequence space once established: the first byte of `buf` sits at SND.UNA;
//! a queued FIN takes the sequence number right after the last byte. `nxt` is where the next new
//! transmission starts and `max` the highest sequence number ever sent (they only differ before
//! establishment). Retransmissions are driven by the retransmission queue (`recovery::RtxQueue`):
//! segments marked lost by RACK, duplicate ACKs or an RTO are resent one by one, and SACKed ones
//! never are.

use super::bbr::{AckSample, LossState};
use super::buffer::RingBuffer;
use super::congestion::{Algorithm, Congestion};
use super::connection::SendCause;
use super::rate::RateSampler;
use super::recovery::{RtxQueue, TxRecord};
use super::rtt::RttEstimator;
use super::segment::Segment;
use super::seq::SeqNum;
use super::timers::{TimerKind, Timers};
use crate::time::{Duration, Instant};
use crate::wire::tcp::TcpFlags;

/// RFC 9293 §3.7.1: default send MSS when the peer sends no MSS option (IPv4).
pub(crate) const DEFAULT_PEER_MSS: usize = 536;
/// RFC 8985 §7.2: worst-case delayed-ACK time, added to the PTO when one segment is in flight.
const WC_DEL_ACK: Duration = Duration::from_millis(200);
/// Added to 2·SRTT in the PTO, as Linux's tcp_schedule_loss_probe adds two jiffies (8 ms at
/// HZ=250, this host's kernel): time for a receiver busy reading, or a host busy with other
/// work, to answer. 2 ms made the loss tests quicker (16 MiB each way at 5% loss: 0.27-0.60 s
/// against 0.64-1.4 s) but, on a loaded two-CPU host, probed loss-free transfers spuriously
/// (tests/tcp_kernel.rs bulk_64_mib: a D-SACK in three runs of four).
const PTO_EXTRA: Duration = Duration::from_millis(8);
/// Tail loss probes sent before the RTO is left to act, each after twice the wait of the one
/// before (RFC 8985 sends one; see [`Sender::arm_tlp`]).
const MAX_PROBES: u8 = 3;
/// RFC 5681 §3.2 DupThresh.
const DUP_THRESH: usize = 3;

/// Our timestamp clock (RFC 7323 §5.4): milliseconds, offset per connection (RFC 7323 §7.1).
pub(crate) fn timestamp_at(now: Instant, offset: u32) -> u32 {
    (now.as_millis() as u32).wrapping_add(offset)
}

/// One segment the send half wants sent: where it starts, its payload length, whether a FIN
/// follows the payload, and why.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    pub(crate) seq: SeqNum,
    pub(crate) len: usize,
    pub(crate) fin: bool,
    pub(crate) cause: SendCause,
}

/// RFC 6937 state: see [`Sender::prr`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Prr {
    recover_fs: u32,
    delivered: u32,
    out: u32,
}

/// What the send half needs to know of the rest of the connection, copied in for each decision:
/// the negotiated options and the segment sizes they leave room for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SendContext {
    /// Payload bytes per full segment (the peer's MSS less our options).
    pub(crate) eff_mss: usize,
    /// Payload bytes that fit in a segment sent now (less the SACK blocks it will carry).
    pub(crate) send_mss: usize,
    pub(crate) sack_enabled: bool,
    pub(crate) ts_enabled: bool,
    /// Our timestamp offset, to read the peer's echoes.
    pub(crate) ts_offset: u32,
    /// TCP_NODELAY: Nagle is off.
    pub(crate) nodelay: bool,
    /// TCP_CORK or MSG_MORE: partial segments wait (Linux's TCP_NAGLE_CORK).
    pub(crate) cork: bool,
    /// The connection is past the handshake.
    pub(crate) synchronized: bool,
    /// ECN was negotiated (RFC 3168 §6.1.1): ECE in an ACK means congestion.
    pub(crate) ecn: bool,
    /// Segments of `send_mss` that one segment of new data may stand for: more than one when
    /// the device cuts super-segments (TSO).
    pub(crate) tso_segs: usize,
    /// Urgent data is unacknowledged (SND.UP ahead of SND.UNA, Linux's urgent mode): partial
    /// segments go, cork and Nagle notwithstanding (Linux's tcp_nagle_test).
    pub(crate) urgent: bool,
}

/// SND.* and what hangs off them (RFC 9293 §3.3.1).
pub(crate) struct Sender {
    /// ISS: our initial sequence number.
    pub(crate) iss: SeqNum,
    /// SND.UNA: the oldest unacknowledged sequence number.
    pub(crate) una: SeqNum,
    /// SND.NXT: where the next new transmission starts.
    pub(crate) nxt: SeqNum,
    /// The highest sequence number ever sent.
    pub(crate) max: SeqNum,
    /// SND.WND: the peer's window, scaled.
    pub(crate) wnd: usize,
    /// The largest window the peer has offered (sender SWS avoidance, RFC 1122 §4.2.3.4).
    pub(crate) max_wnd: usize,
    /// SND.WL1 and SND.WL2: the segment that last updated the window.
    pub(crate) wl1: SeqNum,
    pub(crate) wl2: SeqNum,
    /// The peer's window scale shift (RFC 7323 §2).
    pub(crate) wscale: u8,
    /// The largest segment the peer takes (its MSS option), lowered when a router on the path
    /// needs smaller ones (RFC 1191).
    pub(crate) peer_mss: usize,
    /// Data from SND.UNA on: sent and unacknowledged, then not yet sent.
    pub(crate) buf: RingBuffer,
    /// The end of the last segment shorter than the MSS sent (Linux's `snd_sml`): Nagle holds
    /// back a partial segment only while such a one is unacknowledged.
    pub(crate) sml: SeqNum,
    /// The user shut down writing: a FIN follows the queued data.
    pub(crate) fin_queued: bool,
    pub(crate) fin_acked: bool,

    // Reliability and congestion.
    /// Retransmission timeouts in a row (and SYN retransmissions).
    pub(crate) retries: u32,
    pub(crate) rtt: RttEstimator,
    /// When our SYN or SYN-ACK went, timed for an RTT sample when timestamps are off (none once
    /// it is resent: Karn). Data is timed by each ACK from the retransmission queue instead.
    pub(crate) rtt_timing: Option<Instant>,
    pub(crate) cc: Congestion,
    pub(crate) dupacks: u32,
    /// In loss recovery: fast recovery, or after an RTO when `rto_recovery`.
    pub(crate) in_recovery: bool,
    pub(crate) rto_recovery: bool,
    /// RFC 6582 `recover`: SND.MAX when recovery started.
    pub(crate) recover: SeqNum,
    /// Proportional Rate Reduction (RFC 6937 §3) for the length of a fast recovery: the flight
    /// when it began (RecoverFS), the bytes the peer has received since (prr_delivered) and the
    /// bytes sent since (prr_out). u32: the send buffer is at most `config::MAX_BUFFER`.
    pub(crate) prr: Prr,
    /// Every segment in flight with its send time and SACK/lost marks (RFC 6675 scoreboard, RACK).
    pub(crate) rtxq: RtxQueue,
    /// The PTO expired: send a probe.
    pub(crate) tlp_pending: bool,
    /// RFC 8985 §7.4: TLP.end_seq of the outstanding probe, and whether it was a retransmission.
    pub(crate) tlp_end: Option<(SeqNum, bool)>,
    /// Probes sent since SND.UNA last advanced.
    pub(crate) tlp_probes: u8,
    /// ECN's window of reduced cwnd (Linux's `TCP_CA_CWR` state and its `high_seq`): cwnd fell on
    /// an ECE, and neither falls again nor grows until an ACK passes this (SND.NXT then), so the
    /// reduction is once per window of data (RFC 3168 §6.1.2).
    pub(crate) cwr_high: Option<SeqNum>,
    /// cwnd was reduced: the next new data segment carries CWR (RFC 3168 §6.1.2; Linux's
    /// `TCP_ECN_QUEUE_CWR`, which every reduction sets, for loss as for ECE).
    pub(crate) cwr_pending: bool,

    // Persist (RFC 9293 §3.8.6.1).
    pub(crate) persist_backoff: u32,
    pub(crate) probes_unanswered: u32,
    /// The persist timer expired with data that fits the window: send it even if small.
    pub(crate) force_send: bool,
    /// With TCP_USER_TIMEOUT: when the connection fails if the oldest data in flight (or the
    /// window probes) are still unanswered. Set at the first timeout of an episode.
    pub(crate) give_up_at: Option<Instant>,

    // Counters for TCP_INFO.
    pub(crate) retransmits: u64,
    pub(crate) fast_retransmits: u64,
    /// These two are u32 where the other counters are u64: a SYN-queue entry must stay under 1 KiB.
    pub(crate) timeouts: u32,
    pub(crate) probes: u32,
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_retransmitted: u64,
    pub(crate) bytes_acked: u64,
}

impl Sender {
    /// Nothing sent yet: SND.UNA = SND.NXT = ISS, the buffer not yet allocated.
    pub(crate) fn new(iss: SeqNum, buffer: usize, mss: usize, algorithm: Algorithm) -> Sender {
        let mut rtxq = RtxQueue::new();
        if algorithm == Algorithm::Bbr {
            rtxq.enable_rate();
        }
        Sender {
            iss,
            una: iss,
            nxt: iss,
            max: iss,
            wnd: 0,
            max_wnd: 0,
            wl1: SeqNum(0),
            wl2: iss,
            wscale: 0,
            peer_mss: DEFAULT_PEER_MSS,
            buf: RingBuffer::new(buffer),
            sml: iss,
            fin_queued: false,
            fin_acked: false,
            retries: 0,
            rtt: RttEstimator::new(),
            rtt_timing: None,
            cc: Congestion::new(algorithm, mss),
            dupacks: 0,
            in_recovery: false,
            prr: Prr::default(),
            rto_recovery: false,
            recover: iss,
            rtxq,
            tlp_pending: false,
            tlp_end: None,
            tlp_probes: 0,
            cwr_high: None,
            cwr_pending: false,
            persist_backoff: 0,
            probes_unanswered: 0,
            force_send: false,
            give_up_at: None,
            retransmits: 0,
            fast_retransmits: 0,
            timeouts: 0,
            probes: 0,
            bytes_sent: 0,
            bytes_retransmitted: 0,
            bytes_acked: 0,
        }
    }

    /// The peer's window from its SYN or SYN-ACK at `seq`, never scaled (RFC 7323 §2.2).
    pub(crate) fn take_syn_window(&mut self, seq: SeqNum, window: u16) {
        self.wnd = window as usize;
        self.max_wnd = self.wnd;
        self.wl1 = seq;
    }

    /// Sequence space sent and not yet acknowledged.
    pub(crate) fn flight(&self) -> usize {
        self.max.since(self.una)
    }

    /// The sequence number just past the last queued data byte (where a FIN goes).
    pub(crate) fn data_end(&self) -> SeqNum {
        self.una + self.buf.len()
    }

    pub(crate) fn fin_sent(&self) -> bool {
        self.fin_queued && !self.fin_acked && self.max > self.data_end()
    }

    /// Right edge of the peer's window: SND.WL2 + SND.WND.
    fn window_end(&self) -> SeqNum {
        self.wl2 + self.wnd
    }

    /// RFC 6675 "pipe": data believed to be in the network. Outstanding data less what is SACKed
    /// and what is marked lost and not yet resent (a resent segment counts once). Without SACK,
    /// each duplicate ACK stands for one segment that left the network (RFC 5681 §3.2, RFC 3042).
    pub(crate) fn pipe(&self, ctx: &SendContext) -> usize {
        let outstanding = self.flight();
        let sacked = if ctx.sack_enabled {
            self.rtxq.sacked_bytes()
        } else {
            let dup = if self.in_recovery {
                self.dupacks
            } else {
                self.dupacks.min(2)
            };
            (dup as usize * ctx.eff_mss).min(outstanding)
        };
        outstanding
            .saturating_sub(sacked)
            .saturating_sub(self.rtxq.lost_bytes())
    }

    /// The next segment to retransmit: the lowest one marked lost, at most one MSS of it:
    /// (seq, data len, with FIN).
    fn next_lost(&self, ctx: &SendContext) -> Option<(SeqNum, usize, bool)> {
        self.resend_of(&self.rtxq.first_lost()?, ctx)
    }

    /// Resending record `r`: at most one MSS from its start, with the FIN if that reaches it:
    /// (seq, data len, with FIN); none if there is nothing left to send of it.
    fn resend_of(&self, r: &TxRecord, ctx: &SendContext) -> Option<(SeqNum, usize, bool)> {
        let data_end = self.data_end();
        let len = r.end.min(data_end).since(r.start).min(ctx.send_mss);
        let fin = self.fin_sent() && r.end > data_end && r.start + len == data_end;
        (len > 0 || fin).then_some((r.start, len, fin))
    }

    /// The tail loss probe: the last segment sent again, unless it is SACKed; else a new
    /// segment if the peer's window allows one.
    ///
    /// RFC 8985 §7.3 prefers new data. We resend first because of how Linux receivers answer:
    /// a new in-order segment may wait for the delayed-ACK timer (40 ms at least), while a
    /// duplicate is answered at once with a D-SACK (RFC 2883) and puts the receiver in quick-ACK
    /// mode. The probe is needed mostly when the one stretch ACK for a burst was lost, and then
    /// only the duplicate gets its answer within an RTT. Measured on the TAP against the kernel
    /// at 2% loss each way: each lost stretch ACK cost 10 ms of PTO and 40 ms more with new
    /// data, against the PTO alone with the resend.
    fn probe_plan(&self, ctx: &SendContext) -> Option<Plan> {
        if let Some(r) = self.rtxq.last().filter(|r| !r.sacked) {
            let data_end = self.data_end();
            let fin = self.fin_sent() && r.end > data_end;
            let dend = r.end.min(data_end);
            let seq = if dend.since(r.start) > ctx.send_mss {
                dend - ctx.send_mss
            } else {
                r.start
            };
            let len = dend.since(seq);
            if len > 0 || fin {
                return Some(Plan {
                    seq,
                    len,
                    fin,
                    cause: SendCause::Probe,
                });
            }
        }
        let data_len = self.buf.len();
        let off = self.nxt.since(self.una);
        if off < data_len {
            let len = (data_len - off)
                .min(ctx.send_mss)
                .min(self.window_end().since(self.nxt));
            if len > 0 {
                return Some(Plan {
                    seq: self.nxt,
                    len,
                    fin: self.fin_queued && off + len == data_len,
                    cause: SendCause::Probe,
                });
            }
        }
        // The last segment is SACKed and nothing new may go (the send buffer or the peer's
        // window is full of data in flight): RFC 8985 §7.3 would resend that last segment, which
        // the receiver holds. The lowest segment not SACKed is where the receiver waits; when its
        // retransmission was lost, nothing sent after it remains for RACK to see delivered, and
        // only this probe (or the RTO, 200 ms at least) repairs it.
        let (seq, len, fin) = self.resend_of(&self.rtxq.first_unsacked()?, ctx)?;
        Some(Plan {
            seq,
            len,
            fin,
            cause: SendCause::Probe,
        })
    }

    /// Decides the next data/FIN segment, without side effects (shared by `poll_at`), in a state
    /// where data may be sent: a pending probe, then lost segments, then new data as the peer's
    /// window, cwnd, sender SWS avoidance and Nagle allow.
    pub(crate) fn next_segment(&self, ctx: &SendContext) -> Option<Plan> {
        if self.fin_acked {
            return None;
        }
        let mss = ctx.send_mss;
        let cwnd = self.cc.cwnd();
        let pipe = self.pipe(ctx);
        if self.tlp_pending {
            if let Some(p) = self.probe_plan(ctx) {
                return Some(p);
            }
        }
        if let Some((seq, len, fin)) = self.next_lost(ctx) {
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
        let data_len = self.buf.len();
        let off = self.nxt.since(self.una);
        if off > data_len {
            return None; // FIN already sent
        }
        let avail = data_len - off;
        let win_room = self.window_end().since(self.nxt);
        let cwnd_room = cwnd.saturating_sub(pipe);
        let mut len = avail
            .min(mss * ctx.tso_segs.max(1))
            .min(win_room)
            .min(cwnd_room);
        // A partial segment, alone or as the tail of a super-segment (which then goes without
        // it, as Linux's tcp_mss_split_point cuts it).
        let partial = len % mss;
        if !self.force_send && partial > 0 {
            let fin = self.fin_queued && off + len == data_len;
            let may_go = if len < avail {
                // Window- or cwnd-limited: sender SWS avoidance (RFC 1122 §4.2.3.4).
                len < mss && len >= self.max_wnd / 2
            } else if ctx.urgent {
                // Urgent data pushes what is queued, cork and Nagle notwithstanding (Linux's
                // tcp_nagle_test in urgent mode).
                true
            } else if ctx.cork && !fin {
                // Corked: a partial segment waits for more data, whatever Nagle would say.
                false
            } else {
                // Nagle (RFC 896 / RFC 1122 §4.2.3.4) in Minshall's form, as Linux's
                // tcp_nagle_check: a partial segment waits only while another partial one is
                // unacknowledged, so the tail of a write goes out behind its full segments.
                ctx.nodelay || self.nxt == self.una || fin || !self.small_unacked()
            };
            if !may_go {
                if len < mss {
                    return None;
                }
                len -= partial;
            }
        }
        let fin = self.fin_queued && off + len == data_len;
        if len == 0 && !fin {
            return None;
        }
        let cause = if self.force_send {
            SendCause::Forced
        } else {
            SendCause::New
        };
        Some(Plan {
            seq: self.nxt,
            len,
            fin,
            cause,
        })
    }

    /// A segment shorter than the MSS is in flight (Linux's tcp_minshall_check).
    fn small_unacked(&self) -> bool {
        self.sml > self.una && self.sml <= self.nxt
    }

    /// A planned segment ending at `end` (in sequence space) went out at `now`: advance SND.NXT
    /// and SND.MAX, book it in the retransmission queue, start the RTO if it is not running.
    /// Returns whether the PTO is to be re-armed: after new data, a fast recovery's
    /// retransmission or a probe (for the next probe, if one is left).
    pub(crate) fn on_sent(
        &mut self,
        plan: &Plan,
        end: SeqNum,
        now: Instant,
        mss: usize,
        timers: &mut Timers,
    ) -> bool {
        let is_new = plan.seq >= self.max;
        let rearm_pto;
        // Every resend but a tail loss probe sent before the RTO's time may be the copy that the
        // ACK of a lost ACK answers with an older echo (see on_ack). Such a probe races the
        // flight's own ACK instead: it went two SRTTs after the flight, which is before that
        // ACK whenever SRTT is too small (a lone segment's probe goes at the RTO's time, in its
        // place: arm_tlp).
        let racing_probe = plan.cause == SendCause::Probe
            && timers
                .deadline(TimerKind::Retransmit)
                .is_none_or(|at| at > now);
        if self.in_recovery && !self.rto_recovery {
            self.prr.out = self.prr.out.saturating_add(end.since(plan.seq) as u32);
        }
        if plan.cause == SendCause::Probe {
            // One probe per PTO; then the RTO runs again (RFC 8985 §7.3).
            self.tlp_pending = false;
            self.tlp_end = Some((self.max.max(end), !is_new));
            self.tlp_probes = self.tlp_probes.saturating_add(1);
            self.probes += 1;
            self.arm_rtx(now, timers);
        }
        if is_new {
            self.force_send = false;
            self.nxt = end;
            if !plan.len.is_multiple_of(mss.max(1)) {
                self.sml = end;
            }
            self.bytes_sent += plan.len as u64;
            self.rtxq.push(plan.seq, end, now);
            rearm_pto = true;
        } else {
            self.rtxq.on_retransmit(plan.seq, end, now, !racing_probe);
            rearm_pto = matches!(plan.cause, SendCause::Recovery | SendCause::Probe);
            self.retransmits += 1;
            self.bytes_retransmitted += plan.len as u64;
            // Karn: no RTT sample from a retransmitted segment.
            self.rtt_timing = None;
        }
        self.max = self.max.max(self.nxt);
        if !timers.is_armed(TimerKind::Retransmit) {
            self.arm_rtx(now, timers);
        }
        timers.stop(TimerKind::Persist);
        rearm_pto
    }

    /// RFC 6298 §5.1/5.3: (re)starts the retransmission timer for one RTO, or less if
    /// TCP_USER_TIMEOUT ends the connection sooner (Linux's tcp_clamp_rto_to_user_timeout).
    pub(crate) fn arm_rtx(&self, now: Instant, timers: &mut Timers) {
        timers.start(TimerKind::Retransmit, now, self.rtx_deadline(now));
    }

    /// [`arm_rtx`](Self::arm_rtx) for a retransmission after a timeout: the timer keeps the time
    /// its episode started (the first transmission), which a SYN's time limit counts from.
    pub(crate) fn rearm_rtx(&self, now: Instant, timers: &mut Timers) {
        timers.set(TimerKind::Retransmit, self.rtx_deadline(now));
    }

    fn rtx_deadline(&self, now: Instant) -> Instant {
        self.rtx_deadline_from(now, now)
    }

    /// One RTO after `start`, but no later than the time to give up (or `now`, once past it).
    fn rtx_deadline_from(&self, start: Instant, now: Instant) -> Instant {
        let at = start + self.rtt.rto();
        match self.give_up_at {
            Some(end) => at.min(end.max(now)),
            None => at,
        }
    }

    /// RFC 8985 §7.2: (re)arms the PTO after new data is sent or acknowledged, with SACK.
    /// PTO = 2·SRTT (plus the worst-case delayed ACK with one segment in flight), never later
    /// than the RTO.
    ///
    /// Two departures from RFC 8985 (and Linux), both as QUIC's PTO (RFC 9002 §6.2). The PTO also
    /// runs in fast recovery, and up to two more probes follow an unanswered one, each after
    /// twice the wait, before the RTO. A Linux receiver busy reading acknowledges a burst that
    /// reaches it at once with one stretch ACK; when that ACK is lost, nothing more comes back,
    /// and when the answer to the probe is lost too, only the RTO (200 ms at least) was left.
    /// Measured on the TAP against the kernel (tests/tcp_kernel.rs, 16 MiB each way): at 2% loss
    /// each way the probe in recovery took the timeouts from 3 to 0-1, at 5% the second probe
    /// took them from 6-12 to the figures in its commit, and at 15% with BBR the third from 0-3
    /// a run (0.18-1.74 s) to 0-1 (0.14-0.43 s, eight runs); all three take 70 ms at a 1 ms SRTT.
    /// Not after an RTO, whose own retransmissions are the probes.
    pub(crate) fn arm_tlp(&self, now: Instant, ctx: &SendContext, timers: &mut Timers) {
        timers.stop(TimerKind::TailLossProbe);
        let flight = self.flight();
        if !ctx.sack_enabled
            || self.rto_recovery
            || self.tlp_probes >= MAX_PROBES
            || flight == 0
            || timers.loss_detection_armed()
            || !ctx.synchronized
        {
            return;
        }
        let Some(srtt) = self.rtt.srtt() else {
            return;
        };
        let mut pto = srtt * 2 + PTO_EXTRA;
        if flight <= ctx.eff_mss {
            pto += WC_DEL_ACK;
        }
        let pto = pto * (1u32 << self.tlp_probes);
        let mut at = now + pto;
        if let Some(rto) = timers.deadline(TimerKind::Retransmit) {
            if at >= rto {
                // The first probe goes at the RTO's time in its place when the PTO would come
                // later (RFC 8985 §7.2, Linux's tcp_schedule_loss_probe: a lone segment's PTO,
                // two SRTTs plus the delayed-ACK allowance, is about the RTO); the RTO then
                // restarts from the probe. Further probes only fit before the RTO.
                if self.tlp_probes > 0 {
                    return;
                }
                at = rto;
            }
        }
        timers.start_tail_loss_probe(now, at);
    }

    /// RFC 8985 §6.2 step 5 and §6.3: marks lost what RACK finds, re-arms the reordering timer,
    /// and starts recovery if needed.
    pub(crate) fn rack_detect(&mut self, now: Instant, ctx: &SendContext, timers: &mut Timers) {
        if !ctx.sack_enabled {
            return;
        }
        let srtt = self.rtt.srtt().unwrap_or(Duration::from_millis(100));
        let reo = self
            .rtxq
            .reo_wnd(self.in_recovery, DUP_THRESH * ctx.eff_mss, srtt);
        match self.rtxq.detect_loss(now, reo) {
            Some(t) => timers.set_rack_reorder(t),
            None => timers.stop(TimerKind::RackReorder),
        }
        if self.rtxq.lost_bytes() > 0 && !self.in_recovery && self.una >= self.recover {
            self.enter_recovery(timers);
            // Entered from the reordering timer, with no ACK: the fast retransmit still goes.
            if !self.cc.is_model_based() {
                self.prr_on_ack(0, ctx);
            }
        }
    }

    /// RFC 6937 §3.1 (PRR with slow-start reduction bound), on an ACK during fast recovery that
    /// reported `delivered` bytes: sets cwnd to what may be in flight now. Above ssthresh, sending
    /// follows deliveries in the ratio ssthresh/RecoverFS; at or below, it rebuilds towards
    /// ssthresh no faster than slow start would. The first retransmission of an episode goes
    /// whatever cwnd says (RFC 6675 §5 step 4.3; Linux's tcp_cwnd_reduction does the same):
    /// holding it back until more ACKs come stalls a small window until the RTO.
    fn prr_on_ack(&mut self, delivered: usize, ctx: &SendContext) {
        let mss = ctx.eff_mss.max(1);
        let prr = &mut self.prr;
        prr.delivered = prr.delivered.saturating_add(delivered as u32);
        let pipe = self.pipe(ctx);
        let prr = self.prr;
        let ssthresh = self.cc.ssthresh();
        let mut sndcnt = if pipe > ssthresh {
            let target =
                (prr.delivered as u64 * ssthresh as u64).div_ceil(prr.recover_fs.max(1) as u64);
            (target as usize).saturating_sub(prr.out as usize)
        } else {
            let limit = (prr.delivered.saturating_sub(prr.out) as usize).max(delivered) + mss;
            (ssthresh - pipe).min(limit)
        };
        if prr.out == 0 && self.rtxq.lost_bytes() > 0 {
            sndcnt = sndcnt.max(mss);
        }
        self.cc.set_cwnd(pipe + sndcnt);
    }

    /// Fast recovery starts (RFC 6675 §5, RFC 6582 §3.2): congestion control reacts once, and
    /// `recover` marks its end.
    fn enter_recovery(&mut self, timers: &mut Timers) {
        let flight = self.flight();
        // Already reduced for an ECE in this window: as Linux's tcp_enter_recovery, not again.
        if self.cwr_high.take().is_none() {
            self.cc.on_congestion_event(flight);
            self.cwr_pending = true;
        }
        self.in_recovery = true;
        self.rto_recovery = false;
        self.recover = self.max;
        self.prr = Prr {
            recover_fs: flight.min(u32::MAX as usize) as u32,
            delivered: 0,
            out: 0,
        };
        timers.stop(TimerKind::TailLossProbe);
        self.tlp_pending = false;
        self.rtt_timing = None;
        self.fast_retransmits += 1;
    }

    /// RFC 6298 §5.5-5.7 and RFC 5681 §3.1 for data on a retransmission timeout (after the
    /// backoff): cwnd falls, everything outstanding not SACKed is lost, and recovery runs until
    /// all of it is acknowledged.
    pub(crate) fn on_rto(&mut self, eff_mss: usize, timers: &mut Timers) {
        let flight = self.flight();
        if self.retries == 1 {
            self.cc.on_rto(flight);
        } else {
            self.cc.set_cwnd(eff_mss);
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
        // Linux's tcp_enter_loss: the timeout ends an ECN reduction and announces its own.
        self.cwr_high = None;
        self.cwr_pending = true;
        self.dupacks = 0;
        self.recover = self.max;
        timers.stop_loss_detection();
        self.tlp_pending = false;
        self.tlp_end = None;
        self.tlp_probes = 0;
    }

    /// An RTT sample from the ACK `seg`: from its timestamp echo (RFC 7323 §4.1), else from the
    /// timed segment if the ACK covers it (RFC 6298 §3).
    pub(crate) fn take_rtt_sample(
        &mut self,
        now: Instant,
        seg: &Segment,
        ctx: &SendContext,
        echo_fits: bool,
    ) {
        if ctx.ts_enabled {
            if !echo_fits {
                return;
            }
            if let Some((_, tsecr)) = seg.options.timestamps {
                if tsecr != 0 {
                    let ms = timestamp_at(now, ctx.ts_offset).wrapping_sub(tsecr);
                    if ms < 1 << 30 {
                        self.rtt.sample(Duration::from_millis(ms as u64));
                        self.rtt_timing = None;
                        return;
                    }
                }
            }
        }
        if let Some(sent) = self.rtt_timing {
            if seg.ack > self.iss {
                self.rtt.sample(now.saturating_since(sent));
                self.rtt_timing = None;
            }
        }
    }

    /// The acknowledgment in `seg` (whose sequence number, trimmed, is `seq`, with `data_len`
    /// bytes of payload and flags `f`): cumulative ACK, duplicate ACKs, SACK scoreboard, TLP
    /// outcome, RACK, recovery, timers and the send window (RFC 9293 §3.10.7.4 fifth step).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_ack(
        &mut self,
        now: Instant,
        seg: &Segment,
        seq: SeqNum,
        data_len: usize,
        f: TcpFlags,
        ctx: &SendContext,
        timers: &mut Timers,
    ) {
        let ack = seg.ack;
        let old_una = self.una;
        let old_sacked = self.rtxq.sacked_bytes();
        // Whether the cumulative ACK gave an RTT sample without timestamps.
        let mut timed = false;
        let prior_in_flight = self.pipe(ctx);
        let mut sampler = RateSampler::default();
        let window = (seg.window as usize) << self.wscale;
        self.ecn_on_ack(seg, ctx);
        // RFC 8985 §6.2 step 2: an ACK echoing a timestamp older than a segment's last
        // transmission was caused by an earlier one.
        let tsecr = seg
            .options
            .timestamps
            .filter(|_| ctx.ts_enabled)
            .map(|t| t.1);
        // A first SACK block below the cumulative ACK, or inside the second block, is a D-SACK
        // (RFC 2883 §4): a duplicate arrived, not new information.
        let dsack = seg
            .options
            .sack_blocks
            .iter()
            .map(|&(l, r)| (SeqNum(l), SeqNum(r)))
            .next()
            .filter(|_| ctx.sack_enabled)
            .filter(|&(l, r)| {
                let second = seg.options.sack_blocks.iter().nth(1);
                r <= ack || second.is_some_and(|&(l2, r2)| l >= SeqNum(l2) && r <= SeqNum(r2))
            });
        let ts_offset = ctx.ts_offset;
        let echo_predates = move |sent: Instant| {
            tsecr.is_some_and(|e| {
                let ts = timestamp_at(sent, ts_offset);
                (e.wrapping_sub(ts) as i32) < 0
            })
        };

        if ack > self.una {
            let acked = ack.since(self.una);
            let data_acked = acked.min(self.buf.len());
            if self.fin_queued && ack > self.data_end() && self.max > self.data_end() {
                self.fin_acked = true;
            }
            self.buf.discard(data_acked);
            self.bytes_acked += data_acked as u64;
            self.una = ack;
            self.nxt = self.nxt.max(ack);
            let times = self.rtxq.on_ack(ack, now, &echo_predates, &mut sampler);
            let (guarded, by_any) = (times.resent_guarded, times.resent);
            // An ACK echoing a timestamp older than a resending of the data it newly
            // acknowledges may answer that copy with the receiver's old TS.Recent: a wholly
            // duplicate segment, resent because the ACK of the original was lost, is dropped
            // before TS.Recent is updated (RFC 7323 §4.3 and Appendix D; Linux's tcp_sequence).
            // Its echo dates the original, and now minus that measures the wait, not a round
            // trip: with each backoff the "sample" doubles, and SRTT climbs to seconds. No sample
            // then, as RACK takes no delivery from it (RFC 8985 §6.2 step 2). A tail loss probe
            // sent well before the RTO may instead race the ACK of the flight it repeats, whose
            // echo dates a true round trip (with SRTT too small, a probe goes before every
            // flight's ACK, and refusing those kept SRTT at the handshake's): it is refused only
            // if a D-SACK (RFC 2883) says the ACK answers the duplicate.
            let answers_copy = |t: Option<Instant>| t.is_some_and(&echo_predates);
            let echo_fits = !(answers_copy(guarded) || dsack.is_some() && answers_copy(by_any));
            if ctx.ts_enabled {
                self.take_rtt_sample(now, seg, ctx, echo_fits);
            } else if let Some(sent) = times.first_sent {
                timed = true;
                // Without timestamps every ACK of data never resent is timed, from the first
                // sending of the earliest byte it newly covers, as Linux's tcp_clean_rtx_queue
                // times it (RFC 6298 §3 asks at least one sample a round trip): an ACK held up
                // by the loss of the ones before it lengthens the estimate as it should.
                self.rtt.sample(now.saturating_since(sent));
            }
            self.rtt.reset_backoff();
            self.retries = 0;
            self.tlp_probes = 0;
            self.give_up_at = None;
            self.persist_backoff = 0;
            if self.una == self.max {
                timers.stop(TimerKind::Retransmit);
            } else {
                self.arm_rtx(now, timers);
            }
            if self.in_recovery && self.rto_recovery {
                // After an RTO, slow start from one segment (RFC 5681 §3.1) until all that was
                // outstanding at the timeout is acknowledged.
                self.cc.on_ack(now, acked, self.rtt.srtt());
                if ack >= self.recover {
                    self.in_recovery = false;
                    self.rto_recovery = false;
                    self.dupacks = 0;
                    self.rtxq.on_recovery_end();
                }
            } else if self.in_recovery {
                if ack >= self.recover {
                    // Full acknowledgment: recovery is over (RFC 6582 §3.2 step 3). BBR
                    // restores its own window from the sample below.
                    self.in_recovery = false;
                    self.dupacks = 0;
                    self.rtxq.on_recovery_end();
                    if !self.cc.is_model_based() {
                        self.cc.set_cwnd(self.cc.ssthresh());
                    }
                } else {
                    self.dupacks = self
                        .dupacks
                        .saturating_sub((acked / ctx.eff_mss.max(1)) as u32);
                    if !ctx.sack_enabled {
                        // Partial acknowledgment: the next hole is lost too (RFC 6582 §3.2
                        // step 4). With SACK, RACK decides.
                        self.rtxq.mark_first_lost();
                    }
                }
            } else {
                self.dupacks = 0;
                // cwnd holds while an ECN reduction lasts (Linux's tcp_cong_control).
                if self.cwr_high.is_none() {
                    self.cc.on_ack(now, acked, self.rtt.srtt());
                }
            }
        } else if ack == self.una
            && data_len == 0
            && !f.contains(TcpFlags::FIN)
            && window == self.wnd
            && self.max > self.una
        {
            // Duplicate ACK (RFC 5681 §2); after an RTO they only echo the resent segments.
            if !self.rto_recovery {
                self.dupacks += 1;
            }
        }

        if dsack.is_some() {
            self.rtxq.on_dsack();
        }
        // SACK scoreboard (RFC 2018 / RFC 6675).
        if ctx.sack_enabled {
            let blocks = seg.options.sack_blocks;
            let mut first_timed: Option<(SeqNum, Instant)> = None;
            for (l, r) in blocks.iter().map(|&(l, r)| (SeqNum(l), SeqNum(r))) {
                if l < r && l >= self.una && r <= self.max {
                    let t = self.rtxq.on_sack(l, r, now, &echo_predates, &mut sampler);
                    if t.is_some_and(|(at, _)| first_timed.is_none_or(|(f, _)| at < f)) {
                        first_timed = t;
                    }
                }
            }
            // Without timestamps and without a sample from the cumulative ACK (a duplicate ACK,
            // in recovery), the lowest newly SACKed bytes never resent are timed, as Linux's
            // tcp_ack_update_rtt takes `sack_rtt_us` then. The backoff stays (Linux resets it,
            // but the ACK moved nothing the timer guards).
            if let Some((_, sent)) = first_timed.filter(|_| !ctx.ts_enabled && !timed) {
                self.rtt.sample(now.saturating_since(sent));
                if timers.is_armed(TimerKind::Retransmit) {
                    if self.rtxq.first().is_some_and(|head| sent < head.sent) {
                        // Data sent before the head's last sending arrived: the RTO starts
                        // again, as Linux's tcp_clean_rtx_queue re-arms it then (and only then,
                        // lest the timeout keep moving away in recovery).
                        self.arm_rtx(now, timers);
                    } else {
                        // The deadline stands; a longer estimate moves it on from the timer's
                        // start, a shorter one never brings it closer (a burst of duplicate
                        // ACKs, each shrinking RTTVAR, would fire the RTO before the fast
                        // retransmit).
                        let at =
                            self.rtx_deadline_from(timers.armed_at(TimerKind::Retransmit), now);
                        if timers
                            .deadline(TimerKind::Retransmit)
                            .is_some_and(|d| at > d)
                        {
                            timers.set(TimerKind::Retransmit, at);
                        }
                    }
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
                    self.cc.on_congestion_event(self.flight());
                    self.recover = self.max;
                    self.cwr_pending = true;
                }
            }
        }

        // RACK loss detection (RFC 8985 §6.2), which may start recovery. Only marks are added
        // from here on: what this ACK found lost is the growth of the lost bytes.
        let lost_before = self.rtxq.lost_bytes();
        if ctx.sack_enabled && (self.rtxq.sacked_bytes() > 0 || self.in_recovery) {
            self.rack_detect(now, ctx, timers);
        } else {
            timers.stop(TimerKind::RackReorder);
        }

        // Three duplicate ACKs (RFC 5681 §3.2): the segment at SND.UNA is lost. With SACK this
        // only matters when the ACKs carry no blocks (RACK needs them).
        if !self.in_recovery
            && self.una >= self.recover
            && self.max > self.una
            && self.dupacks as usize >= DUP_THRESH
        {
            self.rtxq.mark_first_lost();
            self.enter_recovery(timers);
        }

        // RFC 6937 §3: DeliveredData is the advance of SND.UNA plus the change in SACKed bytes.
        let delivered = (ack.since(old_una) + self.rtxq.sacked_bytes()).saturating_sub(old_sacked);
        if self.in_recovery && !self.rto_recovery && !self.cc.is_model_based() {
            self.prr_on_ack(delivered, ctx);
        }
        let lost = self.rtxq.lost_bytes().saturating_sub(lost_before);
        let min_rtt = self.rtxq.min_rtt();
        let in_flight = self.pipe(ctx);
        let state = self.loss_state();
        if let Some(est) = self.rtxq.rate_mut() {
            let sample = AckSample {
                rate: est.end_ack(&sampler, now, min_rtt),
                acked: delivered,
                lost,
                prior_in_flight,
                in_flight,
                delivered: est.delivered,
                state,
            };
            if self.cc.on_ack_sample(now, &sample, self.rtt.srtt()) {
                est.mark_app_limited(in_flight);
            }
        }

        // RFC 8985 §7.2: restart the PTO on an ACK of new data; none when nothing is in flight.
        if self.una == self.max {
            timers.stop(TimerKind::TailLossProbe);
        } else if self.una != old_una {
            self.arm_tlp(now, ctx, timers);
        }

        // Send window update (RFC 9293 §3.10.7.4, SND.WL1/SND.WL2).
        if self.wl1 < seq || (self.wl1 == seq && self.wl2 <= ack) {
            if window > self.wnd && self.wnd == 0 {
                self.persist_backoff = 0;
            }
            self.wnd = window;
            self.max_wnd = self.max_wnd.max(window);
            self.wl1 = seq;
            self.wl2 = ack;
        }
    }

    /// The recovery state as the congestion module sees it.
    fn loss_state(&self) -> LossState {
        match (self.in_recovery, self.rto_recovery) {
            (false, _) => LossState::Open,
            (true, false) => LossState::Recovery,
            (true, true) => LossState::Timeout,
        }
    }

    /// The program is writing: if the sender has less than a segment waiting, room in cwnd and
    /// no lost data to resend, what is delivered next measures the program, not the path
    /// (draft-cheng-iccrg-delivery-rate-estimation §3.4; Linux's tcp_rate_check_app_limited,
    /// called from tcp_sendmsg as here).
    pub(crate) fn check_app_limited(&mut self, ctx: &SendContext) {
        let unsent = self.data_end().since(self.nxt.min(self.data_end()));
        let pipe = self.pipe(ctx);
        if unsent < ctx.eff_mss && pipe < self.cc.cwnd() && self.rtxq.lost_bytes() == 0 {
            if let Some(est) = self.rtxq.rate_mut() {
                est.mark_app_limited(pipe);
            }
        }
    }

    /// RFC 3168 §6.1.2, as Linux's tcp_ack and tcp_try_to_open: an ACK with ECE, on a connection
    /// that negotiated ECN, reduces cwnd as fast recovery would (ssthresh and cwnd alike), with
    /// nothing retransmitted, once per window of data: not while a reduction for ECE or loss
    /// lasts, nor with nothing in flight, nor for an old ACK. The reduction lasts until an ACK
    /// passes SND.NXT as it was (Linux keeps it until an ACK is beyond it, so that the CWR sent
    /// at that sequence number has reached the peer).
    fn ecn_on_ack(&mut self, seg: &Segment, ctx: &SendContext) {
        if self.cwr_high.is_some_and(|high| seg.ack > high) {
            self.cwr_high = None;
        }
        let ece =
            ctx.ecn && seg.flags.contains(TcpFlags::ECE) && !seg.flags.contains(TcpFlags::SYN);
        if !ece || seg.ack < self.una || self.max == self.una {
            return;
        }
        if self.in_recovery || self.cwr_high.is_some() {
            return;
        }
        self.cc.on_congestion_event(self.flight());
        self.cwr_high = Some(self.nxt.max(self.una));
        self.cwr_pending = true;
    }

    /// Data waits that the peer's window (or the sender SWS rule) keeps back: what the persist
    /// timer is for, unless the RTO already runs.
    pub(crate) fn may_stall(&self, timers: &Timers) -> bool {
        !timers.is_armed(TimerKind::Retransmit) && !self.fin_acked && self.nxt < self.data_end()
    }

    /// Arms or clears the persist timer (zero window / sender SWS override, RFC 9293 §3.8.6.1):
    /// `stalled` says data waits and nothing can be sent.
    pub(crate) fn update_persist(&mut self, now: Instant, stalled: bool, timers: &mut Timers) {
        if !stalled {
            timers.stop(TimerKind::Persist);
            if self.wnd > 0 {
                self.persist_backoff = 0;
            }
        } else if !timers.is_armed(TimerKind::Persist) {
            let base = self.rtt.base_rto();
            let d = base
                .saturating_mul(1u32 << self.persist_backoff.min(16))
                .min(super::rtt::RTO_MAX);
            timers.set(TimerKind::Persist, now + d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> SendContext {
        SendContext {
            eff_mss: 100,
            send_mss: 100,
            sack_enabled: false,
            ts_enabled: false,
            ts_offset: 0,
            nodelay: false,
            cork: false,
            synchronized: true,
            ecn: false,
            tso_segs: 1,
            urgent: false,
        }
    }

    /// Established with ISS 0 (SND.UNA 1), `queued` bytes to send and a 10 000-byte peer window.
    fn sender(queued: usize) -> Sender {
        let mut s = Sender::new(SeqNum(0), 10_000, 100, Algorithm::default());
        s.una = SeqNum(1);
        s.nxt = SeqNum(1);
        s.max = SeqNum(1);
        s.wl2 = SeqNum(1);
        s.wnd = 10_000;
        s.max_wnd = 10_000;
        s.buf.allocate();
        assert_eq!(s.buf.enqueue(&vec![0; queued]), queued);
        s
    }

    fn send_next(s: &mut Sender, now: Instant, timers: &mut Timers) -> Option<Plan> {
        let plan = s.next_segment(&ctx())?;
        let end = plan.seq + plan.len + plan.fin as usize;
        s.on_sent(&plan, end, now, 100, timers);
        Some(plan)
    }

    #[test]
    fn nagle_holds_a_small_segment_only_behind_another_small_one() {
        // Minshall's form, as Linux: the tail of a write follows its full segments at once...
        let mut s = sender(150);
        let mut timers = Timers::new(Instant::ZERO);
        let first = send_next(&mut s, Instant::ZERO, &mut timers).unwrap();
        assert_eq!(
            (first.seq, first.len, first.cause),
            (SeqNum(1), 100, SendCause::New)
        );
        assert!(timers.is_armed(TimerKind::Retransmit));
        let tail = send_next(&mut s, Instant::ZERO, &mut timers).unwrap();
        assert_eq!((tail.seq, tail.len), (SeqNum(101), 50));
        // ...but the next small one waits while that one is unacknowledged.
        assert_eq!(s.buf.enqueue(&[0u8; 30]), 30);
        assert!(
            s.next_segment(&ctx()).is_none(),
            "30 bytes wait for the ACK"
        );
        let nodelay = SendContext {
            nodelay: true,
            ..ctx()
        };
        assert_eq!(s.next_segment(&nodelay).map(|p| p.len), Some(30));
    }

    #[test]
    fn without_sack_duplicate_acks_leave_the_pipe() {
        let mut s = sender(1000);
        let mut timers = Timers::new(Instant::ZERO);
        while send_next(&mut s, Instant::ZERO, &mut timers).is_some() {}
        let flight = s.flight();
        assert!(flight > 0);
        s.dupacks = 5;
        assert_eq!(
            s.pipe(&ctx()),
            flight - 200,
            "at most two before recovery (RFC 3042)"
        );
        s.in_recovery = true;
        assert_eq!(s.pipe(&ctx()), flight - 500);
    }
}
