//! Memory management logic: addresses, descriptors, page tables, regions, frames.

pub mod frames;
pub mod pagetable;
pub mod pte;
pub mod region;

/// Size of a page (and of a translation table) with the 4 KiB granule.
pub const PAGE_SIZE: u64 = 4096;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;

/// The kernel sees all physical memory at `PA + KERNEL_VA_OFFSET` through
/// TTBR1_EL1 (48-bit VA, T1SZ = 16), so the upper half starts here.
pub const KERNEL_VA_OFFSET: u64 = 0xFFFF_0000_0000_0000;

/// Highest user virtual address + 1 (TTBR0_EL1, T0SZ = 16).
pub const USER_VA_END: u64 = 1 << 48;

/// Kernel virtual address of a physical address in the linear map.
pub const fn phys_to_virt(pa: u64) -> u64 {
    pa + KERNEL_VA_OFFSET
}

/// Physical address behind a linear-map kernel virtual address.
pub const fn virt_to_phys(va: u64) -> u64 {
    va - KERNEL_VA_OFFSET
}

/// Round `x` down to a multiple of `align` (a power of two).
pub const fn align_down(x: u64, align: u64) -> u64 {
    x & !(align - 1)
}

/// Round `x` up to a multiple of `align` (a power of two); `None` on overflow.
pub const fn align_up(x: u64, align: u64) -> Option<u64> {
    match x.checked_add(align - 1) {
        Some(v) => Some(v & !(align - 1)),
        None => None,
    }
}
