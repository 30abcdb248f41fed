//! Check an ELF executable and plan how to load it, before anything is
//! allocated: the kernel loads the root process (procmgr) this way, and
//! refuses a malformed image with a reason instead of faulting on it.

use crate::mm::{align_down, align_up, PAGE_SIZE, USER_VA_END};
use alloc::vec::Vec;
use chcore_abi::perm;
use elf::abi::{EM_AARCH64, ET_EXEC, PF_R, PF_W, PF_X, PT_LOAD};
use elf::endian::LittleEndian;
use elf::file::Class;
use elf::ElfBytes;

/// Most loadable segments we accept.
pub const MAX_SEGMENTS: usize = 16;

/// Why an image was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Not a parseable little-endian ELF (bad magic, truncated headers, ...).
    Malformed,
    /// Not ELF64.
    WrongClass,
    /// Not for AArch64.
    WrongMachine,
    /// Not an executable (`ET_EXEC`).
    NotExecutable,
    /// No loadable segment, or more than [`MAX_SEGMENTS`].
    BadSegmentCount,
    /// A segment's file range lies outside the file, or `filesz > memsz`.
    SegmentOutsideFile,
    /// A segment lies outside the user half of the address space, or wraps.
    SegmentOutOfRange,
    /// Two segments share a page.
    SegmentsOverlap,
    /// The entry point is not inside an executable segment.
    BadEntry,
}

/// One loadable segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// First virtual address of the segment (not necessarily page-aligned).
    pub vaddr: u64,
    /// Bytes in memory; past `filesz` they are zero (BSS).
    pub memsz: u64,
    /// Where its bytes start in the file.
    pub offset: u64,
    /// Bytes taken from the file.
    pub filesz: u64,
    /// `chcore_abi::perm` bits from the segment flags.
    pub perm: u64,
}

impl Segment {
    /// The page-aligned range that holds the segment: (start, length).
    pub fn pages(&self) -> (u64, u64) {
        let start = align_down(self.vaddr, PAGE_SIZE);
        let end = align_up(self.vaddr + self.memsz, PAGE_SIZE).unwrap_or(u64::MAX);
        (start, end - start)
    }

    /// Where the segment's pages start in a page-aligned blob of `blob_len`
    /// bytes whose file begins `file_at` bytes in, if the segment can be
    /// mapped from the blob's own pages instead of copied: read-only (a
    /// mapping of shared pages must never be writable), with no zeroed tail
    /// (those bytes would show the file's next bytes), its file offset
    /// congruent to its address modulo the page size, and the whole page
    /// range inside the blob (`blob_len` rounded up to a page: the blob owns
    /// its last page).
    pub fn shared_pages(&self, file_at: u64, blob_len: u64) -> Option<u64> {
        if self.perm & chcore_abi::perm::WRITE != 0 || self.memsz != self.filesz || self.filesz == 0 {
            return None;
        }
        let (start, len) = self.pages();
        let first = file_at.checked_add(self.offset)?.checked_sub(self.vaddr - start)?;
        let end = first.checked_add(len)?;
        (first.is_multiple_of(PAGE_SIZE) && end <= align_up(blob_len, PAGE_SIZE)?).then_some(first)
    }
}

/// What to load and where to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadPlan {
    /// Entry point.
    pub entry: u64,
    /// Loadable segments in address order.
    pub segments: Vec<Segment>,
}

/// Validate `image` and list its loadable segments.
pub fn plan(image: &[u8]) -> Result<LoadPlan, ElfError> {
    let file = ElfBytes::<LittleEndian>::minimal_parse(image).map_err(|_| ElfError::Malformed)?;
    let h = &file.ehdr;
    if h.class != Class::ELF64 {
        return Err(ElfError::WrongClass);
    }
    if h.e_machine != EM_AARCH64 {
        return Err(ElfError::WrongMachine);
    }
    if h.e_type != ET_EXEC {
        return Err(ElfError::NotExecutable);
    }
    let phdrs = file.segments().ok_or(ElfError::BadSegmentCount)?;
    let mut segments = Vec::new();
    for ph in phdrs.iter().filter(|p| p.p_type == PT_LOAD && p.p_memsz > 0) {
        if segments.len() == MAX_SEGMENTS {
            return Err(ElfError::BadSegmentCount);
        }
        let file_end = ph.p_offset.checked_add(ph.p_filesz).ok_or(ElfError::SegmentOutsideFile)?;
        if ph.p_filesz > ph.p_memsz || file_end > image.len() as u64 {
            return Err(ElfError::SegmentOutsideFile);
        }
        match ph.p_vaddr.checked_add(ph.p_memsz) {
            Some(end) if ph.p_vaddr >= PAGE_SIZE && end <= USER_VA_END => {}
            _ => return Err(ElfError::SegmentOutOfRange),
        }
        let mut p = 0;
        if ph.p_flags & PF_R != 0 {
            p |= perm::READ;
        }
        if ph.p_flags & PF_W != 0 {
            p |= perm::WRITE;
        }
        if ph.p_flags & PF_X != 0 {
            p |= perm::EXEC;
        }
        segments.push(Segment {
            vaddr: ph.p_vaddr,
            memsz: ph.p_memsz,
            offset: ph.p_offset,
            filesz: ph.p_filesz,
            perm: p,
        });
    }
    if segments.is_empty() {
        return Err(ElfError::BadSegmentCount);
    }
    segments.sort_by_key(|s| s.vaddr);
    for pair in segments.windows(2) {
        let (a, b) = (pair[0].pages(), pair[1].pages());
        if a.0 + a.1 > b.0 {
            return Err(ElfError::SegmentsOverlap);
        }
    }
    let entry = h.e_entry;
    if !segments.iter().any(|s| s.perm & perm::EXEC != 0 && entry >= s.vaddr && entry < s.vaddr + s.memsz) {
        return Err(ElfError::BadEntry);
    }
    Ok(LoadPlan { entry, segments })
}

