//! The EL1 virtual timer of the Arm generic timer (ARM ARM D11), our tick.
//!
//! We use the virtual timer (CNTV_*) because it is usable from EL1 whether
//! the kernel was entered at EL1, EL2 or EL3; the boot code zeroes CNTVOFF_EL2
//! where EL2 exists, so virtual and physical counts agree.

use aarch64_cpu::registers::{Readable, Writeable, CNTFRQ_EL0, CNTVCT_EL0, CNTV_CTL_EL0, CNTV_TVAL_EL0};
use core::sync::atomic::{AtomicU64, Ordering};

/// Timer interrupts per second.
pub const TICK_HZ: u64 = 100;

static TICKS: AtomicU64 = AtomicU64::new(0);

fn interval() -> u64 {
    (CNTFRQ_EL0.get() / TICK_HZ).max(1)
}

/// Start the periodic tick on the boot CPU.
pub fn init() {
    init_cpu();
    log::info!("timer: {} Hz counter, {} Hz tick", CNTFRQ_EL0.get(), TICK_HZ);
}

/// CNTKCTL_EL1: EL0 may read the counters (EL0PCTEN, EL0VCTEN) and use
/// the physical timer (EL0PTEN), which user-level drivers and tests drive
/// through an IRQ object. The virtual timer, the kernel's tick, stays EL1-only.
const CNTKCTL_EL0_ACCESS: u64 = (1 << 0) | (1 << 1) | (1 << 9);

/// Start this CPU's tick (each core has its own timer).
pub fn init_cpu() {
    // SAFETY: writes a timer access-control register; no memory effects.
    unsafe { core::arch::asm!("msr cntkctl_el1, {}", in(reg) CNTKCTL_EL0_ACCESS, options(nomem, nostack)) };
    CNTV_TVAL_EL0.set(interval());
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}

/// Called from the interrupt handler when the virtual timer fires.
pub fn handle_tick() {
    CNTV_TVAL_EL0.set(interval());
    // The boot CPU keeps time for everyone.
    if super::smp::cpu_id() == 0 {
        TICKS.fetch_add(1, Ordering::Relaxed);
    }
    crate::sched::tick();
}

/// Ticks since boot.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Counter value and frequency, for measuring time without interrupts.
#[allow(dead_code)]
pub fn counter() -> (u64, u64) {
    (CNTVCT_EL0.get(), CNTFRQ_EL0.get())
}
