//! The name resolver: what `getaddrinfo` and friends need, answered by tapstack itself.
//!
//! glibc's resolver sends its DNS queries through internal socket entry points that the preload
//! shim cannot intercept, so they would leave through the kernel rather than the stack. tapstack
//! therefore resolves names on its own, the way glibc's default `hosts: files dns` does:
//! 1. a numeric address (anything `inet_aton` accepts: `10.1.2.3`, `10.1`, `0x7f.1`) is itself;
//! 2. [`hosts`]: `/etc/hosts`, read afresh on each lookup as glibc does;
//! 3. DNS (RFC 1035) over the stack's own UDP, through a [`DnsTransport`]: each configured server
//!    in turn, `attempts` rounds, each try waiting up to `timeout` (resolv.conf(5)'s defaults: 5 s
//!    and 2 attempts).
//!
//! Each query has a fresh random id; a reply counts only if it comes from the server asked (the
//! transport checks), carries the id, and echoes the question (RFC 5452 §9.1). Anything else is
//! ignored and the wait goes on, up to the same deadline.
//!
//! A UDP reply with the TC bit (its answer cut at 512 bytes) is asked again of the same server over
//! TCP (RFC 1035 §4.2.2 framing, RFC 7766 §5), as glibc's `res_send` does; when that connection
//! fails, the next server is asked over TCP, and the truncated reply is not used.
//!
//! Outcomes, as glibc reports them: NXDOMAIN, or an answer with no A record for the name, is
//! [`LookupError::NoName`]; a name with records but none of them an address (NOERROR, no answer)
//! is [`LookupError::NoData`]; no usable answer from any server (timeouts, SERVFAIL, REFUSED,
//! unreachable servers, a truncated reply with no address) is [`LookupError::Again`]. With **no
//! server configured**, glibc would ask 127.0.0.1; here that would be the kernel's loopback, outside
//! the stack, so a name not in `/etc/hosts` gives `Again`, the answer glibc gives when nothing
//! listens there. A name that cannot be put in a query (an empty label, a label over 63 bytes) is
//! `NoName`, as glibc says for it.
//!
//! Search domains (`TAPSTACK_DNS_SEARCH`) are applied as glibc's `res_search` applies resolv.conf's
//! `search`, with its `ndots` (`TAPSTACK_DNS_OPTIONS`, 1 by default): a name ending in a dot is
//! asked as given only; a name with `ndots` dots or more is asked as given first, then with each
//! domain; one with fewer with each domain first, then as given. Through the domains, "no such name", "no data" and SERVFAIL go on to the
//! next, a timeout or a refusal stops there (the name as given is still asked), no server reached
//! at all ends the lookup; a reply with records ends it, address or not ([`Resolver::search_dns`]
//! has the error reported). `/etc/hosts` is matched as given, never with a domain. A reply cut
//! short (TC) switches the rest of the round to TCP, one try per server, as `res_send` does.
//!
//! Not done: EDNS, AAAA, resolv.conf's other options (`rotate`, `use-vc`, …).

pub mod hosts;
pub mod runtime_transport;
pub mod services;

use core::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::wire::dns::{self, DnsPacket, DnsRepr, Rcode, Rtype};

pub use hosts::Hosts;
pub use runtime_transport::RuntimeTransport;
pub use services::Services;

/// resolv.conf(5): `timeout:5`, `attempts:2`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_ATTEMPTS: u32 = 2;
/// Replies that do not match the query (wrong id or question) tolerated in one try before giving
/// up on that server, so a flood of stray datagrams cannot keep a lookup going.
const MAX_MISMATCHED: usize = 16;

/// Why a lookup has no answer; `getaddrinfo` turns these into `EAI_NONAME`, `EAI_NODATA`,
/// `EAI_AGAIN`, `EAI_FAIL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LookupError {
    /// The name does not exist, or has no IPv4 address (or the address no name).
    NoName,
    /// The name exists, with records of other types but no address (a reply of NOERROR and no
    /// answer: glibc's NO_DATA, `EAI_NODATA`).
    NoData,
    /// No server gave a usable answer in time: worth trying again later.
    Again,
    /// A failure that retrying will not fix.
    Fail,
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LookupError::NoName => "name or service not known",
            LookupError::NoData => "no address associated with hostname",
            LookupError::Again => "temporary failure in name resolution",
            LookupError::Fail => "non-recoverable failure in name resolution",
        })
    }
}

