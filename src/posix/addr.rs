//! `struct sockaddr` in and out of the C calls, with Linux's errno for each misuse.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::error::Errno;

/// What a program passed as an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addr {
    V4(SocketAddrV4),
    /// AF_UNSPEC: "no address" (connect on UDP dissolves the association).
    Unspec,
}

/// Reads an address argument.
///
/// # Safety
/// `addr` must be null or point to `len` readable bytes.
pub unsafe fn read(addr: *const libc::sockaddr, len: libc::socklen_t) -> Result<Addr, Errno> {
    if addr.is_null() {
        return Err(Errno::EFAULT);
    }
    check_len(addr, len)?;
    if (len as usize) < std::mem::size_of::<libc::sa_family_t>() {
        return Err(Errno::EINVAL);
    }
    let family = (*addr).sa_family as i32;
    if family == libc::AF_UNSPEC {
        return Ok(Addr::Unspec);
    }
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
    if out.is_null() || len.is_null() {
        return if out.is_null() && len.is_null() {
            Ok(())
        } else {
            Err(Errno::EFAULT)
        };
    }
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    super::user::check_write_of(len)?;
    // Linux's move_addr_to_user: a negative length is EINVAL.
    if (*len as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    let full = std::mem::size_of::<libc::sockaddr_in>();
    let room = (*len as usize).min(full);
    super::user::check_write(out.cast(), room)?;
    std::ptr::copy_nonoverlapping(&sin as *const _ as *const u8, out as *mut u8, room);
    *len = full as libc::socklen_t;
    Ok(())
}

/// True for addresses that stay on the kernel: the loopback network.
pub fn stays_on_kernel(a: &SocketAddrV4) -> bool {
    a.ip().is_loopback()
}
