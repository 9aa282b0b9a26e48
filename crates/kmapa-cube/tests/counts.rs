//! The cube's counts against a naive recount of the same ingested records.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use h3o::{CellIndex, Resolution};
use kmapa_cube::{CubeBuilder, Group, Level, Measure, Unit};
use kmapa_geo::City;
use kmapa_ingest::{IngestContext, IngestOptions, Store, ingest_file};
use kmapa_model::records::Sex;
use kmapa_model::records::{CsvRecordWriter, RecordSink};
use kmapa_model::{Source, Vocabulary};
use kmapa_protect::PublicStatus;
use kmapa_protect::ckm::{CellKey, RecordKey};
use kmapa_protect::policy::Breakdown;
use polars::prelude::{DataType, ParquetWriter};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const SECRET: &[u8] = b"cube-test-secret";

/// A category's index in the vocabulary.
fn category(vocabulary: &Vocabulary, code: &str) -> u16 {
    vocabulary
        .categories()
        .iter()
        .position(|c| c.code == code)
        .unwrap() as u16
}

/// Ingests CSV files into a store under `dir` as a user would (no row rejected), and
/// returns its batch files.
fn ingest(vocabulary: &Vocabulary, city: &City, dir: &Path, csvs: &[PathBuf]) -> Vec<PathBuf> {
    let mut store = Store::open_for_writing(&dir.join("store")).unwrap();
    let ctx = IngestContext::new(vocabulary, city);
    for csv in csvs {
        let s = ingest_file(&mut store, csv, &ctx, &IngestOptions::default(), &|_, _| {}).unwrap();
        assert_eq!(s.rows_rejected, 0, "{}", csv.display());
    }
    store.active_record_files().unwrap()
}

