//! Needs against help, for diagnosis teams: per district, one problem's protected rate
//! per 1,000 residents next to the help that serves it (institutions serving the
//! district for that problem, by type, with their places and staff where the
//! institutions file gives them, and the distance from the district's centre to the
//! nearest of them), classed by both into a 3 × 3 bivariate map.
//!
//! Computed only from published cells and the institutions file: a hidden value makes
//! a district "not enough data", never an estimate (docs/diagnosis.md).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kmapa_model::institutions::{Area, Institution};
use kmapa_protect::output::LayerKind;
use serde::Serialize;
use serde_json::{Value, json};

use crate::data::{Served, status_text};

/// Mean Earth radius (km), as in the haversine formula.
const EARTH_KM: f64 = 6371.0088;

/// Great-circle distance in km between two (lon, lat) points in degrees.
pub fn haversine_km(a: [f64; 2], b: [f64; 2]) -> f64 {
    let (la1, la2) = (a[1].to_radians(), b[1].to_radians());
    let dla = la2 - la1;
    let dlo = (b[0] - a[0]).to_radians();
    let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
    2.0 * EARTH_KM * h.sqrt().min(1.0).asin()
}

/// The two breaks that split `values` into thirds (linear interpolation between
/// order statistics, as R's default `quantile`); `None` with fewer than three values.
pub fn tercile_breaks(values: &[f64]) -> Option<[f64; 2]> {
    if values.len() < 3 {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let h = (v.len() - 1) as f64 * p;
        let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
        v[lo] + (h - lo as f64) * (v[hi] - v[lo])
    };
    Some([q(1.0 / 3.0), q(2.0 / 3.0)])
}

/// Class 1 (lowest third) to 3 (highest) of `x` under `breaks`.
pub fn class_of(x: f64, breaks: [f64; 2]) -> u8 {
    if x <= breaks[0] {
        1
    } else if x <= breaks[1] {
        2
    } else {
        3
    }
}

