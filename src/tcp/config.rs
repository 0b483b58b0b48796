//! Per-connection settings: what the socket layer's options and the stack's sysctls map onto.
//! Defaults follow Linux's effective defaults.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use super::congestion::Algorithm;
use crate::time::{Duration, Instant};

/// The host-wide budget of RFC 5961 challenge ACKs a second (Linux's tcp_challenge_ack_limit),
/// shared by every connection of a stack. Linux's default, `i32::MAX`, is no limit: the
/// per-connection limit does the work. A finite limit gives a count drawn anew each second between
/// half the limit and one and a half times it, so an attacker cannot learn from the count how many
/// challenges others caused (CVE-2016-5696).
#[derive(Debug)]
pub struct ChallengeBudget {
    limit: u32,
    /// The second the count is for, and the count left (packed: second << 32 | count).
    state: AtomicU64,
    seed: AtomicU32,
}

impl ChallengeBudget {
    pub fn new(limit: u32, seed: u32) -> ChallengeBudget {
        ChallengeBudget {
            limit,
            state: AtomicU64::new(u64::MAX),
            seed: AtomicU32::new(seed | 1),
        }
    }

    pub fn unlimited() -> ChallengeBudget {
        ChallengeBudget::new(i32::MAX as u32, 1)
    }

    /// One challenge ACK at `now`, if the budget allows.
    pub fn take(&self, now: Instant) -> bool {
        if self.limit >= i32::MAX as u32 {
            return true;
        }
        let second = now.as_micros() / 1_000_000;
        let state = self.state.load(Ordering::Relaxed);
        let count = if state >> 32 == second & 0xffff_ffff {
            state & 0xffff_ffff
        } else {
            // xorshift: a fresh draw each second.
            let mut x = self.seed.load(Ordering::Relaxed);
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            self.seed.store(x, Ordering::Relaxed);
            let half = self.limit.div_ceil(2);
            u64::from(half + x % self.limit.max(1))
        };
        if count == 0 {
            return false;
        }
        self.state.store(
            ((second & 0xffff_ffff) << 32) | (count - 1),
            Ordering::Relaxed,
        );
        true
    }
}

/// Linux's default tcp_syn_linear_timeouts.
pub const SYN_LINEAR_TIMEOUTS: u8 = 4;

/// Linux's default and least tcp_min_snd_mss (TCP_MIN_SND_MSS).
pub const MIN_SND_MSS: u16 = 48;