#[test]
fn cube_counts_match_a_naive_recount() {
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Synthetic records, mixed locations, ingested as a user would.
    let generated = kmapa_synth::generate(
        &city,
        &vocabulary,
        &kmapa_synth::GenOptions {
            years: 2023..=2024,
            location: kmapa_synth::LocationMode::Mixed,
            ..Default::default()
        },
    )
    .unwrap();
    let mut csvs = Vec::new();
    for source in Source::ALL {
        let path = dir.path().join(format!("{}.csv", source.code()));
        let mut w: Box<dyn RecordSink> = Box::new(CsvRecordWriter::create(&path).unwrap());
        for b in generated.batches(source, 100_000) {
            w.write_batch(&b).unwrap();
        }
        w.finish().unwrap();
        csvs.push(path);
    }
    let files = ingest(&vocabulary, &city, dir.path(), &csvs);
    let mut builder = CubeBuilder::new(&vocabulary, &city.layer, SECRET);
    for f in &files {
        builder.add_batch(f).unwrap();
    }
    let cube = builder.build();
    // Batches as written before the coded columns (text, no lists in the metadata).
    let text_files: Vec<PathBuf> = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let stored = kmapa_ingest::batch::read_stored(f, None, None).unwrap();
            assert_eq!(
                stored.column("category").unwrap().dtype(),
                &DataType::UInt32
            );
            let mut df = kmapa_ingest::batch::read(f, None, None).unwrap();
            assert_eq!(df.column("category").unwrap().dtype(), &DataType::String);
            let p = dir.path().join(format!("text-{i}.parquet"));
            ParquetWriter::new(std::fs::File::create(&p).unwrap())
                .finish(&mut df)
                .unwrap();
            p
        })
        .collect();
    // However persons are split between workers and batches are sliced, the counts
    // and their cell keys are the same; and the same from text batches.
    for (shards, slice, text) in [(1, 1 << 20, false), (3, 777, false), (2, 5000, true)] {
        let mut b = CubeBuilder::new(&vocabulary, &city.layer, SECRET).with_layout(shards, slice);
        // All batches at once (room made first), as `kmapa protect` adds them.
        if text {
            b.add_batches(&text_files).unwrap();
        } else {
            b.add_batches(&files).unwrap();
        }
        let other = b.build();
        assert_eq!(other.facts(), cube.facts());
        for level in [
            Level::City,
            Level::Districts,
            Level::Hexagons(Resolution::Nine),
        ] {
            assert_eq!(
                other.counts(level, None),
                cube.counts(level, None),
                "{shards} shards"
            );
            for source in Source::ALL {
                assert_eq!(other.totals(level, source), cube.totals(level, source));
            }
        }
    }

    // Naive recount from the same Parquet files.
    let code_ix: HashMap<String, u16> = vocabulary
        .categories()
        .iter()
        .enumerate()
        .map(|(i, c)| (c.code.clone(), i as u16))
        .collect();
    let dist_ix: HashMap<String, u16> = city
        .layer
        .districts
        .iter()
        .enumerate()
        .map(|(i, d)| (d.code.clone(), i as u16))
        .collect();
    let mut by_district: HashMap<(u16, u16, u16), HashSet<String>> = HashMap::new();
    let mut by_hex: HashMap<(u64, u16, u16), HashSet<String>> = HashMap::new();
    let mut by_city: HashMap<(u16, u16), HashSet<String>> = HashMap::new();
    let mut any_ops: HashMap<(u16, u16), HashSet<String>> = HashMap::new();
    let mut women: HashMap<(u16, u16, u16), HashSet<String>> = HashMap::new();
    for f in &files {
        let df = kmapa_ingest::batch::read(f, None, None).unwrap();
        let p = df.column("person_id").unwrap().str().unwrap().clone();
        let y = df.column("year").unwrap().i32().unwrap().clone();
        let c = df.column("category").unwrap().str().unwrap().clone();
        let d = df.column("district").unwrap().str().unwrap().clone();
        let h = df.column("h3").unwrap().u64().unwrap().clone();
        let sex = df.column("sex").unwrap().str().unwrap().clone();
        for i in 0..df.height() {
            let person = p.get(i).unwrap().to_string();
            let year = y.get(i).unwrap() as u16;
            let district = dist_ix[d.get(i).unwrap()];
            let code = c.get(i).unwrap();
            if vocabulary.get(code).unwrap().source == Source::Ops {
                any_ops
                    .entry((district, year))
                    .or_default()
                    .insert(person.clone());
            }
            for cat in vocabulary.ancestors_and_self(code) {
                let ci = code_ix[&cat.code];
                if sex.get(i) == Some("K") {
                    women
                        .entry((district, ci, year))
                        .or_default()
                        .insert(person.clone());
                }
                by_district
                    .entry((district, ci, year))
                    .or_default()
                    .insert(person.clone());
                by_city
                    .entry((ci, year))
                    .or_default()
                    .insert(person.clone());
                if let Some(cell) = h.get(i) {
                    let hex = u64::from(
                        CellIndex::try_from(cell)
                            .unwrap()
                            .parent(Resolution::Eight)
                            .unwrap(),
                    );
                    by_hex
                        .entry((hex, ci, year))
                        .or_default()
                        .insert(person.clone());
                }
            }
        }
    }

    let districts = cube.counts(Level::Districts, None);
    assert_eq!(districts.len(), by_district.len());
    for c in &districts {
        let (Unit::District(d), Measure::Category(cat)) = (c.unit, c.measure) else {
            panic!()
        };
        assert_eq!(c.persons as usize, by_district[&(d, cat, c.year)].len());
    }
    let hexes = cube.counts(Level::Hexagons(Resolution::Eight), None);
    assert_eq!(hexes.len(), by_hex.len());
    for c in &hexes {
        let (Unit::Hex(h), Measure::Category(cat)) = (c.unit, c.measure) else {
            panic!()
        };
        assert_eq!(c.persons as usize, by_hex[&(h, cat, c.year)].len());
    }
    // Districts add up to parents and to the city, exactly; hexagons to at most the city.
    let city_counts = cube.counts(Level::City, None);
    let parents = cube.counts(Level::Parents, None);
    for c in &city_counts {
        let Measure::Category(cat) = c.measure else {
            panic!()
        };
        assert_eq!(c.persons as usize, by_city[&(cat, c.year)].len());
        let sum_d: u32 = districts
            .iter()
            .filter(|d| d.measure == c.measure && d.year == c.year)
            .map(|d| d.persons)
            .sum();
        let sum_p: u32 = parents
            .iter()
            .filter(|d| d.measure == c.measure && d.year == c.year)
            .map(|d| d.persons)
            .sum();
        let sum_h: u32 = hexes
            .iter()
            .filter(|d| d.measure == c.measure && d.year == c.year)
            .map(|d| d.persons)
            .sum();
        assert_eq!((sum_d, sum_p), (c.persons, c.persons));
        assert!(sum_h <= c.persons);
        // The cell key of the city is the key of exactly these people.
        let naive_key = CellKey::of(
            by_city[&(cat, c.year)]
                .iter()
                .map(|p| RecordKey::of(SECRET, p)),
        );
        assert_eq!(c.key, naive_key);
    }
    // Sub-rows are counted in their parents.
    let count = |code: &str, year: u16| -> u32 {
        let ci = code_ix[code];
        city_counts
            .iter()
            .find(|c| c.measure == Measure::Category(ci) && c.year == year)
            .map_or(0, |c| c.persons)
    };
    assert!(count("maternity_protection", 2024) >= count("large_family", 2024));
    assert!(count("large_family", 2024) > 0);
    assert_eq!(
        count("unemployed_registered", 2024),
        by_city[&(code_ix["unemployed_registered"], 2024)].len() as u32
    );
    // Breakdowns: women counted as a naive recount does, and every breakdown adds up to
    // everyone in every unit.
    let female = cube.group_counts(Level::Districts, None, Group::Sex(Some(Sex::Female)));
    assert_eq!(female.len(), women.len());
    for c in &female {
        let (Unit::District(d), Measure::Category(cat)) = (c.unit, c.measure) else {
            panic!()
        };
        assert_eq!(c.persons as usize, women[&(d, cat, c.year)].len());
    }
    for dimension in [Breakdown::Sex, Breakdown::AgeBand] {
        let mut sum: HashMap<(Unit, Measure, u16), u32> = HashMap::new();
        for g in Group::of(dimension) {
            for c in cube.group_counts(Level::Hexagons(Resolution::Eight), None, g) {
                *sum.entry((c.unit, c.measure, c.year)).or_default() += c.persons;
            }
        }
        assert_eq!(sum.len(), hexes.len());
        for c in &hexes {
            assert_eq!(
                sum[&(c.unit, c.measure, c.year)],
                c.persons,
                "{dimension:?}"
            );
        }
    }
    // Unit totals are distinct persons, not sums of categories.
    for t in cube.totals(Level::Districts, Source::Ops) {
        let Unit::District(d) = t.unit else { panic!() };
        assert_eq!(t.persons as usize, any_ops[&(d, t.year)].len());
        let sum: u32 = districts
            .iter()
            .filter(|c| c.unit == t.unit && c.year == t.year)
            .filter(|c| matches!(c.measure, Measure::Category(k) if vocabulary.categories()[k as usize].source == Source::Ops && vocabulary.categories()[k as usize].parent.is_none()))
            .map(|c| c.persons)
            .sum();
        assert!(t.persons <= sum);
    }
    // The analyst tier's one-year totals count the same distinct persons, with the
    // cell key of exactly those persons.
    for year in [2023, 2024] {
        let counts = cube.total_counts(Level::Districts, Source::Ops, year, Group::All);
        assert!(!counts.is_empty());
        for t in counts {
            let Unit::District(d) = t.unit else { panic!() };
            let people = &any_ops[&(d, year)];
            assert_eq!(t.persons as usize, people.len());
            assert_eq!(
                t.key,
                CellKey::of(people.iter().map(|p| RecordKey::of(SECRET, p)))
            );
        }
    }
    // A filtered query returns the same numbers as the full one.
    let cat = code_ix["poverty"];
    let one = cube.counts(Level::Districts, Some((cat, 2024)));
    let from_all: Vec<_> = districts
        .iter()
        .filter(|c| c.measure == Measure::Category(cat) && c.year == 2024)
        .copied()
        .collect();
    assert_eq!(one, from_all);
}

