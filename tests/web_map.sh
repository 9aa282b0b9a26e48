#!/usr/bin/env bash
# Unit tests of the map's pure parts (node:test), then browser tests of the web map: playwright-core drives Debian's Chromium (/usr/bin/chromium,
# never a downloaded browser) against a live `kmapa demo`-style server on loopback, and
# against the static export served by a plain static file server. Screenshots, a print
# PDF and the first-load measurements go to test-output/web/.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${KMAPA_BIN:-target/debug/kmapa}
test -x /usr/bin/chromium || { echo "web map tests need Debian's chromium: apt-get install -y chromium (.ci/run does)" >&2; exit 1; }
test -d node_modules/playwright-core || { echo "web map tests need playwright-core: npm ci (.ci/run does)" >&2; exit 1; }
# The pure parts of the map (web/classes.js), without a browser.
node --test tests/web/classes.test.mjs tests/web/revit.test.mjs

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The demo city, as `kmapa demo` makes it (synthetic records, all years), minus serving.
"$bin" demo --no-serve --data-dir "$work/data" --generated "$work/gen" >"$work/demo.log" 2>&1 || { cat "$work/demo.log"; exit 1; }
"$bin" users add browser-analyst --role analyst --data-dir "$work/data" | tail -1 >"$work/analyst.token"
"$bin" users add browser-public --role public --data-dir "$work/data" | tail -1 >"$work/public.token"
"$bin" users add browser-admin --role admin --data-dir "$work/data" | tail -1 >"$work/admin.token"
"$bin" export --data-dir "$work/data" --out "$work/export" >/dev/null

port=$(free_port)
"$bin" serve --data-dir "$work/data" --address "127.0.0.1:$port" --rate-limit 0 >"$work/serve.log" 2>&1 &
pids+=($!)
sport=$(free_port)
python3 -m http.server "$sport" --bind 127.0.0.1 --directory "$work/export" >"$work/static.log" 2>&1 &
pids+=($!)
up() { python3 -c "import urllib.request; urllib.request.urlopen('$1', timeout=2)" 2>/dev/null; }
for _ in $(seq 150); do up "http://127.0.0.1:$port/health" && up "http://127.0.0.1:$sport/index.json" && break; sleep 0.2; done
up "http://127.0.0.1:$port/health" || { cat "$work/serve.log"; exit 1; }

KMAPA_URL="http://127.0.0.1:$port" \
KMAPA_STATIC_URL="http://127.0.0.1:$sport" \
KMAPA_TOKEN="$(cat "$work/analyst.token")" \
KMAPA_PUBLIC_TOKEN="$(cat "$work/public.token")" \
KMAPA_ADMIN_TOKEN="$(cat "$work/admin.token")" \
KMAPA_TEST_OUTPUT="${KMAPA_TEST_OUTPUT:-test-output/web}" \
  node --test --test-concurrency=1 tests/web/map.test.mjs
