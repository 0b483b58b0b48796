//! TCP socket semantics against the Linux kernel: the errors a program sees (ECONNRESET, EPIPE,
//! EHOSTUNREACH, ENOTCONN), nonblocking connect, a listener serving several kernel clients at
//! once, and keepalive. Each test makes and deletes its own namespace.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use tapstack::error::Errno;
use tapstack::stack::Shutdown;

fn kernel(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(KERNEL_IP.parse().unwrap(), port)
}

#[test]
fn peer_reset_gives_econnreset_then_epipe() {
    require("python3");
    let net = TestNet::new("reset");
    let rt = net.start_stack(&[]);
    // The kernel accepts, reads our greeting, then closes with SO_LINGER 0: a RST.
    let (mut child, mut out) = python(
        &net,
        "import socket, struct\n\
         l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         l.bind(('10.77.0.1', 9100)); l.listen(1); print('READY', flush=True)\n\
         c, a = l.accept(); c.recv(100)\n\
         c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); c.close()\n\
         print('RESET', a[0], flush=True)\n",
    );
    let stream = rt
        .tcp_connect(kernel(9100), Some(Duration::from_secs(5)))
        .unwrap();
    stream.send_all(b"hello").unwrap();
    assert_eq!(line(&mut out), format!("RESET {STACK_IP}"));
    let mut buf = [0u8; 16];
    assert_eq!(stream.recv(&mut buf), Err(Errno::ECONNRESET));
    assert_eq!(
        stream.recv(&mut buf),
        Ok(0),
        "after the reset is reported, reads see end of file"
    );
    assert_eq!(stream.send(b"more"), Err(Errno::EPIPE));
    let _ = child.wait();
}

#[test]
fn connect_to_a_silent_neighbour_gives_ehostunreach() {
    let net = TestNet::new("hostunreach");
    let rt = net.start_stack(&[]);
    let start = Instant::now();
    let r = rt.tcp_connect(
        SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, 99), 80),
        Some(Duration::from_secs(10)),
    );
    assert_eq!(r.err(), Some(Errno::EHOSTUNREACH));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(2500) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[test]
fn calls_on_unconnected_sockets_fail_like_linux() {
    let net = TestNet::new("notconn");
    let rt = net.start_stack(&[]);
    rt.with_stack(|s, now| {
        let h = s.tcp_socket().unwrap();
        assert_eq!(s.tcp_send(now, h, b"x"), Err(Errno::ENOTCONN));
        let mut buf = [0u8; 4];
        assert_eq!(s.tcp_recv(now, h, &mut buf, false), Err(Errno::ENOTCONN));
        assert_eq!(
            s.tcp_shutdown(now, h, Shutdown::Write),
            Err(Errno::ENOTCONN)
        );
        assert_eq!(s.peer_addr(h), Err(Errno::ENOTCONN));
        assert_eq!(s.tcp_accept(now, h).err(), Some(Errno::EINVAL));
        s.tcp_bind(h, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8080))
            .unwrap();
        let h2 = s.tcp_socket().unwrap();
        assert_eq!(
            s.tcp_bind(h2, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8080)),
            Err(Errno::EADDRINUSE)
        );
        assert_eq!(
            s.tcp_bind(h2, SocketAddrV4::new(Ipv4Addr::new(10, 9, 9, 9), 1)),
            Err(Errno::EADDRNOTAVAIL)
        );
        s.tcp_listen(h, 4).unwrap();
        assert_eq!(
            s.tcp_connect(now, h, SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, 1), 1)),
            Err(Errno::EISCONN)
        );
        s.close(now, h).unwrap();
        s.close(now, h2).unwrap();
        assert_eq!(s.close(now, h), Err(Errno::EBADF));
    });
}

#[test]
fn nonblocking_connect_reports_progress_then_success() {
    require("python3");
    let net = TestNet::new("nbconnect");
    let rt = net.start_stack(&[]);
    let (mut child, mut out) = python(
        &net,
        "import socket\n\
         l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         l.bind(('10.77.0.1', 9101)); l.listen(1); print('READY', flush=True)\n\
         c, a = l.accept(); print('GOT', c.recv(100).decode(), a[0], flush=True)\n",
    );
    let stream = rt
        .tcp_connect_nonblocking(kernel(9101), &|_, _| Ok(()))
        .unwrap();
    // The first SYN waits for ARP, so the handshake cannot be done yet.
    assert_eq!(stream.connect_status(), Err(Errno::EAGAIN));
    let mut buf = [0u8; 4];
    assert_eq!(stream.recv(&mut buf), Err(Errno::EAGAIN));
    assert!(stream.wait_ready(Some(Duration::from_secs(5)), |r| r.writable));
    assert_eq!(stream.connect_status(), Ok(()));
    assert_eq!(stream.send(b"ping"), Ok(4));
    assert_eq!(line(&mut out), format!("GOT ping {STACK_IP}"));
    let _ = child.wait();
}

