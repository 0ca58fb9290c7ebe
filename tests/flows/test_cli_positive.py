"""``train --model NAME --group G --label COL --positive VALUE`` on a label of two strings, through the
real command (issue 14's follow-up): the spec and the version's signed schema record the positive
class, and ``predict`` names it (``predicted_class``) where the score is high. A ``--positive`` the
label's contract rules out is refused in one line naming the values, exit 2, before any flow
starts and before the spec is written (a saved spec would hold the bad value for every later run).

Each train starts Prefect's temporary server (seconds); the data is 240 rows, two trials."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.flow
# a small table and a small holdout: the gate's floors are not what this test is about
GATE = {"DRIFTLINE_GATE__MIN_TRAINING_ROWS": "50", "DRIFTLINE_GATE__MAX_ECE": "1", "DRIFTLINE_GATE__MIN_AUC": "0",
        "DRIFTLINE_GATE__MAX_LOGLOSS": "10"}


def cli(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIFTLINE_", "PREFECT_LOGGING"))}
    env |= GATE | {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "flows", "--home", str(home), *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env=env)


def table(path: Path) -> Path:
    """240 accounts over 24 days; ``churned`` is "left" where ``failures`` is high (a rule a model learns),
    else "stayed": two strings (yes/no would be read as a bool column)."""
    lines = ["account_id,day,failures,tenure,churned"]
    for i in range(240):
        failures = (i * 7) % 10
        lines.append(f"a{i:03d},2026-01-{1 + i % 24:02d}T00:00:00Z,{failures},{(i * 13) % 50},"
                     f"{'left' if failures >= 5 else 'stayed'}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_train_with_positive_on_a_yes_no_label_then_predict_names_it(tmp_path: Path) -> None:
    home, data = tmp_path / "home", table(tmp_path / "accounts.csv")
    infer = cli(home, "contract", "infer", str(data), "--group", "accounts", "--entity", "account_id",
                "--time", "day", "--label", "churned")
    assert infer.returncode == 0, infer.stdout + infer.stderr
    assert cli(home, "ingest", str(data), "--group", "accounts").returncode == 0

    # A positive the label's values rule out: one line naming both, before any flow, no spec written.
    bad = cli(home, "train", "--model", "churn2", "--group", "accounts", "--label", "churned",
              "--positive", "maybe", "--trials", "2")
    one_line_error(bad, "'maybe'", "'left', 'stayed'", "--positive")
    assert "prefect" not in (bad.stdout + bad.stderr).lower()  # refused before Prefect started
    assert not (home / "models" / "churn2.toml").exists()

    # Without the flag the positive would be "stayed" (the second in sorted order): "left" proves it obeyed.
    trained = cli(home, "train", "--model", "churn2", "--group", "accounts", "--label", "churned",
                  "--positive", "left", "--exclude", "account_id", "--trials", "2")
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert "churn2 v1: accepted and promoted to champion" in trained.stdout, trained.stdout
    assert "class 1 (positive): 'left'" in trained.stdout
    spec = tomllib.loads((home / "models" / "churn2.toml").read_text(encoding="utf-8"))
    assert spec["positive"] == "left"
    schema = json.loads((home / "registry" / "churn2" / "1" / "model_schema.json").read_text(encoding="utf-8"))
    assert (schema["task"], schema["classes"]) == ("binary", ["stayed", "left"])  # (negative, positive)

    out = tmp_path / "scored.csv"
    predicted = cli(home, "predict", "--model", "churn2", "--input", str(data), "--out", str(out))
    assert predicted.returncode == 0, predicted.stdout + predicted.stderr
    assert "(added score, decision, predicted_class)" in predicted.stdout
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 240
    for r in rows:  # the score is P("left"): "left" where it is high, and the model has learnt the rule
        assert r["predicted_class"] == ("left" if r["decision"] == "1" else "stayed")
    high = sorted(rows, key=lambda r: float(r["score"]))[-60:]  # the quarter scored highest
    assert all(r["predicted_class"] == "left" == r["churned"] for r in high)
    assert sum(r["predicted_class"] == r["churned"] for r in rows) >= 0.9 * len(rows)
