//! Out-of-order reassembly bookkeeping and the SACK blocks it implies (RFC 2018, RFC 9293 §3.10.7.4).
//!
//! The bytes themselves sit in the receive ring at their final offsets; this only remembers which
//! sequence ranges beyond RCV.NXT have arrived. It is bounded: when `MAX_RANGES` disjoint ranges
//! are held, a segment that would need a new one is refused (the sender retransmits it later).
//! Each range remembers when it last grew, so SACK blocks can be reported most recent first.

use super::seq::SeqNum;
use crate::wire::tcp::SackBlocks;

pub const MAX_RANGES: usize = 32;

#[derive(Clone, Copy, Debug)]
struct Range {
    start: SeqNum,
    end: SeqNum,
    stamp: u64,
}

/// Sorted, disjoint, non-adjacent ranges of received sequence space.
#[derive(Debug, Default)]
pub struct Assembler {
    ranges: Vec<Range>,
    counter: u64,
}

impl Assembler {
    pub fn new() -> Assembler {
        Assembler::default()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn clear(&mut self) {
        self.ranges.clear();
    }

    /// Records `[start, end)` as received. Returns false (nothing recorded) if that would need more
    /// than `MAX_RANGES` ranges.
    pub fn add(&mut self, start: SeqNum, end: SeqNum) -> bool {
        if end <= start {
            return true;
        }
        self.counter += 1;
        let stamp = self.counter;
        // First range that ends at or after `start` (could touch or overlap).
        let i = self
            .ranges
            .iter()
            .position(|r| r.end >= start)
            .unwrap_or(self.ranges.len());
        // Ranges i..j touch or overlap [start, end].
        let mut j = i;
        while j < self.ranges.len() && self.ranges[j].start <= end {
            j += 1;
        }
        if i == j {
            if self.ranges.len() >= MAX_RANGES {
                return false;
            }
            self.ranges.insert(i, Range { start, end, stamp });
            return true;
        }
        let merged = Range {
            start: start.min(self.ranges[i].start),
            end: end.max(self.ranges[j - 1].end),
            stamp,
        };
        self.ranges[i] = merged;
        self.ranges.drain(i + 1..j);
        true
    }

    /// If a range begins at or before `rcv_nxt`, removes it and returns it as held: the data up
    /// to its end is now contiguous (a range that ends at or before `rcv_nxt` was wholly covered).
    pub fn pop_contiguous(&mut self, rcv_nxt: SeqNum) -> Option<(SeqNum, SeqNum)> {
        let first = *self.ranges.first()?;
        if first.start <= rcv_nxt {
            self.ranges.remove(0);
            Some((first.start, first.end))
        } else {
            None
        }
    }

    /// Forgets everything before `rcv_nxt` (ranges fully covered).
    pub fn trim_before(&mut self, rcv_nxt: SeqNum) {
        self.ranges.retain(|r| r.end > rcv_nxt);
        if let Some(first) = self.ranges.first_mut() {
            if first.start < rcv_nxt {
                first.start = rcv_nxt;
            }
        }
    }

    /// Up to `max` SACK blocks, the most recently updated range first (RFC 2018 §4).
    pub fn sack_blocks(&self, max: usize) -> SackBlocks {
        let mut out = SackBlocks::default();
        let mut last_stamp = u64::MAX;
        for _ in 0..max.min(4) {
            // Pick the most recent range older than the previous pick: O(n * 4), n ≤ 32.
            let best = self
                .ranges
                .iter()
                .filter(|r| r.stamp < last_stamp)
                .max_by_key(|r| r.stamp);
            match best {
                Some(r) => {
                    out.push(r.start.0, r.end.0);
                    last_stamp = r.stamp;
                }
                None => break,
            }
        }
        out
    }

    pub fn ranges(&self) -> impl Iterator<Item = (SeqNum, SeqNum)> + '_ {
        self.ranges.iter().map(|r| (r.start, r.end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> SeqNum {
        SeqNum(n)
    }

    #[test]
    fn merges_and_pops() {
        let mut a = Assembler::new();
        assert!(a.add(s(20), s(30)));
        assert!(a.add(s(40), s(50)));
        assert!(a.add(s(30), s(35)));
        assert_eq!(
            a.ranges().collect::<Vec<_>>(),
            vec![(s(20), s(35)), (s(40), s(50))]
        );
        assert!(a.add(s(34), s(41)));
        assert_eq!(a.ranges().collect::<Vec<_>>(), vec![(s(20), s(50))]);
        assert_eq!(a.pop_contiguous(s(10)), None);
        assert_eq!(a.pop_contiguous(s(20)), Some((s(20), s(50))));
        assert!(a.is_empty());
    }

    #[test]
    fn wraps_around() {
        let mut a = Assembler::new();
        let base = s(u32::MAX - 5);
        assert!(a.add(base + 10, base + 20));
        assert!(a.add(base + 2, base + 8));
        assert_eq!(a.ranges().next(), Some((base + 2, base + 8)));
        a.trim_before(base + 4);
        assert_eq!(a.ranges().next(), Some((base + 4, base + 8)));
        assert_eq!(a.pop_contiguous(base + 4), Some((base + 4, base + 8)));
    }

    #[test]
    fn bounded() {
        let mut a = Assembler::new();
        for i in 0..MAX_RANGES as u32 {
            assert!(a.add(s(i * 10), s(i * 10 + 5)));
        }
        assert!(!a.add(s(1000), s(1001)));
        // Extending an existing range still works.
        assert!(a.add(s(5), s(7)));
    }

    #[test]
    fn sack_blocks_most_recent_first() {
        let mut a = Assembler::new();
        a.add(s(100), s(200));
        a.add(s(300), s(400));
        a.add(s(500), s(600));
        a.add(s(700), s(800));
        a.add(s(900), s(1000));
        a.add(s(400), s(450)); // grows the second range, making it most recent
        let blocks: Vec<_> = a.sack_blocks(4).iter().copied().collect();
        assert_eq!(
            blocks,
            vec![(300, 450), (900, 1000), (700, 800), (500, 600)]
        );
        assert_eq!(a.sack_blocks(3).len(), 3);
    }
}
