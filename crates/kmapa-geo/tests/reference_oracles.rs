//! Binning checked against the reference implementations: the H3 C library (through
//! the Python package `h3`) for cell ids at resolutions 7-10, and GEOS (through
//! `shapely`) for district assignment, over 100,000+ points across the demo city,
//! including points exactly on district vertices and on shared edges.
//! Needs `pip install -r tests/requirements.txt` (done by tests/run.sh).

use std::io::Write;
use std::path::Path;
use std::process::Command;

use h3o::Resolution;
use kmapa_geo::{Binner, DistrictIndex, DistrictLayer};
use rand::{RngExt, SeedableRng};

#[test]
fn binning_agrees_with_h3_and_shapely() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let districts = repo.join("data/wroclaw/districts.geojson");
    let layer = DistrictLayer::read(&districts).unwrap();
    let index = DistrictIndex::new(&layer);
    let mut binner = Binner::new(&layer, &index, Resolution::Ten);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20261122);

    let mut points: Vec<(f64, f64, &str)> = Vec::new();
    // Uniform points over the city's bounding box (some fall outside the city).
    for _ in 0..100_000 {
        points.push((
            rng.random_range(16.80..17.18),
            rng.random_range(51.04..51.22),
            "random",
        ));
    }
    // Every 7th vertex of every boundary ring, exactly, and the midpoint of the edge after it.
    for d in &layer.districts {
        for poly in &d.geometry.0 {
            let ring = &poly.exterior().0;
            for w in ring.windows(2).step_by(7) {
                points.push((w[0].x, w[0].y, "vertex"));
                points.push(((w[0].x + w[1].x) / 2.0, (w[0].y + w[1].y) / 2.0, "edge"));
            }
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("points.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&csv_path).unwrap());
    writeln!(out, "lon,lat,kind,district,h3_7,h3_8,h3_9,h3_10").unwrap();
    for (lon, lat, kind) in &points {
        let (district, cell) = match binner.bin(*lon, *lat) {
            Ok(b) => (layer.districts[b.district as usize].code.as_str(), b.cell),
            Err(_) => (
                "",
                h3o::LatLng::new(*lat, *lon)
                    .unwrap()
                    .to_cell(Resolution::Ten),
            ),
        };
        let parents: Vec<String> = [
            Resolution::Seven,
            Resolution::Eight,
            Resolution::Nine,
            Resolution::Ten,
        ]
        .iter()
        .map(|r| u64::from(cell.parent(*r).unwrap()).to_string())
        .collect();
        // {:?} prints the shortest representation that parses back to the same f64.
        writeln!(
            out,
            "{lon:?},{lat:?},{kind},{district},{}",
            parents.join(",")
        )
        .unwrap();
    }
    out.flush().unwrap();
    drop(out);

    let script = repo.join("tests/oracles/check_binning.py");
    let result = Command::new("python3")
        .arg(&script)
        .arg(&csv_path)
        .arg(&districts)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "the oracles are missing: python3 -m pip install -r tests/requirements.txt\n{stderr}"
    );
    assert!(result.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(": 0 disagreements"), "{stdout}");
    println!("{stdout}");
}
