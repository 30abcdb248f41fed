//! Memory accounts: how many physical pages a cap_group has been charged
//! for, and how many it may have.
//!
//! Every page a PMO allocates is charged to an account when it is allocated
//! and given back when it is freed, so a process that allocates without end
//! hits its limit (and gets `NoMemory`, or is ended by the fault that needed
//! the page) long before the machine runs out. Charges are atomic: two CPUs
//! faulting pages of one process cannot both squeeze past the limit.
//!
//! Accounts nest: a charge to an account is also a charge to its parent's,
//! and so on up, so a process cannot escape its limit by making cap_groups
//! of its own (theirs are charged to it too).

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

/// No limit.
pub const UNLIMITED: u64 = u64::MAX;

/// Pages charged and the limit, in pages.
#[derive(Debug)]
pub struct Account {
    used: AtomicU64,
    limit: AtomicU64,
    parent: Option<Arc<Account>>,
}

/// A charge would go over the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverLimit;

impl Account {
    /// An account with nothing charged and a limit of `limit` pages.
    pub const fn new(limit: u64) -> Account {
        Account { used: AtomicU64::new(0), limit: AtomicU64::new(limit), parent: None }
    }

    /// An account inside `parent`: same limit to start with, and every
    /// charge counted against both.
    pub fn child_of(parent: &Arc<Account>) -> Account {
        Account { used: AtomicU64::new(0), limit: AtomicU64::new(parent.limit()), parent: Some(parent.clone()) }
    }

    /// Charge `pages` here and in every enclosing account, unless that would
    /// exceed one of their limits (then nothing is charged anywhere).
    pub fn charge(&self, pages: u64) -> Result<(), OverLimit> {
        let limit = self.limit.load(Ordering::Relaxed);
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| used.checked_add(pages).filter(|&n| n <= limit))
            .map_err(|_| OverLimit)?;
        if let Some(p) = &self.parent {
            if let Err(e) = p.charge(pages) {
                self.used.fetch_sub(pages, Ordering::AcqRel);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Charge `pages` here and in every enclosing account, limits or not.
    /// For memory one cap_group pays for and another touches: an IPC
    /// connection's buffer and its handler's stack are the client's memory,
    /// but a fault in the server must not fail because the client is at its
    /// limit (that would end the server). Whoever uses it must bound what
    /// it charges this way.
    pub fn charge_anyway(&self, pages: u64) {
        self.used.fetch_add(pages, Ordering::AcqRel);
        if let Some(p) = &self.parent {
            p.charge_anyway(pages);
        }
    }

    /// Give back `pages` charged earlier (here and in the enclosing accounts).
    pub fn uncharge(&self, pages: u64) {
        let before = self.used.fetch_sub(pages, Ordering::AcqRel);
        debug_assert!(before >= pages, "uncharged more pages than were charged");
        if let Some(p) = &self.parent {
            p.uncharge(pages);
        }
    }

    /// Pages charged now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    /// The limit in pages.
    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    /// Change the limit. Pages already charged stay charged, even above a
    /// lower limit: only new charges are refused.
    pub fn set_limit(&self, limit: u64) {
        self.limit.store(limit, Ordering::Relaxed);
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
        child.charge_anyway(3);
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
}
