"""Train-and-gate for every task, end to end through the use case on small synthetic frames: a short
search, the final fit, :func:`usecases.train.measure_candidate` (threshold, holdout scores, champion,
files, evidence) and the gate. Multiclass with string labels and with integer labels (which once
crashed after the search, or failed with "144003 predictions for 48001 rows"), regression on a
price-like target (once always rejected by the binary gate's AUC and calibration checks)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from driftline.errors import InputError
from driftline.settings import GateSettings, TrainingSettings
from features.training_set import TrainingSet
from monitoring.profile import ReferenceProfile
from registry import KeyRing, ModelRegistry
from training.model import TrainedModel, fit_final
from training.search import SearchConfig, SearchResult, run_search
from training.split import time_holdout
from training.threshold import validation_threshold
from usecases import train as uc

PASSPHRASE = b"correct horse battery staple"
FEATURES = ("a", "b", "colour")


def _frame(task: str, n: int = 1000, seed: int = 0, labels: tuple = ()) -> pl.DataFrame:
    """Two numbers and a category drive the label; 100 days of ``n / 100`` rows."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    signal = 1.5 * a - 0.7 * b + np.where(colour == "red", 0.8, 0.0) + rng.normal(scale=0.5, size=n)
    if task == "binary":
        y: object = (signal > 0.4).astype(np.int64)
    elif task == "multiclass":
        y = [labels[k] for k in np.digitize(signal, [-0.8, 0.6])]
    else:  # a price: large values, skewed, never near 0/1
        y = np.round(180_000 + 40_000 * signal + 8_000 * rng.normal(size=n), 2)
    return pl.DataFrame({"id": [f"e{i}" for i in range(n)], "day": np.arange(n) // (n // 100),
                         "y": y, "a": a, "b": b, "colour": colour})


def _training_set(frame: pl.DataFrame, task: str) -> TrainingSet:
    return TrainingSet(frame, ("id",), "day", "y", FEATURES, ("colour",), task, {"labels": 1}, "d" * 64)


def _search(ts: TrainingSet, train: pl.DataFrame, tmp_path: Path) -> SearchResult:
    config = SearchConfig(task=ts.task, n_trials=2, max_rounds=60, n_threads=1, validation="holdout",
                          studies_dir=tmp_path / "studies", study_name=f"{ts.task}-{tmp_path.name}")
    return run_search(train, features=list(FEATURES), categorical=["colour"], label="y", time_column="day",
                      config=config)


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    ring = KeyRing(tmp_path / "keys")
    ring.init(PASSPHRASE)
    return ring


@pytest.fixture
def registry(tmp_path: Path, ring: KeyRing) -> ModelRegistry:
    return ModelRegistry(tmp_path / "registry", ring.trust, signer=lambda: ring.load(PASSPHRASE))


def _train_and_gate(frame: pl.DataFrame, task: str, registry: ModelRegistry, tmp_path: Path):
    ts = _training_set(frame, task)
    train, holdout = time_holdout(ts.frame, ts.time_column, 0.2)
    result = _search(ts, train, tmp_path)
    fitted = fit_final(train, features=FEATURES, categorical=["colour"], label="y", task=task,
                       params=result.best_params, num_boost_round=result.refit_rounds, seed=42, n_threads=1)
    measured = uc.measure_candidate(fitted, task=task, train=train, holdout=holdout, ts=ts, result=result,
                                    registry=registry, model=f"m-{task}", training=TrainingSettings(),
                                    slice_columns=("colour",), quarantine_share=0.0)
    report = uc.decide_gate(GateSettings(), measured.evidence, candidate="c", champion=None)
    return ts, train, holdout, result, measured, report


