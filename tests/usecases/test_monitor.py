"""The monitor use case on a store of a dozen rows and a tiny model: the window at the data's time,
a drift verdict (and none), the report written and the verdict audited, performance from the
champion's labelled batch scores, and the refusals (no profile, an empty window)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from driftline.errors import ContractError, InputError, NotFoundError
from features.store import FeatureStore
from governance.audit import AuditLog
from monitoring.drift import DriftPolicy
from monitoring.profile import build_profile
from monitoring.windows import AFTER_NEWEST
from registry.versions import ModelVersion
from tests.usecases.small import ACTIVITY, ACTOR, CONTRACTS, LABELS, T0, put, tiny_frame
from training.model import TrainedModel
from registry.layout import REFERENCE_PROFILE as PROFILE_FILE
from usecases.monitor import (MonitorResult, current_window, drift_markdown, labelled_scores,
                              monitor_champion, verdict_lines, window_labels)
from usecases.score import predict, score_latest

HORIZON = timedelta(days=7)


def _champion(tmp_path: Path, model: TrainedModel, *, profile: bool = True) -> ModelVersion:
    """Version 3 of ``churn``: the tiny model, its holdout AUC, and a profile of its training rows."""
    folder = tmp_path / "registry" / "churn" / "3"
    model.save(folder)
    if profile:
        train = tiny_frame()
        (folder / PROFILE_FILE).write_bytes(build_profile(train, numeric=["sessions"], categorical=[],
                                                          predictions=predict(model, train)).to_json())
    return ModelVersion("churn", 3, folder, "accepted", {"metrics": {"auc": 0.9}}, "2026-05-01T00:00:00Z", "k")


def _activity(store, shift: int = 0) -> None:
    """c0..c11 with sessions 0..11 (the training rows' spread) plus ``shift``, one per minute."""
    put(store, "activity", [{"customer_id": f"c{i}", "event_time": i, "sessions": i + shift} for i in range(12)])


def _monitor(tmp_path: Path, store, champion: ModelVersion) -> MonitorResult:
    window = current_window(store, CONTRACTS, ["activity"], 7)
    return monitor_champion(store, LABELS, champion, window, policy=DriftPolicy(), label_horizon=HORIZON,
                            reports=tmp_path / "reports", audit=AuditLog(tmp_path / "audit"), actor=ACTOR)


def test_the_window_ends_at_the_data_time_and_holds_the_rows_that_arrived_in_it(store) -> None:
    put(store, "activity", [{"customer_id": "a", "event_time": 1, "sessions": 1},
                            {"customer_id": "a", "event_time": 9, "sessions": 5},
                            {"customer_id": "b", "event_time": 4, "sessions": 2}])
    window = current_window(store, CONTRACTS, ["activity"], 7)
    assert window.end == T0 + timedelta(minutes=9) + AFTER_NEWEST and window.start == window.end - timedelta(days=7)
    assert sorted(window.frame.select("customer_id", "sessions").rows()) == [("a", 1), ("a", 5), ("b", 2)]


def test_a_shifted_window_is_drift_reported_audited_and_named_for_the_retrain(tmp_path, store, tiny_model) -> None:
    _activity(store, shift=100)
    result = _monitor(tmp_path, store, _champion(tmp_path, tiny_model))

    assert result.drifted and result.drifted_features == ("sessions",) and result.share_drifted == 1.0
    assert result.drift.drifted_features() == result.drifted_features
    window_key = current_window(store, CONTRACTS, ["activity"], 7).key
    assert result.window == f"churn:v3:{window_key}" and (result.model, result.version) == ("churn", 3)
    assert result.report.parent == tmp_path / "reports" and "<html" in result.report.read_text().lower()
    assert result.performance.startswith("no labels have arrived")
    (entry,) = AuditLog(tmp_path / "audit").entries()
    assert (entry.action, entry.subject) == ("drift.verdict", "model:churn:v3")
    assert entry.details["drifted"] is True and entry.details["report"] == result.report.name
    assert entry.details["window"] == window_key and entry.details["performance"] is None
    assert entry.details["drifted_features"] == ["sessions"] and entry.details["current_rows"] == 12


def test_a_window_like_the_training_rows_is_no_drift_and_still_audited(tmp_path, store, tiny_model) -> None:
    _activity(store)
    result = _monitor(tmp_path, store, _champion(tmp_path, tiny_model))
    assert not result.drifted and result.drifted_features == ()
    assert [e.details["drifted"] for e in AuditLog(tmp_path / "audit").entries()] == [False]
    assert "# Drift: none" in drift_markdown(result.drift, _champion(tmp_path, tiny_model))


def test_labels_arriving_after_the_batch_scores_give_the_champions_performance(tmp_path, store,
                                                                                 tiny_model) -> None:
    _activity(store)
    champion = _champion(tmp_path, tiny_model)
    assert labelled_scores(store, LABELS, champion, horizon=HORIZON) is None  # nothing scored yet
    score_latest(store, CONTRACTS, ["activity"], champion, audit=AuditLog(tmp_path / "audit"), actor=ACTOR,
                 state=tmp_path / "state")
    assert labelled_scores(store, LABELS, champion, horizon=HORIZON) is None  # no label yet
    put(store, "labels", [{"customer_id": f"c{i}", "event_time": 20, "y": int(i >= 6)} for i in range(12)])
    other = ModelVersion("churn", 4, champion.path, "accepted", {}, "2026-05-01T00:00:00Z", "k")
    assert labelled_scores(store, LABELS, other, horizon=HORIZON) is None  # only v3 scored those rows

    labelled = labelled_scores(store, LABELS, champion, horizon=HORIZON)
    assert labelled is not None and labelled.rows == 12 and sorted(labelled.labels) == [0.0] * 6 + [1.0] * 6
    result = _monitor(tmp_path, store, champion)
    assert result.drift.performance is not None and result.drift.performance["labelled_rows"] == 12
    assert result.drift.performance["auc_reference"] == 0.9
    assert "12 labelled scores" in result.performance and "holdout 0.900" in result.performance


def test_a_champion_without_a_profile_is_refused_naming_the_file_before_anything_is_written(tmp_path, store,
                                                                                              tiny_model) -> None:
    _activity(store)
    with pytest.raises(NotFoundError, match=PROFILE_FILE) as raised:
        _monitor(tmp_path, store, _champion(tmp_path, tiny_model, profile=False))
    assert raised.value.hint
    assert not (tmp_path / "reports").exists() and not (tmp_path / "audit" / "log.jsonl").exists()


def test_a_window_without_rows_is_refused_and_nothing_is_recorded(tmp_path, store, tiny_model) -> None:
    _activity(store)
    champion = _champion(tmp_path, tiny_model)
    window = current_window(store, CONTRACTS, ["activity"], 7)
    empty = type(window)(start=window.start, end=window.end, frame=window.frame.clear())
    with pytest.raises(InputError, match="no rows"):
        monitor_champion(store, LABELS, champion, empty, policy=DriftPolicy(), label_horizon=HORIZON,
                         reports=tmp_path / "reports", audit=AuditLog(tmp_path / "audit"), actor=ACTOR)
    assert not (tmp_path / "audit" / "log.jsonl").exists()


def test_the_markdown_lists_every_feature_with_its_verdict(tmp_path, store, tiny_model) -> None:
    _activity(store, shift=100)
    result = _monitor(tmp_path, store, _champion(tmp_path, tiny_model))
    text = drift_markdown(result.drift, _champion(tmp_path, tiny_model))
    assert text.startswith("# Drift: detected") and "| sessions |" in text and "**drifted**" in text


def test_a_label_group_without_a_label_is_a_contract_error_not_a_crash(tmp_path, store, tiny_model) -> None:
    """label_group set to a feature group: found by mypy (pl.col(None)), now said in words."""
    _activity(store)
    champion = _champion(tmp_path, tiny_model)
    score_latest(store, CONTRACTS, ["activity"], champion, audit=AuditLog(tmp_path / "audit"), actor=ACTOR,
                 state=tmp_path / "state")
    with pytest.raises(ContractError, match="not a labels group") as caught:
        labelled_scores(store, ACTIVITY, champion, horizon=HORIZON)
    assert "label_group" in caught.value.hint


def test_delayed_labels_stamped_with_their_features_time_are_matched(tmp_path, store, tiny_model) -> None:
    # Event-style: each entity's one feature row at minute i; its label arrives later but carries
    # the same timestamp. The batch is scored at minute 11 (the data time), after most of them.
    _activity(store)
    champion = _champion(tmp_path, tiny_model)
    score_latest(store, CONTRACTS, ["activity"], champion, audit=AuditLog(tmp_path / "audit"), actor=ACTOR,
                 state=tmp_path / "state")
    put(store, "labels", [{"customer_id": f"c{i}", "event_time": i, "y": int(i >= 6)} for i in range(12)])
    labelled = labelled_scores(store, LABELS, champion, horizon=HORIZON)
    assert labelled is not None and labelled.rows == 12  # was 1: only the entity stamped at the batch time
    assert sorted(labelled.labels) == [0.0] * 6 + [1.0] * 6


def test_the_monitor_command_prints_every_features_verdict_and_says_no_drift_plainly(tmp_path, store,
                                                                                      tiny_model) -> None:
    _activity(store)
    lines = verdict_lines(_monitor(tmp_path, store, _champion(tmp_path, tiny_model)))
    assert ": no drift (0 of 1 features drifted, 12 rows in the window against 12 training rows)" in lines[0]
    assert lines[1].startswith("  sessions: no drift (numeric; KS D ") and "PSI " in lines[1]
    assert lines[2].startswith("  prediction: no drift (prediction; KS D ")
    assert lines[-1].startswith("  performance: no labels have arrived")
    shifted = FeatureStore(tmp_path / "shifted")
    _activity(shifted, shift=100)
    drifted = verdict_lines(_monitor(tmp_path, shifted, _champion(tmp_path, tiny_model)))
    assert ": DRIFT in sessions (1 of 1 features drifted" in drifted[0]
    assert drifted[1].startswith("  sessions: DRIFTED (numeric; KS D 1, p_adj ")


def test_the_labels_that_arrived_in_the_window_are_the_current_target(store) -> None:
    _activity(store)
    window = current_window(store, CONTRACTS, ["activity"], 7)
    assert window_labels(store, LABELS, window) is None  # no labels group yet
    put(store, "labels", [{"customer_id": f"c{i}", "event_time": i, "y": i % 2} for i in range(12)]
        + [{"customer_id": "c0", "event_time": 60 * 24 * 30, "y": 1}])  # a month later: after the window
    assert sorted(window_labels(store, LABELS, window).tolist()) == [0.0] * 6 + [1.0] * 6


def test_a_models_own_label_column_is_the_target_not_the_contracts(store) -> None:
    """A spec may learn another column of the label group than the contract's label (a flat table
    with two models); the monitor then reads that column. It once always read the contract's."""
    from dataclasses import replace

    from features.contracts import ColumnSpec

    _activity(store)
    window = current_window(store, CONTRACTS, ["activity"], 7)
    wide = replace(LABELS, columns=(*LABELS.columns, ColumnSpec("spend", "float64")))
    rows = pl.DataFrame({"customer_id": [f"c{i}" for i in range(12)],
                         "event_time": [T0 + timedelta(minutes=i) for i in range(12)],
                         "y": [i % 2 for i in range(12)], "spend": [float(i) for i in range(12)]},
                        schema_overrides={"event_time": pl.Datetime("us", "UTC")})
    rows = rows.with_columns(pl.lit(T0 + timedelta(days=1)).cast(pl.Datetime("us", "UTC")).alias("_ingested_at"),
                             pl.lit("b" * 64).alias("_source"))
    store.append("labels", rows.to_arrow(), sources=["b" * 64], key_columns=("customer_id", "event_time"))
    assert sorted(window_labels(store, wide, window, label="spend").tolist()) == [float(i) for i in range(12)]
    assert sorted(window_labels(store, wide, window).tolist()) == [0.0] * 6 + [1.0] * 6


def test_labels_of_two_values_are_matched_as_the_champion_codes_them(tmp_path, store, tiny_model) -> None:
    """A champion trained on labels 1/2 (class 1 = 2): its labelled scores read 1 -> 0 and 2 -> 1
    (without the classes the monitor refused them as "labels must be 0 or 1"); a value it never
    learnt is left unknown."""
    _activity(store)
    champion = _champion(tmp_path, tiny_model)
    score_latest(store, CONTRACTS, ["activity"], champion, audit=AuditLog(tmp_path / "audit"), actor=ACTOR,
                 state=tmp_path / "state")
    put(store, "labels", [{"customer_id": f"c{i}", "event_time": i, "y": 2 if i >= 6 else 1 if i else 7}
                          for i in range(12)])
    labelled = labelled_scores(store, LABELS, champion, horizon=HORIZON, classes=(1, 2))
    assert labelled is not None and labelled.rows == 12
    assert sorted(labelled.labels[~np.isnan(labelled.labels)]) == [0.0] * 5 + [1.0] * 6
    assert np.isnan(labelled.labels).sum() == 1  # the 7
