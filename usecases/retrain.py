"""Whether a retrain has anything new to learn from, and the record of one that had not.

A retrain (a drift event, the schedule, an event) first builds the candidate training set, then asks
:func:`should_retrain`: a training set whose fingerprint is the champion's recorded one, or whose
newest label is no newer than the newest label the champion was trained on, trains nothing. After
the fit, :func:`same_model_bytes` catches the last case, a candidate whose model file is byte for
byte the champion's: it is not registered again. A skip is a result (:class:`RetrainDecision`), never
an exception; :func:`record_skip` writes its ``model.retrain_skipped`` audit entry. The champion's
facts come from its signed lineage (``metadata.json`` ``data``), read only after the registry
verified the version. Prefect-free: the retrain flow wires these around the training steps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from driftline.atomic import fault_point
from driftline.errors import InputError
from registry import layout

if TYPE_CHECKING:
    from governance.actor import Actor
    from governance.audit import AuditLog
    from registry.versions import ModelRegistry, ModelVersion

SKIPPED_ACTION = "model.retrain_skipped"
CHAMPION = "champion"


@dataclass(frozen=True)
class RetrainDecision:
    """Train or not, and why, in words fit for the audit trail and the run's log.

    ``champion_version`` is the champion compared with (None when there is none: a first model
    always trains).
    """

    train: bool
    reason: str
    champion_version: int | None = None


@dataclass(frozen=True)
class ChampionData:
    """What the champion was trained on, from its verified lineage: the training set's sha256 and
    its newest label time (None for a version registered before lineage recorded it)."""

    version: int
    training_set_sha256: str
    newest_label_time: datetime | None

    @classmethod
    def from_lineage(cls, version: int, metadata: Mapping[str, Any]) -> ChampionData:
        data = metadata.get("data")
        if not isinstance(data, Mapping) or not isinstance(data.get("training_set_sha256"), str):
            raise InputError(f"champion v{version}'s lineage records no training_set_sha256 under 'data'",
                             hint="the version was not registered by driftline's training flow; retrain with "
                                  "`python -m flows train` to register one that records its data")
        newest = data.get("newest_label_time")
        try:
            when = datetime.fromisoformat(newest) if isinstance(newest, str) else None
        except ValueError:
            raise InputError(f"champion v{version}'s lineage has newest_label_time {newest!r}, not an ISO time",
                             hint="the lineage is written only by driftline; re-register the champion") from None
        return cls(version, data["training_set_sha256"], when)


def current_champion(registry: ModelRegistry, model: str) -> tuple[ModelVersion, ChampionData] | None:
    """The champion, loaded verified (a tampered version or alias raises ``IntegrityError``: a forged
    lineage must not decide a retrain), with what it was trained on; None when there is none."""
    if registry.alias(model, CHAMPION) is None:
        return None
    version = registry.load(model, CHAMPION)
    return version, ChampionData.from_lineage(version.version, version.metadata)


def newest_label_time(frame: pl.DataFrame, time_column: str) -> datetime | None:
    """The latest label time of a training set's frame (UTC), None for an empty one."""
    if frame.height == 0:
        return None
    latest = frame[time_column].max()
    if not isinstance(latest, datetime):
        raise InputError(f"label time column {time_column!r} holds {type(latest).__name__}, not timestamps",
                         hint="label groups need a timestamp event time")
    return latest.replace(tzinfo=timezone.utc) if latest.tzinfo is None else latest.astimezone(timezone.utc)


def lineage_label_time(frame: pl.DataFrame, time_column: str, *, oldest: bool = False) -> str | None:
    """The newest (or, ``oldest``, the oldest) label time as the lineage records it (ISO 8601, UTC);
    None when there is none to record (no rows, or a time column that is not timestamps: then a
    retrain cannot compare labels)."""
    if frame.height == 0 or not isinstance(frame.schema[time_column], pl.Datetime):
        return None
    if oldest:
        first = frame[time_column].min()
        assert isinstance(first, datetime)  # a Datetime column's minimum
        return (first.replace(tzinfo=timezone.utc) if first.tzinfo is None
                else first.astimezone(timezone.utc)).isoformat()
    newest = newest_label_time(frame, time_column)
    return newest.isoformat() if newest else None


def should_retrain(fingerprint: str, newest_label: datetime | None, champion: ChampionData | None) -> RetrainDecision:
    """Train only on a training set that differs from the champion's and holds a newer label."""
    if champion is None:
        return RetrainDecision(True, "no champion yet: a first model trains")
    ref = f"champion v{champion.version}"
    if fingerprint == champion.training_set_sha256:
        return RetrainDecision(False, f"training set {fingerprint[:12]} is identical to {ref}'s: nothing new "
                                      f"to learn", champion.version)
    if newest_label is None:
        return RetrainDecision(False, f"the training set holds no labels ({ref} stays)", champion.version)
    if champion.newest_label_time is None:
        return RetrainDecision(True, f"training set differs from {ref}'s ({ref} records no newest label time)",
                               champion.version)
    if newest_label <= champion.newest_label_time:
        return RetrainDecision(False, f"no label newer than {ref}'s newest ({champion.newest_label_time.isoformat()}"
                                      f"); newest now {newest_label.isoformat()}", champion.version)
    return RetrainDecision(True, f"labels up to {newest_label.isoformat()}, newer than {ref}'s "
                                 f"{champion.newest_label_time.isoformat()}", champion.version)


def same_model_bytes(files: Mapping[str, Path | bytes], champion_dir: Path) -> bool:
    """Whether the candidate's model file is byte for byte the champion's (compared by sha256)."""
    data = files.get(layout.MODEL)
    if data is None:
        raise InputError(f"a candidate needs its {layout.MODEL}, got files {sorted(files)}",
                         hint="pass the files TrainedModel.save wrote")
    raw = data if isinstance(data, bytes) else Path(data).read_bytes()
    champion = champion_dir / layout.MODEL
    return champion.is_file() and hashlib.sha256(raw).digest() == hashlib.sha256(champion.read_bytes()).digest()


def record_skip(audit: AuditLog, model: str, decision: RetrainDecision, *, fingerprint: str,
                newest_label: datetime | None, trigger: str, actor: Actor) -> None:
    """The skip's ``model.retrain_skipped`` entry. A crash before it leaves no trace and the rerun
    decides again; a crash after it and before the idempotency ledger's record makes the rerun skip
    again with a second entry (at least once, as the ledger promises)."""
    if decision.train:
        raise InputError(f"record_skip was given a decision to train ({decision.reason})",
                         hint="record only decisions whose train is False")
    fault_point("retrain.skip")
    audit.append(SKIPPED_ACTION, f"model:{model}", {
        "reason": decision.reason, "trigger": trigger, "champion_version": decision.champion_version,
        "training_set_sha256": fingerprint,
        "newest_label_time": newest_label.isoformat() if newest_label else None}, actor=actor)
    fault_point("retrain.skip_recorded")
