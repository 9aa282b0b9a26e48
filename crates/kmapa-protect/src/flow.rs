//! Network tables: the exact audit and fast secondary suppression by network flows.
//!
//! Most of what kmapa publishes is a *network table*: after flipping the sign of some
//! relations, every cell appears in at most two of them, once on each side. Districts
//! summing to parent areas and the city, atoms (district ∩ hexagon) summing to both
//! districts and hexagons, hexagons summing to the city: each relation is conservation
//! of flow at a node, each cell the flow on an edge. τ-ARGUS' ex1 (a two-way table with
//! margins) is one too.
//!
//! On such a table the audit's linear programs are max-flow problems. Starting from the
//! true values (a feasible point), the largest value a hidden cell `e = u → v` can take
//! is its value plus the most flow that can be sent from `v` back to `u` through the
//! other unknown cells (each may grow without bound, or shrink to zero); the smallest is
//! its value minus the most flow from `u` to `v`. The constraint matrix of a network is
//! totally unimodular, so these are at once the LP optimum and the integer optimum: the
//! exact feasibility interval, checked against the LP solver in the tests.
//!
//! The same view gives secondary suppression (after Kelly, Golden and Assad's and
//! Castro's network heuristics): when a hidden cell's interval is too narrow, the
//! cheapest cycle through it that could carry the missing width is found by Dijkstra's
//! algorithm, where unknown cells cost nothing and a published cell costs what hiding
//! it loses (its count, plus one for the cell). Hiding that cycle's published cells lets
//! an attacker's solutions move along the cycle, which widens the interval.
//!
//! [`Bounds`] lets a caller limit how far each cell may move: the public tier uses it
//! for relations between tables (a sub-row never exceeds its parent category, a
//! category never exceeds the unit total). Intervals found under bounds are *inner*
//! bounds: every point the search uses is a feasible solution of the whole system, so
//! the attacker's true interval is at least as wide.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::audit::{AuditReport, Interval};
use crate::suppress::{SuppressError, SuppressionSummary};
use crate::table::{CellStatus, Table};

/// "No limit" in flow computations.
pub const INF: i64 = 1 << 60;

/// A table's relations as a directed graph: each cell an edge between two relation
/// nodes (or the ground node, for a cell in one relation only).
#[derive(Debug, Clone)]
pub struct Network {
    /// Per cell: (tail, head).
    pub(crate) ends: Vec<(u32, u32)>,
    pub(crate) nodes: usize,
}

impl Network {
    /// How many relation nodes (with the ground node).
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// The two relation nodes a cell joins (tail, head).
    pub fn ends(&self, cell: usize) -> (u32, u32) {
        self.ends[cell]
    }
}

impl Network {
    /// The network of `table`, or `None` when the table is not one (a cell in three or
    /// more relations, twice in one, or no consistent signing): use the LP audit then.
    pub fn of(table: &Table) -> Option<Network> {
        let n = table.cells.len();
        let mut occ: Vec<Vec<(u32, i8)>> = vec![Vec::new(); n];
        for (r, rel) in table.relations.iter().enumerate() {
            occ[rel.total].push((r as u32, -1));
            for &p in &rel.parts {
                occ[p].push((r as u32, 1));
            }
        }
        let nr = table.relations.len();
        // Signing: for a cell in r1 (coefficient c1) and r2 (c2), s1·c1 = −s2·c2.
        let mut adj: Vec<Vec<(u32, i8)>> = vec![Vec::new(); nr];
        for o in &occ {
            match o.as_slice() {
                [] | [_] => {}
                [(r1, c1), (r2, c2)] => {
                    if r1 == r2 {
                        return None;
                    }
                    // s2 = −s1·c1·c2
                    let f = -(c1 * c2);
                    adj[*r1 as usize].push((*r2, f));
                    adj[*r2 as usize].push((*r1, f));
                }
                _ => return None,
            }
        }
        let mut sign = vec![0i8; nr];
        for start in 0..nr {
            if sign[start] != 0 {
                continue;
            }
            sign[start] = 1;
            let mut queue = VecDeque::from([start]);
            while let Some(r) = queue.pop_front() {
                for &(o, f) in &adj[r] {
                    let want = sign[r] * f;
                    if sign[o as usize] == 0 {
                        sign[o as usize] = want;
                        queue.push_back(o as usize);
                    } else if sign[o as usize] != want {
                        return None;
                    }
                }
            }
        }
        let ground = nr as u32;
        let ends = occ
            .iter()
            .map(|o| {
                let mut tail = ground;
                let mut head = ground;
                for &(r, c) in o {
                    // Signed coefficient +1: the edge enters the node; −1: it leaves.
                    if sign[r as usize] * c > 0 {
                        head = r;
                    } else {
                        tail = r;
                    }
                }
                (tail, head)
            })
            .collect();
        Some(Network {
            ends,
            nodes: nr + 1,
        })
    }
}

