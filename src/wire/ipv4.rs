//! IPv4 (RFC 791): the network layer, carried in Ethernet (EtherType 0x0800) and carrying ICMP,
//! UDP and TCP.
//!
//! The view validates the header and total lengths so that [`Ipv4Packet::payload`] is exactly the
//! datagram's payload, with any Ethernet padding trimmed. [`Ipv4Repr`] leaves options out: the
//! stack sends none and ignores those it receives (RFC 1122 §3.2.1.8 lets a host do without
//! them). Fragments are described (`more_frags`, `frag_offset`) but reassembly is the stack's.

use core::fmt;
use std::net::Ipv4Addr;

use super::checksum;
use super::{get_ipv4, get_u16, put_u16, ChecksumMode, Result, WireError};

/// A header without options.
pub const HEADER_LEN: usize = 20;

mod field {
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLG_OFF: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// The protocol number of the payload (IANA "Assigned Internet Protocol Numbers").
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    pub const ICMP: IpProtocol = IpProtocol(1);
    pub const IGMP: IpProtocol = IpProtocol(2);
    pub const TCP: IpProtocol = IpProtocol(6);
    pub const UDP: IpProtocol = IpProtocol(17);
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IpProtocol::ICMP => f.write_str("ICMP"),
            IpProtocol::TCP => f.write_str("TCP"),
            IpProtocol::UDP => f.write_str("UDP"),
            IpProtocol(p) => write!(f, "proto {p}"),
        }
    }
}

impl fmt::Debug for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A view of an IPv4 datagram in a byte buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps a buffer without checking it; the accessors may panic on a short or inconsistent
    /// buffer. For building packets in a buffer the caller sized.
    pub const fn new_unchecked(buffer: T) -> Ipv4Packet<T> {
        Ipv4Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Ipv4Packet<T>> {
        let packet = Ipv4Packet::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks what the accessors rely on: a whole fixed header, version 4, a header length of at
    /// least 20 that fits in the buffer, and a total length that covers the header and fits in
    /// the buffer (the buffer may be longer: Ethernet padding).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.version() != 4 {
            return Err(WireError::Malformed);
        }
        let header_len = self.header_len() as usize;
        if header_len < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if header_len > len {
            return Err(WireError::Truncated);
        }
        let total_len = self.total_len() as usize;
        if total_len < header_len {
            return Err(WireError::Malformed);
        }
        if total_len > len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// The header length in bytes (IHL · 4).
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The whole second byte: DSCP and ECN.
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    pub fn total_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    pub fn ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::IDENT)
    }

    pub fn dont_frag(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_DF != 0
    }

    pub fn more_frags(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_MF != 0
    }

    /// The fragment offset in bytes (the field counts 8-byte units).
    pub fn frag_offset(&self) -> u16 {
        (get_u16(self.buffer.as_ref(), field::FLG_OFF) & OFFSET_MASK) << 3
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[field::PROTOCOL])
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        get_ipv4(self.buffer.as_ref(), field::SRC)
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        get_ipv4(self.buffer.as_ref(), field::DST)
    }

    /// The option bytes (between the fixed header and `header_len`).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len() as usize]
    }

    /// The payload: from the end of the header to the total length, so Ethernet padding is gone.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len() as usize..self.total_len() as usize]
    }

    /// Whether the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(&self.buffer.as_ref()[..self.header_len() as usize]) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv4Packet<&'a T> {
    /// The payload with the lifetime of the underlying buffer rather than of the view.
    pub fn into_payload(self) -> &'a [u8] {
        let (start, end) = (self.header_len() as usize, self.total_len() as usize);
        &self.buffer.as_ref()[start..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    pub fn set_version(&mut self, version: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (version << 4);
    }

    /// Sets IHL from a length in bytes (a multiple of 4, at most 60).
    pub fn set_header_len(&mut self, len: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) & 0x0f);
    }

    pub fn set_tos(&mut self, tos: u8) {
        self.buffer.as_mut()[field::TOS] = tos;
    }

    pub fn set_total_len(&mut self, len: u16) {
        put_u16(self.buffer.as_mut(), field::LENGTH, len);
    }

    pub fn set_ident(&mut self, ident: u16) {
        put_u16(self.buffer.as_mut(), field::IDENT, ident);
    }

    fn set_flag(&mut self, flag: u16, on: bool) {
        let raw = get_u16(self.buffer.as_ref(), field::FLG_OFF);
        let raw = if on { raw | flag } else { raw & !flag };
        put_u16(self.buffer.as_mut(), field::FLG_OFF, raw);
    }

    pub fn set_dont_frag(&mut self, on: bool) {
        self.set_flag(FLAG_DF, on);
    }

    pub fn set_more_frags(&mut self, on: bool) {
        self.set_flag(FLAG_MF, on);
    }

    /// Sets the fragment offset from a byte count (a multiple of 8; the low 3 bits are dropped).
    pub fn set_frag_offset(&mut self, offset: u16) {
        let raw = get_u16(self.buffer.as_ref(), field::FLG_OFF);
        let raw = (raw & !OFFSET_MASK) | (offset >> 3);
        put_u16(self.buffer.as_mut(), field::FLG_OFF, raw);
    }

    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    pub fn set_protocol(&mut self, protocol: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = protocol.0;
    }

    pub fn set_checksum(&mut self, checksum: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM, checksum);
    }

    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC..field::SRC + 4].copy_from_slice(&addr.octets());
    }

    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::DST..field::DST + 4].copy_from_slice(&addr.octets());
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len() as usize;
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len() as usize, self.total_len() as usize);
        &mut self.buffer.as_mut()[start..end]
    }

    /// Computes the header checksum over `header_len` bytes and stores it.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::checksum(&self.buffer.as_ref()[..self.header_len() as usize]);
        self.set_checksum(sum);
    }
}

