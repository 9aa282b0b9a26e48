//! Every file in `data/` follows the data contract, and the generated ones are exactly
//! what the generators make from `../shared` (nothing edited by hand).

mod common;

use common::{kmapa, repo, shared};
use kmapa_geo::City;
use kmapa_model::Vocabulary;

#[test]
fn every_file_in_data_validates() {
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    assert_eq!(city.layer.districts.len(), 48);
    assert_eq!(city.layer.parents().len(), 5);
    let pop = city.population.as_ref().unwrap();
    assert_eq!(pop.total(2024), 673_531, "the real mid-2024 total (GUS)");
    assert!(pop.synthetic);
    assert_eq!(pop.years(), (2015..=2024).collect::<Vec<_>>());
    // Address points cover every district.
    let mut covered = [false; 48];
    for &d in &city.address_districts {
        covered[d] = true;
    }
    assert!(
        covered.iter().all(|c| *c),
        "a district has no address point"
    );
    let inst = city.institutions.as_ref().unwrap();
    assert!(inst.len() >= 60);
    let sectors: std::collections::HashSet<_> = inst.iter().map(|i| i.sector).collect();
    assert_eq!(sectors.len(), kmapa_model::institutions::Sector::ALL.len());
    assert!(
        city.layer
            .attribution
            .as_deref()
            .unwrap()
            .contains("OpenStreetMap")
    );
    // The command says the same.
    let out = kmapa(&["validate"]);
    assert!(
        out.contains("ok: every file follows the data contract"),
        "{out}"
    );
}

#[test]
fn vocabulary_holds_the_domain() {
    let v = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let code = |c: &str| v.get(c).unwrap_or_else(|| panic!("{c} missing"));
    assert_eq!(
        code("large_family").parent.as_deref(),
        Some("maternity_protection")
    );
    assert_eq!(
        code("single_parent_family").parent.as_deref(),
        Some("parenting_helplessness")
    );
    assert!(!code("renta").statutory);
    assert!(code("care_leaver").valid_in_year(2010) && !code("care_leaver").valid_in_year(2015));
    // Both versions of art. 49, meeting in 2014.
    assert!(
        code("under_25_0914").valid_in_year(2014) && !code("under_25_0914").valid_in_year(2015)
    );
    assert!(code("under_30").valid_in_year(2014) && !code("under_30").valid_in_year(2026));
    // The ten Kooperacja Plus layers are all mapped.
    let layers: std::collections::HashSet<_> = v
        .categories()
        .iter()
        .filter_map(|c| c.kplus_layer.as_deref())
        .collect();
    assert_eq!(layers.len(), 10, "{layers:?}");
}

#[test]
fn committed_demo_city_is_what_the_generators_make() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = shared();
    kmapa(&[
        "gen-city",
        "--boundaries",
        shared
            .join("data/wroclaw/osiedla.geojson")
            .to_str()
            .unwrap(),
        "--attributes",
        shared
            .join("data/wroclaw/osiedla-attributes.csv")
            .to_str()
            .unwrap(),
        "--out",
        tmp.path().to_str().unwrap(),
    ]);
    for name in [
        "districts.geojson",
        "population.csv",
        "addresses.csv",
        "population-grid.csv",
    ] {
        let fresh = std::fs::read(tmp.path().join(name)).unwrap();
        let committed = std::fs::read(repo().join("data/wroclaw").join(name)).unwrap();
        assert!(
            fresh == committed,
            "data/wroclaw/{name} differs from what gen-city makes"
        );
    }
    kmapa(&[
        "gen",
        "--out",
        tmp.path().join("g").to_str().unwrap(),
        "--years",
        "2024",
        "--quiet",
    ]);
    let fresh = std::fs::read(tmp.path().join("g/institutions.csv")).unwrap();
    let committed = std::fs::read(repo().join("data/wroclaw/institutions.csv")).unwrap();
    assert!(
        fresh == committed,
        "data/wroclaw/institutions.csv differs from kmapa gen's (seed 42)"
    );
}

#[test]
fn a_broken_city_is_refused_with_locations() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::copy(
        repo().join("data/wroclaw/districts.geojson"),
        dir.join("districts.geojson"),
    )
    .unwrap();
    std::fs::write(
        dir.join("population.csv"),
        "district_code,year,population\nFAB-01,2024,12 345\nXXX-99,2024,10\n",
    )
    .unwrap();
    let err = common::kmapa_fails(&["validate", "--city", dir.to_str().unwrap()]);
    assert!(
        err.contains("population.csv, line 2, column `population`, value \"12 345\""),
        "{err}"
    );
}

#[test]
fn a_population_grid_with_swapped_coordinates_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::copy(
        repo().join("data/wroclaw/districts.geojson"),
        dir.join("districts.geojson"),
    )
    .unwrap();
    // The committed grid, every row's lat and lon swapped.
    let grid = std::fs::read_to_string(repo().join("data/wroclaw/population-grid.csv")).unwrap();
    let mut swapped = String::from("lat,lon,population\n");
    for line in grid.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        swapped.push_str(&format!("{},{},{}\n", f[1], f[0], f[2]));
    }
    std::fs::write(dir.join("population-grid.csv"), swapped).unwrap();
    let err = common::kmapa_fails(&["validate", "--city", dir.to_str().unwrap()]);
    assert!(
        err.contains("population-grid.csv") && err.contains("lie outside every district"),
        "{err}"
    );
    // The committed one is accepted: it is the demo city's.
    std::fs::copy(
        repo().join("data/wroclaw/population-grid.csv"),
        dir.join("population-grid.csv"),
    )
    .unwrap();
    common::kmapa(&["validate", "--city", dir.to_str().unwrap()]);
}
