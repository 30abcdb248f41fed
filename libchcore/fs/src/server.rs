//! The file-system–independent half of every FS server: path walk, open-file table, POSIX rules.
//!
//! [`Vfs`] wraps one [`FileSystem`] and turns the protocol's requests (a normalised [`Path`] relative to
//! the file system's root, a [`Handle`], flags, offsets) into calls on it. Everything POSIX says about
//! `open` flags, access modes, file offsets, trailing slashes and which errno comes first lives here,
//! once, so that each file system only implements inode operations.
//!
//! # Handles and open file descriptions
//! As in POSIX, a handle refers to an *open file description* (the file, the access mode, `O_APPEND` and
//! the offset); [`Vfs::dup`] makes a second handle to the same description, so the two share the offset.
//! The description lives until its last handle is closed. The table is shared by every client of the
//! server and holds at most `max_open` handles; when it is full, opening or duplicating gives ENFILE
//! (the system-wide error: EMFILE is the client's own descriptor table being full).
//!
//! A handle's value is `generation << 32 | slot`. Each slot's generation moves on when the slot is
//! freed, so a stale or made-up handle gives EBADF instead of reaching whatever file reuses the slot
//! (until the 32-bit generation wraps, 2^32 reuses of one slot later). Generation 0 is never used, so
//! the raw value 0 is never a valid handle.
//!
//! # Freeing inodes
//! The `Vfs` counts open descriptions per inode. When a name is removed (unlink, rmdir, rename over it)
//! or a description is closed, an inode with no links and no open description is passed to
//! [`FileSystem::evict`]: a file unlinked while open keeps its data until its last close.
//!
//! # Offsets
//! Offsets are `u64` in the protocol but must fit an `off_t` (`i64`), as on Linux: `pread`/`pwrite` at an
//! offset above `i64::MAX`, `ftruncate` to such a length, or an `lseek` to a negative or larger position
//! give EINVAL.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::errno::Errno;
use crate::path::Path;
use crate::vfs::{Attr, DirEntry, FileSystem, FileType, Ino, StatFs};

/// Open for reading only.
pub const O_RDONLY: u32 = 0;
/// Open for writing only.
pub const O_WRONLY: u32 = 1;
/// Open for reading and writing.
pub const O_RDWR: u32 = 2;
/// The bits holding the access mode.
pub const O_ACCMODE: u32 = 3;
/// Create the file if it does not exist.
pub const O_CREAT: u32 = 0o100;
/// With `O_CREAT`: fail with EEXIST if the file exists.
pub const O_EXCL: u32 = 0o200;
/// Cut an existing regular file to length 0.
pub const O_TRUNC: u32 = 0o1000;
/// Every write goes to the end of the file.
pub const O_APPEND: u32 = 0o2000;
/// Fail with ENOTDIR unless the path is a directory (AArch64 Linux's value).
pub const O_DIRECTORY: u32 = 0o40000;
/// Every flag `open` accepts; any other bit gives EINVAL.
pub const O_ALL: u32 = O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_DIRECTORY;

/// `lseek` from the start of the file.
pub const SEEK_SET: u32 = 0;
/// `lseek` from the current offset.
pub const SEEK_CUR: u32 = 1;
/// `lseek` from the end of the file.
pub const SEEK_END: u32 = 2;

/// A reasonable size for a server's open-file table.
pub const DEFAULT_MAX_OPEN: usize = 1024;

/// The largest offset or size the protocol accepts (`off_t`'s maximum).
const MAX_OFFSET: u64 = i64::MAX as u64;

/// A client's reference to an open file description; see the module docs for its layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(u64);

impl Handle {
    /// The value that travels in IPC messages.
    pub const fn to_raw(self) -> u64 {
        self.0
    }

    /// A handle from an IPC message: any value is accepted here and checked when used.
    pub const fn from_raw(raw: u64) -> Handle {
        Handle(raw)
    }

    fn new(slot: u32, generation: u32) -> Handle {
        Handle(u64::from(generation) << 32 | u64::from(slot))
    }

