//! A data directory is bound to one city: the first ingest that accepts a row (or
//! `kmapa init`) records it in the store, by the fingerprint of its files; every later
//! command uses it without `--city`, and refuses another city with a message naming
//! both. No city is ever assumed: records of one city counted in another city's
//! districts would give wrong numbers without any error.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use kmapa_geo::city::CityId;
use kmapa_ingest::store::Store;

/// The demo city (`kmapa demo`).
pub const DEMO_CITY: &str = "data/wroclaw";

/// The city directory to use with `data_dir`, and the binding still to record (for a
/// data directory bound to no city yet).
pub struct Resolved {
    pub dir: PathBuf,
    pub id: CityId,
    pub unbound: bool,
}

impl Resolved {
    /// Records the binding if the data directory had none.
    pub fn bind_if_new(&self, data_dir: &Path, quiet: bool) -> anyhow::Result<()> {
        if !self.unbound {
            return Ok(());
        }
        self.bind_with(&Store::open_for_writing(data_dir)?, data_dir, quiet)
    }

    /// As [`Resolved::bind_if_new`], through a store already open for writing.
    pub fn bind_with(&self, store: &Store, data_dir: &Path, quiet: bool) -> anyhow::Result<()> {
        if !self.unbound {
            return Ok(());
        }
        store.bind_city(&absolute(&self.dir), &self.id)?;
        if !quiet {
            eprintln!(
                "{}: bound to the city in {}, {}; later commands use it without --city",
                data_dir.display(),
                self.dir.display(),
                self.id
            );
        }
        Ok(())
    }
}

