//! The UDP socket calls: what `socket`, `bind`, `connect`, `sendto` and `recvfrom` do to a UDP
//! socket's control information, with Linux's errno for every misuse (a broadcast destination
//! without SO_BROADCAST is EACCES).

use std::net::{Ipv4Addr, SocketAddrV4};

use super::output::{IpParams, PmtuDisc};
use super::{ports, Socket, SocketHandle, Stack};
use crate::error::{Errno, Result};
use crate::time::Instant;
use crate::udp::{self, Received, UdpSocket};
use crate::wire::ipv4::IpProtocol;
use crate::wire::udp::{UdpPacket, UdpRepr, HEADER_LEN};

/// What one datagram sets for itself beside the socket's options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerDatagram {
    pub ttl: Option<u8>,
    pub tos: Option<u8>,
}

impl Stack {
    /// A new, unbound UDP socket.
    pub fn udp_socket(&mut self) -> Result<SocketHandle> {
        self.admit_socket()?;
        Ok(self.sockets.insert(Socket::Udp(UdpSocket::default())))
    }

    fn udp(&mut self, h: SocketHandle) -> Result<&mut UdpSocket> {
        self.sockets.udp_mut(h).ok_or(Errno::EBADF)
    }

    /// Binds to `addr` (our address or 0.0.0.0; port 0 picks an ephemeral port).
    pub fn udp_bind(&mut self, h: SocketHandle, addr: SocketAddrV4) -> Result<()> {
        if self.udp(h)?.local.is_some() {
            return Err(Errno::EINVAL);
        }
        // A group address may be bound, to take only that group's datagrams (Linux's inet_bind
        // takes RTN_MULTICAST).
        if !addr.ip().is_unspecified()
            && !addr.ip().is_multicast()
            && !self.net.iface.accepts(*addr.ip())
            && !self.udp(h)?.freebind
        {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let me = {
            let s = self.udp(h)?;
            (s.reuse_addr, s.reuse_port, s.owner)
        };
        let port = if addr.port() == 0 {
            let used = &self.sockets.udp_ports;
            ports::pick_random(&mut self.rng, |p| !used.contains_key(&p))
                .ok_or(Errno::EADDRINUSE)?
        } else if self.udp_port_conflict(addr, me) {
            return Err(Errno::EADDRINUSE);
        } else {
            addr.port()
        };
        let holders = self.sockets.udp_ports.entry(port).or_default();
        holders.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        holders.push(h);
        self.udp(h)?.local = Some(SocketAddrV4::new(*addr.ip(), port));
        Ok(())
    }

    /// Whether binding `addr` clashes with a socket holding its port (Linux's
    /// udp_lib_lport_inuse): the addresses overlap (either is 0.0.0.0, or both are the same) and
    /// neither both sockets set SO_REUSEADDR nor both, of one owner, SO_REUSEPORT.
    fn udp_port_conflict(
        &self,
        addr: SocketAddrV4,
        (reuse_addr, reuse_port, owner): (bool, bool, u32),
    ) -> bool {
        let Some(holders) = self.sockets.udp_ports.get(&addr.port()) else {
            return false;
        };
        holders.iter().any(|&other| {
            self.sockets.udp(other).is_some_and(|o| {
                let theirs = o.local.map_or(Ipv4Addr::UNSPECIFIED, |l| *l.ip());
                let overlap = ports::addresses_overlap(theirs, *addr.ip());
                let shared = (reuse_addr && o.reuse_addr)
                    || (reuse_port && o.reuse_port && owner == o.owner);
                overlap && !shared
            })
        })
    }

    fn udp_autobind(&mut self, h: SocketHandle) -> Result<SocketAddrV4> {
        if self.udp(h)?.local.is_none() {
            self.udp_bind(h, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))?;
        }
        Ok(self.udp(h)?.local.expect("bound above"))
    }

    /// Sets the default destination and accepts datagrams only from it; `None` (connect to an
    /// AF_UNSPEC address) dissolves the association, as on Linux.
    pub fn udp_connect(&mut self, h: SocketHandle, peer: Option<SocketAddrV4>) -> Result<()> {
        let Some(peer) = peer else {
            self.udp(h)?.remote = None;
            return Ok(());
        };
        if peer.port() == 0 {
            return Err(Errno::EINVAL);
        }
        if !peer.ip().is_multicast() {
            self.net.iface.route(*peer.ip())?;
        }
        if self.net.iface.is_broadcast(*peer.ip()) && !self.udp(h)?.broadcast {
            return Err(Errno::EACCES);
        }
        self.udp_autobind(h)?;
        let ident = self.net.ip_ident;
        let s = self.udp(h)?;
        s.remote = Some(peer);
        s.connected_after_ident = ident;
        s.error = None;
        Ok(())
    }

    /// Sends one datagram to `to`, or to the connected peer when `to` is `None`.
    pub fn udp_send_to(
        &mut self,
        now: Instant,
        h: SocketHandle,
        data: &[u8],
        to: Option<SocketAddrV4>,
    ) -> Result<usize> {
        self.udp_send_with(now, h, data, to, PerDatagram::default())
    }

