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

/// Read a line from the console with echo and backspace. Ctrl-D ends the
/// read where it is: at the start of a line that is end of file (0 bytes),
/// elsewhere the line so far, without a newline (as a terminal does).
/// For process `pid`; if it ends while waiting (killed), the read ends
/// too, or its handler would go on taking the console's input.
pub(super) fn console_line(out: &mut [u8], pid: u64) -> usize {
    let mut n = 0;
    while n < out.len() {
        let Ok(c) = console_byte(pid, None) else { return 0 };
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

pub(super) fn op_ps(out: &mut [u8]) -> Reply {
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
pub(super) fn op_key(pid: u64, ticks: u64) -> Result<Reply, Error> {
    let deadline = if ticks == u64::MAX { None } else { Some(sys::get_tick().saturating_add(ticks)) };
    console_byte(pid, deadline).map(|c| ok(u64::from(c), [0; 3]))
}

/// The next console byte for process `pid`, waiting for input until tick
/// `deadline` (`None`: for ever; then `Timeout`). `PeerDead` once `pid`
/// has ended: its handler must not go on taking input meant for others.
pub(super) fn console_byte(pid: u64, deadline: Option<u64>) -> Result<u8, Error> {
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
