//! `cargo xtask`: the one front door for building, booting, testing and
//! debugging the kernel. It drives cargo and QEMU and links none of the
//! target crates.

mod bench;
mod cli;
mod elf;
mod flash;
mod fresh;
mod images;
mod setup;
mod symbols;

use cli::Opts;
use images::Variant;
use std::io::IsTerminal;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;
use systests::qemu::{Console, EntryEl, Machine, QemuConfig};

fn main() -> ExitCode {
    match cli::parse(std::env::args_os().skip(1)) {
        Ok(cli::Command::Help(text)) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Ok(cli::Command::Run(verb, opts)) => match (verb.run)(*opts) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Err(cli::UsageError { message, usage }) => {
            if let Some(m) = message {
                eprintln!("error: {m}\n");
            }
            eprintln!("{usage}");
            ExitCode::from(2)
        }
    }
}

fn machines(o: &Opts) -> Vec<Machine> {
    o.machine.map_or(Machine::ALL.to_vec(), |m| vec![m])
}

fn build(o: Opts) -> Result<(), String> {
    setup::rust_targets()?;
    for m in machines(&o) {
        for v in [
            Variant::default(),
            Variant { test: true, ..Default::default() },
            Variant { lab: true, ..Default::default() },
        ] {
            let path = images::build(m, v)?;
            println!("built {}", path.strip_prefix(images::root()).unwrap_or(&path).display());
        }
    }
    Ok(())
}

fn qemu_config(o: &Opts, image: &std::path::Path) -> QemuConfig {
    let machine = o.machine.unwrap_or(Machine::Virt);
    let mut c = QemuConfig::new(machine, image.strip_prefix(images::root()).unwrap_or(image));
    c.smp = o.smp;
    c.mem = o.mem.clone();
    c.el = o.el.unwrap_or(EntryEl::El1);
    c.append = match (&o.append, &o.log) {
        (Some(a), Some(l)) => Some(format!("{a} loglevel={l}")),
        (Some(a), None) => Some(a.clone()),
        (None, Some(l)) => Some(format!("loglevel={l}")),
        (None, None) => None,
    };
    c.mini_uart = o.mini_uart;
    // The test image ends QEMU through semihosting.
    c.semihosting = o.test_image;
    c
}

fn run(o: Opts) -> Result<(), String> {
    setup::rust_targets()?;
    setup::qemu()?;
    let machine = o.machine.unwrap_or(Machine::Virt);
    let image = images::build(
        machine,
        Variant { test: o.test_image, lab: o.lab_image, mini_uart: o.mini_uart, ..Default::default() },
    )?;
    let mut c = qemu_config(&o, &image);
    c.console = Console::Terminal;
    eprintln!("xtask: {}", c.shell_line());
    eprintln!("xtask: Ctrl-A X quits QEMU");
    let status = c.command().current_dir(images::root()).status().map_err(|e| format!("cannot start QEMU: {e}"))?;
    match status.code() {
        Some(0) => Ok(()),
        Some(1) if o.test_image => Err("the test image reported a failure".into()),
        Some(code) => Err(format!("QEMU exited with status {code}")),
        None => Ok(()),
    }
}

