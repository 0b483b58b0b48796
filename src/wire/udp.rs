//! UDP (RFC 768): datagrams over IPv4 (protocol 17), an 8-byte header of ports, length and a
//! checksum over an IPv4 pseudo-header, the header and the data.
//!
//! A zero checksum means the sender computed none, and is accepted (RFC 768, RFC 1122 §4.1.3.4);
//! a computed checksum of zero is therefore sent as `0xffff`, its ones'-complement equal.

use std::net::Ipv4Addr;

use super::checksum;
use super::ipv4::IpProtocol;
use super::{get_u16, put_u16, ChecksumMode, Result, WireError};

/// Source port, destination port, length, checksum.
pub const HEADER_LEN: usize = 8;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

/// A view of a UDP datagram. The buffer is the IPv4 payload; the datagram is its first `len()`
/// bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps a buffer without checking it; accessors may panic on a short or inconsistent one.
    pub const fn new_unchecked(buffer: T) -> UdpPacket<T> {
        UdpPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<UdpPacket<T>> {
        let packet = UdpPacket::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// A whole header, a length field of at least 8 (`Malformed`) that fits in the buffer
    /// (`Truncated`).
    pub fn check_len(&self) -> Result<()> {
        let buf_len = self.buffer.as_ref().len();
        if buf_len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let len = self.len() as usize;
        if len < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if len > buf_len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// The length field: header plus data.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The data: from the header to the length field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.len() as usize]
    }

    /// Whether the checksum verifies (a zero checksum, "none computed", does).
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let datagram = &self.buffer.as_ref()[..self.len() as usize];
        let pseudo = checksum::pseudo_header(src, dst, IpProtocol::UDP.0, datagram.len() as u32);
        checksum::fold(checksum::combine(pseudo, checksum::sum(datagram))) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> UdpPacket<&'a T> {
    /// The data with the lifetime of the underlying buffer rather than of the view.
    pub fn into_payload(self) -> &'a [u8] {
        let end = self.len() as usize;
        &self.buffer.as_ref()[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    pub fn set_src_port(&mut self, port: u16) {
        put_u16(self.buffer.as_mut(), field::SRC_PORT, port);
    }

    pub fn set_dst_port(&mut self, port: u16) {
        put_u16(self.buffer.as_mut(), field::DST_PORT, port);
    }

    pub fn set_len(&mut self, len: u16) {
        put_u16(self.buffer.as_mut(), field::LENGTH, len);
    }

    pub fn set_checksum(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.len() as usize;
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// Computes the checksum over the pseudo-header and the first `len()` bytes, and stores it
    /// (zero is sent as `0xffff`).
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let datagram = &self.buffer.as_ref()[..self.len() as usize];
        let pseudo = checksum::pseudo_header(src, dst, IpProtocol::UDP.0, datagram.len() as u32);
        let sum = checksum::finish(checksum::combine(pseudo, checksum::sum(datagram)));
        self.set_checksum(if sum == 0 { 0xffff } else { sum });
    }
}

/// The meaning of a UDP header; the data is passed beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
}

impl UdpRepr {
    /// Checks the lengths and (in [`ChecksumMode::Full`], unless the checksum is zero) the
    /// checksum. `src` and `dst` are the IPv4 addresses, for the pseudo-header. Port zero is not
    /// rejected here: that is the socket layer's call.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &UdpPacket<&T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        mode: ChecksumMode,
    ) -> Result<UdpRepr> {
        packet.check_len()?;
        if mode == ChecksumMode::Full && !packet.verify_checksum(src, dst) {
            return Err(WireError::Checksum);
        }
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
        })
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    pub const fn buffer_len(&self, payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }

    /// Writes the header and `payload`. In [`ChecksumMode::Full`] computes the checksum; in
    /// `Offloaded` stores the folded pseudo-header sum for the device to complete.
    ///
    /// # Panics
    /// If the buffer is shorter than `buffer_len(payload.len())`. The payload must be at most
    /// 65527 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut UdpPacket<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload: &[u8],
        mode: ChecksumMode,
    ) {
        debug_assert!(payload.len() <= u16::MAX as usize - HEADER_LEN);
        let len = (HEADER_LEN + payload.len()) as u16;
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(len);
        packet.payload_mut().copy_from_slice(payload);
        match mode {
            ChecksumMode::Full => packet.fill_checksum(src, dst),
            ChecksumMode::Offloaded => {
                let pseudo = checksum::pseudo_header(src, dst, IpProtocol::UDP.0, len as u32);
                packet.set_checksum(checksum::fold(pseudo));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata;
    use super::super::{EthernetFrame, Ipv4Packet};
    use super::*;
    use crate::rand::Rng;

    const A: Ipv4Addr = Ipv4Addr::new(10, 77, 9, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 77, 9, 2);

    fn udp_of(frame: &[u8]) -> &[u8] {
        let eth = EthernetFrame::new_checked(frame).unwrap();
        let ip = Ipv4Packet::new_checked(eth.into_payload()).unwrap();
        assert_eq!(ip.protocol(), IpProtocol::UDP);
        ip.into_payload()
    }

    #[test]
    fn captured_datagram() {
        let bytes = udp_of(&testdata::UDP_DATAGRAM);
        let packet = UdpPacket::new_checked(bytes).unwrap();
        assert_ne!(packet.checksum(), 0);
        assert!(packet.verify_checksum(A, B));
        let repr = UdpRepr::parse(&packet, A, B, ChecksumMode::Full).unwrap();
        assert_eq!(
            repr,
            UdpRepr {
                src_port: 54177,
                dst_port: 9999
            }
        );
        assert_eq!(packet.into_payload(), b"hello udp");
        // The pseudo-header counts: swapped addresses are the same sum, another address is not.
        let c = Ipv4Addr::new(10, 77, 9, 3);
        assert_eq!(
            UdpRepr::parse(&packet, A, c, ChecksumMode::Full),
            Err(WireError::Checksum)
        );

        let mut out = vec![0u8; repr.buffer_len(9)];
        repr.emit(
            &mut UdpPacket::new_unchecked(&mut out),
            A,
            B,
            b"hello udp",
            ChecksumMode::Full,
        );
        assert_eq!(out, bytes);
    }

    #[test]
    fn round_trip_and_zero_checksum() {
        let repr = UdpRepr {
            src_port: 53,
            dst_port: 0,
        };
        let mut rng = Rng::new(768);
        for len in [0usize, 1, 7, 8, 1472] {
            let mut payload = vec![0u8; len];
            rng.fill(&mut payload);
            let mut buf = vec![0u8; repr.buffer_len(len) + 2]; // + trailing bytes to ignore
            repr.emit(
                &mut UdpPacket::new_unchecked(&mut buf),
                A,
                B,
                &payload,
                ChecksumMode::Full,
            );
            let p = UdpPacket::new_checked(&buf[..]).unwrap();
            assert_eq!(UdpRepr::parse(&p, A, B, ChecksumMode::Full), Ok(repr));
            assert_eq!(p.payload(), &payload[..]);
        }

        // A datagram without checksum is accepted in Full mode.
        let mut buf = vec![0u8; 12];
        repr.emit(
            &mut UdpPacket::new_unchecked(&mut buf),
            A,
            B,
            b"abcd",
            ChecksumMode::Full,
        );
        let mut p = UdpPacket::new_unchecked(&mut buf);
        p.set_checksum(0);
        let p = UdpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(UdpRepr::parse(&p, A, B, ChecksumMode::Full), Ok(repr));

        // Find a payload whose checksum computes to zero: it must go out as 0xffff and verify.
        let mut payload = [0u8; 2];
        for x in 0..=u16::MAX {
            payload = x.to_be_bytes();
            let mut b = [0u8; 10];
            repr.emit(
                &mut UdpPacket::new_unchecked(&mut b[..]),
                A,
                B,
                &payload,
                ChecksumMode::Full,
            );
            if UdpPacket::new_unchecked(&b[..]).checksum() == 0xffff {
                break;
            }
        }
        let mut b = [0u8; 10];
        repr.emit(
            &mut UdpPacket::new_unchecked(&mut b[..]),
            A,
            B,
            &payload,
            ChecksumMode::Full,
        );
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum(A, B));
    }

    #[test]
    fn offloaded_leaves_pseudo_header_sum() {
        let repr = UdpRepr {
            src_port: 1,
            dst_port: 2,
        };
        let mut off = [0u8; 12];
        repr.emit(
            &mut UdpPacket::new_unchecked(&mut off[..]),
            A,
            B,
            b"data",
            ChecksumMode::Offloaded,
        );
        let p = UdpPacket::new_checked(&off[..]).unwrap();
        assert_eq!(UdpRepr::parse(&p, A, B, ChecksumMode::Offloaded), Ok(repr));
        // Completing it the way a device would (sum from the UDP header on, field included)
        // gives the fully computed checksum.
        let done = checksum::checksum(&off);
        let mut full = [0u8; 12];
        repr.emit(
            &mut UdpPacket::new_unchecked(&mut full[..]),
            A,
            B,
            b"data",
            ChecksumMode::Full,
        );
        assert_eq!(done, UdpPacket::new_unchecked(&full[..]).checksum());
    }

    #[test]
    fn errors() {
        let bytes = udp_of(&testdata::UDP_DATAGRAM);
        for len in 0..bytes.len() {
            assert_eq!(
                UdpPacket::new_checked(&bytes[..len]).unwrap_err(),
                WireError::Truncated,
                "len {len}"
            );
            let p = UdpPacket::new_unchecked(&bytes[..len]);
            assert_eq!(
                UdpRepr::parse(&p, A, B, ChecksumMode::Full),
                Err(WireError::Truncated)
            );
        }
        let mut b = bytes.to_vec();
        for bad_len in 0..8 {
            put_u16(&mut b, 4, bad_len);
            assert_eq!(
                UdpPacket::new_checked(&b[..]).unwrap_err(),
                WireError::Malformed
            );
        }
        put_u16(&mut b, 4, bytes.len() as u16 + 1);
        assert_eq!(
            UdpPacket::new_checked(&b[..]).unwrap_err(),
            WireError::Truncated
        );

        let mut b = bytes.to_vec();
        b[9] ^= 0x20;
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            UdpRepr::parse(&p, A, B, ChecksumMode::Full),
            Err(WireError::Checksum)
        );
        assert!(UdpRepr::parse(&p, A, B, ChecksumMode::Offloaded).is_ok());
    }

    #[test]
    fn fuzz() {
        let mut rng = Rng::new(17);
        let mut parsed = 0;
        let valid = udp_of(&testdata::UDP_DATAGRAM);
        for i in 0..5000 {
            let buf = if i % 2 == 0 {
                let mut b = vec![0u8; rng.below(40) as usize];
                rng.fill(&mut b);
                if b.len() >= 8 && i % 4 == 0 {
                    let len = rng.below(b.len() as u64 + 1) as u16;
                    put_u16(&mut b, 4, len);
                }
                b
            } else {
                testdata::mutate(&mut rng, valid)
            };
            let p = UdpPacket::new_unchecked(&buf[..]);
            for mode in [ChecksumMode::Full, ChecksumMode::Offloaded] {
                if let Ok(repr) = UdpRepr::parse(&p, A, B, mode) {
                    parsed += 1;
                    let payload = p.payload();
                    let mut out = vec![0u8; repr.buffer_len(payload.len())];
                    repr.emit(&mut UdpPacket::new_unchecked(&mut out), A, B, payload, mode);
                    assert_eq!(out[..6], buf[..6]);
                }
            }
        }
        // Enough inputs must get through for the emit side to be exercised too.
        assert!(parsed > 200, "only {parsed} parsed");
    }
}
