#!/usr/bin/env bash
# kmapa side by side with what analysts use today, on the same synthetic lat/lon CSV
# (N records, default 10 million): `kmapa ingest` (validate, pseudonymisation checks,
# bin into districts and H3, store) against a GeoPandas + h3ronpy script
# (benches/peers/geopandas_h3.py) and PostGIS (benches/peers/postgis.sh: COPY,
# ST_Contains join, GROUP BY; no H3). Whole processes, runs interleaved; wall time and
# peak RSS (PostgreSQL's server memory is not in its figure: the client's only).
# Medians and ratios at the end. Installs what it needs: the Python packages of
# benches/peers/requirements.txt, Debian's postgresql-15-postgis-3 (as root).
# Usage: benches/peers.sh [RECORDS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-10000000}
runs=${2:-3}
work=$(mktemp -d)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

python3 -c "import geopandas, h3ronpy, pyarrow" 2>/dev/null ||
  python3 -m pip install --quiet --disable-pip-version-check -r benches/peers/requirements.txt
if ! ls /usr/lib/postgresql/*/lib/postgis-3.so >/dev/null 2>&1; then
  apt-get install -y postgresql-15-postgis-3 >/dev/null ||
    { apt-get update >/dev/null && apt-get install -y postgresql-15-postgis-3 >/dev/null; }
fi
cargo build --release --locked -p kmapa >/dev/null 2>&1 || cargo build --release --locked -p kmapa
bin=$PWD/target/release/kmapa

"$bin" gen --records "$records" --format csv --out "$work/gen" --quiet
chmod 644 "$work/gen"/*.csv
csvs=("$work/gen/ops.csv" "$work/gen/pup.csv")
rows=$(($(cat "${csvs[@]}" | wc -l) - 2))
echo "input: $rows records, $(du -ch "${csvs[@]}" | tail -1 | cut -f1) of CSV (synthetic)"

timed() { # name, command...: one line "name seconds MiB"
  local name=$1
  shift
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$work/rss" "$@" >"$work/out" 2>&1
  end=$(date +%s.%N)
  echo "$name $(python3 -c "print(f'{$end - $start:.2f}')") $(($(tail -1 "$work/rss") / 1024))" | tee -a "$work/runs"
  sed 's/^/    /' "$work/out" | tail -2
}
for i in $(seq "$runs"); do
  rm -rf "$work/store"
  timed kmapa "$bin" ingest "${csvs[@]}" --city data/wroclaw --data-dir "$work/store" --quiet
  timed geopandas python3 benches/peers/geopandas_h3.py data/wroclaw "${csvs[@]}"
  timed postgis bash benches/peers/postgis.sh data/wroclaw "${csvs[@]}"
done
python3 - "$work/runs" "$rows" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, secs, mib = line.split()
    runs.setdefault(name, []).append((float(secs), int(mib)))
k = statistics.median(s for s, _ in runs["kmapa"])
for name, r in runs.items():
    s = statistics.median(x for x, _ in r)
    print(f"{name:10} median {s:7.2f} s, peak RSS {max(m for _, m in r):5} MiB, "
          f"{int(sys.argv[2]) / s / 1e6:5.2f} M records/s, {s / k:4.1f}x kmapa")
PY
