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
extern "C" fn _start(args_block: u64) -> ! {
    if !crate::heap::init() {
        crate::println!("libchcore: no heap");
    }
    if args_block != 0 {
        // procmgr put the argument block at the top of our stack; its last
        // byte is at most this far above the block's start.
        const MAX_BLOCK: usize = 8 * (chcore_proc::args::MAX_ARGS + 2) + chcore_proc::args::MAX_ARG_BYTES;
        let top = crate::process::STACK_TOP;
        let len = (top.saturating_sub(args_block) as usize).min(MAX_BLOCK);
        // SAFETY: `[args_block, args_block + len)` lies in our stack below
        // its top, mapped read/write, written by procmgr.
        let block = unsafe { core::slice::from_raw_parts(args_block as *const u8, len) };
        if let Ok(a) = chcore_proc::args::decode(block, args_block) {
            ARGS.call_once(|| a);
        }
    }
    // SAFETY: `entry!` defines `__chcore_main` with exactly this signature.
    let code = unsafe { __chcore_main() };
    crate::process::exit(code)
}

static ARGS: spin::Once<alloc::vec::Vec<alloc::string::String>> = spin::Once::new();

/// The program's arguments (argument 0 is its name); empty if none were given.
pub fn args() -> &'static [alloc::string::String] {
    ARGS.get().map_or(&[], |a| a.as_slice())
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    crate::println!("panic: {info}");
    crate::process::exit(101)
}
