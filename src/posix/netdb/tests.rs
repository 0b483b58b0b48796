//! `<netdb.h>` calls from Rust with C strings, walking the lists they return; numeric cases are
//! compared with glibc's own answers.

use super::*;
use std::ffi::CString;

extern "C" {
    fn getnameinfo(
        sa: *const sockaddr,
        salen: socklen_t,
        host: *mut c_char,
        hostlen: socklen_t,
        serv: *mut c_char,
        servlen: socklen_t,
        flags: c_int,
    ) -> c_int;
    fn gethostbyname2(name: *const c_char, af: c_int) -> *mut hostent;
    fn gethostbyname2_r(
        name: *const c_char,
        af: c_int,
        ret: *mut hostent,
        buf: *mut c_char,
        buflen: size_t,
        result: *mut *mut hostent,
        h_errnop: *mut c_int,
    ) -> c_int;
    fn gethostbyaddr(addr: *const c_void, len: socklen_t, af: c_int) -> *mut hostent;
    fn gethostbyaddr_r(
        addr: *const c_void,
        len: socklen_t,
        af: c_int,
        ret: *mut hostent,
        buf: *mut c_char,
        buflen: size_t,
        result: *mut *mut hostent,
        h_errnop: *mut c_int,
    ) -> c_int;
}

fn glibc() -> RealNetdb {
    RealNetdb {
        getaddrinfo: libc::getaddrinfo,
        freeaddrinfo: libc::freeaddrinfo,
        getnameinfo,
        gethostbyname2,
        gethostbyname2_r,
        gethostbyaddr,
        gethostbyaddr_r,
    }
}

const WEB: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 50);
const WEB2: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 51);

fn forward(name: &str) -> Result<HostAddrs, LookupError> {
    let found = |canonical: &str, aliases: &[&str], addrs: Vec<Ipv4Addr>| {
        Ok(HostAddrs {
            canonical: canonical.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            addrs,
        })
    };
    match name {
        "web.test" => found("web.test", &[], vec![WEB, WEB2]),
        // A CNAME chain alias.test -> mid.test -> web.test.
        "alias.test" => found("web.test", &["alias.test", "mid.test"], vec![WEB]),
        "slow.test" => Err(LookupError::Again),
        "broken.test" => Err(LookupError::Fail),
        "empty.test" => found("empty.test", &[], vec![]),
        _ => Err(LookupError::NoName),
    }
}

fn reverse(ip: Ipv4Addr) -> Result<String, LookupError> {
    match ip {
        WEB => Ok("web.test".into()),
        WEB2 => Err(LookupError::Again),
        _ => Err(LookupError::NoName),
    }
}

fn with_ns<R>(f: impl FnOnce(&NameService<'_>) -> R) -> R {
    let services = Services::load(std::path::Path::new("/etc/services"));
    let real = glibc();
    let ns = NameService {
        forward: &forward,
        reverse: &reverse,
        services: &services,
        real: &real,
    };
    f(&ns)
}

#[derive(Debug, PartialEq, Eq, Clone)]
struct Entry {
    family: c_int,
    socktype: c_int,
    protocol: c_int,
    addr: String,
    port: u16,
    canon: Option<String>,
}

/// Walks a list into plain entries.
unsafe fn walk(mut p: *const addrinfo) -> Vec<Entry> {
    let mut out = Vec::new();
    while !p.is_null() {
        let ai = &*p;
        let (addr, port) = match ai.ai_family {
            libc::AF_INET => {
                assert_eq!(ai.ai_addrlen as usize, mem::size_of::<sockaddr_in>());
                let sin = &*(ai.ai_addr as *const sockaddr_in);
                assert_eq!(c_int::from(sin.sin_family), libc::AF_INET);
                (
                    Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)).to_string(),
                    u16::from_be(sin.sin_port),
                )
            }
            libc::AF_INET6 => {
                let sin6 = &*(ai.ai_addr as *const sockaddr_in6);
                (
                    std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr).to_string(),
                    u16::from_be(sin6.sin6_port),
                )
            }
            f => panic!("family {f}"),
        };
        let canon = (!ai.ai_canonname.is_null()).then(|| {
            CStr::from_ptr(ai.ai_canonname)
                .to_string_lossy()
                .into_owned()
        });
        out.push(Entry {
            family: ai.ai_family,
            socktype: ai.ai_socktype,
            protocol: ai.ai_protocol,
            addr,
            port,
            canon,
        });
        p = ai.ai_next;
    }
    out
}

