"""As-known training sets: a feature row counts only if it was ingested by the label time.

A late correction (a re-statement of an old event, ingested after the label) is seen by the plain
point-in-time join and not by the as-known one; a Hypothesis test checks the as-known DuckDB
formulation against a brute-force reference with random ingestion times, ties included.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.training_set import build_training_set
from tests.features.test_training_set import ACTIVITY, BILLING, CONTRACTS, T0, snapshot

LABEL_TIME = T0 + timedelta(hours=5)


def _late_correction(folder: Path):
    labels = snapshot(folder, "labels", [{"customer_id": "a", "event_time": LABEL_TIME, "churned": 1,
                                          "_ingested_at": LABEL_TIME}])
    event = LABEL_TIME - timedelta(minutes=2)
    activity = snapshot(folder, "activity", [
        {"customer_id": "a", "event_time": event, "sessions": 1, "device": "mobile", "_ingested_at": event},
        # The same event re-stated a day after the label: known only later.
        {"customer_id": "a", "event_time": event, "sessions": 50, "device": "mobile",
         "_ingested_at": LABEL_TIME + timedelta(days=1)}])
    billing = snapshot(folder, "billing", [
        {"customer_id": "a", "event_time": T0, "spend": 10.0, "_ingested_at": T0},
        # A newer event, but ingested after the label: unknown at label time, so the older value stands.
        {"customer_id": "a", "event_time": LABEL_TIME - timedelta(minutes=1), "spend": 99.0,
         "_ingested_at": LABEL_TIME + timedelta(seconds=1)}])
    return labels, [activity, billing]


def test_a_late_correction_is_seen_by_the_old_mode_and_not_by_as_known(tmp_path):
    labels, groups = _late_correction(tmp_path)
    old = build_training_set(labels, groups, CONTRACTS)
    known = build_training_set(labels, groups, CONTRACTS, as_known=True)
    assert old.frame.select("sessions", "spend").to_dicts() == [{"sessions": 50, "spend": 99.0}]
    assert known.frame.select("sessions", "spend").to_dicts() == [{"sessions": 1, "spend": 10.0}]
    assert known.as_known and not old.as_known and known.fingerprint != old.fingerprint


def test_as_known_equals_the_old_mode_when_everything_was_ingested_on_time(tmp_path):
    labels = snapshot(tmp_path, "labels", [{"customer_id": "a", "event_time": LABEL_TIME, "churned": 0,
                                            "_ingested_at": LABEL_TIME}])
    activity = snapshot(tmp_path, "activity", [
        {"customer_id": "a", "event_time": LABEL_TIME - timedelta(minutes=m), "sessions": m, "device": "x",
         "_ingested_at": LABEL_TIME - timedelta(minutes=m)} for m in (1, 3)])
    old = build_training_set(labels, [activity], CONTRACTS)
    known = build_training_set(labels, [activity], CONTRACTS, as_known=True)
    assert known.frame.equals(old.frame) and known.fingerprint == old.fingerprint


def test_an_empty_feature_group_joins_as_nulls_as_known(tmp_path):
    labels = snapshot(tmp_path, "labels", [{"customer_id": "a", "event_time": LABEL_TIME, "churned": 0,
                                            "_ingested_at": LABEL_TIME}])
    empty = type(labels)("billing", 0, ())
    frame = build_training_set(labels, [empty], CONTRACTS, as_known=True).frame
    assert frame.columns == ["customer_id", "event_time", "churned", "spend"] and frame["spend"].to_list() == [None]


def reference(labels: list[dict], groups) -> list[dict]:
    """Brute force: per label, the best feature row among those with event time and ingestion <= label time."""
    best_label: dict[tuple, dict] = {}
    for row in labels:  # the labels group itself is deduplicated by latest ingestion, as before
        ident = (row["customer_id"], row["event_time"])
        if ident not in best_label or row["_ingested_at"] > best_label[ident]["_ingested_at"]:
            best_label[ident] = row
    result = []
    for (key, t), row in sorted(best_label.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        out = {"customer_id": key, "event_time": t, "churned": row["churned"]}
        for contract, rows in groups:
            known = [r for r in rows if r["customer_id"] == key and r["event_time"] <= t and r["_ingested_at"] <= t]
            best = max(known, key=lambda r: (r["event_time"], r["_ingested_at"]), default=None)
            if best is not None and contract.ttl is not None and best["event_time"] < t - contract.ttl:
                best = None
            out |= {c: (best[c] if best else None) for c in contract.feature_columns}
        result.append(out)
    return result


def rows(value: st.SearchStrategy, entities: str) -> st.SearchStrategy:
    # Event minute and ingestion delay on a coarse grid: late rows, ties in known time and re-statements abound.
    return st.lists(st.tuples(st.sampled_from(entities), st.integers(0, 20), st.integers(0, 15), value),
                    max_size=25)


def with_times(raw: list[tuple], values) -> list[dict]:
    # Distinct ingestion seconds keep "latest ingestion wins" unambiguous, as in the plain mode's test.
    return [{"customer_id": k, "event_time": T0 + timedelta(minutes=m), **values(v),
             "_ingested_at": T0 + timedelta(minutes=m + d, microseconds=i)} for i, (k, m, d, v) in enumerate(raw)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(label_raw=rows(st.integers(0, 1), "abc"),
       activity_raw=rows(st.tuples(st.integers(0, 9), st.sampled_from(["mobile", "desktop"])), "abc"),
       billing_raw=rows(st.floats(0, 100, allow_nan=False), "ab"), files=st.integers(1, 3))
def test_as_known_matches_brute_force_reference(label_raw, activity_raw, billing_raw, files):
    labels = with_times(label_raw, lambda v: {"churned": v})
    activity = with_times(activity_raw, lambda v: {"sessions": v[0], "device": v[1]})
    billing = with_times(billing_raw, lambda v: {"spend": v})
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        result = build_training_set(
            snapshot(folder, "labels", labels),
            [snapshot(folder, "activity", activity, files=files), snapshot(folder, "billing", billing)],
            CONTRACTS, as_known=True)
    assert result.frame.to_dicts() == reference(labels, [(ACTIVITY, activity), (BILLING, billing)])
