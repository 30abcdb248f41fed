//! Support for the user-level test programs (`kerneltest`, `usertest`,
//! `harden`): a test is a `fn() -> TestResult`; [`check!`]
//! fails it with a message unless a condition holds, and [`expect!`] fails
//! it unless a call returned exactly the value expected.
//!
//! [`check!`]: crate::check
//! [`expect!`]: crate::expect

use crate::sys::{self, Slot};
use alloc::vec::Vec;
use chcore_abi::{perm, Error, PmoKind, TICK_HZ};

/// Where [`run_code`] puts a child's code.
pub const CODE_AT: u64 = 0x40_0000;
/// Where [`run_code`] puts a child's page of stack.
const STACK_AT: u64 = 0x80_0000;

/// Run `code` (A64 instructions) as a bare cap_group named `name`: its code
/// at [`CODE_AT`], a page of stack, and `extra` (a PMO, and where) mapped
/// read-only; `arg` in x0. Returns how it ended (`cap_group_state`: the
/// kind, and an exit code from bit 8), or an error if it could not be made
/// or did not end within 5 seconds (waited for on an exit notification).
pub fn run_code(name: &str, code: &[u32], extra: Option<(Slot, u64)>, arg: u64) -> Result<u64, Error> {
    let group = sys::create_cap_group(name)?;
    let ended = (|| {
        let text = sys::create_pmo(4096, PmoKind::Data)?;
        let bytes: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mapped =
            sys::write_pmo(text, 0, &bytes).and_then(|_| sys::map_pmo(group, text, CODE_AT, perm::READ | perm::EXEC));
        // The mappings keep the child's memory.
        let _ = sys::cap_delete(text);
        mapped?;
        let stack = sys::create_pmo(4096, PmoKind::Anonym)?;
        let mapped = sys::map_pmo(group, stack, STACK_AT, perm::READ | perm::WRITE);
        let _ = sys::cap_delete(stack);
        mapped?;
        if let Some((pmo, at)) = extra {
            sys::map_pmo(group, pmo, at, perm::READ)?;
        }
        let n = sys::create_notification()?;
        let waited = sys::cap_group_exit_notify(group, n).and_then(|()| {
            let thread = sys::create_thread(group, CODE_AT, STACK_AT + 4096, arg)?;
            let waited = sys::wait(n, Some(5 * TICK_HZ));
            let _ = sys::cap_delete(thread);
            waited
        });
        let _ = sys::cap_delete(n);
        waited?;
        sys::cap_group_state(group)
    })();
    // Ended already, unless it could not be made or ran too long.
    let _ = sys::cap_group_kill(group);
    let _ = sys::cap_delete(group);
    ended
}

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
