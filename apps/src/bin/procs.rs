//! `procs [N]`: many processes at once. `procs bomb`: a fork bomb.
//!
//! `procs N` (1,000 by default) runs two rounds of N blocked children and
//! then the first round again:
//! 1. N `sleep` programs (spawned): all must be alive; then each is killed
//!    and reaped. The drop in free memory while they live, divided by N,
//!    is what one idle process costs (docs/memory.md).
//! 2. N forked children blocked reading one pipe: all alive; the write end
//!    is closed, each sees end of file and exits with 7, and is reaped.
//! 3. Round 1 again: free memory afterwards must be what it was after round
//!    1 (procmgr's heap grows for the first thousand and keeps its pages, so
//!    round 1 is the baseline, not the memory before it).
//!
//! `procs bomb [MAX]` forks until refused, which must be with `NoMemory`
//! (the limits of the account all user processes share, or procmgr's
//! reserve of free memory), with the system's reserve of kernel heap still
//! there; then everything is killed and reaped, and free memory must come
//! back. With `MAX`, making
//! MAX processes without a refusal passes too (usertest's PROC013 bounds
//! the bomb so on machines that hold thousands).
//!
//! Lines start with `[PROCS]`; the last is `[PROCS] PASS ...` or
//! `[PROCS] FAILED: ...`, and the exit status says the same.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use libchcore::process::{self, Pid, Status};
use libchcore::{println, sys, Error};

libchcore::entry!(main);

/// Free memory may differ this much between two identical rounds:
/// procmgr's heap may touch a few more of its pages in one (measured: up
/// to 124 KiB for 1,000 processes). A page lost per process would be
/// 4,000 KiB.
const SLACK: u64 = 256 << 10;
/// Kernel heap that must still be free for allocating calls when the bomb
/// is refused: procmgr keeps at least 1 MiB (or half the heap) for itself
/// and the servers, of which serving the bomb takes some (a capability
/// slot in procmgr's table per process).
const KERNEL_RESERVE_LEFT: u64 = 256 << 10;
/// The most processes the bomb makes before calling it a failure (far more
/// than 512 MiB holds).
const BOMB_MAX: usize = 100_000;

fn main() -> i32 {
    let args = libchcore::args();
    let result = match args.get(1).map(String::as_str) {
        Some("bomb") => match args.get(2).map(|m| m.parse::<usize>()) {
            None => bomb(BOMB_MAX),
            Some(Ok(max)) => bomb(max.min(BOMB_MAX)),
            Some(Err(_)) => Err(String::from("usage: procs bomb [MAX]")),
        },
        Some(n) => match n.parse::<usize>() {
            Ok(n) if n > 0 => rounds(n),
            _ => Err(String::from("usage: procs [N] | procs bomb [MAX]")),
        },
        None => rounds(1000),
    };
    match result {
        Ok(summary) => {
            println!("[PROCS] PASS {summary}");
            0
        }
        Err(why) => {
            println!("[PROCS] FAILED: {why}");
            1
        }
    }
}

/// Let exits in flight finish before free memory is read.
fn settle() -> u64 {
    sys::sleep(20);
    sys::free_memory()
}

fn rounds(n: usize) -> Result<String, String> {
    let before = settle();
    let per_sleep = sleepers(n)?;
    let after_first = settle();
    forked_readers(n)?;
    sleepers(n)?;
    let after_third = settle();
    println!(
        "[PROCS] free memory: {} KiB before, {} KiB after the first round, {} KiB after the third",
        before >> 10,
        after_first >> 10,
        after_third >> 10
    );
    if after_third.abs_diff(after_first) > SLACK {
        return Err(format!("free memory {after_first} after round 1 but {after_third} after round 3: lost"));
    }
    Ok(format!("{n} processes alive at once, three times; {} bytes per idle sleep; nothing lost", per_sleep))
}

/// Check that every one of `pids` is still running.
fn all_alive(pids: &[Pid]) -> Result<(), String> {
    for &p in pids {
        match process::try_waitpid(p) {
            Ok(None) => {}
            other => return Err(format!("child {p} is not running: {other:?}")),
        }
    }
    Ok(())
}

