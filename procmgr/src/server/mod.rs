//! procmgr's server: the process table, program loading, fork and exec,
//! exit and wait, and files (the console, pipes, ramdisk files) per process.
//!
//! Every process gets a connection to procmgr at start (slot 2, buffer at
//! `ipc::PROCMGR_BUF`); the badge on a call tells procmgr who is calling.
//! Each connection has its own handler thread, so a call that blocks (a
//! read from an empty pipe, a wait) does not stop procmgr serving others.
//! The table sits behind one lock, never held while blocking.
//!
//! This file holds the state (the process table, pipes and files, the
//! ramdisk) and the dispatch of requests (`handle`); the operations live in
//! [`loader`] (loading programs into new cap_groups), [`procs`] (the
//! reaper, spawn, fork, exec, wait, kill) and [`files`] (the console,
//! pipes, ramdisk files, `ps`).

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use chcore_proc::cpio::Archive;
use chcore_proc::pipe;
use chcore_proc::proto;
use core::sync::atomic::{AtomicU64, Ordering};
use libchcore::abi::{group_state, ipc, perm, slot, PmoKind, Rights};
use libchcore::ipc::{Reply, Request};
use libchcore::process::{STACK_SIZE, STACK_TOP};
use libchcore::sync::Mutex;
use libchcore::sys::{self, Slot};
use libchcore::Error;

mod files;
mod fs;
mod loader;
mod procs;

use files::*;
use loader::*;
use procs::*;

#[cfg(feature = "selftest")]
pub use fs::map_test_file;
#[cfg(feature = "selftest")]
pub use fs::stop_file_servers;
pub use loader::{spawn, spawn_with_console};
pub use procs::wait_root_child;

/// procmgr's own pid; orphans are handed to it.
pub const ROOT_PID: u64 = 1;
/// Where procmgr maps the ramdisk.
const RAMDISK_VA: u64 = 0x7000_0000_0000;
/// Where procmgr maps pipes' shared memory, one `pipe::SHARED_SIZE` slot each.
const PIPES_VA: u64 = 0x6600_0000_0000;
/// Pipe slots in procmgr's address space (far more than memory allows).
const PIPE_SLOTS: u64 = 1 << 24;
/// Free memory kept back from new processes: at least this much...
const RESERVE_MIN: u64 = 4 << 20;
/// ...or this fraction of what was free when procmgr started, whichever is
/// more. Below it spawn, fork and exec fail with `NoMemory`: a fork bomb
/// stops there, and the shell, procmgr and the kernel still have room to
/// clean up after it.
const RESERVE_DIVISOR: u64 = 32;

/// A pipe: memory shared by the processes that hold its ends, who read and
/// write it themselves (`chcore_proc::pipe`; libchcore maps it when a
/// process first uses the end, see `PIPE_SHARE`), and three notifications,
/// for data, for room and for the ring's lock. procmgr keeps the true count of open ends and
/// copies it into the shared header when it changes; it never reads the
/// ring and never takes its lock, so no process can make it wait.
pub struct Pipe {
    /// Open read and write ends (`File`s).
    ends: Mutex<(u64, u64)>,
    shm: Slot,
    data: Slot,
    room: Slot,
    lock: Slot,
    /// Where procmgr maps the shared memory.
    va: u64,
}

/// Where procmgr maps pipes.
static PIPE_VAS: Mutex<pipe::Slots> = Mutex::new(pipe::Slots::new(PIPES_VA, PIPE_SLOTS));

