#!/usr/bin/env bash
# End-to-end benchmark of the public tier: generate and ingest the demo city (all ten
# years, as `kmapa demo` does), then time `kmapa protect` (suppression of every
# measure × year table over districts, parents, city and H3 res 8 together, and the
# audit of the result) and `kmapa audit` (the audit again, from the written file).
# The protection figure excludes loading the batches, which both commands print apart.
# Usage: benches/protect.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --locked -p kmapa >/dev/null 2>&1 || cargo build --release --locked -p kmapa
bin=$PWD/target/release/kmapa

"$bin" gen --out "$work/gen" --quiet
"$bin" ingest "$work/gen/ops.csv" "$work/gen/pup.csv" --city data/wroclaw --data-dir "$work/store" --quiet
for i in $(seq "$runs"); do
  "$bin" protect --data-dir "$work/store" --json |
    python3 -c "import json,sys; j=json.load(sys.stdin); a=j['analyst']; whole=j['seconds']+a['seconds']+a['atoms_seconds']; print(f'protect run $i: {j[\"summary\"][\"tables\"]} tables, {j[\"audit\"][\"hidden_cells\"]} hidden cells, public protect + audit {j[\"seconds\"]:.2f} s; analyst audit {a[\"seconds\"]:.2f} s ({a[\"small_counts_checked\"]} small counts, {a[\"withheld_queries\"]} queries withheld); analyst data {a[\"atoms_seconds\"]:.2f} s; whole tier {whole:.2f} s')"
done
start=$(date +%s.%N)
"$bin" audit --data-dir "$work/store" --summary | tail -2 | head -1
end=$(date +%s.%N)
echo "kmapa audit end to end (load batches + audit): $(python3 -c "print(f'{$end-$start:.2f}')") s"
"$bin" protect --data-dir "$work/store" >"$work/protect.txt"
head -7 "$work/protect.txt"
