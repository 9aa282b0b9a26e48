#!/usr/bin/env bash
# A large upload through the admin API, as the admin panel sends it: one OPS file of
# about N records (default 1 million, synthetic, CSV) POSTed to /admin/api/batches
# with an admin token, on loopback. kmapa serve streams the body to disk and ingests
# it; reported: seconds until the answer, records accepted, and the server's peak RSS
# before and after (VmHWM), which must stay bounded whatever the file's size.
# Usage: benches/upload.sh [RECORDS]
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-1000000}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
[ -n "${KMAPA_BIN:-}" ] || { cargo build --release --locked -p kmapa >/dev/null 2>&1 || cargo build --release --locked -p kmapa; }
bin=${KMAPA_BIN:-$PWD/target/release/kmapa}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# A published snapshot to serve (the small demo city), and the file to upload: OPS
# records of a larger generated city, cut to N records.
"$bin" gen --out "$work/small" --quiet
"$bin" ingest "$work/small/ops.csv" "$work/small/pup.csv" --city data/wroclaw --data-dir "$work/data" --quiet
"$bin" protect --data-dir "$work/data" --quiet
"$bin" publish --data-dir "$work/data" >/dev/null
"$bin" gen --records $((records * 2)) --format csv --out "$work/big" --quiet
head -n $((records + 1)) "$work/big/ops.csv" >"$work/upload.csv"
rm -rf "$work/big"
echo "upload: $records OPS records, $(du -h "$work/upload.csv" | cut -f1) of CSV (synthetic)"
token=$("$bin" users add bench-admin --role admin --data-dir "$work/data" | tail -1)
"$bin" serve --data-dir "$work/data" --address "127.0.0.1:$port" --workers 2 --no-analyst >"$work/kmapa.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.2; done
before=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
start=$(date +%s.%N)
curl -sf -X POST -H "Authorization: Bearer $token" -H 'Content-Type: text/csv' \
  --data-binary @"$work/upload.csv" "http://127.0.0.1:$port/admin/api/batches?name=ops.csv" >"$work/answer.json"
end=$(date +%s.%N)
after=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
python3 - "$work/answer.json" <<PY
import json, sys
a = json.load(open(sys.argv[1]))
b = a.get("batch", {})
print(f"answered in {$end - $start:.1f} s: batch {b.get('id')}, " + ", ".join(f"{k} {v}" for k, v in b.items() if "rows" in k or "records" in k))
print(f"kmapa serve peak RSS: {$before // 1024} MiB before the upload, {$after // 1024} MiB after")
PY
