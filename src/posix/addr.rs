//! `struct sockaddr` in and out of the C calls, with Linux's errno for each misuse.
//!
//! # AF_INET6 sockets
//! On Linux an AF_INET6 socket without IPV6_V6ONLY is dual-stack: its IPv4 traffic shows as
//! IPv4-mapped addresses, `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2; net/ipv6/af_inet6.c,
//! tcp_ipv6.c's mapped path). Such a socket whose traffic is IPv4 is a stack socket like an
//! AF_INET one: its addresses come in as `sockaddr_in6` and are read here into the IPv4 address
//! they map ([`read6`]), and go out as `sockaddr_in6` again ([`write_for`]) — the wildcard as `::`,
//! as Linux's getsockname shows a socket bound to `::`. Any other IPv6 address stays with the
//! kernel.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use crate::error::Errno;

/// What a program passed as an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addr {
    V4(SocketAddrV4),
    /// An AF_INET6 address that maps no IPv4 one (`::`, `::1`, a real IPv6 address): IPv6
    /// traffic, the kernel's.
    V6(SocketAddrV6),
    /// AF_UNSPEC: "no address" (connect on UDP dissolves the association).
    Unspec,
}

/// SIN6_LEN_RFC2133: a sockaddr_in6 without sin6_scope_id, which Linux still takes.
const SIN6_LEN_RFC2133: usize = 24;

/// The family of an address argument, `None` for AF_UNSPEC, after the checks every family's
/// reading starts with: EFAULT for a null or unreadable address, EINVAL for one too short to
/// hold a family.
///
/// # Safety
/// `addr` must be null or point to `len` readable bytes.
unsafe fn family_of(
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
) -> Result<Option<i32>, Errno> {
    if addr.is_null() {
        return Err(Errno::EFAULT);
    }
    check_len(addr, len)?;
    if (len as usize) < std::mem::size_of::<libc::sa_family_t>() {
        return Err(Errno::EINVAL);
    }
    Ok(match (*addr).sa_family as i32 {
        libc::AF_UNSPEC => None,
        family => Some(family),
    })
}

/// Reads an address argument.
///
/// # Safety
/// `addr` must be null or point to `len` readable bytes.
pub unsafe fn read(addr: *const libc::sockaddr, len: libc::socklen_t) -> Result<Addr, Errno> {
    let Some(family) = family_of(addr, len)? else {
        return Ok(Addr::Unspec);
    };
    if family != libc::AF_INET {
        return Err(Errno::EAFNOSUPPORT);
    }
    if (len as usize) < std::mem::size_of::<libc::sockaddr_in>() {
        return Err(Errno::EINVAL);
    }
    let sin = std::ptr::read_unaligned(addr as *const libc::sockaddr_in);
    Ok(Addr::V4(SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
        u16::from_be(sin.sin_port),
    )))
}

/// Reads an address argument given to an AF_INET6 socket: an IPv4-mapped address as the IPv4
/// address it maps, any other as [`Addr::V6`]. As Linux's inet6_bind and tcp_v6_connect check it:
/// AF_UNSPEC is let through (connect dissolves with it, before the family's own checks), a length
/// under SIN6_LEN_RFC2133 (24) is EINVAL, then a family other than AF_INET6 EAFNOSUPPORT.
///
/// # Safety
/// `addr` must be null or point to `len` readable bytes.
pub unsafe fn read6(addr: *const libc::sockaddr, len: libc::socklen_t) -> Result<Addr, Errno> {
    let Some(family) = family_of(addr, len)? else {
        return Ok(Addr::Unspec);
    };
    if (len as usize) < SIN6_LEN_RFC2133 {
        return Err(Errno::EINVAL);
    }
    if family != libc::AF_INET6 {
        return Err(Errno::EAFNOSUPPORT);
    }
    let mut sin6: libc::sockaddr_in6 = std::mem::zeroed();
    let n = (len as usize).min(std::mem::size_of::<libc::sockaddr_in6>());
    std::ptr::copy_nonoverlapping(addr as *const u8, &mut sin6 as *mut _ as *mut u8, n);
    let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
    let port = u16::from_be(sin6.sin6_port);
    Ok(match ip.to_ipv4_mapped() {
        Some(v4) => Addr::V4(SocketAddrV4::new(v4, port)),
        None => Addr::V6(SocketAddrV6::new(
            ip,
            port,
            sin6.sin6_flowinfo,
            sin6.sin6_scope_id,
        )),
    })
}

