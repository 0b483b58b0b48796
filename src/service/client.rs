//! A program's side of the service: its control connections, and starting the service when none
//! runs.
//!
//! Each thread has its own control connection (made on its first request, remade after `fork`), so
//! a thread blocked in `connect` never holds up another's `accept`. Requests are answered in order;
//! a reply to an older request (one a signal interrupted) is recognised by its sequence number and
//! dropped, with any descriptor it carried.
//!
//! # The door: reaching the service from another network namespace
//! A control connection is made to the service's abstract name, which the kernel looks up in the
//! network namespace of the process connecting. A child that leaves the namespace (vsftpd's session
//! process, made by `clone(CLONE_NEWNET)`, or `unshare(CLONE_NEWNET)` after `fork`) could then no
//! longer reach the service, and its inherited stack sockets would answer nothing but their data.
//! So the first time a process reaches the service by name it also keeps a door: one more
//! connection to the service (a private descriptor, close-on-exec so an exec'd program makes its
//! own), marked as a door by its first message ([`proto::DOOR`]), which its children inherit
//! across `fork` and raw `clone`. A process that cannot reach the name, is not (as far as /proc
//! tells) in the namespace the library was loaded in, and holds a door makes a socketpair and
//! sends one end through the door with its credentials (one message, so processes sharing the door
//! never interleave; the service never writes on it): the service takes that end as a new client,
//! and the other is the process's control connection. The name is always tried first, so the usual
//! case is as before and no request costs more; the door costs one connection per process tree
//! (per `exec`). A client that came through a door is outside the stack's namespace: its inherited
//! sockets work, and its new sockets are the kernel's, in its own namespace, as Linux's would be
//! ([`outside`]).
//!
//! A process that left the namespace and has no door says so once; it never starts a service
//! there (the TAP is not in its namespace).
//!
//! # Starting the service
//! When no service answers for the TAP, the first program to notice starts one: it runs
//! `tapstack service` (found beside `libtapstack.so`, or named by `TAPSTACK_BIN`) without the
//! preload, detached from the program, and waits for its word on a pipe: `ok`, `busy` (another
//! program's service won the race, so connect to that one) or the reason it could not start, which
//! is printed once on stderr (unless stderr is a socket: an inetd-style or vsftpd child's stderr is
//! its connection, so the words go to the log only); calls then fail with ENETDOWN.

use std::cell::RefCell;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use super::proto::{self, Call, Reply, Request, Target, Value, MAX_MESSAGE};
use super::server::control_name;
use super::uds;
use crate::config::Config;
use crate::error::{Errno, Result};
use crate::sys;

struct Control {
    fd: sys::Fd,
    pid: i32,
    seq: u32,
    /// The service has answered on this connection: it was admitted (a service out of
    /// descriptors answers a new connection's first request with ENFILE and closes it).
    admitted: bool,
    /// [`USER_EPOCH`] when it was made.
    epoch: u32,
}

thread_local! {
    static CONTROL: RefCell<Option<Control>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's control connection. While the thread exits that is gone (glibc runs
/// the main thread's thread-local destructors before the `atexit` handlers, which may still close
/// or shut down sockets): `f` then gets a connection of its own, closed when it returns.
fn with_control<R>(f: impl FnOnce(&RefCell<Option<Control>>) -> R) -> R {
    let mut f = Some(f);
    match CONTROL.try_with(|slot| (f.take().expect("called once"))(slot)) {
        Ok(r) => r,
        Err(_) => (f.take().expect("not called"))(&RefCell::new(None)),
    }
}

/// Says why the stack is unavailable, once per process ([`say`]).
fn report_once(message: &str) {
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        say(message);
    }
}

/// Says `message` on stderr as the library's own words ("tapstack: …"), unless stderr is a
/// socket: an inetd-style server's or vsftpd's session has its connection there, and the words
/// would go to its peer. Then only to the log (which a preloaded program does not keep).
pub fn say(message: &str) {
    // SAFETY: stat is plain data; the kernel fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out pointer.
    let r = unsafe { libc::syscall(libc::SYS_fstat, 2, &mut st as *mut libc::stat) };
    if r == 0 && st.st_mode & libc::S_IFMT == libc::S_IFSOCK {
        log::warn!("{message}");
    } else {
        let line = format!("tapstack: {message}\n");
        let _ = sys::write(2, line.as_bytes());
    }
}

