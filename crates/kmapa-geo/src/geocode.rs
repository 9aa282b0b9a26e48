//! Geocoding addresses against address points. Exact matching after normalisation,
//! never guessing: an address that does not match is a rejected row with a reason.
//!
//! Normalisation: case and diacritics folded; the street type (`ul.`, `ulica`, `al.`,
//! `aleja`, `aleje`, `pl.`, `plac`, `os.`, `osiedle`) dropped; punctuation dropped;
//! house numbers with letters unified (`12A`, `12 a`, `12a`); flat numbers stripped
//! (`12/3`, `12 m. 3`, `12 lok. 3`).

use std::collections::HashMap;

use kmapa_model::addresses::AddressPoint;
use kmapa_model::text::fold;

const STREET_TYPES: &[&str] = &[
    "ul", "ulica", "al", "aleja", "aleje", "pl", "plac", "os", "osiedle",
];
/// Words that introduce a flat number after the house number ("12 m. 3", "12 lok. 3").
const FLAT_MARKERS: &[&str] = &["m", "lok", "lokal", "mieszk"];

/// Why an address was not found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeocodeError {
    /// No house number could be read.
    NoHouseNumber,
    /// No such street; maybe a similar one.
    UnknownStreet { suggestion: Option<String> },
    /// The street exists, the number does not.
    UnknownNumber { street: String },
}

impl std::fmt::Display for GeocodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GeocodeError::NoHouseNumber => f.write_str("address has no house number"),
            GeocodeError::UnknownStreet {
                suggestion: Some(s),
            } => {
                write!(
                    f,
                    "street not found in the address points (did you mean {s:?}?)"
                )
            }
            GeocodeError::UnknownStreet { suggestion: None } => {
                f.write_str("street not found in the address points")
            }
            GeocodeError::UnknownNumber { street } => {
                write!(f, "no such house number on {street} in the address points")
            }
        }
    }
}

/// Splits an address into the normalised street and house number.
pub fn normalise(address: &str) -> Option<(String, String)> {
    let cleaned: String = address
        .chars()
        .map(|c| {
            if matches!(c, ',' | '.' | ';' | '"') {
                ' '
            } else {
                c
            }
        })
        .collect();
    let folded = fold(&cleaned);
    let mut tokens: Vec<&str> = folded.split(' ').filter(|t| !t.is_empty()).collect();
    // Flat numbers: "12/3" -> "12"; "m 3", "lok 3", "m3" after the number.
    let num_at = (0..tokens.len()).rev().find(|&i| {
        tokens[i].starts_with(|c: char| c.is_ascii_digit())
            && !(i > 0 && FLAT_MARKERS.contains(&tokens[i - 1]))
    })?;
    // A token after the number that is a single letter belongs to it ("12 a").
    let mut number = tokens[num_at].split('/').next().unwrap_or("").to_string();
    if let Some(next) = tokens
        .get(num_at + 1)
        .map(|t| t.split('/').next().unwrap_or(""))
        && next.len() == 1
        && next.chars().all(|c| c.is_ascii_alphabetic())
        && !FLAT_MARKERS.contains(&next)
    {
        number.push_str(next);
    }
    tokens.truncate(num_at);
    // Drop the street type.
    while let Some(first) = tokens.first() {
        if STREET_TYPES.contains(first) {
            tokens.remove(0);
        } else {
            break;
        }
    }
    if tokens.is_empty() || number.is_empty() {
        return None;
    }
    Some((tokens.join(" "), number))
}

/// Address points indexed by normalised street and number.
pub struct Geocoder {
    points: HashMap<(String, String), (f64, f64)>,
    streets: HashMap<String, String>,
}

impl Geocoder {
    pub fn new(points: &[AddressPoint]) -> Self {
        let mut map = HashMap::with_capacity(points.len());
        let mut streets = HashMap::new();
        for p in points {
            let text = format!("{} {}", p.street, p.house_number);
            if let Some(key) = normalise(&text) {
                streets
                    .entry(key.0.clone())
                    .or_insert_with(|| p.street.clone());
                map.insert(key, (p.lat, p.lon));
            }
        }
        Self {
            points: map,
            streets,
        }
    }

    /// (lat, lon) of an address.
    pub fn geocode(&self, address: &str) -> Result<(f64, f64), GeocodeError> {
        let (street, number) = normalise(address).ok_or(GeocodeError::NoHouseNumber)?;
        if let Some(p) = self.points.get(&(street.clone(), number)) {
            return Ok(*p);
        }
        match self.streets.get(&street) {
            Some(name) => Err(GeocodeError::UnknownNumber {
                street: name.clone(),
            }),
            None => Err(GeocodeError::UnknownStreet {
                suggestion: self
                    .streets
                    .iter()
                    .map(|(k, v)| (strsim::jaro_winkler(k, &street), v))
                    .filter(|(score, _)| *score > 0.88)
                    .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
                    .map(|(_, v)| v.clone()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(street: &str, number: &str) -> AddressPoint {
        AddressPoint {
            street: street.into(),
            house_number: number.into(),
            postcode: "50-001".into(),
            lat: 51.1,
            lon: 17.0,
        }
    }

    #[test]
    fn addresses_normalise_as_clerks_write_them() {
        let want = Some(("lipowa".to_string(), "12a".to_string()));
        for a in [
            "ul. Lipowa 12A",
            "UL. LIPOWA 12A",
            "Lipowa 12 a",
            "ulica Lipowa, 12a",
            "Lipowa 12a/3",
            "ul.Lipowa 12A m. 4",
            "ul. Lipowa 12A lok. 7",
        ] {
            assert_eq!(normalise(a), want, "{a}");
        }
        assert_eq!(
            normalise("al. Jana Pawła II 5/1"),
            Some(("jana pawla ii".into(), "5".into()))
        );
        assert_eq!(
            normalise("ul. Boczna 2 14"),
            Some(("boczna 2".into(), "14".into()))
        );
        assert_eq!(normalise("Lipowa"), None);
    }

    #[test]
    fn geocoder_finds_or_explains() {
        let g = Geocoder::new(&[point("ul. Lipowa", "12A"), point("pl. Wolności", "1")]);
        assert!(g.geocode("LIPOWA 12 a/3").is_ok());
        assert!(g.geocode("Plac Wolnosci 1").is_ok());
        assert_eq!(
            g.geocode("ul. Lipowa 99"),
            Err(GeocodeError::UnknownNumber {
                street: "ul. Lipowa".into()
            })
        );
        assert_eq!(
            g.geocode("ul. Lipova 12A"),
            Err(GeocodeError::UnknownStreet {
                suggestion: Some("ul. Lipowa".into())
            })
        );
        assert_eq!(g.geocode("ul. Lipowa"), Err(GeocodeError::NoHouseNumber));
    }
}
