//! `grep [-F] [-i] [-x] [-v] [-c] [-n] PATTERN [FILE...]`: print the lines
//! of each FILE (or of standard input) that PATTERN matches, a basic
//! regular expression or with `-F` a plain string (`chcore_proc::text::Regex`
//! says which subset). `-i`: either case; `-x`: the whole line must match;
//! `-v`: the lines that do not match instead; `-c`: only how many lines;
//! `-n`: each line after its number. With several FILEs, every line starts
//! `FILE:`. Exits 0 if a line was selected, 1 if none, 2 after an error.
//!
//! Unlike GNU grep, a binary file's matches are printed like any others.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use chcore_proc::text::{self, Regex};
use core::fmt::Write;
use libchcore::tool::{self, Output, Tool, STDIN};

libchcore::entry!(main);

/// What to do with each line of one input.
struct Search<'a> {
    re: &'a Regex,
    invert: bool,
    count_only: bool,
    numbers: bool,
    /// `FILE:` before each line, when there are several files.
    prefix: Option<&'a str>,
    /// The last line so far, not yet ended by a newline (it may continue
    /// in the next chunk).
    partial: Vec<u8>,
    number: u64,
    selected: u64,
}

impl Search<'_> {
    fn line(&mut self, line: &[u8], out: &mut Output) {
        self.number += 1;
        if self.re.is_match(line) == self.invert {
            return;
        }
        self.selected += 1;
        if self.count_only {
            return;
        }
        if let Some(name) = self.prefix {
            let _ = write!(out, "{name}:");
        }
        if self.numbers {
            let _ = write!(out, "{}:", self.number);
        }
        out.push(line);
        out.push(b"\n");
    }

    fn chunk(&mut self, mut chunk: &[u8], out: &mut Output) {
        while let Some(end) = chunk.iter().position(|&b| b == b'\n') {
            if self.partial.is_empty() {
                self.line(&chunk[..end], out);
            } else {
                let mut line = core::mem::take(&mut self.partial);
                line.extend_from_slice(&chunk[..end]);
                self.line(&line, out);
            }
            chunk = &chunk[end + 1..];
        }
        self.partial.extend_from_slice(chunk);
    }

    /// End of input: a last line without a newline is a line too.
    fn finish(&mut self, out: &mut Output) {
        if !self.partial.is_empty() {
            let line = core::mem::take(&mut self.partial);
            self.line(&line, out);
        }
        if self.count_only {
            if let Some(name) = self.prefix {
                let _ = write!(out, "{name}:");
            }
            let _ = writeln!(out, "{}", self.selected);
        }
    }
}

fn main() -> i32 {
    let mut tool = Tool::new("grep", "grep [-F] [-i] [-x] [-v] [-c] [-n] PATTERN [FILE...]");
    let options = match tool.options("Fixvcn") {
        Ok(o) => o,
        Err(status) => return status,
    };
    let Some((&pattern, files)) = options.operands.split_first() else {
        return tool.usage_error("missing PATTERN");
    };
    let matcher =
        text::Options { fixed: options.has('F'), ignore_case: options.has('i'), whole_line: options.has('x') };
    let re = match Regex::new(pattern, matcher) {
        Ok(re) => re,
        Err(e) => {
            tool.fail_with(e);
            return 2;
        }
    };
    let names = tool::or_stdin(files);
    let mut out = Output::new();
    let mut selected = 0;
    for &name in &names {
        let shown = if name == STDIN { "(standard input)" } else { name };
        let mut search = Search {
            re: &re,
            invert: options.has('v'),
            count_only: options.has('c'),
            numbers: options.has('n'),
            prefix: (names.len() > 1).then_some(shown),
            partial: Vec::new(),
            number: 0,
            selected: 0,
        };
        let Some(mut input) = tool.open(name) else { continue };
        let read = input.stream(|chunk| {
            search.chunk(chunk, &mut out);
            out.flush()
        });
        // Like GNU grep: after a read error, the lines (or count) before it.
        if let Err(e) = read {
            tool.fail(name, e);
        }
        search.finish(&mut out);
        selected += search.selected;
        if !out.flush() {
            break;
        }
    }
    match tool.finish(out) {
        0 if selected > 0 => 0,
        0 => 1,
        _ => 2,
    }
}
