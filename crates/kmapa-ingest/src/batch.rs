//! The batch file's schema: `records.parquet` as `kmapa ingest` writes it, and how
//! everything else reads it (docs/data-format.md).
//!
//! Every column with a fixed list of values (source, category, district, sex, age
//! band, how the record was located) is stored as a code: the position of its text in
//! the batch's list for that column, which the file's metadata holds (`kmapa.codes`, a
//! JSON object of lists). Writing codes instead of text takes the Parquet writer's
//! dictionary building (a hash of every row's text) off ingest, and a reader maps a
//! list once per file instead of looking up every row's text. Batches written before
//! codes hold text in those columns; every reader here takes both.
//!
//! Tried before: the columns as polars categoricals (Parquet dictionaries of the whole
//! list): ingest was 8 % faster, but polars reads a categorical column back by hashing
//! every row's text into its mapping, and loading for `kmapa protect` was 10 % slower.

use std::collections::BTreeMap;
use std::path::Path;

use kmapa_model::Source;
use kmapa_model::records::{AgeBand, Sex};
use polars::prelude::*;

use crate::validate::{LocatedBy, Records};

/// A value's code: its position in its column's list (every value is in it).
fn position<T: PartialEq>(x: T, all: &[T]) -> u32 {
    all.iter()
        .position(|y| *y == x)
        .expect("the list holds every value") as u32
}

/// The columns stored as codes, in the batch's column order.
pub const CODED: [&str; 6] = [
    "source",
    "category",
    "district",
    "sex",
    "age_band",
    "located_by",
];

/// The file metadata key holding the lists of the coded columns.
pub const CODES_KEY: &str = "kmapa.codes";

const SEXES: [Sex; 2] = [Sex::Female, Sex::Male];
const LOCATED: [LocatedBy; 3] = [LocatedBy::LatLon, LocatedBy::Address, LocatedBy::District];

/// Writes chunks of records as the batch's columns.
pub struct BatchSchema {
    districts: Vec<String>,
    categories: Vec<String>,
}

impl BatchSchema {
    pub fn new(districts: &[String], categories: &[String]) -> Self {
        Self {
            districts: districts.to_vec(),
            categories: categories.to_vec(),
        }
    }

    /// The lists of the coded columns (a record's category and district are already
    /// positions in the vocabulary's and the city's lists).
    pub fn codes(&self) -> Codes {
        let texts = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut lists = BTreeMap::new();
        lists.insert("source".to_string(), texts(&Source::ALL.map(Source::code)));
        lists.insert("category".to_string(), self.categories.clone());
        lists.insert("district".to_string(), self.districts.clone());
        lists.insert("sex".to_string(), texts(&SEXES.map(Sex::code)));
        lists.insert(
            "age_band".to_string(),
            texts(&AgeBand::ALL.map(AgeBand::code)),
        );
        lists.insert(
            "located_by".to_string(),
            texts(&LOCATED.map(LocatedBy::code)),
        );
        Codes(lists)
    }

    /// One chunk of records as the batch's columns.
    pub fn frame(&self, buf: &Records) -> PolarsResult<DataFrame> {
        let records = &buf.records;
        let n = records.len();
        let cols = vec![
            Column::new(
                "source".into(),
                records
                    .iter()
                    .map(|r| position(r.source, &Source::ALL))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "person_id".into(),
                records.iter().map(|r| buf.person_id(r)).collect::<Vec<_>>(),
            ),
            Column::new(
                "household_id".into(),
                records
                    .iter()
                    .map(|r| buf.household_id(r))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "year".into(),
                records.iter().map(|r| r.year).collect::<Vec<_>>(),
            ),
            Column::new(
                "category".into(),
                records
                    .iter()
                    .map(|r| u32::from(r.category))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "district".into(),
                records
                    .iter()
                    .map(|r| u32::from(r.district))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "h3".into(),
                records.iter().map(|r| r.cell).collect::<Vec<_>>(),
            ),
            Column::new(
                "sex".into(),
                records
                    .iter()
                    .map(|r| r.sex.map(|s| position(s, &SEXES)))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "birth_year".into(),
                records.iter().map(|r| r.birth_year).collect::<Vec<_>>(),
            ),
            Column::new(
                "age_band".into(),
                records
                    .iter()
                    .map(|r| r.age_band.map(|a| position(a, &AgeBand::ALL)))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "located_by".into(),
                records
                    .iter()
                    .map(|r| position(r.located_by, &LOCATED))
                    .collect::<Vec<_>>(),
            ),
        ];
        DataFrame::new(n, cols)
    }
}

