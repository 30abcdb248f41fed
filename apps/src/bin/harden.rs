//! `harden [rounds]`: tries hard to break the isolation the kernel promises,
//! and checks that nothing broke and nothing was lost.
//!
//! 1. Hostile attempts: capability misuse (empty, out-of-range, forged,
//!    another process's and revoked slots, widened rights), bad mappings,
//!    every pointer-taking call with unmapped, read-only, kernel and
//!    overflowing buffers, and faults (read-only writes, execution of data,
//!    jumps into and reads of the kernel, privileged instructions,
//!    misaligned PC and stack, stack overflow). Each must get an error code,
//!    or end only the process that tried (a forked child) with `Killed`.
//! 2. Resource exhaustion: a memory hog hits its cap_group's memory limit,
//!    and so does a process that maps a page at many far-apart addresses
//!    (its page tables are charged to it); capability slots, threads and
//!    IPC connections run out with an error.
//!    Pipes, which are memory shared by their users: a scribbled header
//!    gives errors, not faults, and a lock left by a process that ended is
//!    released. Files: the file-system protocol with random and hostile
//!    requests; procmgr and tmpfs go on serving and tmpfs ends as it began.
//! 3. The seeded system call fuzzer, as children.
//! 4. Stress: workers on every CPU running pipelines, procmgr calls, spawns
//!    and forks at once, each checking every result.
//!
//! Then free memory must be what it was before. The last line sums it up:
//! `[HARDEN] N hostile attempts refused or contained, M fuzz calls, K stress
//! rounds on C CPUs; nothing lost`. Exit status 0 only if all held.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use chcore_proc::{pipe, proto};
use core::sync::atomic::{AtomicU64, Ordering};
use libchcore::abi::{perm, slot, Syscall, PMO_MAX};
use libchcore::process::{self, Status};
use libchcore::{ipc, print, println, spawn, sys, testing, Error, PmoKind, Rights};

libchcore::entry!(main);

/// Attempts made, and those that were not refused or contained.
static ATTEMPTS: AtomicU64 = AtomicU64::new(0);
static BROKEN: AtomicU64 = AtomicU64::new(0);

fn broken(what: &str) {
    BROKEN.fetch_add(1, Ordering::Relaxed);
    println!("[HARDEN] NOT CONTAINED: {what}");
}

/// `r` must be an error.
fn refused<T: core::fmt::Debug>(what: &str, r: Result<T, Error>) {
    ATTEMPTS.fetch_add(1, Ordering::Relaxed);
    if let Ok(v) = r {
        broken(&format!("{what} succeeded ({v:?})"));
    }
}

/// A forked child runs `f`; it must be ended by the kernel (`Killed`), or
/// with `tolerated`, may also survive (an operation the CPU allows).
fn contained(what: &str, f: fn(), tolerated: bool) {
    ATTEMPTS.fetch_add(1, Ordering::Relaxed);
    match process::fork() {
        Ok(0) => {
            f();
            process::exit(77);
        }
        Ok(pid) => match process::waitpid(Some(pid)) {
            Ok((_, Status::Killed)) => {}
            Ok((_, Status::Exited(77))) if tolerated => {}
            other => broken(&format!("{what}: the child ended {other:?}, expected it killed")),
        },
        Err(e) => broken(&format!("{what}: fork failed: {e:?}")),
    }
}

const KERNEL: u64 = 0xFFFF_0000_4008_0000;
const HOG_LIMIT: u64 = 8 << 20;
const SCRATCH: u64 = 0x3000_0000_0000;

fn main() -> i32 {
    let args = libchcore::args();
    let rounds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    // Everything runs twice: the first pass brings procmgr's heap and
    // tables to their high-water marks (memory procmgr keeps for reuse, not
    // a leak); across the second, free memory must come back exactly.
    let processes = testing::process_count();
    let mut fuzz_calls = 0;
    let mut stress_rounds = 0;
    let mut lost = 0;
    for pass in 0..2 {
        let before = system_memory();
        let kernel_before = kernel_memory();
        let procmgr_before = procmgr_memory();
        let table_before = process::ps().unwrap_or_default();
        capabilities();
        mappings();
        pagers();
        pointers();
        faults();
        exhaustion();
        pipes();
        files();
        sessions();
        fuzz_calls += fuzz();
        stress_rounds += stress(rounds);
        // The fuzzers may have forked (through procmgr's protocol, with
        // random arguments): their orphans run on until their calls are
        // done. Wait for the process table to be back to what it was.
        testing::settle_processes(processes);
        sys::sleep(5);
        let after = system_memory();
        let kernel_after = kernel_memory();
        let procmgr_grew = procmgr_memory().saturating_sub(procmgr_before);
        if pass == 1 {
            lost = before.saturating_sub(after);
            let kernel_lost = kernel_before.saturating_sub(kernel_after);
            println!(
                "[HARDEN] kernel memory free or charged: {} KiB before the second pass, {} KiB after",
                kernel_before >> 10,
                kernel_after >> 10
            );
            if kernel_lost > KMEM_SLACK {
                println!("[HARDEN] kernel memory lost: {kernel_lost} bytes (at most {KMEM_SLACK} allowed)");
                lost += kernel_lost;
            }
            if procmgr_grew > PROCMGR_SLACK {
                println!("[HARDEN] procmgr grew by {procmgr_grew} bytes in the second pass (at most {PROCMGR_SLACK} allowed)");
                lost += procmgr_grew;
            }
            if lost > 0 {
                println!(
                    "[HARDEN] memory lost: {before} bytes free or ours before, {after} after; processes before:\n{table_before}and after:\n{}",
                    process::ps().unwrap_or_default()
                );
            }
        }
    }
    let attempts = ATTEMPTS.load(Ordering::Relaxed);
    let broken_n = BROKEN.load(Ordering::Relaxed);
    let memory_ok = lost == 0;
    let alive = process::pid() > 1
        && process::spawn("true", &["true"], [0, 1, 2]).and_then(|p| process::waitpid(Some(p))).map(|w| w.1)
            == Ok(Status::Exited(0));
    if !alive {
        println!("[HARDEN] procmgr no longer starts programs");
    }
    if broken_n == 0 && memory_ok && alive {
        println!(
            "[HARDEN] {attempts} hostile attempts refused or contained, {fuzz_calls} fuzz calls, {stress_rounds} stress rounds on {} CPUs; nothing lost",
            sys::cpu_count()
        );
        0
    } else {
        println!("[HARDEN] FAILED: {broken_n} of {attempts} attempts not contained");
        1
    }
}

