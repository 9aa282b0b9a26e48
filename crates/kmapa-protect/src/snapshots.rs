//! Two snapshots of one table, audited together.
//!
//! A reader keeps every snapshot. Where the data changed between two (late records for
//! a past year, a withdrawn batch), the same table was published twice, and a reader
//! who knows which way the counts moved (records were only added, or only withdrawn:
//! `kmapa publish` says so) solves both together: each cell's count now minus its count
//! then is a change of known sign. A cell hidden in both can then be pinned by the
//! changes around it: four hidden cells in two districts × two hexagons, one late record
//! in one of them, the other district's and hexagon's totals unchanged. Neither
//! snapshot alone gives anything away, but with no count shrinking, the unchanged totals
//! say three of the four did not change, and so the fourth grew by exactly 1. A hidden
//! cell's interval can narrow the same way.
//! [`joint`] finds both, by linear programming over the two tables and the changes.

use microlp::{ComparisonOp, OptimizationDirection, Problem};

use crate::table::{CellStatus, Table};

/// Which way every count moved between the two snapshots, as a reader may know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Records were only added: no count shrank.
    Up,
    /// Records were only withdrawn: no count grew.
    Down,
}

/// What the joint system gives away about one cell of the newer table.
#[derive(Debug, Clone, PartialEq)]
pub enum Exposure {
    /// The cell's change between the snapshots is pinned to this small count.
    Change { cell: usize, change: i64 },
    /// A hidden cell's interval in the joint system is narrower than required.
    Narrow { cell: usize, lower: f64, upper: f64 },
}

impl Exposure {
    pub fn cell(&self) -> usize {
        match self {
            Exposure::Change { cell, .. } | Exposure::Narrow { cell, .. } => *cell,
        }
    }
}

const CAP: f64 = 1.0e9;

/// Σ coefficient × variable (op) right-hand side.
type Row = (Vec<(usize, f64)>, ComparisonOp, f64);

