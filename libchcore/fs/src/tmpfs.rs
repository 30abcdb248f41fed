//! tmpfs: the in-memory file system mounted at `/`.
//!
//! Directories keep their entries twice: by name (for lookup) and by a per-directory sequence number
//! given when the entry is made (for [`FileSystem::readdir`]). The sequence number is the readdir
//! cookie, so a walk returns every untouched entry exactly once however the directory changes under it;
//! an entry renamed during the walk may show up under both names, which POSIX permits.
//!
//! Files are sparse: a map from page index to a 4 KiB page, holding only pages that were written. A
//! hole (never written, or beyond a truncation) reads as zeros and costs nothing.
//!
//! # Space
//! The file system has `capacity_pages` pages of [`PAGE_SIZE`] bytes. Every inode costs
//! [`INODE_COST_PAGES`] (one page: the inode, its entry in its directory and a name of up to
//! [`NAME_MAX`](crate::path::NAME_MAX) bytes fit well within it; the root counts too), every data page one
//! page. An operation that would go over the capacity fails with ENOSPC and changes nothing, except a
//! write that only partly fits: it writes the pages that fit, in order, and returns the short count, as
//! Linux's tmpfs does; ENOSPC only when not a byte fits. Truncation and rename never need space.
//!
//! # Limits
//! The largest file is [`MAX_FILE_SIZE`] bytes (`i64::MAX`, the largest `off_t`, as Linux's
//! `MAX_LFS_FILESIZE`): a write starting at or past it gives EFBIG, one crossing it is cut short there, a
//! truncation past it gives EFBIG. Nothing here panics on any argument.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;

use crate::errno::Errno;
use crate::path::{validate_name, NAME_MAX};
use crate::vfs::{Attr, DirEntry, FileSystem, FileType, Ino, StatFs};

/// Bytes in a page, the unit of allocation and of [`StatFs::block_size`].
pub const PAGE_SIZE: usize = 4096;

/// Pages each inode costs, whatever its kind.
pub const INODE_COST_PAGES: u64 = 1;

/// The largest file size in bytes.
pub const MAX_FILE_SIZE: u64 = i64::MAX as u64;

const PAGE: u64 = PAGE_SIZE as u64;
const ROOT: Ino = 1;
/// `st_blocks` counts 512-byte units.
const SECTORS_PER_PAGE: u64 = PAGE / 512;

/// The in-memory file system.
pub struct Tmpfs {
    inodes: BTreeMap<Ino, Inode>,
    next_ino: Ino,
    capacity_pages: u64,
    used_pages: u64,
}

struct Inode {
    nlink: u32,
    atime: u64,
    mtime: u64,
    ctime: u64,
    body: Body,
}

enum Body {
    File(FileData),
    Dir(Dir),
}

struct FileData {
    size: u64,
    /// Page index to page; every page is exactly [`PAGE_SIZE`] bytes.
    pages: BTreeMap<u64, Box<[u8]>>,
}

struct Dir {
    /// The directory this one is an entry of (the root's is itself); kept for the rename subtree check.
    parent: Ino,
    /// Name to (sequence number, inode).
    names: BTreeMap<String, (u64, Ino)>,
    /// Sequence number to name: the readdir order.
    order: BTreeMap<u64, String>,
    next_seq: u64,
}

impl Dir {
    fn new(parent: Ino) -> Dir {
        Dir { parent, names: BTreeMap::new(), order: BTreeMap::new(), next_seq: 0 }
    }

    fn insert(&mut self, name: &str, ino: Ino) -> Result<(), Errno> {
        let seq = self.next_seq;
        // Sequence numbers are never reused, so that a cookie never points at a different entry; 2^64
        // entries will not be made, but running out must be an error, not a wrap.
        self.next_seq = seq.checked_add(1).ok_or(Errno::ENOSPC)?;
        self.names.insert(String::from(name), (seq, ino));
        self.order.insert(seq, String::from(name));
        Ok(())
    }

    fn remove(&mut self, name: &str) {
        if let Some((seq, _)) = self.names.remove(name) {
            self.order.remove(&seq);
        }
    }

    fn get(&self, name: &str) -> Option<Ino> {
        self.names.get(name).map(|&(_, ino)| ino)
    }
}

impl Tmpfs {
    /// An empty file system (just `/`) of `capacity_pages` pages, of which the root uses
    /// [`INODE_COST_PAGES`].
    pub fn new(capacity_pages: u64) -> Tmpfs {
        let root = Inode { nlink: 2, atime: 0, mtime: 0, ctime: 0, body: Body::Dir(Dir::new(ROOT)) };
        let mut inodes = BTreeMap::new();
        inodes.insert(ROOT, root);
        Tmpfs { inodes, next_ino: ROOT + 1, capacity_pages, used_pages: INODE_COST_PAGES }
    }

    /// Pages in use (inodes and data).
    pub fn used_pages(&self) -> u64 {
        self.used_pages
    }

    fn free_pages(&self) -> u64 {
        self.capacity_pages.saturating_sub(self.used_pages)
    }

    fn inode(&self, ino: Ino) -> Result<&Inode, Errno> {
        self.inodes.get(&ino).ok_or(Errno::ENOENT)
    }

