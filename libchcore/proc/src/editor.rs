//! The shell's line editor: raw keys in; the line, and what to show for
//! each key, out. Plain logic, tested on the host; the shell feeds it the
//! console's keys (procmgr's `KEY`, no echo) and writes what it returns.
//!
//! Keys (those of a VT100/xterm-style terminal, as QEMU's serial line and
//! `screen`/`minicom` send them):
//! - printable characters (UTF-8 too) are inserted at the cursor;
//! - Backspace (0x7f or 0x08) deletes before the cursor, Delete (`ESC [3~`)
//!   and Ctrl-D under it; Ctrl-D on an empty line is end of input;
//! - Left/Right (`ESC [D`/`ESC [C`, Ctrl-B/Ctrl-F), Home/End (`ESC [H`,
//!   `ESC [F`, `ESC [1~`, `ESC [4~`, `ESC OH`, `ESC OF`, Ctrl-A/Ctrl-E);
//! - Up/Down (`ESC [A`/`ESC [B`, Ctrl-P/Ctrl-N) walk the history (the line
//!   being typed is kept and comes back below the newest entry);
//! - Ctrl-U deletes to the start, Ctrl-K to the end, Ctrl-W the word
//!   before the cursor; Ctrl-L clears the screen;
//! - Tab completes the word before the cursor ([`Completer`]);
//! - Enter (CR or LF; LF right after CR is the same Enter) ends the line.
//!
//! What is shown assumes one column per character and a line that fits
//! the terminal's width. Typing at the end of the line shows exactly the
//! typed bytes, and Backspace there `BS SP BS`, as a terminal's own echo
//! would; edits elsewhere redraw the rest of the line with ANSI cursor
//! movement (`ESC [nD`, `ESC [nC`) and erase-to-end (`ESC [K`).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Entries the history keeps (the oldest goes first).
pub const HISTORY_MAX: usize = 500;
/// Longest line, in characters; keys past it ring the bell.
pub const LINE_MAX: usize = 4096;

const BELL: &[u8] = b"\x07";

/// What a key did.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// Nothing more yet: read the next key.
    More,
    /// Enter: the line, without its end (also added to the history).
    Line(String),
    /// Ctrl-D on an empty line.
    Eof,
}

/// A word Tab may complete to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The whole word, starting with what was typed (`/bin/hello` for `/bin/he`).
    pub word: String,
    /// A directory: completing to it adds `/` rather than a space.
    pub dir: bool,
}

/// Where Tab's candidates come from.
pub trait Completer {
    /// The words `word` may complete to. `command`: it stands where a
    /// program's name goes (the first word of a command) and has no `/`.
    fn candidates(&mut self, word: &str, command: bool) -> Vec<Candidate>;
}

/// Partway through an escape sequence.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    /// After ESC.
    Start,
    /// After `ESC [`, with the number so far.
    Csi(u32),
    /// After `ESC O`.
    Ss3,
}

/// One line being edited, and the history.
pub struct Editor {
    prompt: String,
    line: Vec<char>,
    cursor: usize,
    history: Vec<String>,
    /// The history entry shown (`None`: the line being typed).
    browsing: Option<usize>,
    /// The line being typed, kept while the history is shown.
    draft: Vec<char>,
    escape: Escape,
    /// An unfinished UTF-8 character.
    utf8: Vec<u8>,
    after_cr: bool,
}

impl Editor {
    /// An editor whose lines follow `prompt` (redrawn after a list of
    /// completions or Ctrl-L).
    pub fn new(prompt: &str) -> Editor {
        Editor {
            prompt: String::from(prompt),
            line: Vec::new(),
            cursor: 0,
            history: Vec::new(),
            browsing: None,
            draft: Vec::new(),
            escape: Escape::None,
            utf8: Vec::new(),
            after_cr: false,
        }
    }

    /// The history, oldest first.
    pub fn history(&self) -> &[String] {
        &self.history
    }

