//! `free`: free physical memory, and the kernel heap allocating calls may
//! still take.
#![no_std]
#![no_main]

libchcore::entry!(main);

fn main() -> i32 {
    let kib = |b: u64| b / 1024;
    libchcore::println!(
        "{} KiB free, {} KiB of kernel memory",
        kib(libchcore::sys::free_memory()),
        kib(libchcore::sys::free_kmem())
    );
    0
}
