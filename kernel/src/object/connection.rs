//! connection: the client end of an IPC channel to a server cap_group.
//!
//! ChCore's model: a server registers an entry point; each client
//! connection gets a handler thread in the server, a stack for it, and a
//! buffer shared by both sides. A call switches the CPU straight from the
//! client to the handler (no run queue), starting it afresh at the entry
//! point; the return switches straight back. Short messages travel in
//! registers, long ones in the buffer, capabilities through slots written in
//! the buffer's header (see `chcore_abi::ipc`).

use super::cap_group::CapGroup;
use super::pmo::{Pmo, PMO_KMEM};
use super::thread::{Thread, ThreadState, THREAD_KMEM};
use super::Header;
use crate::arch::{TrapFrame, UserContext};
use crate::sched;
use alloc::sync::{Arc, Weak};
use chcore_abi::{ipc, perm, Error, ObjectType, PmoKind, Rights};

/// What a cap_group registered as a server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where handler threads start.
    pub entry: u64,
    /// Most connections.
    pub max: u64,
    /// Next connection index never used.
    pub next: u64,
    /// Indices whose connection is gone, buffer and stack unmapped: reused first.
    pub free: alloc::vec::Vec<u64>,
}

/// What a handler thread knows about its connection (under its lock).
pub struct HandlerInfo {
    /// The connection (weak: the client's capability owns it).
    pub conn: Weak<Connection>,
    /// The client thread waiting in a call, if one is. It lives with the
    /// handler, not the connection, so that both IPC directions find it
    /// under the one lock they take anyway.
    pub caller: Option<Arc<Thread>>,
    /// Its buffer and stack in the server, to unmap if the client goes first.
    pub buf_va: u64,
    /// Bottom of its stack in the server.
    pub stack_va: u64,
}

/// A connection.
pub struct Connection {
    /// Common header (its drop keeps the live-object counts).
    #[allow(dead_code)]
    pub header: Header,
    /// Index of the connection in its server (the handler's badge).
    pub index: u64,
    /// The server.
    pub server: Arc<CapGroup>,
    /// The handler thread.
    pub handler: Arc<Thread>,
    /// The shared buffer.
    pub buf: Arc<Pmo>,
    /// The buffer's address in the server.
    pub server_buf: u64,
    /// Top of the handler's stack in the server.
    pub stack_top: u64,
    /// Where the handler starts (the server's entry point, fixed once registered).
    entry: u64,
    /// Its kernel memory, charged to the client.
    #[allow(dead_code)]
    kmem: super::Kmem,
}

/// Kernel memory a connection takes besides its handler thread: the
/// connection, its entries in the server's lists and slot areas (two
/// slots, a weak reference, a free index) and the client's mapping of
/// the buffer (handed over to the client's address space, which gives it
/// back when it unmaps the buffer).
const CONNECTION_KMEM: u64 = super::arc_block::<Connection>() + 4 * 8 + 16 + super::vmspace::MAPPING_KMEM;

/// Make the caller a server whose handlers start at `entry`.
pub fn register_server(group: &Arc<CapGroup>, entry: u64, max: u64) -> Result<(), Error> {
    if entry >= kernel_core::mm::USER_VA_END || !entry.is_multiple_of(4) || max == 0 || max > ipc::MAX_CONNECTIONS {
        return Err(Error::InvalidArgument);
    }
    if group.lock().server.is_some() {
        return Err(Error::InvalidArgument);
    }
    // Every connection's buffer and handler stack go in two slot areas
    // (vmspace.rs), so a server with many clients keeps a small region tree.
    let rw = perm::READ | perm::WRITE;
    group.vmspace.add_area(ipc::SERVER_BUF_BASE, ipc::BUF_SIZE, max, rw)?;
    if let Err(e) = group.vmspace.add_area(ipc::SERVER_STACK_BASE, ipc::STACK_SIZE, max, rw) {
        group.vmspace.remove_area(ipc::SERVER_BUF_BASE);
        return Err(e);
    }
    // A second registration racing this one found the areas taken.
    group.lock().server = Some(ServerConfig { entry, max, next: 0, free: alloc::vec::Vec::new() });
    Ok(())
}

