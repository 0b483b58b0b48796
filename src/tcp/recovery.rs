//! The retransmission queue and RACK loss detection.
//!
//! One record per transmitted segment between SND.UNA and SND.MAX, with the time it was last sent
//! and its SACKed / lost / retransmitted marks: the RFC 6675 scoreboard, kept per segment so that
//! RACK (RFC 8985 §6) can declare a segment lost when a segment sent after it has been delivered
//! and it has not, by more than a reordering window. This detects lost retransmissions without an
//! RTO. The connection owns the policy (when to recover, what to send); this module only keeps
//! the books, and the delivery-rate estimate ([`super::rate`]) that needs the same per-segment
//! records. Memory is bounded: past `MAX_RECORDS`, new data is merged into the last record (which
//! is then resent an MSS at a time, split as it goes).

use super::rate::{RateEstimator, RateSampler, TxSnapshot};
use super::seq::SeqNum;
use crate::time::{Duration, Instant};
use std::collections::VecDeque;

/// RFC 8985 §6.2 step 4: how many recoveries a widened reordering window outlasts.
const REO_WND_PERSIST: u8 = 16;

/// Records kept before new transmissions are merged into the last one.
pub const MAX_RECORDS: usize = 4096;
/// Records past which a SACK no longer splits one, and marks only the records it covers whole:
/// a peer SACKing single bytes would otherwise make a record per byte in flight, each split an
/// O(n) insert (the lesson of Linux's CVE-2019-11478).
const MAX_SPLIT_RECORDS: usize = 2 * MAX_RECORDS;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxRecord {
    pub start: SeqNum,
    /// End in sequence space (includes a FIN).
    pub end: SeqNum,
    /// Last (re)transmission time.
    pub sent: Instant,
    /// First transmission time.
    pub first_sent: Instant,
    pub retransmitted: bool,
    /// Its last sending was a resend whose copy an older echo may answer: any but a tail loss
    /// probe racing the flight's ACK (see `Sender::on_sent`).
    pub echo_guarded: bool,
    pub lost: bool,
    pub sacked: bool,
    /// The delivery count when it was last sent, for the rate estimate.
    pub tx: TxSnapshot,
}

impl TxRecord {
    /// Sequence space covered.
    pub fn span(&self) -> usize {
        self.end.since(self.start)
    }
}

/// RFC 8985 §6.2 RACK_sent_after: later send time, or same time and higher sequence.
fn sent_after(t1: Instant, end1: SeqNum, t2: Instant, end2: SeqNum) -> bool {
    t1 > t2 || (t1 == t2 && end1 > end2)
}

/// When the data a cumulative ACK newly acknowledges was sent (what it newly delivers: records
/// not SACKed before).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CumulativeAck {
    /// The latest resending among them: whatever echo the ACK carries may answer that copy.
    pub resent: Option<Instant>,
    /// The same, of those whose copy an older echo may answer ([`TxRecord::echo_guarded`]). See
    /// [`super::send::Sender::on_ack`] for what an echo older than those means.
    pub resent_guarded: Option<Instant>,
    /// When the earliest of them was sent, if none of the data the ACK covers (SACKed before or
    /// not) was ever resent: the round trip an ACK's timing measures without
    /// timestamps (RFC 6298 §3 with Karn's rule; Linux's `first_ackt` in tcp_clean_rtx_queue).
    pub first_sent: Option<Instant>,
}

