//! The one definition of the kernel/user ABI, shared by the kernel and
//! libchcore (neither depends on the other).
//!
//! A system call is `svc #0` with the number ([`Syscall`]) in `x8`, arguments
//! in `x0`-`x5` and the result in `x0`: non-negative on success, a negated
//! [`Error`] code on failure. docs/syscalls.md documents every call.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

/// System call numbers (`x8`).
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syscall {
    /// `putstr(buf, len) -> len`: write bytes to the console.
    Putstr = 0,
    /// `getc() -> byte`: read a console byte, or `Again` if none is waiting.
    Getc = 1,
    /// `yield()`: let other threads run.
    Yield = 2,
    /// `thread_exit()`: end the calling thread.
    ThreadExit = 3,
    /// `cap_group_exit(code)`: end every thread of the calling cap_group.
    CapGroupExit = 4,
    /// `create_pmo(size, kind, key, payer) -> cap`; `key` names a
    /// [`PmoKind::Paged`] PMO to its pager (ignored for the other kinds);
    /// `payer` is the cap_group charged for its pages (slot 0: the caller).
    CreatePmo = 5,
    /// `create_device_pmo(paddr, size) -> cap`: needs [`Rights::DEVICE`] on slot 0.
    CreateDevicePmo = 6,
    /// `map_pmo(cap_group_cap, pmo_cap, addr, perm) -> 0`.
    MapPmo = 7,
    /// `unmap_pmo(cap_group_cap, addr) -> 0`.
    UnmapPmo = 8,
    /// `protect(cap_group_cap, addr, len, perm) -> 0`.
    Protect = 9,
    /// `read_pmo(pmo_cap, offset, buf, len) -> len`.
    ReadPmo = 10,
    /// `write_pmo(pmo_cap, offset, buf, len) -> len`.
    WritePmo = 11,
    /// `cap_copy(slot, cap_group_cap, rights) -> new slot in that group`.
    CapCopy = 12,
    /// `cap_transfer(slot, cap_group_cap, rights) -> new slot`; the caller's slot is emptied.
    CapTransfer = 13,
    /// `cap_revoke(slot) -> 0`: remove the capability and every one derived from it.
    CapRevoke = 14,
    /// `cap_delete(slot) -> 0`: remove one capability.
    CapDelete = 15,
    /// `create_cap_group(name, name_len, extra, within) -> cap`: a new,
    /// empty process; `extra` may give it [`Rights::DEVICE`] if the caller
    /// has it. Its memory account nests in `within`'s: a cap_group the
    /// caller holds with `MAP`, or slot 0 for the caller's own. It ends
    /// when the caller ends.
    CreateCapGroup = 16,
    /// `create_thread(cap_group_cap, pc, sp, arg) -> cap`: a runnable thread in that group.
    CreateThread = 17,
    /// `get_tick() -> ticks since boot`.
    GetTick = 18,
    /// `free_memory() -> bytes of free physical memory`.
    FreeMemory = 19,
    /// `cap_info(slot) -> (object type << 32) | rights`.
    CapInfo = 20,
    /// `cap_group_state(cap_group_cap) -> state`: see [`group_state`].
    CapGroupState = 21,
    /// `thread_set_priority(thread_cap, prio) -> 0`; prio 0-255, higher runs first.
    ThreadSetPriority = 22,
    /// `thread_set_affinity(thread_cap, cpu) -> 0`; [`NO_AFFINITY`] unpins.
    ThreadSetAffinity = 23,
    /// `thread_get_affinity(thread_cap) -> cpu or NO_AFFINITY`.
    ThreadGetAffinity = 24,
    /// `thread_suspend(thread_cap) -> 0`.
    ThreadSuspend = 25,
    /// `thread_resume(thread_cap) -> 0`.
    ThreadResume = 26,
    /// `sleep(ticks) -> 0`.
    Sleep = 27,
    /// `get_cpu_id() -> the CPU the caller runs on`.
    GetCpuId = 28,
    /// `cpu_count() -> CPUs in use`.
    CpuCount = 29,
    /// `register_server(entry, max_connections) -> 0`: the caller becomes an IPC server.
    RegisterServer = 30,
    /// `register_client(server_cap_group_cap, buf_addr) -> connection cap`.
    RegisterClient = 31,
    /// `ipc_call(conn, w0, w1, w2, w3, cap_count) -> (x0 = ret, x1-x3 = words)`.
    IpcCall = 32,
    /// `ipc_return(ret, w0, w1, w2, cap_count)`: ends the handler's current call.
    IpcReturn = 33,
    /// `create_notification(payer) -> cap`: `payer` is the cap_group charged
    /// for its kernel memory (a cap_group held with `MAP`; slot 0: the caller).
    CreateNotification = 34,
    /// `wait(notification, timeout_ticks) -> 0`; [`WAIT_FOREVER`], or 0 to poll.
    Wait = 35,
    /// `notify(notification) -> 0`.
    Notify = 36,
    /// `irq_register(irq) -> cap`: needs [`Rights::DEVICE`] on slot 0; see [`irq`].
    IrqRegister = 37,
    /// `irq_wait(irq_cap) -> 0`: block until the interrupt fires.
    IrqWait = 38,
    /// `irq_ack(irq_cap) -> 0`: the device is quiet again; let the line through.
    IrqAck = 39,
    /// `cap_group_kill(cap_group_cap) -> 0`: end another cap_group (needs `WRITE`).
    CapGroupKill = 40,
    /// `cap_group_exit_notify(cap_group_cap, notification) -> 0`: notify when it
    /// ends (in addition to those registered before: at most 4, then `TableFull`).
    CapGroupExitNotify = 41,
    /// `vmspace_clone(dst_cap_group, src_cap_group) -> 0`: give `dst` a copy of
    /// `src`'s address space (private memory copied, shared memory shared).
    VmspaceClone = 42,
    /// `pmo_size(pmo_cap) -> bytes`.
    PmoSize = 43,
    /// `connect_for(client_cap_group, buf_addr) -> slot | badge << 32`: a
    /// server connects a client to itself (the connection capability goes to
    /// the client; the server learns the badge its calls will carry).
    ConnectFor = 44,
    /// `set_mem_limit(cap_group_cap, bytes) -> 0`: the most physical memory
    /// the group's PMOs may hold (rounded down to pages). Needs WRITE on the
    /// group, and no more than the caller's own limit (`NoRights`): a group
    /// may lower its own limit, never raise it. A new cap_group starts with
    /// its creator's limit, and its memory counts against its creator's too.
    SetMemLimit = 45,
    /// `mem_usage(cap_group_cap) -> bytes`: physical memory charged to the
    /// group now (pages its PMOs allocated and still hold). Needs READ.
    MemUsage = 46,
    /// `pmo_slice(pmo_cap, offset, len, rights_mask) -> cap`: a PMO for the
    /// pages `[offset, offset + len)` of a contiguous (`Data`) or `Paged`
    /// PMO, sharing its memory (nothing is copied or charged). Offset and length are
    /// page-aligned and inside the PMO. The new capability has the source
    /// capability's rights ANDed with the mask, and is revoked with it.
    PmoSlice = 47,
    /// `cpu_stats(cpu, buf) -> 0`: write that CPU's [`CpuStats`] (40 bytes)
    /// to `buf`. `InvalidArgument` for a CPU not in use.
    CpuStats = 48,
    /// `cap_group_cpu_time(cap_group_cap) -> ticks`: timer ticks during
    /// which one of the group's threads was running (a sample taken at each
    /// tick, as Unix's utime). Needs READ.
    CapGroupCpuTime = 49,
    /// `pager_register(notification_cap) -> 0`: the calling cap_group becomes
    /// a pager: it may create [`PmoKind::Paged`] PMOs, and a fault on a page
    /// of one that it has not supplied yet is queued for it and notifies
    /// the notification (needs WRITE). Once per group (`Overlap`).
    PagerRegister = 50,
    /// `pager_next(buf) -> 0`: take the oldest queued fault and write it to
    /// `buf` as a [`PagerFault`] (16 bytes); `Again` when none is queued.
    PagerNext = 51,
    /// `pager_supply(key, offset, src) -> 0`: the page at `offset` (page
    /// aligned) of the caller's paged PMO `key` is the page at `src` in the
    /// caller's memory (copied, charged to the pager); the threads waiting
    /// for it run on. `src = 0` refuses the page: the cap_groups waiting for
    /// it end (the fault of an access past the end of a file). `NotFound`
    /// for a key the caller has no live PMO of; a page already there stays.
    PagerSupply = 52,
    /// `pmo_private(pmo_cap, offset, len) -> cap`: a copy-on-write window on
    /// pages `[offset, offset + len)` of a paged PMO: it reads the source's
    /// pages until the holder writes one, which gets a private copy charged
    /// to the holder. Needs READ; the new capability has READ, WRITE and
    /// MAP (and the source capability's COPY), and is revoked with it.
    PmoPrivate = 53,
    /// `set_kmem_limit(cap_group_cap, bytes) -> 0`: the most kernel memory
    /// (bytes of kernel heap) the group's objects may take: capability
    /// slots, threads, notifications, connections, PMOs and their page
    /// records, mappings, cap_groups it makes. Rules as [`Syscall::SetMemLimit`]:
    /// WRITE on the group, never above the caller's own limit.
    SetKmemLimit = 54,
    /// `kmem_usage(cap_group_cap) -> bytes`: kernel memory charged to the
    /// group now (its objects, and those of the groups nested in its
    /// account). Needs READ.
    KmemUsage = 55,
    /// `free_kmem() -> bytes`: kernel heap that allocating calls may still
    /// take (what is free above the kernel's own reserve).
    FreeKmem = 56,
}

