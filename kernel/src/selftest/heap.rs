//! Kernel heap test.

use super::{ensure, TestResult};
use crate::mm::heap_allocated;
use alloc::boxed::Box;
use alloc::vec::Vec;

pub fn kmalloc() -> TestResult {
    let before = heap_allocated();
    {
        let sizes = [1usize, 7, 8, 63, 64, 100, 4095, 4096, 5000, 65536, 1 << 20];
        let mut bufs: Vec<Vec<u8>> = Vec::new();
        for &size in &sizes {
            let mut v = Vec::with_capacity(size);
            v.extend((0..size).map(|i| (i ^ size) as u8));
            ensure!((v.as_ptr() as usize).is_multiple_of(8) || size < 8, "allocation of {size} bytes is misaligned");
            bufs.push(v);
        }
        // Every buffer still holds its own pattern: no two overlap.
        for (v, &size) in bufs.iter().zip(&sizes) {
            ensure!(v.iter().enumerate().all(|(i, &b)| b == (i ^ size) as u8), "{size}-byte buffer corrupted");
        }
        let page: Box<[u64; 512]> = Box::new([0xA5A5_A5A5_A5A5_A5A5; 512]);
        ensure!((page.as_ptr() as usize).is_multiple_of(8), "boxed array misaligned");
        let small: Vec<Box<u64>> = (0..1000u64).map(Box::new).collect();
        ensure!(small.iter().enumerate().all(|(i, b)| **b == i as u64), "small boxes corrupted");
    }
    let after = heap_allocated();
    ensure!(after == before, "heap holds {before} bytes before and {after} after: leak");
    Ok(())
}
