//! `touch FILE...`: make each FILE that does not exist, empty.
//!
//! An existing file (or directory) is left as it is: there is no call to
//! set a file's times, and opening it for writing without writing does not
//! change them (nor does truncating it to its own size), so touch cannot
//! bring its modification time forward as POSIX asks. Opening it still
//! checks that it could be written: `touch /bin/ls` fails with EROFS.
#![no_std]
#![no_main]

use libchcore::fs::{self, Errno, O_CREAT, O_WRONLY};
use libchcore::tool::Tool;

libchcore::entry!(main);

fn main() -> i32 {
    let mut tool = Tool::new("touch", "touch FILE...");
    let options = match tool.options("") {
        Ok(o) => o,
        Err(status) => return status,
    };
    if options.operands.is_empty() {
        return tool.usage_error("missing file operand");
    }
    for file in options.operands {
        match fs::open(file, O_WRONLY | O_CREAT) {
            Ok(fd) => {
                let _ = fs::close(fd);
            }
            // A directory exists, and its times cannot be set either.
            Err(Errno::EISDIR) => {}
            Err(e) => tool.fail(file, e),
        }
    }
    tool.status()
}
