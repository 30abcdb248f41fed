//! Raspberry Pi 3 (BCM2837, four Cortex-A53): PL011 or mini UART console,
//! the BCM2836 local interrupt controller and the generic timer. RAM comes
//! from the device tree or ATAGs the firmware passes, else from the firmware
//! mailbox, else a safe default.

use super::Machine;
use crate::drivers::bcm2835_intc::{Intc, AUX_IRQ, PL011_IRQ};
use crate::drivers::bcm2836_local::{LocalIntc, CNTV_IRQ, GPU_IRQ, MAILBOX0_IRQ};
use crate::drivers::bcm2837_gpio::{Function, Gpio};
use crate::drivers::bcm2837_mailbox::Mailbox;
use crate::drivers::mini_uart::MiniUart;
use crate::drivers::pl011::Pl011;
use kernel_core::dtb::Bootargs;
use kernel_core::mm::phys_to_virt;
use kernel_core::mm::region::{Region, RegionSet};
use spin::Once;

/// Human-readable platform name.
pub const NAME: &str = "Raspberry Pi 3";

// BCM2837 physical addresses ("BCM2835 ARM Peripherals" uses bus addresses
// 0x7Exx_xxxx; the ARM sees them at 0x3Fxx_xxxx).
const GPIO_BASE: u64 = 0x3F20_0000;
const PL011_BASE: u64 = 0x3F20_1000;
const AUX_BASE: u64 = 0x3F21_5000;
const MAILBOX_BASE: u64 = 0x3F00_B880;
const INTC_BASE: u64 = 0x3F00_B200;
const LOCAL_BASE: u64 = boot::tables::RASPI3_LOCAL_BASE;
/// RAM above this is the peripheral window (and outside the boot map).
const LINEAR_MAP_END: u64 = boot::tables::RASPI3_PERIPHERAL_BASE;
/// Where the firmware leaves ATAGs when it passes no device tree.
const ATAG_ADDR: u64 = 0x100;
/// Page 0 holds the secondary cores' spin table and the ATAGs: never allocate it.
const FIRMWARE_PAGE: Region = Region::new(0, 0x1000);
/// If nothing tells us: 768 MiB is ARM memory on every Pi 3 whatever `gpu_mem` says (at most 256 MiB).
const DEFAULT_RAM: u64 = 768 << 20;
/// PL011 reference clock; config.txt pins it with `init_uart_clock=48000000`.
const PL011_CLOCK: u32 = 48_000_000;
/// VPU core clock the mini UART divides; config.txt pins it with `core_freq=250`.
const CORE_CLOCK: u32 = 250_000_000;
const BAUD: u32 = 115_200;
const BOOT_CORE: usize = 0;
/// Cortex-A53 cores of the BCM2837.
const CORES: usize = 4;
/// Spin table: the firmware parks core `n` polling the word at `0xd8 + 8 * n`
/// (Raspberry Pi armstub8; QEMU's raspi3b does the same).
const SPIN_TABLE: u64 = 0xd8;

static PL011: Once<Pl011> = Once::new();
static MINI_UART: Once<MiniUart> = Once::new();
// SAFETY: fixed BCM2837 addresses inside the boot map's device window.
static LOCAL: LocalIntc = unsafe { LocalIntc::new(phys_to_virt(LOCAL_BASE) as usize) };
// SAFETY: as above.
static INTC: Intc = unsafe { Intc::new(phys_to_virt(INTC_BASE) as usize) };

/// The console UART's GPU interrupt.
const CONSOLE_IRQ: u32 = if cfg!(feature = "mini-uart") { AUX_IRQ } else { PL011_IRQ };

fn console() {
    // SAFETY: fixed BCM2837 GPIO address, mapped as device memory at boot.
    let gpio = unsafe { Gpio::new(phys_to_virt(GPIO_BASE) as usize) };
    if cfg!(feature = "mini-uart") {
        gpio.route_uart_pins(Function::Alt5);
        // SAFETY: fixed BCM2837 AUX address, mapped as device memory at boot.
        let uart = MINI_UART.call_once(|| unsafe { MiniUart::new(phys_to_virt(AUX_BASE) as usize) });
        uart.init(CORE_CLOCK, BAUD);
        crate::console::set_device(uart);
    } else {
        gpio.route_uart_pins(Function::Alt0);
        // SAFETY: fixed BCM2837 PL011 address, mapped as device memory at boot.
        let uart = PL011.call_once(|| unsafe { Pl011::new(phys_to_virt(PL011_BASE) as usize) });
        uart.init(PL011_CLOCK, BAUD);
        crate::console::set_device(uart);
    }
}

fn atag_memory() -> Option<RegionSet<{ super::MAX_REGIONS }>> {
    let len = (FIRMWARE_PAGE.end - ATAG_ADDR) as usize;
    // SAFETY: page 0 is RAM inside the boot linear map; we only read it.
    let bytes = unsafe { core::slice::from_raw_parts(phys_to_virt(ATAG_ADDR) as *const u8, len) };
    kernel_core::atag::memory(bytes)
}

