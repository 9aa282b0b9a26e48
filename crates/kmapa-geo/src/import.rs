//! District boundaries as a municipality has them: GeoJSON or GeoPackage, in WGS84 or
//! in the Polish national systems (EPSG:2180, PUWG 1992; EPSG:2176–2179, PUWG 2000
//! zones 5–8), reprojected to WGS84 longitude/latitude (`kmapa city new`).
//!
//! The projections are transverse Mercator on GRS80, inverted with Krüger's series to
//! the sixth order (Karney 2011): well under a millimetre inside Poland. The CI test
//! (`tests/onboarding.sh`) has GDAL project the made-up city into EPSG:2180 and back
//! through this code, and compares with the original.

use std::path::Path;

use geo::{Coord, LineString, MultiPolygon, Polygon};
use kmapa_model::{ContractError, Problem};
use serde_json::{Map, Value};

/// A coordinate reference system kmapa reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Crs {
    /// EPSG:4326 / CRS84: longitude, latitude.
    Wgs84,
    /// Transverse Mercator on GRS80: (EPSG code, central meridian °, scale, false easting,
    /// false northing); coordinates easting, northing.
    Tm(u32, f64, f64, f64, f64),
}

impl Crs {
    /// The system with this EPSG code, if kmapa reads it.
    pub fn from_epsg(code: u32) -> Option<Crs> {
        match code {
            4326 | 4258 => Some(Crs::Wgs84),
            2180 => Some(Crs::Tm(2180, 19.0, 0.9993, 500_000.0, -5_300_000.0)),
            2176..=2179 => {
                let zone = code - 2171; // 2176 → zone 5 (15°E) … 2179 → zone 8 (24°E)
                Some(Crs::Tm(
                    code,
                    f64::from(zone) * 3.0,
                    0.999_923,
                    f64::from(zone) * 1_000_000.0 + 500_000.0,
                    0.0,
                ))
            }
            _ => None,
        }
    }

    /// The system a name gives: `EPSG:2180`, `urn:ogc:def:crs:EPSG::2180`, `CRS84`.
    pub fn parse(name: &str) -> Option<Crs> {
        let n = name.trim();
        if n.ends_with("CRS84") {
            return Some(Crs::Wgs84);
        }
        let digits: String = n
            .rsplit(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap_or("")
            .to_string();
        digits.parse().ok().and_then(Crs::from_epsg)
    }

    /// (longitude, latitude) of a point given in this system.
    pub fn to_wgs84(self, x: f64, y: f64) -> (f64, f64) {
        match self {
            Crs::Wgs84 => (x, y),
            Crs::Tm(_, lon0, k0, fe, fn_) => tm_inverse(x, y, lon0, k0, fe, fn_),
        }
    }
}

/// Inverse transverse Mercator on GRS80 (Krüger series, Karney 2011, eq. 11–19).
fn tm_inverse(e: f64, nn: f64, lon0: f64, k0: f64, fe: f64, fn_: f64) -> (f64, f64) {
    let a: f64 = 6_378_137.0;
    let f: f64 = 1.0 / 298.257_222_101;
    let n = f / (2.0 - f);
    let (n2, n3, n4, n5, n6) = (n * n, n.powi(3), n.powi(4), n.powi(5), n.powi(6));
    let big_a = a / (1.0 + n) * (1.0 + n2 / 4.0 + n4 / 64.0 + n6 / 256.0);
    let beta = [
        n / 2.0 - 2.0 * n2 / 3.0 + 37.0 * n3 / 96.0 - n4 / 360.0 - 81.0 * n5 / 512.0
            + 96_199.0 * n6 / 604_800.0,
        n2 / 48.0 + n3 / 15.0 - 437.0 * n4 / 1440.0 + 46.0 * n5 / 105.0
            - 1_118_711.0 * n6 / 3_870_720.0,
        17.0 * n3 / 480.0 - 37.0 * n4 / 840.0 - 209.0 * n5 / 4480.0 + 5569.0 * n6 / 90_720.0,
        4397.0 * n4 / 161_280.0 - 11.0 * n5 / 504.0 - 830_251.0 * n6 / 7_257_600.0,
        4583.0 * n5 / 161_280.0 - 108_847.0 * n6 / 3_991_680.0,
        20_648_693.0 * n6 / 638_668_800.0,
    ];
    let xi = (nn - fn_) / (k0 * big_a);
    let eta = (e - fe) / (k0 * big_a);
    let mut xi1 = xi;
    let mut eta1 = eta;
    for (j, b) in beta.iter().enumerate() {
        let k = 2.0 * (j as f64 + 1.0);
        xi1 -= b * (k * xi).sin() * (k * eta).cosh();
        eta1 -= b * (k * xi).cos() * (k * eta).sinh();
    }
    let chi = (xi1.sin() / eta1.cosh()).asin();
    let lon = lon0 + eta1.sinh().atan2(xi1.cos()).to_degrees();
    // Conformal latitude χ to geodetic latitude φ (Karney 2011, eq. 7–9, by Newton).
    let e2 = f * (2.0 - f);
    let ecc = e2.sqrt();
    let tau_prime = chi.tan();
    let mut tau = tau_prime;
    for _ in 0..6 {
        let sigma = (ecc * (ecc * tau / (1.0 + tau * tau).sqrt()).atanh()).sinh();
        let tp = tau * (1.0 + sigma * sigma).sqrt() - sigma * (1.0 + tau * tau).sqrt();
        let dtau = (tau_prime - tp) / (1.0 + tp * tp).sqrt() * (1.0 + (1.0 - e2) * tau * tau)
            / ((1.0 - e2) * (1.0 + tau * tau).sqrt());
        tau += dtau;
        if dtau.abs() < 1e-14 {
            break;
        }
    }
    (lon, tau.atan().to_degrees())
}

/// One feature read from a boundaries file: its attributes and its area in WGS84.
#[derive(Debug, Clone)]
pub struct RawFeature {
    pub properties: Map<String, Value>,
    pub geometry: MultiPolygon<f64>,
}

/// Reads (Multi)Polygon features from a GeoJSON or GeoPackage file (by its extension),
/// reprojecting to WGS84. `crs` overrides what the file says; `layer` picks a
/// GeoPackage table (default: the only feature table).
pub fn read_boundaries(
    path: &Path,
    crs: Option<Crs>,
    layer: Option<&str>,
) -> Result<(Vec<RawFeature>, Crs), ContractError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "gpkg" => read_gpkg(path, crs, layer),
        "geojson" | "json" => read_geojson(path, crs),
        _ => Err(invalid(
            path,
            "not a boundaries file kmapa reads",
            "Give GeoJSON (.geojson) or GeoPackage (.gpkg); a Shapefile converts with `ogr2ogr -f GPKG out.gpkg in.shp`",
        )),
    }
}

