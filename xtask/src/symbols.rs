//! Function symbols of an ELF64 little-endian file, for naming user code in
//! benchmark profiles (QEMU names only the kernel's code).

use std::path::Path;

/// Functions by address: (start, end, name), sorted by start.
#[derive(Debug, Default)]
pub struct Symbols(Vec<(u64, u64, String)>);

const SHT_SYMTAB: u32 = 2;
const STT_FUNC: u8 = 2;

fn u16_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as u64)
}

fn u32_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as u64)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

impl Symbols {
    /// The function symbols of the ELF file at `path`.
    pub fn read(path: &Path) -> Result<Symbols, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Symbols::parse(&bytes)
            .ok_or_else(|| format!("{}: not an ELF64 little-endian file with a symbol table", path.display()))
    }

    /// The function symbols of the ELF file `b` (`None` if it is not one).
    pub fn parse(b: &[u8]) -> Option<Symbols> {
        if b.get(..6)? != b"\x7fELF\x02\x01" {
            return None;
        }
        let shoff = u64_at(b, 0x28)? as usize;
        let shentsize = u16_at(b, 0x3A)? as usize;
        let shnum = u16_at(b, 0x3C)? as usize;
        let section = |i: usize| shoff.checked_add(i.checked_mul(shentsize)?);
        let mut out = Vec::new();
        for i in 0..shnum {
            let sh = section(i)?;
            if u32_at(b, sh + 4)? as u32 != SHT_SYMTAB {
                continue;
            }
            let (off, size, entsize) =
                (u64_at(b, sh + 24)? as usize, u64_at(b, sh + 32)? as usize, u64_at(b, sh + 56)? as usize);
            let strtab = section(u32_at(b, sh + 40)? as usize)?;
            let str_off = u64_at(b, strtab + 24)? as usize;
            if entsize < 24 {
                return None;
            }
            for s in (off..off.checked_add(size)?).step_by(entsize) {
                let (info, value, len) = (*b.get(s + 4)?, u64_at(b, s + 8)?, u64_at(b, s + 16)?);
                if info & 0xF != STT_FUNC || len == 0 {
                    continue;
                }
                let name_at = str_off.checked_add(u32_at(b, s)? as usize)?;
                let name = b.get(name_at..)?.split(|&c| c == 0).next()?;
                out.push((value, value + len, String::from_utf8_lossy(name).into_owned()));
            }
        }
        out.sort();
        Some(Symbols(out))
    }

    /// The function holding `pc`.
    pub fn lookup(&self, pc: u64) -> Option<&str> {
        let i = self.0.partition_point(|(start, _, _)| *start <= pc).checked_sub(1)?;
        let (_, end, name) = &self.0[i];
        (pc < *end).then_some(name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_functions_and_finds_them_by_address() {
        // The test binary itself is an ELF64 file with a symbol table.
        let me = std::env::current_exe().unwrap();
        let syms = Symbols::read(&me).unwrap();
        let (start, end, name) = syms
            .0
            .iter()
            .find(|(_, _, n)| n.contains("reads_its_own_functions"))
            .expect("this test's own function")
            .clone();
        assert_eq!(syms.lookup(start), Some(name.as_str()));
        assert_eq!(syms.lookup(end - 1), Some(name.as_str()));
        assert!(syms.lookup(0).is_none());
        assert!(Symbols::parse(b"not an elf").is_none());
        assert!(Symbols::parse(&[0x7f, b'E', b'L', b'F', 2, 1, 0, 0]).is_none(), "truncated");
    }
}
