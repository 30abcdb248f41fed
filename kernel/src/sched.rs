//! The scheduler: per-CPU priority run queues (round-robin within a
//! priority), time slices from each CPU's timer tick, yield, sleep, affinity,
//! suspend/resume, and load spreading.
//!
//! The kernel has one stack per CPU and keeps nothing on it between
//! exceptions: a user thread's registers live in its [`Thread`] while it is
//! off a CPU. Every exception from user space or from the idle loop ends in
//! [`on_exception_return`], which may swap the trap frame for another
//! thread's before the `eret`. Blocking is therefore just a state: a blocked
//! thread is in no queue, and whoever wakes it puts its result in its saved
//! `x0` and queues it.
//!
//! New threads go to the least loaded CPU (or their pinned one); a CPU whose
//! queue is empty takes work from the others before it idles. All of this
//! runs under the big kernel lock (see `bkl`), plus this module's own lock,
//! except the IPC fast path's switches (`ipc_call_switch`,
//! `ipc_return_switch`), which take only this CPU's running-thread lock and
//! thread locks (docs/locking.md).

use crate::arch::smp::{cpu_id, MAX_CPUS};
use crate::arch::{self, TrapFrame};
use crate::object::connection::HandlerStart;
use crate::object::thread::{Thread, ThreadInner, ThreadState};
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::mem::ManuallyDrop;
use core::sync::atomic::Ordering::Relaxed;
use core::sync::atomic::{AtomicBool, AtomicPtr};
use kernel_core::sched::{pick_cpu, RunQueue};
use spin::Mutex;

/// Timer ticks a thread may run before others of its priority get a turn.
pub const SLICE_TICKS: u32 = 5;

struct Cpu {
    /// Run this thread next, before the queue (IPC hands the CPU over).
    direct: Option<Arc<Thread>>,
    slice: u32,
    queue: RunQueue<Arc<Thread>>,
}

/// The thread a CPU runs (the `Arc` that keeps it alive), in the CPU's
/// `percpu` block under a lock of its own rather than the scheduler's: the
/// IPC fast path changes it without the scheduler lock, so that CPUs doing
/// IPC do not wait for each other. Lock order: scheduler lock, then a
/// CPU's `Current`, then thread locks.
pub struct Current(Mutex<Option<Arc<Thread>>>);

impl Current {
    pub const fn new() -> Current {
        Current(Mutex::new(None))
    }
}

/// CPU `cpu`'s running thread, locked.
#[inline(always)]
fn current_of(cpu: usize) -> spin::MutexGuard<'static, Option<Arc<Thread>>> {
    crate::percpu::of(cpu).current.0.lock()
}

/// What every exception return and every system call look at, kept out of
/// the scheduler lock so that the common case (no switch) costs a few loads.
/// `current` is written only by its own CPU; `need_resched` and `started`
/// by other CPUs only under the big kernel lock or the scheduler lock, and
/// read by their CPU on its way out of an exception, which takes that lock
/// before it acts on them: `Relaxed` suffices.
///
/// The invariant that makes the fast path correct: whoever takes the
/// running thread out of `Running` (block, exit, suspend, affinity change,
/// a preempting wake-up) sets `need_resched` on its CPU.
pub struct Fast {
    /// The thread `Current` holds, borrowed: that `Arc`
    /// keeps it alive, and only this CPU's [`on_exception_return`] changes it.
    current: AtomicPtr<Thread>,
    /// Pick a thread at the next exception return.
    need_resched: AtomicBool,
    /// The CPU has entered the scheduler.
    started: AtomicBool,
}

impl Fast {
    pub const fn new() -> Fast {
        Fast {
            current: AtomicPtr::new(core::ptr::null_mut()),
            need_resched: AtomicBool::new(false),
            started: AtomicBool::new(false),
        }
    }
}

/// CPU `cpu`'s `Fast` (in its `percpu` block).
#[inline(always)]
fn fast_of(cpu: usize) -> &'static Fast {
    &crate::percpu::of(cpu).sched
}

/// This CPU's `Fast`, through its local-block register.
#[inline(always)]
fn fast_here() -> &'static Fast {
    &crate::percpu::this().sched
}

fn set_need_resched(cpu: usize) {
    fast_of(cpu).need_resched.store(true, Relaxed);
}