@pytest.mark.parametrize("labels", [("bronze", "gold", "silver"), (10, 20, 30)], ids=["strings", "integers"])
def test_multiclass_trains_gates_and_maps_predictions_back_to_its_labels(labels, registry, tmp_path) -> None:
    frame = _frame("multiclass", labels=labels)
    ts, train, holdout, result, measured, report = _train_and_gate(frame, "multiclass", registry, tmp_path)
    assert result.metric == "multi_logloss"
    model = measured.model
    assert model.schema.classes == tuple(sorted(labels)) and model.schema.threshold is None
    assert measured.candidate.scores.shape == (holdout.height, 3)  # one row of k probabilities per row
    assert sorted(set(measured.candidate.y_true.tolist())) == [0, 1, 2]  # coded 0..k-1 in classes order
    assert set(model.predict_labels(holdout).tolist()) <= set(labels)  # decoded back to the label values
    assert (report.task, report.decision_metric) == ("multiclass", "logloss")
    assert report.passed, report.reasons()
    assert {c.name for c in report.checks} >= {"logloss bound", "accuracy bound", "macro_f1 bound"}
    # the reference profile holds one score a row (the predicted class's probability), not k
    profile = ReferenceProfile.from_json(measured.files["reference_profile.json"])  # type: ignore[arg-type]
    assert profile.prediction is not None and profile.prediction.n == train.height
    assert 1 / 3 <= profile.prediction.quantiles[0] <= profile.prediction.quantiles[-1] <= 1
    saved = json.loads(measured.files["model_schema.json"])  # type: ignore[arg-type]
    assert saved["classes"] == sorted(labels)


def test_regression_on_prices_is_judged_against_the_naive_baseline_not_auc(registry, tmp_path) -> None:
    frame = _frame("regression")
    ts, train, holdout, result, measured, report = _train_and_gate(frame, "regression", registry, tmp_path)
    assert result.metric == "rmse"
    assert measured.evidence.baseline == pytest.approx(float(train["y"].mean()))
    assert measured.candidate.scores.shape == (holdout.height,)
    assert (report.task, report.decision_metric) == ("regression", "rmse")
    assert report.passed, report.reasons()
    names = {c.name for c in report.checks}
    assert "rmse vs naive baseline" in names and not names & {"auc bound", "logloss bound", "calibration"}
    lineage = uc.lineage(ts, result, training_rows=train.height, holdout_rows=holdout.height,
                         candidate=measured.candidate, champion=None, report=report, reason="test",
                         evidence=measured.evidence)
    assert lineage["decision"] == {"task": "regression", "metric": "rmse", "threshold": None,
                                   "baseline": measured.evidence.baseline}


def test_binary_threshold_is_chosen_on_validation_data_and_stored_in_schema_and_lineage(registry, tmp_path) -> None:
    frame = _frame("binary")
    ts, train, holdout, result, measured, report = _train_and_gate(frame, "binary", registry, tmp_path)
    threshold = measured.model.schema.threshold
    assert threshold is not None and 0 < threshold < 1
    # the latest times of the training rows choose it, never the holdout the gate judges
    assert threshold == validation_threshold(train, features=FEATURES, categorical=["colour"], label="y",
                                             time_column="day", params=result.best_params,
                                             num_boost_round=result.best_iteration, seed=42, n_threads=1)
    assert measured.evidence.threshold == threshold
    saved = json.loads(measured.files["model_schema.json"])  # type: ignore[arg-type]
    assert saved["threshold"] == threshold
    (tmp_path / "v").mkdir()
    for name in ("model.txt", "model_schema.json"):
        (tmp_path / "v" / name).write_bytes(measured.files[name])  # type: ignore[arg-type]
    loaded = TrainedModel.load(tmp_path / "v")
    assert loaded.schema.threshold == threshold
    assert np.array_equal(loaded.predict_labels(holdout), (loaded.predict(holdout) >= threshold).astype(int))
    assert (report.task, report.decision_metric) == ("binary", "auc")
    at = {c.name: c for c in report.checks if c.name.endswith("at threshold")}
    assert set(at) == {"precision at threshold", "recall at threshold", "f1 at threshold",
                       "positive_rate at threshold"}
    lineage = uc.lineage(ts, result, training_rows=train.height, holdout_rows=holdout.height,
                         candidate=measured.candidate, champion=None, report=report, reason="test",
                         evidence=measured.evidence)
    assert lineage["decision"]["threshold"] == threshold and lineage["decision"]["task"] == "binary"