/// How far each cell may move from its true value, beyond what the table's own
/// relations allow: `up[c]` more, `down[c]` less (never below zero).
#[derive(Debug, Clone)]
pub struct Bounds {
    pub up: Vec<i64>,
    pub down: Vec<i64>,
}

impl Bounds {
    /// Only the table's relations and non-negativity.
    pub fn free(table: &Table) -> Self {
        Bounds {
            up: vec![INF; table.cells.len()],
            down: table.cells.iter().map(|c| c.value as i64).collect(),
        }
    }
}

/// The residual graph of the unknown cells around the true values.
pub(crate) struct Residual {
    /// Arc 2i: cell i grows (tail → head); arc 2i+1: it shrinks (head → tail).
    to: Vec<u32>,
    base: Vec<i64>,
    /// The residual capacities: `base` outside [`Residual::max_flow`], which changes
    /// only the arcs it lists in `dirty` and restores them before it returns (a search
    /// touches a few arcs of a large table; copying every arc per search was most of
    /// the public tier's audit).
    cap: Vec<i64>,
    dirty: Vec<u32>,
    out: Vec<Vec<u32>>,
    /// Per cell: its arc pair, if unknown.
    arc_of: Vec<Option<u32>>,
    /// Per node reached from the source, the arc it was reached by; per node reached
    /// back from the sink, the arc it leads on by.
    prev: Vec<u32>,
    next: Vec<u32>,
    /// Per node, the search that last reached it from the source and back from the
    /// sink (`stamp`).
    seen: Vec<u32>,
    seen_back: Vec<u32>,
    stamp: u32,
    queue: Vec<u32>,
    queue_back: Vec<u32>,
    /// The arcs of the last augmenting path.
    path: Vec<u32>,
}

impl Residual {
    fn new(table: &Table, net: &Network, bounds: &Bounds) -> Self {
        Self::with(net, |c| table.unknown(c), &capped(table, bounds))
    }

    /// The residual graph over the cells `unknown` picks; `bounds.down` must not exceed
    /// any cell's value.
    pub(crate) fn with(net: &Network, unknown: impl Fn(usize) -> bool, bounds: &Bounds) -> Self {
        let n = net.ends.len();
        let mut r = Residual {
            to: Vec::new(),
            base: Vec::new(),
            cap: Vec::new(),
            // One node more: a virtual one, for sums of cells (see `region_movement`).
            out: vec![Vec::new(); net.nodes + 1],
            arc_of: vec![None; n],
            prev: vec![0; net.nodes + 1],
            next: vec![0; net.nodes + 1],
            seen: vec![0; net.nodes + 1],
            seen_back: vec![0; net.nodes + 1],
            stamp: 0,
            dirty: Vec::new(),
            queue: Vec::new(),
            queue_back: Vec::new(),
            path: Vec::new(),
        };
        for c in 0..n {
            if !unknown(c) {
                continue;
            }
            let (t, h) = net.ends[c];
            let a = r.to.len() as u32;
            r.arc_of[c] = Some(a);
            r.to.push(h);
            r.base.push(bounds.up[c]);
            r.out[t as usize].push(a);
            r.to.push(t);
            r.base.push(bounds.down[c]);
            r.out[h as usize].push(a + 1);
        }
        r.cap = r.base.clone();
        r
    }

