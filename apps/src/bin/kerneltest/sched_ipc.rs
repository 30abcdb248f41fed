//! User-level tests of scheduling, notifications and IPC.
//!
//! The IPC tests start servers and clients as copies of this program in new
//! cap_groups (`libchcore::spawn`), so every call crosses address spaces.

use alloc::format;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use libchcore::abi::{group_state, slot, Syscall};
use libchcore::ipc::{self, Reply, Request};
use libchcore::testing::TestResult;
use libchcore::{check, spawn, sys, Error, PmoKind, Rights};

fn err(what: &'static str) -> impl Fn(Error) -> alloc::string::String {
    move |e| format!("{what}: {e:?}")
}

/// A new thread of this cap_group running `f(arg)`.
pub fn thread(f: extern "C" fn(u64) -> !, arg: u64) -> Result<u64, alloc::string::String> {
    libchcore::thread::spawn(f, arg).map_err(err("spawn thread"))
}

fn pin_self(cpu: Option<u64>) -> TestResult {
    sys::set_affinity(slot::CURRENT_THREAD, cpu).map_err(err("set_affinity"))?;
    sys::yield_now();
    Ok(())
}

// ---------------------------------------------------------------- scheduling

const ROUNDS: usize = 20;
static COOP_LOG: [AtomicU64; 3 * ROUNDS] = [const { AtomicU64::new(0) }; 3 * ROUNDS];
static COOP_POS: AtomicUsize = AtomicUsize::new(0);
static COOP_GO: AtomicBool = AtomicBool::new(false);
static DONE: AtomicU64 = AtomicU64::new(0);

static COOP_READY: AtomicU64 = AtomicU64::new(0);

extern "C" fn coop_worker(id: u64) -> ! {
    let _ = sys::set_affinity(slot::CURRENT_THREAD, Some(0));
    sys::yield_now();
    COOP_READY.fetch_add(1, Ordering::SeqCst);
    while !COOP_GO.load(Ordering::SeqCst) {
        sys::yield_now();
    }
    for _ in 0..ROUNDS {
        let p = COOP_POS.fetch_add(1, Ordering::SeqCst);
        COOP_LOG[p].store(id, Ordering::SeqCst);
        sys::yield_now();
    }
    DONE.fetch_add(1, Ordering::SeqCst);
    sys::thread_exit()
}

pub fn cooperative() -> TestResult {
    pin_self(Some(0))?;
    DONE.store(0, Ordering::SeqCst);
    for id in 1..=3 {
        thread(coop_worker, id)?;
    }
    let t0 = sys::get_tick();
    // All three must be in CPU 0's queue before the rounds start.
    while COOP_READY.load(Ordering::SeqCst) < 3 {
        sys::yield_now();
        check!(sys::get_tick() - t0 < 1000, "workers never reached CPU 0");
    }
    COOP_GO.store(true, Ordering::SeqCst);
    while DONE.load(Ordering::SeqCst) < 3 {
        sys::yield_now();
        check!(sys::get_tick() - t0 < 1000, "workers did not finish");
    }
    pin_self(None)?;
    let log: alloc::vec::Vec<u64> = COOP_LOG.iter().map(|x| x.load(Ordering::SeqCst)).collect();
    for id in 1..=3 {
        check!(
            log.iter().filter(|&&x| x == id).count() == ROUNDS,
            "worker {id} ran the wrong number of rounds: {log:?}"
        );
    }
    // While all three take turns (from when the last one starts to when the
    // first one finishes), a yield always hands the CPU to another worker,
    // and no worker gets ahead of another by more than a round or two (the
    // timer may also preempt a worker, which reorders a round but not more).
    let start = (1..=3).map(|id| log.iter().position(|&x| x == id).unwrap_or(0)).max().unwrap_or(0);
    let end = (1..=3).map(|id| log.iter().rposition(|&x| x == id).unwrap_or(0)).min().unwrap_or(0);
    check!(end > start + 3, "the workers hardly overlapped: {log:?}");
    check!(log[start..=end].windows(2).all(|w| w[0] != w[1]), "a yielding thread ran twice in a row: {log:?}");
    let mut counts = [0i64; 4];
    for &id in &log[..=end] {
        counts[id as usize] += 1;
        let (lo, hi) = (counts[1..].iter().min().unwrap_or(&0), counts[1..].iter().max().unwrap_or(&0));
        check!(hi - lo <= 2 || counts[1..].contains(&0), "unfair turns: {log:?}");
    }
    libchcore::println!("Cooperative Scheduling Test Done!");
    Ok(())
}

