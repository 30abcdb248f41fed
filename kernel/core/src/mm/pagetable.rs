//! Four-level AArch64 page tables (4 KiB granule, 48-bit VA), over any memory.
//!
//! The walker never touches memory itself: a [`TableMemory`] supplies table
//! pages and reads/writes their entries. The kernel implements it over the
//! linear map; the tests here implement it over a `Vec`. TLB maintenance is the
//! caller's job (only it knows which ASID and which cores are involved).
//!
//! Operations check the whole range before changing anything, so a refused
//! `map` or `unmap` leaves the table as it was. The only failure that can occur
//! midway, running out of table pages during `map`, is rolled back.

use super::pte::{self, MemType, Perm};
use super::PAGE_SIZE;

/// Entries per table.
pub const ENTRIES: usize = 512;
/// Bits of virtual address the tables translate.
pub const VA_BITS: u32 = 48;
const VA_MASK: u64 = (1 << VA_BITS) - 1;

/// Size of the region one entry at `level` covers (0 = 512 GiB ... 3 = 4 KiB).
pub const fn level_size(level: usize) -> u64 {
    1 << (12 + 9 * (3 - level as u32))
}

/// Index of `va` in a table at `level`.
pub const fn level_index(va: u64, level: usize) -> usize {
    ((va >> (12 + 9 * (3 - level as u32))) & 0x1FF) as usize
}

/// Where table pages come from and how their entries are read and written.
pub trait TableMemory {
    /// A zeroed, page-aligned table page, or `None` when memory is exhausted.
    fn alloc_table(&mut self) -> Option<u64>;
    /// Give back a table page from [`TableMemory::alloc_table`].
    fn free_table(&mut self, table: u64);
    /// Entry `index` of the table at physical address `table`.
    fn read(&self, table: u64, index: usize) -> u64;
    /// Set entry `index` of the table at physical address `table`.
    fn write(&mut self, table: u64, index: usize, value: u64);
    /// The first non-zero entry of `table` in `[from, end)` (`end` at most
    /// [`ENTRIES`]). Tables are mostly empty, so implementations should make
    /// this fast.
    fn next_nonzero(&self, table: u64, from: usize, end: usize) -> Option<usize> {
        (from..end.min(ENTRIES)).find(|&i| self.read(table, i) != 0)
    }
    /// Set every entry of `table` to zero.
    fn zero_table(&mut self, table: u64) {
        for i in 0..ENTRIES {
            self.write(table, i, 0);
        }
    }
}

/// Why a page-table operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// An address or length is not page-aligned, or the length is zero.
    Misaligned,
    /// The range is not canonical, wraps, or crosses the 48-bit boundary.
    OutOfRange,
    /// Part of the range is already mapped.
    AlreadyMapped,
    /// Part of the range is not mapped.
    NotMapped,
    /// The range cuts through a block mapping, which would need splitting.
    SplitBlock,
    /// No memory for a table page.
    OutOfMemory,
}

/// A resolved translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// Physical address `va` maps to.
    pub pa: u64,
    /// Permissions of the mapping.
    pub perm: Perm,
    /// Memory type of the mapping.
    pub mem: MemType,
    /// Size of the page or block that holds `va`.
    pub size: u64,
}

/// How `map` may build the mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    /// 4 KiB pages only (what user mappings need, to be unmapped page by page).
    Pages,
    /// 2 MiB and 1 GiB blocks where address, physical address and length allow.
    Blocks,
}

/// What a page-table tree takes and maps (see [`PageTable::usage`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// Table pages, the root included.
    pub table_pages: u64,
    /// Bytes of memory the leaves map.
    pub mapped_bytes: u64,
    /// Leaf entries that map one page.
    pub pages: u64,
    /// Leaf entries that map a block (2 MiB or 1 GiB).
    pub blocks: u64,
}

/// A page-table tree named by the physical address of its level 0 table.
#[derive(Debug)]
pub struct PageTable {
    root: u64,
    /// Every table page below the root this tree allocated and still uses:
    /// emptying or destroying the tree frees them from this list instead of
    /// walking the tree (finding the entries of a sparse 512-entry table
    /// means reading most of it).
    tables: alloc::vec::Vec<u64>,
}

/// Validate a range and return it in 48-bit index space.
fn check_range(va: u64, len: u64) -> Result<(u64, u64), MapError> {
    if len == 0 || !va.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
        return Err(MapError::Misaligned);
    }
    let top = va >> VA_BITS;
    if top != 0 && top != (u64::MAX >> VA_BITS) {
        return Err(MapError::OutOfRange);
    }
    let start = va & VA_MASK;
    match start.checked_add(len) {
        Some(end) if end <= 1 << VA_BITS => Ok((start, end)),
        _ => Err(MapError::OutOfRange),
    }
}

fn is_valid(desc: u64) -> bool {
    desc & pte::VALID != 0
}

fn is_table(desc: u64, level: usize) -> bool {
    level < 3 && is_valid(desc) && desc & pte::TABLE_OR_PAGE != 0
}

