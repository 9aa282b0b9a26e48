//! The analyst tier's query: one category, one year, one hexagon resolution, perturbed
//! with the Cell Key Method, over a cube of about 10 million records; and the same
//! query as the server answers it, from the per-atom counts and cell keys a snapshot
//! holds (no records).
//! Run: `cargo bench -p kmapa-benches --bench analyst` (setup generates the records).

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use h3o::Resolution;
use kmapa_cube::{CubeBuilder, Group, Level};
use kmapa_geo::{Binner, City};
use kmapa_model::{Source, Vocabulary};
use kmapa_protect::ckm::{PTable, PTableParams};

fn bench(c: &mut Criterion) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let vocabulary = Vocabulary::read(&repo.join("data/categories.csv")).unwrap();
    let city = City::load(&repo.join("data/wroclaw"), &vocabulary).unwrap();
    let records: u64 = std::env::var("KMAPA_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let base =
        kmapa_synth::generate(&city, &vocabulary, &kmapa_synth::GenOptions::default()).unwrap();
    let scale = records as f64 / base.len() as f64;
    let generated = kmapa_synth::generate(
        &city,
        &vocabulary,
        &kmapa_synth::GenOptions {
            scale,
            ..Default::default()
        },
    )
    .unwrap();
    let mut binner = Binner::new(&city.layer, &city.index, Resolution::Ten);
    let mut b = CubeBuilder::new(&vocabulary, &city.layer, b"bench-secret");
    let mut n = 0u64;
    for source in Source::ALL {
        for batch in generated.batches(source, 1 << 20) {
            n += b.add_located(&batch, &mut binner);
        }
    }
    let cube = b.build();
    eprintln!(
        "cube: {n} records, {} person-year-category facts",
        cube.facts()
    );
    let ptable = PTable::generate(PTableParams {
        max_noise: 3,
        variance: 2.0,
        js: 2,
    });
    let code = |c: &str| cube.category_codes.iter().position(|x| x == c).unwrap() as u16;
    let mut g = c.benchmark_group("analyst query, 10M records");
    for (name, cat) in [
        ("long_term_illness (largest)", code("long_term_illness")),
        ("poverty", code("poverty")),
    ] {
        g.bench_function(format!("{name}, 2024, H3 res 8"), |bch| {
            bch.iter(|| {
                cube.analyst_query(
                    Level::Hexagons(Resolution::Eight),
                    cat,
                    2024,
                    Group::All,
                    &ptable,
                    10,
                )
                .len()
            });
        });
    }
    g.bench_function("poverty, 2024, districts", |bch| {
        bch.iter(|| {
            cube.analyst_query(
                Level::Districts,
                code("poverty"),
                2024,
                Group::All,
                &ptable,
                10,
            )
            .len()
        });
    });
    // As the server answers: from the atoms, every unit of the layer listed.
    let tier = kmapa_protect::policy::AnalystTier::default();
    let started = std::time::Instant::now();
    let atoms = kmapa_cube::atoms::AnalystAtoms::build(&cube, &tier);
    eprintln!(
        "atoms: {} rows ({} bytes in analyst-atoms.bin), built in {:.1} s",
        atoms.len(),
        atoms.len() * 27,
        started.elapsed().as_secs_f64()
    );
    let analyst = kmapa_cube::analyst::CubeAnalyst::new(atoms, tier, &[]);
    use kmapa_protect::output::{Analyst, LayerKind};
    for (name, layer) in [
        ("H3 res 8", LayerKind::H3(8)),
        ("H3 res 9", LayerKind::H3(9)),
        ("districts", LayerKind::Districts),
    ] {
        g.bench_function(
            format!("server, from atoms: poverty, 2024, {name}"),
            |bch| {
                bch.iter(|| analyst.query(layer, "poverty", 2024, "all").unwrap().len());
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
