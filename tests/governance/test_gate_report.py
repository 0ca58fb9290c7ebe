"""GateReport: self-consistency, canonical JSON round trip, Markdown and escaped HTML."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftline.errors import InputError
from governance.gate_report import CheckResult, GateReport

text = st.text(min_size=1, max_size=20)
observed = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), text,
                     st.floats(allow_nan=False, allow_infinity=False),
                     st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=3).map(tuple))
checks = st.builds(CheckResult, name=text, passed=st.booleans(), observed=observed, expected=text,
                   detail=st.text(max_size=30))


def report(checks: tuple[CheckResult, ...], **kw) -> GateReport:
    passed = bool(checks) and all(c.passed for c in checks)
    base = dict(passed=passed, verdict="promote" if passed else "reject", checks=checks,
                policy="all_of(x)", candidate="churn/2", champion="churn/1",
                created_at="2024-05-01T00:00:00.000000Z")
    return GateReport(**{**base, **kw})


@given(st.lists(checks, max_size=5).map(tuple), st.one_of(st.none(), text))
def test_json_round_trip(cs, champion):
    r = report(cs, champion=champion)
    again = GateReport.from_json(r.to_json())
    assert again == r
    assert again.to_json() == r.to_json() and again.digest == r.digest


def test_contradictory_reports_cannot_be_built():
    ok = CheckResult("a", True, 1.0, ">= 0", "fine")
    bad = CheckResult("b", False, 0.1, ">= 0.5", "low")
    with pytest.raises(InputError):
        report((ok, bad), passed=True, verdict="promote")
    with pytest.raises(InputError):
        report((), passed=True, verdict="promote")  # promoting on no checks: fail closed
    with pytest.raises(InputError):
        report((ok,), verdict="reject")
    with pytest.raises(InputError):
        GateReport.from_json(b'{"format": "other"}')


def test_nan_observations_are_stored_as_none_and_reasons_name_failures():
    r = report((CheckResult("auc by region=b", False, float("nan"), ">= 0.6", "undefined"),
                CheckResult("auc bound", True, 0.8, ">= 0.6", "fine")))
    assert r.checks[0].observed is None
    assert r.reasons() == ("auc by region=b: observed none, expected >= 0.6 (undefined).",)
    assert json.loads(r.to_json())["verdict"] == "reject"


def test_html_is_escaped_and_self_contained():
    evil = "<script>alert('x')</script>"
    r = report((CheckResult(evil, False, evil, "& <b>", evil),), candidate=evil)
    page = r.to_html()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&amp; &lt;b&gt;" in page
    assert "http" not in page and "src=" not in page  # no external resources
    assert "Why rejected" in page and r.digest in page


def test_markdown_has_a_row_per_check_and_escapes_pipes():
    r = report((CheckResult("a|b", True, 1, ">= 0", "x"), CheckResult("c", False, 0, ">= 1", "y")))
    md = r.to_markdown()
    assert "a\\|b" in md and "**FAIL**" in md and "## Why rejected" in md
    assert md.count("\n| ") == 3  # header + two checks


def test_task_and_decision_metric_round_trip_and_stay_absent_from_older_reports() -> None:
    from governance.gate_report import CheckResult, GateReport
    check = CheckResult("rmse vs naive baseline", True, 0.4, "<= 1.0 x the baseline's rmse", "ok")
    old = GateReport(passed=True, verdict="promote", checks=(check,), policy="p", candidate="m/1",
                     champion=None, created_at="2024-05-01T00:00:00.000000Z")
    assert b"task" not in old.to_json() and GateReport.from_json(old.to_json()) == old
    new = GateReport(passed=True, verdict="promote", checks=(check,), policy="p", candidate="m/1",
                     champion=None, created_at="2024-05-01T00:00:00.000000Z", task="regression",
                     decision_metric="rmse")
    again = GateReport.from_json(new.to_json())
    assert again == new and (again.task, again.decision_metric) == ("regression", "rmse")
    assert new.digest != old.digest and "regression, decided on rmse" in new.to_markdown()