#[derive(Clone, Debug)]
pub struct Config {
    /// Our MSS: the interface MTU minus 40 (IPv4 + TCP headers without options).
    pub mss: u16,
    /// The device cuts super-segments (`DeviceCaps::tso`): new data may go out as one segment
    /// of up to 64 KiB when the peer takes segments that fill our MTU.
    pub tso: bool,
    /// SO_SNDBUF-like: bytes of unacknowledged + unsent data held, to begin with.
    pub send_buffer: usize,
    /// What the send buffer may grow to as cwnd does (Linux's tcp_wmem[2]), unless
    /// `send_buffer_locked`. (u32: at most `MAX_BUFFER`; every connection holds a copy.)
    pub send_buffer_max: u32,
    /// SO_SNDBUF was set: the send buffer keeps that size (Linux's SOCK_SNDBUF_LOCK).
    pub send_buffer_locked: bool,
    /// TCP_NOTSENT_LOWAT in effect (the socket's own, else the host's `tcp_notsent_lowat`;
    /// `u32::MAX`, Linux's default, is none): new data is taken only while fewer bytes than this
    /// wait unsent, and the socket polls writable only while fewer than half of it do (Linux's
    /// tcp_stream_memory_free).
    pub notsent_lowat: u32,
    /// SO_RCVBUF-like: bytes of received data held (bounds the advertised window), to begin with:
    /// it grows with what the reader takes per round trip up to `window_space`, unless
    /// `recv_buffer_locked`.
    pub recv_buffer: usize,
    /// SO_RCVBUF was set: the receive buffer keeps that size (Linux's SOCK_RCVBUF_LOCK).
    pub recv_buffer_locked: bool,
    /// TCP_NODELAY: disables Nagle's algorithm.
    pub nodelay: bool,
    /// TCP_CORK: no partial segment leaves until uncorked, or until the persist timer (at least
    /// the RTO, ~200 ms) finds nothing else in flight, as Linux's zero-window probe timer does.
    pub cork: bool,
    pub congestion: Algorithm,
    /// TIME-WAIT length (2·MSL), in milliseconds ([`Config::time_wait`]): a u32, where a Duration
    /// would take 12 bytes more of every SYN-queue entry.
    pub time_wait_ms: u32,
    /// How long an orphaned (closed) connection may stay in FIN-WAIT-2 (tcp_fin_timeout).
    pub fin_wait2_timeout: Duration,
    /// SYN (or SYN-ACK) retransmissions before ETIMEDOUT (tcp_syn_retries; TCP_SYNCNT, 1 to 127).
    /// For a SYN, as Linux counts it: the time 1, 2, 4… seconds of backoff would take for that
    /// many, not the number sent (see `syn_linear_timeouts`).
    pub syn_retries: u8,
    /// Linux's tcp_syn_linear_timeouts (6.5 on; 4 by default): a SYN's first timeouts that keep
    /// the initial RTO instead of doubling it, so that the SYN goes again each second for a while
    /// (macOS's schedule); 0 gives the classic doubling from the first.
    pub syn_linear_timeouts: u8,
    /// SYN-ACK retransmissions before a passive connection is dropped (tcp_synack_retries, 5);
    /// a listener's TCP_SYNCNT sets it as it sets `syn_retries`.
    pub synack_retries: u8,
    /// TCP_DEFER_ACCEPT, as Linux keeps it: a number of SYN-ACK retransmissions (see
    /// [`defer_accept_retransmissions`]) during which a passive connection waits for data, the
    /// bare ACK that ends its handshake dropped; 0: off.
    pub defer_accept: u8,
    /// TCP_QUICKACK 0 set on a socket without a connection: its connection starts in interactive
    /// (delayed-ACK) mode, which Linux keeps on the socket (`icsk_ack.pingpong`). A connect's
    /// handshake ACK then waits for the first data (see `Connection::input_syn_sent`); a
    /// listener's children inherit it (set after `listen`, which clears it), so their ACKs wait
    /// for replies (haproxy's `tcp-smart-accept`).
    pub quick_ack_off: bool,
    /// Data retransmissions before ETIMEDOUT (tcp_retries2).
    pub data_retries: u32,
    /// TCP_USER_TIMEOUT (RFC 5482): how long sent data may stay unacknowledged, or window probes
    /// and keepalive probes unanswered, before the connection fails with ETIMEDOUT, whatever the
    /// retry counts say. Zero: off (the counts decide).
    pub user_timeout: Duration,
    /// SO_KEEPALIVE. Linux leaves it off unless the program asks; the stack may flip it.
    pub keepalive: bool,
    pub keepalive_idle: Duration,
    pub keepalive_interval: Duration,
    /// TCP_KEEPCNT (1 to 127), or `tcp_keepalive_probes` (a u8 sysctl, as Linux keeps it).
    pub keepalive_count: u8,
    /// Longest delay of an ACK for in-order data.
    pub delayed_ack: Duration,
    pub timestamps: bool,
    pub sack: bool,
    pub window_scale: bool,
    /// The largest receive space the host allows (the larger of `tcp_rmem[2]` and `rmem_max`): the
    /// window scale a SYN offers covers it, as Linux's `tcp_select_initial_window` does, so the
    /// window can grow that far later whatever the buffer is at the start.
    pub window_space: u32,
    /// Linux's tcp_min_snd_mss: the smallest segment we send, whatever MSS the peer asks for (a
    /// peer announcing a tiny MSS would otherwise have us cut data into byte-sized segments, the
    /// resource exhaustion of CVE-2019-11479).
    pub min_snd_mss: u16,
    /// Linux's tcp_invalid_ratelimit: the least time between two answers to invalid segments
    /// (challenge ACKs, duplicate ACKs for out-of-window ones) on a connection.
    pub invalid_ratelimit: Duration,
    /// Linux's tcp_challenge_ack_limit, shared by the stack's connections.
    pub challenge_budget: Arc<ChallengeBudget>,
    /// Linux's tcp_syncookies: 0 never, 1 when a listener's SYN queue is full (the default),
    /// 2 always.
    pub syncookies: u8,
    /// SO_LINGER: `Some(Duration::ZERO)` makes close() abort with RST. Other values behave like
    /// `None` in the engine (the stack may block close() for that long).
    pub linger: Option<Duration>,
    /// Explicit Congestion Notification (RFC 3168), as Linux's `net.ipv4.tcp_ecn`.
    pub ecn: EcnMode,
    /// Fast Open (RFC 7413): Linux's `net.ipv4.tcp_fastopen` bits ([`super::fastopen::sysctl`]).
    pub fastopen: u16,
    /// SO_MAX_PACING_RATE (Linux's `sk_max_pacing_rate`): the most bytes a second the connection
    /// sends, spaced out in time ([`pacing_gap`]); `u32::MAX`, the default, is no cap. Linux's is
    /// an unsigned long; a rate of 4 GiB/s or more caps nothing this stack sends, and a u32 keeps
    /// a SYN-queue entry under 1 KiB.
    pub max_pacing_rate: u32,
}

