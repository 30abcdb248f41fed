//! Exception vectors for EL1 and EL0 (ARM ARM D1.10 "Exception entry").
//!
//! Every vector saves the integer state into a [`TrapFrame`] on the
//! current kernel stack and calls [`handle_exception`] with the vector's
//! number; synchronous exceptions from EL0 (system calls above all) take a
//! shorter path, [`handle_lower_sync`], that saves the callee-saved
//! registers only when the thread is switched out. IRQs go to the platform's
//! interrupt controller. Anything else from EL1 is a fault in the kernel: it
//! is reported with the exception class, ESR, FAR, ELR and all registers,
//! and the machine stops. Every entry is counted (`stats`).

use aarch64_cpu::registers::{Readable, Writeable, ESR_EL1, FAR_EL1, VBAR_EL1};
use core::arch::global_asm;
use tock_registers::LocalRegisterCopy;

/// Saved registers, in the order the vector code stores them.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TrapFrame {
    /// x0..x30.
    pub x: [u64; 31],
    /// The EL0 stack pointer.
    pub sp_el0: u64,
    /// Where the exception was taken (ELR_EL1).
    pub elr: u64,
    /// PSTATE at the exception (SPSR_EL1).
    pub spsr: u64,
}

impl TrapFrame {
    /// All registers zero.
    pub const fn zeroed() -> TrapFrame {
        TrapFrame { x: [0; 31], sp_el0: 0, elr: 0, spsr: 0 }
    }

    /// A system call's arguments, x0-x5 (its number is x8).
    #[inline(always)]
    pub fn args(&self) -> &[u64; 6] {
        self.x.first_chunk().unwrap_or(&[0; 6])
    }
}

const FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();

impl TrapFrame {
    /// Copy `src` into `self`. A context switch does this twice; the
    /// soft-float kernel's `memcpy` would take 136 instructions for it, this
    /// takes 34.
    #[inline(always)]
    pub fn copy_from(&mut self, src: &TrapFrame) {
        // SAFETY: both are valid, distinct (one is borrowed mutably) 272-byte
        // frames; the asm reads `src` and writes `self` within their size,
        // with 16-byte steps on 8-byte aligned addresses.
        unsafe {
            core::arch::asm!(
                ".rept 17",
                "ldp {a}, {b}, [{s}], #16",
                "stp {a}, {b}, [{d}], #16",
                ".endr",
                s = inout(reg) src as *const TrapFrame => _,
                d = inout(reg) self as *mut TrapFrame => _,
                a = out(reg) _,
                b = out(reg) _,
                options(nostack),
            );
        }
    }
}

impl TrapFrame {
    /// Set every register to zero (the soft-float kernel's `memset` would
    /// take about 100 instructions, this 17).
    #[inline(always)]
    pub fn clear(&mut self) {
        // SAFETY: writes exactly the 272 bytes of the frame `self` borrows
        // mutably, in 16-byte steps from an 8-byte aligned address.
        unsafe {
            core::arch::asm!(
                ".rept 17",
                "stp xzr, xzr, [{d}], #16",
                ".endr",
                d = inout(reg) self as *mut TrapFrame => _,
                options(nostack),
            );
        }
    }
}

const _: () = assert!(FRAME_SIZE == 17 * 16, "TrapFrame::copy_from and clear move 17 pairs of registers");
const _: () = assert!(FRAME_SIZE.is_multiple_of(16), "the stack pointer must stay 16-byte aligned");

/// The vector a handler was entered through: (origin, kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// From EL1 while using SP_EL0 (never used by this kernel).
    CurrentSp0,
    /// From EL1 on its own stack: the kernel.
    CurrentSpx,
    /// From EL0 in AArch64: user space.
    Lower64,
    /// From EL0 in AArch32 (not supported).
    Lower32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Sync,
    Irq,
    Fiq,
    SError,
}

