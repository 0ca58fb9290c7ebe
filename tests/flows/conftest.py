"""Flow tests share one Prefect test harness (a temporary server, ~10 s) for the whole session,
and one demo run on small data, which the CLI and tamper tests then inspect and attack."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def prefect_harness():
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from prefect.testing.utilities import prefect_test_harness

    from flows.local import without_heartbeats

    # Like local mode (flows.local.local_settings), whose temporary server this harness stands in
    # for: no flow-run heartbeats, which would hold every flow run up to a second at its end.
    with prefect_test_harness(server_startup_timeout=120), without_heartbeats():
        yield


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory, prefect_harness):
    """A data home after one whole demo loop (small: 400 customers, 6 trials per search)."""
    home = tmp_path_factory.mktemp("demo") / "home"
    from flows.demo import run_demo

    # ~360 holdout rows with 5% positives: too few for the default 0.05 ECE bound to be stable.
    # Passed down as the CLI passes its flags: every flow of the demo, dispatched ones too, gets them.
    return run_demo(customers=400, seed=11, home=home, overrides={
        "training": {"n_trials": 6}, "gate": {"max_ece": 0.1, "slice_columns": ["plan"]}})
