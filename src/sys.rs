//! The stack's own system calls, made with `syscall(2)` rather than through libc's wrappers.
//!
//! When `libtapstack.so` is preloaded it exports `read`, `write`, `close`, `poll`, `socket`,
//! `ioctl`… to the program, and symbol interposition would send the stack's own calls to those
//! exports too. Everything the runtime and devices do to the kernel therefore goes through these
//! thin wrappers, which can never be interposed. Each returns `io::Result` with the kernel's errno.

use std::ffi::CStr;
use std::io;
use std::os::fd::RawFd;

/// `a` as the kernel takes it: a `sockaddr_in`, port and address in network byte order.
pub fn sockaddr_in(a: std::net::SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// A raw system call's return: the value, or the error errno names.
pub(crate) fn check(ret: libc::c_long) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

pub fn open(path: &CStr, flags: libc::c_int) -> io::Result<RawFd> {
    open_mode(path, flags, 0)
}

/// `open` with a creation mode.
pub fn open_mode(path: &CStr, flags: libc::c_int, mode: libc::mode_t) -> io::Result<RawFd> {
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
    let ret =
        unsafe { libc::syscall(libc::SYS_openat, libc::AT_FDCWD, path.as_ptr(), flags, mode) };
    check(ret).map(|fd| fd as RawFd)
}

pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    check(unsafe { libc::syscall(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len()) })
}

pub fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the kernel reads at most `buf.len()` bytes from `buf`.
    check(unsafe { libc::syscall(libc::SYS_write, fd, buf.as_ptr(), buf.len()) })
}

/// `readv` into two buffers: a header, then the rest.
pub fn read2(fd: RawFd, head: &mut [u8], rest: &mut [u8]) -> io::Result<usize> {
    let iov = [
        libc::iovec {
            iov_base: head.as_mut_ptr().cast(),
            iov_len: head.len(),
        },
        libc::iovec {
            iov_base: rest.as_mut_ptr().cast(),
            iov_len: rest.len(),
        },
    ];
    // SAFETY: the kernel writes at most each buffer's length into it.
    check(unsafe { libc::syscall(libc::SYS_readv, fd, iov.as_ptr(), 2) })
}

/// `writev` of two buffers: a header, then the rest.
pub fn write2(fd: RawFd, head: &[u8], rest: &[u8]) -> io::Result<usize> {
    let iov = [
        libc::iovec {
            iov_base: head.as_ptr() as *mut _,
            iov_len: head.len(),
        },
        libc::iovec {
            iov_base: rest.as_ptr() as *mut _,
            iov_len: rest.len(),
        },
    ];
    // SAFETY: the kernel only reads the buffers, within their lengths.
    check(unsafe { libc::syscall(libc::SYS_writev, fd, iov.as_ptr(), 2) })
}

/// `ioctl` with an integer argument.
pub fn ioctl_int(fd: RawFd, request: libc::c_ulong, arg: libc::c_ulong) -> io::Result<usize> {
    // SAFETY: the argument is a plain integer.
    check(unsafe { libc::syscall(libc::SYS_ioctl, fd, request, arg) })
}

pub fn close(fd: RawFd) -> io::Result<()> {
    // SAFETY: closing a descriptor has no memory-safety preconditions.
    check(unsafe { libc::syscall(libc::SYS_close, fd) }).map(drop)
}

/// `ioctl` with a pointer argument.
///
/// # Safety
/// `arg` must point to memory of the size and layout that `request` expects.
pub unsafe fn ioctl(
    fd: RawFd,
    request: libc::c_ulong,
    arg: *mut libc::c_void,
) -> io::Result<usize> {
    check(libc::syscall(libc::SYS_ioctl, fd, request, arg))
}

pub fn socket(domain: libc::c_int, ty: libc::c_int, protocol: libc::c_int) -> io::Result<RawFd> {
    // SAFETY: plain integer arguments.
    check(unsafe { libc::syscall(libc::SYS_socket, domain, ty, protocol) }).map(|fd| fd as RawFd)
}

