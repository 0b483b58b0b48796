//! The stack's memory: a reserve so that running out never aborts the host program, and the
//! pressure signal the stack sheds load on.
//!
//! Rust aborts the process when an allocation fails, and the preload shim's allocations are made
//! inside the program: a program near its `RLIMIT_AS` (or a service under a memory limit) would be
//! killed by the stack where the kernel's sockets would have gone on. So the process's allocator is
//! [`Allocator`]: the system's allocator first; when it fails, a small reserve set aside in the
//! library's image (present from load, whatever the limits say later) serves the allocation
//! instead, and the failure is remembered. While the system cannot give [`HEADROOM`] bytes, the
//! stack is *under pressure* ([`under_pressure`]) and acts as Linux does above `tcp_mem`: no new
//! socket (ENOMEM), no growth of a socket buffer (data that would need it is dropped and sent
//! again by the peer; a writer waits), frames it cannot allocate are dropped like a full NIC's. The
//! reserve only has to carry the small allocations that a socket call or a frame makes in passing,
//! until memory comes back.
//!
//! The reserve is carved into power-of-two size classes (16 B to 16 KiB), each with a free list,
//! so the passing allocations of a busy loop reuse the same few blocks. It is used rarely and
//! briefly: a spin lock guards it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The bytes set aside.
pub const RESERVE: usize = 1 << 20;
/// The memory the system must be able to give for the pressure to end (and for a new socket).
pub const HEADROOM: usize = 64 << 10;
/// Size classes: 16 << k bytes for k < CLASSES (up to 16 KiB). Larger needs are a table's or a
/// buffer's growth, which the stack makes fallible where it admits a socket, or a super-frame,
/// which it drops.
const CLASSES: usize = 11;
const SMALLEST: usize = 16;

#[repr(C, align(4096))]
struct Arena(UnsafeCell<[u8; RESERVE]>);

// SAFETY: every access to the arena's bytes goes through blocks handed out under `LOCK`, and a
// block belongs to one owner until freed.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena(UnsafeCell::new([0; RESERVE]));
static LOCK: AtomicBool = AtomicBool::new(false);
/// Bytes of the arena carved so far (blocks are never returned to it, only to their free list).
static CARVED: AtomicUsize = AtomicUsize::new(0);
/// The head of each size class's free list (an address in the arena, 0 for none); a free block's
/// first word holds the next.
static FREE: [AtomicUsize; CLASSES] = [const { AtomicUsize::new(0) }; CLASSES];
/// Bytes of the reserve handed out and not yet freed.
static IN_USE: AtomicUsize = AtomicUsize::new(0);
/// The system allocator has failed since the pressure last ended.
static FAILED: AtomicBool = AtomicBool::new(false);
/// The pressure was logged (once a spell).
static REPORTED: AtomicBool = AtomicBool::new(false);
/// Allocations the reserve served, and those it could not: for the log and the tests.
static SERVED: AtomicUsize = AtomicUsize::new(0);
static REFUSED: AtomicUsize = AtomicUsize::new(0);

/// The process's allocator: the system's, then the reserve.
pub struct Allocator;

fn arena_start() -> usize {
    ARENA.0.get() as usize
}

/// Whether `p` was handed out by the reserve.
pub fn in_reserve(p: *const u8) -> bool {
    let a = p as usize;
    a >= arena_start() && a < arena_start() + RESERVE
}

/// The size class that holds `layout`, if the reserve serves it.
fn class_of(layout: Layout) -> Option<usize> {
    if layout.align() > 4096 {
        return None;
    }
    let size = layout.size().max(layout.align()).max(SMALLEST);
    let k = (size.next_power_of_two() / SMALLEST).trailing_zeros() as usize;
    (k < CLASSES).then_some(k)
}

struct Locked;

impl Locked {
    fn take() -> Locked {
        let mut spins = 0u32;
        while LOCK
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        Locked
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        LOCK.store(false, Ordering::Release);
    }
}

