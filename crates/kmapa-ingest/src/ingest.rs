//! `kmapa ingest`: one file in, one immutable batch out (or a clear refusal).
//!
//! A reader thread parses CSV rows, the calling thread validates and bins them, a
//! writer thread encodes Parquet; all three stream in bounded chunks, so memory stays
//! flat whatever the file's size.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Instant;

use h3o::Resolution;
use kmapa_geo::{Binner, City, Geocoder};
use kmapa_model::{RecordColumn, Source, Vocabulary};
use polars::prelude::*;
use serde::Serialize;

use crate::error::{FileError, IngestError};
use crate::identifiers::{identifier_value, row_may_hold_pesel_or_email};
use crate::reader::{Encoding, HeaderMap, open_csv};
use crate::store::{BatchInfo, NewBatch, RECORDS_FILE, REJECTS_FILE, Store};
use crate::validate::{Cells, Records, Reject, Validator};

/// Reference data an ingest checks rows against.
pub struct IngestContext<'a> {
    pub vocabulary: &'a Vocabulary,
    pub city: &'a City,
    pub geocoder: Option<Geocoder>,
}

impl<'a> IngestContext<'a> {
    pub fn new(vocabulary: &'a Vocabulary, city: &'a City) -> Self {
        let geocoder = city.addresses.as_deref().map(Geocoder::new);
        Self {
            vocabulary,
            city,
            geocoder,
        }
    }
}

#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Source for rows without a `source` column.
    pub source: Option<Source>,
    /// Force an encoding instead of detecting it.
    pub encoding: Option<Encoding>,
    /// Fail on the first rejected row.
    pub strict: bool,
    /// The finest H3 resolution stored; coarser cells are its parents.
    pub resolution: Resolution,
    /// Accepted years.
    pub years: RangeInclusive<i32>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            source: None,
            encoding: None,
            strict: false,
            resolution: Resolution::Ten,
            years: 1990..=chrono::Datelike::year(&chrono::Utc::now()),
        }
    }
}

/// What an ingest did.
#[derive(Debug, Clone, Serialize)]
pub struct IngestSummary {
    pub file: String,
    /// The new batch, or the existing one when the file was ingested before.
    pub batch: BatchInfo,
    /// True when nothing was written because the same file is already a batch.
    pub already_ingested: bool,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_rejected: u64,
    pub records: u64,
    pub top_reasons: Vec<(String, u64)>,
    pub ignored_columns: Vec<String>,
    pub encoding: String,
    pub seconds: f64,
    /// Rows giving an address (and no coordinates): how many were geocoded.
    pub addresses_given: u64,
    pub addresses_geocoded: u64,
}

const READ_CHUNK: usize = 16_384;
const WRITE_CHUNK: usize = 262_144;

