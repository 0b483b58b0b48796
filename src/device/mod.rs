//! The link layer's edge: where Ethernet frames enter and leave the stack.
//!
//! A [`Device`] moves whole Ethernet frames. The TAP device ([`tap`]) is the real one; the in-memory
//! link ([`memlink`]) joins two stacks in tests; [`pcap::PcapDevice`] wraps any device and records
//! every frame in and out. The protocol core never calls a device itself: the runtime takes frames
//! from the device and hands them to the stack, then drains the stack's output into the device.
//!
//! Ready for speed work without a rewrite: [`DeviceCaps`] tells the stack what the device does for it
//! (today: nothing but carry frames of the MTU; later a virtio-net header gives checksum offload and
//! 64 KiB TSO/GSO frames), and [`Device::recv_burst`] / [`Device::send_burst`] are the batching
//! entry points, whose default one-frame-at-a-time loops a device overrides when it can do better.

pub mod memlink;
pub mod pcap;
pub mod tap;

use std::io;

use crate::wire::ChecksumMode;

/// Where the TCP header starts in `frame` if it is an IPv4 TCP super-frame for a device that cuts
/// it (`DeviceCaps::tso`): longer than the MTU, its checksum left for the device to finish.
pub(crate) fn super_frame_tcp(frame: &[u8], mtu: usize) -> Option<usize> {
    const ETH: usize = 14;
    if frame.len() <= ETH + mtu || frame.len() < ETH + 20 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let tcp = ETH + usize::from(frame[ETH] & 0x0f) * 4;
    (frame[ETH + 9] == 6 && frame.len() >= tcp + 20).then_some(tcp)
}

/// What the device says of a frame it received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxMeta {
    /// What is left to check of its checksums: `Full`, or `Offloaded` when the device vouches
    /// for them (or carries a TCP/UDP sum it has not finished, as the kernel does for its own
    /// frames with checksum offload).
    pub checksum: ChecksumMode,
    /// An unfinished TCP/UDP checksum: summing from the first offset to the end of the frame and
    /// storing the result at the second finishes it (virtio-net's `csum_start`, `csum_offset`).
    pub partial_checksum: Option<(usize, usize)>,
}

impl Default for RxMeta {
    fn default() -> Self {
        RxMeta {
            checksum: ChecksumMode::Full,
            partial_checksum: None,
        }
    }
}

/// What a device does for the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceCaps {
    /// The IP MTU: the largest IP packet (not counting the Ethernet header) the link carries.
    pub mtu: usize,
    /// Whether checksums are computed and verified by the stack (`Full`) or by the device.
    pub checksum: ChecksumMode,
    /// TCP segmentation offload: the device takes an IPv4 TCP frame longer than the MTU (up to
    /// 64 KiB of IP packet, its TCP checksum left as the pseudo-header sum) and cuts it into
    /// segments that fill the MTU, each behind a copy of its TCP header.
    pub tso: bool,
}

impl Default for DeviceCaps {
    fn default() -> Self {
        DeviceCaps {
            mtu: 1500,
            checksum: ChecksumMode::Full,
            tso: false,
        }
    }
}

/// A source and sink of Ethernet frames. Nonblocking: receiving when nothing waits gives `Ok(None)`.
pub trait Device: Send {
    fn caps(&self) -> DeviceCaps;

    /// Receives one frame into `buf`, returning its length, or `None` when no frame is waiting.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>>;

    /// As [`Device::recv`], with what the device says of the frame.
    fn recv_frame(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, RxMeta)>> {
        Ok(self.recv(buf)?.map(|n| (n, RxMeta::default())))
    }

    /// Sends one frame. A frame the device cannot take now is dropped (as a NIC with a full ring
    /// would); TCP recovers from that like from any other loss.
    fn send(&mut self, frame: &[u8]) -> io::Result<()>;

    /// A descriptor that becomes readable when frames wait, for the runtime's `poll` (shared, as
    /// its number may move); `None` for devices that are polled by their owner (the in-memory link).
    fn poll_fd(&self) -> Option<crate::sys::SharedFd>;

    /// Pushes out anything buffered (a capture file) before the process ends.
    fn flush(&mut self) {}

    /// Receives up to `max` frames, calling `deliver` on each (with what is left to check of
    /// its checksums); returns how many.
    fn recv_burst(
        &mut self,
        buf: &mut [u8],
        max: usize,
        deliver: &mut dyn FnMut(&[u8], ChecksumMode),
    ) -> io::Result<usize> {
        let mut n = 0;
        while n < max {
            match self.recv_frame(buf)? {
                Some((len, meta)) => {
                    deliver(&buf[..len], meta.checksum);
                    n += 1;
                }
                None => break,
            }
        }
        Ok(n)
    }

    /// Sends every frame in order.
    fn send_burst(&mut self, frames: &mut dyn Iterator<Item = &[u8]>) -> io::Result<()> {
        for frame in frames {
            self.send(frame)?;
        }
        Ok(())
    }
}

impl<D: Device + ?Sized> Device for Box<D> {
    fn caps(&self) -> DeviceCaps {
        (**self).caps()
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        (**self).recv(buf)
    }
    fn recv_frame(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, RxMeta)>> {
        (**self).recv_frame(buf)
    }
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        (**self).send(frame)
    }
    fn poll_fd(&self) -> Option<crate::sys::SharedFd> {
        (**self).poll_fd()
    }
    fn flush(&mut self) {
        (**self).flush()
    }
}
