//! `tapstack nc`: a netcat over a stack connection. Carries standard input to the peer and the
//! peer's data to standard output, half-closing (FIN) when input ends, and exits when both
//! directions are done.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use tapstack::error::Errno;
use tapstack::runtime::tcp::TcpStream;
use tapstack::runtime::{init_logging, Runtime};
use tapstack::stack::{Shutdown, SocketHandle, Stack};

use super::{parse_stack_flags, stack_flags_help, usage_error};

fn help() -> String {
    format!(
        "usage: tapstack nc [OPTIONS] HOST PORT        connect to HOST:PORT\n       \
         tapstack nc -l [OPTIONS] [ADDR] PORT   accept one connection on PORT\n\n\
         Carries standard input to the connection and the connection's data to standard output.\n\
         When input ends, sends FIN (half-close) and keeps reading until the peer closes too.\n\
         HOST is an IPv4 address.\n\n\
         nc options:\n  \
         -l                 listen instead of connecting\n  \
         -w SECONDS         give up connecting (or waiting for a client) after this long\n  \
         --nodelay          TCP_NODELAY: no Nagle delay for small writes\n  \
         --retries N        retransmissions before the connection fails with ETIMEDOUT\n                     \
         (like tcp_retries2 and tcp_syn_retries; default 15 and 6)\n  \
         --rcvbuf BYTES     SO_RCVBUF for the connection\n  \
         --sndbuf BYTES     SO_SNDBUF for the connection\n  \
         -v                 report the connection and its counters on standard error\n\n{}",
        stack_flags_help()
    )
}

struct Options {
    listen: bool,
    wait: Option<Duration>,
    nodelay: bool,
    retries: Option<u32>,
    rcvbuf: Option<usize>,
    sndbuf: Option<usize>,
    verbose: bool,
    addr: Option<Ipv4Addr>,
    port: u16,
}

fn parse(rest: Vec<String>) -> Result<Options, String> {
    let mut o = Options {
        listen: false,
        wait: None,
        nodelay: false,
        retries: None,
        rcvbuf: None,
        sndbuf: None,
        verbose: false,
        addr: None,
        port: 0,
    };
    let mut positional = Vec::new();
    let mut it = rest.into_iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "-l" => o.listen = true,
            "-v" => o.verbose = true,
            "--nodelay" => o.nodelay = true,
            "-w" => {
                let v = value("-w")?;
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0 && s.is_finite())
                    .ok_or(format!("-w {v:?}: expected seconds"))?;
                o.wait = Some(Duration::from_secs_f64(secs));
            }
            "--retries" => {
                let v = value("--retries")?;
                o.retries = Some(
                    v.parse()
                        .ok()
                        .filter(|n| (1..=255).contains(n))
                        .ok_or(format!("--retries {v:?}: expected 1 to 255"))?,
                );
            }
            "--rcvbuf" | "--sndbuf" => {
                let v = value(&a)?;
                let n: usize = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(format!("{a} {v:?}: expected a byte count"))?;
                if a == "--rcvbuf" {
                    o.rcvbuf = Some(n);
                } else {
                    o.sndbuf = Some(n);
                }
            }
            s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option {s:?}")),
            _ => positional.push(a),
        }
    }
    let port_of = |s: &str| {
        s.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or(format!("{s:?} is not a port (1-65535)"))
    };
    let addr_of = |s: &str| {
        s.parse::<Ipv4Addr>()
            .map_err(|_| format!("{s:?} is not an IPv4 address"))
    };
    match (o.listen, positional.as_slice()) {
        (true, [port]) => o.port = port_of(port)?,
        (true, [addr, port]) | (false, [addr, port]) => {
            o.addr = Some(addr_of(addr)?);
            o.port = port_of(port)?;
        }
        (false, _) => return Err("expected HOST PORT".into()),
        (true, _) => return Err("expected [ADDR] PORT".into()),
    }
    Ok(o)
}

pub fn main(args: Vec<String>) -> i32 {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", help());
        return 0;
    }
    let parsed = match parse_stack_flags(args) {
        Ok(p) => p,
        Err(e) => return usage_error("nc", &e),
    };
    let opts = match parse(parsed.rest) {
        Ok(o) => o,
        Err(e) => return usage_error("nc", &e),
    };
    init_logging(parsed.config.log.as_deref());
    let runtime = match Runtime::start(&parsed.config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tapstack nc: {e}");
            return 1;
        }
    };
    let code = run(&runtime, &opts);
    // Let our FIN be acknowledged before the process (and with it the stack) goes away.
    runtime.linger(Duration::from_secs(5));
    code
}

