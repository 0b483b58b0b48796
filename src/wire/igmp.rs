//! IGMP messages (IP protocol 2): how a host tells the routers of its link which multicast groups
//! it wants, versions 1 (RFC 1112 appendix I), 2 (RFC 2236) and 3 (RFC 3376).
//!
//! [`IgmpPacket`] reads the fixed eight bytes every version shares (type, Max Resp Code,
//! checksum, group) and the longer forms' fields in place; [`IgmpRepr`] is the meaning: a query
//! (its version told by its length and Max Resp Code, RFC 3376 §7.1), a v1 or v2 report, a v2
//! leave, or a v3 report with its group records. The checksum covers the whole IGMP message
//! (RFC 2236 §2.3), with no pseudo-header. The group-membership logic is [`crate::igmp`]'s.

use std::net::Ipv4Addr;

use super::checksum;
use super::{ChecksumMode, Result, WireError};

/// Membership Query (all versions), RFC 3376 §4.1.
pub const TYPE_QUERY: u8 = 0x11;
/// Version 1 Membership Report (RFC 1112).
pub const TYPE_V1_REPORT: u8 = 0x12;
/// Version 2 Membership Report (RFC 2236 §2.1).
pub const TYPE_V2_REPORT: u8 = 0x16;
/// Leave Group (RFC 2236 §2.1).
pub const TYPE_LEAVE: u8 = 0x17;
/// Version 3 Membership Report (RFC 3376 §4.2).
pub const TYPE_V3_REPORT: u8 = 0x22;

/// The length of every v1/v2 message, and of a v3 report's header.
pub const HEADER_LEN: usize = 8;
/// A v3 query without sources (RFC 3376 §4.1).
pub const V3_QUERY_LEN: usize = 12;
/// A v3 group record without sources or auxiliary data (RFC 3376 §4.2.4).
const RECORD_HEADER_LEN: usize = 8;

mod field {
    pub const TYPE: usize = 0;
    pub const MAX_RESP: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const GROUP: usize = 4;
    /// v3 query: Resv | S | QRV, then QQIC, then the number of sources.
    pub const S_QRV: usize = 8;
    pub const QQIC: usize = 9;
    pub const QUERY_SOURCES: usize = 10;
    /// v3 report: the number of group records.
    pub const RECORDS: usize = 6;
}

/// A view of an IGMP message.
#[derive(Debug, Clone)]
pub struct IgmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IgmpPacket<T> {
    pub const fn new_unchecked(buffer: T) -> IgmpPacket<T> {
        IgmpPacket { buffer }
    }

    /// A view after checking the buffer holds the eight bytes every message has.
    pub fn new_checked(buffer: T) -> Result<IgmpPacket<T>> {
        let p = IgmpPacket { buffer };
        if p.buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(p)
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Max Resp Code of a query (unused, zero, in reports).
    pub fn max_resp_code(&self) -> u8 {
        self.buffer.as_ref()[field::MAX_RESP]
    }

    pub fn checksum(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::CHECKSUM], b[field::CHECKSUM + 1]])
    }

    pub fn group(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(
            b[field::GROUP],
            b[field::GROUP + 1],
            b[field::GROUP + 2],
            b[field::GROUP + 3],
        )
    }

    /// The whole message sums to zero (RFC 2236 §2.3).
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.buffer.as_ref()) == 0
    }

    pub fn len(&self) -> usize {
        self.buffer.as_ref().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IgmpPacket<T> {
    /// Computes the checksum over the whole buffer and writes it.
    pub fn fill_checksum(&mut self) {
        let b = self.buffer.as_mut();
        b[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&[0, 0]);
        let sum = checksum::checksum(b);
        b[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&sum.to_be_bytes());
    }
}

/// A query's version, from its form (RFC 3376 §7.1): 8 bytes with Max Resp Code 0 is a v1 query,
/// 8 bytes otherwise a v2 one, 12 bytes or more a v3 one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryVersion {
    V1,
    V2,
    V3 {
        /// S: routers suppress their timer updates (RFC 3376 §4.1.5).
        suppress: bool,
        /// Querier's Robustness Variable (§4.1.6).
        qrv: u8,
        /// Querier's Query Interval Code (§4.1.7).
        qqic: u8,
        sources: Vec<Ipv4Addr>,
    },
}

/// A v3 group record's type (RFC 3376 §4.2.12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordType(pub u8);

impl RecordType {
    pub const MODE_IS_INCLUDE: RecordType = RecordType(1);
    pub const MODE_IS_EXCLUDE: RecordType = RecordType(2);
    pub const CHANGE_TO_INCLUDE: RecordType = RecordType(3);
    pub const CHANGE_TO_EXCLUDE: RecordType = RecordType(4);
    pub const ALLOW_NEW_SOURCES: RecordType = RecordType(5);
    pub const BLOCK_OLD_SOURCES: RecordType = RecordType(6);
}

