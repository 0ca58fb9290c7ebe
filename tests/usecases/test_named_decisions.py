"""A binary model whose label is two strings (yes/no) tells its decision in the label's terms: a
``predicted_class`` column (the positive value where ``decision`` is 1, the other where 0) in the
stored batch, ``score --out``, ``predict``'s file and ``Champion.predict``; a 0/1 model gains no
column (its decision already is its label value)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from driftline.errors import TrainingError
from driftline_api.champion import Champion
from features import predictions as P
from governance.audit import AuditLog
from registry.versions import ModelVersion
from tests.usecases.small import ACTOR, CONTRACTS, PARAMS, put, tiny_fit, tiny_frame
from training.model import TrainedModel, fit_final
from usecases.predict_file import predict_file
from usecases.score import score_latest

SCORED_AT = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
ROWS = [{"customer_id": f"c{i}", "event_time": i, "sessions": i} for i in range(12)]


def _yes_no(positive: str | None = "yes") -> TrainedModel:
    frame = tiny_frame().with_columns(churned=pl.Series(["no"] * 6 + ["yes"] * 6))
    return fit_final(frame, features=["sessions"], categorical=[], label="churned", task="binary", params=PARAMS,
                     num_boost_round=5, seed=1, n_threads=1, positive=positive)


def _score(tmp_path: Path, store, model: TrainedModel, out: Path | None = None) -> pl.DataFrame:
    folder = tmp_path / "registry" / "m" / "1"
    model.save(folder)
    put(store, "activity", ROWS)
    version = ModelVersion("m", 1, folder, "accepted", {}, "2026-05-01T00:00:00Z", "k")
    score_latest(store, CONTRACTS, ["activity"], version, audit=AuditLog(tmp_path / "audit"), actor=ACTOR,
                 state=tmp_path / "state", clock=lambda: SCORED_AT, out=out)
    return store.read(P.PREDICTIONS_GROUP).sort("customer_id", maintain_order=True)


def _named(decision: list[int], positive: str = "yes", negative: str = "no") -> list[str]:
    return [positive if d == 1 else negative for d in decision]


def test_the_stored_batch_and_score_out_carry_the_predicted_class(tmp_path, store) -> None:
    stored = _score(tmp_path, store, _yes_no(), out=tmp_path / "batch.csv")
    assert set(stored[P.DECISION].to_list()) == {0, 1}  # the tiny model ranks by sessions
    assert stored[P.PREDICTED_CLASS].to_list() == _named(stored[P.DECISION].to_list())
    exported = pl.read_csv(tmp_path / "batch.csv").sort("customer_id", maintain_order=True)
    assert exported[P.PREDICTED_CLASS].to_list() == stored[P.PREDICTED_CLASS].to_list()


def test_the_positive_named_no_turns_the_names_round(tmp_path, store) -> None:
    model = _yes_no(positive="no")
    assert model.schema.classes == ("yes", "no")
    stored = _score(tmp_path, store, model)
    assert stored[P.PREDICTED_CLASS].to_list() == _named(stored[P.DECISION].to_list(), "no", "yes")
    # the model learnt P("no"): the low-session rows are "no" and decided 1
    assert stored.filter(pl.col("customer_id") == "c0")[P.PREDICTED_CLASS].to_list() == ["no"]


def test_a_zero_one_model_gains_no_column(tmp_path, store) -> None:
    assert not tiny_fit().schema.names_decisions
    stored = _score(tmp_path, store, tiny_fit())
    assert P.PREDICTED_CLASS not in stored.columns and P.DECISION in stored.columns


def test_predict_writes_the_predicted_class_after_the_decision(tmp_path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("customer_id,sessions\nc1,1\nc2,11\n")
    result = predict_file(_yes_no(), source, tmp_path / "out.csv", name="churn", version=1, threshold=0.5)
    written = pl.read_csv(result.out)
    assert result.added == ("score", "decision", "predicted_class")
    assert written["decision"].to_list() == [0, 1] and written["predicted_class"].to_list() == ["no", "yes"]
    unscored = predict_file(_yes_no(), source, tmp_path / "bare.csv", name="churn", version=1)
    assert unscored.added == ("score",)  # no threshold: no decision to name


def test_champion_predict_adds_the_predicted_class_as_predict_does(tmp_path) -> None:
    model = _yes_no().with_threshold(0.5)
    champion = Champion.of("churn", 1, {}, model)
    assert champion.decision_columns == ("decision", "predicted_class")
    frame = pl.DataFrame({"sessions": [1, 11, 6]})
    scored = champion.predict(frame)
    source = tmp_path / "in.csv"
    frame.write_csv(source)
    written = pl.read_csv(predict_file(model, source, tmp_path / "out.csv", name="churn", version=1,
                                       threshold=0.5).out)
    assert scored["predicted_class"].to_list() == written["predicted_class"].to_list()
    assert scored["decision"].to_list() == written["decision"].to_list()
    assert np.array_equal(scored["score"].to_numpy(), written["score"].to_numpy())
    assert Champion.of("churn", 1, {}, tiny_fit()).decision_columns == ("decision",)


def test_a_zero_one_model_has_no_classes_to_name() -> None:
    with pytest.raises(TrainingError, match="no classes") as caught:
        tiny_fit().schema.class_values(np.array([1]))
    assert "--positive" in caught.value.hint
