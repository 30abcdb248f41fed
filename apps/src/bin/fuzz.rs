//! `fuzz SEED COUNT`: issue COUNT random system calls with random and
//! boundary-value arguments (including capabilities this process really
//! holds), from a seeded generator so a failure can be replayed. The kernel
//! must survive whatever this does; the process itself may well not (it can
//! unmap its own code), which is why a harness runs it as a child.
//! `fuzz SEED COUNT -v` prints every call and its result.
#![no_std]
#![no_main]

extern crate alloc;

use libchcore::abi::Syscall;
use libchcore::{println, sys};

libchcore::entry!(main);

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Calls that would only stop the fuzzer itself (block forever, end the
/// thread or the process, suspend itself) are left out: they test nothing.
const SKIP: &[Syscall] =
    &[Syscall::ThreadExit, Syscall::CapGroupExit, Syscall::ThreadSuspend, Syscall::IpcReturn, Syscall::IrqWait];

const BOUNDARY: &[u64] = &[
    0,
    1,
    2,
    3,
    7,
    8,
    64,
    4095,
    4096,
    4097,
    0x1000_0000,
    0x40_0000,
    0x2800_0000,
    0x2000_0000 - 4096,
    0x4000_0000_0000,
    0x0000_FFFF_FFFF_F000,
    1 << 48,
    0xFFFF_0000_0000_0000,
    0xFFFF_0000_4020_0000,
    i64::MAX as u64,
    u64::MAX - 4095,
    u64::MAX - 1,
    u64::MAX,
];

fn main() -> i32 {
    let args = libchcore::args();
    let seed: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let count: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    // `-v`: print every call and its result, to pin down what a seed does.
    let verbose = args.get(3).is_some_and(|a| a == "-v");
    println!("fuzz: seed {seed}, {count} calls");
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut held: alloc::vec::Vec<u64> = alloc::vec![0, 1];
    for i in 0..count {
        let n = rng.next() % Syscall::COUNT;
        let Some(call) = Syscall::from_number(n) else { continue };
        if SKIP.contains(&call) {
            continue;
        }
        let mut a = [0u64; 6];
        for x in a.iter_mut() {
            *x = match rng.next() % 4 {
                0 => BOUNDARY[(rng.next() % BOUNDARY.len() as u64) as usize],
                1 => held[(rng.next() % held.len() as u64) as usize],
                2 => rng.next() % 0x10_0000,
                _ => rng.next(),
            };
        }
        // Keep blocking calls short: a bounded sleep or wait, never forever.
        match call {
            Syscall::Sleep => a[0] %= 3,
            Syscall::Wait => a[1] %= 3,
            _ => {}
        }
        let r = sys::raw(call, a);
        if verbose {
            println!("fuzz: #{i} {call:?}{a:x?} -> {r}");
        }
        // New capabilities join the pool of things to misuse.
        if r >= 0
            && matches!(
                call,
                Syscall::CreatePmo
                    | Syscall::CreateNotification
                    | Syscall::CapCopy
                    | Syscall::CreateCapGroup
                    | Syscall::CreateThread
                    | Syscall::RegisterClient
                    | Syscall::PmoPrivate
            )
            && held.len() < 64
        {
            held.push(r as u64);
        }
        if i % 2000 == 0 {
            println!("fuzz: {i} calls");
        }
    }
    println!("fuzz: seed {seed} done");
    0
}