impl Syscall {
    /// Number of system calls.
    pub const COUNT: u64 = 57;

    /// Every call, in number order.
    pub const ALL: [Syscall; Syscall::COUNT as usize] = {
        use Syscall::*;
        [
            Putstr,
            Getc,
            Yield,
            ThreadExit,
            CapGroupExit,
            CreatePmo,
            CreateDevicePmo,
            MapPmo,
            UnmapPmo,
            Protect,
            ReadPmo,
            WritePmo,
            CapCopy,
            CapTransfer,
            CapRevoke,
            CapDelete,
            CreateCapGroup,
            CreateThread,
            GetTick,
            FreeMemory,
            CapInfo,
            CapGroupState,
            ThreadSetPriority,
            ThreadSetAffinity,
            ThreadGetAffinity,
            ThreadSuspend,
            ThreadResume,
            Sleep,
            GetCpuId,
            CpuCount,
            RegisterServer,
            RegisterClient,
            IpcCall,
            IpcReturn,
            CreateNotification,
            Wait,
            Notify,
            IrqRegister,
            IrqWait,
            IrqAck,
            CapGroupKill,
            CapGroupExitNotify,
            VmspaceClone,
            PmoSize,
            ConnectFor,
            SetMemLimit,
            MemUsage,
            PmoSlice,
            CpuStats,
            CapGroupCpuTime,
            PagerRegister,
            PagerNext,
            PagerSupply,
            PmoPrivate,
            SetKmemLimit,
            KmemUsage,
            FreeKmem,
        ]
    };

