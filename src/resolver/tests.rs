//! The resolver's rules against a scripted transport (the real one is tested against dnsmasq in
//! `tests/resolver_kernel.rs`).

use std::cell::RefCell;
use std::rc::Rc;

use super::*;
use crate::wire::dns::{RData, Record, CLASS_IN};

type Answer = Box<dyn FnMut(SocketAddrV4, &DnsRepr) -> Result<Vec<u8>, LookupError>>;

struct Script {
    asked: Vec<(SocketAddrV4, DnsRepr)>,
    answer: Answer,
    /// How servers answer over TCP (none: every connection is refused), and what they were asked.
    tcp: Option<Rc<RefCell<Answer>>>,
    asked_tcp: Rc<RefCell<Vec<(SocketAddrV4, DnsRepr)>>>,
}

impl Script {
    fn new(
        answer: impl FnMut(SocketAddrV4, &DnsRepr) -> Result<Vec<u8>, LookupError> + 'static,
    ) -> Script {
        Script {
            asked: Vec::new(),
            answer: Box::new(answer),
            tcp: None,
            asked_tcp: Rc::default(),
        }
    }

    fn with_tcp(
        mut self,
        answer: impl FnMut(SocketAddrV4, &DnsRepr) -> Result<Vec<u8>, LookupError> + 'static,
    ) -> Script {
        self.tcp = Some(Rc::new(RefCell::new(Box::new(answer))));
        self
    }
}

/// A scripted server's end of a TCP connection: it takes the framed query, answers it framed,
/// and hands the answer out a few bytes per read (as a stream may).
struct ScriptStream {
    server: SocketAddrV4,
    answer: Rc<RefCell<Answer>>,
    asked: Rc<RefCell<Vec<(SocketAddrV4, DnsRepr)>>>,
    sent: Vec<u8>,
    out: Vec<u8>,
}

impl DnsStream for ScriptStream {
    fn send_all(&mut self, data: &[u8], _deadline: Instant) -> Result<(), LookupError> {
        self.sent.extend_from_slice(data);
        let len = usize::from(u16::from_be_bytes([self.sent[0], self.sent[1]]));
        if self.sent.len() == 2 + len {
            let q = DnsRepr::parse(&DnsPacket::new_unchecked(&self.sent[2..])).expect("a query");
            self.asked.borrow_mut().push((self.server, q.clone()));
            let bytes = (self.answer.borrow_mut())(self.server, &q)?;
            self.out = (bytes.len() as u16).to_be_bytes().to_vec();
            self.out.extend_from_slice(&bytes);
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8], _deadline: Instant) -> Result<usize, LookupError> {
        let n = self.out.len().min(buf.len()).min(7);
        buf[..n].copy_from_slice(&self.out[..n]);
        self.out.drain(..n);
        Ok(n)
    }
}

impl DnsTransport for Script {
    fn exchange(
        &mut self,
        server: SocketAddrV4,
        query: &[u8],
        _timeout: Duration,
        reply: &mut [u8],
    ) -> Result<usize, LookupError> {
        let q = DnsRepr::parse(&DnsPacket::new_unchecked(query)).expect("a valid query");
        self.asked.push((server, q.clone()));
        let bytes = (self.answer)(server, &q)?;
        reply[..bytes.len()].copy_from_slice(&bytes);
        Ok(bytes.len())
    }

    fn connect_tcp(
        &mut self,
        server: SocketAddrV4,
        _deadline: Instant,
    ) -> Result<Box<dyn DnsStream>, LookupError> {
        let answer = self.tcp.clone().ok_or(LookupError::Fail)?;
        Ok(Box::new(ScriptStream {
            server,
            answer,
            asked: self.asked_tcp.clone(),
            sent: Vec::new(),
            out: Vec::new(),
        }))
    }
}

fn server(n: u8) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, n), 53)
}

fn resolver(servers: &[SocketAddrV4]) -> Resolver {
    Resolver {
        servers: servers.to_vec(),
        timeout: Duration::from_millis(200),
        attempts: 2,
        search: Vec::new(),
        ndots: 1,
        hosts_path: PathBuf::from("/nonexistent/hosts"),
        services_path: PathBuf::from("/nonexistent/services"),
    }
}

