//! The receive path: from an Ethernet frame up to the socket it is for.
//!
//! Every header is checked by the wire layer's views before anything reads it; whatever fails is
//! counted in [`Stats`](super::Stats) and dropped, never panicking. Order of checks follows RFC 1122
//! §3.2.1 for IP: version, header length, total length, checksum, then "is it for us".

use std::net::{Ipv4Addr, SocketAddrV4};

use super::{SocketHandle, Stack};
use crate::icmp;
use crate::ipv4::reassembly::{Fragment, FragmentKey, Rejected};
use crate::time::Instant;
use crate::udp::Arrival;
use crate::wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use crate::wire::ethernet::{EtherType, EthernetFrame, EthernetRepr};
use crate::wire::icmp::{DstUnreachable, Icmpv4Packet, Icmpv4Repr, Timestamps};
use crate::wire::ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};
use crate::wire::udp::{UdpPacket, UdpRepr};
use crate::wire::ChecksumMode;
use crate::wire::WireError;

/// An IP datagram that is for us, whole (reassembled if it came in fragments).
pub(super) struct Datagram<'a> {
    pub repr: Ipv4Repr,
    pub payload: &'a [u8],
    /// Sent to a broadcast address: never answered with an ICMP error.
    pub broadcast: bool,
    /// Came in a link-layer broadcast or multicast frame, whatever its IP destination: no TCP
    /// segment and no ICMP error answers it (Linux's tcp_v4_rcv drops what is not PACKET_HOST,
    /// __icmp_send sends "no replies to physical multicast/broadcast"; RFC 1122 §3.3.6).
    pub link_broadcast: bool,
}

impl Stack {
    /// Handles one frame from the device.
    pub fn receive(&mut self, now: Instant, frame: &[u8]) {
        self.receive_checked(now, frame, self.net.checksum);
    }

    /// Handles one frame from the device, whose checksums are left to check as `checksum` says
    /// ([`crate::device::Device::recv_frame`]).
    pub fn receive_checked(&mut self, now: Instant, frame: &[u8], checksum: ChecksumMode) {
        self.net.stats.frames_in += 1;
        self.net.rx_checksum = checksum;
        self.receive_frame(now, frame, false);
        self.net.rx_checksum = self.net.checksum;
    }

