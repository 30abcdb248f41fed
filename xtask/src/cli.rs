//! The command line: every verb and every option in one table, parsed with lexopt.
//!
//! [`VERBS`] says what each verb does, which options it takes and which
//! function runs it; each option (an [`Opt`] constant) says once how it is
//! spelled, what value it takes, what it means and how that value is checked.
//! The help texts are made from the same tables, so they cannot drift from
//! what the parser accepts. Giving a verb an option it lacks is one entry in
//! its `options`; a new option is one `Opt` constant and a field of [`Opts`].
//!
//! lexopt only splits the words (`--smp 4`, `--smp=4`, `-h`); the rules of
//! what goes with what are here, in [`check`].

use std::ffi::OsString;
use systests::qemu::{parse_mem, EntryEl, Machine};

/// What the options said; each verb reads the fields of the options it takes.
#[derive(Debug, Default)]
pub struct Opts {
    pub machine: Option<Machine>,
    pub smp: Option<u32>,
    pub mem: Option<String>,
    pub el: Option<EntryEl>,
    pub test_image: bool,
    pub lab_image: bool,
    pub mini_uart: bool,
    pub append: Option<String>,
    pub port: Option<u16>,
    pub lab: Option<u32>,
    pub image: Option<String>,
    pub firmware: Option<String>,
    pub device: Option<String>,
    pub tty: Option<String>,
    pub kernel: Option<String>,
    pub loader: bool,
    pub log: Option<String>,
    pub iterations: Option<u32>,
    pub compare: Option<String>,
    pub seconds: Option<u64>,
    pub only: Option<&'static str>,
    pub profile: bool,
    pub patience: Option<f64>,
}

/// Whether an option is a switch or takes a value, and where it lands in [`Opts`].
pub enum Takes {
    /// `--loader`.
    Nothing(fn(&mut Opts)),
    /// `--smp 4` or `--smp=4`: the placeholder the help shows (`N`), what the
    /// value is in words (for "--smp needs a CPU count"), and the check that
    /// stores it or says what is wrong with it.
    Value { placeholder: &'static str, what: &'static str, set: fn(&mut Opts, &str) -> Result<(), String> },
}

/// One option, described once for every verb that takes it.
pub struct Opt {
    /// Without the leading `--`.
    pub name: &'static str,
    pub takes: Takes,
    /// One line for the verbs' help.
    pub help: &'static str,
}

impl Opt {
    const fn switch(name: &'static str, help: &'static str, set: fn(&mut Opts)) -> Opt {
        Opt { name, takes: Takes::Nothing(set), help }
    }

    const fn value(
        name: &'static str,
        placeholder: &'static str,
        what: &'static str,
        help: &'static str,
        set: fn(&mut Opts, &str) -> Result<(), String>,
    ) -> Opt {
        Opt { name, takes: Takes::Value { placeholder, what, set }, help }
    }

    /// `--smp N`, as the usage shows it.
    fn spelled(&self) -> String {
        match self.takes {
            Takes::Nothing(_) => format!("--{}", self.name),
            Takes::Value { placeholder, .. } => format!("--{} {placeholder}", self.name),
        }
    }
}

/// A verb: `cargo xtask <name> [options]`.
pub struct Verb {
    pub name: &'static str,
    /// One line for the overview.
    pub summary: &'static str,
    /// What else a user should know, for the verb's own help (may be empty).
    pub about: &'static str,
    /// The options it takes, in the order the help lists them.
    pub options: &'static [&'static Opt],
    /// Those of its options it cannot do without.
    pub required: &'static [&'static Opt],
    pub run: fn(Opts) -> Result<(), String>,
}

// The options. A bad value is refused here, with what was typed and what was expected.