/// One group record of a v3 report; auxiliary data is skipped when parsed and never sent (RFC
/// 3376 §4.2.10: IGMPv3 defines none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRecord {
    pub kind: RecordType,
    pub group: Ipv4Addr,
    pub sources: Vec<Ipv4Addr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IgmpRepr {
    Query {
        max_resp_code: u8,
        /// 0.0.0.0 for a general query, the group for a group-specific one.
        group: Ipv4Addr,
        version: QueryVersion,
    },
    V1Report {
        group: Ipv4Addr,
    },
    V2Report {
        group: Ipv4Addr,
    },
    Leave {
        group: Ipv4Addr,
    },
    V3Report {
        records: Vec<GroupRecord>,
    },
}

fn addr_at(b: &[u8], at: usize) -> Result<Ipv4Addr> {
    let a = b.get(at..at + 4).ok_or(WireError::Truncated)?;
    Ok(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
}

fn u16_at(b: &[u8], at: usize) -> Result<u16> {
    let a = b.get(at..at + 2).ok_or(WireError::Truncated)?;
    Ok(u16::from_be_bytes([a[0], a[1]]))
}

fn addrs_at(b: &[u8], at: usize, n: usize) -> Result<Vec<Ipv4Addr>> {
    (0..n).map(|i| addr_at(b, at + 4 * i)).collect()
}

impl IgmpRepr {
    /// Parses a message, checking its checksum as `checksum` says.
    pub fn parse<T: AsRef<[u8]>>(p: &IgmpPacket<T>, checksum: ChecksumMode) -> Result<IgmpRepr> {
        let b = p.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if checksum == ChecksumMode::Full && !p.verify_checksum() {
            return Err(WireError::Checksum);
        }
        let group = p.group();
        Ok(match p.msg_type() {
            TYPE_QUERY => {
                let version = if b.len() >= V3_QUERY_LEN {
                    let n = usize::from(u16_at(b, field::QUERY_SOURCES)?);
                    QueryVersion::V3 {
                        suppress: b[field::S_QRV] & 0x08 != 0,
                        qrv: b[field::S_QRV] & 0x07,
                        qqic: b[field::QQIC],
                        sources: addrs_at(b, V3_QUERY_LEN, n)?,
                    }
                } else if b.len() > HEADER_LEN {
                    // RFC 3376 §7.1: a query of 9 to 11 bytes is to be ignored.
                    return Err(WireError::Malformed);
                } else if p.max_resp_code() == 0 {
                    QueryVersion::V1
                } else {
                    QueryVersion::V2
                };
                IgmpRepr::Query {
                    max_resp_code: p.max_resp_code(),
                    group,
                    version,
                }
            }
            TYPE_V1_REPORT => IgmpRepr::V1Report { group },
            TYPE_V2_REPORT => IgmpRepr::V2Report { group },
            TYPE_LEAVE => IgmpRepr::Leave { group },
            TYPE_V3_REPORT => {
                let n = usize::from(u16_at(b, field::RECORDS)?);
                let mut at = HEADER_LEN;
                let mut records = Vec::new();
                for _ in 0..n {
                    let head = b
                        .get(at..at + RECORD_HEADER_LEN)
                        .ok_or(WireError::Truncated)?;
                    let aux_words = usize::from(head[1]);
                    let sources = usize::from(u16::from_be_bytes([head[2], head[3]]));
                    records.push(GroupRecord {
                        kind: RecordType(head[0]),
                        group: addr_at(b, at + 4)?,
                        sources: addrs_at(b, at + RECORD_HEADER_LEN, sources)?,
                    });
                    at += RECORD_HEADER_LEN + 4 * sources + 4 * aux_words;
                    if at > b.len() {
                        return Err(WireError::Truncated);
                    }
                }
                IgmpRepr::V3Report { records }
            }
            _ => return Err(WireError::Unsupported),
        })
    }

    pub fn buffer_len(&self) -> usize {
        match self {
            IgmpRepr::Query {
                version: QueryVersion::V3 { sources, .. },
                ..
            } => V3_QUERY_LEN + 4 * sources.len(),
            IgmpRepr::V3Report { records } => {
                HEADER_LEN
                    + records
                        .iter()
                        .map(|r| RECORD_HEADER_LEN + 4 * r.sources.len())
                        .sum::<usize>()
            }
            _ => HEADER_LEN,
        }
    }

    /// Writes the message into the first [`buffer_len`](Self::buffer_len) bytes of `p`'s buffer,
    /// checksum included (IGMP is never offloaded: a device's checksum help is for TCP and UDP).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut IgmpPacket<T>) {
        let len = self.buffer_len();
        let b = &mut p.buffer.as_mut()[..len];
        b.fill(0);
        let put_addr = |b: &mut [u8], at: usize, a: Ipv4Addr| {
            b[at..at + 4].copy_from_slice(&a.octets());
        };
        match self {
            IgmpRepr::Query {
                max_resp_code,
                group,
                version,
            } => {
                b[field::TYPE] = TYPE_QUERY;
                b[field::MAX_RESP] = *max_resp_code;
                put_addr(b, field::GROUP, *group);
                if let QueryVersion::V3 {
                    suppress,
                    qrv,
                    qqic,
                    sources,
                } = version
                {
                    b[field::S_QRV] = (u8::from(*suppress) << 3) | (qrv & 0x07);
                    b[field::QQIC] = *qqic;
                    b[field::QUERY_SOURCES..field::QUERY_SOURCES + 2]
                        .copy_from_slice(&(sources.len() as u16).to_be_bytes());
                    for (i, s) in sources.iter().enumerate() {
                        put_addr(b, V3_QUERY_LEN + 4 * i, *s);
                    }
                }
            }
            IgmpRepr::V1Report { group }
            | IgmpRepr::V2Report { group }
            | IgmpRepr::Leave { group } => {
                b[field::TYPE] = match self {
                    IgmpRepr::V1Report { .. } => TYPE_V1_REPORT,
                    IgmpRepr::V2Report { .. } => TYPE_V2_REPORT,
                    _ => TYPE_LEAVE,
                };
                put_addr(b, field::GROUP, *group);
            }
            IgmpRepr::V3Report { records } => {
                b[field::TYPE] = TYPE_V3_REPORT;
                b[field::RECORDS..field::RECORDS + 2]
                    .copy_from_slice(&(records.len() as u16).to_be_bytes());
                let mut at = HEADER_LEN;
                for r in records {
                    b[at] = r.kind.0;
                    b[at + 2..at + 4].copy_from_slice(&(r.sources.len() as u16).to_be_bytes());
                    put_addr(b, at + 4, r.group);
                    for (i, s) in r.sources.iter().enumerate() {
                        put_addr(b, at + RECORD_HEADER_LEN + 4 * i, *s);
                    }
                    at += RECORD_HEADER_LEN + 4 * r.sources.len();
                }
            }
        }
        IgmpPacket::new_unchecked(b).fill_checksum();
    }
}

