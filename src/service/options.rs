//! Socket options, kept where the socket lives: in the service, on the stack socket itself.
//!
//! Each option has one home, the stack socket's own field (or, for the few that only the service
//! needs, its record of the socket), so a value set before `connect` and one set after are the
//! same value, and a new option is written here once. The preload shim sends every
//! `setsockopt`/`getsockopt` of a stack socket here, except those the socketpair itself carries
//! (SO_RCVTIMEO, SO_SNDTIMEO, SO_RCVLOWAT: the program's blocking calls run on it). A TCP
//! socket's SO_RCVLOWAT comes here too, as the service decides when the end polls readable.
//!
//! Options that change nothing for this stack and that no program depends on for correctness are
//! accepted; those a program would rely on and this stack cannot give fail with ENOPROTOOPT, as on a
//! kernel without them.

use std::time::Duration;

use super::proto::{self, Kind};
use crate::error::{Errno, Result};
use crate::stack::{GroupInterface, PmtuDisc, SocketHandle, Stack};
use crate::tcp::{Algorithm, State, TcpStats};

/// The least data space SO_RCVBUF or SO_SNDBUF leaves a TCP connection (what it had before Linux's
/// floors were reported as they are).
const BUF_MIN: usize = 2304;
/// Linux's floors on the reported sizes, after the doubling: SOCK_MIN_RCVBUF, SOCK_MIN_SNDBUF.
const SOCK_MIN_RCVBUF: usize = 2304;
pub const SOCK_MIN_SNDBUF: usize = 4608;
/// What the service keeps about a socket beside the stack's own fields.
#[derive(Clone, Copy, Debug, Default)]
pub struct Extra {
    /// SO_REUSEPORT as set, reported back (a TCP or UDP socket's is the stack's too, which lets
    /// sockets of one owner share a port).
    pub reuse_port: bool,
    /// The control messages a UDP socket's datagrams come with ([`proto::report`] bits: IP_PKTINFO,
    /// IP_RECVTTL, IP_RECVTOS, IP_RECVORIGDSTADDR), which the program's side writes. Any IPv4
    /// socket takes the options at any time and reports them back, as Linux's does.
    pub report: u8,
    /// SO_BROADCAST as set on a TCP socket (where it changes nothing but is reported back, and
    /// passed on to accepted sockets as Linux does); a UDP socket keeps its own.
    pub broadcast: bool,
    /// TCP_NOTSENT_LOWAT as set, reported back (0: unset, the host's `tcp_notsent_lowat`
    /// applies). The mark in effect is the stack socket's ([`crate::tcp::Config::notsent_lowat`]),
    /// and the service sizes the program's end by it (`server::size_program_end`).
    pub notsent_lowat: Option<i32>,
    /// TCP_INQ as set: reported back (the program's side adds the control message).
    pub inq: bool,
    /// The program made it AF_INET6: a dual-stack socket whose traffic is IPv4, its addresses
    /// IPv4-mapped (RFC 4291 §2.5.5.2). SO_DOMAIN says AF_INET6 and the IPV6 level is its own
    /// ([`set_ipv6`], [`get_ipv6`]); accepted connections take it from their listener, as
    /// Linux's sk_clone keeps the family.
    pub inet6: bool,
    /// IPV6_TCLASS of an AF_INET6 socket, reported back: as on Linux it marks IPv6 packets only,
    /// and this socket's are IPv4 (IP_TOS marks those).
    pub tclass: u8,
    /// IP_MULTICAST_LOOP and IP_MULTICAST_ALL of a TCP socket, which Linux takes and reports
    /// back though they change nothing there; a UDP socket keeps its own ([`crate::udp::Multicast`]).
    pub tcp_multicast_loop_off: bool,
    pub tcp_multicast_all_off: bool,
    /// SO_RCVBUF and SO_SNDBUF as Linux's sk_rcvbuf and sk_sndbuf hold them once set (twice what
    /// was asked, within rmem_max/wmem_max and the floors): what getsockopt reports. Unset, it
    /// reports the size the socket starts with.
    pub rcvbuf: Option<u32>,
    pub sndbuf: Option<u32>,
    /// IPV6_UNICAST_HOPS (-1: the default), IPV6_MULTICAST_HOPS, IPV6_MULTICAST_LOOP (kept as
    /// its opposite, so that the default is false) and IPV6_MULTICAST_IF of an AF_INET6 socket,
    /// taken with Linux's checks and reported back. As on Linux they shape IPv6 packets only; a
    /// dual-stack socket's IPv4 traffic follows the IP_* options (Java sets both kinds).
    pub v6: Ipv6Options,
    /// SO_RCVLOWAT of a TCP socket (0: unset, which is 1): the service holds data back from the
    /// program's end until that much is there, so that poll and epoll report it readable when
    /// Linux's tcp_poll would (the end itself takes the option too, for its blocking reads).
    pub rcvlowat: u32,
    /// SO_MAX_PACING_RATE as set (`None`: unset, Linux's `~0UL`), reported back. A TCP
    /// connection paces its segments by it ([`crate::tcp::Config::max_pacing_rate`]); a UDP
    /// socket's changes nothing, as on Linux without the fq qdisc, which alone paces datagrams.
    pub max_pacing_rate: Option<u64>,
    /// Options this stack takes without acting on them, kept to be reported back as Linux's are.
    pub kept: Kept,
}

/// SO_PRIORITY, SO_MARK, SO_BUSY_POLL, SO_INCOMING_CPU, SO_DONTROUTE, IP_MTU_DISCOVER, IP_FREEBIND
/// and IP_BIND_ADDRESS_NO_PORT as set: Linux keeps them on the socket (and `sk_clone` on the
/// connections a listener accepts, as `Extra` is passed on, all but SO_PRIORITY), and getsockopt
/// reads them back.
#[derive(Clone, Copy, Debug, Default)]
pub struct Kept {
    pub priority: i32,
    pub mark: i32,
    pub busy_poll: i32,
    /// Unset: what Linux reports once a packet has come (`sk_incoming_cpu`), taken here as CPU 0
    /// for a TCP connection, and its -1 for a socket that has had none.
    pub incoming_cpu: Option<i32>,
    pub dontroute: bool,
    /// Unset: IP_PMTUDISC_WANT, Linux's default (`ip_no_pmtu_disc` 0).
    pub pmtudisc: Option<u8>,
    pub freebind: bool,
    pub bind_address_no_port: bool,
    /// SO_DEBUG: Linux's SOCK_DBG flag, which its TCP no longer reads; kept and read back.
    pub debug: bool,
    /// A TCP socket's SO_PEEK_OFF as set (`None`: unset, Linux's -1). The program's end carries
    /// it for reads; this is a listener's, which `Call::Accept` sets on each end it accepts (as
    /// Linux's sk_clone_lock copies sk_peek_off), and which getsockopt on a listener reads.
    pub peek_off: Option<i32>,
}

/// See [`Extra::v6`].
#[derive(Clone, Copy, Debug)]
pub struct Ipv6Options {
    pub unicast_hops: i16,
    pub multicast_hops: u8,
    pub multicast_loop_off: bool,
    pub multicast_if: u32,
}

impl Default for Ipv6Options {
    fn default() -> Ipv6Options {
        // Linux's inet6_create: hop_limit -1, mcast_hops IPV6_DEFAULT_MCASTHOPS (1), mc_loop 1.
        Ipv6Options {
            unicast_hops: -1,
            multicast_hops: 1,
            multicast_loop_off: false,
            multicast_if: 0,
        }
    }
}

