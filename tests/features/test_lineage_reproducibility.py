"""A model's data is reproducible from its lineage: the Delta versions a training set recorded
give the same rows, and the same fingerprint, after later appends and a compaction."""

from __future__ import annotations

from pathlib import Path

from features.contracts import load_contracts
from features.ingest import ingest_files
from features.quarantine import Quarantine
from features.store import FeatureStore
from features.training_set import build_training_set
from flows.demo_data import generate_demo

GROUPS = ("churn_labels", "customer_activity", "customer_billing")


def _build(store: FeatureStore, contracts, versions=None):
    snap = {g: store.snapshot(g, None if versions is None else versions[g]) for g in GROUPS}
    return build_training_set(snap["churn_labels"], [snap["customer_activity"], snap["customer_billing"]],
                              contracts)


def test_training_set_rebuilds_identically_from_its_recorded_versions(tmp_path: Path) -> None:
    contracts = load_contracts()
    drop = generate_demo(tmp_path / "landing", seed=3, customers=60, days=50, shift_day=50)
    store, quarantine = FeatureStore(tmp_path / "store"), Quarantine(tmp_path / "quarantine")
    ingest_files(list(drop.paths(1, 35)), contracts, store, quarantine, landing_root=tmp_path / "landing")
    first = _build(store, contracts)
    assert first.frame.height > 0

    ingest_files(list(drop.paths(36)), contracts, store, quarantine, landing_root=tmp_path / "landing")
    for group in GROUPS:
        store.compact(group)
    later = _build(store, contracts)
    assert later.frame.height > first.frame.height and later.fingerprint != first.fingerprint

    again = _build(store, contracts, versions=first.versions)
    assert again.fingerprint == first.fingerprint and again.frame.equals(first.frame)
    assert dict(again.versions) == dict(first.versions)