#[test]
fn listener_serves_several_kernel_clients_at_once() {
    require("python3");
    let net = TestNet::new("server");
    let rt = net.start_stack(&[]);
    let listener = rt
        .tcp_listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8000), 16)
        .unwrap();
    // Eight kernel clients at once, each sending 200 KB and expecting it back reversed.
    let script = format!(
        "import socket, threading\n\
         res = {{}}\n\
         def client(i):\n    \
             s = socket.create_connection(('{STACK_IP}', 8000), timeout=20)\n    \
             data = bytes((i * 31 + j) % 256 for j in range(200000))\n    \
             s.sendall(data); s.shutdown(socket.SHUT_WR)\n    \
             got = bytearray()\n    \
             while True:\n        \
                 b = s.recv(65536)\n        \
                 if not b: break\n        \
                 got += b\n    \
             res[i] = (got == data[::-1])\n\
         ts = [threading.Thread(target=client, args=(i,)) for i in range(8)]\n\
         [t.start() for t in ts]; [t.join() for t in ts]\n\
         print('RESULT', sum(res.values()), len(res), flush=True)\n"
    );
    let client = net
        .command("timeout")
        .args(["60", "python3", "-c", &script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            let (stream, peer) = listener
                .accept_timeout(Some(Duration::from_secs(20)))
                .expect("accept");
            assert_eq!(*peer.ip(), KERNEL_IP.parse::<Ipv4Addr>().unwrap());
            scope.spawn(move || {
                let mut got = Vec::new();
                let mut buf = vec![0u8; 65536];
                loop {
                    match stream.recv(&mut buf).unwrap() {
                        0 => break,
                        n => got.extend_from_slice(&buf[..n]),
                    }
                }
                got.reverse();
                stream.send_all(&got).unwrap();
                stream.shutdown(Shutdown::Write).unwrap();
            });
        }
    });
    let out = client.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout).trim(), "RESULT 8 8");
}

#[test]
fn keepalive_probes_keep_an_idle_connection_and_detect_a_dead_one() {
    require("python3");
    require("nft");
    let net = TestNet::new("keepalive");
    let rt = net.start_stack(&[]);
    let (mut child, _out) = python(
        &net,
        "import socket, time\n\
         l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         l.bind(('10.77.0.1', 9102)); l.listen(1); print('READY', flush=True)\n\
         c, a = l.accept(); time.sleep(60)\n",
    );
    let stream = rt
        .tcp_connect_with(kernel(9102), Some(Duration::from_secs(5)), &|s, h| {
            let c = &mut s.tcp_socket_mut(h)?.config;
            c.keepalive = true;
            c.keepalive_idle = Duration::from_secs(1);
            c.keepalive_interval = Duration::from_millis(500);
            c.keepalive_count = 3;
            Ok(())
        })
        .unwrap();
    // Idle for three seconds: probes go out after 1 s and the kernel answers them.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(stream.connect_status(), Ok(()));
    let sent = stream.stats().unwrap().segments_sent;
    assert!(sent >= 3, "keepalive probes were sent: {sent} segments");
    // Now nothing gets through: 1 s idle then 3 unanswered probes 0.5 s apart → ETIMEDOUT.
    let out = net.sh(
        "nft -f - <<'NFT'\ntable netdev cut {\n  chain in { type filter hook ingress device \"tap0\" priority 0; drop; }\n  chain out { type filter hook egress device \"tap0\" priority 0; drop; }\n}\nNFT",
        10,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let start = Instant::now();
    let mut buf = [0u8; 8];
    let mut stream = stream;
    stream.read_timeout = Some(Duration::from_secs(10));
    assert_eq!(stream.recv(&mut buf), Err(Errno::ETIMEDOUT));
    let took = start.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    let _ = child.kill();
    let _ = child.wait();
}
