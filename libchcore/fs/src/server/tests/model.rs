//! Random operation sequences against `Vfs<Tmpfs>` and a model that is just a map from path to node.
//!
//! The model encodes POSIX's rules (and the `Vfs`'s order of checks) independently of the inode-based
//! implementation; every result, errno included, must agree, and so must the whole tree afterwards.

use super::*;
use alloc::collections::BTreeMap;
use alloc::format;

use crate::testing::Rng;

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Dir,
    File(Vec<u8>),
}

struct Model {
    nodes: BTreeMap<String, Node>,
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

impl Model {
    fn new() -> Model {
        Model { nodes: BTreeMap::from([(String::from("/"), Node::Dir)]) }
    }

    fn walk(&self, path: &Path) -> Result<&Node, Errno> {
        let mut cur = String::from("/");
        for name in path.components() {
            if let Some(Node::File(_)) = self.nodes.get(&cur) {
                return Err(Errno::ENOTDIR);
            }
            cur = join(&cur, name);
            if !self.nodes.contains_key(&cur) {
                return Err(Errno::ENOENT);
            }
        }
        let node = &self.nodes[&cur];
        if path.must_be_dir() && *node != Node::Dir {
            return Err(Errno::ENOTDIR);
        }
        Ok(node)
    }

    /// The parent's path (checked to be a directory) and the final name.
    fn parent(&self, path: &Path, root_error: Errno) -> Result<(String, String), Errno> {
        let (parent, name) = path.split_parent().map_err(|_| root_error)?;
        self.walk(&parent)?;
        Ok((parent.as_str().into(), name.into()))
    }

