//! The service's event loop: one thread, one `epoll`, the sans-IO stack driven directly.
//!
//! What it waits on: the TAP, its control socket (new clients), each client's control connection
//! (requests), each door (control connections made by processes that left the network namespace,
//! see [`super::client`]), each stack socket's end of its socketpair (the program's data and its
//! last close), and a signalfd for SIGINT/SIGTERM. The timeout is the stack's next deadline. After
//! every event it moves data only for the sockets the stack reported as changed
//! ([`Stack::take_woken`]) or whose socketpair end fired, so an event costs the same with ten or
//! ten thousand connections.
//!
//! # A stack socket in a program
//! Its descriptor is end A of a UNIX socketpair (SOCK_STREAM for TCP, SOCK_SEQPACKET for UDP); the
//! service holds end B. The kernel does the rest: `fork`, `dup`, `exec`, SCM_RIGHTS and `exit` all
//! count references to A, and `read`, `write`, `poll`, `epoll`, `sendfile`, stdio work on it
//! unchanged. The service learns of the last close as a hang-up on B (confirmed with sock_diag,
//! since a program's `shutdown` both ways looks the same on B).
//! - **Data.** TCP: what arrives in order is written into B; what the program writes is read from B
//!   into the connection, only as fast as the connection takes it. The peer's FIN becomes
//!   `shutdown(B, SHUT_WR)` (the program reads end of file); the program's `shutdown(SHUT_WR)` or
//!   last close becomes end of file on B, and so our FIN, after every byte written before it.
//!   Urgent data (RFC 9293 §3.8.5) is the socketpair's own out-of-band byte: the peer's urgent
//!   byte goes into B with MSG_OOB once the stream before it is in, so that the program's reads
//!   stop at its mark and SIOCATMARK, recv(MSG_OOB), POLLPRI, SIGURG and SO_OOBINLINE (set on A)
//!   are the kernel's; the program's send(MSG_OOB) is found on B (SO_OOBINLINE, watched for
//!   EPOLLPRI) at its mark, and that byte marked urgent in the connection.
//!   A connection that fails (a reset, a time-out) is looked for on every pass, whether or not B
//!   has room: B's reading is shut at once, so the program's next write fails and asks for the
//!   error (Linux's sk_err), while the data that came before goes on into B and reads end with
//!   the error after it; after the peer's FIN the reads keep their end of file and B hangs up.
//!   UDP: each datagram on the pair carries a header ([`proto::DGRAM_HEADER`]): going out its
//!   destination (and a `sendmsg`'s own TTL or TOS), coming in its sender and what the program's
//!   IP_PKTINFO, IP_RECVTTL, IP_RECVTOS and IP_RECVORIGDSTADDR report.
//! - **A connect in progress** must not look writable to `poll`: A's send buffer is made small and
//!   filled with filler bytes (by the service, or by the program when it made the socketpair itself
//!   for a non-blocking connect), which the service drains once the handshake ends (A becomes
//!   writable, and the program's poll wakes), restoring A's buffer size. A connect that fails
//!   leaves the filler where it is and closes B instead: the kernel then sets ECONNRESET on A and
//!   shuts it, so the program's poll sees POLLERR with the hang-up, as on a kernel socket (the shim
//!   reads that ECONNRESET as the connect's error).
//! - **A listener** is readable when connections wait: the service writes one token byte per queued
//!   connection; `accept` first reads a token (natively, so blocking, O_NONBLOCK, SO_RCVTIMEO and
//!   signals behave as the kernel's), then asks for the connection. Several processes blocked in
//!   `accept` or `epoll_wait` on one listener each get their own connections.
//! - **A listener on the wildcard** (0.0.0.0, or `[::]`) has a twin on the kernel's loopback
//!   ([`super::loopback`]): the connections it takes count in the tokens, and an `accept` that
//!   meets one gets the kernel's socket itself.
//! - **A UDP socket on the wildcard** has a twin on the kernel's loopback
//!   ([`super::udp_loopback`]): what arrives there goes into B as any datagram, and the program's
//!   datagrams to loopback go out through it.
//! - **Unread data at the last close** sets ECONNRESET on B (the kernel's doing): the connection is
//!   aborted with RST, as Linux's close does.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::loopback;
use super::options::{self, Extra};
use super::proto::{self, Call, Kind, Reply, Request, Target, Value};
use super::udp_loopback::{self, UdpTwin};
use super::uds;
use crate::config::Config;
use crate::device::pcap::PcapDevice;
use crate::device::tap::TapDevice;
use crate::device::Device;
use crate::error::{Errno, Result};
use crate::ipv4::Interface;
use crate::stack::{PerDatagram, Shutdown, SocketHandle, Stack};
use crate::time::Instant;

/// Frames read from the TAP per round before other work gets a turn.
const BURST: usize = 64;
/// One read from a socketpair or from the stack.
const CHUNK: usize = 65536;
/// Descriptors the service keeps in reserve: as many as a request carries at most.
const SPARES: usize = 2;
/// How many sockets refused at birth are remembered, to tell their programs why.
const REFUSED: usize = 256;
/// How often sockets whose hang-up was not (yet) a last close are looked at again.
const RECHECK: Duration = Duration::from_secs(1);
/// How long a writer starved of memory waits before trying again (Linux's sk_stream_wait_memory
/// waits up to a fifth of a second for memory to come back).
const MEMORY_RETRY_MS: u64 = 200;
/// How many released sockets' ends wait to be closed together ([`Service::bury`]).
const GRAVEYARD: usize = 32;
/// How often the stack is given the wall clock again.
const WALL_CLOCK_SYNC: Duration = Duration::from_secs(10);

const TAG_TAP: u64 = 1;
const TAG_CONTROL: u64 = 2;
const TAG_CLIENT: u64 = 3;
const TAG_SOCK: u64 = 4;
const TAG_SIGNAL: u64 = 5;
const TAG_LOOPBACK: u64 = 6;
const TAG_UDP_LOOPBACK: u64 = 7;
const TAG_DOOR: u64 = 8;

fn token(tag: u64, index: usize) -> u64 {
    (tag << 32) | index as u64
}

/// The name of the service's control socket for TAP `iface`, in the abstract namespace of the
/// network namespace it runs in.
pub fn control_name(iface: &str) -> Vec<u8> {
    format!("tapstack/{iface}").into_bytes()
}

/// The prefix of the abstract name of every program-side socketpair end, then
/// `<service pid>/<serial>/<t|u>`.
pub const SOCKET_NAME_PREFIX: &[u8] = b"tapstack-sock/";

/// The prefix of the name our end (B) of a TCP socket's socketpair takes once its connection holds
/// a soft error. B is unnamed until then, and the program's end sees its peer's name: SO_ERROR is
/// 0 without asking while the program's end is neither hung up nor facing a named peer
/// (`posix::sockopt::get`).
pub const SOFT_ERROR_NAME_PREFIX: &[u8] = b"tapstack-soft/";

/// How the service runs.
#[derive(Clone, Debug)]
pub struct Options {
    pub config: Config,
    /// Exit after this long with no client, no socket and no connection still closing
    /// (`None`: run until a signal, as `tapstack up` does).
    pub idle_exit: Option<Duration>,
    /// After an event, keep looking for the next one this long before sleeping
    /// (`TAPSTACK_BUSY_POLL`; zero: sleep at once).
    pub busy_poll: Duration,
}

/// What a running service reports when it stops.
pub struct Stopped {
    pub signal: Option<i32>,
    pub stats: String,
    pub neighbours: Vec<(std::net::Ipv4Addr, crate::wire::MacAddr)>,
}

/// A client waiting for an answer: its slot, the slot's generation (a slot is reused), and the
/// sequence number of its request.
type Waiter = (usize, u64, u32);

struct Client {
    fd: OwnedFd,
    generation: u64,
    /// It may bind ports below `ip_unprivileged_port_start`: root, or CAP_NET_BIND_SERVICE
    /// in its effective set when it connected (as Linux's inet_bind asks of the binding task).
    may_bind_privileged: bool,
    /// It may set SO_RCVBUFFORCE and SO_SNDBUFFORCE: CAP_NET_ADMIN in its effective set.
    net_admin: bool,
    /// Its process, as the kernel said when it connected.
    pid: i32,
    /// Its user, the owner of the sockets it makes (a SO_REUSEPORT group is one user's).
    uid: u32,
    /// Nothing came from it yet: its first message may make it a door ([`proto::DOOR`]).
    fresh: bool,
    /// It came through a door: its process left the stack's network namespace, and may act on the
    /// sockets it holds but make none (as Linux's, its new sockets are in its new namespace).
    outside: bool,
}

enum Phase {
    /// Created, not connected or listening.
    Fresh,
    /// A TCP connect in progress: `hold` is a descriptor of A, kept to restore its send buffer.
    Connecting {
        hold: OwnedFd,
        filler: usize,
        sndbuf: i32,
    },
    Open,
    Listening {
        tokens: usize,
    },
}

struct Sock {
    h: SocketHandle,
    kind: Kind,
    b: OwnedFd,
    ino: u64,
    /// The abstract name the program's end is bound to: while a socket holds it, that end lives.
    name: Vec<u8>,
    extra: Extra,
    phase: Phase,
    /// Edge-triggered readiness of B, as last reported.
    b_readable: bool,
    /// B reported the program's end shut (RDHUP or HUP): its end of file is still to be read.
    b_shut_seen: bool,
    /// B reported an error (EPOLLERR): the program's end went with our data unread, and
    /// SO_ERROR holds ECONNRESET. Only then is SO_ERROR worth a system call.
    b_err_seen: bool,
    /// B bears a name ([`SOFT_ERROR_NAME_PREFIX`]): the connection has held a soft error.
    b_named: bool,
    b_writable: bool,
    /// B polled POLLPRI: the program sent a byte with MSG_OOB whose mark is still to be read
    /// (see [`Service::pump_tcp`]).
    b_urgent: bool,
    /// The program has shut its writing (end of file read from B): our FIN is queued.
    app_eof: bool,
    /// The peer's FIN was passed on (B's writing shut).
    eof_sent: bool,
    /// The connection failed after the peer's FIN: reads keep their end of file, the error is
    /// for SO_ERROR and sends only (Linux's tcp_recvmsg stops at the FIN before it looks at
    /// sk_err).
    failed_after_eof: bool,
    /// The connection failed and can send no more (see [`note_failure`]): what the program still
    /// wrote is dropped, and B's reading is shut, so its next write fails and reports the error.
    send_over: bool,
    /// B was shut both ways by us (an error ended the connection).
    broken: bool,
    /// The last descriptor of A is gone.
    app_gone: bool,
    /// A was closed with data it had not read (the kernel reports ECONNRESET on B): the
    /// connection ends with RST, as Linux's close does.
    app_reset: bool,
    /// The program shut its reading (or is gone): received data is held in the stack for reads
    /// to take ([`Call::ReadHeld`], as Linux queues it after SHUT_RD), and dropped once the
    /// program is gone.
    app_rd_shut: bool,
    /// RCV.NXT when the program's end was last woken for what arrived after its shutdown(SHUT_RD)
    /// (see [`Service::pump_tcp`]).
    held_woken_at: Option<u32>,
    /// The error a program reads as SO_ERROR, or from a read that found end of file.
    error: Option<Errno>,
    /// How the last connect ended, for a WaitConnect that comes after.
    connected: Option<Result<()>>,
    /// Clients waiting for the connect: (client, its generation, request sequence).
    waiters: Vec<Waiter>,
    /// Clients closing with SO_LINGER, waiting for everything to be acknowledged.
    lingerers: Vec<Waiter>,
    /// When data was last written into B (the service's clock): a TCP read's receive timestamp
    /// ([`Call::DeliveredAt`]).
    delivered_at: Option<Instant>,
    /// The address a `bind` with a port gave it: it keeps that through a disconnect (Linux's
    /// SOCK_BINDPORT_LOCK), where a port the stack chose is given back.
    bound: Option<SocketAddrV4>,
    /// The port a disconnect gave back: `getsockname` still names it until the socket has a port
    /// again, as Linux's does (tcp_disconnect frees the port but leaves inet_sport).
    stale_port: u16,
    /// Taken apart by a disconnect: the program's end is an unconnected UNIX socket (it polls as
    /// Linux's closed TCP socket does) and `b` a dead end, until a connect or listen pairs it up.
    unpaired: bool,
    /// A listener on the wildcard: its twin on the kernel's loopback ([`loopback`]), if one could
    /// be had.
    twin: Option<Box<loopback::Twin>>,
    /// A UDP socket on the wildcard: its twin on the kernel's loopback ([`udp_loopback`]), if one
    /// could be had.
    udp_twin: Option<Box<UdpTwin>>,
    /// A UDP socket connected to a loopback peer (through its twin): the stack socket is not
    /// connected, and what it receives from the TAP is dropped, as Linux's connected socket
    /// takes only its peer's datagrams.
    loop_peer: Option<SocketAddrV4>,
}

pub struct Service {
    stack: Stack,
    device: Box<dyn Device>,
    ep: OwnedFd,
    control: OwnedFd,
    /// Descriptors held in reserve ([`SPARES`]), so a full table still leaves room to serve: to
    /// receive the descriptors a request carries, and to accept a new client just long enough to
    /// tell it ENFILE rather than leave it waiting.
    spares: Vec<OwnedFd>,
    /// The descriptor table, spares aside, is (nearly) full: no new socket is made (ENFILE), and
    /// the spares are given up for each request's descriptors and taken back after.
    full: bool,
    /// The control socket is out of the epoll set: the table was full and no spare was left (so
    /// its level-triggered readiness would spin). Back in once a descriptor is freed.
    control_paused: bool,
    /// When running out of descriptors was last logged.
    full_warned: Option<std::time::Instant>,
    /// When the stack was last given the wall clock ([`Service::sync_wall_clock`]).
    wall_synced: Option<Instant>,
    /// The first port a client without CAP_NET_BIND_SERVICE may bind (the namespace's
    /// `net.ipv4.ip_unprivileged_port_start`, read at start).
    unprivileged_port_start: u16,
    /// Sockets a program made itself (a non-blocking connect) that found no room here, by the
    /// inode of the program's end, with why: the last [`REFUSED`] (see `refused_answer`).
    refused: std::collections::VecDeque<(u64, Errno)>,
    signals: Option<OwnedFd>,
    clients: Slots<Client>,
    /// Doors ([`super::client`]): connections that only bring control connections, closed when
    /// the last process holding one is gone.
    doors: Slots<OwnedFd>,
    socks: Slots<Sock>,
    by_handle: crate::stack::socket_table::HandleMap<usize>,
    by_ino: HashMap<u64, usize>,
    /// Sockets whose hang-up did not prove the last close: looked at again every [`RECHECK`].
    doubtful: Vec<usize>,
    /// Connections closed by programs waiting in SO_LINGER's close, with their waiters.
    lingering: Vec<(SocketHandle, Vec<Waiter>)>,
    next_recheck: Option<std::time::Instant>,
    /// Sockets whose data waits in B for memory to grow the send buffer into
    /// ([`crate::memory`]), tried again at `starved_retry`.
    starved: Vec<usize>,
    starved_retry: Option<std::time::Instant>,
    /// Epoll rounds in a row that found the TAP readable. The TAP is level-triggered, so a round
    /// may read one frame and leave the rest to the next `epoll_wait`: with request/response
    /// traffic (one frame per wake-up) that saves the read that would find the TAP empty; once
    /// frames keep coming, a round reads a burst until the TAP is empty.
    tap_streak: u32,
    scratch: Vec<u8>,
    /// The TAP's interface index, the one datagrams arrive by (IP_PKTINFO).
    ifindex: u32,
    uid: u32,
    serial: u64,
    generation: u64,
    idle_exit: Option<Duration>,
    idle_since: Option<std::time::Instant>,
    /// The sock_diag socket that tells whether a program's end is gone.
    diag: Option<OwnedFd>,
    /// Our ends of released sockets, whose program ends are gone, and the probes that found them
    /// gone, to be closed together: while any UNIX socket is in flight anywhere (as the two a
    /// program sends with each connect are, on their way here), the last close of a UNIX socket
    /// makes the kernel queue its garbage collector, a work item and a wake-up (about 9 µs a
    /// close on these VMs, against 1); closed back to back, all but the first find it still
    /// queued. Closed before the service sleeps, and never held near the descriptor limit.
    graveyard: Vec<OwnedFd>,
    /// How long to keep polling without sleeping after an event (TAPSTACK_BUSY_POLL).
    busy_poll: Duration,
}

