//! Pipe ends, read and written in this process; and which descriptors are
//! files this process reads and writes with their server directly.
//!
//! A pipe is memory shared by the processes that hold its ends (see
//! `chcore_proc::pipe`). The first read or write on a file descriptor asks
//! procmgr what it is (`PIPE_SHARE`); for a pipe end, procmgr sends the
//! shared memory and the pipe's two notifications, which are mapped here
//! and kept per descriptor. From then on a read or write touches only the
//! ring, and the kernel only when a side has to sleep or wake the other:
//! no call to procmgr. For a file on a file-system server, procmgr names
//! this process's session with that server and the file's handle (`Known::File`),
//! and `crate::fs` calls the server itself. Closing or replacing a descriptor (`close`, `dup2`)
//! forgets what is kept for it; a forked child starts with nothing kept
//! (its capability slots are not its parent's).

use crate::sync::Mutex;
use crate::sys::{self, Slot};
use alloc::sync::Arc;
use alloc::vec::Vec;
use chcore_abi::{perm, slot, Error};
use chcore_proc::pipe::{self as shared, Failure, Header, Waiter};
use chcore_proc::proto;
use core::sync::atomic::AtomicU64;

/// Where pipe ends are mapped, one `shared::SHARED_SIZE` slot each (in
/// the first GiB with the rest of a process: docs/userspace.md).
const PIPES_BASE: u64 = 0x2C00_0000;
/// Slots there: 64 MiB, up to the thread stacks (a process has at most
/// `proto::MAX_FDS` descriptors; ends are forgotten when closed).
const SLOTS: u64 = 8192;

/// A pipe end mapped in this process.
pub(crate) struct End {
    read: bool,
    va: u64,
    shm: Slot,
    data: Slot,
    room: Slot,
    /// The notification for the ring's lock.
    lock: Slot,
    /// This process's lock tag (its pid), from procmgr.
    tag: u64,
}

impl Waiter for End {
    fn notify(&self, readers: bool) {
        let _ = sys::notify(if readers { self.data } else { self.room });
    }

    fn wait(&self, readers: bool) -> bool {
        sys::wait(if readers { self.data } else { self.room }, None).is_ok()
    }

    fn notify_lock(&self) {
        let _ = sys::notify(self.lock);
    }

    fn wait_lock(&self) -> bool {
        sys::wait(self.lock, None).is_ok()
    }

    fn relax(&self) {
        sys::yield_now();
    }

    // The ring is copied with `memcpy` (libchcore/src/mem.rs): the default
    // word loop cannot load a word from an unaligned byte address on this
    // target (it is compiled for strict alignment) and builds each word from
    // eight byte loads, which made 80% of a megabyte through a pipe.
    fn copy_in(&self, ring: &[AtomicU64], at: usize, src: &[u8]) -> Result<(), Failure> {
        let start = span(ring, at, src.len())?;
        // SAFETY: `[at, at + len)` lies in the ring (checked by `span`),
        // which is mapped read/write for as long as `self` lives; atomics
        // may be written through a pointer from a shared reference (they
        // are `UnsafeCell`s). The ring's lock is held, so no process that
        // keeps to the protocol touches these bytes meanwhile.
        unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), start, src.len()) };
        Ok(())
    }

    fn copy_out(&self, ring: &[AtomicU64], at: usize, out: &mut [u8]) -> Result<(), Failure> {
        let start = span(ring, at, out.len())?;
        // SAFETY: as in `copy_in`, reading.
        unsafe { core::ptr::copy_nonoverlapping(start, out.as_mut_ptr(), out.len()) };
        Ok(())
    }
}

/// Where ring byte `at` is, if `[at, at + len)` lies in `ring`.
fn span(ring: &[AtomicU64], at: usize, len: usize) -> Result<*mut u8, Failure> {
    match at.checked_add(len) {
        Some(end) if end <= ring.len() * 8 => Ok(ring.as_ptr().cast::<u8>().cast_mut().wrapping_add(at)),
        _ => Err(Failure::Corrupt),
    }
}

fn error(f: Failure) -> Error {
    match f {
        Failure::BrokenPipe => Error::PeerDead,
        Failure::Corrupt => Error::InvalidArgument,
        Failure::Wait => Error::BadFd,
    }
}

