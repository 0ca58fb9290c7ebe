"""The Python API's entry: ``home = driftline_api.open(path)``, then one method per operation.

:class:`Home` is an adapter over the same use cases as the command line, each method the twin of
a command: :meth:`Home.ingest` (``ingest FILE --group G``; a frame goes in as a Parquet drop,
:mod:`driftline_api.frames`), :meth:`Home.train` (``train --model``), :meth:`Home.champion` and its
``predict`` (``score``'s scoring on any frame), :meth:`Home.monitor` (``monitor --model``),
:meth:`Home.versions` (``registry list``) and :meth:`Home.models` (the declared specs). Like the
flows, every method that writes first reconciles the audit trail (a crashed run's changes get their
entries) and ends with a signed checkpoint, so the trail reads the same whichever adapter wrote.
Only :meth:`Home.train` runs a Prefect flow; every other method is plain Python and imports no
Prefect. Errors are the project's :class:`~driftline.errors.DriftlineError` subclasses (an
``IntegrityError`` for anything tampered), never ``SystemExit``.

Differences from the command line, on purpose: the API's ingest and monitor emit no events (no
Prefect runs), so a drifted verdict starts no retraining: call :meth:`Home.train` when
``result.drifted``; and an ingestion that stores nothing because every row or file was refused
raises ``InputError`` (the command's exit 2) unless ``strict=False``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from driftline.errors import ConfigError, InputError, NotFoundError
from driftline.home import DataHome
from driftline.progress import Progress
from driftline.settings import load_settings
from driftline_api.champion import Champion
from driftline_api.versions import VersionInfo, version_infos

if TYPE_CHECKING:  # the use cases import pyarrow, deltalake and DuckDB: loaded on first use
    from tasks.workspace import Workspace
    from usecases.ingest import IngestRun
    from usecases.models import ModelSpec
    from usecases.monitor import MonitorResult
    from usecases.outcomes import TrainOutcome

R = TypeVar("R")


def open(home: str | os.PathLike[str], **settings: Any) -> Home:  # noqa: A001 - the API's verb
    """The data home at ``home``, with settings ``settings`` over the ``DRIFTLINE_*`` environment,
    shaped like the settings (``gate={"max_ece": 0.1}``, ``training={"n_trials": 5}``). Nothing
    is created yet: methods that write create a new home on first use (in a new or empty folder),
    methods that only read refuse a folder that is not one. Bad settings: ``ConfigError`` now."""
    if not str(home).strip():
        raise ConfigError("the data home path is empty", hint="give a folder, e.g. driftline_api.open('.driftline')")
    root = DataHome(Path(home)).root
    if root.exists() and not root.is_dir():
        raise InputError(f"the data home {root} is a file, not a folder", hint="pass a folder")
    load_settings(home=root, **settings)  # a misspelt or ill-typed setting answers here, not mid-run
    return Home(root, dict(settings))


@dataclass(frozen=True)
class Home:
    """One data home and the settings overrides every operation on it uses (see :func:`open`)."""

    path: Path
    settings: Mapping[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ plumbing
    def _workspace(self, model: str | None = None, *, existing: bool) -> Workspace:
        from tasks.workspace import Workspace

        if model is None:
            ws = Workspace.open(self.path, **self.settings)
        else:
            ws = Workspace.for_model(self.path, model, dict(self.settings))
        if existing:
            ws.settings.data_home.require_existing()
        return ws

    @staticmethod
    def _write(ws: Workspace, work: Callable[[], R]) -> R:
        """A writer's frame, as every writing flow has it: reconcile first, a checkpoint last."""
        from usecases.reconcile import reconcile

        reconcile(ws)
        try:
            return work()
        finally:
            ws.audit.checkpoint(ws.signing_key())

    # ---------------------------------------------------------------- operations
    def ingest(self, source: Any, group: str | None = None, *, strict: bool = True,
               progress: Progress | None = None) -> IngestRun:
        """Ingest a polars or pandas frame into ``group`` (required), or a file or folder (its data
        files) into ``group`` (default: the file's landing folder's group), through the ingest use
        case: contract validation, quarantine of bad rows, one Delta commit, the ``ingest`` entries.
        Ingesting the same bytes again is a duplicate, not a second copy. Returns the
        :class:`~usecases.ingest.IngestRun` (``.reports``, ``.totals``); with ``strict`` a run that
        stored nothing because everything was refused raises ``InputError`` naming the quarantine.
        ``progress(done, total, drop_name)`` is called after each drop is read (a notebook's bar)."""
        from usecases.ingest import folder_files

        if isinstance(source, (str, os.PathLike)):
            path = Path(source).expanduser().absolute()
            if not os.path.lexists(path):
                raise InputError(f"no such file to ingest: {path}", hint="name a file or folder that exists")
            paths = folder_files(path) if path.is_dir() and not path.is_symlink() else [path]
            return self._ingest_paths(paths, group, strict, progress)
        from driftline_api.frames import as_polars, frame_drop

        frame = as_polars(source, "ingest")
        if group is None:
            raise InputError("a frame has no landing folder to name its group", hint="pass group='NAME'")
        from features.ingest import named_contract

        named_contract(group, self._workspace(existing=False).contracts)  # before the rows are written anywhere
        with frame_drop(frame, group) as drop:
            return self._ingest_paths([drop], group, strict, progress)

    def _ingest_paths(self, paths: Sequence[Path], group: str | None, strict: bool,
                      progress: Progress | None) -> IngestRun:
        from features.drop_guard import ReadLimits
        from features.ingest import named_contract
        from usecases.ingest import ingest_landing
        from usecases.ingest_summary import nothing_stored

        ws = self._workspace(existing=False)
        if group is not None:  # before the home is created or anything is written
            named_contract(group, ws.contracts)
        s = ws.settings
        run = self._write(ws, lambda: ingest_landing(
            paths, ws.contracts, ws.store, ws.quarantine, landing=ws.home.landing, state=ws.home.state,
            audit=ws.audit, actor=ws.actor(), read_limits=ReadLimits(**s.ingest.model_dump()),
            compact_min_files=s.compact_min_files, retention_days=s.landing_retention_days, group=group,
            progress=progress))
        failed = nothing_stored(run.reports) if strict else None
        if failed is not None:  # recorded in the audit trail and the quarantine before this is raised
            raise InputError(failed, hint="see the quarantine named above; strict=False returns the run instead")
        return run

    def train(self, model: str, *, group: str | None = None, label: str | None = None, task: str | None = None,
              features: Sequence[str] = (), exclude: Sequence[str] = (), trials: int | None = None,
              budget: float | None = None, reason: str = "manual", progress: Progress | None = None) -> TrainOutcome:
        """Train, gate, register (signed) and maybe promote a version of ``model``: the ``train``
        flow, the command's own, run in this process by :func:`flows.local.run_local`, so Prefect's
        temporary server starts (once per process, some seconds) and the events the run emits are
        dispatched as the command dispatches them (a promotion scores the new champion). A model
        not declared yet is declared from ``group``, ``label`` (and ``task``, ``features``,
        ``exclude``) first, as ``train --model NAME --group G --label COL`` does; ``trials`` and
        ``budget`` (seconds) are this run's search settings. ``progress(done, total, best_so_far)`` is
        called after each trial of the search (trials against the budget), as the command's bar is."""
        from usecases.models import declare_on_first_use, merge_overrides, models_folder

        ws = self._workspace(existing=False)
        if group is not None or label is not None:  # a spec may be written: into a data home (or refused)
            ws.home  # noqa: B018
        spec, _ = declare_on_first_use(models_folder(ws.settings), ws.contracts, model, group=group, label=label,
                                       task=task, features=tuple(features), exclude=tuple(exclude),
                                       budget_s=budget, trials=trials)
        run_flags = {k: v for k, v in (("n_trials", trials), ("timeout_s", budget)) if v is not None}
        overrides = merge_overrides(self.settings, {"training": run_flags} if run_flags else {})
        from driftline_api.training import run_train_flow

        return run_train_flow(str(self.path), spec.name, reason, overrides, progress)

    def champion(self, model: str) -> Champion:
        """``model``'s champion, loaded verified (an alias or version that does not verify raises
        ``IntegrityError``; no champion yet raises ``NotFoundError``), ready to ``predict``."""
        from training.model import TrainedModel

        ws = self._workspace(existing=True)
        if ws.registry.alias(model, "champion") is None:
            raise NotFoundError(f"model {model!r} has no champion", hint=f"train it first: home.train({model!r})")
        version = ws.registry.load(model, "champion")
        return Champion.of(model, version.version, version.metadata, TrainedModel.load(version.path))

    def monitor(self, model: str, since: datetime | str | None = None, until: datetime | str | None = None,
                *, window_days: int | None = None) -> MonitorResult:
        """Judge the rows that arrived in ``[since, until)`` (datetimes or ISO text; UTC unless they
        say otherwise; by default the spec's ``window_days`` ending at the data's newest time)
        against the verified champion's reference profile, as ``monitor --model`` does: the HTML
        report, then the ``drift.verdict`` entry. Drift is a result, not an exception."""
        from monitoring.drift import DriftPolicy
        from usecases import monitor as use_case

        start, end = _moment(since, "since"), _moment(until, "until")
        if window_days is not None and (isinstance(window_days, bool) or window_days < 1):
            raise InputError(f"window_days {window_days!r} is not a whole number of 1 or more", hint="pass 30")
        ws = self._workspace(model, existing=True)
        s = ws.settings

        def judge() -> MonitorResult:
            from datetime import timedelta

            if ws.registry.alias(model, "champion") is None:
                raise NotFoundError(f"model {model!r} has no champion to monitor", hint="train one first")
            champion = ws.registry.load(model, "champion")
            window = use_case.current_window(ws.store, ws.contracts, s.feature_groups,
                                             window_days or s.drift.window_days, since=start, until=end)
            return use_case.monitor_champion(
                ws.store, ws.contracts[s.label_group], champion, window, policy=DriftPolicy.from_settings(s.drift),
                label_horizon=timedelta(days=s.drift.label_horizon_days), reports=ws.home.reports,
                audit=ws.audit, actor=ws.actor())

        return self._write(ws, judge)

    def versions(self, model: str) -> list[VersionInfo]:
        """Every registered version of ``model``, oldest first, with its aliases (read through the
        signed alias file) and metrics. Listing verifies no version: :meth:`champion` does."""
        ws = self._workspace(existing=True)
        return version_infos(ws.registry, model)

    def models(self) -> tuple[ModelSpec, ...]:
        """The declared model specs (``models/NAME.toml``), by name; the demo's when none is declared."""
        from usecases.models import declared_models, models_folder

        return declared_models(models_folder(self._workspace(existing=True).settings))


def _moment(value: datetime | str | None, name: str) -> datetime | None:
    """A window bound as an aware UTC datetime; naive ones (and ISO text without an offset) are UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InputError(f"{name} {value!r} is not an ISO date or time",
                             hint="write 2026-03-01 or 2026-03-01T12:00:00Z") from None
    if not isinstance(value, datetime):
        raise InputError(f"{name} takes a datetime or ISO text, got {type(value).__name__}",
                         hint="pass datetime(2026, 3, 1, tzinfo=UTC) or '2026-03-01'")
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
