#!/usr/bin/env bash
# Requests per second for a cached district layer: `kmapa serve` against nginx serving
# the same bytes as a static file (pre-compressed, gzip_static), in one run, on loopback
# only. wrk drives both with 64
# connections for DURATION seconds each (2 threads), gzip accepted; reported: requests
# per second, p50 and p99 latency, and kmapa's share of nginx's rate.
# Needs nginx and wrk (Debian: apt-get install nginx wrk).
# Usage: benches/serve.sh [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
command -v nginx >/dev/null && command -v wrk >/dev/null || {
  echo "needs nginx and wrk: apt-get install -y nginx wrk" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

[ -n "${KMAPA_BIN:-}" ] || { cargo build --release --locked -p kmapa >/dev/null 2>&1 || cargo build --release --locked -p kmapa; }
bin=${KMAPA_BIN:-$PWD/target/release/kmapa}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$bin" gen --out "$work/gen" --quiet
"$bin" ingest "$work/gen/ops.csv" "$work/gen/pup.csv" --city data/wroclaw --data-dir "$work/data" --quiet
"$bin" protect --data-dir "$work/data" --quiet
"$bin" publish --data-dir "$work/data" >/dev/null
kport=$(free_port)
"$bin" serve --data-dir "$work/data" --address "127.0.0.1:$kport" --workers 2 --rate-limit 0 --no-analyst >"$work/kmapa.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$kport/health" >/dev/null 2>&1 && break; sleep 0.2; done

path="/collections/problems-districts/items?category=poverty&year=2024"
mkdir -p "$work/www"
chmod 755 "$work" "$work/www"   # nginx workers run as an unprivileged user
curl -sf "http://127.0.0.1:$kport$path" -o "$work/www/layer.geojson"
gzip -6 -k "$work/www/layer.geojson"   # nginx sends it as is (gzip_static), as kmapa sends its cached gzip
chmod 644 "$work/www/layer.geojson" "$work/www/layer.geojson.gz"
bytes=$(wc -c < "$work/www/layer.geojson")
nport=$(free_port)
cat > "$work/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on; tcp_nopush on;
  gzip_static on;
  types { application/geo+json geojson; }
  server {
    listen 127.0.0.1:$nport;
    root $work/www;
    etag on;
    add_header Cache-Control "public, max-age=60";
  }
}
CONF
nginx -c "$work/nginx.conf" -g 'daemon off;' &
pids+=($!)
sleep 1
curl -sf "http://127.0.0.1:$nport/layer.geojson" -o /dev/null

run() { # name url
  wrk -t2 -c64 -d"${duration}s" --latency -H 'Accept-Encoding: gzip' "$2" > "$work/$1.txt"
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/$1.txt")
  p50=$(awk '$1=="50%" {print $2}' "$work/$1.txt")
  p99=$(awk '$1=="99%" {print $2}' "$work/$1.txt")
  echo "$1: $rps requests/s, p50 $p50, p99 $p99"
  eval "${1}_rps=$rps"
}
echo "layer: $path ($bytes bytes uncompressed), 64 connections, ${duration} s each"
run nginx "http://127.0.0.1:$nport/layer.geojson"
run kmapa "http://127.0.0.1:$kport$path"
python3 -c "print(f'kmapa / nginx = {$kmapa_rps/$nginx_rps:.2f}')"
