//! vmspace: an address space. A page table (tagged with an ASID, so switching
//! address spaces needs no TLB flush) and the vm regions that say which PMO
//! is mapped where with which permissions.

use super::pmo::{NoPage, Pmo};
use super::Header;
use crate::arch::mmu;
use crate::mm::ChargedTables;
use alloc::sync::Arc;
use chcore_abi::{perm, Error, ObjectType, PmoKind};
use kernel_core::account::Account;
use kernel_core::asid::Asids;
use kernel_core::mm::pagetable::{Granularity, MapError, PageTable};
use kernel_core::mm::pte::{MemType, Perm};
use kernel_core::mm::{PAGE_SHIFT, PAGE_SIZE};
use kernel_core::vmregion::VmRegions;
use spin::Mutex;

/// ASIDs in use: 16 bits of them where the CPU has them (the boot code
/// then set TCR_EL1.AS), else 8 (docs/memory.md).
static ASIDS: Mutex<Asids> = Mutex::new(Asids::new());

fn alloc_asid() -> Result<u16, Error> {
    let mut asids = ASIDS.lock();
    if asids.in_use() == 0 {
        asids.set_bits(mmu::asid_bits());
    }
    asids.alloc().ok_or_else(|| {
        log::debug!("no ASID left ({} in use)", asids.in_use());
        Error::NoMemory
    })
}

fn free_asid(asid: u16) {
    ASIDS.lock().free(asid);
}

/// How a user access went wrong, for the fault report.
pub enum FaultError {
    /// No vm region covers the address.
    Unmapped,
    /// The region does not allow this kind of access.
    Permission,
    /// No memory for the page.
    OutOfMemory,
    /// Page `.1` of the paged PMO `.0` is not there yet: its pager must
    /// supply it (the faulting thread waits; a kernel copy fails).
    Pager(Arc<Pmo>, u64),
}

/// What a vm region maps: the PMO, and the most `protect` may grant
/// (what the capability used to map it allowed).
struct Mapping {
    pmo: Arc<Pmo>,
    max_perm: u64,
    /// A client's connection buffer: not copied into a fork, which does not
    /// get the connection (and must not see the parent's messages).
    private_to_connection: bool,
}

/// Kernel memory a mapping takes: its share of the region tree's and of
/// the PMO's mapping tree's nodes. Charged to the space's owner for every
/// region it has (kept as a count, not in the region: the region tree's
/// entries stay small), given back as regions go.
pub const MAPPING_KMEM: u64 = super::heap_block(core::mem::size_of::<kernel_core::vmregion::VmRegion<Mapping>>()) + 48;

/// A run of equal-sized slots, each holding at most one PMO: where a
/// server's connection buffers (or handler stacks) live, one slot per
/// connection. One area instead of a vm region per connection keeps the
/// region tree of a server with a thousand clients as small as any other
/// (connecting and faulting there index a vector instead of walking a
/// B-tree of thousands of regions). Only the kernel maps into an area.
struct SlotArea {
    base: u64,
    stride: u64,
    count: u64,
    perm: u64,
    slots: alloc::vec::Vec<Option<Arc<Pmo>>>,
}

impl SlotArea {
    /// The slot `va` falls in (its index and first address), if any.
    fn slot(&self, va: u64) -> Option<(usize, u64)> {
        let i = va.checked_sub(self.base)? / self.stride;
        (i < self.count).then(|| (i as usize, self.base + i * self.stride))
    }

    fn overlaps(&self, start: u64, len: u64) -> bool {
        start < self.base + self.count * self.stride && self.base < start + len
    }
}

/// A mapping found at an address: its first page, its permissions and its PMO.
struct Found<'a> {
    start: u64,
    perm: u64,
    pmo: &'a Arc<Pmo>,
}

struct VmInner {
    pt: PageTable,
    regions: VmRegions<Mapping>,
    areas: alloc::vec::Vec<SlotArea>,
}

