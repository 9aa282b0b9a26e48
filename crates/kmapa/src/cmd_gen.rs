use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use kmapa_geo::City;
use kmapa_ingest::ParquetRecordWriter;
use kmapa_model::records::{CsvRecordWriter, RecordSink};
use kmapa_model::{Source, Vocabulary};
use kmapa_synth::city::CityOptions;
use kmapa_synth::{GenOptions, LocationMode};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Csv,
    Parquet,
    Both,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Location {
    Latlon,
    Address,
    District,
    Mixed,
}

#[derive(Args)]
pub struct GenArgs {
    /// City directory following the data contract (districts.geojson; population.csv
    /// and addresses.csv are used when present).
    #[arg(long, default_value = "data/wroclaw")]
    pub city: PathBuf,
    #[arg(long, default_value = "data/categories.csv")]
    pub vocabulary: PathBuf,
    /// Output directory.
    #[arg(long, default_value = "out/synthetic")]
    pub out: PathBuf,
    /// Seed: the same seed writes byte-identical files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Years, as FIRST-LAST or a single year.
    #[arg(long, default_value = "2015-2024")]
    pub years: String,
    /// Multiply case counts (1 = the calibrated city).
    #[arg(long, conflicts_with = "records")]
    pub scale: Option<f64>,
    /// Scale the city to at least this many records in total (OPS + PUP; overshoots by
    /// well under 1 %), e.g. 10000000 for benchmarks.
    #[arg(long)]
    pub records: Option<u64>,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
    /// How records give a person's location.
    #[arg(long, value_enum, default_value = "latlon")]
    pub location: Location,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct GenCityArgs {
    /// Raw boundaries: a FeatureCollection of (Multi)Polygons with a `name` property.
    #[arg(long, default_value = "../shared/data/wroclaw/osiedla.geojson")]
    pub boundaries: PathBuf,
    /// Attributes: `osiedle` (name) and `dawna_dzielnica` (parent area) per district.
    #[arg(long, default_value = "../shared/data/wroclaw/osiedla-attributes.csv")]
    pub attributes: PathBuf,
    #[arg(long, default_value = "data/wroclaw")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 2024)]
    pub seed: u64,
    #[arg(long, default_value_t = 30_000)]
    pub address_points: usize,
    /// The city's own population per district and year (CSV: `osiedle` or
    /// `district_code`, `year`, `population`; the city's register or GUS figures),
    /// used as it is instead of a synthetic one.
    #[arg(long)]
    pub population: Option<PathBuf>,
    /// Without --population: the city's residents (e.g. from GUS BDL) that the
    /// synthetic district populations add up to in --population-year. Needed for any
    /// city but the demo (Wrocław).
    #[arg(long)]
    pub population_total: Option<u64>,
    /// The year --population-total is for.
    #[arg(long, default_value_t = 2024)]
    pub population_year: i32,
    /// The city centre as LON,LAT (population density falls with distance from it)
    /// [default: the centroid of the districts; the market square for the demo].
    #[arg(long)]
    pub centre: Option<String>,
}

pub fn parse_years(s: &str) -> anyhow::Result<std::ops::RangeInclusive<i32>> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: i32 = a
        .trim()
        .parse()
        .with_context(|| format!("--years {s:?}: not a year"))?;
    let b: i32 = b
        .trim()
        .parse()
        .with_context(|| format!("--years {s:?}: not a year"))?;
    if a > b {
        bail!("--years {s:?}: the first year is after the last");
    }
    Ok(a..=b)
}

pub fn run_city(a: &GenCityArgs) -> anyhow::Result<()> {
    // The demo city's own figures only for the demo city's boundaries.
    let same = |x: &std::path::Path, y: &str| {
        std::fs::canonicalize(x)
            .ok()
            .is_some_and(|x| std::fs::canonicalize(y).ok() == Some(x))
    };
    let demo = same(&a.boundaries, "../shared/data/wroclaw/osiedla.geojson");
    let defaults = CityOptions::default();
    let total_population = match (a.population_total, demo || a.population.is_some()) {
        (Some(n), _) => n,
        (None, true) => defaults.total_population,
        (None, false) => bail!(
            "--population FILE (the city's population per district and year) or --population-total \
             (the residents of {} in {}, e.g. from GUS BDL, for a synthetic population adding up to it)",
            a.boundaries.display(),
            a.population_year
        ),
    };
    let centre = match (&a.centre, demo) {
        (Some(text), _) => {
            let (lon, lat) = text
                .split_once(',')
                .and_then(|(x, y)| {
                    Some((x.trim().parse::<f64>().ok()?, y.trim().parse::<f64>().ok()?))
                })
                .filter(|(x, y)| (-180.0..=180.0).contains(x) && (-90.0..=90.0).contains(y))
                .with_context(|| {
                    format!("--centre {text:?}: give LON,LAT, e.g. 16.9252,52.4064")
                })?;
            Some((lon, lat))
        }
        (None, true) => defaults.centre,
        (None, false) => None,
    };
    let opts = CityOptions {
        seed: a.seed,
        address_points: a.address_points,
        total_population,
        total_year: a.population_year,
        centre,
        population: a.population.clone(),
        ..defaults
    };
    let files = kmapa_synth::city::prepare(&a.boundaries, &a.attributes, &opts)?;
    files.write(&a.out)?;
    println!(
        "wrote {}/districts.geojson, population.csv, addresses.csv{}",
        a.out.display(),
        if files.population_grid_csv.is_some() {
            ", population-grid.csv"
        } else {
            ""
        }
    );
    Ok(())
}

