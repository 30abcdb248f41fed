//! The argument block procmgr writes at the top of a new process's stack:
//! `argc`, `argc` pointers, a null pointer, then the NUL-terminated strings,
//! all little-endian u64 words. The first thread gets the block's address.

use alloc::string::String;
use alloc::vec::Vec;

/// Most arguments.
pub const MAX_ARGS: usize = 64;
/// Most bytes of argument strings.
pub const MAX_ARG_BYTES: usize = 3072;

/// Why an argument list was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgsError {
    /// Too many arguments or bytes.
    TooLong,
    /// The block is not well-formed.
    Malformed,
}

/// The block for `args`, to be placed at address `at`.
pub fn encode(args: &[&str], at: u64) -> Result<Vec<u8>, ArgsError> {
    let bytes: usize = args.iter().map(|a| a.len() + 1).sum();
    if args.len() > MAX_ARGS || bytes > MAX_ARG_BYTES || args.iter().any(|a| a.contains('\0')) {
        return Err(ArgsError::TooLong);
    }
    let head = 8 * (args.len() + 2);
    let mut out = Vec::with_capacity(head + bytes);
    out.extend_from_slice(&(args.len() as u64).to_le_bytes());
    let mut str_at = at + head as u64;
    for a in args {
        out.extend_from_slice(&str_at.to_le_bytes());
        str_at += a.len() as u64 + 1;
    }
    out.extend_from_slice(&0u64.to_le_bytes());
    for a in args {
        out.extend_from_slice(a.as_bytes());
        out.push(0);
    }
    Ok(out)
}

/// Read back a block that was placed at `at`.
pub fn decode(block: &[u8], at: u64) -> Result<Vec<String>, ArgsError> {
    let word = |i: usize| -> Result<u64, ArgsError> {
        let b = block.get(i * 8..i * 8 + 8).ok_or(ArgsError::Malformed)?;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| ArgsError::Malformed)?))
    };
    let argc = word(0)? as usize;
    if argc > MAX_ARGS {
        return Err(ArgsError::Malformed);
    }
    let mut out = Vec::with_capacity(argc);
    for i in 0..argc {
        let off = word(1 + i)?.checked_sub(at).ok_or(ArgsError::Malformed)? as usize;
        let rest = block.get(off..).ok_or(ArgsError::Malformed)?;
        let end = rest.iter().position(|&b| b == 0).ok_or(ArgsError::Malformed)?;
        out.push(String::from(core::str::from_utf8(&rest[..end]).map_err(|_| ArgsError::Malformed)?));
    }
    Ok(out)
}

/// Split a SPAWN/EXEC buffer (`path NUL arg NUL arg NUL ...` with an empty
/// string ending the list) into the path and the arguments.
pub fn split_request(buf: &[u8]) -> Option<(&str, Vec<&str>)> {
    let mut parts = buf.split(|&b| b == 0);
    let path = core::str::from_utf8(parts.next()?).ok().filter(|p| !p.is_empty())?;
    let mut args = Vec::new();
    for p in parts {
        if p.is_empty() {
            return Some((path, args));
        }
        args.push(core::str::from_utf8(p).ok()?);
        if args.len() > MAX_ARGS {
            return None;
        }
    }
    None
}

/// Build a SPAWN/EXEC buffer.
pub fn join_request(path: &str, args: &[&str]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(path.as_bytes());
    v.push(0);
    for a in args {
        v.extend_from_slice(a.as_bytes());
        v.push(0);
    }
    v.push(0);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let at = 0x5000_0000_0000 - 4096;
        let block = encode(&["cat", "a.txt", ""], at).unwrap();
        assert_eq!(decode(&block, at).unwrap(), vec!["cat", "a.txt", ""]);
        assert_eq!(decode(&encode(&[], at).unwrap(), at).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn limits_and_malformed_blocks() {
        let many: Vec<&str> = (0..MAX_ARGS + 1).map(|_| "x").collect();
        assert_eq!(encode(&many, 0), Err(ArgsError::TooLong));
        let long = "y".repeat(MAX_ARG_BYTES);
        assert_eq!(encode(&[&long], 0), Err(ArgsError::TooLong));
        assert_eq!(encode(&["a\0b"], 0), Err(ArgsError::TooLong));
        assert_eq!(decode(&[1, 0, 0], 0), Err(ArgsError::Malformed));
        let mut block = encode(&["abc"], 1000).unwrap();
        assert_eq!(decode(&block, 5000).unwrap_err(), ArgsError::Malformed, "pointer below the block");
        block.truncate(block.len() - 1);
        assert_eq!(decode(&block, 1000), Err(ArgsError::Malformed), "missing NUL");
    }

    #[test]
    fn requests() {
        let r = join_request("/bin/ls", &["ls", "-l"]);
        assert_eq!(split_request(&r), Some(("/bin/ls", vec!["ls", "-l"])));
        assert_eq!(split_request(b"\0\0"), None, "empty path");
        assert_eq!(split_request(b"ls\0a"), None, "unterminated list");
        assert_eq!(split_request(b"ls\0\0"), Some(("ls", vec![])));
    }
}
