"""Registry versions: immutable numbered folders, load-with-verify, revocation and re-signing,
and distinct consecutive numbers under concurrent registration."""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path

import pytest

from driftline.errors import InputError, NotFoundError, SignatureError, UntrustedKeyError
from registry import KeyRing, ModelRegistry, SigningKey

PASSPHRASE = b"correct horse battery staple"


def register(registry: ModelRegistry, key: SigningKey, *, status: str = "accepted", **meta):
    return registry.register("churn", files={"model.txt": b"tree 1\n", "profile/ref.json": b"{}"},
                             metadata={"auc": 0.8, **meta}, status=status, key=key)


def test_register_writes_a_signed_version(registry: ModelRegistry, key: SigningKey) -> None:
    version = register(registry, key, run="r1")
    assert (version.model, version.version, version.status, version.key_id) == ("churn", 1, "accepted", key.key_id)
    assert sorted(p.name for p in version.path.iterdir()) == ["metadata.json", "model.sig", "model.txt", "profile"]
    metadata = json.loads((version.path / "metadata.json").read_bytes())
    assert metadata == {"auc": 0.8, "run": "r1", "model": "churn", "version": 1, "status": "accepted",
                        "created_at": version.created_at}
    verified = registry.verify("churn", 1)
    assert verified.extra["driftline"] == metadata  # registry metadata is inside the signed predicate
    assert registry.get("churn", 1) == version
    assert registry.models() == ["churn"]


def test_get_by_number_latest_and_alias(registry: ModelRegistry, key: SigningKey) -> None:
    register(registry, key)
    register(registry, key)
    assert registry.get("churn", "latest").version == 2
    registry.set_alias("churn", "challenger", 1, actor="ana", reason="shadow")
    assert registry.get("churn", "challenger").version == 1
    for ref in (3, "nope", "latest"):
        with pytest.raises(NotFoundError):
            registry.get("churn" if ref != "latest" else "other", ref)


def test_load_refuses_tampered_unsigned_and_untrusted(tmp_path: Path, registry: ModelRegistry, key: SigningKey) -> None:
    v1, v2, v3 = (register(registry, key) for _ in range(3))
    (v1.path / "model.txt").write_bytes(b"tree 2\n")
    with pytest.raises(SignatureError, match="changed: model.txt"):
        registry.load("churn", 1)
    (v2.path / "model.sig").unlink()
    with pytest.raises(SignatureError, match="not signed"):
        registry.load("churn", 2)
    stranger = ModelRegistry(registry.root, KeyRing(tmp_path / "empty").trust)
    with pytest.raises(UntrustedKeyError):
        stranger.load("churn", 3)
    assert registry.load("churn", 3) == v3
    results = {v.version: r for v, r in registry.verify_all()}
    assert isinstance(results[1], SignatureError) and isinstance(results[2], SignatureError)
    assert results[3].key_id == key.key_id


def test_a_copied_version_folder_is_refused(registry: ModelRegistry, key: SigningKey) -> None:
    register(registry, key)
    shutil.copytree(registry.root / "churn" / "1", registry.root / "churn" / "2")
    with pytest.raises(SignatureError, match="another model or version"):
        registry.load("churn", 2)


def test_revoked_key_fails_until_resigned_and_rotation_keeps_old_versions(
        registry: ModelRegistry, ring: KeyRing, key: SigningKey) -> None:
    register(registry, key)
    new_key = ring.rotate(PASSPHRASE)
    register(registry, new_key)
    assert registry.verify("churn", 1).key_id == key.key_id  # rotation alone keeps v1 valid
    ring.trust.revoke(key.key_id, "compromised", signer=new_key)
    with pytest.raises(UntrustedKeyError, match="revoked"):
        registry.load("churn", 1)
    registry.resign("churn", 1, new_key)
    assert registry.load("churn", 1).key_id == new_key.key_id
    assert registry.verify("churn", 1).extra["driftline"]["version"] == 1


def test_resign_refuses_content_changed_after_signing(registry: ModelRegistry, ring: KeyRing, key: SigningKey) -> None:
    version = register(registry, key)
    new_key = ring.rotate(PASSPHRASE)
    ring.trust.revoke(key.key_id, "compromised", signer=new_key)
    (version.path / "model.txt").write_bytes(b"evil\n")
    with pytest.raises(SignatureError):
        registry.resign("churn", 1, new_key)
    assert registry.get("churn", 1).key_id == key.key_id


@pytest.mark.parametrize("files, metadata", [
    ({"model.sig": b"x"}, {}), ({"../x": b"x"}, {}), ({".hidden": b"x"}, {}), ({}, {}),
    ({"m.txt": b"x"}, {"version": 9}), ({"m.txt": b"x"}, {"f": float("nan")})])
def test_register_refuses_bad_input(registry: ModelRegistry, key: SigningKey, files, metadata) -> None:
    with pytest.raises((InputError, SignatureError, ValueError)):
        registry.register("churn", files=files, metadata=metadata, status="accepted", key=key)
    assert registry.versions("churn") == []
    assert not list((registry.root / "churn").glob(".staging-*"))


def test_derived_files_see_the_signed_record_and_are_signed(registry: ModelRegistry, key: SigningKey) -> None:
    seen = []

    def card(record, key_id):
        seen.append((dict(record), key_id))
        return {"model_card.md": f"# churn v{record['version']} by {key_id}\n".encode()}

    version = registry.register("churn", files={"model.txt": b"m"}, metadata={"auc": 0.8}, status="accepted",
                                key=key, derived=card)
    record, key_id = seen[0]
    assert record == json.loads((version.path / "metadata.json").read_bytes()) and key_id == key.key_id
    assert (version.path / "model_card.md").read_text() == f"# churn v1 by {key.key_id}\n"
    assert "model_card.md" in registry.verify("churn", 1).resources
    (version.path / "model_card.md").write_bytes(b"# churn v1 by someone else\n")
    with pytest.raises(SignatureError):
        registry.verify("churn", 1)


@pytest.mark.parametrize("derived", [{"model.txt": b"again"}, {"model.sig": b"x"}, {"../up": b"x"}])
def test_derived_files_may_not_replace_or_escape(registry: ModelRegistry, key: SigningKey, derived) -> None:
    with pytest.raises((InputError, SignatureError)):
        registry.register("churn", files={"model.txt": b"m"}, metadata={}, status="accepted", key=key,
                          derived=lambda record, key_id: derived)
    assert registry.versions("churn") == []
    assert not list((registry.root / "churn").glob(".staging-*"))


def _register_in_child(args: tuple[str, str, int]) -> int:
    root, keys, i = args
    ring = KeyRing(Path(keys))
    registry = ModelRegistry(Path(root), ring.trust)
    return registry.register("churn", files={"model.txt": f"{i}".encode()}, metadata={"worker": i},
                             status="accepted", key=ring.load(PASSPHRASE)).version


def test_concurrent_registrations_get_consecutive_numbers(tmp_path: Path, registry: ModelRegistry) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(8) as pool:
        numbers = pool.map(_register_in_child, [(str(registry.root), str(tmp_path / "keys"), i) for i in range(8)])
    assert sorted(numbers) == list(range(1, 9))
    workers = {v.metadata["worker"] for v in registry.versions("churn")}
    assert workers == set(range(8))
    assert all(not isinstance(r, Exception) for _, r in registry.verify_all())