/// The ECN field (RFC 3168 §5): the two low bits of the TOS byte, below the DSCP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Ecn {
    /// Not-ECT: the sender's transport does not take ECN.
    #[default]
    NotEct = 0b00,
    /// ECT(1).
    Ect1 = 0b01,
    /// ECT(0): what an ECN-capable TCP sets (RFC 3168 §6.1.2).
    Ect0 = 0b10,
    /// CE: a router on the path marked congestion instead of dropping.
    Ce = 0b11,
}

impl Ecn {
    /// The bits of the TOS byte that hold the field.
    pub const MASK: u8 = 0b11;

    /// The field of a TOS byte.
    pub fn from_tos(tos: u8) -> Ecn {
        match tos & Ecn::MASK {
            0b00 => Ecn::NotEct,
            0b01 => Ecn::Ect1,
            0b10 => Ecn::Ect0,
            _ => Ecn::Ce,
        }
    }

    /// `tos` (its DSCP, the upper six bits) with this field.
    pub fn with_tos(self, tos: u8) -> u8 {
        (tos & !Ecn::MASK) | self as u8
    }
}

/// Why a received datagram's options make it unacceptable ([`check_options`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionsRejected {
    /// Malformed at this offset into the options: Linux's `ip_options_compile` refuses it.
    Malformed(usize),
    /// Loose or strict source routing, which Linux drops by default (`accept_source_route` 0,
    /// `ip_rcv_options`): a forger's way of having the answer routed back through itself.
    SourceRoute,
}

/// Checks a received datagram's options as Linux's `ip_options_compile` does on input: each
/// option's length within the header, record route and timestamp well formed and not repeated,
/// router alert of four bytes; anything else unknown is let through.
pub fn check_options(opts: &[u8]) -> core::result::Result<(), OptionsRejected> {
    const EOL: u8 = 0;
    const NOP: u8 = 1;
    const RR: u8 = 7;
    const TS: u8 = 68;
    const LSRR: u8 = 131;
    const SSRR: u8 = 137;
    const RA: u8 = 148;
    let bad = |at: usize| Err(OptionsRejected::Malformed(at));
    let (mut rr, mut ts, mut srr) = (false, false, false);
    let mut i = 0;
    while i < opts.len() {
        let kind = opts[i];
        if kind == EOL {
            break;
        }
        if kind == NOP {
            i += 1;
            continue;
        }
        let left = opts.len() - i;
        if left < 2 {
            return bad(i);
        }
        let len = usize::from(opts[i + 1]);
        if len < 2 || len > left {
            return bad(i + 1);
        }
        let o = &opts[i..i + len];
        match kind {
            LSRR | SSRR => {
                if len < 3 {
                    return bad(i + 1);
                }
                if o[2] < 4 {
                    return bad(i + 2);
                }
                if srr {
                    return bad(i);
                }
                srr = true;
            }
            RR => {
                if rr || len < 3 {
                    return bad(i + if rr { 0 } else { 1 });
                }
                let ptr = usize::from(o[2]);
                if ptr < 4 || ptr <= len && ptr + 3 > len {
                    return bad(i + 2);
                }
                rr = true;
            }
            TS => {
                if ts || len < 4 {
                    return bad(i + if ts { 0 } else { 1 });
                }
                let ptr = usize::from(o[2]);
                let flag = o[3] & 0xf;
                if ptr < 5 {
                    return bad(i + 2);
                }
                if ptr <= len {
                    // Room for the next entry: a timestamp, or an address and a timestamp.
                    let entry = if flag == 1 || flag == 3 { 8 } else { 4 };
                    if ptr + entry - 1 > len {
                        return bad(i + 2);
                    }
                } else if flag != 3 && o[3] >> 4 == 15 {
                    // Full, and its overflow count cannot count one more.
                    return bad(i + 3);
                }
                ts = true;
            }
            RA if len < 4 => return bad(i + 1),
            _ => {}
        }
        i += len;
    }
    if srr {
        return Err(OptionsRejected::SourceRoute);
    }
    Ok(())
}

