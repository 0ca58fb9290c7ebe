"""The v0.2.0 golden set (audit, trust, aliases, witness, watermark, export) reads and verifies today.

``tests/golden/v0.2.0`` was written once by ``make_golden_v2.py`` and committed. Each format is read
with today's reader and must verify: the audit log (entries before and after MACs) with a
``PemVerifier`` over the committed public keys, and with the committed witness; the trust ledger
by replay; the signed ``aliases.json`` through ``AliasBook``; the compliance export offline, in
Python and through ``python -m flows audit verify-export`` with only the keys inside the bundle.
Canonical formats re-serialise to the same bytes (the alias file too: its signature is RFC 6979
deterministic). Today's writer can still continue the old log. And a flipped byte in every signed
or chained line is refused by the reader that guards it (``SHA256SUMS``, checked for every set in
``test_golden.py``, covers the rest).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from driftline.canonical import canonical_json
from driftline.errors import IntegrityError, KeyMaterialError
from governance.actor import Actor
from governance.audit import AuditEntry, AuditLog, Checkpoint
from governance.checkpoints import PemVerifier, derive_entry_mac_key
from governance.export import verify_bundle
from governance.witness import Witness, WitnessMark
from registry.aliases import AliasBook, history_hashes
from registry.keys import key_id_of
from registry.ledger import replay
from registry.trust import TrustStore
from usecases.watermark import AuditMark, Watermark, scan_audit

HERE = Path(__file__).parent
GOLDEN = HERE / "v0.2.0"
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
try:
    import make_golden_v2 as maker
finally:
    sys.path.remove(str(HERE))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A writable copy of the set (readers with a witness move its marks)."""
    return shutil.copytree(GOLDEN, tmp_path / "golden")


def pems(folder: Path) -> dict[str, bytes]:
    return {key_id_of(p.read_bytes()): p.read_bytes() for p in sorted(folder.glob("*.pub"))}


