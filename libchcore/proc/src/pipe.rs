//! A pipe in memory shared by the processes that hold its ends.
//!
//! procmgr creates a pipe as a shared memory object of [`SHARED_SIZE`]
//! bytes (a page of [`Header`], then [`CAPACITY`] bytes of data) and three
//! notifications: one that readers wait on for data, one that writers wait
//! on for room, and one that a process waits on for the ring's lock. A process reads and writes the ring itself (libchcore maps
//! it on first use): no IPC, no procmgr thread in the data path. procmgr
//! only keeps the count of open ends in the header (it owns the true
//! counts; a process cannot change who holds an end) and never reads the
//! ring or takes its lock, so no process can make procmgr wait.
//!
//! Every process that shares the ring can scribble on it. What it can do
//! is limited to what a holder of the ends can do anyway: send garbage,
//! fake an end of file, or stop the pipe for the others (by holding its
//! lock: procmgr releases a lock held by a process that ended). A reader
//! or writer checks what it reads from the header and never indexes past
//! the data, so a scribbled ring gives an error, not a fault.
//!
//! The protocol is procmgr's old in-server pipe, moved into memory:
//! whoever is about to wait counts itself as waiting under the lock, and
//! whoever changes the ring notifies a side only if it has waiters; a
//! wake-up that leaves work for another waiter of the same side (data or
//! room left over, an end closed) is passed on. Notifications count, so a
//! notify between "I will wait" and the wait is not lost.

use core::sync::atomic::AtomicU64;
use core::sync::atomic::Ordering::{Relaxed, SeqCst};

/// Bytes of data a pipe holds.
pub const CAPACITY: usize = 4096;
/// Where the data starts in the shared memory (after the header's page).
pub const DATA_OFFSET: usize = 4096;
/// Size of a pipe's shared memory.
pub const SHARED_SIZE: usize = DATA_OFFSET + CAPACITY;

const _: () = assert!(CAPACITY.is_power_of_two());
/// The ring's size in words.
pub const RING_WORDS: usize = CAPACITY / 8;

/// The start of a pipe's shared memory.
#[repr(C)]
#[derive(Debug, Default)]
///
/// Its fields are public because nothing about them is private: every
/// process that maps the pipe can write them anyway (tests do, on purpose).
pub struct Header {
    /// Zero, or the tag (a pid) of the process in the ring.
    pub lock: AtomicU64,
    /// Bytes ever read (the ring index is this modulo [`CAPACITY`]).
    pub head: AtomicU64,
    /// Bytes ever written.
    pub tail: AtomicU64,
    /// Open read ends (written by procmgr only).
    readers: AtomicU64,
    /// Open write ends (written by procmgr only).
    writers: AtomicU64,
    /// Readers that found the ring empty and wait (or are about to).
    readers_waiting: AtomicU64,
    /// Writers that found the ring full and wait (or are about to).
    writers_waiting: AtomicU64,
}

/// Why a read or write failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A write with no read end left.
    BrokenPipe,
    /// The header makes no sense (another process scribbled on it).
    Corrupt,
    /// Waiting failed (the notification is gone).
    Wait,
}

/// How a process blocks and wakes others: the pipe's notifications, one
/// for data, one for room and one for the lock.
pub trait Waiter {
    /// Wake one waiter of the readers' side (`readers`) or the writers'.
    fn notify(&self, readers: bool);
    /// Wait for a notify on that side; `false` if waiting failed.
    fn wait(&self, readers: bool) -> bool;
    /// Wake one process waiting for the ring's lock.
    fn notify_lock(&self);
    /// Another process holds the ring's lock: sleep until it lets go (or
    /// anything else wakes this; the lock looks again). `false` if waiting
    /// failed: the lock then yields instead.
    fn wait_lock(&self) -> bool;
    /// Let another thread run (when `wait_lock` cannot wait).
    fn relax(&self);

    /// Copy `src` into the ring's bytes from `at` on (they do not wrap;
    /// the ring's lock is held). The default moves words with atomic
    /// stores; a process that has a faster copy for shared memory
    /// (libchcore's `memcpy`) provides it.
    fn copy_in(&self, ring: &[AtomicU64], at: usize, src: &[u8]) -> Result<(), Failure> {
        put_span(ring, at, src)
    }

