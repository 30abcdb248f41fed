//! What the small command-line tools (`grep`, `cp`, `rm`, ...) share: their
//! options and error reports, input files read in chunks, standard output
//! buffered per chunk, copying a file, and `head` and `tail` entire.
//!
//! The conventions, as POSIX tools have them: a usage error prints the usage
//! and exits 2; a file that fails is reported as `tool: PATH: ENOENT` on
//! standard error, the tool goes on with its other operands and exits 1.

use crate::eprintln;
use crate::fs::{self, Errno, Fd, FileType, O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY};
use alloc::string::String;
use alloc::vec::Vec;
use chcore_abi::ipc::DATA_MAX;
use chcore_proc::text::{parse_count_args, LineCount, LineFilter};
use core::fmt::{self, Write};

pub use chcore_proc::opts::Options;

/// The name standing for standard input among the operands.
pub const STDIN: &str = "-";

/// A running tool: its name, its usage line, and its exit status so far.
pub struct Tool {
    name: &'static str,
    usage: &'static str,
    status: i32,
}

impl Tool {
    /// Tool `name`, whose command line is `usage` (`"grep [-i] PATTERN [FILE...]"`).
    pub const fn new(name: &'static str, usage: &'static str) -> Tool {
        Tool { name, usage, status: 0 }
    }

    /// The program's arguments after its name, split into the option letters
    /// in `known` and operands (`chcore_proc::opts`). An unknown option is a
    /// usage error: reported, and `Err` holds the exit status, 2.
    pub fn options(&self, known: &str) -> Result<Options<'static>, i32> {
        let args: Vec<&'static str> = crate::args().iter().skip(1).map(String::as_str).collect();
        chcore_proc::opts::parse(&args, known).map_err(|e| self.usage_error(e))
    }

    /// Report a usage error (`tool: what` and the usage line); returns the
    /// exit status for it, 2.
    pub fn usage_error(&self, what: impl fmt::Display) -> i32 {
        eprintln!("{}: {what}", self.name);
        eprintln!("usage: {}", self.usage);
        2
    }

    /// Report that `path` failed with `e` (`tool: path: ENOENT`); the exit
    /// status becomes 1.
    pub fn fail(&mut self, path: &str, e: Errno) {
        self.fail_with(format_args!("{path}: {e}"));
    }

    /// Report a failure in words (`tool: what`); the exit status becomes 1.
    pub fn fail_with(&mut self, what: impl fmt::Display) {
        eprintln!("{}: {what}", self.name);
        self.status = 1;
    }

    /// Write out what `out` still holds and return the exit status: 0, or 1
    /// after any failure, including a failed write to standard output.
    pub fn finish(mut self, out: Output) -> i32 {
        match out.finish() {
            Ok(()) => {}
            // The reader of the pipe is gone (`grep x f | head -n 1`): stop
            // quietly, as a process that SIGPIPE ends elsewhere.
            Err(Errno::EPIPE) => self.status = 1,
            Err(e) => self.fail("standard output", e),
        }
        self.status
    }

    /// The exit status so far.
    pub fn status(&self) -> i32 {
        self.status
    }

    /// Open input `name` (`-`: standard input), or report why not.
    pub fn open(&mut self, name: &str) -> Option<Input> {
        Input::open(name).map_err(|e| self.fail(name, e)).ok()
    }

    /// The operands `SRC DST` or `SRC... DIR` of a tool that takes no
    /// options (`cp`, `mv`): the sources and the destination, or the exit
    /// status of a usage error (several sources need a directory, `ENOTDIR`).
    pub fn sources_and_destination(&mut self) -> Result<(Vec<&'static str>, &'static str), i32> {
        let operands = self.options("")?.operands;
        let Some((&dst, sources)) = operands.split_last().filter(|(_, s)| !s.is_empty()) else {
            return Err(self.usage_error("missing file operand"));
        };
        if sources.len() > 1 && !fs::stat(dst).is_ok_and(|st| st.kind == FileType::Dir) {
            self.fail(dst, Errno::ENOTDIR);
            return Err(self.status());
        }
        Ok((sources.to_vec(), dst))
    }
}

/// The operands, or standard input alone when there are none.
pub fn or_stdin<'a>(operands: &[&'a str]) -> Vec<&'a str> {
    if operands.is_empty() {
        alloc::vec![STDIN]
    } else {
        operands.to_vec()
    }
}

/// A file opened for reading, or standard input (left open when dropped).
pub struct Input {
    fd: Fd,
    owned: bool,
}

impl Input {
    /// Open `name` for reading; [`STDIN`] is standard input.
    pub fn open(name: &str) -> Result<Input, Errno> {
        if name == STDIN {
            return Ok(Input { fd: 0, owned: false });
        }
        Ok(Input { fd: fs::open(name, O_RDONLY)?, owned: true })
    }

    /// Its descriptor.
    pub fn fd(&self) -> Fd {
        self.fd
    }

