//! What the protection core hands on: the protected public tier (every published cell
//! with its status) and its audit report. Plain data, serialisable, free of records:
//! what the server, the export and the map read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::table::CellStatus;

/// The layer a published unit belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    City,
    Parents,
    Districts,
    /// Hexagons at one H3 resolution.
    H3(u8),
    /// The adaptive hexagon layer: non-overlapping hexagons, each at the finest
    /// resolution at which it is safe (resolution carried by each index).
    H3Adaptive,
}

impl LayerKind {
    /// The layer named as [`layer_name`] names it (`districts`, `h3_8`, `h3`); the
    /// web map's and the export's spelling with `-` (`h3-8`) is read too.
    pub fn parse(name: &str) -> Option<LayerKind> {
        match name {
            "city" => Some(LayerKind::City),
            "parents" => Some(LayerKind::Parents),
            "districts" => Some(LayerKind::Districts),
            "h3" => Some(LayerKind::H3Adaptive),
            h => {
                let r: u8 = h
                    .strip_prefix("h3_")
                    .or(h.strip_prefix("h3-"))?
                    .parse()
                    .ok()?;
                (r <= 15).then_some(LayerKind::H3(r))
            }
        }
    }

    pub fn is_hexagons(self) -> bool {
        matches!(self, LayerKind::H3(_) | LayerKind::H3Adaptive)
    }

    /// The policy's name for this kind of layer (every H3 resolution is `h3`).
    pub fn policy_layer(self) -> crate::policy::Layer {
        use crate::policy::Layer;
        match self {
            LayerKind::City => Layer::City,
            LayerKind::Parents => Layer::Parents,
            LayerKind::Districts => Layer::Districts,
            LayerKind::H3(_) | LayerKind::H3Adaptive => Layer::H3,
        }
    }
}

/// What a published number counts: distinct persons, or distinct households
/// (families: the welfare centres' MRPiPS-03 counts each reason both ways). A person
/// without a household in the records is a household of their own.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Counted {
    #[default]
    Persons,
    Households,
}

impl Counted {
    pub const ALL: [Counted; 2] = [Counted::Persons, Counted::Households];

    /// `persons`, `households`: the API's and the files' spelling.
    pub fn code(self) -> &'static str {
        match self {
            Counted::Persons => "persons",
            Counted::Households => "households",
        }
    }

    pub fn parse(text: &str) -> Option<Counted> {
        Counted::ALL.into_iter().find(|c| c.code() == text)
    }

    pub fn is_persons(&self) -> bool {
        *self == Counted::Persons
    }
}

/// One published number with its status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishedCell {
    pub layer: LayerKind,
    /// District or parent-area code, H3 index (hex), or `city`.
    pub unit: String,
    /// Category code, or `any_ops` / `any_pup` for unit totals.
    pub measure: String,
    /// Breakdown group: `all`, `sex=K`, `sex=unknown`, `age=18-29`, ….
    pub group: String,
    /// Persons (left out of the file) or households.
    #[serde(default, skip_serializing_if = "Counted::is_persons")]
    pub counted: Counted,
    pub year: u16,
    /// `None` when hidden.
    pub value: Option<u32>,
    pub status: CellStatus,
    /// Persons per 1,000 residents, where the population is known and the count shown.
    pub rate_per_1000: Option<f64>,
}

/// Information lost in one layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LayerLoss {
    pub cells: usize,
    pub non_empty: usize,
    pub primary: usize,
    pub secondary: usize,
    /// Hidden because the change since an earlier snapshot is a small count.
    #[serde(default)]
    pub difference: usize,
    pub persons: u64,
    /// Persons counted in hidden cells of this layer.
    pub hidden_persons: u64,
}

/// How the tier was protected, and what it cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TierSummary {
    pub k: u64,
    pub width: f64,
    pub years: Vec<u16>,
    /// Measure × year tables published.
    pub tables: usize,
    pub layers: BTreeMap<String, LayerLoss>,
    /// Fingerprint of the city files the tier was made with (`kmapa_geo::city::CityId`):
    /// publishing it with another city's boundaries is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
}

/// One hidden cell's interval as the audit proves it. No true value: the report can be
/// shown to anyone, it says only what an attacker can work out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditedCell {
    pub layer: LayerKind,
    pub unit: String,
    pub measure: String,
    pub group: String,
    #[serde(default, skip_serializing_if = "Counted::is_persons")]
    pub counted: Counted,
    pub year: u16,
    pub status: CellStatus,
    pub lower: f64,
    /// `None`: unbounded above.
    pub upper: Option<f64>,
    pub required_width: f64,
    pub passed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TierAudit {
    pub hidden_cells: usize,
    /// Failures among hidden published cells and small internal cells.
    pub failures: usize,
    /// The narrowest interval found, over the required width.
    pub narrowest_width: Option<f64>,
    pub cells: Vec<AuditedCell>,
    /// Internal cells (district × hexagon atoms, layers not published) with a count
    /// of 1..k−1: a reader must not be able to work them out either.
    #[serde(default)]
    pub internal_cells: usize,
    /// Those of them whose interval is too narrow (label, measure, group, year,
    /// lower, upper): never more than the failures.
    #[serde(default)]
    pub internal_failures: Vec<InternalFailure>,
    /// Cells published now whose change since an earlier snapshot is 1..k−1.
    #[serde(default)]
    pub difference_failures: Vec<String>,
}

