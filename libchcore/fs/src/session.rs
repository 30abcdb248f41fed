//! Who may use a file-system server's handles: procmgr, and the processes
//! procmgr gave a session and a handle to.
//!
//! A file-system server has two kinds of client. procmgr, which started it
//! and holds the only capability to it, opens and closes files and resolves
//! paths for every process. And processes, each with a *session*: a
//! connection the server made itself into the process (`connect_for`, when
//! procmgr asks with [`FS_ATTACH`]), so the connection's badge tells the
//! server which process calls. A process uses its session to read and write
//! the files procmgr opened for it, directly, without procmgr in between:
//! procmgr grants each handle to each process that holds it ([`FS_GRANT`]).
//! A session can do nothing else: no paths, no opening or closing, and no
//! handle it was not granted (`EBADF`, as if the handle did not exist).
//!
//! This module is the bookkeeping and the decision; the server runtime makes
//! the connection.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::errno::Errno;
use crate::proto::{
    FS_BASE, FS_CLOSE, FS_FSTAT, FS_FTRUNCATE, FS_GETDENTS, FS_LSEEK, FS_MMAP, FS_MSYNC, FS_PREAD, FS_PWRITE, FS_READ,
    FS_WRITE,
};

/// procmgr only: make a session for process words[1]. The call carries one
/// capability, the process's cap_group with `MAP` (what `connect_for`
/// needs), which the server uses once and deletes. Returns the connection's
/// slot in the process.
pub const FS_ATTACH: u64 = FS_BASE + 32;
/// procmgr only: process words[2] may use handle words[1].
pub const FS_GRANT: u64 = FS_BASE + 33;
/// procmgr only: process words[1] ended or changed its image; its session
/// and grants go.
pub const FS_DETACH: u64 = FS_BASE + 34;

/// The operations a session may send, each on a handle in words[1].
const SESSION_OPS: [u64; 9] =
    [FS_READ, FS_WRITE, FS_PREAD, FS_PWRITE, FS_LSEEK, FS_FSTAT, FS_FTRUNCATE, FS_GETDENTS, FS_MMAP];

/// Sessions by badge, procmgr's badge, and the processes each handle was
/// granted to.
#[derive(Debug, Default)]
pub struct Sessions {
    by_badge: BTreeMap<u64, u64>,
    /// The first connection that is not a session: procmgr's (it starts the
    /// server and holds the only capability to it, so it calls first).
    root: Option<u64>,
    grants: BTreeMap<u64, Vec<u64>>,
}

impl Sessions {
    /// No sessions.
    pub const fn new() -> Sessions {
        Sessions { by_badge: BTreeMap::new(), root: None, grants: BTreeMap::new() }
    }

    /// Connection `badge` is process `pid`'s session (a connection the
    /// kernel reuses the badge of is a new session).
    pub fn attach(&mut self, badge: u64, pid: u64) {
        self.by_badge.insert(badge, pid);
    }

    /// The process whose session `badge` is; `None` for procmgr.
    pub fn pid(&self, badge: u64) -> Option<u64> {
        self.by_badge.get(&badge).copied()
    }

    /// Process `pid` may use `handle`.
    pub fn grant(&mut self, handle: u64, pid: u64) {
        let pids = self.grants.entry(handle).or_default();
        if !pids.contains(&pid) {
            pids.push(pid);
        }
    }

    /// Process `pid` is gone (or has a new image): its session and grants go.
    pub fn detach(&mut self, pid: u64) {
        self.by_badge.retain(|_, p| *p != pid);
        self.grants.retain(|_, pids| {
            pids.retain(|p| *p != pid);
            !pids.is_empty()
        });
    }

    /// `handle` was closed: nobody may use it (nor a later handle that
    /// happens to have its number).
    pub fn closed(&mut self, handle: u64) {
        self.grants.remove(&handle);
    }

