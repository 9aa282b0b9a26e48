//! Row validation and binning: a raw row becomes one record per category, or a reject
//! with its line, column, value and reason. Nothing is guessed and nothing is dropped.

use std::ops::RangeInclusive;

use kmapa_geo::{BinError, Binner, City, Geocoder};
use kmapa_model::records::CATEGORY_SEPARATORS;
use kmapa_model::text::fold;
use kmapa_model::{AgeBand, RecordColumn, Sex, Source, Vocabulary};
use rustc_hash::FxHashMap;

/// How a record was located.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocatedBy {
    LatLon,
    Address,
    District,
}

impl LocatedBy {
    pub fn code(self) -> &'static str {
        match self {
            LocatedBy::LatLon => "latlon",
            LocatedBy::Address => "address",
            LocatedBy::District => "district",
        }
    }
}

/// A valid, binned record: one person × year × category. Its texts (the pseudonyms)
/// live in the [`Records`] buffer that holds it, so millions of records cost no
/// allocation each.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record {
    pub source: Source,
    /// Byte range of the person's pseudonym in [`Records::text`].
    pub person_id: (u32, u32),
    /// Byte range of the household pseudonym, if any.
    pub household_id: Option<(u32, u32)>,
    pub year: i32,
    /// Index into the vocabulary.
    pub category: u16,
    /// Index into the district layer.
    pub district: u16,
    /// H3 cell at the finest resolution; `None` for records located by district only.
    pub cell: Option<u64>,
    pub sex: Option<Sex>,
    pub birth_year: Option<i32>,
    pub age_band: Option<AgeBand>,
    pub located_by: LocatedBy,
}

/// A buffer of records and the text they point into.
#[derive(Debug, Clone, Default)]
pub struct Records {
    pub records: Vec<Record>,
    pub text: String,
}

impl Records {
    pub fn with_capacity(n: usize) -> Self {
        Self {
            records: Vec::with_capacity(n),
            text: String::with_capacity(n * 24),
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn clear(&mut self) {
        self.records.clear();
        self.text.clear();
    }

    fn intern(&mut self, s: &str) -> (u32, u32) {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        (start, self.text.len() as u32)
    }

    /// The text of a range.
    pub fn str(&self, range: (u32, u32)) -> &str {
        &self.text[range.0 as usize..range.1 as usize]
    }

    pub fn person_id(&self, r: &Record) -> &str {
        self.str(r.person_id)
    }

    pub fn household_id(&self, r: &Record) -> Option<&str> {
        r.household_id.map(|h| self.str(h))
    }
}

/// A rejected row (one entry per problem found in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub line: u64,
    pub column: String,
    pub value: String,
    pub reason: String,
    /// A short, stable name of the reason, for the summary's top reasons.
    pub kind: &'static str,
}

/// One raw row: the cells of the contract columns, by `RecordColumn as usize`.
pub type Cells<'a> = [Option<&'a str>; RecordColumn::ALL.len()];

pub struct Validator<'a> {
    vocabulary: &'a Vocabulary,
    categories: FxHashMap<String, u16>,
    districts: FxHashMap<String, u16>,
    district_names: Vec<(String, String)>,
    binner: Binner<'a>,
    geocoder: Option<&'a Geocoder>,
    default_source: Option<Source>,
    years: RangeInclusive<i32>,
}

impl<'a> Validator<'a> {
    pub fn new(
        vocabulary: &'a Vocabulary,
        city: &'a City,
        binner: Binner<'a>,
        geocoder: Option<&'a Geocoder>,
        default_source: Option<Source>,
        years: RangeInclusive<i32>,
    ) -> Self {
        let mut categories = FxHashMap::default();
        for (i, c) in vocabulary.categories().iter().enumerate() {
            for key in [
                fold(&c.label_pl),
                fold(&c.label_en),
                fold(&c.code),
                c.code.clone(),
            ] {
                categories.entry(key).or_insert(i as u16);
            }
        }
        let mut districts = FxHashMap::default();
        let mut district_names = Vec::new();
        for (i, d) in city.layer.districts.iter().enumerate() {
            districts.insert(d.code.clone(), i as u16);
            districts.insert(fold(&d.code), i as u16);
            districts.insert(fold(&d.name), i as u16);
            district_names.push((fold(&d.name), format!("{} ({})", d.name, d.code)));
        }
        Self {
            vocabulary,
            categories,
            districts,
            district_names,
            binner,
            geocoder,
            default_source,
            years,
        }
    }