/// Linux's `__sock_set_rcvbuf`/`__sock_set_sndbuf`: what a SO_RCVBUF or SO_SNDBUF (`force`: the
/// FORCE variant, not bounded by the sysctl) of `asked` bytes makes of the buffer's size.
pub fn linux_buffer_size(asked: i32, rcv: bool, force: bool) -> usize {
    let limits = crate::host::BufferLimits::of_host();
    let max = match (force, rcv) {
        (true, _) => i32::MAX as usize / 2,
        (false, true) => limits.rmem_max.min(i32::MAX as usize / 2),
        (false, false) => limits.wmem_max.min(i32::MAX as usize / 2),
    };
    let floor = if rcv {
        SOCK_MIN_RCVBUF
    } else {
        SOCK_MIN_SNDBUF
    };
    // The plain options compare as unsigned (a negative size asks for the most); FORCE takes a
    // negative one as 0.
    let asked = if force {
        asked.max(0) as usize
    } else {
        asked as u32 as usize
    };
    (asked.min(max) * 2).max(floor)
}

/// A `struct ip_mreqn` (12 bytes: group, address, interface index) or `struct ip_mreq` (8 bytes:
/// group, address), as Linux's do_ip_setsockopt tells them apart by length; shorter is EINVAL.
fn membership(val: &[u8]) -> Result<(std::net::Ipv4Addr, GroupInterface)> {
    if val.len() < 8 {
        return Err(Errno::EINVAL);
    }
    let addr = |at: usize| std::net::Ipv4Addr::new(val[at], val[at + 1], val[at + 2], val[at + 3]);
    let ifindex = if val.len() >= 12 {
        i32::from_ne_bytes([val[8], val[9], val[10], val[11]]) as u32
    } else {
        0
    };
    Ok((
        addr(0),
        GroupInterface {
            addr: addr(4),
            ifindex,
        },
    ))
}

/// IP_MULTICAST_IF's value: an `ip_mreqn`, an `ip_mreq` (its second address) or an `in_addr`,
/// by length (do_ip_setsockopt); under 4 bytes is EINVAL.
fn multicast_if(val: &[u8]) -> Result<GroupInterface> {
    let addr = |at: usize| std::net::Ipv4Addr::new(val[at], val[at + 1], val[at + 2], val[at + 3]);
    match val.len() {
        0..4 => Err(Errno::EINVAL),
        4..8 => Ok(GroupInterface {
            addr: addr(0),
            ifindex: 0,
        }),
        8..12 => Ok(GroupInterface {
            addr: addr(4),
            ifindex: 0,
        }),
        _ => membership(val).map(|(_, i)| i),
    }
}

/// An interface named by an address the namespace gives the TAP (its kernel side, 10.77.0.1: what
/// `getifaddrs` and `SIOCGIFCONF` show a program outside the stack; one on the stack is shown our
/// own, see crate::posix::ifaddrs) is ours, as Linux's ip_mc_find_dev finds the device by one of
/// its addresses: it becomes our own address. Any other is left for the stack to refuse.
fn kernel_named(s: &Stack, iface: GroupInterface) -> GroupInterface {
    let ours = s.iface().addr;
    if iface.ifindex != 0 || iface.addr.is_unspecified() || iface.addr == ours || s.ifindex() == 0 {
        return iface;
    }
    if interface_with(iface.addr) == Some(s.ifindex()) {
        GroupInterface {
            addr: ours,
            ifindex: 0,
        }
    } else {
        iface
    }
}

/// The index of the namespace's interface that has IPv4 address `addr` (getifaddrs: the service
/// runs in the program's namespace, on the kernel's sockets).
fn interface_with(addr: std::net::Ipv4Addr) -> Option<u32> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, freed below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return None;
    }
    let mut found = None;
    let mut p = list;
    while !p.is_null() {
        // SAFETY: a node of the list getifaddrs made.
        let ifa = unsafe { &*p };
        // SAFETY: an AF_INET ifa_addr is a sockaddr_in.
        let is_it = !ifa.ifa_addr.is_null()
            && unsafe { i32::from((*ifa.ifa_addr).sa_family) } == libc::AF_INET
            && unsafe {
                (*(ifa.ifa_addr as *const libc::sockaddr_in))
                    .sin_addr
                    .s_addr
            } == u32::from(addr).to_be();
        if is_it {
            // SAFETY: ifa_name is a NUL-terminated name.
            let index = unsafe { libc::if_nametoindex(ifa.ifa_name) };
            found = (index != 0).then_some(index);
            break;
        }
        p = ifa.ifa_next;
    }
    // SAFETY: the list from getifaddrs above, freed once.
    unsafe { libc::freeifaddrs(list) };
    found
}

/// The multicast options of IPPROTO_IP (Linux's do_ip_setsockopt): on a TCP socket
/// IP_ADD_MEMBERSHIP and IP_DROP_MEMBERSHIP are EPROTO, IP_MULTICAST_TTL and IP_MULTICAST_IF
/// EINVAL, IP_MULTICAST_LOOP and IP_MULTICAST_ALL kept. `None`: not one of them.
fn set_multicast(
    s: &mut Stack,
    h: SocketHandle,
    stream: bool,
    extra: &mut Extra,
    name: i32,
    val: &[u8],
) -> Option<Result<()>> {
    let r = match name {
        libc::IP_ADD_MEMBERSHIP | libc::IP_DROP_MEMBERSHIP => {
            if stream {
                return Some(Err(Errno::EPROTO));
            }
            let (group, iface) = match membership(val) {
                Ok((group, iface)) => (group, kernel_named(s, iface)),
                Err(e) => return Some(Err(e)),
            };
            let now = crate::sys::monotonic_now();
            if name == libc::IP_ADD_MEMBERSHIP {
                s.udp_join(now, h, group, iface)
            } else {
                s.udp_leave(now, h, group, iface)
            }
        }
        libc::IP_MULTICAST_TTL => (|| {
            if stream {
                return Err(Errno::EINVAL);
            }
            let ttl = match int(val)? {
                -1 => 1,
                v @ 0..=255 => v as u8,
                _ => return Err(Errno::EINVAL),
            };
            s.udp_socket_mut(h).ok_or(Errno::EBADF)?.multicast.ttl = ttl;
            Ok(())
        })(),
        libc::IP_MULTICAST_LOOP => int(val).map(|v| match s.udp_socket_mut(h) {
            Some(u) => u.multicast.loop_back = v != 0,
            None => extra.tcp_multicast_loop_off = v == 0,
        }),
        libc::IP_MULTICAST_ALL => int(val).and_then(|v| {
            if v != 0 && v != 1 {
                return Err(Errno::EINVAL);
            }
            match s.udp_socket_mut(h) {
                Some(u) => u.multicast.all = v == 1,
                None => extra.tcp_multicast_all_off = v == 0,
            }
            Ok(())
        }),
        libc::IP_MULTICAST_IF => (|| {
            if stream {
                return Err(Errno::EINVAL);
            }
            let iface = kernel_named(s, multicast_if(val)?);
            // 0.0.0.0 and index 0 undo the choice, which names_our_interface takes.
            if !s.multicast_if_ok(iface) {
                return Err(Errno::EADDRNOTAVAIL);
            }
            s.udp_socket_mut(h)
                .ok_or(Errno::EBADF)?
                .multicast
                .iface_addr = iface.addr;
            Ok(())
        })(),
        _ => return None,
    };
    Some(r)
}

/// getsockopt of the multicast options; `None`: not one of them.
fn get_multicast(s: &Stack, h: SocketHandle, extra: &Extra, name: i32) -> Option<Vec<u8>> {
    let m = s.udp_socket_ref(h).map(|u| &u.multicast);
    Some(match name {
        libc::IP_MULTICAST_TTL => ints(m.map_or(1, |m| i32::from(m.ttl))),
        libc::IP_MULTICAST_LOOP => {
            ints(m.map_or(!extra.tcp_multicast_loop_off, |m| m.loop_back) as i32)
        }
        libc::IP_MULTICAST_ALL => ints(m.map_or(!extra.tcp_multicast_all_off, |m| m.all) as i32),
        libc::IP_MULTICAST_IF => m
            .map_or(std::net::Ipv4Addr::UNSPECIFIED, |m| m.iface_addr)
            .octets()
            .to_vec(),
        _ => return None,
    })
}

