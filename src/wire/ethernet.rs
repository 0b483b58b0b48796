//! Ethernet II frames (IEEE 802.3, the DIX framing of RFC 894): the link layer a TAP device
//! hands us, below ARP and IPv4.
//!
//! The TAP device delivers frames without preamble or FCS, so a frame here is the 14-byte header
//! (destination, source, EtherType) followed by the payload. 802.1Q tags and 802.3 length-framed
//! frames are not decoded: their "EtherType" is simply one the stack does not handle.

use core::fmt;

use super::{get_mac, get_u16, put_u16, MacAddr, Result, WireError};

/// Destination, source, EtherType.
pub const HEADER_LEN: usize = 14;

mod field {
    use core::ops::{Range, RangeFrom};
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: usize = 12;
    pub const PAYLOAD: RangeFrom<usize> = 14..;
}

/// The protocol carried in a frame.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EtherType(pub u16);

impl EtherType {
    pub const IPV4: EtherType = EtherType(0x0800);
    pub const ARP: EtherType = EtherType(0x0806);
    pub const IPV6: EtherType = EtherType(0x86DD);
}

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EtherType::IPV4 => f.write_str("IPv4"),
            EtherType::ARP => f.write_str("ARP"),
            EtherType::IPV6 => f.write_str("IPv6"),
            EtherType(t) => write!(f, "0x{t:04x}"),
        }
    }
}

impl fmt::Debug for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A view of an Ethernet frame in a byte buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps a buffer without checking it. The accessors panic if it is shorter than
    /// [`HEADER_LEN`]; use [`new_checked`](Self::new_checked) on anything received.
    pub const fn new_unchecked(buffer: T) -> EthernetFrame<T> {
        EthernetFrame { buffer }
    }

    /// Wraps a buffer after checking that it holds a whole header.
    pub fn new_checked(buffer: T) -> Result<EthernetFrame<T>> {
        let frame = EthernetFrame::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// `Truncated` if the buffer is shorter than the header.
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

    pub fn dst_addr(&self) -> MacAddr {
        get_mac(self.buffer.as_ref(), field::DST.start)
    }

    pub fn src_addr(&self) -> MacAddr {
        get_mac(self.buffer.as_ref(), field::SRC.start)
    }

    pub fn ethertype(&self) -> EtherType {
        EtherType(get_u16(self.buffer.as_ref(), field::ETHERTYPE))
    }

    /// Everything after the header, including any padding up to the 60-byte minimum frame: the
    /// layer above trims by its own length field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> EthernetFrame<&'a T> {
    /// The payload with the lifetime of the underlying buffer rather than of the view.
    pub fn into_payload(self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    pub fn set_dst_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&addr.0);
    }

    pub fn set_src_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&addr.0);
    }

    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        put_u16(self.buffer.as_mut(), field::ETHERTYPE, ethertype.0);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// The meaning of an Ethernet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    pub src: MacAddr,
    pub dst: MacAddr,
    pub ethertype: EtherType,
}

impl EthernetRepr {
    pub fn parse<T: AsRef<[u8]> + ?Sized>(frame: &EthernetFrame<&T>) -> Result<EthernetRepr> {
        frame.check_len()?;
        Ok(EthernetRepr {
            src: frame.src_addr(),
            dst: frame.dst_addr(),
            ethertype: frame.ethertype(),
        })
    }

    /// Writes the header; the payload is the caller's (`frame.payload_mut()`).
    ///
    /// # Panics
    /// If the buffer is shorter than [`HEADER_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut EthernetFrame<T>) {
        frame.set_dst_addr(self.dst);
        frame.set_src_addr(self.src);
        frame.set_ethertype(self.ethertype);
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// The header only: the payload length is the layer above's.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata;
    use super::*;
    use crate::rand::Rng;

    #[test]
    fn captured_arp_request() {
        let frame = EthernetFrame::new_checked(&testdata::ARP_REQUEST[..]).unwrap();
        let repr = EthernetRepr::parse(&frame).unwrap();
        assert_eq!(repr.dst, MacAddr::BROADCAST);
        assert_eq!(repr.src, "02:00:00:77:09:01".parse().unwrap());
        assert_eq!(repr.ethertype, EtherType::ARP);
        assert_eq!(frame.payload().len(), 28);
        assert_eq!(frame.into_payload(), &testdata::ARP_REQUEST[14..]);

        let mut out = testdata::ARP_REQUEST;
        out[..HEADER_LEN].fill(0);
        repr.emit(&mut EthernetFrame::new_unchecked(&mut out[..]));
        assert_eq!(out, testdata::ARP_REQUEST);
    }

    #[test]
    fn round_trip() {
        let repr = EthernetRepr {
            src: MacAddr([2, 0, 0, 0, 0, 1]),
            dst: MacAddr([2, 0, 0, 0, 0, 2]),
            ethertype: EtherType::IPV6,
        };
        let mut buf = vec![0u8; repr.buffer_len() + 3];
        let mut frame = EthernetFrame::new_unchecked(&mut buf);
        repr.emit(&mut frame);
        frame.payload_mut().copy_from_slice(&[7, 8, 9]);
        let frame = EthernetFrame::new_checked(&buf[..]).unwrap();
        assert_eq!(EthernetRepr::parse(&frame), Ok(repr));
        assert_eq!(frame.payload(), &[7, 8, 9]);
        assert_eq!(format!("{:?}", repr.ethertype), "IPv6");
        assert_eq!(EtherType(0x8100).to_string(), "0x8100");
    }

    #[test]
    fn truncated() {
        let buf = testdata::ARP_REQUEST;
        for len in 0..HEADER_LEN {
            assert_eq!(
                EthernetFrame::new_checked(&buf[..len]).unwrap_err(),
                WireError::Truncated
            );
            // parse re-checks, so even an unchecked view cannot make it panic.
            let frame = EthernetFrame::new_unchecked(&buf[..len]);
            assert_eq!(EthernetRepr::parse(&frame), Err(WireError::Truncated));
        }
        let frame = EthernetFrame::new_checked(&buf[..HEADER_LEN]).unwrap();
        assert!(frame.payload().is_empty());
    }

    #[test]
    fn fuzz() {
        let mut rng = Rng::new(0xe7);
        for _ in 0..4000 {
            let mut buf = vec![0u8; rng.below(40) as usize];
            rng.fill(&mut buf);
            let frame = EthernetFrame::new_unchecked(&buf[..]);
            if let Ok(repr) = EthernetRepr::parse(&frame) {
                assert_eq!(repr.ethertype, frame.ethertype());
            }
        }
    }
}
