//! The file-system protocol: what a request puts in the IPC words and the shared buffer, and the
//! server side of it for any [`FileSystem`].
//!
//! A request is an IPC call with the operation in word 0 and numbers (a handle, a length, an
//! offset) in words 1-3; paths and file data travel in the connection's shared buffer, never in the
//! words. The reply's return value is the result (a count, an offset, a handle) or a negated
//! [`Errno`] number, with up to three more words. Operation numbers start at [`FS_BASE`], so a
//! server that speaks another protocol as well (procmgr serves `/bin` beside its own calls) can tell
//! them apart by the number alone.
//!
//! [`serve`] is the whole server side: it decodes a request, runs it on a [`Vfs`] and encodes the
//! answer. It copies paths out of the buffer before checking and using them, because the client
//! shares the buffer and may change it during the call; file data it writes from the buffer as it is. A file-system server is this function behind an IPC
//! entry point and a lock.

use alloc::string::String;

use crate::errno::Errno;
use crate::path::{Path, PATH_MAX};
use crate::server::{Handle, Vfs};
use crate::vfs::{Attr, DirEntry, FileSystem, FileType, StatFs};

/// The first operation number of this protocol.
pub const FS_BASE: u64 = 0x100;
/// `open`: words = [op, flags, path length]; buffer = path. Returns the handle.
pub const FS_OPEN: u64 = FS_BASE + 1;
/// `close`: words = [op, handle].
pub const FS_CLOSE: u64 = FS_BASE + 2;
/// `read` at the handle's offset: words = [op, handle, length]. Returns the count; the bytes are
/// in the buffer.
pub const FS_READ: u64 = FS_BASE + 3;
/// `write` at the handle's offset (its end with `O_APPEND`): words = [op, handle, length];
/// buffer = the bytes. Returns the count.
pub const FS_WRITE: u64 = FS_BASE + 4;
/// `pread`: words = [op, handle, length, offset]. As [`FS_READ`], offset unchanged.
pub const FS_PREAD: u64 = FS_BASE + 5;
/// `pwrite`: words = [op, handle, length, offset]. As [`FS_WRITE`], offset unchanged.
pub const FS_PWRITE: u64 = FS_BASE + 6;
/// `lseek`: words = [op, handle, offset (two's complement), whence]. Returns the new offset.
pub const FS_LSEEK: u64 = FS_BASE + 7;
/// `fstat`: words = [op, handle]; the answer is a [`Stat`] in the buffer.
pub const FS_FSTAT: u64 = FS_BASE + 8;
/// `ftruncate`: words = [op, handle, size].
pub const FS_FTRUNCATE: u64 = FS_BASE + 9;
/// Directory entries of a handle opened on a directory, from its offset on, as many as fit in the
/// buffer (see [`put_dirent`]): words = [op, handle]. Returns the byte count (0: no more).
pub const FS_GETDENTS: u64 = FS_BASE + 10;
/// `dup`: a second handle to the same open file description. words = [op, handle].
pub const FS_DUP: u64 = FS_BASE + 11;
/// `mmap` of a handle's file: words = [op, handle, 1 for a shared writable mapping]. Returns the
/// file's key; the reply carries a capability to the file's paged PMO ([`crate::mapped`]), with
/// WRITE only for a shared writable mapping (see [`crate::mapped::may_map`]). Servers that cannot
/// map files answer ENODEV.
pub const FS_MMAP: u64 = FS_BASE + 12;
/// `msync`: words = [op, key, offset, length]: copy the mapped file's pages in that range back
/// into the file system ([`crate::mapped::Mapped::sync`]).
pub const FS_MSYNC: u64 = FS_BASE + 13;
/// `stat`: words = [op, path length]; buffer = path; the answer is a [`Stat`] in the buffer.
pub const FS_STAT: u64 = FS_BASE + 16;
/// `mkdir`: words = [op, path length]; buffer = path.
pub const FS_MKDIR: u64 = FS_BASE + 17;
/// `rmdir`: words = [op, path length]; buffer = path.
pub const FS_RMDIR: u64 = FS_BASE + 18;
/// `unlink`: words = [op, path length]; buffer = path.
pub const FS_UNLINK: u64 = FS_BASE + 19;
/// `rename`: words = [op, from length, to length]; buffer = from then to.
pub const FS_RENAME: u64 = FS_BASE + 20;
/// `statfs` of the file system `path` is on: words = [op, path length];
/// buffer = path (which must exist); the answer is a [`FsStat`] in the buffer.
pub const FS_STATFS: u64 = FS_BASE + 21;