fn gdb(o: Opts) -> Result<(), String> {
    setup::rust_targets()?;
    setup::qemu()?;
    let machine = o.machine.unwrap_or(Machine::Virt);
    let variant = Variant { test: o.test_image, mini_uart: o.mini_uart, ..Default::default() };
    let image = images::build(machine, variant)?;
    let symbols = images::symbols(machine, variant);
    let port = o.port.unwrap_or(1234);
    let mut c = qemu_config(&o, &image);
    c.gdb_port = Some(port);
    let gdb_args = [
        "-q".to_string(),
        "-ex".into(),
        format!("file {}", symbols.strip_prefix(images::root()).unwrap_or(&symbols).display()),
        "-ex".into(),
        format!("target remote localhost:{port}"),
        // A hardware breakpoint: kernel_main is in the upper half, which is
        // not mapped yet when QEMU halts at the first instruction.
        "-ex".into(),
        "hbreak kernel_main".into(),
        "-ex".into(),
        "continue".into(),
    ];
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        c.console = Console::Terminal;
        println!("No terminal: run these in two terminals from {}:", images::root().display());
        println!("  {}", c.shell_line());
        let quoted: Vec<String> =
            gdb_args.iter().map(|a| if a.contains(' ') { format!("'{a}'") } else { a.clone() }).collect();
        println!("  gdb-multiarch {}", quoted.join(" "));
        return Ok(());
    }
    setup::gdb()?;
    let log = images::root().join("target").join("gdb-serial.log");
    c.console = Console::File(log.clone());
    eprintln!("xtask: {}", c.shell_line());
    eprintln!("xtask: the kernel's serial output goes to {} (tail -f it in another terminal)", log.display());
    let mut qemu = c
        .command()
        .current_dir(images::root())
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start QEMU: {e}"))?;
    let status = Command::new("gdb-multiarch").current_dir(images::root()).args(&gdb_args).status();
    let _ = qemu.kill();
    let _ = qemu.wait();
    status.map_err(|e| format!("cannot start gdb-multiarch: {e}"))?;
    Ok(())
}

fn flash_cmd(o: Opts) -> Result<(), String> {
    setup::rust_targets()?;
    setup::tool("mkfs.vfat", "dosfstools")?;
    setup::tool("mcopy", "mtools")?;
    let out = o.image.clone().ok_or("flash needs --image FILE (the SD card image to write)")?;
    let firmware = flash::firmware(o.firmware.as_deref().map(std::path::Path::new))?;
    let kernel = if o.loader {
        images::build_chainloader(o.mini_uart)?
    } else {
        images::build(Machine::Raspi3, Variant { mini_uart: o.mini_uart, ..Default::default() })?
    };
    let mut files = firmware;
    files.push(("kernel8.img".into(), std::fs::read(&kernel).map_err(|e| e.to_string())?));
    files.push(("config.txt".into(), images::raspi3_config_txt().as_bytes().to_vec()));
    flash::make_image(std::path::Path::new(&out), &files)?;
    println!("wrote {out} ({} on its FAT32 partition)", if o.loader { "the chainloader" } else { "the kernel" });
    if let Some(dev) = o.device {
        flash::check_device(&dev, &flash::device_facts(&dev))?;
        use std::io::{BufRead, IsTerminal};
        if !std::io::stdin().is_terminal() {
            return Err(format!("refusing to write {dev} without a person at a terminal to confirm"));
        }
        println!("This erases everything on {dev}. Type yes to go on:");
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if answer.trim() != "yes" {
            return Err("not confirmed; nothing written".into());
        }
        let data = std::fs::read(&out).map_err(|e| e.to_string())?;
        std::fs::write(&dev, data).map_err(|e| format!("{dev}: {e}"))?;
        println!("wrote {dev}; sync and remove the card");
    }
    Ok(())
}

fn chainboot(o: Opts) -> Result<(), String> {
    let tty = o.tty.clone().ok_or("chainboot needs --tty DEV (the serial device the Pi is on)")?;
    let kernel = match &o.kernel {
        Some(k) => std::path::PathBuf::from(k),
        None => {
            setup::rust_targets()?;
            images::build(Machine::Raspi3, Variant { mini_uart: o.mini_uart, ..Default::default() })?
        }
    };
    let image = std::fs::read(&kernel).map_err(|e| format!("{}: {e}", kernel.display()))?;
    let mut serial = systests::chainboot::Serial::open(&tty, true)?;
    eprintln!("xtask: waiting for the chainloader on {tty} (reset the Pi if it does not answer)");
    let verdict = serial.send_image(&image, false, std::time::Duration::from_secs(600))?;
    if !verdict.contains("jumping") {
        return Err(format!("the chainloader said: {verdict}"));
    }
    eprintln!("xtask: kernel sent ({} bytes); this terminal is now the console (Ctrl-C quits)", image.len());
    let mut line = String::new();
    loop {
        line.clear();
        if std::io::stdin().read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Ok(());
        }
        serial.write(line.replace('\n', "\r").as_bytes())?;
    }
}