#[test]
fn analyst_queries_are_perturbed_consistently() {
    use kmapa_protect::ckm::{PTable, PTableParams};
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    let generated = kmapa_synth::generate(
        &city,
        &vocabulary,
        &kmapa_synth::GenOptions {
            years: 2024..=2024,
            ..Default::default()
        },
    )
    .unwrap();
    let mut b = CubeBuilder::new(&vocabulary, &city.layer, SECRET);
    let mut binner = kmapa_geo::Binner::new(&city.layer, &city.index, Resolution::Ten);
    for batch in generated.batches(Source::Ops, usize::MAX) {
        assert_eq!(b.add_located(&batch, &mut binner), batch.len() as u64);
    }
    let cube = b.build();
    let ptable = PTable::generate(PTableParams {
        max_noise: 3,
        variance: 2.0,
        js: 2,
    });
    let cat = cube
        .category_codes
        .iter()
        .position(|c| c == "homelessness")
        .unwrap() as u16;
    let first = cube.analyst_query(Level::Districts, cat, 2024, Group::All, &ptable, 10);
    let again = cube.analyst_query(Level::Districts, cat, 2024, Group::All, &ptable, 10);
    assert_eq!(first, again, "the same query gives the same answer");
    let truth = cube.counts(Level::Districts, Some((cat, 2024)));
    let mut perturbed = 0;
    for (a, t) in first.iter().zip(&truth) {
        assert_eq!(a.unit, t.unit);
        match a.value {
            Some(v) => {
                assert!((v as i64 - i64::from(t.persons)).abs() <= 3);
                assert_eq!(v, ptable.perturb(u64::from(t.persons), t.key));
                assert!(v >= 10, "shown values are at least the threshold");
                if v != u64::from(t.persons) {
                    perturbed += 1;
                }
            }
            None => {
                assert_eq!(a.status, PublicStatus::Hidden);
                assert!(ptable.perturb(u64::from(t.persons), t.key) < 10);
            }
        }
    }
    assert!(perturbed > 0, "some counts must actually move");
    // Totals are perturbed too.
    let city_total = cube.analyst_query(Level::City, cat, 2024, Group::All, &ptable, 10);
    assert_eq!(city_total.len(), 1);
    assert_eq!(city_total[0].status, PublicStatus::Perturbed);
}

