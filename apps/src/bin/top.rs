//! `top [-n COUNT] [-d TICKS]`: what each CPU does (idle share, kernel
//! entries, interrupts and thread switches per second) and the busiest
//! processes, refreshed every second (`-d`: every TICKS ticks) until a key
//! is pressed, or COUNT times with `-n` (then no key is read).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use chcore_proc::top::{busiest, idle_permille, parse_ps, per_second, tenths, Proc};
use libchcore::abi::CpuStats;
use libchcore::{println, process, sys, Error};

libchcore::entry!(main);

/// Processes shown.
const ROWS: usize = 10;
/// ANSI: cursor home, clear the screen.
const CLEAR: &str = "\x1b[H\x1b[2J";

struct Look {
    cpus: Vec<CpuStats>,
    procs: Vec<Proc>,
    tick: u64,
}

fn look() -> Result<Look, Error> {
    let cpus = (0..sys::cpu_count()).map(sys::cpu_stats).collect::<Result<Vec<_>, _>>()?;
    Ok(Look { cpus, procs: parse_ps(&process::ps()?), tick: sys::get_tick() })
}

fn show(before: &Look, now: &Look, clear: bool) {
    if clear {
        libchcore::print!("{CLEAR}");
    }
    let up = now.cpus.first().map_or(0, |c| c.now_us) / 1_000_000;
    println!(
        "top: {} CPUs, up {}:{:02}:{:02}, {} processes",
        now.cpus.len(),
        up / 3600,
        up / 60 % 60,
        up % 60,
        now.procs.len()
    );
    println!("CPU  IDLE%  ENTRIES/s  IRQS/s  SWITCHES/s");
    for (i, (a, b)) in before.cpus.iter().zip(&now.cpus).enumerate() {
        let us = b.now_us.saturating_sub(a.now_us);
        println!(
            "{i:>3} {:>6} {:>10} {:>7} {:>11}",
            tenths(idle_permille(b.idle_us.saturating_sub(a.idle_us), us)),
            per_second(a.entries, b.entries, us),
            per_second(a.interrupts, b.interrupts, us),
            per_second(a.switches, b.switches, us),
        );
    }
    println!("  PID  PPID  CPU%  MEM(KiB)  KMEM(KiB)  STATE    NAME");
    for (p, share) in busiest(&before.procs, &now.procs, now.tick.saturating_sub(before.tick), ROWS) {
        println!(
            "{:>5} {:>5} {:>5} {:>9} {:>10}  {:<8} {}",
            p.pid,
            p.ppid,
            tenths(share),
            p.mem_kib,
            p.kmem_kib,
            p.state,
            p.name
        );
    }
}

fn main() -> i32 {
    let args = libchcore::args();
    let mut count: Option<u64> = None;
    let mut delay = 100;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let value = match a.as_str() {
            "-n" | "-d" => it.next().and_then(|v| v.parse::<u64>().ok()).filter(|v| *v > 0),
            _ => None,
        };
        match (a.as_str(), value) {
            ("-n", Some(v)) => count = Some(v),
            ("-d", Some(v)) => delay = v,
            _ => {
                libchcore::eprintln!("usage: top [-n COUNT] [-d TICKS]");
                return 2;
            }
        }
    }
    let Ok(mut before) = look() else {
        libchcore::eprintln!("top: cannot read the counters");
        return 1;
    };
    let mut shown = 0;
    loop {
        // Wait a period: for a key (which ends top) when interactive, or
        // simply sleep when counting.
        if count.is_some() {
            sys::sleep(delay);
        } else {
            match process::key(Some(delay)) {
                Err(Error::Timeout) => {}
                _ => return 0,
            }
        }
        let Ok(now) = look() else {
            libchcore::eprintln!("top: cannot read the counters");
            return 1;
        };
        show(&before, &now, count.is_none());
        before = now;
        shown += 1;
        if count.is_some_and(|c| shown >= c) {
            return 0;
        }
    }
}
