//! The client-record contract: column names, their Polish aliases, and the small
//! closed vocabularies of sex and age band. One row is one person × year × category;
//! a `categories` column with several codes separated by `;` or `|` is accepted too.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::text::fold;

/// A column of the record contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum RecordColumn {
    Source,
    PersonId,
    HouseholdId,
    Year,
    Category,
    Categories,
    Lat,
    Lon,
    Address,
    District,
    Sex,
    BirthYear,
    AgeBand,
    Synthetic,
}

impl RecordColumn {
    pub const ALL: [RecordColumn; 14] = [
        RecordColumn::Source,
        RecordColumn::PersonId,
        RecordColumn::HouseholdId,
        RecordColumn::Year,
        RecordColumn::Category,
        RecordColumn::Categories,
        RecordColumn::Lat,
        RecordColumn::Lon,
        RecordColumn::Address,
        RecordColumn::District,
        RecordColumn::Sex,
        RecordColumn::BirthYear,
        RecordColumn::AgeBand,
        RecordColumn::Synthetic,
    ];

    /// The canonical (English) header.
    pub fn name(self) -> &'static str {
        match self {
            RecordColumn::Source => "source",
            RecordColumn::PersonId => "person_id",
            RecordColumn::HouseholdId => "household_id",
            RecordColumn::Year => "year",
            RecordColumn::Category => "category",
            RecordColumn::Categories => "categories",
            RecordColumn::Lat => "lat",
            RecordColumn::Lon => "lon",
            RecordColumn::Address => "address",
            RecordColumn::District => "district",
            RecordColumn::Sex => "sex",
            RecordColumn::BirthYear => "birth_year",
            RecordColumn::AgeBand => "age_band",
            RecordColumn::Synthetic => "synthetic",
        }
    }

    /// Headers accepted as this column, besides the canonical one (compared after
    /// [`fold`], so case, diacritics, `_`/`-`/space do not matter).
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            RecordColumn::Source => &["zrodlo", "źródło", "instytucja"],
            RecordColumn::PersonId => &["id_osoby", "pseudonim", "osoba", "person"],
            RecordColumn::HouseholdId => &["id_rodziny", "rodzina", "id_gospodarstwa", "household"],
            RecordColumn::Year => &["rok"],
            RecordColumn::Category => &["kategoria", "powod", "powód", "problem"],
            RecordColumn::Categories => &["kategorie", "powody", "problemy"],
            RecordColumn::Lat => &["latitude", "szerokosc", "szerokość", "y"],
            RecordColumn::Lon => &["longitude", "lng", "dlugosc", "długość", "x"],
            RecordColumn::Address => &["adres", "ulica_i_numer"],
            RecordColumn::District => &["dzielnica", "osiedle", "district_code", "kod_osiedla"],
            RecordColumn::Sex => &["plec", "płeć", "gender"],
            RecordColumn::BirthYear => &["rok_urodzenia", "birthyear"],
            RecordColumn::AgeBand => &["grupa_wieku", "przedzial_wieku", "przedział_wieku", "wiek"],
            RecordColumn::Synthetic => &["syntetyczne", "dane_syntetyczne"],
        }
    }

    /// The column a header names, if any.
    pub fn from_header(header: &str) -> Option<RecordColumn> {
        let h = fold(header);
        RecordColumn::ALL
            .into_iter()
            .find(|c| fold(c.name()) == h || c.aliases().iter().any(|a| fold(a) == h))
    }
}

impl fmt::Display for RecordColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The header the generator writes and `docs/data-format.md` documents
/// (long layout, every location form present; each row fills one of them).
pub const CANONICAL_HEADER: [RecordColumn; 13] = [
    RecordColumn::Source,
    RecordColumn::PersonId,
    RecordColumn::HouseholdId,
    RecordColumn::Year,
    RecordColumn::Category,
    RecordColumn::Lat,
    RecordColumn::Lon,
    RecordColumn::Address,
    RecordColumn::District,
    RecordColumn::Sex,
    RecordColumn::BirthYear,
    RecordColumn::AgeBand,
    RecordColumn::Synthetic,
];

/// Separators accepted between codes in a `categories` cell.
pub const CATEGORY_SEPARATORS: [char; 2] = [';', '|'];

/// Sex as recorded by the offices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Sex {
    Female,
    Male,
}

