//! The runtime: drives the sans-IO stack inside a process, with a device, a clock and a thread.
//!
//! # Design
//! One [`Stack`] and its [`Device`] sit together behind one mutex (`Core`). Two kinds of threads take
//! that lock:
//! - **the driver thread** (`tapstack-net`), which sleeps in `poll(2)` on the device's descriptor and
//!   an eventfd until a frame arrives, the stack's next deadline passes, or it is kicked; then, under
//!   the lock, it reads a burst of frames into the stack, runs due timers and writes the stack's
//!   output to the device;
//! - **application threads**, which call socket operations through [`Runtime::with_stack`]: under the
//!   lock they change a socket, and before unlocking they write any frames the operation produced
//!   (a `send` goes out on the caller's thread, with no hand-off). If the operation moved the stack's
//!   next deadline earlier than the one the driver sleeps towards, they kick the driver's eventfd.
//!
//! # Wake-ups
//! A blocked call (receive with no data, connect in progress) waits on one condition variable tied to
//! the core mutex, with its own timeout (SO_RCVTIMEO). Whenever the stack reports sockets whose
//! readiness may have changed ([`Stack::take_woken`]), the thread that holds the lock notifies all
//! waiters; each re-checks its own socket. Waiting costs no CPU: nothing spins, and the driver
//! sleeps in `poll` with the exact deadline.
//!
//! # Failure
//! A panic in the driver thread is caught and logged, and the next round runs. After a few in a
//! row the runtime is marked dead: blocked calls are woken and every call fails with EIO, instead of
//! hanging on a stack that nothing drives any more.
//!
//! The clock is `CLOCK_MONOTONIC` (std's `Instant`), turned into the stack's [`Instant`] as time
//! since the runtime started.

pub mod tcp;
pub mod udp;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::config::Config;
use crate::device::pcap::PcapDevice;
use crate::device::tap::TapDevice;
use crate::device::Device;
use crate::error::Errno;
use crate::ipv4::Interface;
use crate::stack::Stack;
use crate::sys;
use crate::time::Instant;

/// Frames read from the device per lock hold, so application threads get a turn under load.
const BURST: usize = 64;
/// Driver rounds in a row that may panic before the runtime gives up.
const MAX_PANICS: u32 = 3;
/// With a device that has no descriptor (the in-memory link), how often the driver looks at it.
const IDLE_POLL: Duration = Duration::from_millis(1);
/// A `poll` entry the kernel skips.
const NO_FD: libc::pollfd = libc::pollfd {
    fd: -1,
    events: 0,
    revents: 0,
};

/// The stack and its device, under the runtime's lock.
pub struct Core {
    pub stack: Stack,
    device: Box<dyn Device>,
}

impl Core {
    /// Writes every frame the stack has queued.
    fn flush(&mut self) {
        while let Some(frame) = self.stack.pop_frame() {
            if let Err(e) = self.device.send(&frame) {
                log::warn!("device send failed: {e}");
            }
        }
    }
}

pub(crate) struct Shared {
    core: Mutex<Core>,
    readiness: Condvar,
    kick: sys::Fd,
    /// The deadline the driver sleeps towards, in stack microseconds (`u64::MAX`: none).
    driver_deadline: AtomicU64,
    stop: AtomicBool,
    /// The driver thread gave up (it kept panicking): calls fail with EIO instead of waiting.
    dead: AtomicBool,
    #[cfg(test)]
    fail_driver: AtomicBool,
}

impl Shared {
    /// The monotonic clock since boot, not since this process began (see [`crate::sys::monotonic_now`]).
    fn now(&self) -> Instant {
        sys::monotonic_now()
    }

    fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// Marks the runtime dead and wakes everyone blocked on it, so they see it.
    fn die(&self) {
        self.dead.store(true, Ordering::Release);
        // Under the lock, so no waiter is between its check and its wait.
        drop(lock(self));
        self.readiness.notify_all();
    }

    /// Work done after any change to the stack, still under the lock: send what it produced, wake
    /// waiters of sockets that changed, and make sure the driver wakes for the new deadline.
    fn settle(&self, core: &mut Core) {
        let now = self.now();
        core.flush();
        if !core.stack.take_woken().is_empty() {
            self.readiness.notify_all();
        }
        if let Some(at) = core.stack.poll_at(now) {
            if at.as_micros() < self.driver_deadline.load(Ordering::Acquire) {
                sys::eventfd_signal(self.kick.raw());
            }
        }
    }
}

/// A running stack: create with [`Runtime::start`]; dropping it stops the driver thread.
pub struct Runtime {
    shared: Arc<Shared>,
    driver: Option<JoinHandle<()>>,
}

