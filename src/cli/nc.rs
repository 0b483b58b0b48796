//! `tapstack nc`: a netcat over a stack connection. Carries standard input to the peer and the
//! peer's data to standard output, half-closing (FIN) when input ends, and exits when both
//! directions are done. A client of the stack service like any program (through the C API), so it
//! runs beside the others and starts the service when none runs.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::RawFd;
use std::time::Duration;

use libc::{c_int, c_void, sockaddr, socklen_t};
use tapstack::capi;
use tapstack::error::Errno;
use tapstack::runtime::init_logging;
use tapstack::sys::sockaddr_in;

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
         --retries N        SYN retransmissions before connect fails with ETIMEDOUT\n                     \
         (TCP_SYNCNT; default 6)\n  \
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
    // The settings reach the service (started now if none runs) as any program's do.
    for (var, value) in super::config_env(&parsed.config) {
        let (Ok(var), Ok(value)) = (std::ffi::CString::new(var), std::ffi::CString::new(value))
        else {
            continue;
        };
        // SAFETY: two NUL-terminated strings.
        unsafe { capi::tapstack_set(var.as_ptr(), value.as_ptr()) };
    }
    run(&opts)
}

/// The result of a C call: its value, or the errno it set.
fn check(r: c_int) -> Result<c_int, Errno> {
    if r < 0 {
        Err(Errno(
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO),
        ))
    } else {
        Ok(r)
    }
}

fn set_int(fd: RawFd, level: c_int, name: c_int, v: c_int) -> Result<(), Errno> {
    // SAFETY: an int of its size.
    check(unsafe {
        capi::tapstack_setsockopt(
            fd,
            level,
            name,
            &v as *const c_int as *const c_void,
            std::mem::size_of::<c_int>() as socklen_t,
        )
    })
    .map(drop)
}

fn configure(fd: RawFd, opts: &Options) -> Result<(), Errno> {
    if opts.nodelay {
        set_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    }
    if let Some(n) = opts.retries {
        set_int(fd, libc::IPPROTO_TCP, libc::TCP_SYNCNT, n.min(127) as c_int)?;
    }
    if let Some(n) = opts.rcvbuf {
        set_int(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            n.min(i32::MAX as usize) as c_int,
        )?;
    }
    if let Some(n) = opts.sndbuf {
        set_int(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            n.min(i32::MAX as usize) as c_int,
        )?;
    }
    Ok(())
}

/// A connection as the options say: accepted on a listener, or connected.
fn connection(opts: &Options) -> Result<RawFd, (String, Errno)> {
    // SAFETY: plain integer arguments.
    let fd = check(unsafe { capi::tapstack_socket(libc::AF_INET, libc::SOCK_STREAM, 0) })
        .map_err(|e| ("socket".to_string(), e))?;
    configure(fd, opts).map_err(|e| ("setsockopt".to_string(), e))?;
    if opts.listen {
        let local = SocketAddrV4::new(opts.addr.unwrap_or(Ipv4Addr::UNSPECIFIED), opts.port);
        let sa = sockaddr_in(local);
        let at = || format!("cannot listen on {local}");
        set_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1).map_err(|e| (at(), e))?;
        // SAFETY: a sockaddr_in of its size.
        check(unsafe {
            capi::tapstack_bind(
                fd,
                &sa as *const libc::sockaddr_in as *const sockaddr,
                std::mem::size_of::<libc::sockaddr_in>() as socklen_t,
            )
        })
        .map_err(|e| (at(), e))?;
        // SAFETY: plain arguments.
        check(unsafe { capi::tapstack_listen(fd, 1) }).map_err(|e| (at(), e))?;
        if opts.verbose {
            eprintln!("tapstack nc: listening on {local}");
        }
        let mut p = [libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        }];
        let ms = opts
            .wait
            .map_or(-1, |w| w.as_millis().min(i32::MAX as u128) as c_int);
        // SAFETY: one pollfd.
        let ready = check(unsafe { capi::tapstack_poll(p.as_mut_ptr(), 1, ms) })
            .map_err(|e| ("poll".to_string(), e))?;
        if ready == 0 {
            return Err(("no connection".to_string(), Errno::ETIMEDOUT));
        }
        // SAFETY: zeroed sockaddr_in is valid; the length says its size.
        let mut peer: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as socklen_t;
        // SAFETY: as above.
        let c = check(unsafe {
            capi::tapstack_accept(
                fd,
                &mut peer as *mut libc::sockaddr_in as *mut sockaddr,
                &mut len,
            )
        })
        .map_err(|e| ("accept".to_string(), e))?;
        // SAFETY: our own descriptor.
        unsafe { capi::tapstack_close(fd) };
        if opts.verbose {
            let ip = Ipv4Addr::from(u32::from_be(peer.sin_addr.s_addr));
            eprintln!(
                "tapstack nc: connection from {ip}:{}",
                u16::from_be(peer.sin_port)
            );
        }
        Ok(c)
    } else {
        let remote = SocketAddrV4::new(opts.addr.expect("parsed"), opts.port);
        let at = || format!("connect to {} port {}", remote.ip(), remote.port());
        if let Some(w) = opts.wait {
            let tv = libc::timeval {
                tv_sec: w.as_secs() as libc::time_t,
                tv_usec: w.subsec_micros() as libc::suseconds_t,
            };
            // SAFETY: a timeval of its size.
            check(unsafe {
                capi::tapstack_setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_SNDTIMEO,
                    &tv as *const libc::timeval as *const c_void,
                    std::mem::size_of::<libc::timeval>() as socklen_t,
                )
            })
            .map_err(|e| (at(), e))?;
        }
        let sa = sockaddr_in(remote);
        // SAFETY: a sockaddr_in of its size.
        match check(unsafe {
            capi::tapstack_connect(
                fd,
                &sa as *const libc::sockaddr_in as *const sockaddr,
                std::mem::size_of::<libc::sockaddr_in>() as socklen_t,
            )
        }) {
            Ok(_) => {}
            // SO_SNDTIMEO ran out with the handshake still going.
            Err(Errno::EINPROGRESS) => return Err((at(), Errno::ETIMEDOUT)),
            Err(e) => return Err((at(), e)),
        }
        if opts.verbose {
            eprintln!("tapstack nc: connected to {remote}");
        }
        Ok(fd)
    }
}

