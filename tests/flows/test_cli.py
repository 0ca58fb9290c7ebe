"""The command line as a user meets it: one-line errors and exit codes, never a traceback, and
`registry verify` / `audit verify` catching a single flipped byte and naming what failed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.flow


def cli(home: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flows", "--home", str(home), *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env=None if env is None else {**os.environ, **env})


@pytest.fixture()
def home(demo_run, tmp_path: Path) -> Path:
    """A private copy of the demo's data home, free to tamper with."""
    target = tmp_path / "home"
    shutil.copytree(demo_run.home, target)
    return target


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_registry_list_show_and_verify(home: Path) -> None:
    listed = cli(home, "registry", "list")
    assert listed.returncode == 0 and "champion" in listed.stdout
    shown = json.loads(cli(home, "registry", "show", "churn", "champion").stdout)
    assert shown["version"] in (1, 2) and shown["metadata"]["data"]["delta_versions"]
    assert cli(home, "registry", "verify", "--all").returncode == 0
    card = cli(home, "registry", "show", "churn", "champion", "--card")
    assert card.returncode == 0, card.stderr
    assert card.stdout.startswith(f"# Model card: churn v{shown['version']}\n") and "## Segment results" in card.stdout


@pytest.mark.parametrize("name", ["model.txt", "metadata.json", "reference_profile.json", "gate_report.json",
                                  "model_card.md", "model_card.html"])
def test_registry_verify_names_a_flipped_byte_in_a_model_file(home: Path, name: str) -> None:
    flip(home / "registry" / "churn" / "1" / name, 17)
    assert_one_line_error(cli(home, "registry", "verify", "churn", "1"), 3, name)


def test_registry_verify_catches_a_flipped_byte_in_the_signature(home: Path) -> None:
    sig = home / "registry" / "churn" / "1" / "model.sig"
    bundle = json.loads(sig.read_text())
    import base64
    raw = bytearray(base64.b64decode(bundle["dsseEnvelope"]["signatures"][0]["sig"]))
    raw[10] ^= 0x01
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(bytes(raw)).decode()
    sig.write_text(json.dumps(bundle))
    assert_one_line_error(cli(home, "registry", "verify", "churn", "1"), 3, "signature")


def test_loading_a_tampered_champion_is_refused(home: Path) -> None:
    from tasks.workspace import Workspace
    from driftline.errors import IntegrityError

    ws = Workspace.open(home)
    champion = ws.registry.alias("churn", "champion")
    flip(home / "registry" / "churn" / str(champion) / "model.txt", 99)
    with pytest.raises(IntegrityError, match="model.txt"):
        ws.registry.load("churn", "champion")


def test_audit_verify_names_the_first_bad_entry(home: Path) -> None:
    assert cli(home, "audit", "verify").returncode == 0
    log = home / "audit" / "log.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    seq = json.loads(lines[3])["seq"]
    flip(log, sum(len(line) for line in lines[:3]) + 25)
    assert_one_line_error(cli(home, "audit", "verify"), 3, f"entry {seq}")


@pytest.mark.parametrize("argv, needle", [
    (["ingest", "/no/such/file.csv"], "no such file"),
    (["registry", "show", "nosuchmodel"], "nosuchmodel"),
    (["registry", "verify", "churn", "99"], "99"),
    (["registry", "promote", "churn", "99"], "99"),
])
def test_bad_input_is_one_clear_line(home: Path, argv: list[str], needle: str) -> None:
    assert_one_line_error(cli(home, *argv), 2, needle)


def test_erasure_leaves_no_trace_of_the_ids_on_disk(home: Path) -> None:
    """Rows, Parquet files, the Delta log (statistics, commit predicates), the quarantine, the
    audit trail, predictions and kept exports: after `erase`, no file of the data home holds an id."""
    from features.readers import mentions

    victims = ["C000001", "C000002"]
    store = home / "store"
    assert any(v.encode() in p.read_bytes() for p in store.rglob("*.parquet") for v in victims)
    in_landing = [p for p in (home / "landing").rglob("*.*") if mentions(p, "customer_id", victims)]
    assert in_landing  # the demo's ingested drops are still within the landing retention
    assert cli(home, "audit", "export").returncode == 0  # a kept export, erased with the rest if it holds them
    result = cli(home, "erase", *victims, "--reason", "request 42")
    assert result.returncode == 0, result.stderr
    assert "customer_activity" in result.stdout and f"landing drops {len(in_landing)}" in result.stdout
    leaks = [str(p.relative_to(home)) for p in home.rglob("*") if p.is_file()  # EVERY file of the home
             and (any(v.encode() in p.read_bytes() for v in victims) or mentions(p, "customer_id", victims))]
    assert leaks == []
    assert cli(home, "audit", "verify").returncode == 0
    entry = json.loads((home / "audit" / "log.jsonl").read_text().splitlines()[-1])
    assert entry["action"] == "erasure" and entry["details"]["entities"] == 2