/// Compact on purpose: every connection, including those still in the SYN queue, holds one.
#[derive(Debug, Default)]
pub struct RtxQueue {
    recs: VecDeque<TxRecord>,
    // Byte counts fit: the send buffer is at most `config::MAX_BUFFER`.
    sacked_bytes: u32,
    lost_bytes: u32,
    /// Highest end of any retransmitted record still held (bounds the RACK scan).
    rexmit_high: SeqNum,
    // RACK state (RFC 8985 §6.1): RACK.xmit_ts and RACK.end_seq (valid once `rack_valid`),
    // RACK.rtt, RACK.min_RTT (µs, 0 = none yet), RACK.fack (valid once `fack_valid`).
    rack_xmit: Instant,
    rack_end: SeqNum,
    rack_rtt_us: u32,
    min_rtt_us: u32,
    fack: SeqNum,
    rack_valid: bool,
    fack_valid: bool,
    reordering_seen: bool,
    /// RFC 8985 §6.2 step 4's D-SACK adaptation in one byte, for the SYN-queue entry's size:
    /// RACK.reo_wnd_mult in the low 3 bits (0 stands for 1; at most 7, where the window is
    /// nearly always at its SRTT cap anyway), RACK.reo_wnd_persist (at most 16) above. It widens
    /// at most once per recovery, where RACK.dsack_round would say once per round trip.
    reo_wnd_adapt: u8,
    /// The delivery-rate estimate, kept only for a congestion control that uses it (BBR): every
    /// connection in a SYN queue holds this queue.
    rate: Option<Box<RateEstimator>>,
}

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u32::MAX as u128) as u32
}

impl RtxQueue {
    pub fn new() -> RtxQueue {
        RtxQueue::default()
    }

    pub fn clear(&mut self) {
        self.recs = VecDeque::new();
        self.sacked_bytes = 0;
        self.lost_bytes = 0;
        self.rack_valid = false;
        self.fack_valid = false;
    }

    /// Starts estimating the delivery rate from the next transmission on.
    pub fn enable_rate(&mut self) {
        self.rate.get_or_insert_with(Box::default);
    }

    pub fn rate_mut(&mut self) -> Option<&mut RateEstimator> {
        self.rate.as_deref_mut()
    }

    /// The rate estimate's record of a (re)transmission at `now` (nothing without one).
    fn snapshot(&mut self, now: Instant, flight_empty: bool) -> TxSnapshot {
        self.rate
            .as_mut()
            .map_or(TxSnapshot::default(), |r| r.on_send(now, flight_empty))
    }

    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    pub fn len(&self) -> usize {
        self.recs.len()
    }

    pub fn sacked_bytes(&self) -> usize {
        self.sacked_bytes as usize
    }

    pub fn lost_bytes(&self) -> usize {
        self.lost_bytes as usize
    }

    pub fn min_rtt(&self) -> Option<Duration> {
        (self.min_rtt_us > 0).then(|| Duration::from_micros(self.min_rtt_us as u64))
    }

    pub fn last(&self) -> Option<TxRecord> {
        self.recs.back().copied()
    }

    pub fn first(&self) -> Option<TxRecord> {
        self.recs.front().copied()
    }

    /// A first transmission of `[start, end)` at `now`.
    pub fn push(&mut self, start: SeqNum, end: SeqNum, now: Instant) {
        if end <= start {
            return;
        }
        if self.recs.is_empty() {
            self.rexmit_high = start;
        }
        let tx = self.snapshot(now, self.recs.is_empty());
        let full = self.recs.len() >= MAX_RECORDS;
        if let Some(last) = self.recs.back_mut() {
            if full && last.end == start && !last.sacked && !last.lost {
                last.end = end;
                last.sent = now;
                return;
            }
        }
        self.recs.push_back(TxRecord {
            start,
            end,
            sent: now,
            first_sent: now,
            retransmitted: false,
            echo_guarded: false,
            lost: false,
            sacked: false,
            tx,
        });
    }

    /// Makes a record boundary at `seq`; returns the index of the record starting there.
    fn split_at(&mut self, seq: SeqNum) -> usize {
        let i = self.recs.partition_point(|r| r.end <= seq);
        if i < self.recs.len() && self.recs[i].start < seq {
            let mut tail = self.recs[i];
            tail.start = seq;
            self.recs[i].end = seq;
            self.recs.insert(i + 1, tail);
            return i + 1;
        }
        i
    }

