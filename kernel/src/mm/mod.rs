//! Physical memory: the buddy page allocator over all usable RAM, the kernel
//! heap, and page tables in real memory.
//!
//! Usable RAM is what the platform reports, minus firmware reservations, the
//! device tree, the kernel image (which includes the boot page tables and the
//! kernel stacks) and anything outside the boot linear map. The heap starts on
//! a small static area (the buddy allocator's free lists need a heap) and then
//! receives a block of pages from the buddy allocator.

mod heap;

use crate::plat::Machine;
use core::cell::UnsafeCell;
use kernel_core::mm::frames::{order_for_pages, FrameError, Frames};
use kernel_core::mm::pagetable::{TableMemory, ENTRIES};
use kernel_core::mm::region::{Region, RegionSet};
use kernel_core::mm::{phys_to_virt, PAGE_SHIFT, PAGE_SIZE};
use spin::Mutex;

static FRAMES: Mutex<Frames> = Mutex::new(Frames::new());
/// RAM as the platform reported it (for refusing device PMOs over RAM).
static RAM: Mutex<RegionSet<{ crate::plat::MAX_REGIONS }>> = Mutex::new(RegionSet::new());

#[global_allocator]
static HEAP: heap::Heap = heap::Heap::empty();

/// Heap for the allocator's own bookkeeping until pages can be handed over.
const BOOT_HEAP_SIZE: usize = 64 << 10;

#[repr(C, align(4096))]
struct BootHeap(UnsafeCell<[u8; BOOT_HEAP_SIZE]>);
// SAFETY: the area is handed to the heap allocator once, in `init`, on the
// boot CPU; afterwards only the allocator (behind its lock) touches it.
unsafe impl Sync for BootHeap {}
static BOOT_HEAP: BootHeap = BootHeap(UnsafeCell::new([0; BOOT_HEAP_SIZE]));

/// The heap gets 1/16 of usable memory, between these bounds.
const HEAP_MIN: u64 = 1 << 20;
const HEAP_MAX: u64 = 64 << 20;

/// Physical extent of the loaded kernel image `[start, end)`.
fn kernel_image() -> Region {
    let (start, end) = crate::arch::memory::kernel_image_phys();
    Region { start, end }
}

/// Hand usable RAM to the allocators and report it.
pub fn init(machine: &Machine) {
    // SAFETY: called once on the boot CPU before anything allocates; the
    // static area is exclusively the heap's from here on.
    unsafe { HEAP.add(BOOT_HEAP.0.get() as usize, BOOT_HEAP.0.get() as usize + BOOT_HEAP_SIZE) };

    crate::arch::mmu::disable_lower_half();
    *RAM.lock() = machine.memory;
    let image = kernel_image();
    let mut usable = machine.memory;
    let outside_map = Region { start: machine.linear_map_end, end: u64::MAX };
    let mut removals = machine.reserved.iter().chain([image, outside_map]);
    if removals.try_for_each(|r| usable.remove(r)).is_err() {
        panic!("memory map too fragmented ({} ranges max)", crate::plat::MAX_REGIONS);
    }
    usable.align_inward(PAGE_SIZE);

    let mut frames = FRAMES.lock();
    for r in usable.iter() {
        log::debug!("usable RAM {r:?}");
        frames.add_region(r);
    }
    let usable_bytes = frames.total_pages() << PAGE_SHIFT;
    log::info!("kernel image {image:?}, {} reserved range(s), RAM {:?}", machine.reserved.len(), machine.memory);
    log::info!("physical memory: {} MiB usable of {} MiB", usable_bytes >> 20, machine.memory.total() >> 20);

    let heap_bytes = (usable_bytes / 16).clamp(HEAP_MIN, HEAP_MAX);
    let order = order_for_pages(heap_bytes >> PAGE_SHIFT);
    match frames.alloc(order) {
        Ok(pa) => {
            let va = phys_to_virt(pa) as usize;
            // SAFETY: the block was just taken from the frame allocator, so
            // no one else owns it; it is mapped in the linear map.
            unsafe { HEAP.add(va, va + (PAGE_SIZE << order) as usize) };
            log::info!("kernel heap: {} KiB", (PAGE_SIZE << order) >> 10);
        }
        Err(e) => log::warn!("no memory for the kernel heap ({e:?}): only {} KiB", BOOT_HEAP_SIZE >> 10),
    }
}

/// Whether `[pa, pa + size)` touches RAM (wrapping ranges count as touching).
pub fn overlaps_ram(pa: u64, size: u64) -> bool {
    let Some(end) = pa.checked_add(size) else { return true };
    RAM.lock().iter().any(|r| pa < r.end && r.start < end)
}

/// Allocate `2^order` contiguous pages; returns their physical address.
pub fn alloc_pages(order: usize) -> Result<u64, FrameError> {
    FRAMES.lock().alloc(order)
}

/// Free pages from [`alloc_pages`].
pub fn free_pages(pa: u64, order: usize) {
    FRAMES.lock().free(pa, order)
}

/// Pages currently free.
pub fn free_page_count() -> u64 {
    FRAMES.lock().free_pages()
}

/// Kernel heap a system call must leave free: the rest of the kernel (exit
/// paths, the frame allocator's bookkeeping) must never find the heap empty.
const HEAP_RESERVE: usize = 512 << 10;

/// Whether a system call may allocate kernel memory now.
pub fn heap_has_room() -> bool {
    heap_free_for_calls() > 0
}

/// Kernel heap allocating calls may still take: what is free above the reserve.
pub fn heap_free_for_calls() -> usize {
    let (total, allocated) = HEAP.stats();
    total.saturating_sub(allocated).saturating_sub(HEAP_RESERVE)
}