    /// Decode `x8`.
    pub fn from_number(n: u64) -> Option<Syscall> {
        Syscall::ALL.get(usize::try_from(n).ok()?).copied()
    }
}

/// Why a system call failed; the call returns the negated value.
#[repr(i64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The capability lacks a right the call needs.
    NoRights = 1,
    /// Nothing is waiting (non-blocking read).
    Again = 11,
    /// The capability slot is empty or out of range.
    BadSlot = 9,
    /// Out of memory, address space identifiers or quota.
    NoMemory = 12,
    /// A user pointer is unmapped, lacks the access needed, or wraps.
    BadAddress = 14,
    /// The range overlaps an existing mapping.
    Overlap = 17,
    /// The capability names an object of another type.
    WrongType = 19,
    /// An argument is out of range or malformed.
    InvalidArgument = 22,
    /// The capability table is full.
    TableFull = 24,
    /// No such system call.
    NoSyscall = 38,
    /// Nothing is mapped there.
    NotMapped = 61,
    /// The connection is already carrying a call.
    Busy = 16,
    /// The other side of a connection is gone.
    PeerDead = 32,
    /// A wait ran out of time.
    Timeout = 110,
    /// No such file or program.
    NotFound = 2,
    /// No child to wait for.
    NoChild = 10,
    /// Not an open file descriptor (or not open for that).
    BadFd = 77,
    /// A wait was given up: Ctrl-C was pressed (a console read).
    Interrupted = 4,
}

