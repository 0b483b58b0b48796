//! The benchmark's comparator for tapstack's own engine, never part of the stack: smoltcp_peer's
//! HTTP loop (examples/smoltcp_peer.rs, `http`) with tapstack's sans-IO core ([`Stack`]) driven in
//! this one process and thread, as smoltcp_peer drives smoltcp, instead of through the service
//! that a preloaded program's every socket call crosses to. Set beside `connloop` run with
//! `tapstack run --`, it separates what the engine costs from what the hand-off to the service
//! costs.
//!
//!   tapstack_peer http PORT COUNT CONC  COUNT HTTP/1.0 requests for /small to 10.77.0.1:PORT, one
//!                                       connection each, CONC at a time; prints conn/s
//!   tapstack_peer ping PORT SECONDS     64-byte messages to scripts/bench/pingpong.c's echo server
//!                                       at 10.77.0.1:PORT, one at a time, for SECONDS; prints the
//!                                       one-way time, "AVG MEDIAN" in µs (smoltcp_peer's `ping`)
//!
//! The stack is set up as the service sets up its own (`Service::start` in src/service/server.rs):
//! the `TAPSTACK_*` settings from the environment (by default 10.77.0.2/24 on `tap0` of the
//! namespace it runs in, made by `scripts/netns.sh create`), the host's TCP defaults, the user's
//! shared TCP secret. Each turn, as the service's loop: frames from the TAP into the stack, due
//! timers, the sockets that the stack reports as changed, the stack's frames out to the TAP; then a
//! sleep in `poll(2)` on the TAP until the stack's next deadline, 1 ms at most. A connection counts
//! once the server's FIN has ended its answer and it is closed (as `connloop` counts it). Exits 1
//! with a message on any failure, a connection that ends without an answer included; gives up
//! after 120 s.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::RawFd;
use std::time::{Duration, Instant as StdInstant};

use tapstack::config::Config;
use tapstack::device::pcap::PcapDevice;
use tapstack::device::tap::TapDevice;
use tapstack::device::Device;
use tapstack::error::Errno;
use tapstack::ipv4::Interface;
use tapstack::stack::{SocketHandle, Stack};
use tapstack::sys::monotonic_now;

const KERNEL: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const REQUEST: &[u8] = b"GET /small HTTP/1.0\r\nHost: 10.77.0.1\r\n\r\n";
/// Frames read from the TAP at a time (the service's burst).
const BURST: usize = 64;
/// The longest sleep, as smoltcp_peer's.
const MOST_WAIT: Duration = Duration::from_millis(1);
const LIMIT: Duration = Duration::from_secs(120);

fn fail(msg: &str) -> ! {
    eprintln!("tapstack_peer: {msg}");
    std::process::exit(1)
}

/// The TAP of the configuration (and its capture, if `TAPSTACK_PCAP` asks for one), and a stack
/// on it, as the service makes them.
fn attach() -> (Box<dyn Device>, Stack) {
    let config = Config::from_env().unwrap_or_else(|e| fail(&e.to_string()));
    let tap = TapDevice::open(&config.iface, config.offload)
        .unwrap_or_else(|e| fail(&format!("{}: {e}", config.iface)));
    let device: Box<dyn Device> = match &config.pcap {
        Some(path) => Box::new(
            PcapDevice::new(tap, path)
                .unwrap_or_else(|e| fail(&format!("TAPSTACK_PCAP={}: {e}", path.display()))),
        ),
        None => Box::new(tap),
    };
    let mtu = device.caps().mtu;
    let mut stack = Stack::new(
        Interface::from_config(&config, mtu),
        device.caps(),
        tapstack::sys::random_seed(),
    );
    tapstack::host::HostTcp::read().apply(stack.tcp_defaults_mut());
    stack.set_max_sockets(config.max_sockets);
    tapstack::service::secret::keys().apply(&mut stack);
    (device, stack)
}

/// A connection under way: its socket, whether the request went, bytes of answer so far.
struct Conn {
    h: SocketHandle,
    sent: bool,
    answer: usize,
}

/// Sleeps until a frame waits on `fd` or `wait` has passed.
fn wait_for(fd: RawFd, wait: Duration) {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: wait.as_secs() as libc::time_t,
        tv_nsec: wait.subsec_nanos() as libc::c_long,
    };
    // SAFETY: one valid pollfd, a valid timespec, no signal mask.
    let r = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
    if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
        fail(&format!("poll: {}", std::io::Error::last_os_error()));
    }
}

