//! Process life: the reaper that turns ended groups into zombies, `wait`,
//! and the `SPAWN`, `FORK`, `EXEC`, `WAIT` and `KILL` operations.

use super::*;

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
pub(super) fn take_zombie(parent: u64, pid: u64) -> Option<(u64, i32, bool)> {
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
pub(super) const REAPER_IDLE_CHECK: u64 = 100;

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
pub(super) extern "C" fn reaper(_: u64) -> ! {
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
            fs::ended(*pid);
        }
        drop(ended);
    }
}

/// If running process `pid` has ended, mark it a zombie with its status and
/// return its files (to be closed outside the table's lock).
pub(super) fn reap_if_ended(t: &mut Table, pid: u64) -> Option<Fds> {
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
pub(super) fn became_zombie(t: &mut Table, pid: u64) {
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
pub(super) fn forget(t: &mut Table, pid: u64) -> Option<Process> {
    let p = t.remove(pid)?;
    let _ = sys::cap_delete(p.group);
    for n in [p.child_note, p.term_note].into_iter().flatten() {
        let _ = sys::cap_delete(n);
    }
    Some(p)
}

/// Whether process `pid` has not ended.
pub(super) fn running(pid: u64) -> bool {
    TABLE.lock().procs.get(&pid).is_some_and(|p| p.state == State::Running)
}

pub(super) fn op_spawn(pid: u64, data: &[u8], std: [u64; 3]) -> Result<Reply, Error> {
    let (path, args) = chcore_proc::args::split_request(data).ok_or(Error::InvalidArgument)?;
    let mut fds: Fds = Vec::new();
    for f in std {
        fds.push(Some(fd(pid, f)?));
    }
    fds.resize_with(proto::MAX_FDS, || None);
    let child = spawn(pid, path, &args, fds, Rights::NONE, Class::User)?;
    Ok(ok(child, [0; 3]))
}

pub(super) fn op_fork(pid: u64, resume: [u64; 3]) -> Result<Reply, Error> {
    let (parent_group, name, fds) = {
        let t = TABLE.lock();
        let p = t.procs.get(&pid).ok_or(Error::InvalidArgument)?;
        (p.group, p.name.clone(), p.fds.clone())
    };
    let (group, badge) = new_group(&name, Rights::NONE, Class::User)?;
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

pub(super) fn op_exec(pid: u64, old_badge: u64, data: &[u8]) -> Result<Reply, Error> {
    let (path, args) = chcore_proc::args::split_request(data).ok_or(Error::InvalidArgument)?;
    let (image, script) = prepare(pid, path, &args)?;
    let script: Option<Vec<&str>> = script.as_ref().map(|v| v.iter().map(String::as_str).collect());
    let args = script.as_deref().unwrap_or(&args);
    // Check the image before anything changes: a bad one leaves the caller running.
    kernel_core::elf_load::plan(&image).map_err(|_| Error::InvalidArgument)?;
    let name = args.first().copied().unwrap_or(path);
    let (group, badge) = new_group(name, Rights::NONE, Class::User)?;
    let (pc, sp) = match load(group, &image, args) {
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
        // The new image has not asked to hear of terminate requests.
        if let Some(n) = p.term_note.take() {
            let _ = sys::cap_delete(n);
        }
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
    // Its sessions were the old image's connections.
    fs::ended(pid);
    if let Err(e) = start(group, pc, sp, &mut false) {
        // Too late to go back: the old image is gone. The process ends.
        libchcore::println!("procmgr: exec of {name} could not start: {e:?}");
        TABLE.lock().suspect(pid);
        let _ = sys::cap_group_kill(group);
    }
    Ok(ok(0, [0; 3]))
}

pub(super) fn op_wait(pid: u64, which: u64, nohang: bool) -> Result<Reply, Error> {
    let note = {
        let found = TABLE.lock().procs.get(&pid).map(|p| (p.child_note, p.group));
        let (existing, group) = found.unwrap_or((None, slot::SELF_CAP_GROUP));
        match existing {
            Some(n) => n,
            None => {
                let n = sys::create_notification_for(group)?;
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

pub(super) fn op_kill(pid: u64, target: u64) -> Result<Reply, Error> {
    may_end(pid, target)?;
    end(target, None)
}

/// Whether `pid` may end (or ask to end) `target`: never procmgr, itself
/// or a file server.
fn may_end(pid: u64, target: u64) -> Result<(), Error> {
    if target == ROOT_PID || target == pid {
        return Err(Error::InvalidArgument);
    }
    // The file servers serve everyone: no process may end them.
    if fs::is_server(target) {
        return Err(Error::NoRights);
    }
    Ok(())
}

/// End `target` (`KILL`, or `TERMINATE` with the status it ends with).
fn end(target: u64, status: Option<i32>) -> Result<Reply, Error> {
    let group = {
        let mut t = TABLE.lock();
        let p = t.procs.get_mut(&target).filter(|p| p.state == State::Running).ok_or(Error::NotFound)?;
        if status.is_some() {
            p.exit_code = status;
        }
        let group = p.group;
        t.suspect(target);
        group
    };
    sys::cap_group_kill(group)?;
    Ok(ok(0, [0; 3]))
}

/// `proto::TERMINATE`: signal `target`'s terminate notification if it has
/// one, else end it with `TERMINATED`.
pub(super) fn op_terminate(pid: u64, target: u64) -> Result<Reply, Error> {
    may_end(pid, target)?;
    let note = TABLE.lock().procs.get(&target).filter(|p| p.state == State::Running).and_then(|p| p.term_note);
    match note {
        Some(n) => sys::notify(n).map(|_| ok(0, [0; 3])),
        None => end(target, Some(proto::TERMINATED)),
    }
}

/// `proto::TERM_NOTIFY`: a notification `pid` waits on for terminate
/// requests; answers its slot in `pid`.
pub(super) fn op_term_notify(pid: u64) -> Result<Reply, Error> {
    let group = {
        let t = TABLE.lock();
        let p = t.procs.get(&pid).ok_or(Error::InvalidArgument)?;
        if p.term_note.is_some() {
            return Err(Error::Busy);
        }
        p.group
    };
    let note = sys::create_notification_for(group)?;
    let theirs = match sys::cap_copy(note, group, Rights::READ) {
        Ok(s) => s,
        Err(e) => {
            let _ = sys::cap_delete(note);
            return Err(e);
        }
    };
    match TABLE.lock().procs.get_mut(&pid) {
        Some(p) if p.term_note.is_none() => p.term_note = Some(note),
        _ => {
            let _ = sys::cap_delete(note);
            return Err(Error::Busy);
        }
    }
    Ok(ok(theirs, [0; 3]))
}