    /// Read it to its end a chunk at a time (each chunk as the descriptor
    /// gives it: a line typed at the console, up to one buffer of a file),
    /// passing each to `f`, which returns whether to go on. Errors: reading's.
    pub fn stream(&mut self, mut f: impl FnMut(&[u8]) -> bool) -> Result<(), Errno> {
        let mut buf = alloc::vec![0u8; DATA_MAX];
        loop {
            let n = fs::read(self.fd, &mut buf)?;
            if n == 0 || !f(&buf[..n]) {
                return Ok(());
            }
        }
    }
}

impl Drop for Input {
    fn drop(&mut self) {
        if self.owned {
            let _ = fs::close(self.fd);
        }
    }
}

/// Standard output, gathered in a buffer and written by [`Output::flush`]:
/// one write per input chunk instead of one per line, yet a line typed at
/// the console is answered at once. After a write fails, nothing more is
/// written and `flush` says to stop.
#[derive(Default)]
pub struct Output {
    buf: Vec<u8>,
    error: Option<Errno>,
}

impl Output {
    /// Nothing gathered yet.
    pub fn new() -> Output {
        Output::default()
    }

    /// The buffer, for helpers that append to a `Vec<u8>` (`LineFilter`).
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Add `data` to what is to be written.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Write what was gathered; returns whether output still works (false:
    /// stop producing it).
    pub fn flush(&mut self) -> bool {
        if self.error.is_none() && !self.buf.is_empty() {
            match fs::write(1, &self.buf) {
                Ok(n) if n == self.buf.len() => {}
                Ok(_) => self.error = Some(Errno::ENOSPC),
                Err(e) => self.error = Some(e),
            }
        }
        self.buf.clear();
        self.error.is_none()
    }

    /// Flush, and return the first write error if there was one.
    pub fn finish(mut self) -> Result<(), Errno> {
        self.flush();
        self.error.map_or(Ok(()), Err)
    }
}

impl fmt::Write for Output {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

/// `dir/name`, without doubling a `/` that `dir` ends in.
pub fn join(dir: &str, name: &str) -> String {
    let sep = if dir.ends_with('/') { "" } else { "/" };
    alloc::format!("{dir}{sep}{name}")
}

/// Where `cp` and `mv` put `src` when told `dst`: into `dst` under its own
/// last name when `dst` is a directory (`cp a/f d` makes `d/f`), else `dst`.
pub fn destination(src: &str, dst: &str) -> String {
    let is_dir = fs::stat(dst).is_ok_and(|st| st.kind == FileType::Dir);
    match chcore_fs::path::components(src).next_back() {
        Some(name) if is_dir => join(dst, name),
        _ => String::from(dst),
    }
}

/// Copy regular file `from` to `to` (created, or emptied first) through a
/// buffer. An error comes with the path it concerns: EISDIR for a directory
/// `from`, ENOSPC when the file system filled up.
pub fn copy_file<'a>(from: &'a str, to: &'a str) -> Result<(), (&'a str, Errno)> {
    let mut src = Input::open(from).map_err(|e| (from, e))?;
    if fs::fstat(src.fd()).map_err(|e| (from, e))?.kind == FileType::Dir {
        return Err((from, Errno::EISDIR));
    }
    let dst = fs::open(to, O_WRONLY | O_CREAT | O_TRUNC).map_err(|e| (to, e))?;
    let mut written = Ok(());
    let read = src.stream(|chunk| {
        written = match fs::write(dst, chunk) {
            Ok(n) if n == chunk.len() => Ok(()),
            Ok(_) => Err(Errno::ENOSPC),
            Err(e) => Err(e),
        };
        written.is_ok()
    });
    let closed = fs::close(dst);
    read.map_err(|e| (from, e))?;
    written.and(closed).map_err(|e| (to, e))
}

/// `head` and `tail`, whose only difference is `window`: for each FILE in
/// the arguments (`[-n N] [FILE...]`, `chcore_proc::text::parse_count_args`)
/// or standard input, print the lines `window` picks, under a `==> FILE <==`
/// heading when there are several. Returns the exit status.
pub fn print_lines(mut tool: Tool, window: fn(LineCount) -> LineFilter) -> i32 {
    let args: Vec<&str> = crate::args().iter().skip(1).map(String::as_str).collect();
    let parsed = match parse_count_args(&args, 10) {
        Ok(parsed) => parsed,
        Err(e) => return tool.usage_error(e),
    };
    let names = or_stdin(&parsed.files);
    let mut out = Output::new();
    let mut headed = false;
    for &name in &names {
        let Some(mut input) = tool.open(name) else { continue };
        if names.len() > 1 {
            let shown = if name == STDIN { "standard input" } else { name };
            let _ = writeln!(out, "{}==> {shown} <==", if headed { "\n" } else { "" });
            headed = true;
            // Out before any error message about this file.
            out.flush();
        }
        let mut filter = window(parsed.count);
        if !filter.is_done() {
            let read = input.stream(|chunk| {
                filter.push(chunk, out.buffer());
                out.flush() && !filter.is_done()
            });
            if let Err(e) = read {
                tool.fail(name, e);
            }
        }
        filter.finish(out.buffer());
        if !out.flush() {
            break;
        }
    }
    tool.finish(out)
}
