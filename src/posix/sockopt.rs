//! `setsockopt` and `getsockopt` on stack sockets.
//!
//! Every option accepted does what Linux does with it. Options that change nothing for this stack
//! and that no program depends on for correctness (a priority, a congestion algorithm Linux has
//! but this stack lacks, TCP_QUICKACK…) are accepted and logged once. Options whose effect a program
//! would depend on and that this stack cannot give (multicast membership, ancillary data it never
//! produces) fail with ENOPROTOOPT, which programs already handle for kernels without them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::hook::log_once;
use super::state::{self, Attach, Kind, OpenSocket, Pending};
use crate::error::{Errno, Result};
use crate::stack::{SocketHandle, Stack};
use crate::tcp::{Algorithm, State, TcpStats};

/// Linux's SO_RCVBUF/SO_SNDBUF floor (SOCK_MIN_RCVBUF is 2304, SOCK_MIN_SNDBUF 4608) and ceiling
/// (rmem_max/wmem_max 212992), before the doubling.
const BUF_MIN: usize = 2304;
const BUF_MAX: usize = 212_992;
/// Congestion control modules Linux may have: naming one is harmless here.
const KNOWN_CC: &[&str] = &[
    "cubic",
    "reno",
    "bbr",
    "bic",
    "dctcp",
    "highspeed",
    "htcp",
    "hybla",
    "illinois",
    "lp",
    "nv",
    "scalable",
    "vegas",
    "veno",
    "westwood",
    "yeah",
    "cdg",
];

unsafe fn int_arg(val: *const libc::c_void, len: libc::socklen_t) -> Result<i32> {
    if val.is_null() {
        return Err(Errno::EFAULT);
    }
    if (len as usize) < std::mem::size_of::<i32>() {
        return Err(Errno::EINVAL);
    }
    Ok(std::ptr::read_unaligned(val as *const i32))
}

unsafe fn timeval_arg(val: *const libc::c_void, len: libc::socklen_t) -> Result<u64> {
    if val.is_null() {
        return Err(Errno::EFAULT);
    }
    if (len as usize) < std::mem::size_of::<libc::timeval>() {
        return Err(Errno::EINVAL);
    }
    let tv = std::ptr::read_unaligned(val as *const libc::timeval);
    if tv.tv_usec < 0 || tv.tv_usec >= 1_000_000 {
        return Err(Errno(libc::EDOM));
    }
    // A negative time means "no timeout", as on Linux.
    if tv.tv_sec < 0 {
        return Ok(0);
    }
    Ok(tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64)
}

/// Applies `f` to the pending options or, once attached, to the stack socket.
fn with_socket(
    sock: &OpenSocket,
    pending: impl FnOnce(&mut Pending),
    attached: impl FnOnce(&mut Stack, SocketHandle) -> Result<()>,
) -> Result<()> {
    let mut a = sock.attach.lock();
    match &mut *a {
        Attach::Pending(p) => {
            pending(p);
            Ok(())
        }
        Attach::Stack(h) => {
            let h = *h;
            drop(a);
            state::runtime()?.with_stack(|s, _| attached(s, h))
        }
    }
}

fn tcp_config(
    s: &mut Stack,
    h: SocketHandle,
    f: impl FnOnce(&mut crate::tcp::Config),
) -> Result<()> {
    let t = s.tcp_socket_mut(h)?;
    f(&mut t.config);
    let cfg = t.config.clone();
    // A live connection takes the options that can change under way.
    if let Some(c) = t.connection_mut() {
        c.set_nodelay(cfg.nodelay);
        c.set_keepalive(cfg.keepalive);
        c.set_keepalive_params(
            cfg.keepalive_idle,
            cfg.keepalive_interval,
            cfg.keepalive_count,
        );
        c.set_linger(cfg.linger);
        c.set_congestion(cfg.congestion);
    }
    Ok(())
}

static LOGGED: [AtomicBool; 8] = [const { AtomicBool::new(false) }; 8];

fn harmless(slot: usize, what: &str) -> Result<()> {
    log_once(&LOGGED[slot], || {
        format!("tapstack: {what} is accepted but changes nothing in this stack")
    });
    Ok(())
}

