//! The calls that change a process's user (`setuid` and its kin): the stack is kept within reach
//! of a program that gives up root, and its next requests carry its new user.
//!
//! The service learns a client's user and rights (binding a privileged port, the FORCE buffer
//! sizes) from its control connection, as Linux checks the caller's; a program that changes its
//! user must therefore be seen afresh ([`client::user_changed`]). And a root program that drops
//! its privileges before its first socket (memcached's and mosquitto's `-u`) could no longer start
//! the service, which needs CAP_NET_ADMIN for the TAP: it starts it first
//! ([`client::before_user_change`]).

// The exported functions are libc's, with libc's contracts.
#![allow(clippy::missing_safety_doc)]

use libc::{c_int, uid_t};

use super::state;
use crate::real;
use crate::service::client;

/// Whether a call naming these user ids (`uid_t::MAX`, -1, leaves one as it is) may give up root.
fn drops_root(ids: &[uid_t]) -> bool {
    ids.iter().any(|&id| id != uid_t::MAX && id != 0)
}

/// Runs the real call `f` with the stack's work around it.
fn around(ids: &[uid_t], f: impl FnOnce() -> c_int) -> c_int {
    // A vfork child shares our memory and must not start or hold anything.
    let ours = !state::in_vfork_child();
    if ours && drops_root(ids) {
        let errno = super::hook::errno();
        super::hook::guard("setuid", (), client::before_user_change);
        // The work above may have set errno; the program's call sees what it would have.
        super::hook::set_errno(crate::error::Errno(errno));
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

#[cfg(test)]
mod tests {
    use super::drops_root;

    #[test]
    fn a_change_to_root_or_to_nothing_gives_nothing_up() {
        assert!(!drops_root(&[0]));
        assert!(!drops_root(&[u32::MAX, 0, u32::MAX]));
        assert!(drops_root(&[65534]));
        assert!(drops_root(&[u32::MAX, 1000]));
    }
}
