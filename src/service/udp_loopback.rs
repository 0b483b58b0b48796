//! A UDP stack socket's twin on the kernel's loopback.
//!
//! On Linux a UDP socket bound to the wildcard (0.0.0.0, or a dual-stack `[::]`) takes datagrams
//! sent to every local address, loopback included, and answers a loopback peer from 127.0.0.1
//! (ip_route_output_key_hash_rcu picks the loopback source for a loopback destination, and turns
//! a destination of 0.0.0.0 into 127.0.0.1). The stack has no loopback of its own, so the service,
//! which runs in the program's network namespace, binds a kernel UDP socket for such a stack
//! socket on 127.0.0.1 and the same port (for an AF_INET6 socket, AF_INET6 ones on
//! `::ffff:127.0.0.1` and `::1`, as the TCP listener's twin in [`super::loopback`] does), passes
//! what arrives there to the program's socketpair as a datagram from its real sender, and sends
//! the program's datagrams to loopback from it, so they come from 127.0.0.1 (or `::1`) and the
//! stack socket's port, as Linux's would.
//!
//! Not Linux's exactly: the port is the stack's, so a kernel program already on 127.0.0.1 and
//! that port keeps it (the twin is then left out, said at debug level); datagrams to other
//! loopback addresses than 127.0.0.1 (Linux's wildcard socket takes all of 127.0.0.0/8) do not
//! reach the twin, though it sends to any of them.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::loopback::{bind_raw, check, kernel_socket, sockaddr_in6};
use super::proto::SetOption;
use super::uds;
use crate::sys::sockaddr_in;

/// The options the twin takes from its stack socket: those its `bind` needs (SO_REUSEADDR,
/// SO_REUSEPORT), and those that shape what it sends (SO_BROADCAST, SO_PRIORITY, IP_TOS, IP_TTL).
pub const INHERITED: &[(i32, i32)] = &[
    (libc::SOL_SOCKET, libc::SO_REUSEADDR),
    (libc::SOL_SOCKET, libc::SO_REUSEPORT),
    (libc::SOL_SOCKET, libc::SO_BROADCAST),
    (libc::SOL_SOCKET, libc::SO_PRIORITY),
    (libc::IPPROTO_IP, libc::IP_TOS),
    (libc::IPPROTO_IP, libc::IP_TTL),
];

/// The TTL Linux gives a loopback datagram when no control message said it (ip_default_ttl);
/// a datagram on IPv6's loopback carries none of IPv4's.
const DEFAULT_TTL: u8 = 64;

/// A datagram the twin received: its length in the buffer given, its sender (`from_ipv6_loopback`:
/// `[::1]` and `from`'s port), and what its IP header said (destination, TTL, TOS, and the
/// interface it came in by, `lo`).
pub struct Arrival {
    pub len: usize,
    pub from: SocketAddrV4,
    pub from_ipv6_loopback: bool,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub tos: u8,
    pub ifindex: u32,
}

/// What a program's control messages asked of one datagram to loopback.
#[derive(Clone, Copy, Debug, Default)]
pub struct Own {
    pub ttl: Option<u8>,
    pub tos: Option<u8>,
    /// A 127/8 source named by IP_PKTINFO (the twin's own 127.0.0.1 otherwise).
    pub source: Option<Ipv4Addr>,
}

/// The kernel sockets standing in for one wildcard UDP stack socket on loopback.
pub struct UdpTwin {
    /// IPv4's: AF_INET on 127.0.0.1, or, for an AF_INET6 socket, AF_INET6 on
    /// `::ffff:127.0.0.1`.
    v4: OwnedFd,
    inet6: bool,
    /// IPv6's, for an AF_INET6 socket: on `::1`, IPV6_V6ONLY (none where the namespace has no
    /// IPv6, or a kernel program has that port there).
    v6: Option<OwnedFd>,
    port: u16,
}