/// When a connection uses ECN (RFC 3168 §6.1.1): Linux's `tcp_ecn` values 0, 1 and 2.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EcnMode {
    /// 0: never; a SYN asking for ECN is answered without it.
    Off,
    /// 1: ask for it on outgoing connections, and accept it on incoming ones.
    On,
    /// 2, Linux's default: accept it when the peer asks, never ask.
    #[default]
    Passive,
}

impl EcnMode {
    /// The mode a `tcp_ecn` value names; `None` for values this stack does not know (Linux 6.18's
    /// AccECN modes among them).
    pub fn from_sysctl(v: u32) -> Option<EcnMode> {
        match v {
            0 => Some(EcnMode::Off),
            1 => Some(EcnMode::On),
            2 => Some(EcnMode::Passive),
            _ => None,
        }
    }

    /// A SYN we send asks for ECN.
    pub fn requests(self) -> bool {
        self == EcnMode::On
    }

    /// A SYN that asks for ECN gets it.
    pub fn accepts(self) -> bool {
        self != EcnMode::Off
    }
}

impl Config {
    /// TIME-WAIT's length.
    pub fn time_wait(&self) -> Duration {
        Duration::from_millis(u64::from(self.time_wait_ms))
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            mss: 1460,
            tso: false,
            send_buffer: 64 * 1024,
            // Linux's built-in tcp_wmem[2].
            send_buffer_max: 4 * 1024 * 1024,
            send_buffer_locked: false,
            notsent_lowat: u32::MAX,
            recv_buffer_locked: false,
            recv_buffer: 128 * 1024,
            nodelay: false,
            cork: false,
            congestion: Algorithm::Cubic,
            time_wait_ms: 60_000,
            fin_wait2_timeout: Duration::from_secs(60),
            syn_retries: 6,
            syn_linear_timeouts: SYN_LINEAR_TIMEOUTS,
            synack_retries: 5,
            defer_accept: 0,
            quick_ack_off: false,
            data_retries: 15,
            user_timeout: Duration::ZERO,
            keepalive: true,
            keepalive_idle: Duration::from_secs(7200),
            keepalive_interval: Duration::from_secs(75),
            keepalive_count: 9,
            delayed_ack: Duration::from_millis(40),
            timestamps: true,
            sack: true,
            window_scale: true,
            // Linux's built-in tcp_rmem[2].
            window_space: 6 * 1024 * 1024,
            syncookies: 1,
            min_snd_mss: MIN_SND_MSS,
            invalid_ratelimit: Duration::from_millis(500),
            challenge_budget: Arc::new(ChallengeBudget::unlimited()),
            linger: None,
            ecn: EcnMode::Passive,
            fastopen: super::fastopen::sysctl::DEFAULT,
            max_pacing_rate: u32::MAX,
        }
    }
}

