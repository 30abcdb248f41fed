//! `fuzz SEED [COUNT] [-s SEEDS | -t SECONDS] [-j WORKERS] [-v]`: random
//! system calls with random and boundary-value arguments (including
//! capabilities the caller really holds), from a seeded generator so that
//! a seed can be replayed, and an account of what they did.
//!
//! Each seed runs in a forked child, which may well not survive its own
//! calls (it can unmap its own code): the kernel, procmgr and the servers
//! must. The child counts into a page it shares with this process (the
//! calls it issued, the one in flight, the refusals by error), so the
//! account survives the child. After each seed one line says what it did
//! and how it ended: `finished`, `ended during its own call` (the call in
//! flight when it ended: an unmap of its own code, an IPC that asked
//! procmgr to end it; or a thread it made faulted meanwhile, which the
//! kernel's warning just before says), `faulted after` its last call, or
//! `exited`. At the
//! end, the totals and free memory before and after: every page free or
//! held by a process (procmgr, whose account holds every process's, may
//! grow by a few tables), and the kernel heap free or charged to a process
//! (to within 64 KiB: charges are estimates, and the kernel's own lists
//! keep their high-water room), or this program fails (exit status 1).
//!
//! With `-p` the children send random requests to the servers instead:
//! procmgr's protocol (process and file operations, random words, random
//! bytes or paths in the buffer) and tmpfs's over a session of their own
//! (random operations and handles). After every seed, in either mode,
//! procmgr and tmpfs must still serve a well-formed client (`getpid`,
//! `stat /`, a spawned `true` that exits 0), or this program fails. The
//! files the requests made are removed at the end.
//!
//! SEEDS seeds from SEED (1 by default), or seeds until SECONDS have gone;
//! WORKERS children at a time (1 by default; one per CPU shakes the
//! kernel's locking too). COUNT calls per seed (5,000 by default). `-v`
//! prints every call (of one worker) and its result. Only printable text
//! reaches the console: `putstr` gets a text of its own or a bad pointer.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use alloc::{format, vec};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use libchcore::abi::{perm, slot, PmoKind, Syscall, TICK_HZ};
use libchcore::fs::{self, Errno};
use libchcore::process::{self, Status};
use libchcore::{eprintln, println, sys, testing, Error};

libchcore::entry!(main);

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Calls that would only stop the fuzzer itself (block forever, end the
/// thread or the process, suspend itself) are left out: they test nothing.
const SKIP: &[Syscall] =
    &[Syscall::ThreadExit, Syscall::CapGroupExit, Syscall::ThreadSuspend, Syscall::IpcReturn, Syscall::IrqWait];

const BOUNDARY: &[u64] = &[
    0,
    1,
    2,
    3,
    7,
    8,
    64,
    4095,
    4096,
    4097,
    0x1000_0000,
    0x40_0000,
    0x2800_0000,
    0x2000_0000 - 4096,
    0x4000_0000_0000,
    0x0000_FFFF_FFFF_F000,
    1 << 48,
    0xFFFF_0000_0000_0000,
    0xFFFF_0000_4020_0000,
    i64::MAX as u64,
    u64::MAX - 4095,
    u64::MAX - 1,
    u64::MAX,
];

/// Where the tally pages are mapped: far from every address the calls are
/// given (a random 64-bit value lands on it once in 2^52 tries).
const TALLY_VA: u64 = 0x5A5A_0000_0000;
/// Error numbers counted one by one (the kernel's are all below this).
const ERRORS: usize = 128;

/// What a child did, in memory it shares with the parent.
#[repr(C)]
struct Tally {
    /// Calls issued, counted as each starts.
    calls: AtomicU64,
    /// 1 while a call is in flight, 0 between calls.
    in_call: AtomicU64,
    /// The last call started: its number and arguments.
    last: [AtomicU64; 7],
    /// Calls that returned a value.
    ok: AtomicU64,
    /// Calls refused, by error number (the last counts any larger one).
    refused: [AtomicU64; ERRORS],
    /// File-system requests refused, by errno (`-p`).
    refused_fs: [AtomicU64; ERRORS],
    /// The child got through all its calls.
    finished: AtomicU64,
    /// Threads it made (any of them can end it, by faulting).
    threads: AtomicU64,
    /// Its watchdog ended it: it ran past `SEED_DEADLINE`.
    timed_out: AtomicU64,
}

/// Seconds a seed may run: its watchdog thread ends it then (a call that
/// never returns, such as a wait for a child that never ends, or a thread
/// of its own that runs away, would hold the run up for ever). A seed
/// takes about a second.
const SEED_DEADLINE: u64 = 30;

/// A child's watchdog thread (`tally` is its `Tally`'s address): after
/// `SEED_DEADLINE` it marks the tally and ends the child, all in the
/// kernel (procmgr's connection may be busy with the stuck call).
extern "C" fn child_watchdog(tally: u64) -> ! {
    sys::sleep(SEED_DEADLINE * TICK_HZ);
    // SAFETY: `tally` is the address of this child's tally page, mapped by
    // the parent before the fork and inherited (shared memory stays shared).
    let t = unsafe { &*(tally as *const Tally) };
    t.timed_out.store(1, Relaxed);
    sys::exit(124)
}

/// What `putstr` may print: a tail of this line (so every print ends its
/// line), never memory.
const TEXT: &[u8] = b"fuzz: putstr\n";
/// `putstr` buffers that are not mapped.
const BAD_BUFFERS: &[u64] = &[0, 1 << 48, 0xFFFF_0000_4020_0000, u64::MAX - 4095, TALLY_VA + 0x1000_0000];

/// How a seed ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Finished,
    OwnCall,
    Faulted,
    Exited,
    TimedOut,
}