static SPIN_COUNT: AtomicU64 = AtomicU64::new(0);
static SPIN_STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn spinner(_: u64) -> ! {
    let _ = sys::set_affinity(slot::CURRENT_THREAD, Some(0));
    sys::yield_now();
    while !SPIN_STOP.load(Ordering::SeqCst) {
        SPIN_COUNT.fetch_add(1, Ordering::SeqCst);
    }
    DONE.fetch_add(1, Ordering::SeqCst);
    sys::thread_exit()
}

pub fn preemptive() -> TestResult {
    pin_self(Some(0))?;
    DONE.store(0, Ordering::SeqCst);
    thread(spinner, 0)?;
    // Neither thread yields from here: only the timer can let the other run.
    let t0 = sys::get_tick();
    while SPIN_COUNT.load(Ordering::SeqCst) < 1000 {
        check!(sys::get_tick() - t0 < 1000, "the spinner never ran");
    }
    SPIN_STOP.store(true, Ordering::SeqCst);
    while DONE.load(Ordering::SeqCst) < 1 {
        check!(sys::get_tick() - t0 < 1000, "the spinner never stopped");
    }
    pin_self(None)?;
    libchcore::println!("Preemptive Scheduling Test Done!");
    Ok(())
}

static PRIO_LOG: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
static PRIO_POS: AtomicUsize = AtomicUsize::new(0);
static PRIO_READY: AtomicU64 = AtomicU64::new(0);
static PRIO_GO: AtomicU64 = AtomicU64::new(0);

extern "C" fn prio_worker(id: u64) -> ! {
    // Once the test has moved us to CPU 0, block until it says go. (Not a
    // yield loop: the higher-priority worker would never let the other run.)
    while !(sys::cpu_id() == 0 && sys::get_affinity(slot::CURRENT_THREAD) == Ok(Some(0))) {
        sys::yield_now();
    }
    PRIO_READY.fetch_add(1, Ordering::SeqCst);
    let _ = sys::wait(PRIO_GO.load(Ordering::SeqCst), None);
    let p = PRIO_POS.fetch_add(1, Ordering::SeqCst);
    PRIO_LOG[p].store(id, Ordering::SeqCst);
    DONE.fetch_add(1, Ordering::SeqCst);
    sys::thread_exit()
}

