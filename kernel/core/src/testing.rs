//! Helpers for the host tests of this crate and of the others in the
//! workspace (chcore-proc's tests use them too).

/// A seeded xorshift64 generator: randomised tests that replay exactly.
pub struct XorShift(pub u64);

impl XorShift {
    /// The next value (the state must not be zero).
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
