//! The TAP device: Ethernet frames to and from the Linux kernel through `/dev/net/tun`.
//!
//! Opened with `IFF_TAP | IFF_NO_PI | IFF_VNET_HDR` (whole Ethernet frames, each behind a
//! virtio-net header, [`crate::wire::vnet`]), nonblocking, one frame per `read`/`write`. The
//! interface must already exist in the calling thread's network namespace (`scripts/netns.sh` makes
//! one); the stack does not create interfaces, so a typo in the name is an error rather than a new,
//! unconfigured device. The MTU is read from the interface, and attaching waits until the kernel
//! side is running, so that its first answers are not lost.
//!
//! With the header, the stack tells the kernel (`TUNSETOFFLOAD`) that it takes frames whose TCP
//! checksum is left unfinished and TCP super-frames of up to 64 KiB (TSO): the kernel's TCP then
//! sends the stack one frame where it would send 45, and skips computing checksums nobody needs
//! (both ends are on this host). A kernel that refuses leaves plain frames, still behind the header.

use std::ffi::CString;
use std::io;
use std::time::Duration;

use super::{super_frame_tcp, Device, DeviceCaps, RxMeta};
use crate::sys;
use crate::wire::vnet::{VnetHeader, F_NEEDS_CSUM, GSO_ECN, GSO_TCPV4, VNET_HDR_LEN};
use crate::wire::ChecksumMode;

/// The virtio-net header for `frame` if it is an IPv4 TCP super-frame (longer than the MTU):
/// segments that fill the MTU, the TCP checksum finished by the kernel in each (the frame's field
/// holds the pseudo-header sum), CWR kept on the first segment only (RFC 3168 §6.1.2).
fn tso_header(frame: &[u8], mtu: usize) -> Option<VnetHeader> {
    let tcp = super_frame_tcp(frame, mtu)?;
    let ihl = tcp - 14;
    let thl = usize::from(frame[tcp + 12] >> 4) * 4;
    let cwr = frame[tcp + 13] & 0x80 != 0;
    Some(VnetHeader {
        flags: F_NEEDS_CSUM,
        gso_type: GSO_TCPV4 | if cwr { GSO_ECN } else { 0 },
        hdr_len: (tcp + thl) as u16,
        gso_size: mtu.checked_sub(ihl + thl)? as u16,
        csum_start: tcp as u16,
        csum_offset: 16,
    })
}

/// `TUN_F_TSO_ECN` (include/uapi/linux/if_tun.h): super-frames may carry CWR.
const TUN_F_TSO_ECN: libc::c_uint = 0x08;

/// `struct ifreq` with the member this module uses (flags or MTU or index share the union).
#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    union: [u8; 24],
}

impl IfReq {
    fn new(name: &str) -> io::Result<IfReq> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('/') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "bad interface name {name:?}: 1 to {} characters, no '/'",
                    libc::IFNAMSIZ - 1
                ),
            ));
        }
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            union: [0; 24],
        };
        for (dst, src) in req.name.iter_mut().zip(name.bytes()) {
            *dst = src as libc::c_char;
        }
        Ok(req)
    }

    fn int(&self) -> i32 {
        i32::from_ne_bytes(self.union[..4].try_into().expect("4 bytes"))
    }
}

/// A datagram socket to ask the kernel about interfaces with `ioctl`.
fn ioctl_socket() -> io::Result<sys::Fd> {
    Ok(sys::Fd::new(sys::socket(
        libc::AF_INET,
        libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
        0,
    )?))
}

/// The MTU of the interface `name` in this thread's network namespace (system calls only, so the
/// preloaded shim may ask it too).
pub fn interface_mtu(name: &str) -> io::Result<usize> {
    interface_info(name).map(|(_, mtu)| mtu)
}

