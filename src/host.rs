//! What the host's Linux says a stack's defaults are: the TCP sysctls of the network namespace the
//! stack runs in, so the options a SYN carries (ECN's flags included) and the buffers a socket
//! starts with are the ones the kernel next door would use, and the ICMP ones, so the stack limits
//! its ICMP errors as that kernel would. Read once when a stack starts (this is I/O, kept out of
//! the sans-IO core); a value that cannot be read keeps Linux's built-in default.

use crate::icmp::LimitSettings;
use crate::tcp;

/// Linux's built-in values, for hosts where `/proc/sys` cannot be read.
const RMEM: [usize; 3] = [4096, 131_072, 6_291_456];
const RMEM_MAX: usize = 212_992;
const WMEM: [usize; 3] = [4096, 16_384, 4_194_304];

/// The sysctls that shape a TCP socket's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostTcp {
    /// `net.ipv4.tcp_rmem`: min, default, max receive buffer.
    pub rmem: [usize; 3],
    /// `net.core.rmem_max`: the most SO_RCVBUF may ask for.
    pub rmem_max: usize,
    /// `net.ipv4.tcp_wmem`: min, default, max send buffer (the max bounds autotuning).
    pub wmem: [usize; 3],
    /// `net.ipv4.tcp_syncookies`: 0 never, 1 when a SYN queue overflows, 2 always.
    pub syncookies: u8,
    /// `net.ipv4.tcp_min_snd_mss`: the smallest segment sent whatever the peer's MSS.
    pub min_snd_mss: u16,
    /// `net.ipv4.tcp_syn_retries`: how long a SYN goes unanswered before the connect fails.
    pub syn_retries: u8,
    /// `net.ipv4.tcp_retries2`: how many times unacknowledged data is sent again before the
    /// connection fails.
    pub retries2: u8,
    /// `net.ipv4.tcp_fin_timeout`, seconds: how long an orphaned connection waits in FIN-WAIT-2.
    pub fin_timeout_secs: u32,
    /// `net.ipv4.tcp_keepalive_time`, `_intvl` (seconds) and `_probes`: SO_KEEPALIVE's defaults.
    pub keepalive: (u32, u32, u32),
    /// `net.ipv4.tcp_timestamps` (RFC 7323 timestamps; 0 off), `tcp_sack` (RFC 2018) and
    /// `tcp_window_scaling` (RFC 7323 §2): what a SYN offers and a SYN-ACK accepts.
    pub timestamps: bool,
    pub sack: bool,
    pub window_scaling: bool,
    /// `net.ipv4.tcp_synack_retries`: SYN-ACK retransmissions before a half-open connection
    /// is dropped.
    pub synack_retries: u8,
    /// `net.ipv4.tcp_syn_linear_timeouts` (Linux 6.5 on): a SYN's timeouts that keep the
    /// initial RTO; 0 on a kernel without it (the classic doubling).
    pub syn_linear_timeouts: u8,
    /// `net.ipv4.tcp_invalid_ratelimit`, in milliseconds.
    pub invalid_ratelimit_ms: u64,
    /// `net.ipv4.tcp_challenge_ack_limit`: challenge ACKs a second, host-wide.
    pub challenge_ack_limit: u32,
    /// `net.ipv4.tcp_ecn`: whether connections ask for ECN, or only accept it (RFC 3168).
    pub ecn: tcp::EcnMode,
    /// `net.ipv4.tcp_fastopen`: which sides may use Fast Open (RFC 7413; Linux's default 1,
    /// clients only).
    pub fastopen: u16,
    /// `net.ipv4.tcp_notsent_lowat`: TCP_NOTSENT_LOWAT for sockets that set none (`u32::MAX`,
    /// Linux's default, is none).
    pub notsent_lowat: u32,
    /// `net.ipv4.tcp_congestion_control`, when it names an algorithm this stack has (reno,
    /// cubic, bbr); CUBIC, Linux's built-in default, otherwise.
    pub congestion: tcp::Algorithm,
}

