//! The lab autograder: checkpoints from a data file, matched anywhere in a
//! run's serial output (so a slow but correct kernel loses nothing), scored
//! per lab. No clock decides a checkpoint: a run goes on while it makes
//! progress (`runner::Patience`), and a checkpoint that did not appear is
//! reported `TIMED OUT` when its run was stopped for lack of progress,
//! `MISSING` when the run finished without it.

use crate::runner::RunOutput;

/// How a checkpoint is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The text appears in the test image's output.
    Line,
    /// `command` typed at the shell prints `expect`.
    Shell {
        /// What to type.
        command: String,
    },
}

/// One checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Lab number.
    pub lab: u32,
    /// Points it is worth.
    pub points: u32,
    /// How it is checked.
    pub kind: Kind,
    /// The text that must appear.
    pub expect: String,
}

/// Parse the checkpoint file.
pub fn parse(text: &str) -> Result<Vec<Checkpoint>, String> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| format!("checkpoints line {}: {why}: {raw:?}", n + 1);
        let mut rest = line;
        let mut field = || -> Option<&str> {
            let t = rest.trim_start();
            let end = t.find(char::is_whitespace).unwrap_or(t.len());
            let (f, r) = t.split_at(end);
            rest = r;
            (!f.is_empty()).then_some(f)
        };
        let lab = field().and_then(|f| f.parse().ok()).ok_or_else(|| bad("lab is not a number"))?;
        let points = field().and_then(|f| f.parse().ok()).ok_or_else(|| bad("points is not a number"))?;
        let kind = field().ok_or_else(|| bad("no kind"))?;
        let text = rest.trim();
        if text.is_empty() {
            return Err(bad("no text"));
        }
        let (kind, expect) = match kind {
            "line" => (Kind::Line, text.to_string()),
            "shell" => {
                let (cmd, want) =
                    text.rsplit_once(" -> ").ok_or_else(|| bad("a shell checkpoint needs `COMMAND -> EXPECTED`"))?;
                (Kind::Shell { command: cmd.trim().to_string() }, want.trim().to_string())
            }
            _ => return Err(bad("kind must be `line` or `shell`")),
        };
        out.push(Checkpoint { lab, points, kind, expect });
    }
    Ok(out)
}

/// What became of one checkpoint.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    /// Its text appeared, this many seconds into the run.
    Found(f64),
    /// The run that should show it was over, without it.
    Missing,
    /// The run that should show it was stopped (no progress, or the
    /// ceiling) before it appeared.
    TimedOut,
}

/// The result of one checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// What became of it.
    pub outcome: Outcome,
}

impl Mark {
    /// Whether it earned its points.
    pub fn passed(&self) -> bool {
        matches!(self.outcome, Outcome::Found(_))
    }
}

/// Match every checkpoint: `Line`s anywhere in either run (the test image
/// or the shell session), `Shell`s in the shell session.
pub fn score(checkpoints: &[Checkpoint], test_run: Option<&RunOutput>, shell_run: Option<&RunOutput>) -> Vec<Mark> {
    let find = |run: Option<&RunOutput>, text: &str| run.and_then(|r| r.time_of(text));
    let cut_short = |run: Option<&RunOutput>| run.is_some_and(|r| r.timed_out);
    checkpoints
        .iter()
        .map(|c| {
            let (at, runs) = match c.kind {
                Kind::Line => (find(test_run, &c.expect).or_else(|| find(shell_run, &c.expect)), [test_run, shell_run]),
                Kind::Shell { .. } => (find(shell_run, &c.expect), [shell_run, None]),
            };
            let outcome = match at {
                Some(t) => Outcome::Found(t),
                None if runs.iter().any(|r| cut_short(*r)) => Outcome::TimedOut,
                None => Outcome::Missing,
            };
            Mark { checkpoint: c.clone(), outcome }
        })
        .collect()
}

/// (points got, points possible).
pub fn totals(marks: &[Mark]) -> (u32, u32) {
    let got = marks.iter().filter(|m| m.passed()).map(|m| m.checkpoint.points).sum();
    let total = marks.iter().map(|m| m.checkpoint.points).sum();
    (got, total)
}

