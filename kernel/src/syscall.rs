//! System call dispatch and implementations.
//!
//! Each call decodes and checks all of its arguments (capabilities with the
//! type and rights it needs, user pointers, sizes) before it changes
//! anything, and returns a negative `chcore_abi::Error` when one is wrong.
//! docs/syscalls.md is the reference.

use crate::arch::TrapFrame;
use crate::fault::end_group;
use crate::object::cap_group::{CapGroup, GroupState};
use crate::object::connection::{self, Call, Connection, Return};
use crate::object::irq::Irq;
use crate::object::notification::Notification;
use crate::object::pmo::Pmo;
use crate::object::thread::{Thread, ThreadState};
use crate::object::{new_cap_id, KObject};
use crate::{mm, sched, uaccess};
use alloc::sync::Arc;
use alloc::vec::Vec;
use chcore_abi::{group_state, perm, slot, Error, PmoKind, Rights, Syscall, NO_AFFINITY, PUTSTR_MAX};
use kernel_core::account::Account;
use kernel_core::mm::{PAGE_SIZE, USER_VA_END};

/// Most threads `create_thread` makes in one cap_group (IPC handler threads
/// are bounded separately, by the server's connection limit). A thread costs
/// the kernel about a kilobyte and a half of heap.
const MAX_THREADS: usize = 256;
/// Longest cap_group name.
const NAME_MAX: u64 = 64;
/// PMO reads and writes go through a kernel buffer this big at a time.
const IO_CHUNK: usize = PAGE_SIZE as usize;

type SysResult = Result<u64, Error>;

/// One system call: its implementation and how it must be run.
struct Entry {
    run: Handler,
    /// Makes kernel objects or grows kernel tables: refused with `NoMemory`
    /// while the kernel heap runs low, so that no user can drive the kernel
    /// into an allocation failure (exits and deletions still work).
    /// `IpcCall` and `IpcReturn` check for themselves, only when they carry
    /// capabilities (see `connection::move_caps`).
    allocates: bool,
    /// Touches only this CPU's state, atomics or its own locks, so runs
    /// without the big kernel lock. This is where the big lock starts to
    /// shrink (docs/locking.md).
    lock_free: bool,
}

/// A system call's implementation: the calling thread and x0-x5.
type Handler = fn(&Arc<Thread>, &[u64; 6]) -> SysResult;

/// How an entry runs (see [`Entry`]).
#[derive(Clone, Copy)]
enum Runs {
    /// Under the big lock.
    Locked,
    /// Under the big lock, refused while the kernel heap is low.
    Allocating,
    /// Without the big lock.
    LockFree,
}

impl Entry {
    const fn new(run: Handler, runs: Runs) -> Entry {
        Entry { run, allocates: matches!(runs, Runs::Allocating), lock_free: matches!(runs, Runs::LockFree) }
    }
}

/// The system call table, indexed by number (x8).
static TABLE: [Entry; Syscall::COUNT as usize] = {
    let mut table = [const { Entry::new(|_, _| Err(Error::NoSyscall), Runs::Locked) }; Syscall::COUNT as usize];
    let mut i = 0;
    while i < table.len() {
        table[i] = entry(Syscall::ALL[i]);
        i += 1;
    }
    table
};

