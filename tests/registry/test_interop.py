"""Interoperability with the independent OpenSSF `model_signing` CLI (PyPI `model-signing`):
it accepts versions our registry signed, refuses them after a one-byte change, and we accept
what it signs with our key. Needs `pip install model-signing pyopenssl` (model-signing uses
pyopenssl without declaring it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from registry import ModelRegistry, SigningKey, verify_model

pytest.importorskip("OpenSSL", reason="model-signing needs pyopenssl: pip install pyopenssl")
pytest.importorskip("model_signing", reason="pip install model-signing to run the interop tests")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "model_signing", *args], capture_output=True,
                          text=True, timeout=120)


def test_cli_accepts_our_signature_and_refuses_a_changed_byte(
        tmp_path: Path, registry: ModelRegistry, key: SigningKey) -> None:
    version = registry.register("churn", files={"model.txt": b"tree 1\n", "sub/ref.csv": b"a,b\n1,2\n"},
                                metadata={"auc": 0.81}, status="accepted", key=key)
    public = tmp_path / "key.pub"
    public.write_bytes(key.public_pem)
    command = ("verify", "key", str(version.path), "--signature", str(version.path / "model.sig"),
               "--public_key", str(public))
    accepted = cli(*command)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "Verification succeeded" in accepted.stdout
    target = version.path / "sub" / "ref.csv"
    data = bytearray(target.read_bytes())
    data[2] ^= 0x01
    target.write_bytes(bytes(data))
    refused = cli(*command)
    assert refused.returncode != 0
    assert "sub/ref.csv" in refused.stdout + refused.stderr


def test_we_accept_what_the_cli_signs_with_our_key(tmp_path: Path, key: SigningKey) -> None:
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    (model / "sub" / "ref.csv").write_bytes(b"a\n")
    private = tmp_path / "key.pem"
    private.write_bytes(key._private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    signed = cli("sign", "key", str(model), "--private_key", str(private), "--signature", str(model / "model.sig"))
    assert signed.returncode == 0, signed.stdout + signed.stderr
    assert verify_model(model, public_key_pem=key.public_pem).key_id == key.key_id


def test_cli_covers_the_model_card_and_refuses_a_flipped_byte_in_it(
        tmp_path: Path, registry: ModelRegistry, key: SigningKey) -> None:
    from governance.gate_report import CheckResult, GateReport
    from usecases.registration import card_of

    report = GateReport(passed=True, verdict="promote", checks=(CheckResult("min_auc", True, 0.8, ">= 0.6", "ok"),),
                        policy="min_auc", candidate="churn candidate", champion=None,
                        created_at="2026-11-30T06:00:00.000000Z")
    version = registry.register("churn", files={"model.txt": b"tree 1\n"}, metadata={"metrics": {"auc": 0.8}},
                                status="accepted", key=key, derived=card_of(report, {"roc": "<svg/>"}))
    card = version.path / "model_card.md"
    assert "# Model card: churn v1" in card.read_text() and (version.path / "model_card.html").is_file()
    assert {"model_card.md", "model_card.html"} <= set(verify_model(version.path, public_key_pem=key.public_pem)
                                                       .resources)
    public = tmp_path / "key.pub"
    public.write_bytes(key.public_pem)
    command = ("verify", "key", str(version.path), "--signature", str(version.path / "model.sig"),
               "--public_key", str(public))
    accepted = cli(*command)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    for name in ("model_card.md", "model_card.html"):
        target = version.path / name
        original = target.read_bytes()
        data = bytearray(original)
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
        refused = cli(*command)
        assert refused.returncode != 0
        assert name in refused.stdout + refused.stderr
        target.write_bytes(original)
