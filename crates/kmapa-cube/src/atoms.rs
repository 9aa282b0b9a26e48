//! The analyst tier's data as a snapshot holds it and the server reads it: no records,
//! only, per measure, year and breakdown group, the persons counted in each atom and the
//! sum of their record keys. An atom is a district × the hexagon of the finest analyst
//! resolution (or the district alone, for people located by district only). Counts and
//! cell keys add up (each person is placed once per measure and year, and a cell key is
//! the sum of its records' keys), so every unit the analyst tier answers for (district,
//! parent area, city, hexagon of any offered resolution) gets the same count and cell
//! key as from the records, and so the same perturbed value.
//!
//! File format (`analyst-atoms.bin`): `KMAPAAT1`, a little-endian u32 length and a JSON
//! header ([`Header`]), a u64 row count, then fixed 27-byte little-endian rows
//! (measure u16, year u16, group u8, district u16, hexagon u64 or 0, persons u32, key
//! u64), sorted.

use std::io::{Read, Write};
use std::path::Path;

use h3o::{CellIndex, Resolution};
use kmapa_model::Source;
use kmapa_protect::ckm::CellKey;
use kmapa_protect::policy::{AnalystTier, Layer};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::{Cube, Group, Level, Measure, Unit};

const MAGIC: &[u8; 8] = b"KMAPAAT1";
const ROW: usize = 27;

/// What the rows' indices mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub district_codes: Vec<String>,
    pub parent_codes: Vec<String>,
    pub parent_of: Vec<Option<u16>>,
    /// Measures: the categories, then the unit totals (`any_ops`, `any_pup`).
    pub measures: Vec<String>,
    /// Groups: `all`, then the tier's breakdown groups.
    pub groups: Vec<String>,
    /// H3 resolution of the atoms' hexagons: the finest the tier offers.
    pub resolution: Option<u8>,
    pub years: Vec<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    measure: u16,
    year: u16,
    group: u8,
    district: u16,
    /// 0 for people located by district only.
    cell: u64,
    persons: u32,
    key: u64,
}

impl Row {
    /// The atom: district, and finest hexagon or `None` for people located by district
    /// only.
    fn atom(&self) -> (u16, Option<u64>) {
        (self.district, (self.cell != 0).then_some(self.cell))
    }
}

/// Persons and the sum of their record keys per atom.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalystAtoms {
    pub header: Header,
    rows: Vec<Row>,
}

#[derive(Debug, thiserror::Error)]
pub enum AtomsError {
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0}: not an analyst atoms file ({1}): run `kmapa protect` and `kmapa publish` again")]
    Format(String, String),
}

/// Every group the tier answers for, `all` first.
pub fn tier_groups(tier: &AnalystTier) -> Vec<Group> {
    let mut groups = vec![Group::All];
    for &b in &tier.breakdowns {
        groups.extend(Group::of(b));
    }
    groups
}

/// Every measure of the cube, categories first, with its code.
pub fn measures_of(cube: &Cube) -> Vec<(Measure, String)> {
    let mut out: Vec<(Measure, String)> = (0..cube.category_codes.len() as u16)
        .map(|c| {
            (
                Measure::Category(c),
                cube.category_codes[c as usize].clone(),
            )
        })
        .collect();
    out.extend(Source::ALL.into_iter().map(|s| {
        (
            Measure::AnyOf(s),
            format!("any_{}", s.code().to_lowercase()),
        )
    }));
    out
}