    fn category(
        &self,
        raw: &str,
        source: Source,
        year: i32,
    ) -> Result<u16, (String, &'static str)> {
        let raw = kmapa_model::text::trim(raw);
        let idx = match self.categories.get(raw) {
            Some(i) => *i,
            None => match self.categories.get(&fold(raw)) {
                Some(i) => *i,
                None => {
                    let f = fold(raw);
                    let best = self
                        .vocabulary
                        .categories()
                        .iter()
                        .map(|c| {
                            (
                                strsim::jaro_winkler(&f, &c.code)
                                    .max(strsim::jaro_winkler(&f, &fold(&c.label_pl))),
                                c,
                            )
                        })
                        .max_by(|a, b| a.0.total_cmp(&b.0));
                    let hint = match best {
                        Some((s, c)) if s > 0.85 => format!(" (did you mean {}?)", c.code),
                        _ => " (see data/categories.csv)".to_string(),
                    };
                    return Err((format!("unknown category{hint}"), "unknown category"));
                }
            },
        };
        let c = &self.vocabulary.categories()[idx as usize];
        if c.source != source {
            return Err((
                format!(
                    "category {} belongs to {}, the row is {}",
                    c.code, c.source, source
                ),
                "category of the other source",
            ));
        }
        if !c.valid_in_year(year) {
            let to = c
                .valid_to
                .map_or_else(|| "now".to_string(), |d| d.to_string());
            return Err((
                format!(
                    "category {} is not valid in {year} (in force {} to {to})",
                    c.code, c.valid_from
                ),
                "category not valid in the year",
            ));
        }
        Ok(idx)
    }

    fn district(&self, raw: &str) -> Result<u16, String> {
        if let Some(i) = self.districts.get(raw.trim()) {
            return Ok(*i);
        }
        let f = fold(raw);
        if let Some(i) = self.districts.get(&f) {
            return Ok(*i);
        }
        let best = self
            .district_names
            .iter()
            .map(|(name, label)| (strsim::jaro_winkler(&f, name), label))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        Err(match best {
            Some((s, label)) if s > 0.8 => format!("unknown district (did you mean {label}?)"),
            _ => "unknown district: use a code or name of the district layer".to_string(),
        })
    }