pub fn run(a: &GenArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let vocabulary = Vocabulary::read(&a.vocabulary)?;
    let city = City::load(&a.city, &vocabulary)?;
    let mut opts = GenOptions {
        seed: a.seed,
        years: parse_years(&a.years)?,
        scale: a.scale.unwrap_or(1.0),
        location: match a.location {
            Location::Latlon => LocationMode::LatLon,
            Location::Address => LocationMode::Address,
            Location::District => LocationMode::District,
            Location::Mixed => LocationMode::Mixed,
        },
    };
    if !(opts.scale > 0.0 && opts.scale.is_finite()) {
        bail!("--scale must be a positive number");
    }
    let generated = match a.records {
        None => kmapa_synth::generate(&city, &vocabulary, &opts)?,
        Some(target) => {
            // Calibrate: the city at scale 1 tells how many rows a unit of scale gives;
            // rescale until within 1 % above `target` (the simulation takes seconds at 10 M).
            opts.scale = 1.0;
            let mut g = kmapa_synth::generate(&city, &vocabulary, &opts)?;
            for _ in 0..5 {
                let len = g.len().max(1) as u64;
                if (target..=target + target / 100).contains(&len) {
                    break;
                }
                opts.scale *= target as f64 / len as f64 * 1.002;
                g = kmapa_synth::generate(&city, &vocabulary, &opts)?;
            }
            g
        }
    };
    let gen_secs = started.elapsed().as_secs_f64();
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let mut files = Vec::new();
    for source in Source::ALL {
        let stem = source.code().to_lowercase();
        let mut sinks: Vec<(PathBuf, Box<dyn RecordSink>)> = Vec::new();
        if matches!(a.format, Format::Csv | Format::Both) {
            let p = a.out.join(format!("{stem}.csv"));
            sinks.push((p.clone(), Box::new(CsvRecordWriter::create(&p)?)));
        }
        if matches!(a.format, Format::Parquet | Format::Both) {
            let p = a.out.join(format!("{stem}.parquet"));
            sinks.push((p.clone(), Box::new(ParquetRecordWriter::create(&p, true)?)));
        }
        for batch in generated.batches(source, 1 << 20) {
            for (p, sink) in &mut sinks {
                sink.write_batch(&batch)
                    .with_context(|| format!("writing {}", p.display()))?;
            }
        }
        for (p, sink) in sinks {
            sink.finish()
                .with_context(|| format!("writing {}", p.display()))?;
            files.push(file_name(&p));
        }
    }
    let institutions = kmapa_synth::institutions::generate(&city, opts.seed);
    let inst_path = a.out.join("institutions.csv");
    let text = kmapa_synth::institutions::to_csv(&institutions);
    kmapa_model::fsutil::write_atomically(&inst_path, |w| {
        std::io::Write::write_all(w, text.as_bytes())
    })?;
    files.push(file_name(&inst_path));
    let summary = generated.summary();
    let manifest = serde_json::json!({
        "synthetic": true,
        "note": "Synthetic data generated by kmapa gen. Describes no real person.",
        "generator": format!("kmapa {}", env!("CARGO_PKG_VERSION")),
        "seed": opts.seed,
        "years": [opts.years.start(), opts.years.end()],
        "scale": opts.scale,
        "city": a.city.display().to_string(),
        "counts": summary,
        "institutions": institutions.len(),
        "files": files,
    });
    let manifest_text = serde_json::to_string_pretty(&manifest)? + "\n";
    kmapa_model::fsutil::write_atomically(&a.out.join("manifest.json"), |w| {
        std::io::Write::write_all(w, manifest_text.as_bytes())
    })?;
    if !a.quiet {
        let secs = started.elapsed().as_secs_f64();
        println!(
            "generated {} OPS and {} PUP records ({} persons, {} households) and {} institutions \
             into {} in {secs:.1} s (simulation {gen_secs:.1} s); synthetic data, seed {}",
            summary.ops_rows,
            summary.pup_rows,
            summary.persons,
            summary.households,
            institutions.len(),
            a.out.display(),
            opts.seed
        );
    }
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
