//! epoll over any mix of stack and kernel descriptors.
//!
//! The program's epoll instance is a real kernel one, and kernel descriptors live in it as usual.
//! Stack sockets cannot be added to it (their kernel placeholders never become ready), so each epoll
//! instance that holds stack sockets gets a shadow: the stack sockets with their interest and data,
//! plus one eventfd registered in the real instance under a reserved data value. The runtime signals
//! that eventfd whenever a stack socket's readiness may have changed; `epoll_wait` drains it, checks
//! the stack sockets, and otherwise sleeps in the real `epoll_wait`, so idle waiting costs nothing.
//!
//! Level-triggered, edge-triggered (reported when an event rises), EPOLLONESHOT (disarmed after one
//! report until EPOLL_CTL_MOD) and EPOLLRDHUP are supported.

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use super::forklock::Mutex;

use super::readiness::events;
use super::state;
use crate::error::{Errno, Result};
use crate::sys;

/// The data value of the shadow's wake-up eventfd in the real epoll instance.
const WAKE: u64 = 0x7461_7073_7461_636b; // "tapstack"

struct Interest {
    events: u32,
    data: u64,
    /// The socket's wake count when last looked at. Edge-triggered interest reports the socket's
    /// current events only when it has been woken since, as the kernel's epoll does on each
    /// wake-up of a file (new data, new write space, a state change).
    seen: u64,
    disarmed: bool,
}

struct Shadow {
    wake: sys::Fd,
    entries: HashMap<RawFd, Interest>,
}

static SHADOWS: Mutex<Option<HashMap<RawFd, Shadow>>> = Mutex::new(None);

/// The shadows' lock, held across `fork` (see [`state`]'s fork handlers).
pub struct ForkGuard {
    _shadows: std::sync::MutexGuard<'static, Option<HashMap<RawFd, Shadow>>>,
}

pub fn hold_for_fork() -> ForkGuard {
    ForkGuard {
        _shadows: SHADOWS.lock(),
    }
}

fn real_ctl(epfd: RawFd, op: i32, fd: RawFd, ev: *mut libc::epoll_event) -> Result<()> {
    let f = crate::real!(epoll_ctl: fn(i32, i32, i32, *mut libc::epoll_event) -> i32)
        .ok_or(Errno(libc::ENOSYS))?;
    // SAFETY: ev is null or valid.
    if unsafe { f(epfd, op, fd, ev) } < 0 {
        return Err(Errno(super::hook::errno()));
    }
    Ok(())
}

/// The real `epoll_pwait`: with `mask`, the kernel sets it for the wait alone, atomically.
fn real_wait(
    epfd: RawFd,
    events: &mut [libc::epoll_event],
    timeout_ms: i32,
    mask: Option<&libc::sigset_t>,
) -> Result<usize> {
    let f = crate::real!(epoll_pwait: fn(i32, *mut libc::epoll_event, i32, i32, *const libc::sigset_t) -> i32)
        .ok_or(Errno(libc::ENOSYS))?;
    let mask = mask.map_or(std::ptr::null(), |m| m as *const libc::sigset_t);
    // SAFETY: `events` is valid for its length; `mask` is null or valid.
    let r = unsafe {
        f(
            epfd,
            events.as_mut_ptr(),
            events.len() as i32,
            timeout_ms,
            mask,
        )
    };
    if r < 0 {
        Err(Errno(super::hook::errno()))
    } else {
        Ok(r as usize)
    }
}

