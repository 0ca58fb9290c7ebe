"""Which folder is a data home (issue 12, items 12 and 13): an empty DRIFTLINE_HOME is refused, a
command that only reads never creates a home, a command that writes never adopts a foreign
folder, and a file or a permission error on the home is one line with exit 2, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from driftline.home import DataHome
from flows.cli import main

ROOT = Path(__file__).resolve().parents[2]
READ_ONLY = [["registry", "list"], ["registry", "show", "churn"], ["registry", "verify", "--all"],
             ["audit", "verify"], ["keys", "list"]]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DRIFTLINE_HOME", raising=False)
    monkeypatch.chdir(tmp_path)


def one_line(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def test_an_empty_driftline_home_is_refused_not_read_as_the_current_folder(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "registry").mkdir()  # like the repository root, with its registry/ package
    (tmp_path / "registry" / "__init__.py").write_text("")
    monkeypatch.setenv("DRIFTLINE_HOME", "")
    assert main(["registry", "list"]) == 2
    one_line(capsys, "DRIFTLINE_HOME is empty; set it to a folder")
    assert main(["keys", "init"]) == 2
    capsys.readouterr()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry"]


def test_an_empty_home_flag_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", "", "keys", "init"]) == 2
    one_line(capsys, "--home is empty")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", READ_ONLY)
def test_a_read_only_command_on_a_mistyped_home_creates_nothing(
        argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    typo = tmp_path / "hoem"
    assert main(["--home", str(typo), *argv]) == 2
    one_line(capsys, f"no data home at {typo}", "--home")
    assert not typo.exists()


@pytest.mark.parametrize("argv", READ_ONLY)
def test_a_folder_that_is_not_a_data_home_is_refused_by_readers(
        argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "repo"
    (repo / "registry").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("")
    assert main(["--home", str(repo), *argv]) == 2
    one_line(capsys, f"{repo} is not a driftline data home")
    assert sorted(p.name for p in repo.iterdir()) == ["pyproject.toml", "registry"]


def test_a_writer_refuses_a_foreign_folder_but_creates_a_new_home(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "repo"
    (repo / "registry").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("")
    assert main(["--home", str(repo), "keys", "init"]) == 2
    one_line(capsys, "is not a driftline data home and is not empty", "pyproject.toml")
    assert sorted(p.name for p in repo.iterdir()) == ["pyproject.toml", "registry"]

    new = tmp_path / "new"
    assert main(["--home", str(new), "keys", "init"]) == 0
    assert DataHome(new).is_data_home() and (new / DataHome.MARKER).is_file()
    capsys.readouterr()
    assert main(["--home", str(new), "keys", "list"]) == 0


def test_a_home_made_before_the_marker_is_still_a_home(tmp_path: Path) -> None:
    old = tmp_path / "old"
    (old / "keys").mkdir(parents=True)
    (old / "audit").mkdir()
    (old / "notes.txt").write_text("an operator's notes")
    assert DataHome(old).require_existing().is_data_home()
    assert main(["--home", str(old), "audit", "verify"]) == 0
    assert (old / DataHome.MARKER).is_file()


def test_a_folder_holding_only_the_contract_infer_wrote_is_adopted_as_a_new_home(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The "your own data" walkthrough: contract infer into a new --home, then ingest into it.
    (tmp_path / "rows.csv").write_text("id,at,x\n1,2024-05-01,3\n2,2024-05-02,4\n")
    home = tmp_path / "home"
    assert main(["--home", str(home), "contract", "infer", str(tmp_path / "rows.csv"), "--group", "g",
                 "--entity", "id", "--time", "at"]) == 0
    assert sorted(p.name for p in home.iterdir()) == ["contracts"]
    assert DataHome(home).ensure().is_data_home()
    assert (home / "contracts" / "g.toml").is_file()


@pytest.mark.parametrize("argv", [["registry", "list"], ["keys", "init"]])
def test_a_home_that_is_a_file_is_one_line(argv: list[str], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "home.txt"
    file.write_text("not a folder")
    assert main(["--home", str(file), *argv]) == 2
    one_line(capsys, f"{file} is a file, not a folder")


def test_a_permission_error_on_the_home_is_one_line_naming_the_path(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Tests run as root here, where chmod denies nothing: the OS's refusal is injected instead.
    home = tmp_path / "home"
    real_mkdir = Path.mkdir

    def denied(self: Path, *args: object, **kwargs: object) -> None:
        if self.is_relative_to(home):
            raise PermissionError(13, "Permission denied", str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", denied)
    assert main(["--home", str(home), "keys", "init"]) == 2
    one_line(capsys, f"cannot write the data home at {home}", "Permission denied")


def test_a_permission_error_anywhere_in_a_command_is_exit_2(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    assert main(["--home", str(home), "keys", "init"]) == 0
    capsys.readouterr()
    from registry.trust import TrustStore

    def denied(self: TrustStore) -> list[str]:
        raise PermissionError(13, "Permission denied", str(home / "keys" / "trusted"))

    monkeypatch.setattr(TrustStore, "key_ids", denied)
    assert main(["--home", str(home), "keys", "list"]) == 2
    one_line(capsys, f"cannot use {home / 'keys' / 'trusted'}: permission denied")


def test_a_kill_while_marking_a_new_home_leaves_a_folder_the_next_run_adopts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code = f"from driftline.home import DataHome; DataHome({str(home)!r}).ensure()"
    env = {**os.environ, "DRIFTLINE_FAULT": "home.marker", "PYTHONPATH": str(ROOT)}
    killed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60)
    assert killed.returncode == -9, killed.stderr
    assert home.is_dir() and not (home / DataHome.MARKER).exists()
    assert DataHome(home).ensure().is_data_home()


@pytest.mark.parametrize("argv", READ_ONLY)
def test_home_after_the_command_is_used_and_beats_one_before(
        argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before, after = tmp_path / "before", tmp_path / "after"
    assert main([*argv, "--home", str(after)]) == 2
    one_line(capsys, f"no data home at {after}")
    assert main(["--home", str(before), *argv, "--home", str(after)]) == 2
    one_line(capsys, f"no data home at {after}")
    assert not before.exists() and not after.exists()
    assert "DRIFTLINE_HOME" not in os.environ  # passed down to the command, not through the environment
