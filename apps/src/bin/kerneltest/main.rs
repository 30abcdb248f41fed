//! The kernel test suite: user-level tests of the kernel's system calls.
//! Each test checks that a call works, and that each way of misusing it (bad
//! slot, wrong type, missing right, bad pointer, bad range) returns its own
//! error. Children that fault show that the kernel ends only them.
//!
//! procmgr runs it first in the test and lab images, with the `DEVICE` right
//! (for the device PMO and IRQ tests), which programs started from the shell
//! never have: there those two tests report that they cannot run.
//!
//! Every test prints `[USERTEST] <name>: OK` or `FAILED: <why>`; the last
//! line counts them, and the exit status is the verdict.
#![no_std]
#![no_main]

extern crate alloc;

mod sched_ipc;

libchcore::entry!(run);

use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicU64, Ordering};
use libchcore::abi::{group_state, perm, slot};
use libchcore::sys;
use libchcore::{println, Error, ObjectType, PmoKind, Rights};
use sched_ipc as sched;

use libchcore::testing::TestResult;
use libchcore::{check, expect};

/// A named test.
type Test = (&'static str, fn() -> TestResult);

const TESTS: &[Test] = &[
    ("putstr", putstr),
    ("memcpy copies every length from every alignment", memcpy_lengths),
    ("putstr refuses bad pointers", putstr_bad_pointers),
    ("capability slots", cap_slots),
    ("PMO read and write", pmo_read_write),
    ("PMO calls refuse bad arguments", pmo_bad_arguments),
    ("a PMO charged to another cap_group: its limit, its usage", pmo_payer),
    ("kernel memory: charged to the maker, nested, limited, given back", kmem),
    ("rights narrow and are checked", rights),
    ("revoke removes derived capabilities", revoke),
    ("map, touch, protect, unmap", map_touch_unmap),
    ("map refuses bad arguments", map_bad_arguments),
    ("a user-level pager supplies pages; shared and private windows", pager),
    ("threads", threads),
    ("transfer moves a capability", transfer),
    ("device PMOs", || with_device(device_pmo)),
    ("DEVICE passes on only from a holder", || with_device(device_right)),
    ("FP registers survive thread switches", fp_state),
    ("faulting children end alone", faulting_children),
    ("cooperative scheduling", sched::cooperative),
    ("preemptive scheduling", sched::preemptive),
    ("priorities", sched::priorities),
    ("sleep and affinity", sched::sleep_and_affinity),
    ("suspend and resume", sched::suspend_resume),
    ("notifications: producer and consumer", sched::producer_consumer),
    ("IRQ objects: a user-level timer driver", || with_device(sched::irq_objects)),
    ("IPC in registers", sched::ipc_registers),
    ("IPC with data in the shared buffer", sched::ipc_data),
    ("IPC with capabilities", sched::ipc_caps),
    ("IPC from 20 threads at once", sched::ipc_concurrent),
    ("IPC survives a client dying mid-call", sched::ipc_client_dies),
    ("IPC to a dead server fails", sched::ipc_server_dies),
];

/// How a test that cannot run here says so (see [`with_device`]).
const SKIPPED: &str = "SKIPPED";

/// Run `test` if this process holds `DEVICE` on its own cap_group, which
/// procmgr gives only to the suites it starts itself at boot.
fn with_device(test: fn() -> TestResult) -> TestResult {
    match sys::cap_info(slot::SELF_CAP_GROUP) {
        Ok((_, rights)) if rights.contains(Rights::DEVICE) => test(),
        _ => {
            Err(format!("{SKIPPED}: needs the DEVICE right, which procmgr gives only to the suites it starts at boot"))
        }
    }
}

/// Run all tests; returns the exit status (0 if none failed).
fn run() -> i32 {
    let (mut failed, mut skipped, mut ipc_failed) = (0, 0, 0);
    for (name, test) in TESTS {
        match test() {
            Ok(()) => println!("[USERTEST] {name}: OK"),
            Err(why) if why.starts_with(SKIPPED) => {
                println!("[USERTEST] {name}: {why}");
                skipped += 1;
            }
            Err(why) => {
                println!("[USERTEST] {name}: FAILED: {why}");
                failed += 1;
                if name.starts_with("IPC") {
                    ipc_failed += 1;
                }
            }
        }
    }
    if ipc_failed == 0 {
        println!("Test IPC finished!");
    }
    let total = TESTS.len();
    match (failed, skipped) {
        (0, 0) => println!("[USERTEST] all {total} user tests passed"),
        (0, _) => println!("[USERTEST] {} of {total} user tests passed, {skipped} skipped", total - skipped),
        _ => println!("[USERTEST] {failed} of {total} user tests FAILED"),
    }
    if failed == 0 {
        0
    } else {
        1
    }
}

/// libchcore's `memcpy` (libchcore/src/mem.rs) replaces `core`'s: every
/// program's copies go through it, so check each path of it (one and
/// several 128-byte rounds, then each power of two of the rest) at every alignment, and that it writes
/// nothing outside the destination.
fn memcpy_lengths() -> TestResult {
    let src: alloc::vec::Vec<u8> = (0..420u32).map(|i| (i.wrapping_mul(37) ^ 0x5A) as u8).collect();
    let mut dst = alloc::vec![0u8; 440];
    for len in 0..400 {
        for from in 0..9 {
            for to in 0..9 {
                dst.fill(0xEE);
                // `black_box` keeps the length unknown, so the copy is a call.
                let n = core::hint::black_box(len);
                dst[to..to + n].copy_from_slice(&src[from..from + n]);
                check!(dst[to..to + n] == src[from..from + n], "{len} bytes from +{from} to +{to}: wrong bytes");
                check!(
                    dst[..to].iter().chain(&dst[to + n..]).all(|&b| b == 0xEE),
                    "{len} bytes from +{from} to +{to}: wrote outside"
                );
            }
        }
    }
    Ok(())
}

fn putstr() -> TestResult {
    let line = "Hello Userland!\n";
    expect!(sys::putstr(line.as_bytes()), Ok(line.len() as u64));
    expect!(sys::putstr(b""), Ok(0));
    Ok(())
}

fn putstr_bad_pointers() -> TestResult {
    expect!(sys::putstr_raw(0, 5), Err(Error::BadAddress));
    expect!(sys::putstr_raw(0xFFFF_0000_4020_0000, 5), Err(Error::BadAddress));
    expect!(sys::putstr_raw(0x1234_0000_0000, 5), Err(Error::BadAddress));
    expect!(sys::putstr_raw(u64::MAX - 2, 8), Err(Error::BadAddress));
    expect!(sys::putstr_raw(0x0000_FFFF_FFFF_FFF0, 0x20), Err(Error::BadAddress));
    let ok = b"x";
    expect!(sys::putstr_raw(ok.as_ptr() as u64, 4097), Err(Error::InvalidArgument));
    Ok(())
}

fn cap_slots() -> TestResult {
    expect!(sys::cap_info(slot::SELF_CAP_GROUP).map(|c| c.0), Ok(ObjectType::CapGroup));
    expect!(sys::cap_info(slot::SELF_VMSPACE).map(|c| c.0), Ok(ObjectType::VmSpace));
    expect!(sys::cap_info(100_000), Err(Error::BadSlot));
    expect!(sys::cap_info(u64::MAX), Err(Error::BadSlot));
    expect!(sys::cap_delete(100_000), Err(Error::BadSlot));
    Ok(())
}

fn pmo_read_write() -> TestResult {
    let pmo = sys::create_pmo(3 * 4096, PmoKind::Anonym).map_err(|e| format!("create_pmo: {e:?}"))?;
    let data: [u8; 100] = core::array::from_fn(|i| i as u8 ^ 0x5A);
    expect!(sys::write_pmo(pmo, 4090, &data), Ok(100));
    let mut back = [0u8; 100];
    expect!(sys::read_pmo(pmo, 4090, &mut back), Ok(100));
    check!(back == data, "read back different bytes across a page boundary");
    let mut zero = [1u8; 16];
    expect!(sys::read_pmo(pmo, 2 * 4096 + 100, &mut zero), Ok(16));
    check!(zero == [0; 16], "untouched memory is not zero");
    let data_pmo = sys::create_pmo(4096, PmoKind::Data).map_err(|e| format!("create data pmo: {e:?}"))?;
    expect!(sys::write_pmo(data_pmo, 0, b"abc"), Ok(3));
    sys::cap_delete(pmo).map_err(|e| format!("{e:?}"))?;
    sys::cap_delete(data_pmo).map_err(|e| format!("{e:?}"))?;
    Ok(())
}

static READ_ONLY: [u8; 16] = [7; 16];

fn pmo_bad_arguments() -> TestResult {
    let pmo = sys::create_pmo(4096, PmoKind::Anonym).map_err(|e| format!("create_pmo: {e:?}"))?;
    let mut buf = [0u8; 16];
    expect!(sys::read_pmo(pmo, 4090, &mut buf), Err(Error::InvalidArgument));
    expect!(sys::read_pmo(pmo, u64::MAX - 4, &mut buf), Err(Error::InvalidArgument));
    expect!(sys::read_pmo(slot::SELF_VMSPACE, 0, &mut buf), Err(Error::WrongType));
    expect!(sys::read_pmo(77_777, 0, &mut buf), Err(Error::BadSlot));
    // The kernel must not write into read-only memory for us, nor read from nowhere.
    expect!(sys::pmo_io_raw(false, pmo, 0, READ_ONLY.as_ptr() as u64, 16), Err(Error::BadAddress));
    expect!(sys::pmo_io_raw(true, pmo, 0, 0x1234_0000_0000, 16), Err(Error::BadAddress));
    expect!(sys::pmo_io_raw(false, pmo, 0, 0xFFFF_0000_4020_0000, 16), Err(Error::BadAddress));
    expect!(sys::create_pmo(0, PmoKind::Anonym), Err(Error::InvalidArgument));
    expect!(sys::create_pmo(u64::MAX, PmoKind::Anonym), Err(Error::InvalidArgument));
    expect!(sys::create_pmo(4096, PmoKind::Device), Err(Error::InvalidArgument));
    sys::cap_delete(pmo).map_err(|e| format!("{e:?}"))?;
    Ok(())
}

/// `create_pmo`'s payer: how procmgr makes a new process pay for its own
/// program (a huge `.bss` meets the process's limit, not procmgr's).
fn pmo_payer() -> TestResult {
    let child = sys::create_cap_group("payer").map_err(|e| format!("create_cap_group: {e:?}"))?;
    let before = sys::mem_usage(child).map_err(|e| format!("mem_usage: {e:?}"))?;
    let data = sys::create_pmo_for(child, 64 << 10, PmoKind::Data).map_err(|e| format!("create_pmo_for: {e:?}"))?;
    expect!(sys::mem_usage(child), Ok(before + (64 << 10)));
    // A lazy one is charged as its pages are touched, to the payer still.
    let lazy = sys::create_pmo_for(child, 64 << 10, PmoKind::Anonym).map_err(|e| format!("create_pmo_for: {e:?}"))?;
    expect!(sys::write_pmo(lazy, 0, b"charged"), Ok(7));
    expect!(sys::mem_usage(child), Ok(before + (68 << 10)));
    // Over the payer's limit: refused, whatever the caller's own limit.
    sys::set_mem_limit(child, 128 << 10).map_err(|e| format!("set_mem_limit: {e:?}"))?;
    expect!(sys::create_pmo_for(child, 128 << 10, PmoKind::Data), Err(Error::NoMemory));
    // The pages go back to the payer with the PMOs.
    for s in [data, lazy] {
        sys::cap_delete(s).map_err(|e| format!("{e:?}"))?;
    }
    expect!(sys::mem_usage(child), Ok(before));
    // Only a cap_group one may map into can be charged.
    let no_map = sys::cap_copy(child, slot::SELF_CAP_GROUP, Rights::READ).map_err(|e| format!("copy: {e:?}"))?;
    expect!(sys::create_pmo_for(no_map, 4096, PmoKind::Anonym), Err(Error::NoRights));
    let pmo = sys::create_pmo(4096, PmoKind::Anonym).map_err(|e| format!("create_pmo: {e:?}"))?;
    expect!(sys::create_pmo_for(pmo, 4096, PmoKind::Anonym), Err(Error::WrongType));
    expect!(sys::create_pmo_for(77_777, 4096, PmoKind::Anonym), Err(Error::BadSlot));
    for s in [no_map, pmo, child] {
        sys::cap_delete(s).map_err(|e| format!("{e:?}"))?;
    }
    Ok(())
}

fn kmem() -> TestResult {
    let usage = |g| sys::kmem_usage(g).map_err(|e| format!("kmem_usage: {e:?}"));
    check!(sys::free_kmem() > 0, "no kernel heap free for calls");
    let mine = usage(slot::SELF_CAP_GROUP)?;
    let child = sys::create_cap_group("kmem").map_err(|e| format!("create_cap_group: {e:?}"))?;
    let base = usage(child)?;
    check!(base > 0, "a cap_group is charged no kernel memory for itself");
    check!(usage(slot::SELF_CAP_GROUP)? >= mine + base, "the child's charge is not counted in its maker's");
    // Objects made for the child are charged to it.
    let first = sys::create_notification_for(child).map_err(|e| format!("create_notification_for: {e:?}"))?;
    let per = usage(child)? - base;
    check!(per > 0, "a notification costs nothing");
    // At its limit, nothing more is made for it: notifications, PMOs,
    // cap_groups nested in its account; what it has stays charged.
    let limit = base + 11 * per;
    sys::set_kmem_limit(child, limit).map_err(|e| format!("set_kmem_limit: {e:?}"))?;
    let mut made = alloc::vec![first];
    for i in 1..11 {
        made.push(sys::create_notification_for(child).map_err(|e| format!("notification {i} under the limit: {e:?}"))?);
    }
    expect!(usage(child), Ok(limit));
    expect!(sys::create_notification_for(child), Err(Error::NoMemory));
    expect!(sys::create_pmo_for(child, 4096, PmoKind::Anonym), Err(Error::NoMemory));
    expect!(sys::create_cap_group_in("nested", Rights::NONE, child), Err(Error::NoMemory));
    expect!(usage(child), Ok(limit));
    for s in made {
        sys::cap_delete(s).map_err(|e| format!("{e:?}"))?;
    }
    expect!(usage(child), Ok(base));
    // A cap_group nested in the child's account counts there, and goes.
    let nested = sys::create_cap_group_in("nested", Rights::NONE, child).map_err(|e| format!("nested: {e:?}"))?;
    let nested_own = usage(nested)?;
    expect!(usage(child), Ok(base + nested_own));
    sys::cap_delete(nested).map_err(|e| format!("{e:?}"))?;
    expect!(usage(child), Ok(base));
    // Nobody gives more than they have; reading needs READ, charging MAP.
    if sys::set_kmem_limit(slot::SELF_CAP_GROUP, u64::MAX) != Err(Error::NoRights) {
        return Err(String::from("a process raised its own kernel-memory limit (or had none)"));
    }
    let read_only = sys::cap_copy(child, slot::SELF_CAP_GROUP, Rights::READ).map_err(|e| format!("copy: {e:?}"))?;
    let map_only = sys::cap_copy(child, slot::SELF_CAP_GROUP, Rights::MAP).map_err(|e| format!("copy: {e:?}"))?;
    expect!(sys::set_kmem_limit(read_only, 0), Err(Error::NoRights));
    expect!(sys::kmem_usage(map_only), Err(Error::NoRights));
    expect!(sys::create_notification_for(read_only), Err(Error::NoRights));
    expect!(sys::create_cap_group_in("x", Rights::NONE, read_only), Err(Error::NoRights));
    let pmo = sys::create_pmo(4096, PmoKind::Anonym).map_err(|e| format!("create_pmo: {e:?}"))?;
    expect!(sys::create_cap_group_in("x", Rights::NONE, pmo), Err(Error::WrongType));
    expect!(sys::create_notification_for(77_777), Err(Error::BadSlot));
    expect!(sys::kmem_usage(77_777), Err(Error::BadSlot));
    for s in [read_only, map_only, pmo, child] {
        sys::cap_delete(s).map_err(|e| format!("{e:?}"))?;
    }
    // The child's charge left with it (what is left is this process's
    // capability table, which keeps the room it grew to).
    let now = usage(slot::SELF_CAP_GROUP)?;
    check!(now < mine + base, "{} bytes still charged here after the child went (it took {base})", now - mine);
    Ok(())
}

fn rights() -> TestResult {
    let pmo = sys::create_pmo(4096, PmoKind::Anonym).map_err(|e| format!("create_pmo: {e:?}"))?;
    let ro = sys::cap_copy(pmo, slot::SELF_CAP_GROUP, Rights::READ.union(Rights::COPY))
        .map_err(|e| format!("copy: {e:?}"))?;
    expect!(sys::cap_info(ro).map(|c| c.1), Ok(Rights::READ.union(Rights::COPY)));
    expect!(sys::write_pmo(ro, 0, b"no"), Err(Error::NoRights));
    let mut b = [0u8; 2];
    expect!(sys::read_pmo(ro, 0, &mut b), Ok(2));
    // Asking for more than we have gives no more.
    let again = sys::cap_copy(ro, slot::SELF_CAP_GROUP, Rights::ALL).map_err(|e| format!("copy: {e:?}"))?;
    expect!(sys::cap_info(again).map(|c| c.1), Ok(Rights::READ.union(Rights::COPY)));
    // Without COPY a capability cannot be copied further.
    let read_only = sys::cap_copy(ro, slot::SELF_CAP_GROUP, Rights::READ).map_err(|e| format!("copy: {e:?}"))?;
    expect!(sys::cap_copy(read_only, slot::SELF_CAP_GROUP, Rights::READ), Err(Error::NoRights));
    // Without MAP it cannot be mapped; without WRITE not mapped writable.
    expect!(sys::map_pmo(slot::SELF_CAP_GROUP, ro, 0x2000_0000, perm::READ), Err(Error::NoRights));
    expect!(sys::cap_copy(pmo, slot::SELF_CAP_GROUP, Rights(1 << 40)), Err(Error::InvalidArgument));
    // Slot 0 is a cap_group, not a PMO.
    expect!(sys::write_pmo(slot::SELF_CAP_GROUP, 0, b"x"), Err(Error::WrongType));
    for s in [pmo, ro, again, read_only] {
        sys::cap_delete(s).map_err(|e| format!("{e:?}"))?;
    }
    Ok(())
}

fn revoke() -> TestResult {
    let a = sys::create_pmo(4096, PmoKind::Anonym).map_err(|e| format!("create_pmo: {e:?}"))?;
    let b = sys::cap_copy(a, slot::SELF_CAP_GROUP, Rights::ALL).map_err(|e| format!("copy: {e:?}"))?;
    let c =
        sys::cap_copy(b, slot::SELF_CAP_GROUP, Rights::READ.union(Rights::COPY)).map_err(|e| format!("copy: {e:?}"))?;
    expect!(sys::cap_revoke(c), Err(Error::NoRights));
    expect!(sys::cap_revoke(a), Ok(2));
    expect!(sys::cap_info(b), Err(Error::BadSlot));
    expect!(sys::cap_info(c), Err(Error::BadSlot));
    expect!(sys::write_pmo(a, 0, b"still mine"), Ok(10));
    expect!(sys::cap_revoke(99_999), Err(Error::BadSlot));
    sys::cap_delete(a).map_err(|e| format!("{e:?}"))?;
    Ok(())
}

const MAP_AT: u64 = 0x1000_0000_0000;

fn map_touch_unmap() -> TestResult {
    let pmo = sys::create_pmo(2 * 4096, PmoKind::Anonym).map_err(|e| format!("create_pmo: {e:?}"))?;
    sys::map_pmo(slot::SELF_CAP_GROUP, pmo, MAP_AT, perm::READ | perm::WRITE).map_err(|e| format!("map: {e:?}"))?;
    let p = MAP_AT as *mut u64;
    // SAFETY: `[MAP_AT, MAP_AT + 8 KiB)` was just mapped read/write; the
    // first touch of each page is resolved by the kernel.
    unsafe {
        p.write_volatile(0x1122_3344_5566_7788);
        p.add(512).write_volatile(42);
    }
    let mut b = [0u8; 8];
    expect!(sys::read_pmo(pmo, 0, &mut b), Ok(8));
    check!(u64::from_le_bytes(b) == 0x1122_3344_5566_7788, "the PMO does not hold what was stored through the mapping");
    sys::protect(slot::SELF_CAP_GROUP, MAP_AT, 2 * 4096, perm::READ).map_err(|e| format!("protect: {e:?}"))?;
    // SAFETY: still mapped, now read-only; this is a read.
    let v = unsafe { p.add(512).read_volatile() };
    check!(v == 42, "read after protect gave {v}");
    expect!(sys::unmap_pmo(slot::SELF_CAP_GROUP, MAP_AT), Ok(()));
    expect!(sys::unmap_pmo(slot::SELF_CAP_GROUP, MAP_AT), Err(Error::NotMapped));
    // The data survives in the PMO after unmapping.
    expect!(sys::read_pmo(pmo, 4096, &mut b), Ok(8));
    check!(u64::from_le_bytes(b) == 42, "data lost on unmap");
    sys::cap_delete(pmo).map_err(|e| format!("{e:?}"))?;
    Ok(())
}

fn map_bad_arguments() -> TestResult {
    let pmo = sys::create_pmo(2 * 4096, PmoKind::Anonym).map_err(|e| format!("create_pmo: {e:?}"))?;
    let me = slot::SELF_CAP_GROUP;
    let rw = perm::READ | perm::WRITE;
    sys::map_pmo(me, pmo, MAP_AT, rw).map_err(|e| format!("map: {e:?}"))?;
    expect!(sys::map_pmo(me, pmo, MAP_AT + 4096, rw), Err(Error::Overlap));
    expect!(sys::map_pmo(me, pmo, MAP_AT - 4096, rw), Err(Error::Overlap));
    expect!(sys::map_pmo(me, pmo, 0xFFFF_0000_0000_0000, rw), Err(Error::InvalidArgument));
    expect!(sys::map_pmo(me, pmo, 0x0000_FFFF_FFFF_F000, rw), Err(Error::InvalidArgument));
    expect!(sys::map_pmo(me, pmo, MAP_AT + 0x10_0123, rw), Err(Error::InvalidArgument));
    expect!(sys::map_pmo(me, pmo, MAP_AT + 0x10_0000, 0), Err(Error::InvalidArgument));
    expect!(sys::map_pmo(me, pmo, MAP_AT + 0x10_0000, 0x80), Err(Error::InvalidArgument));
    expect!(sys::map_pmo(me, slot::SELF_VMSPACE, MAP_AT + 0x10_0000, rw), Err(Error::WrongType));
    expect!(sys::map_pmo(slot::SELF_VMSPACE, pmo, MAP_AT + 0x10_0000, rw), Err(Error::WrongType));
    expect!(sys::map_pmo(55_555, pmo, MAP_AT + 0x10_0000, rw), Err(Error::BadSlot));
    // A capability without EXEC cannot make memory executable, now or later.
    let no_exec = sys::cap_copy(pmo, me, Rights::READ.union(Rights::WRITE).union(Rights::MAP))
        .map_err(|e| format!("copy: {e:?}"))?;
    expect!(sys::map_pmo(me, no_exec, MAP_AT + 0x10_0000, rw | perm::EXEC), Err(Error::NoRights));
    sys::map_pmo(me, no_exec, MAP_AT + 0x10_0000, rw).map_err(|e| format!("map: {e:?}"))?;
    expect!(sys::protect(me, MAP_AT + 0x10_0000, 2 * 4096, rw | perm::EXEC), Err(Error::NoRights));
    expect!(sys::protect(me, MAP_AT + 0x10_0000, 4096, perm::READ), Err(Error::InvalidArgument));
    expect!(sys::unmap_pmo(me, MAP_AT + 0x10_0000), Ok(()));
    expect!(sys::unmap_pmo(me, MAP_AT), Ok(()));
    sys::cap_delete(no_exec).map_err(|e| format!("{e:?}"))?;
    sys::cap_delete(pmo).map_err(|e| format!("{e:?}"))?;
    Ok(())
}

const PAGED_AT: u64 = 0x1200_0000_0000;
static PAGE_READ: AtomicU64 = AtomicU64::new(0);

/// Read the first word at `addr` (a page the pager has not supplied yet).
extern "C" fn page_reader(addr: u64) -> ! {
    // SAFETY: `pager` mapped a view of its paged PMO there; the read waits
    // in the kernel until the page is supplied.
    let v = unsafe { (addr as *const u64).read_volatile() };
    PAGE_READ.store(v, Ordering::SeqCst);
    sys::thread_exit()
}

fn page_of(word: u64) -> [u8; 4096] {
    let mut page = [0u8; 4096];
    page[..8].copy_from_slice(&word.to_le_bytes());
    page
}

fn pager() -> TestResult {
    let e = |what: &'static str| move |err: Error| format!("{what}: {err:?}");
    let key = 7;
    let me = slot::SELF_CAP_GROUP;
    let rw = perm::READ | perm::WRITE;
    expect!(sys::create_paged_pmo(4 * 4096, key), Err(Error::InvalidArgument));
    expect!(sys::pager_next(), Err(Error::InvalidArgument));
    let n = sys::create_notification().map_err(e("notification"))?;
    sys::pager_register(n).map_err(e("pager_register"))?;
    expect!(sys::pager_register(n), Err(Error::Overlap));
    let pmo = sys::create_paged_pmo(4 * 4096, key).map_err(e("create_paged_pmo"))?;
    expect!(sys::create_paged_pmo(4096, key), Err(Error::Overlap));
    expect!(sys::pager_next(), Ok(None));
    let page = page_of(0x5A5A_0000_1111);
    expect!(sys::pager_supply(99, 0, Some(&page)), Err(Error::NotFound));
    expect!(sys::pager_supply(key, 100, Some(&page)), Err(Error::InvalidArgument));
    expect!(sys::pager_supply(key, 4 * 4096, Some(&page)), Err(Error::InvalidArgument));
    let supply = libchcore::abi::Syscall::PagerSupply as u64;
    expect!(sys::by_number(supply, [key, 0, 0xdead_0000, 0, 0, 0]), Err(Error::BadAddress));
    // The kernel cannot read or write a page its pager has not supplied.
    let mut b = [0u8; 8];
    expect!(sys::read_pmo(pmo, 0, &mut b), Err(Error::NotMapped));
    expect!(sys::write_pmo(pmo, 0, &b), Err(Error::NotMapped));
    expect!(sys::pager_supply(key, 0, Some(&page)), Ok(()));
    expect!(sys::read_pmo(pmo, 0, &mut b), Ok(8));
    check!(b == page[..8], "the supplied page holds {b:x?}");
    // Windows: shared (a view) and private (copy-on-write); no window of
    // memory whose frames may change under it.
    let view = sys::pmo_slice(pmo, 0, 2 * 4096, Rights::ALL).map_err(e("pmo_slice"))?;
    let private = sys::pmo_private(pmo, 0, 2 * 4096).map_err(e("pmo_private"))?;
    expect!(sys::pmo_private(private, 0, 4096), Err(Error::InvalidArgument));
    expect!(sys::pmo_slice(pmo, 3 * 4096, 2 * 4096, Rights::ALL), Err(Error::InvalidArgument));
    let anon = sys::create_pmo(4096, PmoKind::Anonym).map_err(e("create_pmo"))?;
    expect!(sys::pmo_private(anon, 0, 4096), Err(Error::InvalidArgument));
    sys::map_pmo(me, view, PAGED_AT, rw).map_err(e("map view"))?;
    sys::map_pmo(me, private, PAGED_AT + 0x10_0000, rw).map_err(e("map private"))?;
    let (v, p) = (PAGED_AT as *mut u64, (PAGED_AT + 0x10_0000) as *mut u64);
    // SAFETY: both windows are mapped read/write, two pages each; page 0
    // is supplied, so these accesses do not wait.
    let (seen_v, seen_p, after_copy) = unsafe {
        v.add(1).write_volatile(2);
        let seen_p = p.add(1).read_volatile();
        p.write_volatile(1);
        v.add(2).write_volatile(3);
        (v.read_volatile(), seen_p, p.add(2).read_volatile())
    };
    check!(seen_v == 0x5A5A_0000_1111, "the shared window shows {seen_v:#x}");
    check!(seen_p == 2, "the private window does not show a shared store to a page it has not written");
    check!(after_copy == 0, "the private window shows a shared store made after it wrote the page");
    expect!(sys::read_pmo(pmo, 0, &mut b), Ok(8));
    check!(u64::from_le_bytes(b) == 0x5A5A_0000_1111, "a private store reached the PMO");
    expect!(sys::read_pmo(pmo, 8, &mut b), Ok(8));
    check!(u64::from_le_bytes(b) == 2, "a store through the shared window did not reach the PMO");
    // A page not supplied: the reader waits, the pager is told, and the
    // reader goes on with what the pager supplies.
    let t = libchcore::thread::spawn(page_reader, PAGED_AT + 4096).map_err(e("spawn"))?;
    expect!(sys::wait(n, Some(100)), Ok(()));
    expect!(sys::pager_next(), Ok(Some((key, 4096))));
    for _ in 0..100 {
        sys::yield_now();
    }
    check!(PAGE_READ.load(Ordering::SeqCst) == 0, "the reader did not wait for the page");
    expect!(sys::pager_supply(key, 4096, Some(&page_of(0x77))), Ok(()));
    let mut spins = 0;
    while PAGE_READ.load(Ordering::SeqCst) != 0x77 && spins < 10_000 {
        sys::yield_now();
        spins += 1;
    }
    check!(PAGE_READ.load(Ordering::SeqCst) == 0x77, "the reader never got the supplied page");
    expect!(sys::pager_next(), Ok(None));
    expect!(sys::unmap_pmo(me, PAGED_AT), Ok(()));
    expect!(sys::unmap_pmo(me, PAGED_AT + 0x10_0000), Ok(()));
    for c in [t, view, private, anon, pmo, n] {
        sys::cap_delete(c).map_err(e("cap_delete"))?;
    }
    Ok(())
}

static WORKER_SAW: AtomicU64 = AtomicU64::new(0);

extern "C" fn worker(arg: u64) -> ! {
    WORKER_SAW.store(arg, Ordering::SeqCst);
    sys::thread_exit()
}

const STACKS_AT: u64 = 0x1100_0000_0000;

fn threads() -> TestResult {
    let stack = sys::create_pmo(16 * 4096, PmoKind::Anonym).map_err(|e| format!("create_pmo: {e:?}"))?;
    sys::map_pmo(slot::SELF_CAP_GROUP, stack, STACKS_AT, perm::READ | perm::WRITE)
        .map_err(|e| format!("map: {e:?}"))?;
    let t = sys::create_thread(slot::SELF_CAP_GROUP, worker as *const () as u64, STACKS_AT + 16 * 4096, 0xC0FFEE)
        .map_err(|e| format!("create_thread: {e:?}"))?;
    expect!(sys::cap_info(t).map(|c| c.0), Ok(ObjectType::Thread));
    let mut spins = 0;
    while WORKER_SAW.load(Ordering::SeqCst) != 0xC0FFEE && spins < 10_000 {
        sys::yield_now();
        spins += 1;
    }
    check!(WORKER_SAW.load(Ordering::SeqCst) == 0xC0FFEE, "the new thread never ran");
    expect!(sys::create_thread(slot::SELF_CAP_GROUP, 0xFFFF_0000_4020_0000, STACKS_AT, 0), Err(Error::InvalidArgument));
    expect!(sys::create_thread(slot::SELF_CAP_GROUP, 0x40_0002, STACKS_AT, 0), Err(Error::InvalidArgument));
    expect!(sys::create_thread(slot::SELF_VMSPACE, 0x40_0000, STACKS_AT, 0), Err(Error::WrongType));
    sys::unmap_pmo(slot::SELF_CAP_GROUP, STACKS_AT).map_err(|e| format!("{e:?}"))?;
    sys::cap_delete(t).map_err(|e| format!("{e:?}"))?;
    sys::cap_delete(stack).map_err(|e| format!("{e:?}"))?;
    Ok(())
}

fn transfer() -> TestResult {
    let child = sys::create_cap_group("transfer-target").map_err(|e| format!("create_cap_group: {e:?}"))?;
    let pmo = sys::create_pmo(4096, PmoKind::Anonym).map_err(|e| format!("create_pmo: {e:?}"))?;
    let moved = sys::cap_transfer(pmo, child, Rights::READ).map_err(|e| format!("transfer: {e:?}"))?;
    check!(moved >= 2, "transferred into slot {moved}, which belongs to the child's own objects");
    expect!(sys::cap_info(pmo), Err(Error::BadSlot));
    let mine = sys::create_pmo(4096, PmoKind::Anonym).map_err(|e| format!("create_pmo: {e:?}"))?;
    let no_copy = sys::cap_copy(mine, slot::SELF_CAP_GROUP, Rights::READ).map_err(|e| format!("copy: {e:?}"))?;
    expect!(sys::cap_transfer(no_copy, child, Rights::READ), Err(Error::NoRights));
    expect!(sys::cap_info(no_copy).map(|c| c.1), Ok(Rights::READ));
    expect!(sys::cap_transfer(mine, slot::SELF_VMSPACE, Rights::ALL), Err(Error::WrongType));
    for s in [no_copy, mine, child] {
        sys::cap_delete(s).map_err(|e| format!("{e:?}"))?;
    }
    Ok(())
}

fn device_pmo() -> TestResult {
    // Physical addresses far above any RAM either machine has.
    const MMIO: u64 = 0xFFFF_FFFF_0000;
    let dev = sys::create_device_pmo(MMIO, 2 * 4096).map_err(|e| format!("create_device_pmo: {e:?}"))?;
    expect!(sys::cap_info(dev).map(|c| c.1.contains(Rights::EXEC)), Ok(false));
    let mut b = [0u8; 4];
    expect!(sys::read_pmo(dev, 0, &mut b), Err(Error::InvalidArgument));
    expect!(sys::map_pmo(slot::SELF_CAP_GROUP, dev, MAP_AT, perm::READ | perm::EXEC), Err(Error::NoRights));
    sys::map_pmo(slot::SELF_CAP_GROUP, dev, MAP_AT, perm::READ | perm::WRITE).map_err(|e| format!("map: {e:?}"))?;
    // The kernel does not copy to or from device memory on our behalf.
    expect!(sys::putstr_raw(MAP_AT, 4), Err(Error::BadAddress));
    sys::unmap_pmo(slot::SELF_CAP_GROUP, MAP_AT).map_err(|e| format!("{e:?}"))?;
    expect!(sys::create_device_pmo(0x1001, 4096), Err(Error::InvalidArgument));
    expect!(sys::create_device_pmo(!0xFFF, 0x2000), Err(Error::InvalidArgument));
    sys::cap_delete(dev).map_err(|e| format!("{e:?}"))?;
    Ok(())
}

fn device_right() -> TestResult {
    let child = sys::create_cap_group_with("device-child", Rights::DEVICE).map_err(|e| format!("create: {e:?}"))?;
    expect!(sys::cap_info(child).map(|c| c.1.contains(Rights::DEVICE)), Ok(true));
    sys::cap_delete(child).map_err(|e| format!("{e:?}"))?;
    let plain = sys::create_cap_group("plain-child").map_err(|e| format!("create: {e:?}"))?;
    expect!(sys::cap_info(plain).map(|c| c.1.contains(Rights::DEVICE)), Ok(false));
    sys::cap_delete(plain).map_err(|e| format!("{e:?}"))?;
    expect!(sys::create_cap_group_with("x", Rights::READ), Err(Error::InvalidArgument));
    expect!(sys::create_cap_group_with("x", Rights(1 << 40)), Err(Error::InvalidArgument));
    // Asking for it without holding it is refused: `harden` checks that,
    // as a process that never had it.
    Ok(())
}

/// Write `v` into v8, yield `n` times, read it back. User programs are soft-float:
/// its first FP instruction traps and the kernel turns FP on for the thread
/// (see docs/scheduler.md), so this checks that path too.
fn fp_round(v: u64, n: u32) -> u64 {
    let out: u64;
    // SAFETY: only moves between x and d registers; v8 is declared clobbered.
    unsafe { core::arch::asm!(".arch_extension fp", "fmov d8, {0}", in(reg) v, out("v8") _) };
    for _ in 0..n {
        sys::yield_now();
    }
    // SAFETY: as above.
    unsafe { core::arch::asm!(".arch_extension fp", "fmov {0}, d8", out(reg) out, out("v8") _) };
    out
}

static FP_WORKER_OK: AtomicU64 = AtomicU64::new(0);

extern "C" fn fp_worker(_: u64) -> ! {
    let ok = (0..20).all(|i| fp_round(0xAAAA_0000 + i, 3) == 0xAAAA_0000 + i);
    FP_WORKER_OK.store(if ok { 1 } else { 2 }, Ordering::SeqCst);
    sys::thread_exit()
}

fn fp_state() -> TestResult {
    let stack = sys::create_pmo(16 * 4096, PmoKind::Anonym).map_err(|e| format!("create_pmo: {e:?}"))?;
    sys::map_pmo(slot::SELF_CAP_GROUP, stack, STACKS_AT, perm::READ | perm::WRITE)
        .map_err(|e| format!("map: {e:?}"))?;
    let t = sys::create_thread(slot::SELF_CAP_GROUP, fp_worker as *const () as u64, STACKS_AT + 16 * 4096, 0)
        .map_err(|e| format!("create_thread: {e:?}"))?;
    let mut mine_ok = true;
    let mut rounds = 0;
    // Until the worker is done (or 10 s pass: a timeout, not a measure; a
    // round count alone ran out first on 4 CPUs once yields got cheap).
    let start = sys::get_tick();
    while FP_WORKER_OK.load(Ordering::SeqCst) == 0 && sys::get_tick() - start < 1000 {
        mine_ok &= fp_round(0x5555_0000 + rounds, 2) == 0x5555_0000 + rounds;
        rounds += 1;
    }
    check!(mine_ok, "this thread's FP register was changed by the other thread");
    check!(
        FP_WORKER_OK.load(Ordering::SeqCst) == 1,
        "the worker's FP register was changed (state {})",
        FP_WORKER_OK.load(Ordering::SeqCst)
    );
    sys::unmap_pmo(slot::SELF_CAP_GROUP, STACKS_AT).map_err(|e| format!("{e:?}"))?;
    sys::cap_delete(t).map_err(|e| format!("{e:?}"))?;
    sys::cap_delete(stack).map_err(|e| format!("{e:?}"))?;
    Ok(())
}

/// Machine code for a child that misbehaves in one way (A64 encodings).
const CHILDREN: &[(&str, &[u32], u64)] = &[
    // mov x0, #0; str xzr, [x0]
    ("null-store", &[0xD280_0000, 0xF900_001F], group_state::KILLED),
    // udf #0
    ("undefined", &[0x0000_0000], group_state::KILLED),
    // mrs x0, sctlr_el1 (EL1 register from EL0)
    ("privileged", &[0xD538_1000], group_state::KILLED),
    // adr x0, .; str xzr, [x0] (write to its own read-only code)
    ("write-code", &[0x1000_0000, 0xF900_001F], group_state::KILLED),
    // movz x0, #0xffff, lsl #48; br x0 (jump into the kernel half)
    ("jump-kernel", &[0xD2FF_FFE0, 0xD61F_0000], group_state::KILLED),
    // adr x0, .; add x0, x0, #2; br x0 (misaligned PC)
    ("misaligned-pc", &[0x1000_0000, 0x9100_0800, 0xD61F_0000], group_state::KILLED),
    // movz x0, #7; movz x8, #4 (cap_group_exit); svc #0
    ("exit-7", &[0xD280_00E0, 0xD280_0088, 0xD400_0001], group_state::EXITED | (7 << 8)),
];

fn run_child(name: &str, code: &[u32]) -> Result<u64, String> {
    libchcore::testing::run_code(name, code, None, 0).map_err(|e| format!("{name}: {e:?}"))
}

fn faulting_children() -> TestResult {
    // Warm up: the first child may grow kernel tables that stay allocated.
    run_child("warm-up", &[0xD280_0000, 0xD280_0088, 0xD400_0001])?;
    let before = sys::free_memory();
    for (name, code, want) in CHILDREN {
        let got = run_child(name, code)?;
        check!(got == *want, "child {name} ended in state {got:#x}, expected {want:#x}");
    }
    let after = sys::free_memory();
    check!(after == before, "free memory {before} before the children, {after} after: a leak");
    expect!(sys::cap_group_state(slot::SELF_VMSPACE), Err(Error::WrongType));
    Ok(())
}
