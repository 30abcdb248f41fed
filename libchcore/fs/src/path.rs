//! Path names: the POSIX limits, lexical normalisation to an absolute [`Path`], and splitting.
//!
//! Every path is normalised once, where the caller's working directory is known (in the client), and
//! travels from then on as an absolute, canonical string: no `.` or `..`, no repeated or trailing
//! slashes. The servers therefore never see a relative path and the FS manager can route by prefix.
//!
//! `..` is resolved *lexically*: `/a/b/..` is `/a` whatever `b` is. There are no symbolic links, so this
//! agrees with a walk except in one case: Linux refuses `/file/..` with ENOTDIR because `file` is not a
//! directory, while here it is simply `/`. The gain is that mount routing and the rename subtree check
//! become plain prefix tests on strings.
//!
//! One piece of information survives normalisation: whether the path named its final component as a
//! directory (`a/`, `a/.`, `a/..`). POSIX then requires that component to be a directory, so
//! [`Path::must_be_dir`] keeps it, and the path's [`Display`](core::fmt::Display) form writes it back as a
//! trailing slash so it survives the trip to the server.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::errno::Errno;

/// The longest file name (one path component) in bytes, as Linux's `NAME_MAX`.
pub const NAME_MAX: usize = 255;

/// The size of the longest path in bytes *including* a terminating NUL, as POSIX defines `PATH_MAX`: the
/// longest accepted path is therefore `PATH_MAX - 1` = 4095 bytes. Both the path as given and the
/// normalised result (in its [`Display`](core::fmt::Display) form) must fit, so that the result can always
/// be sent on and parsed again.
pub const PATH_MAX: usize = 4096;

/// An absolute, normalised path, plus whether its last component must be a directory.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path {
    /// `/` or `/name/name...`: no empty, `.` or `..` components, no trailing slash.
    text: String,
    /// The path as written ended in `/`, `/.` or `/..`.
    dir: bool,
}

impl Path {
    /// The root directory, `/`.
    pub fn root() -> Path {
        Path { text: String::from("/"), dir: false }
    }

    /// Parses a path that is already absolute (what a server receives). It need not be normalised; a
    /// relative path is refused with EINVAL because a server has no working directory to join it to.
    pub fn parse(path: &str) -> Result<Path, Errno> {
        if !path.is_empty() && !path.starts_with('/') {
            return Err(Errno::EINVAL);
        }
        normalize("/", path)
    }

    /// The normalised path without any trailing slash (`/` for the root).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is `/`.
    pub fn is_root(&self) -> bool {
        self.text.len() == 1
    }

    /// Whether the path was written with a trailing slash (or `.`/`..` as its last component), so that
    /// its final component must be a directory.
    pub fn must_be_dir(&self) -> bool {
        self.dir
    }