/// The errno a program hears for a system call of the service's that failed. The service's own
/// descriptor table is, to a program, the system's: when it is full, ENFILE, as Linux's `socket`
/// and `accept` say when they cannot allocate a socket (never EMFILE, which is about the program's
/// own table).
fn errno_of(e: &io::Error) -> Errno {
    match e.raw_os_error() {
        Some(libc::EMFILE) => Errno::ENFILE,
        Some(n) => Errno(n),
        None => Errno::EIO,
    }
}

/// What the service waits for on a stack socket's end B: edges of its reading and writing, the
/// program's end going, and (TCP) an out-of-band byte the program sent (POLLPRI).
const SOCK_EVENTS: u32 =
    (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLPRI | libc::EPOLLET) as u32;

/// SO_OOBINLINE on a TCP socket's end B: the program's send(MSG_OOB) byte stays in B's stream,
/// where its mark is (a read stops before it), and is read as the next byte once SIOCATMARK
/// says the mark is reached. Without it, a read at the mark would drop the byte, and
/// recv(MSG_OOB) could take a newer byte than the mark the service found.
fn urgent_in_line(b: RawFd) {
    if uds::set_int(b, libc::SOL_SOCKET, libc::SO_OOBINLINE, 1).is_err() {
        log::warn!("SO_OOBINLINE on a socketpair end: a program's MSG_OOB byte may go in line");
    }
}

