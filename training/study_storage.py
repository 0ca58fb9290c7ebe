"""Where an Optuna study lives: a journal file under ``studies/`` locally, an RDB in pool mode.

Local mode keeps one append-only journal per study (``<studies_dir>/<study_name>.journal``) behind
Optuna's file lock, so several processes on one machine can run trials of the same study. A
``kill -9`` can leave two things behind, and :func:`open_storage` / :func:`fail_dead_trials` clean
both: a torn last journal line (cut back to the last full line under the lock, else Optuna would
glue the next record onto it and the journal would stop replaying), and trials stuck in RUNNING
(failed when the process that ran them, recorded in the trial, is gone from this host). Pool mode
hands the URL to Optuna's RDBStorage with a heartbeat, which fails stale trials on its own.

The journal fsyncs every record except intermediate values, which a trial reports every few
rounds, and may hold a trial's reports until it ends (:class:`_Journal`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock, JournalStorage
from optuna.trial import FrozenTrial, TrialState

from driftline.errors import ConfigError

# Seconds: a trial whose process stopped beating this long ago is failed by the RDB storage.
HEARTBEAT_S = 60
# Seconds after which a journal lock left by a killed process is broken.
LOCK_GRACE_S = 30
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class StudyStorage:
    """An opened Optuna storage and a printable description of it (passwords hidden)."""

    storage: BaseStorage
    description: str
    # A context in which reports may be written late, together (see _Journal); RDBs write each.
    holding_reports: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext


def journal_path(studies_dir: Path, study_name: str) -> Path:
    if not _NAME.match(study_name):
        raise ConfigError(f"study name {study_name!r} cannot name a file",
                          hint="use letters, digits, '.', '_' and '-' (at most 128)")
    return Path(studies_dir) / f"{study_name}.journal"


class _Journal(JournalFileBackend):
    """Optuna's journal file, with two differences for records that only add intermediate values
    (a search reports each trial's metric every ``report_every`` rounds: a thousand records in 20
    trials).

    - They are appended, under the same lock, without an fsync of their own. Optuna fsyncs every
      record; the reports took 0.8 s of a 14 s search (measured), half of it in fsync. A process
      crash (``kill -9``) loses nothing by this: the bytes are in the operating system's cache once
      ``write`` returns. A machine crash may lose the last reports, never a trial's state: the
      fsync of any later record writes every earlier byte of the file too, so the journal stays a
      prefix of what was written (and :func:`open_storage` cuts a torn last line).
    - Inside :meth:`holding_reports` they are kept in memory and written together, in order, when
      the block ends or just before any other record: one write per trial instead of one per
      report. For trials that no pruner reads while they run; other readers (the dashboard,
      another worker) see the trial's curve when it ends, and a killed process loses its running
      trial's curve along with the trial.
    """

    def __init__(self, path: str, lock: JournalFileSymlinkLock) -> None:
        super().__init__(path, lock_obj=lock)
        self._path, self._write_lock = path, lock
        self._held: list[dict[str, Any]] | None = None  # None: reports are written as they come
        self._guard = threading.Lock()

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        reports = bool(logs) and all("intermediate_value" in log for log in logs)
        with self._guard:
            if reports and self._held is not None:
                self._held.extend(logs)
                return
            if self._held:  # the reports held so far go first, in the same write
                logs, self._held = [*self._held, *logs], []
            if reports:
                self._append_unsynced(logs)
            else:
                super().append_logs(logs)

    @contextlib.contextmanager
    def holding_reports(self) -> Iterator[None]:
        with self._guard:
            self._held = [] if self._held is None else self._held  # entered twice: nothing held is dropped
        try:
            yield
        finally:
            with self._guard:
                held, self._held = self._held or [], None
                if held:
                    self._append_unsynced(held)

    def _append_unsynced(self, logs: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs)
        self._write_lock.acquire()
        try:
            with open(self._path, "ab") as handle:
                handle.write(text.encode("utf-8"))
        finally:
            self._write_lock.release()


def _repair_torn_tail(path: Path, lock: JournalFileSymlinkLock) -> None:
    """Cut a partial last line (a write killed mid-way) back to the last complete record."""
    lock.acquire()
    try:
        with open(path, "rb+") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return
            # Scan back in blocks for the last newline; journals are small, records short.
            end = size
            while end > 0:
                start = max(0, end - 65536)
                handle.seek(start)
                cut = handle.read(end - start).rfind(b"\n")
                if cut >= 0:
                    handle.truncate(start + cut + 1)
                    break
                end = start
            else:
                handle.truncate(0)
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        lock.release()


def open_storage(storage: str | None, studies_dir: Path | None, study_name: str) -> StudyStorage:
    """Open the RDB at URL ``storage``, or else the journal file of ``study_name`` in ``studies_dir``."""
    if storage is not None:
        try:
            with warnings.catch_warnings():
                # Optuna flags the heartbeat "experimental"; it is the only stale-trial guard for RDBs.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                rdb = RDBStorage(storage, heartbeat_interval=HEARTBEAT_S, grace_period=2 * HEARTBEAT_S)
        except Exception as exc:  # SQLAlchemy raises many kinds; the URL is the user's input
            raise ConfigError(f"cannot open the Optuna storage {_hide_password(storage)}: {exc}",
                              hint="check the storage URL and that the database is reachable") from exc
        return StudyStorage(rdb, _hide_password(storage))
    if studies_dir is None:
        raise ConfigError("no study storage given", hint="pass studies_dir (the data home's studies/) "
                          "or an Optuna storage URL")
    path = journal_path(studies_dir, study_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(exist_ok=True)
    lock = JournalFileSymlinkLock(str(path), grace_period=LOCK_GRACE_S)
    _repair_torn_tail(path, lock)
    backend = _Journal(str(path), lock)
    return StudyStorage(_OwnedJournalStorage(backend), f"journal:{path.resolve()}", backend.holding_reports)


def _hide_password(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: show the scheme only
        return url.split("://", 1)[0] + "://***"


def _owner() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def mark_owner(trial: optuna.Trial) -> None:
    """Record which process runs ``trial``, so that a later run can tell it died."""
    for name, value in _owner().items():
        trial.set_user_attr(name, value)


class _OwnedJournalStorage(JournalStorage):
    """Optuna's journal storage, whose new trials carry their owner (host, pid) in the record that
    creates them. Set afterwards (:func:`mark_owner`), a ``kill -9`` between the two records left a
    RUNNING trial that no later run could tell was dead, so it stayed RUNNING for ever."""

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        if template_trial is None:
            template_trial = FrozenTrial(
                number=0, state=TrialState.RUNNING, value=None, datetime_start=datetime.now(timezone.utc),
                datetime_complete=None, params={}, distributions={}, user_attrs=_owner(), system_attrs={},
                intermediate_values={}, trial_id=0)
        return super().create_new_trial(study_id, template_trial)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def fail_dead_trials(study: optuna.Study, storage: BaseStorage) -> tuple[int, ...]:
    """Fail RUNNING trials of ``study`` (kept in ``storage``) whose process on this host is gone;
    return their numbers. Trials of other hosts are left to their own runs."""
    host = socket.gethostname()
    study_id = storage.get_study_id_from_name(study.study_name)
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        if trial.user_attrs.get("host") != host or not isinstance(pid, int) or _alive(pid):
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        if storage.set_trial_state_values(trial_id, TrialState.FAIL):
            failed.append(trial.number)
    return tuple(failed)
