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
//! A ticket lock, so CPUs get in in the order they arrived.

use core::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);
static SERVING: AtomicU32 = AtomicU32::new(0);

/// Wait for and take the lock. IRQs must be masked.
pub fn acquire() {
    let ticket = NEXT.fetch_add(1, Ordering::Relaxed);
    while SERVING.load(Ordering::Acquire) != ticket {
        core::hint::spin_loop();
    }
}

/// Give the lock to the next CPU in line.
pub fn release() {
    // Only the holder writes SERVING: a plain release store will do.
    SERVING.store(SERVING.load(Ordering::Relaxed).wrapping_add(1), Ordering::Release);
}
