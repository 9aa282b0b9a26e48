"""The GeoPandas peer of `kmapa ingest`: what an analyst would write to bin lat/lon
client records into districts and H3 res-9 hexagons and count distinct persons per
district x category x year and hexagon x category x year (GeoPandas spatial join,
h3ronpy's vectorised cell ids). Records without coordinates are dropped, as such a
script would (kmapa geocodes them by address). Prints the seconds taken, the rows
binned and the counts. Synthetic data only (`kmapa gen`).
Usage: python3 benches/peers/geopandas_h3.py CITY_DIR CSV [CSV ...]"""
import sys
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
from h3ronpy.vector import coordinates_to_cells

city, csvs = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
districts = gpd.read_file(f"{city}/districts.geojson")[["code", "geometry"]]
columns = ["source", "person_id", "year", "category", "lat", "lon"]
records = pd.concat(
    [pd.read_csv(f, usecols=columns, engine="pyarrow") for f in csvs], ignore_index=True
)
located = records.dropna(subset=["lat", "lon"])
points = gpd.GeoDataFrame(
    located, geometry=gpd.points_from_xy(located.lon, located.lat), crs="EPSG:4326"
)
joined = gpd.sjoin(points, districts, predicate="within", how="inner")
cells = coordinates_to_cells(joined.lat.to_numpy(), joined.lon.to_numpy(), 9)
joined["h3_9"] = np.asarray(pa.array(cells))
by_district = joined.groupby(["code", "category", "year"]).person_id.nunique()
by_hexagon = joined.groupby(["h3_9", "category", "year"]).person_id.nunique()
took = time.perf_counter() - start
print(
    f"geopandas {gpd.__version__}: {len(records)} records, {len(joined)} binned, "
    f"{len(by_district)} district and {len(by_hexagon)} hexagon counts in {took:.2f} s"
)
