//! Families of network tables that are related to each other, protected and audited
//! together.
//!
//! The tables of a family share one layout (cell `i` is the same unit in every table)
//! and one [`Network`]. Besides each table's own relations, an attacker knows
//! relations between tables, cell by cell:
//! - *pairs* `(smaller, larger)`: a sub-row never exceeds its parent category, a
//!   category never exceeds the unit total of its source;
//! - *sums* `(total, parts)`: the unit total never exceeds the sum of its source's
//!   top-level categories.
//!
//! These are inequalities, which no single network can express. The audit therefore
//! works with *witnesses*: explicit solutions of the whole system, every table's
//! relations and every pair and sum included, that an attacker cannot rule out. A
//! witness moves a set `S` of tables together by the same amount along one cycle of
//! cells that are unknown in every table of `S`: each table stays consistent (a cycle
//! is a circulation), relations between two tables of `S` keep holding (both sides
//! move alike), and relations with tables outside `S` hold as long as the move stays
//! within their slack in the true data, which [`Family::bounds`] turns into
//! per-cell limits for a max-flow search. For a hidden cell, the sets tried are its own
//! table; the table with every table above it (its parent category, the unit total);
//! and, for a unit total, the total with each of its parts. Tables with identical
//! counts everywhere always move together.
//!
//! Every interval reported is spanned by witnesses, so the attacker's interval (the LP
//! over the whole system) contains it: the audit can only err on the safe side, and the
//! tests check it against the LP solver on the joint system.
//!
//! Secondary suppression uses the same sets: when a hidden cell cannot move far
//! enough, the cheapest cycle over all candidate sets is hidden in every table of the
//! set (a published cell costs its count plus one, in each table it is hidden in).

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, VecDeque};

use crate::audit::{AuditReport, Interval};
use crate::flow::{Bounds, INF, Network, Region, Residual, cheapest_cycle, cheapest_flow};
use crate::suppress::SuppressionSummary;
use crate::table::{CellStatus, Table};

/// Tables with one layout and the relations between them.
#[derive(Debug, Clone, Default)]
pub struct Family {
    pub tables: Vec<Table>,
    /// `(smaller, larger)`: in every cell, `tables[smaller] ≤ tables[larger]`.
    pub pairs: Vec<(usize, usize)>,
    /// `(total, parts)`: in every cell, `tables[total] ≤ Σ tables[parts]`.
    pub sums: Vec<(usize, Vec<usize>)>,
    /// `(total, parts)`: in every cell, `tables[total] = Σ tables[parts]` (a breakdown:
    /// women + men + sex not recorded = everyone). Parts must also be paired with the
    /// total (`part ≤ total`).
    pub splits: Vec<(usize, Vec<usize>)>,
    /// How much worse than its count it is to hide each cell (by cell; empty: 1 for
    /// all). The public tier weights city and parent-area totals heavily: users miss
    /// them far more than a few more hexagons.
    pub weights: Vec<u64>,
    /// How much worse than its count it is to hide a cell of each table (by table;
    /// empty: 1 for all): a unit total says more than any one category.
    pub table_weights: Vec<u64>,
    /// The most a cell can hold in any table, by cell, when a reader knows it (the
    /// published population of a district, parent area or the city); empty, or `None`
    /// for a cell: no cap. Counts never exceed it, so a witness never moves above it.
    pub caps: Vec<Option<u64>>,
    /// Per table (empty: none), cells that must stay published: an earlier snapshot
    /// published them with the same count, so hiding them now would hide nothing from
    /// a reader who kept it. Secondary suppression never picks them.
    pub fixed: Vec<Vec<bool>>,
    /// Per table (empty: none), for a table of households, the table of the persons
    /// in them. Besides the pair (households ≤ persons), a reader knows that a unit
    /// has a household exactly when it has a person: a witness never takes households
    /// to zero while persons stay, and a persons table may move with its households
    /// (both down together where every person is a household of their own).
    pub households_of: Vec<Option<usize>>,
    /// Per table (empty: none), the pieces a reader could work out by difference and
    /// that must not give away a small count (see [`Piece`]).
    pub pieces: Vec<Vec<Piece>>,
}

/// A sum of internal cells that a reader could work out by difference: a district's
/// part of a published hexagon (its atoms in that hexagon; a district minus the
/// hexagons inside it), or its persons located by district only. A piece with 1..k−1
/// persons must either be able to hold nobody (its interval reaches 0: the reader can
/// prove no one is in it) or be protected like a hidden small count (at least `width`
/// wide, reaching k).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub label: String,
    /// The internal cells it adds up (all joining the district's relation).
    pub cells: Vec<usize>,
    /// The internal cells that join their other ends: the finer hexagons under the
    /// published hexagon (sums of atoms only).
    pub inner: Vec<usize>,
}

