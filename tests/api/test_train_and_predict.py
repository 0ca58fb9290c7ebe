"""The API end to end on the demo's small data: ingest, train (the train flow, in-process), the
verified champion's predictions equal to ``score``'s bit for bit, monitor, versions, and a flipped
byte in the champion refused. One training run for the module: it starts Prefect (the harness)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import driftline_api as dl
from driftline.errors import IntegrityError
from flows.demo_data import DemoDrop
from governance.audit import AuditLog
from usecases.monitor import MonitorResult
from usecases.outcomes import TrainOutcome

pytestmark = pytest.mark.flow
# Small data: a lenient gate, so that v1 is promoted; the gate's verdict is not what is tested here.
LENIENT = {"min_auc": 0.0, "max_logloss": 10.0, "max_ece": 1.0, "min_training_rows": 0,
           "max_latency_ms_per_1k": 1e9, "max_quarantine_share": 1.0}


@dataclass(frozen=True)
class Trained:
    home: Path
    outcome: TrainOutcome
    ingested: list[tuple[int, int, str]]  # what ingest's progress callback was told
    searched: list[tuple[int, int, str]]  # and train's


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, demo_source: DemoDrop, prefect_harness) -> Trained:
    from tests.usecases.candidates import PASSPHRASE

    mp = pytest.MonkeyPatch()
    mp.setenv("DRIFTLINE_KEY_PASSPHRASE", PASSPHRASE)
    mp.setenv("DRIFTLINE_WITNESS_DIR", str(tmp_path_factory.mktemp("witness")))
    home = tmp_path_factory.mktemp("api") / "home"
    h = dl.open(home, gate=LENIENT)
    ingested: list[tuple[int, int, str]] = []
    searched: list[tuple[int, int, str]] = []
    for group in ("customer_activity", "customer_billing", "churn_labels"):
        h.ingest(demo_source.landing / group, group=group, progress=lambda *a: ingested.append(a))
    outcome = h.train("churn", trials=2, progress=lambda *a: searched.append(a))
    yield Trained(home, outcome, ingested, searched)
    mp.undo()


def test_train_returns_the_flows_typed_outcome_and_the_version_is_listed(trained: Trained) -> None:
    o = trained.outcome
    assert isinstance(o, TrainOutcome) and (o.model, o.version, o.status, o.promoted) == (
        "churn", 1, "accepted", True)
    (v1,) = dl.open(trained.home).versions("churn")
    assert (v1.version, v1.status, v1.aliases, v1.is_champion) == (1, "accepted", ("champion",), True)
    assert v1.metrics["auc"] == pytest.approx(o.metrics["auc"])
    actions = {e.action for e in AuditLog(trained.home / "audit").entries()}
    assert {"model.train", "gate.decision", "model.register", "model.promote", "model.score"} <= actions


def test_progress_callbacks_hear_each_drop_and_each_trial(trained: Trained, demo_source: DemoDrop) -> None:
    drops = sum(len(list((demo_source.landing / g).iterdir()))
                for g in ("customer_activity", "customer_billing", "churn_labels"))
    assert len(trained.ingested) == drops and all(0 < done <= total for done, total, _ in trained.ingested)
    assert [(done, total) for done, total, _ in trained.searched] == [(1, 2), (2, 2)]


def test_predict_equals_score_bit_for_bit(trained: Trained, tmp_path: Path) -> None:
    from features.latest import latest_features
    from features.snapshot_queries import newest_event_time
    from flows.local import run_local
    from tasks.workspace import Workspace

    out = tmp_path / "batch.parquet"
    run_local("score", home=str(trained.home), model="churn", out=str(out))
    batch = pl.read_parquet(out).sort("customer_id")
    # The rows score read: every entity's latest features at the data's time.
    ws = Workspace.for_model(trained.home, "churn")
    snapshots = [ws.store.snapshot(g) for g in ws.settings.feature_groups]
    rows = latest_features(snapshots, ws.contracts, as_of=newest_event_time(snapshots, ws.contracts))

    champion = dl.open(trained.home).champion("churn")
    assert (champion.model, champion.version, champion.task) == ("churn", 1, "binary")
    scored = champion.predict(rows).sort("customer_id")
    assert scored["customer_id"].to_list() == batch["customer_id"].to_list()
    assert np.array_equal(scored["score"].to_numpy(), batch["score"].to_numpy())  # bit for bit, not approx
    assert scored["decision"].to_list() == batch["decision"].to_list()
    # pandas in, pandas out, the same numbers
    as_pandas = champion.predict(rows.to_pandas())
    assert np.array_equal(as_pandas.sort_values("customer_id")["score"].to_numpy(), batch["score"].to_numpy())


def test_predict_refuses_a_frame_the_model_cannot_score(trained: Trained) -> None:
    from driftline.errors import InputError

    champion = dl.open(trained.home).champion("churn")
    feature = champion.features[0]
    with pytest.raises(InputError, match=f"lacks column {feature!r}"):
        champion.predict(pl.DataFrame({"other": [1]}))
    with pytest.raises(InputError, match="would overwrite"):
        champion.predict(pl.DataFrame({"score": [1.0]}))


def test_monitor_returns_the_typed_verdict_and_records_it(trained: Trained) -> None:
    result = dl.open(trained.home).monitor("churn", since="2026-01-20")
    assert isinstance(result, MonitorResult) and (result.model, result.version) == ("churn", 1)
    assert result.report.is_file()
    (entry,) = [e for e in AuditLog(trained.home / "audit").entries() if e.action == "drift.verdict"]
    assert entry.details["report"] == result.report.name


def test_a_flipped_byte_in_the_champion_is_refused(trained: Trained, tmp_path: Path) -> None:
    home = tmp_path / "copy"
    shutil.copytree(trained.home, home)
    assert dl.open(home).champion("churn").version == 1  # the copy as it is loads: the flip is what is caught
    model = home / "registry" / "churn" / "1" / "model.txt"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        dl.open(home).champion("churn")
