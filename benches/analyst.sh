#!/usr/bin/env bash
# Analyst answers under load: the district layer of one category and year (236 kB,
# perturbed, 11 groups offered), with a bearer token, gzip accepted, 16 connections for
# DURATION seconds (wrk, 2 threads) against `kmapa serve` with the analyst tier, on
# loopback only. Reported: requests per second and p50/p99 latency; the same for the
# public cached layer of the same category and year, as the yardstick, in the same run.
# Needs wrk (Debian: apt-get install wrk). Usage: benches/analyst.sh [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
command -v wrk >/dev/null || { echo "needs wrk: apt-get install -y wrk" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

[ -n "${KMAPA_BIN:-}" ] || { cargo build --release --locked -p kmapa >/dev/null 2>&1 || cargo build --release --locked -p kmapa; }
bin=${KMAPA_BIN:-$PWD/target/release/kmapa}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

"$bin" gen --out "$work/gen" --quiet
"$bin" ingest "$work/gen/ops.csv" "$work/gen/pup.csv" --city data/wroclaw --data-dir "$work/data" --quiet
"$bin" protect --data-dir "$work/data" --quiet
"$bin" publish --data-dir "$work/data" >/dev/null
token=$("$bin" users add bench --role analyst --data-dir "$work/data" | tail -1)
"$bin" serve --data-dir "$work/data" --address "127.0.0.1:$port" --workers 2 --max-in-flight 0 >"$work/kmapa.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.2; done

run() { # label path [header]
  local out
  out=$(wrk -t2 -c16 -d"${duration}s" --latency -H 'Accept-Encoding: gzip' ${3:+-H "$3"} "http://127.0.0.1:$port$2")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  echo "$1: $rps requests/s, p50 $p50, p99 $p99"
}
q="category=poverty&year=2024"
bytes=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/analyst/layers/districts/items?$q" | wc -c)
echo "analyst district layer: $bytes bytes uncompressed"
run "analyst district layer (16 connections)" "/analyst/layers/districts/items?$q" "Authorization: Bearer $token"
run "public district layer, same category and year (16 connections)" "/collections/problems-districts/items?$q"
