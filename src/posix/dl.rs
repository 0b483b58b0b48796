//! `dlopen(3)` less RTLD_DEEPBIND, for the preload shim ([`super`]).
//!
//! A library opened with RTLD_DEEPBIND looks its symbols up in its own dependencies before the
//! global scope: libc's `socket`, `connect` and the rest before this preload's, so its sockets (and
//! those of every library it brings in) would be the kernel's, in the stack's namespace, where the
//! kernel's address on the TAP is the peer's. PHP opens every extension so (its DL_LOAD), which took
//! its sockets extension off the stack: `socket_connect` to 10.77.0.1 reached the kernel's own
//! address over loopback, and `socket_getsockname` said 10.77.0.1. Here `dlopen` clears the flag
//! and goes on to libc's by a jump, not a call: glibc finds the caller (its namespace, the
//! RUNPATH a bare name is searched by) from the return address, which stays the program's.
//!
//! x86_64 only; elsewhere `dlopen` is libc's own.

#![cfg(target_arch = "x86_64")]

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};

/// libc's `dlopen`, once found (0: not yet).
static REAL_DLOPEN: AtomicUsize = AtomicUsize::new(0);

/// Finds libc's `dlopen` for the first call (0 if there is none).
extern "C" fn find_real_dlopen() -> usize {
    let p = super::hook::lookup("dlopen\0") as usize;
    REAL_DLOPEN.store(p, Ordering::Relaxed);
    p
}

/// dlopen(file: rdi, mode: esi): clears RTLD_DEEPBIND in the mode and jumps to libc's with the
/// caller's return address in place. The first call looks libc's up, keeping the arguments and
/// the stack's 16-byte alignment around the call.
///
/// # Safety
///
/// As libc's `dlopen`.
#[no_mangle]
#[unsafe(naked)]
pub unsafe extern "C" fn dlopen(file: *const c_char, mode: c_int) -> *mut c_void {
    std::arch::naked_asm!(
        "and esi, {keep}",
        "mov rax, qword ptr [rip + {real}]",
        "test rax, rax",
        "jnz 2f",
        "push rdi",
        "push rsi",
        "sub rsp, 8",
        "call {find}",
        "add rsp, 8",
        "pop rsi",
        "pop rdi",
        "test rax, rax",
        "jz 3f",
        "2:",
        "jmp rax",
        "3:",
        "xor eax, eax",
        "ret",
        keep = const !libc::RTLD_DEEPBIND,
        real = sym REAL_DLOPEN,
        find = sym find_real_dlopen,
    )
}