/// The meaning of an IPv4 header (options aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: IpProtocol,
    /// The length of the payload (total length minus header length).
    pub payload_len: usize,
    pub ttl: u8,
    pub tos: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// In bytes, a multiple of 8.
    pub frag_offset: u16,
}

impl Ipv4Repr {
    /// Parses a received header: lengths as in [`Ipv4Packet::check_len`], then (in
    /// [`ChecksumMode::Full`]) the header checksum. Options are skipped.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Ipv4Packet<&T>,
        mode: ChecksumMode,
    ) -> Result<Ipv4Repr> {
        packet.check_len()?;
        if mode == ChecksumMode::Full && !packet.verify_checksum() {
            return Err(WireError::Checksum);
        }
        Ok(Ipv4Repr::from_header(
            packet,
            (packet.total_len() - packet.header_len() as u16) as usize,
        ))
    }

    /// Parses the header of a datagram quoted in an ICMP error (RFC 792), which carries only the
    /// start of the datagram: the total length may exceed what is present. Checks the header
    /// length, not the total length (beyond its covering the header) nor the checksum.
    ///
    /// Returns the header (with the original `payload_len`) and the quoted payload bytes that
    /// follow it, at most `payload_len` of them.
    pub fn parse_quoted(bytes: &[u8]) -> Result<(Ipv4Repr, &[u8])> {
        if bytes.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let packet = Ipv4Packet::new_unchecked(bytes);
        if packet.version() != 4 {
            return Err(WireError::Malformed);
        }
        let header_len = packet.header_len() as usize;
        if header_len < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if header_len > bytes.len() {
            return Err(WireError::Truncated);
        }
        let total_len = packet.total_len() as usize;
        if total_len < header_len {
            return Err(WireError::Malformed);
        }
        let payload_len = total_len - header_len;
        let rest = bytes.get(header_len..).unwrap_or_default();
        let rest = rest.get(..payload_len).unwrap_or(rest);
        Ok((Ipv4Repr::from_header(&packet, payload_len), rest))
    }

    fn from_header<T: AsRef<[u8]> + ?Sized>(packet: &Ipv4Packet<&T>, payload_len: usize) -> Self {
        Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len,
            ttl: packet.ttl(),
            tos: packet.tos(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
        }
    }

    /// Writes a 20-byte header (no options) with total length `20 + payload_len`, and its
    /// checksum in [`ChecksumMode::Full`] (zero in `Offloaded`). The payload is the caller's.
    ///
    /// # Panics
    /// If the buffer is shorter than [`HEADER_LEN`]. `payload_len` must be at most 65515.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Ipv4Packet<T>,
        mode: ChecksumMode,
    ) {
        debug_assert!(self.payload_len <= u16::MAX as usize - HEADER_LEN);
        debug_assert!(self.frag_offset.is_multiple_of(8));
        packet.set_version(4);
        packet.set_header_len(HEADER_LEN as u8);
        packet.set_tos(self.tos);
        packet.set_total_len((HEADER_LEN + self.payload_len) as u16);
        packet.set_ident(self.ident);
        // Rewrite the whole flags/offset word so the reserved bit ends up zero.
        put_u16(packet.buffer.as_mut(), field::FLG_OFF, 0);
        packet.set_dont_frag(self.dont_frag);
        packet.set_more_frags(self.more_frags);
        packet.set_frag_offset(self.frag_offset);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        match mode {
            ChecksumMode::Full => packet.fill_checksum(),
            ChecksumMode::Offloaded => packet.set_checksum(0),
        }
    }

    /// The header this emits: always 20 bytes.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata;
    use super::super::{EtherType, EthernetFrame};
    use super::*;
    use crate::rand::Rng;

    #[test]
    fn ecn_field_is_the_low_two_bits_of_tos() {
        assert_eq!(Ecn::from_tos(0xb8), Ecn::NotEct);
        assert_eq!(Ecn::from_tos(0x02), Ecn::Ect0);
        assert_eq!(Ecn::from_tos(0x29), Ecn::Ect1);
        assert_eq!(Ecn::from_tos(0xff), Ecn::Ce);
        assert_eq!(Ecn::Ect0.with_tos(0x2b), 0x2a);
        assert_eq!(Ecn::NotEct.with_tos(0x13), 0x10);
    }

    fn ip_of(frame: &[u8]) -> &[u8] {
        let eth = EthernetFrame::new_checked(frame).unwrap();
        assert_eq!(eth.ethertype(), EtherType::IPV4);
        eth.into_payload()
    }

    /// Parses the captured datagram, then re-emits header and payload and expects the same bytes.
    fn reemit(bytes: &[u8]) -> Ipv4Repr {
        let packet = Ipv4Packet::new_checked(bytes).unwrap();
        assert!(packet.verify_checksum());
        let repr = Ipv4Repr::parse(&packet, ChecksumMode::Full).unwrap();
        let mut out = vec![0u8; repr.buffer_len()];
        let mut p = Ipv4Packet::new_unchecked(&mut out[..]);
        repr.emit(&mut p, ChecksumMode::Full);
        p.payload_mut().copy_from_slice(packet.payload());
        assert_eq!(out, bytes);
        repr
    }

    #[test]
    fn captured_echo_request() {
        let repr = reemit(ip_of(&testdata::ICMP_ECHO_REQUEST));
        assert_eq!(
            repr,
            Ipv4Repr {
                src_addr: Ipv4Addr::new(10, 77, 9, 1),
                dst_addr: Ipv4Addr::new(10, 77, 9, 2),
                protocol: IpProtocol::ICMP,
                payload_len: 64,
                ttl: 64,
                tos: 0,
                ident: 55068,
                dont_frag: true,
                more_frags: false,
                frag_offset: 0,
            }
        );
        let reply = reemit(ip_of(&testdata::ICMP_ECHO_REPLY));
        assert_eq!((reply.ident, reply.dont_frag), (44395, false));
    }

    #[test]
    fn captured_fragments() {
        let first = reemit(ip_of(&testdata::PING_FRAG_FIRST));
        assert_eq!(first.ident, 55069);
        assert!(first.more_frags && !first.dont_frag);
        assert_eq!((first.frag_offset, first.payload_len), (0, 1480));

        let last = reemit(ip_of(&testdata::PING_FRAG_LAST));
        assert_eq!(last.ident, 55069);
        assert!(!last.more_frags);
        assert_eq!((last.frag_offset, last.payload_len), (2960, 48));
        // 1480 + 1480 + 48 = 3008 = ICMP header + 3000 bytes of ping data.
        assert_eq!(last.frag_offset as usize + last.payload_len, 3008);
    }

    #[test]
    fn captured_tcp_and_udp() {
        let udp = reemit(ip_of(&testdata::UDP_DATAGRAM));
        assert_eq!((udp.protocol, udp.payload_len), (IpProtocol::UDP, 17));
        let syn_ack = reemit(ip_of(&testdata::TCP_SYN_ACK));
        assert_eq!((syn_ack.protocol, syn_ack.ident), (IpProtocol::TCP, 0));
    }

    fn sample() -> Ipv4Repr {
        Ipv4Repr {
            src_addr: Ipv4Addr::new(192, 0, 2, 1),
            dst_addr: Ipv4Addr::new(198, 51, 100, 7),
            protocol: IpProtocol(253),
            payload_len: 5,
            ttl: 1,
            tos: 0xb8,
            ident: 0xbeef,
            dont_frag: false,
            more_frags: true,
            frag_offset: 8 * 8191,
        }
    }

    #[test]
    fn round_trip() {
        let repr = sample();
        let mut buf = vec![0xaau8; repr.buffer_len() + 6]; // trailing bytes: Ethernet padding
        repr.emit(
            &mut Ipv4Packet::new_unchecked(&mut buf[..]),
            ChecksumMode::Full,
        );
        let packet = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&packet, ChecksumMode::Full), Ok(repr));
        assert_eq!(packet.payload().len(), 5);
        assert!(packet.options().is_empty());
        assert_eq!(format!("{}", repr.protocol), "proto 253");

        // Offloaded leaves the checksum zero, and does not check it on parse.
        repr.emit(
            &mut Ipv4Packet::new_unchecked(&mut buf[..]),
            ChecksumMode::Offloaded,
        );
        let packet = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(packet.checksum(), 0);
        assert_eq!(Ipv4Repr::parse(&packet, ChecksumMode::Offloaded), Ok(repr));
        assert_eq!(
            Ipv4Repr::parse(&packet, ChecksumMode::Full),
            Err(WireError::Checksum)
        );
    }

    #[test]
    fn options_are_skipped() {
        let repr = sample();
        let mut buf = vec![0u8; 24 + repr.payload_len];
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
        repr.emit(&mut p, ChecksumMode::Full);
        p.set_header_len(24);
        p.set_total_len(24 + 5);
        p.options_mut().copy_from_slice(&[1, 1, 1, 0]); // NOP NOP NOP EOL
        p.payload_mut().copy_from_slice(b"hello");
        p.fill_checksum();
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload(), b"hello");
        assert_eq!(Ipv4Repr::parse(&p, ChecksumMode::Full), Ok(repr));
    }

    #[test]
    fn truncated_prefixes() {
        let bytes = ip_of(&testdata::ICMP_ECHO_REQUEST);
        for len in 0..bytes.len() {
            let err = Ipv4Packet::new_checked(&bytes[..len]).unwrap_err();
            assert_eq!(err, WireError::Truncated, "len {len}");
            let p = Ipv4Packet::new_unchecked(&bytes[..len]);
            assert_eq!(
                Ipv4Repr::parse(&p, ChecksumMode::Full),
                Err(WireError::Truncated)
            );
        }
    }

    #[test]
    fn inconsistent_lengths() {
        let good = ip_of(&testdata::ICMP_ECHO_REQUEST).to_vec();
        let check = |f: &dyn Fn(&mut Vec<u8>), want: WireError| {
            let mut b = good.clone();
            f(&mut b);
            assert_eq!(Ipv4Packet::new_checked(&b[..]).unwrap_err(), want);
        };
        check(&|b| b[0] = 0x65, WireError::Malformed); // version 6
        check(&|b| b[0] = 0x44, WireError::Malformed); // IHL 4
        check(&|b| b.truncate(40), WireError::Truncated); // total length beyond buffer
        check(
            &|b| {
                b[0] = 0x4f; // header of 60 bytes...
                b.truncate(50); // ...beyond the buffer
            },
            WireError::Truncated,
        );
        check(&|b| put_u16(b, 2, 19), WireError::Malformed); // total length < header
        check(&|b| put_u16(b, 2, 85), WireError::Truncated); // total length beyond buffer
        let mut bad_sum = good.clone();
        bad_sum[10] ^= 1;
        let p = Ipv4Packet::new_checked(&bad_sum[..]).unwrap();
        assert_eq!(
            Ipv4Repr::parse(&p, ChecksumMode::Full),
            Err(WireError::Checksum)
        );
    }

    #[test]
    fn quoted() {
        let bytes = ip_of(&testdata::ICMP_ECHO_REQUEST);
        // As in an ICMP error: header plus the first 8 payload bytes, total length still 84.
        let (repr, rest) = Ipv4Repr::parse_quoted(&bytes[..28]).unwrap();
        assert_eq!(repr.payload_len, 64);
        assert_eq!(rest, &bytes[20..28]);
        // More present than the total length says: the excess is not payload.
        let mut long = bytes.to_vec();
        long.extend_from_slice(&[0; 4]);
        assert_eq!(Ipv4Repr::parse_quoted(&long).unwrap().1.len(), 64);
        // Header only.
        assert_eq!(
            Ipv4Repr::parse_quoted(&bytes[..20]).unwrap().1,
            &[] as &[u8]
        );
        for len in 0..20 {
            assert_eq!(
                Ipv4Repr::parse_quoted(&bytes[..len]),
                Err(WireError::Truncated)
            );
        }
        let mut b = bytes[..28].to_vec();
        b[0] = 0x46; // 24-byte header: fits
        assert!(Ipv4Repr::parse_quoted(&b).is_ok());
        b[0] = 0x48; // 32-byte header: beyond the bytes
        assert_eq!(Ipv4Repr::parse_quoted(&b), Err(WireError::Truncated));
        b[0] = 0x43;
        assert_eq!(Ipv4Repr::parse_quoted(&b), Err(WireError::Malformed));
        b[0] = 0x45;
        put_u16(&mut b, 2, 10);
        assert_eq!(Ipv4Repr::parse_quoted(&b), Err(WireError::Malformed));
        b[0] = 0x55;
        assert_eq!(Ipv4Repr::parse_quoted(&b), Err(WireError::Malformed));
    }

    #[test]
    fn fuzz() {
        let mut rng = Rng::new(791);
        let mut parsed = 0;
        let valid = ip_of(&testdata::UDP_DATAGRAM);
        for i in 0..5000 {
            let buf = if i % 2 == 0 {
                let mut b = vec![0u8; rng.below(80) as usize];
                rng.fill(&mut b);
                if !b.is_empty() && i % 4 == 0 {
                    b[0] = 0x40 | (b[0] & 0x0f); // version 4, to get past the first check
                }
                b
            } else {
                testdata::mutate(&mut rng, valid)
            };
            let p = Ipv4Packet::new_unchecked(&buf[..]);
            for mode in [ChecksumMode::Full, ChecksumMode::Offloaded] {
                if let Ok(repr) = Ipv4Repr::parse(&p, mode) {
                    parsed += 1;
                    let _ = (p.options(), p.payload(), p.verify_checksum());
                    assert_eq!(repr.payload_len, p.payload().len());
                }
            }
            if let Ok((repr, rest)) = Ipv4Repr::parse_quoted(&buf) {
                assert!(rest.len() <= repr.payload_len);
            }
        }
        // Enough inputs must get through for the emit side to be exercised too.
        assert!(parsed > 200, "only {parsed} parsed");
    }

    /// Linux's ip_options_compile and ip_rcv_options on what a peer sends.
    #[test]
    fn received_options_are_checked_as_linux_checks_them() {
        use super::{check_options, OptionsRejected::*};
        // Well formed: nothing, padding, record route with room, timestamps, router alert, an
        // unknown option.
        for ok in [
            &[][..],
            &[1, 1, 1, 0],
            &[7, 7, 4, 0, 0, 0, 0, 0],
            &[7, 7, 8, 10, 0, 0, 1, 0], // full: nothing more recorded
            &[68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &[68, 12, 13, 0x10, 0, 0, 0, 0, 0, 0, 0, 0], // full, overflow counted
            &[148, 4, 0, 0],
            &[30, 4, 0, 0],
        ] {
            assert_eq!(check_options(ok), Ok(()), "{ok:?}");
        }
        // Malformed: a length of 0 or 1 or past the end, a lone kind byte, a record route
        // pointer inside its header or without room, two record routes, a timestamp pointer
        // below 5, a full timestamp whose overflow count is spent, a short router alert.
        for bad in [
            &[7, 0, 4, 0][..],
            &[7, 1, 4, 0],
            &[7, 12, 4, 0],
            &[1, 1, 1, 7],
            &[7, 7, 3, 0, 0, 0, 0, 0],
            &[7, 7, 6, 0, 0, 0, 0, 0],
            &[7, 3, 4, 7, 3, 4, 0, 0],
            &[68, 8, 4, 0, 0, 0, 0, 0],
            &[68, 8, 9, 0xf0, 0, 0, 0, 0],
            &[148, 2, 1, 0],
        ] {
            assert!(matches!(check_options(bad), Err(Malformed(_))), "{bad:?}");
        }
        // Source routed, loose or strict, even well formed: dropped.
        for srr in [
            &[131, 7, 4, 10, 77, 0, 1, 0][..],
            &[137, 7, 8, 10, 77, 0, 1, 0],
        ] {
            assert_eq!(check_options(srr), Err(SourceRoute), "{srr:?}");
        }
    }
}
