//! First instructions: from whatever exception level the firmware used down to
//! EL1, early page tables, MMU and caches on, then a jump into the kernel in the
//! upper half of the address space.
//!
//! # Boot flow
//! 1. `_start` (section `.boot.text`, linked and run at its physical address)
//!    keeps the firmware's `x0` (device tree or ATAG pointer), parks every core
//!    but the boot core, and drops from EL3 or EL2 to EL1 ([`entry`]).
//! 2. At EL1 it points TTBR0_EL1 and TTBR1_EL1 at the same boot tables
//!    ([`tables`]): the low half is an identity map so the next instruction
//!    still fetches after the MMU comes on, the high half is the kernel's
//!    linear map `VA = PA + KERNEL_VA_OFFSET`.
//! 3. It jumps to the kernel's link address in the upper half, clears `.bss`,
//!    sets the stack and calls `kernel_main(firmware_x0, entry_el)`.
//!
//! Secondary cores enter at `_secondary_start` when the kernel wakes them,
//! take the same path down to EL1 and through the same tables, and call
//! `secondary_main(entry_el)` on the stack the kernel published in
//! `SECONDARY_STACK_TOP`.
//!
//! Everything before the jump runs with the MMU off, so it is assembly that
//! only uses PC-relative addressing; the tables themselves are computed at
//! compile time by `const fn`s that are unit-tested on the host.
#![cfg_attr(not(test), no_std)]

pub mod tables;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod entry;
