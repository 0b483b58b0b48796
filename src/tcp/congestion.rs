//! Congestion window control: slow start and congestion avoidance (RFC 5681) with either CUBIC
//! (RFC 9438, Linux's built-in default) or Reno growth, or the model-based BBR ([`super::bbr`]).
//!
//! This module only owns cwnd/ssthresh and the growth function. Loss detection and the recovery
//! episode itself (fast retransmit, NewReno/SACK recovery, RTO) live in the connection, which
//! calls `on_congestion_event` once per episode and `on_rto` on a retransmission timeout. CUBIC
//! and Reno cut the window there and the connection's PRR (RFC 6937) walks it down; BBR only
//! remembers the window, and sets it itself from each ACK's delivery-rate sample
//! ([`Congestion::on_ack_sample`]), as Linux lets a module with its own `cong_control` do.

use super::bbr::{AckSample, Bbr};
use crate::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Algorithm {
    Reno,
    #[default]
    Cubic,
    Bbr,
}

impl Algorithm {
    /// The name `TCP_CONGESTION` and `net.ipv4.tcp_congestion_control` use.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Reno => "reno",
            Algorithm::Cubic => "cubic",
            Algorithm::Bbr => "bbr",
        }
    }

    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "reno" => Some(Algorithm::Reno),
            "cubic" => Some(Algorithm::Cubic),
            "bbr" => Some(Algorithm::Bbr),
            _ => None,
        }
    }
}

/// RFC 9438 §4.6: multiplicative decrease factor.
const BETA_CUBIC: f64 = 0.7;
/// RFC 9438 §5: the C constant.
const C_CUBIC: f64 = 0.4;
/// RFC 6928 / Linux: initial window of ten segments.
pub const INITIAL_WINDOW_SEGMENTS: usize = 10;

#[derive(Debug, Clone)]
pub struct Congestion {
    algo: Algorithm,
    mss: usize,
    cwnd: usize,
    ssthresh: usize,
    /// Reno congestion avoidance: bytes acknowledged since the last increase.
    acked_accum: u32,
    // CUBIC state, in segments.
    w_max: f64,
    k: f64,
    /// When the current epoch began, if one is under way (`epoch_started`). Two fields where an
    /// `Option` would take sixteen bytes: every connection in a SYN queue holds this.
    epoch_start: Instant,
    epoch_started: bool,
    w_est: f64,
    cwnd_at_epoch: f64,
    /// BBR's model, boxed: most connections run CUBIC, and every one in a SYN queue holds this.
    bbr: Option<Box<Bbr>>,
}

impl Congestion {
    pub fn new(algo: Algorithm, mss: usize) -> Congestion {
        let mss = mss.max(1);
        Congestion {
            algo,
            mss,
            cwnd: INITIAL_WINDOW_SEGMENTS * mss,
            ssthresh: usize::MAX,
            acked_accum: 0,
            w_max: 0.0,
            k: 0.0,
            epoch_start: Instant::ZERO,
            epoch_started: false,
            w_est: 0.0,
            cwnd_at_epoch: 0.0,
            bbr: (algo == Algorithm::Bbr).then(|| Box::new(Bbr::new(mss as u32))),
        }
    }

    /// BBR's model, when it is the algorithm.
    pub fn bbr(&self) -> Option<&Bbr> {
        self.bbr.as_deref()
    }

    /// The algorithm sets the window from delivery-rate samples, not from losses (BBR): the
    /// connection's loss responses (PRR, the window at the end of recovery) do not apply.
    pub fn is_model_based(&self) -> bool {
        self.bbr.is_some()
    }

    /// One ACK's sample, for BBR (the others grow in `on_ack`). Returns whether the sender is to
    /// count itself application-limited.
    pub fn on_ack_sample(&mut self, now: Instant, s: &AckSample, srtt: Option<Duration>) -> bool {
        let Some(bbr) = self.bbr.as_mut() else {
            return false;
        };
        let (cwnd, app_limited) = bbr.on_ack(now, s, self.cwnd, self.mss, srtt);
        self.cwnd = cwnd.max(self.mss);
        app_limited
    }

    pub fn set_mss(&mut self, mss: usize) {
        let mss = mss.max(1);
        if mss != self.mss {
            let segs = self.cwnd / self.mss;
            self.mss = mss;
            self.cwnd = segs.max(1) * mss;
        }
    }

