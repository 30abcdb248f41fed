//! `bench`: path lengths of the kernel's and procmgr's hot paths.
//!
//! Reads the cycle counter (PMCCNTR_EL0, which the benchmark image lets EL0
//! read; under QEMU with `-icount shift=0` it counts instructions) around
//! many warm iterations of each operation and prints
//! `BENCH <name> <per operation> <iterations>`. The iteration count, and
//! optionally the one benchmark to run, come from the ramdisk file
//! `bench-args` (`<iterations> <name>|all`; the build writes it), default
//! 10000 and all; the expensive process operations run a tenth as many.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use core::sync::atomic::{AtomicU64, Ordering};
use libchcore::abi::{perm, slot};
use libchcore::ipc::{self, Reply, Request};
use libchcore::process::{self, Status};
use libchcore::{println, spawn, sys, PmoKind, Rights};

libchcore::entry!(main);

fn cycles() -> u64 {
    let c: u64;
    // SAFETY: reads the cycle counter, which the benchmark kernel lets EL0 read.
    unsafe { core::arch::asm!("isb", "mrs {}, pmccntr_el0", out(reg) c, options(nomem, nostack)) };
    c
}

fn report(name: &str, total: u64, n: u64) {
    println!("BENCH {name} {} {n}", total / n.max(1));
}

/// Time `n` runs of `op` after `n / 10` warm-up runs.
fn measure(name: &str, n: u64, mut op: impl FnMut()) {
    for _ in 0..(n / 10).max(1) {
        op();
    }
    let start = cycles();
    for _ in 0..n {
        op();
    }
    report(name, cycles() - start, n);
}

/// Iterations and the benchmark to run (`None`: all), from `bench-args`.
fn args() -> (u64, Option<String>) {
    // On the stack, not the heap: a heap page touched here would be one more
    // page for every fork benchmark to copy.
    let Ok(fd) = libchcore::fs::open("/bin/bench-args", libchcore::fs::O_RDONLY) else { return (10_000, None) };
    let mut buf = [0u8; 64];
    let n = libchcore::fs::read(fd, &mut buf).unwrap_or(0);
    let _ = libchcore::fs::close(fd);
    let text = core::str::from_utf8(&buf[..n]).unwrap_or("");
    let mut words = text.split_whitespace();
    let iterations = words.next().and_then(|w| w.parse().ok()).unwrap_or(10_000);
    let only = words.next().filter(|w| *w != "all").map(String::from);
    (iterations, only)
}

fn echo(req: &mut Request) -> Reply {
    // Capabilities that arrive are dropped at once.
    for &c in req.caps {
        let _ = sys::cap_delete(c);
    }
    Reply { ret: 0, words: [req.words[1], 0, 0] }
}

extern "C" fn server_main(_: u64) -> ! {
    ipc::serve_forever(echo, 8)
}

/// One fork of a child that execs `true`, and the wait for it.
fn fork_exec_wait() {
    match process::fork() {
        Ok(0) => {
            let _ = process::exec("true", &["true"]);
            process::exit(1);
        }
        Ok(_) => {
            if process::wait().map(|w| w.1) != Ok(Status::Exited(0)) {
                fail();
            }
        }
        Err(_) => fail(),
    }
}

/// Blocked processes the crowd benchmark adds: with procmgr, this program
/// and the echo server, 1,000 processes.
const CROWD: usize = 997;

/// `crowd` (`cargo xtask bench --only crowd`, on 512 MiB): an IPC round
/// trip and a fork, exec and wait with 3 processes alive, then the same
/// with 1,000 (997 `sleep`s added), to show that neither path costs more
/// with more processes. Returns false if the crowd could not be made.
fn crowd(n: u64, heavy: u64) -> bool {
    let Ok((server, _)) = spawn::spawn_self("bench-server", server_main, 0, |_| Ok(())) else { return false };
    let Ok(mut conn) = ipc::connect(server) else { return false };
    let mut round_trip = || {
        if conn.call([0, 1, 2, 3], &[], &mut []).is_err() {
            fail();
        }
    };
    measure("ipc_call_return", n, &mut round_trip);
    measure("fork_exec_wait", heavy, fork_exec_wait);
    let mut sleepers = alloc::vec::Vec::with_capacity(CROWD);
    for _ in 0..CROWD {
        match process::spawn("sleep", &["sleep", "1000000"], [0, 1, 2]) {
            Ok(p) => sleepers.push(p),
            Err(e) => {
                println!("bench: crowd: spawn of sleep {} failed: {e:?}", sleepers.len());
                return false;
            }
        }
    }
    // Let each reach its sleep.
    sys::sleep(50);
    println!("bench: {} processes alive", sleepers.len() + 3);
    measure("ipc_call_return_1000", n, &mut round_trip);
    measure("fork_exec_wait_1000", heavy, fork_exec_wait);
    for &p in &sleepers {
        let _ = process::kill(p);
    }
    for &p in &sleepers {
        let _ = process::waitpid(Some(p));
    }
    let _ = sys::cap_group_kill(server);
    true
}

