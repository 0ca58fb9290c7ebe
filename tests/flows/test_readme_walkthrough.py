"""The README's "Your own data" walkthrough, run exactly as written (issue 14, "Proven by").

The fenced block after the ``<!-- walkthrough -->`` marker is run by ``bash -euo pipefail`` in an
empty folder: a real public table (the Palmer penguins, inside the ``palmerpenguins`` wheel)
goes through contract infer, ingest, train (binary, then regression), score, monitor and predict.
The commands get this checkout's code (``PYTHONPATH``), the interpreter running the tests as
``python``, and a witness folder outside the data home; nothing else of the caller's
``DRIFTLINE_*`` settings leaks in. About 90 s on 2 shared cores.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- walkthrough -->"
pytestmark = pytest.mark.flow


def walkthrough() -> str:
    """The shell block right after the marker in README.md."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(re.escape(MARKER) + r"\s*```sh\n(.*?)\n```", text, re.DOTALL)
    assert found, f"README.md has no ```sh block after {MARKER}"
    return found.group(1)


def test_the_block_is_the_one_the_readme_section_shows() -> None:
    script = walkthrough()
    for step in ("contract infer", "ingest", "train --model sex", "train --model body_mass", "score",
                 "monitor", "predict"):
        assert f"python -m flows --home home {step}" in script, step


def test_the_walkthrough_runs_as_written(tmp_path: Path) -> None:
    pytest.importorskip("palmerpenguins", reason="the walkthrough's table ships in palmerpenguins (test extra)")
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIFTLINE_", "PREFECT_LOGGING"))}
    env |= {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            "DRIFTLINE_WITNESS_DIR": str(tmp_path / "witness")}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", walkthrough()], cwd=work, env=env,
                          capture_output=True, text=True, timeout=900)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "Traceback" not in done.stderr

    home = work / "home"
    assert "wrote home/contracts/penguins.toml" in out and (home / "contracts" / "penguins.toml").is_file()
    assert "task: binary (the label 'sex' has two values: FEMALE, MALE)" in out
    assert "class 1 (positive) is 'MALE'" in out
    assert "penguins: 1 file(s), 344 rows stored, 0 quarantined" in out
    # Both models declared, registered and judged by the gate (promoted, or rejected with reasons).
    for model in ("sex", "body_mass"):
        assert (home / "models" / f"{model}.toml").is_file()
        verdict = re.search(rf"^{model} v1: (accepted and promoted to champion|rejected);", out, re.MULTILINE)
        assert verdict, out
        assert (home / "registry" / model / "1" / "model.sig").is_file()
    assert re.search(r"^sex v1: accepted and promoted to champion; holdout AUC 0\.9\d+", out, re.MULTILINE), out
    assert "class 1 (positive): 'MALE'" in out

    with open(work / "sex-scores.csv", newline="") as f:
        scores = list(csv.DictReader(f))
    assert len(scores) == 344 and {r["model"] for r in scores} == {"sex"}
    assert all(0.0 <= float(r["score"]) <= 1.0 and r["decision"] in ("0", "1") for r in scores)
    # the decision in the label's terms too: MALE where it is 1 (the positive), FEMALE where 0
    assert all(r["predicted_class"] == ("MALE" if r["decision"] == "1" else "FEMALE") for r in scores)

    verdict = re.search(r"^sex v1 over \S+: (no drift|DRIFT\w*)", out, re.MULTILINE)
    assert verdict, out
    assert re.search(r"performance: AUC \d\.\d+ on \d+ labelled scores", out), out

    with open(work / "body-mass.csv", newline="") as f:
        predicted = list(csv.DictReader(f))
    assert len(predicted) == 344 and all(float(r["prediction"]) > 0 for r in predicted)
    assert "body_mass v1 scored 344 rows of penguins.csv into body-mass.csv" in out
