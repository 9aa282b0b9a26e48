#!/usr/bin/env python3
"""Checks what a protected tier hides against the acceptance of "Hide as little as
protection allows" (docs/benchmarks.md). Reads <data-dir>/public/protected.json;
prints the figures.

  tests/loss_check.py PROTECTED_JSON [MAX_SHARE]
      no district or parent-area unit total (any_ops, any_pup) is hidden, and the
      district layer hides at most MAX_SHARE (default 0.02) of the persons it counts;
  tests/loss_check.py PROTECTED_JSON --layer LAYER MAX_SHARE
      only: LAYER (e.g. h3, the adaptive hexagon layer) hides at most MAX_SHARE of the
      persons it counts."""
import json
import sys

path = sys.argv[1]
only = None
if len(sys.argv) > 2 and sys.argv[2] == "--layer":
    only = sys.argv[3]
    max_share = float(sys.argv[4])
else:
    max_share = float(sys.argv[2]) if len(sys.argv) > 2 else 0.02
tier = json.load(open(path))
hidden_totals = [
    f"{c['measure']} {c['year']} {c['unit']}"
    for c in tier["cells"]
    if c["layer"] in ("districts", "parents")
    and c["measure"].startswith("any_")
    and c["value"] is None
    and c["status"] != "empty"
]
checked = only or "districts"
failed = False
layers = tier["summary"]["layers"]
if checked not in layers:
    print(f"FAIL: the tier has no {checked} layer")
    sys.exit(1)
for name, layer in sorted(layers.items()):
    share = layer["hidden_persons"] / max(layer["persons"], 1)
    print(f"{name}: {layer['secondary']} secondary cells, {share:.2%} of persons hidden")
    if name == checked and share > max_share:
        print(f"FAIL: {name} hides {share:.2%} of persons, more than {max_share:.0%}")
        failed = True
if only is None:
    if hidden_totals:
        print(f"FAIL: {len(hidden_totals)} unit totals hidden at districts or parent areas: {hidden_totals[:10]}")
        failed = True
    else:
        print("no unit total hidden at districts or parent areas")
sys.exit(1 if failed else 0)
