//! The stack service: one process per TAP owns the device and the sans-IO stack; every program in
//! the network namespace is its client.
//!
//! Why a service: programs are families of processes. A forking server, a pipeline of preloaded
//! tools, a child that `exec`s, a descriptor handed over a UNIX socket: each needs a socket to be
//! one object the kernel counts references to, whichever process holds it. So a stack socket, in a
//! program, is one end of a UNIX socketpair whose other end the service holds ([`server`] has the
//! details): the kernel carries it across `fork`, `dup`, `exec` and SCM_RIGHTS, runs `read`,
//! `write` and `poll` on it, and tells the service when its last descriptor is gone.
//!
//! - [`server`]: the event loop, the sockets and their data;
//! - [`proto`]: the closed set of requests and replies between programs and the service;
//! - [`client`]: a program's side (control connections, starting the service on first need);
//! - [`loopback`]: a wildcard listener's twin on the kernel's loopback;
//! - [`udp_loopback`]: a wildcard UDP socket's twin there;
//! - [`options`]: socket options, kept on the stack socket;
//! - [`secret`]: the TCP key every service of this user shares until reboot;
//! - [`board`]: the page in which the service counts UDP errors, so that sends see them;
//! - [`uds`]: UNIX-socket system calls (raw, so the preload shim never intercepts them).
//!
//! The service starts with the first program that needs it (`tapstack run`, a C program linked
//! with `-ltapstack`), or in the foreground with `tapstack up`. Started on demand, it exits by
//! itself once it has had no client, no socket and no connection still closing for
//! `TAPSTACK_IDLE_EXIT` seconds.

pub mod board;
pub mod client;
pub mod loopback;
pub mod options;
pub mod proto;
pub mod secret;
pub mod server;
pub mod udp_loopback;
pub mod uds;

use std::os::fd::RawFd;
use std::time::Duration;

pub use server::{Options, Service, Stopped};

/// How long a service started on demand stays with nothing to do, by default.
pub const DEFAULT_IDLE_EXIT: Duration = Duration::from_secs(2);

/// A service setting from the environment: `default` when unset, else what `parse` makes of it.
fn setting_from_env(
    var: &str,
    default: Duration,
    parse: fn(&str) -> std::result::Result<Duration, String>,
) -> std::result::Result<Duration, String> {
    std::env::var(var).map_or(Ok(default), |v| parse(&v))
}

/// Reads `TAPSTACK_IDLE_EXIT` (seconds, fractions allowed).
pub fn idle_exit_from_env() -> std::result::Result<Duration, String> {
    setting_from_env("TAPSTACK_IDLE_EXIT", DEFAULT_IDLE_EXIT, parse_idle_exit)
}

/// A `TAPSTACK_IDLE_EXIT` value: seconds from 0 to 86400.
pub fn parse_idle_exit(v: &str) -> std::result::Result<Duration, String> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("TAPSTACK_IDLE_EXIT={v:?}: expected seconds, from 0 to 86400"))
}

/// How long the service keeps polling after an event before it sleeps, by default: long enough
/// for the answer to a request it just passed on to find it awake (README: what it costs).
pub const DEFAULT_BUSY_POLL: Duration = Duration::from_micros(200);

/// Reads `TAPSTACK_BUSY_POLL` (microseconds).
pub fn busy_poll_from_env() -> std::result::Result<Duration, String> {
    setting_from_env("TAPSTACK_BUSY_POLL", DEFAULT_BUSY_POLL, parse_busy_poll)
}

/// A `TAPSTACK_BUSY_POLL` value: microseconds from 0 to 100000.
pub fn parse_busy_poll(v: &str) -> std::result::Result<Duration, String> {
    v.trim()
        .parse::<u64>()
        .ok()
        .filter(|us| *us <= 100_000)
        .map(Duration::from_micros)
        .ok_or_else(|| format!("TAPSTACK_BUSY_POLL={v:?}: expected microseconds, from 0 to 100000"))
}

/// A `TAPSTACK_BUSY_READ` value: microseconds from 0 to 100000 (the shim's read-side spin,
/// [`crate::posix::io::spin_before_read`]).
pub fn parse_busy_read(v: &str) -> std::result::Result<Duration, String> {
    v.trim()
        .parse::<u64>()
        .ok()
        .filter(|us| *us <= 100_000)
        .map(Duration::from_micros)
        .ok_or_else(|| format!("TAPSTACK_BUSY_READ={v:?}: expected microseconds, from 0 to 100000"))
}

/// Writes the service's word to the program that started it, and closes the pipe.
fn tell(ready: Option<RawFd>, word: &str) {
    if let Some(fd) = ready {
        let _ = crate::sys::write(fd, format!("{word}\n").as_bytes());
        let _ = crate::sys::close(fd);
    }
}

/// Claims the TAP's service name, opens the TAP and builds the service, telling `ready` (the pipe
/// of the program that started it) `ok`, `busy` or `error: WHY`. `Ok(None)`: another service
/// already runs for this TAP.
pub fn start(opts: &Options, ready: Option<RawFd>) -> std::result::Result<Option<Service>, String> {
    let control = match server::claim_name(&opts.config.iface) {
        Ok(c) => c,
        Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => {
            tell(ready, "busy");
            return Ok(None);
        }
        Err(e) => {
            let why = format!("cannot claim the service name: {e}");
            tell(ready, &format!("error: {why}"));
            return Err(why);
        }
    };
    match Service::start(opts, control) {
        Ok(s) => {
            tell(ready, "ok");
            Ok(Some(s))
        }
        Err(e) => {
            tell(ready, &format!("error: {e}"));
            Err(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_settings_take_microseconds_up_to_a_tenth_of_a_second() {
        for parse in [parse_busy_poll, parse_busy_read] {
            assert_eq!(parse("0"), Ok(Duration::ZERO));
            assert_eq!(parse(" 50 "), Ok(Duration::from_micros(50)));
            assert_eq!(parse("100000"), Ok(Duration::from_millis(100)));
            for bad in ["100001", "-1", "1.5", "fast", ""] {
                assert!(parse(bad).is_err(), "{bad:?}");
            }
        }
        assert!(parse_busy_read("x")
            .unwrap_err()
            .contains("TAPSTACK_BUSY_READ"));
    }
}
