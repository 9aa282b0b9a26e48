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
    let v: f64 = match short_decimal(s) {
        Some(v) => v,
        None if s.contains(',') => s.replace(',', ".").parse().ok()?,
        None => s.parse().ok()?,
    };
    (v.is_finite() && v.abs() <= max_abs).then_some(v)
}

/// A plain decimal (`-51.0955`, `17,004`: a sign, digits, one decimal point or comma)
/// of at most 15 digits, as `str::parse` reads it: the digits as a whole number, exact
/// in an `f64`, divided by an exact power of ten, which rounds correctly (Clinger's
/// fast path, the one the standard library takes for such numbers, without its general
/// scanning). `None` for anything else, which the standard parser then reads.
fn short_decimal(s: &str) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let bytes = s.as_bytes();
    let (negative, digits) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        Some(b'+') => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    let mut mantissa = 0u64;
    let mut count = 0usize;
    let mut fraction: Option<usize> = None;
    for &b in digits {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                count += 1;
                if let Some(f) = fraction.as_mut() {
                    *f += 1;
                }
            }
            b'.' | b',' if fraction.is_none() => fraction = Some(0),
            _ => return None,
        }
        if count > 15 {
            return None;
        }
    }
    if count == 0 {
        return None;
    }
    let v = mantissa as f64 / POW10[fraction.unwrap_or(0)];
    Some(if negative { -v } else { v })
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

    /// What `parse_coordinate` read before its fast path.
    fn by_the_standard_parser(s: &str) -> Option<f64> {
        if s.contains(',') {
            s.replace(',', ".").parse().ok()
        } else {
            s.parse().ok()
        }
    }

    #[test]
    fn short_decimals_read_as_the_standard_parser_reads_them() {
        // Every coordinate-like text of up to 15 digits, and texts around the edges.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut texts: Vec<String> = Vec::new();
        for _ in 0..200_000 {
            let digits = 1 + (next() % 17) as usize;
            let mut t = String::new();
            match next() % 4 {
                0 => t.push('-'),
                1 => t.push('+'),
                _ => {}
            }
            let point = (next() % (digits as u64 + 2)) as usize;
            for i in 0..digits {
                if i == point {
                    t.push(if next() % 3 == 0 { ',' } else { '.' });
                }
                t.push(char::from(b'0' + (next() % 10) as u8));
            }
            if point == digits {
                t.push('.');
            }
            texts.push(t);
        }
        for edge in [
            "",
            "-",
            "+",
            ".",
            ",",
            "-.",
            "5.",
            ".5",
            "-0",
            "-0.0",
            "0",
            "1.2.3",
            "1,2,3",
            "1.2,3",
            "1e5",
            "1E-3",
            "inf",
            "NaN",
            "51.0955",
            "17,0040",
            "999999999999999",
            "9999999999999999",
            "0.000000000000001",
            "123456789012345.",
            "1 2",
            "--1",
        ] {
            texts.push(edge.to_string());
        }
        for t in &texts {
            let fast = short_decimal(t);
            if let Some(v) = fast {
                let want = by_the_standard_parser(t).expect("the standard parser reads it");
                assert_eq!(v.to_bits(), want.to_bits(), "{t:?}");
            }
            // Through the whole function: the same as before for every text.
            for max in [90.0, 1e300] {
                assert_eq!(
                    parse_coordinate(t, max).map(f64::to_bits),
                    by_the_standard_parser(t)
                        .filter(|v| v.is_finite() && v.abs() <= max)
                        .map(f64::to_bits),
                    "{t:?}"
                );
            }
        }
        // The fast path takes the usual coordinates.
        assert_eq!(short_decimal("51.0955"), Some(51.0955));
        assert_eq!(short_decimal("-17,004"), Some(-17.004));
        assert_eq!(short_decimal("1e5"), None);
    }

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
