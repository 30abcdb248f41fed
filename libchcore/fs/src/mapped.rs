//! Files clients may map (`mmap`): the server's side of the user-level pager.
//!
//! [`Mapped`] wraps any [`FileSystem`]. The first time a client maps a file,
//! the server makes a *paged PMO* for it (through [`Pager::create`]): kernel
//! memory of which no page exists until the server supplies it. A client
//! maps a window of that PMO, shared or copy-on-write; when it touches a page
//! the server has not supplied, the kernel blocks the client and queues a
//! fault for the server, which answers with [`Mapped::fault`]: the file's
//! bytes for that page (zero past the end of the file inside the last page),
//! or a refusal for a page wholly past the end (the client is ended, as
//! Unix's SIGBUS would end it).
//!
//! # One copy of the truth
//! Once a page is supplied, the page in the PMO is the file's data: clients
//! that map the file share it, and the server reads and writes it for
//! `read` and `write` on that part of the file ([`Pager::read`],
//! [`Pager::write`]), so a store through a shared mapping is what the next
//! `read` returns and a `write` is what every mapping shows, at once. The
//! file system's own copy of a supplied page may lag behind stores through
//! mappings until [`Mapped::sync`] copies the page back (`msync`, and
//! `munmap` of a shared mapping): what a server that keeps files on a disk
//! needs before it may drop a page. A file's size only changes through the
//! file system (`write`, `ftruncate`); a store through a mapping never
//! grows a file.
//!
//! Truncating a file zeroes what its supplied pages held past the new end,
//! so a file that grows again reads zeros there, as POSIX requires; pages
//! wholly past the end stay mapped (Linux would end a client that touches
//! them; here it reads zeros).
//!
//! The PMO lives as long as the inode: [`FileSystem::evict`] drops the
//! server's capability. Mappings still hold the PMO then (the file was
//! removed while mapped), and pages not supplied by then are refused.

use alloc::collections::{BTreeMap, BTreeSet};

use crate::errno::Errno;
use crate::vfs::{Attr, DirEntry, FileSystem, FileType, Ino, StatFs};

/// The page size.
pub const PAGE: u64 = 4096;
/// Size of a file's paged PMO: no mapping of a file reaches further.
pub const MAP_LIMIT: u64 = 1 << 30;
/// Pages supplied after a faulting one when the file goes on (a client that
/// reads a mapped file in order then faults once per this many pages + 1).
pub const READAHEAD: u64 = 7;

/// Whether a handle opened for `readable`/`writable` may be mapped, shared
/// and writable if `shared_write`: POSIX's EACCES for a handle not open for
/// reading, or a shared writable mapping of one not open for writing.
pub fn may_map(readable: bool, writable: bool, shared_write: bool) -> Result<(), Errno> {
    if !readable || (shared_write && !writable) {
        return Err(Errno::EACCES);
    }
    Ok(())
}

/// What the server asks of the kernel for mapped files. The tmpfs server
/// implements it with system calls; the tests, with memory.
pub trait Pager {
    /// A new paged PMO of [`MAP_LIMIT`] bytes named `key` to the pager;
    /// returns the server's capability to it.
    fn create(&mut self, key: u64) -> Result<u64, Errno>;
    /// The server is done with PMO `pmo` (mappings keep it).
    fn release(&mut self, pmo: u64);
    /// Page `offset` of PMO `key` is `page` (all of a page), or is refused
    /// (`None`); wakes (or ends) the clients waiting for it.
    fn supply(&mut self, key: u64, offset: u64, page: Option<&[u8]>) -> Result<(), Errno>;
    /// Copy from a supplied page of PMO `pmo` (inside one page).
    fn read(&mut self, pmo: u64, offset: u64, buf: &mut [u8]) -> Result<(), Errno>;
    /// Copy into a supplied page of PMO `pmo` (inside one page).
    fn write(&mut self, pmo: u64, offset: u64, data: &[u8]) -> Result<(), Errno>;
}

/// A file some client mapped.
#[derive(Debug)]
struct MappedFile {
    key: u64,
    pmo: u64,
    /// Pages supplied (their PMO page is the file's data).
    present: BTreeSet<u64>,
}

/// A file system whose files can be mapped; see the module docs.
pub struct Mapped<F: FileSystem, P: Pager> {
    fs: F,
    pager: P,
    files: BTreeMap<Ino, MappedFile>,
    keys: BTreeMap<u64, Ino>,
    next_key: u64,
}

