//! `memcpy` for user programs, 128 bytes a round.
//!
//! The `memcpy` that comes with `core` on this target moves 8 bytes a round
//! (about half an instruction a byte). File data and IPC messages cross
//! shared buffers with it, so a 4 KiB `pwrite` and `pread` spent 40% of
//! their instructions there, and a sequential read copies every byte twice
//! (docs/performance.md). This one moves 128 bytes a round with load and
//! store pairs, each pointer advanced by its first access of the round (17
//! instructions: about a seventh of an instruction a byte). The rest, under
//! 128 bytes, goes by the bits of the length: 64, 32, 16, 8, 4, 2, then 1
//! byte, so a short copy costs at most about 25 instructions. The count is
//! kept 128 low through the loop; its low seven bits are the rest all the
//! same (two's complement), so the tail tests them without adding it back.
//!
//! User memory is Normal memory, so unaligned accesses are allowed (ARM ARM
//! B2.5.2). It is defined here, a strong symbol, in place of `core`'s weak
//! one, and uses only caller-saved registers (x3-x11; never x18).

core::arch::global_asm!(
    r#"
    .section .text.memcpy, "ax"
    .global memcpy
    .type memcpy, %function
    .p2align 4
memcpy:
    mov     x6, x0
    subs    x2, x2, #128
    b.lo    2f
1:  ldp     x3, x4, [x1], #128
    ldp     x5, x7, [x1, #-112]
    ldp     x8, x9, [x1, #-96]
    ldp     x10, x11, [x1, #-80]
    stp     x3, x4, [x6], #128
    stp     x5, x7, [x6, #-112]
    stp     x8, x9, [x6, #-96]
    stp     x10, x11, [x6, #-80]
    ldp     x3, x4, [x1, #-64]
    ldp     x5, x7, [x1, #-48]
    ldp     x8, x9, [x1, #-32]
    ldp     x10, x11, [x1, #-16]
    stp     x3, x4, [x6, #-64]
    stp     x5, x7, [x6, #-48]
    stp     x8, x9, [x6, #-32]
    stp     x10, x11, [x6, #-16]
    subs    x2, x2, #128
    b.hs    1b
2:  tbz     x2, #6, 3f
    ldp     x3, x4, [x1], #64
    ldp     x5, x7, [x1, #-48]
    ldp     x8, x9, [x1, #-32]
    ldp     x10, x11, [x1, #-16]
    stp     x3, x4, [x6], #64
    stp     x5, x7, [x6, #-48]
    stp     x8, x9, [x6, #-32]
    stp     x10, x11, [x6, #-16]
3:  tbz     x2, #5, 4f
    ldp     x3, x4, [x1], #32
    ldp     x5, x7, [x1, #-16]
    stp     x3, x4, [x6], #32
    stp     x5, x7, [x6, #-16]
4:  tbz     x2, #4, 5f
    ldp     x3, x4, [x1], #16
    stp     x3, x4, [x6], #16
5:  tbz     x2, #3, 6f
    ldr     x3, [x1], #8
    str     x3, [x6], #8
6:  tbz     x2, #2, 7f
    ldr     w3, [x1], #4
    str     w3, [x6], #4
7:  tbz     x2, #1, 8f
    ldrh    w3, [x1], #2
    strh    w3, [x6], #2
8:  tbz     x2, #0, 9f
    ldrb    w3, [x1]
    strb    w3, [x6]
9:  ret
    .size memcpy, . - memcpy
"#
);