impl Pipe {
    /// A pipe whose memory (pages and kernel objects) `payer`, the process
    /// that asked for it, is charged for: procmgr keeps pipes for
    /// processes, and what it keeps for them must not come from its own
    /// reserve.
    fn new(payer: Slot) -> Result<Pipe, Error> {
        let va = PIPE_VAS.lock().take().ok_or(Error::TableFull)?;
        let mut made: Vec<Slot> = Vec::new();
        let built = (|| {
            let shm = sys::create_pmo_for(payer, pipe::SHARED_SIZE as u64, PmoKind::Shm)?;
            made.push(shm);
            // procmgr touches the header's page only, and must never take a
            // fault there that needs a page: one charged to a payer at its
            // limit would end procmgr. So the page is allocated now, by a
            // call that can fail with `NoMemory` instead.
            sys::write_pmo(shm, 0, &[0; core::mem::size_of::<pipe::Header>()])?;
            sys::map_pmo(slot::SELF_CAP_GROUP, shm, va, perm::READ | perm::WRITE)?;
            let data = sys::create_notification_for(payer)?;
            made.push(data);
            let room = sys::create_notification_for(payer)?;
            made.push(room);
            let lock = sys::create_notification_for(payer)?;
            Ok(Pipe { ends: Mutex::new((0, 0)), shm, data, room, lock, va })
        })();
        if built.is_err() {
            let _ = sys::unmap_pmo(slot::SELF_CAP_GROUP, va);
            for s in made {
                let _ = sys::cap_delete(s);
            }
            PIPE_VAS.lock().give(va);
        }
        built
    }

    /// The shared header, through procmgr's own mapping.
    fn header(&self) -> &pipe::Header {
        // SAFETY: `va` maps the pipe's shared memory (SHARED_SIZE bytes,
        // read/write, page-aligned) for as long as `self` lives (unmapped in
        // `drop`). The header is all atomics, so any bytes another process
        // writes there are a valid value, and sharing it is what atomics
        // are for.
        unsafe { &*(self.va as *const pipe::Header) }
    }

    /// An end opened (`open`) or closed: count it, publish the count, and
    /// make whoever waits look again (for end of file, or a broken pipe).
    fn ends_changed(&self, read: bool, open: bool) {
        let (r, w) = {
            let mut ends = self.ends.lock();
            let n = if read { &mut ends.0 } else { &mut ends.1 };
            *n = if open { *n + 1 } else { n.saturating_sub(1) };
            *ends
        };
        pipe::set_ends(self.header(), r, w);
        if !open {
            let _ = sys::notify(self.data);
            let _ = sys::notify(self.room);
        }
    }

    /// Process `pid` ended: if it was stopped while holding the ring's
    /// lock, release it (and wake a process that sleeps on the lock).
    fn ended(&self, pid: u64) {
        if pipe::release_if_held_by(self.header(), pid) == pipe::Released::WakeOne {
            let _ = sys::notify(self.lock);
        }
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        let _ = sys::unmap_pmo(slot::SELF_CAP_GROUP, self.va);
        let _ = sys::cap_delete(self.shm);
        let _ = sys::cap_delete(self.data);
        let _ = sys::cap_delete(self.room);
        let _ = sys::cap_delete(self.lock);
        PIPE_VAS.lock().give(self.va);
    }
}

/// What a file descriptor refers to.
pub enum FileKind {
    /// The serial console.
    Console,
    /// The read end of a pipe.
    PipeRead(Arc<Pipe>),
    /// The write end of a pipe.
    PipeWrite(Arc<Pipe>),
    /// A file on a mounted file system.
    Fs(fs::FsFile),
}

/// An open file, shared by every descriptor that refers to it.
pub struct File(pub FileKind);

impl Drop for File {
    fn drop(&mut self) {
        match &self.0 {
            FileKind::PipeRead(p) => p.ends_changed(true, false),
            FileKind::PipeWrite(p) => p.ends_changed(false, false),
            _ => {}
        }
    }
}

fn pipe_end(p: &Arc<Pipe>, write: bool) -> Arc<File> {
    p.ends_changed(!write, true);
    if write {
        Arc::new(File(FileKind::PipeWrite(p.clone())))
    } else {
        Arc::new(File(FileKind::PipeRead(p.clone())))
    }
}

type Fds = Vec<Option<Arc<File>>>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    /// Ended: exit code, killed.
    Zombie(i32, bool),
}

