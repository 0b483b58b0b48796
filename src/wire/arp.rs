//! ARP (RFC 826) for IPv4 over Ethernet: resolves a neighbour's IPv4 address to its MAC address.
//! It sits directly on Ethernet (EtherType 0x0806), beside IPv4.
//!
//! ARP is generic over hardware and protocol address types, but this stack only speaks
//! Ethernet/IPv4, so the view has the fixed 28-byte layout of that pairing (hardware type 1,
//! protocol type 0x0800, address lengths 6 and 4) and [`ArpRepr::parse`] rejects any other
//! pairing as `Unsupported`.

use std::net::Ipv4Addr;

use super::{get_ipv4, get_mac, get_u16, put_u16, MacAddr, Result, WireError};

/// Hardware type 1: Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// Protocol type: IPv4's EtherType.
pub const PTYPE_IPV4: u16 = 0x0800;
/// The length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;

mod field {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: usize = 8;
    pub const SPA: usize = 14;
    pub const THA: usize = 18;
    pub const TPA: usize = 24;
}

/// The ARP opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    Request,
    Reply,
    Unknown(u16),
}

impl From<u16> for ArpOperation {
    fn from(v: u16) -> ArpOperation {
        match v {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            v => ArpOperation::Unknown(v),
        }
    }
}

impl From<ArpOperation> for u16 {
    fn from(op: ArpOperation) -> u16 {
        match op {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::Unknown(v) => v,
        }
    }
}

/// A view of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps a buffer without checking it; accessors panic if it is shorter than 28 bytes.
    pub const fn new_unchecked(buffer: T) -> ArpPacket<T> {
        ArpPacket { buffer }
    }

    /// Wraps a buffer of at least 28 bytes (more is Ethernet padding and ignored).
    pub fn new_checked(buffer: T) -> Result<ArpPacket<T>> {
        let packet = ArpPacket::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < PACKET_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn hardware_type(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::HTYPE)
    }

    pub fn protocol_type(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::PTYPE)
    }

    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    pub fn operation(&self) -> ArpOperation {
        get_u16(self.buffer.as_ref(), field::OPER).into()
    }

    pub fn sender_mac(&self) -> MacAddr {
        get_mac(self.buffer.as_ref(), field::SHA)
    }

    pub fn sender_ip(&self) -> Ipv4Addr {
        get_ipv4(self.buffer.as_ref(), field::SPA)
    }

    pub fn target_mac(&self) -> MacAddr {
        get_mac(self.buffer.as_ref(), field::THA)
    }

    pub fn target_ip(&self) -> Ipv4Addr {
        get_ipv4(self.buffer.as_ref(), field::TPA)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    pub fn set_hardware_type(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::HTYPE, v);
    }

    pub fn set_protocol_type(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::PTYPE, v);
    }

    pub fn set_hardware_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::HLEN] = v;
    }

    pub fn set_protocol_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::PLEN] = v;
    }

    pub fn set_operation(&mut self, op: ArpOperation) {
        put_u16(self.buffer.as_mut(), field::OPER, op.into());
    }

    pub fn set_sender_mac(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SHA..field::SHA + 6].copy_from_slice(&addr.0);
    }

    pub fn set_sender_ip(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA..field::SPA + 4].copy_from_slice(&addr.octets());
    }

    pub fn set_target_mac(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::THA..field::THA + 6].copy_from_slice(&addr.0);
    }

    pub fn set_target_ip(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA..field::TPA + 4].copy_from_slice(&addr.octets());
    }
}