/// Build an SD image from stand-in firmware files and check what is on it.
fn sd_card_check() -> Result<(), String> {
    let dir = images::root().join("target").join("sdcard-test");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let e = flash::firmware(Some(&dir.join("empty"))).unwrap_err();
    if !e.contains("bootcode.bin") || !e.contains(flash::FIRMWARE_URL) {
        return Err(format!("missing firmware not explained: {e}"));
    }
    let fw = dir.join("firmware");
    std::fs::create_dir_all(&fw).map_err(|e| e.to_string())?;
    for f in flash::FIRMWARE {
        std::fs::write(fw.join(f), format!("stand-in for {f}")).map_err(|e| e.to_string())?;
    }
    let img = dir.join("sdcard.img");
    flash_cmd(Opts {
        image: Some(img.display().to_string()),
        firmware: Some(fw.display().to_string()),
        loader: true,
        ..Default::default()
    })?;
    let listing = flash::list_image(&img)?.to_lowercase();
    for want in ["bootcode.bin", "start.elf", "fixup.dat", "config.txt", "kernel8.img"] {
        if !listing.contains(want) {
            return Err(format!("{want} is not on the image: {listing}"));
        }
    }
    Ok(())
}

/// Boot the chainloader in QEMU raspi3b with its serial line on a pty, send
/// a corrupt image (must be refused) and then the kernel (must reach the shell).
fn chainload_check() -> Result<(), String> {
    let loader = images::build_chainloader(false)?;
    let kernel = images::build(Machine::Raspi3, Variant::default())?;
    let mut qemu = Command::new(systests::qemu::QEMU)
        .args(["-M", "raspi3b", "-display", "none", "-monitor", "none", "-serial", "pty", "-kernel"])
        .arg(&loader)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start QEMU: {e}"))?;
    // Whatever happens below (a write to the pty can block), QEMU goes
    // after five minutes, which unblocks everything.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let (done, pid) = (done.clone(), qemu.id());
        std::thread::spawn(move || {
            let start = Instant::now();
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                if start.elapsed() > std::time::Duration::from_secs(300) {
                    let _ = Command::new("kill").arg(pid.to_string()).status();
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        })
    };
    let result = (|| {
        // QEMU names the pty on stdout: "char device redirected to /dev/pts/N (label serial0)".
        let mut stdout = std::io::BufReader::new(qemu.stdout.take().ok_or("no stdout")?);
        let mut line = String::new();
        use std::io::BufRead;
        let pty = loop {
            line.clear();
            if stdout.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                return Err("QEMU did not report a pty".to_string());
            }
            if let Some(p) = line.split_whitespace().find(|w| w.starts_with("/dev/pts/")) {
                break p.to_string();
            }
        };
        let mut serial = systests::chainboot::Serial::open(&pty, false)?;
        // QEMU's pty moves about 20 KB/s: test refusal with a small image.
        let timeout = std::time::Duration::from_secs(200);
        let verdict = serial.send_image(&[0xAB; 4096], true, timeout)?;
        if !verdict.contains("refused: checksum") {
            return Err(format!("a corrupt transfer was not refused: {verdict:?}"));
        }
        let image = std::fs::read(&kernel).map_err(|e| e.to_string())?;
        let verdict = serial.send_image(&image, false, timeout)?;
        if !verdict.contains("jumping") {
            return Err(format!("the kernel was not accepted: {verdict:?}"));
        }
        serial.wait_for(b"Welcome to ChCore shell!", 0, timeout)?;
        Ok(())
    })();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = watchdog.join();
    let _ = qemu.kill();
    let _ = qemu.wait();
    result
}

