"""The per-model report of a compliance bundle: each model's story, told from its shipped entries.

``model_report.html`` (and ``model_report.pdf`` when a converter is installed, see
:mod:`governance.report_pdf`) opens with the counts of entries per action, then, for each model:
who trained what and when, on which data versions (``model.train``, ``model.register`` and each
version's signed lineage), what each gate decided and why (``gate.decision``), who approved or
rejected (the actions in :data:`APPROVAL_ACTIONS`, the one place their names are kept), every
promotion and rollback, every drift verdict and the retraining it caused (the first training,
registration or skipped retrain of the model after a drifted verdict), and every entry of the
model with its details. Each version's approval state is the signed record shipped beside it
(:func:`governance.export_approvals.approval_state`): approved or rejected, by whom, when and why;
pending when its signed spec asks for a decision and none was recorded; not required otherwise.
It is rendered from the entries the bundle ships, already PII-treated, so it can hold nothing the
audit file does not; every value is escaped and the page forbids scripts and fetching anything
(its Content-Security-Policy). Rendering only; no I/O.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from driftline.canonical import canonical_json
from governance.audit import AuditEntry

__all__ = ["APPROVAL_ACTIONS", "model_of", "render_model_report"]

# Audit actions of a person's decision on a version -> what was decided. The approval use case
# writes model.approve / model.reject; the other spellings are read too, so a rename there is one
# line here.
APPROVAL_ACTIONS: Mapping[str, str] = {"model.approve": "approved", "model.reject": "rejected",
                                       "approval.granted": "approved", "approval.refused": "rejected",
                                       "approval.rejected": "rejected"}
TRAINING_ACTIONS = ("model.train", "model.register", "model.retrain_skipped")
MOVES = ("model.promote", "model.rollback")
_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def model_of(subject: str, models: Sequence[str]) -> str | None:
    """Which of ``models`` an entry's subject names (``model:M``, ``model:M:vN``, ``study:M-...``,
    ``M candidate ...``); the longest name wins, so ``churn`` never takes ``churn-eu``'s entries."""
    for name in sorted(models, key=len, reverse=True):
        if (subject == f"model:{name}" or subject.startswith((f"model:{name}:", f"study:{name}-",
                                                              f"{name} candidate "))):
            return name
    return None


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _details(entry: AuditEntry) -> str:
    return canonical_json(dict(entry.details)).decode("utf-8")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _who(entry: AuditEntry) -> str:
    return f"{entry.actor.get('user', '?')}@{entry.actor.get('host', '?')}"


def _data_versions(value: Any) -> str:
    if not isinstance(value, Mapping):
        return ""
    return ", ".join(f"{k}@{v}" for k, v in sorted(value.items()))


def _drift_rows(entries: Sequence[AuditEntry]) -> list[tuple[Any, ...]]:
    rows = []
    for i, entry in enumerate(entries):
        if entry.action != "drift.verdict":
            continue
        d = entry.details
        caused = ""
        if d.get("drifted") is True:
            later = next((e for e in entries[i + 1:] if e.action in (*TRAINING_ACTIONS, "drift.verdict")), None)
            if later is not None and later.action != "drift.verdict":
                caused = f"entry {later.seq}: {later.action} {later.subject} at {later.time}"
            else:
                caused = "no retraining recorded in this bundle"
        rows.append((entry.seq, entry.time, entry.subject, d.get("drifted"), ", ".join(map(str, d.get(
            "drifted_features") or ())), d.get("share_drifted"), d.get("window"), caused))
    return rows


def _approval(state: Mapping[str, Any] | None) -> str:
    """A version's approval as its signed record (shipped beside it) and its signed spec say."""
    if not state:
        return "?"
    text = str(state.get("state"))
    if state.get("approver"):
        text += f" by {state['approver']} at {state.get('at')}: {state.get('reason')}"
    if state.get("approvers"):
        text += f" (approvers: {', '.join(map(str, state['approvers']))})"
    return text


