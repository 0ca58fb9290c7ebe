"""Benchmark: latest feature values of N entities across three groups, for batch scoring.

``python benchmarks/bench_latest.py --entities 1000000`` writes three feature groups (the groups of
``bench_training_set``: TTL 7 d, 35 d and none) with ``--rows-per-entity`` rows per entity on
average over 90 days, about 1% of them re-stated with a later ``_ingested_at``, as Parquet. Then it
times, each in a fresh subprocess so that peak memory (``ru_maxrss``) is its own,
:func:`features.latest.latest_features` at day 60 against a hand-written DuckDB query over the same
files (latest row per entity at or before the moment, expired values dropped, groups full-joined).
It checks that both give the same rows and prints seconds, their ratio, peak RSS and the CPU count.
The issue asks for a million entities "in seconds".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_training_set import GROUPS, T0, contracts, timed_child  # noqa: E402
from features.latest import latest_features  # noqa: E402
from features.snapshot import GroupSnapshot  # noqa: E402

OUT = Path(__file__).resolve().parent / ".out" / "latest"
AS_OF = T0 + timedelta(days=60)


def write_data(folder: Path, entities: int, per_entity: float, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    ids = np.char.add("C", np.char.zfill(np.arange(entities).astype(str), 7))
    rows = int(entities * per_entity)
    folder.mkdir(parents=True, exist_ok=True)
    for name, columns, _ in GROUPS:
        seconds = int(T0.timestamp()) + rng.integers(0, 90 * 86_400, rows)
        data = pl.DataFrame({"customer_id": ids[rng.integers(0, entities, rows)],
                             "event_time": pl.from_epoch(pl.Series(seconds), "s").dt.replace_time_zone("UTC"),
                             **{c: rng.gamma(2.0, 3.0, rows) for c in columns},
                             "_ingested_at": T0 + timedelta(days=90), "_source": "bench"})
        # Chance collisions of (key, time) would make "which row wins" a coin toss; only planned ones stay.
        data = data.unique(["customer_id", "event_time"], keep="first", maintain_order=True)
        restated = data.sample(fraction=0.01, seed=seed).with_columns(
            pl.col(columns[0]) + 1.0, _ingested_at=pl.col("_ingested_at") + timedelta(hours=1))
        pl.concat([data, restated]).write_parquet(folder / f"{name}.parquet")


def run_driftline(folder: Path) -> pl.DataFrame:
    snapshots = [GroupSnapshot(name, 1, (str(folder / f"{name}.parquet"),)) for name, _, _ in GROUPS]
    return latest_features(snapshots, contracts(), as_of=AS_OF)


def run_duckdb(folder: Path) -> pl.DataFrame:
    import duckdb
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    ctes, names = [], []
    for name, columns, ttl in GROUPS:
        fresh = f" AND event_time >= $as_of - INTERVAL {ttl.days} DAY" if ttl else ""
        ctes.append(f"{name} AS (SELECT customer_id, {', '.join(columns)} FROM read_parquet('{folder}/{name}.parquet') "
                    f"WHERE event_time <= $as_of{fresh} QUALIFY row_number() OVER "
                    "(PARTITION BY customer_id ORDER BY event_time DESC, _ingested_at DESC) = 1)")
        names.append(name)
    joined = names[0] + "".join(f" FULL JOIN {n} USING (customer_id)" for n in names[1:])
    columns = ", ".join(c for _, cs, _ in GROUPS for c in cs)
    query = f"WITH {', '.join(ctes)} SELECT customer_id, {columns} FROM {joined} ORDER BY customer_id"
    return con.sql(query, params={"as_of": AS_OF}).pl()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000, help="entities (the issue: 1000000)")
    parser.add_argument("--rows-per-entity", type=float, default=3.0, help="rows per entity and group, on average")
    parser.add_argument("--repeat", type=int, default=2, help="runs per approach; the best is reported")
    parser.add_argument("--child", choices=("driftline", "duckdb"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    folder = args.folder or OUT / f"entities-{args.entities}-{args.rows_per_entity:g}"
    if args.child:
        return timed_child({"driftline": run_driftline, "duckdb": run_duckdb}[args.child], args.child, folder,
                           args.repeat)
    if not (folder / f"{GROUPS[-1][0]}.parquet").exists():
        started = time.perf_counter()
        write_data(folder, args.entities, args.rows_per_entity)
        print(f"wrote {args.entities:,} entities x {args.rows_per_entity:g} rows x {len(GROUPS)} groups "
              f"in {time.perf_counter() - started:.1f} s")
    results = {}
    for approach in ("driftline", "duckdb"):
        done = subprocess.run([sys.executable, __file__, "--child", approach, "--folder", str(folder),
                               "--repeat", str(args.repeat)], check=True, capture_output=True, text=True)
        results[approach] = json.loads(done.stdout.strip().splitlines()[-1])
    ours = pl.read_parquet(folder / "result-driftline.parquet")
    theirs = pl.read_parquet(folder / "result-duckdb.parquet").select(ours.columns).cast(ours.schema)
    rows = sum(pl.scan_parquet(folder / f"{name}.parquet").select(pl.len()).collect().item() for name, _, _ in GROUPS)
    print(f"cpu_count={os.cpu_count()} entities={args.entities:,} feature_rows={rows:,} best of {args.repeat}; "
          f"same rows: {ours.equals(theirs)}")
    for approach, r in results.items():
        print(f"{approach:>10}: {r['seconds']:7.2f} s  peak {r['peak_mb']:7.0f} MB  entities out {r['rows']:,}  "
              f"time / hand-written DuckDB = {r['seconds'] / results['duckdb']['seconds']:5.2f}")


if __name__ == "__main__":
    main()
