//! `wc [-l] [-w] [-c] [FILE...]`: count newlines, words and bytes (all
//! three without options) of each FILE or standard input, and their total
//! when there are several, in GNU wc's columns (`chcore_proc::text`).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use chcore_proc::text::{wc_line, wc_width, Columns, Counts, WcInput};
use libchcore::fs::{self, FileType};
use libchcore::tool::{self, Output, Tool, STDIN};

libchcore::entry!(main);

fn main() -> i32 {
    let mut tool = Tool::new("wc", "wc [-l] [-w] [-c] [FILE...]");
    let options = match tool.options("lwc") {
        Ok(o) => o,
        Err(status) => return status,
    };
    let chosen = Columns { lines: options.has('l'), words: options.has('w'), bytes: options.has('c') };
    let columns = if chosen.lines || chosen.words || chosen.bytes { chosen } else { Columns::ALL };
    let names = tool::or_stdin(&options.operands);
    // What each input is sets the width of the columns, before any is read.
    let kinds: Vec<WcInput> = names
        .iter()
        .map(|&name| {
            let st = if name == STDIN { fs::fstat(0) } else { fs::stat(name) };
            match st {
                Ok(st) if st.kind == FileType::File => WcInput::File(st.size),
                Ok(_) => WcInput::Stream,
                // Standard input may be a pipe or the console: no `Stat` for them.
                Err(_) if name == STDIN => WcInput::Stream,
                Err(_) => WcInput::Failed,
            }
        })
        .collect();
    let width = wc_width(&kinds, columns);
    let mut out = Output::new();
    let mut total = Counts::new();
    for &name in &names {
        let Some(mut input) = tool.open(name) else { continue };
        let mut counts = Counts::new();
        let read = input.stream(|chunk| {
            counts.update(chunk);
            true
        });
        // Like GNU wc: the error, then what was counted before it.
        if let Err(e) = read {
            tool.fail(name, e);
        }
        total.add(&counts);
        let shown = (!options.operands.is_empty()).then_some(name);
        out.push(wc_line(&counts, columns, width, shown).as_bytes());
        out.push(b"\n");
        out.flush();
    }
    if names.len() > 1 {
        out.push(wc_line(&total, columns, width, Some("total")).as_bytes());
        out.push(b"\n");
    }
    tool.finish(out)
}