impl Sex {
    /// The code written to files: K (kobieta) or M (mężczyzna), as Polish registers use.
    pub fn code(self) -> &'static str {
        match self {
            Sex::Female => "K",
            Sex::Male => "M",
        }
    }
}

impl FromStr for Sex {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // The usual spelling, without an allocation.
        match s {
            "K" => return Ok(Sex::Female),
            "M" => return Ok(Sex::Male),
            _ => {}
        }
        match fold(s).as_str() {
            "k" | "f" | "kobieta" | "female" | "2" => Ok(Sex::Female),
            "m" | "mezczyzna" | "male" | "1" => Ok(Sex::Male),
            _ => Err(format!(
                "unknown sex {s:?}: use K or M (also accepted: F, kobieta, mężczyzna, female, male)"
            )),
        }
    }
}

/// Age bands used in breakdowns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum AgeBand {
    A0_17,
    A18_29,
    A30_49,
    A50_64,
    A65Plus,
}

impl AgeBand {
    pub const ALL: [AgeBand; 5] = [
        AgeBand::A0_17,
        AgeBand::A18_29,
        AgeBand::A30_49,
        AgeBand::A50_64,
        AgeBand::A65Plus,
    ];

    pub fn code(self) -> &'static str {
        match self {
            AgeBand::A0_17 => "0-17",
            AgeBand::A18_29 => "18-29",
            AgeBand::A30_49 => "30-49",
            AgeBand::A50_64 => "50-64",
            AgeBand::A65Plus => "65+",
        }
    }

    /// The band of a person of `age` completed years.
    pub fn of_age(age: i32) -> Option<AgeBand> {
        match age {
            i32::MIN..0 => None,
            0..=17 => Some(AgeBand::A0_17),
            18..=29 => Some(AgeBand::A18_29),
            30..=49 => Some(AgeBand::A30_49),
            50..=64 => Some(AgeBand::A50_64),
            65..=130 => Some(AgeBand::A65Plus),
            _ => None,
        }
    }
}

