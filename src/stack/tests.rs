//! The stack's behaviour with no device and no clock: frames in, frames out, virtual time.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::*;
use crate::device::DeviceCaps;
use crate::error::Errno;
use crate::rand::Rng;
use crate::time::{Duration, Instant};
use crate::wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use crate::wire::ethernet::{EtherType, EthernetFrame, EthernetRepr, HEADER_LEN as ETH_LEN};
use crate::wire::icmp::{DstUnreachable, Icmpv4Packet, Icmpv4Repr, TimeExceeded};
use crate::wire::ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};
use crate::wire::tcp::{TcpFlags, TcpOptions, TcpPacket, TcpRepr};
use crate::wire::udp::{UdpPacket, UdpRepr};
use crate::wire::{ChecksumMode, MacAddr};

const A_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const B_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const A_MAC: MacAddr = MacAddr([2, 0x74, 0x73, 0x4d, 0, 2]);
const B_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

fn stack(ip: Ipv4Addr, mac: MacAddr, gateway: Ipv4Addr) -> Stack {
    seeded_stack(ip, mac, gateway, 42)
}

fn seeded_stack(ip: Ipv4Addr, mac: MacAddr, gateway: Ipv4Addr, seed: u64) -> Stack {
    let iface = Interface {
        mac,
        addr: ip,
        prefix_len: 24,
        gateway: Some(gateway),
        mtu: 1500,
    };
    Stack::new(iface, DeviceCaps::default(), seed)
}

fn ours() -> Stack {
    stack(A_IP, A_MAC, B_IP)
}

fn drain(s: &mut Stack) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| s.pop_frame()).collect()
}

fn eth(dst: MacAddr, ethertype: EtherType, payload_len: usize) -> Vec<u8> {
    let mut f = vec![0u8; ETH_LEN + payload_len];
    EthernetRepr {
        src: B_MAC,
        dst,
        ethertype,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut f[..]));
    f
}

fn arp_frame(op: ArpOperation, target_ip: Ipv4Addr) -> Vec<u8> {
    let repr = ArpRepr {
        operation: op,
        sender_mac: B_MAC,
        sender_ip: B_IP,
        target_mac: MacAddr([0; 6]),
        target_ip,
    };
    let mut f = eth(MacAddr::BROADCAST, EtherType::ARP, repr.buffer_len());
    repr.emit(&mut ArpPacket::new_unchecked(&mut f[ETH_LEN..]));
    f
}

/// An IPv4 frame from B to `dst` whose payload is written by `fill`.
fn ip_frame(
    dst: Ipv4Addr,
    protocol: IpProtocol,
    payload_len: usize,
    fill: impl FnOnce(&mut [u8]),
) -> Vec<u8> {
    let repr = Ipv4Repr {
        src_addr: B_IP,
        dst_addr: dst,
        protocol,
        payload_len,
        ttl: 64,
        tos: 0,
        ident: 99,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
    };
    let mut f = eth(A_MAC, EtherType::IPV4, repr.buffer_len());
    repr.emit(
        &mut Ipv4Packet::new_unchecked(&mut f[ETH_LEN..]),
        ChecksumMode::Full,
    );
    fill(&mut f[ETH_LEN + 20..]);
    f
}

fn udp_frame(dst_port: u16, data: &[u8]) -> Vec<u8> {
    udp_frame_between(4444, A_IP, dst_port, data)
}

/// A UDP datagram from B's port `src_port` to `dst`:`dst_port`.
fn udp_frame_between(src_port: u16, dst: Ipv4Addr, dst_port: u16, data: &[u8]) -> Vec<u8> {
    ip_frame(dst, IpProtocol::UDP, 8 + data.len(), |buf| {
        UdpRepr { src_port, dst_port }.emit(
            &mut UdpPacket::new_unchecked(buf),
            B_IP,
            dst,
            data,
            ChecksumMode::Full,
        )
    })
}

fn ping_frame(data: &[u8]) -> Vec<u8> {
    let repr = Icmpv4Repr::EchoRequest {
        ident: 7,
        seq_no: 1,
        data,
    };
    ip_frame(A_IP, IpProtocol::ICMP, repr.buffer_len(), |buf| {
        repr.emit(&mut Icmpv4Packet::new_unchecked(buf), ChecksumMode::Full)
    })
}

/// Parses a frame we sent as IPv4 and returns (header, payload).
fn parse_ip(frame: &[u8]) -> (Ipv4Repr, Vec<u8>) {
    let e = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!(e.ethertype(), EtherType::IPV4);
    let p = Ipv4Packet::new_checked(e.payload()).unwrap();
    let r = Ipv4Repr::parse(&p, ChecksumMode::Full).unwrap();
    (r, p.payload().to_vec())
}

/// Makes A know B's MAC by B asking for A.
fn introduce(a: &mut Stack) {
    a.receive(Instant::ZERO, &arp_frame(ArpOperation::Request, A_IP));
    drain(a);
}

#[test]
fn answers_arp_for_our_address_only_and_learns_the_asker() {
    let mut s = ours();
    s.receive(
        Instant::ZERO,
        &arp_frame(ArpOperation::Request, Ipv4Addr::new(10, 77, 0, 3)),
    );
    assert!(drain(&mut s).is_empty());
    assert!(
        s.neighbours().is_empty(),
        "a request for someone else teaches nothing new"
    );
    s.receive(Instant::ZERO, &arp_frame(ArpOperation::Request, A_IP));
    let out = drain(&mut s);
    assert_eq!(out.len(), 1);
    let e = EthernetFrame::new_checked(&out[0][..]).unwrap();
    assert_eq!(
        (e.dst_addr(), e.src_addr(), e.ethertype()),
        (B_MAC, A_MAC, EtherType::ARP)
    );
    let r = ArpRepr::parse(&ArpPacket::new_checked(e.payload()).unwrap()).unwrap();
    assert_eq!(r.operation, ArpOperation::Reply);
    assert_eq!(
        (r.sender_mac, r.sender_ip, r.target_mac, r.target_ip),
        (A_MAC, A_IP, B_MAC, B_IP)
    );
    assert_eq!(s.neighbours(), vec![(B_IP, B_MAC)]);
}

#[test]
fn an_unsolicited_arp_reply_adds_no_neighbour() {
    // Linux with arp_accept=0: a reply nobody asked for is not cached, even one addressed to us.
    let mut s = ours();
    let mut reply = arp_frame(ArpOperation::Reply, A_IP);
    reply[0..6].copy_from_slice(&A_MAC.0);
    s.receive(Instant::ZERO, &reply);
    assert!(drain(&mut s).is_empty());
    assert!(s.neighbours().is_empty());
    assert_eq!(s.stats().arp_in, 1);
    // Once B asks for us it is known, and its replies keep the entry fresh.
    introduce(&mut s);
    s.receive(Instant::ZERO, &reply);
    assert_eq!(s.neighbours(), vec![(B_IP, B_MAC)]);
}

#[test]
fn a_full_arp_queue_drops_its_oldest_frame_and_counts_it() {
    let mut s = ours();
    let h = s.udp_socket().unwrap();
    let to = Some(SocketAddrV4::new(B_IP, 53));
    for i in 0..=ArpConfig::default().max_queued {
        s.udp_send_to(Instant::ZERO, h, &[i as u8], to)
            .expect("queued: no error for the sender");
    }
    assert_eq!(s.stats().arp_queue_overflows, 1);
    assert_eq!(drain(&mut s).len(), 1, "one ARP request");
    let mut reply = arp_frame(ArpOperation::Reply, A_IP);
    reply[0..6].copy_from_slice(&A_MAC.0);
    s.receive(Instant::ZERO, &reply);
    let out = drain(&mut s);
    assert_eq!(out.len(), ArpConfig::default().max_queued);
    assert_eq!(
        parse_ip(&out[0]).1[8],
        1,
        "the first datagram was the one dropped"
    );
    assert_eq!(s.take_socket_error(h), None);
}

#[test]
fn echo_reply_carries_the_request_data() {
    let mut s = ours();
    introduce(&mut s);
    let data: Vec<u8> = (0..1400).map(|i| i as u8).collect();
    s.receive(Instant::ZERO, &ping_frame(&data));
    let out = drain(&mut s);
    assert_eq!(out.len(), 1);
    let (ip, payload) = parse_ip(&out[0]);
    assert_eq!((ip.src_addr, ip.dst_addr, ip.ttl), (A_IP, B_IP, 64));
    let icmp = Icmpv4Repr::parse(
        &Icmpv4Packet::new_checked(&payload[..]).unwrap(),
        ChecksumMode::Full,
    )
    .unwrap();
    assert_eq!(
        icmp,
        Icmpv4Repr::EchoReply {
            ident: 7,
            seq_no: 1,
            data: &data
        }
    );
}

/// `frame` (from B, IPv4) with its TOS byte set to `tos`.
fn with_tos(mut frame: Vec<u8>, tos: u8) -> Vec<u8> {
    let mut p = Ipv4Packet::new_unchecked(&mut frame[ETH_LEN..]);
    p.set_tos(tos);
    p.fill_checksum();
    frame
}

/// The TOS bytes the kernel beside the stack sends: a reply (echo, timestamp) carries the
/// request's whole byte (icmp_reply); an error carries the offending datagram's TOS field under
/// precedence internetwork control (__icmp_send), 0x2b giving 0xca and 0x10 0xd0 — a fragment's
/// reassembly timeout included (ip_expire sends it about the first fragment).
#[test]
fn icmp_replies_and_errors_carry_the_tos_linux_gives_them() {
    let mut s = ours();
    introduce(&mut s);
    let tos_of_answer = |s: &mut Stack| {
        // Not the ARP probe of B that a poll 30 s on may send.
        let out: Vec<_> = drain(s)
            .into_iter()
            .filter(|f| EthernetFrame::new_checked(&f[..]).unwrap().ethertype() == EtherType::IPV4)
            .collect();
        assert_eq!(out.len(), 1, "one answer");
        parse_ip(&out[0]).0.tos
    };
    let t = Instant::ZERO;
    s.receive(t, &with_tos(ping_frame(b"tos"), 0x2b));
    assert_eq!(tos_of_answer(&mut s), 0x2b);
    s.receive(t, &with_tos(timestamp_frame(&[0; 12]), 0x2b));
    assert_eq!(tos_of_answer(&mut s), 0x2b);
    for (tos, error_tos) in [(0x2b, 0xca), (0x10, 0xd0), (0, 0xc0)] {
        s.receive(t, &with_tos(udp_frame(5001, b"closed"), tos));
        assert_eq!(tos_of_answer(&mut s), error_tos);
    }
    let mut fragment = with_tos(udp_frame(5000, &[1u8; 64]), 0x2b);
    let mut p = Ipv4Packet::new_unchecked(&mut fragment[ETH_LEN..]);
    p.set_more_frags(true);
    p.fill_checksum();
    s.receive(t, &fragment);
    s.poll(t + Duration::from_secs(30));
    assert_eq!(tos_of_answer(&mut s), 0xca);
}

/// A timestamp request with `data` after the ICMP header (RFC 792: 12 bytes, the originate time
/// first).
fn timestamp_frame(data: &[u8]) -> Vec<u8> {
    ip_frame(A_IP, IpProtocol::ICMP, 8 + data.len(), |buf| {
        buf[..8].copy_from_slice(&[13, 0, 0, 0, 0x12, 0x34, 0, 9]);
        buf[8..].copy_from_slice(data);
        Icmpv4Packet::new_unchecked(buf).fill_checksum();
    })
}

/// A timestamp reply's identifier, sequence number and times.
fn timestamp_reply(out: &[u8]) -> (u16, u16, crate::wire::icmp::Timestamps) {
    let (_, payload) = parse_ip(out);
    match Icmpv4Repr::parse(
        &Icmpv4Packet::new_checked(&payload[..]).unwrap(),
        ChecksumMode::Full,
    ) {
        Ok(Icmpv4Repr::TimestampReply {
            ident,
            seq_no,
            times,
        }) => (ident, seq_no, times),
        other => panic!("not a timestamp reply: {other:?}"),
    }
}

#[test]
fn timestamp_reply_carries_the_wall_clock_as_linux_does() {
    use crate::wire::icmp::Timestamps;
    let mut s = ours();
    introduce(&mut s);
    // 2026-12-03 19:01:34.221 UT at our instant 5 s; asked 2.5 s later.
    let since_epoch = std::time::Duration::from_millis(1_796_324_494_221);
    s.set_wall_clock(Instant::from_millis(5_000), since_epoch);
    let request = [0x04, 0x15, 0x23, 0x8d, 0, 0, 0, 0, 0, 0, 0, 0];
    s.receive(Instant::from_millis(7_500), &timestamp_frame(&request));
    let out = drain(&mut s);
    assert_eq!(out.len(), 1);
    let (ip, _) = parse_ip(&out[0]);
    assert_eq!((ip.src_addr, ip.dst_addr, ip.ttl), (A_IP, B_IP, 64));
    let at = (19 * 3600 + 60 + 36) * 1000 + 721; // 19:01:36.721
    assert_eq!(
        timestamp_reply(&out[0]),
        (
            0x1234,
            9,
            Timestamps {
                originate: 0x0415_238d,
                receive: at,
                transmit: at
            }
        )
    );
    // Cut after the originate time: answered all the same (Linux needs those 4 bytes only);
    // shorter, not answered.
    s.receive(Instant::from_millis(7_500), &timestamp_frame(&request[..4]));
    assert_eq!(drain(&mut s).len(), 1);
    s.receive(Instant::from_millis(7_500), &timestamp_frame(&request[..3]));
    assert!(drain(&mut s).is_empty());
}

#[test]
fn timestamp_without_a_wall_clock_is_marked_not_from_midnight() {
    let mut s = ours();
    introduce(&mut s);
    s.receive(Instant::from_millis(1234), &timestamp_frame(&[0; 12]));
    let out = drain(&mut s);
    let (_, _, times) = timestamp_reply(&out[0]);
    // RFC 792: any time, with the high bit set.
    assert_eq!(times.receive, 0x8000_0000 | 1234);
}

#[test]
fn first_packet_to_unknown_neighbour_waits_for_arp() {
    let mut s = ours();
    let h = s.udp_socket().unwrap();
    s.udp_send_to(Instant::ZERO, h, b"hi", Some(SocketAddrV4::new(B_IP, 53)))
        .unwrap();
    let out = drain(&mut s);
    assert_eq!(out.len(), 1, "only the ARP request goes out");
    assert_eq!(
        EthernetFrame::new_checked(&out[0][..]).unwrap().ethertype(),
        EtherType::ARP
    );
    let mut reply = arp_frame(ArpOperation::Reply, A_IP);
    reply[0..6].copy_from_slice(&A_MAC.0);
    s.receive(Instant::ZERO, &reply);
    let out = drain(&mut s);
    assert_eq!(out.len(), 1, "the queued datagram follows the reply");
    let (ip, payload) = parse_ip(&out[0]);
    assert_eq!(ip.protocol, IpProtocol::UDP);
    assert_eq!(&payload[8..], b"hi");
}

