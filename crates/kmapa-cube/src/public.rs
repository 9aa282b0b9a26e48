//! The public tier: every count it publishes, protected together, and audited.
//!
//! What is published (from the policy): for every year and every measure (each
//! category in force that year, and the unit totals of each source), the count at
//! every unit of every published layer: districts, parent areas, the city, hexagons at
//! each published resolution. Everything one measure publishes in one year is one
//! network table tied by internal district × hexagon atoms ([`kmapa_protect::layers`]),
//! so districts and hexagons are protected together, not one after the other.
//!
//! Tables are related to each other as well, and an attacker knows it: a sub-row never
//! exceeds its parent category, a category never exceeds the unit total of its source,
//! and a unit total never exceeds the sum of its source's top-level categories — in
//! every unit, down to the atoms (the cube places a person at one location per year).
//! These relations enter each table's protection and audit as [`Bounds`]: a hidden
//! cell is only counted as uncertain over a range that moves the other tables' true
//! values nowhere, so every interval the audit reports is one the attacker cannot
//! narrow with any published number of any table. Two measures with identical counts
//! everywhere (the registered unemployed and all PUP clients, say) are one table
//! published twice, protected once with one pattern.
//!
//! With `households` in the policy, each welfare-centre (OPS) measure is published a
//! second time counting households (families) at districts, parent areas and the city,
//! in the same family of tables: households never exceed persons in any unit, nor a
//! sub-row's households its category's, and a unit with persons has a household.
//!
//! Years share no published relation (nothing is summed over years), so tables are
//! independent once their bounds are known and are protected on all cores.

use std::collections::{BTreeMap, BTreeSet};

use h3o::{CellIndex, Resolution};
use kmapa_model::population::PopulationTable;
use kmapa_model::{Source, Vocabulary};
use kmapa_protect::CellStatus;
use kmapa_protect::family::Family;
use kmapa_protect::family::piece_protected;
use kmapa_protect::flow::Network;
use kmapa_protect::layers::{
    LayerCells, LayerCounts, Published, adaptive_partition, build, publish_hexagons,
};
use kmapa_protect::policy::{Layer, PublicTier};
use kmapa_protect::table::Table;

use crate::{Counted, Cube, Group, Measure};
use serde::Serialize;

pub use kmapa_protect::output::{
    AuditedCell, InternalFailure, LayerKind, LayerLoss, ProtectedTier, PublishedCell, TierAudit,
    TierSummary, layer_name,
};

#[derive(Debug, thiserror::Error)]
pub enum TierError {
    #[error("the policy publishes hexagons at resolution {0}, which H3 does not have (0..=15)")]
    Resolution(u8),
    #[error(
        "public.h3_measures names {0:?}, which is no category code, any_ops or any_pup: fix the policy (\"*\" means every measure)"
    )]
    UnknownMeasure(String),
    #[error(
        "public.households names {0:?}, which is no welfare-centre (OPS) category code or any_ops: fix the policy (\"*\" means every OPS measure; labour-office records name no households)"
    )]
    UnknownHouseholdMeasure(String),
    #[error(
        "{measure} {year}: cell {cell} cannot be protected: every cell that could cover it is hidden already or cannot move without contradicting another table"
    )]
    Unprotectable {
        measure: String,
        year: u16,
        cell: String,
    },
    #[error(
        "the protected tier does not match the data: {0} (was it made from other batches or another policy?)"
    )]
    Mismatch(String),
}

/// One published table: a measure of one breakdown group.
#[derive(Debug, Clone)]
struct Entry {
    measure: Measure,
    group: Group,
    counted: Counted,
    code: String,
}

/// Sources whose records name households (welfare centres' clients live in families;
/// the labour office registers persons).
const HOUSEHOLD_SOURCES: [Source; 1] = [Source::Ops];

/// Everything the tier publishes for one year, before protection.
struct YearTables {
    year: u16,
    measures: Vec<Entry>,
    tables: Vec<Table>,
    cells: LayerCells,
    /// Per table, per cell: published before with the same count, so it stays so.
    fixed: Vec<Vec<bool>>,
    /// Adaptive hexagons, per table: hexagon cells published whole and split whatever
    /// their counts (see [`adaptive_partition`]). Empty for other tiers.
    hex_whole: Vec<BTreeSet<usize>>,
    hex_split: Vec<BTreeSet<usize>>,
}

/// How the tier is laid out (shared by all tables).
struct Layout {
    resolutions: Vec<Resolution>,
    publish: Published,
    support: std::collections::BTreeSet<(u16, Option<u64>)>,
    hex_levels: Vec<BTreeMap<u64, u64>>,
    /// Everyone, then each group of each published breakdown.
    groups: Vec<Group>,
    /// Layers published for breakdown groups.
    breakdown_publish: Published,
    /// Measures published on hexagons (`*`: all).
    h3_measures: Vec<String>,
    /// One adaptive hexagon layer (`h3_adaptive`).
    adaptive: bool,
    /// Measures published as households beside persons (`*`: every measure of
    /// [`HOUSEHOLD_SOURCES`]).
    households: Vec<String>,
}

