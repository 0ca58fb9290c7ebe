"""The demo's synthetic drops: layout, determinism, latency of labels, planted bad rows, the shift, learnability."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

from driftline.errors import InputError
from features.contracts import FeatureGroupContract, load_contracts
from features.snapshot import GroupSnapshot
from features.training_set import build_training_set
from flows.demo_data import DropFile, generate_demo

CONTRACTS = load_contracts()
POLARS = {"string": pl.String, "int64": pl.Int64, "float64": pl.Float64}


def read_drop(file: DropFile) -> pl.DataFrame:
    """A drop typed by hand (independently of the ingestion code), bad values left in place as nulls."""
    if file.path.suffix == ".csv":
        raw = pl.read_csv(file.path, infer_schema_length=0)
        frame = raw.with_columns(pl.col("event_time").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", strict=False,
                                                                       time_zone="UTC").alias("_time"))
        frame = frame.with_columns(_unparsed=pl.col("_time").is_null() & pl.col("event_time").is_not_null())
        frame = frame.with_columns(pl.col("_time").alias("event_time")).drop("_time")
    else:
        frame = pl.read_parquet(file.path).with_columns(_unparsed=pl.lit(False))
    contract = CONTRACTS[file.group]
    return frame.with_columns([pl.col(c.name).cast(POLARS[c.dtype], strict=False)
                               for c in contract.columns if c.dtype in POLARS])


def broken(frame: pl.DataFrame, contract: FeatureGroupContract) -> pl.Series:
    """Rows that break the contract: a null where none is allowed, out of range, not allowed, no pattern match."""
    bad = pl.col("_unparsed")
    for c in contract.columns:
        col = pl.col(c.name)
        if not c.nullable:
            bad = bad | col.is_null()
        if c.min is not None:
            bad = bad | (col < c.min).fill_null(False)
        if c.max is not None:
            bad = bad | (col > c.max).fill_null(False)
        if c.allowed:
            bad = bad | ~col.is_in(list(c.allowed)).fill_null(True)
        if c.pattern:
            bad = bad | ~col.str.contains(c.pattern).fill_null(True)
    return frame.select(bad.alias("bad"))["bad"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return generate_demo(tmp_path_factory.mktemp("landing"))


def test_layout_formats_and_label_latency(demo):
    names = {(f.group, f.path.name) for f in demo.files}
    assert ("customer_activity", "day_001.csv") in names and ("customer_activity", "day_002.parquet") in names
    assert ("customer_billing", "day_001.parquet") in names and ("customer_billing", "day_002.csv") in names
    assert all(f.path == demo.landing / f.group / f.path.name and f.path.exists() for f in demo.files)
    label_files = [f for f in demo.files if f.group == "churn_labels"]
    assert [f.day for f in label_files] == list(range(21, 91, 7))  # label times 7, 14, .., 76 land 14 days later
    for file in label_files:
        times = read_drop(file)["event_time"].unique().to_list()
        assert times == [datetime(2026, 1, 1, 23, 30, tzinfo=timezone.utc) + timedelta(days=file.day - 15)]
    assert demo.paths(1, 60) + demo.paths(61, 90) == demo.paths()
    first = read_drop(demo.files[0])
    assert first.height == demo.files[0].rows and first["customer_id"].str.contains(r"^C\d{6}$").all()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    def digest(drop):
        return hashlib.sha256(b"".join(p.read_bytes() for p in drop.paths())).hexdigest()
    a = generate_demo(tmp_path / "a", customers=60, days=25)
    b = generate_demo(tmp_path / "b", customers=60, days=25)
    c = generate_demo(tmp_path / "c", customers=60, days=25, seed=8)
    assert digest(a) == digest(b) != digest(c)
    assert a.bad_rows() == b.bad_rows()


def test_exactly_the_planted_rows_break_the_contracts(demo):
    kinds = set()
    for file in demo.files:
        frame = read_drop(file)
        found = int(broken(frame, CONTRACTS[file.group]).sum())
        assert found == file.bad_rows, f"{file.path}: {found} rows break the contract, {file.bad_rows} were planted"
        kinds |= set(file.bad_kinds)
        if file.path.suffix == ".parquet":
            assert "unparseable_timestamp" not in file.bad_kinds
    assert 20 <= demo.bad_rows() <= 80 and demo.bad_rows(1, 60) + demo.bad_rows(61, 90) == demo.bad_rows()
    assert {"negative_sessions", "unknown_device", "malformed_customer_id", "minutes_above_1440",
            "unparseable_timestamp", "null_in_non_nullable"} <= kinds


def test_pages_per_session_is_null_exactly_without_sessions(demo):
    frame = pl.concat([read_drop(f) for f in demo.files if f.group == "customer_activity" and not f.bad_rows])
    assert (frame["pages_per_session"].is_null() == (frame["sessions"] == 0)).all()


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI over the reference's deciles (or categories), empty bins floored at 1e-4."""
    if reference.dtype.kind in "OUT":
        cats = sorted(set(reference) | set(current))
        ref = np.array([np.mean(reference == c) for c in cats])
        cur = np.array([np.mean(current == c) for c in cats])
    else:
        edges = np.unique(np.quantile(reference, np.linspace(0, 1, 11))[1:-1])
        ref = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1) / len(reference)
        cur = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1) / len(current)
    ref, cur = np.maximum(ref, 1e-4), np.maximum(cur, 1e-4)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def test_the_shift_after_day_60_is_material(demo):
    def window(group, first, last):
        return pl.concat([read_drop(f) for f in demo.for_days(first, last) if f.group == group and not f.bad_rows])
    values = {}
    for group, column in (("customer_activity", "sessions"), ("customer_activity", "device"),
                          ("customer_billing", "monthly_spend")):
        before, after = window(group, 1, 60)[column].to_numpy(), window(group, 61, 90)[column].to_numpy()
        values[column] = psi(before, after)
    assert all(v > 0.2 for v in values.values()), values
    stable = (window("customer_activity", 1, 30)["sessions"].to_numpy(),
              window("customer_activity", 31, 60)["sessions"].to_numpy())
    assert psi(*stable) < 0.1  # before the shift, the data is stationary enough not to look like drift


