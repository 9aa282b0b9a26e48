#!/usr/bin/env bash
# A small city keeps its map (issue "Hide as little as protection allows"): the made-up
# city of tests/fixtures/trzy-osiedla (three districts, two parent areas), synthetic
# OPS clients each with exactly one problem (220, 132 and 55 per district, some
# problems rare), protected under the demo policy. Every district's and parent area's
# total of OPS clients must be published with its true value; the rare problems stay
# hidden and the audit passes.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${KMAPA_BIN:-$PWD/target/debug/kmapa}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fixture=tests/fixtures/trzy-osiedla

"$bin" city new --boundaries "$fixture/districts.geojson" --parent-column parent \
  --parent-name-column parent_name --population "$fixture/population.csv" --out "$work/city" >/dev/null
python3 - "$work/ops.csv" <<'PY'
import csv, sys
# Persons per district and problem (synthetic); one problem each, located by district.
plan = {
    "TO-1": {"poverty": 120, "unemployment": 60, "disability": 35, "homelessness": 5},
    "TO-2": {"poverty": 70, "unemployment": 40, "disability": 18, "homelessness": 4},
    "TO-3": {"poverty": 30, "unemployment": 15, "disability": 7, "homelessness": 3},
}
with open(sys.argv[1], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["source", "person_id", "household_id", "year", "category", "lat", "lon",
                "address", "district", "sex", "birth_year", "age_band", "synthetic"])
    n = 0
    for district, problems in plan.items():
        for category, persons in problems.items():
            for _ in range(persons):
                n += 1
                w.writerow(["OPS", f"p{n:06d}", f"h{n:06d}", 2024, category, "", "", "",
                            district, "K" if n % 2 else "M", 1970 + n % 40, "", "true"])
PY
"$bin" ingest "$work/ops.csv" --city "$work/city" --data-dir "$work/data" --quiet
"$bin" protect --data-dir "$work/data" --quiet
"$bin" audit --data-dir "$work/data" >/dev/null
# Why a cell is hidden, down to the small count that started it.
"$bin" protect --data-dir "$work/data" --quiet --explain TO-2 disability 2024 | tee "$work/explain.txt"
grep -q "disability (all) 2024 district TO-2: hidden, 18 persons, hidden to protect" "$work/explain.txt"
grep -q "fewer than k = 10" "$work/explain.txt"
python3 - "$work/data/public/protected.json" <<'PY'
import json, sys
tier = json.load(open(sys.argv[1]))
cells = {(c["layer"], c["unit"], c["measure"]): c for c in tier["cells"] if c["group"] == "all" and c["year"] == 2024}
want = {("districts", "TO-1"): 220, ("districts", "TO-2"): 132, ("districts", "TO-3"): 55,
        ("parents", "PN"): 352, ("parents", "PD"): 55, ("city", "city"): 407}
for (layer, unit), value in want.items():
    c = cells[(layer, unit, "any_ops")]
    assert c["value"] == value, f"all OPS clients in {unit}: {c['status']}, {c['value']} published, {value} true"
hidden = sorted(f"{u} {m}" for (l, u, m), c in cells.items() if l == "districts" and c["value"] is None and c["status"] != "empty")
assert any("homelessness" in h for h in hidden), hidden
print(f"every district and parent total of OPS clients published ({', '.join(str(v) for v in want.values())}); hidden at districts: {', '.join(hidden)}")
PY
