//! Run QEMU and capture what the guest prints, for as long as it makes
//! progress.
//!
//! A run is judged by what it printed, never by how fast: it may go on as
//! long as output keeps coming (each stretch of silence at most
//! [`Patience::silence`]) up to a generous [`Patience::ceiling`] for the
//! whole run. A busy host makes a run slower, not wrong; a run that stops
//! making progress is reported as timed out, apart from one that finished
//! without what was expected.

use crate::qemu::QemuConfig;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// When a run is over.
#[derive(Clone, Debug)]
pub enum Until {
    /// QEMU exits by itself (the test image ends with a semihosting exit).
    Exit,
    /// Type into the console: for each (prompt, line), wait until `prompt`
    /// appears again after what was typed before, then send `line` and a
    /// carriage return. After the last line, wait for its prompt once more
    /// (the last command has finished), then `settle`, and stop QEMU.
    Script {
        /// The steps.
        steps: Vec<(String, String)>,
        /// How long to keep watching once the last command has finished.
        settle: Duration,
    },
    /// `line` appears on the console; then wait `settle` more to see that the
    /// system stays up, and stop QEMU.
    LineThenSettle {
        /// Text to wait for.
        line: String,
        /// How long to keep watching after it appears.
        settle: Duration,
    },
}

/// How long a run may take: it is stopped as timed out after `silence`
/// with no output, or after `ceiling` in all.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Patience {
    /// The longest stretch without output.
    pub silence: Duration,
    /// The longest run.
    pub ceiling: Duration,
}

/// The environment variable that scales every [`Patience`] (a factor such
/// as `3` for a slow or loaded machine, `0.5` to fail fast).
pub const PATIENCE_VAR: &str = "CHCORE_PATIENCE";

impl Patience {
    /// `silence` without output, `ceiling` in all.
    pub fn new(silence: Duration, ceiling: Duration) -> Patience {
        Patience { silence, ceiling }
    }

    /// One deadline for the whole run, however chatty (benchmarks, fixed-length tests).
    pub fn fixed(limit: Duration) -> Patience {
        Patience { silence: limit, ceiling: limit }
    }

    /// Both limits times `factor`.
    pub fn scaled(self, factor: f64) -> Patience {
        Patience { silence: self.silence.mul_f64(factor), ceiling: self.ceiling.mul_f64(factor) }
    }

    /// Scaled by [`PATIENCE_VAR`] if it is set (an error if it is not a
    /// positive number).
    pub fn from_env(self) -> Result<Patience, String> {
        match std::env::var(PATIENCE_VAR) {
            Ok(v) => parse_factor(&v).map(|f| self.scaled(f)),
            Err(_) => Ok(self),
        }
    }
}

/// A patience factor as people write it: a positive number.
pub fn parse_factor(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 && f <= 1000.0 => Ok(f),
        _ => Err(format!("bad patience factor {s:?}: expected a positive number such as 2 or 0.5")),
    }
}

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ended {
    /// QEMU exited by itself.
    Exited,
    /// The run was over as `Until` says (and QEMU was stopped).
    Done,
    /// No output for this long: stopped.
    Silent(Duration),
    /// The run went on for this long in all: stopped.
    Ceiling(Duration),
}

impl Ended {
    /// Stopped for lack of progress (or time), not over.
    pub fn timed_out(self) -> bool {
        matches!(self, Ended::Silent(_) | Ended::Ceiling(_))
    }
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Exited => f.write_str("QEMU exited"),
            Ended::Done => f.write_str("the run was over"),
            Ended::Silent(d) => write!(f, "no output for {:.0} s", d.as_secs_f64()),
            Ended::Ceiling(d) => write!(f, "still running after {:.0} s", d.as_secs_f64()),
        }
    }
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// Everything QEMU wrote to stdout and stderr (serial console first).
    pub output: String,
    /// QEMU's exit code if it exited by itself.
    pub exit_code: Option<i32>,
    /// The run was stopped before it was over (see `ended`).
    pub timed_out: bool,
    /// Why it ended.
    pub ended: Ended,
    /// Wall-clock duration.
    pub elapsed: Duration,
    /// (seconds into the run, bytes of output received by then), for
    /// telling when a line appeared.
    pub arrivals: Vec<(f64, usize)>,
}

impl RunOutput {
    /// Seconds into the run when `text` had appeared, if it did.
    pub fn time_of(&self, text: &str) -> Option<f64> {
        let end = self.output.find(text)? + text.len();
        Some(self.arrivals.iter().find(|(_, len)| *len >= end).map_or(self.elapsed.as_secs_f64(), |(t, _)| *t))
    }
}

