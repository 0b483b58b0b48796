//! The shim's process-wide state: the descriptor table, the stack runtime (started on first need),
//! and what happens across `fork`.
//!
//! # Descriptors
//! A stack socket is reached through a real kernel descriptor that reserves its number: when a
//! program calls `socket(AF_INET, …)` the shim first makes a real kernel socket of the same type, so
//! numbering, `close`, `dup2` over it, `FD_SETSIZE`, `fstat` and `exec` all behave as usual. The
//! table maps that number to an [`OpenSocket`] (shared by `dup`ed numbers, like an open file
//! description). The socket starts *pending*: the first `bind`/`connect`/`sendto` decides where it
//! lives. An address in 127.0.0.0/8 leaves it on the kernel (its entries, `dup`s' too, are dropped,
//! epoll interest taken while pending moves into the real instances, and every later call goes
//! straight to libc); anything else attaches it to the stack.
//!
//! # The runtime
//! Started the first time a socket attaches, from the `TAPSTACK_*` variables. If it cannot start
//! (no TAP, TAP busy), the reason is printed once on stderr and the call fails with ENETDOWN. If its
//! network thread dies (it kept panicking), calls fail with EIO.
//!
//! # fork
//! A forked child does not share its parent's stack: the stack's private descriptors (the TAP among
//! them) are closed in the child, so the parent keeps its network. Inherited stack sockets can only be
//! closed in the child (which leaves the parent's connections untouched); any other use fails with
//! EOPNOTSUPP. A child that `exec`s starts afresh, and its own sockets start its own stack — which
//! finds the TAP busy while the parent holds it. The shim's locks a child may need are held across
//! the `fork` itself, so none is inherited locked by a thread the child does not have.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::forklock::{Mutex, RwLock};
use once_cell::sync::OnceCell;

use crate::config::Config;
use crate::error::Errno;
use crate::runtime::Runtime;
use crate::stack::SocketHandle;

/// SOCK_STREAM or SOCK_DGRAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Stream,
    Dgram,
}

/// Socket options set before the socket attached, applied when it does.
#[derive(Clone, Debug, Default)]
pub struct Pending {
    pub reuse_addr: bool,
    pub keepalive: Option<bool>,
    pub keepidle: Option<Duration>,
    pub keepintvl: Option<Duration>,
    pub keepcnt: Option<u32>,
    pub nodelay: Option<bool>,
    pub rcvbuf: Option<usize>,
    pub sndbuf: Option<usize>,
    pub linger: Option<Option<Duration>>,
    pub ttl: Option<u8>,
    pub tos: Option<u8>,
    pub mss: Option<u16>,
    pub reno: Option<bool>,
}

pub enum Attach {
    Pending(Pending),
    Stack(SocketHandle),
}

/// What a descriptor refers to: one stack socket, shared by `dup`s of the descriptor.
pub struct OpenSocket {
    pub kind: Kind,
    pub attach: Mutex<Attach>,
    pub nonblocking: AtomicBool,
    /// SO_RCVTIMEO / SO_SNDTIMEO in microseconds; 0 means none.
    pub rcvtimeo_us: AtomicU64,
    pub sndtimeo_us: AtomicU64,
    /// SO_BROADCAST as set (a UDP socket's stack socket gets it too: it decides broadcast sends).
    pub broadcast: AtomicBool,
    /// SO_REUSEPORT as set, reported back; each port still belongs to one socket.
    pub reuse_port: AtomicBool,
}

impl OpenSocket {
    pub fn new(kind: Kind, nonblocking: bool) -> OpenSocket {
        OpenSocket {
            kind,
            attach: Mutex::new(Attach::Pending(Pending::default())),
            nonblocking: AtomicBool::new(nonblocking),
            rcvtimeo_us: AtomicU64::new(0),
            sndtimeo_us: AtomicU64::new(0),
            broadcast: AtomicBool::new(false),
            reuse_port: AtomicBool::new(false),
        }
    }

    pub fn attached(kind: Kind, handle: SocketHandle, nonblocking: bool) -> OpenSocket {
        let s = OpenSocket::new(kind, nonblocking);
        *s.attach.lock() = Attach::Stack(handle);
        s
    }

    pub fn handle(&self) -> Option<SocketHandle> {
        match &*self.attach.lock() {
            Attach::Stack(h) => Some(*h),
            Attach::Pending(_) => None,
        }
    }

    pub fn is_nonblocking(&self) -> bool {
        self.nonblocking.load(Ordering::Relaxed)
    }

