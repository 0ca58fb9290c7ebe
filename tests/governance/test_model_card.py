"""The model card: rendered from the version's record and the gate's report (no second computation),
the same facts in Markdown and HTML, user text escaped in both, plots embedded when given."""

from __future__ import annotations

import base64
import html
import re

import pytest

from driftline.errors import InputError
from governance.gate_report import CheckResult, GateReport
from governance.model_card import ModelCard, card_sections, segment_checks
from governance.model_card_render import card_files, to_html, to_markdown
from registry import layout

EVIL = "<script>alert(1)</script>"


def report(*checks: CheckResult) -> GateReport:
    passed = bool(checks) and all(c.passed for c in checks)
    return GateReport(passed=passed, verdict="promote" if passed else "reject", checks=checks,
                      policy="all_of(min_auc, auc by plan)", candidate="churn candidate (abc)",
                      champion="churn:v1", created_at="2026-11-30T06:00:00.000000Z", task="binary",
                      decision_metric="auc")


def record(**spec: str) -> dict:
    return {"model": "churn", "version": 2, "status": "accepted", "created_at": "2026-11-30T06:00:01.000000Z",
            "reason": "manual", "metrics": {"auc": 0.81234, "logloss": 0.4},
            "champion_metrics": {"auc": 0.79, "logloss": 0.45},
            "data": {"delta_versions": {"customer_activity": 4, "churn_labels": 2}, "training_rows": 800,
                     "holdout_rows": 200, "training_set_sha256": "f" * 64,
                     "oldest_label_time": "2026-01-01T00:00:00+00:00",
                     "newest_label_time": "2026-06-30T00:00:00+00:00", "as_known": False},
            "code": {"git_commit": "c0ffee", "dirty": False, "package_version": "0.3.0"},
            "search": {"study": "churn-abc", "trials": 12, "best_iteration": 40, "refit_rounds": 44,
                       "params": {"learning_rate": 0.05, "num_leaves": 31}},
            "libraries": {"lightgbm": "4.5.0"}, "decision": {"task": "binary", "metric": "auc", "threshold": 0.42},
            **({"model_spec": {"name": "churn", **spec}} if spec else {})}


PASSING = report(CheckResult("min_auc", True, 0.81234, ">= 0.6", "fine"),
                 CheckResult("auc by plan=basic", True, 0.8, ">= 0.6", "within bounds"),
                 CheckResult("auc by plan=pro", True, 0.83, ">= 0.6", "within bounds"))


def test_every_fact_comes_from_the_record_and_the_report() -> None:
    card = ModelCard(record(intended_use="Rank accounts for calls.", limitations="EU only."), PASSING, "k" * 64)
    md = to_markdown(card)
    for fact in ("# Model card: churn v2", "Rank accounts for calls.", "EU only.", "| customer_activity | 4 |",
                 "training rows: 800", "holdout rows (the latest label times): 200",
                 "2026-01-01T00:00:00+00:00 to 2026-06-30T00:00:00+00:00", "| auc | 0.8123 | 0.7900 |",
                 "decision threshold (chosen on validation data): 0.4200", "verdict: promote",
                 f"sha256 {PASSING.digest}", "| auc by plan | pro | pass | 0.8300 |", "commit c0ffee",
                 "study churn-abc, 12 trials", "| learning_rate | 0.0500 |", f"signed by key: {'k' * 64}"):
        assert fact in md, fact
    page = to_html(card)
    # The HTML says the same things: every section title and every table cell of the layout.
    for section in card_sections(card):
        assert html.escape(section.title) in page
        for table in section.tables:
            for row in table.rows:
                assert all(f"<td>{html.escape(c)}</td>" in page for c in row)
    assert set(card_files(card)) == {layout.MODEL_CARD, layout.MODEL_CARD_HTML}


def test_a_rejected_version_says_why_and_marks_the_failed_segment() -> None:
    rejected = report(CheckResult("min_auc", True, 0.7, ">= 0.6", "fine"),
                      CheckResult("auc by plan=basic", False, 0.55, ">= 0.6", "outside the bound"))
    card = ModelCard({**record(), "status": "rejected"}, rejected, "k" * 64)
    md = to_markdown(card)
    assert "verdict: reject (rejected)" in md
    assert "reason: auc by plan=basic: observed 0.55, expected >= 0.6 (outside the bound)." in md
    assert "| auc by plan | basic | FAIL |" in md
    assert '<tr class="fail"><td>auc by plan</td><td>basic</td>' in to_html(card)
    assert [v for _, v, _ in segment_checks(rejected)] == ["basic"]


def test_a_version_without_card_texts_says_where_to_declare_them() -> None:
    md = to_markdown(ModelCard(record(), PASSING, "k" * 64))
    assert "not declared in the model's spec (set intended_use in models/churn.toml)" in md
    assert "No segment checks ran" in to_markdown(ModelCard(record(), report(
        CheckResult("min_auc", True, 0.8, ">= 0.6", "fine")), "k" * 64))


def test_user_text_is_escaped_in_html_and_markdown() -> None:
    # A script in the spec's text, in a column name (the segment column and a feature group) and
    # in a category value; a pipe in a table cell.
    checks = report(CheckResult(f"auc by {EVIL}=a|b", True, 0.8, ">= 0.6", "ok"),
                    CheckResult(f"auc by plan={EVIL}", True, 0.8, ">= 0.6", "ok"))
    rec = record(intended_use=f"Calls only. {EVIL}", limitations="x | y")
    rec["data"]["delta_versions"][EVIL] = 1
    card = ModelCard(rec, checks, "k" * 64)
    page = to_html(card)
    assert "<script" not in page.lower()
    assert page.count(html.escape(EVIL)) >= 4
    md = to_markdown(card)
    assert "<script" not in md.lower() and "&lt;script>" in md
    row = next(line for line in md.splitlines() if line.startswith("| auc by &lt;script"))
    assert "| a\\|b |" in row  # the pipe stays inside its cell
    assert len(re.findall(r"(?<!\\)\|", row)) == 7  # six cells, seven unescaped separators


def test_plots_are_embedded_as_images_when_given() -> None:
    svg = f'<svg xmlns="http://www.w3.org/2000/svg"><text>{EVIL}</text></svg>'
    card = ModelCard(record(), PASSING, "k" * 64, plots={"roc": svg, "pr<x>": svg})
    page = to_html(card)
    assert base64.b64encode(svg.encode()).decode() in page  # as an <img>: a browser runs no script in it
    assert "<script" not in page.lower() and 'alt="pr&lt;x&gt;"' in page
    assert "plots: pr&lt;x>, roc (drawn in model_card.html)" in to_markdown(card)
    assert "<img" not in to_html(ModelCard(record(), PASSING, "k" * 64))


@pytest.mark.parametrize("bad, found", [
    ({"record": {"model": "churn"}}, "lacks version, status, created_at"),
    ({"key_id": ""}, "names the key"),
])
def test_a_card_missing_its_facts_is_refused(bad: dict, found: str) -> None:
    args = {"record": record(), "report": PASSING, "key_id": "k" * 64, **bad}
    with pytest.raises(InputError) as err:
        ModelCard(**args)
    assert found in str(err.value) and err.value.hint
