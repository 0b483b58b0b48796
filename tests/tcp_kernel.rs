//! TCP against the Linux kernel over a real TAP: bulk transfer both ways, half-close both ways,
//! refusal, a vanishing peer, loss, what the kernel's `ss` sees of our options, and tshark's
//! verdict on a capture. Each test makes and deletes its own namespace; the kernel-side peers are
//! small python programs, which also report the address they saw (proof the traffic crossed the TAP).

mod common;

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;
use tapstack::error::Errno;
use tapstack::rand::Rng;
use tapstack::runtime::tcp::TcpStream;
use tapstack::runtime::Runtime;
use tapstack::stack::Shutdown;

const MIB: usize = 1 << 20;

fn kernel(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(KERNEL_IP.parse().unwrap(), port)
}

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("tapstack-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    fn file(&self, name: &str, len: usize, seed: u64) -> (PathBuf, Vec<u8>) {
        let mut data = vec![0u8; len];
        Rng::new(seed).fill(&mut data);
        let path = self.0.join(name);
        std::fs::write(&path, &data).unwrap();
        (path, data)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("TAPSTACK_KEEP_SCRATCH").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The kernel-side peer: accepts one connection on 10.77.0.1:PORT, sends SEND_FILE (then FIN)
/// while receiving everything until the stack's FIN, and prints whether what it received equals
/// EXPECT_FILE, how much, and from which address. `mode` "both" sends and receives at once;
/// "send-first" sends and half-closes, then receives (the stack answers after our FIN).
const PEER: &str = r#"
import socket, sys, threading
port, send_path, expect_path, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
data = open(send_path, 'rb').read()
expect = open(expect_path, 'rb').read()
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('10.77.0.1', port))
l.listen(1)
print('READY', flush=True)
c, addr = l.accept()
def send():
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send)
t.start()
if mode == 'send-first':
    t.join()
got = bytearray()
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    got += b
t.join()
print('OK' if got == expect else 'MISMATCH', len(got), addr[0], flush=True)
c.close()
"#;

fn start_peer(
    net: &TestNet,
    port: u16,
    send: &Path,
    expect: &Path,
    mode: &str,
) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = net
        .command("timeout")
        .args(["300", "python3", "-c", PEER, &port.to_string()])
        .arg(send)
        .arg(expect)
        .arg(mode)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "READY");
    (child, out)
}

fn peer_verdict(mut child: Child, mut out: BufReader<std::process::ChildStdout>) -> String {
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let _ = child.wait();
    line.trim().to_string()
}

/// Sends `data` and half-closes on one thread while receiving everything until EOF on this one.
fn exchange(stream: &TcpStream, data: &[u8]) -> Vec<u8> {
    std::thread::scope(|scope| {
        let sender = scope.spawn(|| {
            stream.send_all(data).expect("send");
            stream.shutdown(Shutdown::Write).expect("shutdown");
        });
        let got = read_to_end(stream);
        sender.join().unwrap();
        got
    })
}

fn read_to_end(stream: &TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match stream.recv(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("recv after {} bytes: {e:?}", got.len()),
        }
    }
}

/// Installs nftables rules on the kernel side of tap0 dropping `percent` of frames each way.
///
/// The two ways are not alike. `ingress` drops frames the stack sent: wire loss. `egress` runs
/// before the kernel segments its TCP (GSO) and the kernel's TCP sees the drop as a local
/// transmit failure (NET_XMIT_DROP): a dropped data burst stays queued and goes out later, not
/// counted as a retransmission (over 16 MiB at 5% the kernel counts 0 or 1 TcpRetransSegs),
/// while a dropped pure ACK is lost for good. So towards the stack this loses ACKs, and delays
/// data without losing it.
fn drop_frames(net: &TestNet, percent: u32) {
    let rule = if percent >= 100 {
        "drop".to_string()
    } else {
        format!("numgen random mod 100 < {percent} drop")
    };
    let script = format!(
        "nft -f - <<'NFT'\ntable netdev loss {{\n  chain in {{ type filter hook ingress device \"tap0\" priority 0; {rule}; }}\n  chain out {{ type filter hook egress device \"tap0\" priority 0; {rule}; }}\n}}\nNFT"
    );
    let out = net.sh(&script, 10);
    assert!(out.status.success(), "nft: {}", text(&out.stderr));
}

