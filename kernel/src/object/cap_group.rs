//! cap_group: a process. A capability table, a vmspace and threads.

use super::thread::{Thread, ThreadState};
use super::vmspace::VmSpace;
use super::{arc_block, heap_block, new_cap_id, Cap, CapObject, CapTable, Header, KObject, Kmem};
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use chcore_abi::{slot, Error, ObjectType, Rights};
use kernel_core::account::Account;
use spin::Mutex;

/// Capabilities one cap_group may hold.
pub const CAP_TABLE_LIMIT: usize = 1024;
/// Capabilities the root process (procmgr) may hold: it keeps one per
/// process and three per pipe, so its table is bounded by the kernel heap
/// (whose reserve refuses it in time, docs/security.md), not by a count.
pub const ROOT_CAP_TABLE_LIMIT: usize = 1 << 20;

/// Kernel memory a cap_group takes besides its name and its capability
/// table: the group, its vmspace, its account, and its entries in the
/// lists of all groups and of its creator's children.
const GROUP_KMEM: u64 = arc_block::<CapGroup>() + arc_block::<VmSpace>() + arc_block::<Account>() + 2 * 16;

/// Bytes a capability table with room for `slots` capabilities takes.
fn table_bytes(slots: usize) -> u64 {
    heap_block(slots * core::mem::size_of::<Option<Cap>>())
}

/// Whether the cap_group still runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    /// At least one thread may still run.
    Alive,
    /// Exited with a status code.
    Exited(i64),
    /// Ended by the kernel because a thread faulted.
    Killed,
}

/// Mutable part of a cap_group.
pub struct CapGroupInner {
    /// The capability table.
    pub caps: CapTable,
    /// Threads (weak: a thread lives while it can run or is named by a capability).
    pub threads: Vec<Weak<Thread>>,
    /// Alive, exited or killed.
    pub state: GroupState,
    /// Set once the group registered as an IPC server.
    pub server: Option<super::connection::ServerConfig>,
    /// Connections to this group as a server.
    pub connections: Vec<Weak<super::connection::Connection>>,
    /// Notified when the group ends (procmgr learns of exits this way).
    /// A list: a registration adds, so a process cannot take its creator's
    /// notification away by registering its own.
    pub exit_notify: Vec<Arc<super::notification::Notification>>,
    /// The cap_groups this one made (`create_cap_group`), which end with it.
    /// Kept here rather than found in `ALL`, so that ending a group costs
    /// nothing in proportion to the number of processes.
    pub created: Vec<Weak<CapGroup>>,
    /// Set once the group registered as a pager (`pager_register`).
    pub pager: Option<Arc<super::pager::Pager>>,
    /// The capability table's memory, charged to the group as it grows.
    table_kmem: Kmem,
}

/// A process.
pub struct CapGroup {
    /// Common header.
    pub header: Header,
    /// Name for messages.
    pub name: String,
    /// The address space every thread of the group runs in.
    pub vmspace: Arc<VmSpace>,
    /// The physical pages the group's PMOs hold, the kernel memory its
    /// objects take, and their limits.
    pub account: Arc<Account>,
    /// The group's own kernel memory (this structure, its vmspace, its
    /// name, its account), charged to its account.
    #[allow(dead_code)]
    kmem: Kmem,
    /// `state == Alive`, readable without the lock (the IPC fast path);
    /// cleared under the lock when the group ends.
    alive: core::sync::atomic::AtomicBool,
    /// Timer ticks that found one of its threads running (`cpu_time`).
    cpu_ticks: core::sync::atomic::AtomicU64,
    inner: Mutex<CapGroupInner>,
}

/// Most notifications `cap_group_exit_notify` keeps per group (its creator's,
/// the group's own, a few more): beyond, `TableFull`.
pub const EXIT_NOTIFY_MAX: usize = 4;

/// Every cap_group, for revocation across tables.
static ALL: Mutex<Vec<Weak<CapGroup>>> = Mutex::new(Vec::new());

impl CapGroup {
    /// A timer tick found one of the group's threads running.
    pub fn charge_tick(&self) {
        self.cpu_ticks.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    }

    /// Ticks charged by [`CapGroup::charge_tick`] so far.
    pub fn cpu_time(&self) -> u64 {
        self.cpu_ticks.load(core::sync::atomic::Ordering::Relaxed)
    }