/// Each call: its arguments, named where they are taken from x0-x5, the
/// function that implements it, and how it runs. Each is its own small
/// function (the closures capture nothing), so a call pays only for its own
/// work: one big `match` at run time would make every call pay for the
/// registers the largest one needs. A new call is one line here and one
/// function below (docs/syscalls.md).
const fn entry(call: Syscall) -> Entry {
    use Runs::*;
    use Syscall::*;
    let (run, runs): (Handler, Runs) = match call {
        Putstr => (|t, &[buf, len, ..]| putstr(&t.group, buf, len), Allocating),
        Getc => (|_, _| crate::console::getc().map(u64::from).ok_or(Error::Again), Locked),
        Yield => (|_, _| yield_now(), LockFree),
        ThreadExit => (|t, _| thread_exit(t), Locked),
        CapGroupExit => (|t, &[code, ..]| cap_group_exit(&t.group, code as i32), Locked),
        CreatePmo => (|t, &[size, kind, key, payer, ..]| create_pmo(&t.group, size, kind, key, payer), Allocating),
        CreateDevicePmo => (|t, &[pa, size, ..]| create_device_pmo(&t.group, pa, size), Allocating),
        MapPmo => (|t, &[group, pmo, addr, perm, ..]| map_pmo(&t.group, group, pmo, addr, perm), Allocating),
        UnmapPmo => (|t, &[group, addr, ..]| unmap_pmo(&t.group, group, addr), Locked),
        Protect => (|t, &[group, addr, len, perm, ..]| protect(&t.group, group, addr, len, perm), Locked),
        ReadPmo => (|t, &[pmo, off, buf, len, ..]| pmo_io(&t.group, pmo, off, buf, len, false), Allocating),
        WritePmo => (|t, &[pmo, off, buf, len, ..]| pmo_io(&t.group, pmo, off, buf, len, true), Allocating),
        CapCopy => (|t, &[cap, group, mask, ..]| cap_copy(&t.group, cap, group, Rights(mask), false), Allocating),
        CapTransfer => (|t, &[cap, group, mask, ..]| cap_copy(&t.group, cap, group, Rights(mask), true), Allocating),
        CapRevoke => (|t, &[cap, ..]| cap_revoke(&t.group, cap), Locked),
        CapDelete => (|t, &[cap, ..]| cap_delete(&t.group, cap), Locked),
        CreateCapGroup => (
            |t, &[name, len, extra, within, ..]| create_cap_group(&t.group, name, len, Rights(extra), within),
            Allocating,
        ),
        CreateThread => (|t, &[group, pc, sp, arg, ..]| create_thread(&t.group, group, pc, sp, arg), Allocating),
        GetTick => (|_, _| Ok(crate::arch::timer::ticks()), LockFree),
        FreeMemory => (|_, _| Ok(mm::free_page_count() * PAGE_SIZE), Locked),
        CapInfo => (|t, &[cap, ..]| cap_info(&t.group, cap), Locked),
        CapGroupState => (|t, &[group, ..]| cap_group_state(&t.group, group), Locked),
        ThreadSetPriority => (|t, &[thread, prio, ..]| thread_set_priority(t, thread, prio), Locked),
        ThreadSetAffinity => (|t, &[thread, cpu, ..]| thread_set_affinity(t, thread, cpu), Locked),
        ThreadGetAffinity => (|t, &[thread, ..]| thread_get_affinity(t, thread), Locked),
        ThreadSuspend => (|t, &[thread, ..]| thread_suspend(t, thread, true), Locked),
        ThreadResume => (|t, &[thread, ..]| thread_suspend(t, thread, false), Locked),
        Sleep => (|_, &[ticks, ..]| sleep(ticks), Locked),
        GetCpuId => (|_, _| Ok(crate::arch::smp::cpu_id() as u64), LockFree),
        CpuCount => (|_, _| Ok(sched::online() as u64), LockFree),
        CpuStats => (|t, &[cpu, buf, ..]| cpu_stats(&t.group, cpu, buf), Locked),
        CapGroupCpuTime => (|t, &[group, ..]| Ok(t.group.cap::<CapGroup>(group, Rights::READ)?.cpu_time()), Locked),
        RegisterServer => (|t, &[entry, max, ..]| register_server(&t.group, entry, max), Allocating),
        RegisterClient => (|t, &[server, buf, ..]| register_client(&t.group, server, buf), Allocating),
        IpcCall => (|t, a| ipc_call(t, Call::decode(a)), Locked),
        IpcReturn => (|t, a| connection::ipc_return(t, Return::decode(a)).map(|()| 0), Locked),
        CreateNotification => (|t, &[payer, ..]| create_notification(&t.group, payer), Allocating),
        Wait => (|t, &[n, timeout, ..]| wait(t, n, timeout), Locked),
        Notify => (|t, &[n, ..]| notify(&t.group, n), Locked),
        IrqRegister => (|t, &[irq, ..]| irq_register(&t.group, irq), Allocating),
        IrqWait => (|t, &[irq, ..]| t.group.cap::<Irq>(irq, Rights::READ)?.wait(t), Locked),
        IrqAck => (|t, &[irq, ..]| irq_ack(&t.group, irq), Locked),
        CapGroupKill => (|t, &[group, ..]| cap_group_kill(&t.group, group), Locked),
        CapGroupExitNotify => (|t, &[group, n, ..]| cap_group_exit_notify(&t.group, group, n), Locked),
        VmspaceClone => (|t, &[dst, src, ..]| vmspace_clone(&t.group, dst, src), Allocating),
        SetMemLimit => (|t, &[group, bytes, ..]| set_mem_limit(&t.group, group, bytes), Locked),
        PagerRegister => (|t, &[n, ..]| pager_register(&t.group, n), Allocating),
        PagerNext => (|t, &[buf, ..]| pager_next(&t.group, buf), Locked),
        PagerSupply => (|t, &[key, off, src, ..]| pager_supply(&t.group, key, off, src), Allocating),
        PmoPrivate => (|t, &[pmo, off, len, ..]| pmo_private(&t.group, pmo, off, len), Allocating),
        MemUsage => {
            (|t, &[group, ..]| Ok(t.group.cap::<CapGroup>(group, Rights::READ)?.account.used() * PAGE_SIZE), Locked)
        }
        PmoSlice => (|t, &[pmo, off, len, mask, ..]| pmo_slice(&t.group, pmo, off, len, Rights(mask)), Allocating),
        PmoSize => (|t, &[pmo, ..]| Ok(t.group.cap::<Pmo>(pmo, Rights::NONE)?.size), Locked),
        ConnectFor => (|t, &[client, buf, ..]| connect_for(&t.group, client, buf), Allocating),
        SetKmemLimit => (|t, &[group, bytes, ..]| set_kmem_limit(&t.group, group, bytes), Locked),
        KmemUsage => (|t, &[group, ..]| Ok(t.group.cap::<CapGroup>(group, Rights::READ)?.account.kmem_used()), Locked),
        FreeKmem => (|_, _| Ok(mm::heap_free_for_calls() as u64), Locked),
    };
    Entry::new(run, runs)
}