/// Writes a batch file: a row group per chunk of records, then the footer with the
/// lists of the coded columns. The person and household pseudonyms are written plain,
/// not as Parquet dictionaries: a dictionary hashes every row's text (a fifth of
/// ingest's work on 10 million records) and, with zstd, the plain column is smaller
/// anyway (each person's rows are next to each other). Every other column is written as
/// polars writes it (a dictionary where it pays).
pub struct BatchWriter {
    writer: polars_parquet::write::FileWriter<std::fs::File>,
    fields: Vec<polars_parquet::write::ParquetType>,
    encodings: Vec<Vec<polars_parquet::write::Encoding>>,
    options: polars_parquet::write::WriteOptions,
    codes: String,
}

impl BatchWriter {
    pub fn new(file: std::fs::File, schema: &BatchSchema) -> PolarsResult<Self> {
        use polars_parquet::write::{self as pw, Encoding};
        let empty = schema.frame(&Records::default())?;
        let arrow = empty.schema().to_arrow(CompatLevel::newest());
        let options = pw::WriteOptions {
            statistics: pw::StatisticsOptions::default(),
            version: pw::Version::V1,
            compression: pw::CompressionOptions::Zstd(Some(pw::ZstdLevel::try_new(1)?)),
            data_page_size: None,
        };
        let fields = pw::to_parquet_schema(&arrow)?.fields().to_vec();
        let encodings = arrow
            .iter_values()
            .map(|f| match f.name.as_str() {
                "person_id" | "household_id" => vec![Encoding::Plain],
                _ => pw::get_dtype_encoding(&f.dtype),
            })
            .collect();
        Ok(Self {
            writer: pw::FileWriter::try_new(file, arrow, options)?,
            fields,
            encodings,
            options,
            codes: serde_json::to_string(&schema.codes().0).expect("lists of text serialise"),
        })
    }

    /// Writes a chunk of records (as [`BatchSchema::frame`] makes it) as row groups.
    pub fn write(&mut self, df: &DataFrame) -> PolarsResult<()> {
        for chunk in df.iter_chunks(CompatLevel::newest(), false) {
            let rows = chunk.len() as u64;
            if rows == 0 {
                continue;
            }
            let group = polars_parquet::write::row_group_iter(
                chunk,
                self.encodings.clone().into(),
                self.fields.clone(),
                self.options,
            );
            self.writer.write(rows, group)?;
        }
        Ok(())
    }

    /// Writes the footer: the arrow schema (as polars writes it) and the codes' lists.
    pub fn finish(mut self) -> PolarsResult<std::fs::File> {
        let arrow = polars_parquet::write::schema_to_metadata_key(self.writer.schema());
        let codes = polars_parquet::write::KeyValue {
            key: CODES_KEY.to_string(),
            value: Some(self.codes),
        };
        self.writer.end(Some(vec![arrow, codes]))?;
        Ok(self.writer.into_inner())
    }
}

/// The texts of a batch's coded columns, per column (none for a batch written before
/// codes: its columns hold text).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Codes(BTreeMap<String, Vec<String>>);

impl Codes {
    /// Each row's value of a coded (or, in an older batch, text) column through `f`
    /// (`none` for an empty cell); `f` sees each text of a list once.
    pub fn per_row<T: Copy>(
        &self,
        col: &Column,
        none: T,
        f: impl Fn(&str) -> T,
    ) -> PolarsResult<Vec<T>> {
        if col.dtype() == &DataType::String {
            return Ok(col.str()?.iter().map(|v| v.map_or(none, &f)).collect());
        }
        let table: Vec<T> = self.texts(col.name())?.iter().map(|t| f(t)).collect();
        self.through(col, &table, none)
    }

    /// A coded column as text (an older batch's text column as it is).
    pub fn text(&self, col: &Column) -> PolarsResult<Column> {
        if col.dtype() == &DataType::String {
            return Ok(col.clone());
        }
        let table: Vec<Option<&str>> = self
            .texts(col.name())?
            .iter()
            .map(|t| Some(t.as_str()))
            .collect();
        let texts = self.through(col, &table, None)?;
        Ok(Column::new(col.name().clone(), texts))
    }

    /// Each row's code of a coded column looked up in `table` (one entry per text of
    /// its list; `none` for an empty cell); a code past the list is an error.
    fn through<T: Copy>(&self, col: &Column, table: &[T], none: T) -> PolarsResult<Vec<T>> {
        col.u32()?
            .iter()
            .map(|c| match c {
                None => Ok(none),
                Some(c) => table
                    .get(c as usize)
                    .copied()
                    .ok_or_else(|| self.out_of_list(col.name(), c)),
            })
            .collect()
    }

