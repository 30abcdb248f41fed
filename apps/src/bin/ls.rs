//! `ls [-l] [PATH...]`: list directories (the working directory without
//! a PATH); a file is listed by itself. With `-l`: type (`d` or `-`), size
//! and name.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use libchcore::fs::{self, FileType, Stat};
use libchcore::{eprintln, println};

libchcore::entry!(main);

fn show(name: &str, st: Option<&Stat>, long: bool) {
    match (long, st) {
        (true, Some(st)) => {
            let kind = if st.kind == FileType::Dir { 'd' } else { '-' };
            println!("{kind} {:>10} {name}", st.size);
        }
        _ => println!("{name}"),
    }
}

fn main() -> i32 {
    let args = libchcore::args();
    let long = args.iter().skip(1).any(|a| a == "-l");
    let mut paths: Vec<&str> = args.iter().skip(1).filter(|a| *a != "-l").map(|s| s.as_str()).collect();
    if let Some(bad) = paths.iter().find(|p| p.starts_with('-') && p.len() > 1) {
        eprintln!("ls: unknown option {bad} (usage: ls [-l] [PATH...])");
        return 2;
    }
    if paths.is_empty() {
        paths.push(".");
    }
    let mut status = 0;
    for (i, path) in paths.iter().enumerate() {
        let st = match fs::stat(path) {
            Ok(st) => st,
            Err(e) => {
                eprintln!("ls: {path}: {e}");
                status = 1;
                continue;
            }
        };
        if st.kind != FileType::Dir {
            show(path, Some(&st), long);
            continue;
        }
        let mut entries = match fs::read_dir(path) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("ls: {path}: {e}");
                status = 1;
                continue;
            }
        };
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        if paths.len() > 1 {
            println!("{}{path}:", if i > 0 { "\n" } else { "" });
        }
        for e in entries {
            let st =
                if long { fs::stat(&alloc::format!("{}/{}", path.trim_end_matches('/'), e.name)).ok() } else { None };
            show(&e.name, st.as_ref(), long);
        }
    }
    status
}