/// `setsockopt` on a stack socket. Returns whether a still-pending socket should also get the option
/// on its kernel placeholder (so it holds if the socket ends up on the kernel, via loopback).
///
/// # Safety
/// `val` must be null or point to `len` readable bytes.
pub unsafe fn set(
    sock: &OpenSocket,
    level: i32,
    name: i32,
    val: *const libc::c_void,
    len: libc::socklen_t,
) -> Result<()> {
    let stream = sock.kind == Kind::Stream;
    match (level, name) {
        (libc::SOL_SOCKET, libc::SO_RCVTIMEO | libc::SO_RCVTIMEO_NEW) => {
            sock.rcvtimeo_us
                .store(timeval_arg(val, len)?, Ordering::Relaxed);
            Ok(())
        }
        (libc::SOL_SOCKET, libc::SO_SNDTIMEO | libc::SO_SNDTIMEO_NEW) => {
            sock.sndtimeo_us
                .store(timeval_arg(val, len)?, Ordering::Relaxed);
            Ok(())
        }
        (libc::SOL_SOCKET, libc::SO_REUSEADDR) => {
            let on = int_arg(val, len)? != 0;
            with_socket(
                sock,
                |p| p.reuse_addr = on,
                |s, h| {
                    if let Ok(t) = s.tcp_socket_mut(h) {
                        t.reuse_addr = on;
                    }
                    Ok(())
                },
            )
        }
        (libc::SOL_SOCKET, libc::SO_REUSEPORT) => {
            let on = int_arg(val, len)? != 0;
            sock.reuse_port.store(on, Ordering::Relaxed);
            log_once(&LOGGED[0], || {
                "tapstack: SO_REUSEPORT accepted; each port still belongs to one socket".into()
            });
            Ok(())
        }
        (libc::SOL_SOCKET, libc::SO_BROADCAST) => {
            let on = int_arg(val, len)? != 0;
            sock.broadcast.store(on, Ordering::Relaxed);
            with_socket(
                sock,
                |_| {}, // read from the open socket when it attaches
                |s, h| {
                    if let Some(u) = s.udp_socket_mut(h) {
                        u.broadcast = on;
                    }
                    Ok(())
                },
            )
        }
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => {
            let on = int_arg(val, len)? != 0;
            if !stream {
                return Ok(());
            }
            with_socket(
                sock,
                |p| p.keepalive = Some(on),
                |s, h| tcp_config(s, h, |c| c.keepalive = on),
            )
        }
        (
            libc::SOL_SOCKET,
            libc::SO_RCVBUF | libc::SO_RCVBUFFORCE | libc::SO_SNDBUF | libc::SO_SNDBUFFORCE,
        ) => {
            let v = int_arg(val, len)?.max(0) as usize;
            let bytes = v.clamp(BUF_MIN, BUF_MAX * 16);
            let rcv = matches!(name, libc::SO_RCVBUF | libc::SO_RCVBUFFORCE);
            with_socket(
                sock,
                |p| {
                    if rcv {
                        p.rcvbuf = Some(bytes)
                    } else {
                        p.sndbuf = Some(bytes)
                    }
                },
                |s, h| {
                    if let Some(u) = s.udp_socket_mut(h) {
                        if rcv {
                            u.rcvbuf = bytes;
                        }
                        return Ok(());
                    }
                    let t = s.tcp_socket_mut(h)?;
                    if rcv {
                        t.config.recv_buffer = bytes;
                    } else {
                        t.config.send_buffer = bytes;
                    }
                    if let Some(c) = t.connection_mut() {
                        let applied = if rcv {
                            c.set_recv_buffer(bytes)
                        } else {
                            c.set_send_buffer(bytes)
                        };
                        if !applied {
                            log_once(&LOGGED[1], || {
                                "tapstack: a buffer size set on an established connection applies to new ones only".into()
                            });
                        }
                    }
                    Ok(())
                },
            )
        }
        (libc::SOL_SOCKET, libc::SO_LINGER) => {
            if val.is_null() {
                return Err(Errno::EFAULT);
            }
            if (len as usize) < std::mem::size_of::<libc::linger>() {
                return Err(Errno::EINVAL);
            }
            let l = std::ptr::read_unaligned(val as *const libc::linger);
            let linger = (l.l_onoff != 0).then(|| Duration::from_secs(l.l_linger.max(0) as u64));
            if !stream {
                return Ok(());
            }
            with_socket(
                sock,
                |p| p.linger = Some(linger),
                |s, h| tcp_config(s, h, |c| c.linger = linger),
            )
        }
        (libc::SOL_SOCKET, libc::SO_OOBINLINE | libc::SO_DONTROUTE) => {
            int_arg(val, len)?;
            Ok(())
        }
        (
            libc::SOL_SOCKET,
            libc::SO_PRIORITY | libc::SO_MARK | libc::SO_INCOMING_CPU | libc::SO_BUSY_POLL,
        ) => {
            int_arg(val, len)?;
            harmless(2, "a socket priority, mark or CPU hint")
        }
        (libc::SOL_SOCKET, libc::SO_RCVLOWAT) => {
            // Only the default (1) is honoured; programs asking for more would wait differently.
            if int_arg(val, len)? > 1 {
                return Err(Errno::ENOPROTOOPT);
            }
            Ok(())
        }
        // As Linux: setting a TCP option on a UDP socket is ENOPROTOOPT (getting one, EOPNOTSUPP).
        (libc::IPPROTO_TCP, _) if !stream => Err(Errno::ENOPROTOOPT),
        (libc::IPPROTO_TCP, libc::TCP_NODELAY) => {
            let on = int_arg(val, len)? != 0;
            with_socket(
                sock,
                |p| p.nodelay = Some(on),
                |s, h| tcp_config(s, h, |c| c.nodelay = on),
            )
        }
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE | libc::TCP_KEEPINTVL) => {
            let v = int_arg(val, len)?;
            if !(1..=32767).contains(&v) {
                return Err(Errno::EINVAL);
            }
            let d = Duration::from_secs(v as u64);
            let idle = name == libc::TCP_KEEPIDLE;
            with_socket(
                sock,
                |p| {
                    if idle {
                        p.keepidle = Some(d)
                    } else {
                        p.keepintvl = Some(d)
                    }
                },
                |s, h| {
                    tcp_config(s, h, |c| {
                        if idle {
                            c.keepalive_idle = d
                        } else {
                            c.keepalive_interval = d
                        }
                    })
                },
            )
        }
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT) => {
            let v = int_arg(val, len)?;
            if !(1..=127).contains(&v) {
                return Err(Errno::EINVAL);
            }
            with_socket(
                sock,
                |p| p.keepcnt = Some(v as u32),
                |s, h| tcp_config(s, h, |c| c.keepalive_count = v as u32),
            )
        }
        (libc::IPPROTO_TCP, libc::TCP_SYNCNT) => {
            let v = int_arg(val, len)?;
            if !(1..=127).contains(&v) {
                return Err(Errno::EINVAL);
            }
            let (_, h) = super::sockets::attach(sock)?;
            state::runtime()?.with_stack(|s, _| tcp_config(s, h, |c| c.syn_retries = v as u32))
        }
        (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => {
            let v = int_arg(val, len)?;
            if !(88..=65535).contains(&v) {
                return Err(Errno::EINVAL);
            }
            with_socket(
                sock,
                |p| p.mss = Some(v as u16),
                |s, h| tcp_config(s, h, |c| c.mss = c.mss.min(v as u16)),
            )
        }
        (libc::IPPROTO_TCP, libc::TCP_CONGESTION) => {
            if val.is_null() {
                return Err(Errno::EFAULT);
            }
            let bytes = std::slice::from_raw_parts(val as *const u8, len as usize);
            let name = bytes.split(|&b| b == 0).next().unwrap_or_default();
            let name = std::str::from_utf8(name).map_err(|_| Errno(libc::ENOENT))?;
            if !KNOWN_CC.contains(&name) {
                return Err(Errno(libc::ENOENT));
            }
            let reno = match name {
                "reno" => true,
                "cubic" => false,
                _ => {
                    return harmless(
                        3,
                        &format!("congestion control {name:?} (this stack runs CUBIC)"),
                    )
                }
            };
            with_socket(
                sock,
                |p| p.reno = Some(reno),
                |s, h| {
                    tcp_config(s, h, |c| {
                        c.congestion = if reno {
                            Algorithm::Reno
                        } else {
                            Algorithm::Cubic
                        }
                    })
                },
            )
        }
        (
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK
            | libc::TCP_DEFER_ACCEPT
            | libc::TCP_FASTOPEN
            | libc::TCP_FASTOPEN_CONNECT
            | libc::TCP_NOTSENT_LOWAT
            | libc::TCP_CORK
            | libc::TCP_LINGER2
            | libc::TCP_WINDOW_CLAMP,
        ) => {
            int_arg(val, len)?;
            harmless(
                4,
                "TCP_QUICKACK/DEFER_ACCEPT/FASTOPEN/NOTSENT_LOWAT/CORK/LINGER2/WINDOW_CLAMP",
            )
        }
        (libc::IPPROTO_IP, libc::IP_TTL) => {
            let v = int_arg(val, len)?;
            let ttl = match v {
                -1 => crate::ipv4::DEFAULT_TTL,
                1..=255 => v as u8,
                _ => return Err(Errno::EINVAL),
            };
            with_socket(
                sock,
                |p| p.ttl = Some(ttl),
                |s, h| {
                    if let Some(u) = s.udp_socket_mut(h) {
                        u.ttl = ttl;
                    } else {
                        s.tcp_socket_mut(h)?.ip.ttl = ttl;
                    }
                    Ok(())
                },
            )
        }
        (libc::IPPROTO_IP, libc::IP_TOS) => {
            let tos = (int_arg(val, len)? & 0xff) as u8;
            with_socket(
                sock,
                |p| p.tos = Some(tos),
                |s, h| {
                    if let Some(u) = s.udp_socket_mut(h) {
                        u.tos = tos;
                    } else {
                        s.tcp_socket_mut(h)?.ip.tos = tos;
                    }
                    Ok(())
                },
            )
        }
        (
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER | libc::IP_BIND_ADDRESS_NO_PORT | libc::IP_FREEBIND,
        ) => {
            int_arg(val, len)?;
            harmless(5, "IP_MTU_DISCOVER/IP_BIND_ADDRESS_NO_PORT/IP_FREEBIND")
        }
        _ => Err(Errno::ENOPROTOOPT),
    }
}