const MACHINE: Opt = Opt::value("machine", "virt|raspi3", "a machine", "QEMU's virt board or its raspi3b", |o, v| {
    o.machine = Some(v.parse()?);
    Ok(())
});
const SMP: Opt = Opt::value("smp", "N", "a CPU count", "CPUs, 1 to 8 (raspi3b always has 4)", |o, v| match v.parse() {
    Ok(n @ 1..=8) => {
        o.smp = Some(n);
        Ok(())
    }
    _ => Err(format!("--smp {v:?}: expected a number of CPUs from 1 to 8")),
});
const MEM: Opt = Opt::value("mem", "SIZE", "a size", "RAM, like 128M or 2G (virt only)", |o, v| {
    o.mem = Some(parse_mem(v)?);
    Ok(())
});
const EL: Opt =
    Opt::value("el", "1|2|3", "1, 2 or 3", "the exception level QEMU virt starts the kernel in (default 1)", |o, v| {
        o.el = Some(match v {
            "1" => EntryEl::El1,
            "2" => EntryEl::El2,
            "3" => EntryEl::El3,
            _ => return Err(format!("--el {v:?}: expected 1, 2 or 3")),
        });
        Ok(())
    });
const TEST_IMAGE: Opt =
    Opt::switch("test-image", "the self-test image (it ends QEMU with its verdict)", |o| o.test_image = true);
const LAB_IMAGE: Opt =
    Opt::switch("lab-image", "the lab image: labs 1-4 in one boot, then the shell", |o| o.lab_image = true);
const MINI_UART: Opt =
    Opt::switch("mini-uart", "Raspberry Pi 3 console on the mini UART instead of the PL011", |o| o.mini_uart = true);
const APPEND: Opt = Opt::value("append", "ARGS", "kernel arguments", "kernel command line (virt only)", |o, v| {
    o.append = Some(v.to_string());
    Ok(())
});
const LOG: Opt = Opt::value(
    "log",
    "LEVEL",
    "a log level",
    "kernel log level: off, error, warn, info, debug or trace (virt only)",
    |o, v| {
        if !["off", "error", "warn", "info", "debug", "trace"].contains(&v) {
            return Err(format!("--log {v:?}: expected off, error, warn, info, debug or trace"));
        }
        o.log = Some(v.to_string());
        Ok(())
    },
);
const PORT: Opt = Opt::value("port", "N", "a TCP port", "the gdbstub's TCP port (default 1234)", |o, v| {
    o.port = Some(v.parse().map_err(|_| format!("--port {v:?}: expected a TCP port number"))?);
    Ok(())
});
const LAB: Opt = Opt::value("lab", "N", "a lab number", "only this lab's checkpoints", |o, v| {
    o.lab = Some(v.parse().map_err(|_| format!("--lab {v:?}: expected a lab number"))?);
    Ok(())
});
const PATIENCE: Opt = Opt::value(
    "patience",
    "F",
    "a factor",
    "scale how long a silent run is given (default: CHCORE_PATIENCE, else 1)",
    |o, v| {
        o.patience = Some(systests::runner::parse_factor(v).map_err(|e| format!("--patience: {e}"))?);
        Ok(())
    },
);
const SECONDS: Opt =
    Opt::value("seconds", "N", "a number of seconds", "about how long to fuzz (default 60)", |o, v| {
        o.seconds = Some(
            v.parse().ok().filter(|s| *s > 0).ok_or_else(|| format!("--seconds {v:?}: expected a positive number"))?,
        );
        Ok(())
    });
const ITERATIONS: Opt = Opt::value(
    "iterations",
    "N",
    "a number",
    "timed iterations of each benchmark, at least 10 (default 10000; 1000 with --profile)",
    |o, v| match v.parse() {
        Ok(n) if n >= 10 => {
            o.iterations = Some(n);
            Ok(())
        }
        _ => Err(format!("--iterations {v:?}: expected a number of at least 10")),
    },
);
const COMPARE: Opt =
    Opt::value("compare", "FILE", "a results file", "show the change from an earlier results.json", |o, v| {
        o.compare = Some(v.to_string());
        Ok(())
    });
