//! The BCM2837 mini UART (AUX UART1), "BCM2835 ARM Peripherals" section 2.
//! On a real Raspberry Pi 3 it is wired to the GPIO 14/15 header pins by
//! default (the PL011 drives Bluetooth); QEMU's raspi3b exposes it as the
//! second serial port. The register block starts at the AUX block
//! (0x3F21_5000 physical), whose enable register the mini UART needs.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::{register_bitfields, register_structs, registers::ReadWrite};

register_bitfields! [u32,
    /// Auxiliary enables.
    pub AUX_ENABLES [
        /// Mini UART enable.
        MINI_UART OFFSET(0) NUMBITS(1) []
    ],
    /// Interrupt identify; on write, FIFO clear.
    pub MU_IIR [
        /// Writing 1 to bit 1 clears the receive FIFO, to bit 2 the transmit FIFO.
        FIFO_CLEAR OFFSET(1) NUMBITS(2) [Both = 0b11]
    ],
    /// Line control.
    pub MU_LCR [
        /// Data size. The manual documents only bit 0, but the UART sends 7
        /// bits unless both bits 1:0 are set (its errata).
        DATA_SIZE OFFSET(0) NUMBITS(2) [EightBit = 0b11]
    ],
    /// Line status.
    pub MU_LSR [
        /// Transmitter idle: the FIFO is empty and the last bit has left.
        TX_IDLE OFFSET(6) NUMBITS(1) [],
        /// Transmitter can take at least one byte.
        TX_EMPTY OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO holds at least one byte.
        DATA_READY OFFSET(0) NUMBITS(1) []
    ],
    /// Extra control.
    pub MU_CNTL [
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
        (0x04 => pub AUX_ENABLES: ReadWrite<u32, AUX_ENABLES::Register>),
        (0x08 => _reserved1),
        /// Data: writing sends a byte, reading takes one.
        (0x40 => pub MU_IO: ReadWrite<u32>),
        /// Interrupt enable (see [`IER_RX`]).
        (0x44 => pub MU_IER: ReadWrite<u32>),
        (0x48 => pub MU_IIR: ReadWrite<u32, MU_IIR::Register>),
        (0x4C => pub MU_LCR: ReadWrite<u32, MU_LCR::Register>),
        /// Modem control (RTS), unused.
        (0x50 => pub MU_MCR: ReadWrite<u32>),
        (0x54 => pub MU_LSR: ReadWrite<u32, MU_LSR::Register>),
        (0x58 => _reserved2),
        (0x60 => pub MU_CNTL: ReadWrite<u32, MU_CNTL::Register>),
        (0x64 => _reserved3),
        /// Baud rate counter (see [`baud_register`]).
        (0x68 => pub MU_BAUD: ReadWrite<u32>),
        (0x6C => @END),
    }
}

/// MU_IER value that raises the interrupt while the receive FIFO holds
/// data. The manual swaps bits 0 and 1 (its errata: bit 0 is receive), and
/// real hardware also wants bits 3:2 set to raise receive interrupts at all.
pub const IER_RX: u32 = 0b1101;

/// MU_BAUD for `baud` from the `core_clock` Hz VPU clock:
/// baud = core_clock / (8 * (MU_BAUD + 1)), manual 2.2.1.
pub const fn baud_register(core_clock: u32, baud: u32) -> u32 {
    core_clock / (8 * baud) - 1
}

impl Registers {
    /// 8N1 at `baud` from the `core_clock` Hz VPU clock, FIFOs cleared,
    /// interrupts off. The clock must be fixed (config.txt's `core_freq`),
    /// because the mini UART's baud rate follows it.
    #[inline]
    pub fn init(&self, core_clock: u32, baud: u32) {
        self.AUX_ENABLES.write(AUX_ENABLES::MINI_UART::SET);
        self.MU_CNTL.set(0);
        self.MU_IER.set(0);
        self.MU_LCR.write(MU_LCR::DATA_SIZE::EightBit);
        self.MU_MCR.set(0);
        self.MU_IIR.write(MU_IIR::FIFO_CLEAR::Both);
        self.MU_BAUD.set(baud_register(core_clock, baud));
        self.MU_CNTL.write(MU_CNTL::TX_EN::SET + MU_CNTL::RX_EN::SET);
    }

    /// Send one byte, waiting for room in the transmit FIFO.
    #[inline]
    pub fn put_byte(&self, byte: u8) {
        while !self.MU_LSR.is_set(MU_LSR::TX_EMPTY) {
            core::hint::spin_loop();
        }
        self.MU_IO.set(u32::from(byte));
    }

    /// The oldest received byte, if one is waiting.
    #[inline]
    pub fn try_get_byte(&self) -> Option<u8> {
        if self.MU_LSR.is_set(MU_LSR::DATA_READY) {
            Some(self.MU_IO.get() as u8)
        } else {
            None
        }
    }

    /// Wait until every byte sent so far has left the line, so that whoever
    /// reprograms the UART next cannot cut it off.
    pub fn flush(&self) {
        while !self.MU_LSR.is_set(MU_LSR::TX_IDLE) {
            core::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fake;

    #[test]
    fn baud_register_for_the_pi() {
        // 250 MHz (config.txt's core_freq) at 115200: 271.27 - 1, truncated.
        assert_eq!(baud_register(250_000_000, 115_200), 270);
        assert_eq!(baud_register(8 * 9600 * 10, 9600), 9);
    }

    #[test]
    fn init_enables_the_uart_8n1_in_both_directions() {
        let fake = Fake::<Registers>::new();
        let r = fake.regs();
        r.MU_IER.set(IER_RX);
        r.init(250_000_000, 115_200);
        assert_eq!(r.AUX_ENABLES.get(), 1);
        assert_eq!(r.MU_IER.get(), 0);
        assert_eq!(r.MU_LCR.get(), 0b11);
        assert_eq!(r.MU_IIR.get(), 0b110);
        assert_eq!(r.MU_BAUD.get(), 270);
        assert_eq!(r.MU_CNTL.get(), 0b11);
    }

    #[test]
    fn bytes_go_out_and_come_in_through_io() {
        let fake = Fake::<Registers>::new();
        let r = fake.regs();
        assert_eq!(r.try_get_byte(), None);
        r.MU_LSR.write(MU_LSR::TX_EMPTY::SET + MU_LSR::TX_IDLE::SET);
        r.put_byte(b'A');
        assert_eq!(r.MU_IO.get(), u32::from(b'A'));
        r.MU_LSR.write(MU_LSR::DATA_READY::SET);
        r.MU_IO.set(u32::from(b'z'));
        assert_eq!(r.try_get_byte(), Some(b'z'));
        r.MU_LSR.write(MU_LSR::TX_IDLE::SET);
        r.flush();
    }
}