/// `http`: as ab without keep-alive, each of `conc` slots runs one request after another on a
/// fresh connection (a new socket, its port picked by the stack) until `count` are answered.
fn http(port: u16, count: usize, conc: usize) {
    let (mut device, mut stack) = attach();
    let fd = device
        .poll_fd()
        .unwrap_or_else(|| fail("the device has no descriptor to wait on"));
    let server = SocketAddrV4::new(KERNEL, port);
    let mut slots: Vec<Option<Conn>> = (0..conc).map(|_| None).collect();
    let mut frame = vec![0u8; 65536 + 14];
    let mut buf = vec![0u8; 4096];
    let (mut started, mut done) = (0usize, 0usize);
    let t0 = StdInstant::now();
    while done < count {
        if t0.elapsed() > LIMIT {
            fail(&format!("gave up after 120 s: {done} of {count} answered"));
        }
        frames_in(&mut device, &mut stack, &mut frame);
        let now = monotonic_now();
        if stack.poll_at(now).is_some_and(|at| at <= now) {
            stack.poll(now);
        }
        // The sockets whose state moved, until none is left (acting on one can move it again;
        // bounded, as the service's wake_sockets, the rest waiting for the next turn).
        for _ in 0..8 {
            let woken = stack.take_woken();
            if woken.is_empty() {
                break;
            }
            for h in woken {
                let Some(i) = slots
                    .iter()
                    .position(|s| s.as_ref().is_some_and(|c| c.h == h))
                else {
                    continue; // closed by us already, finishing on its own
                };
                let c = slots[i].as_mut().expect("found");
                if !c.sent {
                    match stack.tcp_connect_status(h) {
                        Ok(()) => {}
                        Err(Errno::EAGAIN) => continue,
                        Err(e) => fail(&format!("connect: {e}")),
                    }
                    match stack.tcp_send(now, h, REQUEST) {
                        Ok(n) if n == REQUEST.len() => c.sent = true,
                        Ok(n) => fail(&format!("send: {n} of {} bytes", REQUEST.len())),
                        Err(e) => fail(&format!("send: {e}")),
                    }
                }
                loop {
                    match stack.tcp_recv(now, h, &mut buf, false) {
                        Ok(0) => {
                            // End of file: the answer is whole.
                            if c.answer == 0 {
                                fail("a connection closed without an answer");
                            }
                            stack
                                .close(now, h)
                                .unwrap_or_else(|e| fail(&format!("close: {e}")));
                            slots[i] = None;
                            done += 1;
                            break;
                        }
                        Ok(n) => c.answer += n,
                        Err(Errno::EAGAIN) => break,
                        Err(e) => fail(&format!("recv: {e}")),
                    }
                }
            }
        }
        // New connections in the free slots, those freed just now included.
        for slot in slots.iter_mut().filter(|s| s.is_none()) {
            if started == count {
                break;
            }
            let h = stack
                .tcp_socket()
                .unwrap_or_else(|e| fail(&format!("socket: {e}")));
            stack
                .tcp_connect(now, h, server)
                .unwrap_or_else(|e| fail(&format!("connect: {e}")));
            *slot = Some(Conn {
                h,
                sent: false,
                answer: 0,
            });
            started += 1;
        }
        // A socket still to look at: straight to the next turn.
        let busy = !stack.woken().is_empty();
        frames_out_and_wait(&mut device, &mut stack, fd.raw(), busy);
    }
    println!("{:.0}", count as f64 / t0.elapsed().as_secs_f64());
}

/// The end of a turn: the stack's frames out to the device, then a sleep until a frame waits on
/// `fd`, the stack's next deadline or [`MOST_WAIT`], whichever comes first; none if `busy` (work
/// left for the next turn, or an answer to spin for).
fn frames_out_and_wait(device: &mut Box<dyn Device>, stack: &mut Stack, fd: RawFd, busy: bool) {
    while let Some(f) = stack.pop_frame() {
        device
            .send(&f)
            .unwrap_or_else(|e| fail(&format!("device send: {e}")));
    }
    let now = monotonic_now();
    let wait = if busy {
        Duration::ZERO
    } else {
        stack
            .poll_at(now)
            .map_or(MOST_WAIT, |at| at.saturating_since(now))
            .min(MOST_WAIT)
    };
    wait_for(fd, wait);
}

