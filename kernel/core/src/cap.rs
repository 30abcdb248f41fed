//! Capability tables: slots naming objects with rights, and derivation.
//!
//! Every capability has a unique id and remembers the id of the capability
//! it was copied from. That makes revocation possible across cap_groups:
//! revoking a capability removes every capability derived from it,
//! transitively, wherever it went (the original stays). The tables are generic over the
//! object handle so that the host tests can use plain values; the kernel
//! stores reference-counted kernel objects.

use alloc::vec::Vec;
use chcore_abi::{Error, ObjectType, Rights};

/// Unique capability id (never reused).
pub type CapId = u64;

/// Something a capability can name.
pub trait Object: Clone {
    /// The object's type, for type checks.
    fn object_type(&self) -> ObjectType;
}

/// A capability: an object and the rights this holder has on it.
#[derive(Clone, Debug)]
pub struct Cap<T> {
    /// The object.
    pub obj: T,
    /// What the holder may do with it.
    pub rights: Rights,
    /// This capability's id.
    pub id: CapId,
    /// The capability it was copied from, if any.
    pub parent: Option<CapId>,
}

/// A cap_group's capability table.
#[derive(Debug)]
pub struct CapTable<T> {
    slots: Vec<Option<Cap<T>>>,
    limit: usize,
    /// No slot below this one is free: the search for the lowest free slot
    /// starts here, so a table holding thousands of capabilities (procmgr
    /// holds one per process) does not scan them all on every insert.
    free_from: usize,
}

impl<T: Object> CapTable<T> {
    /// An empty table with room for `limit` capabilities.
    pub fn new(limit: usize) -> Self {
        CapTable { slots: Vec::new(), limit, free_from: 0 }
    }

