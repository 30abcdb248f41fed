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
//! A test-and-set lock on one word that names its holder. Not a ticket
//! lock: under a hypervisor or an emulator whose virtual CPUs outnumber the
//! host's cores, a ticket lock hands the lock to the next waiter in line
//! even while that waiter is not running, and every CPU behind it waits
//! for the host to schedule it (measured: 4 virtual CPUs on 2 busy host
//! cores did 85 IPC round trips a second through a ticket lock). Here any
//! waiter that runs takes it. Waiters look at the word a while, then sleep
//! in `wfe` until the holder's release sends an event. A CPU that waits
//! longer than [`WATCHDOG_SECONDS`] reports a deadlock (who holds it, who
//! waits) and stops the machine: a lock bug then shows as a message, not as
//! a silent hang.

use core::sync::atomic::{AtomicUsize, Ordering};

/// The CPU holding the lock, or `NOBODY`.
static HOLDER: AtomicUsize = AtomicUsize::new(NOBODY);
const NOBODY: usize = usize::MAX;

/// Looks at the lock before a waiter starts to sleep in `wfe`: holds are
/// short (a system call's work), and an emulator may take longer to end a
/// `wfe` than the holder takes to finish.
const SPIN_FIRST: u32 = 4096;

/// Longer than any legitimate hold, even under a slow emulator.
const WATCHDOG_SECONDS: u64 = 20;

/// Take the lock for this CPU if it is free.
#[inline(always)]
fn try_take(me: usize) -> bool {
    HOLDER.compare_exchange(NOBODY, me, Ordering::Acquire, Ordering::Relaxed).is_ok()
}

/// This CPU holds the big lock: it is released when the guard is dropped,
/// unless the guard is handed to the thread-switch path with
/// [`Guard::keep`]. Paths that return a guard show in their type that they
/// took the lock and who lets it go.
#[must_use = "dropping the guard releases the big lock"]
pub struct Guard(());

impl Guard {
    /// Take the lock (see [`acquire`]).
    #[inline(always)]
    pub fn take() -> Guard {
        acquire();
        Guard(())
    }

    /// Keep holding the lock past this guard: the exception path switches
    /// threads under it and releases it after the switch
    /// (`exception::switch_and_leave`).
    #[inline(always)]
    pub fn keep(self) {
        core::mem::forget(self);
    }
}

impl Drop for Guard {
    #[inline(always)]
    fn drop(&mut self) {
        release();
    }
}

/// Wait for and take the lock. IRQs must be masked. The uncontended case
/// is inlined into every kernel entry; waiting is out of line.
#[inline(always)]
pub fn acquire() {
    let me = crate::arch::smp::cpu_id();
    if !try_take(me) {
        wait_for(me);
    }
}

/// Wait until the lock is free and take it, with the watchdog. Between
/// looks the CPU spins a while, then sleeps in `wfe`: each look is an
/// exclusive load, so the holder's write of the word clears this CPU's
/// exclusive monitor, which is an event that ends the `wfe` (ARM ARM
/// D1.6.1; Linux's arm64 locks wait the same way), and `release` also
/// sends one with `sev`, for implementations that do not deliver the
/// first. The timer's event stream (`timer::init_cpu`) wakes it now and
/// then for the watchdog.
#[cold]
#[inline(never)]
fn wait_for(me: usize) {
    let mut spins = 0u32;
    let mut since = None;
    loop {
        while crate::arch::load_and_watch(&HOLDER) != NOBODY {
            spins = spins.wrapping_add(1);
            if spins < SPIN_FIRST {
                core::hint::spin_loop();
                continue;
            }
            // A write that came between the load and here has already
            // cleared the monitor and set the event register: this returns
            // at once.
            crate::arch::wait_for_event();
            if spins.is_multiple_of(64) {
                let (now, freq) = crate::arch::timer::counter();
                let start = *since.get_or_insert(now);
                if now.wrapping_sub(start) > WATCHDOG_SECONDS * freq {
                    deadlock(me);
                }
            }
        }
        if try_take(me) {
            return;
        }
    }
}

/// Give the lock up.
#[inline(always)]
pub fn release() {
    HOLDER.store(NOBODY, Ordering::Release);
    crate::arch::wake_waiters();
}

#[cold]
fn deadlock(me: usize) -> ! {
    let holder = HOLDER.load(Ordering::Relaxed);
    let say = |a: core::fmt::Arguments| crate::console::emergency_println(a);
    if holder == me {
        say(format_args!("[FATAL] deadlock: CPU {me} waits for the big kernel lock it already holds"));
    } else if holder == NOBODY {
        say(format_args!(
            "[FATAL] CPU {me} lost every race for the big kernel lock for {WATCHDOG_SECONDS} s (free just now)"
        ));
    } else {
        say(format_args!(
            "[FATAL] deadlock: CPU {me} waited {WATCHDOG_SECONDS} s for the big kernel lock held by CPU {holder}"
        ));
    }
    crate::arch::stop(crate::arch::ExitStatus::Failure)
}
