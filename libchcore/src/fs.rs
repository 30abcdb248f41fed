//! Files and directories, with POSIX's names and meanings: `open`, `read`,
//! `write`, `lseek`, `stat`, `mkdir`, `rename`, `chdir` and the rest.
//!
//! Every call goes to procmgr, which keeps this process's descriptors and
//! working directory and routes each path to the file system mounted there
//! (docs/filesystem.md). Files, pipes and the console share one descriptor
//! table: `read` and `write` here work on all three. Errors are [`Errno`]
//! values, shown by their POSIX names (`ENOENT`).

use crate::pipe::{FileEnd, Known};
use crate::process;
use alloc::string::String;
use alloc::vec::Vec;
use chcore_abi::{ipc, Error};
use chcore_fs::proto as fsp;
use chcore_proc::proto;

pub use chcore_fs::path::{NAME_MAX, PATH_MAX};
pub use chcore_fs::proto::{FsStat, Stat};
pub use chcore_fs::server::{
    O_ACCMODE, O_APPEND, O_CREAT, O_DIRECTORY, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, SEEK_CUR, SEEK_END,
    SEEK_SET,
};
pub use chcore_fs::{DirEntry, Errno, FileType};

/// A file descriptor.
pub type Fd = u64;

/// The POSIX error for a negative answer: the file systems' own numbers,
/// or the kernel's and procmgr's (`chcore_abi::Error`, numbered alike).
fn errno(ret: i64) -> Errno {
    if ret == Error::BadFd.to_result() {
        return Errno::EBADF;
    }
    Errno::from_result(ret).unwrap_or(Errno::EIO)
}

/// The POSIX error for a kernel or procmgr error.
pub fn errno_of(e: Error) -> Errno {
    errno(e.to_result())
}

/// One request to procmgr: `input` first in the message; the answer's
/// bytes into `output` (as many as it counts, or all of `output` when it
/// returns 0). Returns the answer and its words.
fn call(op: u64, words: [u64; 3], input: &[u8], output: &mut [u8]) -> Result<(u64, [u64; 3]), Errno> {
    if output.len() > ipc::DATA_MAX {
        return Err(Errno::EINVAL);
    }
    let (ret, words) = process::exchange(op, words, input, |buf, ret| {
        if ret >= 0 {
            let n = fsp::answer_bytes(ret, output.len());
            output[..n].copy_from_slice(&buf[ipc::DATA..][..n]);
        }
    })
    .ok_or(Errno::ENAMETOOLONG)?;
    if ret < 0 {
        return Err(errno(ret));
    }
    Ok((ret as u64, words))
}

/// One call at a time on this process's sessions (a connection carries one
/// call; all of a process's sessions share this lock, which is simpler and
/// costs only processes that read files from several threads at once).
static SESSION: crate::sync::Mutex<()> = crate::sync::Mutex::new(());

/// A request `[op, handle, w1, w2]` on file `f`, straight to its server
/// over this process's session (see `crate::pipe::FileEnd`): `input` first
/// in the message, the answer's bytes into `output` as in [`call`].
fn direct(f: &FileEnd, op: u64, [w1, w2]: [u64; 2], input: &[u8], output: &mut [u8]) -> Result<u64, Errno> {
    session_call(f, [op, f.handle, w1, w2], input, output).map(|(ret, _)| ret)
}

/// A request `words` over the session `f` is on, as [`direct`]; returns the
/// answer and the slot of the first capability the reply carried (the
/// buffer header's first slot: meaningful only for a reply that carries one).
/// Inlined: `read` and `write` take this path, and drop the slot unread.
#[inline(always)]
pub(crate) fn session_call(f: &FileEnd, words: [u64; 4], input: &[u8], output: &mut [u8]) -> Result<(u64, u64), Errno> {
    if input.len() > ipc::DATA_MAX || output.len() > ipc::DATA_MAX {
        return Err(Errno::EINVAL);
    }
    let _one_at_a_time = SESSION.lock();
    // SAFETY: the server mapped the session's buffer, BUF_SIZE bytes
    // read/write, at `f.buf` when procmgr made the session, and it stays for
    // the life of this process; `SESSION` keeps other threads out of it for
    // this call.
    let buf = unsafe { core::slice::from_raw_parts_mut(f.buf as usize as *mut u8, ipc::BUF_SIZE as usize) };
    let (head, data) = buf.split_at_mut(ipc::DATA);
    data[..input.len()].copy_from_slice(input);
    let (ret, _) = crate::sys::ipc_call(f.session, words, 0);
    if ret < 0 {
        return Err(if ret == Error::PeerDead.to_result() { Errno::EIO } else { errno(ret) });
    }
    let n = fsp::answer_bytes(ret, output.len());
    output[..n].copy_from_slice(&data[..n]);
    Ok((ret as u64, crate::ipc::word(head, ipc::CAP_SLOTS / 8)))
}

