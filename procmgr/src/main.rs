//! procmgr, the root process: the first program the kernel starts.
//!
//! It checks the ramdisk the kernel handed it, becomes the process manager
//! (an IPC server: spawn, fork, exec, exit, wait, kill, files and pipes; see
//! `server`), and starts the shell on the console. In the test image it
//! runs the kernel test suite (`kerneltest`), the process test suite
//! (`usertest`), the file-system test suite (`fstest`) and the hardening
//! suite (`harden`) from the ramdisk, and
//! exits with the verdict. In the lab image it runs `kerneltest` and
//! `hello`, then the shell.
#![no_std]
#![no_main]

extern crate alloc;

use libchcore::{println, sys, Rights};
use server::Class;

mod server;

libchcore::entry!(main);

fn main() -> i32 {
    println!("Hello from ChCore Process Manager!");
    match server::init() {
        Ok(n) => println!("procmgr: ramdisk with {n} programs"),
        Err(e) => {
            println!("procmgr: cannot start: {e:?}");
            return 1;
        }
    }
    if cfg!(feature = "bench") {
        return run_program("bench");
    }
    if cfg!(feature = "selftest") {
        // The device PMO and IRQ tests need `DEVICE`, which procmgr gives
        // only to programs it starts itself.
        let kernel_tests = run(&["kerneltest"], Rights::DEVICE, Class::System);
        if cfg!(feature = "lab") {
            // A lab's user program runs at boot, as in ChCore's labs
            // (graders type nothing), then the shell as in the normal image.
            run_program("hello");
        } else {
            let suite = run_program("usertest");
            let files = run_program("fstest");
            let harden = run_program("harden");
            // Last, as it ends tmpfs for good.
            let death = server_death();
            return if kernel_tests == 0 && suite == 0 && files == 0 && harden == 0 && death { 0 } else { 1 };
        }
    }
    loop {
        // The shell is the console's only user; start a new one if it ends.
        let status = run_program("shell");
        println!("procmgr: the shell ended ({status}); starting another");
        sys::sleep(10);
    }
}

/// A file server that dies is reported and the rest goes on: end tmpfs,
/// then `/` must answer EIO (`cat /motd` fails) while `/bin` and new
/// processes still work. A file of it mapped before keeps the pages tmpfs
/// supplied; touching one it never supplied ends the process that does.
#[cfg(feature = "selftest")]
fn server_death() -> bool {
    use libchcore::abi::group_state;
    const PAGES: u64 = 64;
    const VA: u64 = 0x6800_0000_0000;
    let mapped = server::map_test_file(PAGES, VA);
    if let Err(e) = mapped {
        println!("procmgr: cannot map a tmpfs file: {e:?}");
    }
    server::stop_file_servers();
    let root_fails = run(&["cat", "/motd"], Rights::NONE, Class::User) == 1;
    let rest_works = run(&["ls", "/bin/true"], Rights::NONE, Class::User) == 0 && run_program("true") == 0;
    let ok = root_fails && rest_works;
    println!("[FSTEST] tmpfs ended: / answers EIO, /bin and new processes go on: {}", if ok { "OK" } else { "FAILED" });
    let Ok(view) = mapped else { return false };
    // A supplied page reads as before (here, and in a child that maps it);
    // the last page never was: the child that reads it is ended.
    // SAFETY: mapped readable at VA by `map_test_file`, still.
    let kept = unsafe { core::slice::from_raw_parts(VA as *const u8, 7) } == b"outlive";
    let first = reader(view, 0);
    let last = reader(view, (PAGES - 1) * 4096);
    let pages_ok = kept && first == Some(group_state::EXITED) && last == Some(group_state::KILLED);
    println!(
        "[FSTEST] a file mapped before tmpfs ended: supplied pages read, others end the reader: {}",
        if pages_ok { "OK" } else { "FAILED" }
    );
    ok && pages_ok
}

/// A bare child with `view` mapped that reads the word at `offset` in it
/// and exits with it: how it ended (`group_state`, without the code), or
/// `None` if it could not be made or did not end within 5 seconds.
#[cfg(feature = "selftest")]
fn reader(view: u64, offset: u64) -> Option<u64> {
    const AT: u64 = 0x1000_0000;
    // ldr x0, [x0]; movz x8, #4 (cap_group_exit); svc #0
    let code = [0xF940_0000, 0xD280_0088, 0xD400_0001];
    libchcore::testing::run_code("mapped-reader", &code, Some((view, AT)), AT + offset).ok().map(|s| s & 0xff)
}

#[cfg(not(feature = "selftest"))]
fn server_death() -> bool {
    true
}

/// Start `name` from the ramdisk on the console and wait for it.
fn run_program(name: &str) -> i32 {
    run(&[name], Rights::NONE, Class::User)
}

/// Start the program `args[0]` with `args` and `extra` rights on the
/// console and wait for it.
fn run(args: &[&str], extra: Rights, class: Class) -> i32 {
    let name = args[0];
    match server::spawn_with_console(name, args, extra, class) {
        Ok(pid) => match server::wait_root_child(pid) {
            (code, false) => code,
            (_, true) => {
                println!("procmgr: {name} was killed");
                -1
            }
        },
        Err(e) => {
            println!("procmgr: cannot start {name}: {e:?}");
            -1
        }
    }
}
