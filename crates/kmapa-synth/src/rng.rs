//! Seeded randomness. Every part of the generator draws from its own ChaCha8 stream
//! derived from the user's seed and a fixed label, so adding draws in one part never
//! shifts another, and the same seed gives byte-identical output on every platform.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub type Rng = ChaCha8Rng;

/// A stream for `label` under `seed` (FNV-1a of the label selects the stream).
pub fn stream(seed: u64, label: &str) -> Rng {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(h);
    rng
}

/// Standard normal (Box–Muller).
pub fn normal(rng: &mut Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Log-normal with median 1 and the given sigma.
pub fn lognormal(rng: &mut Rng, sigma: f64) -> f64 {
    (sigma * normal(rng)).exp()
}

/// Poisson by inversion (small means only, as used here).
pub fn poisson(rng: &mut Rng, mean: f64) -> u32 {
    let l = (-mean).exp();
    let mut k = 0;
    let mut p = 1.0;
    loop {
        p *= rng.random::<f64>();
        if p <= l {
            return k;
        }
        k += 1;
    }
}

/// Rounds a non-negative expectation to an integer without bias.
pub fn stochastic_round(rng: &mut Rng, x: f64) -> usize {
    let floor = x.floor();
    floor as usize + usize::from(rng.random::<f64>() < x - floor)
}

/// Walker/Vose alias table: O(1) draws from a fixed discrete distribution.
#[derive(Debug, Clone)]
pub struct Alias {
    prob: Vec<f64>,
    alias: Vec<u32>,
}

impl Alias {
    /// # Panics
    /// If `weights` is empty or sums to zero.
    pub fn new(weights: &[f64]) -> Self {
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        assert!(n > 0 && total > 0.0, "alias table needs positive weights");
        let mut prob: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut alias = vec![0u32; n];
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| prob[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            alias[s] = l as u32;
            prob[l] -= 1.0 - prob[s];
            if prob[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        for i in large.into_iter().chain(small) {
            prob[i] = 1.0;
        }
        Self { prob, alias }
    }

    pub fn sample(&self, rng: &mut Rng) -> usize {
        let i = rng.random_range(0..self.prob.len());
        if rng.random::<f64>() < self.prob[i] {
            i
        } else {
            self.alias[i] as usize
        }
    }
}

/// Splits `total` into integer parts proportional to `weights` (largest remainder),
/// so the parts sum to `total` exactly.
pub fn apportion(total: u64, weights: &[f64]) -> Vec<u64> {
    let sum: f64 = weights.iter().sum();
    let quotas: Vec<f64> = weights.iter().map(|w| w / sum * total as f64).collect();
    let mut parts: Vec<u64> = quotas.iter().map(|q| q.floor() as u64).collect();
    let mut rest = total - parts.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = quotas[a] - quotas[a].floor();
        let rb = quotas[b] - quotas[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for i in order {
        if rest == 0 {
            break;
        }
        parts[i] += 1;
        rest -= 1;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| stream(7, "x").random()).collect();
        let mut r = stream(7, "x");
        let b: Vec<u64> = (0..4).map(|_| r.random()).collect();
        assert_eq!(a[0], b[0]);
        let c: u64 = stream(7, "y").random();
        let d: u64 = stream(8, "x").random();
        assert_ne!(b[0], c);
        assert_ne!(b[0], d);
    }

    #[test]
    fn alias_table_matches_weights() {
        let weights = [1.0, 0.0, 3.0, 6.0];
        let table = Alias::new(&weights);
        let mut rng = stream(1, "alias");
        let mut counts = [0u32; 4];
        let n = 200_000;
        for _ in 0..n {
            counts[table.sample(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        for (c, w) in counts.iter().zip(weights) {
            let share = f64::from(*c) / f64::from(n);
            assert!((share - w / 10.0).abs() < 0.005, "{counts:?}");
        }
    }

    #[test]
    fn apportion_sums_exactly() {
        let parts = apportion(673_531, &[1.0, 2.0, 3.3, 0.7]);
        assert_eq!(parts.iter().sum::<u64>(), 673_531);
        assert_eq!(apportion(10, &[1.0, 1.0, 1.0]), [4, 3, 3]);
    }

    #[test]
    fn poisson_mean() {
        let mut rng = stream(3, "p");
        let n = 100_000;
        let sum: u64 = (0..n).map(|_| u64::from(poisson(&mut rng, 0.8))).sum();
        let mean = sum as f64 / n as f64;
        assert!((mean - 0.8).abs() < 0.02, "{mean}");
    }
}