fn ep_ctl(ep: RawFd, op: i32, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: `ev` is a valid epoll_event.
    let r = unsafe { libc::syscall(libc::SYS_epoll_ctl, ep, op, fd, &mut ev) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Claims the control socket's name: fails with EADDRINUSE if a service already runs for `iface`
/// in this network namespace.
pub fn claim_name(iface: &str) -> io::Result<OwnedFd> {
    let control = uds::socket(libc::SOCK_SEQPACKET | libc::SOCK_NONBLOCK)?;
    uds::bind_abstract(control.as_raw_fd(), &control_name(iface))?;
    uds::listen(control.as_raw_fd(), 128)?;
    Ok(control)
}

impl Service {
    /// Opens the TAP named in the configuration and makes the service, listening on `control`
    /// (from [`claim_name`]).
    pub fn start(opts: &Options, control: OwnedFd) -> io::Result<Service> {
        let config = &opts.config;
        raise_descriptor_limit();
        let tap = TapDevice::open(&config.iface, config.offload)?;
        let ifindex = tap.index();
        let device: Box<dyn Device> = match &config.pcap {
            Some(path) => Box::new(PcapDevice::new(tap, path).map_err(|e| {
                io::Error::new(e.kind(), format!("TAPSTACK_PCAP={}: {e}", path.display()))
            })?),
            None => Box::new(tap),
        };
        let mtu = device.caps().mtu;
        let mut stack = Stack::new(
            Interface::from_config(config, mtu),
            device.caps(),
            crate::sys::random_seed(),
        );
        crate::host::HostTcp::read().apply(stack.tcp_defaults_mut());
        stack.set_ifindex(ifindex);
        stack.set_max_sockets(config.max_sockets);
        // The key behind initial sequence numbers, timestamp offsets and ports (RFC 6528 §3,
        // RFC 7323 §5.4, RFC 6056) and Fast Open cookies: the one this user's earlier services had,
        // so a peer's TIME-WAIT lets our SYNs in after a restart ([`super::secret`]).
        super::secret::keys().apply(&mut stack);
        // SAFETY: plain flags.
        let ep = unsafe { libc::syscall(libc::SYS_epoll_create1, libc::EPOLL_CLOEXEC) };
        if ep < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just returned this descriptor.
        let ep = unsafe { OwnedFd::from_raw_fd(ep as RawFd) };
        let signals = stop_signals()?;
        let tap_fd = device
            .poll_fd()
            .ok_or_else(|| io::Error::other("the device has no descriptor to wait on"))?;
        ep_ctl(
            ep.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            tap_fd.raw(),
            libc::EPOLLIN as u32,
            token(TAG_TAP, 0),
        )?;
        ep_ctl(
            ep.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            control.as_raw_fd(),
            libc::EPOLLIN as u32,
            token(TAG_CONTROL, 0),
        )?;
        ep_ctl(
            ep.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            signals.as_raw_fd(),
            libc::EPOLLIN as u32,
            token(TAG_SIGNAL, 0),
        )?;
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        Ok(Service {
            ifindex,
            stack,
            device,
            ep,
            spares: (0..SPARES)
                .filter_map(|_| control.try_clone().ok())
                .collect(),
            full: false,
            control,
            control_paused: false,
            full_warned: None,
            wall_synced: None,
            unprivileged_port_start: unprivileged_port_start(),
            refused: std::collections::VecDeque::new(),
            signals: Some(signals),
            clients: Slots::new(),
            doors: Slots::new(),
            socks: Slots::new(),
            by_handle: Default::default(),
            by_ino: HashMap::new(),
            doubtful: Vec::new(),
            lingering: Vec::new(),
            next_recheck: None,
            starved: Vec::new(),
            starved_retry: None,
            tap_streak: 0,
            scratch: vec![0u8; CHUNK + proto::DGRAM_HEADER],
            uid,
            serial: 0,
            generation: 0,
            idle_exit: opts.idle_exit,
            idle_since: None,
            diag: uds::diag_socket().ok(),
            graveyard: Vec::new(),
            busy_poll: opts.busy_poll,
        })
    }

    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// The monotonic clock since boot, not since this process began (see [`crate::sys::monotonic_now`]).
    fn now(&self) -> Instant {
        crate::sys::monotonic_now()
    }

    /// Gives the stack the wall clock (for ICMP timestamps) when it has not had it for
    /// [`WALL_CLOCK_SYNC`], so a step of the system clock shows within that time.
    fn sync_wall_clock(&mut self) {
        let now = self.now();
        if self
            .wall_synced
            .is_some_and(|at| now.saturating_since(at) < WALL_CLOCK_SYNC)
        {
            return;
        }
        if let Ok(since_epoch) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)
        {
            self.stack.set_wall_clock(now, since_epoch);
            self.wall_synced = Some(now);
        }
    }

    /// Runs until SIGINT/SIGTERM or, with `idle_exit`, until idle that long.
    pub fn run(mut self) -> Stopped {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        let mut frame = vec![0u8; 65536 + 14];
        let mut busy_until: Option<std::time::Instant> = None;
        // The spin's last yield handed the CPU over for long (crate::spin::give_way).
        let mut handed_over = false;
        let signal = loop {
            let mut timeout = self.timeout_ms();
            // Busy polling: right after an event, look again without sleeping, so that the
            // answer to what was just sent finds this process running (waking a halted CPU costs
            // tens of microseconds on a VM). Bounded: idle, the service sleeps.
            if let Some(until) = busy_until {
                if std::time::Instant::now() < until {
                    timeout = 0;
                } else {
                    busy_until = None;
                    crate::spin::ended_in_peace();
                }
            }
            if timeout != 0 && !self.graveyard.is_empty() {
                // About to sleep: nothing is gained by holding them longer.
                self.graveyard.clear();
            }
            // SAFETY: `events` has room for its length.
            let n = unsafe {
                libc::syscall(
                    libc::SYS_epoll_wait,
                    self.ep.as_raw_fd(),
                    events.as_mut_ptr(),
                    events.len() as i32,
                    timeout,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EINTR) {
                    log::error!("epoll_wait failed: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            if n > 0 {
                handed_over = false;
            }
            if n > 0 && !self.busy_poll.is_zero() {
                if busy_until.is_some() {
                    // Found by the spin.
                    crate::spin::ended_in_peace();
                }
                // Not while the CPUs are contended (crate::spin): then spinning delays the work
                // it waits for.
                busy_until =
                    crate::spin::allowed().then(|| std::time::Instant::now() + self.busy_poll);
            }
            if n == 0 && timeout == 0 && busy_until.is_some() {
                // Polling must not keep a program that shares this CPU from running: a
                // program woken here (the one about to answer) gets the CPU at once, and a yield
                // that met another task that wanted the CPU ends the polling.
                if handed_over {
                    // Nothing came while another task had the CPU: contention.
                    crate::spin::pause();
                    busy_until = None;
                    handed_over = false;
                } else {
                    handed_over = crate::spin::give_way();
                }
                let now = self.now();
                if self.stack.poll_at(now).is_none_or(|d| d > now) {
                    continue;
                }
            }
            let mut stop = None;
            let events = &events[..n as usize];
            if events.iter().any(|ev| ev.u64 >> 32 == TAG_TAP) {
                self.tap_streak = self.tap_streak.saturating_add(1);
            } else {
                self.tap_streak = 0;
            }
            for ev in events {
                let (tag, index) = (ev.u64 >> 32, (ev.u64 & 0xffff_ffff) as usize);
                let flags = ev.events;
                match tag {
                    TAG_TAP => self.read_tap(&mut frame),
                    TAG_CONTROL => self.accept_clients(),
                    TAG_CLIENT => self.serve_client(index, flags),
                    TAG_DOOR => self.serve_door(index, flags),
                    TAG_SOCK => self.sock_event(index, flags),
                    TAG_SIGNAL => stop = self.take_signal(),
                    TAG_LOOPBACK => self.take_loopback(index),
                    TAG_UDP_LOOPBACK => self.pump_udp_twin(index),
                    _ => {}
                }
            }
            self.settle();
            if let Some(sig) = stop {
                break Some(sig);
            }
            if self.idle_for_long_enough() {
                log::info!("no client and nothing left to close: the service exits");
                break None;
            }
        };
        self.device.flush();
        Stopped {
            signal,
            stats: self.stack.stats().to_string(),
            neighbours: self.stack.neighbours(),
        }
    }

    fn timeout_ms(&mut self) -> i32 {
        let now = self.now();
        let mut until: Option<Duration> = self.stack.poll_at(now).map(|d| d.saturating_since(now));
        let wall = std::time::Instant::now();
        for at in [self.next_recheck, self.starved_retry]
            .into_iter()
            .flatten()
        {
            let d = at.saturating_duration_since(wall);
            until = Some(until.map_or(d, |u| u.min(d)));
        }
        if let (Some(exit), Some(since)) = (self.idle_exit, self.idle_since) {
            let d = (since + exit).saturating_duration_since(wall);
            until = Some(until.map_or(d, |u| u.min(d)));
        }
        // Rounded up: waking a little early would only spin.
        until.map_or(-1, |u| {
            u.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
        })
    }

    fn idle_for_long_enough(&mut self) -> bool {
        let Some(exit) = self.idle_exit else {
            return false;
        };
        // Doors do not count: with no socket left, a process outside the namespace has nothing
        // of the stack's to reach (its new sockets are the kernel's), and one inside makes a new
        // door with its next connection by name.
        let idle =
            self.clients.is_empty() && self.socks.is_empty() && self.stack.socket_count() == 0;
        if !idle {
            self.idle_since = None;
            return false;
        }
        let since = *self.idle_since.get_or_insert_with(std::time::Instant::now);
        since.elapsed() >= exit
    }

    fn take_signal(&mut self) -> Option<i32> {
        let fd = self.signals.as_ref()?.as_raw_fd();
        // SAFETY: signalfd_siginfo is plain data.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        // SAFETY: reading one siginfo into a buffer of its size.
        let n = unsafe {
            libc::syscall(
                libc::SYS_read,
                fd,
                &mut info as *mut libc::signalfd_siginfo,
                std::mem::size_of::<libc::signalfd_siginfo>(),
            )
        };
        (n > 0).then_some(info.ssi_signo as i32)
    }

    fn read_tap(&mut self, frame: &mut [u8]) {
        let max = if self.tap_streak >= 2 { BURST } else { 1 };
        self.sync_wall_clock();
        loop {
            let now = self.now();
            let Service { stack, device, .. } = self;
            let got = device.recv_burst(frame, max, &mut |f, checksum| {
                stack.receive_checked(now, f, checksum)
            });
            self.finish_connects();
            self.flush_frames();
            match got {
                Ok(n) if n == max && max == 1 => break,
                Ok(n) if n == max => self.wake_sockets(),
                // A burst that found one frame: the TAP is not backed up; back to one a round.
                Ok(n) if n <= 1 => {
                    self.tap_streak = 0;
                    break;
                }
                Ok(_) => break,
                Err(e) => {
                    log::error!("device receive failed: {e}");
                    break;
                }
            }
        }
    }

    /// Ends, before the frames just made go out, the connects that the frames just read
    /// completed: the program's socket becomes writable before the handshake's ACK is on the wire,
    /// as Linux's tcp_finish_connect wakes the socket before tcp_rcv_synsent_state_process sends
    /// that ACK. A peer that answers the ACK at once (and a program that polls then) sees the
    /// connection established. Only those sockets: the rest keep the usual order (frames first,
    /// then the programs), which is the quicker for data.
    fn finish_connects(&mut self) {
        let connecting: Vec<usize> = self
            .stack
            .woken()
            .iter()
            .filter_map(|h| self.by_handle.get(h).copied())
            .filter(|&i| {
                self.socks
                    .get(i)
                    .is_some_and(|s| matches!(s.phase, Phase::Connecting { .. }))
            })
            .collect();
        for i in connecting {
            self.check_connect(i);
        }
    }

    /// After any work: due timers, frames out, and the sockets whose state moved.
    fn settle(&mut self) {
        let now = self.now();
        if self.stack.poll_at(now).is_some_and(|at| at <= now) {
            self.stack.poll(now);
        }
        self.wake_sockets();
        self.flush_frames();
        if !self.lingering.is_empty() {
            self.answer_lingerers();
        }
        if self
            .next_recheck
            .is_some_and(|at| at <= std::time::Instant::now())
        {
            self.recheck_doubtful();
        }
        if self
            .starved_retry
            .is_some_and(|at| at <= std::time::Instant::now())
        {
            self.starved_retry = None;
            for i in std::mem::take(&mut self.starved) {
                self.pump(i);
            }
            self.flush_frames();
        }
    }

    /// Answers SO_LINGER closes whose connection has had everything acknowledged (or is gone).
    fn answer_lingerers(&mut self) {
        use crate::tcp::State;
        let stack = &self.stack;
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.lingering)
            .into_iter()
            .partition(|(h, _)| {
                stack
                    .tcp_socket_ref(*h)
                    .and_then(|t| t.connection())
                    .is_none_or(|c| {
                        !matches!(c.state(), State::FinWait1 | State::Closing | State::LastAck)
                            && c.send_queue_len() == 0
                    })
            });
        self.lingering = waiting;
        for (_, waiters) in done {
            self.answer_waiters(waiters, Ok(Value::None));
        }
    }

    /// Answers each client still waiting (the same client, not one that took its slot since) with
    /// `result`.
    fn answer_waiters(&mut self, waiters: Vec<Waiter>, result: Result<Value>) {
        for (ci, generation, seq) in waiters {
            let Some(c) = self.clients.get(ci) else {
                continue;
            };
            if c.generation == generation {
                let fd = c.fd.as_raw_fd();
                let reply = Reply {
                    seq,
                    result: result.clone(),
                };
                self.send_reply(ci, fd, &reply, None);
            }
        }
    }

    fn flush_frames(&mut self) {
        while let Some(frame) = self.stack.pop_frame() {
            if let Err(e) = self.device.send(&frame) {
                log::warn!("device send failed: {e}");
            }
        }
    }

    /// Moves data for every socket the stack reported as changed, until none is left (moving data
    /// can change more).
    fn wake_sockets(&mut self) {
        for _ in 0..8 {
            let woken = self.stack.take_woken();
            if woken.is_empty() {
                return;
            }
            for h in woken {
                if let Some(&i) = self.by_handle.get(&h) {
                    self.pump(i);
                }
            }
            self.flush_frames();
        }
    }

    // -----------------------------------------------------------------------------------------
    // Clients.

    fn accept_clients(&mut self) {
        loop {
            let fd = match uds::accept(self.control.as_raw_fd()) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => return,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    if !self.refuse_client() {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    log::warn!("accepting a client failed: {e}");
                    return;
                }
            };
            self.admit(fd, None);
        }
    }

    /// Takes `fd` as a client's control connection, if its process may use this stack. `outside`:
    /// it came through a door, with its maker's credentials as the door's message said them.
    fn admit(&mut self, fd: OwnedFd, outside: Option<libc::ucred>) {
        // Processes of our own user (root aside) may use this stack; a service of root's, as
        // the kernel, serves every user (a root program that forks workers which drop
        // privileges keeps its sockets working), and keeps the privileged ports to those
        // allowed them.
        let cred = match uds::peer_cred(fd.as_raw_fd()) {
            // Through a door, only a socketpair of the sender's own making: the kernel's
            // credentials for both must agree (a socket connected elsewhere would bring
            // another process's, and its privileges).
            Ok(c) if outside.is_some_and(|o| o.pid != c.pid || o.uid != c.uid) => {
                log::warn!(
                    "a door brought a socket that is not its sender's own (pid {})",
                    c.pid
                );
                return;
            }
            Ok(c) if c.uid == self.uid || c.uid == 0 || self.uid == 0 => c,
            Ok(c) => {
                log::warn!("refused a client of user {} (pid {})", c.uid, c.pid);
                // Said before closing, so the program can tell why (not "gone").
                let reply = Reply {
                    seq: 0,
                    result: Err(Errno::EACCES),
                };
                let _ = uds::send(fd.as_raw_fd(), &[&reply.encode()], None, libc::MSG_DONTWAIT);
                return;
            }
            Err(e) => {
                log::warn!("a client's credentials could not be read: {e}");
                return;
            }
        };
        let i = self.clients.next_index();
        if ep_ctl(
            self.ep.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            fd.as_raw_fd(),
            (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
            token(TAG_CLIENT, i),
        )
        .is_err()
        {
            return;
        }
        self.generation += 1;
        let mut client = Client {
            fd,
            generation: self.generation,
            may_bind_privileged: false,
            net_admin: false,
            pid: cred.pid,
            uid: cred.uid,
            fresh: outside.is_none(),
            outside: outside.is_some(),
        };
        if outside.is_some() {
            client.learn_privileges();
        }
        // Else with its first message, unless that makes it a door: the process connected just
        // before it sent it (a connection is made for a first request), and a door needs none.
        self.clients.insert(client);
        self.check_room();
    }

    /// Client `ci`'s first message was [`proto::DOOR`]: its connection is a door from now on.
    fn make_door(&mut self, ci: usize) {
        let Some(c) = self.clients.remove(ci) else {
            return;
        };
        let di = self.doors.next_index();
        // The sender's credentials come with each message: who made the connection it brings.
        let passcred = uds::set_int(c.fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_PASSCRED, 1);
        if passcred.is_err()
            || ep_ctl(
                self.ep.as_raw_fd(),
                libc::EPOLL_CTL_MOD,
                c.fd.as_raw_fd(),
                (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
                token(TAG_DOOR, di),
            )
            .is_err()
        {
            self.regain_spare();
            return;
        }
        self.doors.insert(c.fd);
    }

    /// Takes the control connections that came through door `di`; anything else that comes is
    /// dropped. A door whose every holder is gone is closed.
    fn serve_door(&mut self, di: usize, flags: u32) {
        let mut buf = [0u8; proto::MAX_MESSAGE];
        let mut waiting = false;
        for _ in 0..64 {
            let Some(door) = self.doors.get(di) else {
                return;
            };
            if self.full {
                // Room for the connection it brings (as for a request's descriptors).
                self.spares.clear();
            }
            match uds::recv_with_cred(door.as_raw_fd(), &mut buf, libc::MSG_DONTWAIT) {
                Ok((0, _, _, _)) => break,
                Ok((n, false, fds, Some(cred))) if &buf[..n] == proto::ADOPT && fds.len() == 1 => {
                    let fd = fds.into_iter().next().expect("one");
                    if uds::get_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TYPE)
                        .is_ok_and(|t| t == libc::SOCK_SEQPACKET)
                        && uds::get_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_DOMAIN)
                            .is_ok_and(|d| d == libc::AF_UNIX)
                    {
                        self.admit(fd, Some(cred));
                    } else {
                        log::warn!("a door brought something other than a control connection");
                    }
                }
                Ok(_) => log::warn!("a door brought something other than a control connection"),
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                    waiting = true;
                    break;
                }
                Err(_) => break,
            }
        }
        if self.spares.len() < SPARES {
            self.regain_spare();
        }
        if !waiting && flags & (libc::EPOLLHUP | libc::EPOLLRDHUP | libc::EPOLLERR) as u32 != 0 {
            self.doors.remove(di);
            self.regain_spare();
        }
    }

    fn serve_client(&mut self, ci: usize, flags: u32) {
        let mut buf = [0u8; proto::MAX_MESSAGE];
        // Nothing more to read yet (the client stays).
        let mut waiting = false;
        // Bounded, so one busy client cannot starve the rest.
        for _ in 0..64 {
            let Some(c) = self.clients.get(ci) else {
                return;
            };
            if self.full {
                // Room for the descriptors the request carries (the kernel drops those it
                // cannot place); taken back once it is answered.
                self.spares.clear();
            }
            match uds::recv_fds(c.fd.as_raw_fd(), &mut buf, libc::MSG_DONTWAIT) {
                Ok((0, _, _)) => break,
                Ok((n, truncated, fds)) => {
                    let reply_to = c.fd.as_raw_fd();
                    let generation = c.generation;
                    let fresh = c.fresh;
                    if fresh {
                        // Only a first message makes a door.
                        let door = &buf[..n] == proto::DOOR;
                        if let Some(c) = self.clients.get_mut(ci) {
                            c.fresh = false;
                            if !door {
                                c.learn_privileges();
                            }
                        }
                    }
                    let (reply, give) = if truncated {
                        (
                            Some(Reply {
                                seq: 0,
                                result: Err(Errno::EMSGSIZE),
                            }),
                            None,
                        )
                    } else {
                        match Request::decode(&buf[..n]) {
                            Ok(req) => self.handle(ci, generation, req, fds),
                            Err(_) if fresh && &buf[..n] == proto::DOOR && fds.is_empty() => {
                                self.make_door(ci);
                                if self.spares.len() < SPARES {
                                    self.regain_spare();
                                }
                                return;
                            }
                            Err(_) => (
                                Some(Reply {
                                    seq: 0,
                                    result: Err(Errno::EINVAL),
                                }),
                                None,
                            ),
                        }
                    };
                    if let Some(reply) = reply {
                        self.send_reply(ci, reply_to, &reply, give.as_ref());
                    }
                    self.settle();
                }
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                    waiting = true;
                    break;
                }
                Err(_) => break,
            }
        }
        if self.spares.len() < SPARES {
            self.regain_spare();
        }
        if waiting {
            return;
        }
        if flags & (libc::EPOLLHUP | libc::EPOLLRDHUP | libc::EPOLLERR) as u32 != 0 {
            self.drop_client(ci);
        }
    }

    fn send_reply(&mut self, ci: usize, fd: RawFd, reply: &Reply, give: Option<&OwnedFd>) {
        let bytes = reply.encode();
        if let Err(e) = uds::send(
            fd,
            &[&bytes],
            give.map(|f| f.as_raw_fd()),
            libc::MSG_DONTWAIT,
        ) {
            // A client that does not read its replies (or has gone) loses its connection.
            log::debug!("reply to a client failed: {e}");
            self.drop_client(ci);
        }
    }

    fn drop_client(&mut self, ci: usize) {
        if self.clients.remove(ci).is_some() {
            self.regain_spare();
        }
    }

    /// With the descriptor table full, a client waiting to connect is accepted on a spare
    /// descriptor, told ENFILE (a reply for whatever it asks first) and let go, and the spare is
    /// taken back. Without a spare, the control socket leaves the epoll set until a descriptor is
    /// freed. Returns whether a client was refused (more may wait).
    fn refuse_client(&mut self) -> bool {
        self.note_full();
        if let Some(spare) = self.spares.pop() {
            drop(spare);
            let refused = uds::accept(self.control.as_raw_fd()).map(|fd| {
                let reply = Reply {
                    seq: 0,
                    result: Err(Errno::ENFILE),
                };
                let _ = uds::send(fd.as_raw_fd(), &[&reply.encode()], None, libc::MSG_DONTWAIT);
            });
            self.spares.extend(self.control.try_clone().ok());
            if refused.is_ok() {
                log::debug!("out of descriptors: a new client was refused (ENFILE)");
                return true;
            }
        }
        if self.spares.is_empty() && !self.control_paused {
            log::warn!("out of descriptors: new clients wait until one is freed");
            let _ = ep_ctl(
                self.ep.as_raw_fd(),
                libc::EPOLL_CTL_MOD,
                self.control.as_raw_fd(),
                0,
                token(TAG_CONTROL, 0),
            );
            self.control_paused = true;
        }
        false
    }

    /// Whether, spares aside, the table still has room for a request's descriptors (probed by
    /// taking that many, unless far from the limit by [`Service::far_from_limit`]'s count); marks
    /// it full if not.
    fn check_room(&mut self) {
        if !self.full && !self.far_from_limit() {
            let room = |control: &OwnedFd| {
                let probes: Vec<_> = (0..SPARES).map(|_| control.try_clone()).collect();
                probes.iter().all(|p| p.is_ok())
            };
            if !room(&self.control)
                && (self.graveyard.is_empty() || {
                    self.graveyard.clear();
                    !room(&self.control)
                })
            {
                self.note_full();
            }
        }
    }

    /// The table is full: no new socket until a descriptor is freed.
    fn note_full(&mut self) {
        self.full = true;
        self.graveyard.clear();
        // Once a minute at most: at the limit, each socket closed and made flips it.
        let now = std::time::Instant::now();
        if self
            .full_warned
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60))
        {
            self.full_warned = Some(now);
            log::warn!("the service is out of descriptors: new sockets get ENFILE");
        }
    }

    /// After descriptors were freed: the spares taken again, the table no longer full if there
    /// is room beyond them, and new clients accepted again if they had to wait.
    fn regain_spare(&mut self) {
        if self.spares.len() < SPARES {
            self.graveyard.clear();
        }
        while self.spares.len() < SPARES {
            match self.control.try_clone() {
                Ok(fd) => self.spares.push(fd),
                Err(_) => break,
            }
        }
        if self.full && self.spares.len() == SPARES {
            self.full = false;
            self.check_room();
        }
        if self.control_paused
            && !self.spares.is_empty()
            && ep_ctl(
                self.ep.as_raw_fd(),
                libc::EPOLL_CTL_MOD,
                self.control.as_raw_fd(),
                libc::EPOLLIN as u32,
                token(TAG_CONTROL, 0),
            )
            .is_ok()
        {
            self.control_paused = false;
        }
    }

    /// Answers one request. Returns the reply (None: later, for WaitConnect) and the program's end
    /// of a socket the request created.
    fn handle(
        &mut self,
        ci: usize,
        generation: u64,
        req: Request,
        fds: Vec<OwnedFd>,
    ) -> (Option<Reply>, Option<OwnedFd>) {
        let seq = req.seq;
        let quiet = req.quiet;
        let reply = |result| (!quiet).then_some(Reply { seq, result });
        if !matches!(req.target, Target::Existing)
            && self.clients.get(ci).is_some_and(|c| c.outside)
        {
            // Its process left the namespace: a new socket of its is the kernel's there (the shim
            // keeps it so), never one of this stack's.
            return (reply(Err(Errno(libc::ENETUNREACH))), None);
        }
        let (i, new_end, held) = match req.target {
            Target::Existing => {
                let Some(fd) = fds.into_iter().next() else {
                    // With the table full, the kernel may have dropped the descriptor it carried.
                    let e = if self.full {
                        Errno::ENFILE
                    } else {
                        Errno::EBADF
                    };
                    return (reply(Err(e)), None);
                };
                let ino = uds::inode(fd.as_raw_fd()).ok();
                let Some(i) = ino.and_then(|ino| self.by_ino.get(&ino).copied()) else {
                    if let Some(r) = ino.and_then(|ino| self.refused_answer(ino, &req.call)) {
                        return (reply(r), None);
                    }
                    // Not a socket of ours: the client holds no descriptor for what it names.
                    return (reply(Err(Errno::ENOTSOCK)), None);
                };
                (i, None, Some(fd))
            }
            Target::New {
                kind,
                options,
                inet6,
            } => {
                let (i, a) = match self.new_sock(kind, inet6) {
                    Ok(x) => x,
                    Err(e) => return (reply(Err(e)), None),
                };
                self.set_owner(i, ci);
                self.apply_options(i, &options);
                (i, Some(a), None)
            }
            Target::Given {
                kind,
                options,
                inet6,
            } => {
                let mut fds = fds.into_iter();
                let (Some(a), Some(b)) = (fds.next(), fds.next()) else {
                    return (reply(Err(Errno::EBADF)), None);
                };
                let i = match self.adopt_given(kind, inet6, &a, b) {
                    Ok(i) => i,
                    Err(e) => {
                        if matches!(e, Errno::ENFILE | Errno::ENOBUFS | Errno::ENOMEM) {
                            // No room for it: the program's end hangs up (ours is gone) and
                            // its SO_ERROR says why, as after a failed connect.
                            if let Ok(ino) = uds::inode(a.as_raw_fd()) {
                                self.refuse_socket(ino, e);
                            }
                        }
                        return (reply(Err(e)), None);
                    }
                };
                self.check_room();
                self.set_owner(i, ci);
                self.apply_options(i, &options);
                (i, None, Some(a))
            }
        };
        let result = self.call(i, req.call, held, new_end.as_ref(), ci, generation, seq);
        if quiet {
            if let Err(e) = result {
                if e != Errno::EINPROGRESS {
                    // Nobody waits for this answer: the program learns it from its socket.
                    self.fail_quietly(i, e);
                }
            }
            return (None, None);
        }
        if let Err(Errno::EAGAIN) = &result {
            let waiting = |w: &Waiter| w.2 == seq && w.0 == ci;
            if self
                .socks
                .get(i)
                .is_some_and(|s| s.waiters.iter().any(waiting) || s.lingerers.iter().any(waiting))
            {
                // A WaitConnect or a Linger: answered when the handshake or the close ends.
                return (None, None);
            }
        }
        let result = match result {
            Ok(Called::Value(v)) => Ok(v),
            Ok(Called::Accepted(a, peer)) => return (reply(Ok(Value::Addr(peer))), Some(a)),
            Ok(Called::AcceptedKernel(w)) => return (reply(Ok(Value::Kernel(w.peer))), Some(w.fd)),
            Ok(Called::Renewed(a)) => return (reply(Ok(Value::None)), Some(a)),
            Err(e) => Err(e),
        };
        match new_end {
            // A new socket whose first call failed (other than a connect under way) is not kept:
            // the program's descriptor stays what it was.
            Some(_) if result.is_err() && result != Err(Errno::EINPROGRESS) => {
                self.release(i, true);
                (reply(result), None)
            }
            a => (reply(result), a),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Sockets.

    /// Room for one more socket in the service's tables, reserved so that adding it cannot abort
    /// for memory: ENOMEM when it cannot be had (crate::memory).
    fn make_room(&mut self) -> Result<()> {
        let ok = self.socks.try_reserve_one()
            && self.by_handle.try_reserve(1).is_ok()
            && self.by_ino.try_reserve(1).is_ok();
        if ok {
            Ok(())
        } else {
            Err(Errno::ENOMEM)
        }
    }

    /// A new stack socket and its socketpair; returns its index and the program's end.
    fn new_sock(&mut self, kind: Kind, inet6: bool) -> Result<(usize, OwnedFd)> {
        let (a, b, ino, name) = self.new_pair(kind, inet6)?;
        let i = self.register(kind, ino, name, b, None)?;
        self.socks.get_mut(i).expect("just made").extra.inet6 = inet6;
        Ok((i, a))
    }

    /// A socketpair for a stack socket: the program's end A (named as ours), the service's end B,
    /// A's inode and its name.
    fn new_pair(&mut self, kind: Kind, inet6: bool) -> Result<(OwnedFd, OwnedFd, u64, Vec<u8>)> {
        if self.full {
            return Err(Errno::ENFILE);
        }
        let ty = match kind {
            Kind::Stream => libc::SOCK_STREAM,
            // Not SOCK_DGRAM: a datagram pair tells one end nothing when the other is closed.
            Kind::Dgram => libc::SOCK_SEQPACKET,
        };
        // Both ends start non-blocking: B always is; the program's side sets A as its socket was.
        let (a, b) = uds::pair(ty | libc::SOCK_NONBLOCK).map_err(|e| {
            if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                self.note_full();
            }
            errno_of(&e)
        })?;
        let name = self.socket_name(kind, inet6);
        uds::bind_abstract(a.as_raw_fd(), &name).map_err(|e| errno_of(&e))?;
        let ino = uds::inode(a.as_raw_fd()).map_err(|e| errno_of(&e))?;
        self.check_room();
        Ok((a, b, ino, name))
    }

    /// A new name for a program's end: [`SOCKET_NAME_PREFIX`], then `<pid>/<serial>/<t|u>`, or
    /// `<pid>/<serial>/6<t|u>` for an AF_INET6 socket: a process that did not make the socket
    /// (after `exec`, or given it over SCM_RIGHTS) learns its kind and family from the name
    /// ([`crate::posix::state::identify`]).
    fn socket_name(&mut self, kind: Kind, inet6: bool) -> Vec<u8> {
        self.serial += 1;
        let mut name = SOCKET_NAME_PREFIX.to_vec();
        name.extend_from_slice(
            format!(
                "{}/{}/{}{}",
                std::process::id(),
                self.serial,
                if inet6 { "6" } else { "" },
                if kind == Kind::Stream { 't' } else { 'u' }
            )
            .as_bytes(),
        );
        name
    }

    /// Linux's tcp_disconnect on TCP socket `i`: a connection is aborted (RST in the states
    /// tcp_need_reset names, which are those [`crate::tcp::Connection::abort`] resets), a listener
    /// stops (resetting the connections nobody accepted), and the socket is fresh again: a new
    /// stack socket with the old one's options, bound where a `bind` put it. Its program end is
    /// new too (the old one has carried end of file and data that must not reach the new life):
    /// an unconnected UNIX stream socket, which polls POLLOUT|POLLHUP as Linux's closed socket
    /// does and refuses reads and writes, paired up with a new end of ours when the socket
    /// connects or listens ([`Service::pair_up`]). SO_ERROR then says ECONNRESET if a connection
    /// was reset or a SYN was outstanding, as Linux's does. Returns the program's new end. A
    /// process that holds the old descriptor still (after a `fork`) sees it hang up.
    fn disconnect(&mut self, i: usize) -> Result<OwnedFd> {
        use crate::tcp::State;
        let now = self.now();
        let sock = self.socks.get(i).ok_or(Errno::EBADF)?;
        let (old, kind, bound) = (sock.h, sock.kind, sock.bound);
        let t = self.stack.tcp_socket_ref(old).ok_or(Errno::EBADF)?;
        let reset = t.connection().is_some_and(|c| {
            matches!(
                c.state(),
                State::SynSent
                    | State::SynReceived
                    | State::Established
                    | State::FinWait1
                    | State::FinWait2
                    | State::CloseWait
            )
        });
        let (config, ip) = (t.config.clone(), t.ip);
        let (reuse_addr, reuse_port, owner) = (t.reuse_addr, t.reuse_port, t.owner);
        let old_port = t.local.map_or(0, |l| l.port());
        let a = uds::socket(libc::SOCK_STREAM | libc::SOCK_NONBLOCK).map_err(|e| errno_of(&e))?;
        let inet6 = sock.extra.inet6;
        let name = self.socket_name(kind, inet6);
        uds::bind_abstract(a.as_raw_fd(), &name).map_err(|e| errno_of(&e))?;
        let ino = uds::inode(a.as_raw_fd()).map_err(|e| errno_of(&e))?;
        let (b, _) =
            uds::pair(libc::SOCK_STREAM | libc::SOCK_NONBLOCK).map_err(|e| errno_of(&e))?;
        // The old socket goes as a close with SO_LINGER zero does (the same tcp_disconnect on
        // Linux), before the new one binds its port.
        if let Ok(t) = self.stack.tcp_socket_mut(old) {
            t.config.linger = Some(Duration::ZERO);
            if let Some(c) = t.connection_mut() {
                c.set_linger(Some(Duration::ZERO));
            }
        }
        let _ = self.stack.close(now, old);
        self.flush_frames();
        // The old socket just gave back its place under the socket bound.
        let h = self.stack.tcp_socket()?;
        if let Ok(t) = self.stack.tcp_socket_mut(h) {
            t.config = config;
            t.ip = ip;
            t.reuse_addr = reuse_addr;
            t.reuse_port = reuse_port;
            t.owner = owner;
        }
        if let Some(addr) = bound {
            if let Err(e) = self.stack.tcp_bind(h, addr) {
                log::debug!(
                    "{h:?} could not keep {addr} through a disconnect: {}",
                    e.name()
                );
            }
        }
        let sock = self.socks.get_mut(i).expect("present");
        let old_ino = std::mem::replace(&mut sock.ino, ino);
        sock.name = name;
        // Closing the old B ends the old descriptor (its epoll registration goes with it); a dead
        // end stands in until the socket is paired up again.
        drop(std::mem::replace(&mut sock.b, b));
        sock.unpaired = true;
        sock.h = h;
        sock.stale_port = old_port;
        sock.phase = Phase::Fresh;
        // A listener's twin ends with its listening.
        sock.twin = None;
        sock.b_readable = false;
        sock.b_shut_seen = false;
        sock.b_err_seen = false;
        sock.b_named = false;
        sock.b_writable = false;
        sock.app_eof = false;
        sock.eof_sent = false;
        sock.failed_after_eof = false;
        sock.send_over = false;
        sock.broken = false;
        sock.app_gone = false;
        sock.app_reset = false;
        sock.app_rd_shut = false;
        sock.held_woken_at = None;
        sock.connected = None;
        if reset {
            sock.error = Some(Errno::ECONNRESET);
        }
        let waiters = std::mem::take(&mut sock.waiters);
        self.by_handle.remove(&old);
        self.by_handle.insert(h, i);
        self.by_ino.remove(&old_ino);
        self.by_ino.insert(ino, i);
        // No B to hang up when the program closes its end: the recheck finds it.
        if !self.doubtful.contains(&i) {
            self.doubtful.push(i);
        }
        self.next_recheck
            .get_or_insert_with(|| std::time::Instant::now() + RECHECK);
        // A blocking connect still waiting on another thread ends as the connection did.
        self.answer_waiters(waiters, Err(Errno::ECONNRESET));
        Ok(a)
    }

    /// Pairs up socket `i`, taken apart by a disconnect, as it connects or listens: its program end
    /// `a` (the request's descriptor) is connected to a new end B of ours, through a listener of
    /// the moment, so the program's descriptor stays the same file.
    fn pair_up(&mut self, i: usize, a: &OwnedFd) -> Result<()> {
        self.serial += 1;
        let name = format!("tapstack-pairing/{}/{}", std::process::id(), self.serial).into_bytes();
        let l = uds::socket(libc::SOCK_STREAM | libc::SOCK_NONBLOCK).map_err(|e| errno_of(&e))?;
        uds::bind_abstract(l.as_raw_fd(), &name).map_err(|e| errno_of(&e))?;
        uds::listen(l.as_raw_fd(), 1).map_err(|e| errno_of(&e))?;
        uds::connect_abstract(a.as_raw_fd(), &name).map_err(|e| errno_of(&e))?;
        let b = uds::accept(l.as_raw_fd()).map_err(|e| errno_of(&e))?;
        // Anyone in the namespace may connect to the listener: B must face the program's end.
        if uds::abstract_peer_name(b.as_raw_fd()) != uds::abstract_name(a.as_raw_fd()) {
            return Err(Errno::EIO);
        }
        urgent_in_line(b.as_raw_fd());
        ep_ctl(
            self.ep.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            b.as_raw_fd(),
            SOCK_EVENTS,
            token(TAG_SOCK, i),
        )
        .map_err(|e| errno_of(&e))?;
        let sock = self.socks.get_mut(i).ok_or(Errno::EBADF)?;
        sock.b = b;
        sock.b_urgent = false;
        sock.b_named = false;
        sock.unpaired = false;
        sock.b_writable = true;
        self.doubtful.retain(|&d| d != i);
        Ok(())
    }

    /// The options a program set on a socket before it reached the service. The kernel socket it
    /// was then took them already, so an error here is not the program's to hear.
    fn apply_options(&mut self, i: usize, options: &[proto::SetOption]) {
        let Some(sock) = self.socks.get_mut(i) else {
            return;
        };
        for o in options {
            let r = options::set(
                &mut self.stack,
                sock.h,
                sock.kind,
                &mut sock.extra,
                o.level,
                o.name,
                &o.value,
            );
            Self::size_udp_pair(sock, o);
            if let (Err(e), libc::IPPROTO_IPV6) = (r, o.level) {
                // Taken by the kernel socket that stood in while the socket was pending, but
                // about IPv6 packets, which a stack socket never sends: said, not kept.
                log::warn!(
                    "IPv6 option {} set before the socket went to the stack is dropped: {}",
                    o.name,
                    e.name()
                );
            }
        }
    }

    /// A new stack socket on a socketpair the program made: `a` its end (bound to a socket name),
    /// `b` ours. They must be a pair: `b`'s peer is the name `a` bears.
    /// ENFILE with the descriptor table full, ENOBUFS at the stack's bound on sockets.
    fn adopt_given(&mut self, kind: Kind, inet6: bool, a: &OwnedFd, b: OwnedFd) -> Result<usize> {
        let name = uds::abstract_name(a.as_raw_fd()).ok_or(Errno::EINVAL)?;
        let ty = match kind {
            Kind::Stream => libc::SOCK_STREAM,
            Kind::Dgram => libc::SOCK_SEQPACKET,
        };
        let ours = name.starts_with(SOCKET_NAME_PREFIX)
            && uds::abstract_peer_name(b.as_raw_fd()).as_deref() == Some(&name[..])
            && uds::get_int(b.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TYPE).ok() == Some(ty);
        if !ours {
            return Err(Errno::EINVAL);
        }
        // SAFETY: F_SETFL takes an integer; a socket has no other status flag worth keeping.
        if unsafe {
            libc::syscall(
                libc::SYS_fcntl,
                b.as_raw_fd(),
                libc::F_SETFL,
                libc::O_NONBLOCK,
            )
        } < 0
        {
            return Err(errno_of(&io::Error::last_os_error()));
        }
        let ino = uds::inode(a.as_raw_fd()).map_err(|e| errno_of(&e))?;
        if self.by_ino.contains_key(&ino) {
            return Err(Errno::EINVAL);
        }
        if self.full {
            return Err(Errno::ENFILE);
        }
        let i = self.register(kind, ino, name, b, None)?;
        self.socks.get_mut(i).expect("just made").extra.inet6 = inet6;
        Ok(i)
    }

    /// Makes the user of client `ci` the owner of the new socket `i`.
    fn set_owner(&mut self, i: usize, ci: usize) {
        let Some(uid) = self.clients.get(ci).map(|c| c.uid) else {
            return;
        };
        if let Some(h) = self.socks.get(i).map(|s| s.h) {
            if let Some(u) = self.stack.udp_socket_mut(h) {
                u.owner = uid;
            } else if let Ok(t) = self.stack.tcp_socket_mut(h) {
                t.owner = uid;
            }
        }
    }

    /// Remembers, for a while, that the socket whose program end has inode `ino` could not be
    /// made, and why.
    fn refuse_socket(&mut self, ino: u64, e: Errno) {
        if self.refused.len() >= REFUSED {
            self.refused.pop_front();
        }
        self.refused.push_back((ino, e));
    }

    /// The answer to `call` about a socket refused at birth, if `ino` is one: its error, once,
    /// as SO_ERROR or a connect's outcome; after that it is a socket that never connected.
    fn refused_answer(&mut self, ino: u64, call: &Call) -> Option<Result<Value>> {
        let at = self.refused.iter().position(|&(i, _)| i == ino)?;
        let e = self.refused[at].1;
        let so_error = matches!(
            call,
            Call::GetOption {
                level: libc::SOL_SOCKET,
                name: libc::SO_ERROR,
                ..
            }
        );
        Some(match call {
            Call::TakeError | Call::ErrorAtEof => {
                self.refused.remove(at);
                Ok(Value::Int(e.0))
            }
            _ if so_error => {
                self.refused.remove(at);
                Ok(Value::Int(e.0))
            }
            Call::WaitConnect => {
                self.refused.remove(at);
                Err(e)
            }
            _ => Err(Errno::ENOTCONN),
        })
    }

    /// Puts the stack socket `h` (or a new one) behind socketpair end `b` (the program's end has
    /// inode `ino` and is bound to `name`).
    fn register(
        &mut self,
        kind: Kind,
        ino: u64,
        name: Vec<u8>,
        b: OwnedFd,
        h: Option<SocketHandle>,
    ) -> Result<usize> {
        self.make_room()?;
        let h = match (h, kind) {
            (Some(h), _) => h,
            // ENOBUFS at the stack's bound on sockets.
            (None, Kind::Stream) => self.stack.tcp_socket()?,
            (None, Kind::Dgram) => self.stack.udp_socket()?,
        };
        let i = self.socks.next_index();
        if kind == Kind::Stream {
            urgent_in_line(b.as_raw_fd());
        }
        if let Err(e) = ep_ctl(
            self.ep.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            b.as_raw_fd(),
            SOCK_EVENTS,
            token(TAG_SOCK, i),
        ) {
            let now = self.now();
            let _ = self.stack.close(now, h);
            return Err(errno_of(&e));
        }
        self.socks.insert(Sock {
            h,
            kind,
            b,
            ino,
            name,
            extra: Extra::default(),
            phase: Phase::Fresh,
            b_readable: false,
            b_shut_seen: false,
            b_err_seen: false,
            b_named: false,
            b_writable: true,
            b_urgent: false,
            app_eof: false,
            eof_sent: false,
            failed_after_eof: false,
            send_over: false,
            broken: false,
            app_gone: false,
            app_reset: false,
            app_rd_shut: false,
            held_woken_at: None,
            error: None,
            connected: None,
            waiters: Vec::new(),
            lingerers: Vec::new(),
            delivered_at: None,
            bound: None,
            stale_port: 0,
            unpaired: false,
            twin: None,
            udp_twin: None,
            loop_peer: None,
        });
        self.by_handle.insert(h, i);
        self.by_ino.insert(ino, i);
        Ok(i)
    }

    /// A request nobody waits for failed: the socket reports it as a failed connect does (the
    /// error in SO_ERROR, writable and hung up).
    fn fail_quietly(&mut self, i: usize, e: Errno) {
        let Some(sock) = self.socks.get_mut(i) else {
            return;
        };
        sock.error = Some(e);
        sock.connected = Some(Err(e));
        sock.broken = true;
        if let Phase::Connecting { hold, filler, .. } =
            std::mem::replace(&mut sock.phase, Phase::Fresh)
        {
            self.hang_up_failed(i, hold, filler);
        } else {
            let _ = uds::shutdown(sock.b.as_raw_fd(), libc::SHUT_RDWR);
        }
    }

    /// Ends a connect that failed as Linux's socket shows it: `poll` reports POLLERR, POLLHUP,
    /// POLLIN and POLLOUT at once, from one wake-up. The kernel does it for us: closing our end B
    /// while its queue holds bytes the program's end A wrote (the filler) sets ECONNRESET on A
    /// and shuts it both ways (af_unix's unix_release_sock), and the same close frees the filler,
    /// so A is writable too. Taking the filler back first would wake a poll with POLLOUT alone
    /// before the hang-up. The shim turns what A then reports (ECONNRESET on a read) into the
    /// connection's error. B gives way to a dead end, and the program's last close of A is found
    /// by the recheck, as no hang-up on B can tell it any more.
    fn hang_up_failed(&mut self, i: usize, hold: OwnedFd, filler: usize) {
        let Some(sock) = self.socks.get_mut(i) else {
            return;
        };
        // A filler of nothing (the program could not write it): one byte, from A, does.
        let queued = filler > 0 || uds::write(hold.as_raw_fd(), &[0]).is_ok_and(|n| n == 1);
        drop(hold);
        let dead = uds::pair(libc::SOCK_STREAM | libc::SOCK_NONBLOCK).map(|(end, _)| end);
        match dead {
            Ok(dead) if queued => {
                // All but a byte of the filler read first: closing B with that byte unread gives
                // A its ECONNRESET (POLLERR), and A, no longer charged for the rest, polls writable
                // as the kernel's failed socket does, already when the close wakes it (the kernel
                // frees B's queue only after waking A).
                drain(sock.b.as_raw_fd(), filler.saturating_sub(1));
                drop(std::mem::replace(&mut sock.b, dead));
                sock.b_readable = false;
                sock.b_writable = false;
                sock.app_eof = true;
                sock.eof_sent = true;
                if !self.doubtful.contains(&i) {
                    self.doubtful.push(i);
                }
                self.next_recheck
                    .get_or_insert_with(|| std::time::Instant::now() + RECHECK);
            }
            _ => {
                // Without a spare descriptor: hung up, though without POLLERR.
                drain(sock.b.as_raw_fd(), filler);
                let _ = uds::shutdown(sock.b.as_raw_fd(), libc::SHUT_RDWR);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn call(
        &mut self,
        i: usize,
        call: Call,
        held: Option<OwnedFd>,
        new_end: Option<&OwnedFd>,
        ci: usize,
        generation: u64,
        seq: u32,
    ) -> Result<Called> {
        let now = self.now();
        // sendto(MSG_FASTOPEN)'s connect is a connect, with Fast Open.
        // A zero-length one sends its SYN at once (`bare`).
        let (call, fast_open, bare) = match call {
            Call::FastOpenConnect(a) => (Call::Connect(Some(a)), true, false),
            Call::FastOpenConnectEmpty(a) => (Call::Connect(Some(a)), true, true),
            call => (call, false, false),
        };
        if matches!(call, Call::Connect(Some(_)) | Call::Listen(_))
            && self.socks.get(i).is_some_and(|s| s.unpaired)
        {
            self.pair_up(i, held.as_ref().ok_or(Errno::EBADF)?)?;
        }
        let sock = self.socks.get_mut(i).ok_or(Errno::EBADF)?;
        let (h, kind) = (sock.h, sock.kind);
        let none = Ok(Called::Value(Value::None));
        match call {
            Call::Bind(a) => {
                // Linux's inet_bind: a port below ip_unprivileged_port_start wants
                // CAP_NET_BIND_SERVICE (EACCES).
                if a.port() != 0
                    && a.port() < self.unprivileged_port_start
                    && !self.clients.get(ci).is_some_and(|c| c.may_bind_privileged)
                {
                    return Err(Errno::EACCES);
                }
                match kind {
                    Kind::Stream => self.stack.tcp_bind(h, a)?,
                    Kind::Dgram => self.stack.udp_bind(h, a)?,
                }
                if a.port() != 0 {
                    sock.bound = Some(a);
                }
                if kind == Kind::Dgram && a.ip().is_unspecified() {
                    self.open_udp_twin(i);
                }
                none
            }
            Call::Disconnect { connecting } => match kind {
                Kind::Stream => {
                    let syn_sent = self
                        .stack
                        .tcp_socket_ref(h)
                        .and_then(|t| t.connection())
                        .is_some_and(|c| c.state() == crate::tcp::State::SynSent);
                    if connecting && !syn_sent {
                        return Err(Errno::EISCONN);
                    }
                    self.disconnect(i).map(Called::Renewed)
                }
                Kind::Dgram => {
                    self.stack.udp_connect(h, None)?;
                    sock.loop_peer = None;
                    none
                }
            },
            Call::Connect(a) => match kind {
                Kind::Dgram => match a {
                    Some(peer) if peer.ip().is_loopback() || peer.ip().is_unspecified() => {
                        self.connect_loopback(i, peer)?;
                        none
                    }
                    _ => {
                        self.stack.udp_connect(h, a)?;
                        sock.loop_peer = None;
                        none
                    }
                },
                Kind::Stream => {
                    let a = a.ok_or(Errno::EAFNOSUPPORT)?;
                    if matches!(sock.phase, Phase::Connecting { .. }) {
                        return Err(Errno::EALREADY);
                    }
                    if matches!(sock.phase, Phase::Open) {
                        return Err(Errno::EISCONN);
                    }
                    if sock.broken {
                        // A connect that failed reports its error to the next connect, once (as
                        // Linux's inet_stream_connect); after that the socket is done.
                        return Err(sock.error.take().unwrap_or(Errno::ECONNABORTED));
                    }
                    // The program's end, to fill and later restore: the one it sent, or the new one.
                    let hold = match (held, new_end) {
                        (Some(h), _) => h,
                        (None, Some(a)) => a.try_clone().map_err(|e| {
                            self.note_full();
                            errno_of(&e)
                        })?,
                        (None, None) => return Err(Errno::EBADF),
                    };
                    if fast_open {
                        self.stack.tcp_connect_fast_open(now, h, a)?;
                    } else {
                        self.stack.tcp_connect(now, h, a)?;
                    }
                    if bare {
                        self.stack.tcp_send_held_syn(now, h)?;
                    }
                    if self.stack.tcp_connect_deferred(h) {
                        // Fast Open with a cookie: connected at once, the SYN waits for the
                        // program's first write (Linux's TCP_FASTOPEN_CONNECT); the shim learns
                        // how much of it the SYN takes.
                        let room = self
                            .stack
                            .tcp_socket_ref(h)
                            .and_then(|t| t.connection())
                            .map_or(0, |c| c.syn_data_room());
                        let sock = self.socks.get_mut(i).expect("present");
                        sock.connected = None;
                        sock.phase = Phase::Open;
                        return Ok(Called::Value(
                            Value::Int(room.min(i32::MAX as usize) as i32),
                        ));
                    }
                    let (filler, sndbuf) = fill(&hold);
                    let sock = self.socks.get_mut(i).expect("present");
                    sock.connected = None;
                    sock.phase = Phase::Connecting {
                        hold,
                        filler,
                        sndbuf,
                    };
                    Err(Errno::EINPROGRESS)
                }
            },
            Call::ConnectFilled { addr, filler } => {
                if kind != Kind::Stream || !matches!(sock.phase, Phase::Fresh) {
                    return Err(Errno::EINVAL);
                }
                let hold = held.ok_or(Errno::EBADF)?;
                // Connecting from here, so a failure below takes the filler back too.
                sock.connected = None;
                sock.phase = Phase::Connecting {
                    hold,
                    filler: filler as usize,
                    sndbuf: default_sndbuf(),
                };
                self.stack.tcp_connect(now, h, addr)?;
                Err(Errno::EINPROGRESS)
            }
            Call::WaitConnect => {
                if let Some(r) = sock.connected.take() {
                    return r.map(|_| Called::Value(Value::None));
                }
                match sock.phase {
                    Phase::Connecting { .. } => {
                        sock.waiters.push((ci, generation, seq));
                        Err(Errno::EAGAIN)
                    }
                    Phase::Open => none,
                    _ => Err(sock.error.take().unwrap_or(Errno::ENOTCONN)),
                }
            }
            Call::Listen(backlog) => {
                if kind != Kind::Stream {
                    return Err(Errno::EOPNOTSUPP);
                }
                // Linux clamps the backlog to somaxconn (4096); a negative one means the maximum.
                let asked = backlog;
                let backlog = if backlog < 0 { 4096 } else { backlog as usize };
                self.stack.tcp_listen(h, backlog)?;
                let sock = self.socks.get_mut(i).expect("present");
                if !matches!(sock.phase, Phase::Listening { .. }) {
                    sock.phase = Phase::Listening { tokens: 0 };
                }
                self.open_twin(i, asked);
                none
            }
            Call::Accept => {
                let Phase::Listening { tokens } = &mut sock.phase else {
                    return Err(Errno::EINVAL);
                };
                // The caller read a token for this connection.
                *tokens = tokens.saturating_sub(1);
                // The oldest connection first, whichever queue holds it.
                let on_loopback = sock
                    .twin
                    .as_mut()
                    .and_then(|t| t.next(accept_queue_len(&self.stack, h)));
                if let Some(w) = on_loopback {
                    log::debug!("accept on {h:?}: a kernel connection on loopback");
                    self.take_loopback(i);
                    return Ok(Called::AcceptedKernel(w));
                }
                let behind = sock.twin.as_ref().is_some_and(|t| t.behind);
                let listener_extra = sock.extra;
                if behind {
                    self.take_loopback(i);
                }
                // The socketpair first, as Linux allocates the new socket before it dequeues:
                // without one (ENFILE) the connection stays queued, and its token is written
                // again for a later accept.
                let (a, b, ino, name) = match self
                    .make_room()
                    .and_then(|()| self.new_pair(Kind::Stream, listener_extra.inet6))
                {
                    Ok(x) => x,
                    Err(e) => {
                        self.pump_listener(i);
                        return Err(e);
                    }
                };
                let (child, peer) = self.stack.tcp_accept(now, h)?;
                log::debug!("accept on {h:?}: {child:?} from {peer}");
                let ni = self.register(Kind::Stream, ino, name, b, Some(child))?;
                // The accepted connection takes its listener's socket-level settings, as Linux's
                // sk_clone gives them.
                let sock = self.socks.get_mut(ni).expect("just made");
                sock.extra = listener_extra;
                sock.phase = Phase::Open;
                self.pump(ni);
                Ok(Called::Accepted(a, peer))
            }
            Call::LocalAddr => {
                let mut a = self.stack.local_addr(h)?;
                // Connected to loopback: Linux's socket then has 127.0.0.1 as its source.
                if sock.loop_peer.is_some() {
                    a.set_ip(std::net::Ipv4Addr::LOCALHOST);
                }
                // A connected socket reports the address it uses, not the wildcard it was bound to.
                if a.ip().is_unspecified() && self.stack.peer_addr(h).is_ok() {
                    a.set_ip(self.stack.iface().addr);
                }
                if a.port() == 0 {
                    a.set_port(sock.stale_port);
                }
                Ok(Called::Value(Value::Addr(a)))
            }
            Call::PeerAddr => match sock.loop_peer {
                Some(peer) => Ok(Called::Value(Value::Addr(peer))),
                None => Ok(Called::Value(Value::Addr(self.stack.peer_addr(h)?))),
            },
            Call::SetOption(o) => {
                // Linux's sock_setsockopt: the FORCE sizes want CAP_NET_ADMIN.
                if o.level == libc::SOL_SOCKET
                    && matches!(o.name, libc::SO_RCVBUFFORCE | libc::SO_SNDBUFFORCE)
                    && !self.clients.get(ci).is_some_and(|c| c.net_admin)
                {
                    return Err(Errno::EPERM);
                }
                options::set(
                    &mut self.stack,
                    h,
                    kind,
                    &mut sock.extra,
                    o.level,
                    o.name,
                    &o.value,
                )?;
                if let Some(twin) = &sock.twin {
                    twin.set_option(&o);
                }
                if let Some(twin) = &sock.udp_twin {
                    twin.set_option(&o);
                }
                Self::size_udp_pair(sock, &o);
                none
            }
            Call::GetOption { level, name, .. } => {
                if (level, name) == (libc::SOL_SOCKET, libc::SO_ERROR) {
                    let e = sock
                        .error
                        .take()
                        .or_else(|| self.stack.take_socket_error(h));
                    return Ok(Called::Value(Value::Int(e.map_or(0, |e| e.0))));
                }
                // Whole: the program's side cuts it to its buffer as Linux does.
                let mut v = options::get(&mut self.stack, h, kind, &sock.extra, level, name)?;
                v.truncate(proto::MAX_OPTION);
                Ok(Called::Value(Value::Bytes(v)))
            }
            Call::TakeError => {
                let e = sock
                    .error
                    .take()
                    .or_else(|| self.stack.take_socket_error(h));
                Ok(Called::Value(Value::Int(e.map_or(0, |e| e.0))))
            }
            Call::ErrorAtEof => {
                if sock.failed_after_eof {
                    return Ok(Called::Value(Value::Int(0)));
                }
                let e = sock
                    .error
                    .take()
                    .or_else(|| self.stack.take_socket_error(h));
                Ok(Called::Value(Value::Int(e.map_or(0, |e| e.0))))
            }
            Call::Linger => {
                sock.lingerers.push((ci, generation, seq));
                Err(Errno::EAGAIN)
            }
            Call::SendMore(on) => {
                if let Some(c) = self.stack.tcp_socket_mut(h)?.connection_mut() {
                    c.set_more(on);
                }
                none
            }
            Call::DeliveredAt => {
                // Kept on the service's monotonic clock, given as wall-clock time: now less its age.
                let ns = sock
                    .delivered_at
                    .map(|t| now.saturating_since(t))
                    .and_then(|age| std::time::SystemTime::now().checked_sub(age))
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos() as u64);
                Ok(Called::Value(Value::Bytes(ns.to_ne_bytes().to_vec())))
            }
            // Made a Connect above.
            Call::FastOpenConnect(_) | Call::FastOpenConnectEmpty(_) => Err(Errno::EINVAL),
            Call::ReadHeld { len, peek } => {
                if kind != Kind::Stream {
                    return Err(Errno::EOPNOTSUPP);
                }
                // The program's end is shut for reading: nothing more can go into it, and what
                // the stack has is all that came after what it read there.
                sock.app_rd_shut = true;
                // Fallible: a service short of memory answers ENOMEM, as recvmsg may.
                let mut buf =
                    crate::memory::try_buffer((len as usize).min(1 << 16)).ok_or(Errno::ENOMEM)?;
                let n = self.stack.tcp_recv(now, h, &mut buf, peek).unwrap_or(0);
                buf.truncate(n);
                Ok(Called::Value(Value::Bytes(buf)))
            }
            Call::HeldLen => {
                if kind != Kind::Stream {
                    return Err(Errno::EOPNOTSUPP);
                }
                let n = self
                    .stack
                    .tcp_socket_ref(h)
                    .and_then(|t| t.connection())
                    .map_or(0, |c| c.recv_queue_len());
                Ok(Called::Value(Value::Int(n.min(i32::MAX as usize) as i32)))
            }
            Call::UrgentPending => {
                if kind != Kind::Stream {
                    return Err(Errno::EOPNOTSUPP);
                }
                let pending = self
                    .stack
                    .tcp_socket_ref(h)
                    .and_then(|t| t.connection())
                    .is_some_and(|c| c.urgent_pending());
                Ok(Called::Value(Value::Int(pending as i32)))
            }
            Call::Unsent => {
                let n = self
                    .stack
                    .tcp_socket_ref(h)
                    .and_then(|t| t.connection())
                    .map_or(0, |c| c.send_queue_len());
                Ok(Called::Value(Value::Int(
                    (n + uds::queued(sock.b.as_raw_fd()).unwrap_or(0)).min(i32::MAX as usize)
                        as i32,
                )))
            }
        }
    }

    fn sock_event(&mut self, i: usize, flags: u32) {
        let Some(sock) = self.socks.get_mut(i) else {
            return;
        };
        if flags & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP) as u32 != 0 {
            sock.b_readable = true;
        }
        if flags & libc::EPOLLOUT as u32 != 0 {
            sock.b_writable = true;
        }
        if flags & libc::EPOLLPRI as u32 != 0 {
            sock.b_urgent = true;
            sock.b_readable = true;
        }
        if flags & (libc::EPOLLRDHUP | libc::EPOLLHUP) as u32 != 0 {
            sock.b_shut_seen = true;
        }
        if flags & libc::EPOLLERR as u32 != 0 {
            sock.b_err_seen = true;
        }
        if flags & libc::EPOLLHUP as u32 != 0 && !sock.app_gone {
            if self.alive(i) {
                // Shut both ways but still held (a program's shutdown(SHUT_RDWR), or our own after
                // an error): look again later.
                if !self.doubtful.contains(&i) {
                    self.doubtful.push(i);
                }
                self.next_recheck
                    .get_or_insert_with(|| std::time::Instant::now() + RECHECK);
            } else if let Some(sock) = self.socks.get_mut(i) {
                sock.app_gone = true;
            }
        }
        self.pump(i);
    }

    /// Whether the descriptor table has room for a whole graveyard and more, by a generous count
    /// of what the service holds (each socket two at most, its end and a held end while it
    /// connects; a client one; its own few) against RLIMIT_NOFILE, read anew (prlimit may
    /// change it).
    fn far_from_limit(&self) -> bool {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `lim` is a valid out pointer.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            return false;
        }
        let held = 2 * self.socks.len() + self.clients.len() + 2 * GRAVEYARD + 256;
        (held as u64) < lim.rlim_cur
    }

    /// Whether the program's end of socket `i` is still held by anyone. Its name tells first, and
    /// cheaply: the kernel frees it with the end's last descriptor, so a name free to bind means
    /// the end is gone. A name still taken is asked of sock_diag by inode, which no other socket
    /// bearing the name could fool (sock_diag's lookup walks every UNIX socket of the namespace,
    /// so it is kept for that rarer answer: a shutdown both ways, not a close). The probe, bound
    /// to the name, is closed with the next released sockets' ends ([`Service::bury`]).
    fn alive(&mut self, i: usize) -> bool {
        let Some(sock) = self.socks.get(i) else {
            return false;
        };
        let ty = match sock.kind {
            Kind::Stream => libc::SOCK_STREAM,
            Kind::Dgram => libc::SOCK_SEQPACKET,
        };
        if !sock.name.is_empty() {
            if let Ok(Some(probe)) = uds::claim_abstract_name(ty, &sock.name) {
                self.bury(probe);
                return false;
            }
        }
        self.diag
            .as_ref()
            .is_none_or(|d| uds::unix_socket_alive(d, sock.ino))
    }

    fn recheck_doubtful(&mut self) {
        let list = std::mem::take(&mut self.doubtful);
        for i in list {
            if self.socks.get(i).is_none() {
                continue;
            }
            if self.alive(i) {
                self.doubtful.push(i);
            } else if let Some(sock) = self.socks.get_mut(i) {
                sock.app_gone = true;
                self.pump(i);
            }
        }
        self.next_recheck =
            (!self.doubtful.is_empty()).then(|| std::time::Instant::now() + RECHECK);
    }

    /// Moves whatever can move for socket `i`, and ends it when the program is gone.
    fn pump(&mut self, i: usize) {
        self.mark_soft_error(i);
        let Some(sock) = self.socks.get(i) else {
            return;
        };
        match (&sock.phase, sock.kind) {
            (Phase::Connecting { .. }, _) => self.check_connect(i),
            (Phase::Listening { .. }, _) => self.pump_listener(i),
            (Phase::Open, Kind::Stream) => self.pump_tcp(i),
            (_, Kind::Dgram) => self.pump_udp(i),
            (Phase::Fresh, Kind::Stream) => self.discard_app_writes(i),
        }
        let Some(sock) = self.socks.get(i) else {
            return;
        };
        if sock.app_gone {
            let drained = sock.app_eof;
            let reset = sock.app_reset
                || (sock.b_err_seen
                    && uds::get_int(sock.b.as_raw_fd(), libc::SOL_SOCKET, libc::SO_ERROR)
                        .is_ok_and(|e| e == libc::ECONNRESET));
            let done = match (&sock.phase, sock.kind) {
                (Phase::Open, Kind::Stream) => drained || reset || sock.broken,
                _ => true,
            };
            if done {
                self.release(i, reset);
            }
        }
    }

    /// Names B once socket `i`'s connection holds a soft error, so that the program's SO_ERROR,
    /// which answers 0 by itself while B is unnamed, asks the service (a socket binds once: B
    /// stays named, and later SO_ERROR calls always ask).
    fn mark_soft_error(&mut self, i: usize) {
        let Some(sock) = self.socks.get_mut(i) else {
            return;
        };
        if sock.kind != Kind::Stream || sock.b_named || !self.stack.tcp_soft_error_pending(sock.h) {
            return;
        }
        self.serial += 1;
        let mut name = SOFT_ERROR_NAME_PREFIX.to_vec();
        name.extend_from_slice(format!("{}/{}", std::process::id(), self.serial).as_bytes());
        if uds::bind_abstract(sock.b.as_raw_fd(), &name).is_err() {
            log::warn!("a socket's soft error could not be marked: SO_ERROR may miss it");
        }
        // Tried once either way: a bind that failed would fail again.
        sock.b_named = true;
    }

    /// Data written on a socket that is not connected goes nowhere.
    fn discard_app_writes(&mut self, i: usize) {
        let Service { socks, scratch, .. } = self;
        let Some(sock) = socks.get_mut(i) else {
            return;
        };
        while sock.b_readable && !sock.app_eof {
            match uds::read(sock.b.as_raw_fd(), scratch) {
                Ok(0) => sock.app_eof = true,
                Ok(_) => {}
                Err(_) => sock.b_readable = false,
            }
        }
    }

    fn check_connect(&mut self, i: usize) {
        let sock = self.socks.get_mut(i).expect("present");
        let status = self.stack.tcp_connect_status(sock.h);
        if status == Err(Errno::EAGAIN) {
            return;
        }
        let Phase::Connecting {
            hold,
            filler,
            sndbuf,
        } = std::mem::replace(&mut sock.phase, Phase::Fresh)
        else {
            return;
        };
        let waiters = std::mem::take(&mut sock.waiters);
        match status {
            Ok(()) => {
                // Take the filler back: A becomes writable, and the program's poll wakes.
                drain(sock.b.as_raw_fd(), filler);
                // setsockopt doubles what it is given; getsockopt reported the doubled value.
                let _ = uds::set_int(
                    hold.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_SNDBUF,
                    sndbuf / 2,
                );
                drop(hold);
                sock.phase = Phase::Open;
                sock.connected = Some(Ok(()));
            }
            Err(e) => {
                // As the kernel: SO_ERROR holds the error, the socket polls as in error, writable
                // and hung up; a blocking connect returns the error.
                sock.error = Some(e);
                sock.connected = Some(Err(e));
                sock.broken = true;
                self.hang_up_failed(i, hold, filler);
            }
        }
        let sock = self.socks.get_mut(i).expect("present");
        let answer = sock.connected.expect("just set");
        if !waiters.is_empty() {
            sock.connected = None;
            if let Err(e) = answer {
                if sock.error == Some(e) {
                    sock.error = None;
                }
            }
        }
        self.answer_waiters(waiters, answer.map(|_| Value::None));
        if self.spares.len() < SPARES {
            // A spare's number may have been what held A during the connect.
            self.regain_spare();
        }
        if answer.is_ok() {
            self.pump_tcp(i);
        }
    }

    fn pump_listener(&mut self, i: usize) {
        let sock = self.socks.get_mut(i).expect("present");
        let stack_queued = accept_queue_len(&self.stack, sock.h);
        let mut queued = stack_queued;
        if let Some(twin) = sock.twin.as_mut() {
            twin.count_stack(stack_queued);
            queued += twin.waiting.len();
        }
        let Phase::Listening { tokens } = &mut sock.phase else {
            return;
        };
        while *tokens < queued {
            match uds::write(sock.b.as_raw_fd(), &[1]) {
                Ok(_) => *tokens += 1,
                Err(e) => {
                    log::debug!("token for {:?} not written: {e}", sock.h);
                    break;
                }
            }
        }

        // Whatever the program writes on a listener goes nowhere.
        if sock.b_readable {
            self.discard_app_writes(i);
        }
    }

    /// Gives listener `i`, listening on the wildcard, its twin on the kernel's loopback, or a
    /// new backlog to the one it has (a second `listen`). A listener on one address has none: on
    /// Linux it takes no loopback connection either.
    fn open_twin(&mut self, i: usize, backlog: i32) {
        let Some(sock) = self.socks.get(i) else {
            return;
        };
        if let Some(twin) = &sock.twin {
            twin.relisten(backlog);
            return;
        }
        let Ok(local) = self.stack.local_addr(sock.h) else {
            return;
        };
        if !local.ip().is_unspecified() || self.full {
            return;
        }
        let options: Vec<proto::SetOption> = loopback::INHERITED
            .iter()
            .filter_map(|&(level, name)| {
                let value =
                    options::get(&mut self.stack, sock.h, sock.kind, &sock.extra, level, name);
                value
                    .ok()
                    .map(|value| proto::SetOption { level, name, value })
            })
            .collect();
        let twin = match loopback::Twin::open(sock.extra.inet6, local.port(), backlog, &options) {
            Ok(t) => t,
            Err(e) => {
                // A kernel program has the port on loopback (or the namespace no loopback).
                log::debug!(
                    "{:?} has no twin on loopback port {}: {e}",
                    sock.h,
                    local.port()
                );
                self.check_room();
                return;
            }
        };
        for fd in twin.listeners() {
            if let Err(e) = ep_ctl(
                self.ep.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd,
                (libc::EPOLLIN | libc::EPOLLET) as u32,
                token(TAG_LOOPBACK, i),
            ) {
                log::debug!("{:?}'s twin on loopback cannot be watched: {e}", sock.h);
                return;
            }
        }
        if let Some(sock) = self.socks.get_mut(i) {
            sock.twin = Some(Box::new(twin));
        }
        self.check_room();
    }

    /// Takes the connections listener `i`'s twin on loopback has accepted (up to
    /// [`loopback::HELD`]) and counts them in its tokens.
    fn take_loopback(&mut self, i: usize) {
        let full = self.full;
        let Some(twin) = self.socks.get_mut(i).and_then(|s| s.twin.as_mut()) else {
            return;
        };
        if full {
            // Taken once a descriptor is free: at the next accept or connection.
            twin.behind = true;
            return;
        }
        let before = twin.waiting.len();
        let stopped = twin.take();
        let took = twin.waiting.len() > before;
        twin.behind = false;
        if let Some(e) = stopped {
            if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                twin.behind = true;
                self.note_full();
            } else {
                log::debug!("accepting on a twin on loopback failed: {e}");
            }
        }
        if took {
            self.check_room();
            self.pump_listener(i);
        }
    }

    /// Gives UDP socket `i`, bound to the wildcard, its twin on the kernel's loopback unless it
    /// has one. Returns whether it has one now (a socket bound to one address has none: on Linux
    /// it takes no loopback datagram either).
    fn open_udp_twin(&mut self, i: usize) -> bool {
        let Some(sock) = self.socks.get_mut(i) else {
            return false;
        };
        let had = sock.udp_twin.is_some();
        let has = Self::udp_twin_for(&mut self.stack, self.ep.as_raw_fd(), self.full, sock, i);
        if has && !had {
            self.check_room();
        }
        has
    }

    /// [`Service::open_udp_twin`] on socket `sock` (at `i`), for a caller that holds it.
    fn udp_twin_for(stack: &mut Stack, ep: RawFd, full: bool, sock: &mut Sock, i: usize) -> bool {
        if sock.udp_twin.is_some() {
            return true;
        }
        let Ok(local) = stack.local_addr(sock.h) else {
            return false;
        };
        if !local.ip().is_unspecified() || local.port() == 0 || full {
            return false;
        }
        let options: Vec<proto::SetOption> = udp_loopback::INHERITED
            .iter()
            .filter_map(|&(level, name)| {
                let value = options::get(stack, sock.h, sock.kind, &sock.extra, level, name);
                value
                    .ok()
                    .map(|value| proto::SetOption { level, name, value })
            })
            .collect();
        let twin = match UdpTwin::open(sock.extra.inet6, local.port(), &options) {
            Ok(t) => t,
            Err(e) => {
                // A kernel program has the port on loopback (or the namespace no loopback).
                log::debug!(
                    "{:?} has no UDP twin on loopback port {}: {e}",
                    sock.h,
                    local.port()
                );
                return false;
            }
        };
        for fd in twin.sockets() {
            if let Err(e) = ep_ctl(
                ep,
                libc::EPOLL_CTL_ADD,
                fd,
                libc::EPOLLIN as u32,
                token(TAG_UDP_LOOPBACK, i),
            ) {
                log::debug!("{:?}'s UDP twin on loopback cannot be watched: {e}", sock.h);
                return false;
            }
        }
        sock.udp_twin = Some(Box::new(twin));
        true
    }

    /// Connects UDP socket `i` to `peer` on loopback (127.x, or 0.0.0.0 for the local host, which
    /// Linux's connect makes 127.0.0.1): through its twin there, which a socket on the wildcard
    /// has or now gets. The stack socket itself is left unconnected. One bound to the stack's own
    /// address cannot (Linux would send from that address over `lo`, which the kernel here does
    /// not have): ENETUNREACH, as the stack answers for loopback; one whose port on loopback is a
    /// kernel program's, EADDRINUSE.
    fn connect_loopback(&mut self, i: usize, peer: SocketAddrV4) -> Result<()> {
        if peer.port() == 0 {
            return Err(Errno::EINVAL);
        }
        let peer = if peer.ip().is_unspecified() {
            SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, peer.port())
        } else {
            peer
        };
        let h = self.socks.get(i).ok_or(Errno::EBADF)?.h;
        if !self.open_udp_twin(i) {
            let wildcard = self
                .stack
                .local_addr(h)
                .is_ok_and(|a| a.ip().is_unspecified());
            return Err(if wildcard {
                Errno::EADDRINUSE
            } else {
                Errno::ENETUNREACH
            });
        }
        self.stack.udp_connect(h, None)?;
        if let Some(sock) = self.socks.get_mut(i) {
            sock.loop_peer = Some(peer);
        }
        Ok(())
    }

    /// Passes what UDP socket `i`'s twin on loopback received into its socketpair, as datagrams
    /// from their senders (one connected to loopback takes only its peer's, one connected to a
    /// peer on the stack none). A datagram the program's queue cannot take is dropped, as a full
    /// receive buffer drops it.
    fn pump_udp_twin(&mut self, i: usize) {
        let Service {
            socks,
            stack,
            scratch,
            ..
        } = self;
        let Some(sock) = socks.get_mut(i) else {
            return;
        };
        let Some(twin) = sock.udp_twin.as_ref() else {
            return;
        };
        let b = sock.b.as_raw_fd();
        let stack_peer = stack.peer_addr(sock.h).is_ok();
        // Level-triggered: what is left waits for the next round.
        for _ in 0..256 {
            let Some(got) = twin.recv(&mut scratch[proto::DGRAM_HEADER..]) else {
                break;
            };
            // Linux's connected socket takes only its peer's datagrams (__udp4_lib_lookup scores
            // a connected socket's peer).
            if stack_peer
                || sock
                    .loop_peer
                    .is_some_and(|peer| got.from_ipv6_loopback || got.from != peer)
            {
                continue;
            }
            let header = proto::Incoming {
                from: got.from,
                dst: SocketAddrV4::new(got.dst, twin.port()),
                ttl: got.ttl,
                tos: got.tos,
                ifindex: got.ifindex,
                // IPv6's datagrams come with none of IPv4's control messages (Linux's
                // udpv6_recvmsg gives them for IPv4 traffic only), IPV6_PKTINFO alone.
                report: if got.from_ipv6_loopback {
                    sock.extra.report & proto::report::PKTINFO6
                } else {
                    sock.extra.report
                },
                from_ipv6_loopback: got.from_ipv6_loopback,
            }
            .header();
            let payload = &scratch[proto::DGRAM_HEADER..proto::DGRAM_HEADER + got.len];
            if uds::send(b, &[&header, payload], None, libc::MSG_DONTWAIT).is_err() {
                log::debug!("a datagram on loopback was dropped: the program's queue is full");
            }
        }
    }

    fn pump_tcp(&mut self, i: usize) {
        let now = self.now();
        let Service {
            socks,
            stack,
            scratch,
            ..
        } = self;
        let Some(sock) = socks.get_mut(i) else {
            return;
        };
        let h = sock.h;
        let b = sock.b.as_raw_fd();
        note_failure(stack, sock);
        // The network to the program: written from the receive buffer straight into B.
        for _ in 0..64 {
            if sock.eof_sent || sock.broken || !(sock.b_writable || sock.app_rd_shut) {
                break;
            }
            if sock.app_rd_shut && !sock.app_gone {
                // The program shut its reading: what arrives waits in the stack (acknowledged,
                // in the window) for its reads, as on Linux. Each arrival in order (data or FIN)
                // still wakes the program's end, as Linux's tcp_data_queue does whatever the
                // shutdown, so that edge-triggered epoll reports it: shutting B's sending again
                // changes nothing (A's reading is shut already) but wakes A (af_unix's
                // unix_shutdown calls the peer's sk_state_change).
                let mark = stack
                    .tcp_socket_ref(h)
                    .and_then(|t| t.connection())
                    .map(|c| c.rcv_nxt().0);
                if mark.is_some() && mark != sock.held_woken_at {
                    sock.held_woken_at = mark;
                    let _ = uds::shutdown(b, libc::SHUT_WR);
                }
                break;
            }
            if !sock.app_rd_shut {
                // The peer's urgent byte, once everything before it is in B: B's own
                // out-of-band byte, so A's reads stop at its mark, and SIOCATMARK,
                // recv(MSG_OOB), POLLPRI, SIGURG and SO_OOBINLINE on A are the kernel's.
                let mut sent = None;
                let took = stack.tcp_urgent_with(now, h, |byte| {
                    let r = uds::send(b, &[&[byte]], None, libc::MSG_DONTWAIT | libc::MSG_OOB);
                    let ok = r.is_ok();
                    sent = Some(r);
                    ok
                });
                match sent {
                    _ if took => {
                        sock.delivered_at = Some(now);
                        continue;
                    }
                    Some(Err(e)) if e.raw_os_error() == Some(libc::EAGAIN) => {
                        sock.b_writable = false;
                        break;
                    }
                    Some(Err(e)) => {
                        sock.app_reset |= e.raw_os_error() == Some(libc::ECONNRESET);
                        sock.app_rd_shut = true;
                        continue;
                    }
                    _ => {}
                }
            }
            if !sock.app_rd_shut
                && sock.extra.rcvlowat > 1
                && below_low_water(stack, h, sock.extra.rcvlowat, b)
            {
                break;
            }
            let mut wrote = None;
            let r = if sock.app_rd_shut {
                // The program is gone: what arrives is dropped. Data it had not read (held after
                // its shutdown(SHUT_RD), or come before the service saw it go) makes its close
                // a reset, as Linux's tcp_close does for any data left unread (RFC 2525 §2.17).
                let r = stack.tcp_recv(now, h, scratch, false);
                sock.app_reset |= matches!(r, Ok(n) if n > 0);
                r
            } else {
                stack.tcp_recv_with(now, h, |x, y| {
                    let w = uds::send(b, &[x, y], None, libc::MSG_DONTWAIT);
                    let n = *w.as_ref().unwrap_or(&0);
                    wrote = Some(w);
                    n
                })
            };
            match (r, wrote) {
                (Ok(_), Some(Err(e))) if e.raw_os_error() == Some(libc::EAGAIN) => {
                    sock.b_writable = false;
                }
                (Ok(_), Some(Err(e))) => {
                    sock.app_reset |= e.raw_os_error() == Some(libc::ECONNRESET);
                    sock.app_rd_shut = true;
                }
                (Ok(_), Some(Ok(n))) => {
                    if n > 0 {
                        sock.delivered_at = Some(now);
                    }
                }
                (Ok(0), None) if !sock.app_rd_shut => {
                    // End of file: the peer's FIN, after everything it sent.
                    let _ = uds::shutdown(b, libc::SHUT_WR);
                    sock.eof_sent = true;
                }
                (Ok(0), None) => sock.eof_sent = true,
                (Ok(_), None) => {}
                (Err(Errno::EAGAIN), _) => break,
                (Err(e), _) => {
                    // Reset or timed out: reads find end of file (the shim turns it into this
                    // error), writes EPIPE.
                    sock.error = Some(e);
                    sock.broken = true;
                    let _ = uds::shutdown(b, libc::SHUT_RDWR);
                }
            }
        }
        // A FIN passed on just now may have had the failure behind it.
        note_failure(stack, sock);
        // The program to the network: read from B straight into the send buffer, only as much as
        // it has room for, and send once all of it is in.
        let mut queued = false;
        let mut starved = false;
        let mut eof_may_abort = false;
        for _ in 0..64 {
            if sock.app_eof || !sock.b_readable {
                break;
            }
            if sock.broken || sock.send_over {
                // Nowhere to send: whatever the program writes is dropped.
                match uds::read(b, scratch) {
                    Ok(0) => sock.app_eof = true,
                    Ok(_) => continue,
                    Err(_) => sock.b_readable = false,
                }
                break;
            }
            // The program's send(MSG_OOB) (RFC 9293 §3.8.5): B keeps its byte in line, a read
            // stopping before it; once at the mark, the next byte alone is read and marked
            // urgent. Looked for only after B polled POLLPRI, and while it still does.
            let mut max = CHUNK;
            let mut urgent = false;
            if sock.b_urgent {
                match uds::at_mark(b) {
                    Ok(true) => {
                        max = 1;
                        urgent = true;
                    }
                    Ok(false) if uds::oob_pending(b) => {}
                    _ => sock.b_urgent = false,
                }
            }
            let mut got = None;
            let mut offered = 0;
            let r = stack.tcp_send_with(h, max, |x, y| {
                offered = x.len() + y.len();
                let g = uds::read_into(b, x, y);
                let n = *g.as_ref().unwrap_or(&0);
                got = Some(g);
                n
            });
            queued |= matches!(r, Ok(n) if n > 0);
            if urgent && matches!(got, Some(Ok(1))) {
                stack.tcp_mark_urgent(h);
                sock.b_urgent = uds::oob_pending(b);
                continue;
            }
            match (r, got) {
                (_, Some(Ok(0))) => {
                    sock.app_eof = true;
                    // The program's end gone with data it never read (what came after its
                    // shutdown(SHUT_RD), still in the stack or dropped above): its close, which
                    // ends the connection with RST and no FIN, as Linux's tcp_close (RFC 2525
                    // §2.17).
                    let unread = sock.app_reset
                        || stack
                            .tcp_socket_ref(h)
                            .and_then(|t| t.connection())
                            .is_some_and(|c| c.recv_queue_len() > 0);
                    // So does a close under SO_LINGER {on, 0}: RST alone, no FIN first (Linux's
                    // tcp_close with a zero linger time disconnects). A shutdown(SHUT_WR) under it
                    // still sends its FIN.
                    let abortive = stack
                        .tcp_socket_ref(h)
                        .is_some_and(|t| t.config.linger == Some(Duration::ZERO));
                    if unread || abortive {
                        // Whether the end is gone is asked below, once `self` is free again.
                        eof_may_abort = true;
                    } else {
                        let _ = stack.tcp_shutdown(now, h, Shutdown::Write);
                    }
                }
                // Less than offered: B had no more (a stream read stops only at the end of what
                // is queued); more data will be an edge of its own, so no read is spent on EAGAIN.
                // (A read that stopped at an urgent mark has more behind it.)
                (_, Some(Ok(n))) if n < offered && !sock.b_shut_seen && !sock.b_urgent => {
                    sock.b_readable = false
                }
                (_, Some(Ok(_))) => {}
                (_, Some(Err(e))) if e.raw_os_error() == Some(libc::EAGAIN) => {
                    sock.b_readable = false;
                }
                (_, Some(Err(e))) => {
                    sock.app_reset |= e.raw_os_error() == Some(libc::ECONNRESET);
                    sock.b_readable = false;
                    sock.app_eof = true;
                }
                // Full: the connection wakes the socket when it has room again.
                (Err(Errno::EAGAIN), None) => break,
                // Room, but no memory to use it: tried again a little later, as Linux's writer
                // waits in sk_stream_wait_memory.
                (Err(Errno::ENOMEM), None) => {
                    starved = true;
                    break;
                }
                (Err(_), None) => {
                    // Failed (its error, if any, was taken above or by the receiving side):
                    // what is still to be read goes on to the program, then its end of file.
                    sock.send_over = true;
                    let _ = uds::shutdown(b, libc::SHUT_RD);
                }
                (Ok(_), None) => break,
            }
        }
        if eof_may_abort {
            let gone = self.socks.get(i).is_some_and(|s| s.app_gone) || !self.alive(i);
            if gone {
                if let Some(sock) = self.socks.get_mut(i) {
                    sock.app_gone = true;
                    sock.app_reset = true;
                }
            } else {
                let _ = self.stack.tcp_shutdown(now, h, Shutdown::Write);
            }
        }
        // Starved, it is looked at again too: it no longer polls writable, so the acknowledgement
        // that makes room in what its buffer holds wakes it.
        if queued || starved {
            self.stack.tcp_push(now, h);
        }
        if starved {
            if !self.starved.contains(&i) {
                self.starved.push(i);
            }
            self.starved_retry.get_or_insert_with(|| {
                std::time::Instant::now() + Duration::from_millis(MEMORY_RETRY_MS)
            });
        }
    }

    fn pump_udp(&mut self, i: usize) {
        let now = self.now();
        let Service {
            socks,
            stack,
            scratch,
            ifindex,
            ep,
            full,
            ..
        } = self;
        let ep = ep.as_raw_fd();
        let mut opened_twin = false;
        let Some(sock) = socks.get_mut(i) else {
            return;
        };
        let (h, b) = (sock.h, sock.b.as_raw_fd());
        // A pending error (ECONNREFUSED from an ICMP port unreachable) moves to this side before
        // the program's datagrams go out: sending would take it, for nobody (Linux's sendmsg
        // reports it to the caller, which here has already returned).
        if let Some(e) = stack.take_socket_error(h) {
            Self::post_udp_error(sock, e);
        }
        // Out: each message is a header and a datagram.
        for _ in 0..256 {
            if !sock.b_readable {
                break;
            }
            match uds::recv(b, scratch, libc::MSG_DONTWAIT) {
                Ok((n, _, _)) if n >= proto::DGRAM_HEADER => {
                    let Some(out) = proto::Outgoing::parse(&scratch[..proto::DGRAM_HEADER]) else {
                        continue;
                    };
                    let own = PerDatagram {
                        ttl: out.ttl,
                        tos: out.tos,
                    };
                    let data = &scratch[proto::DGRAM_HEADER..n];
                    // To loopback (given, or the peer connected there): through the twin, so
                    // from 127.0.0.1 (or ::1) and our port, as Linux's would go.
                    let to_loopback = out
                        .to
                        .map(|a| a.ip().is_loopback() || a.ip().is_unspecified())
                        .unwrap_or(sock.loop_peer.is_some())
                        || out.to_ipv6_loopback;
                    if to_loopback {
                        let to = out.to.or(sock.loop_peer).expect("a loopback destination");
                        let had = sock.udp_twin.is_some();
                        if Self::udp_twin_for(stack, ep, *full, sock, i) && !had {
                            opened_twin = true;
                        }
                        let sent = match &sock.udp_twin {
                            Some(t) => t
                                .send(
                                    to,
                                    out.to_ipv6_loopback,
                                    data,
                                    udp_loopback::Own {
                                        ttl: out.ttl,
                                        tos: out.tos,
                                        source: out.from_loopback,
                                    },
                                )
                                .map_err(|e| e.to_string()),
                            None => Err("no twin on loopback".into()),
                        };
                        if let Err(e) = sent {
                            log::debug!("a datagram from a program to {to} was not sent: {e}");
                        }
                        continue;
                    }
                    if let Err(e) = stack.udp_send_with(now, h, data, out.to, own) {
                        log::debug!("a datagram from a program was not sent: {}", e.name());
                    }
                }
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => sock.b_readable = false,
                Err(_) => sock.b_readable = false,
            }
        }
        // In: a datagram the program's queue cannot take is dropped, as a full receive buffer
        // drops it.
        for _ in 0..256 {
            match stack.udp_recv_from(h, &mut scratch[proto::DGRAM_HEADER..], false) {
                // Connected to loopback: nothing from the TAP is its peer's.
                Ok(_) if sock.loop_peer.is_some() => {}
                Ok(r) => {
                    let local_port = stack.local_addr(h).map_or(0, |a| a.port());
                    let header = proto::Incoming {
                        from: r.from,
                        dst: SocketAddrV4::new(r.arrival.dst, local_port),
                        ttl: r.arrival.ttl,
                        tos: r.arrival.tos,
                        ifindex: *ifindex,
                        report: sock.extra.report,
                        from_ipv6_loopback: false,
                    }
                    .header();
                    let payload = &scratch[proto::DGRAM_HEADER..proto::DGRAM_HEADER + r.copied];
                    if uds::send(b, &[&header, payload], None, libc::MSG_DONTWAIT).is_err() {
                        log::debug!("a datagram was dropped: the program's queue is full");
                    }
                }
                Err(Errno::EAGAIN) => break,
                Err(e) => {
                    Self::post_udp_error(sock, e);
                    break;
                }
            }
        }
        if opened_twin {
            self.check_room();
        }
    }

    /// After SO_RCVBUF on a UDP socket: its socketpair holds as much as the program asked its
    /// queue to hold (our end's send buffer is what bounds datagrams waiting in the pair; the
    /// FORCE variant first, as the service may exceed wmem_max where the program could).
    fn size_udp_pair(sock: &Sock, o: &proto::SetOption) {
        let (Kind::Dgram, Some(size)) = (sock.kind, sock.extra.rcvbuf) else {
            return;
        };
        if o.level != libc::SOL_SOCKET || !matches!(o.name, libc::SO_RCVBUF | libc::SO_RCVBUFFORCE)
        {
            return;
        }
        // The kernel doubles what it is given.
        let half = (size / 2) as i32;
        let b = sock.b.as_raw_fd();
        if uds::set_int(b, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, half).is_err() {
            let _ = uds::set_int(b, libc::SOL_SOCKET, libc::SO_SNDBUF, half);
        }
    }

    /// A UDP socket's error, held as Linux's sk_err: SO_ERROR takes it, and an error header in the
    /// pair makes the program's next receive ask for it ([`crate::posix::io::udp_recv`]), so that
    /// whichever comes first reports it, once. A later error replaces an earlier one unreported.
    fn post_udp_error(sock: &mut Sock, e: Errno) {
        sock.error = Some(e);
        let b = sock.b.as_raw_fd();
        let _ = uds::send(b, &[&proto::dgram_error(e)], None, libc::MSG_DONTWAIT);
    }

    /// Ends the service's hold on socket `i`: the stack closes it (FIN after queued data, or RST
    /// with `abort`), and its socketpair end is closed.
    fn release(&mut self, i: usize, abort: bool) {
        let Some(sock) = self.socks.remove(i) else {
            return;
        };
        let now = self.now();
        if abort {
            if let Ok(t) = self.stack.tcp_socket_mut(sock.h) {
                t.config.linger = Some(Duration::ZERO);
                if let Some(c) = t.connection_mut() {
                    c.set_linger(Some(Duration::ZERO));
                }
            }
        }
        let _ = self.stack.close(now, sock.h);
        if !sock.lingerers.is_empty() {
            self.lingering.push((sock.h, sock.lingerers.clone()));
        }
        self.by_handle.remove(&sock.h);
        self.by_ino.remove(&sock.ino);
        self.doubtful.retain(|&d| d != i);
        // Out of the epoll set now, not at its close: its slot number may name another socket from
        // now on.
        let Sock { b, .. } = sock;
        let _ = ep_ctl(
            self.ep.as_raw_fd(),
            libc::EPOLL_CTL_DEL,
            b.as_raw_fd(),
            0,
            0,
        );
        self.bury(b);
        self.regain_spare();
        self.flush_frames();
    }

    /// Closes `fd` (our end of a released socket, out of the epoll set, or a probe) with the next
    /// ones ([`Service::graveyard`]), or at once near the descriptor limit: held, they would take
    /// the room the spares' reckoning counts on (a probe is a descriptor of its own).
    fn bury(&mut self, fd: OwnedFd) {
        if self.full || (self.graveyard.is_empty() && !self.far_from_limit()) {
            return;
        }
        self.graveyard.push(fd);
        if self.graveyard.len() >= GRAVEYARD {
            self.graveyard.clear();
        }
    }
}

