//! ICMPv4 (RFC 792): IPv4's control messages, carried in IPv4 (protocol 1). The stack answers
//! echo and timestamp requests and sends and receives the errors that concern its sockets:
//! destination unreachable (with RFC 1191's next-hop MTU for path MTU discovery) and time
//! exceeded.
//!
//! Every message has a 4-byte header (type, code, checksum over the whole message), 4 bytes whose
//! meaning depends on the type, and data. An error's data quotes the IP header and at least the
//! first 8 payload bytes of the datagram that caused it (RFC 792; RFC 1812 §4.3.2.3 allows more),
//! which is how it is matched to a socket.

use core::fmt;

use super::checksum;
use super::ipv4::{self, Ipv4Packet, Ipv4Repr};
use super::{get_u16, put_u16, ChecksumMode, Result, WireError};

/// Type, code, checksum and the 4 type-specific bytes.
pub const HEADER_LEN: usize = 8;

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const ECHO_IDENT: usize = 4;
    pub const ECHO_SEQNO: usize = 6;
    pub const NEXT_HOP_MTU: usize = 6;
}

/// The ICMP message type.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Icmpv4Type(pub u8);

impl Icmpv4Type {
    pub const ECHO_REPLY: Icmpv4Type = Icmpv4Type(0);
    pub const DST_UNREACHABLE: Icmpv4Type = Icmpv4Type(3);
    pub const ECHO_REQUEST: Icmpv4Type = Icmpv4Type(8);
    pub const TIME_EXCEEDED: Icmpv4Type = Icmpv4Type(11);
    pub const TIMESTAMP: Icmpv4Type = Icmpv4Type(13);
    pub const TIMESTAMP_REPLY: Icmpv4Type = Icmpv4Type(14);
}

impl fmt::Debug for Icmpv4Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Icmpv4Type::ECHO_REPLY => f.write_str("echo reply"),
            Icmpv4Type::DST_UNREACHABLE => f.write_str("destination unreachable"),
            Icmpv4Type::ECHO_REQUEST => f.write_str("echo request"),
            Icmpv4Type::TIME_EXCEEDED => f.write_str("time exceeded"),
            Icmpv4Type::TIMESTAMP => f.write_str("timestamp"),
            Icmpv4Type::TIMESTAMP_REPLY => f.write_str("timestamp reply"),
            Icmpv4Type(t) => write!(f, "type {t}"),
        }
    }
}

/// The code of a destination unreachable message (RFC 792, RFC 1191, RFC 1812 §5.2.7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DstUnreachable {
    /// Code 0.
    NetUnreachable,
    /// Code 1.
    HostUnreachable,
    /// Code 2.
    ProtoUnreachable,
    /// Code 3.
    PortUnreachable,
    /// Code 4: the datagram needed fragmenting but had DF set; `mtu` is the next hop's MTU
    /// (RFC 1191; zero from routers that predate it).
    FragRequired { mtu: u16 },
    /// Any other code (source route failed, administratively prohibited, ...).
    Other(u8),
}

impl DstUnreachable {
    pub fn code(self) -> u8 {
        match self {
            DstUnreachable::NetUnreachable => 0,
            DstUnreachable::HostUnreachable => 1,
            DstUnreachable::ProtoUnreachable => 2,
            DstUnreachable::PortUnreachable => 3,
            DstUnreachable::FragRequired { .. } => 4,
            DstUnreachable::Other(c) => c,
        }
    }
}

/// The code of a time exceeded message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeExceeded {
    /// Code 0: TTL reached zero in transit.
    TtlExpired,
    /// Code 1: fragment reassembly timed out.
    FragReassembly,
}

