//! `hello`: the first program people run.
#![no_std]
#![no_main]

libchcore::entry!(main);

fn main() -> i32 {
    libchcore::println!("Hello ChCore!");
    0
}
