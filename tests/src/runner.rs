//! Run QEMU with a deadline and capture what the guest prints.

use crate::qemu::QemuConfig;
use std::io::Read;
use std::process::{Child, Stdio};
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
    /// carriage return. Then wait `settle` and stop QEMU.
    Script {
        /// The steps.
        steps: Vec<(String, String)>,
        /// How long to keep watching after the last step.
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

/// What a run produced.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// Everything QEMU wrote to stdout and stderr (serial console first).
    pub output: String,
    /// QEMU's exit code if it exited by itself.
    pub exit_code: Option<i32>,
    /// The deadline passed before the run was over.
    pub timed_out: bool,
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

fn pump(mut from: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>, log: Option<(Instant, ArrivalLog)>) -> thread::JoinHandle<()> {
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

/// Boot `config`, wait as `until` says, never longer than `timeout`.
pub fn run(config: &QemuConfig, until: &Until, timeout: Duration) -> Result<RunOutput, String> {
    let start = Instant::now();
    let mut child = config
        .command()
        .stdin(if matches!(until, Until::Script { .. }) { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", crate::qemu::QEMU))?;
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
    let mut timed_out = false;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            exit_code = status.code();
            break;
        }
        if start.elapsed() > timeout {
            timed_out = true;
            stop(&mut child);
            break;
        }
        if let Until::Script { steps, settle } = until {
            let text = String::from_utf8_lossy(&out.lock().unwrap()).to_string();
            match steps.get(step) {
                Some((prompt, line)) => {
                    if let Some(at) = text.get(search_from..).and_then(|t| t.find(prompt.as_str())) {
                        search_from += at + prompt.len();
                        if let Some(s) = stdin.as_mut() {
                            use std::io::Write;
                            // Type it like a person would: a character at a time.
                            for b in line.bytes().chain([b'\r']) {
                                let _ = s.write_all(&[b]);
                                let _ = s.flush();
                                thread::sleep(Duration::from_millis(5));
                            }
                        }
                        step += 1;
                    }
                }
                None => match seen_at {
                    None => seen_at = Some(Instant::now()),
                    Some(t) if t.elapsed() >= *settle => {
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
                    stop(&mut child);
                    break;
                }
                _ => {}
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
    for r in readers {
        let _ = r.join();
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
    Ok(RunOutput { output, exit_code, timed_out, elapsed: start.elapsed(), arrivals })
}