    /// Copy the ring's bytes from `at` on into `out`, as [`Waiter::copy_in`].
    fn copy_out(&self, ring: &[AtomicU64], at: usize, out: &mut [u8]) -> Result<(), Failure> {
        get_span(ring, at, out)
    }
}

/// The ring as one process sees it.
#[derive(Debug)]
pub struct Pipe<'a> {
    hdr: &'a Header,
    /// The ring, [`CAPACITY`] bytes as little-endian words: copied a word at
    /// a time, not a byte (eight times fewer steps for the bulk of a copy).
    data: &'a [AtomicU64],
    tag: u64,
}

/// The lock word's flag: a process may be asleep waiting for the lock,
/// so whoever lets it go notifies the lock's notification.
pub const LOCK_CONTENDED: u64 = crate::lock::CONTENDED;

/// The ring's lock, held.
struct Held<'a, W: Waiter>(&'a Header, &'a W);

impl<W: Waiter> Drop for Held<'_, W> {
    fn drop(&mut self) {
        if crate::lock::release(&self.0.lock) {
            self.1.notify_lock();
        }
    }
}

/// Looks at a held lock before sleeping: a holder on another CPU lets go
/// within this.
const SPINS: u32 = 100;

impl<'a> Pipe<'a> {
    /// The pipe at `hdr` with `data` ([`CAPACITY`] bytes; shorter is
    /// treated as corrupt), for the process whose (non-zero) lock tag is
    /// `tag`.
    /// `data` is the ring, [`RING_WORDS`] words (shorter is treated as
    /// corrupt: reads and writes fail).
    pub fn new(hdr: &'a Header, data: &'a [AtomicU64], tag: u64) -> Pipe<'a> {
        Pipe { hdr, data, tag: (tag & !LOCK_CONTENDED).max(1) }
    }

    /// Take the ring's lock: the word holds the holder's tag (for procmgr to
    /// release the lock of a process that ended holding it), and
    /// [`LOCK_CONTENDED`] once someone sleeps on it (`crate::lock::acquire`).
    fn lock<'w, W: Waiter>(&self, w: &'w W) -> Held<'w, W>
    where
        'a: 'w,
    {
        crate::lock::acquire(&self.hdr.lock, self.tag, SPINS, || {
            if !w.wait_lock() {
                w.relax();
            }
        });
        Held(self.hdr, w)
    }

    /// Bytes waiting and the head, from a header that makes sense.
    fn level(&self) -> Result<(u64, usize), Failure> {
        let head = self.hdr.head.load(Relaxed);
        let len = self.hdr.tail.load(Relaxed).wrapping_sub(head);
        if len > CAPACITY as u64 || self.data.len() < RING_WORDS {
            return Err(Failure::Corrupt);
        }
        Ok((head, len as usize))
    }

    /// Whether the readers' side (`readers`) or the writers' has waiters.
    fn waiting(&self, readers: bool) -> bool {
        if readers { &self.hdr.readers_waiting } else { &self.hdr.writers_waiting }.load(SeqCst) > 0
    }

    /// Unlock, then wake one waiter of each side asked for.
    fn release<W: Waiter>(held: Held<'_, W>, readers: bool, writers: bool, w: &W) {
        drop(held);
        if readers {
            w.notify(true);
        }
        if writers {
            w.notify(false);
        }
    }

    /// Count this caller as waiting on its side (`reader`), unlock, wait,
    /// and take it off the count again.
    fn sleep<W: Waiter>(&self, held: Held<'_, W>, reader: bool, w: &W) -> Result<(), Failure> {
        let counter = if reader { &self.hdr.readers_waiting } else { &self.hdr.writers_waiting };
        counter.fetch_add(1, SeqCst);
        drop(held);
        let woke = w.wait(reader);
        let _ = counter.fetch_update(SeqCst, SeqCst, |n| Some(n.saturating_sub(1)));
        if woke {
            Ok(())
        } else {
            Err(Failure::Wait)
        }
    }

    /// Copy ring bytes from position `pos` into `out` (under the lock).
    #[inline]
    fn get(&self, pos: u64, out: &mut [u8], w: &impl Waiter) -> Result<(), Failure> {
        let at = (pos as usize) % CAPACITY;
        if out.len() <= CAPACITY - at {
            return w.copy_out(self.data, at, out);
        }
        let (first, second) = out.split_at_mut(CAPACITY - at);
        w.copy_out(self.data, at, first)?;
        w.copy_out(self.data, 0, second)
    }

    /// Copy `src` into the ring from position `pos` (under the lock: only
    /// the lock holder writes, so merging a partial word cannot lose a
    /// concurrent write of an honest process).
    #[inline]
    fn put(&self, pos: u64, src: &[u8], w: &impl Waiter) -> Result<(), Failure> {
        let at = (pos as usize) % CAPACITY;
        if src.len() <= CAPACITY - at {
            return w.copy_in(self.data, at, src);
        }
        let (first, second) = src.split_at(CAPACITY - at);
        w.copy_in(self.data, at, first)?;
        w.copy_in(self.data, 0, second)
    }

    /// Read up to `out.len()` bytes, waiting while the ring is empty and a
    /// write end is open; 0 means end of file.
    pub fn read(&self, out: &mut [u8], w: &impl Waiter) -> Result<usize, Failure> {
        loop {
            let held = self.lock(w);
            let (head, len) = self.level()?;
            let k = out.len().min(len);
            self.get(head, &mut out[..k], w)?;
            self.hdr.head.store(head.wrapping_add(k as u64), Relaxed);
            let eof = k == 0 && self.hdr.writers.load(SeqCst) == 0;
            if k > 0 || out.is_empty() || eof {
                // Pass the wake-up on while something is left for another
                // reader: data, or the end of file.
                let pass_on = (eof || len > k) && self.waiting(true);
                Self::release(held, pass_on, k > 0 && self.waiting(false), w);
                return Ok(k);
            }
            self.sleep(held, true, w)?;
        }
    }

    /// Write some of `data` (as much as fits), waiting while the ring is
    /// full and a read end is open; `BrokenPipe` once none is.
    pub fn write(&self, data: &[u8], w: &impl Waiter) -> Result<usize, Failure> {
        loop {
            let held = self.lock(w);
            let (head, len) = self.level()?;
            if self.hdr.readers.load(SeqCst) == 0 {
                Self::release(held, false, self.waiting(false), w);
                return Err(Failure::BrokenPipe);
            }
            let k = data.len().min(CAPACITY - len);
            let tail = head.wrapping_add(len as u64);
            self.put(tail, &data[..k], w)?;
            self.hdr.tail.store(tail.wrapping_add(k as u64), Relaxed);
            if k > 0 || data.is_empty() {
                // Pass the wake-up on while room is left for another writer.
                let pass_on = len + k < CAPACITY && self.waiting(false);
                Self::release(held, k > 0 && self.waiting(true), pass_on, w);
                return Ok(k);
            }
            self.sleep(held, false, w)?;
        }
    }
}

