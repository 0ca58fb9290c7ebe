"""Contracts from data: formats, types, PII suspects, human numbers, @row, the task, refusals."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from driftline.errors import ContractError, IngestError, InputError
from features.contract_toml import contract_toml
from features.contracts import ColumnSpec, FeatureGroupContract, contracts_in_use, load_contract
from features.infer import infer_contract
from features.ingest import ingest_files
from features.pii_suspects import suspect
from features.quarantine import Quarantine
from features.store import FeatureStore
from driftline.home import DataHome

ROWS = [{"order_id": f"O{i}", "ordered_at": f"2024-01-{i % 28 + 1:02d}T10:00:00Z", "amount": f"${i * 1000 + 0.5:,.2f}",
         "discount": f"{i % 20}%", "qty": f"{i * 700:,}", "status": ["open", "closed"][i % 2],
         "email": f"user{i}@example.com", "score": str(i / 3)} for i in range(1, 41)]


def _csv(path: Path, rows: list[dict[str, str]]) -> Path:
    lines = [",".join(rows[0])] + [",".join(f'"{v}"' for v in r.values()) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _write(tmp_path: Path, fmt: str) -> Path:
    if fmt == "csv":
        return _csv(tmp_path / "d.csv", ROWS)
    if fmt == "csv.gz":
        raw = _csv(tmp_path / "raw.csv", ROWS).read_bytes()
        (tmp_path / "d.csv.gz").write_bytes(gzip.compress(raw))
        return tmp_path / "d.csv.gz"
    if fmt == "jsonl":
        (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
        return tmp_path / "d.jsonl"
    pl.DataFrame(ROWS).write_parquet(tmp_path / "d.parquet")
    return tmp_path / "d.parquet"


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "jsonl", "parquet"])
def test_every_format_gives_the_same_contract(tmp_path: Path, fmt: str) -> None:
    result = infer_contract(_write(tmp_path, fmt), group="orders", entity=["order_id"], time="ordered_at")
    c = result.contract
    assert [c.column(n).dtype for n in ("ordered_at", "amount", "discount", "qty", "score")] == \
        ["timestamp", "float64", "float64", "int64", "float64"]
    assert (c.column("amount").parse, c.column("discount").parse, c.column("qty").parse) == \
        ("currency", "percent", "thousands")
    assert c.column("status").allowed == ("closed", "open") and c.column("status").categorical
    assert c.column("email").pii and [p.column for p in result.pii] == ["email"]
    assert c.column("qty").min == 0 and c.column("qty").max >= 28000  # widened past the observed 28,000
    assert not c.column("order_id").nullable and not c.column("order_id").pii


def test_a_folder_is_read_as_one_sample(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    _csv(tmp_path / "in" / "a.csv", ROWS[:20])
    _csv(tmp_path / "in" / "b.csv", ROWS[20:])
    (tmp_path / "in" / "readme.txt").write_text("not data")
    result = infer_contract(tmp_path / "in", group="orders", entity=["order_id"], time="ordered_at")
    assert result.files == ("a.csv", "b.csv") and result.rows_sampled == 40


def test_the_written_toml_loads_as_the_same_contract(tmp_path: Path) -> None:
    result = infer_contract(_write(tmp_path, "csv"), group="orders", entity=["order_id"], time="ordered_at")
    tricky = FeatureGroupContract(
        "t", 1, ("k",), "at", (ColumnSpec("k", "string", nullable=False, description='quote " back \\ tab\t é'),
                               ColumnSpec("at", "date", nullable=False),
                               ColumnSpec("x", "float64", min=-0.5, max=1e20, allowed=None, pii=True)))
    for contract in (result.contract, tricky):
        path = tmp_path / f"{contract.name}.toml"
        path.write_text(contract_toml(contract, header="a\nb", column_notes=result.notes), encoding="utf-8")
        assert load_contract(path) == contract


PII = {  # column -> (values, expected kind or None)
    "contact": (["ann@example.com", "bo.b+x@mail.example.org"] * 5, "an email address"),
    "who": (["Ann Lee", "Bob Stone", "Cy Twombly", "Di Prince", "Ed O'Neil"], "a person's name"),
    "tel_no": (["+1 555 010 0001", "+44 20 7946 0003", "(555) 010-0002"] * 3, "a phone number"),
    "src": (["10.0.0.1", "192.168.1.9", "2001:db8::1"] * 3, "an IP address"),
    "ident": (["123-45-6789", "987-65-4321"] * 4, "a national id"),
    "pay": (["4111 1111 1111 1111", "5500-0000-0000-0004"] * 4, "a card number"),
    "loc": (["12 Main Street", "5 Oak Ave", "221B Baker St"] * 3, "a street address"),
    "remark": ([f"The customer called on day {i} about a late parcel and was refunded" for i in range(6)],
               "free text"),
    "first_name": (["x"], "a person's name"),
    # false positives to avoid
    "plan": (["Premium Plan", "Basic Plan"] * 10, None),
    "version": (["1.2.3", "2.0.1"] * 5, None),
    "sku": (["AB-1234", "CD-9876"] * 5, None),
    "amount_code": (["4111111111111112", "1234567812345678"] * 4, None),  # fails Luhn
    "city": (["New York", "Paris", "New York", "Paris"] * 3, None),
    "customer_id": (["C000123", "C000124"] * 4, None),
    "ticket_ref": (["2024-01-01", "2024-02-01"] * 4, None),
}


@pytest.mark.parametrize("column", list(PII))
def test_pii_suspects_true_and_false_positives(column: str) -> None:
    values, kind = PII[column]
    found = suspect(column, values, textual=True)
    assert (found.kind if found else None) == kind


def test_mixed_numeric_text_stays_a_string_and_says_why(tmp_path: Path) -> None:
    rows = [{**r, "amount": r["amount"] if i % 3 else "call us"} for i, r in enumerate(ROWS)]
    result = infer_contract(_csv(tmp_path / "m.csv", rows), group="m", entity=["order_id"], time="ordered_at")
    assert result.contract.column("amount").dtype == "string" and result.contract.column("amount").parse is None
    assert any("amount: left as a string" in p and "'call us'" in p for p in result.parsed)


def test_currency_percent_thousands_end_to_end_into_the_store(tmp_path: Path) -> None:
    data = _csv(tmp_path / "d.csv", ROWS)
    contract = infer_contract(data, group="orders", entity=["order_id"], time="ordered_at").contract
    home = DataHome(tmp_path / "home").ensure()
    drop = home.landing / "orders" / "d.csv"
    drop.parent.mkdir(parents=True)
    bad = [*ROWS[:3], {**ROWS[3], "amount": "$12x"}]
    _csv(drop, bad)
    store = FeatureStore(home.store)
    [report] = ingest_files([drop], {"orders": contract}, store, Quarantine(home.quarantine),
                            landing_root=home.landing, now=datetime(2025, 1, 1, tzinfo=UTC))
    assert (report.rows_stored, report.rows_quarantined) == (3, 1)
    assert report.reasons == {"amount: not float64": 1}
    stored = store.read("orders").sort("order_id")
    assert stored["amount"].to_list() == [1000.5, 2000.5, 3000.5]
    assert stored["discount"].to_list() == [1.0, 2.0, 3.0] and stored["qty"].to_list() == [700, 1400, 2100]


def test_row_entity_gives_a_content_id_and_a_resent_row_is_stored_once(tmp_path: Path) -> None:
    rows = [{k: v for k, v in r.items() if k != "order_id"} for r in ROWS[:5]]
    contract = infer_contract(_csv(tmp_path / "d.csv", rows), group="visits", entity=["@row"],
                              time="ordered_at").contract
    assert contract.entity_keys == ("row_id",) and contract.column("row_id").generated == "row"
    home = DataHome(tmp_path / "home").ensure()
    (home.landing / "visits").mkdir(parents=True)
    first = _csv(home.landing / "visits" / "a.csv", rows[:3])
    again = _csv(home.landing / "visits" / "b.csv", rows[2:])  # row 3 sent again, in another file
    store = FeatureStore(home.store)
    for drop in (first, again):
        ingest_files([drop], {"visits": contract}, store, Quarantine(home.quarantine), landing_root=home.landing,
                     now=datetime(2025, 1, 1, tzinfo=UTC))
    stored = store.read("visits")
    assert stored.height == 5 and stored["row_id"].n_unique() == 5  # the re-sent row is one row
    carrying = _csv(home.landing / "visits" / "c.csv", [{"row_id": "x", **rows[0]}])
    [report] = ingest_files([carrying], {"visits": contract}, store, Quarantine(home.quarantine),
                            landing_root=home.landing, now=datetime(2025, 1, 1, tzinfo=UTC))
    assert report.status == "rejected" and "generated by driftline" in report.error


def test_no_time_column_is_refused_with_the_reason_and_candidates(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="point-in-time") as caught:
        infer_contract(_csv(tmp_path / "d.csv", ROWS), group="g", entity=["order_id"], time=None)
    assert "ordered_at" in str(caught.value) and caught.value.hint


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"entity": ["nope"], "time": "ordered_at"}, "nope not in the data"),
    ({"entity": ["order_id"], "time": "status"}, "does not read as a timestamp"),
    ({"entity": ["order_id"], "time": "ordered_at", "label": "gone"}, "gone not in the data"),
])
def test_bad_columns_are_named(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        infer_contract(_csv(tmp_path / "d.csv", ROWS), group="g", **kwargs)


def test_unreadable_and_missing_data_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        infer_contract(tmp_path / "none.csv", group="g", entity=["a"], time="t")
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    with pytest.raises(IngestError, match="not a readable Parquet"):
        infer_contract(tmp_path / "x.parquet", group="g", entity=["a"], time="t")


@pytest.mark.parametrize(("labels", "task"), [(["0", "1"], "binary"), (["yes", "no"], "binary"),
                                              (["1", "2", "3"], "multiclass"), (["a", "b", "c"], "multiclass"),
                                              ([str(i * 0.37) for i in range(30)], "regression")])
def test_task_is_guessed_from_the_label(tmp_path: Path, labels: list[str], task: str) -> None:
    rows = [{**r, "y": labels[i % len(labels)]} for i, r in enumerate(ROWS)]
    result = infer_contract(_csv(tmp_path / "d.csv", rows), group="g", entity=["order_id"], time="ordered_at",
                            label="y")
    assert result.contract.task == task and "--task" in result.task_note
    given = infer_contract(tmp_path / "d.csv", group="g", entity=["order_id"], time="ordered_at", label="y",
                           task="regression")
    assert given.contract.task == "regression"


def test_contracts_in_use_home_wins_and_the_contracts_dir_stands_alone(tmp_path: Path) -> None:
    home = tmp_path / "contracts"
    home.mkdir()
    packaged = contracts_in_use(None, None)
    mine = FeatureGroupContract("churn_labels", 2, ("k",), "t", (ColumnSpec("k", "string", nullable=False),
                                                                 ColumnSpec("t", "timestamp", nullable=False)))
    (home / "mine.toml").write_text(contract_toml(mine), encoding="utf-8")
    both = contracts_in_use(None, home)
    assert both["churn_labels"] == mine and set(both) == set(packaged)
    assert contracts_in_use(home, None) == {"churn_labels": mine}


def test_bad_parse_and_generated_options_are_refused() -> None:
    with pytest.raises(ContractError, match="parse"):
        ColumnSpec("a", "string", parse="currency")
    with pytest.raises(ContractError, match="generated"):
        ColumnSpec("a", "string", generated="uuid", nullable=False)
    with pytest.raises(ContractError, match="only entity key"):
        FeatureGroupContract("g", 1, ("k",), "t", (ColumnSpec("k", "string", nullable=False),
                                                   ColumnSpec("r", "string", nullable=False, generated="row"),
                                                   ColumnSpec("t", "timestamp", nullable=False)))