/// The response a server would give to `q`, with these answers.
fn respond(q: &DnsRepr, rcode: Rcode, answers: &[(&str, RData)]) -> Vec<u8> {
    let mut r = q.clone();
    r.response = true;
    r.recursion_available = true;
    r.rcode = rcode;
    r.answers = answers
        .iter()
        .map(|(name, data)| Record {
            name: name.to_string(),
            rtype: match data {
                RData::A(_) => Rtype::A,
                RData::Cname(_) => Rtype::CNAME,
                RData::Ptr(_) => Rtype::PTR,
                RData::Other(_) => Rtype::AAAA,
            },
            class: CLASS_IN,
            ttl: 60,
            data: data.clone(),
        })
        .collect();
    r.emit().unwrap()
}

const WEB: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 50);

#[test]
fn numeric_forms_like_inet_aton() {
    for (text, want) in [
        ("10.77.0.50", Some(WEB)),
        ("127.1", Some(Ipv4Addr::LOCALHOST)),
        ("0x7f.1", Some(Ipv4Addr::LOCALHOST)),
        ("1.2.3", Some(Ipv4Addr::new(1, 2, 0, 3))),
        ("010.0.0.1", Some(Ipv4Addr::new(8, 0, 0, 1))),
        ("4294967295", Some(Ipv4Addr::BROADCAST)),
        ("1.2.3.256", None),
        ("1.2.3.4.5", None),
        ("1.2.3.4 ", None),
        ("4294967296", None),
        ("1.16777216", None),
        ("08.1.1.1", None),
        ("1..2", None),
        ("", None),
        ("example.test", None),
    ] {
        assert_eq!(parse_numeric(text), want, "{text:?}");
    }
}

