"""A PII-tagged slice column's values never reach the gate report: not its JSON (signed into the
version), its Markdown (the Prefect artifact and the approval form), its page or its plots. Each
segment keeps its rows, so the gate decides exactly as on the values."""

from __future__ import annotations

import polars as pl
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from driftline.settings import GateSettings
from governance.export_pii import HASH_KEY_INFO, HASH_KEY_SALT
from governance.gate_plots import gate_page
from governance.report_pii import ReportPii
from registry.keys import SigningKey
from tests.governance.pii_corpus import CORPUS, EMAILS, NAMES, PHONES, leaks
from tests.usecases.small import tiny_frame
from usecases import train as uc

SECRET = SigningKey.from_private_key(ec.generate_private_key(ec.SECP256R1())).derive_secret(
    HASH_KEY_SALT, HASH_KEY_INFO)
VALUES = (EMAILS[0], PHONES[1], NAMES[2], NAMES[1])


def _pages(tiny_model, pii: ReportPii | None) -> tuple[list[str], object]:
    frame = tiny_frame(24).with_columns(pl.Series("contact", [VALUES[i % 4] for i in range(24)]))
    candidate = uc.score_holdout(tiny_model, frame, "y", "binary")
    evidence = uc.build_evidence(candidate, None, holdout=frame, training_rows=24, slice_columns=("contact",),
                                 quarantine_share=0.0, files={"model.txt": b"m"}, latency_ms_per_1k=1.0,
                                 pii=pii)
    report = uc.decide_gate(GateSettings(slice_columns=("contact",), min_slice_rows=0), evidence,
                            candidate="churn candidate (ffffffffffff)", champion=None)
    page = gate_page(report, uc.plot_evidence(tiny_model, evidence), version=1)
    return [report.to_json().decode(), report.to_markdown(), page], report


def test_without_a_policy_the_segments_show_the_values(tiny_model) -> None:
    texts, _ = _pages(tiny_model, None)
    assert all(set(leaks(t)) == set(VALUES) for t in texts)  # so the scans below can fail


@pytest.mark.parametrize("action", ["hash", "mask", "drop"])
def test_tagged_slice_column_values_never_in_the_report(tiny_model, action: str) -> None:
    texts, report = _pages(tiny_model, ReportPii({"contact": action}, SECRET))
    assert [leaks(t, CORPUS) for t in texts] == [[], [], []]
    clear = _pages(tiny_model, None)[1]
    # the same checks, decided alike on the same rows: only the segments' names differ
    assert sorted(repr((c.passed, c.observed)) for c in report.checks) == sorted(
        repr((c.passed, c.observed)) for c in clear.checks)
    segments = [c.name for c in report.checks if " by contact=" in c.name]
    assert len(segments) == 2 * len(VALUES)  # auc and logloss per segment
    assert "by contact=" in texts[2]  # the column's name stays