    /// Put a capability in the lowest free slot.
    pub fn insert(&mut self, cap: Cap<T>) -> Result<usize, Error> {
        let from = self.free_from.min(self.slots.len());
        let slot = match self.slots[from..].iter().position(Option::is_none) {
            Some(s) => from + s,
            None if self.slots.len() < self.limit => {
                self.slots.try_reserve(1).map_err(|_| Error::NoMemory)?;
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return Err(Error::TableFull),
        };
        self.slots[slot] = Some(cap);
        self.free_from = slot + 1;
        Ok(slot)
    }

    /// The capability in `slot`.
    pub fn get(&self, slot: u64) -> Result<&Cap<T>, Error> {
        usize::try_from(slot).ok().and_then(|s| self.slots.get(s)).and_then(Option::as_ref).ok_or(Error::BadSlot)
    }

    /// The capability in `slot`, checked to name a `ty` object with at least `need` rights.
    /// Errors, in this order: `BadSlot`, `WrongType`, `NoRights`.
    pub fn lookup(&self, slot: u64, ty: ObjectType, need: Rights) -> Result<&Cap<T>, Error> {
        let cap = self.get(slot)?;
        if cap.obj.object_type() != ty {
            return Err(Error::WrongType);
        }
        if !cap.rights.contains(need) {
            return Err(Error::NoRights);
        }
        Ok(cap)
    }

    /// Take the capability out of `slot`.
    pub fn remove(&mut self, slot: u64) -> Result<Cap<T>, Error> {
        let s = usize::try_from(slot).map_err(|_| Error::BadSlot)?;
        let cap = self.slots.get_mut(s).and_then(Option::take).ok_or(Error::BadSlot)?;
        self.free_from = self.free_from.min(s);
        Ok(cap)
    }

    /// Remove every capability whose parent is in `parents`; returns them.
    pub fn remove_children(&mut self, parents: &[CapId]) -> Vec<Cap<T>> {
        let mut out = Vec::new();
        for (i, s) in self.slots.iter_mut().enumerate() {
            if s.as_ref().is_some_and(|c| c.parent.is_some_and(|p| parents.contains(&p))) {
                out.extend(s.take());
                self.free_from = self.free_from.min(i);
            }
        }
        out
    }

    /// Empty the table (a cap_group that exits drops everything it held).
    pub fn clear(&mut self) -> Vec<Cap<T>> {
        self.free_from = 0;
        self.slots.drain(..).flatten().collect()
    }

    /// Occupied slots.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// Slots the table has room for without growing (what its memory holds).
    pub fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// Whether no slot is occupied.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A copy of `src` with rights narrowed to `mask`, derived from it.
/// Needs the `COPY` right; rights can only shrink.
pub fn derive<T: Object>(src: &Cap<T>, mask: Rights, new_id: CapId) -> Result<Cap<T>, Error> {
    if !mask.is_valid() {
        return Err(Error::InvalidArgument);
    }
    if !src.rights.contains(Rights::COPY) {
        return Err(Error::NoRights);
    }
    Ok(Cap { obj: src.obj.clone(), rights: src.rights.intersect(mask), id: new_id, parent: Some(src.id) })
}

/// Remove every capability derived (transitively) from `root` in all
/// `tables`; returns what was removed so the caller can drop it outside any lock.
pub fn revoke<T: Object>(tables: &mut [&mut CapTable<T>], root: CapId) -> Vec<Cap<T>> {
    revoke_with(root, |parents| tables.iter_mut().flat_map(|t| t.remove_children(parents)).collect())
}

/// The revocation walk, for callers that reach the tables one at a time (the
/// kernel locks one cap_group at a time): `remove_children` must remove, from
/// every table, the capabilities whose parent is in the given ids.
pub fn revoke_with<T: Object>(root: CapId, mut remove_children: impl FnMut(&[CapId]) -> Vec<Cap<T>>) -> Vec<Cap<T>> {
    let mut removed: Vec<Cap<T>> = Vec::new();
    let mut frontier = alloc::vec![root];
    while !frontier.is_empty() {
        let taken = remove_children(&frontier);
        frontier = taken.iter().map(|c| c.id).collect();
        removed.extend(taken);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Obj(ObjectType, u32);
    impl Object for Obj {
        fn object_type(&self) -> ObjectType {
            self.0
        }
    }

    fn cap(id: CapId, ty: ObjectType, rights: Rights) -> Cap<Obj> {
        Cap { obj: Obj(ty, id as u32), rights, id, parent: None }
    }

    /// Inserts always take the lowest free slot, whatever order slots were
    /// freed in (the table only remembers where the search may start).
    #[test]
    fn insert_takes_the_lowest_free_slot_against_a_model() {
        let mut t = CapTable::new(300);
        let mut model: Vec<bool> = Vec::new();
        let mut rng = crate::testing::XorShift(0x5EED_CAB5);
        for i in 0..20_000u64 {
            let r = rng.next_u64();
            if r % 5 < 3 {
                let want = model.iter().position(|used| !used).or((model.len() < 300).then_some(model.len()));
                let got = t.insert(cap(i, ObjectType::Pmo, Rights::READ));
                match want {
                    Some(w) => {
                        assert_eq!(got, Ok(w));
                        if w == model.len() {
                            model.push(true);
                        } else {
                            model[w] = true;
                        }
                    }
                    None => assert_eq!(got, Err(Error::TableFull)),
                }
            } else if r % 5 == 3 {
                let s = (r >> 8) % (model.len() as u64 + 2);
                let used = model.get(s as usize).copied().unwrap_or(false);
                assert_eq!(t.remove(s).is_ok(), used);
                if used {
                    model[s as usize] = false;
                }
            } else if r % 97 == 4 {
                t.clear();
                model.clear();
            }
        }
    }

    #[test]
    fn lookup_errors_are_distinct_and_ordered() {
        let mut t = CapTable::new(8);
        let s = t.insert(cap(1, ObjectType::Pmo, Rights::READ)).unwrap();
        assert_eq!(t.lookup(s as u64, ObjectType::Pmo, Rights::READ).unwrap().id, 1);
        assert_eq!(t.lookup(5, ObjectType::Pmo, Rights::READ).unwrap_err(), Error::BadSlot);
        assert_eq!(t.lookup(u64::MAX, ObjectType::Pmo, Rights::READ).unwrap_err(), Error::BadSlot);
        assert_eq!(t.lookup(s as u64, ObjectType::Thread, Rights::READ).unwrap_err(), Error::WrongType);
        assert_eq!(t.lookup(s as u64, ObjectType::Pmo, Rights::WRITE).unwrap_err(), Error::NoRights);
    }

    #[test]
    fn slots_are_reused_and_bounded() {
        let mut t = CapTable::new(2);
        assert_eq!(t.insert(cap(1, ObjectType::Pmo, Rights::ALL)), Ok(0));
        assert_eq!(t.insert(cap(2, ObjectType::Pmo, Rights::ALL)), Ok(1));
        assert_eq!(t.insert(cap(3, ObjectType::Pmo, Rights::ALL)).unwrap_err(), Error::TableFull);
        t.remove(0).unwrap();
        assert_eq!(t.remove(0).unwrap_err(), Error::BadSlot);
        assert_eq!(t.insert(cap(4, ObjectType::Pmo, Rights::ALL)), Ok(0));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn copies_narrow_and_never_widen() {
        let src = cap(1, ObjectType::Pmo, Rights::READ.union(Rights::COPY));
        let c = derive(&src, Rights::ALL, 2).unwrap();
        assert_eq!(c.rights, Rights::READ.union(Rights::COPY), "asking for more gives no more");
        assert_eq!(c.parent, Some(1));
        let r = derive(&c, Rights::READ, 3).unwrap();
        assert_eq!(r.rights, Rights::READ);
        assert_eq!(derive(&r, Rights::READ, 4).unwrap_err(), Error::NoRights, "no COPY right");
        assert_eq!(derive(&src, Rights(1 << 50), 5).unwrap_err(), Error::InvalidArgument);
    }

    #[test]
    fn revoke_removes_all_descendants_everywhere() {
        let (mut a, mut b, mut c) = (CapTable::new(8), CapTable::new(8), CapTable::new(8));
        let root = cap(1, ObjectType::Pmo, Rights::ALL);
        let child = derive(&root, Rights::ALL, 2).unwrap();
        let grandchild = derive(&child, Rights::READ, 3).unwrap();
        let unrelated = cap(4, ObjectType::Pmo, Rights::ALL);
        let sibling_of_root = derive(&unrelated, Rights::ALL, 5).unwrap();
        a.insert(root).unwrap();
        b.insert(child).unwrap();
        c.insert(grandchild).unwrap();
        a.insert(unrelated).unwrap();
        c.insert(sibling_of_root).unwrap();
        let removed = revoke(&mut [&mut a, &mut b, &mut c], 1);
        let mut ids: Vec<_> = removed.iter().map(|c| c.id).collect();
        ids.sort();
        assert_eq!(ids, vec![2, 3]);
        assert_eq!(a.len(), 2, "the revoked capability itself stays");
        assert!(b.is_empty());
        assert_eq!(c.len(), 1, "unrelated derivations stay");
    }

    /// An object that counts how many of it are alive.
    #[derive(Clone)]
    struct Counted(std::sync::Arc<()>);
    impl Object for Counted {
        fn object_type(&self) -> ObjectType {
            ObjectType::Pmo
        }
    }

    #[test]
    fn objects_live_exactly_as_long_as_their_capabilities() {
        let obj = Counted(std::sync::Arc::new(()));
        let alive = || std::sync::Arc::strong_count(&obj.0) - 1;
        let (mut a, mut b) = (CapTable::new(8), CapTable::new(8));
        let root = Cap { obj: obj.clone(), rights: Rights::ALL, id: 1, parent: None };
        let child = derive(&root, Rights::ALL, 2).unwrap();
        let grandchild = derive(&child, Rights::ALL, 3).unwrap();
        let s = a.insert(root).unwrap();
        b.insert(child).unwrap();
        b.insert(grandchild).unwrap();
        assert_eq!(alive(), 3);
        drop(revoke(&mut [&mut a, &mut b], 1));
        assert_eq!(alive(), 1, "revoked copies release the object");
        drop(a.remove(s as u64).unwrap());
        assert_eq!(alive(), 0, "the last capability gone, the object is freed");
        assert!(b.is_empty());
    }

    #[test]
    fn random_operations_keep_the_table_consistent() {
        // A model of slot -> id; lookups, inserts, removes and a limit.
        let mut t = CapTable::new(16);
        let mut model: std::collections::BTreeMap<u64, CapId> = std::collections::BTreeMap::new();
        let mut next_id = 1;
        let mut rng = crate::testing::XorShift(0xDEAD_BEEF);
        for _ in 0..20_000 {
            let x = rng.next_u64();
            let slot = x % 20;
            match (x >> 8) % 3 {
                0 => {
                    let r = t.insert(cap(next_id, ObjectType::Pmo, Rights::ALL));
                    if model.len() < 16 {
                        let s = r.unwrap() as u64;
                        // The lowest free slot is taken.
                        assert_eq!(s, (0..).find(|i| !model.contains_key(i)).unwrap());
                        model.insert(s, next_id);
                    } else {
                        assert_eq!(r.unwrap_err(), Error::TableFull);
                    }
                    next_id += 1;
                }
                1 => {
                    let r = t.remove(slot);
                    assert_eq!(r.map(|c| c.id).ok(), model.remove(&slot));
                }
                _ => {
                    let r = t.lookup(slot, ObjectType::Pmo, Rights::READ);
                    assert_eq!(r.map(|c| c.id).ok(), model.get(&slot).copied());
                }
            }
            assert_eq!(t.len(), model.len());
        }
    }

    #[test]
    fn clear_returns_everything() {
        let mut t = CapTable::new(4);
        t.insert(cap(1, ObjectType::Pmo, Rights::ALL)).unwrap();
        t.insert(cap(2, ObjectType::Thread, Rights::ALL)).unwrap();
        assert_eq!(t.clear().len(), 2);
        assert!(t.is_empty());
    }
}
