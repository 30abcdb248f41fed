//! The EL1 virtual timer of the Arm generic timer (ARM ARM D11), our tick.
//!
//! We use the virtual timer (CNTV_*) because it is usable from EL1 whether
//! the kernel was entered at EL1, EL2 or EL3; the boot code zeroes CNTVOFF_EL2
//! where EL2 exists, so virtual and physical counts agree.

use aarch64_cpu::registers::{Readable, Writeable, CNTFRQ_EL0, CNTVCT_EL0, CNTV_CTL_EL0, CNTV_CVAL_EL0, CNTV_TVAL_EL0};
use core::sync::atomic::{AtomicU64, Ordering};

/// Timer interrupts per second on a CPU that runs a thread (the unit of
/// time in the system call interface).
pub const TICK_HZ: u64 = chcore_abi::TICK_HZ;

/// The counter's value when the boot CPU started its tick: tick 0.
static EPOCH: AtomicU64 = AtomicU64::new(0);
/// Counter increments per tick (CNTFRQ / TICK_HZ), set at `init`.
static INTERVAL: AtomicU64 = AtomicU64::new(1);

fn interval() -> u64 {
    INTERVAL.load(Ordering::Relaxed)
}

/// Start the periodic tick on the boot CPU.
pub fn init() {
    INTERVAL.store((CNTFRQ_EL0.get() / TICK_HZ).max(1), Ordering::Relaxed);
    EPOCH.store(CNTVCT_EL0.get(), Ordering::Relaxed);
    init_cpu();
    log::info!("timer: {} Hz counter, {} Hz tick, none on an idle CPU", CNTFRQ_EL0.get(), TICK_HZ);
}

/// CNTKCTL_EL1: EL0 may read the counters (EL0PCTEN, EL0VCTEN) and use
/// the physical timer (EL0PTEN), which user-level drivers and tests drive
/// through an IRQ object. The virtual timer, the kernel's tick, stays
/// EL1-only. The event stream is on (EVNTEN, with EVNTI = 15: an event each
/// time counter bit 15 rises, every 2^16 counts, about a millisecond), so a
/// CPU waiting in `wfe` for a lock wakes now and then to run its watchdog;
/// `wfi` (idle) ignores it.
const CNTKCTL_EL0_ACCESS: u64 = (1 << 0) | (1 << 1) | (1 << 9);
const CNTKCTL_EVENT_STREAM: u64 = (1 << 2) | (15 << 4);

/// Start this CPU's tick (each core has its own timer).
pub fn init_cpu() {
    // SAFETY: writes a timer access-control register; no memory effects.
    unsafe {
        core::arch::asm!("msr cntkctl_el1, {}", in(reg) CNTKCTL_EL0_ACCESS | CNTKCTL_EVENT_STREAM, options(nomem, nostack))
    };
    periodic();
}

/// When this CPU's timer is to interrupt next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// One tick from now (a thread runs here: its time slice is counted).
    Periodic,
    /// At the start of tick `t` (an idle CPU with a sleeper to wake).
    At(u64),
    /// Never (an idle CPU with nothing timed to do).
    Off,
}

/// Program this CPU's timer.
pub fn set(plan: Plan) {
    match plan {
        Plan::Periodic => periodic(),
        Plan::At(t) => {
            // An absolute compare value: a deadline already past fires at once.
            CNTV_CVAL_EL0.set(EPOCH.load(Ordering::Relaxed) + t.saturating_mul(interval()));
            CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
        }
        Plan::Off => CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::CLEAR + CNTV_CTL_EL0::IMASK::SET),
    }
}

fn periodic() {
    CNTV_TVAL_EL0.set(interval());
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}

/// Called from the interrupt handler when the virtual timer fires: the
/// scheduler says when it wants the next one.
pub fn handle_tick() {
    set(crate::sched::tick());
}

/// Ticks since boot, from the system counter (the same on every CPU, and
/// counting whether or not any CPU takes timer interrupts).
pub fn ticks() -> u64 {
    CNTVCT_EL0.get().wrapping_sub(EPOCH.load(Ordering::Relaxed)) / interval()
}

/// Counter value and frequency, for measuring time without interrupts.
pub fn counter() -> (u64, u64) {
    (CNTVCT_EL0.get(), CNTFRQ_EL0.get())
}

/// Microseconds in `count` counter increments.
pub fn count_to_us(count: u64) -> u64 {
    let freq = CNTFRQ_EL0.get().max(1);
    ((u128::from(count) * 1_000_000) / u128::from(freq)) as u64
}
