"""The ingest use case: drops in ``landing/`` (or named files and folders of a named group) into
the feature store, every step in the audit trail.

:func:`ingest_landing` is one run: :func:`ingest_drops` validates and commits the drops (one Delta
commit per group, bad rows and files to the quarantine) and writes their ``ingest`` and
``quarantine`` entries under the writers' share of the reconcile lock, so no reconcile runs
between a commit and its entries; :func:`compact_if_fragmented` compacts a group that many small
appends left fragmented (:mod:`usecases.compaction`); :func:`expire_landing` removes the handled drops past
the retention (``landing.expire``). The result is a typed :class:`IngestRun`. The ``ingest`` task
adds Prefect's retry (ingestion is idempotent: a drop is known by its sha256), the run log and the
table artifact; the flow emits the events from the run's totals.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from driftline.atomic import fault_point
from driftline.errors import DriftlineError, InputError
from driftline.home import WRITING_SUFFIXES
from driftline.progress import Progress
from features.contracts import FeatureGroupContract
from features.drop_guard import DEFAULT_READ_LIMITS, ReadLimits
from features.ingest import IngestReport, ingest_files, named_contract
from features.landing import drops, expirable
from features.quarantine import Quarantine
from features.readers import format_of
from features.store import CompactionResult, FeatureStore
from governance.actor import Actor
from governance.audit import AuditLog
from usecases.compaction import compact_if_fragmented
from usecases.reconcile_lock import writer_lock


@dataclass(frozen=True)
class GroupTotals:
    """What one group received in a run: the drops that stored rows, their rows, the newest commit.

    ``files`` are the stored drops' sha256 in input order; ``rows_quarantined`` counts the bad rows
    of those drops (a drop rejected whole stores nothing and is not counted here).
    """

    group: str
    files: tuple[str, ...]
    rows_stored: int
    rows_quarantined: int
    delta_version: int


@dataclass(frozen=True)
class IngestRun:
    """One ingestion: a report per drop (input order), the compactions it caused and the drops it
    removed from ``landing/`` once they were handled and past the retention."""

    reports: tuple[IngestReport, ...]
    compactions: tuple[CompactionResult, ...] = ()
    expired: tuple[Path, ...] = ()

    @property
    def totals(self) -> tuple[GroupTotals, ...]:
        """One :class:`GroupTotals` per group that received rows, sorted by group."""
        return group_totals(self.reports)

    @property
    def expired_by_group(self) -> dict[str, int]:
        return dict(sorted(Counter(path.parent.name for path in self.expired).items()))


def group_totals(reports: Sequence[IngestReport]) -> tuple[GroupTotals, ...]:
    """Sum the reports of the drops that stored rows, per group (what ``driftline.data.ingested`` says)."""
    by_group: dict[str, list[IngestReport]] = defaultdict(list)
    for r in reports:
        if r.status == "stored" and r.rows_stored:
            by_group[r.group].append(r)
    return tuple(GroupTotals(group=g, files=tuple(r.content_sha256 for r in rs),
                             rows_stored=sum(r.rows_stored for r in rs),
                             rows_quarantined=sum(r.rows_quarantined for r in rs),
                             delta_version=max(r.delta_version or 0 for r in rs))
                 for g, rs in sorted(by_group.items()))


def landing_files(landing: Path, paths: Sequence[str] | None = None) -> list[Path]:
    """The named drops (a named folder: its data files, see :func:`folder_files`), or every drop
    file under ``landing/<group>/`` (sorted, so runs repeat)."""
    if paths:  # absolute, but not resolved: a link is refused by ingestion, never replaced by its target
        resolved = [Path(p).expanduser().absolute() for p in paths]
        missing = [str(p) for p in resolved if not os.path.lexists(p)]
        if missing:
            raise InputError(f"no such file to ingest: {', '.join(missing)}",
                             hint=f"drop files under {landing}/<group>/, or name files or folders that exist")
        named: list[Path] = []
        for path in resolved:
            named += folder_files(path) if path.is_dir() and not path.is_symlink() else [path]
        return named
    return drops(landing)


def folder_files(folder: Path) -> list[Path]:
    """A named folder's data files, sorted: its entries (not its subfolders: not recursive, so a
    folder means what ``ls`` shows) whose names are of a format ingestion reads, skipping dotfiles
    and files still being written. A link or special file so named is listed, and ingestion then
    refuses it unread by name (``features.drop_guard``). None: InputError naming the folder."""
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or entry.name.lower().endswith(WRITING_SUFFIXES) \
                    or entry.is_dir(follow_symlinks=False):
                continue
            try:
                format_of(Path(entry.name))
            except DriftlineError:
                continue
            found.append(Path(entry.path))
    if not found:
        raise InputError(f"folder {folder} holds no data files",
                         hint="put .csv, .csv.gz, .parquet, .jsonl or .ndjson files in it (subfolders are not read)")
    return sorted(found)


def ingest_drops(paths: Sequence[Path], contracts: Mapping[str, FeatureGroupContract], store: FeatureStore,
                 quarantine: Quarantine, *, landing: Path, state: Path, audit: AuditLog, actor: Actor,
                 read_limits: ReadLimits = DEFAULT_READ_LIMITS, now: datetime | None = None,
                 group: str | None = None, progress: Progress | None = None) -> tuple[IngestReport, ...]:
    """Ingest ``paths`` (into ``group`` when named, else each into its landing folder's group) and
    audit every drop that was not a duplicate: ``ingest`` (naming the undeclared columns a contract
    ignored), plus ``quarantine`` when rows or the whole file were set aside. The commits and their
    entries are made under the writers' share of ``state``'s reconcile lock (see
    :mod:`usecases.reconcile_lock`)."""
    if group is not None:  # before the lock: a typo writes nothing at all
        named_contract(group, contracts)
    with writer_lock(state):
        reports = ingest_files(paths, contracts, store, quarantine, landing_root=landing, now=now,
                               read_limits=read_limits, group=group, progress=progress)
        for r in reports:
            if r.status == "duplicate":
                continue
            ignored = {"ignored_columns": list(r.ignored_columns)} if r.ignored_columns else {}
            audit.append("ingest", f"group:{r.group}", {
                "file": Path(r.file).name, "sha256": r.content_sha256, "status": r.status,
                "rows_in": r.rows_in, "rows_stored": r.rows_stored, "rows_quarantined": r.rows_quarantined,
                "delta_version": r.delta_version, **ignored}, actor=actor)
            if r.rows_quarantined or r.status == "rejected":
                audit.append("quarantine", f"group:{r.group}", {
                    "file": Path(r.file).name, "sha256": r.content_sha256, "rows": r.rows_quarantined,
                    "reasons": dict(r.reasons), "error": r.error, "quarantine_path": r.quarantine_path},
                    actor=actor)
    return tuple(reports)


def expire_landing(landing: Path, store: FeatureStore, quarantine: Quarantine, *, retention_days: float,
                   audit: AuditLog, actor: Actor, now: datetime) -> tuple[Path, ...]:
    """Remove the drops handled (stored, or quarantined whole) longer than the retention ago: the
    store and the quarantine hold their rows, and landing/ stays an inbox, not a second copy.

    The ``landing.expire`` entry is written before the files go: a kill in between leaves the
    drops in place, and the next run removes and records them again; no removal goes unrecorded.
    """
    removable = expirable(landing, store, quarantine, keep=timedelta(days=retention_days), now=now)
    if not removable:
        return ()
    by_group = dict(sorted(Counter(path.parent.name for path in removable).items()))
    audit.append("landing.expire", "landing", {"files_by_group": by_group, "retention_days": retention_days},
                 actor=actor)
    fault_point("landing.expire_recorded")
    for path in removable:
        path.unlink(missing_ok=True)
    return tuple(removable)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def ingest_landing(paths: Sequence[Path], contracts: Mapping[str, FeatureGroupContract], store: FeatureStore,
                   quarantine: Quarantine, *, landing: Path, state: Path, audit: AuditLog, actor: Actor,
                   read_limits: ReadLimits = DEFAULT_READ_LIMITS, compact_min_files: int = 64,
                   retention_days: float = 7.0, clock: Callable[[], datetime] = _utc_now,
                   group: str | None = None, progress: Progress | None = None) -> IngestRun:
    """One ingestion run: the drops, then compaction of the groups that received rows, then expiry.
    ``progress(done, total, drop name)`` is called after each drop is read (a bar on a terminal).
    ``group`` names the group of every drop (files from anywhere); a group without a contract is
    refused (NotFoundError) before anything is written. Safe to repeat after a failure anywhere:
    stored drops come back as duplicates."""
    now = clock()
    reports = ingest_drops(paths, contracts, store, quarantine, landing=landing, state=state, audit=audit,
                           actor=actor, read_limits=read_limits, now=now, group=group, progress=progress)
    compactions = []
    for totals in group_totals(reports):
        result = compact_if_fragmented(store, totals.group, min_files=compact_min_files, audit=audit, actor=actor)
        if result is not None:
            compactions.append(result)
    expired = expire_landing(landing, store, quarantine, retention_days=retention_days, audit=audit,
                             actor=actor, now=now)
    return IngestRun(reports=reports, compactions=tuple(compactions), expired=expired)
