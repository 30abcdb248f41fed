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

/// A check of a run's whole output: `Err` says why it fails.
pub type Check = fn(&str) -> Result<(), String>;

/// What a passing run looks like.
#[derive(Clone, Debug)]
pub struct Expectation {
    /// Every one of these must appear, as a whole line or part of one.
    pub lines: Vec<String>,
    /// None of these may appear.
    pub forbidden: Vec<String>,
    /// How QEMU must end.
    pub ending: Ending,
    /// A check of the whole output beyond lines (`None`: none).
    pub check: Option<Check>,
}

impl Expectation {
    /// Expect `lines`, no failure markers, and `ending`.
    pub fn new<S: AsRef<str>>(lines: &[S], ending: Ending) -> Self {
        Expectation {
            lines: lines.iter().map(|s| s.as_ref().to_string()).collect(),
            forbidden: FAILURE_MARKERS.iter().map(|s| s.to_string()).collect(),
            ending,
            check: None,
        }
    }

    /// Also require `check` of the whole output to pass.
    pub fn checking(mut self, check: Check) -> Self {
        self.check = Some(check);
        self
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
        (_, _, true) => why.push(format!("timed out after {:.1}s ({})", run.elapsed.as_secs_f64(), run.ended)),
        (Ending::Exit(want), Some(got), _) if *want == got => {}
        (Ending::Exit(want), got, _) => why.push(format!("exit status {got:?}, expected {want}")),
        (Ending::StillRunning, None, _) => {}
        (Ending::StillRunning, Some(code), _) => why.push(format!("QEMU exited with {code} instead of staying up")),
    }
    if let Some(Err(e)) = exp.check.map(|c| c(&run.output)) {
        why.push(e);
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(why)
    }
}

/// Most kernel entries a second, all CPUs together, that an idle system at
/// the prompt may make (issue 14's goal).
pub const IDLE_ENTRIES_MAX: u64 = 50;

/// Kernel entries per second, all CPUs together, in the last CPU table
/// `top` printed (its `ENTRIES/s` column), and the number of CPU rows.
pub fn top_entries(output: &str) -> Option<(u64, usize)> {
    let table = output.rsplit("CPU  IDLE%  ENTRIES/s").next().filter(|_| output.contains("CPU  IDLE%  ENTRIES/s"))?;
    let mut total = 0;
    let mut rows = 0;
    for line in table.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // "cpu idle% entries irqs switches"
        let [cpu, _, entries, _, _] = cols[..] else { break };
        if cpu.parse::<u64>().is_err() {
            break;
        }
        total += entries.parse::<u64>().ok()?;
        rows += 1;
    }
    (rows > 0).then_some((total, rows))
}

/// The run's last `top` table shows an idle system: fewer than
/// [`IDLE_ENTRIES_MAX`] kernel entries a second in all.
pub fn idle_system(output: &str) -> Result<(), String> {
    match top_entries(output) {
        None => Err("no CPU table from top in the output".into()),
        Some((n, cpus)) if n >= IDLE_ENTRIES_MAX => {
            Err(format!("idle system: {n} kernel entries/s on {cpus} CPUs (at most {} allowed)", IDLE_ENTRIES_MAX - 1))
        }
        Some(_) => Ok(()),
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
        let ended = match (exit_code, timed_out) {
            (_, true) => crate::runner::Ended::Ceiling(Duration::from_secs(1)),
            (Some(_), false) => crate::runner::Ended::Exited,
            (None, false) => crate::runner::Ended::Done,
        };
        RunOutput {
            output: output.to_string(),
            exit_code,
            timed_out,
            ended,
            elapsed: Duration::from_secs(1),
            arrivals: vec![],
        }
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

    const TOP: &str = "$ top -n 1 -d 300\ntop: 4 CPUs, up 0:00:05, 3 processes\nCPU  IDLE%  ENTRIES/s  IRQS/s  SWITCHES/s\n  0   99.9          3       1           2\n  1  100.0          0       0           0\n  2  100.0         12       0           0\n  3  100.0          0       0           0\n  PID  PPID  CPU%  MEM(KiB)  STATE    NAME\n    1     0   0.0       428  running  procmgr\n$ ";

    #[test]
    fn reads_tops_cpu_table() {
        assert_eq!(top_entries(TOP), Some((15, 4)));
        assert!(idle_system(TOP).is_ok());
        let busy = TOP.replace("         12       0", "        212       0");
        assert_eq!(top_entries(&busy), Some((215, 4)));
        assert!(idle_system(&busy).unwrap_err().contains("215 kernel entries/s on 4 CPUs"));
        assert!(idle_system("$ top\ntop: no counters\n").is_err(), "no table is a failure");
        let e = Expectation::new(&["top:"], Ending::StillRunning).checking(idle_system);
        assert!(judge(&run(&busy, None, false), &e).is_err());
        assert!(judge(&run(TOP, None, false), &e).is_ok());
    }

    #[test]
    fn tail_keeps_the_end() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
