//! Per-CPU counters a user can read (`cpu_stats`, shown by `top`): kernel
//! entries, interrupts, thread switches and idle time.
//!
//! Each CPU writes only its own counters, with plain loads and stores (no
//! atomic read-modify-write on the hot paths); readers on other CPUs may see
//! a figure a moment old, never a torn one.

use crate::arch::smp::MAX_CPUS;
use core::sync::atomic::AtomicU64;
use core::sync::atomic::Ordering::Relaxed;

/// One CPU's counters (in its `percpu` block).
pub struct Counters {
    entries: AtomicU64,
    interrupts: AtomicU64,
    switches: AtomicU64,
    /// Counter increments spent idle, up to `idle_since`.
    idle: AtomicU64,
    /// Counter value when the CPU last went idle; 0 while it runs a thread.
    idle_since: AtomicU64,
}

impl Counters {
    pub const fn new() -> Counters {
        Counters {
            entries: AtomicU64::new(0),
            interrupts: AtomicU64::new(0),
            switches: AtomicU64::new(0),
            idle: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
        }
    }
}

#[inline(always)]
fn mine() -> &'static Counters {
    &crate::percpu::this().stats
}

/// Add one to a counter only this CPU writes.
#[inline(always)]
fn bump(c: &AtomicU64) {
    c.store(c.load(Relaxed).wrapping_add(1), Relaxed);
}

/// The kernel was entered on this CPU.
#[inline(always)]
pub fn entry() {
    bump(&mine().entries);
}

/// This CPU took an interrupt.
#[inline(always)]
pub fn interrupt() {
    bump(&mine().interrupts);
}

/// This CPU changed threads.
#[inline(always)]
pub fn switch() {
    bump(&mine().switches);
}

/// This CPU has nothing to run from now on (called again while it stays
/// idle: nothing changes).
pub fn idle_start() {
    let c = mine();
    if c.idle_since.load(Relaxed) == 0 {
        c.idle_since.store(crate::arch::timer::counter().0.max(1), Relaxed);
    }
}

/// This CPU runs a thread again.
pub fn idle_end() {
    let c = mine();
    let since = c.idle_since.load(Relaxed);
    if since != 0 {
        let now = crate::arch::timer::counter().0;
        c.idle.store(c.idle.load(Relaxed) + now.saturating_sub(since), Relaxed);
        c.idle_since.store(0, Relaxed);
    }
}

/// The figures of `cpu` now.
pub fn snapshot(cpu: usize) -> Option<chcore_abi::CpuStats> {
    if cpu >= MAX_CPUS {
        return None;
    }
    let c = &crate::percpu::of(cpu).stats;
    let now = crate::arch::timer::counter().0;
    let since = c.idle_since.load(Relaxed);
    let idle = c.idle.load(Relaxed) + if since != 0 { now.saturating_sub(since) } else { 0 };
    let us = crate::arch::timer::count_to_us;
    Some(chcore_abi::CpuStats {
        entries: c.entries.load(Relaxed),
        interrupts: c.interrupts.load(Relaxed),
        switches: c.switches.load(Relaxed),
        idle_us: us(idle),
        now_us: us(now),
    })
}
