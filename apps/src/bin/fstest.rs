//! The file-system test suite (in the spirit of sel4test): each test has an
//! id, runs on its own in a fresh directory, and prints `[FSTEST] <id>
//! <name>: OK` or `FAILED: <why>`; the last line says how many ran and
//! passed. Exit status 0 only if all passed. procmgr runs it in the test
//! image; people can run it from the shell.
//!
//! It exercises `libchcore::fs` as a program sees it: procmgr's descriptors
//! and working directory, tmpfs at `/` and the read-only ramdisk at `/bin`
//! (docs of `chcore_fs::server` and `procmgr/src/server/fs.rs` give the
//! semantics checked here). Everything it makes is under
//! `/tmp/fstest-<pid>/<test id>`; each test's directory is removed after it,
//! and the last test checks that tmpfs's free blocks and file count, and the
//! lowest free descriptor, are back where they were at the start.
//!
//! ENOSPC is not provoked: tmpfs holds a large share of the machine's memory
//! (hundreds of MiB), so filling it is neither cheap nor kind to the tests
//! that run after this one. The space accounting behind it is tested on the
//! host (`cargo test -p chcore-fs`); here the size limit is checked through
//! EFBIG at the largest file size instead, and statfs's block counts through
//! every test that makes, grows, shrinks and removes files.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use libchcore::abi::TICK_HZ;
use libchcore::fs::{
    self, Errno, Fd, FileType, O_APPEND, O_CREAT, O_DIRECTORY, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, SEEK_CUR,
    SEEK_END, SEEK_SET,
};
use libchcore::mman::{self, MAP_PRIVATE, MAP_SHARED, PROT_EXEC, PROT_READ, PROT_WRITE};
use libchcore::process::{self, Pid, Status};
use libchcore::sync::Mutex;
use libchcore::{println, sys, Error};

libchcore::entry!(main);

use libchcore::testing::TestResult;
use libchcore::{check, expect};

/// A test: id, name, body.
type Test = (&'static str, &'static str, fn() -> TestResult);

const TESTS: &[Test] = &[
    ("FS001", "open: O_CREAT makes a file, O_EXCL refuses an existing name, ENOENT without O_CREAT", open_create),
    ("FS002", "open: O_TRUNC empties a file (even read-only), not a directory", open_trunc),
    ("FS003", "open: O_APPEND writes at the end whatever the offset", open_append),
    ("FS004", "open: O_DIRECTORY, trailing slashes, directories for writing, bad flags", open_directory),
    ("FS005", "access modes: reading O_WRONLY and writing O_RDONLY give EBADF", access_modes),
    ("FS006", "read and write: large transfers, short reads, end of file", read_write),
    ("FS007", "pread and pwrite leave the offset", pread_pwrite),
    ("FS008", "lseek: SEEK_SET, SEEK_CUR, SEEK_END, EINVAL, ESPIPE on pipes and the console", lseek_cases),
    ("FS009", "close: closed and never-opened descriptors give EBADF; the lowest is reused", close_cases),
    ("FS010", "dup and dup2 share the offset; EMFILE when the table is full", dup_cases),
    ("FS011", "stat and fstat: type, size, links, blocks, times; utimes sets them", stat_cases),
    ("FS012", "mkdir and rmdir: EEXIST, ENOENT, ENOTDIR, ENOTEMPTY, EBUSY", mkdir_rmdir),
    ("FS013", "unlink: ENOENT, EISDIR, ENOTDIR", unlink_cases),
    ("FS014", "rename of files: move, replace (an open target stays readable), EISDIR", rename_files),
    ("FS015", "rename of directories: replace an empty one, ENOTEMPTY, ENOTDIR, EINVAL into itself", rename_dirs),
    ("FS016", "mounts: EXDEV between them, EBUSY for /bin, EROFS under /bin", mounts_cases),
    ("FS017", "ENAMETOOLONG: a 256-byte name, a 4096-byte path; 255 and 4095 work", name_limits),
    ("FS018", "EINVAL: bad offsets and sizes, a NUL in a path", invalid_arguments),
    ("FS019", "ftruncate: growing reads zeros, shrinking cuts and frees", ftruncate_cases),
    ("FS020", "sparse files: holes read as zeros and take no space; EFBIG at the size limit", sparse_files),
    ("FS021", "a file unlinked while open stays usable until its last close", unlinked_open),
    ("FS022", "read_dir: entries after adds and removes, 600 entries, ENOTDIR", read_dir_cases),
    ("FS023", "chdir and getcwd: relative paths, .., ENOTDIR, ENOENT", chdir_cases),
    ("FS024", "descriptors are inherited by fork and share the offset", fork_shares_offset),
    ("FS025", "descriptors are kept across exec", exec_keeps_fds),
    ("FS026", "descriptors are closed when a process exits or is killed", exit_closes_fds),
    ("FS027", "the working directory is inherited by fork and the child's own", fork_inherits_cwd),
    ("FS028", "four children appending at once: every record once, whole", concurrent_append),
    ("FS029", "four children creating at once: every file once, one O_EXCL winner", concurrent_create),
    ("FS030", "read_file and write_file", whole_files),
    ("FS031", "statfs: sizes and counts follow files; ENOENT and ENOTDIR for bad paths", statfs_cases),
    ("FS032", "mmap shared: the file page by page; stores are what read returns, writes show at once", mmap_shared),
    ("FS033", "mmap private: copy-on-write; neither the file nor other mappings see its stores", mmap_private),
    ("FS034", "mmap errors: EACCES, EINVAL, ENODEV; a page past the end ends the process", mmap_errors),
    ("FS035", "mmap and fork: shared stores seen both ways, private ones not; four children fault at once", mmap_fork),
    ("FS036", "a writer killed in the middle of its writes leaves the file whole and usable", killed_mid_write),
    ("FS039", "mmap of a program in /bin: its bytes in place, shared and private; refusals", mmap_programs),
    ("FS038", "programs outside /bin: a copy runs by path, exec of one, #! scripts; every refusal", programs_in_files),
    // Must stay last: it removes the suite's directory and checks the totals.
    ("FS037", "the suite leaves nothing behind: blocks, files and descriptors as at the start", leaves_nothing),
];

/// The suite's directory, `/tmp/fstest-<pid>`.
static BASE: Mutex<String> = Mutex::new(String::new());
/// The running test's directory, `BASE/<id>`.
static DIR: Mutex<String> = Mutex::new(String::new());
/// tmpfs's free blocks and file count, and the lowest free descriptor, before the suite.
static START_FREE: AtomicU64 = AtomicU64::new(0);
static START_FILES: AtomicU64 = AtomicU64::new(0);
static START_FD: AtomicU64 = AtomicU64::new(0);

fn main() -> i32 {
    let cwd = fs::getcwd().unwrap_or_else(|_| String::from("/"));
    let base = format!("/tmp/fstest-{}", process::pid());
    let ready = start(&base);
    if let Err(why) = &ready {
        println!("[FSTEST] cannot set up {base}: {why}");
    }
    let mut passed = 0;
    for (id, name, test) in TESTS {
        let dir = format!("{base}/{id}");
        *DIR.lock() = dir.clone();
        let result = match (&ready, fs::mkdir(&dir)) {
            (Err(why), _) => Err(format!("no test directory: {why}")),
            (Ok(()), Err(e)) => Err(format!("mkdir {dir}: {e}")),
            (Ok(()), Ok(())) => test(),
        };
        // Whatever the test did or left: back to where we were, its files gone.
        let _ = fs::chdir(&cwd);
        let _ = remove_tree(&dir);
        match result {
            Ok(()) => {
                println!("[FSTEST] {id} {name}: OK");
                passed += 1;
            }
            Err(why) => println!("[FSTEST] {id} {name}: FAILED: {why}"),
        }
    }
    let _ = remove_tree(&base);
    println!("[FSTEST] {passed} of {} file-system tests passed", TESTS.len());
    if passed == TESTS.len() {
        0
    } else {
        1
    }
}

/// Record the starting totals and make the suite's directory.
fn start(base: &str) -> TestResult {
    let st = fs::statfs("/").map_err(e("statfs /"))?;
    START_FREE.store(st.free_blocks, Ordering::SeqCst);
    START_FILES.store(st.files, Ordering::SeqCst);
    START_FD.store(lowest_free_fd()?, Ordering::SeqCst);
    *BASE.lock() = String::from(base);
    fs::mkdir(base).map_err(e("mkdir"))
}

// ---- Helpers ----

fn e(what: &str) -> impl Fn(Errno) -> String + '_ {
    move |err| format!("{what}: {err}")
}

fn pe(what: &'static str) -> impl Fn(Error) -> String {
    move |err| format!("{what}: {err:?}")
}

/// `name` in the running test's directory.
fn at(name: &str) -> String {
    format!("{}/{name}", DIR.lock().as_str())
}

/// A path as it goes into a message: long ones cut short.
fn short(path: &str) -> &str {
    &path[..path.len().min(60)]
}

/// An open descriptor, closed when dropped, so that a test that fails half
/// way leaks nothing into the next.
struct File(Fd);

impl Drop for File {
    fn drop(&mut self) {
        let _ = fs::close(self.0);
    }
}

fn open(path: &str, flags: u32) -> Result<File, String> {
    fs::open(path, flags).map(File).map_err(|err| format!("open {} ({flags:#o}): {err}", short(path)))
}

/// `open` must fail with `want`; a descriptor it gives anyway is closed.
fn open_fails(path: &str, flags: u32, want: Errno) -> TestResult {
    match fs::open(path, flags) {
        Err(got) if got == want => Ok(()),
        Err(got) => Err(format!("open {} ({flags:#o}) gave {got}, expected {want}", short(path))),
        Ok(fd) => {
            let _ = fs::close(fd);
            Err(format!("open {} ({flags:#o}) succeeded, expected {want}", short(path)))
        }
    }
}

/// Write all of `data` to `fd`, which must take it all.
fn put(fd: Fd, data: &[u8]) -> TestResult {
    let n = fs::write(fd, data).map_err(e("write"))?;
    check!(n == data.len(), "write of {} bytes wrote {n}", data.len());
    Ok(())
}

