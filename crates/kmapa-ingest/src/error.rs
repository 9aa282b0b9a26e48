//! Errors of the ingest. File-level faults reject a whole file; row-level faults are
//! rejects, not errors (see `validate`).

use std::fmt;
use std::path::{Path, PathBuf};

/// A fault of the whole file: it is refused and nothing is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub path: PathBuf,
    pub line: Option<u64>,
    pub message: String,
    pub hint: Option<String>,
}

impl FileError {
    pub fn new(path: &Path, message: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            line: None,
            message: message.into(),
            hint: None,
        }
    }

    pub fn io(path: &Path, e: std::io::Error) -> Self {
        Self::new(path, format!("cannot read: {e}")).hint("Check the path and permissions")
    }

    #[must_use]
    pub fn line(mut self, line: u64) -> Self {
        self.line = Some(line);
        self
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(l) = self.line {
            write!(f, ", line {l}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, ". {h}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{0}")]
    File(FileError),
    #[error("{path}, line {line}: rejected with --strict: {reason}")]
    Strict {
        path: String,
        line: u64,
        reason: String,
    },
    #[error("data directory {path}: {message}")]
    Store { path: String, message: String },
    #[error(
        "{path}: {outside} of the {located} rows located by a point or an address lie outside the city: \
         are these records from another city? Nothing was ingested. Ingest them into a data directory \
         of their own city (--city DIR --data-dir OTHER)"
    )]
    WrongCity {
        path: String,
        outside: u64,
        located: u64,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Contract(#[from] kmapa_model::ContractError),
}

impl From<FileError> for IngestError {
    fn from(e: FileError) -> Self {
        IngestError::File(e)
    }
}

impl From<rusqlite::Error> for IngestError {
    fn from(e: rusqlite::Error) -> Self {
        IngestError::Store {
            path: "catalog.sqlite".into(),
            message: e.to_string(),
        }
    }
}

impl From<polars::error::PolarsError> for IngestError {
    fn from(e: polars::error::PolarsError) -> Self {
        IngestError::Io(std::io::Error::other(e.to_string()))
    }
}