struct Sleeper {
    thread: Arc<Thread>,
    /// What the thread's call returns when the time is up.
    result: i64,
    /// Called when the time is up (e.g. leave a notification's wait queue).
    on_timeout: Option<fn(&Arc<Thread>)>,
}

struct Sched {
    cpus: [Cpu; MAX_CPUS],
    online: usize,
    /// Threads blocked with a timeout, by (wake-up tick, thread id): the
    /// tick takes the due ones from the front, and a wake-up removes its
    /// thread by key. A thousand `sleep`s cost the tick nothing, and no
    /// single allocation grows with their number (a vector of them had to
    /// be reallocated whole, which failed, as a panic, once the kernel
    /// heap was fragmented).
    sleepers: BTreeMap<(u64, u64), Sleeper>,
}

static SCHED: Mutex<Sched> = Mutex::new(Sched::new());

impl Sched {
    const fn new() -> Sched {
        Sched {
            cpus: [const { Cpu { direct: None, slice: 0, queue: RunQueue::new() } }; MAX_CPUS],
            online: 1,
            sleepers: BTreeMap::new(),
        }
    }

    fn loads(&self) -> Vec<usize> {
        self.cpus[..self.online]
            .iter()
            .enumerate()
            .map(|(i, c)| c.queue.len() + usize::from(current_of(i).is_some()))
            .collect()
    }

    fn enqueue(&mut self, t: Arc<Thread>, prefer: Option<usize>) {
        let mut inner = t.lock();
        if inner.state == ThreadState::Exited {
            return;
        }
        if inner.suspended {
            inner.state = ThreadState::Suspended;
            return;
        }
        let cpu = match inner.affinity.filter(|c| *c < self.online) {
            Some(c) => c,
            None => prefer.filter(|c| *c < self.online).unwrap_or_else(|| pick_cpu(None, &self.loads(), cpu_id())),
        };
        inner.state = ThreadState::Ready;
        inner.cpu = cpu;
        let prio = inner.prio;
        drop(inner);
        let target = &mut self.cpus[cpu];
        let current_prio = current_of(cpu).as_ref().map(|c| c.lock().prio);
        let preempt = current_prio.is_none_or(|p| p < prio);
        if preempt {
            set_need_resched(cpu);
        }
        target.queue.push(prio, t);
        // An idle CPU, or one running something less important, should not
        // wait for its next tick to notice.
        if preempt && cpu != cpu_id() && fast_of(cpu).started.load(Relaxed) {
            crate::plat::send_ipi(cpu);
        }
    }

    /// The next thread for `cpu`: its own queue, else work from another CPU.
    fn pick(&mut self, cpu: usize) -> Option<Arc<Thread>> {
        loop {
            let next = self.cpus[cpu].queue.pop().map(|(_, t)| t).or_else(|| {
                let busiest = (0..self.online).filter(|&c| c != cpu).max_by_key(|&c| self.cpus[c].queue.len())?;
                let allowed = |t: &Arc<Thread>| t.lock().affinity.is_none_or(|a| a == cpu);
                self.cpus[busiest].queue.take_first(allowed).map(|(_, t)| t)
            })?;
            if next.lock().state == ThreadState::Ready {
                return Some(next);
            }
        }
    }
}

/// Make `t` runnable (new threads, woken threads, resumed threads).
pub fn enqueue(t: Arc<Thread>) {
    SCHED.lock().enqueue(t, None);
}

/// Wake a blocked thread, with `result` as the return value of the call it
/// blocked in. Does nothing if it is not blocked.
pub fn wake(t: &Arc<Thread>, result: i64) {
    wake_with(t, &[result as u64], false);
}

/// Wake a blocked thread with `regs` as its x0, x1, ... on return. With
/// `handoff` it runs next on this CPU, ahead of the queue (the IPC return
/// path); otherwise it is queued. Returns whether it was blocked.
pub fn wake_with(t: &Arc<Thread>, regs: &[u64], handoff: bool) -> bool {
    SCHED.lock().wake_with(t, regs, handoff)
}

/// The IPC call path: block the current thread (no timeout) and run `t`
/// (ready, in no queue) next on this CPU, with one trip through the lock.
pub fn block_and_handoff(t: Arc<Thread>) {
    let mut s = SCHED.lock();
    s.block_current();
    t.lock().state = ThreadState::Ready;
    s.cpus[cpu_id()].direct = Some(t);
    set_need_resched(cpu_id());
}