#[test]
fn udp_delivery_and_port_unreachable() {
    let mut s = ours();
    introduce(&mut s);
    let h = s.udp_socket().unwrap();
    s.udp_bind(h, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5000))
        .unwrap();
    s.receive(Instant::ZERO, &udp_frame(5000, b"payload"));
    assert_eq!(s.take_woken(), vec![h]);
    let mut buf = [0u8; 64];
    let r = s.udp_recv_from(h, &mut buf, false).unwrap();
    assert_eq!(
        (&buf[..r.copied], r.from),
        (&b"payload"[..], SocketAddrV4::new(B_IP, 4444))
    );
    assert!(drain(&mut s).is_empty());

    // Nobody on 5001: ICMP port unreachable quoting our header and the UDP header.
    let frame = udp_frame(5001, b"nobody home");
    s.receive(Instant::ZERO, &frame);
    let out = drain(&mut s);
    assert_eq!(out.len(), 1);
    let (ip, payload) = parse_ip(&out[0]);
    assert_eq!(ip.dst_addr, B_IP);
    let icmp = Icmpv4Repr::parse(
        &Icmpv4Packet::new_checked(&payload[..]).unwrap(),
        ChecksumMode::Full,
    )
    .unwrap();
    let Icmpv4Repr::DstUnreachable {
        reason,
        header,
        data,
    } = icmp
    else {
        panic!("{icmp:?}")
    };
    assert_eq!(reason, DstUnreachable::PortUnreachable);
    assert_eq!((header.src_addr, header.dst_addr), (B_IP, A_IP));
    assert_eq!(data, &frame[ETH_LEN + 20..]);
    assert_eq!(s.stats().udp_no_port, 1);

    // Binding twice, or to an address that is not ours, fails as on Linux.
    let h2 = s.udp_socket().unwrap();
    assert_eq!(
        s.udp_bind(h2, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5000)),
        Err(Errno::EADDRINUSE)
    );
    assert_eq!(
        s.udp_bind(h2, SocketAddrV4::new(Ipv4Addr::new(1, 2, 3, 4), 1)),
        Err(Errno::EADDRNOTAVAIL)
    );
    assert_eq!(
        s.udp_send_to(Instant::ZERO, h2, b"", None),
        Err(Errno::EDESTADDRREQ)
    );
    assert_eq!(
        s.udp_send_to(
            Instant::ZERO,
            h2,
            &vec![0; 65508],
            Some(SocketAddrV4::new(B_IP, 1))
        ),
        Err(Errno::EMSGSIZE)
    );
}

/// The tester's flood beside the kernel: 100 datagrams at once to closed ports draw 6 port
/// unreachables from Linux (inet_peer_xrlim_allow's burst, net.ipv4.icmp_ratelimit 1000 ms), then
/// one a second; the host-wide limit alone let 50 go. Our own datagrams to a closed port of ours
/// are answered every time (Linux's errors over lo are not limited).
#[test]
fn port_unreachables_are_limited_per_destination_as_on_linux() {
    let mut s = ours();
    introduce(&mut s);
    let t = Instant::from_millis(10_000);
    let flood = |s: &mut Stack, at| {
        for port in 20_000..20_100 {
            s.receive(at, &udp_frame(port, b"x"));
        }
        drain(s).len()
    };
    assert_eq!(flood(&mut s, t), 6);
    assert_eq!(s.stats().icmp_rate_limited_destination, 94);
    assert_eq!(flood(&mut s, t + Duration::from_millis(1700)), 1);
    // 700 ms were left over: a second's worth again 300 ms later.
    assert_eq!(flood(&mut s, t + Duration::from_millis(1999)), 0);
    assert_eq!(flood(&mut s, t + Duration::from_millis(2000)), 1);
    assert_eq!(s.stats().udp_no_port, 400);

    let h = s.udp_socket().unwrap();
    let before = s.stats().icmp_errors_out;
    for _ in 0..20 {
        s.udp_send_to(t, h, b"me", Some(SocketAddrV4::new(A_IP, 9)))
            .unwrap();
    }
    s.poll(t);
    s.poll(t);
    assert_eq!(s.stats().icmp_errors_out - before, 20);
    assert!(drain(&mut s).is_empty());

    // With net.ipv4.icmp_ratelimit 0, the host-wide limit alone: a burst of 50.
    let mut s = ours();
    introduce(&mut s);
    s.set_icmp_limits(crate::icmp::LimitSettings {
        per_destination: Duration::ZERO,
        ..crate::icmp::LimitSettings::LINUX
    });
    assert_eq!(flood(&mut s, t), 50);
    assert_eq!(s.stats().icmp_rate_limited, 50);
}

/// SO_REUSEPORT (Linux's udp_lib_lport_inuse and lookup_reuseport): sockets of one owner that all
/// set it share a port, others (with SO_REUSEADDR alone, or another user's) are refused; unicast
/// is spread over the
/// group by sender, each sender always reaching the same socket; a broadcast reaches each. A
/// datagram tells where it was sent, its TTL and its TOS (what IP_PKTINFO, IP_RECVTTL and
/// IP_RECVTOS report).
#[test]
fn udp_sockets_with_so_reuseport_share_a_port_by_sender() {
    let mut s = ours();
    introduce(&mut s);
    let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 6000);
    let group: Vec<_> = (0..2)
        .map(|_| {
            let h = s.udp_socket().unwrap();
            s.udp_socket_mut(h).unwrap().reuse_port = true;
            s.udp_bind(h, any).unwrap();
            h
        })
        .collect();
    let reuse_addr_only = s.udp_socket().unwrap();
    s.udp_socket_mut(reuse_addr_only).unwrap().reuse_addr = true;
    assert_eq!(s.udp_bind(reuse_addr_only, any), Err(Errno::EADDRINUSE));
    let another_users = s.udp_socket().unwrap();
    let u = s.udp_socket_mut(another_users).unwrap();
    (u.reuse_port, u.owner) = (true, 1000);
    assert_eq!(s.udp_bind(another_users, any), Err(Errno::EADDRINUSE));

    let mut buf = [0u8; 16];
    let mut got_by = [0usize; 2];
    for port in 7000..7032u16 {
        let mut taker = None;
        for _ in 0..2 {
            s.receive(Instant::ZERO, &udp_frame_between(port, A_IP, 6000, b"q"));
            let who = group
                .iter()
                .position(|&h| s.udp_recv_from(h, &mut buf, false).is_ok())
                .expect("one of the group took it");
            assert_eq!(*taker.get_or_insert(who), who, "sender {port} moved");
        }
        got_by[taker.unwrap()] += 1;
    }
    assert!(got_by.iter().all(|&n| n > 0), "spread: {got_by:?}");

    let bcast = Ipv4Addr::new(10, 77, 0, 255);
    s.receive(Instant::ZERO, &udp_frame_between(7000, bcast, 6000, b"all"));
    for &h in &group {
        let r = s.udp_recv_from(h, &mut buf, false).unwrap();
        assert_eq!(
            r.arrival,
            crate::udp::Arrival {
                dst: bcast,
                ttl: 64,
                tos: 0
            }
        );
    }
    assert!(drain(&mut s).is_empty(), "no ICMP error was sent");
}

/// Linux lets UDP sockets share a port when every one of them set SO_REUSEADDR
/// (udp_lib_lport_inuse), and picks the receiver by score (compute_score): iperf3's UDP server
/// connects its listening socket to the client and binds a new one to the same port.
#[test]
fn udp_sockets_with_so_reuseaddr_share_a_port() {
    let mut s = ours();
    introduce(&mut s);
    let any = |port| SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
    let reusing = |s: &mut Stack| {
        let h = s.udp_socket().unwrap();
        s.udp_socket_mut(h).unwrap().reuse_addr = true;
        h
    };
    let first = reusing(&mut s);
    s.udp_bind(first, any(5000)).unwrap();
    let plain = s.udp_socket().unwrap();
    assert_eq!(s.udp_bind(plain, any(5000)), Err(Errno::EADDRINUSE));
    assert_eq!(
        s.udp_bind(plain, SocketAddrV4::new(A_IP, 5000)),
        Err(Errno::EADDRINUSE)
    );

    s.udp_connect(first, Some(SocketAddrV4::new(B_IP, 4444)))
        .unwrap();
    let second = reusing(&mut s);
    s.udp_bind(second, any(5000)).unwrap();
    // The client's datagram goes to the socket connected to it; another sender's to the new one.
    let mut buf = [0u8; 16];
    s.receive(
        Instant::ZERO,
        &udp_frame_between(4444, A_IP, 5000, b"client"),
    );
    s.receive(
        Instant::ZERO,
        &udp_frame_between(4445, A_IP, 5000, b"other"),
    );
    let r = s.udp_recv_from(first, &mut buf, false).unwrap();
    assert_eq!(&buf[..r.copied], b"client");
    let r = s.udp_recv_from(second, &mut buf, false).unwrap();
    assert_eq!((&buf[..r.copied], r.from.port()), (&b"other"[..], 4445));
    assert_eq!(s.udp_recv_from(first, &mut buf, false), Err(Errno::EAGAIN));

    // Of two unconnected sockets, a specific address wins over 0.0.0.0, and among equals the one
    // that bound last; a broadcast goes to each.
    let third = reusing(&mut s);
    s.udp_bind(third, any(5000)).unwrap();
    s.receive(Instant::ZERO, &udp_frame_between(4445, A_IP, 5000, b"last"));
    assert_eq!(s.udp_recv_from(third, &mut buf, false).unwrap().copied, 4);
    assert_eq!(s.udp_recv_from(second, &mut buf, false), Err(Errno::EAGAIN));
    let specific = reusing(&mut s);
    s.udp_bind(specific, SocketAddrV4::new(A_IP, 5000)).unwrap();
    s.receive(Instant::ZERO, &udp_frame_between(4445, A_IP, 5000, b"spec"));
    assert_eq!(
        s.udp_recv_from(specific, &mut buf, false).unwrap().copied,
        4
    );
    let bcast = Ipv4Addr::new(10, 77, 0, 255);
    s.receive(Instant::ZERO, &udp_frame_between(4445, bcast, 5000, b"all"));
    for h in [second, third] {
        assert_eq!(s.udp_recv_from(h, &mut buf, false).unwrap().copied, 3);
    }
    assert_eq!(
        s.udp_recv_from(specific, &mut buf, false),
        Err(Errno::EAGAIN)
    );
    assert_eq!(s.udp_recv_from(first, &mut buf, false), Err(Errno::EAGAIN));

    // The port stays taken until the last of them closes.
    for h in [first, second, third] {
        s.close(Instant::ZERO, h).unwrap();
        assert_eq!(s.udp_bind(plain, any(5000)), Err(Errno::EADDRINUSE));
    }
    s.close(Instant::ZERO, specific).unwrap();
    s.udp_bind(plain, any(5000)).unwrap();
    assert!(drain(&mut s).is_empty(), "no ICMP error was sent");
}

#[test]
fn connected_udp_socket_learns_port_unreachable() {
    let mut a = ours();
    let mut b = stack(B_IP, B_MAC, A_IP);
    let h = a.udp_socket().unwrap();
    a.udp_connect(h, Some(SocketAddrV4::new(B_IP, 9))).unwrap();
    a.udp_send_to(Instant::ZERO, h, b"x", None).unwrap();
    exchange(&mut a, &mut b, Instant::ZERO);
    assert_eq!(b.stats().udp_no_port, 1);
    let mut buf = [0u8; 8];
    assert_eq!(
        a.udp_recv_from(h, &mut buf, false),
        Err(Errno::ECONNREFUSED)
    );
    assert_eq!(a.udp_recv_from(h, &mut buf, false), Err(Errno::EAGAIN));
}

#[test]
fn udp_hears_soft_errors_and_unconnected_errors_only_with_ip_recverr() {
    // Linux's __udp4_lib_err: without IP_RECVERR only a hard error reaches a connected socket;
    // with it any error reaches the socket a reply would reach, connected or not.
    let mut buf = [0u8; 8];
    for recv_err in [false, true] {
        let mut a = ours();
        introduce(&mut a);
        let connected = a.udp_socket().unwrap();
        a.udp_connect(connected, Some(SocketAddrV4::new(B_IP, 9)))
            .unwrap();
        a.udp_socket_mut(connected).unwrap().recv_err = recv_err;
        let unconnected = a.udp_socket().unwrap();
        a.udp_bind(unconnected, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 4000))
            .unwrap();
        a.udp_socket_mut(unconnected).unwrap().recv_err = recv_err;
        for (h, to, reason, hard) in [
            (
                connected,
                None,
                DstUnreachable::HostUnreachable,
                Errno::EHOSTUNREACH,
            ),
            (
                connected,
                None,
                DstUnreachable::PortUnreachable,
                Errno::ECONNREFUSED,
            ),
            (
                unconnected,
                Some(SocketAddrV4::new(B_IP, 9)),
                DstUnreachable::PortUnreachable,
                Errno::ECONNREFUSED,
            ),
        ] {
            a.udp_send_to(Instant::ZERO, h, b"x", to).unwrap();
            let sent = drain(&mut a).pop().expect("the datagram");
            a.receive(Instant::ZERO, &unreachable_about(&sent, reason));
            let heard = recv_err || (h == connected && hard == Errno::ECONNREFUSED);
            let want = if heard { Err(hard) } else { Err(Errno::EAGAIN) };
            assert_eq!(
                a.udp_recv_from(h, &mut buf, false).map(|_| ()),
                want,
                "IP_RECVERR {recv_err}, {reason:?}, connected {}",
                h == connected
            );
        }
    }
}

/// An ICMP destination unreachable from B about `frame`, which A sent: it quotes A's IP header and
/// the first eight bytes after it, as RFC 792 asks.
fn unreachable_about(frame: &[u8], reason: DstUnreachable) -> Vec<u8> {
    let (header, payload) = parse_ip(frame);
    let repr = Icmpv4Repr::DstUnreachable {
        reason,
        header,
        data: &payload[..8],
    };
    ip_frame(A_IP, IpProtocol::ICMP, repr.buffer_len(), |buf| {
        repr.emit(&mut Icmpv4Packet::new_unchecked(buf), ChecksumMode::Full)
    })
}

#[test]
fn tcp_connect_to_a_broadcast_address_is_refused_at_once() {
    let mut a = ours();
    for ip in [
        Ipv4Addr::new(10, 77, 0, 255),
        Ipv4Addr::BROADCAST,
        Ipv4Addr::new(224, 0, 0, 1),
    ] {
        let h = a.tcp_socket().unwrap();
        let r = a.tcp_connect(Instant::ZERO, h, SocketAddrV4::new(ip, 80));
        assert_eq!(r, Err(Errno::ENETUNREACH), "{ip}");
    }
    assert!(drain(&mut a).is_empty());
}

#[test]
fn icmp_unreachable_fails_a_connection_attempt_at_once() {
    let mut a = ours();
    introduce(&mut a);
    let h = a.tcp_socket().unwrap();
    a.tcp_connect(Instant::ZERO, h, SocketAddrV4::new(B_IP, 80))
        .unwrap();
    let syn = drain(&mut a).pop().expect("a SYN");
    // An error quoting a sequence number we never sent is forged or stale: ignored (RFC 5927).
    let mut stale = syn.clone();
    stale[ETH_LEN + 20 + 4] ^= 0x80;
    a.receive(
        Instant::ZERO,
        &unreachable_about(&stale, DstUnreachable::HostUnreachable),
    );
    assert_eq!(a.tcp_connect_status(h), Err(Errno::EAGAIN));
    // The real one ends the attempt with its errno, as Linux does even for a "soft" code.
    let t = Instant::from_millis(10);
    a.receive(t, &unreachable_about(&syn, DstUnreachable::HostUnreachable));
    assert_eq!(a.tcp_connect_status(h), Err(Errno::EHOSTUNREACH));
}

