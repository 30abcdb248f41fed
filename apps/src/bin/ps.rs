//! `ps`: the process table (pid, parent, state, CPU ticks, memory and kernel memory in KiB, name).
#![no_std]
#![no_main]

libchcore::entry!(main);

fn main() -> i32 {
    match libchcore::process::ps() {
        Ok(text) => {
            libchcore::print!("{text}");
            0
        }
        Err(e) => {
            libchcore::eprintln!("ps: {e:?}");
            1
        }
    }
}
