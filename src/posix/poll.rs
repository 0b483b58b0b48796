//! `poll`, `ppoll`, `select` and `pselect` over any mix of stack and kernel descriptors.
//!
//! Stack sockets are checked under the stack's lock; kernel descriptors go to the real `poll`. When
//! nothing is ready yet, one real `ppoll` sleeps on the kernel descriptors together with this
//! thread's wake-up eventfd, which the runtime signals whenever a stack socket's readiness may have
//! changed — so waiting costs no CPU, honours the timeout, and a signal ends it with EINTR. The
//! signal mask of `ppoll`/`pselect` goes into that kernel `ppoll`, so it is set atomically with the
//! sleep, as the kernel's own calls do.

use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::readiness::{events, ALWAYS};
use super::state::{self, OpenSocket};
use crate::error::{Errno, Result};
use crate::runtime::sleep;

/// The real `poll`, or with a signal mask the real `ppoll`, which sets it atomically for the wait.
fn real_poll(
    fds: &mut [libc::pollfd],
    timeout_ms: i32,
    mask: Option<&libc::sigset_t>,
) -> Result<usize> {
    let r = match mask {
        None => {
            let f = crate::real!(poll: fn(*mut libc::pollfd, libc::nfds_t, i32) -> i32)
                .ok_or(Errno(libc::ENOSYS))?;
            // SAFETY: `fds` is a valid array.
            unsafe { f(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) }
        }
        Some(mask) => {
            let f = crate::real!(ppoll: fn(*mut libc::pollfd, libc::nfds_t, *const libc::timespec, *const libc::sigset_t) -> i32)
                .ok_or(Errno(libc::ENOSYS))?;
            let ts = libc::timespec {
                tv_sec: (timeout_ms / 1000) as libc::time_t,
                tv_nsec: (timeout_ms % 1000) as libc::c_long * 1_000_000,
            };
            let ts_ptr = if timeout_ms < 0 {
                std::ptr::null()
            } else {
                &ts as *const libc::timespec
            };
            // SAFETY: `fds` is a valid array, `ts_ptr` null or valid, `mask` valid.
            unsafe { f(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ts_ptr, mask) }
        }
    };
    if r < 0 {
        Err(Errno(super::hook::errno()))
    } else {
        Ok(r as usize)
    }
}

/// The shared engine of poll and select: `fds` as poll would take them, `timeout` None = forever.
/// With `mask` (ppoll, pselect), the thread's signal mask is `mask` while it sleeps, and only then:
/// every sleep is one kernel `ppoll` that swaps it in and out atomically.
pub fn poll(
    fds: &mut [libc::pollfd],
    timeout: Option<Duration>,
    mask: Option<&libc::sigset_t>,
) -> Result<usize> {
    let stack: Vec<(usize, Arc<OpenSocket>)> = fds
        .iter()
        .enumerate()
        .filter_map(|(i, p)| state::get(p.fd).map(|s| (i, s)))
        .collect();
    let ms = |t: Option<Duration>| {
        t.map_or(-1, |t| {
            t.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
        })
    };
    if stack.is_empty() {
        return real_poll(fds, ms(timeout), mask);
    }
    let kernel_idx: Vec<usize> = (0..fds.len())
        .filter(|i| !stack.iter().any(|(j, _)| j == i))
        .collect();
    let mut kernel: Vec<libc::pollfd> = kernel_idx.iter().map(|&i| fds[i]).collect();
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let rt = state::runtime_if_started();
        let guard = rt.map(|rt| rt.lock());
        let mut ready = 0;
        for (i, sock) in &stack {
            let want = fds[*i].events as u16 as u32 | ALWAYS;
            let ev = events(guard.as_ref().map(|(core, _)| &core.stack), sock) & want;
            fds[*i].revents = ev as i16;
            ready += (ev != 0) as usize;
        }
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let no_wait = ready > 0 || remaining.is_some_and(|r| r.is_zero());
        let kernel_ready = match (guard, no_wait) {
            (Some((core, _)), false) => {
                let rt = rt.expect("locked it");
                sleep(rt.shared(), core, remaining, &mut kernel, mask)?
            }
            (guard, _) => {
                drop(guard);
                let wait = if no_wait {
                    Some(Duration::ZERO)
                } else {
                    remaining
                };
                // With stack sockets ready, only look: Linux's ppoll then returns them even with a
                // signal pending, which the mask would deliver here as EINTR. With no kernel
                // descriptors (only never-attached sockets, which can never become ready) this is a
                // plain wait that a signal ends, as Linux's poll.
                real_poll(&mut kernel, ms(wait), if ready > 0 { None } else { mask })?
            }
        };
        for (k, &i) in kernel_idx.iter().enumerate() {
            fds[i].revents = kernel[k].revents;
        }
        if ready > 0 || kernel_ready > 0 || no_wait {
            // Count again: the stack may have woken us with something ready.
            return Ok(fds.iter().filter(|p| p.revents != 0).count());
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(0);
        }
    }
}

