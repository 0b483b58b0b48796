//! Per-connection settings: what the socket layer's options and the stack's sysctls map onto.
//! Defaults follow Linux's effective defaults.

use super::congestion::Algorithm;
use crate::time::Duration;

#[derive(Clone, Debug)]
pub struct Config {
    /// Our MSS: the interface MTU minus 40 (IPv4 + TCP headers without options).
    pub mss: u16,
    /// SO_SNDBUF-like: bytes of unacknowledged + unsent data held.
    pub send_buffer: usize,
    /// SO_RCVBUF-like: bytes of received data held (bounds the advertised window).
    pub recv_buffer: usize,
    /// TCP_NODELAY: disables Nagle's algorithm.
    pub nodelay: bool,
    /// TCP_CORK: no partial segment leaves until uncorked, or until the persist timer (at least
    /// the RTO, ~200 ms) finds nothing else in flight, as Linux's zero-window probe timer does.
    pub cork: bool,
    pub congestion: Algorithm,
    /// TIME-WAIT length (2·MSL).
    pub time_wait: Duration,
    /// How long an orphaned (closed) connection may stay in FIN-WAIT-2 (tcp_fin_timeout).
    pub fin_wait2_timeout: Duration,
    /// SYN (or SYN-ACK) retransmissions before ETIMEDOUT (tcp_syn_retries).
    pub syn_retries: u32,
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
    pub keepalive_count: u32,
    /// Longest delay of an ACK for in-order data.
    pub delayed_ack: Duration,
    pub timestamps: bool,
    pub sack: bool,
    pub window_scale: bool,
    /// The largest receive space the host allows (the larger of `tcp_rmem[2]` and `rmem_max`): the
    /// window scale a SYN offers covers it, as Linux's `tcp_select_initial_window` does, so the
    /// window can grow that far later whatever the buffer is at the start.
    pub window_space: usize,
    /// Linux's tcp_syncookies: 0 never, 1 when a listener's SYN queue is full (the default),
    /// 2 always.
    pub syncookies: u8,
    /// SO_LINGER: `Some(Duration::ZERO)` makes close() abort with RST. Other values behave like
    /// `None` in the engine (the stack may block close() for that long).
    pub linger: Option<Duration>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            mss: 1460,
            send_buffer: 64 * 1024,
            recv_buffer: 128 * 1024,
            nodelay: false,
            cork: false,
            congestion: Algorithm::Cubic,
            time_wait: Duration::from_secs(60),
            fin_wait2_timeout: Duration::from_secs(60),
            syn_retries: 6,
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
            linger: None,
        }
    }
}

/// Largest buffer accepted from setters (window scale 14 allows up to 1 GiB; keep it sane).
pub const MAX_BUFFER: usize = 32 * 1024 * 1024;
