//! Receive timestamps on stack sockets: SO_TIMESTAMP, SO_TIMESTAMPNS and SO_TIMESTAMPING, in
//! their old and `_NEW` forms.
//!
//! The options belong to the descriptor: the socketpair end takes them, so the kernel keeps their
//! state exactly as it keeps a TCP socket's (which option wins, the old or new format, the flags'
//! validation), `getsockopt` reads them back unchanged, and they move with the descriptor when a
//! pending socket attaches or a listener's child is accepted ([`Stamping::copy`]).
//!
//! - UDP: the socketpair is a datagram one, and the kernel stamps each datagram as the service
//!   writes it in, microseconds after its frame arrived; the control messages are the kernel's
//!   own, passed through to the program.
//! - TCP: a stream socketpair carries no timestamps, so the shim writes them as Linux's
//!   `tcp_recv_timestamp` would, from the time the service last wrote data into the socketpair
//!   (`Call::DeliveredAt`): the arrival of the newest data the read may include. A read that
//!   takes older data queued behind it gets that later time, where Linux gives the time of the
//!   last segment copied.
//!
//! Transmit timestamps (SOF_TIMESTAMPING_TX_*) would come on the error queue, which a socketpair
//! never fills: asking for them is refused (EOPNOTSUPP) rather than left unanswered.

use std::os::fd::RawFd;

use super::sockets;
use crate::error::{Errno, Result};
use crate::service::proto::{Call, Value};
use crate::service::uds;

/// The `_NEW` forms (64-bit times on every architecture), not all in the `libc` crate.
pub const SO_TIMESTAMP_NEW: i32 = 63;
pub const SO_TIMESTAMPNS_NEW: i32 = 64;
pub const SO_TIMESTAMPING_NEW: i32 = 65;

// SOF_TIMESTAMPING_* (linux/net_tstamp.h).
const TX_SOFTWARE: u32 = 1 << 1;
const RX_SOFTWARE: u32 = 1 << 3;
const SOFTWARE: u32 = 1 << 4;
const TX_SCHED: u32 = 1 << 8;
const TX_ACK: u32 = 1 << 9;

/// Whether `(level, name)` is one of the receive-timestamp options.
pub fn is_stamp_option(level: i32, name: i32) -> bool {
    level == libc::SOL_SOCKET
        && matches!(
            name,
            libc::SO_TIMESTAMP
                | libc::SO_TIMESTAMPNS
                | libc::SO_TIMESTAMPING
                | SO_TIMESTAMP_NEW
                | SO_TIMESTAMPNS_NEW
                | SO_TIMESTAMPING_NEW
        )
}

/// SO_TIMESTAMPING asking for something the stack cannot give: transmit timestamps.
pub fn refused(level: i32, name: i32, val: &[u8]) -> Result<()> {
    if level != libc::SOL_SOCKET || !matches!(name, libc::SO_TIMESTAMPING | SO_TIMESTAMPING_NEW) {
        return Ok(());
    }
    // An int, or `struct so_timestamping` whose first member is the flags.
    let Some(b) = val.get(..4) else {
        return Ok(());
    };
    let flags = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
    if flags & (TX_SOFTWARE | TX_SCHED | TX_ACK) != 0 {
        log::debug!("SO_TIMESTAMPING {flags:#x}: transmit timestamps are not given by this stack");
        return Err(Errno::EOPNOTSUPP);
    }
    Ok(())
}

/// The receive-timestamp state the kernel keeps on a socket: SOCK_RCVTSTAMP, SOCK_RCVTSTAMPNS,
/// SOCK_TSTAMP_NEW and sk_tsflags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamping {
    rcv: bool,
    ns: bool,
    new: bool,
    flags: u32,
}

fn get_int(fd: RawFd, name: i32) -> i32 {
    uds::get_raw(fd, libc::SOL_SOCKET, name, 4)
        .ok()
        .and_then(|v| {
            v.get(..4)
                .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        })
        .unwrap_or(0)
}

impl Stamping {
    /// Read back from descriptor `fd`. Each getsockopt answers a part: SO_TIMESTAMP(_OLD) only
    /// for the old microsecond form, SO_TIMESTAMP_NEW for either new form, SO_TIMESTAMPING_NEW
    /// only when the new format is on.
    pub fn of(fd: RawFd) -> Stamping {
        let ts_old = get_int(fd, libc::SO_TIMESTAMP) != 0;
        let ns_old = get_int(fd, libc::SO_TIMESTAMPNS) != 0;
        let ts_new = get_int(fd, SO_TIMESTAMP_NEW) != 0;
        let ns_new = get_int(fd, SO_TIMESTAMPNS_NEW) != 0;
        let flags = get_int(fd, libc::SO_TIMESTAMPING) as u32;
        let new = ts_new || (flags != 0 && get_int(fd, SO_TIMESTAMPING_NEW) != 0);
        Stamping {
            rcv: ts_old || ns_old || ts_new,
            ns: ns_old || ns_new,
            new,
            flags,
        }
    }

    /// Sets the same state on descriptor `to` (a new socket starts with none).
    fn apply(&self, to: RawFd) {
        let set = |name: i32, v: i32| {
            let _ = uds::set_raw(to, libc::SOL_SOCKET, name, &v.to_ne_bytes());
        };
        if self.flags != 0 {
            let name = if self.new {
                SO_TIMESTAMPING_NEW
            } else {
                libc::SO_TIMESTAMPING
            };
            set(name, self.flags as i32);
        }
        if self.rcv {
            let name = match (self.ns, self.new) {
                (false, false) => libc::SO_TIMESTAMP,
                (true, false) => libc::SO_TIMESTAMPNS,
                (false, true) => SO_TIMESTAMP_NEW,
                (true, true) => SO_TIMESTAMPNS_NEW,
            };
            set(name, 1);
        }
    }

