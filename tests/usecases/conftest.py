"""Fixtures of the use-case tests: a data home whose settings and passphrase come from the env, and
the small worlds in ``tests/usecases/small.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.store import FeatureStore
from tasks.workspace import Workspace
from tests.usecases.candidates import FILES, PASSPHRASE, gate_report, lineage
from tests.usecases.small import tiny_fit
from training.model import TrainedModel
from usecases.promotion import promote_version
from usecases.registration import register_candidate


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data home; the settings (and child processes) read it and the passphrase from env."""
    home = tmp_path / "home"
    monkeypatch.setenv("DRIFTLINE_HOME", str(home))
    monkeypatch.setenv("DRIFTLINE_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("DRIFTLINE_KEY_PASSPHRASE_FILE", raising=False)
    monkeypatch.delenv("DRIFTLINE_FAULT", raising=False)
    # An export's PDF runs a browser for seconds: only the tests of the PDF itself turn it on.
    monkeypatch.setenv("DRIFTLINE_REPORT_PDF", "false")
    return home


@pytest.fixture
def ws(home: Path) -> Workspace:
    """Two accepted versions of ``churn``, v1 the champion, all signed by the first key."""
    ws = Workspace.open()
    for seed in ("1", "2"):
        register_candidate(ws, files={**FILES, "model.txt": seed.encode()}, lineage=lineage(seed),
                           report=gate_report())
    promote_version(ws, "churn", 1, reason="first")
    return ws


@pytest.fixture(scope="session")
def tiny_model() -> TrainedModel:
    return tiny_fit()


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    return FeatureStore(tmp_path / "store")
