//! Logic shared by procmgr, libchcore, the shell and the build: the procmgr
//! protocol, the argument block on a new process's stack, the cpio (newc)
//! ramdisk format, the pipe protocol over shared memory
//! the shell's command-line parser, the tools' options and text logic,
//! `top`'s arithmetic and the user-space lock's protocol.
//! All of it is plain data handling, unit-tested on the host.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod args;
pub mod cpio;
pub mod editor;
pub mod lock;
pub mod opts;
pub mod pipe;
pub mod proto;
pub mod shell;
pub mod text;
pub mod top;