/// Settings given in code (`tapstack_set`), on top of the environment.
static OVERRIDES: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());
static CONFIG: std::sync::OnceLock<std::result::Result<Config, String>> =
    std::sync::OnceLock::new();

/// Sets `var` (a `TAPSTACK_*` name) to `value` for this process, as if it were in the
/// environment: checked now, used when the stack is first needed. After that, EBUSY.
pub fn set(var: &str, value: &str) -> std::result::Result<(), (Errno, String)> {
    if CONFIG.get().is_some() {
        return Err((Errno(libc::EBUSY), "the stack is already in use".into()));
    }
    match var {
        // The service's own settings, passed to it when this process starts it.
        "TAPSTACK_IDLE_EXIT" => {
            super::parse_idle_exit(value).map_err(|e| (Errno::EINVAL, e))?;
        }
        "TAPSTACK_BUSY_POLL" => {
            super::parse_busy_poll(value).map_err(|e| (Errno::EINVAL, e))?;
        }
        // This process's own: how long its blocking reads spin (crate::posix::io).
        "TAPSTACK_BUSY_READ" => {
            super::parse_busy_read(value).map_err(|e| (Errno::EINVAL, e))?;
        }
        "TAPSTACK_SERVICE_LOG" | "TAPSTACK_BIN" if !value.is_empty() => {}
        _ => {
            let mut settings = crate::config::Settings::from_lookup(|_| None)
                .map_err(|e| (Errno::EINVAL, e.to_string()))?;
            settings
                .set(var, value)
                .map_err(|e| (Errno::EINVAL, e.to_string()))?;
        }
    }
    let mut o = OVERRIDES.lock().unwrap_or_else(|e| e.into_inner());
    o.retain(|(k, _)| k != var);
    o.push((var.to_string(), value.to_string()));
    Ok(())
}

/// `var` as set in code ([`set`]) or else in the environment.
pub fn setting(var: &str) -> Option<String> {
    let set = overrides()
        .into_iter()
        .rev()
        .find(|(k, _)| k == var)
        .map(|(_, v)| v);
    set.or_else(|| std::env::var(var).ok())
}

fn overrides() -> Vec<(String, String)> {
    OVERRIDES.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The configuration from the environment and [`set`], read once.
pub fn config() -> Result<&'static Config> {
    let made = CONFIG.get_or_init(|| {
        let o = overrides();
        crate::config::Settings::from_lookup(|var| {
            o.iter()
                .rev()
                .find(|(k, _)| k == var)
                .map(|(_, v)| v.clone())
                .or_else(|| std::env::var(var).ok())
        })
        .and_then(|s| s.resolve())
        .map_err(|e| e.to_string())
    });
    match made {
        Ok(c) => Ok(c),
        Err(e) => {
            report_once(&format!("the network stack could not start: {e}"));
            Err(Errno(libc::ENETDOWN))
        }
    }
}

/// Makes sure this thread can reach the service (starting it if need be).
pub fn ready() -> Result<()> {
    match call(Target::Existing, Call::TakeError, None, None).0 {
        Err(Errno::EBADF) => Ok(()),
        Err(e) => Err(e),
        Ok(_) => Ok(()),
    }
}

/// Sends `call` about `target` (with the socket's descriptor `fd` for an existing one) and waits
/// for the answer: its value and the descriptor it carried, if any. `timeout` bounds the wait
/// (then EAGAIN); a signal ends it with EINTR unless its handler has SA_RESTART and no timeout is
/// set, as for the kernel's own blocking socket calls.
pub fn call(
    target: Target,
    call: Call,
    fd: Option<RawFd>,
    timeout: Option<Duration>,
) -> (Result<Value>, Option<OwnedFd>) {
    call_then(target, call, fd, timeout, || {})
}

