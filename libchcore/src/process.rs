//! Processes, files and pipes: calls to procmgr over the connection it gave
//! this process (slot `abi::slot::PROCMGR`, buffer at `abi::ipc::PROCMGR_BUF`).
//!
//! One call at a time per process (a connection carries one call), so the
//! connection sits behind a lock. Pipes are read and written without
//! procmgr, in memory shared with the other end (see `crate::pipe`).

use crate::sync::Mutex;
use crate::sys;
use alloc::string::String;
use alloc::vec::Vec;
use chcore_abi::{ipc, slot, Error, ObjectType};
use chcore_proc::proto;
use core::arch::global_asm;
use core::sync::atomic::{AtomicU8, Ordering};

/// A process id.
pub type Pid = u64;

/// Top of the first thread's stack in a process procmgr starts.
pub const STACK_TOP: u64 = 0x2000_0000;
/// Its size (pages appear on first touch).
pub const STACK_SIZE: u64 = 1 << 20;

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// It exited with this code.
    Exited(i32),
    /// It was ended by a fault or a kill.
    Killed,
}

static CONN: Mutex<()> = Mutex::new(());

/// Whether procmgr manages this process (procmgr itself is not managed).
/// Asked once (a process never changes sides; a fork stays managed).
pub fn managed() -> bool {
    static MANAGED: AtomicU8 = AtomicU8::new(0);
    match MANAGED.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let yes = sys::cap_info(slot::PROCMGR).is_ok_and(|(t, _)| t == ObjectType::Connection);
            MANAGED.store(if yes { 1 } else { 2 }, Ordering::Relaxed);
            yes
        }
    }
}

fn buffer() -> &'static mut [u8] {
    // SAFETY: procmgr maps this process's connection buffer (BUF_SIZE bytes,
    // read/write) at PROCMGR_BUF before starting it; `CONN` serialises use.
    unsafe { core::slice::from_raw_parts_mut(ipc::PROCMGR_BUF as *mut u8, ipc::BUF_SIZE as usize) }
}

/// One request: `data_in` goes to the buffer before the call; after it, the
/// buffer's first bytes are copied to `data_out`. Returns x0 and the words.
fn call(op: u64, words: [u64; 3], data_in: &[u8], data_out: &mut [u8]) -> Result<(u64, [u64; 3]), Error> {
    if data_out.len() > ipc::DATA_MAX {
        return Err(Error::InvalidArgument);
    }
    let (ret, words, ()) = request(op, words, data_in, |buf, ret| {
        let n = data_out.len().min(ret as usize);
        data_out[..n].copy_from_slice(&buf[ipc::DATA..][..n]);
    })?;
    Ok((ret, words))
}

/// One request: `data_in` goes to the buffer's data area before the call;
/// after it, `answer` reads the whole buffer (with x0), still this
/// thread's (the connection's lock is held). Returns x0, the words and
/// what `answer` made.
fn request<R>(
    op: u64,
    words: [u64; 3],
    data_in: &[u8],
    answer: impl FnOnce(&[u8], u64) -> R,
) -> Result<(u64, [u64; 3], R), Error> {
    let mut made = None;
    let (ret, words) = exchange(op, words, data_in, |buf, ret| {
        if ret >= 0 {
            made = Some(answer(buf, ret as u64));
        }
    })
    .ok_or(Error::InvalidArgument)?;
    match made {
        Some(r) => Ok((ret as u64, words, r)),
        None => Err(Error::from_result(ret).unwrap_or(Error::InvalidArgument)),
    }
}

/// [`request`] for protocols with their own error numbers (the file
/// system's): x0 as it is, negative or not, is passed to `answer` and
/// returned. `None` if `data_in` does not fit the buffer.
pub(crate) fn exchange(
    op: u64,
    words: [u64; 3],
    data_in: &[u8],
    answer: impl FnOnce(&[u8], i64),
) -> Option<(i64, [u64; 3])> {
    if data_in.len() > ipc::DATA_MAX {
        return None;
    }
    let _guard = CONN.lock();
    let buf = buffer();
    buf[ipc::DATA..][..data_in.len()].copy_from_slice(data_in);
    let (ret, words) = sys::ipc_call(slot::PROCMGR, [op, words[0], words[1], words[2]], 0);
    answer(buf, ret);
    Some((ret, words))
}