    fn mark_lost_at(&mut self, i: usize) {
        let r = &mut self.recs[i];
        if !r.lost && !r.sacked {
            r.lost = true;
            self.lost_bytes += r.span() as u32;
        }
    }

    /// RFC 8985 §6.2 step 2: RACK.rtt and RACK.xmit_ts from a newly delivered segment. When the
    /// delivery may be of an earlier transmission (timestamp echo or RTT shorter than min_RTT),
    /// the RFC skips the segment; we instead take its first transmission as RACK.xmit_ts, the
    /// earliest it can stand for, which never declares a loss the skipped sample would not have,
    /// and leave RACK.rtt as the last unambiguous delivery set it. (Receivers echo an old
    /// timestamp for out-of-order data, RFC 7323 §4.3, so a SACKed retransmission, such as a tail
    /// loss probe, is nearly always ambiguous.) Taking the time since that first transmission as
    /// RACK.rtt, as this did once, made it as long as the recovery had lasted: at 15% loss a lost
    /// retransmission at SND.UNA then waited for the RTO instead of RACK.rtt.
    fn rack_delivered(
        &mut self,
        r: &TxRecord,
        now: Instant,
        echo_predates: &dyn Fn(Instant) -> bool,
    ) {
        let rtt = micros(now.saturating_since(r.sent)).max(1);
        if r.retransmitted && (echo_predates(r.sent) || rtt < self.min_rtt_us) {
            if self.rack_rtt_us == 0 {
                // No delivery has measured one yet: the longest this one can have taken.
                self.rack_rtt_us = micros(now.saturating_since(r.first_sent)).max(1);
            }
            if !self.rack_valid || sent_after(r.first_sent, r.end, self.rack_xmit, self.rack_end) {
                self.rack_xmit = r.first_sent;
                self.rack_end = r.end;
                self.rack_valid = true;
            }
            return;
        }
        if !r.retransmitted {
            if self.min_rtt_us == 0 || rtt < self.min_rtt_us {
                self.min_rtt_us = rtt;
            }
            // Step 3: an original transmission delivered below the highest SACKed sequence was
            // reordered, not lost.
            if self.fack_valid && r.end < self.fack {
                self.reordering_seen = true;
            }
        }
        self.rack_rtt_us = rtt;
        if !self.rack_valid || sent_after(r.sent, r.end, self.rack_xmit, self.rack_end) {
            self.rack_xmit = r.sent;
            self.rack_end = r.end;
            self.rack_valid = true;
        }
    }

    /// Cumulative acknowledgment up to `ack`: drops the records below it, and says when what it
    /// newly acknowledges was sent ([`CumulativeAck`]).
    pub fn on_ack(
        &mut self,
        ack: SeqNum,
        now: Instant,
        echo_predates: &dyn Fn(Instant) -> bool,
        rs: &mut RateSampler,
    ) -> CumulativeAck {
        // Keep the hints within the window, where sequence comparisons are meaningful.
        self.rexmit_high = self.rexmit_high.max(ack);
        let mut out = CumulativeAck::default();
        let mut any_resent = false;
        while let Some(&r) = self.recs.front() {
            if r.start >= ack {
                break;
            }
            let latest = |t: Option<Instant>| Some(t.map_or(r.sent, |t| t.max(r.sent)));
            if !r.sacked && r.retransmitted {
                out.resent = latest(out.resent);
                if r.echo_guarded {
                    out.resent_guarded = latest(out.resent_guarded);
                }
            }
            any_resent |= r.retransmitted;
            if !r.sacked && !r.retransmitted {
                // Its last sending: its only one, but for a record that later data was merged
                // into (`push`, past MAX_RECORDS), whose bytes went out between `first_sent` and
                // `sent` and whose earliest may have been acknowledged before: the later time
                // errs short rather than long, as one time stamp for a whole TSO segment does.
                out.first_sent = Some(out.first_sent.map_or(r.sent, |t| t.min(r.sent)));
            }
            if r.end <= ack {
                self.recs.pop_front();
                if r.sacked {
                    self.sacked_bytes -= r.span() as u32;
                } else {
                    if r.lost {
                        self.lost_bytes -= r.span() as u32;
                    }
                    if let Some(rate) = self.rate.as_mut() {
                        rate.on_delivered(rs, now, &r.tx, r.sent, r.end, r.span(), r.retransmitted);
                    }
                    self.rack_delivered(&r, now, echo_predates);
                }
            } else {
                // Partly acknowledged.
                let cut = ack.since(r.start);
                let f = &mut self.recs[0];
                f.start = ack;
                if f.sacked {
                    self.sacked_bytes -= cut as u32;
                } else {
                    if f.lost {
                        self.lost_bytes -= cut as u32;
                    }
                    if let Some(rate) = self.rate.as_mut() {
                        rate.on_delivered(rs, now, &r.tx, r.sent, ack, cut, r.retransmitted);
                    }
                }
                break;
            }
        }
        if self.recs.is_empty() {
            self.recs = VecDeque::new(); // give the memory back between bursts
        }
        if any_resent {
            // Karn (RFC 6298 §3): an ACK covering a resent segment may answer either copy.
            out.first_sent = None;
        }
        out
    }

