//! Reads generated data back (from the CSV files the generator writes, as a user would)
//! and checks the properties the generator promises: uneven districts, small cells for
//! rare categories, people with several reasons, in several years, in both registers.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use kmapa_geo::City;
use kmapa_model::Vocabulary;
use kmapa_model::records::{CsvRecordWriter, RecordSink};
use kmapa_synth::{GenOptions, LocationMode, generate};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn demo_city() -> (City, Vocabulary) {
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    (city, vocabulary)
}

struct Row {
    person: String,
    household: String,
    year: i32,
    category: String,
    lat: Option<f64>,
    lon: Option<f64>,
    district: String,
}

fn write_and_read(generated: &kmapa_synth::Generated, dir: &Path) -> (Vec<Row>, Vec<Row>) {
    let mut out = Vec::new();
    for source in kmapa_model::Source::ALL {
        let path = dir.join(format!("{}.csv", source.code()));
        let mut w: Box<dyn RecordSink> = Box::new(CsvRecordWriter::create(&path).unwrap());
        for b in generated.batches(source, 100_000) {
            w.write_batch(&b).unwrap();
        }
        w.finish().unwrap();
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let headers = reader.headers().unwrap().clone();
        let col = |n: &str| headers.iter().position(|h| h == n).unwrap();
        let (p, h, y, c, la, lo, d, src, syn) = (
            col("person_id"),
            col("household_id"),
            col("year"),
            col("category"),
            col("lat"),
            col("lon"),
            col("district"),
            col("source"),
            col("synthetic"),
        );
        let mut rows = Vec::new();
        for r in reader.records() {
            let r = r.unwrap();
            assert_eq!(&r[src], source.code());
            assert_eq!(&r[syn], "true", "every generated row says it is synthetic");
            rows.push(Row {
                person: r[p].to_string(),
                household: r[h].to_string(),
                year: r[y].parse().unwrap(),
                category: r[c].to_string(),
                lat: r[la].parse().ok(),
                lon: r[lo].parse().ok(),
                district: r[d].to_string(),
            });
        }
        out.push(rows);
    }
    let pup = out.pop().unwrap();
    let ops = out.pop().unwrap();
    (ops, pup)
}