/// Start the program `path` with `args` (argument 0 included) and the given
/// file descriptors of ours as its stdin, stdout and stderr. Returns its pid.
pub fn spawn(path: &str, args: &[&str], fds: [u64; 3]) -> Result<Pid, Error> {
    let req = chcore_proc::args::join_request(path, args);
    call(proto::SPAWN, fds, &req, &mut []).map(|r| r.0)
}

/// Replace this process's program; returns only if that failed.
pub fn exec(path: &str, args: &[&str]) -> Error {
    let req = chcore_proc::args::join_request(path, args);
    match call(proto::EXEC, [0; 3], &req, &mut []) {
        Err(e) => e,
        Ok(_) => Error::InvalidArgument,
    }
}

/// Wait for child `pid` (or any child with `None`) to end.
pub fn waitpid(pid: Option<Pid>) -> Result<(Pid, Status), Error> {
    let (p, w) = call(proto::WAIT, [pid.unwrap_or(proto::ANY_CHILD), 0, 0], &[], &mut [])?;
    let status = if w[1] != 0 { Status::Killed } else { Status::Exited(w[0] as i32) };
    Ok((p, status))
}

/// Whether child `pid` has ended: its status if it has (it is then
/// reaped), `None` while it runs.
pub fn try_waitpid(pid: Pid) -> Result<Option<(Pid, Status)>, Error> {
    let (p, w) = call(proto::WAIT, [pid, 1, 0], &[], &mut [])?;
    let status = if w[1] != 0 { Status::Killed } else { Status::Exited(w[0] as i32) };
    Ok((p != 0).then_some((p, status)))
}

/// Wait for any child.
pub fn wait() -> Result<(Pid, Status), Error> {
    waitpid(None)
}

/// End process `pid`.
pub fn kill(pid: Pid) -> Result<(), Error> {
    call(proto::KILL, [pid, 0, 0], &[], &mut []).map(|_| ())
}

/// This process's pid and its parent's.
pub fn getpid() -> (Pid, Pid) {
    call(proto::GETPID, [0; 3], &[], &mut []).map_or((0, 0), |(p, w)| (p, w[0]))
}

/// This process's pid.
pub fn pid() -> Pid {
    getpid().0
}

/// A pipe: (read fd, write fd).
pub fn pipe() -> Result<(u64, u64), Error> {
    let (r, w) = call(proto::PIPE, [0; 3], &[], &mut []).map(|(_, w)| (w[0], w[1]))?;
    crate::pipe::forget(r);
    crate::pipe::forget(w);
    Ok((r, w))
}

/// Ask to be told of terminate requests (`kill PID` without `-9`, which
/// otherwise ends this process at once with status 143): from now on such
/// a request runs `handler` on a thread of its own, and the process exits
/// with what it returns (tidy up, then return `proto::TERMINATED` to look
/// like the default). `Busy` if already asked; an exec forgets it.
pub fn on_terminate(handler: fn() -> i32) -> Result<(), Error> {
    *TERM_HANDLER.lock() = Some(handler);
    let (note, _) = call(proto::TERM_NOTIFY, [0; 3], &[], &mut [])?;
    crate::thread::spawn(terminate_waiter, note).map(|_| ())
}

/// The handler [`on_terminate`] set.
static TERM_HANDLER: crate::sync::Mutex<Option<fn() -> i32>> = crate::sync::Mutex::new(None);

/// The thread that waits for a terminate request on notification `note`.
extern "C" fn terminate_waiter(note: u64) -> ! {
    if sys::wait(note, None).is_err() {
        sys::thread_exit();
    }
    let handler = *TERM_HANDLER.lock();
    exit(handler.map_or(proto::TERMINATED, |h| h()))
}

/// A polite request that process `pid` end (see [`on_terminate`]); a
/// process that did not ask ends at once with status 143. Refused like
/// [`kill`].
pub fn terminate(pid: Pid) -> Result<(), Error> {
    call(proto::TERMINATE, [pid, 0, 0], &[], &mut []).map(|_| ())
}

/// Raw mode on the console (`on`) or off: while it is on, Ctrl-C comes to
/// this process's [`key`] calls as the byte 0x03 instead of interrupting
/// the foreground job. It ends with the process. `Busy` if another
/// process has it.
pub fn set_raw(on: bool) -> Result<(), Error> {
    call(proto::RAW, [u64::from(on), 0, 0], &[], &mut []).map(|_| ())
}