    /// A SACK block `[l, r)` (RFC 2018), already checked to lie within [SND.UNA, SND.MAX).
    /// Returns the start and sending time of the first record it newly marks that was never
    /// resent (Linux's `first_sackt`, the SACK's RTT sample when the cumulative ACK gives none).
    pub fn on_sack(
        &mut self,
        l: SeqNum,
        r: SeqNum,
        now: Instant,
        echo_predates: &dyn Fn(Instant) -> bool,
        rs: &mut RateSampler,
    ) -> Option<(SeqNum, Instant)> {
        // Cheap test first: already fully marked?
        let i = self.recs.partition_point(|x| x.end <= l);
        if self
            .recs
            .range(i..)
            .take_while(|x| x.start < r)
            .all(|x| x.sacked)
        {
            return None;
        }
        let mut first_timed = None;
        let (i, j) = if self.recs.len() < MAX_SPLIT_RECORDS {
            (self.split_at(l), self.split_at(r))
        } else {
            (
                self.recs.partition_point(|x| x.start < l),
                self.recs.partition_point(|x| x.end <= r),
            )
        };
        for k in i..j {
            let rec = self.recs[k];
            if rec.sacked {
                continue;
            }
            if rec.lost {
                self.lost_bytes -= rec.span() as u32;
                self.recs[k].lost = false;
            }
            self.recs[k].sacked = true;
            self.sacked_bytes += rec.span() as u32;
            if !rec.retransmitted && first_timed.is_none() {
                first_timed = Some((rec.start, rec.sent));
            }
            if let Some(rate) = self.rate.as_mut() {
                let (span, again) = (rec.span(), rec.retransmitted);
                rate.on_delivered(rs, now, &rec.tx, rec.sent, rec.end, span, again);
            }
            self.rack_delivered(&rec, now, echo_predates);
            if !self.fack_valid || rec.end > self.fack {
                self.fack = rec.end;
                self.fack_valid = true;
            }
        }
        first_timed
    }

    /// RFC 8985 §6.2 step 4: no settling time before reordering has been seen if in recovery or
    /// DupThresh segments are SACKed; else RACK.reo_wnd_mult × min_RTT/4, at most SRTT.
    pub fn reo_wnd(&self, in_recovery: bool, dupthresh_bytes: usize, srtt: Duration) -> Duration {
        if !self.reordering_seen && (in_recovery || self.sacked_bytes() >= dupthresh_bytes) {
            return Duration::ZERO;
        }
        (self.min_rtt().unwrap_or(srtt) / 4 * self.reo_wnd_mult()).min(srtt)
    }

    fn reo_wnd_mult(&self) -> u32 {
        u32::from(self.reo_wnd_adapt & 7).max(1)
    }

