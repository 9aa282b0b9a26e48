//! Families of related tables (a unit total, two categories, a sub-row) over districts
//! and hexagons: the family's protection passes the joint linear program over every
//! table's relations *and* the inequalities between tables, and the witness intervals
//! the family audit reports lie inside the LP's (the audit errs only on the safe side).
//! One table counts households: never more than its persons, and (what the LP leaves
//! out, so its intervals are if anything wider than a reader's) at least one wherever
//! there is a person; the witnesses keep that.
//!
//! Hexagons come in two levels: the unit total publishes the finer ones, every other
//! table the coarser ones only, so a district's part of a coarse hexagon (a piece: a
//! sum of atoms) is what a reader can work out by difference. Pieces' witness
//! intervals lie inside the LP's for the same sums, and every small piece can be
//! emptied or is as wide as a hidden small count.

use std::collections::BTreeMap;

use kmapa_protect::family::{Family, piece_protected};
use kmapa_protect::flow::Network;
use kmapa_protect::layers::{LayerCells, LayerCounts, Published, build, pieces, publish_hexagons};
use kmapa_protect::table::Table;
use microlp::{ComparisonOp, OptimizationDirection, Problem};
use proptest::prelude::*;

const K: u64 = 10;

/// Per atom: persons with only c1, with c1 and c2, with only c2, how many of the c1
/// persons are in the sub-row, and how many are women.
type Atom = (u64, u64, u64, u64, u64);

fn tables(atoms: &[Vec<Atom>]) -> Family {
    let nd = atoms.len();
    let codes: Vec<String> = (0..nd).map(|d| format!("D{d}")).collect();
    let mut layout = LayerCells::default();
    let mut table = |f: &dyn Fn(&Atom) -> u64, fine: bool| -> Table {
        let mut counts = BTreeMap::new();
        let mut hexes = BTreeMap::new();
        let mut coarse = BTreeMap::new();
        for (d, row) in atoms.iter().enumerate() {
            for (h, a) in row.iter().enumerate() {
                let hex = 0x100 + h as u64;
                counts.insert((d as u16, Some(hex)), f(a));
                hexes.insert(hex, hex);
                coarse.insert(hex, 0x200 + h as u64 / 2);
            }
        }
        let (mut t, cells) = build(&LayerCounts {
            atoms: counts,
            parent_of: (0..nd).map(|d| Some((d % 2) as u16)).collect(),
            district_codes: codes.clone(),
            parent_codes: vec!["P0".into(), "P1".into()],
            publish: Published::default(),
            hex_levels: vec![hexes, coarse],
        });
        let chosen: Vec<usize> = if fine {
            cells
                .hex_tree
                .children
                .values()
                .flatten()
                .copied()
                .collect()
        } else {
            cells.hex_tree.top.clone()
        };
        publish_hexagons(&mut t, &cells.hex_tree, &chosen);
        layout = cells;
        t
    };
    // 0: unit total, 1: c1, 2: c2, 3: sub-row of c1, 4 and 5: c1's women and men,
    // 6: c1's households (about two persons each, at least one where anyone is).
    let households = |a: &Atom| (a.0 + a.1).div_ceil(2);
    let mut f = Family {
        tables: vec![
            table(&|a| a.0 + a.1 + a.2, true),
            table(&|a| a.0 + a.1, false),
            table(&|a| a.1 + a.2, false),
            table(&|a| (a.3).min(a.0 + a.1), false),
            table(&|a| (a.4).min(a.0 + a.1), false),
            table(&|a| a.0 + a.1 - (a.4).min(a.0 + a.1), false),
            table(&households, false),
        ],
        pairs: vec![(1, 0), (2, 0), (3, 1), (4, 1), (5, 1), (6, 1)],
        sums: vec![(0, vec![1, 2])],
        splits: vec![(1, vec![4, 5])],
        weights: Vec::new(),
        table_weights: Vec::new(),
        caps: Vec::new(),
        fixed: Vec::new(),
        households_of: vec![None, None, None, None, None, None, Some(1)],
        pieces: Vec::new(),
    };
    f.pieces = f.tables.iter().map(|t| pieces(t, &layout)).collect();
    f
}

/// A constraint: Σ coefficient · variable (op) right-hand side.
type Row = (Vec<(usize, f64)>, ComparisonOp, f64);

