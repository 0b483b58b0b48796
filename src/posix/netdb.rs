//! The name-service calls of `<netdb.h>`: `getaddrinfo`, `freeaddrinfo`, `getnameinfo`,
//! `gethostbyname`, `gethostbyname2`, `gethostbyname_r`, `gethostbyname2_r`, `gethostbyaddr`,
//! `gethostbyaddr_r`, with glibc's semantics and codes, answered by tapstack's [`crate::resolver`]
//! so that lookups travel through the stack, not the kernel.
//!
//! The hook layer exports the symbols and calls these with a [`NameService`]: the resolver (as two
//! functions, forward and reverse), the parsed `/etc/services`, and glibc's own functions
//! ([`RealNetdb`]) for what stays on the kernel. This module keeps no state of its own but the
//! registry of the `addrinfo` lists it allocated, so that [`freeaddrinfo`] can tell its lists from
//! glibc's, and the thread-local buffer `gethostbyname` returns (per thread, like glibc's).
//!
//! # What stays on the kernel
//! `localhost`, `localhost.` and names under `.localhost` (RFC 6761 §6.3), loopback addresses in
//! `getnameinfo` and `gethostbyaddr` (127.0.0.0/8, `::1`), IPv6 literals (`::1`, `fe80::1%eth0`)
//! and non-IPv4 socket addresses go to the real glibc function: the stack has no loopback and no
//! IPv6, and glibc answers these from `/etc/hosts` or arithmetic without DNS. `gethostbyaddr` of
//! any other IPv6 address is `HOST_NOT_FOUND` without a query, as no AAAA is asked for names. Other names that `/etc/hosts` maps into 127.0.0.0/8 are
//! answered here, from the same file, with the same result glibc would give.
//!
//! # IPv4 only
//! The stack has an IPv4 address and no IPv6 one, so we answer as glibc does on such a host:
//! `AF_UNSPEC` gives IPv4 entries only (a NULL node too: `0.0.0.0`/`127.0.0.1`, no `::`); `AF_INET6`
//! with `AI_ADDRCONFIG` is `EAI_NONAME`; `AF_INET6` for a numeric IPv4 address is `EAI_ADDRFAMILY`,
//! for a name `EAI_NONAME` (no AAAA is asked), unless `AI_V4MAPPED` asks for IPv4-mapped IPv6
//! addresses (`::ffff:a.b.c.d`), which are given. A NULL node with `AF_INET6` goes to glibc.
//!
//! `AI_CANONNAME` gives the node as written: the resolver function hands back addresses only.
//! `AI_IDN` and friends are accepted and do nothing (names are passed as given).

use std::cell::RefCell;
use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::mem;
use std::net::Ipv4Addr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use super::forklock::Mutex;
use super::user::Iovecs;
use libc::{
    addrinfo, c_char, c_int, c_void, hostent, size_t, sockaddr, sockaddr_in, sockaddr_in6,
    socklen_t,
};
use once_cell::sync::Lazy;

use crate::resolver::{parse_numeric, HostAddrs, LookupError, Services};

/// glibc's `EAI_ADDRFAMILY` (a GNU extension the `libc` crate does not list).
pub const EAI_ADDRFAMILY: c_int = -9;
/// Every `ai_flags` bit glibc accepts: PASSIVE, CANONNAME, NUMERICHOST, V4MAPPED, ALL,
/// ADDRCONFIG, IDN, CANONIDN, the two deprecated IDN bits, NUMERICSERV.
const AI_VALID: c_int = 0x07ff;
/// `NI_*` bits glibc accepts: NUMERICHOST, NUMERICSERV, NOFQDN, NAMEREQD, DGRAM, IDN and its two
/// deprecated companions.
const NI_VALID: c_int = 0xff;

/// `h_errno` values (`<netdb.h>`).
pub const NETDB_INTERNAL: c_int = -1;
pub const HOST_NOT_FOUND: c_int = 1;
pub const TRY_AGAIN: c_int = 2;
pub const NO_RECOVERY: c_int = 3;
pub const NO_DATA: c_int = 4;

extern "C" {
    fn __h_errno_location() -> *mut c_int;
}

/// glibc's own functions, for what stays on the kernel and for lists glibc allocated.
#[derive(Clone, Copy)]
pub struct RealNetdb {
    pub getaddrinfo: unsafe extern "C" fn(
        *const c_char,
        *const c_char,
        *const addrinfo,
        *mut *mut addrinfo,
    ) -> c_int,
    pub freeaddrinfo: unsafe extern "C" fn(*mut addrinfo),
    pub getnameinfo: unsafe extern "C" fn(
        *const sockaddr,
        socklen_t,
        *mut c_char,
        socklen_t,
        *mut c_char,
        socklen_t,
        c_int,
    ) -> c_int,
    pub gethostbyname2: unsafe extern "C" fn(*const c_char, c_int) -> *mut hostent,
    pub gethostbyname2_r: unsafe extern "C" fn(
        *const c_char,
        c_int,
        *mut hostent,
        *mut c_char,
        size_t,
        *mut *mut hostent,
        *mut c_int,
    ) -> c_int,
    pub gethostbyaddr: unsafe extern "C" fn(*const c_void, socklen_t, c_int) -> *mut hostent,
    pub gethostbyaddr_r: unsafe extern "C" fn(
        *const c_void,
        socklen_t,
        c_int,
        *mut hostent,
        *mut c_char,
        size_t,
        *mut *mut hostent,
        *mut c_int,
    ) -> c_int,
}

