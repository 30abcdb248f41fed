//! ARM ATAGs: the older boot protocol a Raspberry Pi's firmware may use.
//!
//! Without a device tree the firmware leaves a tag list (conventionally at
//! 0x100) describing RAM. Each tag is `{size in words, tag id, data...}`,
//! the list starts with ATAG_CORE and ends with ATAG_NONE (Linux
//! Documentation/arch/arm/booting.rst and `asm/setup.h` define the ids).

use crate::mm::region::{Region, RegionSet};

/// First tag of a list.
pub const ATAG_CORE: u32 = 0x5441_0001;
/// A RAM range: `{size, start}`.
pub const ATAG_MEM: u32 = 0x5441_0002;
/// End of the list.
pub const ATAG_NONE: u32 = 0;

/// RAM described by a tag list in `bytes`, or `None` if `bytes` does not hold
/// a well-formed list (wrong first tag, a tag running past the buffer, no end).
pub fn memory<const N: usize>(bytes: &[u8]) -> Option<RegionSet<N>> {
    let word = |i: usize| -> Option<u32> {
        let b = bytes.get(i * 4..i * 4 + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if word(1)? != ATAG_CORE {
        return None;
    }
    let mut set = RegionSet::new();
    let mut at = 0usize;
    loop {
        let size = word(at)? as usize;
        let tag = word(at + 1)?;
        if tag == ATAG_NONE {
            return if set.is_empty() { None } else { Some(set) };
        }
        // A tag is at least its two-word header; a shorter size would loop forever.
        if size < 2 {
            return None;
        }
        if tag == ATAG_MEM && size >= 4 {
            let len = word(at + 2)? as u64;
            let start = word(at + 3)? as u64;
            set.insert(Region::new(start, len)).ok()?;
        }
        at = at.checked_add(size)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(ws: &[u32]) -> Vec<u8> {
        ws.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn reads_memory_tags() {
        let list = words(&[5, ATAG_CORE, 0, 4096, 0, 4, ATAG_MEM, 0x3B40_0000, 0, 0, ATAG_NONE]);
        let set: RegionSet<4> = memory(&list).unwrap();
        assert_eq!(set.total(), 0x3B40_0000);
    }

    #[test]
    fn rejects_malformed_lists() {
        assert!(memory::<4>(&[]).is_none());
        assert!(memory::<4>(&words(&[2, 0x1234, 0, 0])).is_none(), "no ATAG_CORE");
        assert!(memory::<4>(&words(&[2, ATAG_CORE, 4, ATAG_MEM, 0x1000])).is_none(), "runs off the end");
        assert!(memory::<4>(&words(&[2, ATAG_CORE, 0, 0x99])).is_none(), "zero-size tag");
        assert!(memory::<4>(&words(&[2, ATAG_CORE, 0, ATAG_NONE])).is_none(), "no memory");
        assert!(memory::<4>(&words(&[2, ATAG_CORE, u32::MAX, 7])).is_none(), "huge size");
    }
}
