//! The lower stack against the Linux kernel over a real TAP: ARP, ICMP echo, UDP, ICMP errors,
//! fragmentation (overlaps and duplicates included), bad TCP options, and the pcap recorder. Each
//! test makes and deletes its own namespace.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use common::*;
use tapstack::error::Errno;

fn kernel(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(KERNEL_IP.parse().unwrap(), port)
}

#[test]
fn kernel_pings_the_stack_and_learns_its_mac() {
    require("ping");
    let net = TestNet::new("ping");
    let rt = net.start_stack(&[]);
    let out = net.sh(&format!("ping -c 5 -i 0.2 -W 2 {STACK_IP}"), 20);
    assert!(
        text(&out.stdout).contains("5 received"),
        "{}",
        text(&out.stdout)
    );
    // 1400 bytes of data fits one frame; 4000 needs fragments both ways (reassembled by the stack,
    // fragmented again in its reply).
    for size in [1400, 1472, 4000] {
        let out = net.sh(&format!("ping -c 3 -i 0.2 -W 2 -s {size} {STACK_IP}"), 20);
        assert!(
            text(&out.stdout).contains("3 received"),
            "size {size}: {}",
            text(&out.stdout)
        );
    }
    let neigh = text(&net.sh(&format!("ip neigh show {STACK_IP}"), 5).stdout);
    let mac = rt.with_stack(|s, _| s.iface().mac);
    assert!(
        neigh.contains(&mac.to_string()),
        "ip neigh: {neigh:?}, our mac {mac}"
    );
    let stats = rt.with_stack(|s, _| s.stats().clone());
    assert!(stats.icmp_echo_replies >= 14, "{stats}");
    assert!(stats.ip_reassembled >= 3, "{stats}");
    assert_eq!(stats.malformed + stats.bad_checksum, 0, "{stats}");
}

#[test]
fn udp_round_trip_through_kernel_echo() {
    require("socat");
    let net = TestNet::new("udpecho");
    let rt = net.start_stack(&[]);
    let mut echo = net
        .command("socat")
        .args(["-T", "10", "UDP4-RECVFROM:7777,fork,reuseaddr", "EXEC:cat"])
        .spawn()
        .unwrap();
    let mut sock = rt.udp_socket().unwrap();
    sock.read_timeout = Some(Duration::from_millis(500));
    let mut buf = [0u8; 2048];
    let mut got = None;
    // socat may need a moment to bind; ARP resolution happens on the first send.
    for i in 0..20 {
        let msg = format!("hello {i}");
        sock.send_to(msg.as_bytes(), kernel(7777)).unwrap();
        match sock.recv_from(&mut buf) {
            Ok(r) => {
                got = Some((r, buf[..r.copied].to_vec()));
                break;
            }
            Err(Errno::EAGAIN) => continue,
            Err(e) => panic!("recv: {e:?}"),
        }
    }
    let _ = echo.kill();
    let _ = echo.wait();
    let (r, data) = got.expect("no echo came back");
    assert!(data.starts_with(b"hello "), "{data:?}");
    assert_eq!(
        r.from,
        kernel(7777),
        "echo must come from the kernel side's address and port"
    );
    let local = sock.local_addr().unwrap();
    assert!(local.port() >= 32768, "ephemeral port {local}");
}

