//! Skip a nested cargo build when nothing it reads has changed since it last succeeded.
//!
//! `cargo xtask run` builds procmgr, the ramdisk programs and the kernel with
//! nested `cargo build`s. Even with nothing to do, each costs a cargo start-up
//! and fingerprint check, so each is a [`Job`] with a stamp file under
//! `target/xtask/stamps/`. A stamp lists what the build ran with (its
//! command line, working directory and environment), every input file with
//! its modification time and size, and every output file the same way. When
//! the same list made now is identical, the build is skipped; any difference
//! (a file edited, touched, added or removed, an output deleted or replaced,
//! another option) runs cargo, which then decides what to recompile as always.
//!
//! The inputs of a job are:
//! - every file under the crate's folder and the folders of its path
//!   dependencies, transitively, as their `Cargo.toml`s name them (so a new
//!   dependency is followed without changing this file), skipping `target/`
//!   and dot-files;
//! - the workspace's `Cargo.toml`, `Cargo.lock`, `rust-toolchain.toml`,
//!   `.cargo/config.toml`, and the toolchain's channel manifest (rewritten
//!   when rustup updates the toolchain in place);
//! - files a job embeds (procmgr and the ramdisk, for the kernel), which are
//!   compared by content, not time: xtask rewrites them itself.
//!
//! Registry crates are pinned by `Cargo.lock` and never change in place. Not
//! seen: files outside those folders that a build script reads (none do:
//! every `build.rs` here reads its own crate's linker script or
//! `libchcore/user.ld`, inside a dependency's folder) and the user's
//! `~/.cargo/config.toml`. `rm -r target/xtask` forgets every stamp.
//!
//! The snapshot of the inputs is taken before cargo starts, so an edit made
//! while it compiles makes the next run build again; a failed build leaves no
//! stamp. Builds hold `target/xtask/build.lock`, so two xtask processes never
//! interleave their builds (they share `procmgr` and `ramdisk.cpio` paths).
//! With `CHCORE_EXPLAIN_BUILDS` set, xtask says why each job runs.

use std::collections::BTreeMap;
use std::fs;
use std::hash::Hasher;
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::time::UNIX_EPOCH;

/// One file as a stamp sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Relative to the workspace root where it is inside it.
    pub path: String,
    pub state: State,
}

/// What is compared of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Missing,
    /// Nanoseconds since the epoch, and length.
    Modified(u128, u64),
    /// A hash of the content, and length.
    Content(u64, u64),
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.state {
            State::Missing => write!(f, "- {}", self.path),
            State::Modified(ns, len) => write!(f, "{ns} {len} {}", self.path),
            State::Content(hash, len) => write!(f, "#{hash:016x} {len} {}", self.path),
        }
    }
}

/// The text of a stamp: one line per part of the key, input and output.
/// Inputs are sorted, so the order in which folders were walked is no difference.
pub fn render(key: &[String], inputs: &[Seen], outputs: &[Seen]) -> String {
    let mut inputs: Vec<String> = inputs.iter().map(|s| format!("in {s}\n")).collect();
    inputs.sort();
    let key = key.iter().map(|k| format!("key {}\n", k.replace('\n', "\\n")));
    let outputs = outputs.iter().map(|s| format!("out {s}\n"));
    key.chain(inputs).chain(outputs).collect()
}

