#!/usr/bin/env bash
# The PostGIS peer of `kmapa ingest`: what a GIS analyst would do in a database: COPY
# the lat/lon client records in, join them to the districts with ST_Contains (GiST
# index) and count distinct persons per district x category x year with GROUP BY.
# No H3 (Debian has no h3-pg). A throwaway PostgreSQL cluster on a Unix socket in a
# temporary directory, stopped and removed at the end. Prints the seconds from COPY to
# the last count, the rows binned and the counts. Synthetic data only (`kmapa gen`).
# Usage: benches/peers/postgis.sh CITY_DIR CSV [CSV ...]
#   (needs Debian's postgresql-15-postgis-3; benches/peers.sh installs it)
set -euo pipefail
city=$1
shift
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
work=$(mktemp -d)
chmod 755 "$work"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$work"
trap 'as_pg "$pgbin/pg_ctl" -D "$work/db" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
as_pg "$pgbin/initdb" -D "$work/db" -A trust -U bench >/dev/null
as_pg "$pgbin/pg_ctl" -D "$work/db" -l "$work/log" -w \
  -o "-k $work -c listen_addresses='' -c shared_buffers=1GB -c work_mem=256MB -c max_parallel_workers_per_gather=2 -c fsync=off" \
  start >/dev/null
psql() { as_pg "$pgbin/psql" -h "$work" -U bench -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

python3 - "$city/districts.geojson" >"$work/districts.sql" <<'PY'
import json, sys
for f in json.load(open(sys.argv[1]))["features"]:
    g = json.dumps(f["geometry"]).replace("'", "''")
    print(f"INSERT INTO districts VALUES ('{f['properties']['code']}', ST_SetSRID(ST_GeomFromGeoJSON('{g}'), 4326));")
PY
psql <<'SQL'
CREATE EXTENSION postgis;
CREATE TABLE districts (code text, geom geometry(Geometry, 4326));
SQL
psql <"$work/districts.sql"
psql -c "CREATE INDEX ON districts USING gist (geom); ANALYZE districts;"
psql -c "CREATE UNLOGGED TABLE records (source text, person_id text, household_id text, year int, category text, lat double precision, lon double precision, address text, district text, sex text, birth_year int, age_band text, synthetic text);"

start=$(date +%s.%N)
for f in "$@"; do
  psql -c "\\copy records FROM STDIN WITH (FORMAT csv, HEADER true)" <"$f"
done
result=$(psql <<'SQL'
CREATE UNLOGGED TABLE binned AS
  SELECT r.person_id, r.category, r.year, d.code
  FROM records r JOIN districts d
    ON ST_Contains(d.geom, ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326))
  WHERE r.lat IS NOT NULL;
SELECT (SELECT count(*) FROM records) || ' records, ' || (SELECT count(*) FROM binned) || ' binned, '
  || (SELECT count(*) FROM (SELECT code, category, year, count(DISTINCT person_id)
                            FROM binned GROUP BY 1, 2, 3) c) || ' district counts';
SQL
)
end=$(date +%s.%N)
echo "postgis $(psql -c 'SELECT postgis_lib_version()'): $result in $(python3 -c "print(f'{$end - $start:.2f}')") s"