#[test]
fn generated_data_has_the_hard_cases() {
    let (city, vocabulary) = demo_city();
    let generated = generate(&city, &vocabulary, &GenOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ops, pup) = write_and_read(&generated, dir.path());
    assert!(
        ops.len() > 100_000 && pup.len() > 50_000,
        "{} {}",
        ops.len(),
        pup.len()
    );

    // Locate every record as the ingest will: coordinates through the district index,
    // district-only records by code.
    let code_ix: HashMap<&str, usize> = city
        .layer
        .districts
        .iter()
        .enumerate()
        .map(|(i, d)| (d.code.as_str(), i))
        .collect();
    let district_of = |r: &Row| -> usize {
        match (r.lat, r.lon) {
            (Some(lat), Some(lon)) => city.index.locate(lon, lat).expect("inside the city"),
            _ => code_ix[r.district.as_str()],
        }
    };

    // 1. Per-district counts vary widely: distinct OPS persons per district in 2024,
    //    and per 1,000 residents.
    let mut persons: Vec<HashSet<&str>> = vec![HashSet::new(); city.layer.districts.len()];
    for r in ops.iter().filter(|r| r.year == 2024) {
        persons[district_of(r)].insert(&r.person);
    }
    let counts: Vec<usize> = persons.iter().map(HashSet::len).collect();
    let (min, max) = (*counts.iter().min().unwrap(), *counts.iter().max().unwrap());
    assert!(max >= 15 * min.max(1), "districts too even: {min}..{max}");
    let pop = city.population.as_ref().unwrap();
    let rates: Vec<f64> = city
        .layer
        .districts
        .iter()
        .zip(&counts)
        .map(|(d, &c)| c as f64 * 1000.0 / pop.get(&d.code, 2024).unwrap() as f64)
        .collect();
    let (rmin, rmax) = rates
        .iter()
        .fold((f64::MAX, 0.0f64), |(a, b), &r| (a.min(r), b.max(r)));
    assert!(
        rmax > 4.0 * rmin,
        "rates too even: {rmin:.1}..{rmax:.1} per 1,000"
    );

    // 2. Rare categories: a real share of (district, category, year) cells is 1..9.
    let rare = [
        "homelessness",
        "domestic_violence",
        "post_prison",
        "drug_addiction",
        "refugee_integration",
        "orphanhood",
        "random_event",
        "crisis_situation",
        "natural_disaster",
        "trafficking_victim",
    ];
    let mut cells: HashMap<(usize, &str, i32), HashSet<&str>> = HashMap::new();
    for r in ops.iter().filter(|r| rare.contains(&r.category.as_str())) {
        cells
            .entry((district_of(r), r.category.as_str(), r.year))
            .or_default()
            .insert(&r.person);
    }
    let all_cells = city.layer.districts.len() * rare.len() * 10;
    let small = cells
        .values()
        .filter(|p| (1..=9).contains(&p.len()))
        .count();
    let share = small as f64 / all_cells as f64;
    assert!(
        share > 0.25,
        "only {small} of {all_cells} rare cells are 1..9"
    );
    let empty = all_cells - cells.len();
    assert!(empty > 0, "some rare cells must be empty too");

    // 3. People with several reasons in one year (family reasons reach every member).
    let mut reasons: HashMap<(&str, i32), HashSet<&str>> = HashMap::new();
    for r in &ops {
        reasons
            .entry((&r.person, r.year))
            .or_default()
            .insert(&r.category);
    }
    let multi = reasons.values().filter(|c| c.len() > 1).count();
    assert!(
        multi as f64 > 0.2 * reasons.len() as f64,
        "{multi} of {}",
        reasons.len()
    );
    // Families: several persons under one household id.
    let mut members: HashMap<&str, HashSet<&str>> = HashMap::new();
    for r in &ops {
        members.entry(&r.household).or_default().insert(&r.person);
    }
    assert!(members.values().any(|m| m.len() >= 5));

    // 4. People in several years, in both registers.
    let mut years: HashMap<&str, HashSet<i32>> = HashMap::new();
    for r in ops.iter().chain(&pup) {
        years.entry(&r.person).or_default().insert(r.year);
    }
    let recurring = years.values().filter(|y| y.len() > 1).count();
    assert!(recurring as f64 > 0.2 * years.len() as f64);
    assert!(years.values().any(|y| y.len() >= 5));
    let ops_people: HashSet<&str> = ops.iter().map(|r| r.person.as_str()).collect();
    let both = pup
        .iter()
        .filter(|r| ops_people.contains(r.person.as_str()))
        .map(|r| r.person.as_str())
        .collect::<HashSet<_>>();
    assert!(
        both.len() > 1000,
        "{} persons in both registers",
        both.len()
    );
    // ...and the PUP row says so where the law's group exists.
    assert!(
        pup.iter()
            .any(|r| r.category == "social_assistance_recipient"
                && ops.iter().any(|o| o.person == r.person && o.year == r.year))
    );

    // 5. Calibration: registered unemployed 2024 about 1 % of residents (6.6 thousand
    //    in Wrocław), persons in assisted households a few per cent.
    let total_2024 = pop.total(2024) as f64;
    let unemployed: HashSet<&str> = pup
        .iter()
        .filter(|r| r.year == 2024)
        .map(|r| r.person.as_str())
        .collect();
    let u = unemployed.len() as f64 / total_2024;
    assert!((0.008..0.012).contains(&u), "unemployed share {u}");
    let assisted: usize = counts.iter().sum();
    let a = assisted as f64 / total_2024;
    assert!((0.02..0.05).contains(&a), "assisted share {a}");

    // 6. Every category is valid for its source and year.
    for (rows, source) in [
        (&ops, kmapa_model::Source::Ops),
        (&pup, kmapa_model::Source::Pup),
    ] {
        for r in rows.iter() {
            let c = vocabulary.get(&r.category).unwrap();
            assert_eq!(c.source, source);
            assert!(c.valid_in_year(r.year), "{} in {}", r.category, r.year);
        }
    }
}

