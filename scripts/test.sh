#!/bin/sh
# Run every test (host, lints, QEMU boot tests): a wrapper around `cargo xtask test`.
exec cargo xtask test "$@"
