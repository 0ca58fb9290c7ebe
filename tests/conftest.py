"""Session-wide test settings, applied before any test module imports LightGBM.

OpenMP threads sleep rather than spin while waiting (as the CLI and the pool's workers set it):
the suite runs on 2 shared cores, where spinning threads stalled LightGBM fits many times over.
For the same reason Hypothesis has no per-example deadline here: timing on a shared machine is
not what the property tests test, and a slow example must not fail the suite.
"""

import os

import pytest
from hypothesis import settings

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Child processes that start Prefect's temporary server (CLI tests, kill tests) wait for it as the
# CLI does: on a loaded machine it takes longer than Prefect's default 20 s.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
settings.register_profile("driftline", deadline=None, print_blob=True)
settings.load_profile("driftline")


@pytest.fixture(autouse=True, scope="session")
def _session_witness_dir(tmp_path_factory):
    """No test, nor a session fixture's subprocess, writes a witness to the real ~/.local/state."""
    saved = os.environ.get("DRIFTLINE_WITNESS_DIR")
    os.environ["DRIFTLINE_WITNESS_DIR"] = str(tmp_path_factory.mktemp("witness"))
    yield
    if saved is None:
        os.environ.pop("DRIFTLINE_WITNESS_DIR", None)
    else:
        os.environ["DRIFTLINE_WITNESS_DIR"] = saved


@pytest.fixture(autouse=True)
def _witness_dir(tmp_path, monkeypatch):
    """Each test its own witness folder (under its tmp_path, outside any data home it builds there)."""
    monkeypatch.setenv("DRIFTLINE_WITNESS_DIR", str(tmp_path / "witness-state"))