struct Options {
    seed: u64,
    count: u64,
    seeds: Option<u64>,
    seconds: Option<u64>,
    workers: u64,
    verbose: bool,
    protocol: bool,
}

fn options() -> Result<Options, String> {
    let args = libchcore::args();
    let mut o =
        Options { seed: 1, count: 5000, seeds: None, seconds: None, workers: 1, verbose: false, protocol: false };
    let mut plain = 0;
    let mut it = args.iter().skip(1);
    let number = |v: Option<&String>, what: &str| -> Result<u64, String> {
        v.and_then(|s| s.parse().ok()).ok_or_else(|| format!("{what}: expected a number"))
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "-v" => o.verbose = true,
            "-p" => o.protocol = true,
            "-s" => o.seeds = Some(number(it.next(), "-s")?),
            "-t" => o.seconds = Some(number(it.next(), "-t")?),
            "-j" => o.workers = number(it.next(), "-j")?.clamp(1, 16),
            _ if plain == 0 => {
                o.seed = number(Some(a), "SEED")?;
                plain += 1;
            }
            _ if plain == 1 => {
                o.count = number(Some(a), "COUNT")?;
                plain += 1;
            }
            _ => return Err(format!("{a}: unexpected")),
        }
    }
    Ok(o)
}

fn main() -> i32 {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("fuzz: {e}\nusage: fuzz SEED [COUNT] [-s SEEDS | -t SECONDS] [-j WORKERS] [-p] [-v]");
            return 2;
        }
    };
    let tallies = match map_tallies(o.workers) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("fuzz: no tally pages: {e:?}");
            return 1;
        }
    };
    let what = if o.protocol { "requests to procmgr and tmpfs" } else { "system calls" };
    println!("fuzz: seeds from {}, {} {what} each, {} at a time", o.seed, o.count, o.workers);
    // What the requests may make is removed at the end: their directory,
    // and anything new where a random path may land.
    let litter = testing::Litter::watch(&["/", "/tmp"]);
    if o.protocol {
        let _ = fs::mkdir(PROTO_DIR);
    }
    let mut not_serving = Vec::new();
    let start = sys::get_tick();
    let more = |started: u64| match (o.seeds, o.seconds) {
        (Some(n), _) => started < n,
        (None, Some(s)) => sys::get_tick() - start < s * TICK_HZ,
        (None, None) => started < 1,
    };
    let mut totals = Totals::default();
    // Worker slot -> (pid, seed) of the child running there.
    let mut running: Vec<Option<(u64, u64)>> = vec![None; o.workers as usize];
    let mut started = 0u64;
    let mut free_before = None;
    let processes = testing::process_count();
    loop {
        // Fill every idle slot while seeds remain; the first seed runs
        // alone, and free memory is measured after it (procmgr's and the
        // kernel's tables may grow for the first children).
        for (w, slot) in running.iter_mut().enumerate() {
            if slot.is_none() && more(started) && (started == 0 || free_before.is_some()) {
                let seed = o.seed + started;
                started += 1;
                let tally = tallies[w];
                tally.reset();
                match process::fork() {
                    Ok(0) if o.protocol => run_protocol(seed, o.count, tally, o.verbose && w == 0),
                    Ok(0) => run_seed(seed, o.count, tally, o.verbose && w == 0),
                    Ok(pid) => *slot = Some((pid, seed)),
                    Err(e) => {
                        eprintln!("fuzz: fork for seed {seed}: {e:?}");
                        totals.unstarted += 1;
                    }
                }
            }
        }
        if running.iter().all(Option::is_none) {
            break;
        }
        let (pid, status) = match process::waitpid(None) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("fuzz: wait: {e:?}");
                return 1;
            }
        };
        let Some(w) = running.iter().position(|s| s.is_some_and(|(p, _)| p == pid)) else { continue };
        let (_, seed) = running[w].take().unwrap_or_default();
        let tally = tallies[w];
        let (end, how) = ending(tally, status);
        println!("fuzz: seed {seed}: {} calls ({}); {how}", tally.calls.load(Relaxed), refusals(&tally.counts()));
        totals.add(tally, end);
        if let Err(why) = still_serving() {
            println!("fuzz: after seed {seed}, the servers do not serve: {why}");
            not_serving.push(seed);
        }
        if free_before.is_none() {
            let free = settled_free_memory(None, processes);
            free_before = Some((free, own_memory(), sys::free_kmem(), own_kmem()));
        }
    }
    if o.protocol {
        testing::remove_tree(PROTO_DIR);
    }
    litter.sweep();
    let (before, mem_before, kfree_before, kmem_before) = free_before.unwrap_or_default();
    let after = settled_free_memory(Some(before), processes);
    let mem_after = own_memory();
    let (kfree_after, kmem_after) = (sys::free_kmem(), own_kmem());
    let (held_before, held_after) = (held(&mem_before), held(&mem_after));
    println!(
        "fuzz: {} seeds, {} calls ({}); {} finished, {} ended during their own call, {} faulted, {} exited, \
         {} ended by their watchdog{}",
        totals.seeds,
        totals.calls,
        refusals(&totals.counts),
        totals.ends[0],
        totals.ends[1],
        totals.ends[2],
        totals.ends[3],
        totals.ends[4],
        if totals.unstarted > 0 { format!(", {} could not start", totals.unstarted) } else { String::new() },
    );
    let (grew, who) = growth(&mem_before, &mem_after);
    println!(
        "fuzz: free memory {} KiB after the first seed, {} KiB at the end; the processes hold {} KiB more ({})",
        before >> 10,
        after >> 10,
        held_after.saturating_sub(held_before) >> 10,
        if who.is_empty() { "none grew" } else { &who }
    );
    // Memory is free or some process's: a page that is neither is lost.
    // procmgr's tables may grow a little with more children at once (a
    // connection's buffer and page tables for each), never per call.
    if after + held_after != before + held_before || grew > GROWTH_SLACK {
        println!("fuzz: FAIL: memory lost");
        return 1;
    }
    // Kernel memory likewise: free, or charged to a process. Not to the
    // byte: charges are the heap's block sizes with B-tree nodes at a fixed
    // share per entry, and the kernel's own lists keep their high-water
    // room; a leak per call would be megabytes.
    let (kheld_before, kheld_after) = (held(&kmem_before), held(&kmem_after));
    let klost = (kfree_before + kheld_before) as i64 - (kfree_after + kheld_after) as i64;
    let (_, kwho) = growth(&kmem_before, &kmem_after);
    println!(
        "fuzz: kernel memory {} KiB free after the first seed, {} KiB at the end; the processes are charged {} KiB \
         more ({}); {} KiB unaccounted for",
        kfree_before >> 10,
        kfree_after >> 10,
        (kheld_after as i64 - kheld_before as i64) / 1024,
        if kwho.is_empty() { "none grew" } else { &kwho },
        klost / 1024
    );
    if klost > KMEM_SLACK {
        println!("fuzz: FAIL: kernel memory lost");
        return 1;
    }
    if !not_serving.is_empty() {
        println!("fuzz: FAIL: the servers stopped serving after seeds {not_serving:?}");
        return 1;
    }
    println!("fuzz: done, nothing lost");
    0
}

