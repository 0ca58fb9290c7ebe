"""The study survives its process: kill -9 mid-search and the next run keeps the finished trials,
fails the orphaned one and runs only what is left; two processes share one journal; a torn last
journal line is cut back instead of poisoning the study."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
from optuna.storages.journal import JournalFileBackend, JournalStorage

from training import SearchConfig, run_search
from training.study_storage import journal_path

ROOT = Path(__file__).parents[2]

WORKER = textwrap.dedent("""
    import sys
    import polars as pl
    from training import SearchConfig, run_search
    data, studies = sys.argv[1], sys.argv[2]
    n_trials, worker, rounds = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    config = SearchConfig(task="binary", n_trials=n_trials, max_rounds=rounds, early_stopping_rounds=rounds,
                          pruner="none", device="cpu", n_threads=1, studies_dir=studies, worker=worker)
    run_search(pl.read_parquet(data), features=["a", "b", "colour"], categorical=["colour"], label="y",
               time_column="day", config=config)
""")


def _spawn(tmp_path: Path, frame, n_trials: int, worker: int = 0, rounds: int = 60,
           env: dict | None = None) -> subprocess.Popen:
    data = tmp_path / "data.parquet"
    if not data.exists():
        frame.write_parquet(data)
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(data), str(tmp_path / "studies"), str(n_trials), str(worker),
         str(rounds)], cwd=ROOT, env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _trials(tmp_path: Path) -> list[optuna.trial.FrozenTrial]:
    storage = JournalStorage(JournalFileBackend(str(journal_path(tmp_path / "studies", "driftline"))))
    return optuna.load_study(study_name="driftline", storage=storage).get_trials()


def _config(tmp_path: Path, n_trials: int) -> SearchConfig:
    return SearchConfig(task="binary", n_trials=n_trials, max_rounds=60, early_stopping_rounds=60,
                        pruner="none", device="cpu", n_threads=1, studies_dir=tmp_path / "studies")


def _resume_and_check(tmp_path: Path, frame, search_args, before: list, n_trials: int):
    done_before = {t.number: (t.params, t.value) for t in before if t.state.name == "COMPLETE"}
    result = run_search(frame, config=_config(tmp_path, n_trials), **search_args)
    after = {t.number: t for t in result.trials}
    for number, (params, value) in done_before.items():
        assert after[number].state == "COMPLETE"
        assert (dict(after[number].params), after[number].value) == (params, value)
    assert not [t for t in result.trials if t.state == "RUNNING"]
    assert result.n_completed == n_trials  # pruner off: every finished trial completed
    return result


def test_kill_9_mid_search_resumes_keeping_completed_trials(tmp_path: Path, binary_frame, search_args) -> None:
    proc = _spawn(tmp_path, binary_frame, n_trials=500, rounds=200)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            studies = tmp_path / "studies" / "driftline.journal"
            if studies.exists() and sum(t.state.name == "COMPLETE" for t in _trials(tmp_path)) >= 2:
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = _trials(tmp_path)
    n_done = sum(t.state.name == "COMPLETE" for t in before)
    _resume_and_check(tmp_path, binary_frame, search_args, before, n_trials=n_done + 2)


def test_orphaned_running_trial_is_failed_on_resume(tmp_path: Path, binary_frame, search_args) -> None:
    # The fault point kills the worker with SIGKILL right after trial 3 started.
    proc = _spawn(tmp_path, binary_frame, n_trials=10, env={"DRIFTLINE_FAULT": "training.trial.3"})
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    before = _trials(tmp_path)
    assert [t.state.name for t in before] == ["COMPLETE"] * 3 + ["RUNNING"]
    result = _resume_and_check(tmp_path, binary_frame, search_args, before, n_trials=5)
    assert result.trials[3].state == "FAIL"
    assert [t.state for t in result.trials[4:]] == ["COMPLETE", "COMPLETE"]


def test_two_processes_share_one_study(tmp_path: Path, binary_frame) -> None:
    procs = [_spawn(tmp_path, binary_frame, n_trials=10, worker=w) for w in (0, 1)]
    for proc in procs:
        assert proc.wait(timeout=180) == 0, proc.stderr.read().decode()
    trials = _trials(tmp_path)
    finished = [t for t in trials if t.state.name == "COMPLETE"]
    # MaxTrialsCallback is checked after each trial: both may start the last one at once.
    assert 10 <= len(finished) <= 11 and len(finished) == len(trials)
    assert len({t.user_attrs["pid"] for t in finished}) == 2
    assert len({tuple(sorted(t.params.items())) for t in finished}) == len(finished)


def test_torn_journal_tail_is_cut_back(tmp_path: Path, binary_frame, search_args) -> None:
    first = run_search(binary_frame, config=_config(tmp_path, 2), **search_args)
    path = journal_path(tmp_path / "studies", "driftline")
    intact = path.read_bytes()
    path.write_bytes(intact + b'{"op_code": 4, "worker_id": "x", "study_id": 0, "da')  # killed mid-write
    resumed = run_search(binary_frame, config=_config(tmp_path, 3), **search_args)
    assert resumed.trials[:2] == first.trials and len(resumed.trials) == 3
    assert path.read_bytes().startswith(intact)


def test_rdb_url_storage_keeps_the_study(tmp_path: Path, binary_frame, search_args) -> None:
    # SQLite stands in for the PostgreSQL of pool mode: same RDBStorage code path.
    config = SearchConfig(task="binary", n_trials=2, max_rounds=30, device="cpu", n_threads=1,
                          storage=f"sqlite:///{tmp_path}/studies.db")
    first = run_search(binary_frame, config=config, **search_args)
    again = run_search(binary_frame, config=SearchConfig(**{**config.__dict__, "n_trials": 3}), **search_args)
    assert first.storage.startswith("sqlite:///") and again.trials[:2] == first.trials
    assert len(again.trials) == 3


def test_intermediate_values_are_kept_without_an_fsync_each(tmp_path: Path, monkeypatch) -> None:
    from training.study_storage import open_storage

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    storage = open_storage(None, tmp_path / "studies", "reports").storage
    study = optuna.create_study(storage=storage, study_name="reports")
    synced.clear()
    trial = study.ask()
    for step in range(1, 101):
        trial.report(1.0 / step, step)
    study.tell(trial, 0.01)
    # Creating the trial and ending it are fsynced; the 100 reports between them are not.
    assert 1 <= len(synced) <= 3
    reread = JournalStorage(JournalFileBackend(str(journal_path(tmp_path / "studies", "reports"))))
    (kept,) = optuna.load_study(study_name="reports", storage=reread).trials
    assert kept.intermediate_values == {step: 1.0 / step for step in range(1, 101)}
    assert kept.state == optuna.trial.TrialState.COMPLETE


def test_held_reports_land_together_before_the_trial_ends(tmp_path: Path) -> None:
    from training.study_storage import open_storage

    opened = open_storage(None, tmp_path / "studies", "held")
    study = optuna.create_study(storage=opened.storage, study_name="held")
    path = journal_path(tmp_path / "studies", "held")
    trial = study.ask()
    with opened.holding_reports():
        for step in range(1, 51):
            trial.report(float(step), step)
        assert b"\"op_code\":7," not in path.read_bytes()  # held in memory: no SET_TRIAL_INTERMEDIATE_VALUE
        trial.set_user_attr("note", "any other record lands after the reports held before it")
        trial.report(51.0, 51)
    study.tell(trial, 1.0)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    steps = [r["step"] for r in records if "intermediate_value" in r]
    assert steps == list(range(1, 52))
    kinds = ["report" if "intermediate_value" in r else "attr" if "user_attr" in r else "other" for r in records]
    assert kinds.index("attr") == kinds.index("report") + 50  # the 50 held reports, then the attribute
    reread = JournalStorage(JournalFileBackend(str(path)))
    (kept,) = optuna.load_study(study_name="held", storage=reread).trials
    assert kept.intermediate_values == {step: float(step) for step in range(1, 52)}


def test_a_trial_created_by_a_process_killed_before_anything_else_is_failed_on_resume(tmp_path: Path) -> None:
    """The owner is part of the record that creates the trial: a kill -9 right after ``ask`` (before
    any other record) still leaves a trial that the next run can tell is dead. It once stayed
    RUNNING for ever, and ``test_kill_9_mid_search_resumes_keeping_completed_trials`` hit it."""
    code = textwrap.dedent(f"""
        import os, optuna
        from training.study_storage import open_storage
        opened = open_storage(None, {str(tmp_path)!r}, "s")
        study = optuna.create_study(storage=opened.storage, study_name="s")
        study.ask()
        os._exit(0)  # dies holding the trial, before mark_owner or any later record
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    assert subprocess.run([sys.executable, "-c", code], env=env, timeout=120).returncode == 0
    from training.study_storage import fail_dead_trials, open_storage

    opened = open_storage(None, tmp_path, "s")
    study = optuna.load_study(storage=opened.storage, study_name="s")
    assert fail_dead_trials(study, opened.storage) == (0,)
    assert [t.state.name for t in study.get_trials()] == ["FAIL"]
