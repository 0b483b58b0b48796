//! The test network for integration tests: a uniquely named namespace with a TAP whose kernel side is
//! 10.77.0.1/24, made with `scripts/netns.sh` and deleted when the [`TestNet`] drops, even if the
//! test panics. The stack under test runs in this process: the thread that opens the TAP enters the
//! namespace first ([`TestNet::start_stack`]), so the rest of the process stays where it was.

#![allow(dead_code)]

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tapstack::config::{Config, Settings};
use tapstack::runtime::Runtime;

pub const KERNEL_IP: &str = "10.77.0.1";
pub const STACK_IP: &str = "10.77.0.2";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct TestNet {
    pub name: String,
}

impl TestNet {
    /// Creates namespace `ts-TAG-PID-N` with tap0 at 10.77.0.1/24.
    pub fn new(tag: &str) -> TestNet {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("ts-{tag}-{}-{n}", std::process::id());
        let status = Command::new("bash")
            .arg(repo().join("scripts/netns.sh"))
            .args(["create", &name])
            .status()
            .expect("run scripts/netns.sh");
        assert!(
            status.success(),
            "scripts/netns.sh create {name} failed (are we root?)"
        );
        TestNet { name }
    }

    /// A command run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `sh -c SCRIPT` inside the namespace, bounded by `timeout` seconds, and returns its output.
    pub fn sh(&self, script: &str, timeout: u32) -> Output {
        self.command("timeout")
            .args([&timeout.to_string(), "sh", "-c", script])
            .stdin(Stdio::null())
            .output()
            .expect("run command in namespace")
    }

    /// The stack's configuration for this network, with extra `TAPSTACK_*` settings.
    pub fn config(&self, extra: &[(&str, &str)]) -> Config {
        let mut s = Settings::default();
        for (k, v) in extra {
            s.set(k, v).expect("valid test setting");
        }
        s.resolve().expect("valid test config")
    }

    /// Starts the stack on this namespace's tap0, and waits until the kernel side has carrier (the
    /// kernel drops what it sends on a TAP whose link is not up yet, which would turn the first ARP
    /// exchange into a one-second retry and make timing checks flaky).
    pub fn start_stack(&self, extra: &[(&str, &str)]) -> Runtime {
        let config = self.config(extra);
        let ns = PathBuf::from("/var/run/netns").join(&self.name);
        let rt = std::thread::spawn(move || {
            enter_netns(&ns);
            Runtime::start(&config)
        })
        .join()
        .expect("stack start thread")
        .expect("start stack");
        let up = eventually(Duration::from_secs(3), || {
            let out = self.sh("ip -o link show tap0", 5);
            let link = text(&out.stdout);
            link.contains("LOWER_UP") && !link.contains("NO-CARRIER")
        });
        assert!(up, "tap0 never got carrier");
        rt
    }
}

/// Moves the calling thread into the network namespace at `path`.
pub fn enter_netns(path: &Path) {
    let f = File::open(path).expect("open netns");
    // SAFETY: setns on a valid namespace descriptor affects only the calling thread.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
}

impl Drop for TestNet {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo().join("scripts/netns.sh"))
            .args(["delete", &self.name])
            .status();
    }
}

/// Polls `check` every 20 ms until it is true or `limit` passes.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}

/// Fails the test with a clear message when a tool it needs is missing (`.ci/run` installs them all).
pub fn require(tool: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{tool} is not installed: run .ci/run, or apt-get install it"
    );
}

/// Starts a python program in the namespace (bounded to 60 s) and waits for its first line, which
/// must be READY; returns the child and the rest of its output.
pub fn python(
    net: &TestNet,
    script: &str,
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStdout>,
) {
    use std::io::BufRead;
    let mut child = net
        .command("timeout")
        .args(["60", "python3", "-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python3");
    let mut out = std::io::BufReader::new(child.stdout.take().expect("piped"));
    let mut first = String::new();
    out.read_line(&mut first).expect("read from python3");
    assert_eq!(first.trim(), "READY");
    (child, out)
}

/// The next line a program printed, trimmed.
pub fn line(out: &mut std::io::BufReader<std::process::ChildStdout>) -> String {
    use std::io::BufRead;
    let mut l = String::new();
    out.read_line(&mut l).expect("read a line");
    l.trim().to_string()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
