# Lab-style shortcuts for people who know ChCore's Makefile. Everything here
# is a thin wrapper around `cargo xtask`; see README.md.
MACHINE ?= virt

.PHONY: build qemu qemu-test qemu-lab qemu-grade test grade gdb clean

build:
	cargo xtask build

qemu:
	cargo xtask run --machine $(MACHINE)

qemu-test:
	cargo xtask run --machine $(MACHINE) --test-image

qemu-lab:
	cargo xtask run --machine $(MACHINE) --lab-image

# The lab image as graders boot it: straight into QEMU, no build step
# inside the grader's timer (run `make build` first). ChCore's own graders
# can run this as their command (docs/testing.md). These lines must stay
# what `systests::lab_config` says; a host test compares them.
QEMU_LAB_virt := qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 4 -m 1G -display none -serial mon:stdio -kernel target/images/virt/kernel-lab.elf
QEMU_LAB_raspi3 := qemu-system-aarch64 -M raspi3b -display none -serial mon:stdio -kernel target/images/raspi3/kernel8-lab.img

qemu-grade:
	@test -f $(lastword $(QEMU_LAB_$(MACHINE))) || { echo "no lab image for MACHINE=$(MACHINE): run make build"; exit 1; }
	$(QEMU_LAB_$(MACHINE))

test:
	cargo xtask test

grade:
	cargo xtask grade

gdb:
	cargo xtask gdb --machine $(MACHINE)

clean:
	cargo clean