// Each table below the root keeps the number of its non-zero entries in
// bits [11:2] of the table descriptor that points to it: bits the MMU
// ignores in a table descriptor (ARM ARM D8.3.1, 4 KiB granule, without
// FEAT_LPA2/HAFT). Unmapping then knows at once when a table has become
// empty and can be freed, instead of reading all 512 entries to find out.
const COUNT_SHIFT: u32 = 2;
const COUNT_MASK: u64 = 0x3FF << COUNT_SHIFT;
const _: () = assert!(pte::table(pte::ADDR_MASK) & COUNT_MASK == 0, "table descriptors leave the count bits clear");

/// Non-zero entries of the table `desc` points to.
fn count_of(desc: u64) -> u64 {
    (desc & COUNT_MASK) >> COUNT_SHIFT
}

fn with_count(desc: u64, n: u64) -> u64 {
    (desc & !COUNT_MASK) | (n << COUNT_SHIFT)
}

/// Where a table's descriptor is: (parent table, index); `None` for the root.
type Slot = Option<(u64, usize)>;

/// A table gained `n` non-zero entries: count them in its descriptor.
fn count_up(mem: &mut impl TableMemory, slot: Slot, n: u64) {
    if let Some((t, i)) = slot {
        let e = mem.read(t, i);
        mem.write(t, i, with_count(e, count_of(e) + n));
    }
}

impl PageTable {
    /// A new, empty tree.
    pub fn new(mem: &mut impl TableMemory) -> Result<PageTable, MapError> {
        mem.alloc_table().map(|root| PageTable { root, tables: alloc::vec::Vec::new() }).ok_or(MapError::OutOfMemory)
    }

    /// Adopt an existing tree (for example the one TTBR1 already uses).
    /// Only tables it allocates from now on are its own: [`PageTable::destroy`]
    /// and [`PageTable::clear_all`] free those.
    pub fn from_root(root: u64) -> PageTable {
        PageTable { root, tables: alloc::vec::Vec::new() }
    }

    /// Table pages below the root in use.
    pub fn table_count(&self) -> usize {
        self.tables.len()
    }

    /// Forget `table` (about to be freed) in the list of tables in use.
    fn forget_table(&mut self, table: u64) {
        if let Some(i) = self.tables.iter().rposition(|&t| t == table) {
            self.tables.swap_remove(i);
        }
    }

    /// Physical address of the level 0 table, for TTBRx_EL1.
    pub fn root(&self) -> u64 {
        self.root
    }

    /// Map `[va, va + len)` to `[pa, pa + len)`. Nothing in the range may be mapped.
    // Every argument is a distinct property of the mapping; bundling them
    // would only move the list elsewhere.
    #[allow(clippy::too_many_arguments)]
    pub fn map(
        &mut self,
        mem: &mut impl TableMemory,
        va: u64,
        pa: u64,
        len: u64,
        perm: Perm,
        mem_type: MemType,
        gran: Granularity,
    ) -> Result<(), MapError> {
        let (start, end) = check_range(va, len)?;
        if !pa.is_multiple_of(PAGE_SIZE) {
            return Err(MapError::Misaligned);
        }
        if pa.checked_add(len).is_none_or(|e| e > pte::ADDR_MASK + PAGE_SIZE) {
            return Err(MapError::OutOfRange);
        }
        if self.any_mapped(mem, self.root, 0, 0, start, end) {
            return Err(MapError::AlreadyMapped);
        }
        let mut off = 0;
        // The table last written to: (table, its slot, its level, first
        // address it covers). Consecutive pages mostly share it: one walk
        // per table, not per page.
        let mut current: Option<(u64, Slot, usize, u64)> = None;
        while off < len {
            let (v, p) = (start + off, pa + off);
            let level = Self::leaf_level(v, p, len - off, gran);
            let span = level_size(level - 1);
            let cached = current.filter(|&(_, _, l, b)| l == level && v & !(span - 1) == b);
            let Some((table, slot)) = cached.map(|(t, s, _, _)| (t, s)).or_else(|| self.walk_create(mem, v, level))
            else {
                // Roll back what this call mapped; the range was free before.
                if off > 0 {
                    self.clear_range(mem, self.root, 0, 0, start, start + off);
                }
                return Err(MapError::OutOfMemory);
            };
            let desc = if level == 3 { pte::page(p, perm, mem_type) } else { pte::block(p, perm, mem_type) };
            mem.write(table, level_index(v, level), desc);
            count_up(mem, slot, 1);
            current = Some((table, slot, level, v & !(span - 1)));
            off += level_size(level);
        }
        Ok(())
    }

