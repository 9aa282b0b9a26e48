#!/usr/bin/env python3
"""An outside attacker against kmapa's public tier, independent of kmapa's code.

It reads only what the public API serves (a live `kmapa serve`, or a static export),
builds the linear programs of docs/privacy.md's threat model from it, and solves them
with HiGHS: for every hidden cell, the smallest and largest count consistent with
everything a reader knows. It shares nothing with the Rust protection code: not the
tables, not the relations, not the solver.

What the attacker knows (docs/privacy.md):
- every published value and status, and the words: a hidden cell is `hidden`, nothing
  more; zeros are published as `empty`, but a hidden cell may be zero too;
- the rule: counts 1..k-1 are never published;
- geography: districts in parent areas in the city; H3 hexagons of the published
  resolution; which districts a hexagon can share persons with (from the boundaries
  and the hexagons' res-10 children, which is how kmapa bins); the city is the sum of
  its hexagons and of the persons located by district only (with --all-located, the
  side knowledge that there are none: a district is then exactly the sum of its
  pieces);
- categories: a sub-row never exceeds its parent category, a category never exceeds
  the unit total of its source, the unit total never exceeds the sum of the source's
  top-level categories; in every unit and in every district × hexagon piece;
- the published population: no count exceeds the residents of its unit;
- every earlier snapshot (`--earlier URL`): the same cell in two snapshots, where the
  data did not change, is the same unknown; where the difference of two published
  counts is 1..k-1, that difference is itself a small count found exactly.

It reports every hidden cell pinned narrower than the policy's width, every exact
small count (a hidden cell or a district × hexagon piece pinned to one value in
1..k-1), every hidden cell or piece proved small (at least 1, at most k-1), and exits
1 when it finds any. `--expect-leak` inverts the exit code (used to
show the attacker finds what the old public statuses gave away).
"""

import argparse
import csv
import io
import json
import math
import sys
import time
import urllib.request
from collections import defaultdict

import h3
import highspy
import numpy as np
import shapely
from shapely.geometry import shape


def get(base, path):
    if base.startswith("http"):
        with urllib.request.urlopen(base + path, timeout=300) as r:
            return r.read()
    raise SystemExit(f"{base}: give the URL of a live server")


def get_json(base, path):
    return json.loads(get(base, path))


HOUSEHOLDS = "#households"


class Contradiction(Exception):
    """The published values break a relation the attacker assumed (an exception, not
    SystemExit: in a worker process SystemExit would leave the pool waiting forever)."""


class Published:
    """Everything one snapshot publishes, read from the public API."""

    def __init__(self, base):
        self.base = base
        self.snapshot = get_json(base, "/api/v1/snapshot")
        self.k = int(self.snapshot["k"])
        self.width = float(self.snapshot["width"])
        self.years = list(self.snapshot["years"])
        self.hex_measures = set(self.snapshot.get("hexagon_measures", []))
        self.vocabulary = get_json(base, "/api/v1/vocabulary")
        fc = get_json(base, "/collections/districts/items?limit=10000")
        self.districts = {}
        for f in fc["features"]:
            p = f["properties"]
            self.districts[p["code"]] = {
                "parent": p.get("parent"),
                "population": {int(y): v for y, v in (p.get("population") or {}).items()},
                "geometry": shape(f["geometry"]),
            }
        # Published cells: (layer, unit, measure, group, year) -> (value or None)
        self.cells = {}
        self.hex_layers = [l for l in self.snapshot["layers"] if l.startswith("h3")]
        layers = ["city", "parents", "districts"] + [l.replace("-", "_") for l in self.hex_layers]
        for layer in layers:
            text = get(base, f"/api/v1/table.csv?layer={layer}").decode("utf-8")
            for row in csv.DictReader(io.StringIO(text)):
                status = row["status"]
                if status in ("primary_suppressed", "secondary_suppressed"):
                    # The old public statuses: kept so the attacker can show what they
                    # gave away (--trust-reasons); never served since the fix.
                    pass
                elif status not in ("safe", "empty", "hidden"):
                    raise SystemExit(f"{layer} {row}: unknown public status {status!r}")
                value = None if row["value"] == "" else int(row["value"])
                if (value is None) != (status in ("hidden", "primary_suppressed", "secondary_suppressed")):
                    raise SystemExit(f"{layer} {row}: value and status disagree")
                if row["group"] != "all":
                    raise SystemExit(
                        f"{layer} {row['group']}: breakdown groups are published; this attacker models everyone only"
                    )
                key = (layer, row["unit"], row["category"], row["group"], int(row["year"]))
                self.cells[key] = (value, status)
        # Households (families), where the policy publishes them: a measure of their
        # own, `<code>#households`, at the city, parent areas and districts.
        self.households = set()
        for layer in ("city", "parents", "districts"):
            text = get(base, f"/api/v1/table.csv?layer={layer}&counted=households").decode("utf-8")
            for row in csv.DictReader(io.StringIO(text)):
                if row["counted"] != "households" or row["group"] != "all":
                    raise SystemExit(f"{layer} {row}: not a households row of everyone")
                value = None if row["value"] == "" else int(row["value"])
                if (value is None) != (row["status"] == "hidden"):
                    raise SystemExit(f"{layer} {row}: value and status disagree")
                key = (layer, row["unit"], row["category"] + HOUSEHOLDS, "all", int(row["year"]))
                self.cells[key] = (value, row["status"])
                self.households.add(row["category"])
        self.hexes = sorted({u for (l, u, *_rest) in self.cells if l.startswith("h3")})

    def with_reasons(self, protected_json):
        """The internal reasons (kmapa's protected.json) put back on the hidden cells:
        what the public API said before one status replaced them ("fewer than k" for
        a small count). Only to show what those words gave away."""
        with open(protected_json) as f:
            tier = json.load(f)
        n = 0
        for c in tier["cells"]:
            layer = c["layer"] if isinstance(c["layer"], str) else f"h3_{c['layer']['h3']}"
            measure = c["measure"] + (HOUSEHOLDS if c.get("counted") == "households" else "")
            key = (layer, c["unit"], measure, c["group"], c["year"])
            if key in self.cells and self.cells[key][0] is None:
                self.cells[key] = (None, c["status"])
                n += 1
        return n


