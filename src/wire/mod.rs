//! Packet formats: the bottom of the stack, between the TAP device's raw frames and the protocol
//! state machines.
//!
//! Every protocol has two layers, after the pattern popularised by smoltcp:
//!
//! * a *view* (`EthernetFrame`, `Ipv4Packet`, ...) over any byte buffer (`T: AsRef<[u8]>`, and
//!   `AsMut<[u8]>` for writing). It reads and writes header fields in place, without copying.
//!   `new_checked` validates every length the accessors rely on; `new_unchecked` does not, and
//!   its accessors may then panic on a short buffer, so it is only for buffers the caller sized.
//! * a *Repr* (`EthernetRepr`, `Ipv4Repr`, ...): a plain struct with the meaning of the header.
//!   `Repr::parse` takes a view, re-validates its lengths (so it never panics even on an unchecked
//!   view) and checks what the RFC requires; `Repr::emit` writes exactly what `parse` reads, into a
//!   buffer of at least `buffer_len()` bytes (a shorter buffer is a caller bug and panics).
//!
//! Parsing never panics on any input: all failures are a [`WireError`].
//!
//! Checksums (RFC 1071) are computed or verified according to a [`ChecksumMode`], so that a
//! device that offloads them (the TAP's virtio-net header, [`vnet`]) can skip the work.

use core::fmt;
use core::str::FromStr;

pub mod arp;
pub mod checksum;
pub mod dns;
pub mod ethernet;
pub mod icmp;
pub mod igmp;
pub mod ipv4;
pub mod tcp;
pub mod udp;
pub mod vnet;

#[cfg(test)]
pub(crate) mod testdata;

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
pub use dns::{DnsPacket, DnsRepr};
pub use ethernet::{EtherType, EthernetFrame, EthernetRepr};
pub use icmp::{DstUnreachable, Icmpv4Packet, Icmpv4Repr, Icmpv4Type, TimeExceeded};
pub use ipv4::{Ecn, IpProtocol, Ipv4Packet, Ipv4Repr};
pub use tcp::{SackBlocks, TcpFlags, TcpOption, TcpOptionIter, TcpOptions, TcpPacket, TcpRepr};
pub use udp::{UdpPacket, UdpRepr};

/// Why a packet could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The buffer ends before a length it contains says it should.
    Truncated,
    /// A field has a value the format forbids (bad version, a length below the minimum, ...).
    Malformed,
    /// The checksum does not verify.
    Checksum,
    /// Well formed, but a variant this stack does not handle (another ARP hardware type, an
    /// ICMP message type it does not know, ...).
    Unsupported,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WireError::Truncated => "truncated packet",
            WireError::Malformed => "malformed packet",
            WireError::Checksum => "bad checksum",
            WireError::Unsupported => "unsupported packet",
        })
    }
}

impl std::error::Error for WireError {}

pub type Result<T> = core::result::Result<T, WireError>;

/// Who takes care of checksums.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumMode {
    /// Verify on parse, compute on emit.
    Full,
    /// The device does it: skip verification on parse, and on emit leave what a checksum-offloading
    /// device expects in the field (zero for IPv4 and ICMP; the folded, uncomplemented pseudo-header
    /// sum for TCP and UDP, as virtio-net's `NEEDS_CSUM` requires).
    Offloaded,
}

/// An Ethernet (IEEE 802) MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    pub fn from_bytes(bytes: &[u8]) -> Option<MacAddr> {
        <[u8; 6]>::try_from(bytes).ok().map(MacAddr)
    }

    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    pub fn is_broadcast(&self) -> bool {
        *self == MacAddr::BROADCAST
    }

    /// The I/G bit: group address (broadcast included).
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// The Ethernet address of IPv4 multicast group `group`: 01:00:5e and the group's low 23 bits
    /// (RFC 1112 §6.4).
    pub fn ipv4_multicast(group: std::net::Ipv4Addr) -> MacAddr {
        let o = group.octets();
        MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
    }

    pub fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// The U/L bit: assigned locally rather than by the vendor (what a TAP device gets).
    pub fn is_locally_administered(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The error of parsing a [`MacAddr`] from text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseMacAddrError(String);

impl fmt::Display for ParseMacAddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid MAC address {:?}: expected six two-digit hex bytes separated by ':' or '-', \
             like 02:00:00:00:00:01",
            self.0
        )
    }
}

