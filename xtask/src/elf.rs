//! ELF to raw binary, for the Raspberry Pi's `kernel8.img`; and ELF
//! without what loading does not need, for the ramdisk.
//!
//! The firmware copies `kernel8.img` byte for byte to 0x80000 and jumps
//! there, so the image is the loadable segments laid out at their physical
//! (load) addresses, starting with the entry point. Doing this here keeps
//! the build free of `objcopy` (which comes in a per-target binutils).

/// `PT_LOAD`.
const PT_LOAD: u32 = 1;
/// `EM_AARCH64`.
const EM_AARCH64: u16 = 183;

fn u16_at(b: &[u8], at: usize) -> Result<u16, String> {
    b.get(at..at + 2).map(|x| u16::from_le_bytes([x[0], x[1]])).ok_or_else(|| "truncated ELF".to_string())
}
fn u32_at(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4).map(|x| u32::from_le_bytes(x.try_into().unwrap())).ok_or_else(|| "truncated ELF".to_string())
}
fn u64_at(b: &[u8], at: usize) -> Result<u64, String> {
    b.get(at..at + 8).map(|x| u64::from_le_bytes(x.try_into().unwrap())).ok_or_else(|| "truncated ELF".to_string())
}

/// The raw image of a little-endian AArch64 ELF64 and its load address.
pub fn to_binary(elf: &[u8]) -> Result<(u64, Vec<u8>), String> {
    if elf.get(0..4) != Some(b"\x7fELF") {
        return Err("not an ELF file".into());
    }
    if elf.get(4) != Some(&2) || elf.get(5) != Some(&1) {
        return Err("not a little-endian 64-bit ELF".into());
    }
    if u16_at(elf, 0x12)? != EM_AARCH64 {
        return Err("not an AArch64 ELF".into());
    }
    let entry = u64_at(elf, 0x18)?;
    let phoff = u64_at(elf, 0x20)? as usize;
    let phentsize = u16_at(elf, 0x36)? as usize;
    let phnum = u16_at(elf, 0x38)? as usize;
    let mut segs = Vec::new();
    for i in 0..phnum {
        let ph = phoff.checked_add(i * phentsize).ok_or("bad program header offset")?;
        if u32_at(elf, ph)? != PT_LOAD {
            continue;
        }
        let offset = u64_at(elf, ph + 8)? as usize;
        let paddr = u64_at(elf, ph + 24)?;
        let filesz = u64_at(elf, ph + 32)? as usize;
        if filesz == 0 {
            continue;
        }
        let data =
            elf.get(offset..offset.checked_add(filesz).ok_or("bad segment size")?).ok_or("segment outside the file")?;
        segs.push((paddr, data));
    }
    segs.sort_by_key(|s| s.0);
    let base = segs.first().ok_or("no loadable segments")?.0;
    if entry != base {
        return Err(format!("entry point {entry:#x} is not at the start of the image ({base:#x})"));
    }
    let mut out = Vec::new();
    for (paddr, data) in segs {
        let at = (paddr - base) as usize;
        if at < out.len() {
            return Err(format!("segments overlap at {paddr:#x}"));
        }
        if at > 64 << 20 {
            return Err(format!("segment at {paddr:#x} is too far from the image start"));
        }
        out.resize(at, 0);
        out.extend_from_slice(data);
    }
    Ok((base, out))
}

