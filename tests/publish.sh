#!/usr/bin/env bash
# Publishing from the admin API, end to end with the real binary (issue "Admin panel"):
# a made-up city (tests/fixtures/trzy-osiedla) is served with OPS clients only; the
# labour office's file is uploaded through /admin/api/batches, the next tier is
# previewed (audit verdict, what changes), published with a comment and served at once
# (the server reloads between requests, on the same port), then rolled back to the
# first snapshot; then the institutions directory is kept there (added, refused by the
# data contract, edited, retired) and published. Checked on the public API: the
# unemployed appear after publishing and are gone after the rollback, the new
# institution appears once published; the log names each action; analyst tokens are
# refused.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${KMAPA_BIN:-$PWD/target/debug/kmapa}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
fixture=tests/fixtures/trzy-osiedla

"$bin" city new --boundaries "$fixture/districts.geojson" --parent-column parent \
  --parent-name-column parent_name --population "$fixture/population.csv" --out "$work/city" >/dev/null
python3 - "$work" <<'PY'
import csv, sys
# Synthetic clients, located by district: OPS now, PUP uploaded later.
plans = {
    "ops": ("OPS", {"TO-1": {"poverty": 120, "disability": 35}, "TO-2": {"poverty": 70, "disability": 18},
                    "TO-3": {"poverty": 30, "disability": 15}}),
    "pup": ("PUP", {"TO-1": {"unemployed_registered": 90}, "TO-2": {"unemployed_registered": 60},
                    "TO-3": {"unemployed_registered": 25}}),
}
n = 0
for name, (source, plan) in plans.items():
    with open(f"{sys.argv[1]}/{name}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["source", "person_id", "household_id", "year", "category", "lat", "lon",
                    "address", "district", "sex", "birth_year", "age_band", "synthetic"])
        for district, problems in plan.items():
            for category, persons in problems.items():
                for _ in range(persons):
                    n += 1
                    w.writerow([source, f"p{n:06d}", f"h{n:06d}" if source == "OPS" else "", 2024,
                                category, "", "", "", district, "K" if n % 2 else "M",
                                1970 + n % 40, "", "true"])
PY
"$bin" ingest "$work/ops.csv" --city "$work/city" --data-dir "$work/data" --quiet
"$bin" protect --data-dir "$work/data" --quiet
"$bin" publish --data-dir "$work/data" >/dev/null
admin=$("$bin" users add ola --role admin --data-dir "$work/data" | tail -1)
analyst=$("$bin" users add ala --role analyst --data-dir "$work/data" | tail -1)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --data-dir "$work/data" --address "127.0.0.1:$port" --workers 1 >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.2; done

python3 - "http://127.0.0.1:$port" "$admin" "$analyst" "$work/pup.csv" "$fixture/districts.geojson" <<'PY'
import http.client, json, sys, time, urllib.error, urllib.request
base, admin, analyst, pup = sys.argv[1:5]

def call(path, method="GET", body=None, token=admin, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)

resets = 0
def served():
    # A request racing the reload may find its connection closed (a graceful stop waits
    # for requests in flight, not for connections not yet read): counted, asked again.
    global resets
    for _ in range(3):
        try:
            return call("/health", token=None)[1]["snapshot"]
        except (ConnectionResetError, http.client.RemoteDisconnected):
            resets += 1
            time.sleep(0.1)
    raise AssertionError("the server stopped answering")

def unemployed():
    status, items = call("/collections/problems-districts/items?category=unemployed_registered&year=2024", token=None)
    assert status == 200, items
    return {f["properties"]["unit"]: f["properties"]["value"] for f in items["features"]}

def wait_for(n):
    for _ in range(100):
        if served() == n:
            return
        time.sleep(0.1)
    raise AssertionError(f"still serving snapshot {served()}, not {n}")

assert served() == 1
before = unemployed()
assert all(v in (0, None) for v in before.values()), before

# Analyst tokens and no token are refused on every publishing route.
for path, method, body in [("/admin/api/snapshots", "GET", None), ("/admin/api/preview", "POST", None),
                           ("/admin/api/publish", "POST", {"comment": "x"}),
                           ("/admin/api/rollback", "POST", {"comment": "x", "snapshot": 1})]:
    assert call(path, method, body, token=analyst)[0] == 403, path
    assert call(path, method, body, token=None)[0] == 401, path

# Nothing new: publishing what is published is refused.
assert call("/admin/api/publish", "POST", {"comment": "nothing new"})[0] == 409

