//! The shim's process-wide state: which descriptors are the program's IPv4 sockets, and what it
//! must remember about them.
//!
//! # Pending sockets
//! `socket(AF_INET, …)` makes a real kernel socket, so numbering, `close`, `dup2`, `fstat` and
//! `exec` behave as usual and loopback needs nothing from us. The first `bind`, `connect`, `listen`
//! or `sendto` decides: an address in 127.0.0.0/8 (or 0.0.0.0 as a destination, the local host to
//! Linux) leaves it on the kernel; anything else sends it to the stack service, whose reply is the
//! socket's new descriptor (one end of a socketpair), put in place of the kernel socket at the
//! same number (and at every number `dup`ed from it). Options
//! set while pending go to the kernel socket (which answers `getsockopt`) and are replayed to the
//! service; epoll interest taken while pending moves to the new descriptor.
//!
//! # Stack sockets
//! Once on the stack the descriptor is a real kernel object (a UNIX socket), so the kernel handles
//! `fork`, `dup`, `exec`, SCM_RIGHTS, `close`, `poll` and plain data. The table remembers only what
//! the shim must act on: that the descriptor is a stack socket, and of which kind (UDP datagrams
//! carry an address header the shim adds and removes). A process that did not make the socket (after
//! `exec`, or one received over a UNIX socket) learns it from the socket's name (see
//! [`identify`]).

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use super::forklock::{Mutex, RwLock};
use crate::error::Errno;
use crate::service::proto::{Kind, SetOption};
use crate::service::server::SOCKET_NAME_PREFIX;
use crate::service::uds;

/// What a pending socket carries to the service when it attaches.
#[derive(Clone, Debug, Default)]
pub struct Pending {
    pub options: Vec<SetOption>,
    /// epoll interest taken while pending: (epoll descriptor, events, data).
    pub epoll: Vec<(RawFd, u32, u64)>,
    /// Options the descriptor itself carries (timeouts, SO_RCVLOWAT) were set: they move to the
    /// new descriptor.
    pub descriptor_options: bool,
}

pub enum Attach {
    Pending(Pending),
    Stack,
}

