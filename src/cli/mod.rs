//! The command line: argument parsing shared by every subcommand, and the dispatch to them.
//!
//! Flags that configure the stack mirror the `TAPSTACK_*` variables one for one (`--addr` is
//! `TAPSTACK_ADDR`), and go through the same validation in [`tapstack::config`]; a flag wins over the
//! variable.

mod nc;
mod reach;
mod run;
mod service;
mod up;

use tapstack::config::{Config, DnsOptions, Settings, VARIABLES};

/// The stack flags: `--iface` ↔ `TAPSTACK_IFACE`, and so on.
const STACK_FLAGS: &[(&str, &str)] = &[
    ("--iface", "TAPSTACK_IFACE"),
    ("--addr", "TAPSTACK_ADDR"),
    ("--gateway", "TAPSTACK_GATEWAY"),
    ("--mac", "TAPSTACK_MAC"),
    ("--pcap", "TAPSTACK_PCAP"),
    ("--log", "TAPSTACK_LOG"),
    ("--dns", "TAPSTACK_DNS"),
    ("--dns-search", "TAPSTACK_DNS_SEARCH"),
    ("--dns-options", "TAPSTACK_DNS_OPTIONS"),
    ("--offload", "TAPSTACK_OFFLOAD"),
    ("--max-sockets", "TAPSTACK_MAX_SOCKETS"),
];

const USAGE: &str = "\
tapstack: a TCP/IP stack in a process, over a TAP device

usage: tapstack COMMAND [OPTIONS]

commands:
  up        run the stack service in the foreground (answers ARP and ping, serves programs'
            sockets) until SIGINT/SIGTERM
  service   the stack service as programs start it (detached, exits when idle)
  run       run a program with its sockets on the stack: `run [OPTIONS] -- PROGRAM ARGS...`
  nc        a netcat over a stack TCP connection: `nc HOST PORT` or `nc -l [ADDR] PORT`
  help      show this text, or `tapstack help COMMAND` for one command

Run `tapstack COMMAND --help` for a command's own options. Every command takes the stack options:";

/// The top-level `--help`: the commands and the stack options they all share.
fn usage() -> String {
    format!("{USAGE}\n\n{}", stack_flags_help())
}

/// The `--help` text listing the stack flags with their variables and defaults.
fn stack_flags_help() -> String {
    let mut s =
        String::from("stack options (each mirrors an environment variable; the flag wins):\n");
    for (flag, var) in STACK_FLAGS {
        let (_, what, default) = VARIABLES.iter().find(|(v, _, _)| v == var).expect("listed");
        s.push_str(&format!(
            "  {flag:<10} VALUE  {what} [{var}, default: {default}]\n"
        ));
    }
    s
}

/// Arguments after the stack flags were taken out.
pub struct Parsed {
    pub config: Config,
    pub rest: Vec<String>,
}

/// Takes the stack flags out of `args` (as `--flag VALUE` or `--flag=VALUE`) on top of the
/// environment, leaving everything else in order. Stops at `--`, which stays in `rest`.
pub fn parse_stack_flags(args: Vec<String>) -> Result<Parsed, String> {
    let mut settings = Settings::from_env().map_err(|e| e.to_string())?;
    let mut rest = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        if arg == "--" {
            rest.push(arg);
            rest.extend(it.by_ref());
            break;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let Some((flag, var)) = STACK_FLAGS.iter().find(|(f, _)| *f == name) else {
            rest.push(arg);
            continue;
        };
        let value = match inline.or_else(|| it.next()) {
            Some(v) => v,
            None => return Err(format!("{flag} needs a value")),
        };
        settings
            .set(var, &value)
            .map_err(|e| format!("{flag} {value:?}: expected {}", e.expected))?;
    }
    let config = settings.resolve().map_err(|e| e.to_string())?;
    Ok(Parsed { config, rest })
}

/// A resolved configuration as the `TAPSTACK_*` variables that say it (what `tapstack run` passes
/// to its program, and `tapstack nc` to the service).
pub fn config_env(config: &Config) -> Vec<(String, String)> {
    let mut vars = vec![
        ("TAPSTACK_IFACE".to_string(), config.iface.clone()),
        (
            "TAPSTACK_ADDR".to_string(),
            format!("{}/{}", config.addr, config.prefix_len),
        ),
        ("TAPSTACK_MAC".to_string(), config.mac.to_string()),
    ];
    if let Some(gw) = config.gateway {
        vars.push(("TAPSTACK_GATEWAY".into(), gw.to_string()));
    }
    if let Some(p) = &config.pcap {
        vars.push(("TAPSTACK_PCAP".into(), p.display().to_string()));
    }
    if let Some(l) = &config.log {
        vars.push(("TAPSTACK_LOG".into(), l.clone()));
    }
    if !config.dns.is_empty() {
        let list: Vec<String> = config.dns.iter().map(|d| d.to_string()).collect();
        vars.push(("TAPSTACK_DNS".into(), list.join(",")));
    }
    if !config.dns_search.is_empty() {
        vars.push(("TAPSTACK_DNS_SEARCH".into(), config.dns_search.join(",")));
    }
    if config.dns_options != DnsOptions::default() {
        vars.push((
            "TAPSTACK_DNS_OPTIONS".into(),
            config.dns_options.to_string(),
        ));
    }
    if !config.offload {
        vars.push(("TAPSTACK_OFFLOAD".into(), "off".into()));
    }
    vars
}

/// Prints a help text to stdout. For the commands that keep SIGPIPE ignored (see main.rs): a
/// reader gone early (`tapstack up --help | head`) is no error of theirs.
fn print_help(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{text}");
}

pub fn main(args: Vec<String>) -> i32 {
    let Some(command) = args.first().cloned() else {
        eprintln!("{}", usage());
        return 2;
    };
    let rest = args[1..].to_vec();
    match command.as_str() {
        "up" => up::main(rest),
        "nc" => nc::main(rest),
        "run" => run::main(rest),
        "service" => service::main(rest),
        "help" | "--help" | "-h" => match rest.first().map(String::as_str) {
            Some("up") => up::main(vec!["--help".into()]),
            Some("nc") => nc::main(vec!["--help".into()]),
            Some("run") => run::main(vec!["--help".into()]),
            _ => {
                println!("{}", usage());
                0
            }
        },
        "--version" | "-V" => {
            println!("tapstack {}", env!("CARGO_PKG_VERSION"));
            0
        }
        other => {
            eprintln!("tapstack: unknown command {other:?}\n\n{}", usage());
            2
        }
    }
}

/// Reports a usage error the way every subcommand does.
pub fn usage_error(command: &str, message: &str) -> i32 {
    eprintln!("tapstack {command}: {message}\nRun `tapstack {command} --help` for usage.");
    2
}
