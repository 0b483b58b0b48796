//! The socket calls on stack sockets: `bind`, `connect`, `listen`, `accept`, `getsockname`,
//! `getpeername`, with the kernel-or-stack decision. Each is a request to the stack service
//! ([`crate::service::client`]); waiting happens natively on the socket's own descriptor where the
//! kernel can do it (a listener's readiness, a connect's end), so blocking, O_NONBLOCK, timeouts and
//! signals behave exactly as with kernel sockets.
//!
//! Every function returns a `Result` in errno; the exported wrappers in [`super::exports`] turn
//! that into the C convention.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::addr::{self, Addr};
use super::state::{self, Attach, OpenSocket, Pending};
use crate::error::{Errno, Result};
use crate::service::client;
use crate::service::proto::{Call, Kind, Target, Value};
use crate::service::uds;

pub(super) fn raw_fcntl(fd: RawFd, cmd: i32, arg: libc::c_long) -> Result<i32> {
    // SAFETY: the commands used here take an integer argument.
    let r = unsafe { libc::syscall(libc::SYS_fcntl, fd, cmd, arg) };
    if r < 0 {
        Err(Errno(super::hook::errno()))
    } else {
        Ok(r as i32)
    }
}

/// Whether the descriptor `fd` is in non-blocking mode (O_NONBLOCK).
pub(super) fn is_nonblocking(fd: RawFd) -> Result<bool> {
    Ok(raw_fcntl(fd, libc::F_GETFL, 0)? & libc::O_NONBLOCK != 0)
}

/// Sends `call` about the stack socket at `fd`. A service that does not know the socket is not
/// the one that made it (that one is gone): ENETDOWN.
pub fn request(fd: RawFd, call: Call) -> Result<Value> {
    match client::call(Target::Existing, call, Some(fd), None).0 {
        Err(Errno::ENOTSOCK) => Err(Errno(libc::ENETDOWN)),
        r => r,
    }
}

/// A SO_SNDTIMEO or SO_RCVTIMEO of the socket at `fd`, read from the descriptor itself.
fn timeout(fd: RawFd, name: i32) -> Option<Duration> {
    let v = uds::get_raw(
        fd,
        libc::SOL_SOCKET,
        name,
        std::mem::size_of::<libc::timeval>(),
    )
    .ok()?;
    if v.len() < std::mem::size_of::<libc::timeval>() {
        return None;
    }
    // SAFETY: `v` holds a whole timeval.
    let tv = unsafe { std::ptr::read_unaligned(v.as_ptr() as *const libc::timeval) };
    let d = Duration::new(tv.tv_sec.max(0) as u64, (tv.tv_usec.max(0) as u32) * 1000);
    (!d.is_zero()).then_some(d)
}

/// Puts the service's new descriptor `new` in place of the pending socket's kernel socket at every
/// number that refers to it, keeping each number's close-on-exec flag and the socket's O_NONBLOCK,
/// and moving epoll interest taken while pending. Returns whether the socket is non-blocking.
fn install(sock: &OpenSocket, fd: RawFd, new: OwnedFd, pending: &Pending) -> Result<bool> {
    let new = close_raw_after(new);
    // The service's end comes non-blocking; it becomes as the program's socket was.
    let flags = raw_fcntl(fd, libc::F_GETFL, 0)?;
    let nonblocking = flags & libc::O_NONBLOCK != 0;
    if !nonblocking {
        raw_fcntl(new.as_raw_fd(), libc::F_SETFL, 0)?;
    }
    sock.nonblocking_hint.store(nonblocking, Ordering::Relaxed);
    // The options the descriptor itself carries move from the kernel socket to the new one.
    if pending.descriptor_options {
        copy_descriptor_options(fd, new.as_raw_fd(), true);
    }
    let numbers = state::numbers_of(sock, fd);
    for n in numbers {
        replace_at(n, new.as_raw_fd())?;
        for &(epfd, events, data) in pending.epoll.iter() {
            let mut ev = libc::epoll_event { events, u64: data };
            // SAFETY: a valid epoll_event; the old registration went with the old file.
            unsafe { libc::syscall(libc::SYS_epoll_ctl, epfd, libc::EPOLL_CTL_ADD, n, &mut ev) };
        }
    }
    Ok(nonblocking)
}

/// A descriptor of the shim's own, closed by system call when this goes: not through the shim's
/// `close`, which looks in the table and may take a socket's lock (a number the table still
/// gives a socket closed inside libc), while the caller holds another socket's.
struct RawOwned(RawFd);

impl Drop for RawOwned {
    fn drop(&mut self) {
        // SAFETY: a descriptor this owns, closed once.
        super::hook::errno_kept(|| unsafe { libc::syscall(libc::SYS_close, self.0) });
    }
}

fn close_raw_after(fd: OwnedFd) -> RawOwned {
    RawOwned(fd.into_raw_fd())
}

impl AsRawFd for RawOwned {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

impl RawOwned {
    /// Back to an `OwnedFd`, for a caller that keeps or passes it on.
    fn into_owned(self) -> OwnedFd {
        let fd = self.0;
        std::mem::forget(self);
        // SAFETY: the descriptor this owned, handed on whole.
        unsafe { OwnedFd::from_raw_fd(fd) }
    }
}

/// Puts the file of `new` at descriptor number `n`, which keeps its close-on-exec flag.
fn replace_at(n: RawFd, new: RawFd) -> Result<()> {
    let cloexec = raw_fcntl(n, libc::F_GETFD, 0).map_or(0, |f| f & libc::FD_CLOEXEC);
    replace_at_with(n, new, cloexec != 0)
}

/// Puts the file of `from` at descriptor number `n` only if `n` is free (F_DUPFD, which takes the
/// lowest free number from `n` on, in one step): a number this thread freed may have gone to
/// another thread's new descriptor meanwhile, which dup3 would silently replace.
fn take_free_number(n: RawFd, from: RawFd, cloexec: bool) -> bool {
    let cmd = if cloexec {
        libc::F_DUPFD_CLOEXEC
    } else {
        libc::F_DUPFD
    };
    match raw_fcntl(from, cmd, libc::c_long::from(n)) {
        Ok(got) if got == n => true,
        Ok(got) => {
            // SAFETY: the number the kernel just gave us.
            unsafe { libc::syscall(libc::SYS_close, got) };
            false
        }
        Err(_) => false,
    }
}

/// Puts the file of `new` at descriptor number `n`, close-on-exec or not.
fn replace_at_with(n: RawFd, new: RawFd, cloexec: bool) -> Result<()> {
    let dup_flags = if cloexec { libc::O_CLOEXEC } else { 0 };
    // SAFETY: plain descriptor arguments.
    if unsafe { libc::syscall(libc::SYS_dup3, new, n, dup_flags) } < 0 {
        return Err(Errno(super::hook::errno()));
    }
    Ok(())
}

/// This process's epoll interest in descriptor number `n` while it refers to the file with inode
/// `ino`: (epoll descriptor, events, data) for each epoll instance that watches it, as the kernel
/// lists them in /proc/self/fdinfo (eventpoll's ep_show_fdinfo).
fn epoll_interest(n: RawFd, ino: u64) -> Vec<(RawFd, u32, u64)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(epfd) = entry
            .file_name()
            .to_str()
            .and_then(|v| v.parse::<RawFd>().ok())
        else {
            continue;
        };
        if !std::fs::read_link(entry.path())
            .is_ok_and(|l| l.as_os_str() == "anon_inode:[eventpoll]")
        {
            continue;
        }
        let Ok(info) = std::fs::read_to_string(format!("/proc/self/fdinfo/{epfd}")) else {
            continue;
        };
        // "tfd: %8d events: %8x data: %16llx  pos:%lli ino:%lx sdev:%x"
        for line in info.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            let field = |i: usize| w.get(i).copied().unwrap_or("");
            if field(0) != "tfd:" || field(1).parse::<RawFd>().ok() != Some(n) {
                continue;
            }
            let events = u32::from_str_radix(field(3), 16);
            let data = u64::from_str_radix(field(5), 16);
            let same_file = w
                .iter()
                .find_map(|f| f.strip_prefix("ino:"))
                .and_then(|v| u64::from_str_radix(v, 16).ok())
                == Some(ino);
            if let (Ok(events), Ok(data), true) = (events, data, same_file) {
                out.push((epfd, events, data));
            }
        }
    }
    out
}

