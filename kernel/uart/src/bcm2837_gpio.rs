//! BCM2837 GPIO function select and pull control ("BCM2835 ARM Peripherals"
//! section 6), enough to give the header's UART pins to a UART.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::{register_structs, registers::ReadWrite};

register_structs! {
    #[allow(non_snake_case)]
    pub Registers {
        /// Function select: ten 3-bit fields per register, pin `n` in
        /// `GPFSEL[n / 10]` at bit `(n % 10) * 3`.
        (0x00 => pub GPFSEL: [ReadWrite<u32>; 6]),
        (0x18 => _reserved0),
        /// Pull-up/down control: what the next GPPUDCLK pulse applies.
        (0x94 => pub GPPUD: ReadWrite<u32>),
        /// Pull-up/down clock for pins 0-31: a set bit applies GPPUD to that pin.
        (0x98 => pub GPPUDCLK0: ReadWrite<u32>),
        (0x9C => @END),
    }
}

/// Pin functions (GPFSELn 3-bit codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Function {
    /// Alternate function 0 (GPIO 14/15: PL011 TXD0/RXD0).
    Alt0 = 0b100,
    /// Alternate function 5 (GPIO 14/15: mini UART TXD1/RXD1).
    Alt5 = 0b010,
}

/// The header pins that carry a UART: transmit (14) and receive (15).
const UART_PINS: [u32; 2] = [14, 15];
/// Pins per GPFSEL register, and bits per pin in it.
const PINS_PER_FSEL: u32 = 10;
const FSEL_BITS: u32 = 3;
/// GPPUD value for "no pull-up or pull-down".
const PULL_OFF: u32 = 0;
/// The manual's set-up and hold time for the pull control, in cycles.
const PULL_SETTLE_CYCLES: u32 = 150;

/// `gpfsel1` with the UART pins' fields set to `f` and every other pin's kept.
pub const fn uart_pins_fsel1(gpfsel1: u32, f: Function) -> u32 {
    let mut v = gpfsel1;
    let mut i = 0;
    while i < UART_PINS.len() {
        let shift = (UART_PINS[i] % PINS_PER_FSEL) * FSEL_BITS;
        v = (v & !(0b111 << shift)) | ((f as u32) << shift);
        i += 1;
    }
    v
}

fn spin_cycles(n: u32) {
    for _ in 0..n {
        core::hint::spin_loop();
    }
}

impl Registers {
    /// Give pins 14 and 15 to a UART, with pull-up/down disabled.
    pub fn route_uart_pins(&self, f: Function) {
        // Both pins are in GPFSEL1 (pins 10-19).
        let sel = &self.GPFSEL[1];
        sel.set(uart_pins_fsel1(sel.get(), f));
        // Pull sequence from the manual: set GPPUD, wait, clock it into the
        // pins, wait, remove the clock.
        self.GPPUD.set(PULL_OFF);
        spin_cycles(PULL_SETTLE_CYCLES);
        self.GPPUDCLK0.set(UART_PINS.iter().fold(0, |m, p| m | 1 << p));
        spin_cycles(PULL_SETTLE_CYCLES);
        self.GPPUDCLK0.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fake;

    #[test]
    fn only_pins_14_and_15_change() {
        // Fields for pins 14 (bits 14:12) and 15 (bits 17:15).
        assert_eq!(uart_pins_fsel1(0, Function::Alt0), 0b100_100 << 12);
        assert_eq!(uart_pins_fsel1(0, Function::Alt5), 0b010_010 << 12);
        let others = !(0b111_111 << 12);
        assert_eq!(uart_pins_fsel1(u32::MAX, Function::Alt5), others | 0b010_010 << 12);
    }

    #[test]
    fn routing_leaves_the_pull_clock_off() {
        let fake = Fake::<Registers>::new();
        let r = fake.regs();
        r.GPFSEL[1].set(0b111);
        r.GPPUD.set(0b10);
        r.route_uart_pins(Function::Alt0);
        assert_eq!(r.GPFSEL[1].get(), 0b111 | 0b100_100 << 12);
        assert_eq!(r.GPPUD.get(), PULL_OFF);
        assert_eq!(r.GPPUDCLK0.get(), 0);
    }
}
