//! Residents per district per year: `district_code, year, population`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::problem::{ContractError, check};
use crate::table::Table;

pub const COLUMNS: [&str; 3] = ["district_code", "year", "population"];

/// Residents by (district code, year).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PopulationTable {
    pub values: BTreeMap<(String, i32), u64>,
    /// True when the file says its numbers are synthetic.
    pub synthetic: bool,
}

impl PopulationTable {
    pub fn read(path: &Path) -> Result<Self, ContractError> {
        Self::from_table(&Table::read(path)?)
    }

    pub fn from_table(t: &Table) -> Result<Self, ContractError> {
        let cols = t.require(&COLUMNS)?;
        let synthetic_col = t.column("synthetic");
        let mut problems = Vec::new();
        let mut out = PopulationTable::default();
        for row in t.rows() {
            let code = row.get(cols[0]);
            if code.is_empty() {
                problems.push(t.problem(row, cols[0], "district code is empty"));
                continue;
            }
            let Ok(year) = row.get(cols[1]).parse::<i32>() else {
                problems.push(
                    t.problem(row, cols[1], "year is not a whole number")
                        .hint("Write the year as four digits, e.g. 2024"),
                );
                continue;
            };
            if !(1900..=2200).contains(&year) {
                problems.push(t.problem(row, cols[1], "year out of range 1900-2200"));
                continue;
            }
            let Ok(pop) = row.get(cols[2]).parse::<u64>() else {
                problems.push(
                    t.problem(
                        row,
                        cols[2],
                        "population is not a non-negative whole number",
                    )
                    .hint("Write residents as digits without spaces or separators"),
                );
                continue;
            };
            if out.values.insert((code.to_string(), year), pop).is_some() {
                problems.push(
                    t.problem(
                        row,
                        cols[0],
                        format!("district {code} appears twice for {year}"),
                    )
                    .hint("Keep one row per district and year"),
                );
            }
            if row.opt(synthetic_col) == Some("true") {
                out.synthetic = true;
            }
        }
        check(problems)?;
        Ok(out)
    }

    pub fn get(&self, district: &str, year: i32) -> Option<u64> {
        self.values.get(&(district.to_string(), year)).copied()
    }

    /// Sum over districts for a year.
    pub fn total(&self, year: i32) -> u64 {
        self.values
            .iter()
            .filter(|((_, y), _)| *y == year)
            .map(|(_, v)| v)
            .sum()
    }

    pub fn years(&self) -> Vec<i32> {
        let mut y: Vec<i32> = self.values.keys().map(|(_, y)| *y).collect();
        y.sort_unstable();
        y.dedup();
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_and_duplicates() {
        let t = Table::parse(
            Path::new("p.csv"),
            b"district_code,year,population\nA,2024,10\nB,2024,5\nA,2023,9\n",
        )
        .unwrap();
        let p = PopulationTable::from_table(&t).unwrap();
        assert_eq!(p.total(2024), 15);
        assert_eq!(p.years(), [2023, 2024]);
        let t = Table::parse(
            Path::new("p.csv"),
            b"district_code,year,population\nA,2024,10\nA,2024,5\nB,2024,-1\n",
        )
        .unwrap();
        let err = PopulationTable::from_table(&t).unwrap_err();
        assert_eq!(err.problems().len(), 2);
        assert_eq!(err.problems()[1].value.as_deref(), Some("-1"));
    }
}
