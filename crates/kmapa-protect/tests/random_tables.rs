//! Property tests on random sparse tables: districts and hexagons that do not nest,
//! published together with their totals, many zeros, ones and small cells.

use kmapa_protect::table::Table;
use kmapa_protect::{audit, flow, protect};
use proptest::prelude::*;

const K: u64 = 10;

/// Districts × hexagons: atoms (district ∩ hexagon) are internal; published are the
/// district counts, the hexagon counts and the city total.
fn build(atoms: &[Vec<u64>]) -> Table {
    let mut t = Table::default();
    let nd = atoms.len();
    let nh = atoms[0].len();
    let mut atom_ids = vec![vec![0; nh]; nd];
    for (d, row) in atoms.iter().enumerate() {
        for (h, &v) in row.iter().enumerate() {
            atom_ids[d][h] = t.internal_cell(format!("atom {d}/{h}"), v);
        }
    }
    let districts: Vec<usize> = (0..nd)
        .map(|d| {
            let id = t.cell(format!("district {d}"), atoms[d].iter().sum());
            t.relation(id, &atom_ids[d]);
            id
        })
        .collect();
    let hexes: Vec<usize> = (0..nh)
        .map(|h| {
            let parts: Vec<usize> = (0..nd).map(|d| atom_ids[d][h]).collect();
            let id = t.cell(format!("hex {h}"), (0..nd).map(|d| atoms[d][h]).sum());
            t.relation(id, &parts);
            id
        })
        .collect();
    let total: u64 = atoms.iter().flatten().sum();
    let city = t.cell("city", total);
    t.relation(city, &districts);
    t.relation(city, &hexes);
    t
}

fn value() -> impl Strategy<Value = u64> {
    prop_oneof![4 => Just(0u64), 3 => 1u64..4, 2 => 4u64..12, 1 => 12u64..60]
}

fn atoms() -> impl Strategy<Value = Vec<Vec<u64>>> {
    (2usize..5, 2usize..5).prop_flat_map(|(nd, nh)| {
        proptest::collection::vec(proptest::collection::vec(value(), nh), nd)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn protected_tables_publish_no_small_count_and_pass_the_audit(a in atoms()) {
        let mut t = build(&a);
        let summary = protect(&mut t, K, K as f64).unwrap();
        for c in t.cells.iter().filter(|c| !c.internal && !c.status.is_hidden()) {
            prop_assert!(c.value == 0 || c.value >= K, "{} = {} published", c.label, c.value);
        }
        let report = audit(&t, |_| K as f64, false).unwrap();
        prop_assert!(report.passed(), "{:?}", report.failures().collect::<Vec<_>>());
        prop_assert_eq!(summary.primary + summary.secondary, t.cells.iter().filter(|c| c.status.is_hidden()).count());
        // Deterministic: the same data give the same pattern.
        let mut again = build(&a);
        protect(&mut again, K, K as f64).unwrap();
        prop_assert_eq!(t, again);
    }
}

#[test]
fn three_small_cells_in_a_row_are_not_recoverable_from_their_total() {
    // One district split over three hexagons of 1, 2 and 3 people, and a big one.
    let mut t = build(&[vec![1, 2, 3], vec![40, 30, 20]]);
    protect(&mut t, K, K as f64).unwrap();
    let report = audit(&t, |_| K as f64, false).unwrap();
    assert!(report.passed());
    assert!(t.cells[t.find("district 0").unwrap()].status.is_hidden());
}

/// Hides the cells whose bit is set in `mask` (published cells only).
fn hide_some(t: &mut Table, mask: &[bool]) {
    for (c, &h) in mask.iter().enumerate() {
        if h && c < t.cells.len() && !t.cells[c].internal {
            t.hide(c, kmapa_protect::CellStatus::PrimarySuppressed);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    /// The max-flow audit gives exactly the LP solver's intervals on any hidden set.
    #[test]
    fn the_flow_audit_equals_the_lp_audit(a in atoms(), mask in proptest::collection::vec(any::<bool>(), 40)) {
        let mut t = build(&a);
        hide_some(&mut t, &mask);
        let net = flow::Network::of(&t).expect("a layer table is a network");
        let by_flow = flow::audit(&t, &net, &flow::Bounds::free(&t), K as f64);
        let by_lp = audit(&t, |_| K as f64, false).unwrap();
        prop_assert_eq!(by_flow.intervals.len(), by_lp.intervals.len());
        for (f, l) in by_flow.intervals.iter().zip(&by_lp.intervals) {
            prop_assert_eq!(&f.label, &l.label);
            prop_assert!((f.lower - l.lower).abs() < 1e-6, "{}: lower {} vs LP {}", f.label, f.lower, l.lower);
            prop_assert!(f.upper == l.upper || (f.upper - l.upper).abs() < 1e-6, "{}: upper {} vs LP {}", f.label, f.upper, l.upper);
        }
    }

    /// Suppression by cheapest cycles: nothing small published, the LP audit passes,
    /// the same pattern every time.
    #[test]
    fn flow_suppression_passes_the_lp_audit(a in atoms()) {
        let mut t = build(&a);
        let net = flow::Network::of(&t).unwrap();
        let summary = { let b = flow::Bounds::free(&t); flow::protect(&mut t, &net, &b, K, K as f64)}.unwrap();
        for c in t.cells.iter().filter(|c| !c.internal && !c.status.is_hidden()) {
            prop_assert!(c.value == 0 || c.value >= K, "{} = {} published", c.label, c.value);
        }
        let report = audit(&t, |_| K as f64, false).unwrap();
        prop_assert!(report.passed(), "{:?}", report.failures().collect::<Vec<_>>());
        prop_assert_eq!(summary.primary + summary.secondary, t.cells.iter().filter(|c| c.status.is_hidden()).count());
        let mut again = build(&a);
        { let b = flow::Bounds::free(&again); flow::protect(&mut again, &net, &b, K, K as f64)}.unwrap();
        prop_assert_eq!(t, again);
    }
}

#[test]
fn a_cell_in_three_relations_is_not_a_network() {
    let mut t = Table::default();
    let a = t.cell("a", 1);
    let b = t.cell("b", 1);
    let c = t.cell("c", 1);
    t.relation(a, &[b]);
    t.relation(c, &[b]);
    t.relation(a, &[c]);
    t.relation(b, &[a]);
    assert!(flow::Network::of(&t).is_none());
}
