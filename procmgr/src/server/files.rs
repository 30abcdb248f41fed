//! Files per process: the console (its line discipline and raw keys),
//! pipes (made here, read and written in shared memory by the processes),
//! the ramdisk's list, and the process list (`ps`). Files on file systems
//! are `fs`'s.

use super::*;

/// The pipe end behind fd `n` of `pid`, for the caller to map (see
/// `proto::PIPE_SHARE`). The capabilities sent are copies: procmgr's stay.
pub(super) fn op_pipe_share(pid: u64, n: u64, req: &mut Request) -> Result<Reply, Error> {
    let file = fd(pid, n)?;
    let (p, kind) = match &file.0 {
        FileKind::PipeRead(p) => (p, proto::PIPE_READ_END),
        FileKind::PipeWrite(p) => (p, proto::PIPE_WRITE_END),
        FileKind::Fs(f) => return Ok(fs::share(pid, f)),
        FileKind::Console => return Ok(ok(0, [proto::CONSOLE, 0, 0])),
    };
    req.reply_cap(p.shm, Rights::READ.union(Rights::WRITE).union(Rights::MAP))?;
    req.reply_cap(p.data, Rights::READ.union(Rights::WRITE))?;
    req.reply_cap(p.room, Rights::READ.union(Rights::WRITE))?;
    req.reply_cap(p.lock, Rights::READ.union(Rights::WRITE))?;
    Ok(ok(0, [kind, pid, 0]))
}

