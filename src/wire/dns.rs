//! DNS messages (RFC 1035 §4): what the resolver sends over UDP and reads back. A 12-byte header
//! (id, flags, four section counts) followed by the question, answer, authority and additional
//! sections. Names are sequences of length-prefixed labels, which may end in a *compression pointer*
//! (§4.1.4) to an earlier name in the message.
//!
//! The view ([`DnsPacket`]) covers the header; [`DnsRepr`] is the whole message as plain structs:
//! the questions and the answer section (authority and additional records are counted but not
//! parsed: a stub resolver has no use for them). Names are kept as text, labels joined by `.`, with
//! no trailing dot; a byte that is not printable ASCII, or is `.` or `\` inside a label, is written
//! `\DDD` (decimal), as `dig` and glibc's `dn_expand` do, and [`encode_name`] reads that form back.
//!
//! Decompression never panics and never loops: every pointer must point strictly before itself
//! (so a chain of pointers strictly decreases), at most [`MAX_POINTERS`] are followed, and a name is
//! at most 255 bytes on the wire (§2.3.4).

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::{get_ipv4, get_u16, get_u32, put_u16, Result, WireError};

/// Id, flags, QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT.
pub const HEADER_LEN: usize = 12;
/// RFC 1035 §2.3.4: labels of at most 63 bytes, names of at most 255 (length bytes included).
pub const MAX_LABEL_LEN: usize = 63;
pub const MAX_NAME_LEN: usize = 255;
/// Compression pointers followed for one name. A name of 255 bytes has at most 127 labels; real
/// messages use one or two pointers per name.
pub const MAX_POINTERS: usize = 64;
/// The port DNS servers listen on (RFC 1035 §4.2.1).
pub const PORT: u16 = 53;
/// The largest message over UDP without EDNS (RFC 1035 §4.2.1).
pub const MAX_UDP_LEN: usize = 512;

/// The class of every record we ask for: Internet.
pub const CLASS_IN: u16 = 1;

mod field {
    pub const ID: usize = 0;
    pub const FLAGS: usize = 2;
    pub const QDCOUNT: usize = 4;
    pub const ANCOUNT: usize = 6;
    pub const NSCOUNT: usize = 8;
    pub const ARCOUNT: usize = 10;
}

mod flag {
    pub const QR: u16 = 0x8000;
    pub const AA: u16 = 0x0400;
    pub const TC: u16 = 0x0200;
    pub const RD: u16 = 0x0100;
    pub const RA: u16 = 0x0080;
    pub const OPCODE_SHIFT: u16 = 11;
    pub const OPCODE_MASK: u16 = 0xf;
    pub const RCODE_MASK: u16 = 0xf;
}

/// A record type (RFC 1035 §3.2.2; AAAA from RFC 3596).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rtype(pub u16);

impl Rtype {
    pub const A: Rtype = Rtype(1);
    pub const NS: Rtype = Rtype(2);
    pub const CNAME: Rtype = Rtype(5);
    pub const SOA: Rtype = Rtype(6);
    pub const PTR: Rtype = Rtype(12);
    pub const AAAA: Rtype = Rtype(28);
}

/// A response code (RFC 1035 §4.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rcode(pub u8);

impl Rcode {
    pub const NOERROR: Rcode = Rcode(0);
    pub const FORMERR: Rcode = Rcode(1);
    pub const SERVFAIL: Rcode = Rcode(2);
    pub const NXDOMAIN: Rcode = Rcode(3);
    pub const NOTIMP: Rcode = Rcode(4);
    pub const REFUSED: Rcode = Rcode(5);
}

