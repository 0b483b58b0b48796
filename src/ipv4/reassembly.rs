//! IPv4 fragment reassembly with the hole-descriptor algorithm of RFC 815.
//!
//! Fragments are keyed by (source, destination, protocol, identification) (RFC 791). Each datagram
//! under construction keeps a list of holes, starting with one hole from 0 to "infinity"; each
//! fragment fills part of one or more holes. When the last hole is gone the datagram is whole.
//!
//! Bounds keep a flood of fragments from eating memory: at most [`MAX_DATAGRAMS`] at once and
//! [`MAX_BYTES`] buffered in all (like Linux's `ipfrag_high_thresh`); a datagram that does not
//! complete within [`TIMEOUT`] (Linux's `ipfrag_time`) is dropped, and the caller may then send ICMP
//! time exceeded (code 1, RFC 792) if the first fragment had arrived.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::time::{Duration, Instant};

pub const TIMEOUT: Duration = Duration::from_secs(30);
pub const MAX_DATAGRAMS: usize = 64;
pub const MAX_BYTES: usize = 4 << 20;
/// The largest IP payload: 65535 minus the smallest header.
const MAX_PAYLOAD: usize = 65535 - 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragmentKey {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ident: u16,
}

/// One fragment as the IP input path sees it.
#[derive(Clone, Copy, Debug)]
pub struct Fragment<'a> {
    /// Offset of this fragment's payload in the datagram, in bytes.
    pub offset: usize,
    pub more_fragments: bool,
    pub payload: &'a [u8],
    /// The IP header of this fragment, kept from the first fragment for ICMP time exceeded.
    pub header: &'a [u8],
}

struct Datagram {
    data: Vec<u8>,
    /// Holes as (first, last) byte offsets, inclusive; `last == usize::MAX` means "to the end".
    holes: Vec<(usize, usize)>,
    /// Known once the fragment without MF arrives.
    total_len: Option<usize>,
    deadline: Instant,
    first_header: Option<Vec<u8>>,
    first_payload_head: Vec<u8>,
}

/// A datagram that timed out after its first fragment arrived: what ICMP needs to quote.
#[derive(Debug)]
pub struct Expired {
    pub key: FragmentKey,
    /// The first fragment's IP header and up to 8 bytes of its payload.
    pub quote: Vec<u8>,
}

/// Why a fragment was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// Offset plus length beyond 65535, or a middle fragment not a multiple of 8 long.
    Malformed,
    /// Too many datagrams or bytes under reassembly already.
    NoRoom,
}

#[derive(Default)]
pub struct Reassembler {
    datagrams: HashMap<FragmentKey, Datagram>,
    bytes: usize,
}