    fn texts(&self, column: &str) -> PolarsResult<&[String]> {
        self.0.get(column).map(Vec::as_slice).ok_or_else(|| {
            polars_err!(ComputeError: "column `{column}` holds codes, but the file's metadata (`{CODES_KEY}`) has no list for it: the batch is damaged; ingest its file again")
        })
    }

    fn out_of_list(&self, column: &str, code: u32) -> PolarsError {
        polars_err!(ComputeError: "column `{column}` holds code {code}, past the end of its list in the file's metadata (`{CODES_KEY}`): the batch is damaged; ingest its file again")
    }
}

/// The lists of a batch file's coded columns (empty for a batch written before codes).
pub fn codes(path: &Path) -> PolarsResult<Codes> {
    let mut reader = ParquetReader::new(std::fs::File::open(path)?);
    let meta = reader.get_metadata()?;
    let Some(kv) = meta.key_value_metadata() else {
        return Ok(Codes::default());
    };
    let Some(json) = kv
        .iter()
        .find(|kv| kv.key == CODES_KEY)
        .and_then(|kv| kv.value.clone())
    else {
        return Ok(Codes::default());
    };
    serde_json::from_str(&json).map(Codes).map_err(|e| {
        polars_err!(ComputeError: "the file's metadata `{CODES_KEY}` is not a JSON object of lists of text ({e}): the batch is damaged; ingest its file again")
    })
}

/// Reads a batch file as stored (`columns`: those wanted, all when `None`; `slice`:
/// offset and number of rows): coded columns hold codes (see [`codes`]).
pub fn read_stored(
    path: &Path,
    columns: Option<&[&str]>,
    slice: Option<(usize, usize)>,
) -> PolarsResult<DataFrame> {
    let file = std::fs::File::open(path)?;
    let mut reader = ParquetReader::new(file);
    if let Some(c) = columns {
        reader = reader.with_columns(Some(c.iter().map(|c| c.to_string()).collect()));
    }
    if let Some((offset, len)) = slice {
        reader = reader.with_slice(Some((offset, len)));
    }
    reader.finish()
}

/// Reads a batch file with its coded columns as text (as [`read_stored`] otherwise).
pub fn read(
    path: &Path,
    columns: Option<&[&str]>,
    slice: Option<(usize, usize)>,
) -> PolarsResult<DataFrame> {
    let df = read_stored(path, columns, slice)?;
    let codes = codes(path)?;
    let n = df.height();
    let cols = df
        .columns()
        .iter()
        .map(|c| {
            if CODED.contains(&c.name().as_str()) {
                codes.text(c)
            } else {
                Ok(c.clone())
            }
        })
        .collect::<PolarsResult<Vec<_>>>()?;
    DataFrame::new(n, cols)
}

