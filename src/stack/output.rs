//! The send path: from a transport payload down to Ethernet frames for the device.
//!
//! [`Stack::send_ip`] routes the packet (RFC 1122 §3.3.1), builds the frame in one buffer (the
//! payload is written straight into place by the caller's closure), fragments it when it exceeds the
//! MTU and fragmentation is allowed (RFC 791), and hands it to ARP: sent at once when the next hop's
//! address is known, held in the neighbour's queue otherwise.

use std::net::Ipv4Addr;

use super::{Net, SocketHandle, Stack};
use crate::arp::{QueuedFrame, Resolution};
use crate::error::Errno;
use crate::icmp::{self, MAX_QUOTE};
use crate::ipv4::reassembly::Expired;
use crate::ipv4::NextHop;
use crate::memory;
use crate::time::{Duration, Instant};
use crate::wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use crate::wire::ethernet::{self, EtherType, EthernetFrame, EthernetRepr};
use crate::wire::icmp::{DstUnreachable, Icmpv4Packet, Icmpv4Repr, TimeExceeded};
use crate::wire::ipv4::{self, IpProtocol, Ipv4Packet, Ipv4Repr};
use crate::wire::MacAddr;

use super::input::Datagram;

/// Per-packet IP settings a socket may change (IP_TTL, IP_TOS; DF and fragmenting by
/// IP_MTU_DISCOVER, see [`PmtuDisc`]).
#[derive(Clone, Copy, Debug)]
pub struct IpParams {
    pub ttl: u8,
    pub tos: u8,
    pub dont_frag: bool,
    /// A packet longer than the MTU may be cut into fragments (else EMSGSIZE; never with DF).
    pub may_fragment: bool,
    /// The IPv4 identification to use in place of the next of the stack's counter: 0 for an
    /// unconnected socket's DF datagram, as Linux's ip_select_ident_segs.
    pub ident: Option<u16>,
    /// A TCP super-segment for a device that cuts it (`DeviceCaps::tso`): one frame however long.
    pub segmented_by_device: bool,
    /// To a multicast group: a copy comes back to our own member sockets (IP_MULTICAST_LOOP).
    pub multicast_loop: bool,
    /// The path's MTU when an ICMP "fragmentation needed" taught one below the interface's
    /// ([`Net::path_mtu`]): longer packets are cut, or refused, at it.
    pub path_mtu: Option<usize>,
}

impl Default for IpParams {
    fn default() -> Self {
        IpParams {
            ttl: crate::ipv4::DEFAULT_TTL,
            tos: 0,
            dont_frag: false,
            may_fragment: true,
            ident: None,
            segmented_by_device: false,
            multicast_loop: false,
            path_mtu: None,
        }
    }
}

/// IP_MTU_DISCOVER (ip(7)), as Linux's __ip_make_skb and __ip_append_data apply it: whether a
/// packet bears DF, and whether one longer than the MTU is fragmented or refused (EMSGSIZE).
/// The stack keeps no path MTU per destination for UDP: "the path's" is the interface's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PmtuDisc {
    /// IP_PMTUDISC_DONT: no DF; fragmented.
    Dont,
    /// IP_PMTUDISC_WANT, the default: DF when the packet fits; fragmented when not.
    #[default]
    Want,
    /// IP_PMTUDISC_DO: DF; too long is EMSGSIZE.
    Do,
    /// IP_PMTUDISC_PROBE: as DO here (it only ignores a learnt path MTU).
    Probe,
    /// IP_PMTUDISC_INTERFACE: no DF; too long is EMSGSIZE.
    Interface,
    /// IP_PMTUDISC_OMIT: no DF; fragmented.
    Omit,
}

impl PmtuDisc {
    /// The mode of IP_MTU_DISCOVER's value, if it is one (0 to 5).
    pub fn from_option(v: i32) -> Option<PmtuDisc> {
        Some(match v {
            0 => PmtuDisc::Dont,
            1 => PmtuDisc::Want,
            2 => PmtuDisc::Do,
            3 => PmtuDisc::Probe,
            4 => PmtuDisc::Interface,
            5 => PmtuDisc::Omit,
            _ => return None,
        })
    }

    /// DF on a packet of `len` bytes (IP header included) over a link of `mtu`.
    pub fn dont_frag(self, len: usize, mtu: usize) -> bool {
        match self {
            PmtuDisc::Do | PmtuDisc::Probe => true,
            PmtuDisc::Want => len <= mtu,
            PmtuDisc::Dont | PmtuDisc::Interface | PmtuDisc::Omit => false,
        }
    }