    /// The most flow from `s` to `t` without cell arc pair `skip`, up to `limit`.
    ///
    /// Augmenting paths are found by a breadth-first search from both ends at once,
    /// a level of the smaller frontier at a time: it stops as soon as the two meet, or
    /// as soon as either side has nowhere left to go (proving no path is left, often
    /// from the side of a small subtree), where a search from `s` alone would explore
    /// everything `s` reaches. Which paths carry the flow does not change its value.
    fn max_flow(&mut self, s: u32, t: u32, skip: u32, limit: i64) -> i64 {
        debug_assert!(self.dirty.is_empty() && self.cap == self.base);
        self.cap[skip as usize] = 0;
        self.cap[skip as usize + 1] = 0;
        self.dirty.extend([skip, skip + 1]);
        let mut flow = 0i64;
        while flow < limit {
            let Some(meet) = self.meet(s, t) else {
                break;
            };
            // The path's arcs: s → meet by `prev`, meet → t by `next`.
            let mut path = std::mem::take(&mut self.path);
            path.clear();
            let mut n = meet;
            while n != s {
                let a = self.prev[n as usize];
                path.push(a);
                n = self.to[(a ^ 1) as usize];
            }
            let mut n = meet;
            while n != t {
                let a = self.next[n as usize];
                path.push(a);
                n = self.to[a as usize];
            }
            let push = path
                .iter()
                .fold(limit - flow, |p, &a| p.min(self.cap[a as usize]));
            // Every arc of the path has room (a search follows only those).
            assert!(push > 0, "an augmenting path without room");
            for &a in &path {
                self.cap[a as usize] -= push;
                self.cap[(a ^ 1) as usize] = self.cap[(a ^ 1) as usize].saturating_add(push);
                self.dirty.extend([a, a ^ 1]);
            }
            self.path = path;
            flow += push;
        }
        for a in self.dirty.drain(..) {
            self.cap[a as usize] = self.base[a as usize];
        }
        flow
    }

    /// A node on an augmenting path from `s` to `t` (`s` ≠ `t`), reached from `s` by
    /// `prev` and leading to `t` by `next`; `None` when there is no such path.
    fn meet(&mut self, s: u32, t: u32) -> Option<u32> {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.seen.fill(0);
            self.seen_back.fill(0);
            self.stamp = 1;
        }
        let stamp = self.stamp;
        self.seen[s as usize] = stamp;
        self.seen_back[t as usize] = stamp;
        let (mut forward, mut back) = (
            std::mem::take(&mut self.queue),
            std::mem::take(&mut self.queue_back),
        );
        forward.clear();
        back.clear();
        forward.push(s);
        back.push(t);
        let (mut f, mut b) = (0, 0);
        let mut met = None;
        'search: while f < forward.len() && b < back.len() {
            if forward.len() - f <= back.len() - b {
                // A level forward: arcs out of the frontier with room.
                let end = forward.len();
                while f < end {
                    let n = forward[f];
                    f += 1;
                    for &a in &self.out[n as usize] {
                        let m = self.to[a as usize];
                        if self.cap[a as usize] > 0 && self.seen[m as usize] != stamp {
                            self.seen[m as usize] = stamp;
                            self.prev[m as usize] = a;
                            if self.seen_back[m as usize] == stamp {
                                met = Some(m);
                                break 'search;
                            }
                            forward.push(m);
                        }
                    }
                }
            } else {
                // A level back: arcs into the frontier with room (each arc's pair
                // leaves the frontier node).
                let end = back.len();
                while b < end {
                    let n = back[b];
                    b += 1;
                    for &a in &self.out[n as usize] {
                        let m = self.to[a as usize];
                        let into = a ^ 1;
                        if self.cap[into as usize] > 0 && self.seen_back[m as usize] != stamp {
                            self.seen_back[m as usize] = stamp;
                            self.next[m as usize] = into;
                            if self.seen[m as usize] == stamp {
                                met = Some(m);
                                break 'search;
                            }
                            back.push(m);
                        }
                    }
                }
            }
        }
        self.queue = forward;
        self.queue_back = back;
        met
    }

    /// Sets an arc's capacity outside a flow computation.
    fn set_base(&mut self, a: usize, c: i64) {
        self.base[a] = c;
        self.cap[a] = c;
    }

    /// (how much the unknown cell can grow, how much it can shrink), each up to `limit`.
    pub(crate) fn movement(&mut self, net: &Network, cell: usize, limit: i64) -> (i64, i64) {
        let a = self.arc_of[cell].expect("an unknown cell");
        let (u, v) = net.ends[cell];
        let (up, down) = (self.base[a as usize], self.base[a as usize + 1]);
        if u == v {
            // In no relation: only its bounds hold it.
            return (up.min(limit), down.min(limit));
        }
        let grow = if up > 0 {
            self.max_flow(v, u, a, up.min(limit))
        } else {
            0
        };
        let shrink = if down > 0 {
            self.max_flow(u, v, a, down.min(limit))
        } else {
            0
        };
        (grow, shrink)
    }
}

