//! Secondary (complementary) suppression, driven by the audit: hide the primary cells,
//! audit, and while some hidden cell can be pinned to too narrow an interval, hide one
//! more cell of a relation that exposes it; repeat until the audit passes. The result
//! passes the audit by construction; the choices aim at losing little information.
//!
//! Which cell to add: a relation whose only hidden member is a failing cell (a total
//! minus the other parts gives it away) needs a second hidden cell. Among the published
//! cells of all such relations, prefer (1) the one that closes the most of them at once
//! (A/male in τ-ARGUS' ex1 closes both the A row and the male column), then (2) a
//! non-zero count, (3) the smallest count (least information lost), (4) not a total,
//! (5) the smallest label, so the pattern is deterministic. When no relation exposes a
//! failing cell alone, a chain does: every relation of the failing cells is considered.

use crate::audit::{AuditError, audit_only};
use crate::table::{CellStatus, Table};

/// What the suppression did.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct SuppressionSummary {
    pub primary: usize,
    pub secondary: usize,
    /// Persons in hidden cells that are not totals of other cells (information lost).
    pub hidden_persons: u64,
    pub audit_rounds: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SuppressError {
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("cell {0} cannot be protected: every cell that could cover it is hidden already")]
    Unprotectable(String),
}

/// Primary suppression of counts 1..k-1, then secondary suppression until every hidden
/// cell's interval is at least `width` wide.
pub fn protect(table: &mut Table, k: u64, width: f64) -> Result<SuppressionSummary, SuppressError> {
    let primary = table.suppress_primary(k);
    let mut summary = SuppressionSummary {
        primary,
        ..Default::default()
    };
    // Relations by member, for the choice of complements.
    let mut member_of: Vec<Vec<usize>> = vec![Vec::new(); table.cells.len()];
    for (r, rel) in table.relations.iter().enumerate() {
        member_of[rel.total].push(r);
        for &p in &rel.parts {
            member_of[p].push(r);
        }
    }
    let is_total: Vec<bool> = {
        let mut t = vec![false; table.cells.len()];
        for rel in &table.relations {
            t[rel.total] = true;
        }
        t
    };
    // Hiding a cell turns a known number into an unknown one: no other cell's interval
    // can shrink. A cell that passed once passes for good, so each round audits only
    // the cells that have not passed yet.
    let mut passed = vec![false; table.cells.len()];
    loop {
        summary.audit_rounds += 1;
        let report = audit_only(table, |_| width, false, |c| !passed[c])?;
        for i in &report.intervals {
            if i.protected() {
                passed[i.cell] = true;
            }
        }
        let mut failing: Vec<usize> = report.failures().map(|i| i.cell).collect();
        if failing.is_empty() {
            break;
        }
        failing.sort_by(|a, b| table.cells[*a].label.cmp(&table.cells[*b].label));
        // Relations that expose a failing cell directly: it is their only hidden member.
        let mut exposing: Vec<usize> = failing
            .iter()
            .flat_map(|&f| member_of[f].iter().copied())
            .filter(|&r| hidden_in(table, r) == 1)
            .collect();
        exposing.sort_unstable();
        exposing.dedup();
        let chain = exposing.is_empty();
        if chain {
            // A chain of relations exposes them: widen to every relation they are in.
            exposing = failing
                .iter()
                .flat_map(|&f| member_of[f].iter().copied())
                .collect();
            exposing.sort_unstable();
            exposing.dedup();
        }
        // Close every exposing relation before the next audit, best cells first.
        let mut picked = 0;
        loop {
            let Some(c) = choose(table, &exposing, &member_of, &is_total) else {
                if picked == 0 {
                    return Err(SuppressError::Unprotectable(
                        table.cells[failing[0]].label.clone(),
                    ));
                }
                break;
            };
            picked += 1;
            table.hide(c, CellStatus::SecondarySuppressed);
            summary.secondary += 1;
            if chain {
                break;
            }
            exposing.retain(|&r| hidden_in(table, r) == 1);
            if exposing.is_empty() {
                break;
            }
        }
    }
    summary.hidden_persons = table
        .cells
        .iter()
        .zip(0..)
        .filter(|(c, i)| c.status.is_hidden() && !is_total[*i])
        .map(|(c, _)| c.value)
        .sum();
    Ok(summary)
}

fn members(table: &Table, r: usize) -> Vec<usize> {
    let rel = &table.relations[r];
    std::iter::once(rel.total)
        .chain(rel.parts.iter().copied())
        .collect()
}

fn hidden_in(table: &Table, r: usize) -> usize {
    members(table, r)
        .iter()
        .filter(|&&c| table.unknown(c))
        .count()
}

/// The published cell to hide next among the members of `exposing` relations.
fn choose(
    table: &Table,
    exposing: &[usize],
    member_of: &[Vec<usize>],
    is_total: &[bool],
) -> Option<usize> {
    exposing
        .iter()
        .flat_map(|&r| members(table, r))
        .filter(|&c| !table.unknown(c))
        .min_by_key(|&c| {
            let cell = &table.cells[c];
            // A cell that closes several exposing relations at once comes first.
            let closes = member_of[c].iter().filter(|r| exposing.contains(r)).count();
            (
                std::cmp::Reverse(closes),
                cell.value == 0,
                cell.value,
                is_total[c],
                cell.label.clone(),
            )
        })
}
