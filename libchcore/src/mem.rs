//! `memcpy` for user programs, 64 bytes a round.
//!
//! The `memcpy` that comes with `core` on this target moves 8 bytes a round
//! (about half an instruction a byte). File data and IPC messages cross
//! shared buffers with it, so a 4 KiB `pwrite` and `pread` spent 40% of
//! their instructions there (docs/performance.md). This one moves 64 bytes
//! a round with load and store pairs (about a sixth of an instruction a
//! byte), then 8 bytes, then single bytes. User memory is Normal memory, so
//! unaligned pairs are allowed (ARM ARM B2.5.2); it is defined here, a
//! strong symbol, in place of `core`'s weak one.

core::arch::global_asm!(
    r#"
    .section .text.memcpy, "ax"
    .global memcpy
    .type memcpy, %function
    .p2align 4
memcpy:
    mov     x6, x0
    cmp     x2, #64
    b.lo    2f
1:  ldp     x3, x4, [x1]
    ldp     x5, x7, [x1, #16]
    stp     x3, x4, [x6]
    stp     x5, x7, [x6, #16]
    ldp     x3, x4, [x1, #32]
    ldp     x5, x7, [x1, #48]
    stp     x3, x4, [x6, #32]
    stp     x5, x7, [x6, #48]
    add     x1, x1, #64
    add     x6, x6, #64
    sub     x2, x2, #64
    cmp     x2, #64
    b.hs    1b
2:  cmp     x2, #8
    b.lo    3f
    ldr     x3, [x1], #8
    str     x3, [x6], #8
    sub     x2, x2, #8
    b       2b
3:  cbz     x2, 4f
    ldrb    w3, [x1], #1
    strb    w3, [x6], #1
    sub     x2, x2, #1
    b       3b
4:  ret
    .size memcpy, . - memcpy
"#
);
