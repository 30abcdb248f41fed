//! Loading programs (from the ramdisk, or from a file) into new cap_groups:
//! `spawn`, `#!` scripts, and the pieces `exec` and `fork` share.

use super::*;
use alloc::borrow::Cow;
use chcore_fs::Errno;

/// A program's bytes: in the ramdisk (text mapped straight from there), or
/// read from a file.
pub(super) type Image = Cow<'static, [u8]>;

/// Longest program file outside `/bin`: it is read whole into procmgr
/// while it loads.
const PROGRAM_FILE_MAX: usize = 16 << 20;

/// Longest `#!` line of a script.
const SCRIPT_LINE_MAX: usize = 128;

/// The program `path` names for process `pid`: a bare name is looked up in
/// `/bin`, then `/tests` (the search path); a path with a slash is taken
/// from `pid`'s working directory, from the ramdisk under `/bin` and
/// `/tests` and read from its file system elsewhere (any regular file can
/// be run; there are no modes).
/// `NotFound` for no such file, `NoRights` for a directory, `NoMemory` for
/// a file over 16 MiB.
pub(super) fn program(pid: u64, path: &str) -> Result<Image, Error> {
    let in_ramdisk = |name: &str| RAMDISK.get().and_then(|r| r.find(name)).map(|e| Cow::Borrowed(e.data));
    if !path.contains('/') {
        return in_ramdisk(path)
            .or_else(|| in_ramdisk(&alloc::format!("{}{path}", fs::TESTS_PREFIX)))
            .ok_or(Error::NotFound);
    }
    let cwd = TABLE.lock().procs.get(&pid).map_or_else(fs::root_cwd, |p| p.cwd.clone());
    let full = chcore_fs::path::normalize(cwd.as_str(), path).map_err(|_| Error::NotFound)?;
    if let Some(name) = fs::ramdisk_name(&full) {
        return in_ramdisk(&name).ok_or(Error::NotFound);
    }
    fs::read_whole(&full, PROGRAM_FILE_MAX).map(Cow::Owned).map_err(|e| match e {
        Errno::EFBIG => Error::NoMemory,
        Errno::EACCES => Error::NoRights,
        Errno::EIO => Error::PeerDead,
        _ => Error::NotFound,
    })
}

/// What runs for `path` with `args`: the program itself, or for a script
/// (a file whose first line is `#!interpreter [argument]`) the interpreter,
/// given the line's argument and the script's path before the rest of
/// `args` (as Unix does). Returns the image and, for a script, the
/// arguments it gets instead of `args`.
pub(super) fn prepare(pid: u64, path: &str, args: &[&str]) -> Result<(Image, Option<Vec<String>>), Error> {
    let image = program(pid, path)?;
    let Some(rest) = image.strip_prefix(b"#!") else {
        return Ok((image, None));
    };
    let line = rest.split(|&b| b == b'\n').next().unwrap_or(rest);
    if line.len() > SCRIPT_LINE_MAX {
        return Err(Error::InvalidArgument);
    }
    let line = core::str::from_utf8(line).map_err(|_| Error::InvalidArgument)?.trim();
    let (interpreter, argument) = match line.split_once([' ', '\t']) {
        Some((i, a)) => (i, Some(a.trim())),
        None => (line, None),
    };
    if interpreter.is_empty() {
        return Err(Error::InvalidArgument);
    }
    let mut new_args = alloc::vec![String::from(interpreter)];
    new_args.extend(argument.filter(|a| !a.is_empty()).map(String::from));
    new_args.push(String::from(path));
    new_args.extend(args.iter().skip(1).map(|&a| String::from(a)));
    let image = program(pid, interpreter)?;
    // One level: an interpreter that is itself a script is refused.
    if image.starts_with(b"#!") {
        return Err(Error::InvalidArgument);
    }
    Ok((image, Some(new_args)))
}