/// Bit `fd` of a descriptor set that may be larger than `fd_set` (a program may pass `nfds` above
/// FD_SETSIZE with sets to match, as the kernel allows).
///
/// # Safety
/// `set` must be null or hold at least `fd + 1` bits.
pub unsafe fn isset(set: *const libc::fd_set, fd: RawFd) -> bool {
    const BITS: usize = libc::c_ulong::BITS as usize;
    let fd = fd as usize;
    !set.is_null() && *(set as *const libc::c_ulong).add(fd / BITS) >> (fd % BITS) & 1 != 0
}

unsafe fn set_bit(set: *mut libc::fd_set, fd: RawFd) {
    const BITS: usize = libc::c_ulong::BITS as usize;
    let fd = fd as usize;
    *(set as *mut libc::c_ulong).add(fd / BITS) |= 1 << (fd % BITS);
}

/// The size of this process's descriptor table (`FDSize` in /proc/self/status), at least
/// `wanted` if it cannot be read. It only grows, so the largest seen is kept.
fn fd_table_size(wanted: usize) -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // The kernel's table starts with room for BITS_PER_LONG descriptors.
    static SEEN: AtomicUsize = AtomicUsize::new(libc::c_ulong::BITS as usize);
    let seen = SEEN.load(Ordering::Relaxed);
    if wanted <= seen {
        return seen;
    }
    let read = || -> Option<usize> {
        let fd = crate::sys::open(c"/proc/self/status", libc::O_RDONLY | libc::O_CLOEXEC).ok()?;
        let mut buf = vec![0u8; 4096];
        let mut got = 0;
        while got < buf.len() {
            match crate::sys::read(fd, &mut buf[got..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        let _ = crate::sys::close(fd);
        let text = std::str::from_utf8(&buf[..got]).ok()?;
        let line = text.lines().find(|l| l.starts_with("FDSize:"))?;
        line["FDSize:".len()..].trim().parse().ok()
    };
    match read() {
        Some(n) => SEEN.fetch_max(n, Ordering::Relaxed).max(n),
        None => wanted,
    }
}

/// select(2) on top of [`poll`]: the three sets become poll events and back.
///
/// As the kernel, `nfds` is cut to the size of the process's descriptor table: bits beyond it are
/// ignored, however large `nfds` is (FD_SETSIZE is no limit); bits of closed descriptors below it
/// are EBADF. The table is the kernel's less the stack's own high descriptors, which the program
/// does not know of: bits at and above them are ignored too.
///
/// # Safety
/// The set pointers must be null or valid sets of at least `nfds` bits.
pub unsafe fn select(
    nfds: i32,
    read: *mut libc::fd_set,
    write: *mut libc::fd_set,
    except: *mut libc::fd_set,
    timeout: Option<Duration>,
    mask: Option<&libc::sigset_t>,
) -> Result<usize> {
    if nfds < 0 {
        return Err(Errno::EINVAL);
    }
    let table = fd_table_size(nfds as usize).min(crate::sys::private_base() as usize);
    let nfds = nfds.min(table.min(i32::MAX as usize) as i32);
    let mut fds = Vec::new();
    for fd in 0..nfds {
        let mut events = 0;
        if isset(read, fd) {
            events |= libc::POLLIN;
        }
        if isset(write, fd) {
            events |= libc::POLLOUT;
        }
        if isset(except, fd) {
            events |= libc::POLLPRI;
        }
        if events != 0 {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
        }
    }
    poll(&mut fds, timeout, mask)?;
    if fds.iter().any(|p| p.revents & libc::POLLNVAL != 0) {
        return Err(Errno::EBADF);
    }
    // The kernel writes back the sets' first `nfds` bits, in whole words.
    let words = (nfds as usize).div_ceil(libc::c_ulong::BITS as usize);
    for set in [read, write, except] {
        if !set.is_null() {
            std::ptr::write_bytes(set as *mut libc::c_ulong, 0, words);
        }
    }
    let mut count = 0;
    for p in &fds {
        let r = p.revents;
        // As the kernel's select: readable includes hang-up and error; writable includes error.
        if p.events & libc::POLLIN != 0 && r & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            set_bit(read, p.fd);
            count += 1;
        }
        if p.events & libc::POLLOUT != 0 && r & (libc::POLLOUT | libc::POLLERR) != 0 {
            set_bit(write, p.fd);
            count += 1;
        }
        if p.events & libc::POLLPRI != 0 && r & libc::POLLPRI != 0 {
            set_bit(except, p.fd);
            count += 1;
        }
    }
    Ok(count)
}
