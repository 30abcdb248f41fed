//! Arm PrimeCell UART (PL011), "PrimeCell UART (PL011) Technical Reference
//! Manual" (Arm DDI 0183), section 3 "Programmers model".

use super::Mmio;
use crate::console::ConsoleDevice;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::{register_bitfields, register_structs, registers::ReadWrite};

register_bitfields! [u32,
    /// Flag register.
    FR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// UART busy transmitting.
        BUSY OFFSET(3) NUMBITS(1) []
    ],
    /// Line control register.
    LCR_H [
        /// Word length: 0b11 = 8 bits.
        WLEN OFFSET(5) NUMBITS(2) [EightBit = 0b11],
        /// Enable FIFOs.
        FEN OFFSET(4) NUMBITS(1) []
    ],
    /// Interrupt mask set/clear, and interrupt clear: the same bit layout.
    INT [
        /// Receive timeout: bytes wait in the FIFO below its trigger level.
        RT OFFSET(6) NUMBITS(1) [],
        /// Receive: the FIFO reached its trigger level.
        RX OFFSET(4) NUMBITS(1) []
    ],
    /// Control register.
    CR [
        /// Receive enable.
        RXE OFFSET(9) NUMBITS(1) [],
        /// Transmit enable.
        TXE OFFSET(8) NUMBITS(1) [],
        /// UART enable.
        UARTEN OFFSET(0) NUMBITS(1) []
    ]
];

register_structs! {
    #[allow(non_snake_case)]
    pub Registers {
        (0x00 => DR: ReadWrite<u32>),
        (0x04 => _reserved0),
        (0x18 => FR: ReadWrite<u32, FR::Register>),
        (0x1C => _reserved1),
        (0x24 => IBRD: ReadWrite<u32>),
        (0x28 => FBRD: ReadWrite<u32>),
        (0x2C => LCR_H: ReadWrite<u32, LCR_H::Register>),
        (0x30 => CR: ReadWrite<u32, CR::Register>),
        (0x34 => IFLS: ReadWrite<u32>),
        (0x38 => IMSC: ReadWrite<u32, INT::Register>),
        (0x3C => _reserved2),
        (0x44 => ICR: ReadWrite<u32, INT::Register>),
        (0x48 => @END),
    }
}

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
        let r = &self.regs;
        r.CR.set(0);
        while r.FR.is_set(FR::BUSY) {}
        // Divisor = clock / (16 * baud) as 16.6 fixed point (TRM 3.3.6).
        let div64 = (u64::from(clock) * 4).div_ceil(u64::from(baud));
        r.IBRD.set((div64 >> 6) as u32);
        r.FBRD.set((div64 & 0x3F) as u32);
        r.LCR_H.write(LCR_H::WLEN::EightBit + LCR_H::FEN::SET);
        r.IMSC.set(0);
        r.ICR.set(0x7FF);
        r.CR.write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    }
}

impl ConsoleDevice for Pl011 {
    fn putc(&self, byte: u8) {
        while self.regs.FR.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        self.regs.DR.set(u32::from(byte));
    }

    fn getc(&self) -> Option<u8> {
        if self.regs.FR.is_set(FR::RXFE) {
            None
        } else {
            Some(self.regs.DR.get() as u8)
        }
    }

    /// Receive and receive-timeout interrupts (TRM 3.4.5): together they
    /// report every byte, however few arrive.
    fn enable_rx_interrupt(&self) {
        self.regs.ICR.write(INT::RX::SET + INT::RT::SET);
        self.regs.IMSC.write(INT::RX::SET + INT::RT::SET);
    }
}
