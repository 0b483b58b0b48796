//! IPv4 fragment reassembly with the hole-descriptor algorithm of RFC 815.
//!
//! Fragments are keyed by (source, destination, protocol, identification) (RFC 791). Each datagram
//! under construction keeps a list of holes, starting with one hole from 0 to "infinity"; each
//! fragment fills part of one or more holes. When the last hole is gone the datagram is whole.
//!
//! Overlaps are refused as Linux has refused them since 4.19 ("ip: discard IPv4 datagrams with
//! overlapping segments", the RFC 5722 rule carried over from IPv6): a fragment lying wholly inside
//! bytes already received is a duplicate and is ignored, keeping the first copy; one that covers both
//! received bytes and a hole drops the whole datagram, so no fragment can rewrite what an earlier one
//! said (the basis of overlap attacks on filters, RFC 1858 §4).
//!
//! Bounds keep a flood of fragments from eating memory: at most [`MAX_DATAGRAMS`] at once and
//! [`MAX_BYTES`] buffered in all (like Linux's `ipfrag_high_thresh`). A new fragment that would pass
//! either bound evicts the oldest datagrams first, as Linux's evictor did before 4.17, rather than
//! being refused. (Linux since 4.17 refuses past its byte bound instead, but it has no bound on the
//! count; with ours, refusing would let 64 bogus first fragments lock out every real datagram
//! until they time out.) A datagram that does not complete within [`TIMEOUT`] (Linux's
//! `ipfrag_time`) is dropped, and the caller may then send ICMP time exceeded (code 1, RFC 792) if
//! the first fragment had arrived; an evicted one is dropped without a word.
//!
//! A datagram may have at most [`MAX_HOLES`] holes at once: the "FragmentSmack" shape
//! (CVE-2018-5391), thousands of tiny fragments that each leave a hole, would otherwise cost time
//! growing with the square of their number. Past it the datagram is dropped, as Linux drops one
//! whose fragments are too many (its rbtree keeps the cost down, `ipfrag_max_dist` the count). A
//! real datagram, cut at the MTU, has a few dozen fragments at most.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::time::{Duration, Instant};

pub const TIMEOUT: Duration = Duration::from_secs(30);
pub const MAX_DATAGRAMS: usize = 64;
pub const MAX_BYTES: usize = 4 << 20;
/// Holes a datagram under construction may have at once.
pub const MAX_HOLES: usize = 128;
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
    /// The frame came to a link-layer broadcast or multicast address (Linux's `pkt_type` other
    /// than PACKET_HOST). The first fragment's (offset 0) is the whole datagram's, as Linux's
    /// reassembly makes the datagram from that fragment's skb (`skb_morph` onto the head).
    pub link_broadcast: bool,
}

/// A datagram whose fragments have all arrived.
#[derive(Debug, PartialEq, Eq)]
pub struct Reassembled {
    pub data: Vec<u8>,
    /// The first fragment's [`Fragment::link_broadcast`].
    pub link_broadcast: bool,
}

struct Datagram {
    data: Vec<u8>,
    /// Holes as (first, last) byte offsets, inclusive; `last == usize::MAX` means "to the end".
    holes: Vec<(usize, usize)>,
    /// Known once the fragment without MF arrives.
    total_len: Option<usize>,
    deadline: Instant,
    /// Creation order, to find the oldest datagram when one must be evicted.
    seq: u64,
    first_header: Option<Vec<u8>>,
    first_payload_head: Vec<u8>,
    first_link_broadcast: bool,
}

impl Datagram {
    /// How many of the bytes `first..=last` fall into holes (holes are disjoint).
    fn bytes_in_holes(&self, first: usize, last: usize) -> usize {
        self.holes
            .iter()
            .filter(|&&(h_first, h_last)| first <= h_last && last >= h_first)
            .map(|&(h_first, h_last)| last.min(h_last) - first.max(h_first) + 1)
            .sum()
    }
}

