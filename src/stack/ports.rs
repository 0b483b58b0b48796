//! Ephemeral port choice (RFC 6056), and when two sockets' addresses meet on a port.
//!
//! Ports are drawn from Linux's default `ip_local_port_range`, 32768–60999. UDP uses algorithm 1
//! of RFC 6056 §3.3.1 (a random port, then the next free one); TCP's connect uses algorithm 3 with a
//! keyed hash of the connection's endpoints, which the TCP layer supplies as `offset`.

use crate::rand::Rng;

pub const EPHEMERAL_FIRST: u16 = 32768;
pub const EPHEMERAL_LAST: u16 = 60999;
const RANGE: u32 = (EPHEMERAL_LAST - EPHEMERAL_FIRST) as u32 + 1;

/// The first port, starting at `offset` into the range, for which `free` says yes.
pub fn pick_from(offset: u32, free: impl Fn(u16) -> bool) -> Option<u16> {
    (0..RANGE)
        .map(|i| EPHEMERAL_FIRST + ((offset.wrapping_add(i)) % RANGE) as u16)
        .find(|&p| free(p))
}

/// Whether sockets bound to addresses `a` and `b` (0.0.0.0: all of ours) meet on a port they both
/// bind, so that it is theirs to share or fight over (Linux's inet_bind_conflict and
/// udp_lib_lport_inuse compare them so): the same address, or either the wildcard.
pub fn addresses_overlap(a: std::net::Ipv4Addr, b: std::net::Ipv4Addr) -> bool {
    a.is_unspecified() || b.is_unspecified() || a == b
}

/// A random free ephemeral port.
pub fn pick_random(rng: &mut Rng, free: impl Fn(u16) -> bool) -> Option<u16> {
    pick_from(rng.next_u32(), free)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_in_range_and_skips_used() {
        let mut rng = Rng::new(3);
        for _ in 0..1000 {
            let p = pick_random(&mut rng, |_| true).unwrap();
            assert!((EPHEMERAL_FIRST..=EPHEMERAL_LAST).contains(&p));
        }
        assert_eq!(
            pick_from(RANGE - 1, |p| p != EPHEMERAL_LAST),
            Some(EPHEMERAL_FIRST)
        );
        assert_eq!(pick_from(0, |_| false), None);
    }
}