#[cfg(test)]
pub(crate) mod tests {

    #[test]
    fn shared_pages_only_for_read_only_aligned_segments_inside_the_blob() {
        let seg = |vaddr, offset, filesz, memsz, perm| Segment { vaddr, memsz, offset, filesz, perm };
        let text = seg(0x40_0000, 0x1_0000, 0x2fc0, 0x2fc0, chcore_abi::perm::READ | chcore_abi::perm::EXEC);
        // A file 3 pages into the blob: the text's pages start at 0x13000.
        assert_eq!(text.shared_pages(0x3000, 0x20_000), Some(0x13000));
        // The blob's last page is its own: a blob ending mid-page still holds it.
        assert_eq!(text.shared_pages(0x3000, 0x13000 + 0x2fc0), Some(0x13000));
        assert_eq!(text.shared_pages(0x3000, 0x13000 + 0x2000), None, "pages past the blob");
        assert_eq!(text.shared_pages(0x3004, 0x20_000), None, "file not page-aligned in the blob");
        let mut writable = text;
        writable.perm |= chcore_abi::perm::WRITE;
        assert_eq!(writable.shared_pages(0x3000, 0x20_000), None, "writable");
        let bss = seg(0x40_4000, 0x1_4000, 0x10, 0x200, chcore_abi::perm::READ);
        assert_eq!(bss.shared_pages(0, 0x20_000), None, "zeroed tail");
        let odd = seg(0x40_0100, 0x1_0200, 0x100, 0x100, chcore_abi::perm::READ);
        assert_eq!(odd.shared_pages(0, 0x20_000), None, "offset not congruent to the address");
        assert_eq!(seg(0x40_0000, 0, 0, 0, chcore_abi::perm::READ).shared_pages(0, 0x1000), None, "empty");
        assert_eq!(text.shared_pages(u64::MAX - 10, u64::MAX), None, "overflow");
    }

    use super::*;