fn absolute(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// The city of `data_dir`: the one it is bound to (checked against `given`, and
/// against its files as they are now), or, for a data directory bound to none yet,
/// `given` (which must then be given: no city is assumed).
pub fn resolve(data_dir: &Path, given: Option<&Path>) -> anyhow::Result<Resolved> {
    let bound = if data_dir.join("catalog.sqlite").exists() {
        Store::open(data_dir)?.bound_city()?
    } else {
        None
    };
    match (bound, given) {
        (Some((path, id)), Some(g)) if absolute(g) != path => {
            let now = CityId::of(g)?;
            anyhow::ensure!(
                now.fingerprint == id.fingerprint,
                "{}: this data directory holds the data of the city {id} (from {}); --city {} is another city, {now}. \
                 Leave --city out (the data directory remembers its city), or use another --data-dir for {}",
                data_dir.display(),
                path.display(),
                g.display(),
                now.name
            );
            Ok(Resolved {
                dir: g.to_path_buf(),
                id,
                unbound: false,
            })
        }
        // Bound, and given the same directory or none: its files must be as bound.
        (Some((path, id)), _) => {
            let now = CityId::of(&path).with_context(|| {
                format!(
                    "{}: the city this data directory is bound to ({id}) cannot be read at {} any more: pass --city DIR with the same files",
                    data_dir.display(),
                    path.display()
                )
            })?;
            anyhow::ensure!(
                now.fingerprint == id.fingerprint,
                "{}: the city files changed since {} was bound to them (then {id}, now {now}). If that is intended \
                 (new population figures, corrected boundaries), bind again with `kmapa init --city {} --data-dir {} --rebind`, \
                 then protect and publish",
                path.display(),
                data_dir.display(),
                path.display(),
                data_dir.display()
            );
            Ok(Resolved {
                dir: path,
                id,
                unbound: false,
            })
        }
        (None, Some(g)) => {
            // Binding accepts the city: its boundaries must be usable.
            let layer = kmapa_geo::districts::DistrictLayer::read(
                &g.join(kmapa_geo::city::DISTRICTS_FILE),
            )?;
            crate::cmd_validate::geometry(&layer, false)?;
            Ok(Resolved {
                dir: g.to_path_buf(),
                id: CityId::of(g)?,
                unbound: true,
            })
        }
        (None, None) => anyhow::bail!(
            "{}: this data directory is bound to no city yet: pass --city DIR (the directory with the city's \
             districts.geojson; the demo city is --city {DEMO_CITY}). It is remembered: later commands need no --city",
            data_dir.display()
        ),
    }
}

#[derive(Args)]
pub struct InitArgs {
    /// The city directory (districts.geojson, population.csv, addresses.csv,
    /// institutions.csv), e.g. data/wroclaw or one made with `kmapa gen-city`.
    #[arg(long)]
    pub city: PathBuf,
    /// Data directory to bind to it (made if absent).
    #[arg(long, default_value = "kmapa-data")]
    pub data_dir: PathBuf,
    /// Bind again to changed files of the city (new population figures, corrected
    /// boundaries); never to another city's.
    #[arg(long)]
    pub rebind: bool,
}

/// `kmapa init`: binds a data directory to a city.
pub fn run_init(a: &InitArgs) -> anyhow::Result<()> {
    let id = CityId::of(&a.city)?;
    crate::cmd_validate::geometry(
        &kmapa_geo::districts::DistrictLayer::read(&a.city.join(kmapa_geo::city::DISTRICTS_FILE))?,
        true,
    )?;
    let store = Store::open_for_writing(&a.data_dir)?;
    if let Some((path, bound)) = store.bound_city()? {
        if bound.fingerprint == id.fingerprint {
            println!("{}: already bound to this city, {id}", a.data_dir.display());
            return Ok(());
        }
        anyhow::ensure!(
            a.rebind && bound.name == id.name,
            "{}: bound to the city {bound} (from {}); {} is {id}. {}",
            a.data_dir.display(),
            path.display(),
            a.city.display(),
            if a.rebind {
                "--rebind takes changed files of the same city (same directory name), never another city's: use another --data-dir"
            } else {
                "Use another --data-dir for another city; for changed files of the same city, add --rebind"
            }
        );
    }
    store.bind_city(&absolute(&a.city), &id)?;
    println!(
        "{}: bound to the city in {}, {id}",
        a.data_dir.display(),
        a.city.display()
    );
    Ok(())
}

#[derive(Args)]
pub struct NewCityArgs {
    /// The municipality's district boundaries: GeoJSON or GeoPackage (a Shapefile
    /// converts with `ogr2ogr -f GPKG out.gpkg in.shp`), in EPSG:4326, 2180 (PUWG 1992)
    /// or 2176-2179 (PUWG 2000), reprojected to WGS84.
    #[arg(long)]
    pub boundaries: PathBuf,
    /// The GeoPackage table with the districts (when it has several).
    #[arg(long)]
    pub layer: Option<String>,
    /// The coordinate system when the file does not say it, e.g. EPSG:2180.
    #[arg(long)]
    pub crs: Option<String>,
    /// Column with each district's stable code.
    #[arg(long, default_value = "code")]
    pub code_column: String,
    /// Column with each district's name.
    #[arg(long, default_value = "name")]
    pub name_column: String,
    /// Column with the code of the coarser area each district belongs to (optional).
    #[arg(long)]
    pub parent_column: Option<String>,
    /// Column with the name of that coarser area (optional).
    #[arg(long)]
    pub parent_name_column: Option<String>,
    /// Population per district and year (CSV: `district_code` or `osiedle` (the
    /// district's name), `year`, `population`): the city's register or GUS figures.
    #[arg(long)]
    pub population: PathBuf,
    /// Where the boundaries come from, shown on the map.
    #[arg(long)]
    pub attribution: Option<String>,
    /// The city directory to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// `kmapa city new`: a city directory from the municipality's own files.
pub fn run_new(a: &NewCityArgs) -> anyhow::Result<()> {
    use kmapa_geo::import::{Crs, read_boundaries};
    let crs =
        match &a.crs {
            Some(name) => Some(Crs::parse(name).with_context(|| {
                format!("--crs {name}: kmapa reads EPSG:4326, 2180 and 2176-2179")
            })?),
            None => None,
        };
    let (features, crs) = read_boundaries(&a.boundaries, crs, a.layer.as_deref())?;
    let text = |f: &kmapa_geo::import::RawFeature, col: &str| -> Option<String> {
        match f.properties.get(col)? {
            serde_json::Value::String(s) => Some(s.trim().to_string()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
        .filter(|s| !s.is_empty())
    };
    let mut out = Vec::new();
    for (i, f) in features.iter().enumerate() {
        let missing = |col: &str| {
            anyhow::anyhow!(
                "{}, feature {i}: no value in column {col:?} (columns: {}); name the right one with --code-column / --name-column",
                a.boundaries.display(),
                f.properties.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        };
        let code = text(f, &a.code_column).ok_or_else(|| missing(&a.code_column))?;
        let name = text(f, &a.name_column).ok_or_else(|| missing(&a.name_column))?;
        let parent = a.parent_column.as_deref().and_then(|c| text(f, c));
        let parent_name = a.parent_name_column.as_deref().and_then(|c| text(f, c));
        let geometry = geojson::Geometry::new(geojson::GeometryValue::from(&f.geometry));
        out.push(serde_json::json!({
            "type": "Feature",
            "properties": {"code": code, "name": name, "parent": parent, "parent_name": parent_name},
            "geometry": geometry,
        }));
    }
    let attribution = a.attribution.clone().unwrap_or_else(|| {
        format!(
            "Granice: {}",
            a.boundaries
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        )
    });
    let fc = serde_json::json!({
        "type": "FeatureCollection", "name": "districts", "attribution": attribution, "features": out,
    });
    let geojson_text = fc.to_string();
    let districts_path = a.out.join(kmapa_geo::city::DISTRICTS_FILE);
    let layer =
        kmapa_geo::districts::DistrictLayer::parse(&districts_path, geojson_text.as_bytes())?;
    crate::cmd_validate::geometry(&layer, true)?;
    let code_of = layer
        .districts
        .iter()
        .map(|d| (d.name.clone(), d.code.clone()))
        .collect();
    let population = kmapa_synth::city::given_population(&a.population, &layer, &code_of)?;
    std::fs::create_dir_all(&a.out)?;
    kmapa_model::fsutil::write_atomically(&districts_path, |w| {
        std::io::Write::write_all(w, geojson_text.as_bytes())
    })?;
    let mut csv = String::from("district_code,year,population,synthetic\n");
    for ((code, year), n) in &population {
        csv.push_str(&format!("{code},{year},{n},false\n"));
    }
    kmapa_model::fsutil::write_atomically(&a.out.join(kmapa_geo::city::POPULATION_FILE), |w| {
        std::io::Write::write_all(w, csv.as_bytes())
    })?;
    println!(
        "{}: {} districts ({}), population for {} years; next: kmapa validate --city {}",
        a.out.display(),
        layer.districts.len(),
        match crs {
            Crs::Wgs84 => "WGS84".to_string(),
            Crs::Tm(code, ..) => format!("reprojected from EPSG:{code}"),
        },
        population
            .keys()
            .map(|(_, y)| y)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        a.out.display()
    );
    Ok(())
}

#[derive(Args)]
pub struct CityAddressesArgs {
    /// The gmina's address points from the national register (PRG), as GUGiK publishes
    /// them (GML: PRG_PunktAdresowy, positions in EPSG:2180).
    #[arg(long)]
    pub prg: PathBuf,
    /// The city directory: its districts decide which points are the city's;
    /// addresses.csv is written there.
    #[arg(long)]
    pub city: PathBuf,
}

/// `kmapa city addresses`: the city's address points from the PRG, with a report per
/// district, so that records giving an address geocode against real points.
pub fn run_addresses(a: &CityAddressesArgs) -> anyhow::Result<()> {
    let layer =
        kmapa_geo::districts::DistrictLayer::read(&a.city.join(kmapa_geo::city::DISTRICTS_FILE))?;
    let index = kmapa_geo::districts::DistrictIndex::new(&layer);
    let points = kmapa_geo::import::read_prg(&a.prg)?;
    let mut per_district = vec![0usize; layer.districts.len()];
    let mut outside = 0usize;
    let mut csv = String::from("street,house_number,postcode,lat,lon,synthetic\n");
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    for p in &points {
        let Some(d) = index.locate(p.lon, p.lat) else {
            outside += 1;
            continue;
        };
        per_district[d] += 1;
        // Without a street (in villages) the place's name stands for it, as on letters.
        let street = if p.street.is_empty() {
            &p.locality
        } else {
            &p.street
        };
        csv.push_str(&format!(
            "{},{},{},{:.7},{:.7},false\n",
            quote(street),
            quote(&p.house_number),
            quote(&p.postcode),
            p.lat,
            p.lon
        ));
    }
    let inside: usize = per_district.iter().sum();
    anyhow::ensure!(
        inside > 0,
        "{}: none of its {} address points lies in the districts of {}: is it this city's file?",
        a.prg.display(),
        points.len(),
        a.city.display()
    );
    kmapa_model::fsutil::write_atomically(&a.city.join(kmapa_geo::city::ADDRESSES_FILE), |w| {
        std::io::Write::write_all(w, csv.as_bytes())
    })?;
    println!(
        "{}: {inside} address points in the city ({outside} outside it left out), written to {}",
        a.prg.display(),
        a.city.join(kmapa_geo::city::ADDRESSES_FILE).display()
    );
    println!("address points per district:");
    for (d, n) in layer.districts.iter().zip(&per_district) {
        let flag = if *n == 0 {
            "  <- none: records giving an address here cannot be placed"
        } else {
            ""
        };
        println!("  {:<10} {:<30} {n:>7}{flag}", d.code, d.name);
    }
    Ok(())
}
