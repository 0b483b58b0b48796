//! Sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 §3.4).
//!
//! Every sequence-space comparison in the engine goes through `SeqNum`, so wrap-around is handled in
//! one place. Comparisons are only meaningful between numbers less than 2^31 apart, which the window
//! limits guarantee.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Sub};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// Signed distance `self - other` in sequence space.
    pub fn diff(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// Distance `self - other` as a byte count; zero if `self` is before `other`.
    pub fn since(self, other: SeqNum) -> usize {
        self.diff(other).max(0) as usize
    }

    pub fn max(self, other: SeqNum) -> SeqNum {
        if self >= other {
            self
        } else {
            other
        }
    }

    pub fn min(self, other: SeqNum) -> SeqNum {
        if self <= other {
            self
        } else {
            other
        }
    }

    /// `lo <= self < hi` in sequence space.
    pub fn in_range(self, lo: SeqNum, hi: SeqNum) -> bool {
        lo <= self && self < hi
    }
}

impl PartialOrd for SeqNum {
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

impl Add<usize> for SeqNum {
    type Output = SeqNum;
    fn add(self, n: usize) -> SeqNum {
        SeqNum(self.0.wrapping_add(n as u32))
    }
}

impl AddAssign<usize> for SeqNum {
    fn add_assign(&mut self, n: usize) {
        *self = *self + n;
    }
}

impl Sub<usize> for SeqNum {
    type Output = SeqNum;
    fn sub(self, n: usize) -> SeqNum {
        SeqNum(self.0.wrapping_sub(n as u32))
    }
}

impl fmt::Debug for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_comparisons() {
        let a = SeqNum(u32::MAX - 10);
        let b = a + 20;
        assert_eq!(b, SeqNum(9));
        assert!(a < b);
        assert!(b > a);
        assert!(a <= a.max(a));
        assert_eq!(b.diff(a), 20);
        assert_eq!(a.diff(b), -20);
        assert_eq!(b.since(a), 20);
        assert_eq!(a.since(b), 0);
        assert_eq!(a.max(b), b);
        assert_eq!(a.min(b), a);
        assert!((a + 5).in_range(a, b));
        assert!(!b.in_range(a, b));
        assert_eq!(b - 20, a);
    }
}
