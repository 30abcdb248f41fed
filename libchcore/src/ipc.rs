//! IPC helpers: serve requests, connect, call.
//!
//! A server calls [`serve`] with a handler function; the kernel starts a
//! fresh handler thread at [`handler_entry`] for each call, which turns the
//! registers and the shared buffer into a [`Request`], runs the handler and
//! returns its [`Reply`]. A client [`connect`]s once per thread that calls
//! (a connection carries one call at a time) and [`Connection::call`]s.

use crate::sys::{self, Slot};
use chcore_abi::{ipc, slot, Error, Rights};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A call as the server sees it.
pub struct Request<'a> {
    /// Which connection (index in this server).
    pub badge: u64,
    /// The four words from the caller's registers.
    pub words: [u64; 4],
    /// Capabilities received, as slots in this cap_group.
    pub caps: &'a [u64],
    /// The shared buffer's data area (read the message, write the reply).
    pub data: &'a mut [u8],
    /// The buffer's capability header, where replies name capabilities.
    head: &'a mut [u8],
    /// Capabilities named for the reply so far.
    reply_ncaps: usize,
}

impl Request<'_> {
    /// Send capability `slot` back with the reply, narrowed to `rights`
    /// (at most `ipc::MAX_CAPS`; `TableFull` past that).
    pub fn reply_cap(&mut self, slot: Slot, rights: Rights) -> Result<(), Error> {
        if self.reply_ncaps >= ipc::MAX_CAPS {
            return Err(Error::TableFull);
        }
        put_caps(&mut self.head[self.reply_ncaps * 8..], &[(slot, rights)]);
        self.reply_ncaps += 1;
        Ok(())
    }
}

/// What the handler answers: the call's return value and three words.
pub struct Reply {
    /// x0 for the caller.
    pub ret: i64,
    /// x1-x3 for the caller.
    pub words: [u64; 3],
}

static HANDLER: AtomicUsize = AtomicUsize::new(0);

/// For a process that only serves: register, then let the calling thread
/// wait forever (calls run on handler threads). Exits with 1 if registering fails.
pub fn serve_forever(handler: fn(&mut Request) -> Reply, max_connections: u64) -> ! {
    if serve(handler, max_connections).is_err() {
        crate::process::exit(1);
    }
    if let Ok(n) = sys::create_notification() {
        let _ = sys::wait(n, None);
    }
    crate::process::exit(2)
}

/// Become a server with `handler` for every call. Returns once registered;
/// calls then run on handler threads the kernel creates per connection.
pub fn serve(handler: fn(&mut Request) -> Reply, max_connections: u64) -> Result<(), Error> {
    HANDLER.store(handler as usize, Ordering::SeqCst);
    sys::register_server(handler_entry as *const () as u64, max_connections)
}

fn buffer(base: u64) -> &'static mut [u8] {
    // SAFETY: the kernel maps the connection's buffer, `ipc::BUF_SIZE` bytes
    // read/write, at `base` before any call arrives on it; only the one call
    // in progress on this connection uses it.
    unsafe { core::slice::from_raw_parts_mut(base as *mut u8, ipc::BUF_SIZE as usize) }
}

/// Word `i` (little-endian u64) of a buffer.
pub(crate) fn word(buf: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(buf[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]))
}

fn put_caps(buf: &mut [u8], caps: &[(Slot, Rights)]) {
    for (i, (slot, rights)) in caps.iter().enumerate() {
        buf[ipc::CAP_SLOTS + i * 8..][..8].copy_from_slice(&slot.to_le_bytes());
        buf[ipc::CAP_RIGHTS + i * 8..][..8].copy_from_slice(&rights.0.to_le_bytes());
    }
}