impl Error {
    /// Decode a negative result.
    pub fn from_result(r: i64) -> Option<Error> {
        use Error::*;
        [
            Interrupted,
            NoRights,
            Again,
            BadSlot,
            NoMemory,
            BadAddress,
            Overlap,
            WrongType,
            InvalidArgument,
            TableFull,
            NoSyscall,
            NotMapped,
            Busy,
            PeerDead,
            Timeout,
            NotFound,
            NoChild,
            BadFd,
        ]
        .into_iter()
        .find(|e| -(*e as i64) == r)
    }

    /// What the `x0` register holds.
    pub fn to_result(self) -> i64 {
        -(self as i64)
    }
}

/// Rights a capability grants. Every system call checks the ones it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Rights(pub u64);

impl Rights {
    /// Read the object (PMO contents, mapping readable).
    pub const READ: Rights = Rights(1 << 0);
    /// Write the object (PMO contents, mapping writable; create threads in or map into a cap_group).
    pub const WRITE: Rights = Rights(1 << 1);
    /// Map as executable.
    pub const EXEC: Rights = Rights(1 << 2);
    /// Map the PMO / map into the cap_group's vmspace.
    pub const MAP: Rights = Rights(1 << 3);
    /// Copy or transfer this capability to another cap_group.
    pub const COPY: Rights = Rights(1 << 4);
    /// Revoke capabilities derived from this one.
    pub const REVOKE: Rights = Rights(1 << 5);
    /// On a cap_group capability: may create DEVICE PMOs (raw physical memory).
    pub const DEVICE: Rights = Rights(1 << 6);
    /// No rights.
    pub const NONE: Rights = Rights(0);
    /// Every right.
    pub const ALL: Rights = Rights((1 << 7) - 1);

    /// Whether every right in `need` is present.
    pub const fn contains(self, need: Rights) -> bool {
        self.0 & need.0 == need.0
    }

    /// Rights in both.
    pub const fn intersect(self, other: Rights) -> Rights {
        Rights(self.0 & other.0)
    }

    /// Rights in either.
    pub const fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }

    /// Whether the bits are all defined rights.
    pub const fn is_valid(self) -> bool {
        self.0 & !Rights::ALL.0 == 0
    }
}

/// Object types, as `cap_info` reports them.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectType {
    /// A process: capability table, vmspace, threads.
    CapGroup = 1,
    /// A thread.
    Thread = 2,
    /// A physical memory object.
    Pmo = 3,
    /// An address space.
    VmSpace = 4,
    /// An IPC connection (client side).
    Connection = 5,
    /// A notification (counting semaphore).
    Notification = 6,
    /// An interrupt line, for a user-level driver.
    Irq = 7,
}

impl ObjectType {
    /// Decode the type `cap_info` reports.
    pub fn from_number(n: u64) -> Option<ObjectType> {
        use ObjectType::*;
        [CapGroup, Thread, Pmo, VmSpace, Connection, Notification, Irq].into_iter().find(|t| *t as u64 == n)
    }
}