/// Reads the address of a `sendto` (`sending`) or `connect` on an AF_INET6 UDP socket, which
/// takes more than a TCP one: an AF_INET address is an IPv4 destination (udpv6_sendmsg goes to
/// udp_sendmsg with it, ip6_datagram_connect to __ip4_datagram_connect, each with its own checks:
/// [`read`]), and AF_UNSPEC no address; an AF_INET6 one is read by [`read6`]. Another family is
/// EINVAL for a send (udpv6_sendmsg), and for a connect EINVAL under SIN6_LEN_RFC2133 bytes,
/// else EAFNOSUPPORT (ip6_datagram_connect).
///
/// # Safety
/// As [`read`].
pub unsafe fn read6_dgram(
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
    sending: bool,
) -> Result<Addr, Errno> {
    match family_of(addr, len)? {
        None => Ok(Addr::Unspec),
        Some(libc::AF_INET) => read(addr, len),
        Some(libc::AF_INET6) => read6(addr, len),
        _ if sending || (len as usize) < SIN6_LEN_RFC2133 => Err(Errno::EINVAL),
        _ => Err(Errno::EAFNOSUPPORT),
    }
}

/// Reads an address argument for a socket of the family `inet6` says ([`read`], [`read6`]).
///
/// # Safety
/// As [`read`].
pub unsafe fn read_for(
    inet6: bool,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
) -> Result<Addr, Errno> {
    if inet6 {
        read6(addr, len)
    } else {
        read(addr, len)
    }
}

/// The checks Linux makes of any address argument before a call looks at it
/// (`move_addr_to_kernel`): its length, then that it can be read. For an address passed on every
/// call of a hot path (a connected socket's `sendto`), the readability of the one passed last is
/// remembered ([`super::user::check_read_again`]).
///
/// # Safety
/// None beyond a pointer's validity being checked here.
pub unsafe fn check_len(addr: *const libc::sockaddr, len: libc::socklen_t) -> Result<(), Errno> {
    if (len as i32) < 0 || len as usize > std::mem::size_of::<libc::sockaddr_storage>() {
        return Err(Errno::EINVAL);
    }
    super::user::check_read_again(addr.cast(), len as usize)
}

/// Writes `a` the way the kernel does: as much as fits in `*len`, and `*len` set to the full size.
///
/// # Safety
/// `out` and `len` must be null or valid; `out` must have `*len` writable bytes.
pub unsafe fn write(
    a: SocketAddrV4,
    out: *mut libc::sockaddr,
    len: *mut libc::socklen_t,
) -> Result<(), Errno> {
    write_bytes(as_bytes(&crate::sys::sockaddr_in(a)), out, len)
}

/// Writes the IPv4 address `a` of an AF_INET6 socket as Linux gives it for one: a
/// `sockaddr_in6` with the IPv4-mapped address (RFC 4291 §2.5.5.2), sin6_flowinfo and
/// sin6_scope_id 0; the wildcard 0.0.0.0 as `::` (inet6_getname shows sk_v6_rcv_saddr, which a
/// bind to `::` or no bind leaves all zeroes). Cut and sized as [`write`].
///
/// # Safety
/// As [`write`].
pub unsafe fn write6(
    a: SocketAddrV4,
    out: *mut libc::sockaddr,
    len: *mut libc::socklen_t,
) -> Result<(), Errno> {
    let ip = if a.ip().is_unspecified() {
        Ipv6Addr::UNSPECIFIED
    } else {
        a.ip().to_ipv6_mapped()
    };
    let mut sin6: libc::sockaddr_in6 = std::mem::zeroed();
    sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sin6.sin6_port = a.port().to_be();
    sin6.sin6_addr.s6_addr = ip.octets();
    write_bytes(as_bytes(&sin6), out, len)
}

