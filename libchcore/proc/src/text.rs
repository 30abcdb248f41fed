//! The text tools' logic, kept apart from their system calls: `cksum`'s CRC,
//! `grep`'s matcher, `wc`'s counts and columns, and the line windows and
//! `-n` option of `head` and `tail`.
//!
//! Everything works on bytes, as GNU's tools do under `LC_ALL=C`: a line is
//! whatever ends in `\n` (the last one need not), and only ASCII letters have
//! a case. Inputs arrive in chunks of any size; no helper needs a whole file
//! in memory.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

// ---------------------------------------------------------------------------
// cksum
// ---------------------------------------------------------------------------

/// The generator of the CRC POSIX specifies for `cksum` (the Ethernet CRC-32
/// polynomial, used most-significant bit first and without reflection).
const CKSUM_POLY: u32 = 0x04C1_1DB7;

/// The CRC of each byte value, so that a byte costs one lookup, not eight shifts.
static CKSUM_TABLE: [u32; 256] = cksum_table();

const fn cksum_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ CKSUM_POLY } else { crc << 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// The POSIX `cksum` checksum of a stream, fed in pieces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cksum {
    crc: u32,
    len: u64,
}

impl Cksum {
    /// The checksum of nothing so far.
    pub const fn new() -> Self {
        Cksum { crc: 0, len: 0 }
    }

    fn step(crc: u32, byte: u8) -> u32 {
        (crc << 8) ^ CKSUM_TABLE[((crc >> 24) as u8 ^ byte) as usize]
    }

    /// Add the next bytes of the stream.
    pub fn update(&mut self, data: &[u8]) {
        self.crc = data.iter().fold(self.crc, |crc, &b| Self::step(crc, b));
        self.len += data.len() as u64;
    }

    /// The checksum and the length in bytes of everything fed so far.
    pub fn finish(&self) -> (u32, u64) {
        // POSIX folds the length into the CRC, least significant byte first
        // and without its leading zero bytes, so that streams of zeros of
        // different lengths differ.
        let mut crc = self.crc;
        let mut len = self.len;
        while len != 0 {
            crc = Self::step(crc, len as u8);
            len >>= 8;
        }
        (!crc, self.len)
    }
}

/// One line of `cksum`'s output, without the newline: `"CRC LEN NAME"`, or
/// `"CRC LEN"` for standard input, as GNU `cksum` prints it.
pub fn cksum_line(crc: u32, len: u64, name: Option<&str>) -> String {
    match name {
        Some(name) => alloc::format!("{crc} {len} {name}"),
        None => alloc::format!("{crc} {len}"),
    }
}

// ---------------------------------------------------------------------------
// grep's matcher
// ---------------------------------------------------------------------------

/// How `grep` reads its pattern.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `-F`: the pattern is a plain string, no character is special.
    pub fixed: bool,
    /// `-i`: ASCII letters match either case.
    pub ignore_case: bool,
    /// `-x`: the pattern must match the whole line.
    pub whole_line: bool,
}

/// Why a pattern was refused; the messages are GNU grep's where it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegexError {
    /// A `[` (or `[:` inside one) with no closing `]` (`:]`).
    UnterminatedBracket,
    /// A range whose end sorts before its start, or has a class at one end.
    BadRange,
    /// `[[:name:]]` with an unknown name.
    BadClass,
    /// `[:alpha:]` where `[[:alpha:]]` was surely meant.
    ClassOutsideBracket,
    /// `[[=x=]]` or `[[.x.]]` naming more than one character.
    BadCollation,
    /// The pattern ends in a lone `\`.
    TrailingBackslash,
    /// `\` before a character whose meaning is a GNU extension or a BRE
    /// feature left out (groups, intervals, back-references, word anchors).
    Unsupported(char),
}

impl fmt::Display for RegexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegexError::UnterminatedBracket => f.write_str("Unmatched [, [^, [:, [., or [="),
            RegexError::BadRange => f.write_str("Invalid range end"),
            RegexError::BadClass => f.write_str("Invalid character class name"),
            RegexError::ClassOutsideBracket => f.write_str("character class syntax is [[:space:]], not [:space:]"),
            RegexError::BadCollation => f.write_str("Invalid collation character"),
            RegexError::TrailingBackslash => f.write_str("Trailing backslash"),
            RegexError::Unsupported(c) => write!(f, "\\{c} is not supported (use -F for plain strings)"),
        }
    }
}

/// A set of byte values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ByteSet([u64; 4]);

impl ByteSet {
    const EMPTY: ByteSet = ByteSet([0; 4]);

    fn one(b: u8) -> Self {
        let mut s = Self::EMPTY;
        s.insert(b);
        s
    }

    fn insert(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
    }

    fn insert_range(&mut self, lo: u8, hi: u8) {
        for b in lo..=hi {
            self.insert(b);
        }
    }

    fn insert_if(&mut self, pred: impl Fn(u8) -> bool) {
        for b in 0..=255u8 {
            if pred(b) {
                self.insert(b);
            }
        }
    }

    fn union(&mut self, other: &ByteSet) {
        for (w, o) in self.0.iter_mut().zip(other.0) {
            *w |= o;
        }
    }

    fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }

    fn negate(&mut self) {
        for w in &mut self.0 {
            *w = !*w;
        }
    }

    /// Add the other case of every ASCII letter in the set.
    fn fold_case(&mut self) {
        for lower in b'a'..=b'z' {
            let upper = lower.to_ascii_uppercase();
            if self.contains(lower) || self.contains(upper) {
                self.insert(lower);
                self.insert(upper);
            }
        }
    }
}

/// One position of the pattern: a set of bytes, repeated any number of times
/// when starred.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Node {
    set: ByteSet,
    star: bool,
}

/// A compiled `grep` pattern.
///
/// The patterns are a sequence of single-byte sets each optionally starred,
/// so matching simulates the automaton with a set of live positions: time
/// O(pattern × line) and memory O(pattern), whatever the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Regex {
    nodes: Vec<Node>,
    at_start: bool,
    at_end: bool,
}

/// `isspace` in the C locale: what separates words for `wc`, and `[:space:]`.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t'..=b'\r')
}

/// The bytes of `[:name:]` in the C locale.
fn class(name: &[u8]) -> Option<ByteSet> {
    let pred: fn(u8) -> bool = match name {
        b"alpha" => |b| b.is_ascii_alphabetic(),
        b"digit" => |b| b.is_ascii_digit(),
        b"alnum" => |b| b.is_ascii_alphanumeric(),
        b"upper" => |b| b.is_ascii_uppercase(),
        b"lower" => |b| b.is_ascii_lowercase(),
        b"space" => is_c_space,
        b"blank" => |b| b == b' ' || b == b'\t',
        b"punct" => |b| b.is_ascii_punctuation(),
        b"print" => |b| (0x20..0x7f).contains(&b),
        b"graph" => |b| b.is_ascii_graphic(),
        b"cntrl" => |b| b < 0x20 || b == 0x7f,
        b"xdigit" => |b| b.is_ascii_hexdigit(),
        _ => return None,
    };
    let mut set = ByteSet::EMPTY;
    set.insert_if(pred);
    Some(set)
}

/// Where `needle` starts in `hay` at or after `from`.
fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let rest = hay.get(from..)?;
    rest.windows(needle.len()).position(|w| w == needle).map(|i| i + from)
}

