"""One behaviour suite for every study storage :func:`training.study_storage.open_storage` opens.

Modelled on Optuna's ``testing/pytest_storages.py``: the same tests run against the journal file
(local mode), an RDB on SQLite, and, when ``DRIFTLINE_TEST_POSTGRES_URL`` names a scratch
database, PostgreSQL (pool mode). A storage is "re-opened" by calling ``open_storage`` again, as a
new process would. What must hold on every backend: studies are created and loaded by name with
their direction; trials keep params, values, states and attributes across a re-open; reports are
readable by another handle; reports held by ``holding_reports`` are all written, in order, once
the hold ends or another record is written; a re-opened study resumes numbering after its
trials; studies of different names (one per model and training set) never see each other's
trials; a trial orphaned by a dead process is failed. Where the backends differ by design, the
test names the difference (``Backend.holds``).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState

from driftline.errors import ConfigError
from training.study_storage import StudyStorage, fail_dead_trials, mark_owner, open_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)
# Optuna warns that an RDB heartbeat is meant for optimize(); these tests drive trials by hand.
pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage")
NAME = "churn-0123456789ab"  # the shape of tasks.training.study_name: <model>-<fingerprint[:12]>


@dataclass(frozen=True)
class Backend:
    name: str
    opener: Callable[[str], StudyStorage]
    holds: bool  # True: reports held by holding_reports are invisible to other handles until released
    prefix: str = ""  # a shared database outlives tmp_path: each test's studies get names of their own

    def open(self, study_name: str = NAME) -> StudyStorage:
        return self.opener(self.prefix + study_name)

    def create(self, opened: StudyStorage, name: str = NAME, direction: str = "maximize") -> optuna.Study:
        return optuna.create_study(storage=opened.storage, study_name=self.prefix + name, direction=direction,
                                   load_if_exists=True)

    def load(self, opened: StudyStorage, name: str = NAME) -> optuna.Study:
        return optuna.load_study(storage=opened.storage, study_name=self.prefix + name)


def _journal(tmp_path: Path) -> Backend:
    return Backend("journal", lambda name: open_storage(None, tmp_path / "studies", name), holds=True)


def _sqlite(tmp_path: Path) -> Backend:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    return Backend("sqlite", lambda name: open_storage(url, None, name), holds=False)


def _postgres(tmp_path: Path) -> Backend:
    url = os.environ.get("DRIFTLINE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("set DRIFTLINE_TEST_POSTGRES_URL to a scratch PostgreSQL database to run this backend")
    return Backend("postgres", lambda name: open_storage(url, None, name), holds=False,
                   prefix=f"{uuid.uuid4().hex[:12]}-")


@pytest.fixture(params=[
    _journal, _sqlite,
    pytest.param(_postgres, marks=pytest.mark.integration)], ids=["journal", "sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return request.param(tmp_path)


def test_create_then_load_after_reopen(backend: Backend) -> None:
    study = backend.create(backend.open(), direction="minimize")
    study.set_user_attr("model", "churn")
    again = backend.load(backend.open())
    assert again.direction == optuna.study.StudyDirection.MINIMIZE
    assert again.user_attrs == {"model": "churn"}
    assert again.get_trials() == []


def test_loading_a_missing_study_fails(backend: Backend) -> None:
    backend.create(backend.open())
    with pytest.raises(KeyError):
        optuna.load_study(storage=backend.open("other").storage, study_name="no-such-study")


def test_trials_survive_a_reopen(backend: Backend) -> None:
    study = backend.create(backend.open())
    trial = study.ask({"lr": FloatDistribution(0.01, 0.3, log=True), "leaves": IntDistribution(8, 64)})
    trial.set_user_attr("best_iteration", 17)
    study.tell(trial, 0.75)
    failed = study.ask()
    study.tell(failed, state=TrialState.FAIL)
    (done, lost) = backend.load(backend.open()).get_trials()
    assert (done.number, done.state, done.value) == (0, TrialState.COMPLETE, 0.75)
    # The journal records the trial's owner (host, pid) when it creates it; the RDB has a heartbeat.
    attrs = {k: v for k, v in done.user_attrs.items() if k not in ("host", "pid")}
    assert done.params == trial.params and attrs == {"best_iteration": 17}
    assert done.distributions == trial.distributions
    assert (lost.number, lost.state) == (1, TrialState.FAIL)


def test_reports_are_read_by_another_handle_while_the_trial_runs(backend: Backend) -> None:
    study = backend.create(backend.open())
    trial = study.ask()
    for step, value in enumerate((0.6, 0.65, 0.7)):
        trial.report(value, step * 5)
    (running,) = backend.load(backend.open()).get_trials()
    assert running.state == TrialState.RUNNING
    assert running.intermediate_values == {0: 0.6, 5: 0.65, 10: 0.7}


def test_held_reports_are_all_written_in_order_when_the_hold_ends(backend: Backend) -> None:
    opened = backend.open()
    study = backend.create(opened)
    trial = study.ask()
    with opened.holding_reports():
        for step in range(20):
            trial.report(step / 100, step)
        seen_by_writer = study.get_trials()[0].intermediate_values
        seen_by_reader = backend.load(backend.open()).get_trials()[0].intermediate_values
    # The writer sees its reports on every backend (a pruner in this process could read them);
    # the difference by design: the journal keeps them from other readers until the hold ends.
    assert seen_by_writer == {step: step / 100 for step in range(20)}
    assert seen_by_reader == ({} if backend.holds else seen_by_writer)
    study.tell(trial, 0.19)
    (after,) = backend.load(backend.open()).get_trials()
    assert after.intermediate_values == {step: step / 100 for step in range(20)}
    assert after.state == TrialState.COMPLETE


def test_a_trial_ending_inside_a_hold_writes_its_reports_first(backend: Backend) -> None:
    opened = backend.open()
    study = backend.create(opened)
    trial = study.ask()
    with opened.holding_reports():
        trial.report(0.5, 0)
        trial.report(0.6, 1)
        study.tell(trial, 0.6)  # a state record: the held reports go first, in the same write
        (reader,) = backend.load(backend.open()).get_trials()
        assert (reader.state, reader.intermediate_values) == (TrialState.COMPLETE, {0: 0.5, 1: 0.6})


def test_a_reentered_hold_drops_nothing(backend: Backend) -> None:
    opened = backend.open()
    study = backend.create(opened)
    trial = study.ask()
    with opened.holding_reports():
        trial.report(0.1, 0)
        with opened.holding_reports():
            trial.report(0.2, 1)
        trial.report(0.3, 2)
    assert backend.load(backend.open()).get_trials()[0].intermediate_values == {0: 0.1, 1: 0.2, 2: 0.3}


def test_a_reopened_study_resumes_after_its_trials(backend: Backend) -> None:
    first = backend.create(backend.open())
    first.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    before = [t.params for t in first.get_trials()]
    resumed = backend.create(backend.open())  # load_if_exists, as run_search opens it
    resumed.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    trials = backend.load(backend.open()).get_trials()
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert [t.params for t in trials[:2]] == before
    assert all(t.state == TrialState.COMPLETE for t in trials)


def test_studies_per_model_and_training_set_are_independent(backend: Backend) -> None:
    names = ("churn-0123456789ab", "churn-ba9876543210", "fraud-0123456789ab")
    for count, name in enumerate(names, start=1):
        study = backend.create(backend.open(name), name)
        study.optimize(lambda t: t.suggest_int("k", 0, 9), n_trials=count)
    for count, name in enumerate(names, start=1):
        trials = backend.load(backend.open(name), name).get_trials()
        assert [t.number for t in trials] == list(range(count)), name


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_trial_orphaned_by_a_dead_process_is_failed_and_a_live_one_kept(backend: Backend) -> None:
    opened = backend.open()
    study = backend.create(opened)
    orphan, alive = study.ask(), study.ask()
    mark_owner(orphan)
    orphan.set_user_attr("pid", _dead_pid())
    mark_owner(alive)
    again = backend.open()
    assert fail_dead_trials(backend.load(again), again.storage) == (0,)
    states = [t.state for t in backend.load(backend.open()).get_trials()]
    assert states == [TrialState.FAIL, TrialState.RUNNING]


def test_no_storage_at_all_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no study storage"):
        open_storage(None, None, NAME)


def test_an_unreachable_rdb_is_a_config_error_with_the_password_hidden(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        open_storage("nosuchdialect://user:s3cret@localhost/db", None, NAME)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize("bad", ["../escape", "a/b", "", ".hidden", "x" * 129])
def test_a_journal_refuses_a_study_name_that_cannot_name_a_file(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError, match="cannot name a file"):
        open_storage(None, tmp_path / "studies", bad)
    assert not (tmp_path / "escape.journal").exists()
