//! irq: an interrupt line handed to a user-level driver.
//!
//! When the line fires the kernel masks it and wakes the driver thread
//! waiting in `irq_wait` (or remembers it fired); the driver quiets its
//! device and calls `irq_ack`, which unmasks the line. Per-CPU interrupts
//! (GIC PPIs, the Pi's local sources) belong to the CPU that registered them,
//! so a driver for one pins its thread there.

use super::thread::Thread;
use super::Header;
use crate::sched;
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use chcore_abi::{Error, ObjectType};
use spin::Mutex;

struct Inner {
    pending: u64,
    waiter: Option<Arc<Thread>>,
}

/// A registered interrupt line.
pub struct Irq {
    /// Common header (its drop keeps the live-object counts).
    #[allow(dead_code)]
    pub header: Header,
    /// The platform's number for the line.
    pub num: u32,
    /// The CPU it was registered on (where a per-CPU line fires).
    pub cpu: usize,
    inner: Mutex<Inner>,
}

static TABLE: Mutex<BTreeMap<u32, Weak<Irq>>> = Mutex::new(BTreeMap::new());

impl Irq {
    /// Claim line `num` for a driver.
    pub fn register(num: u64) -> Result<Arc<Irq>, Error> {
        let num = u32::try_from(num).map_err(|_| Error::InvalidArgument)?;
        if !crate::plat::irq_claimable(num) {
            return Err(Error::InvalidArgument);
        }
        let mut table = TABLE.lock();
        if table.get(&num).is_some_and(|w| w.strong_count() > 0) {
            return Err(Error::Busy);
        }
        let irq = Arc::new(Irq {
            header: Header::new(ObjectType::Irq),
            num,
            cpu: crate::arch::smp::cpu_id(),
            inner: Mutex::new(Inner { pending: 0, waiter: None }),
        });
        table.insert(num, Arc::downgrade(&irq));
        crate::plat::irq_unmask(num, irq.cpu);
        Ok(irq)
    }

    /// Take one pending interrupt, or block `t` until the line fires.
    pub fn wait(&self, t: &Arc<Thread>) -> Result<u64, Error> {
        let mut inner = self.inner.lock();
        if inner.pending > 0 {
            inner.pending -= 1;
            return Ok(0);
        }
        if inner.waiter.is_some() {
            return Err(Error::Busy);
        }
        inner.waiter = Some(t.clone());
        drop(inner);
        sched::block_current(None, 0, None);
        Ok(0)
    }

    /// The driver is done with this interrupt: let the line through again.
    pub fn ack(&self) {
        crate::plat::irq_unmask(self.num, self.cpu);
    }
}

/// Line `num` fired and the platform masked it. Returns whether a driver owns it.
pub fn fire(num: u32) -> bool {
    let Some(irq) = TABLE.lock().get(&num).and_then(Weak::upgrade) else { return false };
    let waiter = {
        let mut inner = irq.inner.lock();
        let w = inner.waiter.take();
        if w.is_none() {
            inner.pending += 1;
        }
        w
    };
    if let Some(w) = waiter {
        sched::wake(&w, 0);
    }
    true
}

impl Drop for Irq {
    fn drop(&mut self) {
        crate::plat::irq_mask(self.num, self.cpu);
        let mut table = TABLE.lock();
        if table.get(&self.num).is_some_and(|w| w.strong_count() == 0) {
            table.remove(&self.num);
        }
    }
}
