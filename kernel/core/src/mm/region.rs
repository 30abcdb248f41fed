//! Physical address ranges: what RAM exists, what is reserved, what is left.
//!
//! Used at boot before any heap exists, so the set has a fixed capacity and
//! reports overflow instead of allocating.

use core::fmt;

/// A half-open physical range `[start, end)`.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Region {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl Region {
    /// `[start, start + size)`, saturating at the top of the address space.
    pub const fn new(start: u64, size: u64) -> Region {
        Region { start, end: start.saturating_add(size) }
    }

    /// Bytes in the range.
    pub const fn size(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the range holds no bytes.
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}..{:#x}", self.start, self.end)
    }
}

/// The set was full: a region was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionsFull;

/// Up to `N` disjoint regions, kept sorted by start address.
#[derive(Clone, Copy)]
pub struct RegionSet<const N: usize> {
    items: [Region; N],
    len: usize,
}

impl<const N: usize> Default for RegionSet<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for RegionSet<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<const N: usize> RegionSet<N> {
    /// An empty set.
    pub const fn new() -> Self {
        RegionSet { items: [Region { start: 0, end: 0 }; N], len: 0 }
    }

    /// The regions, sorted by address.
    pub fn iter(&self) -> impl Iterator<Item = Region> + '_ {
        self.items[..self.len].iter().copied()
    }

    /// Number of regions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Total bytes covered.
    pub fn total(&self) -> u64 {
        self.iter().map(|r| r.size()).sum()
    }

    /// Add `r`, merging it with regions it overlaps or touches.
    pub fn insert(&mut self, r: Region) -> Result<(), RegionsFull> {
        if r.is_empty() {
            return Ok(());
        }
        let mut merged = r;
        let mut out = Builder::<N>::new();
        let mut placed = false;
        for cur in self.iter() {
            if cur.end < merged.start {
                out.push(cur)?;
            } else if cur.start > merged.end {
                if !placed {
                    out.push(merged)?;
                    placed = true;
                }
                out.push(cur)?;
            } else {
                merged = Region { start: merged.start.min(cur.start), end: merged.end.max(cur.end) };
            }
        }
        if !placed {
            out.push(merged)?;
        }
        *self = out.finish();
        Ok(())
    }

    /// Remove `r` from the set, splitting regions it cuts through.
    pub fn remove(&mut self, r: Region) -> Result<(), RegionsFull> {
        if r.is_empty() {
            return Ok(());
        }
        let mut out = Builder::<N>::new();
        for cur in self.iter() {
            let below = Region { start: cur.start, end: cur.end.min(r.start) };
            let above = Region { start: cur.start.max(r.end), end: cur.end };
            for piece in [below, above] {
                if !piece.is_empty() {
                    out.push(piece)?;
                }
            }
        }
        *self = out.finish();
        Ok(())
    }

    /// Shrink every region to whole `align`-sized units, dropping what is left empty.
    pub fn align_inward(&mut self, align: u64) {
        let mut n = 0;
        for i in 0..self.len {
            let r = self.items[i];
            let start = super::align_up(r.start, align).unwrap_or(u64::MAX);
            let end = super::align_down(r.end, align);
            if start < end {
                self.items[n] = Region { start, end };
                n += 1;
            }
        }
        self.len = n;
    }
}

/// A new set under construction; the old one stays intact until `finish`,
/// so a failed operation leaves it unchanged.
struct Builder<const N: usize>(RegionSet<N>);

impl<const N: usize> Builder<N> {
    fn new() -> Self {
        Builder(RegionSet::new())
    }

    fn push(&mut self, r: Region) -> Result<(), RegionsFull> {
        let set = &mut self.0;
        *set.items.get_mut(set.len).ok_or(RegionsFull)? = r;
        set.len += 1;
        Ok(())
    }

    fn finish(self) -> RegionSet<N> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(rs: &[(u64, u64)]) -> RegionSet<8> {
        let mut s = RegionSet::new();
        for &(a, b) in rs {
            s.insert(Region { start: a, end: b }).unwrap();
        }
        s
    }

    fn list(s: &RegionSet<8>) -> Vec<(u64, u64)> {
        s.iter().map(|r| (r.start, r.end)).collect()
    }

    #[test]
    fn insert_sorts_and_merges() {
        let s = set(&[(50, 60), (10, 20), (20, 30), (55, 70), (0, 5)]);
        assert_eq!(list(&s), vec![(0, 5), (10, 30), (50, 70)]);
        assert_eq!(s.total(), 5 + 20 + 20);
    }

    #[test]
    fn remove_splits() {
        let mut s = set(&[(0, 100)]);
        s.remove(Region { start: 10, end: 20 }).unwrap();
        s.remove(Region { start: 90, end: 200 }).unwrap();
        s.remove(Region { start: 0, end: 1 }).unwrap();
        assert_eq!(list(&s), vec![(1, 10), (20, 90)]);
        s.remove(Region { start: 0, end: 1000 }).unwrap();
        assert!(s.is_empty());
    }

    #[test]
    fn capacity_is_reported() {
        let mut s: RegionSet<2> = RegionSet::new();
        s.insert(Region { start: 0, end: 10 }).unwrap();
        s.insert(Region { start: 20, end: 30 }).unwrap();
        assert_eq!(s.insert(Region { start: 40, end: 50 }), Err(RegionsFull));
        assert_eq!(s.remove(Region { start: 2, end: 3 }), Err(RegionsFull));
        assert_eq!(s.len(), 2, "failed operations leave the set alone");
    }

    #[test]
    fn align_inward_drops_slivers() {
        let mut s = set(&[(0x1001, 0x5fff), (0x8000, 0x8800)]);
        s.align_inward(0x1000);
        assert_eq!(list(&s), vec![(0x2000, 0x5000)]);
    }
}