fn fuzz_cmd(o: Opts) -> Result<(), String> {
    setup::rust_targets()?;
    setup::qemu()?;
    let machine = o.machine.unwrap_or(Machine::Virt);
    let seconds = o.seconds.unwrap_or(60);
    let image = images::build(machine, Variant::default())?;
    let first_seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_secs() % 1_000_000);
    // One worker per CPU: each runs seeds in turn, as forked children.
    let workers = o.smp.unwrap_or(1);
    println!(
        "fuzzing {machine} for about {seconds} s on {workers} CPU(s), seeds from {first_seed} \
         (replay one with `fuzz SEED` at the shell, `-v` to see each call)"
    );
    // Three quarters of the time system calls, a quarter requests to the
    // servers (`-p`).
    let (calls, requests) = ((seconds * 3 / 4).max(1), (seconds / 4).max(1));
    let steps = vec![
        ("$ ".to_string(), format!("fuzz {first_seed} 5000 -t {calls} -j {workers}")),
        ("$ ".to_string(), format!("fuzz {first_seed} 2000 -t {requests} -j {workers} -p")),
        // Quoted so that the echo of what was typed does not itself match.
        ("$ ".to_string(), "echo 'fuzz''-survived'".to_string()),
    ];
    let mut c = systests::qemu::QemuConfig::new(machine, &image);
    c.smp = o.smp;
    let until = systests::runner::Until::Script { steps, settle: std::time::Duration::from_secs(2) };
    let run = systests::runner::run(
        &c,
        &until,
        systests::runner::Patience::fixed(std::time::Duration::from_secs(seconds * 4 + 120)),
    )?;
    let log = images::root().join("target").join("fuzz.log");
    let _ = std::fs::write(&log, &run.output);
    let expect = systests::judge::Expectation::new(
        &["fuzz: done, nothing lost\n", "fuzz: done, nothing lost\n", "fuzz-survived\n"],
        systests::judge::Ending::StillRunning,
    );
    let verdict = systests::judge::judge(&run, &expect).and_then(|()| match run.output.contains("fuzz: FAIL") {
        true => Err(vec![String::from("the fuzzer reports a failure (its `fuzz: FAIL` line)")]),
        false => Ok(()),
    });
    match verdict {
        Ok(()) => {
            // The fuzzer's own account: its totals and the memory check.
            for line in run.output.lines().filter(|l| l.starts_with("fuzz: ") && !l.starts_with("fuzz: seed ")) {
                println!("{line}");
            }
            println!("kernel, procmgr, the servers and the shell survived. Log: {}", log.display());
            Ok(())
        }
        Err(why) => Err(format!(
            "{}\nlast lines:\n{}\nfull log: {}",
            why.join("\n"),
            indent(&systests::judge::tail(&run.output, 20)),
            log.display()
        )),
    }
}

fn bench_cmd(o: Opts) -> Result<(), String> {
    setup::rust_targets()?;
    setup::qemu()?;
    let machine = o.machine.unwrap_or(Machine::Virt);
    if o.profile {
        return bench_profile(
            machine,
            o.only.ok_or("--profile needs --only NAME: one benchmark at a time")?,
            o.iterations.unwrap_or(1000),
        );
    }
    let n = o.iterations.unwrap_or(10_000);
    let image = images::build(machine, Variant { bench: Some(n), bench_only: o.only, ..Default::default() })?;
    println!("benchmarking on {machine} (QEMU -icount shift=0: counts are instructions), {n} iterations");
    let mem = (o.only == Some(bench::CROWD)).then_some(bench::CROWD_MEM);
    let results = bench::run(machine, &image, mem, std::time::Duration::from_secs(1800))?;
    let previous = match &o.compare {
        Some(f) => Some(bench::from_json(&std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?)),
        None => None,
    };
    print!("{}", bench::table(&results, "instructions", previous.as_ref()));
    let dir = images::root().join("target").join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let out = dir.join("results.json");
    std::fs::write(&out, bench::to_json(&results, "instructions")).map_err(|e| e.to_string())?;
    println!("wrote {}", out.display());
    Ok(())
}