/// Audits `now` (true values, its hidden pattern) together with `then`, the same
/// table as an earlier snapshot published it (the same cells and relations; a cell's
/// value is only used where `then` published it, hidden and internal cells are
/// unknowns). Returns every change pinned to 1..k−1 exactly, and every hidden cell of
/// `now` whose joint interval is narrower than `width` (or, for a small count, cannot
/// reach k).
pub fn joint(now: &Table, then: &Table, direction: Direction, k: u64, width: f64) -> Vec<Exposure> {
    let n = now.cells.len();
    assert_eq!(n, then.cells.len(), "two snapshots of one table");
    // Variables: x (now) and y (then) for unknown cells; known cells are constants.
    struct Sys {
        lo: Vec<f64>,
        hi: Vec<f64>,
        rows: Vec<Row>,
    }
    let mut sys = Sys {
        lo: Vec::new(),
        hi: Vec::new(),
        rows: Vec::new(),
    };
    let var = |sys: &mut Sys, t: &Table, c: usize| -> Term {
        if t.unknown(c) {
            sys.lo.push(0.0);
            sys.hi.push(CAP);
            Term::Var(sys.lo.len() - 1)
        } else {
            Term::Const(t.cells[c].value as f64)
        }
    };
    let x: Vec<Term> = (0..n).map(|c| var(&mut sys, now, c)).collect();
    let y: Vec<Term> = (0..n).map(|c| var(&mut sys, then, c)).collect();
    for (t, terms) in [(now, &x), (then, &y)] {
        for r in &t.relations {
            let mut row = Vec::new();
            let mut rhs = 0.0;
            for (c, w) in std::iter::once((r.total, -1.0)).chain(r.parts.iter().map(|&p| (p, 1.0)))
            {
                match terms[c] {
                    Term::Var(v) => row.push((v, w)),
                    Term::Const(k) => rhs -= w * k,
                }
            }
            if !row.is_empty() {
                sys.rows.push((row, ComparisonOp::Eq, rhs));
            }
        }
    }
    // The change of every cell: now − then, of the known sign.
    let sign = match direction {
        Direction::Up => 1.0,
        Direction::Down => -1.0,
    };
    let mut change: Vec<Option<Vec<(usize, f64)>>> = vec![None; n];
    let mut change_const = vec![0.0; n];
    for c in 0..n {
        let mut row = Vec::new();
        let mut k0 = 0.0;
        match x[c] {
            Term::Var(v) => row.push((v, 1.0)),
            Term::Const(a) => k0 += a,
        }
        match y[c] {
            Term::Var(v) => row.push((v, -1.0)),
            Term::Const(b) => k0 -= b,
        }
        change_const[c] = k0;
        if row.is_empty() {
            continue;
        }
        // sign · (row + k0) ≥ 0
        let scaled: Vec<(usize, f64)> = row.iter().map(|&(v, w)| (v, w * sign)).collect();
        sys.rows.push((scaled, ComparisonOp::Ge, -sign * k0));
        change[c] = Some(row);
    }
    // One solution of the joint system for an objective: every variable's value.
    let solve = |objective: &[(usize, f64)], dir: OptimizationDirection| -> Option<Vec<f64>> {
        let mut p = Problem::new(dir);
        let mut coef = vec![0.0; sys.lo.len()];
        for &(v, w) in objective {
            coef[v] += w;
        }
        let vars: Vec<_> = (0..sys.lo.len())
            .map(|v| p.add_var(coef[v], (sys.lo[v], sys.hi[v])))
            .collect();
        for (row, op, rhs) in &sys.rows {
            let expr: Vec<_> = row.iter().map(|&(v, w)| (vars[v], w)).collect();
            p.add_constraint(&expr[..], *op, *rhs);
        }
        let outcome = p.solve().ok()?;
        let s = outcome.solution()?;
        Some(vars.iter().map(|&x| s.var_value(x)).collect())
    };
    let value =
        |sol: &[f64], row: &[(usize, f64)]| row.iter().map(|&(v, w)| w * sol[v]).sum::<f64>();
    // What must be checked: each hidden cell of `now` (its value) and each cell's change.
    let hidden: Vec<(usize, usize)> = (0..n)
        .filter(|&c| !now.cells[c].internal && now.cells[c].status.is_hidden())
        .filter_map(|c| match x[c] {
            Term::Var(v) => Some((c, v)),
            Term::Const(_) => None,
        })
        .collect();
    let changes: Vec<usize> = (0..n).filter(|&c| change[c].is_some()).collect();
    // A few solutions that push everything up, down and at random: the range each
    // target takes over them. A hidden cell seen over `width` (and at k, for a small
    // count) is protected; a change seen at any value outside 1..k−1 is not pinned to a
    // small count (0 feasible, say: pinned there or not at all).
    let mut cell_seen = vec![(f64::INFINITY, f64::NEG_INFINITY); n];
    let mut change_seen = vec![(f64::INFINITY, f64::NEG_INFINITY); n];
    let cell_done = |c: usize, seen: (f64, f64)| {
        seen.1 - seen.0 + 1e-6 >= width
            && (now.cells[c].status != CellStatus::PrimarySuppressed || seen.1 + 1e-6 >= k as f64)
    };
    let harmless = |d: f64| {
        let d = d.round().abs();
        d < 1.0 || d >= k as f64
    };
    let change_done = |seen: (f64, f64)| seen.1 - seen.0 >= 1.0 - 1e-6 || harmless(seen.0);
    let mut open_cells: Vec<(usize, usize)> = hidden.clone();
    let mut open_changes: Vec<usize> = changes.clone();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for round in 0..6 {
        if open_cells.is_empty() && open_changes.is_empty() {
            break;
        }
        let mut objective = Vec::new();
        let mut sign = || match round {
            0 => 1.0,
            1 => -1.0,
            _ => {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                if seed & 1 == 0 { 1.0 } else { -1.0 }
            }
        };
        for &(_, v) in &open_cells {
            objective.push((v, sign()));
        }
        for &c in &open_changes {
            let w = sign();
            objective.extend(change[c].iter().flatten().map(|&(v, x)| (v, x * w)));
        }
        let Some(sol) = solve(&objective, OptimizationDirection::Maximize) else {
            break;
        };
        for &(c, v) in &open_cells {
            cell_seen[c] = (cell_seen[c].0.min(sol[v]), cell_seen[c].1.max(sol[v]));
        }
        for &c in &open_changes {
            let d = value(&sol, change[c].as_deref().unwrap_or(&[])) + change_const[c];
            change_seen[c] = (change_seen[c].0.min(d), change_seen[c].1.max(d));
        }
        open_cells.retain(|&(c, _)| !cell_done(c, cell_seen[c]));
        open_changes.retain(|&c| !change_done(change_seen[c]));
    }
    let mut out = Vec::new();
    for (c, v) in open_cells {
        let (Some(lo), Some(hi)) = (
            solve(&[(v, 1.0)], OptimizationDirection::Minimize),
            solve(&[(v, 1.0)], OptimizationDirection::Maximize),
        ) else {
            continue;
        };
        let (lower, upper) = (lo[v], hi[v]);
        if !cell_done(c, (lower, upper)) {
            out.push(Exposure::Narrow {
                cell: c,
                lower,
                upper,
            });
        }
    }
    for c in open_changes {
        let row = change[c].as_deref().unwrap_or(&[]);
        let (Some(lo), Some(hi)) = (
            solve(row, OptimizationDirection::Minimize),
            solve(row, OptimizationDirection::Maximize),
        ) else {
            continue;
        };
        let (a, b) = (
            value(&lo, row) + change_const[c],
            value(&hi, row) + change_const[c],
        );
        if b - a < 1.0 - 1e-6 && !harmless(a) {
            out.push(Exposure::Change {
                cell: c,
                change: a.round() as i64,
            });
        }
    }
    out
}

