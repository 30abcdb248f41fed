//! Threads of the calling cap_group, each with its own stack.

use crate::sys::{self, Slot};
use chcore_abi::{perm, slot, Error, PmoKind};
use core::sync::atomic::{AtomicU64, Ordering};

/// Where thread stacks go: one 64 KiB slot each, from here up.
const STACKS_BASE: u64 = 0x3000_0000;
/// Bytes of stack per thread.
pub const STACK_SIZE: u64 = 64 << 10;
/// Most threads started through this module.
pub const MAX_THREADS: u64 = 4096;

static NEXT: AtomicU64 = AtomicU64::new(0);

/// Start `entry(arg)` on a new thread of this cap_group with a stack of its
/// own (allocated on first touch); returns the thread's capability slot.
pub fn spawn(entry: extern "C" fn(u64) -> !, arg: u64) -> Result<Slot, Error> {
    let i = NEXT.fetch_add(1, Ordering::SeqCst);
    if i >= MAX_THREADS {
        return Err(Error::TableFull);
    }
    let base = STACKS_BASE + i * STACK_SIZE;
    let stack = sys::create_pmo(STACK_SIZE, PmoKind::Anonym)?;
    sys::map_pmo(slot::SELF_CAP_GROUP, stack, base, perm::READ | perm::WRITE)?;
    // The mapping keeps the stack.
    sys::cap_delete(stack)?;
    sys::create_thread(slot::SELF_CAP_GROUP, entry as *const () as u64, base + STACK_SIZE, arg)
}
