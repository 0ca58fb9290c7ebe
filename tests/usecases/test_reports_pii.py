"""No file under the data home's reports/ and registry/ shows a PII-tagged column's values in clear.

A model is fit on a tagged categorical feature (``contact``: emails, phone numbers, names) that is
also the gate's slice column; the candidate is registered (gate report JSON and page, signed with
the version, and the page under reports/) and monitored on a drifted window (the drift report, every
feature charted). Every file is then scanned for the corpus, raw, escaped or cut short. The model's
own files are the exception, named here: the model, its schema and its reference profile must hold
the categories to encode and judge inputs (a compliance export withholds such a version's model
files, :func:`governance.export_pii.personal_features`)."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from features.contracts import ColumnSpec, FeatureGroupContract
from features.store import FeatureStore
from features.training_set import TrainingSet
from governance.report_pii import contracts_pii
from monitoring.drift import DriftPolicy
from registry import layout
from tasks.workspace import Workspace
from tests.governance.pii_corpus import CORPUS, EMAILS, NAMES, PHONES, leaks, scan
from tests.usecases.candidates import lineage
from tests.usecases.small import ACTOR, KEY, LABELS, PARAMS, T0, TIME
from training.model import fit_final
from usecases import train as uc
from usecases.monitor import current_window, drift_markdown, monitor_champion
from usecases.registration import register_candidate

MODEL_FILES = (layout.MODEL, layout.SCHEMA, layout.REFERENCE_PROFILE)
VALUES = (EMAILS[0], PHONES[1], NAMES[2], NAMES[1])


def _activity(action: str | bool) -> FeatureGroupContract:
    return FeatureGroupContract("activity", 1, ("customer_id",), "event_time",
                                (KEY, TIME, ColumnSpec("sessions", "int64"),
                                 ColumnSpec("contact", "string", pii=action)))


def _frame(n: int, pick) -> pl.DataFrame:
    return pl.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "sessions": list(range(n)),
                         "contact": [pick(i) for i in range(n)], "y": [int(i >= n // 2) for i in range(n)]})


@pytest.mark.parametrize("action", ["hash", "mask", "drop", False])
def test_reports_and_registry_never_show_tagged_values(home, action: str | bool) -> None:
    """``False``: the column untagged, the scans find the values (so they can fail)."""
    ws = Workspace.open()
    contracts = {"activity": _activity(action), "labels": LABELS}
    pii = contracts_pii(contracts, ws.signing_key)
    frame = _frame(24, lambda i: VALUES[i % 4])
    model = fit_final(frame, features=["sessions", "contact"], categorical=["contact"], label="y",
                      task="binary", params=PARAMS, num_boost_round=5, seed=1, n_threads=1)
    ts = TrainingSet(frame.with_columns(pl.Series("t", list(range(24)))), ("customer_id",), "t", "y",
                     ("sessions", "contact"), ("contact",), "binary", {"activity": 1, "labels": 1}, "f" * 64)
    files = uc.version_files(model, uc.reference_profile(model, ts.frame, ts), ())
    evidence = uc.build_evidence(uc.score_holdout(model, frame, "y", "binary"), None, holdout=frame,
                                 training_rows=24, slice_columns=("contact",), quarantine_share=0.0,
                                 files=files, latency_ms_per_1k=1.0, pii=pii)
    report = uc.decide_gate(ws.settings.gate.model_copy(update={"slice_columns": ("contact",)}), evidence,
                            candidate="churn candidate (ffffffffffff)", champion=None)
    version = register_candidate(ws, files=files, lineage=lineage(str(action)), report=report,
                                 plots=uc.plot_evidence(model, evidence))

    store = FeatureStore(ws.home.store)
    drifted = _frame(24, lambda i: VALUES[3] if i % 5 else VALUES[0])  # the window leans to one contact
    schema = {"customer_id": pl.String, "event_time": pl.Datetime("us", "UTC"), "sessions": pl.Int64,
              "contact": pl.String, "_ingested_at": pl.Datetime("us", "UTC"), "_source": pl.String}
    rows = pl.DataFrame([{**r, "event_time": T0 + timedelta(minutes=i), "_ingested_at": T0 + timedelta(days=1),
                          "_source": "a" * 64} for i, r in enumerate(drifted.drop("y").to_dicts())], schema=schema)
    store.append("activity", rows.to_arrow(), sources=["a" * 64], key_columns=("customer_id", "event_time"))
    window = current_window(store, contracts, ["activity"], 7)
    result = monitor_champion(store, LABELS, ws.registry.get("churn", version.version), window,
                              policy=DriftPolicy(), label_horizon=timedelta(days=7), reports=ws.home.reports,
                              audit=ws.audit, actor=ACTOR, stable_charts=True, pii=pii)

    assert "contact" in result.report.read_text()  # the column's name stays, its values do not
    assert sorted(p.name for p in ws.home.reports.iterdir()) == sorted([
        f"gate-churn-v{version.version}.html", result.report.name])
    found = {**scan(ws.home.reports), **scan(ws.home.registry, skip=MODEL_FILES)}
    if action is False:
        assert {n.rsplit("/", 1)[-1] for n in found} >= {"gate_report.json", "gate_report.html",
                                                         result.report.name}, found
        return
    assert found == {}
    # the Prefect artifacts' Markdown (tasks/gate.py, tasks/monitor.py)
    assert leaks(report.to_markdown()) == leaks(drift_markdown(result.drift, version)) == []
    # the scan can fail: the model's own files hold the categories (withheld from exports)
    assert set(leaks((version.path / layout.SCHEMA).read_text(), CORPUS)) == set(VALUES)


def test_the_workspace_builds_the_policy_from_its_contracts(home, monkeypatch: pytest.MonkeyPatch) -> None:
    """The flows' wiring: the demo's contracts tag customer_id (pii = true: mask); the key is
    unlocked only when a column the report can show is tagged."""
    ws = Workspace.open()
    pii = ws.report_pii(["customer_id", "plan"])
    assert pii.actions == {"customer_id": "mask"} and pii.key
    monkeypatch.setattr(Workspace, "signing_key", lambda self: pytest.fail("key asked for no PII"))
    assert ws.report_pii(["plan", "sessions"]).actions == {}
