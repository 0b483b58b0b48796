//! The TCP secret every stack of this user shares until the machine reboots.
//!
//! A stack's secret key feeds three keyed hashes of a connection's 4-tuple: the ISN offset F of
//! RFC 6528 §3, the per-connection timestamp offset of RFC 7323 §5.4 and the ephemeral port offset
//! of RFC 6056 §3.3.3. Services come and go (one exits after `TAPSTACK_IDLE_EXIT` seconds idle, the
//! next program starts another), and the next one reuses the ports of the last in the same order.
//! A peer that still holds those 4-tuples in TIME-WAIT takes a new SYN for one only if its sequence
//! number or its TSval is after the old connection's (RFC 6191; Linux's
//! `tcp_timewait_state_process`), else it answers with an ACK and the connection waits a whole
//! SYN retransmission. With the same key and a clock that does not restart (see
//! [`crate::sys::monotonic_now`]), the new SYN's ISN and TSval continue where the old ones were.
//! Linux has this for free: its key lives as long as the boot.
//!
//! So the key lives in a file, in a place that is per user and emptied at boot: in
//! `$XDG_RUNTIME_DIR` when that is a directory we own, else in `/dev/shm` under a name with our
//! user id. It must stay secret from other users (knowing it predicts our ISNs, RFC 6528 §3), so it
//! is read only from a regular file of ours with no group or other permission, exactly 16 bytes,
//! never through a symbolic link. It is created atomically: random bytes into a fresh private file,
//! then `link(2)` to the name, so two services that start at once agree (the one whose link fails
//! reads the other's). Anything amiss and this service uses a fresh random key of its own, as
//! before: connections still work, only a restart may meet TIME-WAIT again.
//!
//! The Fast Open key (RFC 7413 §4.1.2, Linux's `net.ipv4.tcp_fastopen_key`, also one per boot) is
//! derived from the same secret: cookies a client got from one service stay good with the next,
//! where a key per service would send every client with a cookie back to a full handshake after
//! each idle exit. It is a separate hash of the secret, so a cookie says nothing about the key
//! behind sequence numbers.
//!
//! Everything here goes through raw system calls ([`crate::sys`]): a service started by a
//! preloaded program must not meet the shim's `read` or `close`.

use crate::sys;
use crate::tcp::SipKey;
use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Length of the secret in its file.
pub const SECRET_LEN: usize = 16;

/// The keys a stack takes from the secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keys {
    /// ISNs, timestamp offsets, ephemeral ports, SYN cookies ([`crate::stack::Stack::set_secret_key`]).
    pub tcp: SipKey,
    /// Fast Open cookies of listeners without a key of their own.
    pub fast_open: SipKey,
}

impl Keys {
    /// Derives both keys from the secret, each from hashes under its own label.
    pub fn from_secret(secret: &[u8; SECRET_LEN]) -> Keys {
        let master = SipKey(*secret);
        let derive = |label: &[u8]| {
            let mut k = [0u8; 16];
            for (half, chunk) in k.chunks_exact_mut(8).enumerate() {
                let mut msg = label.to_vec();
                msg.push(half as u8);
                chunk.copy_from_slice(&crate::tcp::isn::siphash24(&master, &msg).to_le_bytes());
            }
            SipKey(k)
        };
        Keys {
            tcp: derive(b"tapstack tcp key"),
            fast_open: derive(b"tapstack fast open key"),
        }
    }

    /// Gives both keys to a stack.
    pub fn apply(&self, stack: &mut crate::stack::Stack) {
        stack.set_secret_key(self.tcp);
        stack.set_fast_open_key(self.fast_open);
    }
}

/// The keys for a new stack: from this user's shared secret, or, if that cannot be had, from a
/// fresh random secret of this stack's own (the reason logged at debug level).
pub fn keys() -> Keys {
    let shared = match secret_path() {
        Some(path) => load_or_create(&path).map_err(|e| format!("{}: {e}", path.display())),
        None => Err("no per-user directory for it".to_string()),
    };
    let secret = shared.unwrap_or_else(|why| {
        log::debug!("TCP secret not shared with other services of this user ({why}): using a key of this service's own");
        fresh()
    });
    Keys::from_secret(&secret)
}

fn fresh() -> [u8; SECRET_LEN] {
    let mut s = [0u8; SECRET_LEN];
    if sys::getrandom(&mut s).is_err() {
        // No getrandom (very old kernel): two seeds' worth, as the stack's own seed falls back.
        s[..8].copy_from_slice(&sys::random_seed().to_le_bytes());
        s[8..].copy_from_slice(&sys::random_seed().to_le_bytes());
    }
    s
}

/// Where this user's secret lives: `$XDG_RUNTIME_DIR/tapstack-tcp-secret` if that is a directory
/// we own (a tmpfs of ours that logind empties), else `/dev/shm/tapstack-UID-tcp-secret` (a tmpfs
/// emptied at boot, shared by all users: hence the uid in the name and the checks on reading).
pub fn secret_path() -> Option<PathBuf> {
    choose_path(
        std::env::var_os("XDG_RUNTIME_DIR").as_deref(),
        Path::new("/dev/shm"),
    )
}

