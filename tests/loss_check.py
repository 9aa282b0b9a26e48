#!/usr/bin/env python3
"""Checks what a protected tier hides against the acceptance of "Hide as little as
protection allows" (docs/benchmarks.md): no district or parent-area unit total
(any_ops, any_pup) is hidden, and the district layer hides at most MAX_SHARE of the
persons it counts. Reads <data-dir>/public/protected.json; prints the figures.

Usage: tests/loss_check.py PROTECTED_JSON [MAX_SHARE]"""
import json
import sys

path = sys.argv[1]
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
failed = False
for name, layer in sorted(tier["summary"]["layers"].items()):
    share = layer["hidden_persons"] / max(layer["persons"], 1)
    print(f"{name}: {layer['secondary']} secondary cells, {share:.2%} of persons hidden")
    if name == "districts" and share > max_share:
        print(f"FAIL: districts hide {share:.2%} of persons, more than {max_share:.0%}")
        failed = True
if hidden_totals:
    print(f"FAIL: {len(hidden_totals)} unit totals hidden at districts or parent areas: {hidden_totals[:10]}")
    failed = True
else:
    print("no unit total hidden at districts or parent areas")
sys.exit(1 if failed else 0)