/// Puts `new` at every number of `sock` (as [`replace_at`]), keeping this process's epoll
/// interest in each: Linux's socket stays one file through a disconnect or a failed connect, so
/// its registrations stay; here the file changes, and a registration belongs to the file it was
/// made on. Returns the interest carried over.
fn replace_keeping_interest(
    sock: &OpenSocket,
    fd: RawFd,
    new: RawFd,
) -> Result<Vec<(RawFd, u32, u64)>> {
    // Looked for only where some was taken: the look reads every descriptor's link.
    let ino = uds::inode(fd)
        .ok()
        .filter(|_| sock.watched.load(Ordering::Relaxed));
    let mut carried = Vec::new();
    for n in state::numbers_of(sock, fd) {
        let interest = ino.map(|i| epoll_interest(n, i)).unwrap_or_default();
        for &(epfd, _, _) in &interest {
            // Taken out first: while another process holds the old file, its registration would
            // report that file's hang-up under this number.
            // SAFETY: DEL takes no event.
            unsafe {
                libc::syscall(
                    libc::SYS_epoll_ctl,
                    epfd,
                    libc::EPOLL_CTL_DEL,
                    n,
                    std::ptr::null_mut::<libc::epoll_event>(),
                )
            };
        }
        replace_at(n, new)?;
        for &(epfd, events, data) in &interest {
            let mut ev = libc::epoll_event { events, u64: data };
            // SAFETY: a valid epoll_event.
            unsafe { libc::syscall(libc::SYS_epoll_ctl, epfd, libc::EPOLL_CTL_ADD, n, &mut ev) };
        }
        carried.extend(interest);
    }
    Ok(carried)
}

/// SO_RCVTIMEO, SO_SNDTIMEO, SO_RCVLOWAT, SO_OOBINLINE and the receive timestamps from
/// descriptor `from` to `to`, and with `peek` a TCP socket's SO_PEEK_OFF (not from a listener's
/// descriptor: the service keeps a listener's and sets it on what it accepts). What the kernel
/// refuses is left as it was, and errno with it: this is the shim's work inside a program's call.
fn copy_descriptor_options(from: RawFd, to: RawFd, peek: bool) {
    super::hook::errno_kept(|| {
        super::stamps::Stamping::copy(from, to);
        for name in [
            libc::SO_RCVTIMEO,
            libc::SO_SNDTIMEO,
            libc::SO_RCVLOWAT,
            libc::SO_OOBINLINE,
            libc::SO_SELECT_ERR_QUEUE,
        ] {
            if let Ok(v) = uds::get_raw(
                from,
                libc::SOL_SOCKET,
                name,
                std::mem::size_of::<libc::timeval>(),
            ) {
                let _ = uds::set_raw(to, libc::SOL_SOCKET, name, &v);
            }
        }
        // Set (not -1): only onto a stream end (a UDP socketpair's datagrams carry a header of
        // ours, which an offset would count), and only where the kernel has it (Linux 6.9 on).
        if let Some(v) = peek_offset(from).filter(|&v| peek && v != -1) {
            let stream = uds::get_raw(to, libc::SOL_SOCKET, libc::SO_TYPE, 4)
                .is_ok_and(|t| t[..] == libc::SOCK_STREAM.to_ne_bytes());
            if stream {
                let _ = uds::set_raw(to, libc::SOL_SOCKET, libc::SO_PEEK_OFF, &v.to_ne_bytes());
            }
        }
    })
}

/// The SO_PEEK_OFF of the descriptor `fd`, if it answers.
fn peek_offset(fd: RawFd) -> Option<i32> {
    let v = uds::get_raw(fd, libc::SOL_SOCKET, libc::SO_PEEK_OFF, 4).ok()?;
    Some(i32::from_ne_bytes(v.get(..4)?.try_into().ok()?))
}

/// Sends the first stack call of a pending socket: the service makes the socket (with the options
/// set so far) and answers with its descriptor, which takes the kernel socket's place.
pub(super) fn attach_with(sock: &Arc<OpenSocket>, fd: RawFd, call: Call) -> Result<Value> {
    if !sock.is_pending() {
        return request(fd, call);
    }
    // The answer brings the socket's new descriptor, which needs a free number: checked first,
    // with signals free, as it makes this thread's control connection, which may start the
    // service and wait for it.
    let room = client::reserve_number(fd, true).map(drop);
    // The attach lock is held across a request to the service: a signal handler meanwhile that
    // used the socket on this thread would wait on it for ever.
    let _held = crate::sys::SignalsHeld::new();
    let _attaching = state::attaching();
    let mut a = sock.attach.lock();
    let Attach::Pending(pending) = &*a else {
        drop(a);
        return request(fd, call);
    };
    match room {
        Ok(()) => {} // freed at once, for the answer
        // Freeing the socket's own number for the answer is safe only where no other thread
        // takes numbers meanwhile: one that did would get it, and the program's later close of
        // its socket would close that thread's file. With threads at work, Linux's EMFILE.
        Err(Errno::EMFILE) if state::other_threads() => return Err(Errno::EMFILE),
        Err(Errno::EMFILE) => {
            let (result, attached) = attach_in_place(sock, fd, call, pending);
            if attached {
                sock.set_attach(&mut a, Attach::Stack);
            }
            return result;
        }
        Err(e) => return Err(e),
    }
    let target = Target::New {
        kind: sock.kind,
        options: pending.options.clone(),
        inet6: sock.inet6,
    };
    match client::call(target, call, None, None) {
        (result, Some(new)) => {
            install(sock, fd, new, pending)?;
            sock.set_attach(&mut a, Attach::Stack);
            result
        }
        // A new socket's answer carries its descriptor: none, and the table filled up since the
        // number was checked (the kernel dropped it; the service lets the socket go).
        (Ok(_), None) => Err(Errno::EMFILE),
        (result, None) => result,
    }
}

/// The first stack call of a pending socket when the descriptor table is full, which Linux's
/// `bind`, `connect` or `listen` would not notice: the kernel socket's number `fd` is freed once
/// the request is on its way, so the new descriptor lands there. Should the call fail, the kernel
/// socket comes back at `fd` (from another number of it, or made anew with the options the program
/// set). Returns the call's result and whether the socket is now on the stack.
fn attach_in_place(
    sock: &Arc<OpenSocket>,
    fd: RawFd,
    call: Call,
    pending: &Pending,
) -> (Result<Value>, bool) {
    let flags = raw_fcntl(fd, libc::F_GETFL, 0).unwrap_or(0);
    let cloexec = raw_fcntl(fd, libc::F_GETFD, 0).unwrap_or(0) & libc::FD_CLOEXEC != 0;
    let kept: Vec<(i32, Vec<u8>)> = [
        libc::SO_RCVTIMEO,
        libc::SO_SNDTIMEO,
        libc::SO_RCVLOWAT,
        libc::SO_OOBINLINE,
    ]
    .into_iter()
    .filter_map(|name| {
        uds::get_raw(
            fd,
            libc::SOL_SOCKET,
            name,
            std::mem::size_of::<libc::timeval>(),
        )
        .ok()
        .map(|v| (name, v))
    })
    .collect();
    let others: Vec<RawFd> = state::numbers_of(sock, fd)
        .into_iter()
        .filter(|&n| n != fd)
        .collect();
    let target = Target::New {
        kind: sock.kind,
        options: pending.options.clone(),
        inet6: sock.inet6,
    };
    let mut closed = false;
    let (result, new) = client::call_then(target, call, None, None, || {
        // SAFETY: the kernel socket's number, which the new descriptor replaces.
        unsafe { libc::syscall(libc::SYS_close, fd) };
        closed = true;
    });
    let Some(new) = new else {
        if !closed {
            // The request never left (no control connection to be had): nothing was given up.
            return (result.and(Err(Errno::EMFILE)), false);
        }
        // The kernel socket back at `fd`: still held at another number, or a fresh one.
        let back = match others.first() {
            Some(&o) => take_free_number(fd, o, cloexec),
            None => fresh_kernel_socket(sock.kind, sock.inet6).is_ok_and(|k| {
                let k = close_raw_after(k);
                let _ = raw_fcntl(k.as_raw_fd(), libc::F_SETFL, i64::from(flags));
                for o in &pending.options {
                    let _ = uds::set_raw(k.as_raw_fd(), o.level, o.name, &o.value);
                }
                for (name, v) in &kept {
                    let _ = uds::set_raw(k.as_raw_fd(), libc::SOL_SOCKET, *name, v);
                }
                if k.as_raw_fd() == fd {
                    let keep = i64::from(cloexec) * i64::from(libc::FD_CLOEXEC);
                    let _ = raw_fcntl(fd, libc::F_SETFD, keep);
                    let _ = k.into_owned().into_raw_fd();
                    true
                } else {
                    take_free_number(fd, k.as_raw_fd(), cloexec)
                }
            }),
        };
        if !back {
            log::debug!("a pending socket lost its number {fd} in a full descriptor table");
            state::forget_if(fd, sock);
        }
        return (result.and(Err(Errno::EMFILE)), false);
    };
    let new = close_raw_after(new);
    // The new end, as the kernel socket was: blocking mode, timeouts, close-on-exec.
    if flags & libc::O_NONBLOCK == 0 {
        let _ = raw_fcntl(new.as_raw_fd(), libc::F_SETFL, 0);
    }
    for (name, v) in &kept {
        let _ = uds::set_raw(new.as_raw_fd(), libc::SOL_SOCKET, *name, v);
    }
    let placed = if new.as_raw_fd() == fd {
        let _ = raw_fcntl(
            fd,
            libc::F_SETFD,
            i64::from(cloexec) * i64::from(libc::FD_CLOEXEC),
        );
        let _ = new.into_owned().into_raw_fd();
        Ok(())
    } else if take_free_number(fd, new.as_raw_fd(), cloexec) {
        // Another number came free meanwhile: the new end moved to `fd`, still free.
        Ok(())
    } else {
        Err(Errno::EMFILE)
    };
    if placed.is_err() {
        // `fd` went to another thread's new descriptor while the answer came: left to it.
        log::debug!("a pending socket lost its number {fd} to another thread in a full table");
        state::forget_if(fd, sock);
        return (Err(Errno::EMFILE), false);
    }
    for &n in &others {
        let _ = replace_at(n, fd);
    }
    for n in std::iter::once(fd).chain(others) {
        for &(epfd, events, data) in pending.epoll.iter() {
            let mut ev = libc::epoll_event { events, u64: data };
            // SAFETY: a valid epoll_event; the old registration went with the old file.
            unsafe { libc::syscall(libc::SYS_epoll_ctl, epfd, libc::EPOLL_CTL_ADD, n, &mut ev) };
        }
    }
    (result, true)
}

