//! Memory operations that need particular instructions: zeroing and
//! copying whole pages, cleaning the data cache for a device or a CPU with
//! its MMU off, and the kernel image's physical bounds.
//!
//! The kernel is built without FP/SIMD, so the generic `memset` and
//! `memcpy` it gets move 8 bytes per three instructions: 1,500 instructions
//! to zero a page. These loops zero 128 bytes per ten instructions (or a
//! whole cache block per instruction with DC ZVA) and copy 64 per ten.

use kernel_core::mm::PAGE_SIZE;
use tock_registers::LocalRegisterCopy;

tock_registers::register_bitfields! {u64,
    /// Data Cache Zero ID register (Arm ARM D19.2.33; aarch64-cpu lacks it).
    DCZID_EL0 [
        /// log2 of the DC ZVA block size in 4-byte words.
        BS OFFSET(0) NUMBITS(4) [],
        /// DC ZVA is prohibited.
        DZP OFFSET(4) NUMBITS(1) []
    ]
}

fn dczid() -> LocalRegisterCopy<u64, DCZID_EL0::Register> {
    let v: u64;
    // SAFETY: reading an ID register has no side effects.
    unsafe { core::arch::asm!("mrs {}, dczid_el0", out(reg) v, options(nomem, nostack)) };
    LocalRegisterCopy::new(v)
}

/// The kernel image's physical `[start, end)`, from the linker script.
pub fn kernel_image_phys() -> (u64, u64) {
    let (start, end): (u64, u64);
    // SAFETY: loads two link-time constants from the literal pool. The
    // symbols are absolute physical addresses, out of reach of the
    // PC-relative addressing Rust would use for them.
    unsafe {
        core::arch::asm!(
            "ldr {s}, =__kernel_phys_start",
            "ldr {e}, =__kernel_phys_end",
            s = out(reg) start,
            e = out(reg) end,
            options(nomem, nostack, pure)
        );
    }
    (start, end)
}

/// Clean and invalidate the data cache over `[va, va + len)` to the point of
/// coherency, then wait for it: for an observer that does not snoop the
/// caches (the VideoCore, a core with its MMU off). Only the Pi has either.
#[cfg_attr(not(feature = "raspi3"), allow(dead_code))]
pub fn clean_invalidate_dcache(va: u64, len: u64) {
    // The Cortex-A53's and A72's cache lines are 64 bytes.
    let mut line = va & !63;
    while line < va.saturating_add(len) {
        // SAFETY: DC CIVAC on a mapped kernel address only affects caching.
        unsafe { core::arch::asm!("dc civac, {}", in(reg) line, options(nostack)) };
        line += 64;
    }
    // SAFETY: a barrier has no memory-safety effects.
    unsafe { core::arch::asm!("dsb sy", options(nostack)) };
}

/// Zero `bytes` bytes from `va`.
///
/// # Safety
/// `[va, va + bytes)` must be normal memory that the caller alone owns, `va`
/// page-aligned and `bytes` a non-zero multiple of the page size.
pub unsafe fn zero_pages(va: u64, bytes: u64) {
    // DC ZVA zeroes a whole block (64 bytes on Cortex-A53/A72) per
    // instruction, where the CPU allows it (DCZID_EL0, Arm ARM D19.2.33).
    let id = dczid();
    let block = 4u64 << id.read(DCZID_EL0::BS);
    if !id.is_set(DCZID_EL0::DZP) && block >= 64 && 4 * block <= PAGE_SIZE {
        // SAFETY: as the caller promises; `bytes` is a multiple of a page, so
        // of four blocks, and `va` is page-aligned, so block-aligned. The
        // memory is normal cacheable RAM, where DC ZVA is allowed.
        unsafe {
            core::arch::asm!(
                "1:",
                "dc zva, {p}",
                "add {p}, {p}, {b}",
                "dc zva, {p}",
                "add {p}, {p}, {b}",
                "dc zva, {p}",
                "add {p}, {p}, {b}",
                "dc zva, {p}",
                "add {p}, {p}, {b}",
                "subs {n}, {n}, {b4}",
                "b.ne 1b",
                p = inout(reg) va => _,
                n = inout(reg) bytes => _,
                b = in(reg) block,
                b4 = in(reg) 4 * block,
                options(nostack),
            );
        }
        return;
    }
    // SAFETY: as the caller promises; the length is a non-zero multiple of
    // 128 and the start 16-byte aligned.
    unsafe {
        core::arch::asm!(
            "1:",
            "stp xzr, xzr, [{p}, #0]",
            "stp xzr, xzr, [{p}, #16]",
            "stp xzr, xzr, [{p}, #32]",
            "stp xzr, xzr, [{p}, #48]",
            "stp xzr, xzr, [{p}, #64]",
            "stp xzr, xzr, [{p}, #80]",
            "stp xzr, xzr, [{p}, #96]",
            "stp xzr, xzr, [{p}, #112]",
            "add {p}, {p}, #128",
            "subs {n}, {n}, #128",
            "b.ne 1b",
            p = inout(reg) va => _,
            n = inout(reg) bytes => _,
            options(nostack),
        );
    }
}

/// Copy the page at `src` to the page at `dst` (kernel virtual addresses).
///
/// # Safety
/// Both must be whole, page-aligned pages of normal memory; `dst` owned by
/// the caller alone, `src` not written meanwhile.
pub unsafe fn copy_page(src: u64, dst: u64) {
    // SAFETY: as the caller promises; both addresses are page-aligned.
    unsafe {
        core::arch::asm!(
            "1:",
            "ldp {a}, {b}, [{s}, #0]",
            "ldp {c}, {d}, [{s}, #16]",
            "stp {a}, {b}, [{t}, #0]",
            "stp {c}, {d}, [{t}, #16]",
            "ldp {a}, {b}, [{s}, #32]",
            "ldp {c}, {d}, [{s}, #48]",
            "stp {a}, {b}, [{t}, #32]",
            "stp {c}, {d}, [{t}, #48]",
            "add {s}, {s}, #64",
            "add {t}, {t}, #64",
            "subs {n}, {n}, #64",
            "b.ne 1b",
            s = inout(reg) src => _,
            t = inout(reg) dst => _,
            n = inout(reg) PAGE_SIZE => _,
            a = out(reg) _,
            b = out(reg) _,
            c = out(reg) _,
            d = out(reg) _,
            options(nostack),
        );
    }
}