#[test]
fn kernel_udp_to_closed_port_gets_connection_refused() {
    require("python3");
    let net = TestNet::new("refused");
    let _rt = net.start_stack(&[]);
    let script = format!(
        "import socket\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.settimeout(3)\n\
         s.connect(('{STACK_IP}', 9))\n\
         s.send(b'anyone?')\n\
         try:\n    s.recv(100)\n    print('got data?!')\n\
         except ConnectionRefusedError:\n    print('REFUSED')\n\
         except socket.timeout:\n    print('TIMEOUT')\n"
    );
    let out = net
        .command("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout).trim(), "REFUSED", "{}", text(&out.stderr));
}

#[test]
fn fragmented_datagrams_are_reassembled_and_sent_fragmented() {
    require("python3");
    let net = TestNet::new("frag");
    let rt = net.start_stack(&[]);
    let mut sock = rt.udp_socket().unwrap();
    sock.bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5000))
        .unwrap();
    sock.read_timeout = Some(Duration::from_secs(5));
    // The kernel sends 4000 bytes (three fragments on a 1500 MTU), waits for our echo.
    let script = format!(
        "import socket\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.settimeout(5)\n\
         data = bytes(i * 7 % 251 for i in range(4000))\n\
         s.sendto(data, ('{STACK_IP}', 5000))\n\
         back, addr = s.recvfrom(10000)\n\
         print('OK' if back == data[::-1] else 'MISMATCH', len(back), addr[0])\n"
    );
    let child = net
        .command("python3")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut buf = vec![0u8; 65536];
    let r = sock.recv_from(&mut buf).expect("the 4000-byte datagram");
    assert_eq!(r.len, 4000);
    let expected: Vec<u8> = (0..4000u32).map(|i| (i * 7 % 251) as u8).collect();
    assert_eq!(&buf[..r.copied], &expected[..]);
    let reversed: Vec<u8> = expected.iter().rev().copied().collect();
    sock.send_to(&reversed, r.from).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout).trim(), format!("OK 4000 {STACK_IP}"));
    let stats = rt.with_stack(|s, _| s.stats().clone());
    assert!(
        stats.ip_reassembled >= 1 && stats.ip_fragments_out >= 3,
        "{stats}"
    );
}

