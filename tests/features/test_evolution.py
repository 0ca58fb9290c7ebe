"""Schema evolution: what a contract may change without breaking stored rows, and the errors that
name the column, both definitions and the fix for what it may not."""

from __future__ import annotations

from typing import Any

import pytest

from driftline.errors import ContractError
from features.contracts import FeatureGroupContract, load_contracts
from features.evolution import check_evolution


@pytest.fixture
def old() -> FeatureGroupContract:
    return load_contracts()["customer_billing"]


def _changed(old: FeatureGroupContract, version: int = 2, **fields: Any) -> FeatureGroupContract:
    data = old.to_dict()
    columns = fields.pop("columns", data["columns"])
    return FeatureGroupContract.from_dict({**data, "version": version, "columns": columns, **fields})


def _columns(old: FeatureGroupContract) -> list[dict[str, Any]]:
    return [dict(c) for c in old.to_dict()["columns"]]


def test_unchanged_is_an_empty_plan(old) -> None:
    plan = check_evolution(old, old)
    assert not plan.changed and plan.group == "customer_billing"


def test_adding_a_nullable_column_is_accepted(old) -> None:
    plan = check_evolution(old, _changed(old, columns=_columns(old) + [{"name": "seats", "dtype": "int64"}]))
    assert plan.added == ("seats",) and plan.new_version == 2


def test_relaxing_and_constraints_are_accepted(old) -> None:
    columns = _columns(old)
    for col in columns:
        if col["name"] == "monthly_spend":
            col["max"] = 20000
        if col["name"] == "region":
            col["nullable"] = True
    plan = check_evolution(old, _changed(old, columns=columns))
    assert plan.constraints_changed == ("monthly_spend",) and plan.relaxed == ("region",)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda cols: [dict(c, dtype="float64") if c["name"] == "tenure_days" else c for c in cols],
     "column 'tenure_days' changed type from int64 to float64"),
    (lambda cols: [c for c in cols if c["name"] != "plan"], "required column 'plan' (string) was dropped"),
    (lambda cols: cols + [{"name": "seats", "dtype": "int64", "nullable": False}],
     "new column 'seats' (int64) is required"),
])
def test_breaking_changes_name_the_column(old, edit, message) -> None:
    with pytest.raises(ContractError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        check_evolution(old, _changed(old, columns=edit(_columns(old))))
    assert info.value.hint  # says what to do instead


def test_nullable_to_required_and_key_change_are_refused(old) -> None:
    wider = _changed(old, columns=_columns(old) + [{"name": "seats", "dtype": "int64"}])
    stricter = _changed(wider, version=3, columns=[dict(c, nullable=False) for c in _columns(wider)])
    with pytest.raises(ContractError, match="'seats' changed from nullable to required"):
        check_evolution(wider, stricter)
    with pytest.raises(ContractError, match="entity keys/event time changed"):
        check_evolution(old, _changed(old, entity_keys=["customer_id", "region"]))


def test_a_change_needs_a_higher_version(old) -> None:
    with pytest.raises(ContractError, match="version did not increase"):
        check_evolution(old, _changed(old, version=1, columns=_columns(old) + [{"name": "x", "dtype": "bool"}]))


def test_ingest_after_accepted_evolution(ingest_env) -> None:
    env = ingest_env
    header = "customer_id,event_time,plan,monthly_spend,payment_failures,tenure_days,region"
    env.ingest(env.csv("v1.csv", ["C000001,2024-01-01T00:00:00Z,basic,10,0,100,north"], "customer_billing", header))
    old = env.contracts["customer_billing"]
    new = _changed(old, columns=_columns(old) + [{"name": "seats", "dtype": "int64", "min": 1}])
    assert check_evolution(old, new).added == ("seats",)
    env.contracts["customer_billing"] = new
    v2 = env.csv("v2.csv", ["C000002,2024-01-01T00:00:00Z,premium,99,0,5,east,4"], "customer_billing",
                 header + ",seats")
    old_layout = env.csv("v1b.csv", ["C000003,2024-01-01T00:00:00Z,basic,1,0,1,west"], "customer_billing", header)
    reports = env.ingest(v2, old_layout)
    assert [r.status for r in reports] == ["stored", "stored"] and all(r.rows_stored == 1 for r in reports)
    read = env.store.read("customer_billing").sort("customer_id")
    assert read["seats"].to_list() == [None, 4, None]


def test_ingestion_admits_contract_changes_through_the_ledger(tmp_path):
    """The store remembers each group's contract: a compatible change is recorded with its history;
    a breaking one stops the ingest before anything is written, naming the column and both types."""
    import dataclasses

    import pytest as _pytest

    from driftline.errors import ContractError as _ContractError
    from features.contracts import ColumnSpec as _Col, load_contracts
    from features.evolution import ContractLedger
    from features.ingest import ingest_files
    from features.quarantine import Quarantine
    from features.store import FeatureStore

    contracts = load_contracts()
    billing = contracts["customer_billing"]
    landing = tmp_path / "landing"
    drop = landing / "customer_billing" / "d1.csv"
    drop.parent.mkdir(parents=True)
    drop.write_text("customer_id,event_time,plan,monthly_spend,payment_failures,tenure_days,region\n"
                    "C000001,2026-01-01T00:00:00Z,basic,10.5,0,30,north\n")
    store, quarantine = FeatureStore(tmp_path / "store"), Quarantine(tmp_path / "q")
    ingest_files([drop], contracts, store, quarantine, landing_root=landing)
    ledger = ContractLedger(store.root / "_contracts")
    assert ledger.current("customer_billing") == billing

    widened = dataclasses.replace(billing, version=2, columns=(*billing.columns, _Col("discount", "float64")))
    plan = ledger.admit(widened)
    assert plan is not None and "discount" in str(plan) and ledger.current("customer_billing") == widened

    broken_cols = tuple(_Col("tenure_days", "string", nullable=False) if c.name == "tenure_days" else c
                        for c in widened.columns)
    broken = dataclasses.replace(widened, version=3, columns=broken_cols)
    version = store.version("customer_billing")
    with _pytest.raises(_ContractError, match=r"'tenure_days'.*int64.*string"):
        ingest_files([drop], {**contracts, "customer_billing": broken}, store, quarantine, landing_root=landing)
    assert store.version("customer_billing") == version and ledger.current("customer_billing") == widened
