//! Address points: a subset of the national address register's columns
//! (`street, house_number, postcode, lat, lon`), used to geocode `address` records.

use std::path::Path;

use serde::Serialize;

use crate::problem::{ContractError, check};
use crate::table::Table;

pub const COLUMNS: [&str; 5] = ["street", "house_number", "postcode", "lat", "lon"];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AddressPoint {
    /// Street name with its type prefix as the register writes it, e.g. "ul. Lipowa".
    pub street: String,
    /// House number, possibly with a letter: "12", "12A".
    pub house_number: String,
    /// Polish postcode `NN-NNN`.
    pub postcode: String,
    pub lat: f64,
    pub lon: f64,
}

/// True for a Polish postcode `NN-NNN`.
pub fn is_postcode(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 6
        && b[2] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 2 || c.is_ascii_digit())
}

/// Parses a WGS84 coordinate, accepting a decimal comma, and checks its range.
pub fn parse_coordinate(s: &str, max_abs: f64) -> Option<f64> {
    let s = crate::text::trim(s);
    // A decimal comma (Polish spreadsheets) is read as a point; most values have none.
    let v: f64 = if s.contains(',') {
        s.replace(',', ".").parse().ok()?
    } else {
        s.parse().ok()?
    };
    (v.is_finite() && v.abs() <= max_abs).then_some(v)
}

/// Reads and validates an address-point file.
pub fn read(path: &Path) -> Result<Vec<AddressPoint>, ContractError> {
    from_table(&Table::read(path)?)
}

pub fn from_table(t: &Table) -> Result<Vec<AddressPoint>, ContractError> {
    let c = t.require(&COLUMNS)?;
    let mut problems = Vec::new();
    let mut out = Vec::with_capacity(t.rows().len());
    let mut seen = std::collections::HashSet::new();
    for row in t.rows() {
        let mut ok = true;
        for (i, what) in [(0, "street"), (1, "house number")] {
            if row.get(c[i]).is_empty() {
                problems.push(t.problem(row, c[i], format!("{what} is empty")));
                ok = false;
            }
        }
        if !is_postcode(row.get(c[2])) {
            problems.push(
                t.problem(row, c[2], "not a Polish postcode")
                    .hint("Write postcodes as NN-NNN, e.g. 50-001"),
            );
            ok = false;
        }
        let lat = parse_coordinate(row.get(c[3]), 90.0);
        let lon = parse_coordinate(row.get(c[4]), 180.0);
        if lat.is_none() {
            problems.push(t.problem(row, c[3], "latitude is not a number within ±90"));
        }
        if lon.is_none() {
            problems.push(t.problem(row, c[4], "longitude is not a number within ±180"));
        }
        let (Some(lat), Some(lon)) = (lat, lon) else {
            continue;
        };
        if !ok {
            continue;
        }
        let key = (row.get(c[0]).to_string(), row.get(c[1]).to_string());
        if !seen.insert(key) {
            problems.push(
                t.problem(row, c[1], "this street and house number appear twice")
                    .hint("Each address point must be unique"),
            );
            continue;
        }
        out.push(AddressPoint {
            street: row.get(c[0]).to_string(),
            house_number: row.get(c[1]).to_string(),
            postcode: row.get(c[2]).to_string(),
            lat,
            lon,
        });
    }
    check(problems)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postcodes_and_coordinates() {
        assert!(is_postcode("50-001"));
        assert!(!is_postcode("50001"));
        assert!(!is_postcode("5a-001"));
        assert_eq!(parse_coordinate("51,1", 90.0), Some(51.1));
        assert_eq!(parse_coordinate("91", 90.0), None);
        assert_eq!(parse_coordinate("NaN", 90.0), None);
    }

    #[test]
    fn duplicate_addresses_are_refused() {
        let t = Table::parse(
            Path::new("a.csv"),
            "street,house_number,postcode,lat,lon\n\
             ul. Lipowa,1,50-001,51.1,17.0\nul. Lipowa,1,50-001,51.1,17.0\n"
                .as_bytes(),
        )
        .unwrap();
        let err = from_table(&t).unwrap_err();
        assert_eq!(err.problems()[0].line, Some(3));
    }
}
