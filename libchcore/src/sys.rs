//! System calls: `svc #0`, number in x8, arguments in x0-x5, result in x0.

use chcore_abi::{Error, ObjectType, PmoKind, Rights, Syscall};

/// A raw system call. Returns x0 as the kernel left it.
#[inline(always)]
pub fn raw(call: Syscall, args: [u64; 6]) -> i64 {
    raw_number(call as u64, args)
}

/// A system call by number, which need not name a call (for tests of the
/// kernel's own checks), decoded like every other call.
pub fn by_number(number: u64, args: [u64; 6]) -> Result<u64, Error> {
    decode(raw_number(number, args))
}

/// [`raw`] by number.
#[inline(always)]
pub fn raw_number(number: u64, args: [u64; 6]) -> i64 {
    let ret: i64;
    // SAFETY: `svc #0` enters the kernel, which reads x0-x5 and x8, writes
    // only x0, and checks every argument (pointers included) itself.
    unsafe {
        core::arch::asm!(
            "svc #0",
            inlateout("x0") args[0] => ret,
            in("x1") args[1],
            in("x2") args[2],
            in("x3") args[3],
            in("x4") args[4],
            in("x5") args[5],
            in("x8") number,
            options(nostack)
        );
    }
    ret
}

fn call(c: Syscall, args: [u64; 6]) -> Result<u64, Error> {
    decode(raw(c, args))
}

/// x0 as the kernel left it: a value, or a negated error.
fn decode(r: i64) -> Result<u64, Error> {
    if r < 0 {
        Err(Error::from_result(r).unwrap_or(Error::InvalidArgument))
    } else {
        Ok(r as u64)
    }
}

/// A call without arguments: x0-x5 are left as they are (the kernel ignores
/// them), which saves setting six registers on the hottest calls.
#[inline(always)]
fn call0(c: Syscall) -> Result<u64, Error> {
    let r: i64;
    // SAFETY: as in `raw`; a call without arguments reads only x8.
    unsafe { core::arch::asm!("svc #0", out("x0") r, in("x8") c as u64, options(nostack)) };
    decode(r)
}

fn a(x0: u64, x1: u64, x2: u64, x3: u64) -> [u64; 6] {
    [x0, x1, x2, x3, 0, 0]
}

/// A capability slot in the calling cap_group.
pub type Slot = u64;

/// Write bytes to the console.
pub fn putstr(bytes: &[u8]) -> Result<u64, Error> {
    call(Syscall::Putstr, a(bytes.as_ptr() as u64, bytes.len() as u64, 0, 0))
}

/// `putstr` with a raw pointer (for tests of the kernel's pointer checks).
pub fn putstr_raw(ptr: u64, len: u64) -> Result<u64, Error> {
    call(Syscall::Putstr, a(ptr, len, 0, 0))
}

/// A console byte, or `Error::Again`.
pub fn getc() -> Result<u8, Error> {
    call0(Syscall::Getc).map(|b| b as u8)
}

/// Let other threads run.
pub fn yield_now() {
    let _ = call0(Syscall::Yield);
}

/// End the calling thread.
pub fn thread_exit() -> ! {
    let _ = call0(Syscall::ThreadExit);
    unreachable!("thread_exit returned")
}

/// End the calling cap_group with `code`.
pub fn exit(code: i32) -> ! {
    let _ = call(Syscall::CapGroupExit, a(code as u64, 0, 0, 0));
    unreachable!("cap_group_exit returned")
}

/// A new PMO.
pub fn create_pmo(size: u64, kind: PmoKind) -> Result<Slot, Error> {
    call(Syscall::CreatePmo, a(size, kind as u64, 0, chcore_abi::slot::SELF_CAP_GROUP))
}

/// A new PMO whose pages are charged to cap_group `payer` (this process
/// needs `MAP` on it): a loader makes a new process pay for its program.
pub fn create_pmo_for(payer: Slot, size: u64, kind: PmoKind) -> Result<Slot, Error> {
    call(Syscall::CreatePmo, a(size, kind as u64, 0, payer))
}