/// Symbols of the user code a benchmark runs, to name it in profiles:
/// procmgr (linked apart from the programs, see libchcore/user.ld) and the
/// benchmark program. Other programs (`true` after an exec) share the
/// benchmark's addresses and are named as if they were it.
fn user_symbols() -> Result<Vec<(&'static str, symbols::Symbols)>, String> {
    let dir = images::root().join("target").join("user");
    Ok(vec![
        ("procmgr", symbols::Symbols::read(&dir.join("procmgr-bench.elf"))?),
        ("bench", symbols::Symbols::read(&dir.join(setup::USER_TARGET).join("release").join("bench"))?),
    ])
}

/// Where one benchmark's instructions go: run it with `n` and `2n`
/// iterations under QEMU's block logging and print, per kernel function,
/// the instructions the extra iterations cost, per operation. Everything the
/// two runs share (boot, set-up) cancels out.
fn bench_profile(machine: Machine, name: &'static str, n: u32) -> Result<(), String> {
    let dir = images::root().join("target").join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    if name == "boot_to_shell" {
        // Boot happens once: one run, absolute counts (up to the program's
        // exit, which is a few thousand instructions more than the boot).
        let image = images::build(machine, Variant { bench: Some(10), bench_only: Some(name), ..Default::default() })?;
        let log = dir.join("profile-boot.log");
        let (results, per_fn) =
            bench::run_logged(machine, &image, None, &log, &user_symbols()?, std::time::Duration::from_secs(3600))?;
        let _ = std::fs::remove_file(&log);
        let mut rows: Vec<(&String, &u64)> = per_fn.iter().collect();
        rows.sort_by_key(|(_, c)| std::cmp::Reverse(**c));
        let total: u64 = rows.iter().map(|(_, c)| **c).sum();
        println!(
            "boot_to_shell: {} measured; {total} executed in all, by function:",
            results.get(name).map_or(0, |r| r.per_op)
        );
        for (f, c) in rows.iter().take(40) {
            println!("  {c:>10}  {:>5.1}%  {f}", 100.0 * **c as f64 / total.max(1) as f64);
        }
        return Ok(());
    }
    let mut runs = Vec::new();
    for k in [n, 2 * n] {
        let image = images::build(machine, Variant { bench: Some(k), bench_only: Some(name), ..Default::default() })?;
        println!("profiling {name} on {machine} with {k} iterations (QEMU -d in_asm,exec,nochain; slow)");
        let log = dir.join(format!("profile-{name}-{k}.log"));
        let mem = (name == bench::CROWD).then_some(bench::CROWD_MEM);
        let (results, per_fn) =
            bench::run_logged(machine, &image, mem, &log, &user_symbols()?, std::time::Duration::from_secs(3600))?;
        if std::env::var_os("CHCORE_KEEP_PROFILE_LOG").is_none() {
            let _ = std::fs::remove_file(&log);
        }
        // The crowd's profile covers all it times; its per-operation figure
        // is that of the fork and exec with 1,000 processes.
        let timed = if name == bench::CROWD { "fork_exec_wait_1000" } else { name };
        let r = results.get(timed).ok_or_else(|| format!("{timed} reported no result"))?.clone();
        runs.push((r, per_fn));
    }
    // Every timed loop runs a tenth more untimed to warm up.
    let ops = |r: &bench::Result1| r.iterations + (r.iterations / 10).max(1);
    let extra_ops = ops(&runs[1].0).saturating_sub(ops(&runs[0].0)).max(1);
    let mut rows: Vec<(String, i64)> = runs[1]
        .1
        .iter()
        .map(|(f, &c)| (f.clone(), c as i64 - runs[0].1.get(f).copied().unwrap_or(0) as i64))
        .filter(|(_, d)| *d != 0)
        .collect();
    rows.sort_by_key(|(_, d)| -d.abs());
    let total: i64 = rows.iter().map(|(_, d)| d).sum();
    println!(
        "{name}: {} per operation measured; {:.1} per operation (incl. warm-up runs) by function:",
        runs[1].0.per_op,
        total as f64 / extra_ops as f64
    );
    for (f, d) in rows.iter().take(40) {
        println!("  {:>10.1}  {:>5.1}%  {f}", *d as f64 / extra_ops as f64, 100.0 * *d as f64 / total.max(1) as f64);
    }
    Ok(())
}