#[test]
fn icmp_soft_error_names_the_timeout_of_an_established_connection() {
    let (mut a, _b, h, _) = tcp_pair(2);
    a.tcp_send(Instant::ZERO, h, b"hello").unwrap();
    let data = drain(&mut a).pop().expect("a data segment");
    a.receive(
        Instant::ZERO,
        &unreachable_about(&data, DstUnreachable::HostUnreachable),
    );
    // Soft: the connection goes on retransmitting...
    assert!(a.tcp_readiness(h).writable);
    // ...and when it gives up, it says why (Linux: "No route to host", not ETIMEDOUT).
    let mut now = Instant::ZERO;
    for _ in 0..200 {
        now += Duration::from_millis(500);
        a.poll(now);
        drain(&mut a);
    }
    let mut buf = [0u8; 8];
    assert_eq!(
        a.tcp_recv(now, h, &mut buf, false),
        Err(Errno::EHOSTUNREACH)
    );
}

#[test]
fn fragmentation_needed_shrinks_segments_and_resends_at_once() {
    let (mut a, mut b, h, _) = tcp_pair(15);
    a.tcp_send(Instant::ZERO, h, &[7u8; 4000]).unwrap();
    let sent = drain(&mut a);
    assert!(sent.iter().any(|f| f.len() == ETH_LEN + 1500));
    let big = &sent[0];
    // A report with an MTU we already fit, or about data not in flight, changes nothing.
    a.receive(
        Instant::ZERO,
        &unreachable_about(big, DstUnreachable::FragRequired { mtu: 1500 }),
    );
    assert!(drain(&mut a).is_empty());
    let t = Instant::from_millis(1);
    a.receive(
        t,
        &unreachable_about(big, DstUnreachable::FragRequired { mtu: 1000 }),
    );
    let resent = drain(&mut a);
    assert!(!resent.is_empty(), "too-large segments resent at once");
    for f in &resent {
        let (ip, _) = parse_ip(f);
        assert!(20 + ip.payload_len <= 1000, "{} bytes", 20 + ip.payload_len);
    }
    // A forged tiny MTU cannot shrink segments below Linux's 552-byte floor.
    a.receive(
        t,
        &unreachable_about(&resent[0], DstUnreachable::FragRequired { mtu: 68 }),
    );
    a.tcp_send(t, h, &[8u8; 2000]).unwrap();
    let largest = drain(&mut a)
        .iter()
        .map(|f| 20 + parse_ip(f).0.payload_len)
        .max();
    assert_eq!(largest, Some(552));
    // Everything still arrives.
    exchange(&mut a, &mut b, t);
}

/// A connects to B's listener again from the port `client`, and the handshake completes at once.
fn reconnect_from(a: &mut Stack, b: &mut Stack, client: SocketAddrV4, now: Instant) {
    let again = a.tcp_socket().unwrap();
    a.tcp_bind(again, client).unwrap();
    a.tcp_connect(now, again, SocketAddrV4::new(B_IP, PORT))
        .unwrap();
    exchange(a, b, now);
    a.tcp_connect_status(again).unwrap();
}

#[test]
fn a_new_syn_ends_time_wait_and_opens_the_same_ports_again() {
    let (mut a, mut b, h, child) = tcp_pair(15);
    let client = a.local_addr(h).unwrap();
    // The server closes first (as an HTTP/1.0 server does), so it is the one left in TIME-WAIT.
    let mut now = Instant::from_millis(10);
    b.close(now, child).unwrap();
    exchange(&mut a, &mut b, now);
    a.close(now, h).unwrap();
    exchange(&mut a, &mut b, now);
    assert_eq!(
        b.socket_count(),
        2,
        "the listener and the connection in TIME-WAIT"
    );
    // The client comes back from the same port a second later: the kernel would accept its SYN
    // (RFC 6191), and so do we, without a challenge ACK, a RST and a one-second retry.
    now += Duration::from_secs(1);
    reconnect_from(&mut a, &mut b, client, now);
    assert_eq!(b.stats().tcp_resets_out, 0);
    assert!(
        b.socket_count() == 2,
        "the old connection gave way to the new one"
    );
}

/// A client bound to its port (`ncat -p`, `curl --local-port`) that closed first, its connection
/// in TIME-WAIT, connects again from that port to the same server, as on Linux
/// (`__inet_check_established` for a bound socket, `tcp_twsk_unique`): the TIME-WAIT gives way as
/// timestamps were on, and the new connection starts a window past the old one's sequence
/// numbers. The bind itself needs SO_REUSEADDR on the old socket as well as the new one
/// (`inet_bind_conflict`); without timestamps the 4-tuple stays taken (EADDRNOTAVAIL).
#[test]
fn a_bound_client_reconnects_through_its_own_time_wait_as_linux_lets_it() {
    let client = SocketAddrV4::new(A_IP, 45320);
    let server = SocketAddrV4::new(B_IP, PORT);
    let bound = |a: &mut Stack, reuse_addr: bool| {
        let h = a.tcp_socket().unwrap();
        a.tcp_socket_mut(h).unwrap().reuse_addr = reuse_addr;
        a.tcp_bind(h, client).map(|()| h)
    };
    for (first_reuse, timestamps, held) in [
        (true, true, false),
        (false, true, false),
        (true, false, false),
        (true, true, true),
    ] {
        let mut a = ours();
        let mut b = stack(B_IP, B_MAC, A_IP);
        a.tcp_defaults.timestamps = timestamps;
        let l = listen_on(&mut b, 4);
        let h = bound(&mut a, first_reuse).unwrap();
        let mut now = Instant::ZERO;
        a.tcp_connect(now, h, server).unwrap();
        exchange(&mut a, &mut b, now);
        let (child, _) = b.tcp_accept(now, l).unwrap();
        // The client closes first: its side is left in TIME-WAIT. Or it shuts its writing
        // first and holds the socket (`held`): in TIME-WAIT as well, still the program's.
        now += Duration::from_millis(10);
        if held {
            a.tcp_shutdown(now, h, Shutdown::Write).unwrap();
        } else {
            a.close(now, h).unwrap();
        }
        exchange(&mut a, &mut b, now);
        b.close(now, child).unwrap();
        exchange(&mut a, &mut b, now);
        let old_end = a
            .sockets
            .tcp_conns
            .values()
            .find_map(|&o| a.sockets.tcp(o)?.connection()?.successor_iss());
        assert_eq!(a.socket_count(), 1, "the connection in TIME-WAIT");
        now += Duration::from_secs(1);
        let case = format!(
            "first socket SO_REUSEADDR {first_reuse}, timestamps {timestamps}, held {held}"
        );
        if !first_reuse {
            assert_eq!(bound(&mut a, true), Err(Errno::EADDRINUSE), "{case}");
            continue;
        }
        let again = bound(&mut a, true).unwrap();
        if !timestamps {
            assert_eq!(old_end, None);
            assert_eq!(
                a.tcp_connect(now, again, server),
                Err(Errno::EADDRNOTAVAIL),
                "{case}"
            );
            continue;
        }
        a.tcp_connect(now, again, server).unwrap();
        let syn = drain(&mut a);
        let (_, seg) = parse_ip(&syn[0]);
        let seq = u32::from_be_bytes(seg[4..8].try_into().unwrap());
        assert_eq!(
            Some(seq),
            old_end,
            "{case}: the ISN after the old connection's"
        );
        assert_eq!(
            a.socket_count(),
            1 + usize::from(held),
            "{case}: the TIME-WAIT gave way (a socket the program holds stays, its ports given up)"
        );
        for f in syn {
            b.receive(now, &f);
        }
        exchange(&mut a, &mut b, now);
        assert_eq!(a.tcp_connect_status(again), Ok(()), "{case}");
    }
}

/// A stack that follows another on the same address (a service restarted: `service::secret`
/// gives it the same key, the runtime's clock has gone on) picks the ports the first picked, in the
/// same order (RFC 6056 §3.3.3, the counter starting again), and its SYNs carry an ISN after the
/// first one's (RFC 6528 §3: the same F, a later M) and a later TSval (RFC 7323 §5.4: the same
/// offset, a later clock). That is what lets them through a peer that still holds those 4-tuples
/// in TIME-WAIT (RFC 6191, Linux's `tcp_timewait_state_process`), without an ACK, our RST and a
/// one-second SYN retry.
#[test]
fn a_stack_with_the_same_key_started_later_reuses_ports_with_later_isns_and_timestamps() {
    let keys = crate::service::secret::Keys::from_secret(&[9; 16]);
    let client = |seed: u64| {
        let mut a = seeded_stack(A_IP, A_MAC, B_IP, seed);
        keys.apply(&mut a);
        a
    };
    let mut b = stack(B_IP, B_MAC, A_IP);
    let l = listen_on(&mut b, 16);
    let after = |x: u32, y: u32| (x.wrapping_sub(y) as i32) > 0;
    // Opens `n` connections at `now`, each ended by B first (B keeps it in TIME-WAIT): their
    // SYNs' (port, ISN, TSval).
    let connect_all = |a: &mut Stack, b: &mut Stack, now: Instant| -> Vec<(u16, u32, u32)> {
        a.receive(now, &arp_frame(ArpOperation::Request, A_IP));
        drain(a);
        (0..4)
            .map(|_| {
                let h = a.tcp_socket().unwrap();
                a.tcp_connect(now, h, SocketAddrV4::new(B_IP, PORT))
                    .unwrap();
                let frames = drain(a);
                let (ip, payload) = parse_ip(&frames[0]);
                let p = TcpPacket::new_checked(&payload[..]).unwrap();
                let syn = TcpRepr::parse(&p, ip.src_addr, ip.dst_addr, ChecksumMode::Full).unwrap();
                assert!(syn.flags.contains(TcpFlags::SYN));
                frames.iter().for_each(|f| b.receive(now, f));
                exchange(a, b, now);
                assert_eq!(a.tcp_connect_status(h), Ok(()));
                let (hb, _) = b.tcp_accept(now, l).unwrap();
                b.close(now, hb).unwrap();
                exchange(a, b, now);
                a.close(now, h).unwrap();
                exchange(a, b, now);
                (syn.src_port, syn.seq, syn.options.timestamps.unwrap().0)
            })
            .collect()
    };
    // Days after boot, as the runtime's clock reads; the second stack two seconds later.
    let t0 = Instant::from_millis(3 * 86_400_000 + 123);
    let first = connect_all(&mut client(1), &mut b, t0);
    assert_eq!(
        b.socket_count(),
        1 + first.len(),
        "B holds each in TIME-WAIT"
    );
    let resets = b.stats().tcp_resets_out;
    let second = connect_all(&mut client(2), &mut b, t0 + Duration::from_secs(2));
    for (old, new) in first.iter().zip(&second) {
        assert_eq!(new.0, old.0, "the same port: {first:?} then {second:?}");
        assert!(after(new.1, old.1), "a later ISN: {old:?} then {new:?}");
        assert!(after(new.2, old.2), "a later TSval: {old:?} then {new:?}");
    }
    assert_eq!(
        b.stats().tcp_resets_out,
        resets,
        "B let every SYN through TIME-WAIT"
    );
    // Another key (the old behaviour, one per service) starts elsewhere in the port range.
    let mut other = ours();
    other.receive(t0, &arp_frame(ArpOperation::Request, A_IP));
    drain(&mut other);
    let h = other.tcp_socket().unwrap();
    other
        .tcp_connect(t0, h, SocketAddrV4::new(B_IP, PORT))
        .unwrap();
    assert_ne!(other.local_addr(h).unwrap().port(), first[0].0);
}

#[test]
fn a_reset_connection_still_held_does_not_keep_its_ports() {
    let (mut a, mut b, h, child) = tcp_pair(15);
    let client = a.local_addr(h).unwrap();
    // A aborts (SO_LINGER 0): B's connection is reset, but B's program has not closed it yet.
    let now = Instant::from_millis(10);
    let conn = a.tcp_socket_mut(h).unwrap().connection_mut().unwrap();
    conn.set_linger(Some(Duration::ZERO));
    a.close(now, h).unwrap();
    exchange(&mut a, &mut b, now);
    let mut buf = [0u8; 4];
    assert_eq!(
        b.tcp_recv(now, child, &mut buf, false),
        Err(Errno::ECONNRESET)
    );
    // A new connection from the same port reaches the listener, as on Linux, where a closed
    // socket leaves the connection table at once.
    reconnect_from(&mut a, &mut b, client, now);
}

/// Moves frames between two stacks until both are quiet.
fn exchange(a: &mut Stack, b: &mut Stack, now: Instant) {
    exchange_with(a, b, now, false);
}

/// As [`exchange`]; with `b_short`, B takes its frames short of memory (`memory::force_pressure`
/// acts on this thread only, so it is lifted while A works).
fn exchange_with(a: &mut Stack, b: &mut Stack, now: Instant, b_short: bool) {
    for _ in 0..100 {
        let fa = drain(a);
        let fb = drain(b);
        if fa.is_empty() && fb.is_empty() {
            return;
        }
        crate::memory::force_pressure(b_short);
        fa.iter().for_each(|f| b.receive(now, f));
        crate::memory::force_pressure(false);
        fb.iter().for_each(|f| a.receive(now, f));
    }
    panic!("stacks never went quiet");
}

#[test]
fn large_datagrams_fragment_and_reassemble_between_two_stacks() {
    let mut a = ours();
    let mut b = stack(B_IP, B_MAC, A_IP);
    let hb = b.udp_socket().unwrap();
    b.udp_bind(hb, SocketAddrV4::new(B_IP, 7)).unwrap();
    let ha = a.udp_socket().unwrap();
    let data: Vec<u8> = (0..20_000u32).map(|i| (i % 253) as u8).collect();
    a.udp_send_to(Instant::ZERO, ha, &data, Some(SocketAddrV4::new(B_IP, 7)))
        .unwrap();
    exchange(&mut a, &mut b, Instant::ZERO);
    assert_eq!(a.stats().ip_fragments_out, 14); // 20008 bytes in 1480-byte pieces
    let mut buf = vec![0u8; 65536];
    let r = b.udp_recv_from(hb, &mut buf, false).unwrap();
    assert_eq!(&buf[..r.copied], &data[..]);
    assert_eq!(b.stats().ip_reassembled, 1);
}

#[test]
fn lone_fragment_times_out_with_time_exceeded() {
    let mut s = ours();
    introduce(&mut s);
    let mut f = udp_frame(5000, &[1u8; 64]);
    {
        let mut p = Ipv4Packet::new_unchecked(&mut f[ETH_LEN..]);
        p.set_more_frags(true);
        p.fill_checksum();
    }
    s.receive(Instant::ZERO, &f);
    assert!(drain(&mut s).is_empty());
    let at = s.poll_at(Instant::ZERO).expect("reassembly deadline");
    assert_eq!(at, Instant::ZERO + Duration::from_secs(30));
    s.poll(at);
    let out = drain(&mut s);
    assert_eq!(out.len(), 1);
    let (_, payload) = parse_ip(&out[0]);
    let icmp = Icmpv4Repr::parse(
        &Icmpv4Packet::new_checked(&payload[..]).unwrap(),
        ChecksumMode::Full,
    )
    .unwrap();
    assert!(matches!(
        icmp,
        Icmpv4Repr::TimeExceeded {
            reason: TimeExceeded::FragReassembly,
            ..
        }
    ));
}

