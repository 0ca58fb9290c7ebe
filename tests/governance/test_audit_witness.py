"""The witness and the entry MACs, without the CLI: marks, refusals, tampers and kills."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from driftline.canonical import canonical_json, sha256_hex
from driftline.errors import AuditChainError, ConfigError, IntegrityError
from governance.actor import Actor
from governance.audit import AuditLog
from driftline.crypto import key_id_of
from governance.checkpoints import PemVerifier, derive_entry_mac_key
from governance.witness import Witness, WitnessMark
from tests.governance.doubles import EcdsaSigner

REPO = Path(__file__).resolve().parents[2]
ACTOR = Actor(user="ana", host="laptop")
class FixedSigner(EcdsaSigner):
    """The same key in every process, so a killed child's checkpoint verifies in the parent."""

    def __init__(self) -> None:
        super().__init__()
        self._key = ec.derive_private_key(0x5EED_CAFE_F00D, ec.SECP256R1())
        self.pem = self._key.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
        self.key_id = key_id_of(self.pem)


SIGNER = FixedSigner()
VERIFIER = PemVerifier({SIGNER.key_id: SIGNER.pem})
MAC_KEY = derive_entry_mac_key(SIGNER._key, SIGNER.key_id)


def keyed_log(tmp_path: Path, n: int = 3) -> AuditLog:
    log = AuditLog(tmp_path / "home" / "audit", mac_key=lambda: MAC_KEY, trust=lambda: VERIFIER,
                   witness=Witness.for_home(tmp_path / "home", tmp_path / "witness"))
    for i in range(n):
        log.append("model.register", f"churn/{i}", {"i": i}, actor=ACTOR)
    log.checkpoint(SIGNER)
    return log


def test_first_verify_records_the_witness_and_later_ones_name_it(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "home" / "audit", witness=Witness.for_home(tmp_path / "home", tmp_path / "w"))
    for i in range(2):
        log.append("x", "y", {"i": i}, actor=ACTOR)
    log.checkpoint(SIGNER)
    log.witness.forget()
    first = log.verify(VERIFIER)
    assert first.ok and "first use" in first.witness
    again = log.verify(VERIFIER)
    assert again.ok and f"witness {log.witness.path}: saw 2 entries" in again.witness


def test_witness_is_monotonic_atomic_and_owner_only(tmp_path: Path) -> None:
    witness = Witness.for_home(tmp_path / "home", tmp_path / "w")
    assert witness.path.name == sha256_hex(str((tmp_path / "home").resolve()).encode())[:32] + ".json"
    assert witness.seen("audit") is None
    witness.advance("audit", WitnessMark(5, "a" * 64, "t"))
    witness.advance("trust", WitnessMark(1, "b" * 64, "t"))  # a free name: marks live side by side
    assert os.stat(witness.path).st_mode & 0o777 == 0o600
    with pytest.raises(IntegrityError, match="refusing to record 4 entries"):
        witness.advance("audit", WitnessMark(4, "a" * 64, "t"))
    with pytest.raises(IntegrityError, match="rolled back or rewritten"):
        witness.advance("audit", WitnessMark(5, "c" * 64, "t"))
    assert witness.seen("audit") == WitnessMark(5, "a" * 64, "t")
    assert witness.seen("trust") == WitnessMark(1, "b" * 64, "t")
    witness.forget()
    assert witness.seen("audit") is None


@pytest.mark.parametrize("inside", ["", "state/witness"])
def test_a_witness_folder_inside_the_home_is_refused(tmp_path: Path, inside: str) -> None:
    with pytest.raises(ConfigError, match="inside the data home"):
        Witness.for_home(tmp_path / "home", tmp_path / "home" / inside)


def test_every_byte_flipped_in_the_witness_is_refused_or_harmless(tmp_path: Path) -> None:
    """Outside the threat model, but a damaged witness must never pass a rollback, nor raise a traceback."""
    log = keyed_log(tmp_path)
    original = log.witness.path.read_bytes()
    vouching = {i for i, _ in enumerate(original)
                if original.find(b'"head_hash"') < i < original.find(b'"time"')}  # head and size
    detected = harmless = 0
    for i in range(len(original)):
        log.witness.path.write_bytes(original[:i] + bytes([original[i] ^ 0x01]) + original[i + 1:])
        try:
            result = log.verify(VERIFIER)
        except IntegrityError as exc:
            assert str(log.witness.path) in str(exc) or "witness" in str(exc)
            detected += 1
            continue
        if result.ok:
            assert i not in vouching, f"byte {i} of the witness changed its mark unseen"
            harmless += 1
        else:
            detected += 1
    log.witness.path.write_bytes(original)
    assert log.verify(VERIFIER).ok
    assert detected >= len(vouching) and detected + harmless == len(original)
    print(f"witness flips: {len(original)} tried, {detected} detected, {harmless} harmless")