    /// Moves the state of descriptor `from` to `to`.
    pub fn copy(from: RawFd, to: RawFd) {
        let s = Stamping::of(from);
        if s != Stamping::default() {
            s.apply(to);
        }
    }

    /// Whether a read is stamped at all: SO_TIMESTAMP(NS), or SO_TIMESTAMPING reporting
    /// software receive stamps.
    fn stamps(&self) -> bool {
        self.rcv || self.timestamping()
    }

    /// SCM_TIMESTAMPING goes with a read (Linux's tcp_recv_timestamp): software stamps reported
    /// and generated on receive. (Linux also reports stamps another socket had generated; here
    /// a stamp exists only once this socket asks for one.)
    fn timestamping(&self) -> bool {
        self.flags & SOFTWARE != 0 && self.flags & RX_SOFTWARE != 0
    }
}

/// Control messages written into a program's buffer after a receive, one after another as the
/// kernel's `put_cmsg` writes them: one that does not fit is cut to the room left (its header
/// saying so) with MSG_CTRUNC, and none is written where not even a header fits.
pub struct ControlOut {
    msg: *mut libc::msghdr,
    room: usize,
    used: usize,
}

impl ControlOut {
    /// # Safety
    /// `msg` must be a header the kernel has just filled (its control length set to 0 since);
    /// `room` the control buffer's size the program gave.
    pub unsafe fn new(msg: *mut libc::msghdr, room: usize) -> ControlOut {
        ControlOut { msg, room, used: 0 }
    }

    /// One that goes on after the `used` bytes the kernel wrote (the control length says so).
    ///
    /// # Safety
    /// As [`ControlOut::new`], with the control length left as the kernel set it.
    pub unsafe fn after(msg: *mut libc::msghdr, room: usize, used: usize) -> ControlOut {
        ControlOut { msg, room, used }
    }

    /// Appends one control message.
    ///
    /// # Safety
    /// As [`ControlOut::new`].
    pub unsafe fn put(&mut self, level: i32, kind: i32, data: &[u8]) {
        let m = &mut *self.msg;
        let left = self.room.saturating_sub(self.used);
        let header = std::mem::size_of::<libc::cmsghdr>();
        if m.msg_control.is_null() || left < header {
            m.msg_flags |= libc::MSG_CTRUNC;
            return;
        }
        let mut len = libc::CMSG_LEN(data.len() as u32) as usize;
        if len > left {
            m.msg_flags |= libc::MSG_CTRUNC;
            len = left;
        }
        let at = (m.msg_control as *mut u8).add(self.used);
        if super::user::check_write(at, len).is_err() {
            return;
        }
        let head = libc::cmsghdr {
            cmsg_len: len,
            cmsg_level: level,
            cmsg_type: kind,
        };
        std::ptr::write_unaligned(at as *mut libc::cmsghdr, head);
        std::ptr::copy_nonoverlapping(data.as_ptr(), at.add(header), len - header);
        self.used += (libc::CMSG_SPACE(data.len() as u32) as usize).min(left);
        m.msg_controllen = self.used;
    }
}

/// Two 64-bit words (every struct a timestamp comes in on a 64-bit machine: timeval, timespec
/// and their `__kernel_sock_` forms).
fn words(a: i64, b: i64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&a.to_ne_bytes());
    out[8..].copy_from_slice(&b.to_ne_bytes());
    out
}

/// The timestamps of a read of `n` bytes from TCP stack socket `fd`, as Linux's
/// `tcp_recv_timestamp` writes them: SCM_TIMESTAMP(NS) first, then SCM_TIMESTAMPING with the
/// software stamp in its first slot.
///
/// # Safety
/// As [`ControlOut::put`].
pub unsafe fn put_tcp(fd: RawFd, n: isize, out: &mut ControlOut) {
    if n <= 0 {
        return;
    }
    let s = Stamping::of(fd);
    if !s.stamps() {
        return;
    }
    let ns = match sockets::request(fd, Call::DeliveredAt) {
        Ok(Value::Bytes(b)) if b.len() == 8 => {
            u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
        }
        _ => 0,
    };
    if ns == 0 {
        return;
    }
    let (sec, nsec) = ((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64);
    if s.rcv {
        let (kind, data) = match (s.ns, s.new) {
            (false, false) => (libc::SCM_TIMESTAMP, words(sec, nsec / 1000)),
            (true, false) => (libc::SCM_TIMESTAMPNS, words(sec, nsec)),
            (false, true) => (SO_TIMESTAMP_NEW, words(sec, nsec / 1000)),
            (true, true) => (SO_TIMESTAMPNS_NEW, words(sec, nsec)),
        };
        out.put(libc::SOL_SOCKET, kind, &data);
    }
    if s.timestamping() {
        // struct scm_timestamping: software, (deprecated), hardware.
        let mut three = [0u8; 48];
        three[..16].copy_from_slice(&words(sec, nsec));
        let kind = if s.new {
            SO_TIMESTAMPING_NEW
        } else {
            libc::SCM_TIMESTAMPING
        };
        out.put(libc::SOL_SOCKET, kind, &three);
    }
}
