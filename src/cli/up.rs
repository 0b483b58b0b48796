//! `tapstack up`: the stack service in the foreground, until SIGINT or SIGTERM.

use tapstack::runtime::init_logging;
use tapstack::service::{self, Options};

use super::{parse_stack_flags, stack_flags_help, usage_error};

fn help() -> String {
    format!(
        "usage: tapstack up [OPTIONS]\n\n\
         Runs the stack service for the TAP device in the foreground: it answers ARP and ICMP echo\n\
         (ping) from the kernel side, reports port unreachable for UDP, and serves the sockets of\n\
         every program started with `tapstack run` (or linked with -ltapstack) in this network\n\
         namespace, until SIGINT or SIGTERM. Prints its configuration at start and its counters at\n\
         exit. (Programs start the service by themselves when none runs; this is for watching it.)\n\n{}",
        stack_flags_help()
    )
}

pub fn main(args: Vec<String>) -> i32 {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        super::print_help(&help());
        return 0;
    }
    let parsed = match parse_stack_flags(args) {
        Ok(p) => p,
        Err(e) => return usage_error("up", &e),
    };
    if let Some(extra) = parsed.rest.first() {
        return usage_error("up", &format!("unexpected argument {extra:?}"));
    }
    let busy_poll = match service::busy_poll_from_env() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("tapstack up: {e}");
            return 2;
        }
    };
    let config = parsed.config;
    init_logging(config.log.as_deref());
    let opts = Options {
        config: config.clone(),
        idle_exit: None,
        busy_poll,
    };
    let service = match service::start(&opts, None) {
        Ok(Some(s)) => s,
        Ok(None) => {
            eprintln!(
                "tapstack up: a stack service already runs for {} in this network namespace",
                config.iface
            );
            return 1;
        }
        Err(e) => {
            eprintln!("tapstack up: {e}");
            return 1;
        }
    };
    let mtu = service.stack().iface().mtu;
    println!(
        "tapstack up: running on {} (pid {})",
        config.iface,
        std::process::id()
    );
    println!("{config}\nmtu        {mtu}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let stopped = service.run();
    let name = match stopped.signal {
        Some(libc::SIGINT) => "SIGINT",
        Some(_) => "SIGTERM",
        None => "idleness",
    };
    println!("tapstack up: stopped by {name}");
    for (ip, mac) in stopped.neighbours {
        println!("neighbour  {ip} at {mac}");
    }
    println!("counters   {}", stopped.stats);
    0
}