/// Where every call starts, on the connection's handler thread.
extern "C" fn handler_entry(badge: u64, w0: u64, w1: u64, w2: u64, w3: u64, ncaps: u64) -> ! {
    let buf = buffer(ipc::SERVER_BUF_BASE + badge * ipc::BUF_SIZE);
    let n = (ncaps as usize).min(ipc::MAX_CAPS);
    let mut caps = [0u64; ipc::MAX_CAPS];
    for (i, c) in caps.iter_mut().enumerate().take(n) {
        *c = word(buf, ipc::CAP_SLOTS / 8 + i);
    }
    let (head, data) = buf.split_at_mut(ipc::DATA);
    let mut req = Request { badge, words: [w0, w1, w2, w3], caps: &caps[..n], data, head, reply_ncaps: 0 };
    let f = HANDLER.load(Ordering::SeqCst);
    let reply = if f == 0 {
        Reply { ret: Error::NoSyscall.to_result(), words: [0; 3] }
    } else {
        // SAFETY: `serve` stored a `fn(&mut Request) -> Reply` here.
        let handler: fn(&mut Request) -> Reply = unsafe { core::mem::transmute::<usize, fn(&mut Request) -> Reply>(f) };
        handler(&mut req)
    };
    sys::ipc_return(reply.ret, reply.words, req.reply_ncaps as u64)
}

/// Where clients map connection buffers.
const CLIENT_BUF_BASE: u64 = 0x6200_0000_0000;
static NEXT_CLIENT_BUF: AtomicU64 = AtomicU64::new(0);

/// A client connection.
pub struct Connection {
    /// The connection capability.
    pub slot: Slot,
    buf: u64,
}

/// The answer to a call.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    /// The handler's return value.
    pub ret: i64,
    /// Its three words.
    pub words: [u64; 3],
}

/// Ticks [`connect`] waits for a server to register before it gives up
/// with `Again`.
pub const CONNECT_PATIENCE: u64 = 10 * chcore_abi::TICK_HZ;

/// Connect to the server `group` (waits while it has not registered yet).
pub fn connect(group: Slot) -> Result<Connection, Error> {
    let buf = CLIENT_BUF_BASE + NEXT_CLIENT_BUF.fetch_add(1, Ordering::SeqCst) * ipc::BUF_SIZE;
    // `Again` until the server has registered: a server just started may
    // not have run yet (on another CPU, or behind others on this one). A
    // few yields cover the usual case; then a tick's sleep between tries,
    // for at most `CONNECT_PATIENCE` ticks (the kernel cannot yet tell a
    // client when a server registers: this is the one wait that polls).
    let start = sys::get_tick();
    let mut tries = 0u32;
    loop {
        match sys::register_client(group, buf) {
            Ok(slot) => return Ok(Connection { slot, buf }),
            Err(Error::Again) if sys::get_tick().saturating_sub(start) < CONNECT_PATIENCE => {
                tries += 1;
                if tries < 100 {
                    sys::yield_now();
                } else {
                    sys::sleep(1);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The connection capability is all that keeps the kernel's side
        // (and, once the server is gone, the server's remains) alive.
        let _ = sys::cap_delete(self.slot);
        let _ = sys::unmap_pmo(slot::SELF_CAP_GROUP, self.buf);
    }
}

impl Connection {
    /// The shared buffer's data area: the next call's message goes here,
    /// and the last answer's bytes are here.
    pub fn data(&mut self) -> &mut [u8] {
        &mut buffer(self.buf)[ipc::DATA..]
    }

    /// Call with four words and capabilities (slot, rights mask); received
    /// capability slots are written to `caps_back`. A negative return from
    /// the handler comes back as the matching `Error`.
    pub fn call(&mut self, words: [u64; 4], caps: &[(Slot, Rights)], caps_back: &mut [u64]) -> Result<Answer, Error> {
        if caps.len() > ipc::MAX_CAPS {
            return Err(Error::InvalidArgument);
        }
        let buf = buffer(self.buf);
        put_caps(buf, caps);
        let (ret, words) = sys::ipc_call(self.slot, words, caps.len() as u64);
        // The kernel's refusals and a handler's errors share one error space.
        if ret < 0 {
            return Err(Error::from_result(ret).unwrap_or(Error::InvalidArgument));
        }
        for (i, c) in caps_back.iter_mut().enumerate().take(ipc::MAX_CAPS) {
            *c = word(buf, ipc::CAP_SLOTS / 8 + i);
        }
        Ok(Answer { ret, words })
    }

    /// A call without capabilities, for protocols with their own error
    /// numbers: the handler's return value as it is (negative for an
    /// error, the kernel's own refusals included) and its three words.
    pub fn call_raw(&mut self, words: [u64; 4]) -> (i64, [u64; 3]) {
        sys::ipc_call(self.slot, words, 0)
    }
}
