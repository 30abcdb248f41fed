//! AArch64: exception vectors, the generic timer, interrupt masking, stopping.

pub mod context;
pub mod exception;
pub mod mmu;
pub mod semihosting;
pub mod smp;
pub mod timer;

pub use context::{restore_fp, save_fp, UserContext};
pub use exception::{return_to, TrapFrame};

use aarch64_cpu::asm;
use aarch64_cpu::registers::{Readable, DAIF};

/// How a stop ends a run (visible as QEMU's exit status in the test image).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything checked out.
    #[cfg_attr(not(feature = "selftest"), allow(dead_code))]
    Success,
    /// A test failed or the kernel faulted.
    Failure,
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
    if cfg!(feature = "selftest") {
        semihosting::exit(status);
    }
    loop {
        asm::wfi();
    }
}

/// Current value of DAIF (for the fault report).
pub fn daif() -> u64 {
    DAIF.get()
}
