//! What happens when the kernel itself is wrong.

use core::panic::PanicInfo;

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    arch::irq_disable();
    console::emergency_println(format_args!("[PANIC] {info}"));
    arch::stop(arch::ExitStatus::Failure)
}

use crate::{arch, console};
