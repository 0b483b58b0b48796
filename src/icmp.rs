//! ICMPv4 (RFC 792): what the stack answers and what it reports.
//!
//! The stack answers echo requests (ping) with replies carrying the same data, and reports errors
//! with destination unreachable (port or protocol) and time exceeded (reassembly). Errors received
//! from the network are mapped to the errno a socket reports and whether it is hard
//! ([`unreachable_report`]).
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

/// RFC 1349's TOS field within the TOS byte (Linux's IPTOS_TOS_MASK): neither the precedence
/// above it nor ECN's two bits below.
const TOS_FIELD: u8 = 0x1e;
/// Precedence "internetwork control" (RFC 791; Linux's IPTOS_PREC_INTERNETCONTROL).
const PRECEDENCE_INTERNETWORK_CONTROL: u8 = 0xc0;

/// The TOS byte of a reply (echo, timestamp) to a request that carried `request_tos`: the same
/// byte, ECN bits and all, as Linux's icmp_reply sends it (from the request's ip_hdr()->tos).
pub fn reply_tos(request_tos: u8) -> u8 {
    request_tos
}

/// The TOS byte of an error about a datagram that carried `offending_tos`: the datagram's TOS
/// field under precedence internetwork control (which RFC 1812 §4.3.2.5 asks of an error), as
/// Linux's __icmp_send makes it with `RT_TOS(iph->tos) | IPTOS_PREC_INTERNETCONTROL`; the
/// datagram's precedence and ECN bits are not kept.
pub fn error_tos(offending_tos: u8) -> u8 {
    offending_tos & TOS_FIELD | PRECEDENCE_INTERNETWORK_CONTROL
}

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

/// What an ICMP error received about one of our datagrams means to the socket that sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorReport {
    /// The errno the socket reports.
    pub errno: Errno,
    /// A "hard" error ends a connection attempt at once; a soft one is only remembered, to be
    /// reported if the connection later times out (RFC 1122 §4.2.3.9).
    pub hard: bool,
}

/// Linux's `icmp_err_convert`, indexed by the destination-unreachable code (RFC 792, RFC 1812
/// §5.2.7.1): the errno and whether it is hard.
const UNREACHABLE: [(i32, bool); 16] = [
    (libc::ENETUNREACH, false),  // 0 net unreachable
    (libc::EHOSTUNREACH, false), // 1 host unreachable
    (libc::ENOPROTOOPT, true),   // 2 protocol unreachable
    (libc::ECONNREFUSED, true),  // 3 port unreachable
    (libc::EMSGSIZE, false),     // 4 fragmentation needed and DF set
    (libc::EOPNOTSUPP, false),   // 5 source route failed
    (libc::ENETUNREACH, true),   // 6 destination network unknown
    (libc::EHOSTDOWN, true),     // 7 destination host unknown
    (libc::ENONET, true),        // 8 source host isolated
    (libc::ENETUNREACH, true),   // 9 network administratively prohibited
    (libc::EHOSTUNREACH, true),  // 10 host administratively prohibited
    (libc::ENETUNREACH, false),  // 11 network unreachable for TOS
    (libc::EHOSTUNREACH, false), // 12 host unreachable for TOS
    (libc::EHOSTUNREACH, true),  // 13 communication administratively prohibited
    (libc::EHOSTUNREACH, true),  // 14 host precedence violation
    (libc::EHOSTUNREACH, true),  // 15 precedence cutoff in effect
];

/// What a destination-unreachable means, as Linux's `icmp_err_convert` has it; `None` for a code
/// RFC 1812 does not define (Linux ignores those).
pub fn unreachable_report(reason: DstUnreachable) -> Option<ErrorReport> {
    let &(errno, hard) = UNREACHABLE.get(usize::from(reason.code()))?;
    Some(ErrorReport {
        errno: Errno(errno),
        hard,
    })
}

/// A time exceeded (TTL or reassembly) is a soft EHOSTUNREACH, as on Linux.
pub const TIME_EXCEEDED: ErrorReport = ErrorReport {
    errno: Errno::EHOSTUNREACH,
    hard: false,
};

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
        // At most a full bucket: the first call may come days after `last` (zero at first, and
        // the runtime's clock counts from boot), where the product would not fit a u32.
        let refill = (elapsed.as_micros() * u128::from(self.per_second) / 1_000_000)
            .min(u128::from(self.burst)) as u32;
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

    /// The first call comes long after the bucket was made (the runtime's clock counts from boot):
    /// the bucket is full, no more.
    #[test]
    fn rate_limit_first_used_days_later_holds_a_full_burst() {
        let mut r = RateLimit::new(1000, 3);
        // 49.7 days at 1000 tokens a second: u32::MAX tokens, which overflowed the count.
        let t = Instant::from_millis(u64::from(u32::MAX));
        assert!(r.allow(t) && r.allow(t) && r.allow(t));
        assert!(!r.allow(t));
        assert!(r.allow(t + Duration::from_millis(1)));
    }

    /// The bytes the kernel sends beside the stack: an echo reply to TOS 0x2b carries 0x2b; an
    /// error about a datagram with 0x2b carries 0xca, with 0x10 0xd0.
    #[test]
    fn tos_of_replies_and_errors_as_linux_sends_them() {
        assert_eq!(reply_tos(0x2b), 0x2b);
        assert_eq!(reply_tos(0), 0);
        assert_eq!(error_tos(0x2b), 0xca);
        assert_eq!(error_tos(0x10), 0xd0);
        assert_eq!(error_tos(0), 0xc0);
        assert_eq!(error_tos(0xff), 0xde);
    }

    #[test]
    fn rfc1122_suppression() {
        let host = Ipv4Addr::new(10, 77, 0, 1);
        assert!(may_send_error_about(host, false, false, 0));
        assert!(!may_send_error_about(host, true, false, 0));
        assert!(!may_send_error_about(host, false, true, 0));
        assert!(!may_send_error_about(host, false, false, 8));
        assert!(!may_send_error_about(Ipv4Addr::BROADCAST, false, false, 0));
    }

    #[test]
    fn unreachable_codes_map_as_on_linux() {
        let report = |r| unreachable_report(r).expect("defined code");
        assert_eq!(
            report(DstUnreachable::PortUnreachable),
            ErrorReport {
                errno: Errno::ECONNREFUSED,
                hard: true
            }
        );
        assert!(!report(DstUnreachable::HostUnreachable).hard);
        assert!(!report(DstUnreachable::FragRequired { mtu: 1400 }).hard);
        // nftables' "reject with icmp type admin-prohibited".
        assert_eq!(
            report(DstUnreachable::Other(13)),
            ErrorReport {
                errno: Errno::EHOSTUNREACH,
                hard: true
            }
        );
        assert_eq!(unreachable_report(DstUnreachable::Other(16)), None);
    }
}
