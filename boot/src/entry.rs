//! The entry point, exception level changes and the MMU switch-on.
//!
//! Register values are from the ARM Architecture Reference Manual (ARM DDI
//! 0487): SCR_EL3 (D19.2.117), HCR_EL2 (D19.2.48), SCTLR_EL1 (D19.2.118),
//! TCR_EL1 (D19.2.139), CPACR_EL1 (D19.2.30), CNTHCTL_EL2 (D19.12.4).

use crate::tables::{self, Table};
use core::arch::global_asm;
use kernel_core::mm::pte;

/// SCR_EL3: EL1 runs AArch64 (RW), bits 5:4 are RES1. NS stays 0: with no
/// firmware to hand interrupts to the non-secure world, the kernel runs in
/// secure EL1 and so owns the GIC's secure (group 0) configuration.
const SCR_EL3_VALUE: u64 = (1 << 10) | (0b11 << 4);
/// HCR_EL2: EL1 runs AArch64 (RW); nothing else is trapped to EL2.
const HCR_EL2_VALUE: u64 = 1 << 31;
/// CNTHCTL_EL2: EL1PCTEN | EL1PCEN, EL1 may use the physical counter and timer.
const CNTHCTL_EL2_EL1_ACCESS: u64 = 0b11;
/// CPTR_EL2 with only its RES1 bits (13:12, 9:0): FP/SIMD not trapped (TFP = 0).
const CPTR_EL2_VALUE: u64 = 0x33FF;
/// SPSR for the `eret` to EL1: EL1h (use SP_EL1), D, A, I and F masked.
const SPSR_EL1H_MASKED: u64 = 0b1111 << 6 | 0b0101;
/// SCTLR_EL1 RES1 bits of ARMv8.0 (29, 28, 23, 22, 20, 11): MMU, caches and
/// alignment checks off.
const SCTLR_EL1_RES1: u64 = (1 << 29) | (1 << 28) | (1 << 23) | (1 << 22) | (1 << 20) | (1 << 11);
/// SCTLR_EL1 with the MMU (M), data cache (C), stack alignment checks
/// (SA, SA0) and instruction cache (I) on.
const SCTLR_EL1_MMU_ON: u64 = SCTLR_EL1_RES1 | (1 << 0) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 12);
/// CPACR_EL1.FPEN = 0b11: FP/SIMD is not trapped at EL0 or EL1. The kernel is
/// built soft-float, so only user threads touch FP registers; the scheduler
/// then sets EL0's access per thread (`arch::fp_access`).
const CPACR_EL1_FPEN: u64 = 0b11 << 20;
/// TCR_EL1 for 48-bit VAs in both halves, 4 KiB granules, write-back
/// cacheable inner-shareable table walks. IPS (bits 34:32) is filled in at
/// run time from ID_AA64MMFR0_EL1.PARange.
#[allow(clippy::identity_op)] // TG0 = 0b00 is spelled out on purpose.
const TCR_EL1_VALUE: u64 = 16 // T0SZ
    | (0b01 << 8) | (0b01 << 10) | (0b11 << 12) // IRGN0, ORGN0, SH0
    | (0b00 << 14) // TG0 = 4 KiB
    | (16 << 16) // T1SZ
    | (0b01 << 24) | (0b01 << 26) | (0b11 << 28) // IRGN1, ORGN1, SH1
    | (0b10 << 30); // TG1 = 4 KiB
/// PARange value for 48-bit physical addresses; larger encodings need 52-bit
/// descriptor formats we do not use.
const PA_RANGE_48: u64 = 0b101;
/// ID_AA64MMFR0_EL1.ASIDBits (bits 7:4, ARM ARM D19.2.64) and its value
/// for 16-bit ASIDs.
const ASID_BITS_SHIFT: u64 = 4;
const ASID_BITS_16: u64 = 0b0010;
/// TCR_EL1.AS (bit 36): ASIDs are 16 bits wide (TTBRn_EL1[63:48]).
const TCR_EL1_AS: u64 = 36;
/// MPIDR_EL1 Aff2:Aff0; the boot core is the one with all zero.
const MPIDR_AFF_MASK: u64 = 0x00FF_FFFF;

/// Level 0 table shared by TTBR0 and TTBR1 during boot.
#[link_section = ".boot.pt"]
static mut BOOT_L0: Table = Table([0; 512]);

#[cfg(feature = "virt")]
#[link_section = ".boot.pt"]
static mut BOOT_L1: Table = tables::virt_l1();

#[cfg(feature = "raspi3")]
#[link_section = ".boot.pt"]
static mut BOOT_L1: Table = tables::raspi3_l1();

/// Level 2 tables: the Raspberry Pi 3 needs one for its first GiB, virt none.
#[cfg(feature = "raspi3")]
const L2_TABLES: usize = 1;
#[cfg(not(feature = "raspi3"))]
const L2_TABLES: usize = 0;

#[link_section = ".boot.pt"]
static mut BOOT_L2: [Table; L2_TABLES] = {
    #[cfg(feature = "raspi3")]
    let t = [tables::raspi3_l2()];
    #[cfg(not(feature = "raspi3"))]
    let t = [];
    t
};

#[cfg(all(feature = "virt", feature = "raspi3"))]
compile_error!("boot: choose exactly one platform feature (virt or raspi3)");
#[cfg(not(any(feature = "virt", feature = "raspi3")))]
compile_error!("boot: choose a platform feature (virt or raspi3); `cargo xtask build` does this");

