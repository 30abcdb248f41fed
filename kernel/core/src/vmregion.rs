//! The vm regions of an address space: which PMO range is mapped where,
//! with which permissions. Bookkeeping only; the kernel keeps the page
//! table in step.

use crate::mm::{PAGE_SIZE, USER_VA_END};
use alloc::collections::BTreeMap;
use chcore_abi::{perm, Error};

/// One mapping of a PMO into an address space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmRegion<T> {
    /// First virtual address (page-aligned).
    pub start: u64,
    /// Length in bytes (whole pages).
    pub len: u64,
    /// `chcore_abi::perm` bits.
    pub perm: u64,
    /// The memory object behind it.
    pub pmo: T,
}

impl<T> VmRegion<T> {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.start + self.len
    }
}

/// Check a user range: page-aligned, non-empty, inside the user half, no wrap.
pub fn check_user_range(start: u64, len: u64) -> Result<(), Error> {
    if len == 0 || !start.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
        return Err(Error::InvalidArgument);
    }
    match start.checked_add(len) {
        Some(end) if end <= USER_VA_END => Ok(()),
        _ => Err(Error::InvalidArgument),
    }
}

/// Check `perm` bits: only defined bits, and something must be allowed.
pub fn check_perm(p: u64) -> Result<(), Error> {
    if p & !perm::ALL != 0 || p == 0 {
        Err(Error::InvalidArgument)
    } else {
        Ok(())
    }
}

/// Non-overlapping regions ordered by address.
#[derive(Debug)]
pub struct VmRegions<T> {
    map: BTreeMap<u64, VmRegion<T>>,
}

impl<T> Default for VmRegions<T> {
    fn default() -> Self {
        VmRegions { map: BTreeMap::new() }
    }
}

impl<T> VmRegions<T> {
    /// No regions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a region; refused if malformed or overlapping.
    pub fn insert(&mut self, start: u64, len: u64, p: u64, pmo: T) -> Result<(), Error> {
        check_user_range(start, len)?;
        check_perm(p)?;
        if self.overlaps(start, len) {
            return Err(Error::Overlap);
        }
        self.map.insert(start, VmRegion { start, len, perm: p, pmo });
        Ok(())
    }

    /// Whether any region shares a byte with `[start, start + len)`.
    pub fn overlaps(&self, start: u64, len: u64) -> bool {
        self.map.range(..start.saturating_add(len)).next_back().is_some_and(|(_, r)| r.end() > start)
    }

    /// The region holding `va`.
    pub fn find(&self, va: u64) -> Option<&VmRegion<T>> {
        self.map.range(..=va).next_back().map(|(_, r)| r).filter(|r| va < r.end())
    }

    /// Remove the region that starts exactly at `start`.
    pub fn remove(&mut self, start: u64) -> Result<VmRegion<T>, Error> {
        self.map.remove(&start).ok_or(Error::NotMapped)
    }

    /// Change the permissions of the region that is exactly `[start, start + len)`.
    pub fn protect(&mut self, start: u64, len: u64, p: u64) -> Result<&VmRegion<T>, Error> {
        check_perm(p)?;
        let r = self.map.get_mut(&start).ok_or(Error::NotMapped)?;
        if r.len != len {
            return Err(Error::InvalidArgument);
        }
        r.perm = p;
        Ok(r)
    }

    /// All regions in address order.
    pub fn iter(&self) -> impl Iterator<Item = &VmRegion<T>> {
        self.map.values()
    }

