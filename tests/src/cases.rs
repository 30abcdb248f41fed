//! The QEMU boot tests `cargo xtask test` runs.

use crate::judge::{Ending, Expectation};
use crate::qemu::{EntryEl, Machine, QemuConfig};
use crate::runner::Until;
use std::path::Path;
use std::time::Duration;

/// The line the kernel prints first, once it runs in the upper half.
pub const BOOT_LINE: &str = "[BOOT] Jump to kernel main";
/// The kernel prints this when it starts the root process.
pub const USER_LINE: &str = "[INFO] boot complete, entering user space";
/// procmgr's first words.
pub const PROCMGR_LINE: &str = "Hello from ChCore Process Manager!";
/// User-level checkpoints of the test image (printed through the syscall path).
pub const USERTEST_LINES: &[&str] = &[
    "Hello Userland!",
    "Cooperative Scheduling Test Done!",
    "Preemptive Scheduling Test Done!",
    "Test IPC finished!",
    "[USERTEST] all 32 user tests passed",
    // usertest's fuzzer run: its account, and no memory lost.
    "fuzz: done, nothing lost",
    "[PROCTEST] 20 of 20 process tests passed",
    "[FSTEST] 39 of 39 file-system tests passed",
    "[FSTEST] tmpfs ended: / answers EIO, /bin and new processes go on: OK",
    "[FSTEST] a file mapped before tmpfs ended: supplied pages read, others end the reader: OK",
    "hostile attempts refused or contained, ",
    "; nothing lost",
    "[TEST] verdict: PASS",
];
/// The shell's banner.
pub const SHELL_LINE: &str = "Welcome to ChCore shell!";

/// Lab checkpoints the kernel self-tests print (ChCore lab 2 names).
pub const SELFTEST_LINES: &[&str] = &[
    "Allocate & free order 0: OK",
    "Allocate & free each order: OK",
    "Allocate & free all orders: OK",
    "Allocate & free all memory: OK",
    "kmalloc: OK",
    "Heap reserve: OK",
    "Map & unmap one page: OK",
    "Map & unmap multiple pages: OK",
    "Map & unmap huge range: OK",
    "Compute physical memory-1: OK",
    "Compute physical memory-2: OK",
    "Compute physical memory-3: OK",
    "Timer interrupts: OK",
    "Cap_create Pretest Ok!",
    "Thread_create Pretest Ok!",
    "Kernel memory charged: OK",
    "test_scheduler_meta: OK",
    "test_sched_enqueue: OK",
    "test_sched_dequeue: OK",
];

/// The Raspberry Pi 3 test image built with the console on the mini UART.
pub const MINI_UART_TEST_IMAGE: &str = "kernel8-test-mini-uart.img";

/// One QEMU run and how to judge it.
#[derive(Clone, Debug)]
pub struct Case {
    /// Short unique name (also the log file name).
    pub name: String,
    /// How to start QEMU.
    pub config: QemuConfig,
    /// When the run is over.
    pub until: Until,
    /// Deadline for the whole run.
    pub timeout: Duration,
    /// What passing looks like.
    pub expect: Expectation,
}

