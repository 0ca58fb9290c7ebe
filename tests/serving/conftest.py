"""Fixtures of the serving tests: one served data home per session (no Prefect), and its server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.demo_data import DemoDrop, generate_demo
from tests.serving.homes import ServerProcess, make_home
from tests.usecases.candidates import PASSPHRASE


@pytest.fixture(scope="session")
def serving_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The passphrase and witness folder every home and server of the session uses (inherited)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("DRIFTLINE_KEY_PASSPHRASE", PASSPHRASE)
    mp.setenv("DRIFTLINE_WITNESS_DIR", str(tmp_path_factory.mktemp("witness")))
    for name in ("DRIFTLINE_HOME", "DRIFTLINE_KEY_PASSPHRASE_FILE", "DRIFTLINE_FAULT", "DRIFTLINE_SERVE_TOKEN"):
        mp.delenv(name, raising=False)
    yield
    mp.undo()


@pytest.fixture(scope="session")
def demo_drop(tmp_path_factory: pytest.TempPathFactory) -> DemoDrop:
    return generate_demo(tmp_path_factory.mktemp("serve-demo"), seed=5, customers=120, days=20, shift_day=20)


@pytest.fixture(scope="session")
def served_home(tmp_path_factory: pytest.TempPathFactory, demo_drop: DemoDrop, serving_env: None) -> Path:
    """A home whose champion (v1) the read-only tests serve; nothing may move its aliases."""
    return make_home(tmp_path_factory.mktemp("served") / "home", demo_drop)


@pytest.fixture(scope="session")
def server(served_home: Path) -> Iterator[ServerProcess]:
    """The real server process over :func:`served_home`, for every read-only test of the session."""
    with ServerProcess(served_home, "--max-body-bytes", "200000", "--max-batch-rows", "1000") as process:
        yield process
