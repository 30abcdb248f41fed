//! procmgr's server: the process table, program loading, fork and exec,
//! exit and wait, and files (the console, pipes, ramdisk files) per process.
//!
//! Every process gets a connection to procmgr at start (slot 2, buffer at
//! `ipc::PROCMGR_BUF`); the badge on a call tells procmgr who is calling.
//! Each connection has its own handler thread, so a call that blocks (a
//! read from an empty pipe, a wait) does not stop procmgr serving others.
//! The table sits behind one lock, never held while blocking.

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
    fn new() -> Result<Pipe, Error> {
        let va = PIPE_VAS.lock().take().ok_or(Error::TableFull)?;
        let mut made: Vec<Slot> = Vec::new();
        let built = (|| {
            let shm = sys::create_pmo(pipe::SHARED_SIZE as u64, PmoKind::Shm)?;
            made.push(shm);
            sys::map_pmo(slot::SELF_CAP_GROUP, shm, va, perm::READ | perm::WRITE)?;
            let data = sys::create_notification()?;
            made.push(data);
            let room = sys::create_notification()?;
            made.push(room);
            let lock = sys::create_notification()?;
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
    /// A ramdisk file being read.
    Ram { data: &'static [u8], pos: Mutex<usize> },
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
    state: State,
    /// The status it announced with EXIT before ending, if it did.
    exit_code: Option<i32>,
    /// Its parent ended first: nobody will wait for it, procmgr reaps it.
    orphan: bool,
    /// Notified when one of its children becomes a zombie (made on its first wait).
    child_note: Option<Slot>,
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
    RESERVE.store((free / RESERVE_DIVISOR).max(RESERVE_MIN), Ordering::Relaxed);
    EXITED.store(sys::create_notification()?, Ordering::SeqCst);
    ZOMBIE.store(sys::create_notification()?, Ordering::SeqCst);
    libchcore::thread::spawn(reaper, 0)?;
    libchcore::ipc::serve(handle, ipc::MAX_CONNECTIONS)?;
    Ok(n)
}

fn program(path: &str) -> Option<&'static [u8]> {
    let name = path.trim_start_matches('/');
    let name = name.strip_prefix("bin/").unwrap_or(name);
    RAMDISK.get()?.find(name).map(|e| e.data)
}

/// A new cap_group with its connection to procmgr in slot 2.
fn new_group(name: &str) -> Result<(Slot, u64), Error> {
    // No count of processes: each costs memory (docs/memory.md), and when
    // what is left falls to the reserve, new ones are refused.
    if sys::free_memory() < RESERVE.load(Ordering::Relaxed) {
        return Err(Error::NoMemory);
    }
    let group = sys::create_cap_group(name)?;
    if let Err(e) = sys::set_mem_limit(group, MEM_LIMIT.load(Ordering::Relaxed)) {
        let _ = sys::cap_delete(group);
        return Err(e);
    }
    match sys::connect_for(group, ipc::PROCMGR_BUF) {
        Ok((s, badge)) if s == slot::PROCMGR => Ok((group, badge)),
        Ok(_) => Err(Error::InvalidArgument),
        Err(e) => {
            let _ = sys::cap_delete(group);
            Err(e)
        }
    }
}

/// Load `image` into `group` with `args`; returns where its first thread
/// starts: (entry point, stack pointer = argument block).
fn load(group: Slot, image: &[u8], args: &[&str]) -> Result<(u64, u64), Error> {
    let plan = kernel_core::elf_load::plan(image).map_err(|_| Error::InvalidArgument)?;
    for seg in &plan.segments {
        let (start, len) = seg.pages();
        if let Some(pmo) = ramdisk_slice(image, seg)? {
            sys::map_pmo(group, pmo, start, seg.perm | perm::READ)?;
            sys::cap_delete(pmo)?;
            continue;
        }
        let mut pmo = sys::create_pmo(len, PmoKind::Data)?;
        let file = &image[seg.offset as usize..(seg.offset + seg.filesz) as usize];
        sys::write_pmo(pmo, seg.vaddr - start, file)?;
        if seg.perm & perm::WRITE == 0 {
            // Mapped through a capability without WRITE, the segment can
            // never be made writable (no self-modifying text), and fork
            // shares it instead of copying it.
            let mut rights = Rights::MAP.union(Rights::READ);
            if seg.perm & perm::EXEC != 0 {
                rights = rights.union(Rights::EXEC);
            }
            pmo = sys::cap_transfer(pmo, slot::SELF_CAP_GROUP, rights)?;
        }
        sys::map_pmo(group, pmo, start, seg.perm | perm::READ)?;
        sys::cap_delete(pmo)?;
    }
    let stack = sys::create_pmo(STACK_SIZE, PmoKind::Anonym)?;
    sys::map_pmo(group, stack, STACK_TOP - STACK_SIZE, perm::READ | perm::WRITE)?;
    // The argument block at the top of the stack, 16-byte aligned.
    let probe = chcore_proc::args::encode(args, 0).map_err(|_| Error::InvalidArgument)?;
    let at = (STACK_TOP - probe.len() as u64) & !15;
    let block = chcore_proc::args::encode(args, at).map_err(|_| Error::InvalidArgument)?;
    sys::write_pmo(stack, at - (STACK_TOP - STACK_SIZE), &block)?;
    sys::cap_delete(stack)?;
    Ok((plan.entry, at))
}

/// A read-only segment of a ramdisk program whose pages lie page-aligned in
/// the ramdisk (the build aligns every file there) is mapped straight from
/// the ramdisk (`Segment::shared_pages`): nothing copied, nothing
/// allocated. The capability carries no WRITE, so the text can never be
/// written (and fork shares it). Returns `None` when the segment must be
/// copied instead.
fn ramdisk_slice(image: &[u8], seg: &kernel_core::elf_load::Segment) -> Result<Option<Slot>, Error> {
    let at = image.as_ptr() as u64;
    let size = RAMDISK_SIZE.load(Ordering::Relaxed);
    if at < RAMDISK_VA || at + image.len() as u64 > RAMDISK_VA + size {
        return Ok(None);
    }
    let Some(first) = seg.shared_pages(at - RAMDISK_VA, size) else { return Ok(None) };
    let mut rights = Rights::MAP.union(Rights::READ);
    if seg.perm & perm::EXEC != 0 {
        rights = rights.union(Rights::EXEC);
    }
    sys::pmo_slice(slot::ROOT_RAMDISK, first, seg.pages().1, rights).map(Some)
}

/// Start `group`'s first thread at `pc` (stack and argument `sp`). The
/// process must already be in the table: its first call may come at once.
fn start(group: Slot, pc: u64, sp: u64, notified: &mut bool) -> Result<(), Error> {
    sys::cap_group_exit_notify(group, EXITED.load(Ordering::SeqCst))?;
    *notified = true;
    let t = sys::create_thread(group, pc, sp, sp)?;
    sys::cap_delete(t)
}

/// Put a process in the table; returns its pid.
fn register(badge: u64, ppid: u64, name: &str, group: Slot, fds: Fds) -> u64 {
    let mut t = TABLE.lock();
    let pid = t.next_pid;
    t.next_pid += 1;
    // A parent that ended while its call was being served hands the child
    // straight to procmgr, as the reaper would have.
    let orphan = ppid != ROOT_PID && !t.procs.get(&ppid).is_some_and(|p| p.state == State::Running);
    let ppid = if orphan { ROOT_PID } else { ppid };
    t.badges.insert(badge, pid);
    t.procs.insert(
        pid,
        Process {
            ppid,
            badge,
            suspect: false,
            name: String::from(name),
            group,
            fds,
            state: State::Running,
            exit_code: None,
            orphan,
            child_note: None,
        },
    );
    t.kids.entry(ppid).or_default().all.insert(pid);
    pid
}

/// Undo `register` and end the group after a failed start; `notified`:
/// its exit notification was set up (it will arrive for a group no longer
/// in the table).
fn discard(pid: u64, group: Slot, notified: bool) {
    {
        let mut t = TABLE.lock();
        t.remove(pid);
        if notified {
            t.strays += 1;
        }
    }
    let _ = sys::cap_group_kill(group);
    let _ = sys::cap_delete(group);
}

/// Start a program on behalf of `parent` with `fds`; returns the pid.
pub fn spawn(parent: u64, path: &str, args: &[&str], fds: Fds) -> Result<u64, Error> {
    let image = program(path).ok_or(Error::NotFound)?;
    let name = args.first().copied().unwrap_or(path);
    let (group, badge) = new_group(name)?;
    let pid = register(badge, parent, name, group, fds);
    let mut notified = false;
    match load(group, image, args).and_then(|(pc, sp)| start(group, pc, sp, &mut notified)) {
        Ok(()) => Ok(pid),
        Err(e) => {
            discard(pid, group, notified);
            Err(e)
        }
    }
}

/// Start `path` with the console as its standard files.
pub fn spawn_with_console(path: &str, args: &[&str]) -> Result<u64, Error> {
    let console = Arc::new(File(FileKind::Console));
    let mut fds: Fds = (0..3).map(|_| Some(console.clone())).collect();
    fds.resize_with(proto::MAX_FDS, || None);
    spawn(ROOT_PID, path, args, fds)
}

/// Wait for process `pid` (a child of procmgr) to end; returns its status.
pub fn wait_root_child(pid: u64) -> (i32, bool) {
    loop {
        if let Some(s) = take_zombie(ROOT_PID, pid) {
            return (s.1, s.2);
        }
        // Notified for every child of procmgr that ends (the reaper); the
        // count keeps a wake-up that comes before this wait.
        let _ = sys::wait(ZOMBIE.load(Ordering::SeqCst), None);
    }
}

/// Remove and return a zombie child of `parent` (any if `pid` is ANY_CHILD).
fn take_zombie(parent: u64, pid: u64) -> Option<(u64, i32, bool)> {
    let mut t = TABLE.lock();
    let found = if pid == proto::ANY_CHILD {
        *t.kids.get(&parent)?.zombies.first()?
    } else {
        t.procs.get(&pid).filter(|p| p.ppid == parent && matches!(p.state, State::Zombie(..)))?;
        pid
    };
    let pr = forget(&mut t, found)?;
    match pr.state {
        State::Zombie(code, killed) => Some((found, code, killed)),
        State::Running => None,
    }
}

/// How long the reaper waits for an exit notification, while strays are
/// expected, before it checks every process anyway (ticks).
const REAPER_IDLE_CHECK: u64 = 100;

/// Waits for the kernel's exit notifications and turns ended processes
/// into zombies: files closed, status recorded, orphans given to procmgr.
///
/// A notification does not say which cap_group ended. Asking every process
/// would cost a system call per process per exit (1,000 processes made a
/// fork and exec three times dearer), so the reaper first looks at the
/// suspects (processes that announced EXIT or were killed through procmgr)
/// and counts notifications procmgr caused itself for groups no longer in
/// the table (`strays`); only a notification neither explains (a fault, a
/// raw `cap_group_exit`), or a quiet spell while strays are expected, makes
/// it look at everyone.
extern "C" fn reaper(_: u64) -> ! {
    let exited = EXITED.load(Ordering::SeqCst);
    loop {
        // The kernel notifies for each group that ends (at once if it ended
        // before it was registered); a count, so nothing is missed between
        // two scans. Only while strays are expected is there a timeout: a
        // stray counted for a group that had already ended by itself would
        // otherwise hide the next real exit for good. With none expected,
        // an idle system's reaper never wakes.
        let timeout = if TABLE.lock().strays > 0 { Some(REAPER_IDLE_CHECK) } else { None };
        let woken = sys::wait(exited, timeout).is_ok();
        let mut pending = u64::from(woken);
        while sys::wait(exited, Some(0)).is_ok() {
            pending += 1;
        }
        let mut ended = Vec::new();
        {
            let mut t = TABLE.lock();
            let suspects = core::mem::take(&mut t.suspects);
            for pid in suspects {
                if let Some(fds) = reap_if_ended(&mut t, pid) {
                    ended.push((pid, fds));
                    pending = pending.saturating_sub(1);
                } else if t.procs.get(&pid).is_some_and(|p| p.state == State::Running) {
                    t.suspects.push(pid);
                } else if let Some(p) = t.procs.get_mut(&pid) {
                    p.suspect = false;
                }
            }
            let strays = pending.min(t.strays);
            pending -= strays;
            t.strays -= strays;
            if pending > 0 || !woken {
                let running: Vec<u64> =
                    t.procs.iter().filter(|(_, p)| p.state == State::Running).map(|(&pid, _)| pid).collect();
                for pid in running {
                    if let Some(fds) = reap_if_ended(&mut t, pid) {
                        ended.push((pid, fds));
                    }
                }
                if !woken {
                    // Quiet: whatever strays were expected have come (or
                    // never will); counting on them could hide an exit.
                    t.strays = 0;
                }
            }
            for (pid, _) in &ended {
                became_zombie(&mut t, *pid);
            }
        }
        // A process stopped inside a pipe read or write leaves the pipe's
        // lock held: release it. Files close here, outside the table's lock
        // (closing a pipe end notifies).
        for (pid, fds) in &ended {
            for f in fds.iter().flatten() {
                if let FileKind::PipeRead(p) | FileKind::PipeWrite(p) = &f.0 {
                    p.ended(*pid);
                }
            }
        }
        drop(ended);
    }
}

/// If running process `pid` has ended, mark it a zombie with its status and
/// return its files (to be closed outside the table's lock).
fn reap_if_ended(t: &mut Table, pid: u64) -> Option<Fds> {
    let pr = t.procs.get_mut(&pid).filter(|p| p.state == State::Running)?;
    let st = sys::cap_group_state(pr.group).unwrap_or(group_state::KILLED);
    pr.state = match st & 0xFF {
        group_state::ALIVE => return None,
        group_state::EXITED => State::Zombie(pr.exit_code.unwrap_or((st >> 8) as u32 as i32), false),
        _ => State::Zombie(pr.exit_code.unwrap_or(-1), pr.exit_code.is_none()),
    };
    pr.suspect = false;
    let badge = pr.badge;
    let fds = core::mem::take(&mut pr.fds);
    t.badges.remove_if(badge, pid);
    Some(fds)
}

/// `pid` just became a zombie: its children go to procmgr (those already
/// ended are reaped now: nobody will wait for them), its parent is told,
/// and if it is an orphan itself it is reaped at once.
fn became_zombie(t: &mut Table, pid: u64) {
    if let Some(kids) = t.kids.remove(&pid) {
        for c in kids.all {
            let zombie = match t.procs.get_mut(&c) {
                Some(p) => {
                    p.ppid = ROOT_PID;
                    p.orphan = true;
                    p.state != State::Running
                }
                None => continue,
            };
            t.kids.entry(ROOT_PID).or_default().all.insert(c);
            if zombie {
                forget(t, c);
            }
        }
    }
    let Some(p) = t.procs.get(&pid) else { return };
    let (ppid, orphan) = (p.ppid, p.orphan);
    if orphan {
        forget(t, pid);
        return;
    }
    if let Some(k) = t.kids.get_mut(&ppid) {
        k.zombies.insert(pid);
    }
    // Each parent has its own notification, so no waiter takes another's
    // wake-up.
    let note = if ppid == ROOT_PID {
        Some(ZOMBIE.load(Ordering::SeqCst))
    } else {
        t.procs.get(&ppid).and_then(|p| p.child_note)
    };
    if let Some(n) = note {
        let _ = sys::notify(n);
    }
}

/// Take `pid` out of the table and give up its capabilities (its group,
/// its child notification); returns what it was (for its status).
fn forget(t: &mut Table, pid: u64) -> Option<Process> {
    let p = t.remove(pid)?;
    let _ = sys::cap_delete(p.group);
    if let Some(n) = p.child_note {
        let _ = sys::cap_delete(n);
    }
    Some(p)
}

/// Whether process `pid` has not ended.
fn running(pid: u64) -> bool {
    TABLE.lock().procs.get(&pid).is_some_and(|p| p.state == State::Running)
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
        proto::GETPID => Ok(ok(pid, [TABLE.lock().procs.get(&pid).map_or(0, |p| p.ppid), 0, 0])),
        proto::PIPE => op_pipe(pid),
        proto::READ => op_read(pid, a, (b as usize).min(req.data.len()), req.data),
        proto::WRITE => op_write(pid, a, &req.data[..(b as usize).min(req.data.len())]),
        proto::CLOSE => {
            let f = TABLE.lock().procs.get_mut(&pid).and_then(|p| p.fds.get_mut(a as usize)).and_then(Option::take);
            f.map(|_| ok(0, [0; 3])).ok_or(Error::BadFd)
        }
        proto::DUP2 => op_dup2(pid, a, b),
        proto::OPEN => op_open(pid, req.data),
        proto::LIST => Ok(op_list(req.data)),
        proto::PS => Ok(op_ps(req.data)),
        proto::PIPE_SHARE => op_pipe_share(pid, a, req),
        proto::KEY => op_key(pid, a),
        _ => Err(Error::NoSyscall),
    };
    result.unwrap_or_else(err)
}

fn op_spawn(pid: u64, data: &[u8], std: [u64; 3]) -> Result<Reply, Error> {
    let (path, args) = chcore_proc::args::split_request(data).ok_or(Error::InvalidArgument)?;
    let mut fds: Fds = Vec::new();
    for f in std {
        fds.push(Some(fd(pid, f)?));
    }
    fds.resize_with(proto::MAX_FDS, || None);
    let child = spawn(pid, path, &args, fds)?;
    Ok(ok(child, [0; 3]))
}

fn op_fork(pid: u64, resume: [u64; 3]) -> Result<Reply, Error> {
    let (parent_group, name, fds) = {
        let t = TABLE.lock();
        let p = t.procs.get(&pid).ok_or(Error::InvalidArgument)?;
        (p.group, p.name.clone(), p.fds.clone())
    };
    let (group, badge) = new_group(&name)?;
    let child = register(badge, pid, &name, group, fds);
    let mut notified = false;
    let started = sys::vmspace_clone(group, parent_group).and_then(|_| {
        sys::cap_group_exit_notify(group, EXITED.load(Ordering::SeqCst))?;
        notified = true;
        // The child resumes with the parent's saved registers (see libchcore's fork).
        let t = sys::create_thread(group, resume[0], resume[1], resume[2])?;
        sys::cap_delete(t)
    });
    if let Err(e) = started {
        discard(child, group, notified);
        return Err(e);
    }
    Ok(ok(child, [0; 3]))
}

fn op_exec(pid: u64, old_badge: u64, data: &[u8]) -> Result<Reply, Error> {
    let (path, args) = chcore_proc::args::split_request(data).ok_or(Error::InvalidArgument)?;
    let image = program(path).ok_or(Error::NotFound)?;
    // Check the image before anything changes: a bad one leaves the caller running.
    kernel_core::elf_load::plan(image).map_err(|_| Error::InvalidArgument)?;
    let name = args.first().copied().unwrap_or(path);
    let (group, badge) = new_group(name)?;
    let (pc, sp) = match load(group, image, &args) {
        Ok(x) => x,
        Err(e) => {
            let _ = sys::cap_group_kill(group);
            let _ = sys::cap_delete(group);
            return Err(e);
        }
    };
    // The same process (pid, parent, files) now lives in the new cap_group.
    let old = {
        let mut t = TABLE.lock();
        let p = t.procs.get_mut(&pid).ok_or(Error::InvalidArgument)?;
        let old = core::mem::replace(&mut p.group, group);
        p.name = String::from(name);
        p.badge = badge;
        t.badges.remove(old_badge);
        t.badges.insert(badge, pid);
        // The old image's end is announced like any other.
        t.strays += 1;
        old
    };
    let _ = sys::cap_group_kill(old);
    let _ = sys::cap_delete(old);
    if let Err(e) = start(group, pc, sp, &mut false) {
        // Too late to go back: the old image is gone. The process ends.
        libchcore::println!("procmgr: exec of {name} could not start: {e:?}");
        TABLE.lock().suspect(pid);
        let _ = sys::cap_group_kill(group);
    }
    Ok(ok(0, [0; 3]))
}

fn op_wait(pid: u64, which: u64, nohang: bool) -> Result<Reply, Error> {
    let note = {
        let existing = TABLE.lock().procs.get(&pid).and_then(|p| p.child_note);
        match existing {
            Some(n) => n,
            None => {
                let n = sys::create_notification()?;
                if let Some(p) = TABLE.lock().procs.get_mut(&pid) {
                    p.child_note = Some(n);
                }
                n
            }
        }
    };
    loop {
        if let Some((child, code, killed)) = take_zombie(pid, which) {
            return Ok(ok(child, [code as u32 as u64, killed as u64, 0]));
        }
        let has_child = {
            let t = TABLE.lock();
            if which == proto::ANY_CHILD {
                t.kids.get(&pid).is_some_and(|k| !k.all.is_empty())
            } else {
                t.procs.get(&which).is_some_and(|p| p.ppid == pid)
            }
        };
        if !has_child {
            return Err(Error::NoChild);
        }
        if nohang {
            return Ok(ok(0, [0; 3]));
        }
        // The reaper notifies `note` for each child that ends; the note was
        // made before the first look, so no wake-up falls between. The
        // kernel ends the wait with `PeerDead` when the caller is gone.
        if sys::wait(note, None) == Err(Error::PeerDead) {
            return Err(Error::PeerDead);
        }
    }
}

fn op_kill(pid: u64, target: u64) -> Result<Reply, Error> {
    if target == ROOT_PID || target == pid {
        return Err(Error::InvalidArgument);
    }
    let group = {
        let mut t = TABLE.lock();
        let group =
            t.procs.get(&target).filter(|p| p.state == State::Running).map(|p| p.group).ok_or(Error::NotFound)?;
        t.suspect(target);
        group
    };
    sys::cap_group_kill(group)?;
    Ok(ok(0, [0; 3]))
}

/// The pipe end behind fd `n` of `pid`, for the caller to map (see
/// `proto::PIPE_SHARE`). The capabilities sent are copies: procmgr's stay.
fn op_pipe_share(pid: u64, n: u64, req: &mut Request) -> Result<Reply, Error> {
    let file = fd(pid, n)?;
    let (p, kind) = match &file.0 {
        FileKind::PipeRead(p) => (p, proto::PIPE_READ_END),
        FileKind::PipeWrite(p) => (p, proto::PIPE_WRITE_END),
        _ => return Ok(ok(0, [proto::NOT_A_PIPE, 0, 0])),
    };
    req.reply_cap(p.shm, Rights::READ.union(Rights::WRITE).union(Rights::MAP))?;
    req.reply_cap(p.data, Rights::READ.union(Rights::WRITE))?;
    req.reply_cap(p.room, Rights::READ.union(Rights::WRITE))?;
    req.reply_cap(p.lock, Rights::READ.union(Rights::WRITE))?;
    Ok(ok(0, [kind, pid, 0]))
}

fn op_pipe(pid: u64) -> Result<Reply, Error> {
    let p = Arc::new(Pipe::new()?);
    let r = install(pid, pipe_end(&p, false))?;
    let w = match install(pid, pipe_end(&p, true)) {
        Ok(w) => w,
        Err(e) => {
            let _ = TABLE.lock().procs.get_mut(&pid).map(|pr| pr.fds[r as usize].take());
            return Err(e);
        }
    };
    Ok(ok(0, [r, w, 0]))
}

/// Read a line from the console with echo and backspace.
/// For process `pid`; if it ends while waiting (killed), the read ends
/// too, or its handler would go on taking the console's input.
fn console_line(out: &mut [u8], pid: u64) -> usize {
    let mut n = 0;
    while n < out.len() {
        let Ok(c) = console_byte(pid, None) else { return 0 };
        match c {
            b'\r' | b'\n' => {
                let _ = sys::putstr(b"\n");
                out[n] = b'\n';
                return n + 1;
            }
            0x08 | 0x7F => {
                if n > 0 {
                    n -= 1;
                    let _ = sys::putstr(b"\x08 \x08");
                }
            }
            c => {
                let _ = sys::putstr(&[c]);
                out[n] = c;
                n += 1;
            }
        }
    }
    n
}

fn op_read(pid: u64, n: u64, len: usize, out: &mut [u8]) -> Result<Reply, Error> {
    let file = fd(pid, n)?;
    let out = &mut out[..len];
    let got = match &file.0 {
        FileKind::Console => console_line(out, pid),
        FileKind::Ram { data, pos } => {
            let mut p = pos.lock();
            let k = out.len().min(data.len() - *p);
            out[..k].copy_from_slice(&data[*p..*p + k]);
            *p += k;
            k
        }
        // Pipes are read and written in shared memory (PIPE_SHARE).
        FileKind::PipeRead(_) | FileKind::PipeWrite(_) => return Err(Error::BadFd),
    };
    Ok(ok(got as u64, [0; 3]))
}

fn op_write(pid: u64, n: u64, data: &[u8]) -> Result<Reply, Error> {
    let file = fd(pid, n)?;
    let put = match &file.0 {
        FileKind::Console => {
            for chunk in data.chunks(libchcore::abi::PUTSTR_MAX as usize) {
                sys::putstr(chunk)?;
            }
            data.len()
        }
        _ => return Err(Error::BadFd),
    };
    Ok(ok(put as u64, [0; 3]))
}

fn op_dup2(pid: u64, old: u64, new: u64) -> Result<Reply, Error> {
    let file = fd(pid, old)?;
    let previous = {
        let mut t = TABLE.lock();
        let p = t.procs.get_mut(&pid).ok_or(Error::InvalidArgument)?;
        let slot = p.fds.get_mut(new as usize).ok_or(Error::BadFd)?;
        slot.replace(file)
    };
    drop(previous);
    Ok(ok(new, [0; 3]))
}

fn op_open(pid: u64, data: &[u8]) -> Result<Reply, Error> {
    let path =
        core::str::from_utf8(data.split(|&b| b == 0).next().unwrap_or(&[])).map_err(|_| Error::InvalidArgument)?;
    let name = path.trim_start_matches('/');
    let entry = RAMDISK.get().and_then(|r| r.find(name)).ok_or(Error::NotFound)?;
    let fd = install(pid, Arc::new(File(FileKind::Ram { data: entry.data, pos: Mutex::new(0) })))?;
    Ok(ok(fd, [0; 3]))
}

fn op_list(out: &mut [u8]) -> Reply {
    let mut n = 0;
    for e in RAMDISK.get().map(|r| r.entries()).unwrap_or(&[]) {
        let name = e.name.as_bytes();
        if n + name.len() + 1 > out.len() {
            break;
        }
        out[n..n + name.len()].copy_from_slice(name);
        out[n + name.len()] = 0;
        n += name.len() + 1;
    }
    ok(n as u64, [0; 3])
}

fn op_ps(out: &mut [u8]) -> Reply {
    // CPU time in ticks and memory in KiB, from the kernel's accounts.
    let usage = |g: Slot| (sys::cap_group_cpu_time(g).unwrap_or(0), sys::mem_usage(g).unwrap_or(0) >> 10);
    let (cpu, mem) = usage(slot::SELF_CAP_GROUP);
    let mut text = alloc::format!("PID PPID STATE CPU MEM NAME\n1 0 running {cpu} {mem} procmgr\n");
    for (pid, p) in TABLE.lock().procs.iter() {
        let state = match p.state {
            State::Running => "running",
            State::Zombie(..) => "zombie",
        };
        let (cpu, mem) = usage(p.group);
        text.push_str(&alloc::format!("{pid} {} {state} {cpu} {mem} {}\n", p.ppid, p.name));
    }
    let n = text.len().min(out.len());
    out[..n].copy_from_slice(&text.as_bytes()[..n]);
    ok(n as u64, [0; 3])
}

/// One raw console key for `pid` within `ticks` (see `proto::KEY`).
fn op_key(pid: u64, ticks: u64) -> Result<Reply, Error> {
    let deadline = if ticks == u64::MAX { None } else { Some(sys::get_tick().saturating_add(ticks)) };
    console_byte(pid, deadline).map(|c| ok(u64::from(c), [0; 3]))
}

/// The next console byte for process `pid`, waiting for input until tick
/// `deadline` (`None`: for ever; then `Timeout`). `PeerDead` once `pid`
/// has ended: its handler must not go on taking input meant for others.
fn console_byte(pid: u64, deadline: Option<u64>) -> Result<u8, Error> {
    loop {
        if let Ok(c) = sys::getc() {
            return Ok(c);
        }
        if !running(pid) {
            return Err(Error::PeerDead);
        }
        let left = match deadline {
            None => None,
            Some(d) => Some(d.checked_sub(sys::get_tick()).filter(|l| *l > 0).ok_or(Error::Timeout)?),
        };
        // The console's receive interrupt notifies this (or the time is
        // up); either way, look again. The kernel ends the wait with
        // `PeerDead` when the reader is gone.
        if sys::wait(slot::ROOT_CONSOLE_INPUT, left) == Err(Error::PeerDead) {
            return Err(Error::PeerDead);
        }
    }
}
