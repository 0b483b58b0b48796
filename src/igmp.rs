//! Multicast group membership of our one interface, and the IGMP host side that tells the link's
//! routers about it (RFC 2236 for version 2, RFC 3376 for version 3), as Linux's
//! net/ipv4/igmp.c does it.
//!
//! Sits beside IPv4: the stack's sockets join and leave groups ([`Memberships::join`],
//! [`Memberships::leave`], counted per group as Linux's `ip_mc_inc_group`/`ip_mc_dec_group`), IPv4
//! input asks whether a group is ours ([`Memberships::is_member`]) and hands IGMP messages here
//! ([`Memberships::receive`]). Everything this decides to send is returned as [`Outgoing`]
//! messages; time comes in as `now` and the next deadline goes out ([`Memberships::poll_at`]), and
//! the random delays come from the stack's generator. Nothing here reads a clock.
//!
//! What follows Linux (with `force_igmp_version` 0, its default):
//! - IGMPv3 unless a v1 or v2 query was heard lately (RFC 3376 §7.2.1's Older Version Querier
//!   Present timeout; Linux's `mr_v1_seen`/`mr_v2_seen`), then that version's messages.
//! - First join of a group: an unsolicited report at once, repeated once more (the robustness
//!   variable, 2) after a random delay of up to 1 s in v3 (`IGMP_V3_UNSOLICITED_REPORT_INTERVAL`)
//!   or 10 s in v2 (`IGMP_V2_UNSOLICITED_REPORT_INTERVAL`): a CHANGE_TO_EXCLUDE record with no
//!   sources in v3 (igmp_ifc_event), a v2 report to the group in v2.
//! - Last leave: in v3 a CHANGE_TO_INCLUDE record with no sources, sent twice likewise; in v2 a
//!   Leave Group to 224.0.0.2 (RFC 2236 §3); in v1 nothing (RFC 1112 has no leave).
//! - A query is answered after a random delay up to its Max Resp Time: in v3 a general query with
//!   one report of every group (MODE_IS_EXCLUDE records), a group-specific one with that group's;
//!   in v1/v2 a report per group, a report heard from another host cancelling ours (RFC 2236 §3).
//! - 224.0.0.1 (all hosts) is always joined and never reported (RFC 2236 §6, RFC 3376 §5).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::rand::Rng;
use crate::time::{earliest, Instant};
use crate::wire::igmp::{self, GroupRecord, IgmpRepr, QueryVersion, RecordType};

/// All hosts on this link (RFC 1112 §4).
pub const ALL_HOSTS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);
/// All routers, where v2 Leave Group messages go (RFC 2236 §3).
pub const ALL_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 2);
/// All IGMPv3-capable routers, where v3 reports go (RFC 3376 §4.2.14).
pub const ALL_V3_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 22);

/// Robustness Variable (RFC 3376 §8.1; Linux's `igmp_qrv` default).
const ROBUSTNESS: u8 = 2;
/// Unsolicited Report Interval (RFC 3376 §8.11; RFC 2236 §8.10).
const V3_UNSOLICITED_INTERVAL: Duration = Duration::from_secs(1);
const V2_UNSOLICITED_INTERVAL: Duration = Duration::from_secs(10);
/// Linux's IGMP_V1_ROUTER_PRESENT_TIMEOUT: how long a v1 query keeps us at v1.
const V1_QUERIER_PRESENT: Duration = Duration::from_secs(400);
/// RFC 3376 §8.12, Older Version Querier Present Timeout: Robustness × Query Interval (125 s)
/// + Query Response Interval (10 s), as Linux's default `mr_v2_seen` reckoning.
const V2_QUERIER_PRESENT: Duration = Duration::from_secs(2 * 125 + 10);

/// The IGMP version we speak, as the queriers heard decide it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    V1,
    V2,
    V3,
}

/// A message to send, and where to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub dst: Ipv4Addr,
    pub message: IgmpRepr,
}

#[derive(Debug)]
struct Group {
    /// How many sockets joined it (Linux's `ip_mc_list.users`).
    users: usize,
    /// The next unsolicited report, and how many are still to send after it.
    unsolicited: Option<(Instant, u8)>,
    /// An answer to a query (v1/v2, or a v3 group-specific query) due then.
    answer_at: Option<Instant>,
}

/// A group left in v3, whose CHANGE_TO_INCLUDE record is still to be repeated.
#[derive(Debug)]
struct Leaving {
    at: Instant,
    left: u8,
}

#[derive(Debug, Default)]
pub struct Memberships {
    groups: BTreeMap<Ipv4Addr, Group>,
    leaving: BTreeMap<Ipv4Addr, Leaving>,
    /// A v3 general query's answer (one report of every group) due then.
    general_answer_at: Option<Instant>,
    v1_querier_until: Option<Instant>,
    v2_querier_until: Option<Instant>,
}

