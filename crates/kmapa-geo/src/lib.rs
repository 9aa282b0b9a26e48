//! kmapa's geography: district layers (osiedla and their parent areas), the
//! point-in-district index with its border rule, binning into districts and H3 cells,
//! geocoding against address points, and a city's reference data loaded and
//! cross-checked together.

pub mod binning;
pub mod city;
pub mod districts;
pub mod geocode;
pub mod import;
pub mod topology;

pub use binning::{Bin, BinError, Binner};
pub use city::City;
pub use districts::{District, DistrictIndex, DistrictLayer};
pub use geocode::{GeocodeError, Geocoder};
