//! The shared library of every file-system server: errno names, paths, the `FileSystem` trait, the
//! open-file table, and two file systems (tmpfs and the read-only ramdisk).
//!
//! # Design
//! A file-system server is three layers, of which only the bottom one differs between file systems:
//!
//! 1. The protocol (IPC, shared memory, in another module of the server runtime) decodes a request into
//!    a [`path::Path`] or a [`server::Handle`] plus plain numbers, and encodes the result or an
//!    [`errno::Errno`].
//! 2. [`server::Vfs`] is the file-system–independent part: it walks paths from the root, applies POSIX's
//!    rules for `open` flags, access modes, trailing slashes, rename and the order of errors, owns the
//!    open-file table (handles with generation counters, shared offsets after `dup`), and decides when
//!    an inode no longer named and no longer open may be freed.
//! 3. A [`vfs::FileSystem`] implements inode operations only: lookup a name in a directory, create,
//!    unlink, rmdir, rename, read/write at an offset, truncate, readdir by cookie, getattr, statfs and
//!    evict. A new file system is one crate that implements this trait and hands itself to `Vfs::new`;
//!    [`tmpfs::Tmpfs`] (mounted at `/`) and [`rofs::RoFs`] (the ramdisk's programs, at `/bin`) are the
//!    first two.
//!
//! Paths are normalised once, in the client, by [`path::normalize`]: every server sees absolute,
//! canonical paths relative to its own root (the FS manager strips the mount point with
//! [`path::Path::relative_to`]). Nothing in this crate does IPC or system calls, so all of it is tested
//! on the host with `cargo test -p chcore-fs`.
//!
//! A server's core, without the IPC around it:
//! ```
//! use chcore_fs::server::{O_CREAT, O_RDWR, SEEK_SET};
//! use chcore_fs::{path, tmpfs::Tmpfs, Vfs};
//!
//! let mut vfs = Vfs::new(Tmpfs::new(256), 64);
//! vfs.mkdir(&path::Path::parse("/home")?, 0)?;
//! // The client normalises against its working directory; the server sees `/home/notes`.
//! let notes = path::normalize("/home/user/..", "./notes")?;
//! let h = vfs.open(&notes, O_RDWR | O_CREAT, 0)?;
//! vfs.write(h, b"hello", 0)?;
//! vfs.lseek(h, 0, SEEK_SET)?;
//! let mut buf = [0; 8];
//! assert_eq!(vfs.read(h, &mut buf, 0)?, 5);
//! assert_eq!(vfs.stat(&notes)?.size, 5);
//! vfs.close(h)?;
//! # Ok::<(), chcore_fs::Errno>(())
//! ```
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod errno;
pub mod mapped;
pub mod path;
pub mod proto;
pub mod rofs;
pub mod server;
pub mod session;
#[cfg(test)]
mod testing;
pub mod tmpfs;
pub mod vfs;

pub use errno::Errno;
pub use path::Path;
pub use server::{Handle, Vfs};
pub use vfs::{Attr, DirEntry, FileSystem, FileType, Ino, StatFs};
