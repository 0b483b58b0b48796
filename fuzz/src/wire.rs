//! One check per wire format: parse whatever the fuzzer made (it must never panic), and where the
//! module offers `emit`, emit what was parsed and parse that again: the same meaning must come
//! back (parse → emit → parse symmetry), and re-emitting must give the same bytes.

use std::net::Ipv4Addr;

use tapstack::wire::arp::{ArpPacket, ArpRepr};
use tapstack::wire::dns::{self, DnsPacket, DnsRepr};
use tapstack::wire::ethernet::{EthernetFrame, EthernetRepr, HEADER_LEN as ETH_LEN};
use tapstack::wire::icmp::{Icmpv4Packet, Icmpv4Repr};
use tapstack::wire::igmp::{IgmpPacket, IgmpRepr};
use tapstack::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use tapstack::wire::tcp::{TcpOptionIter, TcpOptions, TcpPacket, TcpRepr};
use tapstack::wire::udp::{UdpPacket, UdpRepr};
use tapstack::wire::ChecksumMode;

/// The checksum mode a fuzz input asks for (its first byte's low bit), and the rest.
fn mode_and_rest(data: &[u8]) -> Option<(ChecksumMode, &[u8])> {
    let (&first, rest) = data.split_first()?;
    let mode = if first & 1 == 0 {
        ChecksumMode::Full
    } else {
        ChecksumMode::Offloaded
    };
    Some((mode, rest))
}

/// Two IPv4 addresses for a pseudo-header, from the input's first 8 bytes (zeros if shorter).
fn addrs_and_rest(data: &[u8]) -> (Ipv4Addr, Ipv4Addr, &[u8]) {
    let mut a = [0u8; 8];
    let n = data.len().min(8);
    a[..n].copy_from_slice(&data[..n]);
    (
        Ipv4Addr::new(a[0], a[1], a[2], a[3]),
        Ipv4Addr::new(a[4], a[5], a[6], a[7]),
        &data[n..],
    )
}

pub fn ethernet(data: &[u8]) {
    let Ok(frame) = EthernetFrame::new_checked(data) else {
        assert!(data.len() < ETH_LEN);
        return;
    };
    let repr = EthernetRepr::parse(&frame).expect("a checked frame parses");
    let mut out = data.to_vec();
    repr.emit(&mut EthernetFrame::new_unchecked(&mut out[..]));
    assert_eq!(out, data, "emit wrote other header bytes than it parsed");
    let again = EthernetRepr::parse(&EthernetFrame::new_checked(&out[..]).unwrap()).unwrap();
    assert_eq!(again, repr);
    assert_eq!(frame.payload(), &data[ETH_LEN..]);
}

pub fn arp(data: &[u8]) {
    let Ok(packet) = ArpPacket::new_checked(data) else {
        return;
    };
    let Ok(repr) = ArpRepr::parse(&packet) else {
        return;
    };
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut ArpPacket::new_unchecked(&mut out[..]));
    // An Ethernet/IPv4 ARP packet is 28 bytes and every one of them has a meaning.
    assert_eq!(out[..], data[..out.len()], "ARP re-emits other bytes");
    let again = ArpRepr::parse(&ArpPacket::new_checked(&out[..]).unwrap()).unwrap();
    assert_eq!(again, repr);
}

pub fn ipv4(data: &[u8]) {
    let Some((mode, data)) = mode_and_rest(data) else {
        return;
    };
    // The ICMP error path reads quoted headers with their own, laxer rules.
    if let Ok((quoted, rest)) = Ipv4Repr::parse_quoted(data) {
        assert!(rest.len() <= quoted.payload_len);
    }
    let Ok(packet) = Ipv4Packet::new_checked(data) else {
        return;
    };
    let Ok(repr) = Ipv4Repr::parse(&packet, mode) else {
        return;
    };
    let header_len = packet.header_len() as usize;
    assert!((20..=60).contains(&header_len) && header_len <= data.len());
    assert_eq!(packet.options().len(), header_len - 20);
    assert_eq!(packet.payload().len(), repr.payload_len);
    assert_eq!(Ipv4Repr::parse_quoted(data).unwrap().0, repr);

    // Options are not kept: the re-emitted header is 20 bytes with the same meaning.
    for emit_mode in [ChecksumMode::Full, ChecksumMode::Offloaded] {
        let mut out = vec![0u8; repr.buffer_len()];
        let mut p = Ipv4Packet::new_unchecked(&mut out[..]);
        repr.emit(&mut p, emit_mode);
        p.payload_mut().copy_from_slice(packet.payload());
        let p = Ipv4Packet::new_checked(&out[..]).expect("emitted header is well formed");
        match emit_mode {
            ChecksumMode::Full => assert!(p.verify_checksum()),
            ChecksumMode::Offloaded => assert_eq!(p.checksum(), 0),
        }
        let again = Ipv4Repr::parse(&p, ChecksumMode::Offloaded).unwrap();
        assert_eq!(again, repr);
        assert_eq!(p.payload(), packet.payload());
        if emit_mode == ChecksumMode::Full {
            assert_eq!(Ipv4Repr::parse(&p, ChecksumMode::Full).unwrap(), repr);
        }
    }
}

