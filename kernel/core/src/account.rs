//! Memory accounts: how much memory a cap_group has been charged for, and
//! how much it may have. Two kinds are counted, each with its own limit:
//! physical pages (what its PMOs and page tables hold) and kernel memory
//! (bytes of kernel heap its objects take: capability slots, threads,
//! notifications, connections, PMO and mapping records).
//!
//! Every page a PMO allocates, and every kernel object, is charged to an
//! account when it is made and given back when it is freed, so a process
//! that allocates without end hits its limit (and gets `NoMemory`, or is
//! ended by the fault that needed a page) long before the machine or the
//! kernel heap runs out. Charges are atomic: two CPUs charging one process
//! cannot both squeeze past the limit.
//!
//! Accounts nest: a charge to an account is also a charge to its parent's,
//! and so on up, so a process cannot escape its limit by making cap_groups
//! of its own (theirs are charged to it too), and an account above many
//! processes bounds them together (procmgr puts every user process in one,
//! so that together they cannot take the system servers' reserve).

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

/// No limit.
pub const UNLIMITED: u64 = u64::MAX;

/// One kind of memory: used and limit, in its unit.
#[derive(Debug)]
struct Counter {
    used: AtomicU64,
    limit: AtomicU64,
}

impl Counter {
    const fn new(limit: u64) -> Counter {
        Counter { used: AtomicU64::new(0), limit: AtomicU64::new(limit) }
    }

    fn take(&self, n: u64) -> Result<(), OverLimit> {
        let limit = self.limit.load(Ordering::Relaxed);
        if limit == UNLIMITED {
            // Nothing to check (an account without a limit, such as the
            // root process's, which every charge reaches): just count.
            self.used.fetch_add(n, Ordering::AcqRel);
            return Ok(());
        }
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| used.checked_add(n).filter(|&m| m <= limit))
            .map(|_| ())
            .map_err(|_| OverLimit)
    }

    fn give(&self, n: u64) {
        let before = self.used.fetch_sub(n, Ordering::AcqRel);
        debug_assert!(before >= n, "uncharged more than was charged");
    }
}

/// Pages and kernel memory charged, and their limits.
#[derive(Debug)]
pub struct Account {
    /// Indexed by [`PAGES`] and [`KMEM`].
    counters: [Counter; 2],
    parent: Option<Arc<Account>>,
}

/// A charge would go over the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverLimit;

/// Which counter: pages...
const PAGES: usize = 0;
/// ...or bytes of kernel memory.
const KMEM: usize = 1;

impl Account {
    /// An account with nothing charged, a limit of `limit` pages and no
    /// limit on kernel memory.
    pub const fn new(limit: u64) -> Account {
        Account { counters: [Counter::new(limit), Counter::new(UNLIMITED)], parent: None }
    }

    /// An account inside `parent`: same limits to start with, and every
    /// charge counted against both.
    pub fn child_of(parent: &Arc<Account>) -> Account {
        Account {
            counters: [Counter::new(parent.limit()), Counter::new(parent.kmem_limit())],
            parent: Some(parent.clone()),
        }
    }

    /// The enclosing accounts, this one first.
    fn chain(&self) -> impl Iterator<Item = &Account> {
        core::iter::successors(Some(self), |a| a.parent.as_deref())
    }

    /// Charge `amounts` (pages, kernel bytes) here and in every enclosing
    /// account, unless that would exceed one of their limits (then nothing
    /// is charged anywhere). One walk up the chain for both: a page fault
    /// charges a page and its record together. A loop, not recursion: it
    /// is on the fault and fork paths.
    fn charge_amounts(&self, amounts: [u64; 2]) -> Result<(), OverLimit> {
        for (level, a) in self.chain().enumerate() {
            for k in [PAGES, KMEM] {
                if amounts[k] != 0 && a.counters[k].take(amounts[k]).is_err() {
                    // Undo this level's other kind, then the levels below.
                    if k == KMEM && amounts[PAGES] != 0 {
                        a.counters[PAGES].give(amounts[PAGES]);
                    }
                    self.chain().take(level).for_each(|b| b.give_amounts(amounts));
                    return Err(OverLimit);
                }
            }
        }
        Ok(())
    }

    fn give_amounts(&self, amounts: [u64; 2]) {
        for k in [PAGES, KMEM] {
            if amounts[k] != 0 {
                self.counters[k].give(amounts[k]);
            }
        }
    }

