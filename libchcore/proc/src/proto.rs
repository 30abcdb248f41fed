//! The procmgr protocol: what goes in the IPC words and the shared buffer.
//!
//! Every request is an IPC call to procmgr with the operation in word 0 and
//! its arguments in words 1-3; longer arguments (paths, argument lists, data)
//! travel in the buffer's data area. The call returns a value or a negated
//! `chcore_abi::Error` (or one of the process errors below), and up to three
//! words.
//!
//! Files: the file-system protocol (`chcore_fs::proto`, operations from
//! `FS_BASE` on) goes to procmgr too, with the caller's descriptors where
//! it has handles and paths relative to the caller's working directory;
//! its errors are `chcore_fs::Errno` numbers. Operation 13 (the ramdisk's
//! old `OPEN`) is not used.

/// Start a program: buffer = path NUL args block (see [`crate::args`]);
/// words = [op, stdin fd, stdout fd, stderr fd] in the caller's fd table.
/// Returns the child's pid.
pub const SPAWN: u64 = 1;
/// Fork the caller: words = [op, resume pc, resume sp, resume arg]. Returns the child's pid.
pub const FORK: u64 = 2;
/// Replace the caller's program: buffer as for SPAWN. Does not return on success.
pub const EXEC: u64 = 3;
/// Record the caller's exit status: words = [op, code]. The caller then ends itself.
pub const EXIT: u64 = 4;
/// Wait for a child: words = [op, pid or [`ANY_CHILD`], nohang]. Returns the pid;
/// word 0 = the exit code, word 1 = 1 if it was killed (fault or kill).
pub const WAIT: u64 = 5;
/// End a process: words = [op, pid].
pub const KILL: u64 = 6;
/// The caller's pid; word 0 = its parent's pid.
pub const GETPID: u64 = 7;
/// A pipe: returns 0; words = [read fd, write fd].
pub const PIPE: u64 = 8;
/// Read up to words[2] bytes from fd words[1] into the buffer. Returns the
/// count (0 = end of file). Not for pipes (see [`PIPE_SHARE`]): `BadFd`.
pub const READ: u64 = 9;
/// Write words[2] bytes from the buffer to fd words[1]. Returns the count.
/// Not for pipes (see [`PIPE_SHARE`]): `BadFd`.
pub const WRITE: u64 = 10;
/// Close fd words[1].
pub const CLOSE: u64 = 11;
/// Make fd words[2] a copy of fd words[1].
pub const DUP2: u64 = 12;
/// List the ramdisk: names, NUL-separated, into the buffer. Returns the byte count.
pub const LIST: u64 = 14;
/// The process table, as a header line and lines
/// "pid ppid state cpu_ticks mem_kib name\n" into the buffer.
pub const PS: u64 = 15;
/// What fd words[1] is, for the caller to read or write it itself: word 0
/// = [`NOT_A_PIPE`] (ask procmgr), [`PIPE_READ_END`], [`PIPE_WRITE_END`] or
/// [`FILE_DIRECT`]; for a pipe end, word 1 = the caller's lock tag (its
/// pid) and four capabilities come back: the shared memory (see
/// [`crate::pipe`]), then the notifications for data, for room and for the
/// ring's lock.
pub const PIPE_SHARE: u64 = 16;
/// One key from the console, raw (no echo, no line editing), waiting at
/// most words[0] ticks (`u64::MAX`: for ever): returns the byte and, in
/// words[0], how many times Ctrl-C has been pressed; or `Timeout`, or
/// `Interrupted` once that count differs from words[1] (`u64::MAX`: the
/// count when the call arrives). A line editor passes back the count each
/// key came with, so a Ctrl-C between two of its calls is not missed.
pub const KEY: u64 = 17;

/// A second descriptor for what fd words[1] refers to (the lowest free
/// number). Returns it.
pub const DUP: u64 = 18;
/// Change the working directory: words = [op, path length]; buffer = the
/// path. The answer is an errno (`chcore_fs::Errno`) on failure.
pub const CHDIR: u64 = 19;
/// The working directory into the buffer; returns its length.
pub const GETCWD: u64 = 20;
/// The mount points, one per line, into the buffer; returns the byte count.
pub const MOUNTS: u64 = 21;
/// The caller's session with a file server: words = [the address of the
/// session's buffer, as [`PIPE_SHARE`] gave it for a file there]. Made if
/// the caller has none (a forked child syncing a mapping it inherited).
/// Returns the connection's slot; `NotFound` for an address that is no
/// server's.
pub const SESSION: u64 = 22;
/// The caller's foreground job: words = [count]; buffer = that many pids
/// (little-endian u64s), each a child of the caller. Ctrl-C on the console
/// ends them and their descendants, each with status 130 (128 + SIGINT's
/// number, as a POSIX shell reports it). A count of 0 clears it. `NotFound`
/// for a pid that is not the caller's running child.
pub const FOREGROUND: u64 = 23;
/// Raw mode for the console: words = [1 on, 0 off]. While the caller (and
/// only it) has it, Ctrl-C is a key like any other for its `KEY` calls
/// (0x03), not an interrupt: nothing is ended. It ends when the caller
/// turns it off or ends. `Busy` if another running process has it.
pub const RAW: u64 = 24;
/// The caller asks to hear of terminate requests (`TERMINATE`): procmgr
/// makes a notification, keeps the right to notify it and puts one to
/// wait on in the caller (its slot is the answer). `Busy` if it already
/// has one. exec drops it (the new image has not asked).
pub const TERM_NOTIFY: u64 = 25;
/// A polite request that process words[0] end: if it asked to hear of it
/// (`TERM_NOTIFY`), its notification is signalled and it ends itself,
/// with the status it chooses; otherwise it ends at once with status
/// `TERMINATED`. The same refusals as `KILL`.
pub const TERMINATE: u64 = 26;
/// Status of a process ended by a terminate request it did not handle
/// (128 + SIGTERM's number, as a POSIX shell reports it).
pub const TERMINATED: i32 = 143;
/// Status of a process ended by Ctrl-C.
pub const INTERRUPTED: i32 = 130;

/// PIPE_SHARE: the fd is open but not a pipe.
pub const NOT_A_PIPE: u64 = 0;
/// PIPE_SHARE: the fd is a pipe's read end.
pub const PIPE_READ_END: u64 = 1;
/// PIPE_SHARE: the fd is a pipe's write end.
pub const PIPE_WRITE_END: u64 = 2;
/// PIPE_SHARE: the fd is a file on a file-system server the caller may
/// call itself: word 1 = the handle, word 2 = the caller's session
/// connection to that server, and the return value = where the session's
/// buffer is mapped (docs/filesystem.md).
pub const FILE_DIRECT: u64 = 3;
/// PIPE_SHARE: the fd is the console (a terminal: `isatty`).
pub const CONSOLE: u64 = 4;

/// WAIT: any child.
pub const ANY_CHILD: u64 = u64::MAX;

/// Standard input, output and error.
pub const STDIN: u64 = 0;
/// Standard output.
pub const STDOUT: u64 = 1;
/// Standard error.
pub const STDERR: u64 = 2;

/// Most open files per process.
pub const MAX_FDS: usize = 64;