/// The ring's words `[from, from + n)`.
fn words(ring: &[AtomicU64], from: usize, n: usize) -> Result<&[AtomicU64], Failure> {
    ring.get(from..from.checked_add(n).ok_or(Failure::Corrupt)?).ok_or(Failure::Corrupt)
}

/// Ring bytes `[at, at + out.len())`, which do not wrap, into `out`: a
/// partial word, whole words, a partial word ([`Waiter::copy_out`]'s default).
#[inline]
pub fn get_span(ring: &[AtomicU64], at: usize, out: &mut [u8]) -> Result<(), Failure> {
    if at % 8 + out.len() <= 8 {
        // Within one word: the common case of small reads.
        let bytes = ring.get(at / 8).ok_or(Failure::Corrupt)?.load(Relaxed).to_le_bytes();
        for (o, b) in out.iter_mut().zip(&bytes[at % 8..]) {
            *o = *b;
        }
        return Ok(());
    }
    let lead = ((8 - at % 8) % 8).min(out.len());
    let (head, rest) = out.split_at_mut(lead);
    let (body, tail) = rest.split_at_mut(rest.len() / 8 * 8);
    if lead > 0 {
        let bytes = words(ring, at / 8, 1)?[0].load(Relaxed).to_le_bytes();
        // A loop, not `copy_from_slice`: a call to memcpy costs more than
        // the few bytes of a partial word.
        for (o, b) in head.iter_mut().zip(&bytes[at % 8..]) {
            *o = *b;
        }
    }
    let (first, n) = ((at + lead) / 8, body.len() / 8);
    for (chunk, word) in body.chunks_exact_mut(8).zip(words(ring, first, n)?) {
        chunk.copy_from_slice(&word.load(Relaxed).to_le_bytes());
    }
    if !tail.is_empty() {
        let bytes = words(ring, first + n, 1)?[0].load(Relaxed).to_le_bytes();
        for (o, b) in tail.iter_mut().zip(bytes) {
            *o = b;
        }
    }
    Ok(())
}