pub fn priorities() -> TestResult {
    pin_self(Some(0))?;
    DONE.store(0, Ordering::SeqCst);
    // Keep both workers off the CPU until both are ready to go.
    sys::set_priority(slot::CURRENT_THREAD, 250).map_err(err("set_priority"))?;
    let go = sys::create_notification().map_err(err("create_notification"))?;
    PRIO_GO.store(go, Ordering::SeqCst);
    let low = thread(prio_worker, 10)?;
    let high = thread(prio_worker, 200)?;
    for (t, p) in [(low, 10), (high, 200)] {
        sys::set_affinity(t, Some(0)).map_err(err("set_affinity"))?;
        sys::set_priority(t, p).map_err(err("set_priority"))?;
    }
    check!(sys::get_affinity(low) == Ok(Some(0)), "affinity not reported");
    let t0 = sys::get_tick();
    while PRIO_READY.load(Ordering::SeqCst) < 2 {
        sys::sleep(1);
        check!(sys::get_tick() - t0 < 1000, "workers never reached CPU 0");
    }
    // Wake both; while this thread (priority 250) runs they wait in CPU 0's
    // queue, and when it blocks the high-priority one must run first.
    sys::notify(go).map_err(err("notify"))?;
    sys::notify(go).map_err(err("notify"))?;
    sys::set_priority(slot::CURRENT_THREAD, 128).map_err(err("set_priority"))?;
    while DONE.load(Ordering::SeqCst) < 2 {
        sys::sleep(1);
        check!(sys::get_tick() - t0 < 1000, "workers did not run");
    }
    pin_self(None)?;
    let order = [PRIO_LOG[0].load(Ordering::SeqCst), PRIO_LOG[1].load(Ordering::SeqCst)];
    check!(order == [200, 10], "ran in order {order:?}, expected the high priority first");
    check!(sys::set_priority(slot::SELF_VMSPACE, 1) == Err(Error::WrongType), "set the priority of a vmspace");
    sys::cap_delete(go).map_err(err("delete"))?;
    Ok(())
}

pub fn sleep_and_affinity() -> TestResult {
    let t0 = sys::get_tick();
    sys::sleep(5);
    let dt = sys::get_tick() - t0;
    check!((5..100).contains(&dt), "sleep(5) took {dt} ticks");
    let n = sys::cpu_count();
    for cpu in 0..n {
        pin_self(Some(cpu))?;
        check!(sys::cpu_id() == cpu, "pinned to CPU {cpu} but running on {}", sys::cpu_id());
        check!(sys::get_affinity(slot::CURRENT_THREAD) == Ok(Some(cpu)), "affinity not reported");
    }
    pin_self(None)?;
    check!(
        sys::set_affinity(slot::CURRENT_THREAD, Some(n)) == Err(Error::InvalidArgument),
        "pinning to a missing CPU accepted"
    );
    check!(sys::get_affinity(slot::CURRENT_THREAD) == Ok(None), "unpinning not reported");
    check!(sys::set_affinity(slot::SELF_VMSPACE, Some(0)) == Err(Error::WrongType), "a vmspace is not a thread");
    Ok(())
}

static COUNTER: AtomicU64 = AtomicU64::new(0);
static COUNTER_STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn counter(_: u64) -> ! {
    while !COUNTER_STOP.load(Ordering::SeqCst) {
        COUNTER.fetch_add(1, Ordering::SeqCst);
        sys::yield_now();
    }
    DONE.fetch_add(1, Ordering::SeqCst);
    sys::thread_exit()
}

pub fn suspend_resume() -> TestResult {
    DONE.store(0, Ordering::SeqCst);
    let t = thread(counter, 0)?;
    sys::sleep(2);
    sys::suspend(t).map_err(err("suspend"))?;
    sys::sleep(2);
    let c1 = COUNTER.load(Ordering::SeqCst);
    sys::sleep(3);
    let c2 = COUNTER.load(Ordering::SeqCst);
    check!(c1 == c2, "a suspended thread kept counting ({c1} -> {c2})");
    sys::resume(t).map_err(err("resume"))?;
    sys::sleep(3);
    check!(COUNTER.load(Ordering::SeqCst) > c2, "a resumed thread did not run");
    COUNTER_STOP.store(true, Ordering::SeqCst);
    let t0 = sys::get_tick();
    while DONE.load(Ordering::SeqCst) < 1 {
        sys::sleep(1);
        check!(sys::get_tick() - t0 < 1000, "counter did not stop");
    }
    Ok(())
}

// ------------------------------------------------------------- notifications

const ITEMS: u64 = 200;
static RING: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
static NOTES: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];

extern "C" fn producer(_: u64) -> ! {
    let (items, spaces) = (NOTES[0].load(Ordering::SeqCst), NOTES[1].load(Ordering::SeqCst));
    for i in 0..ITEMS {
        if sys::wait(spaces, None).is_err() {
            break;
        }
        RING[(i % 8) as usize].store(i + 1, Ordering::SeqCst);
        let _ = sys::notify(items);
    }
    sys::thread_exit()
}