/// Where answers come from: the shim builds one from its resolver and the real glibc.
pub struct NameService<'a> {
    /// A name's IPv4 addresses, canonical name and aliases (numeric, `/etc/hosts`, DNS).
    pub forward: &'a dyn Fn(&str) -> Result<HostAddrs, LookupError>,
    /// An address's name (`/etc/hosts`, PTR).
    pub reverse: &'a dyn Fn(Ipv4Addr) -> Result<String, LookupError>,
    pub services: &'a Services,
    pub real: &'a RealNetdb,
}

/// Names answered by the kernel's glibc (RFC 6761 §6.3: `localhost` and below it).
pub fn stays_on_kernel(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

pub(super) fn set_h_errno(v: c_int) {
    // SAFETY: glibc's per-thread h_errno.
    unsafe { *__h_errno_location() = v };
}

/// Runs `f`, turning a panic into `fallback` so that none crosses into C.
fn guard<R>(fallback: R, f: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

unsafe fn opt_str<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        None
    } else {
        // Names that are not UTF-8 cannot be in our files nor sent as we spell names: treat them
        // as a name that does not exist (the caller maps it).
        Some(CStr::from_ptr(p).to_str().unwrap_or("\u{0}"))
    }
}

// ----- getaddrinfo / freeaddrinfo -----

/// One node of a list we allocate: the `addrinfo` and room for the address it points to.
#[repr(C)]
struct Node {
    ai: addrinfo,
    addr: sockaddr_in6,
}

/// Every node we handed out and not yet freed (addresses, as integers).
static OURS: Lazy<Mutex<HashSet<usize>>> = Lazy::new(|| Mutex::new(HashSet::new()));

/// The registry's lock, held across `fork` (see [`super::state`]'s fork handlers): a child may
/// free a list it inherited.
pub struct ForkGuard {
    _ours: std::sync::MutexGuard<'static, HashSet<usize>>,
}

pub fn hold_for_fork() -> ForkGuard {
    ForkGuard { _ours: OURS.lock() }
}

/// Whether `ai` is a node of a list this module allocated.
pub fn is_ours(ai: *const addrinfo) -> bool {
    OURS.lock().contains(&(ai as usize))
}

/// A socket type and protocol glibc's table offers over IPv4 (`gaih_inet_typeproto`).
#[derive(Clone, Copy)]
struct TypeProto {
    socktype: c_int,
    protocol: c_int,
    name: &'static str,
    /// SOCK_RAW: any protocol, and no service names.
    raw: bool,
}

const TYPES: [TypeProto; 3] = [
    TypeProto {
        socktype: libc::SOCK_STREAM,
        protocol: libc::IPPROTO_TCP,
        name: "tcp",
        raw: false,
    },
    TypeProto {
        socktype: libc::SOCK_DGRAM,
        protocol: libc::IPPROTO_UDP,
        name: "udp",
        raw: false,
    },
    TypeProto {
        socktype: libc::SOCK_RAW,
        protocol: 0,
        name: "raw",
        raw: true,
    },
];

/// A service as glibc reads it: `strtoul(s, &end, 10)` must consume the whole string (leading
/// blanks and a sign allowed), and the value is kept in an `int`. `None`: not a number (a name).
/// `Some(v)`: a number; glibc uses `v` as the port (truncated to 16 bits: `70000` is 4464) when it
/// is not negative, and otherwise looks the string up as a name (`-1`, overflows).
fn numeric_service(s: &str) -> Option<i32> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut v: u64 = 0;
    for c in digits.bytes() {
        // strtoul saturates at ULONG_MAX on overflow.
        v = v.saturating_mul(10).saturating_add(u64::from(c - b'0'));
    }
    if neg && v != u64::MAX {
        v = v.wrapping_neg();
    }
    Some(v as u32 as i32)
}

/// `getaddrinfo(3)`. Lists for kernel names come from `ns.real.getaddrinfo` and must be freed by
/// glibc: [`freeaddrinfo`] tells them apart.
///
/// # Safety
/// The arguments as for the libc function: NUL-terminated strings or NULL, `hints` NULL or valid,
/// `res` valid for a write.
pub unsafe fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
    ns: &NameService<'_>,
) -> c_int {
    guard(libc::EAI_FAIL, || unsafe {
        getaddrinfo_inner(node, service, hints, res, ns)
    })
}

