//! The UART chainloader for the Raspberry Pi 3: sits on the SD card once,
//! then receives each new kernel over the serial line (`cargo xtask
//! chainboot`), checks it, and starts it as if the firmware had loaded it.
//!
//! It runs with the MMU and data cache off at the exception level the
//! firmware chose (EL2); the kernel it starts takes it from there.
#![no_std]
#![no_main]

use chcore_abi::chainload::{crc32_update, LOAD_ADDR, MAGIC, MAX_SIZE, READY};
use core::arch::global_asm;
use core::ptr::write_volatile;

global_asm!(
    r#"
    .section .text._start, "ax"
    .global _start
_start:
    mrs     x1, mpidr_el1
    and     x1, x1, #3
    cbz     x1, 2f
1:  wfe
    b       1b
2:  mov     x19, x0
    // Copy ourselves from the load address to the link address.
    adr     x2, _start
    ldr     x3, =__link_start
    ldr     x4, =__link_end
3:  cmp     x3, x4
    b.hs    4f
    ldr     x5, [x2], #8
    str     x5, [x3], #8
    b       3b
4:  ic      iallu
    dsb     sy
    isb
    ldr     x2, =5f
    br      x2
5:  ldr     x2, =__bss_start
    ldr     x3, =__bss_end
6:  cmp     x2, x3
    b.hs    7f
    stp     xzr, xzr, [x2], #16
    b       6b
7:  ldr     x2, =__stack_top
    mov     sp, x2
    mov     x0, x19
    bl      loader_main
8:  wfe
    b       8b
    .ltorg
"#
);

// BCM2837 peripherals ("BCM2835 ARM Peripherals" gives bus addresses
// 0x7Exx_xxxx; the ARM sees them at 0x3Fxx_xxxx).
const GPIO_BASE: usize = 0x3F20_0000;
const BAUD: u32 = 115_200;

/// The UART we listen on, its registers, and what it needs from the board.
#[cfg(not(feature = "mini-uart"))]
mod port {
    pub use uart::pl011::Registers as Uart;
    pub const BASE: usize = 0x3F20_1000;
    /// The PL011 reference clock, pinned by config.txt's `init_uart_clock`.
    pub const CLOCK: u32 = 48_000_000;
    pub const PINS: uart::bcm2837_gpio::Function = uart::bcm2837_gpio::Function::Alt0;
}

/// The UART we listen on, its registers, and what it needs from the board.
#[cfg(feature = "mini-uart")]
mod port {
    pub use uart::mini_uart::Registers as Uart;
    /// The AUX block, whose enable register comes before the mini UART's.
    pub const BASE: usize = 0x3F21_5000;
    /// The VPU core clock the mini UART divides, pinned by config.txt's `core_freq`.
    pub const CLOCK: u32 = 250_000_000;
    pub const PINS: uart::bcm2837_gpio::Function = uart::bcm2837_gpio::Function::Alt5;
}

fn serial() -> &'static port::Uart {
    // SAFETY: `port::BASE` is the BCM2837's fixed address of this UART's
    // register block; with the MMU off every access there is a device
    // access, and nothing else in the loader touches it.
    unsafe { &*(port::BASE as *const port::Uart) }
}

/// Route the header pins to our UART and set it to 115200 8N1.
fn init_uart() {
    // SAFETY: the BCM2837's fixed GPIO block address, as in `serial`; only
    // this function touches it.
    let gpio = unsafe { &*(GPIO_BASE as *const uart::bcm2837_gpio::Registers) };
    gpio.route_uart_pins(port::PINS);
    serial().init(port::CLOCK, BAUD);
}

fn putc(b: u8) {
    serial().put_byte(b);
}

fn getc() -> u8 {
    loop {
        if let Some(b) = serial().try_get_byte() {
            return b;
        }
        core::hint::spin_loop();
    }
}

fn puts(s: &str) {
    for b in s.bytes() {
        if b == b'\n' {
            putc(b'\r');
        }
        putc(b);
    }
}

fn put_hex(v: u32) {
    puts("0x");
    for i in (0..8).rev() {
        let d = ((v >> (i * 4)) & 0xF) as u8;
        putc(if d < 10 { b'0' + d } else { b'a' + d - 10 });
    }
}

fn read_u32() -> u32 {
    u32::from_le_bytes([getc(), getc(), getc(), getc()])
}

/// Wait for the magic, however much noise comes before it.
fn sync() {
    let mut seen = 0;
    while seen < MAGIC.len() {
        let b = getc();
        seen = if b == MAGIC[seen] {
            seen + 1
        } else if b == MAGIC[0] {
            1
        } else {
            0
        };
    }
}

#[no_mangle]
extern "C" fn loader_main(firmware_x0: u64) -> ! {
    init_uart();
    loop {
        puts("[chainloader] ready: send a kernel with `cargo xtask chainboot`\n");
        for &b in READY {
            putc(b);
        }
        sync();
        let size = read_u32();
        let want = read_u32();
        if size == 0 || size > MAX_SIZE {
            puts("[chainloader] refused: size ");
            put_hex(size);
            puts(" is not between 1 and ");
            put_hex(MAX_SIZE);
            puts("; waiting again\n");
            continue;
        }
        let dst = LOAD_ADDR as *mut u8;
        let mut crc = !0u32;
        for i in 0..size as usize {
            let b = getc();
            crc = crc32_update(crc, b);
            // SAFETY: `[LOAD_ADDR, LOAD_ADDR + MAX_SIZE)` is RAM below the
            // loader, which moved itself to LOADER_ADDR; nothing else uses it.
            unsafe { write_volatile(dst.add(i), b) };
        }
        let got = !crc;
        if got != want {
            puts("[chainloader] refused: checksum ");
            put_hex(got);
            puts(", expected ");
            put_hex(want);
            puts("; waiting again\n");
            continue;
        }
        puts("[chainloader] loaded ");
        put_hex(size);
        puts(" bytes; jumping\n");
        // The kernel resets the UART first thing: let this line out whole.
        serial().flush();
        // SAFETY: the image was checked against its CRC; with the MMU and
        // data cache off, what we wrote is in memory. Drop stale
        // instructions and enter it like the firmware would, with its x0.
        unsafe {
            core::arch::asm!(
                "ic iallu",
                "dsb sy",
                "isb",
                "br {entry}",
                entry = in(reg) LOAD_ADDR,
                in("x0") firmware_x0,
                options(noreturn)
            );
        }
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    puts("[chainloader] panic\n");
    loop {
        core::hint::spin_loop();
    }
}
