"""optuna-dashboard opens driftline's study storage as it is: the journal file a local search
writes (``optuna-dashboard <studies_dir>/<study>.journal``) and the RDB URL of pool mode
(``optuna-dashboard sqlite:///...`` or a PostgreSQL URL). Each test runs a real search, hands the
*path or URL* (not driftline's storage object) to the dashboard's WSGI app, as its command line
does, and reads the study and its trials back through the dashboard's JSON API."""

from __future__ import annotations

import dataclasses
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from training import SearchConfig, run_search
from training.study_storage import journal_path

optuna_dashboard = pytest.importorskip("optuna_dashboard")


def _get(app: Any, path: str) -> tuple[str, Any]:
    """One GET through the WSGI app; returns (status line, decoded JSON body)."""
    seen: dict[str, str] = {}

    def start_response(status: str, headers: list, exc_info: Any = None) -> None:
        seen["status"] = status

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "test",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
               "wsgi.input": io.BytesIO(), "wsgi.errors": io.StringIO(), "wsgi.version": (1, 0),
               "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False}
    body = b"".join(app(environ, start_response))
    return seen["status"], json.loads(body)


def _search(config: SearchConfig, frame, search_args) -> Any:
    return run_search(frame, config=config, **search_args)


def _assert_dashboard_lists(app: Any, result) -> None:
    status, listing = _get(app, "/api/studies")
    assert status.startswith("200"), listing
    studies = {s["study_name"]: s for s in listing["study_summaries"]}
    assert result.study_name in studies
    summary = studies[result.study_name]
    assert summary["directions"] == [result.direction]
    # driftline's study attributes (metric, task) come through as the dashboard shows them
    assert {"key": "metric", "value": result.metric} in summary["user_attrs"]

    status, detail = _get(app, f"/api/studies/{summary['study_id']}")
    assert status.startswith("200"), detail
    trials = detail["trials"]
    assert [t["number"] for t in trials] == [r.number for r in result.trials]
    assert [t["state"] for t in trials] == [r.state.capitalize() for r in result.trials]
    for shown, record in zip(trials, result.trials, strict=True):
        assert {p["name"] for p in shown["params"]} == set(record.params)
        assert [v["step"] for v in shown["intermediate_values"]] == list(record.intermediate)
    best = detail["best_trials"]
    assert len(best) == 1 and best[0]["values"] == [result.best_value]
    assert detail["has_intermediate_values"] is True


def test_dashboard_reads_the_journal_file_of_a_search(binary_frame, quick_config, search_args) -> None:
    result = _search(quick_config, binary_frame, search_args)
    path = journal_path(quick_config.studies_dir, quick_config.study_name)
    assert result.storage == f"journal:{path.resolve()}"
    # the path as a user would type it: the dashboard guesses a journal file from it
    _assert_dashboard_lists(optuna_dashboard.wsgi(str(path)), result)


def test_dashboard_sees_trials_added_after_it_opened_the_journal(binary_frame, quick_config,
                                                                 search_args) -> None:
    first = _search(quick_config, binary_frame, search_args)
    app = optuna_dashboard.wsgi(str(journal_path(quick_config.studies_dir, quick_config.study_name)))
    _assert_dashboard_lists(app, first)
    # a resumed search appends to the same journal while the dashboard keeps it open
    more = _search(dataclasses.replace(quick_config, n_trials=quick_config.n_trials + 2), binary_frame,
                   search_args)
    assert len(more.trials) == len(first.trials) + 2
    # the dashboard caches a study's trials for a couple of seconds, then reads the journal again
    deadline = time.monotonic() + 30
    while True:
        try:
            _assert_dashboard_lists(app, more)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_dashboard_reads_the_rdb_storage_of_a_search(binary_frame, quick_config, search_args,
                                                     tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    result = _search(dataclasses.replace(quick_config, storage=url, studies_dir=None), binary_frame,
                     search_args)
    assert result.storage == url
    _assert_dashboard_lists(optuna_dashboard.wsgi(url), result)
