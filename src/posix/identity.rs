//! The calls that change a process's user (`setuid` and its kin): the stack is kept within reach
//! of a program that gives up root, and its next requests carry its new user.
//!
//! The service learns a client's user and rights (binding a privileged port, the FORCE buffer
//! sizes) from its control connection, as Linux checks the caller's; a program that changes its
//! user must therefore be seen afresh ([`client::user_changed`]). And a root program that drops
//! its privileges before its first socket (memcached's and mosquitto's `-u`) could no longer start
//! the service, which needs CAP_NET_ADMIN for the TAP: it starts it first
//! ([`client::before_user_change`]).
//!
//! `capset` is taken over for the same reason: named (`-u`) keeps root's user but first narrows
//! its capabilities with libcap to the few it needs (CAP_NET_BIND_SERVICE, CAP_SETUID, ...), so
//! by its `setuid` CAP_NET_ADMIN is already gone; a `capset` that takes CAP_NET_ADMIN out of the
//! effective set starts the service first, and the next requests carry the rights left.

// The exported functions are libc's, with libc's contracts.
#![allow(clippy::missing_safety_doc)]

use libc::{c_int, c_void, uid_t};

use super::state;
use crate::real;
use crate::service::client;
use crate::service::server::CAP_NET_ADMIN;

/// Whether a call naming these user ids (`uid_t::MAX`, -1, leaves one as it is) may give up root.
fn drops_root(ids: &[uid_t]) -> bool {
    ids.iter().any(|&id| id != uid_t::MAX && id != 0)
}

/// Runs the real call `f` with the stack's work around it.
fn around(ids: &[uid_t], f: impl FnOnce() -> c_int) -> c_int {
    // A vfork child shares our memory and must not start or hold anything.
    let ours = !state::in_vfork_child();
    if ours && drops_root(ids) {
        // The work may set errno; the program's call sees what it would have.
        super::hook::errno_kept(|| super::hook::guard("setuid", (), client::before_user_change));
    }
    let r = f();
    if ours && r == 0 {
        client::user_changed();
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn setuid(uid: uid_t) -> c_int {
    let Some(f) = real!(setuid: fn(uid_t) -> c_int) else {
        super::hook::set_errno(crate::error::Errno(libc::ENOSYS));
        return -1;
    };
    around(&[uid], || f(uid))
}

#[no_mangle]
pub unsafe extern "C" fn seteuid(euid: uid_t) -> c_int {
    let Some(f) = real!(seteuid: fn(uid_t) -> c_int) else {
        super::hook::set_errno(crate::error::Errno(libc::ENOSYS));
        return -1;
    };
    around(&[euid], || f(euid))
}

#[no_mangle]
pub unsafe extern "C" fn setreuid(ruid: uid_t, euid: uid_t) -> c_int {
    let Some(f) = real!(setreuid: fn(uid_t, uid_t) -> c_int) else {
        super::hook::set_errno(crate::error::Errno(libc::ENOSYS));
        return -1;
    };
    around(&[ruid, euid], || f(ruid, euid))
}

#[no_mangle]
pub unsafe extern "C" fn setresuid(ruid: uid_t, euid: uid_t, suid: uid_t) -> c_int {
    let Some(f) = real!(setresuid: fn(uid_t, uid_t, uid_t) -> c_int) else {
        super::hook::set_errno(crate::error::Errno(libc::ENOSYS));
        return -1;
    };
    around(&[ruid, euid, suid], || f(ruid, euid, suid))
}

/// Whether a `capset(2)` with this header and data, as the kernel reads them (`struct
/// __user_cap_header_struct` then `__user_cap_data_struct`s, whose first word, of every version,
/// holds capabilities 0-31), takes CAP_NET_ADMIN out of this process's effective set. Another
/// process's sets (a `pid` not 0 and not ours, which Linux refuses anyway) are not ours to mind.
///
/// # Safety
/// `header` and `data` are null or point where `capset` would read.
unsafe fn drops_net_admin(header: *const u32, data: *const u32) -> bool {
    if header.is_null() || data.is_null() {
        return false;
    }
    // SAFETY: the header is two 32-bit words (version, pid), the data at least one struct of
    // three (effective, permitted, inheritable), as capset reads them.
    let (pid, effective) = unsafe { (*header.add(1) as i32, *data) };
    // SAFETY: getpid has no preconditions.
    (pid == 0 || pid == unsafe { libc::getpid() }) && effective & (1 << CAP_NET_ADMIN) == 0
}

#[no_mangle]
pub unsafe extern "C" fn capset(header: *mut c_void, data: *const c_void) -> c_int {
    let Some(f) = real!(capset: fn(*mut c_void, *const c_void) -> c_int) else {
        super::hook::set_errno(crate::error::Errno(libc::ENOSYS));
        return -1;
    };
    let ours = state::interposing() && !state::in_vfork_child();
    // SAFETY: the caller's pointers, as capset takes them.
    if ours && unsafe { drops_net_admin(header.cast(), data.cast()) } {
        // Does nothing without CAP_NET_ADMIN now (a second narrowing, or never root).
        super::hook::errno_kept(|| super::hook::guard("capset", (), client::before_user_change));
    }
    let r = f(header, data);
    if ours && r == 0 {
        // The service reads a client's capabilities when it connects (CAP_NET_BIND_SERVICE).
        client::user_changed();
    }
    r
}

#[cfg(test)]
mod tests {
    use super::{drops_net_admin, drops_root};

    #[test]
    fn capset_drops_net_admin_only_when_its_effective_set_lacks_it() {
        let me = std::process::id();
        let header = [0x2008_0522u32, 0];
        let all = [u32::MAX, u32::MAX, 0, u32::MAX, u32::MAX, 0];
        let bind_only = [1 << 10, 1 << 10, 0, 0, 0, 0];
        // SAFETY: arrays as capset reads them.
        unsafe {
            assert!(!drops_net_admin(header.as_ptr(), all.as_ptr()));
            assert!(drops_net_admin(header.as_ptr(), bind_only.as_ptr()));
            assert!(drops_net_admin(
                [0x2008_0522, me].as_ptr(),
                bind_only.as_ptr()
            ));
            assert!(!drops_net_admin(
                [0x2008_0522, me + 1].as_ptr(),
                bind_only.as_ptr()
            ));
            assert!(!drops_net_admin(header.as_ptr(), std::ptr::null()));
        }
    }

    #[test]
    fn a_change_to_root_or_to_nothing_gives_nothing_up() {
        assert!(!drops_root(&[0]));
        assert!(!drops_root(&[u32::MAX, 0, u32::MAX]));
        assert!(drops_root(&[65534]));
        assert!(drops_root(&[u32::MAX, 1000]));
    }
}