fn int(val: &[u8]) -> Result<i32> {
    // Linux takes an int option from a shorter buffer too (a 1-byte IP option, say), as the
    // value of those bytes.
    match val.len() {
        0 => Err(Errno::EINVAL),
        1..=3 => Ok(val[0] as i32),
        _ => Ok(i32::from_ne_bytes([val[0], val[1], val[2], val[3]])),
    }
}

/// TCP options on a socket's configuration, and on its live connection for those that can change
/// under way.
fn tcp_config(
    s: &mut Stack,
    h: SocketHandle,
    f: impl FnOnce(&mut crate::tcp::Config),
) -> Result<()> {
    let t = s.tcp_socket_mut(h)?;
    f(&mut t.config);
    let cfg = t.config.clone();
    if let Some(c) = t.connection_mut() {
        c.set_nodelay(cfg.nodelay);
        c.set_cork(cfg.cork);
        c.set_keepalive(cfg.keepalive);
        c.set_keepalive_params(
            cfg.keepalive_idle,
            cfg.keepalive_interval,
            cfg.keepalive_count,
        );
        c.set_linger(cfg.linger);
        c.set_user_timeout(cfg.user_timeout);
        c.set_congestion(cfg.congestion);
        c.set_notsent_lowat(cfg.notsent_lowat);
        c.set_max_pacing_rate(cfg.max_pacing_rate);
    }
    Ok(())
}

/// The rate a SO_MAX_PACING_RATE value asks for, read as Linux's sk_setsockopt reads it: an int,
/// unsigned (its -1 is `~0UL`, no cap), or an unsigned long when 8 bytes or more are given.
fn max_pacing_rate(val: &[u8]) -> Result<u64> {
    if val.len() >= 8 {
        return Ok(u64::from_ne_bytes(val[..8].try_into().expect("8 bytes")));
    }
    if val.len() < 4 {
        return Err(Errno::EINVAL);
    }
    let v = int(val)?;
    Ok(if v == -1 {
        u64::MAX
    } else {
        u64::from(v as u32)
    })
}

/// What getsockopt(SO_MAX_PACING_RATE) gives a buffer of `len` bytes: the whole unsigned long for
/// 8 or more, else the 32-bit version, `min(~0U, rate)` (Linux's sk_getsockopt). Answered where
/// the request's length is known (`server::requests`), not by [`get`].
pub fn max_pacing_rate_value(rate: u64, len: u32) -> Vec<u8> {
    if len >= 8 {
        rate.to_ne_bytes().to_vec()
    } else {
        rate.min(u64::from(u32::MAX)).to_ne_bytes()[..4].to_vec()
    }
}

