//! The shell: runs programs (found in `/bin` by name) with arguments,
//! pipelines `a | b | c`, redirections (`<`, `>`, `>>`, `2>`, `2>&1`, also
//! inside pipelines), command lists (`a; b`, `a && b`, `a || b`), `#`
//! comments, and the builtins `echo`, `cd`, `pwd`, `help` and `exit`; `$?`
//! is the last exit status. `shell FILE` (or `sh FILE`) runs the lines of
//! FILE without a prompt and exits with the status of the last command.
//!
//! At the console the shell reads raw keys and edits the line itself
//! (`chcore_proc::editor`: cursor keys, history, Tab completion of program
//! names and paths); from a pipe or a file it reads lines as they come.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use chcore_proc::editor::{Candidate, Completer, Editor, Event};
use chcore_proc::shell::{parse, runs, split_list, Command, Redirect, Slot, Then};
use libchcore::fs::{self, Fd, FileType, O_APPEND, O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY};
use libchcore::process::{self, Status};
use libchcore::sync::Mutex;
use libchcore::{eprintln, print, println, Error};

libchcore::entry!(main);

const BUILTINS: &str = "builtins: echo [WORD...], cd [DIR], pwd, history, jobs, wait [PID|%N...], \
                        kill [-9] PID|%N..., help, exit [CODE]; $? is the last status; \
                        a | b | c pipes; < > >> 2> 2>&1 redirect; a; b  a && b  a || b run in turn; cmd & in the background; \
                        # starts a comment; sh FILE runs a script; keys: arrows, Home, End, Delete, \
                        Ctrl-A/E/U/K/W/L, Up/Down for history, Tab completes, Ctrl-C interrupts";

/// The builtins' names, for Tab.
const BUILTIN_NAMES: &[&str] = &["cd", "echo", "exit", "help", "history", "jobs", "kill", "pwd", "wait"];

/// The line editor and its history, while the shell reads the console
/// (`history` shows it).
static EDITOR: Mutex<Option<Editor>> = Mutex::new(None);

/// What the user typed at the prompt.
enum Typed {
    Line(String),
    /// Ctrl-D on an empty line.
    Eof,
    /// Ctrl-C (procmgr showed `^C`).
    Interrupted,
    Failed(Error),
}

fn main() -> i32 {
    if let Some(file) = libchcore::args().get(1) {
        return script(file);
    }
    println!("Welcome to ChCore shell!");
    let console = fs::isatty(0);
    if console {
        *EDITOR.lock() = Some(Editor::new("$ "));
    }
    let mut status = 0;
    let mut buf = [0u8; 512];
    loop {
        reap_jobs();
        print!("$ ");
        let typed = if console {
            edit_line()
        } else {
            match process::read(0, &mut buf) {
                Ok(0) => Typed::Eof,
                Ok(n) => Typed::Line(String::from_utf8_lossy(&buf[..n]).into_owned()),
                Err(e) => Typed::Failed(e),
            }
        };
        let line = match typed {
            Typed::Line(line) => line,
            // Ctrl-D at the prompt would end the shell, which procmgr
            // starts again: say how to leave instead. Input that is not
            // the console (a pipe, a file) ends at its end.
            Typed::Eof if console => {
                println!();
                eprintln!("shell: use exit to leave the shell");
                continue;
            }
            Typed::Eof => return status,
            // Ctrl-C at the prompt: the line is dropped and `$?` says so.
            Typed::Interrupted => {
                status = chcore_proc::proto::INTERRUPTED;
                continue;
            }
            Typed::Failed(e) => {
                eprintln!("shell: cannot read the console: {e:?}");
                return 1;
            }
        };
        if let Some(code) = run_line(line.trim_end_matches(['\n', '\r']), &mut status, None) {
            return code;
        }
    }
}

