//! `sh FILE [ARG...]`: run a shell script (the shell's `shell FILE`, as
//! the name users know): becomes the shell with the same arguments.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use libchcore::eprintln;

libchcore::entry!(main);

fn main() -> i32 {
    let args = libchcore::args();
    if args.len() < 2 {
        eprintln!("usage: sh FILE (the interactive shell is `shell`)");
        return 2;
    }
    let mut argv: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
    argv[0] = "shell";
    let e = libchcore::process::exec("shell", &argv);
    eprintln!("sh: cannot run the shell: {e:?}");
    126
}