/// Run the system call in `frame` (number in x8, arguments in x0-x5) and
/// put the result in x0. Takes the big kernel lock unless the call needs
/// none, and hands it back to the caller, which decides when it goes.
#[inline(always)]
pub fn dispatch(frame: &mut TrapFrame) -> Option<crate::bkl::Guard> {
    let Some(entry) = usize::try_from(frame.x[8]).ok().and_then(|n| TABLE.get(n)) else {
        frame.x[0] = refused(frame, Error::NoSyscall);
        return None;
    };
    let held = (!entry.lock_free).then(crate::bkl::Guard::take);
    let result = if entry.allocates && !mm::heap_has_room() {
        Err(Error::NoMemory)
    } else {
        sched::with_current(|t| (entry.run)(t, frame.args())).unwrap_or(Err(Error::NoSyscall))
    };
    frame.x[0] = match result {
        Ok(v) => v,
        Err(e) => refused(frame, e),
    };
    held
}

/// Log a refused call (at debug level) and encode the error for x0.
#[cold]
#[inline(never)]
fn refused(frame: &TrapFrame, e: Error) -> u64 {
    if log::log_enabled!(log::Level::Debug) {
        let name = sched::with_current(|t| t.group.name.clone()).unwrap_or_default();
        log::debug!("cap_group {name}: system call {}{:x?} refused: {e:?}", frame.x[8], &frame.x[..4]);
    }
    e.to_result() as u64
}

fn yield_now() -> SysResult {
    sched::request_resched();
    Ok(0)
}

fn cap_group_exit(me: &Arc<CapGroup>, code: i32) -> SysResult {
    end_group(me, GroupState::Exited(code as i64));
    Ok(0)
}

