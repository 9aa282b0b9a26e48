"""A real OGC API - Features client (OWSLib, as used by QGIS plugins and Python GIS
scripts) reads kmapa's live server: landing page, conformance, the OpenAPI document,
collections, items with filters, paging and bbox, and one feature. Run by
tests/api_fuzz.sh against its live server: python3 tests/ogc_client.py URL METRICS_TOKEN
"""
import sys

from owslib.ogcapi.features import Features

url = sys.argv[1]
metrics_token = sys.argv[2]
api = Features(url)

conformance = api.conformance()["conformsTo"]
for cls in ("core", "geojson", "oas30"):
    assert any(c.endswith("/conf/" + cls) for c in conformance), (cls, conformance)

openapi = api.api()
assert openapi["openapi"].startswith("3.0"), openapi["openapi"]

collections = {c["id"]: c for c in api.collections()["collections"]}
for needed in ("districts", "problems-districts", "problems-parents", "institutions"):
    assert needed in collections, (needed, list(collections))
hexagons = [c for c in collections if c == "problems-h3" or c.startswith("problems-h3-")]
assert hexagons, list(collections)
if "problems-h3" in collections:
    # The adaptive hexagon layer: hexagons of several resolutions, each saying which.
    hx = api.collection_items("problems-h3", category="any_ops", limit=10000)
    res = {f["properties"]["resolution"] for f in hx["features"]}
    assert len(res) >= 2 and res <= set(range(5, 11)), res
assert "features" in api.feature_collections() or api.feature_collections()

# Districts: every feature once across pages.
seen = []
offset = 0
while True:
    page = api.collection_items("districts", limit=10, offset=offset)
    seen += [f["id"] for f in page["features"]]
    if page["numberReturned"] < 10:
        break
    offset += 10
assert len(seen) == len(set(seen)) == page["numberMatched"], (len(seen), page["numberMatched"])

# A problem layer, filtered as a user would, with the values' status.
meta = api.collection("problems-districts")
assert meta["id"] == "problems-districts" and meta["extent"]["spatial"]["bbox"], meta
items = api.collection_items("problems-districts", category="any_ops", limit=1000)
assert items["numberMatched"] > 0
for f in items["features"]:
    p = f["properties"]
    assert p["category"] == "any_ops"
    assert p["value"] is None or p["value"] == 0 or p["value"] >= 10, p
    # One public status for hidden cells: why a cell is hidden is never published.
    assert p["status"] in ("safe", "empty", "hidden"), p
    assert (p["value"] is None) == (p["status"] == "hidden"), p

# Queryables (Part 3): the filters OWSLib and QGIS offer, with the values they take;
# a listed value filters, an unlisted one is refused with a 400.
queryables = api.collection_queryables("problems-districts")
assert {"category", "year", "unit"} <= set(queryables["properties"]), queryables
years = queryables["properties"]["year"]["enum"]
page = api.collection_items("problems-districts", category="poverty", year=years[-1], limit=1000)
assert page["numberMatched"] > 0 and all(f["properties"]["year"] == years[-1] for f in page["features"])
import urllib.error, urllib.request as _rq
try:
    _rq.urlopen(url + "/collections/problems-districts/items?category=povrety")
    raise AssertionError("an unknown category was answered")
except urllib.error.HTTPError as e:
    assert e.code == 400 and e.headers["Content-Type"] == "application/problem+json", e
# HEAD, as link checkers and caches send it.
head = _rq.urlopen(_rq.Request(url + "/collections", method="HEAD"))
assert head.status == 200 and head.read() == b"", head.status

# bbox: only features that touch it.
bbox = [17.0, 51.09, 17.05, 51.12]
inside = api.collection_items("districts", bbox=bbox, limit=1000)
assert 0 < inside["numberMatched"] < len(seen), inside["numberMatched"]

# One feature by id.
one = api.collection_item("districts", seen[0])
assert one["id"] == seen[0]

# Each district's area (the revitalisation limits use it) against GeographicLib's
# geodesic polygon area on WGS84, computed here from the served geometry.
from geographiclib.geodesic import Geodesic


def ring_area(ring):
    poly = Geodesic.WGS84.Polygon()
    for lon, lat in ring[:-1]:
        poly.AddPoint(lat, lon)
    return abs(poly.Compute(False, True)[2])


all_districts = api.collection_items("districts", limit=1000)["features"]
for f in all_districts:
    polys = f["geometry"]["coordinates"] if f["geometry"]["type"] == "MultiPolygon" else [f["geometry"]["coordinates"]]
    m2 = sum(ring_area(p[0]) - sum(ring_area(h) for h in p[1:]) for p in polys)
    got = f["properties"]["area_km2"]
    assert abs(got - m2 / 1e6) <= 0.0006 + 1e-6 * got, (f["id"], got, m2 / 1e6)
city_km2 = sum(f["properties"]["area_km2"] for f in all_districts)

print(f"OWSLib read {len(collections)} collections, {len(seen)} districts, "
      f"{items['numberMatched']} any_ops features, {inside['numberMatched']} in the bbox, "
      f"district areas as GeographicLib's (city {city_km2:.1f} km²)")

# Operations: /health, and /metrics as Prometheus text that Prometheus' own parser reads,
# counting the requests just made by route pattern (never a query string or a value).
import json
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

with urllib.request.urlopen(url + "/health") as r:
    assert json.load(r)["status"] == "ok"
# Not for the public: without a token 401, with another role's 403.
for headers, code in (({}, 401), ({"Authorization": "Bearer kmapa_not_a_token"}, 401)):
    try:
        urllib.request.urlopen(urllib.request.Request(url + "/metrics", headers=headers))
        raise AssertionError("/metrics answered without a metrics token")
    except urllib.error.HTTPError as e:
        assert e.code == code, (headers, e.code)
req = urllib.request.Request(url + "/metrics", headers={"Authorization": "Bearer " + metrics_token})
with urllib.request.urlopen(req) as r:
    text = r.read().decode()
families = {f.name: f for f in text_string_to_metric_families(text)}
requests = families["kmapa_http_requests"].samples
routes = {s.labels["route"] for s in requests}
assert "/collections/{id}/items" in routes, routes
assert all("?" not in r and "category" not in r for r in routes), routes
ok = sum(s.value for s in requests if s.labels["route"] == "/collections/{id}/items" and s.labels["status"] == "2xx")
assert ok >= 4, ok
assert families["kmapa_snapshot"].samples[0].value >= 1
print(f"/metrics parsed by prometheus_client: {len(routes)} routes, {ok:.0f} items requests answered 2xx")