impl AnalystAtoms {
    /// The atoms of every measure, year and group the tier answers for.
    pub fn build(cube: &Cube, tier: &AnalystTier) -> Self {
        let resolution = if tier.layers.contains(&Layer::H3) {
            tier.h3_resolutions.iter().copied().max()
        } else {
            None
        };
        let res = resolution.and_then(|r| Resolution::try_from(r).ok());
        let groups = tier_groups(tier);
        let measures = measures_of(cube);
        let years: Vec<u16> = cube
            .years()
            .into_iter()
            .filter(|&y| tier.years.includes(i32::from(y)))
            .collect();
        // One job per measure and year, every group in one pass; jobs in the rows' order.
        let jobs: Vec<(usize, u16)> = (0..measures.len())
            .flat_map(|m| years.iter().map(move |&y| (m, y)))
            .collect();
        let hexes = cube.hexes_at(res);
        let rows: Vec<Row> = crate::run_parallel(jobs.len(), |j| {
            let (m, year) = jobs[j];
            cube.atom_keys_by_group_at(&hexes, measures[m].0, year, &groups)
                .into_iter()
                .map(|(group, district, cell, persons, key)| Row {
                    measure: m as u16,
                    year,
                    group,
                    district,
                    cell: cell.unwrap_or(0),
                    persons,
                    key: key.0,
                })
                .collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect();
        AnalystAtoms {
            header: Header {
                district_codes: cube.district_codes.clone(),
                parent_codes: cube.parent_codes.clone(),
                parent_of: cube.parent_of().to_vec(),
                measures: measures.into_iter().map(|(_, c)| c).collect(),
                groups: groups.into_iter().map(Group::code).collect(),
                resolution,
                years,
            },
            rows,
        }
    }

    /// Atoms stored.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Writes the file whole or not at all.
    pub fn write(&self, path: &Path) -> Result<(), AtomsError> {
        let io = |e| AtomsError::Io(path.display().to_string(), e);
        kmapa_model::fsutil::write_atomically(path, |w| {
            let header = serde_json::to_vec(&self.header).expect("a header serialises");
            w.write_all(MAGIC)?;
            w.write_all(&(header.len() as u32).to_le_bytes())?;
            w.write_all(&header)?;
            w.write_all(&(self.rows.len() as u64).to_le_bytes())?;
            let mut buf = Vec::with_capacity(ROW * 4096);
            for chunk in self.rows.chunks(4096) {
                buf.clear();
                for r in chunk {
                    buf.extend_from_slice(&r.measure.to_le_bytes());
                    buf.extend_from_slice(&r.year.to_le_bytes());
                    buf.push(r.group);
                    buf.extend_from_slice(&r.district.to_le_bytes());
                    buf.extend_from_slice(&r.cell.to_le_bytes());
                    buf.extend_from_slice(&r.persons.to_le_bytes());
                    buf.extend_from_slice(&r.key.to_le_bytes());
                }
                w.write_all(&buf)?;
            }
            Ok(())
        })
        .map_err(io)
    }

    pub fn read(path: &Path) -> Result<Self, AtomsError> {
        let name = path.display().to_string();
        let bad = |what: &str| AtomsError::Format(name.clone(), what.to_string());
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| AtomsError::Io(name.clone(), e))?;
        let take = |at: &mut usize, n: usize| -> Result<&[u8], AtomsError> {
            let s = bytes.get(*at..*at + n).ok_or_else(|| bad("truncated"))?;
            *at += n;
            Ok(s)
        };
        let mut at = 0;
        if take(&mut at, 8)? != MAGIC {
            return Err(bad("wrong magic"));
        }
        let n = u32::from_le_bytes(take(&mut at, 4)?.try_into().expect("4 bytes")) as usize;
        let header: Header =
            serde_json::from_slice(take(&mut at, n)?).map_err(|e| bad(&e.to_string()))?;
        let count = u64::from_le_bytes(take(&mut at, 8)?.try_into().expect("8 bytes")) as usize;
        let body = take(
            &mut at,
            count.checked_mul(ROW).ok_or_else(|| bad("row count"))?,
        )?;
        if at != bytes.len() {
            return Err(bad("trailing bytes"));
        }
        let u16_at = |r: &[u8], i: usize| u16::from_le_bytes([r[i], r[i + 1]]);
        let u64_at = |r: &[u8], i: usize| u64::from_le_bytes(r[i..i + 8].try_into().expect("8"));
        let rows: Vec<Row> = body
            .chunks_exact(ROW)
            .map(|r| Row {
                measure: u16_at(r, 0),
                year: u16_at(r, 2),
                group: r[4],
                district: u16_at(r, 5),
                cell: u64_at(r, 7),
                persons: u32::from_le_bytes(r[15..19].try_into().expect("4")),
                key: u64_at(r, 19),
            })
            .collect();
        if rows.iter().any(|r| {
            r.measure as usize >= header.measures.len()
                || r.group as usize >= header.groups.len()
                || r.district as usize >= header.district_codes.len()
        }) || !rows.is_sorted()
        {
            return Err(bad("rows out of range or unsorted"));
        }
        Ok(AnalystAtoms { header, rows })
    }

    /// Index of a measure code.
    pub fn measure(&self, code: &str) -> Option<u16> {
        self.header
            .measures
            .iter()
            .position(|m| m == code)
            .map(|i| i as u16)
    }

    /// Index of a group.
    pub fn group(&self, group: Group) -> Option<u8> {
        let code = group.code();
        self.header
            .groups
            .iter()
            .position(|g| *g == code)
            .map(|i| i as u8)
    }

    /// Persons and cell key per atom (district, finest hexagon or `None` for people
    /// located by district only) of one measure, year and group.
    pub fn atom_rows(
        &self,
        measure: u16,
        year: u16,
        group: u8,
    ) -> impl Iterator<Item = ((u16, Option<u64>), (u32, CellKey))> + '_ {
        self.rows_of(measure, year, group)
            .iter()
            .map(|r| (r.atom(), (r.persons, CellKey(r.key))))
    }

