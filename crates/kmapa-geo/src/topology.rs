//! Geometry checks of a district layer (`kmapa validate`, and before a data directory
//! is bound to a city): every place must belong to one district at most. Invalid
//! polygons (self-intersections, rings crossing) and districts that overlap, or one
//! that covers others (a whole-city feature left in the file), are refused; tiny
//! slivers where two boundaries drawn separately do not quite agree are counted, and
//! gaps (places inside the city no district covers) are reported: those enclosed by
//! districts (a gap that a crack between two borders joins to the outside is taken for
//! outside the city).

use geo::{
    BooleanOps, BoundingRect, Centroid, ChamberlainDuquetteArea, MultiPolygon, Polygon, Validation,
};

use crate::districts::DistrictLayer;

/// Overlaps larger than this are refused (1,000 m²: a few metres along a border of a
/// kilometre; real misdrawn borders are tens of thousands).
pub const OVERLAP_KM2: f64 = 0.001;
/// Gaps smaller than this are not reported (slivers between borders drawn apart).
pub const GAP_KM2: f64 = 0.01;

/// Two districts overlapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Overlap {
    pub a: String,
    pub b: String,
    pub km2: f64,
    /// Lat, lon of a point in the overlap.
    pub at: (f64, f64),
    /// The district lying (almost) wholly inside the other, if one does.
    pub covered: Option<String>,
}

/// What the checks found.
#[derive(Debug, Clone, Default)]
pub struct GeometryReport {
    /// (district code, what is wrong).
    pub invalid: Vec<(String, String)>,
    pub overlaps: Vec<Overlap>,
    /// Overlaps under [`OVERLAP_KM2`]: how many, and their area in km².
    pub slivers: (usize, f64),
    /// Places inside the city no district covers: (km², lat and lon of a point in it).
    pub gaps: Vec<(f64, (f64, f64))>,
}

impl GeometryReport {
    /// Whether the layer must be refused.
    pub fn refused(&self) -> bool {
        !self.invalid.is_empty() || !self.overlaps.is_empty()
    }

    /// The problems as lines a person can act on.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (code, why) in &self.invalid {
            out.push(format!(
                "district {code}: invalid polygon ({why}): redraw it so that its boundary never crosses itself (QGIS: Vector → Geometry Tools → Check Validity, then Fix Geometries)"
            ));
        }
        for o in &self.overlaps {
            let (lat, lon) = o.at;
            out.push(match &o.covered {
                Some(inner) => format!(
                    "district {} covers district {inner} ({:.3} km² in common, around {lat:.5}, {lon:.5}): a feature for a larger area (the whole city?) is in the file; remove it, each place must belong to one district",
                    if *inner == o.a { &o.b } else { &o.a },
                    o.km2
                ),
                None => format!(
                    "districts {} and {} overlap by {:.3} km² (around {lat:.5}, {lon:.5}): fix the shared border so that each place belongs to one district",
                    o.a, o.b, o.km2
                ),
            });
        }
        out
    }
}

fn km2(g: &MultiPolygon<f64>) -> f64 {
    g.chamberlain_duquette_unsigned_area() / 1e6
}

fn point_in(g: &MultiPolygon<f64>) -> (f64, f64) {
    g.centroid().map_or((0.0, 0.0), |c| (c.y(), c.x()))
}

