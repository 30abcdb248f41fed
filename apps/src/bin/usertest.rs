//! The process test suite (in the spirit of sel4test): each test has an id,
//! runs on its own, and prints `[PROCTEST] <id> <name>: OK` or `FAILED:
//! <why>`; the last line says how many ran and passed. Exit status 0 only if
//! all passed. procmgr runs it in the test image; people can run it from the
//! shell.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicU64, Ordering};
use libchcore::process::{self, Status};
use libchcore::{println, sys, Error};

libchcore::entry!(main);

use libchcore::testing::TestResult;
use libchcore::{check, expect};

/// A test: id, name, body.
type Test = (&'static str, &'static str, fn() -> TestResult);

const TESTS: &[Test] = &[
    ("PROC001", "fork returns 0 to the child and its pid to the parent", fork_returns),
    ("PROC002", "the child's memory is its own", child_memory),
    ("PROC003", "exec runs a program and keeps the pid", exec_success),
    ("PROC004", "exec of a missing or malformed program fails and returns", exec_failure),
    ("PROC005", "wait reports exit codes, faults and missing children", wait_statuses),
    ("PROC006", "pipe: data, end of file, broken pipe", pipe_basics),
    ("PROC007", "pipe ends are shared across fork", pipe_across_fork),
    ("PROC008", "a pipeline of four processes", pipeline),
    ("PROC009", "kill ends a blocked process", kill_blocked),
    ("PROC010", "100 fork/exit/wait rounds lose no memory", fork_rounds),
    ("PROC011", "fork shares memory copy-on-write", fork_copy_on_write),
    ("PROC012", "the system call and protocol fuzzers cannot hurt the kernel, procmgr or tmpfs", fuzz_children),
    ("PROC013", "a fork bomb is stopped with NoMemory, and all comes back", fork_bomb),
    ("PROC014", "an IPC call and return carry no registers across", ipc_registers),
    ("PROC015", "two writers and two readers on one pipe: every byte once, then end of file", pipe_crowd),
    ("PROC016", "a call whose connection is deleted mid-call ends with PeerDead", call_orphaned),
    ("PROC017", "pipe ends in use work on in a forked child and across exec", pipe_fork_exec),
    (
        "PROC018",
        "a handler waiting under a lock when its client goes is woken, and its server serves on",
        handler_woken,
    ),
    ("PROC019", "terminate: a handler tidies up and picks the status; without one, 143; kill -9 wins", terminate_cases),
    ("PROC020", "a process at its memory limits is refused pipes with NoMemory, and procmgr serves on", at_limits),
];

fn main() -> i32 {
    let mut passed = 0;
    for (id, name, test) in TESTS {
        match test() {
            Ok(()) => {
                println!("[PROCTEST] {id} {name}: OK");
                passed += 1;
            }
            Err(why) => println!("[PROCTEST] {id} {name}: FAILED: {why}"),
        }
    }
    println!("[PROCTEST] {passed} of {} process tests passed", TESTS.len());
    if passed == TESTS.len() {
        0
    } else {
        1
    }
}

fn e(what: &'static str) -> impl Fn(Error) -> String {
    move |err| format!("{what}: {err:?}")
}