/// Parse a bracket expression; `i` is just past its `[` and ends just past its `]`.
fn bracket(p: &[u8], i: &mut usize, ignore_case: bool) -> Result<ByteSet, RegexError> {
    let negate = p.get(*i) == Some(&b'^');
    if negate {
        *i += 1;
    }
    let start = *i;
    let mut set = ByteSet::EMPTY;
    // GNU refuses `[:alpha:]` (colons first and last, something else between,
    // no class or range) as a likely typo for `[[:alpha:]]`.
    let mut plain = true;
    loop {
        let Some(&c) = p.get(*i) else { return Err(RegexError::UnterminatedBracket) };
        // A `]` first in the list is a member, not the end.
        if c == b']' && *i > start {
            *i += 1;
            break;
        }
        if c == b'[' && matches!(p.get(*i + 1), Some(b':' | b'=' | b'.')) {
            let kind = p[*i + 1];
            let close = [kind, b']'];
            let end = find(p, *i + 2, &close).ok_or(RegexError::UnterminatedBracket)?;
            let name = &p[*i + 2..end];
            *i = end + 2;
            plain = false;
            if kind == b':' {
                set.union(&class(name).ok_or(RegexError::BadClass)?);
                // A class cannot end a range either.
                if p.get(*i) == Some(&b'-') && p.get(*i + 1).is_some_and(|&b| b != b']') {
                    return Err(RegexError::BadRange);
                }
            } else if let [b] = name {
                set.insert(*b);
            } else {
                return Err(RegexError::BadCollation);
            }
            continue;
        }
        *i += 1;
        if p.get(*i) == Some(&b'-') && p.get(*i + 1).is_some_and(|&b| b != b']') {
            let hi = p[*i + 1];
            if hi == b'[' && matches!(p.get(*i + 2), Some(b':' | b'=' | b'.')) {
                return Err(RegexError::BadRange);
            }
            if hi < c {
                return Err(RegexError::BadRange);
            }
            set.insert_range(c, hi);
            *i += 2;
            plain = false;
        } else {
            set.insert(c);
        }
    }
    let body = &p[start..*i - 1];
    if plain && body.len() >= 3 && body[0] == b':' && body[body.len() - 1] == b':' && body.iter().any(|&b| b != b':') {
        return Err(RegexError::ClassOutsideBracket);
    }
    // Fold before negating: under -i, `[^a]` must refuse `A` too.
    if ignore_case {
        set.fold_case();
    }
    if negate {
        set.negate();
    }
    Ok(set)
}

/// Compile a POSIX basic regular expression (the subset in [`Regex::new`]).
fn parse_bre(p: &[u8], ignore_case: bool) -> Result<Regex, RegexError> {
    let mut nodes: Vec<Node> = Vec::new();
    let at_start = p.first() == Some(&b'^');
    let mut at_end = false;
    let mut i = usize::from(at_start);
    let literal = |b: u8| {
        let mut set = ByteSet::one(b);
        if ignore_case {
            set.fold_case();
        }
        set
    };
    while let Some(&c) = p.get(i) {
        i += 1;
        let set = match c {
            // Only last is `$` an anchor, elsewhere it is itself (XBD 9.3.8).
            b'$' if i == p.len() => {
                at_end = true;
                break;
            }
            b'*' => match nodes.last_mut() {
                // `a**` is `a*`.
                Some(node) => {
                    node.star = true;
                    continue;
                }
                // First in the pattern, or just after `^`, `*` is itself.
                None => literal(b'*'),
            },
            b'.' => {
                let mut set = ByteSet::one(b'\n');
                set.negate();
                set
            }
            b'[' => bracket(p, &mut i, ignore_case)?,
            b'\\' => {
                let &e = p.get(i).ok_or(RegexError::TrailingBackslash)?;
                i += 1;
                match e {
                    b'('
                    | b')'
                    | b'{'
                    | b'}'
                    | b'|'
                    | b'<'
                    | b'>'
                    | b'+'
                    | b'?'
                    | b'1'..=b'9'
                    | b'b'
                    | b'B'
                    | b'w'
                    | b'W'
                    | b's'
                    | b'S'
                    | b'\''
                    | b'`' => return Err(RegexError::Unsupported(char::from(e))),
                    // The rest stand for themselves, as GNU reads `\a` as `a`.
                    _ => literal(e),
                }
            }
            _ => literal(c),
        };
        nodes.push(Node { set, star: false });
    }
    Ok(Regex { nodes, at_start, at_end })
}

impl Regex {
    /// Compile `pattern` for `grep`.
    ///
    /// Without [`Options::fixed`] it is a POSIX basic regular expression
    /// limited to: literals, `.`, `*`, `^` first and `$` last as anchors
    /// (elsewhere themselves), bracket expressions with ranges, `^`
    /// negation, `[:class:]`es and single-character `[=x=]`/`[.x.]`, and
    /// `\` before a special character. Groups, intervals, back-references
    /// and GNU's `\w`-style escapes are refused, not misread.
    pub fn new(pattern: &str, options: Options) -> Result<Regex, RegexError> {
        let p = pattern.as_bytes();
        let mut re = if options.fixed {
            let nodes = p
                .iter()
                .map(|&b| {
                    let mut set = ByteSet::one(b);
                    if options.ignore_case {
                        set.fold_case();
                    }
                    Node { set, star: false }
                })
                .collect();
            Regex { nodes, at_start: false, at_end: false }
        } else {
            parse_bre(p, options.ignore_case)?
        };
        if options.whole_line {
            re.at_start = true;
            re.at_end = true;
        }
        Ok(re)
    }

    /// Add live position `s` to `list` with those it reaches by skipping
    /// starred nodes, marking each with `stamp` so none is added twice.
    fn add(&self, list: &mut Vec<usize>, mark: &mut [usize], mut s: usize, stamp: usize) {
        while mark[s] != stamp {
            mark[s] = stamp;
            list.push(s);
            match self.nodes.get(s) {
                Some(node) if node.star => s += 1,
                _ => break,
            }
        }
    }

    /// Whether the pattern matches somewhere in `line` (which holds no `\n`).
    pub fn is_match(&self, line: &[u8]) -> bool {
        let accept = self.nodes.len();
        // `mark[s] == k` when position s is live after k bytes.
        let mut mark = vec![usize::MAX; accept + 1];
        let mut live = Vec::with_capacity(accept + 1);
        let mut next = Vec::with_capacity(accept + 1);
        self.add(&mut live, &mut mark, 0, 0);
        for (k, &b) in line.iter().enumerate() {
            if mark[accept] == k && !self.at_end {
                return true;
            }
            let stamp = k + 1;
            next.clear();
            for &s in &live {
                if let Some(node) = self.nodes.get(s) {
                    if node.set.contains(b) {
                        self.add(&mut next, &mut mark, if node.star { s } else { s + 1 }, stamp);
                    }
                }
            }
            if !self.at_start {
                // A match may also begin after this byte.
                self.add(&mut next, &mut mark, 0, stamp);
            } else if next.is_empty() {
                return false;
            }
            core::mem::swap(&mut live, &mut next);
        }
        mark[accept] == line.len()
    }
}

// ---------------------------------------------------------------------------
// wc
// ---------------------------------------------------------------------------

