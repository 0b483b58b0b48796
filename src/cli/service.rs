//! `tapstack service`: the stack service as programs start it when they first need the stack:
//! detached from them, silent (its log goes to `TAPSTACK_SERVICE_LOG` if set), telling the
//! program that started it `ok`, `busy` or why not on the descriptor given with `--ready-fd`, and
//! exiting by itself after `TAPSTACK_IDLE_EXIT` seconds (default 2) with nothing to do.

use std::os::fd::RawFd;

use tapstack::runtime::init_logging;
use tapstack::service::{self, Options};

use super::{parse_stack_flags, usage_error};

fn help() -> String {
    "usage: tapstack service [--ready-fd N] [--detach] [STACK OPTIONS]\n\n\
     Runs the stack service as programs start it on first need (see `tapstack up` to run it in the\n\
     foreground). --ready-fd N: write `ok`, `busy` or `error: WHY` on descriptor N once started.\n\
     --detach: run in a new session, in the background, standard streams on /dev/null.\n\
     TAPSTACK_IDLE_EXIT: seconds with no client, socket or closing connection before exiting\n\
     (default 2). TAPSTACK_BUSY_POLL: microseconds to keep polling after an event before sleeping\n\
     (default 200). TAPSTACK_SERVICE_LOG: a file for its log lines."
        .to_string()
}

/// Leaves the starting program's session: the parent returns at once (the program waits for it),
/// the child carries on in a new session with its standard streams on /dev/null or the log file.
fn detach(keep: Option<RawFd>) -> Result<(), String> {
    // SAFETY: fork in a single-threaded process that has done nothing yet.
    match unsafe { libc::fork() } {
        -1 => return Err(format!("fork: {}", std::io::Error::last_os_error())),
        0 => {}
        _ => std::process::exit(0),
    }
    // SAFETY: plain calls on our own process and descriptors.
    unsafe {
        libc::setsid();
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        let log = std::env::var("TAPSTACK_SERVICE_LOG").ok().and_then(|p| {
            let p = std::ffi::CString::new(p).ok()?;
            let fd = libc::open(
                p.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC,
                0o600,
            );
            (fd >= 0).then_some(fd)
        });
        if null >= 0 {
            libc::dup2(null, 0);
            libc::dup2(null, 1);
            libc::dup2(log.unwrap_or(null), 2);
        }
        // Nothing of the program that started us stays open here.
        for fd in 3..1024 {
            if Some(fd) != keep && Some(fd) != log {
                libc::close(fd);
            }
        }
    }
    Ok(())
}

pub fn main(args: Vec<String>) -> i32 {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        super::print_help(&help());
        return 0;
    }
    let parsed = match parse_stack_flags(args) {
        Ok(p) => p,
        Err(e) => return usage_error("service", &e),
    };
    let mut ready: Option<RawFd> = None;
    let mut background = false;
    let mut rest = parsed.rest.into_iter();
    while let Some(a) = rest.next() {
        match a.as_str() {
            "--ready-fd" => match rest.next().and_then(|v| v.parse().ok()) {
                Some(fd) => ready = Some(fd),
                None => return usage_error("service", "--ready-fd needs a descriptor number"),
            },
            "--detach" => background = true,
            other => return usage_error("service", &format!("unexpected argument {other:?}")),
        }
    }
    // The service's own settings; a bad one is told to the program that started it too.
    let (idle_exit, busy_poll) =
        match service::idle_exit_from_env().and_then(|i| Ok((i, service::busy_poll_from_env()?))) {
            Ok(v) => v,
            Err(e) => {
                if let Some(fd) = ready {
                    let _ = tapstack::sys::write(fd, format!("error: {e}\n").as_bytes());
                }
                eprintln!("tapstack service: {e}");
                return 2;
            }
        };
    if background {
        if let Err(e) = detach(ready) {
            eprintln!("tapstack service: {e}");
            return 1;
        }
    }
    let config = parsed.config;
    init_logging(config.log.as_deref());
    let opts = Options {
        config,
        idle_exit: Some(idle_exit),
        busy_poll,
    };
    match service::start(&opts, ready) {
        Ok(Some(s)) => {
            let stopped = s.run();
            log::info!("service stopped; counters {}", stopped.stats);
            0
        }
        Ok(None) => 0,
        Err(e) => {
            log::error!("the stack service could not start: {e}");
            1
        }
    }
}
