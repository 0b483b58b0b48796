//! ARP (RFC 826): the neighbour cache that maps next-hop IPv4 addresses to Ethernet addresses.
//!
//! The cache is sans-IO: it is told what arrived and what time it is, and it answers with actions —
//! "send a request for this address", "these queued packets can go now", "these could not be
//! delivered". The stack turns those into frames and socket errors.
//!
//! Behaviour, following Linux's neighbour subsystem where RFC 826 leaves room:
//! - a packet to an unresolved next hop waits in a small per-neighbour queue while we ask up to
//!   [`ArpConfig::max_tries`] times, [`ArpConfig::retry_interval`] apart; if nobody answers, the
//!   queued packets are dropped and their sockets learn EHOSTUNREACH;
//! - entries expire after [`ArpConfig::reachable_time`]; the next packet asks again;
//! - RFC 826's merge rule, narrowed as Linux narrows it with `arp_accept=0`: a sender we already
//!   know (or are resolving) is updated from any ARP packet; an unknown one is added only from a
//!   request addressed to us, so the kernel's request to us primes our cache while an unsolicited
//!   reply adds nothing (the stack decides which packets may add);
//! - when a neighbour's queue is full the oldest waiting frame is dropped without an error, as
//!   Linux drops it (its `unres_discards`): the socket above retransmits if it cares.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;

use crate::stack::SocketHandle;
use crate::time::{Duration, Instant};
use crate::wire::MacAddr;

#[derive(Clone, Copy, Debug)]
pub struct ArpConfig {
    pub reachable_time: Duration,
    pub retry_interval: Duration,
    pub max_tries: u32,
    /// Entries of either kind; beyond this, new neighbours are refused (the packet is dropped).
    pub max_entries: usize,
    /// Packets waiting on one unresolved neighbour; beyond this the oldest is dropped.
    pub max_queued: usize,
}

impl Default for ArpConfig {
    fn default() -> Self {
        ArpConfig {
            reachable_time: Duration::from_secs(60),
            retry_interval: Duration::from_secs(1),
            max_tries: 3,
            max_entries: 1024,
            max_queued: 64,
        }
    }
}

/// A frame held until its next hop's address is known; bytes 0..6 (destination) are filled then.
#[derive(Debug)]
pub struct QueuedFrame {
    pub frame: Vec<u8>,
    pub owner: Option<SocketHandle>,
}

#[derive(Debug)]
enum Entry {
    Resolved {
        mac: MacAddr,
        expires: Instant,
    },
    Incomplete {
        tries: u32,
        next_try: Instant,
        queue: VecDeque<QueuedFrame>,
    },
}

/// What the cache asks of the stack after a timer tick.
#[derive(Debug, Default)]
pub struct ArpActions {
    /// Addresses to send an ARP request for.
    pub requests: Vec<Ipv4Addr>,
    /// Frames whose neighbour never answered: dropped; their owners get EHOSTUNREACH.
    pub failed: Vec<QueuedFrame>,
}

/// What became of a frame handed to [`NeighbourCache::resolve_or_queue`].
#[derive(Debug)]
pub enum Resolution {
    /// The neighbour is known: send the frame to this address now.
    Ready(MacAddr, Vec<u8>),
    /// Queued; if `ask` is true this is a new neighbour and a request must go out now. If
    /// `dropped_oldest`, the queue was full and its oldest frame was dropped to make room.
    Queued { ask: bool, dropped_oldest: bool },
    /// The cache is full of other neighbours; the frame was dropped.
    Dropped,
}

#[derive(Debug, Default)]
pub struct NeighbourCache {
    config: ArpConfig,
    entries: HashMap<Ipv4Addr, Entry>,
}

impl NeighbourCache {
    pub fn new(config: ArpConfig) -> Self {
        NeighbourCache {
            config,
            entries: HashMap::new(),
        }
    }