    fn bin_point(&mut self, lat: f64, lon: f64) -> Result<(u16, u64), &'static str> {
        match self.binner.bin(lon, lat) {
            Ok(b) => Ok((b.district, u64::from(b.cell))),
            Err(BinError::InvalidCoordinate) => Err("not a valid WGS84 coordinate"),
            Err(BinError::OutsideCity) => Err("point lies outside the city"),
        }
    }

    /// Validates one row. Accepted: its records are appended to `out` and `true` is
    /// returned. Rejected: every problem is appended to `rejects`, nothing to `out`.
    pub fn row(
        &mut self,
        line: u64,
        cells: &Cells<'_>,
        out: &mut Records,
        rejects: &mut Vec<Reject>,
    ) -> bool {
        let before = rejects.len();
        let get = |c: RecordColumn| {
            cells[c as usize]
                .map(kmapa_model::text::trim)
                .filter(|v| !v.is_empty())
        };
        let mut reject = |c: RecordColumn, value: &str, reason: String, kind: &'static str| {
            rejects.push(Reject {
                line,
                column: c.name().to_string(),
                value: value.to_string(),
                reason,
                kind,
            });
        };
        let source = match get(RecordColumn::Source) {
            Some(v) => match v.parse::<Source>() {
                Ok(s) => Some(s),
                Err(e) => {
                    reject(RecordColumn::Source, v, e, "unknown source");
                    None
                }
            },
            None => {
                if self.default_source.is_none() {
                    reject(
                        RecordColumn::Source,
                        "",
                        "source is empty (give OPS or PUP, or --source)".into(),
                        "missing source",
                    );
                }
                self.default_source
            }
        };
        let person = get(RecordColumn::PersonId);
        match person {
            None => reject(
                RecordColumn::PersonId,
                "",
                "person_id is empty".into(),
                "missing person_id",
            ),
            Some(p) if p.len() > 128 => reject(
                RecordColumn::PersonId,
                p,
                "person_id is longer than 128 characters".into(),
                "bad person_id",
            ),
            _ => {}
        }
        let year = match get(RecordColumn::Year) {
            None => {
                reject(
                    RecordColumn::Year,
                    "",
                    "year is empty".into(),
                    "missing year",
                );
                None
            }
            Some(v) => match v.parse::<i32>() {
                Ok(y) if self.years.contains(&y) => Some(y),
                Ok(_) => {
                    reject(
                        RecordColumn::Year,
                        v,
                        format!(
                            "year out of range {}-{}",
                            self.years.start(),
                            self.years.end()
                        ),
                        "year out of range",
                    );
                    None
                }
                Err(_) => {
                    reject(
                        RecordColumn::Year,
                        v,
                        "year is not a whole number".into(),
                        "bad year",
                    );
                    None
                }
            },
        };
        // Categories.
        let (cat_col, cat_cell) = match (get(RecordColumn::Category), get(RecordColumn::Categories))
        {
            (Some(v), _) => (RecordColumn::Category, Some(v)),
            (None, Some(v)) => (RecordColumn::Categories, Some(v)),
            (None, None) => {
                let col = if cells[RecordColumn::Categories as usize].is_some() {
                    RecordColumn::Categories
                } else {
                    RecordColumn::Category
                };
                (col, None)
            }
        };
        let mut cats: Vec<u16> = Vec::with_capacity(2);
        match cat_cell {
            None => reject(cat_col, "", "no category".into(), "missing category"),
            Some(v) => {
                let mut codes = 0;
                for code in v
                    .split(CATEGORY_SEPARATORS)
                    .map(kmapa_model::text::trim)
                    .filter(|c| !c.is_empty())
                {
                    codes += 1;
                    if let (Some(source), Some(year)) = (source, year) {
                        match self.category(code, source, year) {
                            Ok(c) if !cats.contains(&c) => cats.push(c),
                            Ok(_) => {}
                            Err((reason, kind)) => reject(cat_col, code, reason, kind),
                        }
                    }
                }
                if codes == 0 {
                    reject(
                        cat_col,
                        v,
                        "no category code in the cell".into(),
                        "missing category",
                    );
                }
            }
        }
        // Location: coordinates, then address, then district.
        let lat = get(RecordColumn::Lat);
        let lon = get(RecordColumn::Lon);
        let mut located: Option<(u16, Option<u64>, LocatedBy)> = None;
        if lat.is_some() || lon.is_some() {
            let plat = lat.and_then(|v| kmapa_model::addresses::parse_coordinate(v, 90.0));
            let plon = lon.and_then(|v| kmapa_model::addresses::parse_coordinate(v, 180.0));
            match (plat, plon) {
                (Some(a), Some(o)) => match self.bin_point(a, o) {
                    Ok((d, c)) => located = Some((d, Some(c), LocatedBy::LatLon)),
                    Err(reason) => reject(
                        RecordColumn::Lat,
                        &format!("{}, {}", lat.unwrap_or(""), lon.unwrap_or("")),
                        reason.into(),
                        "outside the city",
                    ),
                },
                (None, _) => reject(
                    RecordColumn::Lat,
                    lat.unwrap_or(""),
                    "latitude is not a number within ±90".into(),
                    "bad coordinates",
                ),
                (_, None) => reject(
                    RecordColumn::Lon,
                    lon.unwrap_or(""),
                    "longitude is not a number within ±180".into(),
                    "bad coordinates",
                ),
            }
        } else if let Some(a) = get(RecordColumn::Address) {
            match self.geocoder {
                None => reject(
                    RecordColumn::Address,
                    a,
                    "no address points are loaded to geocode addresses".into(),
                    "no address points",
                ),
                Some(g) => match g.geocode(a) {
                    Ok((la, lo)) => match self.bin_point(la, lo) {
                        Ok((d, c)) => located = Some((d, Some(c), LocatedBy::Address)),
                        Err(reason) => {
                            reject(RecordColumn::Address, a, reason.into(), "outside the city")
                        }
                    },
                    Err(e) => reject(RecordColumn::Address, a, e.to_string(), "address not found"),
                },
            }
        } else if let Some(d) = get(RecordColumn::District) {
            match self.district(d) {
                Ok(i) => located = Some((i, None, LocatedBy::District)),
                Err(reason) => reject(RecordColumn::District, d, reason, "unknown district"),
            }
        } else {
            reject(
                RecordColumn::District,
                "",
                "no location: give lat and lon, an address or a district".into(),
                "no location",
            );
        }
        // Optional attributes.
        let sex = get(RecordColumn::Sex).and_then(|v| match v.parse::<Sex>() {
            Ok(s) => Some(s),
            Err(e) => {
                reject(RecordColumn::Sex, v, e, "bad sex");
                None
            }
        });
        let birth_year = get(RecordColumn::BirthYear).and_then(|v| match v.parse::<i32>() {
            Ok(b) if (1900..=year.unwrap_or(i32::MAX)).contains(&b) => Some(b),
            _ => {
                reject(
                    RecordColumn::BirthYear,
                    v,
                    "birth year is not a year between 1900 and the record's year".into(),
                    "bad birth year",
                );
                None
            }
        });
        let age_band = get(RecordColumn::AgeBand).and_then(|v| match v.parse::<AgeBand>() {
            Ok(a) => Some(a),
            Err(e) => {
                reject(RecordColumn::AgeBand, v, e, "bad age band");
                None
            }
        });
        if rejects.len() > before {
            return false;
        }
        let (Some(source), Some(person), Some(year), Some((district, cell, located_by))) =
            (source, person, year, located)
        else {
            return false;
        };
        let person_id = out.intern(person);
        let household_id = get(RecordColumn::HouseholdId).map(|h| out.intern(h));
        for category in cats {
            out.records.push(Record {
                source,
                person_id,
                household_id,
                year,
                category,
                district,
                cell,
                sex,
                birth_year,
                age_band,
                located_by,
            });
        }
        true
    }
}
