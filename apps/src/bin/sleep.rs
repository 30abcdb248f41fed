//! `sleep SECONDS`: do nothing for that long. The smallest process there
//! is, which makes it the yardstick for what an idle process costs
//! (docs/memory.md).
#![no_std]
#![no_main]

libchcore::entry!(main);

/// Timer ticks per second (docs/syscalls.md: `sleep` counts 100 Hz ticks).
const TICKS_PER_SECOND: u64 = 100;

fn main() -> i32 {
    let args = libchcore::args();
    let Some(seconds) = args.get(1).and_then(|a| a.parse::<u64>().ok()) else {
        libchcore::eprintln!("usage: sleep SECONDS");
        return 1;
    };
    libchcore::sys::sleep(seconds.saturating_mul(TICKS_PER_SECOND));
    0
}