    /// Whether the request `words` from connection `badge` may run:
    /// procmgr's always; a session's only on a handle granted to it; any
    /// other connection's (a session that was detached) never.
    pub fn allows(&mut self, badge: u64, words: &[u64; 4]) -> Result<(), Errno> {
        let Some(pid) = self.pid(badge) else {
            return match self.root {
                Some(root) if root == badge => Ok(()),
                Some(_) => Err(Errno::EPERM),
                None => {
                    self.root = Some(badge);
                    Ok(())
                }
            };
        };
        // `msync` names a mapped file by key, not a handle, and any session
        // may ask: it copies pages every reader of the file already sees
        // into the file system's own copy, which shows nothing new to
        // anyone (a forked child syncs a mapping it inherited this way).
        if words[0] == FS_MSYNC {
            return Ok(());
        }
        if !SESSION_OPS.contains(&words[0]) {
            return Err(Errno::EPERM);
        }
        match self.grants.get(&words[1]) {
            Some(pids) if pids.contains(&pid) => Ok(()),
            _ => Err(Errno::EBADF),
        }
    }

    /// After procmgr's request `words` succeeded: forget a closed handle's
    /// grants.
    pub fn after(&mut self, words: &[u64; 4]) {
        if words[0] == FS_CLOSE {
            self.closed(words[1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{FS_MKDIR, FS_OPEN, FS_STAT};

    #[test]
    fn procmgr_may_do_anything_a_session_only_its_handles() {
        let mut s = Sessions::new();
        s.attach(5, 42);
        assert_eq!(s.allows(0, &[FS_OPEN, 0, 0, 0]), Ok(()), "the first caller: procmgr");
        assert_eq!(s.allows(0, &[FS_STAT, 0, 0, 0]), Ok(()));
        assert_eq!(s.allows(9, &[FS_STAT, 0, 0, 0]), Err(Errno::EPERM), "neither procmgr nor a session");
        assert_eq!(s.allows(5, &[FS_READ, 77, 8, 0]), Err(Errno::EBADF));
        s.grant(77, 42);
        for op in SESSION_OPS {
            assert_eq!(s.allows(5, &[op, 77, 8, 0]), Ok(()), "{op:#x}");
        }
        for op in [FS_OPEN, FS_CLOSE, FS_STAT, FS_MKDIR, FS_ATTACH, FS_GRANT, FS_DETACH, 0, u64::MAX] {
            assert_eq!(s.allows(5, &[op, 77, 0, 0]), Err(Errno::EPERM), "{op:#x}");
        }
        // Another process's session cannot use it.
        s.attach(6, 43);
        assert_eq!(s.allows(6, &[FS_READ, 77, 8, 0]), Err(Errno::EBADF));
        // msync names a key, which any session may sync; no other connection may.
        assert_eq!(s.allows(6, &[FS_MSYNC, 1234, 0, 4096]), Ok(()));
        assert_eq!(s.allows(9, &[FS_MSYNC, 1234, 0, 4096]), Err(Errno::EPERM));
    }

    #[test]
    fn close_and_detach_take_grants_away() {
        let mut s = Sessions::new();
        s.attach(1, 10);
        s.attach(2, 11);
        s.grant(7, 10);
        s.grant(7, 11);
        s.grant(7, 11);
        assert_eq!(s.allows(3, &[FS_OPEN, 0, 0, 0]), Ok(()), "procmgr");
        s.detach(10);
        assert_eq!(s.pid(1), None, "a detached badge is no session");
        assert_eq!(s.allows(1, &[FS_OPEN, 7, 1, 0]), Err(Errno::EPERM), "nor procmgr");
        assert_eq!(s.allows(2, &[FS_READ, 7, 1, 0]), Ok(()));
        s.after(&[FS_CLOSE, 7, 0, 0]);
        assert_eq!(s.allows(2, &[FS_READ, 7, 1, 0]), Err(Errno::EBADF));
        s.detach(11);
        assert!(s.grants.is_empty() && s.by_badge.is_empty());
    }
}
