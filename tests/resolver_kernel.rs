//! The resolver against a real DNS server: dnsmasq on the kernel side of the TAP (10.77.0.1),
//! queried through the stack's own UDP (10.77.0.2). Each test makes and deletes its own namespace.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;
use tapstack::resolver::{LookupError, Resolver, RuntimeTransport};

/// dnsmasq in the namespace, killed when dropped; its query log in a file of its own.
struct Dnsmasq {
    child: Child,
    log: PathBuf,
}

impl Dnsmasq {
    fn start(net: &TestNet) -> Dnsmasq {
        require("dnsmasq");
        let dir =
            std::env::temp_dir().join(format!("tapstack-dns-{}-{}", net.name, std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("dnsmasq.log");
        // 40 addresses for one name: more than a 512-byte UDP reply holds.
        let many = dir.join("many.hosts");
        let lines: String = (1..=40)
            .map(|i| format!("10.77.1.{i} many.test\n"))
            .collect();
        std::fs::write(&many, lines).unwrap();
        let child = net
            .command("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--no-daemon",
                "--port=53",
                &format!("--listen-address={KERNEL_IP}"),
                "--bind-interfaces",
                "--no-resolv",
                "--no-hosts",
                "--local=/test/",
                "--host-record=tapstack.test,10.77.0.50",
                &format!("--addn-hosts={}", many.display()),
                "--log-queries",
                &format!("--log-facility={}", log.display()),
                "--pid-file=",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dnsmasq");
        let d = Dnsmasq { child, log };
        assert!(
            eventually(Duration::from_secs(5), || d.log_text().contains("started")),
            "dnsmasq did not start: {}",
            d.log_text()
        );
        d
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = self.log.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn resolver(servers: &[SocketAddrV4], timeout: Duration, attempts: u32) -> Resolver {
    let mut r = Resolver::from_config(&tapstack::config::Settings::default().resolve().unwrap());
    r.servers = servers.to_vec();
    r.timeout = timeout;
    r.attempts = attempts;
    // Only DNS: no host file may answer for the test names.
    r.hosts_path = PathBuf::from("/nonexistent/hosts");
    r
}

fn kernel_dns() -> SocketAddrV4 {
    SocketAddrV4::new(KERNEL_IP.parse().unwrap(), 53)
}

#[test]
fn names_resolve_through_the_stack_to_dnsmasq() {
    let net = TestNet::new("dns");
    let dns = Dnsmasq::start(&net);
    let rt = net.start_stack(&[("TAPSTACK_DNS", KERNEL_IP)]);
    let config = net.config(&[("TAPSTACK_DNS", KERNEL_IP)]);
    let mut r = Resolver::from_config(&config);
    assert_eq!(r.servers, vec![kernel_dns()]);
    r.timeout = Duration::from_secs(2);
    r.hosts_path = PathBuf::from("/nonexistent/hosts");
    let mut transport = RuntimeTransport::new(&rt);

    assert_eq!(
        r.resolve_v4("tapstack.test", &mut transport),
        Ok(vec![Ipv4Addr::new(10, 77, 0, 50)])
    );
    assert!(
        eventually(Duration::from_secs(2), || dns
            .log_text()
            .contains(&format!("query[A] tapstack.test from {STACK_IP}"))),
        "dnsmasq log: {}",
        dns.log_text()
    );
    // Any case, trailing dot: the same name.
    assert_eq!(
        r.resolve_v4("TapStack.Test.", &mut transport),
        Ok(vec![Ipv4Addr::new(10, 77, 0, 50)])
    );
    // NXDOMAIN from dnsmasq (--local=/test/): no such name, and no waiting for it.
    let start = Instant::now();
    assert_eq!(
        r.resolve_v4("nope.test", &mut transport),
        Err(LookupError::NoName)
    );
    assert!(start.elapsed() < Duration::from_secs(1));
    // The reverse lookup, by PTR.
    assert_eq!(
        r.reverse_v4(Ipv4Addr::new(10, 77, 0, 50), &mut transport),
        Ok("tapstack.test".to_string())
    );
    assert!(dns
        .log_text()
        .contains("query[PTR] 50.0.77.10.in-addr.arpa"));
    // dnsmasq cuts the answer for 40 addresses at 512 bytes (TC): the resolver asks again over
    // TCP and has them all.
    let mut many = r.resolve_v4("many.test", &mut transport).unwrap();
    many.sort();
    let want: Vec<Ipv4Addr> = (1..=40).map(|i| Ipv4Addr::new(10, 77, 1, i)).collect();
    assert_eq!(many, want);
    // Numeric names never reach the server.
    let queries = dns.log_text().matches("query[").count();
    assert_eq!(
        r.resolve_v4("10.77.0.9", &mut transport),
        Ok(vec![Ipv4Addr::new(10, 77, 0, 9)])
    );
    assert_eq!(dns.log_text().matches("query[").count(), queries);
}

#[test]
fn no_server_answering_is_again_within_the_timeout() {
    let net = TestNet::new("dnsmute");
    let rt = net.start_stack(&[]);
    let mut transport = RuntimeTransport::new(&rt);
    // Nothing listens on port 5353 of the kernel side, and 10.77.0.99 does not exist.
    let closed = SocketAddrV4::new(KERNEL_IP.parse().unwrap(), 5353);
    let silent = SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, 99), 53);
    let timeout = Duration::from_millis(400);
    let r = resolver(&[closed, silent], timeout, 2);
    let start = Instant::now();
    assert_eq!(
        r.resolve_v4("tapstack.test", &mut transport),
        Err(LookupError::Again)
    );
    let took = start.elapsed();
    // Two rounds over two servers: at most 4 timeouts, plus scheduling slack.
    assert!(took <= 4 * timeout + Duration::from_secs(1), "{took:?}");
    // No server at all: Again at once (glibc's answer with nothing on 127.0.0.1).
    let start = Instant::now();
    assert_eq!(
        resolver(&[], timeout, 2).resolve_v4("tapstack.test", &mut transport),
        Err(LookupError::Again)
    );
    assert!(start.elapsed() < Duration::from_millis(100));
}
