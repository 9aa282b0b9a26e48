//! Prepares a demo city from real boundaries: stable district codes and parent areas,
//! a synthetic population per district and year, and synthetic address points.
//!
//! Only the boundaries are real. Populations and addresses are generated and say so
//! (`synthetic` column; README), because per-osiedle populations are not published.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use geo::{BoundingRect, Centroid, Contains, Coord, Point};
use kmapa_geo::{District, DistrictLayer};
use kmapa_model::text::fold;
use kmapa_model::{ContractError, Problem, table::Table};
use rand::RngExt;
use serde_json::{Value, json};

use crate::names::{STREET_TYPES, street_names};
use crate::rng::{Rng, apportion, lognormal, stream};

/// Options of the demo-city preparation.
#[derive(Debug, Clone)]
pub struct CityOptions {
    pub seed: u64,
    /// The real city total the synthetic populations must sum to, and its year.
    pub total_population: u64,
    pub total_year: i32,
    /// Years to give populations for.
    pub years: std::ops::RangeInclusive<i32>,
    /// The city centre (lon, lat): density falls with distance from it. `None`: the
    /// centroid of all districts.
    pub centre: Option<(f64, f64)>,
    /// About how many address points to generate.
    pub address_points: usize,
    /// The city's own population per district and year (`osiedle` or
    /// `district_code`, `year`, `population`): used instead of a synthetic one.
    pub population: Option<std::path::PathBuf>,
    pub attribution: String,
}

impl Default for CityOptions {
    fn default() -> Self {
        Self {
            seed: 2024,
            total_population: 673_531,
            total_year: 2024,
            years: 2015..=2024,
            // Wrocław's market square.
            centre: Some((17.0320, 51.1100)),
            address_points: 30_000,
            population: None,
            attribution: "Granice osiedli: © OpenStreetMap contributors, ODbL 1.0".into(),
        }
    }
}

/// The three files of a prepared city, as text.
#[derive(Debug, Clone, PartialEq)]
pub struct CityFiles {
    pub districts_geojson: String,
    pub population_csv: String,
    pub addresses_csv: String,
    /// A synthetic population grid, made with a synthetic population only (a city's own
    /// population gets none: where its residents live within districts is its to give).
    pub population_grid_csv: Option<String>,
}

impl CityFiles {
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        use std::io::Write;
        for (name, text) in [
            ("districts.geojson", &self.districts_geojson),
            ("population.csv", &self.population_csv),
            ("addresses.csv", &self.addresses_csv),
        ]
        .into_iter()
        .chain(
            self.population_grid_csv
                .as_ref()
                .map(|g| ("population-grid.csv", g)),
        ) {
            kmapa_model::fsutil::write_atomically(&dir.join(name), |w| {
                w.write_all(text.as_bytes())
            })?;
        }
        Ok(())
    }
}

/// Three-letter code of a parent area: first three letters of a one-word name,
/// first two letters and the initial of the second word otherwise ("Psie Pole" → PSP).
pub fn parent_code(name: &str) -> String {
    let folded = fold(name).to_ascii_uppercase();
    let words: Vec<&str> = folded.split(' ').collect();
    let code: String = if words.len() > 1 {
        words[0]
            .chars()
            .take(2)
            .chain(words[1].chars().take(1))
            .collect()
    } else {
        words[0].chars().take(3).collect()
    };
    code
}