/// Looks whether socket `sock`'s connection failed (a reset, a time-out) without the program
/// knowing, and tells it as Linux's tcp_reset leaves it: the error in sk_err for whichever call
/// comes next. A send reports it at once (B's reading is shut: the program's write fails and asks
/// for it, [`crate::posix::io::tcp_send_error`]), even while B is full of data not yet read,
/// which reads take first (tcp_recvmsg looks at sk_err only with nothing queued); then reads end
/// with it, or with end of file if a send took it. After the peer's FIN the reads have their end
/// of file, which stands: the error (EPIPE after a reset in CLOSE-WAIT) waits for SO_ERROR or a
/// send, and the program's end hangs up at once.
fn note_failure(stack: &mut Stack, sock: &mut Sock) {
    if sock.broken || sock.send_over || sock.app_rd_shut {
        return;
    }
    // Looked at without taking the socket mutably (which files its timers again) unless failed:
    // this runs on every pass of every socket.
    let failed = stack
        .tcp_socket_ref(sock.h)
        .and_then(|t| t.connection())
        .is_some_and(|c| c.state() == crate::tcp::State::Closed);
    if !failed {
        return;
    }
    let Some((e, fin)) = stack
        .tcp_socket_mut(sock.h)
        .ok()
        .and_then(|t| t.connection_mut())
        .and_then(|c| Some((c.take_error()?, c.fin_received())))
    else {
        return;
    };
    let b = sock.b.as_raw_fd();
    sock.error = Some(e);
    sock.send_over = true;
    sock.failed_after_eof = fin;
    if sock.eof_sent {
        sock.broken = true;
        let _ = uds::shutdown(b, libc::SHUT_RDWR);
    } else {
        let _ = uds::shutdown(b, libc::SHUT_RD);
    }
}