/// Linux's TCP leaves a connection's first ten data segments unpaced (`tcp_update_skb_after_send`
/// paces once `data_segs_out` reaches 10): here, its first ten MSS of data.
pub const UNPACED_SEGMENTS: u64 = 10;

/// The time `len` bytes take at `rate` bytes a second, less the part of `credit` (how late the
/// previous segment left after its slot) that Linux's `tcp_update_skb_after_send` forgives to
/// absorb the host's jitter: at most half the gap. `None` when `rate` paces nothing (0 or
/// `u32::MAX`: Linux's internal pacing skips 0 and `~0UL`).
pub fn pacing_gap(len: usize, rate: u32, credit: Duration) -> Option<Duration> {
    if rate == 0 || rate == u32::MAX {
        return None;
    }
    let gap_ns = (len as u128 * 1_000_000_000 / u128::from(rate)).min(u128::from(u64::MAX)) as u64;
    let forgiven = (gap_ns / 2).min(u64::try_from(credit.as_nanos()).unwrap_or(u64::MAX));
    Some(Duration::from_nanos(gap_ns - forgiven))
}

/// Largest buffer accepted from setters (window scale 14 allows up to 1 GiB; keep it sane).
pub const MAX_BUFFER: usize = 32 * 1024 * 1024;

/// TCP_DEFER_ACCEPT's seconds as Linux keeps them (`secs_to_retrans`): the fewest SYN-ACK
/// retransmissions whose timeouts (1 s, doubling up to 120 s) add up to at least `secs`, at most
/// 255; 0 (or less) turns it off.
pub fn defer_accept_retransmissions(secs: i32) -> u8 {
    if secs <= 0 {
        return 0;
    }
    let (mut count, mut timeout, mut period) = (1u8, 1i64, 1i64);
    while i64::from(secs) > period && count < u8::MAX {
        count += 1;
        timeout = (timeout * 2).min(120);
        period += timeout;
    }
    count
}

/// What getsockopt(TCP_DEFER_ACCEPT) reports for `count` retransmissions (`retrans_to_secs`): the
/// seconds they last, which may be more than were asked.
pub fn defer_accept_seconds(count: u8) -> i32 {
    let (mut timeout, mut period) = (1i32, 0i32);
    for i in 0..count {
        if i > 0 {
            timeout = (timeout * 2).min(120);
        }
        period += timeout;
    }
    period
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pacing_gap_is_the_bytes_at_the_rate_less_half_at_most_for_lateness() {
        let none = Duration::ZERO;
        assert_eq!(pacing_gap(1448, u32::MAX, none), None);
        assert_eq!(pacing_gap(1448, 0, none), None);
        // 625 000 bytes a second (5 Mbit/s): 1448 bytes take 2.3168 ms.
        assert_eq!(
            pacing_gap(1448, 625_000, none),
            Some(Duration::from_nanos(2_316_800))
        );
        let late = Duration::from_millis(1);
        assert_eq!(
            pacing_gap(1448, 625_000, late),
            Some(Duration::from_nanos(1_316_800))
        );
        let very_late = Duration::from_secs(1);
        assert_eq!(
            pacing_gap(1448, 625_000, very_late),
            Some(Duration::from_nanos(1_158_400))
        );
    }

    #[test]
    fn the_challenge_budget_is_drawn_each_second_around_the_limit() {
        let b = ChallengeBudget::new(10, 12345);
        for s in 0..20u64 {
            let at = Instant::from_millis(s * 1000 + 1);
            let n = (0..100).take_while(|_| b.take(at)).count();
            assert!((5..15).contains(&n), "second {s}: {n}");
        }
        let u = ChallengeBudget::unlimited();
        assert!((0..10_000).all(|_| u.take(Instant::ZERO)));
    }
}
