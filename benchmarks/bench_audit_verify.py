"""Benchmark: verify a 1,000,000-entry audit log (target: under 10 s on 2 cores).

Builds the log on a fast path (canonical JSON of each entry's body, hash spliced in, exactly as
``AuditEntry.create(...).to_line()`` would write it — checked on the first entries), signs one
checkpoint over the head, then times ``AuditLog.verify`` against a baseline loop that only does
``json.loads`` + sha256 per line. Run: ``.venv/bin/python benchmarks/bench_audit_verify.py [N]``
or through pytest with ``-m benchmark``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pytest

from driftline.canonical import canonical_json
from governance.audit import ZERO_HASH, AuditEntry, AuditLog
from governance.checkpoints import PemVerifier
from registry.keys import KeyRing

ACTOR = {"user": "bench", "host": "bench-host", "flow_run_id": None}




def build_log(root: Path, n: int) -> None:
    prev = ZERO_HASH
    with open(root / "log.jsonl", "wb") as handle:
        for seq in range(1, n + 1):
            body = {"seq": seq, "time": f"2024-05-01T00:00:{seq % 60:02d}.{seq % 1_000_000:06d}Z",
                    "actor": ACTOR, "action": "model.scored", "subject": f"churn/{seq % 17}",
                    "details": {"rows": seq * 7 % 10_000, "table": "customer_activity"},
                    "prev_hash": prev}
            raw = canonical_json(body)
            digest = hashlib.sha256(raw).hexdigest()
            cut = raw.rfind(b',"prev_hash":"') + 1
            line = raw[:cut] + b'"hash":"' + digest.encode() + b'",' + raw[cut:] + b"\n"
            if seq <= 3:  # the fast path must write exactly what append would
                assert line == AuditEntry.create(**body).to_line()
            handle.write(line)
            prev = digest


def baseline(path: Path) -> float:
    start = time.perf_counter()
    with open(path, "rb") as handle:
        for line in handle:
            json.loads(line)
            hashlib.sha256(line).hexdigest()
    return time.perf_counter() - start


def run(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        build_log(root, n)
        built = time.perf_counter() - t0
        signer = KeyRing(Path(tmp) / "keys").init(b"bench-only-passphrase")  # the real signing key
        log = AuditLog(root)
        log.checkpoint(signer)
        verifier = PemVerifier({signer.key_id: signer.public_pem})
        t0 = time.perf_counter()
        result = log.verify(verifier)
        verify_s = time.perf_counter() - t0
        assert result.ok and result.entries == n and result.unsigned_tail == 0, result.problem
        base_s = baseline(log.log_path)
        size_mb = log.log_path.stat().st_size / 1e6
    return {"entries": n, "file_mb": size_mb, "build_s": built, "verify_s": verify_s,
            "baseline_s": base_s, "ratio": verify_s / base_s, "cpus": os.cpu_count() or 0}


def report(stats: dict[str, float]) -> str:
    return (f"audit verify: {stats['entries']:,} entries ({stats['file_mb']:.0f} MB) in "
            f"{stats['verify_s']:.2f} s on os.cpu_count()={stats['cpus']}; baseline json.loads+sha256 "
            f"{stats['baseline_s']:.2f} s; ratio {stats['ratio']:.2f}x; build {stats['build_s']:.1f} s")


@pytest.mark.benchmark
def test_verify_one_million_entries_under_ten_seconds():
    stats = run(1_000_000)
    print(report(stats))
    assert stats["verify_s"] < 10.0


if __name__ == "__main__":
    print(report(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)))