/// A datagram that timed out after its first fragment arrived: what ICMP needs to quote.
#[derive(Debug)]
pub struct Expired {
    pub key: FragmentKey,
    /// The first fragment's IP header and up to 8 bytes of its payload.
    pub quote: Vec<u8>,
    /// The first fragment's [`Fragment::link_broadcast`]: then no ICMP error goes (Linux's
    /// ip_expire sends it about that fragment, and __icmp_send refuses one not PACKET_HOST).
    pub link_broadcast: bool,
}

/// Why a fragment was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// Offset plus length beyond 65535, a middle fragment not a multiple of 8 long, or a length
    /// that contradicts the last fragment's. An existing datagram it contradicts is dropped.
    Malformed,
    /// The fragment overlaps bytes already received without being a duplicate of them: the whole
    /// datagram was dropped.
    Overlap,
    /// The datagram would have more than [`MAX_HOLES`] holes: it was dropped.
    TooFragmented,
    /// The first fragment of a new datagram came under memory pressure ([`crate::memory`]): not
    /// started (Linux's ip_frag_queue likewise fails to allocate the queue).
    NoMemory,
}

pub struct Reassembler {
    datagrams: HashMap<FragmentKey, Datagram>,
    bytes: usize,
    max_datagrams: usize,
    max_bytes: usize,
    next_seq: u64,
    /// Datagrams evicted to make room since the last [`Reassembler::take_evicted`].
    evicted: u64,
}

impl Default for Reassembler {
    fn default() -> Self {
        Self::with_limits(MAX_DATAGRAMS, MAX_BYTES)
    }
}