/// Kernel heap free for calls plus all that is charged to processes
/// (procmgr's account holds everyone's). Not exact to the byte across a
/// pass (charges are estimates of what the heap hands out, and the kernel's
/// own lists keep their high-water room): within [`KMEM_SLACK`].
fn kernel_memory() -> u64 {
    sys::free_kmem() + procmgr_line(|p| p.kmem_kib)
}

/// Kernel memory the second pass may leave neither free nor charged.
const KMEM_SLACK: u64 = 64 << 10;

/// Free memory plus what this process holds: this process's own heap and
/// stack grow during the run and keep their pages, which is not a leak.
/// procmgr's pages are counted apart (`procmgr_memory`).
fn system_memory() -> u64 {
    sys::free_memory() + sys::mem_usage(slot::SELF_CAP_GROUP).unwrap_or(0) + procmgr_memory()
}

/// What procmgr holds (its `ps` line), in bytes.
fn procmgr_memory() -> u64 {
    procmgr_line(|p| p.mem_kib)
}

/// A figure of procmgr's `ps` line, in KiB, as bytes.
fn procmgr_line(kib: fn(&chcore_proc::top::Proc) -> u64) -> u64 {
    let table = process::ps().unwrap_or_default();
    chcore_proc::top::parse_ps(&table).iter().find(|p| p.pid == 1).map_or(0, |p| kib(p) * 1024)
}

/// How much procmgr may grow across the second pass: its heap and tables
/// (and the page tables behind its per-connection buffers) reach their
/// high-water marks in the first pass only as far as that pass's
/// concurrency took them, and on 4 CPUs the second can go a page or two
/// further. A leak per operation would exceed this many times over: a pass
/// makes hundreds of processes, pipes and connections.
const PROCMGR_SLACK: u64 = 64 << 10;

/// Empty, out-of-range, forged, foreign and revoked slots; widened rights.
fn capabilities() {
    for s in [700, 1023, 1024, 1025, 1 << 20, 1 << 40, u64::MAX - 1] {
        refused("cap_info on an empty or out-of-range slot", sys::cap_info(s));
        refused("cap_delete on an empty or out-of-range slot", sys::cap_delete(s));
        refused("map_pmo of an empty slot", sys::map_pmo(slot::SELF_CAP_GROUP, s, SCRATCH, perm::READ));
        refused("notify on an empty slot", sys::notify(s));
        refused("create_thread in an empty slot's group", sys::create_thread(s, 0x40_0000, 0x1000, 0));
    }
    // Rights never grow: `DEVICE` passes on only from a holder, and no other
    // right can be asked for a new process.
    refused("create_cap_group asking DEVICE without it", sys::create_cap_group_with("dev", Rights::DEVICE));
    refused("create_cap_group asking an unknown right", sys::create_cap_group_with("x", Rights(1 << 40)));
    // Forged slot numbers: whatever a process names, only its own table counts.
    let mut x = 0x1234_5678_9ABC_DEF1u64;
    for _ in 0..64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let s = (x % 4096) + 600;
        refused("a forged slot", sys::cap_info(s));
    }
    // Another process's capability: its slot number means nothing here.
    if let Ok((r, w)) = process::pipe() {
        match process::fork() {
            Ok(0) => {
                let mut last = 0;
                for _ in 0..600 {
                    match sys::create_notification() {
                        Ok(s) => last = s,
                        Err(_) => break,
                    }
                }
                let _ = process::write(w, &last.to_le_bytes());
                sys::sleep(50);
                process::exit(0);
            }
            Ok(pid) => {
                let mut b = [0u8; 8];
                if process::read(r, &mut b) == Ok(8) {
                    let theirs = u64::from_le_bytes(b);
                    refused("use of another process's slot", sys::cap_info(theirs));
                    refused("notify through another process's slot", sys::notify(theirs));
                }
                let _ = process::kill(pid);
                let _ = process::waitpid(Some(pid));
            }
            Err(_) => broken("fork for the foreign-slot test"),
        }
        let _ = process::close(r);
        let _ = process::close(w);
    }
    // Stale capabilities after revoke.
    if let Ok(pmo) = sys::create_pmo(4096, PmoKind::Anonym) {
        if let Ok(copy) = sys::cap_copy(pmo, slot::SELF_CAP_GROUP, Rights::READ.union(Rights::MAP)) {
            let _ = sys::cap_revoke(pmo);
            refused("cap_info on a revoked copy", sys::cap_info(copy));
            refused("map_pmo of a revoked copy", sys::map_pmo(slot::SELF_CAP_GROUP, copy, SCRATCH, perm::READ));
        }
        // Widening: a read-only copy cannot become writable by copying it again.
        if let Ok(ro) = sys::cap_copy(pmo, slot::SELF_CAP_GROUP, Rights::READ.union(Rights::MAP).union(Rights::COPY)) {
            ATTEMPTS.fetch_add(1, Ordering::Relaxed);
            if let Ok(wide) = sys::cap_copy(ro, slot::SELF_CAP_GROUP, Rights::ALL) {
                match sys::cap_info(wide) {
                    Ok((_, r)) if r.contains(Rights::WRITE) || r.contains(Rights::REVOKE) => {
                        broken("cap_copy widened rights")
                    }
                    _ => {}
                }
                let _ = sys::cap_delete(wide);
            }
            refused(
                "writable map through a read-only capability",
                sys::map_pmo(slot::SELF_CAP_GROUP, ro, SCRATCH, perm::READ | perm::WRITE),
            );
            refused("write_pmo through a read-only capability", sys::write_pmo(ro, 0, b"x"));
            if sys::map_pmo(slot::SELF_CAP_GROUP, ro, SCRATCH, perm::READ).is_ok() {
                refused(
                    "protect beyond the capability's rights",
                    sys::protect(slot::SELF_CAP_GROUP, SCRATCH, 4096, perm::READ | perm::WRITE),
                );
                let _ = sys::unmap_pmo(slot::SELF_CAP_GROUP, SCRATCH);
            }
            let _ = sys::cap_delete(ro);
        }
        let _ = sys::cap_delete(pmo);
    }
    slices();
    // Rights a process does not have.
    refused("create_device_pmo without the DEVICE right", sys::create_device_pmo(0x0900_0000, 4096));
    refused("irq_register without the DEVICE right", sys::irq_register(33));
    refused("raising one's own memory limit", sys::set_mem_limit(slot::SELF_CAP_GROUP, u64::MAX));
}