/// Linux's TCP state numbers, as TCP_INFO reports them.
fn linux_state(s: State) -> u8 {
    match s {
        State::Established => 1,
        State::SynSent => 2,
        State::SynReceived => 3,
        State::FinWait1 => 4,
        State::FinWait2 => 5,
        State::TimeWait => 6,
        State::Closed => 7,
        State::CloseWait => 8,
        State::LastAck => 9,
        State::Listen => 10,
        State::Closing => 11,
    }
}

/// `struct tcp_info` as Linux lays it out, up to `tcpi_data_segs_out`.
#[repr(C)]
#[derive(Default)]
struct TcpInfo {
    state: u8,
    ca_state: u8,
    retransmits: u8,
    probes: u8,
    backoff: u8,
    options: u8,
    wscale: u8,
    flags: u8,
    rto: u32,
    ato: u32,
    snd_mss: u32,
    rcv_mss: u32,
    unacked: u32,
    sacked: u32,
    lost: u32,
    retrans: u32,
    fackets: u32,
    last_data_sent: u32,
    last_ack_sent: u32,
    last_data_recv: u32,
    last_ack_recv: u32,
    pmtu: u32,
    rcv_ssthresh: u32,
    rtt: u32,
    rttvar: u32,
    snd_ssthresh: u32,
    snd_cwnd: u32,
    advmss: u32,
    reordering: u32,
    rcv_rtt: u32,
    rcv_space: u32,
    total_retrans: u32,
    pacing_rate: u64,
    max_pacing_rate: u64,
    bytes_acked: u64,
    bytes_received: u64,
    segs_out: u32,
    segs_in: u32,
    notsent_bytes: u32,
    min_rtt: u32,
    data_segs_in: u32,
    data_segs_out: u32,
}