    /// Map the pages from `va` on to `frames`, one 4 KiB page per frame, in
    /// order. Nothing in the range may be mapped. One walk per level 3
    /// table, not per page: this is how a forked child gets its
    /// copy-on-write pages.
    pub fn map_frames(
        &mut self,
        mem: &mut impl TableMemory,
        va: u64,
        frames: &[u64],
        perm: Perm,
        mem_type: MemType,
    ) -> Result<(), MapError> {
        let (start, end) = check_range(va, frames.len() as u64 * PAGE_SIZE)?;
        if frames.iter().any(|pa| !pa.is_multiple_of(PAGE_SIZE)) {
            return Err(MapError::Misaligned);
        }
        if frames.iter().any(|pa| *pa > pte::ADDR_MASK) {
            return Err(MapError::OutOfRange);
        }
        if self.any_mapped(mem, self.root, 0, 0, start, end) {
            return Err(MapError::AlreadyMapped);
        }
        // The level 3 table in use, where its descriptor is, and the first
        // address it covers.
        let mut current: Option<(u64, Slot, u64)> = None;
        for (i, &pa) in frames.iter().enumerate() {
            let v = start + i as u64 * PAGE_SIZE;
            let (table, slot) = match current {
                Some((t, slot, base)) if v - base < level_size(2) => (t, slot),
                _ => {
                    let Some((t, slot)) = self.walk_create(mem, v, 3) else {
                        if v > start {
                            self.clear_range(mem, self.root, 0, 0, start, v);
                        }
                        return Err(MapError::OutOfMemory);
                    };
                    current = Some((t, slot, v & !(level_size(2) - 1)));
                    (t, slot)
                }
            };
            mem.write(table, level_index(v, 3), pte::page(pa, perm, mem_type));
            count_up(mem, slot, 1);
        }
        Ok(())
    }

    /// Remove every mapping in `[va, va + len)`. The whole range must be mapped,
    /// and no block mapping may stick out of it. Tables left empty are freed.
    pub fn unmap(&mut self, mem: &mut impl TableMemory, va: u64, len: u64) -> Result<(), MapError> {
        let (start, end) = check_range(va, len)?;
        self.check_unmappable(mem, self.root, 0, 0, start, end, false)?;
        self.clear_range(mem, self.root, 0, 0, start, end);
        Ok(())
    }

    /// Remove whatever is mapped in `[va, va + len)`, skipping holes (for
    /// regions whose pages are populated on demand). Block mappings may still
    /// not stick out of the range.
    pub fn unmap_present(&mut self, mem: &mut impl TableMemory, va: u64, len: u64) -> Result<(), MapError> {
        let (start, end) = check_range(va, len)?;
        self.check_unmappable(mem, self.root, 0, 0, start, end, true)?;
        self.clear_range(mem, self.root, 0, 0, start, end);
        Ok(())
    }

    /// Change the permissions of every mapping in `[va, va + len)`, which must
    /// all be mapped, with no block sticking out of the range.
    pub fn protect(&mut self, mem: &mut impl TableMemory, va: u64, len: u64, perm: Perm) -> Result<(), MapError> {
        self.protect_inner(mem, va, len, perm, false)
    }

    /// Like [`PageTable::protect`], skipping holes.
    pub fn protect_present(
        &mut self,
        mem: &mut impl TableMemory,
        va: u64,
        len: u64,
        perm: Perm,
    ) -> Result<(), MapError> {
        self.protect_inner(mem, va, len, perm, true)
    }

    fn protect_inner(
        &mut self,
        mem: &mut impl TableMemory,
        va: u64,
        len: u64,
        perm: Perm,
        holes: bool,
    ) -> Result<(), MapError> {
        let (start, end) = check_range(va, len)?;
        self.check_unmappable(mem, self.root, 0, 0, start, end, holes)?;
        Self::protect_range(mem, self.root, 0, 0, start, end, perm);
        Ok(())
    }

    /// Rewrite the leaves in `[start, end)` below `table` with `perm`. Holes
    /// are skipped a whole table entry at a time, so a huge, sparsely
    /// populated region costs what is mapped, not what it spans.
    fn protect_range(
        mem: &mut impl TableMemory,
        table: u64,
        level: usize,
        base: u64,
        start: u64,
        end: u64,
        perm: Perm,
    ) {
        for (i, lo, _) in Self::overlap(level, base, start, end) {
            let e = mem.read(table, i);
            if is_table(e, level) {
                Self::protect_range(mem, pte::output_addr(e), level + 1, lo, start, end, perm);
            } else if is_valid(e) {
                let (pa, mt) = (pte::output_addr(e), pte::mem_type_of(e));
                mem.write(table, i, if level == 3 { pte::page(pa, perm, mt) } else { pte::block(pa, perm, mt) });
            }
        }
    }

    /// Where `va` maps to, if anywhere.
    pub fn translate(&self, mem: &impl TableMemory, va: u64) -> Option<Translation> {
        if check_range(va & !(PAGE_SIZE - 1), PAGE_SIZE).is_err() {
            return None;
        }
        let (_, level, desc) = self.walk(mem, va & VA_MASK)?;
        let size = level_size(level);
        Some(Translation {
            pa: pte::output_addr(desc) + (va & (size - 1)),
            perm: pte::perm_of(desc),
            mem: pte::mem_type_of(desc),
            size,
        })
    }

    /// The physical memory the tree uses and maps, found by walking every
    /// table from the root (not from the list of tables in use, so that the
    /// two can be checked against each other).
    pub fn usage(&self, mem: &impl TableMemory) -> Usage {
        let mut u = Usage { table_pages: 1, mapped_bytes: 0, pages: 0, blocks: 0 };
        self.usage_of(mem, self.root, 0, &mut u);
        u
    }

    fn usage_of(&self, mem: &impl TableMemory, table: u64, level: usize, u: &mut Usage) {
        let mut i = 0;
        while let Some(k) = mem.next_nonzero(table, i, ENTRIES) {
            i = k + 1;
            let e = mem.read(table, k);
            if !is_valid(e) || level == 0 && !is_table(e, 0) {
                continue;
            }
            if is_table(e, level) {
                u.table_pages += 1;
                self.usage_of(mem, pte::output_addr(e), level + 1, u);
            } else {
                u.mapped_bytes += level_size(level);
                if level == 3 {
                    u.pages += 1;
                } else {
                    u.blocks += 1;
                }
            }
        }
    }