def pieces(pub):
    """(district, hexagon) pairs that can hold persons: the hexagon's res-10 children
    (kmapa bins at res 10 and counts hexagons as their parents) touch the district."""
    return pieces_of(pub, pub.hexes)


def pieces_of(pub, hexes):
    """As pieces, for the hexagons given."""
    if not hexes:
        return []
    codes = list(pub.districts)
    geoms = [pub.districts[c]["geometry"] for c in codes]
    tree = shapely.STRtree(geoms)
    out = []
    for h in hexes:
        children = h3.cell_to_children(h, 10)
        area = shape(h3.cells_to_geo(children))
        for i in tree.query(area, predicate="intersects"):
            out.append((codes[i], h))
    return out


class Family:
    """The linear system of one source in one year: every measure's cells at every
    layer, the district × hexagon pieces, and the relations between measures."""

    def __init__(self, pub, source, year, pairs, located_only, trust_reasons):
        self.pub = pub
        self.k = pub.k
        self.enough = math.ceil(pub.width)
        cats = [c for c in pub.vocabulary if c["source"] == source and year in c["years"]]
        total = f"any_{source.lower()}"
        self.measures = [c["code"] for c in cats] + [total]
        parent_of_cat = {c["code"]: c["parent"] for c in cats}
        self.lb, self.ub, self.names = [], [], []
        self.rows = []  # (coefs dict var->coef, const, sense) meaning sum(coef x) + const (==|<=) 0
        self.var = {}
        self.hidden = []  # (var, key)
        self.integer = set()
        self.pieces = []  # (var, measure, district, hex)
        self.known = {}
        self.hex_of = {}  # measure -> (layer, its hexagons, its pieces by (district, hexagon))

        def cell(layer, unit, m):
            key = (layer, unit, m, "all", year)
            if key not in pub.cells:
                return None
            value, status = pub.cells[key]
            if value is not None:
                return ("const", value)
            if key not in self.var:
                lo, hi = 0.0, math.inf
                if trust_reasons and status == "primary_suppressed":
                    # What the old public words said: "fewer than k people".
                    lo, hi = 1.0, float(self.k - 1)
                self.var[key] = self.new(lo, hi, str(key))
                self.hidden.append((self.var[key], key))
                if trust_reasons == "full" and status == "secondary_suppressed":
                    # Only safe or empty cells were chosen to cover others: 0 or >= k.
                    z = self.new(0.0, 1.0, f"{key} is not empty")
                    self.integer.add(z)
                    x = ("var", self.var[key])
                    self._row([(1.0, x), (-1e6, ("var", z))], "le")
                    self._row([(-1.0, x), (float(self.k), ("var", z))], "le")
            return ("var", self.var[key])

        districts = pub.districts
        parents = sorted({d["parent"] for d in districts.values() if d["parent"]})
        units = {}  # (layer, unit, m) -> term
        self.units = units

        def geography(m):
            """The city, parent areas and districts of measure m: parents = their
            districts; the city = parents (+ districts in none)."""
            units[("city", "city", m)] = cell("city", "city", m)
            for p in parents:
                units[("parents", p, m)] = cell("parents", p, m)
            for d in districts:
                units[("districts", d, m)] = cell("districts", d, m)
            for p in parents:
                self.eq(units[("parents", p, m)], [units[("districts", d, m)] for d in districts if districts[d]["parent"] == p])
            self.eq(units[("city", "city", m)],
                    [units[("parents", p, m)] for p in parents]
                    + [units[("districts", d, m)] for d in districts if not districts[d]["parent"]])

        for m in self.measures:
            geography(m)
            # Population.
            for d, info in districts.items():
                pop = info["population"].get(year)
                if pop is not None:
                    self.le(units[("districts", d, m)], pop)
            # Hexagons, tied to districts through pieces. On the adaptive layer (`h3`)
            # each measure has its own hexagons, of mixed resolutions.
            layer = pub.hex_layers[0].replace("-", "_") if pub.hex_layers else None
            hexes = [h for h in pub.hexes if (layer, h, m, "all", year) in pub.cells] if layer else []
            on_hex = bool(hexes) and (m in pub.hex_measures)
            if on_hex:
                mine = set(hexes)
                by_hex = defaultdict(list)
                for (d, h) in pairs:
                    if h in mine:
                        by_hex[h].append(d)
                piece = {}
                for h in hexes:
                    units[(layer, h, m)] = cell(layer, h, m)
                    if len(by_hex[h]) == 1:
                        # A hexagon in one district only: its one piece is the hexagon.
                        piece[(by_hex[h][0], h)] = units[(layer, h, m)]
                        continue
                    for d in by_hex[h]:
                        v = self.new(0.0, math.inf, f"piece {m} {d}×{h}")
                        piece[(d, h)] = ("var", v)
                        self.pieces.append((v, m, d, h))
                    self.eq(units[(layer, h, m)], [piece[(d, h)] for d in by_hex[h]])
                none_var = {}
                if not located_only:
                    for d in districts:
                        none_var[d] = self.new(0.0, math.inf, f"piece {m} {d}×none")
                for d in districts:
                    parts = [piece[(dd, h)] for (dd, h) in pairs if dd == d and h in mine]
                    if d in none_var:
                        parts.append(("var", none_var[d]))
                    self.eq(units[("districts", d, m)], parts)
                self.eq(units[("city", "city", m)],
                        [units[(layer, h, m)] for h in hexes] + [("var", v) for v in none_var.values()])
                for (d, h), t in piece.items():
                    if len(by_hex[h]) > 1:
                        units[("piece", f"{d}×{h}", m)] = t
                for d, v in none_var.items():
                    units[("piece", f"{d}×none", m)] = ("var", v)
                self.hex_of[m] = (layer, hexes, piece)
        # Households of the measures published that way: the same geography, at most
        # the persons of the same measure and unit, at least one where persons are
        # shown to be some (and persons where households are), and among themselves
        # as persons are (a sub-row's at most its category's, a category's at most the
        # total's; the total at most the sum of the top categories' where all are
        # published).
        hh = [m for m in self.measures if m in pub.households]
        for m in hh:
            hm = m + HOUSEHOLDS
            geography(hm)
            for (l, u, mm), x in list(units.items()):
                if mm != hm or x is None:
                    continue
                persons = units.get((l, u, m))
                self.le_terms(x, persons)
                if x[0] == "const" and x[1] >= 1 and persons is not None and persons[0] == "var":
                    self._row([(-1.0, persons), (1.0, ("const", 1.0))], "le")
                if persons is not None and persons[0] == "const" and persons[1] >= 1 and x[0] == "var":
                    self._row([(-1.0, x), (1.0, ("const", 1.0))], "le")
                parent = parent_of_cat.get(m) if m != total else None
                up = parent if parent in hh else (total if m != total and total in hh and not parent else None)
                if up is not None and (l, u, up + HOUSEHOLDS) in units:
                    self.le_terms(x, units[(l, u, up + HOUSEHOLDS)])
        # Relations between measures, unit by unit (and piece by piece where both
        # measures are on hexagons).
        tops = [c for c in self.measures[:-1] if not parent_of_cat.get(c)]
        keys = {(l, u) for (l, u, _m) in units}
        for (l, u) in keys:
            t = units.get((l, u, total))
            for c in self.measures[:-1]:
                x = units.get((l, u, c))
                if x is None:
                    continue
                parent = parent_of_cat.get(c)
                if parent and (l, u, parent) in units:
                    self.le_terms(x, units[(l, u, parent)])
                if t is not None and not parent:
                    self.le_terms(x, t)
            if t is not None and all((l, u, c) in units for c in tops) and tops:
                self.sum_ge(t, [units[(l, u, c)] for c in tops])
            th = units.get((l, u, total + HOUSEHOLDS))
            if th is not None and tops and all((l, u, c + HOUSEHOLDS) in units for c in tops):
                self.sum_ge(th, [units[(l, u, c + HOUSEHOLDS)] for c in tops])
        # Where two related measures have different hexagons (the adaptive layer), the
        # relation holds between the finer hexagons' sum and the coarser hexagon that
        # holds them, hexagon by hexagon and piece by piece.
        for c in self.measures[:-1]:
            large = parent_of_cat.get(c) or total
            if c in self.hex_of and large in self.hex_of:
                self.nested_le(c, large)

    def new(self, lo, hi, name):
        self.lb.append(lo)
        self.ub.append(hi)
        self.names.append(name)
        return len(self.lb) - 1

    def _row(self, terms, sense):
        coefs = defaultdict(float)
        const = 0.0
        for coef, t in terms:
            if t is None:
                return
            if t[0] == "const":
                const += coef * t[1]
            else:
                coefs[t[1]] += coef
        coefs = {k: v for k, v in coefs.items() if v != 0}
        if not coefs:
            if (sense == "eq" and abs(const) > 1e-9) or (sense == "le" and const > 1e-9):
                raise Contradiction(f"published values contradict a relation ({sense}, {const})")
            return
        self.rows.append((coefs, const, sense))

    def eq(self, total, parts):
        if total is None or any(p is None for p in parts):
            return
        self._row([(-1.0, total)] + [(1.0, p) for p in parts], "eq")

    def le(self, x, bound):
        self._row([(1.0, x), (-1.0, ("const", bound))], "le")

    def le_terms(self, small, large):
        self._row([(1.0, small), (-1.0, large)], "le")

    def nested_le(self, m_small, m_large):
        """small ≤ large between two measures whose hexagons differ: for each hexagon
        of one that holds several of the other's, the sum of those against it."""
        (layer, hs, ps), (_, hl, pl) = self.hex_of[m_small], self.hex_of[m_large]
        if set(hs) == set(hl):
            return  # the same hexagons: related unit by unit above
        def under(fine_side):
            """Each coarser hexagon -> the hexagons of fine_side strictly inside it."""
            out = defaultdict(list)
            for f in fine_side:
                for r in range(h3.get_resolution(f)):
                    out[h3.cell_to_parent(f, r)].append(f)
            return out
        def pieces_by_district(p):
            out = defaultdict(dict)
            for (d, h), t in p.items():
                out[d][h] = t
            return out
        small_p, large_p = pieces_by_district(ps), pieces_by_district(pl)
        pairs = [(hl, hs, False), (hs, hl, True)]  # (coarse side, fine side, small is coarse)
        for coarse_side, fine_side, small_coarse in pairs:
            index = under(fine_side)
            for c in coarse_side:
                inside = index.get(c, [])
                if not inside:
                    continue
                if small_coarse:
                    cterm = self.units.get((layer, c, m_small))
                    fterms = [self.units.get((layer, f, m_large)) for f in inside]
                    self._row([(1.0, cterm)] + [(-1.0, t) for t in fterms], "le")
                else:
                    cterm = self.units.get((layer, c, m_large))
                    fterms = [self.units.get((layer, f, m_small)) for f in inside]
                    self._row([(-1.0, cterm)] + [(1.0, t) for t in fterms], "le")
                for d in set(small_p) | set(large_p):
                    cp = (small_p if small_coarse else large_p)[d].get(c)
                    fp = [(large_p if small_coarse else small_p)[d].get(f) for f in inside]
                    fp = [t for t in fp if t is not None]
                    if cp is None and not fp:
                        continue
                    if small_coarse:
                        if cp is None:
                            continue
                        self._row([(1.0, cp)] + [(-1.0, t) for t in fp], "le")
                    else:
                        if cp is None:
                            # No piece of the large measure here: the small one's are 0.
                            for t in fp:
                                self._row([(1.0, t)], "le")
                            continue
                        self._row([(-1.0, cp)] + [(1.0, t) for t in fp], "le")

    def sum_ge(self, total, parts):
        self._row([(1.0, total)] + [(-1.0, p) for p in parts], "le")

    def components(self):
        """Unknowns that share a relation, transitively: each component is solved on
        its own (the others cannot move it)."""
        parent = list(range(len(self.lb)))

        def find(x):
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for coefs, _, _ in self.rows:
            vs = list(coefs)
            for v in vs[1:]:
                a, b = find(vs[0]), find(v)
                if a != b:
                    parent[a] = b
        comp = defaultdict(list)
        for v in range(len(self.lb)):
            comp[find(v)].append(v)
        rows = defaultdict(list)
        for r in self.rows:
            rows[find(next(iter(r[0])))].append(r)
        return [(vs, rows[root]) for root, vs in comp.items()]

    def solve(self, targets):
        """(min, max) of each target variable; None when the system is infeasible."""
        wanted = set(targets)
        out = {}
        inf = highspy.kHighsInf
        for vs, rows in self.components():
            goals = [v for v in vs if v in wanted]
            if not goals and not rows:
                continue
            local = {v: i for i, v in enumerate(vs)}
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
            # Primal simplex: a new objective keeps the last basis feasible, so each
            # target re-solves from there (about 6x faster than dual here).
            h.setOptionValue("simplex_strategy", 4)
            h.addVars(len(vs), np.array([self.lb[v] for v in vs]),
                      np.array([inf if math.isinf(self.ub[v]) else self.ub[v] for v in vs]))
            for v in vs:
                if v in self.integer:
                    h.changeColIntegrality(local[v], highspy.HighsVarType.kInteger)
            for coefs, const, sense in rows:
                idx = np.array([local[v] for v in coefs], dtype=np.int32)
                val = np.array(list(coefs.values()))
                h.addRow(-const if sense == "eq" else -inf, -const, len(idx), idx, val)
            h.run()
            if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                return None
            for v in goals:
                i = local[v]
                h.changeColCost(i, 1.0)
                h.run()
                if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                    raise SystemExit(f"{self.names[v]}: solver status {h.getModelStatus()}")
                lo = h.getInfo().objective_function_value
                # The largest value only matters up to where the interval is wide
                # enough and reaches k: capping it there saves most of the pivoting.
                # A cell that reaches the cap is reported at the cap.
                cap = max(math.ceil(lo) + self.enough, self.k) + 1
                if cap < self.ub[v]:
                    h.changeColBounds(i, self.lb[v], cap)
                h.changeColCost(i, -1.0)
                h.run()
                st = h.getModelStatus()
                if st == highspy.HighsModelStatus.kUnbounded:
                    hi = math.inf
                elif st == highspy.HighsModelStatus.kOptimal:
                    hi = -h.getInfo().objective_function_value
                else:
                    raise SystemExit(f"{self.names[v]}: solver status {st}")
                if cap < self.ub[v]:
                    h.changeColBounds(i, self.lb[v], inf if math.isinf(self.ub[v]) else self.ub[v])
                h.changeColCost(i, 0.0)
                out[v] = (lo, hi)
        return out


