//! Problems found in input files, reported the way a person can act on them:
//! which file, which line, which column, which value, what is wrong and what to do.

use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong with an input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line (CSV: the physical line of the record; the header is line 1).
    /// For GeoJSON, `None`; `feature` says which feature instead.
    pub line: Option<u64>,
    /// 0-based index of a GeoJSON feature, when the file is GeoJSON.
    pub feature: Option<usize>,
    pub column: Option<String>,
    pub value: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    pub fn new(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: None,
            feature: None,
            column: None,
            value: None,
            message: message.into(),
            hint: None,
        }
    }

    #[must_use]
    pub fn line(mut self, line: u64) -> Self {
        self.line = Some(line);
        self
    }

    #[must_use]
    pub fn feature(mut self, index: usize) -> Self {
        self.feature = Some(index);
        self
    }

    #[must_use]
    pub fn column(mut self, column: impl Into<String>) -> Self {
        self.column = Some(column.into());
        self
    }

    #[must_use]
    pub fn value(mut self, value: impl Into<String>) -> Self {
        self.value = Some(value.into());
        self
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(feature) = self.feature {
            write!(f, ", feature {feature}")?;
        }
        if let Some(column) = &self.column {
            write!(f, ", column `{column}`")?;
        }
        if let Some(value) = &self.value {
            write!(f, ", value {value:?}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, ". {hint}")?;
        }
        Ok(())
    }
}

/// A file that does not follow the data contract. Carries every problem found,
/// not just the first, so a user can fix a file in one pass.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("{}: cannot read the file: {source}. Check the path and permissions", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", render(.0))]
    Invalid(Vec<Problem>),
}

fn render(problems: &[Problem]) -> String {
    const SHOWN: usize = 20;
    let mut out = String::new();
    for (i, p) in problems.iter().take(SHOWN).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&p.to_string());
    }
    if problems.len() > SHOWN {
        out.push_str(&format!(
            "\n... and {} more problems",
            problems.len() - SHOWN
        ));
    }
    out
}

impl ContractError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The problems found, empty for I/O errors.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Io { .. } => &[],
            Self::Invalid(p) => p,
        }
    }
}

/// Turns a list of problems into a result.
pub fn check(problems: Vec<Problem>) -> Result<(), ContractError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ContractError::Invalid(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_column_value_and_hint() {
        let p = Problem::new(Path::new("data/x.csv"), "year is not a number")
            .line(12)
            .column("year")
            .value("20x4")
            .hint("Use a four-digit year such as 2024");
        assert_eq!(
            p.to_string(),
            "data/x.csv, line 12, column `year`, value \"20x4\": year is not a number. \
             Use a four-digit year such as 2024"
        );
    }

    #[test]
    fn long_lists_are_cut_with_a_count() {
        let problems: Vec<_> = (0..25)
            .map(|i| Problem::new(Path::new("f.csv"), "bad").line(i))
            .collect();
        let text = ContractError::Invalid(problems).to_string();
        assert_eq!(text.lines().count(), 21);
        assert!(text.ends_with("and 5 more problems"));
    }
}
