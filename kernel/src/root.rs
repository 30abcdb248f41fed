//! The root process: procmgr, embedded in the kernel image and started at boot.
//!
//! The ELF is checked with `kernel_core::elf_load::plan` before anything is
//! allocated; each loadable segment becomes a DATA PMO (file bytes copied,
//! the rest zero, so BSS is zeroed) mapped with the segment's permissions,
//! and an ANONYM PMO becomes the stack. The root cap_group may create device
//! PMOs (it will hand them to user-level drivers).

use crate::object::cap_group::{CapGroup, GroupState};
use crate::object::pmo::Pmo;
use crate::object::thread::Thread;
use crate::object::KObject;
use alloc::sync::Arc;
use chcore_abi::{perm, PmoKind, Rights};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel_core::elf_load::{self, ElfError};

/// Bytes embedded page-aligned: copies out of them into PMOs (which are
/// page-aligned) then take `memcpy`'s word-by-word path, not its byte-by-byte
/// one for misaligned sources (seven times slower; 2.5 million instructions
/// at boot when the linker happened to put the ramdisk at an odd address).
#[repr(C, align(4096))]
struct PageAligned<T: ?Sized>(T);

/// procmgr, built for `aarch64-unknown-none-softfloat` before the kernel (by `cargo xtask`).
static PROCMGR_ELF: &[u8] = &PageAligned(*include_bytes!(env!("CHCORE_PROCMGR_ELF"))).0;
/// The ramdisk: a cpio (newc) archive of the user programs, for procmgr.
static RAMDISK: &[u8] = &PageAligned(*include_bytes!(env!("CHCORE_RAMDISK"))).0;

/// Top of the root thread's stack, and its size (pages appear on first touch).
pub const STACK_TOP: u64 = 0x5000_0000_0000;
/// Size of the root thread's stack.
pub const STACK_SIZE: u64 = 8 << 20;

static ROOT_ID: AtomicU64 = AtomicU64::new(0);

/// Why the root process could not be started (printed with `Debug`).
#[derive(Debug)]
#[allow(dead_code)]
pub enum LoadError {
    /// The embedded image is not a loadable AArch64 executable.
    Elf(ElfError),
    /// A kernel object could not be made.
    Object(chcore_abi::Error),
}

impl From<chcore_abi::Error> for LoadError {
    fn from(e: chcore_abi::Error) -> Self {
        LoadError::Object(e)
    }
}

/// A read-only segment of `image` (page-aligned in the kernel image) whose
/// pages can be mapped where they lie instead of copied
/// (`Segment::shared_pages`).
fn in_place(image: &[u8], seg: &elf_load::Segment) -> Result<Option<Arc<Pmo>>, LoadError> {
    let base = image.as_ptr() as u64;
    if !base.is_multiple_of(kernel_core::mm::PAGE_SIZE) {
        return Ok(None);
    }
    let Some(first) = seg.shared_pages(0, image.len() as u64) else { return Ok(None) };
    Ok(Some(Pmo::new_static(kernel_core::mm::virt_to_phys(base + first), seg.pages().1)?))
}

/// Load `image` as a new cap_group called `name` and make its first thread runnable.
pub fn spawn_elf(
    name: &str,
    image: &[u8],
    self_rights: Rights,
    setup: impl FnOnce(&Arc<CapGroup>) -> Result<(), LoadError>,
) -> Result<Arc<CapGroup>, LoadError> {
    let plan = elf_load::plan(image).map_err(LoadError::Elf)?;
    let group = CapGroup::new(name, self_rights)?;
    setup(&group)?;
    for seg in &plan.segments {
        let (start, len) = seg.pages();
        let p = seg.perm | perm::READ;
        if let Some(pmo) = in_place(image, seg)? {
            // Read-only, and it must stay so: it is the kernel image.
            group.vmspace.map(pmo.clone(), start, p, p & !perm::WRITE)?;
            group.insert_cap(KObject::Pmo(pmo), Rights::READ.union(Rights::MAP).union(Rights::EXEC), None)?;
            continue;
        }
        let pmo = Pmo::new(PmoKind::Data, len, &group.account)?;
        let file = &image[seg.offset as usize..(seg.offset + seg.filesz) as usize];
        pmo.write(seg.vaddr - start, file)?;
        group.vmspace.map(pmo.clone(), start, p, p)?;
        group.insert_cap(KObject::Pmo(pmo), Rights::ALL, None)?;
    }
    let stack = Pmo::new(PmoKind::Anonym, STACK_SIZE, &group.account)?;
    let rw = perm::READ | perm::WRITE;
    group.vmspace.map(stack.clone(), STACK_TOP - STACK_SIZE, rw, rw)?;
    group.insert_cap(KObject::Pmo(stack), Rights::ALL, None)?;
    let thread = Thread::charged(&group, plan.entry, STACK_TOP, 0)?;
    group.insert_cap(KObject::Thread(thread.clone()), Rights::ALL, None)?;
    crate::sched::enqueue(thread);
    Ok(group)
}