impl std::error::Error for LookupError {}

/// Sends one DNS query and returns the first reply from that server.
pub trait DnsTransport {
    /// Sends `query` to `server` and waits up to `timeout` for a datagram *from `server`* (others
    /// are discarded), copied into `reply`; returns its length. `Err(Again)` when nothing came in
    /// time, `Err(Fail)` when the query could not be sent or the server is unreachable.
    fn exchange(
        &mut self,
        server: SocketAddrV4,
        query: &[u8],
        timeout: Duration,
        reply: &mut [u8],
    ) -> Result<usize, LookupError>;

    /// Opens a TCP connection to `server`, for a query whose UDP reply came truncated; waits until
    /// `deadline` for the handshake. `Err(Again)` when it did not end in time, `Err(Fail)` when it
    /// was refused or could not be made.
    fn connect_tcp(
        &mut self,
        server: SocketAddrV4,
        deadline: Instant,
    ) -> Result<Box<dyn DnsStream>, LookupError>;
}

/// A TCP connection to a DNS server, as a transport opens it.
pub trait DnsStream {
    /// Writes all of `data`, waiting until `deadline` for room.
    fn send_all(&mut self, data: &[u8], deadline: Instant) -> Result<(), LookupError>;
    /// Reads what has come, at most `buf.len()` bytes, waiting until `deadline` for some; 0 at the
    /// end of the stream.
    fn recv(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, LookupError>;
}

/// One query over a DNS stream: the message behind its two-byte length, then the reply's length
/// and the reply (RFC 1035 §4.2.2), all by `deadline`. The reply's room is taken once its length
/// is known, and not at all if memory is short (`Again`, rather than abort the program).
fn exchange_over_stream(
    stream: &mut dyn DnsStream,
    query: &[u8],
    deadline: Instant,
) -> Result<Vec<u8>, LookupError> {
    let len = u16::try_from(query.len()).map_err(|_| LookupError::Fail)?;
    let mut message = Vec::with_capacity(2 + query.len());
    message.extend_from_slice(&len.to_be_bytes());
    message.extend_from_slice(query);
    stream.send_all(&message, deadline)?;
    let mut len = [0u8; 2];
    recv_exact(stream, &mut len, deadline)?;
    let len = usize::from(u16::from_be_bytes(len));
    if !crate::memory::has_headroom(len) {
        return Err(LookupError::Again);
    }
    let mut reply = Vec::new();
    reply
        .try_reserve_exact(len)
        .map_err(|_| LookupError::Again)?;
    reply.resize(len, 0);
    recv_exact(stream, &mut reply, deadline)?;
    Ok(reply)
}

/// Fills `buf` from `stream` by `deadline`; an end of stream before that is a failure.
fn recv_exact(
    stream: &mut dyn DnsStream,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<(), LookupError> {
    let mut got = 0;
    while got < buf.len() {
        match stream.recv(&mut buf[got..], deadline)? {
            0 => return Err(LookupError::Fail),
            n => got += n,
        }
    }
    Ok(())
}

/// Why asking the servers about one name brought no answer, told apart as glibc's `res_search`
/// tells them apart (by `h_errno` and the last reply's rcode) to decide whether to go on through
/// the search domains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NoAnswer {
    /// NXDOMAIN: the name does not exist. The search goes on.
    NxDomain,
    /// NOERROR with no answer records: the name has nothing of this type. The search goes on.
    NoData,
    /// Answer records, but none an address of the name (a CNAME to nothing): glibc's search
    /// stops at a reply with records, and finds nothing in it.
    NoAddress,
    /// The last reply said SERVFAIL. The search goes on.
    ServFail,
    /// The last reply said REFUSED, NOTIMP or FORMERR, or nothing came in time: the search
    /// stops (the name as given is still asked).
    Stopped,
    /// No server could be asked at all (each send failed, or an ICMP error refused it): the
    /// lookup ends at once (glibc's ECONNREFUSED).
    Unreachable,
    /// The name cannot be put in a query.
    BadName,
}

impl NoAnswer {
    fn error(self) -> LookupError {
        match self {
            NoAnswer::NoData => LookupError::NoData,
            NoAnswer::NxDomain | NoAnswer::NoAddress | NoAnswer::BadName => LookupError::NoName,
            NoAnswer::ServFail | NoAnswer::Stopped | NoAnswer::Unreachable => LookupError::Again,
        }
    }
}

/// What a reply that answers the query settles: an answer (NOERROR with records), or why none.
fn judge(response: DnsRepr) -> Result<DnsRepr, NoAnswer> {
    match response.rcode {
        Rcode::NOERROR if response.answers.is_empty() => Err(NoAnswer::NoData),
        Rcode::NOERROR => Ok(response),
        Rcode::NXDOMAIN => Err(NoAnswer::NxDomain),
        Rcode::SERVFAIL => Err(NoAnswer::ServFail),
        _ => Err(NoAnswer::Stopped),
    }
}

/// A forward lookup's answer, as `gethostbyname` gives it: the canonical name (the end of any
/// CNAME chain, or the first name on the hosts line), its aliases (the CNAME chain's other names,
/// or the hosts lines' other names), and the addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostAddrs {
    pub canonical: String,
    pub aliases: Vec<String>,
    pub addrs: Vec<Ipv4Addr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolver {
    /// DNS servers, asked in this order.
    pub servers: Vec<SocketAddrV4>,
    /// How long one try waits for its reply.
    pub timeout: Duration,
    /// Rounds over all the servers.
    pub attempts: u32,
    /// Search domains, in order.
    pub search: Vec<String>,
    /// A name with at least this many dots is asked as given before the search domains.
    pub ndots: u8,
    pub hosts_path: PathBuf,
    pub services_path: PathBuf,
}

impl Resolver {
    /// The servers of `TAPSTACK_DNS` (port 53), resolv.conf's default timing, the system files.
    pub fn from_config(config: &Config) -> Resolver {
        Resolver {
            servers: config
                .dns
                .iter()
                .map(|ip| SocketAddrV4::new(*ip, dns::PORT))
                .collect(),
            timeout: Duration::from_secs(config.dns_options.timeout_secs.into()),
            attempts: config.dns_options.attempts.into(),
            search: config.dns_search.clone(),
            ndots: config.dns_options.ndots,
            hosts_path: PathBuf::from("/etc/hosts"),
            services_path: PathBuf::from("/etc/services"),
        }
    }