    pub fn timeout(us: &AtomicU64) -> Option<Duration> {
        match us.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_micros(n)),
        }
    }
}

impl Drop for OpenSocket {
    /// The last descriptor is gone: the program is done with the socket.
    fn drop(&mut self) {
        if let Attach::Stack(h) = &*self.attach.lock() {
            if forked() {
                return;
            }
            if let Some(Ok(rt)) = RUNTIME.get() {
                rt.with_stack(|s, now| {
                    let _ = s.close(now, *h);
                });
            }
        }
    }
}

static TABLE: RwLock<Vec<Option<Arc<OpenSocket>>>> = RwLock::new(Vec::new());
/// Live entries in TABLE: with none, every call skips the lock.
static ENTRIES: AtomicUsize = AtomicUsize::new(0);

/// The stack socket behind descriptor `fd`, if it is one.
pub fn get(fd: RawFd) -> Option<Arc<OpenSocket>> {
    if fd < 0 || ENTRIES.load(Ordering::Acquire) == 0 {
        return None;
    }
    TABLE.read().get(fd as usize).and_then(|e| e.clone())
}

pub fn insert(fd: RawFd, sock: Arc<OpenSocket>) {
    let old = {
        let mut t = TABLE.write();
        let i = fd as usize;
        if t.len() <= i {
            t.resize(i + 1, None);
        }
        let old = t[i].replace(sock);
        if old.is_none() {
            ENTRIES.fetch_add(1, Ordering::AcqRel);
        }
        old
    };
    // Dropped outside the table's lock: closing a socket takes the stack's lock, and a thread
    // holding the stack's lock may be waiting to read the table.
    drop(old);
}

/// Forgets descriptor `fd`; the socket closes when its last descriptor is gone.
pub fn remove(fd: RawFd) -> Option<Arc<OpenSocket>> {
    if fd < 0 || ENTRIES.load(Ordering::Acquire) == 0 {
        return None;
    }
    let taken = TABLE.write().get_mut(fd as usize).and_then(Option::take);
    if taken.is_some() {
        ENTRIES.fetch_sub(1, Ordering::AcqRel);
    }
    taken
}

/// Forgets every descriptor that refers to `sock` (it and its `dup`s); returns their numbers.
pub fn remove_all(sock: &OpenSocket) -> Vec<RawFd> {
    if ENTRIES.load(Ordering::Acquire) == 0 {
        return Vec::new();
    }
    let mut taken = Vec::new();
    let fds = {
        let mut t = TABLE.write();
        let mut fds = Vec::new();
        for (i, e) in t.iter_mut().enumerate() {
            if e.as_ref()
                .is_some_and(|e| std::ptr::eq(Arc::as_ptr(e), sock))
            {
                taken.extend(e.take());
                fds.push(i as RawFd);
            }
        }
        ENTRIES.fetch_sub(fds.len(), Ordering::AcqRel);
        fds
    };
    // Dropped outside the table's lock, as in `insert`.
    drop(taken);
    fds
}

/// Every descriptor in `first..=last` that is a stack socket.
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

static RUNTIME: OnceCell<Result<Runtime, String>> = OnceCell::new();
static FORKED: AtomicBool = AtomicBool::new(false);
/// This process's id, to recognise a `vfork` child (or `posix_spawn`'s, or `clone(CLONE_VM)`'s):
/// it runs in our memory before it `exec`s, without the fork handlers, so whatever it closes must
/// not touch the parent's table.
static PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

fn raw_getpid() -> i32 {
    // SAFETY: getpid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_getpid) as i32 }
}

/// True in a child that shares our memory (vfork): descriptor calls then go straight to libc.
pub fn in_vfork_child() -> bool {
    let pid = PID.load(Ordering::Relaxed);
    pid != 0 && raw_getpid() != pid
}

pub fn forked() -> bool {
    FORKED.load(Ordering::Relaxed)
}

/// The running stack, started on first use.
pub fn runtime() -> Result<&'static Runtime, Errno> {
    if forked() {
        return Err(Errno::EOPNOTSUPP);
    }
    let r = RUNTIME.get_or_init(|| {
        let started = Config::from_env()
            .map_err(|e| e.to_string())
            .and_then(|config| {
                crate::runtime::init_logging(config.log.as_deref());
                Runtime::start(&config).map_err(|e| e.to_string())
            });
        match &started {
            Ok(_) => {
                // SAFETY: registering a plain extern "C" function.
                unsafe { libc::atexit(at_exit) };
            }
            Err(e) => eprintln!("tapstack: the network stack could not start: {e}"),
        }
        started
    });
    match r {
        // The network thread gave up (it kept failing): nothing would ever answer.
        Ok(rt) if rt.is_dead() => Err(Errno::EIO),
        Ok(rt) => Ok(rt),
        Err(_) => Err(Errno(libc::ENETDOWN)),
    }
}