#[test]
fn pcap_reads_back_with_arp_and_icmp() {
    require("tcpdump");
    require("ping");
    let net = TestNet::new("pcap");
    let dir = std::env::temp_dir().join(format!("tapstack-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.pcap");
    let rt = net.start_stack(&[("TAPSTACK_PCAP", path.to_str().unwrap())]);
    let out = net.sh(&format!("ping -c 3 -i 0.2 -W 2 {STACK_IP}"), 20);
    assert!(
        text(&out.stdout).contains("3 received"),
        "{}",
        text(&out.stdout)
    );
    drop(rt); // flushes and closes the capture
    let out = std::process::Command::new("tcpdump")
        .args(["-n", "-r", path.to_str().unwrap()])
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "tcpdump -r failed: {stderr}");
    assert!(
        !stderr.contains("truncated") && !stderr.contains("bogus"),
        "{stderr}"
    );
    assert!(
        stdout.contains("ARP, Request who-has 10.77.0.2"),
        "{stdout}"
    );
    assert!(stdout.contains("ARP, Reply 10.77.0.2 is-at"), "{stdout}");
    assert_eq!(stdout.matches("ICMP echo request").count(), 3, "{stdout}");
    assert_eq!(stdout.matches("ICMP echo reply").count(), 3, "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn malformed_frames_from_the_wire_are_counted_and_dropped() {
    require("python3");
    let net = TestNet::new("malformed");
    let rt = net.start_stack(&[]);
    let mac = rt.with_stack(|s, _| s.iface().mac.to_string());
    // Frames written raw onto tap0 from the kernel side with a packet socket: each is broken in one
    // way. Afterwards the stack must still answer ping. (A frame shorter than an Ethernet header
    // cannot be sent this way; the stack's unit tests feed those.)
    let script = raw_sender(&mac)
        + r#"
def ip_as(payload, proto=17, total=None, ihl=5, good=True):
    total = 20 + len(payload) if total is None else total
    h = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, total, 1, 0, 64, proto, 0, SRC, DST)
    c = csum(h) if good else 0x1234
    return h[:10] + struct.pack('!H', c) + h[12:] + payload
eth = ours + theirs
frames = [
    eth + b'\x08\x06' + b'\x00\x01\x08\x00\x06',    # truncated ARP
    eth + b'\x08\x00' + ip_as(b'x' * 8)[:12],          # truncated IP header
    eth + b'\x08\x00' + ip_as(b'x' * 8, total=400),    # IP total length beyond the frame
    eth + b'\x08\x00' + ip_as(b'x' * 8, ihl=15),       # IP header length beyond the frame
    eth + b'\x08\x00' + ip_as(b'x' * 8, good=False),   # bad IP header checksum
    eth + b'\x08\x00' + ip_as(struct.pack('!HHHH', 5, 6, 400, 0) + b'data'),   # UDP length beyond packet
    eth + b'\x08\x00' + ip_as(struct.pack('!HHHH', 5, 6, 12, 0xdead) + b'data'),  # bad UDP checksum
    eth + b'\x08\x00' + ip_as(struct.pack('!BBHHH', 8, 0, 0xbeef, 1, 1) + b'ping', proto=1),  # bad ICMP checksum
    eth + b'\x08\x00' + ip_as(b'\x08', proto=1),       # truncated ICMP
]
for f in frames:
    s.send(f)
print(len(frames))
"#;
    let out = net
        .command("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout).trim(), "9", "{}", text(&out.stderr));
    assert!(
        eventually(Duration::from_secs(3), || {
            let s = rt.with_stack(|s, _| s.stats().clone());
            s.malformed + s.bad_checksum >= 9
        }),
        "{}",
        rt.with_stack(|s, _| s.stats().clone())
    );
    let stats = rt.with_stack(|s, _| s.stats().clone());
    assert_eq!(stats.bad_checksum, 3, "{stats}");
    assert_eq!(stats.malformed, 6, "{stats}");
    let out = net.sh(&format!("ping -c 2 -i 0.2 -W 2 {STACK_IP}"), 10);
    assert!(
        text(&out.stdout).contains("2 received"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn unanswered_arp_reports_host_unreachable_to_a_udp_socket_with_ip_recverr() {
    let net = TestNet::new("arpfail");
    let rt = net.start_stack(&[]);
    // Nobody has 10.77.0.99: three requests a second apart, then the socket learns of it if it
    // asked for every error (IP_RECVERR); one that did not waits on, as on Linux.
    let peer = SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, 99), 9);
    let mut quiet = rt.udp_socket().unwrap();
    let mut told = rt.udp_socket().unwrap();
    rt.with_stack(|s, _| s.udp_socket_mut(told.handle()).unwrap().recv_err = true);
    for sock in [&mut quiet, &mut told] {
        sock.read_timeout = Some(Duration::from_secs(5));
        sock.connect(peer).unwrap();
        assert_eq!(sock.send(b"x"), Ok(1));
    }
    let start = std::time::Instant::now();
    let mut buf = [0u8; 16];
    assert_eq!(told.recv_from(&mut buf), Err(Errno::EHOSTUNREACH));
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(2500) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    quiet.read_timeout = Some(Duration::from_millis(500));
    assert_eq!(quiet.recv_from(&mut buf), Err(Errno::EAGAIN));
    let stats = rt.with_stack(|s, _| s.stats().clone());
    assert_eq!(stats.arp_requests_out, 3, "{stats}");
    assert_eq!(stats.arp_failures, 2, "{stats}");
}

/// Python that writes raw frames onto tap0 from the kernel side, to the stack's MAC `mac`:
/// `ip(payload, proto, ident, frag)` builds an IPv4 packet from 10.77.0.1, `frag` being the
/// flags-and-offset field; `send(packet)` sends it in an Ethernet frame.
fn raw_sender(mac: &str) -> String {
    format!(
        r#"
import socket, struct
ours = bytes.fromhex('{mac}'.replace(':', ''))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('tap0', 0))
theirs = s.getsockname()[4]
def csum(b):
    if len(b) % 2: b += b'\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return (~t) & 0xffff
SRC, DST = socket.inet_aton('10.77.0.1'), socket.inet_aton('10.77.0.2')
def ip(payload, proto, ident=1, frag=0):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0, SRC, DST)
    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + payload
def send(packet):
    s.send(ours + theirs + b'\x08\x00' + packet)
MF = 0x2000
"#
    )
}

