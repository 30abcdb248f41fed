use super::*;
use crate::rofs::RoFs;
use crate::tmpfs::{Tmpfs, PAGE_SIZE};
use alloc::string::String;
use alloc::vec;

fn p(s: &str) -> Path {
    Path::parse(s).unwrap()
}

fn vfs() -> Vfs<Tmpfs> {
    Vfs::new(Tmpfs::new(1000), 16)
}

/// Creates (or truncates) a file with the given contents.
fn put(v: &mut Vfs<Tmpfs>, path: &str, data: &[u8]) {
    let h = v.open(&p(path), O_WRONLY | O_CREAT | O_TRUNC, 1).unwrap();
    assert_eq!(v.write(h, data, 1), Ok(data.len()));
    v.close(h).unwrap();
}

fn get(v: &mut Vfs<Tmpfs>, path: &str) -> Result<Vec<u8>, Errno> {
    let h = v.open(&p(path), O_RDONLY, 1)?;
    let mut out = Vec::new();
    let mut buf = [0; 1000];
    loop {
        let n = v.read(h, &mut buf, 1)?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    v.close(h)?;
    Ok(out)
}

fn ls(v: &Vfs<Tmpfs>, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cookie = 0;
    while let Some((e, next)) = v.readdir(&p(path), cookie).unwrap() {
        out.push(e.name);
        cookie = next;
    }
    out
}

#[test]
fn resolve_walks_and_checks_directories() {
    let mut v = vfs();
    v.mkdir(&p("/a"), 1).unwrap();
    v.mkdir(&p("/a/b"), 1).unwrap();
    put(&mut v, "/a/f", b"x");
    let root = v.fs().root();
    assert_eq!(v.resolve(&Path::root()), Ok(root));
    assert_eq!(v.resolve(&p("/a/b")), v.fs().lookup(v.resolve(&p("/a")).unwrap(), "b"));
    assert!(v.resolve(&p("/a/b/")).is_ok());
    assert_eq!(v.resolve(&p("/a/f/")), Err(Errno::ENOTDIR));
    assert_eq!(v.resolve(&p("/a/f/.")), Err(Errno::ENOTDIR));
    assert_eq!(v.resolve(&p("/a/f/x")), Err(Errno::ENOTDIR));
    assert_eq!(v.resolve(&p("/a/nope/x")), Err(Errno::ENOENT));
    assert_eq!(v.resolve(&p("/a/nope")), Err(Errno::ENOENT));
    let path = p("/a/b/new");
    let (dir, name) = v.resolve_parent(&path).unwrap();
    assert_eq!((dir, name), (v.resolve(&p("/a/b")).unwrap(), "new"));
    assert_eq!(v.resolve_parent(&Path::root()), Err(Errno::EBUSY));
    assert_eq!(v.resolve_parent(&p("/a/f/x")), Err(Errno::ENOTDIR));
    assert_eq!(v.stat(&p("/a/f")).unwrap().size, 1);
    assert_eq!(v.stat(&p("/a")).unwrap().kind, FileType::Dir);
    assert_eq!(v.stat(&p("/zz")), Err(Errno::ENOENT));
}

#[test]
fn open_flag_validation() {
    let mut v = vfs();
    put(&mut v, "/f", b"abc");
    assert_eq!(v.open(&p("/f"), 3, 1), Err(Errno::EINVAL));
    assert_eq!(v.open(&p("/f"), 0o4000, 1), Err(Errno::EINVAL));
    assert_eq!(v.open(&p("/d"), O_CREAT | O_DIRECTORY, 1), Err(Errno::EINVAL));
    assert_eq!(v.stat(&p("/d")), Err(Errno::ENOENT));
    assert_eq!(v.open_handles(), 0);
}

#[test]
fn open_create_and_excl() {
    let mut v = vfs();
    assert_eq!(v.open(&p("/f"), O_RDONLY, 1), Err(Errno::ENOENT));
    let h = v.open(&p("/f"), O_RDWR | O_CREAT, 7).unwrap();
    let a = v.fstat(h).unwrap();
    assert_eq!((a.kind, a.size, a.ctime), (FileType::File, 0, 7));
    assert_eq!(v.open(&p("/f"), O_RDWR | O_CREAT | O_EXCL, 1), Err(Errno::EEXIST));
    // O_CREAT on an existing file opens it.
    let h2 = v.open(&p("/f"), O_RDONLY | O_CREAT, 1).unwrap();
    assert_eq!(v.fstat(h2).unwrap().ino, a.ino);
    // O_EXCL alone is ignored.
    {
        let h = v.open(&p("/f"), O_RDONLY | O_EXCL, 1).unwrap();
        v.close(h).unwrap();
    }
    assert_eq!(v.open(&p("/nope/f"), O_RDWR | O_CREAT, 1), Err(Errno::ENOENT));
    assert_eq!(v.open(&p("/f/g"), O_RDWR | O_CREAT, 1), Err(Errno::ENOTDIR));
    assert_eq!(v.open(&p("/new/"), O_RDWR | O_CREAT, 1), Err(Errno::EISDIR));
    assert_eq!(v.stat(&p("/new")), Err(Errno::ENOENT));
    assert_eq!(v.open(&p("/f/"), O_RDONLY | O_CREAT, 1), Err(Errno::ENOTDIR));
    assert_eq!(v.open(&p("/f/"), O_RDONLY, 1), Err(Errno::ENOTDIR));
    assert_eq!(v.open(&Path::root(), O_RDONLY | O_CREAT, 1), Err(Errno::EISDIR));
    assert_eq!(v.open(&Path::root(), O_RDONLY | O_CREAT | O_EXCL, 1), Err(Errno::EEXIST));
    let long = "n".repeat(255);
    let h3 = v.open(&p(&alloc::format!("/{long}")), O_WRONLY | O_CREAT | O_EXCL, 1).unwrap();
    v.close(h3).unwrap();
}

#[test]
fn open_directories() {
    let mut v = vfs();
    v.mkdir(&p("/d"), 1).unwrap();
    put(&mut v, "/f", b"");
    for flags in [O_WRONLY, O_RDWR, O_RDONLY | O_TRUNC, O_RDONLY | O_CREAT] {
        assert_eq!(v.open(&p("/d"), flags, 1), Err(Errno::EISDIR), "{flags:o}");
    }
    let h = v.open(&p("/d"), O_RDONLY | O_DIRECTORY, 1).unwrap();
    assert_eq!(v.read(h, &mut [0; 4], 1), Err(Errno::EISDIR));
    assert_eq!(v.pread(h, &mut [0; 4], 0, 1), Err(Errno::EISDIR));
    assert_eq!(v.write(h, b"x", 1), Err(Errno::EBADF));
    assert_eq!(v.ftruncate(h, 0, 1), Err(Errno::EINVAL));
    assert_eq!(v.fstat(h).unwrap().kind, FileType::Dir);
    v.close(h).unwrap();
    {
        let h = v.open(&p("/d/"), O_RDONLY, 1).unwrap();
        v.close(h).unwrap();
    }
    assert_eq!(v.open(&p("/f"), O_RDONLY | O_DIRECTORY, 1), Err(Errno::ENOTDIR));
}

#[test]
fn o_trunc() {
    let mut v = vfs();
    put(&mut v, "/f", b"hello");
    let h = v.open(&p("/f"), O_RDWR | O_TRUNC, 9).unwrap();
    let a = v.fstat(h).unwrap();
    assert_eq!((a.size, a.mtime), (0, 9));
    v.close(h).unwrap();
    put(&mut v, "/f", b"hello");
    // As on Linux, O_TRUNC truncates even a read-only open.
    let h = v.open(&p("/f"), O_RDONLY | O_TRUNC, 9).unwrap();
    assert_eq!(v.fstat(h).unwrap().size, 0);
    assert_eq!(v.write(h, b"x", 1), Err(Errno::EBADF));
}

#[test]
fn read_write_advance_the_offset() {
    let mut v = vfs();
    let h = v.open(&p("/f"), O_RDWR | O_CREAT, 1).unwrap();
    assert_eq!(v.write(h, b"hello ", 2), Ok(6));
    assert_eq!(v.write(h, b"world", 2), Ok(5));
    assert_eq!(v.lseek(h, 0, SEEK_CUR), Ok(11));
    let mut buf = [0; 8];
    assert_eq!(v.read(h, &mut buf, 3), Ok(0));
    assert_eq!(v.lseek(h, 0, SEEK_SET), Ok(0));
    assert_eq!(v.read(h, &mut buf, 3), Ok(8));
    assert_eq!(&buf, b"hello wo");
    assert_eq!(v.read(h, &mut buf, 3), Ok(3));
    assert_eq!(&buf[..3], b"rld");
    assert_eq!(v.fstat(h).unwrap().atime, 3);
    v.close(h).unwrap();
    assert_eq!(get(&mut v, "/f").unwrap(), b"hello world");
}

#[test]
fn access_modes() {
    let mut v = vfs();
    put(&mut v, "/f", b"abc");
    let r = v.open(&p("/f"), O_RDONLY, 1).unwrap();
    let w = v.open(&p("/f"), O_WRONLY, 1).unwrap();
    let mut buf = [0; 3];
    assert_eq!(v.write(r, b"x", 1), Err(Errno::EBADF));
    assert_eq!(v.pwrite(r, b"x", 0, 1), Err(Errno::EBADF));
    assert_eq!(v.ftruncate(r, 0, 1), Err(Errno::EINVAL));
    assert_eq!(v.read(w, &mut buf, 1), Err(Errno::EBADF));
    assert_eq!(v.pread(w, &mut buf, 0, 1), Err(Errno::EBADF));
    assert_eq!(v.write(w, b"X", 1), Ok(1));
    assert_eq!(v.read(r, &mut buf, 1), Ok(3));
    assert_eq!(&buf, b"Xbc");
    assert_eq!(v.getdents(r), Err(Errno::ENOTDIR));
}

#[test]
fn o_append_writes_at_the_end() {
    let mut v = vfs();
    put(&mut v, "/log", b"one\n");
    let a = v.open(&p("/log"), O_WRONLY | O_APPEND, 1).unwrap();
    let other = v.open(&p("/log"), O_WRONLY, 1).unwrap();
    assert_eq!(v.lseek(a, 0, SEEK_SET), Ok(0));
    assert_eq!(v.write(a, b"two\n", 1), Ok(4));
    assert_eq!(v.lseek(a, 0, SEEK_CUR), Ok(8));
    // Another writer extends the file; the appender still goes to the (new) end.
    assert_eq!(v.pwrite(other, b"three\n", 8, 1), Ok(6));
    assert_eq!(v.write(a, b"four\n", 1), Ok(5));
    // pwrite on an O_APPEND handle writes where it is told (POSIX).
    assert_eq!(v.pwrite(a, b"ONE", 0, 1), Ok(3));
    assert_eq!(v.lseek(a, 0, SEEK_CUR), Ok(19));
    assert_eq!(get(&mut v, "/log").unwrap(), b"ONE\ntwo\nthree\nfour\n");
}

#[test]
fn pread_pwrite_leave_the_offset() {
    let mut v = vfs();
    let h = v.open(&p("/f"), O_RDWR | O_CREAT, 1).unwrap();
    assert_eq!(v.pwrite(h, b"abcdef", 0, 1), Ok(6));
    assert_eq!(v.lseek(h, 0, SEEK_CUR), Ok(0));
    let mut buf = [0; 3];
    assert_eq!(v.pread(h, &mut buf, 2, 1), Ok(3));
    assert_eq!(&buf, b"cde");
    assert_eq!(v.lseek(h, 0, SEEK_CUR), Ok(0));
    assert_eq!(v.pread(h, &mut buf, 6, 1), Ok(0));
    assert_eq!(v.pread(h, &mut buf, 1 << 62, 1), Ok(0));
    assert_eq!(v.pread(h, &mut buf, (i64::MAX as u64) + 1, 1), Err(Errno::EINVAL));
    assert_eq!(v.pwrite(h, b"x", u64::MAX, 1), Err(Errno::EINVAL));
    assert_eq!(v.pwrite(h, b"x", i64::MAX as u64, 1), Err(Errno::EFBIG));
    assert_eq!(v.fstat(h).unwrap().size, 6);
}

#[test]
fn lseek() {
    let mut v = vfs();
    put(&mut v, "/f", b"0123456789");
    let h = v.open(&p("/f"), O_RDWR, 1).unwrap();
    assert_eq!(v.lseek(h, 4, SEEK_SET), Ok(4));
    assert_eq!(v.lseek(h, 2, SEEK_CUR), Ok(6));
    assert_eq!(v.lseek(h, -3, SEEK_CUR), Ok(3));
    assert_eq!(v.lseek(h, -1, SEEK_END), Ok(9));
    assert_eq!(v.lseek(h, -11, SEEK_END), Err(Errno::EINVAL));
    assert_eq!(v.lseek(h, -1, SEEK_SET), Err(Errno::EINVAL));
    assert_eq!(v.lseek(h, 0, 3), Err(Errno::EINVAL));
    assert_eq!(v.lseek(h, 0, u32::MAX), Err(Errno::EINVAL));
    // A failed seek leaves the offset.
    assert_eq!(v.lseek(h, 0, SEEK_CUR), Ok(9));
    assert_eq!(v.lseek(h, i64::MAX, SEEK_SET), Ok(i64::MAX as u64));
    assert_eq!(v.lseek(h, 1, SEEK_CUR), Err(Errno::EINVAL));
    assert_eq!(v.lseek(h, i64::MAX, SEEK_END), Err(Errno::EINVAL));
    assert_eq!(v.lseek(h, i64::MIN, SEEK_CUR), Err(Errno::EINVAL));
    assert_eq!(v.lseek(h, -i64::MAX, SEEK_CUR), Ok(0));
    // Seeking past the end and writing leaves a hole.
    assert_eq!(v.lseek(h, 20, SEEK_END), Ok(30));
    assert_eq!(v.write(h, b"!", 1), Ok(1));
    let mut want = b"0123456789".to_vec();
    want.resize(30, 0);
    want.push(b'!');
    assert_eq!(get(&mut v, "/f").unwrap(), want);
    assert_eq!(v.lseek(Handle::from_raw(0), 0, SEEK_SET), Err(Errno::EBADF));
}

#[test]
fn ftruncate() {
    let mut v = vfs();
    put(&mut v, "/f", b"0123456789");
    let h = v.open(&p("/f"), O_RDWR, 1).unwrap();
    assert_eq!(v.ftruncate(h, 4, 5), Ok(()));
    assert_eq!(v.fstat(h).unwrap().size, 4);
    assert_eq!(v.fstat(h).unwrap().mtime, 5);
    assert_eq!(v.ftruncate(h, 8, 5), Ok(()));
    assert_eq!(get(&mut v, "/f").unwrap(), b"0123\0\0\0\0");
    assert_eq!(v.ftruncate(h, (i64::MAX as u64) + 1, 5), Err(Errno::EINVAL));
    assert_eq!(v.ftruncate(h, u64::MAX, 5), Err(Errno::EINVAL));
    assert_eq!(v.ftruncate(Handle::from_raw(12345), 0, 5), Err(Errno::EBADF));
    // The offset stays where it was, past the end.
    assert_eq!(v.lseek(h, 100, SEEK_SET), Ok(100));
    v.ftruncate(h, 0, 6).unwrap();
    assert_eq!(v.lseek(h, 0, SEEK_CUR), Ok(100));
}

#[test]
fn dup_shares_the_offset() {
    let mut v = vfs();
    put(&mut v, "/f", b"abcdef");
    let h = v.open(&p("/f"), O_RDWR, 1).unwrap();
    let d = v.dup(h).unwrap();
    assert_ne!(h, d);
    assert_eq!(v.open_handles(), 2);
    let mut buf = [0; 2];
    assert_eq!(v.read(h, &mut buf, 1), Ok(2));
    assert_eq!(v.read(d, &mut buf, 1), Ok(2));
    assert_eq!(&buf, b"cd");
    assert_eq!(v.lseek(h, 0, SEEK_CUR), Ok(4));
    v.close(h).unwrap();
    // The description lives on through the duplicate.
    assert_eq!(v.read(d, &mut buf, 1), Ok(2));
    assert_eq!(&buf, b"ef");
    assert_eq!(v.read(h, &mut buf, 1), Err(Errno::EBADF));
    // A second, independent open has its own offset.
    let other = v.open(&p("/f"), O_RDONLY, 1).unwrap();
    assert_eq!(v.read(other, &mut buf, 1), Ok(2));
    assert_eq!(&buf, b"ab");
    v.close(d).unwrap();
    v.close(other).unwrap();
    assert_eq!(v.dup(d), Err(Errno::EBADF));
    assert_eq!(v.open_handles(), 0);
}

#[test]
fn stale_and_forged_handles_are_ebadf() {
    let mut v = vfs();
    put(&mut v, "/a", b"A");
    put(&mut v, "/b", b"B");
    let old = v.open(&p("/a"), O_RDONLY, 1).unwrap();
    v.close(old).unwrap();
    assert_eq!(v.close(old), Err(Errno::EBADF));
    // The slot is reused for another file; the old handle must not reach it.
    let new = v.open(&p("/b"), O_RDONLY, 1).unwrap();
    assert_eq!(new.to_raw() & 0xffff_ffff, old.to_raw() & 0xffff_ffff);
    assert_ne!(new, old);
    let mut buf = [0; 1];
    assert_eq!(v.read(old, &mut buf, 1), Err(Errno::EBADF));
    assert_eq!(v.fstat(old), Err(Errno::EBADF));
    assert_eq!(v.close(old), Err(Errno::EBADF));
    assert_eq!(v.read(new, &mut buf, 1), Ok(1));
    assert_eq!(&buf, b"B");
    for raw in [0, 1, 1 << 32 | 1, u64::MAX, new.to_raw() + 1, new.to_raw() ^ (1 << 40)] {
        let forged = Handle::from_raw(raw);
        assert_eq!(v.fstat(forged), Err(Errno::EBADF), "{raw:#x}");
        assert_eq!(v.write(forged, b"x", 1), Err(Errno::EBADF));
        assert_eq!(v.pread(forged, &mut buf, 0, 1), Err(Errno::EBADF));
        assert_eq!(v.pwrite(forged, b"x", 0, 1), Err(Errno::EBADF));
        assert_eq!(v.getdents(forged), Err(Errno::EBADF));
        assert_eq!(v.dup(forged), Err(Errno::EBADF));
        assert_eq!(v.close(forged), Err(Errno::EBADF));
    }
    assert_eq!(Handle::from_raw(new.to_raw()), new);
    assert_eq!(v.open_handles(), 1);
}

#[test]
fn the_table_is_bounded() {
    let mut v = Vfs::new(Tmpfs::new(100), 3);
    put(&mut v, "/f", b"");
    let a = v.open(&p("/f"), O_RDONLY, 1).unwrap();
    let b = v.dup(a).unwrap();
    let c = v.open(&p("/f"), O_RDONLY, 1).unwrap();
    assert_eq!(v.open(&p("/f"), O_RDONLY, 1), Err(Errno::ENFILE));
    assert_eq!(v.dup(c), Err(Errno::ENFILE));
    // A full table refuses before creating anything.
    assert_eq!(v.open(&p("/new"), O_RDWR | O_CREAT, 1), Err(Errno::ENFILE));
    assert_eq!(v.stat(&p("/new")), Err(Errno::ENOENT));
    v.close(b).unwrap();
    let d = v.open(&p("/f"), O_RDONLY, 1).unwrap();
    assert_eq!(v.open_handles(), 3);
    for h in [a, c, d] {
        v.close(h).unwrap();
    }
    assert_eq!(v.open_handles(), 0);
    let mut none = Vfs::new(Tmpfs::new(100), 0);
    assert_eq!(none.open(&Path::root(), O_RDONLY, 1), Err(Errno::ENFILE));
}

#[test]
fn unlink_while_open_keeps_the_data_until_the_last_close() {
    let mut v = Vfs::new(Tmpfs::new(10), 8);
    put(&mut v, "/f", &[7; 2 * PAGE_SIZE]);
    let free_with_file = v.statfs().free_blocks;
    let h = v.open(&p("/f"), O_RDWR, 1).unwrap();
    let d = v.dup(h).unwrap();
    v.unlink(&p("/f"), 2).unwrap();
    assert_eq!(v.stat(&p("/f")), Err(Errno::ENOENT));
    assert_eq!(v.fstat(h).unwrap().nlink, 0);
    let mut buf = [0; 4];
    assert_eq!(v.pread(h, &mut buf, 100, 3), Ok(4));
    assert_eq!(buf, [7; 4]);
    assert_eq!(v.pwrite(h, b"more", 2 * PAGE_SIZE as u64, 3), Ok(4));
    assert_eq!(v.statfs().free_blocks, free_with_file - 1);
    // A new file of the same name is a different file.
    put(&mut v, "/f", b"new");
    assert_eq!(v.pread(d, &mut buf, 0, 3), Ok(4));
    assert_eq!(buf, [7; 4]);
    v.close(h).unwrap();
    assert_eq!(v.fstat(d).unwrap().size, 2 * PAGE_SIZE as u64 + 4);
    v.close(d).unwrap();
    // The old file's inode and three pages are back; the new file holds an inode and a page.
    assert_eq!(v.statfs().free_blocks, free_with_file - 1 + 4 - 2);
    assert_eq!(v.fs().statfs().files, 2);
}

#[test]
fn unlink_without_handles_frees_at_once() {
    let mut v = vfs();
    let before = v.statfs();
    put(&mut v, "/f", &[1; 3 * PAGE_SIZE]);
    assert_eq!(v.statfs().free_blocks, before.free_blocks - 4);
    v.unlink(&p("/f"), 2).unwrap();
    assert_eq!(v.statfs(), before);
}

#[test]
fn unlink_errors() {
    let mut v = vfs();
    v.mkdir(&p("/d"), 1).unwrap();
    put(&mut v, "/f", b"");
    assert_eq!(v.unlink(&p("/d"), 1), Err(Errno::EISDIR));
    assert_eq!(v.unlink(&p("/d/"), 1), Err(Errno::EISDIR));
    assert_eq!(v.unlink(&Path::root(), 1), Err(Errno::EISDIR));
    assert_eq!(v.unlink(&p("/f/"), 1), Err(Errno::ENOTDIR));
    assert_eq!(v.unlink(&p("/nope"), 1), Err(Errno::ENOENT));
    assert_eq!(v.unlink(&p("/nope/"), 1), Err(Errno::ENOENT));
    assert_eq!(v.unlink(&p("/f/x"), 1), Err(Errno::ENOTDIR));
    assert_eq!(v.stat(&p("/f")).unwrap().nlink, 1);
    v.unlink(&p("/f"), 1).unwrap();
    assert_eq!(v.unlink(&p("/f"), 1), Err(Errno::ENOENT));
}

#[test]
fn mkdir_and_rmdir() {
    let mut v = vfs();
    assert_eq!(v.mkdir(&p("/a"), 3), Ok(()));
    assert_eq!(v.mkdir(&p("/a/b/"), 3), Ok(()));
    assert_eq!(v.mkdir(&p("/a"), 3), Err(Errno::EEXIST));
    assert_eq!(v.mkdir(&Path::root(), 3), Err(Errno::EEXIST));
    assert_eq!(v.mkdir(&p("/x/y"), 3), Err(Errno::ENOENT));
    put(&mut v, "/f", b"");
    assert_eq!(v.mkdir(&p("/f"), 3), Err(Errno::EEXIST));
    assert_eq!(v.mkdir(&p("/f/y"), 3), Err(Errno::ENOTDIR));
    let a = v.stat(&p("/a")).unwrap();
    assert_eq!((a.nlink, a.size, a.mtime), (3, 1, 3));
    assert_eq!(v.rmdir(&p("/a"), 4), Err(Errno::ENOTEMPTY));
    assert_eq!(v.rmdir(&p("/f"), 4), Err(Errno::ENOTDIR));
    assert_eq!(v.rmdir(&p("/f/"), 4), Err(Errno::ENOTDIR));
    assert_eq!(v.rmdir(&Path::root(), 4), Err(Errno::EBUSY));
    assert_eq!(v.rmdir(&p("/nope"), 4), Err(Errno::ENOENT));
    assert_eq!(v.rmdir(&p("/a/b/"), 4), Ok(()));
    assert_eq!(v.stat(&p("/a")).unwrap().nlink, 2);
    assert_eq!(v.rmdir(&p("/a"), 4), Ok(()));
    assert_eq!(ls(&v, "/"), ["f"]);
    assert_eq!(v.fs().statfs().files, 2);
}

#[test]
fn rmdir_while_open() {
    let mut v = vfs();
    v.mkdir(&p("/d"), 1).unwrap();
    let h = v.open(&p("/d"), O_RDONLY, 1).unwrap();
    v.rmdir(&p("/d"), 2).unwrap();
    assert_eq!(v.fstat(h).unwrap().nlink, 0);
    assert_eq!(v.getdents(h), Ok(None));
    assert_eq!(v.fs().statfs().files, 2);
    v.close(h).unwrap();
    assert_eq!(v.fs().statfs().files, 1);
}

#[test]
fn rename_files() {
    let mut v = vfs();
    v.mkdir(&p("/d"), 1).unwrap();
    put(&mut v, "/a", b"A");
    put(&mut v, "/b", b"B");
    assert_eq!(v.rename(&p("/a"), &p("/d/a2"), 2), Ok(()));
    assert_eq!(get(&mut v, "/d/a2").unwrap(), b"A");
    assert_eq!(v.stat(&p("/a")), Err(Errno::ENOENT));
    // Replacing an existing file frees the old one.
    let files = v.fs().statfs().files;
    assert_eq!(v.rename(&p("/b"), &p("/d/a2"), 3), Ok(()));
    assert_eq!(get(&mut v, "/d/a2").unwrap(), b"B");
    assert_eq!(v.fs().statfs().files, files - 1);
    // Same name: a no-op.
    assert_eq!(v.rename(&p("/d/a2"), &p("/d/a2"), 4), Ok(()));
    assert_eq!(get(&mut v, "/d/a2").unwrap(), b"B");
    assert_eq!(v.rename(&p("/d/a2"), &p("/d/a2/"), 4), Err(Errno::ENOTDIR));
    assert_eq!(v.rename(&p("/d/a2/"), &p("/x"), 4), Err(Errno::ENOTDIR));
    assert_eq!(v.rename(&p("/d/a2"), &p("/x/"), 4), Err(Errno::ENOTDIR));
    assert_eq!(v.rename(&p("/nope"), &p("/x"), 4), Err(Errno::ENOENT));
    assert_eq!(v.rename(&p("/d/a2"), &p("/nope/x"), 4), Err(Errno::ENOENT));
    assert_eq!(v.rename(&p("/d/a2"), &p("/d/a2/x"), 4), Err(Errno::ENOTDIR));
    assert_eq!(v.rename(&p("/d/a2"), &p("/d"), 4), Err(Errno::ENOTEMPTY));
    v.mkdir(&p("/e"), 4).unwrap();
    assert_eq!(v.rename(&p("/d/a2"), &p("/e"), 4), Err(Errno::EISDIR));
    assert_eq!(v.rename(&p("/d/a2"), &Path::root(), 4), Err(Errno::EBUSY));
    assert_eq!(v.rename(&Path::root(), &p("/x"), 4), Err(Errno::EBUSY));
    assert_eq!(get(&mut v, "/d/a2").unwrap(), b"B");
}

#[test]
fn rename_directories() {
    let mut v = vfs();
    v.mkdir(&p("/a"), 1).unwrap();
    v.mkdir(&p("/a/b"), 1).unwrap();
    put(&mut v, "/a/b/f", b"F");
    v.mkdir(&p("/empty"), 1).unwrap();
    v.mkdir(&p("/full"), 1).unwrap();
    put(&mut v, "/full/x", b"");
    put(&mut v, "/file", b"");
    assert_eq!(v.rename(&p("/a"), &p("/a/b/c"), 2), Err(Errno::EINVAL));
    assert_eq!(v.rename(&p("/a"), &p("/a/c"), 2), Err(Errno::EINVAL));
    assert_eq!(v.rename(&p("/a/b"), &p("/a"), 2), Err(Errno::ENOTEMPTY));
    assert_eq!(v.rename(&p("/a"), &p("/full"), 2), Err(Errno::ENOTEMPTY));
    assert_eq!(v.rename(&p("/a"), &p("/file"), 2), Err(Errno::ENOTDIR));
    assert_eq!(v.rename(&p("/a"), &p("/a/"), 2), Ok(()));
    // Into an empty directory's place, with trailing slashes allowed on directories.
    assert_eq!(v.rename(&p("/a/"), &p("/empty/"), 3), Ok(()));
    assert_eq!(get(&mut v, "/empty/b/f").unwrap(), b"F");
    assert_eq!(v.stat(&p("/a")), Err(Errno::ENOENT));
    assert_eq!(ls(&v, "/"), ["full", "file", "empty"]);
    // A prefix that is not a component boundary is not a subtree.
    assert_eq!(v.rename(&p("/empty"), &p("/emptyish"), 4), Ok(()));
    assert_eq!(v.rename(&p("/emptyish/b"), &p("/b"), 4), Ok(()));
    assert_eq!(get(&mut v, "/b/f").unwrap(), b"F");
    let root = v.stat(&Path::root()).unwrap();
    assert_eq!(root.nlink, 2 + 3);
}

#[test]
fn rename_over_an_open_file_keeps_it_until_close() {
    let mut v = vfs();
    put(&mut v, "/old", b"old");
    put(&mut v, "/new", b"new");
    let h = v.open(&p("/old"), O_RDONLY, 1).unwrap();
    v.rename(&p("/new"), &p("/old"), 2).unwrap();
    assert_eq!(get(&mut v, "/old").unwrap(), b"new");
    let mut buf = [0; 3];
    assert_eq!(v.read(h, &mut buf, 3), Ok(3));
    assert_eq!(&buf, b"old");
    assert_eq!(v.fs().statfs().files, 3);
    v.close(h).unwrap();
    assert_eq!(v.fs().statfs().files, 2);
}

#[test]
fn readdir_by_path_and_by_handle() {
    let mut v = vfs();
    v.mkdir(&p("/d"), 1).unwrap();
    for n in ["x", "y", "z"] {
        put(&mut v, &alloc::format!("/d/{n}"), b"");
    }
    v.mkdir(&p("/d/sub"), 1).unwrap();
    assert_eq!(ls(&v, "/d"), ["x", "y", "z", "sub"]);
    assert_eq!(ls(&v, "/d/"), ["x", "y", "z", "sub"]);
    assert_eq!(v.readdir(&p("/d/x"), 0), Err(Errno::ENOTDIR));
    assert_eq!(v.readdir(&p("/nope"), 0), Err(Errno::ENOENT));
    let h = v.open(&p("/d"), O_RDONLY | O_DIRECTORY, 1).unwrap();
    let first = v.getdents(h).unwrap().unwrap();
    assert_eq!((first.name.as_str(), first.kind), ("x", FileType::File));
    // Changes while the walk is under way: untouched entries come exactly once.
    v.unlink(&p("/d/y"), 2).unwrap();
    put(&mut v, "/d/w", b"");
    let mut rest = Vec::new();
    while let Some(e) = v.getdents(h).unwrap() {
        rest.push((e.name, e.kind));
    }
    assert_eq!(rest, [("z".into(), FileType::File), ("sub".into(), FileType::Dir), ("w".into(), FileType::File)]);
    assert_eq!(v.getdents(h), Ok(None));
    // lseek to 0 rewinds.
    assert_eq!(v.lseek(h, 0, SEEK_SET), Ok(0));
    assert_eq!(v.getdents(h).unwrap().unwrap().name, "x");
    // A dup shares the position.
    let d = v.dup(h).unwrap();
    assert_eq!(v.getdents(d).unwrap().unwrap().name, "z");
    assert_eq!(v.getdents(h).unwrap().unwrap().name, "sub");
}

#[test]
fn enospc_leaves_the_tree_unchanged() {
    // The root, one file and two data pages fill it.
    let mut v = Vfs::new(Tmpfs::new(4), 8);
    put(&mut v, "/f", &[3; 2 * PAGE_SIZE]);
    assert_eq!(v.statfs().free_blocks, 0);
    assert_eq!(v.mkdir(&p("/d"), 2), Err(Errno::ENOSPC));
    assert_eq!(v.open(&p("/g"), O_WRONLY | O_CREAT, 2), Err(Errno::ENOSPC));
    assert_eq!(v.open_handles(), 0);
    let h = v.open(&p("/f"), O_WRONLY | O_APPEND, 2).unwrap();
    assert_eq!(v.write(h, b"x", 2), Err(Errno::ENOSPC));
    assert_eq!(v.lseek(h, 0, SEEK_CUR), Ok(0));
    v.close(h).unwrap();
    assert_eq!(ls(&v, "/"), ["f"]);
    assert_eq!(v.stat(&p("/f")).unwrap().size, 2 * PAGE_SIZE as u64);
    assert_eq!(v.stat(&p("/f")).unwrap().mtime, 1);
    // Shrinking gives pages back.
    let h = v.open(&p("/f"), O_WRONLY, 3).unwrap();
    v.ftruncate(h, 1, 3).unwrap();
    v.close(h).unwrap();
    assert_eq!(v.statfs().free_blocks, 1);
    v.unlink(&p("/f"), 4).unwrap();
    assert_eq!(v.statfs().free_blocks, 3);
    v.mkdir(&p("/d"), 5).unwrap();
    put(&mut v, "/d/g", &[4; PAGE_SIZE]);
    assert_eq!(v.statfs().free_blocks, 0);
}

#[test]
fn rofs_through_the_vfs() {
    let files: [(&str, &[u8]); 2] = [("ls", b"LS"), ("sh", b"SHELL")];
    let mut v = Vfs::new(RoFs::new(files, 0).unwrap(), 4);
    let h = v.open(&p("/sh"), O_RDONLY, 1).unwrap();
    let mut buf = [0; 8];
    assert_eq!(v.read(h, &mut buf, 1), Ok(5));
    assert_eq!(&buf[..5], b"SHELL");
    assert_eq!(v.open(&p("/sh"), O_WRONLY, 1), Err(Errno::EROFS));
    assert_eq!(v.open(&p("/sh"), O_RDWR, 1), Err(Errno::EROFS));
    assert_eq!(v.open(&p("/sh"), O_RDONLY | O_TRUNC, 1), Err(Errno::EROFS));
    // O_CREAT on an existing file is just an open.
    {
        let h = v.open(&p("/ls"), O_RDONLY | O_CREAT, 1).unwrap();
        v.close(h).unwrap();
    }
    assert_eq!(v.open(&p("/ls"), O_RDONLY | O_CREAT | O_EXCL, 1), Err(Errno::EEXIST));
    assert_eq!(v.open(&p("/new"), O_WRONLY | O_CREAT, 1), Err(Errno::EROFS));
    assert_eq!(v.open(&p("/new"), O_RDONLY, 1), Err(Errno::ENOENT));
    assert_eq!(v.mkdir(&p("/d"), 1), Err(Errno::EROFS));
    assert_eq!(v.mkdir(&p("/ls"), 1), Err(Errno::EEXIST));
    assert_eq!(v.unlink(&p("/ls"), 1), Err(Errno::EROFS));
    assert_eq!(v.rmdir(&p("/ls"), 1), Err(Errno::ENOTDIR));
    assert_eq!(v.rename(&p("/ls"), &p("/dir"), 1), Err(Errno::EROFS));
    assert_eq!(v.ftruncate(h, 0, 1), Err(Errno::EINVAL));
    assert_eq!(v.stat(&p("/ls/")), Err(Errno::ENOTDIR));
    assert!(v.statfs().readonly);
    let root = v.open(&Path::root(), O_RDONLY | O_DIRECTORY, 1).unwrap();
    assert_eq!(v.getdents(root).unwrap().unwrap().name, "ls");
    assert_eq!(v.getdents(root).unwrap().unwrap().name, "sh");
    assert_eq!(v.getdents(root), Ok(None));
}

#[test]
fn into_inner_returns_the_file_system() {
    let mut v = vfs();
    put(&mut v, "/f", b"abc");
    let fs = v.into_inner();
    assert!(fs.lookup(fs.root(), "f").is_ok());
}

mod model;

#[test]
fn utimes_sets_times_on_files_and_directories_not_on_a_read_only_fs() {
    let mut v = vfs();
    put(&mut v, "/f", b"x");
    v.mkdir(&p("/d"), 1).unwrap();
    assert_eq!(v.utimes(&p("/f"), 7, 8, 9), Ok(()));
    let a = v.stat(&p("/f")).unwrap();
    assert_eq!((a.atime, a.mtime, a.ctime), (7, 8, 9));
    assert_eq!(v.utimes(&p("/d/"), 1, 2, 3), Ok(()));
    assert_eq!(v.stat(&p("/d")).map(|a| a.mtime), Ok(2));
    assert_eq!(v.utimes(&p("/nope"), 1, 2, 3), Err(Errno::ENOENT));
    assert_eq!(v.utimes(&p("/f/"), 1, 2, 3), Err(Errno::ENOTDIR));
    // Through the protocol, UTIME_NOW is the server's clock.
    let mut buf = vec![0u8; 64];
    buf[..2].copy_from_slice(b"/f");
    let (ret, _) = crate::proto::serve(&mut v, [crate::proto::FS_UTIMES, 2, crate::proto::UTIME_NOW, 5], &mut buf, 42);
    assert_eq!(ret, 0);
    let a = v.stat(&p("/f")).unwrap();
    assert_eq!((a.atime, a.mtime, a.ctime), (42, 5, 42));
    let mut ro = Vfs::new(RoFs::new(vec![("ls", &b"elf"[..])], 0).unwrap(), 4);
    assert_eq!(ro.utimes(&p("/ls"), 1, 2, 3), Err(Errno::EROFS));
    assert_eq!(ro.utimes(&Path::root(), 1, 2, 3), Err(Errno::EROFS));
}
