"""The human-readable page of a compliance bundle: one self-contained, escaped HTML document.

It summarises what the machine-checkable files of the bundle hold — the audit entries of the range
(masked values shown as masked), the checkpoints that sign them, each registry version with its
status, data snapshot digests and gate verdict, and the public keys — so that an auditor can read
the bundle before running ``python -m flows audit verify-export`` on it (the page names that
command). Rendering only; no I/O.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from governance.audit import AuditEntry
from governance.checkpoints import Checkpoint


def _cell(value: Any) -> str:
    return f"<td>{html.escape(str(value))}</td>"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>" if rows else "<p>none</p>"


def render_report(*, created_at: str, since: str | None, until: str | None,
                  entries: Sequence[AuditEntry], in_range: tuple[int, int] | None,
                  masked: Sequence[int], checkpoints: Sequence[Checkpoint],
                  versions: Sequence[Mapping[str, Any]], key_ids: Sequence[str], exporter: str) -> str:
    """Return the bundle's report page. ``versions`` items hold model, version, metadata, gate."""
    masked_set = set(masked)
    entry_rows = [(e.seq, e.time, e.actor.get("user", ""), e.action, e.subject,
                   "masked" if e.seq in masked_set else "",
                   "" if in_range and in_range[0] <= e.seq <= in_range[1] else "context")
                  for e in entries]
    version_rows = []
    for item in versions:
        meta = item.get("metadata") or {}
        data = meta.get("data") or {}
        gate = item.get("gate") or {}
        version_rows.append((item["model"], item["version"], meta.get("status", "?"),
                             meta.get("created_at", "?"), gate.get("verdict", "no gate report"),
                             data.get("training_set_sha256", "?"),
                             ", ".join(f"{k}@{v}" for k, v in sorted((data.get("delta_versions") or {}).items()))))
    span = f"{since or 'the beginning'} to {until or 'now'}"
    in_range_text = (f"entries {in_range[0]}..{in_range[1]}" if in_range else "no entries")
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>driftline compliance export</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}"
        "td,th{border:1px solid #999;padding:3px 6px;font-size:90%}</style></head><body>"
        f"<h1>driftline compliance export</h1><p>Range {html.escape(span)} ({html.escape(in_range_text)}),"
        f" exported {html.escape(created_at)}, manifest signed by key <code>{html.escape(exporter)}</code>."
        " Entries marked <em>context</em> lie after the range and link it to the checkpoint that signs"
        " it; <em>masked</em> entries had PII-tagged detail fields replaced and are verified by their"
        " place in the chain and the manifest signature, not by their own hash. Each model's story (training,"
        " gates, approvals, promotions, drift and retraining) is told in <code>model_report.html</code>.</p>"
        "<h2>Audit entries</h2>"
        + _table(("seq", "time", "user", "action", "subject", "masked", "note"), entry_rows)
        + "<h2>Checkpoints</h2>"
        + _table(("size", "head hash", "time", "key"),
                 [(c.size, c.head_hash, c.time, c.key_id) for c in checkpoints])
        + "<h2>Model versions</h2>"
        + _table(("model", "version", "status", "created", "gate", "training set sha256", "data versions"),
                 version_rows)
        + "<h2>Public keys</h2>" + _table(("key id",), [(k,) for k in key_ids])
        + "<p>Verify offline with <code>python -m flows audit verify-export BUNDLE --public-key KEY.pub</code>"
          " (a folder or the .zip as it is; <code>--keys-inside</code> trusts the keys listed above, so compare"
          " their ids with the ones you were given). Each model version folder also passes"
          " <code>model_signing verify key FOLDER --signature FOLDER/model.sig --public_key KEY.pub</code>.</p>"
        "</body></html>\n")
