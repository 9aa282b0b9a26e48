//! The analyst tier audited together with the public tier (docs/privacy.md).
//!
//! An analyst sees every perturbed answer of every query; a reader who knows the
//! p-table learns from a shown value `v` that the true count is one that can be
//! published as `v`, and from a hidden one that it is one that can fall under the
//! threshold. With the public tier's exact values and the relations (districts add up
//! to their parent area and to the city; sex groups and age groups each add up to
//! everyone; a hexagon is the sum of its children at the next finer resolution offered,
//! the finest the sum of its district × hexagon atoms, a district the sum of its atoms),
//! a linear program can pin a small count exactly for some cell keys. This module finds
//! such counts, per measure and year, in every district, parent area, the city, every
//! hexagon of every offered resolution and every atom, and withholds the analyst
//! queries that give them away until none is left: a withheld query answers every unit
//! hidden and says it is withheld, so it tells the reader nothing about any count.

use rustc_hash::FxHashMap as HashMap;
use std::collections::{BTreeMap, BTreeSet};

use h3o::{CellIndex, Resolution};
use kmapa_protect::ckm::{CellKey, PTable};
use kmapa_protect::output::{AnalystProtection, AnalystQuery, LayerKind, ProtectedTier};
use kmapa_protect::policy::{AnalystTier, Layer};
use microlp::{ComparisonOp, OptimizationDirection, Problem};

use crate::atoms::AnalystAtoms;
use crate::{Group, Level, Unit};
use kmapa_model::Vocabulary;

/// A count in 1..k−1 that the analyst and public answers pin exactly.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pinned {
    pub layer: LayerKind,
    pub unit: String,
    pub measure: String,
    pub year: u16,
    pub group: String,
    pub value: u64,
}

/// What the audit of an analyst tier found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AnalystAudit {
    /// Counts in 1..k−1 checked (every unit and group of the audited layers).
    pub small_counts_checked: u64,
    /// Small counts pinned exactly: empty for a protected tier.
    pub pinned: Vec<Pinned>,
    /// Linear programs solved.
    pub lps: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum AnalystAuditError {
    #[error(
        "{0}: the analyst answers contradict the public tier (a bug: please report it with the policy)"
    )]
    Infeasible(String),
    #[error("{0}: the LP solver failed: {1}")]
    Solver(String, String),
    #[error(
        "{0}: small counts stay pinned with every analyst query of it withheld (a bug: please report it)"
    )]
    Stuck(String),
}

/// Layers the audit covers, in the order queries are withheld.
const LEVELS: [(Level, LayerKind); 3] = [
    (Level::Districts, LayerKind::Districts),
    (Level::Parents, LayerKind::Parents),
    (Level::City, LayerKind::City),
];

/// No count exceeds this; keeps every LP bounded (a looser bound than any true one,
/// so the audit stays at least as strong as a reader's).
const CAP: f64 = 1.0e7;

/// The audit of one analyst tier against one public tier.
pub struct AnalystAuditor<'a> {
    atoms: &'a AnalystAtoms,
    tier: &'a AnalystTier,
    ptable: PTable,
    k: u64,
    groups: Vec<Group>,
    /// Per breakdown dimension, indices into `groups` of its groups.
    dimensions: Vec<Vec<usize>>,
    /// Measure codes, by the atoms' measure index.
    measures: Vec<String>,
    years: Vec<u16>,
    /// Layers the analyst tier offers: those of `LEVELS`, then one per H3 resolution.
    offered: Vec<LayerKind>,
    /// H3 resolutions the tier answers, ascending (empty: no hexagons).
    resolutions: Vec<Resolution>,
    /// Atoms (district × hexagon of the finest resolution) anyone lives in.
    support: Vec<(u16, Option<u64>)>,
    /// Exact public values of the audited layers: (layer, unit, measure, group, year).
    public: PublicValues,
    /// Earlier snapshots a reader kept.
    earlier: Vec<Earlier>,
    /// Whether whole-person moves clear counts before the LPs (see [`Moves`]).
    moves: bool,
}

/// Measures a reader knows to be related, cell by cell (every unit, group, hexagon
/// and atom): one family per source, by the atoms' measure index. As in the public
/// audit: a sub-row never exceeds its category, a top category never exceeds the unit
/// total of its source, and the unit total never exceeds the sum of the top
/// categories (when every top category is answered).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeasureFamily {
    pub measures: Vec<u16>,
    /// `(smaller, larger)`.
    pub pairs: Vec<(u16, u16)>,
    /// `(total, parts)`: total ≤ Σ parts.
    pub sums: Vec<(u16, Vec<u16>)>,
}

impl MeasureFamily {
    /// Per measure, the measures above it (a sub-row's category, a category's unit
    /// total): a person counted in it is counted in each of them too, so a whole-person
    /// move of a joint system starts from them (see [`Moves::whole_person`]).
    fn above(&self) -> HashMap<u16, Vec<u16>> {
        let above = |m: u16| -> Vec<u16> {
            let mut out = Vec::new();
            let mut at = m;
            while let Some(&(_, l)) = self.pairs.iter().find(|&&(s, _)| s == at) {
                if out.contains(&l) {
                    break;
                }
                out.push(l);
                at = l;
            }
            out
        };
        self.measures.iter().map(|&m| (m, above(m))).collect()
    }
}

/// The families of the measures `measures` (the atoms' codes: categories, and
/// `any_ops`, `any_pup` for the unit totals).
pub fn measure_families(vocabulary: &Vocabulary, measures: &[String]) -> Vec<MeasureFamily> {
    let index = |code: &str| measures.iter().position(|m| m == code).map(|i| i as u16);
    kmapa_model::Source::ALL
        .into_iter()
        .filter_map(|source| {
            let total = index(&format!("any_{}", source.code().to_lowercase()));
            let mut f = MeasureFamily::default();
            let mut tops = Vec::new();
            let mut all_tops = true;
            for c in vocabulary
                .categories()
                .iter()
                .filter(|c| c.source == source)
            {
                let Some(i) = index(&c.code) else {
                    all_tops &= c.parent.is_some();
                    continue;
                };
                f.measures.push(i);
                match &c.parent {
                    Some(p) => {
                        if let Some(p) = index(p) {
                            f.pairs.push((i, p));
                        }
                    }
                    None => {
                        if let Some(t) = total {
                            f.pairs.push((i, t));
                        }
                        tops.push(i);
                    }
                }
            }
            if let Some(t) = total {
                f.measures.push(t);
                if all_tops && !tops.is_empty() {
                    f.sums.push((t, tops));
                }
            }
            (f.measures.len() > 1).then_some(f)
        })
        .collect()
}

/// What [`AnalystAuditor::protect_with_memo`] decided for the source and year systems it
/// has seen: per fingerprint of a source and year's joint system, the queries withheld
/// for it (by each measure's own pass and the joint one) and the small counts checked.
/// The fingerprint covers everything the decision depends on (the system with nothing
/// withheld, which of its variables public values fix, and the audit's parameters), so
/// the same system gets the same decision without solving anything again: a protection
/// after new data for one year solves that year's systems only.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JointMemo {
    pub systems: std::collections::BTreeMap<String, JointDecision>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JointDecision {
    pub withheld: Vec<AnalystQuery>,
    pub small_counts_checked: u64,
}

/// Changes whenever the joint protection's decisions could change for the same system.
const JOINT_MEMO_VERSION: &str = "kmapa analyst protection per source and year 3";

/// Exact public values as a published tier names them: (layer, unit, measure, group,
/// year).
type NamedValues = Vec<((LayerKind, String, String, String, u16), u64)>;

/// Exact public values by the audit's own identities: (layer, unit, measure index,
/// group index, year).
type PublicValues = HashMap<(LayerKind, Unit, u16, u8, u16), u64>;

/// One snapshot's answers: its atoms, its public tier's exact values, and where people
/// live.
struct Source<'s> {
    atoms: &'s AnalystAtoms,
    public: &'s PublicValues,
    support: &'s [(u16, Option<u64>)],
}

/// An earlier snapshot: a reader who kept its analyst answers and its public tier
/// combines them with this one's.
pub struct Earlier {
    pub number: u32,
    pub atoms: AnalystAtoms,
    pub withheld: BTreeSet<AnalystQuery>,
    /// Its public tier's exact values as published, until
    /// [`AnalystAuditor::with_earlier`] turns them into `public`.
    named: NamedValues,
    /// `named` by this snapshot's identities.
    public: PublicValues,
    /// Where people live by its data and by this snapshot's.
    support: Vec<(u16, Option<u64>)>,
}

impl Earlier {
    pub fn new(number: u32, atoms: AnalystAtoms, tier: &ProtectedTier) -> Self {
        Earlier {
            number,
            atoms,
            withheld: tier
                .analyst
                .as_ref()
                .map(|a| a.withheld.iter().cloned().collect())
                .unwrap_or_default(),
            named: exact_values(tier),
            public: PublicValues::default(),
            support: Vec::new(),
        }
    }
}

fn exact_values(tier: &ProtectedTier) -> NamedValues {
    tier.cells
        .iter()
        // Households are not part of the analyst tier's system (docs/privacy.md §5).
        .filter(|c| c.counted.is_persons())
        .filter_map(|c| {
            let v = c.value?;
            // The adaptive layer's hexagons are hexagons of their own resolution.
            let layer = match c.layer {
                LayerKind::H3Adaptive => LayerKind::H3(
                    u64::from_str_radix(&c.unit, 16)
                        .ok()
                        .and_then(|h| CellIndex::try_from(h).ok())
                        .map(|h| u8::from(h.resolution()))?,
                ),
                l => l,
            };
            Some((
                (
                    layer,
                    c.unit.clone(),
                    c.measure.clone(),
                    c.group.clone(),
                    c.year,
                ),
                u64::from(v),
            ))
        })
        .collect()
}

/// `named` by the identities of `atoms` (its districts and parent areas), `measures`
/// and `groups`; a value of a unit, measure or group they do not know ties nothing.
fn typed_values(
    named: &NamedValues,
    atoms: &AnalystAtoms,
    measures: &[String],
    groups: &[Group],
) -> PublicValues {
    fn index(codes: &[String]) -> HashMap<&str, u16> {
        codes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i as u16))
            .collect()
    }
    let districts = index(&atoms.header.district_codes);
    let parents = index(&atoms.header.parent_codes);
    let measure = index(measures);
    let group: HashMap<String, u8> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.code(), i as u8))
        .collect();
    named
        .iter()
        .filter_map(|((layer, unit, m, g, year), v)| {
            let u = match layer {
                LayerKind::City => Unit::City,
                LayerKind::Parents => Unit::Parent(*parents.get(unit.as_str())?),
                LayerKind::Districts => Unit::District(*districts.get(unit.as_str())?),
                LayerKind::H3(_) | LayerKind::H3Adaptive => {
                    Unit::Hex(u64::from_str_radix(unit, 16).ok()?)
                }
            };
            let key = (*layer, u, *measure.get(m.as_str())?, *group.get(g)?, *year);
            Some((key, *v))
        })
        .collect()
}

/// One measure and year: a variable per (unit, group) of `LEVELS`, then one per
/// hexagon anyone of the measure and year lives in (group `all`), then one per atom
/// (district × hexagon of the finest resolution, or district alone).
struct Component {
    label: String,
    /// What every variable stands for.
    labels: Vec<Label>,
    /// Per variable, the variable of this snapshot whose queries are withheld for it.
    escalate: Vec<usize>,
    /// Per variable, its measure (the atoms' measure index).
    measure: Vec<u16>,
    /// Variables from this one on are slacks of relations between measures, not counts.
    counts_end: usize,
    /// A joint system's cells: per this snapshot's unit, group, hexagon or atom, its
    /// variable of each measure `(measure, variable)`; and per variable its cell
    /// (`u32::MAX`: none, e.g. an earlier snapshot's). Empty for one measure.
    cells: Vec<Vec<(u16, usize)>>,
    cell_of: Vec<u32>,
    /// A joint system's measures above each measure (see [`MeasureFamily::above`]).
    above: HashMap<u16, Vec<u16>>,
    truth: Vec<u64>,
    lo: Vec<f64>,
    hi: Vec<f64>,
    /// Per variable, whether a public value fixes it, so that its bounds are the same
    /// whichever analyst queries are withheld (for [`AnalystAuditor::joint_fingerprint`]).
    fixed: Vec<bool>,
    /// Each row: Σ coefficient × variable = 0.
    rows: Vec<Vec<(usize, f64)>>,
    /// The variables a reader does not know exactly, split into independent systems
    /// (set by [`Component::split`]).
    parts: Vec<Part>,
    /// Per variable, its part (`usize::MAX`: known exactly).
    part_of: Vec<usize>,
}

