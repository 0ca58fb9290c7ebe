"""Point-in-time training sets: DuckDB's ASOF join against a brute-force reference, leakage, TTL, errors."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline.errors import ContractError, NotFoundError, StoreError
from features.contracts import ColumnSpec, FeatureGroupContract, load_contracts
from features.snapshot import GroupSnapshot
from features.training_set import build_training_set, frame_fingerprint

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
KEY = ColumnSpec("customer_id", "string", nullable=False)
TIME = ColumnSpec("event_time", "timestamp", nullable=False)
LABELS = FeatureGroupContract("labels", 1, ("customer_id",), "event_time",
                              (KEY, TIME, ColumnSpec("churned", "int64")), label="churned", task="binary")
ACTIVITY = FeatureGroupContract("activity", 1, ("customer_id",), "event_time",
                                (KEY, TIME, ColumnSpec("sessions", "int64"),
                                 ColumnSpec("device", "string", categorical=True)), ttl=timedelta(minutes=5))
BILLING = FeatureGroupContract("billing", 1, ("customer_id",), "event_time",
                               (KEY, TIME, ColumnSpec("spend", "float64")))
CONTRACTS = {c.name: c for c in (LABELS, ACTIVITY, BILLING)}


def snapshot(folder: Path, group: str, rows: list[dict], *, version: int = 3, files: int = 1) -> GroupSnapshot:
    """Write ``rows`` (contract columns plus ``_ingested_at``) as the group's Parquet files."""
    contract = CONTRACTS[group]
    schema = {c.name: {"string": pl.String, "int64": pl.Int64, "float64": pl.Float64,
                       "timestamp": pl.Datetime("us", "UTC")}[c.dtype] for c in contract.columns}
    schema |= {"_ingested_at": pl.Datetime("us", "UTC"), "_source": pl.String}
    frame = pl.DataFrame([{**r, "_source": "sha"} for r in rows], schema=schema)
    paths = []
    parts = list(frame.iter_slices(max(1, -(-frame.height // files)))) or [frame]  # an empty file is a file too
    for i, part in enumerate(parts):
        path = folder / f"{group}-{i}.parquet"
        part.write_parquet(path)
        paths.append(str(path))
    return GroupSnapshot(group, version, tuple(paths))


def rows_strategy(value: st.SearchStrategy, entities: str) -> st.SearchStrategy:
    """Rows on a coarse minute grid, so ties and duplicates (same key and time) are common."""
    return st.lists(st.tuples(st.sampled_from(entities), st.integers(0, 20), value), max_size=25)


def with_ingestion(raw: list[tuple], column_values) -> list[dict]:
    # Distinct ingestion times: the latest one decides a duplicate, unambiguously.
    return [{"customer_id": k, "event_time": T0 + timedelta(minutes=m), **column_values(v),
             "_ingested_at": T0 + timedelta(days=1, seconds=i)} for i, (k, m, v) in enumerate(raw)]


def latest(rows: list[dict]) -> dict[tuple, dict]:
    """Brute-force dedup: per (key, time) the row with the latest ingestion."""
    out: dict[tuple, dict] = {}
    for row in rows:
        ident = (row["customer_id"], row["event_time"])
        if ident not in out or row["_ingested_at"] > out[ident]["_ingested_at"]:
            out[ident] = row
    return out


def reference(labels, groups, since, until) -> list[dict]:
    result = []
    for (key, t), row in sorted(latest(labels).items(), key=lambda kv: (kv[0][1], kv[0][0])):
        if (since and t < since) or (until and t >= until):
            continue
        out = {"customer_id": key, "event_time": t, "churned": row["churned"]}
        for contract, rows in groups:
            seen = [r for (k, ft), r in latest(rows).items() if k == key and ft <= t]
            best = max(seen, key=lambda r: r["event_time"], default=None)
            if best is not None and contract.ttl is not None and best["event_time"] < t - contract.ttl:
                best = None
            out |= {c: (best[c] if best else None) for c in contract.feature_columns}
        result.append(out)
    return result


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(label_raw=rows_strategy(st.integers(0, 1), "abcde"),
       activity_raw=rows_strategy(st.tuples(st.integers(0, 9), st.sampled_from(["mobile", "desktop"])), "abcd"),
       billing_raw=rows_strategy(st.floats(0, 100, allow_nan=False), "abc"),
       window=st.tuples(st.none() | st.integers(0, 20), st.none() | st.integers(0, 20)),
       files=st.integers(1, 3))
def test_matches_brute_force_reference(label_raw, activity_raw, billing_raw, window, files):
    labels = with_ingestion(label_raw, lambda v: {"churned": v})
    activity = with_ingestion(activity_raw, lambda v: {"sessions": v[0], "device": v[1]})
    billing = with_ingestion(billing_raw, lambda v: {"spend": v})
    since, until = (None if w is None else T0 + timedelta(minutes=w) for w in window)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        result = build_training_set(
            snapshot(folder, "labels", labels, files=files),
            [snapshot(folder, "activity", activity, files=files), snapshot(folder, "billing", billing)],
            CONTRACTS, since=since, until=until)
    expected = reference(labels, [(ACTIVITY, activity), (BILLING, billing)], since, until)
    assert result.frame.to_dicts() == expected
    assert result.frame.columns == ["customer_id", "event_time", "churned", "sessions", "device", "spend"]


def test_a_value_stamped_one_microsecond_after_the_label_is_never_seen(tmp_path):
    label_time = T0 + timedelta(hours=5)
    labels = snapshot(tmp_path, "labels", [{"customer_id": "a", "event_time": label_time, "churned": 1,
                                            "_ingested_at": T0}])
    activity = snapshot(tmp_path, "activity", [
        {"customer_id": "a", "event_time": label_time - timedelta(minutes=1), "sessions": 1, "device": "mobile",
         "_ingested_at": T0},
        {"customer_id": "a", "event_time": label_time + timedelta(microseconds=1), "sessions": 99,
         "device": "desktop", "_ingested_at": T0}])
    frame = build_training_set(labels, [activity], CONTRACTS).frame
    assert frame["sessions"].to_list() == [1] and frame["device"].to_list() == ["mobile"]


def test_exact_duplicates_resolve_the_same_whatever_their_order(tmp_path):
    # Same key, event time, ingestion and source (ingestion never stores such rows, hand-made files
    # may): the pick, hence the fingerprint, depends on the rows' content, never on file order.
    rows = [{"sessions": None, "device": "z"}, {"sessions": 3, "device": "a"}, {"sessions": 3, "device": None}]
    picked = []
    for n, order in enumerate([(0, 1, 2), (2, 1, 0), (1, 2, 0), (2, 0, 1)]):
        folder = tmp_path / str(n)
        folder.mkdir()
        labels = snapshot(folder, "labels", [{"customer_id": "a", "event_time": T0 + timedelta(minutes=1),
                                              "churned": 1, "_ingested_at": T0}])
        activity = snapshot(folder, "activity", [{"customer_id": "a", "event_time": T0, **rows[i], "_ingested_at": T0}
                                                 for i in order])
        picked.append(build_training_set(labels, [activity], CONTRACTS).frame.select("sessions", "device").to_dicts())
    assert picked[0][0] in rows and all(p == picked[0] for p in picked)


def test_result_is_typed_reproducible_and_names_its_versions(tmp_path):
    labels = snapshot(tmp_path, "labels", [{"customer_id": "a", "event_time": T0, "churned": 0, "_ingested_at": T0}],
                      version=7)
    activity = snapshot(tmp_path, "activity", [{"customer_id": "a", "event_time": T0, "sessions": 2,
                                                "device": "tablet", "_ingested_at": T0}], version=4)
    empty_billing = GroupSnapshot("billing", 0, ())
    first = build_training_set(labels, [activity, empty_billing], CONTRACTS)
    again = build_training_set(labels, [activity, empty_billing], CONTRACTS)
    assert first.fingerprint == again.fingerprint and len(first.fingerprint) == 64
    assert dict(first.versions) == {"labels": 7, "activity": 4, "billing": 0}
    assert first.task == "binary" and first.categorical_columns == ("device",)
    assert first.feature_columns == ("sessions", "device", "spend")
    assert first.frame.schema["spend"] == pl.Float64 and first.frame["spend"].to_list() == [None]
    assert first.frame.schema["event_time"] == pl.Datetime("us", "UTC")


def test_fingerprint_depends_on_content_only():
    frame = pl.DataFrame({"k": ["a", None, "ccc"], "x": [1.0, -0.0, None],
                          "t": [T0, None, T0], "n": [1, 2, None]})
    chunked = pl.concat([frame[:1], frame[1:]], rechunk=False)
    assert frame_fingerprint(chunked) == frame_fingerprint(frame)
    assert frame_fingerprint(frame.with_columns(x=pl.Series([1.0, 0.0, None]))) == frame_fingerprint(frame)
    assert frame_fingerprint(frame.with_columns(k=pl.Series(["a", None, "ccd"]))) != frame_fingerprint(frame)
    assert frame_fingerprint(frame.with_columns(k=pl.Series(["a", "", "ccc"]))) != frame_fingerprint(frame)
    assert frame_fingerprint(frame.reverse()) != frame_fingerprint(frame)


def test_a_feature_name_shared_by_two_groups_is_refused():
    clash = FeatureGroupContract("billing", 1, ("customer_id",), "event_time",
                                 (KEY, TIME, ColumnSpec("sessions", "float64")))
    with pytest.raises(ContractError, match=r"'sessions'.*'activity'.*'billing'"):
        build_training_set(GroupSnapshot("labels", 1, ()),
                           [GroupSnapshot("activity", 1, ()), GroupSnapshot("billing", 1, ())],
                           {**CONTRACTS, "billing": clash})


def test_demo_contracts_have_no_clash_and_name_the_categoricals():
    demo = load_contracts()
    result = build_training_set(GroupSnapshot("churn_labels", 0, ()),
                                [GroupSnapshot("customer_activity", 0, ()), GroupSnapshot("customer_billing", 0, ())],
                                demo)
    assert result.frame.height == 0 and result.categorical_columns == ("device", "plan", "region")
    assert result.frame.columns[:3] == ["customer_id", "event_time", "churned"]


def test_wrong_inputs_say_what_to_do(tmp_path):
    with pytest.raises(NotFoundError, match="nowhere"):
        build_training_set(GroupSnapshot("nowhere", 1, ()), [], CONTRACTS)
    with pytest.raises(ContractError, match="not a labels group"):
        build_training_set(GroupSnapshot("activity", 1, ()), [], CONTRACTS)
    with pytest.raises(StoreError, match="labels"):
        build_training_set(GroupSnapshot("labels", 1, (str(tmp_path / "gone.parquet"),)), [], CONTRACTS)