fn layout(cube: &Cube, tier: &PublicTier) -> Result<Layout, TierError> {
    let hexagons = tier.layers.contains(&Layer::H3) && !tier.h3_resolutions.is_empty();
    if let Some(m) = tier.h3_measures.iter().find(|m| {
        *m != "*"
            && !cube.category_codes.contains(m)
            && !Source::ALL
                .iter()
                .any(|s| **m == format!("any_{}", s.code().to_lowercase()))
    }) {
        return Err(TierError::UnknownMeasure(m.clone()));
    }
    if let Some(m) = tier.households.iter().find(|m| {
        let category = cube
            .category_codes
            .iter()
            .position(|c| c == *m)
            .map(|i| cube.sources[i]);
        *m != "*"
            && !HOUSEHOLD_SOURCES
                .iter()
                .any(|s| category == Some(*s) || **m == format!("any_{}", s.code().to_lowercase()))
    }) {
        return Err(TierError::UnknownHouseholdMeasure(m.clone()));
    }
    let mut resolutions = Vec::new();
    if hexagons {
        for &r in &tier.h3_resolutions {
            resolutions.push(Resolution::try_from(r).map_err(|_| TierError::Resolution(r))?);
        }
    }
    // Finest first.
    resolutions.sort_unstable_by(|a, b| b.cmp(a));
    resolutions.dedup();
    let support = cube.atom_support(resolutions.first().copied());
    let atom_hexes: std::collections::BTreeSet<u64> =
        support.iter().filter_map(|(_, h)| *h).collect();
    let hex_levels = resolutions
        .iter()
        .map(|&r| {
            atom_hexes
                .iter()
                .map(|&h| {
                    let a = CellIndex::try_from(h)
                        .ok()
                        .and_then(|c| c.parent(r))
                        .map_or(h, u64::from);
                    (h, a)
                })
                .collect()
        })
        .collect();
    Ok(Layout {
        publish: Published {
            city: tier.layers.contains(&Layer::City),
            parents: tier.layers.contains(&Layer::Parents),
            districts: tier.layers.contains(&Layer::Districts),
            hexagons,
        },
        resolutions,
        support,
        hex_levels,
        breakdown_publish: Published {
            city: tier.layers.contains(&Layer::City)
                && tier.breakdown_layers.contains(&Layer::City),
            parents: tier.layers.contains(&Layer::Parents)
                && tier.breakdown_layers.contains(&Layer::Parents),
            districts: tier.layers.contains(&Layer::Districts)
                && tier.breakdown_layers.contains(&Layer::Districts),
            hexagons: hexagons && tier.breakdown_layers.contains(&Layer::H3),
        },
        h3_measures: tier.h3_measures.clone(),
        adaptive: hexagons && tier.h3_adaptive,
        households: tier.households.clone(),
        groups: std::iter::once(Group::All)
            .chain(tier.breakdowns.iter().flat_map(|&b| Group::of(b)))
            .collect(),
    })
}

/// The measures published in `year`: categories in force, then unit totals.
fn measures(cube: &Cube, vocabulary: &Vocabulary, year: u16) -> Vec<(Measure, String)> {
    let mut out: Vec<(Measure, String)> = vocabulary
        .categories()
        .iter()
        .zip(0u16..)
        .filter(|(c, _)| c.valid_in_year(i32::from(year)))
        .map(|(c, i)| (Measure::Category(i), c.code.clone()))
        .collect();
    debug_assert_eq!(vocabulary.categories().len(), cube.category_codes.len());
    for s in Source::ALL {
        out.push((
            Measure::AnyOf(s),
            format!("any_{}", s.code().to_lowercase()),
        ));
    }
    out
}

/// The tables of every year the tier publishes (built on all cores).
fn all_year_tables(
    cube: &Cube,
    vocabulary: &Vocabulary,
    tier: &PublicTier,
) -> Result<Vec<YearTables>, TierError> {
    let layout = layout(cube, tier)?;
    let years: Vec<u16> = cube
        .years()
        .into_iter()
        .filter(|&y| tier.years.includes(i32::from(y)))
        .collect();
    Ok(crate::run_parallel(years.len(), |i| {
        year_tables(cube, vocabulary, &layout, years[i])
    }))
}

/// The source of a measure.
fn source_of(vocabulary: &Vocabulary, measure: Measure) -> Source {
    match measure {
        Measure::Category(c) => vocabulary.categories()[c as usize].source,
        Measure::AnyOf(s) => s,
    }
}

fn year_tables(cube: &Cube, vocabulary: &Vocabulary, layout: &Layout, year: u16) -> YearTables {
    let listed = measures(cube, vocabulary, year);
    let mut measures: Vec<Entry> = listed
        .iter()
        .flat_map(|(measure, code)| {
            layout.groups.iter().map(move |&group| Entry {
                measure: *measure,
                group,
                counted: Counted::Persons,
                code: code.clone(),
            })
        })
        .collect();
    if !layout.households.is_empty() {
        measures.extend(
            listed
                .iter()
                .filter(|(m, code)| {
                    HOUSEHOLD_SOURCES.contains(&source_of(vocabulary, *m))
                        && layout.households.iter().any(|h| h == "*" || h == code)
                })
                .map(|(measure, code)| Entry {
                    measure: *measure,
                    group: Group::All,
                    counted: Counted::Households,
                    code: code.clone(),
                }),
        );
    }
    let mut tables = Vec::with_capacity(measures.len());
    let mut cells = LayerCells::default();
    for e in &measures {
        let mut atoms: BTreeMap<(u16, Option<u64>), u64> =
            layout.support.iter().map(|a| (*a, 0)).collect();
        let r = layout.resolutions.first().copied();
        for (a, v) in cube.counted_atoms(r, e.measure, year, e.group, e.counted) {
            atoms.insert(a, v);
        }
        let (t, c) = build(&LayerCounts {
            atoms,
            parent_of: cube.parent_of().to_vec(),
            district_codes: cube.district_codes.clone(),
            parent_codes: cube.parent_codes.clone(),
            publish: {
                let mut p = if e.group == Group::All {
                    layout.publish
                } else {
                    layout.breakdown_publish
                };
                // Households at districts, parent areas and the city only.
                p.hexagons &= e.counted == Counted::Persons
                    && layout.h3_measures.iter().any(|m| m == "*" || *m == e.code);
                p
            },
            hex_levels: layout.hex_levels.clone(),
        });
        tables.push(t);
        cells = c;
    }
    cells.adaptive_hexagons = layout.adaptive;
    YearTables {
        year,
        fixed: vec![Vec::new(); measures.len()],
        hex_whole: vec![BTreeSet::new(); measures.len()],
        hex_split: vec![BTreeSet::new(); measures.len()],
        measures,
        tables,
        cells,
    }
}

/// Whether a table publishes hexagons of the adaptive layer.
fn on_adaptive_hexagons(yt: &YearTables, table: &Table) -> bool {
    yt.cells.adaptive_hexagons
        && yt
            .cells
            .hexagons
            .values()
            .any(|&h| !table.cells[h].internal)
}

