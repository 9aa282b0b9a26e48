//! kmapa's protection core: nothing leaves kmapa without passing here.
//!
//! So far: protection tables (cells and the additive relations an attacker knows),
//! the audit that proves by linear programming what interval an attacker can pin each
//! hidden cell to, and the Cell Key Method for consistent perturbation of analyst
//! queries. Aggregation, the policy file and secondary suppression follow.

pub mod audit;
pub mod ckm;
pub mod family;
pub mod flow;
pub mod layers;
pub mod output;
pub mod policy;
pub mod snapshots;
pub mod suppress;
pub mod table;

pub use audit::{AuditReport, Interval, audit};
pub use suppress::{SuppressionSummary, protect};
pub use table::{CellStatus, PublicStatus, Table};
