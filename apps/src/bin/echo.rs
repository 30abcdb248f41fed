//! `echo [WORD...]`: print the words, separated by spaces.
#![no_std]
#![no_main]

extern crate alloc;

libchcore::entry!(main);

fn main() -> i32 {
    let words: alloc::vec::Vec<&str> = libchcore::args().iter().skip(1).map(|s| s.as_str()).collect();
    libchcore::println!("{}", words.join(" "));
    0
}