/// A view of a DNS message's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> DnsPacket<T> {
    /// Wraps a buffer without checking it; accessors panic on one shorter than the header.
    pub const fn new_unchecked(buffer: T) -> DnsPacket<T> {
        DnsPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<DnsPacket<T>> {
        let packet = DnsPacket::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// A whole header. (The sections' lengths are only known by walking them: [`DnsRepr::parse`].)
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole message, header included (names' pointers are offsets into it).
    pub fn message(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn id(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ID)
    }

    pub fn flags(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::FLAGS)
    }

    /// QR: a response rather than a query.
    pub fn is_response(&self) -> bool {
        self.flags() & flag::QR != 0
    }

    pub fn opcode(&self) -> u8 {
        ((self.flags() >> flag::OPCODE_SHIFT) & flag::OPCODE_MASK) as u8
    }

    pub fn authoritative(&self) -> bool {
        self.flags() & flag::AA != 0
    }

    pub fn truncated(&self) -> bool {
        self.flags() & flag::TC != 0
    }

    pub fn recursion_desired(&self) -> bool {
        self.flags() & flag::RD != 0
    }

    pub fn recursion_available(&self) -> bool {
        self.flags() & flag::RA != 0
    }

    pub fn rcode(&self) -> Rcode {
        Rcode((self.flags() & flag::RCODE_MASK) as u8)
    }

    pub fn qdcount(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::QDCOUNT)
    }

    pub fn ancount(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ANCOUNT)
    }

    pub fn nscount(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::NSCOUNT)
    }

    pub fn arcount(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ARCOUNT)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> DnsPacket<T> {
    pub fn set_id(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::ID, v);
    }

    pub fn set_flags(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::FLAGS, v);
    }

    pub fn set_counts(&mut self, qd: u16, an: u16, ns: u16, ar: u16) {
        let b = self.buffer.as_mut();
        put_u16(b, field::QDCOUNT, qd);
        put_u16(b, field::ANCOUNT, an);
        put_u16(b, field::NSCOUNT, ns);
        put_u16(b, field::ARCOUNT, ar);
    }
}

/// Reads the name at `at` in `msg`, following compression pointers. Returns the name as text and
/// the offset just past the name *where it starts* (after its first pointer, if any).
pub fn read_name(msg: &[u8], at: usize) -> Result<(String, usize)> {
    let mut text = String::new();
    let mut pos = at;
    let mut end = None; // where the name ends in place: after the first pointer
    let mut wire_len = 1; // the root's zero byte
    let mut pointers = 0;
    loop {
        let len = *msg.get(pos).ok_or(WireError::Truncated)? as usize;
        match len & 0xc0 {
            0x00 if len == 0 => {
                return Ok((text, end.unwrap_or(pos + 1)));
            }
            0x00 => {
                let label = msg
                    .get(pos + 1..pos + 1 + len)
                    .ok_or(WireError::Truncated)?;
                wire_len += 1 + len;
                if wire_len > MAX_NAME_LEN {
                    return Err(WireError::Malformed);
                }
                if !text.is_empty() {
                    text.push('.');
                }
                push_label(&mut text, label);
                pos += 1 + len;
            }
            0xc0 => {
                let lo = *msg.get(pos + 1).ok_or(WireError::Truncated)? as usize;
                let target = ((len & 0x3f) << 8) | lo;
                pointers += 1;
                // Strictly backwards: a chain of pointers always ends, and cannot revisit a label.
                if target >= pos || pointers > MAX_POINTERS {
                    return Err(WireError::Malformed);
                }
                end.get_or_insert(pos + 2);
                pos = target;
            }
            // 0x40 and 0x80: extended label types (RFC 6891 retired them); not in a response to us.
            _ => return Err(WireError::Unsupported),
        }
    }
}

fn push_label(text: &mut String, label: &[u8]) {
    for &b in label {
        if b == b'.' || b == b'\\' || !(0x21..0x7f).contains(&b) {
            let _ = write!(text, "\\{b:03}");
        } else {
            text.push(b as char);
        }
    }
}