/// How many connections wait in the accept queue of stack listener `h`.
fn accept_queue_len(stack: &Stack, h: SocketHandle) -> usize {
    stack
        .tcp_socket_ref(h)
        .and_then(|t| match &t.state {
            crate::stack::tcp_socket::TcpState::Listening(l) => Some(l.accept_queue.len()),
            _ => None,
        })
        .unwrap_or(0)
}

enum Called {
    Value(Value),
    Accepted(OwnedFd, SocketAddrV4),
    /// A connection from the listener's twin on loopback: the kernel's socket itself.
    AcceptedKernel(loopback::Waiting),
    /// The socket's new program end, after a disconnect.
    Renewed(OwnedFd),
}

/// The namespace's `net.ipv4.ip_unprivileged_port_start` (Linux 4.11), 1024 where it cannot be
/// read.
fn unprivileged_port_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .map_or(1024, |p| p.min(u32::from(u16::MAX)) as u16)
}

const CAP_NET_BIND_SERVICE: u32 = 10;
/// CAP_NET_ADMIN's bit in the first 32-bit word of each capability set (linux/capability.h).
pub(crate) const CAP_NET_ADMIN: u32 = 12;

/// SO_RCVLOWAT (Linux's tcp_poll, tcp_stream_is_readable): a TCP socket polls readable once that
/// many bytes are queued, or once the FIN is in. The program's end polls readable as soon as it
/// holds one byte, so what arrives waits in the stack until it reaches the mark, unless the end
/// still holds unread data (readable then anyway) or the receive buffer is too small for the mark
/// (Linux's tcp_set_rcvlowat grows the buffer to fit; here the mark is what the buffer holds).
fn below_low_water(stack: &Stack, h: SocketHandle, lowat: u32, b: RawFd) -> bool {
    let Some(c) = stack.tcp_socket_ref(h).and_then(|t| t.connection()) else {
        return false;
    };
    let queued = c.recv_queue_len();
    if queued == 0 || c.fin_received() {
        return false;
    }
    let mark = (lowat as usize).min(c.recv_capacity());
    queued < mark && uds::all_read(b)
}