/// Start procmgr. A failure here is reported, and the kernel idles.
pub fn start() {
    // The ramdisk goes first, into slot `slot::ROOT_RAMDISK`, read-only,
    // then the console's input and Ctrl-C notifications
    // (`slot::ROOT_CONSOLE_INPUT`, `slot::ROOT_CONSOLE_INTERRUPT`).
    let ramdisk = |g: &Arc<CapGroup>| -> Result<(), LoadError> {
        // The ramdisk's pages in the kernel image themselves, not a copy: the
        // image is never freed, and `PageAligned` gives the archive whole
        // pages of its own (no kernel data shares its last page).
        let pa = kernel_core::mm::virt_to_phys(RAMDISK.as_ptr() as u64);
        let pmo = Pmo::new_static(pa, RAMDISK.len().max(1) as u64)?;
        // EXEC too: procmgr maps program text straight from it (`pmo_slice`);
        // and COPY: it hands read-only windows of it to processes that `mmap`
        // a program in /bin. Never WRITE.
        let rights = Rights::READ.union(Rights::MAP).union(Rights::EXEC).union(Rights::COPY);
        let s = g.insert_cap(KObject::Pmo(pmo), rights, None)?;
        debug_assert_eq!(s, chcore_abi::slot::ROOT_RAMDISK);
        // Then console input's notification, to wait on (and to wake its
        // own readers with), and Ctrl-C's, to wait on only.
        let input = crate::console::input_notification();
        let s = g.insert_cap(KObject::Notification(input), Rights::READ.union(Rights::WRITE), None)?;
        debug_assert_eq!(s, chcore_abi::slot::ROOT_CONSOLE_INPUT);
        let interrupt = crate::console::interrupt_notification();
        let s = g.insert_cap(KObject::Notification(interrupt), Rights::READ, None)?;
        debug_assert_eq!(s, chcore_abi::slot::ROOT_CONSOLE_INTERRUPT);
        Ok(())
    };
    match spawn_elf("procmgr", PROCMGR_ELF, Rights::ALL, ramdisk) {
        Ok(g) => {
            ROOT_ID.store(g.header.id, Ordering::Relaxed);
            log::info!(
                "root process procmgr loaded ({} bytes of ELF, {} bytes of ramdisk)",
                PROCMGR_ELF.len(),
                RAMDISK.len()
            );
        }
        Err(e) => log::error!("cannot start the root process procmgr: {e:?}"),
    }
}

/// Called whenever a cap_group ends.
pub fn on_group_exit(group: &CapGroup) {
    let state = group.state();
    if group.header.id != ROOT_ID.load(Ordering::Relaxed) {
        log::debug!("cap_group {} ended: {state:?}", group.name);
        return;
    }
    log::info!("root process {} ended: {state:?}", group.name);
    if cfg!(feature = "bench") {
        let ok = state == GroupState::Exited(0);
        crate::console::emergency_println(format_args!("[BENCH] done: {}", if ok { "PASS" } else { "FAIL" }));
        crate::arch::stop(if ok { crate::arch::ExitStatus::Success } else { crate::arch::ExitStatus::Failure });
    }
    if cfg!(feature = "selftest") {
        // The test image's verdict: the kernel self-tests and the user suite
        // (procmgr's exit status) must both have passed.
        let ok = state == GroupState::Exited(0) && crate::KERNEL_TESTS_PASSED.load(Ordering::Relaxed);
        crate::console::emergency_println(format_args!("[TEST] verdict: {}", if ok { "PASS" } else { "FAIL" }));
        crate::arch::stop(if ok { crate::arch::ExitStatus::Success } else { crate::arch::ExitStatus::Failure });
    }
}
