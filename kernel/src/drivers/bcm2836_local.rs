//! The BCM2836 per-core "ARM local" interrupt routing used by the BCM2837
//! ("BCM2836 ARM-local peripherals", QA7 rev 3.4, sections 4.6 and 4.10).
//! The Raspberry Pi 3 has no GIC: each core's generic timer interrupts are
//! routed here.

use super::Mmio;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::{register_structs, registers::ReadWrite};

register_structs! {
    #[allow(non_snake_case)]
    pub Registers {
        (0x00 => _reserved0),
        /// Which core takes the GPU's interrupts (bits 1:0), as IRQ.
        (0x0C => GPU_INT_ROUTING: ReadWrite<u32>),
        (0x10 => _reserved_a),
        (0x40 => CORE_TIMER_IRQCNTL: [ReadWrite<u32>; 4]),
        (0x50 => CORE_MAILBOX_IRQCNTL: [ReadWrite<u32>; 4]),
        (0x60 => CORE_IRQ_SOURCE: [ReadWrite<u32>; 4]),
        (0x70 => _reserved1),
        (0x80 => MAILBOX_SET: [ReadWrite<u32>; 16]),
        (0xC0 => MAILBOX_CLEAR: [ReadWrite<u32>; 16]),
        (0x100 => @END),
    }
}

/// CNTVIRQ: the EL1 virtual timer, in both the control and the source registers.
pub const CNTV_IRQ: u32 = 1 << 3;

/// Mailbox 0 interrupt, in the mailbox control and the source registers.
pub const MAILBOX0_IRQ: u32 = 1 << 4;

/// The GPU's interrupts (the peripherals', through the BCM2835 controller),
/// in the source registers.
pub const GPU_IRQ: u32 = 1 << 8;

/// The local interrupt controller.
pub struct LocalIntc {
    regs: Mmio<Registers>,
}

impl LocalIntc {
    /// # Safety
    /// `base` must be the kernel virtual address of the ARM local block (0x4000_0000 physical).
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from the caller.
        LocalIntc { regs: unsafe { Mmio::new(base) } }
    }

    /// Route `core`'s virtual timer interrupt to its IRQ line.
    pub fn enable_virt_timer(&self, core: usize) {
        if let Some(r) = self.regs.CORE_TIMER_IRQCNTL.get(core) {
            r.set(r.get() | CNTV_IRQ);
        }
    }

    /// Route (or stop routing) timer source `bit` of `core` to its IRQ line.
    pub fn set_timer_source(&self, core: usize, bit: u32, on: bool) {
        if let Some(r) = self.regs.CORE_TIMER_IRQCNTL.get(core) {
            let v = r.get() & !(1 << bit);
            r.set(if on { v | (1 << bit) } else { v });
        }
    }

    /// Let mailbox 0 of `core` interrupt it (our inter-processor interrupt).
    pub fn enable_mailbox0(&self, core: usize) {
        if let Some(r) = self.regs.CORE_MAILBOX_IRQCNTL.get(core) {
            r.set(r.get() | 1);
        }
    }

    /// Interrupt `core` through its mailbox 0.
    pub fn send_ipi(&self, core: usize) {
        if let Some(r) = self.regs.MAILBOX_SET.get(core * 4) {
            r.set(1);
        }
    }

    /// Clear `core`'s mailbox 0.
    pub fn clear_ipi(&self, core: usize) {
        if let Some(r) = self.regs.MAILBOX_CLEAR.get(core * 4) {
            r.set(u32::MAX);
        }
    }

    /// Send the GPU's (peripherals') interrupts to `core`'s IRQ line.
    pub fn route_gpu_irq(&self, core: usize) {
        self.regs.GPU_INT_ROUTING.set((core & 3) as u32);
    }

    /// Pending interrupt sources of `core`.
    pub fn pending(&self, core: usize) -> u32 {
        self.regs.CORE_IRQ_SOURCE.get(core).map_or(0, |r| r.get())
    }
}
