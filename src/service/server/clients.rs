//! The service's clients: the control connections programs make (admitted by their user's
//! credentials), the doors through which processes outside the namespace bring theirs (see
//! [`crate::service::client`]), the requests read from them and the replies sent back; and the
//! room left in the service's descriptor table, which decides whether one more socket or client
//! can be had (ENFILE when it cannot, as Linux's `socket` says).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::{ep_ctl, token, Client, Service, SPARES, TAG_CLIENT, TAG_CONTROL, TAG_DOOR};
use crate::error::Errno;
use crate::service::proto::{self, Reply, Request};
use crate::service::uds;

impl Service {
    pub(super) fn accept_clients(&mut self) {
        loop {
            let fd = match uds::accept(self.control.as_raw_fd()) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => return,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    if !self.refuse_client() {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    log::warn!("accepting a client failed: {e}");
                    return;
                }
            };
            self.admit(fd, None);
        }
    }

    /// Takes `fd` as a client's control connection, if its process may use this stack. `outside`:
    /// it came through a door, with its maker's credentials as the door's message said them.
    pub(super) fn admit(&mut self, fd: OwnedFd, outside: Option<libc::ucred>) {
        // Processes of our own user (root aside) may use this stack; a service of root's, as
        // the kernel, serves every user (a root program that forks workers which drop
        // privileges keeps its sockets working), and keeps the privileged ports to those
        // allowed them.
        let cred = match uds::peer_cred(fd.as_raw_fd()) {
            // Through a door, only a socketpair of the sender's own making: the kernel's
            // credentials for both must agree (a socket connected elsewhere would bring
            // another process's, and its privileges).
            Ok(c) if outside.is_some_and(|o| o.pid != c.pid || o.uid != c.uid) => {
                log::warn!(
                    "a door brought a socket that is not its sender's own (pid {})",
                    c.pid
                );
                return;
            }
            Ok(c) if c.uid == self.uid || c.uid == 0 || self.uid == 0 => c,
            Ok(c) => {
                log::warn!("refused a client of user {} (pid {})", c.uid, c.pid);
                // Said before closing, so the program can tell why (not "gone").
                let reply = Reply {
                    seq: 0,
                    result: Err(Errno::EACCES),
                };
                let _ = uds::send(fd.as_raw_fd(), &[&reply.encode()], None, libc::MSG_DONTWAIT);
                return;
            }
            Err(e) => {
                log::warn!("a client's credentials could not be read: {e}");
                return;
            }
        };
        let i = self.clients.next_index();
        if ep_ctl(
            self.ep.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            fd.as_raw_fd(),
            (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
            token(TAG_CLIENT, i),
        )
        .is_err()
        {
            return;
        }
        self.generation += 1;
        let mut client = Client {
            fd,
            generation: self.generation,
            may_bind_privileged: false,
            net_admin: false,
            pid: cred.pid,
            uid: cred.uid,
            fresh: outside.is_none(),
            outside: outside.is_some(),
        };
        if outside.is_some() {
            client.learn_privileges();
        }
        // Else with its first message, unless that makes it a door: the process connected just
        // before it sent it (a connection is made for a first request), and a door needs none.
        self.clients.insert(client);
        self.check_room();
    }

    /// Client `ci`'s first message was [`proto::DOOR`]: its connection is a door from now on.
    pub(super) fn make_door(&mut self, ci: usize) {
        let Some(c) = self.clients.remove(ci) else {
            return;
        };
        let di = self.doors.next_index();
        // The sender's credentials come with each message: who made the connection it brings.
        let passcred = uds::set_int(c.fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_PASSCRED, 1);
        if passcred.is_err()
            || ep_ctl(
                self.ep.as_raw_fd(),
                libc::EPOLL_CTL_MOD,
                c.fd.as_raw_fd(),
                (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
                token(TAG_DOOR, di),
            )
            .is_err()
        {
            self.regain_spare();
            return;
        }
        self.doors.insert(c.fd);
    }

    /// Takes the control connections that came through door `di`; anything else that comes is
    /// dropped. A door whose every holder is gone is closed.
    pub(super) fn serve_door(&mut self, di: usize, flags: u32) {
        let mut buf = [0u8; proto::MAX_MESSAGE];
        let mut waiting = false;
        for _ in 0..64 {
            let Some(door) = self.doors.get(di) else {
                return;
            };
            if self.full {
                // Room for the connection it brings (as for a request's descriptors).
                self.spares.clear();
            }
            match uds::recv_with_cred(door.as_raw_fd(), &mut buf, libc::MSG_DONTWAIT) {
                Ok((0, _, _, _)) => break,
                Ok((n, false, fds, Some(cred))) if &buf[..n] == proto::ADOPT && fds.len() == 1 => {
                    let fd = fds.into_iter().next().expect("one");
                    if uds::get_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TYPE)
                        .is_ok_and(|t| t == libc::SOCK_SEQPACKET)
                        && uds::get_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_DOMAIN)
                            .is_ok_and(|d| d == libc::AF_UNIX)
                    {
                        self.admit(fd, Some(cred));
                    } else {
                        log::warn!("a door brought something other than a control connection");
                    }
                }
                Ok(_) => log::warn!("a door brought something other than a control connection"),
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                    waiting = true;
                    break;
                }
                Err(_) => break,
            }
        }
        if self.spares.len() < SPARES {
            self.regain_spare();
        }
        if !waiting && flags & (libc::EPOLLHUP | libc::EPOLLRDHUP | libc::EPOLLERR) as u32 != 0 {
            self.doors.remove(di);
            self.regain_spare();
        }
    }

    pub(super) fn serve_client(&mut self, ci: usize, flags: u32) {
        let mut buf = [0u8; proto::MAX_MESSAGE];
        // Nothing more to read yet (the client stays).
        let mut waiting = false;
        // Bounded, so one busy client cannot starve the rest.
        for _ in 0..64 {
            let Some(c) = self.clients.get(ci) else {
                return;
            };
            if self.full {
                // Room for the descriptors the request carries (the kernel drops those it
                // cannot place); taken back once it is answered.
                self.spares.clear();
            }
            match uds::recv_fds(c.fd.as_raw_fd(), &mut buf, libc::MSG_DONTWAIT) {
                Ok((0, _, _)) => break,
                Ok((n, truncated, fds)) => {
                    let reply_to = c.fd.as_raw_fd();
                    let generation = c.generation;
                    let fresh = c.fresh;
                    if fresh {
                        // Only a first message makes a door.
                        let door = &buf[..n] == proto::DOOR;
                        if let Some(c) = self.clients.get_mut(ci) {
                            c.fresh = false;
                            if !door {
                                c.learn_privileges();
                            }
                        }
                    }
                    let (reply, give) = if truncated {
                        (
                            Some(Reply {
                                seq: 0,
                                result: Err(Errno::EMSGSIZE),
                            }),
                            None,
                        )
                    } else {
                        match Request::decode(&buf[..n]) {
                            Ok(req) => {
                                if !matches!(req.call, proto::Call::SendMore(_)) {
                                    self.run_batch_sockets();
                                }
                                self.handle(ci, generation, req, fds)
                            }
                            Err(_) if fresh && &buf[..n] == proto::DOOR && fds.is_empty() => {
                                self.make_door(ci);
                                if self.spares.len() < SPARES {
                                    self.regain_spare();
                                }
                                return;
                            }
                            Err(_) => (
                                Some(Reply {
                                    seq: 0,
                                    result: Err(Errno::EINVAL),
                                }),
                                None,
                            ),
                        }
                    };
                    if let Some(reply) = reply {
                        self.send_reply(ci, reply_to, &reply, give.as_ref());
                    }
                    self.settle();
                }
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                    waiting = true;
                    break;
                }
                Err(_) => break,
            }
        }
        if self.spares.len() < SPARES {
            self.regain_spare();
        }
        if waiting {
            return;
        }
        if flags & (libc::EPOLLHUP | libc::EPOLLRDHUP | libc::EPOLLERR) as u32 != 0 {
            self.drop_client(ci);
        }
    }

    pub(super) fn send_reply(
        &mut self,
        ci: usize,
        fd: RawFd,
        reply: &Reply,
        give: Option<&OwnedFd>,
    ) {
        let bytes = reply.encode();
        if let Err(e) = uds::send(
            fd,
            &[&bytes],
            give.map(|f| f.as_raw_fd()),
            libc::MSG_DONTWAIT,
        ) {
            // A client that does not read its replies (or has gone) loses its connection.
            log::debug!("reply to a client failed: {e}");
            self.drop_client(ci);
        }
    }

    pub(super) fn drop_client(&mut self, ci: usize) {
        if self.clients.remove(ci).is_some() {
            self.regain_spare();
        }
    }

    /// With the descriptor table full, a client waiting to connect is accepted on a spare
    /// descriptor, told ENFILE (a reply for whatever it asks first) and let go, and the spare is
    /// taken back. Without a spare, the control socket leaves the epoll set until a descriptor is
    /// freed. Returns whether a client was refused (more may wait).
    pub(super) fn refuse_client(&mut self) -> bool {
        self.note_full();
        if let Some(spare) = self.spares.pop() {
            drop(spare);
            let refused = uds::accept(self.control.as_raw_fd()).map(|fd| {
                let reply = Reply {
                    seq: 0,
                    result: Err(Errno::ENFILE),
                };
                let _ = uds::send(fd.as_raw_fd(), &[&reply.encode()], None, libc::MSG_DONTWAIT);
            });
            self.spares.extend(self.control.try_clone().ok());
            if refused.is_ok() {
                log::debug!("out of descriptors: a new client was refused (ENFILE)");
                return true;
            }
        }
        if self.spares.is_empty() && !self.control_paused {
            log::warn!("out of descriptors: new clients wait until one is freed");
            let _ = ep_ctl(
                self.ep.as_raw_fd(),
                libc::EPOLL_CTL_MOD,
                self.control.as_raw_fd(),
                0,
                token(TAG_CONTROL, 0),
            );
            self.control_paused = true;
        }
        false
    }

    /// Whether, spares aside, the table still has room for a request's descriptors (probed by
    /// taking that many, unless far from the limit by [`Service::far_from_limit`]'s count); marks
    /// it full if not.
    pub(super) fn check_room(&mut self) {
        if !self.full && !self.far_from_limit() {
            let room = |control: &OwnedFd| {
                let probes: Vec<_> = (0..SPARES).map(|_| control.try_clone()).collect();
                probes.iter().all(|p| p.is_ok())
            };
            if !room(&self.control)
                && (self.graveyard.is_empty() || {
                    self.graveyard.clear();
                    !room(&self.control)
                })
            {
                self.note_full();
            }
        }
    }

    /// The table is full: no new socket until a descriptor is freed.
    pub(super) fn note_full(&mut self) {
        self.full = true;
        self.graveyard.clear();
        // Once a minute at most: at the limit, each socket closed and made flips it.
        let now = std::time::Instant::now();
        if self
            .full_warned
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60))
        {
            self.full_warned = Some(now);
            log::warn!("the service is out of descriptors: new sockets get ENFILE");
        }
    }

    /// After descriptors were freed: the spares taken again, the table no longer full if there
    /// is room beyond them, and new clients accepted again if they had to wait.
    pub(super) fn regain_spare(&mut self) {
        if self.spares.len() < SPARES {
            self.graveyard.clear();
        }
        while self.spares.len() < SPARES {
            match self.control.try_clone() {
                Ok(fd) => self.spares.push(fd),
                Err(_) => break,
            }
        }
        if self.full && self.spares.len() == SPARES {
            self.full = false;
            self.check_room();
        }
        if self.control_paused
            && !self.spares.is_empty()
            && ep_ctl(
                self.ep.as_raw_fd(),
                libc::EPOLL_CTL_MOD,
                self.control.as_raw_fd(),
                libc::EPOLLIN as u32,
                token(TAG_CONTROL, 0),
            )
            .is_ok()
        {
            self.control_paused = false;
        }
    }
}
