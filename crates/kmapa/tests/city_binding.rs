//! A data directory remembers its city: later commands use it without `--city`, and
//! another city is refused with a message naming both (issue: any municipality).

mod common;

use std::path::Path;

use common::{kmapa, kmapa_fails, repo};
use serde_json::Value;

/// A second city: the demo city's twelve districts of Psie Pole (PSP) alone, with
/// their population, shifted a degree east so that no point of it lies in Wrocław.
fn second_city(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut fc: Value = serde_json::from_slice(
        &std::fs::read(repo().join("data/wroclaw/districts.geojson")).unwrap(),
    )
    .unwrap();
    let features: Vec<Value> = fc["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["parent"] == "PSP")
        .cloned()
        .map(|mut f| {
            shift(&mut f["geometry"]["coordinates"]);
            f
        })
        .collect();
    fc["features"] = Value::Array(features);
    std::fs::write(dir.join("districts.geojson"), fc.to_string()).unwrap();
    let population = std::fs::read_to_string(repo().join("data/wroclaw/population.csv")).unwrap();
    let mut lines = population.lines();
    let mut out = vec![lines.next().unwrap().to_string()];
    out.extend(lines.filter(|l| l.starts_with("PSP-")).map(String::from));
    std::fs::write(dir.join("population.csv"), out.join("\n") + "\n").unwrap();
}

fn shift(v: &mut Value) {
    match v {
        Value::Array(a) if a.len() == 2 && a[0].is_number() => {
            a[0] = Value::from(a[0].as_f64().unwrap() + 1.0);
        }
        Value::Array(a) => a.iter_mut().for_each(shift),
        _ => {}
    }
}

fn tier(data: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(data.join("public/protected.json")).unwrap()).unwrap()
}

