//! The shell's command-line parser: a command list ([`split_list`]: pipelines
//! joined by `;`, `&&` and `||`, and `#` comments), and each pipeline
//! ([`parse`]): commands, each a list of words and redirections. Words split on blanks; single or double quotes
//! keep blanks, `|`, `<` and `>` inside a word; `$?` is replaced by the last
//! exit status.
//!
//! Redirections follow POSIX sh (XCU 2.7) for the standard fds 0-2:
//!
//! | syntax            | meaning                                              |
//! |-------------------|------------------------------------------------------|
//! | `[n]< FILE`       | open FILE for reading as fd n (default 0)            |
//! | `[n]> FILE`       | create or truncate FILE, open it as fd n (default 1) |
//! | `[n]>> FILE`      | create FILE or append to it as fd n (default 1)      |
//! | `[n]>&m`, `[n]<&m`| make fd n (default 1 for `>&`, 0 for `<&`) a copy of fd m |
//!
//! The fd number must touch the operator (`2>f`; `2 >f` is the word `2` and a
//! redirection of stdout), and the file name may follow after blanks.
//! Redirections may stand anywhere among a command's words, and apply left to
//! right after the pipeline's pipes are in place: `cmd > f 2>&1` sends both
//! outputs to f, `cmd 2>&1 > f` sends stderr to the old stdout.
//! [`Command::fds`] works out where each fd ends up.
//!
//! Not supported (refused rather than misread): fds above 2, closing with
//! `>&-`, `<>` and `>|`, here-documents.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Why a line could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// A quote was not closed.
    UnterminatedQuote,
    /// A `|` with no command on one side.
    EmptyCommand,
    /// `<`, `>` or `>>` with no file name after it (`echo >`, `cat < | x`).
    MissingFileName,
    /// `>&` or `<&` not followed by one of the fds 0, 1, 2 (`2>&x`, `2>&7`, `2>&`).
    BadDup,
    /// A redirection of an fd other than 0, 1 or 2 (`3>f`).
    BadFd,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseError::UnterminatedQuote => "unterminated quote",
            ParseError::EmptyCommand => "empty command in a pipeline",
            ParseError::MissingFileName => "redirection without a file name",
            ParseError::BadDup => "bad fd after >& or <&: only 0, 1 and 2 exist",
            ParseError::BadFd => "only fds 0, 1 and 2 can be redirected",
        })
    }
}

/// One redirection, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redirect {
    /// `[fd]< path`: open `path` for reading.
    Read { fd: u8, path: String },
    /// `[fd]> path` (truncate) or `[fd]>> path` (append); either creates the file.
    Write { fd: u8, path: String, append: bool },
    /// `[fd]>&to` or `[fd]<&to`: fd becomes a copy of what `to` is at this point.
    Dup { fd: u8, to: u8 },
}

impl Redirect {
    /// The fd this redirection changes.
    pub fn fd(&self) -> u8 {
        match self {
            Redirect::Read { fd, .. } | Redirect::Write { fd, .. } | Redirect::Dup { fd, .. } => *fd,
        }
    }
}

/// Where one of a command's fds 0-2 points once its redirections are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// What the shell gives fd `n` without redirections: the pipe from the
    /// previous command or the next one, else the shell's own fd `n`.
    Inherited(u8),
    /// The file opened by `redirects[i]` (a `Read` or `Write`).
    File(usize),
}

/// One command of a pipeline.
///
/// `words` is empty only when `redirects` is not: like POSIX sh, such a
/// command (`> f`) opens its files, so creating or truncating them, runs
/// nothing and succeeds unless an open fails.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Command {
    /// The program name and its arguments.
    pub words: Vec<String>,
    /// The redirections, in the order written (the order matters).
    pub redirects: Vec<Redirect>,
}

impl Command {
    /// Where fds 0, 1 and 2 end up. Each `Read` and `Write` must still be
    /// opened, once and in order, even when a later redirection hides it
    /// (`> a > b` creates both files); slots naming the same index share one
    /// open file, so `> f 2>&1` writes both streams at one offset.
    pub fn fds(&self) -> [Slot; 3] {
        let mut slots = [Slot::Inherited(0), Slot::Inherited(1), Slot::Inherited(2)];
        for (i, r) in self.redirects.iter().enumerate() {
            let new = match r {
                Redirect::Read { .. } | Redirect::Write { .. } => Slot::File(i),
                Redirect::Dup { to, .. } => slots[usize::from(*to)],
            };
            slots[usize::from(r.fd())] = new;
        }
        slots
    }
}