    fn inode_mut(&mut self, ino: Ino) -> Result<&mut Inode, Errno> {
        self.inodes.get_mut(&ino).ok_or(Errno::ENOENT)
    }

    fn dir(&self, ino: Ino) -> Result<&Dir, Errno> {
        match &self.inode(ino)?.body {
            Body::Dir(d) => Ok(d),
            Body::File(_) => Err(Errno::ENOTDIR),
        }
    }

    fn dir_mut(&mut self, ino: Ino) -> Result<&mut Dir, Errno> {
        match &mut self.inode_mut(ino)?.body {
            Body::Dir(d) => Ok(d),
            Body::File(_) => Err(Errno::ENOTDIR),
        }
    }

    fn file_mut(&mut self, ino: Ino) -> Result<&mut FileData, Errno> {
        match &mut self.inode_mut(ino)?.body {
            Body::File(f) => Ok(f),
            Body::Dir(_) => Err(Errno::EISDIR),
        }
    }

    fn kind(&self, ino: Ino) -> Result<FileType, Errno> {
        Ok(match self.inode(ino)?.body {
            Body::File(_) => FileType::File,
            Body::Dir(_) => FileType::Dir,
        })
    }

    /// A directory that new names can go into: it exists and has not been removed (Linux refuses to
    /// create in a removed directory with ENOENT).
    fn live_dir(&self, ino: Ino) -> Result<&Dir, Errno> {
        let dir = self.dir(ino)?;
        if self.inode(ino)?.nlink == 0 {
            return Err(Errno::ENOENT);
        }
        Ok(dir)
    }

    /// Marks a directory's entries as changed.
    fn touch_dir(&mut self, ino: Ino, now: u64) {
        if let Some(inode) = self.inodes.get_mut(&ino) {
            inode.mtime = now;
            inode.ctime = now;
        }
    }

    /// Counts a subdirectory gained or lost in a directory's link count (its `..`).
    fn adjust_links(&mut self, ino: Ino, gain: bool) {
        if let Some(inode) = self.inodes.get_mut(&ino) {
            inode.nlink = if gain { inode.nlink.saturating_add(1) } else { inode.nlink.saturating_sub(1) };
        }
    }

    /// Whether `ino` is `ancestor` or lies below it, by following parent links.
    fn is_within(&self, mut ino: Ino, ancestor: Ino) -> bool {
        // Bounded by the inode count so that even corrupted parent links cannot loop forever.
        for _ in 0..=self.inodes.len() {
            if ino == ancestor {
                return true;
            }
            match self.dir(ino) {
                Ok(dir) if dir.parent != ino => ino = dir.parent,
                _ => return false,
            }
        }
        false
    }

    fn check_room_for_link(&self, dir: Ino) -> Result<(), Errno> {
        self.inode(dir)?.nlink.checked_add(1).map(|_| ()).ok_or(Errno::EMLINK)
    }
}

impl FileSystem for Tmpfs {
    fn root(&self) -> Ino {
        ROOT
    }

    fn lookup(&self, dir: Ino, name: &str) -> Result<Ino, Errno> {
        validate_name(name)?;
        self.dir(dir)?.get(name).ok_or(Errno::ENOENT)
    }

    fn getattr(&self, ino: Ino) -> Result<Attr, Errno> {
        let inode = self.inode(ino)?;
        let (kind, size, blocks) = match &inode.body {
            Body::File(f) => (FileType::File, f.size, (f.pages.len() as u64).saturating_mul(SECTORS_PER_PAGE)),
            Body::Dir(d) => (FileType::Dir, d.names.len() as u64, 0),
        };
        Ok(Attr {
            ino,
            kind,
            size,
            blocks,
            nlink: inode.nlink,
            atime: inode.atime,
            mtime: inode.mtime,
            ctime: inode.ctime,
            readonly: false,
        })
    }

    fn create(&mut self, dir: Ino, name: &str, kind: FileType, now: u64) -> Result<Ino, Errno> {
        validate_name(name)?;
        let parent = self.live_dir(dir)?;
        if parent.get(name).is_some() {
            return Err(Errno::EEXIST);
        }
        if parent.next_seq == u64::MAX {
            return Err(Errno::ENOSPC);
        }
        if kind == FileType::Dir {
            self.check_room_for_link(dir)?;
        }
        if self.free_pages() < INODE_COST_PAGES {
            return Err(Errno::ENOSPC);
        }
        let ino = self.next_ino;
        let next_ino = ino.checked_add(1).ok_or(Errno::ENOSPC)?;

        // Nothing below can fail.
        let (body, nlink) = match kind {
            FileType::File => (Body::File(FileData { size: 0, pages: BTreeMap::new() }), 1),
            FileType::Dir => (Body::Dir(Dir::new(dir)), 2),
        };
        self.dir_mut(dir)?.insert(name, ino)?;
        self.inodes.insert(ino, Inode { nlink, atime: now, mtime: now, ctime: now, body });
        self.next_ino = next_ino;
        self.used_pages += INODE_COST_PAGES;
        if kind == FileType::Dir {
            self.adjust_links(dir, true);
        }
        self.touch_dir(dir, now);
        Ok(ino)
    }