/// `pmo_slice`: only whole pages inside contiguous memory, never wider
/// rights than the source capability, the same memory, revoked with it.
fn slices() {
    let Ok(data) = sys::create_pmo(4 * 4096, PmoKind::Data) else {
        broken("create_pmo for the slice tests");
        return;
    };
    refused("pmo_slice at a misaligned offset", sys::pmo_slice(data, 100, 4096, Rights::ALL));
    refused("pmo_slice of a misaligned length", sys::pmo_slice(data, 0, 100, Rights::ALL));
    refused("pmo_slice of no pages", sys::pmo_slice(data, 0, 0, Rights::ALL));
    refused("pmo_slice past the end", sys::pmo_slice(data, 3 * 4096, 2 * 4096, Rights::ALL));
    refused("pmo_slice of a wrapping range", sys::pmo_slice(data, u64::MAX - 4095, 8192, Rights::ALL));
    refused("pmo_slice of a cap_group", sys::pmo_slice(slot::SELF_CAP_GROUP, 0, 4096, Rights::ALL));
    if let Ok(anon) = sys::create_pmo(4096, PmoKind::Anonym) {
        refused("pmo_slice of memory allocated on demand", sys::pmo_slice(anon, 0, 4096, Rights::ALL));
        let _ = sys::cap_delete(anon);
    }
    if let Ok(ro) = sys::cap_copy(data, slot::SELF_CAP_GROUP, Rights::READ.union(Rights::MAP)) {
        ATTEMPTS.fetch_add(1, Ordering::Relaxed);
        match sys::pmo_slice(ro, 4096, 4096, Rights::ALL) {
            Ok(s) => {
                if sys::cap_info(s).is_ok_and(|(_, r)| r.contains(Rights::WRITE) || r.contains(Rights::COPY)) {
                    broken("pmo_slice widened rights");
                }
                refused("write_pmo through a slice of a read-only capability", sys::write_pmo(s, 0, b"x"));
                let _ = sys::cap_delete(s);
            }
            Err(e) => broken(&format!("pmo_slice of a read-only capability: {e:?}")),
        }
        let _ = sys::cap_delete(ro);
    }
    // The same memory as its source, and gone with the source's revocation.
    ATTEMPTS.fetch_add(1, Ordering::Relaxed);
    match sys::pmo_slice(data, 2 * 4096, 4096, Rights::READ) {
        Ok(s) => {
            let mut b = [0u8; 5];
            let shared = sys::write_pmo(data, 2 * 4096 + 8, b"slice").is_ok()
                && sys::read_pmo(s, 8, &mut b).is_ok()
                && &b == b"slice";
            if !shared {
                broken("a slice does not show its source's memory");
            }
            let _ = sys::cap_revoke(data);
            refused("cap_info on a slice of a revoked capability", sys::cap_info(s));
        }
        Err(e) => broken(&format!("pmo_slice: {e:?}")),
    }
    let _ = sys::cap_delete(data);
}

/// Mappings of kernel addresses, past the user half, misaligned, overlapping.
fn mappings() {
    let Ok(pmo) = sys::create_pmo(8192, PmoKind::Anonym) else {
        broken("create_pmo");
        return;
    };
    let me = slot::SELF_CAP_GROUP;
    for at in [KERNEL, 0xFFFF_FFFF_FFFF_E000, 1 << 48, (1 << 48) - 4096, SCRATCH + 1, u64::MAX - 4095] {
        refused("map_pmo at a kernel, non-canonical or misaligned address", sys::map_pmo(me, pmo, at, perm::READ));
    }
    refused("map_pmo with unknown permission bits", sys::map_pmo(me, pmo, SCRATCH, 1 << 9));
    if sys::map_pmo(me, pmo, SCRATCH, perm::READ | perm::WRITE).is_ok() {
        if let Ok(other) = sys::create_pmo(4096, PmoKind::Anonym) {
            refused("map_pmo over an existing region", sys::map_pmo(me, other, SCRATCH + 4096, perm::READ));
            let _ = sys::cap_delete(other);
        }
        refused("unmap_pmo of an address that starts no region", sys::unmap_pmo(me, SCRATCH + 4096));
        refused("protect past the region", sys::protect(me, SCRATCH, 3 * 4096, perm::READ));
        let _ = sys::unmap_pmo(me, SCRATCH);
    }
    for (size, kind) in [
        (0, PmoKind::Anonym),
        (u64::MAX, PmoKind::Anonym),
        (PMO_MAX + 1, PmoKind::Data),
        (u64::MAX - 4095, PmoKind::Data),
    ] {
        refused("create_pmo of an impossible size", sys::create_pmo(size, kind));
    }
    let _ = sys::cap_delete(pmo);
}

/// Every call that takes a user buffer, with buffers it must not touch.
fn pointers() {
    let ro_code = main as *const () as u64;
    let bad: &[(u64, u64)] = &[
        (0, 16),
        (0x10, 1),
        (KERNEL, 16),
        (0xFFFF_FFFF_FFFF_FFF0, 16),
        ((1 << 48) - 8, 16),
        (SCRATCH, 16),
        (0x40_0000 - 4096, 16),
        (u64::MAX, 2),
    ];
    for &(ptr, len) in bad {
        refused("putstr from a bad buffer", sys::putstr_raw(ptr, len));
        refused(
            "create_cap_group with a bad name buffer",
            sys::by_number(Syscall::CreateCapGroup as u64, [ptr, len.min(64), 0, 0, 0, 0]),
        );
    }
    if let Ok(pmo) = sys::create_pmo(8192, PmoKind::Anonym) {
        for &(ptr, len) in bad {
            refused("read_pmo into a bad buffer", sys::pmo_io_raw(false, pmo, 0, ptr, len.min(8192)));
            refused("write_pmo from a bad buffer", sys::pmo_io_raw(true, pmo, 0, ptr, len.min(8192)));
        }
        refused("read_pmo into read-only code", sys::pmo_io_raw(false, pmo, 0, ro_code & !0xFFF, 16));
        refused("read_pmo past the PMO's end", sys::pmo_io_raw(false, pmo, 8190, ro_code, 16));
        refused("read_pmo with an offset that overflows", sys::pmo_io_raw(false, pmo, u64::MAX - 2, ro_code, 16));
        let _ = sys::cap_delete(pmo);
    }
    refused("putstr longer than allowed", sys::putstr_raw(ro_code, 1 << 20));
    refused("putstr with a length that wraps", sys::putstr_raw(ro_code, u64::MAX));
    refused("create_thread at a kernel address", sys::create_thread(slot::SELF_CAP_GROUP, KERNEL, SCRATCH, 0));
    refused("create_thread at a misaligned pc", sys::create_thread(slot::SELF_CAP_GROUP, ro_code + 2, SCRATCH, 0));
    refused("an unknown system call", sys::by_number(Syscall::COUNT + 5, [0; 6]));
    refused("an absurd system call number", sys::by_number(u64::MAX, [0; 6]));
}