/// The meaning of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    pub operation: ArpOperation,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// `Truncated` below 28 bytes, `Unsupported` for anything but Ethernet/IPv4. Unknown opcodes
    /// parse (as [`ArpOperation::Unknown`]): ignoring them is the stack's decision.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &ArpPacket<&T>) -> Result<ArpRepr> {
        packet.check_len()?;
        if packet.hardware_type() != HTYPE_ETHERNET
            || packet.protocol_type() != PTYPE_IPV4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(WireError::Unsupported);
        }
        Ok(ArpRepr {
            operation: packet.operation(),
            sender_mac: packet.sender_mac(),
            sender_ip: packet.sender_ip(),
            target_mac: packet.target_mac(),
            target_ip: packet.target_ip(),
        })
    }

    /// Writes the 28-byte packet.
    ///
    /// # Panics
    /// If the buffer is shorter than [`PACKET_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut ArpPacket<T>) {
        packet.set_hardware_type(HTYPE_ETHERNET);
        packet.set_protocol_type(PTYPE_IPV4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_sender_mac(self.sender_mac);
        packet.set_sender_ip(self.sender_ip);
        packet.set_target_mac(self.target_mac);
        packet.set_target_ip(self.target_ip);
    }

    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata;
    use super::super::{EtherType, EthernetFrame, EthernetRepr};
    use super::*;
    use crate::rand::Rng;

    fn parse_frame(frame: &[u8]) -> (EthernetRepr, ArpRepr) {
        let eth = EthernetFrame::new_checked(frame).unwrap();
        let eth_repr = EthernetRepr::parse(&eth).unwrap();
        assert_eq!(eth_repr.ethertype, EtherType::ARP);
        let arp = ArpPacket::new_checked(eth.payload()).unwrap();
        (eth_repr, ArpRepr::parse(&arp).unwrap())
    }

    fn emit_frame(eth: &EthernetRepr, arp: &ArpRepr) -> Vec<u8> {
        let mut buf = vec![0u8; eth.buffer_len() + arp.buffer_len()];
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
        eth.emit(&mut frame);
        arp.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
        buf
    }

    #[test]
    fn captured_request_and_reply() {
        let a: Ipv4Addr = "10.77.9.1".parse().unwrap();
        let b: Ipv4Addr = "10.77.9.2".parse().unwrap();
        let mac_a: MacAddr = "02:00:00:77:09:01".parse().unwrap();
        let mac_b: MacAddr = "02:00:00:77:09:02".parse().unwrap();

        let (eth, req) = parse_frame(&testdata::ARP_REQUEST);
        assert_eq!(
            req,
            ArpRepr {
                operation: ArpOperation::Request,
                sender_mac: mac_a,
                sender_ip: a,
                target_mac: MacAddr([0; 6]),
                target_ip: b,
            }
        );
        assert_eq!(emit_frame(&eth, &req), testdata::ARP_REQUEST);

        let (eth, rep) = parse_frame(&testdata::ARP_REPLY);
        assert_eq!(
            rep,
            ArpRepr {
                operation: ArpOperation::Reply,
                sender_mac: mac_b,
                sender_ip: b,
                target_mac: mac_a,
                target_ip: a,
            }
        );
        assert_eq!(emit_frame(&eth, &rep), testdata::ARP_REPLY);
    }

    #[test]
    fn round_trip_and_padding() {
        let repr = ArpRepr {
            operation: ArpOperation::Unknown(9),
            sender_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            sender_ip: Ipv4Addr::new(10, 0, 0, 1),
            target_mac: MacAddr([2, 0, 0, 0, 0, 2]),
            target_ip: Ipv4Addr::new(10, 0, 0, 2),
        };
        // An Ethernet-padded packet (46 bytes of payload) parses the same.
        let mut buf = [0u8; 46];
        repr.emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
        assert_eq!(
            ArpRepr::parse(&ArpPacket::new_checked(&buf[..]).unwrap()),
            Ok(repr)
        );
        assert_eq!(u16::from(ArpOperation::from(2)), 2);
    }

    #[test]
    fn errors() {
        let payload = &testdata::ARP_REQUEST[14..];
        for len in 0..PACKET_LEN {
            assert_eq!(
                ArpPacket::new_checked(&payload[..len]).unwrap_err(),
                WireError::Truncated
            );
            let p = ArpPacket::new_unchecked(&payload[..len]);
            assert_eq!(ArpRepr::parse(&p), Err(WireError::Truncated));
        }
        // Each of hardware type, protocol type, and the two address lengths.
        for (at, v) in [(1, 6u8), (2, 0x86), (4, 8), (5, 16)] {
            let mut bad = [0u8; PACKET_LEN];
            bad.copy_from_slice(payload);
            bad[at] = v;
            let p = ArpPacket::new_checked(&bad[..]).unwrap();
            assert_eq!(ArpRepr::parse(&p), Err(WireError::Unsupported), "byte {at}");
        }
    }

    #[test]
    fn fuzz() {
        let mut rng = Rng::new(826);
        let mut parsed = 0;
        let valid = &testdata::ARP_REPLY[14..];
        for i in 0..4000 {
            let mut buf = if i % 2 == 0 {
                let mut b = vec![0u8; rng.below(40) as usize];
                rng.fill(&mut b);
                b
            } else {
                testdata::mutate(&mut rng, valid)
            };
            // Random buffers should sometimes have the right header to reach the address fields.
            if i % 4 == 0 && buf.len() >= 6 {
                buf[..6].copy_from_slice(&valid[..6]);
            }
            if let Ok(repr) = ArpRepr::parse(&ArpPacket::new_unchecked(&buf[..])) {
                parsed += 1;
                let mut out = [0u8; PACKET_LEN];
                repr.emit(&mut ArpPacket::new_unchecked(&mut out[..]));
                assert_eq!(&out[..], &buf[..PACKET_LEN]);
            }
        }
        // Enough inputs must get through for the emit side to be exercised too.
        assert!(parsed > 200, "only {parsed} parsed");
    }
}