    /// Threads that have not exited.
    pub fn live_threads(&self) -> usize {
        let inner = self.inner.lock();
        inner.threads.iter().filter_map(|w| w.upgrade()).filter(|t| t.lock().state != ThreadState::Exited).count()
    }

    /// A new cap_group with its own vmspace: slot 0 names the group itself
    /// (with `self_rights`), slot 1 its vmspace. It has no creator and no
    /// memory limit (the root process, kernel tests).
    pub fn new(name: &str, self_rights: Rights) -> Result<Arc<CapGroup>, Error> {
        CapGroup::create(name, self_rights, None)
    }

    /// A cap_group made by `creator`, which it ends with. Its account
    /// nests in `within` (the creator's, or that of a group the creator
    /// names): everything it is charged counts there too.
    pub fn new_child(
        name: &str,
        self_rights: Rights,
        creator: &Arc<CapGroup>,
        within: &Arc<Account>,
    ) -> Result<Arc<CapGroup>, Error> {
        CapGroup::create(name, self_rights, Some((creator, within)))
    }

    fn create(
        name: &str,
        self_rights: Rights,
        creator: Option<(&Arc<CapGroup>, &Arc<Account>)>,
    ) -> Result<Arc<CapGroup>, Error> {
        let account = Arc::new(match creator {
            Some((_, within)) => Account::child_of(within),
            None => Account::new(kernel_core::account::UNLIMITED),
        });
        let vmspace = VmSpace::new(&account)?;
        let limit = if creator.is_some() { CAP_TABLE_LIMIT } else { ROOT_CAP_TABLE_LIMIT };
        let mut caps = CapTable::new(limit);
        let s0 = caps.insert(Cap { obj: KObject::SelfGroup, rights: self_rights, id: new_cap_id(), parent: None })?;
        let s1 = caps.insert(Cap {
            obj: KObject::VmSpace(vmspace.clone()),
            rights: Rights::ALL,
            id: new_cap_id(),
            parent: None,
        })?;
        debug_assert_eq!((s0 as u64, s1 as u64), (slot::SELF_CAP_GROUP, slot::SELF_VMSPACE));
        // The group and its table, charged in one go.
        let table = table_bytes(caps.capacity());
        let mut kmem = Kmem::charge(&account, GROUP_KMEM + heap_block(name.len()) + table)?;
        let table_kmem = kmem.split(table);
        let group = Arc::new(CapGroup {
            header: Header::new(ObjectType::CapGroup),
            name: String::from(name),
            vmspace,
            account,
            kmem,
            alive: core::sync::atomic::AtomicBool::new(true),
            cpu_ticks: core::sync::atomic::AtomicU64::new(0),
            inner: Mutex::new(CapGroupInner {
                caps,
                threads: Vec::new(),
                state: GroupState::Alive,
                server: None,
                connections: Vec::new(),
                exit_notify: Vec::new(),
                created: Vec::new(),
                pager: None,
                table_kmem,
            }),
        });
        if let Some((c, _)) = creator {
            let listed = super::push_weak(&mut c.lock().created, Arc::downgrade(&group));
            listed?;
        }
        let listed = super::push_weak(&mut ALL.lock(), Arc::downgrade(&group));
        listed?;
        Ok(group)
    }

    /// Whether the group has not ended, without taking its lock.
    pub fn is_alive(&self) -> bool {
        self.alive.load(core::sync::atomic::Ordering::Acquire)
    }