#[test]
fn a_person_who_moves_within_a_year_is_counted_where_first_seen() {
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    let (a, b) = (&city.layer.districts[0].code, &city.layer.districts[1].code);
    let mut builder = CubeBuilder::new(&vocabulary, &city.layer, SECRET);
    // First seen in A with poverty; later, in B, a single-parent family (a sub-row of
    // parenting_helplessness) and the parent row itself.
    assert!(builder.add("p1", 2024, "poverty", a, None, None, None));
    assert!(builder.add("p1", 2024, "single_parent_family", b, None, None, None));
    assert!(builder.add("p2", 2024, "parenting_helplessness", b, None, None, None));
    // Next year p1 is first seen in B.
    assert!(builder.add("p1", 2025, "disability", b, None, None, None));
    let cube = builder.build();
    let ix = |code: &str| category(&vocabulary, code);
    let at = |unit: u16, code: &str, year: u16| {
        cube.counts(Level::Districts, Some((ix(code), year)))
            .iter()
            .find(|c| c.unit == Unit::District(unit))
            .map_or(0, |c| c.persons)
    };
    assert_eq!(at(0, "single_parent_family", 2024), 1);
    assert_eq!(at(0, "parenting_helplessness", 2024), 1);
    assert_eq!(at(1, "single_parent_family", 2024), 0);
    assert_eq!(at(1, "parenting_helplessness", 2024), 1);
    assert_eq!(at(1, "disability", 2025), 1);
    // The unit total places the person in the same district.
    let totals = cube.totals(Level::Districts, Source::Ops);
    let total = |unit: u16, year: u16| {
        totals
            .iter()
            .find(|c| c.unit == Unit::District(unit) && c.year == year)
            .map_or(0, |c| c.persons)
    };
    assert_eq!((total(0, 2024), total(1, 2024), total(1, 2025)), (1, 1, 1));
}

