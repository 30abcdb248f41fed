#!/bin/sh
# Build a Raspberry Pi 3 SD card image: a wrapper around `cargo xtask flash`.
# Example: scripts/flash.sh --image target/sdcard.img --firmware ~/pi-firmware --loader
exec cargo xtask flash "$@"
