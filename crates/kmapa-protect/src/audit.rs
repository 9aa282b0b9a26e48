//! The audit: for every hidden cell, the smallest and largest value an attacker can
//! prove from everything published, by linear programming over all relations with the
//! published cells fixed and every count non-negative (τ-ARGUS calls this the
//! feasibility interval). A hidden cell is protected when that interval is at least
//! as wide as required.

use microlp::{ComparisonOp, OptimizationDirection, Problem};
use serde::Serialize;

use crate::table::Table;

/// The interval an attacker can prove for a hidden cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interval {
    pub cell: usize,
    pub label: String,
    pub value: u64,
    pub lower: f64,
    /// `f64::INFINITY` when nothing bounds the cell from above.
    pub upper: f64,
    pub required_width: f64,
}

impl Interval {
    pub fn width(&self) -> f64 {
        self.upper - self.lower
    }

    /// Wide enough (a small tolerance absorbs the solver's rounding).
    pub fn protected(&self) -> bool {
        self.width() + 1e-6 >= self.required_width
    }

    /// τ-ARGUS' stricter test: the interval reaches at least `below` under the true
    /// value and `above` over it.
    pub fn covers(&self, below: f64, above: f64) -> bool {
        let v = self.value as f64;
        self.lower <= v - below + 1e-6 && self.upper + 1e-6 >= v + above
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditReport {
    pub intervals: Vec<Interval>,
}

impl AuditReport {
    pub fn passed(&self) -> bool {
        self.intervals.iter().all(Interval::protected)
    }

    pub fn failures(&self) -> impl Iterator<Item = &Interval> {
        self.intervals.iter().filter(|i| !i.protected())
    }

    pub fn get(&self, label: &str) -> Option<&Interval> {
        self.intervals.iter().find(|i| i.label == label)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the published cells contradict the relations (the table is inconsistent)")]
    Infeasible,
    #[error("the LP solver failed on cell {0}: {1}")]
    Solver(String, String),
}

/// Audits every hidden cell of `table`. `required_width(value)` is the width each
/// hidden cell's interval must reach. With `integer`, counts are integer variables
/// (tighter, slower); without, the LP relaxation (what τ-ARGUS reports).
pub fn audit(
    table: &Table,
    required_width: impl Fn(u64) -> f64,
    integer: bool,
) -> Result<AuditReport, AuditError> {
    audit_only(table, required_width, integer, |_| true)
}

/// Audits the hidden cells `select` picks (all relations still count).
pub fn audit_only(
    table: &Table,
    required_width: impl Fn(u64) -> f64,
    integer: bool,
    select: impl Fn(usize) -> bool,
) -> Result<AuditReport, AuditError> {
    // Variables: every cell an attacker does not know (hidden or internal).
    let hidden: Vec<usize> = (0..table.cells.len())
        .filter(|&i| table.unknown(i))
        .collect();
    let mut var_of = vec![None; table.cells.len()];
    for (v, &c) in hidden.iter().enumerate() {
        var_of[c] = Some(v);
    }
    // Each relation with a hidden cell becomes
    // sum(hidden parts) - hidden total = published total - sum(published parts).
    let mut rows: Vec<(Vec<(usize, f64)>, f64)> = Vec::new();
    for r in &table.relations {
        let mut terms = Vec::new();
        let mut rhs = 0.0;
        match var_of[r.total] {
            Some(v) => terms.push((v, -1.0)),
            None => rhs += table.cells[r.total].value as f64,
        }
        for &p in &r.parts {
            match var_of[p] {
                Some(v) => terms.push((v, 1.0)),
                None => rhs -= table.cells[p].value as f64,
            }
        }
        if !terms.is_empty() {
            rows.push((terms, rhs));
        }
    }
    let solve = |target: usize, direction: OptimizationDirection| -> Result<f64, AuditError> {
        let mut p = Problem::new(direction);
        let vars: Vec<_> = (0..hidden.len())
            .map(|v| {
                let obj = if v == target { 1.0 } else { 0.0 };
                if integer {
                    p.add_integer_var(obj, (0, i32::MAX))
                } else {
                    p.add_var(obj, (0.0, f64::INFINITY))
                }
            })
            .collect();
        for (terms, rhs) in &rows {
            let expr: Vec<_> = terms.iter().map(|&(v, c)| (vars[v], c)).collect();
            p.add_constraint(&expr[..], ComparisonOp::Eq, *rhs);
        }
        match p.solve() {
            Ok(outcome) => match outcome.solution() {
                Some(s) => Ok(s.objective()),
                None => Err(AuditError::Solver(
                    table.cells[hidden[target]].label.clone(),
                    "interrupted".into(),
                )),
            },
            Err(microlp::Error::Unbounded) => Ok(f64::INFINITY),
            Err(microlp::Error::Infeasible) => Err(AuditError::Infeasible),
            Err(e) => Err(AuditError::Solver(
                table.cells[hidden[target]].label.clone(),
                e.to_string(),
            )),
        }
    };
    let mut intervals = Vec::with_capacity(hidden.len());
    for (v, &c) in hidden.iter().enumerate() {
        if table.cells[c].internal || !select(c) {
            continue;
        }
        let lower = solve(v, OptimizationDirection::Minimize)?;
        let upper = solve(v, OptimizationDirection::Maximize)?;
        let cell = &table.cells[c];
        intervals.push(Interval {
            cell: c,
            label: cell.label.clone(),
            value: cell.value,
            lower,
            upper,
            required_width: required_width(cell.value),
        });
    }
    Ok(AuditReport { intervals })
}
