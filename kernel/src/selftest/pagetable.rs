//! Page-table tests on real memory, checked both by walking the tables and
//! by letting the MMU translate through them.

use super::{ensure, TestResult};
use crate::arch::mmu::{tlb_flush_all, with_lower_half};
use crate::mm::{alloc_pages, free_page_count, free_pages, KernelTableMemory};
use alloc::vec::Vec;
use kernel_core::mm::pagetable::{Granularity, PageTable, Usage};
use kernel_core::mm::pte::{MemType, Perm};
use kernel_core::mm::{phys_to_virt, PAGE_SIZE};

fn mapping_failed(e: kernel_core::mm::pagetable::MapError) -> alloc::string::String {
    alloc::format!("page-table operation refused: {e:?}")
}

fn marker(pa: u64) -> u64 {
    pa.rotate_left(17) ^ 0xC0DE_C0DE_C0DE_C0DE
}

pub fn one_page() -> TestResult {
    let before = free_page_count();
    let mut mem = KernelTableMemory;
    let mut pt = PageTable::new(&mut mem).map_err(mapping_failed)?;
    let frame = alloc_pages(0).map_err(|e| alloc::format!("no page: {e:?}"))?;
    let kva = phys_to_virt(frame) as *mut u64;
    // SAFETY: a page we own, through the linear map.
    unsafe { kva.write_volatile(marker(frame)) };

    let va = 0x1000_0000u64;
    pt.map(&mut mem, va, frame, PAGE_SIZE, Perm::USER_RW, MemType::Normal, Granularity::Pages)
        .map_err(mapping_failed)?;
    let t = pt.translate(&mem, va + 0x123).ok_or("mapped page does not translate")?;
    ensure!(t.pa == frame + 0x123 && t.perm == Perm::USER_RW, "translation {t:?} for frame {frame:#x}");
    ensure!(pt.translate(&mem, va + PAGE_SIZE).is_none(), "the next page translates too");

    // Now through the MMU: read the marker at the new address, write back.
    let seen = with_lower_half(pt.root(), || {
        let uva = va as *mut u64;
        // SAFETY: `va` is mapped read/write to `frame` in the active lower
        // half; PAN is off, so EL1 may access the EL0 mapping.
        unsafe {
            let v = uva.read_volatile();
            uva.add(1).write_volatile(!v);
            v
        }
    });
    ensure!(seen == marker(frame), "MMU read {seen:#x} at {va:#x}, expected {:#x}", marker(frame));
    // SAFETY: as above, through the linear map.
    let back = unsafe { kva.add(1).read_volatile() };
    ensure!(back == !marker(frame), "write through the new mapping did not reach the frame");

    pt.unmap(&mut mem, va, PAGE_SIZE).map_err(mapping_failed)?;
    tlb_flush_all();
    ensure!(pt.translate(&mem, va).is_none(), "page still translates after unmap");
    pt.destroy(&mut mem);
    free_pages(frame, 0);
    let after = free_page_count();
    ensure!(after == before, "free pages {before} before, {after} after: tables leaked");
    Ok(())
}