/// Connect `client` to `server`, mapping the shared buffer at `client_buf`
/// in the client. Returns the connection.
pub fn connect(client: &Arc<CapGroup>, server: &Arc<CapGroup>, client_buf: u64) -> Result<Arc<Connection>, Error> {
    let (entry, index) = {
        let mut inner = server.lock();
        let cfg = inner.server.as_mut().ok_or(Error::Again)?;
        let index = match cfg.free.pop() {
            Some(i) => i,
            None if cfg.next < cfg.max => {
                cfg.next += 1;
                cfg.next - 1
            }
            None => return Err(Error::TableFull),
        };
        (cfg.entry, index)
    };
    // A connect that fails gives the index back (its connection's drop
    // does, once there is one): failed connects must not use up the
    // server's connections.
    let conn = make(client, server, client_buf, entry, index).inspect_err(|_| release_index(server, index))?;
    let listed = super::push_weak(&mut server.lock().connections, Arc::downgrade(&conn));
    if let Err(e) = listed {
        // Its drop ends the handler and frees the server's side.
        let client_buf_pmo = client.vmspace.unmap(client_buf);
        drop((conn, client_buf_pmo));
        return Err(e);
    }
    Ok(conn)
}

/// [`connect`] once the server has given connection `index`.
fn make(
    client: &Arc<CapGroup>,
    server: &Arc<CapGroup>,
    client_buf: u64,
    entry: u64,
    index: u64,
) -> Result<Arc<Connection>, Error> {
    // Everything is the client's memory: the connection, its handler
    // thread, the buffer and the handler's stack, charged in one go.
    let mut kmem = super::Kmem::charge(&client.account, CONNECTION_KMEM + THREAD_KMEM + 2 * PMO_KMEM)?;
    // The server touches the buffer and the stack too, and a fault in the
    // server must not fail because the client sits at its limit (the
    // server would be ended): their pages are charged even past the
    // limit, which their fixed size bounds.
    let buf = Pmo::new_overdraft(PmoKind::Shm, ipc::BUF_SIZE, &client.account, kmem.split(PMO_KMEM))?;
    client.vmspace.map_connection_buffer(buf.clone(), client_buf, &mut kmem)?;
    let server_buf = ipc::SERVER_BUF_BASE + index * ipc::BUF_SIZE;
    let stack_va = ipc::SERVER_STACK_BASE + index * ipc::STACK_SIZE;
    let undo_client = |e: Error| {
        let _ = client.vmspace.unmap(client_buf);
        e
    };
    server.vmspace.map_slot(buf.clone(), server_buf).map_err(undo_client)?;
    let stack = Pmo::new_overdraft(PmoKind::Anonym, ipc::STACK_SIZE, &client.account, kmem.split(PMO_KMEM))
        .map_err(undo_client)?;
    let mapped = server.vmspace.map_slot(stack, stack_va);
    let thread_kmem = kmem.split(THREAD_KMEM);
    let handler =
        mapped.and_then(|_| Thread::new(server, entry, stack_va + ipc::STACK_SIZE, 0, thread_kmem)).map_err(|e| {
            let _ = server.vmspace.unmap(server_buf);
            let _ = server.vmspace.unmap(stack_va);
            undo_client(e)
        })?;
    // A handler waits for calls: blocked, in no queue.
    handler.lock().state = ThreadState::Blocked;
    let conn = Arc::new(Connection {
        header: Header::new(ObjectType::Connection),
        index,
        server: server.clone(),
        handler: handler.clone(),
        buf,
        server_buf,
        stack_top: stack_va + ipc::STACK_SIZE,
        entry,
        kmem,
    });
    handler.lock().handler =
        Some(HandlerInfo { conn: Arc::downgrade(&conn), caller: None, buf_va: server_buf, stack_va });
    Ok(conn)
}

/// Read the capability slots and rights masks from the shared buffer.
fn cap_header(buf: &Pmo, n: usize) -> Result<([u64; ipc::MAX_CAPS], [u64; ipc::MAX_CAPS]), Error> {
    let mut raw = [0u8; ipc::DATA];
    buf.read(0, &mut raw)?;
    let word = |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    let mut slots = [0; ipc::MAX_CAPS];
    let mut rights = [0; ipc::MAX_CAPS];
    for i in 0..n {
        slots[i] = word(ipc::CAP_SLOTS / 8 + i);
        rights[i] = word(ipc::CAP_RIGHTS / 8 + i);
    }
    Ok((slots, rights))
}