unsafe fn getaddrinfo_inner(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
    ns: &NameService<'_>,
) -> c_int {
    if res.is_null() {
        return libc::EAI_FAIL;
    }
    *res = ptr::null_mut();
    // No hints: glibc's AI_DEFAULT.
    let (flags, family, socktype, protocol) = if hints.is_null() {
        (
            libc::AI_V4MAPPED | libc::AI_ADDRCONFIG,
            libc::AF_UNSPEC,
            0,
            0,
        )
    } else {
        let h = &*hints;
        (h.ai_flags, h.ai_family, h.ai_socktype, h.ai_protocol)
    };
    if node.is_null() && service.is_null() {
        return libc::EAI_NONAME;
    }
    if flags & !AI_VALID != 0 || (flags & libc::AI_CANONNAME != 0 && node.is_null()) {
        return libc::EAI_BADFLAGS;
    }
    if ![libc::AF_UNSPEC, libc::AF_INET, libc::AF_INET6].contains(&family) {
        return libc::EAI_FAMILY;
    }
    // An empty service is no service; a non-numeric one with AI_NUMERICSERV is refused at once.
    let service_str = opt_str(service).filter(|s| !s.is_empty());
    let number = service_str.and_then(numeric_service);
    if flags & libc::AI_NUMERICSERV != 0 && service_str.is_some() && number.is_none() {
        return libc::EAI_NONAME;
    }
    let port_number = number.filter(|v| *v >= 0).map(|v| v as u16);
    let node_str = opt_str(node);
    // The kernel's own names and IPv6 literals: glibc. So is no host at all, the wildcard or
    // loopback of every family asked for: glibc lists `::` beside `0.0.0.0` (a server on
    // `listen_addresses = '*'` listens on both) and applies AI_ADDRCONFIG as the namespace has it.
    let Some(n) = node_str.filter(|n| !stays_on_kernel(n) && !n.contains(':')) else {
        return (ns.real.getaddrinfo)(node, service, hints, res);
    };
    // AI_ADDRCONFIG: we have IPv4 and no IPv6.
    if flags & libc::AI_ADDRCONFIG != 0 && family == libc::AF_INET6 {
        return libc::EAI_NONAME;
    }

    // The socket type and protocol: with either given, the first entry of glibc's table that
    // fits (SOCK_RAW takes any protocol); with neither, every entry.
    let chosen: Option<TypeProto> = if socktype != 0 || protocol != 0 {
        let fits = |t: &&TypeProto| {
            (socktype == 0 || socktype == t.socktype)
                && (protocol == 0 || t.raw || protocol == t.protocol)
        };
        match TYPES.iter().find(fits) {
            Some(t) => Some(TypeProto {
                protocol: if t.raw { protocol } else { t.protocol },
                ..*t
            }),
            None if socktype != 0 => return libc::EAI_SOCKTYPE,
            None => return libc::EAI_SERVICE,
        }
    } else {
        None
    };
    // The service: a port for each socket type, leaving out those it does not exist for.
    let mut ports: Vec<(TypeProto, u16)> = Vec::new();
    match (service_str, chosen) {
        (None, Some(t)) => ports.push((t, 0)),
        (None, None) => ports.extend(TYPES.iter().map(|t| (*t, 0))),
        (Some(_), Some(t)) if t.raw => return libc::EAI_SERVICE,
        (Some(s), Some(t)) => match port_number {
            Some(port) => ports.push((t, port)),
            None => match ns.services.port(s, t.name) {
                Some(port) => ports.push((t, port)),
                None => return libc::EAI_SERVICE,
            },
        },
        (Some(s), None) => match port_number {
            Some(port) => ports.extend(TYPES.iter().map(|t| (*t, port))),
            None => {
                for t in TYPES.iter().filter(|t| !t.raw) {
                    if let Some(port) = ns.services.port(s, t.name) {
                        ports.push((*t, port));
                    }
                }
                if ports.is_empty() {
                    return libc::EAI_SERVICE;
                }
            }
        },
    }

    // The host, and its canonical name when it is a name (glibc's ai_canonname: the end of a
    // CNAME chain, the first name of a hosts line; a number is its own).
    let mut canonical = None;
    let mapped = family == libc::AF_INET6;
    let addrs: Vec<Ipv4Addr> = match parse_numeric(n) {
        Some(_) if mapped && flags & libc::AI_V4MAPPED == 0 => return EAI_ADDRFAMILY,
        Some(ip) => vec![ip],
        None if flags & libc::AI_NUMERICHOST != 0 => return libc::EAI_NONAME,
        // We ask no AAAA: a name has no IPv6 address here.
        None if mapped && flags & libc::AI_V4MAPPED == 0 => return libc::EAI_NONAME,
        None => match (ns.forward)(n) {
            Ok(h) if !h.addrs.is_empty() => {
                canonical = Some(h.canonical);
                h.addrs
            }
            Ok(_) | Err(LookupError::NoName) => return libc::EAI_NONAME,
            Err(LookupError::NoData) => return libc::EAI_NODATA,
            Err(LookupError::Again) => return libc::EAI_AGAIN,
            Err(LookupError::Fail) => return libc::EAI_FAIL,
        },
    };
    let canon = (flags & libc::AI_CANONNAME != 0)
        .then(|| CString::new(canonical.unwrap_or_else(|| n.to_string())).ok())
        .flatten();
    *res = build_list(&addrs, &ports, mapped, canon);
    0
}