#[test]
fn the_analyst_tier_answers_from_atoms_as_from_the_records() {
    // The server answers analysts from per-atom counts and cell keys written to the
    // snapshot, not from records: every answer must be the one the records give.
    use kmapa_cube::analyst::CubeAnalyst;
    use kmapa_cube::atoms::AnalystAtoms;
    use kmapa_protect::ckm::PTable;
    use kmapa_protect::output::{Analyst, LayerKind};
    use kmapa_protect::policy::AnalystTier;
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    let generated = kmapa_synth::generate(
        &city,
        &vocabulary,
        &kmapa_synth::GenOptions {
            years: 2023..=2024,
            location: kmapa_synth::LocationMode::Mixed,
            ..Default::default()
        },
    )
    .unwrap();
    let mut b = CubeBuilder::new(&vocabulary, &city.layer, SECRET);
    let mut binner = kmapa_geo::Binner::new(&city.layer, &city.index, Resolution::Ten);
    for source in Source::ALL {
        for batch in generated.batches(source, usize::MAX) {
            b.add_located(&batch, &mut binner);
        }
    }
    let cube = b.build();
    let tier = AnalystTier::default();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("analyst-atoms.bin");
    let built = AnalystAtoms::build(&cube, &tier);
    built.write(&file).unwrap();
    let atoms = AnalystAtoms::read(&file).unwrap();
    assert_eq!(atoms, built, "the file round-trips");
    let analyst = CubeAnalyst::new(atoms, tier.clone(), &[]);
    let ptable = PTable::generate(tier.ckm.into());
    let code = |u: Unit| match u {
        Unit::City => "city".to_string(),
        Unit::Parent(p) => cube.parent_codes[p as usize].clone(),
        Unit::District(d) => cube.district_codes[d as usize].clone(),
        Unit::Hex(h) => format!("{h:x}"),
    };
    let mut compared = 0;
    let mut shown = 0;
    for (layer, level) in [
        (LayerKind::City, Level::City),
        (LayerKind::Parents, Level::Parents),
        (LayerKind::Districts, Level::Districts),
        (LayerKind::H3(7), Level::Hexagons(Resolution::Seven)),
        (LayerKind::H3(9), Level::Hexagons(Resolution::Nine)),
    ] {
        for (measure, name) in [
            (
                Measure::Category(
                    cube.category_codes
                        .iter()
                        .position(|c| c == "poverty")
                        .unwrap() as u16,
                ),
                "poverty",
            ),
            (
                Measure::Category(
                    cube.category_codes
                        .iter()
                        .position(|c| c == "homelessness")
                        .unwrap() as u16,
                ),
                "homelessness",
            ),
            (Measure::AnyOf(Source::Ops), "any_ops"),
            (Measure::AnyOf(Source::Pup), "any_pup"),
        ] {
            for year in [2023u16, 2024] {
                let groups: &[&str] = if matches!(layer, LayerKind::H3(_)) {
                    &["all"]
                } else {
                    &["all", "sex=M", "sex=unknown", "age=65+"]
                };
                for &group in groups {
                    let g = Group::parse(group).unwrap();
                    let from_records: HashMap<String, (Option<u64>, PublicStatus)> = cube
                        .analyst_measure_query(level, measure, year, g, &ptable, tier.threshold)
                        .into_iter()
                        .map(|a| (code(a.unit), (a.value, a.status)))
                        .collect();
                    let answers = analyst.query(layer, name, year, group).unwrap();
                    for a in &answers {
                        let want = from_records
                            .get(&a.unit)
                            .copied()
                            .unwrap_or((None, PublicStatus::Hidden));
                        assert_eq!(
                            (a.value, a.status),
                            want,
                            "{name} {year} {group} {}",
                            a.unit
                        );
                        compared += 1;
                        shown += usize::from(a.value.is_some());
                    }
                    // Every unit the records count is answered.
                    let listed: HashSet<&str> = answers.iter().map(|a| a.unit.as_str()).collect();
                    for u in from_records.keys() {
                        assert!(
                            listed.contains(u.as_str()),
                            "{name} {year} {group}: {u} missing"
                        );
                    }
                }
            }
        }
    }
    assert!(
        compared > 10_000 && shown > 1_000,
        "{compared} answers, {shown} shown"
    );
}