def test_a_multiclass_champion_is_compared_on_the_same_holdout_with_its_classes_aligned(registry, ring,
                                                                                        tmp_path) -> None:
    frame = _frame("multiclass", labels=("bronze", "gold", "silver"))
    train, holdout = time_holdout(frame, "day", 0.2)
    fit = {"features": FEATURES, "categorical": ["colour"], "label": "y", "task": "multiclass",
           "params": {"num_leaves": 4, "min_data_in_leaf": 5}, "num_boost_round": 5, "seed": 1, "n_threads": 1}
    # the champion learnt other classes: "gold" was "zinc" then; the candidate's gold gets probability 0
    older = fit_final(train.with_columns(pl.col("y").replace("gold", "zinc")), **fit)
    candidate = fit_final(train, **fit)
    assert older.schema.classes == ("bronze", "silver", "zinc")
    key = ring.load(PASSPHRASE)
    version = registry.register("m", files={p.name: p.read_bytes() for p in older.save(tmp_path / "old")},
                                metadata={}, status="accepted", key=key)
    registry.promote("m", version.version, actor="ana", reason="test")

    champion = uc.champion_scores(registry, "m", holdout, "y", "multiclass", classes=candidate.schema.classes)
    mine = uc.score_holdout(candidate, holdout, "y", "multiclass")
    assert champion is not None and champion.holdout.scores.shape == (holdout.height, 3)
    raw = older.predict(holdout)
    assert np.array_equal(champion.holdout.scores[:, 0], raw[:, 0])  # bronze
    assert not champion.holdout.scores[:, 1].any()  # gold: never learnt
    assert np.array_equal(champion.holdout.scores[:, 2], raw[:, 1])  # silver
    assert np.array_equal(champion.holdout.y_true, mine.y_true)  # the same holdout, coded the same way
    evidence = uc.build_evidence(mine, champion, holdout=holdout, training_rows=train.height, slice_columns=(),
                                 quarantine_share=0.0, files={"model.txt": b"m"}, latency_ms_per_1k=1.0,
                                 task="multiclass")
    report = uc.decide_gate(GateSettings(), evidence, candidate="c", champion=champion.ref("m"))
    (versus,) = [c for c in report.checks if c.name == "logloss vs champion"]
    assert versus.observed == pytest.approx(mine.metrics["logloss"])


def test_a_champion_of_another_task_is_refused_by_name(registry, ring, tmp_path) -> None:
    frame = _frame("binary")
    older = fit_final(frame, features=FEATURES, categorical=["colour"], label="y", task="binary",
                      params={"num_leaves": 4}, num_boost_round=3, seed=1, n_threads=1)
    version = registry.register("m", files={p.name: p.read_bytes() for p in older.save(tmp_path / "old")},
                                metadata={}, status="accepted", key=ring.load(PASSPHRASE))
    registry.promote("m", version.version, actor="ana", reason="test")
    with pytest.raises(InputError, match=r"champion m:v1 is a binary model, the run trains a regression") as caught:
        uc.champion_scores(registry, "m", _frame("regression"), "y", "regression")
    assert caught.value.hint


def test_holdout_labels_of_strings_are_coded_by_the_models_classes() -> None:
    frame = _frame("multiclass", n=300, labels=("bronze", "gold", "silver"))
    model = fit_final(frame, features=FEATURES, categorical=["colour"], label="y", task="multiclass",
                      params={"num_leaves": 4}, num_boost_round=3, seed=1, n_threads=1)
    scored = uc.score_holdout(model, frame, "y", "multiclass")
    codes = {"bronze": 0, "gold": 1, "silver": 2}
    assert scored.y_true.tolist() == [codes[v] for v in frame["y"]]
    assert set(scored.metrics) == {"logloss", "accuracy", "macro_f1"}


def test_the_reference_profile_of_a_multiclass_model_holds_one_score_a_row() -> None:
    frame = _frame("multiclass", n=300, labels=(0, 1, 2))
    model = fit_final(frame, features=FEATURES, categorical=["colour"], label="y", task="multiclass",
                      params={"num_leaves": 4}, num_boost_round=3, seed=1, n_threads=1)
    profile = uc.reference_profile(model, frame, _training_set(frame, "multiclass"))
    assert profile.prediction is not None and profile.prediction.n == frame.height  # not 3 x the rows


def _two_valued(values: tuple) -> pl.DataFrame:
    frame = _frame("binary")
    return frame.with_columns(y=pl.when(pl.col("y") == 1).then(pl.lit(values[1])).otherwise(pl.lit(values[0])))