status, up = call("/admin/api/batches?name=pup.csv", "POST", raw=open(pup, "rb").read())
assert status == 201 and up["batch"]["rows_accepted"] == 175, (status, up)
status, preview = call("/admin/api/preview", "POST")
assert status == 200, preview
assert preview["audit"]["passed"] and preview["against"] == 1 and not preview["same_as_latest"], preview
changed = {(c["measure"], c["year"]) for c in preview["changes"]}
assert ("unemployed_registered", 2024) in changed and ("any_pup", 2024) in changed, changed
assert not any(m.startswith("any_ops") or m in ("poverty", "disability") for m, _ in changed), changed
assert served() == 1, "a preview publishes nothing"

assert call("/admin/api/publish", "POST", {"comment": ""})[0] == 400
status, published = call("/admin/api/publish", "POST", {"comment": "dane PUP za 2024"})
assert status == 200 and published["number"] == 2 and published["comment"] == "dane PUP za 2024", published
wait_for(2)
after = unemployed()
assert after == {"TO-1": 90, "TO-2": 60, "TO-3": 25}, after

status, snaps = call("/admin/api/snapshots")
assert snaps["served"] == 2 and [s["number"] for s in snaps["snapshots"]] == [2, 1], snaps
assert call("/admin/api/rollback", "POST", {"comment": "x", "snapshot": 9})[0] == 404
status, back = call("/admin/api/rollback", "POST", {"comment": "pomyłka, wracamy", "snapshot": 1})
assert status == 200 and back["number"] == 3 and back["copy_of"] == 1, back
wait_for(3)
assert unemployed() == before, unemployed()

status, log = call("/admin/api/log")
actions = [(e["actor"], e["action"], e["result"]) for e in log["entries"]]
for want in [("ola", "preview", "done"), ("ola", "publish", "done"), ("ola", "publish", "nothing to publish"),
             ("ola", "roll back to snapshot 1", "done"), ("ola", "roll back to snapshot 9", "no such snapshot")]:
    assert want in actions, (want, actions)
print(f"published from the admin API: snapshot 2 with the unemployed {after}, rolled back as snapshot 3; {len(actions)} log entries")

# The institutions directory: add (the data contract refuses a bad one, naming the
# column and value), edit, retire; published with the next snapshot.
import shapely
from shapely.geometry import shape
districts = {f["properties"]["code"]: shape(f["geometry"]) for f in json.load(open(sys.argv[5]))["features"]}
inside = districts["TO-2"].representative_point()
new = {"name": "Punkt Interwencji Kryzysowej", "type": "crisis_centre", "sector": "social_assistance",
       "address": "ul. Testowa 1", "lat": f"{inside.y:.6f}", "lon": f"{inside.x:.6f}",
       "categories": ["crisis_situation", "domestic_violence"], "area": "TO-2;TO-3", "opening_hours": "Mo-Fr 08:00-16:00"}
for path in ["/admin/api/institutions"]:
    assert call(path, token=analyst)[0] == 403 and call(path, token=None)[0] == 401
status, bad = call("/admin/api/institutions", "POST", dict(new, categories=["no_such_problem"]))
assert status == 400 and "categories" in bad["detail"] and "no_such_problem" in bad["detail"], bad
status, bad = call("/admin/api/institutions", "POST", dict(new, lat="50.0", lon="20.0"))
assert status == 400 and "outside the city" in bad["detail"], bad
status, bad = call("/admin/api/institutions", "POST", dict(new, colour="red"))
assert status == 400 and "colour" in bad["detail"], bad
status, made = call("/admin/api/institutions", "POST", new)
assert status == 201 and made["id"] == "INST-001" and made["categories"] == "crisis_situation;domestic_violence", made
status, other = call("/admin/api/institutions", "POST", dict(new, name="Klub Integracji Społecznej", type="social_club"))
assert status == 201 and other["id"] == "INST-002", other
status, edited = call("/admin/api/institutions/INST-001", "PUT", {"name": "Ośrodek Interwencji Kryzysowej", "id": "X"})
assert status == 200 and edited["name"] == "Ośrodek Interwencji Kryzysowej" and edited["id"] == "INST-001", edited
assert call("/admin/api/institutions/INST-404", "PUT", {"name": "x"})[0] == 404
status, gone = call("/admin/api/institutions/INST-002/retire", "POST", {"reason": "zamknięty"})
assert status == 200 and gone["id"] == "INST-002", gone
status, listed = call("/admin/api/institutions")
assert [i["id"] for i in listed["institutions"]] == ["INST-001"], listed
req = urllib.request.Request(base + "/admin/api/institutions?format=csv", headers={"Authorization": f"Bearer {admin}"})
csv_text = urllib.request.urlopen(req).read().decode()
assert csv_text.startswith("id,name,type,sector,") and "Ośrodek Interwencji Kryzysowej" in csv_text, csv_text
# Nothing public changes before publishing; the preview says the directory changed.
names = lambda: [f["properties"]["name"] for f in call("/collections/institutions/items", token=None)[1]["features"]]
assert "Ośrodek Interwencji Kryzysowej" not in names()
status, preview = call("/admin/api/preview", "POST")
assert status == 200 and preview["institutions_changed"] and not preview["same_as_latest"], preview
status, published = call("/admin/api/publish", "POST", {"comment": "nowy ośrodek"})
assert status == 200 and published["number"] == 4, published
wait_for(4)
assert names() == ["Ośrodek Interwencji Kryzysowej"], names()
assert call("/admin/api/publish", "POST", {"comment": "again"})[0] == 409
actions = [(e["action"], e["target"], e["result"]) for e in call("/admin/api/log")[1]["entries"]]
for want in [("add institution", "INST-001", "done"), ("edit institution", "INST-001", "done"),
             ("retire institution", "INST-002: zamknięty", "done"), ("add institution", "", "refused by the data contract")]:
    assert want in actions, (want, actions)
