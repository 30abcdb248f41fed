//! A bounded byte ring buffer: the inside of a pipe.

use alloc::vec;
use alloc::vec::Vec;

/// A ring of fixed capacity.
#[derive(Debug)]
pub struct Ring {
    buf: Vec<u8>,
    head: usize,
    len: usize,
}

impl Ring {
    /// An empty ring of `capacity` bytes.
    pub fn new(capacity: usize) -> Ring {
        Ring { buf: vec![0; capacity.max(1)], head: 0, len: 0 }
    }

    /// Copy in as much of `data` as fits; returns how much.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let cap = self.buf.len();
        let n = data.len().min(cap - self.len);
        for (i, &b) in data[..n].iter().enumerate() {
            self.buf[(self.head + self.len + i) % cap] = b;
        }
        self.len += n;
        n
    }

    /// Copy out up to `out.len()` bytes; returns how many.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let cap = self.buf.len();
        let n = out.len().min(self.len);
        for (i, o) in out[..n].iter_mut().enumerate() {
            *o = self.buf[(self.head + i) % cap];
        }
        self.head = (self.head + n) % cap;
        self.len -= n;
        n
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether no byte fits.
    pub fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_with_wraparound() {
        let mut r = Ring::new(8);
        assert_eq!(r.write(b"abcdef"), 6);
        let mut out = [0u8; 4];
        assert_eq!(r.read(&mut out), 4);
        assert_eq!(&out, b"abcd");
        assert_eq!(r.write(b"ghijklmn"), 6, "only the free space is taken");
        assert!(r.is_full());
        let mut all = [0u8; 16];
        let n = r.read(&mut all);
        assert_eq!(&all[..n], b"efghijkl");
        assert!(r.is_empty());
        assert_eq!(r.read(&mut all), 0);
    }

    #[test]
    fn matches_a_model_under_random_use() {
        let mut r = Ring::new(13);
        let mut model = std::collections::VecDeque::new();
        let mut x: u32 = 12345;
        for step in 0..10_000u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let n = (x >> 16) as usize % 9;
            if x.is_multiple_of(2) {
                let data: Vec<u8> = (0..n).map(|i| (step as usize + i) as u8).collect();
                let w = r.write(&data);
                model.extend(&data[..w]);
                assert_eq!(w, n.min(13 - (model.len() - w)));
            } else {
                let mut out = vec![0; n];
                let got = r.read(&mut out);
                let want: Vec<u8> = model.drain(..got).collect();
                assert_eq!(&out[..got], &want[..]);
            }
            assert_eq!(r.len(), model.len());
        }
    }
}