/// Queries the interface `name` in this thread's network namespace: its index and MTU.
fn interface_info(name: &str) -> io::Result<(i32, usize)> {
    let sock = ioctl_socket()?;
    let mut req = IfReq::new(name)?;
    // SAFETY: SIOCGIFINDEX and SIOCGIFMTU read and write a `struct ifreq`, which `IfReq` lays out.
    unsafe {
        sys::ioctl(
            sock.raw(),
            libc::SIOCGIFINDEX as _,
            &mut req as *mut IfReq as *mut _,
        )
    }
    .map_err(|e| {
        if e.raw_os_error() == Some(libc::ENODEV) {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "no interface {name} in this network namespace; create the TAP first \
                         (scripts/netns.sh create NS makes tap0 with 10.77.0.1/24 in namespace NS)"
                ),
            )
        } else {
            e
        }
    })?;
    let index = req.int();
    // SAFETY: as above.
    unsafe {
        sys::ioctl(
            sock.raw(),
            libc::SIOCGIFMTU as _,
            &mut req as *mut IfReq as *mut _,
        )
    }?;
    Ok((index, req.int().max(68) as usize))
}

/// The interface's flags (`IFF_UP`, `IFF_RUNNING`, ...).
fn interface_flags(sock: &sys::Fd, name: &str) -> io::Result<i32> {
    let mut req = IfReq::new(name)?;
    // SAFETY: SIOCGIFFLAGS reads and writes a `struct ifreq`, which `IfReq` lays out.
    unsafe {
        sys::ioctl(
            sock.raw(),
            libc::SIOCGIFFLAGS as _,
            &mut req as *mut IfReq as *mut _,
        )
    }?;
    Ok(i32::from(u16::from_ne_bytes([req.union[0], req.union[1]])))
}

/// How long attaching waits for the kernel side to start transmitting.
const LINK_WAIT: Duration = Duration::from_millis(1500);

