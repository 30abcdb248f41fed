//! The BCM2835 ARM interrupt controller for the GPU's peripheral interrupts
//! ("BCM2835 ARM Peripherals" section 7, at 0x7E00_B200 bus / 0x3F00_B200
//! ARM physical on the BCM2837). The UARTs' interrupts come through it;
//! the BCM2836 local controller passes its output to a core as "GPU
//! interrupt" (routed to core 0 by default).

use super::Mmio;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::{register_structs, registers::ReadWrite};

register_structs! {
    #[allow(non_snake_case)]
    pub Registers {
        (0x00 => BASIC_PENDING: ReadWrite<u32>),
        /// GPU interrupts 0-31 and 32-63 that are pending and enabled.
        (0x04 => PENDING: [ReadWrite<u32>; 2]),
        (0x0C => FIQ_CONTROL: ReadWrite<u32>),
        /// Writing a 1 enables that interrupt (zeros change nothing).
        (0x10 => ENABLE: [ReadWrite<u32>; 2]),
        (0x18 => ENABLE_BASIC: ReadWrite<u32>),
        /// Writing a 1 disables that interrupt.
        (0x1C => DISABLE: [ReadWrite<u32>; 2]),
        (0x24 => DISABLE_BASIC: ReadWrite<u32>),
        (0x28 => @END),
    }
}

/// GPU interrupt of the AUX block (the mini UART).
pub const AUX_IRQ: u32 = 29;
/// GPU interrupt of the PL011 ("uart_int").
pub const PL011_IRQ: u32 = 57;

/// The controller.
pub struct Intc {
    regs: Mmio<Registers>,
}

impl Intc {
    /// # Safety
    /// `base` must be the kernel virtual address of the controller.
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from the caller.
        Intc { regs: unsafe { Mmio::new(base) } }
    }

    /// Every GPU interrupt off (the firmware may leave some on).
    pub fn init(&self) {
        for r in &self.regs.DISABLE {
            r.set(u32::MAX);
        }
        self.regs.DISABLE_BASIC.set(u32::MAX);
    }

    /// Let GPU interrupt `irq` (0-63) through.
    pub fn enable(&self, irq: u32) {
        if let Some(r) = self.regs.ENABLE.get((irq / 32) as usize) {
            r.set(1 << (irq % 32));
        }
    }

    /// Whether GPU interrupt `irq` is pending (and enabled).
    pub fn pending(&self, irq: u32) -> bool {
        self.regs.PENDING.get((irq / 32) as usize).is_some_and(|r| r.get() & (1 << (irq % 32)) != 0)
    }
}