/// A request `[op, handle, w1, w2]` sent as it is over the session that
/// file `fd` is reached by (`handle`: the file's own if `None`), with
/// `input` in the buffer: for tests of what a server does with requests no
/// library would send (`harden`). A capability an answer carries (`FS_MMAP`'s)
/// is deleted. ENODEV for a descriptor that is no file with a session.
#[doc(hidden)]
pub fn session_raw(fd: Fd, op: u64, handle: Option<u64>, [w1, w2]: [u64; 2], input: &[u8]) -> Result<u64, Errno> {
    let f = direct_file(fd).ok_or(Errno::ENODEV)?;
    let (ret, cap) = session_call(&f, [op, handle.unwrap_or(f.handle), w1, w2], input, &mut [])?;
    if op == fsp::FS_MMAP {
        let _ = crate::sys::cap_delete(cap);
    }
    Ok(ret)
}

/// Whether `fd` is the console (a terminal), as POSIX's `isatty`.
pub fn isatty(fd: Fd) -> bool {
    matches!(crate::pipe::lookup(fd), Ok(Known::Console))
}

/// The file behind `fd` if this process calls its server itself.
fn direct_file(fd: Fd) -> Option<FileEnd> {
    match crate::pipe::lookup(fd) {
        Ok(Known::File(f)) => Some(f),
        _ => None,
    }
}

/// A request on descriptor `fd`: to its server directly when it is a file
/// this process has a session for, else through procmgr.
fn fd_call(op: u64, fd: Fd, words: [u64; 2], input: &[u8], output: &mut [u8]) -> Result<u64, Errno> {
    match direct_file(fd) {
        Some(f) => direct(&f, op, words, input, output),
        None => call(op, [fd, words[0], words[1]], input, output).map(|r| r.0),
    }
}

fn path_call(op: u64, path: &str, output: &mut [u8]) -> Result<u64, Errno> {
    if path.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    call(op, [path.len() as u64, 0, 0], path.as_bytes(), output).map(|r| r.0)
}

/// Open `path` with `flags` (`O_RDONLY`, `O_WRONLY` or `O_RDWR`, and any of
/// `O_CREAT`, `O_EXCL`, `O_TRUNC`, `O_APPEND`, `O_DIRECTORY`); returns the
/// lowest free descriptor.
pub fn open(path: &str, flags: u32) -> Result<Fd, Errno> {
    if path.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    let (fd, _) = call(fsp::FS_OPEN, [u64::from(flags), path.len() as u64, 0], path.as_bytes(), &mut [])?;
    crate::pipe::forget(fd);
    Ok(fd)
}

/// Read up to `buf.len()` bytes at the file's offset (0: end of file).
/// Works on pipes and the console too.
pub fn read(fd: Fd, buf: &mut [u8]) -> Result<usize, Errno> {
    let n = buf.len().min(ipc::DATA_MAX);
    match crate::pipe::lookup(fd).map_err(errno_of)? {
        Known::Pipe(end) => end.read(buf).map_err(errno_of),
        Known::File(f) => direct(&f, fsp::FS_READ, [n as u64, 0], &[], &mut buf[..n]).map(|r| r as usize),
        Known::Other | Known::Console => call(proto::READ, [fd, n as u64, 0], &[], &mut buf[..n]).map(|r| r.0 as usize),
    }
}