def test_mac_binds_the_entry_to_its_place_and_key(tmp_path: Path) -> None:
    log = keyed_log(tmp_path)
    entries = list(log.entries())
    assert all(e.mac and e.mac["key_id"] == SIGNER.key_id and e.mac_problem(MAC_KEY) is None for e in entries)
    other = derive_entry_mac_key(ec.generate_private_key(ec.SECP256R1()), "f" * 64)
    assert "not the active key" in entries[0].mac_problem(other)
    # A genuine MAC copied onto a hand-made entry at the end of the chain does not hold there.
    last = json.loads(log.log_path.read_bytes().splitlines()[-1])
    body = {**{k: v for k, v in last.items() if k != "hash"}, "seq": last["seq"] + 1, "prev_hash": last["hash"],
            "details": {"i": 99}}
    with open(log.log_path, "ab") as handle:
        handle.write(canonical_json({**body, "hash": sha256_hex(canonical_json(body))}) + b"\n")
    with pytest.raises(AuditChainError, match=f"audit entry {body['seq']} .*MAC does not match"):
        log.checkpoint(SIGNER)


def test_old_entries_without_macs_stay_valid_under_their_checkpoint(tmp_path: Path) -> None:
    old = AuditLog(tmp_path / "home" / "audit")  # written before MACs existed
    for i in range(3):
        old.append("x", "y", {"i": i}, actor=ACTOR)
    old.checkpoint(SIGNER)
    log = AuditLog(old.root, mac_key=lambda: MAC_KEY, trust=lambda: VERIFIER,
                   witness=Witness.for_home(tmp_path / "home", tmp_path / "w"))
    log.append("x", "y", {"i": 3}, actor=ACTOR)
    assert log.checkpoint(SIGNER).size == 4
    result = log.verify(VERIFIER)
    assert result.ok and result.unsigned_tail == 0 and result.entries == 4


def test_checkpoint_refuses_a_log_rolled_back_below_the_witness(tmp_path: Path) -> None:
    log = keyed_log(tmp_path)
    saved = log.log_path.read_bytes(), log.checkpoint_path.read_bytes()
    log.append("x", "y", {}, actor=ACTOR)
    log.checkpoint(SIGNER)
    log.log_path.write_bytes(saved[0])
    log.checkpoint_path.write_bytes(saved[1])
    with pytest.raises(AuditChainError, match="rolled back"):
        log.checkpoint(SIGNER)
    log.append("x", "z", {}, actor=ACTOR)  # re-extended to the witnessed size: still another head
    with pytest.raises(AuditChainError, match="rolled back or rewritten"):
        log.checkpoint(SIGNER)


CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from governance.actor import Actor
    from governance.audit import AuditLog
    from governance.checkpoints import PemVerifier, derive_entry_mac_key
    from governance.witness import Witness
    from tests.governance.test_audit_witness import SIGNER, VERIFIER, MAC_KEY
    tmp = Path(sys.argv[1])
    log = AuditLog(tmp / "home" / "audit", mac_key=lambda: MAC_KEY, trust=lambda: VERIFIER,
                   witness=Witness.for_home(tmp / "home", tmp / "witness"))
    log.append("x", "child", {}, actor=Actor(user="child", host="h"))
    log.checkpoint(SIGNER)
""")


@pytest.mark.parametrize("stage", ["audit.checkpoint_synced", "witness.before_write", "witness.written"])
def test_kill_around_the_witness_write_loses_nothing(tmp_path: Path, stage: str) -> None:
    log = keyed_log(tmp_path)
    before = log.witness.seen("audit")
    env = {**os.environ, "DRIFTLINE_FAULT": stage, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], env=env, capture_output=True,
                          timeout=120, cwd=REPO)
    assert proc.returncode == -9, proc.stderr.decode()
    after = log.witness.seen("audit")  # never torn: the old mark or the new one
    assert after == before or (stage == "witness.written" and after.size == before.size + 1)
    result = log.verify(VERIFIER)  # the checkpoint was synced before the witness moved: all is well
    assert result.ok and result.entries == 4 and result.unsigned_tail == 0, result.problem
    assert log.witness.seen("audit").size == 4
    log.append("x", "after", {}, actor=ACTOR)
    assert log.checkpoint(SIGNER).size == 5
