//! Arm semihosting, used by the test image to end QEMU with a verdict.
//!
//! "Semihosting for AArch32 and AArch64" (Arm IHI 0069): the operation
//! number goes in w0, a parameter block address in x1, then `hlt #0xf000`.
//! QEMU honours it only with `-semihosting`; without it the instruction is
//! undefined, which is why only the test image (always run with it) uses it.
#![cfg_attr(not(any(feature = "selftest", feature = "bench")), allow(dead_code))]

use super::ExitStatus;
use core::sync::atomic::{AtomicBool, Ordering};

/// SYS_EXIT: end the program; AArch64 passes {reason, subcode}.
const SYS_EXIT: u64 = 0x18;
/// ADP_Stopped_ApplicationExit: a normal exit with a status code.
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;

static EXITING: AtomicBool = AtomicBool::new(false);

/// Exit QEMU with status 0 or 1.
pub fn exit(status: ExitStatus) -> ! {
    // If the call itself faults (QEMU run without -semihosting) the fault
    // handler comes back here: do not try again.
    if !EXITING.swap(true, Ordering::SeqCst) {
        let code = match status {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
        };
        let block: [u64; 2] = [ADP_STOPPED_APPLICATION_EXIT, code];
        // SAFETY: the semihosting call reads the two-word block we pass and
        // does not return when the host implements it; it touches no other
        // memory and no registers beyond x0/x1.
        unsafe {
            core::arch::asm!(
                "hlt #0xf000",
                in("x0") SYS_EXIT,
                in("x1") block.as_ptr(),
                options(nostack)
            );
        }
    }
    loop {
        aarch64_cpu::asm::wfi();
    }
}