/// PMO kinds for `create_pmo`.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PmoKind {
    /// Physically contiguous pages allocated at creation.
    Data = 0,
    /// Pages allocated on first touch.
    Anonym = 1,
    /// Like `Anonym`, meant to be mapped by several cap_groups.
    Shm = 2,
    /// A range of device registers (only through `create_device_pmo`).
    Device = 3,
    /// Pages supplied by a user-level pager, the cap_group that created it
    /// (see [`Syscall::PagerRegister`]): a file server's view of a file, for
    /// `mmap`. Mapped through `pmo_slice` (shared) or `pmo_private`.
    Paged = 4,
}

impl PmoKind {
    /// Decode a `create_pmo` argument.
    pub fn from_number(n: u64) -> Option<PmoKind> {
        [PmoKind::Data, PmoKind::Anonym, PmoKind::Shm, PmoKind::Device, PmoKind::Paged]
            .into_iter()
            .find(|k| *k as u64 == n)
    }
}

/// Mapping permissions for `map_pmo` and `protect`.
pub mod perm {
    /// Readable.
    pub const READ: u64 = 1 << 0;
    /// Writable.
    pub const WRITE: u64 = 1 << 1;
    /// Executable.
    pub const EXEC: u64 = 1 << 2;
    /// All defined bits.
    pub const ALL: u64 = READ | WRITE | EXEC;
}

/// Results of `cap_group_state`.
pub mod group_state {
    /// Some thread may still run.
    pub const ALIVE: u64 = 0;
    /// Exited; the status is `result >> 8` (as an `i32`).
    pub const EXITED: u64 = 1;
    /// Ended by the kernel because a thread faulted.
    pub const KILLED: u64 = 2;
}

/// Well-known capability slots in every cap_group.
pub mod slot {
    /// The cap_group itself.
    pub const SELF_CAP_GROUP: u64 = 0;
    /// The cap_group's vmspace.
    pub const SELF_VMSPACE: u64 = 1;
    /// In calls that take a thread capability: the calling thread itself.
    pub const CURRENT_THREAD: u64 = u64::MAX;
    /// In the root process (procmgr): the ramdisk PMO (a cpio archive), with
    /// `READ`, `MAP`, `EXEC` and `COPY`: never `WRITE`.
    pub const ROOT_RAMDISK: u64 = 2;
    /// In processes procmgr starts: the connection to procmgr.
    pub const PROCMGR: u64 = 2;
    /// In the root process (procmgr): a notification the kernel notifies
    /// when console input arrives (`READ` to wait, `WRITE` so that procmgr
    /// can wake its own readers).
    pub const ROOT_CONSOLE_INPUT: u64 = 3;
    /// In the root process (procmgr): a notification the kernel notifies
    /// when Ctrl-C (0x03) arrives on the console, which it keeps out of the
    /// input (wait only: `READ`).
    pub const ROOT_CONSOLE_INTERRUPT: u64 = 4;
}

/// Interrupt numbers for `irq_register`.
pub mod irq {
    /// QEMU virt: GIC interrupt IDs (16-1019: PPIs are per CPU, SPIs go to
    /// CPU 0). The EL1 physical timer is PPI 30.
    pub const VIRT_PHYS_TIMER: u64 = 30;
    /// Raspberry Pi 3: the BCM2836 local sources of the registering core are
    /// `RASPI3_LOCAL_BASE + bit` (0: secure physical timer, 1: non-secure
    /// physical timer, 2: hypervisor timer).
    pub const RASPI3_LOCAL_BASE: u64 = 1000;
    /// Raspberry Pi 3: the EL1 (non-secure) physical timer.
    pub const RASPI3_PHYS_TIMER: u64 = RASPI3_LOCAL_BASE + 1;
}