def joint(new, old, additions_only):
    """One system of two snapshots' families: the old one's unknowns follow the new
    one's. A table whose published values and hidden cells are the same in both is
    taken as unchanged (its unknowns are shared); with `additions_only` (only late
    records came in), no count went down. Returns the difference variables: for every
    unit or piece unknown in either snapshot, new − old."""
    off = len(new.lb)
    new.lb += old.lb
    new.ub += old.ub
    new.names += [f"earlier {n}" for n in old.names]
    new.integer |= {v + off for v in old.integer}
    shift = lambda t: t if t is None or t[0] == "const" else ("var", t[1] + off)
    for coefs, const, sense in old.rows:
        new.rows.append(({v + off: c for v, c in coefs.items()}, const, sense))
    # Tables that look unchanged.
    by_table = defaultdict(list)
    for key in new.units:
        if key in old.units:
            by_table[key[2]].append(key)
    unchanged = set()
    for m, keys in by_table.items():
        same = True
        for key in keys:
            a, b = new.units[key], old.units[key]
            if a is None or b is None:
                continue
            if (a[0] == "const") != (b[0] == "const") or (a[0] == "const" and a[1] != b[1]):
                same = False
                break
        if same:
            unchanged.add(m)
    # The earlier snapshot's hidden cells are attacked too, with everything now known.
    new.hidden += [(v + off, (f"earlier {key[0]}",) + key[1:]) for v, key in old.hidden]
    diffs = []
    for key, a in new.units.items():
        b = old.units.get(key)
        if a is None or b is None:
            continue
        b = shift(b)
        if key[2] in unchanged:
            new.eq(a, [b])
            continue
        if additions_only:
            new.le_terms(b, a)
        if a[0] == "var" or b[0] == "var":
            d = new.new(-math.inf, math.inf, f"difference {key}")
            new._row([(1.0, ("var", d)), (-1.0, a), (1.0, b)], "eq")
            diffs.append((d, key))
    return diffs, unchanged