/// Appends `name` (text, optional trailing dot, `\DDD` and `\X` escapes) in wire form, without
/// compression. `Malformed` for an empty label, a label over 63 bytes, a name over 255 bytes or a
/// bad escape. The empty name and `.` are the root.
pub fn encode_name(name: &str, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    let name = name.strip_suffix('.').unwrap_or(name);
    if !name.is_empty() {
        let bytes = name.as_bytes();
        let mut i = 0;
        let mut label: Vec<u8> = Vec::with_capacity(MAX_LABEL_LEN);
        loop {
            let at_end = i == bytes.len();
            if at_end || bytes[i] == b'.' {
                if label.is_empty() || label.len() > MAX_LABEL_LEN {
                    out.truncate(start);
                    return Err(WireError::Malformed);
                }
                out.push(label.len() as u8);
                out.extend_from_slice(&label);
                label.clear();
                if at_end {
                    break;
                }
                i += 1;
                continue;
            }
            if bytes[i] == b'\\' {
                let digits = bytes.get(i + 1..i + 4);
                match digits {
                    Some(d) if d.iter().all(u8::is_ascii_digit) => {
                        let v = d.iter().fold(0u32, |acc, c| acc * 10 + u32::from(c - b'0'));
                        if v > 255 {
                            out.truncate(start);
                            return Err(WireError::Malformed);
                        }
                        label.push(v as u8);
                        i += 4;
                    }
                    _ => match bytes.get(i + 1) {
                        Some(&c) => {
                            label.push(c);
                            i += 2;
                        }
                        None => {
                            out.truncate(start);
                            return Err(WireError::Malformed);
                        }
                    },
                }
                continue;
            }
            label.push(bytes[i]);
            i += 1;
        }
    }
    out.push(0);
    if out.len() - start > MAX_NAME_LEN {
        out.truncate(start);
        return Err(WireError::Malformed);
    }
    Ok(())
}

/// Names compare without regard to ASCII case (RFC 4343).
pub fn names_equal(a: &str, b: &str) -> bool {
    let a = a.strip_suffix('.').unwrap_or(a);
    let b = b.strip_suffix('.').unwrap_or(b);
    a.eq_ignore_ascii_case(b)
}

/// Whether `name` is a host name as glibc's `res_hnok` checks it: labels of letters, digits,
/// hyphens and underscores, none starting with a hyphen (RFC 952, RFC 1123 §2.1).
pub fn is_host_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The name a PTR query asks about for `addr` (RFC 1035 §3.5): `4.3.2.1.in-addr.arpa`.
pub fn reverse_name(addr: Ipv4Addr) -> String {
    let [a, b, c, d] = addr.octets();
    format!("{d}.{c}.{b}.{a}.in-addr.arpa")
}

/// One entry of the question section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub name: String,
    pub qtype: Rtype,
    pub qclass: u16,
}

impl Question {
    /// A question of class IN.
    pub fn new(name: &str, qtype: Rtype) -> Question {
        Question {
            name: name.to_string(),
            qtype,
            qclass: CLASS_IN,
        }
    }

    /// Same name (ignoring case), type and class: how a response's echo is checked.
    pub fn matches(&self, other: &Question) -> bool {
        self.qtype == other.qtype
            && self.qclass == other.qclass
            && names_equal(&self.name, &other.name)
    }
}

/// The data of a resource record, for the types a stub resolver reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Cname(String),
    Ptr(String),
    /// Any other type, as raw bytes (its names, if any, are not decompressed).
    Other(Vec<u8>),
}

/// A resource record (RFC 1035 §4.1.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub rtype: Rtype,
    pub class: u16,
    pub ttl: u32,
    pub data: RData,
}

/// A whole message: header fields, questions and answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsRepr {
    pub id: u16,
    pub response: bool,
    pub opcode: u8,
    pub authoritative: bool,
    pub truncated: bool,
    pub recursion_desired: bool,
    pub recursion_available: bool,
    pub rcode: Rcode,
    pub questions: Vec<Question>,
    pub answers: Vec<Record>,
    /// The authority and additional sections' counts (their records are not parsed).
    pub nscount: u16,
    pub arcount: u16,
}

impl DnsRepr {
    /// A standard query (opcode 0) for one question, with recursion desired.
    pub fn query(id: u16, name: &str, qtype: Rtype) -> DnsRepr {
        DnsRepr {
            id,
            response: false,
            opcode: 0,
            authoritative: false,
            truncated: false,
            recursion_desired: true,
            recursion_available: false,
            rcode: Rcode::NOERROR,
            questions: vec![Question::new(name, qtype)],
            answers: Vec::new(),
            nscount: 0,
            arcount: 0,
        }
    }