/// `frame` (an IPv4 datagram of 72 payload bytes) cut in two fragments, 32 bytes then 40, each
/// sent to the link-layer address `mac`'s pick.
fn two_fragments(frame: &[u8], macs: [MacAddr; 2]) -> [Vec<u8>; 2] {
    let ip = &frame[ETH_LEN..];
    assert_eq!(ip.len(), 20 + 72);
    let piece = |k: usize, range: std::ops::Range<usize>| {
        let mut f = frame[..ETH_LEN + 20].to_vec();
        f[..6].copy_from_slice(&macs[k].0);
        f.extend_from_slice(&ip[20 + range.start..20 + range.end]);
        let mut p = Ipv4Packet::new_unchecked(&mut f[ETH_LEN..]);
        p.set_total_len((20 + range.len()) as u16);
        p.set_more_frags(range.start == 0);
        p.set_frag_offset(range.start as u16);
        p.fill_checksum();
        f
    };
    [piece(0, 0..32), piece(1, 32..72)]
}

/// Linux's reassembled datagram is its first fragment's skb (skb_morph onto the head), link-layer
/// broadcast or not; and ip_expire's time exceeded is about that fragment, which __icmp_send
/// refuses if it came in a link-layer broadcast or multicast frame.
#[test]
fn a_fragment_in_a_link_broadcast_frame_gets_no_icmp_error() {
    let closed = udp_frame(5000, &[1u8; 64]);
    for (macs, answered) in [
        ([MacAddr::BROADCAST, A_MAC], false),
        ([A_MAC, MacAddr::BROADCAST], true),
    ] {
        let mut s = ours();
        introduce(&mut s);
        let [first, last] = two_fragments(&closed, macs);
        s.receive(Instant::ZERO, &first);
        s.receive(Instant::ZERO, &last);
        assert_eq!(drain(&mut s).len(), usize::from(answered), "{macs:?}");
        // The first fragment alone, never completed: no time exceeded either.
        s.receive(Instant::ZERO, &first);
        let at = s.poll_at(Instant::ZERO).expect("reassembly deadline");
        s.poll(at);
        assert_eq!(drain(&mut s).len(), usize::from(answered), "{macs:?}");
    }
    // An open port still takes a datagram in a broadcast frame (Linux drops it only with
    // drop_unicast_in_l2_multicast, 0 by default).
    let mut s = ours();
    introduce(&mut s);
    let u = s.udp_socket().unwrap();
    s.udp_bind(u, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5000))
        .unwrap();
    let mut f = udp_frame(5000, b"hello");
    f[..6].copy_from_slice(&MacAddr::BROADCAST.0);
    s.receive(Instant::ZERO, &f);
    let mut buf = [0u8; 16];
    assert_eq!(s.udp_recv_from(u, &mut buf, false).map(|r| r.len), Ok(5));
}

#[test]
fn datagrams_to_ourselves_loop_back() {
    let mut s = ours();
    let h = s.udp_socket().unwrap();
    s.udp_bind(h, SocketAddrV4::new(A_IP, 6000)).unwrap();
    let h2 = s.udp_socket().unwrap();
    s.udp_send_to(
        Instant::ZERO,
        h2,
        b"me",
        Some(SocketAddrV4::new(A_IP, 6000)),
    )
    .unwrap();
    assert!(drain(&mut s).is_empty(), "nothing goes on the wire");
    assert!(s.poll_at(Instant::ZERO).is_some());
    s.poll(Instant::ZERO);
    let mut buf = [0u8; 8];
    let r = s.udp_recv_from(h, &mut buf, false).unwrap();
    assert_eq!(&buf[..r.copied], b"me");
    assert_eq!(*r.from.ip(), A_IP);
}

/// Linux's ip_mc_output loops a copy of every broadcast back (RTCF_BROADCAST), as the kernel shows
/// beside the stack: each of our sockets that may take it gets it once, the sender's own if bound
/// to the port, and the frame still goes on the wire, once.
#[test]
fn broadcasts_loop_back_to_our_own_sockets() {
    let mut s = ours();
    let port = 7303;
    let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
    let bound_socket = |s: &mut Stack| {
        let h = s.udp_socket().unwrap();
        let u = s.udp_socket_mut(h).unwrap();
        (u.reuse_addr, u.broadcast) = (true, true);
        s.udp_bind(h, any).unwrap();
        h
    };
    let listener = bound_socket(&mut s);
    let same_port = bound_socket(&mut s);
    let other_port = s.udp_socket().unwrap();
    s.udp_socket_mut(other_port).unwrap().broadcast = true;
    // Bound to our unicast address: a broadcast is not for it (__udp_is_mcast_sock).
    let unicast_only = s.udp_socket().unwrap();
    s.udp_socket_mut(unicast_only).unwrap().reuse_addr = true;
    s.udp_bind(unicast_only, SocketAddrV4::new(A_IP, port))
        .unwrap();

    let mut buf = [0u8; 32];
    let directed = Ipv4Addr::new(10, 77, 0, 255);
    for (sender, dst) in [
        (other_port, directed),
        (other_port, Ipv4Addr::BROADCAST),
        (same_port, directed),
        (same_port, Ipv4Addr::BROADCAST),
    ] {
        s.udp_send_to(
            Instant::ZERO,
            sender,
            b"all",
            Some(SocketAddrV4::new(dst, port)),
        )
        .unwrap();
        let out = drain(&mut s);
        assert_eq!(out.len(), 1, "one frame on the wire");
        assert_eq!(&out[0][0..6], &MacAddr::BROADCAST.0);
        assert_eq!(parse_ip(&out[0]).0.dst_addr, dst);
        s.poll(Instant::ZERO);
        let sender_port = s.udp_socket_ref(sender).unwrap().local.unwrap().port();
        for h in [listener, same_port] {
            let r = s.udp_recv_from(h, &mut buf, false).unwrap();
            assert_eq!(&buf[..r.copied], b"all");
            assert_eq!(r.from, SocketAddrV4::new(A_IP, sender_port));
            assert_eq!(r.arrival.dst, dst);
            assert_eq!(
                s.udp_recv_from(h, &mut buf, false),
                Err(Errno::EAGAIN),
                "looped once"
            );
        }
        for h in [other_port, unicast_only] {
            assert_eq!(s.udp_recv_from(h, &mut buf, false), Err(Errno::EAGAIN));
        }
        assert!(drain(&mut s).is_empty(), "nothing more, no ICMP error");
    }

    // To a port nobody holds: looped all the same, and no port unreachable about a broadcast.
    s.udp_send_to(
        Instant::ZERO,
        other_port,
        b"x",
        Some(SocketAddrV4::new(directed, 9)),
    )
    .unwrap();
    assert_eq!(drain(&mut s).len(), 1);
    s.poll(Instant::ZERO);
    assert!(drain(&mut s).is_empty());
    assert_eq!(s.stats().icmp_errors_out, 0);
}

#[test]
fn every_truncation_and_random_frame_is_dropped_without_panic() {
    let mut s = ours();
    introduce(&mut s);
    let valid = [
        arp_frame(ArpOperation::Request, A_IP),
        ping_frame(b"abcdefgh"),
        udp_frame(5000, b"data"),
    ];
    for frame in &valid {
        for len in 0..frame.len() {
            s.receive(Instant::ZERO, &frame[..len]);
        }
    }
    let before = s.stats().clone();
    assert!(before.malformed > 0);
    let mut rng = Rng::new(9);
    for _ in 0..20_000 {
        let mut f = valid[rng.below(3) as usize].clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(f.len() as u64) as usize;
            f[i] = rng.next_u32() as u8;
        }
        s.receive(Instant::ZERO, &f);
        let mut junk = vec![0u8; rng.below(100) as usize];
        rng.fill(&mut junk);
        s.receive(Instant::ZERO, &junk);
        drain(&mut s);
    }
}

// ---------------------------------------------------------------------------------------------
// TCP between two stacks: SO_ERROR, and hostile segments.

const PORT: u16 = 8080;

/// A connection from A to B's listener: (A, B, A's handle, B's accepted handle).
/// A TCP listener on `b`'s port PORT, with room for `backlog` connections.
fn listen_on(b: &mut Stack, backlog: usize) -> SocketHandle {
    let l = b.tcp_socket().unwrap();
    b.tcp_bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))
        .unwrap();
    b.tcp_listen(l, backlog).unwrap();
    l
}

fn tcp_pair(retries: u32) -> (Stack, Stack, SocketHandle, SocketHandle) {
    let mut a = ours();
    let mut b = stack(B_IP, B_MAC, A_IP);
    let l = listen_on(&mut b, 4);
    let ha = a.tcp_socket().unwrap();
    a.tcp_socket_mut(ha).unwrap().config.data_retries = retries;
    a.tcp_connect(Instant::ZERO, ha, SocketAddrV4::new(B_IP, PORT))
        .unwrap();
    exchange(&mut a, &mut b, Instant::ZERO);
    assert_eq!(a.tcp_connect_status(ha), Ok(()));
    let (hb, _) = b.tcp_accept(Instant::ZERO, l).unwrap();
    (a, b, ha, hb)
}

/// B resets the connection: it closes with unread data (RFC 9293 §3.10.4, RFC 2525 §2.17).
fn reset_by_b(a: &mut Stack, b: &mut Stack, ha: SocketHandle, hb: SocketHandle) {
    let now = Instant::from_millis(10);
    a.tcp_send(now, ha, b"unread").unwrap();
    exchange(a, b, now);
    b.close(now, hb).unwrap();
    exchange(a, b, now);
}

#[test]
fn so_error_reports_a_reset_once_then_reads_see_end_of_file() {
    let (mut a, mut b, ha, hb) = tcp_pair(15);
    reset_by_b(&mut a, &mut b, ha, hb);
    let r = a.tcp_readiness(ha);
    assert!(r.error && r.hangup, "{r:?}");
    // As on Linux: SO_ERROR reports ECONNRESET and clears it; then recv sees EOF, send EPIPE.
    assert_eq!(a.take_socket_error(ha), Some(Errno::ECONNRESET));
    assert_eq!(a.take_socket_error(ha), None);
    let mut buf = [0u8; 8];
    let now = Instant::from_millis(20);
    assert_eq!(a.tcp_recv(now, ha, &mut buf, false), Ok(0));
    assert_eq!(a.tcp_send(now, ha, b"x"), Err(Errno::EPIPE));

    // The other order: recv reports the reset and consumes it, so SO_ERROR is then clear.
    let (mut a, mut b, ha, hb) = tcp_pair(15);
    reset_by_b(&mut a, &mut b, ha, hb);
    assert_eq!(a.tcp_recv(now, ha, &mut buf, false), Err(Errno::ECONNRESET));
    assert_eq!(a.take_socket_error(ha), None);
    assert_eq!(a.tcp_recv(now, ha, &mut buf, false), Ok(0));
}

#[test]
fn so_error_reports_a_timeout_once() {
    let (mut a, _b, ha, _hb) = tcp_pair(3);
    let mut now = Instant::from_millis(10);
    a.tcp_send(now, ha, &[1u8; 1000]).unwrap();
    // B has vanished: nothing A sends arrives. A loss probe at 0.2 s, timeouts at 0.4, 0.8 and
    // 1.6 s, then ETIMEDOUT at the next, 3.2 s (three retransmissions by timeout).
    for _ in 0..100 {
        drain(&mut a);
        if a.tcp_readiness(ha).error {
            break;
        }
        now = a.poll_at(now).expect("a timer runs");
        a.poll(now);
    }
    assert!(a.tcp_readiness(ha).error);
    assert!(
        now < Instant::from_millis(10) + Duration::from_secs(5),
        "{now:?}"
    );
    assert_eq!(a.take_socket_error(ha), Some(Errno::ETIMEDOUT));
    assert_eq!(a.take_socket_error(ha), None);
    let mut buf = [0u8; 8];
    assert_eq!(a.tcp_recv(now, ha, &mut buf, false), Ok(0));
    assert_eq!(a.tcp_send(now, ha, b"x"), Err(Errno::EPIPE));
}

/// A TCP frame from B's address to A with valid checksums.
fn tcp_frame(repr: &TcpRepr) -> Vec<u8> {
    ip_frame(A_IP, IpProtocol::TCP, repr.buffer_len(), |buf| {
        repr.emit(
            &mut TcpPacket::new_unchecked(buf),
            B_IP,
            A_IP,
            ChecksumMode::Full,
        )
    })
}

/// A frame to the link's broadcast or a multicast MAC, though its IP destination is ours: a TCP
/// segment gets no answer (RFC 1122 §4.2.3.10, Linux's tcp_v4_rcv drops what is not
/// PACKET_HOST), nor does a datagram for a closed port get an ICMP error (__icmp_send: "no
/// replies to physical multicast/broadcast"); an echo request is answered, as Linux's is.
#[test]
fn link_broadcast_frames_get_no_tcp_answer_and_no_icmp_error() {
    let mut a = ours();
    introduce(&mut a);
    let listening = listen_on(&mut a, 4);
    let to_link = |mut f: Vec<u8>, mac: MacAddr| {
        f[..6].copy_from_slice(&mac.0);
        f
    };
    let syn = |port| {
        tcp_frame(&TcpRepr {
            src_port: 4444,
            dst_port: port,
            seq: 1000,
            ack: 0,
            flags: TcpFlags::SYN,
            window: 64240,
            urgent: 0,
            options: TcpOptions::default(),
            payload: &[],
        })
    };
    let multicast = MacAddr([1, 0, 0x5e, 0, 0, 1]);
    for mac in [MacAddr::BROADCAST, multicast] {
        let now = Instant::from_millis(1);
        // SYN to the listener, SYN to a closed port, UDP to a closed port: silence.
        a.receive(now, &to_link(syn(PORT), mac));
        a.receive(now, &to_link(syn(PORT + 1), mac));
        a.receive(now, &to_link(udp_frame(5555, b"x"), mac));
        a.poll(now);
        assert!(drain(&mut a).is_empty(), "{mac:?}");
    }
    // Unicast, the same SYN is answered.
    a.receive(Instant::from_millis(2), &syn(PORT));
    assert_eq!(drain(&mut a).len(), 1);
    // An echo request in a broadcast frame is answered (Linux's icmp_echo).
    a.receive(
        Instant::from_millis(3),
        &to_link(ping_frame(b"hi"), MacAddr::BROADCAST),
    );
    assert_eq!(drain(&mut a).len(), 1);
    let _ = listening;
}

