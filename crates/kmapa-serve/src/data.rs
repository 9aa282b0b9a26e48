//! The served data, built once from a snapshot: collections of features with their
//! geometry and properties serialised in advance, and what the filters look at.
//! Nothing here is computed from records: every number comes from the snapshot's
//! protected tier, with its status.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;
use std::path::Path;

/// Features per page of a collection: the default and the most a client may ask for.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 10_000;

use geo::{BoundingRect, MultiPolygon};
use h3o::CellIndex;
use kmapa_geo::City;
use kmapa_model::Vocabulary;
use kmapa_protect::PublicStatus;
use kmapa_protect::output::{Counted, LayerKind, PublishedCell, layer_name};
use serde_json::{Value, json};

use crate::snapshot::{Snapshot, SnapshotError, VOCABULARY};

/// One feature: what filters look at, and its JSON in parts.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub bbox: [f64; 4],
    pub unit: Option<String>,
    pub category: Option<String>,
    pub year: Option<u16>,
    pub group: Option<String>,
    /// Problem layers: persons or households.
    pub counted: Counted,
    pub kind: Option<String>,
    pub sector: Option<String>,
    pub serves: Vec<String>,
    /// Index into [`Collection::geometries`].
    pub geometry: usize,
    /// The properties object, serialised.
    pub properties: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Boundaries,
    Problems(LayerKind),
    Institutions,
}

#[derive(Debug, Clone)]
pub struct Collection {
    pub id: String,
    pub title: String,
    pub description: String,
    pub kind: Kind,
    pub bbox: [f64; 4],
    /// Geometries serialised once, shared by the features of one unit.
    pub geometries: Vec<String>,
    pub items: Vec<Item>,
    /// Query parameters this collection filters by (beyond limit, offset, bbox, f).
    pub filters: &'static [&'static str],
    /// Per filter, every value it can take here (filled by [`Collection::index_values`]):
    /// anything else is refused with the list, not answered with nothing.
    pub values: BTreeMap<&'static str, std::collections::BTreeSet<String>>,
    /// The most features one page gives (filled by [`Collection::index_values`]): as
    /// many as keep a page near [`PAGE_BYTES`], at least 100, at most the API's 10,000.
    pub max_page: usize,
}

/// About how large one page of features may get.
pub const PAGE_BYTES: usize = 4 << 20;

impl Collection {
    /// Fills [`Collection::values`] from the items.
    pub fn index_values(&mut self) {
        let mut values: BTreeMap<&'static str, std::collections::BTreeSet<String>> =
            BTreeMap::new();
        for &f in self.filters {
            let set = values.entry(f).or_default();
            for i in &self.items {
                match (f, self.kind) {
                    ("unit" | "district", _) => set.extend(i.unit.clone()),
                    ("year", _) => set.extend(i.year.map(|y| y.to_string())),
                    ("category", Kind::Institutions) => set.extend(i.serves.iter().cloned()),
                    ("category", _) => set.extend(i.category.clone()),
                    ("type", _) => set.extend(i.kind.clone()),
                    ("counted", Kind::Problems(_)) => {
                        set.insert(i.counted.code().to_string());
                    }
                    ("sector", _) => set.extend(i.sector.clone()),
                    ("sex" | "age", _) => set.extend(
                        i.group
                            .as_deref()
                            .and_then(|g| g.strip_prefix(f)?.strip_prefix('='))
                            .map(str::to_string),
                    ),
                    _ => {}
                }
            }
        }
        self.values = values;
        let bytes: usize = self
            .items
            .iter()
            .map(|i| i.properties.len() + self.geometries[i.geometry].len() + 64)
            .sum();
        let average = bytes / self.items.len().max(1);
        self.max_page = (PAGE_BYTES / average.max(1)).clamp(100, MAX_LIMIT);
    }

    /// The feature's GeoJSON text.
    pub fn feature(&self, item: &Item) -> String {
        let mut s = String::with_capacity(item.properties.len() + 64);
        s.push_str("{\"type\":\"Feature\",\"id\":");
        s.push_str(&serde_json::to_string(&item.id).expect("a string"));
        s.push_str(",\"geometry\":");
        s.push_str(&self.geometries[item.geometry]);
        s.push_str(",\"properties\":");
        s.push_str(&item.properties);
        s.push('}');
        s
    }
}

