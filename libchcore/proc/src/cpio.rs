//! The ramdisk format: cpio "newc" (SVR4 portable ASCII, magic `070701`).
//!
//! Each entry is a 110-byte ASCII header (magic and thirteen 8-digit hex
//! fields), the NUL-terminated name padded to 4 bytes, then the data padded
//! to 4 bytes; the archive ends with the entry `TRAILER!!!`. The reader
//! checks the whole archive before handing out any entry.

use alloc::vec::Vec;

const MAGIC: &[u8; 6] = b"070701";
const HEADER: usize = 110;
const TRAILER: &str = "TRAILER!!!";
/// Regular file, rwxr-xr-x.
const MODE_FILE: u32 = 0o100755;

/// Why an archive was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpioError {
    /// A header does not start with `070701`.
    BadMagic,
    /// A header field is not hexadecimal.
    BadField,
    /// A name or data runs past the end of the archive.
    Truncated,
    /// A name is empty, not UTF-8 or not NUL-terminated.
    BadName,
    /// No `TRAILER!!!` entry.
    NoTrailer,
}

/// One file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Path as stored (no leading `/`).
    pub name: &'a str,
    /// Contents.
    pub data: &'a [u8],
    /// Mode bits.
    pub mode: u32,
}

/// A checked archive.
#[derive(Clone, Debug)]
pub struct Archive<'a> {
    entries: Vec<Entry<'a>>,
}

fn align4(x: usize) -> usize {
    (x + 3) & !3
}

fn hex(field: &[u8]) -> Result<u32, CpioError> {
    let s = core::str::from_utf8(field).map_err(|_| CpioError::BadField)?;
    u32::from_str_radix(s, 16).map_err(|_| CpioError::BadField)
}

impl<'a> Archive<'a> {
    /// Check `bytes` and index its entries.
    pub fn parse(bytes: &'a [u8]) -> Result<Archive<'a>, CpioError> {
        let mut entries = Vec::new();
        let mut at = 0usize;
        loop {
            let h = bytes.get(at..at + HEADER).ok_or(CpioError::Truncated)?;
            if &h[..6] != MAGIC {
                return Err(CpioError::BadMagic);
            }
            let field = |i: usize| hex(&h[6 + i * 8..6 + (i + 1) * 8]);
            let mode = field(1)?;
            let size = field(6)? as usize;
            let namesize = field(11)? as usize;
            let name_start = at + HEADER;
            let name_end = name_start.checked_add(namesize).ok_or(CpioError::Truncated)?;
            let raw = bytes.get(name_start..name_end).ok_or(CpioError::Truncated)?;
            // A C string: the name ends at its first NUL; any further bytes
            // (the writer's alignment padding) must be NULs too.
            let len = raw.iter().position(|&b| b == 0).ok_or(CpioError::BadName)?;
            if len == 0 || raw[len..].iter().any(|&b| b != 0) {
                return Err(CpioError::BadName);
            }
            let name = core::str::from_utf8(&raw[..len]).map_err(|_| CpioError::BadName)?;
            let data_start = align4(name_end);
            let data_end = data_start.checked_add(size).ok_or(CpioError::Truncated)?;
            let data = bytes.get(data_start..data_end).ok_or(CpioError::Truncated)?;
            if name == TRAILER {
                return Ok(Archive { entries });
            }
            entries.push(Entry { name: name.trim_start_matches('/'), data, mode });
            at = align4(data_end);
            if at >= bytes.len() {
                return Err(CpioError::NoTrailer);
            }
        }
    }

    /// The files, in archive order.
    pub fn entries(&self) -> &[Entry<'a>] {
        &self.entries
    }

    /// The file called `name` (a leading `/` is ignored).
    pub fn find(&self, name: &str) -> Option<&Entry<'a>> {
        let name = name.trim_start_matches('/');
        self.entries.iter().find(|e| e.name == name)
    }
}

/// Where the writer puts every file's data: at a multiple of this from the
/// archive's start, so that a page-aligned archive in memory holds each
/// file page-aligned too (procmgr maps program text straight from it).
pub const DATA_ALIGN: usize = 4096;

