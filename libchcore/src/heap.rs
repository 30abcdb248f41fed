//! The program heap: an ANONYM PMO mapped at a fixed address. Its pages are
//! allocated by the kernel on first touch, so a large heap costs nothing
//! until it is used.

use crate::sync::Mutex;
use buddy_system_allocator::Heap;
use chcore_abi::{perm, slot, PmoKind};
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

/// The allocator behind a lock that yields under contention (the
/// allocator crate's own `LockedHeap` spins).
pub struct YieldingHeap(Mutex<Heap<32>>);

// SAFETY: allocation and deallocation go through the buddy allocator under
// the lock; it hands out disjoint blocks of the heap region.
unsafe impl GlobalAlloc for YieldingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0.lock().alloc(layout).map_or(core::ptr::null_mut(), |p| p.as_ptr())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            self.0.lock().dealloc(p, layout);
        }
    }
}

/// Where the heap lives.
pub const HEAP_BASE: u64 = 0x1000_0000;
/// How big it may grow.
pub const HEAP_SIZE: u64 = 64 << 20;

#[global_allocator]
static HEAP: YieldingHeap = YieldingHeap(Mutex::new(Heap::empty()));

/// In a spawned copy: our data is a snapshot of the parent's, so the
/// allocator describes the parent's heap (and its lock may look taken by a
/// parent thread). Start over with a heap of our own at the same place.
pub fn reset_in_child() {
    // SAFETY: the child has one thread, which runs this first; the copied
    // lock state belongs to parent threads that do not exist here.
    unsafe { HEAP.0.force_unlock() };
    *HEAP.0.lock() = Heap::empty();
    init();
}

/// Map the heap and hand it to the allocator. Returns false if the kernel
/// refused (the program then runs without a heap).
pub fn init() -> bool {
    let Ok(pmo) = crate::sys::create_pmo(HEAP_SIZE, PmoKind::Anonym) else { return false };
    if crate::sys::map_pmo(slot::SELF_CAP_GROUP, pmo, HEAP_BASE, perm::READ | perm::WRITE).is_err() {
        return false;
    }
    // SAFETY: `[HEAP_BASE, HEAP_BASE + HEAP_SIZE)` was just mapped read/write
    // for this cap_group and nothing else uses it.
    unsafe { HEAP.0.lock().init(HEAP_BASE as usize, HEAP_SIZE as usize) };
    true
}