    fn slot(self) -> usize {
        (self.0 & 0xffff_ffff) as usize
    }

    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// An open file description.
struct OpenFile {
    ino: Ino,
    kind: FileType,
    readable: bool,
    writable: bool,
    append: bool,
    /// The file offset; for a directory, the readdir cookie of the next entry.
    offset: u64,
    /// Handles referring to this description.
    handles: u32,
}

struct Slot {
    generation: u32,
    /// The description's key in `Vfs::files`, or `None` when the slot is free.
    file: Option<u64>,
}

/// A file system plus the path walk and open-file table in front of it; see the module docs.
pub struct Vfs<F: FileSystem> {
    fs: F,
    slots: Vec<Slot>,
    free_slots: Vec<u32>,
    max_open: usize,
    files: BTreeMap<u64, OpenFile>,
    next_file: u64,
    /// Open descriptions per inode; an inode is absent when it has none.
    open_count: BTreeMap<Ino, u32>,
}

impl<F: FileSystem> Vfs<F> {
    /// Serves `fs` with room for `max_open` handles (at most `u32::MAX`).
    pub fn new(fs: F, max_open: usize) -> Vfs<F> {
        let max_open = max_open.min(u32::MAX as usize);
        Vfs {
            fs,
            slots: Vec::new(),
            free_slots: Vec::new(),
            max_open,
            files: BTreeMap::new(),
            next_file: 0,
            open_count: BTreeMap::new(),
        }
    }

    /// The file system, for reading.
    pub fn fs(&self) -> &F {
        &self.fs
    }

    /// The file system, for its own operations (`crate::mapped::Mapped`'s).
    pub fn fs_mut(&mut self) -> &mut F {
        &mut self.fs
    }

    /// What a handle opened, for `mmap`: its inode, and whether it was opened
    /// for reading and for writing. EBADF for an unknown handle, ENODEV for a
    /// directory (which has no pages to map).
    pub fn mappable(&self, handle: Handle) -> Result<(Ino, bool, bool), Errno> {
        let file = self.file(handle)?;
        if file.kind != FileType::File {
            return Err(Errno::ENODEV);
        }
        Ok((file.ino, file.readable, file.writable))
    }

    /// Gives the file system back, dropping the open-file table.
    pub fn into_inner(self) -> F {
        self.fs
    }

    /// Handles currently open.
    pub fn open_handles(&self) -> usize {
        self.slots.len() - self.free_slots.len()
    }

    // ---- Paths ----

    /// The inode `path` names, walking from the root.
    ///
    /// # Errors
    /// ENOENT for a missing component; ENOTDIR when a component before the last is not a directory, or
    /// the path ends in a slash (see [`Path::must_be_dir`]) and the last is not one.
    pub fn resolve(&self, path: &Path) -> Result<Ino, Errno> {
        let mut ino = self.fs.root();
        for name in path.components() {
            ino = self.fs.lookup(ino, name)?;
        }
        if path.must_be_dir() && self.fs.getattr(ino)?.kind != FileType::Dir {
            return Err(Errno::ENOTDIR);
        }
        Ok(ino)
    }

    /// The directory that holds `path`'s final component, and that component.
    ///
    /// # Errors
    /// EBUSY for `/` (see [`Path::split_parent`]); as [`Vfs::resolve`] for the parent.
    pub fn resolve_parent<'p>(&self, path: &'p Path) -> Result<(Ino, &'p str), Errno> {
        let (parent, name) = path.split_parent()?;
        Ok((self.resolve(&parent)?, name))
    }

    /// `stat`: the attributes of what `path` names.
    pub fn stat(&self, path: &Path) -> Result<Attr, Errno> {
        self.fs.getattr(self.resolve(path)?)
    }

    /// `utimes`: sets the access and modification times of what `path`
    /// names (a file or a directory).
    ///
    /// # Errors
    /// EROFS on a read-only file system, and path errors.
    pub fn utimes(&mut self, path: &Path, atime: u64, mtime: u64, now: u64) -> Result<(), Errno> {
        let ino = self.resolve(path)?;
        self.fs.set_times(ino, atime, mtime, now)
    }

