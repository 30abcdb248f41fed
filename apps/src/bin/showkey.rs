//! `showkey`: the code of each key pressed, with the console in raw mode
//! (`libchcore::process::set_raw`), so Ctrl-C is shown as a key (3) and
//! ends nothing. Ctrl-D, or 10 seconds without a key, ends it. A way to see
//! what a terminal sends (arrow keys are `ESC [ A`...), and the raw mode's
//! example.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use libchcore::abi::TICK_HZ;
use libchcore::process;
use libchcore::{eprintln, println, Error};

libchcore::entry!(main);

/// How a key looks: `^C` for a control key, `'a'` for a printable one.
fn looks(k: u8) -> String {
    match k {
        0..=0x1f => format!("^{}", char::from(k + 0x40)),
        0x7f => String::from("^?"),
        0x20..=0x7e => format!("'{}'", char::from(k)),
        _ => String::from("(a byte of a UTF-8 character)"),
    }
}

fn main() -> i32 {
    if let Err(e) = process::set_raw(true) {
        eprintln!("showkey: the console cannot be put in raw mode: {e:?}");
        return 1;
    }
    println!("showkey: press keys (Ctrl-C is a key here); Ctrl-D or 10 s without a key ends");
    let status = loop {
        match process::key(Some(10 * TICK_HZ)) {
            Ok(k) => {
                println!("{k} 0x{k:02x} {}", looks(k));
                if k == 0x04 {
                    break 0;
                }
            }
            Err(Error::Timeout) => break 0,
            Err(e) => {
                eprintln!("showkey: {e:?}");
                break 1;
            }
        }
    };
    let _ = process::set_raw(false);
    status
}
