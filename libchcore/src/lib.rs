//! User-space runtime for programs on this kernel (start-up, system calls,
//! IPC, processes).
//!
//! Not written yet: the kernel does not run user programs until the object
//! model (cap_groups, threads, vmspaces, syscalls) exists. This crate holds
//! the place in the workspace layout that procmgr and the programs will
//! depend on.
#![no_std]
