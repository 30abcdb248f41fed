//! Each CPU's local block: the data its hot paths touch (the scheduler's
//! `Fast` flags and the counters on every kernel entry, on the block's first
//! cache line; the running thread's lock on every switch), on cache lines
//! no other CPU writes, reached through one register
//! (`arch::smp::cpu_local`) instead of an index computed from the CPU id.

use crate::arch::smp::MAX_CPUS;

/// One CPU's block.
#[repr(C, align(64))]
pub struct Local {
    pub sched: crate::sched::Fast,
    pub stats: crate::stats::Counters,
    pub current: crate::sched::Current,
}

const _: () = assert!(
    core::mem::offset_of!(Local, stats) + core::mem::size_of::<crate::stats::Counters>() <= 64,
    "the flags and counters every entry touches share the block's first cache line"
);

static LOCALS: [Local; MAX_CPUS] = [const {
    Local {
        sched: crate::sched::Fast::new(),
        stats: crate::stats::Counters::new(),
        current: crate::sched::Current::new(),
    }
}; MAX_CPUS];

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
