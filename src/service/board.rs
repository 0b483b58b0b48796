//! The error board: one page of memory the service shares with its programs, in which it counts
//! the errors it posts on UDP sockets (ECONNREFUSED from an ICMP port unreachable, held as Linux's
//! `sk_err`).
//!
//! Linux reports such an error to whichever comes first of the socket's next receive, SO_ERROR or
//! send (`sock_alloc_send_skb` takes it, and that datagram does not go). A receive and SO_ERROR
//! reach the service anyway (an error header in the socketpair makes the receive ask), but a send
//! only writes into the socketpair, and asking the service before every send would cost each
//! datagram a round trip. So the program's side reads the board's count before a send (a load
//! from memory) and asks the service for the socket's error only when the count has moved since
//! that socket last looked: a send pays nothing until some UDP socket of the service has had an
//! error, and one request per error after that.
//!
//! The service makes the page (a memfd) when it starts and gives a program a descriptor of it on
//! its first UDP send ([`super::proto::Call::ErrorBoard`]); the program maps it read-only and
//! closes the descriptor. The mapping outlives `fork` (the child uses the same service); a service
//! that ends marks the page closed, and a program that sees that asks for the next service's.
//! Limit: a service killed (SIGKILL) cannot mark it, and a program that outlives it and uses a new
//! service's UDP sockets then sends without seeing their errors, as before the board.
//!
//! The page also counts the path MTUs the stack has learnt (ICMP "fragmentation needed", RFC
//! 1191): a datagram sent with IP_PMTUDISC_DO longer than its path takes fails at once with
//! EMSGSIZE on Linux, so a program's send asks the service for the path's MTU, but only once
//! some path has been learnt, and again only when the count moves.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// The page: the count of errors posted, whether the service has ended, and the count of path
/// MTUs learnt.
type Words = [AtomicU64; 3];
const COUNT: usize = 0;
const CLOSED: usize = 1;
const PATHS: usize = 2;
const SIZE: usize = 4096;

/// The service's side: the page, mapped writable.
pub struct Board {
    fd: OwnedFd,
    words: &'static Words,
}

impl Board {
    pub fn create() -> io::Result<Board> {
        let name = c"tapstack-errors";
        // SAFETY: a valid name; the kernel returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_memfd_create, name.as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: just made, owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        // SAFETY: plain system calls on our own descriptor.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), SIZE as libc::off_t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let words = map(fd.as_raw_fd(), libc::PROT_READ | libc::PROT_WRITE)?;
        Ok(Board { fd, words })
    }

    /// An error was posted on a UDP socket (after it is held, so that a program that sees the
    /// count move finds it).
    pub fn bump(&self) {
        self.words[COUNT].fetch_add(1, Ordering::Release);
    }

    /// The stack has learnt `n` path MTUs in all (a new one, or a lower one for a known path).
    pub fn set_paths(&self, n: u64) {
        self.words[PATHS].store(n, Ordering::Release);
    }

    /// The service ends: programs holding the page ask the next service for its own.
    pub fn close(&self) {
        self.words[CLOSED].store(1, Ordering::Release);
    }

    /// A descriptor of the page, to give a program.
    pub fn share(&self) -> io::Result<OwnedFd> {
        self.fd.try_clone()
    }
}

/// Maps the page of `fd`, for good (the service's lives as long as it does; a program's is
/// replaced only when its service ends, and the old one is left mapped, a page).
fn map(fd: RawFd, prot: i32) -> io::Result<&'static Words> {
    // SAFETY: a shared mapping of a descriptor's first page; the kernel checks both.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), SIZE, prot, libc::MAP_SHARED, fd, 0) };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: page-aligned, SIZE bytes mapped for good, and only ever accessed atomically.
    Ok(unsafe { &*(p as *const Words) })
}

/// The program's side: the page of its service, once asked for (null: not yet, or that service
/// ended).
static MAPPED: AtomicPtr<Words> = AtomicPtr::new(std::ptr::null_mut());

/// The service's count of errors, if this process has its page and the service still runs.
pub fn count() -> Option<u64> {
    word(COUNT)
}

/// The service's count of path MTUs learnt, if this process has its page and the service still
/// runs.
pub fn paths() -> Option<u64> {
    word(PATHS)
}

fn word(i: usize) -> Option<u64> {
    let p = MAPPED.load(Ordering::Acquire);
    if p.is_null() {
        return None;
    }
    // SAFETY: set only from a mapping made for good by `adopt`.
    let words = unsafe { &*p };
    if words[CLOSED].load(Ordering::Acquire) != 0 {
        MAPPED.store(std::ptr::null_mut(), Ordering::Release);
        return None;
    }
    Some(words[i].load(Ordering::Acquire))
}

/// Maps the page the service gave (and closes its descriptor): [`count`] reads it from now on.
pub fn adopt(fd: OwnedFd) -> io::Result<u64> {
    let words = map(fd.as_raw_fd(), libc::PROT_READ)?;
    // The raw call: in a program, `close` is the shim's own.
    let _ = crate::sys::close(fd.into_raw_fd());
    MAPPED.store(words as *const Words as *mut Words, Ordering::Release);
    Ok(words[COUNT].load(Ordering::Acquire))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_sees_the_count_until_the_service_ends() {
        let board = Board::create().unwrap();
        board.bump();
        assert_eq!(adopt(board.share().unwrap()).unwrap(), 1);
        assert_eq!(count(), Some(1));
        board.bump();
        board.bump();
        assert_eq!(count(), Some(3));
        assert_eq!(paths(), Some(0));
        board.set_paths(2);
        assert_eq!(paths(), Some(2));
        board.close();
        assert_eq!(count(), None);
        assert_eq!(paths(), None);
        assert!(MAPPED.load(Ordering::Relaxed).is_null());
    }
}
