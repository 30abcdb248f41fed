#!/bin/sh
# Lab autograder: a wrapper around `cargo xtask grade`. Example: scripts/grade.sh --machine raspi3
exec cargo xtask grade "$@"