def witness(home: Path) -> Witness:
    return Witness(home / maker.WITNESS_FILE)


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def line_middles(path: Path) -> list[int]:
    """The offset of the middle byte of every line of ``path``."""
    offsets, start = [], 0
    for line in path.read_bytes().splitlines(keepends=True):
        offsets.append(start + len(line) // 2)
        start += len(line)
    return offsets


KEYS = {name: maker.golden_key(name) for name in ("root", "signer", "revoked")}


def test_the_committed_public_keys_are_the_derived_test_keys() -> None:
    for name, key in KEYS.items():
        assert (GOLDEN / "keys" / f"{name}.pub").read_bytes() == key.public_pem


# -- audit log --------------------------------------------------------------------------------
def test_audit_log_verifies_with_a_pem_verifier_over_the_committed_keys(home: Path) -> None:
    result = AuditLog(home / "audit").verify(PemVerifier(pems(home / "keys")))
    assert result.ok, result.problem
    entries = list(AuditLog(home / "audit").entries())
    assert [e.seq for e in entries] == list(range(1, 10))
    assert [e.mac is None for e in entries] == [True, True] + [False] * 7  # before and since MACs
    cps = AuditLog(home / "audit").checkpoints()
    assert [(cp.size, cp.key_id) for cp in cps] == [(2, KEYS["root"].key_id), (9, KEYS["signer"].key_id)]


def test_audit_log_verifies_against_the_committed_witness(home: Path) -> None:
    log = AuditLog(home / "audit", witness=witness(home))
    result = log.verify(PemVerifier(pems(home / "keys")))
    assert result.ok, result.problem
    assert witness(home).seen("audit") == WitnessMark(9, log.head()[1], "2024-06-03T09:02:48.000000Z")


def test_audit_lines_round_trip_to_the_same_bytes() -> None:
    for line in (GOLDEN / "audit" / "log.jsonl").read_bytes().splitlines(keepends=True):
        assert AuditEntry.from_line(line).to_line() == line
    for line in (GOLDEN / "audit" / "checkpoints.jsonl").read_bytes().splitlines(keepends=True):
        assert Checkpoint.from_line(line).to_line() == line


def test_entry_macs_still_check_with_the_derived_mac_key() -> None:
    signer = KEYS["signer"]
    mac_key = derive_entry_mac_key(signer.private, signer.key_id)
    for entry in list(AuditLog(GOLDEN / "audit").entries())[2:]:
        assert entry.mac_problem(mac_key) is None, entry.seq


def test_todays_writer_continues_the_old_log_and_checkpoints_it(home: Path) -> None:
    signer, trusted = KEYS["signer"], PemVerifier(pems(home / "keys"))
    log = AuditLog(home / "audit", witness=witness(home), trust=lambda: trusted,
                   mac_key=lambda: derive_entry_mac_key(signer.private, signer.key_id))
    entry = log.append("golden.read", "v0.2.0", {}, actor=Actor(user="golden", host="golden-host"))
    assert entry.seq == 10 and log.checkpoint(signer).size == 10
    assert log.verify(trusted).ok


@pytest.mark.parametrize("name", ["log.jsonl", "checkpoints.jsonl"])
def test_a_flipped_byte_in_any_audit_line_fails_verification(home: Path, name: str) -> None:
    path = home / "audit" / name
    original = path.read_bytes()
    verifier = PemVerifier(pems(home / "keys"))
    for offset in line_middles(path) + [0, len(original) - 2]:
        path.write_bytes(original)
        flip(path, offset)
        assert not AuditLog(home / "audit").verify(verifier).ok, offset


@pytest.mark.parametrize("offset", [40, 70, 100, 140])
def test_a_flipped_byte_in_a_committed_public_key_is_refused(offset: int) -> None:
    pem = bytearray(KEYS["signer"].public_pem)
    pem[offset] ^= 0x01
    # A damaged PEM is bad key material (byte 40 lies in the algorithm identifier); an intact but
    # different one no longer matches the key id the checkpoints name: refused either way.
    with pytest.raises((IntegrityError, KeyMaterialError)):
        PemVerifier({KEYS["signer"].key_id: bytes(pem)})


# -- trust ledger -----------------------------------------------------------------------------
def test_trust_ledger_replays_root_rotate_trust_revoke(home: Path) -> None:
    store = TrustStore(home / "keys", witness=maker.WitnessLog(witness(home), "trust", maker.Clock()))
    state = store.state()
    ids = {name: key.key_id for name, key in KEYS.items()}
    assert state.actions == {ids["root"]: "root", ids["signer"]: "rotate", ids["revoked"]: "trust"}
    assert state.revoked == {ids["revoked"]: "golden files: a revoked key"}
    assert {k: pem for k, pem in state.pems.items()} == {key.key_id: key.public_pem for key in KEYS.values()}
    assert witness(home).seen("trust") == WitnessMark(4, state.hashes[-1], "2024-06-03T09:00:56.000000Z")
    for line in (home / "keys" / "trust.jsonl").read_bytes().splitlines():
        assert canonical_json(json.loads(line)) == line


def test_a_flipped_byte_in_any_trust_ledger_line_fails_replay() -> None:
    original = (GOLDEN / "keys" / "trust.jsonl").read_bytes()
    for offset in line_middles(GOLDEN / "keys" / "trust.jsonl") + [0, 300, 1000, len(original) - 2]:
        data = bytearray(original)
        data[offset] ^= 0x01
        with pytest.raises(IntegrityError):
            replay(bytes(data), where="golden trust.jsonl")


# -- aliases ----------------------------------------------------------------------------------
def read_aliases(home: Path) -> Callable[[], object]:
    book = AliasBook(home / "registry" / "golden", TrustStore(home / "keys"),
                     witness=maker.WitnessLog(witness(home), "aliases:golden", maker.Clock()))
    return book.read


def test_signed_aliases_read_with_their_promote_and_rollback_history(home: Path) -> None:
    state = read_aliases(home)()
    assert state.aliases == {"champion": 1}
    assert [(c.action, c.from_version, c.to_version) for c in state.history] == [
        ("promote", None, 1), ("promote", 1, 2), ("rollback", 2, 1)]
    assert state.stack("champion") == [1]
    assert witness(home).seen("aliases:golden").size == 3
    assert witness(home).seen("aliases:golden").head_hash == history_hashes(state.history)[-1]
    # Canonical, and signed deterministically: re-signing the parsed state gives the same bytes.
    assert state.to_bytes("golden", KEYS["signer"]) == (home / "registry" / "golden" / "aliases.json").read_bytes()


def test_a_flipped_byte_in_the_alias_file_is_refused(home: Path) -> None:
    path = home / "registry" / "golden" / "aliases.json"
    original = path.read_bytes()
    for offset in range(0, len(original) - 1, 23):
        path.write_bytes(original)
        flip(path, offset)
        with pytest.raises(IntegrityError):
            read_aliases(home)()


# -- witness ----------------------------------------------------------------------------------
def test_witness_file_reads_and_is_canonical() -> None:
    raw = (GOLDEN / maker.WITNESS_FILE).read_bytes()
    doc = json.loads(raw)
    assert canonical_json(doc) + b"\n" == raw and doc["format"] == "driftline.witness/v1"
    marks = {name: Witness(GOLDEN / maker.WITNESS_FILE).seen(name) for name in ("audit", "trust", "aliases:golden")}
    assert {name: mark.size for name, mark in marks.items()} == {"audit": 9, "trust": 4, "aliases:golden": 3}
    assert all(WitnessMark.from_dict(mark.to_dict()) == mark for mark in marks.values())


def witness_mark_offsets() -> list[int]:
    """Offsets inside the sizes and head hashes of the marks (the time and home are only notes)."""
    raw = (GOLDEN / maker.WITNESS_FILE).read_bytes()
    offsets = []
    for key in (b'"head_hash":"', b'"size":'):
        at = raw.find(key)
        while at >= 0:
            offsets.append(at + len(key) + (20 if key == b'"head_hash":"' else 0))
            at = raw.find(key, at + 1)
    return offsets


@pytest.mark.parametrize("offset", witness_mark_offsets())
def test_a_flipped_byte_in_a_witness_mark_is_noticed_by_its_reader(home: Path, offset: int) -> None:
    flip(home / maker.WITNESS_FILE, offset)
    refused = 0
    for read in (lambda: AuditLog(home / "audit", witness=witness(home)).verify(PemVerifier(pems(home / "keys"))),
                 lambda: TrustStore(home / "keys", witness=maker.WitnessLog(witness(home), "trust",
                                                                            maker.Clock())).state(),
                 read_aliases(home)):
        try:
            result = read()
        except IntegrityError:
            refused += 1
        else:
            refused += getattr(result, "ok", True) is False
    assert refused >= 1


# -- reconcile watermark ----------------------------------------------------------------------
def test_watermark_loads_round_trips_and_points_at_the_log_end(tmp_path: Path) -> None:
    path = GOLDEN / "state" / "reconcile.json"
    mark = Watermark.load(path)
    log = GOLDEN / "audit" / "log.jsonl"
    assert mark.audit == AuditMark(9, log.stat().st_size, AuditLog(GOLDEN / "audit").head()[1])
    assert (mark.groups, mark.versions, mark.alias_changes) == (
        {"churn_labels": 0, "customer_activity": 0}, {"golden": 2}, {"golden": 3})
    mark.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()
    scan = scan_audit(log, mark.audit)
    assert scan.entries == () and not scan.full  # nothing new since the watermark


# -- export bundle ----------------------------------------------------------------------------
def test_export_verifies_offline_with_only_the_keys_inside() -> None:
    result = verify_bundle(GOLDEN / "export", pems(GOLDEN / "export" / "keys"))
    assert result.ok, result.problems
    assert (result.entries, result.entries_masked, result.checkpoints, result.versions) == (9, 1, 2, 1)


def test_audit_verify_export_cli_accepts_it_with_the_keys_inside() -> None:
    run = verify_export_cli(GOLDEN / "export", sorted((GOLDEN / "export" / "keys").glob("*.pub")))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "export ok: 9 entries (1 masked), 2 checkpoints, 1 model versions" in run.stdout


def verify_export_cli(bundle: Path, keys: list[Path]) -> subprocess.CompletedProcess[str]:
    args = [arg for p in keys for arg in ("--public-key", str(p))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "flows", "audit", "verify-export", str(bundle), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


# An auditor who takes the keys from a bundle whose key file was damaged gets one line, never a
# traceback (exit 70).
@pytest.mark.parametrize("offset", [40, 100])
def test_verify_export_with_a_damaged_key_inside_is_a_one_line_refusal(tmp_path: Path, offset: int) -> None:
    bundle = shutil.copytree(GOLDEN / "export", tmp_path / "export")
    flip(bundle / "keys" / f"{KEYS['signer'].key_id}.pub", offset)
    run = verify_export_cli(bundle, sorted((bundle / "keys").glob("*.pub")))
    assert run.returncode in (2, 3) and "internal error" not in run.stderr, (run.returncode, run.stderr)


EXPORT_FILES = sorted(p.relative_to(GOLDEN / "export").as_posix() for p in (GOLDEN / "export").rglob("*")
                      if p.is_file())


@pytest.mark.parametrize("name", EXPORT_FILES)
def test_a_flipped_byte_in_any_export_file_fails_verification(tmp_path: Path, name: str) -> None:
    bundle = shutil.copytree(GOLDEN / "export", tmp_path / "export")
    trusted = pems(GOLDEN / "export" / "keys")  # the auditor's keys, read before the tampering
    path = bundle / name
    for offset in (0, path.stat().st_size // 2, path.stat().st_size - 2):
        shutil.copy(GOLDEN / "export" / name, path)
        flip(path, offset)
        result = verify_bundle(bundle, trusted)
        assert not result.ok, (name, offset)


def test_make_golden_v2_refuses_to_overwrite_a_set() -> None:
    with pytest.raises(SystemExit, match="never overwritten"):
        maker.make(GOLDEN)