fn random_delay(rng: &mut Rng, max: Duration) -> Duration {
    let micros = max.as_micros() as u64;
    Duration::from_micros(if micros == 0 { 0 } else { rng.below(micros) })
}

impl Memberships {
    /// Whether datagrams to `group` are for us: a group some socket joined, or all-hosts.
    pub fn is_member(&self, group: Ipv4Addr) -> bool {
        group == ALL_HOSTS || self.groups.contains_key(&group)
    }

    /// Whether a frame to Ethernet address `mac` may carry a group of ours (several groups share
    /// an address, RFC 1112 §6.4: IP input sorts them out).
    pub fn accepts_mac(&self, mac: crate::wire::MacAddr) -> bool {
        use crate::wire::MacAddr;
        mac == MacAddr::ipv4_multicast(ALL_HOSTS)
            || self
                .groups
                .keys()
                .any(|&g| MacAddr::ipv4_multicast(g) == mac)
    }

    /// The groups joined, all-hosts aside.
    pub fn groups(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.groups.keys().copied()
    }

    /// The version in force at `now`.
    pub fn version(&self, now: Instant) -> Version {
        if self.v1_querier_until.is_some_and(|t| now < t) {
            Version::V1
        } else if self.v2_querier_until.is_some_and(|t| now < t) {
            Version::V2
        } else {
            Version::V3
        }
    }

    fn report(&self, version: Version, group: Ipv4Addr, kind: RecordType) -> Outgoing {
        match version {
            Version::V1 => Outgoing {
                dst: group,
                message: IgmpRepr::V1Report { group },
            },
            Version::V2 => Outgoing {
                dst: group,
                message: IgmpRepr::V2Report { group },
            },
            Version::V3 => Outgoing {
                dst: ALL_V3_ROUTERS,
                message: IgmpRepr::V3Report {
                    records: vec![GroupRecord {
                        kind,
                        group,
                        sources: Vec::new(),
                    }],
                },
            },
        }
    }

    /// A socket joins `group` (a multicast address): the first one makes the interface a member
    /// and reports it.
    pub fn join(&mut self, now: Instant, rng: &mut Rng, group: Ipv4Addr) -> Vec<Outgoing> {
        if let Some(g) = self.groups.get_mut(&group) {
            g.users += 1;
            return Vec::new();
        }
        self.leaving.remove(&group);
        let version = self.version(now);
        let mut g = Group {
            users: 1,
            unsolicited: None,
            answer_at: None,
        };
        let mut out = Vec::new();
        if group != ALL_HOSTS {
            out.push(self.report(version, group, RecordType::CHANGE_TO_EXCLUDE));
            g.unsolicited = Some((now + self.unsolicited_delay(rng, version), ROBUSTNESS - 1));
        }
        self.groups.insert(group, g);
        out
    }

    fn unsolicited_delay(&self, rng: &mut Rng, version: Version) -> Duration {
        random_delay(
            rng,
            match version {
                Version::V3 => V3_UNSOLICITED_INTERVAL,
                _ => V2_UNSOLICITED_INTERVAL,
            },
        )
    }

    /// A socket leaves `group`; the last one ends the membership and says so. False when no
    /// socket had joined it.
    pub fn leave(
        &mut self,
        now: Instant,
        rng: &mut Rng,
        group: Ipv4Addr,
        out: &mut Vec<Outgoing>,
    ) -> bool {
        let Some(g) = self.groups.get_mut(&group) else {
            return false;
        };
        g.users -= 1;
        if g.users > 0 {
            return true;
        }
        self.groups.remove(&group);
        if group == ALL_HOSTS {
            return true;
        }
        match self.version(now) {
            Version::V1 => {}
            Version::V2 => out.push(Outgoing {
                dst: ALL_ROUTERS,
                message: IgmpRepr::Leave { group },
            }),
            Version::V3 => {
                out.push(self.report(Version::V3, group, RecordType::CHANGE_TO_INCLUDE));
                let at = now + self.unsolicited_delay(rng, Version::V3);
                self.leaving.insert(
                    group,
                    Leaving {
                        at,
                        left: ROBUSTNESS - 1,
                    },
                );
            }
        }
        true
    }

