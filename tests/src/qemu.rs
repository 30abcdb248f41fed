//! QEMU command lines for the machines we boot.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

/// The emulator binary (Debian package `qemu-system-arm`).
pub const QEMU: &str = "qemu-system-aarch64";

/// A machine the kernel supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Machine {
    /// QEMU `-M virt -cpu cortex-a72`.
    Virt,
    /// Raspberry Pi 3 (QEMU `-M raspi3b`, or a real board).
    Raspi3,
}

impl Machine {
    /// Both machines.
    pub const ALL: [Machine; 2] = [Machine::Virt, Machine::Raspi3];

    /// The name used on the command line, in cargo features and in paths.
    pub fn name(self) -> &'static str {
        match self {
            Machine::Virt => "virt",
            Machine::Raspi3 => "raspi3",
        }
    }

    /// File name of the normal image under `target/images/<machine>/`.
    pub fn image_name(self, test: bool) -> &'static str {
        match (self, test) {
            (Machine::Virt, false) => "kernel.elf",
            (Machine::Virt, true) => "kernel-test.elf",
            (Machine::Raspi3, false) => "kernel8.img",
            (Machine::Raspi3, true) => "kernel8-test.img",
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Machine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "virt" => Ok(Machine::Virt),
            "raspi3" | "raspi3b" | "rpi3" => Ok(Machine::Raspi3),
            _ => Err(format!("unknown machine {s:?}: expected virt or raspi3")),
        }
    }
}

/// Exception level QEMU `virt` starts the kernel in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryEl {
    /// QEMU's default for virt.
    El1,
    /// `virtualization=on`.
    El2,
    /// `secure=on`.
    El3,
}

/// Where the console is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Console {
    /// Interactive: serial and QEMU monitor multiplexed on the terminal (Ctrl-A X quits).
    Terminal,
    /// Captured: serial on stdout, no monitor, stdin unused.
    Captured,
    /// Serial to a file (used while a debugger owns the terminal).
    File(PathBuf),
}

/// One QEMU invocation.
#[derive(Clone, Debug)]
pub struct QemuConfig {
    /// Which machine.
    pub machine: Machine,
    /// Kernel image (`-kernel`).
    pub image: PathBuf,
    /// CPUs (`-smp`); `None` keeps QEMU's default.
    pub smp: Option<u32>,
    /// Memory (`-m`), e.g. `128M` or `3G`; `None` keeps QEMU's default.
    pub mem: Option<String>,
    /// Entry exception level (virt only).
    pub el: EntryEl,
    /// Enable semihosting (the test image exits QEMU through it).
    pub semihosting: bool,
    /// Kernel command line (virt passes it in the device tree).
    pub append: Option<String>,
    /// Raspberry Pi 3 console on the mini UART (QEMU's second serial port).
    pub mini_uart: bool,
    /// Start halted with a gdbstub on this TCP port.
    pub gdb_port: Option<u16>,
    /// Console routing.
    pub console: Console,
    /// More arguments, added before `-kernel`.
    pub extra: Vec<String>,
}

impl QemuConfig {
    /// Defaults for `machine` booting `image`.
    pub fn new(machine: Machine, image: impl AsRef<Path>) -> Self {
        QemuConfig {
            machine,
            image: image.as_ref().to_path_buf(),
            smp: None,
            mem: None,
            el: EntryEl::El1,
            semihosting: false,
            append: None,
            mini_uart: false,
            gdb_port: None,
            console: Console::Captured,
            extra: Vec::new(),
        }
    }