/// The account a call charges: the caller's own (slot 0), or that of a
/// cap_group the caller may map into (`MAP`): a loader charges a new
/// process for its own program, procmgr puts user processes in the
/// account of all of them.
fn payer(me: &Arc<CapGroup>, group: u64) -> Result<Arc<Account>, Error> {
    if group == slot::SELF_CAP_GROUP {
        Ok(me.account.clone())
    } else {
        Ok(me.cap::<CapGroup>(group, Rights::MAP)?.account.clone())
    }
}

/// `payer`: the cap_group whose account the PMO's pages are charged to
/// (see [`payer`]).
fn create_pmo(me: &Arc<CapGroup>, size: u64, kind: u64, key: u64, payer: u64) -> SysResult {
    let kind = PmoKind::from_number(kind).filter(|k| *k != PmoKind::Device).ok_or(Error::InvalidArgument)?;
    let account = &self::payer(me, payer)?;
    let pmo = if kind == PmoKind::Paged {
        let pager = me.lock().pager.clone().ok_or(Error::InvalidArgument)?;
        Pmo::new_paged(size, account, &pager, key)?
    } else {
        Pmo::new(kind, size, account)?
    };
    me.insert_cap(KObject::Pmo(pmo), Rights::ALL, None)
}

fn pager_register(me: &Arc<CapGroup>, n: u64) -> SysResult {
    let n = me.cap::<Notification>(n, Rights::WRITE)?;
    let mut inner = me.lock();
    if inner.pager.is_some() {
        return Err(Error::Overlap);
    }
    inner.pager = Some(crate::object::pager::Pager::new(n));
    Ok(0)
}

fn pager_next(me: &Arc<CapGroup>, buf: u64) -> SysResult {
    let pager = me.lock().pager.clone().ok_or(Error::InvalidArgument)?;
    // Checked before a fault is taken, so a bad buffer loses none.
    uaccess::copy_to_user(&me.vmspace, buf, &[0; 16])?;
    let (key, index) = pager.next().ok_or(Error::Again)?;
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&key.to_le_bytes());
    out[8..].copy_from_slice(&(index * PAGE_SIZE).to_le_bytes());
    uaccess::copy_to_user(&me.vmspace, buf, &out)?;
    Ok(0)
}

fn pager_supply(me: &Arc<CapGroup>, key: u64, offset: u64, src: u64) -> SysResult {
    let pager = me.lock().pager.clone().ok_or(Error::InvalidArgument)?;
    let pmo = pager.pmo(key).ok_or(Error::NotFound)?;
    if !offset.is_multiple_of(PAGE_SIZE) || offset >= pmo.size {
        return Err(Error::InvalidArgument);
    }
    let index = offset / PAGE_SIZE;
    let (waiters, refused) = if src == 0 {
        (pmo.take_waiters(Some(index)), true)
    } else {
        let vm = &me.vmspace;
        let waiters = pmo.supply(index, |pa| {
            // SAFETY: `pa` is a whole frame just allocated for this PMO,
            // in the linear map, that nothing else can reach yet.
            let frame = unsafe {
                core::slice::from_raw_parts_mut(kernel_core::mm::phys_to_virt(pa) as *mut u8, PAGE_SIZE as usize)
            };
            uaccess::copy_from_user(vm, src, frame)
        })?;
        (waiters, false)
    };
    pager.done(key, index);
    crate::fault::page_answered(waiters, refused);
    Ok(0)
}

fn pmo_private(me: &Arc<CapGroup>, pmo: u64, offset: u64, len: u64) -> SysResult {
    let (pmo, rights, id) = me.cap_entry::<Pmo>(pmo, Rights::READ)?;
    let window = pmo.private(offset, len, &me.account)?;
    let r = Rights::READ.union(Rights::WRITE).union(Rights::MAP).union(rights.intersect(Rights::COPY));
    me.insert_cap(KObject::Pmo(window), r, Some(id))
}

fn create_device_pmo(me: &Arc<CapGroup>, pa: u64, size: u64) -> SysResult {
    me.cap::<CapGroup>(chcore_abi::slot::SELF_CAP_GROUP, Rights::DEVICE)?;
    if mm::overlaps_ram(pa, size) {
        return Err(Error::InvalidArgument);
    }
    let pmo = Pmo::new_device(pa, size)?;
    me.insert_cap(KObject::Pmo(pmo), Rights::ALL.intersect(Rights(!Rights::EXEC.0)), None)
}