/// What a descriptor refers to, shared by `dup`s of it (like an open file description).
pub struct OpenSocket {
    pub kind: Kind,
    /// Made with AF_INET6: a dual-stack socket whose traffic is IPv4 (IPV6_V6ONLY off), so the
    /// program sees `sockaddr_in6` with IPv4-mapped addresses (see [`super::addr`]).
    pub inet6: bool,
    pub attach: Mutex<Attach>,
    /// A UDP socket with a default peer (sends without an address are allowed).
    pub connected: AtomicBool,
    /// SO_BROADCAST, so a send to a broadcast address fails at once as on Linux.
    pub broadcast: AtomicBool,
    /// IP_MTU_DISCOVER is DO, PROBE or INTERFACE: a datagram longer than the link's MTU fails at
    /// once with EMSGSIZE, as Linux's __ip_append_data refuses it (the service would only drop it).
    pub refuse_over_mtu: AtomicBool,
    /// IP_MTU_DISCOVER is DO: the same for a datagram longer than its path's MTU, once the stack
    /// has learnt one (Linux's ip_sk_use_pmtu), and what it last heard of that path.
    pub refuse_over_path_mtu: AtomicBool,
    pub path_mtu_seen: Mutex<Option<PathMtuSeen>>,
    /// Moved by each `connect` of a UDP socket through this process: an answer about the peer
    /// before it is not kept.
    pub peer_generation: std::sync::atomic::AtomicU64,
    /// SO_SNDTIMEO in microseconds (0: none), as set through this process: a blocking send on the
    /// socketpair would wait that long for each piece, where Linux bounds the whole call.
    pub sndtimeo_us: std::sync::atomic::AtomicU64,
    /// SO_LINGER's time in seconds when on with a time (0: off, or an abort), as set through this
    /// process: a blocking close then waits.
    pub linger_secs: std::sync::atomic::AtomicU64,
    /// How many of this process's descriptor numbers refer to it (the table's entries).
    numbers: AtomicUsize,
    /// This process started a TCP connect on it: a second `connect` can be answered from the
    /// descriptor's state.
    pub connect_started: AtomicBool,
    /// A connect on it has returned 0 (Linux's SS_CONNECTED): until one has, a connect repeated
    /// after the handshake ended in the background returns 0, and only the ones after say EISCONN.
    pub connect_reported: AtomicBool,
    /// Another process may hold it: it was here when this process forked, or came by `exec` or
    /// over a UNIX socket. Until then what this process records of it (`connect_reported`) is
    /// all there is to know, and the service need not be told.
    pub shared: AtomicBool,
    /// A send with MSG_MORE went through this process and no send without it since: the
    /// service holds the socket corked.
    pub more: AtomicBool,
    /// A UDP socket's corked datagram (sends with MSG_MORE), with the address of the send that
    /// began it, as Linux's udp_sendmsg holds it pending until a send without the flag.
    pub udp_cork: Cork,
    /// Whether `attach` is [`Attach::Stack`], readable without its lock (set with it, by
    /// [`OpenSocket::set_attach`]): a send or a poll need not take the lock, which a signal
    /// handler sending on the socket would otherwise wait on when it interrupted the holder.
    on_stack: AtomicBool,
    /// Made by another process (inherited over `exec`, received over a UNIX socket): the settings
    /// it gave the socket that this process keeps are not known yet ([`super::sockets::learn_settings`]).
    pub unsettled: AtomicBool,
    /// Whether it listens, as this process knows: [`LISTENING_UNKNOWN`] until it listened here or
    /// the service said (a socket inherited or received may be either).
    pub listening: std::sync::atomic::AtomicU8,
    /// TCP_INQ, as set through this process: `recvmsg` then reports the bytes left to read.
    pub inq: AtomicBool,
    /// Epoll interest was taken in it through this process: when its descriptor is replaced, the
    /// interest is looked for, to follow it (see `sockets::replace_keeping_interest`).
    pub watched: AtomicBool,
    /// A TCP socket whose reading was shut through this process: a read that finds the
    /// socketpair's end of file asks the service for what arrived since (see
    /// `sockets::read_held`).
    pub rd_shut: AtomicBool,
    /// A TCP connect with Fast Open that succeeded at once, its SYN waiting for the first send:
    /// how many bytes that SYN carries (`usize::MAX`: no SYN waits). See `io::syn_share`.
    pub syn_room: AtomicUsize,
    /// O_NONBLOCK as this process last set or saw it: a hint for the busy read, which need not
    /// look before a non-blocking read (another process sharing the file may have changed the flag
    /// since; then a blocking read only goes without its spin).
    pub nonblocking_hint: AtomicBool,
    /// The program's `bind` named a port (not 0): a TCP socket that leaves for loopback keeps it
    /// or fails (`sockets::leaves_for_loopback`), where a port the stack chose may change.
    pub port_given: AtomicBool,
    /// A UDP socket's bound address as this process learnt it, for datagrams to loopback:
    /// [`LOCAL_UNKNOWN`] until the first such datagram asks the service (`io::udp_send`).
    pub udp_local: std::sync::atomic::AtomicU8,
    /// A TCP socket whose SO_RCVLOWAT was set above 1 through this process (or its listener's):
    /// a read that finds nothing asks the service for what it holds below the mark
    /// (`sockets::read_below_mark`).
    pub rcvlowat: AtomicBool,
    /// A UDP socket: the service's count of errors posted when its sends last looked
    /// (`io::pending_send_error`, [`crate::service::board`]).
    pub udp_errors_seen: std::sync::atomic::AtomicU64,
}

/// Values of [`OpenSocket::udp_local`]. A stack UDP socket is bound (explicitly or by its first
/// send or connect) before it sends, and its bound address never changes after, so the answer
/// once had holds.
pub const LOCAL_UNKNOWN: u8 = 0;
pub const LOCAL_WILDCARD: u8 = 1;
pub const LOCAL_SPECIFIC: u8 = 2;

/// The MTU the service gave for the path to a datagram's destination (`to`; `None`: the
/// connected peer, as of the socket's `peer` generation), good while the board's count of path
/// MTUs learnt stays `paths` and until `until` if set.
#[derive(Clone, Copy, Debug)]
pub struct PathMtuSeen {
    pub to: Option<std::net::SocketAddrV4>,
    pub paths: u64,
    pub peer: u64,
    pub mtu: usize,
    pub until: Option<std::time::Instant>,
}

/// Values of [`OpenSocket::listening`].
pub const LISTENING_UNKNOWN: u8 = 0;
pub const LISTENING_NO: u8 = 1;
pub const LISTENING_YES: u8 = 2;

