#!/usr/bin/env bash
# End-to-end benchmark of `kmapa ingest`: generate about N records (default 10 million)
# as CSV (ops.csv and pup.csv), then ingest and bin both into a fresh store with one
# command, reporting wall time, records per second and peak memory.
# Usage: benches/ingest.sh [RECORDS]
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-10000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --locked -p kmapa >/dev/null 2>&1 || cargo build --release --locked -p kmapa
bin=target/release/kmapa

"$bin" gen --records "$records" --format csv --out "$work/gen" --quiet
rows=$(( $(wc -l < "$work/gen/ops.csv") + $(wc -l < "$work/gen/pup.csv") - 2 ))
size=$(du -ch "$work/gen/ops.csv" "$work/gen/pup.csv" | tail -1 | cut -f1)
echo "input: ops.csv + pup.csv, $rows records, $size"

start=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$work/rss" "$bin" ingest "$work/gen/ops.csv" "$work/gen/pup.csv" --city data/wroclaw --data-dir "$work/store" --quiet
end=$(date +%s.%N)

secs=$(python3 -c "print(f'{$end-$start:.1f}')")
rate=$(python3 -c "print(f'{$rows/($end-$start)/1e6:.2f}')")
rss=$(python3 -c "print(f'{int(open(\"$work/rss\").read().split()[-1])/1024:.0f}')")
"$bin" batches --data-dir "$work/store"
echo "ingest: $rows records in ${secs} s = ${rate} M records/s, peak RSS ${rss} MiB"