fn checkpoints() -> Result<Vec<systests::grade::Checkpoint>, String> {
    let path = images::root().join("tests").join("checkpoints.txt");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    systests::grade::parse(&text)
}

/// Grade one machine; returns (got, total) and prints the table.
fn grade_one(m: Machine, lab: Option<u32>, patience: f64) -> Result<(u32, u32), String> {
    let all = checkpoints()?;
    let selected: Vec<_> = all.into_iter().filter(|c| lab.is_none_or(|l| c.lab == l)).collect();
    if selected.is_empty() {
        return Err(format!("no checkpoints for lab {}", lab.unwrap_or(0)));
    }
    for test in [false, true] {
        images::build(m, Variant { test, ..Default::default() })?;
    }
    println!("grading {m} ...");
    let (marks, test_run, shell_run) = systests::grade_machine(&images::images_dir(), m, &selected, patience)?;
    let mut runs = vec![("the test run", &test_run)];
    runs.extend(shell_run.as_ref().map(|s| ("the shell session", s)));
    Ok(report(&marks, &runs))
}

/// Grade the lab image of one machine (labs 1-4, one boot).
fn grade_lab_one(m: Machine, lab: Option<u32>, patience: f64) -> Result<(u32, u32), String> {
    let all: Vec<_> = checkpoints()?.into_iter().filter(|c| lab.is_none_or(|l| c.lab == l)).collect();
    images::build(m, Variant { lab: true, ..Default::default() })?;
    println!("grading the {m} lab image ...");
    let (marks, run) = systests::grade_lab_image(&images::images_dir(), m, &all, patience)?;
    if marks.is_empty() {
        return Err(format!("the lab image covers labs {:?}, none selected", systests::LAB_IMAGE_LABS));
    }
    Ok(report(&marks, &[("the run", &run)]))
}

/// Print the score table; below full marks, also each checkpoint missed
/// (and whether its run ran out of time) and how each run ended, with its
/// last lines. Returns (got, total).
fn report(marks: &[systests::grade::Mark], runs: &[(&str, &systests::runner::RunOutput)]) -> (u32, u32) {
    print!("{}", systests::grade::table(marks));
    let missing: Vec<_> = marks.iter().filter(|mk| !mk.passed()).collect();
    if !missing.is_empty() {
        for mk in &missing {
            let how = if mk.outcome == systests::grade::Outcome::TimedOut { "timed out" } else { "missing" };
            println!("{how}: {:?} (lab {})", mk.checkpoint.expect, mk.checkpoint.lab);
        }
        for (name, run) in runs {
            println!("{name} ended: {}", run.ended);
            println!("last lines of {name}:\n{}", indent(&systests::judge::tail(&run.output, 15)));
        }
    }
    systests::grade::totals(marks)
}

fn grade(o: Opts) -> Result<(), String> {
    setup::rust_targets()?;
    setup::qemu()?;
    let (mut got, mut total) = (0, 0);
    for m in machines(&o) {
        let patience = patience_factor(o.patience)?;
        let (g, t) = if o.lab_image { grade_lab_one(m, o.lab, patience)? } else { grade_one(m, o.lab, patience)? };
        got += g;
        total += t;
    }
    if machines(&o).len() > 1 {
        println!("Score: {got}/{total}");
    }
    if got == total {
        Ok(())
    } else {
        Err(format!("{} points missing", total - got))
    }
}

