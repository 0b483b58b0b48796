//! Memory the program hands the shim (addresses, lengths, message headers), checked the way the
//! kernel checks it: a pointer into memory the program cannot read or write is EFAULT, never a
//! crash inside the program (the kernel's `copy_from_user` fails where a plain load would fault).
//!
//! The check asks the kernel itself: `process_vm_readv`/`process_vm_writev` on our own process
//! fail with EFAULT for an address that is not mapped so. It costs a system call, so it guards the
//! socket calls that parse what the program passed, not the data path.

use crate::error::{Errno, Result};

/// The most a check copies at once; larger spans are checked piece by piece.
const CHUNK: usize = 256;

/// Copies `len` bytes at `remote` (in this process) to `local`, or fails with the kernel's errno.
fn vm(write: bool, local: *mut u8, remote: *mut u8, len: usize) -> Result<()> {
    let l = libc::iovec {
        iov_base: local.cast(),
        iov_len: len,
    };
    let r = libc::iovec {
        iov_base: remote.cast(),
        iov_len: len,
    };
    let call = if write {
        libc::SYS_process_vm_writev
    } else {
        libc::SYS_process_vm_readv
    };
    // SAFETY: both iovecs describe `len` bytes; the kernel checks `remote` and reports EFAULT.
    // Every argument a full register wide: a variadic int would leave the upper half undefined.
    let pid = super::state::pid() as libc::c_long;
    let (one, flags): (libc::c_ulong, libc::c_ulong) = (1, 0);
    let n = unsafe {
        libc::syscall(
            call,
            pid,
            &l as *const libc::iovec,
            one,
            &r as *const libc::iovec,
            one,
            flags,
        )
    };
    match n {
        n if n == len as libc::c_long => Ok(()),
        n if n >= 0 => Err(Errno::EFAULT),
        _ => match super::hook::errno() {
            // Not our memory to judge (a seccomp filter, an old kernel): let the caller go on.
            libc::ENOSYS | libc::EPERM => Ok(()),
            e => Err(Errno(e)),
        },
    }
}

/// `len` bytes at `ptr` may be read: EFAULT for a null or unmapped pointer.
pub fn check_read(ptr: *const u8, len: usize) -> Result<()> {
    check(ptr as *mut u8, len, false)
}

/// `len` bytes at `ptr` may be read, and written if `write` (each piece is read and written back
/// unchanged).
fn check(ptr: *mut u8, len: usize, write: bool) -> Result<()> {
    if len == 0 {
        return Ok(());
    }
    if ptr.is_null() {
        return Err(Errno::EFAULT);
    }
    let mut buf = [0u8; CHUNK];
    let mut off = 0;
    while off < len {
        let n = (len - off).min(CHUNK);
        let at = ptr.wrapping_add(off);
        vm(false, buf.as_mut_ptr(), at, n)?;
        if write {
            vm(true, buf.as_mut_ptr(), at, n)?;
        }
        off += n;
    }
    Ok(())
}

/// The spans a thread last found readable, or writable: a few, so that a loop's `recvfrom` and
/// `sendto` do not push each other's out. Each is one word (the address above, the length in
/// the low 16 bits: only short spans are kept), written in one store, so that a signal handler
/// that makes a socket call between two of the thread's own cannot leave one half-written.
/// A span is remembered only while the program's mappings stay as they were: a change
/// ([`super::maps`]) moves [`MAPS`], and a thread that sees it moved forgets all it had.
struct Seen {
    spans: [std::cell::Cell<u64>; 8],
    next: std::cell::Cell<usize>,
    /// [`MAPS`] when the spans were found.
    maps: std::cell::Cell<u64>,
}

/// Whether spans are remembered at all: only where [`super::maps`] sees the program's mapping
/// changes.
const REMEMBERS: bool = cfg!(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
));

