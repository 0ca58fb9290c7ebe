"""The served set: which model versions answer requests, loaded only after they verify.

A :class:`Slot` is one ``--model NAME[@ALIAS|@VERSION]`` of the command line. It holds the
:class:`ServedModel` that answers now in ONE attribute: a request reads ``slot.current`` once and
scores with what it got, so a swap (one reference assignment, :meth:`Slot.swap`) never mixes two
versions within a request, and requests in flight finish on the old one. Every version comes in
through :meth:`registry.versions.ModelRegistry.load` (the signature, the digests, the signed status)
and :meth:`training.model.TrainedModel.load`, exactly as ``predict`` loads it; the watcher
(:mod:`serving.watch`) asks :meth:`ServedSet.refresh` to re-resolve an alias when its signed file
changes. A version that fails is refused: the slot keeps its last verified version and records the
refusal, which the ready endpoints report (503) and the audit trail keeps (``serve.refused``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from driftline.clock import utc_now
from driftline.errors import DriftlineError, InputError, NotFoundError
from training.model import TrainedModel
from usecases.predict_file import decision_threshold

if TYPE_CHECKING:
    from tasks.workspace import Workspace

CHAMPION = "champion"
# OIP datatypes of the schema's features: numbers go in as FP64 (the model reads float64 matrices).
_CATEGORY_DATATYPES = {bool: "BOOL", int: "INT64", float: "FP64"}


@dataclass(frozen=True)
class ModelRef:
    """``NAME``, ``NAME@ALIAS`` or ``NAME@VERSION`` as given to ``--model`` (default alias: champion)."""

    name: str
    ref: int | str = CHAMPION

    @classmethod
    def parse(cls, text: str) -> "ModelRef":
        name, _, ref = text.strip().partition("@")
        if not name or (_ and not ref):
            raise InputError(f"--model {text!r} is not NAME, NAME@ALIAS or NAME@VERSION",
                             hint="e.g. --model churn, --model churn@challenger, --model churn@3")
        return cls(name, int(ref) if ref.isdigit() else (ref or CHAMPION))

    @property
    def pinned(self) -> bool:
        """A version number never moves: nothing to watch."""
        return isinstance(self.ref, int)

    def __str__(self) -> str:
        return f"{self.name}@{self.ref}"


@dataclass(frozen=True)
class ServedModel:
    """One verified version in memory, with what answering needs: its threshold and input types."""

    name: str
    version: int
    alias: str | None
    model: TrainedModel
    threshold: float | None
    loaded_at: datetime

    @property
    def label(self) -> str:
        """What every response names: ``churn/3``."""
        return f"{self.name}/{self.version}"

    def input_datatypes(self) -> dict[str, str]:
        """Each feature's OIP datatype, from the schema it was trained on."""
        schema = self.model.schema
        types = {}
        for feature in schema.features:
            known = schema.categories.get(feature)
            if known is None:
                types[feature] = "FP64"
            else:
                kinds = {type(v) for v in known}
                types[feature] = _CATEGORY_DATATYPES.get(kinds.pop(), "BYTES") if len(kinds) == 1 else "BYTES"
        return types


@dataclass(frozen=True)
class Refusal:
    """A version the registry named that did not verify; the slot kept its last verified one."""

    version: int | None
    error: str
    at: datetime


class Slot:
    """One ``--model`` entry: its current verified version and the last refusal, if any."""

    def __init__(self, ref: ModelRef, current: ServedModel) -> None:
        self.ref = ref
        self.current = current
        self.refusal: Refusal | None = None

    def swap(self, served: ServedModel) -> None:
        # One reference assignment: atomic for every reader; no lock needed on the request path.
        self.current = served
        self.refusal = None


def load_verified(ws: "Workspace", name: str, ref: int | str) -> ServedModel:
    """The version ``ref`` names, verified through the registry and loaded as ``predict`` loads it."""
    version = ws.registry.load(name, ref)
    model = TrainedModel.load(version.path)
    return ServedModel(name=name, version=version.version, alias=ref if isinstance(ref, str) else None,
                       model=model, threshold=decision_threshold(model, version.metadata), loaded_at=utc_now())


