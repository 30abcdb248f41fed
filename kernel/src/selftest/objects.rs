//! Object model tests: capabilities with checked rights, derivation and
//! revocation, thread creation, and that every object is freed.

use super::{ensure, TestResult};
use crate::mm::free_page_count;
use crate::object::cap_group::{revoke_everywhere, CapGroup, GroupState};
use crate::object::pmo::Pmo;
use crate::object::thread::{Thread, ThreadState};
use crate::object::{live, new_cap_id, KObject};
use chcore_abi::{slot, Error, ObjectType, PmoKind, Rights};

const TYPES: [ObjectType; 4] = [ObjectType::CapGroup, ObjectType::Thread, ObjectType::Pmo, ObjectType::VmSpace];

fn counts() -> [usize; 4] {
    TYPES.map(live)
}

fn nothing_leaked(objects: [usize; 4], pages: u64) -> TestResult {
    ensure!(counts() == objects, "live objects {:?} after, {objects:?} before", counts());
    ensure!(free_page_count() == pages, "free pages {} after, {pages} before", free_page_count());
    Ok(())
}

pub fn cap_create() -> TestResult {
    let (objects, pages) = (counts(), free_page_count());
    {
        let g = CapGroup::new("cap-test", Rights::ALL).map_err(|e| alloc::format!("create cap_group: {e:?}"))?;
        let pmo = Pmo::new(PmoKind::Anonym, 8192, &g.account).map_err(|e| alloc::format!("create pmo: {e:?}"))?;
        let s = g
            .insert_cap(KObject::Pmo(pmo), Rights::READ.union(Rights::COPY).union(Rights::REVOKE), None)
            .map_err(|e| alloc::format!("insert: {e:?}"))?;
        let (parent_id, derived) = {
            let inner = g.lock();
            ensure!(
                inner.caps.lookup(slot::SELF_CAP_GROUP, ObjectType::CapGroup, Rights::ALL).is_ok(),
                "slot 0 is not the group"
            );
            ensure!(
                inner.caps.lookup(slot::SELF_VMSPACE, ObjectType::VmSpace, Rights::MAP).is_ok(),
                "slot 1 is not the vmspace"
            );
            ensure!(inner.caps.lookup(s, ObjectType::Pmo, Rights::READ).is_ok(), "PMO capability not found");
            let e = |r: Result<_, Error>| r.err();
            ensure!(
                e(inner.caps.lookup(s, ObjectType::Pmo, Rights::WRITE)) == Some(Error::NoRights),
                "missing right not refused"
            );
            ensure!(
                e(inner.caps.lookup(s, ObjectType::Thread, Rights::READ)) == Some(Error::WrongType),
                "wrong type not refused"
            );
            ensure!(
                e(inner.caps.lookup(999, ObjectType::Pmo, Rights::READ)) == Some(Error::BadSlot),
                "bad slot not refused"
            );
            let src = inner.caps.get(s).map_err(|e| alloc::format!("{e:?}"))?;
            let d = kernel_core::cap::derive(src, Rights::ALL, new_cap_id())
                .map_err(|e| alloc::format!("derive: {e:?}"))?;
            ensure!(!d.rights.contains(Rights::WRITE), "derivation widened rights");
            (src.id, d)
        };
        let ds = g.insert_cap(derived.obj, derived.rights, derived.parent).map_err(|e| alloc::format!("{e:?}"))?;
        let removed = revoke_everywhere(parent_id);
        ensure!(removed.len() == 1, "revoke removed {} capabilities, expected 1", removed.len());
        drop(removed);
        ensure!(g.lock().caps.get(ds).is_err(), "derived capability survived revocation");
        ensure!(g.lock().caps.get(s).is_ok(), "revoked capability itself was removed");
        let (threads, caps) = g.exit(GroupState::Exited(0));
        ensure!(
            threads.is_empty() && caps.len() == 3,
            "exit returned {} threads, {} capabilities",
            threads.len(),
            caps.len()
        );
        drop(caps);
    }
    nothing_leaked(objects, pages)
}