/// The pages `[offset, offset + len)` touches: (page index, its first
/// byte's file offset, the range of the caller's buffer).
fn pages(offset: u64, len: usize) -> impl Iterator<Item = (u64, u64, core::ops::Range<usize>)> {
    let mut done = 0usize;
    core::iter::from_fn(move || {
        if done >= len {
            return None;
        }
        let pos = offset + done as u64;
        let n = ((PAGE - pos % PAGE) as usize).min(len - done);
        let r = done..done + n;
        done += n;
        Some((pos / PAGE, pos, r))
    })
}

static ZEROS: [u8; PAGE as usize] = [0; PAGE as usize];

impl<F: FileSystem, P: Pager> Mapped<F, P> {
    /// `fs`, mappable through `pager`.
    pub fn new(fs: F, pager: P) -> Mapped<F, P> {
        Mapped { fs, pager, files: BTreeMap::new(), keys: BTreeMap::new(), next_key: 1 }
    }

    /// The file system underneath.
    pub fn inner(&self) -> &F {
        &self.fs
    }

    /// The pager, for tests.
    #[cfg(test)]
    fn pager_mut(&mut self) -> &mut P {
        &mut self.pager
    }

    /// Files mapped now (their PMOs held).
    pub fn mapped_files(&self) -> usize {
        self.files.len()
    }

    /// A client maps file `ino`: its key and the server's capability to its
    /// paged PMO (made now if it is the first mapping).
    pub fn map(&mut self, ino: Ino) -> Result<(u64, u64), Errno> {
        if let Some(m) = self.files.get(&ino) {
            return Ok((m.key, m.pmo));
        }
        if self.fs.getattr(ino)?.kind != FileType::File {
            return Err(Errno::ENODEV);
        }
        // Keys are never reused: a key names one inode's PMO for good, even
        // after the inode (and its number) went.
        let key = self.next_key;
        let pmo = self.pager.create(key)?;
        self.next_key += 1;
        self.files.insert(ino, MappedFile { key, pmo, present: BTreeSet::new() });
        self.keys.insert(key, ino);
        Ok((key, pmo))
    }

    /// The kernel queued a fault on page `offset` of PMO `key`: supply it
    /// (and up to [`READAHEAD`] pages after it that the file has), or refuse
    /// it past the end of the file or of a file that is gone. Returns
    /// whether it was supplied.
    pub fn fault(&mut self, key: u64, offset: u64, now: u64) -> Result<bool, Errno> {
        let offset = offset - offset % PAGE;
        let size = match self.keys.get(&key) {
            Some(&ino) => self.fs.getattr(ino).map(|a| a.size).unwrap_or(0),
            None => 0,
        };
        if offset >= size {
            self.pager.supply(key, offset, None)?;
            return Ok(false);
        }
        let ino = self.keys[&key];
        let mut page = [0u8; PAGE as usize];
        let last = (offset / PAGE + READAHEAD).min((size - 1) / PAGE).min(MAP_LIMIT / PAGE - 1);
        for index in offset / PAGE..=last {
            let Some(m) = self.files.get(&ino) else { break };
            if index != offset / PAGE && m.present.contains(&index) {
                continue;
            }
            page.fill(0);
            self.fs.read(ino, index * PAGE, &mut page, now)?;
            if self.pager.supply(key, index * PAGE, Some(&page)).is_err() {
                // Out of memory for a page ahead: the faulting page is in.
                if index == offset / PAGE {
                    self.pager.supply(key, offset, None)?;
                    return Ok(false);
                }
                break;
            }
            if let Some(m) = self.files.get_mut(&ino) {
                m.present.insert(index);
            }
        }
        Ok(true)
    }

    /// `msync`: copy the supplied pages of PMO `key` in `[offset, offset +
    /// len)` back into the file system (up to the end of the file).
    pub fn sync(&mut self, key: u64, offset: u64, len: u64, now: u64) -> Result<(), Errno> {
        let &ino = self.keys.get(&key).ok_or(Errno::EINVAL)?;
        let size = self.fs.getattr(ino)?.size;
        let end = offset.saturating_add(len).min(size);
        let Some(m) = self.files.get(&ino).filter(|_| offset < end) else { return Ok(()) };
        let todo: alloc::vec::Vec<u64> = m.present.range(offset / PAGE..end.div_ceil(PAGE)).copied().collect();
        let pmo = m.pmo;
        let mut page = [0u8; PAGE as usize];
        for index in todo {
            let n = (size - index * PAGE).min(PAGE) as usize;
            self.pager.read(pmo, index * PAGE, &mut page[..n])?;
            self.fs.write(ino, index * PAGE, &page[..n], now)?;
        }
        Ok(())
    }
}