pub fn producer_consumer() -> TestResult {
    let items = sys::create_notification().map_err(err("create_notification"))?;
    let spaces = sys::create_notification().map_err(err("create_notification"))?;
    check!(sys::wait(items, Some(0)) == Err(Error::Again), "polling an empty notification did not say Again");
    let t0 = sys::get_tick();
    check!(sys::wait(items, Some(3)) == Err(Error::Timeout), "a timed wait did not time out");
    check!(sys::get_tick() - t0 >= 3, "timed out early");
    check!(sys::wait(slot::SELF_VMSPACE, Some(0)) == Err(Error::WrongType), "waited on a vmspace");
    check!(sys::notify(99_999) == Err(Error::BadSlot), "notified an empty slot");
    for _ in 0..8 {
        sys::notify(spaces).map_err(err("notify"))?;
    }
    NOTES[0].store(items, Ordering::SeqCst);
    NOTES[1].store(spaces, Ordering::SeqCst);
    thread(producer, 0)?;
    for i in 0..ITEMS {
        sys::wait(items, Some(1000)).map_err(err("wait for an item"))?;
        let v = RING[(i % 8) as usize].load(Ordering::SeqCst);
        check!(v == i + 1, "item {i} read as {v}");
        sys::notify(spaces).map_err(err("notify"))?;
    }
    sys::cap_delete(items).map_err(err("delete"))?;
    sys::cap_delete(spaces).map_err(err("delete"))?;
    Ok(())
}

// ----------------------------------------------------------------------- IPC

const OP_ECHO: u64 = 0;
const OP_SUM_DATA: u64 = 1;
const OP_CAPS: u64 = 2;
const OP_EXIT: u64 = 3;
const OP_SLOW: u64 = 4;

fn handle(req: &mut Request) -> Reply {
    let [op, a, b, c] = req.words;
    match op {
        OP_ECHO => Reply { ret: (a + b + c) as i64, words: [a, b, c] },
        OP_SUM_DATA => {
            let n = (a as usize).min(req.data.len());
            let sum: u64 = req.data[..n].iter().map(|&x| x as u64).sum();
            req.data[..n].reverse();
            Reply { ret: sum as i64, words: [n as u64, 0, 0] }
        }
        OP_CAPS => {
            let Some(&given) = req.caps.first() else {
                return Reply { ret: Error::InvalidArgument.to_result(), words: [0; 3] };
            };
            let ok = sys::write_pmo(given, 0, b"server was here").is_ok();
            let Ok(mine) = sys::create_pmo(4096, PmoKind::Anonym) else {
                return Reply { ret: Error::NoMemory.to_result(), words: [0; 3] };
            };
            let _ = sys::write_pmo(mine, 0, b"a gift");
            if req.reply_cap(mine, Rights::READ.union(Rights::COPY)).is_err() {
                return Reply { ret: Error::TableFull.to_result(), words: [0; 3] };
            }
            Reply { ret: if ok { 0 } else { Error::NoRights.to_result() }, words: [req.caps.len() as u64, 0, 0] }
        }
        OP_EXIT => sys::exit(0),
        OP_SLOW => {
            sys::sleep(a);
            Reply { ret: 7, words: [0; 3] }
        }
        _ => Reply { ret: Error::InvalidArgument.to_result(), words: [0; 3] },
    }
}

extern "C" fn server_main(_: u64) -> ! {
    ipc::serve_forever(handle, 64)
}

static SERVER: AtomicU64 = AtomicU64::new(u64::MAX);

fn server() -> Result<u64, alloc::string::String> {
    let s = SERVER.load(Ordering::SeqCst);
    if s != u64::MAX {
        return Ok(s);
    }
    let (group, _) = spawn::spawn_self("ipc-server", server_main, 0, |_| Ok(())).map_err(err("spawn server"))?;
    SERVER.store(group, Ordering::SeqCst);
    Ok(group)
}