    pub fn hosts(&self) -> Hosts {
        Hosts::load(&self.hosts_path)
    }

    pub fn services(&self) -> Services {
        Services::load(&self.services_path)
    }

    /// The IPv4 addresses of `name`: numeric, then `/etc/hosts`, then DNS.
    pub fn resolve_v4(
        &self,
        name: &str,
        transport: &mut dyn DnsTransport,
    ) -> Result<Vec<Ipv4Addr>, LookupError> {
        self.lookup_v4(name, transport).map(|h| h.addrs)
    }

    /// [`Resolver::resolve_v4`] with the canonical name.
    pub fn lookup_v4(
        &self,
        name: &str,
        transport: &mut dyn DnsTransport,
    ) -> Result<HostAddrs, LookupError> {
        if name.is_empty() {
            return Err(LookupError::NoName);
        }
        if let Some(ip) = parse_numeric(name) {
            return Ok(HostAddrs {
                canonical: name.to_string(),
                aliases: Vec::new(),
                addrs: vec![ip],
            });
        }
        if let Some(found) = self.hosts().lookup(name) {
            return Ok(found);
        }
        self.search_dns(name, transport)
    }

    /// `name` through DNS with the search domains, as glibc's `__res_context_search` goes: a
    /// name with `ndots` dots or more (or ending in one) as given first; then, unless it ends in
    /// a dot, with each domain while the answers say the name is not there (NXDOMAIN, no data,
    /// SERVFAIL); then as given if not yet asked. An answer ends it (even one without an address
    /// for the name: glibc's search stops at the first reply with records). Without one, the
    /// error of the first query if the name was asked as given first, else "no data" if some
    /// domain had the name without an address, else "again" if some server failed, else the
    /// last error.
    fn search_dns(
        &self,
        name: &str,
        transport: &mut dyn DnsTransport,
    ) -> Result<HostAddrs, LookupError> {
        let (bare, absolute) = match name.strip_suffix('.') {
            Some(b) => (b, true),
            None => (name, false),
        };
        let mut first = None;
        if absolute || self.asked_as_given_first(bare) {
            match self.lookup_dns(bare, transport) {
                Err(why) if !absolute && why != NoAnswer::NoAddress => first = Some(why),
                r => return r.map_err(NoAnswer::error),
            }
        }
        let (mut no_data, mut serv_fail, mut last) = (false, false, None);
        if !absolute {
            for domain in &self.search {
                let why = match self.lookup_dns(&format!("{bare}.{domain}"), transport) {
                    Err(why) if why != NoAnswer::NoAddress => why,
                    answer => return answer.map_err(NoAnswer::error),
                };
                last = Some(why);
                match why {
                    NoAnswer::Unreachable => return Err(LookupError::Again),
                    NoAnswer::NoData => no_data = true,
                    NoAnswer::ServFail => serv_fail = true,
                    NoAnswer::NxDomain => {}
                    NoAnswer::Stopped | NoAnswer::BadName | NoAnswer::NoAddress => break,
                }
            }
        }
        if first.is_none() {
            match self.lookup_dns(bare, transport) {
                Err(why) if why != NoAnswer::NoAddress => last = Some(why),
                answer => return answer.map_err(NoAnswer::error),
            }
        }
        let why = match (first, no_data, serv_fail) {
            (Some(why), _, _) => why,
            (None, true, _) => NoAnswer::NoData,
            (None, false, true) => NoAnswer::ServFail,
            (None, false, false) => last.unwrap_or(NoAnswer::NxDomain),
        };
        Err(why.error())
    }

