"""The serving comparison on a handful of served rows: shadow agreement on paired requests (binary at each
version's threshold, multiclass, regression within a tolerance), a canary compared as distributions,
performance once labels arrive, the escaped report and its digest in the audit entry (a flipped byte of
the report is caught), and what it refuses (nothing served, no challenger, a bad tolerance)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from driftline.canonical import sha256_hex
from driftline.errors import InputError, IntegrityError, NotFoundError
from features.store import FeatureStore
from governance.audit import AuditLog
from tests.serving.served_batches import batch, serve
from tests.usecases.small import ACTOR, LABELS, put
from usecases.serving_compare import ServingComparison, check_report, compare_served


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    return FeatureStore(tmp_path / "store")


def compare(tmp_path: Path, store: FeatureStore, model: str = "churn", **kw) -> ServingComparison:
    return compare_served(store, model, reports=tmp_path / "reports", audit=AuditLog(tmp_path / "audit"),
                          actor=ACTOR, **kw)


CHAMPION = [0.1, 0.6, 0.7, 0.2]
SHADOW = [0.2, 0.9, 0.4, 0.1]  # decisions at 0.5: same, same, differ, same


def shadow_pairs(**kw) -> list:
    customers = [f"c{i}" for i in range(4)]
    return [batch("r1", 4, customers=customers, scores=CHAMPION, **kw),
            batch("r1", 4, customers=customers, scores=SHADOW, role="challenger", returned=False, version=4, **kw)]


def test_shadow_agreement_is_measured_on_the_same_requests(tmp_path: Path, store: FeatureStore) -> None:
    serve(store, *shadow_pairs())
    result = compare(tmp_path, store)
    assert (result.mode, result.task, result.paired_rows, result.agreement) == ("shadow", "binary", 4, 0.75)
    assert result.champion.versions == (3,) and result.challenger.versions == (4,)
    assert result.champion.rows == result.challenger.rows == 4 and len(result.champion.quantiles) == 5
    assert result.champion.mean == pytest.approx(0.4) and result.psi >= 0 and result.champion.performance is None
    (entry,) = AuditLog(tmp_path / "audit").entries()
    assert (entry.action, entry.subject) == ("serving.compare", "model:churn")
    assert entry.details["agreement"] == 0.75 and entry.details["report"] == result.report.name
    assert entry.details["report_sha256"] == sha256_hex(result.report.read_bytes()) == result.report_sha256
    assert check_report(entry.details, tmp_path / "reports") == result.report


def test_binary_decisions_use_each_versions_threshold_when_none_was_stored(tmp_path: Path,
                                                                          store: FeatureStore) -> None:
    serve(store, *shadow_pairs(decision=False))
    # v3 cuts at 0.65 (decisions 0,0,1,0), v4 at 0.3 (0,1,1,0): they differ on the second row only
    result = compare(tmp_path, store, threshold_of={3: 0.65, 4: 0.3}.get)
    assert result.agreement == 0.75 and result.paired_rows == 4


def test_a_canary_has_no_pairs_and_is_compared_as_distributions(tmp_path: Path, store: FeatureStore) -> None:
    serve(store, batch("r1", 4, scores=CHAMPION),
          batch("r2", 4, scores=[0.9, 0.95, 0.99, 0.97], role="challenger", returned=True, version=4, minutes=1))
    result = compare(tmp_path, store)
    assert (result.mode, result.paired_rows, result.agreement) == ("canary", 0, None)
    assert result.psi > 0.5 and result.challenger.quantiles[0] > result.champion.quantiles[-1]
    assert "no request was scored by both" in result.report.read_text()


def test_a_yes_no_binary_model_is_compared_as_binary(tmp_path: Path, store: FeatureStore) -> None:
    def outputs(scores):  # as the server answers for a label of two strings: predicted_class too
        decided = [int(s >= 0.5) for s in scores]
        return pl.DataFrame({"score": scores, "decision": decided,
                             "predicted_class": ["yes" if d else "no" for d in decided]})

    customers = [f"c{i}" for i in range(4)]
    serve(store, batch("r1", 4, customers=customers, outputs=outputs(CHAMPION)),
          batch("r1", 4, customers=customers, outputs=outputs(SHADOW), role="challenger", returned=False, version=4))
    result = compare(tmp_path, store)
    assert (result.task, result.agreement, result.agreement_rule) == (
        "binary", 0.75, "same decision at each version's threshold")


def test_multiclass_and_regression_agreement(tmp_path: Path, store: FeatureStore) -> None:
    def outputs(classes, top):
        return pl.DataFrame({"predicted_class": classes, "proba_a": top, "proba_b": [1 - p for p in top]})

    serve(store, batch("m", 3, model="kind", outputs=outputs(["a", "b", "a"], [0.8, 0.3, 0.6])),
          batch("m", 3, model="kind", role="challenger", returned=False, version=4,
                outputs=outputs(["a", "a", "a"], [0.7, 0.6, 0.9])),
          batch("g", 3, model="price", outputs=pl.DataFrame({"prediction": [10.0, 20.0, 30.0]})),
          batch("g", 3, model="price", role="challenger", returned=False, version=4,
                outputs=pl.DataFrame({"prediction": [10.5, 25.0, 30.0]})))
    kind = compare(tmp_path, store, "kind")
    assert kind.task == "multiclass" and kind.agreement == pytest.approx(2 / 3)
    price = compare(tmp_path, store, "price", tolerance=1.0)
    assert price.task == "regression" and price.agreement == pytest.approx(2 / 3) and "1" in price.agreement_rule


def test_performance_once_labels_arrive_per_side(tmp_path: Path, store: FeatureStore) -> None:
    serve(store, *shadow_pairs())
    put(store, "labels", [{"customer_id": f"c{i}", "event_time": 60, "y": y} for i, y in enumerate([1, 1, 0, 0])])
    result = compare(tmp_path, store, label_contract=LABELS, horizon=timedelta(days=7))
    assert result.champion.performance is not None and result.champion.performance["labelled_rows"] == 4
    assert result.champion.performance["auc_current"] == 0.25
    assert result.challenger.performance is not None and result.challenger.performance["auc_current"] == 0.75
    assert "logloss" in result.challenger.performance


def test_the_report_escapes_names_and_a_flipped_byte_is_caught(tmp_path: Path, store: FeatureStore) -> None:
    serve(store, *(batch("r1", 2, model="<script>x</script>", role=role, returned=role == "champion",
                         version=version) for role, version in (("champion", 3), ("challenger", 4))))
    result = compare(tmp_path, store, "<script>x</script>")
    page = result.report.read_bytes()
    assert b"<script>" not in page and b"&lt;script&gt;" in page
    (entry,) = AuditLog(tmp_path / "audit").entries()
    for at in (0, len(page) // 2, len(page) - 1):
        flipped = bytearray(page)
        flipped[at] ^= 0x01
        result.report.write_bytes(bytes(flipped))
        with pytest.raises(IntegrityError, match="sha256"):
            check_report(entry.details, tmp_path / "reports")
    result.report.write_bytes(page)
    check_report(entry.details, tmp_path / "reports")
    with pytest.raises(NotFoundError):
        check_report({**entry.details, "report": "../audit/log.jsonl"}, tmp_path / "reports")


def test_what_it_refuses_writes_nothing(tmp_path: Path, store: FeatureStore) -> None:
    with pytest.raises(NotFoundError, match="logged nothing") as raised:
        compare(tmp_path, store)
    assert "--shadow" in raised.value.hint
    serve(store, batch("r1", 2))
    with pytest.raises(NotFoundError, match="no challenger rows"):
        compare(tmp_path, store)
    serve(store, batch("r1", 2, role="challenger", returned=False, version=4))
    for bad in (-1.0, float("nan")):
        with pytest.raises(InputError, match="tolerance"):
            compare(tmp_path, store, tolerance=bad)
    with pytest.raises(InputError, match="empty"):
        compare(tmp_path, store, since=batch("x").received_at, until=batch("x").received_at)
    assert not (tmp_path / "reports").exists() and not (tmp_path / "audit" / "log.jsonl").exists()