/// How much procmgr (and the shell) may grow from the first seed to the
/// end: with several children at once procmgr serves more connections at
/// once, and with `-p` holds more pipes, files and sessions at once.
const GROWTH_SLACK: u64 = 64 << 10;

/// Kernel memory that may be neither free nor charged at the end beyond
/// what it was after the first seed (see the check).
const KMEM_SLACK: i64 = 64 << 10;

/// Each live process's own memory in KiB, by pid, with its name, from
/// `ps`: procmgr's account holds every process's (accounts nest; procmgr
/// makes them all), so its own is its total less everyone else's.
fn own_memory() -> BTreeMap<u64, (String, u64)> {
    own(|p| p.mem_kib)
}

/// [`own_memory`] for kernel memory.
fn own_kmem() -> BTreeMap<u64, (String, u64)> {
    own(|p| p.kmem_kib)
}

fn own(kib: fn(&chcore_proc::top::Proc) -> u64) -> BTreeMap<u64, (String, u64)> {
    let table = process::ps().unwrap_or_default();
    let procs = chcore_proc::top::parse_ps(&table);
    let others: u64 = procs.iter().filter(|p| p.pid != 1).map(kib).sum();
    procs
        .into_iter()
        .map(|p| {
            let own = if p.pid == 1 { kib(&p).saturating_sub(others) } else { kib(&p) };
            (p.pid, (p.name, own))
        })
        .collect()
}

