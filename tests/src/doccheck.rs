//! The docs must name what exists: every source path they cite and every
//! Rust item they name in backticks (`module::item`) is looked up in the
//! tree. A rename that leaves a page behind fails `cargo test`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Source extensions a cited path may have.
const SOURCE_EXTENSIONS: &[&str] = &["rs", "md", "toml", "txt", "sh", "S", "ld", "json", "c", "py"];

/// A reference the docs make that the tree does not back.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stale {
    /// The page.
    pub doc: String,
    /// What it cites.
    pub cited: String,
    /// Why it does not hold.
    pub why: &'static str,
}

/// Backticked spans of a Markdown text (code blocks left out).
fn backticked(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block {
            continue;
        }
        let mut rest = line;
        while let Some(a) = rest.find('`') {
            let after = &rest[a + 1..];
            let Some(b) = after.find('`') else { break };
            out.push(&after[..b]);
            rest = &after[b + 1..];
        }
    }
    out
}

/// Words that look like repository paths (`dir/file.ext`), backticked or not.
fn cited_paths(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let is_path_char = |c: char| c.is_ascii_alphanumeric() || "_-./".contains(c);
    for word in text.split(|c: char| !is_path_char(c)) {
        let word = word.trim_end_matches('.');
        let Some((_, ext)) = word.rsplit_once('.') else { continue };
        if !word.contains('/') || !SOURCE_EXTENSIONS.contains(&ext) || word.starts_with('/') || word.starts_with('.') {
            continue;
        }
        // Build outputs and other projects' files are not ours to check.
        if word.starts_with("target/") || word.contains("//") {
            continue;
        }
        out.insert(word.to_string());
    }
    out
}

/// `a::b::c` paths in backticks, as (the whole span, its segments).
fn cited_items(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for span in backticked(text) {
        // Only the path at the start: `sched::wake(&t, ..)` names `sched::wake`.
        let path: String = span.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':').collect();
        if !path.contains("::") || path.starts_with(':') || path.ends_with(':') {
            continue;
        }
        let segments: Vec<String> = path.split("::").map(str::to_string).collect();
        if segments.iter().any(|s| s.is_empty())
            || segments.iter().any(|s| s.chars().next().is_some_and(|c| c.is_ascii_digit()))
        {
            continue;
        }
        out.push((span.to_string(), segments));
    }
    out
}

/// Every `.rs` file under `root` (outside `target/`).
fn rust_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name();
            let name = name.to_string_lossy();
            if p.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    dirs.push(p);
                }
            } else if name.ends_with(".rs") {
                out.push(p);
            }
        }
    }
    out
}

/// Names the Rust sources define: items, enum variants, fields, modules
/// (file names count as modules), and macro names.
fn defined_names(root: &Path) -> BTreeSet<String> {
    const KEYWORDS: &[&str] =
        &["fn", "struct", "enum", "trait", "type", "const", "static", "mod", "macro_rules!", "union"];
    let mut names = BTreeSet::new();
    for f in rust_files(root) {
        if let Some(stem) = f.file_stem() {
            names.insert(stem.to_string_lossy().to_string());
        }
        let Ok(text) = std::fs::read_to_string(&f) else { continue };
        for line in text.lines() {
            let words: Vec<&str> = line
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '!'))
                .filter(|w| !w.is_empty())
                .collect();
            for pair in words.windows(2) {
                // `use x as name` defines `name` too.
                if KEYWORDS.contains(&pair[0]) || pair[0] == "as" {
                    names.insert(pair[1].trim_end_matches('!').to_string());
                }
            }
            // A variant or a field: an identifier that starts a line and is
            // followed by `,`, `(`, ` {`, `:` or ` =`.
            let t = line.trim_start();
            let t = t.strip_prefix("pub ").unwrap_or(t);
            let ident: String = t.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !ident.is_empty() {
                let after = t[ident.len()..].trim_start();
                if [",", "(", "{", ":", "="].iter().any(|p| after.starts_with(p)) && !after.starts_with("::") {
                    names.insert(ident);
                }
            }
        }
    }
    names
}

