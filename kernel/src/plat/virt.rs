//! QEMU `virt` (hw/arm/virt.c): PL011, GICv2, generic timer, PSCI. Every
//! address comes from the device tree QEMU generates.

use super::Machine;
use crate::drivers::gicv2::{GicV2, SPURIOUS};
use crate::drivers::pl011::Pl011;
use core::sync::atomic::{AtomicU32, Ordering};
use kernel_core::dtb::{Gic, PsciMethod};
use kernel_core::mm::phys_to_virt;
use kernel_core::mm::region::Region;
use spin::Once;

/// Human-readable platform name.
pub const NAME: &str = "QEMU virt";

/// QEMU puts the device tree at the start of RAM when booting an ELF that
/// leaves room below itself, and passes x0 = 0.
const DTB_AT_RAM_START: u64 = 0x4000_0000;
/// The boot tables map RAM up to 256 GiB (see `boot::tables::virt_l1`).
const LINEAR_MAP_END: u64 = 256 << 30;
/// Used only to report a missing device tree: QEMU's first PL011.
const FALLBACK_UART: u64 = 0x0900_0000;

static UART: Once<Pl011> = Once::new();
static GIC: Once<Option<Gic>> = Once::new();
static GIC_V2: Once<GicV2> = Once::new();
static TIMER_IRQ: AtomicU32 = AtomicU32::new(u32::MAX);
static UART_IRQ: AtomicU32 = AtomicU32::new(u32::MAX);
static PSCI: Once<Option<PsciMethod>> = Once::new();

fn console(pa: u64) {
    // SAFETY: `pa` is a PL011 (from the device tree, or QEMU's fixed UART
    // address when there is none) in the first GiB, mapped as device memory
    // by the boot tables.
    let uart = UART.call_once(|| unsafe { Pl011::new(phys_to_virt(pa) as usize) });
    crate::console::set_device(uart);
}

/// Find the device tree, bring up the console, describe the machine.
pub fn init(fw_arg: u64) -> Machine {
    let found = [fw_arg, DTB_AT_RAM_START]
        .into_iter()
        .find_map(|pa| super::read_dtb(pa, LINEAR_MAP_END).map(|(info, size)| (info, pa, size)));
    let Some((info, dtb_pa, dtb_size)) = found else {
        console(FALLBACK_UART);
        panic!("no device tree found (x0 = {fw_arg:#x}, nothing at {DTB_AT_RAM_START:#x}); cannot size memory");
    };
    console(info.uart.unwrap_or(FALLBACK_UART));
    GIC.call_once(|| info.gic);
    PSCI.call_once(|| info.psci);
    if let Some(irq) = info.virt_timer_irq {
        TIMER_IRQ.store(irq, Ordering::Relaxed);
    }
    if let Some(irq) = info.uart_irq {
        UART_IRQ.store(irq, Ordering::Relaxed);
    }
    let mut reserved = info.reserved;
    if reserved.insert(Region::new(dtb_pa, dtb_size)).is_err() {
        panic!("too many reserved memory ranges in the device tree");
    }
    Machine {
        memory: info.memory,
        reserved,
        memory_source: "device tree",
        linear_map_end: LINEAR_MAP_END,
        cpus: info.cpu_count,
        cpu_ids: info.cpu_ids,
        bootargs: info.bootargs,
    }
}