/// `utimes`: words = [op, path length, atime, mtime]; buffer = path. A time of [`UTIME_NOW`] is
/// the server's clock.
pub const FS_UTIMES: u64 = FS_BASE + 22;
/// [`FS_UTIMES`]: "now", in the server's clock (POSIX's `UTIME_NOW`).
pub const UTIME_NOW: u64 = u64::MAX;

/// Bytes of an encoded [`Stat`].
pub const STAT_SIZE: usize = 72;
/// Bytes of an encoded [`FsStat`].
pub const STATFS_SIZE: usize = 48;
/// Bytes before a directory entry's name (see [`put_dirent`]).
pub const DIRENT_HEAD: usize = 10;

/// What `stat` and `fstat` answer: [`Attr`] as it travels.
pub type Stat = Attr;
/// What `statfs` answers.
pub type FsStat = StatFs;

/// Whether `op` belongs to this protocol.
pub const fn is_fs_op(op: u64) -> bool {
    op > FS_BASE && op < FS_BASE + 0x100
}

/// The result of one request: the return value (or negated errno) and three words.
pub type Answer = (i64, [u64; 3]);

/// How many bytes of a successful answer's buffer the caller copies back
/// into the `asked` it offered: as many as a positive return value counts
/// (a read, directory entries), or all `asked` when it returns 0 (a `Stat`,
/// an `FsStat`).
pub fn answer_bytes(ret: i64, asked: usize) -> usize {
    if ret > 0 {
        usize::try_from(ret).map_or(asked, |n| n.min(asked))
    } else {
        asked
    }
}

/// The answer that carries error `e`.
pub fn fail(e: Errno) -> Answer {
    (e.to_result(), [0; 3])
}

fn done(v: u64) -> Answer {
    (v as i64, [0; 3])
}

/// Serve one request on `vfs`: `words` and `buf` are the call's words and shared buffer (the
/// answer's bytes go into `buf`), `now` the server's clock. Never panics on any input.
pub fn serve<F: FileSystem>(vfs: &mut Vfs<F>, words: [u64; 4], buf: &mut [u8], now: u64) -> Answer {
    match run(vfs, words, buf, now) {
        Ok(a) => a,
        Err(e) => fail(e),
    }
}

