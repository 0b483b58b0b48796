//! ICMPv4 (RFC 792): what the stack answers and what it reports.
//!
//! The stack answers echo requests (ping) with replies carrying the same data, and reports errors
//! with destination unreachable (port or protocol) and time exceeded (reassembly). Errors received
//! from the network are mapped to the errno a socket reports ([`errno_for_unreachable`]).
//!
//! RFC 1122 §3.2.2 says when an error must *not* be sent; [`may_send_error_about`] encodes it, and
//! [`RateLimit`] bounds how many we send (like Linux's `icmp_msgs_per_sec`), so a port scan cannot
//! turn the stack into a flood source.

use std::net::Ipv4Addr;

use crate::error::Errno;
use crate::time::{Duration, Instant};
use crate::wire::icmp::DstUnreachable;

/// How much of the offending datagram an error quotes: the whole error stays within 576 bytes
/// (RFC 1812 §4.3.2.3), which is also what Linux sends.
pub const MAX_QUOTE: usize = 576 - 20 - 8;

/// True if an ICMP error may be sent about a datagram with these properties (RFC 1122 §3.2.2).
pub fn may_send_error_about(
    src: Ipv4Addr,
    dst_was_broadcast: bool,
    is_icmp_error: bool,
    frag_offset: u16,
) -> bool {
    !is_icmp_error
        && !dst_was_broadcast
        && frag_offset == 0
        && !src.is_unspecified()
        && !src.is_broadcast()
        && !src.is_multicast()
        && !src.is_loopback()
}

/// The errno a socket reports for a destination-unreachable it received (as Linux's `icmp_err_convert`).
pub fn errno_for_unreachable(reason: DstUnreachable) -> Errno {
    match reason {
        DstUnreachable::NetUnreachable => Errno::ENETUNREACH,
        DstUnreachable::HostUnreachable => Errno::EHOSTUNREACH,
        DstUnreachable::ProtoUnreachable => Errno(libc::ENOPROTOOPT),
        DstUnreachable::PortUnreachable => Errno::ECONNREFUSED,
        DstUnreachable::FragRequired { .. } => Errno::EMSGSIZE,
        DstUnreachable::Other(_) => Errno::EHOSTUNREACH,
    }
}

/// True for errors that end a connection attempt at once ("hard" errors, RFC 1122 §4.2.3.9);
/// the others are only remembered until the connection times out.
pub fn is_hard_error(reason: DstUnreachable) -> bool {
    matches!(
        reason,
        DstUnreachable::ProtoUnreachable | DstUnreachable::PortUnreachable
    )
}

/// A token bucket for ICMP errors we send.
#[derive(Debug)]
pub struct RateLimit {
    tokens: u32,
    burst: u32,
    per_second: u32,
    last: Instant,
}

impl RateLimit {
    pub fn new(per_second: u32, burst: u32) -> Self {
        RateLimit {
            tokens: burst,
            burst,
            per_second,
            last: Instant::ZERO,
        }
    }

    /// Takes a token if one is left.
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_since(self.last);
        let refill = (elapsed.as_micros() * u128::from(self.per_second) / 1_000_000) as u32;
        if refill > 0 {
            self.tokens = (self.tokens + refill).min(self.burst);
            // Only advance by the time actually converted into tokens, so slow refills still add up.
            self.last +=
                Duration::from_micros(u64::from(refill) * 1_000_000 / u64::from(self.per_second));
            if self.tokens == self.burst {
                self.last = now;
            }
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::new(1000, 50)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_bursts_then_refills() {
        let mut r = RateLimit::new(10, 3);
        let t = Instant::from_millis(1000);
        assert!(r.allow(t) && r.allow(t) && r.allow(t));
        assert!(!r.allow(t));
        assert!(!r.allow(t + Duration::from_millis(50)));
        assert!(r.allow(t + Duration::from_millis(100)));
        assert!(!r.allow(t + Duration::from_millis(100)));
    }

    #[test]
    fn rfc1122_suppression() {
        let host = Ipv4Addr::new(10, 77, 0, 1);
        assert!(may_send_error_about(host, false, false, 0));
        assert!(!may_send_error_about(host, true, false, 0));
        assert!(!may_send_error_about(host, false, true, 0));
        assert!(!may_send_error_about(host, false, false, 8));
        assert!(!may_send_error_about(Ipv4Addr::BROADCAST, false, false, 0));
        assert_eq!(
            errno_for_unreachable(DstUnreachable::PortUnreachable),
            Errno::ECONNREFUSED
        );
    }
}
