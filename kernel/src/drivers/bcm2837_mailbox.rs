//! The VideoCore mailbox property interface, through which the ARM asks the
//! Raspberry Pi firmware about the board (Raspberry Pi firmware wiki,
//! "Mailbox property interface"; QEMU's raspi machines implement it too).

use super::Mmio;
use core::sync::atomic::{fence, Ordering};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::{register_structs, registers::ReadWrite};

register_structs! {
    #[allow(non_snake_case)]
    pub Registers {
        (0x00 => READ: ReadWrite<u32>),
        (0x04 => _reserved0),
        (0x18 => STATUS: ReadWrite<u32>),
        (0x1C => _reserved1),
        (0x20 => WRITE: ReadWrite<u32>),
        (0x24 => @END),
    }
}

const STATUS_FULL: u32 = 1 << 31;
const STATUS_EMPTY: u32 = 1 << 30;
/// Channel 8: property tags, ARM to VideoCore.
const CHANNEL_PROPERTY: u32 = 8;
/// Request/response codes in the buffer header.
const CODE_REQUEST: u32 = 0;
const CODE_RESPONSE_OK: u32 = 0x8000_0000;
/// Tag: get ARM memory (base, size in bytes).
const TAG_GET_ARM_MEMORY: u32 = 0x0001_0005;
/// The VideoCore sees ARM RAM at this bus alias (L2 cache bypassed).
const BUS_ALIAS_UNCACHED: u32 = 0xC000_0000;
/// Give up after this many status polls: a missing firmware must not hang boot.
const POLL_LIMIT: u32 = 1_000_000;

/// A property message: header, one tag with two value words, end tag.
#[repr(C, align(16))]
struct Message([u32; 8]);

/// The mailbox.
pub struct Mailbox {
    regs: Mmio<Registers>,
}

impl Mailbox {
    /// # Safety
    /// `base` must be the kernel virtual address of mailbox 0 (0x3F00_B880 physical).
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from the caller.
        Mailbox { regs: unsafe { Mmio::new(base) } }
    }

    /// ARM-visible RAM as (base, size), if the firmware answers.
    pub fn arm_memory(&self) -> Option<(u64, u64)> {
        let mut msg = Message([8 * 4, CODE_REQUEST, TAG_GET_ARM_MEMORY, 8, 0, 0, 0, 0]);
        self.call(&mut msg)?;
        let [_, code, _, _, resp, base, size, _] = msg.0;
        // Bit 31 of the tag's response word says the firmware answered it.
        if code != CODE_RESPONSE_OK || resp & 0x8000_0000 == 0 {
            return None;
        }
        Some((u64::from(base), u64::from(size)))
    }

    fn call(&self, msg: &mut Message) -> Option<()> {
        let va = msg as *mut Message as u64;
        let pa = kernel_core::mm::virt_to_phys(va);
        let bus = u32::try_from(pa).ok()? | BUS_ALIAS_UNCACHED;
        clean_invalidate(va, core::mem::size_of::<Message>());
        self.wait_until(|s| s & STATUS_FULL == 0)?;
        self.regs.WRITE.set(bus | CHANNEL_PROPERTY);
        loop {
            self.wait_until(|s| s & STATUS_EMPTY == 0)?;
            if self.regs.READ.get() & 0xF == CHANNEL_PROPERTY {
                break;
            }
        }
        clean_invalidate(va, core::mem::size_of::<Message>());
        fence(Ordering::SeqCst);
        // SAFETY: `msg` is a live, exclusively borrowed buffer; the volatile
        // read makes the compiler reload what the firmware wrote by DMA.
        msg.0 = unsafe { core::ptr::read_volatile(&msg.0) };
        Some(())
    }

    fn wait_until(&self, ok: impl Fn(u32) -> bool) -> Option<()> {
        (0..POLL_LIMIT).find(|_| ok(self.regs.STATUS.get())).map(|_| ())
    }
}

/// Clean and invalidate the data cache over `[va, va + len)` so the VideoCore,
/// which does not snoop the ARM caches, and the ARM see the same bytes.
fn clean_invalidate(va: u64, len: usize) {
    crate::arch::memory::clean_invalidate_dcache(va, len as u64);
}
