//! Binning: the district and the H3 cell of a point.
//!
//! The H3 cell at the finest configured resolution is computed with h3o; coarser cells
//! are its parents. The district comes from a per-cell cache: a cell that no district
//! boundary crosses lies wholly in one district (or wholly outside the city), so every
//! point in it gets that district without a polygon test; only points in cells that a
//! boundary crosses are tested exactly, with the border rule of [`DistrictIndex`].

use geo::{BoundingRect, Coord, Line, LineString};
use h3o::{CellIndex, LatLng, Resolution};
use rstar::{AABB, RTree, primitives::GeomWithData, primitives::Line as RLine};
use rustc_hash::FxHashMap;

use crate::districts::{DistrictIndex, DistrictLayer};

/// What is known of a cell at the finest resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CellDistrict {
    /// No boundary crosses the cell: every point in it is in this district
    /// (`None`: outside the city).
    Whole(Option<u16>),
    /// A boundary crosses the cell: test each point.
    Mixed,
}

/// Where a point falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bin {
    /// Index of the district in the layer.
    pub district: u16,
    /// The cell at the finest resolution.
    pub cell: CellIndex,
}

/// Finds districts and H3 cells of points, fast, for millions of records.
pub struct Binner<'a> {
    index: &'a DistrictIndex,
    finest: Resolution,
    edges: RTree<GeomWithData<RLine<[f64; 2]>, ()>>,
    cache: FxHashMap<u64, CellDistrict>,
    /// Exact coordinates seen before (records geocoded to address points repeat them
    /// many times: members of a household, categories of a person, years).
    points: FxHashMap<(u64, u64), Result<Bin, BinError>>,
}

/// Bound on the remembered coordinates (about 64 MiB).
const POINT_CACHE: usize = 1 << 21;

/// Why a point could not be binned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinError {
    /// Not a valid WGS84 coordinate.
    InvalidCoordinate,
    /// A valid coordinate in no district.
    OutsideCity,
}

impl<'a> Binner<'a> {
    pub fn new(layer: &DistrictLayer, index: &'a DistrictIndex, finest: Resolution) -> Self {
        let mut segments = Vec::new();
        for d in &layer.districts {
            for poly in &d.geometry.0 {
                for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                    for l in ring.lines() {
                        segments.push(GeomWithData::new(
                            RLine::new([l.start.x, l.start.y], [l.end.x, l.end.y]),
                            (),
                        ));
                    }
                }
            }
        }
        Self {
            index,
            finest,
            edges: RTree::bulk_load(segments),
            cache: FxHashMap::default(),
            points: FxHashMap::default(),
        }
    }

    pub fn finest(&self) -> Resolution {
        self.finest
    }

    /// District and finest cell of (lon, lat).
    pub fn bin(&mut self, lon: f64, lat: f64) -> Result<Bin, BinError> {
        let key = (lon.to_bits(), lat.to_bits());
        if let Some(hit) = self.points.get(&key) {
            return *hit;
        }
        let result = self.bin_uncached(lon, lat);
        if self.points.len() >= POINT_CACHE {
            self.points.clear();
        }
        self.points.insert(key, result);
        result
    }

    fn bin_uncached(&mut self, lon: f64, lat: f64) -> Result<Bin, BinError> {
        let ll = LatLng::new(lat, lon).map_err(|_| BinError::InvalidCoordinate)?;
        let cell = ll.to_cell(self.finest);
        let key = u64::from(cell);
        let status = match self.cache.get(&key) {
            Some(s) => *s,
            None => {
                let s = self.classify(cell);
                self.cache.insert(key, s);
                s
            }
        };
        let district = match status {
            CellDistrict::Whole(d) => d,
            CellDistrict::Mixed => self.index.locate(lon, lat).map(|d| d as u16),
        };
        district
            .map(|district| Bin { district, cell })
            .ok_or(BinError::OutsideCity)
    }

    /// Exact district of a point, without the cell cache (for checks).
    pub fn district_exact(&self, lon: f64, lat: f64) -> Option<u16> {
        self.index.locate(lon, lat).map(|d| d as u16)
    }

    fn classify(&self, cell: CellIndex) -> CellDistrict {
        // The cell's boundary, enlarged by 10 % around its centre so that the
        // straight lon/lat edges safely cover H3's slightly curved ones.
        let centre = LatLng::from(cell);
        let (cx, cy) = (centre.lng(), centre.lat());
        let ring: Vec<Coord<f64>> = cell
            .boundary()
            .iter()
            .map(|v| Coord {
                x: cx + (v.lng() - cx) * 1.1,
                y: cy + (v.lat() - cy) * 1.1,
            })
            .collect();
        let mut closed = ring.clone();
        closed.push(ring[0]);
        let hex = geo::Polygon::new(LineString::from(closed), vec![]);
        let Some(bbox) = hex.bounding_rect() else {
            return CellDistrict::Mixed;
        };
        let envelope =
            AABB::from_corners([bbox.min().x, bbox.min().y], [bbox.max().x, bbox.max().y]);
        for seg in self.edges.locate_in_envelope_intersecting(envelope) {
            let [a, b] = [seg.geom().from, seg.geom().to];
            let line = Line::new(Coord { x: a[0], y: a[1] }, Coord { x: b[0], y: b[1] });
            if geo::Intersects::intersects(&hex, &line) {
                return CellDistrict::Mixed;
            }
        }
        CellDistrict::Whole(self.index.locate(cx, cy).map(|d| d as u16))
    }

    /// How many distinct finest cells have been seen (for diagnostics).
    pub fn cells_seen(&self) -> usize {
        self.cache.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn cached_and_exact_districts_agree_on_a_dense_grid() {
        let layer = DistrictLayer::read(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/wroclaw/districts.geojson"),
        )
        .unwrap();
        let index = DistrictIndex::new(&layer);
        let mut binner = Binner::new(&layer, &index, Resolution::Ten);
        let mut inside = 0;
        for i in 0..300 {
            for j in 0..300 {
                let lon = 16.80 + 0.40 * f64::from(i) / 300.0;
                let lat = 51.04 + 0.18 * f64::from(j) / 300.0;
                let exact = binner.district_exact(lon, lat);
                match binner.bin(lon, lat) {
                    Ok(b) => {
                        inside += 1;
                        assert_eq!(Some(b.district), exact, "{lon} {lat}");
                        assert_eq!(b.cell.resolution(), Resolution::Ten);
                    }
                    Err(e) => {
                        assert_eq!(e, BinError::OutsideCity);
                        assert_eq!(exact, None);
                    }
                }
            }
        }
        assert!(inside > 30_000, "{inside}");
        assert!(binner.cells_seen() > 10_000);
    }

    #[test]
    fn invalid_coordinates_are_refused() {
        let layer = DistrictLayer::read(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/wroclaw/districts.geojson"),
        )
        .unwrap();
        let index = DistrictIndex::new(&layer);
        let mut binner = Binner::new(&layer, &index, Resolution::Nine);
        assert_eq!(binner.bin(f64::NAN, 51.1), Err(BinError::InvalidCoordinate));
        assert_eq!(binner.bin(0.0, 0.0), Err(BinError::OutsideCity));
    }
}
