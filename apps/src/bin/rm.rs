//! `rm [-r] [-f] PATH...`: remove files. With `-r`, also directories and
//! everything in them (depth first; a directory whose contents could not
//! all go is kept). With `-f`, a PATH that does not exist is no error and
//! no PATH is needed. `.`, `..` and `/` are refused, as POSIX and GNU do.
#![no_std]
#![no_main]

use libchcore::fs::{self, Errno, FileType};
use libchcore::tool::{self, Tool};

libchcore::entry!(main);

/// Remove `path`, reporting what fails; returns whether it is gone.
fn remove(tool: &mut Tool, path: &str, recursive: bool, force: bool) -> bool {
    let removed = match fs::stat(path) {
        Err(Errno::ENOENT) if force => return true,
        Err(e) => Err(e),
        Ok(st) if st.kind == FileType::File => fs::unlink(path),
        Ok(_) if !recursive => Err(Errno::EISDIR),
        Ok(_) => match fs::read_dir(path) {
            Ok(entries) => {
                let mut emptied = true;
                for entry in entries {
                    emptied &= remove(tool, &tool::join(path, &entry.name), recursive, force);
                }
                if !emptied {
                    return false;
                }
                fs::rmdir(path)
            }
            Err(e) => Err(e),
        },
    };
    removed.map_err(|e| tool.fail(path, e)).is_ok()
}

fn main() -> i32 {
    let mut tool = Tool::new("rm", "rm [-r] [-f] PATH...");
    let options = match tool.options("rf") {
        Ok(o) => o,
        Err(status) => return status,
    };
    let (recursive, force) = (options.has('r'), options.has('f'));
    if options.operands.is_empty() && !force {
        return tool.usage_error("missing operand");
    }
    for path in options.operands {
        match chcore_fs::path::components(path).next_back() {
            Some("." | "..") => tool.fail_with(format_args!("{path}: refusing to remove . or ..")),
            None if path.starts_with('/') => tool.fail_with(format_args!("{path}: refusing to remove /")),
            _ => {
                remove(&mut tool, path, recursive, force);
            }
        }
    }
    tool.status()
}
