//! `scale [ipc|pipe] [TICKS]`: how much independent work the CPUs get done
//! together. One worker per CPU, pinned there: with `ipc`, a client and an
//! echo server of its own calling round trips; with `pipe`, two processes
//! passing a byte back and forth through two pipes. All start at the same
//! tick and stop TICKS ticks (default 300, 3 s) later; the round trips
//! completed are summed and printed as `SCALE <mode> <cpus> <round trips>
//! <per second>`. Compare the figure on `-smp 1` with `-smp 2` or `-smp 4`:
//! on a host with as many free cores, perfect scaling multiplies it by the
//! number of CPUs.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use libchcore::abi::slot;
use libchcore::ipc::{self, Reply, Request};
use libchcore::{println, process, spawn, sys};

libchcore::entry!(main);

fn echo(req: &mut Request) -> Reply {
    Reply { ret: 0, words: [req.words[1], 0, 0] }
}

extern "C" fn server_main(_: u64) -> ! {
    ipc::serve_forever(echo, 2)
}

/// Run `op` from tick `start` until tick `end`; how many times it ran, or
/// `None` if it failed.
fn run_until(start: u64, end: u64, mut op: impl FnMut() -> bool) -> Option<u64> {
    let now = sys::get_tick();
    if start > now {
        sys::sleep(start - now);
    }
    let mut n = 0u64;
    loop {
        // Looking at the clock costs a system call: every 64 operations.
        for _ in 0..64 {
            if !op() {
                return None;
            }
        }
        n += 64;
        if sys::get_tick() >= end {
            return Some(n);
        }
    }
}

fn ipc_worker(cpu: u64, start: u64, end: u64) -> Option<u64> {
    let (server, thread) = spawn::spawn_self("scale-server", server_main, 0, |_| Ok(())).ok()?;
    sys::set_affinity(thread, Some(cpu)).ok()?;
    let mut conn = ipc::connect(server).ok()?;
    let done = run_until(start, end, || conn.call([0, 1, 0, 0], &[], &mut []).is_ok());
    drop(conn);
    let _ = sys::cap_group_kill(server);
    done
}

fn pipe_worker(cpu: u64, start: u64, end: u64) -> Option<u64> {
    let ((r1, w1), (r2, w2)) = (process::pipe().ok()?, process::pipe().ok()?);
    match process::fork().ok()? {
        0 => {
            let _ = sys::set_affinity(slot::CURRENT_THREAD, Some(cpu));
            // Only the other side's ends: its close of w1 is our end of file.
            let _ = process::close(w1);
            let _ = process::close(r2);
            let mut b = [0u8; 1];
            // Echo until the other side closes its end.
            while process::read(r1, &mut b) == Ok(1) {
                if process::write(w2, &b).is_err() {
                    break;
                }
            }
            process::exit(0);
        }
        child => {
            let _ = process::close(r1);
            let _ = process::close(w2);
            let done = run_until(start, end, || {
                let mut b = [7u8; 1];
                process::write(w1, &b) == Ok(1) && process::read(r2, &mut b) == Ok(1)
            });
            let _ = process::close(w1);
            let _ = process::waitpid(Some(child));
            done
        }
    }
}

fn main() -> i32 {
    let args = libchcore::args();
    let mode = args.get(1).map_or("ipc", |s| s.as_str());
    let ticks = args.get(2).and_then(|s| s.parse::<u64>().ok()).unwrap_or(300);
    if !matches!(mode, "ipc" | "pipe") || ticks == 0 {
        libchcore::eprintln!("usage: scale [ipc|pipe] [TICKS]");
        return 2;
    }
    let cpus = sys::cpu_count();
    let Ok((results_r, results_w)) = process::pipe() else { return 1 };
    // Workers need a moment to set up: all start together a little later.
    let start = sys::get_tick() + 50;
    let end = start + ticks;
    let mut workers = Vec::new();
    for cpu in 0..cpus {
        match process::fork() {
            Ok(0) => {
                let _ = sys::set_affinity(slot::CURRENT_THREAD, Some(cpu));
                let done = if mode == "ipc" { ipc_worker(cpu, start, end) } else { pipe_worker(cpu, start, end) };
                let _ = process::write(results_w, &done.unwrap_or(u64::MAX).to_le_bytes());
                process::exit(if done.is_some() { 0 } else { 1 });
            }
            Ok(pid) => workers.push(pid),
            Err(e) => {
                libchcore::eprintln!("scale: fork: {e:?}");
                return 1;
            }
        }
    }
    let _ = process::close(results_w);
    let mut total = 0u64;
    let mut failed = false;
    for _ in 0..cpus {
        let mut b = [0u8; 8];
        if process::read_full(results_r, &mut b) != 8 {
            failed = true;
            continue;
        }
        match u64::from_le_bytes(b) {
            u64::MAX => failed = true,
            n => total += n,
        }
    }
    for pid in workers {
        let _ = process::waitpid(Some(pid));
    }
    if failed {
        libchcore::eprintln!("scale: a worker failed");
        return 1;
    }
    let per_second = total * libchcore::abi::TICK_HZ / ticks;
    println!("SCALE {mode} {cpus} {total} {per_second}");
    0
}
