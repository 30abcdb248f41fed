//! Kernel objects and the capabilities that name them.
//!
//! # One pattern for every object
//! - Each object type has its own file: [`cap_group`], [`thread`], [`pmo`],
//!   [`vmspace`], [`connection`], [`notification`], [`irq`]; a cap_group's
//!   [`pager`] side (no capability names it) has one too.
//! - Each embeds a [`Header`] (type and a unique id) and is owned through
//!   `Arc`: capabilities, run queues and other objects hold `Arc`s, and the
//!   object is freed (its `Drop` returns its memory) when the last one goes.
//! - Mutable state sits in an `inner` structure behind a `spin::Mutex`;
//!   immutable facts (a PMO's size, a thread's cap_group) sit beside it.
//! - Lock order: cap_group, then thread, then vmspace, then PMO, then the frame
//!   allocator. Objects are dropped after locks are released (operations
//!   return what they removed), because a drop may cascade into other objects.
//!
//! Capabilities ([`KObject`] in a `kernel_core::cap::CapTable`) carry
//! `chcore_abi::Rights`; every system call looks them up with the type and
//! rights it needs and gets a distinct error for a bad slot, a wrong type and
//! missing rights.
//!
//! Reference cycles are avoided by construction: slot 0 of a cap_group names
//! the group itself as [`KObject::SelfGroup`] (no `Arc`), and a cap_group
//! tracks its threads with `Weak`s. A cap_group that exits empties its table.

pub mod cap_group;
pub mod connection;
pub mod irq;
pub mod notification;
pub mod pager;
pub mod pmo;
pub mod thread;
pub mod vmspace;

use alloc::sync::Arc;
use cap_group::CapGroup;
use chcore_abi::{Error, ObjectType};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use kernel_core::account::Account;
use pmo::Pmo;
use thread::Thread;
use vmspace::VmSpace;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static LIVE: [AtomicUsize; 8] = [const { AtomicUsize::new(0) }; 8];

/// What every object starts with.
#[derive(Debug)]
pub struct Header {
    /// Unique for the lifetime of the kernel.
    pub id: u64,
    /// The object's type.
    pub ty: ObjectType,
}

impl Header {
    /// A header for a new object of type `ty`.
    pub fn new(ty: ObjectType) -> Header {
        LIVE[ty as usize].fetch_add(1, Ordering::Relaxed);
        Header { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), ty }
    }
}

impl Drop for Header {
    fn drop(&mut self) {
        LIVE[self.ty as usize].fetch_sub(1, Ordering::Relaxed);
    }
}

/// Objects of type `ty` alive right now (the self-tests use this to prove
/// that objects are freed).
#[cfg_attr(not(feature = "selftest"), allow(dead_code))]
pub fn live(ty: ObjectType) -> usize {
    LIVE[ty as usize].load(Ordering::Relaxed)
}

/// Add `item` to a list of weak references, dropping dead ones only when
/// the list is full: a list that grows with every process (procmgr's
/// handler threads and connections, every cap_group) then costs O(1) per
/// push, amortised, instead of a walk over thousands of entries, and holds
/// at most about twice its live entries.
/// `NoMemory` if the list must grow and the kernel heap has no block that
/// big (such lists reach tens of thousands of entries).
pub fn push_weak<T>(
    list: &mut alloc::vec::Vec<alloc::sync::Weak<T>>,
    item: alloc::sync::Weak<T>,
) -> Result<(), chcore_abi::Error> {
    if list.len() == list.capacity() {
        list.retain(|w| w.strong_count() > 0);
        list.try_reserve(1).map_err(|_| chcore_abi::Error::NoMemory)?;
    }
    list.push(item);
    Ok(())
}

/// Kernel memory an object takes, charged to a memory account for as long
/// as the object lives (given back when it drops). Every kernel object a
/// user can make in numbers carries one (docs/objects.md lists the costs),
/// so what a process makes the kernel spend counts against its own
/// kernel-memory limit, and against every account it nests in.
pub struct Kmem {
    account: Option<Arc<Account>>,
    bytes: u64,
}

impl Kmem {
    /// Memory of the kernel's own objects (the console's notifications):
    /// nobody pays.
    pub const KERNEL: Kmem = Kmem { account: None, bytes: 0 };

    /// Charge `bytes` to `account`: `NoMemory` over its limit (or an
    /// enclosing account's).
    pub fn charge(account: &Arc<Account>, bytes: u64) -> Result<Kmem, Error> {
        account.charge_kmem(bytes).map_err(|_| Error::NoMemory)?;
        Ok(Kmem { account: Some(account.clone()), bytes })
    }

    /// Bytes charged.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Part of this charge, as a charge of its own (an operation that makes
    /// many objects charges them all at once, then hands each its share).
    pub fn split(&mut self, bytes: u64) -> Kmem {
        debug_assert!(bytes <= self.bytes, "split more than was charged");
        let bytes = bytes.min(self.bytes);
        self.bytes -= bytes;
        Kmem { account: self.account.clone(), bytes }
    }