/// [`call`] about an existing socket, with no timeout, that never starts a service: with none
/// running, the error of reaching none.
pub fn call_running(
    target: Target,
    call: Call,
    fd: Option<RawFd>,
) -> (Result<Value>, Option<OwnedFd>) {
    exchange(target, call, fd.as_slice(), false, None, || {}, false)
}

/// Whether this thread's control connection has had an answer: until then a request that gets
/// none ([`tell`]) could be lost unanswered with a connection the service refused.
pub fn admitted() -> bool {
    with_control(|slot| {
        slot.try_borrow().is_ok_and(|c| {
            c.as_ref()
                .is_some_and(|c| c.admitted && c.pid == crate::posix::state::pid())
        })
    })
}

/// Sends `call` about `target` with descriptors `fds` and goes on at once: no answer comes (the
/// socket itself reports how it went).
pub fn tell(target: Target, call: Call, fds: &[RawFd]) -> Result<()> {
    exchange(target, call, fds, true, None, || {}, true)
        .0
        .map(drop)
}

/// [`call`], running `between` once the request is sent and before the answer is awaited.
pub fn call_then(
    target: Target,
    call: Call,
    fd: Option<RawFd>,
    timeout: Option<Duration>,
    between: impl FnOnce(),
) -> (Result<Value>, Option<OwnedFd>) {
    exchange(target, call, fd.as_slice(), false, timeout, between, true)
}

/// This thread's control connection, made if need be (starting the service if none runs and
/// `may_start`).
fn ensure(slot: &mut Option<Control>, may_start: bool) -> Result<&mut Control> {
    let pid = crate::posix::state::pid();
    let epoch = USER_EPOCH.load(Ordering::Relaxed);
    if slot
        .as_ref()
        .is_some_and(|c| c.pid != pid || c.epoch != epoch)
    {
        // Inherited over fork: the parent's connection, not ours to use. Or made before the
        // process changed its user: the service would take its calls with the old user's rights.
        *slot = None;
    }
    if slot.is_none() {
        let fd = connect(may_start)?;
        *slot = Some(Control {
            fd: sys::Fd::new(fd.into_raw_fd()),
            pid,
            seq: 0,
            admitted: false,
            epoch,
        });
    }
    Ok(slot.as_mut().expect("just made"))
}

/// Holds the lowest free descriptor number (a duplicate of this thread's control connection, made
/// first if need be) for a call whose answer brings a descriptor: the kernel puts a received
/// descriptor at the lowest free number, and drops it if there is none, so the caller learns
/// beforehand that the table is full (EMFILE) and frees the number just before the answer comes.
/// Linux's `accept` likewise takes its number before it waits. Without `may_start`, no service
/// is started for it: with none to reach, the number is held with a duplicate of `near`.
pub fn reserve_number(near: RawFd, may_start: bool) -> Result<OwnedFd> {
    with_control(|slot| {
        let mut slot = slot.try_borrow_mut().map_err(|_| Errno::EAGAIN)?;
        let base = match ensure(&mut slot, may_start) {
            Ok(c) => c.fd.raw(),
            Err(Errno::EMFILE) => return Err(Errno::EMFILE),
            Err(_) if !may_start => near,
            Err(e) => return Err(e),
        };
        let n = sys::fcntl(base, libc::F_DUPFD_CLOEXEC, 0)
            .map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EMFILE)))?;
        // SAFETY: the kernel just made this descriptor, and nothing else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(n as RawFd) })
    })
}

