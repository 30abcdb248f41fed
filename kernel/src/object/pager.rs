//! pager: a cap_group that supplies the pages of its `Paged` PMOs itself.
//!
//! A file server registers as a pager (`pager_register`) and makes one
//! `Paged` PMO per file it lets clients map, named by a key of its choosing
//! (its inode number). A thread that touches a page of such a PMO that the
//! server has not supplied yet blocks on the page; the first one to do so
//! queues a fault here and notifies the server's notification. The server
//! takes faults (`pager_next`), reads the file, and supplies each page
//! (`pager_supply`): the kernel copies it into a frame charged to the
//! server and wakes every thread waiting for it, which then retries the
//! access. ChCore's user-level pager for file mappings is the same idea;
//! so is Mach's external memory manager.
//!
//! Nothing here waits on the pager: a pager that never answers keeps only
//! the threads that touched its pages waiting (they can still be killed),
//! and a pager that ends fails all of them (`close`).

use super::notification::Notification;
use super::pmo::Pmo;
use super::thread::Thread;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use chcore_abi::Error;
use spin::Mutex;

/// Faults queued for one pager, at most (one per page some thread waits
/// for; past this, further faults are refused as if the pager had ended,
/// so a client cannot grow the kernel heap without bound).
const QUEUE_MAX: usize = 4096;

struct Inner {
    /// Until the pager's cap_group ends.
    open: bool,
    /// Faults not yet taken: (key, page index).
    queue: VecDeque<(u64, u64)>,
    /// The pager's live paged PMOs by key.
    pmos: BTreeMap<u64, Weak<Pmo>>,
}

/// A cap_group's pager side.
pub struct Pager {
    notification: Arc<Notification>,
    inner: Mutex<Inner>,
}

impl Pager {
    /// A pager woken through `notification`.
    pub fn new(notification: Arc<Notification>) -> Arc<Pager> {
        Arc::new(Pager {
            notification,
            inner: Mutex::new(Inner { open: true, queue: VecDeque::new(), pmos: BTreeMap::new() }),
        })
    }

    /// Whether the pager still runs.
    pub fn is_open(&self) -> bool {
        self.inner.lock().open
    }

    /// `pmo` is the pager's PMO `key`; `Overlap` if a live one has that key.
    pub fn add(&self, key: u64, pmo: &Arc<Pmo>) -> Result<(), Error> {
        let mut inner = self.inner.lock();
        if inner.pmos.get(&key).is_some_and(|w| w.strong_count() > 0) {
            return Err(Error::Overlap);
        }
        inner.pmos.insert(key, Arc::downgrade(pmo));
        Ok(())
    }

    /// PMO `key` is gone (its last reference dropped).
    pub fn forget(&self, key: u64) {
        let mut inner = self.inner.lock();
        if inner.pmos.get(&key).is_some_and(|w| w.strong_count() == 0) {
            inner.pmos.remove(&key);
        }
        inner.queue.retain(|&(k, _)| k != key);
    }

    /// The live PMO `key`.
    pub fn pmo(&self, key: u64) -> Option<Arc<Pmo>> {
        self.inner.lock().pmos.get(&key).and_then(Weak::upgrade)
    }

    /// A thread waits for page `index` of PMO `key`: queue the fault and
    /// wake the pager. `PeerDead` if the pager ended, `NoMemory` if its
    /// queue is full.
    pub fn request(&self, key: u64, index: u64) -> Result<(), Error> {
        {
            let mut inner = self.inner.lock();
            if !inner.open {
                return Err(Error::PeerDead);
            }
            if inner.queue.len() >= QUEUE_MAX {
                return Err(Error::NoMemory);
            }
            inner.queue.push_back((key, index));
        }
        self.notification.notify();
        Ok(())
    }

    /// The oldest fault not taken yet: (key, page index).
    pub fn next(&self) -> Option<(u64, u64)> {
        self.inner.lock().queue.pop_front()
    }

    /// Page `index` of PMO `key` was supplied or refused: no fault for it
    /// is pending any more (a pager may supply a page before it is asked).
    pub fn done(&self, key: u64, index: u64) {
        self.inner.lock().queue.retain(|&f| f != (key, index));
    }

    /// The pager's cap_group ended: no more faults are queued, and the
    /// threads waiting for any of its pages are returned, for the caller
    /// to end their cap_groups.
    pub fn close(&self) -> Vec<Arc<Thread>> {
        let pmos: Vec<Arc<Pmo>> = {
            let mut inner = self.inner.lock();
            inner.open = false;
            inner.queue.clear();
            core::mem::take(&mut inner.pmos).into_values().filter_map(|w| w.upgrade()).collect()
        };
        pmos.iter().flat_map(|p| p.take_waiters(None)).collect()
    }
}
