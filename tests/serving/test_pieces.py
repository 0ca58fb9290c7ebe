"""The server's small pieces alone, no process: ``--model`` references, the watcher (a failing
callback does not end the watch; a path that appears or is replaced is a change), the MLflow
content-type rules and the OIP request reader's refusals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from driftline.errors import InputError
from serving import mlflow_api, oip
from serving.models import ModelRef
from serving.scoring import RequestRefused, request_frame
from serving.watch import Watched, Watcher


@pytest.mark.parametrize(("text", "ref"), [("churn", ModelRef("churn", "champion")),
                                           ("churn@challenger", ModelRef("churn", "challenger")),
                                           ("churn@3", ModelRef("churn", 3))])
def test_model_references(text: str, ref: ModelRef) -> None:
    assert ModelRef.parse(text) == ref and ModelRef.parse(text).pinned == isinstance(ref.ref, int)


@pytest.mark.parametrize("text", ["", "@3", "churn@"])
def test_malformed_model_references_are_input_errors(text: str) -> None:
    with pytest.raises(InputError, match="is not NAME, NAME@ALIAS or NAME@VERSION"):
        ModelRef.parse(text)


def test_the_watcher_reports_each_change_once_and_outlives_a_failing_callback(tmp_path: Path) -> None:
    calls: list[str] = []
    lines: list[str] = []

    def boom() -> None:
        calls.append("boom")
        raise RuntimeError("disk gone")

    a, b = tmp_path / "a.json", tmp_path / "b" / "_delta_log"
    watcher = Watcher([Watched(a, boom), Watched(b, lambda: calls.append("b"))], report=lines.append)
    assert watcher.poll() == 0
    a.write_text("1")  # appears
    b.mkdir(parents=True)
    assert watcher.poll() == 2 and calls == ["boom", "b"] and "disk gone" in lines[0]
    assert watcher.poll() == 0  # nothing changed since
    staged = tmp_path / "a.tmp"
    staged.write_text("1")
    os.replace(staged, a)  # an atomic replace with equal bytes is a new file: a change
    assert watcher.poll() == 1 and calls == ["boom", "b", "boom"]


@pytest.mark.parametrize(("header", "status"), [("text/plain", 415), ("application/json; charset=latin-1", 415),
                                                ("application/json; format=pandas-split", 415), (None, 415)])
def test_mlflow_content_types_refused(header: str | None, status: int) -> None:
    with pytest.raises(RequestRefused) as raised:
        mlflow_api.content_type(header)
    assert raised.value.status == status


def test_mlflow_content_types_taken() -> None:
    assert mlflow_api.content_type("application/json; charset=UTF-8") == "application/json"
    assert mlflow_api.content_type("text/csv") == "text/csv"


@pytest.mark.parametrize(("body", "words"), [
    ({"inputs": [{"name": "a", "data": [1]}, {"name": "a", "data": [2]}]}, "given twice"),
    ({"inputs": [{"name": "a", "data": [1]}], "outputs": "score"}, "must be a list"),
    ({"inputs": [{"name": "a", "data": [1], "parameters": {"content_type": "str"}}]}, "'str' is not served"),
    ({"parameters": [], "inputs": [{"name": "a", "data": [1]}]}, "parameters must be an object"),
])
def test_oip_requests_refused_by_the_reader(body: dict, words: str) -> None:
    with pytest.raises(InputError, match=words):
        oip.infer_columns(body)


def test_request_frames_unequal_empty_or_too_many_rows() -> None:
    with pytest.raises(InputError, match="different numbers of rows"):
        request_frame({"a": [1, 2], "b": [1]}, max_rows=10)
    with pytest.raises(InputError, match="no rows"):
        request_frame({"a": []}, max_rows=10)
    with pytest.raises(RequestRefused, match="over this server's limit of 2") as raised:
        request_frame({"a": [1, 2, 3]}, max_rows=2)
    assert raised.value.status == 413
    mixed = request_frame({"a": [1, "x", None]}, max_rows=10)
    assert mixed["a"].to_list() == ["1", "x", None]  # mixed JSON types become text for the type check


def test_the_token_comes_from_the_file_or_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.cli_serving import _token

    monkeypatch.delenv("DRIFTLINE_SERVE_TOKEN", raising=False)
    assert _token(None) is None
    monkeypatch.setenv("DRIFTLINE_SERVE_TOKEN", "from-env")
    assert _token(None) == "from-env"
    (tmp_path / "t").write_text(" from-file \n")
    assert _token(str(tmp_path / "t")) == "from-file"  # the file wins over the environment
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(InputError, match="is empty"):
        _token(str(tmp_path / "empty"))