#[derive(Debug, Clone, Copy)]
enum Term {
    Var(usize),
    Const(f64),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two districts × two hexagons, every piece hidden, with the district, hexagon
    /// and city totals published: each snapshot alone keeps every piece 20 or more
    /// persons wide.
    fn square(values: [u64; 4]) -> Table {
        let mut t = Table::default();
        let [a, b, c, d] = values;
        let x = t.cell("d0 h0", a);
        let z = t.cell("d0 h1", b);
        let w = t.cell("d1 h0", c);
        let v = t.cell("d1 h1", d);
        let r0 = t.cell("district 0", a + b);
        let r1 = t.cell("district 1", c + d);
        let c0 = t.cell("hexagon 0", a + c);
        let c1 = t.cell("hexagon 1", b + d);
        let city = t.cell("city", a + b + c + d);
        t.relation(r0, &[x, z]);
        t.relation(r1, &[w, v]);
        t.relation(c0, &[x, w]);
        t.relation(c1, &[z, v]);
        t.relation(city, &[r0, r1]);
        t.relation(city, &[c0, c1]);
        for cell in [x, z, w, v] {
            t.hide(cell, CellStatus::SecondarySuppressed);
        }
        t
    }

    #[test]
    fn one_late_record_is_pinned_where_the_other_totals_did_not_change() {
        let then = square([20, 30, 40, 50]);
        let now = square([21, 30, 40, 50]);
        // Each alone is protected…
        for t in [&then, &now] {
            let report = crate::audit(t, |_| 10.0, false).unwrap();
            assert!(report.passed());
        }
        // …together, knowing records were only added, the late record is found.
        let found = joint(&now, &then, Direction::Up, 10, 10.0);
        assert!(
            found.contains(&Exposure::Change { cell: 0, change: 1 }),
            "{found:?}"
        );
    }

    #[test]
    fn two_late_records_in_opposite_corners_pin_nothing() {
        let then = square([20, 30, 40, 50]);
        let now = square([21, 30, 40, 51]);
        let found = joint(&now, &then, Direction::Up, 10, 10.0);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_withdrawal_is_found_the_same_way() {
        let then = square([21, 30, 40, 50]);
        let now = square([20, 30, 40, 50]);
        let found = joint(&now, &then, Direction::Down, 10, 10.0);
        assert!(
            found.contains(&Exposure::Change {
                cell: 0,
                change: -1
            }),
            "{found:?}"
        );
    }
}