fn hints(flags: c_int, family: c_int, socktype: c_int, protocol: c_int) -> addrinfo {
    // SAFETY: all-zero is a valid addrinfo.
    let mut h: addrinfo = unsafe { mem::zeroed() };
    h.ai_flags = flags;
    h.ai_family = family;
    h.ai_socktype = socktype;
    h.ai_protocol = protocol;
    h
}

fn cstr(s: Option<&str>) -> Option<CString> {
    s.map(|s| CString::new(s).unwrap())
}

/// Our getaddrinfo: the code and the entries, the list freed by our freeaddrinfo.
fn ours(node: Option<&str>, service: Option<&str>, h: Option<&addrinfo>) -> (c_int, Vec<Entry>) {
    let (n, s) = (cstr(node), cstr(service));
    with_ns(|ns| unsafe {
        let mut res = ptr::null_mut();
        let r = super::getaddrinfo(
            n.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
            s.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
            h.map_or(ptr::null(), |h| h as *const addrinfo),
            &mut res,
            ns,
        );
        let entries = walk(res);
        if r == 0 {
            assert!(!res.is_null());
        } else {
            assert!(res.is_null());
        }
        super::freeaddrinfo(res, libc::freeaddrinfo);
        (r, entries)
    })
}

fn theirs(node: Option<&str>, service: Option<&str>, h: Option<&addrinfo>) -> (c_int, Vec<Entry>) {
    let (n, s) = (cstr(node), cstr(service));
    unsafe {
        let mut res = ptr::null_mut();
        let r = libc::getaddrinfo(
            n.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
            s.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
            h.map_or(ptr::null(), |h| h as *const addrinfo),
            &mut res,
        );
        let entries = walk(res);
        if !res.is_null() {
            libc::freeaddrinfo(res);
        }
        (r, entries)
    }
}

fn e(socktype: c_int, protocol: c_int, addr: Ipv4Addr, port: u16) -> Entry {
    Entry {
        family: libc::AF_INET,
        socktype,
        protocol,
        addr: addr.to_string(),
        port,
        canon: None,
    }
}