    /// `looped` marks frames we sent to our own address, the only ones allowed to come from it.
    pub(super) fn receive_frame(&mut self, now: Instant, frame: &[u8], looped: bool) {
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            self.net.stats.malformed += 1;
            return;
        };
        let Ok(eth_repr) = EthernetRepr::parse(&eth) else {
            self.net.stats.malformed += 1;
            return;
        };
        if eth_repr.dst != self.net.iface.mac
            && !eth_repr.dst.is_broadcast()
            && !(eth_repr.dst.is_multicast() && self.accepts_multicast_mac(eth_repr.dst))
        {
            self.net.stats.not_for_us += 1;
            return;
        }
        let link_broadcast = eth_repr.dst != self.net.iface.mac;
        match eth_repr.ethertype {
            EtherType::ARP => self.receive_arp(now, eth.payload()),
            EtherType::IPV4 => self.receive_ipv4(now, eth.payload(), looped, link_broadcast),
            _ => self.net.stats.unsupported += 1,
        }
    }

    pub(super) fn count_wire_error(&mut self, e: WireError) {
        match e {
            WireError::Checksum => self.net.stats.bad_checksum += 1,
            WireError::Unsupported => self.net.stats.unsupported += 1,
            WireError::Truncated | WireError::Malformed => self.net.stats.malformed += 1,
        }
    }

    fn receive_arp(&mut self, now: Instant, bytes: &[u8]) {
        let repr = match ArpPacket::new_checked(bytes).and_then(|p| ArpRepr::parse(&p)) {
            Ok(r) => r,
            Err(e) => return self.count_wire_error(e),
        };
        self.net.stats.arp_in += 1;
        if repr.sender_ip == self.net.iface.addr {
            log::warn!(
                "ARP: {} claims our address {}",
                repr.sender_mac,
                repr.sender_ip
            );
            return;
        }
        // A sender address no single host can have gets no reply and teaches nothing: Linux's
        // arp_process answers a request only where ip_route_input from its sender succeeds, and
        // that refuses a multicast, limited broadcast, loopback or 0/8 source (martians). The
        // exception is 0.0.0.0, an address probe (RFC 5227 §2.1.1), answered but not learnt.
        let sender = repr.sender_ip;
        let probe = sender.is_unspecified();
        if sender.is_multicast()
            || sender.is_broadcast()
            || sender.is_loopback()
            || sender.octets()[0] == 0 && !probe
        {
            self.net.stats.malformed += 1;
            return;
        }
        let to_us = repr.target_ip == self.net.iface.addr;
        // RFC 826 "merge" step: update a known sender (an entry we are resolving included). Add a
        // new one only from a request to us, as Linux does with arp_accept=0, its default
        // (net/ipv4/arp.c, arp_process): RFC 826 would add the sender of any packet to us, but
        // then an unsolicited reply could plant an entry nobody asked for.
        let create = to_us && repr.operation == ArpOperation::Request;
        // A reply to us proves the neighbour hears us (REACHABLE); a request only says where it
        // is (STALE), as Linux's arp_process.
        let confirmed = to_us && repr.operation == ArpOperation::Reply;
        if !probe {
            self.net
                .learn_neighbour(now, repr.sender_ip, repr.sender_mac, create, confirmed);
        }
        if to_us && repr.operation == ArpOperation::Request {
            let reply = ArpRepr {
                operation: ArpOperation::Reply,
                sender_mac: self.net.iface.mac,
                sender_ip: self.net.iface.addr,
                target_mac: repr.sender_mac,
                target_ip: repr.sender_ip,
            };
            self.net.send_arp(repr.sender_mac, &reply);
            self.net.stats.arp_replies_out += 1;
        }
    }

    fn receive_ipv4(&mut self, now: Instant, bytes: &[u8], looped: bool, link_broadcast: bool) {
        let packet = match Ipv4Packet::new_checked(bytes) {
            Ok(p) => p,
            Err(e) => return self.count_wire_error(e),
        };
        let repr = match Ipv4Repr::parse(&packet, self.net.rx_checksum) {
            Ok(r) => r,
            Err(e) => return self.count_wire_error(e),
        };
        self.net.stats.ip_in += 1;
        if !self.net.iface.accepts(repr.dst_addr) && !self.is_member(repr.dst_addr) {
            self.net.stats.not_for_us += 1;
            return;
        }
        // Martians: a source that cannot be a single host on this link (RFC 1122 §3.2.1.3).
        if repr.src_addr == self.net.iface.addr && !looped
            || repr.src_addr.is_broadcast()
            || repr.src_addr.is_multicast()
            || repr.src_addr.is_loopback()
        {
            self.net.stats.malformed += 1;
            return;
        }
        // Options as Linux's ip_rcv_options takes them: malformed, or source routed, dropped.
        // (Linux also answers a malformed one with a parameter problem; not sent here.)
        if packet.header_len() > 20 && crate::wire::ipv4::check_options(packet.options()).is_err() {
            self.net.stats.malformed += 1;
            return;
        }
        let broadcast = repr.dst_addr != self.net.iface.addr;
        if repr.more_frags || repr.frag_offset != 0 {
            self.net.stats.ip_fragments_in += 1;
            let key = FragmentKey {
                src: repr.src_addr,
                dst: repr.dst_addr,
                protocol: repr.protocol.0,
                ident: repr.ident,
            };
            let header_len = packet.header_len() as usize;
            let fragment = Fragment {
                offset: usize::from(repr.frag_offset),
                more_fragments: repr.more_frags,
                payload: packet.payload(),
                header: &bytes[..header_len],
                link_broadcast,
            };
            let added = self.reassembly.add(now, key, fragment);
            self.net.stats.ip_reassembly_evicted += self.reassembly.take_evicted();
            match added {
                Ok(Some(whole)) => {
                    self.net.stats.ip_reassembled += 1;
                    let repr = Ipv4Repr {
                        payload_len: whole.data.len(),
                        more_frags: false,
                        frag_offset: 0,
                        ..repr
                    };
                    self.receive_datagram(
                        now,
                        Datagram {
                            repr,
                            payload: &whole.data,
                            broadcast,
                            // The first fragment's (Linux's skb_morph of the head), not this one's.
                            link_broadcast: whole.link_broadcast,
                        },
                    );
                }
                Ok(None) => {}
                Err(Rejected::Malformed) => self.net.stats.malformed += 1,
                Err(Rejected::Overlap) => self.net.stats.ip_reassembly_overlaps += 1,
                Err(Rejected::TooFragmented | Rejected::NoMemory) => {
                    self.net.stats.ip_reassembly_evicted += 1
                }
            }
            return;
        }
        self.receive_datagram(
            now,
            Datagram {
                repr,
                payload: packet.payload(),
                broadcast,
                link_broadcast,
            },
        );
    }

    fn receive_datagram(&mut self, now: Instant, dg: Datagram<'_>) {
        match dg.repr.protocol {
            IpProtocol::ICMP => self.receive_icmp(now, &dg),
            IpProtocol::UDP => self.receive_udp(now, &dg),
            IpProtocol::TCP => self.receive_tcp(now, &dg),
            IpProtocol::IGMP => self.receive_igmp(now, &dg),
            _ => {
                self.net.stats.unsupported += 1;
                self.send_unreachable(now, &dg, DstUnreachable::ProtoUnreachable);
            }
        }
    }

    fn receive_icmp(&mut self, now: Instant, dg: &Datagram<'_>) {
        let repr = match Icmpv4Packet::new_checked(dg.payload)
            .and_then(|p| Icmpv4Repr::parse(&p, self.net.rx_checksum))
        {
            Ok(r) => r,
            Err(e) => return self.count_wire_error(e),
        };
        self.net.stats.icmp_in += 1;
        match repr {
            // Echo to a broadcast address is ignored, as Linux does by default
            // (`icmp_echo_ignore_broadcasts`), so we are no smurf amplifier.
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } if !dg.broadcast => {
                let reply = Icmpv4Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                };
                if self.send_icmp_reply(now, &dg.repr, &reply) {
                    self.net.stats.icmp_echo_replies += 1;
                }
            }
            // Linux's icmp_timestamp: the asker's originate time back, our time as both receive
            // and transmit. To a broadcast address it is ignored as echo is (RFC 1122 §3.2.2.8
            // allows it, Linux does it with `icmp_echo_ignore_broadcasts`).
            Icmpv4Repr::TimestampRequest {
                ident,
                seq_no,
                times,
            } if !dg.broadcast => {
                let t = self.icmp_timestamp(now);
                let reply = Icmpv4Repr::TimestampReply {
                    ident,
                    seq_no,
                    times: Timestamps {
                        originate: times.originate,
                        receive: t,
                        transmit: t,
                    },
                };
                self.send_icmp_reply(now, &dg.repr, &reply);
            }
            // An error sent to a broadcast or multicast address is ignored, as Linux's icmp_rcv
            // ignores every type but echo, timestamp and address mask there (RFC 1122 §3.2.2: no
            // host sends an error to one): a forged one would reach every host at once.
            Icmpv4Repr::DstUnreachable { .. } | Icmpv4Repr::TimeExceeded { .. } if dg.broadcast => {
            }
            Icmpv4Repr::DstUnreachable {
                reason,
                header,
                data,
            } => {
                self.net.stats.icmp_errors_in += 1;
                let path_mtu = match reason {
                    DstUnreachable::FragRequired { mtu } => Some(mtu),
                    _ => None,
                };
                if let Some(report) = icmp::unreachable_report(reason) {
                    self.icmp_error(now, &header, data, report, path_mtu);
                }
            }
            Icmpv4Repr::TimeExceeded { header, data, .. } => {
                self.net.stats.icmp_errors_in += 1;
                self.icmp_error(now, &header, data, icmp::TIME_EXCEEDED, None);
            }
            _ => {}
        }
    }

    /// An ICMP error about a datagram we sent (`quoted` is its IP header, `data` what followed it),
    /// for the socket that sent it; `path_mtu` for "fragmentation needed".
    fn icmp_error(
        &mut self,
        now: Instant,
        quoted: &Ipv4Repr,
        data: &[u8],
        report: icmp::ErrorReport,
        path_mtu: Option<u16>,
    ) {
        if quoted.src_addr != self.net.iface.addr {
            return;
        }
        // A path MTU (for every later packet to that destination, whichever socket sends it) is
        // learnt only in the handler of the quoted datagram's protocol, and only where Linux's
        // learns it (RFC 5927 §4.1: a blind forger could otherwise shrink every path to 552).
        match quoted.protocol {
            IpProtocol::UDP => self.udp_icmp_error(now, quoted, data, report, path_mtu),
            IpProtocol::TCP => self.tcp_icmp_error(now, quoted, data, report.errno, path_mtu),
            // Linux's icmp_err: about an echo reply (which the kernel sends itself) the MTU is
            // learnt as is (ipv4_update_pmtu); about anything else it goes to ping_err, which
            // needs a ping socket, and the stack has none. (icmp_socket_deliver hands no
            // handler less than eight bytes past the quoted header.) Other protocols have no
            // error handler there: nothing is learnt.
            IpProtocol::ICMP => {
                if let (Some(mtu), Some(&[0, ..])) = (path_mtu, data.get(..8)) {
                    self.net.learn_path_mtu(now, quoted.dst_addr, mtu);
                }
            }
            _ => {}
        }
    }

    /// The UDP socket a datagram from the erring one's destination would reach: one connected to
    /// that peer first (`true` with it), else one only bound to the port, as Linux's
    /// `__udp4_lib_err` looks it up.
    fn udp_error_socket(&self, quoted: &Ipv4Repr, data: &[u8]) -> Option<(SocketHandle, bool)> {
        let (Some(src), Some(dst)) = (data.get(0..2), data.get(2..4)) else {
            return None;
        };
        let src_port = u16::from_be_bytes([src[0], src[1]]);
        let peer = SocketAddrV4::new(quoted.dst_addr, u16::from_be_bytes([dst[0], dst[1]]));
        let holders = self.sockets.udp_ports.get(&src_port)?;
        let ours = self.net.iface.addr;
        let udp = |h: SocketHandle| self.sockets.udp(h);
        let connected = holders
            .iter()
            .rev()
            .copied()
            .find(|&h| udp(h).is_some_and(|s| s.remote == Some(peer)));
        let bound = || {
            holders.iter().rev().copied().find(|&h| {
                udp(h).is_some_and(|s| {
                    s.remote.is_none()
                        && s.local
                            .is_some_and(|l| l.ip().is_unspecified() || *l.ip() == ours)
                })
            })
        };
        match connected {
            Some(h) => Some((h, true)),
            None => bound().map(|h| (h, false)),
        }
    }

    /// An ICMP error about a UDP datagram we sent. The socket it would reach
    /// ([`Self::udp_error_socket`]) hears of it if it asked for every error (IP_RECVERR), or if
    /// the error is hard and the socket connected — Linux's rule without IP_RECVERR. Connected,
    /// here, means connected before the erring datagram left (by its IPv4 identification, which
    /// counts the stack's datagrams): Linux looks at the socket as it is when the error arrives,
    /// which from a near peer is before the program's next call, where through the service the
    /// error often comes after it, and a `sendto` to a closed port then a `connect` there would
    /// make the connected socket's first send fail with the unconnected datagram's ECONNREFUSED.
    ///
    /// `path_mtu` (from "fragmentation needed") is learnt only once a socket is found, and not
    /// for one with IP_PMTUDISC_INTERFACE or IP_PMTUDISC_OMIT (Linux's ipv4_sk_update_pmtu
    /// begins with ip_sk_accept_pmtu: what a DNS server sets against forged ICMP).
    fn udp_icmp_error(
        &mut self,
        now: Instant,
        quoted: &Ipv4Repr,
        data: &[u8],
        report: icmp::ErrorReport,
        path_mtu: Option<u16>,
    ) {
        use super::output::PmtuDisc;
        let Some((h, connected)) = self.udp_error_socket(quoted, data) else {
            return;
        };
        let pmtudisc = self.sockets.udp(h).map(|s| s.pmtudisc);
        let accepts = !matches!(pmtudisc, Some(PmtuDisc::Interface | PmtuDisc::Omit));
        if let Some(mtu) = path_mtu.filter(|_| accepts) {
            self.net.learn_path_mtu(now, quoted.dst_addr, mtu);
        }
        let udp = |h: SocketHandle| self.sockets.udp(h);
        let asked = udp(h).is_some_and(|s| s.recv_err);
        let sent_connected = connected
            && udp(h)
                .is_some_and(|s| (quoted.ident.wrapping_sub(s.connected_after_ident) as i16) > 0);
        // "Fragmentation needed": Linux's __udp4_lib_err makes it a hard EMSGSIZE for every
        // socket but one with IP_PMTUDISC_DONT, which hears nothing of it, IP_RECVERR or not.
        let hard = if report.errno == crate::error::Errno::EMSGSIZE {
            if pmtudisc == Some(PmtuDisc::Dont) {
                return;
            }
            true
        } else {
            report.hard
        };
        if asked || (hard && sent_connected) {
            self.report_error(h, report.errno);
        }
    }

    fn receive_udp(&mut self, now: Instant, dg: &Datagram<'_>) {
        let (src, dst) = (dg.repr.src_addr, dg.repr.dst_addr);
        let packet = match UdpPacket::new_checked(dg.payload) {
            Ok(p) => p,
            Err(e) => return self.count_wire_error(e),
        };
        let repr = match UdpRepr::parse(&packet, src, dst, self.net.rx_checksum) {
            Ok(r) => r,
            Err(e) => return self.count_wire_error(e),
        };
        self.net.stats.udp_in += 1;
        let from = SocketAddrV4::new(src, repr.src_port);
        let arrival = Arrival {
            dst,
            ttl: dg.repr.ttl,
            tos: dg.repr.tos,
        };
        // Each socket on the port that may take the datagram, with Linux's score (compute_score):
        // a bound address that matches counts 4, a connected peer that matches 8.
        let holders = self.sockets.udp_ports.get(&repr.dst_port);
        let sockets = &self.sockets;
        let matches = holders.into_iter().flatten().copied().filter_map(|h| {
            let s = sockets.udp(h)?;
            let bound_ip = s.local.map_or(Ipv4Addr::UNSPECIFIED, |l| *l.ip());
            let ip_ok = bound_ip.is_unspecified() || bound_ip == dst;
            if !ip_ok || s.remote.is_some_and(|r| r != from) {
                return None;
            }
            let score = 4 * u8::from(!bound_ip.is_unspecified()) + 8 * u8::from(s.remote.is_some());
            Some((h, score))
        });
        if dst.is_multicast() {
            // To a group: every member socket gets it; nobody, and it is dropped without an
            // ICMP error (RFC 1122 §3.2.2).
            let targets = self.udp_multicast_targets(dst, repr.dst_port, from);
            if targets.is_empty() {
                self.net.stats.udp_no_port += 1;
            }
            for h in targets {
                self.udp_deliver(h, from, arrival, packet.payload());
            }
            return;
        }
        if self.net.iface.is_broadcast(dst) {
            // A broadcast goes to every socket that may take it (__udp4_lib_mcast_deliver).
            let targets: Vec<_> = matches.map(|(h, _)| h).collect();
            if targets.is_empty() {
                self.net.stats.udp_no_port += 1;
                self.send_unreachable(now, dg, DstUnreachable::PortUnreachable);
                return;
            }
            for h in targets {
                self.udp_deliver(h, from, arrival, packet.payload());
            }
            return;
        }
        // Unicast goes to the best; among equals, the one that bound last (Linux adds sockets at
        // the head of the port's chain and keeps the first of the highest score).
        let mut best: Option<(_, u8)> = None;
        for (h, score) in matches.clone() {
            if best.is_none_or(|(_, b)| score >= b) {
                best = Some((h, score));
            }
        }
        let Some((mut h, best_score)) = best else {
            self.net.stats.udp_no_port += 1;
            self.send_unreachable(now, dg, DstUnreachable::PortUnreachable);
            return;
        };
        // The best is one of a SO_REUSEPORT group (those of one owner bound to the same address
        // with the option): the group shares the port, a keyed hash of the sender picking the
        // member, so each sender always reaches the same one and cannot choose which (Linux's
        // lookup_reuseport hashes the flow with a boot-time secret likewise).
        let group_of = |x: super::SocketHandle| {
            sockets
                .udp(x)
                .filter(|s| s.reuse_port)
                .map(|s| (s.local.map(|l| *l.ip()), s.owner))
        };
        if let Some(group) = group_of(h) {
            let members: Vec<_> = matches
                .filter(|&(x, score)| score == best_score && group_of(x) == Some(group))
                .map(|(x, _)| x)
                .collect();
            let tuple = super::tcp_io::tuple_bytes(SocketAddrV4::new(dst, repr.dst_port), from);
            let pick = crate::tcp::reuseport_hash(&self.tcp_key, &tuple) as usize;
            if let Some(&chosen) = members.get(pick % members.len().max(1)) {
                h = chosen;
            }
        }
        self.udp_deliver(h, from, arrival, packet.payload());
    }

    fn udp_deliver(
        &mut self,
        h: super::SocketHandle,
        from: SocketAddrV4,
        arrival: Arrival,
        payload: &[u8],
    ) {
        let socket = self.sockets.udp_mut(h).expect("a UDP socket on its port");
        if socket.deliver(from, arrival, payload) {
            self.wake(h);
        } else {
            self.net.stats.udp_queue_full += 1;
        }
    }
}
