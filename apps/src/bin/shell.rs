//! The shell: runs ramdisk programs by name, pipelines `a | b | c`, and the
//! builtins `echo`, `help` and `exit`; `$?` is the last exit status.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use chcore_proc::shell::{parse, ParseError};
use libchcore::process::{self, Status};
use libchcore::{eprintln, print, println, Error};

libchcore::entry!(main);

const BUILTINS: &str = "builtins: echo [WORD...], help, exit [CODE]; $? is the last status; a | b | c pipes";

fn main() -> i32 {
    println!("Welcome to ChCore shell!");
    let mut status = 0;
    let mut buf = [0u8; 512];
    loop {
        print!("$ ");
        let line = match process::read(0, &mut buf) {
            Ok(0) => return status,
            Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(e) => {
                eprintln!("shell: cannot read the console: {e:?}");
                return 1;
            }
        };
        let commands = match parse(line.trim_end_matches(['\n', '\r']), status) {
            Ok(c) => c,
            Err(ParseError::UnterminatedQuote) => {
                eprintln!("shell: unterminated quote");
                status = 2;
                continue;
            }
            Err(ParseError::EmptyCommand) => {
                eprintln!("shell: empty command in a pipeline");
                status = 2;
                continue;
            }
        };
        if commands.is_empty() {
            continue;
        }
        if commands.len() == 1 {
            let words = &commands[0];
            match words[0].as_str() {
                "echo" => {
                    println!("{}", words[1..].join(" "));
                    status = 0;
                    continue;
                }
                "help" => {
                    println!("{BUILTINS}");
                    if let Ok(names) = process::list() {
                        println!("programs: {}", names.join(" "));
                    }
                    status = 0;
                    continue;
                }
                "exit" => return words.get(1).and_then(|c| c.parse().ok()).unwrap_or(status),
                _ => {}
            }
        }
        status = run(&commands);
    }
}

/// Run a pipeline; returns the status of its last command.
fn run(commands: &[Vec<String>]) -> i32 {
    let mut pids: Vec<(u64, &str)> = Vec::new();
    let mut input = 0u64;
    let mut status = 0;
    for (i, words) in commands.iter().enumerate() {
        let last = i + 1 == commands.len();
        let (next_input, output) = if last {
            (0, 1)
        } else {
            match process::pipe() {
                Ok((r, w)) => (r, w),
                Err(e) => {
                    eprintln!("shell: pipe: {e:?}");
                    status = 1;
                    break;
                }
            }
        };
        let args: Vec<&str> = words.iter().map(|s| s.as_str()).collect();
        match process::spawn(&words[0], &args, [input, output, 2]) {
            Ok(pid) => pids.push((pid, &words[0])),
            Err(Error::NotFound) => {
                eprintln!("shell: {}: command not found", words[0]);
                status = 127;
            }
            Err(e) => {
                eprintln!("shell: {}: cannot run: {e:?}", words[0]);
                status = 126;
            }
        }
        // The children hold their own references; ours must go so that
        // readers see end of file when the writers finish.
        if input != 0 {
            let _ = process::close(input);
        }
        if !last {
            let _ = process::close(output);
        }
        input = next_input;
    }
    for (i, (pid, name)) in pids.iter().enumerate() {
        let s = match process::waitpid(Some(*pid)) {
            Ok((_, Status::Exited(code))) => code,
            Ok((_, Status::Killed)) => {
                eprintln!("shell: {name} was killed");
                137
            }
            Err(e) => {
                eprintln!("shell: wait for {name}: {e:?}");
                1
            }
        };
        if i + 1 == pids.len() && status == 0 {
            status = s;
        }
    }
    status
}