    /// The line so far (tests, and a caller that wants it at end of input).
    pub fn line(&self) -> String {
        self.line.iter().collect()
    }

    /// Drop the line being typed (Ctrl-C: the terminal already showed `^C`).
    pub fn cancel(&mut self) {
        self.line.clear();
        self.cursor = 0;
        self.browsing = None;
        self.escape = Escape::None;
        self.utf8.clear();
    }

    /// Take key `b`; what to show goes to `out`.
    pub fn key(&mut self, b: u8, out: &mut Vec<u8>, completer: &mut dyn Completer) -> Event {
        let after_cr = core::mem::replace(&mut self.after_cr, b == b'\r');
        match self.escape {
            Escape::None => {}
            Escape::Start => {
                self.escape = match b {
                    b'[' => Escape::Csi(0),
                    b'O' => Escape::Ss3,
                    _ => Escape::None,
                };
                return Event::More;
            }
            Escape::Csi(n) => {
                match b {
                    b'0'..=b'9' => self.escape = Escape::Csi(n.saturating_mul(10).saturating_add(u32::from(b - b'0'))),
                    b';' => self.escape = Escape::Csi(0),
                    0x40..=0x7e => {
                        self.escape = Escape::None;
                        self.csi(b, n, out);
                    }
                    // Not a sequence after all: drop it.
                    _ => self.escape = Escape::None,
                }
                return Event::More;
            }
            Escape::Ss3 => {
                self.escape = Escape::None;
                self.csi(b, 0, out);
                return Event::More;
            }
        }
        if b >= 0x80 {
            self.utf8_byte(b, out);
            return Event::More;
        }
        self.utf8.clear();
        match b {
            b'\r' => return self.enter(out),
            b'\n' if after_cr => {}
            b'\n' => return self.enter(out),
            0x1b => self.escape = Escape::Start,
            0x7f | 0x08 => self.backspace(out),
            0x04 if self.line.is_empty() => return Event::Eof,
            0x04 => self.delete(out),
            0x01 => self.move_to(0, out),
            0x05 => self.move_to(self.line.len(), out),
            0x02 => self.move_to(self.cursor.saturating_sub(1), out),
            0x06 => self.move_to((self.cursor + 1).min(self.line.len()), out),
            0x10 => self.older(out),
            0x0e => self.newer(out),
            0x15 => {
                let old = self.cursor;
                self.line.drain(..self.cursor);
                self.cursor = 0;
                self.redraw(old, out);
            }
            0x0b => {
                self.line.truncate(self.cursor);
                out.extend_from_slice(b"\x1b[K");
            }
            0x17 => self.delete_word(out),
            0x0c => {
                out.extend_from_slice(b"\x1b[H\x1b[2J");
                self.show_all(out);
            }
            b'\t' => self.complete(out, completer),
            0x20..=0x7e => self.insert(&[b as char], out),
            // Other control keys mean nothing here.
            _ => {}
        }
        Event::More
    }

    /// The final byte of `ESC [ n X` (or `ESC O X`).
    fn csi(&mut self, fin: u8, n: u32, out: &mut Vec<u8>) {
        match (fin, n) {
            (b'A', _) => self.older(out),
            (b'B', _) => self.newer(out),
            (b'C', _) => self.move_to((self.cursor + 1).min(self.line.len()), out),
            (b'D', _) => self.move_to(self.cursor.saturating_sub(1), out),
            (b'H', _) | (b'~', 1 | 7) => self.move_to(0, out),
            (b'F', _) | (b'~', 4 | 8) => self.move_to(self.line.len(), out),
            (b'~', 3) => self.delete(out),
            _ => {}
        }
    }

    fn utf8_byte(&mut self, b: u8, out: &mut Vec<u8>) {
        self.utf8.push(b);
        match core::str::from_utf8(&self.utf8) {
            Ok(s) => {
                let chars: Vec<char> = s.chars().collect();
                self.utf8.clear();
                self.insert(&chars, out);
            }
            // Unfinished: wait for the rest (a character is at most 4 bytes).
            Err(e) if e.error_len().is_none() && self.utf8.len() < 4 => {}
            Err(_) => self.utf8.clear(),
        }
    }