fn write_ro() {
    let code = main as *const () as *mut u64;
    // SAFETY: deliberately invalid: the kernel must end this child.
    unsafe { code.write_volatile(0) };
}

fn exec_data() {
    static DATA: [u32; 4] = [0xD503_201F; 4]; // nops, in a non-executable segment
                                              // SAFETY: deliberately invalid: the kernel must end this child.
    let f: extern "C" fn() = unsafe { core::mem::transmute(DATA.as_ptr()) };
    f();
}

fn jump_kernel() {
    // SAFETY: deliberately invalid: the kernel must end this child.
    let f: extern "C" fn() = unsafe { core::mem::transmute(KERNEL as usize) };
    f();
}

fn read_kernel() {
    // SAFETY: deliberately invalid: the kernel must end this child.
    let v = unsafe { (KERNEL as *const u64).read_volatile() };
    println!("read {v:#x} from the kernel");
}

fn read_null() {
    // SAFETY: deliberately invalid: the kernel must end this child.
    let v = unsafe { (0x18 as *const u64).read_volatile() };
    println!("read {v:#x} from address 0x18");
}

fn privileged_mrs() {
    // SAFETY: deliberately invalid at EL0: the kernel must end this child.
    unsafe { core::arch::asm!("mrs x0, sctlr_el1", out("x0") _) };
}

fn privileged_msr() {
    // SAFETY: deliberately invalid at EL0: the kernel must end this child.
    unsafe { core::arch::asm!("msr vbar_el1, xzr") };
}

fn hypervisor_call() {
    // SAFETY: HVC is undefined at EL0: the kernel must end this child.
    unsafe { core::arch::asm!("hvc #0") };
}

fn secure_monitor_call() {
    // SAFETY: SMC is undefined at EL0: the kernel must end this child.
    unsafe { core::arch::asm!("smc #0") };
}

fn undefined_instruction() {
    // SAFETY: a permanently undefined encoding: the kernel must end this child.
    unsafe { core::arch::asm!("udf #0") };
}

fn breakpoint() {
    // SAFETY: BRK traps to the kernel, which must end this child.
    unsafe { core::arch::asm!("brk #1") };
}

fn misaligned_pc() {
    let target = (main as *const () as usize) + 2;
    // SAFETY: deliberately invalid: the kernel must end this child.
    unsafe { core::arch::asm!("br {0}", in(reg) target) };
}

fn misaligned_sp() {
    // With SCTLR_EL1.SA0 set, a load through a misaligned SP faults. QEMU
    // does not model the check, so this child may also run on (tolerated).
    // SAFETY: sp is restored before anything else uses the stack.
    unsafe {
        core::arch::asm!("mov {t}, sp", "sub x9, {t}, #4", "mov sp, x9", "ldr x10, [sp]", "mov sp, {t}", t = out(reg) _, out("x9") _, out("x10") _)
    };
}

#[allow(unconditional_recursion)]
fn overflow_stack(depth: u64) -> u64 {
    let buf = [depth; 512];
    overflow_stack(depth + 1) + core::hint::black_box(buf)[7]
}

fn stack_overflow() {
    overflow_stack(0);
}

/// Faults: each in a child, which must be ended while the rest goes on.
/// A child that registers its own exit notification must still be reaped:
/// registering adds to the kernel's list, it does not replace procmgr's
/// (which it did: procmgr never learned of the exit once it stopped polling).
fn exit_notice() {
    ATTEMPTS.fetch_add(1, Ordering::Relaxed);
    match process::fork() {
        Ok(0) => {
            let mine = sys::create_notification();
            let _ = mine.map(|n| sys::cap_group_exit_notify(slot::SELF_CAP_GROUP, n));
            // Fill the list too: the rest are refused, procmgr's stays.
            for _ in 0..8 {
                let _ = sys::create_notification().map(|n| sys::cap_group_exit_notify(slot::SELF_CAP_GROUP, n));
            }
            process::exit(5);
        }
        // A wait that never returns here is the failure (the run's timeout).
        Ok(pid) => match process::waitpid(Some(pid)) {
            Ok((_, Status::Exited(5))) => {}
            other => broken(&format!("own exit notification: the child ended {other:?}")),
        },
        Err(e) => broken(&format!("exit notification: fork failed: {e:?}")),
    }
}

fn faults() {
    exit_notice();
    contained("write to read-only code", write_ro, false);
    contained("execution of non-executable data", exec_data, false);
    contained("jump into the kernel", jump_kernel, false);
    contained("read of kernel memory", read_kernel, false);
    contained("read of address 0x18", read_null, false);
    contained("mrs of an EL1 register at EL0", privileged_mrs, false);
    contained("msr of an EL1 register at EL0", privileged_msr, false);
    contained("hvc at EL0", hypervisor_call, false);
    contained("smc at EL0", secure_monitor_call, false);
    contained("undefined instruction", undefined_instruction, false);
    contained("brk", breakpoint, false);
    contained("misaligned pc", misaligned_pc, false);
    contained("misaligned stack pointer", misaligned_sp, true);
    contained("stack overflow", stack_overflow, false);
}