/// A view of an ICMPv4 message. The buffer must be exactly the message (the IPv4 payload), since
/// the checksum covers all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wraps a buffer without checking it; accessors panic below 8 bytes.
    pub const fn new_unchecked(buffer: T) -> Icmpv4Packet<T> {
        Icmpv4Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Icmpv4Packet<T>> {
        let packet = Icmpv4Packet::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Truncated` below the 8-byte header.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn msg_type(&self) -> Icmpv4Type {
        Icmpv4Type(self.buffer.as_ref()[field::TYPE])
    }

    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Echo request/reply identifier.
    pub fn echo_ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    /// Echo request/reply sequence number.
    pub fn echo_seq_no(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_SEQNO)
    }

    /// The next-hop MTU of a "fragmentation needed" message (RFC 1191).
    pub fn next_hop_mtu(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::NEXT_HOP_MTU)
    }

    /// Everything after the 8-byte header.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// Whether the checksum over the whole buffer verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.buffer.as_ref()) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Icmpv4Packet<&'a T> {
    /// The data with the lifetime of the underlying buffer rather than of the view.
    pub fn into_data(self) -> &'a [u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    pub fn set_msg_type(&mut self, t: Icmpv4Type) {
        self.buffer.as_mut()[field::TYPE] = t.0;
    }

    pub fn set_msg_code(&mut self, code: u8) {
        self.buffer.as_mut()[field::CODE] = code;
    }

    pub fn set_checksum(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    pub fn set_echo_ident(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::ECHO_IDENT, v);
    }

    pub fn set_echo_seq_no(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::ECHO_SEQNO, v);
    }

    pub fn set_next_hop_mtu(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::NEXT_HOP_MTU, v);
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Computes the checksum over the whole buffer and stores it.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(sum);
    }
}

/// The meaning of the ICMPv4 messages the stack handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv4Repr<'a> {
    EchoRequest {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    /// `header` is the quoted datagram's IP header (its `payload_len` is the original one, which
    /// may exceed what was quoted); `data` is every quoted byte after that header.
    DstUnreachable {
        reason: DstUnreachable,
        header: Ipv4Repr,
        data: &'a [u8],
    },
    TimeExceeded {
        reason: TimeExceeded,
        header: Ipv4Repr,
        data: &'a [u8],
    },
    /// RFC 792's timestamp request: `originate` is the asker's time of sending, the other two are
    /// zero. Linux answers a request with as little as the originate timestamp after the header
    /// (`icmp_timestamp`), so the other two parse as zero when absent.
    TimestampRequest {
        ident: u16,
        seq_no: u16,
        times: Timestamps,
    },
    TimestampReply {
        ident: u16,
        seq_no: u16,
        times: Timestamps,
    },
}

/// A timestamp message's three times: milliseconds since midnight UT, or any other count with the
/// high bit set (RFC 792).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timestamps {
    pub originate: u32,
    pub receive: u32,
    pub transmit: u32,
}

/// The three timestamps' length.
pub const TIMESTAMPS_LEN: usize = 12;

impl Timestamps {
    /// From a message's data: the originate timestamp at least (`Truncated` without it), the
    /// others zero if cut off; `whole` asks for all three.
    fn parse(data: &[u8], whole: bool) -> Result<Timestamps> {
        let need = if whole { TIMESTAMPS_LEN } else { 4 };
        if data.len() < need {
            return Err(WireError::Truncated);
        }
        let at = |i: usize| {
            data.get(i..i + 4)
                .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        Ok(Timestamps {
            originate: at(0),
            receive: at(4),
            transmit: at(8),
        })
    }

    fn emit(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.originate.to_be_bytes());
        out[4..8].copy_from_slice(&self.receive.to_be_bytes());
        out[8..12].copy_from_slice(&self.transmit.to_be_bytes());
    }
}

impl<'a> Icmpv4Repr<'a> {
    /// Parses a message. `Truncated` below 8 bytes, `Checksum` (in [`ChecksumMode::Full`]) if the
    /// checksum over the message fails, `Unsupported` for other types, `Malformed` for a code the
    /// type does not define or a bad quoted header (as [`Ipv4Repr::parse_quoted`] sees it).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Icmpv4Packet<&'a T>,
        mode: ChecksumMode,
    ) -> Result<Icmpv4Repr<'a>> {
        packet.check_len()?;
        if mode == ChecksumMode::Full && !packet.verify_checksum() {
            return Err(WireError::Checksum);
        }
        let data = packet.into_data();
        let code = packet.msg_code();
        match packet.msg_type() {
            // A request's code is not looked at: Linux's icmp_echo and icmp_timestamp answer
            // whatever it is, with code 0.
            Icmpv4Type::ECHO_REPLY | Icmpv4Type::TIMESTAMP_REPLY if code != 0 => {
                Err(WireError::Malformed)
            }
            Icmpv4Type::TIMESTAMP => Ok(Icmpv4Repr::TimestampRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                times: Timestamps::parse(data, false)?,
            }),
            Icmpv4Type::TIMESTAMP_REPLY => Ok(Icmpv4Repr::TimestampReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                times: Timestamps::parse(data, true)?,
            }),
            Icmpv4Type::ECHO_REQUEST => Ok(Icmpv4Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            Icmpv4Type::ECHO_REPLY => Ok(Icmpv4Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            Icmpv4Type::DST_UNREACHABLE => {
                let reason = match code {
                    0 => DstUnreachable::NetUnreachable,
                    1 => DstUnreachable::HostUnreachable,
                    2 => DstUnreachable::ProtoUnreachable,
                    3 => DstUnreachable::PortUnreachable,
                    4 => DstUnreachable::FragRequired {
                        mtu: packet.next_hop_mtu(),
                    },
                    c => DstUnreachable::Other(c),
                };
                let (header, data) = Ipv4Repr::parse_quoted(data)?;
                Ok(Icmpv4Repr::DstUnreachable {
                    reason,
                    header,
                    data,
                })
            }
            Icmpv4Type::TIME_EXCEEDED => {
                let reason = match code {
                    0 => TimeExceeded::TtlExpired,
                    1 => TimeExceeded::FragReassembly,
                    _ => return Err(WireError::Malformed),
                };
                let (header, data) = Ipv4Repr::parse_quoted(data)?;
                Ok(Icmpv4Repr::TimeExceeded {
                    reason,
                    header,
                    data,
                })
            }
            _ => Err(WireError::Unsupported),
        }
    }

    /// The length of the whole message.
    pub fn buffer_len(&self) -> usize {
        match self {
            Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => {
                HEADER_LEN + data.len()
            }
            Icmpv4Repr::DstUnreachable { data, .. } | Icmpv4Repr::TimeExceeded { data, .. } => {
                HEADER_LEN + ipv4::HEADER_LEN + data.len()
            }
            Icmpv4Repr::TimestampRequest { .. } | Icmpv4Repr::TimestampReply { .. } => {
                HEADER_LEN + TIMESTAMPS_LEN
            }
        }
    }

    /// The message's type and code.
    pub fn type_and_code(&self) -> (Icmpv4Type, u8) {
        match *self {
            Icmpv4Repr::EchoRequest { .. } => (Icmpv4Type::ECHO_REQUEST, 0),
            Icmpv4Repr::EchoReply { .. } => (Icmpv4Type::ECHO_REPLY, 0),
            Icmpv4Repr::DstUnreachable { reason, .. } => {
                (Icmpv4Type::DST_UNREACHABLE, reason.code())
            }
            Icmpv4Repr::TimeExceeded { reason, .. } => (
                Icmpv4Type::TIME_EXCEEDED,
                match reason {
                    TimeExceeded::TtlExpired => 0,
                    TimeExceeded::FragReassembly => 1,
                },
            ),
            Icmpv4Repr::TimestampRequest { .. } => (Icmpv4Type::TIMESTAMP, 0),
            Icmpv4Repr::TimestampReply { .. } => (Icmpv4Type::TIMESTAMP_REPLY, 0),
        }
    }

    /// Writes the whole message. An error quotes `header` (emitted as a 20-byte header with its
    /// own `payload_len` and a computed checksum, whatever `mode`) followed by `data`. The ICMP
    /// checksum is computed in [`ChecksumMode::Full`] and left zero in `Offloaded`. Options of a
    /// quoted header are not reproduced (parse skipped them), so such an error re-emits shorter.
    ///
    /// # Panics
    /// If the buffer is shorter than [`buffer_len`](Self::buffer_len).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Icmpv4Packet<T>,
        mode: ChecksumMode,
    ) {
        // Only the message's own bytes, so the checksum does not cover a longer buffer's tail.
        let len = self.buffer_len();
        let mut packet = Icmpv4Packet::new_unchecked(&mut packet.buffer.as_mut()[..len]);
        // The 4 type-specific bytes are zero unless set below (RFC 792 "unused").
        packet.buffer[4..HEADER_LEN].fill(0);
        let (msg_type, code) = self.type_and_code();
        packet.set_msg_type(msg_type);
        packet.set_msg_code(code);
        match *self {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }
            | Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
                packet.data_mut().copy_from_slice(data);
            }
            Icmpv4Repr::DstUnreachable {
                reason,
                header,
                data,
            } => {
                if let DstUnreachable::FragRequired { mtu } = reason {
                    packet.set_next_hop_mtu(mtu);
                }
                emit_quoted(packet.data_mut(), &header, data);
            }
            Icmpv4Repr::TimeExceeded { header, data, .. } => {
                emit_quoted(packet.data_mut(), &header, data);
            }
            Icmpv4Repr::TimestampRequest {
                ident,
                seq_no,
                times,
            }
            | Icmpv4Repr::TimestampReply {
                ident,
                seq_no,
                times,
            } => {
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
                times.emit(packet.data_mut());
            }
        }
        match mode {
            ChecksumMode::Full => packet.fill_checksum(),
            ChecksumMode::Offloaded => packet.set_checksum(0),
        }
    }
}

fn emit_quoted(out: &mut [u8], header: &Ipv4Repr, data: &[u8]) {
    let (head, rest) = out.split_at_mut(ipv4::HEADER_LEN);
    header.emit(&mut Ipv4Packet::new_unchecked(head), ChecksumMode::Full);
    rest.copy_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::super::testdata;
    use super::super::{EthernetFrame, IpProtocol};
    use super::*;
    use crate::rand::Rng;
    use std::net::Ipv4Addr;

    fn icmp_of(frame: &[u8]) -> &[u8] {
        let eth = EthernetFrame::new_checked(frame).unwrap();
        let ip = Ipv4Packet::new_checked(eth.into_payload()).unwrap();
        assert_eq!(ip.protocol(), IpProtocol::ICMP);
        ip.into_payload()
    }

    fn reemit(bytes: &[u8]) -> Icmpv4Repr<'_> {
        let repr = Icmpv4Repr::parse(
            &Icmpv4Packet::new_checked(bytes).unwrap(),
            ChecksumMode::Full,
        )
        .unwrap();
        assert_eq!(repr.buffer_len(), bytes.len());
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(
            &mut Icmpv4Packet::new_unchecked(&mut out),
            ChecksumMode::Full,
        );
        assert_eq!(out, bytes);
        repr
    }

    #[test]
    fn captured_echo() {
        let req = icmp_of(&testdata::ICMP_ECHO_REQUEST);
        match reemit(req) {
            Icmpv4Repr::EchoRequest {
                ident: 3481,
                seq_no: 1,
                data,
            } => {
                assert_eq!(data.len(), 56);
                // ping's pattern after its 16-byte timestamp: 0x10, 0x11, ...
                assert_eq!(&data[16..20], &[0x10, 0x11, 0x12, 0x13]);
            }
            other => panic!("{other:?}"),
        }
        let rep = icmp_of(&testdata::ICMP_ECHO_REPLY);
        match reemit(rep) {
            Icmpv4Repr::EchoReply {
                ident: 3481,
                seq_no: 1,
                data,
            } => assert_eq!(data, &req[8..]),
            other => panic!("{other:?}"),
        }
    }

    /// Parses a captured error frame through every layer, re-emits it, and expects every byte.
    fn reemit_frame(frame: &[u8]) -> (Ipv4Repr, Icmpv4Repr<'_>) {
        use super::super::EthernetRepr;
        let eth = EthernetFrame::new_checked(frame).unwrap();
        let eth_repr = EthernetRepr::parse(&eth).unwrap();
        let ip = Ipv4Packet::new_checked(eth.into_payload()).unwrap();
        let ip_repr = Ipv4Repr::parse(&ip, ChecksumMode::Full).unwrap();
        let icmp = Icmpv4Packet::new_checked(ip.into_payload()).unwrap();
        let repr = Icmpv4Repr::parse(&icmp, ChecksumMode::Full).unwrap();
        assert_eq!(ip_repr.payload_len, repr.buffer_len());

        let mut out = vec![0u8; eth_repr.buffer_len() + ip_repr.buffer_len()];
        let mut f = EthernetFrame::new_unchecked(&mut out[..]);
        eth_repr.emit(&mut f);
        let mut p = Ipv4Packet::new_unchecked(f.payload_mut());
        ip_repr.emit(&mut p, ChecksumMode::Full);
        repr.emit(
            &mut Icmpv4Packet::new_unchecked(p.payload_mut()),
            ChecksumMode::Full,
        );
        assert_eq!(out, frame);
        (ip_repr, repr)
    }

    #[test]
    fn captured_time_exceeded() {
        let (ip, repr) = reemit_frame(&testdata::ICMP_TIME_EXCEEDED);
        assert_eq!(ip.src_addr, Ipv4Addr::new(10, 77, 9, 126));
        assert_eq!(ip.tos, 0xc0); // Linux sends ICMP errors as network control
        let Icmpv4Repr::TimeExceeded {
            reason: TimeExceeded::TtlExpired,
            header,
            data,
        } = repr
        else {
            panic!("{repr:?}")
        };
        assert_eq!(header.dst_addr, Ipv4Addr::new(10, 77, 9, 130));
        assert_eq!(
            (header.ident, header.ttl, header.payload_len),
            (15824, 1, 64)
        );
        // The whole echo request is quoted: it parses as one.
        assert_eq!(data.len(), 64);
        let quoted = Icmpv4Repr::parse(
            &Icmpv4Packet::new_checked(data).unwrap(),
            ChecksumMode::Full,
        )
        .unwrap();
        assert!(matches!(
            quoted,
            Icmpv4Repr::EchoRequest {
                ident: 6060,
                seq_no: 1,
                ..
            }
        ));
    }

    #[test]
    fn captured_port_unreachable() {
        let (_, repr) = reemit_frame(&testdata::ICMP_PORT_UNREACHABLE);
        let Icmpv4Repr::DstUnreachable {
            reason: DstUnreachable::PortUnreachable,
            header,
            data,
        } = repr
        else {
            panic!("{repr:?}")
        };
        assert_eq!(header.protocol, IpProtocol::UDP);
        assert_eq!((header.ident, header.payload_len), (41306, 13));
        // The quoted UDP header: ports 58480 > 33434, length 13, then "probe".
        assert_eq!(&data[..6], &[0xe4, 0x70, 0x82, 0x9a, 0, 13]);
        assert_eq!(&data[8..], b"probe");
    }

    #[test]
    fn captured_frag_needed() {
        let (ip, repr) = reemit_frame(&testdata::ICMP_FRAG_NEEDED);
        assert_eq!(ip.payload_len, 556);
        let Icmpv4Repr::DstUnreachable {
            reason: DstUnreachable::FragRequired { mtu: 1280 },
            header,
            data,
        } = repr
        else {
            panic!("{repr:?}")
        };
        assert!(header.dont_frag);
        // The quoted datagram was 1428 bytes; only its first 548 are here.
        assert_eq!((header.payload_len, data.len()), (1408, 528));
    }

    fn quoted_header() -> Ipv4Repr {
        Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 77, 9, 1),
            dst_addr: Ipv4Addr::new(10, 77, 9, 2),
            protocol: IpProtocol::UDP,
            payload_len: 1000,
            ttl: 1,
            tos: 0,
            ident: 77,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        }
    }

    /// hping3 --icmp-ts to 127.0.0.1 and Linux 6.18's answer, captured on lo: the ICMP messages.
    #[test]
    fn captured_timestamp_query_and_linux_reply() {
        let query = [
            0x0d, 0x00, 0xc9, 0x1b, 0x02, 0x42, 0x00, 0x00, 0x04, 0x15, 0x23, 0x8d, 0, 0, 0, 0, 0,
            0, 0, 0,
        ];
        let reply = [
            0x0e, 0x00, 0x78, 0xd7, 0x02, 0x42, 0x00, 0x00, 0x04, 0x15, 0x23, 0x8d, 0x04, 0x15,
            0x23, 0x8d, 0x04, 0x15, 0x23, 0x8d,
        ];
        let at = 0x0415_238d; // 19:01:34.221 UT, in ms since midnight
        assert_eq!(
            reemit(&query),
            Icmpv4Repr::TimestampRequest {
                ident: 0x0242,
                seq_no: 0,
                times: Timestamps {
                    originate: at,
                    receive: 0,
                    transmit: 0
                }
            }
        );
        assert_eq!(
            reemit(&reply),
            Icmpv4Repr::TimestampReply {
                ident: 0x0242,
                seq_no: 0,
                times: Timestamps {
                    originate: at,
                    receive: at,
                    transmit: at
                }
            }
        );
    }

    #[test]
    fn round_trips() {
        let quoted = [0xd3, 0xa1, 0x27, 0x0f, 0x03, 0xf0, 0x12, 0x34, 0xff];
        let reprs = [
            Icmpv4Repr::EchoRequest {
                ident: 1,
                seq_no: 65535,
                data: b"",
            },
            Icmpv4Repr::EchoReply {
                ident: 0xabcd,
                seq_no: 2,
                data: b"odd",
            },
            Icmpv4Repr::DstUnreachable {
                reason: DstUnreachable::PortUnreachable,
                header: quoted_header(),
                data: &quoted[..8],
            },
            Icmpv4Repr::DstUnreachable {
                reason: DstUnreachable::FragRequired { mtu: 1280 },
                header: quoted_header(),
                data: &quoted,
            },
            Icmpv4Repr::DstUnreachable {
                reason: DstUnreachable::Other(13),
                header: quoted_header(),
                data: &[],
            },
            Icmpv4Repr::TimeExceeded {
                reason: TimeExceeded::TtlExpired,
                header: quoted_header(),
                data: &quoted[..8],
            },
            Icmpv4Repr::TimeExceeded {
                reason: TimeExceeded::FragReassembly,
                header: quoted_header(),
                data: &quoted[..8],
            },
            Icmpv4Repr::TimestampRequest {
                ident: 7,
                seq_no: 8,
                times: Timestamps {
                    originate: 86_399_999,
                    receive: 0,
                    transmit: 0,
                },
            },
            Icmpv4Repr::TimestampReply {
                ident: 0xffff,
                seq_no: 1,
                times: Timestamps {
                    originate: 1,
                    receive: 0x8000_0002,
                    transmit: 3,
                },
            },
        ];
        for repr in reprs {
            // A longer buffer: the checksum must cover only the message.
            let mut buf = vec![0x55u8; repr.buffer_len() + 3];
            repr.emit(
                &mut Icmpv4Packet::new_unchecked(&mut buf),
                ChecksumMode::Full,
            );
            let msg = &buf[..repr.buffer_len()];
            let packet = Icmpv4Packet::new_checked(msg).unwrap();
            assert!(packet.verify_checksum());
            assert_eq!(Icmpv4Repr::parse(&packet, ChecksumMode::Full), Ok(repr));
            assert_eq!(reemit(msg), repr);
        }
        let mut buf = [0u8; 8];
        let echo = Icmpv4Repr::EchoRequest {
            ident: 9,
            seq_no: 9,
            data: &[],
        };
        echo.emit(
            &mut Icmpv4Packet::new_unchecked(&mut buf),
            ChecksumMode::Offloaded,
        );
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.checksum(), 0);
        assert_eq!(Icmpv4Repr::parse(&p, ChecksumMode::Offloaded), Ok(echo));
        assert_eq!(
            Icmpv4Repr::parse(&p, ChecksumMode::Full),
            Err(WireError::Checksum)
        );
    }

    #[test]
    fn frag_required_carries_mtu() {
        let repr = Icmpv4Repr::DstUnreachable {
            reason: DstUnreachable::FragRequired { mtu: 1400 },
            header: quoted_header(),
            data: &[0; 8],
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(
            &mut Icmpv4Packet::new_unchecked(&mut buf),
            ChecksumMode::Full,
        );
        assert_eq!(&buf[..8], &[3, 4, buf[2], buf[3], 0, 0, 0x05, 0x78]);
        // The quoted header carries its own valid checksum.
        let ip = Ipv4Packet::new_unchecked(&buf[8..28]);
        assert!(ip.verify_checksum());
        assert_eq!(ip.total_len(), 1020);
    }

    #[test]
    fn errors() {
        let req = icmp_of(&testdata::ICMP_ECHO_REQUEST);
        for len in 0..HEADER_LEN {
            let p = Icmpv4Packet::new_unchecked(&req[..len]);
            assert_eq!(
                Icmpv4Repr::parse(&p, ChecksumMode::Full),
                Err(WireError::Truncated)
            );
            assert!(Icmpv4Packet::new_checked(&req[..len]).is_err());
        }
        // Any shorter prefix fails the checksum (the data is not all zeros).
        for len in HEADER_LEN..req.len() {
            let p = Icmpv4Packet::new_checked(&req[..len]).unwrap();
            assert_eq!(
                Icmpv4Repr::parse(&p, ChecksumMode::Full),
                Err(WireError::Checksum)
            );
        }

        let build = |t: u8, code: u8, data: &[u8]| {
            let mut b = vec![t, code, 0, 0, 0, 0, 0, 0];
            b.extend_from_slice(data);
            Icmpv4Packet::new_unchecked(&mut b[..]).fill_checksum();
            b
        };
        fn parse(b: &[u8]) -> Result<Icmpv4Repr<'_>> {
            Icmpv4Repr::parse(&Icmpv4Packet::new_checked(b).unwrap(), ChecksumMode::Full)
        }
        assert_eq!(parse(&build(17, 0, &[])), Err(WireError::Unsupported)); // address mask
                                                                            // A request's code is ignored (Linux answers it); a reply's must be 0.
        assert_eq!(
            parse(&build(8, 1, &[])),
            Ok(Icmpv4Repr::EchoRequest {
                ident: 0,
                seq_no: 0,
                data: &[]
            })
        );
        assert_eq!(parse(&build(0, 1, &[])), Err(WireError::Malformed));
        assert_eq!(parse(&build(14, 1, &[0; 12])), Err(WireError::Malformed));
        assert_eq!(parse(&build(11, 2, &[])), Err(WireError::Malformed));
        // A timestamp request needs its originate time, a reply all three.
        assert_eq!(parse(&build(13, 0, &[1, 2, 3])), Err(WireError::Truncated));
        assert_eq!(
            parse(&build(13, 5, &[1, 2, 3, 4])),
            Ok(Icmpv4Repr::TimestampRequest {
                ident: 0,
                seq_no: 0,
                times: Timestamps {
                    originate: 0x0102_0304,
                    receive: 0,
                    transmit: 0
                }
            })
        );
        assert_eq!(parse(&build(14, 0, &[0; 11])), Err(WireError::Truncated));

        // Errors whose quoted header is short or bad.
        let mut quoted = vec![0u8; 28];
        quoted_header().emit(
            &mut Ipv4Packet::new_unchecked(&mut quoted[..20]),
            ChecksumMode::Full,
        );
        for len in 0..20 {
            assert_eq!(
                parse(&build(3, 3, &quoted[..len])),
                Err(WireError::Truncated)
            );
            assert_eq!(
                parse(&build(11, 0, &quoted[..len])),
                Err(WireError::Truncated)
            );
        }
        assert!(parse(&build(3, 3, &quoted[..20])).is_ok());
        quoted[0] = 0x46; // a 24-byte header of which 28 bytes are present: fine
        assert!(parse(&build(3, 3, &quoted)).is_ok());
        quoted[0] = 0x48; // 32 bytes: more than present
        assert_eq!(parse(&build(3, 3, &quoted)), Err(WireError::Truncated));
        quoted[0] = 0x65;
        assert_eq!(parse(&build(3, 3, &quoted)), Err(WireError::Malformed));
    }

    #[test]
    fn fuzz() {
        let mut rng = Rng::new(792);
        let mut parsed = 0;
        let mut valid = vec![0u8; 36];
        Icmpv4Repr::DstUnreachable {
            reason: DstUnreachable::PortUnreachable,
            header: quoted_header(),
            data: &[1, 2, 3, 4, 5, 6, 7, 8],
        }
        .emit(
            &mut Icmpv4Packet::new_unchecked(&mut valid),
            ChecksumMode::Full,
        );
        for i in 0..5000 {
            let buf = if i % 2 == 0 {
                let mut b = vec![0u8; rng.below(64) as usize];
                rng.fill(&mut b);
                if b.len() >= 21 && i % 4 == 0 {
                    b[0] = [0, 3, 8, 11, 13, 14][rng.below(6) as usize];
                    b[8] = 0x45;
                }
                b
            } else {
                testdata::mutate(&mut rng, &valid)
            };
            // Offloaded reaches past the checksum into the type-specific parsing.
            for mode in [ChecksumMode::Full, ChecksumMode::Offloaded] {
                let p = Icmpv4Packet::new_unchecked(&buf[..]);
                if let Ok(repr) = Icmpv4Repr::parse(&p, mode) {
                    parsed += 1;
                    // Never longer than what was parsed, but for a timestamp request cut after
                    // its originate time (answered, as Linux does), which re-emits whole.
                    let cut_request = matches!(repr, Icmpv4Repr::TimestampRequest { .. });
                    assert!(repr.buffer_len() <= buf.len() || cut_request);
                    let mut out = vec![0u8; repr.buffer_len()];
                    repr.emit(&mut Icmpv4Packet::new_unchecked(&mut out), mode);
                }
            }
        }
        // Enough inputs must get through for the emit side to be exercised too.
        assert!(parsed > 200, "only {parsed} parsed");
    }
}
