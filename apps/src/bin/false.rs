//! `false`: do nothing, unsuccessfully (exit status 1).
#![no_std]
#![no_main]

libchcore::entry!(main);

fn main() -> i32 {
    1
}
