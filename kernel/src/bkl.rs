//! The big kernel lock: one CPU at a time in the kernel proper.
//!
//! Every exception from user space or from the idle loop takes it on entry
//! and gives it back just before `eret`; `kernel_main` and `secondary_main`
//! take it before they enter the scheduler. Code under it still uses the
//! per-object spin locks, which makes replacing the big lock by those finer
//! locks (per-CPU run queues first, then per-object locks on the IPC path) a
//! matter of deleting it once each path is audited, not of adding locks.
//! docs/locking.md has the plan.
//!
//! A ticket lock, so CPUs get in in the order they arrived. It records its
//! holder, and a CPU that waits for it longer than [`WATCHDOG_SECONDS`]
//! reports a deadlock (who holds it, who waits) and stops the machine: a
//! lock bug then shows as a message, not as a silent hang.

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);
static SERVING: AtomicU32 = AtomicU32::new(0);
/// The CPU holding the lock, or `NOBODY`.
static HOLDER: AtomicUsize = AtomicUsize::new(NOBODY);
const NOBODY: usize = usize::MAX;

/// Longer than any legitimate hold, even under a slow emulator.
const WATCHDOG_SECONDS: u64 = 20;

/// Wait for and take the lock. IRQs must be masked. The uncontended case
/// is inlined into every kernel entry; waiting is out of line.
#[inline(always)]
pub fn acquire() {
    let ticket = NEXT.fetch_add(1, Ordering::Relaxed);
    if SERVING.load(Ordering::Acquire) != ticket {
        wait_for(ticket);
    }
    HOLDER.store(crate::arch::smp::cpu_id(), Ordering::Relaxed);
}

/// Spin until `ticket` is served, with the watchdog.
#[cold]
#[inline(never)]
fn wait_for(ticket: u32) {
    let me = crate::arch::smp::cpu_id();
    let mut spins = 0u32;
    let mut since = None;
    while SERVING.load(Ordering::Acquire) != ticket {
        core::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(1 << 16) {
            let (now, freq) = crate::arch::timer::counter();
            let start = *since.get_or_insert(now);
            if now.wrapping_sub(start) > WATCHDOG_SECONDS * freq {
                deadlock(me, ticket);
            }
        }
    }
}

/// Give the lock to the next CPU in line.
pub fn release() {
    HOLDER.store(NOBODY, Ordering::Relaxed);
    // Only the holder writes SERVING: a plain release store will do.
    SERVING.store(SERVING.load(Ordering::Relaxed).wrapping_add(1), Ordering::Release);
}

#[cold]
fn deadlock(me: usize, ticket: u32) -> ! {
    let holder = HOLDER.load(Ordering::Relaxed);
    let serving = SERVING.load(Ordering::Relaxed);
    let next = NEXT.load(Ordering::Relaxed);
    let say = |a: core::fmt::Arguments| crate::console::emergency_println(a);
    if holder == NOBODY {
        say(format_args!("[FATAL] deadlock: CPU {me} waited {WATCHDOG_SECONDS} s for the big kernel lock, which nobody holds (ticket {ticket}, serving {serving}, next {next}): a ticket was lost"));
    } else if holder == me {
        say(format_args!("[FATAL] deadlock: CPU {me} waits for the big kernel lock it already holds (ticket {ticket}, serving {serving})"));
    } else {
        say(format_args!("[FATAL] deadlock: CPU {me} waited {WATCHDOG_SECONDS} s for the big kernel lock held by CPU {holder} (ticket {ticket}, serving {serving}, next {next})"));
    }
    crate::arch::stop(crate::arch::ExitStatus::Failure)
}
