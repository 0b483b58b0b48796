//! ICMP between the Linux kernel and the stack: a rejected connection attempt fails at once with
//! the errno Linux would report, a connected UDP socket hears of an administratively prohibited
//! port, a router's "fragmentation needed" shrinks TCP segments so a transfer through a narrower
//! link completes (RFC 1191), and a timestamp request is answered as Linux answers it. Each test
//! makes and deletes its own namespaces.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use tapstack::error::Errno;
use tapstack::stack::Shutdown;

/// Rejects, on the kernel side of the TAP, TCP to port 9200 with "host unreachable" and UDP to
/// port 9201 with "administratively prohibited" (what `nft ... reject` sends).
fn reject_rules(net: &TestNet) {
    let out = net.sh(
        "nft -f - <<'NFT'\ntable inet refuse {\n  chain input {\n    type filter hook input priority 0;\n    tcp dport 9200 reject with icmp type host-unreachable;\n    udp dport 9201 reject with icmp type admin-prohibited;\n  }\n}\nNFT",
        10,
    );
    assert!(out.status.success(), "nft: {}", text(&out.stderr));
}

#[test]
fn rejected_connect_fails_at_once_with_the_icmp_errno() {
    require("nft");
    let net = TestNet::new("icmptcp");
    reject_rules(&net);
    let rt = net.start_stack(&[]);
    let start = Instant::now();
    let r = rt.tcp_connect(
        SocketAddrV4::new(KERNEL_IP.parse().unwrap(), 9200),
        Some(Duration::from_secs(10)),
    );
    let took = start.elapsed();
    // Linux: "No route to host" at once, not after the SYN retries.
    assert_eq!(r.err(), Some(Errno::EHOSTUNREACH));
    assert!(took < Duration::from_secs(1), "{took:?}");
    eprintln!("connect refused by ICMP host unreachable after {took:.2?}");
}

#[test]
fn connected_udp_hears_of_an_administratively_prohibited_port() {
    require("nft");
    let net = TestNet::new("icmpudp");
    reject_rules(&net);
    let rt = net.start_stack(&[]);
    let mut sock = rt.udp_socket().unwrap();
    sock.connect(SocketAddrV4::new(KERNEL_IP.parse().unwrap(), 9201))
        .unwrap();
    sock.read_timeout = Some(Duration::from_secs(3));
    sock.send(b"anyone?").unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(sock.recv_from(&mut buf).err(), Some(Errno::EHOSTUNREACH));
}

/// The kernel asks the stack's time (RFC 792 timestamp, through a raw socket on its side of the
/// TAP): the reply carries its originate time back and the stack's wall clock, in milliseconds
/// since midnight UT, as Linux's answer does.
#[test]
fn a_timestamp_request_is_answered_with_the_wall_clock() {
    require("python3");
    let net = TestNet::new("icmpts");
    let _rt = net.start_stack(&[]);
    let script = r#"
import socket, struct, time
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
def now_ms():
    t = time.time()
    return int((t % 86400) * 1000)
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(5)
org = now_ms()
msg = struct.pack('!BBHHHIII', 13, 0, 0, 0x4242, 7, org, 0, 0)
msg = msg[:2] + struct.pack('!H', csum(msg)) + msg[4:]
s.sendto(msg, ('10.77.0.2', 0))
while True:
    pkt, peer = s.recvfrom(256)
    icmp = pkt[(pkt[0] & 15) * 4:]
    if peer[0] == '10.77.0.2' and icmp[0] == 14:
        break
t, code, _, ident, seq, o, r, x = struct.unpack('!BBHHHIII', icmp[:20])
print(len(icmp), code, ident, seq, o == org, r == x, abs(r - now_ms()) < 2000, csum(icmp) == 0)
"#;
    let out = net
        .command("timeout")
        .args(["10", "python3", "-c", script])
        .output()
        .expect("run python3");
    assert!(out.status.success(), "python: {}", text(&out.stderr));
    // 20 bytes, code 0, our id and sequence, originate echoed, receive = transmit = now.
    assert_eq!(text(&out.stdout).trim(), "20 0 16962 7 True True True True");
}

/// A second namespace, `far`, behind the test namespace's kernel, which routes between them.
struct FarNet {
    name: String,
}

impl FarNet {
    /// `far` at 10.78.0.2 over a veth pair whose near end (10.78.0.1, in `net`) has MTU `mtu`, so
    /// the kernel, forwarding the stack's packets there, needs them at most that large.
    fn new(net: &TestNet, mtu: u32) -> FarNet {
        let name = format!("{}-far", net.name);
        let far = FarNet { name };
        let (near, far_ns) = (&net.name, &far.name);
        let script = format!(
            "set -e\n\
             ip netns add {far_ns}\n\
             ip -n {far_ns} link set lo up\n\
             ip -n {near} link add vnear mtu {mtu} type veth peer name vfar netns {far_ns}\n\
             ip -n {near} addr add 10.78.0.1/24 dev vnear\n\
             ip -n {near} link set vnear up\n\
             ip -n {far_ns} addr add 10.78.0.2/24 dev vfar\n\
             ip -n {far_ns} link set vfar up\n\
             ip -n {far_ns} route add default via 10.78.0.1\n\
             ip netns exec {near} sysctl -qw net.ipv4.ip_forward=1\n"
        );
        let out = Command::new("timeout")
            .args(["20", "sh", "-c", &script])
            .output()
            .expect("run sh");
        assert!(out.status.success(), "far network: {}", text(&out.stderr));
        far
    }
}

impl Drop for FarNet {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}

#[test]
fn fragmentation_needed_from_a_router_shrinks_segments() {
    require("python3");
    let net = TestNet::new("pmtu");
    let far = FarNet::new(&net, 1000);
    let rt = net.start_stack(&[]);
    // The far end has a 1500-byte MTU and offers MSS 1460: only the router knows of the 1000.
    let script = "import socket, sys\n\
        l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
        l.bind(('10.78.0.2', 9300)); l.listen(1); print('READY', flush=True)\n\
        c, a = l.accept(); n = 0\n\
        while True:\n    d = c.recv(65536)\n    if not d: break\n    n += len(d)\n\
        print(n, a[0], flush=True)\n";
    let mut child = Command::new("ip")
        .args(["netns", "exec", &far.name, "timeout", "60", "python3", "-c"])
        .arg(script)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start python3");
    let mut out = std::io::BufReader::new(child.stdout.take().expect("piped"));
    assert_eq!(line(&mut out), "READY");
    let stream = rt
        .tcp_connect(
            SocketAddrV4::new(Ipv4Addr::new(10, 78, 0, 2), 9300),
            Some(Duration::from_secs(5)),
        )
        .unwrap();
    let data = vec![0x5au8; 1 << 20];
    let start = Instant::now();
    stream.send_all(&data).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(line(&mut out), format!("{} {STACK_IP}", data.len()));
    let stats = stream.stats().expect("stats");
    eprintln!(
        "1 MiB through a 1000-byte hop in {:.2?}: segment size {}, {} retransmitted",
        start.elapsed(),
        stats.snd_mss,
        stats.retransmits
    );
    // 1000 less 20 (IP), 20 (TCP) and 12 (timestamps).
    assert!(stats.snd_mss <= 948, "segment size {}", stats.snd_mss);
    let _ = child.wait();
}
