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
    /// The (district, finest hexagon) of each atom, in the order of `atoms`.
    pub atom_keys: Vec<(u16, Option<u64>)>,
    /// How the hexagon cells nest, by cell index.
    pub hex_tree: HexTree,
    /// Hexagons are published as one adaptive layer ([`adaptive_partition`]) rather
    /// than one layer per resolution (set by the caller that chooses them).
    pub adaptive_hexagons: bool,
}

/// Hexagon cells of every level, as a tree: the coarsest level's cells, and each
/// coarser cell's finer cells.
#[derive(Debug, Clone, Default)]
pub struct HexTree {
    pub top: Vec<usize>,
    pub children: BTreeMap<usize, Vec<usize>>,
    pub parent: BTreeMap<usize, usize>,
}

impl HexTree {
    /// Every hexagon cell, coarsest first.
    pub fn cells(&self) -> Vec<usize> {
        let mut out = self.top.clone();
        let mut i = 0;
        while i < out.len() {
            if let Some(kids) = self.children.get(&out[i]) {
                out.extend(kids);
            }
            i += 1;
        }
        out
    }
}

/// Which hexagons the adaptive layer publishes for one table: each hexagon at the
/// finest level at which it is safe, non-overlapping (like the quadtree grids of
/// statistical institutes). Going down from the coarsest level, a hexagon is split
/// into its finer hexagons only if every one of them holds no one or at least `k`
/// persons; otherwise it is published whole. (Requiring each district's part of a
/// hexagon to be safe too was tried: on the demo city it made the layer four times
/// coarser and hid no fewer persons; the parts are protected by the audit instead.) `whole` are published whole whatever
/// the counts (hexagons merged because a finer one would have to be hidden, or
/// published so by an earlier snapshot); `split` are split whatever the counts (an
/// earlier snapshot published finer hexagons under them).
///
/// A reader who knows this rule learns, of a hexagon published whole, that some finer
/// hexagon under it holds 1..k−1 persons or would have to be hidden: never which one,
/// nor a count (docs/privacy.md).
pub fn adaptive_partition(
    table: &Table,
    tree: &HexTree,
    k: u64,
    whole: &std::collections::BTreeSet<usize>,
    split: &std::collections::BTreeSet<usize>,
) -> Vec<usize> {
    let mut out = Vec::new();
    let mut stack: Vec<usize> = tree.top.iter().rev().copied().collect();
    while let Some(c) = stack.pop() {
        let kids = tree.children.get(&c).filter(|k| !k.is_empty());
        let divide = match kids {
            None => false,
            Some(_) if whole.contains(&c) => false,
            Some(_) if split.contains(&c) => true,
            Some(kids) => kids.iter().all(|&h| {
                let v = table.cells[h].value;
                v == 0 || v >= k
            }),
        };
        match kids {
            Some(kids) if divide => stack.extend(kids.iter().rev()),
            _ => out.push(c),
        }
    }
    out
}

/// Publishes exactly the hexagons `chosen` of the table's hexagon cells; the others
/// become internal. Statuses start afresh (safe, or empty at zero).
pub fn publish_hexagons(table: &mut Table, tree: &HexTree, chosen: &[usize]) {
    let chosen: std::collections::BTreeSet<usize> = chosen.iter().copied().collect();
    for c in tree.cells() {
        let cell = &mut table.cells[c];
        let publish = chosen.contains(&c);
        if cell.internal != publish {
            continue;
        }
        cell.internal = !publish;
        cell.covers = None;
        cell.status = if cell.value == 0 {
            crate::table::CellStatus::Empty
        } else {
            crate::table::CellStatus::Safe
        };
    }
}