/// Everything the server answers from.
pub struct Served {
    pub manifest: crate::snapshot::Manifest,
    pub collections: Vec<Collection>,
    pub vocabulary: Value,
    /// Per district code: name, parent, population by year.
    pub districts: BTreeMap<String, Value>,
    /// (layer, unit, measure, group, year) → cell, of persons.
    pub cells: HashMap<(LayerKind, String, String, String, u16), PublishedCell>,
    /// The same, of households (for the measures the policy publishes them for).
    pub household_cells: HashMap<(LayerKind, String, String, String, u16), PublishedCell>,
    pub institutions: Vec<kmapa_model::institutions::Institution>,
    pub years: Vec<u16>,
    /// GeoJSON geometry of districts, parents and the city, by unit.
    pub geometry: HashMap<(LayerKind, String), String>,
    /// Attribution the district boundaries' file carries (the map shows it).
    pub attribution: Option<String>,
    /// A district's name to show as an example (the most populous in the latest year).
    pub example_district: Option<String>,
    /// Per district code, the point distances to help are measured from (lon, lat):
    /// the population-weighted centre where the city gives a population grid with
    /// residents in the district, else a point inside it (`geo`'s interior point).
    pub centres: BTreeMap<String, [f64; 2]>,
    /// The districts whose centre is population-weighted.
    pub weighted_centres: BTreeSet<String>,
}

const PROBLEM_FILTERS: &[&str] = &[
    "category", "year", "unit", "district", "sex", "age", "counted",
];

/// Plain-language status, Polish and English: the same words for every hidden cell,
/// whatever hid it (docs/privacy.md).
pub fn status_text(status: PublicStatus) -> (&'static str, &'static str) {
    match status {
        PublicStatus::Hidden => (
            "ukryte dla ochrony prywatności",
            "hidden to protect privacy",
        ),
        PublicStatus::Empty => ("nikt", "nobody"),
        PublicStatus::Perturbed => (
            "wartość lekko zaburzona dla ochrony prywatności",
            "value slightly perturbed to protect privacy",
        ),
        PublicStatus::Safe => ("", ""),
    }
}

fn ring(points: impl Iterator<Item = (f64, f64)>, out: &mut String) {
    out.push('[');
    for (i, (x, y)) in points.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "[{x:.6},{y:.6}]");
    }
    out.push(']');
}

fn multipolygon_json(mp: &MultiPolygon<f64>) -> String {
    let mut s = String::from("{\"type\":\"MultiPolygon\",\"coordinates\":[");
    for (i, p) in mp.0.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push('[');
        ring(p.exterior().points().map(|c| (c.x(), c.y())), &mut s);
        for r in p.interiors() {
            s.push(',');
            ring(r.points().map(|c| (c.x(), c.y())), &mut s);
        }
        s.push(']');
    }
    s.push_str("]}");
    s
}

fn bbox_of(mp: &MultiPolygon<f64>) -> [f64; 4] {
    mp.bounding_rect()
        .map_or([0.0; 4], |r| [r.min().x, r.min().y, r.max().x, r.max().y])
}

fn union_bbox(a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
    [
        a[0].min(b[0]),
        a[1].min(b[1]),
        a[2].max(b[2]),
        a[3].max(b[3]),
    ]
}

fn hexagon(h: &str) -> Option<(String, [f64; 4])> {
    let cell = CellIndex::try_from(u64::from_str_radix(h, 16).ok()?).ok()?;
    let boundary = cell.boundary();
    let pts: Vec<(f64, f64)> = boundary.iter().map(|ll| (ll.lng(), ll.lat())).collect();
    let mut s = String::from("{\"type\":\"Polygon\",\"coordinates\":[");
    ring(pts.iter().copied().chain(pts.first().copied()), &mut s);
    s.push_str("]}");
    let bbox = pts
        .iter()
        .fold([f64::MAX, f64::MAX, f64::MIN, f64::MIN], |b, &(x, y)| {
            [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)]
        });
    Some((s, bbox))
}

