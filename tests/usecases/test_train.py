"""The train-and-gate use case on a dozen rows: holdout scores, latency, the champion (loaded
verified), the version's files, the evidence, the gate, the lineage and the outcome."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from driftline.errors import InputError, IntegrityError
from driftline.settings import GateSettings
from features.training_set import TrainingSet
from monitoring.profile import ReferenceProfile
from registry import KeyRing, ModelRegistry
from tests.usecases.small import tiny_fit, tiny_frame
from training.metrics import evaluate
from training.model import TrainedModel
from training.search import SearchResult, TrialRecord
from usecases import train as uc
from usecases.score import predict

PASSPHRASE = b"correct horse battery staple"


def _training_set(frame: pl.DataFrame) -> TrainingSet:
    frame = frame.with_columns(pl.Series("t", list(range(frame.height))),
                               pl.Series("plan", ["a", "b"] * (frame.height // 2)))
    return TrainingSet(frame, ("customer_id",), "t", "y", ("sessions",), (), "binary",
                       {"activity": 4, "labels": 2}, "f" * 64)


def _search() -> SearchResult:
    trial = TrialRecord(0, "COMPLETE", 0.9, {"num_leaves": 4}, {1: 0.8, 2: 0.9}, 1.5, 2)
    return SearchResult({"num_leaves": 4}, 0.9, 2, "auc", "maximize", (trial,), "churn-ffffffffffff",
                        "journal:///x", "cpu", 1, 0, refit_rounds=5)


@pytest.fixture
def registry(tmp_path: Path) -> tuple[ModelRegistry, KeyRing]:
    ring = KeyRing(tmp_path / "keys")
    ring.init(PASSPHRASE)
    return ModelRegistry(tmp_path / "registry", ring.trust, signer=lambda: ring.load(PASSPHRASE)), ring


def test_latency_is_the_best_repeat_per_thousand_rows(tiny_model) -> None:
    ticks = iter([0.0, 0.5, 1.0, 1.2, 2.0, 2.3])  # repeats take 0.5 s, 0.2 s, 0.3 s
    latency = uc.scoring_latency(tiny_model, tiny_frame(), rows=100, repeats=3, clock=lambda: next(ticks))
    assert latency == pytest.approx(0.2 * 1000 * 1000 / 100)
    with pytest.raises(InputError, match="0 holdout rows") as caught:
        uc.scoring_latency(tiny_model, tiny_frame().head(0))
    assert caught.value.hint


def test_holdout_scores_are_the_models_scores_and_their_metrics(tiny_model) -> None:
    holdout = tiny_frame()
    scored = uc.score_holdout(tiny_model, holdout, "y", "binary")
    assert np.array_equal(scored.scores, predict(tiny_model, holdout))
    assert scored.y_true.tolist() == holdout["y"].to_list()
    assert scored.metrics == pytest.approx(evaluate(scored.y_true, scored.scores, "binary"))
    assert all(type(v) is float for v in scored.metrics.values())


def test_no_champion_yet_gives_none_and_a_champion_is_scored_on_the_same_holdout(registry, tmp_path,
                                                                                tiny_model) -> None:
    reg, ring = registry
    holdout = tiny_frame()
    assert uc.champion_scores(reg, "churn", holdout, "y", "binary") is None
    older = tiny_fit(seed=2)
    v = reg.register("churn", files={p.name: p.read_bytes() for p in older.save(tmp_path / "m")},
                     metadata={}, status="accepted", key=ring.load(PASSPHRASE))
    reg.promote("churn", v.version, actor="ana", reason="test")
    champion = uc.champion_scores(reg, "churn", holdout, "y", "binary")
    assert champion is not None and champion.version == v.version and champion.ref("churn") == "churn:v1"
    assert np.array_equal(champion.holdout.scores, predict(older, holdout))


def test_a_champion_whose_model_file_was_changed_is_refused_not_compared(registry, tmp_path) -> None:
    reg, ring = registry
    v = reg.register("churn", files={p.name: p.read_bytes() for p in tiny_fit().save(tmp_path / "m")},
                     metadata={}, status="accepted", key=ring.load(PASSPHRASE))
    reg.promote("churn", v.version, actor="ana", reason="test")
    model_file = v.path / "model.txt"
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0x01  # flip one bit of one byte
    model_file.chmod(0o644)
    model_file.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        uc.champion_scores(reg, "churn", tiny_frame(), "y", "binary")


def test_version_files_hold_the_model_as_saved_the_profile_and_the_trials(tmp_path, tiny_model) -> None:
    ts = _training_set(tiny_frame())
    profile = uc.reference_profile(tiny_model, ts.frame, ts)
    files = uc.version_files(tiny_model, profile, _search().trials)
    assert sorted(files) == ["model.txt", "model_schema.json", "reference_profile.json", "trials.json"]
    assert files["model.txt"] == tiny_model.model_bytes()
    for name in ("model.txt", "model_schema.json"):  # the round trip: what is signed loads and predicts the same
        (tmp_path / name).write_bytes(files[name])  # type: ignore[arg-type]
    assert np.array_equal(predict(TrainedModel.load(tmp_path), ts.frame), predict(tiny_model, ts.frame))
    assert ReferenceProfile.from_json(files["reference_profile.json"]) == profile  # type: ignore[arg-type]
    assert json.loads(files["trials.json"])[0]["params"] == {"num_leaves": 4}  # type: ignore[arg-type]


def test_evidence_carries_both_models_segments_and_facts(tiny_model) -> None:
    ts = _training_set(tiny_frame())
    candidate = uc.score_holdout(tiny_model, ts.frame, "y", "binary")
    files = {"model.txt": b"x" * 123}
    first = uc.build_evidence(candidate, None, holdout=ts.frame, training_rows=40, slice_columns=(),
                              quarantine_share=0.01, files=files, latency_ms_per_1k=2.5)
    assert first.champion is None and first.champion_scores is None and first.segments is None
    assert (first.training_rows, first.quarantine_share, first.model_size_bytes, first.latency_ms_per_1k) == (
        40, 0.01, 123, 2.5)
    champion = uc.ChampionScores(7, uc.score_holdout(tiny_fit(seed=2), ts.frame, "y", "binary"))
    second = uc.build_evidence(candidate, champion, holdout=ts.frame, training_rows=40, slice_columns=("plan",),
                               quarantine_share=0.0, files=files, latency_ms_per_1k=2.5)
    assert second.has_champion and second.champion == champion.holdout.metrics
    assert second.segments is not None and list(second.segments["plan"][:2]) == ["a", "b"]
    with pytest.raises(InputError, match="quarantine_share"):
        uc.build_evidence(candidate, None, holdout=ts.frame, training_rows=40, slice_columns=(),
                          quarantine_share=1.5, files=files, latency_ms_per_1k=2.5)


def test_gate_lineage_and_outcome_agree(tiny_model, tmp_path) -> None:
    ts = _training_set(tiny_frame())
    candidate = uc.score_holdout(tiny_model, ts.frame, "y", "binary")
    evidence = uc.build_evidence(candidate, None, holdout=ts.frame, training_rows=12, slice_columns=(),
                                 quarantine_share=0.0, files={"model.txt": b"m"}, latency_ms_per_1k=1.0)
    name = uc.candidate_name("churn", ts)
    assert name == "churn candidate (ffffffffffff)"
    report = uc.decide_gate(GateSettings(), evidence, candidate=name, champion=None)
    assert not report.passed and any("training rows" in r for r in report.reasons())  # 12 < 500 rows
    lineage = uc.lineage(ts, _search(), training_rows=12, holdout_rows=3, candidate=candidate, champion=None,
                         report=report, reason="manual")
    assert lineage["gate_report_sha256"] == report.digest and lineage["champion_metrics"] is None
    assert lineage["data"]["delta_versions"] == {"activity": 4, "labels": 2}
    result = uc.outcome("churn", version=3, status="rejected", report=report, candidate=candidate, champion=None,
                        training_rows=12, holdout_rows=3, gate_report=tmp_path / "gate.html")
    assert (result.version, result.promoted, result.champion_version, result.reasons) == (
        3, False, None, tuple(report.reasons()))
    assert result.metrics == candidate.metrics and result.gate_report == str(tmp_path / "gate.html")