def attack_family(job):
    """Findings in one source × year (run in a worker process)."""
    pub, pairs, args, earlier = JOB_CONTEXT
    year, source = job
    findings = []
    result = None
    diffs = []
    # --all-located is stronger than the truth where the published values allow it;
    # where they contradict it (a district whose located persons are all in hexagons
    # inside it, plus some located by district only), the attacker falls back to the
    # truth for that family.
    for located_only in ((True, False) if args.all_located else (False,)):
        try:
            fam = Family(pub, source, year, pairs, located_only, args.trust_reasons)
            targets = [v for v, _ in fam.hidden]
            if args.pieces:
                targets += [v for v, *_ in fam.pieces]
            if earlier is not None and year in earlier.years:
                old = Family(earlier, source, year, pairs, located_only, False)
                diffs, unchanged = joint(fam, old, args.additions_only)
                # A table that did not change shares its unknowns with the earlier one:
                # together they say what each says alone (attacked in the plain run).
                fam.hidden = [(v, key) for v, key in fam.hidden if key[2] not in unchanged]
                diffs = [(d, key) for d, key in diffs if key[2] not in unchanged]
                targets = [v for v, _ in fam.hidden] + [d for d, _ in diffs]
        except Contradiction as e:
            if located_only:
                continue
            return [("contradiction", f"{source} {year}: {e}")], 0, f"  {source} {year}: {e}"
        # A hidden cell is settled by solutions at least the width apart that reach 0
        # or k (neither narrow, nor exact, nor proved small); a piece or a difference
        # by solutions at two integers that reach 0 or k (a piece) or anywhere (a
        # difference).
        kind = {v: "hidden" for v, _ in fam.hidden}
        if args.pieces:
            kind.update((v, "piece") for v, *_ in fam.pieces)
        kind.update((d, "difference") for d, _ in diffs)
        k, width = pub.k, pub.width

        def settled(v, lo, hi):
            apart = floor_(hi) - ceil_(lo)
            reaches = ceil_(lo) <= 0 or floor_(hi) >= k
            return {"hidden": apart >= width and reaches,
                    "piece": apart >= 1 and reaches,
                    "difference": apart >= 1}[kind[v]]

        open_, seen = open_after_sweeps(fam, targets, settled)
        result = fam.solve(open_)
        if result is not None:
            result.update(seen)
            break
    if result is None:
        raise SystemExit(f"{source} {year}: the published values contradict the relations"
                         + (" (with --all-located: are some persons located by district only?)" if args.all_located else ""))
    checked = 0
    for v, key in fam.hidden:
        lo, hi = result[v]
        checked += 1
        lo_i, hi_i = math.ceil(lo - 1e-6), (math.inf if math.isinf(hi) else math.floor(hi + 1e-6))
        layer, unit, m, group, y = key
        what = f"{source} {y} {m} {layer} {unit}: [{lo_i}, {hi_i}]"
        if lo_i == hi_i and 1 <= lo_i < pub.k:
            findings.append(("exact small count", what))
        elif hi_i - lo_i < pub.width - 1e-6:
            findings.append(("narrower than the width", what))
        elif hi_i < pub.k and lo_i >= 1:
            findings.append(("proved small", what))
    if args.pieces:
        for v, m, d, h in fam.pieces:
            lo, hi = result[v]
            lo_i, hi_i = math.ceil(lo - 1e-6), (math.inf if math.isinf(hi) else math.floor(hi + 1e-6))
            checked += 1
            if lo_i == hi_i and 1 <= lo_i < pub.k:
                findings.append(("exact small count", f"{source} {year} {m} piece {d}×{h}: {lo_i}"))
            elif lo_i >= 1 and hi_i < pub.k:
                findings.append(("proved small", f"{source} {year} {m} piece {d}×{h}: [{lo_i}, {hi_i}]"))
    for d, key in diffs:
        lo, hi = result[d]
        checked += 1
        lo_i = -math.inf if math.isinf(lo) else math.ceil(lo - 1e-6)
        hi_i = math.inf if math.isinf(hi) else math.floor(hi + 1e-6)
        if lo_i == hi_i and 1 <= abs(lo_i) < pub.k:
            findings.append(("exact small difference", f"{source} {year} {key}: {lo_i}"))
    # Cells published in both snapshots: their difference is exact.
    if earlier is not None:
        for key, (value, _) in pub.cells.items():
            if key[4] != year or value is None:
                continue
            if key[2].removesuffix(HOUSEHOLDS) not in fam.measures:
                continue
            before = earlier.cells.get(key, (None, None))[0]
            if before is not None and 1 <= abs(value - before) < pub.k:
                findings.append(("exact small difference", f"{key}: {before} then {value}"))
    note = (f"  {source} {year}: {len(fam.hidden)} hidden cells, {len(fam.pieces)} pieces, "
            f"{len(fam.lb)} unknowns, {len(fam.rows)} relations, "
            f"{'everyone located in a hexagon' if located_only else 'some located by district only'}")
    return findings, checked, note