pub fn igmp(data: &[u8]) {
    let Some((mode, data)) = mode_and_rest(data) else {
        return;
    };
    let Ok(packet) = IgmpPacket::new_checked(data) else {
        return;
    };
    let Ok(repr) = IgmpRepr::parse(&packet, mode) else {
        return;
    };
    let len = repr.buffer_len();
    // Some slack after the message: emit must write only its own bytes.
    let mut out = vec![0xa5u8; len + 7];
    repr.emit(&mut IgmpPacket::new_unchecked(&mut out[..len]));
    assert!(
        out[len..].iter().all(|&b| b == 0xa5),
        "emit wrote past buffer_len"
    );
    let p = IgmpPacket::new_checked(&out[..len]).unwrap();
    let again = IgmpRepr::parse(&p, ChecksumMode::Full).expect("emitted message parses");
    assert_eq!(again, repr);
    let mut twice = vec![0u8; len];
    again.emit(&mut IgmpPacket::new_unchecked(&mut twice[..]));
    assert_eq!(twice, out[..len], "re-emitting gives the same bytes");
}

pub fn icmp(data: &[u8]) {
    let Some((mode, data)) = mode_and_rest(data) else {
        return;
    };
    let Ok(packet) = Icmpv4Packet::new_checked(data) else {
        return;
    };
    let Ok(repr) = Icmpv4Repr::parse(&packet, mode) else {
        return;
    };
    let len = repr.buffer_len();
    // Some slack after the message: emit must write only its own bytes.
    let mut out = vec![0xa5u8; len + 7];
    repr.emit(
        &mut Icmpv4Packet::new_unchecked(&mut out[..]),
        ChecksumMode::Full,
    );
    assert!(
        out[len..].iter().all(|&b| b == 0xa5),
        "emit wrote past buffer_len"
    );
    let p = Icmpv4Packet::new_checked(&out[..len]).unwrap();
    let again = Icmpv4Repr::parse(&p, ChecksumMode::Full).expect("emitted message parses");
    match (repr, again) {
        // A quoted header's options are dropped on emit; the rest of the quote survives whole.
        (
            Icmpv4Repr::DstUnreachable {
                reason: r1,
                header: h1,
                data: d1,
            },
            Icmpv4Repr::DstUnreachable {
                reason: r2,
                header: h2,
                data: d2,
            },
        ) => {
            assert_eq!((r1, h1, d1), (r2, h2, d2));
        }
        (
            Icmpv4Repr::TimeExceeded {
                reason: r1,
                header: h1,
                data: d1,
            },
            Icmpv4Repr::TimeExceeded {
                reason: r2,
                header: h2,
                data: d2,
            },
        ) => {
            assert_eq!((r1, h1, d1), (r2, h2, d2));
        }
        (a, b) => assert_eq!(a, b),
    }
    // Echo messages carry no hidden state: they re-emit byte for byte, but for the checksum,
    // where a received 0xffff and the computed 0x0000 are both zero in one's complement, and a
    // request's code, which is not looked at (Linux answers whatever it is) and emits as 0.
    if matches!(
        repr,
        Icmpv4Repr::EchoRequest { .. } | Icmpv4Repr::EchoReply { .. }
    ) {
        assert_eq!(out[0], data[0]);
        if matches!(repr, Icmpv4Repr::EchoReply { .. }) {
            assert_eq!(out[1], data[1]);
        }
        assert_eq!(out[4..len], data[4..len]);
    }
    let mut off = vec![0u8; len];
    repr.emit(
        &mut Icmpv4Packet::new_unchecked(&mut off[..]),
        ChecksumMode::Offloaded,
    );
    let p = Icmpv4Packet::new_checked(&off[..]).unwrap();
    assert_eq!(p.checksum(), 0);
}