/// [`write`] or [`write6`], as the socket's family `inet6` says.
///
/// # Safety
/// As [`write`].
pub unsafe fn write_for(
    inet6: bool,
    a: SocketAddrV4,
    out: *mut libc::sockaddr,
    len: *mut libc::socklen_t,
) -> Result<(), Errno> {
    if inet6 {
        write6(a, out, len)
    } else {
        write(a, out, len)
    }
}

/// Writes the sender of a datagram that a socket of the family `inet6` says received, as
/// [`write_for`]; one from IPv6's loopback (`ipv6_loopback`, which only an AF_INET6 socket's twin
/// on `::1` receives, see [`crate::service::udp_loopback`]) as `[::1]` and `a`'s port.
///
/// # Safety
/// As [`write`].
pub unsafe fn write_sender(
    inet6: bool,
    a: SocketAddrV4,
    ipv6_loopback: bool,
    out: *mut libc::sockaddr,
    len: *mut libc::socklen_t,
) -> Result<(), Errno> {
    if !ipv6_loopback {
        return write_for(inet6, a, out, len);
    }
    let mut sin6: libc::sockaddr_in6 = std::mem::zeroed();
    sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sin6.sin6_port = a.port().to_be();
    sin6.sin6_addr.s6_addr = Ipv6Addr::LOCALHOST.octets();
    write_bytes(as_bytes(&sin6), out, len)
}

/// A plain C struct's bytes.
fn as_bytes<T>(v: &T) -> &[u8] {
    // SAFETY: the sockaddr structs are plain data, wholly initialised (zeroed first, or every
    // field given).
    unsafe { std::slice::from_raw_parts(v as *const T as *const u8, std::mem::size_of::<T>()) }
}

