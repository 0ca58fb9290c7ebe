"""A person's approval records in a compliance bundle: shipped beside the versions, verified offline.

A version whose signed spec asks for approval is decided by one signed record,
``registry/<model>/approvals/<version>.json`` (:mod:`registry.approvals`), kept outside the version
folder so that ``model_signing verify`` still accepts the folder as signed. The export ships each
shipped version's record at the same path, after checking it with the keys the bundle carries (a
damaged record refuses the export, as a broken audit log does: a bundle never vouches for what its
data home cannot). :func:`check_approvals` is the verifier's side: every shipped record is parsed by
the registry's one parser (:meth:`Approval.from_bytes`) and its signature checked against the
auditor's trusted keys, and it must decide the version at its path, bound by the digest of the file
digests that version's ``model.sig`` signs (a record copied from another version is refused).
:func:`approval_state` is what the per-model report shows: the state read from the record and the
signed requirement, never from the audit trail alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from driftline.errors import IntegrityError, SignatureError
from registry.approvals import FOLDER, Approval, SignatureChecker, manifest_digest, requirement

__all__ = ["approval_name", "approval_state", "check_approvals", "read_approval", "record_of"]


def approval_name(model: str, version: int) -> str:
    """The record's path in a bundle and under the data home's ``registry/``."""
    return f"registry/{model}/{FOLDER}/{version}.json"


def read_approval(registry_root: Path, model: str, version: int,
                  checker: SignatureChecker) -> tuple[bytes, Approval] | None:
    """The record of ``model`` ``version`` as stored, verified by ``checker``; None when there is
    none. A damaged, forged or misplaced record raises (:class:`IntegrityError`, naming the file)."""
    path = Path(registry_root) / model / FOLDER / f"{version}.json"
    if not path.is_file() or path.is_symlink():
        return None
    raw = path.read_bytes()
    record = Approval.from_bytes(raw, where=path, trust=checker)
    if (record.model, record.version) != (model, version):
        raise SignatureError(f"the approval record {path} decides {record.model} v{record.version}, not "
                             f"{model} v{version}", hint="it was copied from another version; remove it and "
                                                         "decide again with `python -m flows registry approve`")
    return raw, record


def approval_state(metadata: Mapping[str, Any], record: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the report shows of a version's approval: ``state`` (not required, pending, approved,
    rejected), and the record's approver, time and reason when there is one."""
    need = requirement(metadata)
    if record is not None:
        return {"state": str(record.get("decision")), "approver": record.get("approver"),
                "at": record.get("at"), "reason": record.get("reason"), "approvers": list(need.approvers)}
    return {"state": "pending" if need.required and metadata.get("status") == "accepted"
            else "required" if need.required else "not required", "approvers": list(need.approvers)}


def check_approvals(root: Path, checker: SignatureChecker, signed: Mapping[str, Mapping[str, str]],
                    problems: list[str]) -> int:
    """Check every approval record in the bundle at ``root``; ``signed`` maps a version's bundle
    folder (``registry/<model>/<version>``) to the file digests its verified ``model.sig`` signs.
    Findings go to ``problems``, each naming the file; returns how many records were checked."""
    records = sorted((root / "registry").glob(f"*/{FOLDER}/*.json")) if (root / "registry").is_dir() else []
    for path in records:
        name = path.relative_to(root).as_posix()
        model, number = path.parent.parent.name, path.stem
        try:
            record = Approval.from_bytes(path.read_bytes(), where=name, trust=checker)
        except IntegrityError as exc:
            problems.append(f"{name}: {exc}")
            continue
        if (record.model, str(record.version)) != (model, number):
            problems.append(f"{name} decides {record.model} v{record.version}, not the version at its path")
            continue
        resources = signed.get(f"registry/{model}/{number}")
        if resources is None:
            problems.append(f"{name} decides a version the bundle does not ship with a valid model.sig")
        elif record.manifest_sha256 != manifest_digest(resources):
            problems.append(f"{name} decides another build of {model} v{number} (its manifest digest is not "
                            "the one the version's model.sig signs)")
    return len(records)


def record_of(raw: bytes) -> dict[str, Any]:
    """The decision part of a stored record (already verified by :func:`read_approval`)."""
    return dict(json.loads(raw)["approval"])