/// Builds the demo city from raw boundaries (features with a `name`) and an
/// attributes table (`osiedle`, `dawna_dzielnica` = the parent area).
pub fn prepare(
    boundaries: &Path,
    attributes: &Path,
    opts: &CityOptions,
) -> Result<CityFiles, ContractError> {
    let raw: Value = serde_json::from_slice(
        &std::fs::read(boundaries).map_err(|e| ContractError::io(boundaries, e))?,
    )
    .map_err(|e| ContractError::Invalid(vec![Problem::new(boundaries, e.to_string())]))?;
    let attrs = Table::read(attributes)?;
    let cols = attrs.require(&["osiedle", "dawna_dzielnica"])?;
    // Codes given by the city, if any: `kod` (district) and `kod_dzielnicy` (parent).
    let given_code = attrs.column("kod");
    let given_parent = attrs.column("kod_dzielnicy");
    let parent_of: HashMap<String, String> = attrs
        .rows()
        .iter()
        .map(|r| (r.get(cols[0]).to_string(), r.get(cols[1]).to_string()))
        .collect();
    // Parent codes: as given, or made from the name, distinct for distinct names
    // ("Północ" and "Południe" both start POL: the second becomes PO2).
    let mut parent_codes: HashMap<String, String> = HashMap::new();
    let mut taken: HashMap<String, String> = HashMap::new();
    let mut problems = Vec::new();
    for row in attrs.rows() {
        let name = row.get(cols[1]).to_string();
        if parent_codes.contains_key(&name) {
            continue;
        }
        let code = match given_parent.map(|c| row.get(c).trim().to_string()) {
            Some(c) if !c.is_empty() => c,
            _ => {
                let base = parent_code(&name);
                let mut code = base.clone();
                let mut n = 2;
                while taken.contains_key(&code) {
                    code = format!("{}{n}", &base[..base.len().min(2)]);
                    n += 1;
                }
                code
            }
        };
        if let Some(other) = taken.get(&code) {
            problems.push(
                Problem::new(
                    attributes,
                    format!("parent code {code} is given to {other:?} and {name:?}"),
                )
                .line(row.line)
                .column("kod_dzielnicy")
                .value(code.clone())
                .hint("Give each parent area its own code"),
            );
        }
        taken.insert(code.clone(), name.clone());
        parent_codes.insert(name, code);
    }
    // District codes: as given, or the parent code + number in the attributes' order
    // within the parent.
    let mut numbering: BTreeMap<String, u32> = BTreeMap::new();
    let mut code_of: HashMap<String, String> = HashMap::new();
    for row in attrs.rows() {
        let parent = parent_codes[row.get(cols[1])].clone();
        let n = numbering.entry(parent.clone()).or_insert(0);
        *n += 1;
        let code = match given_code.map(|c| row.get(c).trim().to_string()) {
            Some(c) if !c.is_empty() => c,
            _ => format!("{parent}-{n:02}"),
        };
        code_of.insert(row.get(cols[0]).to_string(), code);
    }
    kmapa_model::problem::check(std::mem::take(&mut problems))?;
    let features = raw
        .get("features")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ContractError::Invalid(vec![Problem::new(boundaries, "no features array")])
        })?;
    let mut out_features: Vec<(String, Value)> = Vec::new();
    for (i, f) in features.iter().enumerate() {
        let name = f
            .pointer("/properties/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let (Some(code), Some(parent)) = (code_of.get(name), parent_of.get(name)) else {
            problems.push(
                Problem::new(boundaries, "district is not in the attributes table")
                    .feature(i)
                    .column("name")
                    .value(name)
                    .hint(format!("Add a row for it to {}", attributes.display())),
            );
            continue;
        };
        out_features.push((
            code.clone(),
            json!({
                "type": "Feature",
                "properties": {
                    "code": code,
                    "name": name,
                    "parent": parent_codes[parent],
                    "parent_name": parent,
                },
                "geometry": f.get("geometry").cloned().unwrap_or(Value::Null),
            }),
        ));
    }
    kmapa_model::problem::check(problems)?;
    out_features.sort_by(|a, b| a.0.cmp(&b.0));
    let mut geojson = String::from("{\"type\":\"FeatureCollection\",");
    let _ = writeln!(
        geojson,
        "\"name\":\"districts\",\"attribution\":{},\"features\":[",
        Value::String(opts.attribution.clone())
    );
    for (i, (_, f)) in out_features.iter().enumerate() {
        if i > 0 {
            geojson.push_str(",\n");
        }
        geojson.push_str(&f.to_string());
    }
    geojson.push_str("\n]}\n");
    let layer = DistrictLayer::parse(Path::new("districts.geojson"), geojson.as_bytes())?;
    let (populations, synthetic) = match &opts.population {
        Some(path) => (given_population(path, &layer, &code_of)?, false),
        None => (synthetic_population(&layer, opts), true),
    };
    let mut population_csv = String::from("district_code,year,population,synthetic\n");
    for ((code, year), pop) in &populations {
        let _ = writeln!(population_csv, "{code},{year},{pop},{synthetic}");
    }
    let addresses_csv = synthetic_addresses(&layer, &populations, opts);
    let population_grid_csv = synthetic.then(|| synthetic_grid(&layer, &populations, opts));
    Ok(CityFiles {
        districts_geojson: geojson,
        population_csv,
        addresses_csv,
        population_grid_csv,
    })
}

