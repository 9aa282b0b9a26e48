//! Builds the protection table of one measure and year over every published layer at
//! once: districts, their parent areas, the city, and hexagons at one or more nested
//! resolutions. The layers do not nest (a hexagon can straddle districts), so they are
//! tied together by internal atoms: the persons of one district in one hexagon of the
//! finest published resolution, and of one district located by district only (no
//! hexagon). Atoms are never published; an attacker knows only that they add up to the
//! published cells. A layer the tier does not publish is built all the same, as
//! internal cells, so that tables of every measure share one layout.
//!
//! The table is a network (see [`crate::flow`]): districts flow into parents and the
//! city, atoms from districts into hexagons, finer hexagons into coarser ones, and the
//! coarsest into the city.

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
    /// Which layers are published (the others are internal).
    pub publish: Published,
    /// Hexagons: empty for none; otherwise, per published resolution from the finest
    /// (the atoms' hexagons) to the coarsest, a map from each atom hexagon to its
    /// ancestor at that resolution (identity for the finest).
    pub hex_levels: Vec<BTreeMap<u64, u64>>,
}

/// Which layers a tier publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub city: bool,
    pub parents: bool,
    pub districts: bool,
    pub hexagons: bool,
}

impl Default for Published {
    fn default() -> Self {
        Published {
            city: true,
            parents: true,
            districts: true,
            hexagons: true,
        }
    }
}

/// Where each unit's cell is in the table.
#[derive(Debug, Clone, Default)]
pub struct LayerCells {
    pub city: usize,
    pub parents: BTreeMap<u16, usize>,
    pub districts: BTreeMap<u16, usize>,
    /// Hexagon cells of every level, by H3 index (which carries the resolution).
    pub hexagons: BTreeMap<u64, usize>,
    /// The internal atoms (district × finest hexagon, or district alone).
    pub atoms: Vec<usize>,
}

pub fn build(counts: &LayerCounts) -> (Table, LayerCells) {
    let mut t = Table::default();
    let mut cells = LayerCells::default();
    let publish = counts.publish;
    let mut atom_ids: BTreeMap<(u16, Option<u64>), usize> = BTreeMap::new();
    for (&(d, h), &v) in &counts.atoms {
        let label = match h {
            Some(h) => format!("atom {}×{h:x}", counts.district_codes[d as usize]),
            None => format!("atom {}×none", counts.district_codes[d as usize]),
        };
        let id = t.internal_cell(label, v);
        atom_ids.insert((d, h), id);
        cells.atoms.push(id);
    }
    let add = |t: &mut Table, label: String, parts: &[usize], published: bool| -> usize {
        let v = parts.iter().map(|&p| t.cells[p].value).sum();
        let id = if published {
            t.cell(label, v)
        } else {
            t.internal_cell(label, v)
        };
        t.relation(id, parts);
        id
    };
    // Districts = their atoms.
    let mut by_district: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
    let mut by_hex: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    let mut no_hex: Vec<usize> = Vec::new();
    for (&(d, h), &id) in &atom_ids {
        by_district.entry(d).or_default().push(id);
        match h {
            Some(h) if !counts.hex_levels.is_empty() => by_hex.entry(h).or_default().push(id),
            _ => no_hex.push(id),
        }
    }
    for (d, parts) in &by_district {
        let label = format!("district {}", counts.district_codes[*d as usize]);
        let id = add(&mut t, label, parts, publish.districts);
        cells.districts.insert(*d, id);
    }
    let total: u64 = counts.atoms.values().sum();
    cells.city = if publish.city {
        t.cell("city", total)
    } else {
        t.internal_cell("city", total)
    };
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
        let label = format!("parent {}", counts.parent_codes[*p as usize]);
        let id = add(&mut t, label, parts, publish.parents);
        cells.parents.insert(*p, id);
    }
    // The city is the sum of the parents (and of districts without one); that it is
    // also the sum of all districts follows, so it is not added again.
    let mut top: Vec<usize> = cells.parents.values().copied().collect();
    top.extend(&orphans);
    t.relation(cells.city, &top);
    if let Some((finest, coarser)) = counts.hex_levels.split_first() {
        debug_assert!(finest.iter().all(|(a, b)| a == b));
        let mut current = finest;
        // Finest hexagons = their atoms; each coarser level = its finer hexagons.
        let mut level: BTreeMap<u64, usize> = BTreeMap::new();
        for (h, parts) in &by_hex {
            let id = add(&mut t, format!("hex {h:x}"), parts, publish.hexagons);
            level.insert(*h, id);
        }
        cells.hexagons.extend(&level);
        for map in coarser {
            // Each hexagon of this level = the hexagons of the previous level under it
            // (found through the atom hexagons both contain).
            let mut children: BTreeMap<u64, std::collections::BTreeSet<usize>> = BTreeMap::new();
            for (atom_hex, previous) in by_hex.keys().zip(previous_of(&by_hex, current)) {
                children
                    .entry(map[atom_hex])
                    .or_default()
                    .insert(level[&previous]);
            }
            level = BTreeMap::new();
            for (h, parts) in &children {
                let parts: Vec<usize> = parts.iter().copied().collect();
                let id = add(&mut t, format!("hex {h:x}"), &parts, publish.hexagons);
                level.insert(*h, id);
            }
            cells.hexagons.extend(&level);
            current = map;
        }
        let mut city_parts: Vec<usize> = level.values().copied().collect();
        city_parts.extend(&no_hex);
        t.relation(cells.city, &city_parts);
    }
    (t, cells)
}

/// The hexagon of the current level each atom hexagon lies in, in `by_hex` order.
fn previous_of<'a>(
    by_hex: &'a BTreeMap<u64, Vec<usize>>,
    current: &'a BTreeMap<u64, u64>,
) -> impl Iterator<Item = u64> + 'a {
    by_hex.keys().map(move |a| current[a])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_hexagon_levels_add_up_and_form_a_network() {
        // Four fine hexagons under two coarse ones; two districts.
        let fine = [0x10u64, 0x11, 0x20, 0x21];
        let coarse = |h: u64| 0x100 + (h & !0xf);
        let mut atoms = BTreeMap::new();
        for (i, &h) in fine.iter().enumerate() {
            atoms.insert((0u16, Some(h)), i as u64 + 1);
            atoms.insert((1u16, Some(h)), 10 * (i as u64 + 1));
        }
        atoms.insert((1, None), 7);
        let counts = LayerCounts {
            atoms,
            parent_of: vec![Some(0), None],
            district_codes: vec!["A".into(), "B".into()],
            parent_codes: vec!["P".into()],
            publish: Published {
                parents: false,
                ..Published::default()
            },
            hex_levels: vec![
                fine.iter().map(|&h| (h, h)).collect(),
                fine.iter().map(|&h| (h, coarse(h))).collect(),
            ],
        };
        let (t, cells) = build(&counts);
        let value = |label: &str| t.cells[t.find(label).unwrap()].value;
        assert_eq!(value("hex 10"), 1 + 10);
        assert_eq!(value("hex 110"), 1 + 2 + 10 + 20);
        assert_eq!(value("hex 120"), 3 + 4 + 30 + 40);
        assert_eq!(value("city"), 110 + 7);
        assert_eq!(cells.hexagons.len(), 6);
        // The parent layer is built but not published.
        assert!(t.cells[cells.parents[&0]].internal);
        assert!(crate::flow::Network::of(&t).is_some());
    }
}