/// All that the processes hold, in bytes.
fn held(mem: &BTreeMap<u64, (String, u64)>) -> u64 {
    mem.values().map(|(_, kib)| kib * 1024).sum()
}

/// How much each process that was there before holds more now, but this
/// one and tmpfs (file data the requests wrote and removed may stay in its
/// heap): (total in bytes, "name +N KiB" for each).
fn growth(before: &BTreeMap<u64, (String, u64)>, after: &BTreeMap<u64, (String, u64)>) -> (u64, String) {
    let me = process::pid();
    let mut total = 0;
    let mut text = Vec::new();
    for (pid, (name, kib)) in after {
        let grew = before.get(pid).map_or(0, |(_, b)| kib.saturating_sub(*b));
        if grew > 0 {
            text.push(format!("{name} +{grew} KiB"));
            if *pid != me && name != "tmpfs" {
                total += grew * 1024;
            }
        }
    }
    (total, text.join(", "))
}

/// End the processes the children forked (through procmgr's protocol,
/// with random registers to resume at) that still run: orphans (procmgr
/// took them over) that bear this program's name and came after it. They
/// usually fault at once; one that does not would hold memory for ever.
fn end_orphans() {
    let me = process::pid();
    let table = process::ps().unwrap_or_default();
    for p in chcore_proc::top::parse_ps(&table) {
        if p.name == "fuzz" && p.ppid == 1 && p.pid > me && p.state == "running" {
            let _ = process::kill(p.pid);
        }
    }
}

/// Free memory once nothing is being given back any more: a child's pages
/// return as procmgr reaps it, which may be just after `wait`, and a child
/// may have forked (through procmgr's protocol, with random arguments)
/// orphans that run on until their calls are done. Waits up to 20 s for
/// the process table to hold `processes` again, then up to a second for
/// free memory to be `want`, if given, else for two equal readings.
fn settled_free_memory(want: Option<u64>, processes: usize) -> u64 {
    end_orphans();
    testing::settle_processes(processes);
    let mut last = sys::free_memory();
    for _ in 0..100 {
        sys::sleep(1);
        let now = sys::free_memory();
        if want.map_or(now == last, |w| now == w) {
            return now;
        }
        last = now;
    }
    last
}

impl Tally {
    fn reset(&self) {
        let counters = [&self.calls, &self.in_call, &self.ok, &self.finished, &self.threads, &self.timed_out];
        for a in counters.into_iter().chain(&self.last).chain(&self.refused).chain(&self.refused_fs) {
            a.store(0, Relaxed);
        }
    }

    /// Run `call`, known as `id` with `args`, and count it: issued, in
    /// flight while it runs (if the child ends meanwhile, this says so),
    /// then a value or a refusal (an errno, counted apart, if `errno`).
    fn issue(&self, id: u64, args: &[u64], errno: bool, call: impl FnOnce() -> i64) -> i64 {
        self.calls.fetch_add(1, Relaxed);
        self.last[0].store(id, Relaxed);
        for (l, x) in self.last[1..].iter().zip(args.iter().copied().chain(core::iter::repeat(0))) {
            l.store(x, Relaxed);
        }
        self.in_call.store(1, Relaxed);
        let r = call();
        self.in_call.store(0, Relaxed);
        if r >= 0 {
            self.ok.fetch_add(1, Relaxed);
        } else {
            let by = if errno { &self.refused_fs } else { &self.refused };
            by[error_index(r)].fetch_add(1, Relaxed);
        }
        r
    }

