//! The benchmark's smoltcp column: the same jobs the benchmark gives a program on tapstack, done
//! by smoltcp (a dev-dependency, never part of the stack) on the same TAP and MTU, so that the rows
//! compare the stacks and not the programs. It takes 10.77.0.2 on `tap0` of the namespace it runs
//! in (made by `scripts/netns.sh create`), as tapstack does, and talks to the kernel at 10.77.0.1.
//!
//!   smoltcp_peer send PORT SECONDS   stream to a sink at PORT for SECONDS; prints Gbit/s sent
//!   smoltcp_peer recv PORT SECONDS   read from a source at PORT for SECONDS; prints Gbit/s read
//!   smoltcp_peer both PORT           16 MiB each way at once with the benchmark's lossy.py server
//!                                    (random bytes, counted, not checked); prints seconds
//!   smoltcp_peer ping PORT SECONDS   64-byte messages to scripts/bench/pingpong.c's echo server,
//!                                    one at a time; prints the one-way time, "AVG MEDIAN" in µs
//!   smoltcp_peer http PORT COUNT CONC  COUNT HTTP/1.0 requests for /small, one connection each,
//!                                    CONC at a time, as `ab -n COUNT -c CONC`; prints conn/s
//!
//! Every loop is bounded: the whole run gives up after SECONDS + 30 s (120 s for `both`).

use std::os::unix::io::AsRawFd;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::{wait as phy_wait, Medium, TunTapInterface};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, Ipv4Address};

const KERNEL: Ipv4Address = Ipv4Address::new(10, 77, 0, 1);
const BOTH_BYTES: usize = 16 << 20;
/// Socket buffers: what tapstack starts a socket with is 64 KiB to send and 128 KiB to receive, and
/// it grows them; smoltcp's are fixed, so they are given room for a fast link from the start.
const BUFFER: usize = 4 << 20;

fn fail(msg: &str) -> ! {
    eprintln!("smoltcp_peer: {msg}");
    std::process::exit(1)
}

/// tap0 of this namespace, and an interface at 10.77.0.2/24 on it.
fn attach() -> (TunTapInterface, Interface) {
    let mut device = TunTapInterface::new("tap0", Medium::Ethernet)
        .unwrap_or_else(|e| fail(&format!("tap0: {e}")));
    let mut config = Config::new(EthernetAddress([0x02, 0x00, 0x00, 0x77, 0x00, 0x02]).into());
    config.random_seed = std::process::id() as u64;
    let mut iface = Interface::new(config, &mut device, Instant::now());
    iface.update_ip_addrs(|a| {
        a.push(IpCidr::new(IpAddress::v4(10, 77, 0, 2), 24))
            .expect("one address");
    });
    (device, iface)
}