    /// An IGMP message heard on the link (sent to all-hosts or to a group of ours).
    pub fn receive(&mut self, now: Instant, rng: &mut Rng, message: &IgmpRepr) {
        match message {
            IgmpRepr::Query {
                max_resp_code,
                group,
                version,
            } => {
                let max = Duration::from_millis(
                    100 * u64::from(igmp::max_resp_tenths(*max_resp_code, version)),
                );
                match version {
                    QueryVersion::V1 => self.v1_querier_until = Some(now + V1_QUERIER_PRESENT),
                    QueryVersion::V2 => self.v2_querier_until = Some(now + V2_QUERIER_PRESENT),
                    QueryVersion::V3 { .. } => {}
                }
                let in_v3 = self.version(now) == Version::V3;
                // Linux's igmp_heard_query: entering an older version drops v3's pending answers.
                if !in_v3 {
                    self.general_answer_at = None;
                    self.leaving.clear();
                }
                let general = group.is_unspecified();
                if in_v3 && general {
                    // RFC 3376 §5.2: an answer already due sooner stands.
                    let at = now + random_delay(rng, max);
                    if self.general_answer_at.is_none_or(|t| t > at) {
                        self.general_answer_at = Some(at);
                    }
                    return;
                }
                for (&g, state) in self.groups.iter_mut() {
                    if g == ALL_HOSTS || !(general || g == *group) {
                        continue;
                    }
                    let at = now + random_delay(rng, max);
                    if state.answer_at.is_none_or(|t| t > at) {
                        state.answer_at = Some(at);
                    }
                }
            }
            // RFC 2236 §3: another host's report for a group ours would repeat cancels ours (v3
            // hosts suppress nothing, RFC 3376 §5.2).
            IgmpRepr::V1Report { group } | IgmpRepr::V2Report { group }
                if self.version(now) != Version::V3 =>
            {
                if let Some(g) = self.groups.get_mut(group) {
                    g.answer_at = None;
                    g.unsolicited = None;
                }
            }
            _ => {}
        }
    }

    /// Sends whatever is due at `now`.
    pub fn poll(&mut self, now: Instant, rng: &mut Rng) -> Vec<Outgoing> {
        let version = self.version(now);
        let mut out = Vec::new();
        if self.general_answer_at.is_some_and(|t| t <= now) {
            self.general_answer_at = None;
            let records: Vec<GroupRecord> = self
                .groups
                .keys()
                .filter(|&&g| g != ALL_HOSTS)
                .map(|&group| GroupRecord {
                    kind: RecordType::MODE_IS_EXCLUDE,
                    group,
                    sources: Vec::new(),
                })
                .collect();
            if !records.is_empty() {
                out.push(Outgoing {
                    dst: ALL_V3_ROUTERS,
                    message: IgmpRepr::V3Report { records },
                });
            }
        }
        let due: Vec<Ipv4Addr> = self
            .groups
            .iter()
            .filter(|(_, g)| {
                g.answer_at.is_some_and(|t| t <= now)
                    || g.unsolicited.is_some_and(|(t, _)| t <= now)
            })
            .map(|(&a, _)| a)
            .collect();
        for group in due {
            let mut answer = false;
            let mut unsolicited = false;
            let mut next = None;
            if let Some(g) = self.groups.get_mut(&group) {
                if g.answer_at.is_some_and(|t| t <= now) {
                    g.answer_at = None;
                    answer = true;
                }
                if let Some((t, left)) = g.unsolicited {
                    if t <= now {
                        unsolicited = true;
                        g.unsolicited = None;
                        next = (left > 1).then_some(left - 1);
                    }
                }
            }
            if unsolicited {
                out.push(self.report(version, group, RecordType::CHANGE_TO_EXCLUDE));
            } else if answer {
                out.push(self.report(version, group, RecordType::MODE_IS_EXCLUDE));
            }
            if let Some(left) = next {
                let at = now + self.unsolicited_delay(rng, version);
                if let Some(g) = self.groups.get_mut(&group) {
                    g.unsolicited = Some((at, left));
                }
            }
        }
        let gone: Vec<Ipv4Addr> = self
            .leaving
            .iter()
            .filter(|(_, l)| l.at <= now)
            .map(|(&a, _)| a)
            .collect();
        for group in gone {
            out.push(self.report(Version::V3, group, RecordType::CHANGE_TO_INCLUDE));
            let l = self.leaving.get_mut(&group).expect("listed above");
            l.left -= 1;
            if l.left == 0 {
                self.leaving.remove(&group);
            } else {
                l.at = now + random_delay(rng, V3_UNSOLICITED_INTERVAL);
            }
        }
        out
    }

