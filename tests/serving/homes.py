"""A served data home without Prefect, and the real server process around it, for tests/serving.

:func:`make_home` ingests the demo's small drops through the Python API (no flow), fits three small
LightGBM models on the stored latest features (the demo's feature columns, a made-up label: what is
tested is serving, not learning), registers them signed as accepted versions and promotes v1.
:class:`ServerProcess` starts ``python -m flows predict-server`` on a free port, waits for
``/v2/health/ready`` and always stops it (SIGTERM, then SIGKILL if it lingers).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import polars as pl

import driftline_api as dl
from flows.demo_data import DemoDrop
from tasks.workspace import Workspace
from tests.usecases.candidates import gate_report, lineage
from training.model import fit_final
from usecases.promotion import promote_version
from usecases.registration import register_candidate
from usecases.score import entity_keys

REPO = Path(__file__).resolve().parents[2]
GROUPS = ("customer_activity", "customer_billing", "churn_labels")
FEATURE_GROUPS = ("customer_activity", "customer_billing")
PARAMS = {"num_leaves": 7, "learning_rate": 0.2, "min_data_in_leaf": 5, "min_data_in_bin": 1}
THRESHOLD = 0.4


def latest(home: Path) -> pl.DataFrame:
    """Every entity's latest features, as the server's entity lookups and ``score`` read them."""
    from features.latest import latest_features
    from features.snapshot_queries import newest_event_time

    ws = Workspace.open(home)
    snapshots = [ws.store.snapshot(g) for g in FEATURE_GROUPS]
    return latest_features(snapshots, ws.contracts, as_of=newest_event_time(snapshots, ws.contracts))


def sample(home: Path, n: int) -> pl.DataFrame:
    """``n`` entities' latest features with every non-nullable column filled (what a caller sends)."""
    full = latest(home).drop_nulls(subset=["sessions", "minutes_active", "support_tickets", "device", "plan",
                                           "monthly_spend", "payment_failures", "tenure_days", "region"])
    return full.head(n)


def make_home(home: Path, demo: DemoDrop, versions: int = 3) -> Path:
    """Ingested demo data and ``versions`` accepted, signed versions of ``churn``; v1 the champion."""
    h = dl.open(home)
    for group in GROUPS:
        if (demo.landing / group).is_dir():  # labels arrive late: a short demo may have none yet
            h.ingest(demo.landing / group, group=group)
    frame = latest(home)
    ws = Workspace.open(home)
    keys = entity_keys(ws.contracts, FEATURE_GROUPS)
    features = [c for c in frame.columns if c not in keys]
    categorical = [c for c in features if frame[c].dtype == pl.String]
    median = frame["minutes_active"].median()
    train = frame.with_columns((pl.col("minutes_active").fill_null(0) < median).cast(pl.Int64).alias("y"))
    for seed in range(1, versions + 1):
        model = fit_final(train, features=features, categorical=categorical, label="y", task="binary",
                          params={**PARAMS, "num_leaves": 3 + 2 * seed}, num_boost_round=10 + seed, seed=seed,
                          n_threads=1)
        files = {"model.txt": model.model_bytes(), "model_schema.json": model.schema_bytes()}
        record = lineage(str(seed))
        record["metrics"] = {"auc": 0.8, "threshold": THRESHOLD}
        register_candidate(ws, files=files, lineage=record, report=gate_report())
    promote_version(ws, "churn", 1, reason="first")
    return home


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``python -m flows predict-server`` on a free port; a context manager that always stops it."""

    def __init__(self, home: Path, *args: str, env: dict[str, str] | None = None, wait_ready: bool = True) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = args
        self.env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        self.wait_ready = wait_ready
        self.proc: subprocess.Popen[str] | None = None
        self.announced = ""

    def __enter__(self) -> "ServerProcess":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flows", "--home", str(self.home), "predict-server", "--port", str(self.port),
             *self.args], cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if self.wait_ready:
            try:
                self._await_ready()
                assert self.proc is not None and self.proc.stdout is not None
                self.announced = self.proc.stdout.readline()  # printed before it listens
            except BaseException:
                self.stop()  # __exit__ does not run when __enter__ raises: never leave a server behind
                raise
        return self

    def _await_ready(self, limit_s: float = 180.0) -> None:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                stderr = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"the server exited {self.proc.returncode}: {stderr[-2000:]}")
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)  # polling for the start, not timing anything
        raise AssertionError(f"the server was not ready within {limit_s} s")

    def stop(self) -> tuple[int, str, str]:
        """SIGTERM, wait; SIGKILL if it does not stop. Returns (exit code, stdout, stderr)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return self.proc.returncode, out, err

    def __exit__(self, *exc: object) -> None:
        self.stop()