/// The city's own population table, by district name (`osiedle`) or code
/// (`district_code`): every district in every year the file gives.
pub fn given_population(
    path: &Path,
    layer: &DistrictLayer,
    code_of: &HashMap<String, String>,
) -> Result<BTreeMap<(String, i32), u64>, ContractError> {
    let t = Table::read(path)?;
    let cols = t.require(&["year", "population"])?;
    let key = t
        .column("district_code")
        .or_else(|| t.column("osiedle"))
        .ok_or_else(|| {
            ContractError::Invalid(vec![Problem::new(path, "no district column").line(1).hint(
                "Name districts in a column `osiedle` (as in the attributes) or `district_code`",
            )])
        })?;
    let by_code = t.column("district_code").is_some();
    let codes: std::collections::HashSet<&str> =
        layer.districts.iter().map(|d| d.code.as_str()).collect();
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for row in t.rows() {
        let raw = row.get(key).trim();
        let code = if by_code {
            Some(raw.to_string()).filter(|c| codes.contains(c.as_str()))
        } else {
            code_of.get(raw).cloned()
        };
        let year = row.get(cols[0]).trim().parse::<i32>().ok();
        let pop = row
            .get(cols[1])
            .trim()
            .replace([' ', '\u{a0}'], "")
            .parse::<u64>()
            .ok();
        match (code, year, pop) {
            (Some(c), Some(y), Some(p)) => {
                out.insert((c, y), p);
            }
            (None, ..) => problems.push(
                Problem::new(path, "unknown district")
                    .line(row.line)
                    .column(if by_code { "district_code" } else { "osiedle" })
                    .value(raw)
                    .hint("Use the districts' names from the attributes (or their codes)"),
            ),
            (_, None, _) => problems.push(
                Problem::new(path, "not a year")
                    .line(row.line)
                    .column("year")
                    .value(row.get(cols[0])),
            ),
            (_, _, None) => problems.push(
                Problem::new(path, "not a number of residents")
                    .line(row.line)
                    .column("population")
                    .value(row.get(cols[1])),
            ),
        }
    }
    let years: std::collections::BTreeSet<i32> = out.keys().map(|(_, y)| *y).collect();
    for y in &years {
        for d in &layer.districts {
            if !out.contains_key(&(d.code.clone(), *y)) {
                problems.push(
                    Problem::new(
                        path,
                        format!("no population for {} ({}) in {y}", d.name, d.code),
                    )
                    .hint("Give every district a row for every year"),
                );
            }
        }
    }
    kmapa_model::problem::check(problems)?;
    Ok(out)
}

/// Distance in km between two lon/lat points (equirectangular; fine within a city).
pub fn km_between(a: (f64, f64), b: (f64, f64)) -> f64 {
    let lat = ((a.1 + b.1) / 2.0).to_radians();
    let dx = (a.0 - b.0).to_radians() * lat.cos() * 6371.0;
    let dy = (a.1 - b.1).to_radians() * 6371.0;
    dx.hypot(dy)
}

/// All districts as one shape.
fn whole_city(layer: &DistrictLayer) -> geo::MultiPolygon<f64> {
    geo::MultiPolygon(
        layer
            .districts
            .iter()
            .flat_map(|d| d.geometry.0.iter().cloned())
            .collect(),
    )
}

/// The city centre density falls from: the given one, else the centroid of all districts.
fn city_centre(layer: &DistrictLayer, opts: &CityOptions) -> (f64, f64) {
    opts.centre.unwrap_or_else(|| {
        whole_city(layer)
            .centroid()
            .map_or((0.0, 0.0), |c: Point<f64>| (c.x(), c.y()))
    })
}

/// Residents per km² at `r_km` from the centre (before random factors).
fn density_at(r_km: f64) -> f64 {
    11_000.0 * (-r_km / 2.2).exp() + 400.0
}

fn centroid(d: &District) -> (f64, f64) {
    d.geometry
        .centroid()
        .map_or((0.0, 0.0), |c: Point<f64>| (c.x(), c.y()))
}

/// Population per (district, year): density falling with distance from the centre,
/// times a random district factor; outer districts grow faster (suburbanisation).
/// The given year sums exactly to the real city total.
fn synthetic_population(layer: &DistrictLayer, opts: &CityOptions) -> BTreeMap<(String, i32), u64> {
    let mut rng = stream(opts.seed, "population");
    let centre = city_centre(layer, opts);
    let mut weights = Vec::new();
    let mut growth = Vec::new();
    for d in &layer.districts {
        let r = km_between(centroid(d), centre);
        let density = density_at(r);
        // Large districts hold fields, forests and allotments: residents grow slower than area.
        weights.push(density * d.area_km2().powf(0.6) * lognormal(&mut rng, 0.3).clamp(0.6, 1.6));
        // Yearly growth: ~0 in the centre, up to ~3 % at the edge.
        growth.push((0.004 * r - 0.006 + 0.004 * crate::rng::normal(&mut rng)).clamp(-0.01, 0.04));
    }
    let mut out = BTreeMap::new();
    for year in opts.years.clone() {
        let dy = f64::from(year - opts.total_year);
        let w: Vec<f64> = weights
            .iter()
            .zip(&growth)
            .map(|(w, g)| w * (1.0 + g).powf(dy))
            .collect();
        // The city as a whole grew about 0.55 % a year (synthetic trend).
        let total = (opts.total_population as f64 * (1.0 + 0.0055 * dy)).round() as u64;
        for (d, pop) in layer.districts.iter().zip(apportion(total, &w)) {
            out.insert((d.code.clone(), year), pop);
        }
    }
    out
}