const ONLY: Opt = Opt::value("only", "NAME", "a benchmark name", "run only this benchmark (or `crowd`)", |o, v| {
    let known = || crate::bench::TARGETS.iter().map(|t| t.0).chain([crate::bench::CROWD]);
    o.only = Some(
        known()
            .find(|n| *n == v)
            .ok_or_else(|| format!("--only {v:?}: expected one of {}", known().collect::<Vec<_>>().join(", ")))?,
    );
    Ok(())
});
const PROFILE: Opt =
    Opt::switch("profile", "with --only: instructions per operation by kernel function (slow)", |o| o.profile = true);
const IMAGE: Opt = Opt::value("image", "FILE", "a file", "the SD card image to write", |o, v| {
    o.image = Some(v.to_string());
    Ok(())
});
const FIRMWARE: Opt = Opt::value(
    "firmware",
    "DIR",
    "a folder",
    "the Raspberry Pi firmware files (bootcode.bin, start.elf, fixup.dat)",
    |o, v| {
        o.firmware = Some(v.to_string());
        Ok(())
    },
);
const LOADER: Opt =
    Opt::switch("loader", "put the UART chainloader on the card instead of the kernel", |o| o.loader = true);
const DEVICE: Opt =
    Opt::value("device", "DEV", "a block device", "then write the image to this SD card (asks first)", |o, v| {
        o.device = Some(v.to_string());
        Ok(())
    });
const TTY: Opt = Opt::value("tty", "DEV", "a serial device", "the serial line the Pi is on", |o, v| {
    o.tty = Some(v.to_string());
    Ok(())
});
const KERNEL: Opt =
    Opt::value("kernel", "FILE", "an image file", "send this image instead of a freshly built kernel", |o, v| {
        o.kernel = Some(v.to_string());
        Ok(())
    });

/// Every verb: what it does, what it takes, and the function that does it.
pub const VERBS: &[Verb] = &[
    Verb {
        name: "build",
        summary: "build the kernel, test and lab images",
        about: "Without --machine, for both machines. Images land in target/images/<machine>/ (see README.md).",
        options: &[&MACHINE],
        required: &[],
        run: crate::build,
    },
    Verb {
        name: "run",
        summary: "boot in QEMU, serial on this terminal (Ctrl-A X quits)",
        about: "Builds what changed, then boots (virt unless --machine says otherwise).",
        options: &[&MACHINE, &SMP, &MEM, &EL, &TEST_IMAGE, &LAB_IMAGE, &MINI_UART, &APPEND, &LOG],
        required: &[],
        run: crate::run,
    },
    Verb {
        name: "test",
        summary: "everything: host tests, lints, images, QEMU boot tests",
        about: "Fails if any test fails. CHCORE_PATIENCE stretches the QEMU runs' limits on a slow machine.",
        options: &[],
        required: &[],
        run: |_| crate::test(),
    },
    Verb {
        name: "grade",
        summary: "lab autograder: score the checkpoints in tests/checkpoints.txt",
        about: "Boots the test image and a scripted shell session (with --lab-image, the lab image once) on \
                both machines unless --machine says one, prints a table and the score, and fails unless the \
                score is full.",
        options: &[&MACHINE, &LAB, &LAB_IMAGE, &PATIENCE],
        required: &[],
        run: crate::grade,
    },
    Verb {
        name: "fuzz",
        summary: "run the system call fuzzer from the shell: seeds for --seconds, one worker per CPU",
        about: "Boots virt unless --machine says otherwise. Prints the fuzzer's account (calls, refusals by error, \
                how each seed ended) and fails if memory was lost; replay one seed with `fuzz SEED` at the shell.",
        options: &[&MACHINE, &SMP, &SECONDS],
        required: &[],
        run: crate::fuzz_cmd,
    },
    Verb {
        name: "bench",
        summary: "path lengths under QEMU -icount; writes target/bench/results.json",
        about: "Counts are instructions (docs/performance.md). Boots virt unless --machine says otherwise.",
        options: &[&MACHINE, &ITERATIONS, &COMPARE, &ONLY, &PROFILE],
        required: &[],
        run: crate::bench_cmd,
    },
    Verb {
        name: "flash",
        summary: "Raspberry Pi 3 SD card image (and, with --device, write a card)",
        about: "See docs/raspberry-pi.md.",
        options: &[&IMAGE, &FIRMWARE, &LOADER, &MINI_UART, &DEVICE],
        required: &[&IMAGE],
        run: crate::flash_cmd,
    },
    Verb {
        name: "chainboot",
        summary: "send a kernel to the chainloader over a serial line",
        about: "Then this terminal is the Pi's console (Ctrl-C quits).",
        options: &[&TTY, &KERNEL, &MINI_UART],
        required: &[&TTY],
        run: crate::chainboot,
    },
    Verb {
        name: "gdb",
        summary: "QEMU halted with a gdbstub, gdb-multiarch attached, a breakpoint on kernel_main",
        about: "Boots virt unless --machine says otherwise. Without a terminal it prints the two commands instead.",
        options: &[&MACHINE, &PORT, &TEST_IMAGE, &MINI_UART],
        required: &[],
        run: crate::gdb,
    },
];