/// A scripted shell session: each command typed at `$ `, and lines its
/// output must contain.
pub const SHELL_SCRIPT: &[(&[&str], &str)] = &[
    (&["Hello ChCore!"], "hello"),
    (&["hello from a pipe"], "echo hello from a pipe | cat"),
    (&["through four stages"], "echo through four stages | cat | cat | cat"),
    (&["bin", "motd", "tmp"], "ls"),
    (&["hello", "uname"], "ls /bin"),
    (&["fstest", "usertest"], "ls /tests"),
    (&["Welcome to the ChCore ramdisk."], "cat motd"),
    (&["shell: nosuchprogram: command not found"], "nosuchprogram"),
    (&["status 127"], "echo status $?"),
    (&["KiB free"], "free"),
    (&["PID PPID STATE CPU MEM KMEM NAME", "running"], "ps"),
    (&["shell: unterminated quote"], "echo 'oops"),
    (&["builtins: echo"], "help"),
    (&["cat: missing-file: ENOENT"], "cat missing-file"),
    (&["status 1"], "echo status $?"),
    // Quotes keep each expected line out of the typed command's echo.
    (&[], "echo kept' 'in' 'a' 'file > /tmp/kept.txt"),
    (&["kept in a file"], "cat /tmp/kept.txt"),
    (&[], "echo and' 'appended >> /tmp/kept.txt"),
    (&["and appended"], "cat < /tmp/kept.txt | cat"),
    (&[], "cd /tmp"),
    (&[], "echo x > rel'ative'.txt"),
    (&["relative.txt"], "ls /tmp"),
    (&["shell: nowhere/x: ENOENT"], "echo x > nowhere/x"),
    (&["cat: gone: ENOENT"], "cat gone 2>&1 | cat"),
    // A builtin's errors follow its redirections too.
    (&[], "cd nowhere 2> /tmp/cd-error.txt"),
    (&["cd: nowhere: ENOENT"], "cat /tmp/cd-error.txt"),
    // Command lists, comments and scripts.
    (&["list ok"], "false && echo bad || echo list' 'ok # not run"),
    (&["status 1"], "true; false; echo status $?"),
    (&[], "echo 'echo scr\"\"ipt ran # a comment' > /tmp/s.sh; echo 'exit 3' >> /tmp/s.sh"),
    (&["script ran"], "sh /tmp/s.sh"),
    (&["status 3"], "echo status $?"),
    // Programs outside /bin: a copy, a #! script, a file that is neither.
    (&[], "cp /bin/echo /tmp/e"),
    (&["copied echo"], "/tmp/e copied' 'echo"),
    (&[], "echo '#!/tmp/e via' > /tmp/x.sh"),
    (&["via ./x.sh arg"], "cd /tmp; ./x.sh arg"),
    (&["shell: ./kept.txt: cannot run: not a program"], "./kept.txt"),
    (&["shell: ./none: no such file"], "./none"),
    // Jobs: `&`, `jobs`, `wait`, `kill`; finished jobs are reported at a
    // prompt.
    (&["[1] "], "sleep 1 &"),
    (&["[1] Running  sleep 1"], "jobs"),
    (&["[1] Done  sleep 1"], "wait"),
    (&["[1] ", "[2] "], "sleep 100 & echo bg' 'job | cat &"),
    (&["bg job", "[2] Done  echo bg' 'job | cat"], "sleep 1; echo later"),
    (&["[1] Exit 143  sleep 100"], "kill %1; wait"),
    (&["[1] "], "sleep 100 &"),
    (&["[1] Killed  sleep 100"], "kill -9 %1; wait"),
    (&["kill: %1: no such job"], "kill %1"),
    // Ctrl-D: end of file for a reader at the start of a line (typed at
    // once, without waiting for a prompt); at the shell's prompt, a hint.
    (&[], "cat"),
    (&[], "\u{4}"),
    (&["eof ended cat"], "echo eof' 'ended cat"),
    (&["shell: use exit to leave the shell"], "\u{4}"),
    (&["still here"], "echo still' 'here"),
    // Ctrl-C ends the running pipeline (status 130), once top is showing,
    // and drops a half-typed line at the prompt.
    (&["CPU  IDLE%"], "top | cat"),
    (&["^C"], "\u{3}"),
    (&["status 130"], "echo status $?"),
    (&["after interrupt"], "ech\u{3}echo after' 'interrupt"),
    // Line editing at the prompt (the shell reads raw keys there): each
    // step starts with a printable key, so it waits for the prompt.
    (&["edited line"], "echo edited linX\u{7f}e"),
    (&["moved here"], "echo here\u{1b}[D\u{1b}[D\u{1b}[D\u{1b}[Dmov'ed' "),
    (&["moved here"], "x\u{7f}\u{1b}[A"),
    (&["Hello ChCore!"], "hell\t"),
    (&["Welcome to the ChCore ramdisk."], "cat /mo\t"),
    (&["head  hello  help"], "he\t\u{15}"),
    (&["  echo edited line"], "history"),
    // Raw mode: showkey gets Ctrl-C as a key; nothing is interrupted.
    (&["showkey: press keys"], "showkey"),
    (&["3 0x03 ^C", "97 0x61 'a'", "13 0x0d ^M"], "\u{3}a"),
    (&["4 0x04 ^D"], "\u{4}"),
    (&["status 0"], "echo status $?"),
];

/// A block of 100 commands, 3,900 bytes, pasted at the prompt in one
/// write (issue 18: a pasted block loses no byte and runs in order), and
/// the lines it must print, in order. The quotes keep each expected line
/// out of the echo of the typed command.
fn paste_block() -> (String, Vec<String>) {
    let mut text = String::from(crate::runner::PASTE);
    let mut want = Vec::new();
    for i in 0..100 {
        text.push_str(&format!("echo pa''sted-{i:03}-{}\r", "x".repeat(20)));
        want.push(format!("pasted-{i:03}-{}", "x".repeat(20)));
    }
    (text, want)
}

