//! `rmdir DIR...`: remove empty directories.
#![no_std]
#![no_main]

use libchcore::fs;
use libchcore::tool::Tool;

libchcore::entry!(main);

fn main() -> i32 {
    let mut tool = Tool::new("rmdir", "rmdir DIR...");
    let options = match tool.options("") {
        Ok(o) => o,
        Err(status) => return status,
    };
    if options.operands.is_empty() {
        return tool.usage_error("missing operand");
    }
    for dir in options.operands {
        if let Err(e) = fs::rmdir(dir) {
            tool.fail(dir, e);
        }
    }
    tool.status()
}