/// What the command line asks for.
pub enum Command {
    /// Run this verb with these options (boxed: they are large beside a help text).
    Run(&'static Verb, Box<Opts>),
    /// Print this help and succeed.
    Help(String),
}

/// A command line that makes no sense: what is wrong (if anything was
/// given), and the usage to print after it.
#[derive(Debug)]
pub struct UsageError {
    pub message: Option<String>,
    pub usage: String,
}

fn misuse(message: String, usage: String) -> UsageError {
    UsageError { message: Some(message), usage }
}

fn find(name: &str) -> Option<&'static Verb> {
    VERBS.iter().find(|v| v.name == name)
}

/// Parse the words after `cargo xtask`.
pub fn parse(args: impl IntoIterator<Item = impl Into<OsString>>) -> Result<Command, UsageError> {
    let mut p = lexopt::Parser::from_args(args);
    let verb = match p.next() {
        Ok(None) => return Err(UsageError { message: None, usage: overview() }),
        Ok(Some(lexopt::Arg::Short('h') | lexopt::Arg::Long("help"))) => return Ok(Command::Help(overview())),
        Ok(Some(lexopt::Arg::Value(v))) => v.to_string_lossy().into_owned(),
        Ok(Some(other)) => return Err(misuse(format!("unknown command {}", shown(&other)), overview())),
        Err(e) => return Err(misuse(e.to_string(), overview())),
    };
    if verb == "help" {
        return help(&mut p);
    }
    let verb = find(&verb).ok_or_else(|| misuse(format!("unknown command {verb:?}"), overview()))?;
    let opts = options(verb, &mut p).map_err(|e| misuse(e, verb.help()))?;
    match opts {
        Some(o) => Ok(Command::Run(verb, Box::new(o))),
        None => Ok(Command::Help(verb.help())),
    }
}

/// `cargo xtask help [COMMAND]`.
fn help(p: &mut lexopt::Parser) -> Result<Command, UsageError> {
    let mut topic = None;
    while let Some(arg) = p.next().map_err(|e| misuse(e.to_string(), overview()))? {
        match arg {
            lexopt::Arg::Short('h') | lexopt::Arg::Long("help") => return Ok(Command::Help(overview())),
            lexopt::Arg::Value(v) if topic.is_none() => topic = Some(v.to_string_lossy().into_owned()),
            other => return Err(misuse(format!("`help` does not take {}", shown(&other)), overview())),
        }
    }
    match topic {
        None => Ok(Command::Help(overview())),
        Some(t) => match find(&t) {
            Some(verb) => Ok(Command::Help(verb.help())),
            None => Err(misuse(format!("unknown command {t:?}"), overview())),
        },
    }
}

/// An argument as the user typed it, quoted.
fn shown(arg: &lexopt::Arg) -> String {
    match arg {
        lexopt::Arg::Short(c) => format!("\"-{c}\""),
        lexopt::Arg::Long(l) => format!("\"--{l}\""),
        lexopt::Arg::Value(v) => format!("{v:?}"),
    }
}

