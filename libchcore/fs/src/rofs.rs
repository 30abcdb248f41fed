//! RoFs: a read-only, flat file system over byte slices, for the ramdisk's programs under `/bin`.
//!
//! The files are borrowed, not copied: the ramdisk stays mapped for the server's life, so each file is a
//! slice of it. The root is the only directory; the inode of the `i`th file is `i + 2`. Every change
//! gives EROFS, after the checks that would fail first on a writable file system (ENOENT for a missing
//! name, EEXIST for an existing one), so that errors do not depend on where a path is mounted.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::errno::Errno;
use crate::path::{validate_name, NAME_MAX};
use crate::vfs::{Attr, DirEntry, FileSystem, FileType, Ino, StatFs};

const ROOT: Ino = 1;
const FIRST_FILE: Ino = 2;
/// Sizes are reported in 512-byte units, as `st_blocks`.
const BLOCK: u64 = 512;

/// A read-only directory of files.
pub struct RoFs<'a> {
    files: Vec<(&'a str, &'a [u8])>,
    by_name: BTreeMap<&'a str, Ino>,
    time: u64,
}

impl<'a> RoFs<'a> {
    /// A file system whose root holds `files` (name, contents), listed in the order given; `time` is
    /// every inode's atime, mtime and ctime (the ramdisk's build time, if known).
    ///
    /// # Errors
    /// EINVAL or ENAMETOOLONG for a name that [`validate_name`] refuses, EEXIST for a repeated name.
    pub fn new(files: impl IntoIterator<Item = (&'a str, &'a [u8])>, time: u64) -> Result<RoFs<'a>, Errno> {
        let mut fs = RoFs { files: Vec::new(), by_name: BTreeMap::new(), time };
        for (name, data) in files {
            validate_name(name)?;
            let ino = FIRST_FILE + fs.files.len() as u64;
            if fs.by_name.insert(name, ino).is_some() {
                return Err(Errno::EEXIST);
            }
            fs.files.push((name, data));
        }
        Ok(fs)
    }

    fn file(&self, ino: Ino) -> Result<&'a [u8], Errno> {
        if ino == ROOT {
            return Err(Errno::EISDIR);
        }
        let index = ino.checked_sub(FIRST_FILE).and_then(|i| usize::try_from(i).ok()).ok_or(Errno::ENOENT)?;
        self.files.get(index).map(|&(_, data)| data).ok_or(Errno::ENOENT)
    }

    /// The bytes of file `ino`, borrowed from where they lie (what `mmap`
    /// of a ramdisk program maps). EISDIR for the root, ENOENT for no such file.
    pub fn contents(&self, ino: Ino) -> Result<&'a [u8], Errno> {
        self.file(ino)
    }

    /// Checks that `dir` is the root, as every directory operation's first step.
    fn check_dir(&self, dir: Ino) -> Result<(), Errno> {
        if dir == ROOT {
            Ok(())
        } else {
            self.file(dir).and(Err(Errno::ENOTDIR))
        }
    }
}

