//! Who a record comes from.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The office whose register a record or category belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Source {
    /// Social welfare centre (OPS, MOPS, GOPS, MOPR): reasons for social assistance.
    #[serde(rename = "OPS")]
    Ops,
    /// County labour office (PUP, MUP): registered unemployed.
    #[serde(rename = "PUP")]
    Pup,
}

impl Source {
    pub const ALL: [Source; 2] = [Source::Ops, Source::Pup];

    pub fn code(self) -> &'static str {
        match self {
            Source::Ops => "OPS",
            Source::Pup => "PUP",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Source {
    type Err = String;

    /// Accepts OPS and PUP and the names offices use for themselves
    /// (MOPS, GOPS, MOPR, MGOPS; MUP, GUP), case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // The usual spelling, without an allocation.
        match s {
            "OPS" => return Ok(Source::Ops),
            "PUP" => return Ok(Source::Pup),
            _ => {}
        }
        match s.trim().to_ascii_uppercase().as_str() {
            "OPS" | "MOPS" | "GOPS" | "MOPR" | "MGOPS" => Ok(Source::Ops),
            "PUP" | "MUP" | "GUP" => Ok(Source::Pup),
            _ => Err(format!(
                "unknown source {s:?}: use OPS (welfare centre) or PUP (labour office)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn office_names_parse() {
        assert_eq!("mops".parse::<Source>(), Ok(Source::Ops));
        assert_eq!(" PUP ".parse::<Source>(), Ok(Source::Pup));
        assert!("ZUS".parse::<Source>().is_err());
    }
}