def _section(name: str, entries: Sequence[AuditEntry], versions: Sequence[Mapping[str, Any]]) -> str:
    counts = Counter(e.action for e in entries)
    training = [(e.seq, e.time, _who(e), e.action, e.subject,
                 _data_versions(e.details.get("versions") or e.details.get("delta_versions")),
                 e.details.get("training_set_sha256") or e.details.get("reason") or e.details.get("status") or "")
                for e in entries if e.action in TRAINING_ACTIONS]
    version_rows = []
    for item in versions:
        meta = item.get("metadata") or {}
        data = meta.get("data") or {}
        version_rows.append((item["version"], meta.get("status", "?"), meta.get("created_at", "?"),
                             meta.get("reason", ""), _data_versions(data.get("delta_versions")),
                             data.get("training_set_sha256", "?"), (item.get("gate") or {}).get("verdict", "?"),
                             _approval(item.get("approval")), ", ".join(item.get("pii_features") or ())))
    gates = [(e.seq, e.time, _who(e), e.subject, e.details.get("verdict"), e.details.get("champion"),
              "; ".join(map(str, e.details.get("reasons") or ()))) for e in entries if e.action == "gate.decision"]
    approvals = [(e.seq, e.time, APPROVAL_ACTIONS[e.action], e.details.get("approver") or e.actor.get("user"),
                  e.subject, e.details.get("reason"), e.details.get("timed_out") or "")
                 for e in entries if e.action in APPROVAL_ACTIONS]
    moves = [(e.seq, e.time, _who(e), e.action.removeprefix("model."), e.subject, e.details.get("reason"),
              _details(e)) for e in entries if e.action in MOVES]
    return (
        f"<h2 id=\"model-{_e(name)}\">Model {_e(name)}</h2>"
        + _table(("action", "entries"), sorted(counts.items()))
        + "<h3>Training: who trained what, when, on which data</h3>"
        + _table(("seq", "time", "who", "action", "subject", "data versions", "training set / reason"), training)
        + "<h3>Versions</h3>"
        + _table(("version", "status", "created", "reason", "data versions", "training set sha256", "gate",
                  "approval (signed record)", "fit on PII columns (model files not shipped)"), version_rows)
        + "<h3>Gate decisions</h3>"
        + _table(("seq", "time", "who", "candidate", "verdict", "champion", "why"), gates)
        + "<h3>Approvals</h3>"
        + _table(("seq", "time", "decision", "approver", "version", "reason", "timed out"), approvals)
        + "<h3>Promotions and rollbacks</h3>"
        + _table(("seq", "time", "who", "change", "version", "reason", "details"), moves)
        + "<h3>Drift verdicts and the retraining each caused</h3>"
        + _table(("seq", "time", "version", "drifted", "drifted features", "share drifted", "window",
                  "retraining caused"), _drift_rows(entries))
        + "<h3>Every entry of the model</h3>"
        + _table(("seq", "time", "who", "action", "subject", "details"),
                 [(e.seq, e.time, _who(e), e.action, e.subject, _details(e)) for e in entries]))


def render_model_report(*, created_at: str, entries: Sequence[AuditEntry], versions: Sequence[Mapping[str, Any]],
                        model: str | None = None, pdf_note: str = "") -> str:
    """The report page over the shipped ``entries`` and ``versions`` (items with model, version,
    metadata, gate, pii_features); one section per model (``model`` alone when named)."""
    names = {str(v["model"]) for v in versions}
    for entry in entries:
        if entry.subject.startswith("model:"):
            names.add(entry.subject.split(":")[1])
    if model is not None:
        names = {model}
    ordered = sorted(names)
    by_model: dict[str, list[AuditEntry]] = {n: [] for n in ordered}
    for entry in entries:
        owner = model_of(entry.subject, ordered)
        if owner is not None:
            by_model[owner].append(entry)
    counts = Counter(e.action for e in entries)
    title = f"driftline model report: {model}" if model else "driftline model report"
    return (
        f"<!doctype html><html><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\"><title>{_e(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}"
        "td,th{border:1px solid #999;padding:3px 6px;font-size:85%;vertical-align:top}"
        "td{word-break:break-word;max-width:40em}</style></head><body>"
        f"<h1>{_e(title)}</h1><p>Exported {_e(created_at)}. Told from the bundle's shipped audit entries "
        "(PII-tagged fields as the manifest's policy left them) and its registry versions. "
        f"{_e(pdf_note)}</p><h2>Entries per action</h2>"
        + _table(("action", "entries"), sorted(counts.items()))
        + "".join(_section(n, by_model[n], [v for v in versions if v["model"] == n]) for n in ordered)
        + "<p>Verify the bundle offline with <code>python -m flows audit verify-export BUNDLE --public-key "
          "KEY.pub</code>.</p></body></html>\n")
