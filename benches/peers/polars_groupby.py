"""The reference for `kmapa protect`'s counting: what an analyst would write with polars
to count distinct persons per district x category x year from kmapa's own batch files
(the same Parquet files `kmapa protect` reads). Prints the seconds taken and the number
of counts. Usage: python3 benches/peers/polars_groupby.py DATA_DIR"""
import glob
import sys
import time

import polars as pl

files = sorted(glob.glob(f"{sys.argv[1]}/batches/*/records.parquet"))
start = time.perf_counter()
counts = (
    pl.scan_parquet(files)
    .group_by(["district", "category", "year"])
    .agg(pl.col("person_id").n_unique().alias("persons"))
    .collect()
)
took = time.perf_counter() - start
print(f"polars {pl.__version__}: {counts.height} district x category x year counts in {took:.2f} s")