impl OpenSocket {
    pub fn new(kind: Kind, inet6: bool) -> OpenSocket {
        OpenSocket {
            kind,
            inet6,
            attach: Mutex::new(Attach::Pending(Pending::default())),
            connected: AtomicBool::new(false),
            broadcast: AtomicBool::new(false),
            refuse_over_mtu: AtomicBool::new(false),
            refuse_over_path_mtu: AtomicBool::new(false),
            path_mtu_seen: Mutex::new(None),
            peer_generation: std::sync::atomic::AtomicU64::new(0),
            sndtimeo_us: std::sync::atomic::AtomicU64::new(0),
            linger_secs: std::sync::atomic::AtomicU64::new(0),
            numbers: AtomicUsize::new(0),
            connect_started: AtomicBool::new(false),
            connect_reported: AtomicBool::new(false),
            shared: AtomicBool::new(false),
            more: AtomicBool::new(false),
            udp_cork: Cork::default(),
            on_stack: AtomicBool::new(false),
            unsettled: AtomicBool::new(false),
            listening: std::sync::atomic::AtomicU8::new(LISTENING_UNKNOWN),
            inq: AtomicBool::new(false),
            watched: AtomicBool::new(false),
            rd_shut: AtomicBool::new(false),
            syn_room: AtomicUsize::new(usize::MAX),
            nonblocking_hint: AtomicBool::new(false),
            port_given: AtomicBool::new(false),
            udp_local: std::sync::atomic::AtomicU8::new(LOCAL_UNKNOWN),
            rcvlowat: AtomicBool::new(false),
            // A new socket has sent nothing, so no error of its own is counted yet.
            udp_errors_seen: std::sync::atomic::AtomicU64::new(
                crate::service::board::count().unwrap_or(0),
            ),
        }
    }

    pub fn attached(kind: Kind, inet6: bool) -> OpenSocket {
        let s = OpenSocket::new(kind, inet6);
        s.set_attach(&mut s.attach.lock(), Attach::Stack);
        s
    }

    /// Sets `attach` (`a`, its lock held) to `to`.
    pub fn set_attach(&self, a: &mut Attach, to: Attach) {
        let on_stack = matches!(to, Attach::Stack);
        *a = to;
        self.on_stack.store(on_stack, Ordering::Release);
    }

    /// Whether the socket is still the kernel's, waiting for its first stack call. An attached
    /// one answers without the lock (every send asks); for a pending one the lock waits out an
    /// attach another thread has under way, whose end decides (its callers act on the kernel
    /// socket, which that attach replaces).
    pub fn is_pending(&self) -> bool {
        if self.on_stack.load(Ordering::Acquire) {
            return false;
        }
        matches!(&*self.attach.lock(), Attach::Pending(_))
    }
}

/// A datagram built by sends with MSG_MORE: the first send's destination and the bytes so far.
pub struct Corked {
    pub first: crate::service::proto::Outgoing,
    pub data: Vec<u8>,
}

/// A UDP socket's [`Corked`] datagram, behind an atomic pointer rather than a lock: a send takes
/// it out whole, works on it and puts it back, so no lock is held across the service's requests
/// or a blocking send, where a thread forking meanwhile would leave it held in the child for good,
/// and a signal handler sending on the socket would wait on it for ever.
#[derive(Default)]
pub struct Cork(std::sync::atomic::AtomicPtr<Corked>);

impl Cork {
    /// Whether a datagram is pending (one out in a send's hands is not).
    pub fn is_set(&self) -> bool {
        !self.0.load(Ordering::Acquire).is_null()
    }

