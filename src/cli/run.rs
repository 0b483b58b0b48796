//! `tapstack run`: runs an unmodified program with its IPv4 sockets on the stack, by preloading
//! `libtapstack.so` (the one installed beside this binary) with the configuration in the
//! environment.
//!
//! A program the preload cannot reach (statically linked, or Go) would run on the kernel's sockets
//! without a word, so it is refused before the exec ([`super::reach`] says which);
//! `--allow-unreachable` runs it anyway, for a program that only starts others (the children of a
//! static shell get the preload if they are dynamically linked).

use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use super::reach::{self, Reach};
use super::{parse_stack_flags, stack_flags_help, usage_error, STACK_FLAGS};

/// The exit status of a program refused (the shell's for a command found but not run).
const REFUSED: i32 = 126;

fn help() -> String {
    format!(
        "usage: tapstack run [OPTIONS] -- PROGRAM [ARGS...]\n\n\
         Runs PROGRAM with libtapstack.so preloaded: its IPv4 sockets (except loopback) go through\n\
         the stack on the TAP device; names resolve through /etc/hosts and the DNS server given\n\
         with --dns, over the stack. The stack starts when the program first needs it.\n\n\
         A program the preload cannot reach is refused (exit status 126): one statically linked\n\
         (no dynamic loader runs, so LD_PRELOAD is never read) or a Go program (Go's runtime makes\n\
         its socket system calls itself); it would use the kernel's sockets.\n\n\
         options:\n  \
         --allow-unreachable  run such a program anyway, on the kernel's sockets (the programs it\n                       \
         starts get the preload)\n\n{}",
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
    let mut allow_unreachable = false;
    loop {
        match rest.next().as_deref() {
            Some("--") => break,
            Some("--allow-unreachable") => allow_unreachable = true,
            Some(other) => {
                return usage_error(
                    "run",
                    &format!("expected -- before the program, got {other:?}"),
                )
            }
            None => return usage_error("run", "no program given"),
        }
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
    if !allow_unreachable {
        if let Some(message) = unreachable(&program) {
            eprintln!("tapstack run: {message}");
            return REFUSED;
        }
    }
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

/// Why the preload could not reach `program`'s sockets, or `None` when it can (or exec is left to
/// say why the program cannot run at all).
fn unreachable(program: &str) -> Option<String> {
    let path = reach::resolve(program)?;
    let (verdict, judged) = reach::inspect(&path);
    let what = if judged == path {
        program.to_string()
    } else {
        format!("{program} (its interpreter {})", judged.display())
    };
    let hatch = "(--allow-unreachable runs it anyway)";
    match verdict {
        Reach::Preloaded => None,
        Reach::Static => Some(format!(
            "{what} is statically linked: the preload cannot reach its sockets, so it would use \
             the kernel's; run a dynamically linked build {hatch}"
        )),
        Reach::Go => Some(format!(
            "{what} is a Go program: Go's runtime makes its socket system calls itself, not \
             through libc, so the preload cannot reach them and it would use the kernel's sockets \
             {hatch}"
        )),
    }
}