    /// The components from the root down; none for `/`.
    pub fn components(&self) -> Components<'_> {
        components(&self.text)
    }

    /// The final component, or `None` for `/`.
    pub fn file_name(&self) -> Option<&str> {
        self.split_at_last().map(|(_, name)| name)
    }

    /// The parent directory and the final component, for operations that create or remove a name.
    ///
    /// # Errors
    /// EBUSY for `/`, which has no name in any directory: that is what Linux's `rmdir("/")` and
    /// `rename("/", ...)` report; operations that report something else (`mkdir` says EEXIST, `unlink`
    /// EISDIR) map it themselves.
    pub fn split_parent(&self) -> Result<(Path, &str), Errno> {
        let (parent, name) = self.split_at_last().ok_or(Errno::EBUSY)?;
        let parent = if parent.is_empty() { String::from("/") } else { String::from(parent) };
        Ok((Path { text: parent, dir: true }, name))
    }

    /// This path with one more component.
    ///
    /// # Errors
    /// As [`validate_name`] for `name`; ENAMETOOLONG if the result would not fit in [`PATH_MAX`].
    pub fn join(&self, name: &str) -> Result<Path, Errno> {
        validate_name(name)?;
        let mut text = self.text.clone();
        if !self.is_root() {
            text.push('/');
        }
        text.push_str(name);
        check_len(&text, false)?;
        Ok(Path { text, dir: false })
    }

    /// Whether `self` is `base` or lies below it, comparing whole components (`/ab` is not under `/a`).
    pub fn starts_with(&self, base: &Path) -> bool {
        self.strip_prefix_str(base).is_some()
    }

    /// This path seen from `base` as a new root: `/bin/ls` relative to `/bin` is `/ls`, and `/bin`
    /// itself is `/`. `None` when `self` is not under `base`. This is the FS manager's routing step.
    pub fn relative_to(&self, base: &Path) -> Option<Path> {
        let rest = self.strip_prefix_str(base)?;
        let text = if rest.is_empty() { String::from("/") } else { String::from(rest) };
        Some(Path { text, dir: self.dir })
    }

    /// [`Path::relative_to`] as the text that travels (what `Display`
    /// writes): the FS manager's routing step on every request, so it
    /// borrows this path's own text unless a trailing slash must be added.
    pub fn relative_text(&self, base: &Path) -> Option<Cow<'_, str>> {
        let rest = self.strip_prefix_str(base)?;
        let rest = if rest.is_empty() { "/" } else { rest };
        if !self.dir || rest == "/" {
            return Some(Cow::Borrowed(rest));
        }
        let mut text = String::with_capacity(rest.len() + 1);
        text.push_str(rest);
        text.push('/');
        Some(Cow::Owned(text))
    }

    /// The remainder after `base`: empty, or starting with `/`.
    fn strip_prefix_str(&self, base: &Path) -> Option<&str> {
        if base.is_root() {
            return Some(if self.is_root() { "" } else { &self.text });
        }
        let rest = self.text.strip_prefix(base.text.as_str())?;
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)
    }

    fn split_at_last(&self) -> Option<(&str, &str)> {
        if self.is_root() {
            return None;
        }
        self.text.rsplit_once('/')
    }
}

impl fmt::Display for Path {
    /// The canonical text, with a trailing slash when the last component must be a directory, so that
    /// [`Path::parse`] gives back an equal `Path`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        if self.dir && !self.is_root() {
            f.write_str("/")?;
        }
        Ok(())
    }
}

/// Normalises `path` against the working directory `cwd` (itself an absolute path) into an absolute
/// [`Path`]: relative paths are joined onto `cwd`, `.` is dropped, `..` removes the previous component
/// (`/..` is `/`), repeated slashes collapse, and a trailing slash is kept as [`Path::must_be_dir`].
///
/// # Errors
/// - ENOENT: `path` is empty (POSIX: an empty path names nothing).
/// - EINVAL: `path` or `cwd` contains a NUL byte, or `path` is relative and `cwd` is not absolute.
/// - ENAMETOOLONG: a component is longer than [`NAME_MAX`], or `path` or the result is longer than
///   `PATH_MAX - 1` bytes.
pub fn normalize(cwd: &str, path: &str) -> Result<Path, Errno> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    check_text(path)?;
    let mut parts: Vec<&str> = Vec::new();
    if !path.starts_with('/') {
        if !cwd.starts_with('/') {
            return Err(Errno::EINVAL);
        }
        check_text(cwd)?;
        push_components(&mut parts, cwd)?;
    }
    push_components(&mut parts, path)?;
    let dir = path.ends_with('/') || matches!(components(path).next_back(), Some(".") | Some(".."));
    let mut text = String::with_capacity(path.len() + 1);
    for part in &parts {
        text.push('/');
        text.push_str(part);
    }
    if text.is_empty() {
        text.push('/');
    }
    let dir = dir && text.len() > 1;
    check_len(&text, dir)?;
    Ok(Path { text, dir })
}

/// Checks that `name` can be a directory entry: not empty, not `.` or `..`, no `/` or NUL (EINVAL), at
/// most [`NAME_MAX`] bytes (ENAMETOOLONG).
pub fn validate_name(name: &str) -> Result<(), Errno> {
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if name.is_empty() || name == "." || name == ".." || name.bytes().any(|b| b == b'/' || b == 0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// The non-empty components of a path string as written (`.` and `..` included), so `//a/./b/` gives
/// `a`, `.`, `b`.
pub fn components(path: &str) -> Components<'_> {
    Components { rest: path }
}

/// Iterator over the non-empty `/`-separated components of a path; see [`components`].
#[derive(Clone, Debug)]
pub struct Components<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Components<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let trimmed = self.rest.trim_start_matches('/');
        if trimmed.is_empty() {
            self.rest = trimmed;
            return None;
        }
        let (part, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
        self.rest = rest;
        Some(part)
    }
}