fn invalid(path: &Path, what: &str, hint: &str) -> ContractError {
    ContractError::Invalid(vec![
        Problem::new(path, what.to_string()).hint(hint.to_string()),
    ])
}

fn unknown_crs(path: &Path, what: &str) -> ContractError {
    invalid(
        path,
        &format!("coordinates in {what}, which kmapa does not read"),
        "Export the boundaries in EPSG:4326, 2180 or 2176-2179 (QGIS: Save Features As, CRS), or pass --crs",
    )
}

fn read_geojson(path: &Path, crs: Option<Crs>) -> Result<(Vec<RawFeature>, Crs), ContractError> {
    let bytes = std::fs::read(path).map_err(|e| ContractError::io(path, e))?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
        invalid(
            path,
            &format!("not JSON: {e}"),
            "Give a GeoJSON FeatureCollection",
        )
    })?;
    let named = v.pointer("/crs/properties/name").and_then(Value::as_str);
    let crs = match (crs, named) {
        (Some(c), _) => c,
        (None, Some(name)) => Crs::parse(name).ok_or_else(|| unknown_crs(path, name))?,
        (None, None) => Crs::Wgs84,
    };
    let features = v
        .get("features")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(path, "no features", "Give a GeoJSON FeatureCollection"))?;
    let mut out = Vec::new();
    for (i, f) in features.iter().enumerate() {
        let geometry = f
            .get("geometry")
            .and_then(|g| geojson_area(g, crs))
            .ok_or_else(|| {
                ContractError::Invalid(vec![
                    Problem::new(path, "not a Polygon or MultiPolygon")
                        .feature(i)
                        .hint("Each district must be an area"),
                ])
            })?;
        let properties = f
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        out.push(RawFeature {
            properties,
            geometry,
        });
    }
    Ok((out, crs))
}

