//! IPv4 multicast in the stack: UDP sockets joining and leaving groups (IP_ADD_MEMBERSHIP,
//! IP_DROP_MEMBERSHIP, with Linux's errors from ip_mc_join_group and ip_mc_leave_group), IGMP
//! messages in and out, and which sockets a datagram to a group is for.
//!
//! The interface's membership and the IGMP timers are [`crate::igmp`]'s; this joins them to the
//! sockets, IP input and IP output.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::input::Datagram;
use super::{Net, SocketHandle, Stack};
use crate::error::{Errno, Result};
use crate::igmp::Outgoing;
use crate::memory;
use crate::time::Instant;
use crate::udp::MAX_MEMBERSHIPS;
use crate::wire::ethernet::{self, EtherType, EthernetFrame, EthernetRepr};
use crate::wire::igmp::{IgmpPacket, IgmpRepr};
use crate::wire::ipv4::{self, IpProtocol, Ipv4Packet, Ipv4Repr};
use crate::wire::MacAddr;

/// The interface a membership names (`struct ip_mreqn`'s address and index, or `ip_mreq`'s
/// address alone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupInterface {
    pub addr: Ipv4Addr,
    pub ifindex: u32,
}

/// The IP header option Router Alert (RFC 2113 §2.1): type 148, length 4, value 0 ("examine
/// this packet"), which Linux puts on every IGMP message (igmpv3_newpack, igmp_send_report).
const ROUTER_ALERT: [u8; 4] = [0x94, 0x04, 0x00, 0x00];
/// IGMP's IP precedence, Internetwork Control (Linux's IPTOS_PREC_INTERNETCONTROL).
const TOS_INTERNETCONTROL: u8 = 0xc0;

impl Net {
    /// Sends IGMP messages the way Linux does: TTL 1 (RFC 2236 §2, RFC 3376 §4), TOS 0xc0, DF,
    /// IP id 0, and Router Alert, to the group's Ethernet address.
    pub(crate) fn send_igmp(&mut self, messages: Vec<Outgoing>) {
        for Outgoing { dst, message } in messages {
            let header_len = ipv4::HEADER_LEN + ROUTER_ALERT.len();
            let len = message.buffer_len();
            let Some(mut frame) = memory::try_frame(ethernet::HEADER_LEN + header_len + len) else {
                // Out of memory: lost as on a full NIC; the report is repeated anyway.
                continue;
            };
            let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
            EthernetRepr {
                src: self.iface.mac,
                dst: MacAddr::ipv4_multicast(dst),
                ethertype: EtherType::IPV4,
            }
            .emit(&mut eth);
            let ip_bytes = eth.payload_mut();
            let repr = Ipv4Repr {
                src_addr: self.iface.addr,
                dst_addr: dst,
                protocol: IpProtocol::IGMP,
                // The option's bytes count as payload for the fixed header's total length.
                payload_len: ROUTER_ALERT.len() + len,
                ttl: 1,
                tos: TOS_INTERNETCONTROL,
                ident: 0,
                dont_frag: true,
                more_frags: false,
                frag_offset: 0,
            };
            let mut ip = Ipv4Packet::new_unchecked(&mut ip_bytes[..]);
            repr.emit(&mut ip, crate::wire::ChecksumMode::Full);
            ip.set_header_len(header_len as u8);
            ip_bytes[ipv4::HEADER_LEN..header_len].copy_from_slice(&ROUTER_ALERT);
            Ipv4Packet::new_unchecked(&mut ip_bytes[..]).fill_checksum();
            message.emit(&mut IgmpPacket::new_unchecked(&mut ip_bytes[header_len..]));
            self.stats.igmp_out += 1;
            self.push_frame(frame);
        }
    }
}

impl Stack {
    /// Whether `iface` names our interface, as Linux's ip_mc_find_dev finds one: by index, by
    /// one of its addresses, or (neither given) the route to the group, which is ours.
    fn names_our_interface(&self, iface: GroupInterface) -> bool {
        if iface.ifindex != 0 {
            return self.ifindex == 0 || iface.ifindex == self.ifindex;
        }
        iface.addr.is_unspecified() || iface.addr == self.net.iface.addr
    }