#[test]
fn a_household_is_counted_once_where_its_first_record_of_the_year_places_it() {
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    let (a, b) = (&city.layer.districts[0].code, &city.layer.districts[1].code);
    let ix = |code: &str| {
        Measure::Category(
            vocabulary
                .categories()
                .iter()
                .position(|c| c.code == code)
                .unwrap() as u16,
        )
    };
    // However persons are split between workers, the same households and places.
    for shards in [1, 2, 3] {
        let mut builder =
            CubeBuilder::new(&vocabulary, &city.layer, SECRET).with_layout(shards, 1 << 20);
        // H1: p1 first (in A), then p2 in B: both counted in A, the household once.
        assert!(builder.add_member("p1", Some("H1"), 2024, "poverty", a, None, None, None));
        assert!(builder.add_member("p2", Some("H1"), 2024, "disability", b, None, None, None));
        assert!(builder.add_member("p2", Some("H1"), 2024, "poverty", b, None, None, None));
        // p3 names no household: a household of their own, in A.
        assert!(builder.add("p3", 2024, "poverty", a, None, None, None));
        // H2: two members in B.
        assert!(builder.add_member("p4", Some("H2"), 2024, "poverty", b, None, None, None));
        assert!(builder.add_member("p5", Some("H2"), 2024, "poverty", b, None, None, None));
        // p6's first record names no household, a later one H2: p6 is in H2, in B.
        assert!(builder.add("p6", 2024, "disability", a, None, None, None));
        assert!(builder.add_member("p6", Some("H2"), 2024, "disability", a, None, None, None));
        // In 2023 H1's first record is p2's, in B.
        assert!(builder.add_member("p2", Some("H1"), 2023, "poverty", b, None, None, None));
        assert!(builder.add_member("p1", Some("H1"), 2023, "poverty", a, None, None, None));
        let cube = builder.build();
        let households = |m: Measure, year: u16| -> Vec<(Unit, u32)> {
            cube.household_counts(Level::Districts, m, year)
        };
        let (da, db) = (Unit::District(0), Unit::District(1));
        assert_eq!(
            households(ix("poverty"), 2024),
            [(da, 2), (db, 1)],
            "{shards} shards"
        );
        assert_eq!(households(ix("disability"), 2024), [(da, 1), (db, 1)]);
        assert_eq!(
            households(Measure::AnyOf(Source::Ops), 2024),
            [(da, 2), (db, 1)]
        );
        assert_eq!(households(ix("poverty"), 2023), [(db, 1)]);
        assert_eq!(
            cube.household_counts(Level::City, ix("poverty"), 2024),
            [(Unit::City, 3)]
        );
        // Persons are counted where their household is.
        let persons = |m: u16, year: u16| -> Vec<(Unit, u32)> {
            cube.counts(Level::Districts, Some((m, year)))
                .iter()
                .map(|c| (c.unit, c.persons))
                .collect()
        };
        let Measure::Category(poverty) = ix("poverty") else {
            unreachable!()
        };
        let Measure::Category(disability) = ix("disability") else {
            unreachable!()
        };
        assert_eq!(persons(poverty, 2024), [(da, 3), (db, 2)]);
        assert_eq!(persons(disability, 2024), [(da, 1), (db, 1)]);
        assert_eq!(persons(poverty, 2023), [(db, 2)]);
    }
}