/// A redirection operator seen by the lexer, before its target word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Read,
    Write,
    Append,
    Dup,
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Pipe,
    Redirect { fd: u8, op: Op },
}

/// The fd a run of digits names, if it is one of 0, 1, 2 (leading zeros
/// allowed, as bash reads them).
fn fd_number(digits: &str) -> Option<u8> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match digits.trim_start_matches('0') {
        "" => Some(0),
        significant => significant.parse::<u8>().ok().filter(|&fd| fd <= 2),
    }
}

/// Split a line into words, `|` and redirection operators.
fn lex(line: &str, last_status: i32) -> Result<Vec<Token>, ParseError> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    // Only an unquoted, unexpanded run of digits touching `<` or `>` is an fd
    // number (XCU 2.10.1, IO_NUMBER); `"2">f` and `$?>f` are words.
    let mut digits_only = true;
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    let status = alloc::format!("{last_status}");
    let end_word = |tokens: &mut Vec<Token>, word: &mut String, in_word: &mut bool| {
        if *in_word {
            tokens.push(Token::Word(core::mem::take(word)));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
                digits_only = false;
            }
            (None, '$') if chars.peek() == Some(&'?') => {
                chars.next();
                word.push_str(&status);
                in_word = true;
                digits_only = false;
            }
            (None, '|') => {
                end_word(&mut tokens, &mut word, &mut in_word);
                tokens.push(Token::Pipe);
            }
            (None, '<' | '>') => {
                let fd = if in_word && digits_only {
                    in_word = false;
                    fd_number(&core::mem::take(&mut word)).ok_or(ParseError::BadFd)?
                } else {
                    end_word(&mut tokens, &mut word, &mut in_word);
                    if c == '<' {
                        0
                    } else {
                        1
                    }
                };
                let op = match (c, chars.peek()) {
                    (_, Some('&')) => Op::Dup,
                    ('>', Some('>')) => Op::Append,
                    ('>', _) => Op::Write,
                    _ => Op::Read,
                };
                if matches!(op, Op::Dup | Op::Append) {
                    chars.next();
                }
                tokens.push(Token::Redirect { fd, op });
            }
            (None, c) if c.is_whitespace() => end_word(&mut tokens, &mut word, &mut in_word),
            (None, c) => {
                if !in_word {
                    digits_only = true;
                }
                digits_only &= c.is_ascii_digit();
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(ParseError::UnterminatedQuote);
    }
    end_word(&mut tokens, &mut word, &mut in_word);
    Ok(tokens)
}

/// The commands of a pipeline (empty for a blank line).
pub fn parse(line: &str, last_status: i32) -> Result<Vec<Command>, ParseError> {
    let mut commands: Vec<Command> = Vec::new();
    let mut command = Command::default();
    let mut pending: Option<(u8, Op)> = None;
    // A missing target is reported by the operator that lacks it.
    let missing = |op: Op| if op == Op::Dup { ParseError::BadDup } else { ParseError::MissingFileName };
    for token in lex(line, last_status)? {
        match (token, pending.take()) {
            (Token::Word(w), None) => command.words.push(w),
            (Token::Word(path), Some((fd, op))) => command.redirects.push(match op {
                Op::Read => Redirect::Read { fd, path },
                Op::Write => Redirect::Write { fd, path, append: false },
                Op::Append => Redirect::Write { fd, path, append: true },
                Op::Dup => Redirect::Dup { fd, to: fd_number(&path).ok_or(ParseError::BadDup)? },
            }),
            (_, Some((_, op))) => return Err(missing(op)),
            (Token::Redirect { fd, op }, None) => pending = Some((fd, op)),
            (Token::Pipe, None) => {
                if command == Command::default() {
                    return Err(ParseError::EmptyCommand);
                }
                commands.push(core::mem::take(&mut command));
            }
        }
    }
    if let Some((_, op)) = pending {
        return Err(missing(op));
    }
    if command == Command::default() {
        if commands.is_empty() {
            return Ok(commands);
        }
        return Err(ParseError::EmptyCommand);
    }
    commands.push(command);
    Ok(commands)
}

