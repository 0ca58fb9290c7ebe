"""Aliases: promotion rules, rollback through the history, and the append-only history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from driftline.errors import (InputError, IntegrityError, KeyMaterialError, NotFoundError, SignatureError,
                              UntrustedKeyError)
from registry import AliasChange, KeyRing, ModelRegistry, PromotionRefused, SigningKey
from driftline.home import DataHome
from registry.aliases import AliasState
from tests.registry.conftest import PASSPHRASE

ROOT = Path(__file__).resolve().parents[2]


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


# ---------------------------------------------------------------- signed alias files
def champion_file(registry: ModelRegistry) -> Path:
    return registry.root / "churn" / "aliases.json"


def repoint(registry: ModelRegistry, version: int) -> None:
    """What an attacker without the key can do: edit the file, keeping it self-consistent."""
    path = champion_file(registry)
    doc = json.loads(path.read_bytes())
    doc["aliases"]["champion"] = version
    doc["history"][-1]["to_version"] = version
    path.write_bytes(json.dumps(doc).encode())


def test_an_alias_edited_to_a_rejected_version_is_refused(registry: ModelRegistry, key: SigningKey) -> None:
    good, rejected = add(registry, key), add(registry, key, "rejected")
    registry.promote("churn", good, actor="a", reason="r")
    repoint(registry, rejected)
    with pytest.raises(IntegrityError):
        registry.load("churn", "champion")
    with pytest.raises(IntegrityError):
        registry.alias("churn", "champion")


def test_an_alias_edited_to_another_accepted_version_is_refused(registry: ModelRegistry, key: SigningKey) -> None:
    v1, v2 = add(registry, key), add(registry, key)
    registry.promote("churn", v1, actor="a", reason="r")
    repoint(registry, v2)
    with pytest.raises(SignatureError, match="aliases.json"):
        registry.load("churn", "champion")


def test_an_unsigned_or_copied_alias_file_is_refused(registry: ModelRegistry, key: SigningKey) -> None:
    add(registry, key)
    registry.promote("churn", 1, actor="a", reason="r")
    signed = champion_file(registry).read_bytes()
    doc = json.loads(signed)
    del doc["signature"]
    champion_file(registry).write_bytes(json.dumps(doc).encode())
    with pytest.raises(SignatureError, match="no signature"):
        registry.aliases("churn")
    # The same signed file under another model's name: the signature covers the model too.
    registry.register("fraud", files={"model.txt": b"m"}, metadata={}, status="accepted", key=key)
    (registry.root / "fraud" / "aliases.json").write_bytes(signed)
    with pytest.raises(SignatureError):
        registry.aliases("fraud")


def test_an_alias_signed_by_a_planted_key_is_refused(tmp_path: Path, registry: ModelRegistry, key: SigningKey) -> None:
    add(registry, key)
    registry.promote("churn", 1, actor="a", reason="r")
    evil = KeyRing(tmp_path / "evil").init(b"evil")
    (tmp_path / "keys" / "trusted" / f"{evil.key_id}.pub").write_bytes(evil.public_pem)
    state = AliasState(aliases={"champion": 1}, history=tuple(registry.alias_history("churn")))
    champion_file(registry).write_bytes(state.to_bytes("churn", evil))
    with pytest.raises(UntrustedKeyError):
        registry.load("churn", "champion")


def test_loading_a_rejected_version_by_number_is_refused(registry: ModelRegistry, key: SigningKey) -> None:
    add(registry, key, "rejected")
    with pytest.raises(InputError, match="only accepted"):
        registry.load("churn", 1)


def test_moving_an_alias_needs_a_signing_key(registry: ModelRegistry, key: SigningKey) -> None:
    add(registry, key)
    reader = ModelRegistry(registry.root, registry.trust)
    with pytest.raises(KeyMaterialError, match="signing key"):
        reader.promote("churn", 1, actor="a", reason="r")
    assert not champion_file(registry).exists()


def test_every_flipped_byte_of_an_alias_file_is_refused(registry: ModelRegistry, key: SigningKey) -> None:
    v1, v2 = add(registry, key), add(registry, key)
    registry.promote("churn", v1, actor="a", reason="r")
    registry.promote("churn", v2, actor="b", reason="better")
    path = champion_file(registry)
    good = path.read_bytes()
    for offset in range(len(good)):
        data = bytearray(good)
        data[offset] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(IntegrityError):
            registry.aliases("churn")
    path.write_bytes(good)
    assert registry.aliases("churn") == {"champion": v2} and offset > 400


def test_the_cli_refuses_a_forged_champion_with_exit_3(tmp_path: Path, registry: ModelRegistry,
                                                      key: SigningKey) -> None:
    home = tmp_path  # the fixtures put keys/ and registry/ right under tmp_path: a data home
    good, rejected = add(registry, key), add(registry, key, "rejected")
    registry.promote("churn", good, actor="a", reason="r")
    repoint(registry, rejected)
    (home / DataHome.MARKER).touch()  # the fixtures built keys/ and registry/ by hand: mark it a data home
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DRIFTLINE_KEY_PASSPHRASE": PASSPHRASE.decode(),
           "DRIFTLINE_WITNESS_DIR": str(tmp_path.parent / f"{tmp_path.name}-witness")}  # outside the home
    result = subprocess.run([sys.executable, "-m", "flows", "--home", str(home), "registry", "show", "churn",
                             "champion"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "aliases.json" in result.stderr and "Traceback" not in result.stderr
