//! `kmapa export`: a snapshot as static files any web server can host without kmapa.
//!
//! Layout (paths relative to the bundle):
//! - `index.json`: the snapshot (number, date, policy, years), and every file below;
//! - `vocabulary.json`: categories with labels, hierarchy and years (as `/api/v1/vocabulary`);
//! - `districts.geojson`, `institutions.geojson`;
//! - `problems/<layer>/<category>/<year>.geojson` (everyone) and
//!   `problems/<layer>/<category>/<year>.<group>.geojson` (breakdown groups) and
//!   `problems/<layer>/<category>/<year>.households.geojson` (households), `<layer>`
//!   being `districts`, `parents`, `h3` (adaptive hexagons) or `h3-8`: the same features, byte for byte, as
//!   `/collections/problems-<layer>/items?category=…&year=…`.
//!
//! - `profiles/<district>.json`: as `/api/v1/districts/{code}/profile`;
//! - `needs/<category>/<year>.json`: as `/api/v1/needs?category=…&year=…`;
//! - `reports/<unit>/<year>.json` and `.xlsx`: as `/api/v1/reports/{unit}[.xlsx]?year=…`;
//! - `index.html` and `web/`: the web map, reading this bundle's files
//!   (`web/config.json` says `"mode": "static"`).
//!
//! The bundle is written under a hidden name and renamed into place.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use kmapa_protect::output::Counted;
use serde_json::json;

use crate::data::{Collection, Item, Kind, Served};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}: exists and is not empty: export into a new directory")]
    NotEmpty(String),
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

fn write(root: &Path, rel: &str, body: &[u8]) -> Result<(), ExportError> {
    let path = root.join(rel);
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).map_err(|e| ExportError::File {
            path: p.display().to_string(),
            message: e.to_string(),
        })?;
    }
    fs::write(&path, body).map_err(|e| ExportError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

fn collection_file(served: &Served, c: &Collection, items: &[&Item]) -> String {
    let mut body = String::from("{\"type\":\"FeatureCollection\",\"features\":[");
    for (n, i) in items.iter().enumerate() {
        if n > 0 {
            body.push(',');
        }
        body.push_str(&c.feature(i));
    }
    body.push_str("],");
    let tail = json!({
        "numberMatched": items.len(),
        "numberReturned": items.len(),
        "timeStamp": served.manifest.published_at,
        "snapshot": served.manifest.number,
        "policy_version": served.manifest.policy_version,
    })
    .to_string();
    body.push_str(&tail[1..]);
    body
}

/// Writes the bundle; returns the files written (relative paths).
pub fn export(served: &Served, out: &Path) -> Result<Vec<String>, ExportError> {
    if out.exists()
        && fs::read_dir(out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(ExportError::NotEmpty(out.display().to_string()));
    }
    let name = out
        .file_name()
        .map_or("export".into(), |n| n.to_string_lossy().into_owned());
    let partial = out.with_file_name(format!(".{name}.partial"));
    if partial.exists() {
        let _ = fs::remove_dir_all(&partial);
    }
    let mut files = Vec::new();
    let mut put = |rel: String, body: &[u8]| -> Result<(), ExportError> {
        write(&partial, &rel, body)?;
        files.push(rel);
        Ok(())
    };
    put(
        "vocabulary.json".into(),
        served.vocabulary.to_string().as_bytes(),
    )?;
    for c in &served.collections {
        match c.kind {
            Kind::Boundaries | Kind::Institutions => {
                let items: Vec<&Item> = c.items.iter().collect();
                put(
                    format!("{}.geojson", c.id),
                    collection_file(served, c, &items).as_bytes(),
                )?;
            }
            Kind::Problems(_) => {
                let mut groups: BTreeMap<(String, u16, String, Counted), Vec<&Item>> =
                    BTreeMap::new();
                for i in &c.items {
                    groups
                        .entry((
                            i.category.clone().unwrap_or_default(),
                            i.year.unwrap_or_default(),
                            i.group.clone().unwrap_or_default(),
                            i.counted,
                        ))
                        .or_default()
                        .push(i);
                }
                let layer = c.id.trim_start_matches("problems-");
                for ((category, year, group, counted), items) in groups {
                    let suffix = match (group.as_str(), counted) {
                        ("all", Counted::Persons) => String::new(),
                        (_, Counted::Households) => ".households".to_string(),
                        _ => format!(".{group}"),
                    };
                    put(
                        format!("problems/{layer}/{category}/{year}{suffix}.geojson"),
                        collection_file(served, c, &items).as_bytes(),
                    )?;
                }
            }
        }
    }
    // District profiles, as /api/v1/districts/{code}/profile answers them.
    for code in served.districts.keys() {
        let body = crate::convenience::profile_json(served, code).expect("a district");
        put(format!("profiles/{code}.json"), body.as_bytes())?;
    }
    // Needs against help, as /api/v1/needs answers them, for every measure published
    // on districts and every year.
    let mut measures: Vec<&str> = served
        .vocabulary
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["code"].as_str()).collect())
        .unwrap_or_default();
    measures.extend(["any_ops", "any_pup"]);
    for m in measures {
        for &y in &served.years {
            if let Some(body) = crate::needs::needs(served, m, y) {
                put(format!("needs/{m}/{y}.json"), body.to_string().as_bytes())?;
            }
        }
    }
    // Reports, as /api/v1/reports/{unit} and /api/v1/reports/{unit}.xlsx answer them.
    for unit in served.districts.keys().map(String::as_str).chain(["city"]) {
        for &y in &served.years {
            let r = crate::report::report(served, unit, y).expect("a district or the city");
            let json = serde_json::to_string(&r).expect("a report serialises");
            put(format!("reports/{unit}/{y}.json"), json.as_bytes())?;
            let xlsx = crate::report::xlsx(&r).map_err(|e| ExportError::File {
                path: format!("reports/{unit}/{y}.xlsx"),
                message: e.to_string(),
            })?;
            put(format!("reports/{unit}/{y}.xlsx"), &xlsx)?;
        }
    }
    // The web map: the same files as the live server's, reading this bundle's files.
    for (name, body) in crate::webmap::files() {
        let rel = if name == "index.html" {
            name.to_string()
        } else {
            format!("web/{name}")
        };
        put(rel, body.as_bytes())?;
    }
    put(
        "web/config.json".into(),
        crate::webmap::config("static", None).as_bytes(),
    )?;
    let m = &served.manifest;
    let index = json!({
        "snapshot": m.number, "published_at": m.published_at, "policy_version": m.policy_version,
        "k": m.k, "width": m.width, "years": m.years, "synthetic": m.synthetic,
        "layers": served.problem_layers(),
        "hexagon_measures": served.hexagon_measures(),
        "bbox": served.collection("districts").map(|c| c.bbox),
        "city": m.city, "attribution": served.attribution,
        "example_district": served.example_district,
        "files": files,
    });
    write(&partial, "index.json", index.to_string().as_bytes())?;
    files.push("index.json".into());
    fs::rename(&partial, out).map_err(|e| ExportError::File {
        path: out.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(files)
}
