"""The API imports no Prefect until ``train`` is called: a notebook that ingests, lists, predicts
and monitors never starts Prefect's server (nor pays its import). Checked in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from flows.demo_data import DemoDrop

REPO = Path(__file__).resolve().parents[2]
CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    import polars as pl
    import driftline_api as dl
    from driftline.errors import DriftlineError

    home, landing = dl.open(sys.argv[1]), Path(sys.argv[2])
    frame = pl.read_parquet(next((landing / "customer_billing").glob("*.parquet")))
    home.ingest(frame, group="customer_billing", strict=False)
    home.ingest(landing / "churn_labels", group="churn_labels")
    assert home.versions("churn") == [] and home.models()
    for call in (lambda: home.champion("churn"), lambda: home.monitor("churn"),
                 lambda: home.train("nobody")):
        try:
            call()
        except DriftlineError:
            pass
    bad = sorted(m for m in sys.modules if m == "prefect" or m.startswith("prefect."))
    print("PREFECT" if bad else "CLEAN")
""")


def test_ingest_list_predict_and_monitor_import_no_prefect(tmp_path: Path, demo_source: DemoDrop, home: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run([sys.executable, "-c", CHILD, str(home), str(demo_source.landing)], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "CLEAN", child.stdout + child.stderr


def test_only_the_training_module_names_prefect() -> None:
    import ast

    offenders = []
    for path in sorted((REPO / "driftline_api").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [path.name for n in names if n.split(".")[0] in ("prefect", "flows")]
    assert sorted(set(offenders)) == ["training.py"]