    /// When [`poll`](Self::poll) next has something to send.
    pub fn poll_at(&self) -> Option<Instant> {
        let mut at = self.general_answer_at;
        for g in self.groups.values() {
            at = earliest(at, g.answer_at);
            at = earliest(at, g.unsolicited.map(|(t, _)| t));
        }
        for l in self.leaving.values() {
            at = earliest(at, Some(l.at));
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 1);

    fn t(ms: u64) -> Instant {
        Instant::from_micros(ms * 1000)
    }

    fn v3(kind: RecordType, groups: &[Ipv4Addr]) -> Outgoing {
        Outgoing {
            dst: ALL_V3_ROUTERS,
            message: IgmpRepr::V3Report {
                records: groups
                    .iter()
                    .map(|&group| GroupRecord {
                        kind,
                        group,
                        sources: vec![],
                    })
                    .collect(),
            },
        }
    }

    /// Polls every deadline up to `until`, collecting what is sent and when.
    fn run(m: &mut Memberships, rng: &mut Rng, until: Instant) -> Vec<(Instant, Outgoing)> {
        let mut sent = Vec::new();
        while let Some(at) = m.poll_at().filter(|&at| at <= until) {
            for o in m.poll(at, rng) {
                sent.push((at, o));
            }
        }
        sent
    }

    #[test]
    fn join_reports_twice_and_leave_says_so_twice() {
        let mut m = Memberships::default();
        let mut rng = Rng::new(7);
        assert!(m.is_member(ALL_HOSTS) && !m.is_member(G));
        assert_eq!(
            m.join(t(0), &mut rng, G),
            vec![v3(RecordType::CHANGE_TO_EXCLUDE, &[G])]
        );
        assert!(m.is_member(G));
        assert!(m.accepts_mac(crate::wire::MacAddr([1, 0, 0x5e, 1, 1, 1])));
        // A second socket adds nothing on the wire.
        assert!(m.join(t(10), &mut rng, G).is_empty());
        let sent = run(&mut m, &mut rng, t(5000));
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(sent[0].0 <= t(1000));
        assert_eq!(sent[0].1, v3(RecordType::CHANGE_TO_EXCLUDE, &[G]));
        let mut out = Vec::new();
        assert!(m.leave(t(6000), &mut rng, G, &mut out));
        assert!(out.is_empty() && m.is_member(G));
        assert!(m.leave(t(6000), &mut rng, G, &mut out));
        assert_eq!(out, vec![v3(RecordType::CHANGE_TO_INCLUDE, &[G])]);
        assert!(!m.is_member(G));
        let sent = run(&mut m, &mut rng, t(20_000));
        assert_eq!(sent.len(), 1);
        assert!(sent[0].0 <= t(7000));
        assert_eq!(m.poll_at(), None);
        assert!(!m.leave(t(30_000), &mut rng, G, &mut out));
    }

    #[test]
    fn queries_are_answered_within_max_resp_time() {
        let mut m = Memberships::default();
        let mut rng = Rng::new(9);
        let h = Ipv4Addr::new(239, 2, 2, 2);
        m.join(t(0), &mut rng, G);
        m.join(t(0), &mut rng, h);
        run(&mut m, &mut rng, t(2000));
        let query = IgmpRepr::Query {
            max_resp_code: 10,
            group: Ipv4Addr::UNSPECIFIED,
            version: QueryVersion::V3 {
                suppress: false,
                qrv: 2,
                qqic: 125,
                sources: vec![],
            },
        };
        m.receive(t(10_000), &mut rng, &query);
        let sent = run(&mut m, &mut rng, t(20_000));
        assert_eq!(sent.len(), 1);
        assert!(sent[0].0 <= t(11_000));
        assert_eq!(sent[0].1, v3(RecordType::MODE_IS_EXCLUDE, &[G, h]));
    }

    #[test]
    fn a_v2_query_turns_us_to_v2_until_it_times_out() {
        let mut m = Memberships::default();
        let mut rng = Rng::new(3);
        m.join(t(0), &mut rng, G);
        run(&mut m, &mut rng, t(2000));
        let query = IgmpRepr::Query {
            max_resp_code: 100,
            group: Ipv4Addr::UNSPECIFIED,
            version: QueryVersion::V2,
        };
        m.receive(t(10_000), &mut rng, &query);
        assert_eq!(m.version(t(10_000)), Version::V2);
        let sent = run(&mut m, &mut rng, t(30_000));
        assert_eq!(sent.len(), 1);
        assert!(sent[0].0 <= t(20_000));
        assert_eq!(
            sent[0].1,
            Outgoing {
                dst: G,
                message: IgmpRepr::V2Report { group: G }
            }
        );
        // Another host's report cancels ours.
        m.receive(t(40_000), &mut rng, &query);
        m.receive(t(40_001), &mut rng, &IgmpRepr::V2Report { group: G });
        assert!(run(&mut m, &mut rng, t(60_000)).is_empty());
        let mut out = Vec::new();
        m.leave(t(60_000), &mut rng, G, &mut out);
        assert_eq!(
            out,
            vec![Outgoing {
                dst: ALL_ROUTERS,
                message: IgmpRepr::Leave { group: G }
            }]
        );
        // Past the Older Version Querier Present timeout, v3 again.
        assert_eq!(m.version(t(40_000) + V2_QUERIER_PRESENT), Version::V3);
        let out = m.join(t(40_000) + V2_QUERIER_PRESENT, &mut rng, G);
        assert_eq!(out, vec![v3(RecordType::CHANGE_TO_EXCLUDE, &[G])]);
    }
}
