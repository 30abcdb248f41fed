//! What reaches the serial line is text: valid UTF-8 without stray control
//! bytes. Graders and terminals read the console as UTF-8 (ChCore's own
//! grader stops at the first byte that is not), and a program may print
//! anything (a fuzzer prints raw memory). Every byte the console sends goes
//! through a [`TextFilter`]: well-formed UTF-8 and the control characters a
//! terminal uses pass unchanged, anything else is written as `\xNN`.
//!
//! The filter keeps an unfinished multi-byte character between writes, so
//! text cut into pieces at any byte (a 4 KiB `cat` of a UTF-8 file) comes
//! out whole.

/// The streaming filter (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct TextFilter {
    pending: [u8; 4],
    len: u8,
    need: u8,
}

/// Control bytes a terminal means something by: bell, backspace, tab,
/// line feed, carriage return and escape (for ANSI sequences).
fn passes_as_control(b: u8) -> bool {
    matches!(b, 0x07 | 0x08 | b'\t' | b'\n' | b'\r' | 0x1b)
}

/// Bytes of a character that starts with `b`, if `b` may start one.
fn sequence_len(b: u8) -> Option<u8> {
    match b {
        0xc2..=0xdf => Some(2),
        0xe0..=0xef => Some(3),
        0xf0..=0xf4 => Some(4),
        _ => None,
    }
}

/// Whether `b` may follow `first` as a character's second byte (this
/// rules out overlong forms, surrogates and code points past U+10FFFF).
fn second_ok(first: u8, b: u8) -> bool {
    let range = match first {
        0xe0 => 0xa0..=0xbf,
        0xed => 0x80..=0x9f,
        0xf0 => 0x90..=0xbf,
        0xf4 => 0x80..=0x8f,
        _ => 0x80..=0xbf,
    };
    range.contains(&b)
}

fn escape(b: u8, out: &mut impl FnMut(u8)) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for c in [b'\\', b'x', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]] {
        out(c);
    }
}

impl TextFilter {
    /// A filter between characters.
    pub const fn new() -> TextFilter {
        TextFilter { pending: [0; 4], len: 0, need: 0 }
    }

    /// Pass `bytes` on to `out`, escaped where they are not text.
    pub fn write(&mut self, bytes: &[u8], out: &mut impl FnMut(u8)) {
        for &b in bytes {
            self.push(b, out);
        }
    }

    /// One byte.
    pub fn push(&mut self, b: u8, out: &mut impl FnMut(u8)) {
        if self.len > 0 {
            let fits = if self.len == 1 { second_ok(self.pending[0], b) } else { (0x80..=0xbf).contains(&b) };
            if fits {
                self.pending[usize::from(self.len)] = b;
                self.len += 1;
                if self.len == self.need {
                    for &c in &self.pending[..usize::from(self.len)] {
                        out(c);
                    }
                    self.len = 0;
                }
                return;
            }
            // The character was cut short: what came of it is not text.
            self.flush(out);
        }
        if (0x20..0x7f).contains(&b) || passes_as_control(b) {
            out(b);
        } else if let Some(n) = sequence_len(b) {
            self.pending[0] = b;
            self.len = 1;
            self.need = n;
        } else {
            escape(b, out);
        }
    }

    /// Escape an unfinished character, if one is pending.
    pub fn flush(&mut self, out: &mut impl FnMut(u8)) {
        for &c in &self.pending[..usize::from(self.len)] {
            escape(c, out);
        }
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::XorShift;

    fn filter(pieces: &[&[u8]]) -> String {
        let mut f = TextFilter::new();
        let mut out = Vec::new();
        for p in pieces {
            f.write(p, &mut |b| out.push(b));
        }
        f.flush(&mut |b| out.push(b));
        String::from_utf8(out).expect("the filter's output is UTF-8")
    }

    #[test]
    fn text_passes_unchanged() {
        let s = "plain ASCII, tab\there, CR LF\r\n, ESC[1m bold ESC[0m, bell \x07, back\x08space; \u{e9}t\u{e9}, \u{4e2d}\u{6587}, \u{1f600}";
        assert_eq!(filter(&[s.as_bytes()]), s);
    }

    #[test]
    fn bytes_that_are_not_text_are_escaped() {
        assert_eq!(filter(&[b"a\xffb\x00c\x7fd"]), "a\\xffb\\x00c\\x7fd");
        // Overlong, surrogate, past U+10FFFF, lone continuation.
        assert_eq!(filter(&[b"\xc0\xaf"]), "\\xc0\\xaf");
        assert_eq!(filter(&[b"\xed\xa0\x80"]), "\\xed\\xa0\\x80");
        assert_eq!(filter(&[b"\xf4\x90\x80\x80"]), "\\xf4\\x90\\x80\\x80");
        assert_eq!(filter(&[b"\x80"]), "\\x80");
        // A character cut short by ASCII: the start is escaped, the ASCII kept.
        assert_eq!(filter(&[b"\xe4\xb8x"]), "\\xe4\\xb8x");
    }

    #[test]
    fn a_character_split_between_writes_comes_out_whole() {
        let s = "\u{4e2d}\u{1f600}";
        let b = s.as_bytes();
        for cut in 0..=b.len() {
            assert_eq!(filter(&[&b[..cut], &b[cut..]]), s, "cut at {cut}");
        }
    }

    #[test]
    fn an_unfinished_character_waits_for_the_next_write_or_flush() {
        let mut f = TextFilter::new();
        let mut out = Vec::new();
        f.write(b"ok \xe4", &mut |b| out.push(b));
        assert_eq!(out, b"ok ");
        f.flush(&mut |b| out.push(b));
        assert_eq!(out, b"ok \\xe4");
    }

    #[test]
    fn random_bytes_always_come_out_as_utf8_and_keep_their_text() {
        let mut rng = XorShift(0x7e47);
        for _ in 0..2000 {
            let len = (rng.next_u64() % 64) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            let cut = if len == 0 { 0 } else { (rng.next_u64() % len as u64) as usize };
            let got = filter(&[&bytes[..cut], &bytes[cut..]]);
            // Every printable ASCII byte of the input is in the output, in order.
            let ascii: String = bytes.iter().filter(|b| (0x20..0x7f).contains(*b)).map(|&b| b as char).collect();
            let mut it = got.chars();
            assert!(ascii.chars().all(|c| it.any(|g| g == c)), "{bytes:?} -> {got:?}");
        }
    }
}
