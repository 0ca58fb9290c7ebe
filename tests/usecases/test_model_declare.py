"""Declaring a model is audited: a ``model.declare`` entry with the spec's canonical digest,
checkpointed, written before the spec file is put in place (a kill between the two leaves an
entry and no file; the next run declares again)."""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from flows.cli_runs import _declare
from tasks.workspace import Workspace
from usecases.models import SPEC_FAULT, load_spec

REPO = Path(__file__).resolve().parents[2]


def _args(home: Path, model: str = "lapse") -> argparse.Namespace:
    return argparse.Namespace(home=str(home), model=model, group="churn_labels", label="churned", task=None,
                              features=None, exclude=None, budget=None, trials=None, positive=None)


def _declared(ws: Workspace) -> list[dict]:
    return [dict(e.details) | {"subject": e.subject} for e in ws.audit.entries() if e.action == "model.declare"]


def test_declaring_records_the_spec_digest_and_checkpoints(home: Path) -> None:
    assert _declare(_args(home)) == "lapse"
    ws = Workspace.open()
    spec = load_spec(home / "models" / "lapse.toml")
    (entry,) = _declared(ws)
    assert entry["subject"] == "model:lapse"
    assert entry["spec_sha256"] == hashlib.sha256(spec.canonical()).hexdigest() and entry["spec"] == spec.to_dict()
    assert ws.audit.checkpoints()[-1].size == ws.audit.head()[0]  # the declaration is under a signed checkpoint
    assert _declare(_args(home)) == "lapse" and len(_declared(ws)) == 1  # reading a declared spec records nothing


CHILD = textwrap.dedent("""
    import argparse, sys
    from flows.cli_runs import _declare
    _declare(argparse.Namespace(home=sys.argv[1], model="lapse", group="churn_labels", label="churned",
                                task=None, features=None, exclude=None, budget=None, trials=None, positive=None))
""")


def test_a_kill_before_the_spec_is_in_place_leaves_an_entry_and_no_file(home: Path) -> None:
    env = {**os.environ, "DRIFTLINE_FAULT": SPEC_FAULT, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(home)], env=env, capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()
    assert not (home / "models" / "lapse.toml").exists()
    assert len(_declared(Workspace.open())) == 1
    assert _declare(_args(home)) == "lapse"  # the next run declares again, and records it again
    ws = Workspace.open()
    first, second = _declared(ws)
    assert first["spec_sha256"] == second["spec_sha256"] and (home / "models" / "lapse.toml").is_file()