    /// Whether a packet longer than the MTU is fragmented (Linux's ip_sk_ignore_df).
    pub fn may_fragment(self) -> bool {
        matches!(self, PmtuDisc::Dont | PmtuDisc::Want | PmtuDisc::Omit)
    }

    /// Whether the path's MTU, once learnt, stands for the interface's (Linux's ip_sk_use_pmtu:
    /// the modes below PROBE).
    pub fn uses_path_mtu(self) -> bool {
        matches!(self, PmtuDisc::Dont | PmtuDisc::Want | PmtuDisc::Do)
    }
}

/// Linux's ip_rt_min_pmtu: a "fragmentation needed" naming less is taken as this, and the path's
/// MTU is then locked (a WANT datagram no longer bears DF: the path cannot be trusted to say more).
pub const MIN_PATH_MTU: usize = 552;
/// How long a learnt path MTU holds (Linux's ip_rt_mtu_expires, 10 minutes).
const PATH_MTU_EXPIRES: Duration = Duration::from_secs(600);
/// Destinations whose path MTU is remembered at most (the oldest goes first).
const PATH_MTUS: usize = 256;

/// A path MTU learnt from an ICMP "fragmentation needed" (RFC 1191), as Linux keeps one per
/// destination in its route exceptions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PathMtu {
    dst: Ipv4Addr,
    mtu: u16,
    locked: bool,
    until: Instant,
}

impl Net {
    /// An ICMP "fragmentation needed" for a packet to `dst` says the path takes `mtu` (Linux's
    /// __ip_rt_update_pmtu): kept for 10 minutes if below what is known, or renewed for 10
    /// minutes if equal and half the time has gone (a path still too narrow keeps saying so);
    /// below 552, 552 and locked, and a locked one is left as it is.
    pub(crate) fn learn_path_mtu(&mut self, now: Instant, dst: Ipv4Addr, mtu: u16) {
        let known = self.learnt_path(now, dst);
        if known.is_some_and(|p| p.locked) {
            return;
        }
        let old = known.map_or(self.iface.mtu, |p| usize::from(p.mtu));
        let (mtu, locked) = if usize::from(mtu) < MIN_PATH_MTU {
            (MIN_PATH_MTU.min(old), true)
        } else {
            (usize::from(mtu), false)
        };
        if mtu > old || mtu >= self.iface.mtu && !locked {
            return;
        }
        let fresh = |p: &PathMtu| p.until.saturating_since(now) > PATH_MTU_EXPIRES / 2;
        if mtu == old && !locked && known.is_some_and(fresh) {
            return;
        }
        self.path_mtus.retain(|p| p.dst != dst && p.until > now);
        if self.path_mtus.len() >= PATH_MTUS {
            self.path_mtus.remove(0);
        }
        self.path_mtus.push(PathMtu {
            dst,
            mtu: mtu as u16,
            locked,
            until: now + PATH_MTU_EXPIRES,
        });
        if mtu < old || locked {
            self.path_mtus_learnt += 1;
        }
    }

    /// The MTU of the path to `dst` (the interface's unless one was learnt), and whether it is
    /// locked (see [`MIN_PATH_MTU`]).
    pub(crate) fn path_mtu(&self, now: Instant, dst: Ipv4Addr) -> (usize, bool) {
        self.learnt_path(now, dst)
            .map_or((self.iface.mtu, false), |p| (usize::from(p.mtu), p.locked))
    }

    /// How long the path MTU learnt for `dst` holds, if one was.
    pub(crate) fn path_mtu_left(&self, now: Instant, dst: Ipv4Addr) -> Option<Duration> {
        self.learnt_path(now, dst)
            .map(|p| p.until.saturating_since(now))
    }

    /// What was learnt of the path to `dst` and still holds.
    fn learnt_path(&self, now: Instant, dst: Ipv4Addr) -> Option<&PathMtu> {
        self.path_mtus
            .iter()
            .find(|p| p.dst == dst && p.until > now)
    }

    /// A new connection to `dst` fits the path MTU learnt to it, if any
    /// ([`crate::tcp::Connection::fit_path_mtu`]).
    pub(crate) fn fit_to_path(
        &self,
        now: Instant,
        dst: Ipv4Addr,
        conn: &mut crate::tcp::Connection,
    ) {
        let (mtu, _) = self.path_mtu(now, dst);
        if mtu < self.iface.mtu {
            conn.fit_path_mtu(mtu);
        }
    }

