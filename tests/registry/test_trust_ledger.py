"""The trust ledger decides trust: planted .pub files, deleted revocations, edited, reordered,
truncated or byte-flipped ledgers, forged entries and older keys folders are all caught."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from driftline.errors import IntegrityError, SignatureError, UntrustedKeyError
from governance.actor import Actor
from governance.audit import AuditLog
from registry import KeyRing, ModelRegistry, SigningKey, TrustStore, sign_model, verify_model
from registry.ledger import TrustState, encode, make_entry, replay

PASSPHRASE = b"correct horse battery staple"


def attacker(tmp_path: Path) -> SigningKey:
    """A key the attacker made elsewhere; they can write the data home but hold no passphrase."""
    return KeyRing(tmp_path / "attacker").init(b"attacker's own passphrase")


def lines(ring: KeyRing) -> list[bytes]:
    return ring.trust.ledger.read_bytes().splitlines(keepends=True)


@pytest.fixture
def revoked_ring(tmp_path: Path) -> tuple[KeyRing, SigningKey, SigningKey]:
    """root -> rotate -> revoke root: a three-entry ledger."""
    ring = KeyRing(tmp_path / "keys")
    old = ring.init(PASSPHRASE)
    new = ring.rotate(PASSPHRASE)
    ring.trust.revoke(old.key_id, "laptop lost", signer=new)
    return ring, old, new


def test_a_planted_pub_trusts_neither_a_resigned_model_nor_a_forged_checkpoint(
        tmp_path: Path, registry: ModelRegistry, key: SigningKey) -> None:
    evil = attacker(tmp_path)
    version = registry.register("churn", files={"model.txt": b"m"}, metadata={}, status="accepted", key=key)
    (tmp_path / "keys" / "trusted" / f"{evil.key_id}.pub").write_bytes(evil.public_pem)
    (version.path / "model.txt").write_bytes(b"evil model")
    record = {"model": "churn", "version": 1, "status": "accepted"}
    sign_model(version.path, evil, extra={"driftline": record}, model_name="churn")
    verify_model(version.path, public_key_pem=evil.public_pem)  # a well-made signature, by the wrong key
    with pytest.raises(UntrustedKeyError, match="not in the trust ledger"):
        registry.verify("churn", 1)
    audit = AuditLog(tmp_path / "audit")
    audit.append("model.promote", "model:churn:v1", {"to": 1}, actor=Actor(user="eve", host="x"))
    audit.checkpoint(evil)  # a checkpoint signed by the planted key vouches for nothing
    assert not audit.verify(registry.trust).ok
    assert registry.trust.untrusted_files() == [f"{evil.key_id}.pub"]


def test_deleting_a_revocation_file_does_not_unrevoke(revoked_ring) -> None:
    ring, old, _ = revoked_ring
    (ring.keys_dir / "revoked" / f"{old.key_id}.json").unlink()
    trust = TrustStore(ring.keys_dir)
    assert trust.is_revoked(old.key_id)
    with pytest.raises(UntrustedKeyError, match="revoked"):
        trust.verify(old.key_id, b"x", old.sign(b"x"))


def test_an_edited_entry_is_detected(revoked_ring) -> None:
    ring, old, _ = revoked_ring
    entries = lines(ring)
    doc = json.loads(entries[2])
    pem = ring.trust.public_pem(old.key_id, include_revoked=True).decode()
    doc["action"], doc["pem"], doc["reason"] = "trust", pem, ""
    ring.trust.ledger.write_bytes(b"".join(entries[:2]) + encode(doc))
    with pytest.raises(IntegrityError, match="entry 3"):
        TrustStore(ring.keys_dir).is_revoked(old.key_id)


def test_reordered_entries_are_detected(revoked_ring) -> None:
    ring, old, _ = revoked_ring
    entries = lines(ring)
    ring.trust.ledger.write_bytes(entries[0] + entries[2] + entries[1])
    with pytest.raises(IntegrityError, match="does not follow"):
        TrustStore(ring.keys_dir).key_ids()


def test_a_truncated_ledger_fails_the_witness_check(revoked_ring) -> None:
    """Cutting the revocation off leaves a valid shorter ledger: only the outside mark sees it."""
    ring, old, _ = revoked_ring
    size, head = ring.trust.head()
    assert size == 3 and len(head) == 64
    ring.trust.check_prefix(size, head)
    ring.trust.check_prefix(2, TrustStore(ring.keys_dir).state().hashes[1])
    ring.trust.ledger.write_bytes(b"".join(lines(ring)[:2]))
    trust = TrustStore(ring.keys_dir)
    assert not trust.is_revoked(old.key_id)  # the ledger alone cannot tell ...
    with pytest.raises(IntegrityError, match="rolled back"):
        trust.check_prefix(size, head)  # ... the witness can
    with pytest.raises(IntegrityError, match="differs"):
        trust.check_prefix(2, "0" * 64)


def test_every_flipped_byte_of_the_ledger_is_detected(revoked_ring) -> None:
    ring, _, _ = revoked_ring
    good = ring.trust.ledger.read_bytes()
    for offset in range(len(good)):
        data = bytearray(good)
        data[offset] ^= 0x01
        with pytest.raises(IntegrityError):
            replay(bytes(data), where="trust.jsonl")
    assert offset > 1000


def test_an_entry_signed_by_an_untrusted_or_revoked_key_is_refused(tmp_path: Path, revoked_ring) -> None:
    ring, old, _ = revoked_ring
    state = TrustStore(ring.keys_dir).state()
    evil = attacker(tmp_path)
    for signer in (evil, old):  # a stranger's key, and the revoked one (which the attacker may hold)
        forged = make_entry(state, action="trust", key_id=evil.key_id, signer=signer, pem=evil.public_pem)
        with pytest.raises(SignatureError, match="not trusted and unrevoked"):
            replay(ring.trust.ledger.read_bytes() + encode(forged), where="trust.jsonl")
    with pytest.raises(UntrustedKeyError):
        ring.trust.add(evil.public_pem, signer=old)
    assert evil.key_id not in TrustStore(ring.keys_dir).key_ids()


def test_a_new_root_cannot_be_appended(tmp_path: Path, revoked_ring) -> None:
    ring, _, _ = revoked_ring
    evil = attacker(tmp_path)
    forged = make_entry(TrustState(hashes=("x",)), action="root", key_id=evil.key_id, signer=evil,
                        pem=evil.public_pem)
    with pytest.raises(IntegrityError):
        replay(ring.trust.ledger.read_bytes() + encode(forged), where="trust.jsonl")


def test_keys_without_a_ledger_are_refused(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    key = ring.init(PASSPHRASE)
    ring.trust.ledger.unlink()  # an older release's keys folder, or a deleted ledger
    with pytest.raises(IntegrityError, match="no trust ledger"):
        TrustStore(ring.keys_dir).public_key(key.key_id)
    assert TrustStore(tmp_path / "empty").key_ids() == []  # a fresh home simply trusts nothing


def test_keys_trust_needs_a_trusted_signer_and_mirrors_the_key(tmp_path: Path, ring: KeyRing, key: SigningKey) -> None:
    other = attacker(tmp_path)
    assert ring.trust.add(other.public_pem, signer=key) == other.key_id
    assert ring.trust.added_by(other.key_id) == "trust"
    assert (ring.keys_dir / "trusted" / f"{other.key_id}.pub").read_bytes() == other.public_pem
    assert ring.trust.untrusted_files() == []
    TrustStore(ring.keys_dir).verify(other.key_id, b"x", other.sign(b"x"))


def test_the_ledger_is_cross_checked_against_the_audit_trails_key_entries(revoked_ring) -> None:
    ring, old, new = revoked_ring
    events = [("key.init", old.key_id), ("model.promote", ""), ("key.rotate", new.key_id),
              ("key.revoke", old.key_id)]
    assert ring.trust.audit_mismatches(events) == []
    problems = ring.trust.audit_mismatches(events[:3] + [("key.trust", "f" * 64)])
    assert problems == [f"ledger key.revoke of key {old.key_id[:16]} has no audit entry",
                        f"audit key.trust of key {'f' * 16} has no ledger entry"]
