"""Benchmark: ingesting Parquet drops of N rows x 20 columns, against polars' own ``write_parquet``.

``python benchmarks/bench_ingest.py --rows 10000000`` writes a contract (TOML, in the
``features.contracts`` format) of 20 typed columns — string entity key with a pattern, event
time, six ints and six floats with bounds (two of each nullable and holding nulls), a categorical
with allowed values, a second categorical, free text, a bool and a date — into a temporary folder,
then writes the rows as ``--files`` Parquet drops under ``landing/<group>/`` with a small share of
rows that break a bound (``--bad-share``). Each drop is a day of data, so no key repeats.
Then, each in a fresh subprocess so that peak memory (``ru_maxrss``) is its own: the baseline reads
the drops into memory (untimed) and times ``DataFrame.write_parquet`` of each; the driftline run
times :func:`features.ingest.ingest_files` of all drops into a :class:`FeatureStore` (reading,
validation, quarantine and the Delta commit). It prints rows/s of both, their ratio (the issue's
target is at least 0.5: the raw writer is the limit), the same per CPU-second (steadier when
other processes share the cores), peak RSS and ``os.cpu_count()``: medians of ``--repeats`` runs of
each, interleaved (a 2-core machine shared with others varies by 10% from run to run).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GROUP = "bench_events"
DAY0 = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2025, 1, 1, tzinfo=UTC)
DEVICES = ["mobile", "desktop", "tablet", "tv"]
PLANS = ["free", "basic", "pro", "enterprise", "trial"]
CONTRACT = f"""
name = "{GROUP}"
version = 1
entity_keys = ["customer_id"]
event_time = "event_time"
duplicates = "keep_latest"

[[columns]]
name = "customer_id"
dtype = "string"
nullable = false
pattern = '^C\\d{{8}}$'
pii = true

[[columns]]
name = "event_time"
dtype = "timestamp"
nullable = false
""" + "".join(f"""
[[columns]]
name = "count_{i}"
dtype = "int64"
nullable = {"true" if i >= 4 else "false"}
min = 0
max = 1000000
""" for i in range(6)) + "".join(f"""
[[columns]]
name = "amount_{i}"
dtype = "float64"
nullable = {"true" if i >= 4 else "false"}
min = -1000
max = 1000
""" for i in range(6)) + f"""
[[columns]]
name = "device"
dtype = "string"
nullable = false
allowed = {json.dumps(DEVICES)}
categorical = true

[[columns]]
name = "plan"
dtype = "string"
nullable = true
allowed = {json.dumps(PLANS)}
categorical = true

[[columns]]
name = "note"
dtype = "string"
nullable = true

[[columns]]
name = "country"
dtype = "string"
nullable = false

[[columns]]
name = "active"
dtype = "bool"
nullable = false