/// `setsockopt(level, name, val)` on stack socket `h`.
pub fn set(
    s: &mut Stack,
    h: SocketHandle,
    kind: Kind,
    extra: &mut Extra,
    level: i32,
    name: i32,
    val: &[u8],
) -> Result<()> {
    let stream = kind == Kind::Stream;
    if level == libc::IPPROTO_IPV6 && extra.inet6 {
        return set_ipv6(s, h, kind, extra, name, val);
    }
    // Linux's sk_setsockopt: every socket-level option but SO_BINDTODEVICE wants an int's room at
    // least (a shorter value is EINVAL, not its first byte as an IP option's may be).
    if level == libc::SOL_SOCKET && name != libc::SO_BINDTODEVICE && val.len() < 4 {
        return Err(Errno::EINVAL);
    }
    match (level, name) {
        // Looked at when the socket binds, as Linux's sk_reuse and sk_reuseport are.
        (libc::SOL_SOCKET, libc::SO_REUSEADDR) => {
            let on = int(val)? != 0;
            if let Some(u) = s.udp_socket_mut(h) {
                u.reuse_addr = on;
            } else if let Ok(t) = s.tcp_socket_mut(h) {
                t.reuse_addr = on;
            }
            Ok(())
        }
        (libc::SOL_SOCKET, libc::SO_REUSEPORT) => {
            let on = int(val)? != 0;
            extra.reuse_port = on;
            if let Some(u) = s.udp_socket_mut(h) {
                u.reuse_port = on;
            } else if let Ok(t) = s.tcp_socket_mut(h) {
                t.reuse_port = on;
            }
            Ok(())
        }
        (libc::SOL_SOCKET, libc::SO_BROADCAST) => {
            let on = int(val)? != 0;
            extra.broadcast = on;
            if let Some(u) = s.udp_socket_mut(h) {
                u.broadcast = on;
            }
            Ok(())
        }
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => {
            let on = int(val)? != 0;
            if stream {
                tcp_config(s, h, |c| c.keepalive = on)?;
            }
            Ok(())
        }
        (
            libc::SOL_SOCKET,
            libc::SO_RCVBUF | libc::SO_RCVBUFFORCE | libc::SO_SNDBUF | libc::SO_SNDBUFFORCE,
        ) => {
            let rcv = matches!(name, libc::SO_RCVBUF | libc::SO_RCVBUFFORCE);
            let force = matches!(name, libc::SO_RCVBUFFORCE | libc::SO_SNDBUFFORCE);
            let size = linux_buffer_size(int(val)?, rcv, force);
            if rcv {
                extra.rcvbuf = Some(size as u32);
            } else {
                extra.sndbuf = Some(size as u32);
            }
            // A UDP socket's queue holds up to the size in bytes of datagrams and their overhead,
            // as Linux counts truesize against sk_rcvbuf (the service sizes the socketpair to match).
            if let Some(u) = s.udp_socket_mut(h) {
                if rcv {
                    u.rcvbuf = size;
                }
                return Ok(());
            }
            // A TCP connection's data space is half of it (the other half is Linux's overhead).
            let bytes = (size / 2).max(BUF_MIN);
            let t = s.tcp_socket_mut(h)?;
            if rcv {
                t.config.recv_buffer = bytes;
            } else {
                t.config.send_buffer = bytes;
                t.config.send_buffer_locked = true;
            }
            if let Some(c) = t.connection_mut() {
                let applied = if rcv {
                    c.set_recv_buffer(bytes)
                } else {
                    c.set_send_buffer(bytes)
                };
                if !applied {
                    log::debug!(
                        "a buffer size set on an established connection applies to new ones only"
                    );
                }
            }
            Ok(())
        }
        (libc::SOL_SOCKET, libc::SO_LINGER) => {
            if val.len() < std::mem::size_of::<libc::linger>() {
                return Err(Errno::EINVAL);
            }
            let on = int(&val[0..4])?;
            let secs = int(&val[4..8])?;
            let linger = (on != 0).then(|| Duration::from_secs(secs.max(0) as u64));
            if stream {
                tcp_config(s, h, |c| c.linger = linger)?;
            }
            Ok(())
        }
        (libc::SOL_SOCKET, libc::SO_OOBINLINE) => int(val).map(drop),
        // Who may set it (CAP_NET_ADMIN) is checked in `server::requests`.
        (libc::SOL_SOCKET, libc::SO_DEBUG) => {
            extra.kept.debug = int(val)? != 0;
            Ok(())
        }
        // sk_setsockopt takes SO_BSDCOMPAT and does nothing with it (sk_getsockopt says 0).
        (libc::SOL_SOCKET, libc::SO_BSDCOMPAT) => int(val).map(drop),
        // tcp_set_peek_off takes any int (what is negative turns it off).
        (libc::SOL_SOCKET, libc::SO_PEEK_OFF) if stream => {
            extra.kept.peek_off = Some(int(val)?);
            Ok(())
        }
        (libc::SOL_SOCKET, libc::SO_DONTROUTE) => {
            extra.kept.dontroute = int(val)? != 0;
            Ok(())
        }
        (libc::SOL_SOCKET, libc::SO_MAX_PACING_RATE) => {
            let rate = max_pacing_rate(val)?;
            extra.max_pacing_rate = Some(rate);
            if stream {
                let rate = u32::try_from(rate).unwrap_or(u32::MAX);
                tcp_config(s, h, |c| c.max_pacing_rate = rate)?;
            }
            Ok(())
        }
        // Who may set what (CAP_NET_ADMIN for SO_MARK or a priority beyond 6) is checked where
        // the caller's capabilities are known (`server::requests`).
        (libc::SOL_SOCKET, libc::SO_PRIORITY) => {
            extra.kept.priority = int(val)?;
            Ok(())
        }
        (libc::SOL_SOCKET, libc::SO_MARK) => {
            extra.kept.mark = int(val)?;
            Ok(())
        }
        (libc::SOL_SOCKET, libc::SO_INCOMING_CPU) => {
            extra.kept.incoming_cpu = Some(int(val)?);
            Ok(())
        }
        (libc::SOL_SOCKET, libc::SO_BUSY_POLL) => match int(val)? {
            v if v < 0 => Err(Errno::EINVAL),
            v => {
                extra.kept.busy_poll = v;
                Ok(())
            }
        },
        // As Linux: setting a TCP option on a UDP socket is ENOPROTOOPT (getting one, EOPNOTSUPP).
        (libc::IPPROTO_TCP, _) if !stream => Err(Errno::ENOPROTOOPT),
        // Gone from Linux's TCP (4.15): do_tcp_setsockopt only checks its range (0 or 1, else
        // EINVAL) and does nothing, and do_tcp_getsockopt says 0.
        (libc::IPPROTO_TCP, libc::TCP_THIN_DUPACK) => match int(val)? {
            0 | 1 => Ok(()),
            _ => Err(Errno::EINVAL),
        },
        (libc::IPPROTO_TCP, libc::TCP_NODELAY) => {
            let on = int(val)? != 0;
            tcp_config(s, h, |c| c.nodelay = on)?;
            if on {
                if let Some(c) = s.tcp_socket_mut(h)?.connection_mut() {
                    c.push_for_nodelay();
                }
            }
            Ok(())
        }
        (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT) => {
            let ms = int(val)?;
            if ms < 0 {
                return Err(Errno::EINVAL);
            }
            tcp_config(s, h, |c| c.user_timeout = Duration::from_millis(ms as u64))
        }
        (libc::IPPROTO_TCP, libc::TCP_CORK) => {
            let on = int(val)? != 0;
            tcp_config(s, h, |c| c.cork = on)
        }
        (libc::IPPROTO_TCP, libc::TCP_QUICKACK) => {
            let on = int(val)? != 0;
            let t = s.tcp_socket_mut(h)?;
            match t.connection_mut() {
                Some(c) => c.set_quick_ack(on),
                // Before connect Linux keeps it on the socket (icsk_ack.pingpong), for the
                // connection to come.
                None => t.config.quick_ack_off = !on,
            }
            Ok(())
        }
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE | libc::TCP_KEEPINTVL) => {
            let v = int(val)?;
            if !(1..=32767).contains(&v) {
                return Err(Errno::EINVAL);
            }
            let d = Duration::from_secs(v as u64);
            let idle = name == libc::TCP_KEEPIDLE;
            tcp_config(s, h, |c| {
                if idle {
                    c.keepalive_idle = d
                } else {
                    c.keepalive_interval = d
                }
            })
        }
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT) => {
            let v = int(val)?;
            if !(1..=127).contains(&v) {
                return Err(Errno::EINVAL);
            }
            tcp_config(s, h, |c| c.keepalive_count = v as u8)
        }
        (libc::IPPROTO_TCP, libc::TCP_SYNCNT) => {
            let v = int(val)?;
            if !(1..=127).contains(&v) {
                return Err(Errno::EINVAL);
            }
            // A connecting socket's SYNs, a listener's SYN-ACKs (Linux's icsk_syn_retries).
            tcp_config(s, h, |c| {
                c.syn_retries = v as u8;
                c.synack_retries = v as u8;
            })
        }
        (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => {
            let v = int(val)?;
            if !(88..=65535).contains(&v) {
                return Err(Errno::EINVAL);
            }
            tcp_config(s, h, |c| c.mss = c.mss.min(v as u16))
        }
        (libc::IPPROTO_TCP, libc::TCP_CONGESTION) => {
            let name = val.split(|&b| b == 0).next().unwrap_or_default();
            let name = std::str::from_utf8(name).map_err(|_| Errno(libc::ENOENT))?;
            // Reno, CUBIC and BBR, the three a default Linux build has; any other name gets what
            // a kernel without that module answers.
            let algo = Algorithm::from_name(name).ok_or(Errno(libc::ENOENT))?;
            tcp_config(s, h, |c| c.congestion = algo)
        }
        (libc::SOL_SOCKET, libc::SO_RCVLOWAT) if stream => {
            // sock_setsockopt: a negative value is INT_MAX, 0 is 1.
            let v = int(val)?;
            extra.rcvlowat = if v < 0 {
                i32::MAX as u32
            } else {
                (v as u32).max(1)
            };
            Ok(())
        }
        (libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT) => {
            // Any int, kept as Linux's u32 tp->notsent_lowat; 0 is the host's.
            let v = int(val)?;
            let mark = match v as u32 {
                0 => s.tcp_defaults().notsent_lowat,
                m => m,
            };
            tcp_config(s, h, |c| c.notsent_lowat = mark)?;
            extra.notsent_lowat = Some(v);
            Ok(())
        }
        (libc::IPPROTO_TCP, libc::TCP_INQ) => {
            let v = int(val)?;
            if !(0..=1).contains(&v) {
                return Err(Errno::EINVAL);
            }
            extra.inq = v == 1;
            Ok(())
        }
        (libc::IPPROTO_TCP, libc::TCP_LINGER2) => {
            // Seconds an orphaned connection may stay in FIN-WAIT-2: 0 is the host default
            // (tcp_fin_timeout, 60 s), at most 120 (Linux's TCP_FIN_TIMEOUT_MAX); below zero
            // it leaves at once.
            let v = int(val)?;
            let secs = if v == 0 { 60 } else { v.clamp(0, 120) as u64 };
            tcp_config(s, h, |c| c.fin_wait2_timeout = Duration::from_secs(secs))
        }
        // Fast Open (RFC 7413), with Linux's rules: the queue length on a socket not yet
        // connected (before or after listen), at most SOMAXCONN.
        (libc::IPPROTO_TCP, libc::TCP_FASTOPEN) => {
            let v = int(val)?;
            let t = s.tcp_socket_mut(h)?;
            if v < 0 || t.connection().is_some() {
                return Err(Errno::EINVAL);
            }
            t.fast_open.qlen = (v as u32).min(4096);
            Ok(())
        }
        // Only where the host's tcp_fastopen lets clients use it (EOPNOTSUPP), and before connect.
        (libc::IPPROTO_TCP, libc::TCP_FASTOPEN_CONNECT) => {
            let v = int(val)?;
            if !(0..=1).contains(&v) {
                return Err(Errno::EINVAL);
            }
            let t = s.tcp_socket_mut(h)?;
            if t.config.fastopen & crate::tcp::fastopen::sysctl::CLIENT_ENABLE == 0 {
                return Err(Errno::EOPNOTSUPP);
            }
            if !matches!(t.state, crate::stack::tcp_socket::TcpState::Fresh) {
                return Err(Errno::EINVAL);
            }
            t.fast_open.connect = v == 1;
            Ok(())
        }
        // The listener's own cookie keys: 16 bytes, or 32 (a primary and a backup key: cookies
        // of either are taken, new ones made with the primary), in any state, as Linux's.
        (libc::IPPROTO_TCP, libc::TCP_FASTOPEN_KEY) => {
            let keys = crate::tcp::fastopen::Keys::from_bytes(val).ok_or(Errno::EINVAL)?;
            s.tcp_socket_mut(h)?.fast_open.keys = Some(Box::new(keys));
            Ok(())
        }
        // Linux's, beyond RFC 7413: 0 or 1, on a socket not yet connected or listening.
        (libc::IPPROTO_TCP, libc::TCP_FASTOPEN_NO_COOKIE) => {
            let v = int(val)?;
            let t = s.tcp_socket_mut(h)?;
            if !(0..=1).contains(&v) || t.connection().is_some() {
                return Err(Errno::EINVAL);
            }
            t.fast_open.no_cookie = v == 1;
            Ok(())
        }
        // Seconds, kept as Linux keeps them: SYN-ACK retransmissions (any value is taken; zero or
        // less turns it off). A listener's connections wait for data before accept sees them.
        (libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT) => {
            let count = crate::tcp::config::defer_accept_retransmissions(int(val)?);
            tcp_config(s, h, |c| c.defer_accept = count)
        }
        // Not built: a window clamp. Refused, as an unknown option is, so a program does not
        // count on it.
        (libc::IPPROTO_TCP, libc::TCP_WINDOW_CLAMP) => {
            log::debug!("TCP option {name} is not supported by this stack");
            Err(Errno::ENOPROTOOPT)
        }
        (libc::IPPROTO_IP, libc::IP_TTL) => {
            let v = int(val)?;
            let ttl = match v {
                -1 => crate::ipv4::DEFAULT_TTL,
                1..=255 => v as u8,
                _ => return Err(Errno::EINVAL),
            };
            if let Some(u) = s.udp_socket_mut(h) {
                u.ttl = ttl;
            } else {
                s.tcp_socket_mut(h)?.ip.ttl = ttl;
            }
            Ok(())
        }
        (libc::IPPROTO_IP, libc::IP_TOS) => {
            let tos = (int(val)? & 0xff) as u8;
            if let Some(u) = s.udp_socket_mut(h) {
                u.tos = tos;
            } else {
                // TCP owns the ECN bits (RFC 3168 §6.1); Linux drops them from IP_TOS on a
                // stream socket (__ip_sock_set_tos).
                s.tcp_socket_mut(h)?.ip.tos = tos & !crate::wire::ipv4::Ecn::MASK;
            }
            Ok(())
        }
        // do_ip_setsockopt: IP_PMTUDISC_DONT to IP_PMTUDISC_OMIT.
        (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER) => {
            let v = int(val)?;
            let mode = PmtuDisc::from_option(v).ok_or(Errno::EINVAL)?;
            if let Some(u) = s.udp_socket_mut(h) {
                u.pmtudisc = mode;
            } else {
                // TCP's segments fit the MSS: only DF follows the mode, set for WANT and DO
                // alone (__ip_queue_xmit's ip_dont_fragment; PROBE's segments go without).
                let tcp = s.tcp_socket_mut(h)?;
                tcp.ip.dont_frag = matches!(mode, PmtuDisc::Want | PmtuDisc::Do);
                // WANT's DF gives way to a locked path MTU, DO's does not (ip_dont_fragment).
                tcp.ip.may_fragment = mode.may_fragment();
            }
            extra.kept.pmtudisc = Some(v as u8);
            Ok(())
        }
        (libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT) => {
            extra.kept.bind_address_no_port = int(val)? != 0;
            Ok(())
        }
        (libc::IPPROTO_IP, libc::IP_FREEBIND) => {
            let on = int(val)? != 0;
            extra.kept.freebind = on;
            // What it changes: a bind to an address not ours is taken.
            if stream {
                if let Ok(t) = s.tcp_socket_mut(h) {
                    t.freebind = on;
                }
            } else if let Some(u) = s.udp_socket_mut(h) {
                u.freebind = on;
            }
            Ok(())
        }
        // On UDP: errors are reported as Linux's `inet->recverr` has them (soft ones too, on an
        // unconnected socket too; `crate::udp::UdpSocket::recv_err`). The error queue it would
        // also fill is not kept (MSG_ERRQUEUE finds it empty). Not built on TCP (ENOPROTOOPT).
        (libc::IPPROTO_IP, libc::IP_RECVERR) => {
            // do_ip_setsockopt reads an int, or one byte, and leaves 0 for a zero length.
            let on = !val.is_empty() && int(val)? != 0;
            let u = s.udp_socket_mut(h).ok_or(Errno::ENOPROTOOPT)?;
            u.recv_err = on;
            Ok(())
        }
        (libc::IPPROTO_IP, _) if set_multicast_named(name) => {
            set_multicast(s, h, stream, extra, name, val).expect("a multicast option")
        }
        (libc::IPPROTO_IP, _) if report_bit(name).is_some() => {
            let bit = report_bit(name).expect("matched");
            // do_ip_setsockopt reads an int, or one byte, and leaves 0 for a zero length.
            let on = !val.is_empty() && int(val)? != 0;
            if on {
                extra.report |= bit;
            } else {
                extra.report &= !bit;
            }
            Ok(())
        }
        _ => Err(Errno::ENOPROTOOPT),
    }
}