/// Chooses the adaptive layer's hexagons of every table published on it: where an
/// earlier snapshot published the same measure and year, its hexagons (so the
/// pattern stays as it was); elsewhere, each at the finest safe resolution.
fn choose_hexagons(yt: &mut YearTables, earlier: &[ProtectedTier], k: u64) {
    if !yt.cells.adaptive_hexagons {
        return;
    }
    // The latest earlier pattern of each (measure, group).
    let mut before: BTreeMap<(&str, String), BTreeSet<u64>> = BTreeMap::new();
    for t in earlier.iter().rev() {
        let mut this: BTreeMap<(&str, String), BTreeSet<u64>> = BTreeMap::new();
        for c in &t.cells {
            if c.layer == LayerKind::H3Adaptive
                && c.year == yt.year
                && let Ok(h) = u64::from_str_radix(&c.unit, 16)
            {
                this.entry((c.measure.as_str(), c.group.clone()))
                    .or_default()
                    .insert(h);
            }
        }
        for (key, hexes) in this {
            before.entry(key).or_insert(hexes);
        }
    }
    let tree = &yt.cells.hex_tree;
    for (m, e) in yt.measures.iter().enumerate() {
        if !on_adaptive_hexagons(yt, &yt.tables[m]) {
            continue;
        }
        let (mut whole, mut split) = (BTreeSet::new(), BTreeSet::new());
        if let Some(hexes) = before.get(&(e.code.as_str(), e.group.code())) {
            for h in hexes {
                if let Some(&c) = yt.cells.hexagons.get(h) {
                    whole.insert(c);
                    let mut up = c;
                    while let Some(&p) = tree.parent.get(&up) {
                        split.insert(p);
                        up = p;
                    }
                }
            }
        }
        let chosen = adaptive_partition(&yt.tables[m], tree, k, &whole, &split);
        publish_hexagons(&mut yt.tables[m], tree, &chosen);
        yt.hex_whole[m] = whole;
        yt.hex_split[m] = split;
    }
}

/// Hiding a city total costs this many times its count when choosing complements;
/// a parent area's, [`PARENT_WEIGHT`] times (districts and hexagons: once).
const CITY_WEIGHT: u64 = 100;
const PARENT_WEIGHT: u64 = 10;
/// Hiding a unit total (all OPS clients, all PUP registrants) costs this many times its
/// count: it is the number a reader looks for first.
const TOTAL_WEIGHT: u64 = 4;
/// On the adaptive hexagon layer, hiding a cell of another layer costs this many
/// times as much (see [`family`]).
const ADAPTIVE_WEIGHT: u64 = 10;

/// The tables of one source in one year, with the relations between them; and which
/// measure of the year each table is.
fn family(
    cube: &Cube,
    vocabulary: &Vocabulary,
    population: Option<&PopulationTable>,
    yt: &YearTables,
    source: Source,
) -> (Family, Vec<usize>) {
    let members: Vec<usize> = yt
        .measures
        .iter()
        .enumerate()
        .filter(|(_, e)| source_of(vocabulary, e.measure) == source)
        .map(|(i, _)| i)
        .collect();
    let local = |m: Measure, g: Group, counted: Counted| {
        members.iter().position(|&i| {
            let e = &yt.measures[i];
            e.measure == m && e.group == g && e.counted == counted
        })
    };
    // On the adaptive hexagon layer a hexagon that would be hidden is merged into a
    // larger one instead, which loses far less than hiding a district: the other
    // layers cost ADAPTIVE_WEIGHT times more there.
    let scale = if yt.cells.adaptive_hexagons {
        ADAPTIVE_WEIGHT
    } else {
        1
    };
    let mut weights = vec![scale; yt.tables[0].cells.len()];
    for &h in yt.cells.hexagons.values() {
        weights[h] = 1;
    }
    weights[yt.cells.city] = CITY_WEIGHT * scale;
    for &p in yt.cells.parents.values() {
        weights[p] = PARENT_WEIGHT * scale;
    }
    // A reader knows the published population: no count exceeds it.
    let mut caps = vec![None; yt.tables[0].cells.len()];
    for (i, p) in residents(cube, population, yt) {
        caps[i] = Some(p);
    }
    let mut f = Family {
        tables: members.iter().map(|&i| yt.tables[i].clone()).collect(),
        table_weights: members
            .iter()
            .map(|&i| match yt.measures[i].measure {
                Measure::AnyOf(_) => TOTAL_WEIGHT,
                Measure::Category(_) => 1,
            })
            .collect(),
        weights,
        caps,
        fixed: members.iter().map(|&i| yt.fixed[i].clone()).collect(),
        households_of: members
            .iter()
            .map(|&i| {
                let e = &yt.measures[i];
                (e.counted == Counted::Households)
                    .then(|| local(e.measure, e.group, Counted::Persons))
                    .flatten()
            })
            .collect(),
        // A district minus the hexagons inside it gives the persons of the district
        // in a hexagon it shares with a neighbour (a sliver): such pieces are protected.
        // A measure not on hexagons has no published hexagon to subtract; its pieces
        // are bounded through the measures that are (a category never exceeds the unit
        // total), whose pieces are protected.
        pieces: members
            .iter()
            .map(|&i| kmapa_protect::layers::pieces(&yt.tables[i], &yt.cells))
            .collect(),
        ..Default::default()
    };
    let mut tops: BTreeMap<(Group, Counted), Vec<usize>> = BTreeMap::new();
    // Parts of each breakdown of each measure: (measure, breakdown is sex) → tables.
    let mut splits: BTreeMap<(Measure, bool), Vec<usize>> = BTreeMap::new();
    for (li, &i) in members.iter().enumerate() {
        let Entry {
            measure,
            group,
            counted,
            ..
        } = yt.measures[i];
        let total = local(Measure::AnyOf(source), group, counted);
        if counted == Counted::Households {
            // A measure's households never exceed its persons.
            f.pairs.push((
                li,
                local(measure, group, Counted::Persons).expect("persons of the measure"),
            ));
        }
        if group != Group::All {
            // A breakdown group never exceeds everyone, and the groups of one
            // breakdown add up to everyone.
            f.pairs
                .push((li, local(measure, Group::All, counted).expect("everyone")));
            splits
                .entry((measure, matches!(group, Group::Sex(_))))
                .or_default()
                .push(li);
        }
        let Measure::Category(c) = measure else {
            continue;
        };
        match &vocabulary.categories()[c as usize].parent {
            Some(p) => {
                let parent = cube
                    .category_codes
                    .iter()
                    .position(|x| x == p)
                    .and_then(|p| local(Measure::Category(p as u16), group, counted));
                if let Some(parent) = parent {
                    f.pairs.push((li, parent));
                }
            }
            None => {
                if let Some(t) = total {
                    f.pairs.push((li, t));
                }
                tops.entry((group, counted)).or_default().push(li);
            }
        }
    }
    // The unit total never exceeds the sum of the top categories: a relation only
    // when every top category is published that way (households may be published
    // for some measures only).
    let all_tops = tops
        .get(&(Group::All, Counted::Persons))
        .map_or(0, Vec::len);
    for ((group, counted), tops) in tops {
        if let Some(t) = local(Measure::AnyOf(source), group, counted)
            && (counted == Counted::Persons || tops.len() == all_tops)
        {
            f.sums.push((t, tops));
        }
    }
    for ((measure, _), parts) in splits {
        let all = local(measure, Group::All, Counted::Persons).expect("everyone");
        f.splits.push((all, parts));
    }
    (f, members)
}