impl Default for HostTcp {
    fn default() -> HostTcp {
        HostTcp {
            rmem: RMEM,
            rmem_max: RMEM_MAX,
            wmem: WMEM,
            syncookies: 1,
            min_snd_mss: tcp::config::MIN_SND_MSS,
            syn_retries: 6,
            retries2: 15,
            fin_timeout_secs: 60,
            keepalive: (7200, 75, 9),
            timestamps: true,
            sack: true,
            window_scaling: true,
            synack_retries: 5,
            syn_linear_timeouts: tcp::config::SYN_LINEAR_TIMEOUTS,
            invalid_ratelimit_ms: 500,
            challenge_ack_limit: i32::MAX as u32,
            ecn: tcp::EcnMode::default(),
            fastopen: tcp::fastopen::sysctl::DEFAULT,
            notsent_lowat: u32::MAX,
            congestion: tcp::Algorithm::Cubic,
        }
    }
}

impl HostTcp {
    /// The values of this network namespace, each falling back to Linux's default.
    pub fn read() -> HostTcp {
        let file = |name: &str| std::fs::read_to_string(format!("/proc/sys/net/{name}")).ok();
        let number = |name: &str| file(name).and_then(|s| s.trim().parse::<u32>().ok());
        let d = HostTcp::default();
        HostTcp {
            rmem: file("ipv4/tcp_rmem")
                .and_then(|s| triple(&s))
                .unwrap_or(d.rmem),
            rmem_max: file("core/rmem_max")
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(d.rmem_max),
            wmem: file("ipv4/tcp_wmem")
                .and_then(|s| triple(&s))
                .unwrap_or(d.wmem),
            syncookies: file("ipv4/tcp_syncookies")
                .and_then(|s| s.trim().parse().ok())
                .filter(|&v| v <= 2)
                .unwrap_or(d.syncookies),
            // Linux bounds it to 48..=4095 (proc_dointvec_minmax).
            min_snd_mss: file("ipv4/tcp_min_snd_mss")
                .and_then(|s| s.trim().parse().ok())
                .filter(|v| (tcp::config::MIN_SND_MSS..=4095).contains(v))
                .unwrap_or(d.min_snd_mss),
            syn_retries: file("ipv4/tcp_syn_retries")
                .and_then(|s| s.trim().parse().ok())
                .filter(|v| (1..=127).contains(v))
                .unwrap_or(d.syn_retries),
            retries2: file("ipv4/tcp_retries2")
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(d.retries2),
            fin_timeout_secs: number("ipv4/tcp_fin_timeout").unwrap_or(d.fin_timeout_secs),
            keepalive: (
                number("ipv4/tcp_keepalive_time").unwrap_or(d.keepalive.0),
                number("ipv4/tcp_keepalive_intvl").unwrap_or(d.keepalive.1),
                number("ipv4/tcp_keepalive_probes").unwrap_or(d.keepalive.2),
            ),
            // tcp_timestamps 2 is timestamps without the per-connection random offset; the
            // stack keeps its offset (RFC 7323 §5.4) and takes 2 as on.
            timestamps: number("ipv4/tcp_timestamps").map_or(d.timestamps, |v| v != 0),
            sack: number("ipv4/tcp_sack").map_or(d.sack, |v| v != 0),
            window_scaling: number("ipv4/tcp_window_scaling").map_or(d.window_scaling, |v| v != 0),
            synack_retries: file("ipv4/tcp_synack_retries")
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(d.synack_retries),
            // A kernel that has tcp_syn_retries but not this sysctl predates it: no linear
            // timeouts there.
            syn_linear_timeouts: match file("ipv4/tcp_syn_linear_timeouts") {
                Some(v) => v.trim().parse().unwrap_or(d.syn_linear_timeouts),
                None if file("ipv4/tcp_syn_retries").is_some() => 0,
                None => d.syn_linear_timeouts,
            },
            invalid_ratelimit_ms: file("ipv4/tcp_invalid_ratelimit")
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(d.invalid_ratelimit_ms),
            challenge_ack_limit: file("ipv4/tcp_challenge_ack_limit")
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(d.challenge_ack_limit),
            ecn: file("ipv4/tcp_ecn")
                .and_then(|s| s.trim().parse().ok())
                .and_then(tcp::EcnMode::from_sysctl)
                .unwrap_or(d.ecn),
            fastopen: file("ipv4/tcp_fastopen")
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(d.fastopen),
            notsent_lowat: number("ipv4/tcp_notsent_lowat").unwrap_or(d.notsent_lowat),
            congestion: file("ipv4/tcp_congestion_control")
                .and_then(|s| {
                    let name = s.trim().to_string();
                    let algo = tcp::Algorithm::from_name(&name);
                    if algo.is_none() {
                        log::debug!("the host's congestion control {name:?} is not ours: CUBIC");
                    }
                    algo
                })
                .unwrap_or(d.congestion),
        }
    }