    /// The Ethernet address of `ip`, if known and fresh.
    pub fn lookup(&self, now: Instant, ip: Ipv4Addr) -> Option<MacAddr> {
        match self.entries.get(&ip) {
            Some(Entry::Resolved { mac, expires }) if *expires > now => Some(*mac),
            _ => None,
        }
    }

    /// Sends `frame` to `ip` if its address is known, or queues it and starts resolution.
    pub fn resolve_or_queue(
        &mut self,
        now: Instant,
        ip: Ipv4Addr,
        frame: QueuedFrame,
    ) -> Resolution {
        if let Some(mac) = self.lookup(now, ip) {
            return Resolution::Ready(mac, frame.frame);
        }
        if !self.entries.contains_key(&ip) && self.entries.len() >= self.config.max_entries {
            self.expire(now);
            if self.entries.len() >= self.config.max_entries {
                return Resolution::Dropped;
            }
        }
        let entry = self.entries.entry(ip).or_insert(Entry::Incomplete {
            tries: 0,
            next_try: now,
            queue: VecDeque::new(),
        });
        if let Entry::Resolved { .. } = entry {
            // Stale: ask again, holding packets meanwhile.
            *entry = Entry::Incomplete {
                tries: 0,
                next_try: now,
                queue: VecDeque::new(),
            };
        }
        let Entry::Incomplete {
            tries,
            next_try,
            queue,
        } = entry
        else {
            unreachable!("made incomplete above")
        };
        let dropped_oldest = queue.len() >= self.config.max_queued;
        if dropped_oldest {
            queue.pop_front();
        }
        queue.push_back(frame);
        let ask = *tries == 0;
        if ask {
            *tries = 1;
            *next_try = now + self.config.retry_interval;
        }
        Resolution::Queued {
            ask,
            dropped_oldest,
        }
    }

