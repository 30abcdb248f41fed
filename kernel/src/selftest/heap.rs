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

/// The heap's reserve: with less than it free, a system call that may
/// allocate is refused with `NoMemory` before it runs, and one that only
/// frees or reads is let through; once the heap has room, both are let
/// through again. The heap is filled here by the test itself, through
/// the real dispatcher (no thread is current, so the calls let through end
/// as `NoSyscall`: what matters is that they were not refused for memory).
pub fn reserve() -> TestResult {
    use crate::arch::TrapFrame;
    use chcore_abi::{Error, Syscall};
    let call = |n: Syscall| {
        let mut frame = TrapFrame::zeroed();
        frame.x[8] = n as u64;
        drop(crate::syscall::dispatch(&mut frame));
        Error::from_result(frame.x[0] as i64)
    };
    let before = heap_allocated();
    ensure!(crate::mm::heap_has_room(), "the heap is already at its reserve");
    let mut hog: Vec<Vec<u8>> = Vec::new();
    // Big blocks first, then smaller ones, until the reserve is reached.
    let mut size = 1usize << 20;
    while crate::mm::heap_has_room() {
        let mut block = Vec::new();
        if hog.try_reserve(1).is_err() || block.try_reserve_exact(size).is_err() {
            ensure!(size > 64, "the heap refused a {size}-byte block above its reserve");
            size /= 2;
            continue;
        }
        hog.push(block);
    }
    ensure!(crate::mm::heap_free_for_calls() == 0, "{} bytes usable at the reserve", crate::mm::heap_free_for_calls());
    let refused = [Syscall::CreateNotification, Syscall::CreateCapGroup, Syscall::CreatePmo, Syscall::CapCopy];
    for n in refused {
        ensure!(call(n) == Some(Error::NoMemory), "{n:?} at the reserve: {:?}, not NoMemory", call(n));
    }
    for n in [Syscall::CapDelete, Syscall::CapGroupExit, Syscall::Notify] {
        ensure!(call(n) == Some(Error::NoSyscall), "{n:?} at the reserve: {:?}, not let through", call(n));
    }
    let held = hog.len();
    drop(hog);
    ensure!(crate::mm::heap_has_room(), "the heap has no room after {held} blocks were freed");
    ensure!(call(Syscall::CreateNotification) == Some(Error::NoSyscall), "an allocating call is still refused");
    let after = heap_allocated();
    ensure!(after == before, "heap holds {before} bytes before and {after} after: leak");
    Ok(())
}
