//! System call dispatch and implementations.
//!
//! Each call decodes and checks all of its arguments (capabilities with the
//! type and rights it needs, user pointers, sizes) before it changes
//! anything, and returns a negative `chcore_abi::Error` when one is wrong.
//! docs/syscalls.md is the reference.

use crate::arch::TrapFrame;
use crate::fault::end_group;
use crate::object::cap_group::{CapGroup, GroupState};
use crate::object::connection::Connection;
use crate::object::irq::Irq;
use crate::object::notification::Notification;
use crate::object::pmo::Pmo;
use crate::object::thread::{Thread, ThreadState};
use crate::object::{new_cap_id, KObject};
use crate::{mm, sched, uaccess};
use alloc::sync::Arc;
use alloc::vec::Vec;
use chcore_abi::{group_state, perm, Error, PmoKind, Rights, Syscall, NO_AFFINITY, PUTSTR_MAX};
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

/// The system call table, indexed by number (x8).
static TABLE: [Entry; Syscall::COUNT as usize] = {
    let mut table = [const { Entry { run: |_, _| Err(Error::NoSyscall), allocates: false, lock_free: false } };
        Syscall::COUNT as usize];
    let mut i = 0;
    while i < table.len() {
        let call = Syscall::ALL[i];
        table[i] = Entry { run: handler(call), allocates: allocates(call), lock_free: lock_free(call) };
        i += 1;
    }
    table
};

/// Run the system call in `frame` (number in x8, arguments in x0-x5) and
/// put the result in x0. Takes the big kernel lock unless the call needs
/// none; returns whether the lock is held.
#[inline(always)]
pub fn dispatch(frame: &mut TrapFrame) -> bool {
    let Some(entry) = usize::try_from(frame.x[8]).ok().and_then(|n| TABLE.get(n)) else {
        frame.x[0] = refused(frame, Error::NoSyscall);
        return false;
    };
    if !entry.lock_free {
        crate::bkl::acquire();
    }
    let result = if entry.allocates && !mm::heap_has_room() {
        Err(Error::NoMemory)
    } else {
        let a: &[u64; 6] = frame.x.first_chunk().unwrap_or(&[0; 6]);
        sched::with_current(|t| (entry.run)(t, a)).unwrap_or(Err(Error::NoSyscall))
    };
    frame.x[0] = match result {
        Ok(v) => v,
        Err(e) => refused(frame, e),
    };
    !entry.lock_free
}

