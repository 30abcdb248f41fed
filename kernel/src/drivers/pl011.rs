//! The Arm PrimeCell UART (PL011) as the kernel's console. The registers
//! and the polled byte I/O are `uart::pl011`'s, shared with the chainloader;
//! what is the kernel's alone is the receive interrupt.

use super::Mmio;
use crate::console::ConsoleDevice;
use tock_registers::interfaces::Writeable;
use uart::pl011::{Registers, INT};

/// A PL011 UART.
pub struct Pl011 {
    regs: Mmio<Registers>,
}

impl Pl011 {
    /// # Safety
    /// `base` must be the kernel virtual address of a PL011, mapped as device memory.
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from the caller.
        Pl011 { regs: unsafe { Mmio::new(base) } }
    }

    /// 8N1 at `baud` from a `clock` Hz reference, FIFOs on, interrupts off.
    /// Needed on real hardware (the Pi); QEMU virt's UART works as found.
    #[cfg(feature = "raspi3")]
    pub fn init(&self, clock: u32, baud: u32) {
        self.regs.init(clock, baud);
    }
}

impl ConsoleDevice for Pl011 {
    fn putc(&self, byte: u8) {
        self.regs.put_byte(byte);
    }

    fn getc(&self) -> Option<u8> {
        self.regs.try_get_byte()
    }

    /// Receive and receive-timeout interrupts (TRM 3.4.5): together they
    /// report every byte, however few arrive.
    fn enable_rx_interrupt(&self) {
        self.regs.ICR.write(INT::RX::SET + INT::RT::SET);
        self.regs.IMSC.write(INT::RX::SET + INT::RT::SET);
    }
}