    /// [`Stack::udp_send_to`] with this datagram's own TTL or TOS in place of the socket's (the
    /// IP_TTL and IP_TOS control messages of Linux's `sendmsg`, ip_cmsg_send).
    pub fn udp_send_with(
        &mut self,
        now: Instant,
        h: SocketHandle,
        data: &[u8],
        to: Option<SocketAddrV4>,
        own: PerDatagram,
    ) -> Result<usize> {
        let iface_mtu = self.net.iface.mtu;
        let remote = self.udp(h)?.remote;
        // The path's MTU once an ICMP "fragmentation needed" taught it (Linux's dst_mtu), for the
        // modes that use it (ip_sk_use_pmtu); else the interface's.
        let (path_mtu, locked) = match to.or(remote) {
            Some(d) => self.net.path_mtu(now, *d.ip()),
            None => (self.net.iface.mtu, false),
        };
        let s = self.udp(h)?;
        let (mtu, locked) = if s.pmtudisc.uses_path_mtu() {
            (path_mtu, locked)
        } else {
            (iface_mtu, false)
        };
        if let Some(e) = s.error.take() {
            return Err(e);
        }
        if s.write_shut {
            return Err(Errno::EPIPE);
        }
        let dst = match (to, s.remote) {
            (Some(to), _) => to,
            (None, Some(remote)) => remote,
            (None, None) => return Err(Errno::EDESTADDRREQ),
        };
        if data.len() > udp::MAX_PAYLOAD {
            return Err(Errno::EMSGSIZE);
        }
        if dst.port() == 0 {
            return Err(Errno::EINVAL);
        }
        // To a group: IP_MULTICAST_TTL in place of IP_TTL, and the loop-back copy (Linux's
        // ip_make_skb and ip_mc_output); a per-datagram IP_TTL still wins.
        let multicast = dst.ip().is_multicast();
        // IP_MTU_DISCOVER (Linux's __ip_make_skb). A datagram that may not be fragmented on its
        // way (DF, and not WANT's, which Linux lets be cut locally: skb->ignore_df) from an
        // unconnected socket bears identification 0 (ip_select_ident_segs: the id only tells
        // fragments apart).
        let len = crate::wire::ipv4::HEADER_LEN + HEADER_LEN + data.len();
        // A locked path MTU (one a router put under 552) is not trusted with DF (Linux's
        // ip_dont_fragment looks at the lock).
        let dont_frag = s.pmtudisc.dont_frag(len, mtu) && !(locked && s.pmtudisc == PmtuDisc::Want);
        let params = IpParams {
            ttl: own
                .ttl
                .unwrap_or(if multicast { s.multicast.ttl } else { s.ttl }),
            tos: own.tos.unwrap_or(s.tos),
            multicast_loop: multicast && s.multicast.loop_back,
            dont_frag,
            may_fragment: s.pmtudisc.may_fragment(),
            ident: (dont_frag && !s.pmtudisc.may_fragment() && s.remote.is_none()).then_some(0),
            path_mtu: (mtu < iface_mtu).then_some(mtu),
            ..IpParams::default()
        };
        // Linux's rule (ip4_datagram_connect, udp_sendmsg): a broadcast needs SO_BROADCAST.
        if !s.broadcast && self.net.iface.is_broadcast(*dst.ip()) {
            return Err(Errno::EACCES);
        }
        let local = self.udp_autobind(h)?;
        let repr = UdpRepr {
            src_port: local.port(),
            dst_port: dst.port(),
        };
        let checksum = self.net.checksum;
        self.net.send_ip(
            now,
            *dst.ip(),
            IpProtocol::UDP,
            params,
            HEADER_LEN + data.len(),
            Some(h),
            |buf, src, dst| repr.emit(&mut UdpPacket::new_unchecked(buf), src, dst, data, checksum),
        )?;
        self.net.stats.udp_out += 1;
        Ok(data.len())
    }

    /// Receives one datagram (EAGAIN when none waits; a pending error first, as Linux reports it).
    pub fn udp_recv_from(
        &mut self,
        h: SocketHandle,
        buf: &mut [u8],
        peek: bool,
    ) -> Result<Received> {
        self.udp(h)?.recv(buf, peek)
    }

    pub fn udp_shutdown(&mut self, h: SocketHandle, read: bool, write: bool) -> Result<()> {
        let s = self.udp(h)?;
        if s.remote.is_none() {
            return Err(Errno::ENOTCONN);
        }
        s.read_shut |= read;
        s.write_shut |= write;
        self.wake(h);
        Ok(())
    }

    pub fn udp_readable(&self, h: SocketHandle) -> bool {
        self.sockets.udp(h).is_some_and(UdpSocket::is_readable)
    }

    pub fn udp_socket_ref(&self, h: SocketHandle) -> Option<&UdpSocket> {
        self.sockets.udp(h)
    }

    pub fn udp_socket_mut(&mut self, h: SocketHandle) -> Option<&mut UdpSocket> {
        self.sockets.udp_mut(h)
    }

    /// Releases a UDP socket and its port; its groups are left (Linux's ip_mc_drop_socket).
    pub(super) fn udp_close(&mut self, now: Instant, h: SocketHandle) -> Result<()> {
        if let Some(Socket::Udp(s)) = self.sockets.remove(h) {
            self.drop_memberships(now, &s.multicast.groups);
            if let Some(local) = s.local {
                let port = local.port();
                if let Some(holders) = self.sockets.udp_ports.get_mut(&port) {
                    holders.retain(|&x| x != h);
                    if holders.is_empty() {
                        self.sockets.udp_ports.remove(&port);
                    }
                }
            }
        }
        Ok(())
    }
}