/// IP options as Linux's ip_rcv_options takes them: a source-routed datagram is dropped
/// (`accept_source_route` 0), and so is one whose options are malformed (ip_options_compile);
/// well-formed record route and unknown options pass.
#[test]
fn source_routed_or_malformed_options_are_dropped() {
    let mut a = ours();
    introduce(&mut a);
    let with_options = |opts: &[u8]| {
        let mut f = ping_frame(b"hello");
        f.splice(ETH_LEN + 20..ETH_LEN + 20, opts.iter().copied());
        let total = (f.len() - ETH_LEN) as u16;
        let mut p = Ipv4Packet::new_unchecked(&mut f[ETH_LEN..]);
        p.set_header_len(20 + opts.len() as u8);
        p.set_total_len(total);
        p.fill_checksum();
        f
    };
    let lsrr = [131, 7, 4, 10, 77, 0, 1, 0];
    let ssrr = [137, 7, 8, 10, 77, 0, 1, 0];
    let len_zero = [7, 0, 4, 0];
    let overrun = [7, 12, 4, 0];
    for opts in [&lsrr[..], &ssrr, &len_zero, &overrun] {
        a.receive(Instant::ZERO, &with_options(opts));
        assert!(drain(&mut a).is_empty(), "{opts:?}");
    }
    for opts in [&[7, 7, 4, 0, 0, 0, 0, 0][..], &[30, 4, 0, 0], &[1, 1, 1, 0]] {
        a.receive(Instant::ZERO, &with_options(opts));
        assert_eq!(drain(&mut a).len(), 1, "{opts:?}");
    }
}

/// ARP from a sender address no host can have (multicast, limited broadcast, loopback, 0/8) gets
/// no reply and plants no neighbour, as Linux's arp_process (its ip_route_input refuses such a
/// source); an address probe from 0.0.0.0 is answered (RFC 5227) without a neighbour for it.
#[test]
fn arp_from_an_impossible_sender_is_ignored_and_a_probe_answered() {
    let mut a = ours();
    let from = |sender_ip: Ipv4Addr| {
        let repr = ArpRepr {
            operation: ArpOperation::Request,
            sender_mac: B_MAC,
            sender_ip,
            target_mac: MacAddr([0; 6]),
            target_ip: A_IP,
        };
        let mut f = eth(MacAddr::BROADCAST, EtherType::ARP, repr.buffer_len());
        repr.emit(&mut ArpPacket::new_unchecked(&mut f[ETH_LEN..]));
        f
    };
    for ip in [
        Ipv4Addr::new(224, 0, 0, 5),
        Ipv4Addr::BROADCAST,
        Ipv4Addr::new(127, 0, 0, 1),
        Ipv4Addr::new(0, 1, 2, 3),
    ] {
        a.receive(Instant::ZERO, &from(ip));
        assert!(drain(&mut a).is_empty(), "{ip}");
    }
    a.receive(Instant::ZERO, &from(Ipv4Addr::UNSPECIFIED));
    assert_eq!(drain(&mut a).len(), 1, "the probe's answer");
    assert!(a.neighbours().is_empty(), "{:?}", a.neighbours());
}

#[test]
fn hostile_segments_never_panic_and_keep_the_connection_sane() {
    for seed in 0..20 {
        hostile_segments(seed);
    }
}

/// What A's segments say: the sequence number after the last one (about SND.MAX) and its ACK.
fn learn(seed: u64, frames: &[Vec<u8>], a_seq: &mut u32, a_ack: &mut u32) {
    for f in frames {
        let (ip, payload) = parse_ip(f);
        assert_eq!(ip.protocol, IpProtocol::TCP, "seed {seed}");
        let p = TcpPacket::new_checked(&payload[..]).unwrap();
        let seg = TcpRepr::parse(&p, ip.src_addr, ip.dst_addr, ChecksumMode::Full)
            .unwrap_or_else(|e| panic!("seed {seed}: A sent a bad segment: {e}"));
        if !seg.flags.contains(TcpFlags::RST) {
            *a_seq = seg.seq.wrapping_add(seg.payload.len() as u32);
            *a_ack = seg.ack;
        }
    }
}

/// 3000 segments with valid checksums and random sequence and acknowledgment numbers (mostly near
/// the connection's, so many are acceptable), flags, window, SACK blocks and timestamps, into an
/// established connection with data in flight; a new connection when one ends. The stack must
/// not panic, and the connection's accounting must stay sane.
fn hostile_segments(seed: u64) {
    let mut rng = Rng::new(seed);
    let mut payload = vec![0u8; 1500];
    let mut established = 0;
    let mut sent = 0;
    for _connection in 0..100 {
        let (mut a, mut b, ha, _hb) = tcp_pair(15);
        let mut now = Instant::from_millis(10);
        // Data in flight that B never acknowledges, so ACKs and SACKs have something to act on.
        a.tcp_send(now, ha, &vec![7u8; 60_000]).unwrap();
        let first = drain(&mut a);
        drain(&mut b);
        let a_port = a.tcp_socket_ref(ha).unwrap().local.unwrap().port();
        let (mut a_seq, mut a_ack) = (0u32, 0u32);
        learn(seed, &first, &mut a_seq, &mut a_ack);
        while sent < 3000 {
            sent += 1;
            let near = |rng: &mut Rng, base: u32| {
                if rng.chance(0.2) {
                    rng.next_u32()
                } else {
                    base.wrapping_add(rng.below(140_000) as u32)
                        .wrapping_sub(70_000)
                }
            };
            let mut options = TcpOptions::default();
            for _ in 0..rng.below(5) {
                let left = near(&mut rng, a_seq);
                options
                    .sack_blocks
                    .push(left, left.wrapping_add(rng.below(20_000) as u32));
            }
            if rng.chance(0.5) {
                options.timestamps = Some((rng.next_u32(), rng.next_u32()));
            }
            // RST and SYN rarely, or the first exact one ends the connection at once.
            let mut flags = TcpFlags(rng.next_u32() as u8 & 0x3f);
            if !rng.chance(0.03) {
                flags.remove(TcpFlags::RST);
            }
            if !rng.chance(0.05) {
                flags.remove(TcpFlags::SYN);
            }
            let len = if rng.chance(0.5) {
                0
            } else {
                rng.below(1400) as usize
            };
            rng.fill(&mut payload[..len]);
            let repr = TcpRepr {
                src_port: PORT,
                dst_port: a_port,
                seq: if rng.chance(0.3) {
                    a_ack
                } else {
                    near(&mut rng, a_ack)
                },
                ack: near(&mut rng, a_seq),
                flags,
                window: rng.next_u32() as u16,
                urgent: 0,
                options,
                payload: &payload[..len],
            };
            a.receive(now, &tcp_frame(&repr));
            if rng.chance(0.1) {
                now += Duration::from_millis(rng.below(300));
            }
            a.poll(now);
            let out = drain(&mut a);
            learn(seed, &out, &mut a_seq, &mut a_ack);
            let Some(s) = a.tcp_stats(ha) else { break };
            let what = format!("seed {seed}, segment {sent}: {s:?}");
            assert!(s.sacked <= s.unacked, "{what}");
            assert!(s.bytes_acked <= s.bytes_sent, "{what}");
            assert!(s.unacked <= 60_000 + 2, "{what}");
            assert!(s.cwnd > 0 && s.snd_mss > 0, "{what}");
            assert!(
                s.rto >= Duration::from_millis(200) && s.rto <= Duration::from_secs(120),
                "{what}"
            );
            assert!(s.our_window <= 4 << 20, "{what}");
            if s.state == crate::tcp::State::Closed {
                break; // an exact RST, or a SYN in the window: a legitimate end
            }
            established += 1;
        }
        // Whatever state it is left in, the connection runs its timers to the end.
        for _ in 0..10_000 {
            drain(&mut a);
            let Some(t) = a.poll_at(now) else { break };
            now = t.max(now);
            a.poll(now);
        }
        if sent >= 3000 {
            break;
        }
    }
    assert!(
        established > 1000,
        "seed {seed}: only {established} segments met a live connection"
    );
}

/// `n` connections from A to B's listener on `PORT`, their frames exchanged.
fn connect_many(a: &mut Stack, b: &mut Stack, now: Instant, n: usize) -> Vec<SocketHandle> {
    let clients = (0..n)
        .map(|_| {
            let h = a.tcp_socket().unwrap();
            a.tcp_connect(now, h, SocketAddrV4::new(B_IP, PORT))
                .unwrap();
            h
        })
        .collect();
    exchange(a, b, now);
    clients
}

#[test]
fn a_full_accept_queue_holds_handshakes_back_until_accept_makes_room() {
    // Backlog 1: the accept queue holds two (Linux's sk_acceptq_is_full). Four clients connect;
    // the last two handshakes are held half-open (their final ACK dropped, counted), never queued
    // past the bound; each accept makes room, and a SYN-ACK retransmission brings the next in.
    let mut a = ours();
    let mut b = stack(B_IP, B_MAC, A_IP);
    let l = listen_on(&mut b, 1);
    let now = Instant::ZERO;
    let clients = connect_many(&mut a, &mut b, now, 4);
    let queued = |b: &Stack| {
        b.tcp_socket_ref(l)
            .and_then(super::tcp_socket::TcpSocket::listener)
            .map(|q| (q.accept_queue.len(), q.syn_queue.len()))
            .unwrap()
    };
    assert_eq!(
        queued(&b),
        (2, 2),
        "two queued for accept, two held half-open"
    );
    assert!(b.stats().tcp_listen_overflows >= 2);
    let mut accepted = 0;
    let mut now = now;
    for _ in 0..20 {
        while b.tcp_accept(now, l).is_ok() {
            accepted += 1;
        }
        if accepted == clients.len() {
            break;
        }
        // Time for a SYN-ACK retransmission.
        now += Duration::from_secs(2);
        a.poll(now);
        b.poll(now);
        exchange(&mut a, &mut b, now);
        assert!(queued(&b).0 <= 2, "the accept queue stays within its bound");
    }
    assert_eq!(accepted, clients.len(), "every client got in, in turn");
}

#[test]
fn a_live_connection_keeps_its_neighbour_without_asking_again() {
    // TCP acknowledging new data confirms the neighbour (Linux's dst_confirm), so for minutes of
    // traffic the entry stays REACHABLE: no request of any kind, no frame held back.
    let (mut a, mut b, ha, hb) = tcp_pair(15);
    let asked = a.stats().arp_requests_out;
    let mut now = Instant::from_millis(10);
    let mut buf = [0u8; 64];
    for i in 0..30u8 {
        a.tcp_send(now, ha, &[i; 10]).unwrap();
        exchange(&mut a, &mut b, now);
        assert_eq!(b.tcp_recv(now, hb, &mut buf, false), Ok(10));
        exchange(&mut a, &mut b, now);
        now += Duration::from_secs(10);
        a.poll(now);
        b.poll(now);
        exchange(&mut a, &mut b, now);
    }
    assert_eq!(a.stats().arp_requests_out, asked, "five minutes, no ARP");
}

#[test]
fn the_socket_bound_gives_enobufs_turns_syns_to_cookies_and_recycles_time_wait() {
    // B holds at most three sockets: a listener, a UDP socket and one accepted connection.
    let mut a = ours();
    let mut b = stack(B_IP, B_MAC, A_IP);
    b.set_max_sockets(3);
    let l = listen_on(&mut b, 8);
    let u = b.udp_socket().unwrap();
    let mut now = Instant::ZERO;
    let first = a.tcp_socket().unwrap();
    a.tcp_connect(now, first, SocketAddrV4::new(B_IP, PORT))
        .unwrap();
    exchange(&mut a, &mut b, now);
    let child = b.tcp_accept(now, l).unwrap().0;
    assert_eq!(b.socket_count(), 3);
    // At the bound: a program's new socket gets ENOBUFS, as Linux's socket() when it cannot
    // allocate one.
    assert_eq!(b.tcp_socket(), Err(Errno::ENOBUFS));
    assert_eq!(b.udp_socket(), Err(Errno::ENOBUFS));
    // A SYN is answered with a cookie, which holds nothing; the ACK that returns it finds no room
    // and is dropped.
    let second = a.tcp_socket().unwrap();
    a.tcp_connect(now, second, SocketAddrV4::new(B_IP, PORT))
        .unwrap();
    exchange(&mut a, &mut b, now);
    assert_eq!(b.stats().tcp_syncookies_sent, 1);
    assert_eq!(b.socket_count(), 3, "nothing held past the bound");
    assert!(b.stats().sockets_refused >= 3);
    assert!(b.tcp_accept(now, l).is_err());
    // Room again: the client's data carries the cookie's ACK once more, and the connection is
    // made from it, its data taken.
    b.close(now, u).unwrap();
    a.tcp_send(now, second, b"late").unwrap();
    exchange(&mut a, &mut b, now);
    let (late, _) = b
        .tcp_accept(now, l)
        .expect("the cookie's connection, once there is room");
    let mut buf = [0u8; 8];
    assert_eq!(b.tcp_recv(now, late, &mut buf, false), Ok(4));
    assert_eq!(&buf[..4], b"late");
    // B closes its first connection first: TIME-WAIT, an orphan, still in the table. At the
    // bound, a new socket ends it early instead of being refused.
    b.close(now, child).unwrap();
    exchange(&mut a, &mut b, now);
    a.close(now, first).unwrap();
    exchange(&mut a, &mut b, now);
    now += Duration::from_millis(10);
    b.poll(now);
    assert_eq!(
        b.socket_count(),
        3,
        "the listener, a connection, one in TIME-WAIT"
    );
    let refused = b.stats().sockets_refused;
    let fresh = b.udp_socket().expect("room made by ending TIME-WAIT");
    assert_eq!(b.stats().tcp_time_wait_recycled, 1);
    assert_eq!(b.stats().sockets_refused, refused);
    assert_eq!(b.socket_count(), 3);
    assert_eq!(
        b.tcp_socket(),
        Err(Errno::ENOBUFS),
        "nothing left to recycle"
    );
    let _ = fresh;
}

#[test]
fn short_of_memory_the_stack_refuses_new_sockets_and_keeps_its_connections_exact() {
    let mut a = ours();
    let mut b = stack(B_IP, B_MAC, A_IP);
    let l = listen_on(&mut b, 8);
    let mut now = Instant::ZERO;
    let c = a.tcp_socket().unwrap();
    a.tcp_connect(now, c, SocketAddrV4::new(B_IP, PORT))
        .unwrap();
    exchange(&mut a, &mut b, now);
    let (s, _) = b.tcp_accept(now, l).unwrap();

    // Under pressure: no new socket (ENOMEM, as Linux's socket()), a SYN gets a cookie, no
    // datagram is queued.
    crate::memory::force_pressure(true);
    assert_eq!(b.tcp_socket(), Err(Errno::ENOMEM));
    assert_eq!(b.udp_socket(), Err(Errno::ENOMEM));
    crate::memory::force_pressure(false);
    assert_eq!(b.stats().sockets_refused_memory, 2);
    let other = a.tcp_socket().unwrap();
    a.tcp_connect(now, other, SocketAddrV4::new(B_IP, PORT))
        .unwrap();
    exchange_with(&mut a, &mut b, now, true);
    assert_eq!(b.stats().tcp_syncookies_sent, 1);

    // 40 KB sent to a receive buffer that cannot grow past its first piece: what does not fit
    // is dropped and sent again, and everything arrives exact once B reads.
    let data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    for _ in 0..2000 {
        if sent < data.len() {
            sent += a.tcp_send(now, c, &data[sent..]).unwrap_or(0);
        }
        exchange_with(&mut a, &mut b, now, true);
        crate::memory::force_pressure(true);
        let allocated = b
            .tcp_socket_ref(s)
            .unwrap()
            .connection()
            .unwrap()
            .buffers_allocated()
            .0;
        if let Ok(n) = b.tcp_recv(now, s, &mut buf, false) {
            got.extend_from_slice(&buf[..n]);
        }
        // B's writes wait for memory too: its send buffer, full, cannot grow.
        let refused = b.tcp_send(now, s, &[7u8; 8192]);
        crate::memory::force_pressure(false);
        assert!(
            allocated <= 2048,
            "the receive buffer grew under pressure: {allocated}"
        );
        assert!(matches!(refused, Ok(_) | Err(Errno::ENOMEM)), "{refused:?}");
        if got.len() == data.len() {
            break;
        }
        now += Duration::from_millis(50);
        a.poll(now);
        b.poll(now);
    }
    assert_eq!(got.len(), data.len());
    assert!(got == data, "the bytes differ");
    // Memory back: sockets again.
    assert!(b.udp_socket().is_ok());
}

