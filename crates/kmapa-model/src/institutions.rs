//! Institutions: the resources layer (who helps with what, where, how to reach them).

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::Serialize;

use crate::addresses::parse_coordinate;
use crate::problem::{ContractError, check};
use crate::table::Table;
use crate::vocabulary::Vocabulary;

pub const COLUMNS: [&str; 14] = [
    "id",
    "name",
    "type",
    "sector",
    "address",
    "lat",
    "lon",
    "phone",
    "email",
    "website",
    "opening_hours",
    "categories",
    "area",
    "description",
];

/// The value of `area` meaning "the whole city".
pub const WHOLE_CITY: &str = "*";

/// Separator of list cells (`categories`, `area`).
pub const LIST_SEPARATOR: char = ';';

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sector {
    SocialAssistance,
    LabourMarket,
    Police,
    Justice,
    Education,
    Health,
    Ngo,
    Housing,
}

impl Sector {
    pub const ALL: [Sector; 8] = [
        Sector::SocialAssistance,
        Sector::LabourMarket,
        Sector::Police,
        Sector::Justice,
        Sector::Education,
        Sector::Health,
        Sector::Ngo,
        Sector::Housing,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Sector::SocialAssistance => "social_assistance",
            Sector::LabourMarket => "labour_market",
            Sector::Police => "police",
            Sector::Justice => "justice",
            Sector::Education => "education",
            Sector::Health => "health",
            Sector::Ngo => "ngo",
            Sector::Housing => "housing",
        }
    }

    pub fn label_pl(self) -> &'static str {
        match self {
            Sector::SocialAssistance => "pomoc społeczna",
            Sector::LabourMarket => "rynek pracy",
            Sector::Police => "policja",
            Sector::Justice => "wymiar sprawiedliwości i kuratela",
            Sector::Education => "oświata",
            Sector::Health => "ochrona zdrowia",
            Sector::Ngo => "organizacje pozarządowe",
            Sector::Housing => "mieszkalnictwo",
        }
    }
}

impl fmt::Display for Sector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Sector {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Sector::ALL
            .into_iter()
            .find(|x| x.code() == s.trim())
            .ok_or_else(|| {
                let all: Vec<_> = Sector::ALL.iter().map(|x| x.code()).collect();
                format!("unknown sector {s:?}: use one of {}", all.join(", "))
            })
    }
}

/// Where an institution works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "districts")]
pub enum Area {
    WholeCity,
    Districts(Vec<String>),
}

impl Area {
    pub fn covers(&self, district: &str) -> bool {
        match self {
            Area::WholeCity => true,
            Area::Districts(d) => d.iter().any(|x| x == district),
        }
    }

