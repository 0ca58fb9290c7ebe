"""The audit trail: append, read back, checkpoints, and verification naming the first bad entry."""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline.canonical import canonical_json, sha256_hex
from driftline.errors import AuditChainError, InputError, SignatureError, UntrustedKeyError
from governance.actor import Actor
from governance.audit import ZERO_HASH, AuditEntry, AuditLog
from governance.checkpoints import Checkpoint, PemVerifier
from tests.governance.doubles import EcdsaSigner

ACTOR = Actor(user="ana", host="laptop", flow_run_id="run-1")




SIGNER = EcdsaSigner()
VERIFIER = PemVerifier({SIGNER.key_id: SIGNER.pem})


def ticking_clock(start: datetime = datetime(2024, 5, 1, tzinfo=timezone.utc)):
    state = {"now": start}

    def clock() -> datetime:
        state["now"] += timedelta(hours=1)
        return state["now"]
    return clock


def build(root: Path, n: int = 4, *, checkpoint_at: tuple[int, ...] = ()) -> AuditLog:
    log = AuditLog(root, clock=ticking_clock())
    for i in range(1, n + 1):
        log.append("model.registered", f"churn/{i}", {"i": i, "note": "ok ✓"}, actor=ACTOR)
        if i in checkpoint_at:
            log.checkpoint(SIGNER)
    return log


def rewrite_lines(path: Path, edit) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(edit(lines)))


def rehash_from(lines: list[bytes], start: int) -> list[bytes]:
    """What a forger does: recompute every hash from line ``start`` (0-based) so the chain holds."""
    prev = json.loads(lines[start - 1])["hash"] if start else ZERO_HASH
    out = lines[:start]
    for seq, line in enumerate(lines[start:], start + 1):
        body = json.loads(line)
        body.pop("hash")
        body["seq"], body["prev_hash"] = seq, prev
        entry = AuditEntry(hash=sha256_hex(canonical_json(body)), **body)
        out.append(entry.to_line())
        prev = entry.hash
    return out


def test_append_chains_and_reads_back(tmp_path):
    log = build(tmp_path, 3)
    entries = list(log.entries())
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == ZERO_HASH
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    assert entries[0].actor == ACTOR.to_dict()
    assert AuditEntry.from_line(entries[1].to_line()) == entries[1]
    assert log.head() == (3, entries[-1].hash)
    assert (tmp_path / "log.jsonl").read_bytes() == b"".join(e.to_line() for e in entries)


def test_entries_time_range(tmp_path):
    log = build(tmp_path, 5)  # times 01:00 .. 05:00 on 2024-05-01
    got = [e.seq for e in log.entries(since="2024-05-01T02:00:00Z", until="2024-05-01T04:00:00+00:00")]
    assert got == [2, 3]
    assert [e.seq for e in log.entries(since="2024-05-02")] == []
    with pytest.raises(InputError):
        list(log.entries(since="last tuesday"))


def test_details_must_be_plain_json(tmp_path):
    with pytest.raises(InputError):
        AuditLog(tmp_path).append("x", "y", {"bad": float("nan")}, actor=ACTOR)
    with pytest.raises(InputError):
        AuditLog(tmp_path).append("", "y", {}, actor=ACTOR)


