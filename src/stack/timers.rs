//! The TCP connections' deadlines in order, so that finding the next one, and the ones due, costs
//! the same with ten connections or ten thousand.
//!
//! Each connection knows its own next deadline ([`crate::tcp::Connection::poll_at`]); this queue
//! keeps a copy, sorted. The stack re-files a connection after every event that reaches it
//! ([`super::Stack`]'s `tcp_after_event`). Anything else that may move a deadline (an option set
//! through the public mutable accessor) only marks the connection: a marked one is looked at
//! directly until the next poll re-files it, so a missed re-filing can make a timer early, never
//! late.

use std::collections::BTreeSet;

use super::socket_table::{HandleMap, HandleSet};
use super::SocketHandle;
use crate::time::Instant;

#[derive(Default)]
pub struct TimerQueue {
    order: BTreeSet<(Instant, SocketHandle)>,
    at: HandleMap<Instant>,
    marked: HandleSet,
}

impl TimerQueue {
    /// Makes room for one more connection's entries (the ordered set's nodes are small and come
    /// as needed); false when the memory cannot be had.
    pub fn try_reserve_one(&mut self) -> bool {
        self.at.try_reserve(1).is_ok() && self.marked.try_reserve(1).is_ok()
    }

    /// Files `h` under `deadline` (none: not at all).
    pub fn set(&mut self, h: SocketHandle, deadline: Option<Instant>) {
        if !self.marked.is_empty() {
            self.marked.remove(&h);
        }
        match deadline {
            Some(at) => match self.at.insert(h, at) {
                // Filed there already: the order stands (most events move no deadline).
                Some(old) if old == at => {}
                old => {
                    if let Some(old) = old {
                        self.order.remove(&(old, h));
                    }
                    self.order.insert((at, h));
                }
            },
            None => {
                if let Some(old) = self.at.remove(&h) {
                    self.order.remove(&(old, h));
                }
            }
        }
    }

    /// `h`'s deadline may have moved.
    pub fn mark(&mut self, h: SocketHandle) {
        self.marked.insert(h);
    }

    /// The connections marked since they were last filed.
    pub fn marked(&self) -> impl Iterator<Item = SocketHandle> + '_ {
        self.marked.iter().copied()
    }

    pub fn take_marked(&mut self) -> Vec<SocketHandle> {
        self.marked.drain().collect()
    }

    /// The earliest filed deadline.
    pub fn first(&self) -> Option<Instant> {
        self.order.first().map(|&(at, _)| at)
    }

    /// Takes every connection filed at or before `now` out of the queue.
    pub fn take_due(&mut self, now: Instant) -> Vec<SocketHandle> {
        let mut due = Vec::new();
        while let Some(&(at, h)) = self.order.first() {
            if at > now {
                break;
            }
            self.order.pop_first();
            self.at.remove(&h);
            due.push(h);
        }
        due
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.order.len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u32) -> SocketHandle {
        SocketHandle::for_tests(i)
    }

    #[test]
    fn due_connections_come_out_in_order_and_refiling_replaces() {
        let mut q = TimerQueue::default();
        let t = |ms: u64| Instant::from_micros(ms * 1000);
        q.set(h(1), Some(t(30)));
        q.set(h(2), Some(t(10)));
        q.set(h(3), Some(t(20)));
        q.set(h(1), Some(t(5)));
        q.set(h(3), None);
        assert_eq!(q.first(), Some(t(5)));
        assert_eq!(q.take_due(t(10)), vec![h(1), h(2)]);
        assert!(q.is_empty());
        q.mark(h(4));
        assert_eq!(q.marked().collect::<Vec<_>>(), vec![h(4)]);
        q.set(h(4), Some(t(1)));
        assert_eq!(q.marked().count(), 0);
        assert_eq!(q.len(), 1);
    }
}