/// N `sleep` programs at once; returns the free memory one costs, in bytes.
fn sleepers(n: usize) -> Result<u64, String> {
    let start = settle();
    let mut pids = Vec::with_capacity(n);
    let mut failed = None;
    for i in 0..n {
        match process::spawn("sleep", &["sleep", "100000"], [0, 1, 2]) {
            Ok(p) => pids.push(p),
            Err(e) => {
                failed = Some(format!("spawn of sleep {i} of {n}: {e:?}"));
                break;
            }
        }
    }
    // Let every one reach its sleep (its start-up touches its pages).
    let full = settle();
    let alive = if failed.is_none() { all_alive(&pids) } else { Ok(()) };
    let per = start.saturating_sub(full) / n as u64;
    if failed.is_none() && alive.is_ok() {
        println!(
            "[PROCS] {n} sleep processes alive; free memory {} KiB -> {} KiB, {per} bytes each",
            start >> 10,
            full >> 10
        );
    }
    for &p in &pids {
        let _ = process::kill(p);
    }
    for &p in &pids {
        match process::waitpid(Some(p)) {
            Ok((_, Status::Killed)) => {}
            other => return Err(format!("sleep {p} after kill: {other:?}")),
        }
    }
    if let Some(f) = failed {
        return Err(f);
    }
    alive?;
    Ok(per)
}

/// N forked children blocked in a read of one pipe, released together by
/// closing its write end.
fn forked_readers(n: usize) -> Result<(), String> {
    let (r, w) = process::pipe().map_err(|e| format!("pipe: {e:?}"))?;
    let mut pids = Vec::with_capacity(n);
    let mut failed = None;
    for i in 0..n {
        match process::fork() {
            Ok(0) => {
                let _ = process::close(w);
                let mut b = [0u8; 1];
                let code = match process::read(r, &mut b) {
                    Ok(0) => 7,
                    _ => 1,
                };
                process::exit(code);
            }
            Ok(p) => pids.push(p),
            Err(e) => {
                failed = Some(format!("fork {i} of {n}: {e:?}"));
                break;
            }
        }
    }
    sys::sleep(20);
    let alive = if failed.is_none() { all_alive(&pids) } else { Ok(()) };
    if failed.is_none() && alive.is_ok() {
        println!("[PROCS] {n} forked children blocked in a pipe read");
    }
    let _ = process::close(w);
    let _ = process::close(r);
    for &p in &pids {
        match process::waitpid(Some(p)) {
            Ok((_, Status::Exited(7))) => {}
            other => return Err(format!("reader {p} after end of file: {other:?}")),
        }
    }
    if let Some(f) = failed {
        return Err(f);
    }
    alive?;
    println!("[PROCS] {n} readers saw end of file and were reaped");
    Ok(())
}

/// Fork until refused; the refusal must be `NoMemory`, and everything must
/// come back.
fn bomb(max: usize) -> Result<String, String> {
    let before = settle();
    let kernel_before = sys::free_kmem();
    let mut pids = Vec::new();
    let refused = loop {
        match process::fork() {
            Ok(0) => loop {
                sys::sleep(100_000);
            },
            Ok(p) => pids.push(p),
            Err(e) => break e,
        }
        if pids.len() >= max {
            break Error::TableFull;
        }
    };
    let n = pids.len();
    let low = sys::free_memory();
    // What the kernel heap still had for allocating calls: user processes
    // together may not take procmgr's and the servers' reserve of it.
    let kernel_low = sys::free_kmem();
    // A forked child is charged what this process is, give or take.
    let charged = sys::kmem_usage(libchcore::abi::slot::SELF_CAP_GROUP).unwrap_or(0);
    for &p in &pids {
        let _ = process::kill(p);
    }
    for &p in &pids {
        if let Err(e) = process::waitpid(Some(p)) {
            return Err(format!("wait for {p}: {e:?}"));
        }
    }
    // Only now: while the bomb lived the kernel heap may have been at its
    // reserve, and the console write refused with it.
    println!(
        "[PROCS] fork bomb stopped after {n} processes: {refused:?} ({} KiB free then, {} KiB of kernel heap)",
        low >> 10,
        kernel_low >> 10
    );
    println!(
        "[PROCS] kernel heap: {} bytes a process, {charged} charged to this one",
        kernel_before.saturating_sub(kernel_low) / (n as u64).max(1)
    );
    let after = settle();
    println!("[PROCS] free memory: {} KiB before the bomb, {} KiB after", before >> 10, after >> 10);
    let bounded = refused == Error::TableFull && n == max && max < BOMB_MAX;
    if refused != Error::NoMemory && !bounded {
        return Err(format!("the bomb was not refused with NoMemory but {refused:?} after {n} processes"));
    }
    if kernel_low < KERNEL_RESERVE_LEFT {
        return Err(format!("the bomb left {kernel_low} bytes of kernel heap: it took the system's reserve"));
    }
    // procmgr's heap grew for the bomb's table entries (about 1 KiB a
    // process) and keeps its pages; anything more was lost.
    if before.saturating_sub(after) > (n as u64 + 256) * 1024 {
        return Err(format!("free memory {before} before the bomb, {after} after"));
    }
    if bounded {
        return Ok(format!("bounded fork bomb: {n} processes, none refused; memory back"));
    }
    Ok(format!("fork bomb refused with NoMemory after {n} processes; memory back"))
}