/// Everything `fd` gives until end of file.
fn read_to_end(fd: u64) -> Result<alloc::vec::Vec<u8>, String> {
    let mut out = alloc::vec::Vec::new();
    let mut buf = [0u8; 64];
    loop {
        let n = process::read(fd, &mut buf).map_err(e("read"))?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn fork_returns() -> TestResult {
    let me = process::pid();
    let pid = process::fork().map_err(e("fork"))?;
    if pid == 0 {
        let (child, parent) = process::getpid();
        process::exit(if parent == me && child != me { 42 } else { 1 });
    }
    check!(pid != me, "fork returned our own pid");
    let (who, status) = process::waitpid(Some(pid)).map_err(e("wait"))?;
    check!(
        who == pid && status == Status::Exited(42),
        "child {who} ended {status:?}, expected 42 (it checks its own and its parent's pid)"
    );
    Ok(())
}

static SHARED_LOOKING: AtomicU64 = AtomicU64::new(1);

fn child_memory() -> TestResult {
    let boxed = alloc::boxed::Box::new(100u64);
    let pid = process::fork().map_err(e("fork"))?;
    if pid == 0 {
        SHARED_LOOKING.store(2, Ordering::SeqCst);
        let mut b = boxed;
        *b += 1;
        // Report what we saw: our static and heap changed.
        let code = (SHARED_LOOKING.load(Ordering::SeqCst) * 1000 + *b) as i32;
        process::exit(code);
    }
    let (_, status) = process::waitpid(Some(pid)).map_err(e("wait"))?;
    check!(status == Status::Exited(2101), "the child saw {status:?}, expected its own writes (2101)");
    check!(SHARED_LOOKING.load(Ordering::SeqCst) == 1 && *boxed == 100, "the child's writes reached the parent");
    Ok(())
}

fn exec_success() -> TestResult {
    let pid = process::fork().map_err(e("fork"))?;
    if pid == 0 {
        let err = process::exec("echo", &["echo", "exec", "works"]);
        println!("exec failed: {err:?}");
        process::exit(3);
    }
    let (who, status) = process::waitpid(Some(pid)).map_err(e("wait"))?;
    check!(who == pid && status == Status::Exited(0), "exec'd child {who} ended {status:?}");
    Ok(())
}

fn exec_failure() -> TestResult {
    check!(
        process::exec("no-such-program", &["x"]) == Error::NotFound,
        "exec of a missing program did not say NotFound"
    );
    check!(process::exec("bad.elf", &["bad.elf"]) == Error::InvalidArgument, "exec of a malformed ELF did not fail");
    check!(process::exec("", &[]) == Error::InvalidArgument, "exec of an empty path did not fail");
    // Still here, still working.
    check!(process::pid() > 1, "lost our pid");
    Ok(())
}

fn wait_statuses() -> TestResult {
    let pid = process::fork().map_err(e("fork"))?;
    if pid == 0 {
        process::exit(7);
    }
    check!(process::waitpid(Some(pid)).map(|r| r.1) == Ok(Status::Exited(7)), "exit code 7 not reported");
    let pid = process::fork().map_err(e("fork"))?;
    if pid == 0 {
        // SAFETY: deliberately touches an unmapped address: the kernel must
        // end this child and procmgr must report it.
        unsafe { (0x10 as *mut u64).write_volatile(1) };
        process::exit(0);
    }
    check!(process::waitpid(Some(pid)).map(|r| r.1) == Ok(Status::Killed), "a faulting child was not reported killed");
    check!(process::waitpid(Some(1)) == Err(Error::NoChild), "waited for procmgr");
    check!(process::wait() == Err(Error::NoChild), "waited with no children");
    Ok(())
}

fn pipe_basics() -> TestResult {
    let (r, w) = process::pipe().map_err(e("pipe"))?;
    process::write(w, b"abc").map_err(e("write"))?;
    process::close(w).map_err(e("close"))?;
    let mut buf = [0u8; 8];
    let n = process::read(r, &mut buf).map_err(e("read"))?;
    check!(&buf[..n] == b"abc", "read {:?}", &buf[..n]);
    check!(process::read(r, &mut buf) == Ok(0), "no end of file after the writer closed");
    process::close(r).map_err(e("close"))?;
    let (r, w) = process::pipe().map_err(e("pipe"))?;
    process::close(r).map_err(e("close"))?;
    check!(process::write(w, b"x") == Err(Error::PeerDead), "writing with no reader did not fail");
    process::close(w).map_err(e("close"))?;
    check!(process::close(w) == Err(Error::BadFd), "closed a closed fd");
    check!(process::read(60, &mut buf) == Err(Error::BadFd), "read an fd never opened");
    Ok(())
}

/// Bytes each writer of `pipe_crowd` sends: ten times the pipe's capacity,
/// so writers wait for room and readers for data many times over.
const CROWD_BYTES: usize = 40_000;

fn pipe_crowd() -> TestResult {
    let (r, w) = process::pipe().map_err(e("pipe"))?;
    let (results, report) = process::pipe().map_err(e("pipe"))?;
    let mut children = alloc::vec::Vec::new();
    for writer in 1..=2u8 {
        match process::fork().map_err(e("fork"))? {
            0 => {
                let chunk = [writer; 1000];
                for _ in 0..CROWD_BYTES / chunk.len() {
                    if process::write(w, &chunk).is_err() {
                        process::exit(1);
                    }
                }
                process::exit(0);
            }
            pid => children.push(pid),
        }
    }
    for _ in 0..2 {
        match process::fork().map_err(e("fork"))? {
            0 => {
                // Only the writers may hold the write end, or end of file
                // would never come.
                let _ = process::close(w);
                let mut counts = [0u64; 3];
                let mut buf = [0u8; 700];
                loop {
                    match process::read(r, &mut buf) {
                        Ok(0) => break,
                        Ok(n) => buf[..n].iter().for_each(|&b| counts[(b as usize).min(2)] += 1),
                        Err(_) => process::exit(1),
                    }
                }
                let mut msg = [0u8; 24];
                for (i, c) in counts.iter().enumerate() {
                    msg[i * 8..i * 8 + 8].copy_from_slice(&c.to_le_bytes());
                }
                process::exit(if process::write(report, &msg) == Ok(24) { 0 } else { 1 });
            }
            pid => children.push(pid),
        }
    }
    let _ = process::close(r);
    let _ = process::close(w);
    let _ = process::close(report);
    let mut total = [0u64; 3];
    for _ in 0..2 {
        let mut msg = [0u8; 24];
        let got = process::read_full(results, &mut msg);
        check!(got == 24, "a reader reported {got} bytes, expected 24");
        for (i, t) in total.iter_mut().enumerate() {
            *t += u64::from_le_bytes(msg[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
        }
    }
    let _ = process::close(results);
    for pid in children {
        let (_, status) = process::waitpid(Some(pid)).map_err(e("wait"))?;
        check!(status == Status::Exited(0), "child {pid} ended {status:?}");
    }
    check!(
        total == [0, CROWD_BYTES as u64, CROWD_BYTES as u64],
        "the readers got {total:?}, expected [0, {CROWD_BYTES}, {CROWD_BYTES}]"
    );
    Ok(())
}

fn pipe_across_fork() -> TestResult {
    let (r, w) = process::pipe().map_err(e("pipe"))?;
    let pid = process::fork().map_err(e("fork"))?;
    if pid == 0 {
        let _ = process::close(w);
        let mut total = 0;
        let mut buf = [0u8; 64];
        while let Ok(n) = process::read(r, &mut buf) {
            if n == 0 {
                break;
            }
            total += n;
        }
        process::exit(total as i32);
    }
    process::close(r).map_err(e("close"))?;
    for _ in 0..10 {
        process::write(w, &[7u8; 500]).map_err(e("write"))?;
    }
    process::close(w).map_err(e("close"))?;
    let (_, status) = process::waitpid(Some(pid)).map_err(e("wait"))?;
    check!(status == Status::Exited(5000), "the child read {status:?} bytes, expected 5000 and end of file");
    Ok(())
}

/// Pipe ends this process has already mapped (libchcore keeps them per
/// descriptor) must work in a forked child, whose capability slots are not
/// ours, and in the program it then execs. The child first waits for a
/// byte from us (a wait on our slots would fail), then writes, then execs
/// `echo` with the pipe as its output.
fn pipe_fork_exec() -> TestResult {
    let (r, w) = process::pipe().map_err(e("pipe"))?;
    let (r2, w2) = process::pipe().map_err(e("pipe"))?;
    let mut one = [0u8; 1];
    for (a, b) in [(r, w), (r2, w2)] {
        process::write(b, b"!").map_err(e("write"))?;
        check!(process::read(a, &mut one) == Ok(1) && one == *b"!", "a byte through a pipe came back as {one:?}");
    }
    let pid = process::fork().map_err(e("fork"))?;
    if pid == 0 {
        if process::read(r2, &mut one) != Ok(1) || one != *b"?" {
            process::exit(5);
        }
        if process::write(w, b"from the child\n").is_err() {
            process::exit(3);
        }
        let _ = process::close(r);
        let _ = process::dup2(w, 1);
        let _ = process::exec("echo", &["echo", "from", "exec"]);
        process::exit(4);
    }
    process::close(w).map_err(e("close"))?;
    process::close(r2).map_err(e("close"))?;
    // Let the child block in its read first.
    sys::sleep(5);
    process::write(w2, b"?").map_err(e("write"))?;
    process::close(w2).map_err(e("close"))?;
    let out = read_to_end(r)?;
    let _ = process::close(r);
    let (_, status) = process::waitpid(Some(pid)).map_err(e("wait"))?;
    check!(status == Status::Exited(0), "the child ended {status:?} (5: its read failed)");
    check!(out == b"from the child\nfrom exec\n", "read {:?}", String::from_utf8_lossy(&out));
    Ok(())
}

fn pipeline() -> TestResult {
    // echo | cat | cat | (us)
    let (r1, w1) = process::pipe().map_err(e("pipe"))?;
    let (r2, w2) = process::pipe().map_err(e("pipe"))?;
    let (r3, w3) = process::pipe().map_err(e("pipe"))?;
    let a = process::spawn("echo", &["echo", "through", "the", "pipes"], [0, w1, 2]).map_err(e("spawn echo"))?;
    let b = process::spawn("cat", &["cat"], [r1, w2, 2]).map_err(e("spawn cat"))?;
    let c = process::spawn("cat", &["cat"], [r2, w3, 2]).map_err(e("spawn cat"))?;
    for fd in [w1, r1, w2, r2, w3] {
        process::close(fd).map_err(e("close"))?;
    }
    let out = read_to_end(r3)?;
    process::close(r3).map_err(e("close"))?;
    for pid in [a, b, c] {
        check!(process::waitpid(Some(pid)).map(|r| r.1) == Ok(Status::Exited(0)), "a pipeline stage failed");
    }
    check!(out == b"through the pipes\n", "the pipeline produced {:?}", String::from_utf8_lossy(&out));
    Ok(())
}

fn kill_blocked() -> TestResult {
    let (r, w) = process::pipe().map_err(e("pipe"))?;
    // cat waits for input that never comes.
    let pid = process::spawn("cat", &["cat"], [r, 1, 2]).map_err(e("spawn"))?;
    sys::sleep(5);
    process::kill(pid).map_err(e("kill"))?;
    check!(
        process::waitpid(Some(pid)).map(|r| r.1) == Ok(Status::Killed),
        "the killed process was not reported killed"
    );
    check!(process::kill(pid) == Err(Error::NotFound), "killed a reaped process");
    check!(process::kill(1) == Err(Error::InvalidArgument), "killed procmgr");
    // The pipe the killed reader waited in still works: a new reader gets
    // what is written next.
    let pid = process::fork().map_err(e("fork"))?;
    if pid == 0 {
        let mut b = [0u8; 1];
        let code = if process::read(r, &mut b) == Ok(1) { i32::from(b[0]) } else { 1 };
        process::exit(code);
    }
    process::write(w, b"\x2a").map_err(e("write"))?;
    check!(
        process::waitpid(Some(pid)).map(|r| r.1) == Ok(Status::Exited(42)),
        "a reader after the killed one did not get the byte"
    );
    process::close(r).map_err(e("close"))?;
    process::close(w).map_err(e("close"))?;
    Ok(())
}

/// A forked child that asked to hear of terminate requests (with
/// `handler`) or not, and says so on a pipe before it sleeps for ever.
fn waiting_child(handler: Option<fn() -> i32>) -> Result<u64, String> {
    let (r, w) = process::pipe().map_err(e("pipe"))?;
    let pid = process::fork().map_err(e("fork"))?;
    if pid == 0 {
        let asked = handler.map_or(Ok(()), process::on_terminate);
        let _ = process::write(w, &[u8::from(asked.is_ok())]);
        loop {
            sys::sleep(1000);
        }
    }
    let mut ready = [0u8; 1];
    let got = process::read(r, &mut ready);
    let _ = process::close(r);
    let _ = process::close(w);
    check!(got == Ok(1) && ready[0] == 1, "the child could not ask: {got:?} {ready:?}");
    Ok(pid)
}

fn terminate_cases() -> TestResult {
    let status = |pid| process::waitpid(Some(pid)).map(|r| r.1).map_err(e("wait"));
    // Asked: the handler runs (it may tidy up) and its value is the status.
    let pid = waiting_child(Some(|| 7))?;
    process::terminate(pid).map_err(e("terminate"))?;
    expect!(status(pid), Ok(Status::Exited(7)));
    // Not asked: it ends at once, as a POSIX shell shows SIGTERM's end.
    let pid = waiting_child(None)?;
    process::terminate(pid).map_err(e("terminate"))?;
    expect!(status(pid), Ok(Status::Exited(143)));
    // kill ends even one that asked, and its handler never runs.
    let pid = waiting_child(Some(|| 7))?;
    process::kill(pid).map_err(e("kill"))?;
    expect!(status(pid), Ok(Status::Killed));
    // Asking twice is refused; the refusals of kill hold.
    let pid = process::fork().map_err(e("fork"))?;
    if pid == 0 {
        let first = process::on_terminate(|| 0);
        let second = process::on_terminate(|| 0);
        process::exit(i32::from(first.is_ok() && second == Err(Error::Busy)));
    }
    expect!(status(pid), Ok(Status::Exited(1)));
    expect!(process::terminate(1), Err(Error::InvalidArgument));
    expect!(process::terminate(process::pid()), Err(Error::InvalidArgument));
    expect!(process::terminate(pid), Err(Error::NotFound));
    Ok(())
}

fn fork_rounds() -> TestResult {
    let round = || -> TestResult {
        let pid = process::fork().map_err(e("fork"))?;
        if pid == 0 {
            process::exit(5);
        }
        check!(process::waitpid(Some(pid)).map(|r| r.1) == Ok(Status::Exited(5)), "a round's child ended wrongly");
        Ok(())
    };
    // Let tables and caches that grow once settle first.
    for _ in 0..3 {
        round()?;
    }
    sys::sleep(2);
    let before = sys::free_memory();
    for _ in 0..100 {
        round()?;
    }
    sys::sleep(2);
    let after = sys::free_memory();
    check!(after == before, "free memory {before} before 100 rounds, {after} after");
    Ok(())
}

fn fork_copy_on_write() -> TestResult {
    const BIG: usize = 8 << 20;
    let mut big = alloc::vec![1u8; BIG];
    // Touch every page so that the memory really exists before the fork.
    for i in (0..BIG).step_by(4096) {
        big[i] = 1;
    }
    let before = sys::free_memory();
    let pid = process::fork().map_err(e("fork"))?;
    if pid == 0 {
        let used = before.saturating_sub(sys::free_memory());
        let shared_ok = big[BIG / 2] == 1;
        big[0] = 2;
        // The fork itself must not have copied the 8 MiB.
        process::exit(if used < BIG as u64 / 2 && shared_ok && big[0] == 2 { 0 } else { 1 });
    }
    let (_, status) = process::waitpid(Some(pid)).map_err(e("wait"))?;
    check!(status == Status::Exited(0), "the child saw its memory copied up front or wrong ({status:?})");
    check!(big[0] == 1, "the child's write reached the parent");
    big[1] = 3;
    check!(big[1] == 3 && big[BIG - 1] == 1, "the parent cannot write its own memory after the child ended");
    Ok(())
}

/// Run the system call fuzzer as children with several seeds; whatever they
/// do to themselves, the kernel, procmgr and this process must go on, and
/// the memory they used must come back.
fn fuzz_children() -> TestResult {
    let before = sys::free_memory();
    // The fuzzer runs each seed as a child of its own, accounts for it, and
    // fails if memory was lost across them (its lines say what each did).
    let pid =
        process::spawn("fuzz", &["fuzz", "1", FUZZ_CALLS, "-s", FUZZ_SEEDS], [0, 1, 2]).map_err(e("spawn fuzz"))?;
    let (_, status) = process::waitpid(Some(pid)).map_err(e("wait fuzz"))?;
    check!(status == Status::Exited(0), "the fuzzer ended {status:?}");
    sys::sleep(5);
    let after = sys::free_memory();
    check!(process::pid() > 1, "procmgr stopped answering");
    // procmgr's own heap grows on demand and keeps its pages, so allow a few;
    // everything the fuzzers' processes held must have come back.
    check!(before.saturating_sub(after) < 64 * 1024, "free memory {before} before the fuzzers, {after} after");
    // Then random requests to procmgr and tmpfs (`-p`), after each seed of
    // which both must still serve. (tmpfs may keep the pages of the file
    // data they wrote in its heap: the fuzzer's own account allows that.)
    let pid = process::spawn("fuzz", &["fuzz", "1", "1000", "-s", "4", "-p"], [0, 1, 2]).map_err(e("spawn fuzz"))?;
    let (_, status) = process::waitpid(Some(pid)).map_err(e("wait fuzz"))?;
    check!(status == Status::Exited(0), "the protocol fuzzer ended {status:?}");
    Ok(())
}

const FUZZ_SEEDS: &str = "8";
const FUZZ_CALLS: &str = "3000";

/// A fork bomb: `procs bomb`, a small process that forks until refused.
/// There is no process table to fill: the refusal is `NoMemory`, from
/// procmgr's reserve of free memory or the kernel heap's, and everything
/// must be given back. (Not forked from here: this suite's own memory makes
/// each of its forks costly in kernel heap, which would stop the bomb
/// early for that reason alone.) Where memory holds thousands of processes
/// (more than 256 MiB free) the bomb is cut at `BOMB_BOUNDED` forks, all of
/// which must succeed (a fixed table would refuse them), to keep the suite
/// short on big emulated machines; the `virt-thousand-processes-512M` boot
/// test goes all the way there.
fn fork_bomb() -> TestResult {
    sys::sleep(2);
    let before = sys::free_memory();
    let max = if before > BOMB_FULL_BELOW { format!("{BOMB_BOUNDED}") } else { format!("{}", usize::MAX) };
    let pid = process::spawn("procs", &["procs", "bomb", &max], [0, 1, 2]).map_err(e("spawn procs bomb"))?;
    let status = process::waitpid(Some(pid)).map_err(e("wait for procs bomb"))?.1;
    check!(status == Status::Exited(0), "procs bomb ended with {status:?} (its [PROCS] lines say why)");
    sys::sleep(5);
    let after = sys::free_memory();
    // procmgr's heap grows by about 1 KiB per process it had at once and
    // keeps its pages; everything the bomb held must be back.
    check!(before.saturating_sub(after) < 4 << 20, "free memory {before} before the fork bomb, {after} after");
    // And the system still works.
    let pid = process::spawn("true", &["true"], [0, 1, 2]).map_err(e("spawn after the bomb"))?;
    check!(process::waitpid(Some(pid)).map(|r| r.1) == Ok(Status::Exited(0)), "a program did not run after the bomb");
    Ok(())
}

/// Above this much free memory the fork bomb is bounded (see `fork_bomb`).
const BOMB_FULL_BELOW: u64 = 256 << 20;
/// Forks of the bounded bomb: far more than the 64 processes procmgr once held.
const BOMB_BOUNDED: usize = 300;

// A server entry point in assembly, so that no compiled prologue touches a
// register first: it answers each call with the OR of every register a
// call could leak into it (x6-x30 and all SIMD registers; the kernel sets
// only x0-x5, the stack pointer and the entry point) as its first word.
core::arch::global_asm!(
    ".arch_extension fp",
    ".arch_extension simd",
    ".global usertest_leak_probe",
    "usertest_leak_probe:",
    ".irp r, 6,7,8,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30",
    "orr x9, x9, x\\r",
    ".endr",
    ".irp i, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "orr v0.16b, v0.16b, v\\i\\().16b",
    ".endr",
    "mov x10, v0.d[0]",
    "mov x11, v0.d[1]",
    "orr x9, x9, x10",
    "orr x1, x9, x11",
    // ipc_return(0, leaked, 0, 0, no capabilities)
    "mov x0, xzr",
    "mov x2, xzr",
    "mov x3, xzr",
    "mov x4, xzr",
    "mov x8, #{ret}",
    "svc #0",
    "udf #0",
    ret = const libchcore::abi::Syscall::IpcReturn as u64,
);

extern "C" {
    fn usertest_leak_probe();
}

extern "C" fn leak_probe_server(_: u64) -> ! {
    if sys::register_server(usertest_leak_probe as *const () as u64, 4).is_err() {
        process::exit(1);
    }
    loop {
        sys::sleep(1000);
    }
}

/// One call on `conn` with a pattern in every register the caller may set:
/// returns (status, what the probe saw leak in, how the caller's own
/// registers changed across the call: zero when all came back).
fn probe_call(conn: u64) -> (i64, u64, u64) {
    let pattern: u64 = 0x5A5A_5A5A_A5A5_A5A5;
    let (ret, leaked, changed): (i64, u64, u64);
    // SAFETY: sets caller-owned registers (all declared clobbered) and makes
    // the ipc_call system call; the kernel hands back x0-x3 and preserves
    // the rest, which the code then checks against the pattern.
    unsafe {
        core::arch::asm!(
            ".arch_extension fp",
            ".arch_extension simd",
            ".irp r, 6,7,9,10,11,12,13,14,15,16,20,21,22,23,24,25,26,27,28",
            "mov x\\r, x17",
            ".endr",
            ".irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "dup v\\i\\().2d, x17",
            ".endr",
            "mov x8, #{call}",
            "svc #0",
            // x9 becomes zero only if every patterned register came back.
            "eor x9, x9, x17",
            ".irp r, 6,7,10,11,12,13,14,15,16,20,21,22,23,24,25,26,27,28",
            "eor x\\r, x\\r, x17",
            "orr x9, x9, x\\r",
            ".endr",
            // v31 first (it then holds the pattern to compare with), then
            // v30 as the accumulator, then the rest into it.
            "mov x10, v31.d[0]",
            "eor x10, x10, x17",
            "orr x9, x9, x10",
            "mov x10, v31.d[1]",
            "eor x10, x10, x17",
            "orr x9, x9, x10",
            "dup v31.2d, x17",
            "eor v30.16b, v30.16b, v31.16b",
            ".irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29",
            "eor v\\i\\().16b, v\\i\\().16b, v31.16b",
            "orr v30.16b, v30.16b, v\\i\\().16b",
            ".endr",
            "mov x10, v30.d[0]",
            "orr x9, x9, x10",
            "mov x10, v30.d[1]",
            "orr x9, x9, x10",
            call = const libchcore::abi::Syscall::IpcCall as u64,
            in("x17") pattern,
            inout("x0") conn => ret,
            inout("x1") 1u64 => leaked,
            inout("x2") 2u64 => _,
            inout("x3") 3u64 => _,
            in("x4") 4u64,
            in("x5") 0u64,
            out("x6") _, out("x7") _, out("x8") _, out("x9") changed,
            out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _, out("x15") _, out("x16") _,
            out("x20") _, out("x21") _, out("x22") _, out("x23") _, out("x24") _, out("x25") _, out("x26") _,
            out("x27") _, out("x28") _,
            out("v0") _, out("v1") _, out("v2") _, out("v3") _, out("v4") _, out("v5") _, out("v6") _, out("v7") _,
            out("v8") _, out("v9") _, out("v10") _, out("v11") _, out("v12") _, out("v13") _, out("v14") _, out("v15") _,
            out("v16") _, out("v17") _, out("v18") _, out("v19") _, out("v20") _, out("v21") _, out("v22") _, out("v23") _,
            out("v24") _, out("v25") _, out("v26") _, out("v27") _, out("v28") _, out("v29") _, out("v30") _, out("v31") _,
            options(nostack),
        );
    }
    (ret, leaked, changed)
}

/// The client's registers must not reach the server's handler, and the
/// handler's must not reach the client: a handler starts each call with
/// zeroed registers, and the caller gets back all of its own.
fn ipc_registers() -> TestResult {
    let (server, _) = libchcore::spawn::spawn_self("leak-probe", leak_probe_server, 0, |_| Ok(()))
        .map_err(e("spawn the probe server"))?;
    let result = (|| {
        let conn = libchcore::ipc::connect(server).map_err(e("connect"))?;
        for round in 0..3 {
            let (ret, leaked, changed) = probe_call(conn.slot);
            check!(ret == 0, "call {round}: returned {ret}");
            check!(leaked == 0, "call {round}: the handler started with client data in its registers (OR {leaked:#x})");
            check!(changed == 0, "call {round}: the caller's registers changed across the call (XOR {changed:#x})");
        }
        Ok(())
    })();
    let _ = sys::cap_group_kill(server);
    result
}

/// How long the slow server's handler takes per call: 3 s at 100 Hz, far
/// longer than the test waits for the orphaned call to end.
const SLOW_TICKS: u64 = 300;

fn slow_handler(_: &mut libchcore::ipc::Request) -> libchcore::ipc::Reply {
    sys::sleep(SLOW_TICKS);
    libchcore::ipc::Reply { ret: 0, words: [0; 3] }
}

extern "C" fn slow_server(_: u64) -> ! {
    libchcore::ipc::serve_forever(slow_handler, 4)
}

/// The orphaned call's result plus one (0: not back yet).
static ORPHAN_CALL: AtomicU64 = AtomicU64::new(0);

extern "C" fn orphan_caller(conn: u64) -> ! {
    let (ret, _) = sys::ipc_call(conn, [0; 4], 0);
    ORPHAN_CALL.store(ret as u64 + 1, Ordering::SeqCst);
    sys::thread_exit()
}

/// `flag`'s value once another thread has set it (non-zero), looking once
/// a tick for at most `ticks` ticks; 0 if it was not set by then.
fn set_within(flag: &AtomicU64, ticks: u64) -> u64 {
    for _ in 0..ticks {
        let v = flag.load(Ordering::SeqCst);
        if v != 0 {
            return v;
        }
        sys::sleep(1);
    }
    flag.load(Ordering::SeqCst)
}

/// In the parking server: the lock its handlers share, holding what the
/// parked handler's wait returned (0: nothing yet, else the result + 2).
static PARKED: libchcore::sync::Mutex<i64> = libchcore::sync::Mutex::new(0);
/// In the parking server: a notification nobody notifies.
static PARK: AtomicU64 = AtomicU64::new(0);

fn parking_handler(r: &mut libchcore::ipc::Request) -> libchcore::ipc::Reply {
    let mut held = PARKED.lock();
    if r.words[0] == 0 {
        // Park with the lock held, until the kernel says the client is gone.
        let n = match PARK.load(Ordering::SeqCst) {
            0 => sys::create_notification().unwrap_or(0),
            n => n,
        };
        PARK.store(n, Ordering::SeqCst);
        *held = match sys::wait(n, None) {
            Ok(()) => 2,
            Err(e) => e.to_result() + 2,
        };
    }
    libchcore::ipc::Reply { ret: *held, words: [0; 3] }
}

extern "C" fn parking_server(_: u64) -> ! {
    libchcore::ipc::serve_forever(parking_handler, 4)
}

/// What the second client's call returned, plus one (0: not back yet).
static PARK_READ: AtomicU64 = AtomicU64::new(0);

extern "C" fn park_reader(conn: u64) -> ! {
    let (ret, _) = sys::ipc_call(conn, [1, 0, 0, 0], 0);
    PARK_READ.store(ret as u64 + 1, Ordering::SeqCst);
    sys::thread_exit()
}

fn handler_woken() -> TestResult {
    let (server, _) =
        libchcore::spawn::spawn_self("park-server", parking_server, 0, |_| Ok(())).map_err(e("spawn the server"))?;
    let result = (|| {
        let conn = libchcore::ipc::connect(server).map_err(e("connect"))?;
        ORPHAN_CALL.store(0, Ordering::SeqCst);
        libchcore::thread::spawn(orphan_caller, conn.slot).map_err(e("start the parking call"))?;
        sys::sleep(10);
        check!(ORPHAN_CALL.load(Ordering::SeqCst) == 0, "the parking call came back by itself");
        drop(conn);
        // Had the kernel ended the parked handler, the lock would stay held
        // and this call would never come back.
        let second = libchcore::ipc::connect(server).map_err(e("connect again"))?;
        libchcore::thread::spawn(park_reader, second.slot).map_err(e("start the second call"))?;
        let got = set_within(&PARK_READ, 100);
        check!(got != 0, "the server's lock is still held 1 s after the parked handler's client went");
        let wait_result = got.wrapping_sub(1) as i64 - 2;
        check!(
            wait_result == Error::PeerDead.to_result(),
            "the parked handler's wait ended with {wait_result}, not PeerDead"
        );
        check!(ORPHAN_CALL.load(Ordering::SeqCst) != 0, "the parking call did not end");
        Ok(())
    })();
    let _ = sys::cap_group_kill(server);
    result
}

fn call_orphaned() -> TestResult {
    let (server, _) =
        libchcore::spawn::spawn_self("slow-server", slow_server, 0, |_| Ok(())).map_err(e("spawn the slow server"))?;
    let result = (|| {
        let conn = libchcore::ipc::connect(server).map_err(e("connect"))?;
        libchcore::thread::spawn(orphan_caller, conn.slot).map_err(e("start the calling thread"))?;
        // Give the caller time to get into its call (the handler sleeps).
        sys::sleep(10);
        check!(ORPHAN_CALL.load(Ordering::SeqCst) == 0, "the call came back before the handler answered");
        // Another thread of the caller's process deletes the connection.
        drop(conn);
        let got = set_within(&ORPHAN_CALL, 100);
        check!(got != 0, "the call still waits 1 s after its connection was deleted");
        let ret = got.wrapping_sub(1) as i64;
        check!(ret == Error::PeerDead.to_result(), "the call ended with {ret}, not PeerDead");
        Ok(())
    })();
    let _ = sys::cap_group_kill(server);
    result
}

/// A process at its page limit, then at its kernel-memory limit, asks
/// procmgr for pipes (which procmgr makes at the asker's expense) and a
/// wait notification: each is refused with `NoMemory`, and procmgr, which
/// touches a pipe's header itself, is never made to fault on a page the
/// asker cannot pay for (that ended procmgr once, found by the fuzzer).
fn at_limits() -> TestResult {
    for kernel in [false, true] {
        let pid = process::fork().map_err(e("fork"))?;
        if pid == 0 {
            process::exit(at_limit_child(kernel));
        }
        let status = process::waitpid(Some(pid)).map(|r| r.1);
        check!(status == Ok(Status::Exited(0)), "the child at its {} limit ended {status:?}", limit_name(kernel));
    }
    let alive = process::spawn("true", &["true"], [0, 1, 2]).and_then(|p| process::waitpid(Some(p)));
    check!(alive.map(|r| r.1) == Ok(Status::Exited(0)), "procmgr no longer starts programs: {alive:?}");
    Ok(())
}

fn limit_name(kernel: bool) -> &'static str {
    if kernel {
        "kernel-memory"
    } else {
        "page"
    }
}

/// The child's side of [`at_limits`]: 0 if every request was refused as it
/// should be, else which one was not.
fn at_limit_child(kernel: bool) -> i32 {
    // Pages this process will write are made its own first (a forked
    // child copies a page at its first write, which at the limit would
    // end it): the stack below us, and what the calls use.
    touch_stack();
    let me = libchcore::abi::slot::SELF_CAP_GROUP;
    let limited = if kernel {
        sys::kmem_usage(me).and_then(|used| sys::set_kmem_limit(me, used))
    } else {
        sys::mem_usage(me).and_then(|used| sys::set_mem_limit(me, used))
    };
    if limited.is_err() {
        return 10;
    }
    for _ in 0..3 {
        match process::pipe() {
            Err(Error::NoMemory) => {}
            Ok(_) => return 11,
            Err(_) => return 12,
        }
    }
    // procmgr makes the notification a wait blocks on at the waiter's
    // expense too.
    if kernel && process::waitpid(None) != Err(Error::NoMemory) {
        return 13;
    }
    if process::getpid().0 == 0 {
        return 14;
    }
    0
}

/// Write 32 KiB of stack below the caller's frame.
#[inline(never)]
fn touch_stack() {
    let mut area = [0u8; 32 << 10];
    for i in (0..area.len()).step_by(4096) {
        area[i] = 1;
    }
    core::hint::black_box(&mut area);
}
