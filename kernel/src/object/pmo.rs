//! PMO: a physical memory object, memory that can be mapped.
//!
//! - `Data`: physically contiguous, allocated and zeroed at creation (ELF
//!   segments, buffers a device or another core reads by physical address).
//! - `Anonym` and `Shm`: a page is allocated, zeroed, on first touch (a page
//!   fault or a `write_pmo`); `Shm` is the same kind of memory meant for
//!   mapping into several cap_groups.
//! - `Device`: a range of physical addresses (MMIO) that the kernel never
//!   allocates or frees.
//! - `Paged`: pages a user-level pager (its creator) supplies on demand
//!   (`super::pager`); clients map a window of one, shared (`slice`, a
//!   view) or copy-on-write (`private`, a shadow with its own written pages).

use super::pager::Pager;
use super::thread::Thread;
use super::vmspace::VmSpace;
use super::Header;
use super::Kmem;
use crate::mm;
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use chcore_abi::{Error, ObjectType, PmoKind, PMO_MAX};
use kernel_core::account::Account;
use kernel_core::mm::frames::order_for_pages;
use kernel_core::mm::{align_up, phys_to_virt, PAGE_SHIFT, PAGE_SIZE};
use spin::Mutex;

/// A page frame of a lazy PMO. After a fork, the parent's and the child's
/// PMOs share frames (copy-on-write); the frame is freed with its last user,
/// and given back to the account it was charged to.
struct Frame(u64, Arc<Account>);

impl Frame {
    /// A zeroed (or, with `from`, copied) frame charged to `account`
    /// (`anyway`: past its limit too, see `Pmo::new_overdraft`); `entry`:
    /// it takes a new entry in a page map, charged with it (see
    /// [`ENTRY_KMEM`]).
    fn new(account: &Arc<Account>, from: Option<u64>, anyway: bool, entry: bool) -> Result<Frame, Error> {
        let f = Frame::blank(account, anyway, entry)?;
        match from {
            Some(src) => copy_page(src, f.0),
            None => zero_page(f.0, 1),
        }
        Ok(f)
    }

    /// A frame charged to `account` whose contents are whatever the
    /// allocator left: the caller overwrites all of it before anyone maps it.
    fn blank(account: &Arc<Account>, anyway: bool, entry: bool) -> Result<Frame, Error> {
        // One kernel-memory charge for the frame and its map entry: this
        // is the page fault's path.
        let kmem = FRAME_KMEM + if entry { ENTRY_KMEM } else { 0 };
        if anyway {
            account.charge_with_record_anyway(1, kmem);
        } else {
            account.charge_with_record(1, kmem).map_err(|_| Error::NoMemory)?;
        }
        let Ok(pa) = mm::alloc_pages(0) else {
            account.uncharge_with_record(1, kmem);
            return Err(Error::NoMemory);
        };
        Ok(Frame(pa, account.clone()))
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        mm::free_pages(self.0, 0);
        self.1.uncharge_with_record(1, FRAME_KMEM);
    }
}

/// Kernel memory a page of a lazy PMO takes besides the page: its `Frame`
/// with the reference counts (charged to the frame's account, given back
/// with the frame).
const FRAME_KMEM: u64 = super::arc_block::<Frame>();

/// Kernel memory an entry of a page map takes: its share of the B-tree's
/// nodes (a leaf of 256 bytes holds 5 to 11 entries, and the inner nodes
/// come on top). Charged to the map's PMO's account when an entry is
/// added (a fault, a supplied page, a fork's copy of the map) and given
/// back, all entries at once, when the PMO goes.
const ENTRY_KMEM: u64 = 48;

/// Kernel memory a PMO takes: the PMO, and room for a page map's first
/// leaf (charged to every PMO, map or not: simpler, and small next to what
/// a PMO holds).
pub const PMO_KMEM: u64 = super::arc_block::<Pmo>() + 256;

enum Backing {
    /// One buddy block.
    Contiguous { pa: u64, order: usize },
    /// Pages by index, present once touched, possibly shared with copies.
    Pages(BTreeMap<u64, Arc<Frame>>),
    /// Device registers.
    Device { pa: u64 },
    /// Pages of a contiguous PMO (kept alive here), shared, never freed by
    /// this one.
    Slice { pa: u64, _owner: Arc<Pmo> },
    /// Memory that is never freed: part of the kernel image.
    Static { pa: u64 },
    /// Pages its pager supplies.
    Paged(Paged),
    /// Pages `[first, first + size)` of a paged PMO, shared (a shared file
    /// mapping).
    View { source: Arc<Pmo>, first: u64 },
    /// A private copy-on-write window on pages `[first, first + size)` of a
    /// paged or contiguous PMO: its own pages where written (shared with
    /// copies of it after a fork, like `Pages`), the source's elsewhere,
    /// mapped read-only (a private file mapping).
    Shadow { source: Arc<Pmo>, first: u64, pages: BTreeMap<u64, Arc<Frame>> },
}