fn decode(vector: u64) -> (Origin, Kind) {
    let origin = match vector / 4 {
        0 => Origin::CurrentSp0,
        1 => Origin::CurrentSpx,
        2 => Origin::Lower64,
        _ => Origin::Lower32,
    };
    let kind = match vector % 4 {
        0 => Kind::Sync,
        1 => Kind::Irq,
        2 => Kind::Fiq,
        _ => Kind::SError,
    };
    (origin, kind)
}

global_asm!(
    r#"
.macro VENTRY num
    .balign 0x80
    sub     sp, sp, #{frame}
    stp     x0, x1, [sp, #0]
    .if \num == 8
    b       lower_sync_entry
    .else
    mov     x0, #\num
    b       save_and_handle
    .endif
.endm

    .section .text.vectors, "ax"
    .balign 0x800
    .global exception_vectors
    .type exception_vectors, %function
exception_vectors:
    VENTRY 0
    VENTRY 1
    VENTRY 2
    VENTRY 3
    VENTRY 4
    VENTRY 5
    VENTRY 6
    VENTRY 7
    VENTRY 8
    VENTRY 9
    VENTRY 10
    VENTRY 11
    VENTRY 12
    VENTRY 13
    VENTRY 14
    VENTRY 15
    .size exception_vectors, . - exception_vectors

.macro SAVE_CALLER_SAVED
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    str     x18, [sp, #144]
    mrs     x2, sp_el0
    stp     x30, x2, [sp, #240]
    mrs     x2, elr_el1
    mrs     x3, spsr_el1
    stp     x2, x3, [sp, #256]
.endm

// x19-x29: callee-saved, so every Rust function hands them back unchanged.
.macro SAVE_CALLEE_SAVED
    stp     x19, x20, [sp, #152]
    stp     x21, x22, [sp, #168]
    stp     x23, x24, [sp, #184]
    stp     x25, x26, [sp, #200]
    stp     x27, x28, [sp, #216]
    str     x29, [sp, #232]
.endm

.macro RESTORE_CALLEE_SAVED base
    ldp     x19, x20, [\base, #152]
    ldp     x21, x22, [\base, #168]
    ldp     x23, x24, [\base, #184]
    ldp     x25, x26, [\base, #200]
    ldp     x27, x28, [\base, #216]
    ldr     x29, [\base, #232]
.endm

// Restores x0 last, so `base` may be x0; pops the frame on the stack
// (which `base` need not be: see `exception_return`).
.macro RESTORE_CALLER_SAVED_AND_ERET base
    ldp     x2, x3, [\base, #256]
    msr     elr_el1, x2
    msr     spsr_el1, x3
    ldp     x30, x2, [\base, #240]
    msr     sp_el0, x2
    ldr     x18, [\base, #144]
    ldp     x2, x3, [\base, #16]
    ldp     x4, x5, [\base, #32]
    ldp     x6, x7, [\base, #48]
    ldp     x8, x9, [\base, #64]
    ldp     x10, x11, [\base, #80]
    ldp     x12, x13, [\base, #96]
    ldp     x14, x15, [\base, #112]
    ldp     x16, x17, [\base, #128]
    ldp     x0, x1, [\base, #0]
    add     sp, sp, #{frame}
    eret
.endm

.type save_and_handle, %function
save_and_handle:
    SAVE_CALLER_SAVED
    SAVE_CALLEE_SAVED
    mov     x1, sp
    bl      {handler}
// Leave through the frame at x0: the one on the stack, or, after a thread
// switch, the next thread's saved frame (restored from where it lies, not
// copied to the stack first). The stack frame is popped either way.
    .global exception_return
exception_return:
    RESTORE_CALLEE_SAVED x0
    RESTORE_CALLER_SAVED_AND_ERET x0
    .size save_and_handle, . - save_and_handle

// Synchronous exceptions from EL0 (system calls, faults) save only what the
// handler may clobber. Only when the thread is to be switched out are the
// callee-saved registers stored too, completing the frame.
.type lower_sync_entry, %function
lower_sync_entry:
    SAVE_CALLER_SAVED
    // IPC calls and returns nearly always switch threads: complete the
    // frame at once and try the IPC fast path.
    // (x9 is saved: free to use.) x8 / 2 == ipc_call / 2: one of the two.
    lsr     x9, x8, #1
    cmp     x9, #{ipc_call} / 2
    b.eq    .Lipc
    mov     x0, sp
    bl      {lower_sync}
    cbnz    x0, .Lswitch
    RESTORE_CALLER_SAVED_AND_ERET sp
.Lswitch:
    SAVE_CALLEE_SAVED
    mov     x0, sp
    bl      {switch}
    b       exception_return
.Lipc:
    // A handler ending its call (ipc_return: x8 odd) is not saved when the
    // fast path takes it, so that is tried before the frame is completed.
    tbz     x8, #0, .Lipc_full
    mov     x0, sp
    bl      {ipc_return}
    cbnz    x0, exception_return
.Lipc_full:
    SAVE_CALLEE_SAVED
    mov     x0, sp
    bl      {ipc}
    b       exception_return
    .size lower_sync_entry, . - lower_sync_entry
"#,
    frame = const FRAME_SIZE,
    handler = sym handle_exception,
    lower_sync = sym handle_lower_sync,
    switch = sym switch_and_leave,
    ipc = sym handle_ipc,
    ipc_return = sym handle_ipc_return,
    ipc_call = const chcore_abi::Syscall::IpcCall as u64,
);

extern "C" {
    static exception_vectors: u8;
}

/// Point VBAR_EL1 at the vectors.
pub fn init() {
    let base = core::ptr::addr_of!(exception_vectors) as u64;
    VBAR_EL1.set(base);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

extern "C" {
    static exception_return: u8;
}

/// Leave the kernel through `frame` (to a user thread or the idle loop),
/// discarding the current kernel stack.
///
/// The frame is restored from where it lies, never copied to the stack top:
/// it may itself be a local near the top of this stack (the scheduler's
/// `start` keeps its idle frame there), and copying it onto the slot it
/// overlaps once turned the idle frame of every secondary CPU into zeros,
/// sending those CPUs to EL0 at address 0 in an endless fault loop.
///
/// # Safety
/// `frame` must point to a valid frame that nothing writes until this
/// CPU's next exception: a local of the caller's (the stack below the new
/// stack pointer is not written again: IRQs are masked and
/// `exception_return` only loads), or a running thread's saved frame.
pub unsafe fn return_to(frame: *const TrapFrame) -> ! {
    let top = super::smp::stack_top(super::smp::cpu_id()) as usize;
    // `exception_return` pops one frame's worth of stack: start it that far
    // below the top so that the CPU leaves with an empty stack.
    let sp = top - FRAME_SIZE;
    // SAFETY: nothing on this CPU's stack is needed once we jump (the kernel
    // keeps no state on the stack between exceptions); `exception_return`
    // loads the registers from `frame` (valid and unchanged, by the
    // caller's promise) without writing memory, pops and `eret`s, never
    // coming back.
    unsafe {
        core::arch::asm!("mov sp, {sp}", "mov x0, {f}", "b {ret}", sp = in(reg) sp, f = in(reg) frame, ret = sym exception_return, options(noreturn));
    }
}

/// Exception syndrome classes we act on (ESR_ELx.EC, ARM ARM D19.2.37).
mod ec {
    use aarch64_cpu::registers::ESR_EL1::EC::Value;
    pub const FP_ACCESS: u64 = Value::TrappedFP as u64;
    pub const SVC64: u64 = Value::SVC64 as u64;
    pub const IABT_LOWER: u64 = Value::InstrAbortLowerEL as u64;
    pub const DABT_LOWER: u64 = Value::DataAbortLowerEL as u64;
}

/// The exception class of a syndrome (ESR_EL1.EC).
#[inline(always)]
fn class_of(esr: u64) -> u64 {
    LocalRegisterCopy::<u64, ESR_EL1::Register>::new(esr).read(ESR_EL1::EC)
}

tock_registers::register_bitfields! {u64,
    /// The ISS of an instruction or data abort (Arm ARM D17.2.37).
    AbortIss [
        /// The data access was a write (data aborts only).
        WNR OFFSET(6) NUMBITS(1) [],
        /// The fault status code without its level bits (xFSC[5:2]).
        FAULT OFFSET(2) NUMBITS(4) [
            Translation = 0b0001,
            Permission = 0b0011
        ]
    ]
}

const _: () = assert!(
    (chcore_abi::Syscall::IpcCall as u64).is_multiple_of(2)
        && chcore_abi::Syscall::IpcReturn as u64 == chcore_abi::Syscall::IpcCall as u64 + 1,
    "the EL0 sync entry finds both IPC calls with one shift and compare"
);

/// A synchronous exception from EL0: a system call or a fault. `frame` holds
/// all but x19-x29 (see the vector code). Returns whether the thread is to
/// be switched out: then the vector code completes the frame and calls
/// [`switch_and_leave`], still under the big kernel lock.
extern "C" fn handle_lower_sync(frame: &mut TrapFrame) -> bool {
    crate::stats::entry();
    lower_sync(frame)
}

/// [`handle_lower_sync`] once the entry is counted.
#[inline(always)]
fn lower_sync(frame: &mut TrapFrame) -> bool {
    let esr = ESR_EL1.get();
    let class = class_of(esr);
    let held = if class == ec::SVC64 { crate::syscall::dispatch(frame) } else { Some(user_fault(class, esr, frame)) };
    if crate::sched::need_switch() {
        // The switch happens under the lock; `switch_and_leave` releases it.
        held.unwrap_or_else(crate::bkl::Guard::take).keep();
        return true;
    }
    // Released here, before the return to user space.
    drop(held);
    false
}

/// `ipc_call` or `ipc_return` (by x8; the exception class is checked
/// here), with a complete frame: the IPC fast path for a call (a return
/// has tried it in [`handle_ipc_return`]), else the general path.
/// Returns the frame to leave through (see `exception_return`).
extern "C" fn handle_ipc(frame: &mut TrapFrame) -> *const TrapFrame {
    crate::stats::entry();
    if frame.x[8] == chcore_abi::Syscall::IpcCall as u64 && ESR_EL1.read(ESR_EL1::EC) == ec::SVC64 {
        // Outside the big kernel lock: see `connection::fast_call_path`.
        if let Some(next) = crate::object::connection::fast_call_path(frame) {
            return next;
        }
    }
    if lower_sync(frame) {
        return switch_and_leave(frame);
    }
    frame
}

/// `ipc_return` (by x8) with x19-x29 not saved yet: the fast path only,
/// which drops the handler's registers anyway. Returns the frame to leave
/// through, or null: then the vector completes the frame and goes through
/// [`handle_ipc`].
extern "C" fn handle_ipc_return(frame: &TrapFrame) -> *const TrapFrame {
    if ESR_EL1.read(ESR_EL1::EC) != ec::SVC64 {
        return core::ptr::null();
    }
    let next = crate::object::connection::fast_return_path(frame);
    // Counted here only when taken: otherwise `handle_ipc` counts it.
    match next {
        Some(next) => {
            crate::stats::entry();
            next
        }
        None => core::ptr::null(),
    }
}

/// Second half of [`handle_lower_sync`] when a switch is due: `frame` is
/// complete now. Returns the frame to leave through.
extern "C" fn switch_and_leave(frame: &mut TrapFrame) -> *const TrapFrame {
    let next = crate::sched::switch(frame);
    crate::bkl::release();
    next
}

/// A fault or trapped instruction from EL0 (exception class `class`),
/// handled under the big kernel lock, which it returns held.
#[cold]
#[inline(never)]
fn user_fault(class: u64, esr: u64, frame: &TrapFrame) -> crate::bkl::Guard {
    let held = crate::bkl::Guard::take();
    match class {
        ec::DABT_LOWER | ec::IABT_LOWER => {
            let far = FAR_EL1.get();
            let iss = LocalRegisterCopy::<u64, AbortIss::Register>::new(esr);
            // At whatever level of the walk.
            let translation = iss.matches_all(AbortIss::FAULT::Translation);
            let permission = iss.matches_all(AbortIss::FAULT::Permission);
            let write = class == ec::DABT_LOWER && iss.is_set(AbortIss::WNR);
            let exec = class == ec::IABT_LOWER;
            crate::fault::user_abort(far, frame.elr, translation, permission, write, exec);
        }
        // The thread's first FP/SIMD instruction (see `context`): turn FP
        // on for it and run the instruction again.
        ec::FP_ACCESS => {
            if !crate::sched::fp_first_use() {
                crate::fault::user_exception("out of kernel memory for FP/SIMD state", class, frame.elr);
            }
        }
        class => crate::fault::user_exception(class_name(class), class, frame.elr),
    }
    held
}

/// Every other exception, with a full frame: interrupts, anything from EL1,
/// AArch32 code at EL0.
extern "C" fn handle_exception(vector: u64, frame: &mut TrapFrame) -> *const TrapFrame {
    let (origin, kind) = decode(vector);
    if origin == Origin::CurrentSpx && kind != Kind::Irq {
        fatal(origin, kind, frame);
    }
    // Everything else (user interrupts, interrupts in the idle loop or in
    // early boot) runs under the big kernel lock.
    crate::bkl::acquire();
    crate::stats::entry();
    match (origin, kind) {
        (Origin::CurrentSpx | Origin::Lower64, Kind::Irq) => {
            crate::stats::interrupt();
            crate::plat::handle_irq()
        }
        (Origin::Lower64 | Origin::Lower32, kind) if kind != Kind::Irq => {
            crate::fault::user_exception("exception from a lower exception level", vector, frame.elr)
        }
        (origin, kind) => fatal(origin, kind, frame),
    }
    let next = crate::sched::on_exception_return(frame);
    crate::bkl::release();
    next
}

/// Name of an exception class (ESR_ELx.EC, ARM ARM D19.2.37).
fn class_name(ec: u64) -> &'static str {
    match ec {
        0x00 => "unknown reason (undefined instruction)",
        0x01 => "trapped WFI/WFE",
        0x07 => "access to SIMD/FP trapped",
        0x0E => "illegal execution state",
        0x15 => "SVC from AArch64",
        0x18 => "trapped MSR/MRS/system instruction",
        0x20 => "instruction abort from a lower EL",
        0x21 => "instruction abort from the same EL",
        0x22 => "PC alignment fault",
        0x24 => "data abort from a lower EL",
        0x25 => "data abort from the same EL",
        0x26 => "SP alignment fault",
        0x2F => "SError",
        0x30 | 0x31 => "breakpoint",
        0x32 | 0x33 => "software step",
        0x34 | 0x35 => "watchpoint",
        0x3C => "BRK instruction",
        _ => "other",
    }
}

fn fatal(origin: Origin, kind: Kind, frame: &TrapFrame) -> ! {
    crate::arch::irq_disable();
    let esr = ESR_EL1.get();
    let ec = class_of(esr);
    let far = FAR_EL1.get();
    let say = |a: core::fmt::Arguments| crate::console::emergency_println(a);
    say(format_args!("[FATAL] unexpected {kind:?} exception from {origin:?}: {}", class_name(ec)));
    say(format_args!("[FATAL] EC={ec:#04x} ESR={esr:#018x} FAR={far:#018x} ELR={:#018x}", frame.elr));
    say(format_args!("[FATAL] SPSR={:#010x} SP_EL0={:#018x} DAIF={:#x}", frame.spsr, frame.sp_el0, super::daif()));
    for (i, pair) in frame.x.chunks(2).enumerate() {
        match pair {
            [a, b] => say(format_args!("[FATAL] x{:<2}={a:#018x} x{:<2}={b:#018x}", 2 * i, 2 * i + 1)),
            [a] => say(format_args!("[FATAL] x{:<2}={a:#018x}", 2 * i)),
            _ => {}
        }
    }
    say(format_args!("[FATAL] kernel stopped"));
    super::stop(super::ExitStatus::Failure)
}