fn run<F: FileSystem>(vfs: &mut Vfs<F>, [op, a, b, c]: [u64; 4], buf: &mut [u8], now: u64) -> Result<Answer, Errno> {
    let handle = Handle::from_raw(a);
    Ok(match op {
        FS_OPEN => {
            let flags = u32::try_from(a).map_err(|_| Errno::EINVAL)?;
            let path = take_path(buf, 0, b)?;
            done(vfs.open(&path, flags, now)?.to_raw())
        }
        FS_CLOSE => done(vfs.close(handle).map(|()| 0)?),
        FS_READ => {
            let out = window(buf, b)?;
            done(vfs.read(handle, out, now)? as u64)
        }
        FS_PREAD => {
            let out = window(buf, b)?;
            done(vfs.pread(handle, out, c, now)? as u64)
        }
        FS_WRITE | FS_PWRITE => {
            // Written straight from the buffer: a client that changes it
            // meanwhile gets some mix of its bytes in its file, as a writer
            // that changes its buffer during `write` does elsewhere. (Paths,
            // which are checked before use, are copied out first.)
            let data = window(buf, b)?;
            let n = if op == FS_WRITE { vfs.write(handle, data, now)? } else { vfs.pwrite(handle, data, c, now)? };
            done(n as u64)
        }
        FS_LSEEK => {
            let whence = u32::try_from(c).map_err(|_| Errno::EINVAL)?;
            done(vfs.lseek(handle, b as i64, whence)?)
        }
        FS_FSTAT => {
            let st = vfs.fstat(handle)?;
            put_stat(buf, &st)?;
            done(0)
        }
        FS_FTRUNCATE => done(vfs.ftruncate(handle, b, now).map(|()| 0)?),
        FS_GETDENTS => {
            let mut used = 0;
            // `getdents` moves the offset past what it returns, so an entry is taken only while the
            // longest possible one would still fit.
            while buf.len() - used >= DIRENT_HEAD + crate::path::NAME_MAX {
                match vfs.getdents(handle)? {
                    Some(entry) => used += put_dirent(&mut buf[used..], &entry)?,
                    None => break,
                }
            }
            done(used as u64)
        }
        FS_DUP => done(vfs.dup(handle)?.to_raw()),
        FS_STAT => {
            let path = take_path(buf, 0, a)?;
            let st = vfs.stat(&path)?;
            put_stat(buf, &st)?;
            done(0)
        }
        FS_MKDIR => done(vfs.mkdir(&take_path(buf, 0, a)?, now).map(|()| 0)?),
        FS_RMDIR => done(vfs.rmdir(&take_path(buf, 0, a)?, now).map(|()| 0)?),
        FS_UNLINK => done(vfs.unlink(&take_path(buf, 0, a)?, now).map(|()| 0)?),
        FS_RENAME => {
            let from = take_path(buf, 0, a)?;
            let start = usize::try_from(a).map_err(|_| Errno::EINVAL)?;
            let to = take_path(buf, start, b)?;
            done(vfs.rename(&from, &to, now).map(|()| 0)?)
        }
        FS_UTIMES => {
            let at = |t: u64| if t == UTIME_NOW { now } else { t };
            done(vfs.utimes(&take_path(buf, 0, a)?, at(b), at(c), now).map(|()| 0)?)
        }
        FS_STATFS => {
            vfs.stat(&take_path(buf, 0, a)?)?;
            let st = vfs.statfs();
            put_statfs(buf, &st)?;
            done(0)
        }
        _ => return Err(Errno::ENOSYS),
    })
}

/// The first `len` bytes of `buf`, or EINVAL if it has fewer.
fn window(buf: &mut [u8], len: u64) -> Result<&mut [u8], Errno> {
    let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
    buf.get_mut(..len).ok_or(Errno::EINVAL)
}

/// The absolute path of `len` bytes at `start` in `buf`, copied out and checked.
fn take_path(buf: &[u8], start: usize, len: u64) -> Result<Path, Errno> {
    let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
    if len >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    let bytes = start.checked_add(len).and_then(|end| buf.get(start..end)).ok_or(Errno::EINVAL)?;
    let text = String::from(core::str::from_utf8(bytes).map_err(|_| Errno::EINVAL)?);
    Path::parse(&text)
}

/// A path as it travels: with its trailing slash when it must name a directory, so the server
/// applies the same rule.
pub fn path_text(path: &Path) -> String {
    alloc::format!("{path}")
}

fn get_u64(buf: &[u8], i: usize) -> u64 {
    buf.get(i * 8..i * 8 + 8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes)
}

fn put_u64s(buf: &mut [u8], words: &[u64]) -> Result<(), Errno> {
    let out = buf.get_mut(..words.len() * 8).ok_or(Errno::EINVAL)?;
    for (chunk, w) in out.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    Ok(())
}

const KIND_FILE: u64 = 1;
const KIND_DIR: u64 = 2;

fn kind_number(kind: FileType) -> u64 {
    match kind {
        FileType::File => KIND_FILE,
        FileType::Dir => KIND_DIR,
    }
}

fn kind_of(n: u64) -> Option<FileType> {
    match n {
        KIND_FILE => Some(FileType::File),
        KIND_DIR => Some(FileType::Dir),
        _ => None,
    }
}

