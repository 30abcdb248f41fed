//! The lab autograder: checkpoints from a data file, matched anywhere in a
//! run's serial output (so a slow but correct kernel loses nothing), scored
//! per lab.

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
                let (cmd, want) = text.rsplit_once(" -> ").ok_or_else(|| bad("a shell checkpoint needs `COMMAND -> EXPECTED`"))?;
                (Kind::Shell { command: cmd.trim().to_string() }, want.trim().to_string())
            }
            _ => return Err(bad("kind must be `line` or `shell`")),
        };
        out.push(Checkpoint { lab, points, kind, expect });
    }
    Ok(out)
}

/// The result of one checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// Seconds into the run when its text appeared, if it did.
    pub at: Option<f64>,
}

/// Match every checkpoint: `Line`s anywhere in either run (the test image
/// or the shell session), `Shell`s in the shell session.
pub fn score(checkpoints: &[Checkpoint], test_run: Option<&RunOutput>, shell_run: Option<&RunOutput>) -> Vec<Mark> {
    let find = |run: Option<&RunOutput>, text: &str| run.and_then(|r| r.time_of(text));
    checkpoints
        .iter()
        .map(|c| {
            let at = match c.kind {
                Kind::Line => find(test_run, &c.expect).or_else(|| find(shell_run, &c.expect)),
                Kind::Shell { .. } => find(shell_run, &c.expect),
            };
            Mark { checkpoint: c.clone(), at }
        })
        .collect()
}

/// (points got, points possible).
pub fn totals(marks: &[Mark]) -> (u32, u32) {
    let got = marks.iter().filter(|m| m.at.is_some()).map(|m| m.checkpoint.points).sum();
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
        let name: String = if name.chars().count() > 52 { name.chars().take(49).chain("...".chars()).collect() } else { name };
        let (result, secs) = match m.at {
            Some(t) => ("OK", format!("{t:.1}")),
            None => ("MISSING", "-".to_string()),
        };
        s.push_str(&format!("{:<4} {:<52} {:>6}  {:<8} {:>7}\n", m.checkpoint.lab, name, m.checkpoint.points, result, secs));
    }
    let (got, total) = totals(marks);
    s.push_str(&format!("Score: {got}/{total}\n"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(text: &str) -> RunOutput {
        RunOutput { output: text.to_string(), exit_code: Some(0), timed_out: false, elapsed: Duration::from_secs(3), arrivals: vec![(1.5, text.len())] }
    }

    #[test]
    fn parses_the_file_format() {
        let cps = parse("# comment\n\n1 10 line [BOOT] Jump to kernel main\n5 5 shell echo a | cat -> a\n").unwrap();
        assert_eq!(cps.len(), 2);
        assert_eq!(cps[0], Checkpoint { lab: 1, points: 10, kind: Kind::Line, expect: "[BOOT] Jump to kernel main".into() });
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
        assert_eq!(marks[0].at, Some(1.5));
        // Without a shell run, shell checkpoints are missing, not errors.
        assert_eq!(totals(&score(&cps, Some(&test_run), None)), (10, 22));
    }
}