    pub(crate) fn push_frame(&mut self, frame: Vec<u8>) {
        self.stats.frames_out += 1;
        self.tx.push_back(frame);
    }

    pub(crate) fn send_arp(&mut self, dst: MacAddr, repr: &ArpRepr) {
        let Some(mut frame) = memory::try_frame(ethernet::HEADER_LEN + repr.buffer_len()) else {
            // Out of memory: lost as a frame a full NIC drops; ARP asks again.
            return;
        };
        let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
        EthernetRepr {
            src: self.iface.mac,
            dst,
            ethertype: EtherType::ARP,
        }
        .emit(&mut eth);
        repr.emit(&mut ArpPacket::new_unchecked(eth.payload_mut()));
        self.push_frame(frame);
    }

    /// An upper layer's proof that `peer` hears us: its next hop's entry is REACHABLE again.
    pub(crate) fn confirm_neighbour(&mut self, now: Instant, peer: Ipv4Addr) {
        if let Ok(NextHop::Neighbour(hop)) = self.iface.route(peer) {
            self.neighbours.confirm(now, hop);
        }
    }

    /// An ARP request for `ip`, to `to`: broadcast to resolve, or the address we know to re-probe
    /// an entry (Linux's unicast solicitation).
    pub(crate) fn send_arp_request(&mut self, ip: Ipv4Addr, to: MacAddr) {
        let repr = ArpRepr {
            operation: ArpOperation::Request,
            sender_mac: self.iface.mac,
            sender_ip: self.iface.addr,
            target_mac: MacAddr([0; 6]),
            target_ip: ip,
        };
        self.stats.arp_requests_out += 1;
        self.send_arp(to, &repr);
    }

    fn next_ident(&mut self) -> u16 {
        self.ip_ident = self.ip_ident.wrapping_add(1);
        self.ip_ident
    }