fn tcp_info(st: Option<TcpStats>, listening: bool, mtu: usize) -> TcpInfo {
    let Some(st) = st else {
        return TcpInfo {
            state: if listening { 10 } else { 7 },
            ..TcpInfo::default()
        };
    };
    let mss = st.snd_mss.max(1);
    TcpInfo {
        state: linux_state(st.state),
        ca_state: if st.in_recovery { 3 } else { 0 },
        backoff: st.backoff.min(255) as u8,
        // TCPI_OPT_TIMESTAMPS | SACK | WSCALE as negotiated (wscale shows as non-zero scales).
        options: 0b011
            | if st.snd_wscale != 0 || st.rcv_wscale != 0 {
                0b100
            } else {
                0
            },
        wscale: (st.snd_wscale & 0xf) | (st.rcv_wscale << 4),
        rto: st.rto.as_micros() as u32,
        ato: 40_000,
        snd_mss: st.snd_mss as u32,
        rcv_mss: st.rcv_mss as u32,
        unacked: st.unacked.div_ceil(mss) as u32,
        sacked: st.sacked.div_ceil(mss) as u32,
        retrans: 0,
        pmtu: mtu as u32,
        rcv_ssthresh: st.our_window as u32,
        rtt: st.srtt.map_or(0, |d| d.as_micros() as u32),
        rttvar: st.rttvar.as_micros() as u32,
        snd_ssthresh: (st.ssthresh / mss).min(u32::MAX as usize) as u32,
        snd_cwnd: (st.cwnd / mss) as u32,
        advmss: st.rcv_mss as u32,
        reordering: 3,
        rcv_space: st.our_window as u32,
        total_retrans: st.retransmits as u32,
        bytes_acked: st.bytes_acked,
        bytes_received: st.bytes_received,
        segs_out: st.segments_sent as u32,
        segs_in: st.segments_received as u32,
        ..TcpInfo::default()
    }
}