    /// The pending datagram, taken out.
    pub fn take(&self) -> Option<Box<Corked>> {
        let p = self.0.swap(std::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: every non-null pointer stored is a Box's, and the swap made it ours alone.
        (!p.is_null()).then(|| unsafe { Box::from_raw(p) })
    }

    /// Puts `corked` back as the pending datagram. If another sender (a thread, or a signal
    /// handler on this one) began one meanwhile, the two join, as Linux's udp_sendmsg would have
    /// had them had the sends come one after the other: after it if this send began `corked`
    /// (`began`: the other one came first), else before it; past `max` bytes EMSGSIZE, all
    /// dropped, as ip_append_data's error flushes the datagram.
    pub fn put(&self, corked: Box<Corked>, began: bool, max: usize) -> Result<(), Errno> {
        let mut mine = Box::into_raw(corked);
        while self
            .0
            .compare_exchange(
                std::ptr::null_mut(),
                mine,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            // SAFETY: `mine` is the Box made into a pointer above, not stored.
            let mut back = unsafe { Box::from_raw(mine) };
            if let Some(mut other) = self.take() {
                if back.data.len() + other.data.len() > max {
                    return Err(Errno::EMSGSIZE);
                }
                if began {
                    other.data.extend_from_slice(&back.data);
                    back = other;
                } else {
                    back.data.extend_from_slice(&other.data);
                }
            }
            mine = Box::into_raw(back);
        }
        Ok(())
    }
}

impl Drop for Cork {
    fn drop(&mut self) {
        drop(self.take());
    }
}

static TABLE: RwLock<Vec<Option<Arc<OpenSocket>>>> = RwLock::new(Vec::new());

/// Held (shared) by a socket's first call for as long as it holds the socket's lock across the
/// service's round trip, and (exclusive) by a fork from its first lock on: std's RwLock lets no
/// new reader in once a writer waits, so the fork waits out the first calls under way and starts
/// no new ones. Without it, threads that kept taking new sockets to the stack kept a newcomer's lock
/// held at nearly every try of `before_fork`, which then retried for ever (see there).
static ATTACHING: RwLock<()> = RwLock::new(());

/// Taken by a socket's first call (`attach_with`, `connect_quietly`) before the socket's lock, and
/// held as long as that lock, signals held already.
pub fn attaching() -> std::sync::RwLockReadGuard<'static, ()> {
    ATTACHING.read()
}
/// Live entries in TABLE: with none, every call skips the lock.
static ENTRIES: AtomicUsize = AtomicUsize::new(0);

/// The socket behind descriptor `fd`, if the shim knows it as one.
pub fn get(fd: RawFd) -> Option<Arc<OpenSocket>> {
    if fd < 0 || ENTRIES.load(Ordering::Acquire) == 0 {
        return None;
    }
    TABLE.read().get(fd as usize).and_then(|e| e.clone())
}