impl Served {
    pub fn from_snapshot(snapshot: &Snapshot) -> Result<Self, SnapshotError> {
        let err = |p: &Path, e: &dyn std::fmt::Display| SnapshotError::File {
            path: p.display().to_string(),
            message: e.to_string(),
        };
        let vocab_path = snapshot.file(VOCABULARY);
        let vocabulary = Vocabulary::read(&vocab_path).map_err(|e| err(&vocab_path, &e))?;
        let city = City::load(&snapshot.dir, &vocabulary).map_err(|e| err(&snapshot.dir, &e))?;
        let meta = json!({
            "snapshot": snapshot.manifest.number,
            "policy_version": snapshot.manifest.policy_version,
        });
        let years = snapshot.manifest.years.clone();

        // Districts and parents: geometry, names, population.
        let mut districts = BTreeMap::new();
        let mut unit_geometry: HashMap<(LayerKind, String), (String, [f64; 4])> = HashMap::new();
        let mut parent_polys: BTreeMap<String, (String, Vec<geo::Polygon<f64>>)> = BTreeMap::new();
        let population = |code: &str, year: u16| {
            city.population
                .as_ref()
                .and_then(|p| p.get(code, i32::from(year)))
        };
        let mut boundaries = Collection {
            id: "districts".into(),
            title: "Osiedla / Districts".into(),
            description:
                "Granice osiedli z liczbą mieszkańców / District boundaries with population".into(),
            kind: Kind::Boundaries,
            bbox: [f64::MAX, f64::MAX, f64::MIN, f64::MIN],
            geometries: Vec::new(),
            items: Vec::new(),
            filters: &["district"],
            max_page: MAX_LIMIT,
            values: BTreeMap::new(),
        };
        // Each district's centre: weighted by where its residents live where the city
        // gives a population grid, else a point inside it.
        let mut weighted = vec![(0.0f64, 0.0f64, 0u64); city.layer.districts.len()];
        if let Some(g) = &city.population_grid {
            for (c, d) in g.cells.iter().zip(&city.grid_districts) {
                if let Some(d) = *d {
                    let w = &mut weighted[d];
                    w.0 += c.lon * c.population as f64;
                    w.1 += c.lat * c.population as f64;
                    w.2 += c.population;
                }
            }
        }
        let mut centres = BTreeMap::new();
        let mut weighted_centres = BTreeSet::new();
        for (i, d) in city.layer.districts.iter().enumerate() {
            let (x, y, n) = weighted[i];
            if n > 0 {
                centres.insert(d.code.clone(), [x / n as f64, y / n as f64]);
                weighted_centres.insert(d.code.clone());
            } else if let Some(p) = geo::InteriorPoint::interior_point(&d.geometry) {
                centres.insert(d.code.clone(), [p.x(), p.y()]);
            }
            let g = multipolygon_json(&d.geometry);
            let bbox = bbox_of(&d.geometry);
            let pop: BTreeMap<String, u64> = years
                .iter()
                .filter_map(|&y| population(&d.code, y).map(|p| (y.to_string(), p)))
                .collect();
            // Geodesic area on the WGS84 ellipsoid (Karney's algorithm, geographiclib),
            // of the rings oriented as it expects (a clockwise exterior ring would
            // measure the rest of the Earth).
            let oriented =
                geo::orient::Orient::orient(&d.geometry, geo::orient::Direction::Default);
            let area_km2 =
                (geo::GeodesicArea::geodesic_area_unsigned(&oriented) / 1e3).round() / 1e3;
            let props = json!({
                "code": d.code, "name": d.name, "parent": d.parent, "parent_name": d.parent_name,
                "population": pop, "area_km2": area_km2,
            });
            districts.insert(d.code.clone(), props.clone());
            boundaries.bbox = union_bbox(boundaries.bbox, bbox);
            boundaries.geometries.push(g.clone());
            boundaries.items.push(Item {
                counted: Counted::Persons,
                id: d.code.clone(),
                bbox,
                unit: Some(d.code.clone()),
                category: None,
                year: None,
                group: None,
                kind: None,
                sector: None,
                serves: Vec::new(),
                geometry: boundaries.geometries.len() - 1,
                properties: props.to_string(),
            });
            unit_geometry.insert((LayerKind::Districts, d.code.clone()), (g, bbox));
            if let Some(p) = &d.parent {
                let e = parent_polys
                    .entry(p.clone())
                    .or_insert_with(|| (d.parent_name.clone().unwrap_or_default(), Vec::new()));
                e.1.extend(d.geometry.0.iter().cloned());
            }
        }
        let mut parent_names = BTreeMap::new();
        for (code, (name, polys)) in parent_polys {
            let mp = MultiPolygon(polys);
            unit_geometry.insert(
                (LayerKind::Parents, code.clone()),
                (multipolygon_json(&mp), bbox_of(&mp)),
            );
            parent_names.insert(code, name);
        }
        let city_bbox = boundaries.bbox;

        // Problem layers: one collection per layer, one feature per published cell.
        let mut by_layer: BTreeMap<LayerKind, Vec<&PublishedCell>> = BTreeMap::new();
        let mut cells = HashMap::new();
        let mut household_cells = HashMap::new();
        for c in &snapshot.tier.cells {
            by_layer.entry(c.layer).or_default().push(c);
            // Series, profiles, reports and needs read persons.
            let cells = match c.counted {
                Counted::Persons => &mut cells,
                Counted::Households => &mut household_cells,
            };
            cells.insert(
                (
                    c.layer,
                    c.unit.clone(),
                    c.measure.clone(),
                    c.group.clone(),
                    c.year,
                ),
                c.clone(),
            );
        }
        let labels: HashMap<&str, (&str, &str)> = vocabulary
            .categories()
            .iter()
            .map(|c| (c.code.as_str(), (c.label_pl.as_str(), c.label_en.as_str())))
            .collect();
        let mut collections = vec![boundaries];
        for (layer, layer_cells) in by_layer {
            if layer == LayerKind::City {
                continue;
            }
            let (title, description) = match layer {
                LayerKind::Districts => (
                    "Problemy według osiedli / Problems by district",
                    "Liczba osób według kategorii, roku i osiedla, po ochronie / Persons by category, year and district, protected",
                ),
                LayerKind::Parents => (
                    "Problemy według obszarów / Problems by area",
                    "Liczba osób według kategorii, roku i obszaru, po ochronie / Persons by category, year and parent area, protected",
                ),
                _ => (
                    "Problemy w heksagonach H3 / Problems by H3 hexagon",
                    "Liczba osób według kategorii, roku i heksagonu H3, po ochronie / Persons by category, year and H3 hexagon, protected",
                ),
            };
            let mut col = Collection {
                id: format!("problems-{}", layer_name(layer).replace('_', "-")),
                title: title.into(),
                description: description.into(),
                kind: Kind::Problems(layer),
                bbox: city_bbox,
                geometries: Vec::new(),
                items: Vec::with_capacity(layer_cells.len()),
                filters: PROBLEM_FILTERS,
                max_page: MAX_LIMIT,
                values: BTreeMap::new(),
            };
            let mut geometry_of: HashMap<String, (usize, [f64; 4])> = HashMap::new();
            for c in layer_cells {
                let (gi, bbox) = match geometry_of.get(&c.unit) {
                    Some(&x) => x,
                    None => {
                        let (g, bbox) = match layer {
                            LayerKind::H3(_) | LayerKind::H3Adaptive => {
                                hexagon(&c.unit).unwrap_or_else(|| ("null".into(), city_bbox))
                            }
                            _ => unit_geometry
                                .get(&(layer, c.unit.clone()))
                                .cloned()
                                .unwrap_or_else(|| ("null".into(), city_bbox)),
                        };
                        col.geometries.push(g);
                        let x = (col.geometries.len() - 1, bbox);
                        geometry_of.insert(c.unit.clone(), x);
                        x
                    }
                };
                let (label_pl, label_en) =
                    labels
                        .get(c.measure.as_str())
                        .copied()
                        .unwrap_or(match c.measure.as_str() {
                            "any_ops" => ("Klienci OPS ogółem", "All social assistance clients"),
                            "any_pup" => (
                                "Zarejestrowani w PUP ogółem",
                                "All labour office registrants",
                            ),
                            _ => ("", ""),
                        });
                let status = c.status.public();
                let (why_pl, why_en) = status_text(status);
                let name = match layer {
                    LayerKind::Districts => districts
                        .get(&c.unit)
                        .and_then(|d| d["name"].as_str())
                        .map(str::to_string),
                    LayerKind::Parents => parent_names.get(&c.unit).cloned(),
                    _ => None,
                };
                let resolution = layer
                    .is_hexagons()
                    .then(|| u64::from_str_radix(&c.unit, 16).ok())
                    .flatten()
                    .and_then(|h| CellIndex::try_from(h).ok())
                    .map(|h| u8::from(h.resolution()));
                let mut props = json!({
                    "unit": c.unit, "name": name, "layer": layer_name(layer),
                    "category": c.measure, "category_pl": label_pl, "category_en": label_en,
                    "group": c.group, "counted": c.counted.code(), "year": c.year,
                    "value": c.value, "rate_per_1000": c.rate_per_1000.map(|r| (r * 100.0).round() / 100.0),
                    "status": status, "status_pl": why_pl, "status_en": why_en,
                    "snapshot": meta["snapshot"], "policy_version": meta["policy_version"],
                });
                if let Some(r) = resolution {
                    // Hexagons say their H3 resolution (the adaptive layer mixes them).
                    props["resolution"] = r.into();
                }
                col.items.push(Item {
                    id: match c.counted {
                        Counted::Persons => {
                            format!("{}:{}:{}:{}", c.unit, c.measure, c.group, c.year)
                        }
                        Counted::Households => {
                            format!("{}:{}:{}:{}:households", c.unit, c.measure, c.group, c.year)
                        }
                    },
                    counted: c.counted,
                    bbox,
                    unit: Some(c.unit.clone()),
                    category: Some(c.measure.clone()),
                    year: Some(c.year),
                    group: Some(c.group.clone()),
                    kind: None,
                    sector: None,
                    serves: Vec::new(),
                    geometry: gi,
                    properties: props.to_string(),
                });
            }
            collections.push(col);
        }

        // Institutions.
        let mut inst = Collection {
            id: "institutions".into(),
            title: "Instytucje pomocowe / Support institutions".into(),
            description: "Kto pomaga w czym i gdzie / Who helps with what, where".into(),
            kind: Kind::Institutions,
            bbox: city_bbox,
            geometries: Vec::new(),
            items: Vec::new(),
            filters: &["type", "sector", "category"],
            max_page: MAX_LIMIT,
            values: BTreeMap::new(),
        };
        let mut institutions = Vec::new();
        for i in city.institutions.iter().flatten() {
            let props = serde_json::to_value(i).unwrap_or(Value::Null);
            inst.geometries.push(format!(
                "{{\"type\":\"Point\",\"coordinates\":[{:.6},{:.6}]}}",
                i.lon, i.lat
            ));
            let sector = serde_json::to_value(i.sector)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string));
            inst.items.push(Item {
                counted: Counted::Persons,
                id: i.id.clone(),
                bbox: [i.lon, i.lat, i.lon, i.lat],
                unit: None,
                category: None,
                year: None,
                group: None,
                kind: Some(i.kind.clone()),
                sector,
                serves: i.categories.clone(),
                geometry: inst.geometries.len() - 1,
                properties: props.to_string(),
            });
            institutions.push(i.clone());
        }
        collections.push(inst);

        // What each measure is published as: persons, and households where the
        // policy publishes them.
        let with_households: BTreeSet<&str> = snapshot
            .tier
            .cells
            .iter()
            .filter(|c| c.counted == Counted::Households)
            .map(|c| c.measure.as_str())
            .collect();
        let counted = |code: &str| {
            let mut v = vec![Counted::Persons.code()];
            if with_households.contains(code) {
                v.push(Counted::Households.code());
            }
            v
        };
        let vocabulary_json = json!(
            vocabulary
                .categories()
                .iter()
                .map(|c| json!({
                    "code": c.code, "source": c.source, "parent": c.parent,
                    "label_pl": c.label_pl, "label_en": c.label_en,
                    "valid_from": c.valid_from.to_string(),
                    "valid_to": c.valid_to.map(|d| d.to_string()),
                    "years": years.iter().filter(|&&y| c.valid_in_year(i32::from(y))).collect::<Vec<_>>(),
                    "counted": counted(&c.code),
                }))
                .chain(["OPS", "PUP"].iter().map(|s| {
                    let code = format!("any_{}", s.to_lowercase());
                    json!({
                        "code": code, "source": s, "parent": null,
                        "label_pl": if *s == "OPS" { "Klienci OPS ogółem" } else { "Zarejestrowani w PUP ogółem" },
                        "label_en": if *s == "OPS" { "All social assistance clients" } else { "All labour office registrants" },
                        "total": true, "years": years, "counted": counted(&code),
                    })
                }))
                .collect::<Vec<_>>()
        );
        let mut geometry: HashMap<(LayerKind, String), String> = unit_geometry
            .into_iter()
            .map(|(k, (g, _))| (k, g))
            .collect();
        let all = MultiPolygon(
            city.layer
                .districts
                .iter()
                .flat_map(|d| d.geometry.0.iter().cloned())
                .collect(),
        );
        geometry.insert((LayerKind::City, "city".into()), multipolygon_json(&all));
        for c in &mut collections {
            c.index_values();
            // Any category of the vocabulary and any year of the snapshot is a valid
            // question for a problem layer, even where nothing is published for it (the
            // answer is then empty); only unknown codes are refused.
            if let Kind::Problems(_) = c.kind {
                let categories = c.values.entry("category").or_default();
                categories.extend(vocabulary.categories().iter().map(|x| x.code.clone()));
                categories.extend(["any_ops".to_string(), "any_pup".to_string()]);
                c.values
                    .entry("year")
                    .or_default()
                    .extend(years.iter().map(|y| y.to_string()));
            }
        }
        let latest = years.last().copied();
        let example_district = city
            .layer
            .districts
            .iter()
            .max_by_key(|d| latest.and_then(|y| population(&d.code, y)).unwrap_or(0))
            .map(|d| d.name.clone());
        Ok(Served {
            geometry,
            attribution: city.layer.attribution.clone(),
            example_district,
            centres,
            weighted_centres,
            manifest: snapshot.manifest.clone(),
            collections,
            vocabulary: vocabulary_json,
            districts,
            cells,
            household_cells,
            institutions,
            years,
        })
    }

    /// The GeoJSON geometry of a unit of any layer.
    pub fn geometry_of(&self, layer: LayerKind, unit: &str) -> Option<String> {
        match layer {
            LayerKind::H3(_) | LayerKind::H3Adaptive => hexagon(unit).map(|(g, _)| g),
            _ => self.geometry.get(&(layer, unit.to_string())).cloned(),
        }
    }

    /// The problem layers published, as the web map and the export name them:
    /// `districts`, `parents`, `h3-<resolution>`, `h3` (the adaptive hexagon layer).
    pub fn problem_layers(&self) -> Vec<String> {
        self.collections
            .iter()
            .filter(|c| matches!(c.kind, Kind::Problems(_)))
            .map(|c| c.id.trim_start_matches("problems-").to_string())
            .collect()
    }

    /// The measures published on hexagons (the policy may keep rare ones off them).
    pub fn hexagon_measures(&self) -> Vec<String> {
        let mut m: Vec<String> = self
            .cells
            .values()
            .filter(|c| c.layer.is_hexagons())
            .map(|c| c.measure.clone())
            .collect();
        m.sort();
        m.dedup();
        m
    }

    pub fn collection(&self, id: &str) -> Option<&Collection> {
        self.collections.iter().find(|c| c.id == id)
    }
}
