//! Errors as the socket layer reports them: Linux errno values.
//!
//! The protocol core speaks errno from the start, so that what a socket operation fails with is
//! exactly what the interposed libc call (and the C API) will hand the program, with no translation
//! table in between that could drift from Linux's behaviour.

use core::fmt;

/// A Linux errno value (`libc::E*`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    pub const EPERM: Errno = Errno(libc::EPERM);
    pub const EINTR: Errno = Errno(libc::EINTR);
    pub const EIO: Errno = Errno(libc::EIO);
    pub const EBADF: Errno = Errno(libc::EBADF);
    pub const EAGAIN: Errno = Errno(libc::EAGAIN);
    pub const ENOMEM: Errno = Errno(libc::ENOMEM);
    pub const EACCES: Errno = Errno(libc::EACCES);
    pub const EFAULT: Errno = Errno(libc::EFAULT);
    pub const EINVAL: Errno = Errno(libc::EINVAL);
    pub const EMFILE: Errno = Errno(libc::EMFILE);
    pub const ENFILE: Errno = Errno(libc::ENFILE);
    pub const ENOBUFS: Errno = Errno(libc::ENOBUFS);
    pub const EPIPE: Errno = Errno(libc::EPIPE);
    pub const EMSGSIZE: Errno = Errno(libc::EMSGSIZE);
    pub const ENOPROTOOPT: Errno = Errno(libc::ENOPROTOOPT);
    pub const EPROTONOSUPPORT: Errno = Errno(libc::EPROTONOSUPPORT);
    pub const EOPNOTSUPP: Errno = Errno(libc::EOPNOTSUPP);
    pub const EAFNOSUPPORT: Errno = Errno(libc::EAFNOSUPPORT);
    pub const EADDRINUSE: Errno = Errno(libc::EADDRINUSE);
    pub const EADDRNOTAVAIL: Errno = Errno(libc::EADDRNOTAVAIL);
    pub const ENETUNREACH: Errno = Errno(libc::ENETUNREACH);
    pub const ENODEV: Errno = Errno(libc::ENODEV);
    pub const EPROTO: Errno = Errno(libc::EPROTO);
    pub const ECONNABORTED: Errno = Errno(libc::ECONNABORTED);
    pub const ECONNRESET: Errno = Errno(libc::ECONNRESET);
    pub const EISCONN: Errno = Errno(libc::EISCONN);
    pub const ENOTCONN: Errno = Errno(libc::ENOTCONN);
    pub const ETIMEDOUT: Errno = Errno(libc::ETIMEDOUT);
    pub const ECONNREFUSED: Errno = Errno(libc::ECONNREFUSED);
    pub const EHOSTUNREACH: Errno = Errno(libc::EHOSTUNREACH);
    pub const EALREADY: Errno = Errno(libc::EALREADY);
    pub const EINPROGRESS: Errno = Errno(libc::EINPROGRESS);
    pub const EDESTADDRREQ: Errno = Errno(libc::EDESTADDRREQ);
    pub const ENOTSOCK: Errno = Errno(libc::ENOTSOCK);

    pub fn code(self) -> i32 {
        self.0
    }

    /// The symbolic name (`"ECONNREFUSED"`), for logs and test messages.
    pub fn name(self) -> &'static str {
        macro_rules! names {
            ($($e:ident),*) => { match self.0 { $(libc::$e => stringify!($e),)* _ => "E?" } };
        }
        names!(
            EPERM,
            EINTR,
            EIO,
            EBADF,
            EAGAIN,
            ENOMEM,
            EACCES,
            EFAULT,
            EINVAL,
            EMFILE,
            ENFILE,
            ENOBUFS,
            EPIPE,
            EMSGSIZE,
            ENOPROTOOPT,
            EPROTONOSUPPORT,
            EOPNOTSUPP,
            EAFNOSUPPORT,
            EADDRINUSE,
            EADDRNOTAVAIL,
            ENETUNREACH,
            ECONNABORTED,
            ECONNRESET,
            EISCONN,
            ENOTCONN,
            ETIMEDOUT,
            ECONNREFUSED,
            EHOSTUNREACH,
            EALREADY,
            EINPROGRESS,
            EDESTADDRREQ,
            ENOTSOCK
        )
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", std::io::Error::from_raw_os_error(self.0))
    }
}

impl std::error::Error for Errno {}

impl From<Errno> for std::io::Error {
    fn from(e: Errno) -> std::io::Error {
        std::io::Error::from_raw_os_error(e.0)
    }
}

pub type Result<T> = core::result::Result<T, Errno>;
