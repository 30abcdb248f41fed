//! User thread register state: the trap frame plus FP/SIMD registers.
//!
//! The kernel is built soft-float, so it never touches q0-q31, FPCR or FPSR:
//! a user thread's FP state stays in the registers across a trap and only
//! needs saving when another thread takes the CPU.
//!
//! FP/SIMD is off for a thread until it first uses it: EL0 access traps
//! (CPACR_EL1.FPEN), the kernel gives the thread room for the registers
//! ([`UserContext::fp`]) and turns access on for good for it; from then on
//! its registers are saved and restored at each switch. Our programs are
//! built soft-float and never trap: their threads carry no FP state and
//! their switches skip it.

use super::exception::TrapFrame;
use alloc::boxed::Box;
use core::arch::global_asm;

/// FP/SIMD registers (ARM ARM B1.2.1).
#[repr(C, align(16))]
#[derive(Clone, Copy)]
pub struct FpState {
    q: [u128; 32],
    fpcr: u64,
    fpsr: u64,
}

impl FpState {
    /// All registers zero: a thread's state at its first FP instruction.
    pub const ZERO: FpState = FpState { q: [0; 32], fpcr: 0, fpsr: 0 };
}

/// Everything a user thread needs to resume.
#[repr(C)]
#[derive(Clone)]
pub struct UserContext {
    /// Integer registers, SP_EL0, PC and PSTATE.
    pub frame: TrapFrame,
    /// FP/SIMD registers, once the thread has used them: then they are
    /// switched with it and EL0 may use them while it runs.
    pub fp: Option<Box<FpState>>,
    /// `frame` is zero but for what an IPC handler's start writes (see
    /// `connection::HandlerStart`): nothing saved it since, so the next
    /// start need not clear it again.
    pub clean: bool,
}

/// SPSR for a user thread: EL0t, all interrupts unmasked.
pub const SPSR_EL0T: u64 = 0;

impl UserContext {
    /// A fresh thread that starts at `pc` with stack `sp` and `arg` in x0.
    pub fn new(pc: u64, sp: u64, arg: u64) -> UserContext {
        let mut frame = TrapFrame::zeroed();
        frame.x[0] = arg;
        frame.sp_el0 = sp;
        frame.elr = pc;
        frame.spsr = SPSR_EL0T;
        UserContext { frame, fp: None, clean: false }
    }
}

/// CPACR_EL1.FPEN (bits 21:20): 0b11 lets EL0 and EL1 use FP/SIMD, 0b01
/// traps EL0's use (exception class 0x07) and lets EL1's through, which
/// `fp_save` and `fp_restore` need.
const FPEN_ALL: u64 = 0b11 << 20;
const FPEN_EL1: u64 = 0b01 << 20;

/// Let EL0 use FP/SIMD, or make its first use trap, from the next return
/// to EL0 on (the exception return synchronises the write).
#[inline(always)]
pub fn fp_access(on: bool) {
    let v = if on { FPEN_ALL } else { FPEN_EL1 };
    // SAFETY: CPACR_EL1 only gates FP/SIMD access; the soft-float kernel
    // never uses those registers outside `fp_save`/`fp_restore`, which
    // run at EL1 and are allowed either way.
    unsafe { core::arch::asm!("msr cpacr_el1, {0}", in(reg) v, options(nomem, nostack, preserves_flags)) };
}

global_asm!(
    r#"
    .arch_extension fp
    .arch_extension simd
    .section .text.fp_state, "ax"
    .global fp_save
    .type fp_save, %function
fp_save:
    stp     q0, q1, [x0, #0]
    stp     q2, q3, [x0, #32]
    stp     q4, q5, [x0, #64]
    stp     q6, q7, [x0, #96]
    stp     q8, q9, [x0, #128]
    stp     q10, q11, [x0, #160]
    stp     q12, q13, [x0, #192]
    stp     q14, q15, [x0, #224]
    stp     q16, q17, [x0, #256]
    stp     q18, q19, [x0, #288]
    stp     q20, q21, [x0, #320]
    stp     q22, q23, [x0, #352]
    stp     q24, q25, [x0, #384]
    stp     q26, q27, [x0, #416]
    stp     q28, q29, [x0, #448]
    stp     q30, q31, [x0, #480]
    mrs     x1, fpcr
    mrs     x2, fpsr
    add     x0, x0, #512
    stp     x1, x2, [x0]
    ret
    .size fp_save, . - fp_save

    .global fp_restore
    .type fp_restore, %function
fp_restore:
    ldp     q0, q1, [x0, #0]
    ldp     q2, q3, [x0, #32]
    ldp     q4, q5, [x0, #64]
    ldp     q6, q7, [x0, #96]
    ldp     q8, q9, [x0, #128]
    ldp     q10, q11, [x0, #160]
    ldp     q12, q13, [x0, #192]
    ldp     q14, q15, [x0, #224]
    ldp     q16, q17, [x0, #256]
    ldp     q18, q19, [x0, #288]
    ldp     q20, q21, [x0, #320]
    ldp     q22, q23, [x0, #352]
    ldp     q24, q25, [x0, #384]
    ldp     q26, q27, [x0, #416]
    ldp     q28, q29, [x0, #448]
    ldp     q30, q31, [x0, #480]
    add     x0, x0, #512
    ldp     x1, x2, [x0]
    msr     fpcr, x1
    msr     fpsr, x2
    ret
    .size fp_restore, . - fp_restore
"#
);

const _: () = assert!(core::mem::size_of::<FpState>() == 528);

extern "C" {
    fn fp_save(state: *mut FpState);
    fn fp_restore(state: *const FpState);
}

/// Save this CPU's FP/SIMD registers into `state`.
pub fn save_fp(state: &mut FpState) {
    // SAFETY: `fp_save` writes exactly the 528 bytes of `FpState` (checked
    // above) through the valid, exclusive pointer and clobbers only x1, x2,
    // which are caller-saved.
    unsafe { fp_save(state) }
}

/// Load this CPU's FP/SIMD registers from `state`.
pub fn restore_fp(state: &FpState) {
    // SAFETY: `fp_restore` reads the 528 bytes of `FpState` and writes only
    // FP registers (which the soft-float kernel never uses) and x1, x2.
    unsafe { fp_restore(state) }
}
