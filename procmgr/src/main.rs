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
        let kernel_tests = run(&["kerneltest"], Rights::DEVICE);
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
/// processes still work.
#[cfg(feature = "selftest")]
fn server_death() -> bool {
    server::stop_file_servers();
    let root_fails = run(&["cat", "/motd"], Rights::NONE) == 1;
    let rest_works = run(&["ls", "/bin/true"], Rights::NONE) == 0 && run_program("true") == 0;
    let ok = root_fails && rest_works;
    println!("[FSTEST] tmpfs ended: / answers EIO, /bin and new processes go on: {}", if ok { "OK" } else { "FAILED" });
    ok
}

#[cfg(not(feature = "selftest"))]
fn server_death() -> bool {
    true
}

/// Start `name` from the ramdisk on the console and wait for it.
fn run_program(name: &str) -> i32 {
    run(&[name], Rights::NONE)
}

/// Start the program `args[0]` with `args` and `extra` rights on the
/// console and wait for it.
fn run(args: &[&str], extra: Rights) -> i32 {
    let name = args[0];
    match server::spawn_with_console(name, args, extra) {
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