/// Whether a piece of `value` persons that can grow by `grow` and shrink by `shrink`
/// is protected: it can be empty, or it is as uncertain as a hidden small count.
pub fn piece_protected(value: u64, lower: f64, upper: f64, k: u64, width: f64) -> bool {
    value == 0
        || value >= k
        || lower <= 1e-6
        || (upper - lower + 1e-6 >= width && upper + 1e-6 >= k as f64)
}

/// What hiding a fixed cell "costs": more than any path of real cells.
const FORBIDDEN: u64 = 1 << 50;

/// How many times [`Family::protect`] forbids a costly secondary cell and tries again,
/// and how many of the costliest it tries each time.
const IMPROVEMENT_ROUNDS: usize = 2;
const IMPROVEMENT_TRIES: usize = 3;
/// How many covers a piece may need before it counts as unprotectable (each cover
/// carries what the piece lacks, so one is almost always enough).
const PIECE_ROUNDS: usize = 4;
/// How many of a top-level category's largest siblings a witness may move the other way.
const SIBLINGS: usize = 3;

/// A cheaper pattern: its cost, the cell forbidden for it, the family and summaries.
type Improved = (u64, (usize, usize), Family, Vec<SuppressionSummary>);

/// Families up to this many cells (all tables) get the improvement rounds: a small
/// city's, where one more hidden total is a large share of the map. On the demo city
/// (families of 13,000–32,000 cells) they found nothing cheaper and took 2.2 s more.
const IMPROVEMENT_MAX_CELLS: usize = 10_000;

#[derive(Debug, thiserror::Error)]
#[error(
    "table {table}: cell {cell} cannot be protected: no cycle of cells around it can move far enough"
)]
pub struct Unprotectable {
    pub table: usize,
    pub cell: String,
}

/// Caches what depends on the set of tables that move together.
struct Sets {
    bounds: HashMap<Moves, Bounds>,
    residual: HashMap<Moves, Residual>,
    /// Per table, the sets a witness may move (they depend on values only).
    candidates: Vec<Vec<Moves>>,
}

/// How far a search for a cell's movement goes.
#[derive(Debug, Clone, Copy)]
struct Goal {
    /// Each direction up to this.
    limit: i64,
    /// Enough once grow + shrink reaches this…
    need: i64,
    /// …and grow reaches this.
    reach: i64,
}

/// Tables that move together, each with its direction (+1 or −1), sorted by table.
type Moves = Vec<(usize, i64)>;

fn plus(set: impl IntoIterator<Item = usize>) -> Moves {
    set.into_iter().map(|m| (m, 1)).collect()
}

impl Sets {
    fn new(f: &Family) -> Self {
        let class = f.classes();
        Sets {
            bounds: HashMap::new(),
            residual: HashMap::new(),
            candidates: (0..f.tables.len())
                .map(|m| f.candidates(m, &class))
                .collect(),
        }
    }
}

impl Family {
    /// Per table, the smallest index of a non-zero table with the same count in every
    /// cell (tables with identical counts always move together).
    fn classes(&self) -> Vec<usize> {
        let mut first: HashMap<Vec<u64>, usize> = HashMap::new();
        self.tables
            .iter()
            .enumerate()
            .map(|(m, t)| {
                let values: Vec<u64> = t.cells.iter().map(|c| c.value).collect();
                if values.iter().all(|&v| v == 0) {
                    return m;
                }
                *first.entry(values).or_insert(m)
            })
            .collect()
    }

    fn closure(&self, class: &[usize], set: &BTreeSet<usize>) -> BTreeSet<usize> {
        (0..self.tables.len())
            .filter(|&o| set.contains(&o) || set.iter().any(|&m| class[m] == class[o]))
            .collect()
    }

    /// `set` and every table above its members through pairs.
    fn with_ancestors(&self, set: &BTreeSet<usize>) -> BTreeSet<usize> {
        let mut s = set.clone();
        let mut queue: Vec<usize> = set.iter().copied().collect();
        while let Some(x) = queue.pop() {
            for &(small, large) in &self.pairs {
                if small == x && s.insert(large) {
                    queue.push(large);
                }
            }
        }
        s
    }

