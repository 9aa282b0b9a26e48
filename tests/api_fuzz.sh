#!/usr/bin/env bash
# Schemathesis against /api of a live `kmapa serve` on loopback: a small synthetic city
# is generated, ingested, protected and published into a temporary directory, the
# server is started on a free port, every operation of the OpenAPI document is
# fuzzed, and any server error (5xx) fails the run; then OWSLib, a real OGC API client,
# reads the layers (tests/ogc_client.py). The server stops when this ends.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${KMAPA_BIN:-target/debug/kmapa}
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$bin" gen --out "$work/gen" --years 2023-2024 --quiet
"$bin" ingest "$work/gen/ops.csv" "$work/gen/pup.csv" --city data/wroclaw --data-dir "$work/data" --quiet
"$bin" protect --data-dir "$work/data" --quiet
"$bin" publish --data-dir "$work/data" >/dev/null
"$bin" users add fuzz --role analyst --data-dir "$work/data" | tail -1 > "$work/token"
"$bin" users add prometheus --role metrics --data-dir "$work/data" | tail -1 > "$work/metrics-token"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --data-dir "$work/data" --address "127.0.0.1:$port" --workers 2 --rate-limit 0 >"$work/serve.log" 2>&1 &
pid=$!
healthy() { python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=2)" 2>/dev/null; }
for _ in $(seq 100); do healthy && break; sleep 0.2; done
healthy || { cat "$work/serve.log"; exit 1; }
st run "http://127.0.0.1:$port/api" \
  --checks not_a_server_error \
  --max-examples 25 \
  --header "Authorization: Bearer $(cat "$work/token")" \
  --seed 1
python3 tests/ogc_client.py "http://127.0.0.1:$port" "$(cat "$work/metrics-token")"