/// Protects the whole public tier and audits it.
pub fn protect_public_tier(
    cube: &Cube,
    vocabulary: &Vocabulary,
    population: Option<&PopulationTable>,
    tier: &PublicTier,
    policy_version: &str,
    earlier: &[ProtectedTier],
) -> Result<(ProtectedTier, TierAudit), TierError> {
    protect_public_tier_explained(cube, vocabulary, population, tier, policy_version, earlier)
        .map(|(p, a, _)| (p, a))
}

/// [`protect_public_tier`], with why each cell is hidden.
pub fn protect_public_tier_explained(
    cube: &Cube,
    vocabulary: &Vocabulary,
    population: Option<&PopulationTable>,
    tier: &PublicTier,
    policy_version: &str,
    earlier: &[ProtectedTier],
) -> Result<(ProtectedTier, TierAudit, Vec<Explanation>), TierError> {
    let mut all = all_year_tables(cube, vocabulary, tier)?;
    let seen = Seen::of(earlier);
    for yt in &mut all {
        choose_hexagons(yt, earlier, tier.k);
        apply_earlier(cube, yt, &seen, tier.k);
    }
    let Some(first) = all.first() else {
        return Ok((
            ProtectedTier {
                policy_version: policy_version.to_string(),
                batches: Vec::new(),
                summary: TierSummary {
                    k: tier.k,
                    width: tier.width,
                    ..Default::default()
                },
                cells: Vec::new(),
                analyst: None,
            },
            TierAudit::default(),
            Vec::new(),
        ));
    };
    let net = Network::of(&first.tables[0]).expect("layer tables are networks");
    // Protect each source's family of tables in each year, on all cores.
    let jobs: Vec<(usize, Source)> = (0..all.len())
        .flat_map(|y| Source::ALL.into_iter().map(move |s| (y, s)))
        .collect();
    let results = crate::run_parallel(jobs.len(), |j| {
        let (y, source) = jobs[j];
        let yt = &all[y];
        let (base, members) = family(cube, vocabulary, population, yt, source);
        protect_family(yt, base, &members, &net, tier).map(|f| (f, members))
    });
    for ((y, _), r) in jobs.iter().zip(results) {
        let (f, members) = r?;
        for (mut t, &m) in f.tables.into_iter().zip(&members) {
            // Cover links name tables within the family: make them the year's.
            for c in &mut t.cells {
                c.covers = c
                    .covers
                    .map(|(lt, cell)| (members[lt as usize] as u32, cell));
            }
            all[*y].tables[m] = t;
        }
    }
    let protected = publish(cube, population, tier, policy_version, &all);
    let mut audit = audit_years(cube, vocabulary, population, tier, &net, &all);
    check_differences(cube, &all, &seen, tier.k, &mut audit);
    check_jointly(cube, &all, earlier, tier, &mut audit);
    Ok((protected, audit, explain(cube, &all)))
}

/// Rounds of merging hidden hexagons into larger ones (see [`protect_family`]).
const MERGE_ROUNDS: usize = 3;

/// Protects one family. On the adaptive hexagon layer, a hexagon that would have to be
/// hidden is published whole one level up instead (with the hexagons beside it), and
/// the family protected again, until no finer hexagon needs hiding (what stays hidden
/// there is then a hexagon of the coarsest resolution) or for [`MERGE_ROUNDS`] rounds.
fn protect_family(
    yt: &YearTables,
    mut base: Family,
    members: &[usize],
    net: &Network,
    tier: &PublicTier,
) -> Result<Family, TierError> {
    let tree = &yt.cells.hex_tree;
    let hexagons = tree.cells();
    let adaptive: Vec<usize> = (0..members.len())
        .filter(|&lt| on_adaptive_hexagons(yt, &base.tables[lt]))
        .collect();
    let mut whole: Vec<BTreeSet<usize>> =
        members.iter().map(|&m| yt.hex_whole[m].clone()).collect();
    // Hexagons an earlier snapshot published stay as they were, hidden or not.
    let earlier = whole.clone();
    let mut rounds = 0;
    // Every round's pattern is protected and audited; the one that loses least wins
    // (merging can move a cover onto a costlier cell).
    let mut best: Option<(u64, Family)> = None;
    loop {
        let mut f = base.clone();
        if let Err(e) = f.protect(net, tier.k, tier.width) {
            return Err(TierError::Unprotectable {
                measure: yt.measures[members[e.table]].label(),
                year: yt.year,
                cell: e.cell,
            });
        }
        let cost = f.secondary_cost();
        if best.as_ref().is_none_or(|(c, _)| cost < *c) {
            best = Some((cost, f.clone()));
        }
        let mut merged = Vec::new();
        for &lt in &adaptive {
            let t = &f.tables[lt];
            let before = whole[lt].len();
            for &c in &hexagons {
                let cell = &t.cells[c];
                if cell.internal
                    || !matches!(
                        cell.status,
                        CellStatus::PrimarySuppressed | CellStatus::SecondarySuppressed
                    )
                {
                    continue;
                }
                if let Some(&p) = tree.parent.get(&c)
                    && !earlier[lt].contains(&c)
                {
                    whole[lt].insert(p);
                }
            }
            if whole[lt].len() > before {
                merged.push(lt);
            }
        }
        rounds += 1;
        // Every round's pattern is protected and audited; more rounds only publish
        // more. Demo city, ten years: hexagon persons hidden 1.4 % after one round,
        // 0.3 % after three, 0.2 % after all (up to 17), at 2.2, 3.2 and 4.3 s.
        if merged.is_empty() || rounds >= MERGE_ROUNDS {
            return Ok(best.map_or(f, |(_, b)| b));
        }
        for lt in merged {
            let split = &yt.hex_split[members[lt]];
            let chosen = adaptive_partition(&base.tables[lt], tree, tier.k, &whole[lt], split);
            publish_hexagons(&mut base.tables[lt], tree, &chosen);
            base.pieces[lt] = kmapa_protect::layers::pieces(&base.tables[lt], &yt.cells);
        }
    }
}

/// One cell of the public tier's tables: a published unit, or an internal piece (a
/// district × hexagon atom: layer `None`, its label as unit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CellRef {
    pub layer: Option<LayerKind>,
    pub unit: String,
    pub measure: String,
    pub group: String,
    pub counted: Counted,
    pub year: u16,
}