/// Checks a district layer's geometry.
pub fn check(layer: &DistrictLayer) -> GeometryReport {
    let mut report = GeometryReport::default();
    for d in &layer.districts {
        if let Err(e) = d.geometry.check_validation() {
            report.invalid.push((d.code.clone(), e.to_string()));
        }
    }
    let boxes: Vec<_> = layer
        .districts
        .iter()
        .map(|d| d.geometry.bounding_rect())
        .collect();
    let areas: Vec<f64> = layer.districts.iter().map(|d| d.area_km2()).collect();
    for i in 0..layer.districts.len() {
        for j in i + 1..layer.districts.len() {
            let (Some(a), Some(b)) = (boxes[i], boxes[j]) else {
                continue;
            };
            if a.max().x < b.min().x
                || b.max().x < a.min().x
                || a.max().y < b.min().y
                || b.max().y < a.min().y
            {
                continue;
            }
            let (da, db) = (&layer.districts[i], &layer.districts[j]);
            let common = da.geometry.intersection(&db.geometry);
            let area = km2(&common);
            if area <= 0.0 {
                continue;
            }
            if area < OVERLAP_KM2 {
                report.slivers.0 += 1;
                report.slivers.1 += area;
                continue;
            }
            let covered = [(i, da), (j, db)]
                .into_iter()
                .find(|(k, _)| area >= 0.9 * areas[*k])
                .map(|(_, d)| d.code.clone());
            report.overlaps.push(Overlap {
                a: da.code.clone(),
                b: db.code.clone(),
                km2: area,
                at: point_in(&common),
                covered,
            });
        }
    }
    if report.invalid.is_empty() {
        let all: Vec<&MultiPolygon<f64>> = layer.districts.iter().map(|d| &d.geometry).collect();
        let union = geo::unary_union(all);
        for poly in &union {
            for hole in poly.interiors() {
                let g = MultiPolygon(vec![Polygon::new(hole.clone(), vec![])]);
                let area = km2(&g);
                if area >= GAP_KM2 {
                    report.gaps.push((area, point_in(&g)));
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Coord, LineString};
    use std::path::Path;

    /// The demo city's real osiedle boundaries (OpenStreetMap).
    fn wroclaw() -> DistrictLayer {
        DistrictLayer::read(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/wroclaw/districts.geojson"),
        )
        .unwrap()
    }

    fn shifted(g: &MultiPolygon<f64>, dx: f64) -> MultiPolygon<f64> {
        use geo::MapCoords;
        g.map_coords(|c| Coord {
            x: c.x + dx,
            y: c.y,
        })
    }

    #[test]
    fn the_real_demo_boundaries_pass() {
        let r = check(&wroclaw());
        assert!(!r.refused(), "{:?}", r.lines());
        assert!(r.gaps.is_empty(), "{:?}", r.gaps);
    }

    #[test]
    fn a_district_moved_onto_its_neighbour_is_an_overlap() {
        let mut layer = wroclaw();
        // Move a real district 200 m east (about 0.0029° of longitude here): it now
        // lies partly over its eastern neighbours.
        layer.districts[0].geometry = shifted(&layer.districts[0].geometry, 0.0029);
        let r = check(&layer);
        assert!(r.refused());
        let code = layer.districts[0].code.clone();
        let o = r
            .overlaps
            .iter()
            .find(|o| o.a == code || o.b == code)
            .expect("an overlap with the moved district");
        assert!(o.km2 > OVERLAP_KM2, "{o:?}");
        assert!(o.covered.is_none(), "{o:?}");
        assert!(
            (51.0..51.3).contains(&o.at.0) && (16.7..17.3).contains(&o.at.1),
            "{o:?}"
        );
        assert!(r.lines().iter().any(|l| l.contains("overlap by")));
    }

    #[test]
    fn a_whole_city_feature_over_the_districts_covers_them() {
        let mut layer = wroclaw();
        // The city's outline, as a file with a whole-city feature has it.
        use geo::ConvexHull;
        let points: Vec<geo::Point<f64>> = layer
            .districts
            .iter()
            .flat_map(|d| d.geometry.0.iter().flat_map(|p| p.exterior().points()))
            .collect();
        let city = geo::MultiPoint(points).convex_hull();
        let mut whole = layer.districts[0].clone();
        whole.code = "ALL".into();
        whole.geometry = MultiPolygon(vec![city]);
        layer.districts.push(whole);
        let r = check(&layer);
        assert!(r.refused());
        let covered = r.overlaps.iter().filter(|o| o.covered.is_some()).count();
        assert_eq!(covered, 48, "{:?}", r.lines());
        assert!(
            r.lines().iter().all(|l| l.contains("ALL covers")),
            "{:?}",
            r.lines()
        );
    }

    #[test]
    fn a_self_intersecting_boundary_is_invalid() {
        let mut layer = wroclaw();
        // Swap two vertices of a real boundary: the ring now crosses itself.
        let poly = &layer.districts[3].geometry.0[0];
        let mut coords: Vec<Coord<f64>> = poly.exterior().0.clone();
        let n = coords.len();
        coords.swap(n / 4, n / 2);
        layer.districts[3].geometry = MultiPolygon(vec![Polygon::new(LineString(coords), vec![])]);
        let r = check(&layer);
        assert!(r.refused());
        assert_eq!(r.invalid.len(), 1, "{:?}", r.invalid);
        assert_eq!(r.invalid[0].0, layer.districts[3].code);
        assert!(r.lines()[0].contains("invalid polygon"), "{:?}", r.lines());
    }

    #[test]
    fn a_district_removed_leaves_a_reported_gap() {
        let mut layer = wroclaw();
        // SRO-04, enclosed by its neighbours: without it the city has a hole.
        let inner = layer
            .districts
            .iter()
            .position(|d| d.code == "SRO-04")
            .unwrap();
        let gone = layer.districts.remove(inner);
        let r = check(&layer);
        assert!(!r.refused());
        assert_eq!(r.gaps.len(), 1, "{:?}", r.gaps);
        assert!(
            (r.gaps[0].0 - gone.area_km2()).abs() < 0.01 * gone.area_km2(),
            "{:?}",
            r.gaps
        );
    }
}