pub fn ipc_registers() -> TestResult {
    let mut c = ipc::connect(server()?).map_err(err("connect"))?;
    let a = c.call([OP_ECHO, 1, 2, 3], &[], &mut []).map_err(err("call"))?;
    check!(a.ret == 6 && a.words == [1, 2, 3], "echo answered {a:?}");
    for i in 0..100u64 {
        let a = c.call([OP_ECHO, i, i * 2, i * 3], &[], &mut []).map_err(err("call"))?;
        check!(a.ret == (i * 6) as i64, "call {i} answered {a:?}");
    }
    Ok(())
}

fn data_round(c: &mut ipc::Connection, n: usize) -> TestResult {
    let data = c.data();
    for (i, b) in data[..n].iter_mut().enumerate() {
        *b = (i * 7 + n) as u8;
    }
    let want: u64 = data[..n].iter().map(|&x| x as u64).sum();
    let a = c.call([OP_SUM_DATA, n as u64, 0, 0], &[], &mut []).map_err(err("call"))?;
    check!(a.ret as u64 == want && a.words[0] == n as u64, "sum of {n} bytes: got {a:?}, want {want}");
    let data = c.data();
    check!((0..n).all(|i| data[i] == ((n - 1 - i) * 7 + n) as u8), "the server's reply in the buffer is wrong");
    Ok(())
}

pub fn ipc_data() -> TestResult {
    let mut c = ipc::connect(server()?).map_err(err("connect"))?;
    data_round(&mut c, 100)?;
    // Larger than any register message: most of the 16 KiB buffer.
    data_round(&mut c, 12_000)?;
    data_round(&mut c, libchcore::abi::ipc::DATA_MAX)?;
    Ok(())
}

pub fn ipc_caps() -> TestResult {
    let mut c = ipc::connect(server()?).map_err(err("connect"))?;
    let pmo = sys::create_pmo(4096, PmoKind::Anonym).map_err(err("create_pmo"))?;
    let mut back = [0u64; 1];
    let a = c
        .call([OP_CAPS, 0, 0, 0], &[(pmo, Rights::READ.union(Rights::WRITE).union(Rights::COPY))], &mut back)
        .map_err(err("call"))?;
    check!(a.ret == 0 && a.words[0] == 1, "server answered {a:?}");
    let mut b = [0u8; 15];
    sys::read_pmo(pmo, 0, &mut b).map_err(err("read"))?;
    check!(&b == b"server was here", "the server did not write through the capability we sent");
    let gift = back[0];
    let mut g = [0u8; 6];
    sys::read_pmo(gift, 0, &mut g).map_err(err("read the returned capability"))?;
    check!(&g == b"a gift", "the returned capability does not name the server's PMO");
    check!(sys::cap_info(gift).map(|x| x.1) == Ok(Rights::READ.union(Rights::COPY)), "returned rights not narrowed");
    // Rights are narrowed as the sender asks: read-only means the server cannot write.
    let a = c.call([OP_CAPS, 0, 0, 0], &[(pmo, Rights::READ.union(Rights::COPY))], &mut back);
    check!(a == Err(Error::NoRights), "a read-only capability was written through: {a:?}");
    // A capability without COPY cannot travel.
    let no_copy = sys::cap_copy(pmo, slot::SELF_CAP_GROUP, Rights::READ).map_err(err("copy"))?;
    let a = c.call([OP_CAPS, 0, 0, 0], &[(no_copy, Rights::READ)], &mut back);
    check!(a == Err(Error::NoRights), "a capability without COPY travelled: {a:?}");
    let too_many = [(pmo, Rights::READ); 9];
    check!(c.call([OP_ECHO, 0, 0, 0], &too_many, &mut []) == Err(Error::InvalidArgument), "nine capabilities accepted");
    for s in [pmo, gift, no_copy] {
        sys::cap_delete(s).map_err(err("delete"))?;
    }
    Ok(())
}

