//! Buddy allocator tests on the machine's real memory.

use super::{ensure, TestResult};
use crate::mm::{alloc_pages, free_page_count, free_pages};
use alloc::vec::Vec;
use kernel_core::mm::frames::{FrameError, MAX_ORDER};
use kernel_core::mm::{phys_to_virt, PAGE_SIZE};

/// Orders every machine we support must be able to serve (up to 4 MiB blocks).
const GUARANTEED_ORDER: usize = 10;

/// Write `pattern` to the first and last word of a block and read it back.
fn touch(pa: u64, order: usize, pattern: u64) -> TestResult {
    let n = (PAGE_SIZE << order) as usize / 8;
    let p = phys_to_virt(pa) as *mut u64;
    // SAFETY: the block was allocated by the caller and is mapped in the
    // linear map; `n - 1` is its last word.
    let (first, last) = unsafe {
        p.write_volatile(pattern);
        p.add(n - 1).write_volatile(!pattern);
        (p.read_volatile(), p.add(n - 1).read_volatile())
    };
    ensure!(first == pattern && last == !pattern, "block {pa:#x} order {order} did not hold a pattern");
    Ok(())
}

fn check_block(pa: u64, order: usize) -> TestResult {
    ensure!(pa.is_multiple_of(PAGE_SIZE << order), "order {order} block {pa:#x} is not aligned to its size");
    touch(pa, order, pa ^ 0x5A5A_5A5A_5A5A_5A5A)
}

fn unchanged(before: u64) -> TestResult {
    let after = free_page_count();
    ensure!(after == before, "free pages {before} before, {after} after");
    Ok(())
}

pub fn order0() -> TestResult {
    let before = free_page_count();
    let a = alloc_pages(0).map_err(|e| alloc::format!("order 0 allocation failed: {e:?}"))?;
    let b = alloc_pages(0).map_err(|e| alloc::format!("second order 0 allocation failed: {e:?}"))?;
    ensure!(a != b, "the same page {a:#x} was handed out twice");
    ensure!(free_page_count() == before - 2, "free count did not drop by 2");
    check_block(a, 0)?;
    check_block(b, 0)?;
    free_pages(a, 0);
    free_pages(b, 0);
    unchanged(before)
}

pub fn each_order() -> TestResult {
    let before = free_page_count();
    for order in 0..=MAX_ORDER {
        match alloc_pages(order) {
            Ok(pa) => {
                check_block(pa, order)?;
                free_pages(pa, order);
            }
            Err(FrameError::OutOfMemory) if order > GUARANTEED_ORDER => break,
            Err(e) => return Err(alloc::format!("order {order} allocation failed: {e:?}")),
        }
    }
    ensure!(alloc_pages(MAX_ORDER + 1) == Err(FrameError::BadOrder), "order above the maximum was not refused");
    unchanged(before)
}

pub fn all_orders() -> TestResult {
    let before = free_page_count();
    let mut blocks = Vec::new();
    for order in 0..=GUARANTEED_ORDER {
        let pa = alloc_pages(order).map_err(|e| alloc::format!("order {order} allocation failed: {e:?}"))?;
        check_block(pa, order)?;
        blocks.push((pa, PAGE_SIZE << order, order));
    }
    for (i, &(a, alen, _)) in blocks.iter().enumerate() {
        for &(b, blen, _) in &blocks[i + 1..] {
            ensure!(a + alen <= b || b + blen <= a, "blocks {a:#x} and {b:#x} overlap");
        }
    }
    for (pa, _, order) in blocks {
        free_pages(pa, order);
    }
    unchanged(before)
}

pub fn all_memory() -> TestResult {
    let before = free_page_count();
    // Chain the pages through their own first word so the test needs no
    // memory of its own; the second word holds the page's address.
    let mut head = 0u64;
    let mut count = 0u64;
    while let Ok(pa) = alloc_pages(0) {
        let p = phys_to_virt(pa) as *mut u64;
        // SAFETY: a page we just allocated, mapped in the linear map.
        unsafe {
            p.write_volatile(head);
            p.add(1).write_volatile(pa);
        }
        head = pa;
        count += 1;
    }
    let exhausted = free_page_count();
    // Walk the chain and free it: a page handed out twice would have broken it.
    let mut walked = 0u64;
    let mut cur = head;
    let mut broken = None;
    while cur != 0 && walked <= count {
        let p = phys_to_virt(cur) as *const u64;
        // SAFETY: every page in the chain is still allocated by this test.
        let (next, own) = unsafe { (p.read_volatile(), p.add(1).read_volatile()) };
        if own != cur {
            broken = Some(cur);
            break;
        }
        free_pages(cur, 0);
        cur = next;
        walked += 1;
    }
    ensure!(broken.is_none(), "page {:#x} was overwritten: handed out twice?", broken.unwrap_or(0));
    ensure!(count == before, "allocated {count} pages one by one, but {before} were free");
    ensure!(exhausted == 0, "{exhausted} pages left after exhausting the allocator");
    ensure!(walked == count, "chain of {walked} pages, expected {count}");
    unchanged(before)
}
