//! Arm PrimeCell UART (PL011), "PrimeCell UART (PL011) Technical Reference
//! Manual" (Arm DDI 0183), section 3 "Programmers model".

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::{register_bitfields, register_structs, registers::ReadWrite};

register_bitfields! [u32,
    /// Flag register.
    pub FR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// UART busy: set from the moment the transmit FIFO holds a byte
        /// until the last stop bit has left the shift register.
        BUSY OFFSET(3) NUMBITS(1) []
    ],
    /// Line control register.
    pub LCR_H [
        /// Word length: 0b11 = 8 bits.
        WLEN OFFSET(5) NUMBITS(2) [EightBit = 0b11],
        /// Enable FIFOs.
        FEN OFFSET(4) NUMBITS(1) []
    ],
    /// Interrupt mask set/clear, and interrupt clear: the same bit layout.
    pub INT [
        /// Overrun error.
        OE OFFSET(10) NUMBITS(1) [],
        /// Break error.
        BE OFFSET(9) NUMBITS(1) [],
        /// Parity error.
        PE OFFSET(8) NUMBITS(1) [],
        /// Framing error.
        FE OFFSET(7) NUMBITS(1) [],
        /// Receive timeout: bytes wait in the FIFO below its trigger level.
        RT OFFSET(6) NUMBITS(1) [],
        /// Transmit: the FIFO drained to its trigger level.
        TX OFFSET(5) NUMBITS(1) [],
        /// Receive: the FIFO reached its trigger level.
        RX OFFSET(4) NUMBITS(1) [],
        /// The four modem status interrupts (DSR, DCD, CTS, RI).
        MODEM OFFSET(0) NUMBITS(4) [],
        /// Every interrupt above at once (bits 10:0).
        ALL OFFSET(0) NUMBITS(11) []
    ],
    /// Control register.
    pub CR [
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
        /// Data: writing sends a byte, reading takes one (bits 11:8 hold its error flags).
        (0x00 => pub DR: ReadWrite<u32>),
        (0x04 => _reserved0),
        (0x18 => pub FR: ReadWrite<u32, FR::Register>),
        (0x1C => _reserved1),
        /// Integer part of the baud rate divisor.
        (0x24 => pub IBRD: ReadWrite<u32>),
        /// Fractional part of the baud rate divisor, in 64ths.
        (0x28 => pub FBRD: ReadWrite<u32>),
        (0x2C => pub LCR_H: ReadWrite<u32, LCR_H::Register>),
        (0x30 => pub CR: ReadWrite<u32, CR::Register>),
        /// Interrupt FIFO level select.
        (0x34 => pub IFLS: ReadWrite<u32>),
        /// Interrupt mask set/clear: a set bit lets that interrupt through.
        (0x38 => pub IMSC: ReadWrite<u32, INT::Register>),
        (0x3C => _reserved2),
        /// Interrupt clear (write-only on the device): a set bit clears that interrupt.
        (0x44 => pub ICR: ReadWrite<u32, INT::Register>),
        (0x48 => @END),
    }
}

/// `(IBRD, FBRD)` for `baud` from a `clock` Hz reference: the divisor
/// `clock / (16 * baud)` as 16.6 fixed point (TRM 3.3.6), rounded up.
pub const fn baud_divisors(clock: u32, baud: u32) -> (u32, u32) {
    let div64 = (clock as u64 * 4).div_ceil(baud as u64);
    ((div64 >> 6) as u32, (div64 & 0x3F) as u32)
}

impl Registers {
    /// 8N1 at `baud` from a `clock` Hz reference, FIFOs on, interrupts
    /// masked and cleared. Needed on real hardware, whose firmware may have
    /// left the UART in any state; QEMU virt's UART works as found.
    #[inline]
    pub fn init(&self, clock: u32, baud: u32) {
        self.CR.set(0);
        while self.FR.is_set(FR::BUSY) {}
        let (ibrd, fbrd) = baud_divisors(clock, baud);
        self.IBRD.set(ibrd);
        self.FBRD.set(fbrd);
        // IBRD and FBRD take effect only with a write to LCR_H, so that comes after them (TRM, UARTLCR_H).
        self.LCR_H.write(LCR_H::WLEN::EightBit + LCR_H::FEN::SET);
        self.IMSC.set(0);
        self.ICR.write(INT::ALL::SET);
        self.CR.write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    }

    /// Send one byte, waiting for room in the transmit FIFO.
    #[inline]
    pub fn put_byte(&self, byte: u8) {
        while self.FR.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        self.DR.set(u32::from(byte));
    }

    /// The oldest received byte, if one is waiting (its error flags dropped).
    #[inline]
    pub fn try_get_byte(&self) -> Option<u8> {
        if self.FR.is_set(FR::RXFE) {
            None
        } else {
            Some(self.DR.get() as u8)
        }
    }

    /// Wait until every byte sent so far has left the line, so that whoever
    /// reprograms the UART next cannot cut it off.
    pub fn flush(&self) {
        while self.FR.is_set(FR::BUSY) {
            core::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fake;

    #[test]
    fn divisors_for_the_pi() {
        // 48 MHz (config.txt's init_uart_clock) at 115200: 26.042 -> 26 + 3/64.
        assert_eq!(baud_divisors(48_000_000, 115_200), (26, 3));
        // QEMU's and many boards' 24 MHz reference at 115200: 13.02 -> 13 + 2/64.
        assert_eq!(baud_divisors(24_000_000, 115_200), (13, 2));
        // An exact divisor has no fraction.
        assert_eq!(baud_divisors(16 * 9600 * 5, 9600), (5, 0));
    }

    #[test]
    fn init_programs_8n1_with_fifos_and_enables_both_directions() {
        let fake = Fake::<Registers>::new();
        let r = fake.regs();
        r.IMSC.set(u32::MAX);
        r.init(48_000_000, 115_200);
        assert_eq!((r.IBRD.get(), r.FBRD.get()), (26, 3));
        // Word length 8 (bits 6:5 = 0b11), FIFOs on (bit 4), no parity, one stop bit.
        assert_eq!(r.LCR_H.get(), 0b111 << 4);
        // UARTEN (bit 0), TXE (bit 8), RXE (bit 9).
        assert_eq!(r.CR.get(), 1 | 1 << 8 | 1 << 9);
        assert_eq!(r.IMSC.get(), 0);
        assert_eq!(r.ICR.get(), 0x7FF);
    }

    #[test]
    fn bytes_go_out_and_come_in_through_dr() {
        let fake = Fake::<Registers>::new();
        let r = fake.regs();
        r.put_byte(b'A');
        assert_eq!(r.DR.get(), u32::from(b'A'));
        // RXFE clear: a byte waits; its error flags (bits 11:8) are not data.
        r.DR.set(0x800 | u32::from(b'z'));
        assert_eq!(r.try_get_byte(), Some(b'z'));
        r.FR.write(FR::RXFE::SET);
        assert_eq!(r.try_get_byte(), None);
        // Not busy: flush returns at once.
        r.flush();
    }
}