impl std::fmt::Display for CellRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let layer = match self.layer {
            None => "piece".to_string(),
            Some(LayerKind::City) => "city".to_string(),
            Some(LayerKind::Parents) => "parent area".to_string(),
            Some(LayerKind::Districts) => "district".to_string(),
            Some(LayerKind::H3(r)) => format!("h3_{r}"),
            Some(LayerKind::H3Adaptive) => "h3".to_string(),
        };
        let of = match self.counted {
            Counted::Persons => String::new(),
            Counted::Households => ", households".to_string(),
        };
        write!(
            f,
            "{} ({}{of}) {} {layer} {}",
            self.measure, self.group, self.year, self.unit
        )
    }
}

/// Why a cell is hidden (for the operator, `kmapa protect --explain`; never
/// published): its reason, its true count, and for a cell hidden to protect another,
/// that cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    pub cell: CellRef,
    pub status: CellStatus,
    pub value: u64,
    pub protects: Option<CellRef>,
}

/// Every hidden cell of the tables, with why.
fn explain(cube: &Cube, all: &[YearTables]) -> Vec<Explanation> {
    let mut out = Vec::new();
    for yt in all {
        let units: std::collections::HashMap<usize, (LayerKind, String)> =
            unit_names(cube, &yt.cells).into_iter().collect();
        // A cover of a piece names its first atom: say which piece (the district's part
        // of a published hexagon) it is.
        let mut piece_of: std::collections::HashMap<(usize, usize), String> =
            std::collections::HashMap::new();
        let covered: BTreeSet<usize> = yt
            .tables
            .iter()
            .flat_map(|t| t.cells.iter().filter_map(|c| c.covers))
            .filter(|&(m2, c2)| yt.tables[m2 as usize].cells[c2 as usize].internal)
            .map(|(m2, _)| m2 as usize)
            .collect();
        for m in covered {
            for piece in kmapa_protect::layers::pieces(&yt.tables[m], &yt.cells) {
                let name = piece.label.trim_start_matches("piece ").to_string();
                piece_of.entry((m, piece.cells[0])).or_insert(name);
            }
        }
        let cell_ref = |m: usize, c: usize| {
            let e = &yt.measures[m];
            let (layer, unit) = match units.get(&c) {
                Some((l, u)) => (Some(*l), u.clone()),
                None => (
                    None,
                    piece_of
                        .get(&(m, c))
                        .cloned()
                        .unwrap_or_else(|| yt.tables[m].cells[c].label.clone()),
                ),
            };
            CellRef {
                layer,
                unit,
                measure: e.code.clone(),
                group: e.group.code(),
                counted: e.counted,
                year: yt.year,
            }
        };
        for (m, t) in yt.tables.iter().enumerate() {
            for (c, cell) in t.cells.iter().enumerate() {
                if !cell.status.is_hidden() || (cell.internal && cell.covers.is_none()) {
                    continue;
                }
                out.push(Explanation {
                    cell: cell_ref(m, c),
                    status: cell.status,
                    value: cell.value,
                    protects: cell
                        .covers
                        .map(|(m2, c2)| cell_ref(m2 as usize, c2 as usize)),
                });
            }
        }
    }
    out
}

/// Audits the tier `protected` publishes against the data in `cube`: the hidden
/// pattern is taken from `protected`, the true values from the data.
pub fn audit_public_tier(
    cube: &Cube,
    vocabulary: &Vocabulary,
    population: Option<&PopulationTable>,
    tier: &PublicTier,
    protected: &ProtectedTier,
    earlier: &[ProtectedTier],
) -> Result<TierAudit, TierError> {
    let Some((all, net)) = with_pattern(cube, vocabulary, tier, protected)? else {
        return Ok(TierAudit::default());
    };
    let mut audit = audit_years(cube, vocabulary, population, tier, &net, &all);
    check_differences(cube, &all, &Seen::of(earlier), tier.k, &mut audit);
    check_jointly(cube, &all, earlier, tier, &mut audit);
    Ok(audit)
}

/// What earlier snapshots published, by (unit, measure, group, year): the values
/// shown, and whether any snapshot hid the cell.
struct Seen(std::collections::HashMap<CellKey, (Vec<u32>, bool)>);

/// A published cell's identity: (unit, measure, group, persons or households, year).
type CellKey = (String, String, String, Counted, u16);

impl Entry {
    /// The identity of this table's cell for unit `name` in `year`.
    fn key(&self, name: &str, year: u16) -> CellKey {
        (
            name.to_string(),
            self.code.clone(),
            self.group.code(),
            self.counted,
            year,
        )
    }

    /// `poverty (all)`, `poverty (all, households)`: how reports name the table.
    fn label(&self) -> String {
        match self.counted {
            Counted::Persons => format!("{} ({})", self.code, self.group.code()),
            Counted::Households => format!("{} ({}, households)", self.code, self.group.code()),
        }
    }
}

impl Seen {
    fn of(earlier: &[ProtectedTier]) -> Self {
        let mut m: std::collections::HashMap<_, (Vec<u32>, bool)> =
            std::collections::HashMap::new();
        for t in earlier {
            for c in &t.cells {
                let e = m
                    .entry((
                        c.unit.clone(),
                        c.measure.clone(),
                        c.group.clone(),
                        c.counted,
                        c.year,
                    ))
                    .or_default();
                match c.value {
                    Some(v) if !e.0.contains(&v) => e.0.push(v),
                    Some(_) => {}
                    None => e.1 = true,
                }
            }
        }
        Seen(m)
    }

    /// An earlier published value that differs from `value` by 1..k−1.
    fn small_difference(&self, key: &CellKey, value: u64, k: u64) -> Option<u32> {
        self.0
            .get(key)?
            .0
            .iter()
            .copied()
            .find(|&w| (1..k).contains(&value.abs_diff(u64::from(w))))
    }
}

