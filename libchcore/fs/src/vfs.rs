//! The `FileSystem` trait: the whole of what a new file system implements.
//!
//! A file system here is a set of inodes named by number ([`Ino`]) with directories mapping names to
//! them. It knows nothing of paths, open files or clients: [`crate::server::Vfs`] walks paths, keeps the
//! open-file table, checks access modes and decides when an inode may be freed. What is left is small
//! enough that a new file system is one crate with one `impl FileSystem`.
//!
//! # The contract
//! - Names given to the trait's methods have passed [`crate::path::validate_name`] when they come from the
//!   `Vfs`; an implementation must still not panic on any input (return EINVAL or ENAMETOOLONG).
//! - `now` is the caller's clock (seconds or nanoseconds: the file system only stores it).
//! - Removing a name never frees the inode. [`FileSystem::unlink`], [`FileSystem::rmdir`] and
//!   [`FileSystem::rename`] return the inode whose link count dropped; the inode (and its data) must stay
//!   readable and writable until [`FileSystem::evict`], which the `Vfs` calls once its link count is zero
//!   and no open file refers to it. This is how a file unlinked while open keeps its data.
//! - A method that fails changes nothing.

use alloc::string::String;

use crate::errno::Errno;

/// An inode number, unique within one file system while the inode exists.
pub type Ino = u64;

/// What an inode is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileType {
    /// A regular file: bytes.
    File,
    /// A directory: names of other inodes.
    Dir,
}

/// What `stat` shows about an inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr {
    /// The inode's number.
    pub ino: Ino,
    /// File or directory.
    pub kind: FileType,
    /// Bytes for a file; for a directory whatever the file system reports (tmpfs: its entry count).
    pub size: u64,
    /// Space the inode's data occupies, in 512-byte units like `st_blocks` (less than `size` for a sparse
    /// file).
    pub blocks: u64,
    /// Names referring to the inode; a directory counts its entry in its parent, its own `.` and each
    /// subdirectory's `..`, as on Linux. Zero once removed.
    pub nlink: u32,
    /// Last read.
    pub atime: u64,
    /// Last change of the contents (a file's bytes, a directory's entries).
    pub mtime: u64,
    /// Last change of the contents or of the inode itself (size, links, name).
    pub ctime: u64,
    /// The inode cannot be changed: opening it for writing gives EROFS.
    pub readonly: bool,
}

/// One directory entry, as [`FileSystem::readdir`] returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's name (never `.` or `..`: file systems do not list them, which POSIX allows).
    pub name: String,
    /// The inode it names.
    pub ino: Ino,
    /// The inode's kind, so that `ls` needs no `stat` per entry.
    pub kind: FileType,
}

/// What `statfs` shows about a file system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatFs {
    /// Size of the unit the other counts use, in bytes.
    pub block_size: u64,
    /// Total size in blocks.
    pub blocks: u64,
    /// Free blocks.
    pub free_blocks: u64,
    /// Inodes in use.
    pub files: u64,
    /// The longest name the file system accepts, in bytes.
    pub name_max: u64,
    /// The file system is read-only.
    pub readonly: bool,
}

/// The operations a file system implements; the `Vfs` builds everything else on them.
///
/// Errors common to all methods: ENOENT for an `ino` that does not exist (or a name not in `dir`),
/// ENOTDIR when `dir` is not a directory, EROFS for any change to a read-only file system, and
/// EINVAL/ENAMETOOLONG for a name that [`crate::path::validate_name`] refuses.
pub trait FileSystem {
    /// The root directory's inode number.
    fn root(&self) -> Ino;

    /// The inode that `name` names in directory `dir`.
    fn lookup(&self, dir: Ino, name: &str) -> Result<Ino, Errno>;

    /// The inode's attributes.
    fn getattr(&self, ino: Ino) -> Result<Attr, Errno>;

    /// Makes a new empty file or directory called `name` in `dir` and returns its inode.
    ///
    /// Errors: EEXIST if the name exists, ENOSPC if there is no room for it.
    fn create(&mut self, dir: Ino, name: &str, kind: FileType, now: u64) -> Result<Ino, Errno>;

    /// Removes the name of a non-directory and returns its inode (not freed: see the module docs).
    ///
    /// Errors: EISDIR if `name` is a directory (as Linux's `unlink`).
    fn unlink(&mut self, dir: Ino, name: &str, now: u64) -> Result<Ino, Errno>;

    /// Removes an empty directory's name and returns its inode (not freed).
    ///
    /// Errors: ENOTDIR if `name` is not a directory, ENOTEMPTY if it has entries.
    fn rmdir(&mut self, dir: Ino, name: &str, now: u64) -> Result<Ino, Errno>;

    /// Moves `from_dir/from` to `to_dir/to`, atomically replacing what `to` named, as POSIX `rename`:
    /// a file may replace a file, a directory may replace an empty directory; the same inode under both
    /// names is a no-op. Returns the replaced inode, if any (not freed).
    ///
    /// Errors: EISDIR (a file onto a directory), ENOTDIR (a directory onto a file), ENOTEMPTY (onto a
    /// non-empty directory), EINVAL (a directory into its own subtree; the `Vfs` checks this by path
    /// before calling, an implementation should check it too if it can do so cheaply).
    fn rename(&mut self, from_dir: Ino, from: &str, to_dir: Ino, to: &str, now: u64) -> Result<Option<Ino>, Errno>;

    /// Reads from a file at `offset` into `buf`, returning the count read: short at the end of the file,
    /// zero at or past it. Holes read as zeros.
    ///
    /// Errors: EISDIR for a directory.
    fn read(&mut self, ino: Ino, offset: u64, buf: &mut [u8], now: u64) -> Result<usize, Errno>;

    /// Writes `data` to a file at `offset`, growing it as needed, returning the count written. A write
    /// that only partly fits may be short; one that cannot write anything fails.
    ///
    /// Errors: EISDIR for a directory, ENOSPC when no byte fits, EFBIG when `offset` is at or past the
    /// largest file size.
    fn write(&mut self, ino: Ino, offset: u64, data: &[u8], now: u64) -> Result<usize, Errno>;

    /// Sets a file's size, cutting data off or extending with zeros.
    ///
    /// Errors: EISDIR for a directory, EFBIG past the largest file size.
    fn truncate(&mut self, ino: Ino, size: u64, now: u64) -> Result<(), Errno>;

    /// Sets inode `ino`'s access and modification times (`utimes`; its
    /// change time becomes `now`). EROFS on a read-only file system.
    fn set_times(&mut self, ino: Ino, atime: u64, mtime: u64, now: u64) -> Result<(), Errno>;

    /// The first entry of `dir` at or after position `cookie` and the cookie of the position after it;
    /// `None` at the end. Start with cookie 0. While a directory changes, an entry that is neither
    /// added nor removed must be returned exactly once in a walk from 0 (POSIX leaves the others open).
    fn readdir(&self, dir: Ino, cookie: u64) -> Result<Option<(DirEntry, u64)>, Errno>;

    /// Sizes and counts for `statfs`.
    fn statfs(&self) -> StatFs;

    /// Frees an inode whose link count is zero and which no open file refers to. The `Vfs` calls it
    /// exactly once per such inode; an implementation ignores inodes that are unknown or still linked.
    fn evict(&mut self, ino: Ino);
}
