//! Command-line options as POSIX utilities take them (XBD 12.2, Utility
//! Syntax Guidelines): single letters after `-`, several in one word (`-rf`
//! is `-r -f`), all before the operands. The first operand ends the options,
//! as does `--`; `-` alone is an operand (standard input, by convention).
//!
//! Only flags: a tool whose option takes a value (`head -n`) parses its own.

use alloc::vec::Vec;
use core::fmt;

/// A command line split into the option letters given and the operands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options<'a> {
    /// Bit `c` set when ASCII letter `c` was given.
    given: u128,
    /// The operands, in order.
    pub operands: Vec<&'a str>,
}

impl Options<'_> {
    /// Whether option `letter` was given (any number of times).
    pub fn has(&self, letter: char) -> bool {
        letter.is_ascii() && self.given & (1 << letter as u32) != 0
    }
}

/// An option letter the tool does not know, worded as GNU's tools word it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadOption(pub char);

impl fmt::Display for BadOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid option -- '{}'", self.0)
    }
}

/// Split `args` (without the program's name) into options and operands,
/// accepting the ASCII letters in `known`.
pub fn parse<'a>(args: &[&'a str], known: &str) -> Result<Options<'a>, BadOption> {
    let mut options = Options::default();
    let mut rest = args.iter();
    for &arg in rest.by_ref() {
        if arg == "--" {
            break;
        }
        let Some(letters) = arg.strip_prefix('-').filter(|l| !l.is_empty()) else {
            options.operands.push(arg);
            break;
        };
        for c in letters.chars() {
            if !c.is_ascii() || !known.contains(c) {
                return Err(BadOption(c));
            }
            options.given |= 1 << c as u32;
        }
    }
    options.operands.extend(rest);
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn flags_alone_and_together() {
        let o = parse(&["-r", "-f", "a"], "rf").unwrap();
        assert!(o.has('r') && o.has('f') && !o.has('x'));
        assert_eq!(o.operands, ["a"]);
        let o = parse(&["-rf", "-r", "a", "b"], "rf").unwrap();
        assert!(o.has('r') && o.has('f'));
        assert_eq!(o.operands, ["a", "b"]);
        let o = parse(&[], "rf").unwrap();
        assert!(!o.has('r') && o.operands.is_empty());
    }

    #[test]
    fn options_end_at_the_first_operand_or_double_dash() {
        // As POSIX says (and GNU does with POSIXLY_CORRECT): `-x` after an
        // operand is an operand, so `rm -- -x` and `grep -v -- -n` work.
        let o = parse(&["pat", "-i", "f"], "i").unwrap();
        assert!(!o.has('i'));
        assert_eq!(o.operands, ["pat", "-i", "f"]);
        let o = parse(&["-i", "--", "-x", "--"], "i").unwrap();
        assert!(o.has('i'));
        assert_eq!(o.operands, ["-x", "--"]);
        // `-` alone is standard input, an operand.
        let o = parse(&["-i", "-", "-i"], "i").unwrap();
        assert_eq!(o.operands, ["-", "-i"]);
    }

    #[test]
    fn unknown_letters_are_refused_with_gnu_wording() {
        assert_eq!(parse(&["-rx"], "rf"), Err(BadOption('x')));
        assert_eq!(parse(&["-é"], "rf"), Err(BadOption('é')));
        assert_eq!(parse(&["--help"], "rf"), Err(BadOption('-')));
        assert_eq!(BadOption('q').to_string(), "invalid option -- 'q'");
        // Letters unknown to `known` but present as operands are fine.
        assert_eq!(parse(&["a", "-x"], "").unwrap().operands, ["a", "-x"]);
    }
}
