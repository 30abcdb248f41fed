//! `stat PATH...`: what each PATH is: size, blocks of 512 bytes, type,
//! inode, links, whether it is read-only, and its access, modification and
//! change times (in seconds since boot: there is no calendar clock).
#![no_std]
#![no_main]

use libchcore::fs::{self, FileType};
use libchcore::println;
use libchcore::tool::Tool;

libchcore::entry!(main);

fn main() -> i32 {
    let mut tool = Tool::new("stat", "stat PATH...");
    let options = match tool.options("") {
        Ok(o) => o,
        Err(status) => return status,
    };
    if options.operands.is_empty() {
        return tool.usage_error("missing operand");
    }
    for path in options.operands {
        let st = match fs::stat(path) {
            Ok(st) => st,
            Err(e) => {
                tool.fail(path, e);
                continue;
            }
        };
        let kind = match st.kind {
            FileType::File => "regular file",
            FileType::Dir => "directory",
        };
        let access = if st.readonly { "read-only" } else { "writable" };
        println!("  File: {path}");
        println!("  Size: {:<12} Blocks: {:<12} {kind}", st.size, st.blocks);
        println!(" Inode: {:<12}  Links: {:<12} {access}", st.ino, st.nlink);
        println!("Access: {} s after boot", st.atime);
        println!("Modify: {} s after boot", st.mtime);
        println!("Change: {} s after boot", st.ctime);
    }
    tool.status()
}
