//! BBR congestion control, version 1 (draft-cardwell-iccrg-bbr-congestion-control-00), as Linux's
//! `tcp_bbr` runs it: the module a Linux host picks when `net.ipv4.tcp_congestion_control` says
//! `bbr`, or a program asks for it with `TCP_CONGESTION`.
//!
//! Where CUBIC and Reno read a loss as congestion and cut the window, BBR builds a model of the
//! path from the delivery rate ([`super::rate`]) and the round-trip time: the bottleneck bandwidth
//! (the largest delivery rate over the last ten round trips) and the propagation delay (the least
//! RTT over ten seconds). The window is a multiple of their product, so random loss that leaves
//! the delivery rate as it was leaves the window as it was. Four modes: Startup doubles the rate
//! each round until it stops growing, Drain empties the queue Startup built, ProbeBw cycles the
//! rate around the estimate to find more, and ProbeRtt shrinks the flight for a moment every ten
//! seconds to see the propagation delay again.
//!
//! Like Linux's, the loss response is packet conservation for the first round of a recovery and
//! the window restored when it ends. Left out: the long-term bandwidth sampling Linux uses to
//! detect token-bucket policers, the ACK-aggregation allowance, and pacing: this stack sends as
//! the window allows, so the pacing rate only sizes the burst allowance (Linux's TSO goal), and
//! Drain holds the window to one bandwidth-delay product where Linux paces below it.
//!
//! Part of the sans-IO TCP engine: [`super::congestion::Congestion`] owns one when the algorithm is
//! BBR and feeds it one [`AckSample`] per ACK; it returns the window.

// The initial window (segments) is also the BDP assumed before any RTT is known.
use super::congestion::INITIAL_WINDOW_SEGMENTS as INITIAL_CWND_SEGMENTS;
use super::rate::RateSample;
use crate::time::{Duration, Instant};

/// Startup's gain, 2/ln 2: the rate that doubles the delivery rate each round trip.
const HIGH_GAIN: f64 = 2.885;
/// Drain's pacing gain, its inverse: empties in one round what Startup queued.
const DRAIN_GAIN: f64 = 1.0 / 2.885;
/// ProbeBw's window gain: room for ACKs that come late or in bunches.
const CWND_GAIN: f64 = 2.0;
/// ProbeBw's eight phases: probe up by a quarter, drain what that queued, cruise six rounds.
const PACING_GAINS: [f64; 8] = [1.25, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
/// Round trips the bandwidth filter remembers.
const BW_ROUNDS: u32 = 10;
/// How long a least RTT stands before ProbeRtt looks for it again.
const MIN_RTT_WINDOW: Duration = Duration::from_secs(10);
/// ProbeRtt holds the flight at the minimum this long (and at least a round).
const PROBE_RTT_TIME: Duration = Duration::from_millis(200);
/// The least window, in segments: enough to keep ACKs coming with delayed ACKs.
const MIN_CWND_SEGMENTS: usize = 4;
/// Startup ends when three rounds in a row grew the bandwidth by less than this.
const FULL_BW_GROWTH: f64 = 1.25;
const FULL_BW_ROUNDS: u8 = 3;
/// The pacing rate is set this much below the estimate, to drain queues slowly.
const PACING_MARGIN: f64 = 0.99;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Startup,
    Drain,
    ProbeBw,
    ProbeRtt,
}

/// The loss-recovery state the connection is in, as BBR needs to know it (Linux's ca_state).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LossState {
    Open,
    /// Fast recovery (RFC 6675).
    Recovery,
    /// After a retransmission timeout.
    Timeout,
}

/// What one ACK told the sender.
#[derive(Clone, Copy, Debug)]
pub struct AckSample {
    pub rate: RateSample,
    /// Bytes this ACK newly (S)ACKed.
    pub acked: usize,
    /// Bytes this ACK led the sender to mark lost.
    pub lost: usize,
    /// Bytes in flight (RFC 6675 pipe) before and after the ACK.
    pub prior_in_flight: usize,
    pub in_flight: usize,
    /// Bytes delivered over the connection's life.
    pub delivered: u64,
    pub state: LossState,
}

/// A running maximum over a window of rounds, kept as the best, second best and third best
/// values of successively later sub-windows (Kathleen Nichols' algorithm), so that the maximum
/// of an expired window is replaced by a recent one without keeping every sample.
#[derive(Clone, Copy, Debug, Default)]
struct WindowedMax {
    best: [(u64, u32); 3],
}

impl WindowedMax {
    fn get(&self) -> u64 {
        self.best[0].0
    }