/// Start the interrupt controller and route the timer to this CPU.
pub fn init_irq(_machine: &Machine) {
    match GIC.get().copied().flatten() {
        Some(Gic::V2 { dist, cpu }) => {
            // SAFETY: the device tree names these as the GICv2 frames; they
            // are in the first GiB, mapped as device memory.
            let gic =
                GIC_V2.call_once(|| unsafe { GicV2::new(phys_to_virt(dist) as usize, phys_to_virt(cpu) as usize) });
            gic.init();
            gic.enable(IPI_SGI);
            let irq = TIMER_IRQ.load(Ordering::Relaxed);
            if irq == u32::MAX {
                log::warn!("no timer interrupt in the device tree: no tick");
            } else {
                gic.enable(irq);
            }
            let uart = UART_IRQ.load(Ordering::Relaxed);
            if uart == u32::MAX {
                log::warn!("no console interrupt in the device tree: input is read only when asked for");
            } else {
                gic.enable(uart);
                crate::console::enable_input_interrupt();
            }
            log::info!("GICv2 at {dist:#x}, {} interrupt lines", gic.lines());
        }
        Some(Gic::V3 { .. }) => log::warn!("GICv3 is not supported yet (use gic-version=2): no interrupts"),
        None => log::warn!("no interrupt controller in the device tree: no interrupts"),
    }
}

/// The software-generated interrupt we use to make another CPU reschedule.
const IPI_SGI: u32 = 0;

/// Interrupt `cpu` so that it looks at its run queue.
pub fn send_ipi(cpu: usize) {
    if let Some(gic) = GIC_V2.get() {
        gic.send_sgi(cpu, IPI_SGI);
    }
}

/// This CPU's GIC interface and timer interrupt (both banked per CPU).
pub fn init_irq_cpu(_cpu: usize) {
    if let Some(gic) = GIC_V2.get() {
        gic.init_cpu_interface();
        gic.enable(IPI_SGI);
        let irq = TIMER_IRQ.load(Ordering::Relaxed);
        if irq != u32::MAX {
            gic.enable(irq);
        }
    }
}

/// Start CPU `id` (affinity `mpidr`) at physical address `entry` with PSCI CPU_ON.
pub fn start_cpu(_id: usize, mpidr: u64, entry: u64) -> Result<(), &'static str> {
    let use_smc = match PSCI.get().copied().flatten() {
        Some(PsciMethod::Smc) => true,
        Some(PsciMethod::Hvc) => false,
        None => return Err("no PSCI in the device tree (firmware must start it)"),
    };
    match crate::arch::smp::psci_cpu_on(use_smc, mpidr, entry) {
        0 => Ok(()),
        -2 => Err("PSCI: invalid parameters"),
        -4 => Err("PSCI: already on"),
        _ => Err("PSCI CPU_ON failed"),
    }
}

/// Whether a driver may take interrupt `id`: an existing PPI or SPI the
/// kernel does not use itself (its tick, the console's input).
pub fn irq_claimable(id: u32) -> bool {
    let lines = GIC_V2.get().map_or(0, |g| g.lines());
    (16..lines.min(1020)).contains(&id)
        && id != TIMER_IRQ.load(Ordering::Relaxed)
        && id != UART_IRQ.load(Ordering::Relaxed)
}

/// Let interrupt `id` through (a PPI on the CPU running this).
pub fn irq_unmask(id: u32, _cpu: usize) {
    if let Some(gic) = GIC_V2.get() {
        gic.enable(id);
    }
}

/// Hold interrupt `id` back.
pub fn irq_mask(id: u32, _cpu: usize) {
    if let Some(gic) = GIC_V2.get() {
        gic.disable(id);
    }
}

/// Handle one pending interrupt.
pub fn handle_irq() {
    let Some(gic) = GIC_V2.get() else { return };
    let id = gic.ack();
    if id == SPURIOUS {
        return;
    }
    if id == TIMER_IRQ.load(Ordering::Relaxed) {
        crate::arch::timer::handle_tick();
    } else if id == UART_IRQ.load(Ordering::Relaxed) {
        crate::console::on_input_interrupt();
    } else if id == IPI_SGI {
        // A reschedule request: the exception return path does the work.
    } else if crate::object::irq::fire(id) {
        // A driver's line: hold it until the driver acknowledges it.
        gic.disable(id);
    } else {
        log::warn!("unexpected interrupt {id}");
    }
    gic.eoi(id);
}
