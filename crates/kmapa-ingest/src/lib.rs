//! Reading and writing client-record files. For now: the Parquet side of the record
//! contract (the CSV writer lives in `kmapa-model`). Ingest with validation, binning
//! and the embedded store arrive with the ingest issue. Owns the polars dependency.

pub mod parquet;

pub use parquet::{ParquetRecordWriter, read_parquet_records};
