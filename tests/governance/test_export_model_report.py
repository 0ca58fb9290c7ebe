"""The per-model report inside a bundle: counts per action first, then each model's training, data
versions, gate decisions and why, approvals, promotions and rollbacks, drift verdicts and the
retraining each caused; every value escaped; a PDF when a converter makes one, recorded either way."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from governance.export import export_bundle, verify_bundle
from governance.export_model_report import APPROVAL_ACTIONS, model_of
from governance.report_pdf import PdfResult, find_converter, html_to_pdf
from tests.governance.test_export import ACTOR, KEY, KEYS, home  # noqa: F401  (fixture)

XSS = "<script>alert(1)</script>"


def _story(log) -> None:
    log.append("model.train", "study:churn-20240510", {"training_set_sha256": "ab" * 32, "rows": 900,
                                                       "versions": {"customer_activity": 4, "churn_labels": 2}},
               actor=ACTOR)
    log.append("model.register", "model:churn:v2", {"status": "accepted", "delta_versions": {"churn_labels": 2}},
               actor=ACTOR)
    log.append("gate.decision", "churn candidate v2", {"verdict": "promote", "champion": "v1",
                                                       "reasons": ["auc 0.81 >= 0.65", f"note {XSS}"]}, actor=ACTOR)
    log.append("model.approve", "model:churn:v2", {"approver": "dpo-maria", "decision": "approved",
                                                   "reason": "reviewed the gate"}, actor=ACTOR)
    log.append("approval.refused", "model:churn:v3", {"approver": "dpo-ken", "reason": "bias on region"},
               actor=ACTOR)
    log.append("model.promote", "model:churn:v2", {"reason": "approved by dpo-maria"}, actor=ACTOR)
    log.append("drift.verdict", "model:churn:v2", {"drifted": True, "drifted_features": ["sessions"],
                                                   "share_drifted": 0.5, "window": "w1"}, actor=ACTOR)
    log.append("model.train", "study:churn-20240520", {"training_set_sha256": "cd" * 32, "rows": 950,
                                                       "versions": {"customer_activity": 5}}, actor=ACTOR)
    log.append("model.rollback", "model:churn:v1", {"reason": "v2 misbehaves"}, actor=ACTOR)
    log.append("drift.verdict", "model:churn:v1", {"drifted": False, "window": "w2"}, actor=ACTOR)
    log.append("model.promote", "model:churn-eu:v1", {"reason": f"eu {XSS}"}, actor=ACTOR)


def _export(home, **kw) -> Path:  # noqa: F811
    root, log = home
    return export_bundle(root / "bundle", audit=log, registry_root=root / "registry", public_keys=KEYS, signer=KEY,
                         **kw)


def test_the_model_report_tells_each_models_story_with_counts_first(home):  # noqa: F811
    _story(home[1])
    bundle = _export(home)
    assert verify_bundle(bundle, KEYS).ok
    page = (bundle / "model_report.html").read_text(encoding="utf-8")
    counts, churn = page.index("Entries per action"), page.index('id="model-churn"')
    assert counts < churn < page.index('id="model-churn-eu"')
    assert "<td>model.train</td><td>2</td>" in page[counts:churn]
    story = page[churn:page.index('id="model-churn-eu"')]
    for fact in ("churn_labels@2, customer_activity@4", "churn candidate v2", "auc 0.81 &gt;= 0.65", "dpo-maria",
                 "approved", "dpo-ken", "rejected", "bias on region", "promote", "rollback", "v2 misbehaves",
                 "sessions"):
        assert fact in story, fact
    # the drifted verdict names the training it caused; the quiet one caused none
    drifted = re.search(r"<td>w1</td><td>([^<]*)</td>", story)
    assert drifted and "model.train study:churn-20240520" in drifted.group(1)
    assert "eu &lt;script&gt;" not in story  # churn-eu's entries are not churn's


def test_every_value_is_escaped_and_the_page_runs_nothing(home):  # noqa: F811
    _story(home[1])
    page = (_export(home) / "model_report.html").read_text(encoding="utf-8")
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "default-src 'none'" in page


def test_one_models_export_reports_that_model_alone(home):  # noqa: F811
    _story(home[1])
    bundle = _export(home, model="churn", select=lambda e: model_of(e.subject, ["churn", "churn-eu"]) == "churn")
    page = (bundle / "model_report.html").read_text(encoding="utf-8")
    assert 'id="model-churn"' in page and "churn-eu" not in page


def test_approval_action_names_live_in_one_mapping():
    assert {APPROVAL_ACTIONS[a] for a in ("model.approve", "approval.granted")} == {"approved"}
    assert {APPROVAL_ACTIONS[a] for a in ("model.reject", "approval.refused")} == {"rejected"}
    assert model_of("study:churn-eu-2024", ["churn", "churn-eu"]) == "churn-eu"
    assert model_of("group:people", ["churn"]) is None


def test_a_pdf_is_shipped_signed_and_recorded_when_made(home):  # noqa: F811
    seen: list[bytes] = []

    def converter(page: bytes) -> PdfResult:
        seen.append(page)
        return PdfResult(b"%PDF-1.4 test", "chromium", "model_report.pdf made by chromium.")
    bundle = _export(home, pdf=converter)
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    assert seen == [(bundle / "model_report.html").read_bytes()]
    assert manifest["report"]["pdf"] == "model_report.pdf" and manifest["report"]["pdf_converter"] == "chromium"
    assert "model_report.pdf" in manifest["files"] and verify_bundle(bundle, KEYS).ok
    (bundle / "model_report.pdf").write_bytes(b"%PDF-1.4 tesT")
    assert not verify_bundle(bundle, KEYS).ok


def test_no_converter_costs_the_pdf_never_the_export(home, monkeypatch):  # noqa: F811
    monkeypatch.setenv("PATH", "/nonexistent")
    assert find_converter() is None
    bundle = _export(home, pdf=html_to_pdf)
    report = json.loads((bundle / "manifest.json").read_bytes())["report"]
    assert report["pdf"] is None and "no converter" in report["note"] and not (bundle / "model_report.pdf").exists()
    assert verify_bundle(bundle, KEYS).ok


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "conv.sh"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_a_failing_or_hanging_converter_is_a_note_and_leaves_no_process(tmp_path: Path):
    failed = html_to_pdf(b"<p>x</p>", converter=("chromium", _script(tmp_path, "exit 3")))
    assert failed.pdf is None and "failed (exit 3)" in failed.note
    marker = tmp_path / "pid"
    hung = html_to_pdf(b"<p>x</p>", converter=("chromium", _script(tmp_path, f"echo $$ > {marker}; exec sleep 600")),
                       timeout=1)
    assert hung.pdf is None and "longer than" in hung.note
    pid = int(marker.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.skipif(find_converter() is None, reason="no libreoffice or chromium installed")
def test_the_installed_converter_makes_a_pdf_of_the_report(home):  # noqa: F811
    _story(home[1])
    made = html_to_pdf((_export(home) / "model_report.html").read_bytes())
    assert made.pdf is not None and made.pdf.startswith(b"%PDF-"), made.note