fn memory_hog() {
    // A process may lower its own limit (not raise it): 8 MiB keeps this
    // quick on a 1 GiB machine. Then far more than that, page after page.
    if sys::set_mem_limit(slot::SELF_CAP_GROUP, HOG_LIMIT).is_err() {
        process::exit(5);
    }
    let Ok(pmo) = sys::create_pmo(PMO_MAX, PmoKind::Anonym) else { process::exit(3) };
    if sys::map_pmo(slot::SELF_CAP_GROUP, pmo, SCRATCH, perm::READ | perm::WRITE).is_err() {
        process::exit(4);
    }
    let mut at = SCRATCH;
    loop {
        // SAFETY: the region is mapped read/write; the kernel ends this
        // child when its memory limit (or the machine's memory) runs out.
        unsafe { (at as *mut u64).write_volatile(at) };
        at += 4096;
    }
}

/// Maps one page at 1 GiB steps (each mapping needs page tables of its
/// own) under a limit only 64 pages above what it uses: page tables are
/// charged to the process, so mapping must stop with `NoMemory` long
/// before 200 mappings (400 tables). Then, with no memory to spare, it asks
/// procmgr something: procmgr's handler stack for it is the client's
/// memory too, and touching it must not fail and end procmgr (it did).
fn table_hog() -> ! {
    let Ok(page) = sys::create_pmo(4096, PmoKind::Data) else { process::exit(3) };
    let used = sys::mem_usage(slot::SELF_CAP_GROUP).unwrap_or(0);
    if sys::set_mem_limit(slot::SELF_CAP_GROUP, used + 64 * 4096).is_err() {
        process::exit(5);
    }
    for i in 0..200u64 {
        match sys::map_pmo(slot::SELF_CAP_GROUP, page, SCRATCH + (i << 30), perm::READ) {
            Ok(()) => {}
            Err(Error::NoMemory) => {
                let served = process::pid() != 0;
                process::exit(if served { 0 } else { 6 })
            }
            Err(_) => process::exit(2),
        }
    }
    process::exit(1)
}

extern "C" fn idle_thread(_: u64) -> ! {
    loop {
        sys::sleep(1000);
    }
}

fn echo(req: &mut ipc::Request) -> ipc::Reply {
    ipc::Reply { ret: 0, words: [req.words[0], 0, 0] }
}

extern "C" fn small_server(_: u64) -> ! {
    ipc::serve_forever(echo, 4)
}

/// Memory, capability slots, threads and connections run out with an
/// error (or the end of the offender), and come back.
fn exhaustion() {
    let before = sys::free_memory();
    contained("a memory hog", memory_hog, false);
    sys::sleep(5);
    let after = sys::free_memory();
    ATTEMPTS.fetch_add(1, Ordering::Relaxed);
    if before.saturating_sub(after) > 128 * 1024 {
        broken(&format!("the memory hog's pages did not come back ({before} -> {after})"));
    }
    refused("a DATA PMO bigger than the memory limit", sys::create_pmo(PMO_MAX, PmoKind::Data));
    ATTEMPTS.fetch_add(1, Ordering::Relaxed);
    match process::fork() {
        Ok(0) => table_hog(),
        Ok(pid) => match process::waitpid(Some(pid)) {
            Ok((_, Status::Exited(0))) => {}
            other => broken(&format!("page tables past the memory limit: the child ended {other:?} (1: never refused, 6: procmgr did not answer)")),
        },
        Err(e) => broken(&format!("fork: {e:?}")),
    }

    // Capability slots.
    let mut slots = Vec::new();
    let full = loop {
        match sys::create_notification() {
            Ok(s) => slots.push(s),
            Err(e) => break e,
        }
        if slots.len() > 5000 {
            break Error::InvalidArgument;
        }
    };
    ATTEMPTS.fetch_add(1, Ordering::Relaxed);
    if full != Error::TableFull {
        broken(&format!("the capability table did not fill up ({} slots, then {full:?})", slots.len()));
    }
    for s in slots {
        let _ = sys::cap_delete(s);
    }

    // Threads, in a child (the refused ones leave nothing behind).
    ATTEMPTS.fetch_add(1, Ordering::Relaxed);
    match process::fork() {
        Ok(0) => {
            let mut n = 0;
            let stack = sys::create_pmo(1 << 20, PmoKind::Anonym)
                .and_then(|p| sys::map_pmo(slot::SELF_CAP_GROUP, p, SCRATCH, perm::READ | perm::WRITE));
            if stack.is_err() {
                process::exit(2);
            }
            let refused = loop {
                let sp = SCRATCH + (1 << 20) - (n % 16) * 4096;
                match sys::create_thread(slot::SELF_CAP_GROUP, idle_thread as *const () as u64, sp, 0) {
                    Ok(t) => {
                        let _ = sys::cap_delete(t);
                        n += 1;
                    }
                    Err(e) => break e,
                }
                if n > 100_000 {
                    process::exit(1);
                }
            };
            process::exit(if refused == Error::TableFull || refused == Error::NoMemory { 0 } else { 1 });
        }
        Ok(pid) => match process::waitpid(Some(pid)) {
            Ok((_, Status::Exited(0))) => {}
            other => broken(&format!("thread creation was never refused ({other:?})")),
        },
        Err(e) => broken(&format!("fork: {e:?}")),
    }
    // IPC connections: a server taking 4 refuses the fifth.
    if let Ok((server, thread)) = spawn::spawn_self("harden-server", small_server, 0, |_| Ok(())) {
        let mut conns = Vec::new();
        let last = loop {
            match ipc::connect(server) {
                Ok(c) => conns.push(c),
                Err(e) => break e,
            }
            if conns.len() > 64 {
                break Error::InvalidArgument;
            }
        };
        ATTEMPTS.fetch_add(1, Ordering::Relaxed);
        if conns.len() != 4 || last != Error::TableFull {
            broken(&format!("a server with room for 4 connections took {} (then {last:?})", conns.len()));
        }
        for c in conns.iter_mut() {
            ATTEMPTS.fetch_add(1, Ordering::Relaxed);
            if c.call([9, 0, 0, 0], &[], &mut []).map(|a| a.words[0]) != Ok(9) {
                broken("a call on an accepted connection failed");
            }
        }
        let _ = sys::cap_group_kill(server);
        for c in conns.iter_mut() {
            refused("a call to a killed server", c.call([1, 0, 0, 0], &[], &mut []));
        }
        // Our capabilities to it are all that keep its remains.
        drop(conns);
        let _ = sys::cap_delete(thread);
        let _ = sys::cap_delete(server);
    }
}