/// Copy `n` capabilities named in the buffer from `from` to `to`, and write
/// their new slots into the buffer. All or nothing.
fn move_caps(buf: &Arc<Pmo>, n: usize, from: &Arc<CapGroup>, to: &Arc<CapGroup>) -> Result<(), Error> {
    if n == 0 {
        return Ok(());
    }
    if n > ipc::MAX_CAPS {
        return Err(Error::InvalidArgument);
    }
    if !crate::mm::heap_has_room() {
        return Err(Error::NoMemory);
    }
    let (slots, rights) = cap_header(buf, n)?;
    let mut copies = alloc::vec::Vec::with_capacity(n);
    {
        let inner = from.lock();
        for i in 0..n {
            let src = inner.caps.get(slots[i])?;
            let mut c = kernel_core::cap::derive(src, Rights(rights[i]), super::new_cap_id())?;
            c.obj = from.resolve(&c.obj);
            copies.push(c);
        }
    }
    let mut placed = [0u64; ipc::MAX_CAPS];
    for (i, c) in copies.into_iter().enumerate() {
        match to.insert_cap(c.obj, c.rights, c.parent) {
            Ok(s) => placed[i] = s,
            Err(e) => {
                let mut inner = to.lock();
                for &s in &placed[..i] {
                    let _ = inner.caps.remove(s);
                }
                return Err(e);
            }
        }
    }
    let bytes: alloc::vec::Vec<u8> = placed[..n].iter().flat_map(|s| s.to_le_bytes()).collect();
    buf.write(ipc::CAP_SLOTS as u64, &bytes)
}

/// An `ipc_call`'s arguments as the caller's registers hold them
/// (docs/ipc.md). The fast path and the general path both decode them here,
/// so the register convention is written down once.
#[derive(Clone, Copy)]
pub struct Call {
    /// x0: the connection's slot.
    pub conn: u64,
    /// x1-x4: the words the handler gets in its x1-x4.
    pub words: [u64; 4],
    /// x5: how many capabilities the buffer names.
    pub ncaps: u64,
}

impl Call {
    #[inline(always)]
    pub fn decode(&[conn, w0, w1, w2, w3, ncaps]: &[u64; 6]) -> Call {
        Call { conn, words: [w0, w1, w2, w3], ncaps }
    }
}

/// An `ipc_return`'s arguments, as [`Call`] is a call's.
#[derive(Clone, Copy)]
pub struct Return {
    /// x0-x3: what the caller gets in its x0-x3.
    pub regs: [u64; 4],
    /// x4: how many capabilities the buffer names.
    pub ncaps: u64,
}

impl Return {
    #[inline(always)]
    pub fn decode(&[r0, r1, r2, r3, ncaps, _]: &[u64; 6]) -> Return {
        Return { regs: [r0, r1, r2, r3], ncaps }
    }
}

impl Connection {
    /// A client thread calls: hand the CPU to the handler. `call.ncaps`
    /// capabilities are named in the buffer.
    pub fn call(self: &Arc<Self>, client: &Arc<Thread>, call: Call) -> Result<(), Error> {
        if !self.server.is_alive() {
            return Err(Error::PeerDead);
        }
        self.idle_handler()?;
        let n = usize::try_from(call.ncaps).map_err(|_| Error::InvalidArgument)?;
        move_caps(&self.buf, n, &client.group, &self.server)?;
        {
            let mut h = self.handler.lock();
            let Some(info) = h.handler.as_mut() else { return Err(Error::PeerDead) };
            // Everything here runs under the big kernel lock: the handler is
            // still idle. (Checked again all the same: two callers must
            // never both get in.)
            if info.caller.is_some() {
                return Err(Error::Busy);
            }
            info.caller = Some(client.clone());
            self.start(call).apply(&mut h.ctx);
        }
        sched::block_and_handoff(self.handler.clone());
        Ok(())
    }