/// Why a job must run: `None` if the stamp it left last time (`stored`)
/// matches the one made now (`now`, from [`render`]), else the first reason.
pub fn why_stale(stored: Option<&str>, now: &str) -> Option<String> {
    let stored = match stored {
        None => return Some("it has not been built by xtask yet".into()),
        Some(s) if s == now => return None,
        Some(s) => s,
    };
    // Lines are `key <text>` or `<in|out> <state> <path>`, where the state is
    // `-` or two words; compare files by kind and path.
    let index = |text: &str| -> (Vec<String>, BTreeMap<(String, String), String>) {
        let mut keys = Vec::new();
        let mut files = BTreeMap::new();
        for line in text.lines() {
            let Some((kind, rest)) = line.split_once(' ') else { continue };
            if kind == "key" {
                keys.push(rest.to_string());
                continue;
            }
            let (state, path) = match rest.strip_prefix("- ") {
                Some(path) => ("-".to_string(), path),
                None => {
                    let mut words = rest.splitn(3, ' ');
                    let state = format!("{} {}", words.next().unwrap_or_default(), words.next().unwrap_or_default());
                    (state, words.next().unwrap_or_default())
                }
            };
            files.insert((kind.to_string(), path.to_string()), state);
        }
        (keys, files)
    };
    let (old_keys, old) = index(stored);
    let (new_keys, new) = index(now);
    if old_keys != new_keys {
        let first = new_keys.iter().find(|k| !old_keys.contains(k)).or(old_keys.iter().find(|k| !new_keys.contains(k)));
        return Some(format!("its command or environment changed ({})", first.map_or("order", |k| k.as_str())));
    }
    for ((kind, path), state) in &new {
        let what = if kind == "out" { "output" } else { "input" };
        match old.get(&(kind.clone(), path.clone())) {
            None => return Some(format!("{path} is a new {what}")),
            Some(s) if s != state && state == "-" => return Some(format!("{what} {path} is missing")),
            Some(s) if s != state => return Some(format!("{what} {path} changed")),
            Some(_) => {}
        }
    }
    old.keys()
        .find(|k| !new.contains_key(k))
        .map(|(kind, path)| format!("{path} is no longer an {}", if kind == "out" { "output" } else { "input" }))
        .or_else(|| Some("the stamp is unreadable".into()))
}

/// The `path = "..."` dependencies a `Cargo.toml` names in its dependency
/// tables (including `[workspace.dependencies]` and target-specific ones),
/// but not `[dev-dependencies]`, which a build does not compile.
pub fn path_dependencies(manifest: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_deps = false;
    for line in manifest.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.starts_with('[') {
            let table = line.trim_matches(['[', ']', ' ']);
            in_deps = table.split('.').any(|part| part == "dependencies" || part == "build-dependencies");
            continue;
        }
        if !in_deps {
            continue;
        }
        // `name = { path = "x", ... }` or, in a `[dependencies.name]` table, `path = "x"`.
        for piece in line.split(['{', ',', '}']) {
            let Some((k, v)) = piece.split_once('=') else { continue };
            let k = k.trim();
            let v = v.trim();
            if k == "path" && v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
                found.push(v[1..v.len() - 1].to_string());
            }
        }
    }
    found
}

/// `a/b/../c` as `a/c`, without asking the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// Keep only the folders that no other one contains (walking those covers the rest).
fn outermost(mut dirs: Vec<PathBuf>) -> Vec<PathBuf> {
    dirs.sort();
    dirs.dedup();
    let all = dirs.clone();
    dirs.retain(|d| !all.iter().any(|o| o != d && d.starts_with(o)));
    dirs
}

/// The folders whose files a build of the crate in `crate_dir` reads: its
/// own, and those of its path dependencies and the workspace's, transitively.
fn source_dirs(root: &Path, crate_dir: &Path) -> Vec<PathBuf> {
    let mut seen: Vec<PathBuf> = Vec::new();
    let workspace = fs::read_to_string(root.join("Cargo.toml")).unwrap_or_default();
    let mut todo: Vec<PathBuf> = vec![crate_dir.to_path_buf()];
    todo.extend(path_dependencies(&workspace).iter().map(|p| normalize(&root.join(p))));
    while let Some(dir) = todo.pop() {
        if seen.contains(&dir) {
            continue;
        }
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        todo.extend(path_dependencies(&manifest).iter().map(|p| normalize(&dir.join(p))));
        seen.push(dir);
    }
    outermost(seen)
}

/// Every file under `dir`, except in `target/` folders and dot-files (editors' swap files, `.git`).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() && name != "target" => walk(&entry.path(), out),
            Ok(t) if !t.is_dir() => out.push(entry.path()),
            _ => {}
        }
    }
}

/// Environment variables that cannot change what a build produces.
fn irrelevant(name: &str) -> bool {
    ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_TERM_"].iter().any(|p| name.starts_with(p))
        || ["RUST_BACKTRACE", "RUST_LIB_BACKTRACE", "RUST_LOG", "RUST_RECURSION_COUNT", "RUSTUP_TOOLCHAIN_SOURCE"]
            .contains(&name)
}

