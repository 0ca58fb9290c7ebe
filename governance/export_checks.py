"""Offline verification of a compliance bundle written by :func:`governance.export.export_bundle`.

Order of trust: the manifest's signature is checked first against the caller's trusted keys (never
keys shipped in the bundle); only then are the files it lists compared with their digests, extra
or missing files reported, the shipped audit segment re-walked (re-hashed where unmasked, linked by
``prev_hash`` everywhere) and tied to a signed checkpoint, and each model version's ``model.sig``
checked: decoded by the one strict bundle decoder (:meth:`driftline.crypto.Bundle.decode`, the
registry's own), its DSSE signature, and that the ``metadata.json`` digest it signs is the shipped file's;
then each approval record beside a version (:func:`governance.export_approvals.check_approvals`).
The PII policy the manifest records is then checked as honoured (:func:`_pii_problems`): no shipped
entry, nor any row of the analysts' tables, holds a tagged field other than as its action leaves it,
and no shipped model schema or reference profile names a tagged column as a feature.
Every finding is collected into a :class:`BundleVerification`; nothing here raises for bad input.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftline.canonical import canonical_json, file_sha256, sha256_hex
from driftline.crypto import Bundle
from driftline.errors import AuditChainError, IntegrityError
from governance.audit_verify import line_digest
from governance.checkpoints import Checkpoint, Verifier
from governance.export_approvals import check_approvals
from governance.export_pii import FEATURE_FILES, POLICIES, personal_features, treatment_problems
from registry import layout


@dataclass(frozen=True)
class BundleVerification:
    """Outcome of ``verify_bundle``; ``ok`` exactly when ``problems`` is empty."""

    ok: bool
    problems: tuple[str, ...]
    entries: int = 0
    entries_hashed: int = 0
    entries_masked: int = 0
    checkpoints: int = 0
    versions: int = 0
    entries_withheld: int = 0  # a model's export: entries of the chain shipped as their links alone
    approvals: int = 0  # approval records checked (signature, version at their path, manifest digest)

    def __post_init__(self) -> None:
        if self.ok == bool(self.problems):
            raise ValueError("BundleVerification: ok must be true exactly when there are no problems")


def _find(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        if key in value:
            return value[key]
        for item in value.values():
            if (found := _find(item, key)) is not None:
                return found
    return None


def _check_entries(data: bytes, masked: set[int], problems: list[str],
                   withheld: frozenset[int] = frozenset()) -> dict[int, str]:
    """Walk the shipped segment; returns seq -> hash of every entry that linked correctly. A
    withheld entry (a model's export) is its links alone and is checked by its place in the chain;
    any other line must be a whole entry, re-hashed unless masked."""
    hashes: dict[int, str] = {}
    prev: str | None = None
    expected: int | None = None
    for line in data.splitlines():
        try:
            obj = json.loads(line)
            seq, stored = obj["seq"], obj["hash"]
        except (ValueError, KeyError, TypeError):
            problems.append("audit/entries.jsonl holds an unreadable line")
            return hashes
        if expected is not None and seq != expected:
            problems.append(f"audit entry {expected} is missing (found {seq})")
            return hashes
        if prev is not None and obj.get("prev_hash") != prev:
            problems.append(f"audit entry {seq} does not chain onto entry {seq - 1}")
            return hashes
        if (seq in withheld) != (obj.get("withheld") is True):
            problems.append(f"audit entry {seq} is {'not ' * (seq in withheld)}withheld, "
                            f"the manifest says {'it is' if seq in withheld else 'it is not'}")
            return hashes
        if seq not in masked and seq not in withheld:
            digests = line_digest(line)
            if digests is None or digests[0] != digests[1]:
                problems.append(f"audit entry {seq} does not match its hash")
                return hashes
        hashes[seq] = stored
        prev, expected = stored, seq + 1
    return hashes


_MAX_PII_PROBLEMS = 20  # a wholly untreated bundle is named by its first findings, not thousands


def _table_details(root: Path, name: str) -> list[tuple[str, Any, Any]]:
    """(where, action, details) of each row of an analysts' table."""
    data = (root / name).read_bytes()
    if name == "entries.jsonl":
        rows = [json.loads(line) for line in data.splitlines() if line.strip()]
    elif name == "entries.csv":
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    else:
        import pyarrow.parquet as pq  # only a bundle with a Parquet table pays for it

        rows = pq.read_table(io.BytesIO(data)).to_pylist()
    out = []
    for i, row in enumerate(rows, start=1):
        cell = str(row.get("details") or "{}")
        # a CSV cell a spreadsheet could take for a formula was prefixed with ' (export_tables)
        out.append((f"{name} row {i}", row.get("action"), json.loads(cell[1:] if cell.startswith("'") else cell)))
    return out


def _pii_problems(root: Path, manifest: dict[str, Any], withheld: frozenset[int]) -> list[str]:
    """Whether the bundle honours the PII policy its manifest records (see the module doc)."""
    actions = (manifest.get("pii_policy") or {}).get("fields") or {}
    quoted = (manifest.get("pii_policy") or {}).get("quoted") or {}
    if (not isinstance(actions, dict) or any(a not in POLICIES for a in actions.values())
            or not isinstance(quoted, dict) or not all(isinstance(v, list) for v in quoted.values())):
        return ["the manifest's pii_policy is not a mapping of field to drop, mask or hash"]
    if not actions and not quoted:
        return []
    problems: list[str] = []
    try:
        found: list[tuple[str, Any, Any]] = []
        for line in (root / "audit/entries.jsonl").read_bytes().splitlines():
            entry = json.loads(line)
            if entry.get("seq") not in withheld:
                found.append((f"audit entry {entry.get('seq')}", entry.get("action"), entry.get("details")))
        for name in ("entries.jsonl", "entries.csv", "entries.parquet"):
            if (root / name).is_file():
                found += _table_details(root, name)
    except Exception as exc:  # noqa: BLE001 -- hostile bytes in a signed file: a finding, never a crash
        return [f"the entries cannot be read to check the PII policy ({type(exc).__name__})"]
    for where, action, details in found:
        problems += treatment_problems(details, actions, where, quoted.get(action, ()) if isinstance(action, str)
                                       else ())
    for schema in sorted({p.parent for f in FEATURE_FILES for p in (root / "registry").rglob(f)}):
        if named := personal_features(schema, actions):
            problems.append(f"{schema.relative_to(root).as_posix()} ships model files fit on PII column(s) "
                            f"{', '.join(named)}: they hold the column's values")
    if len(problems) > _MAX_PII_PROBLEMS:
        problems[_MAX_PII_PROBLEMS:] = [f"... and {len(problems) - _MAX_PII_PROBLEMS} more PII findings"]
    return problems


def _check_version(folder: Path, name: str, verifier: Verifier, problems: list[str]) -> dict[str, str] | None:
    """Check one shipped version; returns the file digests its model.sig signs when it verified."""
    meta_path, sig_path = folder / layout.METADATA, folder / layout.SIGNATURE
    if not meta_path.exists() or not sig_path.exists():
        problems.append(f"{name}: metadata.json or model.sig is missing")
        return None
    meta_bytes = meta_path.read_bytes()
    try:
        # The registry's strict decoder, not a walk of its own: a second, lenient reading of a
        # signed format would accept a file the registry refuses.
        bundle = Bundle.decode(sig_path.read_bytes())
        verifier.verify(bundle.key_hint, bundle.signed_bytes(), bundle.signature)
        resources = json.loads(bundle.payload)["predicate"]["resources"]
        signed = {item["name"]: item["digest"] for item in resources}
    except IntegrityError as exc:
        problems.append(f"{name}/model.sig: {exc}")
        return None
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        problems.append(f"{name}/model.sig is not a readable model signature ({exc})")
        return None
    if signed.get(layout.METADATA) != sha256_hex(meta_bytes):
        problems.append(f"{name}/metadata.json is not the file model.sig signed")
        return None
    gate_digest = _find(json.loads(meta_bytes), "gate_report_sha256")
    for gate in [g for g in (folder / layout.GATE_REPORT,) if g.is_file()]:
        raw = gate.read_bytes()
        if gate_digest and gate_digest not in (sha256_hex(raw), sha256_hex(raw.rstrip(b"\n"))):
            problems.append(f"{name}/{gate.name} is not the gate report metadata.json names")
    return signed


def check_bundle(root: Path, verifier: Verifier, format_name: str) -> BundleVerification:
    problems: list[str] = []
    try:
        manifest_bytes = (root / "manifest.json").read_bytes()
        signature = (root / "manifest.sig").read_bytes()
        manifest = json.loads(manifest_bytes)
        verifier.verify(manifest["exporter_key_id"], manifest_bytes, signature)
    except IntegrityError as exc:
        return BundleVerification(False, (f"manifest signature: {exc}",))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return BundleVerification(False, (f"manifest unreadable: {exc}",))
    if manifest.get("format") != format_name or canonical_json(manifest) != manifest_bytes:
        problems.append(f"manifest is not canonical {format_name}")
    listed: dict[str, str] = manifest.get("files", {})
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    for extra in sorted(present - set(listed) - {"manifest.json", "manifest.sig"}):
        problems.append(f"{extra} is in the folder but not in the signed manifest")
    for name, digest in sorted(listed.items()):
        if name not in present:
            problems.append(f"{name} is listed in the manifest but missing")
        elif file_sha256(root / name) != digest:
            problems.append(f"{name} does not match its digest in the manifest")
    if problems:  # files differ from what was signed: nothing below can be trusted
        return BundleVerification(False, tuple(problems))

    masked = set(manifest.get("masked_seqs", []))
    withheld = frozenset(manifest.get("withheld_seqs", []))
    hashes = _check_entries((root / "audit/entries.jsonl").read_bytes(), masked, problems, withheld)
    problems += _pii_problems(root, manifest, withheld)
    checkpoints = []
    for line in (root / "audit/checkpoints.jsonl").read_bytes().splitlines():
        try:
            cp = Checkpoint.from_line(line)
            verifier.verify(cp.key_id, cp.payload(), cp.signature_bytes())
        except (AuditChainError, IntegrityError) as exc:
            problems.append(f"checkpoint: {exc}")
            continue
        checkpoints.append(cp)
        if hashes.get(cp.size) != cp.head_hash:
            problems.append(f"checkpoint at size {cp.size} disagrees with the shipped entries")
    if hashes and max(hashes) not in {cp.size for cp in checkpoints}:
        problems.append(f"no valid checkpoint signs the last shipped entry {max(hashes)}")
    versions = sorted({p.parent for p in (root / "registry").rglob(layout.METADATA)} |
                      {p.parent for p in (root / "registry").rglob(layout.SIGNATURE)})
    signed = {}
    for folder in versions:
        name = folder.relative_to(root).as_posix()
        if (resources := _check_version(folder, name, verifier, problems)) is not None:
            signed[name] = resources
    approvals = check_approvals(root, verifier, signed, problems)
    return BundleVerification(
        ok=not problems, problems=tuple(problems), entries=len(hashes),
        entries_hashed=len(set(hashes) - masked - withheld), entries_masked=len(set(hashes) & masked),
        checkpoints=len(checkpoints), versions=len(versions), entries_withheld=len(set(hashes) & withheld),
        approvals=approvals)