/// Allocates the list: addresses outer, socket types inner, as glibc orders it.
fn build_list(
    addrs: &[Ipv4Addr],
    ports: &[(TypeProto, u16)],
    mapped: bool,
    canon: Option<CString>,
) -> *mut addrinfo {
    let mut nodes: Vec<*mut Node> = Vec::new();
    for ip in addrs {
        for (t, port) in ports {
            // SAFETY: all-zero is a valid addrinfo (null pointers) and sockaddr_in6.
            let mut node: Box<Node> = Box::new(unsafe { mem::zeroed() });
            if mapped {
                node.addr.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                node.addr.sin6_port = port.to_be();
                node.addr.sin6_addr.s6_addr = ip.to_ipv6_mapped().octets();
                node.ai.ai_family = libc::AF_INET6;
                node.ai.ai_addrlen = mem::size_of::<sockaddr_in6>() as socklen_t;
            } else {
                // SAFETY: a sockaddr_in fits in the sockaddr_in6 field, with its alignment.
                let sin =
                    unsafe { &mut *(&mut node.addr as *mut sockaddr_in6 as *mut sockaddr_in) };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = port.to_be();
                sin.sin_addr.s_addr = u32::from(*ip).to_be();
                node.ai.ai_family = libc::AF_INET;
                node.ai.ai_addrlen = mem::size_of::<sockaddr_in>() as socklen_t;
            }
            node.ai.ai_socktype = t.socktype;
            node.ai.ai_protocol = t.protocol;
            let raw = Box::into_raw(node);
            // SAFETY: raw is a live, uniquely owned allocation.
            unsafe { (*raw).ai.ai_addr = ptr::addr_of_mut!((*raw).addr) as *mut sockaddr };
            nodes.push(raw);
        }
    }
    for pair in nodes.windows(2) {
        // SAFETY: both nodes are live allocations owned by this list.
        unsafe { (*pair[0]).ai.ai_next = pair[1] as *mut addrinfo };
    }
    let Some(&head) = nodes.first() else {
        return ptr::null_mut();
    };
    if let Some(c) = canon {
        // SAFETY: head is live; freed with CString::from_raw in free_ours.
        unsafe { (*head).ai.ai_canonname = c.into_raw() };
    }
    let mut ours = OURS.lock();
    for n in &nodes {
        ours.insert(*n as usize);
    }
    head as *mut addrinfo
}

/// `freeaddrinfo(3)`: frees a list from [`getaddrinfo`], or hands one of glibc's to `real_free`.
///
/// # Safety
/// `res` is NULL or a list returned by [`getaddrinfo`] or by glibc, not yet freed.
pub unsafe fn freeaddrinfo(res: *mut addrinfo, real_free: unsafe extern "C" fn(*mut addrinfo)) {
    if res.is_null() {
        return;
    }
    if !is_ours(res) {
        real_free(res);
        return;
    }
    guard((), || {
        let mut ours = OURS.lock();
        let mut p = res;
        // Each node is freed once: it leaves the registry as it goes.
        while !p.is_null() && ours.remove(&(p as usize)) {
            // SAFETY: p was made by Box::into_raw in build_list and is removed from the registry.
            let node = unsafe { Box::from_raw(p as *mut Node) };
            if !node.ai.ai_canonname.is_null() {
                // SAFETY: made by CString::into_raw in build_list.
                drop(unsafe { CString::from_raw(node.ai.ai_canonname) });
            }
            p = node.ai.ai_next;
        }
    })
}

// ----- getnameinfo -----

/// Copies `s` and its NUL into `buf` of `len` bytes; `EAI_OVERFLOW` if it does not fit.
unsafe fn copy_out(s: &str, buf: *mut c_char, len: socklen_t) -> c_int {
    let bytes = s.as_bytes();
    if bytes.len() + 1 > len as usize {
        return libc::EAI_OVERFLOW;
    }
    ptr::copy_nonoverlapping(bytes.as_ptr(), buf as *mut u8, bytes.len());
    *buf.add(bytes.len()) = 0;
    0
}

/// `getnameinfo(3)` for IPv4 addresses; other families and loopback go to glibc.
///
/// # Safety
/// As for the libc function: `sa` valid for `salen` bytes; `host`/`serv` NULL or valid for
/// `hostlen`/`servlen` bytes.
#[allow(clippy::too_many_arguments)]
pub unsafe fn getnameinfo(
    sa: *const sockaddr,
    salen: socklen_t,
    host: *mut c_char,
    hostlen: socklen_t,
    serv: *mut c_char,
    servlen: socklen_t,
    flags: c_int,
    ns: &NameService<'_>,
) -> c_int {
    guard(libc::EAI_FAIL, || unsafe {
        if flags & !NI_VALID != 0 {
            return libc::EAI_BADFLAGS;
        }
        if sa.is_null() || (salen as usize) < mem::size_of::<libc::sa_family_t>() {
            return libc::EAI_FAMILY;
        }
        if c_int::from((*sa).sa_family) != libc::AF_INET {
            return (ns.real.getnameinfo)(sa, salen, host, hostlen, serv, servlen, flags);
        }
        if (salen as usize) < mem::size_of::<sockaddr_in>() {
            return libc::EAI_FAMILY;
        }
        let sin = ptr::read_unaligned(sa as *const sockaddr_in);
        let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
        let port = u16::from_be(sin.sin_port);
        let want_host = !host.is_null() && hostlen > 0;
        let want_serv = !serv.is_null() && servlen > 0;
        if !want_host && !want_serv {
            return libc::EAI_NONAME;
        }
        if ip.is_loopback() {
            return (ns.real.getnameinfo)(sa, salen, host, hostlen, serv, servlen, flags);
        }
        if want_host {
            let text = if flags & libc::NI_NUMERICHOST != 0 {
                ip.to_string()
            } else {
                match (ns.reverse)(ip) {
                    Ok(name) if flags & libc::NI_NOFQDN != 0 => {
                        name.split('.').next().unwrap_or("").to_string()
                    }
                    Ok(name) => name,
                    // glibc's gni_host_inet_name: a lookup that could not finish (TRY_AGAIN) fails
                    // the call, a name required or not; only a known absence of a name (or a
                    // non-recoverable failure) falls back to the number.
                    Err(LookupError::Again) => return libc::EAI_AGAIN,
                    Err(_) if flags & libc::NI_NAMEREQD != 0 => return libc::EAI_NONAME,
                    Err(_) => ip.to_string(),
                }
            };
            let r = copy_out(&text, host, hostlen);
            if r != 0 {
                return r;
            }
        }
        if want_serv {
            let proto = if flags & libc::NI_DGRAM != 0 {
                "udp"
            } else {
                "tcp"
            };
            let text = match ns.services.name(port, proto) {
                Some(name) if flags & libc::NI_NUMERICSERV == 0 => name.to_string(),
                _ => port.to_string(),
            };
            let r = copy_out(&text, serv, servlen);
            if r != 0 {
                return r;
            }
        }
        0
    })
}

