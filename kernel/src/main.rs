//! The kernel: a capability-based microkernel for AArch64 in the style of ChCore.
//!
//! # Boot flow
//! The `boot` crate owns the first instructions: it drops to EL1, turns on
//! the MMU with boot tables that map RAM at `PA + KERNEL_VA_OFFSET`, and calls
//! [`kernel_main`] in the upper half with the firmware's `x0`. From there:
//! 1. exception vectors are installed, so any fault is reported;
//! 2. the platform ([`plat`]) finds the machine description (device tree,
//!    ATAGs or the firmware mailbox) and brings up the console;
//! 3. [`mm`] hands all usable RAM to the buddy allocator and starts the heap;
//! 4. the interrupt controller and the generic timer start ticking;
//! 5. the test image runs the kernel self-tests;
//! 6. the root process (procmgr, embedded in the image) is loaded and the
//!    scheduler starts it; with nothing to run, the CPU waits in WFI. In the
//!    test image, the root process's exit status is the verdict.
//!
//! # Layout
//! Generic code never names a board or a register: [`arch`] holds the
//! AArch64 specifics, [`plat`] the board specifics (one module per board,
//! the same names in each), [`drivers`] the devices. Machine-independent
//! logic lives in the `kernel-core` crate, where it is tested on the host.
#![no_std]
#![no_main]

extern crate alloc;
// The boot code is only reached through the `_start` symbol; name the crate
// so that it is linked.
extern crate boot;

#[macro_use]
mod console;
mod arch;
mod bkl;
mod drivers;
mod fault;
mod logger;
mod mm;
mod object;
mod panic;
mod percpu;
mod plat;
mod root;
mod sched;
#[cfg(feature = "selftest")]
mod selftest;
mod smp;
mod stats;
mod syscall;
mod uaccess;

use core::sync::atomic::AtomicBool;

/// Whether the kernel self-tests passed (the test image's verdict needs it).
pub static KERNEL_TESTS_PASSED: AtomicBool = AtomicBool::new(!cfg!(feature = "selftest"));

/// Kernel entry in the upper half, called by the boot code on the boot CPU.
///
/// `fw_arg` is the firmware's `x0` (device tree or ATAG address, or 0) and
/// `entry_el` the exception level the machine started the kernel in.
#[no_mangle]
pub extern "C" fn kernel_main(fw_arg: u64, entry_el: u64) -> ! {
    arch::smp::set_cpu_id(0, percpu::block_addr(0));
    if cfg!(feature = "bench") {
        arch::enable_user_cycle_counter();
    }
    arch::exception::init();
    let machine = plat::init(fw_arg);
    println!("[BOOT] Jump to kernel main");
    logger::init(machine.bootargs.get("loglevel"));
    log::info!(
        "{} booted at EL{entry_el}, running at EL1; {} CPU(s) described, memory map from {}",
        plat::NAME,
        machine.cpus,
        machine.memory_source
    );
    if !machine.bootargs.as_str().is_empty() {
        log::info!("command line: {}", machine.bootargs.as_str());
    }
    mm::init(&machine);
    plat::init_irq(&machine);
    arch::timer::init();
    let cpus = smp::bring_up(&machine);
    sched::set_online(cpus);
    println!("All {cpus} CPUs are active");
    arch::irq_enable();

    #[cfg(feature = "selftest")]
    KERNEL_TESTS_PASSED.store(selftest::run(&machine), core::sync::atomic::Ordering::Relaxed);
    arch::irq_disable();
    bkl::acquire();
    root::start();
    log::info!("boot complete, entering user space");
    sched::start()
}
