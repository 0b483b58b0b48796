//! How calls are taken over: our exported symbol shadows libc's, and the real function is found
//! with `dlsym(RTLD_NEXT, name)`.
//!
//! `redhook` was the first choice and does not fit: its `hook!` falls back to the real libc call when
//! the body panics, which for a stack descriptor would act on the kernel placeholder, a different
//! object; and it has no form for variadic `fcntl`/`ioctl`. So this module has its own small pieces:
//! [`real!`] finds and caches the next definition of a symbol; [`guard`] runs a body with panics
//! caught and turned into EIO and a log line, so no panic ever unwinds into C.
//!
//! Variadic `fcntl(fd, cmd, ...)` and `ioctl(fd, request, ...)` are exported with a fixed third
//! argument: on the x86-64 and AArch64 Linux calling conventions a variadic integer or pointer
//! argument travels in the same register as a fixed one, so reading it as a `c_ulong` is exact.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::Errno;

/// Finds the next definition of `name` (a NUL-terminated symbol name) after this library.
pub fn lookup(name: &'static str) -> *mut c_void {
    debug_assert!(name.ends_with('\0'));
    // SAFETY: `name` is NUL-terminated; dlsym has no other preconditions.
    unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) }
}

/// `real!(name: fn(args) -> ret)`: the real libc function, looked up once; `None` if it has none.
#[macro_export]
#[doc(hidden)]
macro_rules! real {
    ($name:ident : fn($($t:ty),*) -> $r:ty) => {{
        static PTR: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let mut p = PTR.load(std::sync::atomic::Ordering::Relaxed);
        if p == 0 {
            p = $crate::posix::hook::lookup(concat!(stringify!($name), "\0")) as usize;
            PTR.store(p, std::sync::atomic::Ordering::Relaxed);
        }
        if p == 0 {
            None
        } else {
            // SAFETY: the symbol has this C signature (it is the libc function of that name).
            Some(unsafe { std::mem::transmute::<usize, unsafe extern "C" fn($($t),*) -> $r>(p) })
        }
    }};
}

pub use real;

pub fn set_errno(e: Errno) {
    // SAFETY: __errno_location returns this thread's errno.
    unsafe { *libc::__errno_location() = e.0 };
}

pub fn errno() -> i32 {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() }
}

/// Runs `f`, work of the shim's own inside a program's call, and leaves errno as it was: the
/// program's call then sets it, or not, as the kernel's would have.
pub fn errno_kept<T>(f: impl FnOnce() -> T) -> T {
    let saved = errno();
    let r = f();
    set_errno(Errno(saved));
    r
}

/// Converts a result to the C convention: the value, or `fail` with errno set.
pub fn ret<T>(r: Result<T, Errno>, fail: T) -> T {
    match r {
        Ok(v) => v,
        Err(e) => {
            set_errno(e);
            fail
        }
    }
}

/// Runs `body`; a panic inside becomes `fail` with errno EIO and one log line, never an unwind into
/// the program.
pub fn guard<T>(what: &str, fail: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            log::error!("tapstack: internal error in {what}: {msg}; returning EIO");
            set_errno(Errno::EIO);
            fail
        }
    }
}

/// Logs `message` the first time `flag` is seen, for options accepted but without effect.
pub fn log_once(flag: &AtomicBool, message: impl FnOnce() -> String) {
    if !flag.swap(true, Ordering::Relaxed) {
        log::warn!("{}", message());
    }
}

/// Set once the program has put itself under a seccomp filter (`prctl(PR_SET_SECCOMP)`), as
/// OpenSSH's pre-authentication child does: a filter lists the system calls the program itself
/// makes (`read`, `write`, `poll`…) and kills it for any other, so from then on a stack socket's
/// reads and writes make exactly the program's own call on the socketpair and nothing more (no
/// busy-read `poll`, no `sendto` standing for a `write`). A filter inherited across `exec` was
/// written for whatever runs there, and is not seen.
static SANDBOXED: AtomicBool = AtomicBool::new(false);

/// Whether the program has installed a seccomp filter ([`SANDBOXED`]).
pub fn sandboxed() -> bool {
    SANDBOXED.load(Ordering::Relaxed)
}

/// Notes that the program installed a seccomp filter (it holds for every thread: the flag is the
/// process's, the cautious reading of a filter set on one thread).
pub fn note_sandboxed() {
    SANDBOXED.store(true, Ordering::Relaxed);
}
