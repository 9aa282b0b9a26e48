//! The Cell Key Method's promises, checked on many random cells.

use kmapa_protect::ckm::{CellKey, PTable, PTableParams, RecordKey};
use rand::{RngExt, SeedableRng};

const SECRET: &[u8] = b"test-secret-not-for-production";

fn table() -> PTable {
    PTable::generate(PTableParams {
        max_noise: 3,
        variance: 2.0,
        js: 2,
    })
}

fn keys(people: &[String]) -> CellKey {
    CellKey::of(people.iter().map(|p| RecordKey::of(SECRET, p)))
}

fn people(rng: &mut rand_chacha::ChaCha8Rng, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| format!("{:032x}", rng.random::<u128>()))
        .collect()
}

#[test]
fn the_same_people_get_the_same_answer_in_any_order() {
    let t = table();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    for n in 1..60 {
        let mut ps = people(&mut rng, n);
        let a = t.perturb(n as u64, keys(&ps));
        ps.reverse();
        assert_eq!(a, t.perturb(n as u64, keys(&ps)));
        assert_eq!(a, t.perturb(n as u64, keys(&ps)), "repeated query");
    }
}

#[test]
fn noise_is_bounded_never_negative_never_small_and_centred() {
    let t = table();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let mut sum = 0i64;
    let cells = 20_000;
    for _ in 0..cells {
        let n = rng.random_range(0..40usize);
        let ps = people(&mut rng, n);
        let out = t.perturb(n as u64, keys(&ps));
        let noise = out as i64 - n as i64;
        assert!(noise.abs() <= 3, "{n} -> {out}");
        assert!(
            !(1..=2).contains(&out),
            "{n} -> {out}: small counts are never published"
        );
        sum += noise;
    }
    let mean = sum as f64 / cells as f64;
    assert!(mean.abs() < 0.05, "mean noise {mean}");
}

#[test]
fn differencing_two_overlapping_areas_no_longer_reveals_the_small_group() {
    // Area B is area A plus one small group of g people (say, one street). Without
    // noise, B - A gives g exactly. With cell keys, it rarely does.
    let t = table();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let trials = 2_000;
    let mut exact = 0;
    for _ in 0..trials {
        let size = rng.random_range(20..200);
        let a = people(&mut rng, size);
        let g = rng.random_range(1..3);
        let mut b = a.clone();
        b.extend(people(&mut rng, g));
        let diff =
            t.perturb(b.len() as u64, keys(&b)) as i64 - t.perturb(a.len() as u64, keys(&a)) as i64;
        if diff == g as i64 {
            exact += 1;
        }
    }
    let share = f64::from(exact) / f64::from(trials);
    assert!(
        share < 0.35,
        "the difference revealed the group in {:.0} % of trials",
        share * 100.0
    );
}