    /// [ok, refused by error number..., refused by errno...].
    fn counts(&self) -> Vec<u64> {
        core::iter::once(&self.ok).chain(&self.refused).chain(&self.refused_fs).map(|a| a.load(Relaxed)).collect()
    }
}

/// One page per worker, mapped at `TALLY_VA` and up, shared with forked
/// children (shared memory stays shared across fork).
fn map_tallies(workers: u64) -> Result<Vec<&'static Tally>, Error> {
    let pmo = sys::create_pmo(workers * 4096, PmoKind::Shm)?;
    let mapped = sys::map_pmo(slot::SELF_CAP_GROUP, pmo, TALLY_VA, perm::READ | perm::WRITE);
    let _ = sys::cap_delete(pmo);
    mapped?;
    Ok((0..workers)
        .map(|w| {
            // SAFETY: just mapped, read/write, a page per worker, never
            // unmapped by this process; a `Tally` (all atomics, zero is a
            // valid value) fits in a page and the page is page-aligned.
            unsafe { &*((TALLY_VA + w * 4096) as *const Tally) }
        })
        .collect())
}

#[derive(Default)]
struct Totals {
    seeds: u64,
    calls: u64,
    counts: Vec<u64>,
    ends: [u64; 5],
    unstarted: u64,
}

impl Totals {
    fn add(&mut self, t: &Tally, end: End) {
        self.seeds += 1;
        self.calls += t.calls.load(Relaxed);
        let c = t.counts();
        self.counts.resize(c.len(), 0);
        for (sum, n) in self.counts.iter_mut().zip(c) {
            *sum += n;
        }
        self.ends[end as usize] += 1;
    }
}

/// "N ok, refused: Name N, ..." for [ok, refused by error...].
fn refusals(counts: &[u64]) -> String {
    let mut text = format!("{} ok", counts.first().copied().unwrap_or(0));
    for (i, &c) in counts.iter().enumerate().skip(1).filter(|(_, c)| **c > 0) {
        let name = if i <= ERRORS {
            Error::from_result(-(i as i64)).map_or_else(|| format!("error {i}"), |e| format!("{e:?}"))
        } else {
            let n = i - ERRORS;
            Errno::from_number(n as i32).map_or_else(|| format!("errno {n}"), |e| String::from(e.name()))
        };
        text.push_str(&format!(", {name} {c}"));
    }
    text
}

/// A call as `Name(arg, ...)` from its number and arguments.
fn call_text(words: &[AtomicU64; 7]) -> String {
    let n = words[0].load(Relaxed);
    let name = if n & TO_PROCMGR != 0 {
        format!("procmgr op {:#x}", n & !TO_PROCMGR)
    } else if n & TO_TMPFS != 0 {
        format!("tmpfs op {:#x}", n & !TO_TMPFS)
    } else {
        Syscall::from_number(n).map_or_else(|| format!("call {n}"), |c| format!("{c:?}"))
    };
    let args: Vec<String> = words[1..].iter().map(|a| format!("{:#x}", a.load(Relaxed))).collect();
    format!("{name}({})", args.join(", "))
}

/// How the child behind `t` ended, in words.
fn ending(t: &Tally, status: Status) -> (End, String) {
    let calls = t.calls.load(Relaxed);
    if t.finished.load(Relaxed) == 1 && status == Status::Exited(0) {
        return (End::Finished, String::from("finished"));
    }
    if t.timed_out.load(Relaxed) == 1 {
        let what = if t.in_call.load(Relaxed) != 0 { "in" } else { "after" };
        return (
            End::TimedOut,
            format!("ended by its watchdog after {SEED_DEADLINE} s, {what} call #{calls}: {}", call_text(&t.last)),
        );
    }
    // A thread it made may have faulted meanwhile: the kernel's line just
    // before says which.
    let threads = match t.threads.load(Relaxed) {
        0 => String::new(),
        n => format!(" (it had made {n} threads)"),
    };
    if t.in_call.load(Relaxed) != 0 {
        return (End::OwnCall, format!("ended during its own call #{calls}: {}{threads}", call_text(&t.last)));
    }
    match status {
        Status::Killed => (End::Faulted, format!("faulted after call #{calls}: {}{threads}", call_text(&t.last))),
        Status::Exited(code) => (End::Exited, format!("exited with {code} after call #{calls}")),
    }
}