/// A sum of cells that all join one relation node on the same side (a district's atoms
/// inside one hexagon): see [`Region::of`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Region {
    /// The node every cell of the sum joins (the district's relation).
    pub(crate) hub: u32,
    /// Whether the cells leave the hub (tail) or enter it (head).
    pub(crate) out_of_hub: bool,
    /// Each cell's other end.
    pub(crate) far: Vec<u32>,
}

impl Region {
    /// The region of `cells`, or `None` when they do not share a node on one side.
    pub(crate) fn of(net: &Network, cells: &[usize]) -> Option<Region> {
        let &first = cells.first()?;
        let (t, h) = net.ends[first];
        [(t, true), (h, false)]
            .into_iter()
            .find(|&(hub, out_of_hub)| {
                cells.iter().all(|&c| {
                    let (ct, ch) = net.ends[c];
                    if out_of_hub { ct == hub } else { ch == hub }
                })
            })
            .map(|(hub, out_of_hub)| Region {
                hub,
                out_of_hub,
                far: cells
                    .iter()
                    .map(|&c| {
                        let (ct, ch) = net.ends[c];
                        if out_of_hub { ch } else { ct }
                    })
                    .collect(),
            })
    }

    /// For moving the sum one way (`grows`), with per-cell room `room`: the node the
    /// closing flow starts from and the one it ends at (`None`: the virtual node that
    /// stands for the cells' far ends), and the virtual arcs (from, to, capacity).
    pub(crate) fn circuit(
        &self,
        grows: bool,
        room: &[i64],
        virtual_node: u32,
    ) -> (u32, u32, Vec<(u32, u32, i64)>) {
        // Growing a sum whose cells leave the hub pushes flow out of the hub into the
        // far ends: it comes back from them to the hub. The other three cases follow.
        let from_far = grows == self.out_of_hub;
        let arcs = self
            .far
            .iter()
            .zip(room)
            .map(|(&f, &r)| {
                if from_far {
                    (virtual_node, f, r)
                } else {
                    (f, virtual_node, r)
                }
            })
            .collect();
        if from_far {
            (virtual_node, self.hub, arcs)
        } else {
            (self.hub, virtual_node, arcs)
        }
    }
}

impl Residual {
    /// (how much the sum of `cells` can grow, how much it can shrink), each up to
    /// `limit`. Its own cells are closed and each far end is fed (or drained) by a
    /// virtual node up to its cell's room; `inner` cells (the finer hexagons joining
    /// the far ends: sums of atoms only, whose own bounds follow from the atoms') are
    /// open both ways where unknown.
    pub(crate) fn region_movement(
        &mut self,
        region: &Region,
        cells: &[usize],
        inner: &[usize],
        limit: i64,
    ) -> (i64, i64) {
        let Some(own) = cells
            .iter()
            .map(|&c| self.arc_of[c])
            .collect::<Option<Vec<u32>>>()
        else {
            return (0, 0);
        };
        let open: Vec<u32> = inner.iter().filter_map(|&c| self.arc_of[c]).collect();
        let up: Vec<i64> = own.iter().map(|&a| self.base[a as usize]).collect();
        let down: Vec<i64> = own.iter().map(|&a| self.base[a as usize + 1]).collect();
        let saved: Vec<(usize, i64)> = own
            .iter()
            .chain(&open)
            .flat_map(|&a| [a as usize, a as usize + 1])
            .map(|a| (a, self.base[a]))
            .collect();
        for &a in &own {
            self.set_base(a as usize, 0);
            self.set_base(a as usize + 1, 0);
        }
        for &a in &open {
            self.set_base(a as usize, INF);
            self.set_base(a as usize + 1, INF);
        }
        let virtual_node = (self.out.len() - 1) as u32;
        let run = |r: &mut Self, grows: bool, room: &[i64]| -> i64 {
            let total = room.iter().fold(0i64, |t, &x| t.saturating_add(x));
            if total <= 0 {
                return 0;
            }
            let (s, t, arcs) = region.circuit(grows, room, virtual_node);
            let mark = r.to.len();
            for (x, y, c) in arcs {
                let a = r.to.len() as u32;
                r.to.push(y);
                r.base.push(c);
                r.out[x as usize].push(a);
                r.to.push(x);
                r.base.push(0);
                r.out[y as usize].push(a + 1);
            }
            let have = r.cap.len();
            r.cap.extend_from_slice(&r.base[have..]);
            let flow = r.max_flow(s, t, own[0], total.min(limit));
            r.to.truncate(mark);
            r.base.truncate(mark);
            r.cap.truncate(mark);
            for list in &mut r.out {
                while list.last().is_some_and(|&a| a as usize >= mark) {
                    list.pop();
                }
            }
            flow
        };
        let grow = run(self, true, &up);
        let shrink = run(self, false, &down);
        for (a, v) in saved {
            self.set_base(a, v);
        }
        (grow, shrink)
    }
}

