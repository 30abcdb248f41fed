//! procmgr, the root process: the first program the kernel starts.
//!
//! Today it announces itself and, in the test image, runs the user-level
//! tests of the kernel's system calls. Process management over IPC (spawn,
//! fork, exec, wait, pipes) comes with the IPC work.
#![no_std]
#![no_main]

extern crate alloc;

use libchcore::println;

#[cfg(feature = "selftest")]
mod tests;
#[cfg(feature = "selftest")]
mod tests_sched_ipc;

libchcore::entry!(main);

fn main() -> i32 {
    println!("Hello from ChCore Process Manager!");
    #[cfg(feature = "selftest")]
    return tests::run();
    #[cfg(not(feature = "selftest"))]
    0
}