/// The address family a kernel socket standing in for `sock` is made with.
fn family_of(sock: &OpenSocket) -> i32 {
    if sock.inet6 {
        libc::AF_INET6
    } else {
        libc::AF_INET
    }
}

/// A new kernel socket of `kind`, AF_INET6 if `inet6` (else AF_INET), close-on-exec.
fn fresh_kernel_socket(kind: Kind, inet6: bool) -> Result<OwnedFd> {
    let ty = match kind {
        Kind::Stream => libc::SOCK_STREAM,
        Kind::Dgram => libc::SOCK_DGRAM,
    };
    let family = if inet6 { libc::AF_INET6 } else { libc::AF_INET };
    // SAFETY: plain arguments.
    let k = unsafe { libc::syscall(libc::SYS_socket, family, ty | libc::SOCK_CLOEXEC, 0) };
    if k < 0 {
        return Err(Errno(super::hook::errno()));
    }
    // SAFETY: the kernel just returned this descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(k as RawFd) })
}

/// Runs `call` on the socket at `fd`, attaching it first if it is pending.
pub fn on_stack(sock: &Arc<OpenSocket>, fd: RawFd, call: Call) -> Result<Value> {
    if sock.is_pending() {
        attach_with(sock, fd, call)
    } else {
        request(fd, call)
    }
}

/// `socket(AF_INET, type, protocol)` for the stack: the caller has made the kernel socket `fd`.
/// `inet6`: it was `socket(AF_INET6, …)`, pending like an AF_INET one until its first `bind`,
/// `connect`, `listen` or `sendto` says whether its traffic is IPv4 (the stack's) or IPv6 (the
/// kernel's), see [`stays_on_kernel`].
pub fn adopt(fd: RawFd, ty: i32, protocol: i32, inet6: bool) -> bool {
    let base = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    let kind = match (base, protocol) {
        (libc::SOCK_STREAM, 0 | libc::IPPROTO_TCP) => Kind::Stream,
        (libc::SOCK_DGRAM, 0 | libc::IPPROTO_UDP) => Kind::Dgram,
        _ => return false,
    };
    let sock = OpenSocket::new(kind, inet6);
    sock.nonblocking_hint
        .store(ty & libc::SOCK_NONBLOCK != 0, Ordering::Relaxed);
    state::insert(fd, Arc::new(sock));
    true
}

/// Whether a call naming `a` on a pending socket stays on the kernel (loopback, and 0.0.0.0 as a
/// destination: [`addr::stays_on_kernel`]). A socket that does is forgotten: every number of it
/// now goes straight to libc. `binding`: the call is `bind`.
///
/// An AF_INET6 socket goes to the stack exactly when its traffic is IPv4, as Linux decides it
/// (net/ipv6/af_inet6.c's __inet6_bind, tcp_ipv6.c's tcp_v6_connect): an IPv4-mapped address
/// (read as the IPv4 one, which then goes by the AF_INET rules), or a bind to `::` on a socket
/// that is not IPV6_V6ONLY (which Linux makes dual-stack). Any other IPv6 address (`::1`, a real
/// one; a connect to `::`, which Linux makes one to `::1`) and anything on a V6ONLY socket stays
/// on the kernel, which answers as Linux does (a mapped address on a V6ONLY socket is refused).
///
/// In a process outside the stack's network namespace ([`client::outside`]) every socket stays on
/// the kernel, in the process's own namespace, as Linux's new sockets would be.
pub fn stays_on_kernel(sock: &OpenSocket, fd: RawFd, a: &Addr, binding: bool) -> bool {
    if !sock.is_pending() {
        return false;
    }
    let kernel = match a {
        _ if sock.inet6 && v6only(fd) => true,
        Addr::V4(v4) => addr::stays_on_kernel(v4, binding),
        Addr::V6(v6) => !(binding && v6.ip().is_unspecified()),
        Addr::Unspec => false,
    } || client::outside();
    if kernel {
        forget(sock, fd);
    }
    kernel
}

/// Leaves a pending socket to the kernel: every number of it now goes straight to libc.
fn forget(sock: &OpenSocket, fd: RawFd) {
    for n in state::numbers_of(sock, fd) {
        state::remove(n);
    }
}

/// IPV6_V6ONLY of the pending AF_INET6 socket `fd`, as its kernel placeholder holds it (set by the
/// program, or net.ipv6.bindv6only's default).
fn v6only(fd: RawFd) -> bool {
    uds::get_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY).is_ok_and(|v| v != 0)
}

/// Whether `listen` on the pending socket `fd` stays on the kernel: an AF_INET6 socket that is
/// IPV6_V6ONLY, whose autobound listener (Linux's inet_autobind) would take IPv6 only. Any other
/// pending socket listens on the stack, at 0.0.0.0 and a port of its own, as an AF_INET one does;
/// an AF_INET6 one is then the dual-stack `[::]` listener Linux makes. In a process outside the
/// stack's network namespace ([`client::outside`]) every one stays. A socket that stays is
/// forgotten.
pub fn listen_stays_on_kernel(sock: &OpenSocket, fd: RawFd) -> bool {
    if !sock.is_pending() || !(sock.inet6 && v6only(fd) || client::outside()) {
        return false;
    }
    forget(sock, fd);
    true
}

pub fn bind(sock: &Arc<OpenSocket>, fd: RawFd, a: Addr) -> Result<()> {
    let a = match a {
        Addr::V4(a) => a,
        // `::` on a dual-stack socket: every IPv4 address (stays_on_kernel let it through).
        Addr::V6(v6) if v6.ip().is_unspecified() => {
            SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, v6.port())
        }
        // Another IPv6 address for a socket on the stack already, and so bound: Linux's
        // __inet6_bind says EINVAL for a bound socket first.
        Addr::V6(_) => return Err(Errno::EINVAL),
        Addr::Unspec => return Err(Errno::EAFNOSUPPORT),
    };
    on_stack(sock, fd, Call::Bind(a))?;
    if a.port() != 0 {
        sock.port_given.store(true, Ordering::Relaxed);
    }
    Ok(())
}