impl<F: FileSystem, P: Pager> FileSystem for Mapped<F, P> {
    fn root(&self) -> Ino {
        self.fs.root()
    }

    fn lookup(&self, dir: Ino, name: &str) -> Result<Ino, Errno> {
        self.fs.lookup(dir, name)
    }

    fn getattr(&self, ino: Ino) -> Result<Attr, Errno> {
        self.fs.getattr(ino)
    }

    fn create(&mut self, dir: Ino, name: &str, kind: FileType, now: u64) -> Result<Ino, Errno> {
        self.fs.create(dir, name, kind, now)
    }

    fn unlink(&mut self, dir: Ino, name: &str, now: u64) -> Result<Ino, Errno> {
        self.fs.unlink(dir, name, now)
    }

    fn rmdir(&mut self, dir: Ino, name: &str, now: u64) -> Result<Ino, Errno> {
        self.fs.rmdir(dir, name, now)
    }

    fn rename(&mut self, from_dir: Ino, from: &str, to_dir: Ino, to: &str, now: u64) -> Result<Option<Ino>, Errno> {
        self.fs.rename(from_dir, from, to_dir, to, now)
    }

    /// The file system's bytes, with supplied pages read from the PMO.
    fn read(&mut self, ino: Ino, offset: u64, buf: &mut [u8], now: u64) -> Result<usize, Errno> {
        let n = self.fs.read(ino, offset, buf, now)?;
        if let Some(m) = self.files.get(&ino) {
            for (index, pos, r) in pages(offset, n) {
                if m.present.contains(&index) {
                    self.pager.read(m.pmo, pos, &mut buf[r])?;
                }
            }
        }
        Ok(n)
    }

    /// Written to the file system (which decides size and space), and to
    /// the supplied pages it covers.
    fn write(&mut self, ino: Ino, offset: u64, data: &[u8], now: u64) -> Result<usize, Errno> {
        let n = self.fs.write(ino, offset, data, now)?;
        if let Some(m) = self.files.get(&ino) {
            for (index, pos, r) in pages(offset, n) {
                if m.present.contains(&index) {
                    self.pager.write(m.pmo, pos, &data[r])?;
                }
            }
        }
        Ok(n)
    }

    /// Supplied pages lose what lay past the new end (zeroed).
    fn truncate(&mut self, ino: Ino, size: u64, now: u64) -> Result<(), Errno> {
        self.fs.truncate(ino, size, now)?;
        if let Some(m) = self.files.get(&ino) {
            for &index in m.present.range(size / PAGE..) {
                let from = size.max(index * PAGE);
                let n = ((index + 1) * PAGE - from) as usize;
                self.pager.write(m.pmo, from, &ZEROS[..n])?;
            }
        }
        Ok(())
    }

    fn set_times(&mut self, ino: Ino, atime: u64, mtime: u64, now: u64) -> Result<(), Errno> {
        self.fs.set_times(ino, atime, mtime, now)
    }

    fn readdir(&self, dir: Ino, cookie: u64) -> Result<Option<(DirEntry, u64)>, Errno> {
        self.fs.readdir(dir, cookie)
    }

    fn statfs(&self) -> StatFs {
        self.fs.statfs()
    }

