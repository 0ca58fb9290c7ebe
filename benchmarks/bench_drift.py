"""Benchmark: drift detection on 1M rows x 20 features, against Evidently's DataDriftPreset.

``python benchmarks/bench_drift.py`` builds a reference and a current frame (14 numeric and 6
categorical features, some shifted by known amounts, one only trivially), times
:func:`monitoring.drift.detect_drift` against the reference profile (and, for a stricter comparison,
profile building plus detection), and prints rows/s and the CPU count. If the Evidently venv exists
(``benchmarks/.out/evidently-venv`` with ``evidently==0.7.*`` and ``pandas<3``), the same Parquet
files are handed to this very script in ``--evidently-worker`` mode under that interpreter, which
times the default ``DataDriftPreset()`` and a KS/chi-square variant at p < 0.01; the ratio and the
per-feature verdict agreement are printed. The issue's target is a ratio of at least 20x. The
worker mode imports only pandas and Evidently, so it runs in a venv without driftline.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / ".out"
EVIDENTLY_PYTHON = OUT / "evidently-venv" / "bin" / "python"
# Known shifts (in reference standard deviations, or a category's share) and one trivial shift.
NUMERIC_SHIFTS = {"num_00": 0.5, "num_03": 0.25, "num_06": 0.1, "num_09": 0.02}
CATEGORY_SHIFT = "cat_02"


def make_data(rows: int, folder: Path) -> tuple[list[str], list[str]]:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(20_240_601)
    numeric = [f"num_{i:02d}" for i in range(14)]
    categorical = [f"cat_{i:02d}" for i in range(6)]

    def frame(current: bool) -> pl.DataFrame:
        columns = {}
        for i, name in enumerate(numeric):
            shift = NUMERIC_SHIFTS.get(name, 0.0) if current else 0.0
            kind = i % 3  # normal, skewed, discrete: the shapes a churn table has
            columns[name] = (rng.normal(shift, 1.0, rows) if kind == 0 else
                             rng.exponential(1.0, rows) * (1 + shift) if kind == 1 else
                             rng.poisson(2.0 + shift, rows).astype(np.int64))
        for i, name in enumerate(categorical):
            levels = [f"level_{j}" for j in range(4 + i)]
            share = np.full(len(levels), 1 / len(levels))
            if current and name == CATEGORY_SHIFT:
                share = np.r_[0.5, np.full(len(levels) - 1, 0.5 / (len(levels) - 1))]
            columns[name] = rng.choice(levels, rows, p=share)
        return pl.DataFrame(columns)

    folder.mkdir(parents=True, exist_ok=True)
    frame(False).write_parquet(folder / "reference.parquet")
    frame(True).write_parquet(folder / "current.parquet")
    return numeric, categorical


def evidently_worker(folder: Path, numeric: list[str], categorical: list[str]) -> None:
    """Runs under the Evidently venv: time the presets and print per-column verdicts as JSON."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    reference = pd.read_parquet(folder / "reference.parquet")
    current = pd.read_parquet(folder / "current.parquet")
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    results = {}
    for label, preset in (("default", DataDriftPreset()),
                          ("ks_chi2", DataDriftPreset(num_method="ks", cat_method="chisquare", threshold=0.01))):
        start = time.perf_counter()
        snapshot = Report([preset]).run(Dataset.from_pandas(current, data_definition=definition),
                                        Dataset.from_pandas(reference, data_definition=definition))
        seconds = time.perf_counter() - start
        verdicts = {}
        for metric in snapshot.dict()["metrics"]:
            config = metric["config"]
            if "column" not in config:
                continue
            method, value, threshold = config["method"], metric["value"], config["threshold"]
            is_p_value = method in ("ks", "chisquare") or "p_value" in method
            drifted = value < threshold if is_p_value else value >= threshold
            verdicts[config["column"]] = {"method": method, "value": float(value), "drifted": bool(drifted)}
        results[label] = {"seconds": seconds, "columns": verdicts}
    print(json.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-evidently", action="store_true", help="skip the Evidently baseline")
    parser.add_argument("--evidently-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--columns", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.evidently_worker is not None:
        numeric, categorical = json.loads(args.columns)
        evidently_worker(args.evidently_worker, numeric, categorical)
        return

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import polars as pl

    from monitoring.drift import detect_drift
    from monitoring.profile import build_profile

    folder = OUT / "drift-bench"
    numeric, categorical = make_data(args.rows, folder)
    reference = pl.read_parquet(folder / "reference.parquet")
    current = pl.read_parquet(folder / "current.parquet")
    start = time.perf_counter()
    profile = build_profile(reference, numeric=numeric, categorical=categorical)
    build_s = time.perf_counter() - start
    timings = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        report = detect_drift(profile, current)
        timings.append(time.perf_counter() - start)
    detect_s = min(timings)
    print(f"cpu_count={os.cpu_count()} rows={args.rows:,} features={len(numeric) + len(categorical)}")
    print(f"driftline build_profile: {build_s:.2f}s (once, at training)")
    print(f"driftline detect_drift:  {detect_s:.2f}s best of {args.repeat} "
          f"({args.rows / detect_s:,.0f} rows/s; runs {', '.join(f'{t:.2f}' for t in timings)})")
    print(f"driftline drifted: {report.drifted_features()} (dataset drifted={report.drifted}); "
          f"significant but immaterial: {[f.name for f in report.features if f.p_adjusted < 0.01 and not f.drifted]}")

    if args.no_evidently:
        return
    if not EVIDENTLY_PYTHON.exists():
        print(f"Evidently baseline skipped: {EVIDENTLY_PYTHON} does not exist (create it with "
              f"python3.11 -m venv {EVIDENTLY_PYTHON.parent.parent} && "
              f"{EVIDENTLY_PYTHON.parent}/pip install 'evidently==0.7.*' 'pandas<3' pyarrow)")
        return
    worker = subprocess.run(
        [str(EVIDENTLY_PYTHON), __file__, "--evidently-worker", str(folder),
         "--columns", json.dumps([numeric, categorical])], capture_output=True, text=True, check=False)
    if worker.returncode != 0:
        print(f"Evidently baseline failed:\n{worker.stderr[-2000:]}")
        return
    evidently = json.loads(worker.stdout.strip().splitlines()[-1])
    ours = {f.name: f for f in report.features}
    for label, result in evidently.items():
        seconds = result["seconds"]
        print(f"evidently DataDriftPreset[{label}]: {seconds:.2f}s -> detect_drift is "
              f"{seconds / detect_s:.1f}x faster ({seconds / (build_s + detect_s):.1f}x counting build_profile)")
    for label, ours_says in (("default", lambda f: f.drifted), ("ks_chi2", lambda f: f.p_adjusted < 0.01)):
        columns = evidently[label]["columns"]
        agree = [name for name in ours if ours_says(ours[name]) == columns[name]["drifted"]]
        differ = [(name, ours_says(ours[name]), columns[name]["drifted"]) for name in ours if name not in agree]
        print(f"verdict agreement with [{label}]: {len(agree)}/{len(ours)}; differing (ours, evidently): {differ}")


if __name__ == "__main__":
    main()