/// Ingests one file into the store. `progress(bytes_read, rows_read)` is called now and then.
pub fn ingest_file(
    store: &mut Store,
    path: &Path,
    ctx: &IngestContext<'_>,
    opts: &IngestOptions,
    progress: &dyn Fn(u64, u64),
) -> Result<IngestSummary, IngestError> {
    let started = Instant::now();
    let partial = store.partial_dir()?;
    let result = ingest_into(&partial, path, ctx, opts, progress);
    let outcome = match result {
        Ok(o) => o,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    // A few points outside the city are typos; most of them means another city's
    // records (whose district codes may well exist here too).
    let outside = outcome
        .reasons
        .iter()
        .filter(|(k, _)| k.ends_with("outside the city"))
        .map(|(_, v)| *v)
        .sum::<u64>();
    let located = outside + outcome.rows_located;
    if located >= 20 && outside * 2 > located {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(IngestError::WrongCity {
            path: path.display().to_string(),
            outside,
            located,
        });
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut reasons: Vec<(String, u64)> = outcome
        .reasons
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    reasons.truncate(5);
    let summary = |batch: BatchInfo, already: bool| IngestSummary {
        file: path.display().to_string(),
        batch,
        already_ingested: already,
        rows_read: outcome.rows_read,
        rows_accepted: outcome.rows_accepted,
        rows_rejected: outcome.rows_rejected,
        records: outcome.records,
        top_reasons: reasons.clone(),
        ignored_columns: outcome.ignored.clone(),
        encoding: outcome.encoding.clone(),
        seconds: started.elapsed().as_secs_f64(),
        addresses_given: outcome.addresses_geocoded + outcome.addresses_failed,
        addresses_geocoded: outcome.addresses_geocoded,
    };
    if let Some(existing) = store.find(&outcome.checksum)? {
        let _ = std::fs::remove_dir_all(&partial);
        return Ok(summary(existing, true));
    }
    let mut sources: Vec<&str> = outcome.sources.iter().map(|s| s.code()).collect();
    sources.sort_unstable();
    let info = store.commit(
        &partial,
        &NewBatch {
            checksum: outcome.checksum.clone(),
            file_name,
            sources: sources.join(","),
            rows_read: outcome.rows_read,
            rows_accepted: outcome.rows_accepted,
            rows_rejected: outcome.rows_rejected,
            records: outcome.records,
            synthetic: outcome.synthetic,
            encoding: outcome.encoding.clone(),
            h3_resolution: u8::from(opts.resolution),
            top_reasons: serde_json::to_string(&reasons).unwrap_or_default(),
        },
    )?;
    Ok(summary(info, false))
}

struct Outcome {
    checksum: String,
    rows_read: u64,
    rows_accepted: u64,
    /// Rows accepted with a point (coordinates or a geocoded address).
    rows_located: u64,
    addresses_geocoded: u64,
    addresses_failed: u64,
    rows_rejected: u64,
    records: u64,
    reasons: HashMap<&'static str, u64>,
    ignored: Vec<String>,
    encoding: String,
    sources: std::collections::BTreeSet<Source>,
    synthetic: bool,
}

fn is_parquet(path: &Path) -> std::io::Result<bool> {
    let mut magic = [0u8; 4];
    let mut f = File::open(path)?;
    Ok(std::io::Read::read(&mut f, &mut magic)? == 4 && &magic == b"PAR1")
}

/// Rows of a file with their line numbers, in chunks, from a background thread.
type Chunk = Vec<(u64, csv::ByteRecord)>;

/// An opened input: its header, a description of its encoding, the channel of row
/// chunks and the thread filling it, and (CSV) the running checksum.
type Opened = (
    HeaderMap,
    String,
    Receiver<Result<Chunk, IngestError>>,
    std::thread::JoinHandle<()>,
    Option<std::sync::Arc<std::sync::Mutex<crate::reader::HashState>>>,
);

fn ingest_into(
    partial: &Path,
    path: &Path,
    ctx: &IngestContext<'_>,
    opts: &IngestOptions,
    progress: &dyn Fn(u64, u64),
) -> Result<Outcome, IngestError> {
    let parquet = is_parquet(path).map_err(|e| FileError::io(path, e))?;
    // Chunks the validator is done with go back to the reader for reuse.
    let (chunk_spare_tx, chunk_spare_rx) = sync_channel::<Chunk>(4);
    let (header, encoding, rows_rx, reader_thread, hash_state): Opened = if parquet {
        let (header, rows) = read_parquet_rows(path, opts.source.is_some())?;
        let (tx, rx) = sync_channel(4);
        let handle = std::thread::spawn(move || {
            let mut rows = rows.into_iter().peekable();
            while rows.peek().is_some() {
                let chunk: Chunk = rows.by_ref().take(READ_CHUNK).collect();
                if tx.send(Ok(chunk)).is_err() {
                    return;
                }
            }
        });
        (header, "Parquet".to_string(), rx, handle, None)
    } else {
        let src = open_csv(path, opts.encoding, opts.source.is_some())?;
        let header = src.header.clone();
        let encoding = format!("{}, '{}'-separated", src.encoding, src.delimiter as char);
        let state = src.hash.clone();
        let (tx, rx) = sync_channel(4);
        let shown = path_string(path);
        let handle =
            std::thread::spawn(move || read_csv_rows(src.reader, shown, &tx, &chunk_spare_rx));
        (header, encoding, rx, handle, Some(state))
    };

    let binner = Binner::new(&ctx.city.layer, &ctx.city.index, opts.resolution);
    let mut validator = Validator::new(
        ctx.vocabulary,
        ctx.city,
        binner,
        ctx.geocoder.as_ref(),
        opts.source,
        opts.years.clone(),
    );
    // Which file column holds which contract column; unknown columns are still
    // searched for identifiers.
    let mapping: Vec<Option<RecordColumn>> = header.columns.clone();
    let synthetic_col = mapping
        .iter()
        .position(|c| *c == Some(RecordColumn::Synthetic));

    let (wtx, wrx) = sync_channel::<Records>(2);
    let records_path = partial.join(RECORDS_FILE);
    let layer_codes: Vec<String> = ctx
        .city
        .layer
        .districts
        .iter()
        .map(|d| d.code.clone())
        .collect();
    let category_codes: Vec<String> = ctx
        .vocabulary
        .categories()
        .iter()
        .map(|c| c.code.clone())
        .collect();
    // Written buffers come back for reuse.
    let (spare_tx, spare_rx) = sync_channel::<Records>(2);
    let writer = std::thread::spawn(move || {
        write_records(
            &records_path,
            &wrx,
            &spare_tx,
            &layer_codes,
            &category_codes,
        )
    });

    let mut rejects_out = BufWriter::new(File::create(partial.join(REJECTS_FILE))?);
    writeln!(rejects_out, "line,column,value,reason")?;
    let mut out = Outcome {
        checksum: String::new(),
        rows_read: 0,
        rows_accepted: 0,
        rows_located: 0,
        addresses_geocoded: 0,
        addresses_failed: 0,
        rows_rejected: 0,
        records: 0,
        reasons: HashMap::new(),
        ignored: header.ignored().iter().map(|s| s.to_string()).collect(),
        encoding,
        sources: Default::default(),
        synthetic: false,
    };
    let mut records = Records::with_capacity(WRITE_CHUNK + 64);
    let mut rejects: Vec<Reject> = Vec::new();
    let mut failure: Option<IngestError> = None;
    'chunks: for chunk in rows_rx.iter() {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        let mut fields: Vec<Option<&str>> = Vec::with_capacity(32);
        for (line, record) in &chunk {
            out.rows_read += 1;
            fields.clear();
            // One check of the row's bytes, not one per field; a field split inside a
            // character (impossible after the reader's own check) is refused the same way.
            let text = std::str::from_utf8(record.as_slice()).ok();
            for i in 0..record.len() {
                match text.and_then(|t| t.get(record.range(i)?)) {
                    Some(s) => fields.push(Some(s).filter(|s| !s.is_empty())),
                    None => {
                        failure = Some(
                            FileError::new(path, "text is not valid UTF-8")
                                .line(*line)
                                .hint("Re-run with --encoding windows-1250 (or save the file as UTF-8)")
                                .into(),
                        );
                        break 'chunks;
                    }
                }
            }
            // Direct identifiers anywhere refuse the whole file. Known columns are
            // looked at one by one only when the whole row might hold one.
            let row_clean = !row_may_hold_pesel_or_email(record.as_slice());
            for (i, f) in fields.iter().enumerate() {
                let Some(v) = *f else { continue };
                let free_text = mapping.get(i).copied().flatten().is_none();
                if row_clean && !free_text {
                    continue;
                }
                if let Some(what) = identifier_value(v, free_text) {
                    let col = header
                        .headers
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| format!("#{}", i + 1));
                    failure = Some(
                        FileError::new(path, format!("column {col:?} holds {what}, a direct identifier"))
                            .line(*line)
                            .hint("Nothing was ingested. Run `kmapa pseudonymise` on the export inside the office first")
                            .into(),
                    );
                    break 'chunks;
                }
            }
            let mut cells: Cells<'_> = [None; RecordColumn::ALL.len()];
            for (i, f) in fields.iter().enumerate() {
                if let Some(Some(c)) = mapping.get(i) {
                    cells[*c as usize] = *f;
                }
            }
            if fields.len() > mapping.len() {
                rejects.push(Reject {
                    line: *line,
                    column: "(row)".into(),
                    value: format!("{} fields", fields.len()),
                    reason: format!(
                        "the row has {} fields, the header {}",
                        fields.len(),
                        mapping.len()
                    ),
                    kind: "wrong number of fields",
                });
            } else if validator.row(*line, &cells, &mut records, &mut rejects) {
                out.rows_accepted += 1;
                match records.records.last().map(|r| r.located_by) {
                    Some(crate::validate::LocatedBy::District) | None => {}
                    Some(by) => {
                        out.rows_located += 1;
                        if by == crate::validate::LocatedBy::Address {
                            out.addresses_geocoded += 1;
                        }
                    }
                }
            }
            if !rejects.is_empty() {
                out.rows_rejected += 1;
                if rejects.iter().any(|r| r.column == "address") {
                    out.addresses_failed += 1;
                }
                if opts.strict {
                    let r = &rejects[0];
                    failure = Some(IngestError::Strict {
                        path: path_string(path),
                        line: r.line,
                        reason: format!("column `{}`, value {:?}: {}", r.column, r.value, r.reason),
                    });
                    break 'chunks;
                }
                for r in rejects.drain(..) {
                    *out.reasons.entry(r.kind).or_default() += 1;
                    write_reject(&mut rejects_out, &r)?;
                }
            }
            if let Some(c) = synthetic_col
                && fields.get(c).copied().flatten() == Some("true")
            {
                out.synthetic = true;
            }
        }
        if records.len() >= WRITE_CHUNK {
            for r in &records.records {
                out.sources.insert(r.source);
            }
            out.records += records.len() as u64;
            let next = spare_rx
                .try_recv()
                .unwrap_or_else(|_| Records::with_capacity(WRITE_CHUNK + 64));
            if wtx.send(std::mem::replace(&mut records, next)).is_err() {
                break;
            }
        }
        let bytes = hash_state
            .as_ref()
            .map_or(0, |s| s.lock().map(|s| s.bytes).unwrap_or(0));
        progress(bytes, out.rows_read);
        drop(fields);
        let _ = chunk_spare_tx.try_send(chunk);
    }
    drop(rows_rx);
    let _ = reader_thread.join();
    if failure.is_none() && !records.is_empty() {
        for r in &records.records {
            out.sources.insert(r.source);
        }
        out.records += records.len() as u64;
        let _ = wtx.send(records);
    }
    drop(wtx);
    let written = writer
        .join()
        .map_err(|_| std::io::Error::other("the Parquet writer thread panicked"))?;
    if let Some(e) = failure {
        return Err(e);
    }
    written?;
    rejects_out.flush()?;
    out.checksum = match hash_state {
        Some(s) => s
            .lock()
            .ok()
            .and_then(|s| s.checksum.clone())
            .unwrap_or_default(),
        None => file_sha256(path)?,
    };
    if out.checksum.is_empty() {
        out.checksum = file_sha256(path)?;
    }
    Ok(out)
}

