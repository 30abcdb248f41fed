//! Per-CPU identity and waking secondary cores.

use aarch64_cpu::registers::{Readable, Writeable, TPIDR_EL1};

/// Most CPUs the kernel runs on (kernel/link.ld reserves a stack for each).
pub const MAX_CPUS: usize = 8;
const _: () = assert!(MAX_CPUS.is_power_of_two(), "cpu_id masks with MAX_CPUS - 1");
/// Bytes of kernel stack per CPU (kernel/link.ld).
pub const STACK_SIZE: usize = 64 << 10;

extern "C" {
    static __stacks_start: u8;
}

/// Low bits of TPIDR_EL1 that hold the CPU id; the rest is the address of
/// the CPU's local block, aligned to 64 bytes.
const ID_BITS: usize = 63;
const _: () = assert!(MAX_CPUS - 1 <= ID_BITS, "CPU ids fit below the block's alignment");

/// This CPU's logical id (0 is the boot CPU), kept in TPIDR_EL1.
#[inline(always)]
pub fn cpu_id() -> usize {
    // Always below MAX_CPUS (`set_cpu_id` checks); the mask tells the
    // compiler so, and per-CPU array accesses need no bounds check.
    TPIDR_EL1.get() as usize & (MAX_CPUS - 1)
}

/// The address of this CPU's local block (0 until [`set_cpu_id`]): reached
/// with one register read, no arithmetic on the id (the counters of every
/// kernel entry live there).
#[inline(always)]
pub fn cpu_local() -> usize {
    TPIDR_EL1.get() as usize & !ID_BITS
}

/// Record this CPU's logical id and its local block (64-byte aligned), both
/// in TPIDR_EL1, before the CPU takes its first exception.
pub fn set_cpu_id(id: usize, local: usize) {
    assert!(id < MAX_CPUS, "CPU id {id} out of range");
    assert!(local & ID_BITS == 0, "CPU local block {local:#x} not 64-byte aligned");
    TPIDR_EL1.set((local | id) as u64);
}

/// Top of CPU `id`'s kernel stack.
pub fn stack_top(id: usize) -> u64 {
    core::ptr::addr_of!(__stacks_start) as u64 + ((id + 1) * STACK_SIZE) as u64
}

/// Physical address where a woken secondary core starts (`boot`'s
/// `_secondary_start`, linked at its physical address).
pub fn secondary_entry() -> u64 {
    let pa: u64;
    // SAFETY: loads a link-time constant from the literal pool; the symbol
    // is a physical address, out of reach of PC-relative addressing.
    unsafe { core::arch::asm!("ldr {}, =_secondary_start", out(reg) pa, options(nomem, nostack, pure)) };
    pa
}

/// PSCI function CPU_ON, SMC64 calling convention (PSCI 1.1, DEN0022, 5.1.4).
#[cfg_attr(not(feature = "virt"), allow(dead_code))]
const PSCI_CPU_ON_64: u64 = 0xC400_0003;

/// Ask the firmware to start the core with affinity `mpidr` at physical
/// address `entry`. Returns the PSCI status (0 = success).
#[cfg_attr(not(feature = "virt"), allow(dead_code))]
pub fn psci_cpu_on(use_smc: bool, mpidr: u64, entry: u64) -> i64 {
    let ret: i64;
    // SAFETY: a PSCI call into the hypervisor or secure monitor; the
    // firmware follows the SMC calling convention (x0-x3 in, x0 out, x4-x17
    // may be clobbered).
    unsafe {
        if use_smc {
            core::arch::asm!("smc #0", inlateout("x0") PSCI_CPU_ON_64 => ret, inlateout("x1") mpidr => _,
                inlateout("x2") entry => _, inlateout("x3") 0u64 => _, out("x4") _, out("x5") _, out("x6") _,
                out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _, out("x13") _,
                out("x14") _, out("x15") _, out("x16") _, out("x17") _, options(nostack));
        } else {
            core::arch::asm!("hvc #0", inlateout("x0") PSCI_CPU_ON_64 => ret, inlateout("x1") mpidr => _,
                inlateout("x2") entry => _, inlateout("x3") 0u64 => _, out("x4") _, out("x5") _, out("x6") _,
                out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _, out("x13") _,
                out("x14") _, out("x15") _, out("x16") _, out("x17") _, options(nostack));
        }
    }
    ret
}

/// Wake cores waiting in `wfe` (spin-table release).
#[cfg_attr(not(feature = "raspi3"), allow(dead_code))]
pub fn send_event() {
    aarch64_cpu::asm::sev();
}