impl FromStr for AgeBand {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let compact = compact.replace(['–', '—'], "-");
        AgeBand::ALL
            .into_iter()
            .find(|b| b.code() == compact)
            .ok_or_else(|| {
                format!("unknown age band {s:?}: use one of 0-17, 18-29, 30-49, 50-64, 65+")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polish_headers_are_aliases() {
        assert_eq!(RecordColumn::from_header("Rok"), Some(RecordColumn::Year));
        assert_eq!(
            RecordColumn::from_header("KATEGORIA"),
            Some(RecordColumn::Category)
        );
        assert_eq!(RecordColumn::from_header("płeć"), Some(RecordColumn::Sex));
        assert_eq!(RecordColumn::from_header("plec"), Some(RecordColumn::Sex));
        assert_eq!(
            RecordColumn::from_header("Dzielnica"),
            Some(RecordColumn::District)
        );
        assert_eq!(
            RecordColumn::from_header("adres"),
            Some(RecordColumn::Address)
        );
        assert_eq!(
            RecordColumn::from_header("rok urodzenia"),
            Some(RecordColumn::BirthYear)
        );
        assert_eq!(RecordColumn::from_header("pesel"), None);
    }

    #[test]
    fn aliases_are_unambiguous() {
        let mut seen = std::collections::HashMap::new();
        for c in RecordColumn::ALL {
            for name in std::iter::once(c.name()).chain(c.aliases().iter().copied()) {
                if let Some(other) = seen.insert(fold(name), c) {
                    assert_eq!(other, c, "{name} names both {other} and {c}");
                }
            }
        }
    }

    #[test]
    fn age_bands_cover_every_age_once() {
        for age in 0..=120 {
            let band = AgeBand::of_age(age).unwrap();
            let (lo, hi) = match band.code().split_once('-') {
                Some((lo, hi)) => (lo.parse::<i32>().unwrap(), hi.parse::<i32>().unwrap()),
                None => (65, 130),
            };
            assert!((lo..=hi).contains(&age), "{age} in {}", band.code());
        }
        assert_eq!(AgeBand::of_age(-1), None);
        assert_eq!("65 +".parse::<AgeBand>(), Ok(AgeBand::A65Plus));
        assert_eq!("18–29".parse::<AgeBand>(), Ok(AgeBand::A18_29));
    }

    #[test]
    fn sex_codes() {
        assert_eq!("Kobieta".parse::<Sex>(), Ok(Sex::Female));
        assert_eq!("m".parse::<Sex>(), Ok(Sex::Male));
        assert!("x".parse::<Sex>().is_err());
    }
}

/// A chunk of client records in columnar form, as the contract defines them.
/// Writers (CSV here, Parquet in `kmapa-ingest`) take these one chunk at a time,
/// so files of any size are written in bounded memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordBatch {
    pub source: Vec<crate::Source>,
    pub person_id: Vec<String>,
    pub household_id: Vec<Option<String>>,
    pub year: Vec<i32>,
    pub category: Vec<String>,
    pub lat: Vec<Option<f64>>,
    pub lon: Vec<Option<f64>>,
    pub address: Vec<Option<String>>,
    pub district: Vec<Option<String>>,
    pub sex: Vec<Option<Sex>>,
    pub birth_year: Vec<Option<i32>>,
    pub age_band: Vec<Option<AgeBand>>,
    /// Every generated row says it is synthetic; real exports leave this false.
    pub synthetic: Vec<bool>,
}

impl RecordBatch {
    pub fn len(&self) -> usize {
        self.person_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.person_id.is_empty()
    }
}

/// Something that takes record batches and, at `finish`, makes a complete file visible.
pub trait RecordSink {
    fn write_batch(&mut self, batch: &RecordBatch) -> std::io::Result<()>;
    fn finish(self: Box<Self>) -> std::io::Result<()>;
}

/// Writes record batches as a comma-separated UTF-8 file with the canonical header.
/// Coordinates get 6 decimals (about 0.1 m). The file appears only at `finish`.
pub struct CsvRecordWriter {
    target: std::path::PathBuf,
    tmp: std::path::PathBuf,
    out: std::io::BufWriter<std::fs::File>,
}

impl CsvRecordWriter {
    pub fn create(target: &std::path::Path) -> std::io::Result<Self> {
        use std::io::Write;
        let (tmp, file) = crate::fsutil::create_partial(target)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let header: Vec<&str> = CANONICAL_HEADER.iter().map(|c| c.name()).collect();
        writeln!(out, "{}", header.join(","))?;
        Ok(Self {
            target: target.to_path_buf(),
            tmp,
            out,
        })
    }
}

fn write_field(out: &mut impl std::io::Write, s: &str) -> std::io::Result<()> {
    if s.contains([',', '"', '\n', '\r']) {
        out.write_all(b"\"")?;
        out.write_all(s.replace('"', "\"\"").as_bytes())?;
        out.write_all(b"\"")
    } else {
        out.write_all(s.as_bytes())
    }
}

impl RecordSink for CsvRecordWriter {
    fn write_batch(&mut self, b: &RecordBatch) -> std::io::Result<()> {
        use std::io::Write;
        let o = &mut self.out;
        for i in 0..b.len() {
            o.write_all(b.source[i].code().as_bytes())?;
            o.write_all(b",")?;
            write_field(o, &b.person_id[i])?;
            o.write_all(b",")?;
            write_field(o, b.household_id[i].as_deref().unwrap_or(""))?;
            write!(o, ",{},", b.year[i])?;
            write_field(o, &b.category[i])?;
            match (b.lat[i], b.lon[i]) {
                (Some(lat), Some(lon)) => write!(o, ",{lat:.6},{lon:.6},")?,
                _ => o.write_all(b",,,")?,
            }
            write_field(o, b.address[i].as_deref().unwrap_or(""))?;
            o.write_all(b",")?;
            write_field(o, b.district[i].as_deref().unwrap_or(""))?;
            o.write_all(b",")?;
            o.write_all(b.sex[i].map_or("", Sex::code).as_bytes())?;
            o.write_all(b",")?;
            if let Some(y) = b.birth_year[i] {
                write!(o, "{y}")?;
            }
            o.write_all(b",")?;
            o.write_all(b.age_band[i].map_or("", AgeBand::code).as_bytes())?;
            o.write_all(if b.synthetic[i] { b",true\n" } else { b",\n" })?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> std::io::Result<()> {
        let Self { target, tmp, out } = *self;
        crate::fsutil::commit_partial(out, &tmp, &target)
    }
}