    /// Remove every mapping at once: the root is emptied, `flush` runs (the
    /// caller's TLB invalidation: no walker may still use the old tables),
    /// then the tables below the root are freed, from the list of tables in
    /// use: no walk at all.
    pub fn clear_all(&mut self, mem: &mut impl TableMemory, flush: impl FnOnce()) {
        mem.zero_table(self.root);
        flush();
        for t in self.tables.drain(..) {
            mem.free_table(t);
        }
    }

    /// Free every table page of the tree (not the memory it maps).
    pub fn destroy(mut self, mem: &mut impl TableMemory) {
        for t in self.tables.drain(..) {
            mem.free_table(t);
        }
        mem.free_table(self.root);
    }

    /// The deepest level at which one entry can map `v -> p` within `remaining`.
    fn leaf_level(v: u64, p: u64, remaining: u64, gran: Granularity) -> usize {
        if gran == Granularity::Blocks {
            for level in 1..3 {
                let size = level_size(level);
                if v.is_multiple_of(size) && p.is_multiple_of(size) && remaining >= size {
                    return level;
                }
            }
        }
        3
    }

    /// The leaf entry for `v`: (table, level, descriptor).
    fn walk(&self, mem: &impl TableMemory, v: u64) -> Option<(u64, usize, u64)> {
        let mut table = self.root;
        for level in 0..4 {
            let e = mem.read(table, level_index(v, level));
            if !is_valid(e) {
                return None;
            }
            if !is_table(e, level) {
                // Blocks exist only at levels 1 and 2; a "block" at level 0 is invalid.
                return if level == 0 { None } else { Some((table, level, e)) };
            }
            table = pte::output_addr(e);
        }
        None
    }

    /// The table at `level` that holds the entry for `v` and where its
    /// descriptor is, creating tables on the way (each counted in its
    /// parent's descriptor). The caller counts the entry it writes.
    fn walk_create(&mut self, mem: &mut impl TableMemory, v: u64, level: usize) -> Option<(u64, Slot)> {
        let mut table = self.root;
        let mut slot: Slot = None;
        for l in 0..level {
            let idx = level_index(v, l);
            let e = mem.read(table, idx);
            let next = if is_table(e, l) {
                pte::output_addr(e)
            } else {
                let t = mem.alloc_table()?;
                self.tables.push(t);
                mem.write(table, idx, pte::table(t));
                count_up(mem, slot, 1);
                t
            };
            slot = Some((table, idx));
            table = next;
        }
        Some((table, slot))
    }

    /// First and last index of the entries of a table at `level` (covering
    /// VAs from `base`) that overlap `[start, end)`.
    fn overlap_indices(level: usize, base: u64, start: u64, end: u64) -> (usize, usize) {
        let size = level_size(level);
        let first = if start > base { ((start - base) / size) as usize } else { 0 };
        let last = (((end - 1).saturating_sub(base)) / size).min(ENTRIES as u64 - 1) as usize;
        (first, last)
    }

    /// The entries of a table at `level` (covering VAs from `base`) that overlap `[start, end)`.
    #[inline(always)]
    fn overlap(level: usize, base: u64, start: u64, end: u64) -> impl Iterator<Item = (usize, u64, u64)> {
        let size = level_size(level);
        let (first, last) = Self::overlap_indices(level, base, start, end);
        (first..=last).map(move |i| {
            let lo = base + i as u64 * size;
            (i, lo, lo + size)
        })
    }

    fn any_mapped(&self, mem: &impl TableMemory, table: u64, level: usize, base: u64, start: u64, end: u64) -> bool {
        Self::overlap(level, base, start, end).any(|(i, lo, _)| {
            let e = mem.read(table, i);
            if is_table(e, level) {
                self.any_mapped(mem, pte::output_addr(e), level + 1, lo, start, end)
            } else {
                is_valid(e)
            }
        })
    }

    #[allow(clippy::too_many_arguments)] // a recursion over the tree and the range
    fn check_unmappable(
        &self,
        mem: &impl TableMemory,
        table: u64,
        level: usize,
        base: u64,
        start: u64,
        end: u64,
        holes: bool,
    ) -> Result<(), MapError> {
        // With holes allowed, a level 3 table (pages only, never a block
        // sticking out) has nothing that could refuse the operation.
        if holes && level == 3 {
            return Ok(());
        }
        for (i, lo, hi) in Self::overlap(level, base, start, end) {
            let e = mem.read(table, i);
            if is_table(e, level) {
                self.check_unmappable(mem, pte::output_addr(e), level + 1, lo, start, end, holes)?;
            } else if !is_valid(e) {
                if !holes {
                    return Err(MapError::NotMapped);
                }
            } else if level == 0 {
                return Err(MapError::NotMapped);
            } else if lo < start || hi > end {
                return Err(MapError::SplitBlock);
            }
        }
        Ok(())
    }