#[test]
fn overlapping_fragments_from_the_wire_drop_the_datagram_and_duplicates_are_ignored() {
    require("python3");
    let net = TestNet::new("overlap");
    let rt = net.start_stack(&[]);
    let mac = rt.with_stack(|s, _| s.iface().mac.to_string());
    let mut sock = rt.udp_socket().unwrap();
    sock.bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5555))
        .unwrap();
    sock.read_timeout = Some(Duration::from_millis(500));
    // Two 40-byte UDP datagrams (no checksum) in fragments of 16, 16 and 8 bytes (offsets in
    // units of 8). The first gets a fragment overlapping two others: it must never arrive. The
    // second gets an exact duplicate with other bytes in it: it arrives once, as first sent.
    let script = raw_sender(&mac)
        + r#"
def datagram(text):
    body = text.ljust(32, b'.')
    return struct.pack('!HHHH', 4444, 5555, 40, 0) + body
a, b = datagram(b'overlapped'), datagram(b'duplicated')
send(ip(a[0:16], 17, 0x100, MF | 0))
send(ip(a[8:24], 17, 0x100, MF | 1))
send(ip(a[16:32], 17, 0x100, MF | 2))
send(ip(a[32:40], 17, 0x100, 4))
send(ip(b[0:16], 17, 0x101, MF | 0))
send(ip(b[16:32], 17, 0x101, MF | 2))
send(ip(b'X' * 16, 17, 0x101, MF | 2))
send(ip(b[32:40], 17, 0x101, 4))
print('sent')
"#;
    let out = net
        .command("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout).trim(), "sent", "{}", text(&out.stderr));
    let mut buf = [0u8; 64];
    let r = sock.recv_from(&mut buf).expect("the duplicated datagram");
    assert_eq!(&buf[..r.copied], b"duplicated......................");
    assert_eq!(sock.recv_from(&mut buf), Err(Errno::EAGAIN));
    let stats = rt.with_stack(|s, _| s.stats().clone());
    assert_eq!(stats.ip_reassembly_overlaps, 1, "{stats}");
    assert_eq!(stats.ip_reassembled, 1, "{stats}");
    assert_eq!(stats.malformed, 0, "{stats}");
}

#[test]
fn a_tcp_segment_with_a_bad_option_is_still_processed() {
    require("python3");
    let net = TestNet::new("tcpopt");
    let rt = net.start_stack(&[]);
    let mac = rt.with_stack(|s, _| s.iface().mac.to_string());
    // A SYN to a closed port whose options are an MSS and then a length running past the option
    // space. Linux parses up to the bad length and goes on with the segment; so must we: the
    // closed port answers with a reset instead of the segment being dropped as malformed.
    let script = raw_sender(&mac)
        + r#"
opts = bytes([2, 4, 0x05, 0xb4, 8, 30, 0, 0])
tcp = struct.pack('!HHIIBBHHH', 40000, 9, 1000, 0, (20 + len(opts)) // 4 << 4, 0x02, 64240, 0, 0) + opts
pseudo = SRC + DST + struct.pack('!BBH', 0, 6, len(tcp))
tcp = tcp[:16] + struct.pack('!H', csum(pseudo + tcp)) + tcp[18:]
send(ip(tcp, 6))
print('sent')
"#;
    let out = net
        .command("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout).trim(), "sent", "{}", text(&out.stderr));
    assert!(
        eventually(Duration::from_secs(3), || rt
            .with_stack(|s, _| s.stats().tcp_resets_out)
            == 1),
        "{}",
        rt.with_stack(|s, _| s.stats().clone())
    );
    let stats = rt.with_stack(|s, _| s.stats().clone());
    assert_eq!((stats.tcp_in, stats.malformed), (1, 0), "{stats}");
}
