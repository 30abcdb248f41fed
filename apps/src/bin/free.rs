//! `free`: free physical memory.
#![no_std]
#![no_main]

libchcore::entry!(main);

fn main() -> i32 {
    libchcore::println!("{} KiB free", libchcore::sys::free_memory() / 1024);
    0
}