fn unmap_pmo(me: &Arc<CapGroup>, group: u64, addr: u64) -> SysResult {
    let pmo = me.cap::<CapGroup>(group, Rights::MAP)?.vmspace.unmap(addr)?;
    drop(pmo);
    Ok(0)
}

fn protect(me: &Arc<CapGroup>, group: u64, addr: u64, len: u64, perm: u64) -> SysResult {
    me.cap::<CapGroup>(group, Rights::MAP)?.vmspace.protect(addr, len, perm)?;
    Ok(0)
}

fn cap_revoke(me: &Arc<CapGroup>, slot: u64) -> SysResult {
    let id = {
        let inner = me.lock();
        let cap = inner.caps.get(slot)?;
        if !cap.rights.contains(Rights::REVOKE) {
            return Err(Error::NoRights);
        }
        cap.id
    };
    let removed = crate::object::cap_group::revoke_everywhere(id);
    let n = removed.len() as u64;
    drop(removed);
    Ok(n)
}

fn cap_delete(me: &Arc<CapGroup>, slot: u64) -> SysResult {
    let cap = me.lock().caps.remove(slot)?;
    drop(cap);
    Ok(0)
}

fn cap_info(me: &Arc<CapGroup>, slot: u64) -> SysResult {
    let inner = me.lock();
    let cap = inner.caps.get(slot)?;
    Ok(((kernel_core::cap::Object::object_type(&cap.obj) as u64) << 32) | cap.rights.0)
}

fn cap_group_state(me: &Arc<CapGroup>, group: u64) -> SysResult {
    Ok(match me.cap::<CapGroup>(group, Rights::READ)?.state() {
        GroupState::Alive => group_state::ALIVE,
        GroupState::Exited(code) => group_state::EXITED | ((code as u32 as u64) << 8),
        GroupState::Killed => group_state::KILLED,
    })
}

fn thread_set_priority(me: &Arc<Thread>, thread: u64, prio: u64) -> SysResult {
    let t = thread_cap(me, thread, Rights::WRITE)?;
    t.lock().prio = u8::try_from(prio).map_err(|_| Error::InvalidArgument)?;
    sched::request_resched();
    Ok(0)
}

fn thread_set_affinity(me: &Arc<Thread>, thread: u64, cpu: u64) -> SysResult {
    let t = thread_cap(me, thread, Rights::WRITE)?;
    let cpu = if cpu == NO_AFFINITY { None } else { Some(usize::try_from(cpu).map_err(|_| Error::InvalidArgument)?) };
    sched::set_affinity(&t, cpu)?;
    sched::request_resched();
    Ok(0)
}

fn thread_get_affinity(me: &Arc<Thread>, thread: u64) -> SysResult {
    let affinity = thread_cap(me, thread, Rights::READ)?.lock().affinity;
    Ok(affinity.map_or(NO_AFFINITY, |c| c as u64))
}

/// `thread_suspend` (`suspend`) or `thread_resume`.
fn thread_suspend(me: &Arc<Thread>, thread: u64, suspend: bool) -> SysResult {
    let t = thread_cap(me, thread, Rights::WRITE)?;
    if suspend {
        sched::suspend(&t);
    } else {
        sched::resume(&t);
    }
    Ok(0)
}

fn sleep(ticks: u64) -> SysResult {
    if ticks > 0 {
        sched::block_current(Some(ticks), 0, None);
    }
    Ok(0)
}

fn cpu_stats(me: &Arc<CapGroup>, cpu: u64, buf: u64) -> SysResult {
    let cpu = usize::try_from(cpu).ok().filter(|&c| c < sched::online()).ok_or(Error::InvalidArgument)?;
    let stats = crate::stats::snapshot(cpu).ok_or(Error::InvalidArgument)?;
    let bytes: [u8; chcore_abi::CpuStats::SIZE] =
        stats.to_words().map(u64::to_ne_bytes).as_flattened().try_into().map_err(|_| Error::InvalidArgument)?;
    uaccess::copy_to_user(&me.vmspace, buf, &bytes)?;
    Ok(0)
}