fn geojson_area(g: &Value, crs: Crs) -> Option<MultiPolygon<f64>> {
    let ring = |r: &Value| -> Option<LineString<f64>> {
        r.as_array()?
            .iter()
            .map(|p| {
                let p = p.as_array()?;
                let (x, y) = crs.to_wgs84(p.first()?.as_f64()?, p.get(1)?.as_f64()?);
                Some(Coord { x, y })
            })
            .collect::<Option<Vec<_>>>()
            .map(LineString)
    };
    let polygon = |p: &Value| -> Option<Polygon<f64>> {
        let rings = p.as_array()?;
        let mut it = rings.iter();
        Some(Polygon::new(
            ring(it.next()?)?,
            it.map(ring).collect::<Option<Vec<_>>>()?,
        ))
    };
    let coords = g.get("coordinates")?;
    match g.get("type")?.as_str()? {
        "Polygon" => Some(MultiPolygon(vec![polygon(coords)?])),
        "MultiPolygon" => Some(MultiPolygon(
            coords
                .as_array()?
                .iter()
                .map(polygon)
                .collect::<Option<Vec<_>>>()?,
        )),
        _ => None,
    }
}

fn read_gpkg(
    path: &Path,
    crs: Option<Crs>,
    layer: Option<&str>,
) -> Result<(Vec<RawFeature>, Crs), ContractError> {
    let sql = |e: rusqlite::Error| {
        invalid(
            path,
            &format!("not a GeoPackage: {e}"),
            "Give a GeoPackage written by QGIS or ogr2ogr",
        )
    };
    let db =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(sql)?;
    let mut tables: Vec<(String, String, i64)> = db
        .prepare(
            "SELECT g.table_name, g.column_name, g.srs_id FROM gpkg_geometry_columns g \
             JOIN gpkg_contents c ON c.table_name = g.table_name WHERE c.data_type = 'features'",
        )
        .map_err(sql)?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(sql)?
        .collect::<Result<_, _>>()
        .map_err(sql)?;
    if let Some(name) = layer {
        tables.retain(|t| t.0 == name);
    }
    let names: Vec<String> = tables.iter().map(|t| t.0.clone()).collect();
    let [(table, column, srs)] = &tables[..] else {
        return Err(invalid(
            path,
            &format!("{} feature tables: {}", names.len(), names.join(", ")),
            "Name the one with the districts: --layer NAME",
        ));
    };
    let crs = match crs {
        Some(c) => c,
        None => u32::try_from(*srs)
            .ok()
            .and_then(Crs::from_epsg)
            .ok_or_else(|| unknown_crs(path, &format!("srs_id {srs}")))?,
    };
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut stmt = db
        .prepare(&format!("SELECT * FROM {}", quote(table)))
        .map_err(sql)?;
    let cols: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    let mut rows = stmt.query([]).map_err(sql)?;
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(row) = rows.next().map_err(sql)? {
        let mut properties = Map::new();
        let mut geometry = None;
        for (c, name) in cols.iter().enumerate() {
            use rusqlite::types::ValueRef;
            let v = row.get_ref(c).map_err(sql)?;
            if name == column {
                if let ValueRef::Blob(b) = v {
                    geometry = gpkg_geometry(b, crs);
                }
                continue;
            }
            properties.insert(
                name.clone(),
                match v {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::from(n),
                    ValueRef::Real(x) => Value::from(x),
                    ValueRef::Text(t) => Value::from(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(_) => Value::Null,
                },
            );
        }
        let geometry = geometry.ok_or_else(|| {
            ContractError::Invalid(vec![
                Problem::new(path, "not a Polygon or MultiPolygon")
                    .feature(i)
                    .hint("Each district must be an area"),
            ])
        })?;
        out.push(RawFeature {
            properties,
            geometry,
        });
        i += 1;
    }
    Ok((out, crs))
}

/// A GeoPackage geometry blob (header, then WKB) as a MultiPolygon in WGS84.
fn gpkg_geometry(b: &[u8], crs: Crs) -> Option<MultiPolygon<f64>> {
    if b.len() < 8 || &b[0..2] != b"GP" {
        return None;
    }
    let flags = b[3];
    let envelope = match (flags >> 1) & 0b111 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        _ => return None,
    };
    let mut r = Wkb {
        b: b.get(8 + envelope..)?,
        at: 0,
        le: true,
    };
    r.geometry(crs)
}

struct Wkb<'a> {
    b: &'a [u8],
    at: usize,
    le: bool,
}

