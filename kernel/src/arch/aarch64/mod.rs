//! AArch64: exception vectors, the generic timer, interrupt masking, stopping.

pub mod context;
pub mod exception;
pub mod memory;
pub mod mmu;
pub mod semihosting;
pub mod smp;
pub mod timer;

pub use context::{fp_access, restore_fp, save_fp, FpState, UserContext};
pub use exception::{return_to, TrapFrame};

use aarch64_cpu::asm;
use aarch64_cpu::registers::{Readable, DAIF};

/// How a stop ends a run (visible as QEMU's exit status in the test image).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything checked out.
    #[cfg_attr(not(any(feature = "selftest", feature = "bench")), allow(dead_code))]
    Success,
    /// A test failed or the kernel faulted.
    Failure,
}

/// Load `word` (acquire), arming this CPU's exclusive monitor on it: the
/// next write to it by another CPU is an event that ends a following
/// [`wait_for_event`].
#[inline(always)]
pub fn load_and_watch(word: &core::sync::atomic::AtomicUsize) -> usize {
    let v: usize;
    // SAFETY: an exclusive load-acquire of the atomic's own aligned storage;
    // it reads memory and sets this CPU's exclusive monitor, nothing else.
    unsafe {
        core::arch::asm!("ldaxr {v}, [{p}]", v = out(reg) v, p = in(reg) word.as_ptr(), options(nostack, readonly, preserves_flags))
    };
    v
}

/// Sleep until an event (a write to a word [`load_and_watch`] armed, a
/// `sev`, the timer's event stream).
#[inline(always)]
pub fn wait_for_event() {
    aarch64_cpu::asm::wfe();
}

/// Send an event to every CPU (ending their `wfe`) once this CPU's
/// earlier stores are visible to them.
#[inline(always)]
pub fn wake_waiters() {
    // SAFETY: a store barrier and an event: no memory is accessed.
    unsafe { core::arch::asm!("dsb ishst", "sev", options(nostack, preserves_flags)) };
}

/// Unmask IRQs on this CPU.
pub fn irq_enable() {
    // SAFETY: clearing PSTATE.I only lets IRQs in; the vectors are installed.
    unsafe { core::arch::asm!("msr daifclr, #{i}", i = const DAIF_IRQ, options(nomem, nostack)) };
}

/// Mask IRQs on this CPU.
pub fn irq_disable() {
    // SAFETY: setting PSTATE.I only holds IRQs off.
    unsafe { core::arch::asm!("msr daifset, #{i}", i = const DAIF_IRQ, options(nomem, nostack)) };
}

/// The I bit in the 4-bit immediate of `msr daifset/daifclr` (D, A, I, F).
const DAIF_IRQ: u32 = 0b0010;

/// Masks IRQs while alive and restores the previous mask when dropped.
pub struct IrqGuard {
    was_masked: bool,
}

impl IrqGuard {
    /// Mask IRQs, remembering whether they were masked before.
    pub fn new() -> IrqGuard {
        let was_masked = DAIF.is_set(DAIF::I);
        irq_disable();
        IrqGuard { was_masked }
    }
}

impl Drop for IrqGuard {
    fn drop(&mut self) {
        if !self.was_masked {
            irq_enable();
        }
    }
}

/// Stop the machine. The test image leaves QEMU through semihosting with
/// `status` as the exit status; the normal image halts this CPU.
pub fn stop(status: ExitStatus) -> ! {
    irq_disable();
    if cfg!(any(feature = "selftest", feature = "bench")) {
        semihosting::exit(status);
    }
    loop {
        asm::wfi();
    }
}

/// Benchmark image: start the cycle counter and let EL0 read it
/// (ARM ARM D13: PMCR_EL0.E and .C, PMCNTENSET_EL0.C, PMUSERENR_EL0.EN/.CR).
/// Under QEMU with `-icount shift=0` it advances exactly once per instruction.
pub fn enable_user_cycle_counter() {
    const PMCR_E: u64 = 1 << 0;
    const PMCR_C: u64 = 1 << 2;
    const PMCNTEN_C: u64 = 1 << 31;
    const PMUSERENR_EN_CR: u64 = (1 << 0) | (1 << 2);
    // SAFETY: PMU control registers only; no memory effects.
    unsafe {
        core::arch::asm!(
            "msr pmcr_el0, {pmcr}",
            "msr pmcntenset_el0, {en}",
            "msr pmuserenr_el0, {user}",
            "isb",
            pmcr = in(reg) PMCR_E | PMCR_C,
            en = in(reg) PMCNTEN_C,
            user = in(reg) PMUSERENR_EN_CR,
            options(nomem, nostack)
        );
    }
}

/// Current value of DAIF (for the fault report).
pub fn daif() -> u64 {
    DAIF.get()
}