/// changed) costs the data in the SYN, not the connection.
#[test]
fn fast_open_between_two_stacks() {
    let mut a = ours();
    let mut b = stack(B_IP, B_MAC, A_IP);
    a.tcp_defaults_mut().fastopen = 3;
    b.tcp_defaults_mut().fastopen = 3;
    let l = listen_on(&mut b, 8);
    b.tcp_socket_mut(l).unwrap().fast_open.qlen = 8;
    let now = Instant::ZERO;
    // A frame from A to B: whether it is a SYN with data.
    let syn_data = |f: &Vec<u8>| {
        let (ip, payload) = parse_ip(f);
        ip.protocol == IpProtocol::TCP && {
            let p = TcpPacket::new_checked(&payload[..]).unwrap();
            p.flags().contains(TcpFlags::SYN) && !p.payload().is_empty()
        }
    };
    let round = |a: &mut Stack, b: &mut Stack, msg: &[u8]| -> (bool, bool) {
        let h = a.tcp_socket().unwrap();
        a.tcp_socket_mut(h).unwrap().fast_open.connect = true;
        a.tcp_connect(now, h, SocketAddrV4::new(B_IP, PORT))
            .unwrap();
        let deferred = a.tcp_connect_deferred(h);
        if !deferred {
            exchange(a, b, now);
        }
        assert_eq!(a.tcp_connect_status(h), Ok(()));
        a.tcp_send(now, h, msg).unwrap();
        let frames = drain(a);
        let carried = frames.iter().any(syn_data);
        assert_eq!(
            carried, deferred,
            "data rides the SYN exactly when held back for it"
        );
        frames.iter().for_each(|f| b.receive(now, f));
        // B's side: with the data in the SYN taken, the connection is ready, data and all,
        // before A's final ACK; otherwise after the handshake.
        let early = b.tcp_accept(now, l).ok();
        if let Some((child, _)) = early {
            // Read and answered before the handshake ends: the reply leaves at once.
            let mut buf = [0u8; 64];
            let n = b.tcp_recv(now, child, &mut buf, false).unwrap();
            assert_eq!(&buf[..n], msg);
            b.tcp_send(now, child, b"reply").unwrap();
            let replies = drain(b);
            assert!(
                replies.iter().any(|f| {
                    let (_, payload) = parse_ip(f);
                    TcpPacket::new_checked(&payload[..]).is_ok_and(|p| p.payload() == b"reply")
                }),
                "the reply goes before the handshake's last ACK"
            );
            replies.iter().for_each(|f| a.receive(now, f));
            exchange(a, b, now);
            return (carried, true);
        }
        exchange(a, b, now);
        let (child, _) = early
            .or_else(|| b.tcp_accept(now, l).ok())
            .expect("accepted");
        let mut buf = [0u8; 64];
        let n = b.tcp_recv(now, child, &mut buf, false).unwrap();
        assert_eq!(&buf[..n], msg);
        (carried, early.is_some())
    };
    // (The first handshake is over before the write: accepted at once too.)
    assert_eq!(round(&mut a, &mut b, b"first"), (false, true));
    assert_eq!(a.fast_open_cookies.len(), 1, "B's cookie is kept");
    assert_eq!(round(&mut a, &mut b, b"second"), (true, true));
    assert_eq!(b.stats().tcp_fastopen_passive, 1);
    // B's key changes: A's cookie is refused, its data sent again after the handshake, and a
    // fresh cookie makes the next SYN carry data again.
    b.set_fast_open_key(crate::tcp::SipKey([5; 16]));
    assert_eq!(round(&mut a, &mut b, b"third"), (true, false));
    assert_eq!(b.stats().tcp_fastopen_passive, 1);
    assert_eq!(round(&mut a, &mut b, b"fourth"), (true, true));
    assert_eq!(b.stats().tcp_fastopen_passive, 2);
}

/// Without the server bit of tcp_fastopen, or without TCP_FASTOPEN on the listener, a SYN's
/// cookie request goes unanswered and its data unacknowledged (Linux's rule).
#[test]
fn fast_open_needs_the_sysctl_and_the_socket_option() {
    for (bits, qlen) in [(1u16, 8u32), (3, 0)] {
        let mut a = ours();
        let mut b = stack(B_IP, B_MAC, A_IP);
        b.tcp_defaults_mut().fastopen = bits;
        let l = b.tcp_socket().unwrap();
        b.tcp_bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))
            .unwrap();
        b.tcp_socket_mut(l).unwrap().fast_open.qlen = qlen;
        b.tcp_listen(l, 8).unwrap();
        let h = a.tcp_socket().unwrap();
        a.tcp_socket_mut(h).unwrap().fast_open.connect = true;
        a.tcp_connect(Instant::ZERO, h, SocketAddrV4::new(B_IP, PORT))
            .unwrap();
        exchange(&mut a, &mut b, Instant::ZERO);
        assert_eq!(a.tcp_connect_status(h), Ok(()));
        assert!(a.fast_open_cookies.is_empty(), "{bits} {qlen}");
    }
}

/// A listener on B's `PORT` with SO_REUSEPORT (and SO_REUSEADDR) as given, made by `owner`.
fn sharing_listener(
    b: &mut Stack,
    reuse_port: bool,
    reuse_addr: bool,
    owner: u32,
) -> crate::error::Result<SocketHandle> {
    let l = b.tcp_socket().unwrap();
    let t = b.tcp_socket_mut(l).unwrap();
    (t.reuse_port, t.reuse_addr, t.owner) = (reuse_port, reuse_addr, owner);
    b.tcp_bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))?;
    b.tcp_listen(l, 64)?;
    Ok(l)
}

#[test]
fn so_reuseport_listeners_of_one_owner_share_a_port_and_its_connections() {
    let mut a = ours();
    let mut b = stack(B_IP, B_MAC, A_IP);
    let group: Vec<SocketHandle> = (0..3)
        .map(|_| sharing_listener(&mut b, true, false, 1000).unwrap())
        .collect();
    // Linux's inet_bind_conflict: without SO_REUSEPORT, or as another user, the port is taken;
    // SO_REUSEADDR does not let a socket in beside a listener.
    for (reuse_port, reuse_addr, owner) in [
        (false, false, 1000),
        (false, true, 1000),
        (true, true, 1001),
    ] {
        let e = sharing_listener(&mut b, reuse_port, reuse_addr, owner).unwrap_err();
        assert_eq!(
            e,
            Errno::EADDRINUSE,
            "reuse_port {reuse_port}, owner {owner}"
        );
    }
    // Each connection goes to one listener of the group, picked by the flow, and every listener
    // gets some.
    let now = Instant::ZERO;
    let clients = connect_many(&mut a, &mut b, now, 48);
    let mut per_listener = Vec::new();
    for &l in &group {
        let mut n = 0;
        while b.tcp_accept(now, l).is_ok() {
            n += 1;
        }
        per_listener.push(n);
    }
    assert_eq!(
        per_listener.iter().sum::<usize>(),
        clients.len(),
        "{per_listener:?}"
    );
    assert!(per_listener.iter().all(|&n| n > 0), "{per_listener:?}");
    for &h in &clients {
        a.tcp_connect_status(h).unwrap();
    }
    // One leaving takes only its own place: the others still listen, and a newcomer of the same
    // owner joins.
    b.close(now, group[0]).unwrap();
    let newcomer = sharing_listener(&mut b, true, false, 1000).unwrap();
    assert_eq!(
        b.sockets.tcp_listeners[&PORT],
        vec![group[1], group[2], newcomer]
    );
}

#[test]
fn bound_sockets_share_a_port_as_linux_lets_them() {
    let mut b = stack(B_IP, B_MAC, A_IP);
    let bound = |b: &mut Stack, reuse_addr: bool, reuse_port: bool| {
        let h = b.tcp_socket().unwrap();
        let t = b.tcp_socket_mut(h).unwrap();
        (t.reuse_addr, t.reuse_port) = (reuse_addr, reuse_port);
        b.tcp_bind(h, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))
            .map(|()| h)
    };
    let first = bound(&mut b, true, false).unwrap();
    // SO_REUSEADDR on both: two sockets bound, neither listening, share the port.
    let second = bound(&mut b, true, false).unwrap();
    assert_eq!(bound(&mut b, false, false), Err(Errno::EADDRINUSE));
    // One of them listens; the other then cannot (a listener shares with its group only).
    b.tcp_listen(first, 8).unwrap();
    assert_eq!(b.tcp_listen(second, 8), Err(Errno::EADDRINUSE));
    assert_eq!(bound(&mut b, true, false), Err(Errno::EADDRINUSE));
    // Closing the bound one gives its place back.
    b.close(Instant::ZERO, second).unwrap();
    assert!(!b.sockets.tcp_bound.contains_key(&PORT));
}

/// IPv4 multicast end to end in virtual time: a join sends an IGMPv3 report (TTL 1, Router
/// Alert, to 224.0.0.22's MAC), a datagram to the group reaches both member sockets (one that
/// did not join takes it too, IP_MULTICAST_ALL), ours goes out with TTL 1 to the group's MAC and
/// comes back to our members (IP_MULTICAST_LOOP), a general query is answered within its Max
/// Resp Time, and closing the last member sends the leave.
#[test]
fn multicast_join_receive_send_query_and_leave() {
    use crate::wire::igmp::{GroupRecord, IgmpPacket, IgmpRepr, QueryVersion, RecordType};
    let group = Ipv4Addr::new(239, 1, 1, 1);
    let group_mac = MacAddr([1, 0, 0x5e, 1, 1, 1]);
    let here = GroupInterface {
        addr: A_IP,
        ifindex: 0,
    };
    let igmp_of = |frame: &[u8]| {
        assert_eq!(
            &frame[0..6],
            &MacAddr::ipv4_multicast(Ipv4Addr::new(224, 0, 0, 22)).0
        );
        let ip = Ipv4Packet::new_checked(&frame[ETH_LEN..]).unwrap();
        let r = Ipv4Repr::parse(&ip, ChecksumMode::Full).unwrap();
        assert_eq!((r.ttl, r.tos, r.protocol), (1, 0xc0, IpProtocol::IGMP));
        assert_eq!(ip.options(), [0x94, 4, 0, 0]);
        IgmpRepr::parse(
            &IgmpPacket::new_checked(ip.payload()).unwrap(),
            ChecksumMode::Full,
        )
        .unwrap()
    };
    let record = |kind| IgmpRepr::V3Report {
        records: vec![GroupRecord {
            kind,
            group,
            sources: vec![],
        }],
    };
    let mut s = ours();
    introduce(&mut s);
    let t0 = Instant::from_micros(1_000_000);
    let a = s.udp_socket().unwrap();
    let b = s.udp_socket().unwrap();
    let other = s.udp_socket().unwrap();
    for &h in &[a, b, other] {
        s.udp_socket_mut(h).unwrap().reuse_addr = true;
        s.udp_bind(h, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5000))
            .unwrap();
    }
    assert_eq!(
        s.udp_join(t0, a, Ipv4Addr::new(10, 0, 0, 1), here),
        Err(Errno::EINVAL)
    );
    s.udp_join(t0, a, group, here).unwrap();
    assert_eq!(s.udp_join(t0, a, group, here), Err(Errno::EADDRINUSE));
    s.udp_join(t0, b, group, here).unwrap();
    let out = drain(&mut s);
    assert_eq!(out.len(), 1, "one report for the first join only");
    assert_eq!(igmp_of(&out[0]), record(RecordType::CHANGE_TO_EXCLUDE));
    // The robustness repeat, within a second.
    let at = s.poll_at(t0).unwrap();
    assert!(at <= t0 + Duration::from_secs(1));
    s.poll(at);
    assert_eq!(
        igmp_of(&drain(&mut s)[0]),
        record(RecordType::CHANGE_TO_EXCLUDE)
    );

    // From the link to the group: every socket on the port (`other` by IP_MULTICAST_ALL).
    let mut frame = udp_frame_between(4444, group, 5000, b"to the group");
    frame[0..6].copy_from_slice(&group_mac.0);
    s.receive(at, &frame);
    let mut woken = s.take_woken();
    woken.sort();
    let mut all = vec![a, b, other];
    all.sort();
    assert_eq!(woken, all);
    s.udp_socket_mut(other).unwrap().multicast.all = false;
    s.receive(at, &frame);
    assert!(!s.take_woken().contains(&other));
    // To a group nobody joined: not for us.
    let mut stranger = udp_frame_between(4444, Ipv4Addr::new(239, 9, 9, 9), 5000, b"x");
    stranger[0..6].copy_from_slice(&MacAddr::ipv4_multicast(Ipv4Addr::new(239, 9, 9, 9)).0);
    s.receive(at, &stranger);
    assert!(s.take_woken().is_empty());
    assert!(drain(&mut s).is_empty(), "no ICMP error about a group");

    // Ours to the group: TTL 1, the group's MAC (no ARP), and a copy for our members.
    let sender = s.udp_socket().unwrap();
    s.udp_send_to(at, sender, b"hi", Some(SocketAddrV4::new(group, 5000)))
        .unwrap();
    let out = drain(&mut s);
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0][0..6], &group_mac.0);
    assert_eq!(parse_ip(&out[0]).0.ttl, 1);
    s.poll(at);
    assert!(s.take_woken().contains(&a));
    s.udp_socket_mut(sender).unwrap().multicast.ttl = 5;
    s.udp_socket_mut(sender).unwrap().multicast.loop_back = false;
    s.udp_send_to(at, sender, b"hi", Some(SocketAddrV4::new(group, 5000)))
        .unwrap();
    assert_eq!(parse_ip(&drain(&mut s)[0]).0.ttl, 5);
    s.poll(at);
    assert!(s.take_woken().is_empty());

    // A general query (Max Resp Time 1 s) is answered within it.
    let query = IgmpRepr::Query {
        max_resp_code: 10,
        group: Ipv4Addr::UNSPECIFIED,
        version: QueryVersion::V3 {
            suppress: false,
            qrv: 2,
            qqic: 125,
            sources: vec![],
        },
    };
    let mut q = ip_frame(
        Ipv4Addr::new(224, 0, 0, 1),
        IpProtocol::IGMP,
        query.buffer_len(),
        |buf| query.emit(&mut IgmpPacket::new_unchecked(buf)),
    );
    q[0..6].copy_from_slice(&MacAddr::ipv4_multicast(Ipv4Addr::new(224, 0, 0, 1)).0);
    let t1 = at + Duration::from_secs(10);
    s.receive(t1, &q);
    let due = s.poll_at(t1).unwrap();
    assert!(due <= t1 + Duration::from_secs(1));
    s.poll(due);
    assert_eq!(
        igmp_of(&drain(&mut s)[0]),
        record(RecordType::MODE_IS_EXCLUDE)
    );

    // Leaving: a drop of a group not joined is EADDRNOTAVAIL; the last member's close says so.
    assert_eq!(
        s.udp_leave(t1, other, group, here),
        Err(Errno::EADDRNOTAVAIL)
    );
    s.udp_leave(t1, a, group, here).unwrap();
    assert!(drain(&mut s).is_empty());
    s.close(t1, b).unwrap();
    assert_eq!(
        igmp_of(&drain(&mut s)[0]),
        record(RecordType::CHANGE_TO_INCLUDE)
    );
    assert!(s.multicast_groups().is_empty());
}