    fn update(&mut self, window: u32, round: u32, value: u64) {
        let fresh = (value, round);
        if value >= self.best[0].0 || round.wrapping_sub(self.best[2].1) > window {
            self.best = [fresh; 3];
            return;
        }
        if value >= self.best[1].0 {
            self.best[1] = fresh;
            self.best[2] = fresh;
        } else if value >= self.best[2].0 {
            self.best[2] = fresh;
        }
        let age = round.wrapping_sub(self.best[0].1);
        if age > window {
            // The best has expired: the next best moves up, and may have expired too.
            self.best = [self.best[1], self.best[2], fresh];
            if round.wrapping_sub(self.best[0].1) > window {
                self.best = [self.best[1], self.best[2], fresh];
            }
        } else if self.best[1] == self.best[0] && age > window / 4 {
            // A quarter of the window gone with one value: take a second choice from now on.
            self.best[1] = fresh;
            self.best[2] = fresh;
        } else if self.best[2] == self.best[1] && age > window / 2 {
            self.best[2] = fresh;
        }
    }
}

#[derive(Clone, Debug)]
pub struct Bbr {
    mode: Mode,
    /// Bottleneck bandwidth estimate, bytes per second.
    bw: WindowedMax,
    /// Round trips counted so far, and the `delivered` count that ends the current one.
    round: u32,
    next_round_delivered: u64,
    round_start: bool,
    min_rtt: Option<Duration>,
    min_rtt_at: Instant,
    probe_rtt_done_at: Option<Instant>,
    probe_rtt_round_done: bool,
    /// The window before a recovery or ProbeRtt, restored after.
    prior_cwnd: usize,
    /// The first round of a recovery: send only as much as is delivered.
    packet_conservation: bool,
    prev_state: LossState,
    full_bw: u64,
    full_bw_rounds: u8,
    full_bw_reached: bool,
    cycle_index: usize,
    cycle_start: Instant,
    pacing_gain: f64,
    cwnd_gain: f64,
    /// Bytes per second (0 until the first RTT sample).
    pacing_rate: u64,
    /// Varies where ProbeBw's cycle starts, as Linux does at random.
    cycle_seed: u32,
}