    /// Sends an IP packet of `payload_len` bytes, written by `write(payload, src, dst)`.
    ///
    /// Errors are those Linux reports at send time: ENETUNREACH (no route), EMSGSIZE (too big to
    /// send with DF set, or beyond 65535). A next hop that never answers ARP is reported later, as
    /// EHOSTUNREACH on `owner`.
    // Each argument is a distinct part of the packet; bundling them would only rename the list.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send_ip(
        &mut self,
        now: Instant,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        params: IpParams,
        payload_len: usize,
        owner: Option<SocketHandle>,
        write: impl FnOnce(&mut [u8], Ipv4Addr, Ipv4Addr),
    ) -> Result<(), Errno> {
        // A group is sent on our one link to its own Ethernet address, without ARP (RFC 1112
        // §6.4); the routing table has no say.
        let hop = if dst.is_multicast() {
            NextHop::Multicast {
                loop_back: params.multicast_loop && self.igmp.is_member(dst),
                wire: params.ttl > 0,
            }
        } else {
            self.iface.route(dst)?
        };
        if ipv4::HEADER_LEN + payload_len > 65535 {
            return Err(Errno::EMSGSIZE);
        }
        let src = self.iface.addr;
        let mut repr = Ipv4Repr {
            src_addr: src,
            dst_addr: dst,
            protocol,
            payload_len,
            ttl: params.ttl,
            tos: params.tos,
            ident: params.ident.unwrap_or_else(|| self.next_ident()),
            dont_frag: params.dont_frag,
            more_frags: false,
            frag_offset: 0,
        };
        let mtu = params
            .path_mtu
            .map_or(self.iface.mtu, |m| m.min(self.iface.mtu));
        if ipv4::HEADER_LEN + payload_len <= mtu || params.segmented_by_device {
            let mut frame = self.ip_frame(&repr)?;
            write(
                &mut frame[ethernet::HEADER_LEN + ipv4::HEADER_LEN..],
                src,
                dst,
            );
            return self.dispatch(now, hop, frame, owner);
        }
        if params.dont_frag || !params.may_fragment {
            return Err(Errno::EMSGSIZE);
        }
        // RFC 791 fragmentation: every fragment but the last carries a multiple of 8 bytes.
        let mut payload = memory::try_frame(payload_len).ok_or(Errno::ENOBUFS)?;
        write(&mut payload, src, dst);
        let per_fragment = (mtu - ipv4::HEADER_LEN) & !7;
        for (i, chunk) in payload.chunks(per_fragment).enumerate() {
            repr.payload_len = chunk.len();
            repr.frag_offset = (i * per_fragment) as u16;
            repr.more_frags = (i + 1) * per_fragment < payload_len;
            let mut frame = self.ip_frame(&repr)?;
            frame[ethernet::HEADER_LEN + ipv4::HEADER_LEN..].copy_from_slice(chunk);
            self.stats.ip_fragments_out += 1;
            self.dispatch(now, hop, frame, owner)?;
        }
        Ok(())
    }

    /// A frame with Ethernet and IP headers written and room for the payload; the Ethernet
    /// destination is filled in by [`dispatch`](Self::dispatch). ENOBUFS when there is no memory
    /// for it (Linux's answer when it cannot allocate the packet; TCP sends it again later).
    fn ip_frame(&self, repr: &Ipv4Repr) -> Result<Vec<u8>, Errno> {
        let mut frame =
            memory::try_frame(ethernet::HEADER_LEN + repr.buffer_len()).ok_or(Errno::ENOBUFS)?;
        let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
        EthernetRepr {
            src: self.iface.mac,
            dst: MacAddr([0; 6]),
            ethertype: EtherType::IPV4,
        }
        .emit(&mut eth);
        repr.emit(
            &mut Ipv4Packet::new_unchecked(eth.payload_mut()),
            self.checksum,
        );
        Ok(frame)
    }

    fn dispatch(
        &mut self,
        now: Instant,
        hop: NextHop,
        mut frame: Vec<u8>,
        owner: Option<SocketHandle>,
    ) -> Result<(), Errno> {
        match hop {
            NextHop::Local => {
                frame[0..6].copy_from_slice(&self.iface.mac.0);
                self.loopback.push_back(frame);
            }
            NextHop::Broadcast => {
                frame[0..6].copy_from_slice(&MacAddr::BROADCAST.0);
                // Linux's ip_mc_output: a route to a broadcast (RTCF_BROADCAST) loops a copy
                // back to our own sockets, whatever IP_MULTICAST_LOOP says, before the frame
                // goes on the wire; the sender's own socket takes it too if bound to that port.
                self.loopback.push_back(frame.clone());
                self.push_frame(frame);
            }
            NextHop::Multicast { loop_back, wire } => {
                let group = Ipv4Addr::from(
                    <[u8; 4]>::try_from(
                        &frame[ethernet::HEADER_LEN + 16..ethernet::HEADER_LEN + 20],
                    )
                    .expect("an IP header is there"),
                );
                frame[0..6].copy_from_slice(&MacAddr::ipv4_multicast(group).0);
                // Linux's ip_mc_output: the copy for our own members first; a TTL of 0 goes
                // nowhere else.
                if loop_back {
                    self.loopback.push_back(frame.clone());
                }
                if wire {
                    self.push_frame(frame);
                }
            }
            NextHop::Neighbour(ip) => {
                match self
                    .neighbours
                    .resolve_or_queue(now, ip, QueuedFrame { frame, owner })
                {
                    Resolution::Ready(mac, mut frame) => {
                        frame[0..6].copy_from_slice(&mac.0);
                        self.push_frame(frame);
                    }
                    Resolution::Queued {
                        ask,
                        dropped_oldest,
                    } => {
                        if dropped_oldest {
                            self.stats.arp_queue_overflows += 1;
                        }
                        if ask {
                            self.send_arp_request(ip, MacAddr::BROADCAST);
                        }
                    }
                    Resolution::Dropped => {
                        // The neighbour table is full of other hosts: as if the host did not answer.
                        self.stats.arp_failures += 1;
                        return Err(Errno::EHOSTUNREACH);
                    }
                }
            }
        }
        Ok(())
    }

    /// Records that neighbour `ip` is at `mac` ([`crate::arp::NeighbourCache::learn`]: `create`,
    /// `confirmed`) and sends it the frames that were waiting for its address.
    pub(crate) fn learn_neighbour(
        &mut self,
        now: Instant,
        ip: Ipv4Addr,
        mac: MacAddr,
        create: bool,
        confirmed: bool,
    ) {
        for mut frame in self.neighbours.learn(now, ip, mac, create, confirmed) {
            frame[0..6].copy_from_slice(&mac.0);
            self.push_frame(frame);
        }
    }

    /// Sends an ICMP message to `dst` in a packet whose TOS byte is `tos` (see [`icmp::reply_tos`]
    /// and [`icmp::error_tos`]).
    pub(crate) fn send_icmp(
        &mut self,
        now: Instant,
        dst: Ipv4Addr,
        tos: u8,
        repr: &Icmpv4Repr<'_>,
        owner: Option<SocketHandle>,
    ) -> Result<(), Errno> {
        let checksum = self.checksum;
        self.send_ip(
            now,
            dst,
            IpProtocol::ICMP,
            IpParams {
                tos,
                ..IpParams::default()
            },
            repr.buffer_len(),
            owner,
            |buf, _, _| repr.emit(&mut Icmpv4Packet::new_unchecked(buf), checksum),
        )
    }
}

