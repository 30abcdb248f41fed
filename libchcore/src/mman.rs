//! Files mapped into memory: `mmap`, `msync`, `munmap`, with POSIX's names
//! and meanings.
//!
//! `mmap` asks the file's server (over this process's session) for the
//! file's paged PMO, cuts the window asked for out of it (`pmo_slice` for a
//! shared mapping, `pmo_private` for a private, copy-on-write one) and maps
//! that. No page is read now: the first touch of each page faults, the
//! kernel queues the fault for the server, and the server supplies the page
//! (docs/filesystem.md, "Mapped files"). A shared mapping's stores are the
//! file's bytes at once, for every reader and every other mapping; a
//! private mapping's are its own.
//!
//! The programs in `/bin` are served by procmgr from the ramdisk, which is
//! memory already: `mmap` of one asks procmgr, which answers with a PMO
//! over the file's pages in the ramdisk, and nothing faults to a server.
//!
//! Mappings go at `MMAP_BASE` and up, first fit. A forked child keeps the
//! parent's mappings (shared ones shared, private ones copy-on-write) and
//! can `msync` and `munmap` them: it asks procmgr for a session of its own
//! with the file's server the first time (`proto::SESSION`).

use crate::fs::{session_call, Errno, Fd};
use crate::pipe::{FileEnd, Known};
use crate::sync::Mutex;
use crate::sys;
use alloc::collections::BTreeMap;
use chcore_abi::{ipc, perm, slot, Rights};
use chcore_fs::mapped::MAP_LIMIT;
use chcore_fs::proto::{FS_MMAP, FS_MSYNC};

/// Pages may be read.
pub const PROT_READ: u32 = 1;
/// Pages may be written.
pub const PROT_WRITE: u32 = 2;
/// Pages may be executed.
pub const PROT_EXEC: u32 = 4;
/// Stores go to the file, and every mapping of it sees them.
pub const MAP_SHARED: u32 = 1;
/// Stores are this mapping's own (copy-on-write).
pub const MAP_PRIVATE: u32 = 2;
/// `msync`: write back before returning (all syncs here are synchronous).
pub const MS_SYNC: u32 = 4;

/// Where mappings go: 64 GiB of address space above everything else a
/// process has (docs/userspace.md).
const MMAP_BASE: u64 = 0x10_0000_0000;
const MMAP_END: u64 = 0x20_0000_0000;
const PAGE: u64 = 4096;

/// A mapping this process made.
#[derive(Clone, Copy)]
struct Mapping {
    len: u64,
    /// The file's key at its server, and the session to reach it (none for
    /// a program in `/bin`: procmgr's ramdisk, read-only, never synced).
    key: u64,
    file: Option<FileEnd>,
    /// Where in the file the mapping starts.
    offset: u64,
    shared: bool,
    /// The process that made `file.session`: a forked child inherits the
    /// record but not the session.
    owner: crate::process::Pid,
}

/// Mappings by start address.
static MAPS: Mutex<BTreeMap<u64, Mapping>> = Mutex::new(BTreeMap::new());

/// The lowest address where `len` bytes fit between the mappings.
fn place(maps: &BTreeMap<u64, Mapping>, len: u64) -> Option<u64> {
    let mut at = MMAP_BASE;
    for (&start, m) in maps {
        if start >= at + len {
            break;
        }
        at = at.max(start + m.len);
    }
    (at + len <= MMAP_END).then_some(at)
}