#[test]
fn generated_households_never_outnumber_their_persons_and_add_up() {
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    let generated = kmapa_synth::generate(
        &city,
        &vocabulary,
        &kmapa_synth::GenOptions {
            years: 2024..=2024,
            location: kmapa_synth::LocationMode::Mixed,
            ..Default::default()
        },
    )
    .unwrap();
    let mut builder = CubeBuilder::new(&vocabulary, &city.layer, SECRET);
    let mut binner = kmapa_geo::Binner::new(&city.layer, &city.index, Resolution::Ten);
    // Naive: distinct households (a person without one alone) per district.
    let mut naive: HashMap<(String, String), HashSet<String>> = HashMap::new();
    for source in [Source::Ops] {
        for batch in generated.batches(source, 50_000) {
            builder.add_located(&batch, &mut binner);
            for i in 0..batch.len() {
                let district = match (batch.lat[i], batch.lon[i], &batch.district[i]) {
                    (Some(lat), Some(lon), _) => match binner.bin(lon, lat) {
                        Ok(b) => city.layer.districts[b.district as usize].code.clone(),
                        Err(_) => continue,
                    },
                    (_, _, Some(d)) => d.clone(),
                    _ => continue,
                };
                let household = batch.household_id[i]
                    .clone()
                    .unwrap_or_else(|| format!("person {}", batch.person_id[i]));
                for c in vocabulary.ancestors_and_self(&batch.category[i]) {
                    naive
                        .entry((district.clone(), c.code.clone()))
                        .or_default()
                        .insert(household.clone());
                }
            }
        }
    }
    let cube = builder.build();
    let mut checked = 0;
    for (ci, c) in vocabulary.categories().iter().enumerate() {
        if c.source != Source::Ops {
            continue;
        }
        let m = Measure::Category(ci as u16);
        let persons: HashMap<Unit, u32> = cube
            .counts(Level::Districts, Some((ci as u16, 2024)))
            .iter()
            .map(|c| (c.unit, c.persons))
            .collect();
        let households = cube.household_counts(Level::Districts, m, 2024);
        for &(unit, h) in &households {
            let Unit::District(d) = unit else {
                unreachable!()
            };
            assert!(
                h <= persons[&unit],
                "{} {unit:?}: {h} households, {} persons",
                c.code,
                persons[&unit]
            );
            let code = &city.layer.districts[d as usize].code;
            // The generator keeps a household in one place: the naive count agrees.
            assert_eq!(
                h as usize,
                naive
                    .get(&(code.clone(), c.code.clone()))
                    .map_or(0, HashSet::len),
                "{} {code}",
                c.code
            );
            checked += 1;
        }
        let city_total: u32 = cube
            .household_counts(Level::City, m, 2024)
            .iter()
            .map(|x| x.1)
            .sum();
        assert_eq!(
            city_total,
            households.iter().map(|x| x.1).sum::<u32>(),
            "{}",
            c.code
        );
    }
    assert!(checked > 300, "{checked}");
}

#[test]
fn a_batch_that_cannot_be_read_is_named_in_the_error() {
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("records.parquet");
    std::fs::write(&broken, b"person_id,year\nnot,parquet\n").unwrap();
    // The error names the file, and nothing of it is counted.
    let mut builder = CubeBuilder::new(&vocabulary, &city.layer, SECRET);
    let e = builder.add_batch(&broken).unwrap_err().to_string();
    assert!(e.contains(&broken.display().to_string()), "{e}");
    assert_eq!(builder.build().facts(), 0);
}

#[test]
fn identifiers_of_any_length_are_told_apart() {
    // Pseudonyms up to 23 bytes are kept packed, longer ones as text: identifiers
    // around that limit, equal but for their last byte or their length, with
    // multi-byte characters, must count as the distinct persons and households they are.
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    let a = &city.layer.districts[0].code;
    let mut ids: Vec<String> = Vec::new();
    for len in [1, 15, 16, 22, 23, 24, 25, 40] {
        ids.push("7".repeat(len));
        ids.push(format!("{}8", "7".repeat(len - 1)));
    }
    ids.push("ż".repeat(11)); // 22 bytes
    ids.push("ż".repeat(12)); // 24 bytes
    ids.push(format!("{}\0", "7".repeat(15)));
    // Lowercase hexadecimal is packed as the bytes it spells (a pseudonym's 32 digits
    // in 16 bytes): beside text that spells the same bytes, other cases, odd lengths
    // and lengths past the limit.
    let pseudonym = "0123456789abcdef0123456789abcdef";
    ids.push(pseudonym.to_string());
    ids.push(pseudonym.to_uppercase());
    ids.push(format!("{}0", &pseudonym[..31]));
    ids.push(pseudonym[..31].to_string());
    ids.extend(["00", "\0", "0", "ab", "AB", "Ab"].map(String::from));
    ids.push("ab".repeat(23)); // 46 digits, 23 bytes
    ids.push("ab".repeat(24)); // 48 digits: text
    ids.push(format!("{}ac", "ab".repeat(23)));
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len());
    for shards in [1, 2, 3] {
        let mut builder =
            CubeBuilder::new(&vocabulary, &city.layer, SECRET).with_layout(shards, 1 << 20);
        // Every person twice (not side by side), each in the household named as they are.
        for _ in 0..2 {
            for id in &ids {
                assert!(builder.add_member(id, Some(id), 2024, "poverty", a, None, None, None));
            }
        }
        let cube = builder.build();
        let poverty = vocabulary
            .categories()
            .iter()
            .position(|c| c.code == "poverty")
            .unwrap() as u16;
        let persons: u32 = cube
            .counts(Level::City, Some((poverty, 2024)))
            .iter()
            .map(|c| c.persons)
            .sum();
        assert_eq!(persons as usize, ids.len(), "{shards} shards");
        assert_eq!(
            cube.household_counts(Level::City, Measure::Category(poverty), 2024),
            [(Unit::City, ids.len() as u32)],
            "{shards} shards"
        );
    }
}

