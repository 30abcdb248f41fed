//! BCM2837 GPIO ("BCM2835 ARM Peripherals" section 6), enough to route UART
//! pins. The registers and the routing are `uart::bcm2837_gpio`'s, shared
//! with the chainloader; this is the kernel's mapped instance.

use super::Mmio;
use uart::bcm2837_gpio::Registers;

pub use uart::bcm2837_gpio::Function;

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
        self.regs.route_uart_pins(f);
    }
}