    /// Switches the growth function under way (`TCP_CONGESTION` on a live connection). As on
    /// Linux, cwnd and ssthresh carry over and the new algorithm starts from fresh state.
    pub fn set_algorithm(&mut self, algo: Algorithm) {
        if algo != self.algo {
            *self = Congestion {
                algo,
                cwnd: self.cwnd,
                ssthresh: if algo == Algorithm::Bbr {
                    usize::MAX
                } else {
                    self.ssthresh
                },
                ..Congestion::new(algo, self.mss)
            };
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algo
    }
    pub fn cwnd(&self) -> usize {
        self.cwnd
    }
    pub fn ssthresh(&self) -> usize {
        self.ssthresh
    }
    pub fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    /// New data acknowledged outside loss recovery.
    pub fn on_ack(&mut self, now: Instant, acked: usize, srtt: Option<Duration>) {
        if acked == 0 || self.bbr.is_some() {
            return;
        }
        if self.in_slow_start() {
            // RFC 5681 §3.1 with byte counting (RFC 3465) as Linux applies it (tcp_slow_start):
            // every byte an ACK covers opens the window, with no L limit, so a stretch ACK of ten
            // segments lets twenty out (RFC 3465 §2.3's L = 2 would let twelve).
            self.cwnd += acked;
            if self.cwnd > self.ssthresh {
                self.cwnd = self.ssthresh.max(2 * self.mss);
            }
            return;
        }
        match self.algo {
            Algorithm::Reno => self.reno_avoidance(acked),
            Algorithm::Cubic => self.cubic_avoidance(now, acked, srtt),
            Algorithm::Bbr => {}
        }
    }

    fn reno_avoidance(&mut self, acked: usize) {
        // RFC 5681 §3.1: about one SMSS per RTT, counted in bytes.
        // Within u32: at most the send buffer is acknowledged at once (config::MAX_BUFFER).
        self.acked_accum = self.acked_accum.saturating_add(acked as u32);
        if self.acked_accum as usize >= self.cwnd {
            self.acked_accum -= self.cwnd as u32;
            self.cwnd += self.mss;
        }
    }

    fn cubic_avoidance(&mut self, now: Instant, acked: usize, srtt: Option<Duration>) {
        let mss = self.mss as f64;
        let cwnd_seg = self.cwnd as f64 / mss;
        let epoch = match self.epoch_started.then_some(self.epoch_start) {
            Some(t) => t,
            None => {
                // RFC 9438 §4.2: a new congestion-avoidance epoch.
                self.epoch_start = now;
                self.epoch_started = true;
                self.cwnd_at_epoch = cwnd_seg;
                if self.w_max < cwnd_seg {
                    self.k = 0.0;
                    self.w_max = cwnd_seg;
                } else {
                    self.k = ((self.w_max - cwnd_seg) / C_CUBIC).cbrt();
                }
                self.w_est = cwnd_seg;
                now
            }
        };
        let rtt = srtt.unwrap_or(Duration::from_millis(100)).as_secs_f64();
        let t = now.saturating_since(epoch).as_secs_f64();
        // RFC 9438 §4.3: target is W_cubic(t + RTT), clamped to [cwnd, 1.5 cwnd].
        let w_cubic = |t: f64| C_CUBIC * (t - self.k).powi(3) + self.w_max;
        let target = w_cubic(t + rtt).clamp(cwnd_seg, 1.5 * cwnd_seg);
        // RFC 9438 §4.3: Reno-friendly estimate.
        let acked_seg = acked as f64 / mss;
        let alpha = if self.w_est < self.w_max {
            3.0 * (1.0 - BETA_CUBIC) / (1.0 + BETA_CUBIC)
        } else {
            1.0
        };
        self.w_est += alpha * acked_seg / cwnd_seg;
        let new_seg = if w_cubic(t) < self.w_est {
            self.w_est
        } else {
            cwnd_seg + (target - cwnd_seg) / cwnd_seg * acked_seg
        };
        let new = (new_seg * mss) as usize;
        if new > self.cwnd {
            self.cwnd = new;
        }
    }

    /// A loss detected by duplicate ACKs or SACK (start of one recovery episode).
    /// `flight` is the amount of data outstanding. Sets ssthresh and cwnd = ssthresh.
    pub fn on_congestion_event(&mut self, flight: usize) {
        let mss = self.mss;
        self.ssthresh = match self.algo {
            // RFC 5681 eq. (4)
            Algorithm::Reno => (flight / 2).max(2 * mss),
            Algorithm::Cubic => {
                self.cubic_reduce();
                ((self.cwnd as f64 * BETA_CUBIC) as usize).max(2 * mss)
            }
            Algorithm::Bbr => {
                // Linux's bbr_ssthresh: the window is remembered, nothing is cut here.
                if let Some(bbr) = self.bbr.as_mut() {
                    bbr.save_cwnd(self.cwnd);
                }
                return;
            }
        };
        self.cwnd = self.ssthresh;
        self.acked_accum = 0;
    }

    fn cubic_reduce(&mut self) {
        let cwnd_seg = self.cwnd as f64 / self.mss as f64;
        // RFC 9438 §4.7 fast convergence.
        self.w_max = if cwnd_seg < self.w_max {
            cwnd_seg * (1.0 + BETA_CUBIC) / 2.0
        } else {
            cwnd_seg
        };
        self.epoch_started = false;
    }

    /// Retransmission timeout (RFC 5681 eq. (4) and the loss window of one segment).
    pub fn on_rto(&mut self, flight: usize) {
        let mss = self.mss;
        self.ssthresh = match self.algo {
            Algorithm::Reno => (flight / 2).max(2 * mss),
            Algorithm::Cubic => {
                self.cubic_reduce();
                ((self.cwnd as f64 * BETA_CUBIC) as usize).max(2 * mss)
            }
            Algorithm::Bbr => {
                // As Linux's tcp_enter_loss with BBR: one segment out, the old window kept
                // to return to, and Startup's bandwidth check begun again.
                if let Some(bbr) = self.bbr.as_mut() {
                    bbr.save_cwnd(self.cwnd);
                    bbr.on_timeout();
                }
                self.ssthresh
            }
        };
        self.cwnd = mss;
        self.acked_accum = 0;
    }

    /// Restart after idle (RFC 5681 §4.1): cwnd back to at most the initial window.
    pub fn on_idle_restart(&mut self) {
        self.cwnd = self.cwnd.min(INITIAL_WINDOW_SEGMENTS * self.mss);
        self.epoch_started = false;
    }

    /// Sets cwnd directly (used when leaving recovery).
    pub fn set_cwnd(&mut self, cwnd: usize) {
        self.cwnd = cwnd.max(self.mss);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    #[test]
    fn switching_algorithm_keeps_the_window() {
        let mut c = Congestion::new(Algorithm::Cubic, 1000);
        c.on_congestion_event(40_000);
        let (cwnd, ssthresh) = (c.cwnd(), c.ssthresh());
        c.set_algorithm(Algorithm::Reno);
        assert_eq!(c.algorithm(), Algorithm::Reno);
        assert_eq!((c.cwnd(), c.ssthresh()), (cwnd, ssthresh));
    }

    #[test]
    fn reno_slow_start_then_avoidance() {
        let mut c = Congestion::new(Algorithm::Reno, MSS);
        let now = Instant::ZERO;
        assert_eq!(c.cwnd(), 10 * MSS);
        c.on_ack(now, MSS, None);
        assert_eq!(c.cwnd(), 11 * MSS);
        // A stretch ACK: every segment it covers counts, as Linux's tcp_slow_start.
        c.on_ack(now, 10 * MSS, None);
        assert_eq!(c.cwnd(), 21 * MSS);
        c.on_congestion_event(20 * MSS);
        assert_eq!(c.ssthresh(), 10 * MSS);
        assert_eq!(c.cwnd(), 10 * MSS);
        assert!(!c.in_slow_start());
        for _ in 0..10 {
            c.on_ack(now, MSS, None);
        }
        assert_eq!(c.cwnd(), 11 * MSS);
        c.on_rto(11 * MSS);
        assert_eq!(c.cwnd(), MSS);
        assert_eq!(c.ssthresh(), 5500);
        c.on_congestion_event(MSS);
        assert_eq!(c.ssthresh(), 2 * MSS);
    }

    #[test]
    fn cubic_reduces_by_beta_and_regrows_concavely() {
        let mut c = Congestion::new(Algorithm::Cubic, MSS);
        let mut now = Instant::ZERO;
        for _ in 0..90 {
            c.on_ack(now, MSS, None);
        }
        assert_eq!(c.cwnd(), 100 * MSS);
        c.on_congestion_event(100 * MSS);
        assert_eq!(c.cwnd(), 70 * MSS);
        // A large window, where the cubic curve (not the Reno-friendly estimate) governs.
        c.set_cwnd(1000 * MSS);
        c.on_congestion_event(1000 * MSS);
        assert_eq!(c.cwnd(), 700 * MSS);
        let rtt = Duration::from_millis(50);
        // One RTT's worth of ACKs per round. K = cbrt(300 / 0.4) = 9.09 s = 182 rounds: cwnd
        // plateaus near w_max = 1000 there, then grows past it.
        let mut at_half_k = 0;
        let mut at_k = 0;
        for round in 0..300 {
            let segs = c.cwnd() / MSS;
            for _ in 0..segs {
                c.on_ack(now, MSS, Some(rtt));
            }
            now += rtt;
            if round == 91 {
                at_half_k = c.cwnd();
            }
            if round == 181 {
                at_k = c.cwnd();
            }
        }
        // Concave: most of the way back by K/2.
        assert!(
            at_half_k > 850 * MSS && at_half_k < 1000 * MSS,
            "{at_half_k}"
        );
        assert!(at_k > 980 * MSS && at_k < 1030 * MSS, "{at_k}");
        assert!(c.cwnd() > 1050 * MSS, "{}", c.cwnd()); // convex beyond w_max
        c.on_rto(c.cwnd());
        assert_eq!(c.cwnd(), MSS);
    }

    #[test]
    fn cubic_fast_convergence() {
        let mut c = Congestion::new(Algorithm::Cubic, MSS);
        c.set_cwnd(100 * MSS);
        c.on_congestion_event(100 * MSS);
        assert_eq!(c.w_max, 100.0);
        c.on_congestion_event(70 * MSS);
        // Second loss below w_max: w_max = 70 * (1 + 0.7) / 2
        assert!((c.w_max - 59.5).abs() < 1e-9);
    }
}
