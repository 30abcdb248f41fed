//! tmpfs: the in-memory file system mounted at `/`, as a server.
//!
//! procmgr starts it at boot and holds the only capability to it
//! (docs/filesystem.md): procmgr resolves paths against the mount table,
//! opens and closes files and forwards path requests here over its
//! connection; processes read and write the files procmgr opened for them
//! over sessions, connections this server makes into them when procmgr
//! asks (`session`). Everything but the IPC is the shared file-system
//! library (`chcore_fs`): the protocol (`proto::serve`), who may use which
//! handle (`Sessions`), the path walk and open-file table (`Vfs`) and the
//! file system (`Tmpfs`).
//!
//! It is also the pager of its files' mappings (`chcore_fs::mapped`): a
//! thread of its own waits for page faults on mapped files and supplies
//! their pages; `FS_MMAP` hands a client the file's paged PMO.
//!
//! Its pages are its own heap, charged to this process's memory account
//! (and the pages it supplies to mappings, charged to it as well).
//! The file system's size is fixed at start to a share of that account's
//! limit, so a full tmpfs answers ENOSPC long before its heap could run
//! out; and it refuses to grow while the machine as a whole is short of
//! free memory, so writing files never gets a process (this one included)
//! ended for want of a page.
#![no_std]
#![no_main]

extern crate alloc;

use chcore_fs::mapped::{self, Mapped, MAP_LIMIT};
use chcore_fs::proto::{self, FS_MKDIR, FS_MMAP, FS_MSYNC, FS_OPEN, FS_PWRITE, FS_WRITE};
use chcore_fs::session::{Sessions, FS_ATTACH, FS_DETACH, FS_GRANT};
use chcore_fs::tmpfs::Tmpfs;
use chcore_fs::{Errno, Handle, Vfs};
use libchcore::abi::{Rights, TICK_HZ};
use libchcore::fs::errno_of;
use libchcore::ipc::{self, Reply, Request};
use libchcore::sync::Mutex;
use libchcore::{println, sys};

libchcore::entry!(main);

/// Open files at once, for all clients together.
const MAX_OPEN: usize = 4096;
/// The share of this process's memory limit that file data and inodes may
/// use; the rest is for the heap's own bookkeeping (maps, vectors) and the
/// handler threads' stacks.
const DATA_SHARE_PERCENT: u64 = 60;
/// Free memory the machine must keep after a write that grows the file
/// system (others need it to run and to end).
const SYSTEM_RESERVE: u64 = 8 << 20;
/// procmgr's connection and a session per process that uses a file here.
const MAX_CONNECTIONS: u64 = libchcore::abi::ipc::MAX_CONNECTIONS;

/// The kernel side of mapped files: system calls on this process's paged
/// PMOs.
struct KernelPager;

impl mapped::Pager for KernelPager {
    fn create(&mut self, key: u64) -> Result<u64, Errno> {
        sys::create_paged_pmo(MAP_LIMIT, key).map_err(errno_of)
    }
    fn release(&mut self, pmo: u64) {
        let _ = sys::cap_delete(pmo);
    }
    fn supply(&mut self, key: u64, offset: u64, page: Option<&[u8]>) -> Result<(), Errno> {
        let page = match page {
            Some(p) => Some(<&[u8; 4096]>::try_from(p).map_err(|_| Errno::EINVAL)?),
            None => None,
        };
        sys::pager_supply(key, offset, page).map_err(errno_of)
    }
    fn read(&mut self, pmo: u64, offset: u64, buf: &mut [u8]) -> Result<(), Errno> {
        sys::read_pmo(pmo, offset, buf).map(|_| ()).map_err(errno_of)
    }
    fn write(&mut self, pmo: u64, offset: u64, data: &[u8]) -> Result<(), Errno> {
        sys::write_pmo(pmo, offset, data).map(|_| ()).map_err(errno_of)
    }
}

type Fs = Mapped<Tmpfs, KernelPager>;