/// The options of `verb`; `None` when they ask for help.
fn options(verb: &Verb, p: &mut lexopt::Parser) -> Result<Option<Opts>, String> {
    let mut o = Opts::default();
    let mut seen = Vec::new();
    while let Some(arg) = p.next().map_err(lexopt_error)? {
        let opt = match arg {
            lexopt::Arg::Short('h') | lexopt::Arg::Long("help") => return Ok(None),
            lexopt::Arg::Long(name) => verb.options.iter().find(|opt| opt.name == name),
            _ => None,
        };
        let Some(opt) = opt else {
            return Err(format!("`{}` does not take {}", verb.name, shown(&arg)));
        };
        seen.push(opt.name);
        match opt.takes {
            Takes::Nothing(set) => set(&mut o),
            Takes::Value { what, set, .. } => {
                let value = p.value().map_err(|_| format!("--{} needs {what}", opt.name))?;
                let value = value.into_string().map_err(|v| format!("--{} {v:?}: not valid UTF-8", opt.name))?;
                set(&mut o, &value)?;
            }
        }
    }
    if let Some(missing) = verb.required.iter().find(|r| !seen.contains(&r.name)) {
        return Err(format!("{} needs {} ({})", verb.name, missing.spelled(), missing.help));
    }
    check(verb.name, &o)?;
    Ok(Some(o))
}

fn lexopt_error(e: lexopt::Error) -> String {
    match e {
        lexopt::Error::UnexpectedValue { option, value } => format!("{option} takes no value (got {value:?})"),
        e => e.to_string(),
    }
}

/// What goes with what, once every option is read.
pub fn check(verb: &str, o: &Opts) -> Result<(), String> {
    if o.test_image && o.lab_image {
        return Err("--test-image and --lab-image: choose one".into());
    }
    if o.machine == Some(Machine::Raspi3) {
        if o.mem.is_some() {
            return Err("--mem: QEMU's raspi3b always has 1 GiB".into());
        }
        if o.smp.is_some_and(|n| n != 4) {
            return Err("--smp: QEMU's raspi3b always has 4 CPUs".into());
        }
        if o.el.is_some() {
            return Err("--el: QEMU's raspi3b always starts at EL2".into());
        }
        if o.append.is_some() || o.log.is_some() {
            return Err("--append/--log: raspi3b passes no command line to a raw image".into());
        }
    } else if o.mini_uart && !matches!(verb, "flash" | "chainboot") {
        return Err("--mini-uart applies to --machine raspi3 only".into());
    }
    Ok(())
}

/// Help lines are kept within this many columns.
const WIDTH: usize = 100;