/// Where a refusal `r` (negative) is counted.
fn error_index(r: i64) -> usize {
    usize::try_from(r.unsigned_abs()).unwrap_or(ERRORS).clamp(1, ERRORS) - 1
}

/// `Tally::last[0]` of a request to procmgr, or to tmpfs (`-p`): the
/// operation with one of these bits.
const TO_PROCMGR: u64 = 1 << 62;
const TO_TMPFS: u64 = 1 << 61;
/// The protocol fuzzer's working directory, removed at the end.
const PROTO_DIR: &str = "/tmp/fuzz-protocol";
/// Paths the protocol fuzzer puts in its requests (besides random bytes).
const PATHS: &[&str] = &["f", "d", "d/x", "/tmp/fuzz-protocol/g", "..", "/bin/ls", "/", "/tests/bad.elf", "", "//x/"];

/// The child of `-p`: `count` random requests to procmgr and to tmpfs.
fn run_protocol(seed: u64, count: u64, t: &Tally, verbose: bool) -> ! {
    use chcore_fs::proto::FS_BASE;
    use chcore_proc::proto;
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let _ = libchcore::thread::spawn(child_watchdog, core::ptr::from_ref(t) as u64);
    // Its own files go in the working directory; the console is not its:
    // a console read would wait for a line nobody types.
    let _ = fs::chdir(PROTO_DIR);
    let session = fs::open("f", fs::O_RDWR | fs::O_CREAT).ok();
    for fd in 0..3 {
        let _ = process::close(fd);
    }
    for i in 0..count {
        let pick = |rng: &mut Rng| match rng.next() % 4 {
            0 => BOUNDARY[(rng.next() % BOUNDARY.len() as u64) as usize],
            1 => rng.next() % 8,
            2 => rng.next() % 0x1_0000,
            _ => rng.next(),
        };
        let to_tmpfs = session.is_some() && rng.next().is_multiple_of(3);
        let op = if to_tmpfs {
            FS_BASE + rng.next() % 40
        } else if rng.next().is_multiple_of(2) {
            rng.next() % 28
        } else {
            FS_BASE + rng.next() % 24
        };
        let mut w = [pick(&mut rng), pick(&mut rng), pick(&mut rng)];
        let mut input = Vec::new();
        if rng.next().is_multiple_of(2) {
            let p = PATHS[(rng.next() % PATHS.len() as u64) as usize];
            input.extend_from_slice(p.as_bytes());
            // The length goes where most operations take it.
            w[0] = p.len() as u64;
            if op == chcore_fs::proto::FS_OPEN {
                w[1] = p.len() as u64;
            }
        } else {
            input.extend((0..rng.next() % 64).map(|_| rng.next() as u8));
        }
        let op = match op {
            // Ending other processes is not the protocol's to test here
            // (the shell and this harness would go), nor waiting for a key.
            proto::KILL | proto::TERMINATE | proto::KEY => proto::GETPID,
            op => op,
        };
        // Writes stay small: the point is the checks.
        if matches!(op, chcore_fs::proto::FS_WRITE | chcore_fs::proto::FS_PWRITE | chcore_fs::proto::FS_FTRUNCATE) {
            w[0] %= 8192;
            w[1] %= 1 << 20;
        }
        // The file-system protocol's answers are errnos.
        let errno =
            to_tmpfs || chcore_fs::proto::is_fs_op(op) || matches!(op, proto::CHDIR | proto::GETCWD | proto::MOUNTS);
        let id = op | if to_tmpfs { TO_TMPFS } else { TO_PROCMGR };
        let handle = rng.next().is_multiple_of(3).then(|| pick(&mut rng));
        let r = t.issue(id, &w, errno, || match session {
            Some(fd) if to_tmpfs => {
                fs::session_raw(fd, op, handle, [w[0], w[1]], &input).map(|v| v as i64).unwrap_or_else(Errno::to_result)
            }
            _ => procmgr_request([op, w[0], w[1], w[2]], &input),
        });
        if verbose {
            println!("fuzz: #{i} {} -> {r}", call_text(&t.last));
        }
    }
    t.finished.store(1, Relaxed);
    process::exit(0)
}

