#!/usr/bin/env bash
# kmapa behind Debian's nginx, as a city deploys it (docs/deploy/nginx-kmapa.conf, with
# test ports): a small synthetic city is generated, ingested, protected and published;
# `kmapa serve` listens on loopback with --public-url and --trusted-proxy, nginx in
# front. Through the proxy: a forged X-Forwarded-Host must not reach a link; OWSLib reads
# the API (tests/ogc_client.py); GDAL's ogr2ogr, with its default options, copies every
# collection into a GeoPackage, feature for feature, while a client opening many
# connections at once gets nothing but 200 and 429. Servers stop when this ends.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${KMAPA_BIN:-target/debug/kmapa}
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # url
  for _ in $(seq 150); do
    python3 -c "import urllib.request; urllib.request.urlopen('$1', timeout=2)" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "no answer from $1" >&2; cat "$work"/*.log >&2; return 1
}

"$bin" gen --out "$work/gen" --years 2023-2024 --quiet
"$bin" ingest "$work/gen/ops.csv" "$work/gen/pup.csv" --city data/wroclaw --data-dir "$work/data" --quiet
"$bin" protect --data-dir "$work/data" --quiet
"$bin" publish --data-dir "$work/data" >/dev/null
metrics=$("$bin" users add prometheus --role metrics --data-dir "$work/data" | tail -1)

kport=$(free_port)
nport=$(free_port)
public="http://127.0.0.1:$nport"
# The default rate limit (100 requests per second per client) stays on.
"$bin" serve --data-dir "$work/data" --address "127.0.0.1:$kport" --workers 2 \
  --public-url "$public" --trusted-proxy 127.0.0.1 >"$work/kmapa.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$kport/health"

sed -e "s/listen 80;/listen 127.0.0.1:$nport;/" -e "s/server 127.0.0.1:8080;/server 127.0.0.1:$kport;/" \
  docs/deploy/nginx-kmapa.conf > "$work/site.conf"
grep -q "listen 127.0.0.1:$nport;" "$work/site.conf" && grep -q "server 127.0.0.1:$kport;" "$work/site.conf"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy;
  fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi;
  scgi_temp_path $work/scgi;
  include $work/site.conf;
}
CONF
nginx -t -c "$work/nginx.conf" 2>/dev/null
nginx -c "$work/nginx.conf" -g 'daemon off;' &
pids+=($!)
wait_for "$public/health"

echo "-- a forged X-Forwarded-Host does not reach a link, through the proxy"
python3 - "$public" <<'EOF'
import json, sys, urllib.request
base = sys.argv[1]
for path in ("/collections", "/collections/problems-districts/items?limit=5"):
    req = urllib.request.Request(base + path, headers={
        "X-Forwarded-Host": "evil.example", "Forwarded": "host=evil.example;proto=https"})
    body = urllib.request.urlopen(req).read().decode()
    assert "evil.example" not in body, path
    hrefs = [l["href"] for l in json.loads(body)["links"]]
    assert hrefs and all(h.startswith(base + "/") for h in hrefs), hrefs
# HEAD passes the proxy; anything else is refused there.
assert urllib.request.urlopen(urllib.request.Request(base + "/collections", method="HEAD")).status == 200
def problem(req, code):
    try:
        urllib.request.urlopen(req)
        raise AssertionError(f"{req.full_url} went through")
    except urllib.error.HTTPError as e:
        assert e.code == code, (e.code, code)
        assert e.headers["Content-Type"] == "application/problem+json", e.headers["Content-Type"]
        body = json.loads(e.read())
        assert body["status"] == code and body["title"] and body["detail"], body
        return e
e = problem(urllib.request.Request(base + "/collections", data=b"x", method="POST"), 405)
assert e.headers["Allow"] == "GET, HEAD"
# Errors the HTTP layers answer before kmapa's code runs are problem+json too.
problem(urllib.request.Request(base + "/collections", headers={"X-Big": "x" * (64 << 10)}), 431)
problem(urllib.request.Request(base + "/collections?q=" + "x" * (64 << 10)), 414)
# nginx's own locations for these answers are internal: asked for, not found, in kind.
problem(urllib.request.Request(base + "/.problem/400"), 404)
# kmapa's own errors pass through untouched.
problem(urllib.request.Request(base + "/collections/nope"), 404)
# The admin API's methods pass the proxy (kmapa asks for the token), with small bodies;
# other methods there are still refused by nginx.
admin = base + "/admin/api/users"
body = json.dumps({"name": "x", "role": "analyst"}).encode()
problem(urllib.request.Request(admin, data=body, method="POST", headers={"Content-Type": "application/json"}), 401)
problem(urllib.request.Request(admin + "/x", method="DELETE"), 401)
problem(urllib.request.Request(admin, data=b"x" * 20000, method="POST", headers={"Content-Type": "application/json"}), 413)
problem(urllib.request.Request(admin, data=body, method="PATCH"), 405)
problem(urllib.request.Request(base + "/admin/api/institutions/INST-001", data=body, method="PUT", headers={"Content-Type": "application/json"}), 401)
# An upload of a batch passes the proxy with its body (kmapa asks for the token).
problem(urllib.request.Request(base + "/admin/api/batches?name=a.csv", data=b"x" * 65536, method="POST"), 401)
problem(urllib.request.Request(base + "/collections/problems-districts/items?limit=abc"), 400)
# A control character in a header: http.client will not send it, so by hand.
import socket
host, port = base.split("//")[1].split(":")
s = socket.create_connection((host, int(port)))
s.sendall(b"GET /collections HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x01\x02\r\nConnection: close\r\n\r\n")
raw = b""
while chunk := s.recv(65536):
    raw += chunk
head, _, body = raw.partition(b"\r\n\r\n")
status = int(head.split()[1])
if status >= 400:
    assert b"application/problem+json" in head, head
    assert json.loads(body)["status"] == status, body
print(f"links name the public URL only; HEAD passes; POST 405, a 64 KiB header 431, a 64 KiB URI 414, "
      f"a control character in Authorization {status}: all problem+json")
EOF

echo "-- one client opening 48 connections at once: nothing but 200 and 429"
python3 - "$public" <<'EOF'
import collections, concurrent.futures, sys, urllib.error, urllib.request
base = sys.argv[1]
def get(i):
    try:
        # Large pages, each a different one (none cached).
        return urllib.request.urlopen(f"{base}/collections/problems-districts/items?limit=10000&offset={i}").status
    except urllib.error.HTTPError as e:
        return e.code
with concurrent.futures.ThreadPoolExecutor(48) as pool:
    codes = collections.Counter(pool.map(get, range(48)))
assert set(codes) <= {200, 429} and codes[200] > 0, codes
print(f"48 at once: {codes[200]} answered, {codes[429]} refused with 429")
EOF

echo "-- OWSLib through the proxy"
python3 tests/ogc_client.py "$public" "$metrics"

echo "-- ogr2ogr (GDAL's OGC API - Features driver, default options) through the proxy"
ogr2ogr -f GPKG "$work/copy.gpkg" "OAPIF:$public" 2>"$work/ogr2ogr.log" || { cat "$work/ogr2ogr.log"; exit 1; }
python3 - "$public" "$work/copy.gpkg" <<'EOF'
import json, sqlite3, sys, urllib.request
base, gpkg = sys.argv[1], sys.argv[2]
db = sqlite3.connect(gpkg)
tables = {r[0] for r in db.execute("select table_name from gpkg_contents")}
collections = json.load(urllib.request.urlopen(base + "/collections"))["collections"]
for c in collections:
    matched = json.load(urllib.request.urlopen(f"{base}/collections/{c['id']}/items?limit=1"))["numberMatched"]
    table = c["id"] if c["id"] in tables else c["id"].replace("-", "_")
    assert table in tables, (c["id"], sorted(tables))
    copied = db.execute(f'select count(*) from "{table}"').fetchone()[0]
    assert copied == matched, (c["id"], copied, matched)
    print(f"{c['id']}: {copied} features copied")
EOF
echo "proxy: every check passed"
