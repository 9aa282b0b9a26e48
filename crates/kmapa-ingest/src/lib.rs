//! Ingest: from office exports to clean, binned, immutable batches.
//!
//! Owns reading record files (CSV in UTF-8 or Windows-1250 with `,` or `;`, Parquet),
//! refusing direct identifiers, validating every row (rejects with line, column, value
//! and reason), geocoding and binning (through `kmapa-geo`), the embedded store
//! (Parquet batches and a SQLite catalogue, written atomically), and pseudonymisation
//! at the source. The only crate besides the analyst cube that depends on polars.

pub mod batch;
pub mod error;
pub mod identifiers;
pub mod ingest;
pub mod parquet;
pub mod pesel;
pub mod pseudonymise;
pub mod reader;
pub mod store;
pub mod validate;

pub use error::{FileError, IngestError};
pub use ingest::{IngestContext, IngestOptions, IngestSummary, ingest_file};
pub use parquet::{ParquetRecordWriter, read_parquet_records};
pub use store::{BatchInfo, Store};