    /// Every atom anyone lives in, in any measure, year and group.
    pub fn support(&self) -> std::collections::BTreeSet<(u16, Option<u64>)> {
        self.rows.iter().map(Row::atom).collect()
    }

    /// The rows of one measure, year and group (rows are sorted by them).
    fn rows_of(&self, measure: u16, year: u16, group: u8) -> &[Row] {
        let key = (measure, year, group);
        let lo = self
            .rows
            .partition_point(|r| (r.measure, r.year, r.group) < key);
        let hi = self
            .rows
            .partition_point(|r| (r.measure, r.year, r.group) <= key);
        &self.rows[lo..hi]
    }

    /// Persons and cell key per unit of a level: units with nobody are not listed.
    pub fn counts(
        &self,
        level: Level,
        measure: u16,
        year: u16,
        group: u8,
    ) -> FxHashMap<Unit, (u32, CellKey)> {
        let mut out: FxHashMap<Unit, (u32, CellKey)> = FxHashMap::default();
        for r in self.rows_of(measure, year, group) {
            let unit = match level {
                Level::City => Some(Unit::City),
                Level::Parents => self.header.parent_of[r.district as usize].map(Unit::Parent),
                Level::Districts => Some(Unit::District(r.district)),
                Level::Hexagons(res) => CellIndex::try_from(r.cell)
                    .ok()
                    .and_then(|c| c.parent(res))
                    .map(|c| Unit::Hex(u64::from(c))),
            };
            if let Some(u) = unit {
                let e = out.entry(u).or_insert((0, CellKey::default()));
                e.0 += r.persons;
                e.1 = CellKey(e.1.0.wrapping_add(r.key));
            }
        }
        out
    }

    /// Every hexagon at `res` anyone lives in, in any measure, year and group.
    pub fn hexagons(&self, res: Resolution) -> Vec<u64> {
        let set: std::collections::BTreeSet<u64> = self
            .rows
            .iter()
            .filter_map(|r| CellIndex::try_from(r.cell).ok()?.parent(res))
            .map(u64::from)
            .collect();
        set.into_iter().collect()
    }
}