#[test]
fn numeric_and_hosts_need_no_dns() {
    let dir = std::env::temp_dir().join(format!("tapstack-resolver-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, "10.77.0.9 db.example db\n").unwrap();
    let mut r = resolver(&[server(1)]);
    r.hosts_path = hosts;
    let mut t = Script::new(|_, _| panic!("no DNS expected"));
    assert_eq!(r.resolve_v4("10.77.0.50", &mut t), Ok(vec![WEB]));
    let h = r.lookup_v4("DB", &mut t).unwrap();
    assert_eq!(
        (h.canonical.as_str(), h.addrs),
        ("db.example", vec![Ipv4Addr::new(10, 77, 0, 9)])
    );
    assert_eq!(
        r.reverse_v4(Ipv4Addr::new(10, 77, 0, 9), &mut t),
        Ok("db.example".into())
    );
    assert_eq!(r.resolve_v4("", &mut t), Err(LookupError::NoName));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dns_answer_through_a_cname_chain() {
    let mut t = Script::new(|_, q| {
        Ok(respond(
            q,
            Rcode::NOERROR,
            &[
                ("www.example.test", RData::Cname("web.example.test".into())),
                ("web.example.test", RData::A(WEB)),
                ("other.test", RData::A(Ipv4Addr::new(9, 9, 9, 9))),
            ],
        ))
    });
    let h = resolver(&[server(1)])
        .lookup_v4("www.example.test", &mut t)
        .unwrap();
    assert_eq!(h.canonical, "web.example.test");
    assert_eq!(h.aliases, ["www.example.test"]);
    assert_eq!(h.addrs, vec![WEB]);
    assert_eq!(t.asked.len(), 1);
    let (to, q) = &t.asked[0];
    assert_eq!(*to, server(1));
    assert!(q.recursion_desired && !q.response);
    assert_eq!(
        q.questions,
        vec![dns::Question::new("www.example.test", Rtype::A)]
    );
}

#[test]
fn nxdomain_and_nodata_are_noname() {
    let mut t = Script::new(|_, q| Ok(respond(q, Rcode::NXDOMAIN, &[])));
    assert_eq!(
        resolver(&[server(1), server(2)]).resolve_v4("nope.test", &mut t),
        Err(LookupError::NoName)
    );
    assert_eq!(
        t.asked.len(),
        1,
        "NXDOMAIN is final: no other server is asked"
    );
    let mut t = Script::new(|_, q| {
        Ok(respond(
            q,
            Rcode::NOERROR,
            &[("x.test", RData::Other(vec![0; 16]))],
        ))
    });
    assert_eq!(
        resolver(&[server(1)]).resolve_v4("x.test", &mut t),
        Err(LookupError::NoName)
    );
}

#[test]
fn failing_servers_are_skipped_and_rounds_repeat() {
    // Server 1 refuses; server 2 times out the first round and answers the second.
    let mut round2 = false;
    let mut t = Script::new(move |to, q| {
        if to == server(1) {
            Ok(respond(q, Rcode::REFUSED, &[]))
        } else if !round2 {
            round2 = true;
            Err(LookupError::Again)
        } else {
            Ok(respond(q, Rcode::NOERROR, &[("a.test", RData::A(WEB))]))
        }
    });
    assert_eq!(
        resolver(&[server(1), server(2)]).resolve_v4("a.test", &mut t),
        Ok(vec![WEB])
    );
    let order: Vec<u8> = t.asked.iter().map(|(s, _)| s.ip().octets()[3]).collect();
    assert_eq!(order, [1, 2, 1, 2]);
    // Every query has its own id.
    let mut ids: Vec<u16> = t.asked.iter().map(|(_, q)| q.id).collect();
    ids.sort();
    ids.dedup();
    assert!(ids.len() >= 3, "ids {ids:?}");
}

#[test]
fn nothing_answering_is_again() {
    let mut t = Script::new(|_, _| Err(LookupError::Again));
    assert_eq!(
        resolver(&[server(1), server(2)]).resolve_v4("a.test", &mut t),
        Err(LookupError::Again)
    );
    assert_eq!(t.asked.len(), 4, "2 servers x 2 attempts");
    let mut t = Script::new(|_, q| Ok(respond(q, Rcode::SERVFAIL, &[])));
    assert_eq!(
        resolver(&[server(1)]).resolve_v4("a.test", &mut t),
        Err(LookupError::Again)
    );
    let mut t = Script::new(|_, _| Err(LookupError::Fail));
    assert_eq!(
        resolver(&[server(1)]).resolve_v4("a.test", &mut t),
        Err(LookupError::Again)
    );
    // No servers at all: what glibc gives when nothing listens on 127.0.0.1.
    let mut t = Script::new(|_, _| panic!("no server to ask"));
    assert_eq!(
        resolver(&[]).resolve_v4("a.test", &mut t),
        Err(LookupError::Again)
    );
}

#[test]
fn replies_that_do_not_match_are_ignored() {
    // Wrong id, then wrong question, then a query echoed back, then garbage, then the answer.
    let mut n = 0;
    let mut t = Script::new(move |_, q| {
        n += 1;
        let mut other = q.clone();
        match n {
            1 => other.id = q.id.wrapping_add(1),
            2 => other.questions[0].name = "b.test".into(),
            3 => return Ok(q.emit().unwrap()),
            4 => return Ok(vec![1, 2, 3]),
            _ => return Ok(respond(q, Rcode::NOERROR, &[("a.test", RData::A(WEB))])),
        }
        Ok(respond(
            &other,
            Rcode::NOERROR,
            &[("a.test", RData::A(Ipv4Addr::new(6, 6, 6, 6)))],
        ))
    });
    assert_eq!(
        resolver(&[server(1)]).resolve_v4("a.test", &mut t),
        Ok(vec![WEB])
    );
    assert_eq!(t.asked.len(), 5);
    // A server that only ever sends mismatches is given up on, not waited on forever.
    let mut t = Script::new(|_, q| {
        let mut other = q.clone();
        other.id = q.id.wrapping_add(1);
        Ok(respond(&other, Rcode::NOERROR, &[]))
    });
    assert_eq!(
        resolver(&[server(1)]).resolve_v4("a.test", &mut t),
        Err(LookupError::Again)
    );
    assert_eq!(t.asked.len(), 2 * MAX_MISMATCHED);
}

#[test]
fn truncated_without_addresses_is_again() {
    let mut t = Script::new(|_, q| {
        let mut r = DnsRepr::parse(&DnsPacket::new_unchecked(
            &respond(q, Rcode::NOERROR, &[])[..],
        ))
        .unwrap();
        r.truncated = true;
        Ok(r.emit().unwrap())
    });
    assert_eq!(
        resolver(&[server(1)]).resolve_v4("a.test", &mut t),
        Err(LookupError::Again)
    );
}

/// The reply to `q` with `addrs` for its name, the TC bit set as given.
fn addresses_reply(q: &DnsRepr, addrs: &[Ipv4Addr], truncated: bool) -> Vec<u8> {
    let name = q.questions[0].name.clone();
    let answers: Vec<(&str, RData)> = addrs
        .iter()
        .map(|a| (name.as_str(), RData::A(*a)))
        .collect();
    let mut r = DnsRepr::parse(&DnsPacket::new_unchecked(
        &respond(q, Rcode::NOERROR, &answers)[..],
    ))
    .unwrap();
    r.truncated = truncated;
    r.emit().unwrap()
}

fn many() -> Vec<Ipv4Addr> {
    (1..=40).map(|i| Ipv4Addr::new(10, 77, 1, i)).collect()
}

#[test]
fn a_truncated_reply_is_asked_again_over_tcp_of_the_same_server() {
    let mut t = Script::new(|_, q| Ok(addresses_reply(q, &many()[..3], true)))
        .with_tcp(|_, q| Ok(addresses_reply(q, &many(), false)));
    let r = resolver(&[server(1), server(2)]);
    assert_eq!(r.resolve_v4("many.test", &mut t), Ok(many()));
    assert_eq!(t.asked.len(), 1);
    let tcp = t.asked_tcp.borrow();
    assert_eq!(tcp.len(), 1);
    // The same question of the same server, under the same id.
    assert_eq!(tcp[0].0, server(1));
    assert_eq!(tcp[0].1, t.asked[0].1);
}

#[test]
fn tcp_failing_moves_on_to_the_next_server_over_tcp_not_to_the_cut_reply() {
    // Server 1 cuts its reply and fails over TCP; from then on the servers are asked over TCP
    // (glibc's res_send keeps v_circuit), and server 2 answers there.
    let mut t = Script::new(|_, q| Ok(addresses_reply(q, &many()[..3], true))).with_tcp(|s, q| {
        if s == server(1) {
            Err(LookupError::Fail)
        } else {
            Ok(addresses_reply(q, &many()[..5], false))
        }
    });
    let r = resolver(&[server(1), server(2)]);
    assert_eq!(r.resolve_v4("many.test", &mut t), Ok(many()[..5].to_vec()));
    let servers =
        |asked: &[(SocketAddrV4, DnsRepr)]| asked.iter().map(|(s, _)| *s).collect::<Vec<_>>();
    assert_eq!(servers(&t.asked), [server(1)]);
    assert_eq!(servers(&t.asked_tcp.borrow()), [server(1), server(2)]);
}

#[test]
fn a_cut_servfail_is_not_asked_over_tcp() {
    // SERVFAIL is looked at before TC, as send_dg does: the next server, over UDP.
    let mut t = Script::new(|s, q| {
        if s == server(1) {
            let mut r = DnsRepr::parse(&DnsPacket::new_unchecked(
                &respond(q, Rcode::SERVFAIL, &[])[..],
            ))
            .unwrap();
            r.truncated = true;
            Ok(r.emit().unwrap())
        } else {
            Ok(addresses_reply(q, &[WEB], false))
        }
    })
    .with_tcp(|_, _| panic!("no TCP"));
    let r = resolver(&[server(1), server(2)]);
    assert_eq!(r.resolve_v4("web.test", &mut t), Ok(vec![WEB]));
}

#[test]
fn a_tcp_reply_to_another_query_is_not_taken() {
    let mut t = Script::new(|_, q| Ok(addresses_reply(q, &many()[..3], true))).with_tcp(|_, q| {
        let mut other = q.clone();
        other.id = q.id.wrapping_add(1);
        Ok(addresses_reply(&other, &many(), false))
    });
    assert_eq!(
        resolver(&[server(1)]).resolve_v4("many.test", &mut t),
        Err(LookupError::Again)
    );
    // Once over UDP and once over TCP: after TCP no further round (glibc: at most one TCP try
    // per server).
    assert_eq!((t.asked.len(), t.asked_tcp.borrow().len()), (1, 1));
}

#[test]
fn nxdomain_over_tcp_is_noname() {
    let mut t = Script::new(|_, q| Ok(addresses_reply(q, &[], true)))
        .with_tcp(|_, q| Ok(respond(q, Rcode::NXDOMAIN, &[])));
    assert_eq!(
        resolver(&[server(1), server(2)]).resolve_v4("gone.test", &mut t),
        Err(LookupError::NoName)
    );
    assert_eq!(t.asked_tcp.borrow().len(), 1);
}

/// A server that knows `web.b.test` only, times out on `slow.test` names, fails `sf.test` ones
/// (SERVFAIL), has `web.nodata.test` without an address, and `web.dangling.test` as a CNAME to
/// nothing.
fn search_server(q: &DnsRepr) -> Result<Vec<u8>, LookupError> {
    match q.questions[0].name.as_str() {
        "web.b.test" => Ok(respond(q, Rcode::NOERROR, &[("web.b.test", RData::A(WEB))])),
        "web.nodata.test" => Ok(respond(q, Rcode::NOERROR, &[])),
        "web.dangling.test" => Ok(respond(
            q,
            Rcode::NOERROR,
            &[("web.dangling.test", RData::Cname("gone.test".into()))],
        )),
        n if n.ends_with("slow.test") => Err(LookupError::Again),
        n if n.ends_with("sf.test") => Ok(respond(q, Rcode::SERVFAIL, &[])),
        _ => Ok(respond(q, Rcode::NXDOMAIN, &[])),
    }
}

fn asked_names(t: &Script) -> Vec<String> {
    t.asked
        .iter()
        .map(|(_, q)| q.questions[0].name.clone())
        .collect()
}

#[test]
fn search_domains_as_glibc_applies_them_with_ndots_1() {
    let mut r = resolver(&[server(1)]);
    r.search = vec!["a.test".into(), "b.test".into(), "c.test".into()];
    // No dot: the domains first, in order, until one has the name.
    let mut t = Script::new(|_, q| search_server(q));
    let h = r.lookup_v4("web", &mut t).unwrap();
    assert_eq!((h.canonical.as_str(), h.addrs), ("web.b.test", vec![WEB]));
    assert_eq!(asked_names(&t), ["web.a.test", "web.b.test"]);
    // Nowhere: every domain, then the name as given.
    let mut t = Script::new(|_, q| search_server(q));
    assert_eq!(r.resolve_v4("nope", &mut t), Err(LookupError::NoName));
    assert_eq!(
        asked_names(&t),
        ["nope.a.test", "nope.b.test", "nope.c.test", "nope"]
    );
    // A dot: as given first, then the domains.
    let mut t = Script::new(|_, q| search_server(q));
    assert_eq!(r.resolve_v4("web.b", &mut t), Err(LookupError::NoName));
    assert_eq!(
        asked_names(&t),
        ["web.b", "web.b.a.test", "web.b.b.test", "web.b.c.test"]
    );
    // A trailing dot: as given only.
    let mut t = Script::new(|_, q| search_server(q));
    assert_eq!(r.resolve_v4("web.", &mut t), Err(LookupError::NoName));
    assert_eq!(asked_names(&t), ["web"]);
    // SERVFAIL and no data go on to the next domain (glibc's got_servfail, got_nodata).
    r.search = vec!["sf.test".into(), "nodata.test".into(), "b.test".into()];
    let mut t = Script::new(|_, q| search_server(q));
    assert_eq!(r.resolve_v4("web", &mut t), Ok(vec![WEB]));
    assert_eq!(
        asked_names(&t),
        [
            "web.sf.test",
            "web.sf.test",
            "web.nodata.test",
            "web.b.test"
        ]
    );
    // No answer in time stops going through the domains, but the name is still asked as given;
    // the error is then that last query's.
    r.search = vec!["slow.test".into(), "b.test".into()];
    let mut t = Script::new(|_, q| search_server(q));
    assert_eq!(r.resolve_v4("web", &mut t), Err(LookupError::NoName));
    assert_eq!(asked_names(&t), ["web.slow.test", "web.slow.test", "web"]);
    // A name with a dot that times out as given: the domains are still asked, and the first
    // query's error is the answer if none has the name.
    r.search = vec!["a.test".into()];
    let mut t = Script::new(|_, q| search_server(q));
    assert_eq!(r.resolve_v4("x.slow.test", &mut t), Err(LookupError::Again));
    assert_eq!(
        asked_names(&t),
        ["x.slow.test", "x.slow.test", "x.slow.test.a.test"]
    );
    // A reply with records but no address (a CNAME to nothing) ends the search.
    r.search = vec!["dangling.test".into(), "b.test".into()];
    let mut t = Script::new(|_, q| search_server(q));
    assert_eq!(r.resolve_v4("web", &mut t), Err(LookupError::NoName));
    assert_eq!(asked_names(&t), ["web.dangling.test"]);
}

#[test]
fn ndots_sets_how_many_dots_ask_a_name_as_given_first() {
    let mut r = resolver(&[server(1)]);
    r.search = vec!["a.test".into(), "b.test".into()];
    // ndots:2 (Kubernetes sets 5): a name with one dot goes through the domains first.
    r.ndots = 2;
    let mut t = Script::new(|_, q| search_server(q));
    assert_eq!(r.resolve_v4("web.x", &mut t), Err(LookupError::NoName));
    assert_eq!(asked_names(&t), ["web.x.a.test", "web.x.b.test", "web.x"]);
    assert_eq!(r.candidates("web.x"), asked_names(&t));
    let mut t = Script::new(|_, q| search_server(q));
    assert_eq!(r.resolve_v4("web.x.y", &mut t), Err(LookupError::NoName));
    assert_eq!(
        asked_names(&t),
        ["web.x.y", "web.x.y.a.test", "web.x.y.b.test"]
    );
    // ndots:0: even a name without a dot is asked as given first.
    r.ndots = 0;
    let mut t = Script::new(|_, q| search_server(q));
    assert_eq!(r.resolve_v4("web", &mut t), Ok(vec![WEB]));
    assert_eq!(asked_names(&t), ["web", "web.a.test", "web.b.test"]);
    // A name found with no address in one domain and nowhere else: glibc's NO_DATA.
    r.ndots = 1;
    r.search = vec!["nodata.test".into(), "a.test".into()];
    let mut t = Script::new(|_, q| search_server(q));
    assert_eq!(r.resolve_v4("web", &mut t), Err(LookupError::NoData));
}

#[test]
fn a_cname_loop_lists_each_name_once() {
    let mut t = Script::new(|_, q| {
        Ok(respond(
            q,
            Rcode::NOERROR,
            &[
                ("a.test", RData::Cname("b.test".into())),
                ("b.test", RData::Cname("a.test".into())),
                ("a.test", RData::A(WEB)),
                ("bad\\032name.test", RData::Cname("a.test".into())),
            ],
        ))
    });
    let h = resolver(&[server(1)]).lookup_v4("a.test", &mut t).unwrap();
    // The chain ends where it began (where glibc, reading the records in order, finds the
    // address); its names are listed once.
    assert_eq!(h.canonical, "a.test");
    assert_eq!(h.aliases, ["a.test", "b.test"]);
    assert_eq!(h.addrs, [WEB]);
}

#[test]
fn unencodable_names_are_noname() {
    let mut t = Script::new(|_, _| panic!("not sent"));
    let r = resolver(&[server(1)]);
    assert_eq!(r.resolve_v4("a..b", &mut t), Err(LookupError::NoName));
    assert_eq!(
        r.resolve_v4(&"x".repeat(64), &mut t),
        Err(LookupError::NoName)
    );
}

#[test]
fn reverse_by_ptr() {
    let mut t = Script::new(|_, q| {
        assert_eq!(q.questions[0].qtype, Rtype::PTR);
        Ok(respond(
            q,
            Rcode::NOERROR,
            &[(
                "50.0.77.10.in-addr.arpa",
                RData::Ptr("web.example.test".into()),
            )],
        ))
    });
    assert_eq!(
        resolver(&[server(1)]).reverse_v4(WEB, &mut t),
        Ok("web.example.test".into())
    );
    let mut t = Script::new(|_, q| Ok(respond(q, Rcode::NXDOMAIN, &[])));
    assert_eq!(
        resolver(&[server(1)]).reverse_v4(WEB, &mut t),
        Err(LookupError::NoName)
    );
}

#[test]
fn from_config_uses_tapstack_dns() {
    let mut s = crate::config::Settings::default();
    s.set("TAPSTACK_DNS", "10.77.0.1,10.77.0.3").unwrap();
    let r = Resolver::from_config(&s.resolve().unwrap());
    assert_eq!(r.servers, vec![server(1), server(3)]);
    assert_eq!((r.timeout, r.attempts), (DEFAULT_TIMEOUT, DEFAULT_ATTEMPTS));
    assert_eq!(r.ndots, 1);
    assert_eq!(r.hosts_path, PathBuf::from("/etc/hosts"));
    let mut s = crate::config::Settings::default();
    s.set("TAPSTACK_DNS_OPTIONS", "ndots:5 timeout:1 attempts:3")
        .unwrap();
    let r = Resolver::from_config(&s.resolve().unwrap());
    assert_eq!(
        (r.ndots, r.timeout, r.attempts),
        (5, Duration::from_secs(1), 3)
    );
}