impl Runtime {
    /// Opens the TAP named in `config` (with a pcap recorder if asked) and starts the stack on it.
    pub fn start(config: &Config) -> io::Result<Runtime> {
        let tap = TapDevice::open(&config.iface, config.offload)?;
        let device: Box<dyn Device> = match &config.pcap {
            Some(path) => Box::new(PcapDevice::new(tap, path).map_err(|e| {
                io::Error::new(e.kind(), format!("TAPSTACK_PCAP={}: {e}", path.display()))
            })?),
            None => Box::new(tap),
        };
        let mtu = device.caps().mtu;
        let rt = Runtime::with_device(
            device,
            Interface::from_config(config, mtu),
            sys::random_seed(),
        )?;
        // The key behind initial sequence numbers, timestamp offsets and ports (RFC 6528 §3,
        // RFC 7323 §5.4, RFC 6056) and Fast Open cookies: 128 bits from the kernel's randomness,
        // not from the 64-bit seed, shared with this user's services until reboot so a peer's
        // TIME-WAIT lets our SYNs in when a stack follows another ([`crate::service::secret`]).
        let keys = crate::service::secret::keys();
        rt.with_stack(|s, _| keys.apply(s));
        Ok(rt)
    }

    /// Starts the stack over any device (tests use the in-memory link).
    pub fn with_device(
        device: Box<dyn Device>,
        iface: Interface,
        seed: u64,
    ) -> io::Result<Runtime> {
        let mut stack = Stack::new(iface, device.caps(), seed);
        // The wall clock once, for ICMP timestamps (a runtime lives as long as its test or tool).
        if let Ok(since_epoch) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)
        {
            stack.set_wall_clock(sys::monotonic_now(), since_epoch);
        }
        let shared = Arc::new(Shared {
            core: Mutex::new(Core { stack, device }),
            readiness: Condvar::new(),
            kick: sys::Fd::new(sys::eventfd()?),
            driver_deadline: AtomicU64::new(u64::MAX),
            stop: AtomicBool::new(false),
            dead: AtomicBool::new(false),
            #[cfg(test)]
            fail_driver: AtomicBool::new(false),
        });
        let driver_shared = shared.clone();
        let driver = std::thread::Builder::new()
            .name("tapstack-net".into())
            .spawn(move || drive(&driver_shared))?;
        Ok(Runtime {
            shared,
            driver: Some(driver),
        })
    }

    /// True once the driver thread has given up: calls should fail with EIO.
    pub fn is_dead(&self) -> bool {
        self.shared.is_dead()
    }

    /// The stack's current time.
    pub fn now(&self) -> Instant {
        self.shared.now()
    }

    /// Runs `f` on the stack under the lock, then sends what it produced and wakes whoever must know.
    pub fn with_stack<R>(&self, f: impl FnOnce(&mut Stack, Instant) -> R) -> R {
        with_stack(&self.shared, f)
    }

    /// Retries `f` until it stops answering EAGAIN, sleeping between tries until the stack reports a
    /// change, or until `timeout` passes (then EAGAIN, as a timed-out socket call gives on Linux).
    pub fn wait_for<R>(
        &self,
        timeout: Option<Duration>,
        f: impl FnMut(&mut Stack, Instant) -> Result<R, Errno>,
    ) -> Result<R, Errno> {
        wait_for(&self.shared, timeout, f)
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Flushes the device's buffers (the capture file): the process is about to end without
    /// dropping the runtime.
    pub fn flush_device(&self) {
        lock(&self.shared).device.flush();
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, Core> {
    shared.core.lock()
}

pub(crate) fn with_stack<R>(shared: &Shared, f: impl FnOnce(&mut Stack, Instant) -> R) -> R {
    let mut core = lock(shared);
    let now = shared.now();
    let r = f(&mut core.stack, now);
    shared.settle(&mut core);
    r
}

/// How long a wait lasts at most while memory is short, before trying again.
const MEMORY_RETRY: Duration = Duration::from_millis(200);

pub(crate) fn wait_for<R>(
    shared: &Shared,
    timeout: Option<Duration>,
    mut f: impl FnMut(&mut Stack, Instant) -> Result<R, Errno>,
) -> Result<R, Errno> {
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    let mut core = lock(shared);
    loop {
        let now = shared.now();
        let r = f(&mut core.stack, now);
        shared.settle(&mut core);
        match r {
            Err(Errno::EAGAIN) => {}
            r => return r,
        }
        if shared.is_dead() {
            return Err(Errno::EIO);
        }
        // Under memory pressure nothing may wake a writer starved of memory: look again soon.
        if crate::memory::under_pressure() {
            let soon = std::time::Instant::now() + MEMORY_RETRY;
            if deadline.is_none_or(|d| soon < d) {
                shared.readiness.wait_until(&mut core, soon);
                continue;
            }
        }
        match deadline {
            Some(d) => {
                if shared.readiness.wait_until(&mut core, d).timed_out() {
                    let r = f(&mut core.stack, shared.now());
                    shared.settle(&mut core);
                    return r;
                }
            }
            None => shared.readiness.wait(&mut core),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        sys::eventfd_signal(self.shared.kick.raw());
        if let Some(driver) = self.driver.take() {
            let _ = driver.join();
        }
    }
}

/// The driver thread's loop. A panic in one round is logged and the next round runs; after
/// [`MAX_PANICS`] in a row the runtime is dead: blocked calls wake and every call fails with EIO,
/// rather than hang on a stack nobody drives.
fn drive(shared: &Shared) {
    let mut buf = vec![0u8; 65536 + 14];
    let mut panics = 0;
    while !shared.stop.load(Ordering::Acquire) {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drive_once(shared, &mut buf)
        })) {
            Ok(()) => panics = 0,
            Err(p) => {
                panics += 1;
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                log::error!(
                    "tapstack: internal error in the network thread ({panics} in a row): {msg}"
                );
                if panics >= MAX_PANICS {
                    log::error!(
                        "tapstack: the network stack stopped; socket calls now fail with EIO"
                    );
                    shared.die();
                    return;
                }
            }
        }
    }
}

