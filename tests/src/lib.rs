//! Host-side system tests: boot the kernel in QEMU, read its serial console
//! and judge the output.
//!
//! - [`qemu`] knows how to start each machine (shared with `cargo xtask run`
//!   and `cargo xtask gdb`, so tests boot exactly what people boot);
//! - [`runner`] runs QEMU with a timeout and captures the console;
//! - [`judge`] decides pass or fail from the output and the exit status;
//! - [`cases`] lists the boot tests `cargo xtask test` runs.
#![forbid(unsafe_code)]

pub mod cases;
pub mod chainboot;
pub mod doccheck;
pub mod grade;
pub mod judge;
pub mod qemu;
pub mod runner;

use std::path::Path;
use std::time::Duration;

/// How long the grader's test-image run may be silent, and run in all.
pub const GRADE_TEST_PATIENCE: runner::Patience =
    runner::Patience { silence: Duration::from_secs(120), ceiling: Duration::from_secs(1200) };
/// The same for its shell session (a command that prints nothing for this
/// long has hung).
pub const GRADE_SHELL_PATIENCE: runner::Patience =
    runner::Patience { silence: Duration::from_secs(60), ceiling: Duration::from_secs(600) };

/// Run the autograder for `machine`: the test image for `line` checkpoints,
/// a scripted shell session on the normal image for `shell` ones, each for
/// as long as it makes progress (limits times `patience`). Returns the
/// marks and the two runs' outputs (for reports).
pub fn grade_machine(
    images: &Path,
    machine: qemu::Machine,
    checkpoints: &[grade::Checkpoint],
    patience: f64,
) -> Result<(Vec<grade::Mark>, runner::RunOutput, Option<runner::RunOutput>), String> {
    let image = |test: bool| images.join(machine.name()).join(machine.image_name(test));
    let mut test = qemu::QemuConfig::new(machine, image(true));
    test.semihosting = true;
    if machine == qemu::Machine::Virt {
        test.smp = Some(2);
    }
    let test_run = runner::run(&test, &runner::Until::Exit, GRADE_TEST_PATIENCE.scaled(patience))?;
    let steps: Vec<(String, String)> = checkpoints
        .iter()
        .filter_map(|c| match &c.kind {
            grade::Kind::Shell { command } => Some(("$ ".to_string(), command.clone())),
            grade::Kind::Line => None,
        })
        .collect();
    let shell_run = if steps.is_empty() {
        None
    } else {
        let normal = qemu::QemuConfig::new(machine, image(false));
        let until = runner::Until::Script { steps, settle: Duration::from_millis(500) };
        Some(runner::run(&normal, &until, GRADE_SHELL_PATIENCE.scaled(patience))?)
    };
    let marks = grade::score(checkpoints, Some(&test_run), shell_run.as_ref());
    Ok((marks, test_run, shell_run))
}

/// The labs the lab image covers: every `line` checkpoint of these appears
/// in its one boot.
pub const LAB_IMAGE_LABS: std::ops::RangeInclusive<u32> = 1..=4;

/// How the lab image boots, for our grader and for `make qemu-grade` (a
/// test checks the Makefile says the same): 4 CPUs on both machines, as
/// courses run ChCore on raspi3b.
pub fn lab_config(images: &Path, machine: qemu::Machine) -> qemu::QemuConfig {
    let name = match machine {
        qemu::Machine::Virt => "kernel-lab.elf",
        qemu::Machine::Raspi3 => "kernel8-lab.img",
    };
    let mut c = qemu::QemuConfig::new(machine, images.join(machine.name()).join(name));
    if machine == qemu::Machine::Virt {
        c.smp = Some(4);
        c.mem = Some("1G".into());
    }
    c
}

/// Grade the lab image of `machine`: one boot, up to the shell's banner,
/// scored against the `line` checkpoints of [`LAB_IMAGE_LABS`] among
/// `checkpoints`.
pub fn grade_lab_image(
    images: &Path,
    machine: qemu::Machine,
    checkpoints: &[grade::Checkpoint],
    patience: f64,
) -> Result<(Vec<grade::Mark>, runner::RunOutput), String> {
    let selected: Vec<grade::Checkpoint> = checkpoints
        .iter()
        .filter(|c| c.kind == grade::Kind::Line && LAB_IMAGE_LABS.contains(&c.lab))
        .cloned()
        .collect();
    let until =
        runner::Until::LineThenSettle { line: "Welcome to ChCore shell!".into(), settle: Duration::from_secs(1) };
    let run = runner::run(&lab_config(images, machine), &until, GRADE_TEST_PATIENCE.scaled(patience))?;
    Ok((grade::score(&selected, Some(&run), None), run))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_makefile_boots_the_lab_image_as_the_grader_does() {
        let makefile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Makefile")).unwrap();
        for m in qemu::Machine::ALL {
            let mut c = lab_config(Path::new("target/images"), m);
            c.console = qemu::Console::Terminal;
            let want = format!("QEMU_LAB_{} := {}", m.name(), c.shell_line());
            assert!(makefile.lines().any(|l| l == want), "the Makefile lacks the line\n{want}");
        }
    }
}
