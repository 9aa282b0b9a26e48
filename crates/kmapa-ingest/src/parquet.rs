//! Parquet record files with the contract's columns.

use std::fs::File;
use std::path::{Path, PathBuf};

use kmapa_model::records::{CANONICAL_HEADER, RecordBatch, RecordColumn, RecordSink};
use kmapa_model::{AgeBand, Sex, Source};
use polars::prelude::*;

fn io_err(e: PolarsError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Writes record batches to a Parquet file (zstd, one row group per batch).
/// The file appears under its name only at `finish`.
pub struct ParquetRecordWriter {
    target: PathBuf,
    tmp: PathBuf,
    file: File,
    writer: Option<polars::io::parquet::write::BatchedWriter<File>>,
    synthetic: bool,
}

impl ParquetRecordWriter {
    /// `synthetic` is recorded in the file's key-value metadata (`kmapa.synthetic`).
    pub fn create(target: &Path, synthetic: bool) -> std::io::Result<Self> {
        let (tmp, file) = kmapa_model::fsutil::create_partial(target)?;
        Ok(Self {
            target: target.to_path_buf(),
            tmp,
            file,
            writer: None,
            synthetic,
        })
    }
}

fn opt_str(name: RecordColumn, v: &[Option<String>]) -> Column {
    Column::new(
        name.name().into(),
        v.iter().map(|x| x.as_deref()).collect::<Vec<_>>(),
    )
}

/// The batch as a DataFrame with the canonical columns in canonical order.
pub fn batch_to_frame(b: &RecordBatch) -> PolarsResult<DataFrame> {
    let columns: Vec<Column> = CANONICAL_HEADER
        .iter()
        .map(|&c| match c {
            RecordColumn::Source => Column::new(
                c.name().into(),
                b.source.iter().map(|s| s.code()).collect::<Vec<_>>(),
            ),
            RecordColumn::PersonId => Column::new(
                c.name().into(),
                b.person_id.iter().map(String::as_str).collect::<Vec<_>>(),
            ),
            RecordColumn::HouseholdId => opt_str(c, &b.household_id),
            RecordColumn::Year => Column::new(c.name().into(), &b.year),
            RecordColumn::Category => Column::new(
                c.name().into(),
                b.category.iter().map(String::as_str).collect::<Vec<_>>(),
            ),
            RecordColumn::Lat => Column::new(c.name().into(), &b.lat),
            RecordColumn::Lon => Column::new(c.name().into(), &b.lon),
            RecordColumn::Address => opt_str(c, &b.address),
            RecordColumn::District => opt_str(c, &b.district),
            RecordColumn::Sex => Column::new(
                c.name().into(),
                b.sex.iter().map(|s| s.map(Sex::code)).collect::<Vec<_>>(),
            ),
            RecordColumn::BirthYear => Column::new(c.name().into(), &b.birth_year),
            RecordColumn::AgeBand => Column::new(
                c.name().into(),
                b.age_band
                    .iter()
                    .map(|a| a.map(AgeBand::code))
                    .collect::<Vec<_>>(),
            ),
            RecordColumn::Synthetic => Column::new(c.name().into(), &b.synthetic),
            RecordColumn::Categories => unreachable!("not in the canonical header"),
        })
        .collect();
    DataFrame::new(b.len(), columns)
}

impl RecordSink for ParquetRecordWriter {
    fn write_batch(&mut self, batch: &RecordBatch) -> std::io::Result<()> {
        let df = batch_to_frame(batch).map_err(io_err)?;
        if self.writer.is_none() {
            let meta = KeyValueMetadata::from_static(vec![(
                "kmapa.synthetic".to_string(),
                self.synthetic.to_string(),
            )]);
            let w = ParquetWriter::new(self.file.try_clone()?)
                .with_compression(ParquetCompression::Zstd(None))
                .with_key_value_metadata(Some(meta))
                .batched(df.schema())
                .map_err(io_err)?;
            self.writer = Some(w);
        }
        self.writer
            .as_mut()
            .expect("created above")
            .write_batch(&df)
            .map_err(io_err)
    }

    fn finish(self: Box<Self>) -> std::io::Result<()> {
        let mut this = *self;
        let result = (|| {
            if this.writer.is_none() {
                // No rows: still a valid file with the contract's schema.
                this.write_batch(&RecordBatch::default())?;
            }
            this.writer.take().expect("set").finish().map_err(io_err)?;
            this.file.sync_all()?;
            std::fs::rename(&this.tmp, &this.target)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&this.tmp);
        }
        result
    }
}

/// Reads a Parquet record file written with the canonical columns back into a batch
/// (for tests and round trips; real ingest validates row by row instead).
pub fn read_parquet_records(path: &Path) -> PolarsResult<RecordBatch> {
    let df = ParquetReader::new(File::open(path)?).finish()?;
    let strs = |name: &str| -> PolarsResult<Vec<Option<String>>> {
        Ok(df
            .column(name)?
            .str()?
            .iter()
            .map(|v| v.map(str::to_string))
            .collect())
    };
    let req = |v: Vec<Option<String>>| v.into_iter().map(Option::unwrap_or_default).collect();
    let parse_err =
        |what: &str, v: &str| PolarsError::ComputeError(format!("bad {what} {v:?}").into());
    let source = strs("source")?
        .into_iter()
        .map(|s| {
            s.unwrap_or_default()
                .parse::<Source>()
                .map_err(|_| parse_err("source", ""))
        })
        .collect::<PolarsResult<Vec<_>>>()?;
    let sex = strs("sex")?
        .into_iter()
        .map(|s| {
            s.map(|v| v.parse::<Sex>().map_err(|_| parse_err("sex", &v)))
                .transpose()
        })
        .collect::<PolarsResult<Vec<_>>>()?;
    let age_band = strs("age_band")?
        .into_iter()
        .map(|s| {
            s.map(|v| v.parse::<AgeBand>().map_err(|_| parse_err("age band", &v)))
                .transpose()
        })
        .collect::<PolarsResult<Vec<_>>>()?;
    let ints = |name: &str| -> PolarsResult<Vec<Option<i32>>> {
        Ok(df.column(name)?.i32()?.iter().collect())
    };
    let floats = |name: &str| -> PolarsResult<Vec<Option<f64>>> {
        Ok(df.column(name)?.f64()?.iter().collect())
    };
    Ok(RecordBatch {
        source,
        person_id: req(strs("person_id")?),
        household_id: strs("household_id")?,
        year: ints("year")?
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect(),
        category: req(strs("category")?),
        lat: floats("lat")?,
        lon: floats("lon")?,
        address: strs("address")?,
        district: strs("district")?,
        sex,
        birth_year: ints("birth_year")?,
        age_band,
        synthetic: df
            .column("synthetic")?
            .bool()?
            .iter()
            .map(|v| v.unwrap_or(false))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RecordBatch {
        RecordBatch {
            source: vec![Source::Ops, Source::Pup],
            person_id: vec!["a1".into(), "b2".into()],
            household_id: vec![Some("H1".into()), None],
            year: vec![2020, 2024],
            category: vec!["poverty".into(), "under_30".into()],
            lat: vec![Some(51.1), None],
            lon: vec![Some(17.03), None],
            address: vec![None, None],
            district: vec![None, Some("FAB-01".into())],
            sex: vec![Some(Sex::Female), None],
            birth_year: vec![Some(1970), None],
            age_band: vec![None, Some(AgeBand::A18_29)],
            synthetic: vec![true, true],
        }
    }

    #[test]
    fn round_trip_preserves_every_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.parquet");
        let mut w: Box<dyn RecordSink> =
            Box::new(ParquetRecordWriter::create(&path, true).unwrap());
        w.write_batch(&sample()).unwrap();
        w.write_batch(&sample()).unwrap();
        assert!(!path.exists(), "nothing visible before finish");
        w.finish().unwrap();
        let back = read_parquet_records(&path).unwrap();
        assert_eq!(back.len(), 4);
        let mut twice = sample();
        let s = sample();
        twice.source.extend(s.source);
        twice.person_id.extend(s.person_id);
        twice.household_id.extend(s.household_id);
        twice.year.extend(s.year);
        twice.category.extend(s.category);
        twice.lat.extend(s.lat);
        twice.lon.extend(s.lon);
        twice.address.extend(s.address);
        twice.district.extend(s.district);
        twice.sex.extend(s.sex);
        twice.birth_year.extend(s.birth_year);
        twice.age_band.extend(s.age_band);
        twice.synthetic.extend(s.synthetic);
        assert_eq!(back, twice);
        // Only the finished file is left.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
