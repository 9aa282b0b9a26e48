//! The Cell Key Method (ONS 2021 Census, ABS TableBuilder, Eurostat guidelines).
//!
//! Every person gets a permanent record key, derived by HMAC from the pseudonym and a
//! secret, uniform in [0, 1). A cell's key is the sum of its persons' keys modulo 1, so
//! the same set of people has the same key in any layer, resolution, filter or query.
//! A p-table maps (true count, cell key) to a small noise. Keys are kept as 64-bit
//! fixed-point fractions: adding them with wrap-around is exact arithmetic modulo 1.

use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;

/// A record key: the fraction `k / 2^64` of [0, 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct RecordKey(pub u64);

impl RecordKey {
    /// The key of a person: the first 64 bits of HMAC-SHA-256(secret, "ckm:" + pseudonym).
    pub fn of(secret: &[u8], person_id: &str) -> Self {
        RecordKeyer::new(secret).key(person_id)
    }

    /// A key from a fraction in [0, 1) (for worked examples and tests).
    pub fn from_fraction(f: f64) -> Self {
        assert!((0.0..1.0).contains(&f), "a key is a fraction in [0, 1)");
        RecordKey((f * 2f64.powi(64)) as u64)
    }

    pub fn fraction(self) -> f64 {
        self.0 as f64 / 2f64.powi(64)
    }
}

/// [`RecordKey::of`] for many persons: the HMAC's keyed state is made once, not
/// once per person (half of the hashing when a cube is loaded).
#[derive(Clone)]
pub struct RecordKeyer(Hmac<Sha256>);

impl RecordKeyer {
    pub fn new(secret: &[u8]) -> Self {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("any key length works");
        mac.update(b"ckm:");
        RecordKeyer(mac)
    }

    pub fn key(&self, person_id: &str) -> RecordKey {
        let mut mac = self.0.clone();
        mac.update(person_id.as_bytes());
        let bytes = mac.finalize().into_bytes();
        RecordKey(u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes")))
    }
}

/// A cell's key: the sum of its records' keys modulo 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct CellKey(pub u64);

impl CellKey {
    pub fn of(keys: impl IntoIterator<Item = RecordKey>) -> Self {
        CellKey(keys.into_iter().fold(0u64, |acc, k| acc.wrapping_add(k.0)))
    }

    /// The key of this cell with one more record.
    #[must_use]
    pub fn with(self, k: RecordKey) -> Self {
        CellKey(self.0.wrapping_add(k.0))
    }

    pub fn fraction(self) -> f64 {
        self.0 as f64 / 2f64.powi(64)
    }
}

/// A fingerprint of a cell-key secret (not the secret): tells whether two sets of
/// analyst answers were made with the same keys.
pub fn fingerprint(secret: &[u8]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"kmapa cell-key secret fingerprint\0");
    h.update(secret);
    hex::encode(&h.finalize()[..8])
}

/// One row of a p-table: for a true count, the possible noises with probabilities.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PRow {
    /// (noise, probability), noise ascending; probabilities sum to 1.
    pub outcomes: Vec<(i64, f64)>,
}

impl PRow {
    pub fn mean(&self) -> f64 {
        self.outcomes.iter().map(|(d, p)| *d as f64 * p).sum()
    }

    pub fn variance(&self) -> f64 {
        let m = self.mean();
        self.outcomes
            .iter()
            .map(|(d, p)| (*d as f64 - m).powi(2) * p)
            .sum()
    }
}

/// Maps (count, cell key) to noise. Row `n` applies to count `n`; counts beyond the
/// last row use the last row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PTable {
    pub rows: Vec<PRow>,
}

/// Parameters of a generated p-table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PTableParams {
    /// Maximum absolute noise.
    pub max_noise: u32,
    /// Target variance of the noise (reached exactly where the support is symmetric).
    pub variance: f64,
    /// No published count in 1..=js: small counts become 0 or more than js.
    pub js: u32,
}

impl PTable {
    /// A p-table from explicit rows of *output values* with probabilities, as
    /// handbooks print them (`1 → 0 or 2 with ½ each`).
    pub fn from_outputs(rows: &[&[(u64, f64)]]) -> Self {
        PTable {
            rows: rows
                .iter()
                .enumerate()
                .map(|(n, outs)| PRow {
                    outcomes: outs
                        .iter()
                        .map(|&(v, p)| (v as i64 - n as i64, p))
                        .collect(),
                })
                .collect(),
        }
    }

