//! `tapstack up` as a user runs it: the built binary in a fresh namespace, pinged from the kernel
//! side and stopped by SIGTERM or SIGINT; its refusal of bad settings; and its help. Everything
//! that could attach to a TAP runs inside a namespace of its own, bounded in time.

mod common;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use tapstack::config::VARIABLES;

const BIN: &str = env!("CARGO_BIN_EXE_tapstack");

/// Leaves out any `TAPSTACK_*` setting of whoever runs the tests.
fn clean_env(cmd: &mut Command) -> &mut Command {
    for (var, _, _) in VARIABLES {
        cmd.env_remove(var);
    }
    cmd
}

/// A running `tapstack up`, its output read by two threads; killed if a test ends without
/// stopping it (the namespace's deletion would TERM it too).
struct Up {
    child: Child,
    lines: mpsc::Receiver<String>,
    stdout: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Up {
    /// `ip netns exec` execs the program in place, so the child is `tapstack` itself.
    fn start(net: &TestNet) -> Up {
        let mut child = clean_env(&mut net.command(BIN))
            .arg("up")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tapstack up");
        let out = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().expect("piped");
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Up {
            child,
            lines,
            stdout: Vec::new(),
            stderr: Some(stderr),
        }
    }

    /// Reads stdout until a line containing `what`, for at most `limit`.
    fn wait_for_line(&mut self, what: &str, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(what);
                    self.stdout.push(line);
                    if found {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) with our own child's pid, which we have not reaped yet.
        let r = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(r, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// Waits for the exit, at most `limit`, then collects the rest of the output.
    fn wait(&mut self, limit: Duration) -> (Option<ExitStatus>, String, String) {
        let end = Instant::now() + limit;
        let mut status = None;
        while Instant::now() < end {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                status = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // The process is gone, so its pipes end: these finish promptly.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.stdout.push(line);
        }
        let stderr = self.stderr.take().map(|h| h.join().unwrap_or_default());
        (status, self.stdout.join("\n"), stderr.unwrap_or_default())
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `tapstack up`, pings it three times from the kernel side, stops it with `sig` and checks
/// its report and exit status.
fn ping_then_stop(tag: &str, sig: libc::c_int, name: &str) {
    require("ping");
    let net = TestNet::new(tag);
    let mut up = Up::start(&net);
    let running = up.wait_for_line("tapstack up: running on tap0", Duration::from_secs(10));
    if !running {
        let (status, out, err) = up.wait(Duration::from_secs(1));
        panic!("no \"running on\" line; exit {status:?}\nstdout:\n{out}\nstderr:\n{err}");
    }
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", up.child.id())).unwrap_or_default();
    assert_eq!(
        comm.trim(),
        "tapstack",
        "the child should be tapstack itself"
    );
    let carrier = eventually(Duration::from_secs(3), || {
        let link = text(&net.sh("ip -o link show tap0", 5).stdout);
        link.contains("LOWER_UP") && !link.contains("NO-CARRIER")
    });
    assert!(carrier, "tap0 never got carrier");
    let ping = net.sh(&format!("ping -c 3 -i 0.2 -W 2 {STACK_IP}"), 20);
    assert!(
        text(&ping.stdout).contains("3 received"),
        "{}",
        text(&ping.stdout)
    );

    up.signal(sig);
    let (status, out, err) = up.wait(Duration::from_secs(10));
    let report = format!("exit {status:?}\nstdout:\n{out}\nstderr:\n{err}");
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{report}");
    assert!(
        out.contains(&format!("tapstack up: stopped by {name}")),
        "{report}"
    );
    assert!(
        out.contains(&format!("neighbour  {KERNEL_IP} at ")),
        "{report}"
    );
    let counters = out
        .lines()
        .find(|l| l.starts_with("counters   frames in "))
        .unwrap_or_else(|| panic!("no counters line\n{report}"));
    assert!(counters.contains("echo replies 3 "), "{report}");
    assert!(counters.contains("malformed 0, bad checksum 0"), "{report}");
    assert!(!err.contains("panicked"), "{report}");
}

#[test]
fn up_answers_ping_and_stops_on_sigterm() {
    ping_then_stop("upterm", libc::SIGTERM, "SIGTERM");
}

#[test]
fn up_answers_ping_and_stops_on_sigint() {
    ping_then_stop("upint", libc::SIGINT, "SIGINT");
}

/// Environment, arguments, and what stderr must say.
type Case<'a> = (&'a [(&'a str, &'a OsStr)], &'a [&'a OsStr], &'a str);

/// Runs `tapstack ARGS` in the namespace with `env` set, bounded to 10 seconds.
fn run_in(net: &TestNet, env: &[(&str, &OsStr)], args: &[&OsStr]) -> Output {
    let mut cmd = net.command("timeout");
    clean_env(&mut cmd).args(["10", BIN]).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null()).output().expect("run tapstack")
}

#[test]
fn bad_settings_are_refused_naming_the_variable_or_flag() {
    // In a namespace even though none of these should get as far as the TAP.
    let net = TestNet::new("upbad");
    let os = |s: &'static str| OsStr::new(s);
    let not_utf8 = OsStr::from_bytes(b"tap\xff");
    let cases: [Case; 7] = [
        (
            &[("TAPSTACK_ADDR", os("bad"))],
            &[os("up")],
            "TAPSTACK_ADDR=\"bad\": expected",
        ),
        (
            &[],
            &[os("up"), os("--addr"), os("bad")],
            "--addr \"bad\": expected",
        ),
        (
            &[],
            &[os("up"), os("--addr=10.77.0/24")],
            "--addr \"10.77.0/24\": expected",
        ),
        (
            &[("TAPSTACK_LOG", os("tapstack=loud"))],
            &[os("up")],
            "TAPSTACK_LOG=\"tapstack=loud\": expected",
        ),
        (
            &[("TAPSTACK_IFACE", not_utf8)],
            &[os("up")],
            "TAPSTACK_IFACE=\"tap\u{fffd}\": expected a value in UTF-8",
        ),
        (&[], &[os("up"), not_utf8], "is not valid UTF-8"),
        (&[], &[os("up"), os("--addr")], "--addr needs a value"),
    ];
    for (env, args, message) in cases {
        let out = run_in(&net, env, args);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        let report = format!(
            "{env:?} {args:?}: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        );
        // 2: the CLI's code for a usage error (timeout's own would be 124 or 125).
        assert_eq!(out.status.code(), Some(2), "{report}");
        assert!(stderr.contains(message), "{report}");
        assert!(!stderr.contains("panicked"), "{report}");
        assert!(!stdout.contains("running on"), "{report}");
    }
}

#[test]
fn help_lists_every_flag_and_variable() {
    for args in [&["--help"][..], &["up", "--help"], &["help", "up"]] {
        let out = clean_env(&mut Command::new(BIN))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tapstack");
        let help = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {help}");
        for (var, _, _) in VARIABLES {
            // TAPSTACK_MAX_SOCKETS is --max-sockets.
            let flag = format!(
                "--{}",
                var.trim_start_matches("TAPSTACK_")
                    .to_ascii_lowercase()
                    .replace('_', "-")
            );
            assert!(help.contains(var), "{args:?} lacks {var}:\n{help}");
            assert!(help.contains(&flag), "{args:?} lacks {flag}:\n{help}");
        }
    }
}