/// A thousand processes on 512 MiB (`procs`, apps/src/bin/procs.rs): three
/// rounds of 1,000 blocked children, a fork bomb to the memory limit, and
/// the shell still answering afterwards.
pub const THOUSAND_SCRIPT: &[(&[&str], &str)] = &[
    (
        &[
            "[PROCS] 1000 sleep processes alive",
            "[PROCS] 1000 readers saw end of file and were reaped",
            "[PROCS] PASS 1000 processes alive at once, three times;",
        ],
        "procs 1000",
    ),
    (&["[PROCS] PASS fork bomb refused with NoMemory after"], "procs bomb"),
    (&["still here"], "echo still here"),
    (&["Hello ChCore!"], "hello"),
];

/// The line the kernel prints once its CPUs are up.
fn cpu_line(cpus: u32) -> String {
    format!("All {cpus} CPUs are active")
}

/// The memory line for a machine with `total_mib` MiB, up to its "usable" figure.
fn memory_line(total_mib: u64) -> String {
    format!("MiB usable of {total_mib} MiB")
}

/// All boot tests, for images under `images` (`target/images`).
pub fn boot_cases(images: &Path) -> Vec<Case> {
    let image = |m: Machine, test: bool| images.join(m.name()).join(m.image_name(test));
    let selftest = |name: &str, m: Machine, el: EntryEl, smp: Option<u32>, mem: Option<&str>, total: u64, cpus: u32| {
        let mut config = QemuConfig::new(m, image(m, true));
        config.el = el;
        config.smp = smp;
        config.mem = mem.map(str::to_string);
        config.semihosting = true;
        let mut lines = vec![BOOT_LINE.to_string(), memory_line(total), cpu_line(cpus), PROCMGR_LINE.to_string()];
        lines.extend(SELFTEST_LINES.iter().map(|s| s.to_string()));
        lines.push(format!("[SELFTEST] all {} kernel self-tests passed", SELFTEST_LINES.len()));
        lines.extend(USERTEST_LINES.iter().map(|s| s.to_string()));
        Case {
            name: name.to_string(),
            config,
            until: Until::Exit,
            // The hardening suite's stress phase is slow on four emulated CPUs.
            timeout: Duration::from_secs(300),
            expect: Expectation::new(&lines, Ending::Exit(0)),
        }
    };
    let stays_up = |name: &str, m: Machine, mem: Option<&str>, total: u64, cpus: u32| {
        let mut config = QemuConfig::new(m, image(m, false));
        config.mem = mem.map(str::to_string);
        Case {
            name: name.to_string(),
            config,
            until: Until::LineThenSettle { line: "$ ".into(), settle: Duration::from_secs(2) },
            timeout: Duration::from_secs(60),
            expect: Expectation::new(
                &[
                    BOOT_LINE.to_string(),
                    memory_line(total),
                    cpu_line(cpus),
                    USER_LINE.to_string(),
                    PROCMGR_LINE.to_string(),
                    SHELL_LINE.to_string(),
                ],
                Ending::StillRunning,
            ),
        }
    };
    let fault = |name: &str, kind: &str, lines: &[&str]| {
        let mut config = QemuConfig::new(Machine::Virt, image(Machine::Virt, true));
        config.semihosting = true;
        config.append = Some(format!("selftest.fault={kind}"));
        Case {
            name: name.to_string(),
            config,
            until: Until::Exit,
            timeout: Duration::from_secs(120),
            expect: Expectation::new(lines, Ending::Exit(1)).allowing_failures(),
        }
    };

    let scripted = |name: &str, m: Machine, smp: Option<u32>, script: &[(&[&str], &str)], paste: bool| {
        let mut config = QemuConfig::new(m, image(m, false));
        config.smp = smp;
        // A control key (Ctrl-D, Ctrl-C) is typed without waiting for the
        // shell's prompt: once the step before has shown the first line it
        // expects (a program is running), or at once if it expects none.
        let steps: Vec<(String, String)> = script
            .iter()
            .enumerate()
            .map(|(i, (_, cmd))| {
                let prompt = if cmd.starts_with(|c: char| c.is_ascii_control()) {
                    i.checked_sub(1).and_then(|p| script[p].0.first()).copied().unwrap_or("")
                } else {
                    "$ "
                };
                (prompt.to_string(), cmd.to_string())
            })
            .collect();
        let mut steps = steps;
        let mut lines: Vec<String> = script.iter().flat_map(|(want, _)| want.iter().map(|s| s.to_string())).collect();
        if paste {
            let (text, want) = paste_block();
            steps.push(("$ ".into(), text));
            lines.extend(want);
        }
        lines.push(SHELL_LINE.into());
        Case {
            name: name.to_string(),
            config,
            until: Until::Script { steps, settle: Duration::from_secs(2) },
            timeout: Duration::from_secs(120),
            expect: Expectation::new(&lines, Ending::StillRunning),
        }
    };

    let shell_session = |name: &str, m: Machine, smp: Option<u32>| scripted(name, m, smp, SHELL_SCRIPT, true);

    // An idle system is idle: at the prompt, top reads the counters over
    // 3 s (it sleeps meanwhile) and the run fails at IDLE_ENTRIES_MAX.
    let idle = |name: &str, m: Machine, smp: Option<u32>| {
        let mut config = QemuConfig::new(m, image(m, false));
        config.smp = smp;
        let steps = vec![("$ ".to_string(), "top -n 1 -d 300".to_string())];
        Case {
            name: name.to_string(),
            config,
            until: Until::Script { steps, settle: Duration::from_secs(1) },
            timeout: Duration::from_secs(60),
            expect: Expectation::new(&[SHELL_LINE, "CPU  IDLE%  ENTRIES/s  IRQS/s  SWITCHES/s"], Ending::StillRunning)
                .checking(crate::judge::idle_system),
        }
    };

    vec![
        idle("virt-idle-smp4", Machine::Virt, Some(4)),
        idle("raspi3-idle", Machine::Raspi3, None),
        shell_session("virt-shell-session", Machine::Virt, Some(2)),
        shell_session("raspi3-shell-session", Machine::Raspi3, None),
        {
            // About 45 seconds on one host core.
            let mut c = scripted("virt-thousand-processes-512M", Machine::Virt, Some(1), THOUSAND_SCRIPT, false);
            c.config.mem = Some("512M".into());
            c.timeout = Duration::from_secs(240);
            c
        },
        stays_up("virt-boot-128M", Machine::Virt, None, 128, 1),
        stays_up("virt-boot-1G", Machine::Virt, Some("1G"), 1024, 1),
        stays_up("virt-boot-3G", Machine::Virt, Some("3G"), 3072, 1),
        {
            let mut c = stays_up("virt-boot-smp4", Machine::Virt, None, 128, 4);
            c.config.smp = Some(4);
            c
        },
        stays_up("raspi3-boot", Machine::Raspi3, None, 960, 4),
        selftest("virt-selftest-el1-smp1", Machine::Virt, EntryEl::El1, None, None, 128, 1),
        selftest("virt-selftest-el1-smp4", Machine::Virt, EntryEl::El1, Some(4), None, 128, 4),
        selftest("virt-selftest-el2-smp4-1G", Machine::Virt, EntryEl::El2, Some(4), Some("1G"), 1024, 4),
        // With EL3 there is no PSCI to start other cores: the kernel says so and runs on one.
        selftest("virt-selftest-el3-512M", Machine::Virt, EntryEl::El3, Some(2), Some("512M"), 512, 1),
        selftest("raspi3-selftest", Machine::Raspi3, EntryEl::El1, None, None, 960, 4),
        {
            let mut c = selftest("raspi3-selftest-mini-uart", Machine::Raspi3, EntryEl::El1, None, None, 960, 4);
            c.config.mini_uart = true;
            c.config.image = images.join("raspi3").join(MINI_UART_TEST_IMAGE);
            c
        },
        fault(
            "virt-kernel-data-abort",
            "data",
            &["[FATAL] EC=0x25", "FAR=0xffff800000000000", "[FATAL] x30=", "[FATAL] kernel stopped"],
        ),
        fault("virt-kernel-undefined-instruction", "undef", &["[FATAL] EC=0x00", "[FATAL] kernel stopped"]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_run_has_a_deadline() {
        let cases = boot_cases(Path::new("target/images"));
        let mut names: Vec<_> = cases.iter().map(|c| c.name.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), cases.len());
        assert!(cases.iter().all(|c| c.timeout <= Duration::from_secs(300)));
    }

    #[test]
    fn both_machines_run_the_self_tests() {
        let cases = boot_cases(Path::new("target/images"));
        for m in Machine::ALL {
            assert!(cases
                .iter()
                .any(|c| c.config.machine == m && c.config.semihosting && c.expect.ending == Ending::Exit(0)));
        }
    }
}
