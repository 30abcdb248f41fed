//! `uname [-a] [-s] [-n] [-r] [-m]`: the system's name (alone without
//! options), the node's name, the release and the machine; `-a` all four.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use libchcore::println;
use libchcore::tool::Tool;

libchcore::entry!(main);

/// Each option and what it prints, in the order POSIX prints them.
const FIELDS: [(char, &str); 4] =
    [('s', "ChCore"), ('n', "chcore"), ('r', env!("CARGO_PKG_VERSION")), ('m', "aarch64")];

fn main() -> i32 {
    let tool = Tool::new("uname", "uname [-a] [-s] [-n] [-r] [-m]");
    let options = match tool.options("asnrm") {
        Ok(o) => o,
        Err(status) => return status,
    };
    if !options.operands.is_empty() {
        return tool.usage_error("no operands are taken");
    }
    let mut shown: Vec<&str> =
        FIELDS.iter().filter(|(c, _)| options.has('a') || options.has(*c)).map(|f| f.1).collect();
    if shown.is_empty() {
        shown.push(FIELDS[0].1);
    }
    println!("{}", shown.join(" "));
    0
}