/// One round of the driver: sleep until there is work, then do it.
fn drive_once(shared: &Shared, buf: &mut [u8]) {
    #[cfg(test)]
    if shared.fail_driver.load(Ordering::Relaxed) {
        panic!("injected driver failure");
    }
    let device_fd = lock(shared).device.poll_fd();
    let timeout_ms = {
        let core = lock(shared);
        let now = shared.now();
        let deadline = core.stack.poll_at(now);
        shared.driver_deadline.store(
            deadline.map_or(u64::MAX, Instant::as_micros),
            Ordering::Release,
        );
        let until = deadline.map(|d| d.saturating_since(now));
        let until = match (until, &device_fd) {
            (Some(u), None) => Some(u.min(IDLE_POLL)),
            (None, None) => Some(IDLE_POLL),
            (u, Some(_)) => u,
        };
        // Round up, so we never wake a little before the deadline and spin.
        until.map_or(-1, |u| {
            u.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
        })
    };
    // The numbers are read at the poll and cannot move under it: a preloaded program's dup2
    // onto one wakes us first (see `sys::sleep_on`).
    let mut private = vec![shared.kick.share()];
    private.extend(device_fd.clone());
    let polled = sys::sleep_on(&private, |nums| {
        let mut fds = nums.iter().map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
        let mut fds = [fds.next().unwrap_or(NO_FD), fds.next().unwrap_or(NO_FD)];
        sys::poll(&mut fds, timeout_ms).map(|_| fds[0].revents != 0)
    });
    match polled {
        Ok(true) => sys::eventfd_drain(shared.kick.raw()),
        Ok(false) => {}
        Err(e) => {
            log::error!("poll failed: {e}");
            std::thread::sleep(IDLE_POLL);
        }
    }
    loop {
        let mut core = lock(shared);
        let now = shared.now();
        let Core { stack, device } = &mut *core;
        let received = device.recv_burst(buf, BURST, &mut |frame, checksum| {
            stack.receive_checked(now, frame, checksum)
        });
        if stack.poll_at(now).is_some_and(|at| at <= now) {
            stack.poll(now);
        }
        shared.settle(&mut core);
        match received {
            Ok(n) if n == BURST => continue,
            Ok(_) => break,
            Err(e) => {
                log::error!("device receive failed: {e}");
                break;
            }
        }
    }
}

/// Installs the logger once, with `filter` in env_logger syntax (default: warnings).
///
/// Log lines go to descriptor 2 by the raw `write` syscall, never through the interposed libc
/// `write`: a program may have put a stack socket on descriptor 2 (inetd-style servers do), and a
/// line logged with the stack locked would then re-enter the stack, or land in the connection.
pub fn init_logging(filter: Option<&str>) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let mut builder = env_logger::Builder::new();
        builder.parse_filters(filter.unwrap_or("warn"));
        builder.target(env_logger::Target::Pipe(Box::new(sys::RawStderr)));
        let _ = builder.try_init();
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{memlink, DeviceCaps};
    use crate::wire::MacAddr;
    use std::net::Ipv4Addr;

    fn runtime() -> Runtime {
        let (dev, _peer) = memlink::pair(DeviceCaps::default());
        let iface = Interface {
            mac: MacAddr([2, 0, 0, 0, 0, 2]),
            addr: Ipv4Addr::new(10, 77, 0, 2),
            prefix_len: 24,
            gateway: None,
            mtu: 1500,
        };
        Runtime::with_device(Box::new(dev), iface, 1).unwrap()
    }

    /// A driver that keeps panicking ends the runtime: blocked calls wake with EIO, none hangs.
    #[test]
    fn a_dying_driver_wakes_blocked_calls_with_eio() {
        let rt = runtime();
        let h = rt.with_stack(|s, _| s.udp_socket()).unwrap();
        let shared = rt.shared().clone();
        let in_wait = std::thread::spawn(move || {
            let mut buf = [0u8; 10];
            wait_for(&shared, Some(Duration::from_secs(20)), |s, _| {
                s.udp_recv_from(h, &mut buf, false)
            })
        });
        std::thread::sleep(Duration::from_millis(100));
        let t = std::time::Instant::now();
        rt.shared.fail_driver.store(true, Ordering::Relaxed);
        sys::eventfd_signal(rt.shared.kick.raw());
        assert_eq!(in_wait.join().unwrap().unwrap_err(), Errno::EIO);
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert!(rt.is_dead());
    }
}
