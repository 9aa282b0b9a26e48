//! The OPS and PUP client-record generator.
//!
//! A small simulation, not independent rows: households with one or more reasons for
//! assistance live at address points, stay in assistance for several years, change
//! reasons; the labour office registers unemployed people, some of them members of
//! assisted households (same pseudonym: the OPS–PUP link Kooperacja Plus mapped).
//! Calibration (see `docs/data-format.md` and the domain brief): about 1.25 % of
//! residents' households assisted in 2024 (higher in earlier years), a reason mix after
//! MOPS Bielsko-Biała 2018, registered unemployment about 1 % of residents (1.7 % of the
//! labour force) in 2024. Deprivation clusters by district and by building, so some
//! districts are dense with cases and several are sparse.

use std::ops::RangeInclusive;

use kmapa_geo::City;
use kmapa_model::records::RecordBatch;
use kmapa_model::{Sex, Source, Vocabulary};
use rand::RngExt;

use crate::city::random_point_in;
use crate::rng::{Alias, Rng, lognormal, poisson, stochastic_round, stream};

/// How records say where a person lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationMode {
    /// `lat`/`lon` of the address point (people without a home: `district` only).
    LatLon,
    /// `address` text as offices type it ("ul. Lipowa 12", "LIPOWA 12/3", ...).
    Address,
    /// `district` only (code or name).
    District,
    /// A mix: mostly coordinates, some addresses, a few districts.
    Mixed,
}

#[derive(Debug, Clone)]
pub struct GenOptions {
    pub seed: u64,
    pub years: RangeInclusive<i32>,
    /// Multiplies every count of households and registered unemployed (1.0 = the
    /// calibrated city; larger for benchmark files).
    pub scale: f64,
    pub location: LocationMode,
}