impl End {
    fn ring(&self) -> shared::Pipe<'_> {
        // SAFETY: `va` maps the pipe's shared memory, SHARED_SIZE bytes
        // read/write and page-aligned (so the data, at a page offset, is
        // aligned for u64), for as long as `self` lives (unmapped in `drop`).
        // Header and data are atomics only: whatever other processes write
        // there is a valid value, and they may write it concurrently.
        let (hdr, data) = unsafe {
            (
                &*(self.va as *const Header),
                core::slice::from_raw_parts(
                    (self.va + shared::DATA_OFFSET as u64) as *const AtomicU64,
                    shared::RING_WORDS,
                ),
            )
        };
        shared::Pipe::new(hdr, data, self.tag)
    }

    /// Read up to `buf.len()` bytes; 0 means end of file.
    pub(crate) fn read(&self, buf: &mut [u8]) -> Result<usize, Error> {
        if !self.read {
            return Err(Error::BadFd);
        }
        self.ring().read(buf, self).map_err(error)
    }

    /// Write all of `data` (waiting for room as needed).
    pub(crate) fn write(&self, data: &[u8]) -> Result<usize, Error> {
        if self.read {
            return Err(Error::BadFd);
        }
        let ring = self.ring();
        let mut done = 0;
        while done < data.len() {
            done += ring.write(&data[done..], self).map_err(error)?;
        }
        Ok(done)
    }
}

impl Drop for End {
    fn drop(&mut self) {
        let _ = sys::unmap_pmo(slot::SELF_CAP_GROUP, self.va);
        for s in [self.shm, self.data, self.room, self.lock] {
            let _ = sys::cap_delete(s);
        }
        VAS.lock().give(self.va);
    }
}

/// A file this process reads and writes with its file-system server
/// directly (see `crate::fs`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FileEnd {
    /// This process's session connection with the server.
    pub(crate) session: Slot,
    /// Where the session's buffer is mapped.
    pub(crate) buf: u64,
    /// The file's handle at the server.
    pub(crate) handle: u64,
}

/// What is known about a descriptor.
#[derive(Clone)]
pub(crate) enum Known {
    /// Neither: procmgr serves it (a file procmgr serves).
    Other,
    /// The console, which procmgr serves.
    Console,
    Pipe(Arc<End>),
    File(FileEnd),
}

/// Per descriptor, what is known (nothing yet: `None`).
static FDS: Mutex<Vec<Option<Known>>> = Mutex::new(Vec::new());
/// Where ends are mapped.
static VAS: Mutex<shared::Slots> = Mutex::new(shared::Slots::new(PIPES_BASE, SLOTS));

/// What `fd` is, asking procmgr the first time.
pub(crate) fn lookup(fd: u64) -> Result<Known, Error> {
    let i = usize::try_from(fd).ok().filter(|&i| i < proto::MAX_FDS).ok_or(Error::BadFd)?;
    if let Some(Some(k)) = FDS.lock().get(i) {
        return Ok(k.clone());
    }
    let (ret, [kind, tag, session], caps) = crate::process::pipe_share(fd)?;
    let known = if kind == proto::FILE_DIRECT {
        Known::File(FileEnd { session, buf: ret, handle: tag })
    } else if kind == proto::CONSOLE {
        Known::Console
    } else if kind != proto::PIPE_READ_END && kind != proto::PIPE_WRITE_END {
        Known::Other
    } else {
        let va = VAS.lock().take().ok_or(Error::TableFull).inspect_err(|_| {
            for s in caps {
                let _ = sys::cap_delete(s);
            }
        })?;
        let [shm, data, room, lock] = caps;
        // From here `End`'s drop gives back the slots and the address.
        let end = End { read: kind == proto::PIPE_READ_END, va, shm, data, room, lock, tag };
        sys::map_pmo(slot::SELF_CAP_GROUP, shm, va, perm::READ | perm::WRITE)?;
        Known::Pipe(Arc::new(end))
    };
    let found = known.clone();
    let old = {
        let mut fds = FDS.lock();
        if fds.len() <= i {
            fds.resize(i + 1, None);
        }
        fds[i].replace(known)
    };
    // Another thread may have looked `fd` up meanwhile: its copy goes
    // (outside the lock, as dropping an end makes system calls).
    drop(old);
    Ok(found)
}

/// `fd` was closed or now refers to something else.
pub(crate) fn forget(fd: u64) {
    let old = usize::try_from(fd).ok().and_then(|i| FDS.lock().get_mut(i).and_then(Option::take));
    drop(old);
}

/// First thing in a forked child: what the parent kept names capability
/// slots of the parent's, not ours. Unmap the parent's mappings (shared
/// memory is shared with a fork) and forget the rest without dropping it.
pub(crate) fn after_fork() {
    // SAFETY: the child's only thread runs this before anything else; a
    // lock copied held belongs to a parent thread that does not exist here.
    unsafe {
        FDS.force_unlock();
        VAS.force_unlock();
    }
    let kept = core::mem::take(&mut *FDS.lock());
    for k in kept.into_iter().flatten() {
        if let Known::Pipe(e) = k {
            let _ = sys::unmap_pmo(slot::SELF_CAP_GROUP, e.va);
            VAS.lock().give(e.va);
            // The slots are the parent's: no cap_delete here.
            core::mem::forget(e);
        }
    }
}
