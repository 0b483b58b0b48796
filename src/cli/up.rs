//! `tapstack up`: the stack alone, answering ARP and ping, until SIGINT or SIGTERM.

use tapstack::runtime::{init_logging, Runtime};

use super::{parse_stack_flags, stack_flags_help, usage_error};

fn help() -> String {
    format!(
        "usage: tapstack up [OPTIONS]\n\n\
         Attaches the stack to the TAP device and runs it in the foreground: it answers ARP and ICMP\n\
         echo (ping) from the kernel side and reports port unreachable for UDP, until SIGINT or\n\
         SIGTERM. Prints its configuration at start and its counters at exit.\n\n{}",
        stack_flags_help()
    )
}

/// Blocks SIGINT and SIGTERM in this thread (and the threads it starts after), so `sigwait` can
/// take them synchronously instead of a handler interrupting arbitrary code.
fn block_stop_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it; pthread_sigmask only
    // changes this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn wait_for_stop(set: &libc::sigset_t) -> i32 {
    let mut sig = 0;
    // SAFETY: `set` was initialised by block_stop_signals; `sig` is a valid out pointer.
    unsafe { libc::sigwait(set, &mut sig) };
    sig
}

pub fn main(args: Vec<String>) -> i32 {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", help());
        return 0;
    }
    let parsed = match parse_stack_flags(args) {
        Ok(p) => p,
        Err(e) => return usage_error("up", &e),
    };
    if let Some(extra) = parsed.rest.first() {
        return usage_error("up", &format!("unexpected argument {extra:?}"));
    }
    let config = parsed.config;
    init_logging(config.log.as_deref());
    let signals = block_stop_signals();
    let runtime = match Runtime::start(&config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tapstack up: {e}");
            return 1;
        }
    };
    let mtu = runtime.with_stack(|s, _| s.iface().mtu);
    println!(
        "tapstack up: running on {} (pid {})",
        config.iface,
        std::process::id()
    );
    println!("{config}\nmtu        {mtu}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let sig = wait_for_stop(&signals);
    let (stats, neighbours) = runtime.with_stack(|s, _| (s.stats().clone(), s.neighbours()));
    drop(runtime);
    let name = if sig == libc::SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    };
    println!("tapstack up: stopped by {name}");
    for (ip, mac) in neighbours {
        println!("neighbour  {ip} at {mac}");
    }
    println!("counters   {stats}");
    0
}