/// A Max Resp Code as tenths of a second: v1 queries have none and mean 10 s (RFC 2236 §4); v3
/// codes of 128 and up are a floating-point form (RFC 3376 §4.1.1).
pub fn max_resp_tenths(code: u8, version: &QueryVersion) -> u32 {
    match version {
        QueryVersion::V1 => 100,
        QueryVersion::V2 => u32::from(code),
        QueryVersion::V3 { .. } if code < 128 => u32::from(code),
        QueryVersion::V3 { .. } => {
            let mant = u32::from(code & 0x0f);
            let exp = u32::from((code >> 4) & 0x07);
            (mant | 0x10) << (exp + 3)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};
    use crate::wire::testdata;

    /// The IP packet of a captured Ethernet frame, its header and the IGMP bytes.
    fn ip_of(frame: &[u8]) -> (Ipv4Repr, Vec<u8>, Vec<u8>) {
        let ip = Ipv4Packet::new_checked(&frame[14..]).unwrap();
        let repr = Ipv4Repr::parse(&ip, ChecksumMode::Full).unwrap();
        assert_eq!(repr.protocol, IpProtocol(2));
        (repr, ip.options().to_vec(), ip.payload().to_vec())
    }

    fn round_trip(bytes: &[u8]) -> IgmpRepr {
        let repr =
            IgmpRepr::parse(&IgmpPacket::new_checked(bytes).unwrap(), ChecksumMode::Full).unwrap();
        assert_eq!(repr.buffer_len(), bytes.len());
        let mut out = vec![0xaa; bytes.len()];
        repr.emit(&mut IgmpPacket::new_unchecked(&mut out[..]));
        assert_eq!(out, bytes);
        repr
    }

    #[test]
    fn v3_reports_of_the_kernel() {
        let (ip, options, igmp) = ip_of(&testdata::IGMPV3_REPORT_JOIN);
        // Linux's igmpv3_newpack: TTL 1, TOS 0xc0, DF, Router Alert (RFC 2113), to 224.0.0.22.
        assert_eq!((ip.ttl, ip.tos, ip.dont_frag), (1, 0xc0, true));
        assert_eq!(options, [0x94, 0x04, 0x00, 0x00]);
        assert_eq!(ip.dst_addr, Ipv4Addr::new(224, 0, 0, 22));
        let group = Ipv4Addr::new(239, 1, 1, 1);
        let record = |kind| IgmpRepr::V3Report {
            records: vec![GroupRecord {
                kind,
                group,
                sources: vec![],
            }],
        };
        assert_eq!(round_trip(&igmp), record(RecordType::CHANGE_TO_EXCLUDE));
        let (_, _, igmp) = ip_of(&testdata::IGMPV3_REPORT_LEAVE);
        assert_eq!(round_trip(&igmp), record(RecordType::CHANGE_TO_INCLUDE));
        let (_, _, igmp) = ip_of(&testdata::IGMPV3_REPORT_CURRENT);
        assert_eq!(round_trip(&igmp), record(RecordType::MODE_IS_EXCLUDE));
    }

    #[test]
    fn queries() {
        let (_, _, igmp) = ip_of(&testdata::IGMPV3_QUERY);
        let q = round_trip(&igmp);
        let version = QueryVersion::V3 {
            suppress: false,
            qrv: 2,
            qqic: 125,
            sources: vec![],
        };
        assert_eq!(
            q,
            IgmpRepr::Query {
                max_resp_code: 10,
                group: Ipv4Addr::UNSPECIFIED,
                version: version.clone(),
            }
        );
        assert_eq!(max_resp_tenths(10, &version), 10);
        // RFC 3376 §4.1.1's floating point: 0x80 | exp 1 | mant 2 = (0x12) << 4.
        assert_eq!(max_resp_tenths(0x92, &version), 0x12 << 4);
        let (_, _, igmp) = ip_of(&testdata::IGMPV2_QUERY);
        assert_eq!(
            round_trip(&igmp),
            IgmpRepr::Query {
                max_resp_code: 10,
                group: Ipv4Addr::UNSPECIFIED,
                version: QueryVersion::V2,
            }
        );
        assert_eq!(max_resp_tenths(0, &QueryVersion::V1), 100);
        // A group-specific v3 query with sources goes both ways too.
        let q = IgmpRepr::Query {
            max_resp_code: 0x85,
            group: Ipv4Addr::new(239, 1, 1, 1),
            version: QueryVersion::V3 {
                suppress: true,
                qrv: 7,
                qqic: 60,
                sources: vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)],
            },
        };
        let mut b = vec![0; q.buffer_len()];
        q.emit(&mut IgmpPacket::new_unchecked(&mut b[..]));
        assert_eq!(round_trip(&b), q);
    }

    #[test]
    fn v2_report_and_leave_of_the_kernel() {
        let group = Ipv4Addr::new(239, 1, 1, 1);
        let (ip, options, igmp) = ip_of(&testdata::IGMPV2_REPORT);
        assert_eq!((ip.ttl, ip.dst_addr), (1, group));
        assert_eq!(options, [0x94, 0x04, 0x00, 0x00]);
        assert_eq!(round_trip(&igmp), IgmpRepr::V2Report { group });
        let (ip, _, igmp) = ip_of(&testdata::IGMPV2_LEAVE);
        assert_eq!(ip.dst_addr, Ipv4Addr::new(224, 0, 0, 2));
        assert_eq!(round_trip(&igmp), IgmpRepr::Leave { group });
    }

    #[test]
    fn bad_input_is_an_error() {
        let (_, _, mut igmp) = ip_of(&testdata::IGMPV3_REPORT_JOIN);
        igmp[3] ^= 1;
        let p = IgmpPacket::new_checked(&igmp[..]).unwrap();
        assert_eq!(
            IgmpRepr::parse(&p, ChecksumMode::Full),
            Err(WireError::Checksum)
        );
        // A record count beyond the bytes.
        let mut short = [0u8; 8];
        short[0] = TYPE_V3_REPORT;
        short[7] = 3;
        IgmpPacket::new_unchecked(&mut short[..]).fill_checksum();
        let p = IgmpPacket::new_checked(&short[..]).unwrap();
        assert_eq!(
            IgmpRepr::parse(&p, ChecksumMode::Full),
            Err(WireError::Truncated)
        );
        assert!(IgmpPacket::new_checked(&[0x11u8, 0, 0][..]).is_err());
        let mut ten = [0x11u8, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        IgmpPacket::new_unchecked(&mut ten[..]).fill_checksum();
        let p = IgmpPacket::new_checked(&ten[..]).unwrap();
        assert_eq!(
            IgmpRepr::parse(&p, ChecksumMode::Full),
            Err(WireError::Malformed)
        );
    }
}