pub fn multiple_pages() -> TestResult {
    const PAGES: u64 = 1000;
    // Spread over several level 3 and level 2 tables.
    const BASE: u64 = 0x3FE0_0000;
    const STRIDE: u64 = 3 * PAGE_SIZE;
    let before = free_page_count();
    let mut mem = KernelTableMemory;
    let mut pt = PageTable::new(&mut mem).map_err(mapping_failed)?;
    let mut frames = Vec::new();
    for i in 0..PAGES {
        let frame = alloc_pages(0).map_err(|e| alloc::format!("no page: {e:?}"))?;
        // SAFETY: a page we own, through the linear map.
        unsafe { (phys_to_virt(frame) as *mut u64).write_volatile(marker(frame)) };
        pt.map(&mut mem, BASE + i * STRIDE, frame, PAGE_SIZE, Perm::USER_RO, MemType::Normal, Granularity::Pages)
            .map_err(mapping_failed)?;
        frames.push(frame);
    }
    for (i, &frame) in frames.iter().enumerate() {
        let va = BASE + i as u64 * STRIDE;
        let t = pt.translate(&mem, va).ok_or("a mapped page does not translate")?;
        ensure!(t.pa == frame && t.perm == Perm::USER_RO, "page {i}: {t:?}, expected {frame:#x}");
        ensure!(pt.translate(&mem, va + PAGE_SIZE).is_none(), "gap after page {i} is mapped");
    }
    let bad = with_lower_half(pt.root(), || {
        frames
            .iter()
            .enumerate()
            .find(|&(i, &frame)| {
                // SAFETY: each of these addresses is mapped readable to a frame we own.
                unsafe { ((BASE + i as u64 * STRIDE) as *const u64).read_volatile() != marker(frame) }
            })
            .map(|(i, _)| i)
    });
    ensure!(bad.is_none(), "MMU read the wrong data at page {:?}", bad);
    for i in 0..PAGES {
        pt.unmap(&mut mem, BASE + i * STRIDE, PAGE_SIZE).map_err(mapping_failed)?;
    }
    tlb_flush_all();
    ensure!(
        frames.iter().enumerate().all(|(i, _)| pt.translate(&mem, BASE + i as u64 * STRIDE).is_none()),
        "pages remain after unmap"
    );
    pt.destroy(&mut mem);
    for f in frames {
        free_pages(f, 0);
    }
    let after = free_page_count();
    ensure!(after == before, "free pages {before} before, {after} after");
    Ok(())
}

pub fn huge_range() -> TestResult {
    const VA: u64 = 0x80_0000_0000;
    const LEN: u64 = 1 << 30;
    // Any physical range will do: nothing is accessed through it.
    const PA: u64 = 0x1_0000_0000;
    let before = free_page_count();
    let mut mem = KernelTableMemory;
    let mut pt = PageTable::new(&mut mem).map_err(mapping_failed)?;

    // 1 GiB in 4 KiB pages: 262144 entries in 512 level 3 tables.
    pt.map(&mut mem, VA, PA, LEN, Perm::USER_RW, MemType::Normal, Granularity::Pages).map_err(mapping_failed)?;
    let tables = before - free_page_count();
    ensure!(tables == 1 + 1 + 1 + 512, "{tables} table pages for 1 GiB of 4 KiB pages, expected 515");
    for off in [0, PAGE_SIZE, 0x1234_5000, LEN - PAGE_SIZE] {
        let t = pt.translate(&mem, VA + off).ok_or("huge range has a hole")?;
        ensure!(t.pa == PA + off && t.size == PAGE_SIZE, "offset {off:#x}: {t:?}");
    }
    ensure!(pt.translate(&mem, VA + LEN).is_none(), "mapping runs past its end");
    // Unmapping a middle slice must keep its neighbours.
    pt.unmap(&mut mem, VA + (LEN / 2), 64 * PAGE_SIZE).map_err(mapping_failed)?;
    ensure!(pt.translate(&mem, VA + LEN / 2).is_none(), "slice still mapped");
    ensure!(pt.translate(&mem, VA + LEN / 2 - PAGE_SIZE).is_some(), "neighbour lost");
    pt.unmap(&mut mem, VA, LEN / 2).map_err(mapping_failed)?;
    pt.unmap(&mut mem, VA + LEN / 2 + 64 * PAGE_SIZE, LEN / 2 - 64 * PAGE_SIZE).map_err(mapping_failed)?;
    ensure!(before - free_page_count() == 1, "empty tables were not freed on unmap");

    // The same range as one 1 GiB block needs only the level 1 table.
    pt.map(&mut mem, VA, PA, LEN, Perm::KERNEL_RW, MemType::Normal, Granularity::Blocks).map_err(mapping_failed)?;
    ensure!(before - free_page_count() == 2, "a 1 GiB block used more than a level 1 table");
    ensure!(pt.translate(&mem, VA + 0x1000).is_some_and(|t| t.size == LEN), "block mapping missing");
    pt.unmap(&mut mem, VA, LEN).map_err(mapping_failed)?;
    tlb_flush_all();
    pt.destroy(&mut mem);
    let after = free_page_count();
    ensure!(after == before, "free pages {before} before, {after} after");
    Ok(())
}

