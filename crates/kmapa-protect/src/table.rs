//! A protection table: published or hidden counts, and the additive relations between
//! them that anyone can know (a total equals the sum of its parts).

use serde::{Deserialize, Serialize};

/// What happened to a cell on its way out. Travels with the cell to every output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    /// Published as it is.
    Safe,
    /// Hidden because the count is 1..k-1.
    PrimarySuppressed,
    /// Hidden so that a primary-suppressed cell cannot be recomputed.
    SecondarySuppressed,
    /// Hidden because it differs from what an earlier snapshot published for the same
    /// cell by 1..k-1: publishing it would show that small change exactly (a few late
    /// records for a past year, or a withdrawn batch).
    DifferenceSuppressed,
    /// Published with cell-key noise (analyst tier).
    Perturbed,
    /// Zero: nobody is counted.
    Empty,
}

impl CellStatus {
    pub fn is_hidden(self) -> bool {
        matches!(
            self,
            CellStatus::PrimarySuppressed
                | CellStatus::SecondarySuppressed
                | CellStatus::DifferenceSuppressed
        )
    }

    /// What a reader is told: the reason a cell is hidden (a small count, or to cover
    /// one) stays inside kmapa, since telling them apart narrows what the cell can be
    /// (docs/privacy.md).
    pub fn public(self) -> PublicStatus {
        match self {
            CellStatus::Safe => PublicStatus::Safe,
            CellStatus::PrimarySuppressed
            | CellStatus::SecondarySuppressed
            | CellStatus::DifferenceSuppressed => PublicStatus::Hidden,
            CellStatus::Perturbed => PublicStatus::Perturbed,
            CellStatus::Empty => PublicStatus::Empty,
        }
    }
}

/// A cell's status as every public output (API, export, CSV, profiles, map) shows it.
///
/// One status for every hidden cell: a reader learns that the cell is hidden, not why.
/// Zeros are published as `empty`, but secondary suppression may hide a zero too, so a
/// hidden cell can be anything from 0 up; that, and nothing more, is what the audit
/// assumes a reader knows about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicStatus {
    /// Published as it is.
    Safe,
    /// Hidden to protect privacy (public tier: suppressed; analyst tier: the perturbed
    /// count is under the threshold).
    Hidden,
    /// Published with cell-key noise (analyst tier).
    Perturbed,
    /// Zero, published (public tier only).
    Empty,
}

impl PublicStatus {
    pub fn is_hidden(self) -> bool {
        self == PublicStatus::Hidden
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    pub label: String,
    pub value: u64,
    pub status: CellStatus,
    /// Never published, only related: for example the intersection of a district and
    /// a hexagon, which ties two non-nested layers together. An attacker does not know
    /// it, so the audit treats it as unknown; it is neither audited nor suppressed.
    pub internal: bool,
    /// For a secondary cell: the hidden cell it was hidden to protect (table within
    /// its family, cell), for `kmapa protect --explain`. Never published.
    #[serde(skip)]
    pub covers: Option<(u32, u32)>,
}

/// `total = sum(parts)`, by cell index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Relation {
    pub total: usize,
    pub parts: Vec<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Table {
    pub cells: Vec<Cell>,
    pub relations: Vec<Relation>,
}

impl Table {
    /// Adds a cell, safe (or empty when zero), and returns its index.
    pub fn cell(&mut self, label: impl Into<String>, value: u64) -> usize {
        self.cells.push(Cell {
            label: label.into(),
            value,
            status: if value == 0 {
                CellStatus::Empty
            } else {
                CellStatus::Safe
            },
            internal: false,
            covers: None,
        });
        self.cells.len() - 1
    }

    /// Adds an internal (never published) cell.
    pub fn internal_cell(&mut self, label: impl Into<String>, value: u64) -> usize {
        let i = self.cell(label, value);
        self.cells[i].internal = true;
        i
    }

    /// Unknown to an attacker: hidden or internal.
    pub fn unknown(&self, cell: usize) -> bool {
        self.cells[cell].internal || self.cells[cell].status.is_hidden()
    }

    /// Declares `total = sum(parts)`.
    ///
    /// # Panics
    /// If the values do not add up: relations must be true of the data.
    pub fn relation(&mut self, total: usize, parts: &[usize]) {
        let sum: u64 = parts.iter().map(|&p| self.cells[p].value).sum();
        assert_eq!(
            sum,
            self.cells[total].value,
            "relation {} = sum of {} parts does not hold",
            self.cells[total].label,
            parts.len()
        );
        self.relations.push(Relation {
            total,
            parts: parts.to_vec(),
        });
    }

    pub fn hide(&mut self, cell: usize, status: CellStatus) {
        debug_assert!(status.is_hidden());
        self.cells[cell].status = status;
    }

    /// Index of the cell with this label.
    pub fn find(&self, label: &str) -> Option<usize> {
        self.cells.iter().position(|c| c.label == label)
    }

    /// Primary suppression: every published count from 1 to k-1 is hidden.
    pub fn suppress_primary(&mut self, k: u64) -> usize {
        let mut n = 0;
        for c in &mut self.cells {
            if (1..k).contains(&c.value) && !c.status.is_hidden() && !c.internal {
                c.status = CellStatus::PrimarySuppressed;
                n += 1;
            }
        }
        n
    }
}