    fn evict(&mut self, ino: Ino) {
        self.fs.evict(ino);
        if let Some(m) = self.files.remove(&ino) {
            self.keys.remove(&m.key);
            self.pager.release(m.pmo);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tmpfs::Tmpfs;
    use alloc::vec;
    use alloc::vec::Vec;

    /// PMOs in memory: slot -> (key, supplied pages).
    #[derive(Default)]
    struct FakePager {
        pmos: BTreeMap<u64, (u64, BTreeMap<u64, Vec<u8>>)>,
        refused: Vec<(u64, u64)>,
        released: Vec<u64>,
        next_slot: u64,
    }

    impl FakePager {
        fn slot_of(&self, key: u64) -> Option<u64> {
            self.pmos.iter().find(|(_, (k, _))| *k == key).map(|(s, _)| *s)
        }

        fn page(&mut self, pmo: u64, offset: u64) -> Result<&mut Vec<u8>, Errno> {
            let (_, pages) = self.pmos.get_mut(&pmo).ok_or(Errno::EBADF)?;
            pages.get_mut(&(offset / PAGE)).ok_or(Errno::ENODATA)
        }
    }

    impl Pager for FakePager {
        fn create(&mut self, key: u64) -> Result<u64, Errno> {
            self.next_slot += 1;
            self.pmos.insert(self.next_slot, (key, BTreeMap::new()));
            Ok(self.next_slot)
        }
        fn release(&mut self, pmo: u64) {
            self.released.push(pmo);
        }
        fn supply(&mut self, key: u64, offset: u64, page: Option<&[u8]>) -> Result<(), Errno> {
            assert_eq!(offset % PAGE, 0);
            match (self.slot_of(key), page) {
                (Some(s), Some(p)) => {
                    assert_eq!(p.len(), PAGE as usize);
                    self.pmos.get_mut(&s).unwrap().1.entry(offset / PAGE).or_insert_with(|| p.to_vec());
                }
                _ => self.refused.push((key, offset)),
            }
            Ok(())
        }
        fn read(&mut self, pmo: u64, offset: u64, buf: &mut [u8]) -> Result<(), Errno> {
            let at = (offset % PAGE) as usize;
            assert!(at + buf.len() <= PAGE as usize, "a copy crosses a page");
            buf.copy_from_slice(&self.page(pmo, offset)?[at..at + buf.len()]);
            Ok(())
        }
        fn write(&mut self, pmo: u64, offset: u64, data: &[u8]) -> Result<(), Errno> {
            let at = (offset % PAGE) as usize;
            assert!(at + data.len() <= PAGE as usize, "a copy crosses a page");
            self.page(pmo, offset)?[at..at + data.len()].copy_from_slice(data);
            Ok(())
        }
    }

    /// A mappable tmpfs with file "f" holding `len` bytes of a pattern.
    fn setup(len: usize) -> (Mapped<Tmpfs, FakePager>, Ino, Vec<u8>) {
        let mut m = Mapped::new(Tmpfs::new(1024), FakePager::default());
        let root = m.root();
        let ino = m.create(root, "f", FileType::File, 0).unwrap();
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 4096) as u8).collect();
        assert_eq!(m.write(ino, 0, &data, 0).unwrap(), len);
        (m, ino, data)
    }