    fn enter(&mut self, out: &mut Vec<u8>) -> Event {
        out.push(b'\n');
        let line: String = self.line.iter().collect();
        self.cancel();
        if !line.trim().is_empty() && self.history.last() != Some(&line) {
            if self.history.len() == HISTORY_MAX {
                self.history.remove(0);
            }
            self.history.push(line.clone());
        }
        Event::Line(line)
    }

    fn insert(&mut self, chars: &[char], out: &mut Vec<u8>) {
        if self.line.len() + chars.len() > LINE_MAX {
            out.extend_from_slice(BELL);
            return;
        }
        for (i, &c) in chars.iter().enumerate() {
            self.line.insert(self.cursor + i, c);
        }
        // What was typed and the rest of the line after it, then back to
        // just after what was typed (nothing to go back over at the end).
        let text: String = self.line[self.cursor..].iter().collect();
        out.extend_from_slice(text.as_bytes());
        self.cursor += chars.len();
        cursor_by(out, self.cursor as isize - self.line.len() as isize);
    }

    fn backspace(&mut self, out: &mut Vec<u8>) {
        if self.cursor == 0 {
            return;
        }
        let old = self.cursor;
        self.cursor -= 1;
        self.line.remove(self.cursor);
        if old == self.line.len() + 1 {
            out.extend_from_slice(b"\x08 \x08");
        } else {
            self.redraw(old, out);
        }
    }

    fn delete(&mut self, out: &mut Vec<u8>) {
        if self.cursor < self.line.len() {
            self.line.remove(self.cursor);
            self.redraw(self.cursor, out);
        }
    }

    fn delete_word(&mut self, out: &mut Vec<u8>) {
        let old = self.cursor;
        let mut start = self.cursor;
        while start > 0 && self.line[start - 1] == ' ' {
            start -= 1;
        }
        while start > 0 && self.line[start - 1] != ' ' {
            start -= 1;
        }
        self.line.drain(start..self.cursor);
        self.cursor = start;
        self.redraw(old, out);
    }

    fn move_to(&mut self, to: usize, out: &mut Vec<u8>) {
        cursor_by(out, to as isize - self.cursor as isize);
        self.cursor = to;
    }

    /// Show the line again from its start, the terminal's cursor being at
    /// `old`, and leave the cursor at `self.cursor`.
    fn redraw(&self, old: usize, out: &mut Vec<u8>) {
        cursor_by(out, -(old as isize));
        let text: String = self.line.iter().collect();
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(b"\x1b[K");
        cursor_by(out, self.cursor as isize - self.line.len() as isize);
    }