/// Sends `call` and, unless `quiet`, waits for its answer; a service is started if none runs
/// only with `may_start`.
fn exchange(
    target: Target,
    call: Call,
    fds: &[RawFd],
    quiet: bool,
    timeout: Option<Duration>,
    between: impl FnOnce(),
    may_start: bool,
) -> (Result<Value>, Option<OwnedFd>) {
    with_control(|slot| {
        let mut slot = match slot.try_borrow_mut() {
            Ok(s) => s,
            // A signal handler calling into the stack while this thread waits on it.
            Err(_) => return (Err(Errno::EAGAIN), None),
        };
        let c = match ensure(&mut slot, may_start) {
            Ok(c) => c,
            Err(e) => return (Err(e), None),
        };
        c.seq = c.seq.wrapping_add(1);
        let seq = c.seq;
        // Only the waits of a blocking connect and of a lingering close end with a signal, as
        // the kernel's own do.
        let interruptible = matches!(call, Call::WaitConnect | Call::Linger);
        let req = Request {
            seq,
            quiet,
            target,
            call,
        };
        let bytes = req.encode();
        if let Err(e) = uds::send_fds(c.fd.raw(), &[&bytes], fds, 0) {
            let why = refusal(c.fd.raw()).unwrap_or_else(|| gone(&e));
            *slot = None;
            return (Err(why), None);
        }
        if quiet {
            return (Ok(Value::None), None);
        }
        between();
        let set_timeout = |t: Option<Duration>| {
            let tv = t.map_or(
                libc::timeval {
                    tv_sec: 0,
                    tv_usec: 0,
                },
                |t| libc::timeval {
                    tv_sec: t.as_secs() as libc::time_t,
                    tv_usec: t.subsec_micros().max(1) as libc::suseconds_t,
                },
            );
            // SAFETY: timeval is plain data of its size.
            let b = unsafe {
                std::slice::from_raw_parts(
                    &tv as *const libc::timeval as *const u8,
                    std::mem::size_of::<libc::timeval>(),
                )
            };
            let _ = uds::set_raw(c.fd.raw(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, b);
        };
        if timeout.is_some() {
            set_timeout(timeout);
        }
        let mut buf = [0u8; MAX_MESSAGE];
        let answer = loop {
            match uds::recv(c.fd.raw(), &mut buf, 0) {
                Ok((0, _, _)) => break Err(Errno(libc::ENETDOWN)),
                Ok((n, _, fd)) => match Reply::decode(&buf[..n]) {
                    Ok(r) if r.seq == seq => {
                        c.admitted = true;
                        break Ok((r.result, fd));
                    }
                    // About the connection, not one request: the service could not take it
                    // (ENFILE, out of descriptors, and it lets the connection go) or could not
                    // read what came on it. The request in flight fails so.
                    Ok(Reply {
                        seq: 0,
                        result: Err(e),
                    }) => break Err(refused(e)),
                    // An older request's answer, which nobody waits for now.
                    Ok(_) => continue,
                    Err(_) => break Err(Errno::EIO),
                },
                Err(e) => {
                    let code = e.raw_os_error().unwrap_or(libc::EIO);
                    if code == libc::EINTR && !interruptible {
                        // A signal during a call Linux never interrupts (getpeername, bind,
                        // setsockopt…): the request is on its way; keep waiting for its answer.
                        continue;
                    }
                    if code == libc::EAGAIN || code == libc::EINTR {
                        break Err(Errno(code));
                    }
                    // A connection closed with our request unread reports the reset first,
                    // then the refusal queued before it.
                    break Err(refusal(c.fd.raw()).map_or_else(|| gone(&e), refused));
                }
            }
        };
        if timeout.is_some() {
            set_timeout(None);
        }
        match answer {
            Ok((result, fd)) => (result, fd),
            Err(e) => {
                if matches!(
                    e.0,
                    libc::ENETDOWN | libc::EIO | libc::ENFILE | libc::EACCES
                ) {
                    *slot = None;
                }
                (Err(e), None)
            }
        }
    })
}

/// Why the service closed a new control connection, if it said so before closing it: ENFILE,
/// out of descriptors (it may do so before the first request is even sent).
fn refusal(fd: RawFd) -> Option<Errno> {
    let mut buf = [0u8; MAX_MESSAGE];
    match uds::recv(fd, &mut buf, libc::MSG_DONTWAIT) {
        Ok((n, _, _)) => match Reply::decode(&buf[..n]) {
            Ok(Reply {
                seq: 0,
                result: Err(e),
            }) => Some(e),
            _ => None,
        },
        Err(_) => None,
    }
}

/// A refusal of the connection by the service, said once on stderr when it is about this
/// program's user (EACCES: a service not of root's admits only its own user's programs).
fn refused(e: Errno) -> Errno {
    if e == Errno::EACCES {
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        report_once(&format!(
            "the stack service refused this program: it serves only its own user's programs, \
             and this one runs as uid {uid}"
        ));
    }
    e
}

/// The service went away under a request.
fn gone(e: &std::io::Error) -> Errno {
    report_once(&format!(
        "the stack service is gone ({e}); its sockets no longer work"
    ));
    Errno(libc::ENETDOWN)
}

/// A control connection to the service for the configured TAP, starting the service if none runs
/// and `may_start` (else ENETDOWN, quietly). The shim's own work inside a program's call: errno is
/// left as it was (the name's ECONNREFUSED before a start, say), since a Linux call that succeeds
/// does not touch it, and programs print it after calls that did not fail (iperf3 does).
fn connect(may_start: bool) -> Result<OwnedFd> {
    crate::posix::hook::errno_kept(|| connect_or_start(may_start))
}

/// [`connect`]'s work.
fn connect_or_start(may_start: bool) -> Result<OwnedFd> {
    let config = config()?;
    let name = control_name(&config.iface);
    let mut started = false;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut pause = Duration::from_millis(1);
    loop {
        let s = uds::socket(libc::SOCK_SEQPACKET)
            .map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EIO)))?;
        match uds::connect_abstract(s.as_raw_fd(), &name) {
            Ok(()) => {
                // Only a service of our own user (or root) may see our traffic.
                // SAFETY: getuid cannot fail.
                let me = unsafe { libc::getuid() };
                return match uds::peer_cred(s.as_raw_fd()) {
                    Ok(c) if c.uid == me || c.uid == 0 => {
                        NAMED.store(crate::posix::state::pid(), Ordering::Relaxed);
                        keep_door(&name);
                        Ok(s)
                    }
                    _ => {
                        report_once(&format!(
                            "the stack service for {} belongs to another user; refusing it",
                            config.iface
                        ));
                        Err(Errno(libc::ENETDOWN))
                    }
                };
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ECONNREFUSED | libc::ENOENT)) => {}
            Err(e) => {
                report_once(&format!("cannot reach the stack service: {e}"));
                return Err(Errno(libc::ENETDOWN));
            }
        }
        // (Once this process started a service, only its name is waited for.)
        let here = if started {
            Namespace::Loaded
        } else {
            Namespace::now()
        };
        if here != Namespace::Loaded {
            // Not by name, and away from home (or in a chroot without /proc, as vsftpd's session
            // is): through the door, if this process holds one. At home, a name that fails means
            // the service is gone (a door still open would lead to one about to go).
            if let Some(through) = through_door() {
                return through;
            }
            if here == Namespace::Left {
                report_once(
                    "this process left the stack's network namespace and holds no way back to \
                     its service (a door, inherited from a parent that used the stack); its stack \
                     sockets answer only reads and writes",
                );
                return Err(Errno(libc::ENETDOWN));
            }
        }
        if !may_start {
            return Err(Errno(libc::ENETDOWN));
        }
        if !started {
            started = true;
            match start_service() {
                Ok(()) => continue,
                Err(message) => {
                    report_once(&format!("the network stack could not start: {message}"));
                    return Err(Errno(libc::ENETDOWN));
                }
            }
        }
        if std::time::Instant::now() >= deadline {
            report_once("the stack service did not answer");
            return Err(Errno(libc::ENETDOWN));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Counts this process's changes of user ([`user_changed`]). The service learns a client's user
/// and rights from its control connection, once, so a connection made before a change is not
/// used after it.
static USER_EPOCH: AtomicU32 = AtomicU32::new(0);

/// A control connection that makes no request, held for the life of the process (and its forked
/// children), so that the service stays up: see [`before_user_change`].
static HOLD: AtomicI32 = AtomicI32::new(-1);

/// Called before this process changes its user. A server started as root that gives root up
/// before its first socket (memcached's and mosquitto's `-u`, or any daemon's drop after reading
/// its configuration) could no longer start the service, which opens the TAP with CAP_NET_ADMIN.
/// So while the process still has that capability it makes sure the service runs, and holds a
/// connection to it that keeps it from exiting idle. Best effort: the change of user goes ahead
/// whatever happens here.
pub fn before_user_change() {
    if !may_administer_network() || config().is_err() {
        return;
    }
    let held = HOLD.load(Ordering::Relaxed);
    if held >= 0 && leads_somewhere(held) {
        return;
    }
    if let Ok(fd) = connect(true) {
        let fd = sys::Fd::new(fd.into_raw_fd());
        if HOLD
            .compare_exchange(held, fd.raw(), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            // Kept (private, close-on-exec) for as long as the process lives.
            std::mem::forget(fd);
        }
    }
}

/// Called after this process changed its user: each thread's next request goes on a new control
/// connection, which carries the new credentials.
pub fn user_changed() {
    USER_EPOCH.fetch_add(1, Ordering::Relaxed);
}

/// The first word of this process's effective capabilities (capget(2)); none if it cannot say.
fn effective_capabilities() -> u32 {
    // _LINUX_CAPABILITY_VERSION_3: two 32-bit words of each set.
    let mut header = [0x2008_0522u32, 0];
    let mut data = [0u32; 6];
    // SAFETY: a version-3 header and room for two `__user_cap_data_struct`s.
    let r = unsafe { libc::syscall(libc::SYS_capget, header.as_mut_ptr(), data.as_mut_ptr()) };
    // data[0] is the first word's `effective`.
    if r == 0 {
        data[0]
    } else {
        0
    }
}

/// Whether this process has CAP_NET_ADMIN in its effective set.
fn may_administer_network() -> bool {
    effective_capabilities() & (1 << super::server::CAP_NET_ADMIN) != 0
}

/// Whether this process may mark its packets or give them a priority beyond 6 (Linux's
/// `sockopt_ns_capable` for SO_MARK and `sk_set_prio_allowed`): CAP_NET_RAW or CAP_NET_ADMIN.
pub fn may_mark_packets() -> bool {
    const CAP_NET_RAW: u32 = 13;
    effective_capabilities() & (1 << super::server::CAP_NET_ADMIN | 1 << CAP_NET_RAW) != 0
}

/// This process's door to the service (see the module's doc): kept from its first connection by
/// name, inherited by its children, closed on exec.
static DOOR: std::sync::Mutex<Option<sys::Fd>> = std::sync::Mutex::new(None);

fn door() -> std::sync::MutexGuard<'static, Option<sys::Fd>> {
    DOOR.lock().unwrap_or_else(|e| e.into_inner())
}