pub(super) fn op_pipe(pid: u64) -> Result<Reply, Error> {
    let group = TABLE.lock().procs.get(&pid).map(|p| p.group).ok_or(Error::InvalidArgument)?;
    let p = Arc::new(Pipe::new(group)?);
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

/// Ctrl-C presses so far: a console read that sees this change while it
/// waits ends with an empty line (what was typed is dropped).
static INTERRUPTS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The console's foreground job: (the process that named it, its pids).
static FOREGROUND: spin::Mutex<(u64, Vec<u64>)> = spin::Mutex::new((0, Vec::new()));

/// `proto::FOREGROUND`: `pid` names `count` of its running children (pids
/// in `data`) as the console's foreground job, or clears it.
pub(super) fn op_foreground(pid: u64, count: u64, data: &[u8]) -> Result<Reply, Error> {
    let n = usize::try_from(count)
        .ok()
        .filter(|&n| n.checked_mul(8).is_some_and(|bytes| bytes <= data.len()))
        .ok_or(Error::InvalidArgument)?;
    let pids: Vec<u64> =
        data[..n * 8].chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect();
    let t = TABLE.lock();
    let child = |p: &u64| t.procs.get(p).is_some_and(|c| c.ppid == pid && c.state == State::Running);
    if !pids.iter().all(child) {
        return Err(Error::NotFound);
    }
    let mut fg = FOREGROUND.lock();
    // A process inside the foreground job (a script's shell) leaves it as
    // it is: Ctrl-C ends the job with everything it started anyway.
    let mut up = Some(pid);
    while let Some(p) = up.filter(|p| *p != ROOT_PID) {
        if fg.0 != pid && fg.1.contains(&p) {
            return Ok(ok(0, [0; 3]));
        }
        up = t.procs.get(&p).map(|pr| pr.ppid);
    }
    if n > 0 || fg.0 == pid {
        *fg = (pid, pids);
    }
    Ok(ok(0, [0; 3]))
}

/// The process with the console in raw mode (`proto::RAW`; 0: none).
static RAW_OWNER: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
/// A Ctrl-C that came in raw mode, for the owner's next key.
static RAW_CTRL_C: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Whether a running process has the console in raw mode: its pid.
fn raw_owner() -> Option<u64> {
    let owner = RAW_OWNER.load(core::sync::atomic::Ordering::SeqCst);
    (owner != 0 && running(owner)).then_some(owner)
}

/// `proto::RAW`: raw mode on (`on` = 1) or off for `pid`.
pub(super) fn op_raw(pid: u64, on: u64) -> Result<Reply, Error> {
    use core::sync::atomic::Ordering::SeqCst;
    if on == 1 {
        if raw_owner().is_some_and(|o| o != pid) {
            return Err(Error::Busy);
        }
        RAW_CTRL_C.store(false, SeqCst);
        RAW_OWNER.store(pid, SeqCst);
    } else if RAW_OWNER.load(SeqCst) == pid {
        RAW_OWNER.store(0, SeqCst);
    }
    Ok(ok(0, [0; 3]))
}

/// The thread that answers Ctrl-C (the kernel keeps it out of the console
/// input and notifies `ROOT_CONSOLE_INTERRUPT`): it shows `^C`, ends the
/// foreground job and everything it started (status 130), and makes a
/// console read in progress give up its line. In raw mode it only hands
/// the key to the raw reader.
pub(super) extern "C" fn interrupter(_: u64) -> ! {
    loop {
        if sys::wait(slot::ROOT_CONSOLE_INTERRUPT, None).is_err() {
            sys::thread_exit();
        }
        if raw_owner().is_some() {
            RAW_CTRL_C.store(true, core::sync::atomic::Ordering::SeqCst);
            let _ = sys::notify(slot::ROOT_CONSOLE_INPUT);
            continue;
        }
        let _ = sys::putstr(b"^C\n");
        INTERRUPTS.fetch_add(1, core::sync::atomic::Ordering::SeqCst);
        let job = core::mem::take(&mut FOREGROUND.lock().1);
        let groups: Vec<u64> = {
            let mut t = TABLE.lock();
            // The job and its descendants, found by parent links.
            let mut doomed: Vec<u64> = job;
            let mut grew = true;
            while grew {
                let more: Vec<u64> = t
                    .procs
                    .iter()
                    .filter(|(p, pr)| pr.state == State::Running && doomed.contains(&pr.ppid) && !doomed.contains(p))
                    .map(|(p, _)| *p)
                    .collect();
                grew = !more.is_empty();
                doomed.extend(more);
            }
            doomed
                .into_iter()
                .filter(|p| *p != ROOT_PID && !super::fs::is_server(*p))
                .filter_map(|p| {
                    let pr = t.procs.get_mut(&p).filter(|pr| pr.state == State::Running)?;
                    pr.exit_code = Some(proto::INTERRUPTED);
                    let g = pr.group;
                    t.suspect(p);
                    Some(g)
                })
                .collect()
        };
        for g in groups {
            let _ = sys::cap_group_kill(g);
        }
        // Readers waiting for a key look again, and see the press.
        let _ = sys::notify(slot::ROOT_CONSOLE_INPUT);
    }
}

/// Read a line from the console with echo and backspace. Ctrl-D ends the
/// read where it is: at the start of a line that is end of file (0 bytes),
/// elsewhere the line so far, without a newline (as a terminal does).
/// For process `pid`; if it ends while waiting (killed), the read ends
/// too, or its handler would go on taking the console's input.
pub(super) fn console_line(out: &mut [u8], pid: u64) -> usize {
    let mut n = 0;
    let presses = INTERRUPTS.load(core::sync::atomic::Ordering::SeqCst);
    while n < out.len() {
        let c = match console_byte(pid, None, presses) {
            Ok(c) => c,
            // Ctrl-C: the line typed so far is dropped (procmgr showed ^C).
            Err(Error::Interrupted) => {
                out[0] = b'\n';
                return 1;
            }
            Err(_) => return 0,
        };
        match c {
            b'\r' | b'\n' => {
                let _ = sys::putstr(b"\n");
                out[n] = b'\n';
                return n + 1;
            }
            0x04 => return n,
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

pub(super) fn op_read(pid: u64, n: u64, len: usize, out: &mut [u8]) -> Result<Reply, Error> {
    let file = fd(pid, n)?;
    let out = &mut out[..len];
    let got = match &file.0 {
        FileKind::Console => console_line(out, pid),
        // Pipes are read and written in shared memory (PIPE_SHARE); files
        // went to their file system (`fs::forward_rw`).
        FileKind::PipeRead(_) | FileKind::PipeWrite(_) | FileKind::Fs(_) => return Err(Error::BadFd),
    };
    Ok(ok(got as u64, [0; 3]))
}

pub(super) fn op_write(pid: u64, n: u64, data: &[u8]) -> Result<Reply, Error> {
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

pub(super) fn op_dup2(pid: u64, old: u64, new: u64) -> Result<Reply, Error> {
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

pub(super) fn op_list(out: &mut [u8]) -> Reply {
    let mut n = 0;
    // The programs in /bin: the test programs (`tests/...`) are not the user's.
    for e in RAMDISK.get().map(|r| r.entries()).unwrap_or(&[]).iter().filter(|e| !e.name.contains('/')) {
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

pub(super) fn op_ps(out: &mut [u8]) -> Reply {
    // CPU time in ticks, memory and kernel memory in KiB, from the
    // kernel's accounts (procmgr's hold everyone's: accounts nest).
    let usage = |g: Slot| {
        let kib = |r: Result<u64, Error>| r.unwrap_or(0) >> 10;
        (sys::cap_group_cpu_time(g).unwrap_or(0), kib(sys::mem_usage(g)), kib(sys::kmem_usage(g)))
    };
    let (cpu, mem, kmem) = usage(slot::SELF_CAP_GROUP);
    let mut text = alloc::format!("PID PPID STATE CPU MEM KMEM NAME\n1 0 running {cpu} {mem} {kmem} procmgr\n");
    for (pid, p) in TABLE.lock().procs.iter() {
        let state = match p.state {
            State::Running => "running",
            State::Zombie(..) => "zombie",
        };
        let (cpu, mem, kmem) = usage(p.group);
        text.push_str(&alloc::format!("{pid} {} {state} {cpu} {mem} {kmem} {}\n", p.ppid, p.name));
    }
    let n = text.len().min(out.len());
    out[..n].copy_from_slice(&text.as_bytes()[..n]);
    ok(n as u64, [0; 3])
}

/// One raw console key for `pid` within `ticks`, unless Ctrl-C has been
/// pressed since count `since` (see `proto::KEY`).
pub(super) fn op_key(pid: u64, ticks: u64, since: u64) -> Result<Reply, Error> {
    let deadline = if ticks == u64::MAX { None } else { Some(sys::get_tick().saturating_add(ticks)) };
    let presses = if since == u64::MAX { INTERRUPTS.load(core::sync::atomic::Ordering::SeqCst) } else { since };
    console_byte(pid, deadline, presses).map(|c| ok(u64::from(c), [presses, 0, 0]))
}

/// The next console byte for process `pid`, waiting for input until tick
/// `deadline` (`None`: for ever; then `Timeout`). `PeerDead` once `pid`
/// has ended: its handler must not go on taking input meant for others.
/// `Interrupted` once Ctrl-C has been pressed more than `presses` times.
pub(super) fn console_byte(pid: u64, deadline: Option<u64>, presses: u64) -> Result<u8, Error> {
    loop {
        if raw_owner() == Some(pid) && RAW_CTRL_C.swap(false, core::sync::atomic::Ordering::SeqCst) {
            return Ok(0x03);
        }
        if INTERRUPTS.load(core::sync::atomic::Ordering::SeqCst) != presses {
            return Err(Error::Interrupted);
        }
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