/// Linux's move_addr_to_user: as much of `full` as fits in `*len`, `*len` set to its size.
///
/// # Safety
/// As [`write`].
pub unsafe fn write_bytes(
    full: &[u8],
    out: *mut libc::sockaddr,
    len: *mut libc::socklen_t,
) -> Result<(), Errno> {
    if out.is_null() || len.is_null() {
        return if out.is_null() && len.is_null() {
            Ok(())
        } else {
            Err(Errno::EFAULT)
        };
    }
    // Linux's move_addr_to_user: the length read (EFAULT), a negative one EINVAL, then the
    // address and the length written, in that order, each EFAULT if it cannot be: one system
    // call writes both, and is the check. The two are often the same variables call after call
    // (a receive loop's), so what was found usable is remembered.
    super::user::check_read_again_of(len)?;
    if (*len as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    let room = (*len as usize).min(full.len());
    super::user::write_answer_again(
        out.cast(),
        &full[..room],
        len,
        full.len() as libc::socklen_t,
    )
}

/// True for addresses that stay on the kernel: the loopback network; and, as a destination
/// (`binding` false), the wildcard 0.0.0.0, which Linux takes for the local host
/// (ip_route_output_key_hash_rcu makes a destination of 0 one of 127.0.0.1, on the loopback
/// device). A wildcard listener or UDP socket on the stack is there too, by its twin on loopback
/// ([`crate::service::loopback`], [`crate::service::udp_loopback`]).
pub fn stays_on_kernel(a: &SocketAddrV4, binding: bool) -> bool {
    a.ip().is_loopback() || (!binding && a.ip().is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sin6(ip: &str, port: u16) -> libc::sockaddr_in6 {
        // SAFETY: a plain C struct, all zeroes valid.
        let mut a: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        a.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        a.sin6_port = port.to_be();
        a.sin6_addr.s6_addr = ip.parse::<Ipv6Addr>().unwrap().octets();
        a
    }

    fn read_of(a: &libc::sockaddr_in6, len: usize) -> Result<Addr, Errno> {
        // SAFETY: `a` has at least `len` bytes (checked by the callers' sizes).
        unsafe {
            read6(
                a as *const _ as *const libc::sockaddr,
                len as libc::socklen_t,
            )
        }
    }

    #[test]
    fn a_mapped_address_reads_as_the_ipv4_one_and_others_as_ipv6() {
        let v4 = SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, 1), 80);
        assert_eq!(read_of(&sin6("::ffff:10.77.0.1", 80), 28), Ok(Addr::V4(v4)));
        // SIN6_LEN_RFC2133, without the scope id, is taken too.
        assert_eq!(read_of(&sin6("::ffff:10.77.0.1", 80), 24), Ok(Addr::V4(v4)));
        assert!(matches!(read_of(&sin6("::", 80), 28), Ok(Addr::V6(a)) if a.ip().is_unspecified()));
        assert!(matches!(read_of(&sin6("::1", 80), 28), Ok(Addr::V6(_))));
        assert_eq!(read_of(&sin6("::", 80), 23), Err(Errno::EINVAL));
        let mut inet = sin6("::", 80);
        inet.sin6_family = libc::AF_INET as libc::sa_family_t;
        assert_eq!(read_of(&inet, 28), Err(Errno::EAFNOSUPPORT));
        inet.sin6_family = libc::AF_UNSPEC as libc::sa_family_t;
        assert_eq!(read_of(&inet, 16), Ok(Addr::Unspec));
    }

    #[test]
    fn loopback_and_the_wildcard_as_a_destination_stay_on_the_kernel() {
        let at = |ip: [u8; 4]| SocketAddrV4::new(Ipv4Addr::from(ip), 80);
        assert!(stays_on_kernel(&at([127, 0, 0, 1]), false));
        assert!(stays_on_kernel(&at([127, 9, 9, 9]), true));
        assert!(stays_on_kernel(&at([0, 0, 0, 0]), false));
        // Bound to the wildcard, a socket takes every address: the stack's.
        assert!(!stays_on_kernel(&at([0, 0, 0, 0]), true));
        assert!(!stays_on_kernel(&at([10, 77, 0, 1]), false));
    }

    #[test]
    fn an_address_goes_out_as_linux_gives_an_af_inet6_socket_its_own() {
        let mut out = [0xaau8; 32];
        let mut len: libc::socklen_t = 28;
        let a = SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, 2), 0x1234);
        // SAFETY: `out` has 32 bytes.
        unsafe { write6(a, out.as_mut_ptr().cast(), &mut len) }.unwrap();
        assert_eq!(len, 28);
        assert_eq!(&out[..2], &(libc::AF_INET6 as u16).to_ne_bytes());
        assert_eq!(&out[2..4], &[0x12, 0x34]);
        assert_eq!(&out[4..8], &[0; 4]);
        assert_eq!(
            &out[8..24],
            &"::ffff:10.77.0.2".parse::<Ipv6Addr>().unwrap().octets()
        );
        assert_eq!(&out[24..32], &[0, 0, 0, 0, 0xaa, 0xaa, 0xaa, 0xaa]);
        // The wildcard is ::, and a short buffer takes what fits, the full length said.
        let mut out = [0xaau8; 32];
        let mut len: libc::socklen_t = 10;
        let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80);
        // SAFETY: `out` has 32 bytes.
        unsafe { write6(any, out.as_mut_ptr().cast(), &mut len) }.unwrap();
        assert_eq!(len, 28);
        assert_eq!(&out[4..10], &[0; 6]);
        assert_eq!(out[10], 0xaa);
    }
}
