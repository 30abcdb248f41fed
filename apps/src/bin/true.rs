//! `true`: do nothing, successfully (the smallest program to exec or spawn).
#![no_std]
#![no_main]

libchcore::entry!(main);

fn main() -> i32 {
    0
}