    /// Whether the handler is free for a call: `Busy` while it serves one,
    /// `PeerDead` once it has ended.
    fn idle_handler(&self) -> Result<(), Error> {
        let h = self.handler.lock();
        match &h.handler {
            Some(info) if info.caller.is_some() => Err(Error::Busy),
            Some(_) if h.state == ThreadState::Blocked => Ok(()),
            _ => Err(Error::PeerDead),
        }
    }

    /// How its handler starts `call`.
    fn start(&self, call: Call) -> HandlerStart {
        HandlerStart {
            index: self.index,
            entry: self.entry,
            stack_top: self.stack_top,
            words: call.words,
            ncaps: call.ncaps,
        }
    }

    /// The server ended: whoever waits in a call gets `PeerDead`.
    pub fn server_died(&self) {
        wake_caller(&self.handler);
    }
}

/// How a handler starts a call: afresh at the server's entry point with
/// the badge, the caller's words and capability count in x0-x5, its stack,
/// and every other register zero (nothing of the client's, nor of an
/// earlier call).
pub struct HandlerStart {
    index: u64,
    entry: u64,
    stack_top: u64,
    words: [u64; 4],
    ncaps: u64,
}

impl HandlerStart {
    /// Set the handler's registers `ctx` up for the call. Zeroing is skipped
    /// when nothing wrote the frame since the last start (a handler that
    /// ends its call on the fast path is not saved).
    #[inline(always)]
    pub fn apply(&self, ctx: &mut UserContext) {
        let f = &mut ctx.frame;
        if !ctx.clean {
            f.clear();
            ctx.clean = true;
        }
        f.x[0] = self.index;
        f.x[1..5].copy_from_slice(&self.words);
        f.x[5] = self.ncaps;
        f.elr = self.entry;
        f.sp_el0 = self.stack_top;
        f.spsr = crate::arch::context::SPSR_EL0T;
    }
}

/// The call `handler` serves will never be answered: its caller, if it has
/// one, gets `PeerDead`.
fn wake_caller(handler: &Thread) {
    let caller = handler.lock().handler.as_mut().and_then(|i| i.caller.take());
    if let Some(c) = caller {
        sched::wake(&c, Error::PeerDead.to_result());
    }
}

/// The handler thread `h` ends its call: `ret.regs` for the caller and
/// `ret.ncaps` capabilities named in the buffer.
pub fn ipc_return(h: &Arc<Thread>, ret: Return) -> Result<(), Error> {
    let Return { regs, ncaps } = ret;
    let n = usize::try_from(ncaps).map_err(|_| Error::InvalidArgument)?;
    let info = h.lock().handler.as_mut().map(|i| (i.conn.upgrade(), i.caller.take(), i.buf_va, i.stack_va));
    let Some((conn, caller, buf_va, stack_va)) = info else { return Err(Error::InvalidArgument) };
    let Some(conn) = conn else {
        // The client dropped the connection during the call: this handler
        // has nothing left to serve (its caller, if still there, learns it).
        // Free its buffer and stack and end it.
        if let Some(c) = caller {
            sched::wake(&c, Error::PeerDead.to_result());
        }
        let _ = h.group.vmspace.unmap(buf_va);
        let _ = h.group.vmspace.unmap(stack_va);
        release_index(&h.group, (buf_va - ipc::SERVER_BUF_BASE) / ipc::BUF_SIZE);
        h.lock().state = ThreadState::Exited;
        sched::request_resched();
        return Ok(());
    };
    let caller = caller.ok_or(Error::InvalidArgument)?;
    let delivered = if caller.group.is_alive() { move_caps(&conn.buf, n, &conn.server, &caller.group) } else { Ok(()) };
    // The handler waits for the next call; the caller runs next.
    match delivered {
        Ok(()) => sched::block_and_wake(&caller, &regs),
        Err(e) => sched::block_and_wake(&caller, &[e.to_result() as u64]),
    }
    Ok(())
}