/// `src` into ring bytes from `at` on, which do not wrap, as [`get_span`]
/// ([`Waiter::copy_in`]'s default).
#[inline]
pub fn put_span(ring: &[AtomicU64], at: usize, src: &[u8]) -> Result<(), Failure> {
    let lead = ((8 - at % 8) % 8).min(src.len());
    let (head, rest) = src.split_at(lead);
    let (body, tail) = rest.split_at(rest.len() / 8 * 8);
    let merge = |word: &AtomicU64, from: usize, bytes: &[u8]| {
        let mut all = word.load(Relaxed).to_le_bytes();
        for (a, b) in all[from..].iter_mut().zip(bytes) {
            *a = *b;
        }
        word.store(u64::from_le_bytes(all), Relaxed);
    };
    if at % 8 + src.len() <= 8 {
        merge(ring.get(at / 8).ok_or(Failure::Corrupt)?, at % 8, src);
        return Ok(());
    }
    if lead > 0 {
        merge(&words(ring, at / 8, 1)?[0], at % 8, head);
    }
    let first = (at + lead) / 8;
    for (chunk, word) in body.chunks_exact(8).zip(words(ring, first, body.len() / 8)?) {
        word.store(u64::from_le_bytes(chunk.try_into().unwrap_or_default()), Relaxed);
    }
    if !tail.is_empty() {
        merge(&words(ring, first + body.len() / 8, 1)?[0], 0, tail);
    }
    Ok(())
}

/// Where a process maps pipes: `count` slots of [`SHARED_SIZE`] bytes from
/// `base`, a slot given back reused first.
#[derive(Debug)]
pub struct Slots {
    base: u64,
    count: u64,
    /// Slots never handed out start here.
    next: u64,
    free: alloc::vec::Vec<u64>,
}

impl Slots {
    /// `count` slots from `base`.
    pub const fn new(base: u64, count: u64) -> Slots {
        Slots { base, count, next: 0, free: alloc::vec::Vec::new() }
    }

    /// The address of a free slot, if one is left.
    pub fn take(&mut self) -> Option<u64> {
        if let Some(va) = self.free.pop() {
            return Some(va);
        }
        if self.next >= self.count {
            return None;
        }
        self.next += 1;
        Some(self.base + (self.next - 1) * SHARED_SIZE as u64)
    }

    /// The slot at `va` is free again.
    pub fn give(&mut self, va: u64) {
        self.free.push(va);
    }
}

/// procmgr's side: the number of open ends changed. Whoever waits must
/// look again (for end of file, or a broken pipe): the caller then
/// notifies both sides once, and the waiters pass it on.
pub fn set_ends(hdr: &Header, readers: u64, writers: u64) {
    hdr.readers.store(readers, SeqCst);
    hdr.writers.store(writers, SeqCst);
}

/// What [`release_if_held_by`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Released {
    /// The process did not hold the lock.
    NotHeld,
    /// It did; nobody sleeps on the lock.
    Free,
    /// It did, and others may sleep on it: notify the lock's notification.
    WakeOne,
}

