//! SYN cookies (RFC 4987 §3.6, as Linux makes them): when a listener's SYN queue is full, the
//! SYN-ACK's initial sequence number carries what the connection needs, so nothing is stored for
//! the SYN and a flood cannot crowd real clients out. The returning ACK (its ACK field less one)
//! is checked and the connection made from what the cookie says.
//!
//! The cookie, 32 bits: a 6-bit time slot (64 s each; a cookie is good for the slot it was made
//! in and the next, about two minutes as Linux's MAX_SYNCOOKIE_AGE), a 2-bit index into a table of
//! MSS values (the largest not above the client's), and 24 bits of keyed hash over the connection's
//! addresses and ports, the client's ISN, the slot and the index. What does not fit — window scale,
//! SACK and ECN — rides, as in Linux, in the low bits of the SYN-ACK's timestamp, which the client
//! echoes; without timestamps a cookie connection has none of them.
//!
//! Sans-IO: time and the key are arguments.

use super::isn::{siphash24, SipKey};
use crate::time::Instant;

/// MSS values a cookie can name (Linux's msstab for IPv4).
const MSS_TABLE: [u16; 4] = [536, 1300, 1440, 1460];
/// Seconds per time slot.
const SLOT_SECS: u64 = 64;
/// Low timestamp bits that carry the options: window scale (4 bits, 15 for none), SACK (1) and
/// ECN (1), as Linux's TSBITS.
pub const TS_OPTION_BITS: u32 = 6;
const TS_MASK: u32 = (1 << TS_OPTION_BITS) - 1;
const NO_WSCALE: u32 = 0xf;

/// What a cookie remembers of the client's SYN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieSyn {
    /// The client's MSS, rounded down to one the table holds.
    pub mss: u16,
    /// The client's window scale, if it offered one (and timestamps carried it).
    pub wscale: Option<u8>,
    /// SACK permitted (only known with timestamps).
    pub sack: bool,
}

fn slot(now: Instant) -> u32 {
    ((now.as_micros() / 1_000_000 / SLOT_SECS) % 64) as u32
}

fn mac(key: &SipKey, tuple: &[u8], client_isn: u32, slot: u32, mss_index: u32) -> u32 {
    let mut data = Vec::with_capacity(tuple.len() + 13);
    data.extend_from_slice(b"syncookie");
    data.extend_from_slice(tuple);
    data.extend_from_slice(&client_isn.to_be_bytes());
    data.push(slot as u8);
    data.push(mss_index as u8);
    (siphash24(key, &data) as u32) & 0x00ff_ffff
}

/// The ISN of a cookie SYN-ACK for a SYN with `client_isn` and MSS `mss` on connection `tuple`.
pub fn make(key: &SipKey, now: Instant, tuple: &[u8], client_isn: u32, mss: u16) -> u32 {
    let index = MSS_TABLE.iter().rposition(|&m| m <= mss).unwrap_or(0) as u32;
    let s = slot(now);
    (s << 26) | (index << 24) | mac(key, tuple, client_isn, s, index)
}

/// Checks the cookie an ACK returns (`cookie` = its ACK field less one) for the client ISN its
/// sequence number implies: the MSS it names, or `None` if forged or too old.
pub fn check(
    key: &SipKey,
    now: Instant,
    tuple: &[u8],
    client_isn: u32,
    cookie: u32,
) -> Option<u16> {
    let s = cookie >> 26;
    let index = (cookie >> 24) & 3;
    let age = slot(now).wrapping_sub(s) % 64;
    if age > 1 || mac(key, tuple, client_isn, s, index) != cookie & 0x00ff_ffff {
        return None;
    }
    Some(MSS_TABLE[index as usize])
}

