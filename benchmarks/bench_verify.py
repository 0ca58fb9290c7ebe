"""Benchmark: verifying a registry version with one large model file, against plain
``hashlib.sha256`` over the same file. Verification should cost little more than hashing
(target: hash time / verify time >= 0.8). Run from the repository root:
``python -m benchmarks.bench_verify [--size 500]``; prints the ratio and ``os.cpu_count()``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

import pytest

from registry import KeyRing, ModelRegistry

_BLOCK = 8 * 1024 * 1024


def plain_sha256(path: Path) -> str:
    """The baseline: one sha256 over the file, read in 8 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run(size_mb: int, repeat: int = 3) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        big = home / "weights.bin"
        with open(big, "wb") as handle:
            chunk = os.urandom(_BLOCK)
            for _ in range(size_mb * 1024 * 1024 // _BLOCK):
                handle.write(chunk)
        ring = KeyRing(home / "keys")
        key = ring.init(b"bench")
        registry = ModelRegistry(home / "registry", ring.trust)
        version = registry.register("bench", files={"weights.bin": big}, metadata={}, status="accepted", key=key)
        target = version.path / "weights.bin"
        plain_sha256(target)  # warm the page cache for both contenders alike
        hash_s = best_of(repeat, lambda: plain_sha256(target))
        verify_s = best_of(repeat, lambda: registry.verify("bench", version.version))
    return {"size_mb": size_mb, "hash_s": hash_s, "verify_s": verify_s, "ratio": hash_s / verify_s}


def report(result: dict[str, float]) -> str:
    return (f"size={result['size_mb']} MB  sha256={result['hash_s']:.3f}s  verify={result['verify_s']:.3f}s  "
            f"ratio={result['ratio']:.2f} (target >= 0.8)  cpu_count={os.cpu_count()}")


@pytest.mark.benchmark
def test_verify_costs_about_one_hash() -> None:
    result = run(200)
    print(report(result))
    assert result["ratio"] >= 0.8, report(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200, help="model file size in MB (e.g. 500)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(report(run(args.size, args.repeat)))


if __name__ == "__main__":
    main()