// ----- gethostbyname / gethostbyaddr family -----

/// What a `hostent` says: the official name, its aliases, the addresses.
#[derive(Clone, Copy)]
struct Host<'a> {
    name: &'a str,
    aliases: &'a [String],
    addrs: &'a [Ipv4Addr],
}

impl<'a> Host<'a> {
    fn of(found: &'a HostAddrs) -> Host<'a> {
        Host {
            name: &found.canonical,
            aliases: &found.aliases,
            addrs: &found.addrs,
        }
    }

    /// The bytes [`fill_hostent`] needs, alignment aside.
    fn size(&self) -> usize {
        let psize = mem::size_of::<*mut c_char>();
        let strings: usize = self.aliases.iter().map(|a| a.len() + 1).sum();
        (self.aliases.len() + 1 + self.addrs.len() + 1) * psize
            + 4 * self.addrs.len()
            + strings
            + self.name.len()
            + 1
    }
}

/// Lays out a `hostent` for `host` in `buf`: the alias list, the address list, the addresses, the
/// name, the aliases. `None` if `buf` is too small.
unsafe fn fill_hostent(he: *mut hostent, buf: &mut [u8], host: Host<'_>) -> Option<()> {
    let Host {
        name,
        aliases: names,
        addrs,
    } = host;
    let psize = mem::size_of::<*mut c_char>();
    let base = buf.as_mut_ptr();
    // The bytes up to the next pointer-aligned address.
    let skip = (psize - base as usize % psize) % psize;
    if skip.checked_add(host.size())? > buf.len() {
        return None;
    }
    let aliases = base.add(skip) as *mut *mut c_char;
    let addr_list = aliases.add(names.len() + 1);
    let data = addr_list.add(addrs.len() + 1) as *mut u8;
    for (i, ip) in addrs.iter().enumerate() {
        let at = data.add(4 * i);
        ptr::copy_nonoverlapping(ip.octets().as_ptr(), at, 4);
        *addr_list.add(i) = at as *mut c_char;
    }
    *addr_list.add(addrs.len()) = ptr::null_mut();
    // The strings, each NUL-terminated, after the addresses.
    let mut at = data.add(4 * addrs.len());
    let mut put = |text: &str| {
        let start = at;
        ptr::copy_nonoverlapping(text.as_ptr(), at, text.len());
        *at.add(text.len()) = 0;
        at = at.add(text.len() + 1);
        start as *mut c_char
    };
    let name_at = put(name);
    for (i, alias) in names.iter().enumerate() {
        *aliases.add(i) = put(alias);
    }
    *aliases.add(names.len()) = ptr::null_mut();
    *he = hostent {
        h_name: name_at as *mut c_char,
        h_aliases: aliases,
        h_addrtype: libc::AF_INET,
        h_length: 4,
        h_addr_list: addr_list,
    };
    Some(())
}

/// The `h_errno` value for a resolver error.
fn h_errno_of(e: LookupError) -> c_int {
    match e {
        LookupError::NoName => HOST_NOT_FOUND,
        LookupError::NoData => NO_DATA,
        LookupError::Again => TRY_AGAIN,
        LookupError::Fail => NO_RECOVERY,
    }
}

/// What a gethostbyname call found (a number is its own name), or an `h_errno` value.
fn lookup_host(name: &str, af: c_int, ns: &NameService<'_>) -> Result<HostAddrs, c_int> {
    if af != libc::AF_INET && af != libc::AF_INET6 {
        // SAFETY: glibc's per-thread errno.
        unsafe { *libc::__errno_location() = libc::EAFNOSUPPORT };
        return Err(NETDB_INTERNAL);
    }
    let found = match parse_numeric(name) {
        // gethostbyname takes only the dotted-quad form for numbers (inet_aton's), like glibc.
        Some(ip) => Ok(HostAddrs {
            canonical: name.to_string(),
            aliases: Vec::new(),
            addrs: vec![ip],
        }),
        None if name.contains(':') || name.is_empty() => Err(LookupError::NoName),
        None => (ns.forward)(name),
    };
    match found {
        // A known name with no IPv6 address.
        Ok(h) if af == libc::AF_INET6 && !h.addrs.is_empty() => Err(NO_DATA),
        Ok(h) if h.addrs.is_empty() => Err(NO_DATA),
        Ok(h) => Ok(h),
        Err(e) => Err(h_errno_of(e)),
    }
}

/// Where a gethostbyaddr call is answered.
enum AddrLookup {
    /// By glibc: loopback, answered from `/etc/hosts` like `getnameinfo`'s.
    Kernel,
    /// By the resolver: the name, and the address it was asked for.
    Found(String, Ipv4Addr),
    /// An `h_errno` value (`errno` set too for `NETDB_INTERNAL`).
    Failed(c_int),
}

/// Classifies and answers a gethostbyaddr request. IPv4 goes to the resolver's reverse lookup
/// (`/etc/hosts`, then PTR over the stack). For IPv6 we ask no `ip6.arpa` PTR, as gethostbyname2
/// asks no AAAA (the stack has no IPv6): `::1` goes to glibc like 127.0.0.0/8, any other is
/// `HOST_NOT_FOUND`. A length that does not match the family is glibc's `EAFNOSUPPORT`.
unsafe fn lookup_addr(
    addr: *const c_void,
    len: socklen_t,
    af: c_int,
    ns: &NameService<'_>,
) -> AddrLookup {
    let fits = |n: usize| len as usize == n && !addr.is_null();
    if af == libc::AF_INET && fits(4) {
        let mut b = [0u8; 4];
        ptr::copy_nonoverlapping(addr as *const u8, b.as_mut_ptr(), 4);
        let ip = Ipv4Addr::from(b);
        if ip.is_loopback() {
            return AddrLookup::Kernel;
        }
        return match (ns.reverse)(ip) {
            Ok(name) => AddrLookup::Found(name, ip),
            Err(e) => AddrLookup::Failed(h_errno_of(e)),
        };
    }
    if af == libc::AF_INET6 && fits(16) {
        let mut b = [0u8; 16];
        ptr::copy_nonoverlapping(addr as *const u8, b.as_mut_ptr(), 16);
        if std::net::Ipv6Addr::from(b).is_loopback() {
            return AddrLookup::Kernel;
        }
        return AddrLookup::Failed(HOST_NOT_FOUND);
    }
    *libc::__errno_location() = libc::EAFNOSUPPORT;
    AddrLookup::Failed(NETDB_INTERNAL)
}

struct HostStorage {
    he: hostent,
    buf: Vec<u8>,
}

thread_local! {
    static HOST: RefCell<Option<Box<HostStorage>>> = const { RefCell::new(None) };
}

/// Lays out `host` in this thread's `hostent` (glibc keeps one per thread too, shared by
/// gethostbyname and gethostbyaddr) and sets `h_errno`.
fn thread_hostent(host: Host<'_>) -> *mut hostent {
    let answer = HOST.try_with(|cell| {
        let mut slot = cell.borrow_mut();
        let storage = slot.get_or_insert_with(|| {
            Box::new(HostStorage {
                // SAFETY: all-zero is a valid hostent (null pointers).
                he: unsafe { mem::zeroed() },
                buf: Vec::new(),
            })
        });
        storage.buf = vec![0u8; host.size() + mem::size_of::<usize>()];
        let he = ptr::addr_of_mut!(storage.he);
        // SAFETY: he points into the live storage; the buffer is ours.
        match unsafe { fill_hostent(he, &mut storage.buf, host) } {
            Some(()) => {
                set_h_errno(0);
                he
            }
            None => {
                set_h_errno(NO_RECOVERY);
                ptr::null_mut()
            }
        }
    });
    // The thread is exiting (an `atexit` handler runs after glibc destroyed the main thread's
    // thread-locals): no storage to lay the answer out in.
    answer.unwrap_or_else(|_| {
        set_h_errno(NO_RECOVERY);
        ptr::null_mut()
    })
}

/// `gethostbyname(3)`: `gethostbyname2(name, AF_INET)`.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
pub unsafe fn gethostbyname(name: *const c_char, ns: &NameService<'_>) -> *mut hostent {
    gethostbyname2(name, libc::AF_INET, ns)
}

/// `gethostbyname2(3)`: the result lives in thread-local storage until this thread's next call;
/// failures set `h_errno`.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
pub unsafe fn gethostbyname2(name: *const c_char, af: c_int, ns: &NameService<'_>) -> *mut hostent {
    guard(ptr::null_mut(), || unsafe {
        let Some(n) = opt_str(name) else {
            set_h_errno(HOST_NOT_FOUND);
            return ptr::null_mut();
        };
        if stays_on_kernel(n) || (af == libc::AF_INET6 && n.contains(':')) {
            return (ns.real.gethostbyname2)(name, af);
        }
        match lookup_host(n, af, ns) {
            Ok(found) => thread_hostent(Host::of(&found)),
            Err(code) => {
                set_h_errno(code);
                ptr::null_mut()
            }
        }
    })
}

/// `gethostbyaddr(3)`: like [`gethostbyname2`], in the same thread-local storage.
///
/// # Safety
/// `addr` is valid for `len` bytes.
pub unsafe fn gethostbyaddr(
    addr: *const c_void,
    len: socklen_t,
    af: c_int,
    ns: &NameService<'_>,
) -> *mut hostent {
    guard(ptr::null_mut(), || unsafe {
        match lookup_addr(addr, len, af, ns) {
            AddrLookup::Kernel => (ns.real.gethostbyaddr)(addr, len, af),
            AddrLookup::Found(name, ip) => thread_hostent(Host {
                name: &name,
                aliases: &[],
                addrs: &[ip],
            }),
            AddrLookup::Failed(code) => {
                set_h_errno(code);
                ptr::null_mut()
            }
        }
    })
}

/// The common end of the `_r` calls: fills `ret` from `found` using the caller's buffer, and
/// gives glibc's return value. Success is 0 with `*result` set; a buffer too small is `ERANGE`
/// with `NETDB_INTERNAL`; a name or address that is not found (or has no address) is 0 with
/// `*result` NULL, as glibc's NSS returns for NOTFOUND; `TRY_AGAIN` is `EAGAIN`, `NO_RECOVERY`
/// `ENOENT`, a bad family `EAFNOSUPPORT`.
unsafe fn finish_r(
    found: Result<Host<'_>, c_int>,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    match found {
        Ok(host) => {
            let space: &mut [u8] = if buf.is_null() {
                &mut []
            } else {
                std::slice::from_raw_parts_mut(buf as *mut u8, buflen)
            };
            match fill_hostent(ret, space, host) {
                Some(()) => {
                    *result = ret;
                    *h_errnop = 0;
                    0
                }
                None => {
                    *h_errnop = NETDB_INTERNAL;
                    libc::ERANGE
                }
            }
        }
        Err(code) => {
            *h_errnop = code;
            // glibc's DNS code also leaves the code in h_errno, and callers read it there
            // (python's socket module does).
            set_h_errno(code);
            match code {
                HOST_NOT_FOUND | NO_DATA => 0,
                TRY_AGAIN => libc::EAGAIN,
                NETDB_INTERNAL => libc::EAFNOSUPPORT,
                _ => libc::ENOENT,
            }
        }
    }
}