/// The seeded fuzzer (four seeds, each a child of it); returns how many
/// calls they really made, from its own account, which comes back through
/// a pipe and is shown. It fails (exit status 1) if memory was lost.
fn fuzz() -> u64 {
    let Ok((r, w)) = process::pipe() else {
        broken("pipe for the fuzzer");
        return 0;
    };
    let spawned = process::spawn("fuzz", &["fuzz", "101", "2000", "-s", "4"], [0, w, 2]);
    let _ = process::close(w);
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    while let Ok(n @ 1..) = process::read(r, &mut buf) {
        out.extend_from_slice(&buf[..n]);
    }
    let _ = process::close(r);
    let text = String::from_utf8_lossy(&out);
    print!("{text}");
    match spawned.and_then(|p| process::waitpid(Some(p))) {
        Ok((_, Status::Exited(0))) => {}
        other => broken(&format!("the fuzzer ended {other:?}")),
    }
    // "fuzz: 4 seeds, N calls (...)".
    let calls = text.lines().find_map(|l| l.strip_prefix("fuzz: 4 seeds, ")?.split(' ').next()?.parse().ok());
    calls.unwrap_or_else(|| {
        broken("the fuzzer gave no account");
        0
    })
}

/// One stress round, checking everything: a byte stream through a pipe to
/// a child and back, calls to procmgr, and a program spawned and waited for.
fn stress_round(round: u64) -> Result<(), String> {
    let (r1, w1) = process::pipe().map_err(|e| format!("pipe: {e:?}"))?;
    let (r2, w2) = process::pipe().map_err(|e| format!("pipe: {e:?}"))?;
    let child = process::fork().map_err(|e| format!("fork: {e:?}"))?;
    if child == 0 {
        let _ = process::close(w1);
        let _ = process::close(r2);
        let mut b = [0u8; 64];
        loop {
            match process::read(r1, &mut b) {
                Ok(0) | Err(_) => process::exit(0),
                Ok(n) => {
                    for x in b[..n].iter_mut() {
                        *x = x.wrapping_add(1);
                    }
                    if process::write(w2, &b[..n]).is_err() {
                        process::exit(1);
                    }
                }
            }
        }
    }
    let _ = process::close(r1);
    let _ = process::close(w2);
    let mut result = Ok(());
    for i in 0..16u8 {
        let out = [round as u8 ^ i; 32];
        if process::write(w1, &out) != Ok(32) {
            result = Err(String::from("write to the pipe failed"));
            break;
        }
        let mut back = [0u8; 32];
        let got = process::read_full(r2, &mut back);
        if got != 32 || back.iter().any(|&x| x != out[0].wrapping_add(1)) {
            result = Err(format!("the pipe returned {got} bytes, not what went in"));
            break;
        }
        if process::getpid().0 != process::pid() {
            result = Err(String::from("procmgr gave two answers to getpid"));
            break;
        }
    }
    let _ = process::close(w1);
    let status = process::waitpid(Some(child)).map(|w| w.1);
    let _ = process::close(r2);
    result?;
    if status != Ok(Status::Exited(0)) {
        return Err(format!("the pipe child ended {status:?}"));
    }
    let spawned = process::spawn("true", &["true"], [0, 1, 2]).and_then(|p| process::waitpid(Some(p))).map(|w| w.1);
    if spawned != Ok(Status::Exited(0)) {
        return Err(format!("spawn of true: {spawned:?}"));
    }
    Ok(())
}

/// A worker per CPU (at least two), `rounds` rounds each.
fn stress(rounds: u64) -> u64 {
    let workers = sys::cpu_count().max(2);
    let mut pids = Vec::new();
    for w in 0..workers {
        match process::fork() {
            Ok(0) => {
                for r in 0..rounds {
                    if let Err(why) = stress_round(w * 1000 + r) {
                        println!("[HARDEN] stress worker {w} round {r}: {why}");
                        process::exit(1);
                    }
                }
                process::exit(0);
            }
            Ok(pid) => pids.push(pid),
            Err(e) => broken(&format!("fork of stress worker {w}: {e:?}")),
        }
    }
    let mut done = 0;
    for pid in pids {
        match process::waitpid(Some(pid)) {
            Ok((_, Status::Exited(0))) => {
                done += rounds;
                println!("[HARDEN] stress worker {pid}: {rounds} rounds, every result checked");
            }
            other => broken(&format!("a stress worker ended {other:?}")),
        }
    }
    done
}

/// A procmgr call made by hand, as no libchcore function would make it:
/// returns x0, the words and the first three capability slots that came
/// back. (Only this thread talks to procmgr while it runs.)
fn procmgr_call(words: [u64; 4]) -> (i64, [u64; 3], [u64; 3]) {
    let (ret, w) = sys::ipc_call(slot::PROCMGR, words, 0);
    let mut caps = [0; 3];
    for (i, c) in caps.iter_mut().enumerate() {
        let at = libchcore::abi::ipc::PROCMGR_BUF + (libchcore::abi::ipc::CAP_SLOTS + i * 8) as u64;
        // SAFETY: procmgr maps this process's connection buffer (read/write)
        // at PROCMGR_BUF before the process starts; the slots are 8-byte
        // aligned words in its header.
        *c = unsafe { core::ptr::read_volatile(at as *const u64) };
    }
    (ret, w, caps)
}

fn failed(ret: i64) -> Result<i64, Error> {
    if ret < 0 {
        Err(Error::from_result(ret).unwrap_or(Error::InvalidArgument))
    } else {
        Ok(ret)
    }
}

