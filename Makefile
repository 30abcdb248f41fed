# Lab-style shortcuts for people who know ChCore's Makefile. Everything here
# is a thin wrapper around `cargo xtask`; see README.md.
MACHINE ?= virt

.PHONY: build qemu qemu-test test grade gdb clean

build:
	cargo xtask build

qemu:
	cargo xtask run --machine $(MACHINE)

qemu-test:
	cargo xtask run --machine $(MACHINE) --test-image

test:
	cargo xtask test

grade:
	cargo xtask grade

gdb:
	cargo xtask gdb --machine $(MACHINE)

clean:
	cargo clean
