"""Shared fixtures of the registry tests: a key ring with one unlocked key, and a registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry import KeyRing, ModelRegistry, SigningKey

VECTORS = Path(__file__).parent / "vectors" / "model-signing-1.1.1"
PASSPHRASE = b"correct horse battery staple"


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    ring = KeyRing(tmp_path / "keys")
    ring.init(PASSPHRASE)
    return ring


@pytest.fixture
def key(ring: KeyRing) -> SigningKey:
    return ring.load(PASSPHRASE)


@pytest.fixture
def registry(tmp_path: Path, ring: KeyRing) -> ModelRegistry:
    return ModelRegistry(tmp_path / "registry", ring.trust, signer=lambda: ring.load(PASSPHRASE))