impl Wkb<'_> {
    fn u32(&mut self) -> Option<u32> {
        let s: [u8; 4] = self.b.get(self.at..self.at + 4)?.try_into().ok()?;
        self.at += 4;
        Some(if self.le {
            u32::from_le_bytes(s)
        } else {
            u32::from_be_bytes(s)
        })
    }
    fn f64(&mut self) -> Option<f64> {
        let s: [u8; 8] = self.b.get(self.at..self.at + 8)?.try_into().ok()?;
        self.at += 8;
        Some(if self.le {
            f64::from_le_bytes(s)
        } else {
            f64::from_be_bytes(s)
        })
    }
    /// Byte order and type; the number of ordinates per point (2 to 4).
    fn head(&mut self) -> Option<(u32, usize)> {
        self.le = *self.b.get(self.at)? == 1;
        self.at += 1;
        let t = self.u32()?;
        // ISO (1000s: Z, 2000s: M, 3000s: ZM) and EWKB flags.
        let (base, dims) = match t {
            t if t & 0x8000_0000 != 0 || t & 0x4000_0000 != 0 => (
                t & 0xFFFF,
                2 + usize::from(t & 0x8000_0000 != 0) + usize::from(t & 0x4000_0000 != 0),
            ),
            t => (
                t % 1000,
                2 + match t / 1000 {
                    1 | 2 => 1,
                    3 => 2,
                    _ => 0,
                },
            ),
        };
        Some((base, dims))
    }
    fn polygon(&mut self, dims: usize, crs: Crs) -> Option<Polygon<f64>> {
        let rings = self.u32()? as usize;
        let mut out = Vec::with_capacity(rings);
        for _ in 0..rings {
            let n = self.u32()? as usize;
            let mut ring = Vec::with_capacity(n);
            for _ in 0..n {
                let (x, y) = (self.f64()?, self.f64()?);
                for _ in 2..dims {
                    self.f64()?;
                }
                let (x, y) = crs.to_wgs84(x, y);
                ring.push(Coord { x, y });
            }
            out.push(LineString(ring));
        }
        let mut it = out.into_iter();
        Some(Polygon::new(it.next()?, it.collect()))
    }
    fn geometry(&mut self, crs: Crs) -> Option<MultiPolygon<f64>> {
        let (t, dims) = self.head()?;
        match t {
            3 => Some(MultiPolygon(vec![self.polygon(dims, crs)?])),
            6 => {
                let n = self.u32()? as usize;
                let mut polys = Vec::with_capacity(n);
                for _ in 0..n {
                    let (t, dims) = self.head()?;
                    if t != 3 {
                        return None;
                    }
                    polys.push(self.polygon(dims, crs)?);
                }
                Some(MultiPolygon(polys))
            }
            _ => None,
        }
    }
}

/// One address point of the national register (PRG, `PRG_PunktAdresowy`).
#[derive(Debug, Clone, PartialEq)]
pub struct PrgPoint {
    /// The place (`miejscowosc`).
    pub locality: String,
    /// The street (`ulica`); empty where addresses have no street (villages).
    pub street: String,
    pub house_number: String,
    pub postcode: String,
    pub lon: f64,
    pub lat: f64,
}