pub fn insert(fd: RawFd, sock: Arc<OpenSocket>) {
    if fd < 0 {
        return;
    }
    let mut t = TABLE.write();
    let i = fd as usize;
    if t.len() <= i {
        t.resize(i + 1, None);
    }
    sock.numbers.fetch_add(1, Ordering::AcqRel);
    match t[i].replace(sock) {
        None => {
            ENTRIES.fetch_add(1, Ordering::AcqRel);
        }
        Some(old) => {
            old.numbers.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Forgets descriptor `fd`.
pub fn remove(fd: RawFd) -> Option<Arc<OpenSocket>> {
    take_if(fd, |_| true)
}

/// The entry at `fd`, taken out of the table if `which` says so of it, looked at and taken under
/// one lock (another thread may be recording its own socket there meanwhile).
fn take_if(fd: RawFd, which: impl FnOnce(&Arc<OpenSocket>) -> bool) -> Option<Arc<OpenSocket>> {
    if fd < 0 || ENTRIES.load(Ordering::Acquire) == 0 {
        return None;
    }
    let taken = TABLE
        .write()
        .get_mut(fd as usize)
        .and_then(|e| e.take_if(|s| which(s)));
    if let Some(s) = &taken {
        ENTRIES.fetch_sub(1, Ordering::AcqRel);
        s.numbers.fetch_sub(1, Ordering::AcqRel);
    }
    taken
}

/// How many descriptors of this process refer to `sock`.
pub fn count_of(sock: &OpenSocket) -> usize {
    sock.numbers.load(Ordering::Acquire)
}

/// Forgets that `fd` is `sock`, if the table still says so: its number went to another file.
pub fn forget_if(fd: RawFd, sock: &OpenSocket) {
    drop(take_if(fd, |s| std::ptr::eq(Arc::as_ptr(s), sock)));
}

/// Whether this process has threads besides the caller, which may take descriptor numbers at any
/// moment: /proc/self/task's link count is its threads plus two, read without a descriptor
/// (stat by path), so even in a full table. Taken for yes when it cannot be read.
pub fn other_threads() -> bool {
    // SAFETY: stat is plain data, which the kernel fills.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let path = b"/proc/self/task\0";
    // SAFETY: a NUL-terminated path and a valid out pointer.
    let r = unsafe {
        libc::syscall(
            libc::SYS_newfstatat,
            libc::AT_FDCWD,
            path.as_ptr(),
            &mut st as *mut libc::stat,
            0,
        )
    };
    r != 0 || st.st_nlink > 3
}

/// Every descriptor that refers to `sock` (it and its `dup`s), `fd` among them while it is one:
/// without a `dup`, that is `fd` alone. None once another thread closed them all, its number then
/// free for a file of the program's, which a call still under way on the socket (a connect that
/// failed, putting a fresh kernel socket in its place) must leave alone.
pub fn numbers_of(sock: &OpenSocket, fd: RawFd) -> Vec<RawFd> {
    match count_of(sock) {
        0 => return Vec::new(),
        1 if get(fd).is_some_and(|s| std::ptr::eq(Arc::as_ptr(&s), sock)) => return vec![fd],
        _ => {}
    }
    TABLE
        .read()
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            e.as_ref()
                .is_some_and(|e| std::ptr::eq(Arc::as_ptr(e), sock))
        })
        .map(|(i, _)| i as RawFd)
        .collect()
}

/// Every descriptor in `first..=last` the table knows.
pub fn fds_in(first: RawFd, last: RawFd) -> Vec<RawFd> {
    if ENTRIES.load(Ordering::Acquire) == 0 {
        return Vec::new();
    }
    let t = TABLE.read();
    let end = (last.max(-1) as i64 + 1).min(t.len() as i64).max(0) as usize;
    (first.max(0) as usize..end)
        .filter(|&i| t[i].is_some())
        .map(|i| i as RawFd)
        .collect()
}

/// Recognises a stack socket the table does not know (inherited over `exec`, received over a UNIX
/// socket) by its abstract name, and records it: the name ends in `t` or `u` for its kind, after
/// a `6` for an AF_INET6 socket.
pub fn identify(fd: RawFd) -> Option<Arc<OpenSocket>> {
    let name = uds::abstract_name(fd)?;
    let rest = name.strip_prefix(SOCKET_NAME_PREFIX)?;
    let kind = match rest.last() {
        Some(b't') => Kind::Stream,
        Some(b'u') => Kind::Dgram,
        _ => return None,
    };
    let inet6 = rest.len() >= 2 && rest[rest.len() - 2] == b'6';
    let sock = Arc::new(OpenSocket::attached(kind, inet6));
    sock.shared.store(true, Ordering::Relaxed);
    // Its sends may have had an error another process has not taken: the first send asks.
    sock.udp_errors_seen.store(0, Ordering::Relaxed);
    sock.unsettled.store(true, Ordering::Release);
    insert(fd, sock.clone());
    Some(sock)
}

/// The socket behind `fd`: known, or recognised.
pub fn lookup(fd: RawFd) -> Option<Arc<OpenSocket>> {
    get(fd).or_else(|| identify(fd))
}

/// Records every stack socket among the descriptors this process starts with (after `exec`).
fn scan_inherited() {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for entry in dir.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        if std::fs::read_link(entry.path())
            .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
        {
            identify(fd);
        }
    }
}

/// This process's id, to recognise a `vfork` child (or `posix_spawn`'s, or `clone(CLONE_VM)`'s):
/// it runs in our memory before it `exec`s, without the fork handlers, so whatever it does must not
/// touch the parent's table.
static PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

fn raw_getpid() -> i32 {
    // SAFETY: getpid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_getpid) as i32 }
}

/// This process's id (kept across fork by the fork handler, or learnt by [`in_vfork_child`] in a
/// child the handler did not see).
pub fn pid() -> i32 {
    // A child made by a raw clone(2) (its copy of the mark emptied) takes its own id here; the
    // mark is read from memory, so the usual case makes no system call.
    let mark = FORK_MARK.load(Ordering::Relaxed);
    // SAFETY: the page mapped by init_fork_mark, never unmapped.
    if mark != 0 && unsafe { std::ptr::read_volatile(mark as *const u8) } == 0 {
        let _ = in_vfork_child();
    }
    match PID.load(Ordering::Relaxed) {
        0 => raw_getpid(),
        pid => pid,
    }
}

/// The address of a page holding 1 that the kernel empties in any child given its own copy of our
/// memory (MADV_WIPEONFORK, Linux 4.14), and leaves as it is for a child that shares it (vfork,
/// `posix_spawn`, clone(CLONE_VM)); 0 if the kernel cannot. So a child the fork handlers did not
/// see — a raw clone(2) without CLONE_VM, as vsftpd makes for each session to put it in new
/// namespaces — is known for what it is, a forked process, not taken for a vfork child that must
/// leave every socket call to libc (its stack sockets then looked like the UNIX sockets they are).
static FORK_MARK: AtomicUsize = AtomicUsize::new(0);

