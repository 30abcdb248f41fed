//! `touch FILE...`: set each FILE's access and modification times to now
//! (`utimes`), making it, empty, if it does not exist. `touch /bin/ls`
//! fails with EROFS.
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
        let touched = match fs::utimes(file, None) {
            Err(Errno::ENOENT) => fs::open(file, O_WRONLY | O_CREAT).and_then(fs::close),
            other => other,
        };
        if let Err(e) = touched {
            tool.fail(file, e);
        }
    }
    tool.status()
}
