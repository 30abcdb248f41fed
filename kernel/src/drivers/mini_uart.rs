//! The BCM2837 mini UART (AUX UART1), "BCM2835 ARM Peripherals" section 2.
//! On a real Raspberry Pi 3 it is wired to the GPIO 14/15 header pins by
//! default (the PL011 drives Bluetooth); QEMU's raspi3b exposes it as the
//! second serial port.

use super::Mmio;
use crate::console::ConsoleDevice;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::{register_bitfields, register_structs, registers::ReadWrite};

register_bitfields! [u32,
    /// Auxiliary enables.
    AUX_ENABLES [
        /// Mini UART enable.
        MINI_UART OFFSET(0) NUMBITS(1) []
    ],
    /// Line status.
    MU_LSR [
        /// Transmitter can take at least one byte.
        TX_EMPTY OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO holds at least one byte.
        DATA_READY OFFSET(0) NUMBITS(1) []
    ],
    /// Extra control.
    MU_CNTL [
        /// Transmitter enable.
        TX_EN OFFSET(1) NUMBITS(1) [],
        /// Receiver enable.
        RX_EN OFFSET(0) NUMBITS(1) []
    ]
];

register_structs! {
    #[allow(non_snake_case)]
    pub Registers {
        (0x00 => _reserved0),
        (0x04 => AUX_ENABLES: ReadWrite<u32, AUX_ENABLES::Register>),
        (0x08 => _reserved1),
        (0x40 => MU_IO: ReadWrite<u32>),
        (0x44 => MU_IER: ReadWrite<u32>),
        (0x48 => MU_IIR: ReadWrite<u32>),
        (0x4C => MU_LCR: ReadWrite<u32>),
        (0x50 => MU_MCR: ReadWrite<u32>),
        (0x54 => MU_LSR: ReadWrite<u32, MU_LSR::Register>),
        (0x58 => _reserved2),
        (0x60 => MU_CNTL: ReadWrite<u32, MU_CNTL::Register>),
        (0x64 => _reserved3),
        (0x68 => MU_BAUD: ReadWrite<u32>),
        (0x6C => @END),
    }
}

/// MU_LCR data size field value for 8-bit characters (the manual's "8-bit mode" is 0b11).
const LCR_8BIT: u32 = 0b11;
/// MU_IER: interrupt while the receive FIFO holds data. The manual swaps
/// bits 0 and 1 (its errata: bit 0 is receive), and real hardware also
/// wants bits 3:2 set to raise receive interrupts at all.
const IER_RX: u32 = 0b1101;
/// MU_IIR: clear both FIFOs.
const IIR_CLEAR_FIFOS: u32 = 0b110;

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
        let r = &self.regs;
        r.AUX_ENABLES.write(AUX_ENABLES::MINI_UART::SET);
        r.MU_CNTL.set(0);
        r.MU_IER.set(0);
        r.MU_LCR.set(LCR_8BIT);
        r.MU_MCR.set(0);
        r.MU_IIR.set(IIR_CLEAR_FIFOS);
        // baud = core_clock / (8 * (MU_BAUD + 1)), manual 2.2.1.
        r.MU_BAUD.set(core_clock / (8 * baud) - 1);
        r.MU_CNTL.write(MU_CNTL::TX_EN::SET + MU_CNTL::RX_EN::SET);
    }
}

impl ConsoleDevice for MiniUart {
    fn putc(&self, byte: u8) {
        while !self.regs.MU_LSR.is_set(MU_LSR::TX_EMPTY) {
            core::hint::spin_loop();
        }
        self.regs.MU_IO.set(u32::from(byte));
    }

    fn getc(&self) -> Option<u8> {
        if self.regs.MU_LSR.is_set(MU_LSR::DATA_READY) {
            Some(self.regs.MU_IO.get() as u8)
        } else {
            None
        }
    }

    /// The line stays raised while bytes wait; reading them lowers it.
    fn enable_rx_interrupt(&self) {
        self.regs.MU_IER.set(IER_RX);
    }
}
