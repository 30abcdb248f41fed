//! tmpfs: the in-memory file system mounted at `/`, as a server.
//!
//! procmgr starts it at boot and is its only client (docs/filesystem.md):
//! procmgr resolves paths against the mount table and forwards each file
//! request here over one connection. Everything but the IPC is the shared
//! file-system library (`chcore_fs`): the protocol (`proto::serve`), the
//! path walk and open-file table (`Vfs`) and the file system (`Tmpfs`).
//!
//! Its pages are its own heap, charged to this process's memory account.
//! The file system's size is fixed at start to a share of that account's
//! limit, so a full tmpfs answers ENOSPC long before its heap could run
//! out; and it refuses to grow while the machine as a whole is short of
//! free memory, so writing files never gets a process (this one included)
//! ended for want of a page.
#![no_std]
#![no_main]

extern crate alloc;

use chcore_fs::proto::{self, FS_MKDIR, FS_OPEN, FS_PWRITE, FS_WRITE};
use chcore_fs::tmpfs::Tmpfs;
use chcore_fs::{Errno, Vfs};
use libchcore::abi::TICK_HZ;
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
/// procmgr is the only client; two connections leave room for a restart.
const MAX_CONNECTIONS: u64 = 2;

static VFS: Mutex<Option<Vfs<Tmpfs>>> = Mutex::new(None);

/// `tmpfs LIMIT`: LIMIT is this process's memory limit in bytes, which
/// procmgr set and passes on (a process cannot read its own).
fn main() -> i32 {
    let limit = libchcore::args().get(1).and_then(|a| a.parse::<u64>().ok()).unwrap_or(16 << 20);
    let pages = (limit.min(sys::free_memory()) / 100 * DATA_SHARE_PERCENT / 4096).max(16);
    *VFS.lock() = Some(Vfs::new(Tmpfs::new(pages), MAX_OPEN));
    println!("tmpfs: {} KiB at /", pages * 4);
    ipc::serve_forever(handle, MAX_CONNECTIONS)
}

/// Seconds since boot: the file system's clock (there is no calendar yet).
fn now() -> u64 {
    sys::get_tick() / TICK_HZ
}

fn handle(req: &mut Request) -> Reply {
    // The protocol carries no capabilities: drop any sent anyway.
    for &c in req.caps {
        let _ = sys::cap_delete(c);
    }
    let grows = matches!(req.words[0], FS_WRITE | FS_PWRITE | FS_OPEN | FS_MKDIR);
    let (ret, words) = if grows && sys::free_memory() < SYSTEM_RESERVE + req.words[2].min(1 << 30) {
        (-i64::from(Errno::ENOSPC.number()), [0; 3])
    } else {
        match VFS.lock().as_mut() {
            Some(vfs) => proto::serve(vfs, req.words, req.data, now()),
            None => (-i64::from(Errno::EIO.number()), [0; 3]),
        }
    };
    Reply { ret, words }
}