    /// The prompt and the line, on a fresh line of the screen.
    fn show_all(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.prompt.as_bytes());
        let text: String = self.line.iter().collect();
        out.extend_from_slice(text.as_bytes());
        cursor_by(out, self.cursor as isize - self.line.len() as isize);
    }

    /// Show `text` in place of the line, the cursor at its end.
    fn replace(&mut self, text: Vec<char>, out: &mut Vec<u8>) {
        let old = self.cursor;
        self.line = text;
        self.cursor = self.line.len();
        self.redraw(old, out);
    }

    fn older(&mut self, out: &mut Vec<u8>) {
        let i = match self.browsing {
            None if !self.history.is_empty() => {
                self.draft = self.line.clone();
                self.history.len() - 1
            }
            Some(i) if i > 0 => i - 1,
            _ => {
                out.extend_from_slice(BELL);
                return;
            }
        };
        self.browsing = Some(i);
        self.replace(self.history[i].chars().collect(), out);
    }

    fn newer(&mut self, out: &mut Vec<u8>) {
        match self.browsing {
            None => out.extend_from_slice(BELL),
            Some(i) if i + 1 < self.history.len() => {
                self.browsing = Some(i + 1);
                self.replace(self.history[i + 1].chars().collect(), out);
            }
            Some(_) => {
                self.browsing = None;
                let draft = core::mem::take(&mut self.draft);
                self.replace(draft, out);
            }
        }
    }

    fn complete(&mut self, out: &mut Vec<u8>, completer: &mut dyn Completer) {
        let separator = |c: char| c == ' ' || "|;&<>".contains(c);
        let start = self.line[..self.cursor].iter().rposition(|&c| separator(c)).map_or(0, |i| i + 1);
        let word: String = self.line[start..self.cursor].iter().collect();
        let before = self.line[..start].iter().rev().find(|&&c| c != ' ');
        let command = matches!(before, None | Some('|' | ';' | '&')) && !word.contains('/');
        let mut found: Vec<Candidate> =
            completer.candidates(&word, command).into_iter().filter(|c| c.word.starts_with(word.as_str())).collect();
        found.sort_by(|a, b| a.word.cmp(&b.word));
        found.dedup_by(|a, b| a.word == b.word);
        let Some(first) = found.first() else {
            out.extend_from_slice(BELL);
            return;
        };
        if let [only] = found.as_slice() {
            let mut rest: Vec<char> = only.word[word.len()..].chars().collect();
            rest.push(if only.dir { '/' } else { ' ' });
            self.insert(&rest, out);
            return;
        }
        let common = found.iter().fold(first.word.as_str(), |common, c| {
            let same = common.char_indices().zip(c.word.chars()).find(|((_, a), b)| a != b);
            same.map_or(if c.word.len() < common.len() { c.word.as_str() } else { common }, |((i, _), _)| &common[..i])
        });
        if common.len() > word.len() {
            let rest: Vec<char> = common[word.len()..].chars().collect();
            self.insert(&rest, out);
            return;
        }
        // Nothing more in common: show the choices (their last part, as
        // `ls` would), then the prompt and the line again.
        let names: Vec<String> = found
            .iter()
            .map(|c| {
                let name = c.word.rsplit('/').next().unwrap_or(&c.word);
                format!("{name}{}", if c.dir { "/" } else { "" })
            })
            .collect();
        cursor_by(out, (self.line.len() - self.cursor) as isize);
        out.push(b'\n');
        out.extend_from_slice(names.join("  ").as_bytes());
        out.push(b'\n');
        self.show_all(out);
    }
}