/// Takes the door's lock before a `fork`, so the child never inherits it held by a thread it does
/// not have; drop the guard in both parent and child.
pub fn hold_for_fork() -> std::sync::MutexGuard<'static, Option<sys::Fd>> {
    door()
}

/// The process whose control connection came through a door ([`outside`]).
static OUTSIDE: AtomicI32 = AtomicI32::new(0);
/// The process that last reached the service by name.
static NAMED: AtomicI32 = AtomicI32::new(0);
/// The inode of the network namespace the library was loaded in (0: unknown).
static LOADED_IN: AtomicU64 = AtomicU64::new(0);

/// Keeps a door to the service named `name`, unless this process holds one that still leads to
/// it. Best effort: without one, only a child that leaves the namespace is the worse for it.
fn keep_door(name: &[u8]) {
    let mut door = door();
    if door.as_ref().is_some_and(|d| leads_somewhere(d.raw())) {
        return;
    }
    *door = None;
    let Ok(s) = uds::socket(libc::SOCK_SEQPACKET) else {
        return;
    };
    if uds::connect_abstract(s.as_raw_fd(), name).is_err()
        || uds::send(s.as_raw_fd(), &[proto::DOOR], None, 0).is_err()
    {
        return;
    }
    *door = Some(sys::Fd::new(s.into_raw_fd()));
}