/// A new paged PMO named `key`, whose pages this cap_group supplies (it
/// must have called [`pager_register`]).
pub fn create_paged_pmo(size: u64, key: u64) -> Result<Slot, Error> {
    call(Syscall::CreatePmo, a(size, PmoKind::Paged as u64, key, 0))
}

/// Become a pager: faults on this cap_group's paged PMOs notify `notification`.
pub fn pager_register(notification: Slot) -> Result<(), Error> {
    call(Syscall::PagerRegister, a(notification, 0, 0, 0)).map(|_| ())
}

/// The oldest fault queued for this pager: (key, offset), or `None`.
pub fn pager_next() -> Result<Option<(u64, u64)>, Error> {
    let mut f = chcore_abi::PagerFault::default();
    match call(Syscall::PagerNext, a(&mut f as *mut chcore_abi::PagerFault as u64, 0, 0, 0)) {
        Ok(_) => Ok(Some((f.key, f.offset))),
        Err(Error::Again) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Supply page `offset` of this pager's PMO `key` from `page` (a whole
/// page), or refuse it (`None`: whoever waits for it is ended).
pub fn pager_supply(key: u64, offset: u64, page: Option<&[u8; 4096]>) -> Result<(), Error> {
    let src = page.map_or(0, |p| p.as_ptr() as u64);
    call(Syscall::PagerSupply, a(key, offset, src, 0)).map(|_| ())
}

/// A private copy-on-write window on pages `[offset, offset + len)` of the
/// paged (or contiguous) PMO `pmo`.
pub fn pmo_private(pmo: Slot, offset: u64, len: u64) -> Result<Slot, Error> {
    call(Syscall::PmoPrivate, a(pmo, offset, len, 0))
}

/// A PMO over device registers (needs `Rights::DEVICE` on slot 0).
pub fn create_device_pmo(paddr: u64, size: u64) -> Result<Slot, Error> {
    call(Syscall::CreateDevicePmo, a(paddr, size, 0, 0))
}

/// Map `pmo` into the vmspace of `group` at `addr` with `perm` (`abi::perm`).
pub fn map_pmo(group: Slot, pmo: Slot, addr: u64, perm: u64) -> Result<(), Error> {
    call(Syscall::MapPmo, a(group, pmo, addr, perm)).map(|_| ())
}

/// Remove the mapping that starts at `addr` in `group`.
pub fn unmap_pmo(group: Slot, addr: u64) -> Result<(), Error> {
    call(Syscall::UnmapPmo, a(group, addr, 0, 0)).map(|_| ())
}

/// Change the permissions of the mapping `[addr, addr + len)` in `group`.
pub fn protect(group: Slot, addr: u64, len: u64, perm: u64) -> Result<(), Error> {
    call(Syscall::Protect, a(group, addr, len, perm)).map(|_| ())
}

/// Read from a PMO into `buf`.
pub fn read_pmo(pmo: Slot, offset: u64, buf: &mut [u8]) -> Result<u64, Error> {
    call(Syscall::ReadPmo, a(pmo, offset, buf.as_mut_ptr() as u64, buf.len() as u64))
}

/// Write `data` into a PMO.
pub fn write_pmo(pmo: Slot, offset: u64, data: &[u8]) -> Result<u64, Error> {
    call(Syscall::WritePmo, a(pmo, offset, data.as_ptr() as u64, data.len() as u64))
}

/// `read_pmo`/`write_pmo` with a raw pointer (for tests of the pointer checks).
pub fn pmo_io_raw(write: bool, pmo: Slot, offset: u64, ptr: u64, len: u64) -> Result<u64, Error> {
    let c = if write { Syscall::WritePmo } else { Syscall::ReadPmo };
    call(c, a(pmo, offset, ptr, len))
}

/// Copy capability `slot` to `group`, with rights narrowed to `rights`.
pub fn cap_copy(slot: Slot, group: Slot, rights: Rights) -> Result<Slot, Error> {
    call(Syscall::CapCopy, a(slot, group, rights.0, 0))
}

/// Move capability `slot` to `group`, with rights narrowed to `rights`.
pub fn cap_transfer(slot: Slot, group: Slot, rights: Rights) -> Result<Slot, Error> {
    call(Syscall::CapTransfer, a(slot, group, rights.0, 0))
}

/// Remove every capability derived from `slot`; returns how many.
pub fn cap_revoke(slot: Slot) -> Result<u64, Error> {
    call(Syscall::CapRevoke, a(slot, 0, 0, 0))
}

/// Remove the capability in `slot`.
pub fn cap_delete(slot: Slot) -> Result<(), Error> {
    call(Syscall::CapDelete, a(slot, 0, 0, 0)).map(|_| ())
}

/// Type and rights of the capability in `slot`.
pub fn cap_info(slot: Slot) -> Result<(ObjectType, Rights), Error> {
    let v = call(Syscall::CapInfo, a(slot, 0, 0, 0))?;
    let ty = ObjectType::from_number(v >> 32).ok_or(Error::InvalidArgument)?;
    Ok((ty, Rights(v & 0xFFFF_FFFF)))
}

/// A new, empty cap_group.
pub fn create_cap_group(name: &str) -> Result<Slot, Error> {
    create_cap_group_with(name, Rights::NONE)
}

/// A new, empty process that also holds `extra` rights on itself; only
/// `Rights::DEVICE` may be asked for, and only by a holder of it.
pub fn create_cap_group_with(name: &str, extra: Rights) -> Result<Slot, Error> {
    create_cap_group_in(name, extra, chcore_abi::slot::SELF_CAP_GROUP)
}

/// [`create_cap_group_with`], its memory account nested in `within`'s (a
/// cap_group held with `MAP`; `slot::SELF_CAP_GROUP` for the caller's own):
/// procmgr puts every user process in one account this way.
pub fn create_cap_group_in(name: &str, extra: Rights, within: Slot) -> Result<Slot, Error> {
    call(Syscall::CreateCapGroup, a(name.as_ptr() as u64, name.len() as u64, extra.0, within))
}

/// A new runnable thread in `group`.
pub fn create_thread(group: Slot, pc: u64, sp: u64, arg: u64) -> Result<Slot, Error> {
    call(Syscall::CreateThread, a(group, pc, sp, arg))
}

/// Timer ticks since boot.
pub fn get_tick() -> u64 {
    call0(Syscall::GetTick).unwrap_or(0)
}

/// Free physical memory in bytes.
pub fn free_memory() -> u64 {
    call0(Syscall::FreeMemory).unwrap_or(0)
}

/// Set a thread's priority (0-255, higher first); `slot::CURRENT_THREAD` is the caller.
pub fn set_priority(thread: Slot, prio: u8) -> Result<(), Error> {
    call(Syscall::ThreadSetPriority, a(thread, prio as u64, 0, 0)).map(|_| ())
}

/// Pin a thread to `cpu`, or unpin it with `None`.
pub fn set_affinity(thread: Slot, cpu: Option<u64>) -> Result<(), Error> {
    call(Syscall::ThreadSetAffinity, a(thread, cpu.unwrap_or(chcore_abi::NO_AFFINITY), 0, 0)).map(|_| ())
}

/// The CPU a thread is pinned to, if any.
pub fn get_affinity(thread: Slot) -> Result<Option<u64>, Error> {
    call(Syscall::ThreadGetAffinity, a(thread, 0, 0, 0)).map(|c| (c != chcore_abi::NO_AFFINITY).then_some(c))
}

/// Stop a thread until [`resume`].
pub fn suspend(thread: Slot) -> Result<(), Error> {
    call(Syscall::ThreadSuspend, a(thread, 0, 0, 0)).map(|_| ())
}

/// Let a suspended thread run again.
pub fn resume(thread: Slot) -> Result<(), Error> {
    call(Syscall::ThreadResume, a(thread, 0, 0, 0)).map(|_| ())
}

/// Sleep for `ticks` timer ticks.
pub fn sleep(ticks: u64) {
    let _ = call(Syscall::Sleep, a(ticks, 0, 0, 0));
}

/// The CPU the caller runs on.
pub fn cpu_id() -> u64 {
    call0(Syscall::GetCpuId).unwrap_or(0)
}

/// CPUs in use.
pub fn cpu_count() -> u64 {
    call0(Syscall::CpuCount).unwrap_or(1)
}

/// A new notification.
pub fn create_notification() -> Result<Slot, Error> {
    create_notification_for(chcore_abi::slot::SELF_CAP_GROUP)
}

/// [`create_notification`], its kernel memory charged to `payer` (a
/// cap_group held with `MAP`): procmgr charges a process for its pipes.
pub fn create_notification_for(payer: Slot) -> Result<Slot, Error> {
    call(Syscall::CreateNotification, a(payer, 0, 0, 0))
}

/// Wait on a notification: `None` forever, `Some(0)` polls, else a timeout in ticks.
pub fn wait(notification: Slot, timeout: Option<u64>) -> Result<(), Error> {
    call(Syscall::Wait, a(notification, timeout.unwrap_or(chcore_abi::WAIT_FOREVER), 0, 0)).map(|_| ())
}

/// Wake one waiter (or count one up).
pub fn notify(notification: Slot) -> Result<(), Error> {
    call(Syscall::Notify, a(notification, 0, 0, 0)).map(|_| ())
}

/// Become an IPC server whose handlers start at `entry`.
pub fn register_server(entry: u64, max_connections: u64) -> Result<(), Error> {
    call(Syscall::RegisterServer, a(entry, max_connections, 0, 0)).map(|_| ())
}

/// Connect to the server `group`, with the shared buffer mapped at `buf`.
pub fn register_client(group: Slot, buf: u64) -> Result<Slot, Error> {
    call(Syscall::RegisterClient, a(group, buf, 0, 0))
}

/// `ipc_call`: returns x0 and the words in x1-x3.
pub fn ipc_call(conn: Slot, words: [u64; 4], ncaps: u64) -> (i64, [u64; 3]) {
    let (r0, r1, r2, r3): (i64, u64, u64, u64);
    // SAFETY: as in `raw`; the kernel also writes x1-x3 on return from a call.
    unsafe {
        core::arch::asm!(
            "svc #0",
            inlateout("x0") conn => r0,
            inlateout("x1") words[0] => r1,
            inlateout("x2") words[1] => r2,
            inlateout("x3") words[2] => r3,
            in("x4") words[3],
            in("x5") ncaps,
            in("x8") Syscall::IpcCall as u64,
            options(nostack)
        );
    }
    (r0, [r1, r2, r3])
}

/// `ipc_return` from a handler: the caller's call returns `ret` and `words`.
pub fn ipc_return(ret: i64, words: [u64; 3], ncaps: u64) -> ! {
    raw(Syscall::IpcReturn, [ret as u64, words[0], words[1], words[2], ncaps, 0]);
    // Only reached if the kernel refused (not a handler thread).
    exit(102)
}

/// Take interrupt line `irq` (see `abi::irq`); needs `Rights::DEVICE` on slot 0.
pub fn irq_register(irq: u64) -> Result<Slot, Error> {
    call(Syscall::IrqRegister, a(irq, 0, 0, 0))
}

/// Block until the interrupt fires.
pub fn irq_wait(irq: Slot) -> Result<(), Error> {
    call(Syscall::IrqWait, a(irq, 0, 0, 0)).map(|_| ())
}

/// Let the line through again once the device is quiet.
pub fn irq_ack(irq: Slot) -> Result<(), Error> {
    call(Syscall::IrqAck, a(irq, 0, 0, 0)).map(|_| ())
}

/// Size of a PMO in bytes.
pub fn pmo_size(pmo: Slot) -> Result<u64, Error> {
    call(Syscall::PmoSize, a(pmo, 0, 0, 0))
}

/// A PMO for the pages `[offset, offset + len)` of the contiguous (or
/// paged) PMO `pmo`, sharing its memory, with `pmo`'s rights narrowed to `rights`.
pub fn pmo_slice(pmo: Slot, offset: u64, len: u64, rights: Rights) -> Result<Slot, Error> {
    call(Syscall::PmoSlice, a(pmo, offset, len, rights.0))
}

/// As a server, connect cap_group `client` to ourselves with its buffer at
/// `buf`: returns (the connection's slot in the client, its badge).
pub fn connect_for(client: Slot, buf: u64) -> Result<(Slot, u64), Error> {
    call(Syscall::ConnectFor, a(client, buf, 0, 0)).map(|v| (v & 0xFFFF_FFFF, v >> 32))
}

/// End another cap_group.
pub fn cap_group_kill(group: Slot) -> Result<(), Error> {
    call(Syscall::CapGroupKill, a(group, 0, 0, 0)).map(|_| ())
}

/// Have `notification` notified when `group` ends.
pub fn cap_group_exit_notify(group: Slot, notification: Slot) -> Result<(), Error> {
    call(Syscall::CapGroupExitNotify, a(group, notification, 0, 0)).map(|_| ())
}

/// Give `dst` a copy of `src`'s address space.
pub fn vmspace_clone(dst: Slot, src: Slot) -> Result<(), Error> {
    call(Syscall::VmspaceClone, a(dst, src, 0, 0)).map(|_| ())
}

/// Raw `cap_group_state` result (see `abi::group_state`).
pub fn cap_group_state(group: Slot) -> Result<u64, Error> {
    call(Syscall::CapGroupState, a(group, 0, 0, 0))
}

/// Limit the physical memory `group`'s PMOs may hold to `bytes`.
pub fn set_mem_limit(group: Slot, bytes: u64) -> Result<(), Error> {
    call(Syscall::SetMemLimit, a(group, bytes, 0, 0)).map(|_| ())
}

/// Physical memory charged to `group` now, in bytes.
pub fn mem_usage(group: Slot) -> Result<u64, Error> {
    call(Syscall::MemUsage, a(group, 0, 0, 0))
}

/// Limit the kernel memory `group`'s objects may take to `bytes`.
pub fn set_kmem_limit(group: Slot, bytes: u64) -> Result<(), Error> {
    call(Syscall::SetKmemLimit, a(group, bytes, 0, 0)).map(|_| ())
}

/// Kernel memory charged to `group` now, in bytes.
pub fn kmem_usage(group: Slot) -> Result<u64, Error> {
    call(Syscall::KmemUsage, a(group, 0, 0, 0))
}

/// Kernel heap that allocating calls may still take, in bytes.
pub fn free_kmem() -> u64 {
    call0(Syscall::FreeKmem).unwrap_or(0)
}

/// What CPU `cpu` has done since boot (entries, interrupts, switches, idle time).
pub fn cpu_stats(cpu: u64) -> Result<chcore_abi::CpuStats, Error> {
    let mut words = [0u64; 5];
    call(Syscall::CpuStats, a(cpu, words.as_mut_ptr() as u64, 0, 0))?;
    Ok(chcore_abi::CpuStats::from_words(words))
}

/// Timer ticks during which a thread of `group` was running.
pub fn cap_group_cpu_time(group: Slot) -> Result<u64, Error> {
    call(Syscall::CapGroupCpuTime, a(group, 0, 0, 0))
}
