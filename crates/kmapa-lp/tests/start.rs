//! `start_at` against HiGHS itself: a transportation problem (20 supplies × 20
//! demands) with a strictly positive solution known in advance, as the analyst audit
//! knows the true counts of its systems.

use highs::{HighsModelStatus, Model, RowProblem, Sense};

const N: usize = 20;

struct Transport {
    supply: Vec<f64>,
    demand: Vec<f64>,
    cost: Vec<f64>,
}

fn transport() -> Transport {
    // A fixed linear congruential sequence: the same problem every run.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % 97 + 1
    };
    let supply: Vec<f64> = (0..N).map(|_| next() as f64).collect();
    let total: f64 = supply.iter().sum();
    // Demands: the same total, split unevenly.
    let weights: Vec<f64> = (0..N).map(|_| next() as f64).collect();
    let w: f64 = weights.iter().sum();
    let demand: Vec<f64> = weights.iter().map(|x| x / w * total).collect();
    let cost = (0..N * N).map(|_| next() as f64).collect();
    Transport {
        supply,
        demand,
        cost,
    }
}

/// That `x` (a value per supply × demand) ships every supply and meets every demand.
fn assert_ships_every_supply_and_demand(t: &Transport, x: &[f64]) {
    for i in 0..N {
        let s: f64 = (0..N).map(|j| x[i * N + j]).sum();
        assert!((s - t.supply[i]).abs() < 1e-6, "supply {i}: {s}");
    }
    for j in 0..N {
        let s: f64 = (0..N).map(|i| x[i * N + j]).sum();
        assert!((s - t.demand[j]).abs() < 1e-6, "demand {j}: {s}");
    }
}

/// The model with zero costs, its columns, and its interior solution
/// x_ij = s_i d_j / total.
fn model(t: &Transport) -> (Model, Vec<highs::Col>, Vec<f64>) {
    let mut p = RowProblem::default();
    let total: f64 = t.supply.iter().sum();
    let cols: Vec<_> = (0..N * N).map(|_| p.add_column(0.0, 0.0..=1.0e6)).collect();
    for i in 0..N {
        p.add_row(
            t.supply[i]..=t.supply[i],
            (0..N).map(|j| (cols[i * N + j], 1.0)),
        );
    }
    for j in 0..N {
        p.add_row(
            t.demand[j]..=t.demand[j],
            (0..N).map(|i| (cols[i * N + j], 1.0)),
        );
    }
    let point = (0..N * N)
        .map(|k| t.supply[k / N] * t.demand[k % N] / total)
        .collect();
    let mut m = p.optimise(Sense::Minimise);
    m.make_quiet();
    m.set_threads(std::num::NonZeroU32::MIN);
    m.set_option("presolve", "off");
    (m, cols, point)
}

#[test]
fn a_start_at_a_known_solution_is_a_basis_the_next_solve_uses() {
    let t = transport();
    let (fresh, _, _) = model(&t);
    let fresh = fresh.solve();
    assert_eq!(fresh.status(), HighsModelStatus::Optimal);
    // From scratch, a feasible basis must be searched for.
    assert!(fresh.simplex_iteration_count() > 0);

    let (mut started, _, point) = model(&t);
    kmapa_lp::start_at(&mut started, &point).expect("crossover from a feasible point");
    started.set_option("simplex_strategy", 4);
    let started = started.solve();
    assert_eq!(started.status(), HighsModelStatus::Optimal);
    // With zero costs the crossover's basis is already optimal: nothing left to do.
    assert_eq!(started.simplex_iteration_count(), 0);
    let x = started.get_solution();
    let x = x.columns();
    assert_ships_every_supply_and_demand(&t, x);
    // A basic solution: at most as many positive values as rows.
    let positive = x.iter().filter(|&&v| v > 1e-9).count();
    assert!(positive <= 2 * N, "{positive} positive values");
}

#[test]
fn the_point_after_a_start_is_the_basic_solution_the_next_solve_keeps() {
    let t = transport();
    let (mut m, _, point) = model(&t);
    // Before any start or solve HiGHS holds no solution: zeros.
    assert!(kmapa_lp::point(&m).iter().all(|&x| x == 0.0));
    kmapa_lp::start_at(&mut m, &point).expect("crossover from a feasible point");
    let x = kmapa_lp::point(&m);
    assert_eq!(x.len(), N * N);
    assert_ships_every_supply_and_demand(&t, &x);
    assert!(x.iter().all(|&v| v >= -1e-9));
    // A vertex, not the interior point given (every value of which is positive).
    let positive = x.iter().filter(|&&v| v > 1e-9).count();
    assert!(positive <= 2 * N, "{positive} positive values");
    // With zero costs the next solve moves nothing.
    m.set_option("simplex_strategy", 4);
    let solved = m.solve();
    assert_eq!(solved.simplex_iteration_count(), 0);
    for (a, b) in solved.get_solution().columns().iter().zip(&x) {
        assert!((a - b).abs() < 1e-9, "{a} against {b}");
    }
}

#[test]
fn costs_set_after_the_start_reach_the_same_optimum_as_a_fresh_solve() {
    let t = transport();
    let with_costs = |m: &mut Model, cols: &[highs::Col]| {
        for (&col, &c) in cols.iter().zip(&t.cost) {
            m.change_column_cost(col, c);
        }
    };
    let (mut fresh, cols, _) = model(&t);
    with_costs(&mut fresh, &cols);
    let fresh = fresh.solve();
    let (mut started, cols, point) = model(&t);
    kmapa_lp::start_at(&mut started, &point).expect("crossover from a feasible point");
    with_costs(&mut started, &cols);
    started.set_option("simplex_strategy", 4);
    let started = started.solve();
    assert_eq!(fresh.status(), HighsModelStatus::Optimal);
    assert_eq!(started.status(), HighsModelStatus::Optimal);
    let (a, b) = (fresh.objective_value(), started.objective_value());
    assert!((a - b).abs() < 1e-6 * a.abs().max(1.0), "{a} against {b}");
    // The point's own cost is no better than the optimum.
    let at_point: f64 = point.iter().zip(&t.cost).map(|(x, c)| x * c).sum();
    assert!(b <= at_point + 1e-6);
}

#[test]
fn a_point_of_the_wrong_length_is_refused() {
    let t = transport();
    let (mut m, _, point) = model(&t);
    assert_eq!(
        kmapa_lp::start_at(&mut m, &point[1..]),
        Err(kmapa_lp::StartError::Length {
            given: N * N - 1,
            columns: N * N
        })
    );
}

#[test]
fn a_start_works_in_a_thread_that_never_solved_anything() {
    // HiGHS's crossover needs the thread's scheduler, which only a solve sets up:
    // `start_at` must set it up itself (without it, this crashes).
    let t = transport();
    let iterations = std::thread::spawn(move || {
        let (mut m, _, point) = model(&t);
        kmapa_lp::start_at(&mut m, &point).expect("crossover from a feasible point");
        m.set_option("simplex_strategy", 4);
        let solved = m.solve();
        assert_eq!(solved.status(), HighsModelStatus::Optimal);
        solved.simplex_iteration_count()
    })
    .join()
    .expect("the thread ends");
    assert_eq!(iterations, 0);
}