impl Reassembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// A reassembler with other bounds than [`MAX_DATAGRAMS`] and [`MAX_BYTES`]. `max_bytes` is
    /// raised to at least one largest datagram, so one datagram always fits.
    pub fn with_limits(max_datagrams: usize, max_bytes: usize) -> Self {
        Reassembler {
            datagrams: HashMap::new(),
            bytes: 0,
            max_datagrams: max_datagrams.max(1),
            max_bytes: max_bytes.max(MAX_PAYLOAD),
            next_seq: 0,
            evicted: 0,
        }
    }

    /// Adds a fragment; returns the whole payload when this fragment completed its datagram.
    /// A duplicate of bytes already received is accepted and ignored.
    pub fn add(
        &mut self,
        now: Instant,
        key: FragmentKey,
        frag: Fragment<'_>,
    ) -> Result<Option<Reassembled>, Rejected> {
        let first = frag.offset;
        let end = first + frag.payload.len();
        if end > MAX_PAYLOAD
            || (frag.more_fragments
                && (frag.payload.is_empty() || !frag.payload.len().is_multiple_of(8)))
        {
            return Err(Rejected::Malformed);
        }
        // All bytes already received, so not to be written again.
        let mut duplicate = false;
        if let Some(dg) = self.datagrams.get(&key) {
            // Linux's ip_frag_queue: a last fragment ending before bytes already seen, or a second
            // one disagreeing about the length, or a middle one reaching past the known end,
            // means the datagram is corrupt: drop it all.
            let contradicts = if frag.more_fragments {
                dg.total_len.is_some_and(|t| end > t)
            } else {
                dg.total_len.is_some_and(|t| t != end) || end < dg.data.len()
            };
            if contradicts {
                self.remove(&key);
                return Err(Rejected::Malformed);
            }
            if !frag.payload.is_empty() {
                match dg.bytes_in_holes(first, end - 1) {
                    // A duplicate changes nothing, except that a last fragment may be the first
                    // to tell where the datagram ends.
                    0 if frag.more_fragments || dg.total_len.is_some() => return Ok(None),
                    0 => duplicate = true,
                    n if n < frag.payload.len() => {
                        self.remove(&key);
                        return Err(Rejected::Overlap);
                    }
                    _ => {}
                }
            }
        } else {
            if crate::memory::under_pressure() {
                return Err(Rejected::NoMemory);
            }
            // Make room before inserting. One datagram is at most MAX_PAYLOAD bytes, no more than
            // the byte bound, so evicting every other datagram always makes room.
            while self.datagrams.len() >= self.max_datagrams || self.bytes + end > self.max_bytes {
                if !self.evict_oldest(None) {
                    break;
                }
            }
            let seq = self.next_seq;
            self.next_seq += 1;
            self.datagrams.insert(
                key,
                Datagram {
                    data: Vec::new(),
                    holes: vec![(0, usize::MAX)],
                    total_len: None,
                    deadline: now + TIMEOUT,
                    seq,
                    first_header: None,
                    first_payload_head: Vec::new(),
                    first_link_broadcast: false,
                },
            );
        }
        let grow = end.saturating_sub(self.datagrams[&key].data.len());
        while self.bytes + grow > self.max_bytes {
            if !self.evict_oldest(Some(&key)) {
                break;
            }
        }
        let dg = self
            .datagrams
            .get_mut(&key)
            .expect("present or inserted above");
        if !frag.more_fragments {
            dg.total_len = Some(end);
        }
        if frag.offset == 0 && !duplicate {
            dg.first_header = Some(frag.header.to_vec());
            dg.first_payload_head = frag.payload[..frag.payload.len().min(8)].to_vec();
            dg.first_link_broadcast = frag.link_broadcast;
        }
        if grow > 0 {
            dg.data.resize(end, 0);
            self.bytes += grow;
        }
        // Only holes are written: the checks above made sure the fragment lies wholly in them.
        if !duplicate {
            dg.data[first..end].copy_from_slice(frag.payload);
        }

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
        if dg.holes.len() > MAX_HOLES {
            self.remove(&key);
            return Err(Rejected::TooFragmented);
        }
        if dg.holes.is_empty() && dg.total_len.is_some() {
            return Ok(self.remove(&key).map(|dg| Reassembled {
                data: dg.data,
                link_broadcast: dg.first_link_broadcast,
            }));
        }
        Ok(None)
    }

    fn remove(&mut self, key: &FragmentKey) -> Option<Datagram> {
        let dg = self.datagrams.remove(key)?;
        self.bytes -= dg.data.len();
        Some(dg)
    }

    /// Drops the oldest datagram other than `keep`; false if there was none.
    fn evict_oldest(&mut self, keep: Option<&FragmentKey>) -> bool {
        let oldest = self
            .datagrams
            .iter()
            .filter(|(k, _)| Some(*k) != keep)
            .min_by_key(|(_, dg)| dg.seq)
            .map(|(k, _)| *k);
        let Some(key) = oldest else {
            return false;
        };
        self.remove(&key);
        self.evicted += 1;
        true
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
                expired.push(Expired {
                    key: *key,
                    quote,
                    link_broadcast: dg.first_link_broadcast,
                });
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

    /// How many datagrams were evicted to make room since the last call; evicted datagrams get
    /// no ICMP time exceeded (they did not time out).
    pub fn take_evicted(&mut self) -> u64 {
        std::mem::take(&mut self.evicted)
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

    /// `data` reassembled from fragments in unicast frames.
    fn whole(data: &[u8]) -> Reassembled {
        Reassembled {
            data: data.to_vec(),
            link_broadcast: false,
        }
    }

    fn frag(data: &[u8], offset: usize, len: usize, total: usize) -> Fragment<'_> {
        Fragment {
            offset,
            more_fragments: offset + len < total,
            payload: &data[offset..offset + len],
            header: &[0x45; 20],
            link_broadcast: false,
        }
    }

    #[test]
    fn thousands_of_tiny_fragments_each_leaving_a_hole_end_the_datagram() {
        // FragmentSmack: 8-byte fragments at every other slot of a 64 KiB datagram.
        let data = vec![1u8; 65_000];
        let mut r = Reassembler::new();
        let mut refused = None;
        for (i, offset) in (0..64_000).step_by(16).enumerate() {
            match r.add(Instant::ZERO, KEY, frag(&data, offset, 8, 65_000)) {
                Ok(None) => {}
                Err(e) => {
                    refused = Some((i, e));
                    break;
                }
                Ok(Some(_)) => panic!("reassembled from half its bytes"),
            }
        }
        assert_eq!(refused, Some((MAX_HOLES, Rejected::TooFragmented)));
        assert_eq!(r.buffered(), 0, "the datagram is gone");
        // An honest datagram in MTU-sized pieces is unaffected.
        let pieces: Vec<_> = (0..65_000).step_by(1480).collect();
        let mut whole = None;
        for &o in pieces.iter().rev() {
            whole = r
                .add(
                    Instant::ZERO,
                    KEY,
                    frag(&data, o, 1480.min(65_000 - o), 65_000),
                )
                .unwrap();
        }
        assert_eq!(whole.map(|d| d.data.len()), Some(65_000));
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
            assert_eq!(done.map(|d| d.data), Some(data.clone()));
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
            link_broadcast: false,
        };
        assert_eq!(r.add(Instant::ZERO, KEY, odd), Err(Rejected::Malformed));
        let beyond = Fragment {
            offset: 65528,
            more_fragments: false,
            payload: &data[..16],
            header: &[],
            link_broadcast: false,
        };
        assert_eq!(r.add(Instant::ZERO, KEY, beyond), Err(Rejected::Malformed));
        assert_eq!(r.pending(), 0, "a rejected fragment leaves nothing behind");
        // A second last fragment disagreeing on the length drops the datagram.
        let key = FragmentKey { ident: 1, ..KEY };
        assert_eq!(r.add(Instant::ZERO, key, frag(&data, 56, 8, 64)), Ok(None));
        assert_eq!(
            r.add(Instant::ZERO, key, frag(&data, 96, 8, 104)),
            Err(Rejected::Malformed)
        );
        assert_eq!(r.pending(), 0);
        // So does a middle fragment reaching past the known end (Linux: "bits beyond end").
        assert_eq!(r.add(Instant::ZERO, key, frag(&data, 56, 8, 64)), Ok(None));
        let past = Fragment {
            offset: 64,
            more_fragments: true,
            payload: &data[..8],
            header: &[],
            link_broadcast: false,
        };
        assert_eq!(r.add(Instant::ZERO, key, past), Err(Rejected::Malformed));
        assert_eq!((r.pending(), r.buffered()), (0, 0));
    }

    #[test]
    fn overlap_drops_the_whole_datagram() {
        let data: Vec<u8> = (0..64).collect();
        let mut r = Reassembler::new();
        assert_eq!(r.add(Instant::ZERO, KEY, frag(&data, 0, 16, 64)), Ok(None));
        assert_eq!(r.add(Instant::ZERO, KEY, frag(&data, 32, 16, 64)), Ok(None));
        // Half old bytes, half new: the datagram is gone.
        assert_eq!(
            r.add(Instant::ZERO, KEY, frag(&data, 8, 16, 64)),
            Err(Rejected::Overlap)
        );
        assert_eq!((r.pending(), r.buffered()), (0, 0));
        // A fragment spanning a hole and both its neighbours, and a last fragment starting inside
        // received bytes, overlap too.
        assert_eq!(r.add(Instant::ZERO, KEY, frag(&data, 0, 16, 64)), Ok(None));
        assert_eq!(r.add(Instant::ZERO, KEY, frag(&data, 24, 8, 64)), Ok(None));
        assert_eq!(
            r.add(Instant::ZERO, KEY, frag(&data, 8, 32, 64)),
            Err(Rejected::Overlap)
        );
        assert_eq!(r.add(Instant::ZERO, KEY, frag(&data, 0, 16, 64)), Ok(None));
        assert_eq!(
            r.add(Instant::ZERO, KEY, frag(&data, 8, 56, 64)),
            Err(Rejected::Overlap)
        );
        assert_eq!(r.pending(), 0);
        // Fragments that only touch end to end do not overlap.
        assert_eq!(r.add(Instant::ZERO, KEY, frag(&data, 16, 16, 64)), Ok(None));
        assert_eq!(r.add(Instant::ZERO, KEY, frag(&data, 0, 16, 64)), Ok(None));
        assert_eq!(
            r.add(Instant::ZERO, KEY, frag(&data, 32, 32, 64)),
            Ok(Some(whole(&data)))
        );
    }

    #[test]
    fn duplicates_are_ignored_and_keep_the_first_copy() {
        let data: Vec<u8> = (0..48).collect();
        let other = vec![0xee; 48];
        let mut r = Reassembler::new();
        assert_eq!(r.add(Instant::ZERO, KEY, frag(&data, 0, 16, 48)), Ok(None));
        // The same fragment again, with other bytes, and a part of it: nothing changes.
        assert_eq!(r.add(Instant::ZERO, KEY, frag(&other, 0, 16, 48)), Ok(None));
        assert_eq!(r.add(Instant::ZERO, KEY, frag(&other, 8, 8, 48)), Ok(None));
        assert_eq!(r.buffered(), 16);
        assert_eq!(r.add(Instant::ZERO, KEY, frag(&data, 16, 16, 48)), Ok(None));
        assert_eq!(
            r.add(Instant::ZERO, KEY, frag(&data, 32, 16, 48)),
            Ok(Some(whole(&data)))
        );
        // A last fragment repeating bytes sent before with MF set still tells where the end is.
        let mf = |offset, len| Fragment {
            offset,
            more_fragments: true,
            payload: &data[offset..offset + len],
            header: &[],
            link_broadcast: false,
        };
        assert_eq!(r.add(Instant::ZERO, KEY, mf(0, 24)), Ok(None));
        assert_eq!(r.add(Instant::ZERO, KEY, mf(24, 24)), Ok(None));
        assert_eq!(
            r.add(Instant::ZERO, KEY, frag(&other, 24, 24, 48)),
            Ok(Some(whole(&data)))
        );
    }

    #[test]
    fn a_full_table_evicts_the_oldest() {
        let data = vec![1u8; 64];
        let mut r = Reassembler::new();
        // A flood of first fragments that never complete.
        for ident in 0..MAX_DATAGRAMS as u16 {
            let key = FragmentKey { ident, ..KEY };
            assert_eq!(r.add(Instant::ZERO, key, frag(&data, 0, 8, 64)), Ok(None));
        }
        assert_eq!(r.take_evicted(), 0);
        // A real datagram still gets through, at the cost of the oldest.
        let real = FragmentKey { ident: 999, ..KEY };
        assert_eq!(r.add(Instant::ZERO, real, frag(&data, 0, 32, 64)), Ok(None));
        assert_eq!(r.take_evicted(), 1);
        assert_eq!(r.pending(), MAX_DATAGRAMS);
        assert_eq!(
            r.add(Instant::ZERO, real, frag(&data, 32, 32, 64)),
            Ok(Some(whole(&data)))
        );
        // Ident 0 went: its last fragment starts a new datagram. Ident 1 is still there.
        let k0 = FragmentKey { ident: 0, ..KEY };
        let k1 = FragmentKey { ident: 1, ..KEY };
        assert_eq!(r.add(Instant::ZERO, k0, frag(&data, 8, 56, 64)), Ok(None));
        assert_eq!(
            r.add(Instant::ZERO, k1, frag(&data, 8, 56, 64)),
            Ok(Some(whole(&data)))
        );
        assert_eq!(r.take_evicted(), 0);
        assert_eq!(r.buffered(), (MAX_DATAGRAMS - 2) * 8 + 64);
    }

    #[test]
    fn the_byte_bound_evicts_before_inserting() {
        let data = vec![2u8; 65000];
        let far = |offset| Fragment {
            offset,
            more_fragments: true,
            payload: &data[..8],
            header: &[],
            link_broadcast: false,
        };
        let key = |ident| FragmentKey { ident, ..KEY };
        let mut r = Reassembler::with_limits(MAX_DATAGRAMS, MAX_PAYLOAD);
        assert_eq!(r.add(Instant::ZERO, key(1), far(30000)), Ok(None));
        assert_eq!(r.add(Instant::ZERO, key(2), far(30000)), Ok(None));
        assert_eq!(r.buffered(), 2 * 30008);
        // A third would pass the bound: the oldest makes room for it first.
        assert_eq!(r.add(Instant::ZERO, key(3), far(30000)), Ok(None));
        assert_eq!((r.pending(), r.buffered(), r.take_evicted()), (2, 60016, 1));
        // Growing a datagram evicts others, never the datagram growing.
        assert_eq!(r.add(Instant::ZERO, key(2), far(60000)), Ok(None));
        assert_eq!((r.pending(), r.buffered(), r.take_evicted()), (1, 60008, 1));
        assert!(r.buffered() <= MAX_PAYLOAD);
    }
}