/// Copies as much of `bytes` as the caller's buffer takes, as Linux does: `len = min(len, size)`,
/// a negative length is EINVAL.
unsafe fn put_bytes(bytes: &[u8], val: *mut libc::c_void, len: *mut libc::socklen_t) -> Result<()> {
    if len.is_null() {
        return Err(Errno::EFAULT);
    }
    if (*len as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    let n = (*len as usize).min(bytes.len());
    if n > 0 && val.is_null() {
        return Err(Errno::EFAULT);
    }
    std::ptr::copy_nonoverlapping(bytes.as_ptr(), val as *mut u8, n);
    *len = n as libc::socklen_t;
    Ok(())
}

/// An int option: a buffer shorter than an int gets its first bytes (SOL_SOCKET and TCP options).
unsafe fn put_int(v: i32, val: *mut libc::c_void, len: *mut libc::socklen_t) -> Result<()> {
    put_bytes(&v.to_ne_bytes(), val, len)
}

/// An IP-level int option: a buffer shorter than an int gets the value as one byte when it fits
/// one (Linux's do_ip_getsockopt).
unsafe fn put_ip_int(v: i32, val: *mut libc::c_void, len: *mut libc::socklen_t) -> Result<()> {
    if !len.is_null() && (1..4).contains(&(*len as i32)) && (0..=255).contains(&v) {
        return put_bytes(&[v as u8], val, len);
    }
    put_int(v, val, len)
}

/// `getsockopt` on a stack socket.
///
/// # Safety
/// `val` and `len` must be null or valid, `val` with `*len` writable bytes.
pub unsafe fn get(
    sock: &OpenSocket,
    level: i32,
    name: i32,
    val: *mut libc::c_void,
    len: *mut libc::socklen_t,
) -> Result<()> {
    let stream = sock.kind == Kind::Stream;
    let h = sock.handle();
    let rt = match h {
        Some(_) => Some(state::runtime()?),
        None => None,
    };
    // Reads a value from the attached stack socket, or the pending default.
    let from_stack = |f: &dyn Fn(&mut Stack, SocketHandle) -> i32, default: i32| -> i32 {
        match (rt, h) {
            (Some(rt), Some(h)) => rt.with_stack(|s, _| f(s, h)),
            _ => default,
        }
    };
    let pending = |f: &dyn Fn(&Pending) -> i32| -> i32 {
        match &*sock.attach.lock() {
            Attach::Pending(p) => f(p),
            Attach::Stack(_) => 0,
        }
    };
    let tcp_cfg = |f: &dyn Fn(&crate::tcp::Config) -> i32, p: &dyn Fn(&Pending) -> i32| -> i32 {
        if h.is_some() {
            from_stack(&|s, h| s.tcp_socket_ref(h).map_or(0, |t| f(&t.config)), 0)
        } else {
            pending(p)
        }
    };
    let tv = |us: u64| {
        let t = libc::timeval {
            tv_sec: (us / 1_000_000) as libc::time_t,
            tv_usec: (us % 1_000_000) as libc::suseconds_t,
        };
        std::slice::from_raw_parts(
            &t as *const _ as *const u8,
            std::mem::size_of::<libc::timeval>(),
        )
        .to_vec()
    };
    match (level, name) {
        (libc::SOL_SOCKET, libc::SO_TYPE) => put_int(
            if stream {
                libc::SOCK_STREAM
            } else {
                libc::SOCK_DGRAM
            },
            val,
            len,
        ),
        (libc::SOL_SOCKET, libc::SO_DOMAIN) => put_int(libc::AF_INET, val, len),
        (libc::SOL_SOCKET, libc::SO_PROTOCOL) => put_int(
            if stream {
                libc::IPPROTO_TCP
            } else {
                libc::IPPROTO_UDP
            },
            val,
            len,
        ),
        (libc::SOL_SOCKET, libc::SO_ERROR) => {
            let e = from_stack(&|s, h| s.take_socket_error(h).map_or(0, |e| e.0), 0);
            put_int(e, val, len)
        }
        (libc::SOL_SOCKET, libc::SO_ACCEPTCONN) => put_int(
            from_stack(
                &|s, h| s.tcp_socket_ref(h).is_some_and(|t| t.is_listening()) as i32,
                0,
            ),
            val,
            len,
        ),
        (libc::SOL_SOCKET, libc::SO_REUSEADDR) => {
            let v = if h.is_some() {
                from_stack(
                    &|s, h| s.tcp_socket_ref(h).is_some_and(|t| t.reuse_addr) as i32,
                    0,
                )
            } else {
                pending(&|p| p.reuse_addr as i32)
            };
            put_int(v, val, len)
        }
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => put_int(
            tcp_cfg(&|c| c.keepalive as i32, &|p| {
                p.keepalive.unwrap_or(false) as i32
            }),
            val,
            len,
        ),
        (libc::SOL_SOCKET, libc::SO_RCVBUF | libc::SO_SNDBUF) => {
            let rcv = name == libc::SO_RCVBUF;
            // Linux reports twice what was set (half is bookkeeping overhead).
            let v = if !stream {
                let udp = from_stack(
                    &|s, h| s.udp_socket_ref(h).map_or(0, |u| u.rcvbuf as i32),
                    0,
                );
                if udp > 0 {
                    udp
                } else {
                    pending(&|p| p.rcvbuf.unwrap_or(crate::udp::DEFAULT_RCVBUF / 2) as i32)
                }
            } else {
                tcp_cfg(
                    &|c| (if rcv { c.recv_buffer } else { c.send_buffer }) as i32,
                    &|p| {
                        (if rcv {
                            p.rcvbuf.unwrap_or(131_072 / 2)
                        } else {
                            p.sndbuf.unwrap_or(16_384 / 2)
                        }) as i32
                    },
                )
            };
            put_int(v.saturating_mul(2), val, len)
        }
        (libc::SOL_SOCKET, libc::SO_LINGER) => {
            let linger = if h.is_some() {
                from_stack(
                    &|s, h| {
                        s.tcp_socket_ref(h)
                            .and_then(|t| t.config.linger)
                            .map_or(-1, |d| d.as_secs() as i32)
                    },
                    -1,
                )
            } else {
                pending(&|p| p.linger.flatten().map_or(-1, |d| d.as_secs() as i32))
            };
            let l = libc::linger {
                l_onoff: (linger >= 0) as i32,
                l_linger: linger.max(0),
            };
            put_bytes(
                std::slice::from_raw_parts(
                    &l as *const _ as *const u8,
                    std::mem::size_of::<libc::linger>(),
                ),
                val,
                len,
            )
        }
        (libc::SOL_SOCKET, libc::SO_RCVTIMEO | libc::SO_RCVTIMEO_NEW) => {
            put_bytes(&tv(sock.rcvtimeo_us.load(Ordering::Relaxed)), val, len)
        }
        (libc::SOL_SOCKET, libc::SO_SNDTIMEO | libc::SO_SNDTIMEO_NEW) => {
            put_bytes(&tv(sock.sndtimeo_us.load(Ordering::Relaxed)), val, len)
        }
        (libc::SOL_SOCKET, libc::SO_BROADCAST) => {
            put_int(sock.broadcast.load(Ordering::Relaxed) as i32, val, len)
        }
        (libc::SOL_SOCKET, libc::SO_REUSEPORT) => {
            put_int(sock.reuse_port.load(Ordering::Relaxed) as i32, val, len)
        }
        (libc::SOL_SOCKET, libc::SO_OOBINLINE | libc::SO_PRIORITY) => put_int(0, val, len),
        (libc::SOL_SOCKET, libc::SO_RCVLOWAT | libc::SO_SNDLOWAT) => put_int(1, val, len),
        (libc::IPPROTO_TCP, _) if !stream => Err(Errno::EOPNOTSUPP),
        (libc::IPPROTO_TCP, libc::TCP_NODELAY) => put_int(
            tcp_cfg(&|c| c.nodelay as i32, &|p| {
                p.nodelay.unwrap_or(false) as i32
            }),
            val,
            len,
        ),
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) => put_int(
            tcp_cfg(&|c| c.keepalive_idle.as_secs() as i32, &|p| {
                p.keepidle.map_or(7200, |d| d.as_secs() as i32)
            }),
            val,
            len,
        ),
        (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL) => put_int(
            tcp_cfg(&|c| c.keepalive_interval.as_secs() as i32, &|p| {
                p.keepintvl.map_or(75, |d| d.as_secs() as i32)
            }),
            val,
            len,
        ),
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT) => put_int(
            tcp_cfg(&|c| c.keepalive_count as i32, &|p| {
                p.keepcnt.unwrap_or(9) as i32
            }),
            val,
            len,
        ),
        (libc::IPPROTO_TCP, libc::TCP_SYNCNT) => {
            put_int(tcp_cfg(&|c| c.syn_retries as i32, &|_| 6), val, len)
        }
        (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => {
            let v = from_stack(
                &|s, h| s.tcp_stats(h).map_or(536, |st| st.snd_mss as i32),
                536,
            );
            put_int(v, val, len)
        }
        (libc::IPPROTO_TCP, libc::TCP_CONGESTION) => {
            let reno = tcp_cfg(&|c| (c.congestion == Algorithm::Reno) as i32, &|p| {
                p.reno.unwrap_or(false) as i32
            }) != 0;
            let mut name = [0u8; 16];
            let s = if reno { "reno" } else { "cubic" };
            name[..s.len()].copy_from_slice(s.as_bytes());
            put_bytes(&name, val, len)
        }
        (libc::IPPROTO_TCP, libc::TCP_INFO) => {
            let (st, listening, mtu) = match (rt, h) {
                (Some(rt), Some(h)) => rt.with_stack(|s, _| {
                    (
                        s.tcp_stats(h),
                        s.tcp_socket_ref(h).is_some_and(|t| t.is_listening()),
                        s.iface().mtu,
                    )
                }),
                _ => (None, false, 1500),
            };
            let info = tcp_info(st, listening, mtu);
            put_bytes(
                std::slice::from_raw_parts(
                    &info as *const _ as *const u8,
                    std::mem::size_of::<TcpInfo>(),
                ),
                val,
                len,
            )
        }
        (libc::IPPROTO_IP, libc::IP_TTL) => {
            let v = if h.is_some() {
                from_stack(
                    &|s, h| {
                        s.udp_socket_ref(h)
                            .map(|u| u.ttl)
                            .or_else(|| s.tcp_socket_ref(h).map(|t| t.ip.ttl))
                            .unwrap_or(64) as i32
                    },
                    64,
                )
            } else {
                pending(&|p| p.ttl.unwrap_or(crate::ipv4::DEFAULT_TTL) as i32)
            };
            put_ip_int(v, val, len)
        }
        (libc::IPPROTO_IP, libc::IP_TOS) => {
            let v = if h.is_some() {
                from_stack(
                    &|s, h| {
                        s.udp_socket_ref(h)
                            .map(|u| u.tos)
                            .or_else(|| s.tcp_socket_ref(h).map(|t| t.ip.tos))
                            .unwrap_or(0) as i32
                    },
                    0,
                )
            } else {
                pending(&|p| p.tos.unwrap_or(0) as i32)
            };
            put_ip_int(v, val, len)
        }
        _ => Err(Errno::ENOPROTOOPT),
    }
}