#[test]
fn address_and_district_modes_write_what_clerks_type() {
    let (city, vocabulary) = demo_city();
    let opts = GenOptions {
        years: 2024..=2024,
        location: LocationMode::Mixed,
        ..GenOptions::default()
    };
    let generated = generate(&city, &vocabulary, &opts).unwrap();
    let batch = generated
        .batches(kmapa_model::Source::Ops, usize::MAX)
        .next()
        .unwrap();
    let n = batch.len() as f64;
    let with_address = batch.address.iter().filter(|a| a.is_some()).count() as f64;
    let with_coords = batch.lat.iter().filter(|a| a.is_some()).count() as f64;
    let with_district = batch.district.iter().filter(|a| a.is_some()).count() as f64;
    assert!((0.15..0.35).contains(&(with_address / n)));
    assert!((0.55..0.8).contains(&(with_coords / n)));
    assert!(with_district > 0.0);
    // Exactly one location form per row.
    for i in 0..batch.len() {
        let forms = usize::from(batch.lat[i].is_some())
            + usize::from(batch.address[i].is_some())
            + usize::from(batch.district[i].is_some());
        assert_eq!(forms, 1);
    }
    // Some addresses carry flat numbers or lower-case letters, as exports do.
    assert!(batch.address.iter().flatten().any(|a| a.contains('/')));
    assert!(
        batch
            .address
            .iter()
            .flatten()
            .any(|a| a.chars().all(|c| !c.is_lowercase()))
    );
}

#[test]
fn same_seed_same_records_different_seed_different() {
    let (city, vocabulary) = demo_city();
    let opts = GenOptions {
        years: 2023..=2024,
        ..GenOptions::default()
    };
    let a = generate(&city, &vocabulary, &opts).unwrap();
    let b = generate(&city, &vocabulary, &opts).unwrap();
    let c = generate(
        &city,
        &vocabulary,
        &GenOptions {
            seed: 43,
            ..opts.clone()
        },
    )
    .unwrap();
    let first = |g: &kmapa_synth::Generated| {
        g.batches(kmapa_model::Source::Ops, usize::MAX)
            .next()
            .unwrap()
    };
    assert_eq!(first(&a), first(&b));
    assert_ne!(first(&a), first(&c));
}

#[test]
fn any_contract_city_works_without_population_or_addresses() {
    let dir = tempfile::tempdir().unwrap();
    // Two 1 km-ish squares, nothing but the district layer.
    std::fs::write(
        dir.path().join("districts.geojson"),
        r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","properties":{"code":"A","name":"West"},
           "geometry":{"type":"Polygon","coordinates":[[[20.0,50.0],[20.014,50.0],[20.014,50.009],[20.0,50.009],[20.0,50.0]]]}},
          {"type":"Feature","properties":{"code":"B","name":"East"},
           "geometry":{"type":"Polygon","coordinates":[[[20.014,50.0],[20.028,50.0],[20.028,50.009],[20.014,50.009],[20.014,50.0]]]}}
        ]}"#,
    )
    .unwrap();
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(dir.path(), &vocabulary).unwrap();
    let opts = GenOptions {
        years: 2024..=2024,
        scale: 20.0,
        ..GenOptions::default()
    };
    let generated = generate(&city, &vocabulary, &opts).unwrap();
    assert!(!generated.is_empty());
    let batch = generated
        .batches(kmapa_model::Source::Ops, usize::MAX)
        .next()
        .unwrap();
    for i in 0..batch.len() {
        match (batch.lat[i], batch.lon[i]) {
            (Some(lat), Some(lon)) => assert!(city.index.locate(lon, lat).is_some()),
            _ => assert!(batch.district[i].is_some()),
        }
    }
    let institutions = kmapa_synth::institutions::generate(&city, 1);
    assert!(institutions.len() >= 60);
    assert!(
        institutions
            .iter()
            .all(|i| city.index.locate(i.lon, i.lat).is_some())
    );
}
