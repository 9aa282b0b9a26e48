//! `kmapa pseudonymise` and `kmapa keygen`, run by an office on its own machine before
//! data leaves it. A national id (PESEL, checksum validated) or an internal client
//! number becomes an HMAC-SHA-256 pseudonym under the municipality's key; direct
//! identifiers are dropped; the result follows the data contract. OPS and PUP of one
//! city using the same key get the same pseudonym for the same person.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use kmapa_model::text::fold;
use kmapa_model::{RecordColumn, Source};
use sha2::Sha256;

use crate::error::{FileError, IngestError};
use crate::identifiers::identifier_column;
use crate::reader::{DecodingReader, Encoding, detect_delimiter, detect_encoding};

/// A municipality key: 32 secret bytes.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl Key {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::fill(&mut k);
        Key(k)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        let bytes = hex::decode(s.trim()).ok()?;
        Some(Key(bytes.try_into().ok()?))
    }

    /// Reads a key file written by `kmapa keygen`.
    pub fn read(path: &Path) -> Result<Self, IngestError> {
        let text = std::fs::read_to_string(path).map_err(|e| FileError::io(path, e))?;
        let line = text
            .lines()
            .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .unwrap_or("");
        Self::from_hex(line).ok_or_else(|| {
            FileError::new(path, "not a kmapa key (64 hexadecimal characters)")
                .hint("Create one with `kmapa keygen --out FILE`")
                .into()
        })
    }

    /// Writes the key to a new file readable by its owner only. Refuses to overwrite.
    pub fn write_new(&self, path: &Path) -> Result<(), IngestError> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                FileError::new(
                    path,
                    "a file with this name exists; a key is never overwritten",
                )
                .hint("Choose another name, or keep using the existing key")
            } else {
                FileError::io(path, e)
            }
        })?;
        writeln!(
            f,
            "# kmapa municipality key. Secret: anyone holding it can re-link pseudonyms to PESEL numbers.\n\
             # Share it only between the offices of one municipality (OPS and PUP), never with kmapa's operators.\n{}",
            self.to_hex()
        )?;
        f.sync_all()?;
        Ok(())
    }

    /// The pseudonym of an identifier in a domain ("person", "household"):
    /// the first 128 bits of HMAC-SHA-256(key, domain ":" id), in hex.
    pub fn pseudonym(&self, domain: &str, id: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("any key length works");
        mac.update(domain.as_bytes());
        mac.update(b":");
        mac.update(id.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }
}

/// Normalises an identifier before hashing: PESEL digits as they are, other client
/// numbers trimmed, spaces removed, upper-cased.
pub fn normalise_id(id: &str) -> String {
    id.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase()
}

/// What the pseudonymisation did.
#[derive(Debug, Clone, Default)]
pub struct PseudonymiseSummary {
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_rejected: u64,
    pub dropped_columns: Vec<String>,
    pub id_column: String,
}

#[derive(Debug, Clone)]
pub struct PseudonymiseOptions {
    pub source: Source,
    /// The column with the person's id; found automatically when `None`
    /// (a PESEL column, or one named like a client number).
    pub id_column: Option<String>,
    pub household_column: Option<String>,
    pub encoding: Option<Encoding>,
}

const ID_HEADERS: &[&str] = &[
    "pesel",
    "nr klienta",
    "numer klienta",
    "id klienta",
    "client id",
    "client number",
    "nr ewidencyjny",
];
const HOUSEHOLD_HEADERS: &[&str] = &[
    "nr rodziny",
    "numer rodziny",
    "id rodziny",
    "household id",
    "rodzina",
];