/// A pipe is memory its users share (see `chcore_proc::pipe`): one of
/// them scribbling on it may spoil the pipe for its users, but must not
/// make any of them fault or hang for good, nor touch procmgr.
fn pipes() {
    let Ok((r, w)) = process::pipe() else {
        broken("pipe");
        return;
    };
    refused("procmgr READ of a pipe (pipes are read in place)", failed(procmgr_call([proto::READ, r, 1, 0]).0));
    refused("procmgr WRITE to a pipe", failed(procmgr_call([proto::WRITE, w, 1, 0]).0));
    let (ret, words, caps) = procmgr_call([proto::PIPE_SHARE, r, 0, 0]);
    let mapped = ret == 0
        && words[0] == proto::PIPE_READ_END
        && sys::map_pmo(slot::SELF_CAP_GROUP, caps[0], SCRATCH, perm::READ | perm::WRITE).is_ok();
    if !mapped {
        broken(&format!("PIPE_SHARE of a pipe's read end: {ret} {words:?}"));
    } else {
        // SAFETY: the pipe's shared memory is mapped read/write at SCRATCH
        // (page-aligned) until the unmap below; the header is atomics only.
        let hdr = unsafe { &*(SCRATCH as *const pipe::Header) };
        let works = || {
            let mut got = [0u8; 2];
            process::write(w, b"ok") == Ok(2) && process::read(r, &mut got) == Ok(2) && &got == b"ok"
        };
        hdr.head.store(10, Ordering::SeqCst);
        hdr.tail.store(1 << 40, Ordering::SeqCst);
        refused("read of a pipe whose header was scribbled on", process::read(r, &mut [0; 8]));
        refused("write to a pipe whose header was scribbled on", process::write(w, b"x"));
        hdr.head.store(0, Ordering::SeqCst);
        hdr.tail.store(0, Ordering::SeqCst);
        ATTEMPTS.fetch_add(1, Ordering::Relaxed);
        if !works() {
            broken("a pipe whose header was put back does not work");
        }
        // A child takes the lock (a process stopped inside a read or write
        // leaves it so) and ends: procmgr must release it.
        ATTEMPTS.fetch_add(1, Ordering::Relaxed);
        match process::fork() {
            Ok(0) => {
                // The mapping is shared with the fork.
                hdr.lock.store(process::pid(), Ordering::SeqCst);
                process::exit(0);
            }
            Ok(pid) => {
                let _ = process::waitpid(Some(pid));
                let mut ticks = 0;
                while hdr.lock.load(Ordering::SeqCst) != 0 && ticks < 100 {
                    sys::sleep(1);
                    ticks += 1;
                }
                if hdr.lock.load(Ordering::SeqCst) != 0 {
                    broken("a pipe's lock held by a process that ended was not released");
                    hdr.lock.store(0, Ordering::SeqCst);
                } else if !works() {
                    broken("a pipe whose lock was released does not work");
                }
            }
            Err(e) => broken(&format!("fork: {e:?}")),
        }
        let _ = sys::unmap_pmo(slot::SELF_CAP_GROUP, SCRATCH);
    }
    if ret == 0 && words[0] != proto::NOT_A_PIPE {
        for c in caps {
            let _ = sys::cap_delete(c);
        }
    }
    let _ = process::close(r);
    let _ = process::close(w);
}

/// The file-system protocol sent to procmgr with random words and random or
/// hostile buffers (lengths past the buffer, bad UTF-8, forged descriptors
/// and handles, offsets at the ends of the range): every request must be
/// answered, procmgr and tmpfs must go on serving, and what was made or
/// opened must go when it is removed or closed.
fn files() {
    use chcore_fs::proto as fsp;
    use libchcore::fs;
    const DIR: &str = "/tmp/harden";
    let before = fs::statfs("/").map(|s| (s.free_blocks, s.files));
    // Random renames and creations may put names anywhere writable: what
    // is new in these directories afterwards is the fuzzer's, and goes.
    let litter = testing::Litter::watch(&["/", "/tmp"]);
    if fs::mkdir(DIR).is_err() {
        broken("mkdir for the file tests");
        return;
    }
    let buf = libchcore::abi::ipc::PROCMGR_BUF + libchcore::abi::ipc::DATA as u64;
    let paths =
        ["/tmp/harden/a", "/tmp/harden/b/", "/tmp/harden", "/", "/bin", "/bin/ls", "harden-rel", "/tmp/harden/../.."];
    let mut next = xorshift(0x5DEE_CE66_D1CE_4E5B);
    for _ in 0..2000 {
        let op = fsp::FS_BASE + next() % 24;
        let pick = |r: u64| hostile(r, 5000);
        let mut words = [op, pick(next()), pick(next()), pick(next())];
        // SAFETY: procmgr maps this process's connection buffer (read/write,
        // BUF_SIZE bytes) at PROCMGR_BUF before the process starts; its data
        // area starts at DATA and no call of ours is in flight.
        let data = unsafe { core::slice::from_raw_parts_mut(buf as *mut u8, 4096) };
        if next().is_multiple_of(2) {
            let p = paths[(next() % paths.len() as u64) as usize].as_bytes();
            data[..p.len()].copy_from_slice(p);
            // The length goes where each operation expects it.
            let slot = if matches!(op, fsp::FS_OPEN) { 2 } else { 1 };
            words[slot] = p.len() as u64;
        } else {
            for b in data.iter_mut().take(64) {
                *b = next() as u8;
            }
        }
        ATTEMPTS.fetch_add(1, Ordering::Relaxed);
        let _ = procmgr_call(words);
    }
    // Whatever the requests opened is ours: close it all.
    for fd in 3..proto::MAX_FDS as u64 {
        let _ = fs::close(fd);
    }
    litter.sweep();
    ATTEMPTS.fetch_add(1, Ordering::Relaxed);
    let works = fs::write_file("/tmp/harden-check", b"still")
        .and_then(|()| fs::read_file("/tmp/harden-check"))
        .is_ok_and(|d| d == b"still")
        && fs::unlink("/tmp/harden-check").is_ok();
    if !works {
        broken("files no longer work after the file-system fuzzing");
    }
    let after = fs::statfs("/").map(|s| (s.free_blocks, s.files));
    if before != after {
        broken(&format!("tmpfs (free blocks, files) {before:?} before the file tests, {after:?} after"));
    }
}