/// One raw request to procmgr with `input` at the start of the buffer's
/// data: its x0.
fn procmgr_request(words: [u64; 4], input: &[u8]) -> i64 {
    let buf = libchcore::abi::ipc::PROCMGR_BUF + libchcore::abi::ipc::DATA as u64;
    // SAFETY: procmgr maps this process's connection buffer (read/write,
    // BUF_SIZE bytes) at PROCMGR_BUF before it starts; its data area starts
    // at DATA, and this thread is the only one calling procmgr.
    let data = unsafe { core::slice::from_raw_parts_mut(buf as *mut u8, input.len()) };
    data.copy_from_slice(input);
    sys::ipc_call(slot::PROCMGR, words, 0).0
}

/// Whether procmgr and tmpfs still serve a well-formed client: `getpid`,
/// `stat /`, and a spawned `true` that exits 0.
fn still_serving() -> Result<(), String> {
    if process::pid() == 0 {
        return Err(String::from("getpid failed"));
    }
    fs::stat("/").map_err(|e| format!("stat /: {e}"))?;
    let ran = process::spawn("true", &["true"], [0, 1, 2]).and_then(|p| process::waitpid(Some(p)));
    match ran {
        Ok((_, Status::Exited(0))) => Ok(()),
        other => Err(format!("spawn true: {other:?}")),
    }
}

/// The child: `count` calls from `seed`, counted in `t`; then exit.
fn run_seed(seed: u64, count: u64, t: &Tally, verbose: bool) -> ! {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let _ = libchcore::thread::spawn(child_watchdog, core::ptr::from_ref(t) as u64);
    let mut held: Vec<u64> = vec![0, 1];
    for i in 0..count {
        let n = rng.next() % Syscall::COUNT;
        let Some(call) = Syscall::from_number(n) else { continue };
        if SKIP.contains(&call) {
            continue;
        }
        let mut a = [0u64; 6];
        for x in a.iter_mut() {
            *x = match rng.next() % 4 {
                0 => BOUNDARY[(rng.next() % BOUNDARY.len() as u64) as usize],
                1 => held[(rng.next() % held.len() as u64) as usize],
                2 => rng.next() % 0x10_0000,
                _ => rng.next(),
            };
        }
        match call {
            // Keep blocking calls short: mostly no wait, at most a tick.
            Syscall::Sleep => a[0] = u64::from(rng.next().is_multiple_of(8)),
            Syscall::Wait => a[1] = u64::from(rng.next().is_multiple_of(8)),
            // Text or a bad pointer, never this process's memory.
            Syscall::Putstr => {
                if rng.next().is_multiple_of(4) {
                    let from = (rng.next() % TEXT.len() as u64) as usize;
                    a[0] = TEXT[from..].as_ptr() as u64;
                    a[1] = (TEXT.len() - from) as u64;
                } else {
                    a[0] = BAD_BUFFERS[(rng.next() % BAD_BUFFERS.len() as u64) as usize];
                }
            }
            // procmgr's KILL and TERMINATE would end processes that are
            // not the fuzzer's (the shell, this harness): a random request
            // to procmgr that is one of them asks for its pid instead.
            Syscall::IpcCall if a[0] == slot::PROCMGR => {
                let op = a[1];
                if op == chcore_proc::proto::KILL || op == chcore_proc::proto::TERMINATE {
                    a[1] = chcore_proc::proto::GETPID;
                }
            }
            _ => {}
        }
        let r = t.issue(n, &a, false, || sys::raw(call, a));
        if r >= 0 && call == Syscall::CreateThread {
            t.threads.fetch_add(1, Relaxed);
        }
        if verbose {
            println!("fuzz: #{i} {call:?}{a:x?} -> {r}");
        }
        // New capabilities join the pool of things to misuse.
        if r >= 0
            && matches!(
                call,
                Syscall::CreatePmo
                    | Syscall::CreateNotification
                    | Syscall::CapCopy
                    | Syscall::CreateCapGroup
                    | Syscall::CreateThread
                    | Syscall::RegisterClient
                    | Syscall::PmoPrivate
            )
            && held.len() < 64
        {
            held.push(r as u64);
        }
    }
    t.finished.store(1, Relaxed);
    process::exit(0)
}
