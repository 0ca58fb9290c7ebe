"""Human approval of a version: the requirement (from the version's signed spec) and the signed decision.

A model's spec may require a person's approval before any of its versions is used
(``approval = true``, optionally ``approvers = [...]``). The requirement is read from the spec
record signed into the version's metadata (:func:`requirement`), never from the spec file at
promote time, so editing ``models/NAME.toml`` after training changes nothing for that version.
The decision is one signed record per version, ``registry/<model>/approvals/<version>.json``,
kept outside the version folder (whose signature covers every file in it): canonical JSON of the
model, version, the digest of the version's signed manifest, the decision, approver, reason and
time, signed with the active key like the alias file, verified through the trust store on every
read. Binding the manifest digest refuses a record copied from another version or kept after a
version folder was replaced. Round-trip law: ``Approval.from_bytes(a.to_bytes(s), ...) == a``.
A missing record leaves the version ``pending`` unless the audit trail names a decision on it
(:class:`DecisionRecordMissing`: the record was deleted), or the signed timeout has passed: a
version pending for longer than its spec's ``approval_timeout_hours`` after its signed
``created_at`` is rejected (:func:`deadline`), by every reader, with nothing written. A damaged
record is an :class:`IntegrityError`, never an approval.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from driftline.atomic import write_atomic
from driftline.canonical import canonical_b64decode, canonical_json
from driftline.clock import parse_time
from driftline.errors import InputError, IntegrityError, SignatureError
from registry.ledger import Signer
from registry.trust import TrustStore

Decision = Literal["approved", "rejected"]
DECISIONS: tuple[str, ...] = ("approved", "rejected")
FOLDER = "approvals"  # registry/<model>/approvals/<version>.json
DEFAULT_TIMEOUT_HOURS = 72.0


class SignatureChecker(Protocol):
    """What checks a record's signature: the trust store (revocation aware) in the data home, a
    bundle's :class:`governance.checkpoints.PemVerifier` over the keys an auditor trusts offline."""

    def verify(self, key_id: str, data: bytes, signature: bytes) -> None: ...


class ApprovalRefused(InputError):
    """An approval the rules forbid: not required, decided already, an approver not on the list,
    or the approval timed out."""


class DecisionRecordMissing(IntegrityError):
    """The audit trail records a decision on a version whose signed record is gone: it was deleted
    (or a decision was cut off between its entry and its record). Never read as pending."""

    def __init__(self, message: str, *, decision: "Approval", seq: int, hint: str) -> None:
        super().__init__(message, hint=hint)
        self.decision = decision
        self.seq = seq


@dataclass(frozen=True)
class TrailDecision:
    """A decision as the audit trail holds it: the record it stands for, and the entry's seq."""

    approval: "Approval"
    seq: int


@dataclass(frozen=True)
class Requirement:
    """What a version's signed spec asks: whether a person must approve it, and who may.
    An empty ``approvers`` means anyone who holds the signing key's passphrase."""

    required: bool
    approvers: tuple[str, ...] = ()
    timeout_hours: float = DEFAULT_TIMEOUT_HOURS


def requirement(signed_record: Mapping[str, Any]) -> Requirement:
    """The requirement of a version, from its SIGNED metadata record (``VerifiedModel.extra``'s
    ``driftline``). Versions made before specs, or by a spec without approval, need none."""
    spec = signed_record.get("model_spec")
    if not isinstance(spec, Mapping) or not spec.get("approval"):
        return Requirement(required=False)
    approvers = spec.get("approvers") or ()
    timeout = spec.get("approval_timeout_hours")
    return Requirement(required=True, approvers=tuple(str(a) for a in approvers),
                       timeout_hours=float(timeout) if isinstance(timeout, (int, float)) else DEFAULT_TIMEOUT_HOURS)


