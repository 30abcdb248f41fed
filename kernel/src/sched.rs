//! The scheduler: round-robin over one run queue with a time slice from the
//! timer tick. (Priorities, per-CPU queues and SMP come with the multicore
//! work.)
//!
//! The kernel has one stack per CPU and keeps nothing on it between
//! exceptions: a user thread's registers live in its [`Thread`] while it is
//! off the CPU. Every exception from user space (or from the idle loop) ends
//! in [`on_exception_return`], which may swap the trap frame for another
//! thread's before the `eret`.

use crate::arch::{self, TrapFrame};
use crate::object::thread::{Thread, ThreadState};
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use spin::Mutex;

/// Timer ticks a thread may run before another gets the CPU.
const SLICE_TICKS: u32 = 5;

struct Sched {
    queue: VecDeque<Arc<Thread>>,
    current: Option<Arc<Thread>>,
    slice: u32,
    need_resched: bool,
    started: bool,
}

static SCHED: Mutex<Sched> =
    Mutex::new(Sched { queue: VecDeque::new(), current: None, slice: 0, need_resched: false, started: false });

/// Make `t` runnable.
pub fn enqueue(t: Arc<Thread>) {
    t.lock().state = ThreadState::Ready;
    SCHED.lock().queue.push_back(t);
}

/// The thread on this CPU, if any.
pub fn current() -> Option<Arc<Thread>> {
    SCHED.lock().current.clone()
}

/// Pick another thread at the next exception return (yield, exit).
pub fn request_resched() {
    SCHED.lock().need_resched = true;
}

/// Timer tick: charge the running thread.
pub fn tick() {
    let mut s = SCHED.lock();
    if s.current.is_some() {
        s.slice = s.slice.saturating_sub(1);
        if s.slice == 0 {
            s.need_resched = true;
        }
    }
}

/// Forget queued threads that have exited (after a cap_group exit).
pub fn prune() {
    SCHED.lock().queue.retain(|t| t.lock().state != ThreadState::Exited);
}

/// Where an idle CPU waits: EL1 with IRQs unmasked.
extern "C" fn idle_loop() -> ! {
    loop {
        aarch64_cpu::asm::wfi();
    }
}

/// SPSR for the idle loop: EL1h, D, A and F masked, IRQs on.
const SPSR_EL1H_IRQ_ON: u64 = (1 << 9) | (1 << 8) | (1 << 6) | 0b0101;

fn idle_frame() -> TrapFrame {
    let mut f = TrapFrame::zeroed();
    f.elr = idle_loop as *const () as u64;
    f.spsr = SPSR_EL1H_IRQ_ON;
    f
}

/// Leave kernel initialisation and run the first thread (or idle).
pub fn start() -> ! {
    let mut frame = idle_frame();
    {
        let mut s = SCHED.lock();
        s.started = true;
        s.need_resched = true;
    }
    on_exception_return(&mut frame);
    arch::return_to(&frame)
}

/// Switch threads if needed before returning through `frame`.
pub fn on_exception_return(frame: &mut TrapFrame) {
    let mut s = SCHED.lock();
    if !s.started {
        return;
    }
    let running = s.current.as_ref().is_some_and(|t| t.lock().state == ThreadState::Running);
    if running && !s.need_resched {
        return;
    }
    s.need_resched = false;
    let prev = s.current.take();
    if let Some(p) = &prev {
        let mut inner = p.lock();
        if inner.state == ThreadState::Running {
            inner.ctx.frame = *frame;
            arch::save_fp(&mut inner.ctx.fp);
            inner.state = ThreadState::Ready;
            drop(inner);
            s.queue.push_back(p.clone());
        }
    }
    let next = loop {
        match s.queue.pop_front() {
            Some(t) if t.lock().state == ThreadState::Exited => continue,
            other => break other,
        }
    };
    match next {
        Some(t) => {
            {
                let mut inner = t.lock();
                inner.state = ThreadState::Running;
                *frame = inner.ctx.frame;
                arch::restore_fp(&inner.ctx.fp);
            }
            let vm = &t.group.vmspace;
            arch::mmu::switch_user(vm.root(), vm.asid);
            s.current = Some(t);
            s.slice = SLICE_TICKS;
        }
        None => {
            // Nothing to run: stop translating user addresses (the previous
            // address space may be freed once `prev` drops) and wait.
            arch::mmu::disable_lower_half();
            *frame = idle_frame();
        }
    }
    drop(s);
    // `prev` may hold the last reference to an exited thread: drop it with
    // the scheduler unlocked.
    drop(prev);
}
