//! Timer interrupt test: the tick must advance while we wait.

use super::{ensure, TestResult};
use crate::arch::timer::{self, counter};

pub fn ticks() -> TestResult {
    const WANT: u64 = 5;
    let start = timer::ticks();
    let (t0, freq) = counter();
    // Give up after two seconds of counter time.
    while timer::ticks() < start + WANT {
        let (now, _) = counter();
        ensure!(now - t0 < 2 * freq, "only {} ticks in 2 s", timer::ticks() - start);
        aarch64_cpu::asm::wfi();
    }
    Ok(())
}
