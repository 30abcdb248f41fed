//! The shell: runs programs (found in `/bin` by name) with arguments,
//! pipelines `a | b | c`, redirections (`<`, `>`, `>>`, `2>`, `2>&1`, also
//! inside pipelines), command lists (`a; b`, `a && b`, `a || b`), `#`
//! comments, and the builtins `echo`, `cd`, `pwd`, `help` and `exit`; `$?`
//! is the last exit status. `shell FILE` (or `sh FILE`) runs the lines of
//! FILE without a prompt and exits with the status of the last command.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use chcore_proc::shell::{parse, runs, split_list, Command, Redirect, Slot, Then};
use libchcore::fs::{self, Fd, O_APPEND, O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY};
use libchcore::process::{self, Status};
use libchcore::{eprintln, print, println, Error};

libchcore::entry!(main);

const BUILTINS: &str = "builtins: echo [WORD...], cd [DIR], pwd, help, exit [CODE]; $? is the last status; \
                        a | b | c pipes; < > >> 2> 2>&1 redirect; a; b  a && b  a || b run in turn; \
                        # starts a comment; sh FILE runs a script";

fn main() -> i32 {
    if let Some(file) = libchcore::args().get(1) {
        return script(file);
    }
    println!("Welcome to ChCore shell!");
    let mut status = 0;
    let mut buf = [0u8; 512];
    loop {
        print!("$ ");
        let line = match process::read(0, &mut buf) {
            // Ctrl-D at the prompt would end the shell, which procmgr
            // starts again: say how to leave instead. Input that is not
            // the console (a pipe, a file) ends at its end.
            Ok(0) if fs::isatty(0) => {
                println!();
                eprintln!("shell: use exit to leave the shell");
                continue;
            }
            Ok(0) => return status,
            Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(e) => {
                eprintln!("shell: cannot read the console: {e:?}");
                return 1;
            }
        };
        if let Some(code) = run_line(line.trim_end_matches(['\n', '\r']), &mut status, None) {
            return code;
        }
    }
}

/// `shell FILE`: run FILE's lines as if they were typed, without a prompt;
/// the status of the last command (or `exit`'s).
fn script(file: &str) -> i32 {
    let text = match fs::read_file(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("sh: {file}: {e}");
            return 127;
        }
    };
    let Ok(text) = core::str::from_utf8(&text) else {
        eprintln!("sh: {file}: not a text file");
        return 126;
    };
    let mut status = 0;
    for (n, line) in text.lines().enumerate() {
        if let Some(code) = run_line(line, &mut status, Some((file, n + 1))) {
            return code;
        }
    }
    status
}

/// Run one line, a command list, updating `status`; `Some(code)` if it
/// ran `exit`. `at` is the script file and line number, for errors.
fn run_line(line: &str, status: &mut i32, at: Option<(&str, usize)>) -> Option<i32> {
    let complain = |e: &dyn core::fmt::Display| match at {
        Some((file, n)) => eprintln!("sh: {file}: line {n}: {e}"),
        None => eprintln!("shell: {e}"),
    };
    let steps = match split_list(line) {
        Ok(s) => s,
        Err(e) => {
            complain(&e);
            *status = 2;
            return None;
        }
    };
    let mut then = Then::Always;
    for step in steps {
        // A step that does not run passes its connector on: `false && a || b` runs b.
        let go = runs(then, *status);
        then = step.then;
        if !go {
            continue;
        }
        let commands = match parse(&step.text, *status) {
            Ok(c) => c,
            Err(e) => {
                complain(&e);
                *status = 2;
                return None;
            }
        };
        if let [cmd] = commands.as_slice() {
            if cmd.words.first().map(String::as_str) == Some("exit") {
                return Some(cmd.words.get(1).and_then(|c| c.parse().ok()).unwrap_or(*status));
            }
        }
        if !commands.is_empty() {
            *status = run(&commands);
        }
    }
    None
}

/// A builtin run by the shell itself, writing to `out` and its errors to
/// `err` (so `cd nowhere 2> f` redirects them as a program's); `None` if
/// `words` is not one. (In a pipeline they run as programs: `/bin/echo`.)
fn builtin(words: &[String], out: Fd, err: Fd) -> Option<i32> {
    let say = |text: &str| {
        let _ = fs::write(out, text.as_bytes());
    };
    let complain = |text: String| {
        let _ = fs::write(err, format!("{text}\n").as_bytes());
    };
    Some(match words.first()?.as_str() {
        "echo" => {
            say(&format!("{}\n", words[1..].join(" ")));
            0
        }
        "pwd" => match fs::getcwd() {
            Ok(cwd) => {
                say(&format!("{cwd}\n"));
                0
            }
            Err(e) => {
                complain(format!("pwd: {e}"));
                1
            }
        },
        "cd" => {
            let dir = words.get(1).map_or("/", String::as_str);
            match fs::chdir(dir) {
                Ok(()) => 0,
                Err(e) => {
                    complain(format!("cd: {dir}: {e}"));
                    1
                }
            }
        }
        "help" => {
            say(&format!("{BUILTINS}\n"));
            if let Ok(names) = process::list() {
                say(&format!("programs: {}\n", names.join(" ")));
            }
            0
        }
        _ => return None,
    })
}

