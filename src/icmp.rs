//! ICMPv4 (RFC 792): what the stack answers and what it reports.
//!
//! The stack answers echo requests (ping) with replies carrying the same data, and reports errors
//! with destination unreachable (port or protocol) and time exceeded (reassembly). Errors received
//! from the network are mapped to the errno a socket reports and whether it is hard
//! ([`unreachable_report`]).
//!
//! RFC 1122 §3.2.2 says when an error must *not* be sent; [`may_send_error_about`] encodes it, and
//! [`ErrorLimits`] bounds how many we send as Linux does (RFC 1812 §4.3.2.8): host-wide
//! ([`RateLimit`], `icmp_msgs_per_sec`) and per destination ([`DestinationLimit`],
//! `icmp_ratelimit`), for the types `icmp_ratemask` names, so a port scan cannot turn the stack
//! into a flood source.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;

use crate::error::Errno;
use crate::time::{Duration, Instant};
use crate::wire::icmp::{DstUnreachable, Icmpv4Type};

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

    /// Whether a token is left at `now`, taking none.
    pub fn has_token(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens > 0
    }

    /// Takes a token, if one is left.
    pub fn take(&mut self) {
        self.tokens = self.tokens.saturating_sub(1);
    }

    fn refill(&mut self, now: Instant) {
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
    }
}

/// Linux's XRLIM_BURST_FACTOR: a destination's bucket holds this many messages.
const BURST_FACTOR: u32 = 6;
/// Destinations whose budget is remembered at most; the one remembered longest goes first.
const DESTINATIONS: usize = 1024;

/// Linux's per-destination ICMP limit (inet_peer_xrlim_allow on the destination's inet_peer): a
/// bucket of time per destination, which fills as time passes up to [`BURST_FACTOR`] intervals
/// and pays one interval for each message. A new destination starts full: a burst of 6, then one
/// an interval (a second by default).
#[derive(Debug)]
pub struct DestinationLimit {
    interval: Duration,
    budgets: HashMap<Ipv4Addr, Budget>,
    /// The destinations in the order they were first seen, to forget the oldest when full (Linux's
    /// inet_peer entries expire likewise; a bucket forgotten is full again when next seen, which
    /// the host-wide limit still bounds).
    seen: VecDeque<Ipv4Addr>,
}

#[derive(Debug, Clone, Copy)]
struct Budget {
    credit: Duration,
    last: Instant,
}

impl DestinationLimit {
    pub fn new(interval: Duration) -> Self {
        DestinationLimit {
            interval,
            budgets: HashMap::new(),
            seen: VecDeque::new(),
        }
    }

    /// Pays for one message to `dst` if its bucket holds an interval (with an interval of 0,
    /// always: Linux's "0 to disable").
    pub fn allow(&mut self, now: Instant, dst: Ipv4Addr) -> bool {
        let full = self.interval * BURST_FACTOR;
        if !self.budgets.contains_key(&dst) && self.budgets.len() >= DESTINATIONS {
            if let Some(oldest) = self.seen.pop_front() {
                self.budgets.remove(&oldest);
            }
        }
        let budget = self.budgets.entry(dst).or_insert_with(|| {
            self.seen.push_back(dst);
            Budget {
                credit: full,
                last: now,
            }
        });
        budget.credit = (budget.credit + now.saturating_since(budget.last)).min(full);
        budget.last = now;
        if budget.credit < self.interval {
            return false;
        }
        budget.credit -= self.interval;
        true
    }
}

/// The sysctls that shape [`ErrorLimits`] (ip-sysctl.rst), read from the host by
/// [`crate::host::icmp_limits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitSettings {
    /// `net.ipv4.icmp_ratelimit` (milliseconds there): what a message costs its destination's
    /// bucket.
    pub per_destination: Duration,
    /// `net.ipv4.icmp_ratemask`: bit n set limits ICMP type n.
    pub ratemask: u32,
    /// `net.ipv4.icmp_msgs_per_sec` and `icmp_msgs_burst`: the host-wide bucket.
    pub msgs_per_sec: u32,
    pub msgs_burst: u32,
}