/// What a command runs with: program, arguments, folder, the variables set
/// on it, and the inherited `RUST*`/`CARGO*` ones that cargo and rustc read.
fn key(cmd: &Command) -> Vec<String> {
    let mut key = vec![format!("program {}", cmd.get_program().to_string_lossy())];
    key.extend(cmd.get_args().map(|a| format!("arg {}", a.to_string_lossy())));
    if let Some(dir) = cmd.get_current_dir() {
        key.push(format!("dir {}", dir.display()));
    }
    let set: BTreeMap<String, Option<String>> = cmd
        .get_envs()
        .map(|(k, v)| (k.to_string_lossy().into_owned(), v.map(|v| v.to_string_lossy().into_owned())))
        .collect();
    let mut inherited: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.to_string_lossy().into_owned())))
        .filter(|(k, _)| (k.starts_with("RUST") || k.starts_with("CARGO")) && !irrelevant(k) && !set.contains_key(k))
        .collect();
    inherited.sort();
    key.extend(inherited.into_iter().map(|(k, v)| format!("env {k}={v}")));
    key.extend(set.into_iter().map(|(k, v)| format!("set {k}={}", v.as_deref().unwrap_or("(removed)"))));
    key
}

/// A nested build: what it runs, what it reads, what it writes.
pub struct Job {
    root: PathBuf,
    name: String,
    key: Vec<String>,
    dirs: Vec<PathBuf>,
    files: Vec<PathBuf>,
    embedded: Vec<PathBuf>,
    outputs: Vec<PathBuf>,
}

impl Job {
    /// `cmd` builds the crate in `crate_dir` of the workspace at `root`; its
    /// stamp is called `name`.
    pub fn new(root: &Path, name: &str, cmd: &Command, crate_dir: &Path) -> Job {
        let mut files: Vec<PathBuf> = ["Cargo.toml", "Cargo.lock", "rust-toolchain.toml", ".cargo/config.toml"]
            .iter()
            .map(|f| root.join(f))
            .collect();
        if let (Some(home), Some(toolchain)) = (std::env::var_os("RUSTUP_HOME"), std::env::var_os("RUSTUP_TOOLCHAIN")) {
            files.push(
                Path::new(&home).join("toolchains").join(toolchain).join("lib/rustlib/multirust-channel-manifest.toml"),
            );
        }
        Job {
            root: root.to_path_buf(),
            name: name.to_string(),
            key: key(cmd),
            dirs: source_dirs(root, crate_dir),
            files,
            embedded: Vec::new(),
            outputs: Vec::new(),
        }
    }

    /// A file the build embeds, compared by content.
    pub fn embeds(mut self, file: &Path) -> Job {
        self.embedded.push(file.to_path_buf());
        self
    }

    /// A file the job leaves behind.
    pub fn writes(mut self, file: &Path) -> Job {
        self.outputs.push(file.to_path_buf());
        self
    }

    fn seen(&self, path: &Path, by_content: bool) -> Seen {
        let shown = path.strip_prefix(&self.root).unwrap_or(path).display().to_string();
        let state = match fs::metadata(path) {
            Err(_) => State::Missing,
            Ok(m) if by_content => match fs::read(path) {
                Ok(bytes) => {
                    let mut h = std::hash::DefaultHasher::new();
                    h.write(&bytes);
                    State::Content(h.finish(), m.len())
                }
                Err(_) => State::Missing,
            },
            Ok(m) => {
                let ns = m.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
                State::Modified(ns, m.len())
            }
        };
        Seen { path: shown, state }
    }

    fn inputs(&self) -> Vec<Seen> {
        let mut files = Vec::new();
        for d in &self.dirs {
            walk(d, &mut files);
        }
        files.extend(self.files.iter().cloned());
        let mut seen: Vec<Seen> = files.iter().map(|f| self.seen(f, false)).collect();
        seen.extend(self.embedded.iter().map(|f| self.seen(f, true)));
        seen
    }

    fn outputs(&self) -> Vec<Seen> {
        self.outputs.iter().map(|f| self.seen(f, false)).collect()
    }