    /// Whether `name` (no trailing dot) has dots enough to be asked as given before the search
    /// domains: `ndots` of them (resolv.conf's `options ndots:N`).
    fn asked_as_given_first(&self, name: &str) -> bool {
        name.bytes().filter(|&b| b == b'.').count() >= usize::from(self.ndots)
    }

    /// The names a lookup of `name` may ask DNS, in the order it would ask them while each says
    /// the name is not there (see [`Resolver::search_dns`]).
    pub fn candidates(&self, name: &str) -> Vec<String> {
        if let Some(absolute) = name.strip_suffix('.') {
            return vec![absolute.to_string()];
        }
        let searched = self.search.iter().map(|d| format!("{name}.{d}"));
        if self.asked_as_given_first(name) {
            std::iter::once(name.to_string()).chain(searched).collect()
        } else {
            searched.chain(std::iter::once(name.to_string())).collect()
        }
    }

    /// `name`'s addresses by DNS alone.
    fn lookup_dns(
        &self,
        name: &str,
        transport: &mut dyn DnsTransport,
    ) -> Result<HostAddrs, NoAnswer> {
        let response = self.query(name, Rtype::A, transport)?;
        let (canonical, addrs) = response.addresses(name);
        let aliases = response.cname_aliases(name);
        if addrs.is_empty() {
            // Records, but no address for the name (a CNAME to nothing, another type).
            return Err(NoAnswer::NoAddress);
        }
        Ok(HostAddrs {
            canonical,
            aliases,
            addrs,
        })
    }

    /// The name of `addr`, for `getnameinfo`: `/etc/hosts`, then a PTR query.
    pub fn reverse_v4(
        &self,
        addr: Ipv4Addr,
        transport: &mut dyn DnsTransport,
    ) -> Result<String, LookupError> {
        if let Some(name) = self.hosts().name_of(addr) {
            return Ok(name.to_string());
        }
        let qname = dns::reverse_name(addr);
        let response = self
            .query(&qname, Rtype::PTR, transport)
            .map_err(NoAnswer::error)?;
        response
            .ptr_names(&qname)
            .into_iter()
            .next()
            .ok_or(LookupError::NoName)
    }

