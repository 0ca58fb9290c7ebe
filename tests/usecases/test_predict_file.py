"""``predict``: a file of rows scored as it is, checked against the model's schema, written whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from driftline.errors import InputError
from tests.usecases.small import tiny_fit
from usecases.predict_file import predict_file

REPO = Path(__file__).resolve().parents[2]
CSV = "customer_id,sessions,note\nc1,3,a\nc2, 9 ,b\nc3,,c\n"


def _run(tiny_model, tmp_path: Path, text: str, out: str = "out.csv", name: str = "in.csv", **kw):
    source = tmp_path / name
    source.write_text(text)
    return predict_file(tiny_model, source, tmp_path / out, name="churn", version=3, **kw)


def test_a_csv_is_scored_as_it_is_with_the_score_and_the_decision_appended(tmp_path, tiny_model) -> None:
    result = _run(tiny_model, tmp_path, CSV, threshold=0.5)
    written = pl.read_csv(result.out)
    assert written.columns == ["customer_id", "sessions", "note", "score", "decision"]
    assert written["customer_id"].to_list() == ["c1", "c2", "c3"] and written["note"].to_list() == ["a", "b", "c"]
    expected = tiny_model.predict(pl.DataFrame({"sessions": [3.0, 9.0, None]}))
    assert np.allclose(written["score"].to_numpy(), expected)  # the null is LightGBM's missing value
    assert written["decision"].to_list() == [int(p >= 0.5) for p in expected]
    assert (result.rows, result.added) == (3, ("score", "decision"))


def test_jsonl_in_parquet_out(tmp_path, tiny_model) -> None:
    rows = '{"customer_id": "c1", "sessions": 2}\n{"customer_id": "c2", "sessions": 11}\n'
    result = _run(tiny_model, tmp_path, rows, out="out.parquet", name="in.jsonl")
    written = pl.read_parquet(result.out)
    assert written.columns == ["customer_id", "sessions", "score"] and written.height == 2


@pytest.mark.parametrize(("text", "out", "message"), [
    ("customer_id,visits\nc1,3\n", "out.csv", "the input lacks column 'sessions' that churn v3 was trained on"),
    ("customer_id,sessions\nc1,3\nc2,3\nc3,lots\n", "out.csv", "column 'sessions' row 3: 'lots' is not a number"),
    ("customer_id,sessions,score\nc1,3,0.1\n", "out.csv", "already has column 'score'"),
    ("customer_id,sessions\n", "out.csv", "holds no rows"),
    (CSV, "out.txt", "unknown output type .txt"),
])
def test_bad_input_is_one_line_naming_the_column_and_nothing_is_written(tmp_path, tiny_model, text, out,
                                                                        message) -> None:
    with pytest.raises(InputError, match=message) as raised:
        _run(tiny_model, tmp_path, text, out=out)
    assert "\n" not in raised.value.message and raised.value.hint
    assert not (tmp_path / out).exists()


CHILD = """
import sys
from pathlib import Path
from tests.usecases.small import tiny_fit
from usecases.predict_file import predict_file

root = Path(sys.argv[1])
predict_file(tiny_fit(), root / "in.csv", root / "out.csv", name="churn", version=3)
"""


@pytest.mark.parametrize("point", ["predict.staged", "predict.replaced"])
def test_a_killed_predict_leaves_the_old_output_or_the_whole_new_one(tmp_path, point) -> None:
    (tmp_path / "in.csv").write_text(CSV)
    (tmp_path / "out.csv").write_text("old\n")
    env = {**os.environ, "DRIFTLINE_FAULT": point,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    text = (tmp_path / "out.csv").read_text()
    assert text == "old\n" if point == "predict.staged" else pl.read_csv(tmp_path / "out.csv").height == 3
    again = predict_file(tiny_fit(), tmp_path / "in.csv", tmp_path / "out.csv", name="churn", version=3)
    assert pl.read_csv(again.out).height == 3


def _champion_home(tmp_path: Path) -> None:
    """The data home (env, `home` fixture) with the tiny model registered and promoted, signed."""
    from tasks.workspace import Workspace
    from tests.usecases.candidates import gate_report, lineage
    from usecases.promotion import promote_version
    from usecases.registration import register_candidate

    saved = tiny_fit().save(tmp_path / "model")
    ws = Workspace.open()
    register_candidate(ws, files={p.name: p.read_bytes() for p in saved}, lineage=lineage("p"),
                       report=gate_report())
    promote_version(ws, "churn", 1, reason="test")


def test_the_predict_command_scores_with_the_verified_champion_and_refuses_a_tampered_one(
        home, tmp_path, capsys) -> None:
    from flows.cli import main

    _champion_home(tmp_path)
    (tmp_path / "in.csv").write_text(CSV)
    assert main(["predict", "--model", "churn", "--input", str(tmp_path / "in.csv"),
                 "--out", str(tmp_path / "out.parquet")]) == 0
    assert "churn v1 scored 3 rows" in capsys.readouterr().out
    assert pl.read_parquet(tmp_path / "out.parquet")["score"].len() == 3

    model = home / "registry" / "churn" / "1" / "model.txt"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 1  # flip one bit of the signed model
    model.write_bytes(bytes(data))
    assert main(["predict", "--input", str(tmp_path / "in.csv"), "--out", str(tmp_path / "again.csv")]) == 3
    assert not (tmp_path / "again.csv").exists()
    assert main(["predict", "--input", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "x.csv")]) == 2
