"""``python -m flows contract infer``: one line and exit 2 per user error, --force, a kill at the write."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from features.contracts import load_contract

ROOT = Path(__file__).resolve().parents[2]
CSV = "id,at,amount,email\n" + "".join(f"{i},2024-01-0{i}T00:00:00Z,\"${i},000.5\",u{i}@x.org\n" for i in range(1, 9))


def _run(tmp_path: Path, *args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT),
           "DRIFTLINE_HOME": str(tmp_path / "home")}
    if fault:
        env["DRIFTLINE_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "flows", "contract", "infer", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    (tmp_path / "d.csv").write_text(CSV, encoding="utf-8")
    return tmp_path / "d.csv"


def test_infer_writes_a_loadable_contract_and_never_overwrites_without_force(tmp_path: Path, data: Path) -> None:
    first = _run(tmp_path, str(data), "--group", "g", "--entity", "id", "--time", "at")
    assert first.returncode == 0, first.stderr
    target = tmp_path / "home" / "contracts" / "g.toml"
    assert load_contract(target).column("amount").parse == "currency"
    assert "PII suspects" in first.stdout and "email" in first.stdout and "parse: amount" in first.stdout
    target.write_text(target.read_text() + "# my review\n")
    again = _run(tmp_path, str(data), "--group", "g", "--entity", "id", "--time", "at")
    assert again.returncode == 2 and "--force" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    assert target.read_text().endswith("# my review\n")
    forced = _run(tmp_path, str(data), "--group", "g", "--entity", "id", "--time", "at", "--force")
    assert forced.returncode == 0 and not target.read_text().endswith("# my review\n")


@pytest.mark.parametrize(("args", "words"), [
    (["--entity", "id"], "point-in-time"),
    (["--entity", "nope", "--time", "at"], "nope not in the data"),
    (["--entity", "id", "--time", "at", "--label", "gone"], "gone not in the data"),
    (["--entity", "id", "--time", "amount"], "does not read as a timestamp"),
    (["--entity", "id", "--time", "at", "--task", "binary"], "--task without --label"),
])
def test_user_errors_are_one_line_and_exit_2(tmp_path: Path, data: Path, args: list[str], words: str) -> None:
    result = _run(tmp_path, str(data), "--group", "g", *args)
    assert result.returncode == 2 and words in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_an_unreadable_file_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "x.csv.gz").write_bytes(b"not gzip at all")
    result = _run(tmp_path, str(tmp_path / "x.csv.gz"), "--group", "g", "--entity", "id", "--time", "at")
    assert result.returncode == 2 and "gzip" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_help_has_an_example(tmp_path: Path) -> None:
    result = _run(tmp_path, "--help")
    assert result.returncode == 0 and "examples:" in result.stdout and "@row" in result.stdout


@pytest.mark.parametrize("point", ["contract_infer.before_write", "contract_infer.written"])
def test_a_kill_at_the_write_leaves_no_torn_contract_and_a_rerun_works(tmp_path: Path, data: Path, point: str) -> None:
    killed = _run(tmp_path, str(data), "--group", "g", "--entity", "id", "--time", "at", fault=point)
    assert killed.returncode == -9
    target = tmp_path / "home" / "contracts" / "g.toml"
    if point == "contract_infer.written":
        assert load_contract(target).name == "g"  # whole, so the rerun is refused without --force
        assert _run(tmp_path, str(data), "--group", "g", "--entity", "id", "--time", "at").returncode == 2
    else:
        assert not target.exists()
        assert _run(tmp_path, str(data), "--group", "g", "--entity", "id", "--time", "at").returncode == 0
        assert load_contract(target).name == "g"
    assert [p.name for p in target.parent.iterdir()] == ["g.toml"]  # no temporary file left behind
