//! The file-system manager: the mount table, each process's working
//! directory, and files opened on file-system servers.
//!
//! A process sends the file-system protocol (`chcore_fs::proto`) to
//! procmgr, with its own descriptors where the protocol has handles and
//! paths as the user wrote them. procmgr resolves a path against the
//! caller's working directory, finds the mount it falls in (the longest
//! mount point that is a prefix), and forwards the request, the path made
//! relative to the mount, to that mount's server: tmpfs at `/` (a process
//! of its own) or the ramdisk at `/bin` (served here, from the same
//! library). An open file is a descriptor like a pipe end or the console:
//! inherited by fork and spawn, kept across exec, closed when the last
//! process holding it closes it or ends (docs/filesystem.md).

use super::*;
use chcore_fs::path::{self as fspath, Path};
use chcore_fs::proto::{self as fsp, Answer};
use chcore_fs::rofs::RoFs;
use chcore_fs::session::{FS_ATTACH, FS_DETACH, FS_GRANT};
use chcore_fs::{Errno, Vfs};
use libchcore::ipc::Connection;

/// Open files per file-system server, for all processes together.
const MAX_OPEN: usize = 4096;

/// Where a mount's requests go.
enum Backend {
    /// A file-system server process, over procmgr's connection to it (one
    /// call at a time: the lock).
    Server { name: &'static str, conn: Mutex<Option<Connection>> },
    /// The ramdisk, read-only, served by procmgr itself.
    Ramdisk(Mutex<Vfs<RoFs<'static>>>),
}

/// A mounted file system.
pub(super) struct Mount {
    at: Path,
    backend: Backend,
}

/// The mount table, longest mount point first (so the first match wins).
static MOUNTS: spin::Once<Vec<Mount>> = spin::Once::new();

/// Seconds since boot: the clock of the files procmgr serves itself.
fn now() -> u64 {
    sys::get_tick() / libchcore::abi::TICK_HZ
}

/// Where the ramdisk's test and benchmark programs are packed (as
/// `tests/NAME`); they appear at `/tests`, out of `/bin`'s way.
pub(super) const TESTS_PREFIX: &str = "tests/";

/// The ramdisk's parts: where each is mounted, and the prefix its files'
/// names have in the archive.
const RAMDISK_DIRS: [(&str, &str); 2] = [("/bin", ""), ("/tests", TESTS_PREFIX)];

/// The ramdisk's files under `prefix` (its own name stripped) as a
/// read-only file system.
fn ramdisk_part(ramdisk: &'static Archive<'static>, prefix: &str, at: &str) -> RoFs<'static> {
    let files = ramdisk.entries().iter().filter_map(|e| {
        let name = e.name.strip_prefix(prefix)?;
        // `/bin` takes the names with no directory in them.
        (!prefix.is_empty() || !name.contains('/')).then_some((name, e.data))
    });
    RoFs::new(files, 0).unwrap_or_else(|e| {
        libchcore::println!("procmgr: the ramdisk's names cannot be files ({e}); {at} is empty");
        RoFs::new(Vec::new(), 0).unwrap_or_else(|_| unreachable!("an empty list has no bad names"))
    })
}

/// The name in the ramdisk of the file at absolute path `p`, if it is
/// under `/bin` or `/tests`.
pub(super) fn ramdisk_name(p: &Path) -> Option<String> {
    for (dir, prefix) in RAMDISK_DIRS {
        if let Some(rel) = p.relative_to(&path(dir)) {
            return rel.as_str().strip_prefix('/').filter(|n| !n.is_empty()).map(|n| alloc::format!("{prefix}{n}"));
        }
    }
    None
}

/// Start tmpfs and build the mount table: tmpfs at `/` (with `/bin`,
/// `/tests` and `/tmp` made in it), the ramdisk's programs at `/bin`, its
/// test programs at `/tests`. Without tmpfs the ramdisk is still there;
/// files elsewhere answer EIO.
pub(super) fn init(ramdisk: &'static Archive<'static>) {
    let tmpfs = start_server("tmpfs");
    let mounts = MOUNTS.call_once(|| {
        let parts = RAMDISK_DIRS.iter().map(|&(at, prefix)| {
            let files = ramdisk_part(ramdisk, prefix, at);
            Mount { at: path(at), backend: Backend::Ramdisk(Mutex::new(Vfs::new(files, MAX_OPEN))) }
        });
        // Longest mount point first: `/` last.
        let root = Mount { at: Path::root(), backend: Backend::Server { name: "tmpfs", conn: Mutex::new(tmpfs) } };
        parts.chain([root]).collect()
    });
    let Some(root) = mounts.iter().find(|m| m.at.is_root()) else { return };
    for dir in ["/bin", "/tests", "/tmp"] {
        let _ = exchange(root, [fsp::FS_MKDIR, dir.len() as u64, 0, 0], dir.as_bytes(), &mut []);
    }
    // The ramdisk's other files (the motd) start out in `/`, where a new
    // shell is, as writable copies.
    for e in ramdisk.entries().iter().filter(|e| !e.data.starts_with(b"\x7fELF") && !e.name.contains('/')) {
        if let Err(err) = copy_in(root, e.name, e.data) {
            libchcore::println!("procmgr: cannot copy {} to /: {err}", e.name);
        }
    }
}

/// Make file `/name` on mount `m` with `data`.
fn copy_in(m: &'static Mount, name: &str, data: &[u8]) -> Result<(), Errno> {
    let rel = fsp::path_text(&Path::root().join(name)?);
    let flags = u64::from(chcore_fs::server::O_WRONLY | chcore_fs::server::O_CREAT | chcore_fs::server::O_TRUNC);
    let (ret, _) = exchange(m, [fsp::FS_OPEN, flags, rel.len() as u64, 0], rel.as_bytes(), &mut []);
    let file = FsFile { mount: m, handle: u64::try_from(ret).map_err(|_| answer_errno(ret))? };
    for chunk in data.chunks(ipc::DATA_MAX) {
        let (ret, _) = exchange(m, [fsp::FS_WRITE, file.handle, chunk.len() as u64, 0], chunk, &mut []);
        if ret != chunk.len() as i64 {
            return Err(if ret < 0 { answer_errno(ret) } else { Errno::ENOSPC });
        }
    }
    Ok(())
}

/// The whole of regular file `p`, at most `max` bytes (`EFBIG` past that;
/// `EACCES` for a directory): a program outside `/bin` that is to run.
/// The file may change while it is read; what was read is what runs.
pub(super) fn read_whole(p: &Path, max: usize) -> Result<Vec<u8>, Errno> {
    let (m, rel) = route(p)?;
    let flags = u64::from(chcore_fs::server::O_RDONLY);
    let (ret, _) = exchange(m, [fsp::FS_OPEN, flags, rel.len() as u64, 0], rel.as_bytes(), &mut []);
    let file = FsFile { mount: m, handle: u64::try_from(ret).map_err(|_| answer_errno(ret))? };
    let mut st = [0u8; fsp::STAT_SIZE];
    let (ret, _) = exchange(m, [fsp::FS_FSTAT, file.handle, 0, 0], &[], &mut st);
    if ret < 0 {
        return Err(answer_errno(ret));
    }
    let stat = fsp::get_stat(&st).ok_or(Errno::EIO)?;
    if stat.kind != chcore_fs::FileType::File {
        return Err(Errno::EACCES);
    }
    if stat.size > max as u64 {
        return Err(Errno::EFBIG);
    }
    let mut data = Vec::new();
    loop {
        let have = data.len();
        // One buffer's worth more, or one byte past `max` to see it grew.
        let want = ipc::DATA_MAX.min(max + 1 - have);
        data.resize(have + want, 0);
        let (ret, _) = exchange(m, [fsp::FS_READ, file.handle, want as u64, 0], &[], &mut data[have..]);
        let n = usize::try_from(ret).map_err(|_| answer_errno(ret))?;
        data.truncate(have + n);
        if n == 0 {
            return Ok(data);
        }
        if data.len() > max {
            return Err(Errno::EFBIG);
        }
    }
}

/// The error a negative answer carries.
fn answer_errno(ret: i64) -> Errno {
    Errno::from_result(ret).unwrap_or(Errno::EIO)
}

fn path(p: &str) -> Path {
    Path::parse(p).unwrap_or_else(|_| Path::root())
}

/// The pids of the file-system servers procmgr started.
static SERVER_PIDS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// Whether `pid` is a file-system server (which `KILL` refuses to end).
pub(super) fn is_server(pid: u64) -> bool {
    SERVER_PIDS.lock().contains(&pid)
}

/// End the file-system servers (the test image's last test: a server that
/// dies must leave the rest working).
#[cfg(feature = "selftest")]
pub fn stop_file_servers() {
    let pids = SERVER_PIDS.lock().clone();
    for pid in pids {
        if let Some(group) = TABLE.lock().procs.get(&pid).map(|p| p.group) {
            let _ = sys::cap_group_kill(group);
        }
    }
}

/// Test only: make `/outlive` on tmpfs (`pages` pages, "outlive" at the
/// start), map it into procmgr, shared and read-only, at `va`, and read the
/// first page (tmpfs supplies it). Returns the mapping's PMO (a view).
#[cfg(feature = "selftest")]
pub fn map_test_file(pages: u64, va: u64) -> Result<u64, Error> {
    use chcore_fs::proto::{FS_CLOSE, FS_FTRUNCATE, FS_MMAP, FS_OPEN, FS_WRITE};
    let bad = |_| Error::InvalidArgument;
    let m = MOUNTS.get().and_then(|ms| ms.iter().find(|m| m.at == Path::root())).ok_or(Error::NotFound)?;
    let Backend::Server { conn, .. } = &m.backend else { return Err(Error::NotFound) };
    let path = b"/outlive";
    let flags = u64::from(chcore_fs::server::O_RDWR | chcore_fs::server::O_CREAT);
    let (handle, _) = exchange(m, [FS_OPEN, flags, path.len() as u64, 0], path, &mut []);
    let handle = u64::try_from(handle).map_err(bad)?;
    let size = pages * 4096;
    let ok = exchange(m, [FS_WRITE, handle, 7, 0], b"outlive", &mut []).0 == 7
        && exchange(m, [FS_FTRUNCATE, handle, size, 0], &[], &mut []).0 == 0;
    let mut caps = [0u64; 1];
    let mapped = conn.lock().as_mut().ok_or(Error::NotFound)?.call([FS_MMAP, handle, 0, 0], &[], &mut caps);
    exchange(m, [FS_CLOSE, handle, 0, 0], &[], &mut []);
    mapped?;
    let view = sys::pmo_slice(caps[0], 0, size, Rights::READ.union(Rights::MAP));
    let _ = sys::cap_delete(caps[0]);
    let view = view?;
    sys::map_pmo(libchcore::abi::slot::SELF_CAP_GROUP, view, va, libchcore::abi::perm::READ)?;
    // SAFETY: just mapped, readable, `size` bytes; the read waits for tmpfs
    // to supply the page.
    let first = unsafe { core::slice::from_raw_parts(va as *const u8, 7) };
    if !ok || first != b"outlive" {
        return Err(Error::InvalidArgument);
    }
    Ok(view)
}

/// Start file-system server `name` from the ramdisk and connect to it.
fn start_server(name: &'static str) -> Option<Connection> {
    let limit = alloc::format!("{}", MEM_LIMIT.load(Ordering::Relaxed));
    let started = spawn_with_console(name, &[name, &limit], Rights::NONE, Class::System).and_then(|pid| {
        SERVER_PIDS.lock().push(pid);
        let group = TABLE.lock().procs.get(&pid).map(|p| p.group).ok_or(Error::InvalidArgument)?;
        libchcore::ipc::connect(group)
    });
    match started {
        Ok(c) => Some(c),
        Err(e) => {
            libchcore::println!("procmgr: cannot start the file server {name}: {e:?}");
            None
        }
    }
}

/// Send one request to `m`'s server: `input` goes to the start of the
/// message, the answer's bytes come back into `output` (as many as the
/// return value counts, or all of `output` for an answer that returns 0).
fn exchange(m: &Mount, words: [u64; 4], input: &[u8], output: &mut [u8]) -> Answer {
    let copy_back = |data: &[u8], ret: i64, output: &mut [u8]| {
        let n = fsp::answer_bytes(ret, output.len());
        output[..n].copy_from_slice(&data[..n]);
    };
    match &m.backend {
        Backend::Ramdisk(vfs) => {
            let mut buf = alloc::vec![0u8; input.len().max(output.len()).max(fsp::STAT_SIZE)];
            buf[..input.len()].copy_from_slice(input);
            let (ret, words) = fsp::serve(&mut *vfs.lock(), words, &mut buf, now());
            if ret >= 0 {
                copy_back(&buf, ret, output);
            }
            (ret, words)
        }
        Backend::Server { name, conn } => {
            let mut conn = conn.lock();
            let Some(c) = conn.as_mut() else { return fsp::fail(Errno::EIO) };
            let data = c.data();
            if input.len() > data.len() || output.len() > data.len() {
                return fsp::fail(Errno::EINVAL);
            }
            data[..input.len()].copy_from_slice(input);
            let (ret, words) = c.call_raw(words);
            if ret == Error::PeerDead.to_result() {
                // Said once; the mount answers EIO from now on.
                libchcore::println!("procmgr: the file server {name} has ended; its files are gone");
                *conn = None;
                return fsp::fail(Errno::EIO);
            }
            if ret >= 0 {
                copy_back(c.data(), ret, output);
            }
            (ret, words)
        }
    }
}

/// Each process's sessions: (pid, mount index) -> the session connection's
/// slot in the process (see `chcore_fs::session`).
static SESSIONS: Mutex<BTreeMap<(u64, usize), u64>> = Mutex::new(BTreeMap::new());

/// `PIPE_SHARE` of a file: on a server process, make sure `pid` has a
/// session with it and may use the file's handle, and tell it where both
/// are (`proto::FILE_DIRECT`); a file procmgr serves itself (`/bin`) stays
/// with procmgr (`NOT_A_PIPE`).
pub(super) fn share(pid: u64, f: &FsFile) -> Reply {
    let not_direct = Reply { ret: 0, words: [proto::NOT_A_PIPE, 0, 0] };
    let Backend::Server { conn, .. } = &f.mount.backend else { return not_direct };
    let Some(index) = MOUNTS.get().and_then(|ms| ms.iter().position(|m| core::ptr::eq(m, f.mount))) else {
        return not_direct;
    };
    let buf = session_buf(index);
    // Without a session the process still has procmgr's way.
    let Some(slot) = session(pid, index, conn) else { return not_direct };
    if exchange(f.mount, [FS_GRANT, f.handle, pid, 0], &[], &mut []).0 < 0 {
        return not_direct;
    }
    Reply { ret: buf as i64, words: [proto::FILE_DIRECT, f.handle, slot] }
}

/// Where process sessions with mount `index`'s server have their buffer.
fn session_buf(index: usize) -> u64 {
    ipc::FS_BUF_BASE + index as u64 * ipc::BUF_SIZE
}

/// Process `pid`'s session with mount `index`'s server (over `conn`):
/// its connection's slot in the process, made now if it has none.
fn session(pid: u64, index: usize, conn: &Mutex<Option<Connection>>) -> Option<u64> {
    let mut sessions = SESSIONS.lock();
    if let Some(&slot) = sessions.get(&(pid, index)) {
        return Some(slot);
    }
    let group = TABLE.lock().procs.get(&pid).map(|p| p.group)?;
    let made = {
        let mut conn = conn.lock();
        let answer = conn.as_mut()?.call([FS_ATTACH, pid, session_buf(index), 0], &[(group, Rights::MAP)], &mut []);
        answer.ok().map(|a| a.ret as u64)?
    };
    sessions.insert((pid, index), made);
    Some(made)
}

/// `proto::SESSION`: process `pid`'s session with the server whose
/// sessions have their buffer at `buf`.
pub(super) fn op_session(pid: u64, buf: u64) -> Result<Reply, Error> {
    let mounts = MOUNTS.get().ok_or(Error::NotFound)?;
    let (index, m) = mounts.iter().enumerate().find(|&(i, _)| session_buf(i) == buf).ok_or(Error::NotFound)?;
    let Backend::Server { conn, .. } = &m.backend else { return Err(Error::NotFound) };
    let slot = session(pid, index, conn).ok_or(Error::NotFound)?;
    Ok(Reply { ret: slot as i64, words: [0; 3] })
}

/// Process `pid` ended or changed its image (its sessions went with its old
/// cap_group): the servers forget its sessions and grants.
pub(super) fn ended(pid: u64) {
    let mut sessions = SESSIONS.lock();
    let mine: Vec<(u64, usize)> = sessions.range((pid, 0)..=(pid, usize::MAX)).map(|(k, _)| *k).collect();
    for key in mine {
        sessions.remove(&key);
        if let Some(m) = MOUNTS.get().and_then(|ms| ms.get(key.1)) {
            let _ = exchange(m, [FS_DETACH, pid, 0, 0], &[], &mut []);
        }
    }
}

/// An open file on a mount: closed on its server when the last descriptor
/// referring to it goes.
pub struct FsFile {
    mount: &'static Mount,
    handle: u64,
}

impl Drop for FsFile {
    fn drop(&mut self) {
        let _ = exchange(self.mount, [fsp::FS_CLOSE, self.handle, 0, 0], &[], &mut []);
    }
}

/// The caller's path `len` bytes at `at` in `data`, made absolute against
/// its working directory.
fn caller_path(pid: u64, data: &[u8], at: usize, len: u64) -> Result<Path, Errno> {
    let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
    if len >= fspath::PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    let bytes = at.checked_add(len).and_then(|end| data.get(at..end)).ok_or(Errno::EINVAL)?;
    let text = String::from(core::str::from_utf8(bytes).map_err(|_| Errno::EINVAL)?);
    let cwd = TABLE.lock().procs.get(&pid).map_or_else(root_cwd, |p| p.cwd.clone());
    fspath::normalize(cwd.as_str(), &text)
}

/// Whether `pid` has a free descriptor (another thread of it may still
/// take it first: then the open fails with EMFILE after all, and the file
/// it made stays).
fn has_free_fd(pid: u64) -> bool {
    TABLE.lock().procs.get(&pid).is_some_and(|p| p.fds.iter().any(Option::is_none))
}

/// `/`, the working directory of procmgr's children (one shared copy).
pub(super) fn root_cwd() -> Arc<Path> {
    static ROOT: spin::Once<Arc<Path>> = spin::Once::new();
    ROOT.call_once(|| Arc::new(Path::root())).clone()
}

/// The mount `p` falls in, and `p` relative to it as it travels
/// (`proto::path_text`).
fn route(p: &Path) -> Result<(&'static Mount, alloc::borrow::Cow<'_, str>), Errno> {
    let mounts = MOUNTS.get().ok_or(Errno::EIO)?;
    mounts.iter().find_map(|m| Some((m, p.relative_text(&m.at)?))).ok_or(Errno::ENOENT)
}

/// Whether `p` is a mount point other than `/` (which cannot be removed
/// or renamed while mounted).
fn is_mount_point(p: &Path) -> bool {
    MOUNTS.get().is_some_and(|ms| ms.iter().any(|m| !m.at.is_root() && m.at.as_str() == p.as_str()))
}

/// The open file behind descriptor `fd` of `pid`.
fn fs_fd(pid: u64, fd_number: u64) -> Result<(Arc<File>, &'static Mount, u64), Errno> {
    let file = fd(pid, fd_number).map_err(|_| Errno::EBADF)?;
    match &file.0 {
        FileKind::Fs(f) => {
            let (m, h) = (f.mount, f.handle);
            Ok((file, m, h))
        }
        // Pipes and the console have no offset to move.
        _ => Err(Errno::ESPIPE),
    }
}

/// A file-system request from process `pid` (see the module docs).
pub(super) fn op_fs(pid: u64, req: &mut Request) -> Reply {
    let answer =
        if req.words[0] == fsp::FS_MMAP { mmap_ramdisk(pid, req) } else { fs_request(pid, req.words, req.data) };
    let (ret, words) = match answer {
        Ok(a) => a,
        Err(e) => fsp::fail(e),
    };
    Reply { ret, words }
}

/// Each `/bin` file's pages as a PMO (a slice of the ramdisk), made at its
/// first `mmap` and kept: a reply's capability is a copy, so procmgr must
/// keep the one it gives from (one per file, at most).
/// Keyed by the mount (`/bin`, `/tests`) and the inode.
static RAMDISK_MAPS: Mutex<BTreeMap<(usize, u64), Slot>> = Mutex::new(BTreeMap::new());

/// `FS_MMAP` of descriptor `words[1]`, a file procmgr serves itself (`/bin`):
/// the reply carries a read-only PMO over the file's pages in the ramdisk
/// (every file there starts on a page) and the file's size in its first
/// word: the rest of the last page holds the archive's next header, which
/// the client zeroes in its own copy (see `libchcore::mman`).
/// EACCES for a shared writable mapping; ENODEV for a file of a server
/// (its session is the way) or an empty one.
fn mmap_ramdisk(pid: u64, req: &mut Request) -> Result<Answer, Errno> {
    // Pipes and the console have no pages.
    let (_file, m, h) = fs_fd(pid, req.words[1]).map_err(|e| if e == Errno::ESPIPE { Errno::ENODEV } else { e })?;
    let Backend::Ramdisk(vfs) = &m.backend else { return Err(Errno::ENODEV) };
    let vfs = vfs.lock();
    let (ino, readable, _) = vfs.mappable(chcore_fs::Handle::from_raw(h))?;
    chcore_fs::mapped::may_map(readable, false, req.words[2] == 1)?;
    let data = vfs.fs().contents(ino)?;
    let mut maps = RAMDISK_MAPS.lock();
    let key = (core::ptr::from_ref(m) as usize, ino);
    let pmo = match maps.get(&key) {
        Some(&pmo) => pmo,
        None => {
            let offset = (data.as_ptr() as u64).checked_sub(RAMDISK_VA).ok_or(Errno::ENODEV)?;
            if data.is_empty() || offset % 4096 != 0 {
                return Err(Errno::ENODEV);
            }
            let pages = (data.len() as u64).div_ceil(4096) * 4096;
            let rights = Rights::MAP.union(Rights::READ).union(Rights::COPY);
            let pmo = sys::pmo_slice(slot::ROOT_RAMDISK, offset, pages, rights).map_err(libchcore::fs::errno_of)?;
            maps.insert(key, pmo);
            pmo
        }
    };
    req.reply_cap(pmo, Rights::MAP.union(Rights::READ).union(Rights::COPY)).map_err(libchcore::fs::errno_of)?;
    Ok((0, [data.len() as u64, 0, 0]))
}

fn fs_request(pid: u64, [op, a, b, c]: [u64; 4], data: &mut [u8]) -> Result<Answer, Errno> {
    Ok(match op {
        fsp::FS_OPEN => {
            // A full table is found before the file is made, not after.
            if !has_free_fd(pid) {
                return Err(Errno::EMFILE);
            }
            let p = caller_path(pid, data, 0, b)?;
            let (m, rel) = route(&p)?;
            let (ret, _) = exchange(m, [op, a, rel.len() as u64, 0], rel.as_bytes(), &mut []);
            if ret < 0 {
                return Ok((ret, [0; 3]));
            }
            let file = Arc::new(File(FileKind::Fs(FsFile { mount: m, handle: ret as u64 })));
            // If the table is full the file closes again as `file` drops.
            let fd = install(pid, file).map_err(|_| Errno::EMFILE)?;
            (fd as i64, [0; 3])
        }
        fsp::FS_READ | fsp::FS_PREAD | fsp::FS_GETDENTS => {
            let (_file, m, h) = fs_fd(pid, a)?;
            let len = if op == fsp::FS_GETDENTS { data.len() as u64 } else { b.min(data.len() as u64) };
            exchange(m, [op, h, len, c], &[], &mut data[..len as usize])
        }
        fsp::FS_WRITE | fsp::FS_PWRITE => {
            let (_file, m, h) = fs_fd(pid, a)?;
            let input = data.get(..usize::try_from(b).map_err(|_| Errno::EINVAL)?).ok_or(Errno::EINVAL)?;
            exchange(m, [op, h, b, c], input, &mut [])
        }
        fsp::FS_FSTAT => {
            let (_file, m, h) = fs_fd(pid, a)?;
            exchange(m, [op, h, 0, 0], &[], &mut data[..fsp::STAT_SIZE])
        }
        fsp::FS_LSEEK | fsp::FS_FTRUNCATE => {
            let (_file, m, h) = fs_fd(pid, a)?;
            exchange(m, [op, h, b, c], &[], &mut [])
        }
        fsp::FS_STAT | fsp::FS_MKDIR | fsp::FS_RMDIR | fsp::FS_UNLINK | fsp::FS_STATFS | fsp::FS_UTIMES => {
            let p = caller_path(pid, data, 0, a)?;
            if matches!(op, fsp::FS_RMDIR | fsp::FS_UNLINK) && is_mount_point(&p) {
                return Err(Errno::EBUSY);
            }
            let (m, rel) = route(&p)?;
            let out = if op == fsp::FS_STATFS { fsp::STATFS_SIZE } else { fsp::STAT_SIZE };
            let wants = matches!(op, fsp::FS_STAT | fsp::FS_STATFS);
            // `utimes` carries its two times along.
            let (b, c) = if op == fsp::FS_UTIMES { (b, c) } else { (0, 0) };
            exchange(m, [op, rel.len() as u64, b, c], rel.as_bytes(), if wants { &mut data[..out] } else { &mut [] })
        }
        fsp::FS_RENAME => {
            let from = caller_path(pid, data, 0, a)?;
            let to = caller_path(pid, data, usize::try_from(a).map_err(|_| Errno::EINVAL)?, b)?;
            if is_mount_point(&from) || is_mount_point(&to) {
                return Err(Errno::EBUSY);
            }
            let ((m1, rel_from), (m2, rel_to)) = (route(&from)?, route(&to)?);
            if !core::ptr::eq(m1, m2) {
                return Err(Errno::EXDEV);
            }
            let both = alloc::format!("{rel_from}{rel_to}");
            exchange(m1, [op, rel_from.len() as u64, rel_to.len() as u64, 0], both.as_bytes(), &mut [])
        }
        proto::CHDIR => {
            let p = caller_path(pid, data, 0, a)?;
            let (m, rel) = route(&p)?;
            let mut st = [0u8; fsp::STAT_SIZE];
            let (ret, _) = exchange(m, [fsp::FS_STAT, rel.len() as u64, 0, 0], rel.as_bytes(), &mut st);
            if ret < 0 {
                return Ok((ret, [0; 3]));
            }
            if fsp::get_stat(&st).map(|s| s.kind) != Some(chcore_fs::FileType::Dir) {
                return Err(Errno::ENOTDIR);
            }
            if let Some(pr) = TABLE.lock().procs.get_mut(&pid) {
                pr.cwd = Arc::new(p);
            }
            (0, [0; 3])
        }
        proto::GETCWD => {
            let cwd = TABLE.lock().procs.get(&pid).map(|p| p.cwd.clone()).ok_or(Errno::EINVAL)?;
            let text = cwd.as_str().as_bytes();
            data.get_mut(..text.len()).ok_or(Errno::ENAMETOOLONG)?.copy_from_slice(text);
            (text.len() as i64, [0; 3])
        }
        proto::MOUNTS => {
            let mut text = String::new();
            for m in MOUNTS.get().map(Vec::as_slice).unwrap_or(&[]) {
                text.push_str(m.at.as_str());
                text.push('\n');
            }
            let n = text.len().min(data.len());
            data[..n].copy_from_slice(&text.as_bytes()[..n]);
            (n as i64, [0; 3])
        }
        _ => return Err(Errno::ENOSYS),
    })
}

/// Whether descriptor `fd` of `pid` is a file opened for reading or
/// writing (`write`) on a file system: `READ` and `WRITE` go there then.
pub(super) fn forward_rw(pid: u64, fd_number: u64, write: bool, data: &mut [u8], len: usize) -> Option<Reply> {
    let file = fd(pid, fd_number).ok()?;
    let FileKind::Fs(f) = &file.0 else { return None };
    let (ret, words) = if write {
        exchange(f.mount, [fsp::FS_WRITE, f.handle, len as u64, 0], &data[..len], &mut [])
    } else {
        exchange(f.mount, [fsp::FS_READ, f.handle, len as u64, 0], &[], &mut data[..len])
    };
    Some(Reply { ret, words })
}
