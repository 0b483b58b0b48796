//! A stack listener's twin on the kernel's loopback.
//!
//! On Linux a TCP listener bound to the wildcard (0.0.0.0, or a dual-stack `[::]`) takes
//! connections to every local address, loopback included: a program that listens on 0.0.0.0 is
//! reached at 127.0.0.1 (and at 0.0.0.0, which Linux's ip_route_output_key_hash_rcu turns into
//! 127.0.0.1 as a destination). Loopback traffic stays on the kernel here (the stack has no
//! loopback of its own), so the service, which runs in the program's network namespace, listens
//! there for the stack listener, as Onload does for loopback traffic it does not accelerate: a
//! kernel listener on 127.0.0.1 and the same port (for an AF_INET6 listener, AF_INET6 sockets on
//! `::ffff:127.0.0.1` and `::1`, as Linux's `[::]` takes both). What it accepts waits here, counted
//! with the stack's own queue in the listener's tokens ([`super::server`]), and an `accept` that
//! meets it gets the kernel's connected socket itself (over SCM_RIGHTS): from then on the program
//! holds an ordinary kernel socket, which the shim leaves to libc.
//!
//! Not Linux's exactly: the port is the stack's, so a kernel program already on 127.0.0.1 and that
//! port keeps it (the twin is then left out, said at debug level), where Linux would have refused
//! the stack listener's `bind`.

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::proto::SetOption;
use super::uds;

/// How many kernel connections the service takes out of a twin's queue ahead of the program's
/// `accept`; the rest wait in the kernel's own queue (its backlog the program's).
pub const HELD: usize = 16;

