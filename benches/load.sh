#!/usr/bin/env bash
# Bounded load against `kmapa serve` on loopback, as an open-internet server sees it:
# wrk with 64 connections for DURATION seconds (2 threads) over mixed endpoints, among
# them the largest page (limit=10000 on every problem layer), ever new Host headers and
# forged X-Forwarded-Host headers. Reported: requests per second, every status code seen
# (only 200, 304 and 429 are acceptable: exit 1 otherwise), and the server's peak
# resident memory, sampled every 0.2 s. Stops by itself.
# Needs wrk (Debian: apt-get install wrk). Usage: benches/load.sh [DURATION] [RSS_LIMIT_MB]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-60}
rss_limit=${2:-450}
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
# Default limits (16 requests in flight per client), public tier only.
"$bin" serve --data-dir "$work/data" --address "127.0.0.1:$port" --workers 2 --no-analyst >"$work/kmapa.log" 2>&1 &
server=$!
pids+=($server)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.2; done
echo "kmapa serve started: $(awk '/VmRSS/ {print $2 / 1024 " MB"}' /proc/$server/status) resident"

cat > "$work/mixed.lua" <<'LUA'
local paths = {
  "/collections",
  "/collections/problems-districts/items?limit=10000",
  "/collections/problems-h3-8/items?limit=10000",
  "/collections/problems-parents/items?limit=10000",
  "/collections/problems-districts/items?category=poverty&year=2024",
  "/collections/problems-h3-8/items?category=any_ops&year=2023",
  "/collections/districts/items?limit=10000",
  "/api/v1/vocabulary",
  "/api/v1/districts/FAB-01/profile",
  "/api/v1/table.csv?category=poverty",
}
local n = 0
request = function()
  n = n + 1
  local headers = { ["Host"] = "h" .. math.random(1, 1000000) .. ".example",
                    ["X-Forwarded-Host"] = "evil" .. n .. ".example",
                    ["Accept-Encoding"] = "gzip" }
  return wrk.format("GET", paths[(n % #paths) + 1], headers)
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function() statuses = {} end
response = function(status)
  statuses[status] = (statuses[status] or 0) + 1
end
done = function()
  local all = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for code, count in pairs(s) do all[code] = (all[code] or 0) + count end
  end
  for code, count in pairs(all) do io.write(string.format("status %d: %d\n", code, count)) end
end
LUA

peak=0
( while kill -0 "$server" 2>/dev/null; do
    awk '/VmRSS/ {print $2}' /proc/$server/status 2>/dev/null
    sleep 0.2
  done ) > "$work/rss.txt" &
sampler=$!
pids+=($sampler)
wrk -t2 -c64 -d"${duration}s" -s "$work/mixed.lua" "http://127.0.0.1:$port" > "$work/wrk.txt"
kill "$sampler" 2>/dev/null || true
peak=$(sort -n "$work/rss.txt" | tail -1)
peak_mb=$((peak / 1024))
rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
echo "wrk, 64 connections, ${duration} s: $rps requests/s"
grep '^status' "$work/wrk.txt"
echo "peak resident memory: $peak_mb MB (limit $rss_limit MB)"
bad=$(grep '^status' "$work/wrk.txt" | awk '$2 != "200:" && $2 != "304:" && $2 != "429:"' || true)
[ -z "$bad" ] || { echo "unexpected statuses: $bad" >&2; exit 1; }
[ "$peak_mb" -le "$rss_limit" ] || { echo "resident memory over the limit" >&2; exit 1; }
echo "load: only 200/304/429, memory bounded"
