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
pub mod grade;
pub mod judge;
pub mod qemu;
pub mod runner;

use std::path::Path;
use std::time::Duration;

/// Run the autograder for `machine`: the test image for `line` checkpoints,
/// a scripted shell session on the normal image for `shell` ones. Returns
/// the marks and the two runs' outputs (for reports).
pub fn grade_machine(
    images: &Path,
    machine: qemu::Machine,
    checkpoints: &[grade::Checkpoint],
) -> Result<(Vec<grade::Mark>, runner::RunOutput, Option<runner::RunOutput>), String> {
    let image = |test: bool| images.join(machine.name()).join(machine.image_name(test));
    let mut test = qemu::QemuConfig::new(machine, image(true));
    test.semihosting = true;
    if machine == qemu::Machine::Virt {
        test.smp = Some(2);
    }
    let test_run = runner::run(&test, &runner::Until::Exit, Duration::from_secs(600))?;
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
        Some(runner::run(&normal, &runner::Until::Script { steps, settle: Duration::from_secs(2) }, Duration::from_secs(300))?)
    };
    let marks = grade::score(checkpoints, Some(&test_run), shell_run.as_ref());
    Ok((marks, test_run, shell_run))
}