struct Process {
    ppid: u64,
    /// Its connection's badge (how its calls name it).
    badge: u64,
    /// Listed in `Table::suspects`.
    suspect: bool,
    name: String,
    group: Slot,
    fds: Fds,
    /// The working directory, which relative paths start from (inherited
    /// by children; exec keeps it).
    /// Shared: a fork or spawn copies a reference, not the path.
    cwd: Arc<chcore_fs::Path>,
    state: State,
    /// The status it announced with EXIT before ending, if it did.
    exit_code: Option<i32>,
    /// Its parent ended first: nobody will wait for it, procmgr reaps it.
    orphan: bool,
    /// Notified when one of its children becomes a zombie (made on its first wait).
    child_note: Option<Slot>,
    /// Notified by a terminate request, if it asked (`proto::TERM_NOTIFY`).
    term_note: Option<Slot>,
}

struct Table {
    procs: BTreeMap<u64, Process>,
    /// Each parent's children (procmgr's own included, under `ROOT_PID`),
    /// so that wait and the reaper never walk the whole table.
    kids: BTreeMap<u64, Kids>,
    badges: Badges,
    next_pid: u64,
    /// Running processes that said they are about to end (EXIT) or were
    /// killed through procmgr: where the reaper looks first.
    suspects: Vec<u64>,
    /// Exit notifications on their way for cap_groups no longer in the
    /// table (an exec's old image, a start that failed): they explain
    /// themselves without a search.
    strays: u64,
}

/// One parent's children.
#[derive(Default)]
struct Kids {
    all: BTreeSet<u64>,
    /// Those that ended and wait to be reaped.
    zombies: BTreeSet<u64>,
}

impl Table {
    /// Remove process `pid` (reaped, or never started) from the table
    /// and its parent's lists.
    fn remove(&mut self, pid: u64) -> Option<Process> {
        let p = self.procs.remove(&pid)?;
        if let Some(k) = self.kids.get_mut(&p.ppid) {
            k.all.remove(&pid);
            k.zombies.remove(&pid);
            if k.all.is_empty() && p.ppid != ROOT_PID {
                self.kids.remove(&p.ppid);
            }
        }
        self.badges.remove_if(p.badge, pid);
        Some(p)
    }

    /// Note that `pid` may be about to end.
    fn suspect(&mut self, pid: u64) {
        if let Some(p) = self.procs.get_mut(&pid) {
            if !p.suspect && p.state == State::Running {
                p.suspect = true;
                self.suspects.push(pid);
            }
        }
    }
}

/// Connection badge -> pid. Badges are the kernel's connection indices,
/// small and dense, so a vector indexed by badge does (every request looks
/// its caller up here).
struct Badges(Vec<u64>);

impl Badges {
    fn get(&self, badge: u64) -> Option<u64> {
        self.0.get(usize::try_from(badge).ok()?).copied().filter(|&p| p != 0)
    }

    fn insert(&mut self, badge: u64, pid: u64) {
        let Ok(i) = usize::try_from(badge) else { return };
        if i < ipc::MAX_CONNECTIONS as usize {
            if self.0.len() <= i {
                self.0.resize(i + 1, 0);
            }
            self.0[i] = pid;
        }
    }

    fn remove(&mut self, badge: u64) {
        if let Some(p) = usize::try_from(badge).ok().and_then(|i| self.0.get_mut(i)) {
            *p = 0;
        }
    }

    /// Forget `badge` if it still names `pid` (the kernel reuses the
    /// badge of a connection that went for the next one).
    fn remove_if(&mut self, badge: u64, pid: u64) {
        if self.get(badge) == Some(pid) {
            self.remove(badge);
        }
    }
}

