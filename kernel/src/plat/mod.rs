//! Platform (board) support. Each board module (`virt.rs`, `raspi3.rs`)
//! defines the same names, re-exported below: `NAME`; `init` (memory map,
//! CPUs, console: the [`Machine`]); the interrupt controller's `init_irq`,
//! `init_irq_cpu` (per CPU), `handle_irq`, `irq_mask`, `irq_unmask` and
//! `irq_claimable` (which lines a user driver may take); `send_ipi`; and
//! `start_cpu` (waking a secondary core). docs/platforms.md says how to add
//! a board.

use kernel_core::dtb::Bootargs;
use kernel_core::mm::region::RegionSet;

#[cfg(feature = "raspi3")]
#[path = "raspi3.rs"]
mod imp;
#[cfg(feature = "virt")]
#[path = "virt.rs"]
mod imp;

#[cfg(not(any(feature = "virt", feature = "raspi3")))]
compile_error!("kernel: build with --features virt or --features raspi3 (cargo xtask build does this)");

pub use imp::{
    handle_irq, init, init_irq, init_irq_cpu, irq_claimable, irq_mask, irq_unmask, send_ipi, start_cpu, NAME,
};

/// Most memory ranges a platform reports.
pub const MAX_REGIONS: usize = 16;

/// What the platform learned about the machine at boot.
#[derive(Debug)]
pub struct Machine {
    /// Installed RAM (before reservations).
    pub memory: RegionSet<MAX_REGIONS>,
    /// Physical ranges the kernel must not allocate (firmware data, the
    /// device tree blob, spin tables). The kernel image is added by `mm`.
    pub reserved: RegionSet<MAX_REGIONS>,
    /// Where the memory map came from, for the boot log.
    pub memory_source: &'static str,
    /// RAM at or above this physical address is outside the boot linear map.
    pub linear_map_end: u64,
    /// CPUs the machine describes.
    pub cpus: usize,
    /// Their MPIDR affinities (the first `cpus`, up to 8).
    pub cpu_ids: [u64; kernel_core::dtb::MAX_CPUS],
    /// Kernel command line.
    pub bootargs: Bootargs,
}

/// Read a firmware-provided device tree at physical address `pa`, if one is
/// there. `limit` bounds where it may lie (inside the boot linear map).
fn read_dtb(pa: u64, limit: u64) -> Option<(kernel_core::dtb::MachineInfo, u64)> {
    const HEADER: u64 = 8;
    /// Larger blobs are not device trees we were given.
    const MAX_DTB: u64 = 2 << 20;
    if pa == 0 || !pa.is_multiple_of(8) || pa.checked_add(HEADER)? > limit {
        return None;
    }
    let va = kernel_core::mm::phys_to_virt(pa) as *const u8;
    // SAFETY: `[pa, pa + 8)` lies below `limit`, inside the boot linear map of
    // RAM, so it is mapped and readable; nothing writes it concurrently.
    let header = unsafe { core::slice::from_raw_parts(va, HEADER as usize) };
    let size = kernel_core::dtb::total_size(header)? as u64;
    if size > MAX_DTB || pa.checked_add(size)? > limit {
        return None;
    }
    // SAFETY: as above, for the `size` bytes the header claims, checked to
    // stay below `limit`.
    let blob = unsafe { core::slice::from_raw_parts(va, size as usize) };
    match kernel_core::dtb::parse(blob) {
        Ok(info) => Some((info, size)),
        Err(e) => {
            println!("[WARN] device tree at {pa:#x} unusable: {e:?}");
            None
        }
    }
}
