//! District layers: GeoJSON (Multi)Polygons with a stable `code`, a `name` and an
//! optional `parent` (a coarser area), and the index that finds the district of a point.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use geo::{
    BoundingRect, ChamberlainDuquetteArea, Coord, CoordinatePosition, MultiPolygon, Point,
    coordinate_position::CoordPos,
};
use kmapa_model::{ContractError, Problem};
use rstar::{AABB, RTree, primitives::GeomWithData, primitives::Rectangle};
use serde_json::Value;

/// One district (in the demo city: an osiedle).
#[derive(Debug, Clone)]
pub struct District {
    pub code: String,
    pub name: String,
    /// Code of the coarser area this district belongs to (a former dzielnica).
    pub parent: Option<String>,
    pub parent_name: Option<String>,
    /// WGS84 lon/lat.
    pub geometry: MultiPolygon<f64>,
}

impl District {
    /// Area on the sphere in km² (Chamberlain–Duquette; about 0.3 % off the ellipsoid
    /// at Polish latitudes, which is plenty for densities).
    pub fn area_km2(&self) -> f64 {
        self.geometry.chamberlain_duquette_unsigned_area() / 1e6
    }
}

/// A district layer read from GeoJSON, in file order.
#[derive(Debug, Clone)]
pub struct DistrictLayer {
    pub path: PathBuf,
    pub districts: Vec<District>,
    /// Attribution carried by the file (`attribution` member of the FeatureCollection).
    pub attribution: Option<String>,
}

impl DistrictLayer {
    pub fn read(path: &Path) -> Result<Self, ContractError> {
        let bytes = std::fs::read(path).map_err(|e| ContractError::io(path, e))?;
        Self::parse(path, &bytes)
    }

