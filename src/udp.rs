//! UDP sockets (RFC 768): the control information the stack keeps for each one.
//!
//! A UDP socket is its local address (bound explicitly or given an ephemeral port on first use),
//! an optional connected peer, a bounded queue of received datagrams with each sender's address, and
//! a pending error. Sending needs no state beyond that: each datagram goes straight to IP. The
//! stack's socket table owns these and does the demultiplexing.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::error::Errno;

/// Linux's default `net.core.rmem_default`.
pub const DEFAULT_RCVBUF: usize = 212_992;
/// What a queued datagram costs beyond its bytes, so many tiny datagrams also fill the buffer
/// (Linux charges the socket buffer's true size in the same spirit).
const PER_DATAGRAM_OVERHEAD: usize = 256;
/// The largest UDP payload over IPv4: 65535 − 20 (IP) − 8 (UDP).
pub const MAX_PAYLOAD: usize = 65_507;

#[derive(Debug)]
pub struct Datagram {
    pub from: SocketAddrV4,
    pub arrival: Arrival,
    pub data: Vec<u8>,
}

/// What the IP header of a received datagram said beside its sender: what Linux's
/// `ip_cmsg_recv` reports to a socket that asked (IP_PKTINFO, IP_RECVTTL, IP_RECVTOS,
/// IP_RECVORIGDSTADDR).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// The destination address: ours, a broadcast address or a multicast group.
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub tos: u8,
}

impl Default for Arrival {
    fn default() -> Self {
        Arrival {
            dst: Ipv4Addr::UNSPECIFIED,
            ttl: crate::ipv4::DEFAULT_TTL,
            tos: 0,
        }
    }
}

/// What a receive returned: bytes copied, the datagram's real length, its sender and how it
/// arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    pub copied: usize,
    pub len: usize,
    pub from: SocketAddrV4,
    pub arrival: Arrival,
}

#[derive(Debug)]
pub struct UdpSocket {
    /// Bound address; the IP part is 0.0.0.0 for "any of ours".
    pub local: Option<SocketAddrV4>,
    pub remote: Option<SocketAddrV4>,
    /// The IPv4 identification of the stack's last datagram when `remote` was set: an ICMP error
    /// about a datagram sent before is not this association's (see `udp_icmp_error`).
    pub connected_after_ident: u16,
    queue: VecDeque<Datagram>,
    queued_bytes: usize,
    pub rcvbuf: usize,
    pub error: Option<Errno>,
    /// IP_RECVERR: every error ICMP brings about what this socket sent (and a next hop that
    /// never answers ARP) is reported, soft ones too and on an unconnected socket, as Linux's
    /// `__udp4_lib_err` with `inet->recverr`; without it, only hard ones on a connected socket.
    pub recv_err: bool,
    pub ttl: u8,
    pub tos: u8,
    /// IP_MTU_DISCOVER.
    pub pmtudisc: crate::stack::PmtuDisc,
    /// SO_BROADCAST: without it, sending to a broadcast address is refused (EACCES), as on Linux.
    pub broadcast: bool,
    /// IP_FREEBIND: it may bind an address that is not ours (Linux's inet_can_nonlocal_bind);
    /// bound so, it receives nothing sent to ours.
    pub freebind: bool,
    /// SO_REUSEADDR: sockets that all set it may bind the same port (Linux's sk_reuse for UDP).
    pub reuse_addr: bool,
    /// SO_REUSEPORT: sockets of one owner that all set it may bind the same port, and unicast to
    /// it is spread among them by the sender's address (Linux's sk_reuseport group).
    pub reuse_port: bool,
    /// Who made the socket (a user id; Linux's sk_uid): a SO_REUSEPORT group has one owner.
    pub owner: u32,
    pub read_shut: bool,
    pub write_shut: bool,
    /// Datagrams dropped because the queue was full.
    pub drops: u64,
    /// The multicast options and the groups this socket joined.
    pub multicast: Multicast,
}

/// Linux's `igmp_max_memberships`: the most groups one socket may join (ENOBUFS beyond).
pub const MAX_MEMBERSHIPS: usize = 20;

/// A socket's multicast settings, Linux's defaults (inet_create): TTL 1, loop on, `mc_all` on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Multicast {
    /// IP_MULTICAST_TTL: the TTL of datagrams to a group (RFC 1112 §6.1: 1 unless asked).
    pub ttl: u8,
    /// IP_MULTICAST_LOOP: a copy of what this socket sends to a group we are a member of comes
    /// back to our own member sockets (Linux's ip_mc_output).
    pub loop_back: bool,
    /// IP_MULTICAST_IF as set: the address given (0.0.0.0 or ours), read back as it was set.
    pub iface_addr: std::net::Ipv4Addr,
    /// IP_MULTICAST_ALL: the socket takes datagrams to any group the interface joined, not only
    /// its own (Linux's inet->mc_all, ip_mc_sf_allow).
    pub all: bool,
    /// The groups joined through this socket (IP_ADD_MEMBERSHIP), left when it closes.
    pub groups: Vec<std::net::Ipv4Addr>,
}