/// A reader keeps every snapshot, so a new tier is protected against all of them:
/// - a cell an earlier snapshot hid stays hidden (showing it now would narrow what it
///   was then);
/// - a cell published before with the same count stays published (hiding it now would
///   hide nothing), and is never picked to cover another;
/// - a cell published before whose count moved by 1..k−1 (a few late records for a
///   past year, a withdrawn batch) is hidden and protected like a small count: its
///   interval, and so the difference's, is at least the width.
///
/// Where the data did not change, the pattern and the values stay as they were.
fn apply_earlier(cube: &Cube, yt: &mut YearTables, seen: &Seen, k: u64) {
    if seen.0.is_empty() {
        return;
    }
    let units = unit_names(cube, &yt.cells);
    for (m, e) in yt.measures.iter().enumerate() {
        let table = &mut yt.tables[m];
        let mut fixed = vec![false; table.cells.len()];
        for (i, (_, name)) in &units {
            let cell = &mut table.cells[*i];
            if cell.internal || cell.status.is_hidden() {
                continue;
            }
            let key = e.key(name, yt.year);
            let Some((shown, hidden)) = seen.0.get(&key) else {
                continue;
            };
            if *hidden {
                cell.status = if (1..k).contains(&cell.value) {
                    CellStatus::PrimarySuppressed
                } else {
                    CellStatus::SecondarySuppressed
                };
            } else if seen.small_difference(&key, cell.value, k).is_some() {
                cell.status = CellStatus::DifferenceSuppressed;
            } else if shown.iter().any(|&w| u64::from(w) == cell.value) {
                fixed[*i] = true;
            }
        }
        yt.fixed[m] = fixed;
    }
}

/// The audit's check of the same: no cell published now differs by 1..k−1 from what
/// an earlier snapshot published for it, or was hidden by one.
fn check_differences(cube: &Cube, all: &[YearTables], seen: &Seen, k: u64, audit: &mut TierAudit) {
    if seen.0.is_empty() {
        return;
    }
    for yt in all {
        let units = unit_names(cube, &yt.cells);
        for (m, e) in yt.measures.iter().enumerate() {
            for (i, (_, name)) in &units {
                let cell = &yt.tables[m].cells[*i];
                if cell.internal || cell.status.is_hidden() {
                    continue;
                }
                let key = e.key(name, yt.year);
                let mut fail = |what: String| {
                    audit.failures += 1;
                    audit.difference_failures.push(format!(
                        "{} {} {name}: {what}, {} now",
                        e.label(),
                        yt.year,
                        cell.value
                    ));
                };
                if seen.0.get(&key).is_some_and(|s| s.1) {
                    fail("hidden in an earlier snapshot".into());
                }
                if let Some(w) = seen.small_difference(&key, cell.value, k) {
                    fail(format!("published {w} in an earlier snapshot"));
                }
            }
        }
    }
}

/// Each table whose published cells changed since an earlier snapshot, audited
/// together with that snapshot's (`kmapa_protect::snapshots`): no cell's change may be
/// pinned to a small count, no hidden cell narrowed. A reader is assumed to know which
/// way counts moved wherever the published ones agree on it (none fell: records were
/// only added; none rose: only withdrawn), the side knowledge `kmapa publish` gives.
fn check_jointly(
    cube: &Cube,
    all: &[YearTables],
    earlier: &[ProtectedTier],
    tier: &PublicTier,
    audit: &mut TierAudit,
) {
    use kmapa_protect::snapshots::{Direction, Exposure, joint};
    // (year's tables, measure, the table as the earlier snapshot published it, way).
    let mut jobs: Vec<(usize, usize, Table, Direction)> = Vec::new();
    for e in earlier {
        let then: std::collections::HashMap<(&str, &str, &str, Counted, u16), Option<u32>> = e
            .cells
            .iter()
            .map(|c| {
                (
                    (
                        c.unit.as_str(),
                        c.measure.as_str(),
                        c.group.as_str(),
                        c.counted,
                        c.year,
                    ),
                    c.value,
                )
            })
            .collect();
        for (y, yt) in all.iter().enumerate() {
            let units = unit_names(cube, &yt.cells);
            for (m, entry) in yt.measures.iter().enumerate() {
                let now = &yt.tables[m];
                let group = entry.group.code();
                let mut old = now.clone();
                let (mut up, mut down, mut differs, mut any) = (true, true, false, false);
                for (i, (_, name)) in &units {
                    let key = (
                        name.as_str(),
                        entry.code.as_str(),
                        group.as_str(),
                        entry.counted,
                        yt.year,
                    );
                    let published_now = (!now.cells[*i].internal
                        && !now.cells[*i].status.is_hidden())
                    .then_some(now.cells[*i].value);
                    let was = then.get(&key).copied().flatten();
                    any |= then.contains_key(&key);
                    match was {
                        Some(v) => {
                            old.cells[*i].value = u64::from(v);
                            old.cells[*i].status = if v == 0 {
                                CellStatus::Empty
                            } else {
                                CellStatus::Safe
                            };
                        }
                        None => old.cells[*i].status = CellStatus::SecondarySuppressed,
                    }
                    if let (Some(a), Some(b)) = (published_now, was) {
                        up &= a >= u64::from(b);
                        down &= a <= u64::from(b);
                    }
                    differs |= published_now != was.map(u64::from);
                }
                if !any || !differs {
                    continue;
                }
                for (ok, direction) in [(up, Direction::Up), (down, Direction::Down)] {
                    if ok {
                        jobs.push((y, m, old.clone(), direction));
                    }
                }
            }
        }
    }
    let found = crate::run_parallel(jobs.len(), |j| {
        let (y, m, old, direction) = &jobs[j];
        joint(&all[*y].tables[*m], old, *direction, tier.k, tier.width)
    });
    for ((y, m, _, _), found) in jobs.iter().zip(found) {
        if found.is_empty() {
            continue;
        }
        let yt = &all[*y];
        let (entry, now) = (&yt.measures[*m], &yt.tables[*m]);
        let units: std::collections::HashMap<usize, String> = unit_names(cube, &yt.cells)
            .into_iter()
            .map(|(i, (_, n))| (i, n))
            .collect();
        for exposure in found {
            let c = exposure.cell();
            let label = units.get(&c).cloned().unwrap_or(now.cells[c].label.clone());
            let what = match exposure {
                Exposure::Change { change, .. } => {
                    format!("its change since an earlier snapshot is pinned to {change}")
                }
                Exposure::Narrow { lower, upper, .. } => format!(
                    "with an earlier snapshot its interval narrows to [{lower:.1}, {upper:.1}]"
                ),
            };
            audit.failures += 1;
            audit.difference_failures.push(format!(
                "{} {} {label}: {what}",
                entry.label(),
                yt.year
            ));
        }
    }
}

/// What the LP cross-check found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LpCheck {
    pub cells: usize,
    pub agree: usize,
    /// Cells whose max-flow interval differs from the LP solver's.
    pub disagreements: Vec<String>,
}

