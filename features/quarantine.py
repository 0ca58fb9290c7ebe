"""The quarantine: where rejected rows and rejected files wait, each with the reason it was rejected.

Layout: ``quarantine/<group>/<drop sha256>/`` holds ``record.json`` (group, source file, digest,
kind, reason, time) and either ``rows-<part>.jsonl`` (one JSON object per rejected row: its raw
values as strings, ``_row`` — its 1-based row in the drop — and ``_reason``) or the whole drop,
copied byte for byte — or, for a file that was refused unread (a link, a special file, a file
outside landing), nothing but the record. The quarantine holds raw, possibly personal data, so
its folders are 0700 and its files 0600. Writes are atomic and keyed by the drop's digest and a
part number, so an ingestion that is interrupted and run again rewrites the same files instead
of adding copies (and removes the temporary file a killed copy left).
Erasure (:meth:`Quarantine.delete_entities`) rewrites row files without the erased entities and
deletes whole quarantined drops that mention them, leaving a record without personal data.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import polars as pl

from driftline.atomic import write_atomic
from driftline.canonical import canonical_json
from driftline.clock import now_text
from driftline.errors import StoreError
from features.readers import mentions

_RECORD = "record.json"
_FILE_MODE, _FOLDER_MODE = 0o600, 0o700


def rows_as_json_lines(rows: pl.DataFrame) -> bytes:
    """One JSON object a line, keys sorted, compact, UTF-8: the bytes ``canonical_json`` gives each
    row (a test holds the two equal), written by polars instead of row by row in Python (~50x faster)."""
    buffer = io.BytesIO()
    rows.select(sorted(rows.columns)).write_ndjson(buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class QuarantineRecord:
    """One quarantined drop: ``kind`` "rows" (some rows, ``rows`` of them) or "file" (all of it).

    ``erased`` is true once erasure removed a quarantined file's bytes; the record stays as proof.
    ``poisoned``: the file broke a read limit, so ingestion does not read it again.
    """

    group: str
    source: str
    digest: str
    kind: Literal["rows", "file"]
    path: Path
    rows: int
    reason: str | None
    created_at: str
    erased: bool = False
    poisoned: bool = False


class Quarantine:
    """Rejected rows and files under one folder (the data home's ``quarantine/``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def folder(self, group: str, digest: str) -> Path:
        """Where a drop's quarantined rows or file go."""
        return self.root / group / digest

    def _open_folder(self, group: str, digest: str) -> Path:
        """The drop's folder, created owner-only (and folders made before that rule tightened)."""
        folder = self.folder(group, digest)
        for path in (self.root, self.root / group, folder):
            path.mkdir(mode=_FOLDER_MODE, parents=True, exist_ok=True)
            if path.stat().st_mode & 0o777 != _FOLDER_MODE:
                path.chmod(_FOLDER_MODE)
        return folder

    def _write_record(self, folder: Path, *, group: str, source: Path, digest: str, kind: str,
                      reason: str | None, erased: bool = False, poisoned: bool = False) -> None:
        record = {"group": group, "source": Path(source).name, "digest": digest, "kind": kind,
                  "reason": reason, "created_at": now_text(), "erased": erased}
        if poisoned:
            record["poisoned"] = True
        write_atomic(folder / _RECORD, canonical_json(record) + b"\n", mode=_FILE_MODE)

    def put_rows(self, *, group: str, source: Path, digest: str, rows: pl.DataFrame, part: int = 0) -> Path:
        """Store rejected rows (raw values, ``_row``, ``_reason``); part 0 replaces what was there."""
        if "_reason" not in rows.columns:
            raise StoreError(f"quarantined rows of {Path(source).name} carry no _reason column",
                             hint="every quarantined row must say why it was rejected")
        folder = self._open_folder(group, digest)
        if part == 0:
            self._clear(folder)
        lines = rows_as_json_lines(rows)
        target = folder / f"rows-{part:05d}.jsonl"
        write_atomic(target, lines, mode=_FILE_MODE)
        self._write_record(folder, group=group, source=source, digest=digest, kind="rows", reason=None)
        return target

    def put_file(self, *, group: str, source: Path, digest: str, reason: str, data: BinaryIO | None,
                 poisoned: bool = False) -> Path:
        """Keep a whole rejected drop here with its reason; replaces earlier rows of the same drop.

        ``data`` is the drop opened as data (a regular file under landing, read from its start);
        None keeps the record alone — for a file refused unread, whose bytes must not be copied.
        Returns the copy, or the folder when there is none."""
        folder = self._open_folder(group, digest)
        self._clear(folder)
        target = folder / f"drop-{Path(source).name}"
        if data is not None:
            try:
                self._copy(data, target)
            except OSError as exc:
                raise StoreError(f"could not copy {source} into the quarantine at {folder}: {exc.strerror}",
                                 hint="check the free space and permissions of the quarantine folder") from exc
        self._write_record(folder, group=group, source=source, digest=digest, kind="file", reason=reason,
                           poisoned=poisoned)
        return target if data is not None else folder

    @staticmethod
    def _copy(data: BinaryIO, target: Path) -> None:
        # Streamed (a drop may be larger than memory), fsynced, owner-only, renamed into place.
        write_atomic(target, data, mode=_FILE_MODE, staged="quarantine.file_copied")

    def poisoned(self, group: str, digest: str) -> str | None:
        """The reason a drop was quarantined for breaking a read limit, or None."""
        try:
            data = json.loads((self.folder(group, digest) / _RECORD).read_bytes())
        except (OSError, ValueError):
            return None
        return str(data.get("reason")) if data.get("poisoned") else None

    @staticmethod
    def _clear(folder: Path) -> None:
        # Also the temporary file of a copy killed midway (a drop may be large: never left behind).
        for stale in [*folder.glob("rows-*.jsonl"), *folder.glob("drop-*"), *folder.glob(".drop-*.tmp")]:
            stale.unlink()

    def records(self) -> list[QuarantineRecord]:
        """Every quarantined drop, by group then digest."""
        out = []
        for record_file in sorted(self.root.glob(f"*/*/{_RECORD}")):
            try:
                data = json.loads(record_file.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise StoreError(f"quarantine record {record_file} is unreadable: {exc}") from exc
            folder = record_file.parent
            rows = sum(_count_lines(p) for p in folder.glob("rows-*.jsonl"))
            out.append(QuarantineRecord(
                group=data["group"], source=data["source"], digest=data["digest"], kind=data["kind"],
                path=folder, rows=rows, reason=data["reason"], created_at=data["created_at"],
                erased=bool(data.get("erased", False)), poisoned=bool(data.get("poisoned", False))))
        return out

    def delete_entities(self, key_column: str, keys: Sequence[str]) -> int:
        """Erase every quarantined row whose ``key_column`` is one of ``keys``, and every quarantined
        file that mentions one; returns rows removed plus files removed."""
        wanted = {str(k) for k in keys}
        if not wanted:
            return 0
        removed = 0
        for rows_file in sorted(self.root.glob("*/*/rows-*.jsonl")):
            kept, dropped = [], 0
            for line in rows_file.read_bytes().splitlines():
                row = json.loads(line)
                raw_line = str(row.get("_line") or "")
                if str(row.get(key_column)) in wanted or any(k in raw_line for k in wanted):
                    dropped += 1
                else:
                    kept.append(line + b"\n")
            if dropped:
                write_atomic(rows_file, b"".join(kept), mode=_FILE_MODE)
                removed += dropped
        for record in self.records():
            if record.kind == "file" and not record.erased:
                removed += self._erase_file(record, key_column, wanted)
        return removed

    def _erase_file(self, record: QuarantineRecord, key_column: str, wanted: set[str]) -> int:
        for copy in record.path.glob("drop-*"):
            if mentions(copy, key_column, wanted):
                copy.unlink()
                self._write_record(record.path, group=record.group, source=Path(record.source),
                                   digest=record.digest, kind="file", reason=record.reason, erased=True,
                                   poisoned=record.poisoned)
                return 1
        return 0

    def purge(self, group: str, digest: str) -> None:
        """Forget one drop's quarantine (used when the drop is later ingested cleanly)."""
        shutil.rmtree(self.folder(group, digest), ignore_errors=True)


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())
