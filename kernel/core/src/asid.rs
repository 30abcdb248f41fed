//! Address space identifiers: which ASIDs are in use.
//!
//! A user page table's TLB entries are tagged with its ASID, so switching
//! address spaces needs no TLB flush, and every live address space needs an
//! ASID of its own. The architecture offers 8 or 16 bits of them
//! (ID_AA64MMFR0_EL1.ASIDBits, ARM ARM D19.2.64; TCR_EL1.AS selects 16):
//! 255 or 65,535 address spaces at once, ASID 0 being kept for none. With 16
//! bits the ASIDs outlast everything else a process needs (kernel heap,
//! memory), so a plain bitmap does; with 8 they are the first thing to run
//! out, and an exhausted allocator says so (`None`) instead of recycling.
//!
//! Allocation is next-fit: the search starts after the last ASID handed
//! out, so the common case looks at one word, and a freed ASID is not given
//! out again until the allocator has gone round once (its TLB entries are
//! flushed when it is freed in any case).

/// The most ASIDs any configuration has (16 bits).
pub const MAX_ASIDS: usize = 1 << 16;
const WORDS: usize = MAX_ASIDS / 64;

/// The set of ASIDs in use.
#[derive(Debug)]
pub struct Asids {
    used: [u64; WORDS],
    /// ASIDs that exist: 256 or 65,536.
    limit: usize,
    /// Where the next search starts.
    next: usize,
    in_use: usize,
}

impl Default for Asids {
    fn default() -> Self {
        Asids::new()
    }
}

impl Asids {
    /// An allocator of 8-bit ASIDs, none in use. ASID 0 is never handed
    /// out (it tags nothing: the kernel's mappings are global).
    pub const fn new() -> Asids {
        let mut used = [0; WORDS];
        used[0] = 1;
        Asids { used, limit: 1 << 8, next: 1, in_use: 0 }
    }

    /// Use `bits` (8 or 16, what the CPU offers and TCR_EL1.AS selected)
    /// bits of ASID. Only widening is allowed: narrowing would strand ASIDs
    /// already handed out.
    pub fn set_bits(&mut self, bits: u32) {
        if bits == 16 {
            self.limit = MAX_ASIDS;
        }
    }

    /// How many ASIDs exist (including the reserved 0).
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// ASIDs handed out and not freed.
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// A free ASID, or `None` when all are in use.
    pub fn alloc(&mut self) -> Option<u16> {
        let words = self.limit / 64;
        let start = self.next.min(self.limit - 1);
        // From `start` to the end, then from the beginning to `start`: the
        // first word is visited twice, masked differently each time.
        for k in 0..=words {
            let w = (start / 64 + k) % words;
            let mut free = !self.used[w];
            if k == 0 {
                free &= u64::MAX << (start % 64);
            } else if k == words {
                free &= !(u64::MAX << (start % 64));
            }
            if free != 0 {
                let bit = free.trailing_zeros() as usize;
                self.used[w] |= 1 << bit;
                let asid = w * 64 + bit;
                self.next = if asid + 1 >= self.limit { 1 } else { asid + 1 };
                self.in_use += 1;
                return u16::try_from(asid).ok();
            }
        }
        None
    }

    /// Give `asid` back. Freeing one that is not in use (or 0) changes nothing.
    pub fn free(&mut self, asid: u16) {
        let a = usize::from(asid);
        if a == 0 || a >= self.limit {
            return;
        }
        let bit = 1u64 << (a % 64);
        if self.used[a / 64] & bit != 0 {
            self.used[a / 64] &= !bit;
            self.in_use -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn eight_bits_give_255_and_then_none() {
        let mut a = Asids::new();
        let got: BTreeSet<u16> = (0..255).map(|_| a.alloc().expect("an ASID")).collect();
        assert_eq!(got.len(), 255, "all distinct");
        assert!(!got.contains(&0), "ASID 0 is never handed out");
        assert_eq!(*got.iter().max().unwrap(), 255);
        assert_eq!(a.alloc(), None);
        a.free(77);
        assert_eq!(a.alloc(), Some(77), "a freed ASID comes back when it is the only one");
        assert_eq!(a.alloc(), None);
    }

    #[test]
    fn sixteen_bits_give_65535() {
        let mut a = Asids::new();
        a.set_bits(16);
        for i in 1..MAX_ASIDS {
            assert_eq!(a.alloc(), Some(i as u16));
        }
        assert_eq!(a.in_use(), MAX_ASIDS - 1);
        assert_eq!(a.alloc(), None);
        a.free(65535);
        a.free(3);
        assert_eq!(a.alloc(), Some(3), "after the top, the search goes round");
        assert_eq!(a.alloc(), Some(65535));
        assert_eq!(a.alloc(), None);
    }

    #[test]
    fn widening_keeps_what_was_handed_out() {
        let mut a = Asids::new();
        let first: Vec<u16> = (0..255).map(|_| a.alloc().unwrap()).collect();
        a.set_bits(16);
        assert_eq!(a.alloc(), Some(256));
        a.set_bits(8);
        assert_eq!(a.limit(), MAX_ASIDS, "narrowing is refused");
        for x in first {
            a.free(x);
        }
        assert_eq!(a.in_use(), 1);
    }

    #[test]
    fn freeing_what_is_not_in_use_changes_nothing() {
        let mut a = Asids::new();
        a.free(0);
        a.free(5);
        a.free(u16::MAX);
        assert_eq!(a.in_use(), 0);
        assert_eq!(a.alloc(), Some(1));
        a.free(1);
        a.free(1);
        assert_eq!(a.in_use(), 0);
    }

    /// Random allocations and frees against a model set: never a duplicate,
    /// never 0, never past the limit, and `None` only when all are taken.
    #[test]
    fn random_use_matches_a_model() {
        for bits in [8, 16] {
            let mut a = Asids::new();
            a.set_bits(bits);
            let limit = a.limit();
            let mut model = BTreeSet::new();
            let mut live: Vec<u16> = Vec::new();
            let mut rng = crate::testing::XorShift(0x9E37_79B9_7F4A_7C15 ^ u64::from(bits));
            for _ in 0..200_000 {
                if !rng.next_u64().is_multiple_of(3) || live.is_empty() {
                    match a.alloc() {
                        Some(x) => {
                            assert!(x != 0 && usize::from(x) < limit);
                            assert!(model.insert(x), "ASID {x} handed out twice");
                            live.push(x);
                        }
                        None => assert_eq!(model.len(), limit - 1, "refused with some free"),
                    }
                } else {
                    let x = live.swap_remove((rng.next_u64() % live.len() as u64) as usize);
                    model.remove(&x);
                    a.free(x);
                }
                assert_eq!(a.in_use(), model.len());
            }
        }
    }
}