impl VmInner {
    /// The mapping that holds `va`, in a slot area or a region.
    fn find(&self, va: u64) -> Option<Found<'_>> {
        if let Some((a, (i, start))) = self.areas.iter().find_map(|a| Some((a, a.slot(va)?))) {
            let pmo = a.slots.get(i)?.as_ref()?;
            return (va < start + pmo.size).then_some(Found { start, perm: a.perm, pmo });
        }
        self.regions.find(va).map(|r| Found { start: r.start, perm: r.perm, pmo: &r.pmo.pmo })
    }
}

/// An address space.
pub struct VmSpace {
    /// Common header (its drop keeps the live-object counts).
    #[allow(dead_code)]
    pub header: Header,
    /// Address space identifier tagging this space's TLB entries.
    pub asid: u16,
    /// TTBR0_EL1 for the space: its level 0 table (fixed for the space's
    /// life) and ASID. Kept outside the lock, ready to write, because every
    /// switch to the space reads it.
    ttbr0: u64,
    /// Pays for the page tables.
    account: Arc<Account>,
    inner: Mutex<VmInner>,
}

fn pte_perm(p: u64) -> Perm {
    // AArch64 cannot express write-only or execute-only for EL0 here: every
    // valid user mapping is readable.
    Perm { write: p & perm::WRITE != 0, exec: p & perm::EXEC != 0, user: true }
}

fn map_error(e: MapError) -> Error {
    match e {
        MapError::OutOfMemory => Error::NoMemory,
        MapError::AlreadyMapped => Error::Overlap,
        MapError::NotMapped => Error::NotMapped,
        _ => Error::InvalidArgument,
    }
}

impl VmSpace {
    /// An empty address space whose page tables are charged to `account`.
    pub fn new(account: &Arc<Account>) -> Result<Arc<VmSpace>, Error> {
        let asid = alloc_asid()?;
        let pt = match PageTable::new(&mut ChargedTables::of(account)) {
            Ok(pt) => pt,
            Err(_) => {
                free_asid(asid);
                return Err(Error::NoMemory);
            }
        };
        Ok(Arc::new(VmSpace {
            header: Header::new(ObjectType::VmSpace),
            asid,
            ttbr0: mmu::ttbr0(pt.root(), asid),
            account: account.clone(),
            inner: Mutex::new(VmInner { pt, regions: VmRegions::new(), areas: alloc::vec::Vec::new() }),
        }))
    }

    /// Map all of `pmo` at `va` with `p` permissions; `protect` may later
    /// grant at most `max_perm`. Pages that exist are mapped now; lazy PMOs
    /// get the rest on first touch.
    pub fn map(self: &Arc<Self>, pmo: Arc<Pmo>, va: u64, p: u64, max_perm: u64) -> Result<(), Error> {
        self.map_as(pmo, va, p, max_perm, false, None)
    }

    /// [`VmSpace::map`] for a client's connection buffer, which
    /// [`VmSpace::clone_into`] leaves out; its region's kernel memory is
    /// taken from the connection's, `paid`.
    pub fn map_connection_buffer(
        self: &Arc<Self>,
        pmo: Arc<Pmo>,
        va: u64,
        paid: &mut super::Kmem,
    ) -> Result<(), Error> {
        let rw = perm::READ | perm::WRITE;
        self.map_as(pmo, va, rw, rw, true, Some(paid))
    }

