//! User-space runtime for programs on this kernel.
//!
//! - `_start` sets up the heap, calls the program's `main` (declared with
//!   [`entry!`]) and exits the cap_group with its return value;
//! - [`sys`] wraps every system call with typed arguments and
//!   `Result<_, Error>` results;
//! - [`print!`]/[`println!`] write to the console through `putstr`;
//! - a heap (`alloc` works) on a lazily allocated memory object;
//! - [`fs`] for files, [`tool`] for what the command-line tools share;
//! - a `memcpy` that moves 128 bytes a round (`mem`).
#![no_std]

extern crate alloc;

pub mod fs;
mod heap;
pub mod ipc;
mod mem;
pub mod mman;
mod pipe;
mod print;
pub mod process;
mod rt;
pub mod spawn;
pub mod sync;
pub mod sys;
pub mod testing;
pub mod thread;
pub mod tool;

pub use chcore_abi::{self as abi, Error, ObjectType, PmoKind, Rights};
pub use print::{_eprint, _print};
pub use rt::args;

/// Declare the program's entry point: `entry!(main)` with `fn main() -> i32`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[no_mangle]
        fn __chcore_main() -> i32 {
            $main()
        }
    };
}
