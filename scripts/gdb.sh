#!/bin/sh
# Debug the kernel: QEMU halted with a gdbstub, gdb-multiarch attached.
# A wrapper around `cargo xtask gdb`. Example: scripts/gdb.sh --machine raspi3
exec cargo xtask gdb "$@"