/// An archive holding `files` (name, contents), for the build. Each name is
/// padded with NULs (still a valid C string, as cpio readers take it) so
/// that the data starts at a multiple of [`DATA_ALIGN`].
pub fn write(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut put = |name: &str, data: &[u8], mode: u32, ino: usize| {
        let start = out.len();
        let name_end = start + HEADER + name.len() + 1;
        let data_start = if data.is_empty() { align4(name_end) } else { name_end.div_ceil(DATA_ALIGN) * DATA_ALIGN };
        let namesize = data_start - start - HEADER;
        let fields = [ino as u32, mode, 0, 0, 1, 0, data.len() as u32, 0, 0, 0, 0, namesize as u32, 0];
        out.extend_from_slice(MAGIC);
        for f in fields {
            out.extend_from_slice(alloc::format!("{f:08X}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.resize(data_start, 0);
        out.extend_from_slice(data);
        out.resize(align4(out.len()), 0);
    };
    for (i, (name, data)) in files.iter().enumerate() {
        put(name, data, MODE_FILE, i + 1);
    }
    put(TRAILER, &[], 0, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read() {
        let a = write(&[("hello", b"Hello ChCore!\n"), ("dir/x", b""), ("odd", b"123")]);
        let ar = Archive::parse(&a).unwrap();
        let names: Vec<&str> = ar.entries().iter().map(|e| e.name).collect();
        assert_eq!(names, vec!["hello", "dir/x", "odd"]);
        assert_eq!(ar.find("/hello").unwrap().data, b"Hello ChCore!\n");
        assert_eq!(ar.find("odd").unwrap().mode, MODE_FILE);
        assert!(ar.find("missing").is_none());
        assert_eq!(Archive::parse(&write(&[])).unwrap().entries().len(), 0);
    }

    #[test]
    fn file_data_is_page_aligned_and_names_stop_at_the_first_nul() {
        let a = write(&[("a", b"x"), ("long/name/here", &[7u8; 5000]), ("empty", b"")]);
        let ar = Archive::parse(&a).unwrap();
        for e in ar.entries().iter().filter(|e| !e.data.is_empty()) {
            assert_eq!((e.data.as_ptr() as usize - a.as_ptr() as usize) % DATA_ALIGN, 0, "{} is aligned", e.name);
        }
        assert_eq!(ar.find("long/name/here").unwrap().data.len(), 5000);
        // Something other than NUL after a name's terminator is refused.
        let mut bad = write(&[("a", b"x")]);
        bad[HEADER + 2] = b'z';
        assert_eq!(Archive::parse(&bad).unwrap_err(), CpioError::BadName);
    }

    /// Random bytes flipped in a valid archive: an error or an archive,
    /// never a panic (procmgr parses the ramdisk at start).
    #[test]
    fn mutated_archives_never_panic() {
        let good = write(&[("a", b"abcdef"), ("bb", b"0123456789"), ("ccc", b"")]);
        let mut rng = kernel_core::testing::XorShift(0xD1B5_4A32_D192_ED03);
        for _ in 0..20_000 {
            let mut bytes = good.clone();
            for _ in 0..1 + rng.next_u64() % 6 {
                let at = rng.next_u64() as usize % bytes.len();
                // Hex digits most of the time: they get past the field checks.
                bytes[at] = if rng.next_u64().is_multiple_of(2) {
                    b"0123456789ABCDEF"[rng.next_u64() as usize % 16]
                } else {
                    rng.next_u64() as u8
                };
            }
            let r = std::panic::catch_unwind(|| {
                Archive::parse(&bytes).map(|a| a.entries().iter().map(|e| e.data.len()).sum::<usize>())
            });
            assert!(r.is_ok(), "parse panicked");
        }
    }

    #[test]
    fn refuses_malformed_archives() {
        let good = write(&[("a", b"abcdef")]);
        assert_eq!(Archive::parse(&[]).unwrap_err(), CpioError::Truncated);
        let mut bad = good.clone();
        bad[0] = b'1';
        assert_eq!(Archive::parse(&bad).unwrap_err(), CpioError::BadMagic);
        let mut bad = good.clone();
        bad[6 + 6 * 8] = b'Z';
        assert_eq!(Archive::parse(&bad).unwrap_err(), CpioError::BadField);
        let mut bad = good.clone();
        bad[6 + 6 * 8..6 + 7 * 8].copy_from_slice(b"FFFFFFFF");
        assert_eq!(Archive::parse(&bad).unwrap_err(), CpioError::Truncated, "size past the end");
        let cut = &good[..good.len() - 124];
        assert_eq!(Archive::parse(cut).unwrap_err(), CpioError::NoTrailer);
        let mut bad = good.clone();
        bad[6 + 11 * 8..6 + 12 * 8].copy_from_slice(b"00000001");
        assert_eq!(Archive::parse(&bad).unwrap_err(), CpioError::BadName, "empty name");
        for n in 0..good.len() {
            // Every truncation is refused, never a panic.
            assert!(Archive::parse(&good[..n]).is_err());
        }
    }
}
