//! User faults: resolve what can be resolved (first touch of lazy memory;
//! a page a pager must supply, which the thread waits for), end the
//! cap_group otherwise, with a line saying who, where and why.

use crate::object::cap_group::{CapGroup, GroupState};
use crate::object::thread::Thread;
use crate::object::vmspace::FaultError;
use crate::sched;
use alloc::sync::Arc;

/// The thread that trapped, if its process still runs. A thread whose
/// process just ended on another CPU (taking its memory with it) may trap
/// once more on its way out: there is nothing to resolve or report then.
fn faulting_thread() -> Option<Arc<Thread>> {
    sched::current().filter(|t| t.group.state() == GroupState::Alive)
}

/// A data or instruction abort from EL0 at `far`.
pub fn user_abort(far: u64, pc: u64, translation: bool, permission: bool, write: bool, exec: bool) {
    let Some(t) = faulting_thread() else { return };
    // A write to a read-only page may be copy-on-write.
    if translation || (permission && write) {
        if let Err(e) = t.group.vmspace.handle_fault(far, write, exec) {
            let why = match e {
                FaultError::Pager(pmo, index) => match pmo.wait_page(index, &t) {
                    // Woken when the page is there; the access runs again.
                    Ok(true) => return sched::block_current(None, 0, None),
                    Ok(false) => return,
                    Err(chcore_abi::Error::PeerDead) => "access to a mapped file whose server has ended",
                    Err(_) => "access to a mapped file whose server has too many faults waiting",
                },
                FaultError::Unmapped => "access to unmapped memory",
                FaultError::Permission if exec => "execution of non-executable memory",
                FaultError::Permission if write => "write to read-only memory",
                FaultError::Permission => "access denied",
                FaultError::OutOfMemory => "out of memory for a page",
            };
            kill(&t.group, why, far, pc);
        }
    } else {
        let why = if exec {
            "execution of non-executable memory"
        } else if write {
            "write to read-only memory"
        } else {
            "memory access fault"
        };
        kill(&t.group, why, far, pc);
    }
}

/// Any other synchronous exception from EL0 (undefined instruction,
/// misaligned stack or PC, privileged register access, breakpoint...).
pub fn user_exception(what: &str, class: u64, pc: u64) {
    let Some(t) = faulting_thread() else { return };
    log::warn!("cap_group {}: {what} (class {class:#x}) at pc {pc:#x}; ending it", t.group.name);
    end_group(&t.group, GroupState::Killed);
}

fn kill(group: &Arc<CapGroup>, why: &str, addr: u64, pc: u64) {
    log::warn!("cap_group {}: {why} at {addr:#x} (pc {pc:#x}); ending it", group.name);
    end_group(group, GroupState::Killed);
}

/// A pager answered the fault of `threads` on a page of a mapped file: wake
/// them to retry the access, or (`refused`, the page is past the end of the
/// file) end their cap_groups, as Unix's SIGBUS would.
pub fn page_answered(threads: alloc::vec::Vec<Arc<Thread>>, refused: bool) {
    for t in threads {
        if !refused {
            sched::wake_with(&t, &[], false);
        } else if t.group.is_alive() {
            log::warn!("cap_group {}: access to a page past the end of a mapped file; ending it", t.group.name);
            end_group(&t.group, GroupState::Killed);
        }
    }
}

/// End `group` with `state`: stop its threads, drop its capabilities, and
/// end the cap_groups it created (which nobody else may be able to name).
pub fn end_group(group: &Arc<CapGroup>, state: GroupState) {
    // A work list, not recursion: a chain of groups each made by the last
    // must not run the kernel out of stack.
    let mut ending = alloc::vec![(group.clone(), state)];
    while let Some((g, state)) = ending.pop() {
        let (threads, caps) = g.exit(state);
        // A pager that ends fails the faults waiting for its pages.
        for t in g.close_pager() {
            if t.group.is_alive() && !ending.iter().any(|(e, _)| Arc::ptr_eq(e, &t.group)) {
                log::warn!(
                    "cap_group {}: access to a mapped file whose server ({}) ended; ending it",
                    t.group.name,
                    g.name
                );
                ending.push((t.group.clone(), GroupState::Killed));
            }
        }
        sched::prune(&threads);
        sched::request_resched();
        crate::root::on_group_exit(&g);
        drop(threads);
        drop(caps);
        ending.extend(
            crate::object::cap_group::created_by(&g)
                .into_iter()
                .filter(|c| c.state() == GroupState::Alive)
                .map(|c| (c, GroupState::Killed)),
        );
    }
}