/// Whether a door still leads to a service: the service never writes on one, so anything to read
/// (its refusal, ENFILE) or a hang-up says it does not.
fn leads_somewhere(fd: RawFd) -> bool {
    let mut p = [libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }];
    sys::poll(&mut p, 0).is_ok() && p[0].revents == 0
}

/// A control connection made through this process's door: a socketpair whose other end goes to
/// the service, with our credentials, to be taken as a new client. None without a door, or when
/// its service is gone (then it is dropped).
fn through_door() -> Option<Result<OwnedFd>> {
    let mut door = door();
    let fd = door.as_ref()?.raw();
    let (mine, theirs) = match uds::pair(libc::SOCK_SEQPACKET) {
        Ok(p) => p,
        Err(e) => return Some(Err(Errno(e.raw_os_error().unwrap_or(libc::EIO)))),
    };
    loop {
        match uds::send_with_cred(fd, proto::ADOPT, theirs.as_raw_fd(), 0) {
            Ok(_) => break,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) => {
                log::debug!("the door to the stack service is shut ({e})");
                *door = None;
                return None;
            }
        }
    }
    OUTSIDE.store(crate::posix::state::pid(), Ordering::Relaxed);
    Some(Ok(mine))
}

/// The inode of this process's network namespace, if /proc tells.
fn netns() -> Option<u64> {
    // SAFETY: stat is plain data; the kernel fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a valid out pointer.
    let r = unsafe {
        libc::syscall(
            libc::SYS_newfstatat,
            libc::AT_FDCWD,
            c"/proc/self/ns/net".as_ptr(),
            &mut st as *mut libc::stat,
            0,
        )
    };
    (r == 0).then_some(st.st_ino as u64)
}