fn interval(table: &Table, cell: usize, grow: i64, shrink: i64, width: f64) -> Interval {
    let c = &table.cells[cell];
    Interval {
        cell,
        label: c.label.clone(),
        value: c.value,
        lower: (c.value as i64 - shrink) as f64,
        upper: if grow >= INF {
            f64::INFINITY
        } else {
            (c.value as i64 + grow) as f64
        },
        required_width: width,
    }
}

/// The audit of a network table: each published-but-hidden cell's exact feasibility
/// interval (or, under `bounds`, an interval the attacker's contains).
pub fn audit(table: &Table, net: &Network, bounds: &Bounds, width: f64) -> AuditReport {
    let mut residual = Residual::new(table, net, bounds);
    let intervals = (0..table.cells.len())
        .filter(|&c| table.cells[c].status.is_hidden() && !table.cells[c].internal)
        .map(|c| {
            let (g, s) = residual.movement(net, c, INF);
            interval(table, c, g, s, width)
        })
        .collect();
    AuditReport { intervals }
}

/// Primary suppression of counts 1..k−1, then secondary suppression along cheapest
/// cycles until every hidden cell can move over at least `width` (see the module
/// documentation). Deterministic: cells are taken in index order and ties in Dijkstra's
/// search are broken by node and cell index.
pub fn protect(
    table: &mut Table,
    net: &Network,
    bounds: &Bounds,
    k: u64,
    width: f64,
) -> Result<SuppressionSummary, SuppressError> {
    let primary = table.suppress_primary(k);
    let mut summary = SuppressionSummary {
        primary,
        ..Default::default()
    };
    let need_width = width.ceil() as i64;
    let mut queue: VecDeque<usize> = (0..table.cells.len())
        .filter(|&c| table.cells[c].status.is_hidden())
        .collect();
    let mut residual = Residual::new(table, net, bounds);
    while let Some(cell) = queue.pop_front() {
        let (grow, shrink) = residual.movement(net, cell, need_width);
        if grow + shrink >= need_width {
            continue;
        }
        summary.audit_rounds += 1;
        let need = need_width - shrink;
        let (u, v) = net.ends[cell];
        let cost = |c: usize| {
            if table.unknown(c) {
                0
            } else {
                table.cells[c].value + 1
            }
        };
        let path = cheapest_cycle(net, &capped(table, bounds), cell, v, u, need, cost)
            .ok_or_else(|| SuppressError::Unprotectable(table.cells[cell].label.clone()))?;
        for c in path {
            if !table.unknown(c) {
                table.hide(c, CellStatus::SecondarySuppressed);
                table.cells[c].covers = Some((0, cell as u32));
                summary.secondary += 1;
                queue.push_back(c);
            }
        }
        residual = Residual::new(table, net, bounds);
        // Look at this cell again: the cycle should have freed it.
        queue.push_front(cell);
    }
    let is_total = {
        let mut t = vec![false; table.cells.len()];
        for r in &table.relations {
            t[r.total] = true;
        }
        t
    };
    summary.hidden_persons = table
        .cells
        .iter()
        .zip(0..)
        .filter(|(c, i)| c.status.is_hidden() && !is_total[*i])
        .map(|(c, _)| c.value)
        .sum();
    Ok(summary)
}