/// An `eventfd(2)` counter, nonblocking and close-on-exec.
pub fn eventfd() -> io::Result<RawFd> {
    let flags = libc::EFD_NONBLOCK | libc::EFD_CLOEXEC;
    // SAFETY: plain integer arguments.
    check(unsafe { libc::syscall(libc::SYS_eventfd2, 0, flags) }).map(|fd| fd as RawFd)
}

/// An `eventfd(2)` counter whose `read` blocks while it is zero, close-on-exec: a blocked read
/// fails with ERESTARTSYS on a signal, so the kernel applies SA_RESTART to it.
pub fn eventfd_blocking() -> io::Result<RawFd> {
    // SAFETY: plain integer arguments.
    check(unsafe { libc::syscall(libc::SYS_eventfd2, 0, libc::EFD_CLOEXEC) }).map(|fd| fd as RawFd)
}

/// Adds one to an eventfd counter, waking whoever polls it.
pub fn eventfd_signal(fd: RawFd) {
    // EAGAIN only when the counter is about to overflow, which still leaves it readable.
    let _ = write(fd, &1u64.to_ne_bytes());
}

/// Resets an eventfd counter to zero.
pub fn eventfd_drain(fd: RawFd) {
    let mut buf = [0u8; 8];
    let _ = read(fd, &mut buf);
}

/// `poll(2)` with a millisecond timeout (`-1` blocks). EINTR is reported as zero ready descriptors.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    match poll_interruptible(fds, timeout_ms, None) {
        Err(e) if e.raw_os_error() == Some(libc::EINTR) => Ok(0),
        other => other,
    }
}

/// The kernel's signal set size, as `ppoll(2)` and `epoll_pwait(2)` take it (`_NSIG / 8`).
const KERNEL_SIGSET_SIZE: usize = 8;

/// `poll(2)` that reports EINTR, for waits a signal must be able to end. With `mask`, the thread's
/// signal mask is `mask` for the sleep alone, swapped in and out by the kernel, so a signal the
/// mask lets through ends it even if it arrived just before (`ppoll(2)`'s reason to exist).
pub fn poll_interruptible(
    fds: &mut [libc::pollfd],
    timeout_ms: i32,
    mask: Option<&libc::sigset_t>,
) -> io::Result<usize> {
    let ts;
    let ts_ptr = if timeout_ms < 0 {
        std::ptr::null()
    } else {
        ts = libc::timespec {
            tv_sec: (timeout_ms / 1000) as libc::time_t,
            tv_nsec: ((timeout_ms % 1000) as libc::c_long) * 1_000_000,
        };
        &ts as *const libc::timespec
    };
    // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures; `ts_ptr` and the mask are
    // null or valid (a sigset_t holds at least the kernel's set).
    check(unsafe {
        libc::syscall(
            libc::SYS_ppoll,
            fds.as_mut_ptr(),
            fds.len(),
            ts_ptr,
            mask.map_or(std::ptr::null(), |m| m as *const libc::sigset_t),
            KERNEL_SIGSET_SIZE,
        )
    })
}