const CALLERS: u64 = 20;
const CALLS: u64 = 50;
static CALLERS_OK: AtomicU64 = AtomicU64::new(0);
static CALLERS_DONE: AtomicU64 = AtomicU64::new(0);

extern "C" fn caller(id: u64) -> ! {
    let ok = (|| -> Result<(), Error> {
        let mut c = ipc::connect(SERVER.load(Ordering::SeqCst))?;
        for i in 0..CALLS {
            let a = c.call([OP_ECHO, id, i, 1], &[], &mut [])?;
            if a.ret != (id + i + 1) as i64 || a.words != [id, i, 1] {
                return Err(Error::InvalidArgument);
            }
        }
        Ok(())
    })()
    .is_ok();
    if ok {
        CALLERS_OK.fetch_add(1, Ordering::SeqCst);
    }
    CALLERS_DONE.fetch_add(1, Ordering::SeqCst);
    sys::thread_exit()
}

pub fn ipc_concurrent() -> TestResult {
    server()?;
    for id in 0..CALLERS {
        thread(caller, id)?;
    }
    let t0 = sys::get_tick();
    while CALLERS_DONE.load(Ordering::SeqCst) < CALLERS {
        sys::sleep(1);
        check!(
            sys::get_tick() - t0 < 3000,
            "only {} of {CALLERS} callers finished",
            CALLERS_DONE.load(Ordering::SeqCst)
        );
    }
    let ok = CALLERS_OK.load(Ordering::SeqCst);
    check!(ok == CALLERS, "{ok} of {CALLERS} concurrent callers got every answer right");
    Ok(())
}

extern "C" fn slow_call(server_slot: u64) -> ! {
    if let Ok(mut c) = ipc::connect(server_slot) {
        let _ = c.call([OP_SLOW, 20, 0, 0], &[], &mut []);
    }
    sys::thread_exit()
}

extern "C" fn dying_client(server_slot: u64) -> ! {
    // One thread calls something slow; this one ends the process mid-call.
    if libchcore::thread::spawn(slow_call, server_slot).is_err() {
        sys::exit(5);
    }
    sys::sleep(5);
    sys::exit(0)
}

pub fn ipc_client_dies() -> TestResult {
    let srv = server()?;
    let (child, _) = spawn::spawn_self("dying-client", dying_client, 2, |g| {
        let s = spawn::give(g, srv, Rights::READ)?;
        // The child finds the server in the slot its thread argument names.
        if s != 2 {
            return Err(Error::InvalidArgument);
        }
        Ok(())
    })
    .map_err(err("spawn client"))?;
    let t0 = sys::get_tick();
    while sys::cap_group_state(child) == Ok(group_state::ALIVE) {
        sys::sleep(1);
        check!(sys::get_tick() - t0 < 1000, "the client never ended");
    }
    check!(
        sys::cap_group_state(child) == Ok(group_state::EXITED),
        "the client ended {:?}",
        sys::cap_group_state(child)
    );
    // The handler is still sleeping in the dead client's call; the server
    // must keep answering, during and after.
    let mut c = ipc::connect(srv).map_err(err("connect"))?;
    check!(c.call([OP_ECHO, 1, 1, 1], &[], &mut []).map(|a| a.ret) == Ok(3), "the server stopped answering");
    sys::sleep(30);
    check!(c.call([OP_ECHO, 2, 2, 2], &[], &mut []).map(|a| a.ret) == Ok(6), "the server stopped answering later");
    sys::cap_delete(child).map_err(err("delete"))?;
    Ok(())
}