    /// Parses the header, every question and every answer. The authority and additional sections
    /// are left unread, so bytes after the answers are not an error.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &DnsPacket<&T>) -> Result<DnsRepr> {
        packet.check_len()?;
        let msg = packet.message();
        let mut pos = HEADER_LEN;
        let mut questions = Vec::new();
        for _ in 0..packet.qdcount() {
            let (name, after) = read_name(msg, pos)?;
            let fixed = msg.get(after..after + 4).ok_or(WireError::Truncated)?;
            questions.push(Question {
                name,
                qtype: Rtype(get_u16(fixed, 0)),
                qclass: get_u16(fixed, 2),
            });
            pos = after + 4;
        }
        let mut answers = Vec::new();
        for _ in 0..packet.ancount() {
            let (record, after) = parse_record(msg, pos)?;
            answers.push(record);
            pos = after;
        }
        Ok(DnsRepr {
            id: packet.id(),
            response: packet.is_response(),
            opcode: packet.opcode(),
            authoritative: packet.authoritative(),
            truncated: packet.truncated(),
            recursion_desired: packet.recursion_desired(),
            recursion_available: packet.recursion_available(),
            rcode: packet.rcode(),
            questions,
            answers,
            nscount: packet.nscount(),
            arcount: packet.arcount(),
        })
    }

    /// Writes the message without name compression (what `parse` reads back). The authority and
    /// additional counts are written as zero, since their records are not kept. `Malformed` if a
    /// name cannot be encoded or a section has more than 65535 entries.
    pub fn emit(&self) -> Result<Vec<u8>> {
        let mut out = vec![0u8; HEADER_LEN];
        for q in &self.questions {
            encode_name(&q.name, &mut out)?;
            out.extend_from_slice(&q.qtype.0.to_be_bytes());
            out.extend_from_slice(&q.qclass.to_be_bytes());
        }
        for r in &self.answers {
            encode_name(&r.name, &mut out)?;
            out.extend_from_slice(&r.rtype.0.to_be_bytes());
            out.extend_from_slice(&r.class.to_be_bytes());
            out.extend_from_slice(&r.ttl.to_be_bytes());
            let mut data = Vec::new();
            match &r.data {
                RData::A(ip) => data.extend_from_slice(&ip.octets()),
                RData::Cname(n) | RData::Ptr(n) => encode_name(n, &mut data)?,
                RData::Other(bytes) => data.extend_from_slice(bytes),
            }
            let len = u16::try_from(data.len()).map_err(|_| WireError::Malformed)?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&data);
        }
        let qd = u16::try_from(self.questions.len()).map_err(|_| WireError::Malformed)?;
        let an = u16::try_from(self.answers.len()).map_err(|_| WireError::Malformed)?;
        let mut flags = u16::from(self.opcode & 0xf) << flag::OPCODE_SHIFT;
        flags |= u16::from(self.rcode.0 & 0xf);
        for (on, bit) in [
            (self.response, flag::QR),
            (self.authoritative, flag::AA),
            (self.truncated, flag::TC),
            (self.recursion_desired, flag::RD),
            (self.recursion_available, flag::RA),
        ] {
            if on {
                flags |= bit;
            }
        }
        let mut packet = DnsPacket::new_unchecked(&mut out[..]);
        packet.set_id(self.id);
        packet.set_flags(flags);
        packet.set_counts(qd, an, 0, 0);
        Ok(out)
    }

    /// Whether this is the response to `query`: same id, QR set, a standard query, and the question
    /// echoed (RFC 1035 §7.3, and RFC 5452 §9.1 for the question).
    pub fn answers_query(&self, query: &DnsRepr) -> bool {
        self.response
            && self.id == query.id
            && self.opcode == 0
            && self.questions.len() == 1
            && query.questions.len() == 1
            && self.questions[0].matches(&query.questions[0])
    }

    /// Follows the CNAME chain from `name` within the answer section and returns the name at its
    /// end (the canonical name) and the records of type `rtype` owned by it, in order. The chain is
    /// at most as long as the answer section, so a CNAME loop ends.
    pub fn follow(&self, name: &str, rtype: Rtype) -> (String, Vec<&RData>) {
        let (current, _) = self.walk_cnames(name, rtype);
        let found = self
            .answers
            .iter()
            .filter(|r| r.rtype == rtype && r.class == CLASS_IN && names_equal(&r.name, &current))
            .map(|r| &r.data)
            .collect();
        (current, found)
    }

    /// The owner names of the CNAME records followed from `name`, in order (the name asked, as
    /// the answer spells it, first), each once and only if it is a host name (glibc's
    /// `getanswer_r` keeps those that pass `res_hnok`): what `gethostbyname` lists as the aliases
    /// of the canonical name.
    pub fn cname_aliases(&self, name: &str) -> Vec<String> {
        let mut aliases: Vec<String> = Vec::new();
        for owner in self.walk_cnames(name, Rtype::A).1 {
            if is_host_name(&owner) && !aliases.iter().any(|a| names_equal(a, &owner)) {
                aliases.push(owner);
            }
        }
        aliases
    }

    /// The end of the CNAME chain from `name` (none followed when asking for CNAMEs), and the
    /// owner names of the records followed.
    fn walk_cnames(&self, name: &str, rtype: Rtype) -> (String, Vec<String>) {
        let mut current = name.strip_suffix('.').unwrap_or(name).to_string();
        let mut owners: Vec<String> = Vec::new();
        for _ in 0..=self.answers.len() {
            // Back at a name already passed (a CNAME loop): the chain ends here, where glibc's
            // reading of the records in order ends too.
            if owners.iter().any(|o| names_equal(o, &current)) {
                break;
            }
            let next = self.answers.iter().find_map(|r| match &r.data {
                RData::Cname(target)
                    if r.rtype == Rtype::CNAME
                        && r.class == CLASS_IN
                        && names_equal(&r.name, &current) =>
                {
                    Some((r.name.clone(), target.clone()))
                }
                _ => None,
            });
            match next {
                Some((owner, target)) if rtype != Rtype::CNAME => {
                    owners.push(owner.strip_suffix('.').unwrap_or(&owner).to_string());
                    current = target;
                }
                _ => break,
            }
        }
        (current, owners)
    }

    /// The IPv4 addresses of `name` in the answers, through any CNAME chain, and its canonical name.
    pub fn addresses(&self, name: &str) -> (String, Vec<Ipv4Addr>) {
        let (canonical, data) = self.follow(name, Rtype::A);
        let addrs = data
            .into_iter()
            .filter_map(|d| match d {
                RData::A(ip) => Some(*ip),
                _ => None,
            })
            .collect();
        (canonical, addrs)
    }

    /// The names a PTR answer gives for `name` (through CNAMEs: RFC 2317 delegation uses them).
    pub fn ptr_names(&self, name: &str) -> Vec<String> {
        let (_, data) = self.follow(name, Rtype::PTR);
        data.into_iter()
            .filter_map(|d| match d {
                RData::Ptr(n) => Some(n.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Parses the resource record at `at`; returns it and the offset after it.
fn parse_record(msg: &[u8], at: usize) -> Result<(Record, usize)> {
    let (name, after) = read_name(msg, at)?;
    let fixed = msg.get(after..after + 10).ok_or(WireError::Truncated)?;
    let rtype = Rtype(get_u16(fixed, 0));
    let class = get_u16(fixed, 2);
    let ttl = get_u32(fixed, 4);
    let rdlen = get_u16(fixed, 8) as usize;
    let start = after + 10;
    let end = start + rdlen;
    let rdata = msg.get(start..end).ok_or(WireError::Truncated)?;
    let data = match rtype {
        Rtype::A if class == CLASS_IN => {
            if rdlen != 4 {
                return Err(WireError::Malformed);
            }
            RData::A(get_ipv4(rdata, 0))
        }
        Rtype::CNAME | Rtype::PTR => {
            // The name may point anywhere before it, but must fill the data exactly.
            let (target, name_end) = read_name(&msg[..end], start)?;
            if name_end != end {
                return Err(WireError::Malformed);
            }
            if rtype == Rtype::CNAME {
                RData::Cname(target)
            } else {
                RData::Ptr(target)
            }
        }
        _ => RData::Other(rdata.to_vec()),
    };
    Ok((
        Record {
            name,
            rtype,
            class,
            ttl,
            data,
        },
        end,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_names_as_res_hnok_sees_them() {
        for good in ["a", "web.example.test", "a-b.c_d.", "1.2.3.in-addr.arpa"] {
            assert!(super::is_host_name(good), "{good}");
        }
        for bad in [
            "",
            ".",
            "-a.test",
            "a..b",
            "a b.test",
            "a\\032b.test",
            "é.test",
        ] {
            assert!(!super::is_host_name(bad), "{bad}");
        }
    }

    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // DNS messages captured from dnsmasq 2.90 (`--no-resolv --no-hosts --local=/test/
    // --address=/example.test/10.77.0.50 --host-record=host.tapstack.test,10.77.0.51
    // --cname=www.tapstack.test,mid.tapstack.test --cname=mid.tapstack.test,host.tapstack.test`)
    // in one network namespace, queried over a veth pair from another by a Python client, and
    // recorded with `tcpdump -xx`. These are the UDP payloads.

    /// Query id 0x1111, RD, A? example.test.
    const Q_EXAMPLE: &str = "111101000001000000000000076578616d706c6504746573740000010001";
    /// Its answer: AA RD RA, 1 answer: example.test A 10.77.0.50, owner name a pointer to the question.
    const R_EXAMPLE: &str =
        "111185800001000100000000076578616d706c6504746573740000010001c00c000100010000000000040a4d0032";
    /// A? www.tapstack.test: CNAME mid.tapstack.test, CNAME host.tapstack.test, A 10.77.0.51.
    const R_CNAME_CHAIN: &str = "2222858000010003000000000377777708746170737461636b04746573740000010001c00c00050001000000000013036d696408746170737461636b047465737400c02f0005000100000000001404686f737408746170737461636b047465737400c04e000100010000000000040a4d0033";
    /// A? nope.test: NXDOMAIN.
    const R_NXDOMAIN: &str = "333381830001000000000000046e6f706504746573740000010001";
    /// AAAA? example.test: dnsmasq's `--address` holds only IPv4, and it answers NXDOMAIN.
    const R_AAAA_NX: &str = "444481830001000000000000076578616d706c65047465737400001c0001";
    /// PTR? 51.0.77.10.in-addr.arpa: host.tapstack.test.
    const R_PTR: &str = "555585800001000100000000023531013002373702313007696e2d61646472046172706100000c0001c00c000c000100000000001404686f737408746170737461636b047465737400";

    fn parse(bytes: &[u8]) -> Result<DnsRepr> {
        DnsRepr::parse(&DnsPacket::new_unchecked(bytes))
    }

    #[test]
    fn query_is_byte_for_byte_what_a_client_sends() {
        let q = DnsRepr::query(0x1111, "example.test", Rtype::A);
        assert_eq!(q.emit().unwrap(), hex(Q_EXAMPLE));
        assert_eq!(parse(&hex(Q_EXAMPLE)).unwrap(), q);
        // A trailing dot is the same name.
        let q2 = DnsRepr::query(0x1111, "example.test.", Rtype::A);
        assert_eq!(q2.emit().unwrap(), hex(Q_EXAMPLE));
    }

    #[test]
    fn captured_a_answer() {
        let bytes = hex(R_EXAMPLE);
        let packet = DnsPacket::new_checked(&bytes[..]).unwrap();
        assert!(packet.is_response() && packet.authoritative() && packet.recursion_available());
        assert_eq!((packet.qdcount(), packet.ancount()), (1, 1));
        let r = parse(&bytes).unwrap();
        assert_eq!(r.rcode, Rcode::NOERROR);
        let q = DnsRepr::query(0x1111, "EXAMPLE.test", Rtype::A);
        assert!(r.answers_query(&q));
        assert!(!r.answers_query(&DnsRepr::query(0x1112, "example.test", Rtype::A)));
        assert!(!r.answers_query(&DnsRepr::query(0x1111, "example.tes", Rtype::A)));
        assert!(!r.answers_query(&DnsRepr::query(0x1111, "example.test", Rtype::PTR)));
        assert!(!q.answers_query(&q), "a query is not a response");
        assert_eq!(
            r.addresses("example.test"),
            (
                "example.test".to_string(),
                vec![Ipv4Addr::new(10, 77, 0, 50)]
            )
        );
        assert_eq!(r.answers[0].ttl, 0);
        // Round trip: emitted uncompressed, parsed back the same.
        assert_eq!(parse(&r.emit().unwrap()).unwrap(), r);
    }

    #[test]
    fn captured_cname_chain() {
        let r = parse(&hex(R_CNAME_CHAIN)).unwrap();
        assert_eq!(r.answers.len(), 3);
        assert_eq!(
            r.answers[1].data,
            RData::Cname("host.tapstack.test".to_string())
        );
        assert_eq!(
            r.addresses("www.tapstack.test"),
            (
                "host.tapstack.test".to_string(),
                vec![Ipv4Addr::new(10, 77, 0, 51)]
            )
        );
        // Starting in the middle of the chain works; an unrelated name finds nothing.
        assert_eq!(r.addresses("mid.tapstack.test").1.len(), 1);
        assert!(r.addresses("other.test").1.is_empty());
        assert_eq!(parse(&r.emit().unwrap()).unwrap(), r);
    }

    #[test]
    fn captured_negative_answers() {
        let r = parse(&hex(R_NXDOMAIN)).unwrap();
        assert_eq!(r.rcode, Rcode::NXDOMAIN);
        assert!(r.answers_query(&DnsRepr::query(0x3333, "nope.test", Rtype::A)));
        let r = parse(&hex(R_AAAA_NX)).unwrap();
        assert_eq!(r.questions[0].qtype, Rtype::AAAA);
        assert!(r.addresses("example.test").1.is_empty());
    }

    #[test]
    fn captured_ptr() {
        let r = parse(&hex(R_PTR)).unwrap();
        let name = reverse_name(Ipv4Addr::new(10, 77, 0, 51));
        assert_eq!(name, "51.0.77.10.in-addr.arpa");
        assert!(r.answers_query(&DnsRepr::query(0x5555, &name, Rtype::PTR)));
        assert_eq!(r.ptr_names(&name), vec!["host.tapstack.test".to_string()]);
        assert_eq!(parse(&r.emit().unwrap()).unwrap(), r);
    }

    #[test]
    fn every_truncation_fails_cleanly() {
        for capture in [R_EXAMPLE, R_CNAME_CHAIN, R_NXDOMAIN, R_PTR, Q_EXAMPLE] {
            let bytes = hex(capture);
            for len in 0..bytes.len() {
                assert!(
                    parse(&bytes[..len]).is_err(),
                    "{capture} cut to {len} parsed"
                );
            }
            assert!(DnsPacket::new_checked(&bytes[..11]).is_err());
        }
    }

    #[test]
    fn pointer_loops_and_forward_pointers_are_refused() {
        let mut msg = hex(Q_EXAMPLE);
        let base = msg.len();
        // A name that points at itself.
        msg.extend_from_slice(&[0xc0, base as u8]);
        assert_eq!(read_name(&msg, base), Err(WireError::Malformed));
        // Two pointers pointing at each other: the second is forwards.
        let mut m2 = hex(Q_EXAMPLE);
        let b = m2.len();
        m2.extend_from_slice(&[0xc0, (b + 2) as u8, 0xc0, b as u8]);
        assert_eq!(read_name(&m2, b), Err(WireError::Malformed));
        assert_eq!(read_name(&m2, b + 2), Err(WireError::Malformed));
        // A label then a pointer back to that label: a loop through a label.
        let mut m3 = hex(Q_EXAMPLE);
        let b = m3.len();
        m3.extend_from_slice(&[1, b'a', 0xc0, b as u8]);
        assert_eq!(read_name(&m3, b), Err(WireError::Malformed));
        // A pointer past the end.
        let mut m4 = hex(Q_EXAMPLE);
        m4.extend_from_slice(&[0xff, 0xff]);
        assert!(read_name(&m4, m4.len() - 2).is_err());
        // Reserved label types.
        assert_eq!(read_name(&[0x40, 0], 0), Err(WireError::Unsupported));
        // A long chain of backward pointers is cut off.
        let mut m5 = vec![0u8; HEADER_LEN];
        m5.push(0);
        for i in 0..200usize {
            let prev = m5.len() - if i == 0 { 1 } else { 2 };
            m5.extend_from_slice(&[0xc0 | (prev >> 8) as u8, prev as u8]);
        }
        assert_eq!(read_name(&m5, m5.len() - 2), Err(WireError::Malformed));
        assert_eq!(
            read_name(&m5, HEADER_LEN + 1),
            Ok((String::new(), HEADER_LEN + 3))
        );
    }

    #[test]
    fn names_over_255_bytes_are_refused() {
        // 4 labels of 63 = 256 bytes with lengths, + root: too long, both ways.
        let label = "a".repeat(63);
        let long = [label.as_str(); 4].join(".");
        assert_eq!(
            encode_name(&long, &mut Vec::new()),
            Err(WireError::Malformed)
        );
        let ok = [label.as_str(), &label, &label, &"b".repeat(61)].join(".");
        let mut wire = Vec::new();
        encode_name(&ok, &mut wire).unwrap();
        assert_eq!(wire.len(), 255);
        assert_eq!(read_name(&wire, 0).unwrap().0, ok);
        let mut too_long = Vec::new();
        for _ in 0..4 {
            too_long.push(63);
            too_long.extend_from_slice(label.as_bytes());
        }
        too_long.push(0);
        assert_eq!(read_name(&too_long, 0), Err(WireError::Malformed));
        for bad in ["a..b", ".a", &"x".repeat(64), "a\\", "a\\300"] {
            assert!(encode_name(bad, &mut Vec::new()).is_err(), "{bad}");
        }
        let mut root = Vec::new();
        encode_name(".", &mut root).unwrap();
        assert_eq!(root, [0]);
    }

    #[test]
    fn odd_bytes_in_labels_round_trip_as_escapes() {
        let wire = [3, b'a', b'.', 0x07, 1, b'\\', 0];
        let (text, end) = read_name(&wire, 0).unwrap();
        assert_eq!(text, "a\\046\\007.\\092");
        assert_eq!(end, wire.len());
        let mut back = Vec::new();
        encode_name(&text, &mut back).unwrap();
        assert_eq!(back, wire);
    }

    #[test]
    fn bad_records_are_refused() {
        // An A record with 3 bytes of data.
        let mut r = parse(&hex(R_EXAMPLE)).unwrap();
        r.answers[0].data = RData::Other(vec![10, 77, 0]);
        r.answers[0].rtype = Rtype::A;
        let bytes = r.emit().unwrap();
        assert_eq!(parse(&bytes), Err(WireError::Malformed));
        // A CNAME whose name does not fill its data.
        let mut r = parse(&hex(R_EXAMPLE)).unwrap();
        r.answers[0].rtype = Rtype::CNAME;
        r.answers[0].data = RData::Other(vec![1, b'a', 0, 0]);
        assert_eq!(parse(&r.emit().unwrap()), Err(WireError::Malformed));
        // A CNAME whose name runs past its data.
        r.answers[0].data = RData::Other(vec![1, b'a']);
        let mut bytes = r.emit().unwrap();
        bytes.push(0);
        assert!(parse(&bytes).is_err());
    }

    #[test]
    fn cname_loops_end() {
        let mut r = DnsRepr::query(1, "a.test", Rtype::A);
        r.response = true;
        for (from, to) in [("a.test", "b.test"), ("b.test", "a.test")] {
            r.answers.push(Record {
                name: from.into(),
                rtype: Rtype::CNAME,
                class: CLASS_IN,
                ttl: 1,
                data: RData::Cname(to.into()),
            });
        }
        let r = parse(&r.emit().unwrap()).unwrap();
        assert!(r.addresses("a.test").1.is_empty());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = crate::rand::Rng::new(7);
        let base = hex(R_CNAME_CHAIN);
        for _ in 0..20_000 {
            let mut m = base.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(m.len() as u64) as usize;
                m[at] = rng.next_u32() as u8;
            }
            let cut = rng.below(m.len() as u64 + 1) as usize;
            if let Ok(r) = parse(&m[..cut]) {
                let _ = r.addresses("www.tapstack.test");
            }
        }
    }
}