    /// `mkdir`: makes an empty directory.
    ///
    /// # Errors
    /// EEXIST if the name exists (including `/`), ENOSPC, EROFS, and path errors.
    pub fn mkdir(&mut self, path: &Path, now: u64) -> Result<(), Errno> {
        let (dir, name) = self.resolve_parent(path).map_err(|e| if e == Errno::EBUSY { Errno::EEXIST } else { e })?;
        // An existing name wins over EROFS or ENOSPC, as on Linux.
        match self.fs.lookup(dir, name) {
            Ok(_) => Err(Errno::EEXIST),
            Err(Errno::ENOENT) => self.fs.create(dir, name, FileType::Dir, now).map(|_| ()),
            Err(e) => Err(e),
        }
    }

    /// `rmdir`: removes an empty directory.
    ///
    /// # Errors
    /// EBUSY for `/`, ENOTDIR if it is not a directory, ENOTEMPTY, EROFS, and path errors.
    pub fn rmdir(&mut self, path: &Path, now: u64) -> Result<(), Errno> {
        let (dir, name) = self.resolve_parent(path)?;
        let ino = self.fs.rmdir(dir, name, now)?;
        self.evict_if_unused(ino);
        Ok(())
    }

    /// `unlink`: removes a file's name; its data goes when no handle refers to it any more.
    ///
    /// # Errors
    /// EISDIR for a directory (including `/`), ENOTDIR for a file named with a trailing slash, EROFS,
    /// and path errors.
    pub fn unlink(&mut self, path: &Path, now: u64) -> Result<(), Errno> {
        let (dir, name) = self.resolve_parent(path).map_err(|e| if e == Errno::EBUSY { Errno::EISDIR } else { e })?;
        if path.must_be_dir() {
            let kind = self.fs.getattr(self.fs.lookup(dir, name)?)?.kind;
            return Err(if kind == FileType::Dir { Errno::EISDIR } else { Errno::ENOTDIR });
        }
        let ino = self.fs.unlink(dir, name, now)?;
        self.evict_if_unused(ino);
        Ok(())
    }

    /// `rename`: moves `from` to `to`, replacing what `to` named, with POSIX's rules.
    ///
    /// # Errors
    /// - EBUSY when either is `/`.
    /// - ENOTDIR when either path ends in a slash and `from` is not a directory, or a directory would
    ///   replace a file; EISDIR when a file would replace a directory.
    /// - EINVAL when a directory would move into its own subtree; ENOTEMPTY when `to` is a non-empty
    ///   directory, including an ancestor of `from`.
    /// - EROFS, and path errors. Renaming a path onto itself does nothing and succeeds.
    pub fn rename(&mut self, from: &Path, to: &Path, now: u64) -> Result<(), Errno> {
        let (from_dir, from_name) = self.resolve_parent(from)?;
        let src = self.fs.lookup(from_dir, from_name)?;
        let (to_dir, to_name) = self.resolve_parent(to)?;
        let kind = self.fs.getattr(src)?.kind;
        if kind != FileType::Dir && (from.must_be_dir() || to.must_be_dir()) {
            return Err(Errno::ENOTDIR);
        }
        if from.as_str() == to.as_str() {
            return Ok(());
        }
        // Paths are canonical and directories have one name each, so ancestry is a prefix test.
        if kind == FileType::Dir && to.starts_with(from) {
            return Err(Errno::EINVAL);
        }
        if from.starts_with(to) {
            return Err(Errno::ENOTEMPTY);
        }
        if let Some(replaced) = self.fs.rename(from_dir, from_name, to_dir, to_name, now)? {
            self.evict_if_unused(replaced);
        }
        Ok(())
    }

    /// One directory entry of `path` at `cookie` and the cookie after it (see [`FileSystem::readdir`]).
    ///
    /// # Errors
    /// ENOTDIR if `path` is not a directory, and path errors.
    pub fn readdir(&self, path: &Path, cookie: u64) -> Result<Option<(DirEntry, u64)>, Errno> {
        self.fs.readdir(self.resolve(path)?, cookie)
    }

    /// `statfs` of the file system.
    pub fn statfs(&self) -> StatFs {
        self.fs.statfs()
    }

    // ---- Open files ----