/// Private windows and pager calls from a process that is no pager.
fn pagers() {
    refused("create a paged PMO without being a pager", sys::create_paged_pmo(4096, 1));
    refused("pager_next without being a pager", sys::pager_next());
    refused("pager_supply without being a pager", sys::pager_supply(1, 0, Some(&[0; 4096])));
    let Ok(data) = sys::create_pmo(4 * 4096, PmoKind::Data) else {
        broken("create_pmo for the private-window tests");
        return;
    };
    refused("pmo_private at a misaligned offset", sys::pmo_private(data, 100, 4096));
    refused("pmo_private of a misaligned length", sys::pmo_private(data, 0, 100));
    refused("pmo_private of no pages", sys::pmo_private(data, 0, 0));
    refused("pmo_private past the end", sys::pmo_private(data, 3 * 4096, 2 * 4096));
    refused("pmo_private of a wrapping range", sys::pmo_private(data, u64::MAX - 4095, 8192));
    refused("pmo_private of a cap_group", sys::pmo_private(slot::SELF_CAP_GROUP, 0, 4096));
    if let Ok(anon) = sys::create_pmo(4096, PmoKind::Anonym) {
        refused("pmo_private of memory allocated on demand", sys::pmo_private(anon, 0, 4096));
        let _ = sys::cap_delete(anon);
    }
    if let Ok(map_only) = sys::cap_copy(data, slot::SELF_CAP_GROUP, Rights::MAP) {
        refused("pmo_private without READ", sys::pmo_private(map_only, 0, 4096));
        let _ = sys::cap_delete(map_only);
    }
    // A window of a read-only capability is writable, and writes only itself.
    ATTEMPTS.fetch_add(1, Ordering::Relaxed);
    let ro = sys::cap_copy(data, slot::SELF_CAP_GROUP, Rights::READ.union(Rights::MAP));
    match ro.and_then(|ro| {
        let w = sys::pmo_private(ro, 4096, 4096);
        let _ = sys::cap_delete(ro);
        w
    }) {
        Ok(w) => {
            refused("pmo_private of a private window", sys::pmo_private(w, 0, 4096));
            let mut b = [0u8; 5];
            let private = sys::write_pmo(data, 4096, b"first").is_ok()
                && sys::write_pmo(w, 0, b"mine!").is_ok()
                && sys::read_pmo(data, 4096, &mut b).is_ok()
                && &b == b"first";
            if !private {
                broken("a private window wrote through to its source");
            }
            let _ = sys::cap_delete(w);
        }
        Err(e) => broken(&format!("pmo_private of a read-only capability: {e:?}")),
    }
    let _ = sys::cap_delete(data);
}

/// Random requests over a session with tmpfs (the file's own handle, or
/// others), `FS_MSYNC` with random keys and ranges, and random `mmap`,
/// `msync` and `munmap` calls: tmpfs answers each, files still work, and
/// its space and file count come back once the file is gone.
fn sessions() {
    use chcore_fs::proto as fsp;
    use libchcore::fs;
    use libchcore::mman;
    const FILE: &str = "/tmp/harden-session";
    let before = fs::statfs("/").map(|s| (s.free_blocks, s.files));
    if fs::write_file(FILE, &[7u8; 3 * 4096]).is_err() {
        broken("write_file for the session tests");
        return;
    }
    let Ok(fd) = fs::open(FILE, fs::O_RDWR) else {
        broken("open for the session tests");
        return;
    };
    let mut next = xorshift(0x2545_F491_4F6C_DD1D);
    let pick = |r: u64| hostile(r, 20_000);
    for _ in 0..1000 {
        // Every operation, session ones most often, procmgr's own too.
        let op = fsp::FS_BASE + next() % 40;
        let handle = if next().is_multiple_of(3) { Some(pick(next())) } else { None };
        // Writes and truncations stay small: the point is the checks.
        let (w1, w2) = match op {
            fsp::FS_FTRUNCATE => (next() % 100_000, 0),
            fsp::FS_WRITE | fsp::FS_PWRITE => (next() % 8000, next() % 100_000),
            _ => (pick(next()), pick(next())),
        };
        let input: Vec<u8> = (0..next() % 64).map(|_| next() as u8).collect();
        ATTEMPTS.fetch_add(1, Ordering::Relaxed);
        let _ = fs::session_raw(fd, op, handle, [w1, w2], &input);
    }
    let mut maps: Vec<(*mut u8, usize)> = Vec::new();
    for _ in 0..300 {
        ATTEMPTS.fetch_add(1, Ordering::Relaxed);
        match next() % 3 {
            0 => {
                let len = match next() % 4 {
                    0 => 0,
                    1 => pick(next()) as usize,
                    _ => (next() % (6 * 4096)) as usize,
                };
                let (prot, flags) = ((next() % 8) as u32, (next() % 4) as u32);
                let offset = if next().is_multiple_of(2) { (next() % 4) * 4096 } else { pick(next()) };
                if let Ok(p) = mman::mmap(len, prot, flags, fd, offset) {
                    maps.push((p, len));
                }
            }
            1 => {
                let addr = match maps.get((next() % 8) as usize) {
                    Some(&(p, _)) => p.wrapping_add((next() % 8192) as usize),
                    None => pick(next()) as *mut u8,
                };
                let _ = mman::msync(addr, pick(next()) as usize, 0);
            }
            _ => {
                if let Some(&(p, len)) = maps.first() {
                    let wrong = next().is_multiple_of(2);
                    let _ = mman::munmap(p, if wrong { len + 8192 } else { len });
                    if !wrong {
                        maps.remove(0);
                    }
                }
            }
        }
    }
    for (p, len) in maps {
        if mman::munmap(p, len).is_err() {
            broken("munmap of a mapping the fuzzer made");
        }
    }
    let _ = fs::close(fd);
    ATTEMPTS.fetch_add(1, Ordering::Relaxed);
    let works = fs::write_file(FILE, b"still").and_then(|()| fs::read_file(FILE)).is_ok_and(|d| d == b"still")
        && fs::unlink(FILE).is_ok();
    if !works {
        broken("files no longer work after the session fuzzing");
    }
    let after = fs::statfs("/").map(|s| (s.free_blocks, s.files));
    if before != after {
        broken(&format!("tmpfs (free blocks, files) {before:?} before the session tests, {after:?} after"));
    }
}

/// A xorshift generator from `seed`: the file fuzzers' numbers.
fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// A number of the kinds that find bugs, chosen by `r`: small, any, near
/// the top, a power of two, or below `below`.
fn hostile(r: u64, below: u64) -> u64 {
    match r % 5 {
        0 => r % 70,
        1 => r,
        2 => u64::MAX - r % 4,
        3 => 1 << (r % 64),
        _ => r % below,
    }
}