/// What `cpu_stats` reports of one CPU. Counters start at boot and only grow.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuStats {
    /// Entries into the kernel: system calls, faults and interrupts.
    pub entries: u64,
    /// Interrupts taken (timer ticks, inter-processor interrupts, devices).
    pub interrupts: u64,
    /// Times the CPU changed threads (including to and from idle).
    pub switches: u64,
    /// Microseconds the CPU spent idle, with nothing to run.
    pub idle_us: u64,
    /// Microseconds since boot when the figures were taken.
    pub now_us: u64,
}

impl CpuStats {
    /// Its size in bytes, as `cpu_stats` writes it.
    pub const SIZE: usize = core::mem::size_of::<CpuStats>();

    /// The fields in order, as the kernel writes them.
    pub fn to_words(&self) -> [u64; 5] {
        [self.entries, self.interrupts, self.switches, self.idle_us, self.now_us]
    }

    /// The inverse of [`CpuStats::to_words`].
    pub fn from_words(w: [u64; 5]) -> CpuStats {
        CpuStats { entries: w[0], interrupts: w[1], switches: w[2], idle_us: w[3], now_us: w[4] }
    }
}

/// Timer ticks per second: the unit of `get_tick`, `sleep` and `wait`'s timeout.
pub const TICK_HZ: u64 = 100;

/// `wait`: no timeout.
pub const WAIT_FOREVER: u64 = u64::MAX;

/// IPC: the shared buffer of a connection, and where the kernel puts things.
///
/// Buffer layout: `[0, 64)` up to 8 capability slots (u64) to send, replaced
/// by the receiver's slots on delivery; `[64, 128)` the rights mask for each
/// (the sender may narrow what it gives); from [`ipc::DATA`] on, the message.
pub mod ipc {
    /// Bytes of shared buffer per connection.
    pub const BUF_SIZE: u64 = 16 << 10;
    /// Most capabilities in one message, each way.
    pub const MAX_CAPS: usize = 8;
    /// Offset of the capability slots.
    pub const CAP_SLOTS: usize = 0;
    /// Offset of the rights masks.
    pub const CAP_RIGHTS: usize = 64;
    /// Offset of the message data.
    pub const DATA: usize = 128;
    /// Bytes of message data that fit.
    pub const DATA_MAX: usize = BUF_SIZE as usize - DATA;
    /// Where a server sees connection `k`'s buffer: `SERVER_BUF_BASE + k * BUF_SIZE`.
    pub const SERVER_BUF_BASE: u64 = 0x6000_0000_0000;
    /// Handler stack of connection `k`: top at `SERVER_STACK_BASE + (k + 1) * STACK_SIZE`.
    pub const SERVER_STACK_BASE: u64 = 0x6100_0000_0000;
    /// Bytes of handler stack per connection.
    pub const STACK_SIZE: u64 = 64 << 10;
    /// Most connections one server takes. procmgr takes one per process,
    /// so this is far above what memory allows (the handler stacks and
    /// buffers of this many fit the server's address space: 4 GiB and
    /// 1 GiB from their bases).
    pub const MAX_CONNECTIONS: u64 = 1 << 16;
    /// Where procmgr maps a process's connection buffer to it.
    pub const PROCMGR_BUF: u64 = 0x2800_0000;
    /// Where a file-system server maps a process's session buffer: mount
    /// `k`'s at `FS_BUF_BASE + k * BUF_SIZE` (docs/filesystem.md).
    pub const FS_BUF_BASE: u64 = 0x2900_0000;
}

/// `thread_set_affinity` / `thread_get_affinity`: not pinned to a CPU.
pub const NO_AFFINITY: u64 = i64::MAX as u64;

/// Largest `putstr` in one call.
pub const PUTSTR_MAX: u64 = 4096;
/// Largest PMO.
pub const PMO_MAX: u64 = 1 << 32;

/// A fault queued for a pager (`pager_next`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PagerFault {
    /// The paged PMO's key (given at `create_pmo`).
    pub key: u64,
    /// The page wanted, as a byte offset in the PMO.
    pub offset: u64,
}

