//! The virtio-net header (`struct virtio_net_hdr`, include/uapi/linux/virtio_net.h) that a TAP
//! opened with `IFF_VNET_HDR` puts before every frame, both ways: what is left to do of the
//! frame's checksums, and whether it is one GSO super-frame standing for several segments.
//!
//! Fields are little-endian (the TAP is set to it with `TUNSETVNETLE`). The 10-byte form: no
//! `num_buffers`.

use super::{ChecksumMode, WireError};

/// Bytes of the header before each frame.
pub const VNET_HDR_LEN: usize = 10;

/// `flags`: the TCP/UDP checksum field holds only the pseudo-header sum; the rest is to be
/// computed from `csum_start`, the result stored at `csum_start + csum_offset`.
pub const F_NEEDS_CSUM: u8 = 1;
/// `flags`: the checksums were verified (by the device, or never left the host).
pub const F_DATA_VALID: u8 = 2;
/// `gso_type`: a plain frame.
pub const GSO_NONE: u8 = 0;
/// `gso_type`: TCP over IPv4, to be cut into segments of `gso_size` payload bytes.
pub const GSO_TCPV4: u8 = 1;
/// `gso_type` bit: the segments keep the CWR flag the super-frame carries (RFC 3168).
pub const GSO_ECN: u8 = 0x80;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHeader {
    pub flags: u8,
    pub gso_type: u8,
    /// Bytes of headers (Ethernet, IP, TCP) in a GSO super-frame.
    pub hdr_len: u16,
    /// Payload bytes per segment of a GSO super-frame.
    pub gso_size: u16,
    /// Where checksumming starts (from the frame's start), with `F_NEEDS_CSUM`.
    pub csum_start: u16,
    /// Where the checksum goes, from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHeader {
    pub fn parse(bytes: &[u8]) -> Result<VnetHeader, WireError> {
        if bytes.len() < VNET_HDR_LEN {
            return Err(WireError::Truncated);
        }
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        Ok(VnetHeader {
            flags: bytes[0],
            gso_type: bytes[1],
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        })
    }

    pub fn emit(&self, bytes: &mut [u8]) {
        bytes[0] = self.flags;
        bytes[1] = self.gso_type;
        bytes[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        bytes[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        bytes[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        bytes[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
    }

    /// What the receiver still has to check of a frame's checksums: nothing when they were
    /// verified, or when the sender left them to a device (a frame from the kernel's own stack
    /// with checksum offload, whose sum was never finished).
    pub fn rx_checksum(&self) -> ChecksumMode {
        if self.flags & (F_NEEDS_CSUM | F_DATA_VALID) != 0 {
            ChecksumMode::Offloaded
        } else {
            ChecksumMode::Full
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_emit_are_symmetric() {
        // As the kernel wrote it before a 64 KiB TCP super-frame (read off a TAP).
        let bytes = [1, 1, 66, 0, 0xa8, 0x05, 34, 0, 16, 0];
        let h = VnetHeader::parse(&bytes).unwrap();
        assert_eq!(
            h,
            VnetHeader {
                flags: F_NEEDS_CSUM,
                gso_type: GSO_TCPV4,
                hdr_len: 66,
                gso_size: 1448,
                csum_start: 34,
                csum_offset: 16,
            }
        );
        assert_eq!(h.rx_checksum(), ChecksumMode::Offloaded);
        let mut out = [0u8; VNET_HDR_LEN];
        h.emit(&mut out);
        assert_eq!(out, bytes);
        assert_eq!(VnetHeader::parse(&bytes[..9]), Err(WireError::Truncated));
        assert_eq!(VnetHeader::default().rx_checksum(), ChecksumMode::Full);
    }
}