static TABLE: Mutex<Table> = Mutex::new(Table {
    procs: BTreeMap::new(),
    kids: BTreeMap::new(),
    badges: Badges(Vec::new()),
    next_pid: ROOT_PID + 1,
    suspects: Vec::new(),
    strays: 0,
});
static RAMDISK: spin::Once<Archive<'static>> = spin::Once::new();
/// Bytes of the ramdisk mapped at `RAMDISK_VA`.
static RAMDISK_SIZE: AtomicU64 = AtomicU64::new(0);
/// The most physical memory one process may hold: half of what was free
/// when procmgr started, so that one process allocating without end is
/// stopped (its allocations fail, or the page fault that needed memory ends
/// it) while the rest of the system still has memory to work with.
static MEM_LIMIT: AtomicU64 = AtomicU64::new(u64::MAX);
/// Free memory below which no new process starts (see `RESERVE_MIN`).
static RESERVE: AtomicU64 = AtomicU64::new(RESERVE_MIN);
/// The most kernel memory one process's objects may take: half of what
/// all user processes together may take (as `MEM_LIMIT` for pages).
static KMEM_LIMIT: AtomicU64 = AtomicU64::new(u64::MAX);
/// A cap_group with no threads whose account holds every user process's
/// (see [`Class`]): its limits are what user processes may take together,
/// so that the system servers' reserve stays theirs. 0 until made.
static USERS: AtomicU64 = AtomicU64::new(0);

/// Kernel memory kept back for procmgr and the system servers: this
/// fraction of what was free when procmgr started...
const KMEM_RESERVE_DIVISOR: u64 = 8;
/// ...and at least this much (or half of it, on a machine with less).
const KMEM_RESERVE_MIN: u64 = 1 << 20;

/// Whose memory a new process's counts in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Class {
    /// A system server or suite procmgr starts itself (tmpfs, kerneltest):
    /// in procmgr's own account, with the reserve.
    System,
    /// Everything else (the shell and what it runs, what processes start):
    /// in the users' account, which never reaches the reserve.
    User,
}

/// Notified by the kernel when any child cap_group ends.
static EXITED: AtomicU64 = AtomicU64::new(0);
/// Notified by the reaper when a child of procmgr itself became a zombie.
static ZOMBIE: AtomicU64 = AtomicU64::new(0);

fn err(e: Error) -> Reply {
    Reply { ret: e.to_result(), words: [0; 3] }
}

fn ok(v: u64, words: [u64; 3]) -> Reply {
    Reply { ret: v as i64, words }
}

/// Map the ramdisk and check it. Returns the number of files.
pub fn init() -> Result<usize, Error> {
    let size = sys::pmo_size(slot::ROOT_RAMDISK)?;
    sys::map_pmo(slot::SELF_CAP_GROUP, slot::ROOT_RAMDISK, RAMDISK_VA, perm::READ)?;
    // SAFETY: the ramdisk PMO was just mapped read-only at RAMDISK_VA, `size`
    // bytes long, and is never unmapped.
    let bytes: &'static [u8] = unsafe { core::slice::from_raw_parts(RAMDISK_VA as *const u8, size as usize) };
    let archive = Archive::parse(bytes).map_err(|e| {
        libchcore::println!("procmgr: the ramdisk is malformed: {e:?}");
        Error::InvalidArgument
    })?;
    let n = archive.entries().len();
    RAMDISK.call_once(|| archive);
    RAMDISK_SIZE.store(size, Ordering::Relaxed);
    let free = sys::free_memory();
    MEM_LIMIT.store(free / 2, Ordering::Relaxed);
    let reserve = (free / RESERVE_DIVISOR).max(RESERVE_MIN);
    RESERVE.store(reserve, Ordering::Relaxed);
    let kfree = sys::free_kmem();
    let kreserve = (kfree / KMEM_RESERVE_DIVISOR).max(KMEM_RESERVE_MIN).min(kfree / 2);
    KMEM_LIMIT.store((kfree - kreserve) / 2, Ordering::Relaxed);
    let users = sys::create_cap_group("users")?;
    sys::set_mem_limit(users, free.saturating_sub(reserve))?;
    sys::set_kmem_limit(users, kfree - kreserve)?;
    USERS.store(users, Ordering::Relaxed);
    EXITED.store(sys::create_notification()?, Ordering::SeqCst);
    ZOMBIE.store(sys::create_notification()?, Ordering::SeqCst);
    libchcore::thread::spawn(reaper, 0)?;
    libchcore::thread::spawn(files::interrupter, 0)?;
    libchcore::ipc::serve(handle, ipc::MAX_CONNECTIONS)?;
    fs::init(RAMDISK.get().ok_or(Error::InvalidArgument)?);
    Ok(n)
}