global_asm!(
    r#"
    .section .boot.text, "ax"
    .global _start
_start:
    // x0 from the firmware: device tree (or ATAG list) address, or 0.
    mov     x19, x0
    mov     x21, #0
    mrs     x1, mpidr_el1
    and     x1, x1, #{aff_mask}
    cbz     x1, 2f
    // Other cores that come here (firmware that starts every core at the
    // kernel) wait; the kernel wakes them through PSCI or the spin table,
    // at `_secondary_start`.
1:  wfe
    b       1b

    // Where the kernel starts secondary cores (PSCI CPU_ON, spin table).
    .global _secondary_start
_secondary_start:
    mov     x19, #0
    mov     x21, #1

2:  mrs     x20, CurrentEL
    lsr     x20, x20, #2
    cmp     x20, #3
    b.eq    .Lfrom_el3
    cmp     x20, #2
    b.eq    .Lfrom_el2
    b       .Lin_el1

.Lfrom_el3:
    mov     x2, #{scr}
    msr     scr_el3, x2
    msr     cptr_el3, xzr
    ldr     x2, ={sctlr_res1}
    msr     sctlr_el1, x2
    mov     x2, #{spsr}
    msr     spsr_el3, x2
    adr     x2, .Lin_el1
    msr     elr_el3, x2
    eret

.Lfrom_el2:
    mov     x2, #{hcr}
    msr     hcr_el2, x2
    mrs     x2, cnthctl_el2
    orr     x2, x2, #{cnthctl}
    msr     cnthctl_el2, x2
    msr     cntvoff_el2, xzr
    mov     x2, #{cptr2}
    msr     cptr_el2, x2
    msr     hstr_el2, xzr
    // EL1 reads of MIDR/MPIDR return these; their reset values are UNKNOWN.
    mrs     x2, midr_el1
    msr     vpidr_el2, x2
    mrs     x2, mpidr_el1
    msr     vmpidr_el2, x2
    ldr     x2, ={sctlr_res1}
    msr     sctlr_el1, x2
    mov     x2, #{spsr}
    msr     spsr_el2, x2
    adr     x2, .Lin_el1
    msr     elr_el2, x2
    eret

.Lin_el1:
    mov     x2, #{cpacr}
    msr     cpacr_el1, x2

    // Link the boot tables: L0[0] -> L1 (and L1[0] -> L2 where used).
    adrp    x2, {l0}
    adrp    x3, {l1}
    orr     x4, x3, #{table}
    str     x4, [x2]
    mov     x6, #{has_l2}
    cbz     x6, 1f
    adrp    x5, {l2}
    orr     x5, x5, #{table}
    str     x5, [x3]
1:

    ldr     x4, ={mair}
    msr     mair_el1, x4
    ldr     x4, ={tcr}
    mrs     x5, id_aa64mmfr0_el1
    // 16-bit ASIDs where the CPU has them (ASIDBits == 0b0010): with them
    // the kernel can keep 65,535 address spaces apart instead of 255.
    ubfx    x6, x5, #{asid_bits_shift}, #4
    cmp     x6, #{asid_bits_16}
    cset    x6, eq
    bfi     x4, x6, #{tcr_as}, #1
    and     x5, x5, #0xf
    mov     x6, #{pa48}
    cmp     x5, x6
    csel    x5, x5, x6, lo
    bfi     x4, x5, #32, #3
    msr     tcr_el1, x4
    msr     ttbr0_el1, x2
    msr     ttbr1_el1, x2
    dsb     sy
    isb
    tlbi    vmalle1
    ic      iallu
    dsb     nsh
    isb
    ldr     x4, ={sctlr_mmu}
    msr     sctlr_el1, x4
    isb
    // Still running from the identity map; continue at the link address.
    ldr     x4, =.Lhigh
    br      x4
    .ltorg

    .section .text.boot_high, "ax"
.Lhigh:
    cbnz    x21, .Lsecondary_high
    ldr     x2, =__bss_start
    ldr     x3, =__bss_end
3:  cmp     x2, x3
    b.hs    4f
    stp     xzr, xzr, [x2], #16
    b       3b
4:  ldr     x2, =__boot_stack_top
    mov     sp, x2
    mov     x0, x19
    mov     x1, x20
    bl      kernel_main
5:  wfe
    b       5b

.Lsecondary_high:
    // The kernel published this core's stack before waking it.
    ldr     x2, =SECONDARY_STACK_TOP
    ldr     x2, [x2]
    mov     sp, x2
    mov     x0, x20
    bl      secondary_main
    b       5b
    .ltorg
"#,
    aff_mask = const MPIDR_AFF_MASK,
    scr = const SCR_EL3_VALUE,
    hcr = const HCR_EL2_VALUE,
    cnthctl = const CNTHCTL_EL2_EL1_ACCESS,
    cptr2 = const CPTR_EL2_VALUE,
    spsr = const SPSR_EL1H_MASKED,
    sctlr_res1 = const SCTLR_EL1_RES1,
    sctlr_mmu = const SCTLR_EL1_MMU_ON,
    cpacr = const CPACR_EL1_FPEN,
    tcr = const TCR_EL1_VALUE,
    pa48 = const PA_RANGE_48,
    asid_bits_shift = const ASID_BITS_SHIFT,
    asid_bits_16 = const ASID_BITS_16,
    tcr_as = const TCR_EL1_AS,
    mair = const pte::MAIR_VALUE,
    table = const pte::TABLE_OR_PAGE | pte::VALID,
    l0 = sym BOOT_L0,
    l1 = sym BOOT_L1,
    l2 = sym BOOT_L2,
    has_l2 = const L2_TABLES,
);