    /// Take every region out.
    pub fn drain(&mut self) -> impl Iterator<Item = VmRegion<T>> {
        core::mem::take(&mut self.map).into_values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const RW: u64 = perm::READ | perm::WRITE;

    #[test]
    fn insert_find_remove() {
        let mut v = VmRegions::new();
        v.insert(0x1000, 0x2000, RW, 'a').unwrap();
        v.insert(0x3000, 0x1000, perm::READ, 'b').unwrap();
        assert_eq!(v.find(0x1000).unwrap().pmo, 'a');
        assert_eq!(v.find(0x2FFF).unwrap().pmo, 'a');
        assert_eq!(v.find(0x3000).unwrap().pmo, 'b');
        assert!(v.find(0xFFF).is_none());
        assert!(v.find(0x4000).is_none());
        assert_eq!(v.remove(0x1000).unwrap().pmo, 'a');
        assert_eq!(v.remove(0x1000).unwrap_err(), Error::NotMapped);
        assert!(v.find(0x1000).is_none());
    }

    #[test]
    fn overlaps_is_any_shared_byte() {
        let mut v = VmRegions::new();
        v.insert(0x4000, 0x2000, RW, ()).unwrap();
        assert!(!v.overlaps(0x2000, 0x2000), "ends where the region starts");
        assert!(!v.overlaps(0x6000, 0x1000), "starts where the region ends");
        assert!(v.overlaps(0x5000, 0x1000));
        assert!(v.overlaps(0x1000, 0x10000), "covers it");
        assert!(v.overlaps(0x4000, 1));
        assert!(!v.overlaps(u64::MAX - 0x1000, 0x2000), "a range that wraps is no overlap here");
    }

    #[test]
    fn overlaps_and_bounds_are_refused() {
        let mut v = VmRegions::new();
        v.insert(0x10_000, 0x4000, RW, 0).unwrap();
        for (start, len) in [(0xF_000, 0x2000), (0x13_000, 0x1000), (0x10_000, 0x1000), (0xE_000, 0x10_000)] {
            assert_eq!(v.insert(start, len, RW, 1).unwrap_err(), Error::Overlap, "{start:#x}+{len:#x}");
        }
        v.insert(0xF_000, 0x1000, RW, 2).unwrap();
        v.insert(0x14_000, 0x1000, RW, 3).unwrap();
        for (start, len) in
            [(0x1001, 0x1000), (0x1000, 0), (0x1000, 0x800), (USER_VA_END - 0x1000, 0x2000), (!0xFFF, 0x2000)]
        {
            assert_eq!(v.insert(start, len, RW, 4).unwrap_err(), Error::InvalidArgument);
        }
        assert_eq!(v.insert(0x100_000, 0x1000, 0, 5).unwrap_err(), Error::InvalidArgument, "no permission");
        assert_eq!(v.insert(0x100_000, 0x1000, 8, 5).unwrap_err(), Error::InvalidArgument, "unknown bit");
        assert_eq!(v.iter().count(), 3);
    }

    #[test]
    fn random_operations_agree_with_a_page_model() {
        // Regions of 1-4 pages starting in a 64-page window (so reaching up
        // to 67 pages); the model marks pages.
        let mut v = VmRegions::new();
        let mut owner = [None::<u64>; 68];
        let mut rng = crate::testing::XorShift(0x1234_5678);
        for _ in 0..20_000 {
            let x = rng.next_u64();
            let page = x % 64;
            let len = 1 + (x >> 8) % 4;
            let start = 0x10_0000 + page * PAGE_SIZE;
            if (x >> 16).is_multiple_of(3) {
                let r = v.remove(start);
                let expect = owner[page as usize] == Some(start);
                assert_eq!(r.is_ok(), expect, "remove at page {page}");
                if expect {
                    for o in owner.iter_mut() {
                        if *o == Some(start) {
                            *o = None;
                        }
                    }
                }
            } else {
                let fits = (page..page + len).all(|p| owner[p as usize].is_none());
                let r = v.insert(start, len * PAGE_SIZE, perm::READ, ());
                assert_eq!(r.is_ok(), fits, "insert {len} pages at page {page}");
                if r.is_ok() {
                    for p in page..page + len {
                        owner[p as usize] = Some(start);
                    }
                }
            }
            // Every page answers `find` exactly as the model says.
            let probe = (x >> 24) % 64;
            let got = v.find(0x10_0000 + probe * PAGE_SIZE + 5).map(|r| r.start);
            assert_eq!(got, owner[probe as usize], "find in page {probe}");
        }
    }

    #[test]
    fn protect_whole_regions_only() {
        let mut v = VmRegions::new();
        v.insert(0x1000, 0x2000, RW, ()).unwrap();
        assert_eq!(v.protect(0x1000, 0x1000, perm::READ).unwrap_err(), Error::InvalidArgument);
        assert_eq!(v.protect(0x2000, 0x1000, perm::READ).unwrap_err(), Error::NotMapped);
        assert_eq!(v.protect(0x1000, 0x2000, perm::READ).unwrap().perm, perm::READ);
    }
}
