//! Bringing up the secondary CPUs, one at a time.

use crate::arch::smp::{self, MAX_CPUS};
use crate::plat::Machine;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Stack of the core being woken; `boot` loads it before calling `secondary_main`.
#[no_mangle]
static SECONDARY_STACK_TOP: AtomicU64 = AtomicU64::new(0);
/// Logical id of the core being woken; the core swaps in `CLAIMED` first
/// thing, the boot core swaps in `ABANDONED` when it stops waiting.
static WAKING: AtomicUsize = AtomicUsize::new(ABANDONED);
const CLAIMED: usize = usize::MAX - 1;
const ABANDONED: usize = usize::MAX;
/// CPUs running the kernel.
static ONLINE: AtomicUsize = AtomicUsize::new(1);

/// CPUs running the kernel.
pub fn online() -> usize {
    ONLINE.load(Ordering::Acquire)
}

/// Wake every CPU the machine describes; returns how many are running.
///
/// A core that does not answer within 100 ms is given up on; if it wakes
/// later after all, it finds itself abandoned and parks for good instead of
/// joining a scheduler that does not count it (it would run with a stack
/// and an id the boot core may already have handed on). The benchmark image
/// uses one core only: the benchmark method is single-CPU, and under QEMU's
/// instruction counting a spinning core would bill its spinning to the one
/// being measured.
pub fn bring_up(machine: &Machine) -> usize {
    let cores = if cfg!(feature = "bench") { 1 } else { machine.cpus.min(MAX_CPUS) };
    for (id, &mpidr) in machine.cpu_ids.iter().enumerate().take(cores).skip(1) {
        SECONDARY_STACK_TOP.store(smp::stack_top(id), Ordering::Release);
        WAKING.store(id, Ordering::Release);
        if let Err(why) = crate::plat::start_cpu(id, mpidr, smp::secondary_entry()) {
            log::warn!("CPU {id} (MPIDR {mpidr:#x}) not started: {why}");
            break;
        }
        // Wait up to 100 ms of counter time for it to report.
        let (t0, freq) = crate::arch::timer::counter();
        let mut patient = false;
        while ONLINE.load(Ordering::Acquire) <= id {
            if !patient && crate::arch::timer::counter().0 - t0 > freq / 10 {
                if WAKING.swap(ABANDONED, Ordering::AcqRel) != CLAIMED {
                    log::warn!("CPU {id} (MPIDR {mpidr:#x}) did not come up");
                    return online();
                }
                // It claimed its id just now: it is in its first steps and
                // will report in.
                patient = true;
            }
            core::hint::spin_loop();
        }
    }
    online()
}

/// First Rust code on a secondary core (called by `boot`).
#[no_mangle]
pub extern "C" fn secondary_main(_entry_el: u64) -> ! {
    let id = WAKING.swap(CLAIMED, Ordering::AcqRel);
    if id >= MAX_CPUS {
        // Given up on (see `bring_up`), or woken by mistake: stay out.
        loop {
            aarch64_cpu::asm::wfe();
        }
    }
    smp::set_cpu_id(id, crate::percpu::block_addr(id));
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