/// The effective capabilities of process `pid` (`CapEff` in /proc/PID/status; none if that
/// cannot be read).
fn capabilities(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let caps = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
            u64::from_str_radix(caps.trim(), 16).ok()
        })
        .unwrap_or(0)
}

impl Client {
    /// What its process may do beyond its user's rights (one read of its /proc status).
    fn learn_privileges(&mut self) {
        let caps = capabilities(self.pid);
        self.may_bind_privileged = self.uid == 0 || caps & (1 << CAP_NET_BIND_SERVICE) != 0;
        self.net_admin = caps & (1 << CAP_NET_ADMIN) != 0;
    }
}

/// Shrinks A's send buffer and fills it, so A polls as not writable while a connect is under way.
/// Returns the filler's length and A's send buffer size before.
fn fill(a: &OwnedFd) -> (usize, i32) {
    (fill_end(a.as_raw_fd()), default_sndbuf())
}

/// Shrinks the send buffer of a program's end `fd` and fills it: it polls as not writable until
/// the filler is read. Returns the filler's length. (The program's side does the same when it
/// makes the socketpair itself.)
pub fn fill_end(fd: RawFd) -> usize {
    let _ = uds::set_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, 0);
    // One write: the kernel takes what fits the (now smallest) buffer and stops there.
    let filler = [0u8; 8192];
    uds::write(fd, &filler).unwrap_or(0)
}

