//! notification: a counting semaphore threads of any cap_group can wait on.

use super::thread::Thread;
use super::{Header, Kmem};
use crate::sched;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use chcore_abi::{Error, ObjectType};
use kernel_core::account::Account;
use spin::Mutex;

struct Inner {
    count: u64,
    waiters: VecDeque<Arc<Thread>>,
}

/// A notification.
pub struct Notification {
    /// Common header (its drop keeps the live-object counts).
    #[allow(dead_code)]
    pub header: Header,
    /// Its kernel memory and who pays for it.
    #[allow(dead_code)]
    kmem: Kmem,
    inner: Mutex<Inner>,
}

impl Notification {
    /// A notification with count 0, of the kernel's own.
    pub fn new() -> Arc<Notification> {
        Notification::with(Kmem::KERNEL)
    }

    /// A notification with count 0, its memory charged to `account`.
    pub fn charged(account: &Arc<Account>) -> Result<Arc<Notification>, Error> {
        Ok(Notification::with(Kmem::charge(account, super::arc_block::<Notification>())?))
    }

    fn with(kmem: Kmem) -> Arc<Notification> {
        Arc::new(Notification {
            header: Header::new(ObjectType::Notification),
            kmem,
            inner: Mutex::new(Inner { count: 0, waiters: VecDeque::new() }),
        })
    }

    /// Take one count, or block `t` (the caller) until a `notify` or the
    /// timeout. `Some(0)` polls.
    pub fn wait(self: &Arc<Self>, t: &Arc<Thread>, timeout: Option<u64>) -> Result<u64, Error> {
        let mut inner = self.inner.lock();
        if inner.count > 0 {
            inner.count -= 1;
            return Ok(0);
        }
        if timeout == Some(0) {
            return Err(Error::Again);
        }
        inner.waiters.push_back(t.clone());
        drop(inner);
        t.lock().waiting_on = Some(self.clone());
        sched::block_current(timeout, Error::Timeout.to_result(), Some(Self::timed_out));
        Ok(0)
    }

    /// Wake the first waiter, or count one up.
    pub fn notify(&self) {
        let mut inner = self.inner.lock();
        while let Some(w) = inner.waiters.pop_front() {
            w.lock().waiting_on = None;
            drop(inner);
            if sched::wake_with(&w, &[0], false) {
                return;
            }
            // It was no longer blocked (ended, say): try the next one.
            inner = self.inner.lock();
        }
        inner.count += 1;
    }

    /// A waiter's timeout expired (or its cap_group ended, or it is woken
    /// with an error): take it off the queue.
    pub fn timed_out(t: &Arc<Thread>) {
        let n = t.lock().waiting_on.take();
        if let Some(n) = n {
            n.inner.lock().waiters.retain(|w| !Arc::ptr_eq(w, t));
        }
    }
}