/// The multicast options built (source-specific ones, IP_ADD_SOURCE_MEMBERSHIP, IP_MSFILTER and
/// the MCAST_* protocol-independent forms, are not: ENOPROTOOPT).
fn set_multicast_named(name: i32) -> bool {
    matches!(
        name,
        libc::IP_ADD_MEMBERSHIP
            | libc::IP_DROP_MEMBERSHIP
            | libc::IP_MULTICAST_TTL
            | libc::IP_MULTICAST_LOOP
            | libc::IP_MULTICAST_ALL
            | libc::IP_MULTICAST_IF
    )
}

/// The control message an IP-level option asks for (Linux's do_ip_setsockopt sets these bits of
/// `inet->cmsg_flags`).
fn report_bit(name: i32) -> Option<u8> {
    match name {
        libc::IP_PKTINFO => Some(proto::report::PKTINFO),
        libc::IP_RECVTTL => Some(proto::report::TTL),
        libc::IP_RECVTOS => Some(proto::report::TOS),
        libc::IP_RECVORIGDSTADDR => Some(proto::report::ORIGDSTADDR),
        _ => None,
    }
}

/// `setsockopt(IPPROTO_IPV6, name)` on an AF_INET6 stack socket, which carries IPv4 only (a
/// socket whose traffic would be IPv6 stays on the kernel).
///
/// IPV6_V6ONLY as Linux's do_ipv6_setsockopt (net/ipv6/ipv6_sockglue.c): EINVAL for a value
/// shorter than an int or on a socket with a local port (`inet_num`); on one without, 0 is what
/// it is already. Turning it on is refused with EINVAL here, where Linux would take it: the socket
/// is on the stack because it carries IPv4, and a V6ONLY socket carries none. IPV6_TCLASS is
/// kept and reported as Linux keeps it (-1 for 0, RFC 3542 §6.5; a stream socket's ECN bits
/// left to TCP), changing nothing on IPv4 packets there either; so are the hop limits, the
/// multicast loop and interface ([`Ipv6Options`]), which a dual-stack program sets beside their
/// IP_* twins (Java's multicast sockets do, and fail on ENOPROTOOPT). Every other IPv6 option is
/// about IPv6 packets, which this stack does not send: ENOPROTOOPT, so that a program relying on
/// one learns it is not there.
fn set_ipv6(
    s: &mut Stack,
    h: SocketHandle,
    kind: Kind,
    extra: &mut Extra,
    name: i32,
    val: &[u8],
) -> Result<()> {
    match name {
        libc::IPV6_TCLASS => {
            let v = if val.len() < std::mem::size_of::<i32>() {
                return Err(Errno::EINVAL);
            } else {
                int(val)?
            };
            if !(-1..=0xff).contains(&v) {
                return Err(Errno::EINVAL);
            }
            let v = v.max(0) as u8;
            extra.tclass = if kind == Kind::Stream {
                v & !crate::wire::ipv4::Ecn::MASK
            } else {
                v
            };
            Ok(())
        }
        // Linux's do_ipv6_setsockopt: an int of four bytes at least; the multicast hops and
        // interface are no TCP socket's (ENOPROTOOPT), an interface must exist (ENODEV).
        libc::IPV6_UNICAST_HOPS
        | libc::IPV6_MULTICAST_HOPS
        | libc::IPV6_MULTICAST_LOOP
        | libc::IPV6_MULTICAST_IF => {
            let stream = kind == Kind::Stream;
            if stream && matches!(name, libc::IPV6_MULTICAST_HOPS | libc::IPV6_MULTICAST_IF) {
                return Err(Errno::ENOPROTOOPT);
            }
            if val.len() < std::mem::size_of::<i32>() {
                return Err(Errno::EINVAL);
            }
            let v = int(val)?;
            let o = &mut extra.v6;
            match name {
                libc::IPV6_UNICAST_HOPS | libc::IPV6_MULTICAST_HOPS if !(-1..=255).contains(&v) => {
                    return Err(Errno::EINVAL)
                }
                libc::IPV6_UNICAST_HOPS => o.unicast_hops = v as i16,
                libc::IPV6_MULTICAST_HOPS => o.multicast_hops = if v == -1 { 1 } else { v as u8 },
                libc::IPV6_MULTICAST_LOOP if v != 0 && v != 1 => return Err(Errno::EINVAL),
                libc::IPV6_MULTICAST_LOOP => o.multicast_loop_off = v == 0,
                _ => {
                    if v != 0 && !interface_exists(v as u32) {
                        return Err(Errno::ENODEV);
                    }
                    o.multicast_if = v as u32;
                }
            }
            Ok(())
        }
        // A datagram socket's IPV6_PKTINFO control message, which Linux's udpv6_recvmsg gives for
        // IPv4 traffic too (the destination IPv4-mapped), before IPv4's own; an int of four bytes
        // at least. Java sets it (to 0) on every datagram socket.
        libc::IPV6_RECVPKTINFO if kind == Kind::Dgram => {
            if val.len() < std::mem::size_of::<i32>() {
                return Err(Errno::EINVAL);
            }
            if int(val)? != 0 {
                extra.report |= proto::report::PKTINFO6;
            } else {
                extra.report &= !proto::report::PKTINFO6;
            }
            Ok(())
        }
        libc::IPV6_V6ONLY => {
            if val.len() < std::mem::size_of::<i32>() || s.local_addr(h)?.port() != 0 {
                return Err(Errno::EINVAL);
            }
            if int(val)? != 0 {
                return Err(Errno::EINVAL);
            }
            Ok(())
        }
        _ => {
            log::debug!("IPv6 option {name} is not supported on a stack socket");
            Err(Errno::ENOPROTOOPT)
        }
    }
}