fn caller(badge: u64) -> Option<u64> {
    TABLE.lock().badges.get(badge)
}

fn fd(pid: u64, n: u64) -> Result<Arc<File>, Error> {
    let t = TABLE.lock();
    t.procs.get(&pid).and_then(|p| p.fds.get(n as usize)).and_then(|f| f.clone()).ok_or(Error::BadFd)
}

fn install(pid: u64, file: Arc<File>) -> Result<u64, Error> {
    let mut t = TABLE.lock();
    let p = t.procs.get_mut(&pid).ok_or(Error::InvalidArgument)?;
    let i = p.fds.iter().position(Option::is_none).ok_or(Error::TableFull)?;
    p.fds[i] = Some(file);
    Ok(i as u64)
}

/// Every call from a process lands here (on that connection's handler thread).
fn handle(req: &mut Request) -> Reply {
    // procmgr's protocol carries no capabilities. Any a client sends anyway
    // are dropped at once: kept, they would hold what they name (say, the
    // client's own cap_group, and with it all its memory) alive forever.
    for &c in req.caps {
        let _ = sys::cap_delete(c);
    }
    let Some(pid) = caller(req.badge) else { return err(Error::InvalidArgument) };
    let [op, a, b, c] = req.words;
    let result = match op {
        proto::SPAWN => op_spawn(pid, req.data, [a, b, c]),
        proto::FORK => op_fork(pid, [a, b, c]),
        proto::EXEC => op_exec(pid, req.badge, req.data),
        proto::EXIT => {
            let mut t = TABLE.lock();
            if let Some(p) = t.procs.get_mut(&pid) {
                p.exit_code = Some(a as u32 as i32);
            }
            t.suspect(pid);
            Ok(ok(0, [0; 3]))
        }
        proto::WAIT => op_wait(pid, a, b != 0),
        proto::KILL => op_kill(pid, a),
        proto::TERMINATE => op_terminate(pid, a),
        proto::TERM_NOTIFY => op_term_notify(pid),
        proto::GETPID => Ok(ok(pid, [TABLE.lock().procs.get(&pid).map_or(0, |p| p.ppid), 0, 0])),
        proto::PIPE => op_pipe(pid),
        proto::READ | proto::WRITE => {
            let len = (b as usize).min(req.data.len());
            match fs::forward_rw(pid, a, op == proto::WRITE, req.data, len) {
                Some(reply) => return reply,
                None if op == proto::READ => op_read(pid, a, len, req.data),
                None => op_write(pid, a, &req.data[..len]),
            }
        }
        proto::CLOSE => {
            let f = TABLE.lock().procs.get_mut(&pid).and_then(|p| p.fds.get_mut(a as usize)).and_then(Option::take);
            f.map(|_| ok(0, [0; 3])).ok_or(Error::BadFd)
        }
        proto::DUP2 => op_dup2(pid, a, b),
        proto::DUP => fd(pid, a).and_then(|f| install(pid, f)).map(|n| ok(n, [0; 3])),
        op if chcore_fs::proto::is_fs_op(op) || matches!(op, proto::CHDIR | proto::GETCWD | proto::MOUNTS) => {
            return fs::op_fs(pid, req)
        }
        proto::LIST => Ok(op_list(req.data)),
        proto::PS => Ok(op_ps(req.data)),
        proto::PIPE_SHARE => op_pipe_share(pid, a, req),
        proto::KEY => op_key(pid, a, b),
        proto::SESSION => fs::op_session(pid, a),
        proto::FOREGROUND => op_foreground(pid, a, req.data),
        proto::RAW => op_raw(pid, a),
        _ => Err(Error::NoSyscall),
    };
    result.unwrap_or_else(err)
}