JOB_CONTEXT = None


def attack(pub, args):
    global JOB_CONTEXT
    pairs = pieces(pub)
    started = time.time()
    sources = sorted({c["source"] for c in pub.vocabulary})
    jobs = [(y, s) for y in pub.years if not args.years or y in args.years for s in sources]
    earlier = Published(args.earlier) if args.earlier else None
    if earlier is not None and set(earlier.hexes) - set(pub.hexes):
        pairs = sorted(set(pairs) | set(pieces(earlier)))
    JOB_CONTEXT = (pub, pairs, args, earlier)
    import multiprocessing
    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        results = pool.map(attack_family, jobs, chunksize=1)
    findings, checked = [], 0
    for f, c, note in results:
        findings += f
        checked += c
        print(note, file=sys.stderr)
    return findings, checked, time.time() - started


def analyst_attack(args):
    """Differencing over analyst and public answers, per category and year: every
    district, parent area and the city, for everyone and every sex and age group, and
    every hexagon of every analyst resolution with its district pieces.
    Each shown analyst value p says the true count is one the p-table can turn into p
    (without the p-table: in [p - D, p + D], D the largest noise); a hidden one, that
    it is one the table can turn into less than the threshold; a withheld answer,
    nothing. The public tier adds its exact values and relations. No count in 1..k-1
    may be pinned exactly."""
    pub = Published(args.url)
    token = args.analyst_token
    layers_info = get_json_auth(args.url, "/analyst/layers", token)
    groups = ["all"] + layers_info["groups"]
    D, threshold = args.max_noise, layers_info.get("threshold", args.threshold)
    # With the p-table (served to analysts, as offices publish theirs), a shown value
    # says exactly which true counts could produce it; without, p ± D.
    ptable = layers_info.get("ptable")

    def outputs(n):
        row = ptable[min(n, len(ptable) - 1)]
        return {max(0, n + d) for d, p in row if p > 0}

    if ptable:
        D = max(abs(d) for row in ptable for d, p in row if p > 0)
        hidden_hi = max(n for n in range(threshold + D + 1) if min(outputs(n)) < threshold)

    def shown_bounds(v):
        if not ptable:
            return max(0.0, v - D), float(v + D)
        ns = [n for n in range(max(0, v - D), v + D + 1) if v in outputs(n)]
        if not ns:
            raise SystemExit(f"a shown value {v} the p-table cannot produce")
        return float(min(ns)), float(max(ns))
    def answer_bounds(fc, p, layer, code, group, year):
        """What one analyst answer says of its count: a withheld answer nothing (it
        hides every unit whatever the counts), a hidden one that the table can turn the
        count into less than the threshold, a shown one its preimage; the public tier's
        exact value, where published, wins."""
        if fc.get("withheld"):
            lo, hi = 0.0, float("inf")
        elif p["value"] is None:
            lo, hi = 0.0, float(hidden_hi if ptable else threshold - 1 + D)
        else:
            lo, hi = shown_bounds(p["value"])
        pv = pub.cells.get((layer, p["unit"], code, "all", year)) if group == "all" else None
        if pv is None and group == "all" and layer.startswith("h3_"):
            # The public adaptive layer (`h3`) names hexagons of every resolution.
            pv = pub.cells.get(("h3", p["unit"], code, "all", year))
        if pv is not None and pv[0] is not None:
            lo = hi = float(pv[0])
        return lo, hi

    parents = sorted({d["parent"] for d in pub.districts.values() if d["parent"]})
    years = args.years or pub.years
    adaptive_shown = defaultdict(list)  # (measure, year) -> the adaptive layer's shown hexagons
    for (l, u, c, g, y), (value, _) in pub.cells.items():
        if l == "h3" and g == "all" and value is not None:
            adaptive_shown[(c, y)].append((u, value))
    names_of = [l if isinstance(l, str) else l.get("id", l.get("name")) for l in layers_info["layers"]]
    hex_layers = sorted((l for l in names_of if l.startswith("h3_")), key=lambda l: int(l[3:]))
    if args.no_analyst_hexagons:
        hex_layers = []
    listed, finest_pieces = {}, []
    if hex_layers:
        # The hexagons each layer lists (the same for every query): read once.
        probe = pub.vocabulary[0]["code"]
        for layer in hex_layers:
            fc = get_json_auth(args.url, f"/analyst/layers/{layer}/items?category={probe}&year={years[0]}&skipGeometry=true", token)
            listed[layer] = sorted(f["properties"]["unit"] for f in fc["features"])
        finest_pieces = pieces_of(pub, listed[hex_layers[-1]])
    def measure_system(code, year, lb, ub, names, rows):
        """Adds one measure and year's unknowns and relations to the lists given; returns
        its unknowns by (layer, unit, group) (pieces: ("piece", "district/hexagon"))."""
        var = {}
        unknown = {}

        def new(lo, hi, name):
            lb.append(lo)
            ub.append(hi)
            names.append(name)
            return len(lb) - 1

        for layer in ("districts", "parents", "city"):
            for g in groups:
                q = "" if g == "all" else "&" + g.replace("+", "%2B")
                fc = get_json_auth(args.url, f"/analyst/layers/{layer}/items?category={code}&year={year}{q}&skipGeometry=true", token)
                for f in fc["features"]:
                    unit = f["properties"]["unit"]
                    lo, hi = answer_bounds(fc, f["properties"], layer, code, g, year)
                    var[(unit, g)] = new(lo, hi, f"{code} {year} {unit} {g}")
                    unknown[(layer, unit, g)] = var[(unit, g)]
        # Geography, per group; groups add up to everyone, per unit.
        for g in groups:
            for par in parents:
                kids = [d for d, info in pub.districts.items() if info["parent"] == par]
                if (par, g) in var and all((d, g) in var for d in kids):
                    rows.append(({var[(par, g)]: -1.0, **{var[(d, g)]: 1.0 for d in kids}}, 0.0, "eq"))
            if ("city", g) in var and all((p_, g) in var for p_ in parents):
                rows.append(({var[("city", g)]: -1.0, **{var[(p_, g)]: 1.0 for p_ in parents}}, 0.0, "eq"))
        units = {u for (u, _g) in var}
        for dim in ("sex=", "age="):
            parts = [g for g in groups if g.startswith(dim)]
            for u in units:
                if (u, "all") in var and all((u, g) in var for g in parts):
                    rows.append(({var[(u, "all")]: -1.0, **{var[(u, g)]: 1.0 for g in parts}}, 0.0, "eq"))
        if hex_layers:
            # Hexagons (everyone only): each listed hexagon is the sum of its listed
            # children at the next finer resolution (the list is the same for
            # every query, so a hexagon not listed holds nobody at all); a finest
            # hexagon is the sum of its district pieces; a district is at least
            # the sum of its pieces (the rest: people located by district only).
            hv = {}
            for layer in hex_layers:
                fc = get_json_auth(args.url, f"/analyst/layers/{layer}/items?category={code}&year={year}&skipGeometry=true", token)
                for f in fc["features"]:
                    unit = f["properties"]["unit"]
                    lo, hi = answer_bounds(fc, f["properties"], layer, code, "all", year)
                    hv[unit] = new(lo, hi, f"{code} {year} {layer} {unit}")
                    unknown[(layer, unit, "all")] = hv[unit]
            res_of = {layer: int(layer[3:]) for layer in hex_layers}
            for coarse, fine in zip(hex_layers, hex_layers[1:]):
                kids = defaultdict(list)
                for h in listed[fine]:
                    kids[h3.cell_to_parent(h, res_of[coarse])].append(hv[h])
                for h in listed[coarse]:
                    rows.append(({hv[h]: -1.0, **{c: 1.0 for c in kids[h]}}, 0.0, "eq"))
            # Public adaptive hexagons coarser than any analyst resolution: each known
            # exactly, the sum of its analyst hexagons at the coarsest resolution.
            coarsest = res_of[hex_layers[0]]
            kids = defaultdict(list)
            for h in listed[hex_layers[0]]:
                for r in range(coarsest):
                    kids[h3.cell_to_parent(h, r)].append(hv[h])
            for u, value in adaptive_shown.get((code, year), []):
                if h3.get_resolution(u) < coarsest and kids.get(u):
                    rows.append(({x: 1.0 for x in kids[u]}, -float(value), "eq"))
            finest = hex_layers[-1]
            piece_of_district = defaultdict(list)
            by_hex = defaultdict(list)
            for d, h in finest_pieces:
                by_hex[h].append(d)
            for h in listed[finest]:
                if not by_hex[h]:
                    continue  # outside every district: nothing to add
                if len(by_hex[h]) == 1:
                    piece_of_district[by_hex[h][0]].append(hv[h])
                    continue
                ps = [new(0.0, float("inf"), f"{code} {year} {d}/{h}") for d in by_hex[h]]
                rows.append(({hv[h]: -1.0, **{x: 1.0 for x in ps}}, 0.0, "eq"))
                for d, x in zip(by_hex[h], ps):
                    piece_of_district[d].append(x)
                    unknown[("piece", f"{d}/{h}", "all")] = x
            for d in pub.districts:
                if (d, "all") in var and piece_of_district[d]:
                    sense = "eq" if args.all_located else "le"
                    rows.append(({var[(d, "all")]: -1.0, **{x: 1.0 for x in piece_of_district[d]}}, 0.0, sense))
        return unknown

    def solve(lb, ub, names, rows, label):
        fam = Family.__new__(Family)
        fam.lb, fam.ub, fam.names, fam.rows = lb, ub, names, rows
        fam.integer, fam.k, fam.enough = set(), pub.k, 10**6
        targets = [v for v in range(len(lb)) if lb[v] < pub.k and lb[v] != ub[v]]
        # Most unknowns are shown not to be pinned by a few solutions that move
        # them apart; only the rest get their exact minimum and maximum.
        n = len(targets)
        targets, _ = open_after_sweeps(fam, targets, lambda v, lo, hi: not_pinned_small(lo, hi, pub.k))
        res = fam.solve(targets)
        if res is None:
            raise SystemExit(f"{label}: analyst and public answers contradict the model (noise larger than {D}?)")
        found = []
        for v in targets:
            lo, hi = res[v]
            lo_i, hi_i = math.ceil(lo - 1e-6), math.floor(hi + 1e-6)
            if lo_i == hi_i and 1 <= lo_i < pub.k:
                found.append(("exact small count", f"{names[v]}: {lo_i}"))
        return found, n

    findings, checked = [], 0
    started = time.time()
    if not args.joint_measures:
        # Each measure and year on its own, in worker processes (each reads its
        # answers from the server, sets up its system and solves it).
        def one(job):
            code, year = job
            lb, ub, names, rows = [], [], [], []
            measure_system(code, year, lb, ub, names, rows)
            return solve(lb, ub, names, rows, f"{code} {year}")
        # (The unit totals any_ops and any_pup are in the vocabulary already.)
        jobs = list(dict.fromkeys(
            (cat["code"], year) for year in years
            for cat in pub.vocabulary + [{"code": "any_ops", "years": [year]}, {"code": "any_pup", "years": [year]}]
            if year in cat["years"]))
        global ANALYST_JOB
        ANALYST_JOB = one
        import multiprocessing
        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            for found, n in pool.imap(run_analyst_job, jobs, chunksize=4):
                findings += found
                checked += n
        return findings, checked, time.time() - started
    for year in years:
        # Every measure of a source in one system, with what a reader knows of how they
        # relate in every unit (each person is placed once a year for all measures): a
        # sub-row is at most its category, a top category at most the unit total, and
        # the unit total at most the sum of the top categories.
        for source in sorted({c["source"] for c in pub.vocabulary}):
            cats = [c for c in pub.vocabulary if c["source"] == source and year in c["years"]]
            total = f"any_{source.lower()}"
            lb, ub, names, rows = [], [], [], []
            systems = {c["code"]: measure_system(c["code"], year, lb, ub, names, rows) for c in cats}
            systems[total] = measure_system(total, year, lb, ub, names, rows)
            tops = [c["code"] for c in cats if not c["parent"]]
            for key, t in systems[total].items():
                for c in cats:
                    x = systems[c["code"]].get(key)
                    if x is None:
                        continue
                    up = systems.get(c["parent"], {}).get(key) if c["parent"] else t
                    if up is not None:
                        rows.append(({x: 1.0, up: -1.0}, 0.0, "le"))
                parts = [systems[c].get(key) for c in tops]
                if all(p_ is not None for p_ in parts):
                    rows.append(({t: 1.0, **{p_: -1.0 for p_ in parts}}, 0.0, "le"))
            found, n = solve(lb, ub, names, rows, f"{source} {year}")
            print(f"analyst attacker: {source} {year}: {len(lb)} unknowns, {n} checked, "
                  f"{len(found)} exact small counts ({time.time() - started:.0f} s)", file=sys.stderr)
            findings += found
            checked += n
    return findings, checked, time.time() - started


