"""The model registry: immutable, signed versions of each model, and aliases pointing at them.

``registry/<model>/<version>/`` holds the model's files, ``metadata.json`` (the caller's
metadata plus model, version, status and created_at, canonical JSON) and ``model.sig``, an
OpenSSF model-signing bundle whose predicate also carries that metadata. A version is built in
a hidden staging folder, fsynced and renamed into place under the model's lock, so readers see
a whole signed version or none; numbers are allocated under the same lock. Reading a version
for use (:meth:`ModelRegistry.load`) always verifies it first; nothing tampered, unsigned or
signed by an untrusted or revoked key gets through.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from filelock import FileLock, Timeout

from driftline.atomic import fault_point, fsync_dir, write_atomic
from driftline.canonical import canonical_json
from driftline import clock as _clock
from driftline.clock import now_text
from driftline.crypto import Bundle
from driftline.errors import (InputError, IntegrityError, KeyMaterialError, LockTimeout,
                              NotFoundError, SignatureError)
from driftline.staging import remove_dead_staging, staging_name
from registry import layout
from registry._staging import fsync_tree, write_file, write_files
from registry.aliases import AliasBook, AliasChange, PromotionRefused, check_alias
from registry.approval_state import ApprovalDesk, ApprovalState
from registry.approval_state import Status as Status  # the gate status, re-exported for callers
from registry.approvals import Approval, TrailDecision
from registry.keys import SigningKey
from registry.layout import VersionFiles
from registry.signing import VerifiedModel, sign_model, verify_model
from registry.trust import LedgerWitness, TrustStore

log = logging.getLogger(__name__)
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_RESERVED_FILES = set(layout.RESERVED)
_RESERVED_META = {"model", "version", "status", "created_at", "candidate"}
# (the version's record, the signing key's id) -> files derived from them, e.g. the model card
Derived = Callable[[Mapping[str, Any], str], Mapping[str, bytes]]


def check_model_name(model: str) -> str:
    if not isinstance(model, str) or not _MODEL.match(model):
        raise InputError(f"{model!r} is not a valid model name",
                         hint="letters, digits, '.', '-' or '_', starting with a letter or digit")
    return model


@dataclass(frozen=True)
class ModelVersion:
    """One registered version as its ``metadata.json`` describes it (not yet verified).

    Round-trip law: ``registry.get(v.model, v.version) == v``. ``key_id`` is ``""`` when the
    signature cannot be read; such a version never verifies.
    """

    model: str
    version: int
    path: Path
    status: Status
    metadata: Mapping[str, Any] = field(compare=False)
    created_at: str
    key_id: str

    def __post_init__(self) -> None:
        check_model_name(self.model)
        if not isinstance(self.version, int) or self.version < 1:
            raise InputError(f"version {self.version!r} is not a positive integer", hint="use 1, 2, ...")
        if self.status not in ("accepted", "rejected"):
            raise InputError(f"status {self.status!r} is neither accepted nor rejected",
                             hint="the evaluation gate decides one of the two")
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))


class ModelRegistry:
    """Versions and aliases of every model under ``root`` (the data home's ``registry/``)."""

    def __init__(self, root: Path, trust: TrustStore, *, lock_timeout: float = 60.0,
                 signer: Callable[[], SigningKey] | None = None,
                 alias_witness: Callable[[str], LedgerWitness] | None = None,
                 trail: Callable[[str, int, str], TrailDecision | None] | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        """``signer`` gives the active key when an alias changes (called only then, so that reading
        needs no passphrase); without one the registry can read and register but not move aliases.
        ``alias_witness(model)`` gives the mark of that model's alias history kept outside the data
        home, which catches an older signed alias file put back. ``trail(model, version, manifest)``
        gives the decision the audit trail holds on a version (asked only when its record is
        missing). ``clock`` is "now" for approval timeouts (default ``driftline.clock.utc_now``)."""
        self.root = Path(root)
        self.trust = trust
        self.lock_timeout = lock_timeout
        self._signer = signer
        self._alias_witness = alias_witness
        self._clock = clock
        self._desk = ApprovalDesk(self.root, trust, verify=self.verify, lock=self._lock,
                                  signing_key=self._signing_key, trail=trail, now=self.now)

    def now(self) -> datetime:
        """The registry's "now" (read through the module, so a test's clock takes effect)."""
        return self._clock() if self._clock is not None else _clock.utc_now()

    # ----------------------------------------------------------------- reading
    def models(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _MODEL.match(p.name))

    def _numbers(self, model: str) -> list[int]:
        folder = self.root / check_model_name(model)
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit() and p.is_dir())

    def versions(self, model: str) -> list[ModelVersion]:
        return [self._read(model, n) for n in self._numbers(model)]

    def get(self, model: str, ref: int | str) -> ModelVersion:
        """A version by number, ``"latest"``, or alias name; :class:`NotFoundError` otherwise."""
        numbers = self._numbers(model)
        number: int | None
        if isinstance(ref, int) and not isinstance(ref, bool):
            number = ref
        elif ref == "latest":
            number = numbers[-1] if numbers else None
        elif isinstance(ref, str):
            number = self.alias(model, ref)
        else:
            raise InputError(f"{ref!r} is neither a version number nor an alias", hint="use 3, 'latest' or 'champion'")
        if number is None or number not in numbers:
            raise NotFoundError(f"model {model!r} has no version {ref!r}",
                                hint=f"known versions: {numbers or 'none'}; aliases: {dict(self.aliases(model))}")
        return self._read(model, number)

    def _read(self, model: str, number: int) -> ModelVersion:
        path = self.root / model / str(number)
        try:
            meta = json.loads(VersionFiles(path).metadata.read_bytes())
            status, created_at = meta["status"], str(meta["created_at"])
            if status not in ("accepted", "rejected"):
                raise ValueError(status)
        except (OSError, ValueError, KeyError, TypeError):
            # Fail closed: an unreadable version is listed as rejected and will not verify.
            meta, status, created_at = {}, "rejected", ""
        try:
            key_id = Bundle.decode(VersionFiles(path).signature.read_bytes()).key_hint
        except (OSError, SignatureError):
            key_id = ""
        user_meta = {k: v for k, v in meta.items() if k not in _RESERVED_META}
        return ModelVersion(model=model, version=number, path=path, status=status,
                            metadata=user_meta, created_at=created_at, key_id=key_id)

    # --------------------------------------------------------------- verifying
    def verify(self, model: str, version: int) -> VerifiedModel:
        """Digests, signature, trusted unrevoked key, and the signed model/version match the path."""
        path = self.root / check_model_name(model) / str(version)
        if not path.is_dir():
            raise NotFoundError(f"model {model!r} has no version {version}", hint="list versions first")
        verified = verify_model(path, trust=self.trust)
        record = verified.extra.get("driftline")
        if (layout.METADATA not in verified.resources or not isinstance(record, dict)
                or record.get("model") != model or record.get("version") != version):
            raise SignatureError(f"{path} holds a signature for another model or version",
                                 hint="a signed version was copied or renamed; restore the original")
        return verified

    def verify_all(self) -> list[tuple[ModelVersion, VerifiedModel | IntegrityError]]:
        results: list[tuple[ModelVersion, VerifiedModel | IntegrityError]] = []
        for model in self.models():
            for version in self.versions(model):
                try:
                    verified = self.verify(model, version.version)
                    self._standing(model, version.version, verified)  # its approval record too, if any
                    results.append((version, verified))
                except IntegrityError as exc:
                    results.append((version, exc))
        return results

    def load(self, model: str, ref: int | str) -> ModelVersion:
        """Resolve ``ref`` (an alias through its signed file) and verify the version before handing
        it out; refuse a version whose signed status is not ``accepted``.

        Promotion never points an alias at a rejected version, so an alias that does was forged:
        :class:`IntegrityError`. Loading a rejected version by number is an input error.
        """
        version = self.get(model, ref)
        verified = self.verify(model, version.version)
        status = verified.extra["driftline"].get("status")
        if status == "accepted" and version.status == "accepted":
            status = self._standing(model, version.version, verified).status  # a person's approval, if asked
        if status != "accepted" or version.status != "accepted":
            message = f"{model} v{version.version} has status {status!r}, only accepted versions are used"
            if isinstance(ref, str) and ref != "latest":
                raise IntegrityError(f"alias {ref!r} of {message}",
                                     hint="promotion refuses rejected and unapproved versions, so the alias was "
                                          "forged or the approval record removed; restore them from a backup and "
                                          "run `registry verify`")
            raise InputError(message, hint="promote an accepted (and, where asked, approved) version "
                                           "and load it by alias")
        return version

    # --------------------------------------------------------------- approval
    # The approval logic is registry.approval_state's ApprovalDesk; these delegates keep the
    # registry's public surface (and _refuse_unapproved, the hook set_alias calls).
    def _standing(self, model: str, version: int, verified: VerifiedModel, *,
                  missing_ok: bool = False) -> ApprovalState:
        return self._desk.standing(model, version, verified, missing_ok=missing_ok)

    def approval_state(self, model: str, version: int) -> ApprovalState:
        """Verify the version and read its approval standing: :class:`IntegrityError` on a bad record,
        :class:`DecisionRecordMissing` when the record is gone but the audit trail holds a decision."""
        return self._desk.state(model, version)

    def _refuse_unapproved(self, model: str, version: int) -> None:
        self._desk.refuse_unapproved(model, version)

    def record_decision(self, decision: Approval, *, record: Callable[[Approval], object] | None = None) -> None:
        """Write the signed decision on a version, once. ``record`` (the audit append) runs first,
        under the model's lock: a kill between the two leaves an entry and no record (readers then
        report :class:`DecisionRecordMissing`; :meth:`restore_decision` completes it), never a
        decision the trail does not name. A version whose trail names a decision is never decided
        again, its record there or not; an approval past the timeout is refused."""
        self._desk.record(decision, record=record)

    def restore_decision(self, model: str, version: int, *,
                         check: Callable[[TrailDecision], object] | None = None) -> TrailDecision | None:
        """Rewrite a missing record from the decision the audit trail holds (the trail's approver,
        reason and time, signed with the active key); None when there is nothing to restore (a
        record is there, or the trail names no decision). ``check`` (the caller's MAC check of the
        entry, then its audit entry) runs first, under the model's lock."""
        return self._desk.restore(model, version, check=check)

    # ----------------------------------------------------------------- writing
    @contextlib.contextmanager
    def _lock(self, model: str) -> Iterator[Path]:
        folder = self.root / check_model_name(model)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(folder / ".lock"), timeout=self.lock_timeout):
                yield folder
        except Timeout:
            raise LockTimeout(f"registry lock of model {model!r} held for over {self.lock_timeout}s",
                              hint="another registration is running; retry, or remove a stale lock") from None

    def find_candidate(self, model: str, identity: str) -> ModelVersion | None:
        """The version registered for this candidate identity (see ``register``), newest first."""
        for number in reversed(self._numbers(model)):
            try:
                meta = json.loads(VersionFiles(self.root / model / str(number)).metadata.read_bytes())
            except (OSError, ValueError):
                continue
            if isinstance(meta, dict) and meta.get("candidate") == identity:
                return self._read(model, number)
        return None

    def register(self, model: str, *, files: Mapping[str, Path | bytes], metadata: Mapping[str, Any],
                 status: Status, key: SigningKey, identity: str | None = None,
                 derived: Derived | None = None) -> ModelVersion:
        """Store, sign and publish a new immutable version; returns it (version number allocated here).

        ``derived(record, key_id)`` gives files that depend on what is only known here, under the
        lock: the signed record (metadata plus model, version, status, created_at) and the id of the
        signing key. The model card is one (``usecases.registration``). They are written beside
        ``files`` and signed with them.

        ``identity`` names the candidate (the caller's digest of what makes it the same model):
        it is signed into the metadata, and when a version with the same identity already exists
        that version is returned (verified) instead of a new one, so a rerun after a crash between
        publishing a version and auditing it registers nothing twice.
        """
        check_model_name(model)
        if status not in ("accepted", "rejected"):
            raise InputError(f"status {status!r} is neither accepted nor rejected", hint="pass the gate's decision")
        if not files:
            raise InputError("a model version needs at least one file", hint="pass files={'model.txt': path}")
        if identity is not None and (not isinstance(identity, str) or not identity):
            raise InputError(f"candidate identity {identity!r} is not a non-empty string", hint="pass a digest")
        clash = _RESERVED_META & set(metadata)
        if clash:
            raise InputError(f"metadata keys {sorted(clash)} are set by the registry", hint="rename them")
        canonical_json(dict(metadata))  # refuse non-JSON metadata before writing anything
        folder = self.root / model
        folder.mkdir(parents=True, exist_ok=True)
        staging = folder / staging_name(uuid.uuid4().hex)
        try:
            write_files(staging, files, reserved=_RESERVED_FILES)
            fault_point("register.staged")
            with self._lock(model):
                remove_dead_staging(folder)
                existing = self.find_candidate(model, identity) if identity is not None else None
                if existing is not None:
                    shutil.rmtree(staging, ignore_errors=True)
                    self.verify(model, existing.version)  # never hand back a tampered twin
                    return existing
                numbers = self._numbers(model)
                version = (numbers[-1] if numbers else 0) + 1
                record = {**metadata, "model": model, "version": version, "status": status,
                          "created_at": now_text()}
                if identity is not None:
                    record["candidate"] = identity
                if derived is not None:
                    write_files(staging, derived(MappingProxyType(dict(record)), key.key_id),
                                reserved=_RESERVED_FILES, fresh=False)
                    fault_point("register.derived")
                write_file(VersionFiles(staging).metadata, canonical_json(record) + b"\n")
                fault_point("register.metadata")
                sign_model(staging, key, extra={"driftline": record}, model_name=model)
                fsync_tree(staging)
                fault_point("register.signed")
                os.rename(staging, folder / str(version))
                fault_point("register.renamed")
                fsync_dir(folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self._read(model, version)

    def resign(self, model: str, version: int, key: SigningKey) -> None:
        """Re-sign a version after its key was revoked, if its files still match the old signature.

        The old signature must still be valid under the old (possibly revoked) key, so that
        re-signing can never launder content changed after signing.
        """
        path = self.root / check_model_name(model) / str(version)
        old = self._read(model, version)
        if not old.key_id:
            raise SignatureError(f"{path} has no readable signature to re-sign", hint="restore model.sig")
        self.trust.public_key(key.key_id)  # the new key must be trusted and unrevoked
        old_pem = self.trust.public_pem(old.key_id, include_revoked=True)
        with self._lock(model):
            verified = verify_model(path, public_key_pem=old_pem)
            log.warning("re-signing %s v%s: key %s replaces %s", model, version, key.key_id[:16], old.key_id[:16])
            sign_model(path, key, extra=dict(verified.extra), model_name=model)
        self.verify(model, version)

    def alias_signer(self, model: str) -> str | None:
        """The key id ``aliases.json`` names as its signer, unverified (None when there is none)."""
        return self._book(model).signed_by()

    def resign_aliases(self, model: str, key: SigningKey) -> bool:
        """Re-sign ``aliases.json`` with ``key`` if it still verifies under the key that signed it
        (revoked or not) and holds its witnessed history; the aliases and history stay as they are.
        False when ``key`` signed it already or the model has no alias file."""
        with self._lock(model):
            signer = self._book(model).signed_by()
            changed = self._book(model).resign(signer=key)
        if changed:
            log.warning("re-signing %s aliases.json: key %s replaces %s", model, key.key_id[:16], str(signer)[:16])
        return changed

    # ----------------------------------------------------------------- aliases
    def alias(self, model: str, name: str) -> int | None:
        return self.aliases(model).get(name)

    def _book(self, model: str) -> AliasBook:
        witness = self._alias_witness(model) if self._alias_witness is not None else None
        return AliasBook(self.root / check_model_name(model), self.trust, witness=witness)

    def aliases(self, model: str) -> Mapping[str, int]:
        """The model's aliases, after checking the alias file's signature (IntegrityError if bad)."""
        return MappingProxyType(self._book(model).read().aliases)

    def alias_history(self, model: str) -> list[AliasChange]:
        return list(self._book(model).read().history)

    def _signing_key(self) -> SigningKey:
        if self._signer is None:
            raise KeyMaterialError(f"the registry {self.root} was opened without a signing key",
                                   hint="alias files are signed; open it through the Workspace, or pass signer=")
        return self._signer()

    def set_alias(self, model: str, alias: str, version: int, *, actor: str, reason: str,
                  action: Literal["set", "promote", "rollback"] = "set",
                  record: Callable[[AliasChange], object] | None = None) -> AliasChange:
        """Swap ``alias`` to ``version``. ``record`` (the audit append) runs under the model's lock
        right after the swap; if it raises, the previous aliases.json is written back and the
        error re-raised: no alias change without its record."""
        check_alias(alias)
        self.get(model, version)
        self._refuse_unapproved(model, version)  # no alias ever names a pending or person-rejected version
        with self._lock(model):
            book = self._book(model)
            before = book.path.read_bytes() if book.path.exists() else None
            change = AliasChange(model=model, alias=alias, from_version=book.read().aliases.get(alias),
                                 to_version=version, actor=actor, reason=reason, at=now_text(), action=action)
            book.commit(change, signer=self._signing_key())
            if record is not None:
                try:
                    record(change)
                except BaseException:
                    _restore(book.path, before)
                    raise
        return change

    def promote(self, model: str, version: int, *, alias: str = "champion", actor: str, reason: str,
                record: Callable[[AliasChange], object] | None = None) -> AliasChange:
        """Point ``alias`` at an accepted version that verifies; refuses anything else."""
        candidate = self.get(model, version)
        if candidate.status != "accepted":
            raise PromotionRefused(f"{model} v{version} was rejected by its evaluation gate",
                                   hint="only accepted versions can be promoted")
        self.verify(model, version)
        return self.set_alias(model, alias, version, actor=actor, reason=reason, action="promote", record=record)

    def rollback(self, model: str, *, alias: str = "champion", actor: str, reason: str,
                 record: Callable[[AliasChange], object] | None = None) -> AliasChange:
        """Point ``alias`` back at the previous accepted, verifying version in its history."""
        stack = self._book(model).read().stack(check_alias(alias))
        current = stack[-1] if stack else None
        for earlier in reversed(stack[:-1]):
            if earlier == current or self.get(model, earlier).status != "accepted":
                continue
            try:
                if self.approval_state(model, earlier).status != "accepted":
                    continue
            except IntegrityError as exc:
                log.warning("rollback of %s/%s skips v%s: %s", model, alias, earlier, exc)
                continue
            return self.set_alias(model, alias, earlier, actor=actor, reason=reason, action="rollback",
                                  record=record)
        raise NotFoundError(f"{model}/{alias} has no earlier accepted version to roll back to",
                            hint="promote a version explicitly")


def _restore(path: Path, before: bytes | None) -> None:
    """Undo an alias swap whose record failed: the previous bytes (already signed, if signed) back."""
    if before is None:
        path.unlink(missing_ok=True)
        fsync_dir(path.parent)
    else:
        write_atomic(path, before)