    /// Builds a p-table with zero mean in every row, noise within ±D, no negative
    /// results, no results in 1..=js, and variance V where the support allows: for
    /// each count, a discrete Gaussian over the allowed noises, exponentially tilted so
    /// that the mean is exactly zero.
    pub fn generate(params: PTableParams) -> Self {
        let d = i64::from(params.max_noise);
        let js = i64::from(params.js);
        // σ² of the untruncated rows: the discrete Gaussian on [-D, D] with variance V.
        let full: Vec<i64> = (-d..=d).collect();
        let sigma2 = bisect(1e-6, 1e6, |s2| {
            row_for(&full, s2, 0.0).variance() - params.variance
        });
        let last = (d + js + 1) as usize;
        let mut rows = Vec::with_capacity(last + 1);
        for n in 0..=last as i64 {
            if n == 0 {
                rows.push(PRow {
                    outcomes: vec![(0, 1.0)],
                });
                continue;
            }
            let support: Vec<i64> = (-d..=d)
                .filter(|&x| n + x >= 0 && !(1..=js).contains(&(n + x)))
                .collect();
            let has_neg = support.iter().any(|&x| x < 0);
            let has_pos = support.iter().any(|&x| x > 0);
            let row = if support.contains(&0) && !(has_neg && has_pos) {
                PRow {
                    outcomes: vec![(0, 1.0)],
                }
            } else {
                let lambda = bisect(-50.0, 50.0, |l| row_for(&support, sigma2, l).mean());
                row_for(&support, sigma2, lambda)
            };
            rows.push(row);
        }
        PTable { rows }
    }

    fn row(&self, count: u64) -> &PRow {
        &self.rows[(count as usize).min(self.rows.len() - 1)]
    }

    /// The noise for a count and a cell key: the outcome whose interval of the
    /// cumulative distribution holds the key.
    pub fn noise(&self, count: u64, key: CellKey) -> i64 {
        let row = self.row(count);
        let x = key.fraction();
        let mut cumulative = 0.0;
        for &(d, p) in &row.outcomes {
            cumulative += p;
            if x < cumulative {
                return d;
            }
        }
        row.outcomes.last().map_or(0, |o| o.0)
    }

    /// The largest noise in any row.
    pub fn max_noise(&self) -> u64 {
        self.rows
            .iter()
            .flat_map(|r| r.outcomes.iter())
            .filter(|o| o.1 > 0.0)
            .map(|o| o.0.unsigned_abs())
            .max()
            .unwrap_or(0)
    }

    /// Every true count that can be published as `shown`, as the smallest and largest:
    /// what a reader who knows the table learns from a perturbed value.
    pub fn preimage(&self, shown: u64) -> Option<(u64, u64)> {
        let d = self.max_noise();
        let can = |n: u64| {
            self.row(n)
                .outcomes
                .iter()
                .any(|&(x, p)| p > 0.0 && (n as i64 + x).max(0) as u64 == shown)
        };
        let lo = (shown.saturating_sub(d)..=shown + d).find(|&n| can(n))?;
        let hi = (shown.saturating_sub(d)..=shown + d)
            .rev()
            .find(|&n| can(n))?;
        Some((lo, hi))
    }

    /// The largest true count that can be published below `threshold`: what a reader
    /// learns from a count hidden under the threshold.
    pub fn largest_below(&self, threshold: u64) -> u64 {
        let d = self.max_noise();
        (0..threshold + d)
            .rev()
            .find(|&n| {
                self.row(n)
                    .outcomes
                    .iter()
                    .any(|&(x, p)| p > 0.0 && ((n as i64 + x).max(0) as u64) < threshold)
            })
            .unwrap_or(0)
    }

    /// The perturbed count (never negative).
    pub fn perturb(&self, count: u64, key: CellKey) -> u64 {
        (count as i64 + self.noise(count, key)).max(0) as u64
    }
}

fn row_for(support: &[i64], sigma2: f64, lambda: f64) -> PRow {
    let w: Vec<f64> = support
        .iter()
        .map(|&x| (-(x * x) as f64 / (2.0 * sigma2) + lambda * x as f64).exp())
        .collect();
    let total: f64 = w.iter().sum();
    PRow {
        outcomes: support
            .iter()
            .zip(w)
            .map(|(&x, w)| (x, w / total))
            .collect(),
    }
}