/// The IPC return path: block the current thread (no timeout) and wake `t`
/// with `regs`, to run next on this CPU if it may.
pub fn block_and_wake(t: &Arc<Thread>, regs: &[u64]) {
    let mut s = SCHED.lock();
    s.block_current();
    s.wake_with(t, regs, true);
}

impl Sched {
    fn block_current(&mut self) {
        let cpu = cpu_id();
        if let Some(t) = &*current_of(cpu) {
            let mut inner = t.lock();
            inner.state = ThreadState::Blocked;
            inner.timed = false;
        }
        set_need_resched(cpu);
    }

    fn wake_with(&mut self, t: &Arc<Thread>, regs: &[u64], handoff: bool) -> bool {
        {
            let mut inner = t.lock();
            if inner.state != ThreadState::Blocked {
                return false;
            }
            // Element by element: at most four words, not worth a `memcpy` call.
            for (x, r) in inner.ctx.frame.x.iter_mut().zip(regs) {
                *x = *r;
            }
            if core::mem::replace(&mut inner.timed, false) {
                self.sleepers.remove(&(inner.wake_at, t.header.id));
            }
            if handoff && !inner.suspended && inner.affinity.is_none_or(|a| a == cpu_id()) {
                inner.state = ThreadState::Ready;
                drop(inner);
                self.cpus[cpu_id()].direct = Some(t.clone());
                set_need_resched(cpu_id());
                return true;
            }
        }
        self.enqueue(t.clone(), Some(cpu_id()));
        true
    }
}

/// Block the current thread until [`wake`] (or, with `timeout` ticks, until
/// the time is up: then its call returns `timeout_result` and `on_timeout` runs).
pub fn block_current(timeout: Option<u64>, timeout_result: i64, on_timeout: Option<fn(&Arc<Thread>)>) {
    let mut s = SCHED.lock();
    let cpu = cpu_id();
    let Some(t) = current_of(cpu).clone() else { return };
    let wake_at = timeout.map(|ticks| arch::timer::ticks().saturating_add(ticks));
    {
        let mut inner = t.lock();
        inner.state = ThreadState::Blocked;
        inner.timed = wake_at.is_some();
        inner.wake_at = wake_at.unwrap_or(0);
    }
    if let Some(wake_at) = wake_at {
        let key = (wake_at, t.header.id);
        s.sleepers.insert(key, Sleeper { thread: t, result: timeout_result, on_timeout });
    }
    set_need_resched(cpu);
}

/// The thread on this CPU, if any.
pub fn current() -> Option<Arc<Thread>> {
    with_current(|t| t.clone())
}