/// How many times the program has unmapped, reprotected or mapped over its memory.
static MAPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The program's memory changes, or has changed: every remembered span is forgotten. Called
/// before the change and after it (none checked before it is remembered). A thread that found a
/// span remembered just before another thread unmaps it still stores into it: a program that
/// unmaps memory it is passing to a socket call at the same time.
pub fn memory_changed() {
    MAPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

impl Seen {
    /// Nothing seen yet (a `const fn`: a thread-local's initial value).
    const fn none() -> Seen {
        Seen {
            spans: [const { std::cell::Cell::new(0) }; 8],
            next: std::cell::Cell::new(0),
            maps: std::cell::Cell::new(0),
        }
    }

    fn word(ptr: *const u8, len: usize) -> Option<u64> {
        let at = ptr as u64;
        (!ptr.is_null() && len < 1 << 16 && at < 1 << 48).then_some(at << 16 | len as u64)
    }

    /// What was remembered before the mappings last changed is forgotten.
    fn current(&self) {
        let now = MAPS.load(std::sync::atomic::Ordering::SeqCst);
        if self.maps.get() != now {
            for s in &self.spans {
                s.set(0);
            }
            self.maps.set(now);
        }
    }

    /// Whether `len` bytes at `ptr` were found usable lately (never where the program's mapping
    /// changes are not seen, `super::maps`).
    fn knows(&self, ptr: *const u8, len: usize) -> bool {
        if !REMEMBERS {
            return false;
        }
        self.current();
        Self::word(ptr, 0).is_some_and(|w| {
            self.spans.iter().any(|s| {
                let s = s.get();
                s & !0xffff == w && len as u64 <= s & 0xffff
            })
        })
    }

    /// Remembers `len` bytes at `ptr`, found usable when the mappings were `maps` ([`MAPS`]
    /// read before the check), unless they have changed since.
    fn remember(&self, maps: u64, ptr: *const u8, len: usize) {
        self.current();
        if self.maps.get() != maps {
            return;
        }
        if let Some(w) = Self::word(ptr, len) {
            let i = self.next.get() % self.spans.len();
            self.spans[i].set(w);
            self.next.set(i + 1);
        }
    }

    /// `len` bytes at `ptr` passed `check` before, or pass it now (and are remembered).
    fn check(
        seen: &'static std::thread::LocalKey<Seen>,
        ptr: *mut u8,
        len: usize,
        check: fn(*mut u8, usize) -> Result<()>,
    ) -> Result<()> {
        if seen.with(|s| s.knows(ptr, len)) {
            return Ok(());
        }
        let maps = MAPS.load(std::sync::atomic::Ordering::SeqCst);
        check(ptr, len)?;
        seen.with(|s| s.remember(maps, ptr, len));
        Ok(())
    }
}

thread_local! {
    static READABLE: Seen = const { Seen::none() };
    static WRITABLE: Seen = const { Seen::none() };
}

/// [`check_read`] for an argument a program passes again and again on a hot path (the
/// destination of each `sendto` on a connected socket, the address length of each `recvfrom`):
/// a span this thread found readable lately is taken as still readable, so the check costs a
/// system call once, not on every call. (Memory unmapped in between would fault where the
/// kernel says EFAULT: a program that passes a pointer it has just unmapped.)
pub fn check_read_again(ptr: *const u8, len: usize) -> Result<()> {
    Seen::check(&READABLE, ptr as *mut u8, len, |p, n| check(p, n, false))
}

/// [`check_read_again`] for a value of type `T` at `ptr`.
pub fn check_read_again_of<T>(ptr: *const T) -> Result<()> {
    check_read_again(ptr.cast(), std::mem::size_of::<T>())
}

/// [`check_write_of`] remembered as [`check_read_again`] is: for the message header of each
/// `recvmsg` in a receive loop.
pub fn check_write_again_of<T>(ptr: *mut T) -> Result<()> {
    Seen::check(&WRITABLE, ptr.cast(), std::mem::size_of::<T>(), |p, n| {
        check(p, n, true)
    })
}

/// `len` bytes at `ptr` may be written: each piece is read and written back unchanged.
pub fn check_write(ptr: *mut u8, len: usize) -> Result<()> {
    check(ptr, len, true)
}

/// Writes `value` (at most 256 bytes) to `val` and then `n` to `len`, as a getsockopt's answer,
/// in one system call that is also the check: EFAULT if either cannot be written (`val` first,
/// as Linux copies the value before it puts the length).
///
/// # Safety
/// `value` and `n` are ours; `val` and `len` are the program's, unchecked (the kernel checks them).
pub unsafe fn write_answer(
    val: *mut u8,
    value: &[u8],
    len: *mut libc::socklen_t,
    n: libc::socklen_t,
) -> Result<()> {
    if value.len() > CHUNK || (!value.is_empty() && val.is_null()) || len.is_null() {
        return Err(Errno::EFAULT);
    }
    let mut buf = [0u8; CHUNK + 4];
    buf[..value.len()].copy_from_slice(value);
    buf[value.len()..value.len() + 4].copy_from_slice(&n.to_ne_bytes());
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: value.len() + 4,
    };
    let remote = [
        libc::iovec {
            iov_base: val.cast(),
            iov_len: value.len(),
        },
        libc::iovec {
            iov_base: len.cast(),
            iov_len: 4,
        },
    ];
    let skip = usize::from(value.is_empty());
    let pid = super::state::pid() as libc::c_long;
    let (one, count, flags): (libc::c_ulong, libc::c_ulong, libc::c_ulong) =
        (1, (2 - skip) as libc::c_ulong, 0);
    // SAFETY: `local` describes our buffer; the kernel checks the remote spans and stops at the
    // first it cannot write. Every argument a full register wide.
    let w = libc::syscall(
        libc::SYS_process_vm_writev,
        pid,
        &local as *const libc::iovec,
        one,
        remote[skip..].as_ptr(),
        count,
        flags,
    );
    match w {
        w if w == local.iov_len as libc::c_long => Ok(()),
        w if w >= 0 => Err(Errno::EFAULT),
        _ => match super::hook::errno() {
            // Not allowed to look (a seccomp filter, an old kernel): check, then write plainly.
            libc::ENOSYS | libc::EPERM => {
                check_write(val, value.len())?;
                check_write_of(len)?;
                std::ptr::copy_nonoverlapping(value.as_ptr(), val, value.len());
                *len = n;
                Ok(())
            }
            e => Err(Errno(e)),
        },
    }
}