/// A new cap_group with its connection to procmgr in slot 2, and `extra`
/// rights on itself beyond a process's usual ones (`DEVICE` for the
/// suites and drivers procmgr starts itself; see `create_cap_group`), its
/// memory counted as `class` says.
pub(super) fn new_group(name: &str, extra: Rights, class: Class) -> Result<(Slot, u64), Error> {
    // No count of processes: each costs memory (docs/memory.md), and when
    // what is left falls to the reserve, new ones are refused.
    if sys::free_memory() < RESERVE.load(Ordering::Relaxed) {
        return Err(Error::NoMemory);
    }
    let within = match (class, USERS.load(Ordering::Relaxed)) {
        (Class::User, users) if users != 0 => users,
        _ => slot::SELF_CAP_GROUP,
    };
    let group = sys::create_cap_group_in(name, extra, within)?;
    let limited = sys::set_mem_limit(group, MEM_LIMIT.load(Ordering::Relaxed))
        .and_then(|_| sys::set_kmem_limit(group, KMEM_LIMIT.load(Ordering::Relaxed)));
    if let Err(e) = limited {
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
pub(super) fn load(group: Slot, image: &[u8], args: &[&str]) -> Result<(u64, u64), Error> {
    let plan = kernel_core::elf_load::plan(image).map_err(|_| Error::InvalidArgument)?;
    for seg in &plan.segments {
        let (start, len) = seg.pages();
        if let Some(pmo) = ramdisk_slice(image, seg)? {
            sys::map_pmo(group, pmo, start, seg.perm | perm::READ)?;
            sys::cap_delete(pmo)?;
            continue;
        }
        let mut pmo = sys::create_pmo_for(group, len, PmoKind::Data)?;
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
    let stack = sys::create_pmo_for(group, STACK_SIZE, PmoKind::Anonym)?;
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
pub(super) fn ramdisk_slice(image: &[u8], seg: &kernel_core::elf_load::Segment) -> Result<Option<Slot>, Error> {
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
pub(super) fn start(group: Slot, pc: u64, sp: u64, notified: &mut bool) -> Result<(), Error> {
    sys::cap_group_exit_notify(group, EXITED.load(Ordering::SeqCst))?;
    *notified = true;
    let t = sys::create_thread(group, pc, sp, sp)?;
    sys::cap_delete(t)
}

/// Put a process in the table; returns its pid.
pub(super) fn register(badge: u64, ppid: u64, name: &str, group: Slot, fds: Fds) -> u64 {
    let mut t = TABLE.lock();
    let pid = t.next_pid;
    t.next_pid += 1;
    // A parent that ended while its call was being served hands the child
    // straight to procmgr, as the reaper would have.
    let orphan = ppid != ROOT_PID && !t.procs.get(&ppid).is_some_and(|p| p.state == State::Running);
    let ppid = if orphan { ROOT_PID } else { ppid };
    t.badges.insert(badge, pid);
    let cwd = t.procs.get(&ppid).map_or_else(fs::root_cwd, |p| p.cwd.clone());
    t.procs.insert(
        pid,
        Process {
            ppid,
            badge,
            suspect: false,
            name: String::from(name),
            group,
            fds,
            cwd,
            state: State::Running,
            exit_code: None,
            orphan,
            child_note: None,
            term_note: None,
        },
    );
    t.kids.entry(ppid).or_default().all.insert(pid);
    pid
}

/// Undo `register` and end the group after a failed start; `notified`:
/// its exit notification was set up (it will arrive for a group no longer
/// in the table).
pub(super) fn discard(pid: u64, group: Slot, notified: bool) {
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
pub fn spawn(parent: u64, path: &str, args: &[&str], fds: Fds, extra: Rights, class: Class) -> Result<u64, Error> {
    let (image, script) = prepare(parent, path, args)?;
    let script: Option<Vec<&str>> = script.as_ref().map(|v| v.iter().map(String::as_str).collect());
    let args = script.as_deref().unwrap_or(args);
    let name = args.first().copied().unwrap_or(path);
    let (group, badge) = new_group(name, extra, class)?;
    let pid = register(badge, parent, name, group, fds);
    let mut notified = false;
    match load(group, &image, args).and_then(|(pc, sp)| start(group, pc, sp, &mut notified)) {
        Ok(()) => Ok(pid),
        Err(e) => {
            discard(pid, group, notified);
            Err(e)
        }
    }
}

/// Start `path` with the console as its standard files and `extra` rights,
/// its memory counted as `class` says (see [`new_group`]).
pub fn spawn_with_console(path: &str, args: &[&str], extra: Rights, class: Class) -> Result<u64, Error> {
    let console = Arc::new(File(FileKind::Console));
    let mut fds: Fds = (0..3).map(|_| Some(console.clone())).collect();
    fds.resize_with(proto::MAX_FDS, || None);
    spawn(ROOT_PID, path, args, fds, extra, class)
}
