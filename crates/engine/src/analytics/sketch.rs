//! Distinct-customer sketches: HyperLogLog with 2^12 registers (standard error
//! 1.04 / √4096 ≈ 1.6 %), mergeable by taking each register's maximum, so a week or a month
//! is the union of its days without reading any history.
//!
//! Written here rather than taken from a crate because the bytes are stored for years: the
//! format below is this module's contract (a crate's serde layout is not one). Small sketches
//! are stored sparse — a tag byte 0 then (register u16 big-endian, value u8) triples in
//! register order — and dense past 1,365 registers (tag 1 then the 4,096 registers).

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};

/// log2 of the register count.
const P: u32 = 12;
/// The register count.
pub const REGISTERS: usize = 1 << P;
/// The relative standard error of an estimate.
pub const STANDARD_ERROR: f64 = 0.0163;
const SPARSE: u8 = 0;
const DENSE: u8 = 1;

/// A HyperLogLog sketch of customer ids.
#[derive(Clone, PartialEq, Eq)]
pub struct Sketch {
    registers: Box<[u8; REGISTERS]>,
}

impl std::fmt::Debug for Sketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sketch(~{:.0})", self.estimate())
    }
}

impl Default for Sketch {
    fn default() -> Self {
        Self {
            registers: Box::new([0; REGISTERS]),
        }
    }
}

impl Sketch {
    /// Count `id` (a customer id; the same id always lands in the same register).
    pub fn insert(&mut self, id: &str) {
        let digest = Sha256::digest(id.as_bytes());
        let mut word = [0u8; 8];
        word.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
        let h = u64::from_be_bytes(word);
        let index = usize::try_from(h >> (64 - P)).unwrap_or(0);
        // The rank of the first 1 bit in the remaining 52 bits (53 when all are zero).
        let rest = h << P;
        let rank = u8::try_from(rest.leading_zeros().min(64 - P) + 1).unwrap_or(u8::MAX);
        if let Some(r) = self.registers.get_mut(index) {
            *r = (*r).max(rank);
        }
    }

    /// Add everything `other` counted.
    pub fn merge(&mut self, other: &Sketch) {
        for (a, b) in self.registers.iter_mut().zip(other.registers.iter()) {
            *a = (*a).max(*b);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.registers.iter().all(|&r| r == 0)
    }

    /// The estimated number of distinct ids (HyperLogLog with linear counting below 2.5 m).
    pub fn estimate(&self) -> f64 {
        let m = REGISTERS as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let mut sum = 0.0;
        let mut zeros = 0u32;
        for &r in self.registers.iter() {
            sum += 2f64.powi(-i32::from(r));
            if r == 0 {
                zeros += 1;
            }
        }
        let raw = alpha * m * m / sum;
        if raw <= 2.5 * m && zeros > 0 {
            m * (m / f64::from(zeros)).ln()
        } else {
            raw
        }
    }

    /// The estimate rounded to a count.
    pub fn count(&self) -> i64 {
        // An estimate of at most a few billion: the cast cannot truncate meaningfully.
        self.estimate().round() as i64
    }

    /// The stored form (see the module documentation).
    pub fn to_bytes(&self) -> Vec<u8> {
        let used = self.registers.iter().filter(|&&r| r != 0).count();
        if used * 3 < REGISTERS {
            let mut out = Vec::with_capacity(1 + used * 3);
            out.push(SPARSE);
            for (i, &r) in self.registers.iter().enumerate() {
                if r != 0 {
                    let i = u16::try_from(i).unwrap_or(u16::MAX);
                    out.extend_from_slice(&i.to_be_bytes());
                    out.push(r);
                }
            }
            out
        } else {
            let mut out = Vec::with_capacity(1 + REGISTERS);
            out.push(DENSE);
            out.extend_from_slice(self.registers.as_slice());
            out
        }
    }

    /// Read a stored sketch; anything else is an internal error (the store is ours).
    pub fn from_bytes(bytes: &[u8]) -> Result<Sketch> {
        let bad = || Error::Internal("a stored analytics sketch does not parse".into());
        let mut s = Sketch::default();
        match bytes.split_first() {
            Some((&SPARSE, rest)) if rest.len() % 3 == 0 => {
                for t in rest.chunks_exact(3) {
                    let &[hi, lo, r] = t else {
                        return Err(bad());
                    };
                    let i = usize::from(u16::from_be_bytes([hi, lo]));
                    let slot = s.registers.get_mut(i).ok_or_else(bad)?;
                    *slot = r;
                }
            }
            Some((&DENSE, rest)) if rest.len() == REGISTERS => {
                s.registers.copy_from_slice(rest);
            }
            _ => return Err(bad()),
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(range: std::ops::Range<u32>) -> Sketch {
        let mut s = Sketch::default();
        for i in range {
            s.insert(&format!("customer-{i}"));
        }
        s
    }

    #[test]
    fn estimates_stay_within_three_standard_errors() {
        for n in [1u32, 10, 100, 1_000, 10_000, 100_000] {
            let s = of(0..n);
            let e = s.estimate();
            let err = (e - f64::from(n)).abs() / f64::from(n);
            assert!(err < 3.0 * STANDARD_ERROR, "n = {n}: estimate {e:.0}");
        }
        assert_eq!(Sketch::default().count(), 0);
    }

    #[test]
    fn the_same_id_counts_once_and_a_merge_is_the_union() {
        let mut a = of(0..5_000);
        let again = of(0..5_000);
        a.merge(&again);
        assert_eq!(a, of(0..5_000));
        let mut b = of(2_500..7_500);
        b.merge(&a);
        assert_eq!(b, of(0..7_500));
    }

    #[test]
    fn stored_forms_round_trip() {
        for n in [0u32, 3, 1_000, 50_000] {
            let s = of(0..n);
            let bytes = s.to_bytes();
            assert_eq!(Sketch::from_bytes(&bytes).unwrap(), s);
            if n <= 1_000 {
                assert_eq!(bytes.first(), Some(&SPARSE));
            } else {
                assert_eq!(bytes.len(), 1 + REGISTERS);
            }
        }
        assert!(Sketch::from_bytes(&[]).is_err());
        assert!(Sketch::from_bytes(&[0, 1]).is_err());
        assert!(Sketch::from_bytes(&[1, 2, 3]).is_err());
        assert!(Sketch::from_bytes(&[0, 0xff, 0xff, 1]).is_err());
    }
}