/// The UART chainloader's protocol (`boot/chainloader`, `cargo xtask chainboot`).
///
/// The loader announces itself with a line of text followed by
/// [`chainload::READY`]; the host sends [`chainload::MAGIC`], the image size
/// and its CRC-32 (both little-endian u32), then the image. The loader
/// answers a line starting with `[chainloader]`: an error (and it waits
/// again) or `jumping` (and it starts the image).
pub mod chainload {
    /// The loader is waiting for a header.
    pub const READY: &[u8; 3] = b"\x03\x03\x03";
    /// Start of a header.
    pub const MAGIC: &[u8; 4] = b"CHCL";
    /// Where the image goes (the Raspberry Pi's kernel8.img load address).
    pub const LOAD_ADDR: u64 = 0x8_0000;
    /// Where the loader moves itself out of the way.
    pub const LOADER_ADDR: u64 = 0x200_0000;
    /// Largest image: everything below the loader.
    pub const MAX_SIZE: u32 = (LOADER_ADDR - LOAD_ADDR) as u32;

    /// CRC-32 (IEEE 802.3, reflected, as zlib computes it), one byte at a time.
    pub const fn crc32_update(mut crc: u32, byte: u8) -> u32 {
        crc ^= byte as u32;
        let mut i = 0;
        while i < 8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            i += 1;
        }
        crc
    }

    /// CRC-32 of `data`.
    pub fn crc32(data: &[u8]) -> u32 {
        !data.iter().fold(!0u32, |c, &b| crc32_update(c, b))
    }

    /// The header for an image.
    pub fn header(image: &[u8]) -> [u8; 12] {
        let mut h = [0u8; 12];
        h[..4].copy_from_slice(MAGIC);
        h[4..8].copy_from_slice(&(image.len() as u32).to_le_bytes());
        h[8..].copy_from_slice(&crc32(image).to_le_bytes());
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_numbers_round_trip() {
        for n in 0..Syscall::COUNT {
            assert_eq!(Syscall::from_number(n).unwrap() as u64, n);
        }
        assert_eq!(Syscall::from_number(Syscall::COUNT), None);
        assert_eq!(Syscall::from_number(u64::MAX), None);
    }

    #[test]
    fn errors_round_trip_and_are_distinct() {
        let all = [
            Error::NoRights,
            Error::Again,
            Error::BadSlot,
            Error::NoMemory,
            Error::BadAddress,
            Error::Overlap,
            Error::WrongType,
            Error::InvalidArgument,
            Error::TableFull,
            Error::NoSyscall,
            Error::NotMapped,
            Error::Busy,
            Error::PeerDead,
            Error::Timeout,
            Error::NotFound,
            Error::NoChild,
            Error::BadFd,
        ];
        for e in all {
            assert!(e.to_result() < 0);
            assert_eq!(Error::from_result(e.to_result()), Some(e));
        }
        assert_eq!(Error::from_result(0), None);
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(chainload::crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(chainload::crc32(b""), 0);
        let h = chainload::header(b"abc");
        assert_eq!(&h[..4], b"CHCL");
        assert_eq!(u32::from_le_bytes(h[4..8].try_into().unwrap()), 3);
    }

    #[test]
    fn cpu_stats_words_round_trip() {
        let s = CpuStats { entries: 1, interrupts: 2, switches: 3, idle_us: 4, now_us: 5 };
        assert_eq!(CpuStats::from_words(s.to_words()), s);
        assert_eq!(CpuStats::SIZE, 40, "the size docs/syscalls.md gives");
    }

    #[test]
    fn rights() {
        let rw = Rights::READ.union(Rights::WRITE);
        assert!(rw.contains(Rights::READ));
        assert!(!rw.contains(Rights::EXEC));
        assert_eq!(rw.intersect(Rights::READ), Rights::READ);
        assert!(Rights::ALL.is_valid());
        assert!(!Rights(1 << 40).is_valid());
    }
}