@pytest.mark.parametrize("values", [("FEMALE", "MALE"), (1, 2)], ids=["strings", "one-two"])
def test_a_binary_label_of_two_values_trains_and_gates_with_the_second_as_class_1(values, registry,
                                                                                  tmp_path) -> None:
    """Issue 14 gap: a FEMALE/MALE (or 1/2) label was refused as "not 0/1 or true/false"."""
    frame = _two_valued(values)
    ts, train, holdout, result, measured, report = _train_and_gate(frame, "binary", registry, tmp_path)
    schema = measured.model.schema
    assert schema.classes == values and schema.threshold is not None  # class 1 = the second in sorted order
    assert measured.candidate.metrics["auc"] > 0.8 and report.task == "binary"
    assert {c.name: c.passed for c in report.checks}["auc bound"]  # the gate judged it (calibration may not pass)
    assert measured.evidence.y_true.tolist() == (holdout["y"] == values[1]).cast(pl.Int64).to_list()
    saved = json.loads(measured.files["model_schema.json"])
    assert saved["classes"] == list(values) and saved["task"] == "binary"
    assert uc.outcome("m", version=1, status="accepted", report=report, candidate=measured.candidate,
                      champion=None, training_rows=1, holdout_rows=1, gate_report=tmp_path,
                      classes=schema.classes).positive == str(values[1])


def test_positive_chooses_the_other_class_and_the_auc_mirrors(registry, tmp_path) -> None:
    frame = _two_valued(("FEMALE", "MALE"))
    ts = _training_set(frame, "binary")
    train, holdout = time_holdout(ts.frame, ts.time_column, 0.2)
    fits = {}
    for positive in ("MALE", "FEMALE"):
        model = fit_final(train, features=FEATURES, categorical=["colour"], label="y", task="binary",
                          params={"num_leaves": 7}, num_boost_round=30, seed=42, n_threads=1, positive=positive)
        fits[positive] = uc.score_holdout(model, holdout, "y", "binary")
    assert fits["FEMALE"].y_true.tolist() == (1 - fits["MALE"].y_true).tolist()
    assert fits["MALE"].metrics["auc"] == pytest.approx(fits["FEMALE"].metrics["auc"], abs=0.02)
    assert np.corrcoef(fits["MALE"].scores, fits["FEMALE"].scores)[0, 1] < -0.95  # P(FEMALE) ~ 1 - P(MALE)
    with pytest.raises(Exception, match="positive class 'OTHER' is not one of"):
        fit_final(train, features=FEATURES, categorical=["colour"], label="y", task="binary",
                  params={}, num_boost_round=5, seed=42, n_threads=1, positive="OTHER")


def test_a_champion_with_the_other_positive_class_is_scored_as_the_candidate_codes_labels(registry,
                                                                                          tmp_path) -> None:
    frame = _two_valued(("FEMALE", "MALE"))
    train, holdout = time_holdout(frame, "day", 0.2)
    model = fit_final(train, features=FEATURES, categorical=["colour"], label="y", task="binary",
                      params={"num_leaves": 7}, num_boost_round=30, seed=42, n_threads=1, positive="FEMALE")
    own = uc.score_holdout(model, holdout, "y", "binary")
    as_candidate = uc.score_holdout(model, holdout, "y", "binary", classes=("FEMALE", "MALE"))
    assert as_candidate.y_true.tolist() == (1 - own.y_true).tolist()
    assert as_candidate.metrics["auc"] == pytest.approx(own.metrics["auc"])  # not 1 - AUC


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_the_plots_draw_the_evidence_the_gate_decided_on(task, registry, tmp_path) -> None:
    from governance.gate_plots import PLOTS, gate_page

    frame = _frame(task, labels=("bronze", "<b>gold</b>", "silver") if task == "multiclass" else ())
    ts, train, holdout, result, measured, report = _train_and_gate(frame, task, registry, tmp_path)
    assert measured.plots is not None and measured.plots.evidence is measured.evidence  # made once, not rescored
    assert set(measured.plots.importance) == set(FEATURES)
    page = gate_page(report, measured.plots, version=1)
    assert all(f'id="plot-{name}"' in page for name in PLOTS[task])