/// procmgr's side: process `tag` ended; if it held the lock (it was
/// stopped inside a read or write), release it. The ring itself is
/// consistent: head and tail move last, in one store.
pub fn release_if_held_by(hdr: &Header, tag: u64) -> Released {
    if tag == 0 || tag & LOCK_CONTENDED != 0 {
        return Released::NotHeld;
    }
    if hdr.lock.compare_exchange(tag, 0, SeqCst, Relaxed).is_ok() {
        Released::Free
    } else if hdr.lock.compare_exchange(tag | LOCK_CONTENDED, 0, SeqCst, Relaxed).is_ok() {
        Released::WakeOne
    } else {
        Released::NotHeld
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Condvar, Mutex};
    use std::vec::Vec;

    /// A notification as the kernel has it: a count and waiters.
    #[derive(Default)]
    struct Note {
        count: Mutex<u64>,
        cv: Condvar,
    }

    impl Note {
        fn notify(&self) {
            *self.count.lock().unwrap() += 1;
            self.cv.notify_one();
        }
        /// Panics after 10 s: a wake-up was lost.
        fn wait(&self) {
            let mut c = self.count.lock().unwrap();
            while *c == 0 {
                let (next, timeout) = self.cv.wait_timeout(c, std::time::Duration::from_secs(10)).unwrap();
                assert!(!timeout.timed_out(), "a waiter was never woken");
                c = next;
            }
            *c -= 1;
        }
    }

    #[derive(Default)]
    struct Shared {
        hdr: Header,
        data: Vec<AtomicU64>,
        data_note: Note,
        room_note: Note,
        lock_note: Note,
        waits: AtomicU64,
        lock_waits: AtomicU64,
    }

    impl Shared {
        fn new(readers: u64, writers: u64) -> Arc<Shared> {
            let s = Shared { data: (0..RING_WORDS).map(|_| AtomicU64::new(0)).collect(), ..Default::default() };
            set_ends(&s.hdr, readers, writers);
            Arc::new(s)
        }
        fn pipe(&self, tag: u64) -> Pipe<'_> {
            Pipe::new(&self.hdr, &self.data, tag)
        }
        /// procmgr closing an end.
        fn close(&self, readers: u64, writers: u64) {
            set_ends(&self.hdr, readers, writers);
            self.data_note.notify();
            self.room_note.notify();
        }
    }

    impl Waiter for Shared {
        fn notify(&self, readers: bool) {
            if readers { &self.data_note } else { &self.room_note }.notify();
        }
        fn wait(&self, readers: bool) -> bool {
            self.waits.fetch_add(1, SeqCst);
            if readers { &self.data_note } else { &self.room_note }.wait();
            true
        }
        fn notify_lock(&self) {
            self.lock_note.notify();
        }
        fn wait_lock(&self) -> bool {
            self.lock_waits.fetch_add(1, SeqCst);
            self.lock_note.wait();
            true
        }
        fn relax(&self) {
            std::thread::yield_now();
        }
    }

    #[test]
    fn bytes_in_order_with_wraparound_then_end_of_file() {
        let s = Shared::new(1, 1);
        let p = s.pipe(7);
        let mut out = [0u8; 3000];
        for round in 0..5u8 {
            let data: Vec<u8> = (0..3000).map(|i| (i as u8).wrapping_add(round)).collect();
            assert_eq!(p.write(&data, &*s), Ok(3000));
            assert_eq!(p.read(&mut out, &*s), Ok(3000));
            assert_eq!(&out[..], &data[..]);
        }
        assert_eq!(p.write(&[0; 5000], &*s), Ok(CAPACITY), "a write takes what fits");
        assert_eq!(p.read(&mut [0; 5000], &*s), Ok(CAPACITY));
        s.close(1, 0);
        assert_eq!(p.read(&mut out, &*s), Ok(0), "no writer, nothing left: end of file");
        s.close(0, 0);
        assert_eq!(p.write(b"x", &*s), Err(Failure::BrokenPipe));
        assert_eq!(s.waits.load(SeqCst), 0, "nothing here had to wait");
    }

    #[test]
    fn odd_sizes_at_every_alignment_keep_the_stream() {
        // The ring is copied in words: writes and reads of every size from
        // every offset, across the wrap, must still give the bytes in order.
        let s = Shared::new(1, 1);
        let p = s.pipe(5);
        let (mut sent, mut got) = (0u32, 0u32);
        let byte = |i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8;
        for round in 0..3000u32 {
            let w = 1 + (round * 7) as usize % 29;
            let data: Vec<u8> = (sent..sent + w as u32).map(byte).collect();
            let put = p.write(&data, &*s).unwrap();
            sent += put as u32;
            let mut out = vec![0u8; 1 + (round * 11) as usize % 23];
            let n = p.read(&mut out, &*s).unwrap();
            for &b in &out[..n] {
                assert_eq!(b, byte(got), "byte {got}");
                got += 1;
            }
        }
        let mut rest = vec![0u8; CAPACITY];
        let n = p.read(&mut rest, &*s).unwrap();
        assert!(rest[..n].iter().zip(got..).all(|(&b, i)| b == byte(i)));
        assert_eq!(got + n as u32, sent);
        assert!(sent > 2 * CAPACITY as u32, "the ring wrapped");
    }

    #[test]
    fn a_scribbled_header_is_an_error_not_a_fault() {
        let s = Shared::new(1, 1);
        let p = s.pipe(3);
        for (head, tail) in [(0, CAPACITY as u64 + 1), (10, 5), (u64::MAX - 3, 1 << 40)] {
            s.hdr.head.store(head, SeqCst);
            s.hdr.tail.store(tail, SeqCst);
            assert_eq!(p.read(&mut [0; 16], &*s), Err(Failure::Corrupt));
            assert_eq!(p.write(b"abc", &*s), Err(Failure::Corrupt));
        }
        // Indices near the wrap of u64 are fine as long as the level is.
        s.hdr.head.store(u64::MAX - 1, SeqCst);
        s.hdr.tail.store(u64::MAX - 1, SeqCst);
        assert_eq!(p.write(b"abcd", &*s), Ok(4));
        let mut out = [0u8; 4];
        assert_eq!(p.read(&mut out, &*s), Ok(4));
        assert_eq!(&out, b"abcd");
        let short = Pipe::new(&s.hdr, &s.data[..10], 3);
        assert_eq!(short.read(&mut out, &*s), Err(Failure::Corrupt));
    }

    #[test]
    fn slots_are_reused_and_run_out() {
        let mut slots = Slots::new(0x1000_0000, 2);
        let a = slots.take().unwrap();
        let b = slots.take().unwrap();
        assert_eq!((a, b), (0x1000_0000, 0x1000_0000 + SHARED_SIZE as u64));
        assert_eq!(slots.take(), None);
        slots.give(a);
        assert_eq!(slots.take(), Some(a));
        assert_eq!(slots.take(), None);
    }

    #[test]
    fn a_lock_left_by_an_ended_process_is_released() {
        let s = Shared::new(1, 1);
        s.hdr.lock.store(42, SeqCst);
        assert_eq!(release_if_held_by(&s.hdr, 41), Released::NotHeld, "only the holder's tag releases it");
        assert_eq!(release_if_held_by(&s.hdr, 0), Released::NotHeld);
        assert_eq!(release_if_held_by(&s.hdr, 42), Released::Free);
        assert_eq!(s.pipe(5).write(b"ok", &*s), Ok(2));
    }

    /// A process sleeping on the lock of one that ended holding it is woken
    /// by procmgr's release (told to notify), and gets the lock.
    #[test]
    fn a_sleeper_on_an_ended_holders_lock_is_woken() {
        let s = Shared::new(1, 1);
        s.hdr.lock.store(42, SeqCst);
        let waiter = {
            let s = s.clone();
            std::thread::spawn(move || s.pipe(7).write(b"hi", &*s))
        };
        while s.lock_waits.load(SeqCst) == 0 {
            std::thread::yield_now();
        }
        assert_eq!(s.hdr.lock.load(SeqCst), 42 | LOCK_CONTENDED, "the sleeper marked the lock");
        assert_eq!(release_if_held_by(&s.hdr, 42), Released::WakeOne);
        s.notify_lock();
        assert_eq!(waiter.join().unwrap(), Ok(2));
        assert_eq!(s.hdr.lock.load(SeqCst), 0);
    }

    /// Waiters for a held lock sleep instead of spinning: a holder that
    /// keeps the lock a long time costs each of them a few waits at most.
    #[test]
    fn lock_waiters_sleep() {
        let s = Shared::new(1, 1);
        s.hdr.lock.store(99, SeqCst);
        let writers: Vec<_> = (0..3)
            .map(|i| {
                let s = s.clone();
                std::thread::spawn(move || s.pipe(10 + i).write(b"x", &*s))
            })
            .collect();
        while s.lock_waits.load(SeqCst) < 3 {
            std::thread::yield_now();
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(s.lock_waits.load(SeqCst), 3, "a waiter woke with nobody letting go");
        // The holder lets go as `Held` does.
        if s.hdr.lock.swap(0, SeqCst) & LOCK_CONTENDED != 0 {
            s.notify_lock();
        }
        for w in writers {
            assert_eq!(w.join().unwrap(), Ok(1));
        }
        assert_eq!(s.hdr.lock.load(SeqCst), 0);
        assert!(s.lock_waits.load(SeqCst) <= 6, "{} waits", s.lock_waits.load(SeqCst));
    }

    /// Writers blocked on a full pipe when its last read end closes all get
    /// a broken pipe (one notify from procmgr, passed on from writer to
    /// writer).
    #[test]
    fn every_waiting_writer_learns_of_a_broken_pipe() {
        let s = Shared::new(1, 3);
        assert_eq!(s.pipe(1).write(&[7; CAPACITY], &*s), Ok(CAPACITY));
        let writers: Vec<_> = (0..3)
            .map(|i| {
                let s = s.clone();
                std::thread::spawn(move || s.pipe(10 + i).write(b"more", &*s))
            })
            .collect();
        while s.hdr.writers_waiting.load(SeqCst) < 3 {
            std::thread::yield_now();
        }
        s.close(0, 3);
        for t in writers {
            assert_eq!(t.join().unwrap(), Err(Failure::BrokenPipe));
        }
    }

    /// Writers and readers on threads, each side several at once, the ring
    /// much smaller than what goes through: every byte arrives exactly
    /// once, and every reader sees end of file once the writers are done
    /// (which needs the pass-on: one notify per close).
    #[test]
    fn crowds_of_readers_and_writers_lose_and_duplicate_nothing() {
        for (readers, writers) in [(1, 1), (2, 2), (3, 1), (1, 3)] {
            let s = Shared::new(readers, writers);
            let per_writer = 20_000usize;
            let writing: Vec<_> = (0..writers)
                .map(|wi| {
                    let s = s.clone();
                    std::thread::spawn(move || {
                        let p = s.pipe(100 + wi);
                        // Each byte says which writer sent it; each writer
                        // sends its bytes in runs of varying size.
                        let data = [wi as u8; 700];
                        let mut sent = 0;
                        let mut size = 1;
                        while sent < per_writer {
                            let n = size.min(per_writer - sent);
                            sent += p.write(&data[..n], &*s).unwrap();
                            size = size % 663 + 37;
                        }
                    })
                })
                .collect();
            let done = Arc::new(AtomicBool::new(false));
            let reading: Vec<_> = (0..readers)
                .map(|ri| {
                    let s = s.clone();
                    let done = done.clone();
                    std::thread::spawn(move || {
                        let p = s.pipe(200 + ri);
                        let mut got = vec![0usize; 4];
                        let mut buf = [0u8; 333];
                        loop {
                            let n = p.read(&mut buf, &*s).unwrap();
                            if n == 0 {
                                assert!(done.load(SeqCst), "end of file before the writers were done");
                                return got;
                            }
                            for &b in &buf[..n] {
                                got[b as usize] += 1;
                            }
                        }
                    })
                })
                .collect();
            for t in writing {
                t.join().unwrap();
            }
            done.store(true, SeqCst);
            s.close(readers, 0);
            let mut total = vec![0usize; 4];
            for t in reading {
                for (i, n) in t.join().unwrap().into_iter().enumerate() {
                    total[i] += n;
                }
            }
            let want: Vec<usize> = (0..4).map(|i| if i < writers as usize { per_writer } else { 0 }).collect();
            assert_eq!(total, want, "{readers} readers, {writers} writers");
            assert_eq!(s.hdr.lock.load(SeqCst), 0);
        }
    }
}
