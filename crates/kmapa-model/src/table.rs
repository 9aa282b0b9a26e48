//! A small CSV reader for the contract's reference tables (vocabulary, population,
//! institutions, address points): whole file in memory, every cell addressable by
//! line and column for error messages. Record files, which can be huge, are read by
//! the ingest crate instead.

use std::path::{Path, PathBuf};

use crate::problem::{ContractError, Problem};
use crate::text::fold;

/// A parsed CSV file with a header row.
#[derive(Debug, Clone)]
pub struct Table {
    pub path: PathBuf,
    pub headers: Vec<String>,
    rows: Vec<Row>,
}

/// One data row and the physical line it started on.
#[derive(Debug, Clone)]
pub struct Row {
    pub line: u64,
    pub cells: csv::StringRecord,
}

impl Table {
    /// Reads a comma-separated UTF-8 file (a BOM is tolerated) with a header row.
    pub fn read(path: &Path) -> Result<Self, ContractError> {
        let bytes = std::fs::read(path).map_err(|e| ContractError::io(path, e))?;
        Self::parse(path, &bytes)
    }

    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, ContractError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(bytes);
        let bad = |e: csv::Error| {
            let line = e.position().map_or(1, csv::Position::line);
            ContractError::Invalid(vec![
                Problem::new(path, format!("not a valid CSV file: {e}"))
                    .line(line)
                    .hint("Save the file as comma-separated UTF-8 with one header row"),
            ])
        };
        let headers: Vec<String> = reader
            .headers()
            .map_err(bad)?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let mut rows = Vec::new();
        for record in reader.records() {
            let cells = record.map_err(bad)?;
            let line = cells.position().map_or(0, csv::Position::line);
            rows.push(Row { line, cells });
        }
        Ok(Self {
            path: path.to_path_buf(),
            headers,
            rows,
        })
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// Index of a column, matching case- and diacritics-insensitively.
    pub fn column(&self, name: &str) -> Option<usize> {
        let want = fold(name);
        self.headers.iter().position(|h| fold(h) == want)
    }

    /// Indexes of the required columns, or one problem per missing column.
    pub fn require(&self, names: &[&str]) -> Result<Vec<usize>, ContractError> {
        let mut found = Vec::with_capacity(names.len());
        let mut problems = Vec::new();
        for name in names {
            match self.column(name) {
                Some(i) => found.push(i),
                None => problems.push(
                    Problem::new(&self.path, format!("required column `{name}` is missing"))
                        .line(1)
                        .hint(format!(
                            "The header has: {}. Add the column (see docs/data-format.md)",
                            self.headers.join(", ")
                        )),
                ),
            }
        }
        if problems.is_empty() {
            Ok(found)
        } else {
            Err(ContractError::Invalid(problems))
        }
    }

    /// A problem located at a cell of this table.
    pub fn problem(&self, row: &Row, col: usize, message: impl Into<String>) -> Problem {
        Problem::new(&self.path, message)
            .line(row.line)
            .column(self.headers.get(col).cloned().unwrap_or_default())
            .value(row.get(col))
    }
}

impl Row {
    /// The trimmed cell, or "" when the row is short.
    pub fn get(&self, col: usize) -> &str {
        self.cells.get(col).map_or("", str::trim)
    }

    /// An optional column: `None` when the table lacks the column or the cell is empty.
    pub fn opt(&self, col: Option<usize>) -> Option<&str> {
        col.map(|c| self.get(c)).filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_match_without_case_or_diacritics_and_lines_are_physical() {
        let t = Table::parse(
            Path::new("t.csv"),
            "\u{feff}Płeć,Rok\n\"K\nmulti\",2020\nM,2021\n".as_bytes(),
        )
        .unwrap();
        assert_eq!(t.column("plec"), Some(0));
        assert_eq!(t.column("ROK"), Some(1));
        assert_eq!(t.rows()[0].line, 2);
        assert_eq!(t.rows()[1].line, 4);
    }

    #[test]
    fn missing_columns_are_all_named() {
        let t = Table::parse(Path::new("t.csv"), b"a,b\n1,2\n").unwrap();
        let err = t.require(&["a", "c", "d"]).unwrap_err();
        let names: Vec<_> = err.problems().iter().map(|p| p.message.clone()).collect();
        assert_eq!(
            names,
            [
                "required column `c` is missing",
                "required column `d` is missing"
            ]
        );
    }

    #[test]
    fn ragged_rows_are_reported_with_their_line() {
        let err = Table::parse(Path::new("t.csv"), b"a,b\n1,2\n3\n").unwrap_err();
        assert_eq!(err.problems()[0].line, Some(3));
    }
}