/// Both ways exact: what we received is what the kernel sent, and the peer says it received
/// `size` bytes from us, exact.
fn assert_exact(
    got: &[u8],
    down: &[u8],
    child: Child,
    out: BufReader<std::process::ChildStdout>,
    size: usize,
) {
    assert!(
        got == down,
        "received {} bytes, not what the kernel sent",
        got.len()
    );
    assert_eq!(peer_verdict(child, out), format!("OK {size} {STACK_IP}"));
}

fn connect(rt: &Runtime, port: u16) -> TcpStream {
    rt.tcp_connect(kernel(port), Some(Duration::from_secs(10)))
        .expect("connect")
}

fn rate(bytes: usize, d: Duration) -> String {
    format!("{:.1} MiB/s", bytes as f64 / MIB as f64 / d.as_secs_f64())
}

#[test]
fn bulk_64_mib_each_way_then_tshark_finds_no_errors() {
    require("python3");
    require("tshark");
    let net = TestNet::new("bulk");
    let dir = Scratch::new("bulk");
    let (to_kernel, up) = dir.file("up.bin", 64 * MIB, 1);
    let (from_kernel, down) = dir.file("down.bin", 64 * MIB, 2);
    let pcap = dir.path("bulk.pcap");
    let rt = net.start_stack(&[("TAPSTACK_PCAP", pcap.to_str().unwrap())]);
    let tap = |what: &str| {
        let out = net.sh(&format!("cat /sys/class/net/tap0/statistics/{what}"), 5);
        text(&out.stdout).trim().parse::<u64>().expect(what)
    };
    // The kernel drops a frame or two (IPv6 neighbour discovery) before the stack reads the TAP:
    // only the drops during the transfer count below.
    let drops_before = (tap("rx_dropped"), tap("tx_dropped"));
    let (child, out) = start_peer(&net, 47000, &from_kernel, &to_kernel, "both");
    let start = Instant::now();
    let stream = connect(&rt, 47000);
    let got = exchange(&stream, &up);
    let took = start.elapsed();
    assert_exact(&got, &down, child, out, 64 * MIB);
    let stats = stream.stats().unwrap();
    eprintln!(
        "64 MiB each way at once in {took:.2?} ({} each way); retransmits {} (fast {}, timeouts \
         {}, probes {}), srtt {:?}",
        rate(64 * MIB, took),
        stats.retransmits,
        stats.fast_retransmits,
        stats.timeouts,
        stats.probes,
        stats.srtt
    );
    drop(stream);
    assert!(rt.linger(Duration::from_secs(5)));
    drop(rt);

    // "None of the retransmissions is spurious". A retransmission of ours is spurious exactly when
    // the kernel already had the bytes; the kernel then answers with an immediate duplicate ACK,
    // counted as DelayedACKLost whatever the options, and (SACK being on) a D-SACK (RFC 2883),
    // counted as TCPDSACKOldSent below rcv_nxt or TCPDSACKOfoSent above it. The namespace is new,
    // so these counters are this connection's alone. The link is loss-free, so a fast or timeout
    // retransmission can only be genuine if a frame was dropped on the TAP during the transfer:
    // one of ours on its way into the kernel (tap0's RX drops; a TAP write does not fail with
    // EAGAIN, its socket's send buffer being unlimited unless TUNSETSNDBUF), or one of the
    // kernel's on its way to us (TX drops, when we read too slowly), which may be the ACK that
    // closed a burst. A tail loss probe is the one retransmission allowed to find the bytes
    // already there: it is sent when an ACK is late, not known lost (RFC 8985 §7), and a host
    // loaded enough to hold the kernel's ACK past 2·SRTT makes one. So: duplicates at the kernel
    // no more than our probes and its dropped frames, and retransmissions other than probes no
    // more than the drops either way; with no drops and no probes, none at all. The kernel's own
    // retransmissions are judged by tshark below, which marks one spurious when the capture
    // shows its bytes already acknowledged.
    let kernel = kernel_counters(&net);
    let counter = |name: &str| {
        *kernel
            .get(name)
            .unwrap_or_else(|| panic!("no kernel counter {name}"))
    };
    let rx_dropped = tap("rx_dropped") - drops_before.0;
    let tx_dropped = tap("tx_dropped") - drops_before.1;
    eprintln!(
        "kernel: DelayedACKLost {}, TCPDSACKOldSent {}, TCPDSACKOfoSent {}, RetransSegs {}; tap0 \
         drops during the transfer: {rx_dropped} of our frames, {tx_dropped} of the kernel's",
        counter("DelayedACKLost"),
        counter("TCPDSACKOldSent"),
        counter("TCPDSACKOfoSent"),
        counter("RetransSegs"),
    );
    for name in ["DelayedACKLost", "TCPDSACKOldSent", "TCPDSACKOfoSent"] {
        assert!(
            counter(name) <= stats.probes + tx_dropped,
            "the kernel received data of ours twice ({name} {}) with {} probes of ours and \
             {tx_dropped} of its frames dropped: a spurious retransmission",
            counter(name),
            stats.probes
        );
    }
    assert!(
        stats.retransmits.saturating_sub(stats.probes) <= rx_dropped + tx_dropped,
        "{} retransmissions ({} of them probes) on a loss-free link with {rx_dropped} of our \
         frames and {tx_dropped} of the kernel's dropped",
        stats.retransmits,
        stats.probes
    );

    // The outside judge: tshark's expert analysis of the whole capture. The retransmissions it
    // suspects spurious (bytes the capture shows acknowledged) are ours only as probes, and the
    // kernel's only from its timers, a probe or a timeout that our ACK, late on a loaded host,
    // did not beat: never a fast retransmission our SACKs or duplicate ACKs would have caused.
    let (problems, spurious) = tshark_judge(&pcap);
    assert!(problems.is_empty(), "tshark: {}", problems.join("\n"));
    let ours = spurious.get("10.77.0.2").copied().unwrap_or(0);
    let kernels = spurious.get("10.77.0.1").copied().unwrap_or(0);
    let kernel_timed = counter("TCPLossProbes") + counter("TCPTimeouts");
    assert!(
        ours <= stats.probes,
        "tshark: {ours} spurious retransmissions of ours, {} probes",
        stats.probes
    );
    assert!(
        kernels <= kernel_timed,
        "tshark: {kernels} spurious retransmissions of the kernel's, {kernel_timed} of them timed"
    );

    // The judge must be able to fail: a copy of the capture's first frames with one byte of one
    // TCP checksum flipped has to be caught, by the expert run and by the status filter alike.
    let bad = dir.path("bad.pcap");
    flip_tcp_checksum(&pcap, &bad, 2000);
    let (problems, _) = tshark_judge(&bad);
    assert!(
        problems.iter().any(|p| p.contains("Bad checksum"))
            && problems.iter().any(|p| p.contains("status filter")),
        "a flipped checksum went unnoticed: {problems:?}"
    );
}

