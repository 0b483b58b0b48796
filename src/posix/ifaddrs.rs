//! `getifaddrs`: a program on the stack lists the stack's address on the TAP, as a program on
//! Linux lists the addresses its own sockets use.
//!
//! The namespace's kernel holds the TAP's other side (10.77.0.1), so libc's list names that
//! address on `tap0`. A server that binds each address it lists (named's `listen-on { any; }`,
//! which scans with getifaddrs and binds one socket per address) then bound 10.77.0.1 on the stack
//! and got EADDRNOTAVAIL: it answered on loopback only. Here the list is the kernel's with the
//! TAP's IPv4 entry made ours: the stack's address, its netmask and broadcast address (what
//! Linux's inet_fill_ifaddr reports for an address on an interface). Netlink (`RTM_GETADDR`) and
//! the `SIOCGIF*` ioctls still show the kernel's.

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

/// Makes the IPv4 entries of interface `iface` in the list at `list` say `addr`/`prefix_len`.
///
/// # Safety
/// `list` is null or a list getifaddrs made (glibc's layout, `struct ifaddrs`).
unsafe fn make_ours(list: *mut ifaddrs, iface: &str, addr: Ipv4Addr, prefix_len: u8) {
    let mask = Ipv4Addr::from(
        u32::MAX
            .checked_shl(32 - u32::from(prefix_len))
            .unwrap_or(0),
    );
    let broadcast = Ipv4Addr::from(u32::from(addr) | !u32::from(mask));
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
            put(ifa.ifa_addr, addr);
            put(ifa.ifa_netmask, mask);
            // ifa_ifu is the broadcast address with IFF_BROADCAST, else the point-to-point peer.
            if ifa.ifa_flags & libc::IFF_BROADCAST as u32 != 0 {
                put(ifa.ifa_ifu, broadcast);
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

#[cfg(test)]
mod tests {
    use super::make_ours;
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
