//! Support for the user-level test programs (`kerneltest`, `usertest`,
//! `harden`): a test is a `fn() -> TestResult`; [`check!`]
//! fails it with a message unless a condition holds, and [`expect!`] fails
//! it unless a call returned exactly the value expected.
//!
//! [`check!`]: crate::check
//! [`expect!`]: crate::expect

/// What a test returns: `Err` says what went wrong.
pub type TestResult = Result<(), alloc::string::String>;

/// Fail the test (return `Err` with the formatted message) unless `$cond`
/// holds. The calling crate needs `extern crate alloc`.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(alloc::format!($($arg)*));
        }
    };
}

/// Fail the test unless `$call` returned exactly `$want`, saying what it
/// returned instead.
#[macro_export]
macro_rules! expect {
    ($call:expr, $want:expr) => {{
        let got = $call;
        let want = $want;
        if got != want {
            return Err(alloc::format!("{} returned {:?}, expected {:?}", stringify!($call), got, want));
        }
    }};
}