pub fn thread_create() -> TestResult {
    let (objects, pages) = (counts(), free_page_count());
    {
        let g = CapGroup::new("thread-test", Rights::ALL).map_err(|e| alloc::format!("create cap_group: {e:?}"))?;
        let t = Thread::charged(&g, 0x40_0000, 0x80_0000, 7).map_err(|e| alloc::format!("create thread: {e:?}"))?;
        {
            let inner = t.lock();
            let f = &inner.ctx.frame;
            ensure!(f.elr == 0x40_0000 && f.sp_el0 == 0x80_0000 && f.x[0] == 7, "thread context {f:x?}");
            ensure!(f.spsr == 0, "a new thread must start at EL0 with interrupts on, SPSR {:#x}", f.spsr);
            ensure!(inner.state == ThreadState::Ready, "new thread not ready");
        }
        ensure!(
            g.lock().threads.iter().any(|w| w.upgrade().is_some_and(|x| alloc::sync::Arc::ptr_eq(&x, &t))),
            "thread not in its group"
        );
        ensure!(crate::object::live(ObjectType::Thread) == objects[1] + 1, "thread not counted");
        let (threads, caps) = g.exit(GroupState::Exited(0));
        ensure!(threads.len() == 1 && t.lock().state == ThreadState::Exited, "group exit did not stop the thread");
        ensure!(Thread::charged(&g, 0x40_0000, 0x80_0000, 0).is_err(), "a thread was created in an exited group");
        drop((threads, caps, t, g));
    }
    nothing_leaked(objects, pages)
}

/// Kernel memory: what a process's objects take is charged to its account
/// (and to the account it nests in), refused past its limit, and given
/// back, all of it, when the objects go.
pub fn kmem() -> TestResult {
    use crate::object::notification::Notification;
    let (objects, pages) = (counts(), free_page_count());
    let parent = CapGroup::new("kmem-parent", Rights::ALL).map_err(|e| alloc::format!("create cap_group: {e:?}"))?;
    let base = parent.account.kmem_used();
    ensure!(base > 0, "a cap_group is charged nothing for itself");
    {
        let g = CapGroup::new_child("kmem-child", Rights::ALL, &parent, &parent.account)
            .map_err(|e| alloc::format!("create child: {e:?}"))?;
        let own = g.account.kmem_used();
        ensure!(own > 0 && parent.account.kmem_used() == base + own, "the child's charge does not reach its parent");
        // One of each object a process makes in numbers, and touched pages.
        let n = Notification::charged(&g.account).map_err(|e| alloc::format!("notification: {e:?}"))?;
        let t = Thread::charged(&g, 0x40_0000, 0x80_0000, 0).map_err(|e| alloc::format!("thread: {e:?}"))?;
        let pmo = Pmo::new(PmoKind::Anonym, 4 << 12, &g.account).map_err(|e| alloc::format!("pmo: {e:?}"))?;
        pmo.write(0, &[1u8; 4 << 12]).map_err(|e| alloc::format!("touch the pmo: {e:?}"))?;
        g.vmspace
            .map(pmo.clone(), 0x40_0000, chcore_abi::perm::READ, chcore_abi::perm::READ)
            .map_err(|e| alloc::format!("map: {e:?}"))?;
        let mut slots = alloc::vec::Vec::new();
        for _ in 0..40 {
            slots.push(
                g.insert_cap(KObject::Notification(n.clone()), Rights::ALL, None)
                    .map_err(|e| alloc::format!("{e:?}"))?,
            );
        }
        let used = g.account.kmem_used();
        ensure!(
            used > own + 4 * 64 + 1024,
            "a notification, a thread, a PMO, 4 pages, a mapping and 40 slots cost {} bytes",
            used - own
        );
        // At its limit a process makes nothing more; what it has stays.
        g.account.set_kmem_limit(used);
        ensure!(matches!(Notification::charged(&g.account), Err(Error::NoMemory)), "a notification past the limit");
        ensure!(matches!(Pmo::new(PmoKind::Anonym, 4096, &g.account), Err(Error::NoMemory)), "a PMO past the limit");
        ensure!(pmo.write(4 << 12, &[1]).is_err(), "a page past the PMO's end");
        ensure!(g.account.kmem_used() == used, "refusals changed the charge");
        g.account.set_kmem_limit(kernel_core::account::UNLIMITED);
        g.vmspace.clear();
        let (threads, caps) = g.exit(GroupState::Exited(0));
        drop((threads, caps, t, n, pmo, slots));
        // The table keeps its room until the group goes.
        drop(g);
    }
    ensure!(
        parent.account.kmem_used() == base,
        "{} bytes still charged after the child and its objects went",
        parent.account.kmem_used() - base
    );
    drop(parent);
    nothing_leaked(objects, pages)
}
