//! The batch file's schema: `records.parquet` as `kmapa ingest` writes it, and how
//! everything else reads it (docs/data-format.md).
//!
//! Every column with a fixed list of values (source, category, district, sex, age
//! band, how the record was located) is text. Writing them as categoricals (Parquet
//! dictionaries of the whole list) was tried: ingest was 8 % faster, but polars reads
//! a categorical column back by hashing every row into its mapping, and loading for
//! `kmapa protect` was 10 % slower; protect runs at every publish, ingest once.

use std::path::Path;

use kmapa_model::records::{AgeBand, Sex};
use polars::prelude::*;

use crate::validate::Records;

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

    /// One chunk of records as the batch's columns.
    pub fn frame(&self, buf: &Records) -> PolarsResult<DataFrame> {
        let records = &buf.records;
        let n = records.len();
        let cols = vec![
            Column::new(
                "source".into(),
                records.iter().map(|r| r.source.code()).collect::<Vec<_>>(),
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
                    .map(|r| self.categories[r.category as usize].as_str())
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "district".into(),
                records
                    .iter()
                    .map(|r| self.districts[r.district as usize].as_str())
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
                    .map(|r| r.sex.map(Sex::code))
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
                    .map(|r| r.age_band.map(AgeBand::code))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "located_by".into(),
                records
                    .iter()
                    .map(|r| r.located_by.code())
                    .collect::<Vec<_>>(),
            ),
        ];
        DataFrame::new(n, cols)
    }
}

/// Reads a batch file (`columns`: those wanted, all when `None`; `slice`: offset and
/// number of rows).
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
    reader.finish()
}

/// Each row's value of a text column through `f` (`none` for an empty cell).
pub fn per_row<T: Copy>(col: &Column, none: T, f: impl Fn(&str) -> T) -> PolarsResult<Vec<T>> {
    Ok(col.str()?.iter().map(|v| v.map_or(none, &f)).collect())
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
        let mut df = schema.frame(&records()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.parquet");
        ParquetWriter::new(std::fs::File::create(&path).unwrap())
            .finish(&mut df)
            .unwrap();
        let back = read(&path, None, None).unwrap();
        assert!(back.equals_missing(&df), "{back}\n{df}");
        assert_eq!(rows(&path).unwrap(), 6);
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
        let sex = per_row(back.column("sex").unwrap(), 0u8, |v| v.len() as u8).unwrap();
        assert_eq!(sex, vec![1, 1, 0, 1, 1, 0]);
    }
}
