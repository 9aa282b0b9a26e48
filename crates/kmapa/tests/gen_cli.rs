//! `kmapa gen`: reproducible, complete, atomic.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{kmapa, kmapa_fails};

fn read_dir(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn gen_into(dir: &Path, seed: &str) -> BTreeMap<String, Vec<u8>> {
    kmapa(&[
        "gen",
        "--out",
        dir.to_str().unwrap(),
        "--seed",
        seed,
        "--years",
        "2022-2024",
        "--format",
        "both",
        "--quiet",
    ]);
    read_dir(dir)
}

#[test]
fn same_seed_writes_byte_identical_files_and_another_seed_different_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let a = gen_into(&tmp.path().join("a"), "7");
    let b = gen_into(&tmp.path().join("b"), "7");
    let c = gen_into(&tmp.path().join("c"), "8");
    let names: Vec<&str> = a.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "institutions.csv",
            "manifest.json",
            "ops.csv",
            "ops.parquet",
            "pup.csv",
            "pup.parquet"
        ]
    );
    assert_eq!(a, b, "same seed, same bytes");
    for name in [
        "ops.csv",
        "ops.parquet",
        "pup.csv",
        "pup.parquet",
        "institutions.csv",
    ] {
        assert_ne!(a[name], c[name], "{name} must change with the seed");
    }
}

#[test]
fn parquet_and_csv_hold_the_same_records() {
    let tmp = tempfile::tempdir().unwrap();
    let files = gen_into(tmp.path(), "11");
    let from_parquet = kmapa_ingest::read_parquet_records(&tmp.path().join("pup.parquet")).unwrap();
    // Rebuild the CSV from the Parquet batch with the CSV writer: identical bytes.
    let again = tmp.path().join("again.csv");
    let mut w: Box<dyn kmapa_model::records::RecordSink> =
        Box::new(kmapa_model::records::CsvRecordWriter::create(&again).unwrap());
    w.write_batch(&from_parquet).unwrap();
    w.finish().unwrap();
    assert_eq!(std::fs::read(&again).unwrap(), files["pup.csv"]);
}

#[test]
fn records_option_reaches_about_the_requested_size() {
    let tmp = tempfile::tempdir().unwrap();
    kmapa(&[
        "gen",
        "--out",
        tmp.path().to_str().unwrap(),
        "--records",
        "200000",
        "--quiet",
    ]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("manifest.json")).unwrap()).unwrap();
    let total = manifest["counts"]["ops_rows"].as_u64().unwrap()
        + manifest["counts"]["pup_rows"].as_u64().unwrap();
    assert!((180_000..220_000).contains(&total), "{total}");
    assert_eq!(manifest["synthetic"], true);
}

#[test]
fn bad_options_fail_clearly() {
    let err = kmapa_fails(&["gen", "--years", "2024-2015", "--out", "/tmp/never"]);
    assert!(err.contains("first year is after the last"), "{err}");
    let err = kmapa_fails(&["gen", "--city", "no/such/dir", "--out", "/tmp/never"]);
    assert!(err.contains("no/such/dir/districts.geojson"), "{err}");
}

#[test]
fn gen_city_makes_distinct_codes_takes_given_ones_and_needs_the_city_population() {
    let tmp = tempfile::tempdir().unwrap();
    // Raw boundaries with names only (the made-up city's shapes), and attributes whose
    // parent names both start "Pół…"/"Poł…" (POL).
    let mut fc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(common::repo().join("tests/fixtures/nowe-miasto/districts.geojson"))
            .unwrap(),
    )
    .unwrap();
    let mut rows = vec!["osiedle,dawna_dzielnica,kod".to_string()];
    for f in fc["features"].as_array_mut().unwrap() {
        let p = f["properties"].clone();
        let parent = if p["parent"] == "PN" {
            "Północ"
        } else {
            "Południe"
        };
        // One district keeps the code the city gives it.
        let code = if p["name"] == "Zamek" { "ZAMEK-1" } else { "" };
        rows.push(format!("{},{parent},{code}", p["name"].as_str().unwrap()));
        f["properties"] = serde_json::json!({"name": p["name"]});
    }
    let raw = tmp.path().join("raw.geojson");
    let attrs = tmp.path().join("attrs.csv");
    std::fs::write(&raw, fc.to_string()).unwrap();
    std::fs::write(&attrs, rows.join("\n") + "\n").unwrap();
    let out = tmp.path().join("city");
    let (r, a, o) = (
        raw.to_str().unwrap(),
        attrs.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    let err = kmapa_fails(&["gen-city", "--boundaries", r, "--attributes", a, "--out", o]);
    assert!(err.contains("--population-total"), "{err}");
    kmapa(&[
        "gen-city",
        "--boundaries",
        r,
        "--attributes",
        a,
        "--out",
        o,
        "--population-total",
        "52000",
        "--address-points",
        "500",
    ]);
    let made: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("districts.geojson")).unwrap()).unwrap();
    let props: Vec<&serde_json::Value> = made["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["properties"])
        .collect();
    let parents: std::collections::BTreeMap<&str, &str> = props
        .iter()
        .map(|p| {
            (
                p["parent_name"].as_str().unwrap(),
                p["parent"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(parents["Północ"], "POL", "{parents:?}");
    assert_eq!(parents["Południe"], "PO2", "{parents:?}");
    assert!(props.iter().any(|p| p["code"] == "ZAMEK-1"), "{props:?}");
    // The synthetic populations add up to the city's residents.
    let pop = std::fs::read_to_string(out.join("population.csv")).unwrap();
    let total: u64 = pop
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(1) == Some("2024"))
        .map(|l| l.split(',').nth(2).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 52_000);
    kmapa(&["validate", "--city", o]);

    // The city's own population, by district name: used as it is, not synthetic.
    let own = tmp.path().join("ludnosc.csv");
    let mut text = String::from("osiedle,year,population\n");
    for (i, p) in props.iter().enumerate() {
        text.push_str(&format!(
            "{},2024,{}\n",
            p["name"].as_str().unwrap(),
            1000 + i
        ));
    }
    std::fs::write(&own, &text).unwrap();
    let out2 = tmp.path().join("city2");
    let o2 = out2.to_str().unwrap();
    let args = |pop: &str| {
        vec![
            "gen-city".to_string(),
            "--boundaries".into(),
            r.into(),
            "--attributes".into(),
            a.into(),
            "--out".into(),
            o2.into(),
            "--population".into(),
            pop.into(),
            "--address-points".into(),
            "300".into(),
        ]
    };
    let own_s = own.to_str().unwrap().to_string();
    kmapa(&args(&own_s).iter().map(String::as_str).collect::<Vec<_>>());
    let pop = std::fs::read_to_string(out2.join("population.csv")).unwrap();
    assert!(pop.lines().skip(1).all(|l| l.ends_with(",false")), "{pop}");
    let zamek = pop
        .lines()
        .find(|l| l.starts_with("ZAMEK-1,2024,"))
        .unwrap();
    let i = props.iter().position(|p| p["name"] == "Zamek").unwrap();
    assert_eq!(zamek, format!("ZAMEK-1,2024,{},false", 1000 + i));
    // A district missing from it is refused by name.
    std::fs::write(
        &own,
        text.lines()
            .filter(|l| !l.starts_with("Wyspa"))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n",
    )
    .unwrap();
    let err = kmapa_fails(&args(&own_s).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(err.contains("no population for Wyspa"), "{err}");
}
