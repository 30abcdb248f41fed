//! `df [-k]`: for each mounted file system, its size, the space used and
//! the space free in KiB, how full it is and where it is mounted, in the
//! columns of POSIX `df -k` (and GNU's widths).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use libchcore::fs::{self, FsStat};
use libchcore::println;
use libchcore::tool::Tool;

libchcore::entry!(main);

/// What is mounted where (`fs::mounts` gives only the places): procmgr's
/// mount table in procmgr/src/server/fs.rs.
const SOURCES: &[(&str, &str)] = &[("/", "tmpfs"), ("/bin", "ramdisk"), ("/tests", "ramdisk")];

const HEADINGS: [&str; 6] = ["Filesystem", "1K-blocks", "Used", "Available", "Use%", "Mounted on"];

/// GNU df's narrowest columns; the last one is not padded.
const MIN_WIDTHS: [usize; 5] = [14, 5, 5, 5, 4];

/// `blocks` of `size` bytes in KiB, rounded up as GNU df does.
fn kib(blocks: u64, size: u64) -> u64 {
    (u128::from(blocks) * u128::from(size)).div_ceil(1024) as u64
}

/// One line of the table, each column as text.
fn row(mount: &str, st: &FsStat) -> [String; 6] {
    let used = st.blocks.saturating_sub(st.free_blocks);
    // Rounded up, so that a file system with anything in it is not 0% full.
    let total = u128::from(used) + u128::from(st.free_blocks);
    let percent = match total {
        0 => "-".to_string(),
        _ => alloc::format!("{}%", (u128::from(used) * 100).div_ceil(total)),
    };
    let source = SOURCES.iter().find(|(at, _)| *at == mount).map_or("none", |(_, name)| name);
    [
        source.to_string(),
        kib(st.blocks, st.block_size).to_string(),
        kib(used, st.block_size).to_string(),
        kib(st.free_blocks, st.block_size).to_string(),
        percent,
        mount.to_string(),
    ]
}

fn main() -> i32 {
    let mut tool = Tool::new("df", "df [-k]");
    let options = match tool.options("k") {
        Ok(o) => o,
        Err(status) => return status,
    };
    if !options.operands.is_empty() {
        return tool.usage_error("no operands are taken");
    }
    let mut mounts = match fs::mounts() {
        Ok(m) => m,
        Err(e) => {
            tool.fail("mount table", e);
            return tool.status();
        }
    };
    mounts.sort();
    let mut rows: Vec<[String; 6]> = Vec::new();
    rows.push(HEADINGS.map(String::from));
    for mount in &mounts {
        match fs::statfs(mount) {
            Ok(st) => rows.push(row(mount, &st)),
            Err(e) => tool.fail(mount, e),
        }
    }
    let mut widths = MIN_WIDTHS;
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.len());
        }
    }
    let [w0, w1, w2, w3, w4] = widths;
    for [source, size, used, free, percent, at] in &rows {
        println!("{source:<w0$} {size:>w1$} {used:>w2$} {free:>w3$} {percent:>w4$} {at}");
    }
    tool.status()
}