/// A small internal cell a reader can pin down too closely.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InternalFailure {
    pub cell: String,
    pub measure: String,
    pub group: String,
    #[serde(default, skip_serializing_if = "Counted::is_persons")]
    pub counted: Counted,
    pub year: u16,
    pub lower: f64,
    pub upper: Option<f64>,
}

impl TierAudit {
    pub fn passed(&self) -> bool {
        self.failures == 0
    }
}

/// The protected public tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtectedTier {
    /// The policy version that produced it.
    pub policy_version: String,
    /// Checksums of the ingested batches it was made from: the analyst tier of a
    /// snapshot answers from these and nothing newer.
    #[serde(default)]
    pub batches: Vec<String>,
    pub summary: TierSummary,
    pub cells: Vec<PublishedCell>,
    /// The analyst tier's protection, decided with the public tier: absent in tiers
    /// written before it existed (such a tier cannot be served with the analyst tier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analyst: Option<AnalystProtection>,
}

/// One analyst query: a layer, a category or unit total, a year and a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AnalystQuery {
    pub layer: LayerKind,
    /// Category code, or `any_ops` / `any_pup`.
    pub measure: String,
    pub year: u16,
    /// `all`, `sex=K`, `age=18-29`, ….
    pub group: String,
}

/// How the analyst tier of a snapshot is protected beyond the Cell Key Method: the
/// queries withheld because their perturbed answers, combined with every other
/// analyst answer and the public tier, would pin a small count exactly
/// (docs/privacy.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnalystProtection {
    /// Fingerprint of the cell-key secret the audit ran with: answers made with another
    /// secret were not audited, and the server refuses them.
    pub key_fingerprint: String,
    /// Withheld queries: answered with every unit hidden, and said to be withheld.
    pub withheld: Vec<AnalystQuery>,
    /// Counts in 1..k−1 the audit checked (every unit and group of the audited layers).
    pub small_counts_checked: u64,
    /// Layers the audit covers (analyst hexagons are not audited yet).
    pub audited_layers: Vec<LayerKind>,
    /// SHA-256 (hex) of the per-atom counts and cell keys the analyst tier answers from
    /// (`analyst-atoms.bin`): the tier and its atoms were made together.
    #[serde(default)]
    pub atoms_sha256: String,
}

/// The layer's name in reports and collection ids: `city`, `parents`, `districts`,
/// `h3_8`.
/// The layer's name in tables and URLs (`districts`, `h3_8`; `h3` for the adaptive
/// hexagon layer). [`LayerKind::parse`] reads it back.
pub fn layer_name(layer: LayerKind) -> String {
    match layer {
        LayerKind::City => "city".into(),
        LayerKind::Parents => "parents".into(),
        LayerKind::Districts => "districts".into(),
        LayerKind::H3(r) => format!("h3_{r}"),
        LayerKind::H3Adaptive => "h3".into(),
    }
}

/// One cell of an analyst query: perturbed by the Cell Key Method, or hidden under the
/// threshold after noise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalystCell {
    pub unit: String,
    pub value: Option<u64>,
    /// `perturbed`, or `hidden` (the perturbed count is under the threshold; true
    /// zeros included): the analyst tier never says "nobody".
    pub status: crate::table::PublicStatus,
}

/// The analyst tier, answered by the protection core (the cube and the Cell Key
/// Method) in kmapa-cube: the server only ever receives perturbed counts.
pub trait Analyst: Send + Sync {
    /// Layers offered (`districts`, `parents`, `city`, `h3_<r>`).
    fn layers(&self) -> Vec<String>;
    /// Breakdown groups offered besides `all` (`sex=K`, `age=18-29`, …).
    fn groups(&self) -> Vec<String>;
    /// Layers the breakdown groups are offered at (`all` is offered everywhere).
    fn breakdown_layers(&self) -> Vec<String>;
    /// Perturbed counts of one category and year at one layer, for one group.
    fn query(
        &self,
        layer: LayerKind,
        category: &str,
        year: u16,
        group: &str,
    ) -> Result<Vec<AnalystCell>, String>;
    /// Whether the query is withheld (every unit answered hidden): its answers would
    /// pin a small count exactly together with other answers (docs/privacy.md).
    fn withheld(&self, layer: LayerKind, category: &str, year: u16, group: &str) -> bool;
    /// Perturbed counts under this are hidden.
    fn threshold(&self) -> u64;
    /// The p-table: public, as statistical offices publish theirs; protection does not
    /// rest on its secrecy (docs/privacy.md).
    fn ptable(&self) -> &crate::ckm::PTable;
}