/// A `Paged` PMO's pages and the threads waiting for the missing ones.
struct Paged {
    pager: Arc<Pager>,
    /// What the pager calls this PMO.
    key: u64,
    pages: BTreeMap<u64, Frame>,
    /// Threads blocked on a page, by page index. Held here as a blocked
    /// thread is held by what it waits for (a notification, a connection):
    /// nothing else keeps it. One that ended meanwhile is dropped with the
    /// answer (or pruned when another thread waits for the page).
    waiting: BTreeMap<u64, Vec<Arc<Thread>>>,
}

/// A page found for a fault (`Pmo::fault_page`).
pub struct PageRef {
    /// Its frame.
    pub pa: u64,
    /// The frame replaced another (a copy-on-write copy): mappings of the
    /// old one elsewhere are stale.
    pub copied: bool,
    /// Map it read-only (shared copy-on-write, or a shadow's source page).
    pub read_only: bool,
}

/// Why `Pmo::fault_page` has no page.
pub enum NoPage {
    /// Out of memory (or of the account's limit) for a page.
    NoMemory,
    /// Past the end, or a kind of memory that cannot be faulted in.
    Invalid,
    /// Page `.1` of the paged PMO `.0` is not there yet: its pager must
    /// supply it.
    Pager(Arc<Pmo>, u64),
}

impl From<Error> for NoPage {
    fn from(_: Error) -> NoPage {
        NoPage::NoMemory
    }
}

/// Page `index` of a lazily filled page map, for a fault or a copy:
/// copied first when it is written while shared with a copy of the PMO,
/// allocated zeroed when absent if `allocate` (else `None`). Inlined: its
/// callers pass constants for `write` and `allocate`, and the common case
/// (a present, unshared page) is then a lookup.
#[inline(always)]
fn lazy_page(
    pages: &mut BTreeMap<u64, Arc<Frame>>,
    index: u64,
    write: bool,
    allocate: bool,
    account: &Arc<Account>,
    overdraft: bool,
) -> Result<Option<PageRef>, Error> {
    let (pa, copied, read_only) = match pages.get(&index) {
        Some(f) if Arc::strong_count(f) > 1 && write => {
            // The copy is this PMO's own page: charged to its account. It
            // replaces the entry.
            let copy = Frame::new(account, Some(f.0), overdraft, false)?;
            let pa = copy.0;
            pages.insert(index, Arc::new(copy));
            (pa, true, false)
        }
        Some(f) => (f.0, false, Arc::strong_count(f) > 1),
        None if allocate => {
            let f = Frame::new(account, None, overdraft, true)?;
            let pa = f.0;
            pages.insert(index, Arc::new(f));
            (pa, false, false)
        }
        None => return Ok(None),
    };
    Ok(Some(PageRef { pa, copied, read_only }))
}

/// A physical memory object.
pub struct Pmo {
    /// Common header (its drop keeps the live-object counts).
    #[allow(dead_code)]
    pub header: Header,
    /// What kind of memory.
    pub kind: PmoKind,
    /// Size in bytes (whole pages).
    pub size: u64,
    inner: Mutex<Backing>,
    /// Where the pages it allocates are charged (the creator's cap_group).
    account: Arc<Account>,
    /// Its pages are charged even past the account's limit.
    overdraft: bool,
    /// Its own kernel memory, charged to its maker.
    #[allow(dead_code)]
    kmem: Kmem,
    /// Where the PMO is mapped (to drop stale mappings of a page whose
    /// frame was replaced by a copy-on-write outside a page fault).
    mappings: Mutex<Mappings>,
}

/// Where a PMO is mapped, by (vmspace address, virtual address). A PMO
/// fork shares (program text) is mapped in every process forked from one
/// parent: a thousand of them made a list walked on every fork and exit.
/// Entries of vmspaces that went without unmapping (their address may be
/// reused: an insert then replaces the dead entry) are pruned when the map
/// has doubled since the last prune.
struct Mappings {
    map: BTreeMap<(usize, u64), Weak<VmSpace>>,
    prune_at: usize,
}

/// Prune the first time a map reaches this many entries.
const MAPPINGS_PRUNE_FIRST: usize = 16;

