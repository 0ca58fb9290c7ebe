"""The analysts' copy of an export's entries: one row per shipped entry as JSON lines, CSV or Parquet.

Written inside the bundle beside the machine-checked ``audit/entries.jsonl`` (``entries.<format>``,
listed and digested in the signed manifest), from the same already PII-treated entries, so it can
hold nothing the audit file does not. Columns: ``seq``, ``time``, ``user``, ``host``, ``action``,
``subject``, ``details`` (canonical JSON text).

CSV cells are neutralised against formula injection (OWASP "CSV injection"): a cell whose first
character — after leading spaces, and after folding Unicode look-alikes such as the full-width
``＝`` or the minus sign ``−`` to ASCII — is ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or
a line feed is prefixed with a single quote, which spreadsheets show as text and never evaluate.
Every cell is treated, numbers included, since a spreadsheet cannot tell who wrote one.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Sequence
from typing import Any

from driftline.canonical import canonical_json
from driftline.errors import InputError
from governance.audit import AuditEntry

__all__ = ["COLUMNS", "FORMATS", "neutralise", "render_entries"]

FORMATS = ("jsonl", "csv", "parquet")
COLUMNS = ("seq", "time", "user", "host", "action", "subject", "details")
_TRIGGERS = frozenset("=+-@\t\r\n")
_LOOKALIKES = {"\u2212": "-", "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
               "\u2796": "-", "\u2795": "+", "\u02d6": "+"}


def neutralise(cell: Any) -> str:
    """The CSV text of ``cell``, prefixed with ``'`` when a spreadsheet could read it as a formula."""
    text = "" if cell is None else str(cell)
    lead = text.lstrip(" \u00a0\u3000")
    if text[:1] in _TRIGGERS or (lead and _fold(lead[0]) in _TRIGGERS):
        return "'" + text
    return text


def _fold(char: str) -> str:
    folded = unicodedata.normalize("NFKC", char)[:1]
    return _LOOKALIKES.get(folded, folded)


def _rows(entries: Sequence[AuditEntry]) -> list[dict[str, Any]]:
    return [{"seq": e.seq, "time": e.time, "user": e.actor.get("user", ""), "host": e.actor.get("host", ""),
             "action": e.action, "subject": e.subject,
             "details": canonical_json(dict(e.details)).decode("utf-8")} for e in entries]


def render_entries(entries: Sequence[AuditEntry], fmt: str) -> bytes:
    """The entries as ``fmt`` (one of FORMATS); an unknown format is an InputError."""
    rows = _rows(entries)
    if fmt == "jsonl":
        return b"".join(json.dumps(r, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n" for r in rows)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([neutralise(row[c]) for c in COLUMNS])
        return out.getvalue().encode("utf-8")
    if fmt == "parquet":
        import pyarrow as pa  # imported here: only a Parquet export pays for it
        import pyarrow.parquet as pq

        table = pa.table({c: [r[c] for r in rows] for c in COLUMNS},
                         schema=pa.schema([("seq", pa.int64())] + [(c, pa.string()) for c in COLUMNS[1:]]))
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        return bytes(sink.getvalue().to_pybytes())
    raise InputError(f"export format {fmt!r} is not one of {', '.join(FORMATS)}",
                     hint="pass --format jsonl, --format csv or --format parquet")