    /// Run `build` (the cargo build and whatever installs its result) unless
    /// nothing changed since it last succeeded. Call it holding [`lock`].
    pub fn run(&self, build: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
        let stamp = self.root.join("target").join("xtask").join("stamps").join(&self.name);
        let inputs = self.inputs();
        let now = render(&self.key, &inputs, &self.outputs());
        let Some(why) = why_stale(fs::read_to_string(&stamp).ok().as_deref(), &now) else {
            return Ok(());
        };
        if std::env::var_os("CHCORE_EXPLAIN_BUILDS").is_some() {
            eprintln!("xtask: building {}: {why}", self.name);
        }
        // Should the build fail or be interrupted, no stamp vouches for what it left.
        let _ = fs::remove_file(&stamp);
        build()?;
        let outputs = self.outputs();
        if outputs.iter().any(|o| o.state == State::Missing) {
            return Ok(());
        }
        // A stamp only saves time: failing to write one fails nothing.
        if let Some(dir) = stamp.parent() {
            let _ = fs::create_dir_all(dir).and_then(|()| fs::write(&stamp, render(&self.key, &inputs, &outputs)));
        }
        Ok(())
    }
}

/// Write `bytes` to `path` unless it already holds exactly them: an
/// unchanged file keeps its time, and what depends on it stays fresh.
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// [`write_if_changed`] with the content of `from`.
pub fn copy_if_changed(from: &Path, to: &Path) -> Result<(), String> {
    let bytes = fs::read(from).map_err(|e| format!("{}: {e}", from.display()))?;
    write_if_changed(to, &bytes)
}

/// Held while xtask builds: other xtask processes wait.
pub struct BuildLock {
    _file: fs::File,
}