/// Run `f` on the thread on this CPU, if any, without touching its
/// reference count or any lock (the system call path).
#[inline(always)]
pub fn with_current<R>(f: impl FnOnce(&Arc<Thread>) -> R) -> Option<R> {
    let p = fast_here().current.load(Relaxed);
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` came from `Arc::into_raw`-equivalent `Arc::as_ptr` of the
    // `Arc` in this CPU's `Current`, which keeps the thread alive
    // until this CPU's next `on_exception_return` replaces it; that cannot
    // happen during `f`, which runs inside the current exception. The
    // `ManuallyDrop` makes the borrowed `Arc` give its count back untouched.
    let t = ManuallyDrop::new(unsafe { Arc::from_raw(p) });
    Some(f(&t))
}

/// The current thread used FP/SIMD for the first time (its access
/// trapped): from now on its FP registers are its own, saved and restored
/// with it. They start at zero; the CPU's registers still hold whatever
/// thread used them last. Returns `false`, changing nothing, if the kernel
/// heap is down to its reserve (the caller ends the process).
pub fn fp_first_use() -> bool {
    if !crate::mm::heap_has_room() {
        return false;
    }
    with_current(|t| {
        let mut inner = t.lock();
        let fp = inner.ctx.fp.get_or_insert_with(|| alloc::boxed::Box::new(arch::FpState::ZERO));
        arch::restore_fp(fp);
        arch::fp_access(true);
    });
    true
}

/// Pick another thread at this CPU's next exception return.
pub fn request_resched() {
    set_need_resched(cpu_id());
}

/// Timer tick on this CPU: charge the running thread (its time slice, and
/// a tick of CPU time to its process) and wake sleepers whose time has
/// come. Returns when this CPU's timer should fire next: in a tick while a
/// thread runs here, else at the first sleeper's time or never (tickless
/// idle: an idle CPU takes no interrupt it does not need).
pub fn tick() -> arch::timer::Plan {
    let cpu = cpu_id();
    let mut timed_out = Vec::new();
    let running = {
        let mut s = SCHED.lock();
        let c = &mut s.cpus[cpu];
        let cur = current_of(cpu);
        if let Some(t) = &*cur {
            t.group.charge_tick();
            c.slice = c.slice.saturating_sub(1);
            if c.slice == 0 {
                set_need_resched(cpu);
            }
        }
        let running = cur.is_some();
        drop(cur);
        // Every CPU looks, not only one: any of them may be the only one
        // whose timer runs.
        if !s.sleepers.is_empty() {
            let now = arch::timer::ticks();
            while let Some(first) = s.sleepers.first_entry() {
                if first.key().0 > now {
                    break;
                }
                timed_out.push(first.remove());
            }
        }
        running
    };
    for sl in timed_out {
        if let Some(f) = sl.on_timeout {
            f(&sl.thread);
        }
        wake(&sl.thread, sl.result);
    }
    // A thread woken onto this idle CPU is picked at this exception's
    // return, and `switch` starts the tick again then.
    // A CPU that has not entered the scheduler yet (the boot CPU during
    // its self-tests) keeps the plain periodic tick.
    if running || fast_of(cpu).need_resched.load(Relaxed) || !fast_of(cpu).started.load(Relaxed) {
        arch::timer::Plan::Periodic
    } else {
        SCHED.lock().idle_plan()
    }
}

impl Sched {
    /// The timer plan of a CPU about to idle: wake for the first sleeper.
    fn idle_plan(&self) -> arch::timer::Plan {
        // Keyed by (wake-up tick, thread): the first is the earliest.
        match self.sleepers.keys().next() {
            Some(&(t, _)) => arch::timer::Plan::At(t),
            None => arch::timer::Plan::Off,
        }
    }
}

/// Forget queued threads that have exited (after a cap_group exit; `exited`
/// are its threads), and make CPUs running one of them reschedule.
pub fn prune(exited: &[Arc<Thread>]) {
    let mut s = SCHED.lock();
    let online = s.online;
    for (i, c) in s.cpus[..online].iter_mut().enumerate() {
        c.queue.retain(|t| t.lock().state != ThreadState::Exited);
        if current_of(i).as_ref().is_some_and(|t| t.lock().state == ThreadState::Exited) {
            set_need_resched(i);
            // Now, not at its next tick: its memory is about to go.
            if i != cpu_id() && fast_of(i).started.load(Relaxed) {
                crate::plat::send_ipi(i);
            }
        }
    }
    // Only the threads that just ended can be in the sleeper list for
    // nothing: take them out by key (a walk over every sleeper made each
    // exit cost as much as the number of sleeping processes).
    for t in exited {
        let mut inner = t.lock();
        if core::mem::replace(&mut inner.timed, false) {
            s.sleepers.remove(&(inner.wake_at, t.header.id));
        }
    }
}

/// Suspend `t`: it stops at its next scheduling point and stays off every
/// CPU until [`resume`].
pub fn suspend(t: &Arc<Thread>) {
    let mut s = SCHED.lock();
    let mut inner = t.lock();
    inner.suspended = true;
    match inner.state {
        ThreadState::Ready => {
            inner.state = ThreadState::Suspended;
            let cpu = inner.cpu;
            drop(inner);
            s.cpus[cpu].queue.retain(|x| !Arc::ptr_eq(x, t));
        }
        ThreadState::Running => set_need_resched(inner.cpu),
        _ => {}
    }
}

/// Undo [`suspend`].
pub fn resume(t: &Arc<Thread>) {
    let mut s = SCHED.lock();
    let mut inner = t.lock();
    inner.suspended = false;
    if inner.state == ThreadState::Suspended {
        drop(inner);
        s.enqueue(t.clone(), None);
    }
}

/// Change where `t` may run; a queued thread moves at once, a running one at
/// its next scheduling point.
pub fn set_affinity(t: &Arc<Thread>, cpu: Option<usize>) -> Result<(), chcore_abi::Error> {
    let mut s = SCHED.lock();
    if cpu.is_some_and(|c| c >= s.online) {
        return Err(chcore_abi::Error::InvalidArgument);
    }
    let mut inner = t.lock();
    inner.affinity = cpu;
    match inner.state {
        ThreadState::Ready if cpu.is_some_and(|c| c != inner.cpu) => {
            let from = inner.cpu;
            drop(inner);
            s.cpus[from].queue.retain(|x| !Arc::ptr_eq(x, t));
            s.enqueue(t.clone(), None);
        }
        ThreadState::Running if cpu.is_some_and(|c| c != inner.cpu) => set_need_resched(inner.cpu),
        _ => {}
    }
    Ok(())
}

/// CPUs the scheduler uses.
pub fn online() -> usize {
    SCHED.lock().online
}

/// Called once all CPUs are up.
pub fn set_online(n: usize) {
    SCHED.lock().online = n.clamp(1, MAX_CPUS);
}

/// Where an idle CPU waits: EL1 with IRQs unmasked, not holding the big lock.
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

/// Leave initialisation on this CPU: run a thread or idle. The caller holds
/// the big kernel lock; it is released on the way out.
pub fn start() -> ! {
    let mut frame = idle_frame();
    fast_here().started.store(true, Relaxed);
    set_need_resched(cpu_id());
    let next = on_exception_return(&mut frame);
    crate::bkl::release();
    // SAFETY: `next` is `frame` (this function's local, which stays put:
    // we never return) or the next thread's saved frame, which stays valid
    // and unchanged until this CPU's next exception (see `switch`).
    unsafe { arch::return_to(next) }
}

/// Switch threads on this CPU if needed before returning through `frame`;
/// returns the frame to leave through (see [`switch`]).
#[inline(always)]
pub fn on_exception_return(frame: &mut TrapFrame) -> *const TrapFrame {
    if need_switch() {
        return switch(frame);
    }
    frame
}

/// Whether this CPU is to switch threads before it returns to user space.
/// The common case is no: nothing asked for a switch (see `Fast` for why
/// the running thread is then still runnable).
#[inline(always)]
pub fn need_switch() -> bool {
    let fast = fast_here();
    fast.need_resched.load(Relaxed) && fast.started.load(Relaxed)
}

/// Put the current thread back (in a queue, or nowhere if it blocked or
/// ended; `frame` must hold all of its registers) and make the next one
/// current. Returns the frame to leave the exception through: the next
/// thread's saved registers where they lie (copying them to the stack first
/// would cost as much again), or `frame`, set to the idle loop.
///
/// The returned pointer stays valid and its frame unchanged until this
/// CPU's next exception: the thread is this CPU's `current` (that `Arc`
/// keeps it alive until this CPU switches again), and nothing writes the
/// saved frame of a running thread (wake-ups write only blocked threads').
#[inline(never)]
pub fn switch(frame: &mut TrapFrame) -> *const TrapFrame {
    let cpu = cpu_id();
    let fast = fast_of(cpu);
    fast.need_resched.store(false, Relaxed);
    let mut s = SCHED.lock();
    let prev = current_of(cpu).take();
    if let Some(p) = &prev {
        let mut inner = p.lock();
        if inner.state != ThreadState::Exited {
            save_here(&mut inner, frame);
        }
        inner.on_cpu = false;
        if inner.state == ThreadState::Running {
            if !inner.suspended && inner.affinity.is_none_or(|a| a == cpu) {
                // The common case (a yield, a slice used up): back to the
                // end of this CPU's queue. No one to preempt: we are about
                // to pick.
                inner.state = ThreadState::Ready;
                let prio = inner.prio;
                drop(inner);
                s.cpus[cpu].queue.push(prio, p.clone());
            } else {
                // Into another CPU's queue, or, if suspension was asked
                // for, into none.
                drop(inner);
                s.enqueue(p.clone(), None);
            }
        }
    }
    let direct = s.cpus[cpu].direct.take().filter(|t| t.lock().state == ThreadState::Ready);
    let next = direct.or_else(|| s.pick(cpu));
    if !same_thread(&prev, &next) {
        crate::stats::switch();
    }
    let out: *const TrapFrame = match next {
        Some(t) => {
            if prev.is_none() {
                // Out of idle: time slices count again.
                crate::stats::idle_end();
                arch::timer::set(arch::timer::Plan::Periodic);
            }
            let out = run_here(&t, cpu);
            *current_of(cpu) = Some(t);
            s.cpus[cpu].slice = SLICE_TICKS;
            out
        }
        None => {
            fast.current.store(core::ptr::null_mut(), Relaxed);
            // Nothing to run: stop translating user addresses (the previous
            // address space may be freed once `prev` drops), stop the tick
            // unless a sleeper is due, and wait.
            arch::mmu::disable_lower_half();
            crate::stats::idle_start();
            arch::timer::set(s.idle_plan());
            *frame = idle_frame();
            frame
        }
    };
    drop(s);
    // `prev` may hold the last reference to an exited thread: drop it with
    // the scheduler unlocked.
    drop(prev);
    out
}

fn same_thread(a: &Option<Arc<Thread>>, b: &Option<Arc<Thread>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// Make `t` the thread running on `cpu` (the caller holds the scheduler
/// lock and puts `t` in `current`): its FP registers and address space are
/// loaded. Returns its saved frame, to leave the exception through.
#[inline(always)]
fn run_here(t: &Arc<Thread>, cpu: usize) -> *const TrapFrame {
    let out = enter(&mut t.lock(), cpu);
    arch::mmu::switch_user(t.group.vmspace.ttbr0());
    fast_of(cpu).current.store(Arc::as_ptr(t).cast_mut(), Relaxed);
    out
}

/// The part of [`run_here`] under `t`'s lock (held by the caller as `inner`).
#[inline(always)]
fn enter(inner: &mut ThreadInner, cpu: usize) -> *const TrapFrame {
    inner.state = ThreadState::Running;
    inner.cpu = cpu;
    inner.on_cpu = true;
    if let Some(fp) = &inner.ctx.fp {
        arch::restore_fp(fp);
    }
    arch::fp_access(inner.ctx.fp.is_some());
    &inner.ctx.frame as *const TrapFrame
}

/// The part of [`run_here`] after `t`'s lock, for the IPC paths (from one
/// user thread to another): its address space, and the lock-free pointer
/// to this CPU's thread.
#[inline(always)]
fn switch_to(t: &Arc<Thread>, cpu: usize) {
    arch::mmu::switch_user_from_user(t.group.vmspace.ttbr0());
    fast_of(cpu).current.store(Arc::as_ptr(t).cast_mut(), Relaxed);
}

/// Whether `t` (locked as `inner`), blocked, may be switched to on `cpu`
/// right away, as the IPC fast path does: not suspended, not in the
/// sleeper list, allowed on this CPU, and saved by the CPU it last ran on.
#[inline(always)]
fn runnable_here(inner: &ThreadInner, cpu: usize) -> bool {
    inner.state == ThreadState::Blocked
        && !inner.on_cpu
        && !inner.suspended
        && !inner.timed
        && inner.affinity.is_none_or(|a| a == cpu)
}

/// Block the thread running on this CPU (`inner`, locked) for an IPC; it
/// is off the CPU at once (the caller saved it, or it is a handler, whose
/// registers are not kept).
#[inline(always)]
fn block_here(inner: &mut ThreadInner) {
    inner.state = ThreadState::Blocked;
    inner.timed = false;
    inner.on_cpu = false;
}

/// Keep the registers of the thread running on this CPU (`inner`, locked):
/// `frame` holds all of them.
#[inline(always)]
fn save_here(inner: &mut ThreadInner, frame: &TrapFrame) {
    inner.ctx.frame.copy_from(frame);
    inner.ctx.clean = false;
    if let Some(fp) = &mut inner.ctx.fp {
        arch::save_fp(fp);
    }
}

/// The IPC fast path's call (see `connection::fast_call_path`): the running
/// thread blocks as `handler`'s caller and `handler`, idle, runs on this
/// CPU at once: no run queue, no pick, and the time slice carries over
/// (the call's work is done on the caller's time, as in seL4). `start`
/// sets the handler's registers up for the call. One trip through this
/// CPU's `Current` lock, the handler's lock and the caller's (in that
/// order, as [`ipc_return_switch`]; no big kernel lock, no scheduler lock); the caller's reference moves from the CPU to
/// the handler, the handler's from `handler` to the CPU: no reference
/// count changes. Returns the frame to leave through, or `None`, having
/// changed nothing, when the handler is not idle and free to run here.
///
/// The caller has checked that no switch is pending (`need_switch`).
#[inline(always)]
pub fn ipc_call_switch(frame: &TrapFrame, handler: Arc<Thread>, start: &HandlerStart) -> Option<*const TrapFrame> {
    let cpu = cpu_id();
    let mut current = current_of(cpu);
    let mut h = handler.lock();
    let idle = h.handler.as_ref().is_some_and(|i| i.caller.is_none());
    // The server's liveness is read under the handler's lock: a server that
    // ends clears it first, then takes this lock to wake any caller.
    if !idle || !runnable_here(&h, cpu) || !handler.group.is_alive() {
        return None;
    }
    {
        let client = current.as_ref()?;
        let mut ci = client.lock();
        // Ended (its process was killed on another CPU) or otherwise taken
        // off: the general path sorts it out.
        if ci.state != ThreadState::Running {
            return None;
        }
        block_here(&mut ci);
        save_here(&mut ci, frame);
    }
    let client = current.take()?;
    let info = h.handler.as_mut()?;
    // `caller` was found empty above under the same lock: forgetting the
    // old value skips a reference-count check for nothing.
    core::mem::forget(info.caller.replace(client));
    start.apply(&mut h.ctx);
    let out = enter(&mut h, cpu);
    drop(h);
    switch_to(&handler, cpu);
    *current = Some(handler);
    crate::stats::switch();
    Some(out)
}

/// The IPC fast path's return: the running thread, a handler, ends its
/// call and its caller runs on this CPU at once, with `load` applied to
/// its saved frame. The handler is not saved: it starts afresh at its
/// entry point next time. Locks as [`ipc_call_switch`]; the caller's
/// reference moves from the handler to the CPU. Returns `None`, having
/// changed nothing, unless the running thread is a handler with a caller
/// that is alive, blocked and free to run here.
#[inline(always)]
pub fn ipc_return_switch(load: impl FnOnce(&mut TrapFrame)) -> Option<*const TrapFrame> {
    let cpu = cpu_id();
    let mut current = current_of(cpu);
    let handler = current.as_ref()?;
    let mut h = handler.lock();
    // Ended on another CPU (its server was killed): not ours to revive.
    if h.state != ThreadState::Running {
        return None;
    }
    let info = h.handler.as_mut()?;
    // A caller means a live connection (a connection that goes takes its
    // caller away); without one, the general path answers or cleans up.
    let client = info.caller.as_ref()?;
    let out = {
        let mut ci = client.lock();
        if !runnable_here(&ci, cpu) || !client.group.is_alive() {
            return None;
        }
        load(&mut ci.ctx.frame);
        enter(&mut ci, cpu)
    };
    let client = info.caller.take()?;
    block_here(&mut h);
    drop(h);
    switch_to(&client, cpu);
    let prev = current.replace(client);
    drop(current);
    crate::stats::switch();
    // The handler had a caller, so its connection lives and holds it too:
    // not the last reference; dropped unlocked all the same, as `switch`
    // does.
    drop(prev);
    Some(out)
}

/// Scheduler self-tests (the ChCore lab names), on the live scheduler's
/// state and on a private instance of the same code.
#[cfg(feature = "selftest")]
pub mod selftest {
    use super::*;
    use crate::object::cap_group::{CapGroup, GroupState};
    use crate::selftest::TestResult;
    use alloc::format;

    /// Every online CPU is set up: secondaries idle in the scheduler, the
    /// boot CPU not started yet, no work queued anywhere.
    pub fn meta() -> TestResult {
        let s = SCHED.lock();
        let online = crate::smp::online();
        if s.online != online || online == 0 || online > MAX_CPUS {
            return Err(format!("scheduler uses {} CPUs, {online} are online", s.online));
        }
        for (i, c) in s.cpus.iter().enumerate() {
            let want_started = i > 0 && i < online;
            let started = fast_of(i).started.load(Relaxed);
            if started != want_started {
                return Err(format!("CPU {i} started = {started}, expected {want_started}"));
            }
            if !c.queue.is_empty() || c.direct.is_some() || (i > 0 && current_of(i).is_some()) {
                return Err(format!("CPU {i} has work before any thread exists"));
            }
        }
        Ok(())
    }

    fn threads(n: usize) -> Result<(Arc<CapGroup>, Vec<Arc<Thread>>), alloc::string::String> {
        let g = CapGroup::new("sched-test", chcore_abi::Rights::ALL).map_err(|e| format!("cap_group: {e:?}"))?;
        let ts = (0..n)
            .map(|_| Thread::charged(&g, 0x40_0000, 0x80_0000, 0))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("thread: {e:?}"))?;
        Ok((g, ts))
    }

    /// New threads spread over the CPUs, pinned ones go where they are
    /// pinned, exited and suspended ones go nowhere.
    pub fn enqueue() -> TestResult {
        let (g, ts) = threads(11)?;
        let mut s = Sched::new();
        s.online = 4;
        for t in &ts[..8] {
            s.enqueue(t.clone(), None);
        }
        let lens: Vec<usize> = s.cpus[..4].iter().map(|c| c.queue.len()).collect();
        let result = (|| {
            if lens != [2, 2, 2, 2] {
                return Err(format!("8 threads spread as {lens:?}"));
            }
            ts[8].lock().affinity = Some(2);
            s.enqueue(ts[8].clone(), None);
            if s.cpus[2].queue.len() != 3 || ts[8].lock().cpu != 2 {
                return Err("a thread pinned to CPU 2 went elsewhere".into());
            }
            ts[9].lock().state = ThreadState::Exited;
            s.enqueue(ts[9].clone(), None);
            ts[10].lock().suspended = true;
            s.enqueue(ts[10].clone(), None);
            let total: usize = s.cpus.iter().map(|c| c.queue.len()).sum();
            if total != 9 || ts[10].lock().state != ThreadState::Suspended {
                return Err("an exited or suspended thread was queued".into());
            }
            if ts[..9].iter().any(|t| t.lock().state != ThreadState::Ready) {
                return Err("a queued thread is not ready".into());
            }
            Ok(())
        })();
        drop(s);
        drop(g.exit(GroupState::Exited(0)));
        result
    }

    /// Highest priority first, first come first served within a priority;
    /// an idle CPU takes queued work from another, but never a pinned thread.
    pub fn dequeue() -> TestResult {
        let (g, ts) = threads(5)?;
        let mut s = Sched::new();
        s.online = 2;
        let prios = [10u8, 200, 10, 200, 50];
        for (t, &p) in ts.iter().zip(&prios) {
            t.lock().prio = p;
            t.lock().affinity = Some(0);
            s.enqueue(t.clone(), None);
        }
        let result = (|| {
            let order: Vec<usize> = core::iter::from_fn(|| s.pick(0))
                .map(|t| ts.iter().position(|x| Arc::ptr_eq(x, &t)).unwrap_or(99))
                .collect();
            if order != [1, 3, 4, 0, 2] {
                return Err(format!("picked in order {order:?}, expected [1, 3, 4, 0, 2]"));
            }
            for t in &ts {
                t.lock().state = ThreadState::Blocked;
            }
            // Two unpinned and one pinned thread queued on CPU 0: CPU 1 may
            // take only the unpinned ones.
            ts[0].lock().affinity = None;
            ts[1].lock().affinity = None;
            for t in &ts[..3] {
                s.enqueue(t.clone(), Some(0));
            }
            let stolen: Vec<usize> = core::iter::from_fn(|| s.pick(1))
                .map(|t| ts.iter().position(|x| Arc::ptr_eq(x, &t)).unwrap_or(99))
                .collect();
            if stolen.len() != 2 || stolen.contains(&2) {
                return Err(format!("CPU 1 took {stolen:?} from CPU 0 (thread 2 is pinned there)"));
            }
            ts[2].lock().state = ThreadState::Exited;
            if s.pick(0).is_some() {
                return Err("an exited thread was picked".into());
            }
            Ok(())
        })();
        drop(s);
        drop(g.exit(GroupState::Exited(0)));
        result
    }
}