[[columns]]
name = "signup_date"
dtype = "date"
nullable = true
"""


def make_frame(rows: int, day: int, bad_share: float, seed: int) -> pl.DataFrame:
    """One drop: ``rows`` customers on day ``day``; ``bad_share`` of rows hold a count above max."""
    rng = np.random.default_rng(seed)
    ids = np.arange(rows)
    columns: dict[str, object] = {
        "customer_id": pl.select(pl.lit("C") + pl.lit(pl.Series(ids)).cast(pl.String).str.zfill(8)).to_series(),
        "event_time": pl.select(pl.repeat(DAY0 + timedelta(days=day), rows)).to_series().dt.cast_time_unit("us"),
    }
    for i in range(6):
        values = rng.integers(0, 1_000_000, rows)
        if i == 0:
            values[rng.random(rows) < bad_share] = 2_000_000
        mask = rng.random(rows) < 0.1 if i >= 4 else None
        columns[f"count_{i}"] = pl.Series(values).scatter(np.flatnonzero(mask), None) if mask is not None \
            else pl.Series(values)
    for i in range(6):
        values = rng.uniform(-1000, 1000, rows)
        mask = rng.random(rows) < 0.1 if i >= 4 else None
        columns[f"amount_{i}"] = pl.Series(values).scatter(np.flatnonzero(mask), None) if mask is not None \
            else pl.Series(values)
    columns["device"] = pl.Series(np.array(DEVICES)[rng.integers(0, len(DEVICES), rows)])
    plans = pl.Series(np.array(PLANS)[rng.integers(0, len(PLANS), rows)])
    columns["plan"] = plans.scatter(np.flatnonzero(rng.random(rows) < 0.05), None)
    words = np.array(["late payment", "upgraded", "asked about invoices", "churn risk", "happy", ""])
    notes = pl.Series(words[rng.integers(0, len(words), rows)])
    columns["note"] = notes.scatter(np.flatnonzero(rng.random(rows) < 0.5), None)
    columns["country"] = pl.Series(np.array(["DE", "FR", "NL", "US", "GB", "JP"])[rng.integers(0, 6, rows)])
    columns["active"] = pl.Series(rng.random(rows) < 0.7)
    signup = pl.Series((rng.integers(0, 3000, rows)).astype("timedelta64[D]") + np.datetime64("2015-01-01"))
    columns["signup_date"] = signup.cast(pl.Date)
    return pl.DataFrame(columns)


def write_data(folder: Path, rows: int, files: int, bad_share: float) -> list[Path]:
    (folder / "contracts").mkdir(parents=True)
    (folder / "contracts" / f"{GROUP}.toml").write_text(CONTRACT, encoding="utf-8")
    landing = folder / "landing" / GROUP
    landing.mkdir(parents=True)
    paths = []
    per_file = [rows // files + (1 if f < rows % files else 0) for f in range(files)]
    for day, count in enumerate(per_file):
        path = landing / f"day{day:03d}.parquet"
        make_frame(count, day, bad_share, seed=day).write_parquet(path)
        paths.append(path)
    return paths


def child_baseline(folder: Path) -> dict[str, float]:
    paths = sorted((folder / "landing" / GROUP).glob("*.parquet"))
    out = folder / "baseline"
    out.mkdir(exist_ok=True)
    seconds, cpu, rows = 0.0, 0.0, 0
    for path in paths:  # one drop in memory at a time, as ingestion holds it
        frame = pl.read_parquet(path)
        os.sync()  # untimed: no earlier write still being flushed while this one is timed
        started, cpu_started = time.perf_counter(), time.process_time()
        frame.write_parquet(out / path.name)
        seconds += time.perf_counter() - started
        cpu += time.process_time() - cpu_started
        rows += frame.height
    return {"seconds": seconds, "cpu": cpu, "rows": rows, "stored": rows, "quarantined": 0}


def child_ingest(folder: Path) -> dict[str, float]:
    from features.contracts import load_contracts
    from features.ingest import ingest_files
    from features.quarantine import Quarantine
    from features.store import FeatureStore

    contracts = load_contracts(folder / "contracts")
    paths = sorted((folder / "landing" / GROUP).glob("*.parquet"))
    shutil.rmtree(folder / "home", ignore_errors=True)
    store, quarantine = FeatureStore(folder / "home" / "store"), Quarantine(folder / "home" / "quarantine")
    shutil.rmtree(folder / "baseline", ignore_errors=True)
    os.sync()  # untimed: the baseline's files are not being flushed to disk while ingestion is timed
    started, cpu_started = time.perf_counter(), time.process_time()
    reports = ingest_files(paths, contracts, store, quarantine, landing_root=folder / "landing", now=NOW)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    assert all(r.status == "stored" for r in reports), [r.error for r in reports]
    stored, quarantined = sum(r.rows_stored for r in reports), sum(r.rows_quarantined for r in reports)
    return {"seconds": seconds, "cpu": cpu, "rows": sum(r.rows_in for r in reports), "stored": stored,
            "quarantined": quarantined, "files": len(store.snapshot(GROUP).files)}


def _median(results: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows over all drops (the issue: 10000000)")
    parser.add_argument("--files", type=int, default=10, help="Parquet drops the rows are split into")
    parser.add_argument("--bad-share", type=float, default=0.001, help="share of rows that break a bound")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, interleaved; medians are printed")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print it")
    parser.add_argument("--child", choices=("baseline", "ingest"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = {"baseline": child_baseline, "ingest": child_ingest}[args.child](args.folder)
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
        print(json.dumps(result))
        return
    folder = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        started = time.perf_counter()
        write_data(folder, args.rows, args.files, args.bad_share)
        print(f"wrote {args.rows:,} rows x 20 columns as {args.files} Parquet drops "
              f"in {time.perf_counter() - started:.1f} s")
        runs: dict[str, list[dict[str, float]]] = {"baseline": [], "ingest": []}
        for _ in range(args.repeats):  # interleaved, so that a burst of load hits both alike
            for name in runs:
                done = subprocess.run([sys.executable, __file__, "--child", name, "--folder", str(folder)],
                                      check=True, capture_output=True, text=True)
                runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"os.cpu_count()={os.cpu_count()} rows={args.rows:,} files={args.files} bad_share={args.bad_share} "
              f"repeats={args.repeats} (medians)")
        base, ours = _median(runs["baseline"]), _median(runs["ingest"])
        for label, r in (("polars write_parquet", base), ("driftline ingest_files", ours)):
            print(f"{label:>22}: {r['seconds']:7.2f} s  {r['rows'] / r['seconds']:>12,.0f} rows/s  "
                  f"cpu {r['cpu']:6.2f} s  "
                  f"peak {r['peak_mb']:6.0f} MB  stored {int(r['stored']):,}  quarantined {int(r['quarantined']):,}")
        ratio = base["seconds"] / ours["seconds"]  # the same rows in: throughput ratio = time ratio
        cpu_ratio = base["cpu"] / ours["cpu"]
        each = ", ".join(f"{b['seconds'] / o['seconds']:.2f}" for b, o in zip(runs["baseline"], runs["ingest"],
                                                                             strict=True))
        print(f"ratio ingest / write_parquet throughput = {ratio:.2f} (target >= 0.5; each repeat: {each}); "
              f"per CPU-second {cpu_ratio:.2f} (steadier on a busy machine); Delta files written: {int(ours['files'])}")
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