    /// Map; the region's kernel memory is taken from `paid` if given (a
    /// fork charges all its regions at once), else charged now.
    fn map_as(
        self: &Arc<Self>,
        pmo: Arc<Pmo>,
        va: u64,
        p: u64,
        max_perm: u64,
        conn: bool,
        paid: Option<&mut super::Kmem>,
    ) -> Result<(), Error> {
        if p & !max_perm != 0 {
            return Err(Error::NoRights);
        }
        let mut inner = self.inner.lock();
        let len = pmo.size;
        if inner.areas.iter().any(|a| a.overlaps(va, len)) {
            return Err(Error::Overlap);
        }
        if paid.is_none() {
            self.account.charge_kmem(MAPPING_KMEM).map_err(|_| Error::NoMemory)?;
        }
        let mapping = Mapping { pmo: pmo.clone(), max_perm, private_to_connection: conn };
        let mapped = inner.regions.insert(va, len, p, mapping).and_then(|()| {
            self.map_present(&mut inner, &pmo, va, p).inspect_err(|_| {
                let _ = inner.regions.remove(va);
            })
        });
        if let Err(e) = mapped {
            if paid.is_none() {
                self.account.uncharge_kmem(MAPPING_KMEM);
            }
            return Err(e);
        }
        if let Some(k) = paid {
            k.hand_over(MAPPING_KMEM);
        }
        drop(inner);
        pmo.add_mapping(self, va);
        Ok(())
    }

    /// Make `[base, base + count * stride)` a slot area with `p`
    /// permissions (see `SlotArea`). Refused if anything is mapped there.
    pub fn add_area(&self, base: u64, stride: u64, count: u64, p: u64) -> Result<(), Error> {
        let len = stride.checked_mul(count).ok_or(Error::InvalidArgument)?;
        kernel_core::vmregion::check_user_range(base, len)?;
        let mut inner = self.inner.lock();
        if inner.regions.overlaps(base, len) || inner.areas.iter().any(|a| a.overlaps(base, len)) {
            return Err(Error::Overlap);
        }
        inner.areas.push(SlotArea { base, stride, count, perm: p, slots: alloc::vec::Vec::new() });
        Ok(())
    }

    /// Undo `add_area` of the (empty) area at `base`.
    pub fn remove_area(&self, base: u64) {
        self.inner.lock().areas.retain(|a| a.base != base || a.slots.iter().any(Option::is_some));
    }

    /// Put `pmo` (at most a slot long) into the free slot of an area that
    /// starts at `va`, mapping its present pages.
    pub fn map_slot(self: &Arc<Self>, pmo: Arc<Pmo>, va: u64) -> Result<(), Error> {
        let mut inner = self.inner.lock();
        let (k, i, p) = {
            let (k, a, (i, start)) =
                inner.areas.iter().enumerate().find_map(|(k, a)| Some((k, a, a.slot(va)?))).ok_or(Error::NotMapped)?;
            if start != va || pmo.size > a.stride {
                return Err(Error::InvalidArgument);
            }
            (k, i, a.perm)
        };
        let slots = &mut inner.areas[k].slots;
        if slots.len() <= i {
            slots.resize(i + 1, None);
        }
        if slots[i].is_some() {
            return Err(Error::Overlap);
        }
        slots[i] = Some(pmo.clone());
        if let Err(e) = self.map_present(&mut inner, &pmo, va, p) {
            inner.areas[k].slots[i] = None;
            return Err(e);
        }
        drop(inner);
        pmo.add_mapping(self, va);
        Ok(())
    }

    /// Map the pages of `pmo` that exist, at `va` with `p`; undone on failure.
    fn map_present(&self, inner: &mut VmInner, pmo: &Pmo, va: u64, p: u64) -> Result<(), Error> {
        let len = pmo.size;
        let mem = if pmo.kind == PmoKind::Device { MemType::Device } else { MemType::Normal };
        // Present pages in runs of consecutive pages (all of a contiguous
        // PMO is one run), each mapped with one call.
        let present = pmo.present_pages();
        let mut frames: alloc::vec::Vec<u64> = alloc::vec::Vec::with_capacity(present.len());
        let mut result = Ok(());
        let mut k = 0;
        while k < present.len() && result.is_ok() {
            let (first, _, shared) = present[k];
            frames.clear();
            while let Some(&(i, pa, s)) = present.get(k) {
                if i != first + frames.len() as u64 || s != shared {
                    break;
                }
                frames.push(pa);
                k += 1;
            }
            // A frame shared copy-on-write is mapped read-only until written.
            let perm = if shared { pte_perm(p & !perm::WRITE) } else { pte_perm(p) };
            result = inner.pt.map_frames(
                &mut ChargedTables::of(&self.account),
                va + (first << PAGE_SHIFT),
                &frames,
                perm,
                mem,
            );
        }
        if let Err(e) = result {
            let _ = inner.pt.unmap_present(&mut ChargedTables::of(&self.account), va, len);
            mmu::tlb_flush_asid(self.asid);
            return Err(map_error(e));
        }
        Ok(())
    }