impl LimitSettings {
    /// Linux's defaults: a second per destination; destination unreachable, source quench, time
    /// exceeded and parameter problem limited (0x1818); 1000 a second host-wide, 50 at once.
    pub const LINUX: LimitSettings = LimitSettings {
        per_destination: Duration::from_secs(1),
        ratemask: 0x1818,
        msgs_per_sec: 1000,
        msgs_burst: 50,
    };
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings::LINUX
    }
}

/// Which limit held an ICMP message back (Linux's RateLimitGlobal and RateLimitHost counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limited {
    HostWide,
    Destination,
}

/// The limits on the ICMP messages we send, applied as Linux's __icmp_send does.
#[derive(Debug)]
pub struct ErrorLimits {
    ratemask: u32,
    host_wide: RateLimit,
    per_destination: DestinationLimit,
}

impl ErrorLimits {
    pub fn new(settings: LimitSettings) -> Self {
        ErrorLimits {
            ratemask: settings.ratemask,
            host_wide: RateLimit::new(settings.msgs_per_sec, settings.msgs_burst),
            per_destination: DestinationLimit::new(settings.per_destination),
        }
    }

    /// Whether a message of `msg_type` and `code` may go to `dst` now, paying for it if so.
    /// `to_ourselves`: the message is for our own address (about a datagram we sent ourselves).
    pub fn allow(
        &mut self,
        now: Instant,
        msg_type: Icmpv4Type,
        code: u8,
        dst: Ipv4Addr,
        to_ourselves: bool,
    ) -> Result<(), Limited> {
        // icmpv4_mask_allow: a type the mask leaves out, one past NR_ICMP_TYPES, and
        // "fragmentation needed" (path MTU discovery must not be slowed) are never limited.
        let Icmpv4Type(t) = msg_type;
        let frag_needed = msg_type == Icmpv4Type::DST_UNREACHABLE && code == 4;
        if t > 18 || frag_needed || self.ratemask & (1 << t) == 0 {
            return Ok(());
        }
        // Linux routes a message to our own address over lo: __icmp_send skips the host-wide
        // limit for a datagram that came in on loopback, and then the per-destination one too.
        if to_ourselves {
            return Ok(());
        }
        // icmpv4_global_allow looks at the host-wide bucket, then icmpv4_xrlim_allow pays it
        // only for a message the destination's bucket let go (current kernels' order, since
        // "icmp: change the order of rate limits": a flood at one destination leaves the
        // others their share).
        if !self.host_wide.has_token(now) {
            return Err(Limited::HostWide);
        }
        if !self.per_destination.allow(now, dst) {
            return Err(Limited::Destination);
        }
        self.host_wide.take();
        Ok(())
    }
}