class ServedSet:
    """Every slot of the server, in command-line order; the first is the default for /invocations."""

    def __init__(self, ws: "Workspace", refs: Sequence[ModelRef], *,
                 on_refusal: Callable[[Slot, int | None, DriftlineError], None] | None = None) -> None:
        if not refs:
            raise InputError("no model to serve", hint="pass --model NAME, or declare a model")
        self.ws = ws
        self._on_refusal = on_refusal
        self._lock = threading.Lock()  # refresh runs in the watcher thread; loads never overlap
        # At start there is no last verified version to fall back on: a failure here stops the server.
        self.slots = [Slot(r, load_verified(ws, r.name, r.ref)) for r in refs]

    def names(self) -> list[str]:
        return list(dict.fromkeys(s.ref.name for s in self.slots))

    def slot(self, name: str, version: int | None = None) -> Slot:
        """The slot of ``name`` (its first one), or the one serving ``version``; NotFoundError otherwise."""
        candidates = [s for s in self.slots if s.ref.name == name]
        if not candidates:
            raise NotFoundError(f"model {name!r} is not served here (served: {', '.join(self.names())})",
                                hint="ask for a served model, or start the server with --model " + name)
        if version is None:
            return candidates[0]
        for slot in candidates:
            if slot.current.version == version:
                return slot
        raise NotFoundError(f"model {name!r} version {version} is not served here "
                            f"(served: {', '.join(str(s.current.version) for s in candidates)})",
                            hint=f"ask /v2/models/{name} for the version it serves")

    def by_ref(self, name: str, ref: str) -> Slot:
        """The slot serving ``name@ref`` (a route's target: an alias, or a version number as text)."""
        for slot in self.slots:
            if slot.ref.name == name and str(slot.ref.ref) == ref:
                return slot
        raise NotFoundError(f"{name}@{ref} is not served here", hint=f"serve it too: --model {name}@{ref}")

    def refresh(self, name: str | None = None) -> list[tuple[Slot, ServedModel | Refusal]]:
        """Re-resolve the aliases (of ``name``, or all); swap each slot whose alias moved to a
        version that verifies, record a refusal for one that does not. Returns what changed."""
        changed: list[tuple[Slot, ServedModel | Refusal]] = []
        with self._lock:
            for slot in self.slots:
                if slot.ref.pinned or (name is not None and slot.ref.name != name):
                    continue
                outcome = self._refresh_slot(slot)
                if outcome is not None:
                    changed.append((slot, outcome))
        return changed

    def _refresh_slot(self, slot: Slot) -> ServedModel | Refusal | None:
        target: int | None = None
        try:
            target = self.ws.registry.alias(slot.ref.name, str(slot.ref.ref))
            if target == slot.current.version:
                if slot.refusal is not None:  # the alias came back to what we serve: nothing refused now
                    slot.refusal = None
                return None
            if slot.refusal is not None and slot.refusal.version == target:
                return None  # refused already; the alias has not moved since
            served = load_verified(self.ws, slot.ref.name, slot.ref.ref)
        except DriftlineError as exc:
            refusal = Refusal(version=target, error=str(exc), at=utc_now())
            slot.refusal = refusal
            if self._on_refusal is not None:
                self._on_refusal(slot, target, exc)
            return refusal
        slot.swap(served)
        return served

    def status(self) -> dict[str, Any]:
        """Per slot: what it serves and any standing refusal (the ready endpoints' details)."""
        return {str(s.ref): {"serving": s.current.label,
                             **({"refused": {"version": s.refusal.version, "error": s.refusal.error}}
                                if s.refusal else {})} for s in self.slots}

    @property
    def ready(self) -> bool:
        return all(s.refusal is None for s in self.slots)