def test_generation_is_fast_and_checks_its_arguments(tmp_path):
    started = time.process_time()
    drop = generate_demo(tmp_path / "fast")
    # About 0.5 s on an idle machine; CPU time (not wall time) keeps the check honest on a busy one.
    assert time.process_time() - started < 3.0 and drop.rows("customer_activity") > 100_000
    with pytest.raises(InputError, match="0 customers"):
        generate_demo(tmp_path / "x", customers=0)


@pytest.mark.slow
def test_a_model_can_learn_churn_from_point_in_time_features(demo, tmp_path):
    lightgbm = pytest.importorskip("lightgbm")
    from sklearn.metrics import roc_auc_score
    snapshots = {}
    for group, contract in CONTRACTS.items():
        frame = pl.concat([read_drop(f) for f in demo.files if f.group == group])
        frame = frame.filter(~broken(frame, contract)).drop("_unparsed")
        path = tmp_path / f"{group}.parquet"
        frame.with_columns(_ingested_at=pl.lit(datetime(2026, 6, 1, tzinfo=timezone.utc)), _source=pl.lit("s")) \
            .write_parquet(path)
        snapshots[group] = GroupSnapshot(group, 1, (str(path),))
    ts = build_training_set(snapshots["churn_labels"],
                            [snapshots["customer_activity"], snapshots["customer_billing"]], CONTRACTS)
    x = ts.frame.select(ts.feature_columns).with_columns(
        [pl.col(c).cast(pl.Categorical).to_physical().cast(pl.Float64) for c in ts.categorical_columns]).to_numpy()
    y = ts.frame[ts.label_column].to_numpy()
    train = np.random.default_rng(0).random(len(y)) < 0.7
    model = lightgbm.LGBMClassifier(n_estimators=200, learning_rate=0.05, num_leaves=15, verbose=-1)
    auc = roc_auc_score(y[~train], model.fit(x[train], y[train]).predict_proba(x[~train])[:, 1])
    assert 0.72 <= auc <= 0.9, auc
