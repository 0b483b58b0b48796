//! `poll`, `ppoll`, `select` and `pselect` over any mix of stack and kernel descriptors.
//!
//! Stack sockets are checked under the stack's lock; kernel descriptors go to the real `poll`. When
//! nothing is ready yet, one real `ppoll` sleeps on the kernel descriptors together with this
//! thread's wake-up eventfd, which the runtime signals whenever a stack socket's readiness may have
//! changed — so waiting costs no CPU, honours the timeout, and a signal ends it with EINTR.

use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::readiness::{events, ALWAYS};
use super::state::{self, OpenSocket};
use crate::error::{Errno, Result};
use crate::runtime::sleep;

fn real_poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> Result<usize> {
    let f = crate::real!(poll: fn(*mut libc::pollfd, libc::nfds_t, i32) -> i32)
        .ok_or(Errno(libc::ENOSYS))?;
    // SAFETY: `fds` is a valid array.
    let r = unsafe { f(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if r < 0 {
        Err(Errno(super::hook::errno()))
    } else {
        Ok(r as usize)
    }
}

/// The shared engine of poll and select: `fds` as poll would take them, `timeout` None = forever.
pub fn poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> Result<usize> {
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
        return real_poll(fds, ms(timeout));
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
                sleep(rt.shared(), core, remaining, &mut kernel)?
            }
            (guard, _) => {
                drop(guard);
                let wait = if no_wait {
                    Some(Duration::ZERO)
                } else {
                    remaining
                };
                if kernel.is_empty() && !no_wait {
                    // Nothing but never-attached sockets that can never become ready: just wait.
                    std::thread::sleep(wait.unwrap_or(Duration::from_secs(3600)));
                    0
                } else {
                    real_poll(&mut kernel, ms(wait))?
                }
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

/// select(2) on top of [`poll`]: the three sets become poll events and back.
///
/// # Safety
/// The set pointers must be null or valid `fd_set`s.
pub unsafe fn select(
    nfds: i32,
    read: *mut libc::fd_set,
    write: *mut libc::fd_set,
    except: *mut libc::fd_set,
    timeout: Option<Duration>,
) -> Result<usize> {
    if !(0..=libc::FD_SETSIZE as i32).contains(&nfds) {
        return Err(Errno::EINVAL);
    }
    let isset = |set: *mut libc::fd_set, fd: RawFd| !set.is_null() && libc::FD_ISSET(fd, set);
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
    poll(&mut fds, timeout)?;
    if fds.iter().any(|p| p.revents & libc::POLLNVAL != 0) {
        return Err(Errno::EBADF);
    }
    for set in [read, write, except] {
        if !set.is_null() {
            libc::FD_ZERO(set);
        }
    }
    let mut count = 0;
    for p in &fds {
        let r = p.revents;
        // As the kernel's select: readable includes hang-up and error; writable includes error.
        if p.events & libc::POLLIN != 0 && r & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            libc::FD_SET(p.fd, read);
            count += 1;
        }
        if p.events & libc::POLLOUT != 0 && r & (libc::POLLOUT | libc::POLLERR) != 0 {
            libc::FD_SET(p.fd, write);
            count += 1;
        }
        if p.events & libc::POLLPRI != 0 && r & libc::POLLPRI != 0 {
            libc::FD_SET(p.fd, except);
            count += 1;
        }
    }
    Ok(count)
}