/// See [`Entry::lock_free`].
const fn lock_free(call: Syscall) -> bool {
    use Syscall::*;
    matches!(call, GetCpuId | CpuCount | GetTick | Yield)
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

/// See [`Entry::allocates`].
const fn allocates(call: Syscall) -> bool {
    use Syscall::*;
    matches!(
        call,
        Putstr
            | CreatePmo
            | CreateDevicePmo
            | MapPmo
            | ReadPmo
            | WritePmo
            | CapCopy
            | CapTransfer
            | CreateCapGroup
            | CreateThread
            | RegisterServer
            | RegisterClient
            | CreateNotification
            | IrqRegister
            | VmspaceClone
            | ConnectFor
            | PmoSlice
    )
}

/// A system call's implementation: the calling thread and x0-x5.
type Handler = fn(&Arc<Thread>, &[u64; 6]) -> SysResult;

/// The implementation of `call`. Each is its own small function (the
/// closures below do not capture), so a call pays only for its own work:
/// one big `match` would make every call pay for the registers the largest
/// one needs.
const fn handler(call: Syscall) -> Handler {
    match call {
        Syscall::Putstr => |t, a| putstr(&t.group, a[0], a[1]),
        Syscall::Getc => |_, _| crate::console::getc().map(u64::from).ok_or(Error::Again),
        Syscall::Yield => |_, _| {
            sched::request_resched();
            Ok(0)
        },
        Syscall::ThreadExit => |t, _| thread_exit(t),
        Syscall::CapGroupExit => |t, a| {
            let me = &t.group;
            end_group(me, GroupState::Exited(a[0] as i32 as i64));
            Ok(0)
        },
        Syscall::CreatePmo => |t, a| {
            let me = &t.group;
            let kind = PmoKind::from_number(a[1]).filter(|k| *k != PmoKind::Device).ok_or(Error::InvalidArgument)?;
            let pmo = Pmo::new(kind, a[0], &me.account)?;
            me.insert_cap(KObject::Pmo(pmo), Rights::ALL, None)
        },
        Syscall::CreateDevicePmo => |t, a| {
            let me = &t.group;
            me.cap::<CapGroup>(chcore_abi::slot::SELF_CAP_GROUP, Rights::DEVICE)?;
            if mm::overlaps_ram(a[0], a[1]) {
                return Err(Error::InvalidArgument);
            }
            let pmo = Pmo::new_device(a[0], a[1])?;
            me.insert_cap(KObject::Pmo(pmo), Rights::ALL.intersect(Rights(!Rights::EXEC.0)), None)
        },
        Syscall::MapPmo => |t, a| map_pmo(&t.group, a[0], a[1], a[2], a[3]),
        Syscall::UnmapPmo => |t, a| {
            let me = &t.group;
            let target = me.cap::<CapGroup>(a[0], Rights::MAP)?;
            let pmo = target.vmspace.unmap(a[1])?;
            drop(pmo);
            Ok(0)
        },
        Syscall::Protect => |t, a| {
            let me = &t.group;
            let target = me.cap::<CapGroup>(a[0], Rights::MAP)?;
            target.vmspace.protect(a[1], a[2], a[3])?;
            Ok(0)
        },
        Syscall::ReadPmo => |t, a| pmo_io(&t.group, a[0], a[1], a[2], a[3], false),
        Syscall::WritePmo => |t, a| pmo_io(&t.group, a[0], a[1], a[2], a[3], true),
        Syscall::CapCopy => |t, a| cap_copy(&t.group, a[0], a[1], Rights(a[2]), false),
        Syscall::CapTransfer => |t, a| cap_copy(&t.group, a[0], a[1], Rights(a[2]), true),
        Syscall::CapRevoke => |t, a| {
            let me = &t.group;
            let id = {
                let inner = me.lock();
                let cap = inner.caps.get(a[0])?;
                if !cap.rights.contains(Rights::REVOKE) {
                    return Err(Error::NoRights);
                }
                cap.id
            };
            let removed = crate::object::cap_group::revoke_everywhere(id);
            let n = removed.len() as u64;
            drop(removed);
            Ok(n)
        },
        Syscall::CapDelete => |t, a| {
            let me = &t.group;
            let cap = me.lock().caps.remove(a[0])?;
            drop(cap);
            Ok(0)
        },
        Syscall::CreateCapGroup => |t, a| create_cap_group(&t.group, a[0], a[1]),
        Syscall::CreateThread => |t, a| create_thread(&t.group, a[0], a[1], a[2], a[3]),
        Syscall::GetTick => |_, _| Ok(crate::arch::timer::ticks()),
        Syscall::FreeMemory => |_, _| Ok(mm::free_page_count() * PAGE_SIZE),
        Syscall::CapInfo => |t, a| {
            let me = &t.group;
            let inner = me.lock();
            let cap = inner.caps.get(a[0])?;
            Ok(((kernel_core::cap::Object::object_type(&cap.obj) as u64) << 32) | cap.rights.0)
        },
        Syscall::ThreadSetPriority => |t, a| {
            let t = thread_cap(t, a[0], Rights::WRITE)?;
            let prio = u8::try_from(a[1]).map_err(|_| Error::InvalidArgument)?;
            t.lock().prio = prio;
            sched::request_resched();
            Ok(0)
        },
        Syscall::ThreadSetAffinity => |t, a| {
            let t = thread_cap(t, a[0], Rights::WRITE)?;
            let cpu = if a[1] == NO_AFFINITY {
                None
            } else {
                Some(usize::try_from(a[1]).map_err(|_| Error::InvalidArgument)?)
            };
            sched::set_affinity(&t, cpu)?;
            sched::request_resched();
            Ok(0)
        },
        Syscall::ThreadGetAffinity => |t, a| {
            let t = thread_cap(t, a[0], Rights::READ)?;
            let a = t.lock().affinity;
            Ok(a.map_or(NO_AFFINITY, |c| c as u64))
        },
        Syscall::ThreadSuspend => |t, a| {
            let t = thread_cap(t, a[0], Rights::WRITE)?;
            sched::suspend(&t);
            Ok(0)
        },
        Syscall::ThreadResume => |t, a| {
            let t = thread_cap(t, a[0], Rights::WRITE)?;
            sched::resume(&t);
            Ok(0)
        },
        Syscall::Sleep => |_, a| {
            if a[0] > 0 {
                sched::block_current(Some(a[0]), 0, None);
            }
            Ok(0)
        },
        Syscall::GetCpuId => |_, _| Ok(crate::arch::smp::cpu_id() as u64),
        Syscall::CpuStats => |t, a| {
            let cpu = usize::try_from(a[0]).ok().filter(|&c| c < sched::online()).ok_or(Error::InvalidArgument)?;
            let stats = crate::stats::snapshot(cpu).ok_or(Error::InvalidArgument)?;
            let bytes: [u8; chcore_abi::CpuStats::SIZE] =
                stats.to_words().map(u64::to_ne_bytes).as_flattened().try_into().map_err(|_| Error::InvalidArgument)?;
            uaccess::copy_to_user(&t.group.vmspace, a[1], &bytes)?;
            Ok(0)
        },
        Syscall::CapGroupCpuTime => |t, a| Ok(t.group.cap::<CapGroup>(a[0], Rights::READ)?.cpu_time()),
        Syscall::CpuCount => |_, _| Ok(sched::online() as u64),
        Syscall::RegisterServer => |t, a| {
            let me = &t.group;
            crate::object::connection::register_server(me, a[0], a[1])?;
            Ok(0)
        },
        Syscall::RegisterClient => |t, a| {
            let me = &t.group;
            let server = me.cap::<CapGroup>(a[0], Rights::READ)?;
            let conn = crate::object::connection::connect(me, &server, a[1])?;
            me.insert_cap(KObject::Connection(conn), Rights::ALL, None)
        },
        Syscall::IpcCall => |t, a| {
            let me = &t.group;
            let conn = me.cap::<Connection>(a[0], Rights::WRITE)?;
            conn.call(t, [a[1], a[2], a[3], a[4]], a[5])?;
            Ok(0)
        },
        Syscall::IpcReturn => |t, a| {
            crate::object::connection::ipc_return(t, [a[0], a[1], a[2], a[3]], a[4])?;
            Ok(0)
        },
        Syscall::CreateNotification => |t, _| {
            t.group.insert_cap(
                KObject::Notification(crate::object::notification::Notification::new()),
                Rights::ALL,
                None,
            )
        },
        Syscall::Wait => |t, a| {
            let me = &t.group;
            let n = me.cap::<Notification>(a[0], Rights::READ)?;
            n.wait(t, if a[1] == chcore_abi::WAIT_FOREVER { None } else { Some(a[1]) })
        },
        Syscall::Notify => |t, a| {
            let me = &t.group;
            me.cap::<Notification>(a[0], Rights::WRITE)?.notify();
            Ok(0)
        },
        Syscall::IrqRegister => |t, a| {
            let me = &t.group;
            me.cap::<CapGroup>(chcore_abi::slot::SELF_CAP_GROUP, Rights::DEVICE)?;
            let irq = crate::object::irq::Irq::register(a[0])?;
            me.insert_cap(KObject::Irq(irq), Rights::ALL, None)
        },
        Syscall::IrqWait => |t, a| t.group.cap::<Irq>(a[0], Rights::READ)?.wait(t),
        Syscall::IrqAck => |t, a| {
            let me = &t.group;
            me.cap::<Irq>(a[0], Rights::WRITE)?.ack();
            Ok(0)
        },
        Syscall::CapGroupKill => |t, a| {
            let me = &t.group;
            let g = me.cap::<CapGroup>(a[0], Rights::WRITE)?;
            if Arc::ptr_eq(&g, me) {
                return Err(Error::InvalidArgument);
            }
            end_group(&g, GroupState::Killed);
            Ok(0)
        },
        Syscall::CapGroupExitNotify => |t, a| {
            let me = &t.group;
            let g = me.cap::<CapGroup>(a[0], Rights::READ)?;
            let n = me.cap::<Notification>(a[1], Rights::WRITE)?;
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
        },
        Syscall::VmspaceClone => |t, a| {
            let me = &t.group;
            let dst = me.cap::<CapGroup>(a[0], Rights::MAP)?;
            let src = me.cap::<CapGroup>(a[1], Rights::MAP)?;
            if Arc::ptr_eq(&dst, &src) {
                return Err(Error::InvalidArgument);
            }
            src.vmspace.clone_into(&dst.vmspace, &dst.account)?;
            Ok(0)
        },
        Syscall::SetMemLimit => |t, a| {
            let me = &t.group;
            let g = me.cap::<CapGroup>(a[0], Rights::WRITE)?;
            // Nobody raises their own limit (lowering it is fine), nor
            // gives another more than they have themselves.
            if a[1] / PAGE_SIZE > me.account.limit() {
                return Err(Error::NoRights);
            }
            g.account.set_limit(a[1] / PAGE_SIZE);
            Ok(0)
        },
        Syscall::MemUsage => |t, a| {
            let g = t.group.cap::<CapGroup>(a[0], Rights::READ)?;
            Ok(g.account.used() * PAGE_SIZE)
        },
        Syscall::PmoSlice => |t, a| {
            let me = &t.group;
            let (pmo, rights, id) = me.cap_entry::<Pmo>(a[0], Rights::NONE)?;
            let slice = pmo.slice(a[1], a[2])?;
            me.insert_cap(KObject::Pmo(slice), rights.intersect(Rights(a[3])), Some(id))
        },
        Syscall::PmoSize => |t, a| Ok(t.group.cap::<Pmo>(a[0], Rights::NONE)?.size),
        Syscall::ConnectFor => |t, a| {
            let me = &t.group;
            let client = me.cap::<CapGroup>(a[0], Rights::MAP)?;
            let conn = crate::object::connection::connect(&client, me, a[1])?;
            let badge = conn.index;
            let slot =
                client.insert_cap(KObject::Connection(conn), Rights::ALL.intersect(Rights(!Rights::COPY.0)), None)?;
            Ok(slot | (badge << 32))
        },
        Syscall::CapGroupState => |t, a| {
            let me = &t.group;
            let g = me.cap::<CapGroup>(a[0], Rights::READ)?;
            Ok(match g.state() {
                GroupState::Alive => group_state::ALIVE,
                GroupState::Exited(code) => group_state::EXITED | ((code as u32 as u64) << 8),
                GroupState::Killed => group_state::KILLED,
            })
        },
    }
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

fn create_cap_group(me: &Arc<CapGroup>, name: u64, len: u64) -> SysResult {
    if len == 0 || len > NAME_MAX {
        return Err(Error::InvalidArgument);
    }
    let mut bytes = alloc::vec![0u8; len as usize];
    uaccess::copy_from_user(&me.vmspace, name, &mut bytes)?;
    let name = core::str::from_utf8(&bytes).map_err(|_| Error::InvalidArgument)?;
    let child_rights = Rights::ALL.intersect(Rights(!Rights::DEVICE.0));
    // Its memory counts against ours, and it ends with us.
    let child = CapGroup::new_child(name, child_rights, me)?;
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
    let t = Thread::new(&target, pc, sp, arg)?;
    let slot = me.insert_cap(KObject::Thread(t.clone()), Rights::ALL, None)?;
    sched::enqueue(t);
    Ok(slot)
}
