//! `ls`: list the programs and files in the ramdisk.
#![no_std]
#![no_main]

libchcore::entry!(main);

fn main() -> i32 {
    match libchcore::process::list() {
        Ok(names) => {
            for n in names {
                libchcore::println!("{n}");
            }
            0
        }
        Err(e) => {
            libchcore::eprintln!("ls: {e:?}");
            1
        }
    }
}
