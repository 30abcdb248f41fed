//! `mv SRC DST` or `mv SRC... DIR`: rename. When DST is a directory, SRC
//! moves into it under its last name. Between file systems (EXDEV) a file
//! is copied and then removed; a directory cannot move there.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use libchcore::fs::{self, Errno, FileType};
use libchcore::tool::{self, Tool};

libchcore::entry!(main);

/// Move `src` to `target` on another file system: copy, then remove.
fn copy_across<'a>(src: &'a str, target: &'a str) -> Result<(), (&'a str, Errno)> {
    if fs::stat(src).map_err(|e| (src, e))?.kind == FileType::Dir {
        return Err((src, Errno::EXDEV));
    }
    tool::copy_file(src, target)?;
    fs::unlink(src).map_err(|e| (src, e))
}

fn main() -> i32 {
    let mut tool = Tool::new("mv", "mv SRC DST | mv SRC... DIR");
    let (sources, dst) = match tool.sources_and_destination() {
        Ok(x) => x,
        Err(status) => return status,
    };
    for src in sources {
        let target = tool::destination(src, dst);
        match fs::rename(src, &target) {
            Ok(()) => {}
            Err(Errno::EXDEV) => {
                if let Err((path, e)) = copy_across(src, &target) {
                    tool.fail(path, e);
                }
            }
            // Either name may be the one at fault: show both.
            Err(e) => tool.fail(&format!("{src} -> {target}"), e),
        }
    }
    tool.status()
}