static YIELDS: AtomicU64 = AtomicU64::new(0);
/// Operations that failed: a benchmark of a failing operation is worthless.
static FAILURES: AtomicU64 = AtomicU64::new(0);

fn fail() {
    FAILURES.fetch_add(1, Ordering::Relaxed);
}

/// The file benchmarks, on tmpfs, as lbench.c measures them on Linux
/// (../shared/linux-peer): `heavy` rounds of the small operations, a few of
/// the megabyte ones. Not inlined: its buffers would grow `main`'s stack
/// frame, whose pages (touched by the stack probe) every fork benchmark
/// would then copy.
#[inline(never)]
fn files(heavy: u64, wants: &dyn Fn(&str) -> bool) {
    use libchcore::fs::{self, O_CREAT, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY};
    const FILE: &str = "/tmp/bench-file";
    const MIB: usize = 1 << 20;
    let check = |ok: bool| {
        if !ok {
            fail();
        }
    };
    if fs::write_file(FILE, b"x").is_err() {
        fail();
        return;
    }
    let measure = |name: &str, n: u64, op: &mut dyn FnMut()| {
        if wants(name) {
            measure(name, n, op)
        }
    };
    measure("open_close", heavy, &mut || {
        check(fs::open(FILE, O_RDONLY).and_then(fs::close).is_ok());
    });
    measure("stat", heavy, &mut || check(fs::stat(FILE).is_ok()));
    measure("create_unlink", heavy, &mut || {
        let made = fs::open("/tmp/bench-new", O_WRONLY | O_CREAT | O_EXCL).and_then(fs::close);
        check(made.is_ok() && fs::unlink("/tmp/bench-new").is_ok());
    });
    if let Ok(fd) = fs::open(FILE, O_RDWR | O_TRUNC) {
        let mut page = [7u8; 4096];
        measure("rw_4k", heavy, &mut || {
            check(fs::pwrite(fd, &page, 0) == Ok(4096));
            check(fs::pread(fd, &mut page, 0) == Ok(4096));
        });
        let _ = fs::close(fd);
    }
    // At least one, and in proportion to `heavy`: `--profile` compares two
    // runs whose iteration counts differ by two.
    let rounds = (heavy / 100).max(1);
    if wants("seq_read_1m") && fs::write_file(FILE, &alloc::vec![1u8; MIB]).is_ok() {
        let mut buf = alloc::vec![0u8; 64 << 10];
        measure("seq_read_1m", rounds, &mut || {
            let Ok(fd) = fs::open(FILE, O_RDONLY) else { return fail() };
            let mut got = 0;
            while let Ok(n @ 1..) = fs::read(fd, &mut buf) {
                got += n;
            }
            check(got == MIB && fs::close(fd).is_ok());
        });
    }
    let _ = fs::unlink(FILE);
    if wants("pipe_1m") {
        pipe_1m(rounds);
    }
}

/// 1 MiB through a pipe in 4 KiB writes, to a reader in another process.
#[inline(never)]
fn pipe_1m(rounds: u64) {
    const MIB: usize = 1 << 20;
    let Ok((r, w)) = process::pipe() else { return fail() };
    let total = (rounds + (rounds / 10).max(1)) as usize * MIB;
    match process::fork() {
        Ok(0) => {
            let _ = process::close(w);
            let mut buf = [0u8; 4096];
            let mut got = 0;
            while let Ok(n @ 1..) = process::read(r, &mut buf) {
                got += n;
            }
            process::exit(if got == total { 0 } else { 1 });
        }
        Ok(pid) => {
            let _ = process::close(r);
            let page = [3u8; 4096];
            measure("pipe_1m", rounds, || {
                for _ in 0..MIB / 4096 {
                    if process::write(w, &page) != Ok(4096) {
                        fail();
                    }
                }
            });
            let _ = process::close(w);
            if process::waitpid(Some(pid)).map(|s| s.1) != Ok(Status::Exited(0)) {
                fail();
            }
        }
        Err(_) => fail(),
    }
}

extern "C" fn yielder(_: u64) -> ! {
    loop {
        sys::yield_now();
    }
}

