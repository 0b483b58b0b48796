//! Descriptor calls, for the table's sake: the kernel does the real work on a stack socket's
//! descriptor (`dup`, `close`, `close_range`, `exec`), and the shim's table follows. The shim's own
//! descriptors (its control connection to the service) are kept away from programs that close what
//! they do not know: closing one reports success and leaves it open; `dup2` onto one first moves
//! it elsewhere.

use std::os::fd::RawFd;

use super::state;
use crate::sys;

/// close_range(2) and closefrom(3): everything in the range but the shim's private descriptors.
pub fn close_range(first: u32, last: u32, flags: i32, real: impl Fn(u32, u32, i32) -> i32) -> i32 {
    if first > last {
        return real(first, last, flags);
    }
    let last_fd = last.min(i32::MAX as u32) as RawFd;
    let mut keep = sys::private_in(first as RawFd, last_fd);
    keep.sort_unstable();
    if flags & libc::CLOSE_RANGE_CLOEXEC as i32 == 0 {
        for fd in state::fds_in(first as RawFd, last_fd) {
            state::remove(fd);
        }
    }
    // Close the stretches between the descriptors we keep.
    let mut from = first;
    for k in keep {
        let k = k as u32;
        if k > from {
            let r = real(from, k - 1, flags);
            if r < 0 {
                return r;
            }
        }
        from = k + 1;
    }
    if from <= last {
        return real(from, last, flags);
    }
    0
}

/// Records that `new` now refers to what `old` does (after a successful real dup).
pub fn duplicated(old: RawFd, new: RawFd) {
    match state::get(old) {
        Some(sock) => state::insert(new, sock),
        None => {
            state::remove(new);
        }
    }
}