/// `getsockopt(IPPROTO_IPV6, name)` on an AF_INET6 stack socket: IPV6_V6ONLY is 0, IPV6_TCLASS
/// and the [`Ipv6Options`] as set (see [`set_ipv6`]); every other IPv6 option ENOPROTOOPT.
fn get_ipv6(extra: &Extra, name: i32) -> Result<Vec<u8>> {
    let o = &extra.v6;
    match name {
        libc::IPV6_UNICAST_HOPS if o.unicast_hops < 0 => Ok(ints(default_hop_limit())),
        libc::IPV6_UNICAST_HOPS => Ok(ints(i32::from(o.unicast_hops))),
        libc::IPV6_MULTICAST_HOPS => Ok(ints(i32::from(o.multicast_hops))),
        libc::IPV6_MULTICAST_LOOP => Ok(ints(i32::from(!o.multicast_loop_off))),
        libc::IPV6_MULTICAST_IF => Ok(ints(o.multicast_if as i32)),
        libc::IPV6_V6ONLY => Ok(ints(0)),
        libc::IPV6_TCLASS => Ok(ints(i32::from(extra.tclass))),
        libc::IPV6_RECVPKTINFO => Ok(ints(i32::from(extra.report & proto::report::PKTINFO6 != 0))),
        _ => Err(Errno::ENOPROTOOPT),
    }
}

/// Whether the namespace has an interface of index `ifindex`.
fn interface_exists(ifindex: u32) -> bool {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `name` has the IF_NAMESIZE bytes if_indextoname writes at most.
    !unsafe { libc::if_indextoname(ifindex, name.as_mut_ptr()) }.is_null()
}

/// What IPV6_UNICAST_HOPS reports unset: the namespace's `net.ipv6.conf.all.hop_limit`.
fn default_hop_limit() -> i32 {
    std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/hop_limit")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(64)
}

/// Linux's TCP state numbers, as TCP_INFO reports them.
fn linux_state(s: State) -> u8 {
    match s {
        State::Established => 1,
        State::SynSent => 2,
        State::SynReceived => 3,
        State::FinWait1 => 4,
        State::FinWait2 => 5,
        // Linux's tcp_time_wait hands the connection over to a timewait sock and tcp_done
        // leaves the socket the program holds in TCP_CLOSE (TCP_TIME_WAIT is only ever seen in
        // the timewait sock, through ss or /proc).
        State::TimeWait => 7,
        State::Closed => 7,
        State::CloseWait => 8,
        State::LastAck => 9,
        State::Listen => 10,
        State::Closing => 11,
    }
}

/// `struct tcp_info` as Linux lays it out, up to `tcpi_data_segs_out`.
#[repr(C)]
#[derive(Default)]
struct TcpInfo {
    state: u8,
    ca_state: u8,
    retransmits: u8,
    probes: u8,
    backoff: u8,
    options: u8,
    wscale: u8,
    flags: u8,
    rto: u32,
    ato: u32,
    snd_mss: u32,
    rcv_mss: u32,
    unacked: u32,
    sacked: u32,
    lost: u32,
    retrans: u32,
    fackets: u32,
    last_data_sent: u32,
    last_ack_sent: u32,
    last_data_recv: u32,
    last_ack_recv: u32,
    pmtu: u32,
    rcv_ssthresh: u32,
    rtt: u32,
    rttvar: u32,
    snd_ssthresh: u32,
    snd_cwnd: u32,
    advmss: u32,
    reordering: u32,
    rcv_rtt: u32,
    rcv_space: u32,
    total_retrans: u32,
    pacing_rate: u64,
    max_pacing_rate: u64,
    bytes_acked: u64,
    bytes_received: u64,
    segs_out: u32,
    segs_in: u32,
    notsent_bytes: u32,
    min_rtt: u32,
    data_segs_in: u32,
    data_segs_out: u32,
}

fn tcp_info(st: Option<TcpStats>, listening: bool, mtu: usize) -> TcpInfo {
    let Some(st) = st else {
        return TcpInfo {
            state: if listening { 10 } else { 7 },
            ..TcpInfo::default()
        };
    };
    let mss = st.snd_mss.max(1);
    TcpInfo {
        state: linux_state(st.state),
        ca_state: if st.in_recovery { 3 } else { 0 },
        backoff: st.backoff.min(255) as u8,
        // TCPI_OPT_TIMESTAMPS | SACK | WSCALE as negotiated (wscale shows as non-zero scales),
        // TCPI_OPT_ECN, TCPI_OPT_ECN_SEEN and TCPI_OPT_SYN_DATA.
        options: 0b011
            | if st.snd_wscale != 0 || st.rcv_wscale != 0 {
                0b100
            } else {
                0
            }
            | if st.ecn { 0b1000 } else { 0 }
            | if st.ecn_seen { 0b1_0000 } else { 0 }
            | if st.syn_data { 0b10_0000 } else { 0 },
        wscale: (st.snd_wscale & 0xf) | (st.rcv_wscale << 4),
        rto: st.rto.as_micros() as u32,
        ato: 40_000,
        snd_mss: st.snd_mss as u32,
        rcv_mss: st.rcv_mss as u32,
        unacked: st.unacked.div_ceil(mss) as u32,
        sacked: st.sacked.div_ceil(mss) as u32,
        pmtu: mtu as u32,
        rcv_ssthresh: st.our_window as u32,
        rtt: st.srtt.map_or(0, |d| d.as_micros() as u32),
        rttvar: st.rttvar.as_micros() as u32,
        snd_ssthresh: (st.ssthresh / mss).min(u32::MAX as usize) as u32,
        snd_cwnd: (st.cwnd / mss) as u32,
        advmss: st.advmss as u32,
        reordering: 3,
        rcv_rtt: st.rcv_rtt.map_or(0, |d| d.as_micros() as u32),
        rcv_space: st.rcv_space.min(u32::MAX as usize) as u32,
        total_retrans: st.retransmits as u32,
        bytes_acked: st.bytes_acked,
        bytes_received: st.bytes_received,
        segs_out: st.segments_sent as u32,
        segs_in: st.segments_received as u32,
        ..TcpInfo::default()
    }
}