/// Make `pids` (children of this process) the console's foreground job:
/// Ctrl-C ends them and what they started, each with status
/// `proto::INTERRUPTED` (130). An empty list clears it.
pub fn set_foreground(pids: &[Pid]) -> Result<(), Error> {
    let bytes: Vec<u8> = pids.iter().flat_map(|p| p.to_le_bytes()).collect();
    call(proto::FOREGROUND, [pids.len() as u64, 0, 0], &bytes, &mut []).map(|_| ())
}

/// This process's session with the file server whose sessions have their
/// buffer at `buf` (`proto::SESSION`): the connection's slot.
pub(crate) fn session(buf: u64) -> Result<u64, Error> {
    call(proto::SESSION, [buf, 0, 0], &[], &mut []).map(|(slot, _)| slot)
}

/// What procmgr says `fd` is (`proto::PIPE_SHARE`): the return value and
/// words (the kind first) and, for a pipe end, the slots of the
/// capabilities it sent (shared memory, data and room notifications).
pub(crate) fn pipe_share(fd: u64) -> Result<(u64, [u64; 3], [u64; 4]), Error> {
    let (ret, words, caps) = request(proto::PIPE_SHARE, [fd, 0, 0], &[], |buf, _| {
        let mut caps = [0; 4];
        for (i, c) in caps.iter_mut().enumerate() {
            *c = crate::ipc::word(buf, ipc::CAP_SLOTS / 8 + i);
        }
        caps
    })?;
    // Only a pipe end comes with capabilities: otherwise the slots are stale.
    let pipe = matches!(words[0], proto::PIPE_READ_END | proto::PIPE_WRITE_END);
    Ok((ret, words, if pipe { caps } else { [0; 4] }))
}

/// Read up to `buf.len()` bytes from `fd`; 0 means end of file. (As
/// `fs::read`, with the kernel's error type.)
pub fn read(fd: u64, buf: &mut [u8]) -> Result<usize, Error> {
    crate::fs::read(fd, buf).map_err(error_of)
}

/// The kernel's error for a POSIX one (numbered alike; others are
/// `InvalidArgument`).
fn error_of(e: crate::fs::Errno) -> Error {
    if e == crate::fs::Errno::EBADF {
        return Error::BadFd;
    }
    Error::from_result(e.to_result()).unwrap_or(Error::InvalidArgument)
}