fn path_string(p: &Path) -> String {
    p.display().to_string()
}

fn file_sha256(path: &Path) -> Result<String, IngestError> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut f = File::open(path).map_err(|e| FileError::io(path, e))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn write_reject(w: &mut impl Write, r: &Reject) -> std::io::Result<()> {
    let esc = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    writeln!(
        w,
        "{},{},{},{}",
        r.line,
        esc(&r.column),
        esc(&r.value),
        esc(&r.reason)
    )
}

/// Parses CSV rows on a background thread and sends them in chunks; chunks the
/// validator is done with come back on `spare` and their buffers are reused.
fn read_csv_rows(
    mut reader: csv::Reader<Box<dyn std::io::Read + Send>>,
    path: String,
    tx: &SyncSender<Result<Chunk, IngestError>>,
    spare: &Receiver<Chunk>,
) {
    let fresh = || Vec::with_capacity(READ_CHUNK);
    let mut chunk: Chunk = fresh();
    let mut n = 0;
    loop {
        if n == chunk.len() {
            chunk.push((0, csv::ByteRecord::new()));
        }
        let (line, record) = &mut chunk[n];
        match reader.read_byte_record(record) {
            Ok(false) => break,
            Ok(true) => {
                *line = record.position().map_or(0, csv::Position::line);
                n += 1;
                if n == READ_CHUNK {
                    let next = spare.try_recv().unwrap_or_else(|_| fresh());
                    if tx.send(Ok(std::mem::replace(&mut chunk, next))).is_err() {
                        return;
                    }
                    n = 0;
                }
            }
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                let _ = tx.send(Err(FileError::new(
                    Path::new(&path),
                    format!("unreadable CSV: {e}"),
                )
                .line(line)
                .hint("Check quoting around this line")
                .into()));
                return;
            }
        }
    }
    chunk.truncate(n);
    if !chunk.is_empty() {
        let _ = tx.send(Ok(chunk));
    }
}

