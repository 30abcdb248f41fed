//! Console output through the `putstr` system call.

use core::fmt::{self, Write};

struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Standard output: a pipe or the console, through procmgr; procmgr
        // itself writes to the console directly.
        crate::process::write(chcore_proc::proto::STDOUT, s.as_bytes()).map(|_| ()).map_err(|_| fmt::Error)
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    let _ = Console.write_fmt(args);
}

#[doc(hidden)]
pub fn _eprint(args: fmt::Arguments) {
    struct Err;
    impl Write for Err {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            crate::process::write(chcore_proc::proto::STDERR, s.as_bytes()).map(|_| ()).map_err(|_| fmt::Error)
        }
    }
    let _ = Err.write_fmt(args);
}

/// Print to standard error.
#[macro_export]
macro_rules! eprintln {
    ($($arg:tt)*) => ($crate::_eprint(format_args!("{}\n", format_args!($($arg)*))));
}

/// Print to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::_print(format_args!($($arg)*)));
}

/// Print a line to the console.
#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::_print(format_args!("{}\n", format_args!($($arg)*))));
}
