"""The quarantine: row records with reasons, whole files kept byte for byte, idempotent rewrites,
and erasure that removes an entity's rows and files but keeps a record without personal data."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.canonical import canonical_json
from driftline.errors import StoreError
from features.quarantine import Quarantine, rows_as_json_lines


def _bad(*ids: str) -> pl.DataFrame:
    return pl.DataFrame({"customer_id": list(ids), "sessions": ["-1"] * len(ids),
                         "_row": list(range(1, len(ids) + 1)), "_reason": ["sessions: -1 is below min 0"] * len(ids)})


def test_rows_are_recorded_with_reasons(tmp_path: Path) -> None:
    q = Quarantine(tmp_path)
    path = q.put_rows(group="g", source=Path("d.csv"), digest="abc", rows=_bad("C1", "C2"))
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines[0] == {"customer_id": "C1", "sessions": "-1", "_row": 1, "_reason": "sessions: -1 is below min 0"}
    (record,) = q.records()
    assert (record.group, record.source, record.digest, record.kind, record.rows) == ("g", "d.csv", "abc", "rows", 2)
    with pytest.raises(StoreError, match="no _reason"):
        q.put_rows(group="g", source=Path("d.csv"), digest="abc", rows=_bad("C1").drop("_reason"))


def test_rewrites_replace_instead_of_adding(tmp_path: Path) -> None:
    q = Quarantine(tmp_path)
    for _ in range(2):  # an interrupted ingestion run again writes the same parts
        q.put_rows(group="g", source=Path("d.csv"), digest="abc", rows=_bad("C1"), part=0)
        q.put_rows(group="g", source=Path("d.csv"), digest="abc", rows=_bad("C2"), part=1)
    assert q.records()[0].rows == 2
    source = tmp_path / "d.csv"
    source.write_bytes(b"\x00junk")
    with source.open("rb") as data:
        copy = q.put_file(group="g", source=source, digest="abc", reason="d.csv: unreadable", data=data)
    (record,) = q.records()
    assert record.kind == "file" and record.rows == 0 and copy.read_bytes() == b"\x00junk"


def test_erasure_across_rows_and_files(tmp_path: Path) -> None:
    q = Quarantine(tmp_path / "q")
    q.put_rows(group="g", source=Path("a.csv"), digest="a", rows=_bad("C1", "C2", "C1"))
    drop = tmp_path / "b.csv"
    drop.write_text("customer_id;x\nC2;1\n")
    with drop.open("rb") as data:
        q.put_file(group="g", source=drop, digest="b", reason="semicolons", data=data)
    other = tmp_path / "c.csv"
    other.write_text("customer_id;x\nC9;1\n")
    with other.open("rb") as data:
        q.put_file(group="h", source=other, digest="c", reason="semicolons", data=data)
    assert q.delete_entities("customer_id", ["C2"]) == 2  # one row, one file
    records = {r.digest: r for r in q.records()}
    assert records["a"].rows == 2 and records["b"].erased and not records["c"].erased
    assert not list(records["b"].path.glob("drop-*")) and records["b"].reason == "semicolons"
    assert b"C2" not in b"".join(p.read_bytes() for p in (tmp_path / "q").rglob("*") if p.is_file())
    assert q.delete_entities("customer_id", []) == 0


@settings(max_examples=200)
@given(st.lists(st.tuples(st.one_of(st.none(), st.text()), st.one_of(st.none(), st.text()),
                          st.integers(-2**63, 2**63 - 1)), max_size=8))
def test_quarantined_rows_are_written_as_canonical_json_lines(rows) -> None:
    # polars writes the lines; they must be the bytes canonical_json gives each row, for any text.
    frame = pl.DataFrame({"zeta": [r[0] for r in rows], "Alpha": [r[1] for r in rows], "_row": [r[2] for r in rows]},
                         schema={"zeta": pl.String, "Alpha": pl.String, "_row": pl.Int64})
    expected = b"".join(canonical_json(row) + b"\n" for row in frame.to_dicts())
    assert rows_as_json_lines(frame) == expected