/// `elf` cut after its loadable segments, with no section headers: what
/// procmgr's loader reads (the ELF header, program headers, segments) and
/// nothing else. The symbol tables that follow the segments are a program's
/// largest part; the ramdisk carries them into every image and over every
/// chainload for nothing (gdb and `bench --profile` read them from the
/// unstripped builds in target/).
pub fn strip(elf: &[u8]) -> Result<Vec<u8>, String> {
    if elf.get(0..4) != Some(b"\x7fELF") || elf.get(4) != Some(&2) || elf.get(5) != Some(&1) {
        return Err("not a little-endian 64-bit ELF".into());
    }
    let phoff = u64_at(elf, 0x20)? as usize;
    let phentsize = u16_at(elf, 0x36)? as usize;
    let phnum = u16_at(elf, 0x38)? as usize;
    let mut end = phoff.checked_add(phentsize * phnum).ok_or("bad program headers")?;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if u32_at(elf, ph)? == PT_LOAD {
            let seg_end = (u64_at(elf, ph + 8)?).checked_add(u64_at(elf, ph + 32)?).ok_or("bad segment")?;
            end = end.max(usize::try_from(seg_end).map_err(|_| "bad segment")?);
        }
    }
    let mut out = elf.get(..end).ok_or("segment outside the file")?.to_vec();
    // No section headers: e_shoff, e_shnum, e_shstrndx.
    out[0x28..0x30].fill(0);
    out[0x3c..0x40].fill(0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 with the given (paddr, bytes) load segments.
    fn elf(entry: u64, segs: &[(u64, &[u8])]) -> Vec<u8> {
        let phoff = 64usize;
        let data_at = phoff + 56 * segs.len();
        let mut b = vec![0u8; data_at];
        b[0..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[0x12..0x14].copy_from_slice(&EM_AARCH64.to_le_bytes());
        b[0x18..0x20].copy_from_slice(&entry.to_le_bytes());
        b[0x20..0x28].copy_from_slice(&(phoff as u64).to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&(segs.len() as u16).to_le_bytes());
        let mut off = data_at;
        for (i, (paddr, data)) in segs.iter().enumerate() {
            let ph = phoff + 56 * i;
            b[ph..ph + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
            b[ph + 8..ph + 16].copy_from_slice(&(off as u64).to_le_bytes());
            b[ph + 24..ph + 32].copy_from_slice(&paddr.to_le_bytes());
            b[ph + 32..ph + 40].copy_from_slice(&(data.len() as u64).to_le_bytes());
            off += data.len();
        }
        for (_, data) in segs {
            b.extend_from_slice(data);
        }
        b
    }

    #[test]
    fn lays_segments_out_at_their_load_addresses() {
        let e = elf(0x80000, &[(0x80010, b"cd"), (0x80000, b"ab")]);
        let (base, bin) = to_binary(&e).unwrap();
        assert_eq!(base, 0x80000);
        assert_eq!(&bin[..2], b"ab");
        assert_eq!(&bin[0x10..0x12], b"cd");
        assert!(bin[2..0x10].iter().all(|&x| x == 0));
    }

    #[test]
    fn strip_keeps_the_segments_and_drops_the_rest() {
        let mut e = elf(0x80000, &[(0x80000, b"ab"), (0x90000, b"cd")]);
        let loaded = e.len();
        e.extend_from_slice(&[0x55; 1000]);
        e[0x28..0x30].copy_from_slice(&(loaded as u64).to_le_bytes());
        e[0x3c..0x3e].copy_from_slice(&7u16.to_le_bytes());
        let s = strip(&e).unwrap();
        assert_eq!(s.len(), loaded);
        assert_eq!(&s[..0x28], &e[..0x28]);
        assert!(s[0x28..0x30].iter().chain(&s[0x3c..0x40]).all(|&x| x == 0));
        assert_eq!(to_binary(&s).unwrap(), to_binary(&e).unwrap());
        assert!(strip(b"\x7fELF").is_err());
        e.truncate(loaded - 1);
        assert!(strip(&e).is_err());
    }

    #[test]
    fn rejects_bad_input() {
        assert!(to_binary(b"hello").is_err());
        assert!(to_binary(&elf(0x80004, &[(0x80000, b"ab")])).unwrap_err().contains("entry point"));
        assert!(to_binary(&elf(0x80000, &[(0x80000, b"abcd"), (0x80002, b"x")])).unwrap_err().contains("overlap"));
        assert!(to_binary(&elf(0x80000, &[])).unwrap_err().contains("no loadable"));
        let mut e = elf(0x80000, &[(0x80000, b"ab")]);
        e.truncate(100);
        assert!(to_binary(&e).is_err());
    }
}