/// Notes the network namespace the library is loaded in (called once, at load).
pub fn note_namespace() {
    LOADED_IN.store(netns().unwrap_or(0), Ordering::Relaxed);
}

/// Where this process is, against the network namespace the library was loaded in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Namespace {
    Loaded,
    Left,
    /// No /proc to tell (a chroot), or none at load.
    Unknown,
}

impl Namespace {
    fn now() -> Namespace {
        match (LOADED_IN.load(Ordering::Relaxed), netns()) {
            (0, _) | (_, None) => Namespace::Unknown,
            (at_load, Some(now)) if now == at_load => Namespace::Loaded,
            _ => Namespace::Left,
        }
    }
}

/// Whether this process is outside the stack's network namespace: it reached the service through
/// a door, or, before it has reached it at all, its namespace is not the one it started in. Its
/// inherited stack sockets still work (through the door); a new socket is the kernel's, in the
/// process's own namespace, as Linux's would be (and the service makes none for it). Costs a
/// system call only before this process first reached the service.
pub fn outside() -> bool {
    let pid = crate::posix::state::pid();
    if OUTSIDE.load(Ordering::Relaxed) == pid {
        return true;
    }
    if NAMED.load(Ordering::Relaxed) == pid {
        return false;
    }
    Namespace::now() == Namespace::Left
}