/// The runtime if it has started; `None` never starts it.
pub fn runtime_if_started() -> Option<&'static Runtime> {
    match RUNTIME.get() {
        Some(Ok(rt)) if !forked() => Some(rt),
        _ => None,
    }
}

/// At exit, as the kernel would for a dying process: close every stack socket still open and give
/// the closing handshakes a moment to finish, so peers see FIN rather than silence.
extern "C" fn at_exit() {
    let fds = fds_in(0, RawFd::MAX - 1);
    for fd in fds {
        remove(fd);
    }
    if let Some(rt) = runtime_if_started() {
        rt.linger(Duration::from_secs(2));
        rt.flush_device();
    }
}

/// Whether `socket()` should hand out stack sockets: yes when preloaded (`tapstack run`, or
/// LD_PRELOAD naming this library) or asked (TAPSTACK_INTERPOSE=1); a program that links the C API
/// without preloading keeps the kernel's sockets for plain `socket()` calls.
pub fn interposing() -> bool {
    static ON: OnceCell<bool> = OnceCell::new();
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
/// parent or the child releases them (fields drop in order: the sockets' guards before the sockets).
struct ForkLocks {
    _netdb: super::netdb::ForkGuard,
    _sys: crate::sys::ForkGuard,
    _attach: Vec<std::sync::MutexGuard<'static, Attach>>,
    _sockets: Vec<Arc<OpenSocket>>,
    _table: std::sync::RwLockWriteGuard<'static, Vec<Option<Arc<OpenSocket>>>>,
    _shadows: super::epoll::ForkGuard,
}

thread_local! {
    static FORK_LOCKS: std::cell::RefCell<Option<ForkLocks>> = const { std::cell::RefCell::new(None) };
}

/// Takes every lock a child could need (using or closing an inherited socket takes the epoll
/// shadows, the table, the socket's own lock and the private-descriptor list; freeing an inherited
/// `getaddrinfo` list, the resolver's registry), in the order the
/// code nests them, so the child never inherits one held by a thread that does not exist there.
/// The runtime's own locks (the stack, its waiters) are left alone: a child never touches the
/// parent's runtime.
extern "C" fn before_fork() {
    let shadows = super::epoll::hold_for_fork();
    let table = TABLE.write();
    // Each socket once, though `dup`s share it.
    let mut sockets: Vec<Arc<OpenSocket>> = table.iter().flatten().cloned().collect();
    sockets.sort_by_key(|s| Arc::as_ptr(s) as usize);
    sockets.dedup_by(|a, b| Arc::ptr_eq(a, b));
    let attach = sockets
        .iter()
        .map(|s| {
            let guard = s.attach.lock();
            // SAFETY: the guard borrows a socket kept alive by `sockets`, which ForkLocks drops
            // after the guards.
            unsafe {
                std::mem::transmute::<
                    std::sync::MutexGuard<'_, Attach>,
                    std::sync::MutexGuard<'static, Attach>,
                >(guard)
            }
        })
        .collect();
    let sys = crate::sys::hold_for_fork();
    let netdb = super::netdb::hold_for_fork();
    let locks = ForkLocks {
        _netdb: netdb,
        _sys: sys,
        _attach: attach,
        _sockets: sockets,
        _table: table,
        _shadows: shadows,
    };
    let _ = FORK_LOCKS.try_with(|l| *l.borrow_mut() = Some(locks));
}

/// Releases what `before_fork` took, on the forking thread (the only one the child has).
fn release_fork_locks() {
    let _ = FORK_LOCKS.try_with(|l| l.borrow_mut().take());
}

extern "C" fn in_parent() {
    release_fork_locks();
}

extern "C" fn in_child() {
    release_fork_locks();
    FORKED.store(true, Ordering::Relaxed);
    PID.store(raw_getpid(), Ordering::Relaxed);
    if RUNTIME.get().is_some_and(|r| r.is_ok()) {
        crate::sys::close_all_private();
    }
}

/// Registers the fork handlers when the library is loaded.
#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = init;

extern "C" fn init() {
    PID.store(raw_getpid(), Ordering::Relaxed);
    // SAFETY: registering plain extern "C" functions.
    unsafe { libc::pthread_atfork(Some(before_fork), Some(in_parent), Some(in_child)) };
}
