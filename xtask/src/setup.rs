//! Make sure the tools a verb needs are installed, or say exactly how.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Rust targets from rust-toolchain.toml. The kernel is soft-float (it never
/// touches FP registers, so traps need not save them); so are our user
/// programs (a thread's FP/SIMD state costs nothing until it uses it, see
/// docs/scheduler.md). A program built for `aarch64-unknown-none` may use
/// FP/SIMD: the kernel switches it from its first use on.
pub const KERNEL_TARGET: &str = "aarch64-unknown-none-softfloat";
/// Target for user programs.
pub const USER_TARGET: &str = "aarch64-unknown-none-softfloat";

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn is_root() -> bool {
    output("id", &["-u"]).is_some_and(|s| s.trim() == "0")
}

/// The folder of the toolchain cargo runs with, when rustup says which one
/// it is: its proxies set `RUSTUP_HOME` and `RUSTUP_TOOLCHAIN` for what they
/// start (cargo, and through it xtask). Looking in it costs a few `stat`s
/// where asking `rustup` costs a process and tens of milliseconds.
fn toolchain_dir() -> Option<PathBuf> {
    let home = std::env::var_os("RUSTUP_HOME")?;
    let toolchain = std::env::var_os("RUSTUP_TOOLCHAIN")?;
    let dir = Path::new(&home).join("toolchains").join(toolchain);
    dir.is_dir().then_some(dir)
}

/// Add the aarch64 targets if rustup lacks them (machines with
/// `RUSTUP_AUTO_INSTALL=0` will not do it on their own).
pub fn rust_targets() -> Result<(), String> {
    let has = |dir: &Path, t: &str| dir.join("lib").join("rustlib").join(t).join("lib").is_dir();
    if toolchain_dir().is_some_and(|d| has(&d, KERNEL_TARGET) && has(&d, USER_TARGET)) {
        return Ok(());
    }
    let Some(installed) = output("rustup", &["target", "list", "--installed"]) else {
        return Err("`rustup` not found: install Rust with rustup (https://rustup.rs), then retry".into());
    };
    let missing: Vec<&str> =
        [KERNEL_TARGET, USER_TARGET].into_iter().filter(|t| !installed.lines().any(|l| l.trim() == *t)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: adding Rust targets {}", missing.join(" "));
    let ok =
        Command::new("rustup").arg("target").arg("add").args(&missing).status().map(|s| s.success()).unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(format!("could not add Rust targets; run `rustup target add {}` and retry", missing.join(" ")))
    }
}

/// Add the rustup components `cargo xtask test` uses (clippy, rustfmt) if
/// they are missing (the toolchain file's minimal profile has neither).
pub fn rust_components() -> Result<(), String> {
    if toolchain_dir().is_some_and(|d| ["cargo-clippy", "rustfmt"].iter().all(|b| d.join("bin").join(b).is_file())) {
        return Ok(());
    }
    let installed = output("rustup", &["component", "list", "--installed"]).unwrap_or_default();
    let missing: Vec<&str> = ["clippy", "rustfmt"]
        .into_iter()
        .filter(|c| !installed.lines().any(|l| l.starts_with(&format!("{c}-"))))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: adding Rust components {}", missing.join(" "));
    let ok = Command::new("rustup")
        .arg("component")
        .arg("add")
        .args(&missing)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(format!("could not add Rust components; run `rustup component add {}` and retry", missing.join(" ")))
    }
}

/// Whether `binary` is on the PATH (or in the sbin folders, where Debian
/// puts mkfs and which a user's PATH may lack).
fn on_path(binary: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    let mut dirs: Vec<&str> = path.split(':').collect();
    dirs.extend(["/usr/sbin", "/sbin"]);
    dirs.iter().any(|d| std::path::Path::new(d).join(binary).is_file())
}

/// A host tool from a Debian package: present, installed now (as root), or a clear error.
pub fn tool(binary: &str, package: &str) -> Result<(), String> {
    if on_path(binary) {
        return Ok(());
    }
    if !is_root() {
        return Err(format!("`{binary}` not found. Install it with:\n    sudo apt-get install -y {package}\nthen run the command again."));
    }
    eprintln!("xtask: `{binary}` not found; installing Debian package {package}");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if !(apt(&["update", "-qq"]) && apt(&["install", "-y", "-qq", package]) && on_path(binary)) {
        return Err(format!(
            "installing {package} failed; install it by hand (`apt-get install -y {package}`) and retry"
        ));
    }
    Ok(())
}

/// QEMU for AArch64.
pub fn qemu() -> Result<(), String> {
    tool(systests::qemu::QEMU, "qemu-system-arm")
}

/// The debugger.
pub fn gdb() -> Result<(), String> {
    tool("gdb-multiarch", "gdb-multiarch")
}