def test_intact_log_verifies_with_unsigned_tail(tmp_path):
    log = build(tmp_path, 5, checkpoint_at=(3,))
    result = log.verify(VERIFIER)
    assert result.ok and result.problem is None
    assert (result.entries, result.checkpoints, result.unsigned_tail) == (5, 1, 2)
    empty = AuditLog(tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    assert empty.verify(VERIFIER).ok


def test_verify_raises_only_for_missing_folder(tmp_path):
    with pytest.raises(InputError):
        AuditLog(tmp_path / "nope").verify(VERIFIER)


def test_checkpoint_of_empty_log_is_refused(tmp_path):
    with pytest.raises(AuditChainError):
        AuditLog(tmp_path).checkpoint(SIGNER)


@pytest.mark.parametrize("edit, bad_seq, words", [
    (lambda ls: ls[:2] + ls[3:], 3, "deleted, inserted or moved"),
    (lambda ls: [ls[0], ls[2], ls[1], *ls[3:]], 2, "deleted, inserted or moved"),
    (lambda ls: ls[:2] + [ls[1]] + ls[2:], 3, "deleted, inserted or moved"),
    (lambda ls: ls[:-1], None, None),  # a truncated tail after the last checkpoint is invisible ...
])
def test_structural_tampering(tmp_path, edit, bad_seq, words):
    log = build(tmp_path, 5)
    rewrite_lines(log.log_path, edit)
    result = log.verify(VERIFIER)
    assert result.first_bad_seq == bad_seq
    assert result.ok == (bad_seq is None)
    if words:
        assert words in result.problem


def test_truncation_below_a_checkpoint_is_named(tmp_path):
    log = build(tmp_path, 5, checkpoint_at=(5,))  # ... but not below a checkpoint
    rewrite_lines(log.log_path, lambda ls: ls[:3])
    result = log.verify(VERIFIER)
    assert not result.ok and result.first_bad_seq == 4 and "deleted" in result.problem


def test_rehashed_rewrite_is_caught_by_the_checkpoint(tmp_path):
    log = build(tmp_path, 8, checkpoint_at=(4, 8))

    def forge(lines):
        body = json.loads(lines[5])
        body["details"] = {"i": 6, "note": "forged"}
        lines[5] = canonical_json(body) + b"\n"
        return rehash_from(lines, 5)
    rewrite_lines(log.log_path, forge)
    result = log.verify(VERIFIER)
    assert not result.ok
    assert result.first_bad_seq == 5  # the first entry no valid checkpoint vouches for
    assert result.bad_checkpoint == 2 and "disagrees with the chain" in result.problem


def test_forged_or_foreign_checkpoint_signature(tmp_path):
    log = build(tmp_path, 3, checkpoint_at=(3,))
    cp = log.checkpoints()[0]
    forged = Checkpoint(size=cp.size, head_hash=cp.head_hash, time="2030-01-01T00:00:00.000000Z",
                        key_id=cp.key_id, signature=cp.signature)
    log.checkpoint_path.write_bytes(cp.to_line() + forged.to_line())
    result = log.verify(VERIFIER)
    assert not result.ok and result.bad_checkpoint == 2 and "bad signature" in result.problem
    stranger = EcdsaSigner()
    log.checkpoint_path.write_bytes(b"")
    log.checkpoint(stranger)
    result = log.verify(VERIFIER)
    assert not result.ok and result.bad_checkpoint == 1 and "unknown key" in result.problem


def test_pem_verifier_refuses_mislabelled_keys_and_bad_signatures():
    with pytest.raises(UntrustedKeyError):
        PemVerifier({"0" * 64: SIGNER.pem})
    with pytest.raises(SignatureError):
        VERIFIER.verify(SIGNER.key_id, b"data", SIGNER.sign(b"other"))
    VERIFIER.verify(SIGNER.key_id, b"data", SIGNER.sign(b"data"))


def test_torn_tail_is_reported_refused_and_repaired_only_on_request(tmp_path):
    log = build(tmp_path, 3, checkpoint_at=(3,))
    whole = log.log_path.read_bytes()
    log.log_path.write_bytes(whole + b'{"action":"model.promo')
    result = log.verify(VERIFIER)
    assert not result.ok and result.first_bad_seq == 4 and "torn" in result.problem
    assert result.entries == 3
    with pytest.raises(AuditChainError, match="repair_torn_tail"):
        log.append("x", "y", {}, actor=ACTOR)
    assert log.log_path.read_bytes().startswith(whole)  # nothing chained onto the torn line
    (proof,) = log.repair_torn_tail(actor=ACTOR)
    assert proof.seq == 4 and proof.details["removed_bytes"] == len(b'{"action":"model.promo')
    assert log.verify(VERIFIER).ok
    assert log.log_path.read_bytes().startswith(whole)


def test_torn_checkpoint_line_is_reported(tmp_path):
    log = build(tmp_path, 2, checkpoint_at=(2,))
    with open(log.checkpoint_path, "ab") as handle:
        handle.write(b'{"head_hash":"ab')
    result = log.verify(VERIFIER)
    assert not result.ok and result.bad_checkpoint == 2 and "torn" in result.problem
    with pytest.raises(AuditChainError):
        log.checkpoint(SIGNER)


def _line_of(data: bytes, position: int) -> int:
    return data.count(b"\n", 0, position) + 1


def _verify_bytes(log_bytes: bytes, cp_bytes: bytes):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "log.jsonl").write_bytes(log_bytes)
        (root / "checkpoints.jsonl").write_bytes(cp_bytes)
        return AuditLog(root).verify(VERIFIER)


