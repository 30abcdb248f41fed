//! The boot page tables, computed at compile time.
//!
//! Both halves of the address space share one level 0 table: index 0 of
//! level 0 covers the first 512 GiB of both the identity map (TTBR0) and the
//! linear map at `KERNEL_VA_OFFSET` (TTBR1), because the offset has zeros in
//! bits 47:39. The boot code only has to write the table descriptors (which
//! hold physical addresses known at run time); every block descriptor is a
//! constant built here.
//!
//! Each platform describes its physical address map as 1 GiB level 1
//! entries, with an optional level 2 table (2 MiB blocks) for the first
//! gigabyte when RAM and devices share it (the Raspberry Pi 3).

use kernel_core::mm::pagetable::{level_size, ENTRIES};
use kernel_core::mm::pte::{block, MemType, Perm};

/// One translation table page.
#[repr(C, align(4096))]
#[derive(Clone, Copy)]
pub struct Table(pub [u64; ENTRIES]);

const GIB: u64 = level_size(1);
const MIB2: u64 = level_size(2);

/// QEMU `virt`: devices in the first GiB (GIC at 0x0800_0000, PL011 at
/// 0x0900_0000, ...), RAM from 1 GiB up to 256 GiB (hw/arm/virt.c's memory
/// map; the high PCIe windows start at 256 GiB and are left unmapped).
pub const fn virt_l1() -> Table {
    let mut t = [0u64; ENTRIES];
    t[0] = block(0, Perm::KERNEL_RW, MemType::Device);
    let mut i = 1;
    while i < 256 {
        // RWX: the kernel image lives here and runs before it can map itself
        // more tightly; the kernel narrows permissions when it builds its own tables.
        t[i] = block(i as u64 * GIB, Perm::KERNEL_RWX, MemType::Normal);
        i += 1;
    }
    Table(t)
}

/// Raspberry Pi 3 peripherals (BCM2837 "ARM physical" addresses 0x3F00_0000..0x4000_0000).
pub const RASPI3_PERIPHERAL_BASE: u64 = 0x3F00_0000;
/// BCM2836 local peripherals (core timers and interrupt routing) at 0x4000_0000.
pub const RASPI3_LOCAL_BASE: u64 = 0x4000_0000;

/// Raspberry Pi 3, first GiB: RAM below the peripherals as 2 MiB blocks,
/// peripherals as device memory.
pub const fn raspi3_l2() -> Table {
    let mut t = [0u64; ENTRIES];
    let mut i = 0;
    while i < ENTRIES {
        let pa = i as u64 * MIB2;
        t[i] = if pa < RASPI3_PERIPHERAL_BASE {
            block(pa, Perm::KERNEL_RWX, MemType::Normal)
        } else {
            block(pa, Perm::KERNEL_RW, MemType::Device)
        };
        i += 1;
    }
    Table(t)
}

/// Raspberry Pi 3, level 1: entry 0 is patched at boot to point at
/// [`raspi3_l2`]; the second GiB holds the local peripherals.
pub const fn raspi3_l1() -> Table {
    let mut t = [0u64; ENTRIES];
    t[1] = block(RASPI3_LOCAL_BASE, Perm::KERNEL_RW, MemType::Device);
    Table(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel_core::mm::pte;

    fn attr(d: u64) -> (bool, MemType) {
        (d & pte::VALID != 0, pte::mem_type_of(d))
    }

    #[test]
    fn virt_map() {
        let t = virt_l1().0;
        assert_eq!(attr(t[0]), (true, MemType::Device), "GIC and UART");
        assert_eq!(attr(t[1]), (true, MemType::Normal), "RAM base at 1 GiB");
        assert_eq!(pte::output_addr(t[3]), 3 * GIB);
        assert_eq!(attr(t[255]), (true, MemType::Normal));
        assert!(!attr(t[256]).0, "high PCIe window unmapped");
        // The kernel image at 0x4020_0000 is executable, devices are not.
        assert!(pte::perm_of(t[1]).exec);
        assert!(!pte::perm_of(t[0]).exec);
    }

    #[test]
    fn raspi3_map() {
        let l2 = raspi3_l2().0;
        assert_eq!(attr(l2[0]), (true, MemType::Normal), "kernel at 0x80000");
        assert_eq!(attr(l2[503]), (true, MemType::Normal));
        assert_eq!(attr(l2[504]), (true, MemType::Device), "0x3F00_0000 peripherals");
        assert_eq!(pte::output_addr(l2[505]), 0x3F20_0000, "PL011 block");
        let l1 = raspi3_l1().0;
        assert_eq!(l1[0], 0, "patched at boot");
        assert_eq!(attr(l1[1]), (true, MemType::Device), "local interrupt controller");
        assert!(l1[2..].iter().all(|&d| d == 0));
    }
}
