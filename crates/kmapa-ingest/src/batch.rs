//! The batch file's schema: `records.parquet` as `kmapa ingest` writes it, and how
//! everything else reads it (docs/data-format.md).
//!
//! Columns with a short, fixed list of values (source, category, district, sex, age
//! band, how the record was located) are written as enums: Parquet dictionary
//! columns of text whose dictionary is that list, so writing them hashes nothing
//! (the writer's dictionary building was a fifth of an ingest's time) and any Parquet
//! reader still sees text. Batches written before are plain text columns; [`read`]
//! gives both as text.

use std::path::Path;

use kmapa_model::records::{AgeBand, Sex};
use kmapa_model::{Source, Vocabulary};
use polars::prelude::*;

use crate::validate::{LocatedBy, Records};

/// Columns whose values are a fixed list.
pub const ENUM_COLUMNS: [&str; 6] = [
    "source",
    "category",
    "district",
    "sex",
    "age_band",
    "located_by",
];

/// The enum types of a city's batches (the lists: its vocabulary, its districts).
pub struct BatchSchema {
    source: DataType,
    category: DataType,
    district: DataType,
    sex: DataType,
    age_band: DataType,
    located_by: DataType,
}

fn enum_type<'a>(
    column: &str,
    values: impl IntoIterator<Item = &'a str> + Clone,
) -> PolarsResult<DataType> {
    // A categorical type named by its column and list (the name is stored in the file:
    // batches stay byte-for-byte reproducible), with four-byte numbers (polars' enum
    // types take the smallest integer, which the polars build here does not carry),
    // its values numbered in the list's order.
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for v in values.clone() {
        h.update(v.as_bytes());
        h.update([0]);
    }
    let name = format!("kmapa.{column}.{}", &hex::encode(h.finalize())[..16]);
    let categories = Categories::new(name.into(), "kmapa".into(), CategoricalPhysical::U32);
    let mapping = categories.mapping();
    for (i, v) in values.into_iter().enumerate() {
        let id = mapping.insert_cat(v)?;
        polars_ensure!(id as usize == i, ComputeError: "the value {v:?} is listed twice");
    }
    Ok(DataType::from_categories(categories))
}

/// An enum column from each row's position in the enum's list.
fn enum_column(name: &str, dtype: &DataType, codes: Vec<Option<u32>>) -> PolarsResult<Column> {
    let physical = DataType::from(dtype.cat_physical()?);
    let codes = Series::new(name.into(), codes).cast(&physical)?;
    Ok(Series::from_cats_and_dtype(&codes, dtype, true)?.into_column())
}

impl BatchSchema {
    pub fn new(districts: &[String], categories: &[String]) -> PolarsResult<Self> {
        Ok(Self {
            source: enum_type("source", Source::ALL.iter().map(|s| s.code()))?,
            category: enum_type("category", categories.iter().map(String::as_str))?,
            district: enum_type("district", districts.iter().map(String::as_str))?,
            sex: enum_type("sex", Sex::ALL.iter().map(|s| s.code()))?,
            age_band: enum_type("age_band", AgeBand::ALL.iter().map(|a| a.code()))?,
            located_by: enum_type("located_by", LocatedBy::ALL.iter().map(|l| l.code()))?,
        })
    }

    pub fn for_city(vocabulary: &Vocabulary, districts: &[String]) -> PolarsResult<Self> {
        let categories: Vec<String> = vocabulary
            .categories()
            .iter()
            .map(|c| c.code.clone())
            .collect();
        Self::new(districts, &categories)
    }