    fn has_children(&self, dir: &str) -> bool {
        let prefix = join(dir, "");
        self.nodes.range(prefix.clone()..).next().is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    fn mkdir(&mut self, path: &Path) -> Result<(), Errno> {
        let (dir, name) = self.parent(path, Errno::EEXIST)?;
        let full = join(&dir, &name);
        if self.nodes.contains_key(&full) {
            return Err(Errno::EEXIST);
        }
        self.nodes.insert(full, Node::Dir);
        Ok(())
    }

    fn create(&mut self, path: &Path) -> Result<(), Errno> {
        let (dir, name) = self.parent(path, Errno::EEXIST)?;
        let full = join(&dir, &name);
        if self.nodes.contains_key(&full) {
            return Err(Errno::EEXIST);
        }
        if path.must_be_dir() {
            return Err(Errno::EISDIR);
        }
        self.nodes.insert(full, Node::File(Vec::new()));
        Ok(())
    }

    fn file_mut(&mut self, path: &Path) -> Result<&mut Vec<u8>, Errno> {
        self.walk(path)?;
        match self.nodes.get_mut(path.as_str()) {
            Some(Node::File(data)) => Ok(data),
            _ => Err(Errno::EISDIR),
        }
    }

    fn pwrite(&mut self, path: &Path, offset: usize, data: &[u8]) -> Result<usize, Errno> {
        let file = self.file_mut(path)?;
        if file.len() < offset + data.len() {
            file.resize(offset + data.len(), 0);
        }
        file[offset..offset + data.len()].copy_from_slice(data);
        Ok(data.len())
    }

    fn append(&mut self, path: &Path, data: &[u8]) -> Result<usize, Errno> {
        let file = self.file_mut(path)?;
        file.extend_from_slice(data);
        Ok(data.len())
    }

    fn truncate(&mut self, path: &Path, size: usize) -> Result<(), Errno> {
        self.file_mut(path)?.resize(size, 0);
        Ok(())
    }

    fn unlink(&mut self, path: &Path) -> Result<(), Errno> {
        let (dir, name) = self.parent(path, Errno::EISDIR)?;
        let full = join(&dir, &name);
        match self.nodes.get(&full) {
            None => Err(Errno::ENOENT),
            Some(Node::Dir) => Err(Errno::EISDIR),
            Some(Node::File(_)) if path.must_be_dir() => Err(Errno::ENOTDIR),
            Some(Node::File(_)) => {
                self.nodes.remove(&full);
                Ok(())
            }
        }
    }

    fn rmdir(&mut self, path: &Path) -> Result<(), Errno> {
        let (dir, name) = self.parent(path, Errno::EBUSY)?;
        let full = join(&dir, &name);
        match self.nodes.get(&full) {
            None => Err(Errno::ENOENT),
            Some(Node::File(_)) => Err(Errno::ENOTDIR),
            Some(Node::Dir) if self.has_children(&full) => Err(Errno::ENOTEMPTY),
            Some(Node::Dir) => {
                self.nodes.remove(&full);
                Ok(())
            }
        }
    }

    fn rename(&mut self, from: &Path, to: &Path) -> Result<(), Errno> {
        let (fdir, fname) = self.parent(from, Errno::EBUSY)?;
        let src_path = join(&fdir, &fname);
        let src = self.nodes.get(&src_path).cloned().ok_or(Errno::ENOENT)?;
        let (tdir, tname) = self.parent(to, Errno::EBUSY)?;
        let dst_path = join(&tdir, &tname);
        if src != Node::Dir && (from.must_be_dir() || to.must_be_dir()) {
            return Err(Errno::ENOTDIR);
        }
        if src_path == dst_path {
            return Ok(());
        }
        if src == Node::Dir && to.starts_with(from) {
            return Err(Errno::EINVAL);
        }
        if from.starts_with(to) {
            return Err(Errno::ENOTEMPTY);
        }
        match (&src, self.nodes.get(&dst_path)) {
            (Node::Dir, Some(Node::File(_))) => return Err(Errno::ENOTDIR),
            (Node::File(_), Some(Node::Dir)) => return Err(Errno::EISDIR),
            (Node::Dir, Some(Node::Dir)) if self.has_children(&dst_path) => return Err(Errno::ENOTEMPTY),
            _ => {}
        }
        self.nodes.remove(&dst_path);
        let prefix = join(&src_path, "");
        let moved: Vec<String> =
            self.nodes.keys().filter(|k| **k == src_path || k.starts_with(&prefix)).cloned().collect();
        for old in moved {
            let node = self.nodes.remove(&old).unwrap();
            self.nodes.insert(format!("{dst_path}{}", &old[src_path.len()..]), node);
        }
        Ok(())
    }
}

/// The real side of each operation, as a client would do it through handles.
fn real_create(v: &mut Vfs<Tmpfs>, path: &Path) -> Result<(), Errno> {
    let h = v.open(path, O_WRONLY | O_CREAT | O_EXCL, 1)?;
    v.close(h)
}

fn real_pwrite(v: &mut Vfs<Tmpfs>, path: &Path, offset: usize, data: &[u8]) -> Result<usize, Errno> {
    let h = v.open(path, O_WRONLY, 1)?;
    let r = v.pwrite(h, data, offset as u64, 1);
    v.close(h)?;
    r
}

fn real_append(v: &mut Vfs<Tmpfs>, path: &Path, data: &[u8]) -> Result<usize, Errno> {
    let h = v.open(path, O_WRONLY | O_APPEND, 1)?;
    let r = v.write(h, data, 1);
    v.close(h)?;
    r
}

fn real_truncate(v: &mut Vfs<Tmpfs>, path: &Path, size: usize) -> Result<(), Errno> {
    let h = v.open(path, O_RDWR, 1)?;
    let r = v.ftruncate(h, size as u64, 1);
    v.close(h)?;
    r
}

/// Checks that the whole tree, contents and link counts agree with the model.
fn check_tree(v: &mut Vfs<Tmpfs>, model: &Model, context: &str) {
    for (path, node) in &model.nodes {
        let attr = v.stat(&p(path)).unwrap();
        match node {
            Node::Dir => {
                assert_eq!(attr.kind, FileType::Dir, "{context}: {path}");
                let mut real: Vec<String> = ls(v, path).into_iter().map(|n| join(path, &n)).collect();
                real.sort();
                let prefix = join(path, "");
                let expected: Vec<String> = model
                    .nodes
                    .keys()
                    .filter(|k| k.starts_with(&prefix) && !k[prefix.len()..].contains('/') && k.len() > prefix.len())
                    .cloned()
                    .collect();
                assert_eq!(real, expected, "{context}: listing {path}");
                let subdirs = expected.iter().filter(|k| model.nodes[*k] == Node::Dir).count() as u32;
                assert_eq!(attr.nlink, 2 + subdirs, "{context}: links of {path}");
            }
            Node::File(data) => {
                assert_eq!(
                    (attr.kind, attr.size, attr.nlink),
                    (FileType::File, data.len() as u64, 1),
                    "{context}: {path}"
                );
                assert_eq!(&get(v, path).unwrap(), data, "{context}: contents of {path}");
            }
        }
    }
    assert_eq!(v.fs().statfs().files, model.nodes.len() as u64, "{context}: inode count");
    assert_eq!(v.open_handles(), 0, "{context}");
}

fn random_path(rng: &mut Rng) -> Path {
    if rng.below(30) == 0 {
        return Path::root();
    }
    let mut s = String::new();
    for _ in 0..=rng.below(3) {
        s.push('/');
        s.push_str(rng.pick(&["a", "b", "c"]));
    }
    if rng.below(8) == 0 {
        s.push('/');
    }
    p(&s)
}

fn run(seed: u64, steps: usize) {
    let mut rng = Rng(seed);
    let mut v = Vfs::new(Tmpfs::new(1 << 20), 8);
    let empty = v.statfs();
    let mut model = Model::new();
    for step in 0..steps {
        let a = random_path(&mut rng);
        let b = random_path(&mut rng);
        let offset = rng.below(3 * PAGE_SIZE as u64) as usize;
        let len = rng.below(2 * PAGE_SIZE as u64) as usize;
        let byte = rng.next() as u8;
        let data = vec![byte; len];
        let context = format!("seed {seed} step {step}");
        match rng.below(10) {
            0 => assert_eq!(v.mkdir(&a, 1), model.mkdir(&a), "{context}: mkdir {a}"),
            1 | 2 => assert_eq!(real_create(&mut v, &a), model.create(&a), "{context}: create {a}"),
            3 => assert_eq!(
                real_pwrite(&mut v, &a, offset, &data),
                model.pwrite(&a, offset, &data),
                "{context}: pwrite {a} at {offset}"
            ),
            4 => assert_eq!(real_append(&mut v, &a, &data), model.append(&a, &data), "{context}: append {a}"),
            5 => assert_eq!(real_truncate(&mut v, &a, offset), model.truncate(&a, offset), "{context}: truncate {a}"),
            6 => assert_eq!(v.unlink(&a, 1), model.unlink(&a), "{context}: unlink {a}"),
            7 => assert_eq!(v.rmdir(&a, 1), model.rmdir(&a), "{context}: rmdir {a}"),
            8 => assert_eq!(v.rename(&a, &b, 1), model.rename(&a, &b), "{context}: rename {a} {b}"),
            _ => {
                let real = v.stat(&a).map(|attr| (attr.kind, attr.size));
                let expected = model.walk(&a).map(|n| match n {
                    Node::Dir => (FileType::Dir, v.stat(&a).map_or(0, |attr| attr.size)),
                    Node::File(d) => (FileType::File, d.len() as u64),
                });
                assert_eq!(real, expected, "{context}: stat {a}");
            }
        }
        if step % 50 == 49 {
            check_tree(&mut v, &model, &context);
        }
    }
    check_tree(&mut v, &model, &format!("seed {seed} end"));
    // Remove everything, deepest first: all space must come back.
    let paths: Vec<String> = model.nodes.keys().rev().filter(|k| *k != "/").cloned().collect();
    for path in paths {
        match model.nodes[&path] {
            Node::Dir => v.rmdir(&p(&path), 2).unwrap(),
            Node::File(_) => v.unlink(&p(&path), 2).unwrap(),
        }
    }
    assert_eq!(v.statfs(), empty, "seed {seed}: space leaked");
}

#[test]
fn random_operations_agree_with_the_model() {
    for seed in 1..=24u64 {
        run(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), 400);
    }
}
