//! Delivery rate estimation: how fast the network delivered our data over the last round trip,
//! from the ACKs alone (draft-cheng-iccrg-delivery-rate-estimation-02, the scheme Linux's
//! tcp_rate.c implements and BBR feeds on).
//!
//! Each transmission records how much had been delivered when it left, and when; when the peer
//! (S)ACKs it, the bytes delivered since, over the longer of the send and the ACK intervals, is one
//! sample of the delivery rate. A sample taken while the sender had nothing to send is marked
//! application-limited: it says less about the path than about the program.
//!
//! Part of the sans-IO TCP engine: the retransmission queue keeps a [`TxSnapshot`] per record and
//! calls [`RateEstimator::on_delivered`] for each record an ACK newly delivers, into a
//! [`RateSampler`] the send half holds for the length of that ACK and then turns into a sample with
//! [`RateEstimator::end_ack`]. The estimator itself is small (every connection in a SYN queue holds
//! one); the sampler lives on the stack.

use super::seq::SeqNum;
use crate::time::{Duration, Instant};

/// What the connection had delivered when a segment was (re)sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxSnapshot {
    /// Bytes delivered when it was sent (`C.delivered` in the draft).
    pub delivered: u64,
    /// When that much had been delivered (`C.delivered_time`).
    pub delivered_at: Instant,
    /// Send time of the first segment of the flight it went in (`C.first_sent_time`).
    pub first_sent_at: Instant,
    /// Sent while the sender was application-limited.
    pub app_limited: bool,
}

/// One rate sample, from one ACK (draft §3.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateSample {
    /// Bytes delivered over `interval`.
    pub delivered: u64,
    /// The longer of the send and the ACK intervals; `None` when the ACK gave no valid sample
    /// (nothing delivered, or an interval shorter than the minimum RTT, which ACK compression or
    /// a stretch ACK produces).
    pub interval: Option<Duration>,
    /// `delivered` as it was when the most recently sent segment among those delivered left:
    /// BBR counts round trips with it.
    pub prior_delivered: u64,
    /// That segment was sent while application-limited.
    pub app_limited: bool,
    /// Round-trip time of that segment when it was an original transmission (Karn).
    pub rtt: Option<Duration>,
}

impl RateSample {
    /// The delivery rate in bytes per second, if the sample is valid.
    pub fn bytes_per_sec(&self) -> Option<u64> {
        let us = self.interval?.as_micros().max(1);
        Some((self.delivered as u128 * 1_000_000 / us).min(u64::MAX as u128) as u64)
    }
}

/// The connection's side of the estimate (draft §3.1).
#[derive(Clone, Copy, Debug, Default)]
pub struct RateEstimator {
    /// Bytes (S)ACKed so far.
    pub delivered: u64,
    delivered_at: Instant,
    first_sent_at: Instant,
    /// Non-zero while application-limited: the `delivered` count past which that ends.
    app_limited_until: u64,
}

/// The sample being built while one ACK is processed.
#[derive(Clone, Copy, Debug, Default)]
pub struct RateSampler {
    sample: RateSample,
    /// Send time and end of the segment chosen for the sample (the most recently sent).
    chosen: Option<(Instant, SeqNum)>,
    send_elapsed: Duration,
    /// `delivered_at` as the chosen segment recorded it: the ACK interval starts there.
    prior_at: Instant,
}

impl RateEstimator {
    /// A segment is (re)sent at `now`; `flight_empty` says nothing else is outstanding, which
    /// starts a new flight (draft §3.2).
    pub fn on_send(&mut self, now: Instant, flight_empty: bool) -> TxSnapshot {
        if flight_empty {
            self.first_sent_at = now;
            self.delivered_at = now;
        }
        TxSnapshot {
            delivered: self.delivered,
            delivered_at: self.delivered_at,
            first_sent_at: self.first_sent_at,
            app_limited: self.app_limited_until != 0,
        }
    }

    /// The sender has less than a segment to send, room in cwnd and no lost data waiting: it is
    /// application-limited until what is in flight now has been delivered (draft §3.4).
    pub fn mark_app_limited(&mut self, in_flight: usize) {
        self.app_limited_until = (self.delivered + in_flight as u64).max(1);
    }

    pub fn is_app_limited(&self) -> bool {
        self.app_limited_until != 0
    }