/// Check every page in `docs` (and the README) against the tree at `root`.
pub fn check(root: &Path) -> Vec<Stale> {
    let names = defined_names(root);
    // Paths may start in the language, in an outside crate or at a primitive type.
    let mut crates: BTreeSet<String> =
        ["crate", "self", "super", "core", "alloc", "std", "u8", "u16", "u32", "u64", "usize", "i32", "i64", "isize"]
            .map(String::from)
            .into();
    crates.extend(outside_crates(root));
    let mut pages: Vec<PathBuf> =
        std::fs::read_dir(root.join("docs")).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    pages.push(root.join("README.md"));
    pages.sort();
    let mut stale = Vec::new();
    for page in pages.iter().filter(|p| p.extension().is_some_and(|e| e == "md")) {
        let Ok(text) = std::fs::read_to_string(page) else { continue };
        let doc = page.strip_prefix(root).unwrap_or(page).display().to_string();
        for p in cited_paths(&text) {
            // Only paths into this tree: `Lab2/scores.json` is another project's.
            let top = p.split('/').next().unwrap_or_default();
            if !root.join(top).is_dir() {
                continue;
            }
            if !root.join(&p).exists() {
                stale.push(Stale { doc: doc.clone(), cited: p, why: "no such file" });
            }
        }
        for (span, segments) in cited_items(&text) {
            if crates.contains(&segments[0]) && !["crate", "self", "super"].contains(&segments[0].as_str()) {
                continue;
            }
            let checked = segments.iter().filter(|s| !crates.contains(s.as_str()));
            // Crate names are written with `-` in Cargo.toml and `_` in paths.
            let missing = checked
                .clone()
                .any(|s| !names.contains(s) && !root.join(s.replace('_', "-")).exists() && !is_crate(root, s));
            if missing {
                stale.push(Stale { doc: doc.clone(), cited: span, why: "no such item in the sources" });
            }
        }
    }
    stale.sort();
    stale.dedup();
    stale
}

/// The crates the workspace depends on (`[workspace.dependencies]`), as
/// Rust paths spell them.
fn outside_crates(root: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(root.join("Cargo.toml")).unwrap_or_default();
    let Some(deps) = text.split("[workspace.dependencies]").nth(1) else { return Vec::new() };
    deps.lines()
        .take_while(|l| !l.trim_start().starts_with('['))
        .filter_map(|l| l.split_once('=').map(|(name, _)| name.trim().replace('-', "_")))
        .filter(|n| !n.is_empty() && !n.starts_with('#'))
        .collect()
}

/// Whether `name` (as written in a Rust path) is one of the workspace's crates.
fn is_crate(root: &Path, name: &str) -> bool {
    [
        "chcore_abi",
        "chcore_proc",
        "chcore_fs",
        "kernel_core",
        "libchcore",
        "systests",
        "xtask",
        "boot",
        "kernel",
        "procmgr",
        "apps",
        "chainloader",
    ]
    .contains(&name)
        || root.join(name).is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_paths_and_items() {
        let text = "See kernel/src/syscall.rs and `libchcore/src/sync.rs`, `sched::wake(&t)` and\n```\nnot/this.rs\n```\n`target/x.elf`";
        assert_eq!(
            cited_paths(text).into_iter().collect::<Vec<_>>(),
            ["kernel/src/syscall.rs", "libchcore/src/sync.rs", "not/this.rs"]
        );
        let items = cited_items(text);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].1, ["sched", "wake"]);
    }

    #[test]
    fn the_docs_name_what_exists() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let stale = check(&root);
        let report: Vec<String> = stale.iter().map(|s| format!("{}: {} ({})", s.doc, s.cited, s.why)).collect();
        assert!(stale.is_empty(), "stale references in the docs:\n{}", report.join("\n"));
    }
}
