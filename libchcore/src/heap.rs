//! The program heap: an ANONYM PMO mapped at a fixed address. Its pages are
//! allocated by the kernel on first touch, so a large heap costs nothing
//! until it is used.

use crate::sync::Mutex;
use buddy_system_allocator::Heap;
use chcore_abi::{perm, slot, PmoKind};
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

/// The allocator behind a lock that sleeps under contention
/// (`crate::sync::Mutex`; the allocator crate's own `LockedHeap` spins).
///
/// The heap is handed to the buddy allocator a piece at a time, doubling:
/// given all 64 MiB at once, the first small allocation splits the one big
/// block down to its size, and every split writes a free-list link half
/// way into the block, touching a page (and a page table) at +32 MiB,
/// +16 MiB, ... +4 KiB: about 80 KiB of memory for a program that
/// allocates a few bytes, most of what an idle process cost
/// (docs/memory.md).
pub struct LockedHeap(Mutex<Growing>);

/// The buddy allocator and how much of the heap region it has been given.
pub struct Growing {
    heap: Heap<32>,
    /// Bytes from `HEAP_BASE` handed to `heap` so far (0: no heap).
    given: usize,
}

/// The first piece handed to the allocator.
const FIRST_PIECE: usize = 4096;

impl Growing {
    /// Hand the allocator the next piece of the region, big enough for
    /// `layout` and at least as big as all it has; false when the region
    /// is used up (or was never mapped).
    fn grow(&mut self, layout: Layout) -> bool {
        if self.given == 0 {
            return false;
        }
        let want = layout.size().max(layout.align()).next_power_of_two().saturating_mul(2);
        let piece = want.max(self.given).min(HEAP_SIZE as usize - self.given);
        if piece == 0 {
            return false;
        }
        let start = HEAP_BASE as usize + self.given;
        // SAFETY: `[start, start + piece)` lies in the mapped heap region
        // (`given + piece <= HEAP_SIZE`) past everything handed over before,
        // so nothing else uses it.
        unsafe { self.heap.add_to_heap(start, start + piece) };
        self.given += piece;
        true
    }
}

// SAFETY: allocation and deallocation go through the buddy allocator under
// the lock; it hands out disjoint blocks of the heap region.
unsafe impl GlobalAlloc for LockedHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut g = self.0.lock();
        loop {
            if let Ok(p) = g.heap.alloc(layout) {
                return p.as_ptr();
            }
            if !g.grow(layout) {
                return core::ptr::null_mut();
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            self.0.lock().heap.dealloc(p, layout);
        }
    }
}

/// Where the heap lives.
pub const HEAP_BASE: u64 = 0x1000_0000;
/// How big it may grow.
pub const HEAP_SIZE: u64 = 64 << 20;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap(Mutex::new(Growing { heap: Heap::empty(), given: 0 }));

/// In a spawned copy: our data is a snapshot of the parent's, so the
/// allocator describes the parent's heap (and its lock may look taken by a
/// parent thread). Start over with a heap of our own at the same place.
pub fn reset_in_child() {
    // SAFETY: the child has one thread, which runs this first; the copied
    // lock state belongs to parent threads that do not exist here.
    unsafe { HEAP.0.force_unlock() };
    *HEAP.0.lock() = Growing { heap: Heap::empty(), given: 0 };
    init();
}

/// Map the heap and hand its first piece to the allocator. Returns false
/// if the kernel refused (the program then runs without a heap).
pub fn init() -> bool {
    let Ok(pmo) = crate::sys::create_pmo(HEAP_SIZE, PmoKind::Anonym) else { return false };
    if crate::sys::map_pmo(slot::SELF_CAP_GROUP, pmo, HEAP_BASE, perm::READ | perm::WRITE).is_err() {
        return false;
    }
    let mut g = HEAP.0.lock();
    // SAFETY: `[HEAP_BASE, HEAP_BASE + HEAP_SIZE)` was just mapped
    // read/write for this cap_group and nothing else uses it; the first
    // piece of it goes to the allocator now, the rest in `grow`.
    unsafe { g.heap.init(HEAP_BASE as usize, FIRST_PIECE) };
    g.given = FIRST_PIECE;
    true
}
