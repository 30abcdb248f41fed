//! Locks for user programs.
//!
//! A thread that finds a [`Mutex`] held spins briefly, then sleeps on a
//! notification until the holder lets go (`chcore_proc::lock`): a holder
//! that was preempted costs its waiters nothing, and an idle program with
//! a contended lock does not poll. The notification is made the first
//! time two threads meet at the lock.

use crate::sys;
use chcore_proc::lock::{RawLock, Semaphores};
use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicU32, Ordering};

/// Bumped in a forked child: the parent's notifications are not its own.
static EPOCH: AtomicU32 = AtomicU32::new(0);

/// A forked child starts a new epoch (called before anything else runs in it).
pub(crate) fn after_fork() {
    EPOCH.fetch_add(1, Ordering::SeqCst);
}

/// Notifications as the lock's semaphores.
struct Notes;

impl Semaphores for Notes {
    fn create(&self) -> Option<u64> {
        sys::create_notification().ok()
    }
    fn delete(&self, sem: u64) {
        let _ = sys::cap_delete(sem);
    }
    fn wait(&self, sem: u64) {
        // An early return (a procmgr handler whose client went: `PeerDead`)
        // only makes the lock look again.
        let _ = sys::wait(sem, None);
    }
    fn post(&self, sem: u64) {
        let _ = sys::notify(sem);
    }
    fn relax(&self) {
        sys::yield_now();
    }
    fn epoch(&self) -> u32 {
        EPOCH.load(Ordering::Relaxed)
    }
}

/// A mutual-exclusion lock around a `T` (see the module documentation).
pub struct Mutex<T: ?Sized> {
    raw: RawLock,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `data` to one thread at a time.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}
// SAFETY: moving the lock moves the `T`; the semaphore slot is per process.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}

/// Access to a [`Mutex`]'s value; lets go when dropped.
pub struct MutexGuard<'a, T: ?Sized> {
    lock: &'a Mutex<T>,
}

impl<T> Mutex<T> {
    /// A free lock around `value`.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex { raw: RawLock::new(), data: UnsafeCell::new(value) }
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Take the lock, sleeping while another thread holds it.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.raw.lock(&Notes);
        MutexGuard { lock: self }
    }

    /// Take the lock if it is free.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.raw.try_lock().then_some(MutexGuard { lock: self })
    }

    /// Free the lock without a guard.
    ///
    /// # Safety
    /// Nobody may hold it: for a forked child, whose copy of a lock the
    /// parent held in its fork call belongs to no thread of the child.
    pub unsafe fn force_unlock(&self) {
        self.raw.reset();
    }
}

impl<T: ?Sized> Drop for Mutex<T> {
    fn drop(&mut self) {
        self.raw.release_semaphore(&Notes);
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard exists only while this thread holds the lock,
        // and it is borrowed mutably.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.raw.unlock(&Notes);
    }
}