fn register_server(me: &Arc<CapGroup>, entry: u64, max: u64) -> SysResult {
    crate::object::connection::register_server(me, entry, max)?;
    Ok(0)
}

fn register_client(me: &Arc<CapGroup>, server: u64, buf: u64) -> SysResult {
    let server = me.cap::<CapGroup>(server, Rights::READ)?;
    let conn = crate::object::connection::connect(me, &server, buf)?;
    me.insert_cap(KObject::Connection(conn), Rights::ALL, None)
}

/// The general path of `ipc_call` (the fast path is tried first, see
/// `connection::fast_call_path`).
fn ipc_call(t: &Arc<Thread>, call: Call) -> SysResult {
    t.group.cap::<Connection>(call.conn, Rights::WRITE)?.call(t, call)?;
    Ok(0)
}

/// `payer`: whose account the notification's memory is charged to (see
/// [`payer`]): procmgr charges a process for its pipes.
fn create_notification(me: &Arc<CapGroup>, payer: u64) -> SysResult {
    let n = Notification::charged(&self::payer(me, payer)?)?;
    me.insert_cap(KObject::Notification(n), Rights::ALL, None)
}

fn wait(t: &Arc<Thread>, n: u64, timeout: u64) -> SysResult {
    let n = t.group.cap::<Notification>(n, Rights::READ)?;
    n.wait(t, if timeout == chcore_abi::WAIT_FOREVER { None } else { Some(timeout) })
}

fn notify(me: &Arc<CapGroup>, n: u64) -> SysResult {
    me.cap::<Notification>(n, Rights::WRITE)?.notify();
    Ok(0)
}

fn irq_register(me: &Arc<CapGroup>, irq: u64) -> SysResult {
    me.cap::<CapGroup>(chcore_abi::slot::SELF_CAP_GROUP, Rights::DEVICE)?;
    let irq = Irq::register(irq)?;
    me.insert_cap(KObject::Irq(irq), Rights::ALL, None)
}

fn irq_ack(me: &Arc<CapGroup>, irq: u64) -> SysResult {
    me.cap::<Irq>(irq, Rights::WRITE)?.ack();
    Ok(0)
}

fn cap_group_kill(me: &Arc<CapGroup>, group: u64) -> SysResult {
    let g = me.cap::<CapGroup>(group, Rights::WRITE)?;
    if Arc::ptr_eq(&g, me) {
        return Err(Error::InvalidArgument);
    }
    end_group(&g, GroupState::Killed);
    Ok(0)
}

fn cap_group_exit_notify(me: &Arc<CapGroup>, group: u64, n: u64) -> SysResult {
    let g = me.cap::<CapGroup>(group, Rights::READ)?;
    let n = me.cap::<Notification>(n, Rights::WRITE)?;
    let mut inner = g.lock();
    if inner.state != GroupState::Alive {
        drop(inner);
        n.notify();
    } else if inner.exit_notify.len() >= crate::object::cap_group::EXIT_NOTIFY_MAX {
        return Err(Error::TableFull);
    } else {
        inner.exit_notify.push(n);
    }
    Ok(0)
}

fn vmspace_clone(me: &Arc<CapGroup>, dst: u64, src: u64) -> SysResult {
    let dst = me.cap::<CapGroup>(dst, Rights::MAP)?;
    let src = me.cap::<CapGroup>(src, Rights::MAP)?;
    if Arc::ptr_eq(&dst, &src) {
        return Err(Error::InvalidArgument);
    }
    src.vmspace.clone_into(&dst.vmspace, &dst.account)?;
    Ok(0)
}

fn set_mem_limit(me: &Arc<CapGroup>, group: u64, bytes: u64) -> SysResult {
    let g = me.cap::<CapGroup>(group, Rights::WRITE)?;
    // Nobody raises their own limit (lowering it is fine), nor gives
    // another more than they have themselves.
    if bytes / PAGE_SIZE > me.account.limit() {
        return Err(Error::NoRights);
    }
    g.account.set_limit(bytes / PAGE_SIZE);
    Ok(0)
}

