#!/usr/bin/env bash
# End-to-end benchmark of `kmapa gen`: generate about N records (default 10 million)
# as CSV and Parquet, and report wall time, records per second and peak memory.
# Usage: benches/gen.sh [RECORDS] [FORMAT]    (FORMAT: csv, parquet or both; default both)
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-10000000}
format=${2:-both}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cargo build --release --locked -p kmapa >/dev/null 2>&1 || cargo build --release --locked -p kmapa
bin=target/release/kmapa

start=$(date +%s.%N)
if [ -x /usr/bin/time ]; then
  /usr/bin/time -f '%M' -o "$out/.rss" "$bin" gen --records "$records" --format "$format" --out "$out/g"
else
  "$bin" gen --records "$records" --format "$format" --out "$out/g"
fi
end=$(date +%s.%N)

total=$(python3 -c "import json;c=json.load(open('$out/g/manifest.json'))['counts'];print(c['ops_rows']+c['pup_rows'])")
secs=$(python3 -c "print(f'{$end-$start:.1f}')")
rate=$(python3 -c "print(f'{$total/($end-$start)/1e6:.2f}')")
rss=$( [ -f "$out/.rss" ] && python3 -c "print(f'{int(open(\"$out/.rss\").read().split()[-1])/1024:.0f} MiB')" || echo "n/a (install the 'time' package)")
echo "records: $total  format: $format  wall: ${secs} s  rate: ${rate} M records/s  peak RSS: $rss"
du -sh "$out/g"/* | sed 's/^/  /'
