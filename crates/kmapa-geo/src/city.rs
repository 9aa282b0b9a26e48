//! A city's reference data, loaded and cross-checked together: the district layer,
//! the population table, address points and institutions, against the vocabulary.
//!
//! Layout of a city directory (the demo city is `data/wroclaw/`):
//! `districts.geojson` (required), `population.csv`, `addresses.csv`,
//! `institutions.csv`, `population-grid.csv` (each optional). The vocabulary is `data/categories.csv`.

use std::path::{Path, PathBuf};

use kmapa_model::addresses::{self, AddressPoint};
use kmapa_model::institutions::{self, Institution};
use kmapa_model::population::{PopulationGrid, PopulationTable};
use kmapa_model::{ContractError, Problem, Vocabulary};

use crate::districts::{DistrictIndex, DistrictLayer};

pub const DISTRICTS_FILE: &str = "districts.geojson";
pub const POPULATION_FILE: &str = "population.csv";
pub const ADDRESSES_FILE: &str = "addresses.csv";
pub const INSTITUTIONS_FILE: &str = "institutions.csv";
/// Optional: residents per grid cell (GUS's census grid), for population-weighted
/// district centres.
pub const POPULATION_GRID_FILE: &str = "population-grid.csv";

/// What identifies a city directory: a fingerprint of its files, with its name and
/// number of districts for people to read. A data directory is bound to one city
/// (`kmapa init`), and every snapshot says which one it was made from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CityId {
    /// The directory's name (`wroclaw`).
    pub name: String,
    /// SHA-256 over the city's files (name, length and contents of each present),
    /// hex, first 16 characters.
    pub fingerprint: String,
    pub districts: usize,
}

impl CityId {
    /// The identity of the city in `dir` (its files must be readable; their contents
    /// are checked by [`City::load`]).
    pub fn of(dir: &Path) -> Result<Self, ContractError> {
        use sha2::Digest;
        let districts_path = dir.join(DISTRICTS_FILE);
        if !districts_path.exists() {
            return Err(ContractError::Invalid(vec![
                Problem::new(&districts_path, "no district boundaries here".to_string()).hint(
                    "pass the city directory (the one holding districts.geojson), e.g. --city data/wroclaw",
                ),
            ]));
        }
        let mut h = sha2::Sha256::new();
        for name in [
            DISTRICTS_FILE,
            POPULATION_FILE,
            ADDRESSES_FILE,
            INSTITUTIONS_FILE,
            POPULATION_GRID_FILE,
        ] {
            let path = dir.join(name);
            if !path.exists() {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| ContractError::io(&path, e))?;
            h.update(name.as_bytes());
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(&bytes);
        }
        let layer = DistrictLayer::read(&districts_path)?;
        let name = std::fs::canonicalize(dir)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| dir.display().to_string());
        Ok(CityId {
            name,
            fingerprint: hex::encode(h.finalize())[..16].to_string(),
            districts: layer.districts.len(),
        })
    }
}

impl std::fmt::Display for CityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} districts, fingerprint {})",
            self.name, self.districts, self.fingerprint
        )
    }
}

pub struct City {
    pub dir: PathBuf,
    pub layer: DistrictLayer,
    pub index: DistrictIndex,
    pub population: Option<PopulationTable>,
    pub addresses: Option<Vec<AddressPoint>>,
    /// For each address point, the index of its district in `layer`.
    pub address_districts: Vec<usize>,
    pub institutions: Option<Vec<Institution>>,
    pub population_grid: Option<PopulationGrid>,
    /// For each grid cell, its district in `layer` (`None`: outside the city, as cells
    /// along its boundary may be).
    pub grid_districts: Vec<Option<usize>>,
}

impl City {
    /// Loads every file present in `dir` and checks that they agree with each other:
    /// population rows name known districts and cover every district in every year
    /// they give; address points and institutions lie inside the city.
    pub fn load(dir: &Path, vocabulary: &Vocabulary) -> Result<Self, ContractError> {
        let layer = DistrictLayer::read(&dir.join(DISTRICTS_FILE))?;
        let index = DistrictIndex::new(&layer);
        let codes = layer.codes();
        let mut problems = Vec::new();

        let pop_path = dir.join(POPULATION_FILE);
        let population = if pop_path.exists() {
            let p = PopulationTable::read(&pop_path)?;
            for (code, year) in p.values.keys() {
                if !codes.contains(code) {
                    problems.push(
                        Problem::new(&pop_path, format!("unknown district {code:?} in {year}"))
                            .column("district_code")
                            .value(code.clone())
                            .hint("Use codes from districts.geojson"),
                    );
                }
            }
            for year in p.years() {
                for d in &layer.districts {
                    if p.get(&d.code, year).is_none() {
                        problems.push(
                            Problem::new(
                                &pop_path,
                                format!("no population for {} in {year}", d.code),
                            )
                            .hint("Give every district a row for every year"),
                        );
                    }
                }
            }
            Some(p)
        } else {
            None
        };

        let addr_path = dir.join(ADDRESSES_FILE);
        let mut address_districts = Vec::new();
        let addresses = if addr_path.exists() {
            let a = addresses::read(&addr_path)?;
            for (i, p) in a.iter().enumerate() {
                match index.locate(p.lon, p.lat) {
                    Some(d) => address_districts.push(d),
                    None => problems.push(
                        Problem::new(&addr_path, "address point lies outside every district")
                            .line(i as u64 + 2)
                            .value(format!(
                                "{} {} ({}, {})",
                                p.street, p.house_number, p.lat, p.lon
                            ))
                            .hint("Check the coordinates (lat, lon order, WGS84)"),
                    ),
                }
            }
            Some(a)
        } else {
            None
        };

        let inst_path = dir.join(INSTITUTIONS_FILE);
        let institutions = if inst_path.exists() {
            let list = institutions::read(&inst_path, vocabulary, &codes)?;
            for (i, inst) in list.iter().enumerate() {
                if index.locate(inst.lon, inst.lat).is_none() {
                    problems.push(
                        Problem::new(&inst_path, "institution lies outside the city")
                            .line(i as u64 + 2)
                            .column("lat/lon")
                            .value(format!("{}, {}", inst.lat, inst.lon)),
                    );
                }
            }
            Some(list)
        } else {
            None
        };
        let grid_path = dir.join(POPULATION_GRID_FILE);
        let mut grid_districts = Vec::new();
        let population_grid = if grid_path.exists() {
            let g = PopulationGrid::read(&grid_path)?;
            grid_districts = g.cells.iter().map(|c| index.locate(c.lon, c.lat)).collect();
            // Cells along the boundary may lie outside; most residents must not.
            let (inside, all) =
                g.cells
                    .iter()
                    .zip(&grid_districts)
                    .fold((0u64, 0u64), |(i, a), (c, d)| {
                        (
                            i + if d.is_some() { c.population } else { 0 },
                            a + c.population,
                        )
                    });
            if all > 0 && inside * 2 < all {
                problems.push(
                    Problem::new(
                        &grid_path,
                        format!(
                            "most residents of the grid ({} of {all}) lie outside every district",
                            all - inside
                        ),
                    )
                    .hint(
                        "Check the coordinates: cell centres as lat, lon in WGS84, for this city",
                    ),
                );
            }
            Some(g)
        } else {
            None
        };
        kmapa_model::problem::check(problems)?;
        Ok(Self {
            population_grid,
            grid_districts,
            dir: dir.to_path_buf(),
            layer,
            index,
            population,
            addresses,
            address_districts,
            institutions,
        })
    }
}