fn copy_page(src: u64, dst: u64) {
    // SAFETY: both are whole pages owned by PMOs (`dst` by the caller alone),
    // in the linear map.
    unsafe { mm::copy_frame(src, dst) };
}

fn zero_page(pa: u64, pages: u64) {
    // SAFETY: `pa` starts `pages` pages just allocated from the buddy
    // allocator for this PMO, mapped in the linear map and owned by us.
    unsafe { mm::zero_frames(pa, pages) };
}

impl Pmo {
    /// A new PMO of `kind` (not `Device`) holding at least `size` bytes,
    /// its pages charged to `account`.
    pub fn new(kind: PmoKind, size: u64, account: &Arc<Account>) -> Result<Arc<Pmo>, Error> {
        Pmo::create(kind, size, account, true, None)
    }

    /// A lazy PMO (`Anonym` or `Shm`) whose pages are charged to `account`
    /// even past its limit (`Account::charge_with_record_anyway`): memory that another
    /// cap_group than the payer touches, of a fixed size (an IPC
    /// connection's buffer and handler stack).
    /// Its own kernel memory is `paid` ([`PMO_KMEM`], charged already).
    pub fn new_overdraft(kind: PmoKind, size: u64, account: &Arc<Account>, paid: Kmem) -> Result<Arc<Pmo>, Error> {
        if !matches!(kind, PmoKind::Anonym | PmoKind::Shm) {
            return Err(Error::InvalidArgument);
        }
        let mut pmo = Pmo::build(kind, size, account, true, Some(paid))?;
        pmo.overdraft = true;
        Ok(Arc::new(pmo))
    }

    /// [`Pmo::new`]; a contiguous PMO is zeroed only if `zero` (the caller
    /// overwrites all of it otherwise).
    /// `paid`: its own kernel memory, charged already (else charged here).
    fn create(
        kind: PmoKind,
        size: u64,
        account: &Arc<Account>,
        zero: bool,
        paid: Option<Kmem>,
    ) -> Result<Arc<Pmo>, Error> {
        Pmo::build(kind, size, account, zero, paid).map(Arc::new)
    }

    /// [`Pmo::create`], not shared yet.
    fn build(kind: PmoKind, size: u64, account: &Arc<Account>, zero: bool, paid: Option<Kmem>) -> Result<Pmo, Error> {
        if size == 0 || size > PMO_MAX {
            return Err(Error::InvalidArgument);
        }
        let size = align_up(size, PAGE_SIZE).ok_or(Error::InvalidArgument)?;
        // Given back by its drop if the pages are refused.
        let kmem = match paid {
            Some(k) => k,
            None => Kmem::charge(account, PMO_KMEM)?,
        };
        let backing = match kind {
            PmoKind::Data => {
                let pages = size >> PAGE_SHIFT;
                let order = order_for_pages(pages);
                // Charged what the buddy allocator really hands out.
                account.charge(1 << order).map_err(|_| Error::NoMemory)?;
                let Ok(pa) = mm::alloc_pages(order) else {
                    account.uncharge(1 << order);
                    return Err(Error::NoMemory);
                };
                if zero {
                    zero_page(pa, pages);
                }
                Backing::Contiguous { pa, order }
            }
            PmoKind::Anonym | PmoKind::Shm => Backing::Pages(BTreeMap::new()),
            PmoKind::Device | PmoKind::Paged => return Err(Error::InvalidArgument),
        };
        Ok(Pmo::unshared(kind, size, backing, account.clone(), kmem))
    }

    /// A PMO whose pages are charged to `account` and whose own kernel
    /// memory to `payer` (who made it: a slice's or a window's maker, not
    /// its source's owner).
    fn with_backing(
        kind: PmoKind,
        size: u64,
        backing: Backing,
        account: Arc<Account>,
        payer: &Arc<Account>,
    ) -> Result<Arc<Pmo>, Error> {
        let kmem = Kmem::charge(payer, PMO_KMEM)?;
        Ok(Arc::new(Pmo::unshared(kind, size, backing, account, kmem)))
    }

    fn unshared(kind: PmoKind, size: u64, backing: Backing, account: Arc<Account>, kmem: Kmem) -> Pmo {
        Pmo {
            header: Header::new(ObjectType::Pmo),
            kind,
            size,
            inner: Mutex::new(backing),
            account,
            kmem,
            overdraft: false,
            mappings: Mutex::new(Mappings { map: BTreeMap::new(), prune_at: MAPPINGS_PRUNE_FIRST }),
        }
    }

