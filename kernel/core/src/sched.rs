//! Scheduler bookkeeping: priority run queues and the choice of a CPU.
//!
//! Each CPU has a [`RunQueue`]: one FIFO per priority level and a bitmap of
//! the non-empty levels, so picking the next thread is "highest set bit, pop
//! front" whatever the number of threads. Threads of equal priority take
//! turns (round-robin); a higher priority always runs first.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// Priorities are `0..=PRIO_MAX`; higher runs first.
pub const PRIO_MAX: u8 = 255;
/// Priority of a thread nobody set one for.
pub const PRIO_DEFAULT: u8 = 128;
const LEVELS: usize = PRIO_MAX as usize + 1;

/// One CPU's runnable threads.
#[derive(Debug)]
pub struct RunQueue<T> {
    levels: Vec<VecDeque<T>>,
    bitmap: [u64; LEVELS / 64],
    len: usize,
}

impl<T> Default for RunQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> RunQueue<T> {
    /// An empty queue.
    pub const fn new() -> Self {
        RunQueue { levels: Vec::new(), bitmap: [0; LEVELS / 64], len: 0 }
    }

    /// Queue `t` behind the others of priority `prio`.
    pub fn push(&mut self, prio: u8, t: T) {
        if self.levels.is_empty() {
            self.levels.resize_with(LEVELS, VecDeque::new);
        }
        let p = prio as usize;
        self.levels[p].push_back(t);
        self.bitmap[p / 64] |= 1 << (p % 64);
        self.len += 1;
    }

    /// The highest priority with a queued thread.
    pub fn top_prio(&self) -> Option<u8> {
        self.bitmap
            .iter()
            .enumerate()
            .rev()
            .find(|(_, w)| **w != 0)
            .map(|(i, w)| (i * 64 + 63 - w.leading_zeros() as usize) as u8)
    }

    /// Take the first thread of the highest priority.
    pub fn pop(&mut self) -> Option<(u8, T)> {
        let p = self.top_prio()?;
        let t = self.take_at(p, 0)?;
        Some((p, t))
    }

    fn take_at(&mut self, p: u8, index: usize) -> Option<T> {
        let q = &mut self.levels[p as usize];
        let t = if index == 0 { q.pop_front()? } else { q.remove(index)? };
        if q.is_empty() {
            self.bitmap[p as usize / 64] &= !(1 << (p as usize % 64));
        }
        self.len -= 1;
        Some(t)
    }

    /// Take the highest-priority thread for which `ok` holds (work stealing
    /// respects affinity this way).
    pub fn take_first(&mut self, mut ok: impl FnMut(&T) -> bool) -> Option<(u8, T)> {
        for p in (0..LEVELS).rev() {
            if self.bitmap[p / 64] & (1 << (p % 64)) == 0 {
                continue;
            }
            if let Some(i) = self.levels[p].iter().position(&mut ok) {
                return self.take_at(p as u8, i).map(|t| (p as u8, t));
            }
        }
        None
    }

    /// Keep only the threads for which `keep` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        // Only the levels the bitmap marks: most of the 256 are empty.
        for w in 0..self.bitmap.len() {
            let mut bits = self.bitmap[w];
            while bits != 0 {
                let p = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                self.retain_level(p, &mut keep);
            }
        }
    }

    fn retain_level(&mut self, p: usize, keep: &mut impl FnMut(&T) -> bool) {
        let q = &mut self.levels[p];
        let before = q.len();
        q.retain(|t| keep(t));
        self.len -= before - q.len();
        if q.is_empty() {
            self.bitmap[p / 64] &= !(1 << (p % 64));
        }
    }

    /// Threads queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Where to queue a thread: its affinity if it has one (and that CPU is
/// online), else the online CPU with the least work (`loads[i]`: queued plus
/// running), preferring `local` on a tie (its caches are warm).
pub fn pick_cpu(affinity: Option<usize>, loads: &[usize], local: usize) -> usize {
    if let Some(cpu) = affinity.filter(|c| *c < loads.len()) {
        return cpu;
    }
    let mut best = local.min(loads.len().saturating_sub(1));
    for (cpu, &load) in loads.iter().enumerate() {
        if load < loads[best] {
            best = cpu;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highest_priority_first_then_fifo() {
        let mut q = RunQueue::new();
        q.push(10, 'a');
        q.push(200, 'b');
        q.push(10, 'c');
        q.push(200, 'd');
        q.push(0, 'e');
        q.push(255, 'f');
        assert_eq!(q.len(), 6);
        assert_eq!(q.top_prio(), Some(255));
        let order: Vec<char> = core::iter::from_fn(|| q.pop().map(|(_, t)| t)).collect();
        assert_eq!(order, vec!['f', 'b', 'd', 'a', 'c', 'e']);
        assert!(q.is_empty());
        assert_eq!(q.top_prio(), None);
    }

    #[test]
    fn take_first_respects_the_predicate() {
        let mut q = RunQueue::new();
        q.push(5, 1);
        q.push(9, 2);
        q.push(9, 3);
        assert_eq!(q.take_first(|t| *t != 2), Some((9, 3)));
        assert_eq!(q.take_first(|t| *t > 100), None);
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop(), Some((9, 2)));
        assert_eq!(q.pop(), Some((5, 1)));
    }

    #[test]
    fn retain_keeps_counts_and_bitmap_right() {
        let mut q = RunQueue::new();
        for i in 0..10 {
            q.push((i % 3) as u8 * 100, i);
        }
        q.retain(|t| t % 2 == 0);
        assert_eq!(q.len(), 5);
        q.retain(|t| *t != 3 && *t != 0 && *t != 6);
        let mut rest: Vec<i32> = core::iter::from_fn(|| q.pop().map(|(_, t)| t)).collect();
        rest.sort();
        assert_eq!(rest, vec![2, 4, 8]);
        assert_eq!(q.top_prio(), None);
    }

    #[test]
    fn picking_a_cpu() {
        assert_eq!(pick_cpu(Some(2), &[5, 5, 5, 5], 0), 2, "affinity wins");
        assert_eq!(pick_cpu(Some(9), &[3, 1], 0), 1, "bad affinity falls back to the least loaded");
        assert_eq!(pick_cpu(None, &[2, 0, 1, 0], 0), 1);
        assert_eq!(pick_cpu(None, &[1, 1, 1, 1], 2), 2, "ties stay local");
        assert_eq!(pick_cpu(None, &[0], 0), 0);
    }
}
