//! kmapa's geography: district layers (osiedla and their parent areas), the
//! point-in-district index with its border rule, and a city's reference data loaded
//! and cross-checked together. H3 binning arrives with the ingest issue.

pub mod city;
pub mod districts;

pub use city::City;
pub use districts::{District, DistrictIndex, DistrictLayer};
