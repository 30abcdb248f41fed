//! Program start-up and panics.

use core::panic::PanicInfo;

extern "Rust" {
    /// The program's main, declared with `libchcore::entry!`.
    fn __chcore_main() -> i32;
}

/// First user instruction of every program: the kernel starts the first
/// thread here with the stack set up.
#[no_mangle]
#[link_section = ".text._start"]
extern "C" fn _start(_arg: u64) -> ! {
    if !crate::heap::init() {
        crate::println!("libchcore: no heap");
    }
    // SAFETY: `entry!` defines `__chcore_main` with exactly this signature.
    let code = unsafe { __chcore_main() };
    crate::sys::exit(code)
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    crate::println!("panic: {info}");
    crate::sys::exit(101)
}
