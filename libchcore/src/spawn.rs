//! Start a copy of the running program in a new cap_group, at another entry
//! function: its code and read-only data are copied, its writable data is a
//! snapshot of ours, it gets a fresh stack and heap. (Until procmgr loads
//! programs from a ramdisk, this is how a program gets a second process.)

use crate::sys::{self, Slot};
use chcore_abi::{perm, Error, PmoKind, Rights};
use core::sync::atomic::{AtomicU64, Ordering};

extern "C" {
    static __user_text_start: u8;
    static __user_text_end: u8;
    static __user_rodata_start: u8;
    static __user_rodata_end: u8;
    static __user_data_start: u8;
    static __user_data_end: u8;
}

/// Where the child's stack goes, and its size.
const CHILD_STACK_TOP: u64 = crate::process::STACK_TOP;
const CHILD_STACK_SIZE: u64 = 256 << 10;

/// The child's entry function, read by the child from its copy of our data.
static ENTRY: AtomicU64 = AtomicU64::new(0);

fn range(start: *const u8, end: *const u8) -> (u64, u64) {
    (start as u64, end as u64)
}

/// Start `entry(arg)` in a new cap_group called `name`; returns its slot and
/// its first thread's slot. `before_start(group)` runs before the thread
/// starts (to hand the child capabilities, say).
pub fn spawn_self(
    name: &str,
    entry: extern "C" fn(u64) -> !,
    arg: u64,
    before_start: impl FnOnce(Slot) -> Result<(), Error>,
) -> Result<(Slot, Slot), Error> {
    let group = sys::create_cap_group(name)?;
    ENTRY.store(entry as *const () as u64, Ordering::SeqCst);
    let sections = [
        (range(&raw const __user_text_start, &raw const __user_text_end), perm::READ | perm::EXEC),
        (range(&raw const __user_rodata_start, &raw const __user_rodata_end), perm::READ),
        (range(&raw const __user_data_start, &raw const __user_data_end), perm::READ | perm::WRITE),
    ];
    for ((start, end), p) in sections {
        if end <= start {
            continue;
        }
        let len = (end - start).div_ceil(4096) * 4096;
        let pmo = sys::create_pmo(len, PmoKind::Data)?;
        // SAFETY: `[start, end)` is one of our own loaded sections, readable.
        let bytes = unsafe { core::slice::from_raw_parts(start as *const u8, (end - start) as usize) };
        sys::write_pmo(pmo, 0, bytes)?;
        sys::map_pmo(group, pmo, start, p)?;
        // The child's mapping keeps the memory.
        sys::cap_delete(pmo)?;
    }
    let stack = sys::create_pmo(CHILD_STACK_SIZE, PmoKind::Anonym)?;
    sys::map_pmo(group, stack, CHILD_STACK_TOP - CHILD_STACK_SIZE, perm::READ | perm::WRITE)?;
    sys::cap_delete(stack)?;
    before_start(group)?;
    let thread = sys::create_thread(group, child_start as *const () as u64, CHILD_STACK_TOP, arg)?;
    Ok((group, thread))
}

/// First code of a spawned copy.
extern "C" fn child_start(arg: u64) -> ! {
    // The parent's lock notifications are not ours: a new epoch first.
    crate::sync::after_fork();
    crate::heap::reset_in_child();
    let entry = ENTRY.load(Ordering::SeqCst);
    // SAFETY: `spawn_self` stored an `extern "C" fn(u64) -> !` here just
    // before our data was copied from the parent.
    let f: extern "C" fn(u64) -> ! = unsafe { core::mem::transmute::<u64, extern "C" fn(u64) -> !>(entry) };
    f(arg)
}

/// Give the child `slot` with `rights`; returns the slot in the child.
pub fn give(group: Slot, slot: Slot, rights: Rights) -> Result<Slot, Error> {
    sys::cap_copy(slot, group, rights)
}