    fn unlink(&mut self, dir: Ino, name: &str, now: u64) -> Result<Ino, Errno> {
        let ino = self.lookup(dir, name)?;
        if self.kind(ino)? == FileType::Dir {
            return Err(Errno::EISDIR);
        }
        self.dir_mut(dir)?.remove(name);
        let inode = self.inode_mut(ino)?;
        inode.nlink = inode.nlink.saturating_sub(1);
        inode.ctime = now;
        self.touch_dir(dir, now);
        Ok(ino)
    }

    fn rmdir(&mut self, dir: Ino, name: &str, now: u64) -> Result<Ino, Errno> {
        let ino = self.lookup(dir, name)?;
        if !self.dir(ino)?.names.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        self.dir_mut(dir)?.remove(name);
        let inode = self.inode_mut(ino)?;
        inode.nlink = 0;
        inode.ctime = now;
        self.adjust_links(dir, false);
        self.touch_dir(dir, now);
        Ok(ino)
    }

    fn rename(&mut self, from_dir: Ino, from: &str, to_dir: Ino, to: &str, now: u64) -> Result<Option<Ino>, Errno> {
        validate_name(to)?;
        let src = self.lookup(from_dir, from)?;
        let target = self.live_dir(to_dir)?.get(to);
        if target == Some(src) {
            return Ok(None);
        }
        let src_kind = self.kind(src)?;
        if let Some(target) = target {
            match (src_kind, &self.inode(target)?.body) {
                (FileType::Dir, Body::File(_)) => return Err(Errno::ENOTDIR),
                (FileType::File, Body::Dir(_)) => return Err(Errno::EISDIR),
                (FileType::Dir, Body::Dir(d)) if !d.names.is_empty() => return Err(Errno::ENOTEMPTY),
                _ => {}
            }
        }
        let moves_dir_across = src_kind == FileType::Dir && from_dir != to_dir;
        if src_kind == FileType::Dir && self.is_within(to_dir, src) {
            return Err(Errno::EINVAL);
        }
        if self.dir(to_dir)?.next_seq == u64::MAX {
            return Err(Errno::ENOSPC);
        }
        // A replaced directory gives back the link the moved one takes.
        let replaces_dir = matches!(target.map(|t| self.kind(t)), Some(Ok(FileType::Dir)));
        if moves_dir_across && !replaces_dir {
            self.check_room_for_link(to_dir)?;
        }

        // Nothing below can fail.
        if let Some(target) = target {
            self.dir_mut(to_dir)?.remove(to);
            let inode = self.inode_mut(target)?;
            inode.nlink = if replaces_dir { 0 } else { inode.nlink.saturating_sub(1) };
            inode.ctime = now;
            if replaces_dir {
                self.adjust_links(to_dir, false);
            }
        }
        self.dir_mut(from_dir)?.remove(from);
        self.dir_mut(to_dir)?.insert(to, src)?;
        if src_kind == FileType::Dir {
            self.dir_mut(src)?.parent = to_dir;
            self.adjust_links(from_dir, false);
            self.adjust_links(to_dir, true);
        }
        self.inode_mut(src)?.ctime = now;
        self.touch_dir(from_dir, now);
        self.touch_dir(to_dir, now);
        Ok(target)
    }

    fn read(&mut self, ino: Ino, offset: u64, buf: &mut [u8], now: u64) -> Result<usize, Errno> {
        let inode = self.inode_mut(ino)?;
        let Body::File(file) = &inode.body else { return Err(Errno::EISDIR) };
        let Some(left) = file.size.checked_sub(offset).filter(|&left| left > 0) else { return Ok(0) };
        let len = usize::try_from(left).map_or(buf.len(), |left| left.min(buf.len()));
        let mut done = 0;
        while done < len {
            let pos = offset + done as u64;
            let within = (pos % PAGE) as usize;
            let n = (PAGE_SIZE - within).min(len - done);
            let out = &mut buf[done..done + n];
            match file.pages.get(&(pos / PAGE)) {
                Some(page) => out.copy_from_slice(&page[within..within + n]),
                None => out.fill(0),
            }
            done += n;
        }
        inode.atime = now;
        Ok(len)
    }

