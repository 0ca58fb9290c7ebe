"""Fixtures of the Python API's tests: the demo's generated drops (small) and an empty data home
whose passphrase comes from the environment; the flow tests share the flow tests' Prefect harness."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.demo_data import DemoDrop, generate_demo
from tests.flows.conftest import prefect_harness  # noqa: F401 - the one session harness, shared
from tests.usecases.candidates import PASSPHRASE


@pytest.fixture(scope="session")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> DemoDrop:
    """40 days of the demo's three groups for 150 customers (no drift), with its planted bad rows."""
    return generate_demo(tmp_path_factory.mktemp("demo-source"), seed=3, customers=150, days=40, shift_day=40)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where a new data home will be (nothing exists yet); the signing key's passphrase from env."""
    monkeypatch.setenv("DRIFTLINE_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("DRIFTLINE_KEY_PASSPHRASE_FILE", raising=False)
    monkeypatch.delenv("DRIFTLINE_HOME", raising=False)
    monkeypatch.delenv("DRIFTLINE_FAULT", raising=False)
    return tmp_path / "home"
