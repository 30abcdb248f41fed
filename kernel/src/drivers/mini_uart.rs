//! The BCM2837 mini UART (AUX UART1) as the kernel's console. The registers
//! and the polled byte I/O are `uart::mini_uart`'s, shared with the
//! chainloader; what is the kernel's alone is the receive interrupt.

use super::Mmio;
use crate::console::ConsoleDevice;
use tock_registers::interfaces::Writeable;
use uart::mini_uart::{Registers, IER_RX};

/// The mini UART; `base` is the AUX block (0x3F21_5000 physical).
pub struct MiniUart {
    regs: Mmio<Registers>,
}

impl MiniUart {
    /// # Safety
    /// `base` must be the kernel virtual address of the BCM2837 AUX block.
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from the caller.
        MiniUart { regs: unsafe { Mmio::new(base) } }
    }

    /// 8N1 at `baud` from the `core_clock` Hz VPU clock (fixed by `core_freq`
    /// in config.txt, because the mini UART's baud rate follows it).
    pub fn init(&self, core_clock: u32, baud: u32) {
        self.regs.init(core_clock, baud);
    }
}

impl ConsoleDevice for MiniUart {
    fn putc(&self, byte: u8) {
        self.regs.put_byte(byte);
    }

    fn getc(&self) -> Option<u8> {
        self.regs.try_get_byte()
    }

    /// The line stays raised while bytes wait; reading them lowers it.
    fn enable_rx_interrupt(&self) {
        self.regs.MU_IER.set(IER_RX);
    }
}
