//! Initial sequence numbers (RFC 6528), per-connection timestamp offsets (RFC 7323 §5.4) and
//! ephemeral port offsets (RFC 6056 algorithm 3), all from a keyed SipHash-2-4 of the connection's
//! identity. The secret key is the caller's: drawn from its seeded `Rng` in simulations, and in a
//! runtime or service the one this user's stacks share until reboot (`service::secret`), so that
//! with a clock counted from boot a stack that follows another continues its ISNs and timestamps.
//!
//! The engine never sees addresses: the caller passes the 4-tuple as bytes (any fixed encoding,
//! e.g. local address, local port, remote address, remote port in network order).

use crate::time::Instant;

/// A 128-bit SipHash key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SipKey(pub [u8; 16]);

impl SipKey {
    pub fn from_rng(rng: &mut crate::rand::Rng) -> SipKey {
        let mut k = [0u8; 16];
        rng.fill(&mut k);
        SipKey(k)
    }
}

#[inline]
fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

/// SipHash-2-4 (Aumasson & Bernstein, 2012) of `data` under `key`.
pub fn siphash24(key: &SipKey, data: &[u8]) -> u64 {
    let k0 = u64::from_le_bytes(key.0[..8].try_into().unwrap());
    let k1 = u64::from_le_bytes(key.0[8..].try_into().unwrap());
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let m = u64::from_le_bytes(chunk.try_into().unwrap());
        v[3] ^= m;
        sip_round(&mut v);
        sip_round(&mut v);
        v[0] ^= m;
    }
    let rest = chunks.remainder();
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    let m = u64::from_le_bytes(last) | ((data.len() as u64 & 0xff) << 56);
    v[3] ^= m;
    sip_round(&mut v);
    sip_round(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for _ in 0..4 {
        sip_round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// Derives a sub-key so the uses below give unrelated values for the same tuple.
fn subkey(key: &SipKey, purpose: u8) -> SipKey {
    let mut k = key.0;
    k[15] ^= purpose;
    k[0] ^= purpose.wrapping_mul(0x9d);
    SipKey(k)
}

/// RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a 4 µs timer.
pub fn initial_sequence_number(key: &SipKey, now: Instant, tuple: &[u8]) -> u32 {
    let m = (now.as_micros() / 4) as u32;
    m.wrapping_add(siphash24(&subkey(key, 1), tuple) as u32)
}

/// RFC 7323 §5.4: a per-connection random offset added to the timestamp clock.
pub fn timestamp_offset(key: &SipKey, tuple: &[u8]) -> u32 {
    siphash24(&subkey(key, 2), tuple) as u32
}

/// RFC 6056 §3.3.3: the offset F(local addr, remote addr, remote port) into the ephemeral range.
/// `tuple` should not include the local port (it is what is being chosen).
pub fn ephemeral_port_offset(key: &SipKey, tuple: &[u8]) -> u32 {
    siphash24(&subkey(key, 3), tuple) as u32
}

/// Which listener of a SO_REUSEPORT group takes the connection of `tuple`: a keyed hash, so that
/// a peer cannot choose (Linux hashes the flow with a boot-time secret likewise).
pub fn reuseport_hash(key: &SipKey, tuple: &[u8]) -> u32 {
    siphash24(&subkey(key, 4), tuple) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siphash_paper_vector() {
        // Appendix A of the SipHash paper: key 00..0f, message 00..0e.
        let mut key = [0u8; 16];
        for (i, b) in key.iter_mut().enumerate() {
            *b = i as u8;
        }
        let msg: Vec<u8> = (0u8..15).collect();
        assert_eq!(siphash24(&SipKey(key), &msg), 0xa129_ca61_49be_45e5);
        // Empty message, same key (first entry of the reference vectors).
        assert_eq!(siphash24(&SipKey(key), &[]), 0x726f_db47_dd0e_0e31);
    }

    #[test]
    fn isn_advances_with_clock_and_depends_on_tuple() {
        let key = SipKey([7; 16]);
        let t = b"10.0.0.1:1234-10.0.0.2:80";
        let a = initial_sequence_number(&key, Instant::ZERO, t);
        let b = initial_sequence_number(&key, Instant::from_micros(4000), t);
        assert_eq!(b.wrapping_sub(a), 1000);
        let c = initial_sequence_number(&key, Instant::ZERO, b"10.0.0.1:1235-10.0.0.2:80");
        assert_ne!(a, c);
        assert_ne!(timestamp_offset(&key, t), ephemeral_port_offset(&key, t));
    }
}
