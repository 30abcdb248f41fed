//! The kernel heap: `buddy_system_allocator`'s heap with free lists of
//! small blocks in front of it.
//!
//! Creating and ending processes, connections and PMOs allocates and frees
//! many small objects; the buddy heap splits and merges blocks for each of
//! them (a hundred or more instructions a time). Freed blocks of up to
//! [`MAX_CACHED`] bytes are kept instead on a list per size (the buddy
//! heap's own sizes: powers of two from 8 bytes), at most [`PER_CLASS`] per
//! size, and handed out again first. A block on a list counts as free: the
//! statistics add them back, and if the buddy heap ever cannot satisfy an
//! allocation the lists are given back to it and the allocation retried.

use buddy_system_allocator::LockedHeap;
use core::alloc::{GlobalAlloc, Layout};
use spin::Mutex;

/// Largest block kept on a free list.
const MAX_CACHED: usize = 2048;
/// Size classes: 8, 16, ..., `MAX_CACHED` bytes.
const CLASSES: usize = (MAX_CACHED.trailing_zeros() - MIN_SHIFT + 1) as usize;
const MIN_SHIFT: u32 = 3;
/// Blocks kept per class at most (so under 64 x (8 B + 16 B + ... + 2 KiB) = 256 KiB in all).
const PER_CLASS: usize = 64;

/// The block size the buddy heap uses for `layout` (its rounding), as a
/// class index, if it is small enough to keep.
fn class(layout: &Layout) -> Option<usize> {
    let size = layout.size().max(layout.align()).max(1 << MIN_SHIFT).next_power_of_two();
    (size <= MAX_CACHED).then(|| (size.trailing_zeros() - MIN_SHIFT) as usize)
}

fn class_layout(c: usize) -> Layout {
    let size = 1usize << (c as u32 + MIN_SHIFT);
    // A power of two aligned to 8: always a valid layout.
    Layout::from_size_align(size, 8).unwrap_or(Layout::new::<usize>())
}

struct Lists {
    /// First free block of each class (0: none); each block's first word
    /// holds the address of the next.
    heads: [usize; CLASSES],
    counts: [usize; CLASSES],
    /// Bytes on all lists.
    bytes: usize,
}

/// The global allocator.
pub struct Heap {
    buddy: LockedHeap<32>,
    lists: Mutex<Lists>,
}

impl Heap {
    /// An empty heap; memory comes with [`Heap::add`].
    pub const fn empty() -> Heap {
        Heap {
            buddy: LockedHeap::empty(),
            lists: Mutex::new(Lists { heads: [0; CLASSES], counts: [0; CLASSES], bytes: 0 }),
        }
    }

    /// Give `[start, end)` to the heap.
    ///
    /// # Safety
    /// The range must be unused memory, mapped read/write, owned by the heap
    /// from now on.
    pub unsafe fn add(&self, start: usize, end: usize) {
        // SAFETY: the caller hands over the range (see above).
        unsafe { self.buddy.lock().add_to_heap(start, end) };
    }

    /// (bytes in the heap, bytes allocated), blocks on the free lists
    /// counted as free.
    pub fn stats(&self) -> (usize, usize) {
        let cached = self.lists.lock().bytes;
        let h = self.buddy.lock();
        (h.stats_total_bytes(), h.stats_alloc_actual().saturating_sub(cached))
    }

    /// Give every listed block back to the buddy heap.
    fn flush(&self) {
        let mut lists = self.lists.lock();
        for c in 0..CLASSES {
            while lists.heads[c] != 0 {
                let block = lists.heads[c];
                // SAFETY: `block` is a free block of class `c` that
                // `dealloc` put on this list; its first word is the link.
                lists.heads[c] = unsafe { *(block as *const usize) };
                // SAFETY: the block came from the buddy heap with a layout
                // of this class's size, which is all it uses to free it.
                unsafe { self.buddy.dealloc(block as *mut u8, class_layout(c)) };
            }
            lists.counts[c] = 0;
        }
        lists.bytes = 0;
    }
}

// SAFETY: blocks come from the buddy heap, which rounds every request up to
// the power of two this code calls its class and aligns blocks to their
// size; a listed block is handed out only for a layout of the same class,
// so it is big and aligned enough. The lists are behind a lock.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if let Some(c) = class(&layout) {
            let mut lists = self.lists.lock();
            let block = lists.heads[c];
            if block != 0 {
                // SAFETY: a free block on list `c`; its first word is the link.
                lists.heads[c] = unsafe { *(block as *const usize) };
                lists.counts[c] -= 1;
                lists.bytes -= 1 << (c as u32 + MIN_SHIFT);
                return block as *mut u8;
            }
        }
        // SAFETY: forwarded as is.
        let p = unsafe { self.buddy.alloc(layout) };
        if !p.is_null() {
            return p;
        }
        // The blocks on the lists may be what is missing.
        self.flush();
        // SAFETY: forwarded as is.
        unsafe { self.buddy.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(c) = class(&layout) {
            let mut lists = self.lists.lock();
            if lists.counts[c] < PER_CLASS {
                // SAFETY: the caller gives the block up; it holds at least
                // one word (classes start at 8 bytes) and is 8-aligned.
                unsafe { *(ptr as *mut usize) = lists.heads[c] };
                lists.heads[c] = ptr as usize;
                lists.counts[c] += 1;
                lists.bytes += 1 << (c as u32 + MIN_SHIFT);
                return;
            }
        }
        // SAFETY: forwarded as is.
        unsafe { self.buddy.dealloc(ptr, layout) }
    }
}
