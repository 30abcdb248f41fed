//! Device drivers. Registers are described with tock-registers; each driver
//! reaches its registers through one [`Mmio`] created from an address the
//! platform vouches for. Each board compiles the drivers it uses and no
//! others.

#[cfg(feature = "raspi3")]
pub mod bcm2835_intc;
#[cfg(feature = "raspi3")]
pub mod bcm2836_local;
#[cfg(feature = "raspi3")]
pub mod bcm2837_gpio;
#[cfg(feature = "raspi3")]
pub mod bcm2837_mailbox;
#[cfg(feature = "virt")]
pub mod gicv2;
#[cfg(feature = "raspi3")]
pub mod mini_uart;
pub mod pl011;

use core::marker::PhantomData;
use core::ops::Deref;

/// A register block of type `T` at a fixed kernel virtual address.
pub struct Mmio<T> {
    base: usize,
    _regs: PhantomData<fn() -> T>,
}

impl<T> Mmio<T> {
    /// # Safety
    /// `base` must be the kernel virtual address of a device whose registers
    /// have layout `T`, mapped as device memory for the kernel's lifetime,
    /// and nothing else may treat that memory as ordinary data.
    pub const unsafe fn new(base: usize) -> Self {
        Mmio { base, _regs: PhantomData }
    }
}

impl<T> Deref for Mmio<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: `new`'s contract: `base` maps a live register block of type
        // `T`; tock-registers types only allow volatile accesses to it.
        unsafe { &*(self.base as *const T) }
    }
}
