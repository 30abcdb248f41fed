//! The shell's command-line parser: a pipeline of commands, each a list of
//! words. Words split on blanks; single or double quotes keep blanks (and
//! `|`) inside a word; `$?` is replaced by the last exit status.

use alloc::string::String;
use alloc::vec::Vec;

/// Why a line could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// A quote was not closed.
    UnterminatedQuote,
    /// A `|` with no command on one side.
    EmptyCommand,
}

/// The commands of a pipeline (empty for a blank line).
pub fn parse(line: &str, last_status: i32) -> Result<Vec<Vec<String>>, ParseError> {
    let mut commands: Vec<Vec<String>> = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    let status = alloc::format!("{last_status}");
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '$') if chars.peek() == Some(&'?') => {
                chars.next();
                word.push_str(&status);
                in_word = true;
            }
            (None, '|') => {
                if in_word {
                    words.push(core::mem::take(&mut word));
                    in_word = false;
                }
                if words.is_empty() {
                    return Err(ParseError::EmptyCommand);
                }
                commands.push(core::mem::take(&mut words));
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(core::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(ParseError::UnterminatedQuote);
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        if commands.is_empty() {
            return Ok(commands);
        }
        return Err(ParseError::EmptyCommand);
    }
    commands.push(words);
    Ok(commands)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<Vec<Vec<String>>, ParseError> {
        parse(line, 3)
    }

    fn cmds(v: &[&[&str]]) -> Vec<Vec<String>> {
        v.iter().map(|c| c.iter().map(|s| s.to_string()).collect()).collect()
    }

    #[test]
    fn words_and_pipelines() {
        assert_eq!(p("ls"), Ok(cmds(&[&["ls"]])));
        assert_eq!(p("  echo   hello  world "), Ok(cmds(&[&["echo", "hello", "world"]])));
        assert_eq!(p("echo hello | cat"), Ok(cmds(&[&["echo", "hello"], &["cat"]])));
        assert_eq!(p("a|b|c  | d"), Ok(cmds(&[&["a"], &["b"], &["c"], &["d"]])));
        assert_eq!(p(""), Ok(vec![]));
        assert_eq!(p("   "), Ok(vec![]));
    }

    #[test]
    fn quotes_and_status() {
        assert_eq!(p("echo 'a | b' \"c  d\""), Ok(cmds(&[&["echo", "a | b", "c  d"]])));
        assert_eq!(p("echo ''"), Ok(cmds(&[&["echo", ""]])));
        assert_eq!(p("echo $?"), Ok(cmds(&[&["echo", "3"]])));
        assert_eq!(p("echo x$?y '$?'"), Ok(cmds(&[&["echo", "x3y", "$?"]])));
    }

    #[test]
    fn random_lines_never_panic_and_plain_words_round_trip() {
        let alphabet: Vec<char> = "ab |'\"$?  x\t".chars().collect();
        let mut rng = kernel_core::testing::XorShift(42);
        for _ in 0..20_000 {
            let mut line = String::new();
            for _ in 0..(rng.0 % 24) {
                let x = rng.next_u64();
                line.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            rng.0 = rng.0.wrapping_add(1);
            // Any line parses or is refused; never a panic, never an empty word list.
            if let Ok(cmds) = parse(&line, 0) {
                assert!(cmds.iter().all(|c| !c.is_empty()), "{line:?} -> {cmds:?}");
            }
        }
        // Words without special characters come back as they went in.
        let words = ["ls", "cat", "a.txt", "x-y_z", "123"];
        let line = words.join("   ");
        assert_eq!(parse(&line, 0).unwrap(), vec![words.iter().map(|w| w.to_string()).collect::<Vec<_>>()]);
    }

    #[test]
    fn errors() {
        assert_eq!(p("echo 'oops"), Err(ParseError::UnterminatedQuote));
        assert_eq!(p("| cat"), Err(ParseError::EmptyCommand));
        assert_eq!(p("ls |"), Err(ParseError::EmptyCommand));
        assert_eq!(p("ls | | cat"), Err(ParseError::EmptyCommand));
    }
}