/// A kernel UDP socket on `ip` (IPv4's loopback, as AF_INET or, `inet6`, IPv4-mapped) or on
/// `::1` (`ip` None), with `options` set before its bind.
fn bound(
    ip: Option<Ipv4Addr>,
    inet6: bool,
    port: u16,
    options: &[SetOption],
) -> io::Result<OwnedFd> {
    let family = if inet6 { libc::AF_INET6 } else { libc::AF_INET };
    let fd = kernel_socket(family, libc::SOCK_DGRAM)?;
    let raw = fd.as_raw_fd();
    for o in options {
        // What the kernel refuses here it would have refused the program too.
        let _ = uds::set_raw(raw, o.level, o.name, &o.value);
    }
    match (ip, inet6) {
        (Some(ip), false) => bind_raw(raw, &sockaddr_in(SocketAddrV4::new(ip, port)))?,
        (Some(ip), true) => {
            uds::set_int(raw, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 0)?;
            bind_raw(raw, &sockaddr_in6(ip.to_ipv6_mapped(), port))?;
        }
        (None, _) => {
            uds::set_int(raw, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
            bind_raw(raw, &sockaddr_in6(Ipv6Addr::LOCALHOST, port))?;
        }
    }
    if ip.is_some() {
        // What the program may ask to see of each datagram: the service always asks (an IPv4
        // level option, which an AF_INET6 socket takes for its IPv4 traffic).
        for name in [libc::IP_PKTINFO, libc::IP_RECVTTL, libc::IP_RECVTOS] {
            uds::set_int(raw, libc::IPPROTO_IP, name, 1)?;
        }
    }
    Ok(fd)
}

impl UdpTwin {
    /// The twin of a UDP stack socket bound to the wildcard and `port`: on 127.0.0.1 for an
    /// AF_INET one; for an AF_INET6 (`inet6`) one on `::ffff:127.0.0.1` and on `::1` (left out
    /// where it cannot be had). Fails as the kernel's `bind` of 127.0.0.1 does (EADDRINUSE when
    /// a kernel program has that port).
    pub fn open(inet6: bool, port: u16, options: &[SetOption]) -> io::Result<UdpTwin> {
        let v4 = bound(Some(Ipv4Addr::LOCALHOST), inet6, port, options)?;
        let v6 = if inet6 {
            bound(None, true, port, options)
                .map_err(|e| log::debug!("no UDP twin on [::1]:{port}: {e}"))
                .ok()
        } else {
            None
        };
        Ok(UdpTwin {
            v4,
            inet6,
            v6,
            port,
        })
    }

    /// The kernel sockets, to watch for datagrams.
    pub fn sockets(&self) -> impl Iterator<Item = RawFd> + '_ {
        std::iter::once(self.v4.as_raw_fd()).chain(self.v6.as_ref().map(|f| f.as_raw_fd()))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// An option the program set on the stack socket since, passed on if the twin takes it.
    pub fn set_option(&self, o: &SetOption) {
        if INHERITED.contains(&(o.level, o.name)) {
            for fd in self.sockets() {
                let _ = uds::set_raw(fd, o.level, o.name, &o.value);
            }
        }
    }

    /// The next datagram waiting on either socket, into `buf`; None when both are empty.
    pub fn recv(&self, buf: &mut [u8]) -> Option<Arrival> {
        for (fd, ipv6) in std::iter::once((self.v4.as_raw_fd(), false))
            .chain(self.v6.as_ref().map(|f| (f.as_raw_fd(), true)))
        {
            loop {
                match recv_one(fd, buf) {
                    Ok(Some(a)) => return Some(a),
                    // A sender we cannot name (not loopback): passed over.
                    Ok(None) => continue,
                    Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => break,
                    Err(e) => {
                        log::debug!("a UDP twin's receive failed (ipv6 {ipv6}): {e}");
                        break;
                    }
                }
            }
        }
        None
    }

    /// Sends `data` to `to` on loopback (`ipv6`: to `[::1]` and `to`'s port), with the program's
    /// own TTL, TOS and loopback source for it if it gave them (IPv4 only, as Linux's IP-level
    /// control messages).
    pub fn send(&self, to: SocketAddrV4, ipv6: bool, data: &[u8], own: Own) -> io::Result<()> {
        let Own { ttl, tos, source } = own;
        // ip_route_output_key_hash_rcu: a destination of 0.0.0.0 is the local host.
        let to = if to.ip().is_unspecified() {
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, to.port())
        } else {
            to
        };
        let mut control = [0u64; 12];
        let mut control_len = 0usize;
        if let Some(ip) = source.filter(|_| !ipv6) {
            let info = libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr {
                    s_addr: u32::from(ip).to_be(),
                },
                ipi_addr: libc::in_addr { s_addr: 0 },
            };
            let n = std::mem::size_of::<libc::in_pktinfo>();
            // SAFETY: `control` has room for this message and two int-sized ones after it,
            // aligned as cmsghdr.
            unsafe {
                let at = control.as_mut_ptr() as *mut libc::cmsghdr;
                (*at).cmsg_level = libc::IPPROTO_IP;
                (*at).cmsg_type = libc::IP_PKTINFO;
                (*at).cmsg_len = libc::CMSG_LEN(n as u32) as _;
                std::ptr::copy_nonoverlapping(
                    &info as *const libc::in_pktinfo as *const u8,
                    libc::CMSG_DATA(at),
                    n,
                );
                control_len += libc::CMSG_SPACE(n as u32) as usize;
            }
        }
        if !ipv6 {
            for (name, v) in [(libc::IP_TTL, ttl), (libc::IP_TOS, tos)] {
                let Some(v) = v else { continue };
                let bytes = (v as i32).to_ne_bytes();
                // SAFETY: `control` has room for two int-sized messages, aligned as cmsghdr.
                unsafe {
                    let at =
                        (control.as_mut_ptr() as *mut u8).add(control_len) as *mut libc::cmsghdr;
                    (*at).cmsg_level = libc::IPPROTO_IP;
                    (*at).cmsg_type = name;
                    (*at).cmsg_len = libc::CMSG_LEN(4) as _;
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), libc::CMSG_DATA(at), 4);
                    control_len += libc::CMSG_SPACE(4) as usize;
                }
            }
        }
        let v4 = sockaddr_in(to);
        let mapped = sockaddr_in6(to.ip().to_ipv6_mapped(), to.port());
        let six = sockaddr_in6(Ipv6Addr::LOCALHOST, to.port());
        let (fd, name, name_len) = match (ipv6, self.inet6) {
            (true, _) => {
                let Some(fd) = self.v6.as_ref() else {
                    return Err(io::Error::from_raw_os_error(libc::ENETUNREACH));
                };
                (
                    fd.as_raw_fd(),
                    &six as *const _ as *const libc::c_void,
                    std::mem::size_of_val(&six),
                )
            }
            (false, true) => (
                self.v4.as_raw_fd(),
                &mapped as *const _ as *const libc::c_void,
                std::mem::size_of_val(&mapped),
            ),
            (false, false) => (
                self.v4.as_raw_fd(),
                &v4 as *const _ as *const libc::c_void,
                std::mem::size_of_val(&v4),
            ),
        };
        let mut iov = libc::iovec {
            iov_base: data.as_ptr() as *mut libc::c_void,
            iov_len: data.len(),
        };
        // SAFETY: plain data, zero is valid.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = name as *mut libc::c_void;
        msg.msg_namelen = name_len as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if control_len > 0 {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = control_len;
        }
        // SAFETY: `msg` and everything it points to live across the call.
        check(unsafe {
            libc::syscall(
                libc::SYS_sendmsg,
                fd,
                &msg as *const libc::msghdr,
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        })
        .map(drop)
    }
}

