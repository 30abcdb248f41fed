//! A lock that blocks: an atomic word takes the uncontended case with one
//! instruction pair, and a semaphore (a kernel notification in a program)
//! parks the threads that find it held. The semaphore is made the first
//! time two threads meet at the lock, so a lock nobody contends costs no
//! kernel object.
//!
//! The word is 0 (free) or its owner's non-zero tag, with [`CONTENDED`]
//! set once someone may sleep on it. A waiter sets the flag before it
//! sleeps; a holder that finds it when it lets go wakes a sleeper. The
//! semaphore counts, so a post that comes before the wait is not lost; a
//! post nobody needed only costs a later waiter one more look at the word.
//! [`acquire`] and [`release`] are that protocol on any word: [`RawLock`]
//! uses them with a semaphore made on demand, and the pipe protocol
//! (`crate::pipe`) with the pipe's tag-carrying word shared by processes.
//!
//! A forked child inherits the memory of its parent's locks but not the
//! semaphores (capabilities are not copied by fork): each semaphore is
//! stored with the `epoch` it was made in, and one from another epoch is
//! never used.

use core::sync::atomic::{AtomicU64, Ordering};

/// What the lock needs from its environment.
pub trait Semaphores {
    /// A new semaphore with count 0, or `None` if none can be made (the
    /// lock then falls back to `relax`).
    fn create(&self) -> Option<u64>;
    /// Give `sem` back.
    fn delete(&self, sem: u64);
    /// Block until `sem` is posted (taking one count). Returning early is
    /// allowed: the lock looks again.
    fn wait(&self, sem: u64);
    /// Count `sem` up, waking one waiter.
    fn post(&self, sem: u64);
    /// Let another thread run (when there is no semaphore to sleep on).
    fn relax(&self);
    /// Changes whenever semaphores made before stop being valid (a fork).
    fn epoch(&self) -> u32;
}

/// Tries at the word before a waiter sleeps: a holder on another CPU
/// usually lets go within this.
const SPINS: u32 = 64;

const FREE: u64 = 0;
/// `RawLock`'s owner tag: any thread of the process.
const HELD: u64 = 1;

/// The flag of a lock word: someone may be asleep waiting for the lock.
pub const CONTENDED: u64 = 1 << 63;

/// Take the lock `word` for `owner` (non-zero, without [`CONTENDED`]):
/// one try, then `spins` looks, then mark the word contended and call
/// `sleep` until the lock is free (`sleep` may return early: the word is
/// looked at again). A lock taken after sleeping stays marked contended,
/// since others may sleep too: one wake-up too many at worst.
#[inline]
pub fn acquire(word: &AtomicU64, owner: u64, spins: u32, sleep: impl FnMut()) {
    if word.compare_exchange(FREE, owner, Ordering::Acquire, Ordering::Relaxed).is_err() {
        acquire_contended(word, owner, spins, sleep);
    }
}

#[cold]
fn acquire_contended(word: &AtomicU64, owner: u64, spins: u32, mut sleep: impl FnMut()) {
    for _ in 0..spins {
        if word.load(Ordering::Relaxed) == FREE
            && word.compare_exchange(FREE, owner, Ordering::Acquire, Ordering::Relaxed).is_ok()
        {
            return;
        }
        core::hint::spin_loop();
    }
    loop {
        let cur = word.load(Ordering::Relaxed);
        if cur == FREE {
            if word.compare_exchange(FREE, owner | CONTENDED, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                return;
            }
            continue;
        }
        // Marked before sleeping, so the holder wakes a sleeper when it lets
        // go; if the holder let go meanwhile, look again instead.
        if cur & CONTENDED == 0
            && word.compare_exchange(cur, cur | CONTENDED, Ordering::Relaxed, Ordering::Relaxed).is_err()
        {
            continue;
        }
        sleep();
    }
}

/// Let the lock `word` go; `true` if a sleeper may need waking.
#[inline]
pub fn release(word: &AtomicU64) -> bool {
    word.swap(FREE, Ordering::Release) & CONTENDED != 0
}

/// The lock word and its semaphore (see the module documentation).
#[derive(Debug, Default)]
pub struct RawLock {
    state: AtomicU64,
    /// 0, or `epoch << 32 | (semaphore + 1)`.
    sem: AtomicU64,
}

impl RawLock {
    /// A free lock with no semaphore.
    pub const fn new() -> RawLock {
        RawLock { state: AtomicU64::new(FREE), sem: AtomicU64::new(0) }
    }

    /// Take the lock if it is free.
    #[inline]
    pub fn try_lock(&self) -> bool {
        self.state.compare_exchange(FREE, HELD, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    /// Take the lock, sleeping while someone else holds it.
    #[inline]
    pub fn lock(&self, s: &impl Semaphores) {
        acquire(&self.state, HELD, SPINS, || match self.semaphore(s) {
            Some(sem) => s.wait(sem),
            None => s.relax(),
        });
    }

    /// Let the lock go, waking a sleeper if there may be one.
    #[inline]
    pub fn unlock(&self, s: &impl Semaphores) {
        if release(&self.state) {
            // The sleeper may not have made the semaphore yet: then this
            // makes it, and the post waits in its count.
            if let Some(sem) = self.semaphore(s) {
                s.post(sem);
            }
        }
    }

    /// Free the lock without a post (a forked child's copy of a lock its
    /// parent held: nobody here holds it or waits on it).
    pub fn reset(&self) {
        self.state.store(FREE, Ordering::Release);
    }

    /// Whether the lock is held.
    pub fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) != FREE
    }