/// The iovec array a call gathers from or scatters into: the shim's own (one iovec over the
/// program's buffer, as `send` and `recv` make it), or the program's (`sendmsg`, `readv`), which
/// is checked, as Linux's `import_iovec` reads it, before it is used. Checking the shim's own
/// would cost each datagram a system call for nothing.
#[derive(Clone, Copy)]
pub enum Iovecs<'a> {
    Ours(&'a [libc::iovec]),
    Program(*const libc::iovec, usize),
}

impl<'a> Iovecs<'a> {
    /// The iovecs, or EFAULT if the program's cannot be read.
    ///
    /// # Safety
    /// A program's array that can be read must hold as many iovecs as it says.
    pub unsafe fn checked(self) -> Result<&'a [libc::iovec]> {
        match self {
            Iovecs::Ours(v) => Ok(v),
            Iovecs::Program(_, 0) => Ok(&[]),
            Iovecs::Program(at, n) => {
                check_read(
                    at.cast(),
                    n.saturating_mul(std::mem::size_of::<libc::iovec>()),
                )?;
                Ok(std::slice::from_raw_parts(at, n))
            }
        }
    }
}

/// [`write_answer`] for a destination a program passes again and again (each `recvfrom`'s
/// address and length in a receive loop): when this thread found both writable lately, plain
/// stores, with no system call; else [`write_answer`], which checks, and both are remembered.
///
/// # Safety
/// As [`write_answer`].
pub unsafe fn write_answer_again(
    val: *mut u8,
    value: &[u8],
    len: *mut libc::socklen_t,
    n: libc::socklen_t,
) -> Result<()> {
    let len_size = std::mem::size_of::<libc::socklen_t>();
    let known = WRITABLE
        .with(|s| (value.is_empty() || s.knows(val, value.len())) && s.knows(len.cast(), len_size));
    if known {
        std::ptr::copy_nonoverlapping(value.as_ptr(), val, value.len());
        std::ptr::write_unaligned(len, n);
        return Ok(());
    }
    let maps = MAPS.load(std::sync::atomic::Ordering::SeqCst);
    write_answer(val, value, len, n)?;
    WRITABLE.with(|s| {
        if !value.is_empty() {
            s.remember(maps, val, value.len());
        }
        s.remember(maps, len.cast(), len_size);
    });
    Ok(())
}

/// A value of type `T` at `ptr` may be read.
pub fn check_read_of<T>(ptr: *const T) -> Result<()> {
    check_read(ptr.cast(), std::mem::size_of::<T>())
}