/// The options a TCP stack socket takes with it when it leaves for loopback
/// ([`leaves_for_loopback`]): those of its own the program may have set that shape a connection.
const CARRIED_TO_KERNEL: &[(i32, i32)] = &[
    (libc::SOL_SOCKET, libc::SO_REUSEADDR),
    (libc::SOL_SOCKET, libc::SO_REUSEPORT),
    (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
    (libc::SOL_SOCKET, libc::SO_LINGER),
    (libc::SOL_SOCKET, libc::SO_PRIORITY),
    (libc::IPPROTO_IP, libc::IP_TOS),
    (libc::IPPROTO_IP, libc::IP_TTL),
    (libc::IPPROTO_TCP, libc::TCP_NODELAY),
    (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
    (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
    (libc::IPPROTO_TCP, libc::TCP_KEEPCNT),
    (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT),
];

/// Whether `connect` to `a` takes the TCP stack socket at `fd` off the stack first, to connect
/// on the kernel: a socket a `bind` put on the stack (Python's and C clients' `bind(('0.0.0.0',
/// 0))` or a fixed port before `connect`), neither connected nor listening, whose destination
/// is loopback (127.x, or 0.0.0.0, or for an AF_INET6 one `::1` or `::`). Linux connects it over
/// `lo`; loopback here is the kernel's, so a kernel socket takes its place at every number of it
/// (as a failed connect's does, [`unconnect`]), with its options and descriptor flags, bound to
/// the wildcard and its port: the port the program gave, or the kernel's EADDRINUSE if a kernel
/// program has it; one the stack chose is kept if the kernel has it free. The stack socket goes
/// with its last descriptor, and the socket is left to libc from then on. Not Linux's: one bound
/// to the stack's own address connects from 127.0.0.1 (that address is not the kernel's).
pub fn leaves_for_loopback(sock: &Arc<OpenSocket>, fd: RawFd, a: &Addr) -> Result<bool> {
    if sock.kind != Kind::Stream || sock.is_pending() {
        return Ok(false);
    }
    let to_loopback = match a {
        Addr::V4(v4) => addr::stays_on_kernel(v4, false),
        Addr::V6(v6) => sock.inet6 && (v6.ip().is_loopback() || v6.ip().is_unspecified()),
        Addr::Unspec => false,
    };
    // A connected or listening socket answers as the stack's does (EISCONN, EINVAL…).
    if !to_loopback
        || sock.connect_started.load(Ordering::Relaxed)
        || is_listener(sock, fd)
        || peer_addr(sock, fd).is_ok()
    {
        return Ok(false);
    }
    let local = local_addr(sock, fd)?;
    let k = fresh_kernel_socket(Kind::Stream, sock.inet6)?;
    let raw = k.as_raw_fd();
    for &(level, name) in CARRIED_TO_KERNEL {
        let call = Call::GetOption {
            level,
            name,
            len: crate::service::proto::MAX_OPTION as u32,
        };
        if let Ok(Value::Bytes(v)) = request(fd, call) {
            let _ = uds::set_raw(raw, level, name, &v);
        }
    }
    if local.port() != 0 {
        if let Err(e) = bind_wildcard(raw, sock.inet6, local.port()) {
            if sock.port_given.load(Ordering::Relaxed) {
                return Err(e);
            }
            // A port the stack chose: the kernel's connect chooses another.
            log::debug!(
                "port {} is not free on the kernel: {}",
                local.port(),
                e.name()
            );
        }
    }
    let flags = raw_fcntl(fd, libc::F_GETFL, 0)?;
    raw_fcntl(raw, libc::F_SETFL, i64::from(flags & libc::O_NONBLOCK))?;
    copy_descriptor_options(fd, raw, true);
    replace_keeping_interest(sock, fd, raw)?;
    forget(sock, fd);
    Ok(true)
}

/// Binds kernel socket `fd` to the wildcard (`[::]`, dual-stack, for an AF_INET6 one) and `port`.
fn bind_wildcard(fd: RawFd, inet6: bool, port: u16) -> Result<()> {
    let r = if inet6 {
        let _ = uds::set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 0);
        // SAFETY: plain data, all zeroes valid (the address ::).
        let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        sin6.sin6_port = port.to_be();
        // SAFETY: a whole sockaddr_in6.
        unsafe {
            libc::syscall(
                libc::SYS_bind,
                fd,
                &sin6 as *const libc::sockaddr_in6,
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    } else {
        let sin = crate::sys::sockaddr_in(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
        // SAFETY: a whole sockaddr_in.
        unsafe {
            libc::syscall(
                libc::SYS_bind,
                fd,
                &sin as *const libc::sockaddr_in,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
    };
    if r < 0 {
        return Err(Errno(super::hook::errno()));
    }
    Ok(())
}

pub fn connect(sock: &Arc<OpenSocket>, fd: RawFd, a: Addr) -> Result<()> {
    let target = match a {
        Addr::V4(a) => Some(a),
        // An IPv6 destination for a socket whose traffic is IPv4 (bound or listening on the
        // stack already). A connected or listening one says EISCONN first, as Linux's
        // __inet_stream_connect; else this stack has no IPv6 route.
        Addr::V6(_) => {
            let busy = sock.kind == Kind::Stream
                && (sock.connect_started.load(Ordering::Relaxed) || is_listener(sock, fd));
            return Err(if busy {
                Errno::EISCONN
            } else {
                Errno(libc::ENETUNREACH)
            });
        }
        Addr::Unspec => None,
    };
    if sock.kind == Kind::Dgram {
        let r = on_stack(sock, fd, Call::Connect(target)).map(drop);
        if r.is_ok() {
            sock.connected
                .store(target.is_some(), std::sync::atomic::Ordering::Relaxed);
            sock.peer_generation
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        return r;
    }
    let Some(target) = target else {
        // AF_UNSPEC dissolves a TCP socket's association (Linux's tcp_disconnect): nothing to
        // dissolve on one that never connected.
        return if sock.is_pending() {
            Ok(())
        } else {
            disconnect(sock, fd, false)
        };
    };
    tcp_connect(sock, fd, target, None).map(drop)
}

/// The connect of `sendto(MSG_FASTOPEN)`: `empty`, of zero bytes (its SYN goes at once);
/// `dontwait`, with MSG_DONTWAIT (a connect in progress is not waited for, as Linux's
/// tcp_sendmsg_fastopen connects with O_NONBLOCK then).
#[derive(Clone, Copy)]
struct FastOpen {
    empty: bool,
    dontwait: bool,
}

/// A TCP connect to `target`; `fast_open`: the connect of `sendto(MSG_FASTOPEN)`. Some(n): it
/// succeeded at once, its SYN waiting for the data, of which it takes n bytes (kept for the first
/// send, `io::syn_share`).
fn tcp_connect(
    sock: &Arc<OpenSocket>,
    fd: RawFd,
    target: SocketAddrV4,
    fast_open: Option<FastOpen>,
) -> Result<Option<usize>> {
    if sock
        .connect_started
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        // Connecting again, as event loops do to learn how it went: the descriptor tells, unless
        // it hung up (the attempt failed, and the service has its error).
        let ev = poll_now(fd);
        if ev & libc::POLLHUP == 0 {
            if ev & libc::POLLOUT != 0 {
                // Linux's __inet_stream_connect: the first connect to find the handshake over
                // (whatever address it names) takes the socket from SS_CONNECTING to
                // SS_CONNECTED and returns 0; the ones after say EISCONN.
                if mark_reported(sock, fd) {
                    return Err(Errno::EISCONN);
                }
                return Ok(None);
            }
            // Under way. Linux's __inet_stream_connect has a blocking socket wait for the
            // handshake here too (EALREADY only when SO_SNDTIMEO runs out): a connect retried
            // after EINTR, as TEMP_FAILURE_RETRY does, ends as the first would have.
            if is_nonblocking(fd)? || fast_open.is_some() {
                return Err(Errno::EALREADY);
            }
            return wait_connect(sock, fd, Errno::EALREADY);
        }
        // Hung up after a connect reported the connection made (Linux's SS_CONNECTED): the
        // connection ended since (reset, or both FINs and TIME-WAIT), and __inet_stream_connect
        // says EISCONN to such a socket whatever became of its connection.
        // (Reported in another process holding the socket too: the service tells.)
        if reported(sock, fd) {
            return Err(Errno::EISCONN);
        }
        // A non-blocking attempt that failed: this call reports it (its error if not yet read,
        // else ECONNABORTED, as Linux's __inet_stream_connect) and leaves the socket unconnected,
        // so the next connect starts anew.
        let e = take_pending_error(fd).unwrap_or(Errno::ECONNABORTED);
        unconnect(sock, fd);
        return Err(e);
    }
    let call = match fast_open {
        Some(FastOpen { empty: true, .. }) => Call::FastOpenConnectEmpty(target),
        Some(_) => Call::FastOpenConnect(target),
        None => Call::Connect(Some(target)),
    };
    let quietly = match fast_open {
        None => connect_quietly(sock, fd, target),
        Some(_) => None,
    };
    // Whether the socket is non-blocking, when the quiet connect has just seen it.
    let mut seen_nonblocking = None;
    let started = match quietly {
        // Under way: a non-blocking connect says so, a blocking one waits below.
        Some(Ok(nonblocking)) => {
            seen_nonblocking = Some(nonblocking);
            Err(Errno::EINPROGRESS)
        }
        Some(Err(e)) => return Err(e),
        None => on_stack(sock, fd, call),
    };
    match started {
        Err(Errno::EINPROGRESS) => {
            sock.connect_started
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        r => {
            if r.is_ok() {
                sock.connect_started
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                mark_reported(sock, fd);
            }
            let room = r.map(|v| match v {
                Value::Int(n) => Some(n.max(0) as usize),
                _ => None,
            })?;
            if let Some(n) = room {
                sock.syn_room.store(n, Ordering::Relaxed);
            }
            return Ok(room);
        }
    }
    let nonblocking = match seen_nonblocking {
        Some(nb) => nb,
        None => is_nonblocking(fd)?,
    };
    if nonblocking || fast_open.is_some_and(|f| f.dontwait) {
        return Err(Errno::EINPROGRESS);
    }
    // A blocking connect waits for the handshake; SO_SNDTIMEO bounds it, and when that runs out
    // Linux says EINPROGRESS and the handshake goes on.
    wait_connect(sock, fd, Errno::EINPROGRESS)
}

/// Records that a connect (or a shutdown finding the connection established) reported the TCP
/// socket at `fd` connected, Linux's SS_CONNECTED: in this process, and, the first time here, in
/// the service, where another process holding the socket (forked, or sent it) finds it. Whether
/// it was so already, here or elsewhere. A socket no other process can hold (never forked with,
/// nor inherited or received) is this process's alone: no request, which would cost every
/// connection a round trip. What such a socket's connect reported before a fork the child
/// inherits with its memory; one sent over a UNIX socket after it is asked of the service, which
/// then does not know (a gap: its connect after the connection ended is ECONNABORTED).
fn mark_reported(sock: &OpenSocket, fd: RawFd) -> bool {
    if sock.connect_reported.swap(true, Ordering::Relaxed) {
        return true;
    }
    if !sock.shared.load(Ordering::Relaxed) {
        return false;
    }
    matches!(request(fd, Call::ConnectReported(true)), Ok(Value::Int(1)))
}

/// Whether a connect reported the TCP socket at `fd` connected, in this process or another
/// holding the socket (asked of the service when this one did not and another may hold it).
fn reported(sock: &OpenSocket, fd: RawFd) -> bool {
    if sock.connect_reported.load(Ordering::Relaxed) {
        return true;
    }
    if !sock.shared.load(Ordering::Relaxed) {
        return false;
    }
    let yes = matches!(request(fd, Call::ConnectReported(false)), Ok(Value::Int(1)));
    if yes {
        sock.connect_reported.store(true, Ordering::Relaxed);
    }
    yes
}

/// A blocking connect's wait for the handshake of the socket at `fd`, bounded by SO_SNDTIMEO
/// (then `unfinished`: EINPROGRESS for the first connect, EALREADY for one repeated while the
/// handshake goes on, as Linux's).
fn wait_connect(sock: &Arc<OpenSocket>, fd: RawFd, unfinished: Errno) -> Result<Option<usize>> {
    let wait = timeout(fd, libc::SO_SNDTIMEO);
    match client::call(Target::Existing, Call::WaitConnect, Some(fd), wait).0 {
        Err(Errno::EAGAIN) => Err(unfinished),
        Err(e) => {
            // A blocking connect that failed leaves the socket unconnected (Linux's
            // SS_UNCONNECTED): connecting again tries anew.
            if e != Errno::EINTR {
                unconnect(sock, fd);
            }
            Err(e)
        }
        r => {
            if r.is_ok() {
                mark_reported(sock, fd);
            }
            r.map(|_| None)
        }
    }
}

/// Linux's tcp_disconnect on a TCP stack socket: the service aborts its connection (or ends its
/// listening) and answers with the socket's new descriptor, fresh, which takes the old one's place
/// at every number, with the descriptor's flags and the options it carries. `connecting`: only if
/// a connect is in progress (SYN-SENT), else EISCONN.
fn disconnect(sock: &OpenSocket, fd: RawFd, connecting: bool) -> Result<()> {
    let call = Call::Disconnect { connecting };
    // Not listening from before the service closes the old end: an accept waiting on another
    // thread, woken by that, must know why.
    let listening = sock.listening.swap(state::LISTENING_NO, Ordering::Relaxed);
    let new = match client::call(Target::Existing, call, Some(fd), None) {
        (Ok(_), Some(new)) => new,
        (r, _) => {
            sock.listening.store(listening, Ordering::Relaxed);
            return Err(match r {
                Err(Errno::ENOTSOCK) => Errno(libc::ENETDOWN),
                Err(e) => e,
                Ok(_) => Errno::EIO,
            });
        }
    };
    // The service's end comes non-blocking; it becomes as the program's socket was.
    if !is_nonblocking(fd)? {
        raw_fcntl(new.as_raw_fd(), libc::F_SETFL, 0)?;
    }
    copy_descriptor_options(fd, new.as_raw_fd(), true);
    replace_keeping_interest(sock, fd, new.as_raw_fd())?;
    sock.connect_started.store(false, Ordering::Relaxed);
    sock.connect_reported.store(false, Ordering::Relaxed);
    sock.rd_shut.store(false, Ordering::Relaxed);
    sock.syn_room.store(usize::MAX, Ordering::Relaxed);
    sock.more.store(false, Ordering::Relaxed);
    sock.listening.store(state::LISTENING_NO, Ordering::Relaxed);
    Ok(())
}

/// A TCP socket whose connect failed becomes as a fresh one, pending as a new socket is: a kernel
/// TCP socket takes the descriptor's numbers (the stack socket goes with its socketpair end), with
/// the descriptor's flags and the options it carries, and the next connect attaches it anew.
fn unconnect(sock: &Arc<OpenSocket>, fd: RawFd) {
    // SAFETY: plain arguments.
    let k = unsafe {
        libc::syscall(
            libc::SYS_socket,
            family_of(sock),
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if k < 0 {
        return;
    }
    // SAFETY: the kernel just returned this descriptor.
    let k = unsafe { OwnedFd::from_raw_fd(k as RawFd) };
    if let Ok(flags) = raw_fcntl(fd, libc::F_GETFL, 0) {
        let _ = raw_fcntl(
            k.as_raw_fd(),
            libc::F_SETFL,
            i64::from(flags & libc::O_NONBLOCK),
        );
    }
    copy_descriptor_options(fd, k.as_raw_fd(), true);
    // The interest follows the socket again when it attaches.
    let epoll = replace_keeping_interest(sock, fd, k.as_raw_fd()).unwrap_or_default();
    sock.set_attach(
        &mut sock.attach.lock(),
        Attach::Pending(Pending {
            descriptor_options: true,
            epoll,
            ..Pending::default()
        }),
    );
    sock.connect_started
        .store(false, std::sync::atomic::Ordering::Relaxed);
    sock.connect_reported.store(false, Ordering::Relaxed);
}

/// The connect of a pending TCP socket, started without a round trip: the program makes the
/// socketpair itself (its end named and filled, so it polls as not writable until the handshake
/// ends), hands both ends to the service with the request, and has EINPROGRESS at once, as the
/// kernel's non-blocking connect. How the handshake went, the socket tells (writable, or hung up
/// with SO_ERROR set); a blocking connect asks the service to answer when it ends (WaitConnect),
/// its one round trip where it took two. `None`: not such a case (broadcast, Fast Open, not
/// pending…); the usual request does it. `Some(Ok(nonblocking))`: under way (EINPROGRESS for a
/// non-blocking socket), the descriptor's O_NONBLOCK as just read.
fn connect_quietly(
    sock: &Arc<OpenSocket>,
    fd: RawFd,
    target: SocketAddrV4,
) -> Option<Result<bool>> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    if sock.kind != Kind::Stream || super::io::is_broadcast(target.ip()) {
        return None;
    }
    // A thread's first request waits for its answer, which tells whether the service took its
    // connection (one out of descriptors answers ENFILE and lets it go).
    if !client::admitted() {
        return None;
    }
    // As in attach_with: the lock is held across system calls.
    let _held = crate::sys::SignalsHeld::new();
    let _attaching = state::attaching();
    let mut a = sock.attach.lock();
    let Attach::Pending(pending) = &*a else {
        return None;
    };
    // With Fast Open the service decides: a connect it defers (a cookie is at hand) succeeds at
    // once, as Linux's, and only its answer can say so.
    if fast_open_asked(pending) {
        return None;
    }
    let (mine, theirs) = uds::pair(libc::SOCK_STREAM | libc::SOCK_NONBLOCK).ok()?;
    // Closed by system call on every way out (this holds the socket's lock).
    let (mine, theirs) = (close_raw_after(mine), close_raw_after(theirs));
    let mut name = crate::service::server::SOCKET_NAME_PREFIX.to_vec();
    let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
    // Named as the service names its sockets, a `6` marking an AF_INET6 one (state::identify).
    let six = if sock.inet6 { "6" } else { "" };
    name.extend_from_slice(format!("c{}/{serial}/{six}t", state::pid()).as_bytes());
    uds::bind_abstract(mine.as_raw_fd(), &name).ok()?;
    let filler = crate::service::server::fill_end(mine.as_raw_fd());
    let target_socket = Target::Given {
        kind: Kind::Stream,
        options: pending.options.clone(),
        inet6: sock.inet6,
    };
    let call = Call::ConnectFilled {
        addr: target,
        filler: filler as u32,
    };
    if let Err(e) = client::tell(target_socket, call, &[mine.as_raw_fd(), theirs.as_raw_fd()]) {
        return Some(Err(e));
    }
    drop(theirs);
    let nonblocking = match install(sock, fd, mine.into_owned(), pending) {
        Ok(nb) => nb,
        Err(e) => return Some(Err(e)),
    };
    sock.set_attach(&mut a, Attach::Stack);
    sock.connect_started
        .store(true, std::sync::atomic::Ordering::Relaxed);
    Some(Ok(nonblocking))
}

/// Whether a pending socket's options ask for Fast Open on connect (TCP_FASTOPEN_CONNECT).
fn fast_open_asked(pending: &Pending) -> bool {
    pending.options.iter().any(|o| {
        (o.level, o.name) == (libc::IPPROTO_TCP, libc::TCP_FASTOPEN_CONNECT)
            && o.value.iter().any(|&b| b != 0)
    })
}

/// The connect of `sendto(MSG_FASTOPEN)` on a TCP socket not yet connected (RFC 7413): a connect
/// with Fast Open, leaving `TCP_FASTOPEN_CONNECT` as it was (Linux's tcp_sendmsg_fastopen sets
/// no option). Ok(Some(n)): deferred until the data the caller sends next, of which the SYN
/// takes n bytes (a non-blocking send then returns that much, `io::syn_share`); Ok(None):
/// connected; a non-blocking socket without a cookie gets EINPROGRESS, its SYN asking for one,
/// and the data is not taken, as on Linux. `empty` (a zero-length send): the SYN never waits,
/// it goes at once (with the cookie, if at hand) and the connect is as any other (EINPROGRESS
/// when non-blocking, else waited for), as Linux's. `dontwait`: MSG_DONTWAIT, which makes the
/// connect non-blocking as O_NONBLOCK does.
pub fn connect_fast_open(
    sock: &Arc<OpenSocket>,
    fd: RawFd,
    target: SocketAddrV4,
    empty: bool,
    dontwait: bool,
) -> Result<Option<usize>> {
    tcp_connect(sock, fd, target, Some(FastOpen { empty, dontwait }))
}

pub fn listen(sock: &Arc<OpenSocket>, fd: RawFd, backlog: i32) -> Result<()> {
    if sock.kind != Kind::Stream {
        return Err(Errno::EOPNOTSUPP);
    }
    on_stack(sock, fd, Call::Listen(backlog))?;
    sock.listening
        .store(state::LISTENING_YES, Ordering::Relaxed);
    Ok(())
}

/// Whether a stack socket listens, taken for yes when the service cannot say: the accept itself
/// then reports what is wrong.
pub(super) fn is_listener(sock: &OpenSocket, fd: RawFd) -> bool {
    listening(sock, fd).unwrap_or(true)
}

/// Whether a stack socket listens: known in this process, or asked of the service once. None
/// when the service cannot say.
pub(super) fn listening(sock: &OpenSocket, fd: RawFd) -> Option<bool> {
    match sock.listening.load(Ordering::Relaxed) {
        state::LISTENING_YES => Some(true),
        state::LISTENING_NO => Some(false),
        _ if sock.connect_started.load(Ordering::Relaxed) => Some(false),
        _ => {
            let call = Call::GetOption {
                level: libc::SOL_SOCKET,
                name: libc::SO_ACCEPTCONN,
                len: 4,
            };
            let yes = match request(fd, call) {
                Ok(Value::Bytes(b)) => b.first().is_some_and(|&v| v != 0),
                Ok(Value::Int(v)) => v != 0,
                _ => return None,
            };
            let v = if yes {
                state::LISTENING_YES
            } else {
                state::LISTENING_NO
            };
            sock.listening.store(v, Ordering::Relaxed);
            Some(yes)
        }
    }
}

/// Whom an accepted connection is from.
pub enum Peer {
    /// A stack connection, from this address.
    Stack(SocketAddrV4),
    /// A connection on loopback, taken by the listener's twin there (see
    /// [`crate::service::loopback`]): the descriptor is the kernel's own socket, left to libc
    /// from now on; its peer's address as the kernel's accept gave it (a `sockaddr_in`, or a
    /// `sockaddr_in6` for an AF_INET6 listener).
    Kernel(Vec<u8>),
}

/// Waits for a connection on a listener: takes a token (natively, so the descriptor's own blocking
/// mode, SO_RCVTIMEO and signal rules apply), then asks for the connection it stands for.
pub fn accept(sock: &OpenSocket, fd: RawFd, flags: i32) -> Result<(RawFd, Peer)> {
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    if sock.kind != Kind::Stream {
        return Err(Errno::EOPNOTSUPP);
    }
    // What the accepted socket takes from its listener, learnt first for one another process
    // made.
    learn_settings(sock, fd);
    // Linux's inet_accept: only a listener accepts (and a connected socket's data is not a
    // listener's tokens to read).
    if sock.is_pending() || !is_listener(sock, fd) {
        return Err(Errno::EINVAL);
    }
    for _ in 0..1_000_000 {
        // The new descriptor's number is taken before the wait, as Linux's accept4 does: with
        // none free, EMFILE at once, and the connection stays queued for a later accept.
        // (The listener's service is not started anew for it: if it is gone, the read says so.)
        let number = client::reserve_number(fd, false)?;
        let mut token = [0u8; 1];
        // SAFETY: reading one byte into a local buffer.
        let r = unsafe { libc::syscall(libc::SYS_read, fd, token.as_mut_ptr(), 1) };
        if r < 0 {
            return Err(Errno(super::hook::errno()));
        }
        if r == 0 {
            // The listener was taken apart while this waited (its old end is closed), or the
            // service is gone: either way it listens no more, and Linux's inet_csk_accept says
            // EINVAL for a socket not listening. (ECONNABORTED would say that one connection
            // went away: an event loop would take the next, which never comes, while the ended
            // descriptor keeps polling readable; libuv's accept loop spun so.)
            return Err(Errno::EINVAL);
        }
        // Freed for the descriptor the answer brings.
        drop(number);
        let (result, new) = client::call(Target::Existing, Call::Accept, Some(fd), None);
        // The new descriptor as accept4's flags ask (it comes non-blocking and close-on-exec
        // from the service), with its listener's timeouts, as Linux's sk_clone gives them.
        let settle = |new: OwnedFd| -> Result<RawFd> {
            // (Its SO_PEEK_OFF the service set, from the listener's it keeps.)
            copy_descriptor_options(fd, new.as_raw_fd(), false);
            if flags & libc::SOCK_NONBLOCK == 0 {
                raw_fcntl(new.as_raw_fd(), libc::F_SETFL, 0)?;
            }
            let n = new.into_raw_fd();
            if flags & libc::SOCK_CLOEXEC == 0 {
                raw_fcntl(n, libc::F_SETFD, 0)?;
            }
            Ok(n)
        };
        match (result, new) {
            (Ok(Value::Kernel(peer)), Some(new)) => {
                let nfd = settle(new)?;
                // A kernel socket: nothing for the shim to remember (a record of an earlier
                // socket at this number is stale).
                state::remove(nfd);
                return Ok((nfd, Peer::Kernel(peer)));
            }
            (Ok(Value::Addr(peer)), Some(new)) => {
                let nfd = settle(new)?;
                // Of its listener's family, as Linux's sk_clone makes it.
                let accepted = OpenSocket::attached(Kind::Stream, sock.inet6);
                accepted
                    .sndtimeo_us
                    .store(sock.sndtimeo_us.load(Ordering::Relaxed), Ordering::Relaxed);
                accepted
                    .listening
                    .store(state::LISTENING_NO, Ordering::Relaxed);
                // The service gives it the listener's SO_RCVLOWAT.
                accepted
                    .rcvlowat
                    .store(sock.rcvlowat.load(Ordering::Relaxed), Ordering::Relaxed);
                state::insert(nfd, Arc::new(accepted));
                return Ok((nfd, Peer::Stack(peer)));
            }
            // The connection went away before we asked: wait for the next.
            (Err(Errno::EAGAIN), _) => continue,
            (Err(e), _) => return Err(e),
            // The answer's descriptor found no free number: another thread took the one this
            // call had held (the connection is lost with the descriptor the kernel dropped).
            (Ok(Value::Addr(_) | Value::Kernel(_)), None) => return Err(Errno::EMFILE),
            (Ok(_), _) => return Err(Errno::EIO),
        }
    }
    Err(Errno::EAGAIN)
}

pub fn local_addr(sock: &OpenSocket, fd: RawFd) -> Result<SocketAddrV4> {
    if sock.is_pending() {
        return Ok(UNBOUND);
    }
    match request(fd, Call::LocalAddr)? {
        Value::Addr(a) => Ok(a),
        _ => Err(Errno::EIO),
    }
}

pub fn peer_addr(sock: &OpenSocket, fd: RawFd) -> Result<SocketAddrV4> {
    if sock.is_pending() {
        return Err(Errno::ENOTCONN);
    }
    match request(fd, Call::PeerAddr)? {
        Value::Addr(a) => Ok(a),
        _ => Err(Errno::EIO),
    }
}

/// shutdown(2): the socketpair carries it (end of file one way, EPIPE the other), so it is the
/// kernel's own call on the descriptor.
pub fn shutdown(sock: &OpenSocket, fd: RawFd, how: i32) -> Result<()> {
    if !matches!(how, libc::SHUT_RD | libc::SHUT_WR | libc::SHUT_RDWR) {
        return Err(Errno::EINVAL);
    }
    if sock.is_pending() {
        return Err(Errno::ENOTCONN);
    }
    // Linux's inet_shutdown: shutting a listener's reading disconnects it (it listens no more,
    // and accept says EINVAL), and so does any shutdown of a connect in progress (SYN-SENT: the
    // descriptor, still filled, is neither writable nor hung up).
    if sock.kind == Kind::Stream && how != libc::SHUT_WR && is_listener(sock, fd) {
        return disconnect(sock, fd, false);
    }
    if sock.kind == Kind::Stream
        && sock.connect_started.load(Ordering::Relaxed)
        && poll_now(fd) & (libc::POLLOUT | libc::POLLHUP) == 0
    {
        match disconnect(sock, fd, true) {
            Err(Errno::EISCONN) => {} // established meanwhile: an ordinary shutdown
            r => return r,
        }
    }
    // A connection over (both ways closed, or reset) is Linux's TCP_CLOSE: ENOTCONN, though the
    // shutdown is still recorded. The service hangs the socketpair up exactly then.
    let over = sock.kind == Kind::Stream && poll_now(fd) & libc::POLLHUP != 0;
    if sock.kind == Kind::Stream && !over && sock.connect_started.load(Ordering::Relaxed) {
        // inet_shutdown takes a connect found established from SS_CONNECTING to SS_CONNECTED,
        // as a connect reporting it would: connect says EISCONN from now on.
        mark_reported(sock, fd);
    }
    uds::shutdown(fd, how).map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EIO)))?;
    // The socketpair's end now reads what is queued, then end of file at once, and polls
    // POLLIN|POLLRDHUP, as Linux's socket after SHUT_RD; what arrives later the service holds,
    // for reads to take (read_held).
    if sock.kind == Kind::Stream && how != libc::SHUT_WR {
        sock.rd_shut.store(true, Ordering::Relaxed);
    }
    if over {
        return Err(Errno::ENOTCONN);
    }
    // The FIN goes before this returns (Call::Shutdown), so that a close right after cannot take
    // its place; and a socket not connected is ENOTCONN, its shutdown recorded all the same, as
    // Linux's inet_shutdown. A service gone has nothing to send it on: the shutdown stands.
    let write = sock.kind == Kind::Stream && how != libc::SHUT_RD;
    if let Err(Errno::ENOTCONN) = request(fd, Call::Shutdown { write }) {
        return Err(Errno::ENOTCONN);
    }
    Ok(())
}

/// After shutdown(SHUT_RD), a TCP read that found the socketpair's end of file takes up to `len`
/// bytes of what arrived since, which the service holds (it can no longer write it into the
/// socketpair): Linux still queues data after SHUT_RD, and a read returns it, reading end of file
/// only when nothing is queued (tcp_recvmsg checks RCV_SHUTDOWN only then). Empty: nothing held.
pub fn read_held(sock: &OpenSocket, fd: RawFd, len: usize, peek: bool) -> Vec<u8> {
    if !sock.rd_shut.load(Ordering::Relaxed) || len == 0 {
        return Vec::new();
    }
    held_bytes(
        fd,
        Call::ReadHeld {
            len: held_request_len(len),
            peek,
        },
    )
}

/// A TCP read that found nothing on a socket with SO_RCVLOWAT set (non-blocking, or its
/// SO_RCVTIMEO ran out): up to `len` bytes of what the service holds below the mark, which
/// Linux's read would have returned. Empty: none (the read stands).
pub fn read_below_mark(sock: &OpenSocket, fd: RawFd, len: usize, peek: bool) -> Vec<u8> {
    if !rcvlowat_set(sock, fd) || sock.rd_shut.load(Ordering::Relaxed) || len == 0 {
        return Vec::new();
    }
    held_bytes(
        fd,
        Call::ReadBelowMark {
            len: held_request_len(len),
            peek,
        },
    )
}

/// How much one read asks the service for of what it holds: 64 KiB at most a request.
fn held_request_len(len: usize) -> u32 {
    len.min(1 << 16) as u32
}

/// The bytes a read request for what the service holds ([`read_held`], [`read_below_mark`])
/// brought; empty if none, or if the request failed (the read then stands as it was).
fn held_bytes(fd: RawFd, call: Call) -> Vec<u8> {
    match request(fd, call) {
        Ok(Value::Bytes(b)) => b,
        _ => Vec::new(),
    }
}

/// After shutdown(SHUT_RD), how many bytes the service holds for reads to take ([`read_held`]);
/// 0 on a socket whose reading is not shut. SIOCINQ and TCP_INQ add them to what the socketpair
/// holds, as Linux's tcp_inq counts everything queued.
pub fn held_len(sock: &OpenSocket, fd: RawFd) -> usize {
    if !sock.rd_shut.load(Ordering::Relaxed) {
        return 0;
    }
    match request(fd, Call::HeldLen) {
        Ok(Value::Int(n)) => n.max(0) as usize,
        _ => 0,
    }
}

/// The error a read that found end of file on a TCP stack socket should report instead: the
/// connection's (ECONNRESET after a reset, ETIMEDOUT…), if it has one.
pub fn error_at_eof(fd: RawFd) -> Option<Errno> {
    // The service shuts the socketpair both ways when an error ends the connection, and only its
    // own way after a clean FIN: without a hang-up there is nothing to ask.
    if poll_now(fd) & libc::POLLHUP == 0 {
        return None;
    }
    match request(fd, Call::ErrorAtEof) {
        Ok(Value::Int(e)) if e != 0 => Some(Errno(e)),
        // The service is gone (killed, or it crashed), and the connection with it: its hang-up is
        // no end of the peer's data, and a clean end of file would pass a cut stream off as whole.
        Err(e) if e.0 == libc::ENETDOWN => Some(e),
        _ => None,
    }
}

/// What a read that met ECONNRESET on a TCP stack socket's descriptor should report instead.
/// The service ends a failed connect by closing its end with bytes still queued, so that the
/// program's end polls POLLERR as Linux's socket does; the kernel then reports ECONNRESET on the
/// program's end once. Linux's tcp_recvmsg reports the connection's error while SO_ERROR holds
/// it, then end of file: `Some(Some(e))`, `Some(None)`. `None`: the service does not know the
/// socket (it is gone), and the reset stands.
pub fn error_at_reset(fd: RawFd) -> Option<Option<Errno>> {
    match request(fd, Call::TakeError) {
        Ok(Value::Int(0)) => Some(None),
        Ok(Value::Int(e)) => Some(Some(Errno(e))),
        _ => None,
    }
}

/// Whether a TCP stack socket's descriptor is unconnected: the socket was taken apart
/// (tcp_disconnect) and has not connected or listened since.
pub fn unpaired(fd: RawFd) -> bool {
    uds::not_connected(fd)
}

/// Clears the error the kernel holds on a TCP stack socket's descriptor (the ECONNRESET of a
/// failed connect's hang-up, see [`error_at_reset`]) once the program has had the connection's
/// error through SO_ERROR: as on Linux, `poll` then stops reporting POLLERR.
pub fn clear_descriptor_error(fd: RawFd) {
    let _ = uds::get_int(fd, libc::SOL_SOCKET, libc::SO_ERROR);
}

/// SO_ERROR of a stack socket whose connection is over, if it still holds one not yet reported:
/// then a new connect must first report it (as Linux's connect does with sk_err).
pub fn take_pending_error(fd: RawFd) -> Option<Errno> {
    match request(fd, Call::TakeError) {
        Ok(Value::Int(e)) if e != 0 => Some(Errno(e)),
        _ => None,
    }
}

/// Whether SO_ERROR of TCP stack socket `fd` is 0 for sure, without asking the service (which
/// costs the program a round trip, and every event loop asks it after each connect). The
/// service hangs the socketpair up with every hard error (a failed connect, a reset, a timeout),
/// and names its end once the connection holds a soft error (an ICMP error while established,
/// which Linux's SO_ERROR also reports, from sk_err_soft): neither, and there is none.
pub fn no_error_pending(fd: RawFd) -> bool {
    poll_now(fd) & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) == 0 && uds::peer_unnamed(fd)
}

/// What `poll` says of `fd` right now.
fn poll_now(fd: RawFd) -> i16 {
    let mut p = [libc::pollfd {
        fd,
        events: libc::POLLIN | libc::POLLOUT,
        revents: 0,
    }];
    // SAFETY: one pollfd, no wait.
    if unsafe { libc::syscall(libc::SYS_poll, p.as_mut_ptr(), 1, 0) } < 0 {
        return 0;
    }
    p[0].revents
}

/// The unspecified address, for sockets the stack has not bound.
pub const UNBOUND: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);

/// Learns the settings of a socket another process made ([`OpenSocket::unsettled`]) that this
/// process keeps for itself, before the first call that needs them: whether a UDP socket is
/// connected, SO_BROADCAST and IP_MTU_DISCOVER (which its sends check), TCP_INQ (which its reads
/// report), SO_LINGER (which its close waits by), SO_SNDTIMEO (which bounds a send in pieces) and
/// whether SO_RCVLOWAT is set (a read that finds nothing then takes what is below the mark). The
/// service holds the first five, the descriptor the others. Without this, a connected UDP socket
/// inherited over `exec` said EDESTADDRREQ to `send`, as Linux never would.
///
/// Done until every answer came: a caller meanwhile (another thread, a signal handler whose
/// request found the thread's control connection busy) asks again, and nothing uncertain is
/// kept. The program's errno is left as it was.
pub fn learn_settings(sock: &OpenSocket, fd: RawFd) {
    if !sock.unsettled.load(Ordering::Acquire) {
        return;
    }
    if super::hook::errno_kept(|| learn_all(sock, fd)) {
        sock.unsettled.store(false, Ordering::Release);
    }
}

/// [`learn_settings`] for a socket whose settings this process has had: asked again, as another
/// process sharing it may have changed them (a send refused for want of a destination or of
/// SO_BROADCAST looks again before it says so).
pub fn learn_settings_again(sock: &OpenSocket, fd: RawFd) {
    super::hook::errno_kept(|| learn_all(sock, fd));
}

/// One try of [`learn_settings`]: whether every setting was had.
fn learn_all(sock: &OpenSocket, fd: RawFd) -> bool {
    let option = |level: i32, name: i32, len: u32| -> Option<Vec<u8>> {
        match request(fd, Call::GetOption { level, name, len }) {
            Ok(Value::Bytes(b)) => Some(b),
            Ok(Value::Int(v)) => Some(v.to_ne_bytes().to_vec()),
            _ => None,
        }
    };
    let int = |level: i32, name: i32| -> Option<i32> {
        let b = option(level, name, 4)?;
        Some(i32::from_ne_bytes(b.get(..4)?.try_into().ok()?))
    };
    let mut all = true;
    match sock.kind {
        Kind::Dgram => {
            match request(fd, Call::PeerAddr) {
                Ok(Value::Addr(_)) => sock.connected.store(true, Ordering::Relaxed),
                Err(Errno::ENOTCONN) => sock.connected.store(false, Ordering::Relaxed),
                _ => all = false,
            }
            match int(libc::SOL_SOCKET, libc::SO_BROADCAST) {
                Some(v) => sock.broadcast.store(v != 0, Ordering::Relaxed),
                None => all = false,
            }
            match int(libc::IPPROTO_IP, libc::IP_MTU_DISCOVER) {
                Some(v) => super::sockopt::note_mtu_discover(sock, v),
                None => all = false,
            }
        }
        Kind::Stream => {
            match uds::get_int(fd, libc::SOL_SOCKET, libc::SO_RCVLOWAT) {
                Ok(v) => sock
                    .rcvlowat
                    .store(super::sockopt::rcvlowat_marks(v), Ordering::Relaxed),
                Err(_) => all = false,
            }
            match int(libc::IPPROTO_TCP, libc::TCP_INQ) {
                Some(v) => sock.inq.store(v == 1, Ordering::Relaxed),
                None => all = false,
            }
            let linger = option(libc::SOL_SOCKET, libc::SO_LINGER, LINGER_LEN);
            match linger.as_deref().and_then(linger_secs_of) {
                Some(secs) => sock.linger_secs.store(secs, Ordering::Relaxed),
                None => all = false,
            }
        }
    }
    let size = std::mem::size_of::<libc::timeval>();
    let sndtimeo = uds::get_raw(fd, libc::SOL_SOCKET, libc::SO_SNDTIMEO, size);
    match sndtimeo.ok().as_deref().and_then(sndtimeo_us_of) {
        Some(us) => sock.sndtimeo_us.store(us, Ordering::Relaxed),
        None => all = false,
    }
    all
}

const LINGER_LEN: u32 = std::mem::size_of::<libc::linger>() as u32;

/// SO_LINGER's seconds (0: off) from a `struct linger`'s bytes; `None` if short.
pub fn linger_secs_of(bytes: &[u8]) -> Option<u64> {
    if bytes.len() < LINGER_LEN as usize {
        return None;
    }
    // SAFETY: a whole `struct linger`.
    let l = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<libc::linger>()) };
    Some(if l.l_onoff != 0 {
        l.l_linger.max(0) as u64
    } else {
        0
    })
}

/// SO_SNDTIMEO in microseconds (0: none) from a `struct timeval`'s bytes; `None` if short.
pub fn sndtimeo_us_of(bytes: &[u8]) -> Option<u64> {
    if bytes.len() < std::mem::size_of::<libc::timeval>() {
        return None;
    }
    // SAFETY: a whole `struct timeval`.
    let tv = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<libc::timeval>()) };
    Some(if tv.tv_sec < 0 {
        0
    } else {
        tv.tv_sec as u64 * 1_000_000 + tv.tv_usec.max(0) as u64
    })
}