/// One turn's frames from the device into the stack: every one waiting, a burst at a time.
fn frames_in(device: &mut Box<dyn Device>, stack: &mut Stack, frame: &mut [u8]) {
    let now = monotonic_now();
    loop {
        let got = device
            .recv_burst(frame, BURST, &mut |f, checksum| {
                stack.receive_checked(now, f, checksum)
            })
            .unwrap_or_else(|e| fail(&format!("device receive: {e}")));
        if got < BURST {
            break;
        }
    }
}

/// `ping`: one connection to the echo server; for `secs` seconds, 64 bytes out and the same 64
/// back, one message at a time, each round trip timed. As smoltcp_peer's `ping`, a message in
/// flight spins (polls the TAP without sleeping) for its answer; between them the loop sleeps as
/// `http`'s does.
fn ping(port: u16, secs: u64) {
    const MSG: usize = 64;
    let (mut device, mut stack) = attach();
    let fd = device
        .poll_fd()
        .unwrap_or_else(|| fail("the device has no descriptor to wait on"));
    let limit = Duration::from_secs(secs + 30);
    let run = Duration::from_secs(secs);
    let begun = StdInstant::now();
    let h = stack
        .tcp_socket()
        .unwrap_or_else(|e| fail(&format!("socket: {e}")));
    if let Ok(s) = stack.tcp_socket_mut(h) {
        s.config.nodelay = true; // as pingpong.c's TCP_NODELAY
    }
    stack
        .tcp_connect(monotonic_now(), h, SocketAddrV4::new(KERNEL, port))
        .unwrap_or_else(|e| fail(&format!("connect: {e}")));
    let mut frame = vec![0u8; 65536 + 14];
    let mut buf = [0u8; MSG];
    let message = [0x5au8; MSG];
    let mut started: Option<StdInstant> = None;
    // When the message in flight left, the bytes of its echo so far, the round trips (µs).
    let mut ping_at: Option<StdInstant> = None;
    let mut got = 0usize;
    let mut rtts: Vec<f64> = Vec::new();
    loop {
        if begun.elapsed() > limit {
            fail(&format!(
                "gave up after {limit:?}: {} round trips",
                rtts.len()
            ));
        }
        frames_in(&mut device, &mut stack, &mut frame);
        let now = monotonic_now();
        if stack.poll_at(now).is_some_and(|at| at <= now) {
            stack.poll(now);
        }
        stack.take_woken();
        if started.is_none() {
            match stack.tcp_connect_status(h) {
                Ok(()) => started = Some(StdInstant::now()),
                Err(Errno::EAGAIN) => {}
                Err(e) => fail(&format!("connect: {e}")),
            }
        }
        if let Some(t0) = started {
            loop {
                match stack.tcp_recv(now, h, &mut buf, false) {
                    Ok(0) => fail(&format!(
                        "the connection closed after {} round trips",
                        rtts.len()
                    )),
                    Ok(n) => got += n,
                    Err(Errno::EAGAIN) => break,
                    Err(e) => fail(&format!("recv: {e}")),
                }
            }
            if let Some(t) = ping_at.filter(|_| got >= MSG) {
                rtts.push(t.elapsed().as_secs_f64() * 1e6);
                ping_at = None;
            }
            if ping_at.is_none() {
                if t0.elapsed() >= run {
                    if rtts.is_empty() {
                        fail("no echo came back");
                    }
                    let avg = rtts.iter().sum::<f64>() / rtts.len() as f64;
                    rtts.sort_by(|a, b| a.total_cmp(b));
                    println!("{:.2} {:.2}", avg / 2.0, rtts[rtts.len() / 2] / 2.0);
                    return;
                }
                match stack.tcp_send(now, h, &message) {
                    Ok(MSG) => {
                        ping_at = Some(StdInstant::now());
                        got = 0;
                    }
                    Ok(n) => fail(&format!("send: {n} of {MSG} bytes")),
                    Err(e) => fail(&format!("send: {e}")),
                }
            }
        }
        frames_out_and_wait(&mut device, &mut stack, fd.raw(), ping_at.is_some());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |v: &String| v.parse::<usize>().unwrap_or_else(|_| fail("bad number"));
    let port = |v: &String| v.parse::<u16>().unwrap_or_else(|_| fail("bad port"));
    match args.as_slice() {
        [m, p, n, c] if m == "http" => http(port(p), num(n), num(c).max(1)),
        [m, p, s] if m == "ping" => ping(port(p), num(s) as u64),
        _ => fail("usage: tapstack_peer http PORT COUNT CONC | tapstack_peer ping PORT SECONDS"),
    }
}