/// Bytes currently allocated from the kernel heap (as the allocator rounds them).
#[cfg_attr(not(feature = "selftest"), allow(dead_code))]
pub fn heap_allocated() -> usize {
    HEAP.stats().1
}

/// Page tables kept in pages from the buddy allocator, reached through the linear map.
pub struct KernelTableMemory;

/// [`KernelTableMemory`] whose every table page is charged to a memory
/// account (a user address space's tables are its cap_group's memory: a
/// process cannot make the kernel spend pages on tables past its limit).
/// Tables allocated through one must be freed through one of the same
/// account. Freed tables are given back to the account all at once when it
/// drops (an address space that ends frees all its tables in one go).
pub struct ChargedTables<'a> {
    account: &'a kernel_core::account::Account,
    freed: u64,
}

impl<'a> ChargedTables<'a> {
    /// Tables charged to `account`.
    pub fn of(account: &'a kernel_core::account::Account) -> ChargedTables<'a> {
        ChargedTables { account, freed: 0 }
    }
}

impl Drop for ChargedTables<'_> {
    fn drop(&mut self) {
        if self.freed != 0 {
            self.account.uncharge_with_record(self.freed, self.freed * TABLE_KMEM);
        }
    }
}

/// Kernel memory a table page takes besides the page: its place in its
/// tree's list of tables (a vector, which may be twice as long as needed).
const TABLE_KMEM: u64 = 16;

impl TableMemory for ChargedTables<'_> {
    fn alloc_table(&mut self) -> Option<u64> {
        self.account.charge_with_record(1, TABLE_KMEM).ok()?;
        let pa = KernelTableMemory.alloc_table();
        if pa.is_none() {
            self.account.uncharge_with_record(1, TABLE_KMEM);
        }
        pa
    }

    fn free_table(&mut self, table: u64) {
        KernelTableMemory.free_table(table);
        self.freed += 1;
    }

    fn zero_table(&mut self, table: u64) {
        KernelTableMemory.zero_table(table);
    }

    fn read(&self, table: u64, index: usize) -> u64 {
        KernelTableMemory.read(table, index)
    }

    fn write(&mut self, table: u64, index: usize, value: u64) {
        KernelTableMemory.write(table, index, value);
    }

    fn next_nonzero(&self, table: u64, from: usize, end: usize) -> Option<usize> {
        KernelTableMemory.next_nonzero(table, from, end)
    }
}

/// Zero `pages` whole frames from `pa`.
///
/// # Safety
/// The frames must be owned by the caller (nothing else reads or writes them
/// meanwhile) and lie in the linear map.
pub unsafe fn zero_frames(pa: u64, pages: u64) {
    if pages == 0 {
        return;
    }
    // SAFETY: the caller owns the frames; through the linear map they are
    // `pages * PAGE_SIZE` bytes of normal memory from a page-aligned address.
    unsafe { crate::arch::memory::zero_pages(phys_to_virt(pa), pages * PAGE_SIZE) }
}

/// Copy the frame at `src` to the frame at `dst`.
///
/// # Safety
/// Both must be whole frames in the linear map; `dst` owned by the caller
/// alone, `src` not written meanwhile.
pub unsafe fn copy_frame(src: u64, dst: u64) {
    // SAFETY: as the caller promises; both addresses are page-aligned.
    unsafe { crate::arch::memory::copy_page(phys_to_virt(src), phys_to_virt(dst)) }
}

impl KernelTableMemory {
    fn entry(table: u64, index: usize) -> *mut u64 {
        assert!(index < ENTRIES, "page table index out of range");
        (phys_to_virt(table) as *mut u64).wrapping_add(index)
    }
}

impl TableMemory for KernelTableMemory {
    fn alloc_table(&mut self) -> Option<u64> {
        let pa = alloc_pages(0).ok()?;
        // SAFETY: a fresh page from the frame allocator, owned by us and
        // mapped in the linear map.
        unsafe { zero_frames(pa, 1) };
        Some(pa)
    }

    fn free_table(&mut self, table: u64) {
        free_pages(table, 0);
    }

    fn zero_table(&mut self, table: u64) {
        // SAFETY: a live table page in the linear map (see `read`) that
        // only its walker writes. The MMU may read it meanwhile; DC ZVA
        // zeroes whole 64-byte blocks, so a walk sees an old entry or zero,
        // and the caller flushes the TLB before freeing the tables it
        // pointed to (`PageTable::clear_all`).
        unsafe { zero_frames(table, 1) };
    }

    fn read(&self, table: u64, index: usize) -> u64 {
        // SAFETY: `table` came from `alloc_table` (the walker only follows
        // descriptors it wrote), so it is a live page in the linear map, and
        // `entry` bounds the index. Volatile: the MMU reads these too.
        unsafe { core::ptr::read_volatile(Self::entry(table, index)) }
    }

    fn write(&mut self, table: u64, index: usize, value: u64) {
        // SAFETY: as for `read`.
        unsafe { core::ptr::write_volatile(Self::entry(table, index), value) }
    }

    fn next_nonzero(&self, table: u64, from: usize, end: usize) -> Option<usize> {
        // SAFETY: as for `read`: a live table page in the linear map. Only
        // the walker (under its vmspace's lock) writes it; the MMU only
        // reads it (hardware access/dirty flag updates are off).
        let entries = unsafe { &*(phys_to_virt(table) as *const [u64; ENTRIES]) };
        let end = end.min(ENTRIES);
        let mut i = from;
        // Eight entries at a time while they are all zero.
        while i + 8 <= end && entries[i..i + 8].iter().fold(0, |acc, e| acc | e) == 0 {
            i += 8;
        }
        (i..end).find(|&j| entries[j] != 0)
    }
}