/// `gethostbyname_r(3)` (the GNU form): `gethostbyname2_r(name, AF_INET, …)`.
///
/// # Safety
/// As for the libc function: `ret`, `result`, `h_errnop` valid for writes, `buf` for `buflen`
/// bytes.
pub unsafe fn gethostbyname_r(
    name: *const c_char,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
    ns: &NameService<'_>,
) -> c_int {
    gethostbyname2_r(name, libc::AF_INET, ret, buf, buflen, result, h_errnop, ns)
}

/// `gethostbyname2_r(3)`: [`gethostbyname2`] into the caller's `ret` and `buf`, with the return
/// values of [`finish_r`].
///
/// # Safety
/// As for the libc function: `ret`, `result`, `h_errnop` valid for writes, `buf` for `buflen`
/// bytes.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gethostbyname2_r(
    name: *const c_char,
    af: c_int,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
    ns: &NameService<'_>,
) -> c_int {
    guard(libc::EINVAL, || unsafe {
        if result.is_null() || ret.is_null() || h_errnop.is_null() {
            return libc::EINVAL;
        }
        *result = ptr::null_mut();
        let Some(n) = opt_str(name) else {
            return finish_r(Err(HOST_NOT_FOUND), ret, buf, buflen, result, h_errnop);
        };
        if stays_on_kernel(n) || (af == libc::AF_INET6 && n.contains(':')) {
            return (ns.real.gethostbyname2_r)(name, af, ret, buf, buflen, result, h_errnop);
        }
        let found = lookup_host(n, af, ns);
        finish_r(
            found.as_ref().map(Host::of).map_err(|c| *c),
            ret,
            buf,
            buflen,
            result,
            h_errnop,
        )
    })
}

