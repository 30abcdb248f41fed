//! `head [-n N] [FILE...]`: the first N lines (10 by default; `-n -N`: all
//! but the last N) of each FILE or of standard input.
#![no_std]
#![no_main]

use chcore_proc::text::LineFilter;
use libchcore::tool::{self, Tool};

libchcore::entry!(main);

fn main() -> i32 {
    tool::print_lines(Tool::new("head", "head [-n N] [FILE...]"), LineFilter::head)
}