impl Reassembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a fragment; returns the whole payload when this fragment completed its datagram.
    pub fn add(
        &mut self,
        now: Instant,
        key: FragmentKey,
        frag: Fragment<'_>,
    ) -> Result<Option<Vec<u8>>, Rejected> {
        let first = frag.offset;
        let end = first + frag.payload.len();
        if end > MAX_PAYLOAD
            || (frag.more_fragments
                && (frag.payload.is_empty() || !frag.payload.len().is_multiple_of(8)))
        {
            return Err(Rejected::Malformed);
        }
        if !self.datagrams.contains_key(&key) {
            if self.datagrams.len() >= MAX_DATAGRAMS {
                return Err(Rejected::NoRoom);
            }
            self.datagrams.insert(
                key,
                Datagram {
                    data: Vec::new(),
                    holes: vec![(0, usize::MAX)],
                    total_len: None,
                    deadline: now + TIMEOUT,
                    first_header: None,
                    first_payload_head: Vec::new(),
                },
            );
        }
        let dg = self.datagrams.get_mut(&key).expect("inserted above");
        let grow = end.saturating_sub(dg.data.len());
        if self.bytes + grow > MAX_BYTES {
            return Err(Rejected::NoRoom);
        }
        // A second "last fragment" that disagrees about the length is corrupt: drop the datagram.
        if !frag.more_fragments {
            if dg.total_len.is_some_and(|t| t != end) || end < dg.data.len() {
                let dg = self.datagrams.remove(&key).expect("present");
                self.bytes -= dg.data.len();
                return Err(Rejected::Malformed);
            }
            dg.total_len = Some(end);
        } else if dg.total_len.is_some_and(|t| end > t) {
            return Err(Rejected::Malformed);
        }
        if frag.offset == 0 {
            dg.first_header = Some(frag.header.to_vec());
            dg.first_payload_head = frag.payload[..frag.payload.len().min(8)].to_vec();
        }
        if grow > 0 {
            dg.data.resize(end, 0);
            self.bytes += grow;
        }
        dg.data[first..end].copy_from_slice(frag.payload);

        // RFC 815 steps 1-8: every hole this fragment touches is replaced by what is left of it.
        let last = end.saturating_sub(1);
        let mut holes = Vec::with_capacity(dg.holes.len() + 1);
        for &(h_first, h_last) in &dg.holes {
            if frag.payload.is_empty() || first > h_last || last < h_first {
                holes.push((h_first, h_last));
                continue;
            }
            if first > h_first {
                holes.push((h_first, first - 1));
            }
            if last < h_last && frag.more_fragments {
                holes.push((last + 1, h_last));
            }
        }
        // The last fragment bounds every hole: nothing lies beyond it.
        if let Some(total) = dg.total_len {
            holes.retain_mut(|h| {
                h.1 = h.1.min(total.saturating_sub(1));
                h.0 < total
            });
        }
        dg.holes = holes;
        if dg.holes.is_empty() && dg.total_len.is_some() {
            let dg = self.datagrams.remove(&key).expect("present");
            self.bytes -= dg.data.len();
            return Ok(Some(dg.data));
        }
        Ok(None)
    }

    /// Drops datagrams whose time is up; returns those whose first fragment had arrived.
    pub fn poll(&mut self, now: Instant) -> Vec<Expired> {
        let mut expired = Vec::new();
        let bytes = &mut self.bytes;
        self.datagrams.retain(|key, dg| {
            if dg.deadline > now {
                return true;
            }
            *bytes -= dg.data.len();
            if let Some(header) = dg.first_header.take() {
                let mut quote = header;
                quote.extend_from_slice(&dg.first_payload_head);
                expired.push(Expired { key: *key, quote });
            }
            false
        });
        expired
    }

    pub fn poll_at(&self) -> Option<Instant> {
        self.datagrams.values().map(|d| d.deadline).min()
    }

    /// Datagrams currently under reassembly.
    pub fn pending(&self) -> usize {
        self.datagrams.len()
    }

    /// Bytes currently buffered.
    pub fn buffered(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::Rng;

    const KEY: FragmentKey = FragmentKey {
        src: Ipv4Addr::new(10, 77, 0, 1),
        dst: Ipv4Addr::new(10, 77, 0, 2),
        protocol: 17,
        ident: 7,
    };

    fn frag(data: &[u8], offset: usize, len: usize, total: usize) -> Fragment<'_> {
        Fragment {
            offset,
            more_fragments: offset + len < total,
            payload: &data[offset..offset + len],
            header: &[0x45; 20],
        }
    }

    #[test]
    fn any_order_reassembles() {
        let mut rng = Rng::new(1);
        for round in 0..200 {
            let total = 8 + rng.below(8000) as usize;
            let data: Vec<u8> = (0..total).map(|i| (i * 7 + round) as u8).collect();
            let mut pieces = Vec::new();
            let mut off = 0;
            while off < total {
                let len = ((1 + rng.below(200) as usize) * 8).min(total - off);
                pieces.push((off, len));
                off += len;
            }
            // Shuffle, and duplicate some pieces.
            for i in (1..pieces.len()).rev() {
                pieces.swap(i, rng.below(i as u64 + 1) as usize);
            }
            let dups: Vec<_> = pieces.iter().filter(|_| rng.chance(0.2)).copied().collect();
            let mut r = Reassembler::new();
            let mut done = None;
            let n = pieces.len();
            for (i, &(o, l)) in pieces.iter().chain(dups.iter()).enumerate() {
                let out = r.add(Instant::ZERO, KEY, frag(&data, o, l, total)).unwrap();
                if i + 1 < n {
                    assert!(out.is_none());
                } else if i + 1 == n {
                    done = out;
                    break;
                }
            }
            assert_eq!(done.as_deref(), Some(&data[..]));
            assert_eq!(r.pending(), 0);
            assert_eq!(r.buffered(), 0);
        }
    }

    #[test]
    fn times_out_and_quotes_first_fragment() {
        let data = vec![9u8; 64];
        let mut r = Reassembler::new();
        assert_eq!(r.add(Instant::ZERO, KEY, frag(&data, 0, 16, 64)), Ok(None));
        assert_eq!(r.poll_at(), Some(Instant::ZERO + TIMEOUT));
        assert!(r.poll(Instant::ZERO + Duration::from_secs(29)).is_empty());
        let expired = r.poll(Instant::ZERO + TIMEOUT);
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].quote.len(), 28);
        assert_eq!(r.buffered(), 0);
        // Without the first fragment there is nothing to quote.
        assert_eq!(r.add(Instant::ZERO, KEY, frag(&data, 16, 16, 64)), Ok(None));
        assert!(r.poll(Instant::ZERO + TIMEOUT).is_empty());
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn rejects_bad_and_bounds_memory() {
        let data = vec![0u8; 70000];
        let mut r = Reassembler::new();
        let odd = Fragment {
            offset: 0,
            more_fragments: true,
            payload: &data[..12],
            header: &[],
        };
        assert_eq!(r.add(Instant::ZERO, KEY, odd), Err(Rejected::Malformed));
        let beyond = Fragment {
            offset: 65528,
            more_fragments: false,
            payload: &data[..16],
            header: &[],
        };
        assert_eq!(r.add(Instant::ZERO, KEY, beyond), Err(Rejected::Malformed));
        for ident in 0..MAX_DATAGRAMS as u16 {
            let key = FragmentKey { ident, ..KEY };
            assert_eq!(r.add(Instant::ZERO, key, frag(&data, 8, 8, 64)), Ok(None));
        }
        let key = FragmentKey { ident: 999, ..KEY };
        assert_eq!(
            r.add(Instant::ZERO, key, frag(&data, 8, 8, 64)),
            Err(Rejected::NoRoom)
        );
        // A second last fragment disagreeing on the length drops the datagram.
        let key = FragmentKey { ident: 1, ..KEY };
        assert_eq!(r.add(Instant::ZERO, key, frag(&data, 56, 8, 64)), Ok(None));
        assert_eq!(
            r.add(Instant::ZERO, key, frag(&data, 96, 8, 104)),
            Err(Rejected::Malformed)
        );
    }
}