/// Cross-checks the max-flow audit against the LP solver (microlp): for up to
/// `per_table` hidden cells of every published table, the interval by linear
/// programming over that table's relations must equal the max-flow interval.
pub fn lp_cross_check(
    cube: &Cube,
    vocabulary: &Vocabulary,
    tier: &PublicTier,
    protected: &ProtectedTier,
    per_table: usize,
) -> Result<LpCheck, TierError> {
    let Some((all, net)) = with_pattern(cube, vocabulary, tier, protected)? else {
        return Ok(LpCheck::default());
    };
    let jobs: Vec<(usize, usize)> = all
        .iter()
        .enumerate()
        .flat_map(|(y, yt)| (0..yt.tables.len()).map(move |m| (y, m)))
        .collect();
    let results = crate::run_parallel(jobs.len(), |j| {
        let (y, m) = jobs[j];
        let t = &all[y].tables[m];
        let hidden: Vec<usize> = (0..t.cells.len())
            .filter(|&c| t.cells[c].status.is_hidden() && !t.cells[c].internal)
            .collect();
        if hidden.is_empty() || per_table == 0 {
            return Ok(Vec::new());
        }
        let step = hidden.len().div_ceil(per_table);
        let picked: Vec<usize> = hidden.iter().copied().step_by(step).collect();
        let lp =
            kmapa_protect::audit::audit_only(t, |_| tier.width, false, |c| picked.contains(&c))
                .map_err(|e| e.to_string())?;
        let flow =
            kmapa_protect::flow::audit(t, &net, &kmapa_protect::flow::Bounds::free(t), tier.width);
        Ok::<_, String>(
            lp.intervals
                .iter()
                .map(|l| {
                    let f = flow
                        .intervals
                        .iter()
                        .find(|f| f.cell == l.cell)
                        .expect("audited");
                    let same = (f.lower - l.lower).abs() < 1e-6
                        && (f.upper == l.upper || (f.upper - l.upper).abs() < 1e-6);
                    let e = &all[y].measures[m];
                    (
                        same,
                        format!(
                            "{} {} {}: flow [{}, {}], LP [{}, {}]",
                            e.label(),
                            all[y].year,
                            l.label,
                            f.lower,
                            f.upper,
                            l.lower,
                            l.upper
                        ),
                    )
                })
                .collect(),
        )
    });
    let mut check = LpCheck::default();
    for r in results {
        for (same, what) in r.map_err(TierError::Mismatch)? {
            check.cells += 1;
            if same {
                check.agree += 1;
            } else {
                check.disagreements.push(what);
            }
        }
    }
    Ok(check)
}

/// The tier's tables with the hidden pattern read from `protected`, checked against
/// the data; `None` when there is nothing to audit.
fn with_pattern(
    cube: &Cube,
    vocabulary: &Vocabulary,
    tier: &PublicTier,
    protected: &ProtectedTier,
) -> Result<Option<(Vec<YearTables>, Network)>, TierError> {
    let mut all = all_year_tables(cube, vocabulary, tier)?;
    let Some(first) = all.first() else {
        return Ok(None);
    };
    let net = Network::of(&first.tables[0]).expect("layer tables are networks");
    let status: std::collections::HashMap<(&str, &str, &str, Counted, u16), &PublishedCell> =
        protected
            .cells
            .iter()
            .map(|c| {
                let key = (
                    c.unit.as_str(),
                    c.measure.as_str(),
                    c.group.as_str(),
                    c.counted,
                    c.year,
                );
                (key, c)
            })
            .collect();
    for yt in &mut all {
        let units = unit_names(cube, &yt.cells);
        for (m, e) in yt.measures.iter().enumerate() {
            let (code, group) = (&e.code, e.group.code());
            let label = e.label();
            let mut not_published = BTreeSet::new();
            for (i, (layer, name)) in &units {
                let cell = &mut yt.tables[m].cells[*i];
                if cell.internal {
                    continue;
                }
                let key = (
                    name.as_str(),
                    code.as_str(),
                    group.as_str(),
                    e.counted,
                    yt.year,
                );
                if *layer == LayerKind::H3Adaptive && !status.contains_key(&key) {
                    // The adaptive layer publishes some of the hexagons.
                    not_published.insert(*i);
                    continue;
                }
                let p = status.get(&key).ok_or_else(|| {
                    TierError::Mismatch(format!("{label} {} {name} is missing", yt.year))
                })?;
                if !p.status.is_hidden() && (1..tier.k).contains(&cell.value) {
                    return Err(TierError::Mismatch(format!(
                        "{label} {} {name} publishes {}, under k = {}",
                        yt.year, cell.value, tier.k
                    )));
                }
                if !p.status.is_hidden() && p.value != Some(cell.value as u32) {
                    return Err(TierError::Mismatch(format!(
                        "{label} {} {name} is published as {:?}, the data say {}",
                        yt.year, p.value, cell.value
                    )));
                }
                cell.status = p.status;
            }
            if !not_published.is_empty() {
                let tree = &yt.cells.hex_tree;
                let chosen: Vec<usize> = tree
                    .cells()
                    .into_iter()
                    .filter(|c| !not_published.contains(c))
                    .collect();
                publish_hexagons(&mut yt.tables[m], tree, &chosen);
            }
        }
    }
    Ok(Some((all, net)))
}

/// Each published cell's layer and unit name, by cell index.
fn unit_names(cube: &Cube, cells: &LayerCells) -> Vec<(usize, (LayerKind, String))> {
    let mut out = vec![(cells.city, (LayerKind::City, "city".to_string()))];
    for (p, &i) in &cells.parents {
        out.push((
            i,
            (LayerKind::Parents, cube.parent_codes[*p as usize].clone()),
        ));
    }
    for (d, &i) in &cells.districts {
        out.push((
            i,
            (
                LayerKind::Districts,
                cube.district_codes[*d as usize].clone(),
            ),
        ));
    }
    for (h, &i) in &cells.hexagons {
        let layer = if cells.adaptive_hexagons {
            LayerKind::H3Adaptive
        } else {
            LayerKind::H3(CellIndex::try_from(*h).map_or(0, |c| u8::from(c.resolution())))
        };
        out.push((i, (layer, format!("{h:x}"))));
    }
    out.sort_by_key(|(i, _)| *i);
    out
}

