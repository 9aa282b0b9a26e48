#!/usr/bin/env bash
# Counting at scale: `kmapa protect` on a store of N synthetic records (default 10
# million) side by side with what an analyst would write in polars on the same batch
# files (benches/peers/polars_groupby.py: distinct persons per district × category ×
# year). kmapa counts more (parent areas, the city, H3, sub-rows in their categories,
# unit totals, sex and age groups, cell keys) and then protects and audits; the ratio
# says what all of that costs over the bare group-by. Runs are interleaved.
# Each protect is cold (no memo of earlier analyst decisions).
# Then the snapshot is published and served with the analyst tier: time until /health
# answers, and peak RSS after an analyst district layer and an h3_9 layer.
# Usage: benches/counting.sh [RECORDS] [RUNS]   (installs the polars Python package if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-10000000}
runs=${2:-3}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

python3 -c "import polars" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check polars
cargo build --release --locked -p kmapa >/dev/null 2>&1 || cargo build --release --locked -p kmapa
bin=$PWD/target/release/kmapa

"$bin" gen --records "$records" --format csv --out "$work/gen" --quiet
"$bin" ingest "$work/gen/ops.csv" "$work/gen/pup.csv" --city data/wroclaw --data-dir "$work/store" --quiet
rm -rf "$work/gen"
for i in $(seq "$runs"); do
  python3 benches/peers/polars_groupby.py "$work/store" | tee -a "$work/polars.txt"
  # Every run decides the analyst tier afresh, as after new data: without the memo of
  # the last run's joint decisions (which would make later runs mostly reuse them).
  rm -f "$work/store/public/analyst-joint-memo.json"
  /usr/bin/time -f '%e %M' -o "$work/time" "$bin" protect --data-dir "$work/store" >"$work/protect.txt"
  read -r secs kb <"$work/time"
  grep -E "data loaded|analyst tier audited|analyst tier's data" "$work/protect.txt" | sed 's/ (\/.*//; s/^/  /'
  echo "kmapa protect: ${secs} s, peak RSS $((kb / 1024)) MiB" | tee -a "$work/kmapa.txt"
done
python3 - "$work/polars.txt" "$work/kmapa.txt" <<'PY'
import re, statistics, sys
p = [float(re.search(r"in ([0-9.]+) s", l).group(1)) for l in open(sys.argv[1])]
k = [float(re.search(r": ([0-9.]+) s", l).group(1)) for l in open(sys.argv[2])]
print(f"median: polars group-by {statistics.median(p):.2f} s, kmapa protect {statistics.median(k):.2f} s, "
      f"ratio {statistics.median(k) / statistics.median(p):.1f}x")
PY

"$bin" publish --data-dir "$work/store" >/dev/null
token=$("$bin" users add bench --role analyst --data-dir "$work/store" | tail -1)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start=$(date +%s.%N)
"$bin" serve --data-dir "$work/store" --address "127.0.0.1:$port" --workers 2 --rate-limit 0 >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1000); do curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.02; done
ready=$(python3 -c "import time; print(f'{time.time() - $start:.2f}')")
for layer in districts h3_9; do
  curl -sf -H "Authorization: Bearer $token" -o /dev/null \
    "http://127.0.0.1:$port/analyst/layers/$layer/items?category=any_ops&year=2024"
done
echo "kmapa serve with the analyst tier: ready in ${ready} s, peak RSS $(($(awk '/VmHWM/ {print $2}' /proc/$pid/status) / 1024)) MiB after two analyst layers"