/// Read a line at the console, key by key, through the line editor.
fn edit_line() -> Typed {
    let mut guard = EDITOR.lock();
    let Some(editor) = guard.as_mut() else { return Typed::Failed(Error::InvalidArgument) };
    let mut out = Vec::new();
    // Ctrl-C presses counted from the line's start: one between two keys
    // still cancels it.
    let mut presses = None;
    loop {
        let b = match process::key_since(None, presses) {
            Ok((b, seen)) => {
                presses = Some(seen);
                b
            }
            Err(Error::Interrupted) => {
                editor.cancel();
                return Typed::Interrupted;
            }
            Err(e) => return Typed::Failed(e),
        };
        out.clear();
        let event = editor.key(b, &mut out, &mut Names);
        if !out.is_empty() {
            let _ = fs::write(1, &out);
        }
        match event {
            Event::More => {}
            Event::Line(line) => return Typed::Line(line),
            Event::Eof => return Typed::Eof,
        }
    }
}

/// What Tab completes to: the builtins and the programs in `/bin` for a
/// command's name, the files of a directory for a path.
struct Names;

impl Completer for Names {
    fn candidates(&mut self, word: &str, command: bool) -> Vec<Candidate> {
        let mut found = Vec::new();
        if command {
            for name in BUILTIN_NAMES.iter().filter(|n| n.starts_with(word)) {
                found.push(Candidate { word: String::from(*name), dir: false });
            }
            for e in fs::read_dir("/bin").unwrap_or_default() {
                if e.name.starts_with(word) && e.kind == FileType::File {
                    found.push(Candidate { word: e.name, dir: false });
                }
            }
            return found;
        }
        let (dir, prefix) = match word.rfind('/') {
            Some(i) => (&word[..=i], &word[i + 1..]),
            None => ("", word),
        };
        let list = if dir.is_empty() { "." } else { dir };
        for e in fs::read_dir(list).unwrap_or_default() {
            // Dot files only when asked for (`.` typed).
            if e.name.starts_with(prefix) && (prefix.starts_with('.') || !e.name.starts_with('.')) {
                found.push(Candidate { word: format!("{dir}{}", e.name), dir: e.kind == FileType::Dir });
            }
        }
        found
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
            *status = run(&commands, (step.then == Then::Background).then_some(step.text.as_str()));
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
        "jobs" => {
            reap_jobs();
            for job in JOBS.lock().iter() {
                say(&format!("[{}] {}  {}\n", job.id, job_state(job), job.text));
            }
            0
        }
        "wait" => wait_jobs(&words[1..], &complain),
        "kill" => {
            // `kill -9` ends at once; plain `kill` asks (the process may
            // tidy up first, if it asked to hear of it).
            let hard = words[1..].iter().any(|w| w == "-9" || w == "-KILL");
            let args = words[1..].iter().filter(|w| !w.starts_with('-')).cloned().collect::<Vec<_>>();
            match job_pids(&args) {
                Ok(pids) if !pids.is_empty() => {
                    let mut status = 0;
                    for pid in pids {
                        let sent = if hard { process::kill(pid) } else { process::terminate(pid) };
                        if let Err(e) = sent {
                            complain(format!(
                                "kill: {pid}: {}",
                                if e == Error::NotFound { "no such process" } else { "refused" }
                            ));
                            status = 1;
                        }
                    }
                    status
                }
                Ok(_) => {
                    complain(String::from("kill: usage: kill [-9] PID|%JOB..."));
                    2
                }
                Err(e) => {
                    complain(format!("kill: {e}"));
                    1
                }
            }
        }
        "history" => {
            let editor = EDITOR.lock();
            for (i, line) in editor.as_ref().map_or(&[][..], |e| e.history()).iter().enumerate() {
                say(&format!("{:5}  {line}\n", i + 1));
            }
            0
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

/// A pipeline running in the background (`cmd &`).
struct Job {
    /// Its number, `%N` (the lowest one free when it started).
    id: usize,
    /// The pipeline as typed.
    text: String,
    /// Its processes, and how each ended once reaped.
    pids: Vec<(u64, Option<Status>)>,
}

/// The background jobs not yet reported done.
static JOBS: Mutex<Vec<Job>> = Mutex::new(Vec::new());

/// How a job's last process ended, as `jobs` and the report show it.
fn job_state(job: &Job) -> String {
    if job.pids.iter().any(|(_, s)| s.is_none()) {
        return String::from("Running");
    }
    match job.pids.last().and_then(|(_, s)| *s) {
        Some(Status::Exited(0)) | None => String::from("Done"),
        Some(Status::Exited(code)) => format!("Exit {code}"),
        Some(Status::Killed) => String::from("Killed"),
    }
}

/// Collect what background processes ended (without waiting), and report
/// and forget the jobs now wholly done: at each prompt, and for `jobs`.
fn reap_jobs() {
    let mut jobs = JOBS.lock();
    for job in jobs.iter_mut() {
        for (pid, end) in job.pids.iter_mut().filter(|(_, e)| e.is_none()) {
            match process::try_waitpid(*pid) {
                Ok(Some((_, status))) => *end = Some(status),
                Ok(None) => {}
                // Not a child any more (reaped elsewhere): it is over.
                Err(_) => *end = Some(Status::Exited(0)),
            }
        }
    }
    jobs.retain(|job| {
        let done = job.pids.iter().all(|(_, e)| e.is_some());
        if done {
            println!("[{}] {}  {}", job.id, job_state(job), job.text);
        }
        !done
    });
}

/// The pids `words` name for `wait` and `kill`: pids, or `%N` for all of
/// job N's; `None` with the word that names nothing.
fn job_pids(words: &[String]) -> Result<Vec<u64>, String> {
    let jobs = JOBS.lock();
    let mut pids = Vec::new();
    for w in words {
        if let Some(n) = w.strip_prefix('%') {
            let job = n.parse::<usize>().ok().and_then(|n| jobs.iter().find(|j| j.id == n));
            let job = job.ok_or_else(|| format!("{w}: no such job"))?;
            pids.extend(job.pids.iter().filter(|(_, e)| e.is_none()).map(|(p, _)| *p));
        } else {
            pids.push(w.parse().map_err(|_| format!("{w}: not a pid or %job"))?);
        }
    }
    Ok(pids)
}

/// `wait [PID|%N...]`: wait for those background processes (all of them
/// without arguments); Ctrl-C meanwhile ends them, as it would a pipeline
/// in the foreground. Returns the status of the last one named.
fn wait_jobs(words: &[String], complain: &dyn Fn(String)) -> i32 {
    let pids = if words.is_empty() {
        JOBS.lock().iter().flat_map(|j| j.pids.iter().filter(|(_, e)| e.is_none()).map(|(p, _)| *p)).collect()
    } else {
        match job_pids(words) {
            Ok(p) => p,
            Err(e) => {
                complain(format!("wait: {e}"));
                return 127;
            }
        }
    };
    let _ = process::set_foreground(&pids);
    let mut status = 0;
    for pid in pids {
        let end = match process::waitpid(Some(pid)) {
            Ok((_, s)) => s,
            Err(_) => {
                complain(format!("wait: {pid}: not a child of this shell"));
                status = 127;
                continue;
            }
        };
        status = match end {
            Status::Exited(code) => code,
            Status::Killed => 137,
        };
        for job in JOBS.lock().iter_mut() {
            for (p, e) in job.pids.iter_mut() {
                if *p == pid {
                    *e = Some(end);
                }
            }
        }
    }
    let _ = process::set_foreground(&[]);
    status
}

/// Run a pipeline; returns the status of its last command. With
/// `background` (the pipeline's text), it is started as a job instead:
/// its input is an empty pipe (it must not take the console's keys), the
/// shell says `[N] PID` and does not wait.
fn run(commands: &[Command], background: Option<&str>) -> i32 {
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
    if background.is_some() {
        match process::pipe() {
            Ok((r, w)) => {
                let _ = process::close(w);
                input = r;
            }
            Err(e) => {
                eprintln!("shell: pipe: {e:?}");
                files.iter().for_each(|f| close_all(f));
                return 1;
            }
        }
    }
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
        } else if let Some(s) =
            (commands.len() == 1 && background.is_none()).then(|| builtin(&cmd.words, fds[1], fds[2])).flatten()
        {
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
    if let (Some(text), Some(&(last, _))) = (background, pids.last()) {
        let mut jobs = JOBS.lock();
        let id = (1..).find(|n| jobs.iter().all(|j| j.id != *n)).unwrap_or(1);
        println!("[{id}] {last}");
        jobs.push(Job { id, text: String::from(text), pids: pids.iter().map(|(p, _)| (*p, None)).collect() });
        return status;
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