    /// The lock's semaphore for this epoch, made if need be.
    fn semaphore(&self, s: &impl Semaphores) -> Option<u64> {
        let epoch = s.epoch();
        loop {
            let cur = self.sem.load(Ordering::Acquire);
            if cur != 0 && (cur >> 32) as u32 == epoch {
                return Some((cur & 0xffff_ffff) - 1);
            }
            let new = s.create()?;
            if new >= 0xffff_ffff {
                s.delete(new);
                return None;
            }
            let word = (u64::from(epoch) << 32) | (new + 1);
            match self.sem.compare_exchange(cur, word, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(new),
                // Another thread made one first: use that.
                Err(_) => s.delete(new),
            }
        }
    }

    /// Give the semaphore back (the lock is going away).
    pub fn release_semaphore(&self, s: &impl Semaphores) {
        let cur = self.sem.swap(0, Ordering::AcqRel);
        if cur != 0 && (cur >> 32) as u32 == s.epoch() {
            s.delete((cur & 0xffff_ffff) - 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, AtomicUsize};
    use std::sync::{Arc, Condvar, Mutex};

    /// Counting semaphores from std, with counts of what the lock did.
    #[derive(Default)]
    struct Sems {
        counts: Mutex<Vec<Option<u64>>>,
        cv: Condvar,
        epoch: AtomicU32,
        waits: AtomicUsize,
        refuse: bool,
    }

    impl Semaphores for Sems {
        fn create(&self) -> Option<u64> {
            if self.refuse {
                return None;
            }
            let mut c = self.counts.lock().unwrap();
            c.push(Some(0));
            Some(c.len() as u64 - 1)
        }
        fn delete(&self, sem: u64) {
            self.counts.lock().unwrap()[sem as usize] = None;
        }
        fn wait(&self, sem: u64) {
            self.waits.fetch_add(1, Ordering::Relaxed);
            let mut c = self.counts.lock().unwrap();
            loop {
                let n = c[sem as usize].as_mut().expect("waited on a deleted semaphore");
                if *n > 0 {
                    *n -= 1;
                    return;
                }
                c = self.cv.wait(c).unwrap();
            }
        }
        fn post(&self, sem: u64) {
            *self.counts.lock().unwrap()[sem as usize].as_mut().expect("posted a deleted semaphore") += 1;
            self.cv.notify_all();
        }
        fn relax(&self) {
            std::thread::yield_now();
        }
        fn epoch(&self) -> u32 {
            self.epoch.load(Ordering::Relaxed)
        }
    }

    fn hammer(sems: Arc<Sems>, threads: usize, rounds: usize) -> (usize, Arc<Sems>) {
        let lock = Arc::new(RawLock::new());
        // Read-modify-write in two steps: lost updates if the lock fails.
        let value = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                let (lock, value, sems) = (lock.clone(), value.clone(), sems.clone());
                std::thread::spawn(move || {
                    for _ in 0..rounds {
                        lock.lock(&*sems);
                        let v = value.load(Ordering::Relaxed);
                        if v % 7 == 0 {
                            std::thread::yield_now();
                        }
                        value.store(v + 1, Ordering::Relaxed);
                        lock.unlock(&*sems);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert!(!lock.is_locked());
        lock.release_semaphore(&*sems);
        (value.load(Ordering::Relaxed), sems)
    }

    #[test]
    fn excludes_and_sleeps_under_contention() {
        let (n, sems) = hammer(Arc::new(Sems::default()), 4, 20_000);
        assert_eq!(n, 80_000);
        let made = sems.counts.lock().unwrap().len();
        assert!(made >= 1, "contention made a semaphore");
        assert!(sems.counts.lock().unwrap().iter().all(Option::is_none), "every semaphore given back");
    }

    #[test]
    fn without_semaphores_it_still_excludes() {
        let (n, sems) = hammer(Arc::new(Sems { refuse: true, ..Sems::default() }), 3, 10_000);
        assert_eq!(n, 30_000);
        assert_eq!(sems.waits.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn uncontended_makes_no_semaphore() {
        let sems = Sems::default();
        let lock = RawLock::new();
        for _ in 0..1000 {
            lock.lock(&sems);
            lock.unlock(&sems);
        }
        assert!(lock.try_lock());
        assert!(!lock.try_lock());
        lock.unlock(&sems);
        assert!(sems.counts.lock().unwrap().is_empty());
    }

    #[test]
    fn a_new_epoch_makes_a_new_semaphore() {
        let sems = Sems::default();
        let lock = RawLock::new();
        let first = lock.semaphore(&sems).unwrap();
        assert_eq!(lock.semaphore(&sems), Some(first), "kept while the epoch lasts");
        sems.epoch.store(1, Ordering::Relaxed);
        let second = lock.semaphore(&sems).unwrap();
        assert_ne!(first, second, "the old one belongs to the parent");
        // The parent's is not deleted by the child.
        lock.release_semaphore(&sems);
        let c = sems.counts.lock().unwrap();
        assert!(c[first as usize].is_some() && c[second as usize].is_none());
    }

    #[test]
    fn a_post_before_the_wait_is_kept() {
        // The holder lets go between the waiter's "contended" and its sleep:
        // the holder makes the semaphore and posts; the waiter's wait returns.
        let sems = Sems::default();
        let lock = RawLock::new();
        lock.lock(&sems);
        lock.state.store(HELD | CONTENDED, Ordering::Relaxed);
        lock.unlock(&sems);
        let sem = lock.semaphore(&sems).unwrap();
        sems.wait(sem);
        assert!(lock.try_lock());
    }
}