/// `wc`'s counts over a stream fed in chunks; also the total of several.
///
/// A word is a run of bytes other than C-locale white space (space, `\t`,
/// `\n`, `\v`, `\f`, `\r`), as POSIX says. GNU `wc` 9 differs on binary
/// data: it ignores control bytes (and, under `LC_ALL=C`, bytes above 0x7f)
/// when deciding whether a run is a word.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Newlines seen.
    pub lines: u64,
    /// Words seen (a word still open at the end of a chunk counts once).
    pub words: u64,
    /// Bytes seen.
    pub bytes: u64,
    in_word: bool,
}

impl Counts {
    /// No input yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Count the next chunk of the stream.
    pub fn update(&mut self, chunk: &[u8]) {
        for &b in chunk {
            if is_c_space(b) {
                self.in_word = false;
                if b == b'\n' {
                    self.lines += 1;
                }
            } else if !self.in_word {
                self.in_word = true;
                self.words += 1;
            }
        }
        self.bytes += chunk.len() as u64;
    }

    /// Add another input's counts, for the `total` line.
    pub fn add(&mut self, other: &Counts) {
        self.lines += other.lines;
        self.words += other.words;
        self.bytes += other.bytes;
    }
}

/// Which counts `wc` prints (always in the order lines, words, bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Columns {
    /// `-l`.
    pub lines: bool,
    /// `-w`.
    pub words: bool,
    /// `-c`.
    pub bytes: bool,
}

impl Columns {
    /// What `wc` prints with none of `-l`, `-w`, `-c`.
    pub const ALL: Columns = Columns { lines: true, words: true, bytes: true };

    fn count(&self) -> usize {
        usize::from(self.lines) + usize::from(self.words) + usize::from(self.bytes)
    }
}

/// What `wc` knew of an input before reading it, which sets the column width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WcInput {
    /// A regular file of this size.
    File(u64),
    /// A pipe, the console or anything else whose size is unknown.
    Stream,
    /// An input that could not be opened (it prints no line).
    Failed,
}

/// The width of every number column, chosen as GNU `wc` does before reading:
/// 1 for a single column of a single input; otherwise wide enough for the
/// total size of the regular files (their byte count bounds every count),
/// and at least 7 when some input is a stream; 1 if the first input failed.
pub fn wc_width(inputs: &[WcInput], columns: Columns) -> usize {
    let single = inputs.len() == 1 && columns.count() == 1;
    if single || matches!(inputs.first(), None | Some(WcInput::Failed)) {
        return 1;
    }
    let mut minimum = 1;
    let mut total: u64 = 0;
    for input in inputs {
        match input {
            WcInput::File(size) => total = total.saturating_add(*size),
            WcInput::Stream => minimum = 7,
            WcInput::Failed => {}
        }
    }
    let mut width = 1;
    while total >= 10 {
        total /= 10;
        width += 1;
    }
    width.max(minimum)
}

/// One line of `wc`'s output, without the newline: the chosen counts right
/// aligned to `width` and separated by one space, then the name if any
/// (`"total"` for the total line; none for standard input alone).
pub fn wc_line(counts: &Counts, columns: Columns, width: usize, name: Option<&str>) -> String {
    use core::fmt::Write;
    let mut out = String::new();
    let chosen = [(columns.lines, counts.lines), (columns.words, counts.words), (columns.bytes, counts.bytes)];
    for (_, n) in chosen.iter().filter(|(on, _)| *on) {
        let sep = if out.is_empty() { "" } else { " " };
        let _ = write!(out, "{sep}{n:>width$}");
    }
    if let Some(name) = name {
        out.push(' ');
        out.push_str(name);
    }
    out
}

// ---------------------------------------------------------------------------
// head and tail
// ---------------------------------------------------------------------------

/// The sign written before `-n`'s number, which head and tail read differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sign {
    /// `-n 5` or `-5`.
    None,
    /// `-n +5`: tail starts at line 5; head reads it as 5.
    Plus,
    /// `-n -5`: head prints all but the last 5 lines; tail reads it as 5.
    Minus,
}

/// A `-n` line count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineCount {
    /// The number of lines.
    pub n: u64,
    /// The sign it was written with.
    pub sign: Sign,
}

/// The command line of `head` or `tail`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountArgs<'a> {
    /// The line count, the default if none was given.
    pub count: LineCount,
    /// The files in order; empty means standard input, as does `-`.
    pub files: Vec<&'a str>,
}

/// Why a `head` or `tail` command line was refused; the messages are GNU's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionError<'a> {
    /// `-n` last, with no number after it.
    MissingCount,
    /// `-n` followed by something that is not a number.
    BadCount(&'a str),
    /// An option other than `-n`, `-NUM` and `--`.
    UnknownOption(&'a str),
}

impl fmt::Display for OptionError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionError::MissingCount => f.write_str("option requires an argument -- 'n'"),
            OptionError::BadCount(s) => write!(f, "invalid number of lines: '{s}'"),
            OptionError::UnknownOption(s) => write!(f, "invalid option '{s}' (use -n NUM or -NUM)"),
        }
    }
}

fn parse_count(s: &str) -> Option<LineCount> {
    let (sign, digits) = match s.as_bytes().first() {
        Some(b'+') => (Sign::Plus, &s[1..]),
        Some(b'-') => (Sign::Minus, &s[1..]),
        _ => (Sign::None, s),
    };
    // `u64::from_str` would take a second sign; only digits may follow.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(LineCount { n: digits.parse().ok()?, sign })
}

/// Read `head`'s or `tail`'s arguments (without the program name): `-n N`,
/// `-nN` and `-N`, with an optional `+` or `-` before N after `-n`; the last
/// count given wins. Options may follow files, as with GNU; `--` ends them.
pub fn parse_count_args<'a>(args: &[&'a str], default: u64) -> Result<CountArgs<'a>, OptionError<'a>> {
    let mut count = LineCount { n: default, sign: Sign::None };
    let mut files = Vec::new();
    let mut args = args.iter();
    while let Some(&arg) = args.next() {
        if arg == "--" {
            files.extend(args.by_ref());
            break;
        }
        let Some(opt) = arg.strip_prefix('-').filter(|o| !o.is_empty()) else {
            files.push(arg);
            continue;
        };
        count = if let Some(value) = opt.strip_prefix('n') {
            let value = if value.is_empty() { *args.next().ok_or(OptionError::MissingCount)? } else { value };
            parse_count(value).ok_or(OptionError::BadCount(value))?
        } else if opt.bytes().all(|b| b.is_ascii_digit()) {
            let n = opt.parse().map_err(|_| OptionError::BadCount(opt))?;
            LineCount { n, sign: Sign::None }
        } else {
            return Err(OptionError::UnknownOption(arg));
        };
    }
    Ok(CountArgs { count, files })
}

/// Complete lines, oldest first, at most `keep` of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Ring {
    keep: u64,
    lines: VecDeque<Vec<u8>>,
    /// The line being read, not yet ended by `\n`.
    partial: Vec<u8>,
}

impl Ring {
    fn new(keep: u64) -> Self {
        Ring { keep, ..Self::default() }
    }

