//! Locks for user programs.
//!
//! A spin lock whose holder is preempted makes every waiter spin out its
//! whole time slice: on four CPUs, procmgr's handler threads did little else
//! under load. These locks try a few times, then give the CPU away
//! (`yield`), so the holder gets to run and finish.

use core::sync::atomic::{AtomicU32, Ordering};

/// Relax by spinning a little, then yielding the CPU.
pub struct SpinThenYield;

/// Spins between yields, counted per CPU-less thread of control: a plain
/// shared counter is good enough (it only paces how often we yield).
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
