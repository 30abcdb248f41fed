//! Each CPU's local block: the data its hot paths touch on every kernel
//! entry (the scheduler's `Fast` flags, the counters), on one cache line of
//! its own, reached through one register (`arch::smp::cpu_local`) instead
//! of an index computed from the CPU id.

use crate::arch::smp::MAX_CPUS;

/// One CPU's block.
#[repr(C, align(64))]
pub struct Local {
    pub sched: crate::sched::Fast,
    pub stats: crate::stats::Counters,
}

const _: () = assert!(core::mem::size_of::<Local>() == 64, "a CPU's local block fills one cache line");

static LOCALS: [Local; MAX_CPUS] = [const { Local { sched: crate::sched::Fast::new(), stats: crate::stats::Counters::new() } }; MAX_CPUS];

/// The address of CPU `cpu`'s block, for `arch::smp::set_cpu_id`.
pub fn block_addr(cpu: usize) -> usize {
    &LOCALS[cpu] as *const Local as usize
}

/// This CPU's block.
#[inline(always)]
pub fn this() -> &'static Local {
    let p = crate::arch::smp::cpu_local() as *const Local;
    // SAFETY: every CPU sets its local block to `block_addr(its id)`, an
    // element of the static `LOCALS`, before it takes its first exception
    // or enters the scheduler (`kernel_main`, `secondary_main`); the block
    // is only accessed through atomics.
    unsafe { &*p }
}

/// CPU `cpu`'s block.
#[inline(always)]
pub fn of(cpu: usize) -> &'static Local {
    &LOCALS[cpu]
}
