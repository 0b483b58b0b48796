//! The benchmark's smoltcp column: the same jobs the benchmark gives a program on tapstack, done
//! by smoltcp (a dev-dependency, never part of the stack) on the same TAP and MTU, so that the rows
//! compare the stacks and not the programs. It takes 10.77.0.2 on `tap0` of the namespace it runs
//! in (made by `scripts/netns.sh create`), as tapstack does, and talks to the kernel at 10.77.0.1.
//!
//!   smoltcp_peer send PORT SECONDS   stream to a sink at PORT for SECONDS; prints Gbit/s sent
//!   smoltcp_peer recv PORT SECONDS   read from a source at PORT for SECONDS; prints Gbit/s read
//!   smoltcp_peer both PORT           16 MiB each way at once with the benchmark's lossy.py server
//!                                    (random bytes, counted, not checked); prints seconds
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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, port, secs) = match args.as_slice() {
        [m, p, s] if m == "send" || m == "recv" => (m.as_str(), p, s.parse().ok()),
        [m, p] if m == "both" => (m.as_str(), p, None),
        _ => fail("usage: smoltcp_peer send|recv PORT SECONDS | smoltcp_peer both PORT"),
    };
    let port: u16 = port.parse().unwrap_or_else(|_| fail("bad port"));
    let secs: Option<u64> = secs;
    let mut device = TunTapInterface::new("tap0", Medium::Ethernet)
        .unwrap_or_else(|e| fail(&format!("tap0: {e}")));
    let fd = device.as_raw_fd();
    let mut config = Config::new(EthernetAddress([0x02, 0x00, 0x00, 0x77, 0x00, 0x02]).into());
    config.random_seed = std::process::id() as u64;
    let mut iface = Interface::new(config, &mut device, Instant::now());
    iface.update_ip_addrs(|a| {
        a.push(IpCidr::new(IpAddress::v4(10, 77, 0, 2), 24))
            .expect("one address");
    });
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
        // Sleep until a frame comes or smoltcp's next timer, at most a millisecond.
        let delay = iface.poll_delay(Instant::now(), &sockets);
        phy_wait(fd, delay.map(|d| d.min(Duration::from_millis(1)))).ok();
    }
}
