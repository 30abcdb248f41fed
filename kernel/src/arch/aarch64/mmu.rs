//! Translation control for the lower half (TTBR0_EL1): user address spaces.
//!
//! After boot the kernel runs entirely in the upper half; the identity map
//! the boot code left in TTBR0 is switched off so that a stray low address
//! (a null pointer, say) faults instead of hitting RAM or a device.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{ReadWriteable, Readable, Writeable, TCR_EL1, TTBR0_EL1};

fn flush_tlb() {
    // SAFETY: TLB invalidation and barriers change no memory the compiler
    // knows about; "vmalle1" drops all EL1&0 entries of this CPU.
    unsafe { core::arch::asm!("dsb ishst", "tlbi vmalle1", "dsb ish", "isb", options(nostack)) };
}

/// Stop translating lower-half addresses: any access to them now faults.
pub fn disable_lower_half() {
    TCR_EL1.modify(TCR_EL1::EPD0::DisableTTBR0Walks);
    barrier::isb(barrier::SY);
    flush_tlb();
}

/// Run `f` with the lower half translated by the page table at `root`
/// (physical address, ASID 0), then switch the lower half off again.
#[cfg(feature = "selftest")]
pub fn with_lower_half<R>(root: u64, f: impl FnOnce() -> R) -> R {
    TTBR0_EL1.set_baddr(root);
    TCR_EL1.modify(TCR_EL1::EPD0::EnableTTBR0Walks);
    barrier::isb(barrier::SY);
    flush_tlb();
    let r = f();
    disable_lower_half();
    r
}

/// Bits of ASID in use on this CPU: 16 if the boot code found them
/// (ID_AA64MMFR0_EL1.ASIDBits) and set TCR_EL1.AS, else 8.
pub fn asid_bits() -> u32 {
    if TCR_EL1.is_set(TCR_EL1::AS) {
        16
    } else {
        8
    }
}

/// The TTBR0_EL1 value for the page table at `root` (physical address)
/// tagged `asid`.
pub fn ttbr0(root: u64, asid: u16) -> u64 {
    (TTBR0_EL1::ASID.val(u64::from(asid)) + TTBR0_EL1::BADDR.val(root >> 1)).value
}

/// Run user code in the address space `ttbr0` (from [`ttbr0`]), turning
/// lower-half translation on (the idle loop turns it off). No TLB flush:
/// entries of other address spaces carry other ASIDs.
#[inline(always)]
pub fn switch_user(ttbr0: u64) {
    TTBR0_EL1.set(ttbr0);
    TCR_EL1.modify(TCR_EL1::EPD0::EnableTTBR0Walks);
    barrier::isb(barrier::SY);
}

/// [`switch_user`] from one user thread to another: lower-half translation
/// is on already.
#[inline(always)]
pub fn switch_user_from_user(ttbr0: u64) {
    TTBR0_EL1.set(ttbr0);
    barrier::isb(barrier::SY);
}

/// Forget the translations of address space `asid` (after unmap or protect,
/// or before its ASID is reused).
pub fn tlb_flush_asid(asid: u16) {
    let arg = u64::from(asid) << 48;
    // SAFETY: TLB invalidation by ASID only drops cached translations.
    unsafe { core::arch::asm!("dsb ishst", "tlbi aside1is, {}", "dsb ish", "isb", in(reg) arg, options(nostack)) };
}

/// Forget cached translations after page-table entries were removed or changed.
#[cfg(feature = "selftest")]
pub fn tlb_flush_all() {
    flush_tlb();
}