impl FileSystem for RoFs<'_> {
    fn root(&self) -> Ino {
        ROOT
    }

    fn lookup(&self, dir: Ino, name: &str) -> Result<Ino, Errno> {
        validate_name(name)?;
        self.check_dir(dir)?;
        self.by_name.get(name).copied().ok_or(Errno::ENOENT)
    }

    fn getattr(&self, ino: Ino) -> Result<Attr, Errno> {
        let (kind, size, nlink) = if ino == ROOT {
            (FileType::Dir, self.files.len() as u64, 2)
        } else {
            (FileType::File, self.file(ino)?.len() as u64, 1)
        };
        let blocks = if kind == FileType::File { size.div_ceil(BLOCK) } else { 0 };
        let t = self.time;
        Ok(Attr { ino, kind, size, blocks, nlink, atime: t, mtime: t, ctime: t, readonly: true })
    }

    fn create(&mut self, dir: Ino, name: &str, _kind: FileType, _now: u64) -> Result<Ino, Errno> {
        match self.lookup(dir, name) {
            Ok(_) => Err(Errno::EEXIST),
            Err(Errno::ENOENT) => Err(Errno::EROFS),
            Err(e) => Err(e),
        }
    }

    fn unlink(&mut self, dir: Ino, name: &str, _now: u64) -> Result<Ino, Errno> {
        self.lookup(dir, name)?;
        Err(Errno::EROFS)
    }

    fn rmdir(&mut self, dir: Ino, name: &str, _now: u64) -> Result<Ino, Errno> {
        // Only the root is a directory and it has no name, so every name here is a file.
        self.lookup(dir, name)?;
        Err(Errno::ENOTDIR)
    }

    fn rename(&mut self, from_dir: Ino, from: &str, to_dir: Ino, to: &str, _now: u64) -> Result<Option<Ino>, Errno> {
        validate_name(to)?;
        self.lookup(from_dir, from)?;
        self.check_dir(to_dir)?;
        Err(Errno::EROFS)
    }

    fn read(&mut self, ino: Ino, offset: u64, buf: &mut [u8], _now: u64) -> Result<usize, Errno> {
        let data = self.file(ino)?;
        let Some(rest) = usize::try_from(offset).ok().and_then(|start| data.get(start..)) else { return Ok(0) };
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }

    fn write(&mut self, ino: Ino, _offset: u64, _data: &[u8], _now: u64) -> Result<usize, Errno> {
        self.file(ino)?;
        Err(Errno::EROFS)
    }

    fn truncate(&mut self, ino: Ino, _size: u64, _now: u64) -> Result<(), Errno> {
        self.file(ino)?;
        Err(Errno::EROFS)
    }

    fn set_times(&mut self, ino: Ino, _atime: u64, _mtime: u64, _now: u64) -> Result<(), Errno> {
        self.getattr(ino)?;
        Err(Errno::EROFS)
    }

    fn readdir(&self, dir: Ino, cookie: u64) -> Result<Option<(DirEntry, u64)>, Errno> {
        self.check_dir(dir)?;
        let Some(&(name, _)) = usize::try_from(cookie).ok().and_then(|i| self.files.get(i)) else { return Ok(None) };
        let entry = DirEntry { name: String::from(name), ino: FIRST_FILE + cookie, kind: FileType::File };
        Ok(Some((entry, cookie + 1)))
    }

    fn statfs(&self) -> StatFs {
        let blocks =
            self.files.iter().fold(0u64, |sum, (_, data)| sum.saturating_add((data.len() as u64).div_ceil(BLOCK)));
        StatFs {
            block_size: BLOCK,
            blocks,
            free_blocks: 0,
            files: self.files.len() as u64 + 1,
            name_max: NAME_MAX as u64,
            readonly: true,
        }
    }

    /// Nothing to free: the files are borrowed and never unlinked.
    fn evict(&mut self, _ino: Ino) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const FILES: [(&str, &[u8]); 3] = [("ls", b"ELF ls"), ("cat", b"ELF cat!"), ("empty", b"")];

    fn fs() -> RoFs<'static> {
        RoFs::new(FILES, 42).unwrap()
    }

    #[test]
    fn lists_and_reads() {
        let mut fs = fs();
        let r = fs.root();
        let mut all = vec![];
        let mut cookie = 0;
        while let Some((e, next)) = fs.readdir(r, cookie).unwrap() {
            assert_eq!(fs.lookup(r, &e.name), Ok(e.ino));
            assert_eq!(e.kind, FileType::File);
            all.push(e.name);
            cookie = next;
        }
        assert_eq!(all, ["ls", "cat", "empty"]);
        assert_eq!(fs.readdir(r, u64::MAX), Ok(None));
        let cat = fs.lookup(r, "cat").unwrap();
        let a = fs.getattr(cat).unwrap();
        assert_eq!((a.kind, a.size, a.blocks, a.nlink, a.mtime, a.readonly), (FileType::File, 8, 1, 1, 42, true));
        let mut buf = [0; 5];
        assert_eq!(fs.read(cat, 0, &mut buf, 0), Ok(5));
        assert_eq!(&buf, b"ELF c");
        assert_eq!(fs.read(cat, 5, &mut buf, 0), Ok(3));
        assert_eq!(&buf[..3], b"at!");
        assert_eq!(fs.read(cat, 8, &mut buf, 0), Ok(0));
        assert_eq!(fs.read(cat, u64::MAX, &mut buf, 0), Ok(0));
        let root = fs.getattr(r).unwrap();
        assert_eq!((root.kind, root.size, root.readonly), (FileType::Dir, 3, true));
        let st = fs.statfs();
        assert_eq!((st.blocks, st.free_blocks, st.files, st.readonly), (2, 0, 4, true));
    }

    #[test]
    fn every_change_is_erofs_after_the_usual_checks() {
        let mut fs = fs();
        let r = fs.root();
        let ls = fs.lookup(r, "ls").unwrap();
        assert_eq!(fs.create(r, "new", FileType::File, 0), Err(Errno::EROFS));
        assert_eq!(fs.create(r, "ls", FileType::Dir, 0), Err(Errno::EEXIST));
        assert_eq!(fs.create(ls, "x", FileType::File, 0), Err(Errno::ENOTDIR));
        assert_eq!(fs.unlink(r, "ls", 0), Err(Errno::EROFS));
        assert_eq!(fs.unlink(r, "nope", 0), Err(Errno::ENOENT));
        assert_eq!(fs.rmdir(r, "ls", 0), Err(Errno::ENOTDIR));
        assert_eq!(fs.rmdir(r, "nope", 0), Err(Errno::ENOENT));
        assert_eq!(fs.rename(r, "ls", r, "dir", 0), Err(Errno::EROFS));
        assert_eq!(fs.rename(r, "nope", r, "dir", 0), Err(Errno::ENOENT));
        assert_eq!(fs.rename(r, "ls", ls, "dir", 0), Err(Errno::ENOTDIR));
        assert_eq!(fs.write(ls, 0, b"x", 0), Err(Errno::EROFS));
        assert_eq!(fs.truncate(ls, 0, 0), Err(Errno::EROFS));
        assert_eq!(fs.write(r, 0, b"x", 0), Err(Errno::EISDIR));
        assert_eq!(fs.read(r, 0, &mut [0; 1], 0), Err(Errno::EISDIR));
        fs.evict(ls);
        assert!(fs.getattr(ls).is_ok());
    }

    #[test]
    fn bad_inodes_and_names() {
        let fs = fs();
        for ino in [0, 5, 6, u64::MAX] {
            assert_eq!(fs.getattr(ino), Err(Errno::ENOENT), "{ino}");
            assert_eq!(fs.lookup(ino, "ls"), Err(Errno::ENOENT), "{ino}");
        }
        assert_eq!(fs.lookup(2, "ls"), Err(Errno::ENOTDIR));
        assert_eq!(fs.readdir(2, 0), Err(Errno::ENOTDIR));
        assert_eq!(fs.lookup(1, "a/b"), Err(Errno::EINVAL));
        assert_eq!(RoFs::new([("a", &b""[..]), ("a", &b""[..])], 0).err(), Some(Errno::EEXIST));
        assert_eq!(RoFs::new([("a/b", &b""[..])], 0).err(), Some(Errno::EINVAL));
        assert_eq!(RoFs::new([("", &b""[..])], 0).err(), Some(Errno::EINVAL));
        assert!(RoFs::new([], 0).unwrap().readdir(1, 0).unwrap().is_none());
    }
}