impl Stack {
    /// Sends an ICMP error about `dg`, unless RFC 1122 §3.2.2 forbids it or the rate limit is hit.
    fn send_icmp_error(
        &mut self,
        now: Instant,
        about: &Ipv4Repr,
        payload: &[u8],
        broadcast: bool,
        make: impl FnOnce(Ipv4Repr, &[u8]) -> Icmpv4Repr<'_>,
    ) {
        let is_error = about.protocol == IpProtocol::ICMP
            && payload
                .first()
                .is_some_and(|&t| !matches!(t, 0 | 8 | 13 | 14 | 15 | 16 | 17 | 18));
        if !icmp::may_send_error_about(about.src_addr, broadcast, is_error, about.frag_offset) {
            return;
        }
        let quoted = &payload[..payload.len().min(MAX_QUOTE - ipv4::HEADER_LEN)];
        let repr = make(*about, quoted);
        if !self.icmp_limits_allow(now, &repr, about.src_addr) {
            return;
        }
        self.net.stats.icmp_errors_out += 1;
        let tos = icmp::error_tos(about.tos);
        let _ = self.net.send_icmp(now, about.src_addr, tos, &repr, None);
    }

    /// Answers a request (echo, timestamp) whose IP header was `request` with `reply`, in a packet
    /// with the request's TOS (Linux's icmp_reply), if the ICMP limits let it go; true if sent.
    pub(super) fn send_icmp_reply(
        &mut self,
        now: Instant,
        request: &Ipv4Repr,
        reply: &Icmpv4Repr<'_>,
    ) -> bool {
        if !self.icmp_limits_allow(now, reply, request.src_addr) {
            return false;
        }
        let tos = icmp::reply_tos(request.tos);
        self.net
            .send_icmp(now, request.src_addr, tos, reply, None)
            .is_ok()
    }

    /// Whether the ICMP limits let `repr` go to `dst` now (paying for it if so); counts it if
    /// not. Replies pass the same test as errors, as in Linux's icmp_reply, though the default
    /// `icmp_ratemask` limits no reply.
    fn icmp_limits_allow(&mut self, now: Instant, repr: &Icmpv4Repr<'_>, dst: Ipv4Addr) -> bool {
        let (msg_type, code) = repr.type_and_code();
        let to_ourselves = dst == self.net.iface.addr;
        match self
            .icmp_limits
            .allow(now, msg_type, code, dst, to_ourselves)
        {
            Ok(()) => true,
            Err(icmp::Limited::HostWide) => {
                self.net.stats.icmp_rate_limited += 1;
                false
            }
            Err(icmp::Limited::Destination) => {
                self.net.stats.icmp_rate_limited_destination += 1;
                false
            }
        }
    }

    pub(super) fn send_unreachable(
        &mut self,
        now: Instant,
        dg: &Datagram<'_>,
        reason: DstUnreachable,
    ) {
        let broadcast = dg.broadcast || dg.link_broadcast;
        self.send_icmp_error(now, &dg.repr, dg.payload, broadcast, |header, data| {
            Icmpv4Repr::DstUnreachable {
                reason,
                header,
                data,
            }
        });
    }

    /// ICMP time exceeded, code 1: a datagram's fragments did not all arrive in time (RFC 792).
    pub(super) fn send_reassembly_timeout(&mut self, now: Instant, expired: &Expired) {
        let Ok((header, data)) = Ipv4Repr::parse_quoted(&expired.quote) else {
            return;
        };
        // The error is about the whole datagram, which starts at offset 0.
        let header = Ipv4Repr {
            frag_offset: 0,
            ..header
        };
        // Nor for a first fragment in a link-layer broadcast frame (ip_expire sends about it,
        // and __icmp_send answers no packet that was not PACKET_HOST).
        let broadcast = header.dst_addr != self.net.iface.addr || expired.link_broadcast;
        self.send_icmp_error(now, &header, data, broadcast, |header, data| {
            Icmpv4Repr::TimeExceeded {
                reason: TimeExceeded::FragReassembly,
                header,
                data,
            }
        });
    }
}
