//! Kernel self-tests, built into the test image (`--features selftest`).
//!
//! Each test checks what its checkpoint line names and prints
//! `<name>: OK` only if every check held; otherwise `<name>: FAILED: <why>`.
//! The lines match the ChCore lab checkpoints that graders look for. Then
//! the kernel starts procmgr, whose user-level suite runs in the test image;
//! when procmgr exits the kernel leaves QEMU through semihosting: status 0
//! only if the kernel tests passed and procmgr exited with 0.
//!
//! The command line can ask for a deliberate kernel fault after the tests
//! (`selftest.fault=data` or `selftest.fault=undef`), to show that the fault
//! path reports and stops the machine with a failing status.

mod buddy;
mod heap;
mod objects;
mod pagetable;
mod timer;

use crate::arch::{self, ExitStatus};
use crate::plat::Machine;
use alloc::string::String;

/// A test: `Ok` or why not.
pub type TestResult = Result<(), String>;

/// Fail with a formatted message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(alloc::format!($($arg)*));
        }
    };
}
use ensure;

/// A test and the checkpoint line it prints when it passes.
struct Test {
    name: &'static str,
    ok_line: &'static str,
    run: fn() -> TestResult,
    /// Runs with IRQs on. The others run with IRQs masked: a test holding a
    /// lock the interrupt path also takes (the scheduler's, on a timer
    /// tick) would otherwise deadlock against its own CPU.
    irqs: bool,
}

/// A test whose checkpoint is `<name>: OK`.
macro_rules! test {
    ($name:literal, $f:path) => {
        Test { name: $name, ok_line: concat!($name, ": OK"), run: $f, irqs: false }
    };
    ($name:literal, $f:path, irqs) => {
        Test { name: $name, ok_line: concat!($name, ": OK"), run: $f, irqs: true }
    };
    ($name:literal, $f:path, $line:literal) => {
        Test { name: $name, ok_line: $line, run: $f, irqs: false }
    };
}

const TESTS: &[Test] = &[
    test!("Allocate & free order 0", buddy::order0),
    test!("Allocate & free each order", buddy::each_order),
    test!("Allocate & free all orders", buddy::all_orders),
    test!("Allocate & free all memory", buddy::all_memory),
    test!("kmalloc", heap::kmalloc),
    test!("Heap reserve", heap::reserve),
    test!("Map & unmap one page", pagetable::one_page),
    test!("Map & unmap multiple pages", pagetable::multiple_pages),
    test!("Map & unmap huge range", pagetable::huge_range),
    test!("Compute physical memory-1", pagetable::physical_memory_one_page),
    test!("Compute physical memory-2", pagetable::physical_memory_pages),
    test!("Compute physical memory-3", pagetable::physical_memory_huge),
    test!("Timer interrupts", timer::ticks, irqs),
    test!("Cap_create Pretest", objects::cap_create, "Cap_create Pretest Ok!"),
    test!("Thread_create Pretest", objects::thread_create, "Thread_create Pretest Ok!"),
    test!("Kernel memory charged", objects::kmem),
    test!("test_scheduler_meta", crate::sched::selftest::meta),
    test!("test_sched_enqueue", crate::sched::selftest::enqueue),
    test!("test_sched_dequeue", crate::sched::selftest::dequeue),
];

/// Run every test and report; returns whether all passed.
pub fn run(machine: &Machine) -> bool {
    println!("[SELFTEST] running {} kernel self-tests", TESTS.len());
    let mut failed = 0;
    for t in TESTS {
        if !t.irqs {
            crate::arch::irq_disable();
        }
        let result = (t.run)();
        crate::arch::irq_enable();
        match result {
            Ok(()) => println!("{}", t.ok_line),
            Err(why) => {
                println!("{}: FAILED: {why}", t.name);
                failed += 1;
            }
        }
    }
    match machine.bootargs.get("selftest.fault") {
        Some("data") => {
            println!("[SELFTEST] provoking a kernel data abort");
            // An upper-half address the boot tables leave unmapped.
            let bad = 0xFFFF_8000_0000_0000 as *const u64;
            // SAFETY: deliberately unsound: this read must fault, and the
            // fault handler stops the machine, so it never returns.
            let v = unsafe { core::ptr::read_volatile(bad) };
            println!("[SELFTEST] read {v:#x} from an unmapped address: the fault was missed");
            arch::stop(ExitStatus::Failure);
        }
        Some("undef") => {
            println!("[SELFTEST] provoking an undefined instruction");
            // SAFETY: deliberately executes a permanently undefined
            // instruction; the fault handler stops the machine.
            unsafe { core::arch::asm!("udf #0") };
            arch::stop(ExitStatus::Failure);
        }
        Some(other) => println!("[SELFTEST] unknown selftest.fault={other:?} ignored"),
        None => {}
    }
    if failed == 0 {
        println!("[SELFTEST] all {} kernel self-tests passed", TESTS.len());
    } else {
        println!("[SELFTEST] {failed} of {} kernel self-tests FAILED", TESTS.len());
    }
    failed == 0
}