    /// `open`: a handle to a new open file description of `path`.
    ///
    /// `flags` is an access mode (`O_RDONLY`, `O_WRONLY`, `O_RDWR`) or-ed with any of `O_CREAT`,
    /// `O_EXCL`, `O_TRUNC`, `O_APPEND`, `O_DIRECTORY`. As on Linux, `O_TRUNC` truncates a regular file
    /// even when opened read-only (and so needs write permission), and `O_EXCL` without `O_CREAT` is
    /// ignored.
    ///
    /// # Errors
    /// - EINVAL: an unknown flag, access mode 3, or `O_CREAT | O_DIRECTORY` (as Linux since 6.4).
    /// - ENFILE: the open-file table is full (checked before anything is created).
    /// - ENOENT: no such file and no `O_CREAT`; EEXIST: `O_CREAT | O_EXCL` and it exists.
    /// - EISDIR: a directory opened for writing, with `O_TRUNC` or `O_CREAT`, or `O_CREAT` on a path with
    ///   a trailing slash that does not exist.
    /// - ENOTDIR: `O_DIRECTORY` or a trailing slash on something that is not a directory.
    /// - EROFS: writing or truncating a read-only file; ENOSPC: no room to create; path errors.
    pub fn open(&mut self, path: &Path, flags: u32, now: u64) -> Result<Handle, Errno> {
        let access = flags & O_ACCMODE;
        if flags & !O_ALL != 0 || access == O_ACCMODE || flags & (O_CREAT | O_DIRECTORY) == O_CREAT | O_DIRECTORY {
            return Err(Errno::EINVAL);
        }
        self.check_table_room()?;
        let (ino, created) =
            if flags & O_CREAT != 0 { self.open_or_create(path, flags, now)? } else { (self.resolve(path)?, false) };
        let attr = self.fs.getattr(ino)?;
        let writable = access != O_RDONLY;
        let truncate = flags & O_TRUNC != 0;
        if attr.kind == FileType::Dir {
            if writable || truncate || flags & O_CREAT != 0 {
                return Err(Errno::EISDIR);
            }
        } else if flags & O_DIRECTORY != 0 || path.must_be_dir() {
            return Err(Errno::ENOTDIR);
        }
        if (writable || truncate) && attr.readonly {
            return Err(Errno::EROFS);
        }
        if truncate && !created && attr.size != 0 {
            self.fs.truncate(ino, 0, now)?;
        }
        let file = OpenFile {
            ino,
            kind: attr.kind,
            readable: access != O_WRONLY,
            writable,
            append: flags & O_APPEND != 0,
            offset: 0,
            handles: 1,
        };
        let key = self.next_file;
        self.next_file = self.next_file.wrapping_add(1);
        self.files.insert(key, file);
        *self.open_count.entry(ino).or_insert(0) += 1;
        Ok(self.take_slot(key))
    }

    /// The `O_CREAT` half of `open`: the existing inode, or a new empty file; and whether it is new.
    fn open_or_create(&mut self, path: &Path, flags: u32, now: u64) -> Result<(Ino, bool), Errno> {
        let exclusive = flags & O_EXCL != 0;
        let Ok((parent, name)) = path.split_parent() else {
            // `/` exists: O_EXCL refuses it, and otherwise it is a directory opened with O_CREAT.
            return Err(if exclusive { Errno::EEXIST } else { Errno::EISDIR });
        };
        let dir = self.resolve(&parent)?;
        match self.fs.lookup(dir, name) {
            Ok(_) if exclusive => Err(Errno::EEXIST),
            Ok(ino) => Ok((ino, false)),
            // A trailing slash asks for a directory, which open never creates.
            Err(Errno::ENOENT) if path.must_be_dir() => Err(Errno::EISDIR),
            Err(Errno::ENOENT) => Ok((self.fs.create(dir, name, FileType::File, now)?, true)),
            Err(e) => Err(e),
        }
    }

    /// `read`: reads at the handle's offset and advances it.
    ///
    /// # Errors
    /// EBADF for an unknown handle or one not open for reading, EISDIR for a directory.
    pub fn read(&mut self, handle: Handle, buf: &mut [u8], now: u64) -> Result<usize, Errno> {
        let (ino, offset) = {
            let file = self.readable(handle)?;
            (file.ino, file.offset)
        };
        let n = self.fs.read(ino, offset, buf, now)?;
        self.file_mut(handle)?.offset = offset.saturating_add(n as u64);
        Ok(n)
    }

