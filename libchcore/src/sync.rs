//! Locks for user programs.
//!
//! A spin lock whose holder is preempted makes every waiter spin out its
//! whole time slice: on four CPUs, procmgr's handler threads did little else
//! under load. These locks try a few times, then give the CPU away
//! (`yield`), so the holder gets to run and finish.

use core::sync::atomic::{AtomicU32, Ordering};

/// Relax by spinning a little, then yielding the CPU.
pub struct SpinThenYield;

/// Failed attempts, counted across all of the program's waiting threads:
/// one shared counter is enough, it only paces how often a waiter yields.
static SPINS: AtomicU32 = AtomicU32::new(0);

impl spin::RelaxStrategy for SpinThenYield {
    fn relax() {
        if SPINS.fetch_add(1, Ordering::Relaxed) % 64 == 63 {
            crate::sys::yield_now();
        } else {
            core::hint::spin_loop();
        }
    }
}

/// A mutex for user programs (see the module documentation).
pub type Mutex<T> = spin::mutex::Mutex<T, SpinThenYield>;
/// Its guard.
pub type MutexGuard<'a, T> = spin::mutex::MutexGuard<'a, T>;