fn choose_street_type(rng: &mut Rng) -> &'static str {
    let mut x: f64 = rng.random();
    for (t, share) in STREET_TYPES {
        if x < *share {
            return t;
        }
        x -= share;
    }
    "ul."
}

/// Synthetic address points: streets as random walks inside each district, houses
/// along both sides (odd numbers left, even right), a few numbers with a letter.
fn synthetic_addresses(
    layer: &DistrictLayer,
    populations: &BTreeMap<(String, i32), u64>,
    opts: &CityOptions,
) -> String {
    let mut rng = stream(opts.seed, "addresses");
    let pops: Vec<f64> = layer
        .districts
        .iter()
        .map(|d| {
            populations
                .get(&(d.code.clone(), opts.total_year))
                .copied()
                .unwrap_or(1000) as f64
        })
        .collect();
    // Sparse areas have fewer residents per address point (houses, not blocks).
    let weights: Vec<f64> = pops.iter().map(|p| p.powf(0.75)).collect();
    let targets = apportion(opts.address_points as u64, &weights);
    let mut names = street_names();
    // Shuffle (Fisher–Yates) so districts get unrelated names.
    for i in (1..names.len()).rev() {
        let j = rng.random_range(0..=i);
        names.swap(i, j);
    }
    let mut next_name = 0usize;
    let mut out = String::from("street,house_number,postcode,lat,lon,synthetic\n");
    let parents: Vec<String> = layer.parents().into_iter().map(|(c, _)| c).collect();
    for (di, (d, target)) in layer.districts.iter().zip(targets).enumerate() {
        let target = target.max(40) as usize;
        let Some(bbox) = d.geometry.bounding_rect() else {
            continue;
        };
        let parent_ix = d
            .parent
            .as_ref()
            .and_then(|p| parents.iter().position(|x| x == p))
            .unwrap_or(0);
        let mut made = 0usize;
        let mut street_ix = 0usize;
        while made < target {
            let name = names[next_name % names.len()];
            let round = next_name / names.len();
            next_name += 1;
            let street = if round == 0 {
                format!("{} {name}", choose_street_type(&mut rng))
            } else {
                // Out of names: further streets get an ordinal, as real cities do ("Boczna 2").
                format!("{} {name} {}", choose_street_type(&mut rng), round + 1)
            };
            let postcode = format!(
                "{}-{:03}",
                50 + (parent_ix % 5),
                100 + (di * 17 + street_ix * 3) % 900
            );
            street_ix += 1;
            let houses = rng.random_range(20..120).min(target - made + 1);
            let Some(start) = random_point_in(&d.geometry, bbox, &mut rng) else {
                break;
            };
            let mut pos = start;
            let mut heading: f64 = rng.random_range(0.0..std::f64::consts::TAU);
            let mut number = 1u32;
            let mut tries = 0;
            while number <= houses as u32 && tries < houses * 20 {
                tries += 1;
                heading += 0.15 * crate::rng::normal(&mut rng);
                let step = metres_to_degrees(pos, 12.0 * heading.cos(), 12.0 * heading.sin());
                let next = Coord {
                    x: pos.x + step.x,
                    y: pos.y + step.y,
                };
                if !d.geometry.contains(&next) {
                    heading += std::f64::consts::PI * rng.random_range(0.5..1.5);
                    continue;
                }
                pos = next;
                // Odd numbers on the left, even on the right, 15 m from the axis.
                let side = if number % 2 == 1 { 1.0 } else { -1.0 };
                let off = metres_to_degrees(
                    pos,
                    -15.0 * side * heading.sin(),
                    15.0 * side * heading.cos(),
                );
                let house = Coord {
                    x: pos.x + off.x,
                    y: pos.y + off.y,
                };
                if d.geometry.contains(&house) {
                    let _ = writeln!(
                        out,
                        "{street},{number},{postcode},{:.6},{:.6},true",
                        house.y, house.x
                    );
                    made += 1;
                    if rng.random::<f64>() < 0.03 {
                        let extra =
                            metres_to_degrees(house, 6.0 * heading.cos(), 6.0 * heading.sin());
                        let p = Coord {
                            x: house.x + extra.x,
                            y: house.y + extra.y,
                        };
                        if d.geometry.contains(&p) {
                            let _ = writeln!(
                                out,
                                "{street},{number}A,{postcode},{:.6},{:.6},true",
                                p.y, p.x
                            );
                            made += 1;
                        }
                    }
                }
                number += 1;
            }
        }
    }
    out
}