/// Arm the EL1 physical timer (which EL0 may program) to fire in `ticks` counter ticks.
fn arm_phys_timer(ticks: u64) {
    // SAFETY: the kernel lets EL0 use the physical timer (CNTKCTL_EL1.EL0PTEN);
    // these writes only program it.
    unsafe { core::arch::asm!("msr cntp_tval_el0, {}", "msr cntp_ctl_el0, {}", in(reg) ticks, in(reg) 1u64) };
}

fn stop_phys_timer() {
    // SAFETY: as above; disabling the timer drops its interrupt.
    unsafe { core::arch::asm!("msr cntp_ctl_el0, xzr") };
}

pub fn irq_objects() -> TestResult {
    use libchcore::abi::irq;
    // The physical timer's interrupt is per CPU: stay on the CPU that registers it.
    pin_self(Some(0))?;
    let line = sys::irq_register(irq::VIRT_PHYS_TIMER)
        .or_else(|_| sys::irq_register(irq::RASPI3_PHYS_TIMER))
        .map_err(err("irq_register"))?;
    let result = (|| {
        check!(
            sys::irq_register(irq::VIRT_PHYS_TIMER).is_err() && sys::irq_register(irq::RASPI3_PHYS_TIMER).is_err(),
            "a taken line was given twice"
        );
        for round in 0..3 {
            arm_phys_timer(10_000);
            sys::irq_wait(line).map_err(|e| format!("round {round}: irq_wait: {e:?}"))?;
            // Quiet the device, then let the line through again.
            stop_phys_timer();
            sys::irq_ack(line).map_err(err("irq_ack"))?;
        }
        check!(sys::irq_wait(slot::SELF_VMSPACE) == Err(Error::WrongType), "waited on a vmspace");
        check!(sys::irq_register(u64::MAX) == Err(Error::InvalidArgument), "registered a line that does not exist");
        Ok(())
    })();
    stop_phys_timer();
    sys::cap_delete(line).map_err(err("delete"))?;
    pin_self(None)?;
    result?;
    // Released, the line can be taken again.
    let again = sys::irq_register(irq::VIRT_PHYS_TIMER).or_else(|_| sys::irq_register(irq::RASPI3_PHYS_TIMER));
    check!(again.is_ok(), "a released line could not be taken again");
    sys::cap_delete(again.unwrap_or(0)).map_err(err("delete"))?;
    Ok(())
}

pub fn ipc_server_dies() -> TestResult {
    let (doomed, _) = spawn::spawn_self("doomed-server", server_main, 0, |_| Ok(())).map_err(err("spawn server"))?;
    let mut c = ipc::connect(doomed).map_err(err("connect"))?;
    check!(c.call([OP_ECHO, 1, 2, 3], &[], &mut []).map(|a| a.ret) == Ok(6), "the doomed server did not answer");
    check!(
        c.call([OP_EXIT, 0, 0, 0], &[], &mut []) == Err(Error::PeerDead),
        "a call whose server died did not fail with PeerDead"
    );
    check!(c.call([OP_ECHO, 1, 2, 3], &[], &mut []) == Err(Error::PeerDead), "calls to a dead server do not fail");
    check!(sys::cap_group_state(doomed) == Ok(group_state::EXITED), "the server is not reported exited");
    // Misuse of the IPC calls.
    let (r, _) = sys::ipc_call(slot::SELF_VMSPACE, [0; 4], 0);
    check!(r == Error::WrongType.to_result(), "ipc_call on a vmspace: {r}");
    let (r, _) = sys::ipc_call(77_777, [0; 4], 0);
    check!(r == Error::BadSlot.to_result(), "ipc_call on an empty slot: {r}");
    check!(sys::register_client(slot::SELF_CAP_GROUP, 0x7000_0000) == Err(Error::Again), "connected to a non-server");
    let r = sys::raw(Syscall::IpcReturn, [0; 6]);
    check!(r == Error::InvalidArgument.to_result(), "ipc_return outside a handler: {r}");
    sys::cap_delete(c.slot).map_err(err("delete"))?;
    sys::cap_delete(doomed).map_err(err("delete"))?;
    Ok(())
}