    /// Sets the defaults of new TCP sockets from these values.
    pub fn apply(&self, cfg: &mut tcp::Config) {
        // A socket's receive buffer starts at tcp_rmem's default, as Linux's (which then grows it).
        cfg.recv_buffer = self.rmem[1].clamp(1, tcp::MAX_BUFFER);
        // The window scale of a SYN covers the largest buffer the host allows
        // (tcp_select_initial_window: the larger of tcp_rmem[2] and rmem_max).
        // Bounded as the window itself is (65535 << 14, RFC 7323 §2.3).
        cfg.window_space = self.rmem[2].max(self.rmem_max).min(65_535 << 14) as u32;
        // The send buffer grows with cwnd up to tcp_wmem[2] (it starts at our own default,
        // 64 KiB, rather than Linux's 16 KiB: that size needs no growing for most exchanges).
        cfg.send_buffer_max = self.wmem[2].clamp(cfg.send_buffer, tcp::MAX_BUFFER) as u32;
        cfg.syncookies = self.syncookies;
        cfg.min_snd_mss = self.min_snd_mss;
        cfg.syn_retries = self.syn_retries;
        cfg.synack_retries = self.synack_retries;
        cfg.data_retries = u32::from(self.retries2);
        cfg.fin_wait2_timeout = std::time::Duration::from_secs(self.fin_timeout_secs.into());
        let (idle, interval, count) = self.keepalive;
        cfg.keepalive_idle = std::time::Duration::from_secs(idle.max(1).into());
        cfg.keepalive_interval = std::time::Duration::from_secs(interval.max(1).into());
        cfg.keepalive_count = count.clamp(1, u8::MAX.into()) as u8;
        cfg.timestamps = self.timestamps;
        cfg.sack = self.sack;
        cfg.window_scale = self.window_scaling;
        cfg.syn_linear_timeouts = self.syn_linear_timeouts;
        cfg.invalid_ratelimit = std::time::Duration::from_millis(self.invalid_ratelimit_ms);
        cfg.challenge_budget = std::sync::Arc::new(tcp::config::ChallengeBudget::new(
            self.challenge_ack_limit,
            crate::sys::random_seed() as u32,
        ));
        cfg.ecn = self.ecn;
        cfg.fastopen = self.fastopen;
        cfg.notsent_lowat = self.notsent_lowat;
        cfg.congestion = self.congestion;
    }
}

/// `net.ipv4`'s limits on ICMP messages sent (`icmp_ratelimit`, `icmp_ratemask`,
/// `icmp_msgs_per_sec`, `icmp_msgs_burst`), each falling back to Linux's default.
pub fn icmp_limits() -> LimitSettings {
    let number = |name: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}"))
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
    };
    let d = LimitSettings::LINUX;
    LimitSettings {
        per_destination: number("icmp_ratelimit").map_or(d.per_destination, |ms| {
            std::time::Duration::from_millis(ms.into())
        }),
        ratemask: number("icmp_ratemask").unwrap_or(d.ratemask),
        msgs_per_sec: number("icmp_msgs_per_sec").unwrap_or(d.msgs_per_sec),
        msgs_burst: number("icmp_msgs_burst").unwrap_or(d.msgs_burst),
    }
}