#[test]
fn numeric_cases_match_glibc() {
    let nodes = [
        None,
        Some("10.77.0.50"),
        Some("127.1"),
        Some("1.2.3"),
        Some("0x0a.1"),
    ];
    let services = [
        None,
        Some("80"),
        Some("http"),
        Some("domain"),
        Some("nosuchsvc"),
        Some("70000"),
        Some("-1"),
        Some("-2"),
        Some(" 80"),
        Some(""),
        Some("+80"),
        Some("0x50"),
        Some("99999999999999999999999"),
    ];
    let flag_sets = [
        0,
        libc::AI_PASSIVE,
        libc::AI_NUMERICSERV,
        libc::AI_CANONNAME,
        libc::AI_NUMERICHOST | libc::AI_PASSIVE,
        libc::AI_V4MAPPED,
        0x10000,
    ];
    let families = [libc::AF_UNSPEC, libc::AF_INET, libc::AF_INET6, 99];
    let socktypes = [0, libc::SOCK_STREAM, libc::SOCK_DGRAM, libc::SOCK_RAW, 99];
    let protocols = [0, libc::IPPROTO_TCP, libc::IPPROTO_UDP, libc::IPPROTO_ICMP];
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for node in nodes {
        for service in services {
            let (a, b) = (ours(node, service, None), theirs(node, service, None));
            // No host is glibc's answer whole; for a host we give no IPv6 entries.
            let b_v4: Vec<Entry> =
                b.1.iter()
                    .filter(|e| node.is_none() || e.family == libc::AF_INET)
                    .cloned()
                    .collect();
            if (a.0, &a.1) != (b.0, &b_v4) {
                mismatches.push(format!(
                    "{node:?} {service:?} no hints: ours {:?} glibc {:?}",
                    (a.0, &a.1),
                    (b.0, &b_v4)
                ));
            }
            for flags in flag_sets {
                for family in families {
                    for socktype in socktypes {
                        for protocol in protocols {
                            let h = hints(flags, family, socktype, protocol);
                            let a = ours(node, service, Some(&h));
                            let b = theirs(node, service, Some(&h));
                            // We give no IPv6 entries for a host with AF_UNSPEC.
                            let b_list: Vec<Entry> = if family == libc::AF_UNSPEC && node.is_some()
                            {
                                b.1.into_iter()
                                    .filter(|e| e.family == libc::AF_INET)
                                    .collect()
                            } else {
                                b.1
                            };
                            if (a.0, &a.1) != (b.0, &b_list) {
                                mismatches.push(format!(
                                    "node {node:?} service {service:?} flags {flags:#x} family {family} socktype {socktype} protocol {protocol}: ours {:?} glibc {:?}",
                                    (a.0, &a.1), (b.0, &b_list)
                                ));
                            }
                            compared += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {compared} differ from glibc:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(40)].join("\n")
    );
    assert!(compared > 10_000);
}

#[test]
fn names_come_from_the_resolver() {
    let (r, list) = ours(Some("web.test"), Some("http"), None);
    assert_eq!(r, 0);
    assert_eq!(
        list,
        vec![
            e(libc::SOCK_STREAM, libc::IPPROTO_TCP, WEB, 80),
            e(libc::SOCK_STREAM, libc::IPPROTO_TCP, WEB2, 80),
        ]
    );
    let h = hints(0, libc::AF_INET, 0, 0);
    let (r, list) = ours(Some("web.test"), None, Some(&h));
    assert_eq!(r, 0);
    assert_eq!(list.len(), 6, "stream, dgram, raw for each address");
    assert_eq!(
        list[..3],
        [
            e(libc::SOCK_STREAM, libc::IPPROTO_TCP, WEB, 0),
            e(libc::SOCK_DGRAM, libc::IPPROTO_UDP, WEB, 0),
            e(libc::SOCK_RAW, 0, WEB, 0),
        ]
    );
    let h = hints(libc::AI_CANONNAME, libc::AF_INET, libc::SOCK_STREAM, 0);
    let (_, list) = ours(Some("web.test"), Some("443"), Some(&h));
    assert_eq!(list[0].canon.as_deref(), Some("web.test"));
    assert_eq!(list[1].canon, None);
    for (name, code) in [
        ("nope.test", libc::EAI_NONAME),
        ("empty.test", libc::EAI_NONAME),
        ("slow.test", libc::EAI_AGAIN),
        ("broken.test", libc::EAI_FAIL),
    ] {
        assert_eq!(ours(Some(name), Some("80"), None).0, code, "{name}");
    }
    // A bad service is reported before the name is looked up.
    assert_eq!(
        ours(Some("slow.test"), Some("nosuchsvc"), None).0,
        libc::EAI_SERVICE
    );
    // AI_NUMERICHOST refuses names without asking.
    let h = hints(libc::AI_NUMERICHOST, 0, 0, 0);
    assert_eq!(ours(Some("web.test"), None, Some(&h)).0, libc::EAI_NONAME);
}

#[test]
fn ipv6_requests_for_names() {
    let h = hints(0, libc::AF_INET6, libc::SOCK_STREAM, 0);
    assert_eq!(ours(Some("web.test"), None, Some(&h)).0, libc::EAI_NONAME);
    assert_eq!(ours(Some("10.77.0.50"), None, Some(&h)).0, EAI_ADDRFAMILY);
    let h = hints(libc::AI_ADDRCONFIG, libc::AF_INET6, libc::SOCK_STREAM, 0);
    assert_eq!(ours(Some("web.test"), None, Some(&h)).0, libc::EAI_NONAME);
    let h = hints(libc::AI_V4MAPPED, libc::AF_INET6, libc::SOCK_STREAM, 0);
    let (r, list) = ours(Some("web.test"), Some("80"), Some(&h));
    assert_eq!(r, 0);
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0].family, list[0].addr.as_str(), list[0].port),
        (libc::AF_INET6, "::ffff:10.77.0.50", 80)
    );
}

#[test]
fn kernel_names_and_lists_go_to_glibc() {
    let h = hints(0, libc::AF_INET, libc::SOCK_STREAM, 0);
    for node in ["localhost", "LOCALHOST.", "a.localhost"] {
        let n = CString::new(node).unwrap();
        with_ns(|ns| unsafe {
            let mut res = ptr::null_mut();
            let r = super::getaddrinfo(n.as_ptr(), ptr::null(), &h, &mut res, ns);
            if node == "localhost" {
                assert_eq!(r, 0);
                assert!(!is_ours(res), "glibc's list");
                assert_eq!(walk(res)[0].addr, "127.0.0.1");
            }
            // Ours or not, our freeaddrinfo frees it correctly.
            super::freeaddrinfo(res, libc::freeaddrinfo);
        });
    }
    // An IPv6 literal: glibc's answer.
    let h6 = hints(0, libc::AF_INET6, libc::SOCK_STREAM, 0);
    let (r, list) = ours(Some("::1"), Some("80"), Some(&h6));
    assert_eq!((r, list[0].addr.as_str()), (0, "::1"));
}

#[test]
fn lists_are_registered_until_freed() {
    with_ns(|ns| unsafe {
        let n = CString::new("web.test").unwrap();
        let mut res = ptr::null_mut();
        assert_eq!(
            super::getaddrinfo(n.as_ptr(), ptr::null(), ptr::null(), &mut res, ns),
            0
        );
        let second = (*res).ai_next;
        assert!(is_ours(res) && is_ours(second));
        super::freeaddrinfo(res, libc::freeaddrinfo);
        assert!(!is_ours(res) && !is_ours(second));
        super::freeaddrinfo(ptr::null_mut(), libc::freeaddrinfo);
    });
}

fn sin(ip: Ipv4Addr, port: u16) -> sockaddr_in {
    // SAFETY: all-zero is a valid sockaddr_in.
    let mut s: sockaddr_in = unsafe { mem::zeroed() };
    s.sin_family = libc::AF_INET as libc::sa_family_t;
    s.sin_port = port.to_be();
    s.sin_addr.s_addr = u32::from(ip).to_be();
    s
}

fn nameinfo(ip: Ipv4Addr, port: u16, hostlen: usize, flags: c_int) -> (c_int, String, String) {
    let sa = sin(ip, port);
    let mut host = vec![0 as c_char; hostlen];
    let mut serv = vec![0 as c_char; 32];
    with_ns(|ns| unsafe {
        let r = super::getnameinfo(
            &sa as *const sockaddr_in as *const sockaddr,
            mem::size_of::<sockaddr_in>() as socklen_t,
            host.as_mut_ptr(),
            hostlen as socklen_t,
            serv.as_mut_ptr(),
            32,
            flags,
            ns,
        );
        let text = |b: &[c_char]| CStr::from_ptr(b.as_ptr()).to_string_lossy().into_owned();
        (
            r,
            if r == 0 { text(&host) } else { String::new() },
            if r == 0 { text(&serv) } else { String::new() },
        )
    })
}

#[test]
fn getnameinfo_by_resolver_and_services() {
    assert_eq!(
        nameinfo(WEB, 80, 64, 0),
        (0, "web.test".into(), "http".into())
    );
    assert_eq!(
        nameinfo(WEB, 53, 64, libc::NI_DGRAM),
        (0, "web.test".into(), "domain".into())
    );
    assert_eq!(
        nameinfo(WEB, 80, 64, libc::NI_NUMERICHOST | libc::NI_NUMERICSERV),
        (0, "10.77.0.50".into(), "80".into())
    );
    assert_eq!(nameinfo(WEB, 80, 64, libc::NI_NOFQDN).1, "web");
    // No name: the number, unless a name is required.
    let other = Ipv4Addr::new(10, 77, 0, 7);
    assert_eq!(
        nameinfo(other, 7777, 64, 0),
        (0, "10.77.0.7".into(), "7777".into())
    );
    assert_eq!(
        nameinfo(other, 80, 64, libc::NI_NAMEREQD).0,
        libc::EAI_NONAME
    );
    // A lookup that could not finish fails the call, a name required or not (glibc's TRY_AGAIN):
    // postgres's log_hostname logs "???" for the client then, on the kernel as here.
    assert_eq!(nameinfo(WEB2, 80, 64, libc::NI_NAMEREQD).0, libc::EAI_AGAIN);
    assert_eq!(nameinfo(WEB2, 80, 64, 0).0, libc::EAI_AGAIN);
    assert_eq!(
        nameinfo(WEB2, 80, 64, libc::NI_NUMERICHOST),
        (0, "10.77.0.51".into(), "http".into())
    );
    assert_eq!(nameinfo(WEB, 80, 8, 0).0, libc::EAI_OVERFLOW);
    assert_eq!(nameinfo(WEB, 80, 9, 0).0, 0);
    assert_eq!(nameinfo(WEB, 80, 64, 0x10000).0, libc::EAI_BADFLAGS);
    // Loopback: glibc's answer, from /etc/hosts.
    let glibc_answer = unsafe {
        let sa = sin(Ipv4Addr::LOCALHOST, 53);
        let mut host = [0 as c_char; 64];
        let r = getnameinfo(
            &sa as *const _ as *const sockaddr,
            mem::size_of::<sockaddr_in>() as socklen_t,
            host.as_mut_ptr(),
            64,
            ptr::null_mut(),
            0,
            0,
        );
        (
            r,
            CStr::from_ptr(host.as_ptr()).to_string_lossy().into_owned(),
        )
    };
    let ours = nameinfo(Ipv4Addr::LOCALHOST, 53, 64, 0);
    assert_eq!((ours.0, ours.1), glibc_answer);
}

unsafe fn addrs_of(he: *const hostent) -> (String, Vec<Ipv4Addr>) {
    assert!(aliases_of(he).is_empty());
    let he = &*he;
    assert_eq!((he.h_addrtype, he.h_length), (libc::AF_INET, 4));
    let mut out = Vec::new();
    let mut p = he.h_addr_list;
    while !(*p).is_null() {
        let b = std::slice::from_raw_parts(*p as *const u8, 4);
        out.push(Ipv4Addr::new(b[0], b[1], b[2], b[3]));
        p = p.add(1);
    }
    (
        CStr::from_ptr(he.h_name).to_string_lossy().into_owned(),
        out,
    )
}

unsafe fn aliases_of(he: *const hostent) -> Vec<String> {
    let mut out = Vec::new();
    let mut p = (*he).h_aliases;
    while !(*p).is_null() {
        out.push(CStr::from_ptr(*p).to_string_lossy().into_owned());
        p = p.add(1);
    }
    out
}

/// `gethostbyname_r` of `name` into `ret` and `buf`: its return value, `h_errno` and result.
unsafe fn host_r(
    name: &CStr,
    ret: &mut hostent,
    buf: &mut [c_char],
    ns: &NameService<'_>,
) -> (c_int, c_int, *mut hostent) {
    let mut result = ptr::null_mut();
    let mut herr = 0;
    let r = super::gethostbyname_r(
        name.as_ptr(),
        ret,
        buf.as_mut_ptr(),
        buf.len(),
        &mut result,
        &mut herr,
        ns,
    );
    (r, herr, result)
}

#[test]
fn a_cname_chain_names_the_canonical_name_and_its_aliases() {
    with_ns(|ns| unsafe {
        let n = CString::new("alias.test").unwrap();
        // gethostbyname: h_name is the end of the chain, the names before it are aliases.
        let he = super::gethostbyname(n.as_ptr(), ns);
        assert!(!he.is_null());
        assert_eq!(CStr::from_ptr((*he).h_name).to_string_lossy(), "web.test");
        assert_eq!(aliases_of(he), ["alias.test", "mid.test"]);
        // The same in the caller's buffer, every string in it, and ERANGE for every buffer too
        // small.
        let mut ret: hostent = mem::zeroed();
        let mut buf = vec![0 as c_char; 256];
        let (r, herr, result) = host_r(&n, &mut ret, &mut buf, ns);
        assert_eq!((r, herr), (0, 0));
        assert_eq!(aliases_of(result), ["alias.test", "mid.test"]);
        let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
        for &a in [*ret.h_aliases, *ret.h_aliases.add(1), ret.h_name].iter() {
            assert!(range.contains(&(a as usize)));
        }
        for len in 0..80 {
            let mut small = vec![0 as c_char; len];
            match host_r(&n, &mut ret, &mut small, ns) {
                (0, 0, result) => assert_eq!(aliases_of(result), ["alias.test", "mid.test"]),
                (r, herr, result) => {
                    assert_eq!((r, herr), (libc::ERANGE, NETDB_INTERNAL), "{len}");
                    assert!(result.is_null());
                }
            }
        }
        // getaddrinfo's AI_CANONNAME: the canonical name, on the first entry.
        let mut res = ptr::null_mut();
        let h = hints(libc::AI_CANONNAME, libc::AF_INET, libc::SOCK_STREAM, 0);
        assert_eq!(
            super::getaddrinfo(n.as_ptr(), ptr::null(), &h, &mut res, ns),
            0
        );
        let entries = walk(res);
        super::freeaddrinfo(res, libc::freeaddrinfo);
        assert_eq!(entries[0].canon.as_deref(), Some("web.test"));
    })
}

fn h_errno() -> c_int {
    unsafe { *__h_errno_location() }
}

#[test]
fn gethostbyname_thread_local_and_h_errno() {
    with_ns(|ns| unsafe {
        let n = CString::new("web.test").unwrap();
        let he = super::gethostbyname(n.as_ptr(), ns);
        assert!(!he.is_null());
        assert_eq!(addrs_of(he), ("web.test".to_string(), vec![WEB, WEB2]));
        let n2 = CString::new("10.77.0.9").unwrap();
        let he2 = super::gethostbyname(n2.as_ptr(), ns);
        assert_eq!(he2, he, "one buffer per thread, reused");
        assert_eq!(addrs_of(he2).1, vec![Ipv4Addr::new(10, 77, 0, 9)]);
        for (name, code) in [
            ("nope.test", HOST_NOT_FOUND),
            ("slow.test", TRY_AGAIN),
            ("empty.test", NO_DATA),
        ] {
            let c = CString::new(name).unwrap();
            assert!(super::gethostbyname(c.as_ptr(), ns).is_null());
            assert_eq!(h_errno(), code, "{name}");
        }
        assert!(super::gethostbyname2(n.as_ptr(), libc::AF_INET6, ns).is_null());
        assert_eq!(h_errno(), NO_DATA);
        assert!(super::gethostbyname2(n.as_ptr(), 99, ns).is_null());
        assert_eq!(h_errno(), NETDB_INTERNAL);
        // localhost: glibc's hostent.
        let l = CString::new("localhost").unwrap();
        let he = super::gethostbyname(l.as_ptr(), ns);
        assert!(!he.is_null());
        assert_eq!(addrs_of(he).1, vec![Ipv4Addr::LOCALHOST]);
    });
}

#[test]
fn gethostbyname_r_fills_the_callers_buffer() {
    with_ns(|ns| unsafe {
        let n = CString::new("web.test").unwrap();
        let mut he: hostent = mem::zeroed();
        let mut buf = vec![0 as c_char; 256];
        let (r, herr, result) = host_r(&n, &mut he, &mut buf, ns);
        assert_eq!((r, herr), (0, 0));
        assert_eq!(result, &mut he as *mut hostent);
        assert_eq!(addrs_of(result), ("web.test".to_string(), vec![WEB, WEB2]));
        let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
        assert!(range.contains(&(he.h_name as usize)));
        // Every buffer size too small is ERANGE, never an overrun.
        for len in 0..40 {
            let mut small = vec![0 as c_char; len];
            let (r, herr, result) = host_r(&n, &mut he, &mut small, ns);
            assert_eq!((r, herr), (libc::ERANGE, NETDB_INTERNAL), "{len}");
            assert!(result.is_null());
        }
        // Not found is 0 with no result, as glibc's NSS gives.
        let c = CString::new("nope.test").unwrap();
        let (r, herr, result) = host_r(&c, &mut he, &mut buf, ns);
        assert_eq!((r, herr), (0, HOST_NOT_FOUND));
        assert!(result.is_null());
        let c = CString::new("slow.test").unwrap();
        let (r, herr, _) = host_r(&c, &mut he, &mut buf, ns);
        assert_eq!((r, herr), (libc::EAGAIN, TRY_AGAIN));
    });
}

/// Our gethostbyname2_r into a fresh buffer of `len` bytes: the code, `*h_errnop`, and what the
/// result holds.
fn byname2_r(name: &str, af: c_int, len: usize) -> (c_int, c_int, Option<(String, Vec<Ipv4Addr>)>) {
    let n = CString::new(name).unwrap();
    with_ns(|ns| unsafe {
        let mut he: hostent = mem::zeroed();
        let mut result = ptr::null_mut();
        let mut herr = 12345;
        let mut buf = vec![0 as c_char; len];
        let r = super::gethostbyname2_r(
            n.as_ptr(),
            af,
            &mut he,
            buf.as_mut_ptr(),
            len,
            &mut result,
            &mut herr,
            ns,
        );
        if r == 0 && !result.is_null() {
            assert_eq!(result, &mut he as *mut hostent);
            let range = buf.as_ptr() as usize..buf.as_ptr() as usize + len;
            assert!(range.contains(&(he.h_name as usize)));
        }
        (r, herr, (!result.is_null()).then(|| addrs_of(result)))
    })
}

#[test]
fn gethostbyname2_r_by_family() {
    let web = Some(("web.test".to_string(), vec![WEB, WEB2]));
    assert_eq!(byname2_r("web.test", libc::AF_INET, 256), (0, 0, web));
    // No AAAA is asked: a name with IPv4 addresses has no data for AF_INET6, like gethostbyname2.
    assert_eq!(
        byname2_r("web.test", libc::AF_INET6, 256),
        (0, NO_DATA, None)
    );
    assert_eq!(h_errno(), NO_DATA, "h_errno is set too");
    assert_eq!(
        byname2_r("nope.test", libc::AF_INET6, 256),
        (0, HOST_NOT_FOUND, None)
    );
    assert_eq!(
        byname2_r("web.test", 99, 256),
        (libc::EAFNOSUPPORT, NETDB_INTERNAL, None)
    );
    assert_eq!(
        byname2_r("slow.test", libc::AF_INET, 256),
        (libc::EAGAIN, TRY_AGAIN, None)
    );
    assert_eq!(h_errno(), TRY_AGAIN);
    assert_eq!(
        byname2_r("broken.test", libc::AF_INET, 256),
        (libc::ENOENT, NO_RECOVERY, None)
    );
    assert_eq!(
        byname2_r("empty.test", libc::AF_INET, 256),
        (0, NO_DATA, None)
    );
    for len in 0..40 {
        assert_eq!(
            byname2_r("web.test", libc::AF_INET, len),
            (libc::ERANGE, NETDB_INTERNAL, None),
            "{len}"
        );
    }
}

#[test]
fn gethostbyname2_r_numbers_and_localhost_match_glibc() {
    for (name, af) in [
        ("10.77.0.50", libc::AF_INET),
        ("127.1", libc::AF_INET),
        ("localhost", libc::AF_INET),
        ("::1", libc::AF_INET6),
    ] {
        let n = CString::new(name).unwrap();
        let theirs = unsafe {
            let mut he: hostent = mem::zeroed();
            let mut result = ptr::null_mut();
            let mut herr = 0;
            let mut buf = vec![0 as c_char; 512];
            let r = gethostbyname2_r(
                n.as_ptr(),
                af,
                &mut he,
                buf.as_mut_ptr(),
                512,
                &mut result,
                &mut herr,
            );
            let found = (!result.is_null()).then(|| {
                let he = &*result;
                let name = CStr::from_ptr(he.h_name).to_string_lossy().into_owned();
                let first =
                    std::slice::from_raw_parts(*he.h_addr_list as *const u8, he.h_length as usize);
                (name, he.h_addrtype, first.to_vec())
            });
            (r, herr, found)
        };
        let ours = with_ns(|ns| unsafe {
            let mut he: hostent = mem::zeroed();
            let mut result = ptr::null_mut();
            let mut herr = 0;
            let mut buf = vec![0 as c_char; 512];
            let r = super::gethostbyname2_r(
                n.as_ptr(),
                af,
                &mut he,
                buf.as_mut_ptr(),
                512,
                &mut result,
                &mut herr,
                ns,
            );
            let found = (!result.is_null()).then(|| {
                let he = &*result;
                let name = CStr::from_ptr(he.h_name).to_string_lossy().into_owned();
                let first =
                    std::slice::from_raw_parts(*he.h_addr_list as *const u8, he.h_length as usize);
                (name, he.h_addrtype, first.to_vec())
            });
            (r, herr, found)
        });
        assert_eq!(ours, theirs, "{name}");
    }
}

/// Our gethostbyaddr_r of `addr` (`len` bytes of it) into a buffer of `buflen` bytes.
fn byaddr_r(
    addr: &[u8],
    len: socklen_t,
    af: c_int,
    buflen: usize,
) -> (c_int, c_int, Option<(String, Vec<Ipv4Addr>)>) {
    with_ns(|ns| unsafe {
        let mut he: hostent = mem::zeroed();
        let mut result = ptr::null_mut();
        let mut herr = 12345;
        let mut buf = vec![0 as c_char; buflen];
        let r = super::gethostbyaddr_r(
            addr.as_ptr() as *const c_void,
            len,
            af,
            &mut he,
            buf.as_mut_ptr(),
            buflen,
            &mut result,
            &mut herr,
            ns,
        );
        (r, herr, (!result.is_null()).then(|| addrs_of(result)))
    })
}

#[test]
fn gethostbyaddr_r_by_reverse_lookup() {
    let web = Some(("web.test".to_string(), vec![WEB]));
    assert_eq!(byaddr_r(&WEB.octets(), 4, libc::AF_INET, 256), (0, 0, web));
    assert_eq!(
        byaddr_r(&WEB2.octets(), 4, libc::AF_INET, 256),
        (libc::EAGAIN, TRY_AGAIN, None)
    );
    assert_eq!(h_errno(), TRY_AGAIN, "h_errno is set too");
    // glibc 2.36 gives these (checked with a C program): not found is 0 and no result; a length
    // that does not fit the family, or an unknown family, EAFNOSUPPORT.
    assert_eq!(
        byaddr_r(&[10, 77, 0, 7], 4, libc::AF_INET, 256),
        (0, HOST_NOT_FOUND, None)
    );
    assert_eq!(
        byaddr_r(&WEB.octets(), 3, libc::AF_INET, 256),
        (libc::EAFNOSUPPORT, NETDB_INTERNAL, None)
    );
    assert_eq!(
        byaddr_r(&WEB.octets(), 4, 99, 256),
        (libc::EAFNOSUPPORT, NETDB_INTERNAL, None)
    );
    assert_eq!(
        byaddr_r(&WEB.octets(), 4, libc::AF_INET6, 256),
        (libc::EAFNOSUPPORT, NETDB_INTERNAL, None)
    );
    // An IPv6 address other than ::1: not found, with no ip6.arpa query.
    let v6 = "fd00::5".parse::<std::net::Ipv6Addr>().unwrap().octets();
    assert_eq!(
        byaddr_r(&v6, 16, libc::AF_INET6, 256),
        (0, HOST_NOT_FOUND, None)
    );
    // One address: 3 pointers, 4 bytes, "web.test" and its NUL.
    for len in 0..37 {
        assert_eq!(
            byaddr_r(&WEB.octets(), 4, libc::AF_INET, len),
            (libc::ERANGE, NETDB_INTERNAL, None),
            "{len}"
        );
    }
}

#[test]
fn gethostbyaddr_of_loopback_is_glibcs() {
    let lo = Ipv4Addr::LOCALHOST.octets();
    let theirs = unsafe {
        let mut he: hostent = mem::zeroed();
        let mut result = ptr::null_mut();
        let mut herr = 0;
        let mut buf = vec![0 as c_char; 512];
        let r = gethostbyaddr_r(
            lo.as_ptr() as *const c_void,
            4,
            libc::AF_INET,
            &mut he,
            buf.as_mut_ptr(),
            512,
            &mut result,
            &mut herr,
        );
        assert!(!result.is_null(), "/etc/hosts names 127.0.0.1");
        (r, CStr::from_ptr(he.h_name).to_string_lossy().into_owned())
    };
    // On success glibc leaves *h_errnop as it was: only the code and the name are compared.
    let (r, _, found) = byaddr_r(&lo, 4, libc::AF_INET, 512);
    assert_eq!((r, found.map(|f| f.0)), (theirs.0, Some(theirs.1.clone())));
    with_ns(|ns| unsafe {
        let he = super::gethostbyaddr(lo.as_ptr() as *const c_void, 4, libc::AF_INET, ns);
        assert!(!he.is_null());
        assert_eq!(CStr::from_ptr((*he).h_name).to_string_lossy(), theirs.1);
    });
}

#[test]
fn gethostbyaddr_shares_the_thread_hostent() {
    with_ns(|ns| unsafe {
        let he = super::gethostbyaddr(WEB.octets().as_ptr() as *const c_void, 4, libc::AF_INET, ns);
        assert!(!he.is_null());
        assert_eq!(h_errno(), 0);
        assert_eq!(addrs_of(he), ("web.test".to_string(), vec![WEB]));
        let n = CString::new("web.test").unwrap();
        assert_eq!(
            super::gethostbyname(n.as_ptr(), ns),
            he,
            "one hostent per thread"
        );
        for (ip, code) in [
            (Ipv4Addr::new(10, 77, 0, 7), HOST_NOT_FOUND),
            (WEB2, TRY_AGAIN),
        ] {
            let p =
                super::gethostbyaddr(ip.octets().as_ptr() as *const c_void, 4, libc::AF_INET, ns);
            assert!(p.is_null());
            assert_eq!(h_errno(), code, "{ip}");
        }
        assert!(
            super::gethostbyaddr(WEB.octets().as_ptr() as *const c_void, 3, libc::AF_INET, ns)
                .is_null()
        );
        assert_eq!(h_errno(), NETDB_INTERNAL);
        assert_eq!(*libc::__errno_location(), libc::EAFNOSUPPORT);
    });
}
