//! The serial console: `print!`/`println!` on whichever UART the platform
//! chose, and its input, which the UART's receive interrupt moves into a
//! buffer (docs/console.md).
//!
//! Input is interrupt-driven so that nobody polls: the interrupt drains the
//! UART's FIFO into [`INPUT_SIZE`] bytes of buffer and notifies a
//! notification that the root process holds (`slot::ROOT_CONSOLE_INPUT`);
//! procmgr waits on it and takes the bytes with `getc`.

use crate::object::notification::Notification;
use alloc::sync::Arc;
use core::fmt::{self, Write};
use kernel_core::text::TextFilter;
use spin::{Mutex, Once};

/// A character device the console can print through.
pub trait ConsoleDevice: Sync {
    /// Send one byte, waiting for room in the transmitter.
    fn putc(&self, byte: u8);
    /// A received byte, if one is waiting.
    fn getc(&self) -> Option<u8>;
    /// Raise the device's interrupt while received bytes wait (and
    /// acknowledge what it raised so far).
    fn enable_rx_interrupt(&self);
}

/// The output device, and the filter that keeps what it sends text
/// (`kernel_core::text`: bytes that are not UTF-8 go out as `\xNN`).
struct Output {
    dev: Option<&'static dyn ConsoleDevice>,
    filter: TextFilter,
}

static CONSOLE: Mutex<Output> = Mutex::new(Output { dev: None, filter: TextFilter::new() });

/// Route console output to `dev`.
pub fn set_device(dev: &'static dyn ConsoleDevice) {
    CONSOLE.lock().dev = Some(dev);
}

/// Bytes of received input held for the reader: a pasted block of commands
/// fits while the reader is busy.
pub const INPUT_SIZE: usize = 4096;

struct Input {
    buf: [u8; INPUT_SIZE],
    /// Index of the oldest byte.
    head: usize,
    len: usize,
}

impl Input {
    /// Keep `b`, unless the buffer is full: then it is lost.
    fn push(&mut self, b: u8) {
        if self.len == INPUT_SIZE {
            return;
        }
        self.buf[(self.head + self.len) % INPUT_SIZE] = b;
        self.len += 1;
    }

    /// Drop everything typed ahead (Ctrl-C does, as a terminal's does).
    fn clear(&mut self) {
        self.len = 0;
    }

    fn pop(&mut self) -> Option<u8> {
        if self.len == 0 {
            return None;
        }
        let b = self.buf[self.head];
        self.head = (self.head + 1) % INPUT_SIZE;
        self.len -= 1;
        Some(b)
    }
}

static INPUT: Mutex<Input> = Mutex::new(Input { buf: [0; INPUT_SIZE], head: 0, len: 0 });
static INPUT_READY: Once<Arc<Notification>> = Once::new();
static INTERRUPT: Once<Arc<Notification>> = Once::new();

/// The interrupt key (Ctrl-C): kept out of the input and reported on its
/// own notification, so that it is seen even when nobody reads the console
/// (a program that loops, or sleeps); input typed before it is dropped.
/// What it does is user space's.
const INTERRUPT_KEY: u8 = 0x03;

/// The notification Ctrl-C notifies (made on first use, which is the root
/// process's start).
pub fn interrupt_notification() -> Arc<Notification> {
    INTERRUPT.call_once(Notification::new).clone()
}

/// The notification the receive interrupt notifies (made on first use,
/// which is the root process's start).
pub fn input_notification() -> Arc<Notification> {
    INPUT_READY.call_once(Notification::new).clone()
}

/// Turn on the console's receive interrupt (the platform has routed it).
pub fn enable_input_interrupt() {
    let dev = CONSOLE.lock().dev;
    if let Some(d) = dev {
        d.enable_rx_interrupt();
    }
}

/// Move every byte the device holds into the buffer, Ctrl-C apart (which
/// notifies its own notification); whether any other byte came.
fn drain() -> bool {
    let dev = CONSOLE.lock().dev;
    let Some(dev) = dev else { return false };
    let mut input = INPUT.lock();
    let (mut any, mut interrupt) = (false, false);
    while let Some(b) = dev.getc() {
        if b == INTERRUPT_KEY {
            // What was typed before it is not for whatever runs next.
            input.clear();
            interrupt = true;
        } else {
            input.push(b);
            any = true;
        }
    }
    drop(input);
    if interrupt {
        if let Some(n) = INTERRUPT.get() {
            n.notify();
        }
    }
    any
}

/// The console's receive interrupt: buffer what came and wake the reader.
pub fn on_input_interrupt() {
    if drain() {
        if let Some(n) = INPUT_READY.get() {
            n.notify();
        }
    }
    let dev = CONSOLE.lock().dev;
    if let Some(d) = dev {
        d.enable_rx_interrupt();
    }
}

struct Writer<'a>(&'a mut Output);

impl Output {
    /// Send bytes as text, turning LF into CR LF (what serial terminals want).
    fn put_bytes(&mut self, bytes: &[u8]) {
        let Some(dev) = self.dev else { return };
        self.filter.write(bytes, &mut |b| {
            if b == b'\n' {
                dev.putc(b'\r');
            }
            dev.putc(b);
        });
    }
}

impl Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.put_bytes(s.as_bytes());
        Ok(())
    }
}

/// Write a user's bytes (`putstr`), with the same line ending rule;
/// anything that is not text is escaped.
pub fn write_bytes(bytes: &[u8]) {
    let guard = crate::arch::IrqGuard::new();
    CONSOLE.lock().put_bytes(bytes);
    drop(guard);
}

/// A received console byte, if one is waiting. Reads the device too, so
/// input is never stuck behind an interrupt that did not come.
pub fn getc() -> Option<u8> {
    drain();
    INPUT.lock().pop()
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    let guard = crate::arch::IrqGuard::new();
    let _ = Writer(&mut CONSOLE.lock()).write_fmt(args);
    drop(guard);
}

/// Print from a path that may have interrupted a holder of the console lock
/// (a fault or a panic). Takes the lock if it can and otherwise prints anyway:
/// a garbled line beats a silent hang.
pub fn emergency_println(args: fmt::Arguments) {
    if CONSOLE.is_locked() {
        // SAFETY: the holder is the code this fault or panic interrupted on
        // this CPU, and it will never resume; the device pointer is written
        // only during early boot, so it is consistent, and the filter, which
        // may have been cut off mid-update, is reset below.
        unsafe { CONSOLE.force_unlock() };
        CONSOLE.lock().filter = TextFilter::new();
    }
    let _ = Writer(&mut CONSOLE.lock()).write_fmt(format_args!("{args}\n"));
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
