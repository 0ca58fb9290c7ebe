"""The dependency rules of the layout, enforced.

The pure packages (features, monitoring, training, registry, governance, serving, and the driftline
foundation) never import Prefect, so they run and test without a server; and the CLI commands
that run no flow answer without importing Prefect at all.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE = ("driftline", "features", "monitoring", "training", "registry", "governance", "usecases", "serving")


def _modules(package: str) -> list[str]:
    return [".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            for p in sorted((ROOT / package).rglob("*.py"))]


@pytest.mark.parametrize("package", PURE)
def test_pure_package_source_never_mentions_prefect_imports(package: str) -> None:
    offenders = []
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] == "prefect"]
    assert offenders == []


def test_importing_every_pure_module_loads_no_prefect() -> None:
    modules = [m for pkg in PURE for m in _modules(pkg)]
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "bad = sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.'))\n"
            "print(len(bad)); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_demo_data_generator_loads_no_prefect() -> None:
    # It lives in flows/ beside the demo, but tests and benchmarks load it without a flow runtime.
    code = ("import sys\nimport flows.demo_data\n"
            "print(sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


@pytest.mark.parametrize("argv", [["--help"], ["registry", "list"], ["audit", "verify"], ["keys", "list"],
                                  ["contract", "infer", "missing.csv", "--group", "g", "--entity", "id",
                                   "--time", "t"],
                                  ["predict", "--input", "missing.csv", "--out", "x.csv"],
                                  ["predict-server", "--port", "0"]])
def test_commands_that_run_no_flow_import_no_prefect(argv: list[str], tmp_path: Path) -> None:
    code = ("import sys\nfrom flows.cli import main\n"
            f"rc = 0\ntry:\n    rc = main({argv!r})\nexcept SystemExit as e:\n    rc = e.code\n"
            "bad = [m for m in sys.modules if m == 'prefect' or m.startswith('prefect.')]\n"
            "print('PREFECT' if bad else 'CLEAN', rc)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"DRIFTLINE_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"})
    assert "CLEAN" in result.stdout, result.stdout + result.stderr


def test_loading_the_training_flows_imports_no_machine_learning_library() -> None:
    # A flow-run process loads the flow's module before the run is RUNNING (and before a duplicate
    # retrain event is skipped): LightGBM, Optuna and scikit-learn (~1.5 s) wait for the steps.
    code = ("import sys\nimport flows.train\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'lightgbm', 'optuna', 'sklearn', 'scipy'}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_no_cli_module_writes_the_audit_trail() -> None:
    """CLI handlers parse, call one use case and print: audit entries and checkpoints are written
    in ``usecases/`` (and the flows' tasks), never by a command handler."""
    offenders = []
    for path in sorted((ROOT / "flows").glob("cli*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            receiver = ast.unparse(node.func.value)
            if (node.func.attr in ("checkpoint", "repair_torn_tail")
                    or node.func.attr == "append" and "audit" in receiver):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)[:60]}")
    assert offenders == []