    /// A minimal AArch64 ELF64 executable with segments (vaddr, flags, bytes, memsz).
    pub fn build(entry: u64, segs: &[(u64, u32, &[u8], u64)]) -> Vec<u8> {
        let phoff = 64usize;
        let mut data_at = phoff + 56 * segs.len();
        let mut b = vec![0u8; data_at];
        b[0..4].copy_from_slice(b"\x7fELF");
        b[4] = 2; // ELFCLASS64
        b[5] = 1; // little-endian
        b[6] = 1; // EV_CURRENT
        b[0x10..0x12].copy_from_slice(&ET_EXEC.to_le_bytes());
        b[0x12..0x14].copy_from_slice(&EM_AARCH64.to_le_bytes());
        b[0x14..0x18].copy_from_slice(&1u32.to_le_bytes());
        b[0x18..0x20].copy_from_slice(&entry.to_le_bytes());
        b[0x20..0x28].copy_from_slice(&(phoff as u64).to_le_bytes());
        b[0x34..0x36].copy_from_slice(&64u16.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&(segs.len() as u16).to_le_bytes());
        for (i, (vaddr, flags, bytes, memsz)) in segs.iter().enumerate() {
            let ph = phoff + 56 * i;
            b[ph..ph + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
            b[ph + 4..ph + 8].copy_from_slice(&flags.to_le_bytes());
            b[ph + 8..ph + 16].copy_from_slice(&(data_at as u64).to_le_bytes());
            b[ph + 16..ph + 24].copy_from_slice(&vaddr.to_le_bytes());
            b[ph + 24..ph + 32].copy_from_slice(&vaddr.to_le_bytes());
            b[ph + 32..ph + 40].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
            b[ph + 40..ph + 48].copy_from_slice(&memsz.to_le_bytes());
            b[ph + 48..ph + 56].copy_from_slice(&PAGE_SIZE.to_le_bytes());
            data_at += bytes.len();
        }
        for (_, _, bytes, _) in segs {
            b.extend_from_slice(bytes);
        }
        b
    }

    const RX: u32 = PF_R | PF_X;
    const RW: u32 = PF_R | PF_W;

    #[test]
    fn plans_a_valid_image() {
        let img = build(0x40_0010, &[(0x40_0000, RX, b"code", 0x100), (0x40_1000, RW, b"data", 0x3000)]);
        let p = plan(&img).unwrap();
        assert_eq!(p.entry, 0x40_0010);
        assert_eq!(p.segments.len(), 2);
        assert_eq!(p.segments[0].perm, perm::READ | perm::EXEC);
        assert_eq!(p.segments[1].perm, perm::READ | perm::WRITE);
        assert_eq!(p.segments[1].pages(), (0x40_1000, 0x3000));
        assert_eq!(&img[p.segments[0].offset as usize..][..4], b"code");
    }

    /// Random bytes flipped in a valid image: `plan` never panics, and a
    /// plan it accepts can be carried out without slicing past the file or
    /// overflowing an address (what the kernel and procmgr do with it).
    #[test]
    fn mutated_images_plan_safely() {
        let good = build(0x40_0010, &[(0x40_0000, RX, b"code", 0x100), (0x40_1000, RW, b"data", 0x3000)]);
        let mut rng = crate::testing::XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let mut img = good.clone();
            for _ in 0..1 + rng.next_u64() % 6 {
                let at = rng.next_u64() as usize % img.len();
                img[at] = rng.next_u64() as u8;
            }
            let r = std::panic::catch_unwind(|| plan(&img));
            let Ok(result) = r else { panic!("plan panicked") };
            if let Ok(p) = result {
                for seg in &p.segments {
                    let end = seg.offset.checked_add(seg.filesz).expect("offset + filesz overflows");
                    assert!(end as usize <= img.len(), "segment past the end of the file");
                    assert!(seg.filesz <= seg.memsz);
                    let (start, len) = seg.pages();
                    assert!(
                        start.checked_add(len).is_some_and(|e| e <= crate::mm::USER_VA_END),
                        "segment outside user space"
                    );
                }
            }
        }
    }

    #[test]
    fn refuses_malformed_images() {
        let good = build(0x40_0000, &[(0x40_0000, RX, b"code", 4)]);
        assert_eq!(plan(&[]).unwrap_err(), ElfError::Malformed);
        assert_eq!(plan(b"\x7fELF").unwrap_err(), ElfError::Malformed);
        let mut bad = good.clone();
        bad[0] = 0;
        assert_eq!(plan(&bad).unwrap_err(), ElfError::Malformed, "bad magic");
        let mut bad = good.clone();
        bad[4] = 1;
        assert!(plan(&bad).is_err(), "ELF32 header");
        let mut bad = good.clone();
        bad[0x12] = 62; // x86-64
        assert_eq!(plan(&bad).unwrap_err(), ElfError::WrongMachine);
        let mut bad = good.clone();
        bad[0x10] = 3; // ET_DYN
        assert_eq!(plan(&bad).unwrap_err(), ElfError::NotExecutable);
        assert_eq!(plan(&good[..good.len() - 2]).unwrap_err(), ElfError::SegmentOutsideFile, "truncated data");
    }

    #[test]
    fn refuses_bad_segments() {
        let err = |segs: &[(u64, u32, &[u8], u64)], entry| plan(&build(entry, segs)).unwrap_err();
        assert_eq!(err(&[(0x40_0000, RX, b"abcd", 2)], 0x40_0000), ElfError::SegmentOutsideFile, "filesz > memsz");
        assert_eq!(err(&[(0, RX, b"ab", 2)], 0), ElfError::SegmentOutOfRange, "page zero");
        assert_eq!(
            err(&[(0xFFFF_0000_0000_0000, RX, b"ab", 2)], 0xFFFF_0000_0000_0000),
            ElfError::SegmentOutOfRange,
            "kernel half"
        );
        assert_eq!(err(&[(u64::MAX - 1, RX, b"ab", 2)], u64::MAX - 1), ElfError::SegmentOutOfRange, "wraps");
        assert_eq!(
            err(&[(0x40_0000, RX, b"ab", 2), (0x40_0800, RW, b"cd", 2)], 0x40_0000),
            ElfError::SegmentsOverlap,
            "same page"
        );
        assert_eq!(err(&[(0x40_0000, RW, b"ab", 2)], 0x40_0000), ElfError::BadEntry, "entry not executable");
        assert_eq!(err(&[(0x40_0000, RX, b"ab", 2)], 0x50_0000), ElfError::BadEntry, "entry outside");
        assert_eq!(err(&[], 0), ElfError::BadSegmentCount);
    }
}