/// "Compute physical memory": walk a tree and add up what it uses (table
/// pages) and maps, and check both against what was mapped and against the
/// page allocator's own count of the pages the tables took. Returns what
/// the walk found.
fn check_usage(
    pt: &PageTable,
    mem: &KernelTableMemory,
    before: u64,
    want_mapped: u64,
    extra_pages: usize,
) -> Result<Usage, alloc::string::String> {
    let u = pt.usage(mem);
    let taken = before - free_page_count() - extra_pages as u64;
    ensure!(u.table_pages == taken, "the walk found {} table pages, the allocator gave out {taken}", u.table_pages);
    ensure!(
        u.table_pages == 1 + pt.table_count() as u64,
        "the walk found {} table pages, the tree lists {}",
        u.table_pages,
        1 + pt.table_count()
    );
    ensure!(
        u.mapped_bytes == want_mapped,
        "the walk found {:#x} bytes mapped, expected {want_mapped:#x}",
        u.mapped_bytes
    );
    Ok(u)
}

pub fn physical_memory_one_page() -> TestResult {
    let before = free_page_count();
    let mut mem = KernelTableMemory;
    let mut pt = PageTable::new(&mut mem).map_err(mapping_failed)?;
    pt.map(&mut mem, 0x2000_0000, 0x4000_0000, PAGE_SIZE, Perm::USER_RW, MemType::Normal, Granularity::Pages)
        .map_err(mapping_failed)?;
    let u = check_usage(&pt, &mem, before, PAGE_SIZE, 0)?;
    ensure!(u.table_pages == 4, "one page took {} table pages, expected 4", u.table_pages);
    pt.unmap(&mut mem, 0x2000_0000, PAGE_SIZE).map_err(mapping_failed)?;
    check_usage(&pt, &mem, before, 0, 0)?;
    pt.destroy(&mut mem);
    Ok(())
}

pub fn physical_memory_pages() -> TestResult {
    const PAGES: u64 = 700;
    // Every third page from just below a 1 GiB boundary: several level 3
    // tables under two level 2 tables.
    const BASE: u64 = 0x3FF0_0000;
    // Reserved first: a kernel heap that grew during the test would change
    // the allocator's count.
    let mut frames = Vec::with_capacity(PAGES as usize);
    let before = free_page_count();
    let mut mem = KernelTableMemory;
    let mut pt = PageTable::new(&mut mem).map_err(mapping_failed)?;
    let result = (|| {
        for i in 0..PAGES {
            let frame = alloc_pages(0).map_err(|e| alloc::format!("no page: {e:?}"))?;
            frames.push(frame);
            pt.map(
                &mut mem,
                BASE + i * 3 * PAGE_SIZE,
                frame,
                PAGE_SIZE,
                Perm::USER_RW,
                MemType::Normal,
                Granularity::Pages,
            )
            .map_err(mapping_failed)?;
        }
        let u = check_usage(&pt, &mem, before, PAGES * PAGE_SIZE, frames.len())?;
        ensure!(u.pages == PAGES && u.blocks == 0, "{u:?}: expected {PAGES} pages and no blocks");
        Ok(())
    })();
    pt.destroy(&mut mem);
    for f in frames {
        free_pages(f, 0);
    }
    result
}

pub fn physical_memory_huge() -> TestResult {
    const VA: u64 = 0x40_0000_0000;
    // 1 GiB + 6 MiB + 20 KiB from a 1 GiB-aligned address: one 1 GiB block,
    // three 2 MiB blocks and five pages.
    const LEN: u64 = (1 << 30) + (6 << 20) + 5 * PAGE_SIZE;
    const PA: u64 = 0x1_0000_0000;
    let before = free_page_count();
    let mut mem = KernelTableMemory;
    let mut pt = PageTable::new(&mut mem).map_err(mapping_failed)?;
    pt.map(&mut mem, VA, PA, LEN, Perm::KERNEL_RW, MemType::Normal, Granularity::Blocks).map_err(mapping_failed)?;
    let u = check_usage(&pt, &mem, before, LEN, 0)?;
    ensure!(u.blocks == 4 && u.pages == 5, "{u:?}: expected 4 blocks and 5 pages");
    pt.unmap(&mut mem, VA, LEN).map_err(mapping_failed)?;
    check_usage(&pt, &mem, before, 0, 0)?;
    pt.destroy(&mut mem);
    let after = free_page_count();
    ensure!(after == before, "free pages {before} before, {after} after");
    Ok(())
}