/// Rows in a batch file.
pub fn rows(path: &Path) -> PolarsResult<usize> {
    ParquetReader::new(std::fs::File::open(path)?).num_rows()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{LocatedBy, Record};
    use kmapa_model::Source;

    fn records() -> Records {
        let mut buf = Records::default();
        let text = "P1H1P2";
        buf.text.push_str(text);
        let sexes = [Some(Sex::Female), Some(Sex::Male), None];
        let bands = [None, Some(AgeBand::A50_64), Some(AgeBand::A0_17)];
        let located = [LocatedBy::LatLon, LocatedBy::Address, LocatedBy::District];
        for i in 0..6 {
            buf.records.push(Record {
                source: Source::ALL[i % 2],
                person_id: if i < 3 { (0, 2) } else { (4, 6) },
                household_id: (i % 2 == 0).then_some((2, 4)),
                year: 2020 + i as i32,
                category: (i % 3) as u16,
                district: (i % 2) as u16,
                cell: (i != 5).then_some(0x8a1e_2041_a8ff_fff0 + i as u64),
                sex: sexes[i % 3],
                birth_year: Some(1950 + i as i32),
                age_band: bands[i % 3],
                located_by: located[i % 3],
            });
        }
        buf
    }

    #[test]
    fn a_batch_reads_back_as_written() {
        let districts = vec!["KRZ-01".to_string(), "FAB-05".to_string()];
        let categories = vec![
            "poverty".to_string(),
            "homelessness".to_string(),
            "unemployed_registered".to_string(),
        ];
        let schema = BatchSchema::new(&districts, &categories);
        let df = schema.frame(&records()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.parquet");
        // Two chunks, as ingest writes them: two row groups.
        let mut writer = BatchWriter::new(std::fs::File::create(&path).unwrap(), &schema).unwrap();
        writer.write(&df.slice(0, 4)).unwrap();
        writer.write(&df.slice(4, 2)).unwrap();
        writer.finish().unwrap();
        let stored = read_stored(&path, None, None).unwrap();
        assert!(stored.equals_missing(&df), "{stored}\n{df}");
        assert_eq!(
            stored.column("category").unwrap().dtype(),
            &DataType::UInt32
        );
        assert_eq!(codes(&path).unwrap(), schema.codes());
        let back = read(&path, None, None).unwrap();
        assert_eq!(rows(&path).unwrap(), 6);
        // Every coded column reads back as the text each record had.
        let text = |name: &str| -> Vec<Option<String>> {
            let c = back.column(name).unwrap().str().unwrap().clone();
            c.iter().map(|v| v.map(str::to_string)).collect()
        };
        let recs = records().records;
        let want = |f: &dyn Fn(&crate::validate::Record) -> Option<String>| -> Vec<Option<String>> {
            recs.iter().map(f).collect()
        };
        assert_eq!(text("source"), want(&|r| Some(r.source.code().into())));
        assert_eq!(
            text("category"),
            want(&|r| Some(categories[r.category as usize].clone()))
        );
        assert_eq!(
            text("district"),
            want(&|r| Some(districts[r.district as usize].clone()))
        );
        assert_eq!(text("sex"), want(&|r| r.sex.map(|s| s.code().into())));
        assert_eq!(
            text("age_band"),
            want(&|r| r.age_band.map(|a| a.code().into()))
        );
        assert_eq!(
            text("located_by"),
            want(&|r| Some(r.located_by.code().into()))
        );
        let column = |name: &str| back.column(name).unwrap().str().unwrap().clone();
        assert_eq!(column("district").get(1), Some("FAB-05"));
        assert_eq!(column("sex").get(2), None);
        assert_eq!(column("located_by").get(1), Some("address"));
        // A column subset and a slice, as the cube reads them.
        let part = read(&path, Some(&["person_id", "category"]), Some((4, 2))).unwrap();
        assert_eq!(part.shape(), (2, 2));
        assert_eq!(
            part.column("category").unwrap().str().unwrap().get(0),
            Some("homelessness")
        );
        let codes = codes(&path).unwrap();
        let sex = |df: &DataFrame| {
            codes
                .per_row(df.column("sex").unwrap(), 0u8, |v| v.as_bytes()[0])
                .unwrap()
        };
        assert_eq!(sex(&stored), vec![b'K', b'M', 0, b'K', b'M', 0]);
        // A batch written before codes (text columns, no lists) reads the same.
        let old = dir.path().join("old.parquet");
        let mut text_df = back.clone();
        ParquetWriter::new(std::fs::File::create(&old).unwrap())
            .finish(&mut text_df)
            .unwrap();
        assert_eq!(super::codes(&old).unwrap(), Codes::default());
        assert!(read(&old, None, None).unwrap().equals_missing(&back));
        assert_eq!(sex(&read_stored(&old, None, None).unwrap()), sex(&stored));
    }

    #[test]
    fn a_batch_with_no_records_reads_back_empty_with_every_column() {
        let schema = BatchSchema::new(&["KRZ-01".to_string()], &["poverty".to_string()]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.parquet");
        BatchWriter::new(std::fs::File::create(&path).unwrap(), &schema)
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(rows(&path).unwrap(), 0);
        let back = read(&path, None, None).unwrap();
        let empty = schema.frame(&Records::default()).unwrap();
        assert_eq!(back.get_column_names(), empty.get_column_names());
        assert_eq!(codes(&path).unwrap(), schema.codes());
    }

    #[test]
    fn a_code_past_its_list_is_an_error_not_a_guess() {
        let codes = BatchSchema::new(&["KRZ-01".to_string()], &["poverty".to_string()]).codes();
        let col = Column::new("district".into(), vec![0u32, 1]);
        let err = codes.per_row(&col, None, |v| Some(v.len())).unwrap_err();
        assert!(err.to_string().contains("code 1, past the end"), "{err}");
        assert!(codes.text(&col).is_err());
        let unlisted = Codes::default().per_row(&col, None, |v| Some(v.len()));
        assert!(unlisted.unwrap_err().to_string().contains("no list for it"));
    }
}