    /// A segment `[.., end)` of `len` bytes, last sent at `sent` with `tx`, is newly delivered
    /// (cumulatively or by SACK) at `now`. The sample follows the most recently sent of them
    /// (draft §3.3, "UpdateRateSample").
    #[allow(clippy::too_many_arguments)]
    pub fn on_delivered(
        &mut self,
        b: &mut RateSampler,
        now: Instant,
        tx: &TxSnapshot,
        sent: Instant,
        end: SeqNum,
        len: usize,
        retransmitted: bool,
    ) {
        self.delivered += len as u64;
        let later = match b.chosen {
            None => true,
            Some((t, e)) => sent > t || (sent == t && end > e),
        };
        if later {
            b.chosen = Some((sent, end));
            b.sample.prior_delivered = tx.delivered;
            b.sample.app_limited = tx.app_limited;
            b.sample.rtt = (!retransmitted).then(|| now.saturating_since(sent));
            b.send_elapsed = sent.saturating_since(tx.first_sent_at);
            b.prior_at = tx.delivered_at;
            // The interval of the next sample starts at this one's (draft: C.first_sent_time).
            self.first_sent_at = sent;
        }
    }

    /// The ACK is processed: returns its sample (draft §3.3, "GenerateRateSample"). Intervals
    /// shorter than `min_rtt` are not trusted: the ACKs came faster than the data could have.
    pub fn end_ack(
        &mut self,
        b: &RateSampler,
        now: Instant,
        min_rtt: Option<Duration>,
    ) -> RateSample {
        if self.app_limited_until != 0 && self.delivered > self.app_limited_until {
            self.app_limited_until = 0;
        }
        let mut s = b.sample;
        if b.chosen.is_none() {
            return RateSample::default();
        }
        self.delivered_at = now;
        s.delivered = self.delivered - s.prior_delivered;
        let interval = b.send_elapsed.max(now.saturating_since(b.prior_at));
        s.interval =
            (s.delivered > 0 && !interval.is_zero() && min_rtt.is_none_or(|m| interval >= m))
                .then_some(interval);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Instant {
        Instant::from_millis(v)
    }

    #[test]
    fn a_steady_flight_measures_its_rate() {
        let mut r = RateEstimator::default();
        // Ten 1000-byte segments, one each millisecond, each ACKed 10 ms after it left.
        let mut tx = Vec::new();
        for i in 0..10u64 {
            tx.push((r.on_send(ms(i), i == 0), ms(i)));
        }
        let mut last = RateSample::default();
        for (i, (snap, sent)) in tx.iter().enumerate() {
            let mut b = RateSampler::default();
            let at = ms(10 + i as u64);
            r.on_delivered(
                &mut b,
                at,
                snap,
                *sent,
                SeqNum(1000 * (i as u32 + 1)),
                1000,
                false,
            );
            last = r.end_ack(&b, at, Some(Duration::from_millis(10)));
        }
        assert_eq!(r.delivered, 10_000);
        // The last ACK: 9 segments delivered since the first ACK... over the 10 ms the flight
        // took, the first sample's interval being its own RTT.
        assert_eq!(last.rtt, Some(Duration::from_millis(10)));
        let rate = last.bytes_per_sec().unwrap();
        assert!((90_000..=1_000_000).contains(&rate), "{rate}");
        assert!(!last.app_limited);
    }

    #[test]
    fn app_limited_marks_last_until_the_flight_is_delivered() {
        let mut r = RateEstimator::default();
        r.mark_app_limited(2000);
        let a = r.on_send(ms(0), true);
        assert!(a.app_limited);
        let mut b = RateSampler::default();
        r.on_delivered(&mut b, ms(5), &a, ms(0), SeqNum(1000), 1000, false);
        let s = r.end_ack(&b, ms(5), None);
        assert!(s.app_limited && r.is_app_limited());
        let mut b = RateSampler::default();
        r.on_delivered(&mut b, ms(6), &a, ms(0), SeqNum(3000), 2000, true);
        let s = r.end_ack(&b, ms(6), None);
        assert!(!r.is_app_limited());
        assert_eq!(s.rtt, None, "no RTT from a retransmission");
    }

    #[test]
    fn an_interval_shorter_than_the_least_rtt_is_no_sample() {
        let mut r = RateEstimator::default();
        let a = r.on_send(ms(0), true);
        let mut b = RateSampler::default();
        r.on_delivered(&mut b, ms(1), &a, ms(0), SeqNum(1000), 1000, false);
        let s = r.end_ack(&b, ms(1), Some(Duration::from_millis(5)));
        assert_eq!(s.interval, None);
        assert_eq!(s.bytes_per_sec(), None);
    }
}