    /// One chunk of records as the batch's columns.
    pub fn frame(&self, buf: &Records) -> PolarsResult<DataFrame> {
        let records = &buf.records;
        let n = records.len();
        let position = |list: &[Source], s: Source| list.iter().position(|&x| x == s);
        let cols = vec![
            enum_column(
                "source",
                &self.source,
                records
                    .iter()
                    .map(|r| position(&Source::ALL, r.source).map(|i| i as u32))
                    .collect(),
            )?,
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
            enum_column(
                "category",
                &self.category,
                records
                    .iter()
                    .map(|r| Some(u32::from(r.category)))
                    .collect(),
            )?,
            enum_column(
                "district",
                &self.district,
                records
                    .iter()
                    .map(|r| Some(u32::from(r.district)))
                    .collect(),
            )?,
            Column::new(
                "h3".into(),
                records.iter().map(|r| r.cell).collect::<Vec<_>>(),
            ),
            enum_column(
                "sex",
                &self.sex,
                records
                    .iter()
                    .map(|r| {
                        r.sex
                            .and_then(|s| Sex::ALL.iter().position(|&x| x == s))
                            .map(|i| i as u32)
                    })
                    .collect(),
            )?,
            Column::new(
                "birth_year".into(),
                records.iter().map(|r| r.birth_year).collect::<Vec<_>>(),
            ),
            enum_column(
                "age_band",
                &self.age_band,
                records
                    .iter()
                    .map(|r| {
                        r.age_band
                            .and_then(|a| AgeBand::ALL.iter().position(|&x| x == a))
                            .map(|i| i as u32)
                    })
                    .collect(),
            )?,
            enum_column(
                "located_by",
                &self.located_by,
                records
                    .iter()
                    .map(|r| {
                        LocatedBy::ALL
                            .iter()
                            .position(|&x| x == r.located_by)
                            .map(|i| i as u32)
                    })
                    .collect(),
            )?,
        ];
        DataFrame::new(n, cols)
    }
}

/// Reads a batch file (`columns`: those wanted, all when `None`; `slice`: offset and
/// number of rows), every enum column as text, whichever version wrote it.
pub fn read(
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
    let mut df = reader.finish()?;
    for name in ENUM_COLUMNS {
        if let Ok(c) = df.column(name)
            && matches!(c.dtype(), DataType::Enum(..) | DataType::Categorical(..))
        {
            let text = c.cast(&DataType::String)?;
            df.with_column(text)?;
        }
    }
    Ok(df)
}

/// Rows in a batch file.
pub fn rows(path: &Path) -> PolarsResult<usize> {
    ParquetReader::new(std::fs::File::open(path)?).num_rows()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Record;

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
    fn enum_and_text_batches_read_the_same() {
        let districts = vec!["KRZ-01".to_string(), "FAB-05".to_string()];
        let categories = vec![
            "poverty".to_string(),
            "homelessness".to_string(),
            "unemployed_registered".to_string(),
        ];
        let schema = BatchSchema::new(&districts, &categories).unwrap();
        let mut new = schema.frame(&records()).unwrap();
        assert!(matches!(
            new.column("category").unwrap().dtype(),
            DataType::Categorical(..)
        ));
        // A batch as written before: the same columns as text.
        let mut old = new.clone();
        for name in ENUM_COLUMNS {
            let text = old.column(name).unwrap().cast(&DataType::String).unwrap();
            old.with_column(text).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let (new_path, old_path) = (
            dir.path().join("new.parquet"),
            dir.path().join("old.parquet"),
        );
        ParquetWriter::new(std::fs::File::create(&new_path).unwrap())
            .finish(&mut new)
            .unwrap();
        ParquetWriter::new(std::fs::File::create(&old_path).unwrap())
            .finish(&mut old)
            .unwrap();
        let (a, b) = (
            read(&new_path, None, None).unwrap(),
            read(&old_path, None, None).unwrap(),
        );
        assert!(a.equals_missing(&b), "{a}\n{b}");
        assert_eq!(
            a.column("district").unwrap().str().unwrap().get(1),
            Some("FAB-05")
        );
        assert_eq!(a.column("sex").unwrap().str().unwrap().get(2), None);
        assert_eq!(rows(&new_path).unwrap(), 6);
        // A column subset and a slice, as the cube reads them.
        let part = read(&new_path, Some(&["person_id", "category"]), Some((4, 2))).unwrap();
        assert_eq!(part.shape(), (2, 2));
        assert_eq!(
            part.column("category").unwrap().str().unwrap().get(0),
            Some("homelessness")
        );
    }
}