    /// Give back `amounts` charged earlier, here and in every enclosing account.
    fn uncharge_amounts(&self, amounts: [u64; 2]) {
        self.chain().for_each(|a| a.give_amounts(amounts));
    }

    /// Charge `pages` here and in every enclosing account, unless that would
    /// exceed one of their limits (then nothing is charged anywhere).
    pub fn charge(&self, pages: u64) -> Result<(), OverLimit> {
        self.charge_amounts([pages, 0])
    }

    /// Give back `pages` charged earlier (here and in the enclosing accounts).
    pub fn uncharge(&self, pages: u64) {
        self.uncharge_amounts([pages, 0])
    }

    /// Pages charged now.
    pub fn used(&self) -> u64 {
        self.counters[PAGES].used.load(Ordering::Acquire)
    }

    /// The limit in pages.
    pub fn limit(&self) -> u64 {
        self.counters[PAGES].limit.load(Ordering::Relaxed)
    }

    /// Change the limit. Pages already charged stay charged, even above a
    /// lower limit: only new charges are refused.
    pub fn set_limit(&self, limit: u64) {
        self.counters[PAGES].limit.store(limit, Ordering::Relaxed);
    }

    /// Charge `bytes` of kernel memory here and in every enclosing account,
    /// unless that would exceed one of their kernel-memory limits.
    pub fn charge_kmem(&self, bytes: u64) -> Result<(), OverLimit> {
        self.charge_amounts([0, bytes])
    }

    /// Give back `bytes` of kernel memory charged earlier.
    pub fn uncharge_kmem(&self, bytes: u64) {
        self.uncharge_amounts([0, bytes])
    }

    /// Charge `pages` and `bytes` of kernel memory (the kernel's record of
    /// them) at once: both or neither.
    pub fn charge_with_record(&self, pages: u64, bytes: u64) -> Result<(), OverLimit> {
        self.charge_amounts([pages, bytes])
    }

    /// [`Account::charge_with_record`], limits or not. For memory one
    /// cap_group pays for and another touches: an IPC connection's buffer
    /// and its handler's stack are the client's memory, but a fault in the
    /// server must not fail because the client is at its limit (that would
    /// end the server). Whoever uses it must bound what it charges this way.
    pub fn charge_with_record_anyway(&self, pages: u64, bytes: u64) {
        for a in self.chain() {
            a.counters[PAGES].used.fetch_add(pages, Ordering::AcqRel);
            a.counters[KMEM].used.fetch_add(bytes, Ordering::AcqRel);
        }
    }

    /// Give back what [`Account::charge_with_record`] charged.
    pub fn uncharge_with_record(&self, pages: u64, bytes: u64) {
        self.uncharge_amounts([pages, bytes])
    }

    /// Bytes of kernel memory charged now.
    pub fn kmem_used(&self) -> u64 {
        self.counters[KMEM].used.load(Ordering::Acquire)
    }

    /// The kernel-memory limit in bytes.
    pub fn kmem_limit(&self) -> u64 {
        self.counters[KMEM].limit.load(Ordering::Relaxed)
    }

    /// Change the kernel-memory limit (as [`Account::set_limit`]).
    pub fn set_kmem_limit(&self, limit: u64) {
        self.counters[KMEM].limit.store(limit, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_up_to_the_limit_and_no_further() {
        let a = Account::new(10);
        assert_eq!(a.charge(4), Ok(()));
        assert_eq!(a.charge(6), Ok(()));
        assert_eq!(a.charge(1), Err(OverLimit));
        assert_eq!(a.used(), 10, "a refused charge changes nothing");
        a.uncharge(3);
        assert_eq!(a.charge(3), Ok(()));
        assert_eq!(a.charge(u64::MAX), Err(OverLimit), "overflow is refused, not wrapped");
    }

    #[test]
    fn a_lower_limit_refuses_new_charges_only() {
        let a = Account::new(UNLIMITED);
        a.charge(100).unwrap();
        a.set_limit(50);
        assert_eq!(a.used(), 100);
        assert_eq!(a.charge(1), Err(OverLimit));
        a.uncharge(60);
        assert_eq!(a.charge(10), Ok(()));
        assert_eq!(a.used(), 50);
    }

    #[test]
    fn a_child_account_counts_against_its_parent() {
        let parent = Arc::new(Account::new(10));
        let a = Account::child_of(&parent);
        let b = Account::child_of(&parent);
        assert_eq!(a.limit(), 10, "a child starts with its parent's limit");
        a.charge(6).unwrap();
        assert_eq!(b.charge(5), Err(OverLimit), "together the children may not pass the parent's limit");
        assert_eq!(b.used(), 0, "a charge the parent refused is undone");
        b.charge(4).unwrap();
        assert_eq!(parent.used(), 10);
        a.uncharge(6);
        b.uncharge(4);
        assert_eq!(parent.used(), 0);
    }

    #[test]
    fn charges_anyway_are_counted_but_never_refused() {
        let parent = Arc::new(Account::new(10));
        parent.charge(10).unwrap();
        let child = Arc::new(Account::child_of(&parent));
        child.charge_with_record_anyway(3, 0);
        assert_eq!((child.used(), parent.used()), (3, 13), "past the limits, counted all the way up");
        assert_eq!(parent.charge(1), Err(OverLimit), "ordinary charges stay refused");
        assert_eq!(child.charge(1), Err(OverLimit));
        child.uncharge(3);
        assert_eq!((child.used(), parent.used()), (0, 10));
    }

    #[test]
    fn concurrent_charges_never_pass_the_limit() {
        let a = std::sync::Arc::new(Account::new(1000));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let a = a.clone();
                std::thread::spawn(move || (0..1000).filter(|_| a.charge(1).is_ok()).count())
            })
            .collect();
        let granted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(granted, 1000);
        assert_eq!(a.used(), 1000);
    }

