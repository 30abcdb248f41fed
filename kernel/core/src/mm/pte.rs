//! VMSAv8-64 translation table descriptors for the 4 KiB granule.
//!
//! Layout from the ARM Architecture Reference Manual (ARM DDI 0487),
//! D8.3 "Translation table descriptor formats": bit 0 valid, bit 1 table
//! (levels 0-2) or page (level 3), lower attributes in bits 2-11, output
//! address in bits 47-12, upper attributes in bits 52-54.
//!
//! Memory types are indices into MAIR_EL1; [`MAIR_VALUE`] is the one value the
//! boot code and the kernel program, so the index and the attribute agree.

/// Descriptor is valid.
pub const VALID: u64 = 1 << 0;
/// At levels 0-2: points to a next-level table (else a block). At level 3: must be set (page).
pub const TABLE_OR_PAGE: u64 = 1 << 1;
/// AttrIndx field position (bits 4:2), selects an attribute from MAIR_EL1.
pub const ATTR_INDEX_SHIFT: u32 = 2;
/// AP[1]: accessible from EL0.
pub const AP_EL0: u64 = 1 << 6;
/// AP[2]: read-only.
pub const AP_RO: u64 = 1 << 7;
/// SH = 0b11: inner shareable (needed for coherent normal memory across cores).
pub const SH_INNER: u64 = 0b11 << 8;
/// Access flag. Set up front: we do not use access-flag faults.
pub const AF: u64 = 1 << 10;
/// Not global: the TLB entry is tagged with the current ASID (user mappings).
pub const NG: u64 = 1 << 11;
/// Privileged execute-never.
pub const PXN: u64 = 1 << 53;
/// Unprivileged (EL0) execute-never.
pub const UXN: u64 = 1 << 54;
/// Output address bits 47:12.
pub const ADDR_MASK: u64 = 0x0000_FFFF_FFFF_F000;

/// MAIR_EL1 attribute index of Device-nGnRE memory (MMIO).
pub const MAIR_IDX_DEVICE: u64 = 0;
/// MAIR_EL1 attribute index of Normal write-back cacheable memory (RAM).
pub const MAIR_IDX_NORMAL: u64 = 1;
/// MAIR_EL1 attribute index of Normal non-cacheable memory.
pub const MAIR_IDX_NORMAL_NC: u64 = 2;
/// MAIR_EL1: Attr0 = Device-nGnRE (0x04), Attr1 = Normal inner/outer write-back
/// read/write-allocate (0xFF), Attr2 = Normal non-cacheable (0x44).
pub const MAIR_VALUE: u64 = 0x04 | (0xFF << 8) | (0x44 << 16);

/// What kind of memory a mapping points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemType {
    /// Ordinary RAM, cached.
    Normal,
    /// Device registers: uncached, no speculation, no gathering.
    Device,
    /// RAM that must not be cached (e.g. shared with a non-coherent device).
    NonCacheable,
}

/// Access permissions of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm {
    /// Writable (readability is implied by every valid mapping on AArch64).
    pub write: bool,
    /// Executable at the privilege level that owns the mapping.
    pub exec: bool,
    /// Owned by EL0 (a user mapping); otherwise kernel-only.
    pub user: bool,
}

impl Perm {
    /// Kernel read/write data, never executable.
    pub const KERNEL_RW: Perm = Perm { write: true, exec: false, user: false };
    /// Kernel read-only data.
    pub const KERNEL_RO: Perm = Perm { write: false, exec: false, user: false };
    /// Kernel code.
    pub const KERNEL_RX: Perm = Perm { write: false, exec: true, user: false };
    /// Kernel memory that is both written and executed (early boot only).
    pub const KERNEL_RWX: Perm = Perm { write: true, exec: true, user: false };
    /// User read/write data.
    pub const USER_RW: Perm = Perm { write: true, exec: false, user: true };
    /// User read-only data.
    pub const USER_RO: Perm = Perm { write: false, exec: false, user: true };
    /// User code.
    pub const USER_RX: Perm = Perm { write: false, exec: true, user: true };
}