impl Drop for Connection {
    fn drop(&mut self) {
        // A call in progress gets no answer through a connection that is
        // gone: its caller learns now. (The IPC fast path's return relies on
        // it: a handler with a caller has a live connection.) An idle
        // handler goes now, with its buffer and stack. A handler in the
        // middle of a call cleans up itself at its return; if it is blocked
        // on a notification (waiting for a child on its client's behalf, or
        // for a lock) it is woken with `PeerDead` to get there. It is not
        // ended where it stands: it may hold a lock of its server's, which
        // would never be released. All of this is decided in one hold of
        // the handler's lock: the IPC fast path (outside the big lock)
        // could otherwise start a call in between.
        let (caller, idle, waiting) = {
            let mut h = self.handler.lock();
            let caller = h.handler.as_mut().and_then(|i| i.caller.take());
            let blocked = h.state == ThreadState::Blocked;
            let idle = blocked && caller.is_none();
            if idle {
                h.state = ThreadState::Exited;
            }
            (caller, idle, blocked && !idle && h.waiting_on.is_some())
        };
        if let Some(c) = caller {
            sched::wake(&c, Error::PeerDead.to_result());
        }
        if waiting {
            super::notification::Notification::timed_out(&self.handler);
            sched::wake(&self.handler, Error::PeerDead.to_result());
        }
        if idle {
            let _ = self.server.vmspace.unmap(self.server_buf);
            let _ = self.server.vmspace.unmap(self.stack_top - ipc::STACK_SIZE);
            release_index(&self.server, self.index);
        }
    }
}

/// Connection `index` of `server` is gone and its buffer and stack are
/// unmapped: a new connection may use the index (and those addresses).
fn release_index(server: &CapGroup, index: u64) {
    if let Some(cfg) = server.lock().server.as_mut() {
        cfg.free.push(index);
    }
}

/// The IPC fast path: the common case, a call or return without
/// capabilities on a healthy connection, switches straight between client
/// and handler in one trip through the scheduler lock, saves nothing of a
/// handler that ends its call (it starts afresh next time) and skips the
/// general dispatch and switch. Each direction returns the frame to leave
/// through, or `None`, having changed nothing, when the general path must
/// run: errors, capabilities to move, a switch already due, a peer that is
/// not where the fast path expects it.
///
/// It runs without the big kernel lock, so two CPUs' IPC pairs do not
/// wait for each other (docs/locking.md). What makes that safe: the
/// capability lookup holds the client's cap_group lock; everything else
/// happens in `sched::ipc_call_switch` / `ipc_return_switch` under this
/// CPU's running-thread lock and the two threads' locks, which every other
/// path that changes those threads or reads this CPU's thread takes too; a thread is switched to only once the
/// CPU it last ran on has saved it (`on_cpu`), never if it ended or its
/// server is ending (checked under those locks), and a connection's drop
/// decides about its handler in one hold of the handler's lock.
///
/// This is `ipc_call`; `frame` holds all of the caller's registers.
#[inline(always)]
pub fn fast_call_path(frame: &TrapFrame) -> Option<*const TrapFrame> {
    if sched::need_switch() {
        return None;
    }
    sched::with_current(|t| fast_call(t, frame, Call::decode(frame.args()))).flatten()
}

/// [`fast_call_path`]'s other direction, `ipc_return`: `frame` holds the
/// handler's registers but for x19-x29, which the fast path drops anyway.
#[inline(always)]
pub fn fast_return_path(frame: &TrapFrame) -> Option<*const TrapFrame> {
    if sched::need_switch() {
        return None;
    }
    fast_return(Return::decode(frame.args()))
}

#[inline(always)]
fn fast_call(client: &Arc<Thread>, frame: &TrapFrame, call: Call) -> Option<*const TrapFrame> {
    if call.ncaps != 0 {
        return None;
    }
    let (handler, start) = {
        // Borrowed under the table's lock rather than cloned out by
        // `CapGroup::cap`: two atomic operations fewer on the hottest path.
        let g = client.group.lock();
        let super::KObject::Connection(c) = &g.caps.lookup(call.conn, ObjectType::Connection, Rights::WRITE).ok()?.obj
        else {
            return None;
        };
        (c.handler.clone(), c.start(call))
    };
    sched::ipc_call_switch(frame, handler, &start)
}

#[inline(always)]
fn fast_return(ret: Return) -> Option<*const TrapFrame> {
    if ret.ncaps != 0 {
        return None;
    }
    sched::ipc_return_switch(|f| f.x[..4].copy_from_slice(&ret.regs))
}