    /// `set` with, for every breakdown total in it, the part `pick` chooses (unless a
    /// part is in already), and tables identical to any of them.
    fn with_parts(
        &self,
        class: &[usize],
        set: BTreeSet<usize>,
        pick: &dyn Fn(&[usize]) -> usize,
    ) -> Vec<usize> {
        let mut s = self.closure(class, &set);
        loop {
            let mut next = s.clone();
            for (total, parts) in &self.splits {
                if next.contains(total) && !parts.iter().any(|p| next.contains(p)) {
                    next.insert(pick(parts));
                }
            }
            let next = self.closure(class, &next);
            if next == s {
                return s.into_iter().collect();
            }
            s = next;
        }
    }

    /// Completes `set` so that it can move: identical tables and ancestors join, and a
    /// split total in the set brings in its `j`-th part (modulo the part count) unless
    /// a part is in already (a total moves only with exactly one part).
    fn complete(&self, class: &[usize], set: BTreeSet<usize>, j: usize) -> Vec<usize> {
        let mut s = set;
        loop {
            let mut next = self.with_ancestors(&self.closure(class, &s));
            for (total, parts) in &self.splits {
                if next.contains(total) && !parts.iter().any(|p| next.contains(p)) {
                    next.insert(parts[j % parts.len()]);
                }
            }
            if next == s {
                return s.into_iter().collect();
            }
            s = next;
        }
    }

    /// The sets of tables a witness for a cell of `m` may move, in order of preference:
    /// its own table; for a breakdown group, the group up and another group of the same
    /// breakdown down (everyone unchanged); its table with everything above it; for a
    /// unit total, the total with each of its parts.
    fn candidates(&self, m: usize, class: &[usize]) -> Vec<Moves> {
        let mut out: Vec<Moves> = Vec::new();
        let mut push = |s: Moves| {
            if !out.contains(&s) {
                out.push(s);
            }
        };
        let own = self.closure(class, &BTreeSet::from([m]));
        push(plus(own.iter().copied()));
        for (_, parts) in &self.splits {
            if !parts.iter().any(|p| own.contains(p)) {
                continue;
            }
            for &q in parts {
                let other = self.closure(class, &BTreeSet::from([q]));
                if other.iter().any(|o| own.contains(o)) {
                    continue;
                }
                let mut s: Moves = plus(own.iter().copied());
                s.extend(other.iter().map(|&o| (o, -1)));
                s.sort_unstable();
                push(s);
            }
        }
        // A breakdown total moves with one group of each breakdown: the largest, or
        // the j-th; first alone, then with everything above.
        let choices = self.splits.iter().map(|(_, p)| p.len()).max().unwrap_or(1);
        let largest = |parts: &[usize]| {
            *parts
                .iter()
                .max_by_key(|&&p| {
                    (
                        self.tables[p].cells.iter().map(|c| c.value).sum::<u64>(),
                        Reverse(p),
                    )
                })
                .expect("a split has parts")
        };
        push(plus(self.with_parts(class, own.clone(), &largest)));
        for j in 0..choices {
            push(plus(self.with_parts(
                class,
                own.clone(),
                &|p: &[usize]| p[j % p.len()],
            )));
        }
        for j in 0..choices {
            push(plus(self.complete(class, own.clone(), j)));
        }
        // With its ancestors one level at a time (a sub-row with its parent category,
        // then with the unit total too): the smaller set hides fewer tables.
        let mut level = own.clone();
        loop {
            let mut next = level.clone();
            for &(small, large) in &self.pairs {
                if level.contains(&small) {
                    next.insert(large);
                }
            }
            let next = self.closure(class, &next);
            if next == level {
                break;
            }
            for j in 0..choices {
                push(plus(self.with_parts(
                    class,
                    next.clone(),
                    &|p: &[usize]| p[j % p.len()],
                )));
            }
            level = next;
        }
        // A top-level category up and another down, the unit total unchanged: the sum
        // of the categories stays the same, so the total need not move (nor be hidden).
        // The largest siblings only: they have the room to move down.
        for (_, parts) in &self.sums {
            if !parts.iter().any(|p| own.contains(p)) {
                continue;
            }
            let mut siblings: Vec<usize> =
                parts.iter().copied().filter(|q| !own.contains(q)).collect();
            siblings.sort_by_key(|&q| {
                (
                    Reverse(self.tables[q].cells.iter().map(|c| c.value).sum::<u64>()),
                    q,
                )
            });
            for &q in siblings.iter().take(SIBLINGS) {
                for j in 0..choices {
                    let pick = |p: &[usize]| p[j % p.len()];
                    let mine = self.with_parts(class, own.clone(), &pick);
                    let other = self.with_parts(class, BTreeSet::from([q]), &pick);
                    if other.iter().any(|o| mine.contains(o)) {
                        continue;
                    }
                    let mut s: Moves = plus(mine);
                    s.extend(other.iter().map(|&o| (o, -1)));
                    s.sort_unstable();
                    push(s);
                }
            }
        }
        let up = self.with_ancestors(&own);
        for (total, parts) in &self.sums {
            if up.contains(total) {
                for &p in parts {
                    for j in 0..choices {
                        let mut s = up.clone();
                        s.insert(p);
                        push(plus(self.complete(class, s, j)));
                    }
                }
            }
        }
        // Persons with their households: a persons cell that cannot shrink below its
        // households alone can with them, and households (never more than their
        // persons) grow with them; so for every set with a table that has households
        // (a category moving with its unit total, whose households are published).
        if out
            .iter()
            .flatten()
            .any(|&(x, _)| self.twins(x).next().is_some())
        {
            for s in out.clone() {
                let mut with = s.clone();
                for &(x, sign) in &s {
                    for t in self.twins(x) {
                        for y in self.closure(class, &BTreeSet::from([t])) {
                            if !with.iter().any(|(z, _)| *z == y) {
                                with.push((y, sign));
                            }
                        }
                    }
                }
                if with.len() == s.len() {
                    continue;
                }
                with.sort_unstable();
                if !out.contains(&with) {
                    out.push(with);
                }
            }
        }
        out
    }