/// Encode `st` into the first [`STAT_SIZE`] bytes of `buf`.
pub fn put_stat(buf: &mut [u8], st: &Stat) -> Result<(), Errno> {
    put_u64s(
        buf,
        &[
            st.ino,
            kind_number(st.kind),
            st.size,
            st.blocks,
            u64::from(st.nlink),
            st.atime,
            st.mtime,
            st.ctime,
            u64::from(st.readonly),
        ],
    )
}

/// The 64-bit words of an encoded [`Stat`].
pub const STAT_WORDS: usize = STAT_SIZE / 8;

/// Decode a [`Stat`] that [`put_stat`] encoded (`None` if it is malformed).
pub fn get_stat(buf: &[u8]) -> Option<Stat> {
    if buf.len() < STAT_SIZE {
        return None;
    }
    stat_from_words(&core::array::from_fn(|i| get_u64(buf, i)))
}

/// [`get_stat`] of an encoded [`Stat`] already copied into words (as
/// stored: little-endian), for a caller that copies the answer out of the
/// buffer into aligned memory: the compiler may then load each word at once
/// instead of byte by byte (user code is built for strict alignment).
pub fn stat_from_words(w: &[u64; STAT_WORDS]) -> Option<Stat> {
    let w = w.map(u64::from_le);
    Some(Attr {
        ino: w[0],
        kind: kind_of(w[1])?,
        size: w[2],
        blocks: w[3],
        nlink: u32::try_from(w[4]).ok()?,
        atime: w[5],
        mtime: w[6],
        ctime: w[7],
        readonly: w[8] != 0,
    })
}

/// Encode `st` into the first [`STATFS_SIZE`] bytes of `buf`.
pub fn put_statfs(buf: &mut [u8], st: &FsStat) -> Result<(), Errno> {
    put_u64s(buf, &[st.block_size, st.blocks, st.free_blocks, st.files, st.name_max, u64::from(st.readonly)])
}

/// Decode a [`FsStat`] that [`put_statfs`] encoded.
pub fn get_statfs(buf: &[u8]) -> Option<FsStat> {
    if buf.len() < STATFS_SIZE {
        return None;
    }
    Some(StatFs {
        block_size: get_u64(buf, 0),
        blocks: get_u64(buf, 1),
        free_blocks: get_u64(buf, 2),
        files: get_u64(buf, 3),
        name_max: get_u64(buf, 4),
        readonly: get_u64(buf, 5) != 0,
    })
}

/// Encode one directory entry at the start of `buf`: the inode number (8 bytes, little-endian),
/// the kind (1 byte: 1 file, 2 directory), the name's length (1 byte), the name. Returns the bytes
/// used.
pub fn put_dirent(buf: &mut [u8], entry: &DirEntry) -> Result<usize, Errno> {
    let name = entry.name.as_bytes();
    let len = u8::try_from(name.len()).map_err(|_| Errno::ENAMETOOLONG)?;
    let total = DIRENT_HEAD + name.len();
    let out = buf.get_mut(..total).ok_or(Errno::EINVAL)?;
    out[..8].copy_from_slice(&entry.ino.to_le_bytes());
    out[8] = kind_number(entry.kind) as u8;
    out[9] = len;
    out[DIRENT_HEAD..].copy_from_slice(name);
    Ok(total)
}