/// Reads a Parquet record file: every column as text, mapped like a CSV header.
fn read_parquet_rows(
    path: &Path,
    has_default_source: bool,
) -> Result<(HeaderMap, Chunk), IngestError> {
    let df = ParquetReader::new(File::open(path).map_err(|e| FileError::io(path, e))?)
        .finish()
        .map_err(|e| FileError::new(path, format!("unreadable Parquet: {e}")))?;
    let headers: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let header = HeaderMap::new(path, headers, has_default_source)?;
    let mut cols = Vec::new();
    for c in df.columns() {
        let s = c.cast(&DataType::String)?;
        let ca = s.str()?.clone();
        cols.push(ca);
    }
    let mut rows = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let record: csv::ByteRecord = cols.iter().map(|ca| ca.get(i).unwrap_or("")).collect();
        // Parquet has no lines: number rows as a CSV would (header = line 1).
        rows.push((i as u64 + 2, record));
    }
    Ok((header, rows))
}

/// Writes binned records as Parquet, one row group per chunk.
fn write_records(
    path: &Path,
    rx: &Receiver<Records>,
    spare: &SyncSender<Records>,
    districts: &[String],
    categories: &[String],
) -> Result<(), IngestError> {
    let schema = crate::batch::BatchSchema::new(districts, categories);
    let mut writer = crate::batch::BatchWriter::new(File::create(path)?, &schema)?;
    for mut chunk in rx.iter() {
        let df = schema.frame(&chunk)?;
        writer.write(&df)?;
        drop(df);
        chunk.clear();
        let _ = spare.try_send(chunk);
    }
    let file = writer.finish()?;
    file.sync_all()?;
    Ok(())
}