    /// Remove every region (when the cap_group ends: its memory comes back
    /// at once, not when the last capability to the group goes). Returns
    /// the PMOs, for the caller to drop outside the lock.
    pub fn clear(&self) -> alloc::vec::Vec<Arc<Pmo>> {
        let mut inner = self.inner.lock();
        let starts: alloc::vec::Vec<u64> = inner.regions.iter().map(|r| r.start).collect();
        let mut pmos: alloc::vec::Vec<(u64, Arc<Pmo>)> =
            starts.into_iter().filter_map(|va| inner.regions.remove(va).ok().map(|r| (va, r.pmo.pmo))).collect();
        self.account.uncharge_kmem(pmos.len() as u64 * MAPPING_KMEM);
        for a in core::mem::take(&mut inner.areas) {
            let (base, stride) = (a.base, a.stride);
            pmos.extend(a.slots.into_iter().enumerate().filter_map(|(i, s)| s.map(|p| (base + i as u64 * stride, p))));
        }
        let asid = self.asid;
        inner.pt.clear_all(&mut ChargedTables::of(&self.account), || mmu::tlb_flush_asid(asid));
        drop(inner);
        pmos.into_iter()
            .map(|(va, pmo)| {
                pmo.remove_mapping(self, va);
                pmo
            })
            .collect()
    }

    /// Drop the translation of one page (its frame changed under it).
    pub fn drop_page(&self, va: u64) {
        let mut inner = self.inner.lock();
        let _ = inner.pt.unmap_present(&mut ChargedTables::of(&self.account), va & !(PAGE_SIZE - 1), PAGE_SIZE);
        mmu::tlb_flush_asid(self.asid);
    }

    /// Remove the region that starts at `va`. Returns its PMO, for the caller
    /// to drop outside the lock.
    pub fn unmap(&self, va: u64) -> Result<Arc<Pmo>, Error> {
        let mut inner = self.inner.lock();
        let pmo = match inner.areas.iter_mut().find_map(|a| Some((a.slot(va)?, a))) {
            Some(((i, start), a)) => {
                let slot = a.slots.get_mut(i).filter(|_| start == va);
                slot.and_then(Option::take).ok_or(Error::NotMapped)?
            }
            None => {
                let pmo = inner.regions.remove(va)?.pmo.pmo;
                self.account.uncharge_kmem(MAPPING_KMEM);
                pmo
            }
        };
        inner.pt.unmap_present(&mut ChargedTables::of(&self.account), va, pmo.size).map_err(map_error)?;
        mmu::tlb_flush_asid(self.asid);
        drop(inner);
        pmo.remove_mapping(self, va);
        Ok(pmo)
    }

    /// Change the permissions of the region `[va, va + len)`.
    pub fn protect(&self, va: u64, len: u64, p: u64) -> Result<(), Error> {
        let mut inner = self.inner.lock();
        let region = inner.regions.find(va).filter(|r| r.start == va).ok_or(Error::NotMapped)?;
        if p & !region.pmo.max_perm != 0 {
            return Err(Error::NoRights);
        }
        inner.regions.protect(va, len, p)?;
        inner.pt.protect_present(&mut ChargedTables::of(&self.account), va, len, pte_perm(p)).map_err(map_error)?;
        mmu::tlb_flush_asid(self.asid);
        Ok(())
    }