impl Bbr {
    pub fn new(cycle_seed: u32) -> Bbr {
        Bbr {
            mode: Mode::Startup,
            bw: WindowedMax::default(),
            round: 0,
            next_round_delivered: 0,
            round_start: false,
            min_rtt: None,
            min_rtt_at: Instant::ZERO,
            probe_rtt_done_at: None,
            probe_rtt_round_done: false,
            prior_cwnd: 0,
            packet_conservation: false,
            prev_state: LossState::Open,
            full_bw: 0,
            full_bw_rounds: 0,
            full_bw_reached: false,
            cycle_index: 0,
            cycle_start: Instant::ZERO,
            pacing_gain: HIGH_GAIN,
            cwnd_gain: HIGH_GAIN,
            pacing_rate: 0,
            cycle_seed,
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The bottleneck bandwidth estimate, bytes per second.
    pub fn bandwidth(&self) -> u64 {
        self.bw.get()
    }

    pub fn pacing_rate(&self) -> u64 {
        self.pacing_rate
    }

    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    /// The pacing and window gains of the current mode.
    pub fn gains(&self) -> (f64, f64) {
        (self.pacing_gain, self.cwnd_gain)
    }

    /// Remembers the window before a reduction the connection makes (a recovery, a timeout, an
    /// ECN or loss-probe event): what the window returns to when it ends (Linux's bbr_save_cwnd).
    pub fn save_cwnd(&mut self, cwnd: usize) {
        self.prior_cwnd = if self.prev_state < LossState::Recovery && self.mode != Mode::ProbeRtt {
            cwnd
        } else {
            self.prior_cwnd.max(cwnd)
        };
    }

    /// A retransmission timeout: the bandwidth probe starts over (the estimate is kept).
    pub fn on_timeout(&mut self) {
        self.prev_state = LossState::Timeout;
        self.full_bw = 0;
        self.round_start = true;
    }

    /// One ACK: updates the model and returns the new window in bytes, and whether the sender
    /// should count itself application-limited (ProbeRtt's low rate is no measure of the path).
    pub fn on_ack(
        &mut self,
        now: Instant,
        s: &AckSample,
        cwnd: usize,
        mss: usize,
        srtt: Option<Duration>,
    ) -> (usize, bool) {
        let mss = mss.max(1);
        self.update_bandwidth(s);
        self.update_cycle_phase(now, s, mss);
        self.check_full_bandwidth(s);
        self.check_drain(now, s, mss);
        let app_limited = self.update_min_rtt(now, s, cwnd, mss);
        self.update_gains();
        self.update_pacing_rate(mss, srtt);
        (self.next_cwnd(s, cwnd, mss), app_limited)
    }

    fn update_bandwidth(&mut self, s: &AckSample) {
        self.round_start = false;
        let Some(bw) = s.rate.bytes_per_sec() else {
            return;
        };
        if s.rate.prior_delivered >= self.next_round_delivered {
            self.next_round_delivered = s.delivered;
            self.round = self.round.wrapping_add(1);
            self.round_start = true;
            self.packet_conservation = false;
        }
        // An application-limited sample can only say the path is at least that fast.
        if !s.rate.app_limited || bw >= self.bw.get() {
            self.bw.update(BW_ROUNDS, self.round, bw);
        }
    }

    /// The bandwidth-delay product times `gain`, in bytes, with the allowance for segments sent
    /// in bursts (three quanta, as Linux's bbr_quantization_budget).
    fn target_flight(&self, gain: f64, mss: usize) -> usize {
        let Some(rtt) = self.min_rtt else {
            return INITIAL_CWND_SEGMENTS * mss;
        };
        let bdp = self.bw.get() as f64 * rtt.as_secs_f64();
        let mut segs = (bdp * gain / mss as f64).ceil() as usize;
        segs += 3 * self.quantum_segments(mss);
        segs = (segs + 1) & !1;
        if self.mode == Mode::ProbeBw && self.cycle_index == 0 {
            segs += 2;
        }
        segs * mss
    }

    /// Segments sent as one burst at the pacing rate: about a millisecond's worth, at least
    /// two, at most a 64 KiB super-segment (Linux's bbr_tso_segs_goal).
    fn quantum_segments(&self, mss: usize) -> usize {
        let bytes = (self.pacing_rate / 1000).min(65_536 - 1 - 320) as usize;
        (bytes / mss).clamp(2, 127)
    }

    fn update_cycle_phase(&mut self, now: Instant, s: &AckSample, mss: usize) {
        if self.mode != Mode::ProbeBw {
            return;
        }
        let full_length = self
            .min_rtt
            .is_some_and(|rtt| now.saturating_since(self.cycle_start) > rtt);
        let gain = self.pacing_gain;
        let next = if gain == 1.0 {
            full_length
        } else if gain > 1.0 {
            // Probe until a round has passed and the flight reached the higher target, or loss
            // says the path is full.
            full_length && (s.lost > 0 || s.prior_in_flight >= self.target_flight(gain, mss))
        } else {
            full_length || s.prior_in_flight <= self.target_flight(1.0, mss)
        };
        if next {
            self.cycle_index = (self.cycle_index + 1) % PACING_GAINS.len();
            self.cycle_start = now;
        }
    }

    fn check_full_bandwidth(&mut self, s: &AckSample) {
        if self.full_bw_reached || !self.round_start || s.rate.app_limited {
            return;
        }
        let bw = self.bw.get();
        if bw as f64 >= self.full_bw as f64 * FULL_BW_GROWTH {
            self.full_bw = bw;
            self.full_bw_rounds = 0;
            return;
        }
        self.full_bw_rounds += 1;
        self.full_bw_reached = self.full_bw_rounds >= FULL_BW_ROUNDS;
    }

    fn check_drain(&mut self, now: Instant, s: &AckSample, mss: usize) {
        if self.mode == Mode::Startup && self.full_bw_reached {
            self.mode = Mode::Drain;
        }
        if self.mode == Mode::Drain && s.in_flight <= self.target_flight(1.0, mss) {
            self.enter_probe_bw(now);
        }
    }

    fn enter_probe_bw(&mut self, now: Instant) {
        self.mode = Mode::ProbeBw;
        // Any phase but the draining one (index 1), so flows that start together spread out.
        let len = PACING_GAINS.len();
        self.cycle_seed = self
            .cycle_seed
            .wrapping_mul(1_103_515_245)
            .wrapping_add(12_345);
        self.cycle_index = len - 1 - (self.cycle_seed >> 16) as usize % (len - 1);
        self.cycle_start = now;
    }

    /// Keeps the least RTT, and runs ProbeRtt when it is ten seconds old. Returns whether the
    /// sender is to count itself application-limited.
    fn update_min_rtt(&mut self, now: Instant, s: &AckSample, cwnd: usize, mss: usize) -> bool {
        // Only a minimum once measured can go stale: before the first sample `min_rtt_at` is
        // just the zero it started at, and the runtime's clock counts from boot (Linux stamps
        // `min_rtt_stamp` at bbr_init for the same reason).
        let expired =
            self.min_rtt.is_some() && now.saturating_since(self.min_rtt_at) > MIN_RTT_WINDOW;
        if let Some(rtt) = s.rate.rtt {
            if self.min_rtt.is_none_or(|m| rtt < m || expired) {
                self.min_rtt = Some(rtt);
                self.min_rtt_at = now;
            }
        }
        if expired && self.mode != Mode::ProbeRtt && self.min_rtt.is_some() {
            self.mode = Mode::ProbeRtt;
            self.save_cwnd(cwnd);
            self.probe_rtt_done_at = None;
        }
        if self.mode != Mode::ProbeRtt {
            return false;
        }
        match self.probe_rtt_done_at {
            None if s.in_flight <= MIN_CWND_SEGMENTS * mss => {
                self.probe_rtt_done_at = Some(now + PROBE_RTT_TIME);
                self.probe_rtt_round_done = false;
                self.next_round_delivered = s.delivered;
            }
            Some(done) => {
                self.probe_rtt_round_done |= self.round_start;
                if self.probe_rtt_round_done && now >= done {
                    self.min_rtt_at = now;
                    self.mode = if self.full_bw_reached {
                        Mode::ProbeBw
                    } else {
                        Mode::Startup
                    };
                    if self.mode == Mode::ProbeBw {
                        self.enter_probe_bw(now);
                    }
                    self.probe_rtt_done_at = None;
                    return false;
                }
            }
            None => {}
        }
        true
    }

    fn update_gains(&mut self) {
        (self.pacing_gain, self.cwnd_gain) = match self.mode {
            Mode::Startup => (HIGH_GAIN, HIGH_GAIN),
            Mode::Drain => (DRAIN_GAIN, HIGH_GAIN),
            Mode::ProbeBw => (PACING_GAINS[self.cycle_index], CWND_GAIN),
            Mode::ProbeRtt => (1.0, 1.0),
        };
    }

    fn update_pacing_rate(&mut self, mss: usize, srtt: Option<Duration>) {
        let bw = self.bw.get();
        if bw == 0 {
            // Before any sample: the initial window over the smoothed RTT (1 ms if none yet).
            let rtt = srtt
                .unwrap_or(Duration::from_millis(1))
                .as_secs_f64()
                .max(1e-6);
            self.pacing_rate = (HIGH_GAIN * (INITIAL_CWND_SEGMENTS * mss) as f64 / rtt) as u64;
            return;
        }
        let rate = (bw as f64 * self.pacing_gain * PACING_MARGIN) as u64;
        if self.full_bw_reached || rate > self.pacing_rate {
            self.pacing_rate = rate;
        }
    }

    /// The window after this ACK (Linux's bbr_set_cwnd with its recovery rules).
    fn next_cwnd(&mut self, s: &AckSample, cwnd: usize, mss: usize) -> usize {
        let floor = MIN_CWND_SEGMENTS * mss;
        let mut cwnd = cwnd;
        if s.acked > 0 {
            cwnd = cwnd.saturating_sub(s.lost).max(mss);
            let entering = s.state == LossState::Recovery && self.prev_state != LossState::Recovery;
            let leaving = self.prev_state >= LossState::Recovery && s.state < LossState::Recovery;
            if entering {
                // The first round of a recovery: as much out as came in.
                self.packet_conservation = true;
                self.next_round_delivered = s.delivered;
                cwnd = s.in_flight + s.acked;
            } else if leaving {
                cwnd = cwnd.max(self.prior_cwnd);
                self.packet_conservation = false;
            }
            self.prev_state = s.state;
            if self.packet_conservation {
                cwnd = cwnd.max(s.in_flight + s.acked);
            } else {
                let target = self.target_flight(self.cwnd_gain, mss);
                if self.full_bw_reached {
                    cwnd = (cwnd + s.acked).min(target);
                } else if cwnd < target || s.delivered < (INITIAL_CWND_SEGMENTS * mss) as u64 {
                    cwnd += s.acked;
                }
                cwnd = cwnd.max(floor);
            }
        }
        match self.mode {
            Mode::ProbeRtt => cwnd = cwnd.min(floor),
            // Linux drains by pacing below the estimate; a sender that does not pace drains by
            // holding the window to one bandwidth-delay product until the queue is gone.
            Mode::Drain => cwnd = cwnd.min(self.target_flight(1.0, mss).max(floor)),
            _ => {}
        }
        cwnd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    fn sample(delivered: u64, prior: u64, interval_us: u64, rtt_us: u64) -> RateSample {
        RateSample {
            delivered: delivered - prior,
            interval: Some(Duration::from_micros(interval_us)),
            prior_delivered: prior,
            app_limited: false,
            rtt: Some(Duration::from_micros(rtt_us)),
        }
    }

    #[test]
    fn windowed_max_forgets_an_old_peak() {
        let mut f = WindowedMax::default();
        f.update(10, 1, 100);
        f.update(10, 2, 50);
        f.update(10, 8, 60);
        assert_eq!(f.get(), 100);
        f.update(10, 12, 40);
        assert_eq!(
            f.get(),
            60,
            "the peak of round 1 is more than ten rounds old"
        );
        f.update(10, 30, 10);
        assert_eq!(f.get(), 10);
    }

    /// A path of 10 MB/s and 10 ms: Startup finds it, Drain and ProbeBw settle the window near
    /// twice the 100 kB product, and random loss outside recovery leaves it there.
    #[test]
    fn finds_the_bandwidth_delay_product_and_shrugs_off_loss() {
        let mut b = Bbr::new(7);
        let mut cwnd = 10 * MSS;
        let mut delivered = 0u64;
        let rtt = 10_000u64;
        let mut now = Instant::from_millis(1);
        for _round in 0..40 {
            let prior = delivered;
            // One ACK per round trip for the whole flight, paced by the path's 10 MB/s.
            let flight = cwnd.min(100_000 * 3);
            let got = (flight as u64).min(100_000);
            delivered += got;
            now += Duration::from_micros(rtt);
            let s = AckSample {
                rate: sample(delivered, prior, rtt.max(got * 1_000_000 / 10_000_000), rtt),
                acked: got as usize,
                lost: if delivered.is_multiple_of(3) { MSS } else { 0 },
                prior_in_flight: flight,
                in_flight: flight - got as usize,
                delivered,
                state: LossState::Open,
            };
            cwnd = b.on_ack(now, &s, cwnd, MSS, None).0;
        }
        assert_eq!(b.mode(), Mode::ProbeBw);
        assert!(
            (9_000_000..=10_000_000).contains(&b.bandwidth()),
            "{}",
            b.bandwidth()
        );
        assert!((200 * MSS..=260 * MSS).contains(&cwnd), "{cwnd}");
    }

    /// The runtime's clock counts from boot, so a connection's first ACK may come days after
    /// `Instant::ZERO`: with no RTT measured yet, that is not a minimum gone stale.
    #[test]
    fn a_first_sample_days_after_zero_does_not_start_probe_rtt() {
        let mut b = Bbr::new(3);
        let now = Instant::from_millis(3 * 86_400_000);
        let s = AckSample {
            rate: sample(10_000, 0, 10_000, 10_000),
            acked: 10_000,
            lost: 0,
            prior_in_flight: 10 * MSS,
            in_flight: 0,
            delivered: 10_000,
            state: LossState::Open,
        };
        let (cwnd, _) = b.on_ack(now, &s, 10 * MSS, MSS, None);
        assert_eq!(b.mode(), Mode::Startup);
        assert!(cwnd >= 10 * MSS, "{cwnd}");
    }

    #[test]
    fn recovery_conserves_packets_then_restores_the_window() {
        let mut b = Bbr::new(1);
        let mut s = AckSample {
            rate: sample(50_000, 40_000, 10_000, 10_000),
            acked: 2 * MSS,
            lost: 0,
            prior_in_flight: 40 * MSS,
            in_flight: 38 * MSS,
            delivered: 50_000,
            state: LossState::Open,
        };
        let cwnd = b
            .on_ack(Instant::from_millis(10), &s, 40 * MSS, MSS, None)
            .0;
        b.save_cwnd(cwnd);
        s.state = LossState::Recovery;
        s.in_flight = 20 * MSS;
        s.delivered += 2000;
        let during = b.on_ack(Instant::from_millis(11), &s, cwnd, MSS, None).0;
        assert_eq!(during, 22 * MSS, "in flight plus what this ACK delivered");
        s.state = LossState::Open;
        s.delivered += 2000;
        let after = b.on_ack(Instant::from_millis(12), &s, during, MSS, None).0;
        assert!(after >= cwnd, "{after} < {cwnd}");
    }
}