/// Pseudonymises a raw export into a contract file at `out` (written atomically).
/// Rows with an invalid PESEL or no id go to `rejects` (with the id masked).
pub fn pseudonymise(
    input: &Path,
    out: &Path,
    rejects: &Path,
    key: &Key,
    opts: &PseudonymiseOptions,
) -> Result<PseudonymiseSummary, IngestError> {
    let bytes = std::fs::read(input).map_err(|e| FileError::io(input, e))?;
    let encoding = opts
        .encoding
        .unwrap_or_else(|| detect_encoding(&bytes[..bytes.len().min(1 << 16)]));
    let text: Vec<u8> = match encoding {
        Encoding::Utf8 => bytes
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(&bytes)
            .to_vec(),
        Encoding::Windows1250 => {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut DecodingReader::windows_1250(&bytes[..]), &mut v)?;
            v
        }
    };
    let first_line = text.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let delimiter = detect_delimiter(first_line);
    let mut reader = csv::ReaderBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(&text[..]);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| FileError::new(input, format!("cannot read the header: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let find = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.contains(&fold(h).as_str()))
    };
    let id_col = match &opts.id_column {
        Some(name) => headers
            .iter()
            .position(|h| fold(h) == fold(name))
            .ok_or_else(|| {
                FileError::new(input, format!("no column {name:?}"))
                    .hint(format!("The header has: {}", headers.join(", ")))
            })?,
        None => find(ID_HEADERS).ok_or_else(|| {
            FileError::new(input, "no id column found (PESEL or client number)")
                .hint("Name it with --id-column")
        })?,
    };
    let is_pesel = fold(&headers[id_col]) == "pesel";
    let hh_col = match &opts.household_column {
        Some(name) => Some(
            headers
                .iter()
                .position(|h| fold(h) == fold(name))
                .ok_or_else(|| FileError::new(input, format!("no column {name:?}")))?,
        ),
        None => find(HOUSEHOLD_HEADERS),
    };
    // Keep contract columns; drop identifiers and anything kmapa does not know.
    let mut keep: Vec<(usize, RecordColumn)> = Vec::new();
    let mut dropped = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        if i == id_col || Some(i) == hh_col {
            continue;
        }
        match (identifier_column(h), RecordColumn::from_header(h)) {
            (None, Some(c))
                if !matches!(
                    c,
                    RecordColumn::PersonId | RecordColumn::HouseholdId | RecordColumn::Source
                ) =>
            {
                keep.push((i, c));
            }
            _ => dropped.push(h.clone()),
        }
    }
    let has = |c: RecordColumn| keep.iter().any(|(_, k)| *k == c);
    let add_birth = is_pesel && !has(RecordColumn::BirthYear) && !has(RecordColumn::AgeBand);
    let add_sex = is_pesel && !has(RecordColumn::Sex);

    let mut out_header = vec!["source", "person_id"];
    if hh_col.is_some() {
        out_header.push("household_id");
    }
    out_header.extend(keep.iter().map(|(_, c)| c.name()));
    if add_sex {
        out_header.push("sex");
    }
    if add_birth {
        out_header.push("birth_year");
    }

    let mut summary = PseudonymiseSummary {
        dropped_columns: dropped,
        id_column: headers[id_col].clone(),
        ..Default::default()
    };
    let mut rej = BufWriter::new(File::create(rejects).map_err(|e| FileError::io(rejects, e))?);
    writeln!(rej, "line,column,value,reason")?;
    let id_header = headers[id_col].clone();
    kmapa_model::fsutil::write_atomically(out, |w| {
        let mut csvw = csv::Writer::from_writer(w);
        csvw.write_record(&out_header)?;
        for record in reader.records() {
            let record = record.map_err(std::io::Error::other)?;
            summary.rows_read += 1;
            let line = record.position().map_or(0, csv::Position::line);
            let raw_id = record.get(id_col).unwrap_or("").trim();
            let parsed = if is_pesel {
                crate::pesel::parse(raw_id)
            } else {
                None
            };
            let problem = if raw_id.is_empty() {
                Some("the id is empty")
            } else if is_pesel && parsed.is_none() {
                Some("not a valid PESEL (checksum or date wrong)")
            } else {
                None
            };
            if let Some(reason) = problem {
                summary.rows_rejected += 1;
                // The id itself is never written out, not even to the rejects.
                writeln!(rej, "{line},{},***,{reason}", id_header.replace(',', " "))?;
                continue;
            }
            let mut row: Vec<String> = vec![
                opts.source.code().to_string(),
                key.pseudonym("person", &normalise_id(raw_id)),
            ];
            if let Some(h) = hh_col {
                let v = record.get(h).unwrap_or("").trim();
                row.push(if v.is_empty() {
                    String::new()
                } else {
                    key.pseudonym("household", &normalise_id(v))
                });
            }
            for (i, _) in &keep {
                row.push(record.get(*i).unwrap_or("").trim().to_string());
            }
            if add_sex {
                row.push(parsed.map_or("", |p| p.1.code()).to_string());
            }
            if add_birth {
                row.push(parsed.map(|p| p.0.to_string()).unwrap_or_default());
            }
            csvw.write_record(&row)?;
            summary.rows_written += 1;
        }
        csvw.flush()?;
        Ok(())
    })?;
    rej.flush()?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_keyed_and_domain_separated() {
        let k1 = Key::from_hex(&"11".repeat(32)).unwrap();
        let k2 = Key::from_hex(&"22".repeat(32)).unwrap();
        let a = k1.pseudonym("person", "44051401359");
        assert_eq!(a.len(), 32);
        assert_eq!(a, k1.pseudonym("person", "44051401359"));
        assert_ne!(a, k2.pseudonym("person", "44051401359"));
        assert_ne!(a, k1.pseudonym("household", "44051401359"));
        assert_ne!(a, k1.pseudonym("person", "44051401360"));
    }

    #[test]
    fn hmac_matches_the_rfc_4231_test_vector() {
        // RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn keys_round_trip_and_bad_keys_are_refused() {
        let k = Key::generate();
        assert_eq!(Key::from_hex(&k.to_hex()).unwrap().to_hex(), k.to_hex());
        assert!(Key::from_hex("abc").is_none());
        assert_ne!(Key::generate().to_hex(), k.to_hex());
    }
}