    fn write(&mut self, ino: Ino, offset: u64, data: &[u8], now: u64) -> Result<usize, Errno> {
        let free = self.free_pages();
        let file = self.file_mut(ino)?;
        if data.is_empty() {
            return Ok(0);
        }
        if offset >= MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        let wanted = u64::try_from(data.len()).unwrap_or(u64::MAX).min(MAX_FILE_SIZE - offset);
        // Decide how much fits before touching anything: whole pages in order while free pages last.
        let end = offset + wanted;
        let mut fits = offset;
        let mut new_pages = 0u64;
        let mut index = offset / PAGE;
        while fits < end {
            if !file.pages.contains_key(&index) {
                if new_pages == free {
                    break;
                }
                new_pages += 1;
            }
            index += 1;
            fits = index.saturating_mul(PAGE).min(end);
        }
        if fits == offset {
            return Err(Errno::ENOSPC);
        }
        let len = (fits - offset) as usize;
        let mut done = 0;
        while done < len {
            let pos = offset + done as u64;
            let within = (pos % PAGE) as usize;
            let n = (PAGE_SIZE - within).min(len - done);
            let page = file.pages.entry(pos / PAGE).or_insert_with(|| vec![0; PAGE_SIZE].into_boxed_slice());
            page[within..within + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
        file.size = file.size.max(fits);
        self.used_pages += new_pages;
        let inode = self.inode_mut(ino)?;
        inode.mtime = now;
        inode.ctime = now;
        Ok(len)
    }

    fn set_times(&mut self, ino: Ino, atime: u64, mtime: u64, now: u64) -> Result<(), Errno> {
        let inode = self.inode_mut(ino)?;
        inode.atime = atime;
        inode.mtime = mtime;
        inode.ctime = now;
        Ok(())
    }

    fn truncate(&mut self, ino: Ino, size: u64, now: u64) -> Result<(), Errno> {
        let file = self.file_mut(ino)?;
        if size > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        if size == file.size {
            return Ok(());
        }
        let mut freed = 0;
        if size < file.size {
            let kept_pages = size.div_ceil(PAGE);
            freed = file.pages.split_off(&kept_pages).len() as u64;
            // The cut-off tail of the last page must read as zeros if the file grows again.
            let within = (size % PAGE) as usize;
            if within != 0 {
                if let Some(page) = file.pages.get_mut(&(size / PAGE)) {
                    page[within..].fill(0);
                }
            }
        }
        file.size = size;
        self.used_pages = self.used_pages.saturating_sub(freed);
        let inode = self.inode_mut(ino)?;
        inode.mtime = now;
        inode.ctime = now;
        Ok(())
    }

    fn readdir(&self, dir: Ino, cookie: u64) -> Result<Option<(DirEntry, u64)>, Errno> {
        let d = self.dir(dir)?;
        let Some((&seq, name)) = d.order.range(cookie..).next() else { return Ok(None) };
        let ino = d.get(name).ok_or(Errno::EIO)?;
        let entry = DirEntry { name: name.clone(), ino, kind: self.kind(ino)? };
        Ok(Some((entry, seq.saturating_add(1))))
    }

    fn statfs(&self) -> StatFs {
        StatFs {
            block_size: PAGE,
            blocks: self.capacity_pages,
            free_blocks: self.free_pages(),
            files: self.inodes.len() as u64,
            name_max: NAME_MAX as u64,
            readonly: false,
        }
    }

    fn evict(&mut self, ino: Ino) {
        if ino == ROOT || self.inodes.get(&ino).is_none_or(|inode| inode.nlink != 0) {
            return;
        }
        if let Some(inode) = self.inodes.remove(&ino) {
            let data_pages = match &inode.body {
                Body::File(f) => f.pages.len() as u64,
                Body::Dir(_) => 0,
            };
            self.used_pages = self.used_pages.saturating_sub(INODE_COST_PAGES + data_pages);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn names(fs: &Tmpfs, dir: Ino) -> Vec<String> {
        let mut out = Vec::new();
        let mut cookie = 0;
        while let Some((entry, next)) = fs.readdir(dir, cookie).unwrap() {
            out.push(entry.name);
            cookie = next;
        }
        out
    }

    #[test]
    fn new_has_a_root() {
        let fs = Tmpfs::new(10);
        let root = fs.getattr(fs.root()).unwrap();
        assert_eq!((root.kind, root.nlink, root.size), (FileType::Dir, 2, 0));
        assert_eq!(fs.used_pages(), 1);
        let st = fs.statfs();
        assert_eq!((st.block_size, st.blocks, st.free_blocks, st.files), (4096, 10, 9, 1));
        assert!(!st.readonly);
        assert_eq!(st.name_max, 255);
        assert_eq!(Tmpfs::new(0).statfs().free_blocks, 0);
    }

    #[test]
    fn create_lookup_and_errors() {
        let mut fs = Tmpfs::new(100);
        let r = fs.root();
        let d = fs.create(r, "d", FileType::Dir, 5).unwrap();
        let f = fs.create(d, "f", FileType::File, 6).unwrap();
        assert_eq!(fs.lookup(r, "d"), Ok(d));
        assert_eq!(fs.lookup(d, "f"), Ok(f));
        assert_eq!(fs.lookup(d, "g"), Err(Errno::ENOENT));
        assert_eq!(fs.lookup(f, "x"), Err(Errno::ENOTDIR));
        assert_eq!(fs.lookup(999, "x"), Err(Errno::ENOENT));
        assert_eq!(fs.lookup(r, ".."), Err(Errno::EINVAL));
        assert_eq!(fs.create(d, "f", FileType::Dir, 7), Err(Errno::EEXIST));
        assert_eq!(fs.create(f, "x", FileType::File, 7), Err(Errno::ENOTDIR));
        assert_eq!(fs.create(r, "a/b", FileType::File, 7), Err(Errno::EINVAL));
        assert_eq!(fs.create(r, &"x".repeat(256), FileType::File, 7), Err(Errno::ENAMETOOLONG));
        assert_eq!(fs.getattr(r).unwrap().nlink, 3);
        assert_eq!(fs.getattr(d).unwrap().mtime, 6);
        assert_eq!(fs.getattr(f).unwrap().ctime, 6);
        assert_eq!(fs.getattr(f).unwrap().nlink, 1);
    }

    #[test]
    fn sparse_files_read_holes_as_zeros() {
        let mut fs = Tmpfs::new(100);
        let f = fs.create(fs.root(), "f", FileType::File, 0).unwrap();
        let far = 1 << 40;
        assert_eq!(fs.write(f, far, b"end", 1), Ok(3));
        let a = fs.getattr(f).unwrap();
        assert_eq!((a.size, a.blocks), (far + 3, 8));
        assert_eq!(fs.used_pages(), 3);
        let mut buf = [0xff; 10];
        assert_eq!(fs.read(f, far - 7, &mut buf, 2), Ok(10));
        assert_eq!(&buf, b"\0\0\0\0\0\0\0end");
        assert_eq!(fs.read(f, 12345, &mut buf, 2), Ok(10));
        assert_eq!(buf, [0; 10]);
        assert_eq!(fs.read(f, far + 3, &mut buf, 2), Ok(0));
        assert_eq!(fs.read(f, u64::MAX, &mut buf, 2), Ok(0));
        assert_eq!(fs.getattr(f).unwrap().atime, 2);
    }

    #[test]
    fn writes_across_pages() {
        let mut fs = Tmpfs::new(100);
        let f = fs.create(fs.root(), "f", FileType::File, 0).unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        assert_eq!(fs.write(f, 4000, &data, 1), Ok(10_000));
        assert_eq!(fs.getattr(f).unwrap().size, 14_000);
        assert_eq!(fs.used_pages(), 2 + 4);
        let mut back = vec![0; 10_000];
        assert_eq!(fs.read(f, 4000, &mut back, 1), Ok(10_000));
        assert_eq!(back, data);
        // Overwrite in the middle: no new pages.
        assert_eq!(fs.write(f, 5000, b"xyz", 2), Ok(3));
        assert_eq!(fs.used_pages(), 6);
        let mut three = [0; 3];
        fs.read(f, 5000, &mut three, 2).unwrap();
        assert_eq!(&three, b"xyz");
        assert_eq!(fs.getattr(f).unwrap().size, 14_000);
    }

    #[test]
    fn empty_write_changes_nothing() {
        let mut fs = Tmpfs::new(3);
        let f = fs.create(fs.root(), "f", FileType::File, 1).unwrap();
        assert_eq!(fs.write(f, u64::MAX, b"", 9), Ok(0));
        assert_eq!(fs.write(f, 1 << 30, b"", 9), Ok(0));
        assert_eq!(fs.getattr(f).unwrap().size, 0);
        assert_eq!(fs.getattr(f).unwrap().mtime, 1);
    }

    #[test]
    fn file_size_limit() {
        let mut fs = Tmpfs::new(100);
        let f = fs.create(fs.root(), "f", FileType::File, 0).unwrap();
        assert_eq!(fs.write(f, MAX_FILE_SIZE, b"x", 1), Err(Errno::EFBIG));
        assert_eq!(fs.write(f, u64::MAX, b"x", 1), Err(Errno::EFBIG));
        assert_eq!(fs.write(f, MAX_FILE_SIZE - 2, b"abcd", 1), Ok(2));
        assert_eq!(fs.getattr(f).unwrap().size, MAX_FILE_SIZE);
        let mut buf = [0; 4];
        assert_eq!(fs.read(f, MAX_FILE_SIZE - 2, &mut buf, 1), Ok(2));
        assert_eq!(&buf[..2], b"ab");
        assert_eq!(fs.truncate(f, MAX_FILE_SIZE + 1, 1), Err(Errno::EFBIG));
        assert_eq!(fs.truncate(f, u64::MAX, 1), Err(Errno::EFBIG));
        assert_eq!(fs.truncate(f, 0, 1), Ok(()));
        assert_eq!(fs.used_pages(), 2);
    }

    #[test]
    fn truncate_frees_and_zeroes() {
        let mut fs = Tmpfs::new(100);
        let f = fs.create(fs.root(), "f", FileType::File, 0).unwrap();
        fs.write(f, 0, &[7; 3 * PAGE_SIZE], 1).unwrap();
        assert_eq!(fs.used_pages(), 5);
        fs.truncate(f, 5000, 2).unwrap();
        assert_eq!(fs.used_pages(), 4);
        assert_eq!(fs.getattr(f).unwrap().mtime, 2);
        fs.truncate(f, 9000, 3).unwrap();
        assert_eq!(fs.used_pages(), 4);
        let mut buf = [9; 4000];
        assert_eq!(fs.read(f, 4999, &mut buf, 3), Ok(4000));
        assert_eq!(buf[0], 7);
        assert!(buf[1..].iter().all(|&b| b == 0));
        // Same size: not a change.
        fs.truncate(f, 9000, 4).unwrap();
        assert_eq!(fs.getattr(f).unwrap().mtime, 3);
        let d = fs.create(fs.root(), "d", FileType::Dir, 0).unwrap();
        assert_eq!(fs.truncate(d, 0, 1), Err(Errno::EISDIR));
        assert_eq!(fs.write(d, 0, b"x", 1), Err(Errno::EISDIR));
        assert_eq!(fs.read(d, 0, &mut buf, 1), Err(Errno::EISDIR));
        assert_eq!(fs.truncate(77, 0, 1), Err(Errno::ENOENT));
    }

    #[test]
    fn enospc_changes_nothing_and_unlink_gives_space_back() {
        // Root + file + 2 data pages.
        let mut fs = Tmpfs::new(4);
        let r = fs.root();
        let f = fs.create(r, "f", FileType::File, 0).unwrap();
        assert_eq!(fs.write(f, 0, &[1; 2 * PAGE_SIZE], 1), Ok(2 * PAGE_SIZE));
        assert_eq!(fs.statfs().free_blocks, 0);
        assert_eq!(fs.create(r, "g", FileType::File, 2), Err(Errno::ENOSPC));
        assert_eq!(fs.create(r, "d", FileType::Dir, 2), Err(Errno::ENOSPC));
        assert_eq!(fs.write(f, 2 * PAGE, b"x", 2), Err(Errno::ENOSPC));
        assert_eq!(names(&fs, r), ["f"]);
        let a = fs.getattr(f).unwrap();
        assert_eq!((a.size, a.mtime, a.blocks), (2 * PAGE, 1, 16));
        assert_eq!(fs.getattr(r).unwrap().mtime, 0);
        // Overwriting allocated pages still works.
        assert_eq!(fs.write(f, 100, b"abc", 3), Ok(3));
        // Free it all and the space is usable again.
        assert_eq!(fs.unlink(r, "f", 4), Ok(f));
        assert_eq!(fs.statfs().free_blocks, 0);
        fs.evict(f);
        assert_eq!(fs.statfs().free_blocks, 3);
        let g = fs.create(r, "g", FileType::File, 5).unwrap();
        assert_eq!(fs.write(g, 0, &[2; 2 * PAGE_SIZE], 5), Ok(2 * PAGE_SIZE));
    }

    #[test]
    fn a_write_that_partly_fits_is_short() {
        let mut fs = Tmpfs::new(4);
        let f = fs.create(fs.root(), "f", FileType::File, 0).unwrap();
        fs.write(f, 0, b"a", 0).unwrap();
        // Page 0 exists; one more page fits; the third page does not.
        assert_eq!(fs.write(f, 10, &[5; 3 * PAGE_SIZE], 1), Ok(2 * PAGE_SIZE - 10));
        assert_eq!(fs.getattr(f).unwrap().size, 2 * PAGE);
        assert_eq!(fs.statfs().free_blocks, 0);
        // A hole page in the middle that does not fit stops the write there.
        let mut fs = Tmpfs::new(4);
        let f = fs.create(fs.root(), "f", FileType::File, 0).unwrap();
        fs.write(f, 2 * PAGE, b"c", 0).unwrap();
        assert_eq!(fs.write(f, 0, &[1; 3 * PAGE_SIZE], 1), Ok(PAGE_SIZE));
        assert_eq!(fs.getattr(f).unwrap().size, 2 * PAGE + 1);
    }

    #[test]
    fn unlink_and_rmdir() {
        let mut fs = Tmpfs::new(100);
        let r = fs.root();
        let d = fs.create(r, "d", FileType::Dir, 0).unwrap();
        let f = fs.create(d, "f", FileType::File, 0).unwrap();
        assert_eq!(fs.unlink(r, "d", 1), Err(Errno::EISDIR));
        assert_eq!(fs.rmdir(d, "f", 1), Err(Errno::ENOTDIR));
        assert_eq!(fs.rmdir(r, "d", 1), Err(Errno::ENOTEMPTY));
        assert_eq!(fs.unlink(d, "nope", 1), Err(Errno::ENOENT));
        assert_eq!(fs.rmdir(r, "nope", 1), Err(Errno::ENOENT));
        fs.write(f, 0, b"data", 1).unwrap();
        assert_eq!(fs.unlink(d, "f", 2), Ok(f));
        // Unlinked but not evicted: still readable and writable.
        let a = fs.getattr(f).unwrap();
        assert_eq!((a.nlink, a.ctime), (0, 2));
        let mut buf = [0; 4];
        assert_eq!(fs.read(f, 0, &mut buf, 3), Ok(4));
        assert_eq!(&buf, b"data");
        assert_eq!(fs.write(f, 4, b"more", 3), Ok(4));
        fs.evict(f);
        assert_eq!(fs.getattr(f), Err(Errno::ENOENT));
        assert_eq!(fs.getattr(d).unwrap().mtime, 2);
        assert_eq!(fs.rmdir(r, "d", 4), Ok(d));
        assert_eq!(fs.getattr(r).unwrap().nlink, 2);
        assert_eq!(fs.getattr(d).unwrap().nlink, 0);
        // A removed directory takes no new names.
        assert_eq!(fs.create(d, "x", FileType::File, 5), Err(Errno::ENOENT));
        fs.evict(d);
        assert_eq!(fs.used_pages(), 1);
        assert_eq!(fs.statfs().files, 1);
    }

    #[test]
    fn evict_ignores_linked_and_unknown_inodes() {
        let mut fs = Tmpfs::new(100);
        let r = fs.root();
        let f = fs.create(r, "f", FileType::File, 0).unwrap();
        fs.evict(f);
        fs.evict(r);
        fs.evict(12345);
        assert!(fs.getattr(f).is_ok());
        assert!(fs.getattr(r).is_ok());
        assert_eq!(fs.used_pages(), 2);
    }

    #[test]
    fn rename_within_and_across_directories() {
        let mut fs = Tmpfs::new(100);
        let r = fs.root();
        let a = fs.create(r, "a", FileType::Dir, 0).unwrap();
        let b = fs.create(r, "b", FileType::Dir, 0).unwrap();
        let f = fs.create(a, "f", FileType::File, 0).unwrap();
        assert_eq!(fs.rename(a, "f", a, "g", 1), Ok(None));
        assert_eq!(names(&fs, a), ["g"]);
        assert_eq!(fs.rename(a, "g", b, "h", 2), Ok(None));
        assert_eq!(fs.lookup(b, "h"), Ok(f));
        assert_eq!(fs.getattr(f).unwrap().ctime, 2);
        assert_eq!(fs.getattr(a).unwrap().mtime, 2);
        // A directory moving across changes both parents' link counts.
        let c = fs.create(a, "c", FileType::Dir, 3).unwrap();
        assert_eq!((fs.getattr(a).unwrap().nlink, fs.getattr(b).unwrap().nlink), (3, 2));
        assert_eq!(fs.rename(a, "c", b, "c", 4), Ok(None));
        assert_eq!((fs.getattr(a).unwrap().nlink, fs.getattr(b).unwrap().nlink), (2, 3));
        // ...and its parent link, checked by the subtree test.
        assert_eq!(fs.rename(r, "b", c, "x", 5), Err(Errno::EINVAL));
        assert_eq!(fs.rename(r, "b", b, "x", 5), Err(Errno::EINVAL));
        assert_eq!(fs.rename(r, "a", c, "x", 5), Ok(None));
    }

    #[test]
    fn rename_replacing() {
        let mut fs = Tmpfs::new(100);
        let r = fs.root();
        let f = fs.create(r, "f", FileType::File, 0).unwrap();
        let g = fs.create(r, "g", FileType::File, 0).unwrap();
        let d = fs.create(r, "d", FileType::Dir, 0).unwrap();
        let e = fs.create(r, "e", FileType::Dir, 0).unwrap();
        let full = fs.create(r, "full", FileType::Dir, 0).unwrap();
        fs.create(full, "x", FileType::File, 0).unwrap();
        assert_eq!(fs.rename(r, "f", r, "d", 1), Err(Errno::EISDIR));
        assert_eq!(fs.rename(r, "d", r, "f", 1), Err(Errno::ENOTDIR));
        assert_eq!(fs.rename(r, "d", r, "full", 1), Err(Errno::ENOTEMPTY));
        assert_eq!(fs.rename(r, "nope", r, "f", 1), Err(Errno::ENOENT));
        assert_eq!(fs.rename(r, "f", f, "x", 1), Err(Errno::ENOTDIR));
        assert_eq!(fs.rename(r, "f", r, "..", 1), Err(Errno::EINVAL));
        assert_eq!(fs.rename(r, "f", r, "f", 1), Ok(None));
        assert_eq!(fs.rename(r, "f", r, "g", 2), Ok(Some(g)));
        assert_eq!(fs.getattr(g).unwrap().nlink, 0);
        assert_eq!(fs.lookup(r, "g"), Ok(f));
        let root_links = fs.getattr(r).unwrap().nlink;
        assert_eq!(fs.rename(r, "d", r, "e", 3), Ok(Some(e)));
        assert_eq!(fs.getattr(e).unwrap().nlink, 0);
        assert_eq!(fs.getattr(r).unwrap().nlink, root_links - 1);
        assert_eq!(fs.lookup(r, "e"), Ok(d));
        assert_eq!(names(&fs, r), ["full", "g", "e"]);
    }

    #[test]
    fn readdir_survives_changes() {
        let mut fs = Tmpfs::new(100);
        let r = fs.root();
        for n in ["a", "b", "c", "d"] {
            fs.create(r, n, FileType::File, 0).unwrap();
        }
        let (first, cookie) = fs.readdir(r, 0).unwrap().unwrap();
        assert_eq!(first.name, "a");
        assert_eq!(first.kind, FileType::File);
        // Remove the next entry and one already returned, add a new one: the untouched "c" and "d"
        // still come exactly once, and the new entry is seen at the end.
        fs.unlink(r, "b", 1).unwrap();
        fs.unlink(r, "a", 1).unwrap();
        fs.create(r, "e", FileType::Dir, 1).unwrap();
        let mut rest = Vec::new();
        let mut cookie = cookie;
        while let Some((entry, next)) = fs.readdir(r, cookie).unwrap() {
            rest.push(entry.name);
            cookie = next;
        }
        assert_eq!(rest, ["c", "d", "e"]);
        assert_eq!(fs.readdir(r, u64::MAX), Ok(None));
        let f = fs.lookup(r, "c").unwrap();
        assert_eq!(fs.readdir(f, 0), Err(Errno::ENOTDIR));
        assert_eq!(fs.readdir(999, 0), Err(Errno::ENOENT));
        assert_eq!(fs.getattr(r).unwrap().size, 3);
    }
    /// An inode's attributes, its directory entries (sequence number, name) and its data pages.
    type InodeState = (Ino, Attr, Vec<(u64, String)>, Vec<u64>);

    /// Everything observable about the file system, to check that failed calls change nothing.
    fn fingerprint(fs: &Tmpfs) -> Vec<InodeState> {
        let mut out = Vec::new();
        for (&ino, inode) in &fs.inodes {
            let (entries, pages) = match &inode.body {
                Body::Dir(d) => (d.order.iter().map(|(&s, n)| (s, n.clone())).collect(), Vec::new()),
                Body::File(f) => (Vec::new(), f.pages.keys().copied().collect()),
            };
            out.push((ino, fs.getattr(ino).unwrap(), entries, pages));
        }
        out
    }

    /// The bookkeeping that must hold after every call.
    fn check_books(fs: &Tmpfs) {
        let mut pages = 0;
        for (&ino, inode) in &fs.inodes {
            pages += INODE_COST_PAGES;
            match &inode.body {
                Body::File(f) => {
                    pages += f.pages.len() as u64;
                    assert!(f.pages.keys().all(|&i| i < f.size.div_ceil(PAGE)), "page past the end of {ino}");
                    assert!(f.pages.values().all(|p| p.len() == PAGE_SIZE));
                }
                Body::Dir(d) => {
                    assert_eq!(d.names.len(), d.order.len());
                    for (name, &(seq, child)) in &d.names {
                        assert_eq!(d.order.get(&seq), Some(name));
                        assert!(seq < d.next_seq);
                        assert!(fs.inodes.contains_key(&child), "{name} names a freed inode");
                    }
                    if inode.nlink != 0 {
                        let subdirs = d.names.values().filter(|&&(_, c)| fs.kind(c) == Ok(FileType::Dir)).count();
                        assert_eq!(inode.nlink as usize, 2 + subdirs, "links of {ino}");
                        assert!(fs.is_within(ino, ROOT), "{ino} is cut off from the root");
                    }
                }
            }
        }
        assert_eq!(fs.used_pages, pages);
        assert!(fs.used_pages <= fs.capacity_pages.max(1));
    }

    use crate::testing::Rng;

    #[test]
    fn random_calls_never_panic_and_failures_change_nothing() {
        let long = "l".repeat(NAME_MAX + 1);
        let names = ["a", "b", "c", "", ".", "..", "x/y", "\0", long.as_str()];
        let offsets = [0, 1, 4095, 4096, 3 * PAGE, MAX_FILE_SIZE - 1, MAX_FILE_SIZE, u64::MAX];
        for seed in 1..=16u64 {
            let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
            let mut fs = Tmpfs::new(if seed % 2 == 0 { rng.below(12) } else { 200 });
            for step in 0..600u64 {
                let ino = match rng.below(8) {
                    0 => rng.next(),
                    1 => 0,
                    _ => rng.below(fs.next_ino + 1),
                };
                let other = rng.below(fs.next_ino + 1);
                let name = names[rng.below(names.len() as u64) as usize];
                let name2 = names[rng.below(names.len() as u64) as usize];
                let offset = if rng.below(2) == 0 {
                    offsets[rng.below(offsets.len() as u64) as usize]
                } else {
                    rng.below(5 * PAGE)
                };
                let len = rng.below(3 * PAGE) as usize;
                let kind = if rng.below(3) == 0 { FileType::Dir } else { FileType::File };
                let before = fingerprint(&fs);
                let failed = match rng.below(10) {
                    0 | 1 => fs.create(ino, name, kind, step).is_err(),
                    2 => fs.unlink(ino, name, step).is_err(),
                    3 => fs.rmdir(ino, name, step).is_err(),
                    4 => fs.rename(ino, name, other, name2, step).is_err(),
                    5 | 6 => fs.write(ino, offset, &vec![step as u8; len], step).is_err(),
                    7 => fs.truncate(ino, offset, step).is_err(),
                    8 => fs.read(ino, offset, &mut vec![0; len], step).is_err(),
                    _ => {
                        // Free what the Vfs would: unlinked inodes (nothing is open here).
                        if fs.getattr(ino).is_ok_and(|a| a.nlink == 0) {
                            fs.evict(ino);
                        }
                        // readdir takes `&self`: it cannot change anything, only panic.
                        let _ = fs.readdir(ino, offset);
                        false
                    }
                };
                if failed {
                    assert!(fingerprint(&fs) == before, "seed {seed} step {step}: a failed call changed state: {ino} {name:?} {other} {name2:?} {offset}");
                }
                check_books(&fs);
            }
        }
    }
}
