//! Physical page frames from a buddy allocator.
//!
//! A thin wrapper over `buddy_system_allocator::FrameAllocator` that speaks in
//! physical addresses and orders (a block of order `n` is `2^n` pages, aligned
//! to its size, as in ChCore's buddy system) and keeps the counts the kernel
//! reports. The free lists live on the kernel heap, so the heap must be up first.
//!
//! Single pages, by far the most common request (page tables, PMO pages),
//! go through a small cache in front of the buddy system: the buddy
//! allocator keeps its free lists in B-tree sets, so each of its operations
//! costs a few hundred instructions and heap traffic, while taking a page
//! from the cache or putting one back costs a few. The cache is refilled a
//! block of [`REFILL`] pages at a time; pages in it count as free, and it
//! is emptied back into the buddy system whenever a larger block cannot be
//! found, so it never makes an allocation fail.

use buddy_system_allocator::FrameAllocator;

use super::region::Region;
use super::{PAGE_SHIFT, PAGE_SIZE};

/// Largest order we hand out: blocks of 2^18 pages = 1 GiB.
pub const MAX_ORDER: usize = 18;

/// Free lists inside the buddy allocator. Far more than [`MAX_ORDER`] on
/// purpose: `buddy_system_allocator` 0.11 drops a block when two free buddies
/// of its top class merge (the merged block has no list to go to). With 32
/// classes that needs 2^32 free pages (16 TiB), beyond any RAM we map.
const BUDDY_CLASSES: usize = 32;

/// Why a frame operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Order above [`MAX_ORDER`].
    BadOrder,
    /// No free block of that order.
    OutOfMemory,
}

/// Single pages the cache holds at most.
pub const CACHE_PAGES: usize = 128;
/// Pages taken from the buddy system at once when the cache is empty.
pub const REFILL: usize = 16;

/// The physical page allocator.
pub struct Frames {
    buddy: FrameAllocator<BUDDY_CLASSES>,
    total_pages: u64,
    free_pages: u64,
    /// Free single pages (frame numbers) kept out of the buddy system.
    cache: [usize; CACHE_PAGES],
    cached: usize,
}

impl Default for Frames {
    fn default() -> Self {
        Self::new()
    }
}

impl Frames {
    /// An allocator with no memory.
    pub const fn new() -> Self {
        Frames { buddy: FrameAllocator::new(), total_pages: 0, free_pages: 0, cache: [0; CACHE_PAGES], cached: 0 }
    }

    /// Hand the whole pages inside `r` to the allocator. Page 0 is never used,
    /// so that a null physical address can never be handed out.
    pub fn add_region(&mut self, r: Region) {
        let first = super::align_up(r.start.max(PAGE_SIZE), PAGE_SIZE).unwrap_or(u64::MAX) >> PAGE_SHIFT;
        let end = super::align_down(r.end, PAGE_SIZE) >> PAGE_SHIFT;
        if first < end {
            self.buddy.add_frame(first as usize, end as usize);
            self.total_pages += end - first;
            self.free_pages += end - first;
        }
    }

    /// Allocate `2^order` contiguous pages aligned to their size; returns the physical address.
    pub fn alloc(&mut self, order: usize) -> Result<u64, FrameError> {
        if order > MAX_ORDER {
            return Err(FrameError::BadOrder);
        }
        let frame =
            if order == 0 { self.alloc_page() } else { self.alloc_block(order) }.ok_or(FrameError::OutOfMemory)?;
        self.free_pages -= 1 << order;
        Ok((frame as u64) << PAGE_SHIFT)
    }

    fn alloc_page(&mut self) -> Option<usize> {
        if self.cached == 0 {
            // A block at once: its other pages wait in the cache.
            if let Some(first) = self.buddy.alloc(REFILL) {
                for (i, slot) in self.cache[..REFILL - 1].iter_mut().enumerate() {
                    *slot = first + REFILL - 1 - i;
                }
                self.cached = REFILL - 1;
                return Some(first);
            }
            return self.buddy.alloc(1);
        }
        self.cached -= 1;
        Some(self.cache[self.cached])
    }

    fn alloc_block(&mut self, order: usize) -> Option<usize> {
        self.buddy.alloc(1 << order).or_else(|| {
            // Cached pages may be the missing buddies: give them back, retry.
            self.drain();
            self.buddy.alloc(1 << order)
        })
    }

    /// Give every cached page back to the buddy system.
    fn drain(&mut self) {
        for &f in &self.cache[..self.cached] {
            self.buddy.dealloc(f, 1);
        }
        self.cached = 0;
    }

    /// Return a block from [`Frames::alloc`] with the same order.
    pub fn free(&mut self, pa: u64, order: usize) {
        debug_assert!(order <= MAX_ORDER && pa.is_multiple_of(PAGE_SIZE << order));
        let frame = (pa >> PAGE_SHIFT) as usize;
        if order == 0 && self.cached < CACHE_PAGES {
            self.cache[self.cached] = frame;
            self.cached += 1;
        } else {
            self.buddy.dealloc(frame, 1 << order);
        }
        self.free_pages += 1 << order;
    }