/// `net.core`'s bounds on a socket's buffers: what SO_RCVBUF and SO_SNDBUF may ask for, and what a
/// UDP socket starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferLimits {
    /// `rmem_max`, `wmem_max`: the most SO_RCVBUF and SO_SNDBUF take (before Linux doubles it).
    pub rmem_max: usize,
    pub wmem_max: usize,
    /// `rmem_default`, `wmem_default`: a UDP socket's buffers before any option.
    pub rmem_default: usize,
    pub wmem_default: usize,
    /// `tcp_wmem`'s default: what SO_SNDBUF reports for a TCP socket not yet connected.
    pub tcp_wmem_default: usize,
    /// `tcp_wmem`'s maximum: the most Linux's autotuning grows a send buffer to.
    pub tcp_wmem_max: usize,
}

impl BufferLimits {
    /// Linux's built-in values.
    pub const LINUX: BufferLimits = BufferLimits {
        rmem_max: RMEM_MAX,
        wmem_max: 212_992,
        rmem_default: 212_992,
        wmem_default: 212_992,
        tcp_wmem_default: WMEM[1],
        tcp_wmem_max: WMEM[2],
    };

    /// This namespace's, read once per process (a service serves one namespace).
    pub fn of_host() -> BufferLimits {
        static LIMITS: std::sync::OnceLock<BufferLimits> = std::sync::OnceLock::new();
        *LIMITS.get_or_init(|| {
            let read = |name: &str, or: usize| {
                std::fs::read_to_string(format!("/proc/sys/net/core/{name}"))
                    .ok()
                    .and_then(|s| s.trim().parse::<usize>().ok())
                    .unwrap_or(or)
            };
            let d = BufferLimits::LINUX;
            let tcp_wmem = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
                .ok()
                .and_then(|s| triple(&s));
            BufferLimits {
                rmem_max: read("rmem_max", d.rmem_max),
                wmem_max: read("wmem_max", d.wmem_max),
                rmem_default: read("rmem_default", d.rmem_default),
                wmem_default: read("wmem_default", d.wmem_default),
                tcp_wmem_default: tcp_wmem.map_or(d.tcp_wmem_default, |w| w[1]),
                tcp_wmem_max: tcp_wmem.map_or(d.tcp_wmem_max, |w| w[2]),
            }
        })
    }
}

/// What one segment of a congestion window adds to a connected TCP socket's `sk_sndbuf` on this
/// kernel, for a connection whose larger MSS (Linux's `max(mss_clamp, mss_cache)`) is `mss` and
/// whose congestion control is `algorithm`: Linux's tcp_sndbuf_expand makes `sk_sndbuf` that many
/// bytes for each segment of `max(TCP_INIT_CWND, cwnd)`, counted in the kernel's own buffer sizes
/// (the segment, headers and `skb_shared_info` rounded up to a power of two, plus a `sk_buff`),
/// times 2, or 3 for BBR (its `sndbuf_expand`). Those sizes depend on the kernel's build, so they
/// are measured: a connection over this namespace's loopback with `TCP_MAXSEG` at `mss` and the
/// same congestion control reports ten segments' worth (its initial window), once per `mss` and
/// algorithm. `None` if that cannot be done (no loopback, an algorithm the kernel lacks).
pub fn sndbuf_per_segment(mss: u16, algorithm: tcp::Algorithm) -> Option<u32> {
    /// Each MSS and algorithm measured: a few at most (a path's MSS is mostly the link's).
    type Measured = Vec<(u16, tcp::Algorithm, Option<u32>)>;
    static SEEN: std::sync::Mutex<Measured> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&(_, _, v)) = seen.iter().find(|&&(m, a, _)| (m, a) == (mss, algorithm)) {
        return v;
    }
    let v = probe_sndbuf(mss, algorithm.name()).map(|b| b / 10);
    if v.is_none() {
        log::debug!("the kernel's send buffer for MSS {mss} could not be measured");
    }
    seen.push((mss, algorithm, v));
    v
}