/// The `tapstack` program that runs the service: `TAPSTACK_BIN`, or the one beside this library,
/// or the first on PATH.
fn service_program() -> Option<CString> {
    let set_in_code = overrides()
        .into_iter()
        .rev()
        .find(|(k, _)| k == "TAPSTACK_BIN")
        .map(|(_, v)| v);
    if let Some(p) = set_in_code.or_else(|| std::env::var("TAPSTACK_BIN").ok()) {
        return CString::new(p).ok();
    }
    // SAFETY: dladdr fills `info` for an address inside this library.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let here = service_program as *const libc::c_void;
    // SAFETY: as above.
    if unsafe { libc::dladdr(here, &mut info) } != 0 && !info.dli_fname.is_null() {
        // SAFETY: dladdr returns a NUL-terminated path.
        let lib = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
        let lib = std::path::Path::new(std::ffi::OsStr::from_bytes(lib.to_bytes()));
        if let Some(dir) = lib.parent() {
            let bin = dir.join("tapstack");
            if bin.is_file() {
                return CString::new(bin.into_os_string().into_encoded_bytes()).ok();
            }
        }
    }
    // A program that has the library linked in (the tapstack program itself): beside it.
    if let Ok(exe) = std::env::current_exe() {
        let bin = exe.with_file_name("tapstack");
        if bin.is_file() {
            return CString::new(bin.into_os_string().into_encoded_bytes()).ok();
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("tapstack"))
        .find(|p| p.is_file())
        .and_then(|p| CString::new(p.into_os_string().into_encoded_bytes()).ok())
}

/// Starts `tapstack service` detached, and waits for its word.
fn start_service() -> std::result::Result<(), String> {
    let program = service_program().ok_or_else(|| {
        "the tapstack program was not found (beside libtapstack.so, TAPSTACK_BIN or PATH)"
            .to_string()
    })?;
    let mut pipe = [0 as libc::c_int; 2];
    // SAFETY: `pipe` has room for two descriptors.
    if unsafe { libc::syscall(libc::SYS_pipe2, pipe.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the kernel just returned these descriptors.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(pipe[0]), OwnedFd::from_raw_fd(pipe[1])) };
    let args: Vec<CString> = ["tapstack", "service", "--ready-fd", "3", "--detach"]
        .iter()
        .map(|s| CString::new(*s).expect("no NUL"))
        .collect();
    let mut argv: Vec<*mut libc::c_char> = args.iter().map(|a| a.as_ptr() as *mut _).collect();
    argv.push(std::ptr::null_mut());
    // The service is no program of ours to preload into.
    let set_in_code = overrides();
    let env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != "LD_PRELOAD" && !set_in_code.iter().any(|(v, _)| k == v.as_str()))
        .chain(set_in_code.iter().map(|(k, v)| (k.into(), v.into())))
        .filter_map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend(v.into_encoded_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let mut envp: Vec<*mut libc::c_char> = env.iter().map(|a| a.as_ptr() as *mut _).collect();
    envp.push(std::ptr::null_mut());
    // Unseen by the program: no SIGCHLD for it, and its `waitpid(-1)` cannot take it.
    // SAFETY: `program`, `argv` and `envp` live until it returns.
    let pid = unsafe { sys::spawn_unseen(&program, &argv, &envp, write_end.as_raw_fd()) };
    drop(write_end);
    let pid = pid.map_err(|e| format!("cannot run {}: {e}", program.to_string_lossy()))?;
    // That child only forks the one that runs `tapstack service` and exits.
    let _ = sys::reap_unseen(pid);
    let mut word = Vec::new();
    let mut buf = [0u8; 512];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err("the stack service did not start within 10 s".into());
        }
        let mut p = [libc::pollfd {
            fd: read_end.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if sys::poll(&mut p, left.as_millis() as i32).is_err() {
            continue;
        }
        match sys::read(read_end.as_raw_fd(), &mut buf) {
            Ok(0) => break,
            Ok(n) => word.extend_from_slice(&buf[..n]),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) => return Err(format!("reading the service's word: {e}")),
        }
    }
    let word = String::from_utf8_lossy(&word);
    let word = word.trim();
    match word {
        "ok" | "busy" => Ok(()),
        "" => Err("the stack service exited without a word".into()),
        other => {
            let why = other.trim_start_matches("error: ");
            // The child's own words when the program would not run (see sys::spawn_unseen).
            let exec_errno = why
                .strip_prefix("cannot run the tapstack program (execve errno ")
                .and_then(|n| n.strip_suffix(')'))
                .and_then(|n| n.parse::<i32>().ok());
            Err(match exec_errno {
                Some(e) => format!(
                    "cannot run {}: {}",
                    program.to_string_lossy(),
                    std::io::Error::from_raw_os_error(e)
                ),
                None => why.to_string(),
            })
        }
    }
}