fn configure(
    opts: &Options,
) -> impl Fn(&mut Stack, SocketHandle) -> tapstack::error::Result<()> + '_ {
    move |s, h| {
        let sock = s.tcp_socket_mut(h)?;
        sock.config.nodelay = opts.nodelay;
        if let Some(n) = opts.retries {
            sock.config.data_retries = n;
            sock.config.syn_retries = n;
        }
        if let Some(n) = opts.rcvbuf {
            sock.config.recv_buffer = n;
        }
        if let Some(n) = opts.sndbuf {
            sock.config.send_buffer = n;
        }
        Ok(())
    }
}

fn run(runtime: &Runtime, opts: &Options) -> i32 {
    let configure = configure(opts);
    let stream = if opts.listen {
        let local = SocketAddrV4::new(opts.addr.unwrap_or(Ipv4Addr::UNSPECIFIED), opts.port);
        let listener = match runtime.tcp_listen_with(local, 1, &configure) {
            Ok(l) => l,
            Err(e) => return fail(&format!("cannot listen on {local}"), e),
        };
        if opts.verbose {
            eprintln!("tapstack nc: listening on {local}");
        }
        match listener.accept_timeout(opts.wait) {
            Ok((s, peer)) => {
                if opts.verbose {
                    eprintln!("tapstack nc: connection from {peer}");
                }
                s
            }
            Err(Errno::EAGAIN) => return fail("no connection", Errno::ETIMEDOUT),
            Err(e) => return fail("accept", e),
        }
    } else {
        let remote = SocketAddrV4::new(opts.addr.expect("parsed"), opts.port);
        match runtime.tcp_connect_with(remote, opts.wait, &configure) {
            Ok(s) => {
                if opts.verbose {
                    eprintln!(
                        "tapstack nc: connected to {remote} from {}",
                        s.local_addr().unwrap_or(remote)
                    );
                }
                s
            }
            Err(e) => {
                return fail(
                    &format!("connect to {} port {}", remote.ip(), remote.port()),
                    e,
                )
            }
        }
    };
    let code = pump(&stream);
    if opts.verbose {
        if let Some(st) = stream.stats() {
            eprintln!(
                "tapstack nc: sent {} bytes, received {}, retransmitted {} segments, srtt {:?}, cwnd {}",
                st.bytes_acked, st.bytes_received, st.retransmits, st.srtt, st.cwnd
            );
        }
    }
    code
}

fn fail(what: &str, e: Errno) -> i32 {
    eprintln!("tapstack nc: {what}: {e} ({})", e.name());
    1
}

/// Copies stdin → connection (then FIN) and connection → stdout, in parallel, until both are done.
fn pump(stream: &TcpStream) -> i32 {
    std::thread::scope(|scope| {
        let upload = scope.spawn(|| -> Result<(), String> {
            let mut stdin = std::io::stdin().lock();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(format!("reading standard input: {e}")),
                };
                stream
                    .send_all(&buf[..n])
                    .map_err(|e| format!("send: {e} ({})", e.name()))?;
            }
            stream
                .shutdown(Shutdown::Write)
                .map_err(|e| format!("shutdown: {e}"))
        });
        let download = (|| -> Result<(), String> {
            let mut stdout = std::io::stdout().lock();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match stream.recv(&mut buf) {
                    Ok(0) => {
                        return stdout
                            .flush()
                            .map_err(|e| format!("writing standard output: {e}"))
                    }
                    Ok(n) => stdout
                        .write_all(&buf[..n])
                        .map_err(|e| format!("writing standard output: {e}"))?,
                    Err(e) => return Err(format!("receive: {e} ({})", e.name())),
                }
            }
        })();
        if let Err(e) = download {
            // The connection is gone; the upload side may sit in a read of a terminal that will
            // never end, so leave now rather than wait for it.
            eprintln!("tapstack nc: {e}");
            std::process::exit(1);
        }
        let mut code = 0;
        match upload.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("tapstack nc: {e}");
                code = 1;
            }
            Err(_) => code = 1,
        }
        code
    })
}