#[test]
fn a_data_directory_remembers_its_city_and_refuses_another() {
    let tmp = tempfile::tempdir().unwrap();
    let city = tmp.path().join("psie-pole");
    second_city(&city);
    let (generated, data) = (tmp.path().join("gen"), tmp.path().join("data"));
    let (c, g, d) = (
        city.to_str().unwrap(),
        generated.to_str().unwrap(),
        data.to_str().unwrap(),
    );
    kmapa(&[
        "gen", "--city", c, "--out", g, "--years", "2024", "--scale", "0.2", "--quiet",
    ]);
    let ops = generated.join("ops.csv");
    let ops = ops.to_str().unwrap();

    // A new data directory needs a city: none is assumed.
    let err = kmapa_fails(&["ingest", ops, "--data-dir", d]);
    assert!(
        err.contains("bound to no city yet") && err.contains("--city"),
        "{err}"
    );

    // Records of this city against the demo city: every point is outside it (its
    // district codes exist there too, so rows located by code alone would pass). The
    // command fails, says so, ingests nothing and binds nothing.
    let wrong = tmp.path().join("wrong");
    let err = kmapa_fails(&[
        "ingest",
        ops,
        "--city",
        "data/wroclaw",
        "--data-dir",
        wrong.to_str().unwrap(),
    ]);
    assert!(
        err.contains("lie outside the city") && err.contains("Nothing was ingested"),
        "{err}"
    );
    let listed = kmapa(&["batches", "--data-dir", wrong.to_str().unwrap(), "--json"]);
    assert_eq!(listed.trim(), "[]", "{listed}");
    let err = kmapa_fails(&["protect", "--data-dir", wrong.to_str().unwrap()]);
    assert!(err.contains("bound to no city yet"), "{err}");

    // The first ingest binds; protect and publish use the city without --city.
    let out = kmapa(&["ingest", ops, "--city", c, "--data-dir", d]);
    assert!(
        out.contains("bound to the city") && out.contains("psie-pole (12 districts"),
        "{out}"
    );
    kmapa(&["protect", "--data-dir", d, "--quiet"]);
    let without = tier(&data);
    let units: std::collections::BTreeSet<&str> = without["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["layer"] == "districts")
        .map(|c| c["unit"].as_str().unwrap())
        .collect();
    assert_eq!(units.len(), 12, "{units:?}");
    assert!(units.iter().all(|u| u.starts_with("PSP-")), "{units:?}");
    // The same tier as with the city given explicitly.
    kmapa(&["protect", "--data-dir", d, "--city", c, "--quiet"]);
    assert_eq!(tier(&data)["cells"], without["cells"]);
    let fingerprint = without["summary"]["city"].as_str().unwrap().to_string();

    // Another city is refused, naming both.
    for cmd in ["protect", "audit", "publish"] {
        let err = kmapa_fails(&[cmd, "--data-dir", d, "--city", "data/wroclaw"]);
        assert!(
            err.contains("psie-pole (12 districts") && err.contains("wroclaw (48 districts"),
            "{cmd}: {err}"
        );
    }
    let err = kmapa_fails(&["ingest", ops, "--data-dir", d, "--city", "data/wroclaw"]);
    assert!(err.contains("another city"), "{err}");

    // The snapshot says which city it was made from.
    kmapa(&["publish", "--data-dir", d]);
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(data.join("snapshots/000001/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["city"]["name"], "psie-pole");
    assert_eq!(manifest["city"]["fingerprint"], fingerprint.as_str());

    // Changed city files are noticed; binding again to them is explicit.
    let pop = city.join("population.csv");
    let text = std::fs::read_to_string(&pop).unwrap();
    std::fs::write(&pop, text.replacen("PSP-01,2024,", "PSP-01,2024,1", 1)).unwrap();
    let err = kmapa_fails(&["protect", "--data-dir", d]);
    assert!(
        err.contains("changed since") && err.contains("--rebind"),
        "{err}"
    );
    let err = kmapa_fails(&[
        "init",
        "--city",
        "data/wroclaw",
        "--data-dir",
        d,
        "--rebind",
    ]);
    assert!(err.contains("never another city"), "{err}");
    kmapa(&["init", "--city", c, "--data-dir", d, "--rebind"]);
    kmapa(&["protect", "--data-dir", d, "--quiet"]);
    assert_ne!(
        tier(&data)["summary"]["city"].as_str().unwrap(),
        fingerprint
    );

    // A file of which no row is accepted fails the command, after the others.
    let bad = tmp.path().join("bad.csv");
    std::fs::write(
        &bad,
        "source,person_id,year,category,district\nOPS,a,2024,povrty,PSP-01\nOPS,b,2024,povrty,PSP-02\n",
    )
    .unwrap();
    let err = kmapa_fails(&["ingest", bad.to_str().unwrap(), "--data-dir", d]);
    assert!(
        err.contains("no row was accepted") && err.contains("unknown category (2)"),
        "{err}"
    );
}

#[test]
fn districts_that_overlap_are_refused_by_validate_and_never_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let city = tmp.path().join("with-whole-city");
    second_city(&city);
    // A whole-city feature left in the file, over every district (as in a real
    // Warsaw file): a box around them all.
    let path = city.join("districts.geojson");
    let mut fc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let ring = serde_json::json!([[
        [17.9, 51.0],
        [18.3, 51.0],
        [18.3, 51.3],
        [17.9, 51.3],
        [17.9, 51.0]
    ]]);
    let whole = serde_json::json!({"type": "Feature", "properties": {"code": "ALL", "name": "Całe miasto", "parent": "PSP", "parent_name": "Psie Pole"},
        "geometry": {"type": "Polygon", "coordinates": ring}});
    fc["features"].as_array_mut().unwrap().push(whole);
    std::fs::write(&path, fc.to_string()).unwrap();
    // (without a population file: the geometry is what is checked here)
    std::fs::remove_file(city.join("population.csv")).unwrap();
    let err = kmapa_fails(&["validate", "--city", city.to_str().unwrap()]);
    assert!(err.contains("district ALL covers district PSP-01"), "{err}");
    let data = tmp.path().join("data");
    let err = kmapa_fails(&[
        "init",
        "--city",
        city.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(err.contains("ALL covers"), "{err}");
}