/// Arrival times of output: (seconds since start, bytes received).
type ArrivalLog = Arc<Mutex<Vec<(f64, usize)>>>;

fn pump(
    mut from: impl Read + Send + 'static,
    into: Arc<Mutex<Vec<u8>>>,
    log: Option<(Instant, ArrivalLog)>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            let mut v = into.lock().unwrap();
            v.extend_from_slice(&buf[..n]);
            if let Some((start, log)) = &log {
                log.lock().unwrap().push((start.elapsed().as_secs_f64(), v.len()));
            }
        }
    })
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Boot `config`, wait as `until` says, as long as `patience` allows.
pub fn run(config: &QemuConfig, until: &Until, patience: Patience) -> Result<RunOutput, String> {
    run_command(config.command(), until, patience)
}

/// A script step that starts with this (Ctrl-V, "the next key literally")
/// is pasted: the rest goes to the serial line in one write, not a key at
/// a time.
pub const PASTE: char = '\u{16}';

/// Run `cmd` (QEMU, or a stand-in in tests) as [`run`] does.
pub fn run_command(mut cmd: Command, until: &Until, patience: Patience) -> Result<RunOutput, String> {
    let start = Instant::now();
    let mut child = cmd
        .stdin(if matches!(until, Until::Script { .. }) { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let out = Arc::new(Mutex::new(Vec::new()));
    let err = Arc::new(Mutex::new(Vec::new()));
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let readers = [
        pump(child.stdout.take().expect("piped stdout"), out.clone(), Some((start, arrivals.clone()))),
        pump(child.stderr.take().expect("piped stderr"), err.clone(), None),
    ];
    let mut stdin = child.stdin.take();
    let mut step = 0usize;
    let mut search_from = 0usize;
    let mut seen_at: Option<Instant> = None;
    let mut exit_code = None;
    let mut last_len = 0usize;
    let mut last_progress = Instant::now();
    let ended;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            exit_code = status.code();
            ended = Ended::Exited;
            break;
        }
        let len = out.lock().unwrap().len();
        if len != last_len {
            last_len = len;
            last_progress = Instant::now();
        }
        if start.elapsed() > patience.ceiling {
            ended = Ended::Ceiling(patience.ceiling);
            stop(&mut child);
            break;
        }
        if last_progress.elapsed() > patience.silence {
            ended = Ended::Silent(patience.silence);
            stop(&mut child);
            break;
        }
        if let Until::Script { steps, settle } = until {
            let text = String::from_utf8_lossy(&out.lock().unwrap()).to_string();
            let found = |prompt: &str, from: usize| {
                text.get(from..).and_then(|t| t.find(prompt)).map(|at| from + at + prompt.len())
            };
            match steps.get(step) {
                Some((prompt, line)) => {
                    if let Some(end) = found(prompt, search_from) {
                        search_from = end;
                        if let Some(s) = stdin.as_mut() {
                            use std::io::Write;
                            if let Some(block) = line.strip_prefix(PASTE) {
                                // Pasted: all of it in one write.
                                let _ = s.write_all(format!("{block}\r").as_bytes());
                                let _ = s.flush();
                            } else {
                                // Type it like a person would: a character at a time.
                                for b in line.bytes().chain([b'\r']) {
                                    let _ = s.write_all(&[b]);
                                    let _ = s.flush();
                                    thread::sleep(Duration::from_millis(5));
                                }
                            }
                        }
                        step += 1;
                    }
                }
                // The last command has finished when its prompt comes back.
                None => match seen_at {
                    None if steps.last().is_none_or(|(prompt, _)| found(prompt, search_from).is_some()) => {
                        seen_at = Some(Instant::now())
                    }
                    Some(t) if t.elapsed() >= *settle => {
                        ended = Ended::Done;
                        stop(&mut child);
                        break;
                    }
                    _ => {}
                },
            }
        }
        if let Until::LineThenSettle { line, settle } = until {
            match seen_at {
                None if String::from_utf8_lossy(&out.lock().unwrap()).contains(line.as_str()) => {
                    seen_at = Some(Instant::now())
                }
                Some(t) if t.elapsed() >= *settle => {
                    ended = Ended::Done;
                    stop(&mut child);
                    break;
                }
                _ => {}
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
    // The pipes close when QEMU is gone. A stopped stand-in's children may
    // hold them open longer, and what they print after the stop is not the
    // run's anyway: those readers get a second, then are left behind.
    let waited = Instant::now();
    for r in readers {
        while ended != Ended::Exited && !r.is_finished() && waited.elapsed() < Duration::from_secs(1) {
            thread::sleep(Duration::from_millis(10));
        }
        if ended == Ended::Exited || r.is_finished() {
            let _ = r.join();
        }
    }
    let mut output = String::from_utf8_lossy(&out.lock().unwrap()).replace("\r\n", "\n");
    let stderr = String::from_utf8_lossy(&err.lock().unwrap()).to_string();
    if !stderr.is_empty() {
        output.push_str("\n[qemu stderr]\n");
        output.push_str(&stderr);
    }
    // Arrival offsets count raw bytes while `output` has CR LF turned into
    // LF, so a time can be a little early: good enough for a score table.
    let arrivals = arrivals.lock().unwrap().clone();
    Ok(RunOutput { output, exit_code, timed_out: ended.timed_out(), ended, elapsed: start.elapsed(), arrivals })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    fn patience(silence_ms: u64, ceiling_ms: u64) -> Patience {
        Patience::new(Duration::from_millis(silence_ms), Duration::from_millis(ceiling_ms))
    }

    #[test]
    fn a_slow_run_that_keeps_talking_is_not_cut_off() {
        // Three seconds in all, never more than 0.3 s silent: longer than
        // the silence limit, well inside the ceiling.
        let r = run_command(
            sh("for i in 1 2 3 4 5 6 7 8 9 10; do echo $i; sleep 0.3; done"),
            &Until::Exit,
            patience(1500, 30_000),
        )
        .unwrap();
        assert_eq!(r.ended, Ended::Exited);
        assert!(!r.timed_out);
        assert!(r.output.contains("10\n"), "{}", r.output);
    }

    #[test]
    fn a_silent_run_is_stopped_and_says_why() {
        let r = run_command(sh("echo first; sleep 30; echo never"), &Until::Exit, patience(700, 30_000)).unwrap();
        assert_eq!(r.ended, Ended::Silent(Duration::from_millis(700)));
        assert!(r.timed_out);
        assert!(r.output.contains("first") && !r.output.contains("never"));
        assert!(r.elapsed < Duration::from_secs(20), "stopped early: {:?}", r.elapsed);
    }

    #[test]
    fn a_chatty_run_still_meets_the_ceiling() {
        let r =
            run_command(sh("while true; do echo tick; sleep 0.05; done"), &Until::Exit, patience(5000, 800)).unwrap();
        assert_eq!(r.ended, Ended::Ceiling(Duration::from_millis(800)));
        assert!(r.timed_out);
    }

    /// A shell stand-in that takes `delay` seconds per command (a line
    /// ends with the carriage return the runner types, as at a terminal).
    fn slow_shell(delay: &str) -> Command {
        sh(&format!(
            "cr=$(printf '\\r'); line=''; printf '$ '; \
             while c=$(dd bs=1 count=1 2>/dev/null) && [ -n \"$c\" ]; do \
               if [ \"$c\" = \"$cr\" ]; then sleep {delay}; echo \"ran $line\"; printf '$ '; line=''; \
               else line=\"$line$c\"; fi; \
             done"
        ))
    }

    #[test]
    fn a_script_waits_for_its_last_command_however_slow() {
        // Each command takes 1 s, five times the settle time: the run still
        // ends only after the last one has printed and prompted.
        let steps = vec![("$ ".to_string(), "one".to_string()), ("$ ".to_string(), "two".to_string())];
        let until = Until::Script { steps, settle: Duration::from_millis(200) };
        let r = run_command(slow_shell("1"), &until, patience(5000, 30_000)).unwrap();
        assert_eq!(r.ended, Ended::Done);
        assert!(r.output.contains("ran one") && r.output.contains("ran two"), "{}", r.output);
    }

    #[test]
    fn a_script_whose_command_never_returns_times_out() {
        let steps = vec![("$ ".to_string(), "one".to_string())];
        let until = Until::Script { steps, settle: Duration::from_millis(200) };
        let r = run_command(slow_shell("30"), &until, patience(800, 30_000)).unwrap();
        assert!(r.timed_out, "{:?}", r.ended);
        assert!(!r.output.contains("ran one"));
    }

    #[test]
    fn patience_factors() {
        assert_eq!(parse_factor("2").unwrap(), 2.0);
        assert_eq!(parse_factor(" 0.5 ").unwrap(), 0.5);
        for bad in ["", "0", "-1", "x", "inf", "NaN", "1e9"] {
            assert!(parse_factor(bad).is_err(), "{bad:?} accepted");
        }
        let p = patience(1000, 10_000).scaled(3.0);
        assert_eq!(p, patience(3000, 30_000));
    }
}