/// `getrandom(2)`, for the seeds of the stack's keyed hashes.
pub fn getrandom(buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: the kernel writes at most `rest.len()` bytes into `rest`.
        let ret = unsafe { libc::syscall(libc::SYS_getrandom, rest.as_mut_ptr(), rest.len(), 0) };
        match check(ret) {
            Ok(n) => filled += n,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A fresh random 64-bit seed.
pub fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    if getrandom(&mut b).is_err() {
        // No getrandom (very old kernel): fall back to the clock and the address space layout.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        return t ^ (&b as *const _ as u64).rotate_left(32);
    }
    u64::from_ne_bytes(b)
}

/// The stack's clock for a runtime or service: CLOCK_MONOTONIC, in microseconds since boot.
///
/// Absolute rather than counted from the process's start, because two values depend on where it
/// stands and must keep moving forward when one service gives way to the next: the ISN timer M of
/// RFC 6528 §3 and the timestamp clock of RFC 7323 §5.4. A new service that reuses a 4-tuple the
/// peer still holds in TIME-WAIT is let in only if its SYN's sequence number or TSval is after the
/// old connection's (RFC 6191; Linux's `tcp_timewait_state_process`), so a clock that restarted
/// from zero would be turned away. CLOCK_MONOTONIC never steps; it is the clock
/// `std::time::Instant` reads, so deadlines stay comparable with the runtime's own waits.
pub fn monotonic_now() -> crate::time::Instant {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the kernel (or the vDSO) fills `ts`; CLOCK_MONOTONIC always exists on Linux.
    let ret = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    debug_assert_eq!(ret, 0);
    let micros = (ts.tv_sec as u64)
        .saturating_mul(1_000_000)
        .saturating_add(ts.tv_nsec as u64 / 1000);
    crate::time::Instant::from_micros(micros)
}

/// `fcntl` with an integer argument.
pub fn fcntl(fd: RawFd, cmd: libc::c_int, arg: libc::c_long) -> io::Result<usize> {
    // SAFETY: the commands used here take an integer argument.
    check(unsafe { libc::syscall(libc::SYS_fcntl, fd, cmd, arg) })
}

/// Where the stack's own descriptors live: high, out of the way of the program's numbering, which
/// starts from the bottom. Computed once from the soft RLIMIT_NOFILE.
pub fn private_base() -> RawFd {
    static BASE: std::sync::OnceLock<RawFd> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `lim` is a valid out pointer.
        let soft =
            if unsafe { libc::syscall(libc::SYS_getrlimit, libc::RLIMIT_NOFILE, &mut lim) } == 0 {
                lim.rlim_cur.min(1 << 20) as RawFd
            } else {
                1024
            };
        (soft - 256).max(64)
    })
}

/// The stack's own descriptors (TAP, eventfds, capture file), by number, so the preload shim can
/// keep a program's `close`, `closefrom`, `close_range` and `dup2` away from them.
static PRIVATE: std::sync::Mutex<Vec<std::sync::Weak<std::sync::atomic::AtomicI32>>> =
    std::sync::Mutex::new(Vec::new());

fn private_list(
) -> std::sync::MutexGuard<'static, Vec<std::sync::Weak<std::sync::atomic::AtomicI32>>> {
    PRIVATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// True if `fd` is one of the stack's own descriptors.
pub fn is_private(fd: RawFd) -> bool {
    use std::sync::atomic::Ordering;
    private_list()
        .iter()
        .filter_map(|w| w.upgrade())
        .any(|a| a.load(Ordering::Acquire) == fd)
}

/// The stack's own descriptors in `first..=last`.
pub fn private_in(first: RawFd, last: RawFd) -> Vec<RawFd> {
    use std::sync::atomic::Ordering;
    private_list()
        .iter()
        .filter_map(|w| w.upgrade())
        .map(|a| a.load(Ordering::Acquire))
        .filter(|fd| (first..=last).contains(fd))
        .collect()
}

/// Held for reading while a private descriptor's number is in use by another thread than its owner
/// ([`SharedFd::signal`]), for writing while one moves: so a number is never used just after it
/// moved and the program took it over.
static MOVING: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Threads asleep in `poll(2)` on private descriptors: an id, the numbers they poll, and the
/// eventfd that wakes them. The kernel looks a polled number up again on every wake-up, so a number
/// that moves (and is taken over by the program) under a sleeping poll would leave it watching the
/// program's file: [`relocate_private`] wakes such a thread and waits until it is out first.
static SLEEPERS: std::sync::Mutex<Vec<(u64, Vec<RawFd>, RawFd)>> =
    std::sync::Mutex::new(Vec::new());