    pub fn to_cell(&self) -> String {
        match self {
            Area::WholeCity => WHOLE_CITY.to_string(),
            Area::Districts(d) => d.join(&LIST_SEPARATOR.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Institution {
    pub id: String,
    pub name: String,
    /// Kind of institution within its sector, `[a-z_]+` (e.g. `ops_branch`, `shelter`).
    pub kind: String,
    pub sector: Sector,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    pub phone: String,
    pub email: String,
    pub website: String,
    /// OpenStreetMap `opening_hours` syntax, e.g. `Mo-Fr 08:00-16:00`.
    pub opening_hours: String,
    /// Category codes of the problems served.
    pub categories: Vec<String>,
    pub area: Area,
    pub description: String,
    /// Places (beds, day places, supported flats' places) where the file gives them
    /// (optional column `places`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub places: Option<u32>,
    /// Staff working with clients (full-time equivalents, rounded) where the file gives
    /// them (optional column `staff`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff: Option<u32>,
}

/// Optional columns: capacity where the city knows it.
pub const OPTIONAL_COLUMNS: [&str; 2] = ["places", "staff"];

/// Reads institutions and checks them against the vocabulary and the district codes.
pub fn read(
    path: &Path,
    vocabulary: &Vocabulary,
    district_codes: &HashSet<String>,
) -> Result<Vec<Institution>, ContractError> {
    from_table(&Table::read(path)?, vocabulary, district_codes)
}

pub fn from_table(
    t: &Table,
    vocabulary: &Vocabulary,
    district_codes: &HashSet<String>,
) -> Result<Vec<Institution>, ContractError> {
    let c = t.require(&COLUMNS)?;
    let capacity_columns = OPTIONAL_COLUMNS.map(|name| t.column(name));
    let mut problems = Vec::new();
    let mut out = Vec::new();
    let mut ids = HashSet::new();
    for row in t.rows() {
        let before = problems.len();
        let id = row.get(c[0]);
        if id.is_empty() || !ids.insert(id.to_string()) {
            problems.push(
                t.problem(row, c[0], "id is empty or repeated")
                    .hint("Give every institution its own id"),
            );
        }
        for (i, what) in [(1, "name"), (4, "address")] {
            if row.get(c[i]).is_empty() {
                problems.push(t.problem(row, c[i], format!("{what} is empty")));
            }
        }
        let kind = row.get(c[2]);
        if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            problems.push(
                t.problem(
                    row,
                    c[2],
                    "type must be a code of lower-case letters and `_`",
                )
                .hint("For example ops_branch, shelter, police_station"),
            );
        }
        let sector = row
            .get(c[3])
            .parse::<Sector>()
            .map_err(|e| problems.push(t.problem(row, c[3], e)))
            .ok();
        let lat = parse_coordinate(row.get(c[5]), 90.0);
        let lon = parse_coordinate(row.get(c[6]), 180.0);
        if lat.is_none() {
            problems.push(t.problem(row, c[5], "latitude is not a number within ±90"));
        }
        if lon.is_none() {
            problems.push(t.problem(row, c[6], "longitude is not a number within ±180"));
        }
        let email = row.get(c[8]);
        if !email.is_empty() && !email.contains('@') {
            problems.push(t.problem(row, c[8], "not an e-mail address"));
        }
        let website = row.get(c[9]);
        if !website.is_empty()
            && !website.starts_with("https://")
            && !website.starts_with("http://")
        {
            problems.push(
                t.problem(row, c[9], "website is not an http(s) address")
                    .hint("Start the address with https://"),
            );
        }
        let categories: Vec<String> = split_list(row.get(c[11]));
        if categories.is_empty() {
            problems.push(
                t.problem(row, c[11], "no categories served")
                    .hint("List the category codes of the problems it helps with, separated by ;"),
            );
        }
        for code in &categories {
            if vocabulary.get(code).is_none() {
                problems.push(
                    t.problem(row, c[11], format!("unknown category {code:?}"))
                        .hint("Use codes from data/categories.csv"),
                );
            }
        }
        let [places, staff] = capacity_columns.map(|col| {
            let v = row.opt(col)?;
            v.parse::<u32>()
                .map_err(|_| {
                    let col = col.expect("a value comes from a column");
                    problems.push(
                        t.problem(row, col, "not a whole number of 0 or more")
                            .hint("Write a count such as 12, or leave the cell empty if unknown"),
                    )
                })
                .ok()
        });
        let area_cell = row.get(c[12]);
        let area = if area_cell == WHOLE_CITY {
            Area::WholeCity
        } else {
            let list = split_list(area_cell);
            if list.is_empty() {
                problems.push(
                    t.problem(row, c[12], "area of operation is empty")
                        .hint("Write * for the whole city or district codes separated by ;"),
                );
            }
            for d in &list {
                if !district_codes.contains(d) {
                    problems.push(
                        t.problem(row, c[12], format!("unknown district code {d:?}"))
                            .hint("Use codes from the district layer"),
                    );
                }
            }
            Area::Districts(list)
        };
        if problems.len() > before {
            continue;
        }
        let (Some(sector), Some(lat), Some(lon)) = (sector, lat, lon) else {
            continue;
        };
        out.push(Institution {
            id: id.to_string(),
            name: row.get(c[1]).to_string(),
            kind: kind.to_string(),
            sector,
            address: row.get(c[4]).to_string(),
            lat,
            lon,
            phone: row.get(c[7]).to_string(),
            email: email.to_string(),
            website: website.to_string(),
            opening_hours: row.get(c[10]).to_string(),
            categories,
            area,
            description: row.get(c[13]).to_string(),
            places,
            staff,
        });
    }
    check(problems)?;
    Ok(out)
}

fn split_list(cell: &str) -> Vec<String> {
    cell.split(LIST_SEPARATOR)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn vocabulary() -> Vocabulary {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/categories.csv");
        Vocabulary::read(&root).expect("the committed vocabulary")
    }

    fn parse(csv: &str) -> Result<Vec<Institution>, ContractError> {
        let t = Table::parse(Path::new("institutions.csv"), csv.as_bytes()).unwrap();
        let districts: HashSet<String> = ["A-1".to_string()].into();
        from_table(&t, &vocabulary(), &districts)
    }

    const HEAD: &str = "id,name,type,sector,address,lat,lon,phone,email,website,opening_hours,categories,area,description";

    #[test]
    fn places_and_staff_are_optional_whole_numbers() {
        let row =
            "I1,Schronisko,shelter,social_assistance,ul. A 1,51.1,17.0,,,,24/7,homelessness,*,";
        let without = parse(&format!("{HEAD}\n{row}\n")).unwrap();
        assert_eq!((without[0].places, without[0].staff), (None, None));
        let with = parse(&format!("{HEAD},places,staff\n{row},120,\n")).unwrap();
        assert_eq!((with[0].places, with[0].staff), (Some(120), None));
        let bad = parse(&format!("{HEAD},places,staff\n{row},many,-3\n")).unwrap_err();
        let text = bad.to_string();
        assert!(
            text.contains("line 2") && text.contains("places") && text.contains("\"many\""),
            "{text}"
        );
        assert!(text.contains("staff") && text.contains("\"-3\""), "{text}");
    }
}