/// What a new socketpair end's send buffer is (net.core.wmem_default), read once.
fn default_sndbuf() -> i32 {
    static DEFAULT: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    *DEFAULT.get_or_init(|| {
        uds::pair(libc::SOCK_STREAM)
            .ok()
            .and_then(|(a, _)| uds::get_int(a.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUF).ok())
            .unwrap_or(212_992)
    })
}

/// Reads and drops `n` bytes (the filler) from `fd`.
fn drain(fd: RawFd, n: usize) {
    let mut left = n;
    let mut buf = [0u8; 8192];
    while left > 0 {
        match uds::read(fd, &mut buf[..left.min(8192)]) {
            Ok(0) | Err(_) => break,
            Ok(k) => left -= k,
        }
    }
}

/// Values under small reusable numbers (the epoll tokens name them), with the free numbers kept,
/// so adding and counting cost the same whatever the number of sockets.
struct Slots<T> {
    items: Vec<Option<T>>,
    free: Vec<usize>,
    live: usize,
}

impl<T> Slots<T> {
    fn new() -> Slots<T> {
        Slots {
            items: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }

    /// The number the next [`Slots::insert`] will use.
    fn next_index(&self) -> usize {
        self.free.last().copied().unwrap_or(self.items.len())
    }

    /// Room for one more value (and its number on the free list once removed); false when the
    /// memory cannot be had.
    fn try_reserve_one(&mut self) -> bool {
        (!self.free.is_empty() || self.items.try_reserve(1).is_ok())
            && self
                .free
                .try_reserve((self.items.len() + 1).saturating_sub(self.free.len()))
                .is_ok()
    }

    fn insert(&mut self, v: T) -> usize {
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                self.items.push(None);
                self.items.len() - 1
            }
        };
        self.items[i] = Some(v);
        self.live += 1;
        i
    }

    fn get(&self, i: usize) -> Option<&T> {
        self.items.get(i).and_then(Option::as_ref)
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.items.get_mut(i).and_then(Option::as_mut)
    }

    fn remove(&mut self, i: usize) -> Option<T> {
        let v = self.items.get_mut(i).and_then(Option::take);
        if v.is_some() {
            self.free.push(i);
            self.live -= 1;
        }
        v
    }

    fn is_empty(&self) -> bool {
        self.live == 0
    }

    fn len(&self) -> usize {
        self.live
    }
}

/// The service holds a descriptor for every socket of every program: it takes all the descriptors
/// its hard limit allows.
fn raise_descriptor_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid in/out pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Blocks SIGINT and SIGTERM and returns a signalfd that reads them.
fn stop_signals() -> io::Result<OwnedFd> {
    // SAFETY: sigset_t is plain data initialised by sigemptyset; the calls only touch this
    // thread's mask and a new descriptor.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}