    /// The physical address behind user address `va` for a read (or a write),
    /// faulting the page in if its region allows it. Device memory is refused:
    /// the kernel does not copy to or from registers on a user's behalf.
    pub fn resolve(&self, va: u64, write: bool) -> Result<u64, FaultError> {
        let mut inner = self.inner.lock();
        let Found { start, perm: p, pmo } = inner.find(va).ok_or(FaultError::Unmapped)?;
        if (write && p & perm::WRITE == 0) || pmo.kind == PmoKind::Device {
            return Err(FaultError::Permission);
        }
        let pmo = pmo.clone();
        let page_va = va & !(PAGE_SIZE - 1);
        let index = (page_va - start) >> PAGE_SHIFT;
        let present = inner.pt.translate(&ChargedTables::of(&self.account), va);
        if let Some(t) = present {
            if !write || t.perm.write {
                return Ok(t.pa);
            }
        }
        // Not mapped yet, or a write to a page mapped read-only because its
        // frame is shared copy-on-write: give this PMO a private frame.
        let got = pmo.fault_page(index, write).map_err(|e| match e {
            NoPage::NoMemory => FaultError::OutOfMemory,
            NoPage::Invalid => FaultError::Permission,
            NoPage::Pager(pmo, index) => FaultError::Pager(pmo, index),
        })?;
        let (pa, copied) = (got.pa, got.copied);
        let perm = if got.read_only { pte_perm(p & !perm::WRITE) } else { pte_perm(p) };
        if present.is_some() {
            let _ = inner.pt.unmap_present(&mut ChargedTables::of(&self.account), page_va, PAGE_SIZE);
            mmu::tlb_flush_asid(self.asid);
        }
        inner
            .pt
            .map(
                &mut ChargedTables::of(&self.account),
                page_va,
                pa,
                PAGE_SIZE,
                perm,
                MemType::Normal,
                Granularity::Pages,
            )
            .map_err(|_| FaultError::OutOfMemory)?;
        drop(inner);
        if copied {
            // Other mappings of this same PMO still point at the old frame.
            pmo.invalidate(index, Some((self, page_va)));
        }
        Ok(pa + (va & (PAGE_SIZE - 1)))
    }

    /// Handle a translation fault, or a write to a read-only page, at `va`
    /// taken by a user thread: populate a lazy page, or copy a shared one,
    /// if the region allows the access.
    pub fn handle_fault(&self, va: u64, write: bool, exec: bool) -> Result<(), FaultError> {
        {
            let inner = self.inner.lock();
            let found = inner.find(va).ok_or(FaultError::Unmapped)?;
            if (exec && found.perm & perm::EXEC == 0) || !found.pmo.is_lazy() {
                return Err(FaultError::Permission);
            }
        }
        self.resolve(va, write).map(|_| ())
    }

