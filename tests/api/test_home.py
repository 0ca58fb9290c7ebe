"""The Python API without Prefect: open, ingest (frames and files), versions, models, and the
refusals of bad input, each a ``DriftlineError`` subclass with a hint, never ``SystemExit``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pytest

import driftline_api as dl
from driftline.errors import ConfigError, DriftlineError, InputError, NotFoundError
from features.predictions import SCORE
from flows.demo_data import DemoDrop
from governance.audit import AuditLog
from usecases.models import DEMO_SPEC, ModelSpec, save_spec
from driftline_api import champion

GROUP = "customer_activity"


def _day(demo: DemoDrop, group: str, day: int | None = None) -> pl.DataFrame:
    """A day's drop of ``group`` as a frame; without ``day``, the first drop with no planted bad row."""
    files = [f for f in demo.for_days(day or 1, day or demo.days) if f.group == group and (day or not f.bad_rows)]
    path = files[0].path
    return pl.read_csv(path, infer_schema=False) if path.suffix == ".csv" else pl.read_parquet(path)


def _entries(home: Path, action: str) -> list:
    return [e for e in AuditLog(home / "audit").entries() if e.action == action]


def test_a_frame_is_ingested_like_a_file_and_once(home: Path, demo_source: DemoDrop) -> None:
    frame = _day(demo_source, GROUP)
    run = dl.open(home).ingest(frame, group=GROUP)

    (totals,) = run.totals
    assert (totals.group, totals.rows_stored, totals.rows_quarantined) == (GROUP, frame.height, 0)
    (entry,) = _entries(home, "ingest")
    assert entry.details["file"].startswith(f"{GROUP}-frame-") and entry.details["rows_stored"] == frame.height
    assert [r.status for r in dl.open(home).ingest(frame, group=GROUP).reports] == ["duplicate"]
    # pandas goes in through Arrow: the same rows make the same drop, other rows a new one
    assert [r.status for r in dl.open(home).ingest(frame.to_pandas(), group=GROUP).reports] == ["duplicate"]
    again = dl.open(home).ingest(frame.head(3).to_pandas(), group=GROUP)
    assert [(r.status, r.rows_stored) for r in again.reports] == [("stored", 3)]
    assert AuditLog(home / "audit").checkpoints()  # every write ends signed, as a flow's does


def test_bad_rows_of_a_frame_are_quarantined_and_all_bad_is_an_error(home: Path, demo_source: DemoDrop) -> None:
    frame = _day(demo_source, GROUP).head(4).with_columns(pl.lit("many").alias("sessions"))
    with pytest.raises(InputError, match="nothing was stored: all 4 row"):
        dl.open(home).ingest(frame, group=GROUP)
    assert _entries(home, "quarantine")  # recorded before it was raised
    run = dl.open(home).ingest(frame, group=GROUP, strict=False)  # the same bytes: a duplicate now
    assert [r.status for r in run.reports] == ["duplicate"]
    mixed = pl.concat([frame.head(1), _day(demo_source, GROUP).tail(3)])
    (report,) = dl.open(home).ingest(mixed, group=GROUP).reports
    assert (report.rows_stored, report.rows_quarantined) == (3, 1)


def test_files_and_folders_are_ingested_into_the_named_group(home: Path, demo_source: DemoDrop) -> None:
    folder = demo_source.landing / "churn_labels"
    run = dl.open(home).ingest(folder, group="churn_labels")
    assert len(run.reports) == len(list(folder.iterdir())) and run.totals[0].group == "churn_labels"
    one = next((demo_source.landing / GROUP).glob("*.parquet"))
    assert dl.open(home).ingest(str(one), group=GROUP).totals[0].rows_stored > 0


@pytest.mark.parametrize("call, error, message", [
    (lambda h: dl.open(h).ingest(pl.DataFrame({"a": [1]})), InputError, "pass group="),
    (lambda h: dl.open(h).ingest(pl.DataFrame({"a": [1]}), group="nope"), NotFoundError, "no contract for"),
    (lambda h: dl.open(h).ingest([{"a": 1}], group=GROUP), InputError, "polars or pandas DataFrame"),
    (lambda h: dl.open(h).ingest(pl.DataFrame({"a": []}), group=GROUP), InputError, "has no rows"),
    (lambda h: dl.open(h).ingest(h.parent / "missing.csv", group=GROUP), InputError, "no such file"),
    (lambda h: dl.open(h).versions("churn"), InputError, "no data home at"),
    (lambda h: dl.open(h).champion("churn"), InputError, "no data home at"),
    (lambda h: dl.open(h).monitor("churn", since="yesterday"), InputError, "not an ISO date"),
    (lambda h: dl.open(h).monitor("churn", window_days=0), InputError, "whole number"),
    (lambda h: dl.open(""), ConfigError, "empty"),
    (lambda h: dl.open(h, training={"n_trials": "many"}), ConfigError, "invalid DRIFTLINE_"),
    (lambda h: dl.open(h).train("nobody"), NotFoundError, "'nobody' is not declared"),
    (lambda h: dl.open(h).train("x", group="nope", label="y", task="binary"), ConfigError, "has no contract"),
])
def test_bad_input_is_refused_with_the_projects_errors(home: Path, call, error, message) -> None:
    with pytest.raises(error, match=message) as caught:
        call(home)
    assert isinstance(caught.value, DriftlineError) and caught.value.hint
    for folder in ("store", "registry", "models"):  # refused before anything was written
        assert not (home / folder).exists() or not any((home / folder).iterdir())


def test_a_file_is_not_a_data_home(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        dl.open(tmp_path / "f")


def test_versions_models_and_no_champion_on_a_home_with_data_only(home: Path, demo_source: DemoDrop) -> None:
    dl.open(home).ingest(demo_source.landing / "churn_labels", group="churn_labels")
    h = dl.open(home)
    assert h.versions("churn") == []
    with pytest.raises(NotFoundError, match="has no champion"):
        h.champion("churn")
    with pytest.raises(NotFoundError, match="has no champion to monitor"):
        h.monitor("churn")
    assert h.models() == (DEMO_SPEC,)
    other = ModelSpec(name="billing", task="binary", label_group="churn_labels", label_column="churned",
                      feature_groups=("customer_billing",))
    save_spec(other, home / "models")
    assert h.models() == (other,)


def test_the_score_column_is_the_batchs() -> None:
    assert champion.SCORE == SCORE


def test_a_pandas_frame_that_arrow_cannot_take_is_refused_by_name(home: Path) -> None:
    mixed = pd.DataFrame({"customer_id": ["a", 1], "event_time": ["2026-01-01", "2026-01-02"]})
    with pytest.raises(InputError, match="cannot be converted to Arrow"):
        dl.open(home).ingest(mixed, group=GROUP)