/// epoll_ctl for a stack socket `fd` on instance `epfd`.
///
/// # Safety
/// `event` must be null or valid.
pub unsafe fn ctl(epfd: RawFd, op: i32, fd: RawFd, event: *const libc::epoll_event) -> Result<()> {
    if epfd == fd {
        return Err(Errno::EINVAL);
    }
    // Check that epfd is an epoll instance the way the kernel would (EBADF/EINVAL), by asking it to
    // delete a descriptor it can never hold.
    match real_ctl(epfd, libc::EPOLL_CTL_DEL, -1, std::ptr::null_mut()) {
        Err(Errno::EBADF) => {} // expected: -1 is a bad descriptor, so epfd itself is fine
        Err(e) => return Err(e),
        Ok(()) => {}
    }
    let ev = if op == libc::EPOLL_CTL_DEL {
        None
    } else if event.is_null() {
        return Err(Errno::EFAULT);
    } else {
        Some(std::ptr::read_unaligned(event))
    };
    let mut all = SHADOWS.lock();
    let shadows = all.get_or_insert_with(HashMap::new);
    let shadow = match shadows.entry(epfd) {
        std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
        std::collections::hash_map::Entry::Vacant(v) => {
            if op != libc::EPOLL_CTL_ADD {
                return Err(Errno(libc::ENOENT));
            }
            let wake = sys::Fd::new(
                sys::eventfd().map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::ENOMEM)))?,
            );
            let mut wev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: WAKE,
            };
            real_ctl(epfd, libc::EPOLL_CTL_ADD, wake.raw(), &mut wev)?;
            if let Some(rt) = state::runtime_if_started() {
                rt.add_waiter(&wake);
            }
            v.insert(Shadow {
                wake,
                entries: HashMap::new(),
            })
        }
    };
    match op {
        libc::EPOLL_CTL_ADD => {
            if shadow.entries.contains_key(&fd) {
                return Err(Errno(libc::EEXIST));
            }
            let ev = ev.expect("checked");
            shadow.entries.insert(
                fd,
                Interest {
                    events: ev.events,
                    data: ev.u64,
                    seen: u64::MAX,
                    disarmed: false,
                },
            );
            // The socket may be ready already: make the next wait look.
            sys::eventfd_signal(shadow.wake.raw());
        }
        libc::EPOLL_CTL_MOD => {
            let ev = ev.expect("checked");
            let i = shadow.entries.get_mut(&fd).ok_or(Errno(libc::ENOENT))?;
            *i = Interest {
                events: ev.events,
                data: ev.u64,
                seen: u64::MAX,
                disarmed: false,
            };
            sys::eventfd_signal(shadow.wake.raw());
        }
        libc::EPOLL_CTL_DEL => {
            shadow.entries.remove(&fd).ok_or(Errno(libc::ENOENT))?;
        }
        _ => return Err(Errno::EINVAL),
    }
    Ok(())
}

/// Forgets a closed descriptor everywhere: a closed epoll instance's shadow, or a closed stack
/// socket's interest in every instance (the kernel drops a closed file from epoll sets too).
pub fn forget(fd: RawFd) {
    let mut all = SHADOWS.lock();
    let Some(shadows) = all.as_mut() else {
        return;
    };
    if let Some(shadow) = shadows.remove(&fd) {
        if let Some(rt) = state::runtime_if_started() {
            rt.remove_waiter(&shadow.wake);
        }
    }
    for s in shadows.values_mut() {
        s.entries.remove(&fd);
    }
}

/// A pending socket `fd` stayed on the kernel (a loopback bind or connect): its interest in every
/// shadow moves into the real instance, with the same events and data, so the kernel reports it.
pub fn to_kernel(fd: RawFd) {
    let mut all = SHADOWS.lock();
    let Some(shadows) = all.as_mut() else {
        return;
    };
    for (&epfd, shadow) in shadows.iter_mut() {
        let Some(i) = shadow.entries.remove(&fd) else {
            continue;
        };
        let mut events = i.events;
        if i.disarmed {
            // A fired one-shot keeps only its flags until EPOLL_CTL_MOD, as in the kernel (which
            // still adds EPOLLERR|EPOLLHUP to an interest it is given, so those could yet fire once).
            events &=
                (libc::EPOLLONESHOT | libc::EPOLLET | libc::EPOLLEXCLUSIVE | libc::EPOLLWAKEUP)
                    as u32;
        }
        let mut ev = libc::epoll_event {
            events,
            u64: i.data,
        };
        if let Err(e) = real_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) {
            log::warn!("tapstack: epoll instance {epfd} cannot watch kernel socket {fd}: {e:?}");
        }
    }
}