/// Move the terminal's cursor `by` columns (left when negative).
fn cursor_by(out: &mut Vec<u8>, by: isize) {
    match by {
        0 => {}
        1 => out.extend_from_slice(b"\x1b[C"),
        -1 => out.extend_from_slice(b"\x1b[D"),
        n if n > 0 => out.extend_from_slice(format!("\x1b[{n}C").as_bytes()),
        n => out.extend_from_slice(format!("\x1b[{}D", -n).as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    /// Completes from a fixed list: programs, and paths under `/bin/` and `d/`.
    struct Fixed;

    impl Completer for Fixed {
        fn candidates(&mut self, word: &str, command: bool) -> Vec<Candidate> {
            let words: &[(&str, bool)] = if command {
                &[("hello", false), ("head", false), ("help", false), ("echo", false)]
            } else {
                &[("/bin/", true), ("/bin/hello", false), ("d/sub", true), ("d/file1", false), ("d/file2", false)]
            };
            words
                .iter()
                .filter(|(w, _)| w.starts_with(word))
                .map(|&(w, dir)| Candidate { word: w.to_string(), dir })
                .collect()
        }
    }

    /// Feed `keys`; the events that were not `More`, and everything shown.
    fn feed(ed: &mut Editor, keys: &[u8]) -> (Vec<Event>, String) {
        let mut out = Vec::new();
        let mut events = Vec::new();
        for &k in keys {
            match ed.key(k, &mut out, &mut Fixed) {
                Event::More => {}
                e => events.push(e),
            }
        }
        (events, String::from_utf8(out).unwrap())
    }

    fn line(s: &str) -> Vec<Event> {
        vec![Event::Line(s.to_string())]
    }

    #[test]
    fn typing_at_the_end_echoes_exactly_what_was_typed() {
        let mut ed = Editor::new("$ ");
        let (events, shown) = feed(&mut ed, b"echo hi\r");
        assert_eq!(events, line("echo hi"));
        assert_eq!(shown, "echo hi\n");
        // CR LF is one Enter; a lone LF is one too.
        let (events, _) = feed(&mut ed, b"a\r\nb\n");
        assert_eq!(events, vec![Event::Line("a".into()), Event::Line("b".into())]);
    }

    #[test]
    fn backspace_at_the_end_and_in_the_middle() {
        let mut ed = Editor::new("$ ");
        let (_, shown) = feed(&mut ed, b"abc\x7f");
        assert_eq!(shown, "abc\x08 \x08");
        assert_eq!(ed.line(), "ab");
        // Left, then backspace: deletes the `a`, redraws `b` and moves back.
        let (_, shown) = feed(&mut ed, b"\x1b[D\x08");
        assert_eq!(ed.line(), "b");
        assert_eq!(shown, "\x1b[D\x1b[Db\x1b[K\x1b[D");
        // At the start nothing happens.
        let (_, shown) = feed(&mut ed, b"\x01\x7f");
        assert_eq!((ed.line().as_str(), shown.as_str()), ("b", ""));
    }

    #[test]
    fn cursor_movement_and_insertion_anywhere() {
        let mut ed = Editor::new("$ ");
        feed(&mut ed, b"wrld");
        let (_, shown) = feed(&mut ed, b"\x1b[D\x1b[D\x1b[Do");
        assert_eq!(ed.line(), "world");
        assert_eq!(shown, "\x1b[D\x1b[D\x1b[Dorld\x1b[3D", "only the rest of the line again");
        // Home, End (both forms) and insert at each.
        feed(&mut ed, b"\x1b[Hhello \x1b[F!\x1b[1~>\x1b[4~<\x1bOH[\x1bOF]");
        assert_eq!(ed.line(), "[>hello world!<]");
        // Right at the end and left at the start are no-ops.
        feed(&mut ed, b"\x1b[C\x01\x1b[D\x02x");
        assert_eq!(ed.line(), "x[>hello world!<]");
        assert_eq!(feed(&mut ed, b"\r").0, line("x[>hello world!<]"));
    }

    #[test]
    fn delete_keys_and_kills() {
        let mut ed = Editor::new("$ ");
        feed(&mut ed, b"one two  three\x01\x1b[3~\x04");
        assert_eq!(ed.line(), "e two  three");
        feed(&mut ed, b"\x05\x17");
        assert_eq!(ed.line(), "e two  ");
        feed(&mut ed, b"\x17");
        assert_eq!(ed.line(), "e ");
        feed(&mut ed, b"abc\x1b[D\x1b[D\x0b");
        assert_eq!(ed.line(), "e a");
        feed(&mut ed, b"\x1b[D\x15");
        assert_eq!(ed.line(), "a");
        // Ctrl-D on a line that is not empty is Delete; on an empty one, EOF.
        assert_eq!(feed(&mut ed, b"\x05\x04").0, vec![]);
        assert_eq!(ed.line(), "a");
        assert_eq!(feed(&mut ed, b"\x01\x04").0, vec![]);
        assert_eq!(ed.line(), "");
        assert_eq!(feed(&mut ed, b"\x04").0, vec![Event::Eof]);
    }

    #[test]
    fn history_walks_back_and_forth_and_keeps_the_draft() {
        let mut ed = Editor::new("$ ");
        feed(&mut ed, b"first\rsecond\rsecond\r   \r");
        assert_eq!(ed.history(), ["first", "second"], "no repeats, no blank lines");
        feed(&mut ed, b"dra");
        feed(&mut ed, b"\x1b[A");
        assert_eq!(ed.line(), "second");
        feed(&mut ed, b"\x1b[A");
        assert_eq!(ed.line(), "first");
        let (_, shown) = feed(&mut ed, b"\x1b[A");
        assert_eq!((ed.line().as_str(), shown.as_str()), ("first", "\x07"));
        feed(&mut ed, b"\x1b[B\x1b[B");
        assert_eq!(ed.line(), "dra");
        let (_, shown) = feed(&mut ed, b"\x0e");
        assert_eq!(shown, "\x07");
        // A recalled line can be edited and run; the entry stays as it was.
        assert_eq!(feed(&mut ed, b"\x10\x10!\r").0, line("first!"));
        assert_eq!(ed.history(), ["first", "second", "first!"]);
    }

    #[test]
    fn history_is_bounded() {
        let mut ed = Editor::new("$ ");
        for i in 0..HISTORY_MAX + 10 {
            feed(&mut ed, format!("cmd {i}\r").as_bytes());
        }
        assert_eq!(ed.history().len(), HISTORY_MAX);
        assert_eq!(ed.history()[0], "cmd 10");
    }

    #[test]
    fn tab_completes_programs_and_paths() {
        let mut ed = Editor::new("$ ");
        // Unique: the rest and a space.
        let (_, shown) = feed(&mut ed, b"ec\t");
        assert_eq!((ed.line().as_str(), shown.as_str()), ("echo ", "echo "));
        // A path after a command; a directory gets a slash.
        feed(&mut ed, b"/b\t");
        assert_eq!(ed.line(), "echo /bin/");
        feed(&mut ed, b"h\t");
        assert_eq!(ed.line(), "echo /bin/hello ");
        // After a pipe, a program name again.
        feed(&mut ed, b"| hel\t");
        assert_eq!(ed.line(), "echo /bin/hello | hel", "hello and help: nothing more in common");
        // The first word may be a path too.
        ed.cancel();
        feed(&mut ed, b"d/f\t");
        assert_eq!(ed.line(), "d/file", "the common prefix");
    }

    #[test]
    fn tab_lists_the_choices_and_shows_the_line_again() {
        let mut ed = Editor::new("$ ");
        let (_, shown) = feed(&mut ed, b"cat d/\t");
        assert_eq!(ed.line(), "cat d/");
        assert_eq!(shown, "cat d/\nfile1  file2  sub/\n$ cat d/");
        // Nothing matches: the bell.
        let (_, shown) = feed(&mut ed, b"zz\t");
        assert_eq!(shown, "zz\x07");
        // In the middle of the line, the rest of it stays after the cursor.
        ed.cancel();
        let (_, shown) = feed(&mut ed, b"he x\x1b[D\x1b[D\t");
        assert_eq!(ed.line(), "he x");
        assert!(shown.ends_with("\x1b[2C\nhead  hello  help\n$ he x\x1b[2D"), "{shown:?}");
    }

    #[test]
    fn utf8_characters_are_one_column_each() {
        let mut ed = Editor::new("$ ");
        let (_, shown) = feed(&mut ed, "héllo".as_bytes());
        assert_eq!(shown, "héllo");
        feed(&mut ed, b"\x7f\x7f\x7f\x7f");
        assert_eq!(ed.line(), "h");
        // A broken sequence is dropped, and typing goes on.
        feed(&mut ed, b"\xc3x\xff!");
        assert_eq!(ed.line(), "hx!");
    }

    #[test]
    fn escape_sequences_that_mean_nothing_are_dropped_whole() {
        let mut ed = Editor::new("$ ");
        feed(&mut ed, b"a\x1b[5~b\x1b[1;5Cc\x1bxd\x1b[Z");
        assert_eq!(ed.line(), "abcd");
    }

    #[test]
    fn the_line_has_a_limit() {
        let mut ed = Editor::new("$ ");
        let long = vec![b'x'; LINE_MAX + 5];
        let (_, shown) = feed(&mut ed, &long);
        assert_eq!(ed.line().len(), LINE_MAX);
        assert!(shown.ends_with("\x07"));
    }
}