fn init_fork_mark() {
    // SAFETY: a fresh private anonymous page, ours for the life of the process.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return;
        }
        if libc::madvise(p, 4096, libc::MADV_WIPEONFORK) != 0 {
            libc::munmap(p, 4096);
            return;
        }
        std::ptr::write_volatile(p as *mut u8, 1);
        FORK_MARK.store(p as usize, Ordering::Relaxed);
    }
}

/// Sets the mark again in a child whose copy of the page the kernel emptied.
fn renew_fork_mark() {
    let p = FORK_MARK.load(Ordering::Relaxed);
    if p != 0 {
        // SAFETY: the page mapped by init_fork_mark, never unmapped.
        unsafe { std::ptr::write_volatile(p as *mut u8, 1) };
    }
}

/// True in a child that shares our memory (vfork): descriptor calls then go straight to libc.
/// A child with its own copy of our memory that the fork handlers did not see ([`FORK_MARK`]
/// emptied) is a forked process like any other: it takes its own id here, and is not one.
pub fn in_vfork_child() -> bool {
    let pid = PID.load(Ordering::Relaxed);
    if pid == 0 {
        return false;
    }
    let now = raw_getpid();
    if now == pid {
        return false;
    }
    let mark = FORK_MARK.load(Ordering::Relaxed);
    // SAFETY: the page mapped by init_fork_mark, never unmapped.
    if mark == 0 || unsafe { std::ptr::read_volatile(mark as *const u8) } != 0 {
        // Our memory, shared (or no way to tell, where the kernel lacks MADV_WIPEONFORK).
        return true;
    }
    renew_fork_mark();
    PID.store(now, Ordering::Relaxed);
    false
}

/// Whether `socket()` should hand out stack sockets: yes when preloaded (`tapstack run`, or
/// LD_PRELOAD naming this library) or asked (TAPSTACK_INTERPOSE=1); a program that links the C API
/// without preloading keeps the kernel's sockets for plain `socket()` calls.
pub fn interposing() -> bool {
    static ON: once_cell::sync::OnceCell<bool> = once_cell::sync::OnceCell::new();
    *ON.get_or_init(|| {
        let forced = std::env::var("TAPSTACK_INTERPOSE").ok();
        match forced.as_deref() {
            Some("1") => true,
            Some("0") => false,
            _ => std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("tapstack")),
        }
    })
}

/// The shim's locks, held by the forking thread from `before_fork` until the fork handler of the
/// parent or the child releases them.
struct ForkLocks {
    // First, so it is let go first: dropping the rest frees memory, which may be the reserve's.
    _memory: crate::memory::ForkGuard,
    _netdb: super::netdb::ForkGuard,
    _sys: crate::sys::ForkGuard,
    _door: std::sync::MutexGuard<'static, Option<crate::sys::Fd>>,
    _attach: Vec<std::sync::MutexGuard<'static, Attach>>,
    _sockets: Vec<Arc<OpenSocket>>,
    _table: std::sync::RwLockWriteGuard<'static, Vec<Option<Arc<OpenSocket>>>>,
    // Last, as it was taken first.
    _attaching: std::sync::RwLockWriteGuard<'static, ()>,
}

thread_local! {
    static FORK_LOCKS: std::cell::RefCell<Option<ForkLocks>> = const { std::cell::RefCell::new(None) };
}