/// The options a listener passes to the connections it accepts (Linux's sk_clone copies the
/// socket, inet_csk_clone_lock the TCP settings) and that the twin therefore takes from the stack
/// listener, besides those its `bind` needs (SO_REUSEADDR, SO_REUSEPORT).
pub const INHERITED: &[(i32, i32)] = &[
    (libc::SOL_SOCKET, libc::SO_REUSEADDR),
    (libc::SOL_SOCKET, libc::SO_REUSEPORT),
    (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
    (libc::SOL_SOCKET, libc::SO_LINGER),
    (libc::IPPROTO_TCP, libc::TCP_NODELAY),
    (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
    (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
    (libc::IPPROTO_TCP, libc::TCP_KEEPCNT),
    (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT),
    (libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT),
];

/// Whether option `level`/`name` is one a twin takes ([`INHERITED`]).
pub fn inherited(level: i32, name: i32) -> bool {
    INHERITED.contains(&(level, name))
}

/// A connection the kernel accepted on a twin: its socket, and the peer's address as accept4
/// wrote it (a `sockaddr_in` or `sockaddr_in6`), which the program's `accept` reports.
pub struct Waiting {
    pub fd: OwnedFd,
    pub peer: Vec<u8>,
}

/// The kernel listeners standing in for one stack listener on loopback, and the connections taken
/// from them that no `accept` has had yet.
pub struct Twin {
    listeners: Vec<OwnedFd>,
    pub waiting: VecDeque<Waiting>,
    /// Every connection that waits for the listener's `accept`, in the order they came: true for
    /// one of ours (in `waiting`), false for one in the stack's own queue. An `accept` takes the
    /// oldest, as from the one FIFO queue Linux's listener has.
    order: VecDeque<bool>,
    /// How many of `order` are the stack's.
    stack_counted: usize,
    /// Connections may wait in the kernel's queue that the service could not take (its table was
    /// full): it tries again at the next `accept`, the kernel giving no new edge for them.
    pub behind: bool,
}

pub(super) fn check(ret: libc::c_long) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// A kernel socket of `family` and `ty` (SOCK_STREAM, SOCK_DGRAM), non-blocking and
/// close-on-exec: by system call, as everything in the service (a service started by a preloaded
/// program must not meet the shim's `socket`). The TCP twins' and the UDP twins' alike.
pub(super) fn kernel_socket(family: i32, ty: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain integer arguments.
    let fd = check(unsafe {
        libc::syscall(
            libc::SYS_socket,
            family,
            ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: the kernel just returned this descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `ip`:`port` as the kernel takes it.
pub(super) fn sockaddr_in6(ip: Ipv6Addr, port: u16) -> libc::sockaddr_in6 {
    // SAFETY: plain data, all zeroes valid.
    let mut a: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    a.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    a.sin6_port = port.to_be();
    a.sin6_addr.s6_addr = ip.octets();
    a
}

pub(super) fn bind_raw<T>(fd: RawFd, addr: &T) -> io::Result<()> {
    // SAFETY: `addr` is a whole sockaddr of its size.
    check(unsafe {
        libc::syscall(
            libc::SYS_bind,
            fd,
            addr as *const T,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// A kernel listener on `ip`:`port` (IPv4), or on `ip6` (IPv6; `v6only` as given), with
/// `options` set before its bind, listening with `backlog`.
fn listener(
    ip: Option<Ipv4Addr>,
    ip6: Option<(Ipv6Addr, bool)>,
    port: u16,
    backlog: i32,
    options: &[SetOption],
) -> io::Result<OwnedFd> {
    let family = if ip.is_some() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let fd = kernel_socket(family, libc::SOCK_STREAM)?;
    let raw = fd.as_raw_fd();
    for o in options {
        // What the kernel refuses here it would have refused the program too: the stack kept it
        // all the same, and the twin goes without.
        let _ = uds::set_raw(raw, o.level, o.name, &o.value);
    }
    if let Some(ip) = ip {
        bind_raw(raw, &crate::sys::sockaddr_in(SocketAddrV4::new(ip, port)))?;
    } else if let Some((ip6, v6only)) = ip6 {
        uds::set_int(raw, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, v6only as i32)?;
        bind_raw(raw, &sockaddr_in6(ip6, port))?;
    }
    uds::listen(raw, backlog)?;
    Ok(fd)
}

impl Twin {
    /// The twin of a stack listener on the wildcard and `port`: on 127.0.0.1 for an AF_INET one;
    /// for an AF_INET6 (`inet6`) one on `::ffff:127.0.0.1` and on `::1` (left out where the
    /// namespace has no IPv6). Fails as the kernel's `bind` or `listen` of 127.0.0.1 does
    /// (EADDRINUSE when a kernel program has that port).
    pub fn open(inet6: bool, port: u16, backlog: i32, options: &[SetOption]) -> io::Result<Twin> {
        let mut listeners = Vec::with_capacity(2);
        if inet6 {
            let mapped = Ipv4Addr::LOCALHOST.to_ipv6_mapped();
            listeners.push(listener(
                None,
                Some((mapped, false)),
                port,
                backlog,
                options,
            )?);
            match listener(
                None,
                Some((Ipv6Addr::LOCALHOST, true)),
                port,
                backlog,
                options,
            ) {
                Ok(l) => listeners.push(l),
                Err(e) => log::debug!("no twin on [::1]:{port}: {e}"),
            }
        } else {
            listeners.push(listener(
                Some(Ipv4Addr::LOCALHOST),
                None,
                port,
                backlog,
                options,
            )?);
        }
        Ok(Twin {
            listeners,
            waiting: VecDeque::new(),
            order: VecDeque::new(),
            stack_counted: 0,
            behind: false,
        })
    }

    /// The kernel listeners, to watch for connections.
    pub fn listeners(&self) -> impl Iterator<Item = RawFd> + '_ {
        self.listeners.iter().map(|l| l.as_raw_fd())
    }

    /// A new backlog, as a second `listen` gives one.
    pub fn relisten(&self, backlog: i32) {
        for l in &self.listeners {
            let _ = uds::listen(l.as_raw_fd(), backlog);
        }
    }

    /// An option the program set on the stack listener since, passed on if the twin takes it.
    pub fn set_option(&self, o: &SetOption) {
        if inherited(o.level, o.name) {
            for l in &self.listeners {
                let _ = uds::set_raw(l.as_raw_fd(), o.level, o.name, &o.value);
            }
        }
    }

    /// Takes what the kernel has accepted, up to [`HELD`] waiting. Returns an errno that stopped
    /// it other than an empty queue (EMFILE, ENFILE: the service's table is full).
    pub fn take(&mut self) -> Option<io::Error> {
        for l in &self.listeners {
            while self.waiting.len() < HELD {
                // SAFETY: sockaddr_storage is plain data, room for any address.
                let mut peer: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
                let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                // SAFETY: `peer` has `len` bytes of room.
                let r = check(unsafe {
                    libc::syscall(
                        libc::SYS_accept4,
                        l.as_raw_fd(),
                        &mut peer as *mut libc::sockaddr_storage,
                        &mut len,
                        libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                    )
                });
                match r {
                    Ok(fd) => {
                        // SAFETY: the kernel just returned this descriptor.
                        let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
                        // SAFETY: the kernel wrote `len` bytes (at most the storage's size).
                        let bytes = unsafe {
                            std::slice::from_raw_parts(
                                &peer as *const libc::sockaddr_storage as *const u8,
                                (len as usize).min(std::mem::size_of::<libc::sockaddr_storage>()),
                            )
                        };
                        self.waiting.push_back(Waiting {
                            fd,
                            peer: bytes.to_vec(),
                        });
                        self.order.push_back(true);
                    }
                    // As Linux's accept loops: a connection gone before it was taken.
                    Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => break,
                    Err(e) => return Some(e),
                }
            }
        }
        None
    }
}

impl Twin {
    /// Notes how many connections wait in the stack's queue now (`stack_queued`): those come
    /// after every connection counted before.
    pub fn count_stack(&mut self, stack_queued: usize) {
        while self.stack_counted < stack_queued {
            self.order.push_back(false);
            self.stack_counted += 1;
        }
        while self.stack_counted > stack_queued {
            // One went before an accept (reset in the queue): the stack's oldest, as far as the
            // order goes.
            if let Some(at) = self.order.iter().position(|&ours| !ours) {
                self.order.remove(at);
            }
            self.stack_counted -= 1;
        }
    }

    /// The connection an `accept` takes, if it is one of ours: the oldest of all that wait,
    /// `stack_queued` of them in the stack's queue. None: the stack's queue has the oldest (or
    /// nothing waits).
    pub fn next(&mut self, stack_queued: usize) -> Option<Waiting> {
        self.count_stack(stack_queued);
        match self.order.pop_front() {
            Some(true) => self.waiting.pop_front(),
            Some(false) => {
                self.stack_counted -= 1;
                None
            }
            None => None,
        }
    }
}

impl Drop for Twin {
    /// The connections nobody accepted are reset, as closing a listener resets its queue on Linux
    /// (inet_csk_listen_stop); the kernel does the same for those still in its own queue.
    fn drop(&mut self) {
        let abort = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a linger struct is plain data.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                &abort as *const libc::linger as *const u8,
                std::mem::size_of::<libc::linger>(),
            )
        };
        for w in &self.waiting {
            let _ = uds::set_raw(w.fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_LINGER, bytes);
        }
    }
}