    #[test]
    fn kernel_memory_is_a_second_kind_with_its_own_limit() {
        let parent = Arc::new(Account::new(10));
        parent.set_kmem_limit(1000);
        let child = Account::child_of(&parent);
        assert_eq!(child.kmem_limit(), 1000, "a child starts with its parent's kernel-memory limit too");
        child.set_kmem_limit(600);
        child.charge_kmem(500).unwrap();
        assert_eq!(child.charge_kmem(101), Err(OverLimit), "the child's own limit");
        assert_eq!((child.used(), parent.used()), (0, 0), "pages are not kernel memory");
        parent.charge_kmem(450).unwrap();
        assert_eq!(child.charge_kmem(100), Err(OverLimit), "the parent's limit, reached by both");
        assert_eq!(child.kmem_used(), 500, "a charge the parent refused is undone");
        child.charge(10).unwrap();
        assert_eq!(child.charge(1), Err(OverLimit), "page limits are separate");
        child.uncharge_kmem(500);
        parent.uncharge_kmem(450);
        assert_eq!((child.kmem_used(), parent.kmem_used()), (0, 0));
    }

    #[test]
    fn three_levels_charge_and_give_back_all_the_way_up() {
        let top = Arc::new(Account::new(UNLIMITED));
        let users = Arc::new(Account::child_of(&top));
        users.set_kmem_limit(100);
        let process = Account::child_of(&users);
        process.set_kmem_limit(60);
        process.charge_kmem(60).unwrap();
        assert_eq!(top.kmem_used(), 60);
        let other = Account::child_of(&users);
        other.set_kmem_limit(60);
        assert_eq!(other.charge_kmem(41), Err(OverLimit), "together under the users' limit");
        other.charge_kmem(40).unwrap();
        top.charge_kmem(1 << 30).expect("outside the users' account, only the top's limit applies");
        process.uncharge_kmem(60);
        other.uncharge_kmem(40);
        top.uncharge_kmem(1 << 30);
        assert_eq!((top.kmem_used(), users.kmem_used()), (0, 0));
    }

    #[test]
    fn pages_and_records_are_charged_together_or_not_at_all() {
        let top = Arc::new(Account::new(100));
        top.set_kmem_limit(1000);
        let a = Account::child_of(&top);
        a.charge_with_record(10, 500).unwrap();
        assert_eq!((a.used(), a.kmem_used(), top.used(), top.kmem_used()), (10, 500, 10, 500));
        assert_eq!(a.charge_with_record(1, 501), Err(OverLimit), "the records are over");
        assert_eq!(a.charge_with_record(91, 1), Err(OverLimit), "the pages are over");
        top.set_kmem_limit(600);
        assert_eq!(a.charge_with_record(1, 101), Err(OverLimit), "the parent's records are over");
        assert_eq!((a.used(), a.kmem_used(), top.used(), top.kmem_used()), (10, 500, 10, 500), "refusals undo all");
        a.charge_with_record_anyway(200, 2000);
        assert_eq!((a.used(), top.kmem_used()), (210, 2500));
        a.uncharge_with_record(210, 2500);
        assert_eq!((a.used(), a.kmem_used(), top.used(), top.kmem_used()), (0, 0, 0, 0));
    }
}
