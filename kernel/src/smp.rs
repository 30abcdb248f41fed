//! Bringing up the secondary CPUs, one at a time.

use crate::arch::smp::{self, MAX_CPUS};
use crate::plat::Machine;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Stack of the core being woken; `boot` loads it before calling `secondary_main`.
#[no_mangle]
static SECONDARY_STACK_TOP: AtomicU64 = AtomicU64::new(0);
/// Logical id of the core being woken.
static WAKING: AtomicUsize = AtomicUsize::new(0);
/// CPUs running the kernel.
static ONLINE: AtomicUsize = AtomicUsize::new(1);

/// CPUs running the kernel.
pub fn online() -> usize {
    ONLINE.load(Ordering::Acquire)
}

/// Wake every CPU the machine describes; returns how many are running.
pub fn bring_up(machine: &Machine) -> usize {
    for (id, &mpidr) in machine.cpu_ids.iter().enumerate().take(machine.cpus.min(MAX_CPUS)).skip(1) {
        SECONDARY_STACK_TOP.store(smp::stack_top(id), Ordering::Release);
        WAKING.store(id, Ordering::Release);
        if let Err(why) = crate::plat::start_cpu(id, mpidr, smp::secondary_entry()) {
            log::warn!("CPU {id} (MPIDR {mpidr:#x}) not started: {why}");
            break;
        }
        // Wait up to 100 ms of counter time for it to report.
        let (t0, freq) = crate::arch::timer::counter();
        while ONLINE.load(Ordering::Acquire) <= id {
            if crate::arch::timer::counter().0 - t0 > freq / 10 {
                log::warn!("CPU {id} (MPIDR {mpidr:#x}) did not come up");
                return online();
            }
            core::hint::spin_loop();
        }
    }
    online()
}

/// First Rust code on a secondary core (called by `boot`).
#[no_mangle]
pub extern "C" fn secondary_main(_entry_el: u64) -> ! {
    let id = WAKING.load(Ordering::Acquire);
    smp::set_cpu_id(id);
    if cfg!(feature = "bench") {
        crate::arch::enable_user_cycle_counter();
    }
    crate::arch::exception::init();
    crate::arch::mmu::disable_lower_half();
    crate::plat::init_irq_cpu(id);
    crate::arch::timer::init_cpu();
    ONLINE.fetch_add(1, Ordering::AcqRel);
    crate::bkl::acquire();
    crate::sched::start()
}
