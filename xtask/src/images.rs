//! Building the kernel images at their fixed paths under `target/images/`.

use crate::fresh::{self, Job};
use crate::setup::{KERNEL_TARGET, USER_TARGET};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use systests::qemu::Machine;

/// Firmware settings for a real Raspberry Pi 3, written beside kernel8.img.
const RASPI3_CONFIG_TXT: &str = "\
# Raspberry Pi 3 firmware settings for this kernel (written by cargo xtask build).
# Boot kernel8.img in 64-bit mode at 0x80000.
arm_64bit=1
kernel=kernel8.img
# Serial console on the GPIO 14/15 header pins.
enable_uart=1
# The kernel puts the PL011 on GPIO 14/15; keep Bluetooth off it.
dtoverlay=disable-bt
# Fixed clocks, because the UART baud rates are derived from them:
# the PL011 from init_uart_clock, the mini UART from core_freq.
init_uart_clock=48000000
core_freq=250
";

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// `target/images`.
pub fn images_dir() -> PathBuf {
    root().join("target").join("images")
}

/// What to build.
#[derive(Clone, Copy, Debug, Default)]
pub struct Variant {
    /// The self-test image (`--features selftest`).
    pub test: bool,
    /// The lab image: the kernel's self-tests and `kerneltest`, then
    /// `hello` and the shell (what ChCore's lab graders read).
    pub lab: bool,
    /// Raspberry Pi 3 console on the mini UART.
    pub mini_uart: bool,
    /// The benchmark image, with this many iterations per benchmark.
    pub bench: Option<u32>,
    /// In the benchmark image, run only this benchmark.
    pub bench_only: Option<&'static str>,
}

pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Cargo for user programs: they are embedded in the kernel image (and sent
/// over the serial line to a real Pi), so no debug info; symbols stay.
fn cargo_user() -> Command {
    let mut c = cargo();
    c.env("CARGO_PROFILE_RELEASE_DEBUG", "false");
    c
}

/// Run a cargo command; `what` names it in the error.
pub fn run_cargo(cmd: &mut Command, what: &str) -> Result<(), String> {
    let ok = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?.success();
    ok.then_some(()).ok_or_else(|| format!("{what} failed"))
}

fn features(machine: Machine, v: Variant) -> String {
    let mut f = vec![machine.name()];
    if v.test || v.lab {
        f.push("selftest");
    }
    if v.mini_uart {
        f.push("mini-uart");
    }
    if v.bench.is_some() {
        f.push("bench");
    }
    f.join(",")
}

/// Each machine builds in its own target directory, so that two builds never
/// share artifacts compiled for different platforms.
fn kernel_target_dir(machine: Machine) -> PathBuf {
    root().join("target").join("kernel").join(machine.name())
}

/// The test and benchmark programs among [`RAMDISK_PROGRAMS`]: packed as
/// `tests/NAME`, they appear at `/tests`, out of `/bin`'s listing and
/// `help`'s, and still run by bare name (the search path is `/bin`, then
/// `/tests`; docs/procmgr.md).
pub const TEST_PROGRAMS: &[&str] = &["kerneltest", "usertest", "fstest", "bench", "scale", "fuzz", "harden", "procs"];

/// Programs packed into the ramdisk (the `apps` crate's binaries).
pub const RAMDISK_PROGRAMS: &[&str] = &[
    "shell",
    "ls",
    "cat",
    "echo",
    "free",
    "ps",
    "top",
    "hello",
    "kerneltest",
    "tmpfs",
    "usertest",
    "fstest",
    "true",
    "bench",
    "scale",
    "fuzz",
    "harden",
    "sleep",
    "procs",
    "mkdir",
    "rmdir",
    "rm",
    "touch",
    "cp",
    "mv",
    "wc",
    "head",
    "tail",
    "grep",
    "cksum",
    "stat",
    "df",
    "false",
    "uname",
    "sh",
    "showkey",
];

/// Build the ramdisk programs and pack them, with a text file for `cat` and a
/// malformed ELF for the exec tests, into `target/user/ramdisk.cpio`.
fn build_ramdisk(v: Variant) -> Result<PathBuf, String> {
    let dir = root().join("target").join("user");
    let bin = dir.join(USER_TARGET).join("release");
    let mut cmd = cargo_user();
    cmd.current_dir(root())
        .args(["build", "--quiet", "-p", "apps", "--release", "--target", USER_TARGET])
        .arg("--target-dir")
        .arg(&dir);
    let job = Job::new(&root(), "apps", &cmd, &root().join("apps"));
    let job = RAMDISK_PROGRAMS.iter().fold(job, |job, name| job.writes(&bin.join(name)));
    job.run(|| run_cargo(&mut cmd, "building the ramdisk programs"))?;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for name in RAMDISK_PROGRAMS {
        let path = bin.join(name);
        let elf = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let packed = if TEST_PROGRAMS.contains(name) { format!("tests/{name}") } else { name.to_string() };
        files.push((packed, crate::elf::strip(&elf).map_err(|e| format!("{}: {e}", path.display()))?));
    }
    files
        .push(("motd".into(), b"Welcome to the ChCore ramdisk. Try: ls, cat motd, echo hi | cat, usertest\n".to_vec()));
    files.push(("tests/bad.elf".into(), b"\x7fELF, but not really".to_vec()));
    if let Some(n) = v.bench {
        files.push(("bench-args".into(), format!("{n} {}\n", v.bench_only.unwrap_or("all")).into_bytes()));
    }
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    let out = dir.join("ramdisk.cpio");
    // Rewritten only when it differs: the kernel embeds it, so its time counts.
    fresh::write_if_changed(&out, &chcore_proc::cpio::write(&refs))?;
    Ok(out)
}

/// Build the user programs the kernel embeds (procmgr) for variant `v`;
/// returns the ELF to embed. User programs build in their own target
/// directory, always before the kernel, so the kernel never embeds a stale one.
fn build_user(v: Variant) -> Result<PathBuf, String> {
    let dir = root().join("target").join("user");
    let mut cmd = cargo_user();
    cmd.current_dir(root()).args(["build", "--quiet", "-p", "procmgr", "--release", "--target", USER_TARGET]);
    if v.lab {
        cmd.args(["--features", "lab"]);
    } else if v.test {
        cmd.args(["--features", "selftest"]);
    } else if v.bench.is_some() {
        cmd.args(["--features", "bench"]);
    }
    cmd.arg("--target-dir").arg(&dir);
    let name = match (v.test, v.bench.is_some()) {
        _ if v.lab => "procmgr-lab",
        (true, _) => "procmgr-test",
        (false, true) => "procmgr-bench",
        (false, false) => "procmgr",
    };
    let out = dir.join(format!("{name}.elf"));
    // Every variant builds to the same path; its own copy is what the kernel embeds.
    let built = dir.join(USER_TARGET).join("release").join("procmgr");
    Job::new(&root(), name, &cmd, &root().join("procmgr")).writes(&out).run(|| {
        run_cargo(&mut cmd, "the procmgr build")?;
        fresh::copy_if_changed(&built, &out)
    })?;
    Ok(out)
}

/// Run clippy over the user crates for the user target, warnings denied.
pub fn clippy_user() -> Result<(), String> {
    let status = &mut cargo_user();
    status
        .current_dir(root())
        .args([
            "clippy",
            "--quiet",
            "-p",
            "procmgr",
            "-p",
            "libchcore",
            "-p",
            "apps",
            "--release",
            "--target",
            USER_TARGET,
        ])
        .args(["--features", "procmgr/selftest"])
        .arg("--target-dir")
        .arg(root().join("target").join("user"))
        .args(["--", "-D", "warnings"]);
    run_cargo(status, "clippy on the user programs")
}

/// Run clippy over the kernel for `machine` (normal and test image), warnings denied.
pub fn clippy_kernel(machine: Machine) -> Result<(), String> {
    for test in [false, true] {
        clippy_kernel_variant(
            machine,
            Variant { test, mini_uart: machine == Machine::Raspi3 && test, ..Default::default() },
        )?;
    }
    Ok(())
}

fn clippy_kernel_variant(machine: Machine, v: Variant) -> Result<(), String> {
    let _lock = fresh::lock(&root())?;
    let procmgr = build_user(v)?;
    let ramdisk = build_ramdisk(v)?;
    let status = &mut cargo();
    status
        .current_dir(root())
        .env("CHCORE_PROCMGR_ELF", &procmgr)
        .env("CHCORE_RAMDISK", &ramdisk)
        .args(["clippy", "--quiet", "-p", "kernel", "--release", "--target", KERNEL_TARGET])
        .args(["--features", &features(machine, v)])
        .arg("--target-dir")
        .arg(kernel_target_dir(machine))
        .args(["--", "-D", "warnings"]);
    run_cargo(status, &format!("clippy on the kernel for {machine}"))
}

/// Build the kernel for `machine` and install it under `target/images/<machine>/`.
/// Returns the path QEMU boots (ELF for virt, raw image for raspi3).
pub fn build(machine: Machine, v: Variant) -> Result<PathBuf, String> {
    let _lock = fresh::lock(&root())?;
    let procmgr = build_user(v)?;
    let ramdisk = build_ramdisk(v)?;
    let dir = kernel_target_dir(machine);
    let cmd = &mut cargo();
    cmd.current_dir(root())
        .env("CHCORE_PROCMGR_ELF", &procmgr)
        .env("CHCORE_RAMDISK", &ramdisk)
        .args(["build", "--quiet", "-p", "kernel", "--release", "--target", KERNEL_TARGET])
        .args(["--features", &features(machine, v)])
        .arg("--target-dir")
        .arg(&dir);
    let built = dir.join(KERNEL_TARGET).join("release").join("kernel");
    let out = images_dir().join(machine.name());
    let suffix = match (v.test, v.mini_uart, v.bench.is_some()) {
        _ if v.lab => "-lab",
        (_, _, true) => "-bench",
        (false, false, _) => "",
        (true, false, _) => "-test",
        (false, true, _) => "-mini-uart",
        (true, true, _) => "-test-mini-uart",
    };
    let elf_path = out.join(format!("kernel{suffix}.elf"));
    let img = (machine == Machine::Raspi3).then(|| out.join(format!("kernel8{suffix}.img")));
    let mut job = Job::new(&root(), &format!("kernel-{}{suffix}", machine.name()), cmd, &root().join("kernel"))
        .embeds(&procmgr)
        .embeds(&ramdisk)
        .writes(&elf_path);
    if let Some(img) = &img {
        job = job.writes(img);
    }
    job.run(|| {
        run_cargo(cmd, &format!("the kernel build for {machine}"))?;
        fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        fresh::copy_if_changed(&built, &elf_path)?;
        let Some(img) = &img else { return Ok(()) };
        let elf = fs::read(&elf_path).map_err(|e| format!("{}: {e}", elf_path.display()))?;
        let (base, bin) = crate::elf::to_binary(&elf).map_err(|e| format!("{}: {e}", elf_path.display()))?;
        if base != 0x8_0000 {
            return Err(format!("raspi3 kernel starts at {base:#x}, but the firmware loads kernel8.img at 0x80000"));
        }
        fresh::write_if_changed(img, &bin)
    })?;
    match img {
        None => Ok(elf_path),
        Some(img) => {
            fresh::write_if_changed(&out.join("config.txt"), RASPI3_CONFIG_TXT.as_bytes())?;
            Ok(img)
        }
    }
}

/// Run clippy over the chainloader (both UART variants), warnings denied.
pub fn clippy_chainloader() -> Result<(), String> {
    for mini in [false, true] {
        let mut cmd = cargo();
        cmd.current_dir(root()).args([
            "clippy",
            "--quiet",
            "-p",
            "chainloader",
            "--release",
            "--target",
            KERNEL_TARGET,
        ]);
        if mini {
            cmd.args(["--features", "mini-uart"]);
        }
        run_cargo(
            cmd.arg("--target-dir").arg(root().join("target").join("chainloader")).args(["--", "-D", "warnings"]),
            "clippy on the chainloader",
        )?;
    }
    Ok(())
}

/// Build the UART chainloader and write `target/images/raspi3/chainloader.img`.
pub fn build_chainloader(mini_uart: bool) -> Result<PathBuf, String> {
    let _lock = fresh::lock(&root())?;
    let dir = root().join("target").join("chainloader");
    let mut cmd = cargo();
    cmd.current_dir(root()).args(["build", "--quiet", "-p", "chainloader", "--release", "--target", KERNEL_TARGET]);
    if mini_uart {
        cmd.args(["--features", "mini-uart"]);
    }
    cmd.arg("--target-dir").arg(&dir);
    let name = if mini_uart { "chainloader-mini-uart" } else { "chainloader" };
    let out = images_dir().join("raspi3");
    let img = out.join(format!("{name}.img"));
    Job::new(&root(), name, &cmd, &root().join("boot").join("chainloader")).writes(&img).run(|| {
        run_cargo(&mut cmd, "the chainloader build")?;
        let elf_path = dir.join(KERNEL_TARGET).join("release").join("chainloader");
        let elf = fs::read(&elf_path).map_err(|e| format!("{}: {e}", elf_path.display()))?;
        let (_, bin) = crate::elf::to_binary(&elf).map_err(|e| format!("{}: {e}", elf_path.display()))?;
        fs::create_dir_all(&out).map_err(|e| e.to_string())?;
        fresh::write_if_changed(&img, &bin)
    })?;
    Ok(img)
}

/// The firmware settings written beside kernel8.img.
pub fn raspi3_config_txt() -> &'static str {
    RASPI3_CONFIG_TXT
}

/// The ELF with symbols that goes with a built image (for gdb).
pub fn symbols(machine: Machine, v: Variant) -> PathBuf {
    let name = match (v.test, v.mini_uart) {
        _ if v.lab => "kernel-lab.elf",
        _ if v.bench.is_some() => "kernel-bench.elf",
        (false, false) => "kernel.elf",
        (true, false) => "kernel-test.elf",
        (false, true) => "kernel-mini-uart.elf",
        (true, true) => "kernel-test-mini-uart.elf",
    };
    images_dir().join(machine.name()).join(name)
}