print(f"institutions kept from the admin API: added, edited, retired, refused three times by the contract; published as snapshot 4 ({resets} health checks met a closing connection during a reload)")
PY

# The same from the command line: the directory exported, a bad copy refused by the
# contract (naming line, column and value), a good one imported; publish with a
# comment, roll back; each logged as done by "cli".
d="$work/data"
"$bin" institutions export "$work/inst.csv" --data-dir "$d"
grep -q "Ośrodek Interwencji Kryzysowej" "$work/inst.csv"
sed 's/crisis_situation;domestic_violence/no_such_problem/' "$work/inst.csv" >"$work/bad.csv"
if "$bin" institutions import "$work/bad.csv" --data-dir "$d" 2>"$work/err.txt"; then echo "a bad directory was imported" >&2; exit 1; fi
grep -q "line 2" "$work/err.txt" && grep -q "categories" "$work/err.txt" && grep -q "no_such_problem" "$work/err.txt" || { cat "$work/err.txt"; exit 1; }
sed 's/Ośrodek Interwencji Kryzysowej/Ośrodek Interwencji Kryzysowej im. Testowa/' "$work/inst.csv" >"$work/good.csv"
# (Outputs to files first: grep -q would close the pipe early.)
"$bin" institutions import "$work/good.csv" --data-dir "$d" >"$work/out.txt"
grep -q "1 institutions kept" "$work/out.txt"
"$bin" institutions list --data-dir "$d" >"$work/out.txt"
grep -q "im. Testowa" "$work/out.txt"
"$bin" protect --data-dir "$d" --quiet
"$bin" publish --data-dir "$d" --comment "z wiersza poleceń" >"$work/out.txt"
grep -q "published snapshot 5" "$work/out.txt"
"$bin" publish --data-dir "$d" --rollback 4 --comment "z powrotem" >"$work/out.txt"
grep -q "published snapshot 6 with the files of snapshot 4" "$work/out.txt"
if "$bin" publish --data-dir "$d" --rollback 99 2>/dev/null; then echo "rolled back to a snapshot that does not exist" >&2; exit 1; fi
python3 - "$d" <<'PY'
import json, sqlite3, sys
d = sys.argv[1]
m5 = json.load(open(f"{d}/snapshots/000005/manifest.json"))
m6 = json.load(open(f"{d}/snapshots/000006/manifest.json"))
assert m5["comment"] == "z wiersza poleceń" and m6["copy_of"] == 4 and m6["comment"] == "z powrotem", (m5, m6)
inst5 = open(f"{d}/snapshots/000005/institutions.csv").read()
inst6 = open(f"{d}/snapshots/000006/institutions.csv").read()
assert "im. Testowa" in inst5 and "im. Testowa" not in inst6
rows = sqlite3.connect(f"{d}/users.sqlite").execute("SELECT actor, action, result FROM admin_log WHERE actor = 'cli'").fetchall()
for want in [("cli", "import institutions", "refused by the data contract"), ("cli", "import institutions", "done"),
             ("cli", "publish", "done"), ("cli", "roll back to snapshot 4", "done"), ("cli", "roll back to snapshot 99", "no such snapshot")]:
    assert want in rows, (want, rows)
print("the same from the command line: institutions exported, refused, imported; published as snapshot 5, rolled back as 6")
PY