/// Our timestamp `tsval` with the SYN's options in its low bits (`ecn`: the SYN-ACK agreed to it),
/// never after `tsval` itself: the bits could put it up to 63 ticks ahead of the clock, and then
/// the TSvals that follow it would look older to the peer, whose PAWS check (RFC 7323 §5) drops
/// them until the clock catches up. A step of 64 back, as Linux's cookie_init_timestamp takes.
pub fn encode_timestamp(tsval: u32, wscale: Option<u8>, sack: bool, ecn: bool) -> u32 {
    let ws = wscale.map_or(NO_WSCALE, |w| u32::from(w.min(14)));
    let ts = (tsval & !TS_MASK) | ws | (u32::from(sack) << 4) | (u32::from(ecn) << 5);
    if (ts.wrapping_sub(tsval) as i32) > 0 {
        ts.wrapping_sub(TS_MASK + 1)
    } else {
        ts
    }
}

/// What an echoed timestamp says of the SYN's options: (window scale, SACK, ECN).
pub fn decode_timestamp(tsecr: u32) -> (Option<u8>, bool, bool) {
    let ws = tsecr & NO_WSCALE;
    (
        (ws != NO_WSCALE).then_some(ws as u8),
        tsecr & 0x10 != 0,
        tsecr & 0x20 != 0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TUPLE: &[u8] = &[10, 77, 0, 2, 0, 80, 10, 77, 0, 9, 0x9c, 0x40];

    #[test]
    fn a_cookie_timestamp_is_never_ahead_of_the_clock() {
        for tsval in [0u32, 1, 63, 64, 1000, 0xffff_ffc0, 0xffff_ffff, 0x8000_0000] {
            for (ws, sack, ecn) in [
                (None, true, true),
                (Some(7), false, false),
                (Some(0), true, false),
            ] {
                let ts = encode_timestamp(tsval, ws, sack, ecn);
                let behind = tsval.wrapping_sub(ts);
                assert!(behind < 64, "{tsval:#x}: {ts:#x} is {behind} behind");
                assert_eq!(decode_timestamp(ts), (ws, sack, ecn));
            }
        }
    }

    #[test]
    fn a_cookie_checks_out_for_two_minutes_with_its_mss_and_not_after() {
        let key = SipKey([7; 16]);
        let t0 = Instant::from_millis(1_000_000);
        let c = make(&key, t0, TUPLE, 12345, 1460);
        assert_eq!(check(&key, t0, TUPLE, 12345, c), Some(1460));
        assert_eq!(
            check(
                &key,
                t0 + std::time::Duration::from_secs(64),
                TUPLE,
                12345,
                c
            ),
            Some(1460)
        );
        assert_eq!(
            check(
                &key,
                t0 + std::time::Duration::from_secs(140),
                TUPLE,
                12345,
                c
            ),
            None
        );
        // Another client ISN, tuple or key, or a flipped bit: refused.
        assert_eq!(check(&key, t0, TUPLE, 12346, c), None);
        assert_eq!(check(&key, t0, &TUPLE[1..], 12345, c), None);
        assert_eq!(check(&SipKey([8; 16]), t0, TUPLE, 12345, c), None);
        assert_eq!(check(&key, t0, TUPLE, 12345, c ^ 1), None);
        // The MSS is rounded down to the table.
        let c = make(&key, t0, TUPLE, 1, 1400);
        assert_eq!(check(&key, t0, TUPLE, 1, c), Some(1300));
        let c = make(&key, t0, TUPLE, 1, 100);
        assert_eq!(check(&key, t0, TUPLE, 1, c), Some(536));
    }

    #[test]
    fn options_ride_in_the_timestamp() {
        for ws in [None, Some(0), Some(7), Some(14)] {
            for sack in [false, true] {
                for ecn in [false, true] {
                    let ts = encode_timestamp(0xdead_beef, ws, sack, ecn);
                    assert!(0xdead_beef_u32.wrapping_sub(ts) < 64, "at most a step back");
                    assert_eq!(decode_timestamp(ts), (ws, sack, ecn));
                }
            }
        }
    }
}
