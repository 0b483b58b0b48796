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
//! - a resolved entry lives as Linux's neighbour states (NUD) do: REACHABLE for
//!   [`ArpConfig::reachable_time`] after the neighbour last proved it hears us (a reply to our
//!   request, or an upper layer's confirmation: TCP acknowledging new data), then STALE — still
//!   used, so a live connection never waits on re-resolution; the first use of a stale entry starts
//!   DELAY ([`ArpConfig::delay_first_probe`]) for a confirmation to come, then PROBE: up to
//!   [`ArpConfig::unicast_probes`] requests sent to the address we know, the entry used meanwhile;
//!   unanswered, the entry is forgotten and the next packet asks by broadcast. A stale entry unused
//!   for [`ArpConfig::gc_stale_time`] is forgotten;
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
    /// How long a confirmation keeps an entry REACHABLE (Linux's base_reachable_time).
    pub reachable_time: Duration,
    /// How long a stale entry in use waits for a confirmation before probing (delay_first_probe_time).
    pub delay_first_probe: Duration,
    /// Unicast requests to a known address before it is given up (ucast_solicit).
    pub unicast_probes: u32,
    /// How long an unused stale entry is kept (gc_stale_time).
    pub gc_stale_time: Duration,
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
            reachable_time: Duration::from_secs(30),
            delay_first_probe: Duration::from_secs(5),
            unicast_probes: 3,
            gc_stale_time: Duration::from_secs(60),
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

/// Where a resolved entry stands: Linux's NUD states (the model of RFC 4861 §7.3.2, for ARP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reach {
    /// Confirmed lately; it stays so until `until`.
    Reachable { until: Instant },
    /// Not confirmed lately: still used.
    Stale,
    /// Used while stale: a confirmation may come until `until`, then probing starts.
    Delay { until: Instant },
    /// `tries` unicast requests sent, the next due at `next`; still used meanwhile.
    Probe { tries: u32, next: Instant },
}

