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

/// Columns of a population grid: residents per grid cell (its centre), as GUS publishes
/// its 1 km and 250 m grids of the census (*siatka kilometrowa*).
pub const GRID_COLUMNS: [&str; 3] = ["lat", "lon", "population"];

/// One grid cell: its centre and residents.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridCell {
    pub lon: f64,
    pub lat: f64,
    pub population: u64,
}

/// Where residents live within districts (optional `population-grid.csv`): what makes
/// a district's centre population-weighted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PopulationGrid {
    pub cells: Vec<GridCell>,
    /// True when the file says its numbers are synthetic.
    pub synthetic: bool,
}

impl PopulationGrid {
    pub fn read(path: &Path) -> Result<Self, ContractError> {
        Self::from_table(&Table::read(path)?)
    }

    pub fn from_table(t: &Table) -> Result<Self, ContractError> {
        let cols = t.require(&GRID_COLUMNS)?;
        let synthetic_col = t.column("synthetic");
        let mut problems = Vec::new();
        let mut out = PopulationGrid::default();
        for row in t.rows() {
            let lat = crate::addresses::parse_coordinate(row.get(cols[0]), 90.0);
            let lon = crate::addresses::parse_coordinate(row.get(cols[1]), 180.0);
            if lat.is_none() {
                problems.push(t.problem(row, cols[0], "latitude is not a number within ±90"));
            }
            if lon.is_none() {
                problems.push(t.problem(row, cols[1], "longitude is not a number within ±180"));
            }
            let population = row.get(cols[2]).parse::<u64>();
            if population.is_err() {
                problems.push(
                    t.problem(
                        row,
                        cols[2],
                        "population is not a non-negative whole number",
                    )
                    .hint("Write residents as digits without spaces or separators"),
                );
            }
            if let (Some(lat), Some(lon), Ok(population)) = (lat, lon, population) {
                out.cells.push(GridCell {
                    lon,
                    lat,
                    population,
                });
            }
            if row.opt(synthetic_col) == Some("true") {
                out.synthetic = true;
            }
        }
        check(problems)?;
        Ok(out)
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

    #[test]
    fn a_grid_reads_cells_and_names_every_bad_value() {
        let t = Table::parse(
            Path::new("g.csv"),
            b"lat,lon,population,synthetic\n51.1,17.0,120,true\n51.2,17.1,0,true\n",
        )
        .unwrap();
        let g = PopulationGrid::from_table(&t).unwrap();
        assert_eq!(g.cells.len(), 2);
        assert_eq!(
            g.cells[0],
            GridCell {
                lon: 17.0,
                lat: 51.1,
                population: 120
            }
        );
        assert!(g.synthetic);
        let t = Table::parse(
            Path::new("g.csv"),
            b"lat,lon,population\n95,17.0,1\n51.1,x,2\n51.1,17.0,-4\n",
        )
        .unwrap();
        let err = PopulationGrid::from_table(&t).unwrap_err();
        let p = err.problems();
        assert_eq!(p.len(), 3);
        assert_eq!((p[0].line, p[0].value.as_deref()), (Some(2), Some("95")));
        assert_eq!((p[1].line, p[1].value.as_deref()), (Some(3), Some("x")));
        assert_eq!((p[2].line, p[2].value.as_deref()), (Some(4), Some("-4")));
    }
}