/// Reads the address points of a PRG file in GUGiK's published GML layout
/// (`PRG_PunktAdresowy` features: `miejscowosc`, `ulica`, `numerPorzadkowy`,
/// `kodPocztowy`, and `pozycja` as a `gml:Point`, in EPSG:2180 with GML's axis order,
/// northing first). Elements are matched by local name, whatever the namespace prefix.
pub fn read_prg(path: &Path) -> Result<Vec<PrgPoint>, ContractError> {
    use quick_xml::events::Event;
    let file = std::fs::File::open(path).map_err(|e| ContractError::io(path, e))?;
    let mut reader = quick_xml::Reader::from_reader(std::io::BufReader::new(file));
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut current: Option<std::collections::HashMap<String, String>> = None;
    let mut element = String::new();
    let mut srs = String::new();
    let mut n = 0usize;
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| {
            invalid(
                path,
                &format!("not XML at byte {}: {e}", reader.buffer_position()),
                "Give the PRG address points as GUGiK publishes them (GML)",
            )
        })?;
        match event {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if name == "PRG_PunktAdresowy" {
                    current = Some(Default::default());
                    n += 1;
                } else if name == "Point" {
                    srs = e
                        .attributes()
                        .flatten()
                        .find(|a| a.key.local_name().as_ref() == b"srsName")
                        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
                        .unwrap_or_default();
                }
                element = name;
            }
            Event::Text(t) => {
                if let Some(c) = current.as_mut() {
                    let text = t.xml_content().unwrap_or_default().trim().to_string();
                    if !text.is_empty() {
                        c.entry(element.clone()).or_insert(text);
                    }
                }
            }
            Event::End(e) => {
                if e.local_name().as_ref() == b"PRG_PunktAdresowy"
                    && let Some(c) = current.take()
                {
                    let get = |k: &str| c.get(k).cloned().unwrap_or_default();
                    let crs = if srs.is_empty() {
                        Crs::from_epsg(2180)
                    } else {
                        Crs::parse(&srs)
                    };
                    let pos: Vec<f64> = get("pos")
                        .split_whitespace()
                        .filter_map(|v| v.parse().ok())
                        .collect();
                    let point = match (crs, &pos[..]) {
                        // GML follows the system's axis order: EPSG:2180 and 2176-2179
                        // give northing then easting, EPSG:4326 latitude then longitude.
                        (Some(Crs::Tm(..)), [north, east, ..]) => {
                            Some(crs.unwrap().to_wgs84(*east, *north))
                        }
                        (Some(Crs::Wgs84), [lat, lon, ..]) => Some((*lon, *lat)),
                        _ => None,
                    };
                    let number = get("numerPorzadkowy");
                    match point {
                        Some((lon, lat)) if !number.is_empty() => out.push(PrgPoint {
                            locality: get("miejscowosc"),
                            street: get("ulica"),
                            house_number: number,
                            postcode: get("kodPocztowy"),
                            lon,
                            lat,
                        }),
                        _ => problems.push(
                            Problem::new(path, "an address point without a position or number")
                                .feature(n - 1)
                                .value(format!("{} {} ({})", get("ulica"), number, get("pos")))
                                .hint("Each PRG_PunktAdresowy needs numerPorzadkowy and pozycja in EPSG:2180"),
                        ),
                    }
                }
                element.clear();
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if out.is_empty() && problems.is_empty() {
        return Err(invalid(
            path,
            "no PRG_PunktAdresowy in it",
            "Give the PRG address points (GML) of your gmina as GUGiK publishes them",
        ));
    }
    kmapa_model::problem::check(problems)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_false_origin_of_puwg_1992_is_its_central_meridian() {
        // EPSG:2180: easting 500,000 lies on 19°E, and the equator at the false
        // northing, -5,300,000.
        let (lon, lat) = Crs::from_epsg(2180)
            .unwrap()
            .to_wgs84(500_000.0, -5_300_000.0);
        assert!((lon - 19.0).abs() < 1e-9 && lat.abs() < 1e-9, "{lon} {lat}");
    }

    #[test]
    fn names_of_systems_are_read() {
        assert_eq!(
            Crs::parse("urn:ogc:def:crs:EPSG::2180"),
            Crs::from_epsg(2180)
        );
        assert_eq!(Crs::parse("EPSG:2177"), Crs::from_epsg(2177));
        assert_eq!(
            Crs::parse("urn:ogc:def:crs:OGC:1.3:CRS84"),
            Some(Crs::Wgs84)
        );
        assert_eq!(Crs::parse("EPSG:3857"), None);
        // Zone 6 (EPSG:2177) is centred on 18°E with false easting 6,500,000.
        let (lon, _) = Crs::from_epsg(2177)
            .unwrap()
            .to_wgs84(6_500_000.0, 5_700_000.0);
        assert!((lon - 18.0).abs() < 1e-9, "{lon}");
    }

    #[test]
    fn prg_positions_are_read_northing_first() {
        // EPSG:2180's axis order is northing, easting: GUGiK's GML gives the point on
        // the central meridian at the false northing as "-5300000 500000".
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prg.gml");
        std::fs::write(
            &path,
            r#"<gml:FeatureCollection xmlns:gml="http://www.opengis.net/gml/3.2" xmlns:prg-ad="urn:x">
              <gml:featureMember><prg-ad:PRG_PunktAdresowy>
                <prg-ad:miejscowosc>Zalesie</prg-ad:miejscowosc><prg-ad:ulica/>
                <prg-ad:numerPorzadkowy>7</prg-ad:numerPorzadkowy><prg-ad:kodPocztowy>00-001</prg-ad:kodPocztowy>
                <prg-ad:pozycja><gml:Point srsName="urn:ogc:def:crs:EPSG::2180"><gml:pos>-5300000 500000</gml:pos></gml:Point></prg-ad:pozycja>
              </prg-ad:PRG_PunktAdresowy></gml:featureMember></gml:FeatureCollection>"#,
        )
        .unwrap();
        let points = read_prg(&path).unwrap();
        assert_eq!(points.len(), 1);
        let p = &points[0];
        assert_eq!(
            (
                p.locality.as_str(),
                p.street.as_str(),
                p.house_number.as_str()
            ),
            ("Zalesie", "", "7")
        );
        assert!((p.lon - 19.0).abs() < 1e-9 && p.lat.abs() < 1e-9, "{p:?}");
    }
}
