use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use kmapa_geo::City;
use kmapa_ingest::pseudonymise::{Key, PseudonymiseOptions, pseudonymise};
use kmapa_ingest::reader::Encoding;
use kmapa_ingest::{IngestContext, IngestOptions, Store, ingest_file};
use kmapa_model::{Source, Vocabulary};

#[derive(Args)]
pub struct IngestArgs {
    /// Record files (CSV or Parquet), each becoming one batch.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Data directory (the embedded store).
    #[arg(long, default_value = "kmapa-data")]
    pub data_dir: PathBuf,
    /// City directory (districts.geojson, population.csv, …). The first ingest that
    /// accepts a row binds the data directory to it: later commands leave it out, and
    /// another city is refused. Needed for a new data directory (the demo city:
    /// data/wroclaw).
    #[arg(long)]
    pub city: Option<PathBuf>,
    #[arg(long, default_value = "data/categories.csv")]
    pub vocabulary: PathBuf,
    /// Source of rows without a `source` column: OPS or PUP.
    #[arg(long)]
    pub source: Option<Source>,
    /// Force the text encoding of CSV files: utf-8 or windows-1250 (default: detect).
    #[arg(long)]
    pub encoding: Option<Encoding>,
    /// Fail the batch on the first rejected row.
    #[arg(long)]
    pub strict: bool,
    /// Finest H3 resolution stored (coarser cells are derived as parents).
    #[arg(long, default_value_t = 10)]
    pub resolution: u8,
    /// Print nothing but errors (no progress bar, no summary).
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &IngestArgs) -> anyhow::Result<()> {
    let vocabulary = Vocabulary::read(&a.vocabulary)?;
    let resolved = crate::city::resolve(&a.data_dir, a.city.as_deref())?;
    let city = City::load(&resolved.dir, &vocabulary)?;
    let resolution = h3o::Resolution::try_from(a.resolution)
        .ok()
        .filter(|r| (7..=12).contains(&u8::from(*r)))
        .with_context(|| format!("--resolution {}: use 7 to 12", a.resolution))?;
    let ctx = IngestContext::new(&vocabulary, &city);
    let opts = IngestOptions {
        source: a.source,
        encoding: a.encoding,
        strict: a.strict,
        resolution,
        ..IngestOptions::default()
    };
    let mut store = Store::open_for_writing(&a.data_dir)?;
    // Files whose rows were all refused: the command fails after the others.
    let mut nothing_accepted = Vec::new();
    for (n, file) in a.files.iter().enumerate() {
        let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        let bar = if a.quiet || a.json {
            indicatif::ProgressBar::hidden()
        } else {
            let b = indicatif::ProgressBar::new(size);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {prefix} [{bar:30}] {bytes}/{total_bytes} {msg} ({elapsed})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.set_prefix(file.display().to_string());
            b
        };
        let started = std::time::Instant::now();
        let summary = ingest_file(&mut store, file, &ctx, &opts, &|bytes, rows| {
            bar.set_position(bytes);
            let secs = started.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!("{rows} rows, {:.0} rows/s", rows as f64 / secs));
        });
        bar.finish_and_clear();
        let summary = summary.map_err(anyhow::Error::from).map_err(|e| {
            let rest: Vec<String> = a.files[n + 1..]
                .iter()
                .map(|f| f.display().to_string())
                .collect();
            if rest.is_empty() {
                e
            } else {
                e.context(format!(
                    "{} refused; not attempted: {} (batches ingested before it stay)",
                    file.display(),
                    rest.join(", ")
                ))
            }
        })?;
        if summary.rows_accepted > 0 || summary.already_ingested && summary.batch.records > 0 {
            resolved.bind_with(&store, &a.data_dir, a.quiet || a.json)?;
        } else if !summary.already_ingested || summary.batch.records == 0 {
            nothing_accepted.push((file.clone(), summary.top_reasons.clone()));
        }
        if a.json {
            println!("{}", serde_json::to_string_pretty(&summary)?);
            continue;
        }
        if a.quiet {
            continue;
        }
        if summary.already_ingested {
            println!(
                "{}: already ingested as batch {} on {} ({}); nothing changed",
                file.display(),
                summary.batch.id,
                summary.batch.ingested_at,
                summary.batch.status
            );
            continue;
        }
        println!(
            "{}: batch {} — {} rows read, {} accepted ({} records), {} rejected; {}; {:.1} s ({:.0} rows/s)",
            file.display(),
            summary.batch.id,
            summary.rows_read,
            summary.rows_accepted,
            summary.records,
            summary.rows_rejected,
            summary.encoding,
            summary.seconds,
            summary.rows_read as f64 / summary.seconds.max(1e-3)
        );
        if summary.addresses_given > 0 {
            println!(
                "  addresses: {} of {} geocoded against the city's address points ({:.1} %)",
                summary.addresses_geocoded,
                summary.addresses_given,
                100.0 * summary.addresses_geocoded as f64 / summary.addresses_given as f64
            );
        }
        if summary.rows_rejected > 0 {
            let reasons: Vec<String> = summary
                .top_reasons
                .iter()
                .map(|(k, v)| format!("{k} ({v})"))
                .collect();
            println!("  top reasons: {}", reasons.join(", "));
            println!(
                "  every rejected row is in {}",
                a.data_dir
                    .join("batches")
                    .join(&summary.batch.dir)
                    .join("rejects.csv")
                    .display()
            );
        }
        if !summary.ignored_columns.is_empty() {
            println!("  columns not used: {}", summary.ignored_columns.join(", "));
        }
        if summary.batch.synthetic {
            println!("  the file says its data is synthetic");
        }
    }
    if let Some((file, reasons)) = nothing_accepted.first() {
        let reasons: Vec<String> = reasons.iter().map(|(k, v)| format!("{k} ({v})")).collect();
        anyhow::bail!(
            "{}: no row was accepted ({}){}. The records are checked against the city {} ({}): if most rows lie outside it, \
             is it the city the records come from? Pass --city DIR with a new --data-dir",
            file.display(),
            if reasons.is_empty() {
                "the file has no rows".to_string()
            } else {
                reasons.join(", ")
            },
            if nothing_accepted.len() > 1 {
                format!(
                    " and neither from {} more file(s)",
                    nothing_accepted.len() - 1
                )
            } else {
                String::new()
            },
            resolved.id,
            resolved.dir.display()
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct BatchesArgs {
    #[arg(long, default_value = "kmapa-data")]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub action: Option<BatchAction>,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum BatchAction {
    /// List batches (the default).
    List,
    /// Withdraw a batch: recorded with time and reason, never deleted silently.
    Withdraw {
        id: i64,
        #[arg(long)]
        reason: String,
    },
    /// Restore a withdrawn batch (withdrawn by mistake); recorded with time and reason.
    Restore {
        id: i64,
        #[arg(long)]
        reason: String,
    },
}

pub fn run_batches(a: &BatchesArgs) -> anyhow::Result<()> {
    match &a.action {
        None | Some(BatchAction::List) => {
            let store = Store::open(&a.data_dir)?;
            let list = store.list()?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            if list.is_empty() {
                println!("no batches in {}", a.data_dir.display());
            }
            println!(
                "{:>4}  {:<10} {:<20} {:<8} {:>10} {:>10} {:>9}  file",
                "id", "status", "ingested", "sources", "rows", "records", "rejected"
            );
            for b in list {
                println!(
                    "{:>4}  {:<10} {:<20} {:<8} {:>10} {:>10} {:>9}  {}{}",
                    b.id,
                    b.status,
                    b.ingested_at,
                    b.sources,
                    b.rows_read,
                    b.records,
                    b.rows_rejected,
                    b.file_name,
                    b.withdraw_reason
                        .map(|r| format!(" (withdrawn: {r})"))
                        .unwrap_or_default()
                );
            }
        }
        Some(BatchAction::Withdraw { id, reason }) => {
            let mut store = Store::open_for_writing(&a.data_dir)?;
            let b = store.withdraw(*id, reason)?;
            println!(
                "batch {} ({}) withdrawn at {}: {}",
                b.id,
                b.file_name,
                b.withdrawn_at.unwrap_or_default(),
                reason
            );
        }
        Some(BatchAction::Restore { id, reason }) => {
            let mut store = Store::open_for_writing(&a.data_dir)?;
            let b = store.restore(*id, reason)?;
            println!(
                "batch {} ({}) restored: {reason}; run `kmapa protect` and `kmapa publish` to use it",
                b.id, b.file_name
            );
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct KeygenArgs {
    /// Where to write the new key (never overwritten).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run_keygen(a: &KeygenArgs) -> anyhow::Result<()> {
    Key::generate().write_new(&a.out)?;
    println!(
        "wrote a new municipality key to {} (readable by you only). Give the same key to the \
         city's OPS and PUP so their pseudonyms match; never send it with the data.",
        a.out.display()
    );
    Ok(())
}

#[derive(Args)]
pub struct PseudonymiseArgs {
    /// The raw export (CSV, UTF-8 or Windows-1250, `,` or `;`).
    pub input: PathBuf,
    /// The municipality key (from `kmapa keygen`).
    #[arg(long)]
    pub key: PathBuf,
    /// Output: a file in the data contract, safe to send.
    #[arg(long)]
    pub out: PathBuf,
    /// Whose export it is.
    #[arg(long)]
    pub source: Source,
    /// The column with PESEL or the client number (default: found by name).
    #[arg(long)]
    pub id_column: Option<String>,
    /// The column with the family number, if any (default: found by name).
    #[arg(long)]
    pub household_column: Option<String>,
    #[arg(long)]
    pub encoding: Option<Encoding>,
}

pub fn run_pseudonymise(a: &PseudonymiseArgs) -> anyhow::Result<()> {
    let key = Key::read(&a.key)?;
    if a.out == a.input {
        bail!("--out must differ from the input");
    }
    let rejects = a.out.with_extension("rejects.csv");
    let s = pseudonymise(
        &a.input,
        &a.out,
        &rejects,
        &key,
        &PseudonymiseOptions {
            source: a.source,
            id_column: a.id_column.clone(),
            household_column: a.household_column.clone(),
            encoding: a.encoding,
        },
    )?;
    println!(
        "{}: {} rows read, {} written to {} ({} pseudonymised), {} rejected (see {}, ids masked)",
        a.input.display(),
        s.rows_read,
        s.rows_written,
        a.out.display(),
        s.id_column,
        s.rows_rejected,
        rejects.display()
    );
    if !s.dropped_columns.is_empty() {
        println!(
            "  dropped columns (identifiers or not in the data contract): {}",
            s.dropped_columns.join(", ")
        );
    }
    Ok(())
}