/// Take the build lock of the workspace at `root`, waiting (and saying so) if another xtask holds it.
pub fn lock(root: &Path) -> Result<BuildLock, String> {
    let dir = root.join("target").join("xtask");
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("build.lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            eprintln!("xtask: waiting for another cargo xtask to finish building");
            file.lock().map_err(|e| format!("{}: {e}", path.display()))?;
        }
        // A file system without locks (some network ones): build unguarded,
        // as xtask did before it had stamps.
        Err(fs::TryLockError::Error(_)) => {}
    }
    Ok(BuildLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(path: &str, ns: u128) -> Seen {
        Seen { path: path.into(), state: State::Modified(ns, 10) }
    }

    fn stamp(inputs: &[Seen], outputs: &[Seen]) -> String {
        render(&["arg build".to_string(), "arg -p".to_string(), "arg kernel".to_string()], inputs, outputs)
    }

    #[test]
    fn the_same_snapshot_is_fresh_whatever_the_walk_order() {
        let a = stamp(&[seen("kernel/src/main.rs", 5), seen("boot/src/lib.rs", 7)], &[seen("out.elf", 9)]);
        let b = stamp(&[seen("boot/src/lib.rs", 7), seen("kernel/src/main.rs", 5)], &[seen("out.elf", 9)]);
        assert_eq!(why_stale(Some(&a), &b), None);
    }

    #[test]
    fn no_stamp_means_build() {
        assert!(why_stale(None, &stamp(&[], &[])).is_some());
    }

    #[test]
    fn an_edited_file_is_named() {
        let old = stamp(&[seen("kernel/src/main.rs", 5), seen("boot/src/lib.rs", 7)], &[seen("out.elf", 9)]);
        let new = stamp(&[seen("kernel/src/main.rs", 6), seen("boot/src/lib.rs", 7)], &[seen("out.elf", 9)]);
        assert_eq!(why_stale(Some(&old), &new).unwrap(), "input kernel/src/main.rs changed");
        // Older is also a change: a file put back from a backup.
        let back = stamp(&[seen("kernel/src/main.rs", 1), seen("boot/src/lib.rs", 7)], &[seen("out.elf", 9)]);
        assert!(why_stale(Some(&old), &back).is_some());
        // Same time, other length.
        let longer = Seen { path: "boot/src/lib.rs".into(), state: State::Modified(7, 11) };
        let new = stamp(&[seen("kernel/src/main.rs", 5), longer], &[seen("out.elf", 9)]);
        assert_eq!(why_stale(Some(&old), &new).unwrap(), "input boot/src/lib.rs changed");
    }

    #[test]
    fn added_and_removed_files_are_changes() {
        let old = stamp(&[seen("apps/src/bin/ls.rs", 5)], &[]);
        let added = stamp(&[seen("apps/src/bin/ls.rs", 5), seen("apps/src/bin/ktest.rs", 1)], &[]);
        assert_eq!(why_stale(Some(&old), &added).unwrap(), "apps/src/bin/ktest.rs is a new input");
        assert_eq!(why_stale(Some(&added), &old).unwrap(), "apps/src/bin/ktest.rs is no longer an input");
    }

    #[test]
    fn a_missing_or_replaced_output_means_build() {
        let old = stamp(&[seen("a.rs", 1)], &[seen("target/images/virt/kernel.elf", 9)]);
        let gone =
            stamp(&[seen("a.rs", 1)], &[Seen { path: "target/images/virt/kernel.elf".into(), state: State::Missing }]);
        assert_eq!(why_stale(Some(&old), &gone).unwrap(), "output target/images/virt/kernel.elf is missing");
        let other = stamp(&[seen("a.rs", 1)], &[seen("target/images/virt/kernel.elf", 10)]);
        assert_eq!(why_stale(Some(&old), &other).unwrap(), "output target/images/virt/kernel.elf changed");
    }

    #[test]
    fn other_options_mean_build() {
        let inputs = [seen("a.rs", 1)];
        let old = render(&["arg --features".into(), "arg virt".into()], &inputs, &[]);
        let new = render(&["arg --features".into(), "arg virt,selftest".into()], &inputs, &[]);
        assert_eq!(why_stale(Some(&old), &new).unwrap(), "its command or environment changed (arg virt,selftest)");
    }

    #[test]
    fn embedded_files_compare_by_content() {
        let h = |hash| Seen { path: "target/user/ramdisk.cpio".into(), state: State::Content(hash, 100) };
        assert_eq!(why_stale(Some(&stamp(&[h(1)], &[])), &stamp(&[h(1)], &[])), None);
        assert!(why_stale(Some(&stamp(&[h(1)], &[])), &stamp(&[h(2)], &[])).is_some());
    }

    #[test]
    fn paths_with_spaces_survive() {
        let old = stamp(&[seen("my docs/a b.rs", 1)], &[]);
        let new = stamp(&[seen("my docs/a b.rs", 2)], &[]);
        assert_eq!(why_stale(Some(&old), &new).unwrap(), "input my docs/a b.rs changed");
    }

    #[test]
    fn path_dependencies_are_read_from_dependency_tables_only() {
        let manifest = r#"
[package]
name = "x"

[dependencies]
libchcore = { path = "../libchcore" }
spin.workspace = true
chcore-proc = { version = "0.1", path="../libchcore/proc" } # a comment

[dependencies.kernel-core]
path = "../kernel/core"

[target.'cfg(target_os = "none")'.dependencies]
boot = { path = "../boot" }

[build-dependencies]
gen = { path = "../gen" }

[dev-dependencies]
only-for-tests = { path = "../tests" }

[[bin]]
name = "sleep"
path = "src/bin/sleep.rs"
"#;
        assert_eq!(
            path_dependencies(manifest),
            ["../libchcore", "../libchcore/proc", "../kernel/core", "../boot", "../gen"]
        );
        let workspace =
            "[workspace]\nmembers = [\"a\"]\n[workspace.dependencies]\nlog = \"0.4\"\nmine = { path = \"mine\" }\n";
        assert_eq!(path_dependencies(workspace), ["mine"]);
    }

    #[test]
    fn nested_folders_are_walked_once() {
        let dirs = ["/w/libchcore", "/w/libchcore/abi", "/w/kernel/core", "/w/kernel", "/w/libchcore"];
        assert_eq!(
            outermost(dirs.iter().map(PathBuf::from).collect()),
            [PathBuf::from("/w/kernel"), PathBuf::from("/w/libchcore")]
        );
        assert_eq!(normalize(Path::new("/w/procmgr/../libchcore/./abi")), PathBuf::from("/w/libchcore/abi"));
    }

    #[test]
    fn this_workspace_s_kernel_reads_its_dependencies() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let rel = |dirs: Vec<PathBuf>| -> Vec<String> {
            dirs.iter().map(|d| d.strip_prefix(root).unwrap().display().to_string()).collect()
        };
        let kernel = rel(source_dirs(root, &root.join("kernel")));
        for want in ["kernel", "boot", "libchcore/abi"] {
            assert!(kernel.contains(&want.to_string()), "{want} missing from {kernel:?}");
        }
        let procmgr = rel(source_dirs(root, &root.join("procmgr")));
        for want in ["procmgr", "libchcore", "kernel/core"] {
            assert!(procmgr.contains(&want.to_string()), "{want} missing from {procmgr:?}");
        }
    }
}