/// A TCP connection over loopback, made with `TCP_MAXSEG` `mss` and `TCP_CONGESTION` `cc`: the
/// SO_SNDBUF its client reports once connected.
fn probe_sndbuf(mss: u16, cc: &str) -> Option<u32> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
    let to = match listener.local_addr().ok()? {
        std::net::SocketAddr::V4(a) => a,
        _ => return None,
    };
    // SAFETY: plain system calls on a descriptor made and owned here; the option values and the
    // address are valid for the lengths given.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return None;
        }
        let fd = OwnedFd::from_raw_fd(fd);
        let set = |level, name, p: *const libc::c_void, len: usize| {
            libc::setsockopt(fd.as_raw_fd(), level, name, p, len as libc::socklen_t) == 0
        };
        let m = i32::from(mss);
        if !set(
            libc::IPPROTO_TCP,
            libc::TCP_MAXSEG,
            (&m as *const i32).cast(),
            4,
        ) || !set(
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            cc.as_ptr().cast(),
            cc.len(),
        ) {
            return None;
        }
        let sin = crate::sys::sockaddr_in(to);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        if libc::connect(
            fd.as_raw_fd(),
            (&sin as *const libc::sockaddr_in).cast(),
            len,
        ) != 0
        {
            return None;
        }
        let mut v: i32 = 0;
        let mut vlen = 4 as libc::socklen_t;
        let r = libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&mut v as *mut i32).cast(),
            &mut vlen,
        );
        (r == 0 && v > 0).then_some(v as u32)
    }
}

/// Three numbers, as `tcp_rmem` prints them.
fn triple(s: &str) -> Option<[usize; 3]> {
    let mut it = s.split_whitespace().map(|w| w.parse::<usize>().ok());
    let v = [it.next()??, it.next()??, it.next()??];
    (it.next().is_none() && v[0] <= v[1] && v[1] <= v[2]).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_triples() {
        assert_eq!(
            triple("4096\t131072\t33554432\n"),
            Some([4096, 131_072, 33_554_432])
        );
        assert_eq!(triple("4096 131072"), None);
        assert_eq!(triple("1 2 3 4"), None);
        assert_eq!(triple("9 2 3"), None);
        assert_eq!(triple("a b c"), None);
    }

    #[test]
    fn the_window_space_is_the_larger_maximum() {
        let mut c = tcp::Config::default();
        HostTcp {
            rmem: [4096, 131_072, 33_554_432],
            rmem_max: 4_194_304,
            wmem: [4096, 16_384, 8_388_608],
            syncookies: 1,
            min_snd_mss: 536,
            syn_retries: 3,
            retries2: 8,
            fin_timeout_secs: 30,
            keepalive: (600, 10, 3),
            timestamps: false,
            sack: false,
            window_scaling: true,
            synack_retries: 2,
            syn_linear_timeouts: 0,
            invalid_ratelimit_ms: 500,
            challenge_ack_limit: 1000,
            ecn: tcp::EcnMode::On,
            fastopen: 3,
            notsent_lowat: 131_072,
            congestion: tcp::Algorithm::Bbr,
        }
        .apply(&mut c);
        assert_eq!(c.notsent_lowat, 131_072);
        assert_eq!((c.recv_buffer, c.window_space), (131_072, 33_554_432u32));
        assert_eq!(c.send_buffer_max, 8_388_608);
        assert_eq!(c.ecn, tcp::EcnMode::On);
        assert_eq!(c.min_snd_mss, 536);
        assert_eq!(c.data_retries, 8);
        assert_eq!(c.fin_wait2_timeout, std::time::Duration::from_secs(30));
        assert_eq!(
            (
                c.keepalive_idle.as_secs(),
                c.keepalive_interval.as_secs(),
                c.keepalive_count
            ),
            (600, 10, 3)
        );
        assert_eq!((c.timestamps, c.sack, c.window_scale), (false, false, true));
        assert_eq!(
            (c.syn_retries, c.synack_retries, c.syn_linear_timeouts),
            (3, 2, 0)
        );
        assert_eq!(c.fastopen, 3);
        assert_eq!(c.congestion, tcp::Algorithm::Bbr);
    }
}
