//! Pass or fail, from what a run printed and how it ended.

use crate::runner::RunOutput;

/// Lines that mean the kernel failed, whatever else it printed.
pub const FAILURE_MARKERS: &[&str] = &["[FATAL]", "[PANIC]", "FAILED"];

/// How the run must end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// QEMU exited with this code (semihosting exit status).
    Exit(i32),
    /// QEMU was still running when the run ended: the system stayed up.
    StillRunning,
}

/// What a passing run looks like.
#[derive(Clone, Debug)]
pub struct Expectation {
    /// Every one of these must appear, as a whole line or part of one.
    pub lines: Vec<String>,
    /// None of these may appear.
    pub forbidden: Vec<String>,
    /// How QEMU must end.
    pub ending: Ending,
}

impl Expectation {
    /// Expect `lines`, no failure markers, and `ending`.
    pub fn new<S: AsRef<str>>(lines: &[S], ending: Ending) -> Self {
        Expectation {
            lines: lines.iter().map(|s| s.as_ref().to_string()).collect(),
            forbidden: FAILURE_MARKERS.iter().map(|s| s.to_string()).collect(),
            ending,
        }
    }

    /// Allow the failure markers (for tests that provoke a fault).
    pub fn allowing_failures(mut self) -> Self {
        self.forbidden.clear();
        self
    }
}

/// `Ok` if `run` meets `exp`, otherwise every reason it does not.
pub fn judge(run: &RunOutput, exp: &Expectation) -> Result<(), Vec<String>> {
    let mut why = Vec::new();
    for l in &exp.lines {
        if !run.output.contains(l.as_str()) {
            why.push(format!("missing: {l:?}"));
        }
    }
    for f in &exp.forbidden {
        if let Some(line) = run.output.lines().find(|line| line.contains(f.as_str())) {
            why.push(format!("unexpected: {line:?}"));
        }
    }
    match (&exp.ending, run.exit_code, run.timed_out) {
        (_, _, true) => why.push(format!("timed out after {:.1}s", run.elapsed.as_secs_f64())),
        (Ending::Exit(want), Some(got), _) if *want == got => {}
        (Ending::Exit(want), got, _) => why.push(format!("exit status {got:?}, expected {want}")),
        (Ending::StillRunning, None, _) => {}
        (Ending::StillRunning, Some(code), _) => why.push(format!("QEMU exited with {code} instead of staying up")),
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(why)
    }
}

/// The last `n` lines of `output`, for failure reports.
pub fn tail(output: &str, n: usize) -> String {
    let lines: Vec<&str> = output.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(output: &str, exit_code: Option<i32>, timed_out: bool) -> RunOutput {
        RunOutput { output: output.to_string(), exit_code, timed_out, elapsed: Duration::from_secs(1), arrivals: vec![] }
    }

    #[test]
    fn passes_when_everything_is_there() {
        let e = Expectation::new(&["kmalloc: OK", "[BOOT] Jump to kernel main"], Ending::Exit(0));
        assert!(judge(&run("[BOOT] Jump to kernel main\nkmalloc: OK\n", Some(0), false), &e).is_ok());
    }

    #[test]
    fn reports_each_problem() {
        let e = Expectation::new(&["kmalloc: OK", "Map & unmap one page: OK"], Ending::Exit(0));
        let why = judge(&run("kmalloc: OK\nMap & unmap one page: FAILED: x\n", Some(1), false), &e).unwrap_err();
        assert_eq!(why.len(), 3, "{why:?}");
        assert!(why[0].contains("missing"));
        assert!(why[1].contains("unexpected") && why[1].contains("FAILED: x"));
        assert!(why[2].contains("exit status Some(1)"));
    }

    #[test]
    fn endings() {
        let up = Expectation::new(&["x"], Ending::StillRunning);
        assert!(judge(&run("x", None, false), &up).is_ok());
        assert!(judge(&run("x", Some(0), false), &up).is_err(), "exited instead of staying up");
        assert!(judge(&run("x", None, true), &up).is_err(), "timeout is a failure");
        let exit = Expectation::new(&["x"], Ending::Exit(0));
        assert!(judge(&run("x", None, true), &exit).is_err());
    }

    #[test]
    fn provoked_faults_may_print_markers() {
        let e = Expectation::new(&["[FATAL] EC=0x25"], Ending::Exit(1)).allowing_failures();
        assert!(judge(&run("[FATAL] EC=0x25 ESR=...\n", Some(1), false), &e).is_ok());
    }

    #[test]
    fn tail_keeps_the_end() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