    /// Clear leaves in `[start, end)` below `table`; free tables that become
    /// empty (their descriptors' counts tell). Returns how many entries of
    /// `table` itself were cleared.
    fn clear_range(
        &mut self,
        mem: &mut impl TableMemory,
        table: u64,
        level: usize,
        base: u64,
        start: u64,
        end: u64,
    ) -> u64 {
        let mut cleared = 0;
        if level == 3 {
            // Pages only: visit just the entries in use (a big, sparsely
            // touched region is mostly zero entries, skipped eight at a time).
            let (first, last) = Self::overlap_indices(level, base, start, end);
            let mut from = first;
            while let Some(i) = mem.next_nonzero(table, from, last + 1) {
                mem.write(table, i, 0);
                cleared += 1;
                from = i + 1;
            }
            return cleared;
        }
        for (i, lo, _) in Self::overlap(level, base, start, end) {
            let e = mem.read(table, i);
            if is_table(e, level) {
                let child = pte::output_addr(e);
                let gone = self.clear_range(mem, child, level + 1, lo, start, end);
                if gone == 0 {
                    continue;
                }
                let left = count_of(e).saturating_sub(gone);
                if left == 0 {
                    mem.write(table, i, 0);
                    self.forget_table(child);
                    mem.free_table(child);
                    cleared += 1;
                } else {
                    mem.write(table, i, with_count(e, left));
                }
            } else if is_valid(e) {
                mem.write(table, i, 0);
                cleared += 1;
            }
        }
        cleared
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Table pages in a map keyed by fake physical address.
    struct MockMemory {
        tables: BTreeMap<u64, Box<[u64; ENTRIES]>>,
        next: u64,
        limit: usize,
        allocated: usize,
    }

    impl MockMemory {
        fn new(limit: usize) -> Self {
            MockMemory { tables: BTreeMap::new(), next: 0x8000_0000, limit, allocated: 0 }
        }
    }

    impl TableMemory for MockMemory {
        fn alloc_table(&mut self) -> Option<u64> {
            if self.tables.len() >= self.limit {
                return None;
            }
            let pa = self.next;
            self.next += PAGE_SIZE;
            self.tables.insert(pa, Box::new([0; ENTRIES]));
            self.allocated += 1;
            Some(pa)
        }
        fn free_table(&mut self, table: u64) {
            self.tables.remove(&table).expect("double free of a table page");
        }
        fn read(&self, table: u64, index: usize) -> u64 {
            self.tables[&table][index]
        }
        fn write(&mut self, table: u64, index: usize, value: u64) {
            self.tables.get_mut(&table).expect("write to a freed table")[index] = value;
        }
    }

    /// Every table descriptor's count equals the non-zero entries of the
    /// table it points to.
    fn check_counts(mem: &MockMemory, table: u64, level: usize) {
        for i in 0..ENTRIES {
            let e = mem.read(table, i);
            if is_table(e, level) {
                let child = pte::output_addr(e);
                let used = (0..ENTRIES).filter(|&j| mem.read(child, j) != 0).count() as u64;
                assert_eq!(count_of(e), used, "count of the level {} table at {child:#x}", level + 1);
                assert!(used > 0, "an empty table was kept");
                check_counts(mem, child, level + 1);
            }
        }
    }

    const RW: Perm = Perm::USER_RW;
    const N: MemType = MemType::Normal;

    #[test]
    fn map_translate_unmap_one_page() {
        let mut m = MockMemory::new(100);
        let mut pt = PageTable::new(&mut m).unwrap();
        pt.map(&mut m, 0x40_0000, 0x8765_4000, PAGE_SIZE, RW, N, Granularity::Pages).unwrap();
        let t = pt.translate(&m, 0x40_0123).unwrap();
        assert_eq!(t.pa, 0x8765_4123);
        assert_eq!(t.perm, RW);
        assert_eq!(t.size, PAGE_SIZE);
        assert_eq!(m.tables.len(), 4);
        pt.unmap(&mut m, 0x40_0000, PAGE_SIZE).unwrap();
        assert_eq!(pt.translate(&m, 0x40_0000), None);
        assert_eq!(m.tables.len(), 1, "intermediate tables freed");
        pt.destroy(&mut m);
        assert!(m.tables.is_empty());
    }

    #[test]
    fn map_frames_maps_each_page_to_its_frame() {
        let mut mem = MockMemory::new(64);
        let mut pt = PageTable::new(&mut mem).unwrap();
        // Scattered frames, crossing a level 3 table boundary (2 MiB).
        let va = 0x4000_0000 + 0x20_0000 - 3 * PAGE_SIZE;
        let frames: Vec<u64> = (0..6).map(|i| 0x9000_0000 + (5 - i) * 0x10_000).collect();
        pt.map_frames(&mut mem, va, &frames, Perm::USER_RW, MemType::Normal).unwrap();
        for (i, pa) in frames.iter().enumerate() {
            assert_eq!(pt.translate(&mem, va + i as u64 * PAGE_SIZE).unwrap().pa, *pa);
        }
        assert_eq!(
            pt.map_frames(&mut mem, va + PAGE_SIZE, &[0x1000], Perm::USER_RW, MemType::Normal),
            Err(MapError::AlreadyMapped)
        );
        assert_eq!(
            pt.map_frames(&mut mem, 0x1000, &[0x1001], Perm::USER_RW, MemType::Normal),
            Err(MapError::Misaligned)
        );
        // Out of table pages halfway: nothing of the call stays mapped.
        let mut small = MockMemory::new(4);
        let mut pt2 = PageTable::new(&mut small).unwrap();
        assert_eq!(pt2.map_frames(&mut small, va, &frames, Perm::USER_RW, MemType::Normal), Err(MapError::OutOfMemory));
        assert!(pt2.translate(&small, va).is_none());
        assert_eq!(small.tables.len(), 1, "tables made for the failed call were freed");
    }

    #[test]
    fn clear_all_unmaps_everything_and_frees_the_tables() {
        let mut mem = MockMemory::new(64);
        let mut pt = PageTable::new(&mut mem).unwrap();
        for va in [0x40_0000u64, 0x4000_0000_0000, 0x5000_0000_0000 - 0x1000] {
            pt.map(&mut mem, va, 0x8000_0000, PAGE_SIZE, Perm::USER_RW, MemType::Normal, Granularity::Pages).unwrap();
        }
        let mut flushed = false;
        pt.clear_all(&mut mem, || flushed = true);
        assert!(flushed);
        assert!(pt.translate(&mem, 0x40_0000).is_none() && pt.translate(&mem, 0x4000_0000_0000).is_none());
        assert_eq!(mem.tables.len(), 1, "only the root is left");
        pt.map(&mut mem, 0x40_0000, 0x8000_0000, PAGE_SIZE, Perm::USER_RW, MemType::Normal, Granularity::Pages)
            .unwrap();
        pt.destroy(&mut mem);
        assert!(mem.tables.is_empty());
    }

    #[test]
    fn refuses_bad_ranges() {
        let mut m = MockMemory::new(100);
        let mut pt = PageTable::new(&mut m).unwrap();
        let map =
            |pt: &mut PageTable, m: &mut MockMemory, va, pa, len| pt.map(m, va, pa, len, RW, N, Granularity::Pages);
        assert_eq!(map(&mut pt, &mut m, 0x1001, 0, PAGE_SIZE), Err(MapError::Misaligned));
        assert_eq!(map(&mut pt, &mut m, 0x1000, 0x10, PAGE_SIZE), Err(MapError::Misaligned));
        assert_eq!(map(&mut pt, &mut m, 0x1000, 0, 0), Err(MapError::Misaligned));
        assert_eq!(map(&mut pt, &mut m, 0x0001_0000_0000_0000, 0, PAGE_SIZE), Err(MapError::OutOfRange));
        assert_eq!(map(&mut pt, &mut m, (1 << 48) - PAGE_SIZE, 0, 2 * PAGE_SIZE), Err(MapError::OutOfRange));
        assert_eq!(map(&mut pt, &mut m, !0xFFF, 0, 2 * PAGE_SIZE), Err(MapError::OutOfRange));
        assert_eq!(map(&mut pt, &mut m, 0x1000, !0xFFF, 2 * PAGE_SIZE), Err(MapError::OutOfRange));
        assert_eq!(pt.unmap(&mut m, 0x1000, PAGE_SIZE), Err(MapError::NotMapped));
        assert_eq!(m.tables.len(), 1, "refused calls allocate nothing");
    }

    #[test]
    fn overlapping_map_changes_nothing() {
        let mut m = MockMemory::new(100);
        let mut pt = PageTable::new(&mut m).unwrap();
        pt.map(&mut m, 0x5000, 0x10_5000, PAGE_SIZE, RW, N, Granularity::Pages).unwrap();
        let before = m.tables.len();
        assert_eq!(
            pt.map(&mut m, 0x1000, 0x20_0000, 8 * PAGE_SIZE, RW, N, Granularity::Pages),
            Err(MapError::AlreadyMapped)
        );
        assert_eq!(m.tables.len(), before);
        assert_eq!(pt.translate(&m, 0x1000), None);
        assert_eq!(pt.translate(&m, 0x5000).unwrap().pa, 0x10_5000);
    }

    #[test]
    fn upper_half_addresses_use_the_same_tree() {
        let mut m = MockMemory::new(100);
        let mut pt = PageTable::new(&mut m).unwrap();
        let va = 0xFFFF_0000_4020_0000;
        pt.map(&mut m, va, 0x4020_0000, 4 * PAGE_SIZE, Perm::KERNEL_RX, N, Granularity::Pages).unwrap();
        assert_eq!(pt.translate(&m, va + 0x3004).unwrap().pa, 0x4020_3004);
        assert_eq!(pt.translate(&m, 0x4020_0000), Some(pt.translate(&m, va).unwrap()), "indexing ignores the top bits");
        assert_eq!(pt.translate(&m, 0xFFFE_0000_4020_0000), None, "non-canonical");
    }

    #[test]
    fn blocks_are_used_when_aligned() {
        let mut m = MockMemory::new(100);
        let mut pt = PageTable::new(&mut m).unwrap();
        // 1 GiB + 2 MiB + 4 KiB starting at a 1 GiB boundary.
        let len = (1 << 30) + (2 << 20) + PAGE_SIZE;
        pt.map(&mut m, 0x4000_0000, 0x4000_0000, len, Perm::KERNEL_RW, N, Granularity::Blocks).unwrap();
        assert_eq!(pt.translate(&m, 0x4000_0000).unwrap().size, 1 << 30);
        assert_eq!(pt.translate(&m, 0x8000_0000).unwrap().size, 2 << 20);
        assert_eq!(pt.translate(&m, 0x8020_0000).unwrap().size, PAGE_SIZE);
        assert_eq!(pt.translate(&m, 0x8020_1000), None);
        // Part of a block cannot be unmapped or reprotected.
        assert_eq!(pt.unmap(&mut m, 0x4000_0000, PAGE_SIZE), Err(MapError::SplitBlock));
        assert_eq!(pt.protect(&mut m, 0x8000_0000, PAGE_SIZE, Perm::KERNEL_RO), Err(MapError::SplitBlock));
        pt.unmap(&mut m, 0x4000_0000, len).unwrap();
        assert_eq!(m.tables.len(), 1);
    }

    #[test]
    fn protect_changes_permissions_only() {
        let mut m = MockMemory::new(100);
        let mut pt = PageTable::new(&mut m).unwrap();
        pt.map(&mut m, 0x10_0000, 0x20_0000, 3 * PAGE_SIZE, RW, N, Granularity::Pages).unwrap();
        pt.protect(&mut m, 0x10_1000, PAGE_SIZE, Perm::USER_RO).unwrap();
        assert_eq!(pt.translate(&m, 0x10_0000).unwrap().perm, RW);
        let t = pt.translate(&m, 0x10_1000).unwrap();
        assert_eq!((t.pa, t.perm), (0x20_1000, Perm::USER_RO));
        assert_eq!(pt.protect(&mut m, 0x10_3000, PAGE_SIZE, RW), Err(MapError::NotMapped));
    }

    #[test]
    fn present_variants_skip_holes() {
        let mut m = MockMemory::new(100);
        let mut pt = PageTable::new(&mut m).unwrap();
        pt.map(&mut m, 0x1000, 0x9000, PAGE_SIZE, RW, N, Granularity::Pages).unwrap();
        pt.map(&mut m, 0x3000, 0xA000, PAGE_SIZE, RW, N, Granularity::Pages).unwrap();
        assert_eq!(pt.protect(&mut m, 0x1000, 3 * PAGE_SIZE, Perm::USER_RO), Err(MapError::NotMapped));
        pt.protect_present(&mut m, 0x1000, 3 * PAGE_SIZE, Perm::USER_RO).unwrap();
        assert_eq!(pt.translate(&m, 0x3000).unwrap().perm, Perm::USER_RO);
        assert_eq!(pt.unmap(&mut m, 0x1000, 3 * PAGE_SIZE), Err(MapError::NotMapped));
        pt.unmap_present(&mut m, 0x1000, 3 * PAGE_SIZE).unwrap();
        assert!(pt.translate(&m, 0x1000).is_none() && pt.translate(&m, 0x3000).is_none());
        assert_eq!(m.tables.len(), 1);
        pt.unmap_present(&mut m, 0x1000, 3 * PAGE_SIZE).unwrap();
    }

    #[test]
    fn out_of_memory_rolls_back() {
        // Root + L1 + L2 + one L3 fit; the second L3 table (next 2 MiB) does not.
        let mut m = MockMemory::new(4);
        let mut pt = PageTable::new(&mut m).unwrap();
        let r = pt.map(&mut m, 0x1F_F000, 0x1000, 2 * PAGE_SIZE, RW, N, Granularity::Pages);
        assert_eq!(r, Err(MapError::OutOfMemory));
        assert_eq!(pt.translate(&m, 0x1F_F000), None);
        assert_eq!(m.tables.len(), 1, "rollback freed the tables it made");
    }

    #[test]
    fn unmap_requires_whole_range_mapped() {
        let mut m = MockMemory::new(100);
        let mut pt = PageTable::new(&mut m).unwrap();
        pt.map(&mut m, 0x1000, 0x1000, PAGE_SIZE, RW, N, Granularity::Pages).unwrap();
        assert_eq!(pt.unmap(&mut m, 0x1000, 2 * PAGE_SIZE), Err(MapError::NotMapped));
        assert!(pt.translate(&m, 0x1000).is_some(), "refused unmap changed nothing");
    }

    #[test]
    fn usage_walks_the_whole_tree() {
        let mut mem = MockMemory::new(10_000);
        let mut pt = PageTable::new(&mut mem).unwrap();
        assert_eq!(pt.usage(&mem), Usage { table_pages: 1, mapped_bytes: 0, pages: 0, blocks: 0 });
        // One page: a table at each of levels 1-3 below the root.
        pt.map(&mut mem, 0x4000_0000, 0x9000_0000, PAGE_SIZE, Perm::USER_RW, MemType::Normal, Granularity::Pages)
            .unwrap();
        assert_eq!(pt.usage(&mem), Usage { table_pages: 4, mapped_bytes: PAGE_SIZE, pages: 1, blocks: 0 });
        // 600 pages from there spill into a second level 3 table.
        pt.map(&mut mem, 0x4000_1000, 0x9000_1000, 600 * PAGE_SIZE, Perm::USER_RW, MemType::Normal, Granularity::Pages)
            .unwrap();
        let u = pt.usage(&mem);
        assert_eq!((u.table_pages, u.pages, u.mapped_bytes), (5, 601, 601 * PAGE_SIZE));
        // A 2 MiB-aligned 5 MiB range in blocks: two 2 MiB blocks and 256 pages.
        pt.map(&mut mem, 0x8020_0000, 0xA000_0000, 5 << 20, Perm::KERNEL_RW, MemType::Normal, Granularity::Blocks)
            .unwrap();
        let u = pt.usage(&mem);
        assert_eq!((u.blocks, u.pages, u.mapped_bytes), (2, 601 + 256, (601 + 256) * PAGE_SIZE + (4 << 20)));
        assert_eq!(u.table_pages, 1 + pt.table_count() as u64, "the walk and the list of tables agree");
        assert_eq!(u.table_pages, mem.tables.len() as u64, "every allocated table is reachable");
        pt.unmap(&mut mem, 0x4000_0000, 601 * PAGE_SIZE).unwrap();
        pt.unmap(&mut mem, 0x8020_0000, 5 << 20).unwrap();
        assert_eq!(pt.usage(&mem), Usage { table_pages: 1, mapped_bytes: 0, pages: 0, blocks: 0 });
    }

    #[test]
    fn counts_stay_exact_under_runs_blocks_and_range_unmaps() {
        // Runs of pages across level 3 table boundaries (map_frames), 2 MiB
        // blocks, and unmaps of ranges with holes; after each step every
        // descriptor's count is checked, and at the end nothing leaks.
        let mut m = MockMemory::new(10_000);
        let mut pt = PageTable::new(&mut m).unwrap();
        let mut rng = crate::testing::XorShift(0xC0FF_EE00_1234_5678);
        let base = 0x4000_0000u64;
        let window = 8 * level_size(2);
        let (mut mapped, mut unmapped) = (0, 0);
        for _ in 0..2000 {
            let x = rng.next_u64();
            let va = base + (x % (window / PAGE_SIZE)) * PAGE_SIZE;
            let len = ((1 + (x >> 20) % 96) * PAGE_SIZE).min(base + window - va);
            let ok = match (x >> 40) % 8 {
                0..=3 => {
                    let frames: Vec<u64> = (0..len / PAGE_SIZE).map(|i| 0x8000_0000 + i * PAGE_SIZE).collect();
                    pt.map_frames(&mut m, va, &frames, RW, N).is_ok()
                }
                4 => {
                    let blk = va & !(level_size(2) - 1);
                    pt.map(&mut m, blk, 0x4000_0000, level_size(2), RW, N, Granularity::Blocks).is_ok()
                }
                5 => {
                    // Whole 2 MiB slots: blocks go too.
                    let blk = va & !(level_size(2) - 1);
                    pt.unmap_present(
                        &mut m,
                        blk,
                        level_size(2) * (1 + (x >> 50) % 2).min((base + window - blk) / level_size(2)),
                    )
                    .is_ok()
                }
                _ => pt.unmap_present(&mut m, va, len).is_ok(),
            };
            if ok && (x >> 40) % 8 < 5 {
                mapped += 1;
            } else if ok {
                unmapped += 1;
            }
            check_counts(&m, pt.root(), 0);
            assert_eq!(pt.table_count() + 1, m.tables.len());
        }
        assert!(mapped > 200 && unmapped > 200, "the mix exercised both ({mapped} maps, {unmapped} unmaps)");
        pt.unmap_present(&mut m, base, window).unwrap();
        assert_eq!(m.tables.len(), 1, "every table freed once its last entry went");
        pt.destroy(&mut m);
        assert!(m.tables.is_empty());
    }

    #[test]
    fn random_maps_and_unmaps_agree_with_a_model() {
        // A seeded xorshift drives map/unmap of single pages; a BTreeMap is the model.
        let mut m = MockMemory::new(10_000);
        let mut pt = PageTable::new(&mut m).unwrap();
        let mut model = BTreeMap::new();
        let mut rng = crate::testing::XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..5000 {
            let x = rng.next_u64();
            // Spread pages over a few tables at different levels.
            let va = ((x % 64) << 12) | (((x >> 8) % 4) << 30) | (((x >> 16) % 2) << 39);
            let pa = (x >> 20) & 0xF_FFFF_F000;
            if let std::collections::btree_map::Entry::Vacant(e) = model.entry(va) {
                pt.map(&mut m, va, pa, PAGE_SIZE, RW, N, Granularity::Pages).unwrap();
                e.insert(pa);
            } else {
                pt.unmap(&mut m, va, PAGE_SIZE).unwrap();
                model.remove(&va);
            }
            assert_eq!(pt.table_count() + 1, m.tables.len(), "the list of tables in use is exact");
            if x.is_multiple_of(16) {
                check_counts(&m, pt.root(), 0);
            }
        }
        for (&va, &pa) in &model {
            assert_eq!(pt.translate(&m, va).unwrap().pa, pa);
        }
        for va in model.keys().copied().collect::<Vec<_>>() {
            pt.unmap(&mut m, va, PAGE_SIZE).unwrap();
        }
        assert_eq!(m.tables.len(), 1);
        pt.destroy(&mut m);
        assert!(m.tables.is_empty());
        assert!(m.allocated > 10);
    }
}