/// Write all of `data` at the file's offset (at its end with `O_APPEND`);
/// returns the count, short only if the file system filled up part way.
/// Works on pipes and the console too.
pub fn write(fd: Fd, data: &[u8]) -> Result<usize, Errno> {
    if !process::managed() {
        // procmgr itself (and its early tests): the console, directly.
        for chunk in data.chunks(chcore_abi::PUTSTR_MAX as usize) {
            crate::sys::putstr(chunk).map_err(errno_of)?;
        }
        return Ok(data.len());
    }
    let file = match crate::pipe::lookup(fd).map_err(errno_of)? {
        Known::Pipe(end) => return end.write(data).map_err(errno_of),
        Known::File(f) => Some(f),
        Known::Other | Known::Console => None,
    };
    let mut done = 0;
    while done < data.len() {
        let chunk = &data[done..(done + ipc::DATA_MAX).min(data.len())];
        let put = match &file {
            Some(f) => direct(f, fsp::FS_WRITE, [chunk.len() as u64, 0], chunk, &mut []),
            None => call(proto::WRITE, [fd, chunk.len() as u64, 0], chunk, &mut []).map(|r| r.0),
        };
        match put {
            Ok(0) => break,
            Ok(n) => done += n as usize,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// Read up to `buf.len()` bytes at `offset`, leaving the file's offset.
pub fn pread(fd: Fd, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
    let n = buf.len().min(ipc::DATA_MAX);
    fd_call(fsp::FS_PREAD, fd, [n as u64, offset], &[], &mut buf[..n]).map(|r| r as usize)
}

/// Write `data` at `offset` (up to one buffer's worth: check the count),
/// leaving the file's offset.
pub fn pwrite(fd: Fd, data: &[u8], offset: u64) -> Result<usize, Errno> {
    let data = &data[..data.len().min(ipc::DATA_MAX)];
    fd_call(fsp::FS_PWRITE, fd, [data.len() as u64, offset], data, &mut []).map(|r| r as usize)
}

/// Move the file's offset (`SEEK_SET`, `SEEK_CUR`, `SEEK_END`); returns the
/// new offset. ESPIPE on a pipe or the console.
pub fn lseek(fd: Fd, offset: i64, whence: u32) -> Result<u64, Errno> {
    fd_call(fsp::FS_LSEEK, fd, [offset as u64, u64::from(whence)], &[], &mut [])
}

/// Close `fd`.
pub fn close(fd: Fd) -> Result<(), Errno> {
    process::close(fd).map_err(errno_of)
}

/// A new descriptor (the lowest free) for the same open file: the offset
/// is shared.
pub fn dup(fd: Fd) -> Result<Fd, Errno> {
    process::dup(fd).map_err(errno_of)
}

/// Make `new` refer to what `old` refers to (closing what `new` was).
pub fn dup2(old: Fd, new: Fd) -> Result<Fd, Errno> {
    process::dup2(old, new).map(|()| new).map_err(errno_of)
}

/// What `fd` is: type, size, times.
pub fn fstat(fd: Fd) -> Result<Stat, Errno> {
    let mut out = [0u64; fsp::STAT_WORDS];
    fd_call(fsp::FS_FSTAT, fd, [0, 0], &[], bytes_of(&mut out))?;
    fsp::stat_from_words(&out).ok_or(Errno::EIO)
}

/// What `path` is: type, size, times.
pub fn stat(path: &str) -> Result<Stat, Errno> {
    let mut out = [0u64; fsp::STAT_WORDS];
    path_call(fsp::FS_STAT, path, bytes_of(&mut out))?;
    fsp::stat_from_words(&out).ok_or(Errno::EIO)
}

/// Set the access and modification times of `path` (a file or a
/// directory) to `times`, or to now by its file system's clock (`None`):
/// POSIX's `utimensat` (with `UTIME_NOW`). EROFS under `/bin`.
pub fn utimes(path: &str, times: Option<(u64, u64)>) -> Result<(), Errno> {
    if path.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    let (atime, mtime) = times.unwrap_or((fsp::UTIME_NOW, fsp::UTIME_NOW));
    call(fsp::FS_UTIMES, [path.len() as u64, atime, mtime], path.as_bytes(), &mut []).map(|_| ())
}

/// `words` as bytes, to copy an answer into (see `proto::stat_from_words`).
fn bytes_of(words: &mut [u64]) -> &mut [u8] {
    // SAFETY: the same memory, `size_of_val(words)` bytes, borrowed
    // mutably for as long as `words` is; every byte pattern is a valid u64,
    // and u8 needs no alignment.
    unsafe { core::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), core::mem::size_of_val(words)) }
}

/// Sizes of the file system `path` is on.
pub fn statfs(path: &str) -> Result<FsStat, Errno> {
    let mut out = [0u8; fsp::STATFS_SIZE];
    path_call(fsp::FS_STATFS, path, &mut out)?;
    fsp::get_statfs(&out).ok_or(Errno::EIO)
}

/// Cut or extend the file to `size` bytes (extended with zeros).
pub fn ftruncate(fd: Fd, size: u64) -> Result<(), Errno> {
    fd_call(fsp::FS_FTRUNCATE, fd, [size, 0], &[], &mut []).map(|_| ())
}

/// Make a directory.
pub fn mkdir(path: &str) -> Result<(), Errno> {
    path_call(fsp::FS_MKDIR, path, &mut []).map(|_| ())
}

/// Remove an empty directory.
pub fn rmdir(path: &str) -> Result<(), Errno> {
    path_call(fsp::FS_RMDIR, path, &mut []).map(|_| ())
}

/// Remove a file's name (its data goes when no descriptor refers to it).
pub fn unlink(path: &str) -> Result<(), Errno> {
    path_call(fsp::FS_UNLINK, path, &mut []).map(|_| ())
}

/// Move `from` to `to`, replacing what `to` named (POSIX `rename`).
/// EXDEV between file systems.
pub fn rename(from: &str, to: &str) -> Result<(), Errno> {
    if from.len() >= PATH_MAX || to.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    let mut both = Vec::with_capacity(from.len() + to.len());
    both.extend_from_slice(from.as_bytes());
    both.extend_from_slice(to.as_bytes());
    call(fsp::FS_RENAME, [from.len() as u64, to.len() as u64, 0], &both, &mut []).map(|_| ())
}

/// The entries of directory `path` (without `.` and `..`), in the file
/// system's order.
pub fn read_dir(path: &str) -> Result<Vec<DirEntry>, Errno> {
    let fd = open(path, O_RDONLY | O_DIRECTORY)?;
    let mut entries = Vec::new();
    let mut buf = alloc::vec![0u8; ipc::DATA_MAX];
    let result = loop {
        match fd_call(fsp::FS_GETDENTS, fd, [0, 0], &[], &mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => entries.extend(fsp::dirents(&buf[..n as usize])),
            Err(e) => break Err(e),
        }
    };
    let _ = close(fd);
    result.map(|()| entries)
}

/// Change the working directory (relative paths start there; children
/// inherit it).
pub fn chdir(path: &str) -> Result<(), Errno> {
    path_call(proto::CHDIR, path, &mut []).map(|_| ())
}

/// The working directory.
pub fn getcwd() -> Result<String, Errno> {
    let mut out = alloc::vec![0u8; PATH_MAX];
    let (n, _) = call(proto::GETCWD, [0; 3], &[], &mut out)?;
    out.truncate(n as usize);
    String::from_utf8(out).map_err(|_| Errno::EIO)
}

/// The mount points, longest first.
pub fn mounts() -> Result<Vec<String>, Errno> {
    let mut out = alloc::vec![0u8; 4096];
    let (n, _) = call(proto::MOUNTS, [0; 3], &[], &mut out)?;
    let text = core::str::from_utf8(&out[..n as usize]).map_err(|_| Errno::EIO)?;
    Ok(text.lines().map(String::from).collect())
}

/// Read all of `path`.
pub fn read_file(path: &str) -> Result<Vec<u8>, Errno> {
    // Read into the vector itself, a page at a time: a scratch buffer as
    // big as a message would stay in the heap, touched, for good.
    const STEP: usize = 4096;
    let fd = open(path, O_RDONLY)?;
    let mut data = Vec::new();
    let result = loop {
        let len = data.len();
        data.resize(len + STEP, 0);
        match read(fd, &mut data[len..]) {
            Ok(0) => {
                data.truncate(len);
                break Ok(());
            }
            Ok(n) => data.truncate(len + n),
            Err(e) => break Err(e),
        }
    };
    let _ = close(fd);
    result.map(|()| data)
}

/// Write `data` to `path`, made or emptied first.
pub fn write_file(path: &str, data: &[u8]) -> Result<(), Errno> {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC)?;
    let result = write(fd, data).and_then(|n| if n == data.len() { Ok(()) } else { Err(Errno::ENOSPC) });
    let closed = close(fd);
    result.and(closed)
}
