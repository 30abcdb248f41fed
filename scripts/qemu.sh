#!/bin/sh
# Boot the kernel in QEMU: a wrapper around `cargo xtask run` for lab users.
# Example: scripts/qemu.sh --machine raspi3
exec cargo xtask run "$@"