/// Root of an increasing function on [lo, hi] by bisection.
fn bisect(mut lo: f64, mut hi: f64, f: impl Fn(f64) -> f64) -> f64 {
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if f(mid) > 0.0 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eurostat_worked_example() {
        // Record keys 0.9, 0.3 and 0.6 sum to 1.8: the cell key is 0.8.
        let key = CellKey::of([0.9, 0.3, 0.6].map(RecordKey::from_fraction));
        assert!((key.fraction() - 0.8).abs() < 1e-12, "{}", key.fraction());
        // The handbook's toy p-table.
        let t = PTable::from_outputs(&[
            &[(0, 1.0)],
            &[(0, 0.5), (2, 0.5)],
            &[(2, 0.8), (3, 0.2)],
            &[(2, 0.3), (3, 0.4), (4, 0.3)],
        ]);
        // A count of 3 with cell key 0.8 falls in the last interval [0.7, 1): 4.
        assert_eq!(t.perturb(3, key), 4);
        assert_eq!(
            t.perturb(30, key),
            31,
            "counts past the table use its last row"
        );
        assert_eq!(
            t.perturb(3, CellKey::of([RecordKey::from_fraction(0.5)])),
            3
        );
    }

    #[test]
    fn ons_ten_five_rule() {
        // Counts below 10 become 0; others are rounded to the nearest 5.
        let mut rows: Vec<Vec<(u64, f64)>> = (0..10).map(|_| vec![(0, 1.0)]).collect();
        for n in 10..=30u64 {
            rows.push(vec![((n + 2) / 5 * 5, 1.0)]);
        }
        let refs: Vec<&[(u64, f64)]> = rows.iter().map(Vec::as_slice).collect();
        let t = PTable::from_outputs(&refs);
        let k = CellKey(12345);
        assert_eq!(t.perturb(12, k), 10);
        assert_eq!(t.perturb(13, k), 15);
        assert_eq!(t.perturb(7, k), 0);
    }

    #[test]
    fn generated_table_meets_its_promises() {
        let params = PTableParams {
            max_noise: 3,
            variance: 2.0,
            js: 2,
        };
        let t = PTable::generate(params);
        for (n, row) in t.rows.iter().enumerate() {
            let total: f64 = row.outcomes.iter().map(|o| o.1).sum();
            assert!((total - 1.0).abs() < 1e-9);
            assert!(row.mean().abs() < 1e-9, "row {n} mean {}", row.mean());
            for &(d, p) in &row.outcomes {
                assert!(p > 0.0);
                assert!(d.abs() <= 3);
                let out = n as i64 + d;
                assert!(out >= 0, "row {n} can go negative");
                assert!(!(1..=2).contains(&out), "row {n} can publish {out}");
            }
        }
        // Far from zero the support is symmetric and the variance is as asked.
        assert!((t.rows.last().unwrap().variance() - 2.0).abs() < 1e-6);
    }

    #[test]
    fn preimages_are_the_counts_that_can_produce_a_value() {
        let t = PTable::generate(PTableParams {
            max_noise: 3,
            variance: 2.0,
            js: 2,
        });
        // Brute force over counts and keys: every (count, output) pair seen must lie
        // within the preimage of the output, and the preimage's ends must be seen.
        let mut seen = std::collections::BTreeMap::<u64, (u64, u64)>::new();
        for n in 0..40u64 {
            for i in 0..2000u64 {
                let key = CellKey(i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let v = t.perturb(n, key);
                let e = seen.entry(v).or_insert((n, n));
                e.0 = e.0.min(n);
                e.1 = e.1.max(n);
            }
        }
        for (&v, &(lo, hi)) in seen.iter().filter(|(v, _)| **v < 30) {
            assert_eq!(t.preimage(v), Some((lo, hi)), "value {v}");
        }
        assert_eq!(t.preimage(1), None, "js = 2: 1 is never published");
        let below: u64 = (0..40u64)
            .filter(|&n| {
                (0..2000u64)
                    .any(|i| t.perturb(n, CellKey(i.wrapping_mul(0x9E37_79B9_7F4A_7C15))) < 10)
            })
            .max()
            .unwrap();
        assert_eq!(t.largest_below(10), below);
        assert_eq!(t.max_noise(), 3);
    }

    #[test]
    fn record_keys_are_stable_and_secret_dependent() {
        // The keyer's shared state gives the HMAC of the whole message.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"secret").unwrap();
        mac.update(b"ckm:person-1");
        let direct = mac.finalize().into_bytes();
        assert_eq!(
            RecordKeyer::new(b"secret").key("person-1"),
            RecordKey(u64::from_be_bytes(direct[..8].try_into().unwrap()))
        );
        let a = RecordKey::of(b"secret", "person-1");
        assert_eq!(a, RecordKey::of(b"secret", "person-1"));
        assert_ne!(a, RecordKey::of(b"other", "person-1"));
        assert_ne!(a, RecordKey::of(b"secret", "person-2"));
    }
}