/// Fill lines of at most `width` columns with `words` (a longer word stands alone).
fn fill<'a>(words: impl IntoIterator<Item = &'a str>, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in words {
        match lines.last_mut() {
            Some(line) if line.len() + 1 + word.len() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// `lines` after `head`, the later ones indented to line up with the first.
fn hang(head: &str, lines: &[String]) -> String {
    let pad = format!("\n{}", " ".repeat(head.len()));
    format!("{head}{}", lines.join(&pad))
}

impl Verb {
    /// `usage: cargo xtask run [--machine virt|raspi3] ...`, wrapped.
    fn usage_line(&self) -> String {
        let head = format!("usage: cargo xtask {} ", self.name);
        let parts: Vec<String> = self
            .options
            .iter()
            .map(|opt| {
                if self.required.iter().any(|r| r.name == opt.name) {
                    opt.spelled()
                } else {
                    format!("[{}]", opt.spelled())
                }
            })
            .collect();
        // Each part stays whole on its line: `[--machine virt|raspi3]`.
        hang(&head, &fill(parts.iter().map(String::as_str), WIDTH - head.len()))
    }

    /// `cargo xtask <verb> --help`.
    pub fn help(&self) -> String {
        let mut s = self.usage_line();
        let mut about = format!("{}. {}", self.summary, self.about);
        about[..1].make_ascii_uppercase();
        s.push_str("\n\n");
        s.push_str(&fill(about.split_whitespace(), WIDTH).join("\n"));
        s.push_str("\n\noptions:");
        let rows: Vec<(String, &str)> = self
            .options
            .iter()
            .map(|opt| (opt.spelled(), opt.help))
            .chain([("-h, --help".into(), "this text")])
            .collect();
        let left = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0) + 4;
        for (spelled, help) in rows {
            let head = format!("  {spelled:<left$}");
            s.push('\n');
            s.push_str(&hang(&head, &fill(help.split_whitespace(), WIDTH - head.len())));
        }
        s
    }
}

/// `cargo xtask help`: the verbs, one line each.
pub fn overview() -> String {
    const HELP: &str = "help [COMMAND]";
    let left = VERBS.iter().map(|v| v.name.len()).chain([HELP.len()]).max().unwrap_or(0) + 2;
    let mut s = String::from("usage: cargo xtask <command> [options]\n\ncommands:\n");
    for v in VERBS {
        s.push_str(&format!("  {:<left$}{}\n", v.name, v.summary));
    }
    s.push_str(&format!("  {HELP:<left$}this text, or one command's options\n"));
    s.push_str(
        "\n`cargo xtask COMMAND --help` (or `cargo xtask help COMMAND`) lists a command's options.\n\
         Images land in target/images/<machine>/ (see README.md).",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(line: &str) -> Result<Command, UsageError> {
        parse(line.split_whitespace())
    }

    fn opts(line: &str) -> Opts {
        match parse_words(line) {
            Ok(Command::Run(_, o)) => *o,
            Ok(Command::Help(_)) => panic!("{line}: help instead of a run"),
            Err(e) => panic!("{line}: {e:?}"),
        }
    }

    fn error(line: &str) -> UsageError {
        match parse_words(line) {
            Err(e) => e,
            Ok(_) => panic!("{line} was accepted"),
        }
    }

    fn help(line: &str) -> String {
        match parse_words(line) {
            Ok(Command::Help(text)) => text,
            _ => panic!("{line}: no help"),
        }
    }

    #[test]
    fn the_tables_are_consistent() {
        for (i, v) in VERBS.iter().enumerate() {
            assert!(VERBS[..i].iter().all(|w| w.name != v.name), "{} twice", v.name);
            assert_ne!(v.name, "help", "`help` is built in");
            for (j, o) in v.options.iter().enumerate() {
                assert!(v.options[..j].iter().all(|p| p.name != o.name), "{}: --{} twice", v.name, o.name);
                assert!(o.name != "help" && !o.name.starts_with('-'), "{}: --{}", v.name, o.name);
            }
            for r in v.required {
                assert!(
                    v.options.iter().any(|o| o.name == r.name),
                    "{} requires --{} it does not take",
                    v.name,
                    r.name
                );
            }
        }
    }

    #[test]
    fn values_by_space_or_equals() {
        let o = opts("run --machine virt --smp 4 --mem=512M --el 2 --test-image --append a=b --log=debug");
        assert_eq!(o.machine, Some(Machine::Virt));
        assert_eq!(o.smp, Some(4));
        assert_eq!(o.mem.as_deref(), Some("512M"));
        assert_eq!(o.el, Some(EntryEl::El2));
        assert!(o.test_image && !o.lab_image);
        assert_eq!(o.append.as_deref(), Some("a=b"));
        assert_eq!(o.log.as_deref(), Some("debug"));
        let o = opts("bench --iterations 20 --only crowd --profile");
        assert_eq!((o.iterations, o.only, o.profile), (Some(20), Some("crowd"), true));
        let o = opts("flash --image sd.img --loader --mini-uart");
        assert_eq!((o.image.as_deref(), o.loader, o.mini_uart), (Some("sd.img"), true, true));
    }

    #[test]
    fn bad_values_keep_their_messages() {
        let cases = [
            ("run --smp 9", "--smp \"9\": expected a number of CPUs from 1 to 8"),
            ("run --smp", "--smp needs a CPU count"),
            ("run --el 4", "--el \"4\": expected 1, 2 or 3"),
            ("run --machine pc", "unknown machine \"pc\": expected virt or raspi3"),
            ("run --log loud", "--log \"loud\": expected off, error, warn, info, debug or trace"),
            ("fuzz --seconds 0", "--seconds \"0\": expected a positive number"),
            ("bench --iterations 9", "--iterations \"9\": expected a number of at least 10"),
            ("gdb --port x", "--port \"x\": expected a TCP port number"),
            ("grade --lab x", "--lab \"x\": expected a lab number"),
            ("run --test-image=yes", "--test-image takes no value (got \"yes\")"),
        ];
        for (line, message) in cases {
            assert_eq!(error(line).message.as_deref(), Some(message), "{line}");
        }
        assert!(error("bench --only nope").message.unwrap().contains("expected one of null_syscall"));
    }

    #[test]
    fn unknown_options_name_the_verb_and_show_its_usage() {
        for (line, message) in [
            ("run --nope", "`run` does not take \"--nope\""),
            ("run -x", "`run` does not take \"-x\""),
            ("run extra", "`run` does not take \"extra\""),
            ("build --smp 2", "`build` does not take \"--smp\""),
            ("test --machine virt", "`test` does not take \"--machine\""),
        ] {
            let e = error(line);
            assert_eq!(e.message.as_deref(), Some(message));
            let verb = line.split(' ').next().unwrap();
            assert!(e.usage.starts_with(&format!("usage: cargo xtask {verb}")), "{}", e.usage);
        }
        let e = error("nosuch");
        assert_eq!(e.message.as_deref(), Some("unknown command \"nosuch\""));
        assert_eq!(e.usage, overview());
        assert!(error("").message.is_none());
    }

    #[test]
    fn what_goes_with_what() {
        for (line, message) in [
            ("run --machine raspi3 --mem 1G", "--mem: QEMU's raspi3b always has 1 GiB"),
            ("run --machine raspi3 --smp 2", "--smp: QEMU's raspi3b always has 4 CPUs"),
            ("run --machine raspi3 --el 2", "--el: QEMU's raspi3b always starts at EL2"),
            ("run --machine raspi3 --log info", "--append/--log: raspi3b passes no command line to a raw image"),
            ("run --mini-uart", "--mini-uart applies to --machine raspi3 only"),
            ("gdb --machine virt --mini-uart", "--mini-uart applies to --machine raspi3 only"),
            ("run --test-image --lab-image", "--test-image and --lab-image: choose one"),
            ("flash --loader", "flash needs --image FILE (the SD card image to write)"),
            ("chainboot", "chainboot needs --tty DEV (the serial line the Pi is on)"),
        ] {
            assert_eq!(error(line).message.as_deref(), Some(message), "{line}");
        }
        opts("run --machine raspi3 --smp 4 --mini-uart");
        opts("chainboot --tty /dev/ttyUSB0 --mini-uart");
    }

    #[test]
    fn every_verb_explains_itself() {
        for v in VERBS {
            let text = help(&format!("{} --help", v.name));
            assert_eq!(text, help(&format!("{} -h", v.name)));
            assert_eq!(text, help(&format!("help {}", v.name)));
            for o in v.options {
                assert!(text.contains(&o.spelled()), "{}'s help lacks --{}", v.name, o.name);
            }
            assert!(text.lines().all(|l| l.len() <= WIDTH), "{}'s help is too wide:\n{text}", v.name);
            assert!(overview().contains(v.summary));
        }
        // Help wins over the options before it.
        assert_eq!(help("run --machine virt --smp 2 --help"), help("help run"));
        for line in ["help", "--help", "-h", "help --help"] {
            assert_eq!(help(line), overview());
        }
        assert_eq!(error("help nosuch").message.as_deref(), Some("unknown command \"nosuch\""));
    }
}
