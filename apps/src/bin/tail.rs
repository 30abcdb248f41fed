//! `tail [-n N] [FILE...]`: the last N lines (10 by default; `-n +N`: from
//! line N on) of each FILE or of standard input.
#![no_std]
#![no_main]

use chcore_proc::text::LineFilter;
use libchcore::tool::{self, Tool};

libchcore::entry!(main);

fn main() -> i32 {
    tool::print_lines(Tool::new("tail", "tail [-n N] [FILE...]"), LineFilter::tail)
}
