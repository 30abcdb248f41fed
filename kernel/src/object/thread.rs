//! thread: an execution context in a cap_group, scheduled by the kernel.

use super::cap_group::CapGroup;
use super::Header;
use crate::arch::UserContext;
use alloc::sync::Arc;
use chcore_abi::{Error, ObjectType};
use spin::Mutex;

/// Where a thread is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// Runnable, waiting in the run queue.
    Ready,
    /// On a CPU.
    Running,
    /// Waiting for an event (IPC reply, notification, timeout); in no queue.
    Blocked,
    /// Stopped by `thread_suspend` until `thread_resume`; in no queue.
    Suspended,
    /// Finished; never runs again.
    Exited,
}

/// Mutable part of a thread.
pub struct ThreadInner {
    /// Saved user registers while the thread is off the CPU.
    pub ctx: UserContext,
    /// Life cycle state.
    pub state: ThreadState,
    /// Scheduling priority (higher runs first).
    pub prio: u8,
    /// The only CPU it may run on, if pinned.
    pub affinity: Option<usize>,
    /// Suspension requested: the thread stops at its next scheduling point.
    pub suspended: bool,
    /// The CPU it last ran or was queued on.
    pub cpu: usize,
    /// For an IPC handler thread: the connection it serves.
    pub handler: Option<super::connection::HandlerInfo>,
    /// Blocked with a timeout: it is in the scheduler's sleeper list.
    pub timed: bool,
    /// When `timed`: the tick it wakes at (its key in the sleeper list).
    pub wake_at: u64,
    /// The notification it is blocked on, if any (for timeouts).
    pub waiting_on: Option<Arc<super::notification::Notification>>,
    /// A CPU runs it, or has not yet saved its registers since it stopped
    /// (a thread that blocks on the general path is saved only at its
    /// CPU's exception return). The IPC fast path, which runs outside the
    /// big kernel lock, must not switch to such a thread.
    pub on_cpu: bool,
}

/// A user thread.
pub struct Thread {
    /// Common header (its drop keeps the live-object counts).
    #[allow(dead_code)]
    pub header: Header,
    /// The process the thread belongs to.
    pub group: Arc<CapGroup>,
    /// Its kernel memory, charged to whoever made it.
    #[allow(dead_code)]
    kmem: super::Kmem,
    inner: Mutex<ThreadInner>,
}

/// Kernel memory a thread takes: the thread, its floating-point registers
/// (saved on the heap once it first uses them: charged from the start, so
/// that a first FP instruction never needs a charge), its entry in its
/// group's list and its share of the scheduler's queues and sleeper tree.
pub const THREAD_KMEM: u64 =
    super::arc_block::<Thread>() + super::heap_block(core::mem::size_of::<crate::arch::context::FpState>()) + 64;

impl Thread {
    /// A thread of `group` that will start at `pc` with stack `sp` and `arg` in x0,
    /// its kernel memory ([`THREAD_KMEM`]) charged already to whoever pays
    /// (the group, or an IPC client for the handler thread serving it).
    /// It is registered with the group but not yet scheduled.
    pub fn new(group: &Arc<CapGroup>, pc: u64, sp: u64, arg: u64, kmem: super::Kmem) -> Result<Arc<Thread>, Error> {
        let ctx = UserContext::new(pc, sp, arg);
        let t = Arc::new(Thread {
            header: Header::new(ObjectType::Thread),
            group: group.clone(),
            kmem,
            inner: Mutex::new(ThreadInner {
                ctx,
                state: ThreadState::Ready,
                prio: kernel_core::sched::PRIO_DEFAULT,
                affinity: None,
                suspended: false,
                cpu: 0,
                handler: None,
                timed: false,
                wake_at: 0,
                waiting_on: None,
                on_cpu: false,
            }),
        });
        let mut g = group.lock();
        if g.state != super::cap_group::GroupState::Alive {
            return Err(Error::InvalidArgument);
        }
        super::push_weak(&mut g.threads, Arc::downgrade(&t))?;
        Ok(t)
    }

    /// [`Thread::new`], its kernel memory charged to its own group.
    pub fn charged(group: &Arc<CapGroup>, pc: u64, sp: u64, arg: u64) -> Result<Arc<Thread>, Error> {
        Thread::new(group, pc, sp, arg, super::Kmem::charge(&group.account, THREAD_KMEM)?)
    }

    /// Lock the mutable state.
    pub fn lock(&self) -> spin::MutexGuard<'_, ThreadInner> {
        self.inner.lock()
    }
}