    fn reo_wnd_persist(&self) -> u8 {
        self.reo_wnd_adapt >> 3
    }

    fn set_reo_wnd_adapt(&mut self, mult: u32, persist: u8) {
        self.reo_wnd_adapt = (mult.min(7) as u8) | (persist.min(REO_WND_PERSIST) << 3);
    }

    /// RFC 8985 §6.2 step 4: a D-SACK says a retransmission was spurious, so the reordering
    /// window widens by a quarter min_RTT more, and stays so for 16 recoveries. Not as the RFC
    /// and Linux's tcp_rack_update_reo_wnd, which widen it at most once a round trip: here at
    /// most once until the next recovery ends (a byte of state, not a sequence number more).
    pub fn on_dsack(&mut self) {
        if self.reo_wnd_persist() < REO_WND_PERSIST {
            self.set_reo_wnd_adapt(self.reo_wnd_mult() + 1, REO_WND_PERSIST);
        }
    }

    /// RFC 8985 §6.2 step 4: a recovery ended; after 16 without a D-SACK the reordering window
    /// is back to its least.
    pub fn on_recovery_end(&mut self) {
        let persist = self.reo_wnd_persist().saturating_sub(1);
        let mult = if persist == 0 { 1 } else { self.reo_wnd_mult() };
        self.set_reo_wnd_adapt(mult, persist);
    }

    /// RFC 8985 §6.2 step 5: marks lost every segment sent before the most recently delivered one
    /// that is still undelivered after RACK.rtt + reo_wnd. Returns when to look again (the RACK
    /// reordering timer), if some segment is not yet due.
    pub fn detect_loss(&mut self, now: Instant, reo_wnd: Duration) -> Option<Instant> {
        if !self.rack_valid {
            return None;
        }
        let (xt, xend) = (self.rack_xmit, self.rack_end);
        let rack_rtt = Duration::from_micros(self.rack_rtt_us as u64);
        let mut again: Option<Instant> = None;
        for i in 0..self.recs.len() {
            let r = self.recs[i];
            if r.sacked || r.lost {
                continue;
            }
            if sent_after(r.sent, r.end, xt, xend) {
                // Original transmissions go out in sequence order: none further on is older,
                // except retransmissions.
                if !r.retransmitted && r.start >= self.rexmit_high {
                    break;
                }
                continue;
            }
            let due = r.sent + rack_rtt + reo_wnd;
            if due <= now {
                self.mark_lost_at(i);
            } else {
                again = Some(again.map_or(due, |a| a.min(due)));
            }
        }
        again
    }

    /// RFC 6582 / RFC 5681 §3.2 without SACK: the segment at SND.UNA is lost.
    pub fn mark_first_lost(&mut self) {
        if !self.recs.is_empty() {
            self.mark_lost_at(0);
        }
    }

    /// A retransmission timeout: everything not SACKed is lost (RFC 5681 §3.1, RFC 6675 §5.1).
    pub fn mark_all_lost(&mut self) {
        for i in 0..self.recs.len() {
            self.mark_lost_at(i);
        }
    }

    /// The path MTU dropped: every record longer than `mss` is lost (RFC 1191 §6.1).
    pub fn mark_lost_longer_than(&mut self, mss: usize) {
        for i in 0..self.recs.len() {
            if self.recs[i].span() > mss {
                self.mark_lost_at(i);
            }
        }
    }

    /// The receiver discarded data it had SACKed (RFC 2018 §8): forget every SACK mark.
    pub fn clear_sacks(&mut self) {
        for r in self.recs.iter_mut() {
            r.sacked = false;
        }
        self.sacked_bytes = 0;
        self.fack_valid = false;
    }

    /// The lowest record not SACKed.
    pub fn first_unsacked(&self) -> Option<TxRecord> {
        self.recs.iter().find(|r| !r.sacked).copied()
    }

