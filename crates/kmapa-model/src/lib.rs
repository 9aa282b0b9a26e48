//! kmapa's domain vocabulary and data contract.
//!
//! Owns what every other crate agrees on: the category vocabulary (as data), the
//! columns of client records and their Polish aliases, population tables,
//! institutions and address points, and how problems in those files are reported.
//! Record files themselves are read by `kmapa-ingest`; district geometry by `kmapa-geo`.

pub mod addresses;
pub mod fsutil;
pub mod institutions;
pub mod population;
pub mod problem;
pub mod records;
pub mod source;
pub mod table;
pub mod text;
pub mod vocabulary;

pub use problem::{ContractError, Problem};
pub use records::{AgeBand, RecordColumn, Sex};
pub use source::Source;
pub use vocabulary::{Category, Vocabulary};
