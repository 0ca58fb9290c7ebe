"""A column's PII export policy is part of its contract: declared, validated, written and read back."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftline.errors import ContractError
from features.contract_toml import contract_toml
from features.contracts import ColumnSpec, FeatureGroupContract, load_contract
from features.infer import infer_contract


def _contract(**pii: object) -> FeatureGroupContract:
    return FeatureGroupContract("people", 1, ("k",), "at", (
        ColumnSpec("k", "string", nullable=False, pii=pii.get("k", False)),  # type: ignore[arg-type]
        ColumnSpec("at", "timestamp", nullable=False),
        ColumnSpec("email", "string", pii=pii.get("email", False)),  # type: ignore[arg-type]
        ColumnSpec("phone", "string", pii=pii.get("phone", False))))  # type: ignore[arg-type]


@pytest.mark.parametrize("policies", [{"k": "hash", "email": "mask", "phone": "drop"},
                                      {"k": True, "email": "hash"}, {}])
def test_declared_policies_round_trip_through_toml_and_dict(tmp_path: Path, policies: dict) -> None:
    contract = _contract(**policies)
    path = tmp_path / "people.toml"
    path.write_text(contract_toml(contract), encoding="utf-8")
    assert load_contract(path) == contract == FeatureGroupContract.from_dict(contract.to_dict())
    assert load_contract(path).pii_policies == {k: (None if v is True else v) for k, v in policies.items()}
    for name, value in policies.items():
        line = "pii = true" if value is True else f'pii = "{value}"'
        assert line in path.read_text(encoding="utf-8").split(f'name = "{name}"')[1].split("[[columns]]")[0]


@pytest.mark.parametrize("bad", ["clear", "MASK", "", "hash ", 1, None])
def test_an_unknown_policy_is_refused_with_a_hint(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ContractError) as caught:
        _contract(email=bad)
    assert "pii" in str(caught.value) and caught.value.hint


def test_a_bad_policy_in_a_toml_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "people.toml"
    path.write_text(contract_toml(_contract(email="mask")).replace('pii = "mask"', 'pii = "encrypt"'),
                    encoding="utf-8")
    with pytest.raises(ContractError, match="encrypt"):
        load_contract(path)


def test_infer_sets_a_policy_on_every_suspect_so_none_leaves_in_clear(tmp_path: Path) -> None:
    rows = ["id,at,email,phone,n"] + [f"{i},2026-01-0{1 + i % 9}T00:00:00Z,p{i}@example.org,+44 20 7946 {i:04d},{i}"
                                      for i in range(30)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = infer_contract(tmp_path / "d.csv", group="people", entity=["id"], time="at")
    assert result.contract.pii_policies == {"email": "mask", "phone": "mask"}
    written = contract_toml(result.contract, column_notes=result.notes)
    assert written.splitlines().count('pii = "mask"') == 2 and '"hash" keeps it joinable' in written