/// Category codes an institution must list to help with `measure`: the category, its
/// ancestors (help with a problem covers its sub-rows) and its descendants (help with
/// part of it); for a source's unit total (`any_ops`, `any_pup`), every category of
/// that source.
fn helping_codes(vocabulary: &Value, measure: &str) -> BTreeSet<String> {
    let cats: Vec<(&str, Option<&str>, &str)> = vocabulary
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| {
                    Some((
                        c["code"].as_str()?,
                        c["parent"].as_str(),
                        c["source"].as_str().unwrap_or(""),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(source) = measure.strip_prefix("any_") {
        return cats
            .iter()
            .filter(|c| c.2.eq_ignore_ascii_case(source))
            .map(|c| c.0.to_string())
            .collect();
    }
    let parent: HashMap<&str, &str> = cats.iter().filter_map(|c| c.1.map(|p| (c.0, p))).collect();
    let is_under = |code: &str, root: &str| {
        let mut code = code.to_string();
        loop {
            if code == root {
                return true;
            }
            match parent.get(code.as_str()) {
                Some(p) => code = p.to_string(),
                None => return false,
            }
        }
    };
    cats.iter()
        .filter(|c| is_under(c.0, measure) || is_under(measure, c.0))
        .map(|c| c.0.to_string())
        .collect()
}

/// One district's row of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct DistrictNeed {
    pub code: String,
    pub name: String,
    pub parent: Option<String>,
    pub population: Option<u64>,
    /// The point distances are measured from (lon, lat).
    pub centre: Option<[f64; 2]>,
    /// `population_weighted` (from the city's population grid) or `interior_point`.
    pub centre_kind: &'static str,
    /// The published count; `None` when hidden.
    pub value: Option<u32>,
    pub status: kmapa_protect::PublicStatus,
    pub status_pl: &'static str,
    pub status_en: &'static str,
    /// Persons per 1,000 residents, from the published count (two decimals).
    pub rate_per_1000: Option<f64>,
    /// 1–3, thirds of the rate among districts with data; `None`: not enough data.
    pub need_class: Option<u8>,
    /// Institutions serving the district and helping with the problem.
    pub institutions: usize,
    /// Of them, those whose area of operation is this district or a few (not the
    /// whole city).
    pub local_institutions: usize,
    /// Per institution type, how many.
    pub by_type: BTreeMap<String, usize>,
    /// Sum of places of those that give them (`None`: none does).
    pub places: Option<u64>,
    /// Sum of staff of those that give them (`None`: none does).
    pub staff: Option<u64>,
    /// The nearest of them to the district's centre.
    pub nearest: Option<Nearest>,
    /// 1 (near help) to 3 (far or none): thirds of the distance; no institution: 3.
    pub help_class: u8,
    /// `need-help`, e.g. `3-3` (high need, thin help); `None` without a need class.
    pub class: Option<String>,
    pub high_need_thin_help: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Nearest {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Great-circle distance from the district's centre, km (two decimals).
    pub km: f64,
}

/// The comparison for one problem and year; `None` if nothing of it is published for
/// districts that year.
pub fn needs(s: &Served, measure: &str, year: u16) -> Option<Value> {
    let codes = helping_codes(&s.vocabulary, measure);
    let helps = |i: &Institution| i.categories.iter().any(|c| codes.contains(c));
    let mut rows = Vec::new();
    let mut any_cell = false;
    for (code, d) in &s.districts {
        let cell = s.cells.get(&(
            LayerKind::Districts,
            code.clone(),
            measure.to_string(),
            "all".to_string(),
            year,
        ));
        any_cell |= cell.is_some();
        let population = d["population"][year.to_string()].as_u64();
        let (value, status) = match cell {
            Some(c) => (c.value, c.status.public()),
            None => (None, kmapa_protect::PublicStatus::Hidden),
        };
        let (status_pl, status_en) = status_text(status);
        let rate_per_1000 = match (value, population) {
            (Some(v), Some(p)) if p > 0 => {
                Some((f64::from(v) * 1000.0 / p as f64 * 100.0).round() / 100.0)
            }
            _ => None,
        };
        let serving: Vec<&Institution> = s
            .institutions
            .iter()
            .filter(|i| i.area.covers(code) && helps(i))
            .collect();
        let mut by_type = BTreeMap::new();
        for i in &serving {
            *by_type.entry(i.kind.clone()).or_insert(0) += 1;
        }
        let sum = |f: fn(&Institution) -> Option<u32>| {
            let given: Vec<u64> = serving.iter().filter_map(|i| f(i)).map(u64::from).collect();
            (!given.is_empty()).then(|| given.iter().sum())
        };
        let nearest = s.centres.get(code).and_then(|&c| {
            serving
                .iter()
                .map(|i| (haversine_km(c, [i.lon, i.lat]), i))
                .min_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)))
                .map(|(km, i)| Nearest {
                    id: i.id.clone(),
                    name: i.name.clone(),
                    kind: i.kind.clone(),
                    km: (km * 100.0).round() / 100.0,
                })
        });
        rows.push(DistrictNeed {
            code: code.clone(),
            name: d["name"].as_str().unwrap_or(code).to_string(),
            parent: d["parent"].as_str().map(str::to_string),
            population,
            centre: s.centres.get(code).copied(),
            centre_kind: if s.weighted_centres.contains(code) {
                "population_weighted"
            } else {
                "interior_point"
            },
            value,
            status,
            status_pl,
            status_en,
            rate_per_1000,
            need_class: None,
            institutions: serving.len(),
            local_institutions: serving
                .iter()
                .filter(|i| matches!(i.area, Area::Districts(_)))
                .count(),
            by_type,
            places: sum(|i| i.places),
            staff: sum(|i| i.staff),
            nearest,
            help_class: 3,
            class: None,
            high_need_thin_help: false,
        });
    }
    if !any_cell {
        return None;
    }
    let rates: Vec<f64> = rows.iter().filter_map(|r| r.rate_per_1000).collect();
    let distances: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.nearest.as_ref().map(|n| n.km))
        .collect();
    // Breaks as the document states them (two decimals, like the values), and classes
    // by exactly those.
    let round = |b: [f64; 2]| b.map(|x| (x * 100.0).round() / 100.0);
    let need_breaks = tercile_breaks(&rates).map(round);
    let help_breaks = tercile_breaks(&distances).map(round);
    for r in &mut rows {
        r.need_class = match (r.rate_per_1000, need_breaks) {
            (Some(x), Some(b)) => Some(class_of(x, b)),
            _ => None,
        };
        r.help_class = match (&r.nearest, help_breaks) {
            (Some(n), Some(b)) => class_of(n.km, b),
            (Some(_), None) => 1,
            (None, _) => 3,
        };
        r.class = r.need_class.map(|n| format!("{n}-{}", r.help_class));
        r.high_need_thin_help = r.need_class == Some(3) && r.help_class == 3;
    }
    let mut flagged: Vec<&DistrictNeed> = rows.iter().filter(|r| r.high_need_thin_help).collect();
    flagged.sort_by(|a, b| {
        b.rate_per_1000
            .unwrap_or(0.0)
            .total_cmp(&a.rate_per_1000.unwrap_or(0.0))
            .then_with(|| a.code.cmp(&b.code))
    });
    let label = s
        .vocabulary
        .as_array()
        .and_then(|a| a.iter().find(|c| c["code"] == measure))
        .cloned()
        .unwrap_or(Value::Null);
    Some(json!({
        "category": measure,
        "label_pl": label["label_pl"], "label_en": label["label_en"],
        "year": year,
        "need_breaks": need_breaks,
        "help_breaks_km": help_breaks,
        "districts": rows,
        "high_need_thin_help": flagged.iter().map(|r| &r.code).collect::<Vec<_>>(),
        "not_enough_data": rows.iter().filter(|r| r.need_class.is_none()).map(|r| &r.code).collect::<Vec<_>>(),
        "centre": match s.weighted_centres.len() {
            0 => "interior_point",
            n if n == s.districts.len() => "population_weighted",
            _ => "mixed",
        },
        "method_pl": "Potrzeba: liczba osób na 1000 mieszkańców z opublikowanej (chronionej) wartości dla osiedla, podzielona na tercyle wśród osiedli z danymi; wartość ukryta dla ochrony prywatności oznacza „za mało danych”, nigdy szacunek. Pomoc: instytucje, które według pliku instytucji działają na osiedlu i pomagają w tym problemie (także w jego podkategoriach lub w problemie nadrzędnym), oraz odległość w linii prostej od środka osiedla ważonego liczbą mieszkańców (z siatki ludności miasta; bez niej: punkt wewnątrz osiedla) do najbliższej z nich, podzielona na tercyle (3 = najdalej; brak takiej instytucji = 3). Miejsca i etaty sumowane tam, gdzie plik je podaje; instytucje ogólnomiejskie liczą się dla każdego osiedla.",
        "method_en": "Need: persons per 1,000 residents from the district's published (protected) value, in thirds among districts with data; a value hidden to protect privacy makes the district \"not enough data\", never an estimate. Help: institutions that, per the institutions file, work in the district and help with this problem (or its sub-rows, or the problem it belongs to), and the straight-line distance from the district's population-weighted centre (from the city's population grid; without one, a point inside the district) to the nearest of them, in thirds (3 = farthest; no such institution = 3). Places and staff summed where the file gives them; city-wide institutions count for every district.",
        "synthetic": s.manifest.synthetic,
        "snapshot": s.manifest.number,
        "policy_version": s.manifest.policy_version,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haversine_matches_a_known_distance() {
        // Wrocław Rynek to Warsaw Palace of Culture: ~301 km great-circle distance.
        let d = haversine_km([17.0327, 51.1100], [21.0064, 52.2318]);
        assert!((d - 301.0).abs() < 2.0, "{d}");
        // One degree of latitude: ~111.2 km.
        let one = haversine_km([17.0, 51.0], [17.0, 52.0]);
        assert!((one - 111.19).abs() < 0.05, "{one}");
        assert_eq!(haversine_km([17.0, 51.0], [17.0, 51.0]), 0.0);
    }

    #[test]
    fn terciles_follow_r_quantile_type_7() {
        // R's quantile(1:10, c(1/3, 2/3)) and numpy's default quantile: 4, 7.
        let v: Vec<f64> = (1..=10).map(f64::from).rev().collect();
        assert_eq!(tercile_breaks(&v), Some([4.0, 7.0]));
        // numpy.quantile([0, 0, 5, 9], [1/3, 2/3]) = 0, 5; [1, 2, 4, 8, 16]: 2.667, 6.667.
        assert_eq!(tercile_breaks(&[9.0, 0.0, 5.0, 0.0]), Some([0.0, 5.0]));
        let b = tercile_breaks(&[16.0, 1.0, 4.0, 2.0, 8.0]).unwrap();
        assert!(
            (b[0] - 8.0 / 3.0).abs() < 1e-12 && (b[1] - 20.0 / 3.0).abs() < 1e-12,
            "{b:?}"
        );
        assert_eq!(tercile_breaks(&[1.0, 2.0]), None);
        let classes: Vec<u8> = (1..=10)
            .map(|x| class_of(f64::from(x), [4.0, 7.0]))
            .collect();
        assert_eq!(classes, [1, 1, 1, 1, 2, 2, 2, 3, 3, 3]);
    }

    #[test]
    fn help_counts_the_problem_its_sub_rows_and_its_parent() {
        let vocabulary = json!([
            {"code": "violence", "parent": null, "source": "ops"},
            {"code": "violence_children", "parent": "violence", "source": "ops"},
            {"code": "poverty", "parent": null, "source": "ops"},
            {"code": "over_50", "parent": null, "source": "pup"},
        ]);
        let codes = |m| {
            helping_codes(&vocabulary, m)
                .into_iter()
                .collect::<Vec<_>>()
        };
        assert_eq!(codes("violence"), ["violence", "violence_children"]);
        assert_eq!(
            codes("violence_children"),
            ["violence", "violence_children"]
        );
        assert_eq!(codes("poverty"), ["poverty"]);
        assert_eq!(codes("any_pup"), ["over_50"]);
        assert_eq!(codes("any_ops").len(), 3);
    }
}