    /// Give `dst` a copy of this address space (new pages charged to `account`): private memory (DATA,
    /// ANONYM) is copied (ANONYM copy-on-write; DATA that can never be
    /// written through the mapping is shared), shared memory (SHM, DEVICE)
    /// is shared. Regions
    /// `dst` already has at the same address are left as they are (a forked
    /// child's own connection buffer, say). Connections are not copied (a
    /// child is no server, and the parent's connections stay the parent's),
    /// so neither are slot areas nor the parent's connection buffers.
    pub fn clone_into(&self, dst: &Arc<VmSpace>, account: &Arc<kernel_core::account::Account>) -> Result<(), Error> {
        let regions: alloc::vec::Vec<(u64, u64, u64, u64, Arc<Pmo>)> = {
            let inner = self.inner.lock();
            inner
                .regions
                .iter()
                .filter(|r| !r.pmo.private_to_connection)
                .map(|r| (r.start, r.len, r.perm, r.pmo.max_perm, r.pmo.pmo.clone()))
                .collect()
        };
        // What the copy's regions and new PMOs take in kernel memory is
        // charged in one go (a fork is made of such objects); each takes
        // its share, and what is not used goes back with `paid`.
        let needed: u64 = regions
            .iter()
            .map(|r| MAPPING_KMEM + if fork_copies(r.4.kind, r.3) { super::pmo::PMO_KMEM } else { 0 })
            .sum();
        let mut paid = super::Kmem::charge(&dst.account, needed)?;
        for (start, len, p, max, pmo) in regions {
            if dst.inner.lock().regions.find(start).is_some() {
                continue;
            }
            let copy = match pmo.kind {
                _ if !fork_copies(pmo.kind, max) => pmo,
                // Lazy memory (heap, stacks) is shared copy-on-write: both
                // sides see it read-only until one writes a page.
                PmoKind::Anonym => {
                    let c = pmo.cow_copy(account, paid.split(super::pmo::PMO_KMEM))?;
                    if p & perm::WRITE != 0 {
                        let ro = pte_perm(p & !perm::WRITE);
                        let present: alloc::vec::Vec<u64> = c
                            .present_pages()
                            .into_iter()
                            .map(|(i, _, _)| i << PAGE_SHIFT)
                            .filter(|off| *off < len)
                            .collect();
                        let mut inner = self.inner.lock();
                        // A big region (a heap) is mostly holes: write-protect
                        // the pages present one by one unless there are many.
                        if present.len() < COW_PAGEWISE_MAX {
                            for off in present {
                                let _ = inner.pt.protect_present(
                                    &mut ChargedTables::of(&self.account),
                                    start + off,
                                    PAGE_SIZE,
                                    ro,
                                );
                            }
                        } else {
                            let _ = inner.pt.protect_present(&mut ChargedTables::of(&self.account), start, len, ro);
                        }
                        mmu::tlb_flush_asid(self.asid);
                    }
                    c
                }
                // Writable data: copied now.
                _ => pmo.duplicate(account, Some(paid.split(super::pmo::PMO_KMEM)))?,
            };
            dst.map_as(copy, start, p, max, false, Some(&mut paid))?;
        }
        Ok(())
    }

    /// TTBR0_EL1 to run in this space (see `mmu::switch_user`).
    #[inline(always)]
    pub fn ttbr0(&self) -> u64 {
        self.ttbr0
    }
}

/// Whether a fork gives the child a PMO of its own for a region of `kind`
/// mapped with at most `max_perm`: lazy memory (a copy-on-write copy) and
/// writable data (a copy). Shared memory, device registers and file pages
/// are shared; so is data mapped through a capability that can never make
/// it writable: the child could not tell it from a copy (writes through
/// another capability to the PMO show in both, as POSIX allows for private
/// mappings), and program text is not copied on fork.
fn fork_copies(kind: PmoKind, max_perm: u64) -> bool {
    kind == PmoKind::Anonym || (kind == PmoKind::Data && max_perm & perm::WRITE != 0)
}

/// Below this many present pages, fork write-protects a copy-on-write
/// region page by page; above, with one walk over the region's tables.
const COW_PAGEWISE_MAX: usize = 64;

impl Drop for VmSpace {
    fn drop(&mut self) {
        let inner = self.inner.get_mut();
        // Regions still there (a space dropped without `clear`) give back
        // their charges here.
        self.account.uncharge_kmem(inner.regions.iter().count() as u64 * MAPPING_KMEM);
        let pt = core::mem::replace(&mut inner.pt, PageTable::from_root(0));
        pt.destroy(&mut ChargedTables::of(&self.account));
        // The regions' PMOs drop with `inner`.
        mmu::tlb_flush_asid(self.asid);
        free_asid(self.asid);
    }
}
