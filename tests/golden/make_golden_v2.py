"""Make the v0.2.0 golden set: the audit, trust, alias, witness, watermark and export formats.

Like ``make_golden.py`` (whose v0.1.0 set holds the registry version, gate report, profile and
contract), this writes a set ONCE into a new folder and refuses to overwrite one; the tests in
``test_golden_v2.py`` then read and verify it with today's code, so a later release that can no
longer read what this release wrote fails them. Everything goes through driftline's own writers
(``TrustStore``, ``AuditLog``, ``AliasBook``, ``Witness``, ``Watermark``, ``export_bundle``) with a
ticking fixed clock and three P-256 keys derived from public labels, signing with RFC 6979
deterministic ECDSA, so running it twice gives the same bytes.

    PYTHONPATH=$PWD python tests/golden/make_golden_v2.py --out tests/golden/v0.2.0

The keys are test keys: anyone can derive them from the labels below, so they sign nothing but
golden files. The story the files tell: key ``root`` starts the trust ledger and checkpoints two
entries written before audit entries carried a MAC; ``root`` rotates to ``signer``, which trusts
and then revokes a third key, writes MACed entries (one with a PII field), promotes versions 1 and
2 of model ``golden`` and rolls back to 1, checkpoints the log, records the marks in a witness file
and a reconcile watermark, and exports the whole trail with the v0.1.0 registry version (signed
by the v0.1.0 key) into a compliance bundle whose ``keys/`` holds every public key needed.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from governance.actor import Actor  # noqa: E402
from governance.audit import AuditLog, format_time  # noqa: E402
from governance.checkpoints import PemVerifier, derive_entry_mac_key  # noqa: E402
from governance.export import export_bundle  # noqa: E402
from governance.witness import Witness, WitnessMark  # noqa: E402
from registry.aliases import AliasBook, AliasChange, history_hashes  # noqa: E402
from registry.trust import TrustStore  # noqa: E402
from usecases.watermark import AuditMark, Watermark  # noqa: E402

MODEL = "golden"
HOME = Path("/srv/driftline-golden")  # the data home the witness file names (recorded, never used)
WITNESS_FILE = "witness/" + hashlib.sha256(str(HOME).encode()).hexdigest()[:32] + ".json"
LABELS = {"root": b"driftline golden v0.2.0 root key",
          "signer": b"driftline golden v0.2.0 signer key",
          "revoked": b"driftline golden v0.2.0 revoked key"}
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass(frozen=True)
class GoldenKey:
    """A P-256 key derived from a public label; signs with RFC 6979 (deterministic) ECDSA."""

    name: str
    private: ec.EllipticCurvePrivateKey = field(repr=False)

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.public_pem).hexdigest()

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))


def golden_key(name: str) -> GoldenKey:
    scalar = int.from_bytes(hashlib.sha256(LABELS[name]).digest(), "big") % (_P256_ORDER - 1) + 1
    return GoldenKey(name, ec.derive_private_key(scalar, ec.SECP256R1()))


class Clock:
    """A fixed clock that ticks 7 seconds a reading, so every written time is known in advance."""

    def __init__(self) -> None:
        self.now = datetime(2024, 6, 3, 9, 0, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=7)
        return self.now


@dataclass
class WitnessLog:
    """One log's mark in a witness file, as the registry asks for it (the workspace's adapter)."""

    witness: Witness
    log: str
    clock: Clock

    def seen(self) -> tuple[int, str] | None:
        mark = self.witness.seen(self.log)
        return None if mark is None else (mark.size, mark.head_hash)

    def advance(self, size: int, head_hash: str) -> None:
        self.witness.advance(self.log, WitnessMark(size, head_hash, format_time(self.clock())))


def make(out: Path) -> None:
    if out.exists():
        raise SystemExit(f"{out} exists: golden sets are never overwritten; choose a new version folder")
    v010 = Path(__file__).resolve().parent / "v0.1.0"
    root, signer, revoked = (golden_key(n) for n in ("root", "signer", "revoked"))
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        witness = Witness(Path(tmp) / WITNESS_FILE, home=HOME)
        trust = TrustStore(home / "keys", witness=WitnessLog(witness, "trust", clock), clock=clock)
        trust.init_root(root)
        trust.add(signer.public_pem, signer=root, action="rotate")
        trust.add(revoked.public_pem, signer=signer)
        trust.revoke(revoked.key_id, "golden files: a revoked key", signer=signer)
        operator = Actor(user="golden", host="golden-host")

        # Entries written before MACs existed (a log without a MAC key), checkpointed by the root key.
        before = AuditLog(home / "audit", clock=clock)
        before.append("key.init", root.key_id, {"pem_sha256": root.key_id}, actor=operator)
        before.append("data.ingested", "customer_activity", {"rows": 300, "version": 0}, actor=operator)
        before.checkpoint(root)
        # Entries since MACs, by the rotated-to key; the next checkpoint checks each MAC.
        pems = trust.public_pems()
        audit = AuditLog(home / "audit", clock=clock, witness=witness,
                         mac_key=lambda: derive_entry_mac_key(signer.private, signer.key_id),
                         trust=lambda: PemVerifier(pems))
        audit.append("key.rotate", signer.key_id, {"previous": root.key_id}, actor=operator)
        audit.append("key.trust", revoked.key_id, {}, actor=operator)
        audit.append("key.revoke", revoked.key_id, {"reason": "golden files: a revoked key"}, actor=operator)
        audit.append("erasure.requested", "C000042", {"email": "ana@example.com", "groups": ["customer_activity"]},
                     actor=operator)

        (home / "registry" / MODEL).mkdir(parents=True)
        book = AliasBook(home / "registry" / MODEL, trust,
                         witness=WitnessLog(witness, f"aliases:{MODEL}", clock))
        for alias_from, to, action, reason in ((None, 1, "promote", "first champion"),
                                               (1, 2, "promote", "better auc"),
                                               (2, 1, "rollback", "version 2 misbehaved")):
            book.commit(AliasChange(model=MODEL, alias="champion", from_version=alias_from, to_version=to,
                                    actor="user:golden", reason=reason, at=clock().isoformat(), action=action),
                        signer=signer)
            audit.append(f"model.{action}", f"{MODEL}:{to}", {"alias": "champion", "from": alias_from},
                         actor=operator)
        audit.checkpoint(signer)
        size, head = audit.head()
        Watermark(audit=AuditMark(size, (home / "audit" / "log.jsonl").stat().st_size, head),
                  groups={"churn_labels": 0, "customer_activity": 0}, versions={MODEL: 2},
                  alias_changes={MODEL: len(history_hashes(book.read().history))}
                  ).save(home / "state" / "reconcile.json")
        assert audit.verify(PemVerifier(pems)).ok

        # The export: the whole trail (the e-mail masked) and the v0.1.0 version, every key inside.
        v010_pem = (v010 / "keys" / "signer.pub").read_bytes()
        keys = {**pems, hashlib.sha256(v010_pem).hexdigest(): v010_pem}
        shutil.copytree(home / "audit", Path(tmp) / "audit-copy")
        export_bundle(Path(tmp) / "export", audit=AuditLog(Path(tmp) / "audit-copy", clock=clock),
                      registry_root=v010 / "registry", public_keys=keys, signer=signer,
                      pii_fields=("email",), clock=clock)

        out.mkdir(parents=True)
        (out / "keys").mkdir()
        shutil.copy(home / "keys" / "trust.jsonl", out / "keys" / "trust.jsonl")
        for key in (root, signer, revoked):
            (out / "keys" / f"{key.name}.pub").write_bytes(key.public_pem)
        shutil.copytree(home / "audit", out / "audit", ignore=shutil.ignore_patterns(".*"))
        (out / "registry" / MODEL).mkdir(parents=True)
        shutil.copy(book.path, out / "registry" / MODEL / "aliases.json")
        (out / "witness").mkdir()
        shutil.copy(witness.path, out / WITNESS_FILE)
        (out / "state").mkdir()
        shutil.copy(home / "state" / "reconcile.json", out / "state" / "reconcile.json")
        shutil.copytree(Path(tmp) / "export", out / "export")
    (out / "README.md").write_text(README, encoding="utf-8")
    sums = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(out).as_posix()}\n"
                   for p in sorted(out.rglob("*")) if p.is_file())
    (out / "SHA256SUMS").write_text(sums, encoding="utf-8")
    print(f"golden set written to {out}: {size} audit entries, trust ledger of 4, 3 alias changes")


README = """# Golden files of driftline v0.2.0