fn set_kmem_limit(me: &Arc<CapGroup>, group: u64, bytes: u64) -> SysResult {
    let g = me.cap::<CapGroup>(group, Rights::WRITE)?;
    // As `set_mem_limit`: never above the caller's own.
    if bytes > me.account.kmem_limit() {
        return Err(Error::NoRights);
    }
    g.account.set_kmem_limit(bytes);
    Ok(0)
}

fn pmo_slice(me: &Arc<CapGroup>, pmo: u64, offset: u64, len: u64, mask: Rights) -> SysResult {
    let (pmo, rights, id) = me.cap_entry::<Pmo>(pmo, Rights::NONE)?;
    let slice = pmo.slice(offset, len, &me.account)?;
    me.insert_cap(KObject::Pmo(slice), rights.intersect(mask), Some(id))
}

fn connect_for(me: &Arc<CapGroup>, client: u64, buf: u64) -> SysResult {
    let client = me.cap::<CapGroup>(client, Rights::MAP)?;
    let conn = crate::object::connection::connect(&client, me, buf)?;
    let badge = conn.index;
    let slot = client.insert_cap(KObject::Connection(conn), Rights::ALL.intersect(Rights(!Rights::COPY.0)), None)?;
    Ok(slot | (badge << 32))
}

/// The thread named by `slot` (or the caller, for `slot::CURRENT_THREAD`).
fn thread_cap(me: &Arc<Thread>, slot: u64, need: Rights) -> Result<Arc<Thread>, Error> {
    if slot == chcore_abi::slot::CURRENT_THREAD {
        return Ok(me.clone());
    }
    me.group.cap::<Thread>(slot, need)
}

fn putstr(me: &Arc<CapGroup>, buf: u64, len: u64) -> SysResult {
    if len > PUTSTR_MAX {
        return Err(Error::InvalidArgument);
    }
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(len as usize).map_err(|_| Error::NoMemory)?;
    bytes.resize(len as usize, 0);
    uaccess::copy_from_user(&me.vmspace, buf, &mut bytes)?;
    crate::console::write_bytes(&bytes);
    Ok(len)
}

fn thread_exit(t: &Arc<Thread>) -> SysResult {
    t.lock().state = ThreadState::Exited;
    let others_alive = t
        .group
        .lock()
        .threads
        .iter()
        .filter_map(|w| w.upgrade())
        .any(|o| !Arc::ptr_eq(&o, t) && o.lock().state != ThreadState::Exited);
    if !others_alive {
        // The last thread is gone: so is the process.
        end_group(&t.group, GroupState::Exited(0));
    }
    sched::request_resched();
    Ok(0)
}

/// The rights a PMO capability needs to be mapped with `p`.
fn rights_for(p: u64) -> Rights {
    let mut r = Rights::MAP.union(Rights::READ);
    if p & perm::WRITE != 0 {
        r = r.union(Rights::WRITE);
    }
    if p & perm::EXEC != 0 {
        r = r.union(Rights::EXEC);
    }
    r
}

fn map_pmo(me: &Arc<CapGroup>, group: u64, pmo: u64, addr: u64, p: u64) -> SysResult {
    let target = me.cap::<CapGroup>(group, Rights::MAP)?;
    kernel_core::vmregion::check_perm(p)?;
    let (pmo, rights, _) = me.cap_entry::<Pmo>(pmo, rights_for(p))?;
    // What `protect` may later grant: no more than this capability allows.
    let mut max = perm::READ;
    if rights.contains(Rights::WRITE) {
        max |= perm::WRITE;
    }
    if rights.contains(Rights::EXEC) {
        max |= perm::EXEC;
    }
    target.vmspace.map(pmo, addr, p, max)?;
    Ok(0)
}