/// The file system and who may use its handles, behind one lock.
struct State {
    vfs: Vfs<Fs>,
    sessions: Sessions,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

/// `tmpfs LIMIT`: LIMIT is this process's memory limit in bytes, which
/// procmgr set and passes on (a process cannot read its own).
fn main() -> i32 {
    let limit = libchcore::args().get(1).and_then(|a| a.parse::<u64>().ok()).unwrap_or(16 << 20);
    let pages = (limit.min(sys::free_memory()) / 100 * DATA_SHARE_PERCENT / 4096).max(16);
    let fs = Mapped::new(Tmpfs::new(pages), KernelPager);
    *STATE.lock() = Some(State { vfs: Vfs::new(fs, MAX_OPEN), sessions: Sessions::new() });
    // Files can be mapped only if the pager runs.
    if let Err(e) = start_pager() {
        println!("tmpfs: no pager ({e:?}): mmap will fail");
    }
    println!("tmpfs: {} KiB at /", pages * 4);
    ipc::serve_forever(handle, MAX_CONNECTIONS)
}

/// The pager thread runs (files can be mapped).
static PAGER_RUNS: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

fn start_pager() -> Result<(), libchcore::abi::Error> {
    let n = sys::create_notification()?;
    sys::pager_register(n)?;
    libchcore::thread::spawn(pager, n)?;
    PAGER_RUNS.store(true, core::sync::atomic::Ordering::SeqCst);
    Ok(())
}

/// The pager thread: wait for faults on mapped files, answer each.
extern "C" fn pager(notification: u64) -> ! {
    loop {
        if sys::wait(notification, None).is_err() {
            libchcore::process::exit(3);
        }
        while let Ok(Some((key, offset))) = sys::pager_next() {
            let mut state = STATE.lock();
            let answered = match state.as_mut() {
                Some(st) => st.vfs.fs_mut().fault(key, offset, now()),
                None => Err(Errno::EIO),
            };
            drop(state);
            // A fault this server cannot answer (out of memory for the
            // page) ends the client waiting for it rather than keep it
            // waiting for good.
            if answered.is_err() {
                let _ = sys::pager_supply(key, offset, None);
            }
        }
    }
}

/// `FS_MMAP`: a capability to the file's paged PMO goes back with the reply.
fn mmap(st: &mut State, req: &mut Request, handle: u64, shared_write: bool) -> Result<u64, Errno> {
    if !PAGER_RUNS.load(core::sync::atomic::Ordering::SeqCst) {
        return Err(Errno::ENODEV);
    }
    let (ino, readable, writable) = st.vfs.mappable(Handle::from_raw(handle))?;
    mapped::may_map(readable, writable, shared_write)?;
    let (key, pmo) = st.vfs.fs_mut().map(ino)?;
    let mut rights = Rights::READ.union(Rights::MAP).union(Rights::COPY);
    if shared_write {
        rights = rights.union(Rights::WRITE);
    }
    // The reply gives the client a capability derived from ours, narrowed
    // to `rights`; ours stays.
    req.reply_cap(pmo, rights).map_err(errno_of)?;
    Ok(key)
}

/// Seconds since boot: the file system's clock (there is no calendar yet).
fn now() -> u64 {
    sys::get_tick() / TICK_HZ
}

fn fail(e: Errno) -> Reply {
    Reply { ret: e.to_result(), words: [0; 3] }
}

fn handle(req: &mut Request) -> Reply {
    // Only `FS_ATTACH` carries a capability (and uses it at once): drop
    // whatever else is sent.
    let group = if req.words[0] == FS_ATTACH { req.caps.first().copied() } else { None };
    for &c in req.caps {
        if Some(c) != group {
            let _ = sys::cap_delete(c);
        }
    }
    let mut state = STATE.lock();
    let Some(st) = state.as_mut() else { return fail(Errno::EIO) };
    if let Err(e) = st.sessions.allows(req.badge, &req.words) {
        if let Some(g) = group {
            let _ = sys::cap_delete(g);
        }
        return fail(e);
    }
    let [op, a, b, _] = req.words;
    match op {
        FS_ATTACH => {
            let Some(g) = group else { return fail(Errno::EINVAL) };
            // The connection's buffer goes where procmgr says (the mount's
            // place in the process's layout).
            let made = sys::connect_for(g, b);
            let _ = sys::cap_delete(g);
            match made {
                Ok((slot, badge)) => {
                    st.sessions.attach(badge, a);
                    Reply { ret: slot as i64, words: [0; 3] }
                }
                Err(e) => Reply { ret: e.to_result(), words: [0; 3] },
            }
        }
        FS_GRANT => {
            st.sessions.grant(a, b);
            Reply { ret: 0, words: [0; 3] }
        }
        FS_DETACH => {
            st.sessions.detach(a);
            Reply { ret: 0, words: [0; 3] }
        }
        FS_MMAP => match mmap(st, req, a, b == 1) {
            Ok(key) => Reply { ret: key as i64, words: [0; 3] },
            Err(e) => fail(e),
        },
        FS_MSYNC => match st.vfs.fs_mut().sync(a, b, req.words[3], now()) {
            Ok(()) => Reply { ret: 0, words: [0; 3] },
            Err(e) => fail(e),
        },
        _ => {
            let grows = matches!(op, FS_WRITE | FS_PWRITE | FS_OPEN | FS_MKDIR);
            if grows && sys::free_memory() < SYSTEM_RESERVE + b.min(1 << 30) {
                return fail(Errno::ENOSPC);
            }
            let (ret, words) = proto::serve(&mut st.vfs, req.words, req.data, now());
            if ret >= 0 {
                st.sessions.after(&req.words);
            }
            Reply { ret, words }
        }
    }
}
