//! The program's view of its addresses: `getifaddrs`, and the route netlink's address messages,
//! name the stack's address on the TAP, as a program on Linux lists the addresses its own sockets
//! use.
//!
//! The namespace's kernel holds the TAP's other side (10.77.0.1), so libc's list names that
//! address on `tap0`. A server that binds each address it lists (named's `listen-on { any; }`,
//! which scans with getifaddrs and binds one socket per address) then bound 10.77.0.1 on the stack
//! and got EADDRNOTAVAIL: it answered on loopback only. Here the list is the kernel's with the
//! TAP's IPv4 entry made ours: the stack's address, its netmask and broadcast address (what
//! Linux's inet_fill_ifaddr reports for an address on an interface; where the kernel's TAP address
//! has no broadcast address, glibc's entry names the address itself, and then ours). Not done: a
//! second IPv4 address on the TAP's kernel side would be listed as ours a second time.
//!
//! dnsmasq (`--interface=tap0 --bind-interfaces`, `--bind-dynamic`) lists addresses with
//! `RTM_GETADDR` on a route netlink socket instead, and binds what it reads: each
//! `RTM_NEWADDR`/`RTM_DELADDR` for an IPv4 address on the TAP that a `recvmsg` or `recvfrom` on
//! such a socket brings is rewritten in place the same way ([`netlink_received`]): `IFA_ADDRESS`
//! and `IFA_LOCAL` ours, `IFA_BROADCAST` ours, the prefix length ours (the lengths never change).
//! The interface ioctls that read an address (`SIOCGIFADDR`, `SIOCGIFBRDADDR`, `SIOCGIFNETMASK`,
//! and `SIOCGIFCONF`'s list, which Java's NetworkInterface reads) say the same
//! ([`interface_ioctl`]).

// The exported function is libc's, with libc's contract.
#![allow(clippy::missing_safety_doc)]

use std::ffi::CStr;
use std::net::Ipv4Addr;

use libc::{c_int, ifaddrs, sockaddr_in};

use super::state;
use crate::real;
use crate::service::client;

/// Puts `addr` in the `sockaddr_in` at `sa`, if there is one of that family.
///
/// # Safety
/// `sa` is null or a `sockaddr` of a getifaddrs list (room for a `sockaddr_in` if AF_INET).
unsafe fn put(sa: *mut libc::sockaddr, addr: Ipv4Addr) {
    // SAFETY: as the caller promises.
    if !sa.is_null() && unsafe { i32::from((*sa).sa_family) } == libc::AF_INET {
        // SAFETY: an AF_INET entry is a sockaddr_in.
        unsafe { (*sa.cast::<sockaddr_in>()).sin_addr.s_addr = u32::from(addr).to_be() };
    }
}

/// The address in the `sockaddr_in` at `sa`, if there is one of that family.
///
/// # Safety
/// As for [`put`].
unsafe fn get(sa: *const libc::sockaddr) -> Option<Ipv4Addr> {
    // SAFETY: as the caller promises.
    if sa.is_null() || unsafe { i32::from((*sa).sa_family) } != libc::AF_INET {
        return None;
    }
    // SAFETY: an AF_INET entry is a sockaddr_in.
    Some(Ipv4Addr::from(u32::from_be(unsafe {
        (*sa.cast::<sockaddr_in>()).sin_addr.s_addr
    })))
}

/// The netmask of `prefix_len` and the broadcast address of `addr` in that prefix, as Linux's
/// inet_fill_ifaddr reports them for an address on an interface.
fn mask_and_broadcast(addr: Ipv4Addr, prefix_len: u8) -> (Ipv4Addr, Ipv4Addr) {
    let mask = crate::config::prefix_mask(prefix_len);
    (
        Ipv4Addr::from(mask),
        Ipv4Addr::from(u32::from(addr) | !mask),
    )
}