/// Whether SO_RCVLOWAT is set on TCP socket `sock` (learnt first, for one another process made).
pub fn rcvlowat_set(sock: &OpenSocket, fd: RawFd) -> bool {
    learn_settings(sock, fd);
    sock.rcvlowat.load(Ordering::Relaxed)
}

/// How long a close of `fd` must wait under SO_LINGER: set with a time, a TCP stack socket
/// (blocking or not), and this the process's last number for it (the table already forgot `fd`).
pub fn linger_time(sock: &Arc<OpenSocket>, fd: RawFd) -> Option<Duration> {
    if sock.kind != Kind::Stream || sock.is_pending() || state::count_of(sock) > 0 {
        return None;
    }
    if sock.unsettled.load(Ordering::Acquire) {
        // Another process's socket: its SO_LINGER from the service, if one runs (a close never
        // starts one), the program's errno left as it was.
        let call = Call::GetOption {
            level: libc::SOL_SOCKET,
            name: libc::SO_LINGER,
            len: LINGER_LEN,
        };
        let got = super::hook::errno_kept(|| {
            match client::call_running(Target::Existing, call, Some(fd)).0 {
                Ok(Value::Bytes(b)) => linger_secs_of(&b),
                _ => None,
            }
        });
        if let Some(secs) = got {
            sock.linger_secs.store(secs, Ordering::Relaxed);
        }
    }
    let secs = sock.linger_secs.load(std::sync::atomic::Ordering::Relaxed);
    if secs == 0 {
        return None;
    }
    // Whatever O_NONBLOCK says: Linux's inet_release lingers for any socket but an exiting
    // process's.
    Some(Duration::from_secs(secs))
}

/// SO_LINGER's close: asks the service to answer once everything is acknowledged, closes, and
/// waits for that answer up to `wait` (as Linux's close, which then returns anyway).
pub fn close_lingering(fd: RawFd, wait: Duration, close: impl FnOnce() -> i32) -> i32 {
    let mut close = Some(close);
    let mut closed = 0;
    let (result, _) =
        client::call_then(Target::Existing, Call::Linger, Some(fd), Some(wait), || {
            closed = (close.take().expect("once"))();
        });
    if let Some(close) = close {
        // The request never left (no control connection to be had, the service gone, a signal
        // handler on this thread's): the descriptor is closed all the same, without the wait.
        return close();
    }
    if closed == 0 {
        if let Err(e) = result {
            if e != Errno::EAGAIN {
                log::debug!("lingering close: {}", e.name());
            }
        }
    }
    closed
}
