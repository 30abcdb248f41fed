//! The serial console: `print!`/`println!` on whichever UART the platform chose.

use core::fmt::{self, Write};
use spin::Mutex;

/// A character device the console can print through.
pub trait ConsoleDevice: Sync {
    /// Send one byte, waiting for room in the transmitter.
    fn putc(&self, byte: u8);
    /// A received byte, if one is waiting.
    fn getc(&self) -> Option<u8>;
}

static CONSOLE: Mutex<Option<&'static dyn ConsoleDevice>> = Mutex::new(None);

/// Route console output to `dev`.
pub fn set_device(dev: &'static dyn ConsoleDevice) {
    *CONSOLE.lock() = Some(dev);
}

struct Writer<'a>(&'a dyn ConsoleDevice);

/// Send bytes, turning LF into CR LF (what serial terminals want).
fn put_bytes(dev: &dyn ConsoleDevice, bytes: &[u8]) {
    for &b in bytes {
        if b == b'\n' {
            dev.putc(b'\r');
        }
        dev.putc(b);
    }
}

impl Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        put_bytes(self.0, s.as_bytes());
        Ok(())
    }
}

/// Write raw bytes (a user's `putstr`), with the same line ending rule.
pub fn write_bytes(bytes: &[u8]) {
    let guard = crate::arch::IrqGuard::new();
    if let Some(dev) = *CONSOLE.lock() {
        put_bytes(dev, bytes);
    }
    drop(guard);
}

/// A received console byte, if one is waiting.
pub fn getc() -> Option<u8> {
    let dev = *CONSOLE.lock();
    dev.and_then(|d| d.getc())
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    let guard = crate::arch::IrqGuard::new();
    if let Some(dev) = *CONSOLE.lock() {
        let _ = Writer(dev).write_fmt(args);
    }
    drop(guard);
}

/// Print from a path that may have interrupted a holder of the console lock
/// (a fault or a panic). Takes the lock if it can and otherwise prints anyway:
/// a garbled line beats a silent hang.
pub fn emergency_println(args: fmt::Arguments) {
    if CONSOLE.is_locked() {
        // SAFETY: the holder is the code this fault or panic interrupted on
        // this CPU, and it will never resume; the protected value is a plain
        // pointer written only during early boot, so it is consistent.
        unsafe { CONSOLE.force_unlock() };
    }
    let dev = *CONSOLE.lock();
    if let Some(dev) = dev {
        let _ = Writer(dev).write_fmt(format_args!("{args}\n"));
    }
}

/// Print to the console.
#[allow(unused_macros)]
macro_rules! print {
    ($($arg:tt)*) => ($crate::console::_print(format_args!($($arg)*)));
}

/// Print a line to the console.
macro_rules! println {
    () => (print!("\n"));
    ($($arg:tt)*) => ($crate::console::_print(format_args!("{}\n", format_args!($($arg)*))));
}