pub fn udp(data: &[u8]) {
    let Some((mode, data)) = mode_and_rest(data) else {
        return;
    };
    let (src, dst, data) = addrs_and_rest(data);
    let Ok(packet) = UdpPacket::new_checked(data) else {
        return;
    };
    let Ok(repr) = UdpRepr::parse(&packet, src, dst, mode) else {
        return;
    };
    let payload = packet.payload();
    assert!(payload.len() + 8 <= data.len());
    let mut out = vec![0u8; repr.buffer_len(payload.len())];
    repr.emit(
        &mut UdpPacket::new_unchecked(&mut out[..]),
        src,
        dst,
        payload,
        ChecksumMode::Full,
    );
    let p = UdpPacket::new_checked(&out[..]).unwrap();
    assert!(p.verify_checksum(src, dst));
    assert_ne!(
        p.checksum(),
        0,
        "a computed UDP checksum of zero is sent as 0xffff"
    );
    assert_eq!(
        UdpRepr::parse(&p, src, dst, ChecksumMode::Full).unwrap(),
        repr
    );
    assert_eq!(p.payload(), payload);
    // Re-emitting a well-formed datagram with a checksum gives back its bytes.
    if mode == ChecksumMode::Full && packet.checksum() != 0 {
        assert_eq!(&out[..], &data[..out.len()]);
    }
}

pub fn tcp(data: &[u8]) {
    let Some((mode, data)) = mode_and_rest(data) else {
        return;
    };
    let (src, dst, data) = addrs_and_rest(data);
    // The option iterator and the options' own parse/emit, on the raw bytes.
    let raw_options = &data[..data.len().min(40)];
    for option in TcpOptionIter::new(raw_options).flatten() {
        let mut buf = [0u8; 300];
        let n = option.emit(&mut buf);
        assert_eq!(n, option.buffer_len());
        let back = TcpOptionIter::new(&buf[..n]).next().unwrap().unwrap();
        assert_eq!(back, option);
    }
    let options = TcpOptions::parse(raw_options);
    check_options(&options);

    let Ok(packet) = TcpPacket::new_checked(data) else {
        return;
    };
    let Ok(repr) = TcpRepr::parse(&packet, src, dst, mode) else {
        return;
    };
    check_options(&repr.options);
    assert_eq!(repr.payload, packet.payload());
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(
        &mut TcpPacket::new_unchecked(&mut out[..]),
        src,
        dst,
        ChecksumMode::Full,
    );
    let p = TcpPacket::new_checked(&out[..]).expect("emitted segment is well formed");
    assert!(p.verify_checksum(src, dst));
    let again = TcpRepr::parse(&p, src, dst, ChecksumMode::Full).unwrap();
    let mut expected = repr;
    // Only as many SACK blocks as fit beside the other options are sent.
    expected.options.sack_blocks = repr
        .options
        .sack_blocks
        .iter()
        .take(repr.options.sack_blocks_sent())
        .fold(
            Default::default(),
            |mut b: tapstack::wire::SackBlocks, &(l, r)| {
                b.push(l, r);
                b
            },
        );
    assert_eq!(again, expected);
}

fn check_options(options: &TcpOptions) {
    let len = options.buffer_len();
    assert!(
        len <= 40 && len.is_multiple_of(4),
        "options take {len} bytes"
    );
    let mut buf = [0u8; 40];
    assert_eq!(options.emit(&mut buf), len);
    let again = TcpOptions::parse(&buf[..len]);
    assert_eq!(again.mss, options.mss);
    assert_eq!(again.window_scale, options.window_scale);
    assert_eq!(again.sack_permitted, options.sack_permitted);
    assert_eq!(again.timestamps, options.timestamps);
    assert_eq!(again.sack_blocks.len(), options.sack_blocks_sent());
    assert_eq!(
        again.sack_blocks.as_slice(),
        &options.sack_blocks.as_slice()[..options.sack_blocks_sent()]
    );
}

pub fn dns(data: &[u8]) {
    // Names on their own, from any offset.
    if let Some((&at, msg)) = data.split_first() {
        if let Ok((name, end)) = dns::read_name(msg, at as usize) {
            assert!(end <= msg.len() && end > at as usize);
            let mut wire = Vec::new();
            dns::encode_name(&name, &mut wire).expect("a name read encodes");
            assert!(wire.len() <= dns::MAX_NAME_LEN);
            let (back, back_end) = dns::read_name(&wire, 0).unwrap();
            assert_eq!(back, name);
            assert_eq!(back_end, wire.len());
        }
    }
    let Ok(packet) = DnsPacket::new_checked(data) else {
        return;
    };
    let Ok(repr) = DnsRepr::parse(&packet) else {
        return;
    };
    let out = repr.emit().expect("a parsed message emits");
    let again = DnsRepr::parse(&DnsPacket::new_checked(&out[..]).unwrap()).expect("emitted parses");
    let expected = DnsRepr {
        nscount: 0,
        arcount: 0,
        ..repr.clone()
    };
    assert_eq!(again, expected);
    assert_eq!(again.emit().unwrap(), out, "emit is not stable");
    // What the resolver asks of a response must not panic either.
    if let Some(q) = repr.questions.first() {
        let _ = repr.addresses(&q.name);
        let _ = repr.ptr_names(&q.name);
        let _ = repr.answers_query(&repr);
    }
}