fn main() -> i32 {
    let boot = cycles();
    let (n, only) = args();
    let wants = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let heavy = (n / 10).max(1);
    println!("bench: {n} iterations ({heavy} for process operations)");
    report("boot_to_shell", boot, 1);

    if wants("null_syscall") {
        measure("null_syscall", n, || {
            sys::cpu_id();
        });
    }

    if wants("ipc_call_return") || wants("ipc_cap_transfer") {
        let Ok((server, _)) = spawn::spawn_self("bench-server", server_main, 0, |_| Ok(())) else { return 1 };
        let Ok(mut conn) = ipc::connect(server) else { return 1 };
        if wants("ipc_call_return") {
            measure("ipc_call_return", n, || {
                if conn.call([0, 1, 2, 3], &[], &mut []).is_err() {
                    fail();
                }
            });
        }
        let Ok(pmo) = sys::create_pmo(4096, PmoKind::Anonym) else { return 1 };
        if wants("ipc_cap_transfer") {
            measure("ipc_cap_transfer", n, || {
                if conn.call([0, 1, 2, 3], &[(pmo, Rights::READ.union(Rights::COPY))], &mut []).is_err() {
                    fail();
                }
            });
        }
        let _ = sys::cap_group_kill(server);
    }

    // Two threads in different cap_groups, both on CPU 0, yielding to each other.
    let _ = sys::set_affinity(slot::CURRENT_THREAD, Some(0));
    sys::yield_now();
    let yielder =
        if wants("yield_switch") { spawn::spawn_self("bench-yield", yielder, 0, |_| Ok(())).ok() } else { None };
    if let Some((other, thread)) = yielder {
        let _ = sys::set_affinity(thread, Some(0));
        sys::yield_now();
        let start = cycles();
        for _ in 0..n {
            sys::yield_now();
        }
        // Each of our yields is two switches: to the other thread and back.
        report("yield_switch", (cycles() - start) / 2, n);
        YIELDS.store(n, Ordering::Relaxed);
        let _ = sys::cap_group_kill(other);
    }
    let _ = sys::set_affinity(slot::CURRENT_THREAD, None);

    // One byte each way through two pipes between two processes.
    let pipes = if wants("pipe_round_trip") { process::pipe().ok().zip(process::pipe().ok()) } else { None };
    if let Some(((r1, w1), (r2, w2))) = pipes {
        let rounds = heavy * 2;
        match process::fork() {
            Ok(0) => {
                let mut b = [0u8; 1];
                for _ in 0..rounds + (rounds / 10).max(1) {
                    if process::read(r1, &mut b) != Ok(1) || process::write(w2, &b).is_err() {
                        process::exit(1);
                    }
                }
                process::exit(0);
            }
            Ok(pid) => {
                measure("pipe_round_trip", rounds, || {
                    let mut b = [7u8; 1];
                    let _ = process::write(w1, &b);
                    let _ = process::read(r2, &mut b);
                });
                let _ = process::waitpid(Some(pid));
            }
            Err(_) => return 1,
        }
        for fd in [r1, w1, r2, w2] {
            let _ = process::close(fd);
        }
    }

    let measure = |name: &str, n: u64, op: &mut dyn FnMut()| {
        if wants(name) {
            measure(name, n, op)
        }
    };
    measure("fork_exit_wait", heavy, &mut || match process::fork() {
        Ok(0) => process::exit(0),
        Ok(_) => {
            if process::wait().map(|w| w.1) != Ok(Status::Exited(0)) {
                fail();
            }
        }
        Err(_) => fail(),
    });
    measure("fork_exec_wait", heavy, &mut fork_exec_wait);
    measure("spawn_wait", heavy, &mut || match process::spawn("true", &["true"], [0, 1, 2]) {
        Ok(pid) => {
            if process::waitpid(Some(pid)).map(|w| w.1) != Ok(Status::Exited(0)) {
                fail();
            }
        }
        Err(_) => fail(),
    });

    // First touch of anonymous pages.
    let pages = n.min(4096);
    let mem = if wants("page_fault_anon") { sys::create_pmo(pages * 4096, PmoKind::Anonym).ok() } else { None };
    if let Some(mem) = mem {
        const AT: u64 = 0x2_0000_0000;
        if sys::map_pmo(slot::SELF_CAP_GROUP, mem, AT, perm::READ | perm::WRITE).is_ok() {
            let start = cycles();
            for i in 0..pages {
                // SAFETY: the region was just mapped read/write; each write
                // is the first touch of its page.
                unsafe { ((AT + i * 4096) as *mut u64).write_volatile(i) };
            }
            report("page_fault_anon", cycles() - start, pages);
        }
    }
    files(heavy, &wants);

    if only.as_deref() == Some("crowd") && !crowd(n, heavy) {
        return 1;
    }
    let failures = FAILURES.load(Ordering::Relaxed);
    if failures > 0 {
        println!("bench: {failures} operations failed; the numbers above are not valid");
        return 1;
    }
    0
}