fn audit_years(
    cube: &Cube,
    vocabulary: &Vocabulary,
    population: Option<&PopulationTable>,
    tier: &PublicTier,
    net: &Network,
    all: &[YearTables],
) -> TierAudit {
    let jobs: Vec<(usize, Source)> = (0..all.len())
        .flat_map(|y| Source::ALL.into_iter().map(move |s| (y, s)))
        .collect();
    let reports = crate::run_parallel(jobs.len(), |j| {
        let (y, source) = jobs[j];
        let (f, members) = family(cube, vocabulary, population, &all[y], source);
        let pieces = f.audit_pieces(net, tier.k, tier.width);
        (f.audit(net, tier.width), pieces, members)
    });
    let mut audit = TierAudit::default();
    for ((y, _), (reports, pieces, members)) in jobs.iter().zip(reports) {
        let yt = &all[*y];
        // Pieces (never published): they may be empty, or are as wide as a hidden small
        // count.
        for (intervals, &m) in pieces.iter().zip(&members) {
            for i in intervals {
                audit.internal_cells += 1;
                if !piece_protected(i.value, i.lower, i.upper, tier.k, tier.width) {
                    audit.failures += 1;
                    audit.internal_failures.push(InternalFailure {
                        cell: i.label.clone(),
                        measure: yt.measures[m].code.clone(),
                        group: yt.measures[m].group.code(),
                        counted: yt.measures[m].counted,
                        year: yt.year,
                        lower: i.lower,
                        upper: i.upper.is_finite().then_some(i.upper),
                    });
                }
            }
        }
        for (report, m) in reports.iter().zip(members) {
            for i in &report.intervals {
                let status = yt.tables[m].cells[i.cell].status;
                // Wide enough, and a small count must be able to reach k: a reader
                // must not be able to prove that a hidden cell is a small count.
                let passed = i.protected()
                    && (status != CellStatus::PrimarySuppressed || i.upper + 1e-6 >= tier.k as f64);
                // Internal cells are never hidden: what a reader can work out of them
                // is audited as pieces above.
                debug_assert!(!yt.tables[m].cells[i.cell].internal);
                let (layer, unit) = split_label(&i.label);
                audit.hidden_cells += 1;
                if !passed {
                    audit.failures += 1;
                }
                let w = i.width();
                audit.narrowest_width = Some(audit.narrowest_width.map_or(w, |n| n.min(w)));
                audit.cells.push(AuditedCell {
                    layer,
                    unit,
                    measure: yt.measures[m].code.clone(),
                    group: yt.measures[m].group.code(),
                    counted: yt.measures[m].counted,
                    year: yt.year,
                    status,
                    lower: i.lower,
                    upper: i.upper.is_finite().then_some(i.upper),
                    required_width: i.required_width,
                    passed,
                });
            }
        }
    }
    audit
}

/// The layer and unit of a table cell's label (`district FAB-01`, `hex 881e…`, `city`).
fn split_label(label: &str) -> (LayerKind, String) {
    match label.split_once(' ') {
        Some(("district", u)) => (LayerKind::Districts, u.to_string()),
        Some(("parent", u)) => (LayerKind::Parents, u.to_string()),
        Some(("hex", u)) => {
            let r = u64::from_str_radix(u, 16)
                .ok()
                .and_then(|h| CellIndex::try_from(h).ok())
                .map_or(0, |c| u8::from(c.resolution()));
            (LayerKind::H3(r), u.to_string())
        }
        _ => (LayerKind::City, "city".to_string()),
    }
}

fn publish(
    cube: &Cube,
    population: Option<&PopulationTable>,
    tier: &PublicTier,
    policy_version: &str,
    all: &[YearTables],
) -> ProtectedTier {
    let mut summary = TierSummary {
        k: tier.k,
        width: tier.width,
        years: all.iter().map(|y| y.year).collect(),
        ..Default::default()
    };
    let mut cells = Vec::new();
    for yt in all {
        summary.tables += yt.tables.len();
        let units = unit_names(cube, &yt.cells);
        let residents = residents(cube, population, yt);
        for (m, e) in yt.measures.iter().enumerate() {
            let code = &e.code;
            for (i, (layer, name)) in &units {
                let cell = &yt.tables[m].cells[*i];
                if cell.internal {
                    continue;
                }
                let hidden = cell.status.is_hidden();
                let key = match (e.group, e.counted) {
                    (Group::All, Counted::Persons) => layer_name(*layer),
                    (Group::All, Counted::Households) => {
                        format!("{} households", layer_name(*layer))
                    }
                    _ => format!("{} by breakdown", layer_name(*layer)),
                };
                let loss = summary.layers.entry(key).or_default();
                loss.cells += 1;
                loss.persons += cell.value;
                if cell.value > 0 {
                    loss.non_empty += 1;
                }
                match cell.status {
                    CellStatus::PrimarySuppressed => loss.primary += 1,
                    CellStatus::SecondarySuppressed => loss.secondary += 1,
                    CellStatus::DifferenceSuppressed => loss.difference += 1,
                    _ => {}
                }
                if hidden {
                    loss.hidden_persons += cell.value;
                }
                let value = (!hidden).then_some(cell.value as u32);
                cells.push(PublishedCell {
                    layer: *layer,
                    unit: name.clone(),
                    measure: code.clone(),
                    group: e.group.code(),
                    counted: e.counted,
                    year: yt.year,
                    value,
                    status: cell.status,
                    rate_per_1000: value
                        .and_then(|v| residents.get(i).and_then(|&p| crate::rate_per_1000(v, p))),
                });
            }
        }
    }
    ProtectedTier {
        policy_version: policy_version.to_string(),
        batches: Vec::new(),
        summary,
        cells,
        analyst: None,
    }
}

/// Residents of each district, parent and the city in the year, by table cell index.
fn residents(
    cube: &Cube,
    population: Option<&PopulationTable>,
    yt: &YearTables,
) -> BTreeMap<usize, u64> {
    let mut out = BTreeMap::new();
    let Some(pop) = population else { return out };
    let year = i32::from(yt.year);
    let mut by_parent: BTreeMap<u16, Option<u64>> = BTreeMap::new();
    let mut city = Some(0u64);
    for (d, code) in cube.district_codes.iter().enumerate() {
        let p = pop.get(code, year);
        if let (Some(&i), Some(p)) = (yt.cells.districts.get(&(d as u16)), p) {
            out.insert(i, p);
        }
        city = city.zip(p).map(|(a, b)| a + b);
        if let Some(parent) = cube.parent_of()[d] {
            let e = by_parent.entry(parent).or_insert(Some(0));
            *e = e.zip(p).map(|(a, b)| a + b);
        }
    }
    for (parent, p) in by_parent {
        if let (Some(&i), Some(p)) = (yt.cells.parents.get(&parent), p) {
            out.insert(i, p);
        }
    }
    if let Some(c) = city {
        out.insert(yt.cells.city, c);
    }
    out
}
