//! The analyst tier as the server sees it: perturbed counts by the Cell Key Method,
//! for the layers, resolutions, years and breakdowns the policy's analyst tier allows.
//! Counts never leave unperturbed; the same people get the same noise in every query.
//! It answers from the snapshot's per-atom counts and cell keys ([`crate::atoms`]),
//! never from records.

use h3o::Resolution;
use kmapa_protect::ckm::PTable;
use kmapa_protect::output::{Analyst, AnalystCell, AnalystQuery, LayerKind, layer_name};
use kmapa_protect::policy::{AnalystTier, Layer};

use crate::atoms::AnalystAtoms;
use crate::{Group, Level, Unit};

pub struct CubeAnalyst {
    atoms: AnalystAtoms,
    tier: AnalystTier,
    ptable: PTable,
    /// Per offered H3 resolution, every hexagon the tier answers for: those anyone in
    /// the data lives in, in any year and measure. The same set for every category,
    /// year and group, so that being listed says nothing about a count.
    hexagons: std::collections::BTreeMap<u8, Vec<u64>>,
    /// Queries the snapshot's audit withholds (crate::analyst_audit).
    withheld: std::collections::HashSet<AnalystQuery>,
}

impl CubeAnalyst {
    /// The analyst tier of `cube` under `tier`, withholding the queries the snapshot's
    /// audit withheld ([`crate::analyst_audit::AnalystAuditor::protect`]).
    pub fn new(atoms: AnalystAtoms, tier: AnalystTier, withheld: &[AnalystQuery]) -> Self {
        let ptable = PTable::generate(tier.ckm.into());
        let hexagons = if tier.layers.contains(&Layer::H3) {
            tier.h3_resolutions
                .iter()
                .filter_map(|&r| Resolution::try_from(r).ok().map(|res| (r, res)))
                .map(|(r, res)| (r, atoms.hexagons(res)))
                .collect()
        } else {
            Default::default()
        };
        CubeAnalyst {
            atoms,
            tier,
            ptable,
            hexagons,
            withheld: withheld.iter().cloned().collect(),
        }
    }

    /// The layers the tier offers, in the policy's order (one per H3 resolution).
    fn kinds(&self) -> Vec<LayerKind> {
        let mut out = Vec::new();
        for l in &self.tier.layers {
            match l {
                Layer::City => out.push(LayerKind::City),
                Layer::Parents => out.push(LayerKind::Parents),
                Layer::Districts => out.push(LayerKind::Districts),
                Layer::H3 => out.extend(self.tier.h3_resolutions.iter().map(|&r| LayerKind::H3(r))),
            }
        }
        out
    }

    /// Every unit of a layer the tier answers for, whatever the counts.
    fn units(&self, level: Level) -> Vec<Unit> {
        match level {
            Level::City => vec![Unit::City],
            Level::Parents => (0..self.atoms.header.parent_codes.len() as u16)
                .map(Unit::Parent)
                .collect(),
            Level::Districts => (0..self.atoms.header.district_codes.len() as u16)
                .map(Unit::District)
                .collect(),
            Level::Hexagons(r) => self
                .hexagons
                .get(&u8::from(r))
                .map(|h| h.iter().map(|&h| Unit::Hex(h)).collect())
                .unwrap_or_default(),
        }
    }
}

impl Analyst for CubeAnalyst {
    fn layers(&self) -> Vec<String> {
        self.kinds().into_iter().map(layer_name).collect()
    }

    fn breakdown_layers(&self) -> Vec<String> {
        self.kinds()
            .into_iter()
            .filter(|k| self.tier.breakdown_layers.contains(&k.policy_layer()))
            .map(layer_name)
            .collect()
    }

    fn groups(&self) -> Vec<String> {
        self.tier
            .breakdowns
            .iter()
            .flat_map(|&b| Group::of(b))
            .map(Group::code)
            .collect()
    }

    fn query(
        &self,
        layer: LayerKind,
        category: &str,
        year: u16,
        group: &str,
    ) -> Result<Vec<AnalystCell>, String> {
        if !self.tier.years.includes(i32::from(year)) {
            return Err(format!("the analyst tier does not publish {year}"));
        }
        let measure = self
            .atoms
            .measure(category)
            .ok_or_else(|| format!("unknown category {category:?} (see /api/v1/vocabulary)"))?;
        let group = Group::parse(group).ok_or_else(|| format!("unknown group {group:?}"))?;
        if group != Group::All && !self.tier.breakdown_layers.contains(&layer.policy_layer()) {
            return Err(format!(
                "{}: breakdowns are answered at {} only",
                group.code(),
                self.breakdown_layers().join(", ")
            ));
        }
        let group_index = self
            .atoms
            .group(group)
            .ok_or_else(|| format!("the analyst tier has no group {:?}", group.code()))?;
        let level = match layer {
            LayerKind::City => Level::City,
            LayerKind::Parents => Level::Parents,
            LayerKind::Districts => Level::Districts,
            LayerKind::H3(r) => Level::Hexagons(
                Resolution::try_from(r).map_err(|_| format!("no H3 resolution {r}"))?,
            ),
            LayerKind::H3Adaptive => {
                return Err("the analyst tier answers hexagons at one resolution each".into());
            }
        };
        let withheld = self.withheld(layer, category, year, &group.code());
        let counts = if withheld {
            Default::default()
        } else {
            self.atoms.counts(level, measure, year, group_index)
        };
        let mut answers: std::collections::BTreeMap<Unit, crate::AnalystCount> = counts
            .into_iter()
            .map(|(unit, (persons, key))| {
                (
                    unit,
                    crate::AnalystCount::of(unit, persons, key, &self.ptable, self.tier.threshold),
                )
            })
            .collect();
        // Units nobody in this cell lives in are answered too, hidden like any count
        // under the threshold: the answer has the same shape whatever the data.
        let mut out: Vec<AnalystCell> = self
            .units(level)
            .into_iter()
            .map(|unit| {
                answers.remove(&unit).unwrap_or(crate::AnalystCount {
                    unit,
                    value: None,
                    status: kmapa_protect::PublicStatus::Hidden,
                })
            })
            .map(|a| AnalystCell {
                unit: match a.unit {
                    Unit::City => "city".into(),
                    Unit::Parent(p) => self.atoms.header.parent_codes[p as usize].clone(),
                    Unit::District(d) => self.atoms.header.district_codes[d as usize].clone(),
                    Unit::Hex(h) => format!("{h:x}"),
                },
                value: a.value,
                status: a.status,
            })
            .collect();
        out.sort_by(|a, b| a.unit.cmp(&b.unit));
        Ok(out)
    }

    fn threshold(&self) -> u64 {
        self.tier.threshold
    }

    fn ptable(&self) -> &PTable {
        &self.ptable
    }

    fn withheld(&self, layer: LayerKind, category: &str, year: u16, group: &str) -> bool {
        !self.withheld.is_empty()
            && self.withheld.contains(&AnalystQuery {
                layer,
                measure: category.to_string(),
                year,
                group: group.to_string(),
            })
    }
}