    fn read_all(m: &mut Mapped<Tmpfs, FakePager>, ino: Ino) -> Vec<u8> {
        let mut buf = vec![0u8; m.getattr(ino).unwrap().size as usize];
        let n = m.read(ino, 0, &mut buf, 0).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn a_fault_supplies_the_file_and_reads_ahead() {
        let (mut m, ino, data) = setup(5 * 4096 + 100);
        let (key, pmo) = m.map(ino).unwrap();
        assert_eq!(m.map(ino).unwrap(), (key, pmo), "one PMO per file");
        assert!(m.fault(key, 4096 + 12, 0).unwrap());
        let pages = &m.pager_mut().pmos[&pmo].1;
        // Page 1 and what follows up to the end of the file (6 pages): 1..=5.
        assert_eq!(pages.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
        assert_eq!(pages[&1][..], data[4096..8192]);
        // The last page: the file's 100 bytes, then zeros.
        assert_eq!(pages[&5][..100], data[5 * 4096..]);
        assert!(pages[&5][100..].iter().all(|&b| b == 0));
    }

    #[test]
    fn pages_past_the_end_and_unknown_keys_are_refused() {
        let (mut m, ino, _) = setup(4096);
        let (key, _) = m.map(ino).unwrap();
        assert!(!m.fault(key, 4096, 0).unwrap());
        assert!(!m.fault(key + 100, 0, 0).unwrap());
        assert_eq!(m.pager_mut().refused, vec![(key, 4096), (key + 100, 0)]);
        let dir = m.root();
        assert_eq!(m.map(dir), Err(Errno::ENODEV));
    }

    #[test]
    fn stores_through_a_mapping_are_what_read_returns_and_writes_show_in_mappings() {
        let (mut m, ino, mut data) = setup(3 * 4096);
        let (key, pmo) = m.map(ino).unwrap();
        m.fault(key, 0, 0).unwrap();
        // A client stores through its shared mapping.
        m.pager_mut().write(pmo, 4096 + 10, b"mapped").unwrap();
        data[4096 + 10..4096 + 16].copy_from_slice(b"mapped");
        assert_eq!(read_all(&mut m, ino), data);
        // A write() shows in the mapping, and in what read() returns.
        m.write(ino, 4090, b"0123456789ab", 0).unwrap();
        data[4090..4102].copy_from_slice(b"0123456789ab");
        let mut page = [0u8; 4096];
        m.pager_mut().read(pmo, 4096, &mut page).unwrap();
        assert_eq!(page[..], data[4096..8192]);
        assert_eq!(read_all(&mut m, ino), data);
        // The file system's own copy lags until msync.
        let mut inner = vec![0u8; data.len()];
        let Mapped { fs, .. } = &mut m;
        fs.read(ino, 0, &mut inner, 0).unwrap();
        assert_ne!(inner, data);
        m.sync(key, 0, u64::MAX, 0).unwrap();
        let Mapped { fs, .. } = &mut m;
        fs.read(ino, 0, &mut inner, 0).unwrap();
        assert_eq!(inner, data);
    }

    #[test]
    fn sync_never_grows_a_file() {
        let (mut m, ino, _) = setup(100);
        let (key, pmo) = m.map(ino).unwrap();
        m.fault(key, 0, 0).unwrap();
        m.pager_mut().write(pmo, 200, b"past the end").unwrap();
        m.sync(key, 0, 4096, 0).unwrap();
        assert_eq!(m.getattr(ino).unwrap().size, 100);
        assert_eq!(m.sync(key + 1, 0, 1, 0), Err(Errno::EINVAL));
        // Ranges past the end, empty or wrapping change nothing (and do not panic).
        for (off, len) in [(1 << 40, 10), (u64::MAX, u64::MAX), (4096, 0), (0, 0), (50, u64::MAX)] {
            assert_eq!(m.sync(key, off, len, 0), Ok(()), "{off} {len}");
        }
        assert_eq!(m.getattr(ino).unwrap().size, 100);
    }

    #[test]
    fn truncation_zeroes_what_supplied_pages_held_past_the_end() {
        let (mut m, ino, data) = setup(2 * 4096);
        let (key, _) = m.map(ino).unwrap();
        m.fault(key, 0, 0).unwrap();
        m.truncate(ino, 100, 0).unwrap();
        m.truncate(ino, 2 * 4096, 0).unwrap();
        let all = read_all(&mut m, ino);
        assert_eq!(all[..100], data[..100]);
        assert!(all[100..].iter().all(|&b| b == 0), "a file that grows again reads zeros");
    }

    #[test]
    fn evicting_a_mapped_file_releases_its_pmo_and_refuses_later_faults() {
        let (mut m, ino, _) = setup(4096);
        let (key, pmo) = m.map(ino).unwrap();
        let root = m.root();
        m.unlink(root, "f", 0).unwrap();
        m.evict(ino);
        assert_eq!(m.pager_mut().released, vec![pmo]);
        assert_eq!(m.mapped_files(), 0);
        assert!(!m.fault(key, 0, 0).unwrap());
        // A new file gets a new key, even with the old inode number.
        let ino2 = m.create(root, "g", FileType::File, 0).unwrap();
        assert_ne!(m.map(ino2).unwrap().0, key);
    }

    #[test]
    fn mapping_needs_read_access_and_write_access_to_share_stores() {
        assert_eq!(may_map(true, false, false), Ok(()));
        assert_eq!(may_map(true, false, true), Err(Errno::EACCES));
        assert_eq!(may_map(true, true, true), Ok(()));
        assert_eq!(may_map(false, true, false), Err(Errno::EACCES));
    }

    #[test]
    fn page_walk_splits_at_page_boundaries() {
        let v: Vec<_> = pages(4000, 5000).collect();
        assert_eq!(v, vec![(0, 4000, 0..96), (1, 4096, 96..4192), (2, 8192, 4192..5000)]);
        assert_eq!(pages(0, 0).count(), 0);
    }
}