/// The files a command's redirections open, in order (`None` for a `Dup`);
/// an error names the file. All are opened before anything runs, so a
/// redirection that fails runs nothing.
fn open_redirects(cmd: &Command) -> Result<Vec<Option<Fd>>, String> {
    let mut opened: Vec<Option<Fd>> = Vec::new();
    for r in &cmd.redirects {
        let fd = match r {
            Redirect::Read { path, .. } => fs::open(path, O_RDONLY).map_err(|e| format!("{path}: {e}")),
            Redirect::Write { path, append, .. } => {
                let mode = if *append { O_APPEND } else { O_TRUNC };
                fs::open(path, O_WRONLY | O_CREAT | mode).map_err(|e| format!("{path}: {e}"))
            }
            Redirect::Dup { .. } => {
                opened.push(None);
                continue;
            }
        };
        match fd {
            Ok(fd) => opened.push(Some(fd)),
            Err(e) => {
                close_all(&opened);
                return Err(e);
            }
        }
    }
    Ok(opened)
}

fn close_all(opened: &[Option<Fd>]) {
    for fd in opened.iter().flatten() {
        let _ = fs::close(*fd);
    }
}

/// What a refused `spawn` means to the user.
fn why_not(e: Error) -> String {
    String::from(match e {
        Error::InvalidArgument => "not a program (an AArch64 ELF executable or a #! script)",
        Error::NoRights => "not a regular file",
        Error::NoMemory => "out of memory (or a program file over 16 MiB)",
        Error::PeerDead => "its file system has ended",
        _ => return format!("{e:?}"),
    })
}

/// Run a pipeline; returns the status of its last command.
fn run(commands: &[Command]) -> i32 {
    let mut files: Vec<Vec<Option<Fd>>> = Vec::new();
    for cmd in commands {
        match open_redirects(cmd) {
            Ok(f) => files.push(f),
            Err(e) => {
                eprintln!("shell: {e}");
                files.iter().for_each(|f| close_all(f));
                return 1;
            }
        }
    }
    let mut pids: Vec<(u64, &str)> = Vec::new();
    let mut input = 0u64;
    let mut status = 0;
    for (i, (cmd, opened)) in commands.iter().zip(&files).enumerate() {
        let last = i + 1 == commands.len();
        let (next_input, output) = if last {
            (0, 1)
        } else {
            match process::pipe() {
                Ok((r, w)) => (r, w),
                Err(e) => {
                    eprintln!("shell: pipe: {e:?}");
                    status = 1;
                    close_all(opened);
                    break;
                }
            }
        };
        let fds = cmd.fds().map(|slot| match slot {
            Slot::Inherited(0) => input,
            Slot::Inherited(1) => output,
            Slot::Inherited(n) => u64::from(n),
            Slot::File(k) => opened.get(k).copied().flatten().unwrap_or(u64::MAX),
        });
        if cmd.words.is_empty() {
            // `> f` alone: the files are made; nothing runs.
            status = 0;
        } else if let Some(s) = (commands.len() == 1).then(|| builtin(&cmd.words, fds[1], fds[2])).flatten() {
            status = s;
        } else {
            let args: Vec<&str> = cmd.words.iter().map(|s| s.as_str()).collect();
            match process::spawn(&cmd.words[0], &args, fds) {
                Ok(pid) => pids.push((pid, &cmd.words[0])),
                Err(Error::NotFound) => {
                    let what = if cmd.words[0].contains('/') { "no such file" } else { "command not found" };
                    eprintln!("shell: {}: {what}", cmd.words[0]);
                    status = 127;
                }
                Err(e) => {
                    eprintln!("shell: {}: cannot run: {}", cmd.words[0], why_not(e));
                    status = 126;
                }
            }
        }
        // The children hold their own references; ours must go so that
        // readers see end of file when the writers finish.
        close_all(opened);
        if input != 0 {
            let _ = process::close(input);
        }
        if !last {
            let _ = process::close(output);
        }
        input = next_input;
    }
    // Ctrl-C ends the pipeline (procmgr shows ^C; each ends with 130).
    let job: Vec<u64> = pids.iter().map(|(p, _)| *p).collect();
    if !job.is_empty() {
        let _ = process::set_foreground(&job);
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
    if !job.is_empty() {
        let _ = process::set_foreground(&[]);
    }
    status
}
