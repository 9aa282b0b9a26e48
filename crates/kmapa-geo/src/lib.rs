//! kmapa's geography: district layers (osiedla and their parent areas) and the
//! point-in-district index. H3 binning arrives with the ingest issue.

pub mod districts;

pub use districts::{District, DistrictIndex, DistrictLayer};