/// Read until `buf` is full, end of file or an error; returns the bytes read.
pub fn read_full(fd: u64, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        match read(fd, &mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    got
}

/// Write all of `data` to `fd`. (As `fs::write`, with the kernel's error
/// type.)
pub fn write(fd: u64, data: &[u8]) -> Result<usize, Error> {
    crate::fs::write(fd, data).map_err(error_of)
}

/// Close `fd`.
pub fn close(fd: u64) -> Result<(), Error> {
    crate::pipe::forget(fd);
    call(proto::CLOSE, [fd, 0, 0], &[], &mut []).map(|_| ())
}

/// A new descriptor (the lowest free) for what `fd` refers to.
pub fn dup(fd: u64) -> Result<u64, Error> {
    call(proto::DUP, [fd, 0, 0], &[], &mut []).map(|r| r.0)
}

/// Make `new` refer to what `old` refers to.
pub fn dup2(old: u64, new: u64) -> Result<(), Error> {
    crate::pipe::forget(new);
    call(proto::DUP2, [old, new, 0], &[], &mut []).map(|_| ())
}

fn text(op: u64) -> Result<String, Error> {
    let mut out = alloc::vec![0u8; ipc::DATA_MAX];
    let (n, _) = call(op, [0; 3], &[], &mut out)?;
    out.truncate(n as usize);
    String::from_utf8(out).map_err(|_| Error::InvalidArgument)
}

/// The ramdisk's file names.
pub fn list() -> Result<Vec<String>, Error> {
    Ok(text(proto::LIST)?.split('\0').filter(|s| !s.is_empty()).map(String::from).collect())
}

/// The process table as text: a header, then lines "pid ppid state cpu_ticks mem_kib name".
pub fn ps() -> Result<String, Error> {
    text(proto::PS)
}

/// End this process with `code` (procmgr records it for `wait`).
pub fn exit(code: i32) -> ! {
    if managed() {
        let _ = call(proto::EXIT, [code as u32 as u64, 0, 0], &[], &mut []);
    }
    sys::exit(code)
}

// fork: the child resumes from a copy of the caller's registers, saved on
// the caller's stack (which procmgr copies with everything else).
//
// Jump buffer: x19-x30 (12 words), sp, then d8-d15 (8 words): 21 words,
// rounded to 176 bytes. d8-d15 are callee-saved only in code built with
// FP/SIMD registers: soft-float programs (ours) never touch them, and
// touching them would make the kernel switch this thread's FP state from
// then on, so the copy is assembled only for hard-float builds.
global_asm!(
    r#"
    .section .text.chcore_fork, "ax"
    .global chcore_fork
chcore_fork:
    sub     sp, sp, #176
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    add     x9, sp, #176
    str     x9, [sp, #96]
    .if {fp}
    stp     d8, d9, [sp, #104]
    stp     d10, d11, [sp, #120]
    stp     d12, d13, [sp, #136]
    stp     d14, d15, [sp, #152]
    .endif
    mov     x1, x0
    mov     x0, sp
    blr     x1
    ldp     x29, x30, [sp, #80]
    add     sp, sp, #176
    ret

    .global chcore_fork_child
chcore_fork_child:
    mov     x19, x0
    bl      chcore_fork_child_fixup
    mov     x9, x19
    ldp     x19, x20, [x9, #0]
    ldp     x21, x22, [x9, #16]
    ldp     x23, x24, [x9, #32]
    ldp     x25, x26, [x9, #48]
    ldp     x27, x28, [x9, #64]
    ldp     x29, x30, [x9, #80]
    .if {fp}
    ldp     d8, d9, [x9, #104]
    ldp     d10, d11, [x9, #120]
    ldp     d12, d13, [x9, #136]
    ldp     d14, d15, [x9, #152]
    .endif
    ldr     x10, [x9, #96]
    mov     sp, x10
    mov     x0, #0
    ret
"#,
    fp = const cfg!(target_feature = "fp-armv8") as u8,
);

extern "C" {
    fn chcore_fork(do_fork: extern "C" fn(jump_buffer: u64) -> i64) -> i64;
    fn chcore_fork_child();
}

extern "C" fn do_fork(jump_buffer: u64) -> i64 {
    // The child starts at `chcore_fork_child` with its stack just below the
    // jump buffer and the buffer's address as its argument.
    match call(proto::FORK, [chcore_fork_child as *const () as u64, jump_buffer, jump_buffer], &[], &mut []) {
        Ok((pid, _)) => pid as i64,
        Err(e) => e.to_result(),
    }
}

/// First Rust code of a forked child: our memory is a copy of the parent's,
/// taken while it held the procmgr connection lock, in its fork call.
#[no_mangle]
extern "C" fn chcore_fork_child_fixup() {
    // Before any lock is taken: the parent's lock notifications are not ours.
    crate::sync::after_fork();
    // SAFETY: this is the child's only thread; the copied lock state belongs
    // to the parent's call in progress, which does not exist here.
    unsafe { CONN.force_unlock() };
    crate::pipe::after_fork();
}

/// Fork: `Ok(0)` in the child, `Ok(child pid)` in the parent.
pub fn fork() -> Result<Pid, Error> {
    // SAFETY: `chcore_fork` saves the callee-saved registers, calls
    // `do_fork` and returns its result (parent), or returns 0 after
    // `chcore_fork_child` restores them in the child; both follow the
    // AAPCS64 contract of an `extern "C"` call.
    let r = unsafe { chcore_fork(do_fork) };
    if r < 0 {
        Err(Error::from_result(r).unwrap_or(Error::InvalidArgument))
    } else {
        Ok(r as u64)
    }
}

/// One key from the console, raw (no echo), waiting at most `ticks` timer
/// ticks (`None`: for ever). `Err(Timeout)` if none came.
pub fn key(ticks: Option<u64>) -> Result<u8, Error> {
    key_since(ticks, None).map(|(c, _)| c)
}

/// [`key`] for a line editor: `Err(Interrupted)` if Ctrl-C has been pressed
/// since the press count `since` (`None`: since this call); returns the key
/// and the count to pass next time.
pub fn key_since(ticks: Option<u64>, since: Option<u64>) -> Result<(u8, u64), Error> {
    call(proto::KEY, [ticks.unwrap_or(u64::MAX), since.unwrap_or(u64::MAX), 0], &[], &mut [])
        .map(|(c, w)| (c as u8, w[0]))
}
