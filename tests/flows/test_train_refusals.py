"""Item 8 end to end: a train run on data no model can learn from ends in one line naming the
column and the fix, and nothing is half-written: no study, no version, no model.train entry.

The data is a flat table whose contract names no label, so the run also exercises the spec's
label column (item 3): the label comes from models/acct.toml, not from the contract.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from driftline.errors import InputError
from features.contract_toml import contract_toml
from features.contracts import ColumnSpec, FeatureGroupContract
from usecases.models import ModelSpec, save_spec

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
ACCOUNTS = FeatureGroupContract(
    "accounts", 1, ("account_id",), "event_time",
    (ColumnSpec("account_id", "string", nullable=False), ColumnSpec("event_time", "timestamp", nullable=False),
     ColumnSpec("spend", "float64"), ColumnSpec("tier", "string")))


def _home(tmp_path: Path) -> tuple[Path, Path]:
    from tasks.workspace import Workspace

    home = tmp_path / "home"
    Workspace.open(home).home  # noqa: B018 - a data home first, then its contracts
    (home / "contracts").mkdir(parents=True)
    (home / "contracts" / "accounts.toml").write_text(contract_toml(ACCOUNTS))
    drop = tmp_path / "accounts.parquet"
    pl.DataFrame({"account_id": [f"a{i}" for i in range(60)],
                  "event_time": [T0 + timedelta(days=i % 10) for i in range(60)],
                  "spend": [float(i) for i in range(60)],
                  "tier": ["gold", "silver", "bronze"] * 20}).write_parquet(drop)
    return home, drop


def test_a_non_numeric_regression_label_is_refused_before_anything_is_written(tmp_path: Path,
                                                                             prefect_harness) -> None:
    from flows.local import run_local
    from tasks.workspace import Workspace

    home, drop = _home(tmp_path)
    run_local("ingest", home=str(home), paths=[str(drop)], group="accounts")
    save_spec(ModelSpec(name="acct", task="regression", label_group="accounts", label_column="tier",
                        feature_groups=("accounts",), trials=2), home / "models")
    ws = Workspace.open(home)
    before = [e.action for e in ws.audit.entries()]
    with pytest.raises(InputError) as raised:
        run_local("train", home=str(home), model="acct")
    error = raised.value
    assert error.message == ("model 'acct': regression label 'tier' of group 'accounts' is String, not a number "
                             "(e.g. 'gold')")
    assert error.hint and "acct.toml" in error.hint
    assert not any(ws.home.studies.iterdir())  # no study opened
    assert not (ws.home.registry / "acct").exists()  # no version registered
    after = [e.action for e in ws.audit.entries()][len(before):]
    assert "model.train" not in after and "model.register" not in after
