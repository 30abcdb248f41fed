//! BCM2837 GPIO function select and pull control ("BCM2835 ARM Peripherals"
//! section 6), enough to route UART pins.

use super::{spin_cycles, Mmio};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::{register_structs, registers::ReadWrite};

register_structs! {
    #[allow(non_snake_case)]
    pub Registers {
        (0x00 => GPFSEL: [ReadWrite<u32>; 6]),
        (0x18 => _reserved0),
        (0x94 => GPPUD: ReadWrite<u32>),
        (0x98 => GPPUDCLK0: ReadWrite<u32>),
        (0x9C => @END),
    }
}

/// Pin functions (GPFSELn 3-bit codes).
#[derive(Clone, Copy)]
#[repr(u32)]
pub enum Function {
    /// Alternate function 0 (GPIO 14/15: PL011 TXD0/RXD0).
    Alt0 = 0b100,
    /// Alternate function 5 (GPIO 14/15: mini UART TXD1/RXD1).
    Alt5 = 0b010,
}

/// The GPIO block.
pub struct Gpio {
    regs: Mmio<Registers>,
}

impl Gpio {
    /// # Safety
    /// `base` must be the kernel virtual address of the BCM2837 GPIO block.
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from the caller.
        Gpio { regs: unsafe { Mmio::new(base) } }
    }

    /// Give pins 14 and 15 to a UART, with pull-up/down disabled.
    pub fn route_uart_pins(&self, f: Function) {
        let sel = &self.regs.GPFSEL[1];
        let mut v = sel.get();
        for pin in [14u32, 15] {
            let shift = (pin % 10) * 3;
            v = (v & !(0b111 << shift)) | ((f as u32) << shift);
        }
        sel.set(v);
        // Pull sequence from the manual: set GPPUD, wait 150 cycles, clock it
        // into the pins, wait 150 cycles, remove the clock.
        self.regs.GPPUD.set(0);
        spin_cycles(150);
        self.regs.GPPUDCLK0.set((1 << 14) | (1 << 15));
        spin_cycles(150);
        self.regs.GPPUDCLK0.set(0);
    }
}
