//! The service's event loop: one thread, one `epoll`, the sans-IO stack driven directly.
//!
//! What it waits on: the TAP, its control socket (new clients), each client's control connection
//! (requests), each door (control connections made by processes that left the network namespace,
//! see [`super::client`]), each stack socket's end of its socketpair (the program's data and its
//! last close), and a signalfd for SIGINT/SIGTERM. The timeout is the stack's next deadline. After
//! every event it moves data only for the sockets the stack reported as changed
//! ([`Stack::take_woken`]) or whose socketpair end fired, so an event costs the same with ten or
//! ten thousand connections. Its parts: this loop and what a socket is to the service (below);
//! the clients, their control connections and the room left in the descriptor table
//! (`server/clients.rs`); answering their requests (`server/requests.rs`); moving data between
//! the stack and the socketpairs (`server/pump.rs`); the tables that number clients and sockets
//! (`server/slots.rs`).
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

mod clients;
mod pump;
mod requests;
mod slots;

use slots::Slots;

use super::board;
use super::loopback;
use super::options::{self, Extra};
use super::proto::{self, Kind, Reply, Value};
use super::udp_loopback::UdpTwin;
use super::uds;
use crate::config::Config;
use crate::device::pcap::PcapDevice;
use crate::device::tap::TapDevice;
use crate::device::Device;
use crate::error::{Errno, Result};
use crate::ipv4::Interface;
use crate::stack::{SocketHandle, Stack};
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
    /// Bound with IP_BIND_ADDRESS_NO_PORT to this address and port 0: Linux's inet_bind records
    /// the address alone and leaves the port to the connect (a 4-tuple's, inet_hash_connect) or
    /// listen that comes; `getsockname` says port 0 until then.
    no_port_ip: Option<std::net::Ipv4Addr>,
    /// A connect has reported the TCP socket connected ([`Call::ConnectReported`]), in whichever
    /// process: connect says EISCONN from then on, whatever became of the connection.
    connect_reported: bool,
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
    /// This round's socketpair events (socket, flags), in epoll's order; one already acted on has
    /// flags 0. A program's request (MSG_MORE's aside) acts on them first ([`Service::run_batch_sockets`]).
    batch_socks: Vec<(usize, u32)>,
    scratch: Vec<u8>,
    /// Datagrams on their way from the stack to a program's socketpair (see `pump::InBatch`).
    udp_in: Vec<u8>,
    /// Datagrams from a program's socketpair on their way to the stack (see `pump::OUT_BATCH`).
    udp_out: Vec<u8>,
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
    /// The page that counts UDP errors for programs' sends ([`board`]); none if it could not
    /// be made (sends then do not see the errors).
    board: Option<board::Board>,
    /// The stack's count of path MTUs learnt, as last written to the board.
    path_mtus_published: u64,
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
        stack.set_icmp_limits(crate::host::icmp_limits());
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
            batch_socks: Vec::new(),
            scratch: vec![0u8; CHUNK + proto::DGRAM_HEADER],
            udp_in: vec![0u8; pump::UDP_IN_BYTES],
            udp_out: vec![0u8; pump::UDP_OUT_BYTES],
            uid,
            serial: 0,
            generation: 0,
            idle_exit: opts.idle_exit,
            idle_since: None,
            diag: uds::diag_socket().ok(),
            graveyard: Vec::new(),
            busy_poll: opts.busy_poll,
            board: board::Board::create()
                .map_err(|e| log::warn!("no error board ({e}): UDP sends will not see errors"))
                .ok(),
            path_mtus_published: 0,
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
            self.batch_socks.clear();
            self.batch_socks.extend(
                events
                    .iter()
                    .filter(|ev| ev.u64 >> 32 == TAG_SOCK)
                    .map(|ev| ((ev.u64 & 0xffff_ffff) as usize, ev.events)),
            );
            let mut next_sock = 0;
            for ev in events {
                let (tag, index) = (ev.u64 >> 32, (ev.u64 & 0xffff_ffff) as usize);
                let flags = ev.events;
                if tag == TAG_SOCK {
                    // Acted on already, if a request came first in this round.
                    let flags = std::mem::take(&mut self.batch_socks[next_sock].1);
                    next_sock += 1;
                    if flags != 0 {
                        self.sock_event(index, flags);
                    }
                    continue;
                }
                match tag {
                    TAG_TAP => self.read_tap(&mut frame),
                    TAG_CONTROL => self.accept_clients(),
                    TAG_CLIENT => self.serve_client(index, flags),
                    TAG_DOOR => self.serve_door(index, flags),
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
        if let Some(b) = &self.board {
            b.close();
        }
        Stopped {
            signal,
            stats: self.stack.stats().to_string(),
            neighbours: self.stack.neighbours(),
        }
    }

    /// Before a program's request: this round's socketpair events not yet acted on. The program
    /// wrote what they report before it asked (a datagram whose `sendto` returned, then a
    /// `connect`), and Linux would have sent it by then; epoll's list may put the request first.
    /// MSG_MORE's SendMore is the exception: it is not waited for, and the data it holds, written
    /// after it, may be in this round, so it keeps its place.
    pub(super) fn run_batch_sockets(&mut self) {
        for k in 0..self.batch_socks.len() {
            let (index, flags) = self.batch_socks[k];
            if flags != 0 {
                self.batch_socks[k].1 = 0;
                self.sock_event(index, flags);
            }
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
            self.publish_path_mtus();
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

    /// Tells the programs, through the board, that the stack learnt a path MTU: their DO sends
    /// then ask for it ([`board`]).
    fn publish_path_mtus(&mut self) {
        let n = self.stack.path_mtus_learnt();
        if n != self.path_mtus_published {
            self.path_mtus_published = n;
            if let Some(b) = &self.board {
                b.set_paths(n);
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
    /// A descriptor of something the service shares (the error board).
    Shared(OwnedFd),
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

/// Sizes the send buffer of a TCP socket's program end `fd` for TCP_NOTSENT_LOWAT `mark`
/// (`u32::MAX`: none).
///
/// On Linux the mark bounds the data a socket holds unsent, and it polls writable only below half
/// of it. Here the stack's connection keeps to the mark (the service reads from the socketpair only
/// while its unsent data is below it, and the connection wakes the socket below half of it, see
/// `Connection::readiness`), but the socketpair itself holds what the program wrote and the service
/// has not read: with its usual send buffer (`wmem_default`, some 200 KiB) the program could write
/// that much more before it waited, and the mark would change little. So the program's end gets a
/// send buffer of the mark's size, between Linux's floor for AF_UNIX (SOCK_MIN_SNDBUF, 4 608) and
/// its usual size. Limits: the program may still have up to that buffer's data (less the kernel's
/// per-write overhead) waiting in the socketpair beyond the mark, so it holds up to about twice the
/// mark unsent where Linux holds the mark plus at most one buffer of `size_goal` (64 KiB with
/// TSO); and it polls writable once the service has taken what the socketpair held, which it does
/// once the connection's unsent data is below half the mark, as Linux's poll says.
fn size_program_end(fd: RawFd, mark: u32) {
    let usual = default_sndbuf();
    let size = if mark == u32::MAX {
        usual
    } else {
        (mark.min(i32::MAX as u32) as i32).clamp(options::SOCK_MIN_SNDBUF as i32, usual)
    };
    // setsockopt doubles what it is given.
    let _ = uds::set_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, size / 2);
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