    /// IP_ADD_MEMBERSHIP on UDP socket `h`.
    pub fn udp_join(
        &mut self,
        now: Instant,
        h: SocketHandle,
        group: Ipv4Addr,
        iface: GroupInterface,
    ) -> Result<()> {
        if !group.is_multicast() {
            return Err(Errno::EINVAL);
        }
        if !self.names_our_interface(iface) {
            return Err(Errno::ENODEV);
        }
        let s = self.sockets.udp_mut(h).ok_or(Errno::EBADF)?;
        if s.multicast.groups.contains(&group) {
            return Err(Errno::EADDRINUSE);
        }
        if s.multicast.groups.len() >= MAX_MEMBERSHIPS {
            return Err(Errno::ENOBUFS);
        }
        s.multicast
            .groups
            .try_reserve(1)
            .map_err(|_| Errno::ENOMEM)?;
        s.multicast.groups.push(group);
        let reports = self.net.igmp.join(now, &mut self.rng, group);
        self.net.send_igmp(reports);
        Ok(())
    }

    /// IP_DROP_MEMBERSHIP on UDP socket `h`: EADDRNOTAVAIL when it did not join `group` there.
    pub fn udp_leave(
        &mut self,
        now: Instant,
        h: SocketHandle,
        group: Ipv4Addr,
        iface: GroupInterface,
    ) -> Result<()> {
        let ours = self.names_our_interface(iface);
        let s = self.sockets.udp_mut(h).ok_or(Errno::EBADF)?;
        let Some(i) = s.multicast.groups.iter().position(|&g| g == group) else {
            return Err(Errno::EADDRNOTAVAIL);
        };
        // ip_mc_leave_group: a membership is matched by its interface too.
        if !ours {
            return Err(Errno::EADDRNOTAVAIL);
        }
        s.multicast.groups.swap_remove(i);
        self.drop_memberships(now, &[group]);
        Ok(())
    }

    /// The interface's side of sockets leaving `groups` (on a drop, or as they close).
    pub(super) fn drop_memberships(&mut self, now: Instant, groups: &[Ipv4Addr]) {
        let mut out = Vec::new();
        for &g in groups {
            self.net.igmp.leave(now, &mut self.rng, g, &mut out);
        }
        self.net.send_igmp(out);
    }

    /// The groups the interface is a member of (all-hosts aside), for display and tests.
    pub fn multicast_groups(&self) -> Vec<Ipv4Addr> {
        self.net.igmp.groups().collect()
    }

    /// The OS's index of the interface under the stack, which IP_ADD_MEMBERSHIP and
    /// IP_MULTICAST_IF may name (0: not known, any index is taken for ours).
    pub fn set_ifindex(&mut self, ifindex: u32) {
        self.ifindex = ifindex;
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Whether IP_MULTICAST_IF may name this interface (EADDRNOTAVAIL otherwise, as Linux's
    /// do_ip_setsockopt).
    pub fn multicast_if_ok(&self, iface: GroupInterface) -> bool {
        self.names_our_interface(iface)
    }

    /// Whether an Ethernet frame to `mac`, a group address, may be for us.
    pub(super) fn accepts_multicast_mac(&self, mac: MacAddr) -> bool {
        self.net.igmp.accepts_mac(mac)
    }

    /// Whether IP input takes a datagram to `group`.
    pub(super) fn is_member(&self, group: Ipv4Addr) -> bool {
        self.net.igmp.is_member(group)
    }

    pub(super) fn receive_igmp(&mut self, now: Instant, dg: &Datagram<'_>) {
        let repr = match IgmpPacket::new_checked(dg.payload)
            .and_then(|p| IgmpRepr::parse(&p, crate::wire::ChecksumMode::Full))
        {
            Ok(r) => r,
            Err(e) => return self.count_wire_error(e),
        };
        self.net.stats.igmp_in += 1;
        // Our own reports, looped, are not another host's.
        if dg.repr.src_addr == self.net.iface.addr {
            return;
        }
        self.net.igmp.receive(now, &mut self.rng, &repr);
    }

    /// The sockets a UDP datagram to group `dst` port `port` from `from` is for (Linux's
    /// __udp4_lib_mcast_deliver with __udp_is_mcast_sock and ip_mc_sf_allow): bound to the port
    /// on 0.0.0.0 or the group, not connected elsewhere, and joined to the group or taking
    /// every group (IP_MULTICAST_ALL).
    pub(super) fn udp_multicast_targets(
        &self,
        dst: Ipv4Addr,
        port: u16,
        from: SocketAddrV4,
    ) -> Vec<SocketHandle> {
        let Some(holders) = self.sockets.udp_ports.get(&port) else {
            return Vec::new();
        };
        holders
            .iter()
            .copied()
            .filter(|&h| {
                self.sockets.udp(h).is_some_and(|s| {
                    let bound = s.local.map_or(Ipv4Addr::UNSPECIFIED, |l| *l.ip());
                    (bound.is_unspecified() || bound == dst)
                        && s.remote.is_none_or(|r| r == from)
                        && s.multicast.takes(dst)
                })
            })
            .collect()
    }
}