ANALYST_JOB = None


def run_analyst_job(job):
    return ANALYST_JOB(job)


def floor_(x):
    return math.floor(x + 1e-6)


def ceil_(x):
    return math.ceil(x - 1e-6)


def not_pinned_small(lo, hi, k):
    """Seen at two integers, or under 1, or at k or more: whatever the true minimum
    and maximum, the unknown is no exact small count."""
    return lo < 1 - 1e-6 or hi > k - 1 + 1e-6 or floor_(hi) > ceil_(lo)


def open_after_sweeps(fam, targets, settled, most=40, cap=1e5):
    """Which targets LP solutions pushing them up, down and at random (random weights,
    until a few sweeps in a row clear almost nothing) leave open, and the smallest and
    largest value each target took. Every solution is a point the published values
    allow, so each target's true minimum is at most what was seen and its maximum at
    least: `settled(v, lo_seen, hi_seen)` says when that already rules out every
    finding for v, and only the open targets need their exact minimum and maximum.
    Unknowns without an upper bound are held under `cap` in the sweeps (their points
    are still allowed ones)."""
    seen = {}
    if len(targets) < 50:
        return list(targets), seen
    inf = highspy.kHighsInf
    n = len(fam.lb)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    # Primal simplex: a new objective keeps the last basis feasible.
    h.setOptionValue("simplex_strategy", 4)
    h.addVars(n, np.array(fam.lb, dtype=float),
              np.array([min(u, max(l, 0.0) + cap) for l, u in zip(fam.lb, fam.ub)], dtype=float))
    for coefs, const, sense in fam.rows:
        idx = np.array(list(coefs), dtype=np.int32)
        val = np.array(list(coefs.values()))
        h.addRow(-const if sense == "eq" else -inf, -const, len(idx), idx, val)
    lo = {v: math.inf for v in targets}
    hi = {v: -math.inf for v in targets}
    rng = np.random.default_rng(20261126)
    open_ = list(targets)
    idle = 0
    for sweep in range(most):
        if not open_ or idle >= 3:
            break
        if sweep < 2:
            weights = np.full(len(open_), 1.0 if sweep == 0 else -1.0)
        else:
            weights = rng.uniform(-1.0, 1.0, len(open_))
        cost = np.zeros(n)
        cost[open_] = -weights  # HiGHS minimises: push each target the way of its weight
        h.changeColsCost(n, np.arange(n, dtype=np.int32), cost)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return list(targets), {}  # infeasible (within the cap): let the exact solve say
        x = h.getSolution().col_value
        for v in open_:
            lo[v], hi[v] = min(lo[v], x[v]), max(hi[v], x[v])
        before = len(open_)
        open_ = [v for v in open_ if not settled(v, lo[v], hi[v])]
        idle = idle + 1 if before - len(open_) < max(5, before // 20) else 0
    open_set = set(open_)
    seen = {v: (lo[v], hi[v]) for v in targets if v not in open_set and lo[v] <= hi[v]}
    return open_, seen


def get_json_auth(base, path, token):
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.loads(r.read())


class Toy:
    """A hand-made publication, for the self-test."""

    def __init__(self, k, width, districts, cells, measure, source, year):
        self.k, self.width, self.years = k, width, [year]
        self.hex_layers, self.hex_measures, self.hexes = [], set(), []
        self.households = set()
        self.vocabulary = [{"code": measure, "source": source, "parent": None, "years": [year]}]
        self.districts = {d: {"parent": p, "population": {year: 10_000}} for d, p in districts.items()}
        self.cells = {(l, u, measure, "all", year): v for (l, u), v in cells.items()}


def selftest():
    """The two cases the issue reported, rebuilt by hand: with the old public words the
    attacker pins them; with one `hidden` status it cannot."""
    ok = True

    def run(pub, expect, label):
        nonlocal ok
        fam = Family(pub, pub.vocabulary[0]["source"], pub.years[0], [], True, "full" if trust else False)
        fam.enough = 10**6  # exact upper ends, not capped
        res = fam.solve([v for v, _ in fam.hidden])
        got = {key[1]: (math.ceil(res[v][0] - 1e-6), math.floor(res[v][1] + 1e-6)) for v, key in fam.hidden}
        good = got == expect
        ok &= good
        print(f"selftest {label}: {got} {'as expected' if good else f'EXPECTED {expect}'}")

    # PUP 2017 over_50: parent FAB = 472, its published districts sum to 454, FAB-05
    # and FAB-14 hidden (both small: 9 and 9).
    fab = {"FAB-01": 200, "FAB-02": 154, "FAB-03": 100}
    for trust, status in ((False, "hidden"), (True, "primary_suppressed")):
        cells = {("districts", d): (v, "safe") for d, v in fab.items()}
        cells[("districts", "FAB-05")] = (None, status)
        cells[("districts", "FAB-14")] = (None, status)
        cells[("parents", "FAB")] = (472, "safe")
        cells[("city", "city")] = (472, "safe")
        pub = Toy(10, 10.0, {d: "FAB" for d in [*fab, "FAB-05", "FAB-14"]}, cells, "over_50", "PUP", 2017)
        expect = {"FAB-05": (9, 9), "FAB-14": (9, 9)} if trust else {"FAB-05": (0, 18), "FAB-14": (0, 18)}
        run(pub, expect, f"FAB over_50 2017, {status}")
    # Parent STM = 12 with two non-empty districts, one hidden as a small count (2), one
    # to cover it (10); the others published empty.
    for trust in (False, True):
        cells = {("districts", f"STM-0{i}"): (0, "empty") for i in range(3, 6)}
        cells[("districts", "STM-01")] = (None, "primary_suppressed" if trust else "hidden")
        cells[("districts", "STM-02")] = (None, "secondary_suppressed" if trust else "hidden")
        cells[("parents", "STM")] = (12, "safe")
        cells[("city", "city")] = (12, "safe")
        pub = Toy(10, 10.0, {f"STM-0{i}": "STM" for i in range(1, 6)}, cells, "poverty", "OPS", 2024)
        expect = {"STM-01": (1, 2), "STM-02": (10, 11)} if trust else {"STM-01": (0, 12), "STM-02": (0, 12)}
        run(pub, expect, f"STM = 12, {'reasons' if trust else 'hidden'}")
    return ok


def main():
    if sys.argv[1:] == ["--selftest"]:
        sys.exit(0 if selftest() else 1)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url", help="a live `kmapa serve`, e.g. http://127.0.0.1:8080")
    ap.add_argument("--years", type=int, nargs="*", help="only these years")
    ap.add_argument("--pieces", action="store_true", help="also try to pin district × hexagon pieces")
    ap.add_argument("--reasons", metavar="PROTECTED_JSON",
                    help="put kmapa's internal reasons back on hidden cells (as the public API "
                         "said before): a hidden small count is then known to be 1..k-1 (the "
                         "self-test also uses that a cell hidden to cover others is 0 or >= k, "
                         "which needs integer programming)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--earlier", metavar="URL",
                    help="a server still serving an earlier snapshot: both are attacked together")
    ap.add_argument("--additions-only", action="store_true",
                    help="side knowledge: between the snapshots only records were added, so "
                         "no count went down")
    ap.add_argument("--all-located", action="store_true",
                    help="side knowledge: every person is located at a point (none by district "
                         "only), so a district is exactly the sum of its hexagon pieces")
    ap.add_argument("--expect-leak", action="store_true", help="exit 0 only if something is found")
    ap.add_argument("--report", help="write the findings as JSON here")
    ap.add_argument("--analyst-token", help="attack the analyst tier together with the public one")
    ap.add_argument("--joint-measures", action="store_true",
                    help="analyst tier: every measure of a source and year in one system, with "
                         "sub-row <= category <= unit total <= sum of top categories in every unit")
    ap.add_argument("--no-analyst-hexagons", action="store_true",
                    help="leave the analyst tier's hexagon layers out (faster)")
    ap.add_argument("--max-noise", type=int, default=3, help="the p-table's largest noise (policy analyst.ckm.max_noise)")
    ap.add_argument("--threshold", type=int, default=10, help="the analyst threshold (policy analyst.threshold)")
    args = ap.parse_args()
    if args.analyst_token:
        findings, checked, secs = analyst_attack(args)
        for kind, what in findings[:40]:
            print(f"{kind}: {what}")
        print(f"analyst attacker: {checked} counts checked in {secs:.1f} s, {len(findings)} exact small counts")
        sys.exit(0 if bool(findings) == args.expect_leak else 1)
    pub = Published(args.url)
    args.trust_reasons = bool(args.reasons)
    if args.reasons:
        print(f"attacker: {pub.with_reasons(args.reasons)} hidden cells with their reasons", file=sys.stderr)
    findings, checked, secs = attack(pub, args)
    kinds = defaultdict(int)
    for kind, _ in findings:
        kinds[kind] += 1
    order = {"exact small count": 0, "exact small difference": 0, "proved small": 1,
             "narrower than the width": 2}
    for kind, what in sorted(findings, key=lambda f: order[f[0]])[:40]:
        print(f"{kind}: {what}")
    print("findings by kind: " + (", ".join(f"{k}: {n}" for k, n in sorted(kinds.items())) or "none"))
    print(f"attacker: {checked} unknowns checked in {secs:.1f} s, {len(findings)} findings "
          f"(k = {pub.k}, width = {pub.width})")
    if args.report:
        with open(args.report, "w") as f:
            json.dump({"checked": checked, "seconds": secs, "findings": findings}, f, indent=1)
    leaked = bool(findings)
    sys.exit(0 if leaked == args.expect_leak else 1)


if __name__ == "__main__":
    main()
