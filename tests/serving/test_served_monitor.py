"""The monitor over served traffic: the window is what the server returned as champion (not shadow or
canary rows, not other models, not outside the window), features and the returned scores are judged
against the reference profile, delayed labels join served rows by entity key and time as they join
batch scores, and a model that was never served, or an unknown source, is refused in words."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from driftline.errors import InputError, NotFoundError
from features.store import FeatureStore
from governance.audit import AuditLog
from monitoring.drift import DriftPolicy
from monitoring.windows import AFTER_NEWEST
from tests.serving.served_batches import T0, batch, serve
from tests.usecases.small import ACTOR, LABELS, put, tiny_fit
from tests.usecases.test_monitor import _champion
from usecases.monitor import labelled_scores, monitor_champion
from usecases.score import predict
from usecases.served_window import served_window

ROOT = Path(__file__).resolve().parents[2]
HORIZON = timedelta(days=7)


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    return FeatureStore(tmp_path / "store")


def champion_traffic(shift: int = 0, scores: list[float] | None = None) -> list:
    """12 rows like the training rows (sessions 0..11, plus ``shift``), one request a minute, c0..c11."""
    model = tiny_fit()
    out = []
    for i in range(12):
        s = [i + shift]
        score = scores[i] if scores else float(predict(model, pl.DataFrame({"sessions": s}))[0])
        out.append(batch(f"r{i}", 1, customers=[f"c{i}"], sessions=s, scores=[score], minutes=i))
    return out


def judge(tmp_path: Path, store: FeatureStore, days: int = 7):
    champion = _champion(tmp_path, tiny_fit())
    served = served_window(store, "churn", ["sessions"], days)
    return monitor_champion(store, LABELS, champion, served.window, policy=DriftPolicy(), label_horizon=HORIZON,
                            reports=tmp_path / "reports", audit=AuditLog(tmp_path / "audit"), actor=ACTOR,
                            source="served", returned_scores=served.scores)


def test_the_window_is_the_champions_returned_rows_of_the_model_received_in_it(store: FeatureStore) -> None:
    serve(store, *champion_traffic(),
          batch("shadow", 2, role="challenger", returned=False, version=4, minutes=3),
          batch("canary", 2, role="challenger", returned=True, version=4, minutes=4),
          batch("other", 2, model="billing", minutes=5),
          batch("old", 1, minutes=-60 * 24 * 30))
    served = served_window(store, "churn", ["sessions"], 7)
    assert served.window.end == T0 + timedelta(minutes=11) + AFTER_NEWEST
    assert served.window.frame.columns == ["sessions"] and served.window.frame.height == 12
    assert sorted(served.window.frame["sessions"].to_list()) == list(range(12)) and len(served.scores) == 12
    since = served_window(store, "churn", ["sessions"], 7, since=T0 + timedelta(minutes=6))
    assert since.window.frame.height == 6


def test_shifted_served_inputs_drift_and_the_verdict_names_its_source(tmp_path: Path, store: FeatureStore) -> None:
    serve(store, *champion_traffic(shift=100))
    result = judge(tmp_path, store)
    assert result.drifted and result.drifted_features == ("sessions",)
    assert "-served-" in result.report.name and result.report.is_file()
    (entry,) = AuditLog(tmp_path / "audit").entries()
    assert entry.details["source"] == "served" and entry.details["current_rows"] == 12


def test_prediction_drift_judges_the_scores_the_server_returned(tmp_path: Path, store: FeatureStore) -> None:
    # Inputs like the training rows, but the server answered 0.99 every time: that is what is judged.
    serve(store, *champion_traffic(scores=[0.99] * 12))
    result = judge(tmp_path, store)
    assert result.drift.prediction is not None and result.drift.prediction.drifted
    assert not any(f.drifted for f in result.drift.features)


def test_served_traffic_like_the_training_rows_is_no_drift(tmp_path: Path, store: FeatureStore) -> None:
    serve(store, *champion_traffic())
    assert not judge(tmp_path, store).drifted


def test_delayed_labels_join_served_rows_by_entity_and_time(tmp_path: Path, store: FeatureStore) -> None:
    champion = _champion(tmp_path, tiny_fit())
    serve(store, *champion_traffic(), batch("no-key", 2, minutes=5),  # features sent inline without a key
          batch("shadow", 1, customers=["c1"], role="challenger", returned=False, version=4, minutes=1))
    assert labelled_scores(store, LABELS, champion, horizon=HORIZON, source="served") is None  # no labels yet
    put(store, "labels", [{"customer_id": f"c{i}", "event_time": 30, "y": int(i >= 6)} for i in range(12)]
        + [{"customer_id": "c0", "event_time": -5, "y": 1}])  # before the request: answers nothing
    labelled = labelled_scores(store, LABELS, champion, horizon=HORIZON, source="served")
    assert labelled is not None and labelled.rows == 12 and sorted(labelled.labels) == [0.0] * 6 + [1.0] * 6
    assert labelled_scores(store, LABELS, champion, horizon=HORIZON) is None  # batch scores: none stored
    result = judge(tmp_path, store)
    assert result.drift.performance is not None and result.drift.performance["labelled_rows"] == 12


def test_a_model_never_served_is_refused_by_name(store: FeatureStore) -> None:
    with pytest.raises(NotFoundError, match="churn") as raised:
        served_window(store, "churn", ["sessions"], 7)
    assert "predict-server" in raised.value.hint


def test_an_unknown_source_or_scores_without_the_served_source_are_refused(tmp_path: Path,
                                                                         store: FeatureStore) -> None:
    serve(store, *champion_traffic())
    champion = _champion(tmp_path, tiny_fit())
    served = served_window(store, "churn", ["sessions"], 7)
    with pytest.raises(InputError, match="source"):
        labelled_scores(store, LABELS, champion, horizon=HORIZON, source="kafka")
    for source, scores in (("store", served.scores), ("served", None), ("kafka", np.zeros(12))):
        with pytest.raises(InputError, match="source"):
            monitor_champion(store, LABELS, champion, served.window, policy=DriftPolicy(), label_horizon=HORIZON,
                             reports=tmp_path / "reports", audit=AuditLog(tmp_path / "audit"), actor=ACTOR,
                             source=source, returned_scores=scores)
    assert not (tmp_path / "audit" / "log.jsonl").exists()


def test_the_command_refuses_an_unknown_source_before_prefect_starts(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DRIFTLINE_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-m", "flows", "monitor", "--model", "churn", "--source", "kafka"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--source" in done.stderr and "served" in done.stderr


def test_the_monitor_command_judges_served_traffic_through_the_flow(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m flows monitor --source served`` end to end (Prefect's temporary server: slow, ~30 s)."""
    from monitoring.profile import build_profile
    from registry.layout import REFERENCE_PROFILE
    from tasks.workspace import Workspace
    from tests.usecases.candidates import PASSPHRASE, gate_report, lineage
    from tests.usecases.small import tiny_frame
    from usecases.promotion import promote_version
    from usecases.registration import register_candidate

    home = tmp_path / "home"
    monkeypatch.setenv("DRIFTLINE_HOME", str(home))
    monkeypatch.setenv("DRIFTLINE_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("DRIFTLINE_KEY_PASSPHRASE_FILE", raising=False)
    monkeypatch.delenv("DRIFTLINE_FAULT", raising=False)
    ws = Workspace.open()
    model, folder = tiny_fit(), tmp_path / "model"
    model.save(folder)
    train = tiny_frame()
    (folder / REFERENCE_PROFILE).write_bytes(build_profile(train, numeric=["sessions"], categorical=[],
                                                           predictions=predict(model, train)).to_json())
    register_candidate(ws, files={p.name: p.read_bytes() for p in folder.iterdir()}, lineage=lineage("1"),
                       report=gate_report())
    promote_version(ws, "churn", 1, reason="first")
    serve(ws.store, *(batch(b.request_id, 1, customers=[f"c{i}"], sessions=b.inputs["sessions"].to_list(),
                            scores=b.outputs["score"].to_list(), version=1, minutes=i)
                      for i, b in enumerate(champion_traffic())))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "flows", "monitor", "--model", "churn", "--source", "served"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no drift" in done.stdout and "12 rows in the window" in done.stdout and "-served-" in done.stdout
    (entry,) = [e for e in AuditLog(home / "audit").entries() if e.action == "drift.verdict"]
    assert entry.details["source"] == "served" and entry.details["current_rows"] == 12
    assert [e.action for e in AuditLog(home / "audit").entries() if e.details.get("recovered")] == []