/// The attacker's interval of every hidden cell by LP over the whole family, and of
/// each sum of cells in `sums` (by table).
#[allow(clippy::type_complexity)]
fn joint_lp(
    f: &Family,
    sums: &[Vec<Vec<usize>>],
) -> (Vec<Vec<(usize, f64, f64)>>, Vec<Vec<(f64, f64)>>) {
    let n = f.tables[0].cells.len();
    let mut var = BTreeMap::new();
    for (m, t) in f.tables.iter().enumerate() {
        for c in 0..n {
            if t.unknown(c) {
                let v = var.len();
                var.insert((m, c), v);
            }
        }
    }
    // A linear form over (table, cell): Σ coef·x = constant part + variable part.
    let term =
        |m: usize, c: usize, coef: f64, terms: &mut Vec<(usize, f64)>, rhs: &mut f64| match var
            .get(&(m, c))
        {
            Some(&v) => terms.push((v, coef)),
            None => *rhs -= coef * f.tables[m].cells[c].value as f64,
        };
    let mut rows: Vec<Row> = Vec::new();
    for (m, t) in f.tables.iter().enumerate() {
        for r in &t.relations {
            let (mut terms, mut rhs) = (Vec::new(), 0.0);
            term(m, r.total, -1.0, &mut terms, &mut rhs);
            for &p in &r.parts {
                term(m, p, 1.0, &mut terms, &mut rhs);
            }
            if !terms.is_empty() {
                rows.push((terms, ComparisonOp::Eq, rhs));
            }
        }
    }
    for c in 0..n {
        for &(s, l) in &f.pairs {
            let (mut terms, mut rhs) = (Vec::new(), 0.0);
            term(s, c, 1.0, &mut terms, &mut rhs);
            term(l, c, -1.0, &mut terms, &mut rhs);
            if !terms.is_empty() {
                rows.push((terms, ComparisonOp::Le, rhs));
            }
        }
        let relations = f.sums.iter().map(|s| (s, ComparisonOp::Le));
        for ((t, parts), op) in relations.chain(f.splits.iter().map(|s| (s, ComparisonOp::Eq))) {
            let (mut terms, mut rhs) = (Vec::new(), 0.0);
            term(*t, c, 1.0, &mut terms, &mut rhs);
            for &p in parts {
                term(p, c, -1.0, &mut terms, &mut rhs);
            }
            if !terms.is_empty() {
                rows.push((terms, op, rhs));
            }
        }
    }
    let solve = |target: &[usize], dir: OptimizationDirection| -> f64 {
        let mut p = Problem::new(dir);
        let vars: Vec<_> = (0..var.len())
            .map(|v| {
                let c = target.iter().filter(|&&t| t == v).count() as f64;
                p.add_var(c, (0.0, f64::INFINITY))
            })
            .collect();
        for (terms, op, rhs) in &rows {
            let e: Vec<_> = terms.iter().map(|&(v, c)| (vars[v], c)).collect();
            p.add_constraint(&e[..], *op, *rhs);
        }
        match p.solve() {
            Ok(s) => s.solution().expect("solved").objective(),
            Err(microlp::Error::Unbounded) => f64::INFINITY,
            Err(e) => panic!("{e}"),
        }
    };
    let cells = f
        .tables
        .iter()
        .enumerate()
        .map(|(m, t)| {
            (0..n)
                .filter(|&c| t.cells[c].status.is_hidden() && !t.cells[c].internal)
                .map(|c| {
                    let v = [var[&(m, c)]];
                    (
                        c,
                        solve(&v, OptimizationDirection::Minimize),
                        solve(&v, OptimizationDirection::Maximize),
                    )
                })
                .collect()
        })
        .collect();
    let sums = sums
        .iter()
        .enumerate()
        .map(|(m, list)| {
            list.iter()
                .map(|cs| {
                    let v: Vec<usize> = cs.iter().map(|&c| var[&(m, c)]).collect();
                    (
                        solve(&v, OptimizationDirection::Minimize),
                        solve(&v, OptimizationDirection::Maximize),
                    )
                })
                .collect()
        })
        .collect();
    (cells, sums)
}

fn atom() -> impl Strategy<Value = Atom> {
    let small = prop_oneof![4 => Just(0u64), 3 => 1u64..4, 2 => 4u64..12, 1 => 12u64..40];
    (
        small.clone(),
        small.clone(),
        small.clone(),
        small.clone(),
        small,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, .. ProptestConfig::default() })]

    #[test]
    fn family_protection_passes_the_joint_lp(
        atoms in (2usize..4, 2usize..4).prop_flat_map(|(nd, nh)| {
            proptest::collection::vec(proptest::collection::vec(atom(), nh), nd)
        })
    ) {
        let mut f = tables(&atoms);
        let net = Network::of(&f.tables[0]).unwrap();
        f.protect(&net, K, K as f64).unwrap();
        for t in &f.tables {
            for c in t.cells.iter().filter(|c| !c.internal && !c.status.is_hidden()) {
                prop_assert!(c.value == 0 || c.value >= K, "{} = {}", c.label, c.value);
            }
        }
        let ours = f.audit(&net, K as f64);
        let pieces = f.audit_pieces(&net, K, K as f64);
        // The LP of each small piece's sum (by its label).
        let piece_cells: Vec<Vec<Vec<usize>>> = pieces
            .iter()
            .zip(&f.pieces)
            .map(|(intervals, all)| {
                intervals
                    .iter()
                    .map(|i| all.iter().find(|p| p.label == i.label).unwrap().cells.clone())
                    .collect()
            })
            .collect();
        let (lp, lp_pieces) = joint_lp(&f, &piece_cells);
        for (intervals, lp) in pieces.iter().zip(&lp_pieces) {
            for (i, &(lo, hi)) in intervals.iter().zip(lp) {
                prop_assert!(piece_protected(i.value, i.lower, i.upper, K, K as f64),
                    "{}: {} in [{}, {}]", i.label, i.value, i.lower, i.upper);
                prop_assert!(lo <= i.lower + 1e-6 && hi + 1e-6 >= i.upper,
                    "{}: ours [{}, {}] not inside the LP's [{lo}, {hi}]", i.label, i.lower, i.upper);
            }
        }
        for (report, lp) in ours.iter().zip(&lp) {
            prop_assert_eq!(report.intervals.len(), lp.len());
            for (i, &(c, lo, hi)) in report.intervals.iter().zip(lp) {
                prop_assert_eq!(i.cell, c);
                prop_assert!(i.protected(), "{}: [{}, {}]", i.label, i.lower, i.upper);
                // Witness intervals lie inside the attacker's.
                prop_assert!(lo <= i.lower + 1e-6 && hi + 1e-6 >= i.upper,
                    "{}: ours [{}, {}] not inside the LP's [{lo}, {hi}]", i.label, i.lower, i.upper);
                prop_assert!(hi - lo + 1e-6 >= K as f64, "{}: LP [{lo}, {hi}]", i.label);
            }
        }
    }
}