/// Takes every lock a child could need, so it never inherits one held by a thread it does not
/// have.
extern "C" fn before_fork() {
    // This thread's slot for the locks, set up now if it is the thread's first fork: that may
    // allocate, which must not happen once the reserve is held (below).
    let _ = FORK_LOCKS.try_with(|_| ());
    // First, no first call under way: a newcomer's lock (below) is then held only for a moment.
    // Threads taking socket after socket to the stack held the lock of their newest one across
    // the service's round trip nearly always, so the try below nearly always failed, and each
    // retry waited on the locks of the sockets seen before: the fork took seconds, or for ever.
    let attaching = ATTACHING.write();
    // Each socket's own lock too (a thread may be adding epoll interest to a pending one), each
    // once though `dup`s share it, in one order; and before the table's, the order of a socket's
    // first call, which holds its lock while it installs the stack's descriptor (and closing what
    // that replaces looks in the table): the other way round, a fork waited for a lock held by a
    // thread that waited for the table. A socket made meanwhile (its lock not held) is looked for
    // once the table is held, and its lock tried then: if another thread has it, everything is let
    // go and taken again, that one waited for with the rest.
    fn kept(guard: std::sync::MutexGuard<'_, Attach>) -> std::sync::MutexGuard<'static, Attach> {
        // SAFETY: every guard borrows a socket kept alive in the list beside it, which ForkLocks
        // drops after the guards (fields drop in order), as does a retry below.
        unsafe {
            std::mem::transmute::<
                std::sync::MutexGuard<'_, Attach>,
                std::sync::MutexGuard<'static, Attach>,
            >(guard)
        }
    }
    let mut tries = 0;
    let (sockets, attach, table) = loop {
        let mut sockets: Vec<Arc<OpenSocket>> = TABLE.read().iter().flatten().cloned().collect();
        sockets.sort_by_key(|s| Arc::as_ptr(s) as usize);
        sockets.dedup_by(|a, b| Arc::ptr_eq(a, b));
        let mut attach: Vec<std::sync::MutexGuard<'static, Attach>> =
            sockets.iter().map(|s| kept(s.attach.lock())).collect();
        let table = TABLE.write();
        tries += 1;
        let mut newcomers: Vec<Arc<OpenSocket>> = table
            .iter()
            .flatten()
            .filter(|s| {
                sockets
                    .binary_search_by_key(&(Arc::as_ptr(s) as usize), |h| Arc::as_ptr(h) as usize)
                    .is_err()
            })
            .cloned()
            .collect();
        newcomers.sort_by_key(|s| Arc::as_ptr(s) as usize);
        newcomers.dedup_by(|a, b| Arc::ptr_eq(a, b));
        let mut all = true;
        let mut more = Vec::new();
        for s in &newcomers {
            match s.attach.try_lock() {
                // `newcomers` joins `sockets` below, kept as long.
                Some(g) => more.push(kept(g)),
                None => {
                    all = false;
                    break;
                }
            }
        }
        if all || tries == 1000 {
            attach.extend(more);
            let mut sockets = sockets;
            sockets.extend(newcomers);
            break (sockets, attach, table);
        }
        drop(more);
        drop(table);
        drop(attach);
    };
    // Each one the child will hold too.
    for s in &sockets {
        s.shared.store(true, Ordering::Relaxed);
    }
    // Taken with an attach lock held (a socket's first call makes the door), and takes the
    // private descriptors' lock itself.
    let door = crate::service::client::hold_for_fork();
    let sys = crate::sys::hold_for_fork();
    let netdb = super::netdb::hold_for_fork();
    let locks = ForkLocks {
        // Last: nothing above may allocate once the reserve is held.
        _memory: crate::memory::hold_for_fork(),
        _netdb: netdb,
        _sys: sys,
        _door: door,
        _attach: attach,
        _sockets: sockets,
        _table: table,
        _attaching: attaching,
    };
    let _ = FORK_LOCKS.try_with(|l| *l.borrow_mut() = Some(locks));
}

fn release_fork_locks() {
    let _ = FORK_LOCKS.try_with(|l| l.borrow_mut().take());
}

extern "C" fn in_parent() {
    release_fork_locks();
}

extern "C" fn in_child() {
    release_fork_locks();
    renew_fork_mark();
    PID.store(raw_getpid(), Ordering::Relaxed);
    // Pages marked MADV_DONTFORK are not the child's: what the parent's threads found usable is
    // not the child's to trust.
    super::user::memory_changed();
    // A corked UDP datagram is the parent's, which goes on to send it: the child's own sends
    // begin a datagram of their own rather than send the parent's bytes a second time.
    for sock in TABLE.read().iter().flatten() {
        drop(sock.udp_cork.take());
    }
}

/// Registers the fork handlers and learns the inherited stack sockets when the library is loaded.
#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = init;

extern "C" fn init() {
    init_fork_mark();
    PID.store(raw_getpid(), Ordering::Relaxed);
    // A process that leaves this namespace later reaches the service only through a door.
    crate::service::client::note_namespace();
    // SAFETY: registering plain extern "C" functions.
    unsafe { libc::pthread_atfork(Some(before_fork), Some(in_parent), Some(in_child)) };
    if interposing() {
        scan_inherited();
    }
}