/// The IGMP the stack sends is byte for byte what Linux sent for the same membership from the
/// same address (src/wire/testdata.rs, captured from the kernel at 10.77.0.2): the v3 join, the
/// answer to the kernel-captured v3 query, the v3 leave; then, after a v2 query, the v2 report and
/// the v2 leave.
#[test]
fn igmp_packets_are_the_kernels_bytes() {
    use crate::wire::testdata;
    let group = Ipv4Addr::new(239, 1, 1, 1);
    let here = GroupInterface {
        addr: A_IP,
        ifindex: 0,
    };
    let mut s = ours();
    let mut now = Instant::from_micros(1_000_000);
    let ip_of = |frame: &[u8]| frame[ETH_LEN..].to_vec();
    let h = s.udp_socket().unwrap();
    s.udp_join(now, h, group, here).unwrap();
    let out = drain(&mut s);
    assert_eq!(&out[0][0..6], &testdata::IGMPV3_REPORT_JOIN[0..6]);
    assert_eq!(ip_of(&out[0]), ip_of(&testdata::IGMPV3_REPORT_JOIN));
    now = s.poll_at(now).unwrap();
    s.poll(now);
    assert_eq!(
        ip_of(&drain(&mut s)[0]),
        ip_of(&testdata::IGMPV3_REPORT_JOIN)
    );

    now += Duration::from_secs(5);
    s.receive(now, &testdata::IGMPV3_QUERY);
    now = s.poll_at(now).unwrap();
    s.poll(now);
    assert_eq!(
        ip_of(&drain(&mut s)[0]),
        ip_of(&testdata::IGMPV3_REPORT_CURRENT)
    );

    let h2 = s.udp_socket().unwrap();
    s.udp_leave(now, h, group, here).unwrap();
    assert_eq!(
        ip_of(&drain(&mut s)[0]),
        ip_of(&testdata::IGMPV3_REPORT_LEAVE)
    );
    while let Some(at) = s.poll_at(now) {
        now = at;
        s.poll(now);
    }
    drain(&mut s);

    // A v2 querier: v2 messages from then on.
    s.receive(now, &testdata::IGMPV2_QUERY);
    s.udp_join(now, h2, group, here).unwrap();
    let out = drain(&mut s);
    assert_eq!(&out[0][0..6], &testdata::IGMPV2_REPORT[0..6]);
    assert_eq!(ip_of(&out[0]), ip_of(&testdata::IGMPV2_REPORT));
    s.close(now, h2).unwrap();
    assert_eq!(ip_of(&drain(&mut s)[0]), ip_of(&testdata::IGMPV2_LEAVE));
}

fn ethertype(frame: &[u8]) -> EtherType {
    EthernetFrame::new_checked(frame).unwrap().ethertype()
}

/// Flags and payload length of each TCP segment among `frames`.
fn tcp_segments(frames: &[Vec<u8>]) -> Vec<(TcpFlags, usize, u32)> {
    frames
        .iter()
        .filter(|f| ethertype(f) == EtherType::IPV4)
        .filter_map(|f| {
            let (ip, payload) = parse_ip(f);
            (ip.protocol == IpProtocol::TCP).then(|| {
                let t = TcpPacket::new_checked(&payload[..]).unwrap();
                (t.flags(), t.payload().len(), t.ack_number())
            })
        })
        .collect()
}

#[test]
fn a_queued_pure_ack_gives_way_to_a_segment_that_carries_it() {
    let mut a = ours();
    let mut b = stack(B_IP, B_MAC, A_IP);
    let l = listen_on(&mut b, 4);
    let ha = a.tcp_socket().unwrap();
    let now = Instant::ZERO;
    a.tcp_connect(now, ha, SocketAddrV4::new(B_IP, PORT))
        .unwrap();
    // SYN (after ARP both ways), then the SYN-ACK.
    for _ in 0..4 {
        let fa = drain(&mut a);
        fa.iter().for_each(|f| b.receive(now, f));
        let fb = drain(&mut b);
        if fb.iter().any(|f| {
            tcp_segments(std::slice::from_ref(f))
                .first()
                .is_some_and(|s| s.0.contains(TcpFlags::SYN | TcpFlags::ACK))
        }) {
            fb.iter().for_each(|f| a.receive(now, f));
            break;
        }
        fb.iter().for_each(|f| a.receive(now, f));
    }
    assert_eq!(a.tcp_connect_status(ha), Ok(()));
    // The ACK of the SYN-ACK waits in the queue when the request is written: one segment goes,
    // the request, acknowledging the SYN-ACK itself (as Linux's with a write pending).
    assert_eq!(a.tcp_send(now, ha, b"GET /").unwrap(), 5);
    let fa = drain(&mut a);
    let segs = tcp_segments(&fa);
    assert_eq!(segs.len(), 1, "{segs:?}");
    assert_eq!(segs[0].1, 5);
    fa.iter().for_each(|f| b.receive(now, f));
    exchange(&mut a, &mut b, now);
    let (hb, _) = b.tcp_accept(now, l).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(b.tcp_recv(now, hb, &mut buf, false), Ok(5));
    // B answers and closes; A takes both before it answers: its ACK of the answer gives way to
    // its FIN, which acknowledges more.
    b.tcp_send(now, hb, b"200 OK").unwrap();
    b.close(now, hb).unwrap();
    let fb = drain(&mut b);
    fb.iter().for_each(|f| a.receive(now, f));
    assert_eq!(a.tcp_recv(now, ha, &mut buf, false), Ok(6));
    a.close(now, ha).unwrap();
    let segs = tcp_segments(&drain(&mut a));
    assert_eq!(segs.len(), 1, "{segs:?}");
    assert!(
        segs[0].0.contains(TcpFlags::FIN | TcpFlags::ACK),
        "{segs:?}"
    );
}

#[test]
fn a_duplicate_ack_stays_beside_the_data_that_follows_it() {
    // No SACK: the duplicate ACK is bare, and only the rule for duplicates keeps it.
    let mut a = ours();
    a.tcp_defaults_mut().sack = false;
    let mut b = stack(B_IP, B_MAC, A_IP);
    let l = listen_on(&mut b, 4);
    let ha = a.tcp_socket().unwrap();
    a.tcp_connect(Instant::ZERO, ha, SocketAddrV4::new(B_IP, PORT))
        .unwrap();
    exchange(&mut a, &mut b, Instant::ZERO);
    let (hb, _) = b.tcp_accept(Instant::ZERO, l).unwrap();
    let now = Instant::from_millis(5);
    // Two segments from B; the first is lost, so the second is out of order at A.
    b.tcp_socket_mut(hb)
        .unwrap()
        .connection_mut()
        .unwrap()
        .set_nodelay(true);
    b.tcp_send(now, hb, &[1; 100]).unwrap();
    let _lost = drain(&mut b);
    b.tcp_send(now, hb, &[2; 100]).unwrap();
    let second = drain(&mut b);
    assert_eq!(tcp_segments(&second).len(), 1);
    // The duplicate ACK goes out beside A's own data written in the same turn, which
    // acknowledges as much but, bearing data, is no duplicate ACK to B (RFC 5681 §2).
    second.iter().for_each(|f| a.receive(now, f));
    a.tcp_send(now, ha, b"more").unwrap();
    let segs = tcp_segments(&drain(&mut a));
    assert_eq!(segs.len(), 2, "{segs:?}");
    assert_eq!((segs[0].1, segs[1].1), (0, 4), "{segs:?}");
    assert_eq!(segs[0].2, segs[1].2, "{segs:?}");
}

#[test]
fn an_ack_held_for_the_neighbours_address_withdraws_nothing_else() {
    let (mut a, mut b, ha, hb) = tcp_pair(5);
    // A's neighbour entry ages out while the connection idles (B's clock stays behind, so B
    // still knows A).
    for s in [31, 61] {
        a.poll(Instant::from_millis(s * 1000));
        drain(&mut a);
    }
    b.tcp_send(Instant::from_millis(10), hb, &[1; 100]).unwrap();
    let now = Instant::from_millis(62_000);
    drain(&mut b).iter().for_each(|f| a.receive(now, f));
    // A's delayed ACK goes, and waits behind an ARP request; its data written then must not
    // take the request away.
    let later = Instant::from_millis(62_500);
    a.poll(later);
    assert_eq!(a.frames_pending(), 1);
    a.tcp_send(later, ha, b"more").unwrap();
    let fa = drain(&mut a);
    let arp = fa.iter().filter(|f| ethertype(f) == EtherType::ARP).count();
    assert_eq!((fa.len(), arp), (1, 1));
}

#[test]
fn each_connection_numbers_its_packets_from_a_random_start_of_its_own() {
    let mut a = ours();
    let mut b = stack(B_IP, B_MAC, A_IP);
    listen_on(&mut b, 4);
    let now = Instant::ZERO;
    let conns = connect_many(&mut a, &mut b, now, 2);
    // The two connections' segments, interleaved: each keeps its own count, one per packet, as
    // Linux's inet_id (a stack-wide counter would show each the other's traffic).
    let mut ids: Vec<Vec<u16>> = vec![Vec::new(), Vec::new()];
    for round in 0..4u8 {
        for (i, &h) in conns.iter().enumerate() {
            a.tcp_send(now, h, &[round; 10]).unwrap();
            for f in drain(&mut a) {
                let (ip, payload) = parse_ip(&f);
                let t = TcpPacket::new_checked(&payload[..]).unwrap();
                if !t.payload().is_empty() {
                    assert!(ip.dont_frag);
                    ids[i].push(ip.ident);
                }
                b.receive(now, &f);
            }
            exchange(&mut a, &mut b, now);
        }
    }
    for seq in &ids {
        assert_eq!(seq.len(), 4);
        assert!(
            seq.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
            "{ids:?}"
        );
    }
    assert_ne!(ids[0][0], ids[1][0]);
}

/// Each IPv4 frame among `frames`: (DF, more fragments, total length).
fn ip_shapes(frames: &[Vec<u8>]) -> Vec<(bool, bool, usize)> {
    frames
        .iter()
        .filter(|f| ethertype(f) == EtherType::IPV4)
        .map(|f| {
            let (ip, _) = parse_ip(f);
            (ip.dont_frag, ip.more_frags, ip.buffer_len())
        })
        .collect()
}

/// Our stack, knowing B, having sent a datagram of `len` bytes to B's port 9 at 1 s from a new
/// UDP socket: the stack, the socket, B's address, the time and the frames that went.
fn udp_datagram_to_b(len: usize) -> (Stack, SocketHandle, SocketAddrV4, Instant, Vec<Vec<u8>>) {
    let mut a = ours();
    introduce(&mut a);
    let u = a.udp_socket().unwrap();
    let to = SocketAddrV4::new(B_IP, 9);
    let now = Instant::from_millis(1000);
    a.udp_send_to(now, u, &vec![7; len], Some(to)).unwrap();
    let sent = drain(&mut a);
    (a, u, to, now, sent)
}

#[test]
fn a_path_mtu_learnt_from_fragmentation_needed_shapes_later_datagrams() {
    use super::output::PmtuDisc;
    // Fits the interface: DF (WANT), one frame.
    let (mut a, u, to, now, first) = udp_datagram_to_b(1200);
    assert_eq!(ip_shapes(&first), vec![(true, false, 1228)]);
    // A router on the way takes 1000 (RFC 1191).
    let icmp = unreachable_about(&first[0], DstUnreachable::FragRequired { mtu: 1000 });
    a.receive(now, &icmp);
    // WANT now cuts at 1000 without DF, as Linux's ip_sk_use_pmtu has it.
    a.udp_send_to(now, u, &[7; 1200], Some(to)).unwrap();
    let shapes = ip_shapes(&drain(&mut a));
    assert_eq!(shapes.len(), 2, "{shapes:?}");
    assert!(
        shapes.iter().all(|&(df, _, len)| !df && len <= 1000),
        "{shapes:?}"
    );
    // A datagram that fits the path keeps DF.
    a.udp_send_to(now, u, &[7; 900], Some(to)).unwrap();
    assert_eq!(ip_shapes(&drain(&mut a)), vec![(true, false, 928)]);
    // DO refuses what the path does not take; PROBE goes by the interface's MTU.
    a.udp_socket_mut(u).unwrap().pmtudisc = PmtuDisc::Do;
    assert_eq!(
        a.udp_send_to(now, u, &[7; 1200], Some(to)),
        Err(Errno::EMSGSIZE)
    );
    a.udp_socket_mut(u).unwrap().pmtudisc = PmtuDisc::Probe;
    a.udp_send_to(now, u, &[7; 1200], Some(to)).unwrap();
    assert_eq!(ip_shapes(&drain(&mut a)), vec![(true, false, 1228)]);
    // Another destination is not concerned; ten minutes on, the path is the interface's again.
    // (Off the link, through the gateway B, whose address A knows.)
    a.udp_socket_mut(u).unwrap().pmtudisc = PmtuDisc::Want;
    let elsewhere = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 9);
    a.udp_send_to(now, u, &[7; 1200], Some(elsewhere)).unwrap();
    assert_eq!(ip_shapes(&drain(&mut a)), vec![(true, false, 1228)]);
    a.udp_send_to(now, u, &[7; 1200], Some(to)).unwrap();
    assert_eq!(ip_shapes(&drain(&mut a)).len(), 2);
    let later = now + Duration::from_secs(601);
    a.udp_send_to(later, u, &[7; 1200], Some(to)).unwrap();
    assert_eq!(ip_shapes(&drain(&mut a)), vec![(true, false, 1228)]);
}