def test_erasure_refuses_while_a_drop_holding_the_ids_waits_in_landing(home: Path) -> None:
    # Erasing now would be undone by the next ingestion: nothing is deleted, and the line says why.
    waiting = home / "landing" / "customer_activity" / "late.csv"
    waiting.write_text("customer_id,event_time,sessions,minutes_active,pages_per_session,support_tickets,device\n"
                       "C000003,2024-03-01T00:00:00Z,1,1.0,1.0,0,mobile\n")
    before = sorted(p.name for p in (home / "store").rglob("*.parquet"))
    assert_one_line_error(cli(home, "erase", "C000003", "--reason", "request 43"), 2,
                          "not ingested yet", "customer_activity/late.csv", "python -m flows ingest")
    assert sorted(p.name for p in (home / "store").rglob("*.parquet")) == before
    assert cli(home, "ingest").returncode == 0
    assert cli(home, "erase", "C000003", "--reason", "request 43").returncode == 0
    assert not waiting.exists()


def test_key_rotation_revocation_and_resigning(home: Path, tmp_path: Path) -> None:
    """Rotate: old versions still verify. Revoke the old key: they fail (exit 3) until re-signed;
    the alias file it signed is re-signed by the revocation itself, so aliases still read."""
    old_key = json.loads(cli(home, "registry", "show", "churn", "1").stdout)["key_id"]
    assert cli(home, "keys", "rotate").returncode == 0
    assert cli(home, "registry", "verify", "--all").returncode == 0
    assert cli(home, "keys", "revoke", old_key, "--reason", "laptop lost").returncode == 0
    assert_one_line_error(cli(home, "registry", "verify", "churn", "1"), 3, "revoked")
    (home / "keys" / "revoked" / f"{old_key}.json").unlink()  # a mirror file: deleting it un-revokes nothing
    assert_one_line_error(cli(home, "registry", "verify", "churn", "1"), 3, "revoked")
    active = next(line.split()[0] for line in cli(home, "keys", "list").stdout.splitlines() if "active" in line)
    assert_one_line_error(cli(home, "keys", "revoke", active), 2, "rotate")  # would leave nothing to sign with
    resigned = cli(home, "registry", "resign", "--all")
    assert resigned.returncode == 0 and "re-signed 2 version(s)" in resigned.stdout, resigned.stderr
    assert cli(home, "registry", "verify", "--all").returncode == 0
    actions = [json.loads(line)["action"] for line in (home / "audit" / "log.jsonl").read_text().splitlines()]
    assert actions[-3:] == ["key.rotate", "key.revoke", "model.resign"]
    assert cli(home, "audit", "verify").returncode == 0
    assert cli(home, "keys", "verify").returncode == 0  # the ledger agrees with the audit trail
    ledger = home / "keys" / "trust.jsonl"
    ledger.write_bytes(b"".join(ledger.read_bytes().splitlines(keepends=True)[:-1]))  # cut the revocation
    # Two independent catches: the witness outside the data home saw the longer ledger ...
    assert_one_line_error(cli(home, "keys", "verify"), 3, "the witness saw")
    # ... and, with that witness lost as well, the audit trail still names the missing revocation.
    lost = {"DRIFTLINE_WITNESS_DIR": str(tmp_path / "witness-lost")}
    assert_one_line_error(cli(home, "keys", "verify", env=lost), 3, "key.revoke")


def test_a_torn_audit_tail_is_reported_then_cut_by_the_command_it_names(home: Path) -> None:
    log = home / "audit" / "log.jsonl"
    entries = len(log.read_text().splitlines())
    with log.open("ab") as handle:  # an append cut off by a crash
        handle.write(b'{"action":"ingest","actor":')
    result = cli(home, "audit", "verify")
    assert_one_line_error(result, 3, "torn")
    repaired = cli(home, "audit", "repair-tail")
    assert repaired.returncode == 0 and "cut a torn line" in repaired.stdout, repaired.stderr
    assert len(log.read_text().splitlines()) == entries + 1  # the cut itself is an entry
    assert cli(home, "audit", "verify").returncode == 0
    assert "nothing to repair" in cli(home, "audit", "repair-tail").stdout


def test_a_key_from_elsewhere_verifies_once_trusted(home: Path, tmp_path: Path) -> None:
    """A version signed on another machine is untrusted here until `keys trust` adds its key."""
    from registry.keys import KeyRing

    other = KeyRing(tmp_path / "other-keys").init(b"another machine's passphrase")
    version = home / "registry" / "churn" / "1"
    from registry.versions import ModelRegistry
    from tasks.workspace import Workspace

    from registry.signing import sign_model

    ws = Workspace.open(home)
    record = dict(ModelRegistry(home / "registry", ws.trust).verify("churn", 1).extra)
    sign_model(version, other, extra=record, model_name="churn")  # as the other machine would
    assert_one_line_error(cli(home, "registry", "verify", "churn", "1"), 3, "keys trust")
    # A .pub dropped into trusted/ is only a mirror file: it trusts nothing.
    (home / "keys" / "trusted" / f"{other.key_id}.pub").write_bytes(other.public_pem)
    assert_one_line_error(cli(home, "registry", "verify", "churn", "1"), 3, "keys trust")
    assert "untrusted file" in cli(home, "keys", "list").stdout
    pem = tmp_path / "other.pub"
    pem.write_bytes(other.public_pem)
    assert cli(home, "keys", "trust", str(pem)).returncode == 0
    assert cli(home, "registry", "verify", "churn", "1").returncode == 0
    assert version.is_dir() and cli(home, "audit", "verify").returncode == 0