    /// Parses and validates a district layer. Every problem is reported with the
    /// index of the feature and the property concerned.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, ContractError> {
        let invalid = |p: Problem| ContractError::Invalid(vec![p]);
        let root: Value = serde_json::from_slice(bytes).map_err(|e| {
            invalid(
                Problem::new(path, format!("not valid JSON: {e}"))
                    .line(e.line() as u64)
                    .hint("Export the layer as GeoJSON (RFC 7946)"),
            )
        })?;
        if root.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
            return Err(invalid(
                Problem::new(path, "not a GeoJSON FeatureCollection")
                    .hint("The file must be a FeatureCollection of district polygons"),
            ));
        }
        let features = root
            .get("features")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                invalid(Problem::new(
                    path,
                    "FeatureCollection has no features array",
                ))
            })?;
        let mut problems = Vec::new();
        let mut districts = Vec::with_capacity(features.len());
        let mut codes = HashSet::new();
        let mut parent_names: HashMap<String, String> = HashMap::new();
        for (i, f) in features.iter().enumerate() {
            let at = |prop: &str, msg: String| Problem::new(path, msg).feature(i).column(prop);
            let props = f.get("properties").and_then(Value::as_object);
            let text = |key: &str| -> Option<String> {
                props
                    .and_then(|p| p.get(key))
                    .and_then(|v| match v {
                        Value::String(s) => Some(s.trim().to_string()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .filter(|s| !s.is_empty())
            };
            let code = text("code");
            let name = text("name");
            match &code {
                None => problems.push(
                    at("code", "district has no code".into())
                        .hint("Give each feature a stable `code` property"),
                ),
                Some(c) if !codes.insert(c.clone()) => {
                    problems.push(at("code", "duplicate district code".into()).value(c.clone()));
                }
                Some(_) => {}
            }
            if name.is_none() {
                problems.push(at("name", "district has no name".into()));
            }
            let parent = text("parent");
            let parent_name = text("parent_name");
            if let (Some(p), Some(n)) = (&parent, &parent_name)
                && let Some(prev) = parent_names.insert(p.clone(), n.clone())
                && &prev != n
            {
                problems.push(
                    at(
                        "parent_name",
                        format!("parent {p} is named both {prev:?} and {n:?}"),
                    )
                    .value(n.clone()),
                );
            }
            let geometry = match f.get("geometry") {
                Some(g) if !g.is_null() => to_multipolygon(g),
                _ => Err("feature has no geometry".to_string()),
            };
            let geometry = match geometry {
                Ok(g) => g,
                Err(e) => {
                    problems.push(at("geometry", e).hint("Use Polygon or MultiPolygon geometry"));
                    continue;
                }
            };
            if let Some(e) = check_geometry(&geometry) {
                problems.push(at("geometry", e));
                continue;
            }
            if let (Some(code), Some(name)) = (code, name) {
                districts.push(District {
                    code,
                    name,
                    parent,
                    parent_name,
                    geometry,
                });
            }
        }
        if features.is_empty() {
            problems.push(Problem::new(path, "the layer has no districts"));
        }
        kmapa_model::problem::check(problems)?;
        Ok(Self {
            path: path.to_path_buf(),
            districts,
            attribution: root
                .get("attribution")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    pub fn get(&self, code: &str) -> Option<&District> {
        self.districts.iter().find(|d| d.code == code)
    }

    pub fn codes(&self) -> HashSet<String> {
        self.districts.iter().map(|d| d.code.clone()).collect()
    }

    /// Parent areas as (code, name), sorted by code.
    pub fn parents(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .districts
            .iter()
            .filter_map(|d| {
                d.parent.as_ref().map(|p| {
                    (
                        p.clone(),
                        d.parent_name.clone().unwrap_or_else(|| p.clone()),
                    )
                })
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

fn to_multipolygon(g: &Value) -> Result<MultiPolygon<f64>, String> {
    let geometry: geojson::Geometry =
        serde_json::from_value(g.clone()).map_err(|e| format!("invalid geometry: {e}"))?;
    match geo::Geometry::<f64>::try_from(&geometry.value) {
        Ok(geo::Geometry::Polygon(p)) => Ok(MultiPolygon(vec![p])),
        Ok(geo::Geometry::MultiPolygon(mp)) => Ok(mp),
        Ok(other) => Err(format!(
            "geometry is {}, not a polygon",
            geometry_kind(&other)
        )),
        Err(e) => Err(format!("invalid geometry: {e}")),
    }
}

fn geometry_kind(g: &geo::Geometry<f64>) -> &'static str {
    match g {
        geo::Geometry::Point(_) => "a Point",
        geo::Geometry::Line(_) | geo::Geometry::LineString(_) => "a LineString",
        geo::Geometry::MultiPoint(_) => "a MultiPoint",
        geo::Geometry::MultiLineString(_) => "a MultiLineString",
        geo::Geometry::GeometryCollection(_) => "a GeometryCollection",
        _ => "not a polygon",
    }
}

/// Checks what the contract needs of a district: WGS84 ranges, closed rings of at
/// least 4 positions, non-zero area.
fn check_geometry(mp: &MultiPolygon<f64>) -> Option<String> {
    if mp.0.is_empty() {
        return Some("empty geometry".into());
    }
    for poly in &mp.0 {
        for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
            if ring.0.len() < 4 {
                return Some("a ring has fewer than 4 positions".into());
            }
            if ring.0.iter().any(|c| {
                !c.x.is_finite() || !c.y.is_finite() || c.x.abs() > 180.0 || c.y.abs() > 90.0
            }) {
                return Some(
                    "coordinates outside WGS84 lon/lat ranges (is the layer projected? \
                     reproject it to EPSG:4326)"
                        .into(),
                );
            }
        }
    }
    if mp.chamberlain_duquette_unsigned_area() <= 0.0 {
        return Some("geometry has zero area".into());
    }
    None
}

/// Finds the district of a point.
///
/// **Border rule.** A point strictly inside a district belongs to it. A point on the
/// boundary of one or more districts (a shared edge or vertex, or the city's outer
/// edge) belongs to the one among them with the smallest `code` in byte order. A point
/// in no district is outside the city. The rule depends on nothing but the point and
/// the codes, so it is deterministic whatever the order of the file.
pub struct DistrictIndex {
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>,
    polygons: Vec<(usize, geo::Polygon<f64>)>,
    codes: Vec<String>,
}

impl DistrictIndex {
    pub fn new(layer: &DistrictLayer) -> Self {
        let mut polygons = Vec::new();
        let mut boxes = Vec::new();
        for (d, district) in layer.districts.iter().enumerate() {
            for poly in &district.geometry.0 {
                if let Some(r) = poly.bounding_rect() {
                    boxes.push(GeomWithData::new(
                        Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                        polygons.len(),
                    ));
                    polygons.push((d, poly.clone()));
                }
            }
        }
        Self {
            tree: RTree::bulk_load(boxes),
            polygons,
            codes: layer.districts.iter().map(|d| d.code.clone()).collect(),
        }
    }

    /// Index (into the layer) of the district of `(lon, lat)`, by the border rule.
    pub fn locate(&self, lon: f64, lat: f64) -> Option<usize> {
        let c = Coord { x: lon, y: lat };
        let mut on_border: Option<usize> = None;
        for hit in self
            .tree
            .locate_in_envelope_intersecting(AABB::from_point([lon, lat]))
        {
            let (d, poly) = &self.polygons[hit.data];
            match poly.coordinate_position(&c) {
                CoordPos::Inside => return Some(*d),
                CoordPos::OnBoundary => {
                    if on_border.is_none_or(|b| self.codes[*d] < self.codes[b]) {
                        on_border = Some(*d);
                    }
                }
                CoordPos::Outside => {}
            }
        }
        on_border
    }

    pub fn locate_point(&self, p: Point<f64>) -> Option<usize> {
        self.locate(p.x(), p.y())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_SQUARES: &str = r#"{"type":"FeatureCollection","attribution":"test","features":[
      {"type":"Feature","properties":{"code":"B","name":"Right","parent":"P","parent_name":"Both"},
       "geometry":{"type":"Polygon","coordinates":[[[1,0],[2,0],[2,1],[1,1],[1,0]]]}},
      {"type":"Feature","properties":{"code":"A","name":"Left","parent":"P","parent_name":"Both"},
       "geometry":{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,1],[0,0]]]]}}
    ]}"#;

    fn layer() -> DistrictLayer {
        DistrictLayer::parse(Path::new("t.geojson"), TWO_SQUARES.as_bytes()).unwrap()
    }

    #[test]
    fn interior_points_find_their_district() {
        let l = layer();
        let idx = DistrictIndex::new(&l);
        assert_eq!(
            idx.locate(0.5, 0.5).map(|i| &l.districts[i].code[..]),
            Some("A")
        );
        assert_eq!(
            idx.locate(1.5, 0.5).map(|i| &l.districts[i].code[..]),
            Some("B")
        );
        assert_eq!(idx.locate(2.5, 0.5), None);
    }

    #[test]
    fn shared_edges_and_vertices_go_to_the_smallest_code() {
        let l = layer();
        let idx = DistrictIndex::new(&l);
        // Shared edge x = 1, shared vertex (1, 0), and B's own outer edge.
        assert_eq!(
            idx.locate(1.0, 0.5).map(|i| &l.districts[i].code[..]),
            Some("A")
        );
        assert_eq!(
            idx.locate(1.0, 0.0).map(|i| &l.districts[i].code[..]),
            Some("A")
        );
        assert_eq!(
            idx.locate(2.0, 0.5).map(|i| &l.districts[i].code[..]),
            Some("B")
        );
    }

    #[test]
    fn parents_and_attribution_are_read() {
        let l = layer();
        assert_eq!(l.parents(), [("P".to_string(), "Both".to_string())]);
        assert_eq!(l.attribution.as_deref(), Some("test"));
        // 1° × 1° at the equator ≈ 12,364 km².
        let a = l.districts[0].area_km2();
        assert!((12_300.0..12_400.0).contains(&a), "{a}");
    }

    #[test]
    fn bad_features_are_named_by_index_and_property() {
        let text = r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","properties":{"name":"No code"},
           "geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}},
          {"type":"Feature","properties":{"code":"X","name":"Point"},
           "geometry":{"type":"Point","coordinates":[0,0]}},
          {"type":"Feature","properties":{"code":"Y","name":"Projected"},
           "geometry":{"type":"Polygon","coordinates":[[[500000,0],[500100,0],[500100,100],[500000,0]]]}}
        ]}"#;
        let err = DistrictLayer::parse(Path::new("t.geojson"), text.as_bytes()).unwrap_err();
        let got: Vec<_> = err
            .problems()
            .iter()
            .map(|p| (p.feature.unwrap(), p.column.clone().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                (0, "code".to_string()),
                (1, "geometry".to_string()),
                (2, "geometry".to_string())
            ]
        );
        assert!(err.to_string().contains("reproject"));
    }
}