    /// Records that `ip` is at `mac`. `create` says whether an unknown sender may be added (RFC 826:
    /// only when the packet was addressed to us). Returns frames that were waiting for it.
    pub fn learn(
        &mut self,
        now: Instant,
        ip: Ipv4Addr,
        mac: MacAddr,
        create: bool,
    ) -> Vec<Vec<u8>> {
        if !mac.is_unicast() || ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
            return Vec::new();
        }
        let expires = now + self.config.reachable_time;
        match self.entries.get_mut(&ip) {
            Some(entry) => match std::mem::replace(entry, Entry::Resolved { mac, expires }) {
                Entry::Incomplete { queue, .. } => queue.into_iter().map(|q| q.frame).collect(),
                Entry::Resolved { .. } => Vec::new(),
            },
            None => {
                if create && self.entries.len() < self.config.max_entries {
                    self.entries.insert(ip, Entry::Resolved { mac, expires });
                }
                Vec::new()
            }
        }
    }

    /// Retries and gives up on resolutions whose time has come; forgets expired entries.
    pub fn poll(&mut self, now: Instant) -> ArpActions {
        let mut actions = ArpActions::default();
        let (max_tries, interval) = (self.config.max_tries, self.config.retry_interval);
        self.entries.retain(|ip, entry| match entry {
            Entry::Resolved { expires, .. } => *expires > now,
            Entry::Incomplete {
                tries,
                next_try,
                queue,
            } => {
                if *next_try > now {
                    return true;
                }
                if *tries >= max_tries {
                    actions.failed.extend(queue.drain(..));
                    return false;
                }
                *tries += 1;
                *next_try = now + interval;
                actions.requests.push(*ip);
                true
            }
        });
        actions
    }

    fn expire(&mut self, now: Instant) {
        self.entries
            .retain(|_, e| !matches!(e, Entry::Resolved { expires, .. } if *expires <= now));
    }

    /// When [`poll`](Self::poll) next has work: the earliest retry (expiry needs no prompt action).
    pub fn poll_at(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter_map(|e| match e {
                Entry::Incomplete { next_try, .. } => Some(*next_try),
                Entry::Resolved { .. } => None,
            })
            .min()
    }

    /// The resolved entries, for display.
    pub fn resolved(&self) -> impl Iterator<Item = (Ipv4Addr, MacAddr)> + '_ {
        self.entries.iter().filter_map(|(ip, e)| match e {
            Entry::Resolved { mac, .. } => Some((*ip, *mac)),
            Entry::Incomplete { .. } => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

    fn frame(tag: u8) -> QueuedFrame {
        QueuedFrame {
            frame: vec![tag; 20],
            owner: None,
        }
    }

    #[test]
    fn queues_until_learned_then_releases() {
        let mut c = NeighbourCache::new(ArpConfig::default());
        let t0 = Instant::ZERO;
        assert!(matches!(
            c.resolve_or_queue(t0, IP, frame(1)),
            Resolution::Queued { ask: true, .. }
        ));
        assert!(matches!(
            c.resolve_or_queue(t0, IP, frame(2)),
            Resolution::Queued { ask: false, .. }
        ));
        let released = c.learn(t0, IP, MAC, false);
        assert_eq!(released.len(), 2);
        assert_eq!(released[0][0], 1);
        assert_eq!(c.lookup(t0, IP), Some(MAC));
        assert!(
            matches!(c.resolve_or_queue(t0, IP, frame(3)), Resolution::Ready(m, _) if m == MAC)
        );
    }

    #[test]
    fn retries_then_fails() {
        let mut c = NeighbourCache::new(ArpConfig::default());
        let mut now = Instant::ZERO;
        assert!(matches!(
            c.resolve_or_queue(now, IP, frame(1)),
            Resolution::Queued { ask: true, .. }
        ));
        let mut requests = 1;
        for _ in 0..10 {
            now = c.poll_at().unwrap_or(now);
            let a = c.poll(now);
            requests += a.requests.len();
            if !a.failed.is_empty() {
                assert_eq!(a.failed.len(), 1);
                assert_eq!(requests, 3);
                assert_eq!(now, Instant::from_millis(3000));
                assert!(c.poll_at().is_none());
                return;
            }
        }
        panic!("never gave up");
    }

    #[test]
    fn learns_only_when_addressed_or_known_and_expires() {
        let mut c = NeighbourCache::new(ArpConfig::default());
        c.learn(Instant::ZERO, IP, MAC, false);
        assert_eq!(c.lookup(Instant::ZERO, IP), None);
        c.learn(Instant::ZERO, IP, MAC, true);
        assert_eq!(c.lookup(Instant::ZERO, IP), Some(MAC));
        let later = Instant::ZERO + Duration::from_secs(61);
        assert_eq!(c.lookup(later, IP), None);
        c.poll(later);
        assert_eq!(c.resolved().count(), 0);
        // Broadcast or multicast senders are never learned.
        c.learn(Instant::ZERO, IP, MacAddr::BROADCAST, true);
        assert_eq!(c.lookup(Instant::ZERO, IP), None);
    }

    #[test]
    fn queue_and_table_are_bounded() {
        let mut c = NeighbourCache::new(ArpConfig {
            max_entries: 2,
            max_queued: 2,
            ..ArpConfig::default()
        });
        let t = Instant::ZERO;
        let dropped = (0..5)
            .filter(|&i| {
                matches!(
                    c.resolve_or_queue(t, IP, frame(i)),
                    Resolution::Queued {
                        dropped_oldest: true,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(dropped, 3);
        c.resolve_or_queue(t, Ipv4Addr::new(10, 77, 0, 3), frame(0));
        assert!(matches!(
            c.resolve_or_queue(t, Ipv4Addr::new(10, 77, 0, 4), frame(0)),
            Resolution::Dropped
        ));
        // The two newest waited; the oldest went first.
        let released = c.learn(t, IP, MAC, false);
        assert_eq!(released.iter().map(|f| f[0]).collect::<Vec<_>>(), [3, 4]);
    }
}