/// Bring up the console and find out how much RAM there is.
pub fn init(fw_arg: u64) -> Machine {
    console();
    let mut reserved = RegionSet::new();
    let _ = reserved.insert(FIRMWARE_PAGE);
    let mut bootargs = Bootargs::EMPTY;
    let (memory, source) = if let Some((info, size)) = super::read_dtb(fw_arg, LINEAR_MAP_END) {
        bootargs = info.bootargs;
        for r in info.reserved.iter().chain([Region::new(fw_arg, size)]) {
            if reserved.insert(r).is_err() {
                panic!("too many reserved memory ranges in the device tree");
            }
        }
        (info.memory, "device tree")
    } else if let Some(mem) = atag_memory() {
        (mem, "ATAGs")
    } else if let Some((base, size)) =
        // SAFETY: fixed BCM2837 mailbox address, mapped as device memory at boot.
        unsafe { Mailbox::new(phys_to_virt(MAILBOX_BASE) as usize) }.arm_memory()
    {
        let mut set = RegionSet::new();
        let _ = set.insert(Region::new(base, size));
        (set, "firmware mailbox")
    } else {
        let mut set = RegionSet::new();
        let _ = set.insert(Region::new(0, DEFAULT_RAM));
        (set, "built-in default (no device tree, ATAGs or mailbox answer)")
    };
    let mut cpu_ids = [0; kernel_core::dtb::MAX_CPUS];
    for (i, id) in cpu_ids.iter_mut().enumerate().take(CORES) {
        *id = i as u64;
    }
    Machine { memory, reserved, memory_source: source, linear_map_end: LINEAR_MAP_END, cpus: CORES, cpu_ids, bootargs }
}

/// Route the boot core's virtual timer interrupt to its IRQ line, and the
/// console's receive interrupt to the boot core.
pub fn init_irq(_machine: &Machine) {
    init_irq_cpu(BOOT_CORE);
    INTC.init();
    LOCAL.route_gpu_irq(BOOT_CORE);
    INTC.enable(CONSOLE_IRQ);
    crate::console::enable_input_interrupt();
    log::info!("BCM2836 local interrupt controller: core {BOOT_CORE} virtual timer enabled; console input on GPU interrupt {CONSOLE_IRQ}");
}

/// Route this core's virtual timer interrupt to its IRQ line.
pub fn init_irq_cpu(cpu: usize) {
    LOCAL.enable_virt_timer(cpu);
    LOCAL.enable_mailbox0(cpu);
}

/// Local interrupt sources drivers may take: the three timers other than ours.
const DRIVER_SOURCES: u32 = 0b111;

/// Whether a driver may take line `num` (`RASPI3_LOCAL_BASE + source`).
pub fn irq_claimable(num: u32) -> bool {
    num.checked_sub(chcore_abi::irq::RASPI3_LOCAL_BASE as u32)
        .is_some_and(|bit| bit < 32 && DRIVER_SOURCES & (1 << bit) != 0)
}

/// Let line `num` through on `cpu`.
pub fn irq_unmask(num: u32, cpu: usize) {
    LOCAL.set_timer_source(cpu, num - chcore_abi::irq::RASPI3_LOCAL_BASE as u32, true);
}

/// Hold line `num` back on `cpu`.
pub fn irq_mask(num: u32, cpu: usize) {
    LOCAL.set_timer_source(cpu, num - chcore_abi::irq::RASPI3_LOCAL_BASE as u32, false);
}

/// Interrupt `cpu` so that it looks at its run queue.
pub fn send_ipi(cpu: usize) {
    LOCAL.send_ipi(cpu);
}

/// Release core `id` from the firmware's spin table to physical address `entry`.
pub fn start_cpu(id: usize, _mpidr: u64, entry: u64) -> Result<(), &'static str> {
    if id == 0 || id >= CORES {
        return Err("no such core");
    }
    let slot = phys_to_virt(SPIN_TABLE + 8 * id as u64) as *mut u64;
    // SAFETY: page 0 is reserved from the allocator for exactly this table,
    // and mapped in the linear map.
    unsafe { core::ptr::write_volatile(slot, entry) };
    // The parked core reads the word with its MMU off: clean it to memory
    // before the event.
    crate::arch::memory::clean_invalidate_dcache(slot as u64, 8);
    crate::arch::smp::send_event();
    Ok(())
}

/// Handle the pending interrupts of this core.
pub fn handle_irq() {
    let core = crate::arch::smp::cpu_id();
    let pending = LOCAL.pending(core);
    if pending & MAILBOX0_IRQ != 0 {
        // A reschedule request: the exception return path does the work.
        LOCAL.clear_ipi(core);
    }
    if pending & CNTV_IRQ != 0 {
        crate::arch::timer::handle_tick();
    }
    if pending & GPU_IRQ != 0 {
        if INTC.pending(CONSOLE_IRQ) {
            crate::console::on_input_interrupt();
        } else {
            log::warn!("unexpected GPU interrupt");
        }
    }
    for bit in 0..3 {
        if pending & DRIVER_SOURCES & (1 << bit) != 0
            && crate::object::irq::fire(chcore_abi::irq::RASPI3_LOCAL_BASE as u32 + bit)
        {
            LOCAL.set_timer_source(core, bit, false);
        }
    }
    if pending & !(CNTV_IRQ | MAILBOX0_IRQ | GPU_IRQ | DRIVER_SOURCES) != 0 {
        log::warn!("unexpected interrupt sources {pending:#x}");
    }
}