/// Waits until the kernel side of the TAP is operationally up (`IFF_RUNNING`), at most [`LINK_WAIT`].
///
/// Attaching turns the TAP's carrier on, but the kernel starts its transmit queue only when its link
/// watcher handles that event, which it does at most once a second per interface: a process that
/// attaches within a second of the previous one detaching would otherwise see the kernel's first
/// answers (its ARP reply, its SYN-ACK) dropped, and every first exchange cost a one-second retry.
fn wait_for_link(name: &str) -> io::Result<()> {
    let sock = ioctl_socket()?;
    let start = std::time::Instant::now();
    loop {
        let flags = interface_flags(&sock, name)?;
        if flags & libc::IFF_UP == 0 {
            log::warn!("{name} is down on the kernel side (ip link set {name} up)");
            return Ok(());
        }
        if flags & libc::IFF_RUNNING != 0 {
            return Ok(());
        }
        if start.elapsed() >= LINK_WAIT {
            log::warn!("{name}: the kernel side is not running after {LINK_WAIT:?}");
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// An open TAP device.
pub struct TapDevice {
    fd: sys::Fd,
    name: String,
    /// The interface's index in its namespace (what `if_nametoindex` gives a program there).
    index: u32,
    mtu: usize,
    /// Frames cross behind a virtio-net header (`TAPSTACK_OFFLOAD=on`).
    vnet: bool,
    /// The kernel took `TUNSETOFFLOAD`: frames may come with unfinished checksums and as TCP
    /// super-frames.
    offload: bool,
}

impl TapDevice {
    /// Attaches to the existing TAP interface `name`, with checksum and segmentation offload
    /// (the virtio-net header) if `offload`.
    pub fn open(name: &str, offload: bool) -> io::Result<TapDevice> {
        let vnet = offload;
        let (index, mtu) = interface_info(name)?;
        let path = CString::new("/dev/net/tun").expect("no NUL");
        let fd = sys::Fd::new(
            sys::open(&path, libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC).map_err(|e| {
                let hint = if e.kind() == io::ErrorKind::PermissionDenied {
                    // A service a program starts runs as that program's user, which may have
                    // dropped root before its first socket (memcached -u, postgres).
                    " (this user may not open it: start the stack as root first, with \
                         `tapstack up`, and programs of any user share it)"
                } else {
                    ""
                };
                io::Error::new(e.kind(), format!("cannot open /dev/net/tun: {e}{hint}"))
            })?,
        );
        let mut req = IfReq::new(name)?;
        let flags =
            (libc::IFF_TAP | libc::IFF_NO_PI | if vnet { libc::IFF_VNET_HDR } else { 0 }) as i16;
        req.union[..2].copy_from_slice(&flags.to_ne_bytes());
        // SAFETY: TUNSETIFF reads a `struct ifreq` (name and flags), which `IfReq` lays out.
        unsafe {
            sys::ioctl(
                fd.raw(),
                libc::TUNSETIFF as _,
                &mut req as *mut IfReq as *mut _,
            )
        }
        .map_err(|e| {
            let why = match e.raw_os_error() {
                Some(libc::EBUSY) => format!(
                    "TAP device {name} is already in use by another process (a TAP carries one \
                     stack at a time): stop that process, or give this one another device with \
                     TAPSTACK_IFACE / --iface"
                ),
                Some(libc::EPERM) => format!(
                    "not allowed to attach to TAP device {name}: run as root (CAP_NET_ADMIN), \
                     start the stack as root first (`tapstack up`; programs of any user share \
                     it), or create the device owned by this user (ip tuntap add dev {name} mode \
                     tap user $USER)"
                ),
                Some(libc::EINVAL) => format!("{name} is not a TAP device (TUNSETIFF: {e})"),
                _ => format!("cannot attach to TAP device {name}: {e}"),
            };
            io::Error::new(e.kind(), why)
        })?;
        let offload = vnet && {
            // The header's fields in little-endian order (already so on little-endian hosts).
            let _ = sys::ioctl_int(fd.raw(), libc::TUNSETVNETLE as _, 1);
            sys::ioctl_int(
                fd.raw(),
                libc::TUNSETOFFLOAD as _,
                (libc::TUN_F_CSUM | libc::TUN_F_TSO4 | TUN_F_TSO_ECN) as _,
            )
            .map_err(|e| log::debug!("{name}: the kernel sends plain frames ({e})"))
            .is_ok()
        };
        if !vnet {
            // A previous attachment may have switched the kernel side to offloaded frames.
            let _ = sys::ioctl_int(fd.raw(), libc::TUNSETOFFLOAD as _, 0);
        }
        wait_for_link(name)?;
        Ok(TapDevice {
            fd,
            name: name.to_string(),
            index: index as u32,
            mtu,
            vnet,
            offload,
        })
    }

    /// Whether the kernel sends checksum-offloaded and TSO frames.
    pub fn offload(&self) -> bool {
        self.offload
    }

    /// One frame with no header before it.
    fn recv_plain(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            match sys::read(self.fd.raw(), buf) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interface's index: the one a datagram arrives by (IP_PKTINFO's `ipi_ifindex`).
    pub fn index(&self) -> u32 {
        self.index
    }
}

impl Device for TapDevice {
    fn caps(&self) -> DeviceCaps {
        DeviceCaps {
            mtu: self.mtu,
            checksum: ChecksumMode::Full,
            // Writing GSO frames needs only the header; TUNSETOFFLOAD is about reading.
            tso: self.vnet,
        }
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        Ok(self.recv_frame(buf)?.map(|(n, _)| n))
    }

    fn recv_frame(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, RxMeta)>> {
        if !self.vnet {
            return Ok(self.recv_plain(buf)?.map(|n| (n, RxMeta::default())));
        }
        let mut head = [0u8; VNET_HDR_LEN];
        loop {
            match sys::read2(self.fd.raw(), &mut head, buf) {
                Ok(n) if n < VNET_HDR_LEN => continue, // nothing but a header: not a frame
                Ok(n) => {
                    let h = VnetHeader::parse(&head).unwrap_or_default();
                    let meta = RxMeta {
                        checksum: h.rx_checksum(),
                        partial_checksum: (h.flags & F_NEEDS_CSUM != 0).then(|| {
                            let start = usize::from(h.csum_start);
                            (start, start + usize::from(h.csum_offset))
                        }),
                    };
                    return Ok(Some((n - VNET_HDR_LEN, meta)));
                }
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        // A plain frame, checksums done: an all-zero header. A TCP super-frame: cut by the
        // kernel (DeviceCaps::tso).
        let mut head = [0u8; VNET_HDR_LEN];
        if let Some(h) = tso_header(frame, self.mtu) {
            h.emit(&mut head);
        }
        let head = if self.vnet { &head[..] } else { &[][..] };
        loop {
            match sys::write2(self.fd.raw(), head, frame) {
                Ok(_) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                // The kernel's queue is full: drop the frame, as a NIC with a full ring would.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                // The kernel side is down (no carrier): the frame is lost on the wire.
                Err(e) if e.raw_os_error() == Some(libc::EIO) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    fn poll_fd(&self) -> Option<sys::SharedFd> {
        Some(self.fd.share())
    }
}
