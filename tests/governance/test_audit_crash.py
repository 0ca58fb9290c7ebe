"""Crash safety and concurrency of the audit trail: kill -9 at every write point, eight writers."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from governance.actor import Actor
from governance.audit import AuditLog
from driftline.crypto import key_id_of
from governance.checkpoints import PemVerifier
from tests.governance.doubles import EcdsaSigner

REPO = Path(__file__).resolve().parents[2]
ACTOR = Actor(user="ana", host="laptop")

# The child makes its own key and prints the public PEM first, so the parent can verify its
# checkpoint; then it runs one append and one checkpoint, dying at the armed fault point.
CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from governance.actor import Actor
    from governance.audit import AuditLog
    from driftline.crypto import key_id_of

    class Signer:
        def __init__(self, pem_out):
            self.k = ec.generate_private_key(ec.SECP256R1())
            pem = self.k.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
            Path(pem_out).write_bytes(pem)
            self.key_id = key_id_of(pem)
        def sign(self, data):
            return self.k.sign(data, ec.ECDSA(hashes.SHA256()))

    log = AuditLog(Path(sys.argv[1]))
    signer = Signer(sys.argv[2])
    log.append("model.promoted", "churn/4", {"from": "child"}, actor=Actor(user="child", host="h"))
    log.checkpoint(signer)
""")

STAGES = ["audit.locked", "audit.before_write", "audit.written", "audit.synced",
          "audit.checkpoint_before_write", "audit.checkpoint_written"]


Signer = EcdsaSigner


@pytest.mark.parametrize("stage", STAGES)
def test_kill_at_each_write_point_loses_nothing(tmp_path, stage):
    root = tmp_path / "audit"
    signer = Signer()
    log = AuditLog(root)
    for i in range(3):
        log.append("model.registered", f"churn/{i}", {"i": i}, actor=ACTOR)
    log.checkpoint(signer)
    before_log, before_cps = log.log_path.read_bytes(), log.checkpoint_path.read_bytes()

    env = {**os.environ, "DRIFTLINE_FAULT": stage, "PYTHONPATH": str(REPO)}
    child_pem = tmp_path / "child.pem"
    proc = subprocess.run([sys.executable, "-c", CHILD, str(root), str(child_pem)], env=env,
                          capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()

    verifier = PemVerifier({signer.key_id: signer.pem,
                            key_id_of(child_pem.read_bytes()): child_pem.read_bytes()})
    result = log.verify(verifier)
    assert result.ok, result.problem
    assert log.log_path.read_bytes().startswith(before_log)
    assert log.checkpoint_path.read_bytes().startswith(before_cps)
    expected_entries = 3 if stage in ("audit.locked", "audit.before_write") else 4
    assert result.entries == expected_entries
    # The dead writer's lock was released by the OS: the next append goes through.
    log.append("audit.after_crash", "x", {}, actor=ACTOR)
    assert log.verify(verifier).entries == expected_entries + 1


def _writer(root: str, worker: int, count: int) -> None:
    log = AuditLog(Path(root))
    for i in range(count):
        log.append("stress", f"w{worker}", {"worker": worker, "i": i}, actor=ACTOR)


def test_eight_processes_appending_lose_nothing(tmp_path):
    workers, count = 8, 40
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, count)) for w in range(workers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    log = AuditLog(tmp_path)
    result = log.verify(PemVerifier({}))
    assert result.ok, result.problem
    assert result.entries == workers * count
    seen = Counter((e.details["worker"], e.details["i"]) for e in log.entries())
    assert set(seen) == {(w, i) for w in range(workers) for i in range(count)}
    assert set(seen.values()) == {1}