fn pmo_io(me: &Arc<CapGroup>, slot: u64, offset: u64, buf: u64, len: u64, write: bool) -> SysResult {
    let need = if write { Rights::WRITE } else { Rights::READ };
    let pmo = me.cap::<Pmo>(slot, need)?;
    match offset.checked_add(len) {
        Some(end) if end <= pmo.size => {}
        _ => return Err(Error::InvalidArgument),
    }
    if pmo.kind == PmoKind::Device {
        return Err(Error::InvalidArgument);
    }
    // Check the whole user buffer before moving any byte.
    if buf.checked_add(len).is_none_or(|e| e > USER_VA_END) {
        return Err(Error::BadAddress);
    }
    let mut page = buf & !(PAGE_SIZE - 1);
    while page < buf + len {
        me.vmspace.resolve(page.max(buf), !write).map_err(|_| Error::BadAddress)?;
        page += PAGE_SIZE;
    }
    let mut chunk = Vec::new();
    chunk.try_reserve_exact(IO_CHUNK).map_err(|_| Error::NoMemory)?;
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(IO_CHUNK as u64) as usize;
        chunk.resize(n, 0);
        if write {
            uaccess::copy_from_user(&me.vmspace, buf + done, &mut chunk)?;
            pmo.write(offset + done, &chunk)?;
        } else {
            pmo.read(offset + done, &mut chunk)?;
            uaccess::copy_to_user(&me.vmspace, buf + done, &chunk)?;
        }
        done += n as u64;
    }
    Ok(len)
}

fn cap_copy(me: &Arc<CapGroup>, slot: u64, group: u64, mask: Rights, transfer: bool) -> SysResult {
    let dest = me.cap::<CapGroup>(group, Rights::WRITE)?;
    let new = {
        let inner = me.lock();
        let src = inner.caps.get(slot)?;
        let mut c = kernel_core::cap::derive(src, mask, new_cap_id())?;
        c.obj = me.resolve(&c.obj);
        if transfer {
            // A moved capability keeps its place in the derivation tree.
            c.parent = src.parent;
        }
        c
    };
    let new_slot = dest.insert_cap(new.obj, new.rights, new.parent)?;
    if transfer {
        let old = me.lock().caps.remove(slot);
        drop(old);
    }
    Ok(new_slot)
}

/// `within`: the cap_group whose account the new group's nests in (see
/// [`payer`]); the new group ends with the caller either way.
fn create_cap_group(me: &Arc<CapGroup>, name: u64, len: u64, extra: Rights, within: u64) -> SysResult {
    if len == 0 || len > NAME_MAX || extra.intersect(Rights(!Rights::DEVICE.0)) != Rights::NONE {
        return Err(Error::InvalidArgument);
    }
    // `DEVICE` only passes on from a holder: rights never grow.
    if extra.contains(Rights::DEVICE) {
        me.cap::<CapGroup>(chcore_abi::slot::SELF_CAP_GROUP, Rights::DEVICE)?;
    }
    let mut bytes = alloc::vec![0u8; len as usize];
    uaccess::copy_from_user(&me.vmspace, name, &mut bytes)?;
    let name = core::str::from_utf8(&bytes).map_err(|_| Error::InvalidArgument)?;
    let child_rights = Rights::ALL.intersect(Rights(!Rights::DEVICE.0)).union(extra);
    // Its memory counts against `within`'s account, and it ends with us.
    let child = CapGroup::new_child(name, child_rights, me, &payer(me, within)?)?;
    me.insert_cap(KObject::CapGroup(child), child_rights, None)
}

fn create_thread(me: &Arc<CapGroup>, group: u64, pc: u64, sp: u64, arg: u64) -> SysResult {
    let target = me.cap::<CapGroup>(group, Rights::WRITE)?;
    if pc >= USER_VA_END || sp >= USER_VA_END || !pc.is_multiple_of(4) {
        return Err(Error::InvalidArgument);
    }
    if target.live_threads() >= MAX_THREADS {
        return Err(Error::TableFull);
    }
    // The thread's memory is the target group's (where it runs, and what
    // ends with it).
    let t = Thread::charged(&target, pc, sp, arg)?;
    let slot = me.insert_cap(KObject::Thread(t.clone()), Rights::ALL, None)?;
    sched::enqueue(t);
    Ok(slot)
}