/// One datagram from twin socket `fd`. Ok(None): one from a sender that is not on loopback
/// (which the twin, bound there, should never see), dropped.
fn recv_one(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<Arrival>> {
    // SAFETY: sockaddr_storage is plain data, room for any address.
    let mut from: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: plain data, zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut from as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = std::mem::size_of_val(&from) as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: `msg` points to buffers of the sizes it gives.
    let n = check(unsafe {
        libc::syscall(
            libc::SYS_recvmsg,
            fd,
            &mut msg as *mut libc::msghdr,
            libc::MSG_DONTWAIT,
        )
    })?;
    let mut arrival = Arrival {
        len: n.min(buf.len()),
        from: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
        from_ipv6_loopback: false,
        dst: Ipv4Addr::LOCALHOST,
        ttl: DEFAULT_TTL,
        tos: 0,
        ifindex: 1,
    };
    match from.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in.
            let a = unsafe { *(&from as *const _ as *const libc::sockaddr_in) };
            arrival.from = SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            );
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel wrote a sockaddr_in6.
            let a = unsafe { *(&from as *const _ as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            let port = u16::from_be(a.sin6_port);
            match ip.to_ipv4_mapped() {
                Some(v4) => arrival.from = SocketAddrV4::new(v4, port),
                None if ip == Ipv6Addr::LOCALHOST => {
                    arrival.from = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
                    arrival.from_ipv6_loopback = true;
                }
                None => return Ok(None),
            }
        }
        _ => return Ok(None),
    }
    // SAFETY: CMSG_FIRSTHDR/NXTHDR walk the control buffer the kernel filled, as far as
    // msg_controllen says.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                    let info = std::ptr::read_unaligned(data as *const libc::in_pktinfo);
                    arrival.dst = Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr));
                    arrival.ifindex = info.ipi_ifindex as u32;
                }
                (libc::IPPROTO_IP, libc::IP_TTL) => {
                    arrival.ttl = std::ptr::read_unaligned(data as *const i32) as u8;
                }
                (libc::IPPROTO_IP, libc::IP_TOS) => arrival.tos = *data,
                _ => {}
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(Some(arrival))
}
