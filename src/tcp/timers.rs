//! The timers of one TCP connection, kept in one table.
//!
//! Part of the sans-IO TCP engine: the connection never sleeps or reads a clock; it records here
//! when it next wants to run for each reason, and the stack asks for the earliest of them through
//! `Connection::poll_at`. Arming, stopping and expiry are decided by the connection and its send
//! and receive halves; this module only keeps the deadlines. The keepalive timer is not stored: its
//! deadline follows from the time of the last segment received, so the connection derives it.

use crate::time::{earliest, Instant};

/// Why the connection wants to run at some time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimerKind {
    /// Retransmission timeout (RFC 6298), also for the SYN and SYN-ACK.
    Retransmit,
    /// Zero-window probe / sender SWS override (RFC 9293 §3.8.6.1).
    Persist,
    /// Delayed acknowledgment (RFC 1122 §4.2.3.2).
    DelayedAck,
    /// End of TIME-WAIT, or of an orphaned FIN-WAIT-2.
    Close,
    /// RACK reordering timer: look for losses again (RFC 8985 §6.3).
    RackReorder,
    /// Tail loss probe timeout, the PTO (RFC 8985 §7.2).
    TailLossProbe,
}

const ALL: [TimerKind; TimerKind::COUNT] = [
    TimerKind::Retransmit,
    TimerKind::Persist,
    TimerKind::DelayedAck,
    TimerKind::Close,
    TimerKind::RackReorder,
    TimerKind::TailLossProbe,
];

impl TimerKind {
    const COUNT: usize = 6;

    fn index(self) -> usize {
        self as usize
    }

    fn bit(self) -> u8 {
        1 << self.index()
    }

    /// Where the arming time is kept: only for the retransmission timer and the PTO, which the
    /// RTO and PTO traces and the timeout diagnostics report.
    fn armed_at_slot(self) -> Option<usize> {
        match self {
            TimerKind::Retransmit => Some(0),
            TimerKind::TailLossProbe => Some(1),
            _ => None,
        }
    }
}

/// One deadline per [`TimerKind`]. Compact on purpose (a bitmask says which are armed, rather
/// than an `Option` each): every connection holds one, including those still in the SYN queue.
#[derive(Clone, Debug)]
pub(crate) struct Timers {
    deadlines: [Instant; TimerKind::COUNT],
    armed: u8,
    armed_at: [Instant; 2],
}

impl Timers {
    /// All stopped.
    pub(crate) fn new(now: Instant) -> Timers {
        Timers {
            deadlines: [now; TimerKind::COUNT],
            armed: 0,
            armed_at: [now; 2],
        }
    }

    pub(crate) fn deadline(&self, kind: TimerKind) -> Option<Instant> {
        self.is_armed(kind).then(|| self.deadlines[kind.index()])
    }

    pub(crate) fn is_armed(&self, kind: TimerKind) -> bool {
        self.armed & kind.bit() != 0
    }

    /// The timer is armed and its deadline has come.
    pub(crate) fn expired(&self, kind: TimerKind, now: Instant) -> bool {
        self.deadline(kind).is_some_and(|d| now >= d)
    }

    /// When the retransmission timer or the PTO was last started with [`start`](Self::start).
    pub(crate) fn armed_at(&self, kind: TimerKind) -> Instant {
        let slot = kind.armed_at_slot();
        debug_assert!(slot.is_some(), "{kind:?} keeps no arming time");
        slot.map_or(Instant::ZERO, |i| self.armed_at[i])
    }

    /// Arms the timer for `deadline`, noting that it was armed at `now` if it is one whose arming
    /// time is kept.
    pub(crate) fn start(&mut self, kind: TimerKind, now: Instant, deadline: Instant) {
        if let Some(i) = kind.armed_at_slot() {
            self.armed_at[i] = now;
        }
        self.set(kind, deadline);
    }

    /// Arms the timer for `deadline`.
    pub(crate) fn set(&mut self, kind: TimerKind, deadline: Instant) {
        self.deadlines[kind.index()] = deadline;
        self.armed |= kind.bit();
    }

    pub(crate) fn stop(&mut self, kind: TimerKind) {
        self.armed &= !kind.bit();
    }

    /// Stops every timer (the connection is closed).
    pub(crate) fn stop_all(&mut self) {
        self.armed = 0;
    }

    /// The RACK reordering timer and the tail loss probe share the loss-detection slot of RFC
    /// 8985 (§6.3, §7.2): at most one of them runs.
    pub(crate) fn loss_detection_armed(&self) -> bool {
        self.is_armed(TimerKind::RackReorder) || self.is_armed(TimerKind::TailLossProbe)
    }

    /// Arms the RACK reordering timer in place of any tail loss probe.
    pub(crate) fn set_rack_reorder(&mut self, deadline: Instant) {
        self.stop(TimerKind::TailLossProbe);
        self.set(TimerKind::RackReorder, deadline);
    }

    /// Arms the tail loss probe in place of any RACK reordering timer.
    pub(crate) fn start_tail_loss_probe(&mut self, now: Instant, deadline: Instant) {
        self.stop(TimerKind::RackReorder);
        self.start(TimerKind::TailLossProbe, now, deadline);
    }

    pub(crate) fn stop_loss_detection(&mut self) {
        self.stop(TimerKind::RackReorder);
        self.stop(TimerKind::TailLossProbe);
    }

    /// The loss-detection timer that is armed, if any, with its deadline.
    pub(crate) fn loss_detection(&self) -> Option<(TimerKind, Instant)> {
        [TimerKind::RackReorder, TimerKind::TailLossProbe]
            .into_iter()
            .find_map(|k| self.deadline(k).map(|d| (k, d)))
    }

    /// The earliest armed deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        ALL.iter().fold(None, |t, &k| earliest(t, self.deadline(k)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn next_deadline_is_the_earliest_armed() {
        let mut timers = Timers::new(t(0));
        assert_eq!(timers.next_deadline(), None);
        timers.start(TimerKind::Retransmit, t(0), t(300));
        timers.set(TimerKind::DelayedAck, t(40));
        assert_eq!(timers.next_deadline(), Some(t(40)));
        timers.stop(TimerKind::DelayedAck);
        assert_eq!(timers.next_deadline(), Some(t(300)));
        assert!(timers.expired(TimerKind::Retransmit, t(300)));
        assert!(!timers.expired(TimerKind::Retransmit, t(299)));
    }

    #[test]
    fn rack_timer_and_tail_loss_probe_exclude_each_other() {
        let mut timers = Timers::new(t(0));
        timers.start_tail_loss_probe(t(5), t(50));
        assert_eq!(timers.armed_at(TimerKind::TailLossProbe), t(5));
        timers.set_rack_reorder(t(20));
        assert_eq!(
            timers.loss_detection(),
            Some((TimerKind::RackReorder, t(20)))
        );
        timers.start_tail_loss_probe(t(6), t(60));
        assert_eq!(
            timers.loss_detection(),
            Some((TimerKind::TailLossProbe, t(60)))
        );
        timers.stop_loss_detection();
        assert!(!timers.loss_detection_armed());
    }
}