/// `gethostbyaddr_r(3)`: [`gethostbyaddr`] into the caller's `ret` and `buf`, with the return
/// values of [`finish_r`].
///
/// # Safety
/// As for the libc function: `addr` valid for `len` bytes, `ret`, `result`, `h_errnop` valid for
/// writes, `buf` for `buflen` bytes.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gethostbyaddr_r(
    addr: *const c_void,
    len: socklen_t,
    af: c_int,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
    ns: &NameService<'_>,
) -> c_int {
    guard(libc::EINVAL, || unsafe {
        if result.is_null() || ret.is_null() || h_errnop.is_null() {
            return libc::EINVAL;
        }
        *result = ptr::null_mut();
        match lookup_addr(addr, len, af, ns) {
            AddrLookup::Kernel => {
                (ns.real.gethostbyaddr_r)(addr, len, af, ret, buf, buflen, result, h_errnop)
            }
            AddrLookup::Found(name, ip) => {
                let host = Host {
                    name: &name,
                    aliases: &[],
                    addrs: &[ip],
                };
                finish_r(Ok(host), ret, buf, buflen, result, h_errnop)
            }
            AddrLookup::Failed(code) => finish_r(Err(code), ret, buf, buflen, result, h_errnop),
        }
    })
}

#[cfg(test)]
mod tests;

