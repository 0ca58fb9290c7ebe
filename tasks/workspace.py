"""The composition root: one object that opens every store of a data home from the settings.

Flows and the CLI build a :class:`Workspace` once at the edge and hand it down, so no pure module
reads settings or the environment itself. Imports no Prefect: the CLI's fast commands
(``registry ...``, ``audit verify``) use it too.

Local mode and keys: when no passphrase is configured (``DRIFTLINE_KEY_PASSPHRASE`` or
``DRIFTLINE_KEY_PASSPHRASE_FILE``) and the data home has no key yet, the first command that signs
creates one and keeps a random passphrase in ``keys/passphrase`` (mode 0600) beside it, with a
warning. That keeps ``python -m flows demo`` one command; real deployments set the passphrase.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
import secrets
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from typing import TYPE_CHECKING

from driftline.atomic import write_atomic
from driftline.clock import now_text
from driftline.home import DataHome
from driftline.settings import Settings, load_settings
from features.contracts import FeatureGroupContract, contracts_in_use
from governance.actor import Actor, current_actor
from registry.keys import KeyRing, SigningKey, resolve_passphrase
from registry.trust import TrustStore

if TYPE_CHECKING:  # the stores import pyarrow, deltalake and DuckDB: opened (and imported) on first use
    from features.snapshot import GroupSnapshot
    from features.quarantine import Quarantine
    from features.store import FeatureStore
    from governance.audit import AuditLog
    from governance.report_pii import ReportPii
    from governance.witness import Witness
    from registry.versions import ModelRegistry
    from usecases.models import ModelSpec

LOCAL_PASSPHRASE = "passphrase"


@dataclass(frozen=True)
class Workspace:
    """Settings plus the data home's stores, opened lazily (nothing is touched until used).

    ``spec`` is the declared model a flow runs for (:meth:`for_model`); None for model-less commands.
    """

    settings: Settings
    spec: "ModelSpec | None" = None

    @classmethod
    def open(cls, home: str | os.PathLike[str] | None = None, **overrides: object) -> "Workspace":
        """Settings from the environment; ``home`` and any non-None override win (the CLI's flags)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if home is not None:
            given["home"] = Path(home)
        return cls(load_settings(**given))

    @classmethod
    def for_model(cls, home: str | os.PathLike[str] | None, model: str | None,
                  overrides: dict[str, object] | None = None) -> "Workspace":
        """The workspace of declared model ``model`` (default the settings' ``model_name``): the
        spec's values over the environment, the run's ``overrides`` (the CLI's flags) over the spec.
        The demo's model when no file declares it leaves the settings as they are, so the demo and
        its ``DRIFTLINE_*`` variables behave as before specs existed."""
        from usecases.models import (check_against_contracts, merge_overrides, models_folder, resolve_spec,
                                     spec_settings)

        given = dict(overrides or {})
        base = cls.open(home, **{**given, "model_name": model})
        name = model or base.settings.model_name
        folder = models_folder(base.settings)
        spec = resolve_spec(folder, name)
        if not (folder / f"{name}.toml").is_file():  # the demo's default spec: the settings already say it
            return cls(base.settings, spec)
        check_against_contracts(spec, base.contracts)
        return cls(cls.open(home, **merge_overrides(spec_settings(spec), given)).settings, spec)

    @cached_property
    def home(self) -> DataHome:
        return self.settings.data_home.ensure()

    @cached_property
    def contracts(self) -> dict[str, FeatureGroupContract]:
        # DRIFTLINE_CONTRACTS_DIR alone if set, else the demo's plus <home>/contracts (home wins).
        return contracts_in_use(self.settings.contracts_dir, Path(self.settings.home) / "contracts")

    @cached_property
    def store(self) -> "FeatureStore":
        from features.store import FeatureStore

        return FeatureStore(self.home.store)

    @cached_property
    def quarantine(self) -> "Quarantine":
        from features.quarantine import Quarantine

        return Quarantine(self.home.quarantine)

    @cached_property
    def keyring(self) -> KeyRing:
        return KeyRing(self.home.keys, witness=_WitnessLog(self, "trust"))

    @cached_property
    def trust(self) -> TrustStore:
        return self.keyring.trust

    @cached_property
    def registry(self) -> "ModelRegistry":
        from registry.versions import ModelRegistry
        from usecases.approval_trail import trail_decision

        # Alias changes are signed with the active key, unlocked only when an alias moves. The
        # trail is read only for a version whose approval record is missing (a decision outlives it).
        return ModelRegistry(self.home.registry, self.trust, signer=self.signing_key,
                             alias_witness=lambda model: _WitnessLog(self, f"aliases:{model}"),
                             trail=lambda model, version, digest: trail_decision(self.audit, model, version, digest))

    @cached_property
    def witness(self) -> "Witness":
        """This data home's witness file, outside the home (``DRIFTLINE_WITNESS_DIR``)."""
        from governance.witness import Witness

        return Witness.for_home(self.settings.data_home.root, self.settings.witness_dir)  # creates nothing

    @cached_property
    def audit(self) -> "AuditLog":
        from governance.audit import AuditLog
        from governance.checkpoints import EntryMacKey, entry_mac_key_of

        def mac_key() -> EntryMacKey:
            # Derived inside the key (SigningKey.derive_secret): the private key is never handed out.
            return entry_mac_key_of(self.signing_key())

        return AuditLog(self.home.audit, mac_key=mac_key, trust=lambda: self.trust, witness=self.witness)

    def data_time(self, snapshots: Sequence["GroupSnapshot"]) -> datetime:
        """The newest event time in the given feature-group snapshots: "now" for the data.

        Monitoring windows and scoring are anchored here rather than on the wall clock, so late or
        replayed data is judged by when it happened (and the demo's 2026 data is not all "stale").
        The store answers it (:func:`features.snapshot_queries.newest_event_time`).
        """
        from features.snapshot_queries import newest_event_time

        return newest_event_time(snapshots, self.contracts)

    @staticmethod
    def stored_rows(snapshot: "GroupSnapshot") -> int:
        from features.snapshot_queries import stored_row_count

        return stored_row_count(snapshot)

    def quarantine_share(self, snapshots: Sequence["GroupSnapshot"]) -> float:
        """Share of the rows that reached these groups which were quarantined instead of stored."""
        groups = {s.group for s in snapshots}
        quarantined = sum(r.rows for r in self.quarantine.records() if r.group in groups and not r.erased)
        stored = sum(self.stored_rows(s) for s in snapshots)
        return quarantined / (quarantined + stored) if quarantined + stored else 0.0

    def actor(self, flow_run_id: str | None = None) -> Actor:
        return current_actor(user=self.settings.actor, flow_run_id=flow_run_id)

    def passphrase(self, *, create: bool) -> bytes:
        local = self.home.keys / LOCAL_PASSPHRASE
        s = self.settings
        if s.key_passphrase is not None or s.key_passphrase_file is not None:
            return resolve_passphrase(
                env_value=s.key_passphrase.get_secret_value() if s.key_passphrase else None,
                file=s.key_passphrase_file, interactive=False)
        if local.exists():
            return resolve_passphrase(env_value=None, file=local, interactive=False)
        if create and not self.keyring.exists():
            write_atomic(local, secrets.token_urlsafe(32).encode(), mode=0o600)
            print(f"note: created a signing key with a local passphrase in {local} (mode 0600); "
                  "set DRIFTLINE_KEY_PASSPHRASE or DRIFTLINE_KEY_PASSPHRASE_FILE for real use",
                  file=sys.stderr)
            return resolve_passphrase(env_value=None, file=local, interactive=False)
        return resolve_passphrase(env_value=None, file=None, interactive=sys.stdin.isatty())

    def report_pii(self, columns: Sequence[str] | None = None) -> "ReportPii":
        """How reports show the contracts' PII-tagged columns (of ``columns`` when given: those a
        report can show); the signing key is unlocked only when one of them is tagged."""
        from governance.report_pii import contracts_pii

        return contracts_pii(self.contracts, self.signing_key, columns)

    def signing_key(self) -> SigningKey:
        """The active signing key, creating the data home's first key in local mode."""
        passphrase = self.passphrase(create=True)
        if not self.keyring.exists():
            key = self.keyring.init(passphrase)
            self.audit.append("key.init", f"key:{key.key_id}", {"key_id": key.key_id}, actor=self.actor())
            return key
        return self.keyring.load(passphrase)


@dataclass(frozen=True)
class _WitnessLog:
    """One signed log's mark in this home's witness, as the registry asks for it (the trust ledger
    as ``trust``, a model's alias history as ``aliases:<model>``): read on every verified read of
    the log, moved forward after it."""

    ws: Workspace
    log: str

    def seen(self) -> tuple[int, str] | None:
        mark = self.ws.witness.seen(self.log)
        return None if mark is None else (mark.size, mark.head_hash)

    def advance(self, size: int, head_hash: str) -> None:
        from governance.witness import WitnessMark

        self.ws.witness.advance(self.log, WitnessMark(size=size, head_hash=head_hash, time=now_text()))
