"""Ingesting into a named group (files from anywhere), a contract that ignores undeclared columns,
and the file-wide refusals that name the column and the fix: a misspelt column, an event-time
column of which no value reads, a group without a contract. A refused drop stores nothing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from driftline.errors import ContractError, NotFoundError
from features.contract_toml import contract_toml
from features.contracts import FeatureGroupContract, load_contract
from features.validation import check_header

HEADER = "customer_id,event_time,sessions,minutes_active,pages_per_session,support_tickets,device"


def _outside(tmp_path: Path, name: str, text: str) -> Path:
    """A drop outside the data home's landing folder, as a user names one on the command line."""
    path = tmp_path / "elsewhere" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _ignoring(ingest_env) -> None:
    contract = ingest_env.contracts["customer_activity"]
    ingest_env.contracts["customer_activity"] = dataclasses.replace(contract, undeclared="ignore")


def test_a_file_outside_landing_is_stored_in_the_named_group(ingest_env, row, tmp_path: Path) -> None:
    drop = _outside(tmp_path, "any.csv", "\n".join([HEADER, row(1), row(2)]) + "\n")
    (report,) = ingest_env.ingest(drop, group="customer_activity")
    assert (report.group, report.status, report.rows_stored) == ("customer_activity", "stored", 2)
    assert ingest_env.store.read("customer_activity").height == 2
    # Without the group, the same file is refused, and the refusal says how to name it.
    other = _outside(tmp_path, "other.csv", "\n".join([HEADER, row(3)]) + "\n")
    (refused,) = ingest_env.ingest(other)
    assert refused.status == "rejected" and "--group" in (refused.error or "")


def test_a_named_group_without_a_contract_is_refused_before_anything_is_written(ingest_env, row,
                                                                                tmp_path: Path) -> None:
    drop = _outside(tmp_path, "any.csv", "\n".join([HEADER, row(1)]) + "\n")
    with pytest.raises(NotFoundError, match="'nosuch'") as raised:
        ingest_env.ingest(drop, group="nosuch")
    assert "contract infer" in (raised.value.hint or "")
    assert not ingest_env.home.store.exists() or not any(ingest_env.home.store.iterdir())
    assert not ingest_env.quarantine.records()


def test_undeclared_columns_are_ignored_and_named_when_the_contract_says_so(ingest_env, row) -> None:
    _ignoring(ingest_env)
    drop = ingest_env.csv("extra.csv", [row(1) + ",x,7"], header=HEADER + ",note,score")
    report = ingest_env.one(drop)
    assert (report.status, report.rows_stored, report.ignored_columns) == ("stored", 1, ("note", "score"))
    stored = ingest_env.store.read("customer_activity")
    assert "note" not in stored.columns and "score" not in stored.columns


def test_undeclared_columns_in_json_lines_are_ignored_too(ingest_env) -> None:
    _ignoring(ingest_env)
    line = ('{"customer_id": "C1", "event_time": "2024-01-01T00:00:00Z", "sessions": 1, "minutes_active": 1.0, '
            '"pages_per_session": null, "support_tickets": 0, "device": "mobile", "extra": 1}\n')
    report = ingest_env.one(ingest_env.drop("x.jsonl", line))
    assert (report.status, report.ignored_columns) == ("stored", ("extra",))


def test_undeclared_columns_are_refused_by_default_naming_them_and_the_option(ingest_env, row) -> None:
    drop = ingest_env.csv("extra.csv", [row(1) + ",x"], header=HEADER + ",note")
    report = ingest_env.one(drop)
    assert report.status == "rejected" and report.rows_stored == 0
    assert "note" in (report.error or "") and 'undeclared = "ignore"' in (report.error or "")


def test_reserved_columns_are_refused_even_when_undeclared_ones_are_ignored(ingest_env, row) -> None:
    _ignoring(ingest_env)
    report = ingest_env.one(ingest_env.csv("r.csv", [row(1) + ",x"], header=HEADER + ",_source"))
    assert report.status == "rejected" and "_source" in (report.error or "")


def test_a_misspelt_column_is_named_with_the_declared_one_it_resembles(ingest_env) -> None:
    contract = ingest_env.contracts["customer_activity"]
    with pytest.raises(Exception, match="customer_id") as raised:
        check_header(["customerid", *HEADER.split(",")[1:]], contract, file="a.csv")
    assert "rename 'customerid' to 'customer_id'" in str(raised.value)


def test_an_event_time_column_of_which_no_value_reads_refuses_the_drop_naming_it(ingest_env, row) -> None:
    drop = ingest_env.csv("us.csv", [row(1, day="03/01/2024 10:00"), row(2, day="03/02/2024 10:00")])
    report = ingest_env.one(drop)
    assert report.status == "rejected" and report.rows_stored == 0 and report.delta_version is None
    assert "time column 'event_time'" in (report.error or "") and "03/01/2024 10:00" in (report.error or "")
    assert "ISO-8601" in (report.error or "")
    assert "customer_activity" not in ingest_env.store.groups()
    (record,) = ingest_env.quarantine.records()
    assert record.kind == "file"  # kept whole, byte for byte: bad input is recorded, never lost


def test_a_few_unreadable_times_are_still_quarantined_row_by_row(ingest_env, row) -> None:
    drop = ingest_env.csv("mixed.csv", [row(1), row(2, day="yesterday")])
    report = ingest_env.one(drop)
    assert (report.status, report.rows_stored, report.rows_quarantined) == ("stored", 1, 1)


def test_the_undeclared_option_round_trips_and_a_bad_value_is_refused(ingest_env, tmp_path: Path) -> None:
    contract = dataclasses.replace(ingest_env.contracts["customer_activity"], undeclared="ignore")
    assert FeatureGroupContract.from_dict(contract.to_dict()) == contract
    path = tmp_path / "c.toml"
    path.write_text(contract_toml(contract), encoding="utf-8")
    assert load_contract(path) == contract
    # The default is left out of the stored form: groups admitted before the option read the same.
    assert "undeclared" not in ingest_env.contracts["customer_activity"].to_dict()
    with pytest.raises(ContractError, match="undeclared"):
        FeatureGroupContract.from_dict({**contract.to_dict(), "undeclared": "keep"})