def deadline(signed_record: Mapping[str, Any], need: Requirement) -> datetime | None:
    """When a pending version's wait ends: its SIGNED ``created_at`` plus the signed spec's timeout
    (None when no approval is asked, or the record has no readable time: never guessed)."""
    if not need.required:
        return None
    try:
        return parse_time(str(signed_record["created_at"])) + timedelta(hours=need.timeout_hours)
    except (KeyError, InputError):
        return None


def manifest_digest(resources: Mapping[str, str]) -> str:
    """sha256 over the canonical JSON of a verified version's file digests: names the exact version."""
    return hashlib.sha256(canonical_json(dict(resources))).hexdigest()


@dataclass(frozen=True)
class Approval:
    """One decision on one version. Round-trip law: ``Approval(**a.to_json()) == a``."""

    model: str
    version: int
    manifest_sha256: str
    decision: Decision
    approver: str
    reason: str
    at: str
    host: str = ""
    flow_run_id: str | None = None

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise InputError(f"decision {self.decision!r} is neither approved nor rejected",
                             hint="approve or reject")
        if not isinstance(self.version, int) or isinstance(self.version, bool) or self.version < 1:
            raise InputError(f"version {self.version!r} is not a version number", hint="use 1, 2, ...")
        for name in ("model", "manifest_sha256", "approver", "reason"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"an approval needs a {name}, found {value!r}",
                                 hint="say who decides and why (--reason TEXT)")
        parse_time(self.at)

    @property
    def approved(self) -> bool:
        return self.decision == "approved"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def to_bytes(self, signer: Signer) -> bytes:
        signature = base64.b64encode(signer.sign(canonical_json(self.to_json()))).decode("ascii")
        return canonical_json({"approval": self.to_json(),
                               "signature": {"key_id": signer.key_id, "value": signature}}) + b"\n"

    @classmethod
    def from_bytes(cls, raw: bytes, *, where: Path | str, trust: SignatureChecker) -> Approval:
        """Parse and authenticate a record: its signature by a trusted, unrevoked key (``trust``:
        the data home's trust store, or an export's offline verifier; one parser for both)."""
        try:
            doc = json.loads(raw)
            body = doc["approval"]
            if set(body) != {f.name for f in fields(cls)}:
                raise KeyError("fields")
            record = cls(**body)
            signature = doc["signature"]
            key_id, value = signature["key_id"], canonical_b64decode(signature["value"])
        except (ValueError, KeyError, TypeError, AttributeError, InputError) as exc:
            raise SignatureError(f"the approval record {where} is damaged ({type(exc).__name__})",
                                 hint="restore it from a backup; an approval is never guessed") from None
        try:
            trust.verify(key_id, canonical_json(record.to_json()), value)
        except IntegrityError as exc:
            raise type(exc)(f"the approval record {where}: {exc.message}",
                            hint="it was changed without the signing key; restore it from a backup") from None
        return record


class ApprovalBook:
    """Reads (verifying) and writes the approval records of one model (caller holds its lock to write)."""

    def __init__(self, model_root: Path, trust: TrustStore) -> None:
        self.folder = Path(model_root) / FOLDER
        self.model = Path(model_root).name
        self.trust = trust

    def path(self, version: int) -> Path:
        return self.folder / f"{version}.json"

    def read(self, version: int, *, manifest_sha256: str) -> Approval | None:
        """The verified decision on ``version``, None when none was recorded. A record that names
        another model, version or manifest (copied, or left from a replaced version) is refused."""
        path = self.path(version)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        record = Approval.from_bytes(raw, where=path, trust=self.trust)
        if (record.model, record.version, record.manifest_sha256) != (self.model, version, manifest_sha256):
            raise SignatureError(f"the approval record {path} decides {record.model} v{record.version} "
                                 f"(manifest {record.manifest_sha256[:12]}), not this version",
                                 hint="it was copied from another version; remove it and decide again")
        return record

    def write(self, record: Approval, *, signer: Signer) -> None:
        self.trust.public_key(signer.key_id)  # never write a record readers would refuse
        write_atomic(self.path(record.version), record.to_bytes(signer), prefix=".approval.",
                     staged="approval.staged", replaced="approval.replaced")