/// The cells over which `need` units can flow from `from` to `to` (closing cycles
/// with `cell`) at least cost: successive cheapest paths in the residual graph (by
/// `bounds`, whose `down` is capped at the values), where a cell costs `cost` the first
/// time a path uses it and nothing after. Several paths may share the load when no
/// single one can carry it (a rare category's small counts). `None` when `need` units
/// cannot flow at all.
pub(crate) fn cheapest_cycle(
    net: &Network,
    bounds: &Bounds,
    cell: usize,
    from: u32,
    to: u32,
    need: i64,
    cost: impl Fn(usize) -> u64,
) -> Option<Vec<usize>> {
    cheapest_flow(net, bounds, &[cell], from, to, need, cost, &[])
}

/// As [`cheapest_cycle`], without any of the cells `closed`, and with `extra` arcs
/// (from, to, capacity; free) that may use the virtual node `net.nodes`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn cheapest_flow(
    net: &Network,
    bounds: &Bounds,
    closed: &[usize],
    from: u32,
    to: u32,
    need: i64,
    cost: impl Fn(usize) -> u64,
    extra: &[(u32, u32, i64)],
) -> Option<Vec<usize>> {
    if from == to {
        return Some(Vec::new());
    }
    let n = net.ends.len();
    let nodes = net.nodes + 1;
    // Arcs by node: (next node, cell or n + extra arc, grows).
    let mut out: Vec<Vec<(u32, u32, bool)>> = vec![Vec::new(); nodes];
    for c in 0..n {
        let (t, h) = net.ends[c];
        if closed.contains(&c) || t == h {
            continue;
        }
        out[t as usize].push((h, c as u32, true));
        out[h as usize].push((t, c as u32, false));
    }
    for (j, &(x, y, _)) in extra.iter().enumerate() {
        out[x as usize].push((y, (n + j) as u32, true));
        out[y as usize].push((x, (n + j) as u32, false));
    }
    let mut flow = vec![0i64; n + extra.len()];
    let mut chosen = vec![false; n + extra.len()];
    let residual = |flow: &[i64], c: usize, grows: bool| -> i64 {
        let (up, down) = if c < n {
            (bounds.up[c], bounds.down[c])
        } else {
            (extra[c - n].2, 0)
        };
        if grows {
            up.saturating_sub(flow[c])
        } else {
            down + flow[c]
        }
    };
    let step_cost = |c: usize| if c < n { cost(c) } else { 0 };
    let mut routed = 0;
    let mut dist = vec![u64::MAX; nodes];
    let mut via: Vec<Option<(u32, u32, bool)>> = vec![None; nodes];
    while routed < need {
        dist.fill(u64::MAX);
        via.fill(None);
        let mut heap = BinaryHeap::new();
        dist[from as usize] = 0;
        heap.push(Reverse((0u64, from)));
        while let Some(Reverse((d, x))) = heap.pop() {
            if d > dist[x as usize] {
                continue;
            }
            if x == to {
                break;
            }
            for &(m, c, grows) in &out[x as usize] {
                if residual(&flow, c as usize, grows) <= 0 {
                    continue;
                }
                let step = if chosen[c as usize] {
                    0
                } else {
                    step_cost(c as usize)
                };
                let nd = d.saturating_add(step);
                if nd < dist[m as usize] {
                    dist[m as usize] = nd;
                    via[m as usize] = Some((x, c, grows));
                    heap.push(Reverse((nd, m)));
                }
            }
        }
        via[to as usize]?;
        let mut push = need - routed;
        let mut x = to;
        while x != from {
            let (p, c, grows) = via[x as usize]?;
            push = push.min(residual(&flow, c as usize, grows));
            x = p;
        }
        let mut x = to;
        while x != from {
            let (p, c, grows) = via[x as usize]?;
            flow[c as usize] += if grows { push } else { -push };
            chosen[c as usize] = true;
            x = p;
        }
        routed += push;
    }
    Some((0..n).filter(|&c| chosen[c]).collect())
}

/// `bounds` with `down` capped at the table's values.
fn capped(table: &Table, bounds: &Bounds) -> Bounds {
    Bounds {
        up: bounds.up.clone(),
        down: (0..table.cells.len())
            .map(|c| bounds.down[c].min(table.cells[c].value as i64))
            .collect(),
    }
}
