//! The host side of the UART chainloader: talk to `boot/chainloader` over a
//! serial device (a USB-serial adapter, or QEMU's `-serial pty`).

use chcore_abi::chainload::{header, READY};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A serial line, with everything received kept in `received`.
pub struct Serial {
    port: File,
    /// All bytes received so far.
    pub received: Arc<Mutex<Vec<u8>>>,
}

impl Serial {
    /// Open `path` at 115200 8N1, raw. With `echo`, received bytes are also
    /// copied to our standard output.
    pub fn open(path: &str, echo: bool) -> Result<Serial, String> {
        let ok = Command::new("stty")
            .args([
                "-F", path, "115200", "raw", "-echo", "-echoe", "-echok", "-ixon", "-ixoff", "cs8", "-cstopb",
                "-parenb",
            ])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Err(format!("cannot set up {path} (stty failed): is it a serial device you may use?"));
        }
        let port = OpenOptions::new().read(true).write(true).open(path).map_err(|e| format!("{path}: {e}"))?;
        let mut reader = port.try_clone().map_err(|e| e.to_string())?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
                if echo {
                    let mut out = std::io::stdout();
                    let _ = out.write_all(&buf[..n]);
                    let _ = out.flush();
                }
            }
        });
        Ok(Serial { port, received })
    }

    /// Wait until `pattern` appears at or after byte `from`; returns the
    /// position just past it.
    pub fn wait_for(&self, pattern: &[u8], from: usize, timeout: Duration) -> Result<usize, String> {
        let start = Instant::now();
        loop {
            {
                let r = self.received.lock().unwrap();
                if let Some(at) = r.get(from..).and_then(|tail| tail.windows(pattern.len()).position(|w| w == pattern))
                {
                    return Ok(from + at + pattern.len());
                }
            }
            if start.elapsed() > timeout {
                return Err(format!("timed out waiting for {:?}", String::from_utf8_lossy(pattern)));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Bytes received so far.
    pub fn len(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// Whether nothing was received yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Send bytes.
    pub fn write(&mut self, data: &[u8]) -> Result<(), String> {
        for chunk in data.chunks(4096) {
            self.port.write_all(chunk).map_err(|e| e.to_string())?;
        }
        self.port.flush().map_err(|e| e.to_string())
    }

    /// Wait for the loader, send `image`, return the loader's verdict line.
    /// With `corrupt`, the checksum is wrong on purpose (to test refusal).
    pub fn send_image(&mut self, image: &[u8], corrupt: bool, timeout: Duration) -> Result<String, String> {
        let from = self.len().saturating_sub(READY.len());
        let ready = self.wait_for(READY, from, timeout)?;
        let mut h = header(image);
        if corrupt {
            h[8] ^= 0xFF;
        }
        self.write(&h)?;
        self.write(image)?;
        let at = self.wait_for(b"[chainloader] ", ready, timeout)?;
        let end = self.wait_for(b"\n", at, timeout)?;
        let r = self.received.lock().unwrap();
        Ok(String::from_utf8_lossy(&r[at..end]).trim().to_string())
    }
}
