//! Machine-independent kernel logic, unit-tested on the host with `cargo test`.
//!
//! Everything here is pure bookkeeping over plain data: page-table construction
//! (over any memory that implements [`mm::pagetable::TableMemory`]), physical
//! memory region arithmetic, the buddy frame allocator wrapper, and the parsers
//! for what firmware hands the kernel (device tree, ATAGs). The kernel crate
//! supplies the machine: real memory, registers and devices.
//!
//! The crate is `no_std` on the target and uses `std` only for its own tests.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod account;
pub mod asid;
pub mod atag;
pub mod cap;
pub mod dtb;
pub mod elf_load;
pub mod sched;
pub mod testing;
pub mod text;
pub mod vmregion;

pub mod mm;
