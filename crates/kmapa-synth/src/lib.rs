//! Seeded synthetic data for kmapa. Nothing here describes real people: every file
//! written is marked synthetic. Owns the demo city's synthetic population and address
//! points, the OPS and PUP client-record generator, and the institutions generator.

pub mod city;
pub mod names;
pub mod records;
pub mod rng;

pub use records::{GenOptions, Generated, LocationMode, generate};
pub mod institutions;