impl std::error::Error for ParseMacAddrError {}

impl FromStr for MacAddr {
    type Err = ParseMacAddrError;

    /// Accepts `02:00:00:00:00:01` or `02-00-00-00-00-01` (one separator throughout), any case.
    fn from_str(s: &str) -> core::result::Result<MacAddr, ParseMacAddrError> {
        let err = || ParseMacAddrError(s.to_owned());
        let sep = if s.contains('-') { '-' } else { ':' };
        let mut out = [0u8; 6];
        let mut parts = s.split(sep);
        for byte in out.iter_mut() {
            let part = parts.next().ok_or_else(err)?;
            // from_str_radix would accept "+f" or a single digit; insist on exactly two hex digits.
            if part.len() != 2 || !part.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(err());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(MacAddr(out))
    }
}

// Big-endian field access for the views. Callers have checked the buffer length (that is what
// `new_checked`/`check_len` are for), so these index directly.

#[inline]
pub(crate) fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline]
pub(crate) fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn get_ipv4(b: &[u8], at: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

#[inline]
pub(crate) fn get_mac(b: &[u8], at: usize) -> MacAddr {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[at..at + 6]);
    MacAddr(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_classes() {
        assert!(MacAddr::BROADCAST.is_broadcast());
        assert!(MacAddr::BROADCAST.is_multicast());
        assert!(!MacAddr::BROADCAST.is_unicast());
        let m = MacAddr([0x02, 0, 0, 0, 0, 1]);
        assert!(m.is_unicast() && m.is_locally_administered() && !m.is_broadcast());
        let v = MacAddr([0x00, 0x1b, 0x21, 1, 2, 3]);
        assert!(v.is_unicast() && !v.is_locally_administered());
        assert!(MacAddr([0x01, 0x00, 0x5e, 0, 0, 1]).is_multicast());
        assert_eq!(MacAddr::default(), MacAddr([0; 6]));
    }

    #[test]
    fn mac_text() {
        let m = MacAddr([0x02, 0, 0, 0xab, 0xcd, 0x01]);
        assert_eq!(m.to_string(), "02:00:00:ab:cd:01");
        assert_eq!(format!("{m:?}"), "02:00:00:ab:cd:01");
        assert_eq!("02:00:00:ab:cd:01".parse::<MacAddr>(), Ok(m));
        assert_eq!("02-00-00-AB-CD-01".parse::<MacAddr>(), Ok(m));
        for bad in [
            "",
            "02:00:00:ab:cd",
            "02:00:00:ab:cd:01:02",
            "02:00:00:ab:cd:1",
            "02:00:00:ab:cd:001",
            "02:00-00:ab:cd:01",
            "02:00:00:ab:cd:0g",
            "02:00:00:ab:cd:+1",
            "020000abcd01",
        ] {
            let e = bad.parse::<MacAddr>().unwrap_err();
            assert!(e.to_string().contains("invalid MAC address"), "{bad}");
        }
        assert_eq!(
            MacAddr::from_bytes(&[1, 2, 3, 4, 5, 6]),
            Some(MacAddr([1, 2, 3, 4, 5, 6]))
        );
        assert_eq!(MacAddr::from_bytes(&[1, 2, 3]), None);
    }

    #[test]
    fn error_display() {
        assert_eq!(WireError::Checksum.to_string(), "bad checksum");
        let e: Box<dyn std::error::Error> = Box::new(WireError::Truncated);
        assert_eq!(e.to_string(), "truncated packet");
    }
}