impl Default for GenOptions {
    fn default() -> Self {
        Self {
            seed: 42,
            years: 2015..=2024,
            scale: 1.0,
            location: LocationMode::LatLon,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error(
        "the vocabulary has no category {0:?}, which the generator needs; use data/categories.csv"
    )]
    MissingCategory(&'static str),
    #[error("district {0} has no area to place people in")]
    EmptyDistrict(String),
    #[error("years must lie within 1990-2100, got {0}-{1}")]
    Years(i32, i32),
}

/// Family counts by reason, MOPS Bielsko-Biała 2018 (the four largest), the rest
/// plausible shares; weights for drawing a household's reasons.
const OPS_REASONS: &[(&str, f64)] = &[
    ("long_term_illness", 1418.0),
    ("disability", 1090.0),
    ("poverty", 832.0),
    ("unemployment", 700.0),
    ("parenting_helplessness", 260.0),
    ("single_parent_family", 300.0),
    ("renta", 250.0),
    ("alcoholism", 180.0),
    ("homelessness", 140.0),
    ("maternity_protection", 60.0),
    ("large_family", 90.0),
    ("domestic_violence", 70.0),
    ("crisis_situation", 40.0),
    ("post_prison", 35.0),
    ("drug_addiction", 25.0),
    ("random_event", 12.0),
    ("refugee_integration", 10.0),
    ("care_leaver", 8.0),
    ("orphanhood", 6.0),
    ("natural_disaster", 2.0),
    ("trafficking_victim", 1.0),
];

/// Share of residents whose household receives assistance, relative to 2024.
fn ops_year_factor(year: i32) -> f64 {
    // Social assistance shrank by about half in Poland between 2015 and 2023.
    (1.0 + 0.065 * f64::from(2024 - year)).clamp(0.8, 2.2)
}

/// Registered unemployed as a share of residents (synthetic trajectory ending at
/// about 6.6 thousand of 673.5 thousand in 2024).
fn unemployed_share(year: i32) -> f64 {
    match year {
        ..=2013 => 0.026,
        2014 => 0.022,
        2015 => 0.0185,
        2016 => 0.0155,
        2017 => 0.0125,
        2018 => 0.0110,
        2019 => 0.0098,
        2020 => 0.0118,
        2021 => 0.0112,
        2022 => 0.0100,
        _ => 0.0098,
    }
}

#[derive(Debug, Clone)]
struct Person {
    id: u64,
    household: Option<u32>,
    sex: Sex,
    birth_year: i32,
    district: u16,
    /// Index into the district's places; `None` for people without a home.
    place: Option<u32>,
    location: PersonLocation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PersonLocation {
    LatLon,
    /// Address written in style `style` (0..6) with flat number `flat` (0 = none).
    Address {
        style: u8,
        flat: u8,
    },
    DistrictCode,
    DistrictName,
}

#[derive(Debug, Clone)]
struct Household {
    id: u64,
    members: Vec<u32>,
    reasons: Vec<u16>,
    homeless: bool,
}

/// One generated row: person × year × category.
#[derive(Debug, Clone, Copy)]
struct Row {
    person: u32,
    year: u16,
    category: u16,
    source: Source,
}

/// A place people live at: an address point, or (for cities without address points)
/// a random point inside the district.
#[derive(Debug, Clone)]
struct Place {
    lat: f64,
    lon: f64,
    address: Option<(String, String)>,
}

/// The generated records, compact in memory; turned into contract batches on demand.
pub struct Generated {
    rows: Vec<Row>,
    persons: Vec<Person>,
    households: Vec<Household>,
    places: Vec<Vec<Place>>,
    district_codes: Vec<String>,
    district_names: Vec<String>,
    category_codes: Vec<String>,
}

/// Counts for summaries and manifests.
#[derive(Debug, Clone, Default, serde::Serialize, PartialEq, Eq)]
pub struct GenSummary {
    pub ops_rows: u64,
    pub pup_rows: u64,
    pub persons: u64,
    pub households: u64,
}

impl Generated {
    pub fn summary(&self) -> GenSummary {
        let ops_rows = self.rows.iter().filter(|r| r.source == Source::Ops).count() as u64;
        GenSummary {
            ops_rows,
            pup_rows: self.rows.len() as u64 - ops_rows,
            persons: self.persons.len() as u64,
            households: self.households.len() as u64,
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows of one source as contract batches of at most `chunk` rows.
    pub fn batches(&self, source: Source, chunk: usize) -> impl Iterator<Item = RecordBatch> + '_ {
        let rows: Vec<&Row> = self.rows.iter().filter(|r| r.source == source).collect();
        let chunk = chunk.max(1);
        (0..rows.len().div_ceil(chunk)).map(move |c| {
            let part = &rows[c * chunk..((c + 1) * chunk).min(rows.len())];
            self.batch(part)
        })
    }

    fn batch(&self, rows: &[&Row]) -> RecordBatch {
        let n = rows.len();
        let mut b = RecordBatch {
            source: Vec::with_capacity(n),
            person_id: Vec::with_capacity(n),
            household_id: Vec::with_capacity(n),
            year: Vec::with_capacity(n),
            category: Vec::with_capacity(n),
            lat: Vec::with_capacity(n),
            lon: Vec::with_capacity(n),
            address: Vec::with_capacity(n),
            district: Vec::with_capacity(n),
            sex: Vec::with_capacity(n),
            birth_year: Vec::with_capacity(n),
            age_band: Vec::with_capacity(n),
            synthetic: vec![true; n],
        };
        for r in rows {
            let p = &self.persons[r.person as usize];
            b.source.push(r.source);
            b.person_id.push(format!("{:016x}", p.id));
            b.household_id.push(match (r.source, p.household) {
                (Source::Ops, Some(h)) => {
                    Some(format!("H{:015x}", self.households[h as usize].id >> 4))
                }
                _ => None,
            });
            b.year.push(i32::from(r.year));
            b.category
                .push(self.category_codes[r.category as usize].clone());
            let d = p.district as usize;
            let place = p.place.map(|i| &self.places[d][i as usize]);
            let (mut lat, mut lon, mut address, mut district) = (None, None, None, None);
            match (p.location, place) {
                (_, None) | (PersonLocation::DistrictCode, _) => {
                    district = Some(self.district_codes[d].clone());
                }
                (PersonLocation::DistrictName, _) => {
                    district = Some(self.district_names[d].clone())
                }
                (PersonLocation::Address { style, flat }, Some(pl)) if pl.address.is_some() => {
                    address = pl
                        .address
                        .as_ref()
                        .map(|(s, n)| format_address(s, n, style, flat));
                }
                (_, Some(pl)) => {
                    lat = Some(pl.lat);
                    lon = Some(pl.lon);
                }
            }
            b.lat.push(lat);
            b.lon.push(lon);
            b.address.push(address);
            b.district.push(district);
            b.sex.push(Some(p.sex));
            b.birth_year.push(Some(p.birth_year));
            b.age_band.push(None);
        }
        b
    }
}

/// Writes an address the way a clerk might: with or without the street type,
/// upper or lower case, a flat number after `/`, a letter detached from the number.
fn format_address(street: &str, number: &str, style: u8, flat: u8) -> String {
    let bare = street.split_once(' ').map_or(street, |(_, rest)| rest);
    let number = if flat > 0 {
        format!("{number}/{flat}")
    } else {
        number.to_string()
    };
    match style {
        0 => format!("{street} {number}"),
        1 => format!("{bare} {number}"),
        2 => format!("{street} {number}").to_uppercase(),
        3 => format!("{bare} {}", number.to_lowercase()),
        4 => {
            // "12A" -> "12 a"
            let split = number
                .find(|c: char| c.is_ascii_alphabetic())
                .unwrap_or(number.len());
            let (n, rest) = number.split_at(split);
            if rest.is_empty() {
                format!("{street} {n}")
            } else {
                format!("{street} {n} {}", rest.to_lowercase())
            }
        }
        _ => format!("{}, {number}", street.replace("ul. ", "ulica ")),
    }
}

/// 1 July of a year: a category valid on that day is used for the whole year.
fn mid_year(year: i32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(year, 7, 1).expect("1 July exists in every year")
}

struct Categories {
    ops: Vec<(u16, f64)>,
    codes: Vec<String>,
}

impl Categories {
    fn index(&self, code: &'static str) -> Result<u16, GenError> {
        self.codes
            .iter()
            .position(|c| c == code)
            .map(|i| i as u16)
            .ok_or(GenError::MissingCategory(code))
    }
}

/// Generates OPS and PUP records for a city.
pub fn generate(
    city: &City,
    vocabulary: &Vocabulary,
    opts: &GenOptions,
) -> Result<Generated, GenError> {
    let (y0, y1) = (*opts.years.start(), *opts.years.end());
    if !(1990..=2100).contains(&y0) || !(1990..=2100).contains(&y1) || y0 > y1 {
        return Err(GenError::Years(y0, y1));
    }
    let cats = Categories {
        codes: vocabulary
            .categories()
            .iter()
            .map(|c| c.code.clone())
            .collect(),
        ops: Vec::new(),
    };
    let mut ops_weights = Vec::new();
    for (code, w) in OPS_REASONS {
        ops_weights.push((cats.index(code)?, *w));
    }
    let cats = Categories {
        ops: ops_weights,
        ..cats
    };
    let c_unemployment = cats.index("unemployment")?;
    let c_poverty = cats.index("poverty")?;
    let c_homeless = cats.index("homelessness")?;
    let c_large = cats.index("large_family")?;
    let c_single = cats.index("single_parent_family")?;
    let pup = PupCodes::new(&cats)?;

    let layer = &city.layer;
    let nd = layer.districts.len();
    // Places per district and their weights (building-level clustering).
    let mut place_rng = stream(opts.seed, "places");
    let mut places: Vec<Vec<Place>> = vec![Vec::new(); nd];
    if let Some(addresses) = &city.addresses {
        for (a, &d) in addresses.iter().zip(&city.address_districts) {
            places[d].push(Place {
                lat: a.lat,
                lon: a.lon,
                address: Some((a.street.clone(), a.house_number.clone())),
            });
        }
    }
    for (d, district) in layer.districts.iter().enumerate() {
        if places[d].is_empty() {
            let bbox = geo::BoundingRect::bounding_rect(&district.geometry)
                .ok_or_else(|| GenError::EmptyDistrict(district.code.clone()))?;
            for _ in 0..200 {
                let c = random_point_in(&district.geometry, bbox, &mut place_rng)
                    .ok_or_else(|| GenError::EmptyDistrict(district.code.clone()))?;
                places[d].push(Place {
                    lat: c.y,
                    lon: c.x,
                    address: None,
                });
            }
        }
    }
    let place_alias: Vec<Alias> = places
        .iter()
        .map(|ps| {
            let w: Vec<f64> = ps.iter().map(|_| lognormal(&mut place_rng, 1.1)).collect();
            Alias::new(&w)
        })
        .collect();
    // District deprivation: a few districts have many cases, several very few.
    let mut drng = stream(opts.seed, "deprivation");
    let deprivation: Vec<f64> = (0..nd).map(|_| lognormal(&mut drng, 0.55)).collect();
    let population = |d: usize, year: i32| -> f64 {
        let code = &layer.districts[d].code;
        city.population
            .as_ref()
            .and_then(|p| {
                p.get(code, year).or_else(|| {
                    // Nearest year given.
                    p.years()
                        .into_iter()
                        .min_by_key(|y| (y - year).abs())
                        .and_then(|y| p.get(code, y))
                })
            })
            .map_or_else(|| layer.districts[d].area_km2() * 3000.0, |v| v as f64)
    };

    let mut g = Sim {
        rng: stream(opts.seed, "records"),
        shaping: [c_homeless, c_large, c_single],
        opts,
        persons: Vec::new(),
        households: Vec::new(),
        rows: Vec::new(),
    };
    let mut active_households: Vec<Vec<u32>> = vec![Vec::new(); nd];
    let mut registered: Vec<Vec<u32>> = vec![Vec::new(); nd];
    for year in opts.years.clone() {
        let date = mid_year(year);
        let valid_ops: Vec<(u16, f64)> = cats
            .ops
            .iter()
            .copied()
            .filter(|(c, _)| vocabulary.categories()[*c as usize].valid_on(date))
            .collect();
        let ops_alias = Alias::new(&valid_ops.iter().map(|x| x.1).collect::<Vec<_>>());
        for d in 0..nd {
            // --- OPS: households in assistance this year.
            let target =
                population(d, year) * 0.0125 * deprivation[d] * ops_year_factor(year) * opts.scale;
            let target = stochastic_round(&mut g.rng, target);
            let previous = std::mem::take(&mut active_households[d]);
            let keep_p = if previous.is_empty() {
                0.0
            } else {
                (0.62f64).min(target as f64 / previous.len() as f64)
            };
            let mut active: Vec<u32> = Vec::with_capacity(target);
            for h in previous {
                if g.rng.random::<f64>() < keep_p {
                    g.evolve_reasons(h, &valid_ops, &ops_alias);
                    active.push(h);
                }
            }
            while active.len() < target {
                let h = g.new_household(
                    d,
                    year,
                    &valid_ops,
                    &ops_alias,
                    &place_alias[d],
                    [c_homeless, c_large, c_single, c_poverty, c_unemployment],
                );
                active.push(h);
            }
            for &h in &active {
                let hh = &g.households[h as usize];
                for &m in &hh.members {
                    for &reason in &hh.reasons {
                        g.rows.push(Row {
                            person: m,
                            year: year as u16,
                            category: reason,
                            source: Source::Ops,
                        });
                    }
                }
            }
            // --- PUP: registered unemployed this year.
            let target =
                population(d, year) * unemployed_share(year) * deprivation[d].sqrt() * opts.scale;
            let target = stochastic_round(&mut g.rng, target);
            let previous = std::mem::take(&mut registered[d]);
            let keep_p = if previous.is_empty() {
                0.0
            } else {
                (0.45f64).min(target as f64 / previous.len() as f64)
            };
            let mut now: Vec<(u32, bool)> = Vec::with_capacity(target);
            for p in previous {
                if g.rng.random::<f64>() < keep_p
                    && (18..65).contains(&(year - g.persons[p as usize].birth_year))
                {
                    now.push((p, true));
                }
            }
            // Candidates from assisted households: adults of working age, more likely
            // where the household's reasons include unemployment or poverty.
            let mut linked: Vec<u32> = Vec::new();
            for &h in &active {
                let hh = &g.households[h as usize];
                let strong = hh
                    .reasons
                    .iter()
                    .any(|&r| r == c_unemployment || r == c_poverty);
                for &m in &hh.members {
                    let age = year - g.persons[m as usize].birth_year;
                    if (18..65).contains(&age)
                        && g.rng.random::<f64>() < if strong { 0.6 } else { 0.1 }
                    {
                        linked.push(m);
                    }
                }
            }
            // Shuffle the candidates so that the ones taken are not biased to the last households.
            for i in (1..linked.len()).rev() {
                let j = g.rng.random_range(0..=i);
                linked.swap(i, j);
            }
            let mut seen: std::collections::HashSet<u32> = now.iter().map(|x| x.0).collect();
            while now.len() < target {
                let from_ops = g.rng.random::<f64>() < 0.3;
                let p = match linked.pop() {
                    Some(p) if from_ops && !seen.contains(&p) => p,
                    Some(_) if from_ops => continue,
                    _ => g.new_unemployed(d, year, &place_alias[d]),
                };
                seen.insert(p);
                now.push((p, false));
            }
            let in_ops: std::collections::HashSet<u32> = active
                .iter()
                .flat_map(|&h| g.households[h as usize].members.iter().copied())
                .collect();
            for &(p, continuing) in &now {
                g.pup_rows(p, year, continuing, in_ops.contains(&p), &pup, vocabulary);
            }
            registered[d] = now.into_iter().map(|x| x.0).collect();
            active_households[d] = active;
        }
    }
    Ok(Generated {
        rows: g.rows,
        persons: g.persons,
        households: g.households,
        places,
        district_codes: layer.districts.iter().map(|d| d.code.clone()).collect(),
        district_names: layer.districts.iter().map(|d| d.name.clone()).collect(),
        category_codes: cats.codes,
    })
}

/// PUP category indexes, both versions of art. 49.
struct PupCodes {
    registered: u16,
    // 2014–2025
    under_30: u16,
    long_term: u16,
    over_50: u16,
    assistance: u16,
    child_under_6: u16,
    disabled: u16,
    carer: u16,
    // 2009–2014
    under_25_0914: u16,
    long_term_0914: u16,
    over_50_0914: u16,
    no_qual_0914: u16,
    single_parent_0914: u16,
    post_prison_0914: u16,
    disabled_0914: u16,
}

impl PupCodes {
    fn new(c: &Categories) -> Result<Self, GenError> {
        Ok(Self {
            registered: c.index("unemployed_registered")?,
            under_30: c.index("under_30")?,
            long_term: c.index("long_term_unemployed")?,
            over_50: c.index("over_50")?,
            assistance: c.index("social_assistance_recipient")?,
            child_under_6: c.index("parent_child_under_6")?,
            disabled: c.index("disabled_unemployed")?,
            carer: c.index("carer_of_disabled")?,
            under_25_0914: c.index("under_25_0914")?,
            long_term_0914: c.index("long_term_or_mother_0914")?,
            over_50_0914: c.index("over_50_0914")?,
            no_qual_0914: c.index("no_qualifications_0914")?,
            single_parent_0914: c.index("single_parent_0914")?,
            post_prison_0914: c.index("post_prison_0914")?,
            disabled_0914: c.index("disabled_0914")?,
        })
    }
}

struct Sim<'a> {
    rng: Rng,
    /// Reasons that shape a household (homelessness, large and single-parent
    /// families): drawn when it enters assistance, never added later.
    shaping: [u16; 3],
    opts: &'a GenOptions,
    persons: Vec<Person>,
    households: Vec<Household>,
    rows: Vec<Row>,
}

impl Sim<'_> {
    fn location(&mut self) -> PersonLocation {
        let mode = match self.opts.location {
            LocationMode::Mixed => match self.rng.random_range(0..100) {
                0..70 => LocationMode::LatLon,
                70..95 => LocationMode::Address,
                _ => LocationMode::District,
            },
            m => m,
        };
        match mode {
            LocationMode::LatLon | LocationMode::Mixed => PersonLocation::LatLon,
            LocationMode::Address => PersonLocation::Address {
                style: self.rng.random_range(0..6),
                flat: if self.rng.random::<f64>() < 0.4 {
                    self.rng.random_range(1..60)
                } else {
                    0
                },
            },
            LocationMode::District => {
                if self.rng.random::<bool>() {
                    PersonLocation::DistrictCode
                } else {
                    PersonLocation::DistrictName
                }
            }
        }
    }

    fn new_person(
        &mut self,
        household: Option<u32>,
        sex: Sex,
        birth_year: i32,
        district: usize,
        place: Option<u32>,
        location: PersonLocation,
    ) -> u32 {
        let id = self.rng.random::<u64>();
        self.persons.push(Person {
            id,
            household,
            sex,
            birth_year,
            district: district as u16,
            place,
            location,
        });
        (self.persons.len() - 1) as u32
    }

    fn random_sex(&mut self, female_share: f64) -> Sex {
        if self.rng.random::<f64>() < female_share {
            Sex::Female
        } else {
            Sex::Male
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn new_household(
        &mut self,
        d: usize,
        year: i32,
        valid: &[(u16, f64)],
        alias: &Alias,
        places: &Alias,
        [c_homeless, c_large, c_single, c_poverty, c_unemployment]: [u16; 5],
    ) -> u32 {
        // Reasons: 1 + Poisson(0.75), distinct, poverty often with unemployment.
        let n = (1 + poisson(&mut self.rng, 0.75)).min(5) as usize;
        let mut reasons: Vec<u16> = Vec::with_capacity(n);
        let mut guard = 0;
        while reasons.len() < n && guard < 50 {
            guard += 1;
            let r = valid[alias.sample(&mut self.rng)].0;
            if !reasons.contains(&r) {
                reasons.push(r);
            }
        }
        if reasons.contains(&c_poverty)
            && !reasons.contains(&c_unemployment)
            && self.rng.random::<f64>() < 0.35
        {
            reasons.push(c_unemployment);
        }
        let homeless = reasons.contains(&c_homeless);
        let large = reasons.contains(&c_large);
        let single = reasons.contains(&c_single);
        let size = if homeless {
            1
        } else if large {
            5 + poisson(&mut self.rng, 0.6) as usize
        } else {
            let s = match self.rng.random_range(0..100) {
                0..42 => 1,
                42..62 => 2,
                62..77 => 3,
                77..89 => 4,
                89..96 => 5,
                _ => 6,
            };
            if single { s.max(2) } else { s }
        };
        let hid = (self.households.len()) as u32;
        let place = if homeless {
            None
        } else {
            Some(places.sample(&mut self.rng) as u32)
        };
        let location = if homeless {
            PersonLocation::DistrictCode
        } else {
            self.location()
        };
        let head_age = if large || single {
            self.rng.random_range(22..46)
        } else {
            self.rng.random_range(20..86)
        };
        let head_sex = self.random_sex(if single { 0.9 } else { 0.55 });
        let head = self.new_person(Some(hid), head_sex, year - head_age, d, place, location);
        let mut members = vec![head];
        if size >= 2 && !single && self.rng.random::<f64>() < 0.6 {
            let other = if head_sex == Sex::Female {
                Sex::Male
            } else {
                Sex::Female
            };
            let age = (head_age + self.rng.random_range(-5..6)).max(18);
            members.push(self.new_person(Some(hid), other, year - age, d, place, location));
        }
        while members.len() < size {
            let age = self.rng.random_range(0..18.min(head_age - 15).max(1));
            let sex = self.random_sex(0.49);
            members.push(self.new_person(Some(hid), sex, year - age, d, place, location));
        }
        self.households.push(Household {
            id: self.rng.random::<u64>(),
            members,
            reasons,
            homeless,
        });
        hid
    }

    /// A household staying in assistance keeps most reasons and sometimes gains one.
    fn evolve_reasons(&mut self, h: u32, valid: &[(u16, f64)], alias: &Alias) {
        let valid_codes: Vec<u16> = valid.iter().map(|x| x.0).collect();
        let mut reasons = std::mem::take(&mut self.households[h as usize].reasons);
        let homeless = self.households[h as usize].homeless;
        reasons.retain(|r| valid_codes.contains(r));
        if reasons.len() > 1 {
            let before = reasons.clone();
            reasons.retain(|_| self.rng.random::<f64>() < 0.88);
            if reasons.is_empty() {
                reasons.push(before[0]);
            }
        }
        if !homeless && self.rng.random::<f64>() < 0.12 {
            let r = valid[alias.sample(&mut self.rng)].0;
            // Reasons that reshape a household (homelessness, family types) do not
            // appear later in this simple model.
            if !reasons.contains(&r) && !self.shaping.contains(&r) {
                reasons.push(r);
            }
        }
        if reasons.is_empty() {
            reasons.push(valid[alias.sample(&mut self.rng)].0);
        }
        self.households[h as usize].reasons = reasons;
    }

    fn new_unemployed(&mut self, d: usize, year: i32, places: &Alias) -> u32 {
        let age = match self.rng.random_range(0..100) {
            0..28 => self.rng.random_range(18..30),
            28..72 => self.rng.random_range(30..50),
            _ => self.rng.random_range(50..65),
        };
        let sex = self.random_sex(0.56);
        let place = Some(places.sample(&mut self.rng) as u32);
        let location = self.location();
        self.new_person(None, sex, year - age, d, place, location)
    }

    fn pup_rows(
        &mut self,
        p: u32,
        year: i32,
        continuing: bool,
        in_ops: bool,
        c: &PupCodes,
        v: &Vocabulary,
    ) {
        let date = mid_year(year);
        let age = year - self.persons[p as usize].birth_year;
        let mut cats = vec![c.registered];
        let r = &mut self.rng;
        let roll = |r: &mut Rng, p: f64| r.random::<f64>() < p;
        if v.categories()[c.under_30 as usize].valid_on(date) {
            if age < 30 {
                cats.push(c.under_30);
            }
            if continuing && roll(r, 0.8) {
                cats.push(c.long_term);
            }
            if age > 50 {
                cats.push(c.over_50);
            }
            if in_ops {
                cats.push(c.assistance);
            }
            if (20..46).contains(&age) && roll(r, 0.14) {
                cats.push(c.child_under_6);
            }
            if roll(r, 0.065) {
                cats.push(c.disabled);
            }
            if roll(r, 0.006) {
                cats.push(c.carer);
            }
        } else if v.categories()[c.under_25_0914 as usize].valid_on(date) {
            if age < 25 {
                cats.push(c.under_25_0914);
            }
            if continuing && roll(r, 0.8) {
                cats.push(c.long_term_0914);
            }
            if age > 50 {
                cats.push(c.over_50_0914);
            }
            if roll(r, 0.3) {
                cats.push(c.no_qual_0914);
            }
            if roll(r, 0.07) {
                cats.push(c.single_parent_0914);
            }
            if roll(r, 0.01) {
                cats.push(c.post_prison_0914);
            }
            if roll(r, 0.065) {
                cats.push(c.disabled_0914);
            }
        }
        for cat in cats {
            self.rows.push(Row {
                person: p,
                year: year as u16,
                category: cat,
                source: Source::Pup,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::format_address;

    #[test]
    fn address_styles() {
        assert_eq!(format_address("ul. Lipowa", "12", 0, 0), "ul. Lipowa 12");
        assert_eq!(format_address("ul. Lipowa", "12", 1, 3), "Lipowa 12/3");
        assert_eq!(format_address("ul. Lipowa", "12A", 2, 0), "UL. LIPOWA 12A");
        assert_eq!(format_address("al. Różana", "12A", 3, 0), "Różana 12a");
        assert_eq!(format_address("ul. Lipowa", "12A", 4, 0), "ul. Lipowa 12 a");
        assert_eq!(format_address("ul. Lipowa", "7", 5, 0), "ulica Lipowa, 7");
    }
}