    /// Take in a chunk; lines pushed out of the window go to `evicted`.
    fn push(&mut self, mut chunk: &[u8], mut evicted: impl FnMut(&[u8])) {
        while let Some(end) = chunk.iter().position(|&b| b == b'\n') {
            let (line, rest) = chunk.split_at(end + 1);
            chunk = rest;
            if self.keep == 0 {
                evicted(line);
                continue;
            }
            let mut line_buf = core::mem::take(&mut self.partial);
            line_buf.extend_from_slice(line);
            self.lines.push_back(line_buf);
            if self.lines.len() as u64 > self.keep {
                if let Some(old) = self.lines.pop_front() {
                    evicted(&old);
                }
            }
        }
        if self.keep == 0 {
            // Nothing is kept, so a partial line's bytes are as good as gone.
            evicted(chunk);
        } else {
            self.partial.extend_from_slice(chunk);
        }
    }

    /// End of input: an unfinished last line counts as a line.
    fn close(&mut self, mut evicted: impl FnMut(&[u8])) {
        if !self.partial.is_empty() {
            let last = core::mem::take(&mut self.partial);
            // Treat it as if complete; it can only push the oldest one out.
            self.lines.push_back(last);
            let over = (self.lines.len() as u64).saturating_sub(self.keep);
            self.lines.drain(..over as usize).for_each(|line| evicted(&line));
        }
    }
}

/// The lines `head` or `tail` prints from a stream fed in chunks.
///
/// Memory is bounded by the lines kept: none for `head -n N` and `tail -n +N`,
/// the last N for `tail -n N` and `head -n -N`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineFilter(Window);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Window {
    /// `head -n N`: the first N lines.
    First { left: u64 },
    /// `head -n -N`: all but the last N lines.
    AllButLast(Ring),
    /// `tail -n N`: the last N lines.
    Last(Ring),
    /// `tail -n +N`: from line N on (`+0` is `+1`).
    From { skip: u64 },
}

/// How many bytes of `chunk` hold its first `n` lines (all of it if fewer),
/// and how many lines that is.
fn lines_prefix(chunk: &[u8], n: u64) -> (usize, u64) {
    let mut end = 0;
    let mut seen = 0;
    while seen < n {
        match chunk[end..].iter().position(|&b| b == b'\n') {
            Some(i) => {
                end += i + 1;
                seen += 1;
            }
            None => return (chunk.len(), seen),
        }
    }
    (end, seen)
}

impl LineFilter {
    /// What `head` does with `count`.
    pub fn head(count: LineCount) -> Self {
        LineFilter(match count.sign {
            Sign::None | Sign::Plus => Window::First { left: count.n },
            Sign::Minus => Window::AllButLast(Ring::new(count.n)),
        })
    }

    /// What `tail` does with `count`.
    pub fn tail(count: LineCount) -> Self {
        LineFilter(match count.sign {
            Sign::None | Sign::Minus => Window::Last(Ring::new(count.n)),
            Sign::Plus => Window::From { skip: count.n.saturating_sub(1) },
        })
    }