/// True if `epfd` has stack sockets in it.
pub fn has_shadow(epfd: RawFd) -> bool {
    SHADOWS
        .lock()
        .as_ref()
        .is_some_and(|s| s.contains_key(&epfd))
}

/// Collects ready stack sockets of `epfd` into `out`; returns how many.
fn stack_ready(epfd: RawFd, out: &mut [libc::epoll_event]) -> usize {
    let mut all = SHADOWS.lock();
    let Some(shadow) = all.as_mut().and_then(|s| s.get_mut(&epfd)) else {
        return 0;
    };
    sys::eventfd_drain(shadow.wake.raw());
    let rt = state::runtime_if_started();
    if let Some(rt) = rt {
        // The runtime may have started after the socket was added: make sure it wakes us.
        rt.add_waiter(&shadow.wake);
    }
    let mut n = 0;
    let guard = rt.map(|rt| rt.lock());
    for (&fd, interest) in shadow.entries.iter_mut() {
        if n == out.len() {
            break;
        }
        if interest.disarmed {
            continue;
        }
        let Some(sock) = state::get(fd) else {
            continue;
        };
        let want = interest.events | (libc::EPOLLERR | libc::EPOLLHUP) as u32;
        let stack = guard.as_ref().map(|(c, _)| &c.stack);
        let now = events(stack, &sock) & want;
        let report = if interest.events & libc::EPOLLET as u32 != 0 {
            let wakes = match (stack, sock.handle()) {
                (Some(s), Some(h)) => s.wake_count(h),
                _ => 0,
            };
            let woken = wakes != interest.seen;
            interest.seen = wakes;
            if woken {
                now
            } else {
                0
            }
        } else {
            now
        };
        if report != 0 {
            out[n] = libc::epoll_event {
                events: report,
                u64: interest.data,
            };
            n += 1;
            if interest.events & libc::EPOLLONESHOT as u32 != 0 {
                interest.disarmed = true;
            }
        }
    }
    n
}

/// epoll_wait on an instance with a shadow. With `mask` (epoll_pwait), the thread's signal mask is
/// `mask` while it sleeps in the kernel's epoll_pwait, and only then.
pub fn wait(
    epfd: RawFd,
    out: &mut [libc::epoll_event],
    timeout: Option<Duration>,
    mask: Option<&libc::sigset_t>,
) -> Result<usize> {
    if out.is_empty() {
        return Err(Errno::EINVAL);
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        if state::runtime_if_started().is_some_and(|rt| rt.is_dead()) {
            return Err(Errno::EIO);
        }
        let mut n = stack_ready(epfd, out);
        if n == out.len() {
            // Full: the kernel's own events wait for the next call (and a real epoll_wait for
            // zero events would be EINVAL).
            return Ok(n);
        }
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let ms = if n > 0 {
            0
        } else {
            remaining.map_or(-1, |r| {
                r.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
            })
        };
        // With stack sockets ready, only look, under the program's own mask: a signal the
        // given mask lets through must not turn their report into EINTR.
        let got = real_wait(epfd, &mut out[n..], ms, if n > 0 { None } else { mask })?;
        // Keep the kernel's events, minus our wake-up eventfd.
        let mut woke = false;
        let mut k = n;
        for i in n..n + got {
            if out[i].u64 == WAKE {
                woke = true;
            } else {
                out[k] = out[i];
                k += 1;
            }
        }
        n = k;
        if n > 0 || ms == 0 && !woke {
            return Ok(n);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(0);
        }
    }
}