/// The score table, ending with `Score: <got>/<total>`.
pub fn table(marks: &[Mark]) -> String {
    let mut s = format!("{:<4} {:<52} {:>6}  {:<8} {:>7}\n", "lab", "checkpoint", "points", "result", "seconds");
    for m in marks {
        let name = match &m.checkpoint.kind {
            Kind::Line => m.checkpoint.expect.clone(),
            Kind::Shell { command } => format!("$ {command}"),
        };
        let name: String =
            if name.chars().count() > 52 { name.chars().take(49).chain("...".chars()).collect() } else { name };
        let (result, secs) = match m.outcome {
            Outcome::Found(t) => ("OK", format!("{t:.1}")),
            Outcome::Missing => ("MISSING", "-".to_string()),
            Outcome::TimedOut => ("TIMED OUT", "-".to_string()),
        };
        s.push_str(&format!(
            "{:<4} {:<52} {:>6}  {:<8} {:>7}\n",
            m.checkpoint.lab, name, m.checkpoint.points, result, secs
        ));
    }
    let (got, total) = totals(marks);
    if marks.iter().any(|m| m.outcome == Outcome::TimedOut) {
        s.push_str(&format!(
            "TIMED OUT: a run stopped making progress before these appeared; on a slow or busy machine set {}=3 (or pass --patience 3) and grade again\n",
            crate::runner::PATIENCE_VAR
        ));
    }
    s.push_str(&format!("Score: {got}/{total}\n"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Ended;
    use std::time::Duration;

    fn run(text: &str) -> RunOutput {
        RunOutput {
            output: text.to_string(),
            exit_code: Some(0),
            timed_out: false,
            ended: Ended::Exited,
            elapsed: Duration::from_secs(3),
            arrivals: vec![(1.5, text.len())],
        }
    }

    fn cut_short(text: &str) -> RunOutput {
        RunOutput { timed_out: true, ended: Ended::Silent(Duration::from_secs(60)), ..run(text) }
    }

    #[test]
    fn parses_the_file_format() {
        let cps = parse("# comment\n\n1 10 line [BOOT] Jump to kernel main\n5 5 shell echo a | cat -> a\n").unwrap();
        assert_eq!(cps.len(), 2);
        assert_eq!(
            cps[0],
            Checkpoint { lab: 1, points: 10, kind: Kind::Line, expect: "[BOOT] Jump to kernel main".into() }
        );
        assert_eq!(cps[1].kind, Kind::Shell { command: "echo a | cat".into() });
        assert_eq!(cps[1].expect, "a");
        for bad in ["x 1 line a", "1 y line a", "1 1 word a", "1 1 line", "1 1 shell no arrow"] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_real_checkpoint_file_parses() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/checkpoints.txt")).unwrap();
        let cps = parse(&text).unwrap();
        assert!(cps.len() > 20);
        assert!(cps.iter().any(|c| matches!(c.kind, Kind::Shell { .. })));
    }

    #[test]
    fn a_missing_checkpoint_costs_its_points_and_says_so() {
        let cps = parse("1 10 line alpha\n1 5 line beta\n2 7 shell x -> gamma\n").unwrap();
        let test_run = run("... alpha ...\n");
        let shell_run = run("$ x\ngamma\n");
        let marks = score(&cps, Some(&test_run), Some(&shell_run));
        assert_eq!(totals(&marks), (17, 22));
        let t = table(&marks);
        assert!(t.contains("beta") && t.contains("MISSING"), "{t}");
        assert!(t.ends_with("Score: 17/22\n"), "{t}");
        assert_eq!(marks[0].outcome, Outcome::Found(1.5));
        assert_eq!(marks[1].outcome, Outcome::Missing);
        // Without a shell run, shell checkpoints are missing, not errors.
        assert_eq!(totals(&score(&cps, Some(&test_run), None)), (10, 22));
    }

    #[test]
    fn a_run_cut_short_reports_timed_out_not_missing() {
        let cps = parse("1 10 line alpha\n1 5 line beta\n2 7 shell x -> gamma\n2 3 shell y -> delta\n").unwrap();
        // The test image stopped talking after alpha; the shell session
        // finished without delta.
        let marks = score(&cps, Some(&cut_short("alpha\n")), Some(&run("$ x\ngamma\n$ y\n$ ")));
        let outcomes: Vec<Outcome> = marks.iter().map(|m| m.outcome).collect();
        assert_eq!(outcomes, [Outcome::Found(1.5), Outcome::TimedOut, Outcome::Found(1.5), Outcome::Missing]);
        assert_eq!(totals(&marks), (17, 25));
        let t = table(&marks);
        assert!(t.contains("TIMED OUT") && t.contains("MISSING") && t.contains("CHCORE_PATIENCE"), "{t}");
        // A slow run that got there is full marks, however late.
        let late = RunOutput { elapsed: Duration::from_secs(500), arrivals: vec![(499.0, 100)], ..run("alpha beta") };
        let marks = score(&cps[..2], Some(&late), None);
        assert_eq!(totals(&marks), (15, 15));
    }
}