    /// Asks the servers in turn, `attempts` rounds, as glibc's `res_send`: a reply that answers
    /// the query settles it unless it says SERVFAIL, NOTIMP or REFUSED (then the next server is
    /// asked); a reply cut short (TC) is asked again over TCP of the same server, and from then on
    /// every server left in the round over TCP, once each, with no further round. Without an
    /// answer: why, from the last reply that came (SERVFAIL, or another refusal), else a timeout
    /// if some server could be asked, else unreachable.
    fn query(
        &self,
        name: &str,
        qtype: Rtype,
        transport: &mut dyn DnsTransport,
    ) -> Result<DnsRepr, NoAnswer> {
        let mut reply = vec![0u8; dns::MAX_UDP_LEN * 8];
        let mut last_refusal = None;
        let mut reached = false;
        let mut over_tcp = false;
        for _ in 0..self.attempts.max(1) {
            for &server in &self.servers {
                let query = DnsRepr::query(random_id(), name, qtype);
                let bytes = query.emit().map_err(|_| NoAnswer::BadName)?;
                if over_tcp {
                    match self.query_tcp(server, &query, &bytes, transport) {
                        Ok(r) => return judge(r),
                        Err(e) => {
                            reached |= e == LookupError::Again;
                            continue;
                        }
                    }
                }
                let deadline = Instant::now() + self.timeout;
                let mut mismatched = 0;
                while mismatched < MAX_MISMATCHED {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    let n = match transport.exchange(server, &bytes, left, &mut reply) {
                        Ok(n) => n.min(reply.len()),
                        Err(e) => {
                            reached |= e == LookupError::Again;
                            break;
                        }
                    };
                    reached = true;
                    let response = match DnsRepr::parse(&DnsPacket::new_unchecked(&reply[..n])) {
                        Ok(r) if r.answers_query(&query) => r,
                        _ => {
                            mismatched += 1;
                            continue;
                        }
                    };
                    // This server cannot help (checked before TC, as send_dg does): the next.
                    if matches!(
                        response.rcode,
                        Rcode::SERVFAIL | Rcode::NOTIMP | Rcode::REFUSED
                    ) {
                        last_refusal = Some(response.rcode);
                        break;
                    }
                    if !response.truncated {
                        return judge(response);
                    }
                    // Cut short: the whole of it over TCP, from here on.
                    over_tcp = true;
                    match self.query_tcp(server, &query, &bytes, transport) {
                        Ok(r) => return judge(r),
                        Err(e) => log::debug!("dns: {name} over TCP to {server}: {e}"),
                    }
                    break;
                }
            }
            if over_tcp {
                break;
            }
        }
        Err(match last_refusal {
            Some(Rcode::SERVFAIL) => NoAnswer::ServFail,
            Some(_) => NoAnswer::Stopped,
            None if reached => NoAnswer::Stopped,
            None => NoAnswer::Unreachable,
        })
    }
}

impl Resolver {
    /// `query` (its message `bytes`) asked of `server` over TCP, given `timeout` for the whole
    /// exchange. A reply that does not answer the query fails it: one query goes on the
    /// connection, so nothing else may come back.
    fn query_tcp(
        &self,
        server: SocketAddrV4,
        query: &DnsRepr,
        bytes: &[u8],
        transport: &mut dyn DnsTransport,
    ) -> Result<DnsRepr, LookupError> {
        let deadline = Instant::now() + self.timeout;
        let mut stream = transport.connect_tcp(server, deadline)?;
        let reply = exchange_over_stream(stream.as_mut(), bytes, deadline)?;
        match DnsRepr::parse(&DnsPacket::new_unchecked(&reply[..])) {
            Ok(r) if r.answers_query(query) => Ok(r),
            _ => Err(LookupError::Fail),
        }
    }
}

/// A fresh query id from the kernel's random source (RFC 5452 §9.2: ids must not be guessable).
fn random_id() -> u16 {
    let mut b = [0u8; 2];
    if crate::sys::getrandom(&mut b).is_err() {
        return crate::sys::random_seed() as u16;
    }
    u16::from_ne_bytes(b)
}

/// An IPv4 address in any form `inet_aton(3)` accepts, as glibc's `getaddrinfo` does: one to
/// four parts separated by dots, each decimal, octal (leading `0`) or hex (`0x`); the last part
/// fills the remaining bytes (`10.1` is 10.0.0.1). Nothing may follow.
pub fn parse_numeric(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(4);
    for part in &parts {
        let (digits, radix) =
            if let Some(h) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
                (h, 16)
            } else if part.len() > 1 && part.starts_with('0') {
                (&part[1..], 8)
            } else {
                (*part, 10)
            };
        // "0x" alone is 0 for inet_aton; an empty part otherwise is not a number.
        let v = if digits.is_empty() && radix == 16 {
            0
        } else {
            if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
                return None;
            }
            u32::from_str_radix(digits, radix).ok()?
        };
        values.push(v);
    }
    let (last, head) = values.split_last()?;
    if head.iter().any(|&v| v > 255) {
        return None;
    }
    let room = 8 * (4 - head.len() as u32);
    if room < 32 && *last >> room != 0 {
        return None;
    }
    let mut addr = 0u32;
    for (i, v) in head.iter().enumerate() {
        addr |= v << (24 - 8 * i);
    }
    Some(Ipv4Addr::from(addr | last))
}

#[cfg(test)]
mod tests;