fn choose_path(xdg: Option<&OsStr>, shm: &Path) -> Option<PathBuf> {
    let uid = euid();
    if let Some(dir) = xdg.filter(|d| !d.is_empty()).map(Path::new) {
        // `stat` follows a link to the directory: what counts is who owns the directory itself.
        if let Ok(st) = stat_path(dir) {
            if st.st_mode & libc::S_IFMT == libc::S_IFDIR && st.st_uid == uid {
                return Some(dir.join("tapstack-tcp-secret"));
            }
        }
    }
    let st = stat_path(shm).ok()?;
    (st.st_mode & libc::S_IFMT == libc::S_IFDIR)
        .then(|| shm.join(format!("tapstack-{uid}-tcp-secret")))
}

/// Reads the secret at `path`, creating it first if there is none.
pub fn load_or_create(path: &Path) -> io::Result<[u8; SECRET_LEN]> {
    match read_secret(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create(path)?;
            // Ours or, if another service linked first, theirs: both services read the same.
            read_secret(path)
        }
        other => other,
    }
}

/// Writes a fresh secret to a private temporary file beside `path` and links it to `path`. The
/// link either makes the complete file appear at once or fails because a file is already there.
fn create(path: &Path) -> io::Result<()> {
    let mut tag = [0u8; 8];
    let _ = sys::getrandom(&mut tag);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(
        ".{}.{:016x}",
        std::process::id(),
        u64::from_le_bytes(tag)
    ));
    let tmp = cstring(Path::new(&tmp))?;
    let fd = sys::open_mode(
        &tmp,
        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        0o600,
    )?;
    let written = (|| {
        // The umask may have taken bits away; it cannot be trusted to leave 0600 either way.
        // SAFETY: plain arguments.
        sys::check(unsafe { libc::syscall(libc::SYS_fchmod, fd, 0o600) })?;
        let secret = fresh();
        let mut done = 0;
        while done < SECRET_LEN {
            match sys::write(fd, &secret[done..]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })();
    let _ = sys::close(fd);
    let linked = written.and_then(|()| {
        let to = cstring(path)?;
        // SAFETY: both paths are NUL-terminated and live across the call.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_linkat,
                libc::AT_FDCWD,
                tmp.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                0,
            )
        };
        match sys::check(ret) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            other => other.map(drop),
        }
    });
    // SAFETY: a NUL-terminated path.
    unsafe { libc::syscall(libc::SYS_unlinkat, libc::AT_FDCWD, tmp.as_ptr(), 0) };
    linked
}

/// Reads the secret at `path` if it is a file fit to hold one: not a symbolic link, a regular
/// file, ours, readable and writable by us alone, exactly [`SECRET_LEN`] bytes.
fn read_secret(path: &Path) -> io::Result<[u8; SECRET_LEN]> {
    let c = cstring(path)?;
    // O_NONBLOCK: a FIFO planted under our name must not hang the open (fstat then refuses it).
    let fd = sys::open(
        &c,
        libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK,
    )
    .map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            invalid("a symbolic link")
        } else {
            e
        }
    })?;
    let result = (|| {
        let st = fstat(fd)?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(invalid("not a regular file"));
        }
        if st.st_uid != euid() {
            return Err(invalid(&format!("owned by uid {}, not us", st.st_uid)));
        }
        if st.st_mode & 0o777 != 0o600 {
            return Err(invalid(&format!("mode {:o}, not 600", st.st_mode & 0o7777)));
        }
        if st.st_size != SECRET_LEN as libc::off_t {
            return Err(invalid(&format!("{} bytes, not {SECRET_LEN}", st.st_size)));
        }
        let mut secret = [0u8; SECRET_LEN];
        let mut done = 0;
        while done < SECRET_LEN {
            match sys::read(fd, &mut secret[done..]) {
                Ok(0) => return Err(invalid("shorter than its size")),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(secret)
    })();
    let _ = sys::close(fd);
    result
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| invalid("a NUL in the path"))
}

fn euid() -> libc::uid_t {
    // SAFETY: no arguments; cannot fail.
    unsafe { libc::syscall(libc::SYS_geteuid) as libc::uid_t }
}

fn fstat(fd: i32) -> io::Result<libc::stat> {
    // SAFETY: an all-zero `stat` is a valid value for the kernel to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: the kernel writes one `struct stat` into `st`.
    sys::check(unsafe { libc::syscall(libc::SYS_fstat, fd, &mut st as *mut libc::stat) })?;
    Ok(st)
}