Written once by `tests/golden/make_golden_v2.py` and never regenerated; `tests/golden/test_golden_v2.py`
reads and verifies them with today's code, so every later release must still accept them.

- `keys/trust.jsonl`: the trust ledger (root, rotate, trust, revoke); `keys/*.pub` the three public keys.
- `audit/log.jsonl`: entries 1-2 without a `mac` (written before MACs), 3-9 with one;
  `audit/checkpoints.jsonl`: a checkpoint at 2 by `root`, one at 9 by `signer`.
- `registry/golden/aliases.json`: champion promoted to 1, then 2, rolled back to 1, signed by `signer`.
- `witness/<hash>.json`: the marks `audit`, `trust` and `aliases:golden` of data home `/srv/driftline-golden`.
- `state/reconcile.json`: the reconcile watermark after entry 9.
- `export/`: a compliance bundle of the whole trail (entry 6's `email` masked) and the v0.1.0 model
  version; `audit verify-export export --public-key export/keys/...` accepts it with the keys inside.
- `SHA256SUMS`: every file's digest, so a change is noticed where a file is not signed.

THE PRIVATE KEYS ARE PUBLIC. They are derived from fixed labels in `make_golden_v2.py` (test keys,
like a committed test private key) so that the set is reproducible, and they sign nothing but these
golden files: never trust them in a data home. Times come from a fixed clock; signatures are RFC 6979
deterministic ECDSA, so running the script again into a new folder gives the same bytes.
"""


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="a new folder, e.g. tests/golden/v0.2.0")
    make(parser.parse_args().out)
