#!/usr/bin/env bash
# The walkthrough of docs/onboarding.md, run as written (every ```sh block, in order)
# on a made-up city (tests/fixtures/nowe-miasto: an enclave, an island, an L-shaped
# district), then every published district count checked against an independent
# recount of the generated records (Python, shapely point-in-polygon; no kmapa code).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${KMAPA_BIN:-$PWD/target/debug/kmapa}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# `kmapa` as the walkthrough calls it; `serve` goes to the background on a free port.
kmapa() {
  if [ "$1" = serve ]; then
    shift
    local args=()
    while [ $# -gt 0 ]; do
      if [ "$1" = --address ]; then args+=(--address "127.0.0.1:$port"); shift 2; else args+=("$1"); shift; fi
    done
    "$bin" serve "${args[@]}" >"$work/serve.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 150); do
      curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
      sleep 0.2
    done
    cat "$work/serve.log" >&2; return 1
  fi
  "$bin" "$@"
}

export CITY=tests/fixtures/nowe-miasto DATA="$work/data"
python3 - docs/onboarding.md >"$work/walkthrough.sh" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
assert len(blocks) >= 6, f"docs/onboarding.md has {len(blocks)} sh blocks"
print("\n".join(blocks))
PY
echo "-- docs/onboarding.md, as written ($(grep -c . "$work/walkthrough.sh") lines), on $CITY"
# shellcheck disable=SC1091
source "$work/walkthrough.sh"

echo "-- every published district count against an independent recount"
python3 - "http://127.0.0.1:$port" "$CITY" "$DATA-synthetic" data/categories.csv <<'PY'
import csv, json, sys, urllib.request
from collections import defaultdict
from shapely.geometry import Point, shape
base, city, gen, vocab = sys.argv[1:5]
districts = json.load(open(f"{city}/districts.geojson", encoding="utf-8"))["features"]
# Codes in order: on a shared border kmapa gives the point to the smallest code.
polys = sorted((f["properties"]["code"], shape(f["geometry"])) for f in districts)
parent = {r["code"]: r["parent"] for r in csv.DictReader(open(vocab, encoding="utf-8"))}
persons = defaultdict(set)
rows = 0
for name in ("ops.csv", "pup.csv"):
    for r in csv.DictReader(open(f"{gen}/{name}", encoding="utf-8")):
        rows += 1
        if r["lat"]:
            p = Point(float(r["lon"]), float(r["lat"]))
            d = next((c for c, g in polys if g.covers(p)), None)
        else:
            d = r["district"] or None
        assert d is not None, f"{name}: a record outside every district: {r}"
        c = r["category"]
        while c:
            persons[(d, c, int(r["year"]))].add(r["person_id"])
            c = parent.get(c) or None
url = f"{base}/collections/problems-districts/items?limit=10000"
checked = hidden = 0
while url:
    page = json.load(urllib.request.urlopen(url))
    for f in page["features"]:
        p = f["properties"]
        if p["group"] != "all" or p["category"].startswith("any_"):
            continue
        true = len(persons.get((p["unit"], p["category"], p["year"]), ()))
        if p["status"] == "hidden":
            hidden += 1
            assert p["value"] is None
            continue
        assert p["value"] == true, f"{p['unit']} {p['category']} {p['year']}: published {p['value']}, recount {true}"
        checked += 1
    url = next((l["href"] for l in page["links"] if l["rel"] == "next"), None)
assert checked > 100, checked
print(f"{rows} records recounted: {checked} published district counts equal the recount, {hidden} hidden")
PY

echo "-- the municipality's own files: GeoPackage and GeoJSON in EPSG:2180 and 2177, projected by GDAL, read back by kmapa city new"
for crs in 2180 2177; do
  ogr2ogr -f GPKG "$work/city-$crs.gpkg" "$CITY/districts.geojson" -t_srs "EPSG:$crs" -nln osiedla
  ogr2ogr -f GeoJSON "$work/city-$crs.geojson" "$CITY/districts.geojson" -t_srs "EPSG:$crs"
  for ext in gpkg geojson; do
    "$bin" city new --boundaries "$work/city-$crs.$ext" --parent-column parent --parent-name-column parent_name \
      --population "$CITY/population.csv" --out "$work/new-$crs-$ext" >/dev/null
    "$bin" validate --city "$work/new-$crs-$ext" >/dev/null
    python3 - "$CITY/districts.geojson" "$work/new-$crs-$ext/districts.geojson" "EPSG:$crs $ext" <<'PY'
import json, sys
def points(path):
    out = {}
    for f in json.load(open(path, encoding="utf-8"))["features"]:
        g = f["geometry"]
        polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
        out[f["properties"]["code"]] = [p for poly in polys for ring in poly for p in ring]
    return out
a, b = points(sys.argv[1]), points(sys.argv[2])
assert a.keys() == b.keys(), (a.keys(), b.keys())
worst = max(abs(p[i] - q[i]) for k in a for p, q in zip(a[k], b[k], strict=True) for i in (0, 1))
assert worst < 1e-9, f"{sys.argv[3]}: a vertex moved by {worst} degrees"
print(f"{sys.argv[3]}: every vertex back within {worst:.1e} degrees")
PY
  done
done
# A system kmapa does not read is refused, not guessed.
ogr2ogr -f GeoJSON "$work/city-3857.geojson" "$CITY/districts.geojson" -t_srs EPSG:3857
if "$bin" city new --boundaries "$work/city-3857.geojson" --population "$CITY/population.csv" --out "$work/new-3857" 2>"$work/err"; then
  echo "EPSG:3857 was not refused" >&2; exit 1
fi
grep -q "3857" "$work/err" && grep -q "EPSG:4326, 2180 or 2176-2179" "$work/err"
echo "EPSG:3857 refused: $(head -1 "$work/err")"

echo "-- address points from the national register (PRG GML, EPSG:2180): records giving an address geocode against them"
cp -r "$CITY" "$work/with-addresses"
rm -f "$work/with-addresses/prg-punkty-adresowe.gml"
"$bin" city addresses --prg "$CITY/prg-punkty-adresowe.gml" --city "$work/with-addresses" | tee "$work/addresses.log"
grep -q "72 address points in the city (1 outside it left out)" "$work/addresses.log"
python3 - "$work/with-addresses" <<'PY'
import csv, json, sys
from shapely.geometry import Point, shape
city = sys.argv[1]
# In the sample each street lies in one district: every point must land in it.
where = {"Rynek": "PN-1", "ul. Ratuszowa": "PN-1", "ul. Zamkowa": "PN-2", "ul. Kolejowa": "PN-3",
         "ul. Dworcowa": "PN-3", "ul. Łąkowa": "PD-1", "ul. Polna": "PD-1", "ul. Wyspiańskiego": "PD-2",
         "ul. Przewoźników": "PD-2", "ul. Fabryczna": "PD-3", "al. Przemysłowa": "PD-3"}
shapes = {f["properties"]["code"]: shape(f["geometry"])
          for f in json.load(open(f"{city}/districts.geojson", encoding="utf-8"))["features"]}
rows = list(csv.DictReader(open(f"{city}/addresses.csv", encoding="utf-8")))
for r in rows:
    assert shapes[where[r["street"]]].contains(Point(float(r["lon"]), float(r["lat"]))), r
print(f"{len(rows)} address points, each in its street's district")
PY
"$bin" gen --city "$work/with-addresses" --out "$work/address-gen" --years 2024 --location address --quiet
"$bin" ingest "$work/address-gen/ops.csv" --city "$work/with-addresses" --data-dir "$work/address-data" | tee "$work/ingest.log"
grep -q "addresses: .* geocoded against the city's address points (100.0 %)" "$work/ingest.log"