/// What a variable stands for, typed once: the layer, the place, the group, and
/// whether it is a count of this snapshot, a count of an earlier one, the change of a
/// count since an earlier one, or the slack of a relation between measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Label {
    layer: LayerKind,
    place: Place,
    group: usize,
    /// The earlier snapshot (its number) a count or slack is of, or since which a
    /// change is; `None`: this snapshot.
    snapshot: Option<u32>,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Place {
    /// A district, parent area, the city or a hexagon (at the label's layer).
    Unit(Unit),
    /// A district × hexagon of the finest resolution (`None`: the district's part
    /// outside every hexagon).
    Atom(u16, Option<u64>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Count,
    Change,
    Slack,
}

impl Label {
    fn count(layer: LayerKind, place: Place, group: usize) -> Self {
        Label {
            layer,
            place,
            group,
            snapshot: None,
            kind: Kind::Count,
        }
    }
}

/// Variables linked by rows, none known exactly, and their rows with the known values
/// moved to the right-hand side.
struct Part {
    vars: Vec<usize>,
    rows: Vec<(Vec<(usize, f64)>, f64)>,
}

impl Component {
    /// Splits the system: variables known exactly become constants, and what is left
    /// falls apart into systems with no row in common (solved one at a time, and only
    /// those an objective touches: the true values are a solution of every other).
    fn split(mut self) -> Self {
        let n = self.truth.len();
        let free = |v: usize| self.lo[v] < self.hi[v];
        let mut parent: Vec<usize> = (0..n).collect();
        fn find(p: &mut [usize], mut x: usize) -> usize {
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        for row in &self.rows {
            let mut first = None;
            for &(v, _) in row.iter().filter(|&&(v, _)| free(v)) {
                let r = find(&mut parent, v);
                match first {
                    None => first = Some(r),
                    Some(f) if f != r => parent[r] = f,
                    Some(_) => {}
                }
            }
        }
        let mut index = HashMap::default();
        let mut part_of = vec![usize::MAX; n];
        let mut parts: Vec<Part> = Vec::new();
        for v in (0..n).filter(|&v| free(v)) {
            let r = find(&mut parent, v);
            let i = *index.entry(r).or_insert_with(|| {
                parts.push(Part {
                    vars: Vec::new(),
                    rows: Vec::new(),
                });
                parts.len() - 1
            });
            part_of[v] = i;
            parts[i].vars.push(v);
        }
        for row in &self.rows {
            let rhs: f64 = -row
                .iter()
                .filter(|&&(v, _)| !free(v))
                .map(|&(v, w)| w * self.lo[v])
                .sum::<f64>();
            let terms: Vec<(usize, f64)> = row.iter().copied().filter(|&(v, _)| free(v)).collect();
            if let Some(&(v, _)) = terms.first() {
                parts[part_of[v]].rows.push((terms, rhs));
            }
        }
        self.parts = parts;
        self.part_of = part_of;
        self
    }
}

impl<'a> AnalystAuditor<'a> {
    /// The audit of the analyst answers `atoms` give (as the server answers from them)
    /// under `tier`, with the public tier `public`.
    pub fn new(atoms: &'a AnalystAtoms, tier: &'a AnalystTier, public: &ProtectedTier) -> Self {
        let mut groups = vec![Group::All];
        let mut dimensions = Vec::new();
        for &b in &tier.breakdowns {
            let start = groups.len();
            groups.extend(Group::of(b));
            dimensions.push((start..groups.len()).collect());
        }
        let measures = atoms.header.measures.clone();
        let resolutions: Vec<Resolution> = if tier.layers.contains(&Layer::H3) {
            let mut r: Vec<Resolution> = tier
                .h3_resolutions
                .iter()
                .filter_map(|&r| Resolution::try_from(r).ok())
                .collect();
            r.sort();
            r.dedup();
            r
        } else {
            Vec::new()
        };
        let mut offered: Vec<LayerKind> = LEVELS
            .iter()
            .map(|&(_, l)| l)
            .filter(|l| tier.layers.contains(&l.policy_layer()))
            .collect();
        offered.extend(resolutions.iter().map(|&r| LayerKind::H3(u8::from(r))));
        let k = public.summary.k;
        let public = typed_values(&exact_values(public), atoms, &measures, &groups);
        AnalystAuditor {
            atoms,
            tier,
            ptable: PTable::generate(tier.ckm.into()),
            k,
            groups,
            dimensions,
            measures,
            years: atoms.header.years.clone(),
            offered,
            support: if resolutions.is_empty() {
                Vec::new()
            } else {
                atoms.support().into_iter().collect()
            },
            resolutions,
            public,
            earlier: Vec::new(),
            moves: true,
        }
    }

    /// Audits together with the analyst answers and public tiers of earlier snapshots.
    #[must_use]
    pub fn with_earlier(mut self, mut earlier: Vec<Earlier>) -> Self {
        for e in &mut earlier {
            // By its own measure indices (its systems are built from its atoms); its
            // districts and groups are this snapshot's wherever it is used.
            e.public = typed_values(
                &std::mem::take(&mut e.named),
                &e.atoms,
                &e.atoms.header.measures,
                &self.groups,
            );
            if !self.resolutions.is_empty() {
                let mut all = e.atoms.support();
                all.extend(self.support.iter().copied());
                e.support = all.into_iter().collect();
            }
        }
        self.earlier = earlier;
        self
    }

    /// Decides every count by LPs alone, without looking for whole-person moves first:
    /// slower, the same verdicts (a reference for tests).
    #[must_use]
    pub fn lps_only(mut self) -> Self {
        self.moves = false;
        self
    }

    fn units(&self) -> Vec<(LayerKind, Unit)> {
        let c = &self.atoms.header;
        let mut out: Vec<(LayerKind, Unit)> = (0..c.district_codes.len() as u16)
            .map(|d| (LayerKind::Districts, Unit::District(d)))
            .collect();
        out.extend((0..c.parent_codes.len() as u16).map(|p| (LayerKind::Parents, Unit::Parent(p))));
        out.push((LayerKind::City, Unit::City));
        out
    }

    fn unit_code(&self, u: Unit) -> String {
        match u {
            Unit::City => "city".into(),
            Unit::Parent(p) => self.atoms.header.parent_codes[p as usize].clone(),
            Unit::District(d) => self.atoms.header.district_codes[d as usize].clone(),
            Unit::Hex(h) => format!("{h:x}"),
        }
    }

    /// A label's unit as a reader names it (an atom: `district/hexagon`, or
    /// `district/-`; an earlier snapshot's count, its change and a slack: marked so).
    fn label_unit(&self, l: &Label) -> String {
        let mut unit = match l.place {
            Place::Unit(u) => self.unit_code(u),
            Place::Atom(d, h) => {
                let d = &self.atoms.header.district_codes[d as usize];
                match h {
                    Some(h) => format!("{d}/{h:x}"),
                    None => format!("{d}/-"),
                }
            }
        };
        match (l.kind, l.snapshot) {
            (Kind::Change, Some(n)) => unit.push_str(&format!(": change since snapshot {n}")),
            (_, Some(n)) => unit.push_str(&format!(" in snapshot {n}")),
            _ => {}
        }
        if l.kind == Kind::Slack {
            unit.push_str(": slack");
        }
        unit
    }

    fn query(&self, layer: LayerKind, measure: &str, year: u16, group: Group) -> AnalystQuery {
        AnalystQuery {
            layer,
            measure: measure.to_string(),
            year,
            group: group.code(),
        }
    }

    /// The system a reader of every answer of one measure and year of one snapshot
    /// (`src`) can set up.
    fn component_from(
        &self,
        src: &Source<'_>,
        measure: u16,
        code: &str,
        year: u16,
        withheld: &BTreeSet<AnalystQuery>,
    ) -> Component {
        let units = self.units();
        let ng = self.groups.len();
        let n = units.len() * ng;
        let index: HashMap<Unit, usize> = units
            .iter()
            .enumerate()
            .map(|(i, &(_, u))| (u, i))
            .collect();
        let var = |u: Unit, g: usize| index[&u] * ng + g;
        let mut truth = vec![0u64; n];
        let mut lo = vec![0.0; n];
        let mut hi = vec![CAP; n];
        let mut fixed = vec![false; n];
        let below = self.ptable.largest_below(self.tier.threshold) as f64;
        for &(level, layer) in &LEVELS {
            for (g, &group) in self.groups.iter().enumerate() {
                let mut keys = HashMap::default();
                for (unit, (persons, key)) in src.atoms.counts(level, measure, year, g as u8) {
                    truth[var(unit, g)] = u64::from(persons);
                    keys.insert(unit, key);
                }
                let answered = self.offered.contains(&layer)
                    && (group == Group::All
                        || self.tier.breakdown_layers.contains(&layer.policy_layer()))
                    && !withheld.contains(&self.query(layer, code, year, group));
                for &(l, u) in units.iter().filter(|(l, _)| *l == layer) {
                    let v = var(u, g);
                    if answered {
                        // As the server answers: units nobody lives in are hidden.
                        let shown = keys
                            .get(&u)
                            .map(|&key| self.ptable.perturb(truth[v], key))
                            .filter(|&p| p >= self.tier.threshold);
                        match shown.and_then(|p| self.ptable.preimage(p)) {
                            Some((a, b)) => (lo[v], hi[v]) = (a as f64, b as f64),
                            None => hi[v] = below,
                        }
                    }
                    if let Some(&p) = src.public.get(&(l, u, measure, g as u8, year)) {
                        (lo[v], hi[v]) = (p as f64, p as f64);
                        fixed[v] = true;
                    }
                }
            }
        }
        let mut rows = Vec::new();
        let header = &src.atoms.header;
        let districts: Vec<u16> = (0..header.district_codes.len() as u16).collect();
        for g in 0..ng {
            for p in 0..header.parent_codes.len() as u16 {
                let mut row = vec![(var(Unit::Parent(p), g), -1.0)];
                row.extend(
                    districts
                        .iter()
                        .filter(|&&d| header.parent_of[d as usize] == Some(p))
                        .map(|&d| (var(Unit::District(d), g), 1.0)),
                );
                rows.push(row);
            }
            let mut row = vec![(var(Unit::City, g), -1.0)];
            row.extend(districts.iter().map(|&d| (var(Unit::District(d), g), 1.0)));
            rows.push(row);
        }
        for &(_, u) in &units {
            for dim in &self.dimensions {
                let mut row = vec![(var(u, 0), -1.0)];
                row.extend(dim.iter().map(|&g| (var(u, g), 1.0)));
                rows.push(row);
            }
        }
        let mut extra = Vec::new();
        if let Some(&finest) = self.resolutions.last() {
            // Hexagons are answered for everyone only (no breakdowns). A district is the
            // sum of its atoms; a hexagon of the finest resolution the sum of its atoms
            // (the atom itself, when the hexagon lies in one district); a coarser one the
            // sum of its children at the next resolution offered. The atoms are those
            // anyone lives in (any measure and year), as the public audit assumes a
            // reader knows where people live; a count of 0 where nobody of this measure
            // and year does.
            let counted: HashMap<(u16, Option<u64>), (u32, CellKey)> =
                src.atoms.atom_rows(measure, year, 0).collect();
            let mut add = |truth_v: u64, (a, b, public): (f64, f64, bool), label| {
                truth.push(truth_v);
                lo.push(a);
                hi.push(b);
                fixed.push(public);
                extra.push(label);
                truth.len() - 1
            };
            let bounds = |layer: LayerKind, h: u64, persons: u64, key: CellKey| {
                let (mut a, mut b) = (0.0, CAP);
                if !withheld.contains(&self.query(layer, code, year, Group::All)) {
                    let shown = Some(self.ptable.perturb(persons, key))
                        .filter(|&p| p >= self.tier.threshold);
                    match shown.and_then(|p| self.ptable.preimage(p)) {
                        Some((x, y)) => (a, b) = (x as f64, y as f64),
                        None => b = below,
                    }
                }
                match src.public.get(&(layer, Unit::Hex(h), measure, 0, year)) {
                    Some(&p) => (p as f64, p as f64, true),
                    None => (a, b, false),
                }
            };
            // Finest hexagons first: (hexagon, persons, key, atoms).
            let mut finest_hexes: std::collections::BTreeMap<u64, (u64, CellKey, Vec<usize>)> =
                Default::default();
            let atoms: Vec<(_, (u32, CellKey))> = src
                .support
                .iter()
                .map(|&atom| {
                    let c = counted
                        .get(&atom)
                        .copied()
                        .unwrap_or((0, CellKey::default()));
                    (atom, c)
                })
                .collect();
            for (i, ((_, cell), (persons, key))) in atoms.iter().enumerate() {
                if let Some(h) = cell {
                    let e = finest_hexes
                        .entry(*h)
                        .or_insert((0, CellKey::default(), Vec::new()));
                    e.0 += u64::from(*persons);
                    e.1 = CellKey(e.1.0.wrapping_add(key.0));
                    e.2.push(i);
                }
            }
            let finest_layer = LayerKind::H3(u8::from(finest));
            let mut atom_var = vec![usize::MAX; atoms.len()];
            // (hexagon, variable, persons, key) at the resolution last added.
            let mut level: Vec<(u64, usize, u64, CellKey)> = Vec::new();
            // Every level offered: (resolution, hexagons and their variables).
            let mut offered: Vec<(u8, Vec<(u64, usize)>)> = Vec::new();
            for (h, (persons, key, members)) in finest_hexes {
                let v = add(
                    persons,
                    bounds(finest_layer, h, persons, key),
                    (finest_layer, Place::Unit(Unit::Hex(h))),
                );
                if let [only] = members[..] {
                    atom_var[only] = v;
                } else {
                    let mut row = vec![(v, -1.0)];
                    for m in members {
                        let ((district, _), (p, _)) = &atoms[m];
                        let label = (finest_layer, Place::Atom(*district, Some(h)));
                        atom_var[m] = add(u64::from(*p), (0.0, CAP, false), label);
                        row.push((atom_var[m], 1.0));
                    }
                    rows.push(row);
                }
                level.push((h, v, persons, key));
            }
            offered.push((
                u8::from(finest),
                level.iter().map(|&(h, v, ..)| (h, v)).collect(),
            ));
            for &r in self.resolutions.iter().rev().skip(1) {
                let layer = LayerKind::H3(u8::from(r));
                let mut parents: std::collections::BTreeMap<u64, (u64, CellKey, Vec<usize>)> =
                    Default::default();
                for &(h, v, persons, key) in &level {
                    if let Some(p) = hex_at(Some(h), r) {
                        let e = parents
                            .entry(p)
                            .or_insert((0, CellKey::default(), Vec::new()));
                        e.0 += persons;
                        e.1 = CellKey(e.1.0.wrapping_add(key.0));
                        e.2.push(v);
                    }
                }
                level = Vec::new();
                for (h, (persons, key, children)) in parents {
                    let v = add(
                        persons,
                        bounds(layer, h, persons, key),
                        (layer, Place::Unit(Unit::Hex(h))),
                    );
                    let mut row = vec![(v, -1.0)];
                    row.extend(children.into_iter().map(|c| (c, 1.0)));
                    rows.push(row);
                    level.push((h, v, persons, key));
                }
                offered.push((
                    u8::from(r),
                    level.iter().map(|&(h, v, ..)| (h, v)).collect(),
                ));
            }
            // Public hexagons of a resolution the analyst tier does not offer (the
            // adaptive layer's coarsest, say): each the sum of its hexagons at the next
            // finer resolution offered, and known exactly.
            for r in 0..u8::from(finest) {
                if offered.iter().any(|(x, _)| *x == r) {
                    continue;
                }
                let Some((_, finer)) = offered.iter().rev().find(|(x, _)| *x > r) else {
                    continue;
                };
                let res = Resolution::try_from(r).expect("a resolution under the finest");
                let mut sums: std::collections::BTreeMap<u64, Vec<usize>> = Default::default();
                for &(h, v) in finer {
                    if let Some(p) = hex_at(Some(h), res) {
                        sums.entry(p).or_default().push(v);
                    }
                }
                let layer = LayerKind::H3(r);
                for (h, parts) in sums {
                    if let Some(&p) = src.public.get(&(layer, Unit::Hex(h), measure, 0, year)) {
                        let v = add(
                            p,
                            (p as f64, p as f64, true),
                            (layer, Place::Unit(Unit::Hex(h))),
                        );
                        let mut row = vec![(v, -1.0)];
                        row.extend(parts.into_iter().map(|c| (c, 1.0)));
                        rows.push(row);
                    }
                }
            }
            let mut by_district: HashMap<u16, Vec<usize>> = HashMap::default();
            for (i, ((district, cell), (persons, _))) in atoms.iter().enumerate() {
                if cell.is_none() {
                    atom_var[i] = add(
                        u64::from(*persons),
                        (0.0, CAP, false),
                        (finest_layer, Place::Atom(*district, None)),
                    );
                }
                by_district.entry(*district).or_default().push(atom_var[i]);
            }
            // A district no one lives in holds nobody.
            for d in 0..header.district_codes.len() as u16 {
                let mut row = vec![(var(Unit::District(d), 0), -1.0)];
                row.extend(
                    by_district
                        .remove(&d)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|a| (a, 1.0)),
                );
                rows.push(row);
            }
        }
        let mut labels: Vec<Label> = (0..n)
            .map(|v| {
                let (layer, unit) = units[v / ng];
                Label::count(layer, Place::Unit(unit), v % ng)
            })
            .collect();
        labels.extend(extra.into_iter().map(|(l, p)| Label::count(l, p, 0)));
        Component {
            label: format!("{code} {year}"),
            escalate: (0..labels.len()).collect(),
            measure: vec![measure; labels.len()],
            counts_end: usize::MAX,
            cells: Vec::new(),
            cell_of: Vec::new(),
            above: HashMap::default(),
            labels,
            truth,
            lo,
            hi,
            fixed,
            rows,
            parts: Vec::new(),
            part_of: Vec::new(),
        }
    }

    /// The system a reader of every answer of one measure and year can set up: this
    /// snapshot's, and every earlier snapshot's whose data for it differ (the same data
    /// give the same answers), tied together by what the reader may know of the change:
    /// that each count only grew (late records) or only shrank (withdrawals). The change
    /// itself is a count too: an exact small one is pinned like any other.
    fn component(
        &self,
        measure: u16,
        code: &str,
        year: u16,
        withheld: &BTreeSet<AnalystQuery>,
    ) -> Component {
        let now = Source {
            atoms: self.atoms,
            public: &self.public,
            support: &self.support,
        };
        let mut c = self.component_from(&now, measure, code, year, withheld);
        let keys: HashMap<Label, usize> = c
            .labels
            .iter()
            .copied()
            .enumerate()
            .map(|(v, l)| (l, v))
            .collect();
        for e in &self.earlier {
            let Some(m) = e.atoms.measure(code) else {
                continue;
            };
            let groups = self.groups.len() as u8;
            let same = (0..groups).all(|g| {
                e.atoms
                    .atom_rows(m, year, g)
                    .eq(self.atoms.atom_rows(measure, year, g))
            });
            let (h, now) = (&e.atoms.header, &self.atoms.header);
            if same
                || h.district_codes != now.district_codes
                || h.groups != now.groups
                || h.resolution != now.resolution
            {
                // Identical answers add nothing; another city, other groups or another
                // resolution leave nothing to tie (a new policy is audited afresh).
                continue;
            }
            let src = Source {
                atoms: &e.atoms,
                public: &e.public,
                support: &e.support,
            };
            let old = self.component_from(&src, m, code, year, &e.withheld);
            let at = c.truth.len();
            c.truth.extend(&old.truth);
            c.lo.extend(&old.lo);
            c.hi.extend(&old.hi);
            c.fixed.extend(&old.fixed);
            c.rows.extend(
                old.rows
                    .iter()
                    .map(|r| r.iter().map(|&(v, w)| (v + at, w)).collect::<Vec<_>>()),
            );
            let twins: Vec<Option<usize>> =
                old.labels.iter().map(|l| keys.get(l).copied()).collect();
            for (label, twin) in old.labels.iter().zip(&twins) {
                c.labels.push(Label {
                    snapshot: Some(e.number),
                    ..*label
                });
                // Withholding acts on this snapshot's queries: the same unit's.
                c.escalate.push(twin.unwrap_or(0));
                c.measure.push(measure);
            }
            for (v, twin) in twins.iter().enumerate() {
                let Some(t) = *twin else { continue };
                // The change, whichever way it went, as a count of its own.
                let (new, was) = (c.truth[t], old.truth[v]);
                let s = c.truth.len();
                c.truth.push(new.abs_diff(was));
                c.lo.push(0.0);
                c.hi.push(CAP);
                c.fixed.push(false);
                let sign = if new >= was { 1.0 } else { -1.0 };
                c.rows.push(vec![(t, sign), (v + at, -sign), (s, -1.0)]);
                c.labels.push(Label {
                    snapshot: Some(e.number),
                    kind: Kind::Change,
                    ..old.labels[v]
                });
                c.escalate.push(t);
                c.measure.push(measure);
            }
        }
        c
    }

    /// The system of every measure of `family` in one year, tied by the relations
    /// between measures: a relation `a ≤ b` is the row `a − b + s = 0` with a slack
    /// `s ≥ 0`, in every unit, group, hexagon and atom (and every earlier snapshot's,
    /// where a measure's data changed; where they did not, its counts are this
    /// snapshot's).
    fn joint_component(
        &self,
        family: &MeasureFamily,
        year: u16,
        withheld: &BTreeSet<AnalystQuery>,
    ) -> Component {
        self.joint_from(family, year, &self.components(family, year, withheld))
    }

    /// Each measure's own system ([`Self::component`]), in the family's order.
    fn components(
        &self,
        family: &MeasureFamily,
        year: u16,
        withheld: &BTreeSet<AnalystQuery>,
    ) -> Vec<Component> {
        family
            .measures
            .iter()
            .map(|&m| self.component(m, &self.measures[m as usize], year, withheld))
            .collect()
    }

    /// [`Self::joint_component`] of each measure's own system (`ones`, by
    /// [`Self::component`] with the same queries withheld, in the family's order).
    fn joint_from(&self, family: &MeasureFamily, year: u16, ones: &[Component]) -> Component {
        debug_assert_eq!(ones.len(), family.measures.len());
        let mut c = Component {
            label: format!(
                "{} {year} with the relations between measures",
                family
                    .measures
                    .last()
                    .map_or("", |&m| self.measures[m as usize].as_str())
            ),
            labels: Vec::new(),
            escalate: Vec::new(),
            measure: Vec::new(),
            counts_end: usize::MAX,
            cells: Vec::new(),
            cell_of: Vec::new(),
            above: HashMap::default(),
            truth: Vec::new(),
            lo: Vec::new(),
            hi: Vec::new(),
            fixed: Vec::new(),
            rows: Vec::new(),
            parts: Vec::new(),
            part_of: Vec::new(),
        };
        let mut at: HashMap<u16, HashMap<Label, usize>> = HashMap::default();
        for (&m, one) in family.measures.iter().zip(ones) {
            let off = c.truth.len();
            let vars = at.entry(m).or_default();
            for (v, label) in one.labels.iter().enumerate() {
                if label.kind != Kind::Change {
                    vars.insert(*label, off + v);
                }
            }
            c.labels.extend(&one.labels);
            c.escalate.extend(one.escalate.iter().map(|&e| e + off));
            c.measure.extend(&one.measure);
            c.truth.extend(&one.truth);
            c.lo.extend(&one.lo);
            c.hi.extend(&one.hi);
            c.fixed.extend(&one.fixed);
            c.rows.extend(
                one.rows
                    .iter()
                    .map(|r| r.iter().map(|&(v, w)| (v + off, w)).collect()),
            );
        }
        c.counts_end = c.truth.len();
        // Cells: this snapshot's variables of every measure with the same label.
        let mut cell_index: HashMap<Label, u32> = HashMap::default();
        c.cell_of = vec![u32::MAX; c.counts_end];
        for &m in &family.measures {
            for (label, &v) in &at[&m] {
                if label.snapshot.is_some() {
                    continue;
                }
                let next = c.cells.len() as u32;
                let id = *cell_index.entry(*label).or_insert(next);
                if id == next {
                    c.cells.push(Vec::new());
                }
                c.cells[id as usize].push((m, v));
                c.cell_of[v] = id;
            }
        }
        c.above = family.above();
        let find = |m: u16, label: &Label| -> Option<usize> {
            let vars = at.get(&m)?;
            vars.get(label).copied().or_else(|| {
                // An earlier snapshot where this measure's data did not change.
                label.snapshot?;
                vars.get(&Label {
                    snapshot: None,
                    ..*label
                })
                .copied()
            })
        };
        let mut relations: Vec<(usize, Vec<usize>)> = Vec::new();
        for &(small, large) in &family.pairs {
            for (label, &v) in &at[&small] {
                if let Some(w) = find(large, label) {
                    relations.push((v, vec![w]));
                }
            }
        }
        for (total, parts) in &family.sums {
            for (label, &v) in &at[total] {
                let ws: Option<Vec<usize>> = parts.iter().map(|&p| find(p, label)).collect();
                if let Some(ws) = ws {
                    relations.push((v, ws));
                }
            }
        }
        relations.sort();
        for (v, ws) in relations {
            // v ≤ Σ ws: v − Σ ws + slack = 0.
            let slack = c.truth.len();
            let sum: u64 = ws.iter().map(|&w| c.truth[w]).sum();
            c.truth.push(sum - c.truth[v]);
            c.lo.push(0.0);
            c.hi.push(CAP);
            c.fixed.push(false);
            c.labels.push(Label {
                kind: Kind::Slack,
                ..c.labels[v]
            });
            c.escalate.push(c.escalate[v]);
            c.measure.push(c.measure[v]);
            let mut row = vec![(v, 1.0), (slack, 1.0)];
            row.extend(ws.into_iter().map(|w| (w, -1.0)));
            c.rows.push(row);
        }
        c
    }

    /// Audits every family of related measures jointly, with the relations between
    /// measures (docs/privacy.md §5): every measure of a source in one year is one
    /// system, so this is slow (minutes for the demo city's ten years) and not yet
    /// part of [`Self::protect`].
    pub fn audit_joint(
        &self,
        families: &[MeasureFamily],
        withheld: &[AnalystQuery],
    ) -> Result<AnalystAudit, AnalystAuditError> {
        let withheld: BTreeSet<AnalystQuery> = withheld.iter().cloned().collect();
        let work: Vec<(&MeasureFamily, u16)> = self
            .years
            .iter()
            .flat_map(|&y| families.iter().map(move |f| (f, y)))
            .collect();
        self.audit_each(work.len(), |i| {
            let (f, y) = work[i];
            (self.joint_component(f, y, &withheld).split(), y)
        })
    }

    /// Audits `n` systems on all cores, the `i`th and its year built by `build(i)`.
    fn audit_each(
        &self,
        n: usize,
        build: impl Fn(usize) -> (Component, u16) + Sync,
    ) -> Result<AnalystAudit, AnalystAuditError> {
        let parts = crate::run_parallel(n, |i| {
            let (c, y) = build(i);
            let (pinned, checked, lps) = self.pinned(&c)?;
            Ok(AnalystAudit {
                small_counts_checked: checked,
                pinned: pinned.iter().map(|&v| self.pin_of(y, &c, v)).collect(),
                lps,
            })
        })
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        let mut out = AnalystAudit::default();
        for p in parts {
            out.small_counts_checked += p.small_counts_checked;
            out.pinned.extend(p.pinned);
            out.lps += p.lps;
        }
        Ok(out)
    }

    /// Variables of counts in 1..k−1 pinned exactly; the number of such counts checked
    /// and of LPs solved.
    ///
    /// A count is pinned if no solution consistent with everything the reader knows
    /// puts it a whole person away from its true value (by convexity: none puts it at
    /// its value ± 1). Per independent part, a solution known beforehand clears the
    /// counts it moves (see [`Self::pinned_with`]); in a joint system, so does the
    /// vertex HiGHS's crossover makes of the true counts ([`HighsPart`]); then the move
    /// searches ([`Moves`]). For each measure on its own, one LP moves every small
    /// count still open as far up as it can; each count still unmoved is then tried at
    /// its value + 1 and − 1 from that solution (microlp), and every solution found
    /// clears the counts it moves; a joint system's LPs are HiGHS's
    /// ([`HighsPart::settle`]).
    /// [`Self::protect_with_memo`] decides a joint system before each measure's own:
    /// what the joint system moves, each measure's own system moves too.
    fn pinned(&self, c: &Component) -> Result<Decided, AnalystAuditError> {
        self.pinned_with(c, None)
    }

    /// The small counts of `c` (counts in 1..k−1), by part.
    fn small_by_part(&self, c: &Component) -> (Vec<usize>, BTreeMap<usize, Vec<usize>>) {
        let mut known = Vec::new();
        let mut by_part: BTreeMap<usize, Vec<usize>> = Default::default();
        for v in (0..c.truth.len().min(c.counts_end)).filter(|&v| (1..self.k).contains(&c.truth[v]))
        {
            if c.part_of[v] == usize::MAX {
                known.push(v); // known exactly
            } else {
                by_part.entry(c.part_of[v]).or_default().push(v);
            }
        }
        (known, by_part)
    }

    /// [`Self::pinned`], with `suspects`, if known, the counts of `c` that may be
    /// pinned (a flag per variable: every other count is known to move, because a
    /// system `c` relaxes moves it).
    fn pinned_with(
        &self,
        c: &Component,
        suspects: Option<&[bool]>,
    ) -> Result<Decided, AnalystAuditError> {
        let (mut pinned, by_part) = self.small_by_part(c);
        let checked = (pinned.len() + by_part.values().map(Vec::len).sum::<usize>()) as u64;
        let mut lps = 0;
        for (i, mut open) in by_part {
            let part = &c.parts[i];
            let moves = Moves::new(c, part);
            if c.counts_end != usize::MAX {
                // A joint system: tens of thousands of unknowns, for HiGHS in the end.
                // Its crossover from the true counts makes a vertex that moves nine in
                // ten of the small counts at once, among them most of those no move
                // is found for; the searches then take nearly all of the rest, and the
                // LPs what is left (docs/benchmarks.md, session 27).
                let highs = HighsPart::start(c, part);
                highs.clear_at_start(&mut open);
                if self.moves {
                    moves.clear(&mut open, EFFORT, false);
                    moves.clear(&mut open, HARD_EFFORT, true);
                }
                if !open.is_empty() {
                    let (stuck, solved) = highs.settle(open)?;
                    pinned.extend(stuck);
                    lps += solved;
                }
                continue;
            }
            // Counts a system with more rows moves (the joint one, restricted to this
            // measure) move here too.
            if let Some(s) = suspects.filter(|s| s.len() == c.truth.len()) {
                open.retain(|&v| s[v]);
            }
            if self.moves {
                moves.clear(&mut open, EFFORT, false);
                // Only worth it if it clears every count: then the LPs are skipped.
                moves.clear(&mut open, HARD_EFFORT, true);
            }
            if open.is_empty() {
                continue;
            }
            let mut problem = Problem::new(OptimizationDirection::Maximize);
            let local: HashMap<usize, microlp::Variable> = part
                .vars
                .iter()
                .map(|&v| {
                    let w = if open.contains(&v) { 1.0 } else { 0.0 };
                    (v, problem.add_var(w, (c.lo[v], c.hi[v])))
                })
                .collect();
            for (row, rhs) in &part.rows {
                let expr: Vec<_> = row.iter().map(|&(v, w)| (local[&v], w)).collect();
                problem.add_constraint(&expr[..], ComparisonOp::Eq, *rhs);
            }
            let clear = |s: &microlp::Solution, open: &mut Vec<usize>| {
                open.retain(|&v| !moved(s.var_value(local[&v]), c.truth[v]))
            };
            let first = outcome(problem.solve(), &c.label)?;
            lps += 1;
            clear(&first, &mut open);
            while let Some(&v) = open.first() {
                let mut moved = false;
                for to in [c.truth[v] as f64 + 1.0, c.truth[v] as f64 - 1.0] {
                    if to < c.lo[v] || to > c.hi[v] {
                        continue;
                    }
                    lps += 1;
                    match first.clone().fix_var(local[&v], to) {
                        Err(microlp::Error::Infeasible) => {}
                        fixed => {
                            clear(&outcome(fixed, &c.label)?, &mut open);
                            moved = true;
                            break;
                        }
                    }
                }
                if !moved {
                    pinned.push(v);
                    open.remove(0);
                }
            }
        }
        Ok((pinned, checked, lps))
    }

    fn pin_of(&self, year: u16, c: &Component, v: usize) -> Pinned {
        let (layer, unit, g) = self.variable(c, v);
        Pinned {
            layer,
            unit,
            measure: self.measures[c.measure[v] as usize].clone(),
            year,
            group: self.groups[g].code(),
            value: c.truth[v],
        }
    }

    /// A variable's layer, unit code and group index.
    fn variable(&self, c: &Component, v: usize) -> (LayerKind, String, usize) {
        let l = &c.labels[v];
        (l.layer, self.label_unit(l), l.group)
    }

    /// Every (measure, year) the tier answers.
    fn work(&self) -> Vec<(u16, &str, u16)> {
        if self.offered.is_empty() {
            return Vec::new();
        }
        self.years
            .iter()
            .flat_map(|&y| {
                self.measures
                    .iter()
                    .enumerate()
                    .map(move |(m, code)| (m as u16, code.as_str(), y))
            })
            .collect()
    }

    /// Audits the tier with `withheld` queries withheld.
    pub fn audit(&self, withheld: &[AnalystQuery]) -> Result<AnalystAudit, AnalystAuditError> {
        let withheld: BTreeSet<AnalystQuery> = withheld.iter().cloned().collect();
        let work = self.work();
        self.audit_each(work.len(), |i| {
            let (m, code, y) = work[i];
            (self.component(m, code, y, &withheld).split(), y)
        })
    }

    /// Decides which queries to withhold: for each pinned count, the query that shows
    /// it, then the other groups of its layer, then its group on the other layers, then
    /// everything of its measure and year, one more at a time, until nothing is pinned.
    pub fn protect(
        &self,
        key_fingerprint: String,
    ) -> Result<(AnalystProtection, AnalystAudit), AnalystAuditError> {
        let work = self.work();
        let parts = crate::run_parallel(work.len(), |i| {
            let (m, code, y) = work[i];
            self.protect_one(m, code, y)
        })
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        Ok(self.assemble(key_fingerprint, parts))
    }

    /// The protection of one measure and year on its own: the queries withheld, the
    /// small counts checked and the LPs solved.
    fn protect_one(
        &self,
        m: u16,
        code: &str,
        y: u16,
    ) -> Result<(BTreeSet<AnalystQuery>, u64, u64), AnalystAuditError> {
        self.protect_one_from(m, code, y, None, None)
    }

    /// [`Self::protect_one`], from its system with nothing withheld if built already
    /// (`first`), and `suspects`, if known, the counts of that system that may be
    /// pinned (see [`Self::pinned_with`]).
    fn protect_one_from(
        &self,
        m: u16,
        code: &str,
        y: u16,
        mut first: Option<Component>,
        mut suspects: Option<&[bool]>,
    ) -> Result<(BTreeSet<AnalystQuery>, u64, u64), AnalystAuditError> {
        let mut withheld = BTreeSet::new();
        let mut lps = 0;
        let mut checked = None;
        loop {
            let c = first
                .take()
                .unwrap_or_else(|| self.component(m, code, y, &withheld))
                .split();
            let (pinned, n, l) = self.pinned_with(&c, suspects.take())?;
            checked.get_or_insert(n);
            lps += l;
            if pinned.is_empty() {
                return Ok((withheld, checked.unwrap_or(0), lps));
            }
            for v in pinned {
                let next = self
                    .escalation(&c, v)
                    .into_iter()
                    .map(|(layer, g)| self.query(layer, code, y, self.groups[g]))
                    .find(|q| !withheld.contains(q))
                    .ok_or_else(|| AnalystAuditError::Stuck(c.label.clone()))?;
                withheld.insert(next);
            }
        }
    }

    /// The protection from each job's withheld queries, small counts checked and LPs.
    fn assemble(
        &self,
        key_fingerprint: String,
        parts: impl IntoIterator<Item = (BTreeSet<AnalystQuery>, u64, u64)>,
    ) -> (AnalystProtection, AnalystAudit) {
        let mut withheld = BTreeSet::new();
        let mut audit = AnalystAudit::default();
        for (w, checked, lps) in parts {
            withheld.extend(w);
            audit.small_counts_checked += checked;
            audit.lps += lps;
        }
        let protection = AnalystProtection {
            key_fingerprint,
            audited_layers: self.offered.clone(),
            withheld: withheld.into_iter().collect(),
            small_counts_checked: audit.small_counts_checked,
            ..Default::default()
        };
        (protection, audit)
    }

    /// Withholds more queries until no count is pinned with the relations between
    /// measures either (see [`Self::audit_joint`]), starting from `protection` (what
    /// [`Self::protect`] decided), in the same order: for a pinned count, the query
    /// that shows it first, then its layer's other groups, then the other layers.
    pub fn protect_joint(
        &self,
        families: &[MeasureFamily],
        mut protection: AnalystProtection,
    ) -> Result<(AnalystProtection, AnalystAudit), AnalystAuditError> {
        let before: BTreeSet<AnalystQuery> = protection.withheld.iter().cloned().collect();
        let work: Vec<(&MeasureFamily, u16)> = self
            .years
            .iter()
            .flat_map(|&y| families.iter().map(move |f| (f, y)))
            .collect();
        let parts = crate::run_parallel(work.len(), |i| {
            let (f, y) = work[i];
            self.joint_rounds(f, y, before.clone(), None)
        })
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        let mut all = before;
        let mut audit = AnalystAudit::default();
        for (w, checked, lps) in parts {
            all.extend(w);
            audit.small_counts_checked += checked;
            audit.lps += lps;
        }
        protection.withheld = all.into_iter().collect();
        Ok((protection, audit))
    }

    /// The joint protection of one source and year from `withheld` on (`first`: its
    /// system with those withheld, split, and what [`Self::pinned_with`] found in it,
    /// if decided already): the queries withheld then, the small counts checked and
    /// the LPs solved.
    fn joint_rounds(
        &self,
        f: &MeasureFamily,
        y: u16,
        mut withheld: BTreeSet<AnalystQuery>,
        first: Option<(&Component, Decided)>,
    ) -> Result<(BTreeSet<AnalystQuery>, u64, u64), AnalystAuditError> {
        let mut lps = 0;
        let mut checked = None;
        let mut next = first;
        loop {
            let built;
            let (c, (pinned, n, l)) = match next.take() {
                Some(first) => first,
                None => {
                    built = self.joint_component(f, y, &withheld).split();
                    (&built, self.pinned_with(&built, None)?)
                }
            };
            checked.get_or_insert(n);
            lps += l;
            if pinned.is_empty() {
                return Ok((withheld, checked.unwrap_or(0), lps));
            }
            // Each pinned count's next query, against what was withheld before this
            // round (two counts given away by one answer withhold it once).
            let mut next_round = BTreeSet::new();
            for v in pinned {
                // Its own measure's queries first, then those of the measures related
                // to it (the unit total first), whose answers may be what gives it away.
                let own = c.measure[c.escalate[v]];
                let mut measures = vec![own];
                measures.extend(f.measures.iter().rev().filter(|&&m| m != own));
                let steps = self.escalation(c, v);
                let next = measures
                    .iter()
                    .flat_map(|&m| {
                        let code = &self.measures[m as usize];
                        steps
                            .iter()
                            .map(move |&(layer, g)| self.query(layer, code, y, self.groups[g]))
                    })
                    .find(|q| !withheld.contains(q))
                    .ok_or_else(|| AnalystAuditError::Stuck(c.label.clone()))?;
                next_round.insert(next);
            }
            withheld.extend(next_round);
        }
    }

    /// [`Self::protect`] and then [`Self::protect_joint`], one source and year at a
    /// time, taking the whole decision (both passes) for a source and year from `memo`
    /// where it has seen its system; returns the protection, what was audited and
    /// solved here, and the memo of this protection's systems. The same queries are
    /// withheld as by the two passes (each measure and year's pass and each source and
    /// year's joint rounds read only its own queries); measures of no family are
    /// protected on their own.
    pub fn protect_with_memo(
        &self,
        key_fingerprint: String,
        families: &[MeasureFamily],
        memo: &JointMemo,
    ) -> Result<(AnalystProtection, AnalystAudit, JointMemo), AnalystAuditError> {
        enum Job<'j> {
            Family(&'j MeasureFamily, u16),
            Alone(u16, &'j str, u16),
        }
        let in_family: BTreeSet<u16> = families
            .iter()
            .flat_map(|f| f.measures.iter().copied())
            .collect();
        // Largest systems first (the most measures, the latest years: the most people),
        // so that the last to finish are small and no core waits long for another.
        let mut jobs: Vec<Job> = self
            .years
            .iter()
            .flat_map(|&y| families.iter().map(move |f| Job::Family(f, y)))
            .collect();
        jobs.sort_by_key(|j| match j {
            Job::Family(f, y) => std::cmp::Reverse((f.measures.len(), *y)),
            Job::Alone(..) => std::cmp::Reverse((0, 0)),
        });
        if self.offered.is_empty() {
            jobs.clear();
        }
        jobs.extend(
            self.work()
                .into_iter()
                .filter(|(m, _, _)| !in_family.contains(m))
                .map(|(m, code, y)| Job::Alone(m, code, y)),
        );
        let none = BTreeSet::new();
        let parts = crate::run_parallel(jobs.len(), |i| match jobs[i] {
            Job::Alone(m, code, y) => self.protect_one(m, code, y).map(|p| (p, None)),
            Job::Family(f, y) => {
                // Each measure's own system with nothing withheld, built once: the
                // joint system is made of them, and each measure's pass starts there.
                let ones = self.components(f, y, &none);
                let unwithheld = self.joint_from(f, y, &ones);
                let key = self.joint_fingerprint(y, &unwithheld);
                if let Some(d) = memo.systems.get(&key) {
                    let withheld = d.withheld.iter().cloned().collect();
                    return Ok((
                        (withheld, d.small_counts_checked, 0),
                        Some((key, d.clone())),
                    ));
                }
                // The joint system first: a solution of it, restricted to a measure,
                // is one of that measure's own system too, so every count it shows to
                // move moves there as well. Where it pins nothing (nearly always),
                // neither does any measure's own system, and their passes withhold
                // nothing; otherwise they decide only what it pinned.
                let joint = unwithheld.split();
                let (pinned, checked, mut lps) = self.pinned_with(&joint, None)?;
                let withheld = if pinned.is_empty() {
                    BTreeSet::new()
                } else {
                    let mut suspects = vec![false; joint.truth.len()];
                    for &v in &pinned {
                        suspects[v] = true;
                    }
                    let mut before = BTreeSet::new();
                    let mut off = 0;
                    for (&m, one) in f.measures.iter().zip(ones) {
                        let code = &self.measures[m as usize];
                        let these = &suspects[off..off + one.truth.len()];
                        off += one.truth.len();
                        let (w, _, l) =
                            self.protect_one_from(m, code, y, Some(one), Some(these))?;
                        before.extend(w);
                        lps += l;
                    }
                    // The joint system as decided, unless a measure's own pass withheld
                    // queries (then it is built again without their answers).
                    let first = before.is_empty().then_some((&joint, (pinned, checked, 0)));
                    let (withheld, _, l) = self.joint_rounds(f, y, before, first)?;
                    lps += l;
                    withheld
                };
                let decision = JointDecision {
                    withheld: withheld.iter().cloned().collect(),
                    small_counts_checked: checked,
                };
                Ok(((withheld, checked, lps), Some((key, decision))))
            }
        })
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        let mut seen = JointMemo::default();
        let mut decided = Vec::new();
        for (part, memo) in parts {
            if let Some((key, d)) = memo {
                seen.systems.insert(key, d);
            }
            decided.push(part);
        }
        let (protection, audit) = self.assemble(key_fingerprint, decided);
        Ok((protection, audit, seen))
    }

    /// The fingerprint of a source and year's joint system for [`JointMemo`]: the
    /// system with nothing withheld (`c`, as [`Self::joint_component`] made it),
    /// which of its variables a public value fixes, and the parameters the decisions
    /// depend on. Whatever a protection withholds, each variable's bounds follow from
    /// these: a withheld query leaves its variables between 0 and [`CAP`] unless a
    /// public value fixes them, and a variable whose bounds depend on a query is one
    /// this system bounds more tightly than that (a shown answer by its preimage, a
    /// hidden one below the threshold); each measure's own system is a block of the
    /// joint one.
    /// (Until JOINT_MEMO_VERSION 2 this built and hashed the system with every query
    /// withheld as well: the same information, at the cost of a second build.)
    fn joint_fingerprint(&self, year: u16, c: &Component) -> String {
        use sha2::Digest;
        fn text(h: &mut sha2::Sha256, t: &str) {
            h.update((t.len() as u64).to_le_bytes());
            h.update(t.as_bytes());
        }
        let mut h = sha2::Sha256::new();
        text(&mut h, JOINT_MEMO_VERSION);
        text(
            &mut h,
            &format!(
                "k={} moves={} year={year} measures={:?} groups={:?} offered={:?} \
                 threshold={} breakdowns={:?}",
                self.k,
                self.moves,
                self.measures,
                self.groups.iter().map(|g| g.code()).collect::<Vec<_>>(),
                self.offered,
                self.tier.threshold,
                self.tier.breakdown_layers,
            ),
        );
        text(&mut h, &c.label);
        h.update((c.counts_end as u64).to_le_bytes());
        for v in 0..c.truth.len() {
            let l = &c.labels[v];
            h.update(match l.layer {
                LayerKind::City => [0, 0],
                LayerKind::Parents => [1, 0],
                LayerKind::Districts => [2, 0],
                LayerKind::H3(r) => [3, r],
                LayerKind::H3Adaptive => [4, 0],
            });
            // The place by its codes (the header's indices name them).
            let (tag, a, b) = match l.place {
                Place::Unit(Unit::City) => (0u8, 0u64, 0u64),
                Place::Unit(Unit::Parent(p)) => (1, u64::from(p), 0),
                Place::Unit(Unit::District(d)) => (2, u64::from(d), 0),
                Place::Unit(Unit::Hex(x)) => (3, x, 0),
                Place::Atom(d, x) => (4, u64::from(d), x.unwrap_or(u64::MAX)),
            };
            h.update([tag]);
            h.update(a.to_le_bytes());
            h.update(b.to_le_bytes());
            h.update(l.snapshot.map_or(u64::MAX, u64::from).to_le_bytes());
            h.update([l.kind as u8]);
            h.update((l.group as u64).to_le_bytes());
            h.update(c.measure[v].to_le_bytes());
            h.update((c.escalate[v] as u64).to_le_bytes());
            h.update(c.truth[v].to_le_bytes());
            h.update(c.lo[v].to_bits().to_le_bytes());
            h.update(c.hi[v].to_bits().to_le_bytes());
            h.update([u8::from(c.fixed[v])]);
        }
        for row in &c.rows {
            h.update((row.len() as u64).to_le_bytes());
            for &(v, w) in row {
                h.update((v as u64).to_le_bytes());
                h.update(w.to_bits().to_le_bytes());
            }
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Queries to withhold for a pinned variable, first to last.
    fn escalation(&self, c: &Component, v: usize) -> Vec<(LayerKind, usize)> {
        let Label {
            layer, group: g, ..
        } = c.labels[c.escalate[v]];
        let ng = self.groups.len();
        let mut layers = vec![layer];
        layers.extend(self.offered.iter().copied().filter(|&l| l != layer));
        let mut out = vec![(layer, g)];
        out.extend((0..ng).map(|h| (layer, h)));
        out.extend(layers.iter().map(|&l| (l, g)));
        out.extend(layers.iter().flat_map(|&l| (0..ng).map(move |h| (l, h))));
        // Hexagons are answered for everyone only.
        out.retain(|&(l, h)| {
            self.offered.contains(&l) && (h == 0 || !matches!(l, LayerKind::H3(_)))
        });
        out
    }
}

/// Whole-person moves within one part: integer changes of its unknowns that keep every
/// row and bound, found by a small depth-first search (each row a change upsets is
/// balanced by changing one more unknown of it: one already changed first, then the
/// row's sum, then the others). A move is a solution the reader cannot rule out, so
/// every count it shifts is not pinned; a search that gives up proves nothing, and the
/// LPs decide what is left. In a joint system a relation between measures a change
/// upsets is settled in its slack where the slack allows (no search: the slack is in no
/// other row), and a person may carry more than one measure (see
/// [`Moves::whole_person`]).
struct Moves<'c> {
    c: &'c Component,
    part: &'c Part,
    /// Per variable (of the component, empty outside the part), the part's rows it is
    /// in and its coefficient in each.
    rows_of: Vec<Vec<(usize, f64)>>,
    /// Per row of the part: of a relation between measures, its slack and the slack's
    /// coefficient.
    slack_of: Vec<Option<(usize, f64)>>,
    /// Per variable, whether it is one of the part's.
    inside: Vec<bool>,
    /// The last search's state, cleared, for the next one (its arrays span the part).
    spare: std::cell::RefCell<Option<MoveState>>,
}

/// Candidates tried per search, how many changes a move may chain, and how many
/// measures a whole-person move of a joint system may add to the person.
#[derive(Clone, Copy, Default)]
struct Effort {
    budget: u32,
    depth: u32,
    mirror_rounds: usize,
    /// Best first (see [`Moves::best_first`]; `budget` then counts the partial moves
    /// expanded) instead of depth first.
    best_first: bool,
}

/// A search for every small count of a part.
const EFFORT: Effort = Effort {
    budget: 300,
    depth: 24,
    mirror_rounds: 4,
    best_first: false,
};
/// The search again, best first, for the counts of a part that one left: only while
/// it finds a move for each (the part's LPs are then skipped). It halves the LPs of
/// each measure on its own (docs/benchmarks.md, session 23). In a joint system it runs
/// after HiGHS's crossover has cleared most counts (see [`HighsPart`]); the LPs are
/// left with 2 of the 20 joint systems of a 10 M-record store and 7 of the demo
/// city's (session 27).
const HARD_EFFORT: Effort = Effort {
    budget: 3000,
    depth: 64,
    mirror_rounds: 16,
    best_first: true,
};
/// Candidates tried at each change of a search.
const MOVE_BRANCHING: usize = 6;

impl<'c> Moves<'c> {
    fn new(c: &'c Component, part: &'c Part) -> Self {
        let n = c.truth.len();
        let mut rows_of: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
        for (r, (row, _)) in part.rows.iter().enumerate() {
            for &(v, w) in row {
                rows_of[v].push((r, w));
            }
        }
        let slack_of = part
            .rows
            .iter()
            .map(|(row, _)| row.iter().copied().find(|&(u, _)| u >= c.counts_end))
            .collect();
        let mut inside = vec![false; n];
        for &v in &part.vars {
            inside[v] = true;
        }
        Moves {
            c,
            part,
            rows_of,
            slack_of,
            inside,
            spare: Default::default(),
        }
    }

    /// Drops from `open` every count a whole-person move shifts, trying each count in
    /// turn (`until_stuck`: only until one cannot be moved).
    ///
    /// Each count is tried once, in order, unless a move found for an earlier one
    /// shifted it too; what is left keeps its order.
    fn clear(&self, open: &mut Vec<usize>, effort: Effort, until_stuck: bool) {
        let mut moved = vec![false; self.c.truth.len()];
        let mut left = Vec::new();
        for (i, &v) in open.iter().enumerate() {
            if moved[v] {
                continue;
            }
            match self.whole_person(v, effort) {
                Some(found) => {
                    for (w, _) in found {
                        moved[w] = true;
                    }
                    debug_assert!(moved[v], "a move for a count shifts that count");
                }
                None if until_stuck => {
                    left.extend_from_slice(&open[i..]);
                    break;
                }
                None => left.push(v),
            }
        }
        left.retain(|&v| !moved[v]);
        *open = left;
    }

    /// A move shifting `v` by one person either way: of its measure alone; in a joint
    /// system, then of persons counted in every measure above it too, and then also in
    /// each measure found blocking the move (a sub-row equal to its category in a cell
    /// the move takes a person from, say), one more at a time.
    fn whole_person(&self, v: usize, effort: Effort) -> Option<Vec<(usize, f64)>> {
        for delta in [1.0, -1.0] {
            if let Ok(found) = self.find(v, delta, None, effort) {
                return Some(found);
            }
        }
        if self.c.counts_end == usize::MAX {
            return None;
        }
        let m = self.c.measure[v];
        let mut set: Vec<u16> = self.c.above.get(&m).cloned().unwrap_or_default();
        for _ in 0..effort.mirror_rounds {
            let mut grown = false;
            for delta in [1.0, -1.0] {
                match self.find(v, delta, Some(&set), effort) {
                    Ok(found) => return Some(found),
                    Err(Some(b)) if b != m && !set.contains(&b) => {
                        set.push(b);
                        for &a in self.c.above.get(&b).into_iter().flatten() {
                            if a != m && !set.contains(&a) {
                                set.push(a);
                            }
                        }
                        grown = true;
                        break;
                    }
                    Err(_) => {}
                }
            }
            if !grown {
                return None;
            }
        }
        None
    }

    /// A move shifting `v` by `delta`, as the variables it changes (none unchanged).
    /// With `mirror` (measures of a joint system), the persons moved are counted in
    /// `v`'s measure and in each of `mirror` too: every change of a count of `v`'s
    /// measure in this snapshot is made to the same cell's count of each of them.
    fn find(
        &self,
        v: usize,
        delta: f64,
        mirror: Option<&[u16]>,
        effort: Effort,
    ) -> Result<Vec<(usize, f64)>, Option<u16>> {
        let mut state = self.spare.take().unwrap_or_else(|| MoveState {
            delta: vec![0.0; self.c.truth.len()],
            var_seen: vec![false; self.c.truth.len()],
            residual: vec![0.0; self.part.rows.len()],
            row_seen: vec![false; self.part.rows.len()],
            ..Default::default()
        });
        state.lead = self.c.measure[v];
        state.effort = effort;
        state.mirroring = mirror.is_some();
        state.mirror = mirror.unwrap_or_default().to_vec();
        state.blocker = None;
        let found = self.search(&mut state, v, delta);
        for &u in &state.changed {
            state.delta[u] = 0.0;
            state.var_seen[u] = false;
        }
        for &r in &state.touched {
            state.residual[r] = 0.0;
            state.row_seen[r] = false;
        }
        state.changed.clear();
        state.touched.clear();
        state.off = 0;
        self.spare.replace(Some(state));
        found
    }

    fn search(
        &self,
        state: &mut MoveState,
        v: usize,
        delta: f64,
    ) -> Result<Vec<(usize, f64)>, Option<u16>> {
        let first = self.together(v, state).ok_or(None)?;
        if !first.iter().all(|&u| self.fits(u, delta, state)) {
            return Err(None);
        }
        for u in first {
            self.change(state, u, delta);
        }
        let ok = if state.effort.best_first {
            self.best_first(state, v)
        } else {
            let mut budget = state.effort.budget;
            self.balance(state, &mut budget, 0)
        };
        // A cycle may have brought `v` back: then it was not moved.
        if ok && state.delta[v] != 0.0 {
            // A move is what proves a count not pinned: checked from its changes
            // alone, not from the residuals kept along the way.
            assert!(self.is_move(state), "{}: an unbalanced move", self.c.label);
            Ok(state
                .changed
                .iter()
                .map(|&u| (u, state.delta[u]))
                .filter(|&(_, x)| x != 0.0)
                .collect())
        } else {
            Err(state.blocker)
        }
    }

    /// Whether the changes in `state` keep every row of the part and every bound
    /// (the rows checked are those any change touched: no other has a changed term).
    fn is_move(&self, state: &MoveState) -> bool {
        state.changed.iter().all(|&u| self.fits(u, 0.0, state))
            && state.touched.iter().all(|&r| {
                let sum: f64 = self.part.rows[r]
                    .0
                    .iter()
                    .map(|&(u, w)| w * state.delta[u])
                    .sum();
                sum.abs() < 1e-6
            })
    }

    /// The variables changed with `u`: `u` and, when mirroring, the same cell's counts
    /// of the mirrored measures (none if one is missing or known exactly). A count of
    /// another measure is never changed on its own while mirroring.
    fn together(&self, u: usize, state: &MoveState) -> Option<Vec<usize>> {
        if !state.mirroring || u >= self.c.counts_end {
            return Some(vec![u]);
        }
        if self.c.measure[u] != state.lead {
            return None;
        }
        let Some(&cell) = self.c.cell_of.get(u).filter(|&&x| x != u32::MAX) else {
            return Some(vec![u]);
        };
        let mut out = vec![u];
        for &m in &state.mirror {
            let &(_, w) = self.c.cells[cell as usize].iter().find(|&&(n, _)| n == m)?;
            if !self.inside[w] {
                return None;
            }
            out.push(w);
        }
        Some(out)
    }

    fn fits(&self, u: usize, x: f64, state: &MoveState) -> bool {
        let t = self.c.truth[u] as f64 + state.delta[u] + x;
        t >= self.c.lo[u] - 1e-9 && t <= self.c.hi[u] + 1e-9
    }

    fn change(&self, state: &mut MoveState, u: usize, x: f64) {
        if !state.var_seen[u] {
            state.var_seen[u] = true;
            state.changed.push(u);
        }
        state.delta[u] += x;
        for &(r, w) in &self.rows_of[u] {
            if !state.row_seen[r] {
                state.row_seen[r] = true;
                state.touched.push(r);
            }
            let before = state.residual[r].abs() > 0.5;
            state.residual[r] += w * x;
            state.off += i64::from(state.residual[r].abs() > 0.5) - i64::from(before);
        }
        if u >= self.c.counts_end {
            return;
        }
        // A relation between measures the change upsets takes it up in its slack
        // where the slack allows (a slack is in no other row: nothing to search).
        for &(r, _) in &self.rows_of[u] {
            if let Some((s, ws)) = self.slack_of[r] {
                let e = state.residual[r];
                if e.abs() > 0.5 && self.fits(s, -e / ws, state) {
                    self.change(state, s, -e / ws);
                }
            }
        }
    }

    fn balance(&self, state: &mut MoveState, budget: &mut u32, depth: u32) -> bool {
        let Some((r, e)) = state
            .touched
            .iter()
            .map(|&r| (r, state.residual[r]))
            .find(|(_, e)| e.abs() > 0.5)
        else {
            return true;
        };
        if depth >= state.effort.depth {
            return false;
        }
        // Every other unknown of the row that can take the change, best first: the
        // one that also settles most other rows already off (closing a cycle), and
        // upsets fewest balanced ones; then the row's sum before its terms.
        let origin = state.changed[0];
        let mut candidates: Vec<(i32, usize, f64)> = self.part.rows[r]
            .0
            .iter()
            .filter(|&&(u, _)| u != origin)
            .filter_map(|&(u, w)| {
                let x = -e / w;
                let group = self.together(u, state)?;
                if !group.iter().all(|&g| self.fits(g, x, state)) {
                    return None;
                }
                let mut score = 0;
                for &(q, wq) in group.iter().flat_map(|&g| &self.rows_of[g]) {
                    if q == r {
                        continue;
                    }
                    let before = state.residual[q];
                    let after = before + wq * x;
                    score += match (after.abs() < before.abs(), after.abs() > before.abs()) {
                        (true, _) => 2,
                        (_, true) => -1,
                        _ => 0,
                    };
                }
                Some((score * 2 + i32::from(w < 0.0), u, w))
            })
            .collect();
        if candidates.is_empty() {
            self.note_blocker(state, r, e);
        }
        candidates.sort_by_key(|&(score, u, _)| (std::cmp::Reverse(score), u));
        let candidates: Vec<(usize, f64)> = candidates
            .into_iter()
            .take(MOVE_BRANCHING)
            .map(|(_, u, w)| (u, w))
            .collect();
        for (u, w) in candidates {
            if *budget == 0 {
                return false;
            }
            *budget -= 1;
            let x = -e / w;
            let Some(group) = self.together(u, state) else {
                continue;
            };
            if !group.iter().all(|&g| self.fits(g, x, state)) {
                continue;
            }
            for &g in &group {
                self.change(state, g, x);
            }
            if self.balance(state, budget, depth + 1) {
                return true;
            }
            for &g in &group {
                self.change(state, g, -x);
            }
        }
        false
    }
}

impl Moves<'_> {
    /// Completes the move begun in `state` (shifting `v`) best first: a partial move is
    /// the changes made so far, ranked by how many there are plus how many rows are
    /// still off balance (fewest first, then fewest rows off, then oldest); expanding
    /// one tries every unknown of one of its rows off balance (the one with the fewest)
    /// that can take the change. A depth-first search with the same candidates spends
    /// its budget deep in its first branch (up a chain of parent areas, say) and misses
    /// a cycle of four changes beside it; this finds the shortest moves first. On
    /// success the move is left applied in `state`; otherwise the changes are undone
    /// (a relation's slack may keep a shift that balances its row).
    fn best_first(&self, state: &mut MoveState, v: usize) -> bool {
        use std::cmp::Reverse;
        let origin = state.changed[0];
        let base: Vec<usize> = state.changed.clone();
        // The partial moves: (the one it extends, the unknown changed, the change).
        let mut tree: Vec<(u32, usize, f64)> = Vec::new();
        let mut heap = std::collections::BinaryHeap::new();
        heap.push(Reverse((state.off, state.off, u32::MAX)));
        let mut path: Vec<(usize, f64)> = Vec::new();
        let mut expanded = 0;
        while let Some(Reverse((_, _, id))) = heap.pop() {
            if expanded >= state.effort.budget {
                break;
            }
            expanded += 1;
            path.clear();
            let mut at = id;
            while at != u32::MAX {
                let (up, u, x) = tree[at as usize];
                path.push((u, x));
                at = up;
            }
            path.reverse();
            // Undoing a change need not restore a relation's slack exactly (it may
            // have taken up a residual left before): the state stays consistent, but a
            // change that fitted when it was found may no longer.
            let Some(done) = self.apply(state, &path) else {
                continue;
            };
            debug_assert_eq!(done, path.len());
            let depth = path.len() as i64;
            // The row off balance with the fewest unknowns, of those the changes touch.
            let row = path
                .iter()
                .map(|&(u, _)| u)
                .chain(base.iter().copied())
                .flat_map(|u| self.rows_of[u].iter().map(|&(r, _)| r))
                .filter(|&r| state.residual[r].abs() > 0.5)
                .min_by_key(|&r| (self.part.rows[r].0.len(), r));
            let mut found = false;
            if let Some(r) = row.filter(|_| depth < i64::from(state.effort.depth)) {
                let e = state.residual[r];
                let mut any = false;
                for &(u, w) in &self.part.rows[r].0 {
                    if u == origin {
                        continue;
                    }
                    let x = -e / w;
                    let Some(group) = self.together(u, state) else {
                        continue;
                    };
                    if !group.iter().all(|&g| self.fits(g, x, state)) {
                        continue;
                    }
                    any = true;
                    for &g in &group {
                        self.change(state, g, x);
                    }
                    if state.off == 0 && state.delta[v] != 0.0 {
                        found = true;
                        break;
                    }
                    tree.push((id, u, x));
                    let child = (tree.len() - 1) as u32;
                    heap.push(Reverse((depth + 1 + state.off, state.off, child)));
                    for &g in &group {
                        self.change(state, g, -x);
                    }
                }
                if !any {
                    self.note_blocker(state, r, e);
                }
            }
            if found {
                return true;
            }
            self.undo(state, &path);
        }
        false
    }

    /// While mirroring, with no unknown of row `r` (off by `e`) able to take the
    /// change: the first measure found blocking the move, if none was yet (a count of
    /// a measure not mirrored that could take it).
    fn note_blocker(&self, state: &mut MoveState, r: usize, e: f64) {
        if !state.mirroring || state.blocker.is_some() {
            return;
        }
        state.blocker = self.part.rows[r]
            .0
            .iter()
            .find(|&&(u, w)| {
                u < self.c.counts_end
                    && self.c.measure[u] != state.lead
                    && !state.mirror.contains(&self.c.measure[u])
                    && self.fits(u, -e / w, state)
            })
            .map(|&(u, _)| self.c.measure[u]);
    }

    /// Makes the changes of `path`, each with the unknowns changed together with it,
    /// while they fit: returns how many were made, or `None` (none left made) if one
    /// does not fit.
    fn apply(&self, state: &mut MoveState, path: &[(usize, f64)]) -> Option<usize> {
        for (i, &(u, x)) in path.iter().enumerate() {
            let group = self.together(u, state).unwrap_or_default();
            if !group.iter().all(|&g| self.fits(g, x, state)) {
                self.undo(state, &path[..i]);
                return None;
            }
            for g in group {
                self.change(state, g, x);
            }
        }
        Some(path.len())
    }

    /// Undoes the changes of `path`, last first.
    fn undo(&self, state: &mut MoveState, path: &[(usize, f64)]) {
        for &(u, x) in path.iter().rev() {
            for g in self.together(u, state).unwrap_or_default() {
                self.change(state, g, -x);
            }
        }
    }
}

/// A move under construction: each variable's change and each row's residual (dense,
/// over the component and the part), with the variables changed and the rows touched
/// in the order they were first (to clear them, and to balance the rows in order).
#[derive(Default)]
struct MoveState {
    delta: Vec<f64>,
    var_seen: Vec<bool>,
    changed: Vec<usize>,
    residual: Vec<f64>,
    row_seen: Vec<bool>,
    touched: Vec<usize>,
    /// The measure of the count moved, and the measures mirrored (see [`Moves::find`]).
    lead: u16,
    mirroring: bool,
    mirror: Vec<u16>,
    /// While mirroring: the first measure found blocking a move (a relation between
    /// measures only a count of it could keep).
    blocker: Option<u16>,
    /// How hard this search tries.
    effort: Effort,
    /// The rows off balance.
    off: i64,
}

/// What [`AnalystAuditor::pinned_with`] found in a system: the counts pinned, the small
/// counts checked and the LPs solved.
type Decided = (Vec<usize>, u64, u64);

/// One part of a joint system in HiGHS, started at the true counts: the rows and
/// bounds of the part, a relation's slack that is in no other row folded into its
/// row's range, the bounds the rows imply, and without the rows those bounds keep
/// (the same solutions, in a model about half as large: docs/benchmarks.md, session
/// 28).
struct HighsPart<'c> {
    c: &'c Component,
    model: highs::Model,
    /// Each variable's column (by variable of `c`; none for a folded slack or a
    /// variable of another part).
    local: Vec<Option<highs::Col>>,
    /// The basic solution HiGHS's crossover made of the true counts, if it made one
    /// and it satisfies every row and bound (checked here: it clears counts).
    start: Option<Vec<f64>>,
}

impl<'c> HighsPart<'c> {
    /// Builds the part's model and runs HiGHS's crossover from the true counts: the
    /// first LP then starts from that basis instead of searching for a feasible one,
    /// which took most of the time (docs/benchmarks.md, session 20).
    fn start(c: &'c Component, part: &'c Part) -> Self {
        // A relation's slack is in that row alone: the row becomes a range instead
        // (Σ others ∈ rhs − w·[lo, hi] of the slack), and the slack no column. Half of a
        // joint system's unknowns are such slacks.
        let mut rows_in = vec![0u32; c.truth.len()];
        for (row, _) in &part.rows {
            for &(v, _) in row {
                rows_in[v] += 1;
            }
        }
        let folded = |v: usize| v >= c.counts_end && rows_in[v] == 1;
        // Each row's range, with its folded slacks.
        let ranges: Vec<(f64, f64)> = part
            .rows
            .iter()
            .map(|(row, rhs)| {
                let (mut lo, mut hi) = (*rhs, *rhs);
                for &(v, w) in row.iter().filter(|&&(v, _)| folded(v)) {
                    let (a, b) = (rhs - w * c.hi[v], rhs - w * c.lo[v]);
                    // Ranges of several folded slacks add up.
                    lo += a.min(b) - rhs;
                    hi += a.max(b) - rhs;
                }
                (lo, hi)
            })
            .collect();
        // What HiGHS is given of the part, with the same solutions: a row of one
        // column as a bound of it (exactly); then the bounds each row implies for its
        // columns from the others' bounds (twice over: a count withheld everywhere is
        // bounded by the sums it is in), loosened by 1e-9 against rounding and never
        // past the true value, which every row keeps; and only the rows those bounds
        // do not keep. Nearly half of an OPS system's rows are left out, most of them
        // relations between measures whose bounds already order them.
        let mut bounds: Vec<(f64, f64)> = c.lo.iter().copied().zip(c.hi.iter().copied()).collect();
        let unfolded = |row: &'c [(usize, f64)]| row.iter().filter(move |&&(v, _)| !folded(v));
        for ((row, _), &(lo, hi)) in part.rows.iter().zip(&ranges) {
            let mut cols = unfolded(row);
            if let (Some(&(v, w)), None) = (cols.next(), cols.next()) {
                let (a, b) = (lo / w, hi / w);
                let bound = &mut bounds[v];
                bound.0 = bound.0.max(a.min(b));
                bound.1 = bound.1.min(a.max(b));
            }
        }
        for _ in 0..2 {
            for ((row, _), &(lo, hi)) in part.rows.iter().zip(&ranges) {
                let (mut least, mut most) = (0.0, 0.0);
                for &(v, w) in unfolded(row) {
                    let (a, b) = (w * bounds[v].0, w * bounds[v].1);
                    least += a.min(b);
                    most += a.max(b);
                }
                for &(v, w) in unfolded(row) {
                    let (a, b) = (w * bounds[v].0, w * bounds[v].1);
                    // w·x_v ∈ [lo − what the others can add at most, hi − at least].
                    let (l, h) = ((lo - (most - a.max(b))) / w, (hi - (least - a.min(b))) / w);
                    let t = c.truth[v] as f64;
                    let bound = &mut bounds[v];
                    bound.0 = bound.0.max((l.min(h) - 1e-9).min(t));
                    bound.1 = bound.1.min((l.max(h) + 1e-9).max(t));
                }
            }
        }
        let kept: Vec<bool> = part
            .rows
            .iter()
            .zip(&ranges)
            .map(|((row, _), &(lo, hi))| {
                let (mut least, mut most) = (0.0, 0.0);
                let mut n = 0;
                for &(v, w) in unfolded(row) {
                    let (a, b) = (w * bounds[v].0, w * bounds[v].1);
                    least += a.min(b);
                    most += a.max(b);
                    n += 1;
                }
                n > 1 && !(least >= lo - 1e-9 && most <= hi + 1e-9)
            })
            .collect();
        let mut problem = highs::RowProblem::default();
        let mut local = vec![None; c.truth.len()];
        for &v in part.vars.iter().filter(|&&v| !folded(v)) {
            let (lo, hi) = bounds[v];
            local[v] = Some(problem.add_column(0.0, lo..=hi));
        }
        for (((row, _), &(lo, hi)), _) in part
            .rows
            .iter()
            .zip(&ranges)
            .zip(&kept)
            .filter(|&(_, &k)| k)
        {
            problem.add_row(lo..=hi, unfolded(row).map(|&(v, w)| (column(&local, v), w)));
        }
        let mut model = problem.optimise(highs::Sense::Maximise);
        model.make_quiet();
        model.set_threads(std::num::NonZeroU32::MIN);
        let truth: Vec<f64> = part
            .vars
            .iter()
            .filter(|&&v| !folded(v))
            .map(|&v| c.truth[v] as f64)
            .collect();
        // Every row may be one the bounds keep: then the bounds alone are the part
        // (a box, of which each column's lower bound is a vertex), and HiGHS's
        // crossover, which needs a row, is not run.
        let x = if model.num_rows() == 0 {
            Some(
                part.vars
                    .iter()
                    .filter(|&&v| !folded(v))
                    .map(|&v| bounds[v].0)
                    .collect(),
            )
        } else {
            let started = kmapa_lp::start_at(&mut model, &truth);
            // The true counts satisfy every row and bound: a crossover from them that
            // fails is a bug worth seeing in the tests, though the LPs are right either
            // way (the first then starts from scratch with the dual simplex).
            debug_assert!(started.is_ok(), "{}: {started:?}", c.label);
            started.ok().map(|()| {
                model.set_option("simplex_strategy", 4);
                kmapa_lp::point(&model)
            })
        };
        let mut start = None;
        if let Some(x) = x {
            let mut at: Vec<f64> = c.truth.iter().map(|&t| t as f64).collect();
            for &v in &part.vars {
                if let Some(col) = local[v] {
                    at[v] = x[col.index()];
                }
            }
            // A folded slack takes up what is left of its row, within its bounds.
            for (row, rhs) in &part.rows {
                let mut left = rhs - row.iter().map(|&(v, w)| w * at[v]).sum::<f64>();
                for &(v, w) in row.iter().filter(|&&(v, _)| folded(v)) {
                    let to = (at[v] + left / w).clamp(c.lo[v], c.hi[v]);
                    left -= w * (to - at[v]);
                    at[v] = to;
                }
            }
            start = satisfies(c, part, &at).then_some(at);
        }
        HighsPart {
            c,
            model,
            local,
            start,
        }
    }

    /// Drops from `open` the counts the crossover's basic solution puts a whole
    /// person away from their true values. From the true counts, with every cost zero,
    /// the crossover pushes each unknown strictly inside its bounds to a bound or into
    /// the basis: its vertex moves nine in ten of a joint system's small counts.
    fn clear_at_start(&self, open: &mut Vec<usize>) {
        if let Some(x) = &self.start {
            open.retain(|&v| !moved(x[v], self.c.truth[v]));
        }
    }

    /// Decides the counts of `open` with LPs from the started basis, and returns
    /// those pinned and the number of LPs solved. Each round is one LP that pushes
    /// every count still open one way (up, then down, then up, …), each started from
    /// the last; a solution clears the counts it puts a whole person away from their
    /// true values. When two rounds in a row clear nothing, each count left is pushed
    /// up and down on its own: one that moves by less than a person both ways is
    /// pinned.
    fn settle(self, mut open: Vec<usize>) -> Result<(Vec<usize>, u64), AnalystAuditError> {
        let HighsPart {
            c,
            mut model,
            local,
            ..
        } = self;
        let mut costed: Vec<usize> = Vec::new();
        let mut lps = 0;
        let mut solve = |model: highs::Model,
                         costs: &[(usize, f64)],
                         costed: &mut Vec<usize>|
         -> Result<highs::SolvedModel, AnalystAuditError> {
            let mut model = model;
            for &v in costed.iter() {
                model.change_column_cost(column(&local, v), 0.0);
            }
            costed.clear();
            for &(v, w) in costs {
                model.change_column_cost(column(&local, v), w);
                costed.push(v);
            }
            lps += 1;
            let solved = model
                .try_solve()
                .map_err(|e| AnalystAuditError::Solver(c.label.clone(), format!("{e:?}")))?;
            match solved.status() {
                highs::HighsModelStatus::Optimal => Ok(solved),
                highs::HighsModelStatus::Infeasible => {
                    Err(AnalystAuditError::Infeasible(c.label.clone()))
                }
                s => Err(AnalystAuditError::Solver(c.label.clone(), format!("{s:?}"))),
            }
        };
        // Whether a solution puts `v` a whole person away from its true value.
        let away = |x: &[f64], v: usize| moved(x[column(&local, v).index()], c.truth[v]);
        let mut sign = 1.0;
        let mut idle = 0;
        while !open.is_empty() && idle < 2 {
            let costs: Vec<(usize, f64)> = open.iter().map(|&v| (v, sign)).collect();
            let solved = solve(model, &costs, &mut costed)?;
            let before = open.len();
            let x = solved.get_solution();
            open.retain(|&v| !away(x.columns(), v));
            idle = if open.len() == before { idle + 1 } else { 0 };
            sign = -sign;
            model = solved.into();
            // From a solution of the same rows only the costs change: the primal
            // simplex takes a third of the dual's time here.
            model.set_option("simplex_strategy", 4);
        }
        let mut pinned = Vec::new();
        while let Some(v) = open.pop() {
            let mut free = false;
            for sign in [1.0, -1.0] {
                let solved = solve(model, &[(v, sign)], &mut costed)?;
                let x = solved.get_solution();
                free = away(x.columns(), v);
                if free {
                    open.retain(|&u| !away(x.columns(), u));
                }
                model = solved.into();
                if free {
                    break;
                }
            }
            if !free {
                pinned.push(v);
            }
        }
        Ok((pinned, lps))
    }
}

/// Whether a solution's value `x` of a count puts it a whole person away from its
/// true value `truth` (to within solver tolerances): then the count is not pinned.
fn moved(x: f64, truth: u64) -> bool {
    (x - truth as f64).abs() >= 1.0 - 1e-6
}

/// The column of `v` in a [`HighsPart`]'s model.
fn column(local: &[Option<highs::Col>], v: usize) -> highs::Col {
    local[v].expect("a count of the part is a column of its model")
}

/// Whether `x` (a value per variable of `c`) satisfies every row and bound of `part`
/// to within HiGHS's tolerances: a point that clears counts must be a solution.
fn satisfies(c: &Component, part: &Part, x: &[f64]) -> bool {
    // Absolute, in persons: a pinned count is a combination of rows and bounds with
    // small whole multipliers, so a point off by this much everywhere still cannot
    // put it anywhere near a person away.
    const TOLERANCE: f64 = 1e-6;
    part.vars
        .iter()
        .all(|&v| x[v] >= c.lo[v] - TOLERANCE && x[v] <= c.hi[v] + TOLERANCE)
        && part.rows.iter().all(|(row, rhs)| {
            let sum: f64 = row.iter().map(|&(v, w)| w * x[v]).sum();
            (sum - rhs).abs() <= TOLERANCE
        })
}

/// The hexagon at `r` holding an atom's finest hexagon.
fn hex_at(cell: Option<u64>, r: Resolution) -> Option<u64> {
    CellIndex::try_from(cell?).ok()?.parent(r).map(u64::from)
}

/// The solution of a solve, or the audit's error for a failed one.
fn outcome(
    solved: Result<microlp::SolveOutcome, microlp::Error>,
    label: &str,
) -> Result<microlp::Solution, AnalystAuditError> {
    match solved {
        Ok(outcome) => outcome
            .into_solution()
            .map_err(|_| AnalystAuditError::Solver(label.to_string(), "interrupted".into())),
        Err(microlp::Error::Infeasible) => Err(AnalystAuditError::Infeasible(label.to_string())),
        Err(e) => Err(AnalystAuditError::Solver(label.to_string(), e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A system where the count `v` (variable 0, 5 persons) can move only with the
    /// tenth of ten unknowns beside it in one row, which an unknown with room in no
    /// other row then balances; each of the other nine leads into a ladder of rows
    /// with two new unknowns each, where every partial move stays one person off to
    /// the end.
    fn ladders(rungs: usize) -> Component {
        let mut truth: Vec<u64> = Vec::new();
        let mut lo: Vec<f64> = Vec::new();
        let mut hi: Vec<f64> = Vec::new();
        let mut var = |t: u64, free: bool| {
            truth.push(t);
            lo.push(if free { 0.0 } else { t as f64 });
            hi.push(if free { 100.0 } else { t as f64 });
            truth.len() - 1
        };
        let v = var(5, true);
        let side: Vec<usize> = (0..10).map(|_| var(20, true)).collect();
        let total = var(5 + 200, false);
        let mut rows = vec![{
            let mut row = vec![(v, 1.0), (total, -1.0)];
            row.extend(side.iter().map(|&a| (a, 1.0)));
            row
        }];
        for &a in &side[..9] {
            // The unknowns of the rung above, and their true sum.
            let (mut above, mut above_sum) = (vec![a], 20);
            for _ in 0..rungs {
                let (x, y) = (var(50, true), var(50, true));
                let s = var(above_sum + 100, false);
                let mut row: Vec<(usize, f64)> = above.iter().map(|&u| (u, 1.0)).collect();
                row.extend([(x, 1.0), (y, 1.0), (s, -1.0)]);
                rows.push(row);
                (above, above_sum) = (vec![x, y], 100);
            }
            let s = var(100, false);
            rows.push(vec![(above[0], 1.0), (above[1], 1.0), (s, -1.0)]);
        }
        let sink = var(50, true);
        let s = var(70, false);
        rows.push(vec![(side[9], 1.0), (sink, 1.0), (s, -1.0)]);
        let n = truth.len();
        Component {
            label: "ladders".into(),
            labels: vec![Label::count(LayerKind::City, Place::Unit(Unit::City), 0); n],
            escalate: (0..n).collect(),
            measure: vec![0; n],
            counts_end: usize::MAX,
            cells: Vec::new(),
            cell_of: Vec::new(),
            above: HashMap::default(),
            truth,
            lo,
            hi,
            fixed: vec![false; n],
            rows,
            parts: Vec::new(),
            part_of: Vec::new(),
        }
        .split()
    }

    #[test]
    fn best_first_finds_the_short_move_a_depth_first_search_misses() {
        let c = ladders(30);
        assert_eq!(c.parts.len(), 1);
        let moves = Moves::new(&c, &c.parts[0]);
        let effort = Effort {
            budget: 300,
            depth: 24,
            mirror_rounds: 0,
            best_first: false,
        };
        // Depth first, the first candidate's ladder takes the whole budget.
        assert!(moves.whole_person(0, effort).is_none());
        let found = moves
            .whole_person(
                0,
                Effort {
                    best_first: true,
                    ..effort
                },
            )
            .expect("a move of three changes");
        // Checked here from the system itself: every row kept, every bound.
        let mut x: Vec<f64> = c.truth.iter().map(|&t| t as f64).collect();
        for &(u, d) in &found {
            x[u] += d;
        }
        for row in &c.rows {
            let sum: f64 = row.iter().map(|&(u, w)| w * x[u]).sum();
            assert!(sum.abs() < 1e-9, "{row:?}");
        }
        for (u, &xu) in x.iter().enumerate() {
            assert!(c.lo[u] <= xu && xu <= c.hi[u], "{u}: {xu}");
        }
        assert_eq!(found.len(), 3, "{found:?}");
        assert!((x[0] - 5.0).abs() >= 1.0);
    }

    /// [`ladders`] without the tenth unknown's way out (its sink fixed): every ladder
    /// stays off to its end, so the count is pinned.
    fn closed_ladders(rungs: usize) -> Component {
        let mut c = ladders(rungs);
        let sink = c.truth.len() - 2;
        c.lo[sink] = c.truth[sink] as f64;
        c.hi[sink] = c.truth[sink] as f64;
        c.split()
    }

    #[test]
    fn best_first_gives_up_where_no_move_exists() {
        // The count is pinned, and no move may say otherwise.
        let c = closed_ladders(3);
        let moves = Moves::new(&c, &c.parts[c.part_of[0]]);
        let effort = Effort {
            budget: 100_000,
            depth: 64,
            mirror_rounds: 0,
            best_first: true,
        };
        assert!(moves.whole_person(0, effort).is_none());
    }

    /// `c`'s system as a joint one: its last `slacks` variables the slacks of
    /// relations, of which HiGHS's model folds each in one row alone into that row's
    /// range (in [`ladders`], with 2: the sink).
    fn joint(mut c: Component, slacks: usize) -> Component {
        c.counts_end = c.truth.len() - slacks;
        c
    }

    /// `c`'s part holding variable 0 started in HiGHS, and the crossover's vertex,
    /// checked to be a solution.
    fn started_at_0(c: &Component) -> (HighsPart<'_>, Vec<f64>) {
        let part = &c.parts[c.part_of[0]];
        let highs = HighsPart::start(c, part);
        let x = highs
            .start
            .clone()
            .expect("a basic solution of the true counts");
        assert!(satisfies(c, part, &x));
        (highs, x)
    }

    #[test]
    fn the_crossovers_vertex_moves_a_free_count_and_never_a_pinned_one() {
        // Free: the count can move with the tenth unknown and its sink, a slack folded
        // into its row (its value in the vertex is made from the row's).
        let c = joint(ladders(3), 2);
        let (highs, x) = started_at_0(&c);
        let mut open = vec![0];
        highs.clear_at_start(&mut open);
        if open.is_empty() {
            assert!(moved(x[0], 5), "cleared at {}", x[0]);
        }
        assert_eq!(highs.settle(open).unwrap().0, Vec::<usize>::new());

        // Pinned: without the sink's room no vertex may move the count, and the LPs
        // find it pinned.
        let c = joint(closed_ladders(3), 2);
        let (highs, x) = started_at_0(&c);
        assert!((x[0] - 5.0).abs() < 1e-6, "a pinned count at {}", x[0]);
        let mut open = vec![0];
        highs.clear_at_start(&mut open);
        assert_eq!(open, vec![0]);
        assert_eq!(highs.settle(open).unwrap().0, vec![0]);
    }

    #[test]
    fn a_point_clears_counts_only_if_it_keeps_every_row_and_bound() {
        let c = ladders(3);
        let part = &c.parts[c.part_of[0]];
        let truth: Vec<f64> = c.truth.iter().map(|&t| t as f64).collect();
        assert!(satisfies(&c, part, &truth));
        // The count a person up alone breaks its row.
        let mut x = truth.clone();
        x[0] += 1.0;
        assert!(!satisfies(&c, part, &x));
        // Balanced by a side unknown, the row holds, but that unknown's ladder row
        // does not.
        x[1] -= 1.0;
        assert!(!satisfies(&c, part, &x));
        // Below a bound.
        let mut x = truth;
        x[0] = -1.0;
        assert!(!satisfies(&c, part, &x));
    }

    /// A joint system of `truth` and `bounds` (a range per variable) with `rows` (each
    /// summing to 0 at the true values), its last `slacks` variables the relations'
    /// slacks.
    fn system(
        truth: &[u64],
        bounds: &[(f64, f64)],
        rows: &[&[(usize, f64)]],
        slacks: usize,
    ) -> Component {
        let n = truth.len();
        let c = Component {
            label: "system".into(),
            labels: vec![Label::count(LayerKind::City, Place::Unit(Unit::City), 0); n],
            escalate: (0..n).collect(),
            measure: vec![0; n],
            counts_end: n - slacks,
            cells: Vec::new(),
            cell_of: Vec::new(),
            above: HashMap::default(),
            truth: truth.to_vec(),
            lo: bounds.iter().map(|b| b.0).collect(),
            hi: bounds.iter().map(|b| b.1).collect(),
            fixed: vec![false; n],
            rows: rows.iter().map(|r| r.to_vec()).collect(),
            parts: Vec::new(),
            part_of: Vec::new(),
        };
        for row in &c.rows {
            let sum: f64 = row.iter().map(|&(v, w)| w * c.truth[v] as f64).sum();
            assert_eq!(sum, 0.0, "{row:?}");
        }
        c.split()
    }

    #[test]
    fn highs_is_given_only_the_rows_the_bounds_do_not_keep_and_decides_the_same() {
        let (free, cap) = ((0.0, 100.0), (0.0, CAP));
        // a + b = 6 (the total fixed), a ≤ b and b ≤ a: neither relation is kept by
        // the bounds alone, and together they pin both counts at 3.
        let c = system(
            &[3, 3, 6, 0, 0],
            &[free, free, (6.0, 6.0), cap, cap],
            &[
                &[(0, 1.0), (1, 1.0), (2, -1.0)],
                &[(0, 1.0), (3, 1.0), (1, -1.0)],
                &[(1, 1.0), (4, 1.0), (0, -1.0)],
            ],
            2,
        );
        let highs = HighsPart::start(&c, &c.parts[c.part_of[0]]);
        assert_eq!(highs.model.num_rows(), 3);
        assert!(highs.start.is_some());
        assert_eq!(highs.settle(vec![0, 1]).unwrap().0.len(), 2);

        // a + b = 16 with a hidden (1..4) and b shown (10..100): a ≤ b holds for every
        // value within the bounds and is left out; a ≤ 2·f with f fixed at 2, a row
        // of one unknown once its slack is folded, becomes a's bound (4, as before).
        // a can move a person either way.
        let bounds = [
            (1.0, 4.0),
            (10.0, 100.0),
            (16.0, 16.0),
            (2.0, 2.0),
            cap,
            cap,
        ];
        let (sum, ordered): (&[_], &[_]) = (
            &[(0, 1.0), (1, 1.0), (2, -1.0)],
            &[(0, 1.0), (4, 1.0), (1, -1.0)],
        );
        let c = system(
            &[3, 13, 16, 2, 10, 1],
            &bounds,
            &[sum, ordered, &[(0, 1.0), (5, 1.0), (3, -2.0)]],
            2,
        );
        let highs = HighsPart::start(&c, &c.parts[c.part_of[0]]);
        assert_eq!(highs.model.num_rows(), 1, "only a + b = 16");
        let x = highs
            .start
            .clone()
            .expect("a basic solution of the true counts");
        assert!(x[0] <= 4.0 + 1e-9 && x[0] >= 1.0 - 1e-9, "a at {}", x[0]);
        assert_eq!(highs.settle(vec![0, 1]).unwrap().0, Vec::<usize>::new());
        // a withheld (0..CAP) but a + u = 4: a ≤ 4 follows, and then a ≤ b holds for
        // every value within the bounds.
        let c = system(
            &[3, 13, 16, 1, 4, 10],
            &[cap, (10.0, 100.0), (16.0, 16.0), cap, (4.0, 4.0), cap],
            &[
                sum,
                &[(0, 1.0), (3, 1.0), (4, -1.0)],
                &[(0, 1.0), (5, 1.0), (1, -1.0)],
            ],
            1,
        );
        let highs = HighsPart::start(&c, &c.parts[c.part_of[0]]);
        assert_eq!(highs.model.num_rows(), 2, "a + b = 16, a + u = 4");
        assert_eq!(highs.settle(vec![0, 3]).unwrap().0, Vec::<usize>::new());
        // 2a ≤ 3·f and a = 1.5·f instead: rows of one unknown that bound a to 3 and
        // pin both counts, though HiGHS is given neither row.
        let c = system(
            &[3, 13, 16, 2, 10, 0, 0],
            &[&bounds[..], &[(0.0, 0.0)]].concat(),
            &[
                sum,
                ordered,
                &[(0, 2.0), (5, 1.0), (3, -3.0)],
                &[(0, 1.0), (6, -1.0), (3, -1.5)],
            ],
            3,
        );
        let highs = HighsPart::start(&c, &c.parts[c.part_of[0]]);
        // a + b = 16 then fixes b as well: no row is left for HiGHS, and the bounds
        // alone decide.
        assert_eq!(highs.model.num_rows(), 0);
        assert!(highs.start.is_some());
        assert_eq!(highs.settle(vec![0, 1]).unwrap().0.len(), 2);
    }
}