    /// Feed the next chunk; bytes ready to print are appended to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        match &mut self.0 {
            Window::First { left } => {
                let (end, lines) = lines_prefix(chunk, *left);
                *left -= lines;
                out.extend_from_slice(&chunk[..end]);
            }
            Window::AllButLast(ring) => ring.push(chunk, |line| out.extend_from_slice(line)),
            Window::Last(ring) => ring.push(chunk, |_| {}),
            Window::From { skip } => {
                let (start, lines) = lines_prefix(chunk, *skip);
                *skip -= lines;
                if *skip == 0 {
                    out.extend_from_slice(&chunk[start..]);
                }
            }
        }
    }

    /// Whether more input can change nothing, so the reader may stop.
    pub fn is_done(&self) -> bool {
        matches!(self.0, Window::First { left: 0 })
    }

    /// End of input: append whatever remains to print.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        match &mut self.0 {
            Window::AllButLast(ring) => ring.close(|line| out.extend_from_slice(line)),
            Window::Last(ring) => {
                ring.close(|_| {});
                ring.lines.iter().for_each(|line| out.extend_from_slice(line));
            }
            Window::First { .. } | Window::From { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    // --- cksum -------------------------------------------------------------

    /// The inputs checked against GNU cksum.
    fn cksum_inputs() -> Vec<(&'static str, Vec<u8>)> {
        let pattern: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        let mut rng = kernel_core::testing::XorShift(0x9E37_79B9_7F4A_7C15);
        let random: Vec<u8> = (0..4099).map(|_| rng.next_u64() as u8).collect();
        vec![
            ("empty", vec![]),
            ("hello", b"hello\n".to_vec()),
            ("one", b"a".to_vec()),
            ("zeros", vec![0; 300]),
            ("pattern", pattern),
            ("random", random),
        ]
    }

    /// What `/usr/bin/cksum FILE` (GNU coreutils 9.1, on the development
    /// host) printed for each of `cksum_inputs()` written to a file of that
    /// name; the first five also checked by piping the same bytes from
    /// printf, head -c and python into it. Check again with
    /// `cargo test -p chcore-proc -- --ignored gnu_cksum`.
    const GNU_CKSUM: [&str; 6] = [
        "4294967295 0 empty",
        "3015617425 6 hello",
        "1220704766 1 one",
        "351385237 300 zeros",
        "3331618155 1048576 pattern",
        "4192188080 4099 random",
    ];

    fn cksum_of(data: &[u8]) -> (u32, u64) {
        let mut c = Cksum::new();
        c.update(data);
        c.finish()
    }

    #[test]
    fn cksum_matches_gnu() {
        for ((name, data), want) in cksum_inputs().iter().zip(GNU_CKSUM) {
            let (crc, len) = cksum_of(data);
            assert_eq!(cksum_line(crc, len, Some(name)), want);
        }
        // Standard input has no name (GNU: `printf 'hello\n' | cksum`).
        let (crc, len) = cksum_of(b"hello\n");
        assert_eq!(cksum_line(crc, len, None), "3015617425 6");
    }

    #[test]
    fn cksum_is_the_same_whatever_the_chunks() {
        let (_, data) = cksum_inputs().swap_remove(5);
        let whole = cksum_of(&data);
        for size in [1, 2, 3, 7, 64, 1000, 4098] {
            let mut c = Cksum::new();
            data.chunks(size).for_each(|chunk| c.update(chunk));
            assert_eq!(c.finish(), whole, "chunks of {size}");
        }
        // finish() does not consume: more data may follow.
        let mut c = Cksum::new();
        c.update(&data[..10]);
        let _ = c.finish();
        c.update(&data[10..]);
        assert_eq!(c.finish(), whole);
    }

    #[test]
    fn cksum_table_is_the_polynomial() {
        assert_eq!(CKSUM_TABLE[0], 0);
        assert_eq!(CKSUM_TABLE[1], CKSUM_POLY);
        // Linear over XOR, as a CRC table must be.
        for a in 0..256 {
            for b in [1usize, 2, 0x80, 0xff] {
                assert_eq!(CKSUM_TABLE[a ^ b], CKSUM_TABLE[a] ^ CKSUM_TABLE[b]);
            }
        }
    }

    /// Writes `cksum_inputs()` to a temporary directory and runs the host's
    /// cksum on them; needs GNU coreutils, hence ignored by default.
    #[test]
    #[ignore]
    fn gnu_cksum_on_this_host() {
        let dir = std::env::temp_dir().join(alloc::format!("chcore-cksum-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut got = Vec::new();
        for (name, data) in cksum_inputs() {
            std::fs::write(dir.join(name), &data).unwrap();
            let out = std::process::Command::new("cksum").arg(name).current_dir(&dir).output().unwrap();
            got.push(String::from_utf8(out.stdout).unwrap().trim_end().to_string());
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got, GNU_CKSUM, "GNU cksum printed {got:#?}");
    }

    // --- grep --------------------------------------------------------------

    /// `(flags, pattern, line, result)`; each result is what
    /// `printf '%s\n' LINE | LC_ALL=C grep FLAGS -e PATTERN` did with GNU grep
    /// 3.8 on the development host: exit 0 (true), 1 (false), or 2 with that
    /// message.
    #[rustfmt::skip]
    const GNU_GREP: &[(&str, &str, &str, Result<bool, &str>)] = &[
        ("", "hello", "say hello world", Ok(true)),
        ("", "hello", "say helo", Ok(false)),
        ("", "", "anything", Ok(true)),
        ("", "", "", Ok(true)),
        ("", "a.c", "abc", Ok(true)),
        ("", "a.c", "ac", Ok(false)),
        ("", "a.c", "a\tc", Ok(true)),
        ("", "a*", "", Ok(true)),
        ("", "ba*c", "bc", Ok(true)),
        ("", "ba*c", "baaac", Ok(true)),
        ("", "ba*c", "bac!", Ok(true)),
        ("", "ba*c", "bxc", Ok(false)),
        ("", "a.*z", "a to z", Ok(true)),
        ("", "a.*z", "z to a", Ok(false)),
        ("", "^abc", "abcdef", Ok(true)),
        ("", "^abc", "xabc", Ok(false)),
        ("", "abc$", "xxabc", Ok(true)),
        ("", "abc$", "abcx", Ok(false)),
        ("", "^abc$", "abc", Ok(true)),
        ("", "^abc$", "abcabc", Ok(false)),
        ("", "^$", "", Ok(true)),
        ("", "^$", " ", Ok(false)),
        ("", "^", "x", Ok(true)),
        ("", "$", "x", Ok(true)),
        ("", "^*", "*", Ok(true)),
        ("", "^*", "x", Ok(false)),
        ("", "*a", "*a", Ok(true)),
        ("", "*a", "a", Ok(false)),
        ("", "a**", "b", Ok(true)),
        ("", "x\\**", "x***", Ok(true)),
        ("", "a$b", "a$b", Ok(true)),
        ("", "a^b", "a^b", Ok(true)),
        ("", "a^b", "ab", Ok(false)),
        ("", "$a", "$a", Ok(true)),
        ("", "\\.", "a", Ok(false)),
        ("", "\\.", "a.b", Ok(true)),
        ("", "\\*", "*", Ok(true)),
        ("", "\\[", "[", Ok(true)),
        ("", "\\\\", "a\\b", Ok(true)),
        ("", "\\^", "^", Ok(true)),
        ("", "\\$", "a$b", Ok(true)),
        ("", "\\$", "ab", Ok(false)),
        ("", "\\]", "]", Ok(true)),
        ("", "]", "]", Ok(true)),
        ("", "\\/", "/", Ok(true)),
        ("", "\\a", "a", Ok(true)),
        ("", "[abc]", "xbx", Ok(true)),
        ("", "[abc]", "xyz", Ok(false)),
        ("", "[a-z]", "Q7q", Ok(true)),
        ("", "[a-z]", "Q7", Ok(false)),
        ("", "[^a-z]", "abc", Ok(false)),
        ("", "[^a-z]", "abc1", Ok(true)),
        ("", "[]a]", "]", Ok(true)),
        ("", "[^]a]", "]", Ok(false)),
        ("", "[^]a]", "b", Ok(true)),
        ("", "[\\]", "\\", Ok(true)),
        ("", "[\\]]", "\\]", Ok(true)),
        ("", "[\\]]", "]", Ok(false)),
        ("", "[a-]", "-", Ok(true)),
        ("", "[-a]", "-", Ok(true)),
        ("", "[]-a]", "_", Ok(true)),
        ("", "[[]", "[", Ok(true)),
        ("", "[a-a]", "a", Ok(true)),
        ("", "[--/]", ".", Ok(true)),
        ("", "[.]", "a", Ok(false)),
        ("", "[*]", "*", Ok(true)),
        ("", "[$]", "$", Ok(true)),
        ("", "[[:digit:]][[:digit:]]", "a12", Ok(true)),
        ("", "[[:digit:]][[:digit:]]", "a1b2", Ok(false)),
        ("", "[[:alpha:][:digit:]]", "5", Ok(true)),
        ("", "[[:space:]]", "a\tb", Ok(true)),
        ("", "[[:upper:]]", "abc", Ok(false)),
        ("", "[^[:alnum:]]", "abc123", Ok(false)),
        ("", "[^[:alnum:]]", "abc 123", Ok(true)),
        ("", "[[:punct:]]", "a!", Ok(true)),
        ("", "[[:xdigit:]]*$", "zzF0", Ok(true)),
        ("", "[[:blank:]]", "a b", Ok(true)),
        ("", "[[:cntrl:]]", "a\u{1}b", Ok(true)),
        ("", "[[:print:]]", "\u{1}", Ok(false)),
        ("", "[[:graph:]]", " ", Ok(false)),
        ("", "[[:lower:]]", "A", Ok(false)),
        ("", "[[=a=]]", "a", Ok(true)),
        ("", "[[.-.]]", "-", Ok(true)),
        ("", "[:a:b]", "b", Ok(true)),
        ("", "[::]", ":", Ok(true)),
        ("", "[:]", ":", Ok(true)),
        ("", "x[ab]*y", "xababay", Ok(true)),
        ("", "x[ab]*y", "xabcy", Ok(false)),
        ("", "a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Ok(false)),
        ("", "^.*$", "", Ok(true)),
        ("", ".", "", Ok(false)),
        ("", "x*", "", Ok(true)),
        ("", "+", "+", Ok(true)),
        ("", "a?", "a?", Ok(true)),
        ("", "a|b", "a|b", Ok(true)),
        ("", "a|b", "a", Ok(false)),
        ("", "(a)", "(a)", Ok(true)),
        ("", "a{2}", "a{2}", Ok(true)),
        ("-i", "ABC", "xabcx", Ok(true)),
        ("-i", "abc", "XABCX", Ok(true)),
        ("-i", "[^a]", "A", Ok(false)),
        ("-i", "[A-C]", "b", Ok(true)),
        ("-i", "[^A-C]", "b", Ok(false)),
        ("-i", "[[:upper:]]", "a", Ok(true)),
        ("-i", "[[:lower:]]", "A", Ok(true)),
        ("-i", "x.Z", "X-z", Ok(true)),
        ("-i", "^hello$", "HeLLo", Ok(true)),
        ("-i", "1", "1", Ok(true)),
        ("-i", "a*", "AAA", Ok(true)),
        ("-i", "[^[:lower:]]", "abc", Ok(false)),
        ("-x", "abc", "abc", Ok(true)),
        ("-x", "abc", "abcd", Ok(false)),
        ("-x", "", "", Ok(true)),
        ("-x", "", "a", Ok(false)),
        ("-x", "a*", "aaa", Ok(true)),
        ("-x", "a*", "aab", Ok(false)),
        ("-x", "^a$", "a", Ok(true)),
        ("-x", "b", "abc", Ok(false)),
        ("-F", "a.b", "axb", Ok(false)),
        ("-F", "a.b", "a.b", Ok(true)),
        ("-F", "[", "a[b", Ok(true)),
        ("-F", "^a", "^a", Ok(true)),
        ("-F", "^a", "a", Ok(false)),
        ("-F", "a$", "a$", Ok(true)),
        ("-F", "\\", "a\\b", Ok(true)),
        ("-F", "a*", "aaa", Ok(false)),
        ("-F", "", "x", Ok(true)),
        ("-F", "aab", "aaab", Ok(true)),
        ("-F", "abab", "abaabab", Ok(true)),
        ("-Fi", "A.B", "xa.bx", Ok(true)),
        ("-Fi", "a.b", "xA.Bx", Ok(true)),
        ("-Fx", "ab", "ab", Ok(true)),
        ("-Fx", "ab", "abc", Ok(false)),
        ("-Fx", "", "", Ok(true)),
        ("-Fix", "AB", "ab", Ok(true)),
        ("", "[:alpha:]", "a", Err("character class syntax is [[:space:]], not [:space:]")),
        ("", "[^:alpha:]", "a", Err("character class syntax is [[:space:]], not [:space:]")),
        ("", "[:a\\:]", "a", Err("character class syntax is [[:space:]], not [:space:]")),
        ("", "[[:alpha:]", "a", Err("Unmatched [, [^, [:, [., or [=")),
        ("", "[a", "a", Err("Unmatched [, [^, [:, [., or [=")),
        ("", "[", "a", Err("Invalid regular expression")),
        ("", "[]", "a", Err("Unmatched [, [^, [:, [., or [=")),
        ("", "[^]", "a", Err("Unmatched [, [^, [:, [., or [=")),
        ("", "[:a[:]", "a", Err("Unmatched [, [^, [:, [., or [=")),
        ("", "[z-a]", "a", Err("Invalid range end")),
        ("", "a\\", "a", Err("Trailing backslash")),
        ("", "\\", "a", Err("Trailing backslash")),
        ("", "[[:foo:]]", "a", Err("Invalid character class name")),
        ("", "[[=ab=]]", "a", Err("Invalid collation character")),
        ("", "[[.space.]]", " ", Err("Invalid collation character")),
        ("", "[[:alpha:]-z]", "-", Err("Invalid range end")),
        ("", "[a-[:alpha:]]", "b", Err("Invalid range end")),
        ("", "\\1", "a", Err("Invalid back reference")),

    ];

    fn options(flags: &str) -> Options {
        Options { fixed: flags.contains('F'), ignore_case: flags.contains('i'), whole_line: flags.contains('x') }
    }

    #[test]
    fn grep_agrees_with_gnu() {
        assert!(GNU_GREP.len() > 150);
        for &(flags, pattern, line, want) in GNU_GREP {
            let got = Regex::new(pattern, options(flags)).map(|re| re.is_match(line.as_bytes()));
            match (got, want) {
                (Ok(m), Ok(w)) => assert_eq!(m, w, "grep {flags} -e {pattern:?} on {line:?}"),
                (Err(e), Err(msg)) => {
                    // Ours says more: GNU has no message for a lone `[`, and
                    // back-references are refused as unsupported.
                    let ours = match pattern {
                        "[" => "Invalid regular expression".to_string(),
                        "\\1" => "Invalid back reference".to_string(),
                        _ => e.to_string(),
                    };
                    assert_eq!(ours, msg, "grep {flags} -e {pattern:?}");
                }
                (got, _) => panic!("grep {flags} -e {pattern:?} on {line:?}: {got:?}, GNU: {want:?}"),
            }
        }
    }

    #[test]
    fn grep_refuses_what_it_does_not_implement() {
        for (pattern, c) in [
            ("a\\(b\\)", '('),
            ("a\\{2\\}", '{'),
            ("a\\|b", '|'),
            ("\\<a", '<'),
            ("a\\+", '+'),
            ("\\w", 'w'),
            ("\\1", '1'),
        ] {
            assert_eq!(Regex::new(pattern, Options::default()), Err(RegexError::Unsupported(c)), "{pattern:?}");
            // With -F nothing is special.
            assert!(Regex::new(pattern, Options { fixed: true, ..Options::default() })
                .unwrap()
                .is_match(pattern.as_bytes()));
        }
        assert_eq!(Regex::new("[", Options::default()), Err(RegexError::UnterminatedBracket));
    }

    #[test]
    fn grep_works_on_bytes() {
        let re = |p: &str| Regex::new(p, Options::default()).unwrap();
        // As with LC_ALL=C: `.` is one byte, bytes above 0x7f are plain.
        assert!(re("^..$").is_match("é".as_bytes()));
        assert!(re("a.b").is_match(b"a\x00b"));
        assert!(re("x[^a]y").is_match(b"x\xffy"));
        assert!(re("é").is_match("café".as_bytes()));
        // -i folds ASCII only.
        let re_i = Regex::new("É", Options { ignore_case: true, ..Options::default() }).unwrap();
        assert!(!re_i.is_match("é".as_bytes()));
    }

    #[test]
    fn grep_takes_linear_time_on_hostile_input() {
        // A backtracking matcher takes exponential time on the first and
        // overflows its stack on long lines; this one is O(pattern × line).
        let line = vec![b'a'; 1 << 16];
        let re = Regex::new(&alloc::format!("{}b", "a*".repeat(30)), Options::default()).unwrap();
        assert!(!re.is_match(&line));
        let re = Regex::new(".*.*.*x$", Options::default()).unwrap();
        assert!(!re.is_match(&line));
        let re = Regex::new(&"a".repeat(1000), Options { fixed: true, ..Options::default() }).unwrap();
        assert!(!re.is_match(&line[..999]));
        assert!(re.is_match(&line));
    }

    /// A plainly correct backtracking matcher over the same nodes, for short lines.
    fn reference(nodes: &[Node], at_end: bool, line: &[u8]) -> bool {
        match nodes.split_first() {
            None => !at_end || line.is_empty(),
            Some((n, rest)) if n.star => {
                reference(rest, at_end, line)
                    || (!line.is_empty() && n.set.contains(line[0]) && reference(nodes, at_end, &line[1..]))
            }
            Some((n, rest)) => !line.is_empty() && n.set.contains(line[0]) && reference(rest, at_end, &line[1..]),
        }
    }

    #[test]
    fn grep_agrees_with_a_backtracking_reference() {
        let atoms = ["a", "b", ".", "[ab]", "[^a]", "a*", "b*", ".*", "[^b]*", "\\.", "x"];
        let mut rng = kernel_core::testing::XorShift(7);
        for _ in 0..5_000 {
            let mut pattern = String::new();
            if rng.next_u64().is_multiple_of(3) {
                pattern.push('^');
            }
            for _ in 0..rng.next_u64() % 6 {
                pattern.push_str(atoms[(rng.next_u64() % atoms.len() as u64) as usize]);
            }
            if rng.next_u64().is_multiple_of(3) {
                pattern.push('$');
            }
            let re = Regex::new(&pattern, Options::default()).unwrap();
            for _ in 0..8 {
                let line: Vec<u8> = (0..rng.next_u64() % 8).map(|_| b"ab.x"[(rng.next_u64() % 4) as usize]).collect();
                let starts: Vec<usize> = if re.at_start { vec![0] } else { (0..=line.len()).collect() };
                let want = starts.iter().any(|&i| reference(&re.nodes, re.at_end, &line[i..]));
                assert_eq!(re.is_match(&line), want, "{pattern:?} on {:?}", String::from_utf8_lossy(&line));
            }
        }
    }

    // --- wc ----------------------------------------------------------------

    fn counts(data: &[u8]) -> Counts {
        let mut c = Counts::new();
        c.update(data);
        c
    }

    #[test]
    fn wc_counts_lines_words_bytes() {
        let c = counts(b"  a\x0b\x0cb\r\n\tc  ");
        // GNU: printf '  a\v\fb\r\n\tc  ' | wc -> "1 3 12"
        assert_eq!((c.lines, c.words, c.bytes), (1, 3, 12));
        let c = counts(b"one two");
        assert_eq!((c.lines, c.words, c.bytes), (0, 2, 7));
        let c = counts(b"");
        assert_eq!((c.lines, c.words, c.bytes), (0, 0, 0));
        let c = counts(b"\n\n\n");
        assert_eq!((c.lines, c.words, c.bytes), (3, 0, 3));
    }

    #[test]
    fn wc_counts_a_word_split_across_chunks_once() {
        let text = b"the quick  brown\tfox\njumps over\n\nthe lazy dog";
        let whole = counts(text);
        assert_eq!((whole.lines, whole.words, whole.bytes), (3, 9, text.len() as u64));
        for size in 1..text.len() {
            let mut c = Counts::new();
            text.chunks(size).for_each(|chunk| c.update(chunk));
            assert_eq!(c, whole, "chunks of {size}");
        }
    }

    /// `wc`'s lines for inputs named `names` with contents `data`.
    fn wc(columns: Columns, inputs: &[(Option<&str>, WcInput, &[u8])]) -> Vec<String> {
        let kinds: Vec<WcInput> = inputs.iter().map(|i| i.1).collect();
        let width = wc_width(&kinds, columns);
        let mut total = Counts::new();
        let mut lines = Vec::new();
        for (name, kind, data) in inputs {
            if *kind == WcInput::Failed {
                continue;
            }
            let c = counts(data);
            total.add(&c);
            lines.push(wc_line(&c, columns, width, *name));
        }
        if inputs.len() > 1 {
            lines.push(wc_line(&total, columns, width, Some("total")));
        }
        lines
    }

    #[test]
    fn wc_prints_like_gnu() {
        // Each expectation is GNU wc 9.1's output on the development host, for
        // h.txt = "hello\n", g.txt = "a b\nc\n" and big.txt = 500 lines
        // "line N has some words" (11890 bytes).
        let big: String = (0..500).map(|i| alloc::format!("line {i} has some words\n")).collect();
        let big = big.as_bytes();
        let h: &[u8] = b"hello\n";
        let g: &[u8] = b"a b\nc\n";
        let file = |d: &[u8]| WcInput::File(d.len() as u64);
        let l = Columns { lines: true, words: false, bytes: false };
        let w = Columns { lines: false, words: true, bytes: false };
        let c = Columns { lines: false, words: false, bytes: true };
        let lw = Columns { lines: true, words: true, bytes: false };
        let lc = Columns { lines: true, words: false, bytes: true };
        let all = Columns::ALL;
        // wc h.txt
        assert_eq!(wc(all, &[(Some("h.txt"), file(h), h)]), ["1 1 6 h.txt"]);
        // wc h.txt g.txt
        assert_eq!(
            wc(all, &[(Some("h.txt"), file(h), h), (Some("g.txt"), file(g), g)]),
            [" 1  1  6 h.txt", " 2  3  6 g.txt", " 3  4 12 total"]
        );
        // wc -l h.txt; wc -l h.txt g.txt; wc -lc h.txt
        assert_eq!(wc(l, &[(Some("h.txt"), file(h), h)]), ["1 h.txt"]);
        assert_eq!(
            wc(l, &[(Some("h.txt"), file(h), h), (Some("g.txt"), file(g), g)]),
            [" 1 h.txt", " 2 g.txt", " 3 total"]
        );
        assert_eq!(wc(lc, &[(Some("h.txt"), file(h), h)]), ["1 6 h.txt"]);
        // echo hello | wc; echo hello | wc -l; wc < h.txt
        assert_eq!(wc(all, &[(None, WcInput::Stream, h)]), ["      1       1       6"]);
        assert_eq!(wc(l, &[(None, WcInput::Stream, h)]), ["1"]);
        assert_eq!(wc(all, &[(None, file(h), h)]), ["1 1 6"]);
        // wc h.txt - < g.txt; cat g.txt | wc h.txt -
        assert_eq!(
            wc(all, &[(Some("h.txt"), file(h), h), (Some("-"), file(g), g)]),
            [" 1  1  6 h.txt", " 2  3  6 -", " 3  4 12 total"]
        );
        assert_eq!(
            wc(all, &[(Some("h.txt"), file(h), h), (Some("-"), WcInput::Stream, g)]),
            ["      1       1       6 h.txt", "      2       3       6 -", "      3       4      12 total"]
        );
        // wc nonexist h.txt; wc h.txt nonexist (the error goes to stderr)
        assert_eq!(
            wc(all, &[(Some("x"), WcInput::Failed, b""), (Some("h.txt"), file(h), h)]),
            ["1 1 6 h.txt", "1 1 6 total"]
        );
        assert_eq!(
            wc(all, &[(Some("h.txt"), file(h), h), (Some("x"), WcInput::Failed, b"")]),
            ["1 1 6 h.txt", "1 1 6 total"]
        );
        // wc big.txt; wc big.txt h.txt; wc -w big.txt h.txt; wc -lw big.txt
        assert_eq!(wc(all, &[(Some("big.txt"), file(big), big)]), ["  500  2500 11890 big.txt"]);
        assert_eq!(
            wc(all, &[(Some("big.txt"), file(big), big), (Some("h.txt"), file(h), h)]),
            ["  500  2500 11890 big.txt", "    1     1     6 h.txt", "  501  2501 11896 total"]
        );
        assert_eq!(
            wc(w, &[(Some("big.txt"), file(big), big), (Some("h.txt"), file(h), h)]),
            [" 2500 big.txt", "    1 h.txt", " 2501 total"]
        );
        assert_eq!(wc(lw, &[(Some("big.txt"), file(big), big)]), ["  500  2500 big.txt"]);
        // wc -c big.txt - < /dev/null; wc /dev/null
        assert_eq!(
            wc(c, &[(Some("big.txt"), file(big), big), (Some("-"), WcInput::Stream, b"")]),
            ["  11890 big.txt", "      0 -", "  11890 total"]
        );
        assert_eq!(wc(all, &[(Some("/dev/null"), WcInput::Stream, b"")]), ["      0       0       0 /dev/null"]);
    }

    #[test]
    fn wc_numbers_wider_than_the_width_still_print_whole() {
        // A file that grew after it was measured.
        let c = counts(&[b'x'; 123]);
        assert_eq!(wc_line(&c, Columns::ALL, 1, Some("f")), "0 1 123 f");
    }

    // --- head and tail -----------------------------------------------------

    fn args<'a>(a: &[&'a str]) -> Result<CountArgs<'a>, OptionError<'a>> {
        parse_count_args(a, 10)
    }

    fn count(n: u64, sign: Sign) -> LineCount {
        LineCount { n, sign }
    }

    #[test]
    fn count_options() {
        let ok = |a: &[&'static str], n, sign, files: &[&'static str]| {
            assert_eq!(args(a), Ok(CountArgs { count: count(n, sign), files: files.to_vec() }), "{a:?}");
        };
        ok(&[], 10, Sign::None, &[]);
        ok(&["f"], 10, Sign::None, &["f"]);
        ok(&["-n", "5", "f"], 5, Sign::None, &["f"]);
        ok(&["-n5", "f", "g"], 5, Sign::None, &["f", "g"]);
        ok(&["-5"], 5, Sign::None, &[]);
        ok(&["-0"], 0, Sign::None, &[]);
        ok(&["-n", "+3"], 3, Sign::Plus, &[]);
        ok(&["-n+3"], 3, Sign::Plus, &[]);
        ok(&["-n", "-3"], 3, Sign::Minus, &[]);
        ok(&["-n-3"], 3, Sign::Minus, &[]);
        // The last count wins, and options may follow files.
        ok(&["-n", "1", "-n", "3"], 3, Sign::None, &[]);
        ok(&["f", "-2", "g"], 2, Sign::None, &["f", "g"]);
        // `-` is standard input; after `--` everything is a file.
        ok(&["-", "-n1"], 1, Sign::None, &["-"]);
        ok(&["--", "-n", "-5"], 10, Sign::None, &["-n", "-5"]);
        ok(&["-n", "18446744073709551615"], u64::MAX, Sign::None, &[]);
    }

    #[test]
    fn count_option_errors() {
        assert_eq!(args(&["-n"]), Err(OptionError::MissingCount));
        assert_eq!(args(&["-n", "x"]), Err(OptionError::BadCount("x")));
        assert_eq!(args(&["-n", ""]), Err(OptionError::BadCount("")));
        assert_eq!(args(&["-nx"]), Err(OptionError::BadCount("x")));
        assert_eq!(args(&["-n", "5k"]), Err(OptionError::BadCount("5k")));
        assert_eq!(args(&["-n", "+"]), Err(OptionError::BadCount("+")));
        assert_eq!(args(&["-n", "--5"]), Err(OptionError::BadCount("--5")));
        assert_eq!(args(&["-n", "+-5"]), Err(OptionError::BadCount("+-5")));
        assert_eq!(args(&["-n", "99999999999999999999"]), Err(OptionError::BadCount("99999999999999999999")));
        assert_eq!(args(&["-99999999999999999999"]), Err(OptionError::BadCount("99999999999999999999")));
        assert_eq!(args(&["-q"]), Err(OptionError::UnknownOption("-q")));
        assert_eq!(args(&["-5x"]), Err(OptionError::UnknownOption("-5x")));
        assert_eq!(args(&["--lines=5"]), Err(OptionError::UnknownOption("--lines=5")));
        // GNU head's wording.
        assert_eq!(OptionError::BadCount("x").to_string(), "invalid number of lines: 'x'");
        assert_eq!(OptionError::MissingCount.to_string(), "option requires an argument -- 'n'");
    }

    /// Run `filter` over `data` cut in chunks of `size`.
    fn run(filter: LineFilter, data: &[u8], size: usize) -> Vec<u8> {
        let mut filter = filter;
        let mut out = Vec::new();
        for chunk in data.chunks(size) {
            filter.push(chunk, &mut out);
        }
        filter.finish(&mut out);
        out
    }

    /// `run` at every chunk size must agree.
    fn filtered(filter: LineFilter, data: &[u8]) -> Vec<u8> {
        let whole = run(filter.clone(), data, data.len().max(1));
        for size in 1..data.len() {
            assert_eq!(run(filter.clone(), data, size), whole, "chunks of {size}");
        }
        whole
    }

    #[test]
    fn head_and_tail_agree_with_gnu() {
        // Each expectation is what GNU head or tail 9.1 printed for this input
        // (four lines, the last without a newline).
        let data = b"a\nb\nc\nd";
        let head = |n, sign| filtered(LineFilter::head(count(n, sign)), data);
        let tail = |n, sign| filtered(LineFilter::tail(count(n, sign)), data);
        assert_eq!(head(2, Sign::None), b"a\nb\n");
        assert_eq!(head(2, Sign::Plus), b"a\nb\n");
        assert_eq!(head(0, Sign::None), b"");
        assert_eq!(head(9, Sign::None), data);
        assert_eq!(head(1, Sign::Minus), b"a\nb\nc\n");
        assert_eq!(head(0, Sign::Minus), data);
        assert_eq!(head(9, Sign::Minus), b"");
        assert_eq!(tail(2, Sign::None), b"c\nd");
        assert_eq!(tail(2, Sign::Minus), b"c\nd");
        assert_eq!(tail(0, Sign::None), b"");
        assert_eq!(tail(9, Sign::None), data);
        assert_eq!(tail(2, Sign::Plus), b"b\nc\nd");
        assert_eq!(tail(1, Sign::Plus), data);
        assert_eq!(tail(0, Sign::Plus), data);
        assert_eq!(tail(9, Sign::Plus), b"");
    }

    #[test]
    fn head_and_tail_with_a_final_newline_and_empty_lines() {
        // Also checked against GNU head and tail 9.1.
        let data = b"1\n\n3\n\n";
        assert_eq!(filtered(LineFilter::tail(count(2, Sign::None)), data), b"3\n\n");
        assert_eq!(filtered(LineFilter::tail(count(1, Sign::None)), data), b"\n");
        assert_eq!(filtered(LineFilter::head(count(2, Sign::None)), data), b"1\n\n");
        assert_eq!(filtered(LineFilter::head(count(1, Sign::Minus)), data), b"1\n\n3\n");
        assert_eq!(filtered(LineFilter::tail(count(3, Sign::Plus)), data), b"3\n\n");
        for f in [LineFilter::head(count(3, Sign::None)), LineFilter::tail(count(3, Sign::None))] {
            assert_eq!(filtered(f.clone(), b""), b"");
            assert_eq!(filtered(f, b"no newline"), b"no newline");
        }
    }

    #[test]
    fn head_stops_early_and_tail_keeps_only_its_window() {
        let mut head = LineFilter::head(count(2, Sign::None));
        let mut out = Vec::new();
        head.push(b"a\nb", &mut out);
        assert!(!head.is_done());
        head.push(b"\nc\nd\n", &mut out);
        assert!(head.is_done());
        assert_eq!(out, b"a\nb\n");
        assert!(LineFilter::head(count(0, Sign::None)).is_done());
        assert!(!LineFilter::tail(count(0, Sign::None)).is_done());

        // 200 000 lines through tail -n 3 hold three lines at any time.
        let mut tail = LineFilter::tail(count(3, Sign::None));
        let mut out = Vec::new();
        for i in 0..200_000u32 {
            tail.push(alloc::format!("{i}\n").as_bytes(), &mut out);
            if let LineFilter(Window::Last(ring)) = &tail {
                assert!(ring.lines.len() <= 3 && ring.partial.is_empty());
            }
        }
        assert!(out.is_empty());
        tail.finish(&mut out);
        assert_eq!(out, b"199997\n199998\n199999\n");

        // head -n -2 prints as it goes, holding two lines back.
        let mut all_but = LineFilter::head(count(2, Sign::Minus));
        let mut out = Vec::new();
        all_but.push(b"1\n2\n3\n4\n", &mut out);
        assert_eq!(out, b"1\n2\n");
        all_but.push(b"5", &mut out);
        all_but.finish(&mut out);
        assert_eq!(out, b"1\n2\n3\n");
    }
}
