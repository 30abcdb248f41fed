//! Timer interrupt test: this CPU must take timer interrupts while it waits
//! (the tick count itself comes from the system counter, so it is the
//! interrupts that are counted).

use super::{ensure, TestResult};
use crate::arch::timer::counter;

pub fn ticks() -> TestResult {
    const WANT: u64 = 5;
    let cpu = crate::arch::smp::cpu_id();
    let irqs = || crate::stats::snapshot(cpu).map_or(0, |s| s.interrupts);
    let start = irqs();
    let (t0, freq) = counter();
    // Give up after two seconds of counter time.
    while irqs() < start + WANT {
        let (now, _) = counter();
        ensure!(now - t0 < 2 * freq, "only {} timer interrupts in 2 s", irqs() - start);
        aarch64_cpu::asm::wfi();
    }
    Ok(())
}