fn sleepers() -> std::sync::MutexGuard<'static, Vec<(u64, Vec<RawFd>, RawFd)>> {
    SLEEPERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` (a poll) with the current numbers of `private`, the first of which must be an eventfd
/// that wakes it; none of them moves until `f` returns.
pub fn sleep_on<R>(private: &[SharedFd], f: impl FnOnce(&[RawFd]) -> R) -> R {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let nums: Vec<RawFd> = {
        let _moving = MOVING.read().unwrap_or_else(|e| e.into_inner());
        let nums: Vec<RawFd> = private.iter().map(|f| f.raw()).collect();
        let wake = nums.first().copied().unwrap_or(-1);
        sleepers().push((id, nums.clone(), wake));
        nums
    };
    let r = f(&nums);
    sleepers().retain(|(i, _, _)| *i != id);
    r
}

/// Wakes every thread asleep on `fd` and waits (up to a second) until none is.
fn evict_sleepers(fd: RawFd) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let wakes: Vec<RawFd> = sleepers()
            .iter()
            .filter(|(_, nums, _)| nums.contains(&fd))
            .map(|&(_, _, wake)| wake)
            .collect();
        if wakes.is_empty() {
            return;
        }
        if std::time::Instant::now() >= deadline {
            log::warn!("tapstack: a thread still sleeps on descriptor {fd}, which is moving");
            return;
        }
        for w in wakes {
            eventfd_signal(w);
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

/// Moves the private descriptor numbered `fd` (if it is one) to another number, so the program
/// can `dup2` onto `fd`. Whoever holds it reads the new number at its next use.
pub fn relocate_private(fd: RawFd) {
    use std::sync::atomic::Ordering;
    let _moving = MOVING.write().unwrap_or_else(|e| e.into_inner());
    if !is_private(fd) {
        return;
    }
    evict_sleepers(fd);
    let list = private_list();
    for slot in list.iter().filter_map(|w| w.upgrade()) {
        if slot.load(Ordering::Acquire) == fd {
            // Above it if there is room, else wherever a number is free.
            let moved = fcntl(fd, libc::F_DUPFD_CLOEXEC, libc::c_long::from(fd + 1))
                .or_else(|_| {
                    fcntl(
                        fd,
                        libc::F_DUPFD_CLOEXEC,
                        libc::c_long::from(private_base()),
                    )
                })
                .or_else(|_| fcntl(fd, libc::F_DUPFD_CLOEXEC, 3));
            match moved {
                Ok(new) => {
                    slot.store(new as RawFd, Ordering::Release);
                    let _ = close(fd);
                }
                Err(e) => log::error!("tapstack: descriptor {fd} is needed by the program and no other number is free: {e}"),
            }
        }
    }
}

/// This module's locks, held across `fork` (taken in the order the code nests them).
pub struct ForkGuard {
    _moving: std::sync::RwLockWriteGuard<'static, ()>,
    _private: std::sync::MutexGuard<'static, Vec<std::sync::Weak<std::sync::atomic::AtomicI32>>>,
    _sleepers: std::sync::MutexGuard<'static, Vec<(u64, Vec<RawFd>, RawFd)>>,
}

/// Takes this module's locks before a `fork`, so the child never inherits one held by a thread
/// that does not exist there; drop the guard in both parent and child.
pub fn hold_for_fork() -> ForkGuard {
    let moving = MOVING.write().unwrap_or_else(|e| e.into_inner());
    ForkGuard {
        _moving: moving,
        _private: private_list(),
        _sleepers: sleepers(),
    }
}

/// Closes every private descriptor: a forked child must not keep the parent's TAP attached.
pub fn close_all_private() {
    use std::sync::atomic::Ordering;
    for slot in private_list().iter().filter_map(|w| w.upgrade()) {
        let fd = slot.swap(-1, Ordering::AcqRel);
        if fd >= 0 {
            let _ = close(fd);
        }
    }
}

/// An owned descriptor of the stack's own, closed with the raw `close` syscall on drop.
///
/// On creation it moves to a high number (close-on-exec) and joins the private registry; its number
/// may change later (see [`relocate_private`]), so users call [`Fd::raw`] at each use.
#[derive(Debug)]
pub struct Fd(std::sync::Arc<std::sync::atomic::AtomicI32>);

impl Fd {
    pub fn new(fd: RawFd) -> Fd {
        let fd = match fcntl(
            fd,
            libc::F_DUPFD_CLOEXEC,
            libc::c_long::from(private_base()),
        ) {
            Ok(high) => {
                let _ = close(fd);
                high as RawFd
            }
            Err(_) => fd,
        };
        let slot = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(fd));
        let mut list = private_list();
        list.retain(|w| w.strong_count() > 0);
        list.push(std::sync::Arc::downgrade(&slot));
        Fd(slot)
    }

    pub fn raw(&self) -> RawFd {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }

    /// A handle on this descriptor's number that follows it when it moves, for other threads.
    pub fn share(&self) -> SharedFd {
        SharedFd(self.0.clone())
    }
}

/// Another thread's view of a private [`Fd`]: reads the current number at each use, and does
/// nothing once the descriptor is closed. Does not keep it open.
#[derive(Clone, Debug)]
pub struct SharedFd(std::sync::Arc<std::sync::atomic::AtomicI32>);

impl SharedFd {
    /// True if both name the same descriptor.
    pub fn same(&self, other: &SharedFd) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }

    /// The descriptor's number now (-1 once closed).
    pub fn raw(&self) -> RawFd {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Signals the eventfd wherever it now is (see [`eventfd_signal`]).
    pub fn signal(&self) {
        let _moving = MOVING.read().unwrap_or_else(|e| e.into_inner());
        let fd = self.0.load(std::sync::atomic::Ordering::Acquire);
        if fd >= 0 {
            eventfd_signal(fd);
        }
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // Not while a [`SharedFd`] is about to use the number.
        let _moving = MOVING.write().unwrap_or_else(|e| e.into_inner());
        let fd = self.0.swap(-1, std::sync::atomic::Ordering::AcqRel);
        if fd >= 0 {
            let _ = close(fd);
        }
    }
}

/// [`write`], tried again when a signal interrupts it.
fn write_restarting(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    loop {
        match write(fd, buf) {
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            r => return r,
        }
    }
}

/// Standard error written with the raw syscall, for the stack's own log lines.
#[derive(Debug)]
pub struct RawStderr;

impl io::Write for RawStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_restarting(libc::STDERR_FILENO, buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A `Write` over a private descriptor (the pcap recorder's file).
#[derive(Debug)]
pub struct FdWriter(pub Fd);

impl io::Write for FdWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_restarting(self.0.raw(), buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `program` (with `argv` and `envp`, NULL-terminated) in a process that the calling
/// program never sees. A server that counts its children by their SIGCHLD (ncat's `-c`, which
/// asserts it never reaps more than it made) would otherwise take the stack's for one of its own.
/// So the process is a grandchild: a raw `clone` whose exit sends no signal makes a child that
/// the program's `waitpid(-1)` cannot reap (a "clone child", seen only with `__WCLONE`), and that
/// child forks the one that runs `program` and exits at once, leaving it to init. (The child
/// itself must not `execve`: that turns its exit signal back into SIGCHLD.)
/// `keep` becomes descriptor 3 of `program`, which starts with every signal at its default and
/// none blocked; if its `execve` fails it writes `error: …` on `keep` and exits 127. Returns the
/// child's id, to be reaped with [`reap_unseen`].
///
/// # Safety
/// `program`, `argv` and `envp` must be valid as `execve` takes them, and stay so until this
/// returns.
pub unsafe fn spawn_unseen(
    program: &CStr,
    argv: &[*mut libc::c_char],
    envp: &[*mut libc::c_char],
    keep: RawFd,
) -> io::Result<libc::pid_t> {
    // Every signal blocked across the clones, so none runs the program's handler in them.
    let mut all: libc::sigset_t = std::mem::zeroed();
    let mut old: libc::sigset_t = std::mem::zeroed();
    libc::sigfillset(&mut all);
    set_signal_mask(&all, &mut old);
    // No CLONE_* flags and an exit signal of 0: a copy of this process, as fork makes, that
    // nobody is told about when it ends.
    let pid = libc::syscall(libc::SYS_clone, 0, 0, 0, 0, 0);
    if pid == 0 {
        // From here on raw system calls only: another thread may have held a lock of libc's.
        if libc::syscall(libc::SYS_clone, libc::SIGCHLD, 0, 0, 0, 0) == 0 {
            exec_unseen(program, argv, envp, keep);
        }
        libc::syscall(libc::SYS_exit_group, 0);
    }
    let err = io::Error::last_os_error();
    set_signal_mask(&old, std::ptr::null_mut());
    if pid < 0 {
        return Err(err);
    }
    Ok(pid as libc::pid_t)
}

/// Every signal held back from this thread until the guard goes (then the mask it had comes
/// back, and what arrived meanwhile is delivered). For a stretch of the shim that holds a lock
/// across a system call: a signal handler that calls into the shim on the same thread would wait
/// for that lock for ever. Two system calls, so only for paths that are rare or slow anyway.
pub struct SignalsHeld(libc::sigset_t);

impl SignalsHeld {
    pub fn new() -> SignalsHeld {
        // SAFETY: plain data; sigfillset fills it; the mask calls get valid sets.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            let mut old: libc::sigset_t = std::mem::zeroed();
            set_signal_mask(&all, &mut old);
            SignalsHeld(old)
        }
    }
}

impl Default for SignalsHeld {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for SignalsHeld {
    fn drop(&mut self) {
        // SAFETY: the mask saved by `new`.
        unsafe { set_signal_mask(&self.0, std::ptr::null_mut()) };
    }
}

/// This thread's signal mask becomes `new` (the old one into `old`, if not null): the raw
/// rt_sigprocmask, with the kernel's 8-byte sigset, safe between a clone and an exec.
///
/// # Safety
/// `new` points to a sigset; `old` is null or points to room for one.
unsafe fn set_signal_mask(new: *const libc::sigset_t, old: *mut libc::sigset_t) {
    libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, new, old, 8);
}

/// The grandchild of [`spawn_unseen`]: signals at their defaults and unblocked, `keep` as
/// descriptor 3, then `program`; never returns.
unsafe fn exec_unseen(
    program: &CStr,
    argv: &[*mut libc::c_char],
    envp: &[*mut libc::c_char],
    keep: RawFd,
) -> ! {
    for sig in 1..65 {
        // The kernel's `struct sigaction`: handler, flags, restorer, mask.
        let dfl: [usize; 4] = [libc::SIG_DFL, 0, 0, 0];
        libc::syscall(libc::SYS_rt_sigaction, sig, dfl.as_ptr(), 0, 8);
    }
    if keep == 3 {
        libc::syscall(libc::SYS_fcntl, 3, libc::F_SETFD, 0);
    } else {
        libc::syscall(libc::SYS_dup3, keep, 3, 0);
    }
    set_signal_mask(&std::mem::zeroed(), std::ptr::null_mut());
    libc::syscall(
        libc::SYS_execve,
        program.as_ptr(),
        argv.as_ptr(),
        envp.as_ptr(),
    );
    // Said without allocating: the errno's number after a fixed message.
    let errno = *libc::__errno_location();
    let mut msg = *b"error: cannot run the tapstack program (execve errno 000)\n";
    let at = msg.len() - 5;
    msg[at] = b'0' + (errno / 100 % 10) as u8;
    msg[at + 1] = b'0' + (errno / 10 % 10) as u8;
    msg[at + 2] = b'0' + (errno % 10) as u8;
    libc::syscall(libc::SYS_write, 3, msg.as_ptr(), msg.len());
    libc::syscall(libc::SYS_exit_group, 127);
    unreachable!("exit_group returned")
}

/// Waits for a child made by [`spawn_unseen`] to end; its exit status.
pub fn reap_unseen(pid: libc::pid_t) -> io::Result<i32> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid int for the kernel to fill.
        let r = unsafe {
            libc::syscall(
                libc::SYS_wait4,
                pid,
                &mut status as *mut i32,
                libc::__WCLONE,
                std::ptr::null_mut::<libc::rusage>(),
            )
        };
        match check(r) {
            Ok(_) => return Ok(status),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}