/// The reserve's lock, held by the forking thread from the preload shim's fork handler until the
/// parent's or the child's handler: a child never starts with the reserve locked by a thread it
/// does not have (fork copies one thread). Taken last and let go first by the handler, as
/// anything it allocates or frees in between may need the reserve.
pub struct ForkGuard(#[allow(dead_code)] Locked);

pub fn hold_for_fork() -> ForkGuard {
    ForkGuard(Locked::take())
}

/// A block of the reserve for `layout`, or null when it has none.
fn reserve_alloc(layout: Layout) -> *mut u8 {
    let Some(k) = class_of(layout) else {
        REFUSED.fetch_add(1, Ordering::Relaxed);
        return std::ptr::null_mut();
    };
    let size = SMALLEST << k;
    let _guard = Locked::take();
    let head = FREE[k].load(Ordering::Relaxed);
    let block = if head != 0 {
        // SAFETY: `head` is a free block of this class; its first word is the next free one.
        let next = unsafe { *(head as *const usize) };
        FREE[k].store(next, Ordering::Relaxed);
        head
    } else {
        // Carve a new block, aligned to its size (up to a page), from the untouched end.
        let carved = CARVED.load(Ordering::Relaxed);
        let align = size.min(4096);
        let offset = (arena_start() + carved).next_multiple_of(align) - arena_start();
        if offset + size > RESERVE {
            REFUSED.fetch_add(1, Ordering::Relaxed);
            return std::ptr::null_mut();
        }
        CARVED.store(offset + size, Ordering::Relaxed);
        arena_start() + offset
    };
    IN_USE.fetch_add(size, Ordering::Relaxed);
    SERVED.fetch_add(1, Ordering::Relaxed);
    block as *mut u8
}

/// Returns a block of the reserve to its size class's free list.
///
/// # Safety
/// `p` was returned by [`reserve_alloc`] for `layout` and is not used again.
unsafe fn reserve_free(p: *mut u8, layout: Layout) {
    let k = class_of(layout).expect("the reserve served it");
    let _guard = Locked::take();
    // SAFETY: the block is ours again and at least a word long and word-aligned.
    unsafe { *(p as *mut usize) = FREE[k].load(Ordering::Relaxed) };
    FREE[k].store(p as usize, Ordering::Relaxed);
    IN_USE.fetch_sub(SMALLEST << k, Ordering::Relaxed);
}

/// Remembers the failure. Nothing is logged here: the allocator must not call back into code that
/// may allocate or lock; [`under_pressure`] reports it.
fn system_failed() {
    FAILED.store(true, Ordering::Relaxed);
}

// SAFETY: blocks come from the system allocator or from the reserve, each returned to where it
// came from (`in_reserve` tells them apart); the reserve's blocks are aligned to their size (up to
// a page), which covers every alignment it accepts.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller promised for `layout`.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            return p;
        }
        system_failed();
        reserve_alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller promised for `layout`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            return p;
        }
        system_failed();
        let p = reserve_alloc(layout);
        if !p.is_null() {
            // SAFETY: the block holds at least `layout.size()` bytes.
            unsafe { std::ptr::write_bytes(p, 0, layout.size()) };
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if in_reserve(p) {
            // SAFETY: handed out by the reserve for `layout`.
            unsafe { reserve_free(p, layout) }
        } else {
            // SAFETY: handed out by the system for `layout`.
            unsafe { System.dealloc(p, layout) }
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY (all below): `p` holds `layout.size()` bytes from where `in_reserve` says;
        // `new_size` is valid for `layout.align()` as the caller promised.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !in_reserve(p) {
            let q = unsafe { System.realloc(p, layout, new_size) };
            if !q.is_null() {
                return q;
            }
            system_failed();
        }
        let q = unsafe { self.alloc(new_layout) };
        if !q.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                self.dealloc(p, layout);
            }
        }
        q
    }
}