/// Makes the IPv4 entries of interface `iface` in the list at `list` say `addr`/`prefix_len`.
///
/// # Safety
/// `list` is null or a list getifaddrs made (glibc's layout, `struct ifaddrs`).
unsafe fn make_ours(list: *mut ifaddrs, iface: &str, addr: Ipv4Addr, prefix_len: u8) {
    let (mask, broadcast) = mask_and_broadcast(addr, prefix_len);
    let mut p = list;
    while !p.is_null() {
        // SAFETY: a node of the list.
        let ifa = unsafe { &mut *p };
        p = ifa.ifa_next;
        // SAFETY: ifa_name is a NUL-terminated name.
        let named = !ifa.ifa_name.is_null()
            && unsafe { CStr::from_ptr(ifa.ifa_name) }.to_bytes() == iface.as_bytes();
        let inet = !ifa.ifa_addr.is_null()
            // SAFETY: a sockaddr of the list.
            && unsafe { i32::from((*ifa.ifa_addr).sa_family) } == libc::AF_INET;
        if !named || !inet {
            continue;
        }
        // SAFETY: the entry's sockaddrs, AF_INET ones being sockaddr_in.
        unsafe {
            // ifa_ifu is the broadcast address with IFF_BROADCAST, else the point-to-point peer.
            // glibc fills it with the address itself when the kernel gave no IFA_BROADCAST (an
            // address added without `brd`): then it says ours, as Linux's would.
            let bare = get(ifa.ifa_ifu).is_some() && get(ifa.ifa_ifu) == get(ifa.ifa_addr);
            put(ifa.ifa_addr, addr);
            put(ifa.ifa_netmask, mask);
            if ifa.ifa_flags & libc::IFF_BROADCAST as u32 != 0 {
                put(ifa.ifa_ifu, if bare { addr } else { broadcast });
            }
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn getifaddrs(out: *mut *mut ifaddrs) -> c_int {
    let Some(f) = real!(getifaddrs: fn(*mut *mut ifaddrs) -> c_int) else {
        super::hook::set_errno(crate::error::Errno(libc::ENOSYS));
        return -1;
    };
    let r = f(out);
    if r == 0 && !out.is_null() && state::interposing() {
        if let Ok(c) = client::config() {
            // SAFETY: the list the real call just made.
            unsafe { make_ours(*out, &c.iface, c.addr, c.prefix_len) };
        }
    }
    r
}

/// The route netlink's numbers (linux/rtnetlink.h, linux/if_addr.h).
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
/// `struct nlmsghdr` and `struct ifaddrmsg`, and `struct rtattr`'s header, in bytes.
const NLMSG_HDRLEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
const RTA_HDRLEN: usize = 4;

/// NLMSG_ALIGN and RTA_ALIGN: 4 bytes.
fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Whether `buf` begins as an address message would (a header no longer than what came, of type
/// RTM_NEWADDR or RTM_DELADDR): the cheap test before asking the kernel what the socket is.
fn may_be_address_messages(buf: &[u8]) -> bool {
    if buf.len() < NLMSG_HDRLEN + IFADDRMSG_LEN {
        return false;
    }
    let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let ty = u16::from_ne_bytes([buf[4], buf[5]]);
    len >= NLMSG_HDRLEN && len <= buf.len() && (ty == RTM_NEWADDR || ty == RTM_DELADDR)
}

/// Rewrites the IPv4 address messages for interface `index` in the netlink messages in `buf` to
/// say `addr`/`prefix_len`; anything else, and a message cut short, is left as it came.
fn rewrite_address_messages(buf: &mut [u8], index: u32, addr: Ipv4Addr, prefix_len: u8) {
    let (_, broadcast) = mask_and_broadcast(addr, prefix_len);
    let mut at = 0;
    while at + NLMSG_HDRLEN <= buf.len() {
        let h = &buf[at..];
        let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let ty = u16::from_ne_bytes([h[4], h[5]]);
        if len < NLMSG_HDRLEN || at + len > buf.len() {
            return;
        }
        let msg = &mut buf[at..at + len];
        let ifa = NLMSG_HDRLEN;
        let ours = (ty == RTM_NEWADDR || ty == RTM_DELADDR)
            && len >= ifa + IFADDRMSG_LEN
            && i32::from(msg[ifa]) == libc::AF_INET
            && u32::from_ne_bytes([msg[ifa + 4], msg[ifa + 5], msg[ifa + 6], msg[ifa + 7]])
                == index;
        if ours {
            msg[ifa + 1] = prefix_len;
            let mut a = ifa + IFADDRMSG_LEN;
            while a + RTA_HDRLEN <= len {
                let alen = usize::from(u16::from_ne_bytes([msg[a], msg[a + 1]]));
                let aty = u16::from_ne_bytes([msg[a + 2], msg[a + 3]]);
                if alen < RTA_HDRLEN || a + alen > len {
                    break;
                }
                let value = match aty {
                    IFA_ADDRESS | IFA_LOCAL => Some(addr),
                    IFA_BROADCAST => Some(broadcast),
                    _ => None,
                };
                if let (Some(v), 8) = (value, alen) {
                    msg[a + RTA_HDRLEN..a + 8].copy_from_slice(&v.octets());
                }
                a += align4(alen);
            }
        }
        at += align4(len);
    }
}

/// Whether `fd` is a route netlink socket (SO_DOMAIN AF_NETLINK, SO_PROTOCOL NETLINK_ROUTE).
fn is_route_netlink(fd: c_int) -> bool {
    let option = |name: c_int| -> Option<c_int> {
        let mut v: c_int = -1;
        let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
        // SAFETY: an int and its length; the raw call, which leaves errno to be restored below.
        let r = unsafe {
            libc::syscall(
                libc::SYS_getsockopt,
                fd,
                libc::SOL_SOCKET,
                name,
                &mut v as *mut c_int,
                &mut len as *mut libc::socklen_t,
            )
        };
        (r == 0).then_some(v)
    };
    option(libc::SO_DOMAIN) == Some(libc::AF_NETLINK)
        && option(libc::SO_PROTOCOL) == Some(libc::NETLINK_ROUTE)
}

/// Called with what a `recvmsg` or `recvfrom` on a descriptor that is not a stack socket put in
/// `buf` (`len` bytes, as far as they fit): on a route netlink socket, the TAP's IPv4 address
/// messages are made to name the stack's address (see the module's doc).
///
/// # Safety
/// `buf` is valid for `len` bytes.
pub unsafe fn netlink_received(fd: c_int, buf: *mut u8, len: usize) {
    if buf.is_null() || len == 0 {
        return;
    }
    // SAFETY: as the caller promises.
    let data = unsafe { std::slice::from_raw_parts_mut(buf, len) };
    // The test on the bytes first: it is all most reads (of other sockets) ever cost here.
    if !may_be_address_messages(data) || !state::interposing() || state::in_vfork_child() {
        return;
    }
    super::hook::errno_kept(|| {
        if !is_route_netlink(fd) {
            return;
        }
        let Ok(c) = client::config() else {
            return;
        };
        if let Ok(name) = std::ffi::CString::new(c.iface.as_str()) {
            // SAFETY: a NUL-terminated name.
            let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
            if index != 0 {
                rewrite_address_messages(data, index, c.addr, c.prefix_len);
            }
        }
    });
}

/// `struct ifreq` (linux/if.h): the name, then the union whose sockaddr the calls below fill.
const IFREQ_LEN: usize = 40;
const IFNAMSIZ: usize = 16;

/// Makes one `struct ifreq` at `req` (as SIOCGIFADDR, SIOCGIFBRDADDR, SIOCGIFNETMASK or
/// SIOCGIFCONF filled it) name `value` if it is an AF_INET one of interface `iface`. One that says
/// 0.0.0.0 stays so: the TAP's address was given no broadcast address (as getifaddrs and netlink
/// then give none).
fn rewrite_ifreq(req: &mut [u8], iface: &str, value: Ipv4Addr) {
    let name = &req[..IFNAMSIZ];
    let len = name.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ);
    let family = i32::from(u16::from_ne_bytes([req[16], req[17]]));
    let unset = req[20..24] == [0; 4];
    if &name[..len] == iface.as_bytes() && family == libc::AF_INET && !unset {
        // sockaddr_in: family, port, then the address.
        req[20..24].copy_from_slice(&value.octets());
    }
}

/// After a successful interface ioctl `request` with argument `arg`, on any descriptor: the TAP's
/// IPv4 address, broadcast address or netmask as the stack's (see the module's doc).
///
/// # Safety
/// `arg` is what the kernel just filled for `request`: a `struct ifreq`, or a `struct ifconf`
/// whose buffer holds `ifc_len` bytes of them.
pub unsafe fn interface_ioctl(request: libc::c_ulong, arg: *mut u8) {
    if arg.is_null() || !state::interposing() || state::in_vfork_child() {
        return;
    }
    let Ok(c) = client::config() else {
        return;
    };
    let (mask, broadcast) = mask_and_broadcast(c.addr, c.prefix_len);
    let value = match request {
        libc::SIOCGIFADDR | libc::SIOCGIFCONF => c.addr,
        libc::SIOCGIFBRDADDR => broadcast,
        libc::SIOCGIFNETMASK => mask,
        _ => return,
    };
    if request != libc::SIOCGIFCONF {
        // SAFETY: a struct ifreq, as the caller promises.
        rewrite_ifreq(
            unsafe { std::slice::from_raw_parts_mut(arg, IFREQ_LEN) },
            &c.iface,
            value,
        );
        return;
    }
    // SAFETY: a struct ifconf (int ifc_len, then the buffer's pointer, aligned).
    let conf = unsafe { &*arg.cast::<libc::ifconf>() };
    // SAFETY: the union's pointer member, as SIOCGIFCONF reads it.
    let buf = unsafe { conf.ifc_ifcu.ifcu_buf }.cast::<u8>();
    let Ok(len) = usize::try_from(conf.ifc_len) else {
        return;
    };
    if buf.is_null() {
        return; // a query of the size only
    }
    // SAFETY: the kernel wrote ifc_len bytes of ifreqs there.
    let list = unsafe { std::slice::from_raw_parts_mut(buf, len) };
    for req in list.chunks_exact_mut(IFREQ_LEN) {
        rewrite_ifreq(req, &c.iface, value);
    }
}

#[cfg(test)]
mod tests {
    use super::{make_ours, may_be_address_messages, rewrite_address_messages, rewrite_ifreq};

    #[test]
    fn an_ifreq_of_the_tap_names_the_stacks_address() {
        let mut req = [0u8; 40];
        req[..4].copy_from_slice(b"tap0");
        req[16..18].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        req[20..24].copy_from_slice(&[10, 77, 0, 1]);
        let mut lo = req;
        lo[..4].copy_from_slice(b"lo\0\0");
        rewrite_ifreq(&mut req, "tap0", Ipv4Addr::new(10, 77, 0, 2));
        rewrite_ifreq(&mut lo, "tap0", Ipv4Addr::new(10, 77, 0, 2));
        assert_eq!(&req[20..24], &[10, 77, 0, 2]);
        assert_eq!(&lo[20..24], &[10, 77, 0, 1]);
        let mut tap01 = req;
        tap01[..5].copy_from_slice(b"tap01");
        tap01[20..24].copy_from_slice(&[10, 77, 0, 1]);
        rewrite_ifreq(&mut tap01, "tap0", Ipv4Addr::new(10, 77, 0, 2));
        assert_eq!(&tap01[20..24], &[10, 77, 0, 1]);
        let mut none = req;
        none[20..24].copy_from_slice(&[0; 4]);
        rewrite_ifreq(&mut none, "tap0", Ipv4Addr::new(10, 77, 0, 255));
        assert_eq!(&none[20..24], &[0; 4]);
    }
    use std::net::Ipv4Addr;

    fn sin(a: Ipv4Addr) -> libc::sockaddr_in {
        // SAFETY: all-zero is a valid sockaddr_in.
        let mut s: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        s.sin_family = libc::AF_INET as libc::sa_family_t;
        s.sin_addr.s_addr = u32::from(a).to_be();
        s
    }

    fn read(s: &libc::sockaddr_in) -> Ipv4Addr {
        Ipv4Addr::from(u32::from_be(s.sin_addr.s_addr))
    }

    /// An RTM_NEWADDR as the kernel sends it: AF_INET, prefix 24, interface `index`, IFA_ADDRESS,
    /// IFA_LOCAL, IFA_BROADCAST, IFA_LABEL "tap0".
    fn newaddr(index: u32) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&20u16.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&[libc::AF_INET as u8, 24, 0x80, 0]);
        m.extend_from_slice(&index.to_ne_bytes());
        for (ty, v) in [
            (1u16, [10, 77, 0, 1]),
            (2, [10, 77, 0, 1]),
            (4, [10, 77, 0, 255]),
        ] {
            m.extend_from_slice(&8u16.to_ne_bytes());
            m.extend_from_slice(&ty.to_ne_bytes());
            m.extend_from_slice(&v);
        }
        m.extend_from_slice(&9u16.to_ne_bytes());
        m.extend_from_slice(&3u16.to_ne_bytes());
        m.extend_from_slice(b"tap0\0\0\0\0");
        let len = (m.len() as u32 - 3).to_ne_bytes();
        m[..4].copy_from_slice(&len);
        m
    }

    #[test]
    fn the_taps_address_messages_name_the_stacks_address() {
        let mut buf = newaddr(7);
        buf.extend_from_slice(&newaddr(1));
        assert!(may_be_address_messages(&buf));
        rewrite_address_messages(&mut buf, 7, Ipv4Addr::new(10, 77, 0, 2), 16);
        let (tap, lo) = buf.split_at(newaddr(7).len());
        assert_eq!(tap[17], 16);
        assert_eq!(&tap[28..32], &[10, 77, 0, 2]);
        assert_eq!(&tap[36..40], &[10, 77, 0, 2]);
        assert_eq!(&tap[44..48], &[10, 77, 255, 255]);
        assert_eq!(&tap[52..56], b"tap0");
        assert_eq!(lo, &newaddr(1)[..]);
        // A message cut short is left alone, and data that is no netlink is not taken for it.
        let mut cut = newaddr(7);
        cut.truncate(30);
        rewrite_address_messages(&mut cut, 7, Ipv4Addr::new(10, 77, 0, 2), 16);
        assert_eq!(&cut[..], &newaddr(7)[..30]);
        assert!(!may_be_address_messages(
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        ));
    }

    #[test]
    fn the_taps_ipv4_entry_becomes_the_stacks_address() {
        let mut tap = [
            sin(Ipv4Addr::new(10, 77, 0, 1)),
            sin(Ipv4Addr::new(255, 255, 255, 0)),
            sin(Ipv4Addr::new(10, 77, 0, 255)),
        ];
        let mut lo = [sin(Ipv4Addr::LOCALHOST), sin(Ipv4Addr::new(255, 0, 0, 0))];
        // SAFETY: all-zero is a valid ifaddrs (null pointers).
        let mut nodes: [libc::ifaddrs; 2] = unsafe { std::mem::zeroed() };
        nodes[0].ifa_name = c"lo".as_ptr().cast_mut();
        nodes[0].ifa_flags = libc::IFF_LOOPBACK as u32;
        nodes[0].ifa_addr = (&mut lo[0] as *mut libc::sockaddr_in).cast();
        nodes[0].ifa_netmask = (&mut lo[1] as *mut libc::sockaddr_in).cast();
        nodes[1].ifa_name = c"tap0".as_ptr().cast_mut();
        nodes[1].ifa_flags = libc::IFF_BROADCAST as u32;
        nodes[1].ifa_addr = (&mut tap[0] as *mut libc::sockaddr_in).cast();
        nodes[1].ifa_netmask = (&mut tap[1] as *mut libc::sockaddr_in).cast();
        nodes[1].ifa_ifu = (&mut tap[2] as *mut libc::sockaddr_in).cast();
        let second: *mut libc::ifaddrs = &mut nodes[1];
        nodes[0].ifa_next = second;
        // SAFETY: a list laid out as getifaddrs lays it.
        unsafe { make_ours(nodes.as_mut_ptr(), "tap0", Ipv4Addr::new(10, 77, 0, 2), 16) };
        assert_eq!(read(&lo[0]), Ipv4Addr::LOCALHOST);
        assert_eq!(read(&tap[0]), Ipv4Addr::new(10, 77, 0, 2));
        assert_eq!(read(&tap[1]), Ipv4Addr::new(255, 255, 0, 0));
        assert_eq!(read(&tap[2]), Ipv4Addr::new(10, 77, 255, 255));
    }
}