/// A connected TCP socket's SO_SNDBUF, unset, as Linux reports it: `sk_sndbuf` as
/// tcp_sndbuf_expand makes it when the connection is established, a kernel-measured size per
/// segment ([`crate::host::sndbuf_per_segment`]) times `max(TCP_INIT_CWND, cwnd)` segments,
/// between tcp_wmem's default and maximum. Linux grows it again as cwnd grows (tcp_new_space);
/// the stack grows its own send buffer then to two windows of data, so once that buffer has grown,
/// the window it grew for is counted. (The stack's buffer holds data, 64 KiB to begin with; this
/// is what Linux would say, in its units.) `None` if the kernel's size cannot be measured.
fn linux_connected_sndbuf(
    s: &Stack,
    h: SocketHandle,
    limits: &crate::host::BufferLimits,
) -> Option<i32> {
    let t = s.tcp_socket_ref(h)?;
    let c = t.connection()?;
    let mss = c.mss_clamp().clamp(1, u16::MAX as usize);
    let per_segment = crate::host::sndbuf_per_segment(mss as u16, t.config.congestion)? as usize;
    // TCP_INIT_CWND, or the window the stack's buffer last grew for (two of it).
    let grown = c.send_buffer_capacity() > t.config.send_buffer;
    let segments = if grown {
        (c.send_buffer_capacity() / 2).div_ceil(c.stats().snd_mss.max(1))
    } else {
        0
    };
    let size = per_segment.saturating_mul(segments.max(10));
    Some(
        size.clamp(
            limits.tcp_wmem_default,
            limits.tcp_wmem_max.max(limits.tcp_wmem_default),
        )
        .min(i32::MAX as usize) as i32,
    )
}

/// A connection's SO_RCVBUF, unset, once receive autotuning grew its buffer: Linux's
/// tcp_rcvbuf_grow raises `sk_rcvbuf` with the window, counting buffer space at twice the data it
/// holds (its default scaling ratio, TCP_DEFAULT_SCALING_RATIO), up to tcp_rmem's maximum. `None`
/// while the buffer has not grown (tcp_rmem's default stands).
fn linux_grown_rcvbuf(s: &Stack, h: SocketHandle) -> Option<i32> {
    let t = s.tcp_socket_ref(h)?;
    let capacity = t.connection()?.recv_capacity();
    (capacity > t.config.recv_buffer).then(|| {
        capacity
            .saturating_mul(2)
            .min(t.config.window_space as usize)
            .max(t.config.recv_buffer)
            .min(i32::MAX as usize) as i32
    })
}

fn ints(v: i32) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