    /// The households table of a persons table, or the persons table of a households one.
    fn twins(&self, m: usize) -> impl Iterator<Item = usize> + '_ {
        self.households_of
            .get(m)
            .copied()
            .flatten()
            .into_iter()
            .chain(
                self.households_of
                    .iter()
                    .enumerate()
                    .filter(move |(_, p)| **p == Some(m))
                    .map(|(h, _)| h),
            )
    }

    fn value(&self, m: usize, c: usize) -> i64 {
        self.tables[m].cells[c].value as i64
    }

    /// How far each cell may move when the tables of `set` move together (a table with
    /// sign −1 moves the opposite way), without breaking any relation with the other
    /// tables' true values, nor going below zero.
    pub fn bounds(&self, set: &[(usize, i64)]) -> Bounds {
        let n = self.tables[set[0].0].cells.len();
        let sign = |m: usize| set.iter().find(|x| x.0 == m).map_or(0, |x| x.1);
        let mut b = Bounds {
            up: vec![INF; n],
            down: vec![INF; n],
        };
        // Moving a cell by d moves table m's cell by sign(m)·d. A relation
        // Σ coefficient·table ≤ slack gives k·d ≤ slack with k = Σ coefficient·sign.
        let limit = |b: &mut Bounds, k: i64, slack: &dyn Fn(usize) -> i64| {
            if k > 0 {
                for c in 0..n {
                    b.up[c] = b.up[c].min(slack(c) / k);
                }
            } else if k < 0 {
                for c in 0..n {
                    b.down[c] = b.down[c].min(slack(c) / -k);
                }
            }
        };
        for &(m, s) in set {
            // −table ≤ value: counts stay non-negative; households stay at least one
            // while their persons do (they reach zero together only where they are
            // equal and move together).
            match self.households_of.get(m).copied().flatten() {
                Some(p) => limit(&mut b, -s, &|c| {
                    let (h, v) = (self.value(m, c), self.value(p, c));
                    if h == 0 || (h == v && sign(p) == s) {
                        h
                    } else {
                        h - 1
                    }
                }),
                None => limit(&mut b, -s, &|c| self.value(m, c)),
            }
            // table ≤ cap: no more persons than residents.
            if !self.caps.is_empty() {
                limit(&mut b, s, &|c| {
                    self.caps[c].map_or(INF, |cap| cap as i64 - self.value(m, c))
                });
            }
        }
        for &(small, large) in &self.pairs {
            let k = sign(small) - sign(large);
            limit(&mut b, k, &|c| self.value(large, c) - self.value(small, c));
        }
        for (total, parts) in &self.sums {
            let k = sign(*total) - parts.iter().map(|&p| sign(p)).sum::<i64>();
            let slack = |c: usize| {
                parts.iter().map(|&p| self.value(p, c)).sum::<i64>() - self.value(*total, c)
            };
            limit(&mut b, k, &slack);
        }
        for (total, parts) in &self.splits {
            // An exact sum: the total moves exactly as its parts do.
            if sign(*total) != parts.iter().map(|&p| sign(p)).sum::<i64>() {
                b.up.fill(0);
                b.down.fill(0);
            }
        }
        debug_assert!(
            b.up.iter().chain(&b.down).all(|&x| x >= 0),
            "relations do not hold"
        );
        b
    }

    fn unknown_in_all(&self, set: &[(usize, i64)], c: usize) -> bool {
        set.iter().all(|&(m, _)| self.tables[m].unknown(c))
    }

    /// How far the cell can move (grow, shrink), over every candidate set, up to
    /// `goal.limit`; stops early once it can move `goal.need` in all and grow by
    /// `goal.reach`.
    fn movement(
        &self,
        net: &Network,
        sets: &mut Sets,
        m: usize,
        cell: usize,
        goal: Goal,
    ) -> (i64, i64) {
        let Goal { limit, need, reach } = goal;
        let value = self.value(m, cell);
        self.best_movement(
            net,
            sets,
            m,
            &[cell],
            |residual| residual.movement(net, cell, limit),
            |grow, shrink| {
                (grow.saturating_add(shrink) >= need && grow >= reach)
                    || (grow >= limit && shrink >= value)
            },
        )
    }

    /// The most each way that `move_in` finds over the candidate sets of table `m` in
    /// which every cell of `cells` is unknown, until `enough` says so.
    fn best_movement(
        &self,
        net: &Network,
        sets: &mut Sets,
        m: usize,
        cells: &[usize],
        move_in: impl Fn(&mut Residual) -> (i64, i64),
        enough: impl Fn(i64, i64) -> bool,
    ) -> (i64, i64) {
        let (mut grow, mut shrink) = (0, 0);
        for set in sets.candidates[m].clone() {
            if !cells.iter().all(|&c| self.unknown_in_all(&set, c)) {
                continue;
            }
            let bounds = sets
                .bounds
                .entry(set.clone())
                .or_insert_with(|| self.bounds(&set));
            let residual = sets
                .residual
                .entry(set.clone())
                .or_insert_with(|| Residual::with(net, |c| self.unknown_in_all(&set, c), bounds));
            let (g, s) = move_in(residual);
            grow = grow.max(g);
            shrink = shrink.max(s);
            if enough(grow, shrink) {
                break;
            }
        }
        (grow, shrink)
    }

    /// What hiding cell `c` in every table of `set` costs (nothing where it is unknown
    /// already; [`FORBIDDEN`] where an earlier snapshot fixed it).
    fn hide_cost(&self, set: &[(usize, i64)], c: usize) -> u64 {
        set.iter()
            .filter(|&&(t, _)| !self.tables[t].unknown(c))
            .map(|&(t, _)| {
                if self.fixed.get(t).and_then(|f| f.get(c)) == Some(&true) {
                    return FORBIDDEN;
                }
                self.cell_cost(t, c)
            })
            .sum()
    }

    /// Hides the known cells of `path` in every table of `set`, as covers of `covers`
    /// (table, cell), and queues them to be protected in turn.
    fn hide_path(
        &mut self,
        set: &[(usize, i64)],
        path: &[usize],
        covers: (usize, usize),
        queue: &mut VecDeque<(usize, usize)>,
        summaries: &mut [SuppressionSummary],
    ) {
        for &(t, _) in set {
            for &c in path {
                if !self.tables[t].unknown(c) {
                    self.tables[t].hide(c, CellStatus::SecondarySuppressed);
                    self.tables[t].cells[c].covers = Some((covers.0 as u32, covers.1 as u32));
                    summaries[t].secondary += 1;
                    queue.push_back((t, c));
                }
            }
        }
    }

    /// A piece's persons in table `m`.
    fn piece_value(&self, m: usize, piece: &Piece) -> i64 {
        piece.cells.iter().map(|&c| self.value(m, c)).sum()
    }

    /// How far piece `p` of table `m` can move (grow, shrink), over every candidate
    /// set, up to `limit`; stops early once it can be emptied or moves as `goal` asks.
    fn piece_movement(
        &self,
        net: &Network,
        sets: &mut Sets,
        m: usize,
        piece: &Piece,
        region: &Region,
        goal: Goal,
    ) -> (i64, i64) {
        let Goal { limit, need, reach } = goal;
        let value = self.piece_value(m, piece);
        self.best_movement(
            net,
            sets,
            m,
            &piece.cells,
            |residual| residual.region_movement(region, &piece.cells, &piece.inner, limit),
            // (The audit asks for everything: it never stops early.)
            |grow, shrink| {
                (shrink >= value && need < INF)
                    || (grow.saturating_add(shrink) >= need && grow >= reach)
            },
        )
    }

    /// Covers pieces until each is protected ([`piece_protected`]): the cheapest cycle
    /// that lets it be emptied, or grow as a hidden small count must, is hidden.
    #[allow(clippy::too_many_arguments)]
    fn protect_pieces(
        &mut self,
        net: &Network,
        sets: &mut Sets,
        queue: &mut VecDeque<(usize, usize)>,
        summaries: &mut [SuppressionSummary],
        k: u64,
        need: i64,
    ) -> Result<(), Unprotectable> {
        let mut todo: Vec<(usize, usize)> = Vec::new();
        for (m, pieces) in self.pieces.iter().enumerate() {
            for (p, piece) in pieces.iter().enumerate() {
                if (1..k as i64).contains(&self.piece_value(m, piece)) {
                    todo.push((m, p));
                }
            }
        }
        for (m, p) in todo {
            let piece = self.pieces[m][p].clone();
            let unprotectable = || Unprotectable {
                table: m,
                cell: piece.label.clone(),
            };
            let region = Region::of(net, &piece.cells).ok_or_else(unprotectable)?;
            let value = self.piece_value(m, &piece);
            let reach = k as i64 - value;
            let goal = Goal {
                limit: need.max(reach),
                need,
                reach,
            };
            let mut rounds = 0;
            loop {
                let (grow, shrink) = self.piece_movement(net, sets, m, &piece, &region, goal);
                if shrink >= value || (grow + shrink >= need && grow >= reach) {
                    break;
                }
                rounds += 1;
                if rounds > PIECE_ROUNDS {
                    return Err(unprotectable());
                }
                summaries[m].audit_rounds += 1;
                // Emptied (the whole cycle shrinks it by all it holds), or widened as a
                // small count (the cycle alone grows it as far as it must).
                let options = [(false, value), (true, (need - shrink).max(reach))];
                let mut best: Option<(u64, Moves, Vec<usize>)> = None;
                for set in sets.candidates[m].clone() {
                    let bounds = sets
                        .bounds
                        .entry(set.clone())
                        .or_insert_with(|| self.bounds(&set));
                    let mut b = bounds.clone();
                    let up: Vec<i64> = piece.cells.iter().map(|&c| b.up[c]).collect();
                    let down: Vec<i64> = piece.cells.iter().map(|&c| b.down[c]).collect();
                    for &c in &piece.inner {
                        b.up[c] = INF;
                        b.down[c] = INF;
                    }
                    let hide_cost = |c: usize| self.hide_cost(&set, c);
                    for (grows, missing) in options {
                        let room = if grows { &up } else { &down };
                        if room.iter().fold(0i64, |t, &x| t.saturating_add(x)) < missing {
                            continue;
                        }
                        let (from, to, arcs) = region.circuit(grows, room, net.nodes() as u32);
                        let Some(path) = cheapest_flow(
                            net,
                            &b,
                            &piece.cells,
                            from,
                            to,
                            missing,
                            hide_cost,
                            &arcs,
                        ) else {
                            continue;
                        };
                        let cost = path.iter().map(|&c| hide_cost(c)).sum::<u64>();
                        if cost >= FORBIDDEN {
                            continue;
                        }
                        if best.as_ref().is_none_or(|b| cost < b.0) {
                            best = Some((cost, set.clone(), path));
                        }
                    }
                }
                let Some((_, set, path)) = best else {
                    return Err(unprotectable());
                };
                self.hide_path(&set, &path, (m, piece.cells[0]), queue, summaries);
                sets.residual.clear();
                self.cover_cells(net, sets, queue, summaries, k, need)?;
            }
        }
        Ok(())
    }

    /// Primary suppression of 1..k−1 in every table, then secondary suppression until
    /// every hidden cell of every table can move over at least `width`. Deterministic.
    ///
    /// The cheapest cycle for one hidden cell at a time can miss a cover shared by
    /// several (two small cells each covered by its own large neighbour, where one
    /// total would cover both). So each of the costliest cells the first pass hid is
    /// then forbidden in turn and the pass run again, keeping the cheapest pattern, for
    /// [`IMPROVEMENT_ROUNDS`] rounds while one costs less (on families of up to
    /// [`IMPROVEMENT_MAX_CELLS`] cells).
    pub fn protect(
        &mut self,
        net: &Network,
        k: u64,
        width: f64,
    ) -> Result<Vec<SuppressionSummary>, Unprotectable> {
        let cells: usize = self.tables.iter().map(|t| t.cells.len()).sum();
        if cells > IMPROVEMENT_MAX_CELLS {
            return self.protect_once(net, k, width);
        }
        let original = self.clone();
        let mut best = self.protect_once(net, k, width)?;
        let mut best_cost = self.secondary_cost();
        let mut forbidden: Vec<(usize, usize)> = Vec::new();
        for _ in 0..IMPROVEMENT_ROUNDS {
            let mut improved: Option<Improved> = None;
            for candidate in self.costliest_secondary(&forbidden, IMPROVEMENT_TRIES) {
                let mut trial = original.clone();
                trial.fixed.resize(trial.tables.len(), Vec::new());
                for (f, table) in trial.fixed.iter_mut().zip(&trial.tables) {
                    f.resize(table.cells.len(), false);
                }
                for &(t, c) in forbidden.iter().chain([&candidate]) {
                    trial.fixed[t][c] = true;
                }
                let Ok(summaries) = trial.protect_once(net, k, width) else {
                    continue;
                };
                let cost = trial.secondary_cost();
                if cost < improved.as_ref().map_or(best_cost, |i| i.0) {
                    improved = Some((cost, candidate, trial, summaries));
                }
            }
            let Some((cost, candidate, mut trial, summaries)) = improved else {
                break;
            };
            trial.fixed = original.fixed.clone();
            *self = trial;
            best = summaries;
            best_cost = cost;
            forbidden.push(candidate);
        }
        Ok(best)
    }

    /// What the secondary cells cost: persons, weighted as the search weighs them.
    pub fn secondary_cost(&self) -> u64 {
        self.tables
            .iter()
            .enumerate()
            .flat_map(|(t, table)| {
                table
                    .cells
                    .iter()
                    .enumerate()
                    .filter(|(_, cell)| cell.status == CellStatus::SecondarySuppressed)
                    .map(move |(c, _)| self.cell_cost(t, c))
            })
            .sum()
    }

    /// What hiding cell `c` of table `t` costs: its count plus one, times the cell's
    /// and the table's weights (the search's and the improvement rounds' measure).
    fn cell_cost(&self, t: usize, c: usize) -> u64 {
        (self.tables[t].cells[c].value + 1)
            * self.weights.get(c).copied().unwrap_or(1)
            * self.table_weights.get(t).copied().unwrap_or(1)
    }

    /// The `n` secondary cells that cost most, not in `forbidden`, costliest first.
    fn costliest_secondary(&self, forbidden: &[(usize, usize)], n: usize) -> Vec<(usize, usize)> {
        let mut all: Vec<(Reverse<u64>, usize, usize)> = Vec::new();
        for (t, table) in self.tables.iter().enumerate() {
            for (c, cell) in table.cells.iter().enumerate() {
                if cell.status != CellStatus::SecondarySuppressed
                    || cell.internal
                    || forbidden.contains(&(t, c))
                {
                    continue;
                }
                all.push((Reverse(self.cell_cost(t, c)), t, c));
            }
        }
        all.sort_unstable();
        all.into_iter().take(n).map(|(_, t, c)| (t, c)).collect()
    }

    /// Hides the cheapest cycles until every hidden cell in `queue` (and every cell
    /// hidden on the way) can move as far as it must.
    #[allow(clippy::too_many_arguments)]
    fn cover_cells(
        &mut self,
        net: &Network,
        sets: &mut Sets,
        queue: &mut VecDeque<(usize, usize)>,
        summaries: &mut [SuppressionSummary],
        k: u64,
        need: i64,
    ) -> Result<(), Unprotectable> {
        while let Some((m, cell)) = queue.pop_front() {
            // A small count must also be able to reach k: a reader must not be able to
            // prove that a hidden cell is a small count.
            let reach = match self.tables[m].cells[cell].status {
                CellStatus::PrimarySuppressed => k as i64 - self.value(m, cell),
                _ => 0,
            };
            let limit = need.max(reach);
            let (grow, shrink) = self.movement(net, sets, m, cell, Goal { limit, need, reach });
            if grow + shrink >= need && grow >= reach {
                continue;
            }
            summaries[m].audit_rounds += 1;
            // The cheapest cycle over every candidate set.
            let missing = (need - shrink).max(reach);
            let (u, v) = net.ends(cell);
            let mut best: Option<(u64, Moves, Vec<usize>)> = None;
            for set in sets.candidates[m].clone() {
                let bounds = sets
                    .bounds
                    .entry(set.clone())
                    .or_insert_with(|| self.bounds(&set));
                if bounds.up[cell] < missing {
                    continue;
                }
                let hide_cost = |c: usize| self.hide_cost(&set, c);
                let Some(path) = cheapest_cycle(net, bounds, cell, v, u, missing, hide_cost) else {
                    continue;
                };
                let cost = hide_cost(cell) + path.iter().map(|&c| hide_cost(c)).sum::<u64>();
                if cost >= FORBIDDEN {
                    // Only through cells an earlier snapshot published as they are.
                    continue;
                }
                if best.as_ref().is_none_or(|b| cost < b.0) {
                    best = Some((cost, set, path));
                }
            }
            let Some((_, set, mut path)) = best else {
                return Err(Unprotectable {
                    table: m,
                    cell: self.tables[m].cells[cell].label.clone(),
                });
            };
            path.push(cell);
            self.hide_path(&set, &path, (m, cell), queue, summaries);
            sets.residual.clear();
            queue.push_front((m, cell));
        }
        Ok(())
    }

    /// One greedy pass of [`Self::protect`].
    fn protect_once(
        &mut self,
        net: &Network,
        k: u64,
        width: f64,
    ) -> Result<Vec<SuppressionSummary>, Unprotectable> {
        let mut summaries: Vec<SuppressionSummary> = self
            .tables
            .iter_mut()
            .map(|t| SuppressionSummary {
                primary: t.suppress_primary(k),
                ..Default::default()
            })
            .collect();
        let need = width.ceil() as i64;
        let mut queue: VecDeque<(usize, usize)> = VecDeque::new();
        for (m, t) in self.tables.iter().enumerate() {
            for c in 0..t.cells.len() {
                if t.cells[c].status.is_hidden() {
                    queue.push_back((m, c));
                }
            }
        }
        let mut sets = Sets::new(self);
        self.cover_cells(net, &mut sets, &mut queue, &mut summaries, k, need)?;
        self.protect_pieces(net, &mut sets, &mut queue, &mut summaries, k, need)?;
        for (t, s) in self.tables.iter().zip(&mut summaries) {
            let mut is_total = vec![false; t.cells.len()];
            for r in &t.relations {
                is_total[r.total] = true;
            }
            s.hidden_persons = t
                .cells
                .iter()
                .zip(&is_total)
                .filter(|(c, total)| c.status.is_hidden() && !c.internal && !**total)
                .map(|(c, _)| c.value)
                .sum();
        }
        Ok(summaries)
    }

    /// The audit of every table: each hidden cell's interval, spanned by witnesses
    /// (contained in the attacker's interval).
    pub fn audit(&self, net: &Network, width: f64) -> Vec<AuditReport> {
        let mut sets = Sets::new(self);
        (0..self.tables.len())
            .map(|m| {
                let t = &self.tables[m];
                let intervals = (0..t.cells.len())
                    // Hidden published cells, and internal cells with a small count.
                    .filter(|&c| t.cells[c].status.is_hidden())
                    .map(|c| {
                        let (grow, shrink) = self.movement(
                            net,
                            &mut sets,
                            m,
                            c,
                            Goal {
                                limit: INF,
                                need: INF,
                                reach: 0,
                            },
                        );
                        let v = t.cells[c].value;
                        Interval {
                            cell: c,
                            label: t.cells[c].label.clone(),
                            value: v,
                            lower: (v as i64 - shrink) as f64,
                            upper: if grow >= INF {
                                f64::INFINITY
                            } else {
                                (v as i64 + grow) as f64
                            },
                            required_width: width,
                        }
                    })
                    .collect();
                AuditReport { intervals }
            })
            .collect()
    }

    /// The audit of every table's pieces with 1..k−1 persons: each piece's interval,
    /// spanned by witnesses (the label is the piece's; `cell`, its first atom). A
    /// piece whose cells do not share a node gets the interval of its value alone.
    pub fn audit_pieces(&self, net: &Network, k: u64, width: f64) -> Vec<Vec<Interval>> {
        let mut sets = Sets::new(self);
        let everything = Goal {
            limit: INF,
            need: INF,
            reach: INF,
        };
        (0..self.tables.len())
            .map(|m| {
                let Some(pieces) = self.pieces.get(m) else {
                    return Vec::new();
                };
                pieces
                    .iter()
                    .filter_map(|piece| {
                        let v = self.piece_value(m, piece);
                        if !(1..k as i64).contains(&v) {
                            return None;
                        }
                        let (grow, shrink) = match Region::of(net, &piece.cells) {
                            Some(region) => {
                                self.piece_movement(net, &mut sets, m, piece, &region, everything)
                            }
                            None => (0, 0),
                        };
                        Some(Interval {
                            cell: piece.cells[0],
                            label: piece.label.clone(),
                            value: v as u64,
                            lower: (v - shrink) as f64,
                            upper: if grow >= INF {
                                f64::INFINITY
                            } else {
                                (v + grow) as f64
                            },
                            required_width: width,
                        })
                    })
                    .collect()
            })
            .collect()
    }
}