/// How a command list goes on after one of its pipelines (POSIX sh, XCU
/// 2.9.3): `;` (or the end of the line) runs the next one whatever
/// happened, `&&` only if this one succeeded (status 0), `||` only if it
/// failed; `&` runs this one in the background and the next at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// `;` or the end of the line.
    Always,
    /// `&&`.
    IfOk,
    /// `||`.
    IfFailed,
    /// `&`: this pipeline runs in the background (unlike POSIX sh, `a && b &`
    /// puts only `b` there).
    Background,
}

/// One pipeline of a command list, as written: it is parsed (with
/// [`parse`]) only when its turn comes, so that `$?` in it is the status of
/// the pipeline just before (`false; echo $?` prints 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The pipeline's text.
    pub text: String,
    /// What decides whether the next step runs.
    pub then: Then,
}

/// Whether the step after one with connector `then` runs, now that the
/// last pipeline that ran ended with `status`. A skipped step leaves the
/// status as it was: `false && a || b` runs `b`.
pub fn runs(then: Then, status: i32) -> bool {
    match then {
        Then::Always | Then::Background => true,
        Then::IfOk => status == 0,
        Then::IfFailed => status != 0,
    }
}

/// Split a line into the pipelines of its command list at unquoted `;`,
/// `&&` and `||`. An unquoted `#` that begins a word starts a comment,
/// which runs to the end of the line. A list may end in `;`, not in `&&`
/// or `||`, and no step may be empty (`; ls`, `a && && b`: EmptyCommand).
/// A single `&` ends a step that runs in the background (`Then::Background`).
pub fn split_list(line: &str) -> Result<Vec<Step>, ParseError> {
    let mut steps = Vec::new();
    let mut text = String::new();
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    // Whether the next character would begin a word (for `#`).
    let mut word_start = true;
    let mut finish = |text: &mut String, then: Then| {
        let t = text.trim();
        if t.is_empty() {
            return Err(ParseError::EmptyCommand);
        }
        steps.push(Step { text: String::from(t), then });
        text.clear();
        Ok(())
    };
    let mut last = Then::Always;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            text.push(c);
            continue;
        }
        let op = match c {
            '#' if word_start => break,
            ';' => Some(Then::Always),
            '&' if chars.peek() == Some(&'&') => Some(Then::IfOk),
            // `>&2`, `<&0`: a redirection, not a job.
            '&' if text.ends_with(['>', '<']) => None,
            '&' => Some(Then::Background),
            '|' if chars.peek() == Some(&'|') => Some(Then::IfFailed),
            _ => None,
        };
        match op {
            Some(then) => {
                if matches!(then, Then::IfOk | Then::IfFailed) {
                    chars.next();
                }
                finish(&mut text, then)?;
                last = then;
                word_start = true;
            }
            None => {
                if c == '\'' || c == '"' {
                    quote = Some(c);
                }
                text.push(c);
                word_start = c.is_whitespace() || c == '|';
            }
        }
    }
    if quote.is_some() {
        return Err(ParseError::UnterminatedQuote);
    }
    if !text.trim().is_empty() {
        finish(&mut text, Then::Always)?;
    } else if matches!(last, Then::IfOk | Then::IfFailed) {
        return Err(ParseError::EmptyCommand);
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(line: &str) -> Result<Vec<(String, Then)>, ParseError> {
        split_list(line).map(|v| v.into_iter().map(|s| (s.text, s.then)).collect())
    }

    fn st(v: &[(&str, Then)]) -> Result<Vec<(String, Then)>, ParseError> {
        Ok(v.iter().map(|(t, th)| (t.to_string(), *th)).collect())
    }

    #[test]
    fn command_lists_split_at_their_operators() {
        use Then::*;
        assert_eq!(steps("ls"), st(&[("ls", Always)]));
        assert_eq!(steps("a; b"), st(&[("a", Always), ("b", Always)]));
        assert_eq!(steps("a && b || c"), st(&[("a", IfOk), ("b", IfFailed), ("c", Always)]));
        assert_eq!(steps("a | b && c"), st(&[("a | b", IfOk), ("c", Always)]));
        assert_eq!(steps("ls;"), st(&[("ls", Always)]));
        assert_eq!(steps("  "), st(&[]));
        // Quotes keep the operators, and redirections keep their `&`.
        assert_eq!(steps("echo 'a; b' \"&&\""), st(&[("echo 'a; b' \"&&\"", Always)]));
        assert_eq!(steps("cc 2>&1 | cat; x >&2"), st(&[("cc 2>&1 | cat", Always), ("x >&2", Always)]));
        // `$?` waits for the step's turn.
        assert_eq!(steps("false; echo $?"), st(&[("false", Always), ("echo $?", Always)]));
    }

    #[test]
    fn comments_begin_a_word() {
        use Then::*;
        assert_eq!(steps("# a comment"), st(&[]));
        assert_eq!(steps("ls # lists; && no"), st(&[("ls", Always)]));
        assert_eq!(steps("echo a#b '#c' #d"), st(&[("echo a#b '#c'", Always)]));
        assert_eq!(steps("a;#b"), st(&[("a", Always)]));
    }

    #[test]
    fn ampersand_puts_a_pipeline_in_the_background() {
        use Then::*;
        assert_eq!(steps("sleep 1 &"), st(&[("sleep 1", Background)]));
        assert_eq!(steps("a | b & c"), st(&[("a | b", Background), ("c", Always)]));
        assert_eq!(steps("a & b && c &"), st(&[("a", Background), ("b", IfOk), ("c", Background)]));
        // Not a job: `&&`, a quoted `&`, a redirection's `>&`.
        assert_eq!(steps("echo '&' 2>&1"), st(&[("echo '&' 2>&1", Always)]));
        assert!(runs(Background, 1));
    }

    #[test]
    fn bad_lists_are_refused() {
        for line in ["; ls", "a && && b", "a &&", "a ||", "a ;; b", "|| b", "& b", "a & & b", "a &;"] {
            assert_eq!(split_list(line), Err(ParseError::EmptyCommand), "{line:?}");
        }
        assert_eq!(split_list("echo 'open; b"), Err(ParseError::UnterminatedQuote));
    }

    #[test]
    fn lists_run_by_status() {
        // `false && a || b`: `a` is skipped, the status stays 1, `b` runs.
        assert!(!runs(Then::IfOk, 1));
        assert!(runs(Then::IfFailed, 1));
        assert!(runs(Then::IfOk, 0) && !runs(Then::IfFailed, 0) && runs(Then::Always, 7));
    }

    fn p(line: &str) -> Result<Vec<Command>, ParseError> {
        parse(line, 3)
    }

    /// Commands without redirections.
    fn cmds(v: &[&[&str]]) -> Vec<Command> {
        v.iter().map(|c| cmd(c, vec![])).collect()
    }

    fn cmd(words: &[&str], redirects: Vec<Redirect>) -> Command {
        Command { words: words.iter().map(|s| s.to_string()).collect(), redirects }
    }

    fn read(fd: u8, path: &str) -> Redirect {
        Redirect::Read { fd, path: path.into() }
    }

    fn write(fd: u8, path: &str) -> Redirect {
        Redirect::Write { fd, path: path.into(), append: false }
    }

    fn append(fd: u8, path: &str) -> Redirect {
        Redirect::Write { fd, path: path.into(), append: true }
    }

    fn dup(fd: u8, to: u8) -> Redirect {
        Redirect::Dup { fd, to }
    }

    /// The only command of `line`.
    fn one(line: &str) -> Command {
        let mut c = p(line).unwrap();
        assert_eq!(c.len(), 1, "{line:?}");
        c.pop().unwrap()
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
    fn simple_redirections() {
        assert_eq!(one("cat < in"), cmd(&["cat"], vec![read(0, "in")]));
        assert_eq!(one("echo hi > out"), cmd(&["echo", "hi"], vec![write(1, "out")]));
        assert_eq!(one("echo hi >> log"), cmd(&["echo", "hi"], vec![append(1, "log")]));
        assert_eq!(one("cc 2> err"), cmd(&["cc"], vec![write(2, "err")]));
        assert_eq!(one("cc 2>> err"), cmd(&["cc"], vec![append(2, "err")]));
        assert_eq!(one("cc 2>&1"), cmd(&["cc"], vec![dup(2, 1)]));
        assert_eq!(one("echo oops >&2"), cmd(&["echo", "oops"], vec![dup(1, 2)]));
        assert_eq!(one("echo oops 1>&2"), cmd(&["echo", "oops"], vec![dup(1, 2)]));
        assert_eq!(one("x 0<&2"), cmd(&["x"], vec![dup(0, 2)]));
        assert_eq!(one("x <&2"), cmd(&["x"], vec![dup(0, 2)]));
        assert_eq!(one("x 1>o 0<i 2>e"), cmd(&["x"], vec![write(1, "o"), read(0, "i"), write(2, "e")]));
        // An output redirection of fd 0 and an input one of fd 1 are legal sh.
        assert_eq!(one("x 0>o 1<i"), cmd(&["x"], vec![write(0, "o"), read(1, "i")]));
        // As in bash, a number with leading zeros is still that fd (dash
        // takes only one digit as an fd, and `01` as a word).
        assert_eq!(one("x 01>o 002<i 00>&02"), cmd(&["x"], vec![write(1, "o"), read(2, "i"), dup(0, 2)]));
    }

    #[test]
    fn spacing_around_operators() {
        let want = cmd(&["echo", "hi"], vec![write(1, "out")]);
        for line in ["echo hi>out", "echo hi >out", "echo hi> out", "echo hi   >   out  ", "echo hi 1>out"] {
            assert_eq!(one(line), want, "{line:?}");
        }
        assert_eq!(one("cat<in>out"), cmd(&["cat"], vec![read(0, "in"), write(1, "out")]));
        assert_eq!(one("x 2>&1"), one("x 2>& 1"));
        // The fd number must touch the operator; otherwise it is a word.
        assert_eq!(one("echo 2 > f"), cmd(&["echo", "2"], vec![write(1, "f")]));
        assert_eq!(one("echo a2>f"), cmd(&["echo", "a2"], vec![write(1, "f")]));
        assert_eq!(one("echo 2a>f"), cmd(&["echo", "2a"], vec![write(1, "f")]));
        // `>>` is one operator, `> >` two.
        assert_eq!(p("echo > > f"), Err(ParseError::MissingFileName));
    }

    #[test]
    fn redirections_anywhere_among_words() {
        let want = cmd(&["grep", "-i", "x"], vec![read(0, "in"), write(1, "out")]);
        for line in ["grep -i x < in > out", "< in grep -i x > out", "grep < in -i > out x", "<in >out grep -i x"] {
            assert_eq!(one(line), want, "{line:?}");
        }
    }

    #[test]
    fn redirections_in_pipelines() {
        assert_eq!(
            p("a < in | b > out"),
            Ok(vec![cmd(&["a"], vec![read(0, "in")]), cmd(&["b"], vec![write(1, "out")])])
        );
        assert_eq!(
            p("a 2>&1|b 2>>e|c"),
            Ok(vec![cmd(&["a"], vec![dup(2, 1)]), cmd(&["b"], vec![append(2, "e")]), cmd(&["c"], vec![])])
        );
        // POSIX sh accepts a command made of redirections alone in a pipeline.
        assert_eq!(p("> f | cat"), Ok(vec![cmd(&[], vec![write(1, "f")]), cmd(&["cat"], vec![])]));
    }

    #[test]
    fn quoted_operators_are_words() {
        assert_eq!(one("echo '>'"), cmd(&["echo", ">"], vec![]));
        assert_eq!(
            one("echo \"a > b\" '<' '|' \">>\" '2>&1'"),
            cmd(&["echo", "a > b", "<", "|", ">>", "2>&1"], vec![])
        );
        assert_eq!(one("echo x'>'y"), cmd(&["echo", "x>y"], vec![]));
        // A quoted file name keeps its blanks; a quoted or expanded number is
        // no fd.
        assert_eq!(one("echo > 'my file'"), cmd(&["echo"], vec![write(1, "my file")]));
        assert_eq!(one("echo \"2\">f"), cmd(&["echo", "2"], vec![write(1, "f")]));
        assert_eq!(one("echo $?>f"), cmd(&["echo", "3"], vec![write(1, "f")]));
        assert_eq!(one("echo > out$?"), cmd(&["echo"], vec![write(1, "out3")]));
        assert_eq!(one("echo > ''"), cmd(&["echo"], vec![write(1, "")]));
        // `&` means nothing on its own.
        assert_eq!(one("echo a&b"), cmd(&["echo", "a&b"], vec![]));
    }

    #[test]
    fn redirections_without_words() {
        assert_eq!(one("> f"), cmd(&[], vec![write(1, "f")]));
        assert_eq!(one(">> f 2> g"), cmd(&[], vec![append(1, "f"), write(2, "g")]));
        assert_eq!(one("< f"), cmd(&[], vec![read(0, "f")]));
    }

    #[test]
    fn order_decides_where_fds_go() {
        use Slot::{File, Inherited};
        assert_eq!(one("cmd").fds(), [Inherited(0), Inherited(1), Inherited(2)]);
        // Both outputs to f.
        assert_eq!(one("cmd > f 2>&1").fds(), [Inherited(0), File(0), File(0)]);
        // stderr to the old stdout, stdout to f.
        assert_eq!(one("cmd 2>&1 > f").fds(), [Inherited(0), File(1), Inherited(1)]);
        assert_eq!(one("cmd >&2").fds(), [Inherited(0), Inherited(2), Inherited(2)]);
        // Swap stdout and stderr through fd 0.
        assert_eq!(one("cmd 0>&1 1>&2 2>&0").fds(), [Inherited(1), Inherited(2), Inherited(1)]);
        // The later redirection of an fd wins; the earlier file is still opened.
        assert_eq!(one("cmd > a > b < c").fds(), [File(2), File(1), Inherited(2)]);
        assert_eq!(one("cmd 2>e >>o 2>&1").fds(), [Inherited(0), File(1), File(1)]);
    }

    #[test]
    fn errors() {
        assert_eq!(p("echo 'oops"), Err(ParseError::UnterminatedQuote));
        assert_eq!(p("echo > 'oops"), Err(ParseError::UnterminatedQuote));
        assert_eq!(p("| cat"), Err(ParseError::EmptyCommand));
        assert_eq!(p("ls |"), Err(ParseError::EmptyCommand));
        assert_eq!(p("ls | | cat"), Err(ParseError::EmptyCommand));
        for line in ["echo >", "echo >>", "cat <", "cat < | x", "x 2>", "x > < f", "x > >> f", "x > 2>f", "> | x"] {
            assert_eq!(p(line), Err(ParseError::MissingFileName), "{line:?}");
        }
        for line in [
            "x 2>&x",
            "x 2>&7",
            "x 2>&",
            "x >&",
            "x 2>&-",
            "x 2>&+1",
            "x 2>&0000000000000000000003",
            "x 2>& | y",
            "x 2>&'' f",
            "x >&f",
        ] {
            assert_eq!(p(line), Err(ParseError::BadDup), "{line:?}");
        }
        for line in ["x 3>f", "x 9<f", "x 10>f", "x 99999999999999999999>f", "x 0000000000000000000003>f", "x 3>&1"] {
            assert_eq!(p(line), Err(ParseError::BadFd), "{line:?}");
        }
        // dash: "redirection unexpected"; here the `2` is the next fd number.
        assert_eq!(p("echo 1>2>f"), Err(ParseError::MissingFileName));
    }

    #[test]
    fn errors_have_messages() {
        assert_eq!(alloc::format!("{}", ParseError::UnterminatedQuote), "unterminated quote");
        assert_eq!(alloc::format!("{}", ParseError::EmptyCommand), "empty command in a pipeline");
        for e in [ParseError::MissingFileName, ParseError::BadDup, ParseError::BadFd] {
            assert!(!alloc::format!("{e}").is_empty());
        }
    }

    #[test]
    fn random_lines_never_panic_and_plain_words_round_trip() {
        let alphabet: Vec<char> = "ab |'\"$?  x\t<>&012".chars().collect();
        let mut rng = kernel_core::testing::XorShift(42);
        for _ in 0..20_000 {
            let mut line = String::new();
            for _ in 0..(rng.0 % 24) {
                let x = rng.next_u64();
                line.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            rng.0 = rng.0.wrapping_add(1);
            // Any line parses or is refused; never a panic, never an empty
            // command, and every fd a redirection names exists.
            if let Ok(cmds) = parse(&line, 0) {
                for c in &cmds {
                    assert!(!c.words.is_empty() || !c.redirects.is_empty(), "{line:?} -> {cmds:?}");
                    for r in &c.redirects {
                        assert!(r.fd() <= 2, "{line:?} -> {cmds:?}");
                        if let Redirect::Dup { to, .. } = r {
                            assert!(*to <= 2, "{line:?} -> {cmds:?}");
                        }
                    }
                    let _ = c.fds();
                }
            }
        }
        // Words without special characters come back as they went in.
        let words = ["ls", "cat", "a.txt", "x-y_z", "123"];
        let line = words.join("   ");
        assert_eq!(parse(&line, 0).unwrap(), vec![cmd(&words, vec![])]);
    }
}
