//! UNIX-domain sockets between the stack service and its clients, by raw system calls.
//!
//! Both sides use these: the service, and the preload shim inside programs, where a call through
//! libc's wrappers would land in the shim's own exported `sendmsg`, `close`, `read`… So, as in
//! [`crate::sys`], every call here is `syscall(2)`.
//!
//! What they carry: requests and replies as `SOCK_SEQPACKET` messages on a client's control
//! connection, a descriptor beside a message (SCM_RIGHTS), and the socketpairs whose one end is a
//! program's stack socket.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

fn check(ret: libc::c_long) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// Takes ownership of a descriptor a system call just returned.
fn owned(fd: usize) -> OwnedFd {
    // SAFETY: the kernel just handed us this descriptor; nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

/// An abstract-namespace address (`sun_path[0] == 0`). Abstract names belong to the network
/// namespace, which is exactly the scope of a TAP device and so of its service.
fn abstract_addr(name: &[u8]) -> (libc::sockaddr_un, libc::socklen_t) {
    // SAFETY: sockaddr_un is plain data; zero is a valid value.
    let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    a.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let n = name.len().min(a.sun_path.len() - 1);
    for (d, s) in a.sun_path[1..=n].iter_mut().zip(name) {
        *d = *s as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + 1 + n;
    (a, len as libc::socklen_t)
}

/// A socket of `ty` (SOCK_SEQPACKET, SOCK_STREAM…) in AF_UNIX, close-on-exec.
pub fn socket(ty: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain integer arguments.
    check(unsafe { libc::syscall(libc::SYS_socket, libc::AF_UNIX, ty | libc::SOCK_CLOEXEC, 0) })
        .map(owned)
}

/// A connected pair of `ty`, both close-on-exec.
pub fn pair(ty: i32) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut sv = [0 as libc::c_int; 2];
    // SAFETY: `sv` has room for the two descriptors.
    check(unsafe {
        libc::syscall(
            libc::SYS_socketpair,
            libc::AF_UNIX,
            ty | libc::SOCK_CLOEXEC,
            0,
            sv.as_mut_ptr(),
        )
    })?;
    Ok((owned(sv[0] as usize), owned(sv[1] as usize)))
}

pub fn bind_abstract(fd: RawFd, name: &[u8]) -> io::Result<()> {
    let (a, len) = abstract_addr(name);
    // SAFETY: `a` is a valid sockaddr_un of `len` bytes.
    check(unsafe { libc::syscall(libc::SYS_bind, fd, &a as *const libc::sockaddr_un, len) })
        .map(drop)
}

pub fn connect_abstract(fd: RawFd, name: &[u8]) -> io::Result<()> {
    let (a, len) = abstract_addr(name);
    // SAFETY: as in bind_abstract.
    check(unsafe { libc::syscall(libc::SYS_connect, fd, &a as *const libc::sockaddr_un, len) })
        .map(drop)
}

pub fn listen(fd: RawFd, backlog: i32) -> io::Result<()> {
    // SAFETY: plain integer arguments.
    check(unsafe { libc::syscall(libc::SYS_listen, fd, backlog) }).map(drop)
}

pub fn accept(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: null address pointers are allowed.
    check(unsafe {
        libc::syscall(
            libc::SYS_accept4,
            fd,
            std::ptr::null_mut::<libc::sockaddr>(),
            std::ptr::null_mut::<libc::socklen_t>(),
            libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
        )
    })
    .map(owned)
}

/// The abstract name a socket is bound to (without the leading NUL), or None if it is not an
/// AF_UNIX socket with an abstract name.
pub fn abstract_name(fd: RawFd) -> Option<Vec<u8>> {
    name_from(libc::SYS_getsockname, fd)
}

/// The abstract name the other end of a connected socket is bound to, if any.
pub fn abstract_peer_name(fd: RawFd) -> Option<Vec<u8>> {
    name_from(libc::SYS_getpeername, fd)
}

/// Whether `fd` is connected to a socket that bears no name (getpeername gives the family alone).
pub fn peer_unnamed(fd: RawFd) -> bool {
    raw_name(libc::SYS_getpeername, fd)
        .is_ok_and(|(_, len)| len <= std::mem::size_of::<libc::sa_family_t>())
}

/// Whether `fd` is a UNIX stream socket connected to nothing (getpeername says ENOTCONN).
pub fn not_connected(fd: RawFd) -> bool {
    matches!(raw_name(libc::SYS_getpeername, fd), Err(e) if e.raw_os_error() == Some(libc::ENOTCONN))
}

/// getsockname or getpeername (`call`): the address and its length.
fn raw_name(call: libc::c_long, fd: RawFd) -> io::Result<(libc::sockaddr_un, usize)> {
    // SAFETY: plain data, zero is valid.
    let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: `a` has `len` bytes of room.
    check(unsafe { libc::syscall(call, fd, &mut a as *mut libc::sockaddr_un, &mut len) })?;
    Ok((a, len as usize))
}

/// getsockname or getpeername (`call`), as an abstract name.
fn name_from(call: libc::c_long, fd: RawFd) -> Option<Vec<u8>> {
    let (a, len) = raw_name(call, fd).ok()?;
    let fam = std::mem::size_of::<libc::sa_family_t>();
    if a.sun_family != libc::AF_UNIX as libc::sa_family_t || len < fam + 2 {
        return None;
    }
    if a.sun_path[0] != 0 {
        return None;
    }
    let n = len - fam - 1;
    Some(a.sun_path[1..=n].iter().map(|&c| c as u8).collect())
}

/// The credentials of the process that created the other end (SO_PEERCRED).
pub fn peer_cred(fd: RawFd) -> io::Result<libc::ucred> {
    let mut c = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `c` has `len` bytes of room.
    check(unsafe {
        libc::syscall(
            libc::SYS_getsockopt,
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            &mut c as *mut libc::ucred,
            &mut len,
        )
    })?;
    Ok(c)
}

pub fn get_int(fd: RawFd, level: i32, name: i32) -> io::Result<i32> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` has `len` bytes of room.
    check(unsafe {
        libc::syscall(
            libc::SYS_getsockopt,
            fd,
            level,
            name,
            &mut v as *mut libc::c_int,
            &mut len,
        )
    })?;
    Ok(v)
}

pub fn set_int(fd: RawFd, level: i32, name: i32, v: i32) -> io::Result<()> {
    set_raw(fd, level, name, &v.to_ne_bytes())
}

pub fn set_raw(fd: RawFd, level: i32, name: i32, v: &[u8]) -> io::Result<()> {
    // SAFETY: the kernel reads `v.len()` bytes.
    check(unsafe {
        libc::syscall(
            libc::SYS_setsockopt,
            fd,
            level,
            name,
            v.as_ptr(),
            v.len() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// getsockopt into a buffer of `len` bytes; returns what the kernel wrote.
pub fn get_raw(fd: RawFd, level: i32, name: i32, len: usize) -> io::Result<Vec<u8>> {
    let mut v = vec![0u8; len];
    let mut l = len as libc::socklen_t;
    // SAFETY: `v` has `l` bytes of room.
    check(unsafe {
        libc::syscall(
            libc::SYS_getsockopt,
            fd,
            level,
            name,
            v.as_mut_ptr(),
            &mut l,
        )
    })?;
    v.truncate(l as usize);
    Ok(v)
}

pub fn shutdown(fd: RawFd, how: i32) -> io::Result<()> {
    // SAFETY: plain integer arguments.
    check(unsafe { libc::syscall(libc::SYS_shutdown, fd, how) }).map(drop)
}

/// The inode number of an open descriptor: what names a socket to the kernel.
pub fn inode(fd: RawFd) -> io::Result<u64> {
    // SAFETY: plain data, zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out pointer.
    check(unsafe { libc::syscall(libc::SYS_fstat, fd, &mut st as *mut libc::stat) })?;
    Ok(st.st_ino)
}

/// Sends one message with `data`, and `fd` beside it if given. Never raises SIGPIPE.
pub fn send(sock: RawFd, data: &[&[u8]], fd: Option<RawFd>, flags: i32) -> io::Result<usize> {
    match fd {
        Some(fd) => send_fds(sock, data, &[fd], flags),
        None => send_fds(sock, data, &[], flags),
    }
}

/// Each message header to the iovec of its index, one each.
fn point_at(msgs: &mut [libc::mmsghdr; MAX_BATCH], iov: &mut [libc::iovec; MAX_BATCH]) {
    let base = iov.as_mut_ptr();
    for (k, m) in msgs.iter_mut().enumerate() {
        // SAFETY: k < MAX_BATCH, inside the array.
        m.msg_hdr.msg_iov = unsafe { base.add(k) };
        m.msg_hdr.msg_iovlen = 1;
    }
}

/// The most messages one [`send_each`] or [`recv_each`] moves.
pub const MAX_BATCH: usize = 32;

/// Sends each span `(start, len)` of `buf` (the first [`MAX_BATCH`]) as a message of its own,
/// with `flags`, in one `sendmmsg`. Returns how many went: the rest did not fit (the first of
/// them failed, EAGAIN on a full non-blocking socket; the kernel stops there).
pub fn send_each(
    sock: RawFd,
    buf: &[u8],
    spans: &[(usize, usize)],
    flags: i32,
) -> io::Result<usize> {
    let spans = &spans[..spans.len().min(MAX_BATCH)];
    // SAFETY: plain data, zero is valid.
    let mut iov: [libc::iovec; MAX_BATCH] = unsafe { std::mem::zeroed() };
    let mut msgs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
    for (k, &(start, len)) in spans.iter().enumerate() {
        iov[k] = libc::iovec {
            iov_base: buf[start..start + len].as_ptr() as *mut libc::c_void,
            iov_len: len,
        };
    }
    point_at(&mut msgs, &mut iov);
    let msgs = &mut msgs[..spans.len()];
    // SAFETY: each header points to one iovec over bytes of `buf`, alive for the call.
    check(unsafe {
        libc::sendmmsg(
            sock,
            msgs.as_mut_ptr(),
            msgs.len() as libc::c_uint,
            flags | libc::MSG_NOSIGNAL,
        )
    } as libc::c_long)
}

/// Receives up to `lens.len()` messages with `flags` in one `recvmmsg`, the k-th into
/// `buf[k * slot..(k + 1) * slot]`, its length into `lens[k]`. Returns how many came (at least
/// one; EAGAIN if none was there on a non-blocking socket). A message longer than `slot` is cut.
pub fn recv_each(
    sock: RawFd,
    buf: &mut [u8],
    slot: usize,
    lens: &mut [usize],
    flags: i32,
) -> io::Result<usize> {
    let count = lens.len().min(MAX_BATCH);
    assert!(buf.len() >= slot * count);
    // SAFETY: plain data, zero is valid.
    let mut iov: [libc::iovec; MAX_BATCH] = unsafe { std::mem::zeroed() };
    let mut msgs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
    for (k, c) in buf.chunks_exact_mut(slot).take(count).enumerate() {
        iov[k] = libc::iovec {
            iov_base: c.as_mut_ptr().cast(),
            iov_len: slot,
        };
    }
    point_at(&mut msgs, &mut iov);
    let msgs = &mut msgs[..count];
    // SAFETY: each header points to one iovec over its own slot of `buf`, alive for the call;
    // no timeout.
    let n = check(unsafe {
        libc::recvmmsg(
            sock,
            msgs.as_mut_ptr(),
            msgs.len() as libc::c_uint,
            flags | libc::MSG_CMSG_CLOEXEC,
            std::ptr::null_mut(),
        )
    } as libc::c_long)?;
    for (len, m) in lens.iter_mut().zip(msgs.iter()).take(n) {
        *len = m.msg_len as usize;
    }
    Ok(n)
}

/// The most descriptors one message carries.
pub const MAX_FDS: usize = 2;

/// Sends one message with `data`, and `fds` (at most [`MAX_FDS`]) beside it. Never raises
/// SIGPIPE.
pub fn send_fds(sock: RawFd, data: &[&[u8]], fds: &[RawFd], flags: i32) -> io::Result<usize> {
    assert!(fds.len() <= MAX_FDS);
    let mut iov: Vec<libc::iovec> = data
        .iter()
        .map(|d| libc::iovec {
            iov_base: d.as_ptr() as *mut libc::c_void,
            iov_len: d.len(),
        })
        .collect();
    // Room for the descriptors, aligned as cmsghdr wants.
    let mut control = [0u64; 4];
    // SAFETY: plain data, zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = iov.len();
    if !fds.is_empty() {
        let bytes = std::mem::size_of_val(fds) as u32;
        // SAFETY: CMSG_SPACE is a pure size computation.
        let space = unsafe { libc::CMSG_SPACE(bytes) } as usize;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space;
        // SAFETY: msg_control points to `space` bytes (<= 32) we own; the macros stay inside.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(bytes) as usize;
            for (k, fd) in fds.iter().enumerate() {
                std::ptr::write_unaligned((libc::CMSG_DATA(c) as *mut RawFd).add(k), *fd);
            }
        }
    }
    sendmsg(sock, &msg, flags)
}

/// `sendmsg(2)` of a message whose buffers the caller keeps alive, never raising SIGPIPE.
fn sendmsg(sock: RawFd, msg: &libc::msghdr, flags: i32) -> io::Result<usize> {
    // SAFETY: msg points to live buffers for the duration of the call (the caller's).
    check(unsafe {
        libc::syscall(
            libc::SYS_sendmsg,
            sock,
            msg as *const libc::msghdr,
            flags | libc::MSG_NOSIGNAL,
        )
    })
}

/// Receives one message into `buf`; returns its length, whether it was cut short, and the first
/// descriptor that came with it (close-on-exec; any others are closed).
pub fn recv(sock: RawFd, buf: &mut [u8], flags: i32) -> io::Result<(usize, bool, Option<OwnedFd>)> {
    let (n, cut, fds) = recv_fds(sock, buf, flags)?;
    Ok((n, cut, fds.into_iter().next()))
}

/// Receives one message into `buf`; returns its length, whether it was cut short, and the
/// descriptors that came with it (close-on-exec; beyond [`MAX_FDS`] they are closed).
pub fn recv_fds(
    sock: RawFd,
    buf: &mut [u8],
    flags: i32,
) -> io::Result<(usize, bool, Vec<OwnedFd>)> {
    recv_with_cred(sock, buf, flags).map(|(n, cut, fds, _)| (n, cut, fds))
}

/// [`recv_fds`], with the sender's credentials if they came (SCM_CREDENTIALS, on a socket with
/// SO_PASSCRED).
pub fn recv_with_cred(
    sock: RawFd,
    buf: &mut [u8],
    flags: i32,
) -> io::Result<(usize, bool, Vec<OwnedFd>, Option<libc::ucred>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = [0u64; 8];
    // SAFETY: plain data, zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: msg points to live buffers for the duration of the call.
    let n = check(unsafe {
        libc::syscall(
            libc::SYS_recvmsg,
            sock,
            &mut msg as *mut libc::msghdr,
            flags | libc::MSG_CMSG_CLOEXEC,
        )
    })?;
    let mut fds = Vec::new();
    let mut cred = None;
    // SAFETY: the kernel filled msg_control with msg_controllen bytes of cmsgs; the macros walk
    // them without leaving the buffer.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c) as *const RawFd;
                let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize)
                    / std::mem::size_of::<RawFd>();
                for i in 0..count {
                    let fd = owned(std::ptr::read_unaligned(data.add(i)) as usize);
                    if fds.len() < MAX_FDS {
                        fds.push(fd);
                    }
                }
            } else if (*c).cmsg_level == libc::SOL_SOCKET
                && (*c).cmsg_type == libc::SCM_CREDENTIALS
                && (*c).cmsg_len as usize
                    >= libc::CMSG_LEN(std::mem::size_of::<libc::ucred>() as u32) as usize
            {
                cred = Some(std::ptr::read_unaligned(
                    libc::CMSG_DATA(c) as *const libc::ucred
                ));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    let cut = msg.msg_flags & libc::MSG_TRUNC != 0;
    Ok((n, cut, fds, cred))
}

/// Sends one message with `data`, the descriptor `fd` beside it and this process's credentials
/// (SCM_CREDENTIALS: its pid, effective uid and gid, which the kernel checks), so the receiver
/// can tell that `fd` is a socket of the sender's own making. Never raises SIGPIPE.
pub fn send_with_cred(sock: RawFd, data: &[u8], fd: RawFd, flags: i32) -> io::Result<usize> {
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: these cannot fail.
    let cred = unsafe {
        libc::ucred {
            pid: libc::syscall(libc::SYS_getpid) as libc::pid_t,
            uid: libc::geteuid(),
            gid: libc::getegid(),
        }
    };
    let fd_bytes = std::mem::size_of::<RawFd>() as u32;
    let cred_bytes = std::mem::size_of::<libc::ucred>() as u32;
    let mut control = [0u64; 8];
    // SAFETY: plain data, zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is a pure size computation.
    msg.msg_controllen =
        unsafe { libc::CMSG_SPACE(fd_bytes) + libc::CMSG_SPACE(cred_bytes) } as usize;
    // SAFETY: msg_control points to 64 bytes we own, more than the two headers need (56); the
    // macros stay inside.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(fd_bytes) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut RawFd, fd);
        let c = libc::CMSG_NXTHDR(&msg, c);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_CREDENTIALS;
        (*c).cmsg_len = libc::CMSG_LEN(cred_bytes) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut libc::ucred, cred);
    }
    sendmsg(sock, &msg, flags)
}

/// Reads what is waiting on `fd` into `a` then `b` without waiting (one recvmsg).
pub fn read_into(fd: RawFd, a: &mut [u8], b: &mut [u8]) -> io::Result<usize> {
    let mut iov = [
        libc::iovec {
            iov_base: a.as_mut_ptr().cast(),
            iov_len: a.len(),
        },
        libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        },
    ];
    // SAFETY: plain data, zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = if b.is_empty() { 1 } else { 2 };
    // SAFETY: msg points to live buffers for the duration of the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_recvmsg,
            fd,
            &mut msg as *mut libc::msghdr,
            libc::MSG_DONTWAIT,
        )
    })
}

/// SIOCATMARK (asm-generic/sockios.h, the same on every Linux architecture), which the libc
/// crate does not name.
pub const SIOCATMARK: libc::c_ulong = 0x8905;

/// Whether the next byte to read on stream socket `fd` is the out-of-band mark (SIOCATMARK).
pub fn at_mark(fd: RawFd) -> io::Result<bool> {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCATMARK writes one int.
    check(unsafe { libc::syscall(libc::SYS_ioctl, fd, SIOCATMARK, &mut n as *mut libc::c_int) })?;
    Ok(n != 0)
}

/// Whether stream socket `fd` holds an out-of-band byte not yet read (it polls POLLPRI).
pub fn oob_pending(fd: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLPRI,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no waiting.
    let r = unsafe {
        libc::syscall(
            libc::SYS_ppoll,
            &mut p as *mut libc::pollfd,
            1,
            &libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            } as *const libc::timespec,
            std::ptr::null::<libc::sigset_t>(),
            0,
        )
    };
    r > 0 && p.revents & libc::POLLPRI != 0
}

/// Whether what was written on stream socket `fd` has all been read by its peer (SIOCOUTQ: an
/// AF_UNIX socket's count of what it sent and the peer still holds, which is zero only then).
pub fn all_read(fd: RawFd) -> bool {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ) writes one int.
    let r = unsafe {
        libc::syscall(
            libc::SYS_ioctl,
            fd,
            libc::TIOCOUTQ,
            &mut n as *mut libc::c_int,
        )
    };
    r == 0 && n == 0
}

/// Bytes waiting to be read on `fd` (SIOCINQ).
pub fn queued(fd: RawFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    check(unsafe {
        libc::syscall(
            libc::SYS_ioctl,
            fd,
            libc::FIONREAD,
            &mut n as *mut libc::c_int,
        )
    })?;
    Ok(n.max(0) as usize)
}

pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    crate::sys::read(fd, buf)
}

pub fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // Not write(2): a socket whose other end is gone must give EPIPE, not kill us with SIGPIPE.
    send(fd, &[buf], None, libc::MSG_DONTWAIT)
}

/// Whether no UNIX socket of type `ty` in this network namespace is bound to the abstract `name`:
/// a socket of that type binds it, and lets it go at once. (The kernel frees a name when the
/// socket bearing it is released, with its last descriptor.)
pub fn abstract_name_free(ty: i32, name: &[u8]) -> io::Result<bool> {
    claim_abstract_name(ty, name).map(|probe| probe.is_some())
}

/// A new UNIX socket of type `ty` bound to the abstract `name`, if no socket of that type in this
/// network namespace bears it (`None` if one does): the probe of [`abstract_name_free`], kept,
/// for a caller that closes it later.
pub fn claim_abstract_name(ty: i32, name: &[u8]) -> io::Result<Option<OwnedFd>> {
    let probe = socket(ty)?;
    match bind_abstract(probe.as_raw_fd(), name) {
        Ok(()) => Ok(Some(probe)),
        Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A netlink socket for sock_diag queries ([`unix_socket_alive`]).
pub fn diag_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain integer arguments.
    check(unsafe {
        libc::syscall(
            libc::SYS_socket,
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    })
    .map(owned)
}

/// Whether the UNIX socket with inode `ino` still exists in this network namespace, asked of the
/// kernel's sock_diag over `diag` (from [`diag_socket`]); the socket is unhashed when its last
/// descriptor is closed. Errors other than "no such socket" answer true: never release a socket on
/// a doubt.
pub fn unix_socket_alive(diag: &OwnedFd, ino: u64) -> bool {
    #[repr(C)]
    struct Req {
        nlh: libc::nlmsghdr,
        family: u8,
        protocol: u8,
        pad: u16,
        states: u32,
        ino: u32,
        show: u32,
        cookie: [u32; 2],
    }
    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    let sock = diag;
    let req = Req {
        nlh: libc::nlmsghdr {
            nlmsg_len: std::mem::size_of::<Req>() as u32,
            nlmsg_type: SOCK_DIAG_BY_FAMILY,
            nlmsg_flags: libc::NLM_F_REQUEST as u16,
            nlmsg_seq: 1,
            nlmsg_pid: 0,
        },
        family: libc::AF_UNIX as u8,
        protocol: 0,
        pad: 0,
        states: u32::MAX,
        ino: ino as u32,
        show: 0,
        cookie: [u32::MAX, u32::MAX],
    };
    // SAFETY: `req` is plain data of its size.
    let bytes = unsafe {
        std::slice::from_raw_parts(&req as *const Req as *const u8, std::mem::size_of::<Req>())
    };
    if send(sock.as_raw_fd(), &[bytes], None, 0).is_err() {
        return true;
    }
    let mut buf = [0u8; 1024];
    let Ok((n, _, _)) = recv(sock.as_raw_fd(), &mut buf, 0) else {
        return true;
    };
    if n < std::mem::size_of::<libc::nlmsghdr>() + 4 {
        return true;
    }
    let ty = u16::from_ne_bytes([buf[4], buf[5]]);
    if ty == libc::NLMSG_ERROR as u16 {
        let hdr = std::mem::size_of::<libc::nlmsghdr>();
        let err = i32::from_ne_bytes([buf[hdr], buf[hdr + 1], buf[hdr + 2], buf[hdr + 3]]);
        return err != -libc::ENOENT;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_descriptor_travels_beside_a_message_and_diag_sees_its_end() {
        let (a, b) = pair(libc::SOCK_SEQPACKET).unwrap();
        let (x, y) = pair(libc::SOCK_STREAM).unwrap();
        let ino = inode(x.as_raw_fd()).unwrap();
        send(a.as_raw_fd(), &[b"hi"], Some(x.as_raw_fd()), 0).unwrap();
        drop(x);
        let mut buf = [0u8; 16];
        let (n, cut, fd) = recv(b.as_raw_fd(), &mut buf, 0).unwrap();
        assert_eq!((&buf[..n], cut), (&b"hi"[..], false));
        let fd = fd.expect("a descriptor came along");
        assert_eq!(inode(fd.as_raw_fd()).unwrap(), ino);
        let diag = diag_socket().unwrap();
        assert!(unix_socket_alive(&diag, ino));
        drop(fd);
        assert!(
            !unix_socket_alive(&diag, ino),
            "the end is gone once its last descriptor is"
        );
        drop(y);
    }

    #[test]
    fn a_name_is_free_once_its_last_descriptor_is_closed() {
        let name = format!("tapstack-test/free/{}", std::process::id());
        let (a, b) = pair(libc::SOCK_STREAM).unwrap();
        bind_abstract(a.as_raw_fd(), name.as_bytes()).unwrap();
        let copy = a.try_clone().unwrap();
        assert!(!abstract_name_free(libc::SOCK_STREAM, name.as_bytes()).unwrap());
        drop(a);
        assert!(
            !abstract_name_free(libc::SOCK_STREAM, name.as_bytes()).unwrap(),
            "another descriptor still holds the end"
        );
        // SAFETY: plain arguments.
        unsafe { libc::syscall(libc::SYS_shutdown, copy.as_raw_fd(), libc::SHUT_RDWR) };
        assert!(
            !abstract_name_free(libc::SOCK_STREAM, name.as_bytes()).unwrap(),
            "a shutdown both ways is not a close"
        );
        drop(copy);
        assert!(abstract_name_free(libc::SOCK_STREAM, name.as_bytes()).unwrap());
        drop(b);
    }

    #[test]
    fn abstract_names_read_back() {
        let s = socket(libc::SOCK_STREAM).unwrap();
        let name = format!("tapstack-test/{}", std::process::id());
        bind_abstract(s.as_raw_fd(), name.as_bytes()).unwrap();
        assert_eq!(abstract_name(s.as_raw_fd()).unwrap(), name.as_bytes());
    }
}
