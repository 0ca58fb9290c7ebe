"""What an ingestion tells its user: per group, rows stored and quarantined, why, and where.

:func:`summarize` folds the drops' :class:`~features.ingest.IngestReport`s into one
:class:`GroupSummary` per group (every group named, also one that stored nothing): rows stored,
rows quarantined, the three most common row reasons with their counts, the drops refused whole
with their one-line errors, the undeclared columns a contract ignored, and the quarantine folder.
:func:`nothing_stored` is the verdict the ``ingest`` command exits on: when drops were given and
not one row was stored because every drop was refused or every row quarantined, it returns the one
line that says so (the command then exits 2); a run of duplicates only, or of empty drops, stored
nothing new but refused nothing either, and is no failure. The audit trail has recorded every
quarantine before this is asked: bad input is recorded, never lost.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from features.ingest import IngestReport

TOP_REASONS = 3


@dataclass(frozen=True)
class GroupSummary:
    """One group's share of an ingestion. ``top_reasons`` are (reason, rows) pairs, most rows first
    (ties by reason); ``refused`` are (file, error) pairs of the drops refused whole; ``quarantine``
    is the folder holding this run's quarantined rows and files of the group (None: nothing)."""

    group: str
    files: int
    duplicates: int
    rows_stored: int
    rows_quarantined: int
    top_reasons: tuple[tuple[str, int], ...]
    refused: tuple[tuple[str, str], ...]
    ignored_columns: tuple[str, ...]
    quarantine: str | None

    def lines(self) -> list[str]:
        """The summary as the command prints it: a headline, then one line per detail there is."""
        out = [f"{self.group}: {self.files} file(s), {self.rows_stored} rows stored, {self.rows_quarantined} "
               f"quarantined, {len(self.refused)} file(s) refused, {self.duplicates} duplicate(s) skipped"]
        if self.top_reasons:
            out.append("  most common reasons: " + ", ".join(f"{k} ({n})" for k, n in self.top_reasons))
        for name, error in self.refused:
            out.append(f"  refused {name}: {error}")
        if self.ignored_columns:
            out.append(f"  undeclared columns ignored: {', '.join(self.ignored_columns)}")
        if self.quarantine:
            out.append(f"  quarantine: {self.quarantine}")
        return out


def _folder(quarantine_path: str) -> str:
    # A drop kept whole is the file drop-<name> inside its folder; quarantined rows name the folder.
    path = Path(quarantine_path)
    return str(path.parent if path.name.startswith("drop-") else path)


def summarize(reports: Sequence[IngestReport]) -> tuple[GroupSummary, ...]:
    """One summary per group the reports name, sorted by group."""
    by_group: dict[str, list[IngestReport]] = defaultdict(list)
    for r in reports:
        by_group[r.group].append(r)
    summaries = []
    for group, rs in sorted(by_group.items()):
        reasons: Counter[str] = Counter()
        for r in rs:
            if r.status == "stored":  # a refused drop's rows are counted as "file rejected": its error says why
                reasons.update(r.reasons)
        top = tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_REASONS])
        folders = sorted({_folder(r.quarantine_path) for r in rs if r.quarantine_path})
        summaries.append(GroupSummary(
            group=group, files=len(rs), duplicates=sum(r.status == "duplicate" for r in rs),
            rows_stored=sum(r.rows_stored for r in rs), rows_quarantined=sum(r.rows_quarantined for r in rs),
            top_reasons=top, refused=tuple((r.file, r.error or "refused") for r in rs if r.status == "rejected"),
            ignored_columns=tuple(dict.fromkeys(c for r in rs for c in r.ignored_columns)),
            quarantine=(folders[0] if len(folders) == 1 else os.path.commonpath(folders)) if folders else None))
    return tuple(summaries)


def nothing_stored(reports: Sequence[IngestReport]) -> str | None:
    """The one line of a failed ingestion, or None: drops were given, none stored a row, and each
    new one was refused whole or had every row quarantined."""
    new = [r for r in reports if r.status != "duplicate"]
    failed = [r for r in new if r.status == "rejected" or (r.rows_quarantined and not r.rows_stored)]
    if not new or len(failed) != len(new):
        return None
    if all(r.status == "rejected" for r in new):
        first = new[0]
        more = f" (and {len(new) - 1} more file(s), see above)" if len(new) > 1 else ""
        return f"nothing was stored: every file was refused; {first.error or first.file}{more}"
    rows = sum(r.rows_quarantined for r in new)
    reasons: Counter[str] = Counter()
    for r in new:
        reasons.update(r.reasons)
    reason, count = (reasons.most_common(1) or [("see the quarantine", rows)])[0]
    where = next((_folder(r.quarantine_path) for r in new if r.quarantine_path), "the quarantine")
    return (f"nothing was stored: all {rows} row(s) were quarantined, most for {reason!r} ({count}); "
            f"fix the rows kept in {where} and ingest them again")