    /// `write`: writes at the handle's offset (at the end of the file with `O_APPEND`) and advances it.
    ///
    /// # Errors
    /// EBADF for an unknown handle or one not open for writing; ENOSPC, EFBIG from the file system.
    pub fn write(&mut self, handle: Handle, data: &[u8], now: u64) -> Result<usize, Errno> {
        let (ino, append, offset) = {
            let file = self.writable(handle)?;
            (file.ino, file.append, file.offset)
        };
        let offset = if append { self.fs.getattr(ino)?.size } else { offset };
        let n = self.fs.write(ino, offset, data, now)?;
        self.file_mut(handle)?.offset = offset.saturating_add(n as u64);
        Ok(n)
    }

    /// `pread`: reads at `offset` without moving the handle's offset.
    ///
    /// # Errors
    /// As [`Vfs::read`]; EINVAL for an offset above `i64::MAX`.
    pub fn pread(&mut self, handle: Handle, buf: &mut [u8], offset: u64, now: u64) -> Result<usize, Errno> {
        let ino = self.readable(handle)?.ino;
        check_offset(offset)?;
        self.fs.read(ino, offset, buf, now)
    }

    /// `pwrite`: writes at `offset` without moving the handle's offset. `O_APPEND` does not apply, as
    /// POSIX says (Linux appends anyway, a documented bug this does not copy).
    ///
    /// # Errors
    /// As [`Vfs::write`]; EINVAL for an offset above `i64::MAX`.
    pub fn pwrite(&mut self, handle: Handle, data: &[u8], offset: u64, now: u64) -> Result<usize, Errno> {
        let ino = self.writable(handle)?.ino;
        check_offset(offset)?;
        self.fs.write(ino, offset, data, now)
    }

    /// `lseek`: sets the handle's offset from `SEEK_SET`, `SEEK_CUR` or `SEEK_END` and returns it. An
    /// offset past the end is allowed (a later write leaves a hole). On a directory the offset is the
    /// readdir cookie, so seeking to 0 rewinds it.
    ///
    /// # Errors
    /// EBADF; EINVAL for another `whence` or a result below 0 or above `i64::MAX`.
    pub fn lseek(&mut self, handle: Handle, offset: i64, whence: u32) -> Result<u64, Errno> {
        let (ino, current) = {
            let file = self.file(handle)?;
            (file.ino, file.offset)
        };
        let base = match whence {
            SEEK_SET => 0,
            SEEK_CUR => current,
            SEEK_END => self.fs.getattr(ino)?.size,
            _ => return Err(Errno::EINVAL),
        };
        let target = i128::from(base) + i128::from(offset);
        let target = u64::try_from(target).ok().filter(|&t| t <= MAX_OFFSET).ok_or(Errno::EINVAL)?;
        self.file_mut(handle)?.offset = target;
        Ok(target)
    }

    /// `fstat`: the attributes of the handle's file.
    pub fn fstat(&self, handle: Handle) -> Result<Attr, Errno> {
        self.fs.getattr(self.file(handle)?.ino)
    }

    /// `ftruncate`: sets the size of the handle's file.
    ///
    /// # Errors
    /// EBADF for an unknown handle; EINVAL if it is not open for writing (Linux's choice of the two POSIX
    /// allows) or `size` is above `i64::MAX`; EFBIG from the file system.
    pub fn ftruncate(&mut self, handle: Handle, size: u64, now: u64) -> Result<(), Errno> {
        let file = self.file(handle)?;
        if !file.writable {
            return Err(Errno::EINVAL);
        }
        let ino = file.ino;
        check_offset(size)?;
        self.fs.truncate(ino, size, now)
    }

    /// The next entry of a directory opened with `open`, advancing the handle (`getdents`).
    ///
    /// # Errors
    /// EBADF; ENOTDIR if the handle is not a directory.
    pub fn getdents(&mut self, handle: Handle) -> Result<Option<DirEntry>, Errno> {
        let file = self.file(handle)?;
        if file.kind != FileType::Dir {
            return Err(Errno::ENOTDIR);
        }
        let (ino, cookie) = (file.ino, file.offset);
        let Some((entry, next)) = self.fs.readdir(ino, cookie)? else { return Ok(None) };
        self.file_mut(handle)?.offset = next;
        Ok(Some(entry))
    }

