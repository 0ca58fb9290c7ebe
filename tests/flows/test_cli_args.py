"""Bad flags answer at once (issue 12, item 13): numeric flags are checked at parse time and
``run FLOW -p NAME=VALUE`` against the flow's signature, each as one line with exit 2, before
Prefect is imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from driftline.errors import InputError
from flows.cli import main
from flows.cli_args import flow_parameters, parse_flow_params

ROOT = Path(__file__).resolve().parents[2]

BAD_FLAGS = [
    (["train", "--trials", "0"], "--trials: expected a whole number of 1 or more, got '0'"),
    (["demo", "--trials", "0"], "--trials: expected a whole number of 1 or more"),
    (["demo", "--customers", "-5"], "--customers: expected a whole number of 1 or more"),
    (["monitor", "--window-days", "0"], "--window-days: expected a whole number of 1 or more, got '0'"),
    (["monitor", "--window-days", "-3"], "--window-days: expected a whole number of 1 or more, got '-3'"),
    (["monitor", "--window-days", "week"], "--window-days: expected a whole number"),
    (["score", "--out", "scores.xlsx"], "--out: expected a file named .csv or .parquet"),
    (["monitor", "--since", "last week"], "--since: expected a date such as 2026-03-01"),
    (["monitor", "--until", "2026-13-01"], "--until: expected a date such as 2026-03-01"),
    (["watch", "--interval", "0"], "--interval: expected a number above 0"),
    (["watch", "--settle", "-1"], "--settle: expected a number of 0 or more"),
    (["serve", "--limit", "0"], "--limit: expected a whole number of 1 or more"),
]
BAD_PARAMS = [
    (["run", "train", "-p", "bogus=1"], "flow 'train' has no parameter 'bogus' (its parameters are model, reason)"),
    (["run", "monitor", "-p", "window_days=abc"], "window_days='abc' is not a whole number"),
    (["run", "monitor", "-p", "window-days"], "is not NAME=VALUE"),
    (["run", "ingest", "-p", "home=/elsewhere"], "the data home is --home"),
    (["run", "search-worker", "-p", "versions=[1]"], "is not a JSON object"),
    (["run", "nosuch"], "unknown flow 'nosuch'"),
]


@pytest.fixture(autouse=True)
def _home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path / "home"))


def _one_line(err: str, needle: str) -> None:
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert needle in err, err


@pytest.mark.parametrize("argv, needle", BAD_FLAGS)
def test_a_bad_numeric_flag_is_one_line_at_parse_time(argv: list[str], needle: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    _one_line(err, needle)
    assert "--help" in err


@pytest.mark.parametrize("argv, needle", BAD_PARAMS)
def test_a_bad_flow_parameter_is_one_line(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    _one_line(capsys.readouterr().err, needle)


def test_bad_arguments_answer_before_prefect_is_imported(tmp_path: Path) -> None:
    cases = [argv for argv, _ in BAD_FLAGS + BAD_PARAMS]
    code = ("import sys\nfrom flows.cli import main\ncodes = []\n"
            f"for argv in {cases!r}:\n"
            "    try:\n        codes.append(main(argv))\n"
            "    except SystemExit as e:\n        codes.append(e.code)\n"
            "bad = [m for m in sys.modules if m == 'prefect' or m.startswith('prefect.')]\n"
            "print('PREFECT' if bad else 'CLEAN', codes)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={"DRIFTLINE_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin",
                                 "PYTHONPATH": str(ROOT), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    assert f"CLEAN {[2] * len(cases)}" in result.stdout, result.stdout + result.stderr[-2000:]


def test_flow_parameters_are_read_from_the_source_and_typed() -> None:
    assert flow_parameters("monitor") == {"model": "str | None", "window_days": "int | None",
                                          "since": "str | None", "until": "str | None",
                                          "source": "Literal['store', 'served']"}
    assert parse_flow_params("monitor", ["source=served"]) == {"source": "served"}
    with pytest.raises(InputError, match="one of store, served"):
        parse_flow_params("monitor", ["source=bogus"])
    assert parse_flow_params("monitor", ["window-days=7", "model=churn"]) == {"window_days": 7, "model": "churn"}
    assert parse_flow_params("monitor", ["window_days=none"]) == {"window_days": None}
    assert parse_flow_params("search-worker", ['versions={"a": 3}', "worker=2"]) == {"versions": {"a": 3}, "worker": 2}
    assert parse_flow_params("ingest", ["paths=a.csv,b.csv"]) == {"paths": ["a.csv", "b.csv"]}