/// Everything from `fd`'s offset to the end of the file.
fn read_rest(fd: Fd) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut buf = alloc::vec![0u8; 5000];
    loop {
        match fs::read(fd, &mut buf).map_err(e("read"))? {
            0 => return Ok(out),
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

fn contents(path: &str) -> Result<Vec<u8>, String> {
    fs::read_file(path).map_err(|err| format!("read_file {}: {err}", short(path)))
}

fn make_file(path: &str, data: &[u8]) -> TestResult {
    fs::write_file(path, data).map_err(|err| format!("write_file {}: {err}", short(path)))
}

fn stat(path: &str) -> Result<fs::Stat, String> {
    fs::stat(path).map_err(|err| format!("stat {}: {err}", short(path)))
}

fn fstat(fd: Fd) -> Result<fs::Stat, String> {
    fs::fstat(fd).map_err(e("fstat"))
}

fn statfs_root() -> Result<fs::FsStat, String> {
    fs::statfs("/").map_err(e("statfs /"))
}

/// The names in directory `path`, sorted.
fn names(path: &str) -> Result<Vec<String>, String> {
    let mut v: Vec<String> = fs::read_dir(path)
        .map_err(|err| format!("read_dir {}: {err}", short(path)))?
        .into_iter()
        .map(|d| d.name)
        .collect();
    v.sort();
    Ok(v)
}

/// Remove `path` and everything under it.
fn remove_tree(path: &str) -> Result<(), Errno> {
    if fs::stat(path)?.kind == FileType::Dir {
        for entry in fs::read_dir(path)? {
            remove_tree(&format!("{path}/{}", entry.name))?;
        }
        fs::rmdir(path)
    } else {
        fs::unlink(path)
    }
}

/// The descriptor the next open would get.
fn lowest_free_fd() -> Result<Fd, String> {
    let fd = fs::open("/", O_RDONLY | O_DIRECTORY).map_err(e("open /"))?;
    fs::close(fd).map_err(e("close"))?;
    Ok(fd)
}

/// Seconds since boot: tmpfs's clock.
fn now() -> u64 {
    sys::get_tick() / TICK_HZ
}

/// Fork a child that runs `body` and exits with what it returns.
fn fork_child(body: impl FnOnce() -> i32) -> Result<Pid, String> {
    match process::fork().map_err(pe("fork"))? {
        0 => process::exit(body()),
        pid => Ok(pid),
    }
}

/// Wait for `pid`; its exit code.
fn exit_code(pid: Pid) -> Result<i32, String> {
    match process::waitpid(Some(pid)).map_err(pe("wait"))? {
        (_, Status::Exited(code)) => Ok(code),
        (_, Status::Killed) => Err(format!("child {pid} was killed")),
    }
}

/// A byte pattern that tells offsets apart.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

// ---- open ----

fn open_create() -> TestResult {
    let f = at("f");
    open_fails(&f, O_RDONLY, Errno::ENOENT)?;
    open_fails(&f, O_WRONLY | O_EXCL, Errno::ENOENT)?;
    let a = open(&f, O_RDWR | O_CREAT)?;
    let st = stat(&f)?;
    check!(st.kind == FileType::File && st.size == 0 && st.nlink == 1, "a new file is {st:?}");
    check!(fstat(a.0)?.ino == st.ino, "fstat and stat name different inodes");
    put(a.0, b"data")?;
    open_fails(&f, O_RDWR | O_CREAT | O_EXCL, Errno::EEXIST)?;
    // O_CREAT on an existing file opens it as it is.
    let b = open(&f, O_RDONLY | O_CREAT)?;
    expect!(read_rest(b.0), Ok(b"data".to_vec()));
    // O_EXCL without O_CREAT is ignored, as on Linux.
    drop(open(&f, O_RDONLY | O_EXCL)?);
    open_fails(&DIR.lock(), O_RDONLY | O_CREAT | O_EXCL, Errno::EEXIST)?;
    open_fails(&at("nodir/f"), O_WRONLY | O_CREAT, Errno::ENOENT)?;
    open_fails(&at("f/g"), O_WRONLY | O_CREAT, Errno::ENOTDIR)?;
    open_fails(&at("f/g"), O_RDONLY, Errno::ENOTDIR)?;
    open_fails("", O_RDONLY | O_CREAT, Errno::ENOENT)?;
    // The lowest free descriptor: after closing `a`, the next open gets its number.
    let number = a.0;
    drop(a);
    let c = open(&f, O_RDONLY)?;
    check!(c.0 == number, "open gave fd {}, expected the freed {number}", c.0);
    Ok(())
}

fn open_trunc() -> TestResult {
    let f = at("f");
    make_file(&f, b"hello world")?;
    let w = open(&f, O_WRONLY | O_TRUNC)?;
    expect!(fstat(w.0).map(|s| s.size), Ok(0));
    put(w.0, b"abc")?;
    drop(w);
    expect!(contents(&f), Ok(b"abc".to_vec()));
    // Linux truncates even for O_RDONLY (the Vfs documents that it does too).
    drop(open(&f, O_RDONLY | O_TRUNC)?);
    expect!(stat(&f).map(|s| s.size), Ok(0));
    // O_CREAT | O_TRUNC on a missing file makes it; on a directory: EISDIR.
    drop(open(&at("g"), O_WRONLY | O_CREAT | O_TRUNC)?);
    expect!(stat(&at("g")).map(|s| s.size), Ok(0));
    open_fails(&DIR.lock(), O_RDONLY | O_TRUNC, Errno::EISDIR)?;
    Ok(())
}

fn open_append() -> TestResult {
    let f = at("f");
    make_file(&f, b"0123")?;
    let a = open(&f, O_WRONLY | O_APPEND)?;
    let plain = open(&f, O_RDWR)?;
    put(a.0, b"ab")?;
    expect!(fs::lseek(a.0, 0, SEEK_CUR), Ok(6));
    expect!(fs::lseek(a.0, 0, SEEK_SET), Ok(0));
    put(a.0, b"cd")?;
    expect!(fs::lseek(a.0, 0, SEEK_CUR), Ok(8));
    // Another description without O_APPEND writes where its offset is.
    put(plain.0, b"XY")?;
    put(a.0, b"ef")?;
    expect!(contents(&f), Ok(b"XY23abcdef".to_vec()));
    // pwrite ignores O_APPEND, as POSIX says (chcore_fs::server::Vfs::pwrite).
    expect!(fs::pwrite(a.0, b"Z", 1), Ok(1));
    expect!(contents(&f), Ok(b"XZ23abcdef".to_vec()));
    // O_APPEND with O_RDWR reads from the offset as usual.
    let ra = open(&f, O_RDWR | O_APPEND)?;
    let mut buf = [0u8; 4];
    expect!(fs::read(ra.0, &mut buf), Ok(4));
    check!(&buf == b"XZ23", "read {buf:?} through an O_APPEND descriptor");
    put(ra.0, b"!")?;
    expect!(contents(&f), Ok(b"XZ23abcdef!".to_vec()));
    Ok(())
}

fn open_directory() -> TestResult {
    let dir = DIR.lock().clone();
    let f = at("f");
    make_file(&f, b"x")?;
    let d = open(&dir, O_RDONLY | O_DIRECTORY)?;
    expect!(fstat(d.0).map(|s| s.kind), Ok(FileType::Dir));
    let mut buf = [0u8; 8];
    expect!(fs::read(d.0, &mut buf), Err(Errno::EISDIR));
    expect!(fs::pread(d.0, &mut buf, 0), Err(Errno::EISDIR));
    open_fails(&f, O_RDONLY | O_DIRECTORY, Errno::ENOTDIR)?;
    open_fails(&format!("{f}/"), O_RDONLY, Errno::ENOTDIR)?;
    open_fails(&format!("{f}/."), O_RDONLY, Errno::ENOTDIR)?;
    open_fails(&at("new/"), O_WRONLY | O_CREAT, Errno::EISDIR)?;
    open_fails(&dir, O_WRONLY, Errno::EISDIR)?;
    open_fails(&dir, O_RDWR, Errno::EISDIR)?;
    open_fails(&dir, O_RDONLY | O_CREAT, Errno::EISDIR)?;
    open_fails(&at("g"), O_RDONLY | O_CREAT | O_DIRECTORY, Errno::EINVAL)?;
    open_fails(&f, 3, Errno::EINVAL)?;
    open_fails(&f, O_RDONLY | 0o10_000_000, Errno::EINVAL)?;
    // None of the refused opens made anything.
    expect!(names(&dir), Ok(alloc::vec![String::from("f")]));
    // A directory with a trailing slash, and `/` itself, open fine.
    drop(open(&format!("{dir}/"), O_RDONLY)?);
    drop(open("/", O_RDONLY | O_DIRECTORY)?);
    Ok(())
}

fn access_modes() -> TestResult {
    let f = at("f");
    make_file(&f, b"abc")?;
    let mut buf = [0u8; 8];
    let w = open(&f, O_WRONLY)?;
    expect!(fs::read(w.0, &mut buf), Err(Errno::EBADF));
    expect!(fs::pread(w.0, &mut buf, 0), Err(Errno::EBADF));
    put(w.0, b"X")?;
    let r = open(&f, O_RDONLY)?;
    expect!(fs::write(r.0, b"Y"), Err(Errno::EBADF));
    expect!(fs::pwrite(r.0, b"Y", 0), Err(Errno::EBADF));
    expect!(fs::ftruncate(r.0, 0), Err(Errno::EINVAL));
    expect!(fs::read(r.0, &mut buf), Ok(3));
    check!(&buf[..3] == b"Xbc", "read {:?}", &buf[..3]);
    let rw = open(&f, O_RDWR)?;
    put(rw.0, b"Z")?;
    expect!(fs::read(rw.0, &mut buf), Ok(2));
    check!(&buf[..2] == b"bc", "read {:?} after writing", &buf[..2]);
    expect!(contents(&f), Ok(b"Zbc".to_vec()));
    Ok(())
}

// ---- read, write, offsets ----

fn read_write() -> TestResult {
    let f = at("f");
    // More than one IPC buffer each way.
    let data = pattern(40_000, 7);
    let fd = open(&f, O_RDWR | O_CREAT | O_EXCL)?;
    expect!(fs::write(fd.0, &data), Ok(data.len()));
    expect!(fs::write(fd.0, &[]), Ok(0));
    expect!(fstat(fd.0).map(|s| s.size), Ok(40_000));
    let mut buf = [0u8; 16];
    expect!(fs::read(fd.0, &mut buf), Ok(0));
    expect!(fs::lseek(fd.0, 0, SEEK_SET), Ok(0));
    let back = read_rest(fd.0)?;
    check!(back == data, "read back {} bytes, differing from what was written", back.len());
    // One read may return up to one IPC buffer's worth.
    expect!(fs::lseek(fd.0, 0, SEEK_SET), Ok(0));
    let mut big = alloc::vec![0u8; 50_000];
    let n = fs::read(fd.0, &mut big).map_err(e("read"))?;
    check!(n > 0 && n <= 40_000 && big[..n] == data[..n], "one large read gave {n} bytes, or wrong ones");
    // A short read at the end of the file, then 0.
    expect!(fs::lseek(fd.0, -5, SEEK_END), Ok(39_995));
    expect!(fs::read(fd.0, &mut buf), Ok(5));
    check!(buf[..5] == data[39_995..], "the last 5 bytes read as {:?}", &buf[..5]);
    expect!(fs::read(fd.0, &mut buf), Ok(0));
    expect!(fs::read(fd.0, &mut []), Ok(0));
    // Overwriting in the middle keeps the size.
    expect!(fs::lseek(fd.0, 100, SEEK_SET), Ok(100));
    put(fd.0, b"middle")?;
    expect!(fstat(fd.0).map(|s| s.size), Ok(40_000));
    let all = contents(&f)?;
    check!(&all[100..106] == b"middle" && all[..100] == data[..100] && all[106..] == data[106..], "overwrite wrong");
    Ok(())
}

fn pread_pwrite() -> TestResult {
    let f = at("f");
    let fd = open(&f, O_RDWR | O_CREAT)?;
    put(fd.0, b"0123456789")?;
    expect!(fs::lseek(fd.0, 3, SEEK_SET), Ok(3));
    let mut buf = [0u8; 4];
    expect!(fs::pread(fd.0, &mut buf, 6), Ok(4));
    check!(&buf == b"6789", "pread gave {buf:?}");
    expect!(fs::pread(fd.0, &mut buf, 8), Ok(2));
    expect!(fs::pread(fd.0, &mut buf, 10), Ok(0));
    expect!(fs::pread(fd.0, &mut buf, 1 << 40), Ok(0));
    expect!(fs::lseek(fd.0, 0, SEEK_CUR), Ok(3));
    expect!(fs::pwrite(fd.0, b"ab", 0), Ok(2));
    expect!(fs::pwrite(fd.0, b"xyz", 12), Ok(3));
    expect!(fs::lseek(fd.0, 0, SEEK_CUR), Ok(3));
    expect!(fstat(fd.0).map(|s| s.size), Ok(15));
    expect!(contents(&f), Ok(b"ab23456789\0\0xyz".to_vec()));
    // The offset still reads from 3.
    expect!(fs::read(fd.0, &mut buf), Ok(4));
    check!(&buf == b"3456", "read after pread/pwrite gave {buf:?}");
    Ok(())
}

fn lseek_cases() -> TestResult {
    let f = at("f");
    let fd = open(&f, O_RDWR | O_CREAT)?;
    put(fd.0, b"0123456789")?;
    expect!(fs::lseek(fd.0, 5, SEEK_SET), Ok(5));
    expect!(fs::lseek(fd.0, 3, SEEK_CUR), Ok(8));
    expect!(fs::lseek(fd.0, -2, SEEK_CUR), Ok(6));
    expect!(fs::lseek(fd.0, -10, SEEK_CUR), Err(Errno::EINVAL));
    expect!(fs::lseek(fd.0, -1, SEEK_SET), Err(Errno::EINVAL));
    expect!(fs::lseek(fd.0, -11, SEEK_END), Err(Errno::EINVAL));
    expect!(fs::lseek(fd.0, 0, 3), Err(Errno::EINVAL));
    // A refused seek leaves the offset.
    expect!(fs::lseek(fd.0, 0, SEEK_CUR), Ok(6));
    expect!(fs::lseek(fd.0, 0, SEEK_END), Ok(10));
    expect!(fs::lseek(fd.0, -4, SEEK_END), Ok(6));
    expect!(fs::lseek(fd.0, i64::MAX, SEEK_SET), Ok(i64::MAX as u64));
    expect!(fs::lseek(fd.0, 1, SEEK_CUR), Err(Errno::EINVAL));
    // Past the end is allowed; reading there gives 0 and writing leaves a hole.
    expect!(fs::lseek(fd.0, 20, SEEK_END), Ok(30));
    let mut buf = [0u8; 4];
    expect!(fs::read(fd.0, &mut buf), Ok(0));
    expect!(fstat(fd.0).map(|s| s.size), Ok(10));
    put(fd.0, b"!")?;
    let all = contents(&f)?;
    check!(all.len() == 31 && all[10..30].iter().all(|&b| b == 0) && all[30] == b'!', "hole wrong: {all:?}");
    // Pipes and the console cannot seek.
    let (r, w) = process::pipe().map_err(pe("pipe"))?;
    let (on_r, on_w) = (fs::lseek(r, 0, SEEK_SET), fs::lseek(w, 0, SEEK_CUR));
    let _ = process::close(r);
    let _ = process::close(w);
    check!(on_r == Err(Errno::ESPIPE) && on_w == Err(Errno::ESPIPE), "lseek on a pipe gave {on_r:?}, {on_w:?}");
    expect!(fs::lseek(1, 0, SEEK_CUR), Err(Errno::ESPIPE));
    expect!(fs::lseek(60, 0, SEEK_SET), Err(Errno::EBADF));
    Ok(())
}

fn close_cases() -> TestResult {
    let f = at("f");
    make_file(&f, b"abc")?;
    let fd = fs::open(&f, O_RDWR).map_err(e("open"))?;
    fs::close(fd).map_err(e("close"))?;
    let mut buf = [0u8; 4];
    expect!(fs::close(fd), Err(Errno::EBADF));
    expect!(fs::read(fd, &mut buf), Err(Errno::EBADF));
    expect!(fs::write(fd, b"x"), Err(Errno::EBADF));
    expect!(fs::pread(fd, &mut buf, 0), Err(Errno::EBADF));
    expect!(fs::pwrite(fd, b"x", 0), Err(Errno::EBADF));
    expect!(fs::lseek(fd, 0, SEEK_SET), Err(Errno::EBADF));
    expect!(fs::fstat(fd).map(|s| s.size), Err(Errno::EBADF));
    expect!(fs::ftruncate(fd, 0), Err(Errno::EBADF));
    expect!(fs::dup(fd), Err(Errno::EBADF));
    // Never opened, and out of the table's range.
    expect!(fs::close(60), Err(Errno::EBADF));
    expect!(fs::read(63, &mut buf), Err(Errno::EBADF));
    expect!(fs::write(1000, b"x"), Err(Errno::EBADF));
    expect!(fs::fstat(u64::MAX).map(|s| s.size), Err(Errno::EBADF));
    expect!(fs::close(u64::MAX), Err(Errno::EBADF));
    // Closing one file's descriptor leaves another file's open.
    let a = open(&f, O_RDONLY)?;
    let b = fs::open(&f, O_RDONLY).map_err(e("open"))?;
    fs::close(b).map_err(e("close"))?;
    expect!(fs::read(a.0, &mut buf), Ok(3));
    expect!(contents(&f), Ok(b"abc".to_vec()));
    Ok(())
}

fn dup_cases() -> TestResult {
    let f = at("f");
    let g = at("g");
    let a = open(&f, O_RDWR | O_CREAT)?;
    let b = File(fs::dup(a.0).map_err(e("dup"))?);
    check!(b.0 != a.0, "dup returned the same descriptor");
    put(a.0, b"ab")?;
    put(b.0, b"cd")?;
    expect!(fs::lseek(a.0, 1, SEEK_SET), Ok(1));
    expect!(fs::lseek(b.0, 0, SEEK_CUR), Ok(1));
    drop(a);
    // The description lives while a descriptor refers to it.
    let mut buf = [0u8; 8];
    expect!(fs::read(b.0, &mut buf), Ok(3));
    check!(&buf[..3] == b"bcd", "read {:?} through the dup", &buf[..3]);
    // dup2 onto an open descriptor closes what it was.
    make_file(&g, b"gg")?;
    let c = open(&g, O_RDONLY)?;
    expect!(fs::dup2(b.0, c.0), Ok(c.0));
    expect!(fs::lseek(c.0, 0, SEEK_CUR), Ok(4));
    put(c.0, b"ef")?;
    expect!(contents(&f), Ok(b"abcdef".to_vec()));
    expect!(contents(&g), Ok(b"gg".to_vec()));
    // dup2 of a descriptor onto itself does nothing.
    expect!(fs::dup2(b.0, b.0), Ok(b.0));
    expect!(fs::lseek(b.0, 0, SEEK_CUR), Ok(6));
    // A bad old descriptor leaves the new one alone.
    expect!(fs::dup2(60, c.0), Err(Errno::EBADF));
    expect!(fs::lseek(c.0, 0, SEEK_CUR), Ok(6));
    expect!(fs::dup2(b.0, 1000), Err(Errno::EBADF));
    // Over a pipe end this process has used (libchcore keeps what it knows
    // of each descriptor): the descriptor is the file's from then on; and
    // a pipe end over a file's descriptor.
    let (r, w) = process::pipe().map_err(pe("pipe"))?;
    let (r, w) = (File(r), File(w));
    put(w.0, b"p")?;
    let mut one = [0u8; 1];
    expect!(fs::read(r.0, &mut one), Ok(1));
    let read_end = File(fs::dup(r.0).map_err(e("dup"))?);
    expect!(fs::dup2(c.0, r.0), Ok(r.0));
    expect!(fs::pread(r.0, &mut one, 0), Ok(1));
    check!(one == *b"a", "after dup2 over a pipe end, the descriptor read {one:?}, not the file");
    expect!(fs::dup2(w.0, c.0), Ok(c.0));
    put(c.0, b"q")?;
    expect!(fs::read(read_end.0, &mut one), Ok(1));
    check!(one == *b"q", "after dup2 of a pipe end over a file, the pipe carried {one:?}");
    expect!(fs::lseek(c.0, 0, SEEK_CUR), Err(Errno::ESPIPE));
    expect!(contents(&f), Ok(b"abcdef".to_vec()));
    // Fill the descriptor table: EMFILE for dup and open, and all comes back.
    let mut extra = Vec::new();
    let full = loop {
        match fs::dup(b.0) {
            Ok(fd) => extra.push(File(fd)),
            Err(err) => break err,
        }
        if extra.len() > 1000 {
            break Errno::EIO;
        }
    };
    let open_when_full = fs::open(&f, O_RDONLY).map(File).map(|d| d.0);
    let dups = extra.len();
    drop(extra);
    check!(full == Errno::EMFILE, "dup with a full table gave {full} after {dups} dups, expected EMFILE");
    check!(open_when_full == Err(Errno::EMFILE), "open with a full table gave {open_when_full:?}");
    check!(dups >= 10, "only {dups} descriptors could be made");
    drop(open(&f, O_RDONLY)?);
    Ok(())
}

// ---- stat ----

fn stat_cases() -> TestResult {
    let dir = DIR.lock().clone();
    let f = at("f");
    let before = now();
    let dir_before = stat(&dir)?;
    check!(dir_before.kind == FileType::Dir && dir_before.nlink == 2, "an empty directory is {dir_before:?}");
    let fd = open(&f, O_RDWR | O_CREAT)?;
    let st = fstat(fd.0)?;
    let after = now();
    check!(st.kind == FileType::File && st.size == 0 && st.nlink == 1 && st.blocks == 0, "a new file is {st:?}");
    check!(!st.readonly, "a tmpfs file says it is read-only");
    for (what, t) in [("atime", st.atime), ("mtime", st.mtime), ("ctime", st.ctime)] {
        check!(
            before <= t && t <= after,
            "a new file's {what} {t} is outside [{before}, {after}] (seconds since boot)"
        );
    }
    let dir_now = stat(&dir)?;
    check!(dir_now.mtime >= dir_before.mtime && dir_now.ctime >= dir_before.ctime, "the directory's times went back");
    check!(dir_now.mtime >= st.ctime, "the directory's mtime {} is before its new entry's {}", dir_now.mtime, st.ctime);
    put(fd.0, &[5u8; 5000])?;
    let st2 = fstat(fd.0)?;
    check!(st2.size == 5000 && st2.blocks >= 5000 / 512 && st2.ino == st.ino, "after writing 5000 bytes: {st2:?}");
    check!(st2.mtime >= st.mtime && st2.ctime >= st.ctime && st2.atime >= st.atime, "times went back: {st2:?}");
    let mut buf = [0u8; 10];
    expect!(fs::pread(fd.0, &mut buf, 0), Ok(10));
    let st3 = stat(&f)?;
    check!(st3.atime >= st2.atime && st3.mtime == st2.mtime && st3.size == 5000, "after a read: {st3:?}");
    check!(st3.atime <= now() && st3.mtime <= now(), "times in the future: {st3:?}");
    // Links: a directory gains one per subdirectory.
    fs::mkdir(&at("sub")).map_err(e("mkdir"))?;
    expect!(stat(&dir).map(|s| (s.nlink, s.size)), Ok((3, 2)));
    expect!(stat(&at("sub")).map(|s| (s.kind, s.nlink)), Ok((FileType::Dir, 2)));
    fs::rmdir(&at("sub")).map_err(e("rmdir"))?;
    expect!(stat(&dir).map(|s| s.nlink), Ok(2));
    // utimes: given times, or now; files and directories; not under /bin.
    expect!(fs::utimes(&f, Some((3, 4))), Ok(()));
    expect!(stat(&f).map(|s| (s.atime, s.mtime)), Ok((3, 4)));
    let earliest = now();
    expect!(fs::utimes(&f, None), Ok(()));
    let touched = stat(&f)?;
    check!(touched.mtime >= earliest && touched.mtime <= now(), "utimes to now gave {touched:?}");
    expect!(fs::utimes(&dir, Some((1, 2))).and_then(|()| fs::stat(&dir)).map(|s| s.mtime), Ok(2));
    expect!(fs::utimes("/bin/echo", None), Err(Errno::EROFS));
    expect!(fs::utimes(&at("missing"), None), Err(Errno::ENOENT));
    // Other file systems, and errors.
    expect!(stat("/").map(|s| s.kind), Ok(FileType::Dir));
    let bin = stat("/bin")?;
    check!(bin.kind == FileType::Dir && bin.readonly, "/bin is {bin:?}");
    let echo = stat("/bin/echo")?;
    check!(echo.kind == FileType::File && echo.size > 0 && echo.readonly, "/bin/echo is {echo:?}");
    expect!(fs::stat(&at("missing")).map(|s| s.size), Err(Errno::ENOENT));
    expect!(fs::stat(&at("f/x")).map(|s| s.size), Err(Errno::ENOTDIR));
    expect!(fs::stat(&at("f/")).map(|s| s.size), Err(Errno::ENOTDIR));
    expect!(fs::stat("").map(|s| s.size), Err(Errno::ENOENT));
    Ok(())
}

// ---- names ----

fn mkdir_rmdir() -> TestResult {
    let d = at("d");
    fs::mkdir(&d).map_err(e("mkdir"))?;
    expect!(fs::mkdir(&d), Err(Errno::EEXIST));
    expect!(fs::mkdir(&format!("{d}/")), Err(Errno::EEXIST));
    make_file(&at("f"), b"")?;
    expect!(fs::mkdir(&at("f")), Err(Errno::EEXIST));
    expect!(fs::mkdir(&at("missing/x")), Err(Errno::ENOENT));
    expect!(fs::mkdir(&at("f/x")), Err(Errno::ENOTDIR));
    expect!(fs::mkdir("/"), Err(Errno::EEXIST));
    expect!(fs::mkdir(""), Err(Errno::ENOENT));
    fs::mkdir(&format!("{d}/inner/")).map_err(e("mkdir with a trailing slash"))?;
    expect!(fs::rmdir(&d), Err(Errno::ENOTEMPTY));
    make_file(&format!("{d}/inner/file"), b"x")?;
    expect!(fs::rmdir(&format!("{d}/inner")), Err(Errno::ENOTEMPTY));
    expect!(fs::rmdir(&format!("{d}/inner/file")), Err(Errno::ENOTDIR));
    expect!(fs::rmdir(&at("f")), Err(Errno::ENOTDIR));
    expect!(fs::rmdir(&at("missing")), Err(Errno::ENOENT));
    expect!(fs::rmdir("/"), Err(Errno::EBUSY));
    fs::unlink(&format!("{d}/inner/file")).map_err(e("unlink"))?;
    fs::rmdir(&format!("{d}/inner/")).map_err(e("rmdir with a trailing slash"))?;
    fs::rmdir(&d).map_err(e("rmdir"))?;
    expect!(fs::stat(&d).map(|s| s.size), Err(Errno::ENOENT));
    expect!(fs::rmdir(&d), Err(Errno::ENOENT));
    expect!(names(&DIR.lock()), Ok(alloc::vec![String::from("f")]));
    Ok(())
}

fn unlink_cases() -> TestResult {
    let f = at("f");
    make_file(&f, b"x")?;
    fs::mkdir(&at("d")).map_err(e("mkdir"))?;
    expect!(fs::unlink(&format!("{f}/")), Err(Errno::ENOTDIR));
    expect!(fs::unlink(&at("f/x")), Err(Errno::ENOTDIR));
    expect!(fs::unlink(&at("d")), Err(Errno::EISDIR));
    expect!(fs::unlink(&at("d/")), Err(Errno::EISDIR));
    expect!(fs::unlink("/"), Err(Errno::EISDIR));
    expect!(fs::unlink(&at("missing")), Err(Errno::ENOENT));
    expect!(fs::unlink(&at("missing/x")), Err(Errno::ENOENT));
    fs::unlink(&f).map_err(e("unlink"))?;
    expect!(fs::stat(&f).map(|s| s.size), Err(Errno::ENOENT));
    expect!(fs::unlink(&f), Err(Errno::ENOENT));
    expect!(names(&DIR.lock()), Ok(alloc::vec![String::from("d")]));
    Ok(())
}

fn rename_files() -> TestResult {
    let (f, g, h) = (at("f"), at("g"), at("h"));
    fs::mkdir(&at("d")).map_err(e("mkdir"))?;
    make_file(&f, b"eff")?;
    let ino = stat(&f)?.ino;
    fs::rename(&f, &g).map_err(e("rename"))?;
    expect!(fs::stat(&f).map(|s| s.size), Err(Errno::ENOENT));
    expect!(stat(&g).map(|s| s.ino), Ok(ino));
    expect!(contents(&g), Ok(b"eff".to_vec()));
    // Into another directory and back.
    fs::rename(&g, &at("d/inner")).map_err(e("rename into d"))?;
    expect!(names(&at("d")), Ok(alloc::vec![String::from("inner")]));
    fs::rename(&at("d/inner"), &g).map_err(e("rename out of d"))?;
    // Replacing a file: an open descriptor of the replaced one still reads it.
    make_file(&h, b"aitch")?;
    let old = open(&h, O_RDONLY)?;
    fs::rename(&g, &h).map_err(e("rename over a file"))?;
    expect!(contents(&h), Ok(b"eff".to_vec()));
    expect!(fs::stat(&g).map(|s| s.size), Err(Errno::ENOENT));
    expect!(read_rest(old.0), Ok(b"aitch".to_vec()));
    expect!(fstat(old.0).map(|s| s.nlink), Ok(0));
    drop(old);
    // Onto itself: nothing happens.
    fs::rename(&h, &h).map_err(e("rename onto itself"))?;
    expect!(contents(&h), Ok(b"eff".to_vec()));
    // Errors, each changing nothing.
    expect!(fs::rename(&h, &at("d")), Err(Errno::EISDIR));
    expect!(fs::rename(&h, &at("new/")), Err(Errno::ENOTDIR));
    expect!(fs::rename(&format!("{h}/"), &at("new")), Err(Errno::ENOTDIR));
    expect!(fs::rename(&at("missing"), &at("new")), Err(Errno::ENOENT));
    expect!(fs::rename(&h, &at("missing/new")), Err(Errno::ENOENT));
    expect!(fs::rename(&h, &at("h/new")), Err(Errno::ENOTDIR));
    expect!(fs::rename(&h, ""), Err(Errno::ENOENT));
    expect!(names(&DIR.lock()), Ok(alloc::vec![String::from("d"), String::from("h")]));
    expect!(contents(&h), Ok(b"eff".to_vec()));
    Ok(())
}

fn rename_dirs() -> TestResult {
    let dir = DIR.lock().clone();
    let (a, b) = (at("a"), at("b"));
    fs::mkdir(&a).map_err(e("mkdir"))?;
    fs::mkdir(&format!("{a}/sub")).map_err(e("mkdir"))?;
    make_file(&format!("{a}/sub/file"), b"deep")?;
    // A directory moves with everything in it.
    fs::rename(&a, &b).map_err(e("rename a dir"))?;
    expect!(contents(&format!("{b}/sub/file")), Ok(b"deep".to_vec()));
    expect!(fs::stat(&a).map(|s| s.size), Err(Errno::ENOENT));
    // It may replace an empty directory, not a non-empty one or a file.
    fs::mkdir(&a).map_err(e("mkdir"))?;
    let links = stat(&dir)?.nlink;
    fs::rename(&b, &a).map_err(e("rename over an empty dir"))?;
    expect!(stat(&dir).map(|s| s.nlink), Ok(links - 1));
    expect!(contents(&format!("{a}/sub/file")), Ok(b"deep".to_vec()));
    fs::mkdir(&b).map_err(e("mkdir"))?;
    make_file(&format!("{b}/x"), b"")?;
    expect!(fs::rename(&a, &b), Err(Errno::ENOTEMPTY));
    make_file(&at("f"), b"")?;
    expect!(fs::rename(&a, &at("f")), Err(Errno::ENOTDIR));
    // Into its own subtree: EINVAL; onto its own ancestor: ENOTEMPTY.
    expect!(fs::rename(&a, &format!("{a}/sub/a")), Err(Errno::EINVAL));
    expect!(fs::rename(&a, &format!("{a}/new")), Err(Errno::EINVAL));
    expect!(fs::rename(&format!("{a}/sub"), &a), Err(Errno::ENOTEMPTY));
    // Across directories the parents' link counts follow.
    let links = (stat(&a)?.nlink, stat(&b)?.nlink);
    fs::rename(&format!("{a}/sub"), &format!("{b}/sub")).map_err(e("rename across"))?;
    let now_links = (stat(&a)?.nlink, stat(&b)?.nlink);
    check!(now_links == (links.0 - 1, links.1 + 1), "links {links:?} -> {now_links:?} after moving a subdirectory");
    expect!(contents(&format!("{b}/sub/file")), Ok(b"deep".to_vec()));
    // With trailing slashes.
    fs::rename(&format!("{b}/sub/"), &format!("{a}/moved/")).map_err(e("rename with slashes"))?;
    expect!(names(&a), Ok(alloc::vec![String::from("moved")]));
    Ok(())
}

fn mounts_cases() -> TestResult {
    let mounts = fs::mounts().map_err(e("mounts"))?;
    check!(
        mounts.iter().any(|m| m == "/") && mounts.iter().any(|m| m == "/bin") && mounts.iter().any(|m| m == "/tests"),
        "mounts are {mounts:?}"
    );
    let f = at("f");
    make_file(&f, b"x")?;
    expect!(fs::rename(&f, "/bin/f"), Err(Errno::EXDEV));
    expect!(fs::rename("/bin/echo", &at("echo")), Err(Errno::EXDEV));
    expect!(fs::rmdir("/bin"), Err(Errno::EBUSY));
    expect!(fs::unlink("/bin"), Err(Errno::EBUSY));
    expect!(fs::rename("/bin", &at("bin")), Err(Errno::EBUSY));
    fs::mkdir(&at("d")).map_err(e("mkdir"))?;
    expect!(fs::rename(&at("d"), "/bin"), Err(Errno::EBUSY));
    // The ramdisk is read-only, after the checks that come first.
    open_fails("/bin/new", O_WRONLY | O_CREAT, Errno::EROFS)?;
    open_fails("/bin/echo", O_WRONLY, Errno::EROFS)?;
    open_fails("/bin/echo", O_RDWR, Errno::EROFS)?;
    open_fails("/bin/echo", O_RDONLY | O_TRUNC, Errno::EROFS)?;
    open_fails("/bin/echo", O_RDONLY | O_CREAT | O_EXCL, Errno::EEXIST)?;
    expect!(fs::mkdir("/bin/d"), Err(Errno::EROFS));
    expect!(fs::mkdir("/bin/echo"), Err(Errno::EEXIST));
    expect!(fs::mkdir("/bin"), Err(Errno::EEXIST));
    expect!(fs::mkdir("/tmp"), Err(Errno::EEXIST));
    expect!(fs::unlink("/bin/echo"), Err(Errno::EROFS));
    expect!(fs::unlink("/bin/missing"), Err(Errno::ENOENT));
    expect!(fs::rmdir("/bin/echo"), Err(Errno::ENOTDIR));
    expect!(fs::rename("/bin/echo", "/bin/echo2"), Err(Errno::EROFS));
    expect!(fs::write_file("/bin/x", b"x"), Err(Errno::EROFS));
    let fd = open("/bin/echo", O_RDONLY)?;
    let mut magic = [0u8; 4];
    expect!(fs::read(fd.0, &mut magic), Ok(4));
    check!(&magic == b"\x7fELF", "/bin/echo starts {magic:?}");
    expect!(fs::write(fd.0, b"x"), Err(Errno::EBADF));
    expect!(fs::ftruncate(fd.0, 0), Err(Errno::EINVAL));
    let st = fs::statfs("/bin").map_err(e("statfs /bin"))?;
    check!(st.readonly, "statfs /bin: {st:?}");
    check!(!statfs_root()?.readonly, "tmpfs says it is read-only");
    // The test programs are in /tests, out of /bin's way, and run by name.
    let (bin, tests) = (names("/bin")?, names("/tests")?);
    check!(bin.iter().any(|n| n == "echo") && !bin.iter().any(|n| n == "fstest"), "/bin lists {bin:?}");
    check!(tests.iter().any(|n| n == "fstest") && !tests.iter().any(|n| n == "echo"), "/tests lists {tests:?}");
    expect!(fs::stat("/tests/usertest").map(|s| s.readonly), Ok(true));
    expect!(fs::write_file("/tests/x", b"x"), Err(Errno::EROFS));
    // By path and by bare name (the search path's second place).
    for path in ["/tests/bad.elf", "bad.elf"] {
        expect!(process::spawn(path, &[path], [0, 1, 2]), Err(Error::InvalidArgument));
    }
    check!(names("/")?.iter().any(|n| n == "tmp"), "/ does not list tmp");
    Ok(())
}

fn name_limits() -> TestResult {
    let dir = DIR.lock().clone();
    let long = "n".repeat(256);
    let longest = "m".repeat(255);
    open_fails(&at(&long), O_WRONLY | O_CREAT, Errno::ENAMETOOLONG)?;
    expect!(fs::mkdir(&at(&long)), Err(Errno::ENAMETOOLONG));
    expect!(fs::stat(&at(&long)).map(|s| s.size), Err(Errno::ENAMETOOLONG));
    expect!(fs::chdir(&at(&long)), Err(Errno::ENAMETOOLONG));
    make_file(&at("f"), b"x")?;
    expect!(fs::rename(&at("f"), &at(&long)), Err(Errno::ENAMETOOLONG));
    make_file(&at(&longest), b"long")?;
    expect!(contents(&at(&longest)), Ok(b"long".to_vec()));
    check!(names(&dir)?.contains(&longest), "read_dir does not show the 255-byte name");
    fs::rename(&at(&longest), &at("g")).map_err(e("rename"))?;
    // A path of 4096 bytes (PATH_MAX counts the NUL) is too long; 4095 is not.
    let mut path = dir.clone();
    while path.len() < 4094 {
        path.push_str("/.");
    }
    path.truncate(4094);
    if path.ends_with('/') {
        path.push('.');
    } else {
        path.push('/');
    }
    check!(path.len() == 4095, "built a path of {} bytes", path.len());
    expect!(stat(&path).map(|s| s.kind), Ok(FileType::Dir));
    drop(open(&path, O_RDONLY | O_DIRECTORY)?);
    let too_long = format!("{path}/");
    expect!(fs::stat(&too_long).map(|s| s.size), Err(Errno::ENAMETOOLONG));
    open_fails(&too_long, O_RDONLY, Errno::ENAMETOOLONG)?;
    expect!(fs::mkdir(&too_long), Err(Errno::ENAMETOOLONG));
    expect!(fs::unlink(&too_long), Err(Errno::ENAMETOOLONG));
    expect!(fs::chdir(&too_long), Err(Errno::ENAMETOOLONG));
    expect!(fs::rename(&too_long, &at("x")), Err(Errno::ENAMETOOLONG));
    expect!(fs::rename(&at("g"), &too_long), Err(Errno::ENAMETOOLONG));
    expect!(names(&dir), Ok(alloc::vec![String::from("f"), String::from("g")]));
    Ok(())
}

fn invalid_arguments() -> TestResult {
    let f = at("f");
    let fd = open(&f, O_RDWR | O_CREAT)?;
    let mut buf = [0u8; 4];
    let past = i64::MAX as u64 + 1;
    expect!(fs::pread(fd.0, &mut buf, past), Err(Errno::EINVAL));
    expect!(fs::pwrite(fd.0, b"x", past), Err(Errno::EINVAL));
    expect!(fs::pwrite(fd.0, b"x", u64::MAX), Err(Errno::EINVAL));
    expect!(fs::ftruncate(fd.0, past), Err(Errno::EINVAL));
    expect!(fs::ftruncate(fd.0, u64::MAX), Err(Errno::EINVAL));
    expect!(fs::lseek(fd.0, i64::MIN, SEEK_END), Err(Errno::EINVAL));
    expect!(fs::lseek(fd.0, 0, u32::MAX), Err(Errno::EINVAL));
    expect!(fstat(fd.0).map(|s| s.size), Ok(0));
    open_fails(&at("a\0b"), O_WRONLY | O_CREAT, Errno::EINVAL)?;
    expect!(fs::mkdir(&at("a\0b")), Err(Errno::EINVAL));
    expect!(names(&DIR.lock()), Ok(alloc::vec![String::from("f")]));
    Ok(())
}

// ---- sizes ----

fn ftruncate_cases() -> TestResult {
    let f = at("f");
    let fd = open(&f, O_RDWR | O_CREAT)?;
    put(fd.0, &[0xAB; 10_000])?;
    let full = statfs_root()?.free_blocks;
    fs::ftruncate(fd.0, 5000).map_err(e("ftruncate"))?;
    expect!(fstat(fd.0).map(|s| s.size), Ok(5000));
    // 10,000 bytes took 3 pages, 5000 take 2.
    expect!(statfs_root().map(|s| s.free_blocks), Ok(full + 1));
    expect!(fs::lseek(fd.0, 0, SEEK_CUR), Ok(10_000));
    let mut buf = [0u8; 16];
    expect!(fs::read(fd.0, &mut buf), Ok(0));
    fs::ftruncate(fd.0, 12_000).map_err(e("ftruncate"))?;
    let all = contents(&f)?;
    check!(all.len() == 12_000, "size {} after growing to 12000", all.len());
    check!(all[..5000].iter().all(|&b| b == 0xAB), "the kept part changed");
    // The cut part of the last page must not come back.
    check!(
        all[5000..].iter().all(|&b| b == 0),
        "grown part is not zeros: first non-zero at {:?}",
        all[5000..].iter().position(|&b| b != 0)
    );
    fs::ftruncate(fd.0, 0).map_err(e("ftruncate"))?;
    let st = fstat(fd.0)?;
    check!(st.size == 0 && st.blocks == 0, "after truncating to 0: {st:?}");
    expect!(statfs_root().map(|s| s.free_blocks), Ok(full + 3));
    // Same size again, and growing a file that never had data.
    fs::ftruncate(fd.0, 0).map_err(e("ftruncate"))?;
    fs::ftruncate(fd.0, 3).map_err(e("ftruncate"))?;
    expect!(contents(&f), Ok(alloc::vec![0, 0, 0]));
    expect!(fs::ftruncate(fd.0, 3), Ok(()));
    // A directory cannot be truncated (it cannot be opened for writing).
    let d = open(&DIR.lock(), O_RDONLY)?;
    expect!(fs::ftruncate(d.0, 0), Err(Errno::EINVAL));
    Ok(())
}

fn sparse_files() -> TestResult {
    let f = at("f");
    const FAR: u64 = 1 << 30;
    let free = statfs_root()?.free_blocks;
    let fd = open(&f, O_RDWR | O_CREAT)?;
    expect!(fs::pwrite(fd.0, b"end", FAR), Ok(3));
    let st = fstat(fd.0)?;
    check!(st.size == FAR + 3 && st.blocks == 8, "a 1 GiB sparse file is {st:?} (one 4 KiB page is 8 blocks)");
    // The inode and one page.
    expect!(statfs_root().map(|s| s.free_blocks), Ok(free - 2));
    let mut buf = alloc::vec![0xFFu8; 10_000];
    expect!(fs::pread(fd.0, &mut buf, 0), Ok(10_000));
    check!(buf.iter().all(|&b| b == 0), "the hole at 0 is not zeros");
    buf.fill(0xFF);
    expect!(fs::pread(fd.0, &mut buf, FAR / 2), Ok(10_000));
    check!(buf.iter().all(|&b| b == 0), "the hole at 512 MiB is not zeros");
    buf.fill(0xFF);
    expect!(fs::pread(fd.0, &mut buf, FAR - 9997), Ok(10_000));
    check!(buf[..9997].iter().all(|&b| b == 0) && &buf[9997..] == b"end", "the hole's end or the data is wrong");
    // Reading a hole allocates nothing.
    expect!(statfs_root().map(|s| s.free_blocks), Ok(free - 2));
    // The largest file size: a write starting there is EFBIG, one crossing it is cut short.
    let max = i64::MAX as u64;
    expect!(fs::pwrite(fd.0, b"x", max), Err(Errno::EFBIG));
    expect!(fs::lseek(fd.0, i64::MAX, SEEK_SET), Ok(max));
    expect!(fs::write(fd.0, b"x"), Err(Errno::EFBIG));
    expect!(fs::pwrite(fd.0, b"abcd", max - 2), Ok(2));
    let st = fstat(fd.0)?;
    check!(st.size == max && st.blocks == 16, "at the size limit: {st:?}");
    expect!(fs::pread(fd.0, &mut buf[..4], max - 2), Ok(2));
    check!(&buf[..2] == b"ab", "read {:?} at the size limit", &buf[..2]);
    expect!(fs::lseek(fd.0, 0, SEEK_END), Ok(max));
    fs::ftruncate(fd.0, 0).map_err(e("ftruncate"))?;
    expect!(statfs_root().map(|s| s.free_blocks), Ok(free - 1));
    Ok(())
}

fn unlinked_open() -> TestResult {
    let f = at("f");
    make_file(&f, &[1u8; 9000])?;
    let before = statfs_root()?;
    let a = open(&f, O_RDWR)?;
    let b = open(&f, O_RDONLY)?;
    fs::unlink(&f).map_err(e("unlink"))?;
    expect!(fs::stat(&f).map(|s| s.size), Err(Errno::ENOENT));
    expect!(names(&DIR.lock()), Ok(Vec::new()));
    expect!(fstat(a.0).map(|s| (s.nlink, s.size)), Ok((0, 9000)));
    // Still readable and writable through both descriptors.
    expect!(fs::pwrite(a.0, b"more", 9000), Ok(4));
    let data = read_rest(b.0)?;
    check!(
        data.len() == 9004 && data[..9000].iter().all(|&x| x == 1) && &data[9000..] == b"more",
        "read {} bytes",
        data.len()
    );
    // The name is free for a new, separate file.
    make_file(&f, b"new")?;
    expect!(fstat(a.0).map(|s| s.size), Ok(9004));
    fs::unlink(&f).map_err(e("unlink"))?;
    // Its space stays taken until the last descriptor closes.
    let st = statfs_root()?;
    check!(st.files == before.files && st.free_blocks == before.free_blocks, "freed while open: {before:?} -> {st:?}");
    drop(a);
    let st = statfs_root()?;
    check!(st.files == before.files && st.free_blocks == before.free_blocks, "freed while open: {before:?} -> {st:?}");
    drop(b);
    let st = statfs_root()?;
    check!(
        st.files == before.files - 1 && st.free_blocks == before.free_blocks + 4,
        "after the last close: {before:?} -> {st:?}, expected one file and 4 blocks fewer"
    );
    Ok(())
}

// ---- directories ----

fn read_dir_cases() -> TestResult {
    let dir = DIR.lock().clone();
    expect!(fs::read_dir(&dir), Ok(Vec::new()));
    make_file(&at("a"), b"")?;
    fs::mkdir(&at("b")).map_err(e("mkdir"))?;
    make_file(&at("c"), b"")?;
    let entries = fs::read_dir(&dir).map_err(e("read_dir"))?;
    let mut seen: Vec<(String, FileType)> = entries.iter().map(|d| (d.name.clone(), d.kind)).collect();
    seen.sort_by(|x, y| x.0.cmp(&y.0));
    let want = [("a", FileType::File), ("b", FileType::Dir), ("c", FileType::File)];
    check!(seen.len() == 3 && seen.iter().zip(want).all(|(s, w)| s.0 == w.0 && s.1 == w.1), "read_dir gave {seen:?}");
    for entry in &entries {
        expect!(stat(&at(&entry.name)).map(|s| s.ino), Ok(entry.ino));
    }
    fs::rmdir(&at("b")).map_err(e("rmdir"))?;
    make_file(&at("d"), b"")?;
    fs::unlink(&at("a")).map_err(e("unlink"))?;
    expect!(names(&dir), Ok(alloc::vec![String::from("c"), String::from("d")]));
    // More entries than one message holds.
    let name = |i: usize| format!("entry-with-a-long-name-{i:04}");
    for i in 0..600 {
        let fd = fs::open(&at(&name(i)), O_WRONLY | O_CREAT | O_EXCL).map_err(e("open"))?;
        fs::close(fd).map_err(e("close"))?;
    }
    let all = names(&dir)?;
    check!(all.len() == 602, "read_dir gave {} entries, expected 602", all.len());
    for i in 0..600 {
        check!(all.binary_search(&name(i)).is_ok(), "{} is missing", name(i));
    }
    for i in (0..600).step_by(2) {
        fs::unlink(&at(&name(i))).map_err(e("unlink"))?;
    }
    let all = names(&dir)?;
    check!(all.len() == 302, "read_dir gave {} entries after removing 300, expected 302", all.len());
    check!((1..600).step_by(2).all(|i| all.binary_search(&name(i)).is_ok()), "an odd entry is missing");
    expect!(fs::read_dir(&at("c")).map(|v| v.len()), Err(Errno::ENOTDIR));
    expect!(fs::read_dir(&at("missing")).map(|v| v.len()), Err(Errno::ENOENT));
    expect!(stat(&dir).map(|s| s.size), Ok(302));
    Ok(())
}

fn chdir_cases() -> TestResult {
    let dir = DIR.lock().clone();
    fs::chdir(&dir).map_err(e("chdir"))?;
    expect!(fs::getcwd(), Ok(dir.clone()));
    let fd = open("rel", O_WRONLY | O_CREAT)?;
    put(fd.0, b"relative")?;
    drop(fd);
    expect!(contents(&at("rel")), Ok(b"relative".to_vec()));
    expect!(stat("./rel").map(|s| s.size), Ok(8));
    fs::mkdir("sub").map_err(e("mkdir sub"))?;
    fs::chdir("sub").map_err(e("chdir sub"))?;
    expect!(fs::getcwd(), Ok(format!("{dir}/sub")));
    expect!(contents("../rel"), Ok(b"relative".to_vec()));
    make_file("here", b"h")?;
    expect!(stat(&at("sub/here")).map(|s| s.size), Ok(1));
    fs::rename("here", "../moved").map_err(e("relative rename"))?;
    expect!(contents(&at("moved")), Ok(b"h".to_vec()));
    fs::chdir("..").map_err(e("chdir .."))?;
    expect!(fs::getcwd(), Ok(dir.clone()));
    fs::chdir("sub/../sub/.").map_err(e("chdir sub/../sub/."))?;
    expect!(fs::getcwd(), Ok(format!("{dir}/sub")));
    fs::chdir(".").map_err(e("chdir ."))?;
    expect!(fs::getcwd(), Ok(format!("{dir}/sub")));
    // Failures leave the working directory.
    expect!(fs::chdir("../rel"), Err(Errno::ENOTDIR));
    expect!(fs::chdir("../missing"), Err(Errno::ENOENT));
    expect!(fs::chdir(""), Err(Errno::ENOENT));
    expect!(fs::getcwd(), Ok(format!("{dir}/sub")));
    fs::chdir("..").map_err(e("chdir .."))?;
    fs::unlink("moved").map_err(e("relative unlink"))?;
    // A working directory that is removed: nothing can be made in it.
    fs::chdir("sub").map_err(e("chdir sub"))?;
    fs::rmdir(&at("sub")).map_err(e("rmdir the working directory"))?;
    open_fails("new", O_WRONLY | O_CREAT, Errno::ENOENT)?;
    expect!(fs::mkdir("newdir"), Err(Errno::ENOENT));
    fs::chdir(&dir).map_err(e("chdir"))?;
    expect!(names(&dir), Ok(alloc::vec![String::from("rel")]));
    // `..` stops at the root; other mounts work as working directories.
    fs::chdir("/").map_err(e("chdir /"))?;
    fs::chdir("..").map_err(e("chdir .."))?;
    expect!(fs::getcwd(), Ok(String::from("/")));
    fs::chdir("/bin").map_err(e("chdir /bin"))?;
    expect!(fs::getcwd(), Ok(String::from("/bin")));
    expect!(stat("echo").map(|s| s.kind), Ok(FileType::File));
    open_fails("newfile", O_WRONLY | O_CREAT, Errno::EROFS)?;
    fs::chdir("../tmp").map_err(e("chdir ../tmp"))?;
    expect!(fs::getcwd(), Ok(String::from("/tmp")));
    Ok(())
}

// ---- processes ----

fn fork_shares_offset() -> TestResult {
    let f = at("f");
    let fd = open(&f, O_RDWR | O_CREAT)?;
    put(fd.0, b"ab")?;
    let fdn = fd.0;
    let child = fork_child(|| {
        if fs::lseek(fdn, 0, SEEK_CUR) != Ok(2) {
            return 2;
        }
        if fs::write(fdn, b"cd") != Ok(2) {
            return 3;
        }
        // The child's close is its own.
        if fs::close(fdn).is_err() {
            return 4;
        }
        0
    })?;
    let code = exit_code(child)?;
    check!(code == 0, "the child failed with {code} (2: offset not shared, 3: write, 4: close)");
    expect!(fs::lseek(fd.0, 0, SEEK_CUR), Ok(4));
    put(fd.0, b"ef")?;
    expect!(contents(&f), Ok(b"abcdef".to_vec()));
    // Both ways: a seek in the parent moves the child's offset.
    expect!(fs::lseek(fd.0, 1, SEEK_SET), Ok(1));
    let child = fork_child(|| {
        let mut b = [0u8; 1];
        match fs::read(fdn, &mut b) {
            Ok(1) if b[0] == b'b' => 0,
            _ => 1,
        }
    })?;
    check!(exit_code(child)? == 0, "the child did not read at the parent's offset");
    expect!(fs::lseek(fd.0, 0, SEEK_CUR), Ok(2));
    Ok(())
}

fn exec_keeps_fds() -> TestResult {
    let f = at("f");
    let fd = open(&f, O_RDWR | O_CREAT)?;
    put(fd.0, b"parent\n")?;
    let fdn = fd.0;
    let child = fork_child(|| {
        if fs::dup2(fdn, 1).is_err() || fs::close(fdn).is_err() {
            return 2;
        }
        let _ = process::exec("echo", &["echo", "from", "exec"]);
        3
    })?;
    let code = exit_code(child)?;
    check!(code == 0, "the exec'd echo ended with {code} (2: dup2, 3: exec)");
    // echo wrote through the shared description: the offset moved past its line.
    expect!(fs::lseek(fd.0, 0, SEEK_CUR), Ok(17));
    put(fd.0, b"after\n")?;
    let got = contents(&f)?;
    check!(got == b"parent\nfrom exec\nafter\n", "the file holds {:?}", String::from_utf8_lossy(&got));
    Ok(())
}

/// Run `path` with `args`, its output into a new file; returns the exit
/// code and what it wrote.
fn run_to_file(path: &str, args: &[&str]) -> Result<(i32, Vec<u8>), String> {
    let out = at("out");
    let fd = open(&out, O_WRONLY | O_CREAT | O_TRUNC)?;
    let pid = process::spawn(path, args, [0, fd.0, 2]).map_err(|e| format!("spawn {path}: {e:?}"))?;
    drop(fd);
    let code = exit_code(pid)?;
    Ok((code, contents(&out)?))
}

/// `/bin/true` with the memory size of its highest loadable segment set to
/// `memsz` (a `.bss` that big).
fn with_bss(image: &[u8], memsz: u64) -> Option<Vec<u8>> {
    let word =
        |at: usize, n: usize| image.get(at..at + n).map(|b| b.iter().rev().fold(0u64, |v, &x| v << 8 | u64::from(x)));
    let (phoff, phnum) = (word(0x20, 8)? as usize, word(0x38, 2)? as usize);
    let mut last = None;
    for i in 0..phnum {
        let ph = phoff + 56 * i;
        let vaddr = word(ph + 16, 8)?;
        if word(ph, 4)? == 1 && last.is_none_or(|(_, v)| vaddr > v) {
            last = Some((ph, vaddr));
        }
    }
    let mut out = image.to_vec();
    out[last?.0 + 40..last?.0 + 48].copy_from_slice(&memsz.to_le_bytes());
    Some(out)
}

fn programs_in_files() -> TestResult {
    let echo = fs::read_file("/bin/echo").map_err(e("read /bin/echo"))?;
    let copy = at("e");
    make_file(&copy, &echo)?;
    // By absolute path, by a path from the working directory, by exec.
    let (code, out) = run_to_file(&copy, &["e", "by", "path"])?;
    check!(code == 0 && out == b"by path\n", "{copy}: {code}, {:?}", String::from_utf8_lossy(&out));
    fs::chdir(&DIR.lock()).map_err(e("chdir"))?;
    let (code, out) = run_to_file("./e", &["e", "relative"])?;
    check!(code == 0 && out == b"relative\n", "./e: {code}, {:?}", String::from_utf8_lossy(&out));
    let out = at("exec-out");
    let fd = open(&out, O_WRONLY | O_CREAT)?;
    let fdn = fd.0;
    let child = fork_child(|| {
        if fs::dup2(fdn, 1).is_err() {
            return 2;
        }
        let _ = process::exec("./e", &["e", "exec'd"]);
        3
    })?;
    drop(fd);
    let code = exit_code(child)?;
    check!(code == 0 && contents(&out)? == b"exec'd\n", "exec of ./e: {code} (2: dup2, 3: exec)");
    // A script: its interpreter gets the #! line's argument, the script's
    // path, then the rest.
    make_file(&at("s"), b"#!/bin/echo first\nignored\n")?;
    let (code, out) = run_to_file("./s", &["s", "a", "b"])?;
    check!(code == 0 && out == b"first ./s a b\n", "script: {code}, {:?}", String::from_utf8_lossy(&out));
    make_file(&at("s2"), b"#!./e\n")?;
    let (code, out) = run_to_file("./s2", &["s2"])?;
    check!(code == 0 && out == b"./s2\n", "script run by a program in a file: {code}");
    // Refusals, each leaving the caller and procmgr as they were: the
    // second round of them takes no memory (the first may grow heaps).
    make_file(&at("junk"), b"not a program\n")?;
    make_file(&at("empty"), b"")?;
    make_file(&at("bare"), b"#!")?;
    make_file(&at("nested"), b"#!./s\n")?;
    make_file(&at("missing"), b"#!/bin/no-such-program\n")?;
    make_file(&at("long"), format!("#!/bin/echo {}\n", "x".repeat(200)).as_bytes())?;
    let huge = with_bss(&fs::read_file("/bin/true").map_err(e("read /bin/true"))?, 3 << 30).ok_or("no segment")?;
    make_file(&at("huge"), &huge)?;
    fs::mkdir("dir").map_err(e("mkdir"))?;
    let mut free = 0;
    for round in 0..2 {
        if round == 1 {
            free = sys::free_memory();
        }
        refusals()?;
    }
    let after = sys::free_memory();
    check!(after + (64 << 10) >= free, "refused programs took {} KiB", (free - after) >> 10);
    Ok(())
}

fn refusals() -> TestResult {
    for (path, want) in [
        ("./junk", Error::InvalidArgument),
        ("./empty", Error::InvalidArgument),
        ("./bare", Error::InvalidArgument),
        ("./nested", Error::InvalidArgument),
        ("./long", Error::InvalidArgument),
        ("./missing", Error::NotFound),
        ("./no-such-file", Error::NotFound),
        ("./e/x", Error::NotFound),
        ("./dir", Error::NoRights),
        // Three gigabytes of .bss, charged to the new process: over its limit.
        ("./huge", Error::NoMemory),
    ] {
        let got = process::spawn(path, &[path], [0, 1, 2]);
        check!(got == Err(want), "spawn {path}: {got:?}, not {want:?}");
        let got = process::exec(path, &[path]);
        check!(got == want, "exec {path}: {got:?}, not {want:?}");
    }
    Ok(())
}

/// Wait up to a second for tmpfs's totals to be `want` (a process's files
/// close as procmgr reaps it, which may finish just after `wait` returns).
fn settles_to(want: (u64, u64)) -> Result<(u64, u64), String> {
    let mut got = (0, 0);
    for _ in 0..100 {
        let st = statfs_root()?;
        got = (st.free_blocks, st.files);
        if got == want {
            break;
        }
        sys::sleep(1);
    }
    Ok(got)
}

fn exit_closes_fds() -> TestResult {
    let st = statfs_root()?;
    let want = (st.free_blocks, st.files);
    for (i, how) in ["exits", "is killed"].iter().enumerate() {
        let f = at(&format!("f{i}"));
        let child = fork_child(|| {
            let Ok(fd) = fs::open(&f, O_RDWR | O_CREAT | O_EXCL) else { return 2 };
            if fs::write(fd, &[9u8; 12_000]) != Ok(12_000) || fs::dup(fd).is_err() || fs::unlink(&f).is_err() {
                return 3;
            }
            if i == 1 {
                // SAFETY: deliberately touches an unmapped address, so that
                // the kernel ends this child with its files open.
                unsafe { (0x10 as *mut u64).write_volatile(1) };
            }
            // No close: ending must close it.
            0
        })?;
        let status = process::waitpid(Some(child)).map_err(pe("wait"))?.1;
        let expected = if i == 0 { Status::Exited(0) } else { Status::Killed };
        check!(status == expected, "the child that {how} ended {status:?}");
        let got = settles_to(want)?;
        check!(
            got == want,
            "after a child that {how} with an unlinked file open: (free, files) {got:?}, expected {want:?}"
        );
    }
    Ok(())
}

fn fork_inherits_cwd() -> TestResult {
    let dir = DIR.lock().clone();
    fs::mkdir(&at("sub")).map_err(e("mkdir"))?;
    fs::chdir(&dir).map_err(e("chdir"))?;
    let expected = dir.clone();
    let child = fork_child(|| {
        if fs::getcwd().as_deref() != Ok(expected.as_str()) {
            return 2;
        }
        if fs::write_file("from-child", b"c").is_err() {
            return 3;
        }
        if fs::chdir("sub").is_err() || fs::write_file("deeper", b"d").is_err() {
            return 4;
        }
        0
    })?;
    let code = exit_code(child)?;
    check!(code == 0, "the child failed with {code} (2: wrong cwd, 3: relative create, 4: its own chdir)");
    expect!(fs::getcwd(), Ok(dir.clone()));
    expect!(contents(&at("from-child")), Ok(b"c".to_vec()));
    expect!(contents(&at("sub/deeper")), Ok(b"d".to_vec()));
    // A child spawned by a child inherits the child's directory too.
    let child = fork_child(|| {
        if fs::chdir("sub").is_err() {
            return 2;
        }
        match fork_child(|| if fs::getcwd().is_ok_and(|c| c.ends_with("/sub")) { 0 } else { 5 }) {
            Ok(grandchild) => exit_code(grandchild).unwrap_or(6),
            Err(_) => 7,
        }
    })?;
    let code = exit_code(child)?;
    check!(code == 0, "the grandchild's cwd check failed with {code}");
    expect!(fs::getcwd(), Ok(dir));
    Ok(())
}

/// Children of the concurrency tests.
const CHILDREN: usize = 4;

/// Fork `CHILDREN` children that start `body(k)` together, once all exist;
/// their exit codes, in order.
fn run_together(body: impl Fn(usize) -> i32) -> Result<Vec<i32>, String> {
    let (gate, open_gate) = process::pipe().map_err(pe("pipe"))?;
    let mut pids = Vec::new();
    let mut failure = None;
    for k in 0..CHILDREN {
        let forked = fork_child(|| {
            let _ = process::close(open_gate);
            // End of file once the parent closes its end: all start at once.
            let mut b = [0u8; 1];
            let _ = process::read(gate, &mut b);
            let _ = process::close(gate);
            body(k)
        });
        match forked {
            Ok(pid) => pids.push(pid),
            Err(why) => {
                failure = Some(why);
                break;
            }
        }
    }
    let _ = process::close(open_gate);
    let _ = process::close(gate);
    let mut codes = Vec::new();
    for pid in pids {
        codes.push(exit_code(pid).unwrap_or(-1));
    }
    match failure {
        Some(why) => Err(why),
        None => Ok(codes),
    }
}

/// Bytes per record of `concurrent_append`.
const RECORD: usize = 100;
/// Records each child appends.
const RECORDS: usize = 50;

fn record(k: usize, seq: usize) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    r[0] = b'A' + k as u8;
    r[1] = seq as u8;
    for (i, b) in r.iter_mut().enumerate().skip(2) {
        *b = (k * 31 + seq * 7 + i) as u8;
    }
    r
}

fn concurrent_append() -> TestResult {
    let f = at("log");
    make_file(&f, b"")?;
    let codes = run_together(|k| {
        let Ok(fd) = fs::open(&f, O_WRONLY | O_APPEND) else { return 2 };
        for seq in 0..RECORDS {
            if fs::write(fd, &record(k, seq)) != Ok(RECORD) {
                return 3;
            }
            if seq % 10 == 0 {
                sys::yield_now();
            }
        }
        0
    })?;
    check!(codes.iter().all(|&c| c == 0), "children ended {codes:?} (2: open, 3: write)");
    let log = contents(&f)?;
    check!(
        log.len() == CHILDREN * RECORDS * RECORD,
        "the log has {} bytes, expected {}",
        log.len(),
        CHILDREN * RECORDS * RECORD
    );
    let mut seen = [[0u32; RECORDS]; CHILDREN];
    for (i, chunk) in log.chunks(RECORD).enumerate() {
        let k = chunk[0].wrapping_sub(b'A') as usize;
        let seq = chunk[1] as usize;
        check!(
            k < CHILDREN && seq < RECORDS && chunk == record(k, seq),
            "record {i} is torn or garbled: {:?}",
            &chunk[..8]
        );
        seen[k][seq] += 1;
    }
    check!(seen.iter().flatten().all(|&n| n == 1), "some record is missing or repeated: {seen:?}");
    // Each child's records are in its own order.
    for k in 0..CHILDREN {
        let order: Vec<u8> = log.chunks(RECORD).filter(|c| c[0] == b'A' + k as u8).map(|c| c[1]).collect();
        check!(order.windows(2).all(|w| w[0] < w[1]), "child {k}'s records are out of order");
    }
    Ok(())
}

/// Files each child of `concurrent_create` makes.
const FILES_EACH: usize = 25;

fn concurrent_create() -> TestResult {
    let dir = DIR.lock().clone();
    let (shared_file, shared_dir) = (at("shared"), at("shared-dir"));
    let name = |k: usize, j: usize| format!("{dir}/k{k}-{j:02}");
    let codes = run_together(|k| {
        // Exactly one child may win each race; the code says which it won.
        let mut won = 0;
        match fs::open(&shared_file, O_WRONLY | O_CREAT | O_EXCL) {
            Ok(fd) => {
                let _ = fs::close(fd);
                won |= 1;
            }
            Err(Errno::EEXIST) => {}
            Err(_) => return 100,
        }
        match fs::mkdir(&shared_dir) {
            Ok(()) => won |= 2,
            Err(Errno::EEXIST) => {}
            Err(_) => return 101,
        }
        for j in 0..FILES_EACH {
            let path = name(k, j);
            if fs::write_file(&path, path.as_bytes()).is_err() {
                return 102;
            }
        }
        won
    })?;
    check!(codes.iter().all(|&c| (0..4).contains(&c)), "children ended {codes:?} (100+: a call failed)");
    let file_winners = codes.iter().filter(|&&c| c & 1 != 0).count();
    let dir_winners = codes.iter().filter(|&&c| c & 2 != 0).count();
    check!(
        file_winners == 1 && dir_winners == 1,
        "O_EXCL winners {file_winners}, mkdir winners {dir_winners}; expected 1 each"
    );
    let entries = fs::read_dir(&dir).map_err(e("read_dir"))?;
    check!(
        entries.len() == CHILDREN * FILES_EACH + 2,
        "{} entries, expected {}",
        entries.len(),
        CHILDREN * FILES_EACH + 2
    );
    let mut listed: Vec<&str> = entries.iter().map(|d| d.name.as_str()).collect();
    listed.sort_unstable();
    listed.dedup();
    check!(listed.len() == entries.len(), "read_dir repeated a name");
    for k in 0..CHILDREN {
        for j in 0..FILES_EACH {
            let path = name(k, j);
            expect!(contents(&path), Ok(path.as_bytes().to_vec()));
        }
    }
    expect!(stat(&dir).map(|s| s.nlink), Ok(3));
    Ok(())
}

// ---- the rest ----

fn whole_files() -> TestResult {
    let f = at("f");
    fs::write_file(&f, &pattern(9000, 3)).map_err(e("write_file"))?;
    expect!(contents(&f), Ok(pattern(9000, 3)));
    // write_file replaces the contents.
    fs::write_file(&f, b"short").map_err(e("write_file"))?;
    expect!(contents(&f), Ok(b"short".to_vec()));
    fs::write_file(&f, b"").map_err(e("write_file"))?;
    expect!(contents(&f), Ok(Vec::new()));
    expect!(fs::read_file(&DIR.lock()), Err(Errno::EISDIR));
    expect!(fs::read_file(&at("missing")), Err(Errno::ENOENT));
    expect!(fs::write_file(&at("missing/f"), b""), Err(Errno::ENOENT));
    expect!(fs::write_file(&DIR.lock(), b""), Err(Errno::EISDIR));
    let size = stat("/bin/echo")?.size;
    expect!(fs::read_file("/bin/echo").map(|d| d.len() as u64), Ok(size));
    Ok(())
}

fn statfs_cases() -> TestResult {
    let f = at("f");
    let before = statfs_root()?;
    check!(before.block_size == 4096 && before.name_max == 255 && !before.readonly, "statfs /: {before:?}");
    check!(before.free_blocks <= before.blocks && before.files >= 3, "statfs /: {before:?}");
    // Any path on tmpfs reports the same file system.
    let here = fs::statfs(&DIR.lock()).map_err(e("statfs"))?;
    check!(here == before, "statfs of the test directory {here:?} differs from statfs / {before:?}");
    // A file costs an inode and a block per 4 KiB page.
    fs::write_file(&f, &pattern(9000, 3)).map_err(e("write_file"))?;
    let st = statfs_root()?;
    check!(
        st.files == before.files + 1 && st.free_blocks == before.free_blocks - 4,
        "after a 9000-byte file: {before:?} -> {st:?}"
    );
    expect!(fs::statfs(&f), Ok(st));
    fs::write_file(&f, b"short").map_err(e("write_file"))?;
    expect!(statfs_root().map(|s| s.free_blocks), Ok(before.free_blocks - 2));
    fs::unlink(&f).map_err(e("unlink"))?;
    let st = statfs_root()?;
    check!(st.files == before.files && st.free_blocks == before.free_blocks, "after unlink: {before:?} -> {st:?}");
    // As for stat: a path that names nothing has no file system.
    make_file(&f, b"")?;
    expect!(fs::statfs(&at("missing")).map(|s| s.files), Err(Errno::ENOENT));
    expect!(fs::statfs(&at("missing/x")).map(|s| s.files), Err(Errno::ENOENT));
    expect!(fs::statfs(&at("f/x")).map(|s| s.files), Err(Errno::ENOTDIR));
    expect!(fs::statfs("/bin/missing").map(|s| s.files), Err(Errno::ENOENT));
    Ok(())
}

fn leaves_nothing() -> TestResult {
    let base = BASE.lock().clone();
    remove_tree(&base).map_err(|err| format!("removing {base}: {err}"))?;
    let want = (START_FREE.load(Ordering::SeqCst), START_FILES.load(Ordering::SeqCst));
    let got = settles_to(want)?;
    check!(got == want, "tmpfs (free blocks, files) {got:?} at the end, {want:?} at the start");
    let fd = lowest_free_fd()?;
    let start_fd = START_FD.load(Ordering::SeqCst);
    check!(fd == start_fd, "the lowest free descriptor is {fd}, it was {start_fd}: a descriptor leaked");
    Ok(())
}

fn killed_mid_write() -> TestResult {
    let f = at("f");
    make_file(&f, b"")?;
    // Each write is several requests to tmpfs (a session call carries at
    // most 16 KiB): the kill lands between two of them, or in one.
    let chunk = pattern(64 << 10, 4);
    let child = fork_child(|| {
        let Ok(fd) = fs::open(&f, O_WRONLY | O_APPEND) else { return 2 };
        // At most 4 MiB; then it waits to be killed.
        for _ in 0..64 {
            if fs::write(fd, &chunk).is_err() {
                return 3;
            }
        }
        loop {
            sys::sleep(TICK_HZ);
        }
    })?;
    let mut waited = 0;
    while fs::stat(&f).map_or(0, |s| s.size) < 200 << 10 && waited < 5 * TICK_HZ {
        sys::sleep(1);
        waited += 1;
    }
    process::kill(child).map_err(pe("kill"))?;
    match process::waitpid(Some(child)).map_err(pe("wait"))? {
        (_, Status::Killed) => {}
        (_, Status::Exited(code)) => return Err(format!("the writer exited with {code} instead of being killed")),
    }
    let size = stat(&f)?.size;
    check!(size >= 200 << 10, "the writer wrote {size} bytes in {waited} ticks");
    // Every byte is the writer's, in order, up to the size stat gives.
    let fd = open(&f, O_RDONLY)?;
    let mut buf = alloc::vec![0u8; chunk.len()];
    let mut read = 0u64;
    loop {
        let n = fs::read(fd.0, &mut buf).map_err(e("read"))?;
        if n == 0 {
            break;
        }
        if let Some(i) = buf[..n].iter().enumerate().position(|(i, &b)| b != chunk[(read as usize + i) % chunk.len()]) {
            return Err(format!("byte {} of {size} is not what the writer wrote", read + i as u64));
        }
        read += n as u64;
    }
    check!(read == size, "stat says {size} bytes, read gives {read}");
    drop(fd);
    // Still a file like any other: written to, then cut back.
    let fd = open(&f, O_WRONLY | O_APPEND)?;
    put(fd.0, b"after")?;
    expect!(fs::ftruncate(fd.0, 10), Ok(()));
    expect!(contents(&f), Ok(chunk[..10].to_vec()));
    Ok(())
}

// ---- mmap ----

/// A mapping, unmapped when dropped.
struct Map(*mut u8, usize);

impl Map {
    fn new(len: usize, prot: u32, flags: u32, fd: Fd, offset: u64) -> Result<Map, String> {
        mman::mmap(len, prot, flags, fd, offset).map(|p| Map(p, len)).map_err(e("mmap"))
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: `mmap` mapped `self.1` bytes (rounded up to pages) at
        // `self.0`, readable (and writable where the tests write), until
        // this `Map` is dropped. The tests hold no two of these slices of
        // one mapping at once.
        unsafe { core::slice::from_raw_parts_mut(self.0, self.1) }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        let _ = mman::munmap(self.0, self.1);
    }
}

fn mmap_shared() -> TestResult {
    let f = at("f");
    let len = 3 * 4096 + 100;
    let mut data = pattern(len, 5);
    make_file(&f, &data)?;
    let fd = open(&f, O_RDWR)?;
    let mut m = Map::new(len, PROT_READ | PROT_WRITE, MAP_SHARED, fd.0, 0)?;
    check!(m.bytes()[..] == data[..], "the mapping does not hold the file's bytes");
    // The rest of the last page reads as zeros.
    // SAFETY: the mapping is whole pages: 4 of them here.
    let tail = unsafe { core::slice::from_raw_parts(m.0.add(len), 4 * 4096 - len) };
    check!(tail.iter().all(|&b| b == 0), "the last page is not zero past the end of the file");
    // A store is what read returns, at once.
    m.bytes()[5000..5006].copy_from_slice(b"stored");
    data[5000..5006].copy_from_slice(b"stored");
    let mut got = [0u8; 6];
    expect!(fs::pread(fd.0, &mut got, 5000), Ok(6));
    check!(&got == b"stored", "read after a store through the mapping gave {got:?}");
    // A write is what the mapping shows, at once, across a page boundary.
    expect!(fs::pwrite(fd.0, b"written!", 8190), Ok(8));
    data[8190..8198].copy_from_slice(b"written!");
    check!(m.bytes()[8190..8198] == *b"written!", "the mapping does not show a write");
    // A second mapping of a window further in shares the same pages.
    let mut w = Map::new(4096, PROT_READ, MAP_SHARED, fd.0, 4096)?;
    check!(w.bytes()[..] == data[4096..8192], "a window at offset 4096 holds other bytes");
    m.bytes()[4096] = b'!';
    data[4096] = b'!';
    check!(w.bytes()[0] == b'!', "a store does not show in another mapping of the page");
    // msync and munmap leave the file as the mapping had it.
    mman::msync(m.0, len, mman::MS_SYNC).map_err(e("msync"))?;
    drop(w);
    drop(m);
    expect!(contents(&f), Ok(data.clone()));
    // Mapped after a ftruncate shrank it: the stores past the new end are gone.
    expect!(fs::ftruncate(fd.0, 10), Ok(()));
    expect!(fs::ftruncate(fd.0, 8192), Ok(()));
    let mut m = Map::new(8192, PROT_READ, MAP_SHARED, fd.0, 0)?;
    check!(m.bytes()[..10] == data[..10], "the first bytes changed");
    check!(m.bytes()[10..].iter().all(|&b| b == 0), "a file grown again does not read zeros");
    Ok(())
}

fn mmap_private() -> TestResult {
    let f = at("f");
    let data = pattern(2 * 4096, 9);
    make_file(&f, &data)?;
    // Private and writable from a descriptor open for reading only.
    let fd = open(&f, O_RDONLY)?;
    let mut p = Map::new(data.len(), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd.0, 0)?;
    let mut s = Map::new(data.len(), PROT_READ, MAP_SHARED, fd.0, 0)?;
    check!(p.bytes()[..] == data[..], "the private mapping does not hold the file's bytes");
    p.bytes()[100..107].copy_from_slice(b"private");
    check!(p.bytes()[100..107] == *b"private", "a private store did not stick");
    check!(s.bytes()[..] == data[..], "a shared mapping sees a private store");
    expect!(contents(&f), Ok(data.clone()));
    mman::msync(p.0, data.len(), mman::MS_SYNC).map_err(e("msync"))?;
    drop(p);
    expect!(contents(&f), Ok(data));
    Ok(())
}

fn mmap_errors() -> TestResult {
    let f = at("f");
    make_file(&f, &pattern(100, 1))?;
    let ro = open(&f, O_RDONLY)?;
    let wo = open(&f, O_WRONLY)?;
    let rw = open(&f, O_RDWR)?;
    let fails = |len: usize, prot: u32, flags: u32, fd: Fd, off: u64, want: Errno| -> TestResult {
        match mman::mmap(len, prot, flags, fd, off) {
            Err(got) if got == want => Ok(()),
            Err(got) => Err(format!("mmap({len}, {prot}, {flags}, fd {fd}, {off}) gave {got}, expected {want}")),
            Ok(p) => {
                let _ = mman::munmap(p, len);
                Err(format!("mmap({len}, {prot}, {flags}, fd {fd}, {off}) worked, expected {want}"))
            }
        }
    };
    fails(4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro.0, 0, Errno::EACCES)?;
    fails(4096, PROT_READ, MAP_SHARED, wo.0, 0, Errno::EACCES)?;
    fails(0, PROT_READ, MAP_SHARED, rw.0, 0, Errno::EINVAL)?;
    fails(4096, PROT_READ, MAP_SHARED, rw.0, 100, Errno::EINVAL)?;
    fails(4096, PROT_READ, 0, rw.0, 0, Errno::EINVAL)?;
    fails(4096, PROT_READ, MAP_SHARED | MAP_PRIVATE, rw.0, 0, Errno::EINVAL)?;
    fails(4096, PROT_READ, MAP_SHARED, rw.0, 1 << 30, Errno::EINVAL)?;
    fails(4096, PROT_READ, MAP_SHARED, 99, 0, Errno::EBADF)?;
    let dir = open(&fs::getcwd().map_err(e("getcwd"))?, O_RDONLY | O_DIRECTORY)?;
    fails(4096, PROT_READ, MAP_SHARED, dir.0, 0, Errno::ENODEV)?;
    let (r, w) = process::pipe().map_err(pe("pipe"))?;
    let piped = fails(4096, PROT_READ, MAP_SHARED, r, 0, Errno::ENODEV);
    let _ = process::close(r);
    let _ = process::close(w);
    piped?;
    let mut m = Map::new(2 * 4096, PROT_READ, MAP_SHARED, rw.0, 0)?;
    expect!(mman::munmap(m.0, 4096), Err(Errno::EINVAL));
    // SAFETY: only the address is used: msync checks it against its mappings.
    expect!(mman::msync(unsafe { m.0.add(3 * 4096) }, 1, mman::MS_SYNC), Err(Errno::EINVAL));
    // The second page is wholly past the end of the 100-byte file: a
    // process that touches it is ended, and the file and its server go on.
    let addr = m.0 as usize;
    let child = fork_child(|| {
        // SAFETY: mapped (inherited); touching it is the test.
        let b = unsafe { core::ptr::read_volatile((addr + 4096) as *const u8) };
        i32::from(b) + 10
    })?;
    match process::waitpid(Some(child)).map_err(pe("wait"))? {
        (_, Status::Killed) => {}
        (_, Status::Exited(code)) => return Err(format!("a read past the end returned (exit {code})")),
    }
    check!(m.bytes()[..100] == pattern(100, 1)[..], "the mapping changed");
    Ok(())
}

fn mmap_programs() -> TestResult {
    let want = fs::read_file("/bin/hello").map_err(e("read /bin/hello"))?;
    let len = want.len();
    let pages = len.div_ceil(4096) * 4096;
    let fd = open("/bin/hello", O_RDONLY)?;
    let mut s = Map::new(pages, PROT_READ, MAP_SHARED, fd.0, 0)?;
    check!(s.bytes()[..len] == want[..], "a shared mapping does not hold the program's bytes");
    check!(s.bytes()[len..].iter().all(|&b| b == 0), "the rest of the last page is not zeros");
    let mut p = Map::new(len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd.0, 0)?;
    check!(p.bytes()[..] == want[..], "a private mapping does not hold the program's bytes");
    p.bytes()[0] = b'X';
    check!(p.bytes()[0] == b'X' && s.bytes()[0] == 0x7f, "a private store is not the mapping's own");
    expect!(fs::read_file("/bin/hello").map(|d| d[0]), Ok(0x7f));
    // A window from the second page on, and a forked child's view of it.
    if len > 4096 {
        let mut tail = Map::new(len - 4096, PROT_READ, MAP_PRIVATE, fd.0, 4096)?;
        check!(tail.bytes()[..] == want[4096..], "a window from page 1 differs");
        let addr = tail.0 as usize;
        let first = want[4096];
        // SAFETY: mapped (inherited by the child), readable.
        let child = fork_child(move || i32::from(unsafe { core::ptr::read_volatile(addr as *const u8) } == first))?;
        check!(exit_code(child)? == 1, "a forked child does not see the mapping");
    }
    // Nothing to write back: msync is a no-op, munmap (at drop) too.
    mman::msync(s.0, pages, mman::MS_SYNC).map_err(e("msync"))?;
    for (len, prot, flags, off, want) in [
        (4096, PROT_READ | PROT_WRITE, MAP_SHARED, 0, Errno::EACCES),
        // No mapped file is executable (as on a file system mounted noexec).
        (4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, 0, Errno::EPERM),
        (pages + 4096, PROT_READ, MAP_SHARED, 0, Errno::EINVAL),
        (4096, PROT_READ, MAP_PRIVATE, pages as u64, Errno::EINVAL),
    ] {
        let got = mman::mmap(len, prot, flags, fd.0, off);
        check!(got == Err(want), "mmap({len}, {prot}, {flags}, /bin/hello, {off}): {got:?}, not {want}");
    }
    Ok(())
}

fn mmap_fork() -> TestResult {
    let f = at("f");
    let pages = 64;
    let data = pattern(pages * 4096, 3);
    make_file(&f, &data)?;
    let fd = open(&f, O_RDWR)?;
    let mut s = Map::new(data.len(), PROT_READ | PROT_WRITE, MAP_SHARED, fd.0, 0)?;
    let mut p = Map::new(data.len(), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd.0, 0)?;
    p.bytes()[0] = b'P';
    let (sa, pa, len) = (s.0 as usize, p.0 as usize, data.len());
    let child = fork_child(|| {
        // SAFETY: both mappings are inherited, `len` bytes, writable.
        let (sh, pr) = unsafe {
            (core::slice::from_raw_parts_mut(sa as *mut u8, len), core::slice::from_raw_parts_mut(pa as *mut u8, len))
        };
        if pr[0] != b'P' {
            return 2;
        }
        sh[7] = b'c';
        pr[1] = b'c';
        if mman::msync(sa as *mut u8, len, mman::MS_SYNC).is_err() {
            return 3;
        }
        0
    })?;
    let code = exit_code(child)?;
    check!(code == 0, "the child failed with {code} (2: private page not inherited, 3: msync)");
    check!(s.bytes()[7] == b'c', "the parent does not see the child's shared store");
    check!(p.bytes()[1] == data[1], "the parent sees the child's private store");
    let mut got = [0u8; 1];
    expect!(fs::pread(fd.0, &mut got, 7), Ok(1));
    check!(got[0] == b'c', "read does not return the child's shared store");
    drop(s);
    drop(p);
    // Four processes map the file afresh and fault on the same pages at once.
    let sum: u64 = data.iter().map(|&b| u64::from(b)).sum::<u64>() - u64::from(data[7]) + u64::from(b'c');
    let codes = run_together(|_| {
        let Ok(mut m) = Map::new(len, PROT_READ, MAP_SHARED, fd.0, 0) else { return 2 };
        let got: u64 = m.bytes().iter().map(|&b| u64::from(b)).sum();
        if got == sum {
            0
        } else {
            3
        }
    })?;
    check!(codes.iter().all(|&c| c == 0), "children reading one mapped file at once: exit codes {codes:?}");
    Ok(())
}