    /// `dup`: a second handle to the same open file description (the offset is shared).
    ///
    /// # Errors
    /// EBADF; ENFILE if the table is full.
    pub fn dup(&mut self, handle: Handle) -> Result<Handle, Errno> {
        let key = self.key(handle)?;
        self.check_table_room()?;
        if let Some(file) = self.files.get_mut(&key) {
            file.handles = file.handles.checked_add(1).ok_or(Errno::ENFILE)?;
        }
        Ok(self.take_slot(key))
    }

    /// `close`: frees the handle; the last handle of a description closes it, and the last description
    /// of an unlinked file frees the file.
    ///
    /// # Errors
    /// EBADF for an unknown or already closed handle.
    pub fn close(&mut self, handle: Handle) -> Result<(), Errno> {
        let key = self.key(handle)?;
        let index = handle.slot();
        if let Some(slot) = self.slots.get_mut(index) {
            slot.file = None;
            slot.generation = next_generation(slot.generation);
            self.free_slots.push(index as u32);
        }
        let Some(file) = self.files.get_mut(&key) else { return Ok(()) };
        file.handles = file.handles.saturating_sub(1);
        if file.handles > 0 {
            return Ok(());
        }
        let ino = file.ino;
        self.files.remove(&key);
        if let Some(count) = self.open_count.get_mut(&ino) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.open_count.remove(&ino);
            }
        }
        self.evict_if_unused(ino);
        Ok(())
    }

    // ---- Internals ----

    fn evict_if_unused(&mut self, ino: Ino) {
        if !self.open_count.contains_key(&ino) && self.fs.getattr(ino).is_ok_and(|a| a.nlink == 0) {
            self.fs.evict(ino);
        }
    }

    fn check_table_room(&self) -> Result<(), Errno> {
        if self.free_slots.is_empty() && self.slots.len() >= self.max_open {
            return Err(Errno::ENFILE);
        }
        Ok(())
    }

    /// Puts `key` in a free slot; [`Vfs::check_table_room`] must have passed.
    fn take_slot(&mut self, key: u64) -> Handle {
        if let Some(index) = self.free_slots.pop() {
            if let Some(slot) = self.slots.get_mut(index as usize) {
                slot.file = Some(key);
                return Handle::new(index, slot.generation);
            }
        }
        let index = self.slots.len() as u32;
        self.slots.push(Slot { generation: 1, file: Some(key) });
        Handle::new(index, 1)
    }

    fn key(&self, handle: Handle) -> Result<u64, Errno> {
        self.slots
            .get(handle.slot())
            .filter(|slot| slot.generation == handle.generation())
            .and_then(|slot| slot.file)
            .ok_or(Errno::EBADF)
    }

    fn file(&self, handle: Handle) -> Result<&OpenFile, Errno> {
        self.files.get(&self.key(handle)?).ok_or(Errno::EBADF)
    }

    fn file_mut(&mut self, handle: Handle) -> Result<&mut OpenFile, Errno> {
        let key = self.key(handle)?;
        self.files.get_mut(&key).ok_or(Errno::EBADF)
    }

    fn readable(&self, handle: Handle) -> Result<&OpenFile, Errno> {
        let file = self.file(handle)?;
        if !file.readable {
            return Err(Errno::EBADF);
        }
        if file.kind == FileType::Dir {
            return Err(Errno::EISDIR);
        }
        Ok(file)
    }

    fn writable(&self, handle: Handle) -> Result<&OpenFile, Errno> {
        let file = self.file(handle)?;
        if !file.writable {
            return Err(Errno::EBADF);
        }
        Ok(file)
    }
}

fn check_offset(offset: u64) -> Result<(), Errno> {
    if offset > MAX_OFFSET {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// The generation after `g`, skipping 0 so that no handle is ever 0.
fn next_generation(g: u32) -> u32 {
    g.checked_add(1).unwrap_or(1)
}

#[cfg(test)]
mod tests;
