//! The serial UARTs' registers and polled byte I/O, written once for the kernel and the chainloader.
//!
//! Each module describes one device with tock-registers, in its manual's
//! words, and adds the few polled operations that both the kernel's console
//! and the Raspberry Pi chainloader (`boot/chainloader/`) need: set the line
//! up (8N1 at a baud rate derived from a reference clock), send a byte, take
//! a byte if one is waiting, and wait until the transmitter has finished.
//!
//! - [`pl011`]: the Arm PrimeCell UART (QEMU virt's console, the Pi's UART0).
//! - [`mini_uart`]: the BCM2837 AUX mini UART (the Pi's UART1).
//! - [`bcm2837_gpio`]: the GPIO function select and pull control that give
//!   the Pi's header pins 14/15 to one of them.
//!
//! The operations are methods on the register blocks themselves, so this
//! crate knows no addresses and needs no `unsafe`: making a `&Registers`
//! from an address is each user's single unsafe step, because only the user
//! knows its address map (the kernel's `drivers::Mmio` at a kernel virtual
//! address; the chainloader's physical addresses with the MMU off). What
//! only the kernel does, receive interrupts, stays in the kernel's drivers
//! (`kernel/src/drivers/pl011.rs`, `kernel/src/drivers/mini_uart.rs`) on top
//! of the register definitions here.
//!
//! `put_byte`, `try_get_byte` and `init` are `#[inline]`, so that the
//! kernel compiles them in its own crate, as when the registers were its
//! own: its console `putc` stays the same test-and-store loop, and its
//! machine code as a whole stays what it was (an out-of-line `init` moved
//! the kernel's codegen-unit boundaries enough to change what LLVM inlined
//! into the scheduler). `flush` is the chainloader's alone.
//!
//! `cargo test -p uart` runs the operations on the host over ordinary
//! memory laid out like the registers (`testing::Fake`).
#![cfg_attr(not(test), no_std)]
#![cfg_attr(not(test), forbid(unsafe_code))]

pub mod bcm2837_gpio;
pub mod mini_uart;
pub mod pl011;

#[cfg(test)]
mod testing {
    use core::marker::PhantomData;

    /// Zeroed ordinary memory with the size and layout of the register block
    /// `T`, so host tests can run the real operations and then read back
    /// what they wrote.
    pub struct Fake<T> {
        words: *mut [u32],
        _regs: PhantomData<T>,
    }

    impl<T> Fake<T> {
        pub fn new() -> Self {
            assert_eq!(size_of::<T>() % 4, 0, "register blocks are made of 32-bit registers");
            assert!(align_of::<T>() <= align_of::<u32>());
            let words = Box::into_raw(vec![0u32; size_of::<T>() / 4].into_boxed_slice());
            Fake { words, _regs: PhantomData }
        }

        pub fn regs(&self) -> &T {
            // SAFETY: `words` is a live, suitably aligned allocation of
            // exactly `size_of::<T>()` bytes, reached only through this
            // reference, and made from a `Box` (so writes are allowed). `T`
            // is a tock-registers block: `UnsafeCell`-based registers that
            // allow writes through `&T`, and byte padding; any bits are valid.
            unsafe { &*(self.words as *const T) }
        }
    }

    impl<T> Drop for Fake<T> {
        fn drop(&mut self) {
            // SAFETY: `words` came from `Box::into_raw` in `new` and is freed only here.
            drop(unsafe { Box::from_raw(self.words) });
        }
    }
}