#[derive(Debug)]
enum Entry {
    Resolved {
        mac: MacAddr,
        reach: Reach,
        /// When a frame last went to it.
        used: Instant,
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
    /// Addresses to send an ARP request for, by broadcast.
    pub requests: Vec<Ipv4Addr>,
    /// Addresses to re-probe with a request sent to the Ethernet address we know.
    pub probes: Vec<(Ipv4Addr, MacAddr)>,
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

    /// The Ethernet address of `ip`, if known (in any state but unresolved).
    pub fn lookup(&self, ip: Ipv4Addr) -> Option<MacAddr> {
        match self.entries.get(&ip) {
            Some(Entry::Resolved { mac, .. }) => Some(*mac),
            _ => None,
        }
    }

    /// An upper layer saw the neighbour answer (TCP acknowledging new data): REACHABLE again,
    /// whatever its state (Linux's neigh_confirm).
    pub fn confirm(&mut self, now: Instant, ip: Ipv4Addr) {
        if let Some(Entry::Resolved { reach, .. }) = self.entries.get_mut(&ip) {
            *reach = Reach::Reachable {
                until: now + self.config.reachable_time,
            };
        }
    }

    /// A frame goes to a resolved entry: a stale one starts waiting for a confirmation.
    fn use_entry(&mut self, now: Instant, ip: Ipv4Addr) -> Option<MacAddr> {
        let delay = self.config.delay_first_probe;
        let Some(Entry::Resolved { mac, reach, used }) = self.entries.get_mut(&ip) else {
            return None;
        };
        *used = now;
        if let Reach::Reachable { until } = *reach {
            if now >= until {
                *reach = Reach::Stale;
            }
        }
        if *reach == Reach::Stale {
            *reach = Reach::Delay { until: now + delay };
        }
        Some(*mac)
    }

    /// Sends `frame` to `ip` if its address is known, or queues it and starts resolution.
    pub fn resolve_or_queue(
        &mut self,
        now: Instant,
        ip: Ipv4Addr,
        frame: QueuedFrame,
    ) -> Resolution {
        if let Some(mac) = self.use_entry(now, ip) {
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
    /// only when the packet was addressed to us); `confirmed`, that it proves the neighbour hears us
    /// (a reply to our request: REACHABLE), where a request from it only makes the entry STALE, as
    /// Linux's arp_process. Returns frames that were waiting for it.
    pub fn learn(
        &mut self,
        now: Instant,
        ip: Ipv4Addr,
        mac: MacAddr,
        create: bool,
        confirmed: bool,
    ) -> Vec<Vec<u8>> {
        if !mac.is_unicast() || ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
            return Vec::new();
        }
        let fresh = if confirmed {
            Reach::Reachable {
                until: now + self.config.reachable_time,
            }
        } else {
            Reach::Stale
        };
        match self.entries.get_mut(&ip) {
            Some(Entry::Resolved {
                mac: known, reach, ..
            }) => {
                // The same address heard again keeps its state unless this proves reachability;
                // a new address starts over.
                if confirmed || *known != mac {
                    *reach = fresh;
                }
                *known = mac;
                Vec::new()
            }
            Some(entry) => match std::mem::replace(
                entry,
                Entry::Resolved {
                    mac,
                    reach: fresh,
                    used: now,
                },
            ) {
                Entry::Incomplete { queue, .. } => queue.into_iter().map(|q| q.frame).collect(),
                Entry::Resolved { .. } => Vec::new(),
            },
            None => {
                if create && self.entries.len() < self.config.max_entries {
                    self.entries.insert(
                        ip,
                        Entry::Resolved {
                            mac,
                            reach: fresh,
                            used: now,
                        },
                    );
                }
                Vec::new()
            }
        }
    }

    /// Retries and gives up on resolutions whose time has come, moves resolved entries through
    /// their states (probing by unicast), and forgets the ones given up or long unused.
    pub fn poll(&mut self, now: Instant) -> ArpActions {
        let mut actions = ArpActions::default();
        let c = self.config;
        self.entries.retain(|ip, entry| match entry {
            Entry::Resolved { mac, reach, used } => match *reach {
                Reach::Reachable { until } => {
                    if now >= until {
                        *reach = Reach::Stale;
                    }
                    true
                }
                Reach::Stale => now.saturating_since(*used) < c.gc_stale_time,
                Reach::Delay { until } if now >= until => {
                    *reach = Reach::Probe {
                        tries: 1,
                        next: now + c.retry_interval,
                    };
                    actions.probes.push((*ip, *mac));
                    true
                }
                Reach::Probe { tries, next } if now >= next => {
                    if tries >= c.unicast_probes {
                        return false;
                    }
                    *reach = Reach::Probe {
                        tries: tries + 1,
                        next: now + c.retry_interval,
                    };
                    actions.probes.push((*ip, *mac));
                    true
                }
                Reach::Delay { .. } | Reach::Probe { .. } => true,
            },
            Entry::Incomplete {
                tries,
                next_try,
                queue,
            } => {
                if *next_try > now {
                    return true;
                }
                if *tries >= c.max_tries {
                    actions.failed.extend(queue.drain(..));
                    return false;
                }
                *tries += 1;
                *next_try = now + c.retry_interval;
                actions.requests.push(*ip);
                true
            }
        });
        actions
    }

    /// Makes room in a full table: stale entries go first.
    fn expire(&mut self, _now: Instant) {
        self.entries.retain(|_, e| {
            !matches!(
                e,
                Entry::Resolved {
                    reach: Reach::Stale,
                    ..
                }
            )
        });
    }

    /// When [`poll`](Self::poll) next has work: the earliest retry or probe (the other changes of
    /// state need no prompt action).
    pub fn poll_at(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter_map(|e| match e {
                Entry::Incomplete { next_try, .. } => Some(*next_try),
                Entry::Resolved {
                    reach: Reach::Delay { until },
                    ..
                } => Some(*until),
                Entry::Resolved {
                    reach: Reach::Probe { next, .. },
                    ..
                } => Some(*next),
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
        let released = c.learn(t0, IP, MAC, false, true);
        assert_eq!(released.len(), 2);
        assert_eq!(released[0][0], 1);
        assert_eq!(c.lookup(IP), Some(MAC));
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
    fn learns_only_when_addressed_or_known() {
        let mut c = NeighbourCache::new(ArpConfig::default());
        c.learn(Instant::ZERO, IP, MAC, false, false);
        assert_eq!(c.lookup(IP), None);
        c.learn(Instant::ZERO, IP, MAC, true, false);
        assert_eq!(c.lookup(IP), Some(MAC));
        // Broadcast or multicast senders are never learned.
        let other = Ipv4Addr::new(10, 77, 0, 5);
        c.learn(Instant::ZERO, other, MacAddr::BROADCAST, true, false);
        assert_eq!(c.lookup(other), None);
    }

    fn ready(c: &mut NeighbourCache, now: Instant) -> bool {
        matches!(c.resolve_or_queue(now, IP, frame(0)), Resolution::Ready(m, _) if m == MAC)
    }

    #[test]
    fn an_old_entry_is_used_while_it_is_probed_by_unicast_and_confirmation_keeps_it() {
        // Linux's REACHABLE → STALE → DELAY → PROBE: never a frame held back for re-resolution.
        let cfg = ArpConfig::default();
        let mut c = NeighbourCache::new(cfg);
        let t0 = Instant::ZERO;
        c.resolve_or_queue(t0, IP, frame(1));
        c.learn(t0, IP, MAC, false, true);
        // Past its reachable time: stale, still used; the use starts the delay.
        let t1 = t0 + cfg.reachable_time + Duration::from_secs(1);
        assert!(c.poll(t1).probes.is_empty());
        assert!(ready(&mut c, t1));
        assert_eq!(c.poll_at(), Some(t1 + cfg.delay_first_probe));
        // TCP confirms within the delay: reachable again, no probe at all.
        c.confirm(t1 + Duration::from_secs(2), IP);
        assert!(c.poll(t1 + cfg.delay_first_probe).probes.is_empty());
        assert_eq!(c.poll_at(), None);
        // Later, with nobody confirming: unicast probes to the known address, the entry in use
        // all along; an answer makes it reachable.
        let t2 = t1 + cfg.reachable_time * 2;
        c.poll(t2);
        assert!(ready(&mut c, t2));
        let t3 = t2 + cfg.delay_first_probe;
        assert_eq!(c.poll(t3).probes, vec![(IP, MAC)]);
        assert!(ready(&mut c, t3));
        assert_eq!(c.poll(t3 + cfg.retry_interval).probes, vec![(IP, MAC)]);
        c.learn(t3 + cfg.retry_interval, IP, MAC, false, true);
        assert_eq!(c.poll_at(), None);
        assert!(ready(&mut c, t3 + cfg.retry_interval));
    }

    #[test]
    fn an_entry_whose_probes_go_unanswered_is_forgotten_and_asked_for_again() {
        let cfg = ArpConfig::default();
        let mut c = NeighbourCache::new(cfg);
        c.learn(Instant::ZERO, IP, MAC, true, false);
        let mut now = Instant::ZERO + Duration::from_secs(1);
        assert!(ready(&mut c, now));
        let mut probes = 0;
        for _ in 0..10 {
            let Some(at) = c.poll_at() else { break };
            now = at;
            probes += c.poll(now).probes.len();
        }
        assert_eq!(probes, cfg.unicast_probes as usize);
        assert_eq!(c.lookup(IP), None);
        assert!(matches!(
            c.resolve_or_queue(now, IP, frame(2)),
            Resolution::Queued { ask: true, .. }
        ));
        // A stale entry nobody uses goes after gc_stale_time.
        let other = Ipv4Addr::new(10, 77, 0, 7);
        c.learn(now, other, MAC, true, false);
        c.poll(now + cfg.gc_stale_time);
        assert_eq!(c.lookup(other), None);
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
        let released = c.learn(t, IP, MAC, false, true);
        assert_eq!(released.iter().map(|f| f[0]).collect::<Vec<_>>(), [3, 4]);
    }
}