@pytest.fixture(scope="module")
def small_log() -> tuple[bytes, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        log = build(Path(tmp), 3, checkpoint_at=(3,))
        return log.log_path.read_bytes(), log.checkpoint_path.read_bytes()


def test_every_position_flipped_is_detected_exhaustively(small_log):
    log_bytes, cp_bytes = small_log
    assert _verify_bytes(log_bytes, cp_bytes).ok
    for position in range(len(log_bytes)):
        damaged = bytearray(log_bytes)
        damaged[position] ^= 0x01
        result = _verify_bytes(bytes(damaged), cp_bytes)
        assert not result.ok, position
        assert result.first_bad_seq == _line_of(log_bytes, position), (position, result.problem)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_byte_change_is_detected(small_log, data):
    log_bytes, cp_bytes = small_log
    position = data.draw(st.integers(0, len(log_bytes) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != log_bytes[position]))
    damaged = bytearray(log_bytes)
    damaged[position] = byte
    result = _verify_bytes(bytes(damaged), cp_bytes)
    assert not result.ok
    assert result.first_bad_seq == _line_of(log_bytes, position)


def test_any_byte_change_in_a_checkpoint_is_detected(small_log):
    log_bytes, cp_bytes = small_log
    for position in range(len(cp_bytes)):
        damaged = bytearray(cp_bytes)
        damaged[position] ^= 0x01
        result = _verify_bytes(log_bytes, bytes(damaged))
        assert not result.ok and result.bad_checkpoint == 1, position


class RevocableVerifier:
    """A trust store in miniature: trusted PEMs, some of them revoked."""

    def __init__(self, signers, revoked=()):
        self._inner = PemVerifier({s.key_id: s.pem for s in signers if s.key_id not in revoked})
        self._revoked = set(revoked)

    def is_revoked(self, key_id):
        return key_id in self._revoked

    def verify(self, key_id, data, signature):
        if key_id in self._revoked:
            from driftline.errors import UntrustedKeyError
            raise UntrustedKeyError(f"key {key_id[:16]} was revoked")
        self._inner.verify(key_id, data, signature)


def test_checkpoints_of_a_revoked_key_are_retired_once_a_trusted_one_covers_them(tmp_path):
    old, new = EcdsaSigner(), EcdsaSigner()
    log = AuditLog(tmp_path)
    log.append("ingest", "group:g", {"rows": 1}, actor=ACTOR)
    log.checkpoint(old)
    log.append("key.revoke", "key:old", {}, actor=ACTOR)
    uncovered = log.verify(RevocableVerifier([old, new], revoked={old.key_id}))
    assert not uncovered.ok and "revoked key" in uncovered.problem
    log.checkpoint(new)
    assert log.verify(RevocableVerifier([old, new], revoked={old.key_id})).ok
    unknown = log.verify(RevocableVerifier([new]))  # an unknown key is not a revoked one: still refused
    assert not unknown.ok and "bad signature" in unknown.problem


@pytest.mark.parametrize("size", [70, 71])  # ECDSA DER signatures of 70 or 71 bytes end in "==" or "="
def test_a_signature_with_changed_padding_bits_is_refused(size):
    # A lenient base64 decoder ignores the unused low bits of the last character before the
    # padding: the checkpoint file would change while its signature still verified.
    import base64
    import string

    from driftline.canonical import canonical_b64decode

    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"
    raw = bytes(range(size))
    text = base64.b64encode(raw).decode("ascii")
    body = text.rstrip("=")
    changed = body[:-1] + alphabet[alphabet.index(body[-1]) ^ 0x01] + text[len(body):]
    assert changed != text and base64.b64decode(changed, validate=True) == raw
    assert canonical_b64decode(text) == raw
    with pytest.raises(ValueError):
        canonical_b64decode(changed)
    checkpoint = Checkpoint(size=1, head_hash="0" * 64, time="2024-01-01T00:00:00Z", key_id="k", signature=changed)
    with pytest.raises(SignatureError, match="not canonical base64"):
        checkpoint.signature_bytes()