    /// The lowest record marked lost and not yet retransmitted.
    pub fn first_lost(&self) -> Option<TxRecord> {
        if self.lost_bytes == 0 {
            return None;
        }
        self.recs.iter().find(|r| r.lost).copied()
    }

    /// `[seq, end)` (within one record) was just resent at `now` (`guarded`: see
    /// [`TxRecord::echo_guarded`]): the record is split to that range and is no longer lost.
    pub fn on_retransmit(&mut self, seq: SeqNum, end: SeqNum, now: Instant, guarded: bool) {
        let i = self.split_at(seq);
        self.split_at(end);
        let tx = self.snapshot(now, false);
        let Some(r) = self.recs.get_mut(i) else {
            return;
        };
        r.tx = tx;
        if r.lost {
            r.lost = false;
            self.lost_bytes -= r.span() as u32;
        }
        r.retransmitted = true;
        r.echo_guarded = guarded;
        r.sent = now;
        let end = r.end;
        self.rexmit_high = self.rexmit_high.max(end);
    }

    /// Recomputes the counters (tests).
    #[cfg(test)]
    pub fn check(&self) {
        let s: usize = self
            .recs
            .iter()
            .filter(|r| r.sacked)
            .map(|r| r.span())
            .sum();
        let l: usize = self.recs.iter().filter(|r| r.lost).map(|r| r.span()).sum();
        assert_eq!((s, l), (self.sacked_bytes(), self.lost_bytes()));
        for w in self.recs.iter().collect::<Vec<_>>().windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }
    fn never(_: Instant) -> bool {
        false
    }

    #[test]
    fn single_byte_sacks_cannot_grow_the_queue_without_bound() {
        let mut q = RtxQueue::new();
        for i in 0..64u32 {
            q.push(SeqNum(i * 1000), SeqNum(i * 1000 + 1000), t(0));
        }
        // A hostile receiver SACKs every other byte of 64 kB.
        for b in (1..64_000u32).step_by(2) {
            q.on_sack(
                SeqNum(b),
                SeqNum(b + 1),
                t(1),
                &never,
                &mut RateSampler::default(),
            );
        }
        assert!(q.len() <= MAX_SPLIT_RECORDS + 1, "{} records", q.len());
        q.check();
    }

    /// RFC 8985 §6.2 step 4: each D-SACK (at most one per recovery) widens the reordering window
    /// by a quarter of min_RTT, up to SRTT; sixteen recoveries without one bring it back.
    #[test]
    fn d_sacks_widen_the_reordering_window_for_sixteen_recoveries() {
        let mut q = RtxQueue::new();
        q.push(SeqNum(0), SeqNum(100), t(0));
        q.on_sack(
            SeqNum(0),
            SeqNum(100),
            t(8),
            &never,
            &mut RateSampler::default(),
        );
        let srtt = Duration::from_millis(100);
        let quarter = q.min_rtt().unwrap() / 4;
        assert_eq!(q.reo_wnd(false, 300, srtt), quarter);
        q.on_dsack();
        assert_eq!(q.reo_wnd(false, 300, srtt), quarter * 2);
        q.on_dsack();
        assert_eq!(
            q.reo_wnd(false, 300, srtt),
            quarter * 2,
            "once per recovery"
        );
        q.on_recovery_end();
        q.on_dsack();
        assert_eq!(q.reo_wnd(false, 300, srtt), quarter * 3);
        assert_eq!(
            q.reo_wnd(false, 300, Duration::from_millis(5)),
            Duration::from_millis(5),
            "at most SRTT"
        );
        for _ in 0..15 {
            q.on_recovery_end();
        }
        assert_eq!(q.reo_wnd(false, 300, srtt), quarter * 3);
        q.on_recovery_end();
        assert_eq!(q.reo_wnd(false, 300, srtt), quarter);
    }

