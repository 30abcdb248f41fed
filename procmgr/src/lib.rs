//! The root server: processes, ELF loading, fork/exec/wait and pipes over IPC.
//!
//! Not written yet: the kernel will create the root thread from this
//! program's ELF once it can run user code. This crate holds its place in
//! the workspace layout.
#![no_std]
