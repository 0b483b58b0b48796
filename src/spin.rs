//! Bounded spinning that gives way: the service's busy polling and a program's busy read (see
//! the README's latency paragraphs) look again instead of sleeping, yielding the CPU between
//! looks, so that the answer to what was just sent finds the process awake.
//!
//! That pays only while a CPU is free for it. When the CPUs are contended (a paced client that
//! spins itself, more runnable work than CPUs), a spinner keeps a CPU from the very task it waits
//! for, and each answer waits for a time slice: a steady load of 20 000 requests a second through
//! a server on the stack took 1.1 ms a request where sleeping took 40 µs. A yield shows it: one
//! that hands the CPU to another task for long ([`CONTENDED`]) after which nothing has come means
//! someone else needed it (a long yield that brought the answer is the spin working). Then the
//! spin stops at once and spinning stays off for a while, longer each time in a row (up to
//! [`MOST_OFF`]), until a spin ends without meeting anyone. The state is the process's: every
//! thread of it sees the same CPUs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A yield that returns this much later gave the CPU to another task that wanted it.
pub const CONTENDED: Duration = Duration::from_micros(30);
/// The first pause after contention; each one in a row doubles it, up to [`MOST_OFF`].
const FIRST_OFF: Duration = Duration::from_millis(20);
const MOST_OFF: Duration = Duration::from_secs(1);

/// Until when spinning is off (the monotonic clock, µs), and the pause the next contention brings.
static OFF_UNTIL_US: AtomicU64 = AtomicU64::new(0);
static NEXT_OFF_US: AtomicU64 = AtomicU64::new(FIRST_OFF.as_micros() as u64);

fn now_us() -> u64 {
    crate::sys::monotonic_now().as_micros()
}

/// Whether a spin may start now (not paused after contention).
pub fn allowed() -> bool {
    now_us() >= OFF_UNTIL_US.load(Ordering::Relaxed)
}

/// Gives the CPU away for one look of a spin. True: the yield handed the CPU to another task for
/// long ([`CONTENDED`]). That is the spin doing its job when the task was the one it waits for
/// (it ran, answered and slept), and contention when, back on the CPU, the spinner finds nothing
/// come: then the caller calls [`pause`] and sleeps.
pub fn give_way() -> bool {
    let before = now_us();
    // SAFETY: no arguments.
    unsafe { libc::syscall(libc::SYS_sched_yield) };
    now_us().saturating_sub(before) >= CONTENDED.as_micros() as u64
}

/// Contention met: spinning is off for a while, longer each time in a row.
pub fn pause() {
    let off = NEXT_OFF_US.load(Ordering::Relaxed);
    OFF_UNTIL_US.store(now_us() + off, Ordering::Relaxed);
    NEXT_OFF_US.store(
        (off * 2).min(MOST_OFF.as_micros() as u64),
        Ordering::Relaxed,
    );
}

/// A spin ended (it found what it waited for, or its time ran out) without meeting contention:
/// the next contention pauses spinning for the shortest time again.
pub fn ended_in_peace() {
    NEXT_OFF_US.store(FIRST_OFF.as_micros() as u64, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    fn pin_to_cpu0() {
        // SAFETY: a zeroed cpu_set_t with one CPU set, for this thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(0, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }

    #[test]
    fn a_yield_to_a_busy_task_pauses_spinning_and_a_peaceful_spin_resets_the_pause() {
        ended_in_peace();
        OFF_UNTIL_US.store(0, Ordering::Relaxed);
        assert!(allowed());
        // A task that wants the CPU this thread spins on: a yield hands it the CPU for a while.
        pin_to_cpu0();
        let stop = Arc::new(AtomicBool::new(false));
        let hog = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                pin_to_cpu0();
                let t0 = std::time::Instant::now();
                while !stop.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(5) {
                    std::hint::spin_loop();
                }
            })
        };
        let t0 = std::time::Instant::now();
        let mut met = false;
        while t0.elapsed() < Duration::from_secs(3) {
            if give_way() {
                met = true;
                pause();
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        hog.join().unwrap();
        assert!(met, "no yield met the busy task in 3 s");
        assert!(!allowed(), "spinning paused after contention");
        assert_eq!(
            NEXT_OFF_US.load(Ordering::Relaxed),
            2 * FIRST_OFF.as_micros() as u64,
            "the next pause is longer"
        );
        ended_in_peace();
        assert_eq!(
            NEXT_OFF_US.load(Ordering::Relaxed),
            FIRST_OFF.as_micros() as u64
        );
        OFF_UNTIL_US.store(0, Ordering::Relaxed);
    }
}