    #[test]
    fn rack_marks_older_undelivered_segments_lost() {
        let mut q = RtxQueue::new();
        for i in 0..5u32 {
            q.push(SeqNum(i * 100), SeqNum(i * 100 + 100), t(i as u64));
        }
        // Segment 2 arrives 10 ms later; 0 and 1 do not.
        q.on_sack(
            SeqNum(200),
            SeqNum(300),
            t(12),
            &never,
            &mut RateSampler::default(),
        );
        q.check();
        let reo = q.reo_wnd(false, 300, Duration::from_millis(10));
        assert_eq!(reo, Duration::from_millis(10) / 4);
        let again = q.detect_loss(t(12), reo);
        // 0 due at 0 + 10 + 2.5 ms; 1 at 13.5 ms.
        assert_eq!(q.lost_bytes(), 0);
        assert_eq!(again, Some(Instant::from_micros(12_500)));
        q.detect_loss(t(13), reo);
        assert_eq!(q.lost_bytes(), 100);
        q.check();
        let l = q.first_lost().unwrap();
        assert_eq!(l.start, SeqNum(0));
        q.on_retransmit(SeqNum(0), SeqNum(50), t(14), true);
        q.check();
        assert_eq!(q.first_lost().unwrap().start, SeqNum(50));
        // The retransmission is lost too: something sent after it is delivered, so it is due
        // RACK.rtt + reo_wnd after it was sent, without an RTO.
        q.detect_loss(t(14), reo);
        assert_eq!(q.lost_bytes(), 50 + 100);
        q.on_retransmit(SeqNum(50), SeqNum(100), t(14), true);
        q.on_retransmit(SeqNum(100), SeqNum(200), t(15), true);
        q.push(SeqNum(500), SeqNum(600), t(16));
        q.on_sack(
            SeqNum(500),
            SeqNum(600),
            t(20),
            &never,
            &mut RateSampler::default(),
        );
        q.check();
        q.detect_loss(t(20), Duration::ZERO);
        assert_eq!(q.first_lost().unwrap().start, SeqNum(0));
        q.check();
        let _ = q.on_ack(SeqNum(300), t(21), &never, &mut RateSampler::default());
        q.check();
        assert_eq!(q.first().unwrap().start, SeqNum(300));
    }

    #[test]
    fn an_ambiguous_delivery_leaves_rack_rtt_as_it_was() {
        let mut q = RtxQueue::new();
        for i in 0..4u32 {
            q.push(SeqNum(i * 100), SeqNum(i * 100 + 100), t(0));
        }
        let rs = &mut RateSampler::default();
        q.on_sack(SeqNum(300), SeqNum(400), t(10), &never, rs);
        assert_eq!(q.rack_rtt_us, 10_000);
        // Segment 1, first sent at 0 and resent at 500, is SACKed with an echo older than the
        // resend: it may be the first transmission that arrived. RACK.rtt must not become 501 ms,
        // or a lost retransmission would wait that long to be found.
        q.on_retransmit(SeqNum(100), SeqNum(200), t(500), true);
        q.on_sack(SeqNum(100), SeqNum(200), t(501), &|_| true, rs);
        assert_eq!(q.rack_rtt_us, 10_000);
        q.check();
    }

    #[test]
    fn rto_keeps_sacked_segments_and_bounded_records() {
        let mut q = RtxQueue::new();
        for i in 0..10u32 {
            q.push(SeqNum(i * 10), SeqNum(i * 10 + 10), t(0));
        }
        q.on_sack(
            SeqNum(35),
            SeqNum(60),
            t(5),
            &never,
            &mut RateSampler::default(),
        );
        q.check();
        assert_eq!(q.sacked_bytes(), 25);
        q.mark_all_lost();
        q.check();
        assert_eq!(q.lost_bytes(), 75);
        q.clear_sacks();
        q.mark_all_lost();
        assert_eq!(q.lost_bytes(), 100);
        let mut q = RtxQueue::new();
        for i in 0..(MAX_RECORDS as u32 + 100) {
            q.push(SeqNum(i), SeqNum(i + 1), t(0));
        }
        assert_eq!(q.len(), MAX_RECORDS);
        q.check();
    }
}