fn run(opts: &Options) -> i32 {
    let fd = match connection(opts) {
        Ok(fd) => fd,
        Err((what, e)) => return fail(&what, e),
    };
    let code = pump(fd);
    if opts.verbose {
        // SAFETY: tcp_info is plain data; the length says its size.
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tcp_info>() as socklen_t;
        // SAFETY: as above.
        let got = unsafe {
            capi::tapstack_getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                &mut info as *mut libc::tcp_info as *mut c_void,
                &mut len,
            )
        };
        if got == 0 {
            eprintln!(
                "tapstack nc: sent {} bytes, received {}, retransmitted {} segments, srtt {} us, cwnd {} segments",
                info.tcpi_bytes_acked,
                info.tcpi_bytes_received,
                info.tcpi_total_retrans,
                info.tcpi_rtt,
                info.tcpi_snd_cwnd
            );
        }
    }
    // SAFETY: our own descriptor; the service finishes the close (FIN, TIME-WAIT).
    unsafe { capi::tapstack_close(fd) };
    code
}

fn fail(what: &str, e: Errno) -> i32 {
    eprintln!("tapstack nc: {what}: {e} ({})", e.name());
    1
}

/// Copies stdin → connection (then FIN) and connection → stdout, in parallel, until both are done.
fn pump(fd: RawFd) -> i32 {
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
                let mut off = 0;
                while off < n {
                    // SAFETY: `buf[off..n]` is readable.
                    let w = unsafe {
                        capi::tapstack_send(
                            fd,
                            buf[off..n].as_ptr() as *const c_void,
                            n - off,
                            libc::MSG_NOSIGNAL,
                        )
                    };
                    match check(w as c_int) {
                        Ok(_) => off += w as usize,
                        Err(Errno::EINTR) => {}
                        Err(e) => return Err(format!("send: {e} ({})", e.name())),
                    }
                }
            }
            // SAFETY: plain arguments.
            check(unsafe { capi::tapstack_shutdown(fd, libc::SHUT_WR) })
                .map(drop)
                .map_err(|e| format!("shutdown: {e}"))
        });
        let download = (|| -> Result<(), String> {
            let mut stdout = std::io::stdout().lock();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                // SAFETY: `buf` is writable for its length.
                let n = unsafe {
                    capi::tapstack_recv(fd, buf.as_mut_ptr() as *mut c_void, buf.len(), 0)
                };
                match check(n as c_int) {
                    Ok(0) => {
                        return stdout
                            .flush()
                            .map_err(|e| format!("writing standard output: {e}"))
                    }
                    Ok(_) => stdout
                        .write_all(&buf[..n as usize])
                        .map_err(|e| format!("writing standard output: {e}"))?,
                    Err(Errno::EINTR) => {}
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