/// `getsockopt(level, name)` on stack socket `h`: the whole value; the caller cuts it to the
/// program's buffer as Linux does.
pub fn get(
    s: &mut Stack,
    h: SocketHandle,
    kind: Kind,
    extra: &Extra,
    level: i32,
    name: i32,
) -> Result<Vec<u8>> {
    let stream = kind == Kind::Stream;
    let tcp_cfg = |s: &Stack, f: &dyn Fn(&crate::tcp::Config) -> i32| {
        s.tcp_socket_ref(h).map_or(0, |t| f(&t.config))
    };
    Ok(match (level, name) {
        (libc::SOL_SOCKET, libc::SO_TYPE) => ints(if stream {
            libc::SOCK_STREAM
        } else {
            libc::SOCK_DGRAM
        }),
        (libc::SOL_SOCKET, libc::SO_DOMAIN) => ints(if extra.inet6 {
            libc::AF_INET6
        } else {
            libc::AF_INET
        }),
        (libc::IPPROTO_IPV6, _) if extra.inet6 => get_ipv6(extra, name)?,
        (libc::SOL_SOCKET, libc::SO_PROTOCOL) => ints(if stream {
            libc::IPPROTO_TCP
        } else {
            libc::IPPROTO_UDP
        }),
        (libc::SOL_SOCKET, libc::SO_ACCEPTCONN) => {
            ints(s.tcp_socket_ref(h).is_some_and(|t| t.is_listening()) as i32)
        }
        (libc::SOL_SOCKET, libc::SO_REUSEADDR) => ints(s.udp_socket_ref(h).map_or_else(
            || s.tcp_socket_ref(h).is_some_and(|t| t.reuse_addr),
            |u| u.reuse_addr,
        ) as i32),
        (libc::SOL_SOCKET, libc::SO_REUSEPORT) => ints(extra.reuse_port as i32),
        (libc::SOL_SOCKET, libc::SO_BROADCAST) => {
            ints(s.udp_socket_ref(h).map_or(extra.broadcast, |u| u.broadcast) as i32)
        }
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => ints(tcp_cfg(s, &|c| c.keepalive as i32)),
        (libc::SOL_SOCKET, libc::SO_RCVBUF | libc::SO_SNDBUF) => {
            let rcv = name == libc::SO_RCVBUF;
            let limits = crate::host::BufferLimits::of_host();
            let set = if rcv { extra.rcvbuf } else { extra.sndbuf };
            // Unset: what the socket starts with, as Linux reports it (rmem_default and
            // wmem_default for UDP; for TCP tcp_rmem's default for receiving, and tcp_wmem's
            // for sending until a connection is made, then the stack's own send buffer, which
            // Linux's tcp_sndbuf_expand grows at that point too).
            let connected = s
                .tcp_socket_ref(h)
                .is_some_and(|t| t.connection().is_some());
            ints(match (set, stream) {
                (Some(v), _) => v as i32,
                (None, false) if rcv => limits.rmem_default as i32,
                (None, false) => limits.wmem_default as i32,
                (None, true) if !rcv && !connected => limits.tcp_wmem_default as i32,
                (None, true) if !rcv => linux_connected_sndbuf(s, h, &limits)
                    .unwrap_or_else(|| tcp_cfg(s, &|c| c.send_buffer as i32)),
                (None, true) if rcv && connected => linux_grown_rcvbuf(s, h)
                    .unwrap_or_else(|| tcp_cfg(s, &|c| c.recv_buffer as i32)),
                (None, true) => tcp_cfg(s, &|c| {
                    (if rcv { c.recv_buffer } else { c.send_buffer }) as i32
                }),
            })
        }
        (libc::SOL_SOCKET, libc::SO_LINGER) => {
            let linger = s
                .tcp_socket_ref(h)
                .and_then(|t| t.config.linger)
                .map_or(-1, |d| d.as_secs() as i32);
            let mut v = ints((linger >= 0) as i32);
            v.extend(ints(linger.max(0)));
            v
        }
        (libc::SOL_SOCKET, libc::SO_OOBINLINE) => ints(0),
        (libc::SOL_SOCKET, libc::SO_DEBUG) => ints(extra.kept.debug as i32),
        (libc::SOL_SOCKET, libc::SO_BSDCOMPAT) => ints(0),
        (libc::SOL_SOCKET, libc::SO_PEEK_OFF) if stream => ints(extra.kept.peek_off.unwrap_or(-1)),
        (libc::IPPROTO_TCP, libc::TCP_THIN_DUPACK) if stream => ints(0),
        (libc::SOL_SOCKET, libc::SO_PRIORITY) => ints(extra.kept.priority),
        (libc::SOL_SOCKET, libc::SO_MARK) => ints(extra.kept.mark),
        (libc::SOL_SOCKET, libc::SO_BUSY_POLL) => ints(extra.kept.busy_poll),
        (libc::SOL_SOCKET, libc::SO_DONTROUTE) => ints(extra.kept.dontroute as i32),
        (libc::SOL_SOCKET, libc::SO_INCOMING_CPU) => {
            ints(extra.kept.incoming_cpu.unwrap_or_else(|| {
                let connected = s
                    .tcp_socket_ref(h)
                    .is_some_and(|t| t.connection().is_some());
                if connected {
                    0
                } else {
                    -1
                }
            }))
        }
        // An inet socket has no peer credentials: Linux's cred_to_ucred without them, pid 0 and
        // uid and gid -1.
        (libc::SOL_SOCKET, libc::SO_PEERCRED) => {
            let mut v = ints(0);
            v.extend(ints(-1));
            v.extend(ints(-1));
            v
        }
        (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER) => ints(i32::from(
            extra.kept.pmtudisc.unwrap_or(libc::IP_PMTUDISC_WANT as u8),
        )),
        (libc::IPPROTO_IP, libc::IP_FREEBIND) => ints(extra.kept.freebind as i32),
        (libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT) => {
            ints(extra.kept.bind_address_no_port as i32)
        }
        (libc::SOL_SOCKET, libc::SO_SNDLOWAT) => ints(1),
        // Bound to no device (setting one is refused): Linux's sock_getbindtodevice then says
        // nothing, length 0, and SO_BINDTOIFINDEX index 0. sshd asks it of every connection.
        (libc::SOL_SOCKET, libc::SO_BINDTODEVICE) => Vec::new(),
        (libc::SOL_SOCKET, libc::SO_BINDTOIFINDEX) => ints(0),
        (libc::IPPROTO_TCP, _) if !stream => return Err(Errno::EOPNOTSUPP),
        (libc::IPPROTO_TCP, libc::TCP_NODELAY) => ints(tcp_cfg(s, &|c| c.nodelay as i32)),
        (libc::IPPROTO_TCP, libc::TCP_CORK) => ints(tcp_cfg(s, &|c| c.cork as i32)),
        (libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT) => ints(extra.notsent_lowat.unwrap_or(0)),
        (libc::IPPROTO_TCP, libc::TCP_INQ) => ints(extra.inq as i32),
        (libc::IPPROTO_TCP, libc::TCP_FASTOPEN) => ints(
            s.tcp_socket_ref(h)
                .map_or(0, |t| t.fast_open.qlen.min(i32::MAX as u32) as i32),
        ),
        (libc::IPPROTO_TCP, libc::TCP_FASTOPEN_CONNECT) => {
            ints(s.tcp_socket_ref(h).is_some_and(|t| t.fast_open.connect) as i32)
        }
        (libc::IPPROTO_TCP, libc::TCP_FASTOPEN_NO_COOKIE) => {
            ints(s.tcp_socket_ref(h).is_some_and(|t| t.fast_open.no_cookie) as i32)
        }
        // The socket's own keys, primary then backup; nothing for a socket without (Linux's
        // tcp_fastopen_get_cipher reads the socket's alone, though its cookies then come from
        // the namespace's key).
        (libc::IPPROTO_TCP, libc::TCP_FASTOPEN_KEY) => s
            .tcp_socket_ref(h)
            .and_then(|t| t.fast_open.keys.as_deref())
            .map_or_else(Vec::new, |k| k.to_bytes()),
        // Congestion-control details (Linux's tcp_cc_info): CUBIC and Reno report none, so
        // nothing is written for them, as Linux writes nothing; BBR reports its model as
        // `struct tcp_bbr_info` (bandwidth in bytes per second as two halves, least RTT in µs,
        // the gains in units of 1/256).
        (libc::IPPROTO_TCP, libc::TCP_CC_INFO) => s
            .tcp_socket_ref(h)
            .and_then(|t| t.connection())
            .and_then(|c| c.bbr_info())
            .map_or_else(Vec::new, |(bw, rtt, pacing, cwnd)| {
                [bw as u32, (bw >> 32) as u32, rtt, pacing, cwnd]
                    .iter()
                    .flat_map(|v| v.to_ne_bytes())
                    .collect()
            }),
        (libc::IPPROTO_TCP, libc::TCP_LINGER2) => {
            ints(tcp_cfg(s, &|c| c.fin_wait2_timeout.as_secs() as i32))
        }
        (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT) => ints(tcp_cfg(s, &|c| {
            c.user_timeout.as_millis().min(i32::MAX as u128) as i32
        })),
        (libc::IPPROTO_TCP, libc::TCP_QUICKACK) => ints(
            s.tcp_socket_ref(h)
                .map(|t| match t.connection() {
                    Some(c) => c.quick_ack(),
                    None => !t.config.quick_ack_off,
                })
                .unwrap_or(true) as i32,
        ),
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) => {
            ints(tcp_cfg(s, &|c| c.keepalive_idle.as_secs() as i32))
        }
        (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL) => {
            ints(tcp_cfg(s, &|c| c.keepalive_interval.as_secs() as i32))
        }
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT) => ints(tcp_cfg(s, &|c| c.keepalive_count as i32)),
        (libc::IPPROTO_TCP, libc::TCP_SYNCNT) => ints(tcp_cfg(s, &|c| c.syn_retries as i32)),
        (libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT) => ints(tcp_cfg(s, &|c| {
            crate::tcp::config::defer_accept_seconds(c.defer_accept)
        })),
        (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => {
            ints(s.tcp_stats(h).map_or(536, |st| st.snd_mss as i32))
        }
        (libc::IPPROTO_TCP, libc::TCP_CONGESTION) => {
            let algo = s
                .tcp_socket_ref(h)
                .map_or(Algorithm::default(), |t| t.config.congestion);
            let mut name = vec![0u8; 16];
            let n = algo.name();
            name[..n.len()].copy_from_slice(n.as_bytes());
            name
        }
        (libc::IPPROTO_TCP, libc::TCP_INFO) => {
            let info = tcp_info(
                s.tcp_stats(h),
                s.tcp_socket_ref(h).is_some_and(|t| t.is_listening()),
                s.iface().mtu,
            );
            // SAFETY: TcpInfo is plain repr(C) data without padding holes that matter here.
            unsafe {
                std::slice::from_raw_parts(
                    &info as *const TcpInfo as *const u8,
                    std::mem::size_of::<TcpInfo>(),
                )
            }
            .to_vec()
        }
        (libc::IPPROTO_IP, libc::IP_TTL) => ints(
            s.udp_socket_ref(h)
                .map(|u| u.ttl)
                .or_else(|| s.tcp_socket_ref(h).map(|t| t.ip.ttl))
                .unwrap_or(crate::ipv4::DEFAULT_TTL) as i32,
        ),
        (libc::IPPROTO_IP, libc::IP_TOS) => ints(
            s.udp_socket_ref(h)
                .map(|u| u.tos)
                .or_else(|| s.tcp_socket_ref(h).map(|t| t.ip.tos))
                .unwrap_or(0) as i32,
        ),
        (libc::IPPROTO_IP, libc::IP_RECVERR) => match s.udp_socket_ref(h) {
            Some(u) => ints(i32::from(u.recv_err)),
            None => return Err(Errno::ENOPROTOOPT),
        },
        (libc::IPPROTO_IP, _) if set_multicast_named(name) => {
            match get_multicast(s, h, extra, name) {
                Some(v) => v,
                // Linux's do_ip_getsockopt does not answer the membership options.
                None => return Err(Errno::ENOPROTOOPT),
            }
        }
        (libc::IPPROTO_IP, _) if report_bit(name).is_some() => ints(i32::from(
            extra.report & report_bit(name).expect("matched") != 0,
        )),
        // A level neither the socket's protocol nor IP's: Linux's tcp_getsockopt and
        // udp_getsockopt pass it to ip_getsockopt, which says EOPNOTSUPP for any but SOL_IP (an
        // AF_INET6 socket's ipv6_getsockopt says ENOPROTOOPT).
        (l, _)
            if !extra.inet6
                && l != libc::SOL_SOCKET
                && l != libc::IPPROTO_IP
                && l != if stream {
                    libc::IPPROTO_TCP
                } else {
                    libc::IPPROTO_UDP
                } =>
        {
            return Err(Errno::EOPNOTSUPP)
        }
        _ => return Err(Errno::ENOPROTOOPT),
    })
}