/// `--patience`, else `CHCORE_PATIENCE`, else 1.
fn patience_factor(option: Option<f64>) -> Result<f64, String> {
    match (option, std::env::var(systests::runner::PATIENCE_VAR)) {
        (Some(f), _) => Ok(f),
        (None, Ok(v)) => {
            systests::runner::parse_factor(&v).map_err(|e| format!("{}: {e}", systests::runner::PATIENCE_VAR))
        }
        (None, Err(_)) => Ok(1.0),
    }
}

/// Steps of `cargo xtask test`, for its progress headings.
const TEST_STEPS: usize = 9;
static STEP: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A heading for the next step of `cargo xtask test`, with how far along it is.
fn step(title: &str) {
    let n = STEP.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    println!("\n==> [{n}/{TEST_STEPS}] {title}");
}

fn test() -> Result<(), String> {
    let start = Instant::now();
    setup::rust_targets()?;
    setup::rust_components()?;
    setup::qemu()?;
    // CHCORE_PATIENCE stretches every QEMU run's limits on a slow machine.
    let patience = patience_factor(None)?;
    let root = images::root();
    let host_cargo = |args: &[&str], what: &str| images::run_cargo(images::cargo().current_dir(&root).args(args), what);

    step("host unit tests (cargo test)");
    host_cargo(&["test", "--quiet"], "host unit tests")?;

    step("format (cargo fmt --check, rustfmt.toml)");
    host_cargo(&["fmt", "--all", "--check"], "the format check (run `cargo fmt --all` to fix)")?;

    step("lints (clippy, warnings denied)");
    host_cargo(&["clippy", "--quiet", "--all-targets", "--", "-D", "warnings"], "clippy on the host crates")?;
    images::clippy_user()?;
    images::clippy_chainloader()?;
    for m in Machine::ALL {
        images::clippy_kernel(m)?;
    }

    step("kernel images");
    let builds = Machine::ALL
        .into_iter()
        .flat_map(|m| [(m, false), (m, true)])
        .map(|(m, test)| (m, Variant { test, ..Default::default() }))
        .chain([(Machine::Raspi3, Variant { test: true, mini_uart: true, ..Default::default() })])
        .chain(Machine::ALL.map(|m| (m, Variant { lab: true, ..Default::default() })));
    for (m, v) in builds {
        let path = images::build(m, v)?;
        println!("built {}", path.strip_prefix(&root).unwrap_or(&path).display());
    }

    step("QEMU boot tests");
    let logs = root.join("target").join("test-logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let cases = systests::cases::boot_cases(&images::images_dir());
    let mut failed = Vec::new();
    for (k, case) in cases.iter().enumerate() {
        // Which case runs now, overwritten by its result (on a terminal only).
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprint!("  ({}/{}) {} ...\r", k + 1, cases.len(), case.name);
        }
        let run = systests::runner::run(
            &case.config,
            &case.until,
            systests::runner::Patience::fixed(case.timeout).scaled(patience),
        )?;
        let log = logs.join(format!("{}.log", case.name));
        let _ = std::fs::write(&log, format!("$ {}\n{}", case.config.shell_line(), run.output));
        match systests::judge::judge(&run, &case.expect) {
            Ok(()) => println!("  ok    {:<36} {:>5.1}s", case.name, run.elapsed.as_secs_f64()),
            Err(why) => {
                println!("  FAIL  {:<36} {:>5.1}s", case.name, run.elapsed.as_secs_f64());
                for w in &why {
                    println!("        {w}");
                }
                println!("        command: {}", case.config.shell_line());
                println!("        full log: {}", log.display());
                println!("        last lines:\n{}", indent(&systests::judge::tail(&run.output, 15)));
                failed.push(case.name.clone());
            }
        }
    }
    println!(
        "\n{} of {} QEMU boot tests passed ({:.0}s in all)",
        cases.len() - failed.len(),
        cases.len(),
        start.elapsed().as_secs_f64()
    );

    step("Raspberry Pi 3 SD card image and UART chainloader");
    setup::tool("mkfs.vfat", "dosfstools")?;
    setup::tool("mcopy", "mtools")?;
    match sd_card_check() {
        Ok(()) => {
            println!("  ok    SD card image: firmware, config.txt and kernel8.img on FAT32; missing firmware explained")
        }
        Err(e) => {
            println!("  FAIL  SD card image: {e}");
            failed.push("sd-card-image".into());
        }
    }
    match chainload_check() {
        Ok(()) => {
            println!("  ok    chainloader in QEMU raspi3b: corrupt transfer refused, kernel loaded, shell reached")
        }
        Err(e) => {
            println!("  FAIL  chainloader: {e}");
            failed.push("chainloader".into());
        }
    }

    step("benchmark image (a few iterations of each benchmark)");
    let crowd = || {
        images::build(Machine::Virt, Variant { bench: Some(20), bench_only: Some(bench::CROWD), ..Default::default() })
            .and_then(|img| {
                bench::run(Machine::Virt, &img, Some(bench::CROWD_MEM), std::time::Duration::from_secs(300))
            })
    };
    match images::build(Machine::Virt, Variant { bench: Some(20), ..Default::default() })
        .and_then(|img| bench::run(Machine::Virt, &img, None, std::time::Duration::from_secs(300)))
        .and_then(|mut r| {
            // The crowd benchmark's own figures (with 1,000 processes) come from a second image.
            r.extend(crowd()?.into_iter().filter(|(k, _)| k.ends_with("_1000")));
            Ok(r)
        }) {
        Ok(r) => {
            let implausible: Vec<&str> = bench::TARGETS
                .iter()
                .map(|t| t.0)
                .filter(|name| r.get(*name).is_none_or(|x| x.per_op == 0 || x.per_op > 100_000_000))
                .collect();
            if implausible.is_empty() {
                println!("  ok    all {} benchmarks ran and reported plausible counts", bench::TARGETS.len());
            } else {
                println!("  FAIL  benchmarks missing or implausible: {}", implausible.join(", "));
                failed.push("bench".into());
            }
        }
        Err(e) => {
            println!("  FAIL  benchmark image: {e}");
            failed.push("bench".into());
        }
    }

    step("autograder (tests/checkpoints.txt) on both machines");
    let all = checkpoints()?;
    for m in Machine::ALL {
        let (marks, test_run, shell_run) = systests::grade_machine(&images::images_dir(), m, &all, patience)?;
        let (got, total) = systests::grade::totals(&marks);
        println!("  {m}: Score: {got}/{total}");
        if got != total {
            print!("{}", systests::grade::table(&marks));
            failed.push(format!("grade-{m}"));
        }
        // Break one checkpoint on purpose: the grader must report it missing.
        let mut broken = all.clone();
        broken[0].expect.push_str(" (deliberately wrong)");
        let marks = systests::grade::score(&broken, Some(&test_run), shell_run.as_ref());
        let (g, t) = systests::grade::totals(&marks);
        let table = systests::grade::table(&marks);
        if g + broken[0].points == t && table.contains("MISSING") {
            println!("  {m}: a deliberately broken checkpoint is reported MISSING: ok");
        } else {
            println!("  {m}: the grader did not notice a broken checkpoint ({g}/{t})");
            failed.push(format!("grade-miss-{m}"));
        }
    }
    step("lab images (labs 1-4 in one boot each) through the autograder");
    for m in Machine::ALL {
        let (marks, run) = systests::grade_lab_image(&images::images_dir(), m, &all, patience)?;
        let (got, total) = systests::grade::totals(&marks);
        println!("  {m}: Score: {got}/{total} in {:.1} s", run.elapsed.as_secs_f64());
        let _ = std::fs::write(logs.join(format!("{m}-lab.log")), &run.output);
        if got != total {
            print!("{}", systests::grade::table(&marks));
            failed.push(format!("lab-image-{m}"));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("failed: {}", failed.join(", ")))
    }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("          | {l}")).collect::<Vec<_>>().join("\n")
}
