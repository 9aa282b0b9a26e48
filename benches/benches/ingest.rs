//! Hot paths of the ingest: binning a point, validating a row, geocoding an address,
//! and a whole in-process ingest of 100,000 generated records.
//! Run: `cargo bench -p kmapa-benches --bench ingest`.

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use h3o::Resolution;
use kmapa_geo::{Binner, City, Geocoder};
use kmapa_ingest::validate::{Cells, Records, Validator};
use kmapa_ingest::{IngestContext, IngestOptions, Store, ingest_file};
use kmapa_model::records::{CsvRecordWriter, RecordSink};
use kmapa_model::{RecordColumn, Vocabulary};
use rand::{RngExt, SeedableRng};

fn reference() -> (Vocabulary, City) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let v = Vocabulary::read(&repo.join("data/categories.csv")).unwrap();
    let c = City::load(&repo.join("data/wroclaw"), &v).unwrap();
    (v, c)
}

fn points(n: usize) -> Vec<(f64, f64)> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    (0..n)
        .map(|_| {
            (
                rng.random_range(16.85..17.15),
                rng.random_range(51.06..51.20),
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let (vocabulary, city) = reference();
    let pts = points(100_000);

    let mut g = c.benchmark_group("binning");
    g.throughput(Throughput::Elements(pts.len() as u64));
    g.bench_function(
        "district and H3 res 10, 100k distinct points, cold caches",
        |b| {
            b.iter_batched(
                || Binner::new(&city.layer, &city.index, Resolution::Ten),
                |mut binner| {
                    pts.iter()
                        .filter(|(lon, lat)| binner.bin(*lon, *lat).is_ok())
                        .count()
                },
                criterion::BatchSize::LargeInput,
            );
        },
    );
    g.bench_function(
        "district and H3 res 10, 100k points seen before, warm caches",
        |b| {
            let mut binner = Binner::new(&city.layer, &city.index, Resolution::Ten);
            b.iter(|| {
                pts.iter()
                    .filter(|(lon, lat)| binner.bin(*lon, *lat).is_ok())
                    .count()
            });
        },
    );
    g.bench_function("district only, exact polygon test, 100k points", |b| {
        b.iter(|| {
            pts.iter()
                .filter(|(lon, lat)| city.index.locate(*lon, *lat).is_some())
                .count()
        });
    });
    g.finish();

    let geocoder = Geocoder::new(city.addresses.as_deref().unwrap());
    let addresses: Vec<String> = city
        .addresses
        .as_ref()
        .unwrap()
        .iter()
        .take(10_000)
        .map(|a| format!("{} {}/3", a.street.to_uppercase(), a.house_number))
        .collect();
    let mut g = c.benchmark_group("geocoding");
    g.throughput(Throughput::Elements(addresses.len() as u64));
    g.bench_function("10k addresses with flat numbers", |b| {
        b.iter(|| {
            addresses
                .iter()
                .filter(|a| geocoder.geocode(a).is_ok())
                .count()
        });
    });
    g.finish();

    let mut g = c.benchmark_group("validation");
    let rows: Vec<(String, String)> = pts
        .iter()
        .take(10_000)
        .map(|(lon, lat)| (format!("{lat:.6}"), format!("{lon:.6}")))
        .collect();
    g.throughput(Throughput::Elements(rows.len() as u64));
    g.bench_function("10k rows with coordinates", |b| {
        let binner = Binner::new(&city.layer, &city.index, Resolution::Ten);
        let mut v = Validator::new(&vocabulary, &city, binner, None, None, 1990..=2025);
        let mut out = Records::with_capacity(rows.len());
        let mut rejects = Vec::new();
        b.iter(|| {
            out.clear();
            rejects.clear();
            for (i, (lat, lon)) in rows.iter().enumerate() {
                let mut cells: Cells<'_> = [None; RecordColumn::ALL.len()];
                cells[RecordColumn::Source as usize] = Some("OPS");
                cells[RecordColumn::PersonId as usize] = Some("2849c81e7afd5946");
                cells[RecordColumn::Year as usize] = Some("2024");
                cells[RecordColumn::Category as usize] = Some("poverty");
                cells[RecordColumn::Lat as usize] = Some(lat);
                cells[RecordColumn::Lon as usize] = Some(lon);
                cells[RecordColumn::Sex as usize] = Some("K");
                cells[RecordColumn::BirthYear as usize] = Some("1970");
                v.row(i as u64 + 2, &cells, &mut out, &mut rejects);
            }
            out.len()
        });
    });
    g.finish();

    // Whole ingest of 100k generated records, in process.
    let dir = tempfile_dir();
    let csv_path = dir.join("ops.csv");
    let generated = kmapa_synth::generate(
        &city,
        &vocabulary,
        &kmapa_synth::GenOptions {
            years: 2024..=2024,
            scale: 3.0,
            ..Default::default()
        },
    )
    .unwrap();
    let mut w: Box<dyn RecordSink> = Box::new(CsvRecordWriter::create(&csv_path).unwrap());
    let mut n = 0u64;
    for batch in generated.batches(kmapa_model::Source::Ops, 100_000).take(1) {
        n += batch.len() as u64;
        w.write_batch(&batch).unwrap();
    }
    w.finish().unwrap();
    let ctx = IngestContext::new(&vocabulary, &city);
    let mut g = c.benchmark_group("ingest");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n));
    g.bench_function("100k records CSV to a new batch", |b| {
        b.iter(|| {
            let store_dir = dir.join(format!("store-{}", rand::random::<u64>()));
            let mut store = Store::open_for_writing(&store_dir).unwrap();
            let s = ingest_file(
                &mut store,
                &csv_path,
                &ctx,
                &IngestOptions::default(),
                &|_, _| {},
            )
            .unwrap();
            drop(store);
            std::fs::remove_dir_all(&store_dir).unwrap();
            s.records
        });
    });
    g.finish();
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kmapa-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

criterion_group!(benches, bench);
criterion_main!(benches);