/// Side of a synthetic grid cell, metres (GUS publishes 1 km and 250 m grids).
const GRID_M: f64 = 500.0;

/// A synthetic population grid: each district's residents of the latest year spread
/// over the cells whose centre lies in it, by the density curve of the district totals
/// (times a random factor per cell); a district holding no cell centre gets one cell at
/// its interior point. Rows `lat,lon,population,synthetic`.
fn synthetic_grid(
    layer: &DistrictLayer,
    populations: &BTreeMap<(String, i32), u64>,
    opts: &CityOptions,
) -> String {
    use geo::InteriorPoint;
    let mut rng = stream(opts.seed, "population-grid");
    let year = *opts.years.end();
    let bbox = whole_city(layer)
        .bounding_rect()
        .expect("districts have area");
    let centre = city_centre(layer, opts);
    let step = metres_to_degrees(bbox.center(), GRID_M, GRID_M);
    let mut cells: Vec<Vec<(Coord<f64>, f64)>> = vec![Vec::new(); layer.districts.len()];
    let boxes: Vec<geo::Rect<f64>> = layer
        .districts
        .iter()
        .map(|d| d.geometry.bounding_rect().expect("districts have area"))
        .collect();
    let mut y = bbox.min().y + step.y / 2.0;
    while y < bbox.max().y {
        let mut x = bbox.min().x + step.x / 2.0;
        while x < bbox.max().x {
            let c = Coord { x, y };
            if let Some(d) = (0..layer.districts.len())
                .find(|&d| boxes[d].contains(&c) && layer.districts[d].geometry.contains(&c))
            {
                let r = km_between((x, y), centre);
                let density = density_at(r);
                cells[d].push((c, density * lognormal(&mut rng, 0.5).clamp(0.2, 3.0)));
            }
            x += step.x;
        }
        y += step.y;
    }
    let mut out = String::from("lat,lon,population,synthetic\n");
    for (d, mut mine) in layer.districts.iter().zip(cells) {
        if mine.is_empty() {
            let p = d.geometry.interior_point().expect("districts have area");
            mine.push((p.0, 1.0));
        }
        let weights: Vec<f64> = mine.iter().map(|c| c.1).collect();
        let total = populations
            .get(&(d.code.clone(), year))
            .copied()
            .unwrap_or(0);
        for ((c, _), pop) in mine.iter().zip(apportion(total, &weights)) {
            let _ = writeln!(out, "{:.6},{:.6},{pop},true", c.y, c.x);
        }
    }
    out
}

fn metres_to_degrees(at: Coord<f64>, east: f64, north: f64) -> Coord<f64> {
    let lat = at.y.to_radians();
    Coord {
        x: east / (111_320.0 * lat.cos()),
        y: north / 110_574.0,
    }
}

/// A uniform random point inside a (multi)polygon, by rejection from its bounding box.
pub fn random_point_in(
    geometry: &geo::MultiPolygon<f64>,
    bbox: geo::Rect<f64>,
    rng: &mut Rng,
) -> Option<Coord<f64>> {
    for _ in 0..10_000 {
        let c = Coord {
            x: rng.random_range(bbox.min().x..bbox.max().x),
            y: rng.random_range(bbox.min().y..bbox.max().y),
        };
        if geometry.contains(&c) {
            return Some(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_codes() {
        assert_eq!(parent_code("Fabryczna"), "FAB");
        assert_eq!(parent_code("Psie Pole"), "PSP");
        assert_eq!(parent_code("Stare Miasto"), "STM");
        assert_eq!(parent_code("Śródmieście"), "SRO");
        assert_eq!(parent_code("Krzyki"), "KRZ");
    }

    #[test]
    fn distance_is_roughly_right() {
        // Wrocław market square to the main station: about 1.6 km.
        let d = km_between((17.0320, 51.1100), (17.0368, 51.0982));
        assert!((1.2..1.5).contains(&d), "{d}");
    }
}
