//! One real table of the demo city through the protection core: a category and year
//! over districts, parents, city and hexagons together. Prints the time it takes (a
//! measurement for docs/benchmarks.md, not an assertion) and checks the result.

use std::path::{Path, PathBuf};
use std::time::Instant;

use h3o::Resolution;
use kmapa_cube::CubeBuilder;
use kmapa_geo::City;
use kmapa_model::Vocabulary;
use kmapa_protect::layers::{LayerCounts, build};
use kmapa_protect::{audit, protect};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn a_demo_city_table_is_protected_over_all_layers() {
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
    let mut b = CubeBuilder::new(&vocabulary, &city.layer, b"s");
    let mut binner = kmapa_geo::Binner::new(&city.layer, &city.index, Resolution::Ten);
    for source in kmapa_model::Source::ALL {
        for batch in generated.batches(source, usize::MAX) {
            assert_eq!(b.add_located(&batch, &mut binner), batch.len() as u64);
        }
    }
    let cube = b.build();
    let support = cube.atom_support(Resolution::Seven);
    for code in ["post_prison", "poverty"] {
        let cat = vocabulary
            .categories()
            .iter()
            .position(|c| c.code == code)
            .unwrap() as u16;
        let mut atoms: std::collections::BTreeMap<_, _> =
            support.iter().map(|a| (*a, 0u64)).collect();
        for (a, v) in cube.atoms(Resolution::Seven, cat, 2024) {
            atoms.insert(a, v);
        }
        let counts = LayerCounts {
            atoms,
            parent_of: cube.parent_of().to_vec(),
            district_codes: cube.district_codes.clone(),
            parent_codes: cube.parent_codes.clone(),
            hexagons: true,
        };
        let (mut table, cells) = build(&counts);
        let started = Instant::now();
        let summary = protect(&mut table, 10, 10.0).unwrap();
        let secs = started.elapsed().as_secs_f64();
        let report = audit(&table, |_| 10.0, false).unwrap();
        assert!(report.passed());
        for c in table
            .cells
            .iter()
            .filter(|c| !c.internal && !c.status.is_hidden())
        {
            assert!(c.value == 0 || c.value >= 10, "{} = {}", c.label, c.value);
        }
        println!(
            "{code} 2024: {} districts, {} hexagons (res 7), {} atoms; primary {}, secondary {}, {} audit rounds, {secs:.2} s",
            cells.districts.len(),
            cells.hexagons.len(),
            counts.atoms.len(),
            summary.primary,
            summary.secondary,
            summary.audit_rounds
        );
    }
}