/// `http`: as ab without keep-alive, each of `conc` sockets runs one request after another on a
/// fresh connection (a new local port each) until `count` are answered.
fn http(port: u16, count: usize, conc: usize) {
    let (mut device, mut iface) = attach();
    let fd = device.as_raw_fd();
    let mut sockets = SocketSet::new(vec![]);
    let handles: Vec<_> = (0..conc)
        .map(|_| {
            let rx = tcp::SocketBuffer::new(vec![0; 16 * 1024]);
            let tx = tcp::SocketBuffer::new(vec![0; 4 * 1024]);
            sockets.add(tcp::Socket::new(rx, tx))
        })
        .collect();
    let request = b"GET /small HTTP/1.0\r\nHost: 10.77.0.1\r\n\r\n";
    // Per socket: a request under way (its bytes of answer so far), or none.
    let mut busy: Vec<Option<usize>> = vec![None; conc];
    let (mut started, mut done, mut next_port) = (0usize, 0usize, 20_000u16);
    let t0 = StdInstant::now();
    while done < count {
        if t0.elapsed() > StdDuration::from_secs(120) {
            fail(&format!("gave up after 120 s: {done} of {count} answered"));
        }
        let now = Instant::now();
        iface.poll(now, &mut device, &mut sockets);
        for (i, &h) in handles.iter().enumerate() {
            let s = sockets.get_mut::<tcp::Socket>(h);
            match busy[i] {
                None if started < count && s.state() == tcp::State::Closed => {
                    next_port = next_port.wrapping_add(1).max(20_000);
                    let cx = iface.context();
                    if s.connect(cx, (IpAddress::Ipv4(KERNEL), port), next_port)
                        .is_ok()
                    {
                        busy[i] = Some(0);
                        started += 1;
                    }
                }
                Some(n) => {
                    let mut n = n;
                    if s.may_send()
                        && n == 0
                        && s.send_queue() == 0
                        && s.send_slice(request).is_ok()
                    {
                        n = 1; // sent; 1 + bytes of answer from here on
                    }
                    while s.can_recv() {
                        match s.recv(|b| (b.len(), b.len())) {
                            Ok(0) | Err(_) => break,
                            Ok(k) => n += k,
                        }
                    }
                    if n > 1 && !s.may_recv() {
                        // The server closed after its answer (no keep-alive): close our side.
                        s.close();
                    }
                    if n > 1 && s.state() == tcp::State::Closed {
                        done += 1;
                        busy[i] = None;
                    } else if n <= 1 && s.state() == tcp::State::Closed && started > 0 {
                        fail("a connection closed without an answer");
                    } else {
                        busy[i] = Some(n);
                    }
                }
                None => {}
            }
        }
        // A socket freed in this turn starts its next connection in the next: no waiting then.
        let free = busy.iter().any(|b| b.is_none()) && started < count;
        let most = if free {
            Duration::ZERO
        } else {
            Duration::from_millis(1)
        };
        let delay = iface.poll_delay(Instant::now(), &sockets).unwrap_or(most);
        phy_wait(fd, Some(delay.min(most))).ok();
    }
    println!("{:.0}", count as f64 / t0.elapsed().as_secs_f64());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [m, p, n, c] = args.as_slice() {
        if m == "http" {
            let num = |v: &String| v.parse::<usize>().unwrap_or_else(|_| fail("bad number"));
            let port = p.parse().unwrap_or_else(|_| fail("bad port"));
            return http(port, num(n), num(c).max(1));
        }
    }
    let (mode, port, secs) = match args.as_slice() {
        [m, p, s] if m == "send" || m == "recv" || m == "ping" => (m.as_str(), p, s.parse().ok()),
        [m, p] if m == "both" => (m.as_str(), p, None),
        _ => fail("usage: smoltcp_peer send|recv|ping PORT SECONDS | smoltcp_peer both PORT"),
    };
    let port: u16 = port.parse().unwrap_or_else(|_| fail("bad port"));
    let secs: Option<u64> = secs;
    let (mut device, mut iface) = attach();
    let fd = device.as_raw_fd();
    let rx = tcp::SocketBuffer::new(vec![0; BUFFER]);
    let tx = tcp::SocketBuffer::new(vec![0; BUFFER]);
    let mut socket = tcp::Socket::new(rx, tx);
    socket.set_nagle_enabled(false);
    let mut sockets = SocketSet::new(vec![]);
    let h = sockets.add(socket);
    let local_port = 40_000 + (std::process::id() % 20_000) as u16;
    sockets
        .get_mut::<tcp::Socket>(h)
        .connect(iface.context(), (IpAddress::Ipv4(KERNEL), port), local_port)
        .unwrap_or_else(|e| fail(&format!("connect: {e}")));

    let limit = StdDuration::from_secs(secs.map_or(120, |s| s + 30));
    let begun = StdInstant::now();
    let data = vec![0x5au8; 64 * 1024];
    let mut started: Option<StdInstant> = None;
    let (mut sent, mut got) = (0usize, 0usize);
    // ping: when the message in flight left, and the round trips so far (µs).
    let mut ping_at: Option<StdInstant> = None;
    let mut rtts: Vec<f64> = Vec::new();
    loop {
        if begun.elapsed() > limit {
            fail(&format!("gave up after {limit:?}: sent {sent}, got {got}"));
        }
        let now = Instant::now();
        iface.poll(now, &mut device, &mut sockets);
        let s = sockets.get_mut::<tcp::Socket>(h);
        if !s.is_open() {
            fail(&format!("the connection closed: sent {sent}, got {got}"));
        }
        if s.may_send() && started.is_none() {
            started = Some(StdInstant::now());
        }
        let Some(t0) = started else {
            phy_wait(fd, iface.poll_delay(now, &sockets)).ok();
            continue;
        };
        let elapsed = t0.elapsed();
        match mode {
            "ping" => {
                let run = StdDuration::from_secs(secs.unwrap_or(1));
                if elapsed >= run && ping_at.is_none() {
                    if rtts.is_empty() {
                        fail("no echo came back");
                    }
                    let avg = rtts.iter().sum::<f64>() / rtts.len() as f64;
                    rtts.sort_by(|a, b| a.total_cmp(b));
                    println!("{:.2} {:.2}", avg / 2.0, rtts[rtts.len() / 2] / 2.0);
                    return;
                }
                if ping_at.is_none() && elapsed < run && s.send_slice(&data[..64]) == Ok(64) {
                    ping_at = Some(StdInstant::now());
                    got = 0;
                }
                while s.can_recv() {
                    match s.recv(|b| (b.len(), b.len())) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got += n,
                    }
                }
                if let Some(t) = ping_at.filter(|_| got >= 64) {
                    rtts.push(t.elapsed().as_secs_f64() * 1e6);
                    ping_at = None;
                    // The next message goes in this same turn of the loop.
                    continue;
                }
            }
            "send" | "recv" => {
                let run = StdDuration::from_secs(secs.unwrap_or(1));
                if elapsed >= run {
                    let bytes = if mode == "send" { sent } else { got };
                    println!("{:.2}", bytes as f64 * 8.0 / elapsed.as_secs_f64() / 1e9);
                    return;
                }
                if mode == "send" {
                    while s.can_send() {
                        match s.send_slice(&data) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => sent += n,
                        }
                    }
                } else {
                    while s.can_recv() {
                        match s.recv(|b| (b.len(), b.len())) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => got += n,
                        }
                    }
                }
            }
            _ => {
                while sent < BOTH_BYTES && s.can_send() {
                    let n = (BOTH_BYTES - sent).min(data.len());
                    match s.send_slice(&data[..n]) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => sent += n,
                    }
                }
                while s.can_recv() {
                    match s.recv(|b| (b.len(), b.len())) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got += n,
                    }
                }
                // Done when all we sent is acknowledged and all the peer's bytes are here.
                if got >= BOTH_BYTES && sent == BOTH_BYTES && s.send_queue() == 0 {
                    println!("{:.3}", elapsed.as_secs_f64());
                    return;
                }
            }
        }
        // Sleep until a frame comes or smoltcp's next timer, at most a millisecond; a ping in
        // flight spins instead, as tapstack's service and reader spin briefly for an answer
        // (TAPSTACK_BUSY_POLL, TAPSTACK_BUSY_READ) and a sleeping vCPU here takes tens of µs to wake.
        let most = if ping_at.is_some() {
            Duration::ZERO
        } else {
            Duration::from_millis(1)
        };
        let delay = iface.poll_delay(Instant::now(), &sockets).unwrap_or(most);
        phy_wait(fd, Some(delay.min(most))).ok();
    }
}
