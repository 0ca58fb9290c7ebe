"""Files written by an earlier release still load and verify with today's code.

Each ``tests/golden/v*/`` folder was made once by ``make_golden.py`` (v0.1.0) or
``make_golden_v2.py`` (v0.2.0, tested in ``test_golden_v2.py``) and committed. For every set:
``SHA256SUMS`` holds every file's digest. For every set with a model version:
the gate report and the reference profile parse into their typed objects and serialise back to
the same bytes (both formats are canonical JSON); the contract TOML loads and survives the
ledger's dict form; the registry version folder verifies against the committed public key with
the registry's own verifier (a pinned key, no trust store), its model loads and predicts what it
predicted when it was made; and a one-byte flip of any golden file is noticed: by the signature
where the file is signed, by ``SHA256SUMS`` everywhere.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from driftline.canonical import canonical_json
from driftline.errors import DriftlineError, IntegrityError
from features.contracts import FeatureGroupContract, load_contract
from governance.gate_report import CheckResult, GateReport
from monitoring.profile import CategoricalProfile, NumericProfile, ReferenceProfile
from registry.keys import key_id_of
from registry.signing import verify_model
from training.model import TrainedModel

HERE = Path(__file__).parent
ALL_SETS = sorted(p for p in HERE.glob("v*") if p.is_dir())
# Sets holding a model version (v0.1.0); later sets hold other formats (test_golden_v2.py).
SETS = [p for p in ALL_SETS if (p / "predictions.json").is_file()]
SIGNED = ("gate_report.html", "gate_report.json", "metadata.json", "model.sig", "model.txt",
          "model_schema.json", "reference_profile.json", "trials.json")


def version_dir(golden: Path) -> Path:
    (folder,) = [p for p in (golden / "registry").glob("*/*") if p.is_dir()]
    return folder


def public_key(golden: Path) -> bytes:
    return (golden / "keys" / "signer.pub").read_bytes()


@pytest.fixture(params=SETS, ids=[p.name for p in SETS])
def golden(request: pytest.FixtureRequest) -> Path:
    return request.param


@pytest.fixture(params=ALL_SETS, ids=[p.name for p in ALL_SETS])
def any_golden(request: pytest.FixtureRequest) -> Path:
    return request.param


def test_there_is_a_golden_set() -> None:
    assert [p.name for p in SETS][:1] == ["v0.1.0"]
    assert [p.name for p in ALL_SETS][:2] == ["v0.1.0", "v0.2.0"]


def test_every_golden_file_matches_its_recorded_digest(any_golden: Path) -> None:
    golden = any_golden
    sums = dict(reversed(line.split("  ", 1)) for line in
                (golden / "SHA256SUMS").read_text(encoding="utf-8").splitlines())
    files = {p.relative_to(golden).as_posix() for p in golden.rglob("*") if p.is_file()} - {"SHA256SUMS"}
    assert set(sums) == files, "a golden file was added or removed: make a new set instead"
    for name, digest in sums.items():
        assert hashlib.sha256((golden / name).read_bytes()).hexdigest() == digest, name


def test_gate_report_round_trips_to_the_same_bytes(golden: Path) -> None:
    raw = (version_dir(golden) / "gate_report.json").read_bytes()
    report = GateReport.from_json(raw)
    assert report.to_json() == raw
    assert report.checks and all(isinstance(check, CheckResult) for check in report.checks)
    assert report.passed and report.verdict == "promote"
    # The lineage pins the report by digest; the digest is still computed the same way.
    metadata = json.loads((version_dir(golden) / "metadata.json").read_bytes())
    assert metadata["gate_report_sha256"] == report.digest


def test_reference_profile_round_trips_to_the_same_bytes(golden: Path) -> None:
    raw = (version_dir(golden) / "reference_profile.json").read_bytes()
    profile = ReferenceProfile.from_json(raw)
    assert profile.to_json() == raw
    kinds = {type(spec) for spec in profile.features.values()}
    assert kinds == {NumericProfile, CategoricalProfile}


def test_contract_toml_loads_and_survives_the_ledger_form(golden: Path) -> None:
    (path,) = (golden / "contracts").glob("*.toml")
    contract = load_contract(path)
    assert contract.name == path.stem and contract.columns
    again = FeatureGroupContract.from_dict(json.loads(canonical_json(contract.to_dict())))
    assert again == contract


def test_version_folder_verifies_against_the_committed_public_key(golden: Path) -> None:
    folder = version_dir(golden)
    verified = verify_model(folder, public_key_pem=public_key(golden))
    assert verified.key_id == key_id_of(public_key(golden))
    assert set(verified.resources) == set(SIGNED) - {"model.sig"}
    metadata = json.loads((folder / "metadata.json").read_bytes())
    assert dict(verified.extra)["driftline"] == metadata
    assert (metadata["model"], metadata["version"], metadata["status"]) == (folder.parent.name, int(folder.name),
                                                                             "accepted")


def test_model_loads_and_predicts_what_it_predicted_when_made(golden: Path) -> None:
    recorded = json.loads((golden / "predictions.json").read_bytes())
    rows = pl.DataFrame(recorded["rows"]).with_columns(
        pl.col("event_time").str.to_datetime(time_zone="UTC"))
    model = TrainedModel.load(version_dir(golden))
    np.testing.assert_allclose(model.predict(rows), recorded["predictions"], rtol=1e-9, atol=1e-12)


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("name", SIGNED)
def test_a_flipped_byte_in_the_version_folder_fails_verification(golden: Path, tmp_path: Path,
                                                                   name: str, where: str) -> None:
    folder = shutil.copytree(version_dir(golden), tmp_path / "1")
    size = (folder / name).stat().st_size
    flip(folder / name, {"first": 0, "middle": size // 2, "last": size - 2}[where])
    with pytest.raises(IntegrityError):
        verify_model(folder, public_key_pem=public_key(golden))


# Byte 40 lies in the algorithm identifier: cryptography then raises UnsupportedAlgorithm, which
# must still end as a DriftlineError (a one-line exit 2), not a traceback.
@pytest.mark.parametrize("where", [40, 70, 100, 140])
def test_a_flipped_byte_in_the_public_key_fails_verification(golden: Path, where: int) -> None:
    pem = bytearray(public_key(golden))
    pem[where] ^= 0x01
    # A broken PEM is an input error; a different key is untrusted: either way, no verification.
    with pytest.raises(DriftlineError):
        verify_model(version_dir(golden), public_key_pem=bytes(pem))


def test_a_flipped_byte_in_any_golden_file_is_noticed(any_golden: Path, tmp_path: Path) -> None:
    golden = any_golden
    names = sorted(p.relative_to(golden) for p in golden.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    for number, name in enumerate(names):
        copy = shutil.copytree(golden, tmp_path / str(number))
        flip(copy / name, (copy / name).stat().st_size // 2)
        with pytest.raises(AssertionError, match=name.as_posix()):
            test_every_golden_file_matches_its_recorded_digest(copy)


def test_the_independent_model_signing_cli_accepts_the_golden_version(golden: Path) -> None:
    pytest.importorskip("OpenSSL", reason="model-signing needs pyopenssl")
    pytest.importorskip("model_signing", reason="pip install model-signing")
    folder = version_dir(golden)
    run = subprocess.run([sys.executable, "-m", "model_signing", "verify", "key", str(folder), "--signature",
                          str(folder / "model.sig"), "--public_key", str(golden / "keys" / "signer.pub")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_make_golden_refuses_to_overwrite_a_set(tmp_path: Path) -> None:
    sys.path.insert(0, str(HERE))
    try:
        import make_golden
    finally:
        sys.path.remove(str(HERE))
    with pytest.raises(SystemExit, match="never overwritten"):
        make_golden.make(SETS[0])