/// One DNS exchange over a fresh stack UDP socket connected to `server` (a fresh one each time,
/// so a fresh ephemeral port: RFC 5452 §9.2). Datagrams from anyone but the server are discarded;
/// the wait is bounded by `timeout` however many of them come.
pub fn exchange_over_stack(
    server: std::net::SocketAddrV4,
    query: &[u8],
    timeout: std::time::Duration,
    reply: &mut [u8],
) -> Result<usize, LookupError> {
    use crate::service::client;
    use crate::service::proto::{Call, Kind, Target};
    use std::os::fd::AsRawFd;
    // IP_RECVERR, as glibc's send_dg sets it: a server whose next hop never answers ARP (the
    // host unreachable the stack then reports, as Linux reports it to itself) is given up at
    // once for the next, not waited on for the whole timeout.
    let target = Target::New {
        kind: Kind::Dgram,
        options: vec![crate::service::proto::SetOption {
            level: libc::IPPROTO_IP,
            name: libc::IP_RECVERR,
            value: 1i32.to_ne_bytes().to_vec(),
        }],
        inet6: false,
    };
    let (result, fd) = client::call(target, Call::Connect(Some(server)), None, None);
    let Some(fd) = fd.filter(|_| result.is_ok()) else {
        return Err(LookupError::Again);
    };
    let raw = fd.as_raw_fd();
    let sock = super::state::OpenSocket::attached(Kind::Dgram, false);
    sock.connected
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let iov = libc::iovec {
        iov_base: query.as_ptr() as *mut libc::c_void,
        iov_len: query.len(),
    };
    // SAFETY: one iovec over `query`.
    if unsafe { super::io::udp_send(&sock, raw, Iovecs::Ours(&[iov]), 0, Default::default()) }
        .is_err()
    {
        return Err(LookupError::Fail);
    }
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(LookupError::Again);
        }
        let mut p = [libc::pollfd {
            fd: raw,
            events: libc::POLLIN,
            revents: 0,
        }];
        match crate::sys::poll(&mut p, left.as_millis().max(1) as i32) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(_) => continue,
        }
        let iov = libc::iovec {
            iov_base: reply.as_mut_ptr() as *mut libc::c_void,
            iov_len: reply.len(),
        };
        // SAFETY: one iovec over `reply`.
        match unsafe { super::io::udp_recv(raw, Iovecs::Ours(&[iov]), libc::MSG_DONTWAIT, None) } {
            Ok(got) if got.from == Some(server) => return Ok(got.len.min(reply.len())),
            Ok(_) => continue,
            Err(crate::error::Errno::EAGAIN) => continue,
            Err(_) => return Err(LookupError::Fail),
        }
    }
}

/// A TCP connection to a DNS server through the service, for a reply that came truncated: a stack
/// socket of this process's own (never in the program's table), its socketpair end read and
/// written directly. Closing it (drop) is the socket's last close.
pub fn connect_tcp_over_stack(
    server: std::net::SocketAddrV4,
    deadline: std::time::Instant,
) -> Result<Box<dyn crate::resolver::DnsStream>, LookupError> {
    use crate::error::Errno;
    use crate::service::client;
    use crate::service::proto::{Call, Kind, Target};
    use std::os::fd::AsRawFd;
    let target = Target::New {
        kind: Kind::Stream,
        options: Vec::new(),
        inet6: false,
    };
    let (result, fd) = client::call(target, Call::Connect(Some(server)), None, None);
    let Some(fd) = fd else {
        return Err(LookupError::Again);
    };
    match result {
        Ok(_) => {}
        Err(Errno::EINPROGRESS) => loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(LookupError::Again);
            }
            let wait = client::call(
                Target::Existing,
                Call::WaitConnect,
                Some(fd.as_raw_fd()),
                Some(left),
            );
            match wait.0 {
                Ok(_) => break,
                Err(Errno::EAGAIN) => return Err(LookupError::Again),
                // A signal the program handles: the wait goes on (glibc's connect is restarted).
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    log::debug!("dns over TCP to {server}: {}", e.name());
                    return Err(LookupError::Fail);
                }
            }
        },
        Err(e) => {
            log::debug!("dns over TCP to {server}: {}", e.name());
            return Err(LookupError::Fail);
        }
    }
    Ok(Box::new(ServiceStream { fd }))
}

/// The program's end of a stack TCP socket's socketpair, used as the stream it carries.
struct ServiceStream {
    fd: std::os::fd::OwnedFd,
}

impl ServiceStream {
    /// Waits until the end is ready for `events` or `deadline` passes (`Again`).
    fn wait(&self, events: i16, deadline: std::time::Instant) -> Result<(), LookupError> {
        use std::os::fd::AsRawFd;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(LookupError::Again);
            }
            let mut p = [libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events,
                revents: 0,
            }];
            // Hang-ups and errors wake it too: the read or write then says what happened.
            if let Ok(1..) =
                crate::sys::poll(&mut p, left.as_millis().clamp(1, i32::MAX as u128) as i32)
            {
                return Ok(());
            }
        }
    }
}

impl crate::resolver::DnsStream for ServiceStream {
    fn send_all(
        &mut self,
        mut data: &[u8],
        deadline: std::time::Instant,
    ) -> Result<(), LookupError> {
        use std::os::fd::AsRawFd;
        while !data.is_empty() {
            self.wait(libc::POLLOUT, deadline)?;
            match crate::service::uds::write(self.fd.as_raw_fd(), data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Err(LookupError::Fail),
            }
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8], deadline: std::time::Instant) -> Result<usize, LookupError> {
        use std::os::fd::AsRawFd;
        loop {
            self.wait(libc::POLLIN, deadline)?;
            // The end is non-blocking (the service makes it so), and the poll said there is
            // something: data, end of file, or an error.
            match crate::service::uds::read(self.fd.as_raw_fd(), buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Err(LookupError::Fail),
            }
        }
    }
}