/// The pieces of a table that publishes hexagons (see [`crate::family::Piece`]): each
/// district's part of each published hexagon it shares with another district (a
/// hexagon in one district only is its own piece, a published cell), and each
/// district's persons located by district only. None when no hexagon is published.
pub fn pieces(table: &Table, cells: &LayerCells) -> Vec<crate::family::Piece> {
    let published: Vec<usize> = cells
        .hexagons
        .values()
        .copied()
        .filter(|&h| !table.cells[h].internal)
        .collect();
    if published.is_empty() {
        return Vec::new();
    }
    let district_code = |d: u16| -> String {
        cells
            .districts
            .get(&d)
            .map(|&c| {
                table.cells[c]
                    .label
                    .trim_start_matches("district ")
                    .to_string()
            })
            .unwrap_or_else(|| d.to_string())
    };
    // Atoms by the finest hexagon's cell, by district.
    let mut at_leaf: BTreeMap<usize, Vec<(u16, usize)>> = BTreeMap::new();
    let mut out = Vec::new();
    for (&(d, h), &atom) in cells.atom_keys.iter().zip(&cells.atoms) {
        match h {
            Some(h) => {
                if let Some(&leaf) = cells.hexagons.get(&h) {
                    at_leaf.entry(leaf).or_default().push((d, atom));
                }
            }
            None => out.push(crate::family::Piece {
                label: format!("piece {}×none", district_code(d)),
                cells: vec![atom],
                inner: Vec::new(),
            }),
        }
    }
    for h in published {
        let mut inner = Vec::new();
        let mut leaves = Vec::new();
        let mut stack = vec![h];
        while let Some(c) = stack.pop() {
            match cells.hex_tree.children.get(&c).filter(|k| !k.is_empty()) {
                Some(kids) => {
                    inner.extend(kids);
                    stack.extend(kids);
                }
                None => leaves.push(c),
            }
        }
        let mut by_district: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
        for leaf in leaves {
            for &(d, atom) in at_leaf.get(&leaf).into_iter().flatten() {
                by_district.entry(d).or_default().push(atom);
            }
        }
        if by_district.len() < 2 {
            continue;
        }
        inner.sort_unstable();
        let hex = table.cells[h].label.trim_start_matches("hex ").to_string();
        for (d, atoms) in by_district {
            out.push(crate::family::Piece {
                label: format!("piece {}×{hex}", district_code(d)),
                cells: atoms,
                inner: inner.clone(),
            });
        }
    }
    out
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
        cells.atom_keys.push((d, h));
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
        cells.hex_tree.top = level.values().copied().collect();
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
                for &p in &parts {
                    cells.hex_tree.parent.insert(p, id);
                }
                cells.hex_tree.children.insert(id, parts);
                level.insert(*h, id);
            }
            cells.hex_tree.top = level.values().copied().collect();
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

    #[test]
    fn the_adaptive_layer_splits_a_hexagon_only_where_every_finer_one_is_safe() {
        // Two coarse hexagons of two fine ones each, one district.
        let coarse = |h: u64| 0x100 + (h & !0xf);
        let fine = [(0x10u64, 3u64), (0x11, 40), (0x20, 0), (0x21, 15)];
        let counts = LayerCounts {
            atoms: fine.iter().map(|&(h, v)| ((0u16, Some(h)), v)).collect(),
            parent_of: vec![None],
            district_codes: vec!["A".into()],
            parent_codes: vec![],
            publish: Published::default(),
            hex_levels: vec![
                fine.iter().map(|&(h, _)| (h, h)).collect(),
                fine.iter().map(|&(h, _)| (h, coarse(h))).collect(),
            ],
        };
        let (mut t, cells) = build(&counts);
        let id = |h: u64| cells.hexagons[&h];
        let labels = |chosen: &[usize]| {
            let mut l: Vec<&str> = chosen.iter().map(|&c| t.cells[c].label.as_str()).collect();
            l.sort_unstable();
            l.join(", ")
        };
        let none = std::collections::BTreeSet::new();
        // 0x110 holds a fine hexagon of 3 persons: published whole. 0x120's are 0 and
        // 15: split.
        let chosen = adaptive_partition(&t, &cells.hex_tree, 10, &none, &none);
        assert_eq!(labels(&chosen), "hex 110, hex 20, hex 21");
        // Forced either way (a merge, an earlier snapshot's pattern).
        let whole = [id(0x120)].into_iter().collect();
        let split = [id(0x110)].into_iter().collect();
        let forced = adaptive_partition(&t, &cells.hex_tree, 10, &whole, &split);
        assert_eq!(labels(&forced), "hex 10, hex 11, hex 120");
        // Publishing a pattern leaves the rest internal; every person is in exactly
        // one published hexagon.
        publish_hexagons(&mut t, &cells.hex_tree, &chosen);
        let published: u64 = cells
            .hexagons
            .values()
            .filter(|&&c| !t.cells[c].internal)
            .map(|&c| t.cells[c].value)
            .sum();
        assert_eq!(published, 58);
        assert!(t.cells[id(0x10)].internal && !t.cells[id(0x110)].internal);
        assert_eq!(t.cells[id(0x20)].status, crate::table::CellStatus::Empty);
    }
}