    /// Hand `bytes` of this charge over to something that gives them back
    /// itself (an address space gives back its regions' charges as it
    /// removes them).
    pub fn hand_over(&mut self, bytes: u64) {
        debug_assert!(bytes <= self.bytes, "handed over more than was charged");
        self.bytes -= bytes.min(self.bytes);
    }

    /// Charge `bytes` more to the same account (a table that grew).
    pub fn grow(&mut self, bytes: u64) -> Result<(), Error> {
        if let Some(a) = &self.account {
            a.charge_kmem(bytes).map_err(|_| Error::NoMemory)?;
        }
        self.bytes += bytes;
        Ok(())
    }
}

impl Drop for Kmem {
    fn drop(&mut self) {
        if let Some(a) = &self.account {
            a.uncharge_kmem(self.bytes);
        }
    }
}

/// Bytes the kernel heap takes for a `size`-byte allocation: the buddy
/// heap rounds every block up to a power of two (at least 8 bytes).
pub const fn heap_block(size: usize) -> u64 {
    let s = if size < 8 { 8 } else { size };
    s.next_power_of_two() as u64
}

/// Bytes an `Arc<T>` takes on the kernel heap (its two counts and `T`).
pub const fn arc_block<T>() -> u64 {
    heap_block(core::mem::size_of::<T>() + 16)
}

/// Unique capability ids.
static NEXT_CAP_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh capability id.
pub fn new_cap_id() -> u64 {
    NEXT_CAP_ID.fetch_add(1, Ordering::Relaxed)
}

/// What a capability names.
#[derive(Clone)]
pub enum KObject {
    /// The cap_group holding this capability (slot 0).
    SelfGroup,
    /// Another cap_group.
    CapGroup(Arc<CapGroup>),
    /// A thread.
    Thread(Arc<Thread>),
    /// A physical memory object.
    Pmo(Arc<Pmo>),
    /// An address space. (Held so it lives; calls name it through its cap_group.)
    #[allow(dead_code)]
    VmSpace(Arc<VmSpace>),
    /// The client end of an IPC connection.
    Connection(Arc<connection::Connection>),
    /// A notification.
    Notification(Arc<notification::Notification>),
    /// An interrupt line.
    Irq(Arc<irq::Irq>),
}

impl kernel_core::cap::Object for KObject {
    fn object_type(&self) -> ObjectType {
        match self {
            KObject::SelfGroup | KObject::CapGroup(_) => ObjectType::CapGroup,
            KObject::Thread(_) => ObjectType::Thread,
            KObject::Pmo(_) => ObjectType::Pmo,
            KObject::VmSpace(_) => ObjectType::VmSpace,
            KObject::Connection(_) => ObjectType::Connection,
            KObject::Notification(_) => ObjectType::Notification,
            KObject::Irq(_) => ObjectType::Irq,
        }
    }
}

/// An object type a capability can name: what [`CapGroup::cap`] looks up.
///
/// [`CapGroup::cap`]: cap_group::CapGroup::cap
pub trait CapObject: Sized {
    /// The type a capability must have.
    const TYPE: ObjectType;
    /// The object `obj` names, if it is one of these (`holder` owns the
    /// table, for the cap_group's capability to itself).
    fn from_kobject(obj: &KObject, holder: &Arc<cap_group::CapGroup>) -> Option<Arc<Self>>;
}

/// `CapObject` for a type whose `KObject` variant holds an `Arc` of it.
macro_rules! cap_object {
    ($ty:ty, $variant:ident) => {
        impl CapObject for $ty {
            const TYPE: ObjectType = ObjectType::$variant;
            fn from_kobject(obj: &KObject, _: &Arc<cap_group::CapGroup>) -> Option<Arc<Self>> {
                match obj {
                    KObject::$variant(o) => Some(o.clone()),
                    _ => None,
                }
            }
        }
    };
}

cap_object!(thread::Thread, Thread);
cap_object!(pmo::Pmo, Pmo);
cap_object!(connection::Connection, Connection);
cap_object!(notification::Notification, Notification);
cap_object!(irq::Irq, Irq);

impl CapObject for cap_group::CapGroup {
    const TYPE: ObjectType = ObjectType::CapGroup;
    fn from_kobject(obj: &KObject, holder: &Arc<cap_group::CapGroup>) -> Option<Arc<Self>> {
        match obj {
            KObject::SelfGroup => Some(holder.clone()),
            KObject::CapGroup(g) => Some(g.clone()),
            _ => None,
        }
    }
}

/// A capability table of kernel objects.
pub type CapTable = kernel_core::cap::CapTable<KObject>;
/// A capability to a kernel object.
pub type Cap = kernel_core::cap::Cap<KObject>;
