"""Ingestion: landing drops in, validated rows into the store, bad rows and files into quarantine.

:func:`ingest_files` takes drops named ``landing/<group>/<file>``, sorts them by group, refuses a
breaking contract change before anything is written, and ingests each group
(:func:`features.ingest_group.ingest_group`: per group it reads each drop batch by batch,
validates the rows, stages the good ones as Parquet files of about a million rows in a temporary
folder under the store, quarantines the bad ones, and then adds every staged file of the group, as
written, in ONE Delta commit whose metadata lists the drops' sha256 — so a drop is either fully
ingested (and known as such) or not at all, and the same bytes arriving again, under any name, are
a "duplicate"). A file that breaks as a whole (unparseable, missing a required column, an unknown
column unless the contract ignores undeclared ones, an event-time column of which not one value
reads) is quarantined whole and stores nothing. ``ingest_files(..., group=NAME)`` takes drops from
anywhere for the named group (``ingest FILE|FOLDER --group NAME``). Duplicate (entity keys, event
time) rows: inside one drop the first occurrence is kept and later ones are quarantined (a drop
that states two values for one key and time contradicts itself); across drops the contract
decides — ``keep_latest`` stores both and readers keep the latest ``_ingested_at`` (drops of one
call are stamped a microsecond apart in the order given, so a later drop wins), ``reject``
quarantines a row whose key is already stored or came earlier in the call
(:mod:`features.ingest_drop`). Every report satisfies ``rows_in == rows_stored +
rows_quarantined``. Drops are read as data only (``features/drop_guard.py``): each is opened once,
without following a link, hashed and read from that one handle; a link, a special file or a file
outside landing is refused unread (the quarantine keeps its name and reason, keyed by the sha256
of its path). A drop past a read limit (``ReadLimits``) is quarantined whole as "poisoned" and,
known by its digest, never read again. Staging folders are named ``.staging-<pid>-*``: each
ingestion first removes those whose process is dead (a kill -9), never a live one's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from driftline.errors import DriftlineError, IngestError, NotFoundError
from driftline.progress import Progress
from driftline.progress import report as report_progress
from driftline.staging import remove_dead_staging
from features.contracts import FeatureGroupContract
from features.drop_guard import DEFAULT_READ_LIMITS, ReadLimits, RefusedFile, inside, open_drop_file, scan
from features.evolution import ContractLedger
from features.ingest_group import IngestReport, ingest_group, refused
from features.quarantine import Quarantine
from features.store import FeatureStore
from features.validation import DEFAULT_LIMITS, Limits

__all__ = ["IngestReport", "group_of", "ingest_files", "named_contract"]


def named_contract(group: str, contracts: Mapping[str, FeatureGroupContract]) -> FeatureGroupContract:
    """The contract of a group named by the user (``--group``); NotFoundError naming the known ones."""
    if group not in contracts:
        raise NotFoundError(f"no contract for feature group {group!r}",
                            hint=f"known groups: {', '.join(sorted(contracts)) or 'none'}; write one with "
                                 f"`python -m flows contract infer FILE --group {group} ...`")
    return contracts[group]


def group_of(path: Path, landing_root: Path, contracts: Mapping[str, FeatureGroupContract]) -> FeatureGroupContract:
    """The contract of the group a drop belongs to: the first folder under the landing root."""
    try:
        # The folder is resolved, the name is not: a link named in a group folder belongs to the group
        # (and is then refused unread), and is never taken for its target's place.
        relative = (Path(path).parent.resolve() / Path(path).name).relative_to(Path(landing_root).resolve())
    except ValueError as exc:
        raise IngestError(f"{path} is not under the landing folder {landing_root}",
                          hint="drop files as landing/<group>/<file>, or name the group: ingest FILE --group NAME"
                          ) from exc
    if len(relative.parts) < 2:
        raise IngestError(f"{path} lies directly in {landing_root}; its group is unknown",
                          hint="drop files as landing/<group>/<file>")
    group = relative.parts[0]
    if group not in contracts:
        raise NotFoundError(f"no contract for feature group {group!r} (folder of {Path(path).name})",
                            hint=f"known groups: {', '.join(sorted(contracts)) or 'none'}; add a contract")
    return contracts[group]


def ingest_files(paths: Sequence[Path], contracts: Mapping[str, FeatureGroupContract], store: FeatureStore,
                 quarantine: Quarantine, *, landing_root: Path, now: datetime | None = None,
                 limits: Limits = DEFAULT_LIMITS, read_limits: ReadLimits = DEFAULT_READ_LIMITS,
                 batch_rows: int = 100_000, group: str | None = None,
                 progress: Progress | None = None) -> list[IngestReport]:
    """Ingest drops; all drops of one group are committed together. Reports come in input order.
    ``progress(done, total, drop name)`` is called once per drop after it is read (stored, refused,
    quarantined or known), before its group's commit.

    ``group`` names the group of every drop (``ingest FILE --group NAME``: files anywhere, read as
    data just the same); without it a drop's group is its folder under ``landing_root``. A named
    group without a contract is refused (NotFoundError) before anything is read or written."""
    now = now or datetime.now(UTC)
    if group is not None:
        named_contract(group, contracts)
    remove_dead_staging(store.root)
    reports: dict[int, IngestReport] = {}
    by_group: dict[str, list[tuple[int, Path]]] = {}
    handled = 0

    def tick(path: Path) -> None:
        nonlocal handled
        handled += 1
        report_progress(progress, handled, len(paths), path.name)

    for index, path in enumerate(paths):
        path = Path(path)
        if group is not None:
            by_group.setdefault(group, []).append((index, path))
            continue
        try:
            by_group.setdefault(group_of(path, landing_root, contracts).name, []).append((index, path))
        except DriftlineError as exc:
            reports[index] = _reject_ungrouped(quarantine, path, landing_root, exc)
            tick(path)
    ledger = ContractLedger(store.root / "_contracts")
    for group in by_group:  # a breaking contract change stops here, before anything is written
        ledger.admit(contracts[group])
    for group, files in by_group.items():
        reports.update(ingest_group(contracts[group], files, store, quarantine, now, limits, batch_rows,
                                     landing_root=landing_root, read_limits=read_limits, tick=tick))
    return [reports[i] for i in range(len(paths))]


def _reject_ungrouped(quarantine: Quarantine, path: Path, landing_root: Path, exc: DriftlineError) -> IngestReport:
    """A drop with no group (or outside landing): its bytes are kept only if it is a regular file under landing."""
    group = path.parent.name or "_unassigned"
    if not inside(path, landing_root):
        return refused(quarantine, path, group, str(exc))
    try:
        handle = open_drop_file(path, landing_root)
    except RefusedFile as refusal:
        return refused(quarantine, path, group, f"{exc}; {refusal}")
    with handle:
        digest = scan(handle, path.name, ReadLimits(), text=False).digest
        where = quarantine.put_file(group=group, source=path, digest=digest, reason=str(exc), data=handle)
    return IngestReport(path.name, group, digest, "rejected", 0, 0, 0, {}, None, str(where), str(exc))
