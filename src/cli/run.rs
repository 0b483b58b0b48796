//! `tapstack run`: runs an unmodified program with its IPv4 sockets on the stack, by preloading
//! `libtapstack.so` (the one installed beside this binary) with the configuration in the
//! environment.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use super::{parse_stack_flags, stack_flags_help, usage_error, STACK_FLAGS};

fn help() -> String {
    format!(
        "usage: tapstack run [OPTIONS] -- PROGRAM [ARGS...]\n\n\
         Runs PROGRAM with libtapstack.so preloaded: its IPv4 sockets (except loopback) go through\n\
         the stack on the TAP device; names resolve through /etc/hosts and the DNS server given\n\
         with --dns, over the stack. The stack starts when the program first needs it.\n\n{}",
        stack_flags_help()
    )
}

/// The library beside the running binary.
fn library() -> Result<PathBuf, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find this program's path: {e}"))?;
    let lib = exe.with_file_name("libtapstack.so");
    if lib.is_file() {
        Ok(lib)
    } else {
        Err(format!(
            "{} not found: build it with `cargo build --release` (it is made beside the tapstack binary)",
            lib.display()
        ))
    }
}

pub fn main(args: Vec<String>) -> i32 {
    if args.first().is_some_and(|a| a == "--help" || a == "-h") {
        println!("{}", help());
        return 0;
    }
    let parsed = match parse_stack_flags(args) {
        Ok(p) => p,
        Err(e) => return usage_error("run", &e),
    };
    let mut rest = parsed.rest.into_iter();
    match rest.next().as_deref() {
        Some("--") => {}
        Some(other) => {
            return usage_error(
                "run",
                &format!("expected -- before the program, got {other:?}"),
            )
        }
        None => return usage_error("run", "no program given"),
    }
    let Some(program) = rest.next() else {
        return usage_error("run", "no program given after --");
    };
    let lib = match library() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tapstack run: {e}");
            return 1;
        }
    };
    let config = parsed.config;
    let mut cmd = std::process::Command::new(&program);
    cmd.args(rest);
    // The resolved configuration travels in the variables every stack reads.
    cmd.envs(super::config_env(&config));
    let preload = match std::env::var("LD_PRELOAD") {
        Ok(old) if !old.is_empty() => format!("{}:{old}", lib.display()),
        _ => lib.display().to_string(),
    };
    cmd.env("LD_PRELOAD", preload);
    let _ = STACK_FLAGS;
    let err = cmd.exec();
    eprintln!("tapstack run: cannot run {program:?}: {err}");
    127
}