impl Default for ErrorLimits {
    fn default() -> Self {
        ErrorLimits::new(LimitSettings::LINUX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl RateLimit {
        /// Takes a token if one is left (as [`ErrorLimits::allow`] does when the destination
        /// lets the message go).
        fn allow(&mut self, now: Instant) -> bool {
            let has = self.has_token(now);
            if has {
                self.take();
            }
            has
        }
    }

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

    /// inet_peer_xrlim_allow with Linux's defaults, as the kernel beside the stack answers 100
    /// datagrams to closed ports at once: 6 errors, then one a second.
    #[test]
    fn a_destination_gets_a_burst_of_six_then_one_a_second() {
        let mut limit = DestinationLimit::new(Duration::from_secs(1));
        let (host, other) = (Ipv4Addr::new(10, 77, 0, 1), Ipv4Addr::new(10, 77, 0, 3));
        let t = Instant::from_millis(5000);
        let allowed = |limit: &mut DestinationLimit, at, dst| {
            (0..100).filter(|_| limit.allow(at, dst)).count()
        };
        assert_eq!(allowed(&mut limit, t, host), 6);
        assert_eq!(allowed(&mut limit, t + Duration::from_millis(999), host), 0);
        assert_eq!(allowed(&mut limit, t + Duration::from_secs(1), host), 1);
        assert_eq!(
            allowed(&mut limit, t + Duration::from_millis(3500), host),
            2
        );
        assert_eq!(
            allowed(&mut limit, t + Duration::from_millis(4000), host),
            1
        );
        assert_eq!(allowed(&mut limit, t, other), 6, "each destination its own");
        // Idle long enough, the bucket is full again, no fuller.
        assert_eq!(allowed(&mut limit, t + Duration::from_secs(3600), host), 6);
        // An interval of 0 limits nothing (Linux's "0 to disable").
        let mut off = DestinationLimit::new(Duration::ZERO);
        assert_eq!(allowed(&mut off, t, host), 100);
    }

    /// A flood from ever new sources does not grow the table past its bound: the destination
    /// seen first is forgotten first, and is full again when seen anew.
    #[test]
    fn the_destinations_remembered_are_bounded() {
        let mut limit = DestinationLimit::new(Duration::from_secs(1));
        let t = Instant::from_millis(1000);
        let first = Ipv4Addr::new(192, 0, 2, 1);
        while limit.allow(t, first) {}
        for i in 0..3 * DESTINATIONS as u32 {
            assert!(limit.allow(t, Ipv4Addr::from(0x0a00_0000 + i)));
            assert!(limit.budgets.len() <= DESTINATIONS);
            assert_eq!(limit.seen.len(), limit.budgets.len());
        }
        assert!(limit.allow(t, first), "forgotten, so full again");
    }

    /// icmpv4_mask_allow, icmpv4_global_allow and icmpv4_xrlim_allow together.
    #[test]
    fn error_limits_apply_as_linux_icmp_send_does() {
        let host = Ipv4Addr::new(10, 77, 0, 1);
        let t = Instant::from_millis(1000);
        let unreachable = |code| (Icmpv4Type::DST_UNREACHABLE, code);
        let sent = |limits: &mut ErrorLimits, (ty, code), dst, ourselves| {
            (0..100)
                .filter(|_| limits.allow(t, ty, code, dst, ourselves).is_ok())
                .count()
        };
        let mut limits = ErrorLimits::default();
        assert_eq!(sent(&mut limits, unreachable(3), host, false), 6);
        assert_eq!(
            limits.allow(t, Icmpv4Type::DST_UNREACHABLE, 3, host, false),
            Err(Limited::Destination)
        );
        assert_eq!(
            sent(&mut limits, (Icmpv4Type::TIME_EXCEEDED, 1), host, false),
            0,
            "one bucket for every limited type"
        );
        // Not limited: fragmentation needed, a type the mask leaves out, one to ourselves.
        assert_eq!(sent(&mut limits, unreachable(4), host, false), 100);
        assert_eq!(
            sent(&mut limits, (Icmpv4Type::ECHO_REPLY, 0), host, false),
            100
        );
        assert_eq!(sent(&mut limits, unreachable(3), host, true), 100);

        // Host-wide: a burst of 50 over all destinations, paid only by messages that go.
        let mut limits = ErrorLimits::default();
        let total: usize = (1..=20u8)
            .map(|i| {
                sent(
                    &mut limits,
                    unreachable(3),
                    Ipv4Addr::new(10, 0, 0, i),
                    false,
                )
            })
            .sum();
        assert_eq!(total, 50);
        assert_eq!(
            limits.allow(
                t,
                Icmpv4Type::DST_UNREACHABLE,
                3,
                Ipv4Addr::new(10, 0, 0, 99),
                false
            ),
            Err(Limited::HostWide)
        );
        // The settings as the host's sysctls give them: no per-destination interval, and a mask
        // that limits echo replies too.
        let mut limits = ErrorLimits::new(LimitSettings {
            per_destination: Duration::ZERO,
            ratemask: 1 << 0,
            ..LimitSettings::LINUX
        });
        assert_eq!(sent(&mut limits, unreachable(3), host, false), 100);
        assert_eq!(
            sent(&mut limits, (Icmpv4Type::ECHO_REPLY, 0), host, false),
            50
        );
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
