//! Builds the protection table of one measure and year over every published layer at
//! once: districts, their parent areas, the city, and hexagons of one resolution. The
//! layers do not nest (a hexagon can straddle districts), so they are tied together by
//! internal atoms: the persons of one district in one hexagon, and of one district
//! located by district only (no hexagon). Atoms are never published; an attacker knows
//! only that they add up to the published cells.

use std::collections::BTreeMap;

use crate::table::Table;

/// Counts of one measure and year, by atom. Atoms are (district, hexagon or `None`).
#[derive(Debug, Clone, Default)]
pub struct LayerCounts {
    /// Every atom that can hold persons (for example, every district × hexagon pair
    /// seen in the data), with this measure's count (zero allowed).
    pub atoms: BTreeMap<(u16, Option<u64>), u64>,
    /// Parent area of each district, by district index.
    pub parent_of: Vec<Option<u16>>,
    pub district_codes: Vec<String>,
    pub parent_codes: Vec<String>,
    /// Publish hexagons (false: districts, parents and city only).
    pub hexagons: bool,
}

/// Where each published unit's cell is in the table.
#[derive(Debug, Clone, Default)]
pub struct LayerCells {
    pub city: usize,
    pub parents: BTreeMap<u16, usize>,
    pub districts: BTreeMap<u16, usize>,
    pub hexagons: BTreeMap<u64, usize>,
}

pub fn build(counts: &LayerCounts) -> (Table, LayerCells) {
    let mut t = Table::default();
    let mut cells = LayerCells::default();
    let mut atom_ids: BTreeMap<(u16, Option<u64>), usize> = BTreeMap::new();
    for (&(d, h), &v) in &counts.atoms {
        let label = match h {
            Some(h) => format!("atom {}×{h:x}", counts.district_codes[d as usize]),
            None => format!("atom {}×none", counts.district_codes[d as usize]),
        };
        atom_ids.insert((d, h), t.internal_cell(label, v));
    }
    // Districts = their atoms.
    let mut by_district: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
    let mut by_hex: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    let mut no_hex: Vec<usize> = Vec::new();
    for (&(d, h), &id) in &atom_ids {
        by_district.entry(d).or_default().push(id);
        match h {
            Some(h) => by_hex.entry(h).or_default().push(id),
            None => no_hex.push(id),
        }
    }
    for (d, parts) in &by_district {
        let v = parts.iter().map(|&p| t.cells[p].value).sum();
        let id = t.cell(
            format!("district {}", counts.district_codes[*d as usize]),
            v,
        );
        t.relation(id, parts);
        cells.districts.insert(*d, id);
    }
    let total: u64 = counts.atoms.values().sum();
    cells.city = t.cell("city", total);
    // Parents = their districts; city = parents (or districts).
    let mut by_parent: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
    let mut orphans = Vec::new();
    for (&d, &id) in &cells.districts {
        match counts.parent_of.get(d as usize).copied().flatten() {
            Some(p) => by_parent.entry(p).or_default().push(id),
            None => orphans.push(id),
        }
    }
    for (p, parts) in &by_parent {
        let v = parts.iter().map(|&c| t.cells[c].value).sum();
        let id = t.cell(format!("parent {}", counts.parent_codes[*p as usize]), v);
        t.relation(id, parts);
        cells.parents.insert(*p, id);
    }
    // The city is the sum of the parents (and of districts without one); that it is
    // also the sum of all districts follows, so it is not added again.
    let mut top: Vec<usize> = cells.parents.values().copied().collect();
    top.extend(&orphans);
    t.relation(cells.city, &top);
    if counts.hexagons {
        for (h, parts) in &by_hex {
            let v = parts.iter().map(|&p| t.cells[p].value).sum();
            let id = t.cell(format!("hex {h:x}"), v);
            t.relation(id, parts);
            cells.hexagons.insert(*h, id);
        }
        let mut city_parts: Vec<usize> = cells.hexagons.values().copied().collect();
        city_parts.extend(&no_hex);
        t.relation(cells.city, &city_parts);
    }
    (t, cells)
}