    /// The arguments after `qemu-system-aarch64`.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut push = |s: &str| a.push(s.to_string());
        match self.machine {
            Machine::Virt => {
                let m = match self.el {
                    EntryEl::El1 => "virt",
                    EntryEl::El2 => "virt,virtualization=on",
                    EntryEl::El3 => "virt,secure=on",
                };
                push("-M");
                push(m);
                push("-cpu");
                push("cortex-a72");
            }
            Machine::Raspi3 => {
                push("-M");
                push("raspi3b");
            }
        }
        if let Some(n) = self.smp {
            push("-smp");
            push(&n.to_string());
        }
        if let Some(m) = &self.mem {
            push("-m");
            push(m);
        }
        push("-display");
        push("none");
        let serial = match &self.console {
            Console::Terminal => "mon:stdio".to_string(),
            Console::Captured => "stdio".to_string(),
            Console::File(p) => format!("file:{}", p.display()),
        };
        if !matches!(self.console, Console::Terminal) {
            push("-monitor");
            push("none");
        }
        if self.machine == Machine::Raspi3 && self.mini_uart {
            // The mini UART is raspi3b's second serial port.
            push("-serial");
            push("null");
        }
        push("-serial");
        push(&serial);
        if self.semihosting {
            push("-semihosting");
        }
        if let Some(args) = &self.append {
            push("-append");
            push(args);
        }
        if let Some(port) = self.gdb_port {
            push("-S");
            push("-gdb");
            push(&format!("tcp::{port}"));
        }
        a.extend(self.extra.iter().cloned());
        a.push("-kernel".to_string());
        a.push(self.image.display().to_string());
        a
    }

    /// The full command.
    pub fn command(&self) -> Command {
        let mut c = Command::new(QEMU);
        c.args(self.args());
        c
    }

    /// The command as a shell line, for people to copy.
    pub fn shell_line(&self) -> String {
        std::iter::once(QEMU.to_string())
            .chain(self.args().into_iter().map(|a| if a.contains(' ') { format!("'{a}'") } else { a }))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Check a `-m` size the way people write it: digits with an optional K, M, G or T.
pub fn parse_mem(s: &str) -> Result<String, String> {
    let digits = s.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
    let suffix = &s[digits.len()..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || suffix.len() > 1 {
        return Err(format!(
            "bad memory size {s:?}: expected a number with an optional K, M, G or T suffix, like 128M or 3G"
        ));
    }
    let n: u64 = digits.parse().map_err(|_| format!("memory size {s:?} is too large"))?;
    let mib = match suffix.to_ascii_uppercase().as_str() {
        "K" => n / 1024,
        "" | "M" => n,
        "G" => n.saturating_mul(1024),
        _ => n.saturating_mul(1024 * 1024),
    };
    if mib < 64 {
        return Err(format!("memory size {s:?} is too small: the kernel needs at least 64M"));
    }
    Ok(s.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virt_command_matches_the_readme() {
        let mut c = QemuConfig::new(Machine::Virt, "target/images/virt/kernel.elf");
        c.console = Console::Terminal;
        let line = c.shell_line();
        assert!(line.starts_with("qemu-system-aarch64 -M virt -cpu cortex-a72"), "{line}");
        assert!(line.contains("-serial mon:stdio"));
        assert!(line.ends_with("-kernel target/images/virt/kernel.elf"));
    }

    #[test]
    fn entry_levels_and_options() {
        let mut c = QemuConfig::new(Machine::Virt, "k");
        c.el = EntryEl::El3;
        c.smp = Some(4);
        c.mem = Some("3G".into());
        c.semihosting = true;
        c.append = Some("loglevel=debug".into());
        let a = c.args();
        let has = |pair: [&str; 2]| a.windows(2).any(|w| w[0] == pair[0] && w[1] == pair[1]);
        assert!(has(["-M", "virt,secure=on"]));
        assert!(has(["-smp", "4"]));
        assert!(has(["-m", "3G"]));
        assert!(has(["-append", "loglevel=debug"]));
        assert!(a.contains(&"-semihosting".to_string()));
    }

    #[test]
    fn raspi3_mini_uart_is_the_second_serial_port() {
        let mut c = QemuConfig::new(Machine::Raspi3, "kernel8.img");
        c.mini_uart = true;
        let a = c.args().join(" ");
        assert!(a.contains("-M raspi3b"));
        assert!(a.contains("-serial null -serial stdio"), "{a}");
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_mem("128M").unwrap(), "128M");
        assert_eq!(parse_mem("3g").unwrap(), "3G");
        assert_eq!(parse_mem("1024").unwrap(), "1024");
        for bad in ["", "M", "12X", "1.5G", "-1G", "32M", "1GG"] {
            assert!(parse_mem(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn machine_names() {
        assert_eq!("virt".parse::<Machine>().unwrap(), Machine::Virt);
        assert_eq!("raspi3b".parse::<Machine>().unwrap(), Machine::Raspi3);
        assert!("x86".parse::<Machine>().unwrap_err().contains("virt or raspi3"));
    }
}