    /// Memory that is not RAM to be charged (device registers, the kernel
    /// image): an account without a limit, of its own.
    fn uncharged() -> Arc<Account> {
        Arc::new(Account::new(kernel_core::account::UNLIMITED))
    }

    /// A PMO for the device registers at `[pa, pa + size)`. The caller has
    /// checked that the creator may name raw physical memory.
    pub fn new_device(pa: u64, size: u64) -> Result<Arc<Pmo>, Error> {
        let size = align_up(size, PAGE_SIZE).ok_or(Error::InvalidArgument)?;
        if size == 0
            || size > PMO_MAX
            || !pa.is_multiple_of(PAGE_SIZE)
            || pa.checked_add(size).is_none_or(|e| e > 1 << 48)
        {
            return Err(Error::InvalidArgument);
        }
        let account = Pmo::uncharged();
        Pmo::with_backing(PmoKind::Device, size, Backing::Device { pa }, account.clone(), &account)
    }

    /// A PMO for pages `[offset, offset + len)` of this one, which must be
    /// contiguous (`Data`, or a slice of one): the same memory, shared,
    /// nothing copied or charged but the new PMO's kernel memory (to
    /// `payer`). The source stays alive while the slice does.
    pub fn slice(self: &Arc<Self>, offset: u64, len: u64, payer: &Arc<Account>) -> Result<Arc<Pmo>, Error> {
        if len == 0 || !offset.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
            return Err(Error::InvalidArgument);
        }
        self.check_range(offset, len)?;
        let (base, owner) = match &*self.inner.lock() {
            Backing::Contiguous { pa, .. } | Backing::Static { pa } => (*pa, self.clone()),
            Backing::Slice { pa, _owner } => (*pa, _owner.clone()),
            Backing::Paged(_) => {
                let view = Backing::View { source: self.clone(), first: offset >> PAGE_SHIFT };
                return Pmo::with_backing(PmoKind::Shm, len, view, self.account.clone(), payer);
            }
            Backing::View { source, first } => {
                let view = Backing::View { source: source.clone(), first: first + (offset >> PAGE_SHIFT) };
                return Pmo::with_backing(PmoKind::Shm, len, view, self.account.clone(), payer);
            }
            Backing::Pages(_) | Backing::Device { .. } | Backing::Shadow { .. } => return Err(Error::InvalidArgument),
        };
        Pmo::with_backing(
            PmoKind::Data,
            len,
            Backing::Slice { pa: base + offset, _owner: owner },
            self.account.clone(),
            payer,
        )
    }

    /// A `Data` PMO over `[pa, pa + size)`, memory that is never freed (a
    /// page-aligned part of the kernel image, such as the ramdisk): nothing
    /// is allocated, copied or charged.
    pub fn new_static(pa: u64, size: u64) -> Result<Arc<Pmo>, Error> {
        let size = align_up(size, PAGE_SIZE).ok_or(Error::InvalidArgument)?;
        if size == 0 || size > PMO_MAX || !pa.is_multiple_of(PAGE_SIZE) {
            return Err(Error::InvalidArgument);
        }
        let account = Pmo::uncharged();
        Pmo::with_backing(PmoKind::Data, size, Backing::Static { pa }, account.clone(), &account)
    }

    /// A paged PMO of `size` bytes whose pages `pager` (the creator, whose
    /// account pays for them) supplies, named `key` to it.
    pub fn new_paged(size: u64, account: &Arc<Account>, pager: &Arc<Pager>, key: u64) -> Result<Arc<Pmo>, Error> {
        if size == 0 || size > PMO_MAX {
            return Err(Error::InvalidArgument);
        }
        let size = align_up(size, PAGE_SIZE).ok_or(Error::InvalidArgument)?;
        let paged = Paged { pager: pager.clone(), key, pages: BTreeMap::new(), waiting: BTreeMap::new() };
        let pmo = Pmo::with_backing(PmoKind::Paged, size, Backing::Paged(paged), account.clone(), account)?;
        pager.add(key, &pmo)?;
        Ok(pmo)
    }

    /// A private copy-on-write window on pages `[offset, offset + len)` of
    /// this PMO, which must be paged (or a view of one) or contiguous: the
    /// source's frames never change under it. Pages it copies are charged
    /// to `account`.
    pub fn private(self: &Arc<Self>, offset: u64, len: u64, account: &Arc<Account>) -> Result<Arc<Pmo>, Error> {
        if len == 0 || !offset.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
            return Err(Error::InvalidArgument);
        }
        self.check_range(offset, len)?;
        let (source, first) = match &*self.inner.lock() {
            Backing::View { source, first } => (source.clone(), first + (offset >> PAGE_SHIFT)),
            Backing::Paged(_) | Backing::Contiguous { .. } | Backing::Slice { .. } | Backing::Static { .. } => {
                (self.clone(), offset >> PAGE_SHIFT)
            }
            Backing::Pages(_) | Backing::Device { .. } | Backing::Shadow { .. } => return Err(Error::InvalidArgument),
        };
        let shadow = Backing::Shadow { source, first, pages: BTreeMap::new() };
        Pmo::with_backing(PmoKind::Anonym, len, shadow, account.clone(), account)
    }

    /// Whether pages are allocated (or supplied) on first touch.
    pub fn is_lazy(&self) -> bool {
        matches!(self.kind, PmoKind::Anonym | PmoKind::Shm | PmoKind::Paged)
    }

    /// Whether its pages come from a pager (it is paged, or a window on a
    /// paged PMO): the kernel cannot read a page that is not there yet.
    fn pager_backed(&self) -> bool {
        match &*self.inner.lock() {
            Backing::Paged(_) => true,
            Backing::View { source, .. } | Backing::Shadow { source, .. } => source.kind == PmoKind::Paged,
            _ => false,
        }
    }

    /// Page `index` for a fault (or a copy) that reads or writes it: lazy
    /// pages are allocated, shared ones copied for a write; a page of a
    /// paged PMO that its pager has not supplied yet is `NoPage::Pager`.
    pub fn fault_page(self: &Arc<Self>, index: u64, write: bool) -> Result<PageRef, NoPage> {
        if index >= self.size >> PAGE_SHIFT {
            return Err(NoPage::Invalid);
        }
        let mut inner = self.inner.lock();
        let whole = |pa: u64| Ok(PageRef { pa: pa + (index << PAGE_SHIFT), copied: false, read_only: false });
        let (source, at, shadow) = match &mut *inner {
            Backing::Contiguous { pa, .. }
            | Backing::Device { pa }
            | Backing::Slice { pa, .. }
            | Backing::Static { pa } => return whole(*pa),
            Backing::Pages(pages) => {
                return lazy_page(pages, index, write, true, &self.account, self.overdraft)?.ok_or(NoPage::NoMemory);
            }
            Backing::Paged(p) => {
                return match p.pages.get(&index) {
                    Some(f) => Ok(PageRef { pa: f.0, copied: false, read_only: false }),
                    None => Err(NoPage::Pager(self.clone(), index)),
                };
            }
            Backing::View { source, first } => (source.clone(), *first + index, false),
            Backing::Shadow { source, first, pages } => {
                if let Some(r) = lazy_page(pages, index, write, false, &self.account, self.overdraft)? {
                    return Ok(r);
                }
                (source.clone(), *first + index, true)
            }
        };
        drop(inner);
        let got = source.fault_page(at, write && !shadow)?;
        if !shadow {
            return Ok(got);
        }
        if !write {
            // The source's page, until this window writes it.
            return Ok(PageRef { pa: got.pa, copied: false, read_only: true });
        }
        let copy = Frame::new(&self.account, Some(got.pa), self.overdraft, true)?;
        let pa = copy.0;
        if let Backing::Shadow { pages, .. } = &mut *self.inner.lock() {
            if pages.insert(index, Arc::new(copy)).is_some() {
                // Another CPU copied it meanwhile: no new entry after all.
                self.account.uncharge_kmem(ENTRY_KMEM);
            }
        }
        // Mappings of this window elsewhere still show the source's page.
        Ok(PageRef { pa, copied: true, read_only: false })
    }

    /// The current thread `t` faulted on page `index`, which its pager has
    /// not supplied: wait for it. `Ok(true)`: block `t` (it retries the
    /// access when woken); `Ok(false)`: the page is there now, retry at
    /// once; an error: the pager has ended (`PeerDead`) or has too many
    /// faults waiting (`NoMemory`).
    pub fn wait_page(&self, index: u64, t: &Arc<Thread>) -> Result<bool, Error> {
        let mut inner = self.inner.lock();
        let Backing::Paged(p) = &mut *inner else { return Ok(false) };
        if p.pages.contains_key(&index) {
            return Ok(false);
        }
        if !p.pager.is_open() {
            return Err(Error::PeerDead);
        }
        let list = p.waiting.entry(index).or_default();
        list.retain(|w| w.group.is_alive());
        // The first waiter asks; the others wait for the same answer.
        let first = list.is_empty();
        list.push(t.clone());
        let (pager, key) = (p.pager.clone(), p.key);
        drop(inner);
        if first {
            if let Err(e) = pager.request(key, index) {
                drop(self.take_waiters(Some(index)));
                return Err(e);
            }
        }
        Ok(true)
    }

    /// The pager supplies page `index`: `fill(frame)` writes all of a
    /// fresh frame (charged to the pager) before it joins the PMO. A page
    /// already there stays as it is. Returns the threads that waited for it.
    pub fn supply(&self, index: u64, fill: impl FnOnce(u64) -> Result<(), Error>) -> Result<Vec<Arc<Thread>>, Error> {
        if index >= self.size >> PAGE_SHIFT || !matches!(&*self.inner.lock(), Backing::Paged(_)) {
            return Err(Error::InvalidArgument);
        }
        // Filled outside the lock: `fill` reads the pager's memory, whose
        // vmspace lock comes before any PMO's.
        let frame = Frame::blank(&self.account, false, true)?;
        fill(frame.0)?;
        if let Backing::Paged(p) = &mut *self.inner.lock() {
            match p.pages.entry(index) {
                alloc::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(frame);
                }
                alloc::collections::btree_map::Entry::Occupied(_) => self.account.uncharge_kmem(ENTRY_KMEM),
            }
        }
        Ok(self.take_waiters(Some(index)))
    }

    /// Take the threads waiting for page `index` (every page: `None`) of a
    /// paged PMO, for the caller to wake or end.
    pub fn take_waiters(&self, index: Option<u64>) -> Vec<Arc<Thread>> {
        let mut inner = self.inner.lock();
        let Backing::Paged(p) = &mut *inner else { return Vec::new() };
        let lists: Vec<Vec<Arc<Thread>>> = match index {
            Some(i) => p.waiting.remove(&i).into_iter().collect(),
            None => core::mem::take(&mut p.waiting).into_values().collect(),
        };
        drop(inner);
        lists.into_iter().flatten().collect()
    }

    /// Physical address of page `index`; lazy PMOs allocate it when
    /// `allocate` (else `Ok(None)` for a page never touched).
    pub fn page(&self, index: u64, allocate: bool) -> Result<Option<u64>, Error> {
        if index >= self.size >> PAGE_SHIFT {
            return Err(Error::InvalidArgument);
        }
        let mut inner = self.inner.lock();
        match &mut *inner {
            Backing::Contiguous { pa, .. }
            | Backing::Device { pa }
            | Backing::Slice { pa, .. }
            | Backing::Static { pa } => Ok(Some(*pa + (index << PAGE_SHIFT))),
            Backing::Pages(pages) => {
                Ok(lazy_page(pages, index, false, allocate, &self.account, self.overdraft)?.map(|r| r.pa))
            }
            // A paged PMO's pages come only from its pager.
            Backing::Paged(p) => Ok(p.pages.get(&index).map(|f| f.0)),
            Backing::View { source, first } => {
                let (source, at) = (source.clone(), *first + index);
                drop(inner);
                source.page(at, false)
            }
            Backing::Shadow { source, first, pages } => {
                if let Some(f) = pages.get(&index) {
                    return Ok(Some(f.0));
                }
                let (source, at) = (source.clone(), *first + index);
                drop(inner);
                source.page(at, false)
            }
        }
    }

    /// Physical address of page `index` for writing: allocated if absent,
    /// and copied first if its frame is shared with a copy of this PMO.
    /// Returns whether the frame changed (mappings of the old one are stale).
    /// A page its pager has not supplied is `NotMapped`.
    pub fn page_for_write(self: &Arc<Self>, index: u64) -> Result<(u64, bool), Error> {
        // Lazy memory (IPC buffers, heaps) directly: the kernel writes
        // capability slots into a connection's buffer on every transfer.
        if let Backing::Pages(pages) = &mut *self.inner.lock() {
            if index >= self.size >> PAGE_SHIFT {
                return Err(Error::InvalidArgument);
            }
            let r = lazy_page(pages, index, true, true, &self.account, self.overdraft)?.ok_or(Error::NoMemory)?;
            return Ok((r.pa, r.copied));
        }
        match self.fault_page(index, true) {
            Ok(r) => Ok((r.pa, r.copied)),
            Err(NoPage::NoMemory) => Err(Error::NoMemory),
            Err(NoPage::Invalid) => Err(Error::InvalidArgument),
            Err(NoPage::Pager(..)) => Err(Error::NotMapped),
        }
    }

    /// A copy for a forked address space, charged to `account` (its own
    /// kernel memory is `paid`, [`PMO_KMEM`] charged already). Lazy PMOs
    /// share their frames, copy-on-write (a shared frame stays charged to
    /// whoever allocated it); contiguous ones are copied now.
    pub fn cow_copy(&self, account: &Arc<Account>, paid: Kmem) -> Result<Arc<Pmo>, Error> {
        let shared = match &*self.inner.lock() {
            Backing::Pages(pages) => Some(Backing::Pages(pages.clone())),
            Backing::Shadow { source, first, pages } => {
                Some(Backing::Shadow { source: source.clone(), first: *first, pages: pages.clone() })
            }
            _ => None,
        };
        match shared {
            Some(backing) => {
                // The copied map's entries are the copy's (its frames stay
                // charged to whoever allocated them).
                let entries = Pmo::entries(&backing) * ENTRY_KMEM;
                account.charge_kmem(entries).map_err(|_| Error::NoMemory)?;
                Ok(Arc::new(Pmo::unshared(self.kind, self.size, backing, account.clone(), paid)))
            }
            None => self.duplicate(account, Some(paid)),
        }
    }

    /// Entries in the backing's page map (each charged [`ENTRY_KMEM`]).
    fn entries(backing: &Backing) -> u64 {
        (match backing {
            Backing::Pages(pages) | Backing::Shadow { pages, .. } => pages.len(),
            Backing::Paged(p) => p.pages.len(),
            _ => 0,
        }) as u64
    }

    /// Remember that `vm` maps this PMO at `va`.
    pub fn add_mapping(&self, vm: &Arc<VmSpace>, va: u64) {
        let mut m = self.mappings.lock();
        if m.map.len() >= m.prune_at {
            m.map.retain(|_, w| w.strong_count() > 0);
            m.prune_at = (m.map.len() * 2).max(MAPPINGS_PRUNE_FIRST);
        }
        m.map.insert((Arc::as_ptr(vm) as usize, va), Arc::downgrade(vm));
    }

    /// Forget the mapping of `vm` at `va`.
    pub fn remove_mapping(&self, vm: &VmSpace, va: u64) {
        self.mappings.lock().map.remove(&(vm as *const VmSpace as usize, va));
    }

    /// Page `index` got a new frame: drop every mapping of the old one (the
    /// next access faults the new one in), except `keep` (a vmspace and the
    /// page's address there) which the caller already points at the new frame.
    pub fn invalidate(&self, index: u64, keep: Option<(&VmSpace, u64)>) {
        let mappings: Vec<(Weak<VmSpace>, u64)> =
            self.mappings.lock().map.iter().map(|(&(_, va), w)| (w.clone(), va)).collect();
        for (w, base) in mappings {
            let page = base + (index << PAGE_SHIFT);
            if keep.is_some_and(|(vm, va)| core::ptr::eq(w.as_ptr(), vm) && page == va) {
                continue;
            }
            if let Some(vm) = w.upgrade() {
                vm.drop_page(page);
            }
        }
    }

    /// A private copy (for `vmspace_clone`): same kind and size, the pages
    /// present now copied. Device PMOs cannot be copied.
    pub fn duplicate(&self, account: &Arc<Account>, paid: Option<Kmem>) -> Result<Arc<Pmo>, Error> {
        // Every page of a contiguous PMO is present and gets copied over.
        let copy = Pmo::create(self.kind, self.size, account, false, paid)?;
        for (index, src, _) in self.present_pages() {
            let dst = copy.page(index, true)?.ok_or(Error::NoMemory)?;
            copy_page(src, dst);
        }
        Ok(copy)
    }

    /// Pages present now: (index, physical address, to be mapped read-only:
    /// shared copy-on-write, or a shadow's source page), by index.
    pub fn present_pages(&self) -> Vec<(u64, u64, bool)> {
        let count = self.size >> PAGE_SHIFT;
        let inner = self.inner.lock();
        let (source, first, own, shadow) = match &*inner {
            Backing::Contiguous { pa, .. }
            | Backing::Device { pa }
            | Backing::Slice { pa, .. }
            | Backing::Static { pa } => return (0..count).map(|i| (i, pa + (i << PAGE_SHIFT), false)).collect(),
            Backing::Pages(pages) => return pages.iter().map(|(&i, f)| (i, f.0, Arc::strong_count(f) > 1)).collect(),
            Backing::Paged(p) => return p.pages.iter().map(|(&i, f)| (i, f.0, false)).collect(),
            Backing::View { source, first } => (source.clone(), *first, Vec::new(), false),
            Backing::Shadow { source, first, pages } => {
                let own = pages.iter().map(|(&i, f)| (i, f.0, Arc::strong_count(f) > 1)).collect();
                (source.clone(), *first, own, true)
            }
        };
        drop(inner);
        // The source's pages in the window, where the window has none of its own.
        let mut pages: Vec<(u64, u64, bool)> = source
            .present_pages()
            .into_iter()
            .filter(|&(i, _, _)| i >= first && i - first < count)
            .map(|(i, pa, ro)| (i - first, pa, ro || shadow))
            .filter(|(i, _, _)| own.binary_search_by_key(i, |&(j, _, _)| j).is_err())
            .collect();
        pages.extend(own);
        pages.sort_unstable_by_key(|&(i, _, _)| i);
        pages
    }

    /// Check an access of `len` bytes at `offset`.
    fn check_range(&self, offset: u64, len: u64) -> Result<(), Error> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(Error::InvalidArgument),
        }
    }

    /// Copy `buf.len()` bytes from `offset` (untouched lazy pages read as
    /// zero; a page its pager has not supplied is `NotMapped`).
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.check_range(offset, buf.len() as u64)?;
        if self.kind == PmoKind::Device {
            return Err(Error::InvalidArgument);
        }
        let mut missing = false;
        self.for_each_chunk(offset, buf.len(), |pa, range| {
            let dst = &mut buf[range];
            match pa {
                // SAFETY: `pa + dst.len()` stays inside one page this PMO owns, in the linear map.
                Some(pa) => unsafe {
                    core::ptr::copy_nonoverlapping(phys_to_virt(pa) as *const u8, dst.as_mut_ptr(), dst.len())
                },
                None => {
                    missing = true;
                    dst.fill(0);
                }
            }
        })?;
        // Asked only when a page was missing: the common read takes no
        // second look at the backing.
        if missing && self.pager_backed() {
            return Err(Error::NotMapped);
        }
        Ok(())
    }

    /// Copy `data` to `offset`, allocating lazy pages as needed (a page its
    /// pager has not supplied is `NotMapped`: what was written before it stays).
    pub fn write(self: &Arc<Self>, offset: u64, data: &[u8]) -> Result<(), Error> {
        self.check_range(offset, data.len() as u64)?;
        if self.kind == PmoKind::Device {
            return Err(Error::InvalidArgument);
        }
        let mut done = 0usize;
        while done < data.len() {
            let pos = offset + done as u64;
            let in_page = pos % PAGE_SIZE;
            let n = ((PAGE_SIZE - in_page) as usize).min(data.len() - done);
            let (pa, copied) = self.page_for_write(pos >> PAGE_SHIFT)?;
            if copied {
                self.invalidate(pos >> PAGE_SHIFT, None);
            }
            let src = &data[done..done + n];
            // SAFETY: `pa + in_page + n` stays inside one page this PMO owns
            // alone (just made private if it was shared), in the linear map.
            unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), phys_to_virt(pa + in_page) as *mut u8, n) }
            done += n;
        }
        Ok(())
    }

    /// Walk `[offset, offset + len)` page by page for reading: `f(physical
    /// address of the chunk or None, index range in the caller's buffer)`.
    fn for_each_chunk(
        &self,
        offset: u64,
        len: usize,
        mut f: impl FnMut(Option<u64>, core::ops::Range<usize>),
    ) -> Result<(), Error> {
        let mut done = 0usize;
        while done < len {
            let pos = offset + done as u64;
            let in_page = pos % PAGE_SIZE;
            let n = ((PAGE_SIZE - in_page) as usize).min(len - done);
            let pa = self.page(pos >> PAGE_SHIFT, false)?.map(|p| p + in_page);
            f(pa, done..done + n);
            done += n;
        }
        Ok(())
    }
}

impl Drop for Pmo {
    fn drop(&mut self) {
        let inner = self.inner.lock();
        self.account.uncharge_kmem(Pmo::entries(&inner) * ENTRY_KMEM);
        match &*inner {
            Backing::Contiguous { pa, order } => {
                mm::free_pages(*pa, *order);
                self.account.uncharge(1 << *order);
            }
            Backing::Paged(p) => p.pager.forget(p.key),
            // Frames free themselves when their last PMO lets go; a slice's
            // or view's belong to the PMO it was cut from.
            Backing::Pages(_)
            | Backing::Device { .. }
            | Backing::Slice { .. }
            | Backing::Static { .. }
            | Backing::View { .. }
            | Backing::Shadow { .. } => {}
        }
    }
}
