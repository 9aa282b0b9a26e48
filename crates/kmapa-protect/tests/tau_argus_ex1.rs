//! Known answer: τ-ARGUS batch example "ex1" (region × gender with totals), as given in
//! the domain brief. A/female (137) is unsafe with a 20 % protection range (±27.4).

use kmapa_protect::audit;
use kmapa_protect::table::{CellStatus, Table};

fn ex1() -> Table {
    let mut t = Table::default();
    // Rows: Total, male, female.
    let rows = [
        ("Total", 5146, 2757, 2389),
        ("A", 1032, 895, 137),
        ("B", 1726, 753, 973),
        ("C", 1055, 569, 486),
        ("D", 1333, 540, 793),
    ];
    let mut ids = Vec::new();
    for (r, total, male, female) in rows {
        let t_ = t.cell(format!("{r}/total"), total);
        let m = t.cell(format!("{r}/male"), male);
        let f = t.cell(format!("{r}/female"), female);
        t.relation(t_, &[m, f]);
        ids.push((t_, m, f));
    }
    // Columns: Total = A + B + C + D for each of total, male, female.
    let (tt, tm, tf) = ids[0];
    t.relation(tt, &ids[1..].iter().map(|x| x.0).collect::<Vec<_>>());
    t.relation(tm, &ids[1..].iter().map(|x| x.1).collect::<Vec<_>>());
    t.relation(tf, &ids[1..].iter().map(|x| x.2).collect::<Vec<_>>());
    t
}

fn hide(t: &mut Table, labels: &[&str]) {
    for l in labels {
        let c = t.find(l).unwrap();
        let status = if *l == "A/female" {
            CellStatus::PrimarySuppressed
        } else {
            CellStatus::SecondarySuppressed
        };
        t.hide(c, status);
    }
}

const RANGE: f64 = 27.4;

#[test]
fn hiding_only_the_a_row_leaves_a_female_exactly_recoverable() {
    let mut t = ex1();
    hide(&mut t, &["A/female", "A/male"]);
    let report = audit(&t, |_| 2.0 * RANGE, false).unwrap();
    let a_f = report.get("A/female").unwrap();
    // 2389 - 973 - 486 - 793 = 137: the female column gives it away.
    assert!(
        (a_f.lower - 137.0).abs() < 1e-6 && (a_f.upper - 137.0).abs() < 1e-6,
        "{a_f:?}"
    );
    assert!(!a_f.protected());
    assert!(!report.passed());
}

#[test]
fn the_tau_argus_pattern_protects_a_female() {
    let mut t = ex1();
    hide(&mut t, &["A/female", "A/male", "C/male", "C/female"]);
    let report = audit(&t, |_| 2.0 * RANGE, false).unwrap();
    let a_f = report.get("A/female").unwrap();
    // The published answer: A/female lies in [0, 623].
    assert!(a_f.lower.abs() < 1e-6, "{a_f:?}");
    assert!((a_f.upper - 623.0).abs() < 1e-6, "{a_f:?}");
    assert!(a_f.covers(RANGE, RANGE));
    assert!(report.passed());
    // Integer programming gives the same interval here.
    let integer = audit(&t, |_| 2.0 * RANGE, true).unwrap();
    let a_f = integer.get("A/female").unwrap();
    assert_eq!((a_f.lower.round(), a_f.upper.round()), (0.0, 623.0));
}

#[test]
fn a_hidden_cell_in_no_relation_is_unbounded_above() {
    let mut t = Table::default();
    let lone = t.cell("lone", 3);
    t.hide(lone, CellStatus::PrimarySuppressed);
    let report = audit(&t, |_| 10.0, false).unwrap();
    assert_eq!(report.intervals[0].upper, f64::INFINITY);
    assert!(report.passed());
}

#[test]
fn kmapas_own_secondary_suppression_passes_the_audit_on_ex1() {
    let mut t = ex1();
    // Make A/female the only unsafe cell, as in the example: threshold just above 137.
    let summary = kmapa_protect::protect(&mut t, 138, 2.0 * RANGE).unwrap();
    assert_eq!(summary.primary, 1);
    let hidden: Vec<&str> = t
        .cells
        .iter()
        .filter(|c| c.status.is_hidden())
        .map(|c| c.label.as_str())
        .collect();
    let report = audit(&t, |_| 2.0 * RANGE, false).unwrap();
    assert!(report.passed(), "{hidden:?}");
    assert!(
        report.get("A/female").unwrap().covers(RANGE, RANGE),
        "{hidden:?}"
    );
    // The same pattern τ-ARGUS' optimisation finds.
    assert_eq!(hidden, ["A/male", "A/female", "C/male", "C/female"]);
}

#[test]
fn the_flow_audit_gives_the_known_answers_on_ex1() {
    use kmapa_protect::flow::{Bounds, Network, audit as flow_audit};
    let mut t = ex1();
    let net = Network::of(&t).expect("a two-way table with margins is a network");
    hide(&mut t, &["A/female", "A/male"]);
    let r = flow_audit(&t, &net, &Bounds::free(&t), 2.0 * RANGE);
    let a_f = r.get("A/female").unwrap();
    assert_eq!((a_f.lower, a_f.upper), (137.0, 137.0));
    hide(&mut t, &["C/male", "C/female"]);
    let r = flow_audit(&t, &net, &Bounds::free(&t), 2.0 * RANGE);
    let a_f = r.get("A/female").unwrap();
    assert_eq!((a_f.lower, a_f.upper), (0.0, 623.0));
}

#[test]
fn flow_suppression_finds_the_tau_argus_pattern_on_ex1() {
    use kmapa_protect::flow::{Bounds, Network, protect as flow_protect};
    let mut t = ex1();
    let net = Network::of(&t).unwrap();
    let summary = {
        let b = Bounds::free(&t);
        flow_protect(&mut t, &net, &b, 138, 2.0 * RANGE)
    }
    .unwrap();
    assert_eq!(summary.primary, 1);
    let hidden: Vec<&str> = t
        .cells
        .iter()
        .filter(|c| c.status.is_hidden())
        .map(|c| c.label.as_str())
        .collect();
    assert_eq!(hidden, ["A/male", "A/female", "C/male", "C/female"]);
    assert!(audit(&t, |_| 2.0 * RANGE, false).unwrap().passed());
}
