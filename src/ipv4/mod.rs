//! IPv4 (RFC 791): our address, the routing decision, and fragment reassembly.
//!
//! The stack has one interface with one address and prefix, and a default gateway. Routing is the
//! RFC 1122 §3.3.1 rule: a destination inside our prefix is on-link and is its own next hop; anything
//! else goes to the gateway. Reassembly lives in [`reassembly`]. Input validation (version, header
//! length, total length, checksum, destination) is done by the stack's input path using the wire
//! layer's checked views.

pub mod reassembly;

use std::net::Ipv4Addr;

use crate::config::{prefix_mask, Config};
use crate::error::Errno;
use crate::wire::MacAddr;

/// Default TTL of packets we originate (Linux's `net.ipv4.ip_default_ttl`).
pub const DEFAULT_TTL: u8 = 64;

/// Our one interface's addressing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub mac: MacAddr,
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    /// The IP MTU of the link.
    pub mtu: usize,
}

/// Where a packet for some destination goes on the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextHop {
    /// Our own address: the packet loops back inside the stack.
    Local,
    /// Every host on the link (limited or directed broadcast): the Ethernet broadcast address.
    Broadcast,
    /// A neighbour to resolve with ARP: the destination itself or the gateway.
    Neighbour(Ipv4Addr),
    /// A multicast group, sent to its Ethernet group address (RFC 1112 §6.4): `loop_back` when
    /// a copy is for our own member sockets, `wire` unless the TTL is 0.
    Multicast { loop_back: bool, wire: bool },
}

impl Interface {
    pub fn from_config(config: &Config, mtu: usize) -> Interface {
        Interface {
            mac: config.mac,
            addr: config.addr,
            prefix_len: config.prefix_len,
            gateway: config.gateway,
            mtu,
        }
    }

    fn mask(&self) -> u32 {
        prefix_mask(self.prefix_len)
    }

    /// True if `ip` is inside our prefix.
    pub fn is_on_link(&self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) ^ u32::from(self.addr)) & self.mask() == 0
    }

    /// The directed broadcast address of our prefix (none on /31 and /32, RFC 3021).
    pub fn broadcast(&self) -> Option<Ipv4Addr> {
        (self.prefix_len < 31).then(|| Ipv4Addr::from(u32::from(self.addr) | !self.mask()))
    }

    /// True if `ip` is the limited broadcast address or our prefix's directed one.
    pub fn is_broadcast(&self, ip: Ipv4Addr) -> bool {
        ip.is_broadcast() || Some(ip) == self.broadcast()
    }

    /// True if a packet to `dst` is for this host: our address or a broadcast we listen to.
    pub fn accepts(&self, dst: Ipv4Addr) -> bool {
        dst == self.addr || self.is_broadcast(dst)
    }

    /// The routing decision for `dst` (RFC 1122 §3.3.1.1).
    pub fn route(&self, dst: Ipv4Addr) -> Result<NextHop, Errno> {
        if dst == self.addr {
            Ok(NextHop::Local)
        } else if self.is_broadcast(dst) {
            Ok(NextHop::Broadcast)
        } else if dst.is_unspecified() || dst.is_multicast() || dst.is_loopback() {
            // Multicast is no unicast route (IP output sends it to the group's Ethernet address,
            // and TCP refuses it); 0.0.0.0 and loopback are never valid on the wire (RFC 1122
            // §3.2.1.3).
            Err(Errno::ENETUNREACH)
        } else if self.is_on_link(dst) {
            Ok(NextHop::Neighbour(dst))
        } else {
            self.gateway
                .map(NextHop::Neighbour)
                .ok_or(Errno::ENETUNREACH)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface() -> Interface {
        Interface {
            mac: MacAddr([2, 0, 0, 0, 0, 2]),
            addr: Ipv4Addr::new(10, 77, 0, 2),
            prefix_len: 24,
            gateway: Some(Ipv4Addr::new(10, 77, 0, 1)),
            mtu: 1500,
        }
    }

    #[test]
    fn routes() {
        let i = iface();
        let n = |a, b, c, d| i.route(Ipv4Addr::new(a, b, c, d));
        assert_eq!(
            n(10, 77, 0, 9),
            Ok(NextHop::Neighbour(Ipv4Addr::new(10, 77, 0, 9)))
        );
        assert_eq!(
            n(8, 8, 8, 8),
            Ok(NextHop::Neighbour(Ipv4Addr::new(10, 77, 0, 1)))
        );
        assert_eq!(n(10, 77, 0, 2), Ok(NextHop::Local));
        assert_eq!(n(10, 77, 0, 255), Ok(NextHop::Broadcast));
        assert_eq!(n(255, 255, 255, 255), Ok(NextHop::Broadcast));
        assert_eq!(n(224, 0, 0, 1), Err(Errno::ENETUNREACH));
        assert_eq!(n(127, 0, 0, 1), Err(Errno::ENETUNREACH));
        let lone = Interface { gateway: None, ..i };
        assert_eq!(
            lone.route(Ipv4Addr::new(8, 8, 8, 8)),
            Err(Errno::ENETUNREACH)
        );
        assert!(iface().accepts(Ipv4Addr::new(10, 77, 0, 255)));
        assert!(!iface().accepts(Ipv4Addr::new(10, 77, 0, 3)));
    }
}