/// The kernel's TCP counters in the namespace (`/proc/net/netstat` and `/proc/net/snmp`, what
/// `nstat -az` reads), by name without the `TcpExt`/`Tcp` prefix.
fn kernel_counters(net: &TestNet) -> std::collections::HashMap<String, u64> {
    let out = net.sh("cat /proc/net/netstat /proc/net/snmp", 5);
    let mut counters = std::collections::HashMap::new();
    let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    // Each group is a line of names followed by a line of values, both led by "Group:".
    for pair in lines.chunks(2) {
        let [names, values] = pair else { continue };
        let (Some(("TcpExt" | "Tcp", n)), Some((_, v))) =
            (names.split_once(": "), values.split_once(": "))
        else {
            continue;
        };
        for (name, value) in n.split(' ').zip(v.split(' ')) {
            if let Ok(value) = value.parse() {
                counters.insert(name.to_string(), value);
            }
        }
    }
    counters
}

/// Only the layers we speak are dissected: the payload is random bytes, which tshark's heuristic
/// dissectors (Thrift, …) would otherwise try to read as their protocol and complain about.
const LAYERS: [&str; 2] = ["-d", "tcp.port==47000,data"];
/// Checksum validation is off in tshark by default (offloading makes bad checksums common in
/// captures): without these, a bad checksum is neither an expert Error nor a status.
const CHECK_CHECKSUMS: [&str; 4] = [
    "-o",
    "tcp.check_checksum:TRUE",
    "-o",
    "ip.check_checksum:TRUE",
];

