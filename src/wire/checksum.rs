//! The Internet checksum (RFC 1071), used by IPv4, ICMP, UDP and TCP.
//!
//! The checksum is the ones'-complement of the ones'-complement sum of the data taken as 16-bit
//! big-endian words (an odd final byte is padded with a zero on the right). Because that sum is
//! associative and commutative, it can be accumulated in wider words (RFC 1071 §2(C)): [`sum`]
//! adds 64-bit words with end-around carry, which is much faster on large payloads than 16 bits at
//! a time, and folds the result to 32 bits.
//!
//! Partial sums chain with [`combine`]: `combine(sum(a), sum(b))` equals `sum(a ++ b)` as long as
//! `a` has an even length (a chunk of odd length would shift the byte positions of the next one).
//! [`fold`] reduces a partial sum to 16 bits and [`finish`] also complements it, giving the value
//! that goes in a header. A received header verifies when the sum over it, checksum field
//! included, folds to `0xffff` (equivalently: [`checksum`] over it is zero).

use std::net::Ipv4Addr;

/// The ones'-complement sum of `data`, as a partial 32-bit value (not folded, not complemented).
pub fn sum(data: &[u8]) -> u32 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        acc = add_carry(acc, u64::from_be_bytes(w));
    }
    // The tail starts at an 8-aligned (so even) offset: zero padding on the right is exactly the
    // RFC's padding of an odd final byte.
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        acc = add_carry(acc, u64::from_be_bytes(w));
    }
    fold64(acc)
}

/// Adds two partial sums (ones'-complement, end-around carry).
pub fn combine(a: u32, b: u32) -> u32 {
    fold64(a as u64 + b as u64)
}

/// Folds a partial sum to 16 bits (still not complemented).
pub fn fold(sum: u32) -> u16 {
    let s = (sum >> 16) + (sum & 0xffff);
    let s = (s >> 16) + (s & 0xffff);
    s as u16
}

/// The value to store in a checksum field, from a partial sum over everything it covers (with the
/// field itself zero).
pub fn finish(sum: u32) -> u16 {
    !fold(sum)
}

/// The Internet checksum of `data`: `finish(sum(data))`.
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(data))
}

/// The partial sum of the IPv4 pseudo-header that TCP and UDP checksums cover (RFC 9293 §3.1,
/// RFC 768): source, destination, zero, protocol, and `len`, the TCP or UDP length (header plus
/// data). `len` is summed as a 32-bit word, which for IPv4's 16-bit length field is the same.
pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u32) -> u32 {
    let acc = u32::from(src) as u64 + u32::from(dst) as u64 + protocol as u64 + len as u64;
    fold64(acc)
}

#[inline]
fn add_carry(a: u64, b: u64) -> u64 {
    let (s, carry) = a.overflowing_add(b);
    // On overflow s <= 2^64 - 2, so adding the carry back cannot overflow again.
    s + carry as u64
}

#[inline]
fn fold64(acc: u64) -> u32 {
    let s = (acc >> 32) + (acc & 0xffff_ffff);
    let s = (s >> 32) + (s & 0xffff_ffff);
    s as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::Rng;

    /// RFC 1071 taken literally: 16 bits at a time.
    fn naive(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for pair in data.chunks(2) {
            let w = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            acc += w as u32;
            acc = (acc & 0xffff) + (acc >> 16);
        }
        !(acc as u16)
    }

    #[test]
    fn rfc1071_example() {
        // The worked example of RFC 1071 §3: the sum of these bytes is 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn matches_naive_on_random_data() {
        let mut rng = Rng::new(1071);
        for len in 0..200 {
            let mut buf = vec![0u8; len];
            rng.fill(&mut buf);
            assert_eq!(checksum(&buf), naive(&buf), "len {len}");
        }
        // All-ones data exercises every carry path.
        for len in [8, 64, 1500, 9001, 65535] {
            let buf = vec![0xffu8; len];
            assert_eq!(checksum(&buf), naive(&buf), "len {len}");
        }
    }

    #[test]
    fn chaining() {
        let mut rng = Rng::new(7);
        let mut buf = vec![0u8; 301];
        rng.fill(&mut buf);
        for split in (0..buf.len()).step_by(2) {
            let (a, b) = buf.split_at(split);
            assert_eq!(
                finish(combine(sum(a), sum(b))),
                checksum(&buf),
                "split {split}"
            );
        }
        assert_eq!(combine(0xffff_ffff, 0xffff_ffff), 0xffff_ffff);
        assert_eq!(fold(0xffff_ffff), 0xffff);
    }

    #[test]
    fn pseudo_header_matches_bytes() {
        let src = Ipv4Addr::new(10, 77, 9, 1);
        let dst = Ipv4Addr::new(192, 168, 255, 254);
        let bytes = [10, 77, 9, 1, 192, 168, 255, 254, 0, 6, 0x05, 0xdc];
        assert_eq!(fold(pseudo_header(src, dst, 6, 1500)), fold(sum(&bytes)));
    }

    #[test]
    fn verifying_a_filled_checksum_gives_zero() {
        let mut buf = [
            0x45u8, 0, 0, 0x54, 0xd7, 0x1c, 0x40, 0, 0x40, 1, 0, 0, 10, 77, 9, 1,
        ];
        let c = checksum(&buf);
        buf[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(checksum(&buf), 0);
        assert_eq!(fold(sum(&buf)), 0xffff);
    }
}
