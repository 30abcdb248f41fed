//! Host-side system tests: boot the kernel in QEMU, read its serial console
//! and judge the output.
//!
//! - [`qemu`] knows how to start each machine (shared with `cargo xtask run`
//!   and `cargo xtask gdb`, so tests boot exactly what people boot);
//! - [`runner`] runs QEMU with a timeout and captures the console;
//! - [`judge`] decides pass or fail from the output and the exit status;
//! - [`cases`] lists the boot tests `cargo xtask test` runs.
#![forbid(unsafe_code)]

pub mod cases;
pub mod judge;
pub mod qemu;
pub mod runner;
