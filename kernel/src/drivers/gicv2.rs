//! Arm Generic Interrupt Controller v2 ("GIC Architecture Specification
//! v2", Arm IHI 0048B): distributor (GICD, 4.3) and CPU interface (GICC, 4.4).

use super::Mmio;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::{register_structs, registers::ReadWrite};

register_structs! {
    #[allow(non_snake_case)]
    pub DistRegisters {
        (0x000 => CTLR: ReadWrite<u32>),
        (0x004 => TYPER: ReadWrite<u32>),
        (0x008 => _reserved0),
        (0x100 => ISENABLER: [ReadWrite<u32>; 32]),
        (0x180 => ICENABLER: [ReadWrite<u32>; 32]),
        (0x200 => _reserved1),
        (0x280 => ICPENDR: [ReadWrite<u32>; 32]),
        (0x300 => _reserved2),
        (0x400 => IPRIORITYR: [ReadWrite<u32>; 255]),
        (0x7FC => _reserved3),
        (0x800 => ITARGETSR: [ReadWrite<u32>; 255]),
        (0xBFC => _reserved4),
        (0xC00 => ICFGR: [ReadWrite<u32>; 64]),
        (0xD00 => _reserved5),
        (0xF00 => SGIR: ReadWrite<u32>),
        (0xF04 => @END),
    }
}

register_structs! {
    #[allow(non_snake_case)]
    pub CpuRegisters {
        (0x00 => CTLR: ReadWrite<u32>),
        (0x04 => PMR: ReadWrite<u32>),
        (0x08 => BPR: ReadWrite<u32>),
        (0x0C => IAR: ReadWrite<u32>),
        (0x10 => EOIR: ReadWrite<u32>),
        (0x14 => @END),
    }
}

/// GICD_CTLR / GICC_CTLR enable bit (group 0 in the secure view, the only
/// group in the non-secure view).
const ENABLE: u32 = 1;
/// GICC_PMR: let every priority through.
const PMR_ALLOW_ALL: u32 = 0xFF;
/// Default priority for enabled interrupts (middle of the range).
const DEFAULT_PRIORITY: u32 = 0xA0;
/// GICC_IAR: interrupt ID field.
const IAR_ID_MASK: u32 = 0x3FF;
/// IDs 1020-1023 are special; 1023 means "nothing pending" (spurious).
pub const SPURIOUS: u32 = 1023;

/// A GICv2.
pub struct GicV2 {
    dist: Mmio<DistRegisters>,
    cpu: Mmio<CpuRegisters>,
}

impl GicV2 {
    /// # Safety
    /// `dist` and `cpu` must be kernel virtual addresses of a GICv2's
    /// distributor and CPU interface, mapped as device memory.
    pub const unsafe fn new(dist: usize, cpu: usize) -> Self {
        // SAFETY: forwarded from the caller.
        unsafe { GicV2 { dist: Mmio::new(dist), cpu: Mmio::new(cpu) } }
    }

    /// Number of interrupt lines the distributor implements.
    pub fn lines(&self) -> u32 {
        32 * ((self.dist.TYPER.get() & 0x1F) + 1)
    }

    /// Distributor on with every interrupt disabled, and this CPU's interface on.
    pub fn init(&self) {
        let d = &self.dist;
        d.CTLR.set(0);
        let words = (self.lines() / 32) as usize;
        for i in 0..words.min(32) {
            d.ICENABLER[i].set(u32::MAX);
            d.ICPENDR[i].set(u32::MAX);
        }
        for i in 0..(self.lines() / 4) as usize {
            if let Some(r) = d.IPRIORITYR.get(i) {
                r.set(DEFAULT_PRIORITY * 0x0101_0101);
            }
        }
        d.CTLR.set(ENABLE);
        self.init_cpu_interface();
    }

    /// This CPU's interface on (each CPU has its own, at the same address).
    pub fn init_cpu_interface(&self) {
        self.cpu.PMR.set(PMR_ALLOW_ALL);
        self.cpu.BPR.set(0);
        self.cpu.CTLR.set(ENABLE);
    }

    /// Let interrupt `id` through (for SPIs, to CPU 0).
    pub fn enable(&self, id: u32) {
        if id >= 32 {
            if let Some(r) = self.dist.ITARGETSR.get((id / 4) as usize) {
                let shift = (id % 4) * 8;
                r.set((r.get() & !(0xFF << shift)) | (1 << shift));
            }
        }
        if let Some(r) = self.dist.ISENABLER.get((id / 32) as usize) {
            r.set(1 << (id % 32));
        }
    }

    /// Stop interrupt `id` (for SPIs everywhere; for PPIs on this CPU).
    pub fn disable(&self, id: u32) {
        if let Some(r) = self.dist.ICENABLER.get((id / 32) as usize) {
            r.set(1 << (id % 32));
        }
    }

    /// Raise software-generated interrupt `sgi` (0-15) on CPU interface `cpu`.
    pub fn send_sgi(&self, cpu: usize, sgi: u32) {
        // GICD_SGIR: TargetListFilter 0 (use the list), CPUTargetList bits 23:16.
        self.dist.SGIR.set(((1u32 << (cpu & 7)) << 16) | (sgi & 0xF));
    }

    /// Acknowledge the highest-priority pending interrupt.
    pub fn ack(&self) -> u32 {
        self.cpu.IAR.get() & IAR_ID_MASK
    }

    /// Signal the end of handling for `id`.
    pub fn eoi(&self, id: u32) {
        self.cpu.EOIR.set(id);
    }
}
