//! Round-trip time estimation and the retransmission timeout (RFC 6298).
//!
//! SRTT/RTTVAR use the standard gains (1/8, 1/4). Like Linux, the variance term is floored at
//! 200 ms (`RTO = SRTT + max(4·RTTVAR, 200 ms)`), the initial RTO is 1 s and the ceiling 120 s.
//! Karn's rule (no samples from retransmitted segments) is applied by the caller when it times a
//! segment; samples from timestamp echoes (RFC 7323 §4) are always valid. Exponential backoff is a
//! shift kept apart from the estimate, cleared when new data is acknowledged.

use crate::time::Duration;

pub const RTO_MIN: Duration = Duration::from_millis(200);
pub const RTO_INITIAL: Duration = Duration::from_secs(1);
pub const RTO_MAX: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub struct RttEstimator {
    srtt_us: u64,
    rttvar_us: u64,
    has_sample: bool,
    rto: Duration,
    backoff: u32,
}

impl Default for RttEstimator {
    fn default() -> Self {
        RttEstimator::new()
    }
}

impl RttEstimator {
    pub fn new() -> RttEstimator {
        RttEstimator {
            srtt_us: 0,
            rttvar_us: 0,
            has_sample: false,
            rto: RTO_INITIAL,
            backoff: 0,
        }
    }

    /// Feeds one RTT measurement (RFC 6298 §2.2, §2.3).
    pub fn sample(&mut self, rtt: Duration) {
        let r = (rtt.as_micros() as u64).max(1);
        if !self.has_sample {
            self.srtt_us = r;
            self.rttvar_us = r / 2;
            self.has_sample = true;
        } else {
            let delta = self.srtt_us.abs_diff(r);
            self.rttvar_us = (3 * self.rttvar_us + delta) / 4;
            self.srtt_us = (7 * self.srtt_us + r) / 8;
        }
        let var = (4 * self.rttvar_us).max(RTO_MIN.as_micros() as u64);
        self.rto = Duration::from_micros(self.srtt_us + var).min(RTO_MAX);
    }

    /// The current timeout including backoff.
    pub fn rto(&self) -> Duration {
        let shifted = self.rto.saturating_mul(1u32 << self.backoff.min(20));
        shifted.min(RTO_MAX)
    }

    /// The timeout without backoff.
    pub fn base_rto(&self) -> Duration {
        self.rto
    }

    /// Doubles the timeout (RFC 6298 §5.5).
    pub fn backoff(&mut self) {
        if self.rto() < RTO_MAX {
            self.backoff += 1;
        }
    }

    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    pub fn backoff_count(&self) -> u32 {
        self.backoff
    }

    pub fn srtt(&self) -> Option<Duration> {
        self.has_sample.then(|| Duration::from_micros(self.srtt_us))
    }

    pub fn rttvar(&self) -> Duration {
        Duration::from_micros(self.rttvar_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sample_and_smoothing() {
        let mut e = RttEstimator::new();
        assert_eq!(e.rto(), RTO_INITIAL);
        e.sample(Duration::from_millis(100));
        assert_eq!(e.srtt(), Some(Duration::from_millis(100)));
        assert_eq!(e.rttvar(), Duration::from_millis(50));
        // 100 + max(200, 200) ms
        assert_eq!(e.rto(), Duration::from_millis(300));
        e.sample(Duration::from_millis(200));
        // srtt = 7/8*100 + 1/8*200 = 112.5; rttvar = 3/4*50 + 1/4*100 = 62.5
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
        assert_eq!(e.rto(), Duration::from_micros(112_500 + 250_000));
    }

    #[test]
    fn floor_backoff_and_ceiling() {
        let mut e = RttEstimator::new();
        e.sample(Duration::from_millis(1));
        assert_eq!(e.rto(), Duration::from_millis(201));
        e.backoff();
        assert_eq!(e.rto(), Duration::from_millis(402));
        e.backoff();
        assert_eq!(e.rto(), Duration::from_millis(804));
        for _ in 0..20 {
            e.backoff();
        }
        assert_eq!(e.rto(), RTO_MAX);
        e.reset_backoff();
        assert_eq!(e.rto(), Duration::from_millis(201));
        e.sample(Duration::from_secs(500));
        assert_eq!(e.rto(), RTO_MAX);
    }
}