    /// Lock the mutable state.
    pub fn lock(&self) -> spin::MutexGuard<'_, CapGroupInner> {
        self.inner.lock()
    }

    /// Turn `SelfGroup` into a reference to this group (before a capability
    /// leaves the group, or to act on the object).
    pub fn resolve(self: &Arc<Self>, obj: &KObject) -> KObject {
        match obj {
            KObject::SelfGroup => KObject::CapGroup(self.clone()),
            other => other.clone(),
        }
    }

    /// The object of type `T` that capability `slot` names, if the
    /// capability has at least the `need` rights: `BadSlot`, `WrongType`
    /// or `NoRights` otherwise. Every system call looks its capabilities
    /// up this way, e.g. `me.cap::<Pmo>(slot, Rights::MAP)`.
    #[inline]
    pub fn cap<T: CapObject>(self: &Arc<Self>, slot: u64, need: Rights) -> Result<Arc<T>, Error> {
        self.cap_entry::<T>(slot, need).map(|(o, _, _)| o)
    }

    /// [`CapGroup::cap`], with the capability's rights and id (for calls
    /// that derive a new capability from it).
    #[inline]
    pub fn cap_entry<T: CapObject>(self: &Arc<Self>, slot: u64, need: Rights) -> Result<(Arc<T>, Rights, u64), Error> {
        let inner = self.lock();
        let cap = inner.caps.lookup(slot, T::TYPE, need)?;
        // The lookup checked the type: this cannot fail, but costs nothing to keep honest.
        let obj = T::from_kobject(&cap.obj, self).ok_or(Error::WrongType)?;
        Ok((obj, cap.rights, cap.id))
    }

    /// Add a capability to the table.
    pub fn insert_cap(&self, obj: KObject, rights: Rights, parent: Option<u64>) -> Result<u64, Error> {
        let mut inner = self.lock();
        if inner.state != GroupState::Alive {
            return Err(Error::InvalidArgument);
        }
        let slot = inner.caps.insert(Cap { obj, rights, id: new_cap_id(), parent })?;
        let needed = table_bytes(inner.caps.capacity());
        if needed > inner.table_kmem.bytes() {
            // The table's memory grew (it doubles): the group pays.
            let more = needed - inner.table_kmem.bytes();
            if let Err(e) = inner.table_kmem.grow(more) {
                let cap = inner.caps.remove(slot as u64);
                drop(inner);
                drop(cap);
                return Err(e);
            }
        }
        Ok(slot as u64)
    }

    /// End the group: every thread stops, every capability is dropped.
    /// Returns what was removed so the caller can drop it with no lock held.
    /// Clients waiting in a call to this group are woken with `PeerDead`.
    pub fn exit(&self, state: GroupState) -> (Vec<Arc<Thread>>, Vec<Cap>) {
        let mut inner = self.lock();
        let first = inner.state == GroupState::Alive;
        if first {
            inner.state = state;
            self.alive.store(false, core::sync::atomic::Ordering::Release);
        }
        let notify = if first { core::mem::take(&mut inner.exit_notify) } else { Vec::new() };
        inner.server = None;
        for conn in core::mem::take(&mut inner.connections).iter().filter_map(Weak::upgrade) {
            conn.server_died();
        }
        let threads: Vec<Arc<Thread>> = inner.threads.drain(..).filter_map(|w| w.upgrade()).collect();
        drop(inner);
        for t in &threads {
            t.lock().state = ThreadState::Exited;
            super::notification::Notification::timed_out(t);
        }
        let mut inner = self.lock();
        let caps = inner.caps.clear();
        drop(inner);
        // Its memory goes now; the group itself lives on while capabilities
        // name it (procmgr's zombies), at the cost of a small object.
        drop(self.vmspace.clear());
        for n in notify {
            n.notify();
        }
        (threads, caps)
    }

    /// The group ended (see `exit`): if it was a pager, fail the faults
    /// waiting for its pages. Returns the threads that waited, whose
    /// cap_groups the caller ends.
    pub fn close_pager(&self) -> Vec<Arc<Thread>> {
        let pager = self.lock().pager.take();
        pager.map(|p| p.close()).unwrap_or_default()
    }

    /// Current state.
    pub fn state(&self) -> GroupState {
        self.lock().state
    }
}

/// Revoke every capability derived from capability `id`, in every cap_group.
/// Returns the removed capabilities, to be dropped by the caller.
pub fn revoke_everywhere(id: u64) -> Vec<Cap> {
    let groups: Vec<Arc<CapGroup>> = ALL.lock().iter().filter_map(Weak::upgrade).collect();
    kernel_core::cap::revoke_with(id, |parents| {
        groups.iter().flat_map(|g| g.lock().caps.remove_children(parents)).collect()
    })
}

/// Live cap_groups that `group` created.
pub fn created_by(group: &CapGroup) -> Vec<Arc<CapGroup>> {
    group.lock().created.iter().filter_map(Weak::upgrade).collect()
}
