//! Support for the user-level test programs (`kerneltest`, `usertest`, `fuzz`,
//! `harden`): a test is a `fn() -> TestResult`; [`check!`]
//! fails it with a message unless a condition holds, and [`expect!`] fails
//! it unless a call returned exactly the value expected.
//!
//! [`check!`]: crate::check
//! [`expect!`]: crate::expect

use crate::sys::{self, Slot};
use alloc::string::String;
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

/// Processes in procmgr's table.
pub fn process_count() -> usize {
    crate::process::ps().map(|t| t.lines().count()).unwrap_or(0)
}

/// Wait up to 20 s for procmgr's table to hold at most `count` processes
/// again: orphans a fuzzer forked (with random registers to resume at) run
/// on until they fault or their calls are done.
pub fn settle_processes(count: usize) {
    for _ in 0..200 {
        if process_count() <= count {
            break;
        }
        sys::sleep(10);
    }
}

/// The names in directory `dir` (none if it cannot be read).
pub fn names(dir: &str) -> Vec<String> {
    crate::fs::read_dir(dir).map(|es| es.into_iter().map(|e| e.name).collect()).unwrap_or_default()
}

/// Remove `path` and everything below it, as far as it goes.
pub fn remove_tree(path: &str) {
    use crate::fs::{self, FileType};
    let Ok(entries) = fs::read_dir(path) else {
        let _ = fs::unlink(path);
        return;
    };
    for e in entries {
        let child = alloc::format!("{path}/{}", e.name);
        match e.kind {
            FileType::Dir => remove_tree(&child),
            FileType::File => {
                let _ = fs::unlink(&child);
            }
        }
    }
    let _ = fs::rmdir(path);
}

/// The names in some directories now, so that whatever appears in them
/// later (random requests may put names anywhere writable) can go.
pub struct Litter(Vec<(&'static str, Vec<String>)>);

impl Litter {
    /// Note what `dirs` hold now.
    pub fn watch(dirs: &[&'static str]) -> Litter {
        Litter(dirs.iter().map(|&d| (d, names(d))).collect())
    }

    /// Remove what is new in the directories since [`Litter::watch`].
    pub fn sweep(&self) {
        for (dir, before) in &self.0 {
            for name in names(dir).into_iter().filter(|n| !before.contains(n)) {
                remove_tree(&alloc::format!("{}/{name}", dir.trim_end_matches('/')));
            }
        }
    }
}
