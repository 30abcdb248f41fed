//! `cp SRC DST` or `cp SRC... DIR`: copy files. DST is made or overwritten;
//! when it is a directory the copy goes into it under SRC's last name.
//! Files only: a directory SRC is refused with EISDIR.
#![no_std]
#![no_main]

use chcore_fs::path::normalize;
use libchcore::fs;
use libchcore::tool::{self, Tool};

libchcore::entry!(main);

/// Whether `a` and `b` name one file. With neither hard nor symbolic links,
/// that is exactly when they are one path once made absolute.
fn same_file(a: &str, b: &str) -> bool {
    let cwd = fs::getcwd().unwrap_or_default();
    matches!((normalize(&cwd, a), normalize(&cwd, b)), (Ok(a), Ok(b)) if a.as_str() == b.as_str())
}

fn main() -> i32 {
    let mut tool = Tool::new("cp", "cp SRC DST | cp SRC... DIR");
    let (sources, dst) = match tool.sources_and_destination() {
        Ok(x) => x,
        Err(status) => return status,
    };
    for src in sources {
        let target = tool::destination(src, dst);
        if same_file(src, &target) {
            tool.fail_with(format_args!("{src} and {target} are the same file"));
        } else if let Err((path, e)) = tool::copy_file(src, &target) {
            tool.fail(path, e);
        }
    }
    tool.status()
}