/// The entries [`FS_GETDENTS`] put in a buffer, in order; stops at the first malformed one.
pub fn dirents(mut buf: &[u8]) -> impl Iterator<Item = DirEntry> + '_ {
    core::iter::from_fn(move || {
        let head = buf.get(..DIRENT_HEAD)?;
        let ino = u64::from_le_bytes(head[..8].try_into().ok()?);
        let kind = kind_of(u64::from(head[8]))?;
        let len = usize::from(head[9]);
        let name = core::str::from_utf8(buf.get(DIRENT_HEAD..DIRENT_HEAD + len)?).ok()?;
        let entry = DirEntry { name: String::from(name), ino, kind };
        buf = &buf[DIRENT_HEAD + len..];
        Some(entry)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{O_CREAT, O_DIRECTORY, O_RDONLY, O_RDWR, SEEK_SET};
    use crate::tmpfs::Tmpfs;
    use alloc::vec;
    use alloc::vec::Vec;

    /// `path` at the start of `buf`, as a client puts it; returns its length.
    fn put_path(buf: &mut [u8], path: &Path) -> Result<u64, Errno> {
        put_bytes(buf, 0, path_text(path).as_bytes())
    }

    /// `from` then `to`, for `FS_RENAME`; returns their lengths.
    fn put_two_paths(buf: &mut [u8], from: &Path, to: &Path) -> Result<(u64, u64), Errno> {
        let a = put_bytes(buf, 0, path_text(from).as_bytes())?;
        let b = put_bytes(buf, a as usize, path_text(to).as_bytes())?;
        Ok((a, b))
    }

    fn put_bytes(buf: &mut [u8], at: usize, bytes: &[u8]) -> Result<u64, Errno> {
        let end = at.checked_add(bytes.len()).ok_or(Errno::ENAMETOOLONG)?;
        buf.get_mut(at..end).ok_or(Errno::ENAMETOOLONG)?.copy_from_slice(bytes);
        Ok(bytes.len() as u64)
    }

    fn vfs() -> Vfs<Tmpfs> {
        Vfs::new(Tmpfs::new(64), 16)
    }

    /// One request as a client makes it: `path` (if any) goes in the buffer first.
    fn call(v: &mut Vfs<Tmpfs>, buf: &mut [u8], words: [u64; 4]) -> Result<(u64, [u64; 3]), Errno> {
        let (ret, w) = serve(v, words, buf, 7);
        if ret < 0 {
            Err(Errno::from_result(ret).expect("a known errno"))
        } else {
            Ok((ret as u64, w))
        }
    }

    fn path(buf: &mut [u8], p: &str) -> u64 {
        put_path(buf, &Path::parse(p).unwrap()).unwrap()
    }

    #[test]
    fn a_file_round_trip() {
        let mut v = vfs();
        let mut buf = vec![0u8; 16 << 10];
        let n = path(&mut buf, "/notes");
        let (h, _) = call(&mut v, &mut buf, [FS_OPEN, u64::from(O_RDWR | O_CREAT), n, 0]).unwrap();
        buf[..5].copy_from_slice(b"hello");
        assert_eq!(call(&mut v, &mut buf, [FS_WRITE, h, 5, 0]).unwrap().0, 5);
        assert_eq!(call(&mut v, &mut buf, [FS_LSEEK, h, 1, u64::from(SEEK_SET)]).unwrap().0, 1);
        buf.fill(0);
        assert_eq!(call(&mut v, &mut buf, [FS_READ, h, 100, 0]).unwrap().0, 4);
        assert_eq!(&buf[..4], b"ello");
        assert_eq!(call(&mut v, &mut buf, [FS_PREAD, h, 2, 3]).unwrap().0, 2);
        assert_eq!(&buf[..2], b"lo");
        buf[..2].copy_from_slice(b"XY");
        assert_eq!(call(&mut v, &mut buf, [FS_PWRITE, h, 2, 10]).unwrap().0, 2);
        call(&mut v, &mut buf, [FS_FSTAT, h, 0, 0]).unwrap();
        let st = get_stat(&buf).unwrap();
        assert_eq!((st.kind, st.size, st.mtime), (FileType::File, 12, 7));
        call(&mut v, &mut buf, [FS_FTRUNCATE, h, 3, 0]).unwrap();
        let n = path(&mut buf, "/notes");
        call(&mut v, &mut buf, [FS_STAT, n, 0, 0]).unwrap();
        assert_eq!(get_stat(&buf).unwrap().size, 3);
        let (h2, _) = call(&mut v, &mut buf, [FS_DUP, h, 0, 0]).unwrap();
        call(&mut v, &mut buf, [FS_CLOSE, h, 0, 0]).unwrap();
        assert_eq!(call(&mut v, &mut buf, [FS_CLOSE, h, 0, 0]), Err(Errno::EBADF));
        call(&mut v, &mut buf, [FS_CLOSE, h2, 0, 0]).unwrap();
        assert_eq!(v.open_handles(), 0);
    }

    #[test]
    fn directories_and_names() {
        let mut v = vfs();
        let mut buf = vec![0u8; 4096];
        for d in ["/a", "/a/b", "/c"] {
            let n = path(&mut buf, d);
            call(&mut v, &mut buf, [FS_MKDIR, n, 0, 0]).unwrap();
        }
        let n = path(&mut buf, "/a");
        assert_eq!(call(&mut v, &mut buf, [FS_RMDIR, n, 0, 0]), Err(Errno::ENOTEMPTY));
        let (a, b) = put_two_paths(&mut buf, &Path::parse("/c").unwrap(), &Path::parse("/a/d").unwrap()).unwrap();
        call(&mut v, &mut buf, [FS_RENAME, a, b, 0]).unwrap();
        let n = path(&mut buf, "/a");
        let (h, _) = call(&mut v, &mut buf, [FS_OPEN, u64::from(O_RDONLY | O_DIRECTORY), n, 0]).unwrap();
        let (len, _) = call(&mut v, &mut buf, [FS_GETDENTS, h, 0, 0]).unwrap();
        let mut names: Vec<String> = dirents(&buf[..len as usize]).map(|e| e.name).collect();
        names.sort();
        assert_eq!(names, ["b", "d"]);
        assert_eq!(call(&mut v, &mut buf, [FS_GETDENTS, h, 0, 0]).unwrap().0, 0);
        let n = path(&mut buf, "/a/b");
        assert_eq!(call(&mut v, &mut buf, [FS_UNLINK, n, 0, 0]), Err(Errno::EISDIR));
        let n = path(&mut buf, "/a/nothere");
        assert_eq!(call(&mut v, &mut buf, [FS_STATFS, n, 0, 0]), Err(Errno::ENOENT));
        let n = path(&mut buf, "/a");
        call(&mut v, &mut buf, [FS_STATFS, n, 0, 0]).unwrap();
        let st = get_statfs(&buf).unwrap();
        assert!(st.free_blocks < st.blocks && !st.readonly);
    }

    #[test]
    fn getdents_fills_the_buffer_and_resumes() {
        let mut v = vfs();
        let mut buf = vec![0u8; 4096];
        for i in 0..40 {
            let n = path(&mut buf, &alloc::format!("/file-with-a-longish-name-{i:03}"));
            let (h, _) = call(&mut v, &mut buf, [FS_OPEN, u64::from(O_RDWR | O_CREAT), n, 0]).unwrap();
            call(&mut v, &mut buf, [FS_CLOSE, h, 0, 0]).unwrap();
        }
        let n = path(&mut buf, "/");
        let (h, _) = call(&mut v, &mut buf, [FS_OPEN, u64::from(O_RDONLY), n, 0]).unwrap();
        let mut small = vec![0u8; 600];
        let mut seen = Vec::new();
        loop {
            let (len, _) = call(&mut v, &mut small, [FS_GETDENTS, h, 0, 0]).unwrap();
            if len == 0 {
                break;
            }
            seen.extend(dirents(&small[..len as usize]).map(|e| e.name));
        }
        assert_eq!(seen.len(), 40);
    }

    #[test]
    fn malformed_requests_get_errors() {
        let mut v = vfs();
        let mut buf = vec![0u8; 64];
        // Lengths past the buffer, bad UTF-8, relative paths, unknown operations, forged handles.
        assert_eq!(call(&mut v, &mut buf, [FS_STAT, 65, 0, 0]), Err(Errno::EINVAL));
        assert_eq!(call(&mut v, &mut buf, [FS_STAT, u64::MAX, 0, 0]), Err(Errno::ENAMETOOLONG));
        buf[..2].copy_from_slice(&[0xff, 0xfe]);
        assert_eq!(call(&mut v, &mut buf, [FS_MKDIR, 2, 0, 0]), Err(Errno::EINVAL));
        buf[..3].copy_from_slice(b"abc");
        assert!(call(&mut v, &mut buf, [FS_MKDIR, 3, 0, 0]).is_err());
        assert_eq!(call(&mut v, &mut buf, [FS_BASE + 99, 0, 0, 0]), Err(Errno::ENOSYS));
        assert_eq!(call(&mut v, &mut buf, [0, 0, 0, 0]), Err(Errno::ENOSYS));
        for h in [0, 1, u64::MAX, 1 << 32] {
            assert_eq!(call(&mut v, &mut buf, [FS_READ, h, 8, 0]), Err(Errno::EBADF));
            assert_eq!(call(&mut v, &mut buf, [FS_CLOSE, h, 0, 0]), Err(Errno::EBADF));
        }
        let n = path(&mut buf, "/f");
        let (h, _) = call(&mut v, &mut buf, [FS_OPEN, u64::from(O_RDWR | O_CREAT), n, 0]).unwrap();
        assert_eq!(call(&mut v, &mut buf, [FS_READ, h, 65, 0]), Err(Errno::EINVAL));
        assert_eq!(call(&mut v, &mut buf, [FS_WRITE, h, u64::MAX, 0]), Err(Errno::EINVAL));
        assert_eq!(call(&mut v, &mut buf, [FS_OPEN, 1 << 40, n, 0]), Err(Errno::EINVAL));
        assert_eq!(call(&mut v, &mut buf, [FS_LSEEK, h, 0, 1 << 40]), Err(Errno::EINVAL));
        assert_eq!(call(&mut v, &mut buf, [FS_RENAME, u64::MAX, 1, 0]), Err(Errno::ENAMETOOLONG));
        // A buffer too small for the answer.
        let mut tiny = [0u8; 8];
        assert_eq!(call(&mut v, &mut tiny, [FS_FSTAT, h, 0, 0]), Err(Errno::EINVAL));
        let n = path(&mut tiny, "/");
        assert_eq!(call(&mut v, &mut tiny, [FS_STATFS, n, 0, 0]), Err(Errno::EINVAL));
    }

    #[test]
    fn random_requests_never_panic() {
        let mut v = vfs();
        let mut buf = vec![0u8; 512];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let op = FS_BASE + next() % 24;
            let pick = |r: u64| match r % 4 {
                0 => r % 600,
                1 => r,
                2 => r % 8,
                _ => 1 << (r % 64),
            };
            let words = [op, pick(next()), pick(next()), pick(next())];
            if next() % 3 == 0 {
                let p = ["/", "/a", "/a/b", "/x/", "/a/../c"][(next() % 5) as usize];
                path(&mut buf, p);
            } else {
                let i = (next() % 512) as usize;
                buf[i] = next() as u8;
            }
            let _ = serve(&mut v, words, &mut buf, 1);
        }
    }

    #[test]
    fn answer_bytes_follow_the_return_value() {
        assert_eq!(answer_bytes(5, 100), 5);
        assert_eq!(answer_bytes(500, 100), 100, "never more than offered");
        assert_eq!(answer_bytes(0, STAT_SIZE), STAT_SIZE, "0: the whole fixed-size answer");
        assert_eq!(answer_bytes(i64::MAX, 8), 8);
    }

    #[test]
    fn stat_and_dirent_encodings_round_trip() {
        let st = Attr {
            ino: 9,
            kind: FileType::Dir,
            size: 1 << 40,
            blocks: 3,
            nlink: 4,
            atime: 5,
            mtime: 6,
            ctime: 7,
            readonly: true,
        };
        let mut buf = [0u8; STAT_SIZE];
        put_stat(&mut buf, &st).unwrap();
        assert_eq!(get_stat(&buf), Some(st));
        assert_eq!(get_stat(&buf[..STAT_SIZE - 1]), None);
        let e = DirEntry { name: "x".repeat(255), ino: 3, kind: FileType::File };
        let mut buf = [0u8; 300];
        let n = put_dirent(&mut buf, &e).unwrap();
        assert_eq!(n, DIRENT_HEAD + 255);
        assert_eq!(dirents(&buf[..n]).collect::<Vec<_>>(), [e]);
        // A truncated entry ends the walk instead of reading past the end.
        assert_eq!(dirents(&buf[..n - 1]).count(), 0);
    }
}