/// tshark's verdict on a capture: its expert errors and any bad checksum as problems, and the
/// retransmissions it suspects spurious, counted by the address that sent them.
fn tshark_judge(pcap: &Path) -> (Vec<String>, std::collections::HashMap<String, u64>) {
    let mut problems = Vec::new();
    let out = std::process::Command::new("tshark")
        .args(["-n", "-r", pcap.to_str().unwrap(), "-q", "-z", "expert"])
        .args(LAYERS)
        .args(CHECK_CHECKSUMS)
        .output()
        .unwrap();
    let report = text(&out.stdout);
    assert!(out.status.success(), "tshark: {}", text(&out.stderr));
    eprintln!("{}: {report}", pcap.display());
    // The report lists severities from Errors down: everything before "Warns" is an error.
    let errors = report.split("Warns (").next().unwrap_or("");
    if errors.contains("Errors (") {
        problems.push(format!("expert errors: {errors}"));
    }
    let out = std::process::Command::new("tshark")
        .args(["-n", "-r", pcap.to_str().unwrap()])
        .args(LAYERS)
        .args(CHECK_CHECKSUMS)
        .args(["-Y", "tcp.checksum.status == 0 || ip.checksum.status == 0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "tshark: {}", text(&out.stderr));
    let frames = text(&out.stdout);
    if !frames.trim().is_empty() {
        problems.push(format!("status filter: {frames}"));
    }
    let out = std::process::Command::new("tshark")
        .args(["-n", "-r", pcap.to_str().unwrap()])
        .args(LAYERS)
        .args(["-Y", "tcp.analysis.spurious_retransmission"])
        .args(["-T", "fields", "-e", "ip.src"])
        .output()
        .unwrap();
    assert!(out.status.success(), "tshark: {}", text(&out.stderr));
    let mut spurious = std::collections::HashMap::new();
    for src in text(&out.stdout).lines().filter(|l| !l.is_empty()) {
        *spurious.entry(src.to_string()).or_insert(0) += 1;
    }
    (problems, spurious)
}

/// Copies the first `frames` frames of the pcap at `from` to `to`, with the first byte of the TCP
/// checksum of the last TCP frame among them flipped.
fn flip_tcp_checksum(from: &Path, to: &Path, frames: usize) {
    let data = std::fs::read(from).unwrap();
    let mut out = data[..24].to_vec();
    let mut last_tcp = None;
    let mut at = 24;
    for _ in 0..frames {
        let Some(header) = data.get(at..at + 16) else {
            break;
        };
        let len = u32::from_le_bytes(header[8..12].try_into().unwrap()) as usize;
        let frame = &data[at + 16..at + 16 + len];
        out.extend_from_slice(&data[at..at + 16 + len]);
        // IPv4 (ethertype 0x0800) carrying TCP (protocol 6).
        if frame.len() > 34 && frame[12..14] == [8, 0] && frame[23] == 6 {
            let ihl = usize::from(frame[14] & 0xf) * 4;
            last_tcp = Some(out.len() - len + 14 + ihl + 16);
        }
        at += 16 + len;
    }
    out[last_tcp.expect("a TCP frame")] ^= 0xff;
    std::fs::write(to, out).unwrap();
}

#[test]
fn half_close_from_the_kernel_then_the_stack_answers() {
    require("python3");
    let net = TestNet::new("halfclose");
    let dir = Scratch::new("halfclose");
    let (kernel_sends, kdata) = dir.file("k.bin", MIB, 3);
    let (stack_sends, sdata) = dir.file("s.bin", MIB + 7, 4);
    let rt = net.start_stack(&[]);
    let (child, out) = start_peer(&net, 9001, &kernel_sends, &stack_sends, "send-first");
    let stream = connect(&rt, 9001);
    // The kernel sends and half-closes first; we read to end of file, and only then answer.
    let got = read_to_end(&stream);
    assert!(got == kdata);
    assert!(stream.readiness().read_closed);
    stream.send_all(&sdata).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(
        peer_verdict(child, out),
        format!("OK {} {STACK_IP}", MIB + 7)
    );
}

#[test]
fn half_close_from_the_stack_then_the_kernel_answers() {
    require("python3");
    let net = TestNet::new("halfclose2");
    let rt = net.start_stack(&[]);
    // The kernel echoes everything back only after our FIN, then closes.
    let script = "import socket\n\
        l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
        l.bind(('10.77.0.1', 9002)); l.listen(1); print('READY', flush=True)\n\
        c, a = l.accept(); got = bytearray()\n\
        while True:\n    b = c.recv(65536)\n    if not b: break\n    got += b\n\
        c.sendall(bytes(reversed(got))); c.close(); print('DONE', len(got), a[0], flush=True)\n";
    let (mut child, mut out) = python(&net, script);
    let stream = connect(&rt, 9002);
    let msg: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    stream.send_all(&msg).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let back = read_to_end(&stream);
    let expected: Vec<u8> = msg.iter().rev().copied().collect();
    assert!(back == expected, "got {} bytes back", back.len());
    assert_eq!(line(&mut out), format!("DONE 300000 {STACK_IP}"));
    let _ = child.wait();
}

#[test]
fn closed_port_is_refused_at_once() {
    let net = TestNet::new("refuse");
    let rt = net.start_stack(&[]);
    let start = Instant::now();
    let r = rt.tcp_connect(kernel(1), Some(Duration::from_secs(10)));
    assert_eq!(r.err(), Some(Errno::ECONNREFUSED));
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn vanished_peer_ends_in_etimedout_within_the_bound() {
    require("python3");
    require("nft");
    let net = TestNet::new("vanish");
    let rt = net.start_stack(&[]);
    let script = "import socket, time\n\
        l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
        l.bind(('10.77.0.1', 9003)); l.listen(1); print('READY', flush=True)\n\
        c, a = l.accept(); time.sleep(60)\n";
    let (mut child, _out) = python(&net, script);
    // Four retransmissions (RTO 200 ms doubling: 0.2 + 0.4 + 0.8 + 1.6 + 3.2 s) then ETIMEDOUT.
    let stream = rt
        .tcp_connect_with(kernel(9003), Some(Duration::from_secs(10)), &|s, h| {
            s.tcp_socket_mut(h)?.config.data_retries = 4;
            Ok(())
        })
        .unwrap();
    stream.send_all(b"hello").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop_frames(&net, 100);
    let start = Instant::now();
    stream.send_all(&[7u8; 10_000]).unwrap();
    let mut buf = [0u8; 16];
    let r = stream.recv(&mut buf);
    let took = start.elapsed();
    assert_eq!(r, Err(Errno::ETIMEDOUT));
    eprintln!("ETIMEDOUT after {took:.2?}");
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(12),
        "{took:?}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

fn lossy_transfer(percent: u32, algo: Option<tapstack::tcp::Algorithm>) {
    require("python3");
    require("nft");
    let net = TestNet::new(&format!("loss{percent}"));
    let dir = Scratch::new(&format!("loss{percent}"));
    let (to_kernel, up) = dir.file("up.bin", 16 * MIB, 5);
    let (from_kernel, down) = dir.file("down.bin", 16 * MIB, 6);
    // TAPSTACK_LOG and TAPSTACK_PCAP from the environment reach the stack, to study a run.
    // Offload off: nftables drops what crosses tap0, and with it on that is a 64 KiB super-frame
    // standing for 45 segments, not the one segment a wire loses (TAPSTACK_OFFLOAD=on in the
    // environment measures that instead).
    let mut extra: Vec<(String, String)> = ["TAPSTACK_LOG", "TAPSTACK_PCAP", "TAPSTACK_OFFLOAD"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    if !extra.iter().any(|(k, _)| k == "TAPSTACK_OFFLOAD") {
        extra.push(("TAPSTACK_OFFLOAD".into(), "off".into()));
    }
    let extra: Vec<(&str, &str)> = extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if let Ok(f) = std::env::var("TAPSTACK_LOG") {
        tapstack::runtime::init_logging(Some(&f));
    }
    let rt = net.start_stack(&extra);
    let (child, out) = start_peer(&net, 9004, &from_kernel, &to_kernel, "both");
    // TAPSTACK_CONGESTION=bbr|cubic|reno picks our algorithm where the test does not (CUBIC
    // otherwise), to compare with `scripts/kernel_loss.sh P tap ALGORITHM`.
    let algo = algo.unwrap_or_else(|| {
        std::env::var("TAPSTACK_CONGESTION")
            .ok()
            .map(|n| tapstack::tcp::Algorithm::from_name(&n).expect("reno, cubic or bbr"))
            .unwrap_or_default()
    });
    let stream = rt
        .tcp_connect_with(kernel(9004), Some(Duration::from_secs(10)), &|s, h| {
            s.tcp_socket_mut(h)?.config.congestion = algo;
            Ok(())
        })
        .expect("connect");
    drop_frames(&net, percent);
    let start = Instant::now();
    // TAPSTACK_LOSS_TRACE=FILE samples our side every millisecond into a CSV (time, cwnd,
    // ssthresh, unacked, SACKed, in recovery, srtt), for the benchmark's plot of a lossy transfer.
    let done = std::sync::atomic::AtomicBool::new(false);
    let got = std::thread::scope(|scope| {
        if let Ok(path) = std::env::var("TAPSTACK_LOSS_TRACE") {
            let (stream, done) = (&stream, &done);
            scope.spawn(move || {
                let mut csv = String::from("ms,cwnd,ssthresh,unacked,sacked,recovery,srtt_us\n");
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Some(s) = stream.stats() {
                        csv += &format!(
                            "{:.1},{},{},{},{},{},{}\n",
                            start.elapsed().as_secs_f64() * 1e3,
                            s.cwnd,
                            s.ssthresh.min(1 << 30),
                            s.unacked,
                            s.sacked,
                            s.in_recovery as u8,
                            s.srtt.map_or(0, |d| d.as_micros())
                        );
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                std::fs::write(path, csv).expect("write the trace");
            });
        }
        let got = exchange(&stream, &up);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        got
    });
    let took = start.elapsed();
    assert_exact(&got, &down, child, out, 16 * MIB);
    let s = stream.stats().unwrap();
    eprintln!(
        "{percent}% loss each way, {}: 16 MiB each way in {took:.2?} ({}); our retransmits {} \
         (fast {}, timeouts {}), segments sent {}",
        algo.name(),
        rate(16 * MIB, took),
        s.retransmits,
        s.fast_retransmits,
        s.timeouts,
        s.segments_sent
    );
    // The kernel's side of the story: its retransmissions, timeouts and probes.
    let nstat = net.sh("nstat -asz", 5);
    let kern: Vec<String> = text(&nstat.stdout)
        .lines()
        .filter(|l| {
            [
                "TcpRetransSegs",
                "TcpExtTCPTimeouts",
                "TcpExtTCPLossProbes ",
                "TcpExtTCPSackRecovery ",
                "TcpOutSegs",
            ]
            .iter()
            .any(|k| l.starts_with(k))
        })
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect();
    eprintln!("kernel side: {}", kern.join(", "));
    // TAPSTACK_LOSS=0 measures the same transfer without loss, the floor of the others.
    assert!(
        s.retransmits > 0 || percent == 0,
        "with loss there must have been retransmissions"
    );
}

#[test]
fn one_percent_loss_each_way_16_mib_exact() {
    lossy_transfer(1, None);
}

#[test]
fn five_percent_loss_each_way_16_mib_exact() {
    lossy_transfer(5, None);
}

/// Issue 11's hostile network: 15% of frames lost each way, 16 MiB each way exact, with BBR as the
/// kernel on these hosts runs it (CUBIC, the kernel's as ours, needs tens of seconds there by
/// design; the benchmark's loss rows compare the times).
#[test]
fn fifteen_percent_loss_each_way_with_bbr_16_mib_exact() {
    lossy_transfer(15, Some(tapstack::tcp::Algorithm::Bbr));
}

#[test]
fn a_two_second_blackhole_mid_transfer_is_survived_exact() {
    // nftables drops every frame both ways for 2 s while 64 MiB go each way; the transfer must
    // carry on from where it stopped (retransmission timer, backed off) and finish exact.
    require("python3");
    require("nft");
    let net = TestNet::new("blackhole");
    let dir = Scratch::new("blackhole");
    let (to_kernel, up) = dir.file("up.bin", 64 * MIB, 7);
    let (from_kernel, down) = dir.file("down.bin", 64 * MIB, 8);
    let rt = net.start_stack(&[]);
    let (child, out) = start_peer(&net, 9006, &from_kernel, &to_kernel, "both");
    let stream = connect(&rt, 9006);
    let ns = net.name.clone();
    let hole = std::thread::spawn(move || {
        let nft = |script: &str| {
            std::process::Command::new("ip")
                .args(["netns", "exec", &ns, "timeout", "10", "sh", "-c", script])
                .status()
                .expect("nft")
                .success()
        };
        std::thread::sleep(Duration::from_millis(50));
        let drop_all = "nft -f - <<'NFT'\ntable netdev hole {\n  chain in { type filter hook \
                        ingress device \"tap0\" priority 0; drop; }\n  chain out { type filter \
                        hook egress device \"tap0\" priority 0; drop; }\n}\nNFT";
        assert!(nft(drop_all), "nft: the blackhole");
        let opened = Instant::now();
        std::thread::sleep(Duration::from_secs(2));
        assert!(
            nft("nft delete table netdev hole"),
            "nft: ending the blackhole"
        );
        opened
    });
    let start = Instant::now();
    let got = exchange(&stream, &up);
    let took = start.elapsed();
    let opened = hole.join().expect("blackhole thread");
    assert_exact(&got, &down, child, out, 64 * MIB);
    let s = stream.stats().unwrap();
    assert!(
        took > opened.saturating_duration_since(start) + Duration::from_secs(2),
        "the transfer ended ({took:?}) before the blackhole did: it tested nothing"
    );
    eprintln!(
        "2 s blackhole: 64 MiB each way in {took:.2?}; our retransmits {} (timeouts {})",
        s.retransmits, s.timeouts
    );
}

/// Any loss rate, for measuring (not in the test command: at high rates it takes minutes):
/// `TAPSTACK_LOSS=15 cargo test --release --test tcp_kernel loss_from_the_environment -- --ignored
/// --nocapture`; `scripts/kernel_loss.sh 15 tap` gives the kernel's time for the same transfer.
#[test]
#[ignore]
fn loss_from_the_environment() {
    let percent = std::env::var("TAPSTACK_LOSS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    lossy_transfer(percent, None);
}

#[test]
fn kernel_sees_the_window_scale_and_mss_we_offered() {
    require("python3");
    require("ss");
    let net = TestNet::new("options");
    let rt = net.start_stack(&[]);
    let script = "import socket, time\n\
        l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
        l.bind(('10.77.0.1', 9005)); l.listen(1); print('READY', flush=True)\n\
        c, a = l.accept(); time.sleep(5)\n";
    let (mut child, _out) = python(&net, script);
    // An unusual MSS and a large receive buffer, so the kernel's view cannot be a coincidence.
    let stream = rt
        .tcp_connect_with(kernel(9005), Some(Duration::from_secs(10)), &|s, h| {
            let c = &mut s.tcp_socket_mut(h)?.config;
            c.mss = 1200;
            c.recv_buffer = 4 * MIB;
            Ok(())
        })
        .unwrap();
    let ours = stream.stats().unwrap();
    let ss = text(&net.sh(&format!("ss -tin dst {STACK_IP}"), 5).stdout);
    let _ = child.kill();
    let _ = child.wait();
    // ss prints wscale:<peer's (our) scale>,<its own>; mss is what it sends with: our 1200 less
    // the 12 bytes of the timestamps option.
    assert!(
        ss.contains(&format!("wscale:{},", ours.rcv_wscale)),
        "ours {}: {ss}",
        ours.rcv_wscale
    );
    assert!(
        ours.rcv_wscale >= 6,
        "a 4 MiB buffer needs a scale of at least 6, got {}",
        ours.rcv_wscale
    );
    // 1188 also shows the kernel agreed to timestamps (this ss does not print the option flags).
    assert!(ss.contains(" mss:1188 "), "{ss}");
}

#[test]
fn nc_carries_a_file_both_ways_through_the_cli() {
    require("socat");
    let net = TestNet::new("nc");
    let dir = Scratch::new("nc");
    let (input, data) = dir.file("in.bin", 3 * MIB, 8);
    let output = dir.path("out.bin");
    let bin = env!("CARGO_BIN_EXE_tapstack");
    // Kernel → stack: socat sends a file to our listening nc.
    let mut listener = net
        .command("timeout")
        .args(["60", bin, "nc", "-l", "7000"])
        .stdout(std::fs::File::create(&output).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let sent = eventually(Duration::from_secs(10), || {
        net.sh(
            &format!("socat -u OPEN:{} TCP4:{STACK_IP}:7000", input.display()),
            30,
        )
        .status
        .success()
    });
    assert!(sent, "socat could not reach tapstack nc -l");
    assert!(listener.wait().unwrap().success());
    assert!(std::fs::read(&output).unwrap() == data);
    // Stack → kernel: our nc sends the file to socat, which records it.
    let record = dir.path("rec.bin");
    let mut sink = net
        .command("timeout")
        .args(["60", "socat", "-u", "TCP4-LISTEN:7001,reuseaddr"])
        .arg(format!("OPEN:{},creat,trunc", record.display()))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out = net
        .command("timeout")
        .args(["60", bin, "nc", KERNEL_IP, "7001"])
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(sink.wait().unwrap().success());
    assert!(std::fs::read(&record).unwrap() == data);
    let refused = net
        .command("timeout")
        .args(["10", bin, "nc", KERNEL_IP, "1"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("Connection refused"),
        "{}",
        text(&refused.stderr)
    );
    let _ = Ipv4Addr::UNSPECIFIED;
}