fn stat_path(path: &Path) -> io::Result<libc::stat> {
    let c = cstring(path)?;
    // SAFETY: as in `fstat`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path; the kernel writes one `struct stat` into `st`.
    sys::check(unsafe {
        libc::syscall(
            libc::SYS_newfstatat,
            libc::AT_FDCWD,
            c.as_ptr(),
            &mut st as *mut libc::stat,
            0,
        )
    })?;
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    /// A fresh empty directory of this test's own, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let mut tag = [0u8; 8];
            sys::getrandom(&mut tag).unwrap();
            let dir = std::env::temp_dir().join(format!(
                "tapstack-secret-{name}-{}-{:x}",
                std::process::id(),
                u64::from_le_bytes(tag)
            ));
            std::fs::create_dir(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn created_once_then_read_back_private_and_alone() {
        let d = TempDir::new("create");
        let p = d.0.join("s");
        let a = load_or_create(&p).unwrap();
        assert_eq!(mode(&p), 0o600);
        assert_eq!(std::fs::read(&p).unwrap(), a);
        assert_eq!(load_or_create(&p).unwrap(), a);
        // No temporary file is left beside it.
        assert_eq!(std::fs::read_dir(&d.0).unwrap().count(), 1);
        assert_ne!(a, [0; SECRET_LEN]);
    }

    #[test]
    fn group_or_other_bits_are_refused() {
        let d = TempDir::new("mode");
        let p = d.0.join("s");
        load_or_create(&p).unwrap();
        for m in [0o640, 0o604, 0o700, 0o400] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).unwrap();
            let e = load_or_create(&p).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "mode {m:o}: {e}");
        }
    }

    #[test]
    fn a_symbolic_link_is_refused_even_to_a_good_file() {
        let d = TempDir::new("link");
        let good = d.0.join("good");
        load_or_create(&good).unwrap();
        let p = d.0.join("s");
        symlink(&good, &p).unwrap();
        let e = load_or_create(&p).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        // A dangling link is not "no file": nothing is created through it.
        let q = d.0.join("t");
        symlink(d.0.join("nowhere"), &q).unwrap();
        assert!(load_or_create(&q).is_err());
        assert!(!d.0.join("nowhere").exists());
    }

    #[test]
    fn a_wrong_size_or_not_a_file_is_refused() {
        let d = TempDir::new("size");
        for len in [0, 15, 17, 32] {
            let p = d.0.join(format!("s{len}"));
            std::fs::write(&p, vec![7u8; len]).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
            let e = load_or_create(&p).unwrap_err();
            assert!(e.to_string().contains("bytes"), "{len}: {e}");
        }
        let dir = d.0.join("dir");
        std::fs::create_dir(&dir).unwrap();
        assert!(load_or_create(&dir).is_err());
        // A FIFO: refused at once, not waited on for a writer.
        let fifo = d.0.join("fifo");
        let c = cstring(&fifo).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = load_or_create(&fifo).unwrap_err();
        assert!(e.to_string().contains("regular"), "{e}");
    }

    #[test]
    fn a_file_of_another_user_is_refused() {
        if euid() != 0 {
            return; // only root can give a file away
        }
        let d = TempDir::new("owner");
        let p = d.0.join("s");
        load_or_create(&p).unwrap();
        std::os::unix::fs::chown(&p, Some(12_345), None).unwrap();
        let e = load_or_create(&p).unwrap_err();
        assert!(e.to_string().contains("owned by uid 12345"), "{e}");
    }

    #[test]
    fn services_starting_at_once_agree() {
        for round in 0..20 {
            let d = TempDir::new("race");
            let p = d.0.join("s");
            let barrier = std::sync::Barrier::new(8);
            let got: Vec<_> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            load_or_create(&p).unwrap()
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert!(got.iter().all(|k| *k == got[0]), "round {round}: {got:?}");
            assert_eq!(std::fs::read_dir(&d.0).unwrap().count(), 1);
        }
    }

    #[test]
    fn the_runtime_dir_only_if_it_is_ours() {
        let d = TempDir::new("xdg");
        let shm = TempDir::new("shm");
        let uid = euid();
        assert_eq!(
            choose_path(Some(d.0.as_os_str()), &shm.0),
            Some(d.0.join("tapstack-tcp-secret"))
        );
        let fallback = Some(shm.0.join(format!("tapstack-{uid}-tcp-secret")));
        assert_eq!(choose_path(None, &shm.0), fallback);
        assert_eq!(choose_path(Some(OsStr::new("")), &shm.0), fallback);
        let missing = d.0.join("missing");
        assert_eq!(choose_path(Some(missing.as_os_str()), &shm.0), fallback);
        let file = d.0.join("file");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(choose_path(Some(file.as_os_str()), &shm.0), fallback);
        if uid == 0 {
            std::os::unix::fs::chown(&d.0, Some(12_345), None).unwrap();
            assert_eq!(choose_path(Some(d.0.as_os_str()), &shm.0), fallback);
        }
        assert_eq!(choose_path(None, &missing), None);
    }

    #[test]
    fn the_two_keys_differ_and_follow_the_secret() {
        let a = Keys::from_secret(&[1; SECRET_LEN]);
        assert_eq!(a, Keys::from_secret(&[1; SECRET_LEN]));
        assert_ne!(a.tcp, a.fast_open);
        assert_ne!(a.tcp, SipKey([1; SECRET_LEN]));
        assert_ne!(a, Keys::from_secret(&[2; SECRET_LEN]));
    }
}
