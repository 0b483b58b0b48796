//! A pcap recorder: every frame in and out, readable by `tcpdump -r` and tshark.
//!
//! [`PcapWriter`] writes the classic libpcap format (magic `a1b2c3d4`, microsecond timestamps,
//! link type 1 = Ethernet). [`PcapDevice`] wraps any [`Device`] and records both directions; the
//! runtime puts one around the TAP when `TAPSTACK_PCAP=path` is set. Frames are recorded whole, so
//! a capture of a transfer is as large as the transfer.

use std::ffi::CString;
use std::io::{self, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{super_frame_tcp, Device, DeviceCaps, RxMeta};
use crate::sys;
use crate::wire::checksum;

const MAGIC: u32 = 0xa1b2_c3d4;
const LINKTYPE_ETHERNET: u32 = 1;
const SNAPLEN: u32 = 262_144;

/// Writes frames to a pcap stream.
pub struct PcapWriter<W: Write> {
    out: W,
}

impl PcapWriter<BufWriter<sys::FdWriter>> {
    /// Creates (or truncates) `path` and writes the file header. The file is one of the stack's
    /// private descriptors, so a preloaded program that closes what it does not know keeps it open.
    pub fn create(path: &Path) -> io::Result<Self> {
        let cpath = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC;
        let fd = sys::Fd::new(sys::open_mode(&cpath, flags, 0o644)?);
        PcapWriter::new(BufWriter::with_capacity(1 << 16, sys::FdWriter(fd)))
    }
}

impl<W: Write> PcapWriter<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&MAGIC.to_le_bytes());
        header.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&0i32.to_le_bytes()); // timezone: UTC
        header.extend_from_slice(&0u32.to_le_bytes()); // timestamp accuracy
        header.extend_from_slice(&SNAPLEN.to_le_bytes());
        header.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter { out })
    }

    /// Records one frame with `ts`, the time since the Unix epoch.
    pub fn write_frame(&mut self, ts: Duration, frame: &[u8]) -> io::Result<()> {
        let caplen = frame.len().min(SNAPLEN as usize);
        let mut record = [0u8; 16];
        record[0..4].copy_from_slice(&(ts.as_secs() as u32).to_le_bytes());
        record[4..8].copy_from_slice(&ts.subsec_micros().to_le_bytes());
        record[8..12].copy_from_slice(&(caplen as u32).to_le_bytes());
        record[12..16].copy_from_slice(&(frame.len() as u32).to_le_bytes());
        self.out.write_all(&record)?;
        self.out.write_all(&frame[..caplen])
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// A device that records every frame passing through it.
pub struct PcapDevice<D: Device> {
    inner: D,
    writer: PcapWriter<BufWriter<sys::FdWriter>>,
}

impl<D: Device> PcapDevice<D> {
    pub fn new(inner: D, path: &Path) -> io::Result<Self> {
        Ok(PcapDevice {
            inner,
            writer: PcapWriter::create(path)?,
        })
    }

    fn record(&mut self, frame: &[u8]) {
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        // Buffered; flushed when the device goes idle and on drop, so a capture costs no syscall per
        // frame. A failing capture must not take the network down with it: log and carry on.
        if let Err(e) = self.writer.write_frame(ts, frame) {
            log::warn!("pcap: cannot record frame: {e}");
        }
    }
}

impl<D: Device> PcapDevice<D> {
    /// Records `frame`, its TCP/UDP checksum finished first when it was left partial: summed
    /// from the first offset to the end, stored at the second (virtio-net's csum_start/offset).
    fn record_finished(&mut self, frame: &[u8], partial: Option<(usize, usize)>) {
        match partial {
            Some((start, at)) if start < frame.len() && at + 2 <= frame.len() => {
                let mut copy = frame.to_vec();
                let sum = checksum::finish(checksum::sum(&copy[start..]));
                copy[at..at + 2].copy_from_slice(&sum.to_be_bytes());
                self.record(&copy);
            }
            _ => self.record(frame),
        }
    }
}

impl<D: Device> Device for PcapDevice<D> {
    fn caps(&self) -> DeviceCaps {
        self.inner.caps()
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        Ok(self.recv_frame(buf)?.map(|(n, _)| n))
    }

    fn recv_frame(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, RxMeta)>> {
        let got = self.inner.recv_frame(buf)?;
        match got {
            // The capture shows the frame as the wire would carry it: with its checksum.
            Some((n, meta)) => self.record_finished(&buf[..n], meta.partial_checksum),
            // Nothing more to read: a good moment to push the capture to disk.
            None => {
                let _ = self.writer.flush();
            }
        }
        Ok(got)
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        // A TCP super-frame for the device to cut (DeviceCaps::tso) is recorded whole, as a
        // capture on the kernel's side of a TSO device shows it, with its checksum finished.
        let partial = super_frame_tcp(frame, self.inner.caps().mtu).map(|tcp| (tcp, tcp + 16));
        self.record_finished(frame, partial);
        self.inner.send(frame)
    }

    fn poll_fd(&self) -> Option<crate::sys::SharedFd> {
        self.inner.poll_fd()
    }

    fn flush(&mut self) {
        let _ = self.writer.flush();
    }
}

impl<D: Device> Drop for PcapDevice<D> {
    fn drop(&mut self) {
        let _ = self.writer.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_frame(Duration::new(10, 5_000), &[1, 2, 3]).unwrap();
        let bytes = w.into_inner();
        assert_eq!(bytes.len(), 24 + 16 + 3);
        assert_eq!(&bytes[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(u32::from_le_bytes(bytes[20..24].try_into().unwrap()), 1);
        assert_eq!(u32::from_le_bytes(bytes[24..28].try_into().unwrap()), 10);
        assert_eq!(u32::from_le_bytes(bytes[28..32].try_into().unwrap()), 5);
        assert_eq!(u32::from_le_bytes(bytes[32..36].try_into().unwrap()), 3);
        assert_eq!(&bytes[40..], &[1, 2, 3]);
    }
}