#[cfg(test)]
thread_local! {
    static FORCED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Makes [`under_pressure`] say yes on this thread (tests of what the stack sheds).
#[cfg(test)]
pub fn force_pressure(on: bool) {
    FORCED.with(|f| f.set(on));
}

/// Whether the system can give `bytes` now (a probe, for work that may need more than the
/// reserve serves); when it cannot, the pressure starts.
pub fn has_headroom(bytes: usize) -> bool {
    if !probe(bytes) {
        system_failed();
        return false;
    }
    true
}

/// Whether `bytes` can be allocated now: allocated and freed at once.
fn probe(bytes: usize) -> bool {
    // SAFETY: plain malloc and free of a block nobody else sees.
    let p = unsafe { libc::malloc(bytes) };
    if p.is_null() {
        return false;
    }
    // A volatile write: without it the compiler may drop an allocation that is only freed, and
    // take it to have succeeded.
    unsafe {
        std::ptr::write_volatile(p as *mut u8, 0);
        libc::free(p);
    }
    true
}

/// Whether the process is short of memory: the system's allocator failed, and cannot give
/// [`HEADROOM`] bytes now. Costs one atomic load while memory is plentiful.
pub fn under_pressure() -> bool {
    #[cfg(test)]
    if FORCED.with(|f| f.get()) {
        return true;
    }
    if !FAILED.load(Ordering::Relaxed) {
        return false;
    }
    if !probe(HEADROOM) {
        if !REPORTED.swap(true, Ordering::Relaxed) {
            log::warn!(
                "out of memory: the stack sheds load (new sockets get ENOMEM) until it is back"
            );
        }
        return true;
    }
    FAILED.store(false, Ordering::Relaxed);
    if REPORTED.swap(false, Ordering::Relaxed) {
        log::warn!("memory is back: the stack takes new sockets again");
    }
    false
}

/// The reserve's use so far: bytes handed out now, allocations served, allocations refused.
pub fn reserve_stats() -> (usize, usize, usize) {
    (
        IN_USE.load(Ordering::Relaxed),
        SERVED.load(Ordering::Relaxed),
        REFUSED.load(Ordering::Relaxed),
    )
}

/// The largest passing allocation the reserve serves: a frame of the MTU's size (an ACK, a
/// segment), so the stack can still answer and make progress while short; a super-frame is not
/// worth the reserve.
pub const PASSING_MAX: usize = 2048;

/// A zero-filled block of `len` bytes from the system allocator, or None (the failure noted).
fn system_zeroed(len: usize) -> Option<Vec<u8>> {
    if len == 0 {
        return Some(Vec::new());
    }
    let layout = Layout::array::<u8>(len).ok()?;
    // SAFETY: `layout` is not zero-sized.
    let p = unsafe { System.alloc_zeroed(layout) };
    if p.is_null() {
        system_failed();
        return None;
    }
    // SAFETY: `p` holds `len` zeroed bytes from the system allocator with the layout a Vec<u8> of
    // capacity `len` frees with; the global allocator ([`Allocator`]) frees a block that is not in
    // the reserve with the system allocator.
    Some(unsafe { Vec::from_raw_parts(p, len, len) })
}

/// Storage a socket buffer keeps, or None when the system has none to give: never from the
/// reserve, which is for passing needs.
pub fn try_buffer(len: usize) -> Option<Vec<u8>> {
    system_zeroed(len)
}

/// A frame of `len` bytes, zero-filled, or None when it cannot be had (the stack drops the
/// frame rather than abort). From the reserve when the system fails, up to [`PASSING_MAX`].
pub fn try_frame(len: usize) -> Option<Vec<u8>> {
    if let Some(v) = system_zeroed(len) {
        return Some(v);
    }
    if len > PASSING_MAX {
        return None;
    }
    let mut v = Vec::new();
    v.try_reserve_exact(len).ok()?;
    v.resize(len, 0);
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_reuses_freed_blocks_of_a_class() {
        let l = Layout::from_size_align(1000, 8).unwrap();
        let a = reserve_alloc(l);
        assert!(in_reserve(a));
        assert_eq!(a as usize % 1024, 0, "aligned to its class");
        // SAFETY: just handed out for `l`.
        unsafe { reserve_free(a, l) };
        let b = reserve_alloc(l);
        assert!(in_reserve(b));
        // Another test may have taken `a` meanwhile; then `b` is a block of the same class.
        assert_eq!(b as usize % 1024, 0);
        unsafe { reserve_free(b, l) };
    }

    #[test]
    fn a_child_forked_while_another_thread_holds_the_reserve_can_use_it() {
        // The fork handler (posix::state) waits for the reserve's lock, so the child never
        // inherits it held by the thread that fork leaves behind.
        let (held, release) = (
            std::sync::Arc::new(std::sync::Barrier::new(2)),
            std::time::Duration::from_millis(200),
        );
        let h = held.clone();
        let holder = std::thread::spawn(move || {
            let guard = Locked::take();
            h.wait();
            std::thread::sleep(release);
            drop(guard);
        });
        held.wait();
        // SAFETY: the child only uses the reserve and leaves with _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let l = Layout::from_size_align(64, 8).unwrap();
            let ok = !reserve_alloc(l).is_null();
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        assert!(pid > 0, "fork failed");
        holder.join().unwrap();
        let mut status = 0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            // SAFETY: plain arguments.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                break;
            }
            if std::time::Instant::now() > deadline {
                unsafe { libc::kill(pid, libc::SIGKILL) };
                unsafe { libc::waitpid(pid, &mut status, 0) };
                panic!("the child hung on the reserve's lock");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    }

    #[test]
    fn the_reserve_refuses_what_it_cannot_hold() {
        assert!(reserve_alloc(Layout::from_size_align(32 << 10, 8).unwrap()).is_null());
        assert!(reserve_alloc(Layout::from_size_align(64, 8192).unwrap()).is_null());
        assert_eq!(class_of(Layout::from_size_align(1, 1).unwrap()), Some(0));
        assert_eq!(class_of(Layout::from_size_align(17, 1).unwrap()), Some(1));
        assert_eq!(
            class_of(Layout::from_size_align(16 << 10, 8).unwrap()),
            Some(10)
        );
        assert_eq!(
            class_of(Layout::from_size_align((16 << 10) + 1, 8).unwrap()),
            None
        );
    }

    #[test]
    fn a_block_moves_out_of_the_reserve_when_it_grows() {
        let l = Layout::from_size_align(100, 8).unwrap();
        let a = reserve_alloc(l);
        // SAFETY: `a` holds 100 bytes from the reserve; the system can give the larger block.
        unsafe {
            std::ptr::write_bytes(a, 7, 100);
            let b = Allocator.realloc(a, l, 5000);
            assert!(!in_reserve(b));
            assert_eq!(*b.add(99), 7);
            Allocator.dealloc(b, Layout::from_size_align(5000, 8).unwrap());
        }
    }

    #[test]
    fn pressure_is_off_while_the_system_gives_memory() {
        force_pressure(true);
        assert!(under_pressure());
        force_pressure(false);
    }
}