#[test]
fn a_persons_years_in_any_order_are_placed_by_each_years_first_record() {
    // Records of a person's years out of order in a batch (a later year before an
    // earlier one, a year between two others): each year's place is that year's first
    // record's, read from a batch as from records added one at a time.
    let vocabulary = Vocabulary::read(&repo().join("data/categories.csv")).unwrap();
    let city = City::load(&repo().join("data/wroclaw"), &vocabulary).unwrap();
    let (a, b) = (&city.layer.districts[0].code, &city.layer.districts[1].code);
    let rows: [(&str, &str, u16, &str, &String); 10] = [
        ("p1", "H1", 2024, "poverty", a),
        ("p1", "H1", 2022, "poverty", b),
        ("p2", "", 2023, "poverty", a),
        ("p1", "", 2023, "poverty", a),
        ("p1", "H2", 2022, "disability", a),
        ("p1", "", 2024, "disability", b),
        ("p2", "H2", 2021, "poverty", b),
        ("p2", "", 2022, "poverty", a),
        ("p2", "", 2021, "disability", a),
        ("p3", "H2", 2021, "poverty", a),
    ];
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("ops.csv");
    let mut text = String::from("source,person_id,household_id,year,category,district,synthetic\n");
    for (p, h, y, c, d) in &rows {
        text.push_str(&format!("OPS,{p},{h},{y},{c},{d},true\n"));
    }
    std::fs::write(&csv, text).unwrap();
    let files = ingest(&vocabulary, &city, dir.path(), &[csv]);
    let ix = |code: &str| category(&vocabulary, code);
    let mut one_by_one = CubeBuilder::new(&vocabulary, &city.layer, SECRET);
    for (p, h, y, c, d) in &rows {
        let h = Some(*h).filter(|h| !h.is_empty());
        assert!(one_by_one.add_member(p, h, i32::from(*y), c, d, None, None, None));
    }
    let one_by_one = one_by_one.build();
    for (shards, slice) in [(1, 1 << 20), (2, 3), (3, 1 << 20)] {
        let mut builder =
            CubeBuilder::new(&vocabulary, &city.layer, SECRET).with_layout(shards, slice);
        assert_eq!(builder.add_batches(&files).unwrap(), rows.len() as u64);
        let cube = builder.build();
        let at = |code: &str, year: u16| -> Vec<(Unit, u32)> {
            cube.counts(Level::Districts, Some((ix(code), year)))
                .iter()
                .map(|c| (c.unit, c.persons))
                .collect()
        };
        let (da, db) = (Unit::District(0), Unit::District(1));
        assert_eq!(at("poverty", 2024), [(da, 1)], "{shards} shards");
        assert_eq!(at("disability", 2024), [(da, 1)], "{shards} shards");
        assert_eq!(at("poverty", 2023), [(da, 2)], "{shards} shards");
        // p1 is in B in 2022 (that year's first record), p2 in A.
        assert_eq!(at("poverty", 2022), [(da, 1), (db, 1)], "{shards} shards");
        assert_eq!(at("disability", 2022), [(db, 1)], "{shards} shards");
        // p2 is in H2 in B in 2021, and p3 with them (H2's first record that year).
        assert_eq!(at("poverty", 2021), [(db, 2)], "{shards} shards");
        assert_eq!(at("disability", 2021), [(db, 1)], "{shards} shards");
        for level in [Level::City, Level::Parents, Level::Districts] {
            assert_eq!(cube.counts(level, None), one_by_one.counts(level, None));
            for year in 2021..=2024 {
                for m in [
                    Measure::Category(ix("poverty")),
                    Measure::AnyOf(Source::Ops),
                ] {
                    assert_eq!(
                        cube.household_counts(level, m, year),
                        one_by_one.household_counts(level, m, year),
                        "{shards} shards, {year}"
                    );
                }
            }
        }
    }
}
