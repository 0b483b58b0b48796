//! Answering a program's requests (`src/service/proto.rs`): making a stack socket and its
//! socketpair, or adopting the one a program made for a quiet connect; bind, connect, listen,
//! accept, shutdown, the options and the queries; a connect's end, told to whoever waits on it.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use super::{
    accept_queue_len, default_sndbuf, drain, ep_ctl, errno_of, fill, size_program_end, token,
    urgent_in_line, Called, Phase, Service, Sock, Waiter, RECHECK, REFUSED, SOCKET_NAME_PREFIX,
    SOCK_EVENTS, TAG_SOCK,
};
use crate::error::{Errno, Result};
use crate::service::options::{self, Extra};
use crate::service::proto::{self, Call, Kind, Reply, Request, Target, Value};
use crate::service::uds;
use crate::stack::SocketHandle;

impl Service {
    /// Answers one request. Returns the reply (None: later, for WaitConnect) and the program's end
    /// of a socket the request created.
    pub(super) fn handle(
        &mut self,
        ci: usize,
        generation: u64,
        req: Request,
        fds: Vec<OwnedFd>,
    ) -> (Option<Reply>, Option<OwnedFd>) {
        let seq = req.seq;
        let quiet = req.quiet;
        let reply = |result| (!quiet).then_some(Reply { seq, result });
        if !matches!(req.target, Target::Existing)
            && self.clients.get(ci).is_some_and(|c| c.outside)
        {
            // Its process left the namespace: a new socket of its is the kernel's there (the shim
            // keeps it so), never one of this stack's.
            return (reply(Err(Errno(libc::ENETUNREACH))), None);
        }
        let (i, new_end, held) = match req.target {
            Target::Existing => {
                let Some(fd) = fds.into_iter().next() else {
                    // With the table full, the kernel may have dropped the descriptor it carried.
                    let e = if self.full {
                        Errno::ENFILE
                    } else {
                        Errno::EBADF
                    };
                    return (reply(Err(e)), None);
                };
                let ino = uds::inode(fd.as_raw_fd()).ok();
                let Some(i) = ino.and_then(|ino| self.by_ino.get(&ino).copied()) else {
                    if let Some(r) = ino.and_then(|ino| self.refused_answer(ino, &req.call)) {
                        return (reply(r), None);
                    }
                    // Not a socket of ours: the client holds no descriptor for what it names.
                    return (reply(Err(Errno::ENOTSOCK)), None);
                };
                (i, None, Some(fd))
            }
            Target::New {
                kind,
                options,
                inet6,
            } => {
                let (i, a) = match self.new_sock(kind, inet6) {
                    Ok(x) => x,
                    Err(e) => return (reply(Err(e)), None),
                };
                self.set_owner(i, ci);
                self.apply_options(i, &options);
                (i, Some(a), None)
            }
            Target::Given {
                kind,
                options,
                inet6,
            } => {
                let mut fds = fds.into_iter();
                let (Some(a), Some(b)) = (fds.next(), fds.next()) else {
                    return (reply(Err(Errno::EBADF)), None);
                };
                let i = match self.adopt_given(kind, inet6, &a, b) {
                    Ok(i) => i,
                    Err(e) => {
                        if matches!(e, Errno::ENFILE | Errno::ENOBUFS | Errno::ENOMEM) {
                            // No room for it: the program's end hangs up (ours is gone) and
                            // its SO_ERROR says why, as after a failed connect.
                            if let Ok(ino) = uds::inode(a.as_raw_fd()) {
                                self.refuse_socket(ino, e);
                            }
                        }
                        return (reply(Err(e)), None);
                    }
                };
                self.check_room();
                self.set_owner(i, ci);
                self.apply_options(i, &options);
                (i, None, Some(a))
            }
        };
        let result = self.call(i, req.call, held, new_end.as_ref(), ci, generation, seq);
        if quiet {
            if let Err(e) = result {
                if e != Errno::EINPROGRESS {
                    // Nobody waits for this answer: the program learns it from its socket.
                    self.fail_quietly(i, e);
                }
            }
            return (None, None);
        }
        if let Err(Errno::EAGAIN) = &result {
            let waiting = |w: &Waiter| w.2 == seq && w.0 == ci;
            if self
                .socks
                .get(i)
                .is_some_and(|s| s.waiters.iter().any(waiting) || s.lingerers.iter().any(waiting))
            {
                // A WaitConnect or a Linger: answered when the handshake or the close ends.
                return (None, None);
            }
        }
        let result = match result {
            Ok(Called::Value(v)) => Ok(v),
            Ok(Called::Accepted(a, peer)) => return (reply(Ok(Value::Addr(peer))), Some(a)),
            Ok(Called::AcceptedKernel(w)) => return (reply(Ok(Value::Kernel(w.peer))), Some(w.fd)),
            Ok(Called::Renewed(a) | Called::Shared(a)) => return (reply(Ok(Value::None)), Some(a)),
            Err(e) => Err(e),
        };
        match new_end {
            // A new socket whose first call failed (other than a connect under way) is not kept:
            // the program's descriptor stays what it was.
            Some(_) if result.is_err() && result != Err(Errno::EINPROGRESS) => {
                self.release(i, true);
                (reply(result), None)
            }
            a => (reply(result), a),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Sockets.

    /// Room for one more socket in the service's tables, reserved so that adding it cannot abort
    /// for memory: ENOMEM when it cannot be had (crate::memory).
    pub(super) fn make_room(&mut self) -> Result<()> {
        let ok = self.socks.try_reserve_one()
            && self.by_handle.try_reserve(1).is_ok()
            && self.by_ino.try_reserve(1).is_ok();
        if ok {
            Ok(())
        } else {
            Err(Errno::ENOMEM)
        }
    }

    /// A new stack socket and its socketpair; returns its index and the program's end.
    pub(super) fn new_sock(&mut self, kind: Kind, inet6: bool) -> Result<(usize, OwnedFd)> {
        let (a, b, ino, name) = self.new_pair(kind, inet6)?;
        let i = self.register(kind, ino, name, b, None)?;
        self.socks.get_mut(i).expect("just made").extra.inet6 = inet6;
        Ok((i, a))
    }

    /// A socketpair for a stack socket: the program's end A (named as ours), the service's end B,
    /// A's inode and its name.
    pub(super) fn new_pair(
        &mut self,
        kind: Kind,
        inet6: bool,
    ) -> Result<(OwnedFd, OwnedFd, u64, Vec<u8>)> {
        if self.full {
            return Err(Errno::ENFILE);
        }
        let ty = match kind {
            Kind::Stream => libc::SOCK_STREAM,
            // Not SOCK_DGRAM: a datagram pair tells one end nothing when the other is closed.
            Kind::Dgram => libc::SOCK_SEQPACKET,
        };
        // Both ends start non-blocking: B always is; the program's side sets A as its socket was.
        let (a, b) = uds::pair(ty | libc::SOCK_NONBLOCK).map_err(|e| {
            if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                self.note_full();
            }
            errno_of(&e)
        })?;
        let name = self.socket_name(kind, inet6);
        uds::bind_abstract(a.as_raw_fd(), &name).map_err(|e| errno_of(&e))?;
        let ino = uds::inode(a.as_raw_fd()).map_err(|e| errno_of(&e))?;
        self.check_room();
        Ok((a, b, ino, name))
    }

    /// A new name for a program's end: [`SOCKET_NAME_PREFIX`], then `<pid>/<serial>/<t|u>`, or
    /// `<pid>/<serial>/6<t|u>` for an AF_INET6 socket: a process that did not make the socket
    /// (after `exec`, or given it over SCM_RIGHTS) learns its kind and family from the name
    /// ([`crate::posix::state::identify`]).
    pub(super) fn socket_name(&mut self, kind: Kind, inet6: bool) -> Vec<u8> {
        self.serial += 1;
        let mut name = SOCKET_NAME_PREFIX.to_vec();
        name.extend_from_slice(
            format!(
                "{}/{}/{}{}",
                std::process::id(),
                self.serial,
                if inet6 { "6" } else { "" },
                if kind == Kind::Stream { 't' } else { 'u' }
            )
            .as_bytes(),
        );
        name
    }

    /// Linux's tcp_disconnect on TCP socket `i`: a connection is aborted (RST in the states
    /// tcp_need_reset names, which are those [`crate::tcp::Connection::abort`] resets), a listener
    /// stops (resetting the connections nobody accepted), and the socket is fresh again: a new
    /// stack socket with the old one's options, bound where a `bind` put it. Its program end is
    /// new too (the old one has carried end of file and data that must not reach the new life):
    /// an unconnected UNIX stream socket, which polls POLLOUT|POLLHUP as Linux's closed socket
    /// does and refuses reads and writes, paired up with a new end of ours when the socket
    /// connects or listens ([`Service::pair_up`]). SO_ERROR then says ECONNRESET if a connection
    /// was reset or a SYN was outstanding, as Linux's does. Returns the program's new end. A
    /// process that holds the old descriptor still (after a `fork`) sees it hang up.
    pub(super) fn disconnect(&mut self, i: usize) -> Result<OwnedFd> {
        use crate::tcp::State;
        let now = self.now();
        let sock = self.socks.get(i).ok_or(Errno::EBADF)?;
        let (old, kind, bound) = (sock.h, sock.kind, sock.bound);
        let t = self.stack.tcp_socket_ref(old).ok_or(Errno::EBADF)?;
        let reset = t.connection().is_some_and(|c| {
            matches!(
                c.state(),
                State::SynSent
                    | State::SynReceived
                    | State::Established
                    | State::FinWait1
                    | State::FinWait2
                    | State::CloseWait
            )
        });
        let (config, ip) = (t.config.clone(), t.ip);
        let (reuse_addr, reuse_port, owner) = (t.reuse_addr, t.reuse_port, t.owner);
        let old_port = t.local.map_or(0, |l| l.port());
        let a = uds::socket(libc::SOCK_STREAM | libc::SOCK_NONBLOCK).map_err(|e| errno_of(&e))?;
        let inet6 = sock.extra.inet6;
        let name = self.socket_name(kind, inet6);
        uds::bind_abstract(a.as_raw_fd(), &name).map_err(|e| errno_of(&e))?;
        let ino = uds::inode(a.as_raw_fd()).map_err(|e| errno_of(&e))?;
        let (b, _) =
            uds::pair(libc::SOCK_STREAM | libc::SOCK_NONBLOCK).map_err(|e| errno_of(&e))?;
        // The old socket goes as a close with SO_LINGER zero does (the same tcp_disconnect on
        // Linux), before the new one binds its port.
        if let Ok(t) = self.stack.tcp_socket_mut(old) {
            t.config.linger = Some(Duration::ZERO);
            if let Some(c) = t.connection_mut() {
                c.set_linger(Some(Duration::ZERO));
            }
        }
        let _ = self.stack.close(now, old);
        self.flush_frames();
        // The old socket just gave back its place under the socket bound.
        let h = self.stack.tcp_socket()?;
        if let Ok(t) = self.stack.tcp_socket_mut(h) {
            t.config = config;
            t.ip = ip;
            t.reuse_addr = reuse_addr;
            t.reuse_port = reuse_port;
            t.owner = owner;
        }
        if let Some(addr) = bound {
            if let Err(e) = self.stack.tcp_bind(h, addr) {
                log::debug!(
                    "{h:?} could not keep {addr} through a disconnect: {}",
                    e.name()
                );
            }
        }
        let sock = self.socks.get_mut(i).expect("present");
        let old_ino = std::mem::replace(&mut sock.ino, ino);
        sock.name = name;
        // Closing the old B ends the old descriptor (its epoll registration goes with it); a dead
        // end stands in until the socket is paired up again.
        drop(std::mem::replace(&mut sock.b, b));
        sock.unpaired = true;
        sock.h = h;
        sock.stale_port = old_port;
        sock.phase = Phase::Fresh;
        // Linux's connect(AF_UNSPEC) leaves the socket SS_UNCONNECTED.
        sock.connect_reported = false;
        // A listener's twin ends with its listening.
        sock.twin = None;
        sock.b_readable = false;
        sock.b_shut_seen = false;
        sock.b_err_seen = false;
        sock.b_named = false;
        sock.b_writable = false;
        sock.app_eof = false;
        sock.eof_sent = false;
        sock.failed_after_eof = false;
        sock.send_over = false;
        sock.broken = false;
        sock.app_gone = false;
        sock.app_reset = false;
        sock.app_rd_shut = false;
        sock.held_woken_at = None;
        sock.connected = None;
        if reset {
            sock.error = Some(Errno::ECONNRESET);
        }
        let waiters = std::mem::take(&mut sock.waiters);
        self.by_handle.remove(&old);
        self.by_handle.insert(h, i);
        self.by_ino.remove(&old_ino);
        self.by_ino.insert(ino, i);
        // No B to hang up when the program closes its end: the recheck finds it.
        if !self.doubtful.contains(&i) {
            self.doubtful.push(i);
        }
        self.next_recheck
            .get_or_insert_with(|| std::time::Instant::now() + RECHECK);
        // A blocking connect still waiting on another thread ends as the connection did.
        self.answer_waiters(waiters, Err(Errno::ECONNRESET));
        Ok(a)
    }

    /// Pairs up socket `i`, taken apart by a disconnect, as it connects or listens: its program end
    /// `a` (the request's descriptor) is connected to a new end B of ours, through a listener of
    /// the moment, so the program's descriptor stays the same file.
    pub(super) fn pair_up(&mut self, i: usize, a: &OwnedFd) -> Result<()> {
        self.serial += 1;
        let name = format!("tapstack-pairing/{}/{}", std::process::id(), self.serial).into_bytes();
        let l = uds::socket(libc::SOCK_STREAM | libc::SOCK_NONBLOCK).map_err(|e| errno_of(&e))?;
        uds::bind_abstract(l.as_raw_fd(), &name).map_err(|e| errno_of(&e))?;
        uds::listen(l.as_raw_fd(), 1).map_err(|e| errno_of(&e))?;
        uds::connect_abstract(a.as_raw_fd(), &name).map_err(|e| errno_of(&e))?;
        let b = uds::accept(l.as_raw_fd()).map_err(|e| errno_of(&e))?;
        // Anyone in the namespace may connect to the listener: B must face the program's end.
        if uds::abstract_peer_name(b.as_raw_fd()) != uds::abstract_name(a.as_raw_fd()) {
            return Err(Errno::EIO);
        }
        urgent_in_line(b.as_raw_fd());
        ep_ctl(
            self.ep.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            b.as_raw_fd(),
            SOCK_EVENTS,
            token(TAG_SOCK, i),
        )
        .map_err(|e| errno_of(&e))?;
        let sock = self.socks.get_mut(i).ok_or(Errno::EBADF)?;
        sock.b = b;
        sock.b_urgent = false;
        sock.b_named = false;
        sock.unpaired = false;
        sock.b_writable = true;
        self.doubtful.retain(|&d| d != i);
        Ok(())
    }

    /// The options a program set on a socket before it reached the service. The kernel socket it
    /// was then took them already, so an error here is not the program's to hear.
    pub(super) fn apply_options(&mut self, i: usize, options: &[proto::SetOption]) {
        let Some(sock) = self.socks.get_mut(i) else {
            return;
        };
        for o in options {
            let r = options::set(
                &mut self.stack,
                sock.h,
                sock.kind,
                &mut sock.extra,
                o.level,
                o.name,
                &o.value,
            );
            Self::size_udp_pair(sock, o);
            if let (Err(e), libc::IPPROTO_IPV6) = (r, o.level) {
                // Taken by the kernel socket that stood in while the socket was pending, but
                // about IPv6 packets, which a stack socket never sends: said, not kept.
                log::warn!(
                    "IPv6 option {} set before the socket went to the stack is dropped: {}",
                    o.name,
                    e.name()
                );
            }
        }
    }

    /// A new stack socket on a socketpair the program made: `a` its end (bound to a socket name),
    /// `b` ours. They must be a pair: `b`'s peer is the name `a` bears.
    /// ENFILE with the descriptor table full, ENOBUFS at the stack's bound on sockets.
    pub(super) fn adopt_given(
        &mut self,
        kind: Kind,
        inet6: bool,
        a: &OwnedFd,
        b: OwnedFd,
    ) -> Result<usize> {
        let name = uds::abstract_name(a.as_raw_fd()).ok_or(Errno::EINVAL)?;
        let ty = match kind {
            Kind::Stream => libc::SOCK_STREAM,
            Kind::Dgram => libc::SOCK_SEQPACKET,
        };
        let ours = name.starts_with(SOCKET_NAME_PREFIX)
            && uds::abstract_peer_name(b.as_raw_fd()).as_deref() == Some(&name[..])
            && uds::get_int(b.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TYPE).ok() == Some(ty);
        if !ours {
            return Err(Errno::EINVAL);
        }
        // SAFETY: F_SETFL takes an integer; a socket has no other status flag worth keeping.
        if unsafe {
            libc::syscall(
                libc::SYS_fcntl,
                b.as_raw_fd(),
                libc::F_SETFL,
                libc::O_NONBLOCK,
            )
        } < 0
        {
            return Err(errno_of(&io::Error::last_os_error()));
        }
        let ino = uds::inode(a.as_raw_fd()).map_err(|e| errno_of(&e))?;
        if self.by_ino.contains_key(&ino) {
            return Err(Errno::EINVAL);
        }
        if self.full {
            return Err(Errno::ENFILE);
        }
        let i = self.register(kind, ino, name, b, None)?;
        self.socks.get_mut(i).expect("just made").extra.inet6 = inet6;
        Ok(i)
    }

    /// Makes the user of client `ci` the owner of the new socket `i`.
    pub(super) fn set_owner(&mut self, i: usize, ci: usize) {
        let Some(uid) = self.clients.get(ci).map(|c| c.uid) else {
            return;
        };
        if let Some(h) = self.socks.get(i).map(|s| s.h) {
            if let Some(u) = self.stack.udp_socket_mut(h) {
                u.owner = uid;
            } else if let Ok(t) = self.stack.tcp_socket_mut(h) {
                t.owner = uid;
            }
        }
    }

    /// Remembers, for a while, that the socket whose program end has inode `ino` could not be
    /// made, and why.
    pub(super) fn refuse_socket(&mut self, ino: u64, e: Errno) {
        if self.refused.len() >= REFUSED {
            self.refused.pop_front();
        }
        self.refused.push_back((ino, e));
    }

    /// The answer to `call` about a socket refused at birth, if `ino` is one: its error, once,
    /// as SO_ERROR or a connect's outcome; after that it is a socket that never connected.
    pub(super) fn refused_answer(&mut self, ino: u64, call: &Call) -> Option<Result<Value>> {
        let at = self.refused.iter().position(|&(i, _)| i == ino)?;
        let e = self.refused[at].1;
        let so_error = matches!(
            call,
            Call::GetOption {
                level: libc::SOL_SOCKET,
                name: libc::SO_ERROR,
                ..
            }
        );
        Some(match call {
            Call::TakeError | Call::ErrorAtEof => {
                self.refused.remove(at);
                Ok(Value::Int(e.0))
            }
            _ if so_error => {
                self.refused.remove(at);
                Ok(Value::Int(e.0))
            }
            Call::WaitConnect => {
                self.refused.remove(at);
                Err(e)
            }
            _ => Err(Errno::ENOTCONN),
        })
    }

    /// Puts the stack socket `h` (or a new one) behind socketpair end `b` (the program's end has
    /// inode `ino` and is bound to `name`).
    pub(super) fn register(
        &mut self,
        kind: Kind,
        ino: u64,
        name: Vec<u8>,
        b: OwnedFd,
        h: Option<SocketHandle>,
    ) -> Result<usize> {
        self.make_room()?;
        let h = match (h, kind) {
            (Some(h), _) => h,
            // ENOBUFS at the stack's bound on sockets.
            (None, Kind::Stream) => self.stack.tcp_socket()?,
            (None, Kind::Dgram) => self.stack.udp_socket()?,
        };
        let i = self.socks.next_index();
        if kind == Kind::Stream {
            urgent_in_line(b.as_raw_fd());
        }
        if let Err(e) = ep_ctl(
            self.ep.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            b.as_raw_fd(),
            SOCK_EVENTS,
            token(TAG_SOCK, i),
        ) {
            let now = self.now();
            let _ = self.stack.close(now, h);
            return Err(errno_of(&e));
        }
        self.socks.insert(Sock {
            h,
            kind,
            b,
            ino,
            name,
            extra: Extra::default(),
            phase: Phase::Fresh,
            b_readable: false,
            b_shut_seen: false,
            b_err_seen: false,
            b_named: false,
            b_writable: true,
            b_urgent: false,
            app_eof: false,
            eof_sent: false,
            failed_after_eof: false,
            send_over: false,
            broken: false,
            app_gone: false,
            app_reset: false,
            app_rd_shut: false,
            held_woken_at: None,
            error: None,
            connected: None,
            waiters: Vec::new(),
            lingerers: Vec::new(),
            delivered_at: None,
            bound: None,
            stale_port: 0,
            no_port_ip: None,
            connect_reported: false,
            unpaired: false,
            twin: None,
            udp_twin: None,
            loop_peer: None,
        });
        self.by_handle.insert(h, i);
        self.by_ino.insert(ino, i);
        // Epoll reports what the program already wrote into its end only at the next round; a
        // request of the program's read in this one (a `connect` after a `sendto` on this new
        // socket) must find that acted on first, as the sockets of the round are
        // (`run_batch_sockets`). Acting on it twice finds nothing the second time. Only UDP: a
        // TCP socket's first data waits for a connect, which is itself a request.
        if kind == Kind::Dgram {
            self.batch_socks
                .push((i, (libc::EPOLLIN | libc::EPOLLOUT) as u32));
        }
        Ok(i)
    }

    /// A request nobody waits for failed: the socket reports it as a failed connect does (the
    /// error in SO_ERROR, writable and hung up).
    pub(super) fn fail_quietly(&mut self, i: usize, e: Errno) {
        let Some(sock) = self.socks.get_mut(i) else {
            return;
        };
        sock.error = Some(e);
        sock.connected = Some(Err(e));
        sock.broken = true;
        if let Phase::Connecting { hold, filler, .. } =
            std::mem::replace(&mut sock.phase, Phase::Fresh)
        {
            self.hang_up_failed(i, hold, filler);
        } else {
            let _ = uds::shutdown(sock.b.as_raw_fd(), libc::SHUT_RDWR);
        }
    }

    /// Ends a connect that failed as Linux's socket shows it: `poll` reports POLLERR, POLLHUP,
    /// POLLIN and POLLOUT at once, from one wake-up. The kernel does it for us: closing our end B
    /// while its queue holds bytes the program's end A wrote (the filler) sets ECONNRESET on A
    /// and shuts it both ways (af_unix's unix_release_sock), and the same close frees the filler,
    /// so A is writable too. Taking the filler back first would wake a poll with POLLOUT alone
    /// before the hang-up. The shim turns what A then reports (ECONNRESET on a read) into the
    /// connection's error. B gives way to a dead end, and the program's last close of A is found
    /// by the recheck, as no hang-up on B can tell it any more.
    pub(super) fn hang_up_failed(&mut self, i: usize, hold: OwnedFd, filler: usize) {
        let Some(sock) = self.socks.get_mut(i) else {
            return;
        };
        // A filler of nothing (the program could not write it): one byte, from A, does.
        let queued = filler > 0 || uds::write(hold.as_raw_fd(), &[0]).is_ok_and(|n| n == 1);
        drop(hold);
        let dead = uds::pair(libc::SOCK_STREAM | libc::SOCK_NONBLOCK).map(|(end, _)| end);
        match dead {
            Ok(dead) if queued => {
                // All but a byte of the filler read first: closing B with that byte unread gives
                // A its ECONNRESET (POLLERR), and A, no longer charged for the rest, polls writable
                // as the kernel's failed socket does, already when the close wakes it (the kernel
                // frees B's queue only after waking A).
                drain(sock.b.as_raw_fd(), filler.saturating_sub(1));
                drop(std::mem::replace(&mut sock.b, dead));
                sock.b_readable = false;
                sock.b_writable = false;
                sock.app_eof = true;
                sock.eof_sent = true;
                if !self.doubtful.contains(&i) {
                    self.doubtful.push(i);
                }
                self.next_recheck
                    .get_or_insert_with(|| std::time::Instant::now() + RECHECK);
            }
            _ => {
                // Without a spare descriptor: hung up, though without POLLERR.
                drain(sock.b.as_raw_fd(), filler);
                let _ = uds::shutdown(sock.b.as_raw_fd(), libc::SHUT_RDWR);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn call(
        &mut self,
        i: usize,
        call: Call,
        held: Option<OwnedFd>,
        new_end: Option<&OwnedFd>,
        ci: usize,
        generation: u64,
        seq: u32,
    ) -> Result<Called> {
        let now = self.now();
        // sendto(MSG_FASTOPEN)'s connect is a connect, with Fast Open.
        // A zero-length one sends its SYN at once (`bare`).
        let (call, fast_open, bare) = match call {
            Call::FastOpenConnect(a) => (Call::Connect(Some(a)), true, false),
            Call::FastOpenConnectEmpty(a) => (Call::Connect(Some(a)), true, true),
            call => (call, false, false),
        };
        if matches!(call, Call::Connect(Some(_)) | Call::Listen(_))
            && self.socks.get(i).is_some_and(|s| s.unpaired)
        {
            self.pair_up(i, held.as_ref().ok_or(Errno::EBADF)?)?;
        }
        let sock = self.socks.get_mut(i).ok_or(Errno::EBADF)?;
        let (h, kind) = (sock.h, sock.kind);
        let none = Ok(Called::Value(Value::None));
        match call {
            Call::Bind(a) => {
                // Linux's inet_bind: a port below ip_unprivileged_port_start wants
                // CAP_NET_BIND_SERVICE (EACCES).
                if a.port() != 0
                    && a.port() < self.unprivileged_port_start
                    && !self.clients.get(ci).is_some_and(|c| c.may_bind_privileged)
                {
                    return Err(Errno::EACCES);
                }
                if kind == Kind::Stream && a.port() == 0 && sock.extra.kept.bind_address_no_port {
                    // IP_BIND_ADDRESS_NO_PORT: the address alone, any a bind would take (Linux's
                    // __inet_bind checks it, then skips get_port), broadcast, multicast and
                    // IP_FREEBIND's included; the port comes with the connect or listen. A
                    // socket with a port already is EINVAL, as any second bind.
                    self.stack.tcp_bind_address_valid(h, *a.ip())?;
                    if self.stack.local_addr(h)?.port() != 0 {
                        return Err(Errno::EINVAL);
                    }
                    sock.no_port_ip = Some(*a.ip());
                    return none;
                }
                match kind {
                    Kind::Stream => self.stack.tcp_bind(h, a)?,
                    Kind::Dgram => self.stack.udp_bind(h, a)?,
                }
                if a.port() != 0 {
                    sock.bound = Some(a);
                }
                if kind == Kind::Dgram && a.ip().is_unspecified() {
                    self.open_udp_twin(i);
                }
                none
            }
            Call::Disconnect { connecting } => match kind {
                Kind::Stream => {
                    let syn_sent = self
                        .stack
                        .tcp_socket_ref(h)
                        .and_then(|t| t.connection())
                        .is_some_and(|c| c.state() == crate::tcp::State::SynSent);
                    if connecting && !syn_sent {
                        return Err(Errno::EISCONN);
                    }
                    self.disconnect(i).map(Called::Renewed)
                }
                Kind::Dgram => {
                    self.stack.udp_connect(h, None)?;
                    sock.loop_peer = None;
                    none
                }
            },
            Call::Connect(a) => match kind {
                Kind::Dgram => match a {
                    Some(peer) if peer.ip().is_loopback() || peer.ip().is_unspecified() => {
                        self.connect_loopback(i, peer)?;
                        none
                    }
                    _ => {
                        self.stack.udp_connect(h, a)?;
                        sock.loop_peer = None;
                        none
                    }
                },
                Kind::Stream => {
                    let a = a.ok_or(Errno::EAFNOSUPPORT)?;
                    if matches!(sock.phase, Phase::Connecting { .. }) {
                        return Err(Errno::EALREADY);
                    }
                    if matches!(sock.phase, Phase::Open) {
                        return Err(Errno::EISCONN);
                    }
                    if sock.broken {
                        // A connect that failed reports its error to the next connect, once (as
                        // Linux's inet_stream_connect); after that the socket is done.
                        return Err(sock.error.take().unwrap_or(Errno::ECONNABORTED));
                    }
                    // The program's end, to fill and later restore: the one it sent, or the new one.
                    let hold = match (held, new_end) {
                        (Some(h), _) => h,
                        (None, Some(a)) => a.try_clone().map_err(|e| {
                            self.note_full();
                            errno_of(&e)
                        })?,
                        (None, None) => return Err(Errno::EBADF),
                    };
                    if fast_open {
                        self.stack.tcp_connect_fast_open(now, h, a)?;
                    } else {
                        self.stack.tcp_connect(now, h, a)?;
                    }
                    if bare {
                        self.stack.tcp_send_held_syn(now, h)?;
                    }
                    if self.stack.tcp_connect_deferred(h) {
                        // Fast Open with a cookie: connected at once, the SYN waits for the
                        // program's first write (Linux's TCP_FASTOPEN_CONNECT); the shim learns
                        // how much of it the SYN takes.
                        let room = self
                            .stack
                            .tcp_socket_ref(h)
                            .and_then(|t| t.connection())
                            .map_or(0, |c| c.syn_data_room());
                        let mark = self.notsent_mark(h);
                        if mark != u32::MAX {
                            size_program_end(hold.as_raw_fd(), mark);
                        }
                        let sock = self.socks.get_mut(i).expect("present");
                        sock.connected = None;
                        sock.error = None;
                        sock.phase = Phase::Open;
                        return Ok(Called::Value(
                            Value::Int(room.min(i32::MAX as usize) as i32),
                        ));
                    }
                    let (filler, sndbuf) = fill(&hold);
                    let sock = self.socks.get_mut(i).expect("present");
                    sock.connected = None;
                    // A new attempt forgets an error the socket held from before (a connect
                    // shut down in SYN-SENT): Linux's tcp_connect_init clears sk_err.
                    sock.error = None;
                    sock.phase = Phase::Connecting {
                        hold,
                        filler,
                        sndbuf,
                    };
                    Err(Errno::EINPROGRESS)
                }
            },
            Call::ConnectFilled { addr, filler } => {
                if kind != Kind::Stream || !matches!(sock.phase, Phase::Fresh) {
                    return Err(Errno::EINVAL);
                }
                let hold = held.ok_or(Errno::EBADF)?;
                // Connecting from here, so a failure below takes the filler back too.
                sock.connected = None;
                sock.phase = Phase::Connecting {
                    hold,
                    filler: filler as usize,
                    sndbuf: default_sndbuf(),
                };
                self.stack.tcp_connect(now, h, addr)?;
                Err(Errno::EINPROGRESS)
            }
            Call::WaitConnect => {
                if let Some(r) = sock.connected.take() {
                    return r.map(|_| Called::Value(Value::None));
                }
                match sock.phase {
                    Phase::Connecting { .. } => {
                        sock.waiters.push((ci, generation, seq));
                        Err(Errno::EAGAIN)
                    }
                    Phase::Open => none,
                    _ => Err(sock.error.take().unwrap_or(Errno::ENOTCONN)),
                }
            }
            Call::Listen(backlog) => {
                if kind != Kind::Stream {
                    return Err(Errno::EOPNOTSUPP);
                }
                if matches!(sock.phase, Phase::Open) {
                    // Connected once (Linux's SS_CONNECTED or SS_CONNECTING), even with the
                    // connection gone since: inet_listen refuses a socket not SS_UNCONNECTED.
                    return Err(Errno::EINVAL);
                }
                // Linux clamps the backlog to somaxconn (4096); a negative one means the maximum.
                let asked = backlog;
                let backlog = if backlog < 0 { 4096 } else { backlog as usize };
                if let Some(ip) = sock.no_port_ip {
                    // Bound to an address without a port: listen picks the port for it (Linux's
                    // inet_csk_get_port, as for a socket not bound at all).
                    if self.stack.local_addr(h)?.port() == 0 {
                        self.stack.tcp_bind(h, std::net::SocketAddrV4::new(ip, 0))?;
                    }
                }
                self.stack.tcp_listen(h, backlog)?;
                let sock = self.socks.get_mut(i).expect("present");
                if !matches!(sock.phase, Phase::Listening { .. }) {
                    sock.phase = Phase::Listening { tokens: 0 };
                }
                self.open_twin(i, asked);
                none
            }
            Call::Accept => {
                let Phase::Listening { tokens } = &mut sock.phase else {
                    return Err(Errno::EINVAL);
                };
                // The caller read a token for this connection.
                *tokens = tokens.saturating_sub(1);
                // The oldest connection first, whichever queue holds it.
                let on_loopback = sock
                    .twin
                    .as_mut()
                    .and_then(|t| t.next(accept_queue_len(&self.stack, h)));
                if let Some(w) = on_loopback {
                    log::debug!("accept on {h:?}: a kernel connection on loopback");
                    // The listener's SO_PEEK_OFF, as for a connection of the stack's (a kernel
                    // without it on TCP refuses it, and the shim refused it on the listener).
                    if let Some(v) = sock.extra.kept.peek_off {
                        let _ = uds::set_raw(
                            w.fd.as_raw_fd(),
                            libc::SOL_SOCKET,
                            libc::SO_PEEK_OFF,
                            &v.to_ne_bytes(),
                        );
                    }
                    self.take_loopback(i);
                    return Ok(Called::AcceptedKernel(w));
                }
                let behind = sock.twin.as_ref().is_some_and(|t| t.behind);
                let listener_extra = sock.extra;
                if behind {
                    self.take_loopback(i);
                }
                // The socketpair first, as Linux allocates the new socket before it dequeues:
                // without one (ENFILE) the connection stays queued, and its token is written
                // again for a later accept.
                let (a, b, ino, name) = match self
                    .make_room()
                    .and_then(|()| self.new_pair(Kind::Stream, listener_extra.inet6))
                {
                    Ok(x) => x,
                    Err(e) => {
                        self.pump_listener(i);
                        return Err(e);
                    }
                };
                let (child, peer) = self.stack.tcp_accept(now, h)?;
                log::debug!("accept on {h:?}: {child:?} from {peer}");
                let ni = self.register(Kind::Stream, ino, name, b, Some(child))?;
                // The accepted connection takes its listener's socket-level settings, as Linux's
                // sk_clone gives them.
                let mark = self.notsent_mark(child);
                if mark != u32::MAX {
                    size_program_end(a.as_raw_fd(), mark);
                }
                // Its SO_PEEK_OFF the listener's, which the service keeps (the listener's own end
                // moves its offset with each token read).
                if let Some(v) = listener_extra.kept.peek_off {
                    let _ = uds::set_raw(
                        a.as_raw_fd(),
                        libc::SOL_SOCKET,
                        libc::SO_PEEK_OFF,
                        &v.to_ne_bytes(),
                    );
                }
                let sock = self.socks.get_mut(ni).expect("just made");
                sock.extra = listener_extra;
                // Not SO_PRIORITY, which a connection Linux accepts (6.18 here) starts at 0; its
                // SO_MARK is the listener's (inet_csk_clone_lock's ir_mark).
                sock.extra.kept.priority = 0;
                sock.phase = Phase::Open;
                self.pump(ni);
                Ok(Called::Accepted(a, peer))
            }
            Call::LocalAddr => {
                let mut a = self.stack.local_addr(h)?;
                if let Some(ip) = sock.no_port_ip.filter(|_| a.port() == 0) {
                    a.set_ip(ip);
                }
                // Connected to loopback: Linux's socket then has 127.0.0.1 as its source.
                if sock.loop_peer.is_some() {
                    a.set_ip(std::net::Ipv4Addr::LOCALHOST);
                }
                // A connected socket reports the address it uses, not the wildcard it was bound to.
                if a.ip().is_unspecified() && self.stack.peer_addr(h).is_ok() {
                    a.set_ip(self.stack.iface().addr);
                }
                if a.port() == 0 {
                    a.set_port(sock.stale_port);
                }
                Ok(Called::Value(Value::Addr(a)))
            }
            Call::PeerAddr => {
                // A connection in TIME-WAIT is over for the program: Linux's tcp_time_wait hands
                // it to a timewait sock and leaves the socket in TCP_CLOSE, for which
                // inet_getname says ENOTCONN. (Not in Stack::peer_addr: getsockname still gives
                // the address the connection had, Linux's inet_rcv_saddr.)
                let ended = self
                    .stack
                    .tcp_socket_ref(h)
                    .and_then(|t| t.connection())
                    .is_some_and(|c| c.state() == crate::tcp::State::TimeWait);
                if ended {
                    return Err(Errno::ENOTCONN);
                }
                match sock.loop_peer {
                    Some(peer) => Ok(Called::Value(Value::Addr(peer))),
                    None => Ok(Called::Value(Value::Addr(self.stack.peer_addr(h)?))),
                }
            }
            Call::SetOption(o) => {
                // Linux's sock_setsockopt: the FORCE sizes want CAP_NET_ADMIN, and so do SO_MARK
                // and a priority beyond 6 (CAP_NET_RAW also does for those two, which this cannot
                // tell apart).
                let net_admin = self.clients.get(ci).is_some_and(|c| c.net_admin);
                // A value shorter than an int is EINVAL first (options::set), as in Linux.
                if o.level == libc::SOL_SOCKET && !net_admin && o.value.len() >= 4 {
                    let v = o
                        .value
                        .get(..4)
                        .map_or(0, |b| i32::from_ne_bytes(b.try_into().expect("4 bytes")));
                    let privileged = match o.name {
                        libc::SO_RCVBUFFORCE | libc::SO_SNDBUFFORCE | libc::SO_MARK => true,
                        libc::SO_PRIORITY => !(0..=6).contains(&v),
                        // Turning SO_DEBUG on wants CAP_NET_ADMIN too, refused with EACCES.
                        libc::SO_DEBUG if v != 0 => return Err(Errno::EACCES),
                        _ => false,
                    };
                    if privileged {
                        return Err(Errno::EPERM);
                    }
                }
                options::set(
                    &mut self.stack,
                    h,
                    kind,
                    &mut sock.extra,
                    o.level,
                    o.name,
                    &o.value,
                )?;
                if let Some(twin) = &sock.twin {
                    twin.set_option(&o);
                }
                if let Some(twin) = &sock.udp_twin {
                    twin.set_option(&o);
                }
                Self::size_udp_pair(sock, &o);
                if (o.level, o.name) == (libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT) {
                    // A connect in progress sizes the program's end when it ends.
                    if let (Phase::Open, Some(a)) = (&sock.phase, &held) {
                        size_program_end(a.as_raw_fd(), self.notsent_mark(h));
                    }
                    // Now writable by the new mark, the socket wakes (Linux's sk_write_space).
                    self.stack.tcp_push(now, h);
                }
                none
            }
            Call::GetOption { level, name, len } => {
                if (level, name) == (libc::SOL_SOCKET, libc::SO_ERROR) {
                    let e = sock
                        .error
                        .take()
                        .or_else(|| self.stack.take_socket_error(h));
                    return Ok(Called::Value(Value::Int(e.map_or(0, |e| e.0))));
                }
                // Whole: the program's side cuts it to its buffer as Linux does.
                // getpeername's address, as Linux's sk_getsockopt gives it: ENOTCONN without a
                // peer, EINVAL for a buffer longer than the address. (An AF_INET6 socket's would
                // be a sockaddr_in6: not built.)
                if (level, name) == (libc::SOL_SOCKET, libc::SO_PEERNAME) && !sock.extra.inet6 {
                    let peer = match sock.loop_peer {
                        Some(p) => p,
                        None => self.stack.peer_addr(h).map_err(|_| Errno::ENOTCONN)?,
                    };
                    let sin = crate::sys::sockaddr_in(peer);
                    let size = std::mem::size_of::<libc::sockaddr_in>();
                    if len as usize > size {
                        return Err(Errno::EINVAL);
                    }
                    // SAFETY: a whole sockaddr_in, read as its bytes.
                    let bytes = unsafe {
                        std::slice::from_raw_parts(
                            &sin as *const libc::sockaddr_in as *const u8,
                            size,
                        )
                    };
                    return Ok(Called::Value(Value::Bytes(bytes.to_vec())));
                }
                if (level, name) == (libc::SOL_SOCKET, libc::SO_MAX_PACING_RATE) {
                    let rate = sock.extra.max_pacing_rate.unwrap_or(u64::MAX);
                    return Ok(Called::Value(Value::Bytes(options::max_pacing_rate_value(
                        rate, len,
                    ))));
                }
                if (level, name) == (libc::IPPROTO_IP, libc::IP_MTU) {
                    // Connected to loopback through the twin: loopback's MTU, as Linux's lo.
                    let mtu = if sock.loop_peer.is_some() {
                        65_536
                    } else {
                        let now = self.now();
                        self.stack.path_mtu_of(now, h)?
                    };
                    return Ok(Called::Value(Value::Bytes(
                        (mtu as i32).to_ne_bytes().to_vec(),
                    )));
                }
                let mut v = options::get(&mut self.stack, h, kind, &sock.extra, level, name)?;
                v.truncate(proto::MAX_OPTION);
                Ok(Called::Value(Value::Bytes(v)))
            }
            Call::PathMtu(to) => {
                let (mtu, left) = match to {
                    Some(a) => self.stack.path_mtu_to(now, *a.ip()),
                    None if sock.loop_peer.is_some() => (65_536, None),
                    None => self.stack.path_mtu_to(now, *self.stack.peer_addr(h)?.ip()),
                };
                let left = left.map_or(0, |d| d.as_millis().clamp(1, u32::MAX as u128) as u32);
                let mut v = (mtu as u32).to_ne_bytes().to_vec();
                v.extend_from_slice(&left.to_ne_bytes());
                Ok(Called::Value(Value::Bytes(v)))
            }
            Call::SetNeighbour { ip, mac } => {
                if !self.clients.get(ci).is_some_and(|c| c.net_admin) {
                    return Err(Errno::EPERM);
                }
                self.stack
                    .set_neighbour(now, ip, crate::wire::MacAddr(mac))?;
                Ok(Called::Value(Value::None))
            }
            Call::ErrorBoard => match &self.board {
                Some(b) => b.share().map(Called::Shared).map_err(|e| errno_of(&e)),
                None => Err(Errno(libc::ENOSYS)),
            },
            Call::TakeError => {
                let e = sock
                    .error
                    .take()
                    .or_else(|| self.stack.take_socket_error(h));
                Ok(Called::Value(Value::Int(e.map_or(0, |e| e.0))))
            }
            Call::ErrorAtEof => {
                if sock.failed_after_eof {
                    return Ok(Called::Value(Value::Int(0)));
                }
                let e = sock
                    .error
                    .take()
                    .or_else(|| self.stack.take_socket_error(h));
                Ok(Called::Value(Value::Int(e.map_or(0, |e| e.0))))
            }
            Call::Linger => {
                sock.lingerers.push((ci, generation, seq));
                Err(Errno::EAGAIN)
            }
            Call::SendMore(on) => {
                if let Some(c) = self.stack.tcp_socket_mut(h)?.connection_mut() {
                    c.set_more(on);
                }
                none
            }
            Call::DeliveredAt => {
                // Kept on the service's monotonic clock, given as wall-clock time: now less its age.
                let ns = sock
                    .delivered_at
                    .map(|t| now.saturating_since(t))
                    .and_then(|age| std::time::SystemTime::now().checked_sub(age))
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos() as u64);
                Ok(Called::Value(Value::Bytes(ns.to_ne_bytes().to_vec())))
            }
            // Made a Connect above.
            Call::FastOpenConnect(_) | Call::FastOpenConnectEmpty(_) => Err(Errno::EINVAL),
            Call::ReadBelowMark { len, peek } => {
                if kind != Kind::Stream {
                    return Err(Errno::EOPNOTSUPP);
                }
                // Only while the program's end has nothing: what is there comes first (a read
                // that finds it gone retries there).
                if sock.app_rd_shut
                    || sock.extra.rcvlowat <= 1
                    || !uds::all_read(sock.b.as_raw_fd())
                {
                    return Ok(Called::Value(Value::Bytes(Vec::new())));
                }
                let mut buf =
                    crate::memory::try_buffer((len as usize).min(1 << 16)).ok_or(Errno::ENOMEM)?;
                let n = self.stack.tcp_recv(now, h, &mut buf, peek).unwrap_or(0);
                buf.truncate(n);
                if n > 0 && !peek {
                    sock.delivered_at = Some(now);
                }
                Ok(Called::Value(Value::Bytes(buf)))
            }
            Call::ReadHeld { len, peek } => {
                if kind != Kind::Stream {
                    return Err(Errno::EOPNOTSUPP);
                }
                // The program's end is shut for reading: nothing more can go into it, and what
                // the stack has is all that came after what it read there.
                sock.app_rd_shut = true;
                // Fallible: a service short of memory answers ENOMEM, as recvmsg may.
                let mut buf =
                    crate::memory::try_buffer((len as usize).min(1 << 16)).ok_or(Errno::ENOMEM)?;
                let n = self.stack.tcp_recv(now, h, &mut buf, peek).unwrap_or(0);
                buf.truncate(n);
                Ok(Called::Value(Value::Bytes(buf)))
            }
            Call::HeldLen => {
                if kind != Kind::Stream {
                    return Err(Errno::EOPNOTSUPP);
                }
                let n = self
                    .stack
                    .tcp_socket_ref(h)
                    .and_then(|t| t.connection())
                    .map_or(0, |c| c.recv_queue_len());
                Ok(Called::Value(Value::Int(n.min(i32::MAX as usize) as i32)))
            }
            Call::Shutdown { write } => {
                let connected = match kind {
                    Kind::Stream => !matches!(sock.phase, Phase::Fresh),
                    Kind::Dgram => {
                        sock.loop_peer.is_some()
                            || self
                                .stack
                                .udp_socket_ref(h)
                                .is_some_and(|u| u.remote.is_some())
                    }
                };
                // Only a connection has a FIN to send: Linux's inet_shutdown leaves a listener's
                // writing as it is.
                if write && kind == Kind::Stream && matches!(sock.phase, Phase::Open) {
                    // B's end of file may not have been polled yet: read it now, with what is
                    // ahead of it.
                    sock.b_readable = true;
                    self.pump_tcp(i);
                }
                if connected {
                    Ok(Called::Value(Value::None))
                } else {
                    Err(Errno::ENOTCONN)
                }
            }
            Call::UrgentPending => {
                if kind != Kind::Stream {
                    return Err(Errno::EOPNOTSUPP);
                }
                let pending = self
                    .stack
                    .tcp_socket_ref(h)
                    .and_then(|t| t.connection())
                    .is_some_and(|c| c.urgent_pending());
                Ok(Called::Value(Value::Int(pending as i32)))
            }
            Call::ConnectReported(now) => {
                let was = sock.connect_reported;
                sock.connect_reported |= now;
                Ok(Called::Value(Value::Int(was as i32)))
            }
            Call::Unacked | Call::NotSent => {
                // Linux's tcp_ioctl: 0 while the handshake is on (the socketpair holds only the
                // filler then), else SIOCOUTQ counts from SND.UNA and SIOCOUTQNSD from SND.NXT.
                if matches!(sock.phase, Phase::Connecting { .. }) {
                    return Ok(Called::Value(Value::Int(0)));
                }
                let n = self
                    .stack
                    .tcp_socket_ref(h)
                    .and_then(|t| t.connection())
                    .map_or(0, |c| match call {
                        Call::Unacked => c.send_queue_len(),
                        Call::NotSent => c.notsent_len(),
                        _ => 0, // not this arm's calls
                    });
                Ok(Called::Value(Value::Int(
                    (n + uds::queued(sock.b.as_raw_fd()).unwrap_or(0)).min(i32::MAX as usize)
                        as i32,
                )))
            }
        }
    }
}