/// Map `len` bytes of file `fd` from `offset` (a multiple of the page size)
/// with `prot` (`PROT_READ`, `PROT_WRITE`, `PROT_EXEC`) and `flags`
/// (`MAP_SHARED` or `MAP_PRIVATE`). Returns the address.
///
/// EINVAL for a zero length, an unaligned offset, neither or both of the
/// flags, or a window past [`MAP_LIMIT`]; EACCES for a file not open for
/// reading, or a shared writable mapping of one not open for writing;
/// EBADF for a descriptor not open; ENODEV for something other than a
/// regular file (pipes, the console); ENOMEM when no room is left.
/// A program in `/bin` (procmgr's read-only ramdisk) maps its pages in
/// place, shared or private; its window must lie within the file's pages
/// (EINVAL otherwise), and a shared writable mapping of it is EACCES.
/// `PROT_EXEC` is EPERM for every file (as on a file system mounted
/// noexec): programs run through `exec`, which maps their text itself.
/// Touching a page wholly past the end of the file ends the process.
pub fn mmap(len: usize, prot: u32, flags: u32, fd: Fd, offset: u64) -> Result<*mut u8, Errno> {
    let shared = match flags {
        MAP_SHARED => true,
        MAP_PRIVATE => false,
        _ => return Err(Errno::EINVAL),
    };
    let size = (len as u64).checked_next_multiple_of(PAGE).ok_or(Errno::EINVAL)?;
    if len == 0 || !offset.is_multiple_of(PAGE) || offset.checked_add(size).is_none_or(|e| e > MAP_LIMIT) {
        return Err(Errno::EINVAL);
    }
    if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let file = match crate::pipe::lookup(fd) {
        Ok(Known::File(f)) => Some(f),
        Ok(Known::Other) => None,
        Ok(_) => return Err(Errno::ENODEV),
        Err(e) => return Err(crate::fs::errno_of(e)),
    };
    let shared_write = u64::from(shared && prot & PROT_WRITE != 0);
    let (key, source, ramdisk_file) = match &file {
        Some(f) => session_call(f, [FS_MMAP, f.handle, shared_write, 0], &[], &mut []).map(|(k, s)| (k, s, None))?,
        // A file procmgr serves itself.
        None => via_procmgr(fd, shared_write).map(|(s, len)| (0, s, Some(len)))?,
    };
    // A program in /bin can never change, so even a shared mapping of it is
    // a private window: the rest of its last page, which the ramdisk fills
    // with what follows the file, is zeroed in this process's copy.
    let window = if shared && ramdisk_file.is_none() {
        sys::pmo_slice(source, offset, size, Rights::ALL)
    } else {
        sys::pmo_private(source, offset, size)
    };
    let _ = sys::cap_delete(source);
    let window = window.map_err(crate::fs::errno_of)?;
    if let Some(end) = ramdisk_file.map(|len| len.saturating_sub(offset)).filter(|&end| end < size) {
        let zeros = [0u8; PAGE as usize];
        let zeroed = sys::write_pmo(window, end, &zeros[..(size - end).min(PAGE) as usize]);
        if let Err(e) = zeroed {
            let _ = sys::cap_delete(window);
            return Err(crate::fs::errno_of(e));
        }
    }
    let mut p = perm::READ;
    if prot & PROT_WRITE != 0 {
        p |= perm::WRITE;
    }
    if prot & PROT_EXEC != 0 {
        p |= perm::EXEC;
    }
    let mut maps = MAPS.lock();
    let placed = place(&maps, size).ok_or(Errno::ENOMEM).and_then(|addr| {
        sys::map_pmo(slot::SELF_CAP_GROUP, window, addr, p).map(|()| addr).map_err(crate::fs::errno_of)
    });
    // The mapping keeps the window (and the window the file's PMO).
    let _ = sys::cap_delete(window);
    let addr = placed?;
    let owner = crate::process::pid();
    maps.insert(addr, Mapping { len: size, key, file, offset, shared, owner });
    Ok(addr as *mut u8)
}

/// `FS_MMAP` of descriptor `fd` through procmgr: (the PMO's slot, the
/// file's size).
fn via_procmgr(fd: Fd, shared_write: u64) -> Result<(u64, u64), Errno> {
    let mut pmo = 0;
    let (ret, words) = crate::process::exchange(FS_MMAP, [fd, shared_write, 0], &[], |buf, ret| {
        if ret >= 0 {
            pmo = crate::ipc::word(buf, ipc::CAP_SLOTS / 8);
        }
    })
    .ok_or(Errno::EINVAL)?;
    if ret < 0 {
        return Err(Errno::from_result(ret).unwrap_or(Errno::EIO));
    }
    Ok((pmo, words[0]))
}

/// The mapping that holds `[addr, addr + len)`.
fn find(maps: &BTreeMap<u64, Mapping>, addr: u64, len: u64) -> Result<(u64, Mapping), Errno> {
    let (&start, &m) = maps.range(..=addr).next_back().ok_or(Errno::EINVAL)?;
    if addr.checked_add(len).is_none_or(|end| end > start + m.len) {
        return Err(Errno::EINVAL);
    }
    Ok((start, m))
}

/// Copy what a shared mapping holds in `[addr, addr + len)` back into the
/// file system (the file's readers see stores at once; this brings the
/// server's own copy up to date, what a server with a disk writes out).
/// Nothing to do for a private mapping. EINVAL if the range is not inside
/// one mapping.
pub fn msync(addr: *mut u8, len: usize, _flags: u32) -> Result<(), Errno> {
    let mut maps = MAPS.lock();
    let (start, _) = find(&maps, addr as u64, len as u64)?;
    sync(&mut maps, start, addr as u64 - start, len as u64)
}

/// Sync `[from, from + len)` of the mapping at `start`.
fn sync(maps: &mut BTreeMap<u64, Mapping>, start: u64, from: u64, len: u64) -> Result<(), Errno> {
    let Some(m) = maps.get_mut(&start) else { return Err(Errno::EINVAL) };
    let Some(file) = m.file.as_mut().filter(|_| m.shared) else { return Ok(()) };
    let me = crate::process::pid();
    if m.owner != me {
        file.session = crate::process::session(file.buf).map_err(crate::fs::errno_of)?;
        m.owner = me;
    }
    session_call(file, [FS_MSYNC, m.key, m.offset + from, len], &[], &mut []).map(|_| ())
}

/// Remove the whole mapping that starts at `addr` (`len` is its length as
/// given to `mmap`; unmapping part of one is EINVAL). A shared mapping is
/// synced first.
pub fn munmap(addr: *mut u8, len: usize) -> Result<(), Errno> {
    let mut maps = MAPS.lock();
    let start = addr as u64;
    let m = *maps.get(&start).ok_or(Errno::EINVAL)?;
    if (len as u64).checked_next_multiple_of(PAGE) != Some(m.len) {
        return Err(Errno::EINVAL);
    }
    // Synced before it goes; a server that has ended cannot be synced with,
    // and the mapping goes all the same.
    let synced = sync(&mut maps, start, 0, m.len);
    sys::unmap_pmo(slot::SELF_CAP_GROUP, start).map_err(crate::fs::errno_of)?;
    maps.remove(&start);
    synced.or_else(|e| if e == Errno::EIO { Ok(()) } else { Err(e) })
}