/// Attribute bits shared by block and page descriptors.
pub const fn leaf_attrs(perm: Perm, mem: MemType) -> u64 {
    let idx = match mem {
        MemType::Normal => MAIR_IDX_NORMAL,
        MemType::Device => MAIR_IDX_DEVICE,
        MemType::NonCacheable => MAIR_IDX_NORMAL_NC,
    };
    let mut d = AF | (idx << ATTR_INDEX_SHIFT);
    if !matches!(mem, MemType::Device) {
        d |= SH_INNER;
    }
    if !perm.write {
        d |= AP_RO;
    }
    if perm.user {
        // User mappings are per address space (ASID-tagged) and never
        // executable by the kernel: a kernel jump into user memory faults.
        d |= AP_EL0 | NG | PXN;
        if !perm.exec {
            d |= UXN;
        }
    } else {
        // Kernel mappings are never executable from EL0.
        d |= UXN;
        if !perm.exec {
            d |= PXN;
        }
    }
    // Device memory is never executable: instruction fetches from MMIO are
    // speculative reads with side effects.
    if matches!(mem, MemType::Device) {
        d |= PXN | UXN;
    }
    d
}

/// A level 1 (1 GiB) or level 2 (2 MiB) block descriptor.
pub const fn block(pa: u64, perm: Perm, mem: MemType) -> u64 {
    (pa & ADDR_MASK) | leaf_attrs(perm, mem) | VALID
}

/// A level 3 (4 KiB) page descriptor.
pub const fn page(pa: u64, perm: Perm, mem: MemType) -> u64 {
    (pa & ADDR_MASK) | leaf_attrs(perm, mem) | TABLE_OR_PAGE | VALID
}

/// A level 0-2 descriptor pointing at the next-level table at `pa`.
pub const fn table(pa: u64) -> u64 {
    (pa & ADDR_MASK) | TABLE_OR_PAGE | VALID
}

/// Output address of a valid descriptor.
pub const fn output_addr(desc: u64) -> u64 {
    desc & ADDR_MASK
}

/// Permissions encoded in a leaf descriptor.
pub const fn perm_of(desc: u64) -> Perm {
    let user = desc & AP_EL0 != 0;
    Perm { write: desc & AP_RO == 0, exec: if user { desc & UXN == 0 } else { desc & PXN == 0 }, user }
}

/// Memory type encoded in a leaf descriptor.
pub const fn mem_type_of(desc: u64) -> MemType {
    match (desc >> ATTR_INDEX_SHIFT) & 0b111 {
        MAIR_IDX_DEVICE => MemType::Device,
        MAIR_IDX_NORMAL_NC => MemType::NonCacheable,
        _ => MemType::Normal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_round_trip() {
        for perm in [Perm::KERNEL_RW, Perm::KERNEL_RO, Perm::KERNEL_RX, Perm::USER_RW, Perm::USER_RO, Perm::USER_RX] {
            for mem in [MemType::Normal, MemType::NonCacheable] {
                let d = page(0x1234_5000, perm, mem);
                assert_eq!(output_addr(d), 0x1234_5000);
                assert_eq!(perm_of(d), perm);
                assert_eq!(mem_type_of(d), mem);
            }
        }
    }

    #[test]
    fn device_memory_is_never_executable() {
        let d = block(0x0900_0000 & !0x1F_FFFF, Perm::KERNEL_RWX, MemType::Device);
        assert_ne!(d & PXN, 0);
        assert_ne!(d & UXN, 0);
        assert_eq!(d & SH_INNER, 0);
    }

    #[test]
    fn user_pages_are_not_global_and_not_kernel_executable() {
        let d = page(0x4000_0000, Perm::USER_RX, MemType::Normal);
        assert_ne!(d & NG, 0);
        assert_ne!(d & PXN, 0);
        assert_eq!(d & UXN, 0);
        let k = page(0x4000_0000, Perm::KERNEL_RX, MemType::Normal);
        assert_eq!(k & NG, 0);
        assert_ne!(k & UXN, 0);
        assert_eq!(k & PXN, 0);
    }

    #[test]
    fn block_and_page_differ_in_bit_one() {
        assert_eq!(block(0, Perm::KERNEL_RW, MemType::Normal) & TABLE_OR_PAGE, 0);
        assert_ne!(page(0, Perm::KERNEL_RW, MemType::Normal) & TABLE_OR_PAGE, 0);
        assert_eq!(table(0x8000), 0x8000 | 0b11);
    }
}