/// A value of type `T` at `ptr` may be written.
pub fn check_write_of<T>(ptr: *mut T) -> Result<()> {
    check_write(ptr.cast(), std::mem::size_of::<T>())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page of this process that can be neither read nor written (munmap it after).
    fn inaccessible_page() -> *mut u8 {
        // SAFETY: a fresh anonymous mapping, of no access.
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        } as *mut u8;
        assert_ne!(page as *mut libc::c_void, libc::MAP_FAILED);
        page
    }

    #[test]
    fn unmapped_memory_is_efault_and_mapped_memory_passes() {
        let page = inaccessible_page();
        assert_eq!(check_read(page, 16), Err(Errno::EFAULT));
        assert_eq!(check_write(page, 16), Err(Errno::EFAULT));
        assert_eq!(check_read(std::ptr::null(), 4), Err(Errno::EFAULT));
        let mut v = [7u8; 600];
        assert_eq!(check_read(v.as_ptr(), v.len()), Ok(()));
        assert_eq!(check_write(v.as_mut_ptr(), v.len()), Ok(()));
        assert_eq!(v, [7u8; 600], "written back unchanged");
        static RO: [u8; 4] = [1, 2, 3, 4];
        assert_eq!(check_read(RO.as_ptr(), 4), Ok(()));
        assert_eq!(check_write(RO.as_ptr() as *mut u8, 4), Err(Errno::EFAULT));
        // SAFETY: the mapping made above.
        unsafe { libc::munmap(page.cast(), 4096) };
    }

    #[test]
    fn a_span_found_usable_is_remembered_and_one_found_not_is_not() {
        let page = inaccessible_page();
        let mut v = [7u8; 16];
        assert_eq!(check_read_again(page, 4), Err(Errno::EFAULT));
        assert_eq!(
            check_read_again(page, 4),
            Err(Errno::EFAULT),
            "a failure is not kept"
        );
        assert_eq!(check_read_again(v.as_ptr(), 8), Ok(()));
        assert_eq!(
            check_read_again(v.as_ptr(), 4),
            Ok(()),
            "a shorter span of it"
        );
        assert_eq!(check_read_again(std::ptr::null(), 4), Err(Errno::EFAULT));
        assert_eq!(check_write_again_of(page as *mut u32), Err(Errno::EFAULT));
        assert_eq!(check_write_again_of(v.as_mut_ptr() as *mut u32), Ok(()));
        static RO: [u8; 4] = [1, 2, 3, 4];
        assert_eq!(check_read_again(RO.as_ptr(), 4), Ok(()));
        assert_eq!(
            check_write_again_of(RO.as_ptr() as *mut u32),
            Err(Errno::EFAULT)
        );
        // SAFETY: the mapping made above.
        unsafe { libc::munmap(page.cast(), 4096) };
    }

    #[test]
    fn an_answer_written_again_is_written_as_the_first_and_a_refused_one_is_not_remembered() {
        let page = inaccessible_page();
        let mut val = [0u8; 8];
        let mut len: libc::socklen_t = 8;
        // SAFETY: our own buffers, or the inaccessible page (the kernel refuses it).
        unsafe {
            for round in 1..=2u8 {
                assert_eq!(
                    write_answer_again(val.as_mut_ptr(), &[round; 4], &mut len, 16),
                    Ok(())
                );
                assert_eq!((val, len), ([round, round, round, round, 0, 0, 0, 0], 16));
            }
            assert_eq!(
                write_answer_again(page, &[9; 4], &mut len, 4),
                Err(Errno::EFAULT)
            );
            assert!(!WRITABLE.with(|s| s.knows(page, 4)));
            assert_eq!(
                write_answer_again(val.as_mut_ptr(), &[3; 4], page.cast(), 4),
                Err(Errno::EFAULT)
            );
            libc::munmap(page.cast(), 4096);
        }
    }

    #[test]
    fn a_change_of_the_mappings_forgets_what_was_remembered() {
        let v = [7u8; 16];
        assert_eq!(check_read_again(v.as_ptr(), 8), Ok(()));
        assert!(READABLE.with(|s| s.knows(v.as_ptr(), 8)));
        memory_changed();
        assert!(!READABLE.with(|s| s.knows(v.as_ptr(), 8)));
        // A span checked before a change is not remembered after it.
        let before = MAPS.load(std::sync::atomic::Ordering::SeqCst);
        memory_changed();
        READABLE.with(|s| s.remember(before, v.as_ptr(), 8));
        assert!(!READABLE.with(|s| s.knows(v.as_ptr(), 8)));
    }

    #[test]
    fn an_answer_is_written_whole_or_efault_with_the_length_untouched() {
        let page = inaccessible_page();
        let mut val = [0u8; 8];
        let mut len: libc::socklen_t = 8;
        // SAFETY: our own buffers, or the inaccessible page (the kernel refuses it).
        unsafe {
            assert_eq!(
                write_answer(val.as_mut_ptr(), &[1, 2, 3, 4], &mut len, 4),
                Ok(())
            );
            assert_eq!((val, len), ([1, 2, 3, 4, 0, 0, 0, 0], 4));
            len = 8;
            assert_eq!(write_answer(page, &[9; 4], &mut len, 4), Err(Errno::EFAULT));
            assert_eq!(len, 8, "the length is not written when the value cannot be");
            assert_eq!(
                write_answer(val.as_mut_ptr(), &[5; 4], page.cast(), 4),
                Err(Errno::EFAULT)
            );
            assert_eq!(
                val[..4],
                [5; 4],
                "the value went first, as Linux's copy does"
            );
            assert_eq!(write_answer(std::ptr::null_mut(), &[], &mut len, 0), Ok(()));
            assert_eq!(len, 0);
            libc::munmap(page.cast(), 4096);
        }
    }
}
