"""``audit export --model NAME``: the model's entries and versions, a bundle that verifies offline;
an undeclared model is refused before anything is written."""

from __future__ import annotations

import pytest

from driftline.errors import NotFoundError
from governance.actor import Actor
from governance.export import verify_bundle
from tasks.workspace import Workspace
from usecases.export import export_audit, model_entries
from usecases.models import DEMO_SPEC

ACTOR = Actor(user="ana", host="laptop")


def test_the_demo_model_keeps_its_entries_and_its_groups() -> None:
    from governance.audit import AuditEntry

    def entry(action: str, subject: str) -> AuditEntry:
        return AuditEntry(seq=1, time="t", action=action, subject=subject, actor={}, details={},
                          prev_hash="0" * 64, hash="0" * 64)

    keep = model_entries(DEMO_SPEC)
    assert [keep(entry(a, s)) for a, s in [
        ("model.register", "model:churn:v2"), ("model.declare", "model:churn"), ("model.train", "study:churn-ab12"),
        ("gate.decision", "churn candidate (ab12)"), ("ingest", "group:customer_billing"),
        ("quarantine", "group:churn_labels"), ("model.register", "model:churner:v1"),
        ("ingest", "group:accounts"), ("key.init", "key:k")]] == [True] * 6 + [False] * 3


def test_export_of_one_model_verifies_offline(ws: Workspace) -> None:
    ws.audit.append("model.register", "model:other:v1", {"note": "another model"}, actor=ACTOR)
    ws.audit.append("drift.verdict", "model:churn:v1", {"drift": False}, actor=ACTOR)  # after it: in the chain
    done = export_audit(ws, model="churn")
    assert done.model == "churn" and done.path.name.startswith("audit-export-churn-")
    result = verify_bundle(done.path, ws.trust.public_pems())
    assert result.ok, result.problems
    assert result.entries_withheld >= 1 and result.versions == 2
    assert b"model:other" not in (done.path / "audit" / "entries.jsonl").read_bytes()
    last = list(ws.audit.entries())[-1]
    assert last.action == "audit.export" and last.details["model"] == "churn"


def test_an_undeclared_model_is_refused_and_nothing_is_written(ws: Workspace) -> None:
    before = ws.audit.head()
    with pytest.raises(NotFoundError, match="model 'nobody' is not declared") as raised:
        export_audit(ws, model="nobody")
    assert raised.value.hint and "train --model nobody" in raised.value.hint
    assert ws.audit.head() == before and not list(ws.home.reports.glob("audit-export-*"))