impl Default for Multicast {
    fn default() -> Self {
        Multicast {
            ttl: 1,
            loop_back: true,
            iface_addr: std::net::Ipv4Addr::UNSPECIFIED,
            all: true,
            groups: Vec::new(),
        }
    }
}

impl Multicast {
    /// Whether a datagram to `group` (the interface being a member) is for this socket.
    pub fn takes(&self, group: std::net::Ipv4Addr) -> bool {
        self.all || self.groups.contains(&group)
    }
}

impl Default for UdpSocket {
    fn default() -> Self {
        UdpSocket {
            local: None,
            remote: None,
            connected_after_ident: 0,
            queue: VecDeque::new(),
            queued_bytes: 0,
            rcvbuf: DEFAULT_RCVBUF,
            error: None,
            recv_err: false,
            ttl: crate::ipv4::DEFAULT_TTL,
            tos: 0,
            pmtudisc: crate::stack::PmtuDisc::Want,
            broadcast: false,
            freebind: false,
            reuse_addr: false,
            reuse_port: false,
            owner: 0,
            read_shut: false,
            write_shut: false,
            drops: 0,
            multicast: Multicast::default(),
        }
    }
}

impl UdpSocket {
    /// Queues a received datagram; false (and counted) when the receive buffer is full.
    pub fn deliver(&mut self, from: SocketAddrV4, arrival: Arrival, data: &[u8]) -> bool {
        let cost = data.len() + PER_DATAGRAM_OVERHEAD;
        // Short of memory the datagram is dropped as when the buffer is full (Linux's
        // UDP_MIB_RCVBUFERRORS under `udp_mem`).
        if self.read_shut
            || self.queued_bytes + cost > self.rcvbuf
            || crate::memory::under_pressure()
        {
            self.drops += 1;
            return false;
        }
        self.queued_bytes += cost;
        self.queue.push_back(Datagram {
            from,
            arrival,
            data: data.to_vec(),
        });
        true
    }

    /// Takes (or with `peek`, copies) the oldest datagram into `buf`; a datagram longer than `buf` is
    /// truncated and the rest discarded, as on Linux (`len` tells the full size for MSG_TRUNC).
    pub fn recv(&mut self, buf: &mut [u8], peek: bool) -> Result<Received, Errno> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let Some(d) = self.queue.front() else {
            return Err(Errno::EAGAIN);
        };
        let copied = d.data.len().min(buf.len());
        buf[..copied].copy_from_slice(&d.data[..copied]);
        let got = Received {
            copied,
            len: d.data.len(),
            from: d.from,
            arrival: d.arrival,
        };
        if !peek {
            let d = self.queue.pop_front().expect("front exists");
            self.queued_bytes -= d.data.len() + PER_DATAGRAM_OVERHEAD;
        }
        Ok(got)
    }

    /// Size of the next datagram (FIONREAD on a UDP socket).
    pub fn next_len(&self) -> usize {
        self.queue.front().map_or(0, |d| d.data.len())
    }

    pub fn is_readable(&self) -> bool {
        !self.queue.is_empty() || self.error.is_some() || self.read_shut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_is_bounded_and_truncates() {
        let from = SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, 1), 9);
        let mut s = UdpSocket {
            rcvbuf: 1000,
            ..UdpSocket::default()
        };
        assert!(s.deliver(from, Arrival::default(), &[1; 400]));
        assert!(!s.deliver(from, Arrival::default(), &[2; 400]));
        assert_eq!(s.drops, 1);
        let mut small = [0u8; 10];
        let r = s.recv(&mut small, true).unwrap();
        assert_eq!((r.copied, r.len, r.from), (10, 400, from));
        let r = s.recv(&mut small, false).unwrap();
        assert_eq!(r.len, 400);
        assert_eq!(s.recv(&mut small, false), Err(Errno::EAGAIN));
        assert!(s.deliver(from, Arrival::default(), &[3; 600]));
        s.error = Some(Errno::ECONNREFUSED);
        assert_eq!(s.recv(&mut small, false), Err(Errno::ECONNREFUSED));
        assert_eq!(s.recv(&mut small, false).unwrap().len, 600);
    }
}