impl<'a> DoubleEndedIterator for Components<'a> {
    fn next_back(&mut self) -> Option<&'a str> {
        let trimmed = self.rest.trim_end_matches('/');
        if trimmed.is_empty() {
            self.rest = trimmed;
            return None;
        }
        let (rest, part) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
        self.rest = rest;
        Some(part)
    }
}

fn check_text(path: &str) -> Result<(), Errno> {
    if path.bytes().any(|b| b == 0) {
        return Err(Errno::EINVAL);
    }
    check_len(path, false)
}

/// `extra_slash`: the text will be sent with a trailing slash, which must fit too.
fn check_len(text: &str, extra_slash: bool) -> Result<(), Errno> {
    // `+ 1` for the terminating NUL that PATH_MAX counts.
    if text.len() + usize::from(extra_slash) + 1 > PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(())
}

fn push_components<'a>(parts: &mut Vec<&'a str>, path: &'a str) -> Result<(), Errno> {
    for part in components(path) {
        if part.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        match part {
            "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn relative_text_is_relative_to_as_it_travels() {
        for (p, base) in
            [("/bin/ls", "/bin"), ("/bin", "/bin"), ("/a/b/", "/"), ("/", "/"), ("/bin/x/", "/bin"), ("/binx", "/bin")]
        {
            let (p, base) = (Path::parse(p).unwrap(), Path::parse(base).unwrap());
            assert_eq!(
                p.relative_text(&base).map(|t| t.into_owned()),
                p.relative_to(&base).map(|r| alloc::format!("{r}")),
                "{p} under {base}"
            );
        }
    }

    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn norm(cwd: &str, path: &str) -> Result<(String, bool), Errno> {
        normalize(cwd, path).map(|p| (p.as_str().to_string(), p.must_be_dir()))
    }

    fn ok(cwd: &str, path: &str) -> String {
        norm(cwd, path).unwrap().0
    }

    #[test]
    fn absolute_paths() {
        assert_eq!(ok("/x", "/"), "/");
        assert_eq!(ok("/x", "/a/b"), "/a/b");
        assert_eq!(ok("/x", "///a//b///"), "/a/b");
        assert_eq!(ok("/x", "/a/./b/."), "/a/b");
        assert_eq!(ok("/x", "/a/b/../c"), "/a/c");
        assert_eq!(ok("/x", "/.."), "/");
        assert_eq!(ok("/x", "/../../a/.."), "/");
        assert_eq!(ok("/x", "/a/b/../../.."), "/");
        assert_eq!(ok("/x", "/..a/.b/..."), "/..a/.b/...");
    }

    #[test]
    fn relative_paths_join_the_cwd() {
        assert_eq!(ok("/", "a"), "/a");
        assert_eq!(ok("/home/u", "a/b"), "/home/u/a/b");
        assert_eq!(ok("/home/u", "."), "/home/u");
        assert_eq!(ok("/home/u", ".."), "/home");
        assert_eq!(ok("/home/u", "../../../.."), "/");
        assert_eq!(ok("/home/u/", "./x"), "/home/u/x");
        assert_eq!(ok("//home/./v/../u", "x"), "/home/u/x");
    }

    #[test]
    fn cwd_is_ignored_for_absolute_paths_and_must_be_absolute_otherwise() {
        assert_eq!(ok("", "/a"), "/a");
        assert_eq!(ok("not absolute", "/a"), "/a");
        assert_eq!(norm("", "a"), Err(Errno::EINVAL));
        assert_eq!(norm("rel", "a"), Err(Errno::EINVAL));
        assert_eq!(norm("/a\0b", "c"), Err(Errno::EINVAL));
    }

    #[test]
    fn trailing_slash_and_dots_mean_directory() {
        assert_eq!(norm("/", "/a"), Ok(("/a".into(), false)));
        assert_eq!(norm("/", "/a/"), Ok(("/a".into(), true)));
        assert_eq!(norm("/", "/a//"), Ok(("/a".into(), true)));
        assert_eq!(norm("/", "/a/."), Ok(("/a".into(), true)));
        assert_eq!(norm("/", "/a/b/.."), Ok(("/a".into(), true)));
        assert_eq!(norm("/", "/a/./b"), Ok(("/a/b".into(), false)));
        assert_eq!(norm("/c", "a/"), Ok(("/c/a".into(), true)));
        assert_eq!(norm("/c", "."), Ok(("/c".into(), true)));
        // The root is a directory anyway; the flag is not kept for it.
        assert_eq!(norm("/", "/"), Ok(("/".into(), false)));
        assert_eq!(norm("/", "/./"), Ok(("/".into(), false)));
        assert_eq!(norm("/", "/a/.."), Ok(("/".into(), false)));
    }

    #[test]
    fn errors() {
        assert_eq!(norm("/", ""), Err(Errno::ENOENT));
        assert_eq!(norm("/", "a\0"), Err(Errno::EINVAL));
        assert_eq!(norm("/", "/\0/.."), Err(Errno::EINVAL));
        assert_eq!(Path::parse("a"), Err(Errno::EINVAL));
        assert_eq!(Path::parse(""), Err(Errno::ENOENT));
    }

    #[test]
    fn name_max() {
        let longest = "n".repeat(NAME_MAX);
        let too_long = "n".repeat(NAME_MAX + 1);
        assert_eq!(ok("/", &longest), alloc::format!("/{longest}"));
        assert_eq!(norm("/", &too_long), Err(Errno::ENAMETOOLONG));
        // Even a component that `..` removes again is checked, as a walk would.
        assert_eq!(norm("/", &alloc::format!("/{too_long}/..")), Err(Errno::ENAMETOOLONG));
        assert_eq!(norm(&alloc::format!("/{too_long}"), "a"), Err(Errno::ENAMETOOLONG));
        assert_eq!(validate_name(&longest), Ok(()));
        assert_eq!(validate_name(&too_long), Err(Errno::ENAMETOOLONG));
    }

    /// A path of `len` bytes made of 100-byte components.
    fn path_of_len(len: usize) -> String {
        let mut p = String::new();
        while p.len() < len {
            p.push('/');
            let room = len - p.len();
            p.push_str(&"c".repeat(room.min(99)));
        }
        assert_eq!(p.len(), len);
        p
    }

    #[test]
    fn path_max_counts_the_nul() {
        let longest = path_of_len(PATH_MAX - 1);
        assert_eq!(ok("/", &longest), longest);
        assert_eq!(norm("/", &path_of_len(PATH_MAX)), Err(Errno::ENAMETOOLONG));
        // The input alone is limited even if it normalises to something short.
        let dots = "/.".repeat(PATH_MAX / 2);
        assert_eq!(norm("/", &dots), Err(Errno::ENAMETOOLONG));
        assert_eq!(ok("/", &dots[..PATH_MAX - 2]), "/");
        // So is the joined result.
        let cwd = path_of_len(PATH_MAX - 3);
        assert_eq!(ok(&cwd, "x"), alloc::format!("{cwd}/x"));
        assert_eq!(norm(&cwd, "xy"), Err(Errno::ENAMETOOLONG));
        // ... counting the trailing slash that will travel with it.
        assert_eq!(norm(&cwd, "x/"), Err(Errno::ENAMETOOLONG));
    }

    #[test]
    fn components_iterate_both_ways() {
        let all: Vec<&str> = components("//a/./b//..//c/").collect();
        assert_eq!(all, vec!["a", ".", "b", "..", "c"]);
        let back: Vec<&str> = components("//a/./b//..//c/").rev().collect();
        assert_eq!(back, vec!["c", "..", "b", ".", "a"]);
        assert_eq!(components("").next(), None);
        assert_eq!(components("///").next(), None);
        assert_eq!(components("///").next_back(), None);
        let mut mixed = components("/a/b/c/d");
        assert_eq!((mixed.next(), mixed.next_back()), (Some("a"), Some("d")));
        assert_eq!((mixed.next(), mixed.next_back()), (Some("b"), Some("c")));
        assert_eq!((mixed.next(), mixed.next_back()), (None, None));
        let p = Path::parse("/x/y/z/").unwrap();
        assert_eq!(p.components().collect::<Vec<_>>(), vec!["x", "y", "z"]);
        assert_eq!(Path::root().components().count(), 0);
    }

    #[test]
    fn split_parent() {
        let p = Path::parse("/a/b/c").unwrap();
        let (parent, name) = p.split_parent().unwrap();
        assert_eq!((parent.as_str(), name), ("/a/b", "c"));
        assert!(parent.must_be_dir());
        let p = Path::parse("/a").unwrap();
        let (parent, name) = p.split_parent().unwrap();
        assert_eq!((parent.as_str(), name), ("/", "a"));
        assert!(parent.is_root());
        assert_eq!(Path::root().split_parent().unwrap_err(), Errno::EBUSY);
        assert_eq!(Path::parse("/a/..").unwrap().split_parent().unwrap_err(), Errno::EBUSY);
        assert_eq!(Path::parse("/a/b/").unwrap().file_name(), Some("b"));
        assert_eq!(Path::root().file_name(), None);
    }

    #[test]
    fn join() {
        assert_eq!(Path::root().join("a").unwrap().as_str(), "/a");
        assert_eq!(Path::parse("/a/").unwrap().join("b").unwrap().as_str(), "/a/b");
        for bad in ["", ".", "..", "a/b", "a\0"] {
            assert_eq!(Path::root().join(bad), Err(Errno::EINVAL), "{bad:?}");
        }
        let long = Path::parse(&path_of_len(PATH_MAX - 3)).unwrap();
        assert!(long.join("x").is_ok());
        assert_eq!(long.join("xy"), Err(Errno::ENAMETOOLONG));
    }

    #[test]
    fn prefixes_compare_whole_components() {
        let p = |s: &str| Path::parse(s).unwrap();
        assert!(p("/a/b").starts_with(&p("/a")));
        assert!(p("/a").starts_with(&p("/a")));
        assert!(p("/a").starts_with(&Path::root()));
        assert!(!p("/ab").starts_with(&p("/a")));
        assert!(!p("/a").starts_with(&p("/a/b")));
        assert_eq!(p("/bin/ls").relative_to(&p("/bin")), Some(p("/ls")));
        assert_eq!(p("/bin").relative_to(&p("/bin")), Some(Path::root()));
        assert_eq!(p("/bin/x/").relative_to(&p("/bin")), Some(p("/x/")));
        assert_eq!(p("/x").relative_to(&Path::root()), Some(p("/x")));
        assert_eq!(Path::root().relative_to(&Path::root()), Some(Path::root()));
        assert_eq!(p("/binary").relative_to(&p("/bin")), None);
    }

    #[test]
    fn display_round_trips() {
        for s in ["/", "/a", "/a/", "/a/b/.", "/a/b/..", "//x//y//", "/a/./b/../c"] {
            let p = Path::parse(s).unwrap();
            assert_eq!(Path::parse(&p.to_string()).unwrap(), p, "{s}");
        }
        assert_eq!(Path::parse("/a/b/.").unwrap().to_string(), "/a/b/");
        assert_eq!(Path::parse("/a/b").unwrap().to_string(), "/a/b");
        assert_eq!(Path::parse("/./").unwrap().to_string(), "/");
    }

    #[test]
    fn validate_names() {
        assert_eq!(validate_name("a"), Ok(()));
        assert_eq!(validate_name("..."), Ok(()));
        assert_eq!(validate_name(".hidden"), Ok(()));
        for bad in ["", ".", "..", "a/b", "/", "a\0b"] {
            assert_eq!(validate_name(bad), Err(Errno::EINVAL), "{bad:?}");
        }
    }

    #[test]
    fn non_ascii_names_count_bytes() {
        // 128 two-byte characters: 256 bytes, one more than NAME_MAX.
        let name = "é".repeat(128);
        assert_eq!(norm("/", &name), Err(Errno::ENAMETOOLONG));
        assert_eq!(ok("/", &"é".repeat(127)), alloc::format!("/{}", "é".repeat(127)));
    }
}
