//! stdio streams over stack sockets: `fdopen`.
//!
//! glibc's stdio reads, writes and closes a stream's descriptor through its own internal entry
//! points, which no preloaded library can interpose. A stream made by the real `fdopen` on a stack
//! socket would therefore talk to the kernel placeholder (an unconnected socket: the first
//! `fflush` dies of SIGPIPE) and its `fclose` would leave the socket in our table. So `fdopen` on a
//! stack socket builds the stream with `fopencookie` instead, whose read, write and close go through
//! the shim's own `read`, `write` and `close`.
//!
//! One difference remains: `fileno` on such a stream fails with EBADF, as on every cookie stream
//! (glibc keeps the descriptor only for streams of its own kind).

#![allow(clippy::missing_safety_doc)]

use std::ffi::c_void;

use libc::{c_char, c_int, size_t, ssize_t, FILE};

use super::exports;
use super::state;
use crate::real;

/// glibc's `cookie_io_functions_t`.
#[repr(C)]
struct CookieIoFunctions {
    read: Option<unsafe extern "C" fn(*mut c_void, *mut c_char, size_t) -> ssize_t>,
    write: Option<unsafe extern "C" fn(*mut c_void, *const c_char, size_t) -> ssize_t>,
    seek: Option<unsafe extern "C" fn(*mut c_void, *mut i64, c_int) -> c_int>,
    close: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
}

extern "C" {
    fn fopencookie(cookie: *mut c_void, mode: *const c_char, funcs: CookieIoFunctions)
        -> *mut FILE;
}

/// The descriptor a stream's cookie stands for.
fn fd_of(cookie: *mut c_void) -> c_int {
    cookie as usize as c_int
}

unsafe extern "C" fn cookie_read(cookie: *mut c_void, buf: *mut c_char, size: size_t) -> ssize_t {
    exports::read(fd_of(cookie), buf.cast(), size)
}

/// Writes everything, or fails: glibc marks a cookie stream in error on any short write.
unsafe extern "C" fn cookie_write(
    cookie: *mut c_void,
    buf: *const c_char,
    size: size_t,
) -> ssize_t {
    let mut done = 0;
    while done < size {
        let n = exports::write(fd_of(cookie), buf.add(done).cast(), size - done);
        if n < 0 {
            return if done > 0 { done as ssize_t } else { -1 };
        }
        done += n as usize;
    }
    done as ssize_t
}

unsafe extern "C" fn cookie_close(cookie: *mut c_void) -> c_int {
    exports::close(fd_of(cookie))
}

#[no_mangle]
pub unsafe extern "C" fn fdopen(fd: c_int, mode: *const c_char) -> *mut FILE {
    let Some(real) = real!(fdopen: fn(c_int, *const c_char) -> *mut FILE) else {
        super::hook::set_errno(crate::error::Errno(libc::ENOSYS));
        return std::ptr::null_mut();
    };
    if fd < 0 || mode.is_null() || state::in_vfork_child() || state::get(fd).is_none() {
        return real(fd, mode);
    }
    // The 'e' flag asks for close-on-exec, which fopencookie does not know of.
    if std::ffi::CStr::from_ptr(mode).to_bytes().contains(&b'e') {
        let _ = crate::sys::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC as libc::c_long);
    }
    let funcs = CookieIoFunctions {
        read: Some(cookie_read),
        write: Some(cookie_write),
        seek: None,
        close: Some(cookie_close),
    };
    fopencookie(fd as usize as *mut c_void, mode, funcs)
}