/// RFC 5927 §4.1, as Linux's handlers do it: "fragmentation needed" teaches a path MTU only when
/// the protocol owns the datagram it quotes: a TCP sequence number in flight (tcp_v4_err), a UDP
/// socket on the port (__udp4_lib_err). A forged one changes nothing, for no socket.
#[test]
fn forged_fragmentation_needed_teaches_no_path_mtu() {
    let (mut a, _b, h, _) = tcp_pair(15);
    let now = Instant::from_millis(10);
    a.tcp_send(now, h, &[7u8; 100]).unwrap();
    let data = drain(&mut a).pop().expect("a data segment");
    // The quoted sequence number far outside what is in flight.
    let mut forged = data.clone();
    forged[ETH_LEN + 20 + 4] ^= 0x80;
    a.receive(
        now,
        &unreachable_about(&forged, DstUnreachable::FragRequired { mtu: 576 }),
    );
    // A UDP datagram from a port nobody holds.
    let u = a.udp_socket().unwrap();
    let to = SocketAddrV4::new(B_IP, 9);
    a.udp_send_to(now, u, &[7; 1200], Some(to)).unwrap();
    let sent = drain(&mut a);
    a.close(now, u).unwrap();
    a.receive(
        now,
        &unreachable_about(&sent[0], DstUnreachable::FragRequired { mtu: 576 }),
    );
    // The path is still the interface's: a new socket's 1200 bytes go whole, with DF.
    let u = a.udp_socket().unwrap();
    a.udp_send_to(now, u, &[7; 1200], Some(to)).unwrap();
    assert_eq!(ip_shapes(&drain(&mut a)), vec![(true, false, 1228)]);
    // The real one, about the segment in flight, is taken.
    a.receive(
        now,
        &unreachable_about(&data, DstUnreachable::FragRequired { mtu: 1000 }),
    );
    drain(&mut a);
    a.udp_send_to(now, u, &[7; 1200], Some(to)).unwrap();
    assert_eq!(ip_shapes(&drain(&mut a)).len(), 2);
}

/// Linux's ipv4_sk_update_pmtu begins with ip_sk_accept_pmtu: a UDP socket with
/// IP_PMTUDISC_INTERFACE or IP_PMTUDISC_OMIT (what a DNS server sets against forged ICMP) teaches
/// no path MTU, yet hears EMSGSIZE as any socket but a DONT one does (__udp4_lib_err).
#[test]
fn an_interface_or_omit_udp_socket_teaches_no_path_mtu() {
    use super::output::PmtuDisc;
    let mut buf = [0u8; 8];
    for disc in [PmtuDisc::Interface, PmtuDisc::Omit, PmtuDisc::Want] {
        let (mut a, u, to, now, first) = udp_datagram_to_b(1200);
        let s = a.udp_socket_mut(u).unwrap();
        s.pmtudisc = disc;
        s.recv_err = true;
        a.receive(
            now,
            &unreachable_about(&first[0], DstUnreachable::FragRequired { mtu: 1000 }),
        );
        assert_eq!(
            a.udp_recv_from(u, &mut buf, false).map(|_| ()),
            Err(Errno::EMSGSIZE),
            "{disc:?}"
        );
        let other = a.udp_socket().unwrap();
        a.udp_send_to(now, other, &[7; 1200], Some(to)).unwrap();
        let want = if disc == PmtuDisc::Want { 2 } else { 1 };
        assert_eq!(ip_shapes(&drain(&mut a)).len(), want, "{disc:?}");
    }
}

/// Beyond TCP and UDP, Linux learns a path MTU only from an error about an echo reply, which the
/// kernel sends itself (icmp_err → ipv4_update_pmtu); about other ICMP it goes to ping_err, for
/// a ping socket the stack does not have, and IGMP or another protocol has no error handler.
#[test]
fn only_an_echo_reply_among_other_protocols_teaches_a_path_mtu() {
    let mut a = ours();
    introduce(&mut a);
    let now = Instant::from_millis(1);
    a.receive(now, &ping_frame(&[5; 64]));
    let reply = drain(&mut a).pop().expect("the echo reply");
    let to = SocketAddrV4::new(B_IP, 9);
    let u = a.udp_socket().unwrap();
    let path_mtu_learnt = |a: &mut Stack, about: &[u8]| {
        a.receive(
            now,
            &unreachable_about(about, DstUnreachable::FragRequired { mtu: 1000 }),
        );
        a.udp_send_to(now, u, &[7; 1200], Some(to)).unwrap();
        ip_shapes(&drain(a)).len() == 2
    };
    let mut timestamp_reply = reply.clone();
    timestamp_reply[ETH_LEN + 20] = 14;
    assert!(!path_mtu_learnt(&mut a, &timestamp_reply));
    for protocol in [IpProtocol::IGMP, IpProtocol(253)] {
        let mut other = reply.clone();
        let mut p = Ipv4Packet::new_unchecked(&mut other[ETH_LEN..]);
        p.set_protocol(protocol);
        p.fill_checksum();
        assert!(!path_mtu_learnt(&mut a, &other), "{protocol:?}");
    }
    assert!(path_mtu_learnt(&mut a, &reply));
}

/// `frame` (a TCP segment A sent) with its sequence number `seq`.
fn with_seq(frame: &[u8], seq: u32) -> Vec<u8> {
    let mut f = frame.to_vec();
    f[ETH_LEN + 20 + 4..ETH_LEN + 20 + 8].copy_from_slice(&seq.to_be_bytes());
    f
}

fn seq_of(frame: &[u8]) -> u32 {
    let at = ETH_LEN + 20 + 4;
    u32::from_be_bytes(frame[at..at + 4].try_into().unwrap())
}

/// Where Linux's tcp_v4_err takes "fragmentation needed": a quoted sequence number from SND.UNA
/// to SND.NXT, both in (`between`), SYN-SENT included; never in TIME-WAIT (it returns at once),
/// nor for a half-open passive connection, a request socket whose tcp_req_err never looks at the
/// path MTU.
#[test]
fn fragmentation_needed_is_taken_only_for_a_sequence_number_in_flight() {
    let frag_needed = |a: &mut Stack, about: &[u8]| {
        let before = a.path_mtus_learnt();
        a.receive(
            Instant::from_millis(10),
            &unreachable_about(about, DstUnreachable::FragRequired { mtu: 1000 }),
        );
        drain(a);
        a.path_mtus_learnt() > before
    };
    // Established, 1400 bytes in flight: SND.NXT is in, one past it is not.
    let (mut a, _b, h, _) = tcp_pair(15);
    a.tcp_send(Instant::from_millis(10), h, &[1; 1400]).unwrap();
    let data = drain(&mut a).pop().expect("the data segment");
    let nxt = seq_of(&data).wrapping_add(1400);
    assert!(!frag_needed(&mut a, &with_seq(&data, nxt.wrapping_add(1))));
    assert!(frag_needed(&mut a, &with_seq(&data, nxt)));
    // SYN-SENT: the SYN's sequence number is in flight.
    let mut a = ours();
    introduce(&mut a);
    let h = a.tcp_socket().unwrap();
    a.tcp_connect(Instant::ZERO, h, SocketAddrV4::new(B_IP, PORT))
        .unwrap();
    let syn = drain(&mut a).pop().expect("the SYN");
    assert!(frag_needed(&mut a, &syn));
    // SYN-RECEIVED on a listener: its SYN-ACK quoted, nothing taken.
    let mut a = ours();
    introduce(&mut a);
    let _l = listen_on(&mut a, 4);
    a.receive(
        Instant::ZERO,
        &tcp_frame(&TcpRepr {
            src_port: 4444,
            dst_port: PORT,
            seq: 1000,
            ack: 0,
            flags: TcpFlags::SYN,
            window: 64240,
            urgent: 0,
            options: TcpOptions::default(),
            payload: &[],
        }),
    );
    let syn_ack = drain(&mut a).pop().expect("the SYN-ACK");
    assert!(!frag_needed(&mut a, &syn_ack));
    // TIME-WAIT: A closed first; its last ACK (SND.NXT, SND.UNA too) quoted, nothing taken.
    let (mut a, mut b, h, hb) = tcp_pair(15);
    let now = Instant::from_millis(10);
    a.close(now, h).unwrap();
    exchange(&mut a, &mut b, now);
    b.close(now, hb).unwrap();
    drain(&mut b).iter().for_each(|f| a.receive(now, f));
    let last_ack = drain(&mut a).pop().expect("the last ACK");
    assert!(!frag_needed(&mut a, &last_ack));
}

#[test]
fn a_path_mtu_under_552_is_taken_as_552_and_locked() {
    let (mut a, u, to, now, first) = udp_datagram_to_b(1000);
    a.receive(
        now,
        &unreachable_about(&first[0], DstUnreachable::FragRequired { mtu: 68 }),
    );
    // 552 it is, and WANT no longer sets DF (Linux's locked MTU): a 500-byte datagram goes whole
    // without it, a 1000-byte one in fragments of at most 552.
    a.udp_send_to(now, u, &[7; 500], Some(to)).unwrap();
    assert_eq!(ip_shapes(&drain(&mut a)), vec![(false, false, 528)]);
    a.udp_send_to(now, u, &[7; 1000], Some(to)).unwrap();
    let shapes = ip_shapes(&drain(&mut a));
    assert!(
        shapes.len() == 2 && shapes.iter().all(|&(df, _, len)| !df && len <= 552),
        "{shapes:?}"
    );
}

#[test]
fn a_path_mtu_said_again_after_half_its_time_is_kept_ten_minutes_more() {
    // Linux's __ip_rt_update_pmtu renews an exception when the same MTU comes again and less
    // than half of ip_rt_mtu_expires is left; sooner, the repeat changes nothing.
    let (mut a, u, to, now, first) = udp_datagram_to_b(1200);
    let frag_needed = unreachable_about(&first[0], DstUnreachable::FragRequired { mtu: 1000 });
    a.receive(now, &frag_needed);
    let fragments_at = |a: &mut Stack, at: Instant| {
        a.udp_send_to(at, u, &[7; 1200], Some(to)).unwrap();
        ip_shapes(&drain(a)).len()
    };
    a.receive(now + Duration::from_secs(100), &frag_needed);
    assert_eq!(fragments_at(&mut a, now + Duration::from_secs(599)), 2);
    assert_eq!(
        fragments_at(&mut a, now + Duration::from_secs(601)),
        1,
        "not renewed"
    );
    let again = now + Duration::from_secs(700);
    a.receive(again, &frag_needed);
    a.receive(again + Duration::from_secs(400), &frag_needed);
    assert_eq!(
        fragments_at(&mut a, again + Duration::from_secs(700)),
        2,
        "renewed at 400 s"
    );
    assert_eq!(fragments_at(&mut a, again + Duration::from_secs(1001)), 1);
    // A locked MTU stays as it is until it expires.
    let locked = again + Duration::from_secs(2000);
    a.receive(
        locked,
        &unreachable_about(&first[0], DstUnreachable::FragRequired { mtu: 68 }),
    );
    a.receive(locked + Duration::from_secs(400), &frag_needed);
    a.udp_send_to(locked + Duration::from_secs(401), u, &[7; 500], Some(to))
        .unwrap();
    assert_eq!(ip_shapes(&drain(&mut a)), vec![(false, false, 528)]);
    assert_eq!(fragments_at(&mut a, locked + Duration::from_secs(601)), 1);
}

#[test]
fn a_new_connection_fits_a_path_mtu_learnt_before() {
    new_connection_fits_a_path_mtu(false);
    // With segmentation offload too: the device cuts at the interface's MTU, so the connection
    // sends no super-segment.
    new_connection_fits_a_path_mtu(true);
}

fn new_connection_fits_a_path_mtu(tso: bool) {
    let (mut a, mut b, ha, _hb) = tcp_pair(5);
    a.tcp_defaults_mut().tso = tso;
    let now = Instant::from_millis(10);
    // A UDP datagram to B meets a router that takes 1000.
    let u = a.udp_socket().unwrap();
    a.udp_send_to(now, u, &[7; 1200], Some(SocketAddrV4::new(B_IP, 9)))
        .unwrap();
    let sent = drain(&mut a);
    let icmp = unreachable_about(&sent[0], DstUnreachable::FragRequired { mtu: 1000 });
    a.receive(now, &icmp);
    // A connection opened after offers an MSS of 960 and sends no larger segment, as Linux's,
    // whose connections take their route's MTU; the one open before keeps its own.
    let h = a.tcp_socket().unwrap();
    a.tcp_connect(now, h, SocketAddrV4::new(B_IP, PORT))
        .unwrap();
    let syn = drain(&mut a)
        .into_iter()
        .find(|f| {
            tcp_segments(std::slice::from_ref(f))
                .first()
                .is_some_and(|s| s.0.contains(TcpFlags::SYN))
        })
        .expect("a SYN");
    let (_, payload) = parse_ip(&syn);
    let t = TcpPacket::new_checked(&payload[..]).unwrap();
    let opts = TcpOptions::parse(t.options());
    assert_eq!(opts.mss, Some(960));
    b.receive(now, &syn);
    exchange(&mut a, &mut b, now);
    assert_eq!(a.tcp_send(now, h, &[1; 3000]).unwrap(), 3000);
    let out = drain(&mut a);
    assert!(
        ip_shapes(&out).iter().all(|&(_, _, len)| len <= 1000),
        "{:?}",
        ip_shapes(&out)
    );
    let segs = tcp_segments(&out);
    assert!(segs.iter().all(|s| s.1 <= 960 - 12), "{segs:?}");
    assert!(
        a.tcp_socket_ref(ha)
            .unwrap()
            .connection()
            .unwrap()
            .stats()
            .snd_mss
            > 1000
    );
}

#[test]
fn a_locked_path_mtu_takes_df_off_a_want_connection_and_ids_stay_its_own() {
    let (mut a, mut b, ha, hb) = tcp_pair(5);
    let now = Instant::from_millis(10);
    a.tcp_send(now, ha, &[1; 1400]).unwrap();
    let sent = drain(&mut a);
    let (first, _) = parse_ip(&sent[0]);
    assert!(first.dont_frag);
    // A router says 300 about the segment in flight: taken as 552, locked. The connection's
    // segments lose DF (Linux's ip_dont_fragment for IP_PMTUDISC_WANT) and keep counting their
    // own identifications: the resends at once too, the path MTU being learnt before them
    // (tcp_v4_mtu_reduced: inet_csk_update_pmtu, then tcp_simple_retransmit).
    a.receive(
        now,
        &unreachable_about(&sent[0], DstUnreachable::FragRequired { mtu: 300 }),
    );
    let resent = ip_shapes(&drain(&mut a));
    assert!(resent.len() >= 3, "{resent:?}");
    assert!(
        resent.iter().all(|&(df, _, len)| !df && len <= 552),
        "{resent:?}"
    );
    sent.iter().for_each(|f| b.receive(now, f));
    exchange(&mut a, &mut b, now);
    let _ = drain(&mut a);
    let _ = hb;
    a.tcp_send(now, ha, &[2; 100]).unwrap();
    let next = drain(&mut a);
    let (ip, _) = parse_ip(next.last().unwrap());
    assert!(!ip.dont_frag);
    assert!(
        ip.ident.wrapping_sub(first.ident) <= 4,
        "{} after {}",
        ip.ident,
        first.ident
    );
}

#[test]
fn an_icmp_error_sent_to_the_broadcast_address_is_not_heard() {
    let (mut a, u, to, now, first) = udp_datagram_to_b(1200);
    let (header, payload) = parse_ip(&first[0]);
    let repr = Icmpv4Repr::DstUnreachable {
        reason: DstUnreachable::FragRequired { mtu: 1000 },
        header,
        data: &payload[..8],
    };
    let to_all = Ipv4Addr::new(10, 77, 0, 255);
    let forged = ip_frame(to_all, IpProtocol::ICMP, repr.buffer_len(), |buf| {
        repr.emit(&mut Icmpv4Packet::new_unchecked(buf), ChecksumMode::Full)
    });
    a.receive(now, &forged);
    a.udp_send_to(now, u, &[7; 1200], Some(to)).unwrap();
    assert_eq!(ip_shapes(&drain(&mut a)), vec![(true, false, 1228)]);
}