    /// Pages handed to the allocator.
    pub fn total_pages(&self) -> u64 {
        self.total_pages
    }

    /// Pages currently free.
    pub fn free_pages(&self) -> u64 {
        self.free_pages
    }
}

/// Smallest order whose block holds `pages` pages.
pub const fn order_for_pages(pages: u64) -> usize {
    if pages <= 1 {
        0
    } else {
        (64 - (pages - 1).leading_zeros()) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_free_restores_counts_and_alignment() {
        let mut f = Frames::new();
        f.add_region(Region::new(0x4000_0000, 64 << 20));
        assert_eq!(f.total_pages(), (64 << 20) / PAGE_SIZE);
        for order in 0..=12 {
            let pa = f.alloc(order).unwrap();
            assert_eq!(pa % (PAGE_SIZE << order), 0, "order {order} block is aligned");
            assert!(pa >= 0x4000_0000 && pa + (PAGE_SIZE << order) <= 0x4000_0000 + (64 << 20));
            f.free(pa, order);
        }
        assert_eq!(f.free_pages(), f.total_pages());
    }

    #[test]
    fn exhaustion_is_an_error_not_a_panic() {
        let mut f = Frames::new();
        f.add_region(Region::new(0x10_0000, 16 * PAGE_SIZE));
        let blocks: Vec<u64> = (0..16).map(|_| f.alloc(0).unwrap()).collect();
        assert_eq!(f.alloc(0), Err(FrameError::OutOfMemory));
        assert_eq!(f.alloc(MAX_ORDER + 1), Err(FrameError::BadOrder));
        let mut sorted = blocks.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 16, "no page handed out twice");
        for pa in blocks {
            f.free(pa, 0);
        }
        assert_eq!(f.alloc(4).unwrap(), 0x10_0000, "buddies merged back into one block");
    }

    #[test]
    fn top_order_buddies_merge_without_loss() {
        // Two adjacent, aligned 1 GiB blocks (QEMU virt with -m 3G has this).
        let mut f = Frames::new();
        f.add_region(Region::new(0x4000_0000, 3 << 30));
        let pa = f.alloc(MAX_ORDER).unwrap();
        f.free(pa, MAX_ORDER);
        let mut n = 0;
        while f.alloc(0).is_ok() {
            n += 1;
        }
        assert_eq!(n, f.total_pages(), "every page can still be allocated");
    }

    #[test]
    fn page_zero_is_never_handed_out() {
        let mut f = Frames::new();
        f.add_region(Region::new(0, 8 * PAGE_SIZE));
        assert_eq!(f.total_pages(), 7);
        while let Ok(pa) = f.alloc(0) {
            assert_ne!(pa, 0);
        }
    }

    #[test]
    fn cached_pages_are_reused_and_never_block_a_larger_allocation() {
        let mut f = Frames::new();
        f.add_region(Region::new(0x10_0000, 64 * PAGE_SIZE));
        let pages: Vec<u64> = (0..64).map(|_| f.alloc(0).unwrap()).collect();
        assert_eq!(f.free_pages(), 0);
        for &pa in &pages {
            f.free(pa, 0);
        }
        assert_eq!(f.free_pages(), 64, "cached pages count as free");
        // The last page freed is the first handed out again.
        assert_eq!(f.alloc(0).unwrap(), pages[63]);
        f.free(pages[63], 0);
        // Every page is in the cache now, none in the buddy system: a
        // 64-page block is still found.
        assert_eq!(f.alloc(6).unwrap(), 0x10_0000);
        assert_eq!(f.free_pages(), 0);
        f.free(0x10_0000, 6);
        // A random mix of sizes against a model of which pages are in use.
        let mut rng = crate::testing::XorShift(7);
        let mut held: Vec<(u64, usize)> = Vec::new();
        for _ in 0..5000 {
            let x = rng.next_u64();
            if x.is_multiple_of(3) && !held.is_empty() {
                let (pa, order) = held.swap_remove((x as usize / 3) % held.len());
                f.free(pa, order);
                continue;
            }
            // Mostly single pages, now and then 2 or 4.
            let order = if x % 4 == 3 { (x % 3) as usize } else { 0 };
            if let Ok(pa) = f.alloc(order) {
                for &(qa, qo) in &held {
                    assert!(
                        pa + (PAGE_SIZE << order) <= qa || qa + (PAGE_SIZE << qo) <= pa,
                        "block {pa:#x} overlaps one in use"
                    );
                }
                held.push((pa, order));
            }
            let in_use: u64 = held.iter().map(|&(_, o)| 1u64 << o).sum();
            assert_eq!(f.free_pages() + in_use, 64);
        }
        for (pa, order) in held {
            f.free(pa, order);
        }
        assert_eq!(f.alloc(6).unwrap(), 0x10_0000, "everything merges back into one block");
    }

    #[test]
    fn order_for_pages_rounds_up() {
        assert_eq!(order_for_pages(0), 0);
        assert_eq!(order_for_pages(1), 0);
        assert_eq!(order_for_pages(2), 1);
        assert_eq!(order_for_pages(3), 2);
        assert_eq!(order_for_pages(1024), 10);
        assert_eq!(order_for_pages(1025), 11);
    }
}
