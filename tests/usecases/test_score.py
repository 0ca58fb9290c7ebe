"""The score use case on a store of a few rows: what is scored, at which data time, what is stored
and audited; and the predictions layout's refusals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from driftline.errors import ConfigError, InputError, NotFoundError
from features import predictions as P
from features.predictions import predictions_frame
from governance.audit import AuditLog
from registry.versions import ModelVersion
from tests.usecases.small import ACTOR, CONTRACTS, T0, put
from training.model import TrainedModel
from usecases.score import ScoreResult, batch_source, predict, score_latest

SCORED_AT = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)


def _version(tmp_path: Path, model: TrainedModel) -> ModelVersion:
    folder = tmp_path / "registry" / "churn" / "3"
    model.save(folder)
    return ModelVersion("churn", 3, folder, "accepted", {}, "2026-05-01T00:00:00Z", "k")


def test_latest_values_are_scored_at_the_data_time_stored_and_audited(tmp_path, store, tiny_model) -> None:
    put(store, "activity", [{"customer_id": "a", "event_time": 1, "sessions": 1},
                            {"customer_id": "a", "event_time": 9, "sessions": 11},  # a's latest value
                            {"customer_id": "b", "event_time": 4, "sessions": 2}])
    audit = AuditLog(tmp_path / "audit")
    result = score_latest(store, CONTRACTS, ["activity"], _version(tmp_path, tiny_model), audit=audit,
                          actor=ACTOR, state=tmp_path / "state", clock=lambda: SCORED_AT)

    assert result == ScoreResult(model="churn", version=3, rows=2, as_of=T0 + timedelta(minutes=9),
                                 delta_version=0, mean_score=result.mean_score)
    stored = store.read(P.PREDICTIONS_GROUP).sort("customer_id")
    expected = predict(tiny_model, pl.DataFrame({"sessions": [11, 2]}))
    assert stored["score"].to_list() == pytest.approx(list(expected))
    assert result.mean_score == pytest.approx(float(expected.mean()))
    assert stored.select(P.MODEL, P.MODEL_VERSION).unique().rows() == [("churn", 3)]
    assert set(stored[P.EVENT_TIME]) == {T0 + timedelta(minutes=9)}
    assert set(stored[P.SCORED_AT]) == {SCORED_AT} and set(stored["_ingested_at"]) == {SCORED_AT}
    assert set(stored["_source"]) == {batch_source("churn", 3, SCORED_AT)}
    (entry,) = [e for e in audit.entries() if e.action == "model.score"]
    assert entry.subject == "model:churn:v3" and entry.details["rows"] == 2


def test_a_second_batch_is_a_second_commit_with_its_own_source(tmp_path, store, tiny_model) -> None:
    put(store, "activity", [{"customer_id": "a", "event_time": 1, "sessions": 1}])
    audit, version = AuditLog(tmp_path / "audit"), _version(tmp_path, tiny_model)
    first = score_latest(store, CONTRACTS, ["activity"], version, audit=audit, actor=ACTOR,
                          state=tmp_path / "state", clock=lambda: SCORED_AT)
    later = SCORED_AT + timedelta(hours=1)
    second = score_latest(store, CONTRACTS, ["activity"], version, audit=audit, actor=ACTOR,
                          state=tmp_path / "state", clock=lambda: later)
    assert (first.delta_version, second.delta_version) == (0, 1)
    assert store.ingested_sources(P.PREDICTIONS_GROUP) == {batch_source("churn", 3, SCORED_AT),
                                                           batch_source("churn", 3, later)}


def test_an_empty_store_or_no_feature_group_is_refused_before_anything_is_written(tmp_path, store,
                                                                                 tiny_model) -> None:
    audit, version = AuditLog(tmp_path / "audit"), _version(tmp_path, tiny_model)
    with pytest.raises(NotFoundError):  # the group has no table yet
        score_latest(store, CONTRACTS, ["activity"], version, audit=audit, actor=ACTOR, state=tmp_path / "state")
    with pytest.raises(ConfigError, match="no feature group"):
        score_latest(store, CONTRACTS, [], version, audit=audit, actor=ACTOR, state=tmp_path / "state")
    assert P.PREDICTIONS_GROUP not in store.groups()
    assert not (tmp_path / "audit" / "log.jsonl").exists()


def test_predictions_frame_refuses_misaligned_scores_and_missing_keys() -> None:
    entities = pl.DataFrame({"customer_id": ["a", "b"], "sessions": [1, 2]})
    kwargs = dict(as_of=T0, scored_at=SCORED_AT, model="churn", version=1, source="s")
    with pytest.raises(InputError, match="3 scores for 2 entities"):
        predictions_frame(entities, ["customer_id"], np.zeros(3), **kwargs)
    with pytest.raises(InputError, match="account_id"):
        predictions_frame(entities, ["account_id"], np.zeros(2), **kwargs)
    with pytest.raises(InputError):
        predictions_frame(entities, [], np.zeros(2), **kwargs)
    frame = predictions_frame(entities, ["customer_id"], np.array([0.25, 0.75]), **kwargs)
    assert frame.columns == ["customer_id", P.EVENT_TIME, P.SCORED_AT, P.SCORE, P.MODEL, P.MODEL_VERSION,
                             "_ingested_at", "_source"]
    assert frame[P.SCORE].to_list() == [0.25, 0.75]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_the_batch_is_also_written_to_out_with_the_version_and_the_thresholds_decision(tmp_path, store, tiny_model,
                                                                                       suffix) -> None:
    put(store, "activity", [{"customer_id": "a", "event_time": 1, "sessions": 1},
                            {"customer_id": "b", "event_time": 2, "sessions": 11}])
    tiny_model.save(tmp_path / "model")
    version = ModelVersion("churn", 3, tmp_path / "model", "accepted", {"metrics": {"threshold": 0.5}},
                           "2026-05-01T00:00:00Z", "k")
    out = tmp_path / f"scores{suffix}"
    result = score_latest(store, CONTRACTS, ["activity"], version, audit=AuditLog(tmp_path / "audit"), actor=ACTOR,
                          state=tmp_path / "state", out=out)
    written = pl.read_csv(out) if suffix == ".csv" else pl.read_parquet(out)
    assert result.out == out and written["customer_id"].to_list() == ["a", "b"]
    assert set(written["model_version"]) == {3} and set(written["model"]) == {"churn"}
    assert written["decision"].to_list() == [int(s >= 0.5) for s in written["score"]]
    assert "_source" not in written.columns and "_ingested_at" not in written.columns


def test_an_out_file_of_unknown_type_is_refused_before_anything_is_scored(tmp_path, store, tiny_model) -> None:
    put(store, "activity", [{"customer_id": "a", "event_time": 1, "sessions": 1}])
    with pytest.raises(InputError, match="unknown output type .xlsx"):
        score_latest(store, CONTRACTS, ["activity"], _version(tmp_path, tiny_model), audit=AuditLog(tmp_path / "a"),
                     actor=ACTOR, state=tmp_path / "state", out=tmp_path / "s.xlsx")
    assert P.PREDICTIONS_GROUP not in store.groups()
