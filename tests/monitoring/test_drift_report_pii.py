"""The drift report never shows a PII-tagged categorical column's categories in clear: hashed or
masked bin labels, no chart at all for a dropped column; its statistics row stays, unchanged."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from governance.export_pii import HASH_KEY_INFO, HASH_KEY_SALT
from governance.report_pii import ReportPii
from monitoring.drift import detect_drift
from monitoring.drift_report import render_drift_html
from monitoring.profile import build_profile
from registry.keys import SigningKey
from tests.governance.pii_corpus import CORPUS, EMAILS, NAMES, PHONES, leaks

SECRET = SigningKey.from_private_key(ec.generate_private_key(ec.SECP256R1())).derive_secret(
    HASH_KEY_SALT, HASH_KEY_INFO)


def _frame(rng: np.random.Generator, n: int, p: list[float]) -> pl.DataFrame:
    return pl.DataFrame({"email": rng.choice(EMAILS, n, p=p), "contact": rng.choice(NAMES, n, p=p),
                         "phone": rng.choice(PHONES, n, p=p), "amount": rng.normal(0, 1, n)})


@pytest.fixture(scope="module")
def drifted():
    rng = np.random.default_rng(3)
    reference = _frame(rng, 2000, [0.6, 0.3, 0.1])
    profile = build_profile(reference, numeric=["amount"], categorical=["email", "contact", "phone"])
    current = _frame(rng, 2000, [0.1, 0.3, 0.6])
    report = detect_drift(profile, current)
    assert {"email", "contact", "phone"} <= set(report.drifted_features())
    return report, profile, current


def test_without_a_policy_the_categories_are_charted_in_clear(drifted) -> None:
    """The corpus does reach a page when nothing is tagged: the scans below can fail."""
    assert set(leaks(render_drift_html(*drifted, stable_charts=True))) == set(CORPUS)


@pytest.mark.parametrize("action", ["hash", "mask", "drop"])
def test_tagged_categories_never_in_clear(drifted, action: str) -> None:
    report, profile, current = drifted
    pii = ReportPii({"email": action, "contact": action, "phone": action}, SECRET)
    page = render_drift_html(profile=profile, current=current, report=report, stable_charts=True, pii=pii)
    assert leaks(page) == []
    for name in ("email", "contact", "phone"):  # the column's name and statistics stay
        assert f"<td>{name}</td>" in page
    charts = page.count('class="drift-plot"')
    assert charts == (1 if action == "drop" else 4)  # only 'amount' when the PII columns are dropped
    if action == "hash":
        assert pii.display("email", EMAILS[0]) in page  # the export's token: report and export match


def test_numeric_tagged_column_bins_are_numbered(drifted) -> None:
    report, profile, current = drifted
    pii = ReportPii({"amount": "mask"}, SECRET)
    page = render_drift_html(report, profile, current, stable_charts=True, pii=pii)
    assert "bin 1" in page and "≤ " not in page
