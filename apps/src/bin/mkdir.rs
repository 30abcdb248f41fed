//! `mkdir [-p] DIR...`: make directories. With `-p`, make the missing
//! parents too and accept a directory that already exists.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use libchcore::fs::{self, Errno, FileType};
use libchcore::tool::{self, Tool};

libchcore::entry!(main);

/// Make `path` and whatever parents it lacks, one component at a time.
fn make_parents(path: &str) -> Result<(), Errno> {
    let mut prefix = String::from(if path.starts_with('/') { "/" } else { "" });
    for name in chcore_fs::path::components(path) {
        prefix = if prefix.is_empty() { name.into() } else { tool::join(&prefix, name) };
        match fs::mkdir(&prefix) {
            // A file in the way shows up as ENOTDIR at the next step, or below.
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
    }
    match fs::stat(path)?.kind {
        FileType::Dir => Ok(()),
        FileType::File => Err(Errno::EEXIST),
    }
}

fn main() -> i32 {
    let mut tool = Tool::new("mkdir", "mkdir [-p] DIR...");
    let options = match tool.options("p") {
        Ok(o) => o,
        Err(status) => return status,
    };
    if options.operands.is_empty() {
        return tool.usage_error("missing operand");
    }
    let parents = options.has('p');
    for dir in options.operands {
        let made = if parents { make_parents(dir) } else { fs::mkdir(dir) };
        if let Err(e) = made {
            tool.fail(dir, e);
        }
    }
    tool.status()
}
