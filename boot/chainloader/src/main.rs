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
use core::ptr::{read_volatile, write_volatile};

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

// BCM2837 peripherals ("BCM2835 ARM Peripherals"), physical addresses.
const GPFSEL1: usize = 0x3F20_0004;
const GPPUD: usize = 0x3F20_0094;
const GPPUDCLK0: usize = 0x3F20_0098;

fn rd(addr: usize) -> u32 {
    // SAFETY: a BCM2837 peripheral register; with the MMU off every access
    // is a device access.
    unsafe { read_volatile(addr as *const u32) }
}

fn wr(addr: usize, v: u32) {
    // SAFETY: as in `rd`.
    unsafe { write_volatile(addr as *mut u32, v) }
}

fn delay(n: u32) {
    for _ in 0..n {
        core::hint::spin_loop();
    }
}

/// GPIO 14/15 to `alt` (0b100 ALT0 = PL011, 0b010 ALT5 = mini UART), no pulls.
fn route_pins(alt: u32) {
    let mut v = rd(GPFSEL1);
    v &= !((0b111 << 12) | (0b111 << 15));
    v |= (alt << 12) | (alt << 15);
    wr(GPFSEL1, v);
    wr(GPPUD, 0);
    delay(150);
    wr(GPPUDCLK0, (1 << 14) | (1 << 15));
    delay(150);
    wr(GPPUDCLK0, 0);
}

#[cfg(not(feature = "mini-uart"))]
mod uart {
    use super::*;
    const PL011: usize = 0x3F20_1000;
    const DR: usize = PL011;
    const FR: usize = PL011 + 0x18;
    const IBRD: usize = PL011 + 0x24;
    const FBRD: usize = PL011 + 0x28;
    const LCRH: usize = PL011 + 0x2C;
    const CR: usize = PL011 + 0x30;
    const ICR: usize = PL011 + 0x44;

    /// 115200 8N1 from the 48 MHz UART clock (config.txt `init_uart_clock`).
    pub fn init() {
        route_pins(0b100);
        wr(CR, 0);
        wr(ICR, 0x7FF);
        wr(IBRD, 26);
        wr(FBRD, 3);
        wr(LCRH, 0b11 << 5 | 1 << 4);
        wr(CR, 1 | 1 << 8 | 1 << 9);
    }

    pub fn putc(b: u8) {
        while rd(FR) & (1 << 5) != 0 {}
        wr(DR, b as u32);
    }

    pub fn getc() -> u8 {
        while rd(FR) & (1 << 4) != 0 {}
        rd(DR) as u8
    }
}

#[cfg(feature = "mini-uart")]
mod uart {
    use super::*;
    const AUX: usize = 0x3F21_5000;
    const ENABLES: usize = AUX + 0x04;
    const IO: usize = AUX + 0x40;
    const IER: usize = AUX + 0x44;
    const IIR: usize = AUX + 0x48;
    const LCR: usize = AUX + 0x4C;
    const MCR: usize = AUX + 0x50;
    const LSR: usize = AUX + 0x54;
    const CNTL: usize = AUX + 0x60;
    const BAUD: usize = AUX + 0x68;

    /// 115200 8N1 from the 250 MHz core clock (config.txt `core_freq`).
    pub fn init() {
        route_pins(0b010);
        wr(ENABLES, 1);
        wr(CNTL, 0);
        wr(IER, 0);
        wr(LCR, 3);
        wr(MCR, 0);
        wr(IIR, 0b110);
        wr(BAUD, 270);
        wr(CNTL, 3);
    }

    pub fn putc(b: u8) {
        while rd(LSR) & (1 << 5) == 0 {}
        wr(IO, b as u32);
    }

    pub fn getc() -> u8 {
        while rd(LSR) & 1 == 0 {}
        rd(IO) as u8
    }
}

fn puts(s: &str) {
    for b in s.bytes() {
        if b == b'\n' {
            uart::putc(b'\r');
        }
        uart::putc(b);
    }
}

fn put_hex(v: u32) {
    puts("0x");
    for i in (0..8).rev() {
        let d = ((v >> (i * 4)) & 0xF) as u8;
        uart::putc(if d < 10 { b'0' + d } else { b'a' + d - 10 });
    }
}

fn read_u32() -> u32 {
    u32::from_le_bytes([uart::getc(), uart::getc(), uart::getc(), uart::getc()])
}

/// Wait for the magic, however much noise comes before it.
fn sync() {
    let mut seen = 0;
    while seen < MAGIC.len() {
        let b = uart::getc();
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
    uart::init();
    loop {
        puts("[chainloader] ready: send a kernel with `cargo xtask chainboot`\n");
        for &b in READY {
            uart::putc(b);
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
            let b = uart::getc();
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
