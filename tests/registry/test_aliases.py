"""Aliases: promotion rules, rollback through the history, and the append-only history."""

from __future__ import annotations

import pytest

from driftline.errors import InputError, NotFoundError, SignatureError
from registry import AliasChange, ModelRegistry, PromotionRefused, SigningKey


def add(registry: ModelRegistry, key: SigningKey, status: str = "accepted") -> int:
    return registry.register("churn", files={"model.txt": b"m"}, metadata={}, status=status, key=key).version


def test_promote_records_who_when_from_to_and_why(registry: ModelRegistry, key: SigningKey) -> None:
    v1, v2 = add(registry, key), add(registry, key)
    first = registry.promote("churn", v1, actor="ana", reason="first gate pass")
    second = registry.promote("churn", v2, actor="bo", reason="better auc")
    assert (second.from_version, second.to_version, second.actor, second.action) == (1, 2, "bo", "promote")
    assert registry.alias("churn", "champion") == 2
    assert registry.aliases("churn") == {"champion": 2}
    assert registry.alias_history("churn") == [first, second]
    assert AliasChange.from_json(second.to_json()) == second


def test_promote_refuses_rejected_and_unverifiable_versions(registry: ModelRegistry, key: SigningKey) -> None:
    rejected, good = add(registry, key, "rejected"), add(registry, key)
    with pytest.raises(PromotionRefused, match="rejected"):
        registry.promote("churn", rejected, actor="ana", reason="try")
    (registry.root / "churn" / str(good) / "model.txt").write_bytes(b"tampered")
    with pytest.raises(SignatureError):
        registry.promote("churn", good, actor="ana", reason="try")
    assert registry.aliases("churn") == {} and registry.alias_history("churn") == []


def test_rollback_walks_back_through_accepted_versions(registry: ModelRegistry, key: SigningKey) -> None:
    v1, v2, bad, v4 = add(registry, key), add(registry, key), add(registry, key, "rejected"), add(registry, key)
    registry.promote("churn", v1, actor="a", reason="r")
    registry.promote("churn", v2, actor="a", reason="r")
    registry.set_alias("churn", "champion", bad, actor="a", reason="manual mistake")
    registry.promote("churn", v4, actor="a", reason="r")
    change = registry.rollback("churn", actor="oncall", reason="v4 misbehaves")
    assert (change.from_version, change.to_version, change.action) == (v4, v2, "rollback")
    assert registry.rollback("churn", actor="oncall", reason="again").to_version == v1
    with pytest.raises(NotFoundError):
        registry.rollback("churn", actor="oncall", reason="nothing left")
    assert [c.to_version for c in registry.alias_history("churn")] == [v1, v2, bad, v4, v2, v1]


def test_rollback_skips_a_version_that_no_longer_verifies(registry: ModelRegistry, key: SigningKey) -> None:
    v1, v2, v3 = add(registry, key), add(registry, key), add(registry, key)
    for v in (v1, v2, v3):
        registry.promote("churn", v, actor="a", reason="r")
    (registry.root / "churn" / str(v2) / "model.txt").write_bytes(b"tampered")
    assert registry.rollback("churn", actor="a", reason="r").to_version == v1


@pytest.mark.parametrize("name", ["latest", "Champion", "1", "", "a b"])
def test_alias_names_are_checked(registry: ModelRegistry, key: SigningKey, name: str) -> None:
    add(registry, key)
    with pytest.raises(InputError):
        registry.set_alias("churn", name, 1, actor="a", reason="r")


def test_alias_to_a_missing_version_and_without_reason(registry: ModelRegistry, key: SigningKey) -> None:
    add(registry, key)
    with pytest.raises(NotFoundError):
        registry.set_alias("churn", "champion", 7, actor="a", reason="r")
    with pytest.raises(InputError):
        registry.set_alias("churn", "champion", 1, actor="a", reason=" ")


def test_damaged_alias_file_is_an_integrity_error(registry: ModelRegistry, key: SigningKey) -> None:
    add(registry, key)
    registry.promote("churn", 1, actor="a", reason="r")
    (registry.root / "churn" / "aliases.json").write_bytes(b"{not json")
    with pytest.raises(SignatureError, match="damaged"):
        registry.aliases("churn")
